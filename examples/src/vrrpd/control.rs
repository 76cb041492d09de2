//! The control protocol of `vrrpd`: a unix stream socket, one JSON request per line, one JSON
//! response per line.
//!
//! Requests (`{"cmd": …}`):
//!
//! | request | effect |
//! |---|---|
//! | `{"cmd":"status"}` | every instance: state, priorities, master, timers, counters |
//! | `{"cmd":"switchover","instance":"VI_1"}` | become Master now ([`vrrp_fsm::Command::Switchover`]) |
//! | `{"cmd":"step-down","instance":"VI_1"}` | hand over ([`vrrp_fsm::Command::StepDown`]) |
//! | `{"cmd":"priority","instance":"VI_1","priority":150}` | set the priority ([`vrrp_fsm::Command::SetPriority`]) |
//! | `{"cmd":"resume","instance":"VI_1"}` | back to the configured election ([`vrrp_fsm::Command::ResumeElection`]) |
//!
//! Responses: `{"ok":true, …}` (`status` adds `"instances":[…]`), or
//! `{"ok":false,"error":"…"}`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/hakit/vrrpd.sock";

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// List every instance.
    Status,
    /// Make the instance Master now.
    Switchover {
        /// Instance name.
        instance: String,
    },
    /// Make the instance hand over and not take back.
    StepDown {
        /// Instance name.
        instance: String,
    },
    /// Set the instance's priority.
    Priority {
        /// Instance name.
        instance: String,
        /// The new priority (1..=255).
        priority: u8,
    },
    /// Cancel switchover / step-down.
    Resume {
        /// Instance name.
        instance: String,
    },
}

/// Sends one request to the daemon listening on `path` and returns its JSON response.
pub fn call(path: &Path, req: &Request) -> std::io::Result<serde_json::Value> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut resp = String::new();
    BufReader::new(s).read_line(&mut resp)?;
    serde_json::from_str(&resp).map_err(std::io::Error::other)
}
