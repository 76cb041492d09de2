//! `ctsyncd`: a conntrackd-compatible connection-tracking sync daemon over `ct_sync`
//! (configuration, sync modes, control protocol, ctnetlink codec) and `crate::ctnl` (the
//! ctnetlink socket glue).
//!
//! ```text
//! ctsyncd [-C FILE] [-d]                       run the daemon (always in the foreground)
//! ctsyncd [-C FILE] -c|-f [internal|external]|-F|-n|-B|-R|-t|-k
//! ctsyncd [-C FILE] -s [network|cache|runtime|link|rsqueue|queue|process|expect]
//! ctsyncd [-C FILE] -i|-e [ct|expect] [-x]     client: one request, the reply on stdout
//! ```
//!
//! The command line is read exactly as conntrackd 1.4.7 reads it
//! ([`ct_sync::control::client_args`]), the daemon answers on `General { UNIX { Path } }` with
//! conntrackd's byte-exact texts, and the client prints what the daemon answers: `ctsyncd`
//! can replace the `conntrackd` binary in keepalived's `primary-backup.sh`, and the real
//! `conntrackd -C FILE -c` client works against `ctsyncd` unchanged.
//!
//! What the daemon does (conntrackd's sync mode):
//! * reads the kernel conntrack table into the internal cache at start-up, then follows the
//!   ctnetlink events (`NetlinkBufferSize`, `NetlinkBufferSizeMaxGrowth`,
//!   `NetlinkEventsReliable`; an overrun schedules a re-dump after `NetlinkOverrunResync`);
//! * sends the changes to the peer over the `Sync` section's default channel (UDP, multicast
//!   or TCP) in FTFW, NOTRACK or ALARM mode, and keeps the peer's state in the external cache
//!   (or, with `DisableExternalCache`, writes it straight into the kernel);
//! * `-c` commits the external cache into the kernel with the batched ctnetlink commit. For
//!   the commit the event socket leaves the NEW and UPDATE groups (with a listener, the
//!   kernel builds an event per created conntrack inside the commit's `send`: about twice the
//!   kernel time per entry); after the reply the table is read back into the internal cache
//!   in their place (the committed entries as the commit's own events, not sent; anything
//!   else new or changed meanwhile sent as its event would have been);
//! * runs under `SCHED_RR` at the highest priority unless `Scheduler { Type; Priority }` says
//!   otherwise, as conntrackd does, so that the event socket is read before it overruns.
//!
//! Where it deliberately differs: in FTFW it sends no state message before the HELLO
//! handshake is over both ways ([`ct_sync::sync::SyncConfig::hold_until_handshake`]), so that
//! a burst at start-up is not lost for good on a lossy link; and it reads the event socket in
//! batches (a 1 ms pause after a read that found events; up to 64 event datagrams per
//! `recvmmsg`), and sends and receives sync datagrams with `sendmmsg` / `recvmmsg`.
//!
//! Logs go to stderr, or to `LogFile` when one is configured, in conntrackd's words.

mod control;
mod daemon;
mod floor;
mod kernel;
mod sys;
mod transport;

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use ct_sync::config::{self, ConntrackdConf, LogTarget};
use ct_sync::control::{ClientCommand, DEFAULT_CONFIG_FILE, client_args};

pub use control::client_request;
pub use floor::{EventFloor, event_floor};

/// The usage text.
pub const USAGE: &str = "usage: ctsyncd [-C FILE] [options]\n\
Daemon mode:\n\
  -d                      run as daemon (ctsyncd always stays in the foreground)\n\
Client mode (one request to the running daemon, its reply on stdout):\n\
  -c [ct|expect]          commit the external cache into the kernel table\n\
  -f [internal|external]  flush the caches\n\
  -F [ct|expect]          flush the kernel table\n\
  -i [ct|expect] [-x]     dump the internal cache\n\
  -e [ct|expect] [-x]     dump the external cache\n\
  -k                      kill the daemon\n\
  -s [network|cache|runtime|link|rsqueue|queue|process|ct|expect]  statistics\n\
  -R [ct|expect]          resync the internal cache with the kernel table\n\
  -B                      send a bulk update\n\
  -n                      request a resync from the other node\n\
  -t                      flush the kernel table in PurgeTimeout seconds\n\
Other:\n\
  -C FILE                 configuration file (default /etc/conntrackd/conntrackd.conf)\n\
  -v                      version\n\
  -h                      this help\n";

/// Log priorities, as conntrackd names them in its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// `ERROR`.
    Error,
    /// `WARNING`.
    Warning,
    /// `notice`.
    Notice,
}

impl Level {
    const fn word(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Warning => "WARNING",
            Self::Notice => "notice",
        }
    }
}

/// Where log lines go: `None` is stderr.
static LOG_FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Writes one log line (`[date] (pid=N) [level] message`, as conntrackd's `dlog`).
pub(crate) fn log_line(level: Level, msg: std::fmt::Arguments<'_>) {
    let line = format!(
        "[{}] (pid={}) [{}] {msg}\n",
        sys::ctime_now(),
        std::process::id(),
        level.word()
    );
    let mut file = LOG_FILE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Logs one line: `log!(Level::Notice, "format", args…)`.
macro_rules! log {
    ($lvl:expr, $($t:tt)*) => { $crate::ctsyncd::log_line($lvl, format_args!($($t)*)) };
}
pub(crate) use log;

/// Reads and parses a conntrackd.conf: the configuration and its warnings, or the message
/// to print (exit 1).
pub fn load_config(path: &Path) -> Result<config::Parsed, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("can't open config file `{}': {e}", path.display()))?;
    config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn open_log(conf: &ConntrackdConf) -> Result<(), String> {
    let path = match &conf.general.log_file {
        LogTarget::Off => return Ok(()),
        LogTarget::Default => "/var/log/conntrackd.log".to_owned(),
        LogTarget::Named(p) => p.clone(),
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("can't open log file `{path}': {e}"))?;
    *LOG_FILE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(f);
    Ok(())
}

/// `ctsyncd`'s main: returns the exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let args: Vec<String> = args.into_iter().collect();
    let req = match client_args(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ctsyncd: {e}");
            eprint!("{USAGE}");
            return 1;
        }
    };
    let file = req
        .config_file
        .clone()
        .unwrap_or_else(|| DEFAULT_CONFIG_FILE.to_owned());
    match req.command {
        ClientCommand::Version => {
            println!(
                "ctsyncd v{} (conntrackd 1.4.7 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        ClientCommand::Help => {
            print!("{USAGE}");
            0
        }
        ClientCommand::Request(r) => {
            let parsed = match load_config(Path::new(&file)) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("ctsyncd: {e}");
                    return 1;
                }
            };
            match client_request(Path::new(&parsed.config.general.unix_path), r) {
                Ok(reply) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&reply);
                    let _ = out.flush();
                    0
                }
                Err(e) => {
                    eprintln!(
                        "ctsyncd: can't connect to the daemon at `{}': {e}",
                        parsed.config.general.unix_path
                    );
                    1
                }
            }
        }
        ClientCommand::Daemon | ClientCommand::Console => {
            let parsed = match load_config(Path::new(&file)) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("ctsyncd: {e}");
                    return 1;
                }
            };
            if let Err(e) = open_log(&parsed.config) {
                eprintln!("ctsyncd: {e}");
                return 1;
            }
            for w in &parsed.warnings {
                log!(Level::Warning, "{file}: {w}");
            }
            daemon::run(parsed.config)
        }
    }
}
