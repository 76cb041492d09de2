//! Kea-style logging: the `loggers` of kea-dhcp4.conf, each with a severity and outputs
//! (`stdout`, `stderr`, `syslog[:name]`, or a file), and Kea's line layout and message ids:
//!
//! ```text
//! 2026-11-23 16:38:55.123 INFO  [kea-dhcp4.leases/4242.4242] DHCP4_LEASE_ALLOC [hwtype=1 00:0c:01:02:03:04], cid=[no info], tid=0x1: lease 192.0.2.10 has been allocated for 3600 seconds
//! ```
//!
//! A message goes to the most specific configured logger (`kea-dhcp4.leases`, else
//! `kea-dhcp4`); with no `loggers` at all, INFO and above go to stdout, as Kea's default.
//! `maxsize` / `maxver` rotation is not done.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::time::{SystemTime, UNIX_EPOCH};

use dhcp4_ha::config::Logger;

/// A message severity, as Kea names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
    /// `NONE`: nothing is logged.
    None,
}

impl Severity {
    fn parse(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "DEBUG" => Self::Debug,
            "WARN" => Self::Warn,
            "ERROR" => Self::Error,
            "FATAL" => Self::Fatal,
            "NONE" => Self::None,
            _ => Self::Info,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO ",
            Self::Warn => "WARN ",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
            Self::None => "NONE ",
        }
    }

    fn syslog_priority(self) -> u8 {
        // Facility daemon (3) × 8 + level.
        24 + match self {
            Self::Debug => 7,
            Self::Info => 6,
            Self::Warn => 4,
            Self::Error => 3,
            Self::Fatal | Self::None => 2,
        }
    }
}

#[derive(Debug)]
enum Sink {
    Stdout,
    Stderr,
    File(File),
    Syslog(Option<UnixDatagram>, String),
}

#[derive(Debug)]
struct Out {
    name: String,
    severity: Severity,
    sinks: Vec<Sink>,
}

/// The configured loggers.
#[derive(Debug)]
pub(crate) struct Logs {
    outs: Vec<Out>,
    pid: u32,
}

fn open_sink(output: &str) -> Result<Sink, String> {
    Ok(match output {
        "stdout" => Sink::Stdout,
        "stderr" => Sink::Stderr,
        s if s == "syslog" || s.starts_with("syslog:") => {
            let ident = s.strip_prefix("syslog:").unwrap_or("kea-dhcp4").to_owned();
            let sock = UnixDatagram::unbound()
                .and_then(|u| u.connect("/dev/log").map(|()| u))
                .ok();
            Sink::Syslog(sock, ident)
        }
        path => Sink::File(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {path}: {e}"))?,
        ),
    })
}

/// `unix` seconds as a UTC civil date (days-from-civil inverse, proleptic Gregorian).
fn civil(unix: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix / 86_400) as i64;
    let secs = (unix % 86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

impl Logs {
    /// Loggers from the configuration; errors name an output that cannot be opened.
    pub(crate) fn new(loggers: &[Logger]) -> Result<Self, String> {
        let mut outs = Vec::new();
        for l in loggers {
            let mut sinks = Vec::new();
            for o in &l.output_options {
                sinks.push(open_sink(&o.output)?);
            }
            if sinks.is_empty() {
                sinks.push(Sink::Stdout);
            }
            outs.push(Out {
                name: l.name.clone(),
                severity: l
                    .severity
                    .as_deref()
                    .map_or(Severity::Info, Severity::parse),
                sinks,
            });
        }
        if !outs.iter().any(|o| o.name == "kea-dhcp4") {
            outs.push(Out {
                name: "kea-dhcp4".into(),
                severity: Severity::Info,
                sinks: vec![Sink::Stdout],
            });
        }
        Ok(Self {
            outs,
            pid: std::process::id(),
        })
    }

    /// Loggers before the configuration is read: INFO to stdout.
    pub(crate) fn console() -> Self {
        Self {
            outs: vec![Out {
                name: "kea-dhcp4".into(),
                severity: Severity::Info,
                sinks: vec![Sink::Stdout],
            }],
            pid: std::process::id(),
        }
    }

    fn out(&self, sub: &str) -> Option<&Out> {
        self.outs
            .iter()
            .find(|o| o.name.strip_prefix("kea-dhcp4.") == Some(sub))
            .or_else(|| self.outs.iter().find(|o| o.name == "kea-dhcp4"))
    }

    /// Whether a message of `sev` for logger `kea-dhcp4.<sub>` would be written.
    pub(crate) fn enabled(&self, sub: &str, sev: Severity) -> bool {
        sev != Severity::None && self.out(sub).is_some_and(|o| sev >= o.severity)
    }

    /// Writes one message `id text` for logger `kea-dhcp4.<sub>`.
    pub(crate) fn log(
        &mut self,
        sub: &str,
        sev: Severity,
        id: &str,
        text: std::fmt::Arguments<'_>,
    ) {
        if !self.enabled(sub, sev) {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (y, mo, d, h, mi, s) = civil(now.as_secs());
        let ms = now.subsec_millis();
        let pid = self.pid;
        let line = format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03} {} [kea-dhcp4.{sub}/{pid}.{pid}] {id} {text}\n",
            sev.word()
        );
        let Some(i) = self
            .outs
            .iter()
            .position(|o| o.name.strip_prefix("kea-dhcp4.") == Some(sub))
            .or_else(|| self.outs.iter().position(|o| o.name == "kea-dhcp4"))
        else {
            return;
        };
        for sink in &mut self.outs[i].sinks {
            let _ = match sink {
                Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
                Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                Sink::File(f) => f.write_all(line.as_bytes()),
                Sink::Syslog(sock, ident) => match sock {
                    Some(u) => {
                        let msg = format!("<{}>{ident}[{pid}]: {id} {text}", sev.syslog_priority());
                        u.send(msg.as_bytes()).map(|_| ())
                    }
                    None => std::io::stderr().lock().write_all(line.as_bytes()),
                },
            };
        }
    }
}

/// Logs a message: `klog!(logs, "leases", Info, "DHCP4_LEASE_ALLOC", "format", args…)`.
macro_rules! klog {
    ($logs:expr, $sub:expr, $sev:ident, $id:expr, $($t:tt)*) => {{
        let sev = $crate::dhcp4d::log::Severity::$sev;
        if $logs.enabled($sub, sev) {
            $logs.log($sub, sev, $id, format_args!($($t)*));
        }
    }};
}
pub(crate) use klog;

#[cfg(test)]
mod tests {
    use super::civil;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_795_445_362), (2026, 11, 23, 14, 49, 22));
    }
}
