//! The control channel: Kea's unix socket protocol (a client connects, sends one JSON
//! command, reads one JSON answer; the server closes) and, with `--http ADDR:PORT`, Kea's
//! control agent protocol (HTTP/1.1 `POST /` with the JSON command, the answer as a
//! one-element list; keep-alive), both served by the daemon's loop, which hands each command
//! to [`dispatch`]: dhcp4-ha's [`ControlHandler`] runs the commands, and
//! the daemon does the I/O they ask for (`config-write` writes the file, `shutdown` stops).
//!
//! `config-reload` (re-read the configuration file, as SIGHUP) is the one command answered
//! here, since only the daemon reads files.

use std::time::Instant;

use dhcp4_ha::control::Answer;
use dhcp4_ha::control::handler::{self, ControlHandler};
use dhcp4_ha::server::{Origin, Server};

/// What the daemon must do after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing.
    None,
    /// Stop with this exit status (`shutdown`).
    Shutdown(i32),
    /// Re-read the configuration file (`config-reload`).
    Reload,
}

/// An answer and what to do after sending it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The JSON answer as the unix socket carries it (one map).
    pub(crate) text: String,
    /// The JSON answer as HTTP carries it (a one-element list).
    pub(crate) http: String,
    /// The follow-up.
    pub(crate) action: Action,
}

fn is_config_reload(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("command").and_then(serde_json::Value::as_str) == Some("config-reload")
    })
}

/// Answers one command (`body`: the JSON the client sent; `origin`: whom its lease changes
/// are attributed to, [`Origin::Partner`] for the HA partner's).
pub(crate) fn dispatch(
    handler: &mut ControlHandler,
    server: &mut Server,
    now: Instant,
    unix: u64,
    body: &[u8],
    origin: Origin,
) -> Reply {
    if is_config_reload(body) {
        // Answered by the daemon after the reload (see `Daemon::command`).
        return Reply {
            text: String::new(),
            http: String::new(),
            action: Action::Reload,
        };
    }
    let reply = handler.handle_from(server, now, unix, body, origin);
    let mut text = reply.socket_text();
    let mut http = reply.http_text();
    let action = match &reply.action {
        handler::Action::Shutdown { exit_value } => Action::Shutdown(*exit_value),
        handler::Action::WriteConfig { path, contents } => {
            if std::fs::write(path, contents).is_err() {
                let failed = handler::Reply::config_write_failed(path);
                text = failed.to_kea_json();
                http = Answer::encode_list(std::slice::from_ref(&failed));
            }
            Action::None
        }
        _ => Action::None,
    };
    Reply { text, http, action }
}
