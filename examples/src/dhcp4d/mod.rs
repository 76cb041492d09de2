//! `dhcp4d`: a thin Kea-compatible DHCPv4 daemon over dhcp4-ha (configuration reader,
//! Sans-IO server engine, memfile format). It reads the `kea-dhcp4.conf` a Kea user has,
//! appends to the same lease file Kea would (a Kea server can take it over, and the other way
//! round), and answers as `kea-dhcp4` 2.2 does.
//!
//! ```text
//! dhcp4d -c FILE [-p PORT] [-P PORT] [--fsync] [--http ADDR:PORT] [--ha-connections N]
//!        [--clock-offset S]                      run
//! dhcp4d -t FILE                                 check the configuration (exit 0, or 1 with Kea's error)
//! dhcp4d -v | -V                                 version
//! ```
//!
//! * Sockets: see [`net`](self#sockets). `interfaces-config.interfaces` takes `iface`,
//!   `iface/addr` (that address is preferred as the interface's own) and `*`;
//!   `dhcp-socket-type` `raw` (default) unicasts to clients without an address through a
//!   packet socket, `udp` broadcasts to them.
//! * Lease file: `lease-database` memfile (`persist`, `name`, `lfc-interval`); group commit
//!   per loop turn, replies only after their rows are written; `--fsync` adds `fdatasync`
//!   per commit (Kea has no such option; it never syncs). LFC runs in-process.
//! * Signals: SIGTERM / SIGINT flush and exit 0; SIGHUP re-reads the configuration and keeps
//!   the leases.
//! * Control: `control-socket.socket-name`, Kea's unix socket protocol, and with `--http`
//!   Kea's control agent protocol (HTTP `POST /`); the commands are dhcp4-ha's
//!   [`ControlHandler`](dhcp4_ha::control::handler::ControlHandler).
//! * High Availability: with `libdhcp_ha.so` in `hooks-libraries`, Kea 2.2's HA (hot-standby,
//!   load-balancing, passive-backup) with a Kea or dhcp4d partner: the listener on this
//!   server's peer `url`, lease updates before replies, sync, failover; see the `ha` module.
//! * Logs: `loggers[].output_options[].output` (`stdout`, `stderr`, `syslog[:name]`, a file)
//!   with Kea's message ids (`DHCP4_STARTED`, `DHCP4_LEASE_ALLOC`, …).
//!
//! # Sockets
//!
//! One UDP socket on port 67 with `IP_PKTINFO` receives every query with its interface and
//! destination, and sends replies out of a chosen interface from a chosen source; a packet
//! socket sends replies to clients that have no address yet (IPv4 and UDP headers built
//! here, Ethernet header by the kernel). Details in the `net` module.

mod alarm;
mod control;
mod daemon;
mod ha;
mod log;
mod net;
mod store;
mod sys;
mod tls;

use std::path::PathBuf;

use dhcp4_ha::config::ErrorKind;
use dhcp4_ha::lease::MemoryStore;
use dhcp4_ha::server::{CLIENT_PORT, SERVER_PORT, Server, ServerOptions};

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// `-c FILE [-p PORT] [-P PORT] [--fsync] [--http ADDR:PORT]`: run.
    Run {
        /// The configuration file.
        config: PathBuf,
        /// `-p`: server port (default 67).
        server_port: u16,
        /// `-P`: client port (default 68).
        client_port: u16,
        /// `--fsync`: `fdatasync` the lease file in every group commit.
        fsync: bool,
        /// `--http ADDR:PORT`: control commands over HTTP as well.
        http: Option<std::net::SocketAddr>,
        /// `--clock-offset SECONDS`: shifts the wall clock the HA service sees (tests).
        clock_offset: i64,
        /// `--ha-connections N`: connections to each HA peer (1..=256, default 16).
        ha_connections: usize,
    },
    /// `-t FILE`: check the configuration.
    Check(PathBuf),
    /// `-v`: print the version.
    Version,
    /// `-V`: print the extended version.
    ExtendedVersion,
}

/// The usage text.
pub const USAGE: &str = "usage: dhcp4d -c FILE [-p PORT] [-P PORT] [--fsync] [--http ADDR:PORT] [--ha-connections N] [--clock-offset S] | -t FILE | -v | -V\n\
  -c FILE      kea-dhcp4.conf to run with\n\
  -t FILE      check the configuration and exit (0: valid, 1: Kea's error on stderr)\n\
  -p PORT      server port (default 67)\n\
  -P PORT      client port (default 68)\n\
  --fsync      fdatasync the lease file before releasing each batch of replies\n\
  --http A:P   serve control commands over HTTP on A:P too (Kea's control agent protocol)\n\
  --ha-connections N  connections to each HA peer, one request in flight on each; the\n\
               updates of one lease always take the same one (1..256, default 16)\n\
  --clock-offset S  add S seconds to the clock the HA service sees (tests of clock skew)\n\
  -d           accepted for Kea compatibility (debug logging is set in loggers)\n\
  -v, -V       version, extended version\n";

impl Cli {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut config = None;
        let mut check = None;
        let mut server_port = SERVER_PORT;
        let mut client_port = CLIENT_PORT;
        let mut fsync = false;
        let mut http = None;
        let mut clock_offset = 0i64;
        let mut ha_connections = ha::DEFAULT_CONNECTIONS;
        let mut version = None;
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |what: &str| it.next().ok_or_else(|| format!("{a} needs {what}"));
            let port = |s: String| {
                s.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| format!("port must be 1..65535, not {s}"))
            };
            match a.as_str() {
                "-c" => config = Some(PathBuf::from(value("a file")?)),
                "-t" | "-T" => check = Some(PathBuf::from(value("a file")?)),
                "-p" => server_port = port(value("a port")?)?,
                "-P" => client_port = port(value("a port")?)?,
                "--fsync" => fsync = true,
                "--http" => {
                    let v = value("ADDR:PORT")?;
                    http = Some(
                        v.parse()
                            .map_err(|_| format!("--http: {v} is not ADDR:PORT"))?,
                    );
                }
                "--clock-offset" => {
                    let v = value("SECONDS")?;
                    clock_offset = v
                        .parse()
                        .map_err(|_| format!("--clock-offset: {v} is not a number of seconds"))?;
                }
                "--ha-connections" => {
                    let v = value("N")?;
                    ha_connections = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=ha::MAX_CONNECTIONS).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "--ha-connections must be 1..{}, not {v}",
                                ha::MAX_CONNECTIONS
                            )
                        })?;
                }
                "-d" => {}
                "-v" => version = Some(Self::Version),
                "-V" | "-W" => version = Some(Self::ExtendedVersion),
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if let Some(v) = version {
            return Ok(v);
        }
        if let Some(f) = check {
            return Ok(Self::Check(f));
        }
        match config {
            Some(config) => Ok(Self::Run {
                config,
                server_port,
                client_port,
                fsync,
                http,
                clock_offset,
                ha_connections,
            }),
            None => Err("-c FILE is required".into()),
        }
    }
}

/// Checks a configuration as `kea-dhcp4 -t` does: `Ok` or Kea's error text.
pub fn check(path: &std::path::Path) -> Result<(), String> {
    let cfg = daemon::read_config(path).map_err(|e| match e.kind {
        ErrorKind::Semantic | ErrorKind::Unsupported => format!("Error encountered: {e}"),
        _ => format!("Syntax check failed with: {e}"),
    })?;
    let now = std::time::Instant::now();
    Server::with_store(
        &cfg.dhcp4,
        MemoryStore::default(),
        ServerOptions::default(),
        now,
        0,
    )
    .map_err(|e| format!("Error encountered: {e}"))?;
    if let Some(hook) = cfg.dhcp4.ha_hook() {
        dhcp4_ha::ha::HaConfig::from_hook(hook, None).map_err(|e| {
            format!("Error encountered: failed to configure High Availability hooks library: {e}")
        })?;
    }
    Ok(())
}

/// `dhcp4d`'s main: returns the exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let cli = match Cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("dhcp4d: {e}");
            }
            eprint!("{USAGE}");
            return if e.is_empty() { 0 } else { 1 };
        }
    };
    match cli {
        Cli::Version => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            0
        }
        Cli::ExtendedVersion => {
            println!(
                "{} (hakit dhcp4d; Kea 2.2 configuration, memfile schema 2.1, control protocol)",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        Cli::Check(f) => match check(&f) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                1
            }
        },
        Cli::Run {
            config,
            server_port,
            client_port,
            fsync,
            http,
            clock_offset,
            ha_connections,
        } => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("dhcp4d: runtime: {e}");
                    return 1;
                }
            };
            rt.block_on(daemon::run(daemon::Options {
                config,
                server_port,
                client_port,
                fsync,
                http,
                clock_offset,
                ha_connections,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Cli, String> {
        Cli::parse(a.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn command_line_like_kea() {
        assert_eq!(
            parse(&["-c", "/etc/kea/kea-dhcp4.conf"]),
            Ok(Cli::Run {
                config: "/etc/kea/kea-dhcp4.conf".into(),
                server_port: 67,
                client_port: 68,
                fsync: false,
                http: None,
                clock_offset: 0,
                ha_connections: 16
            })
        );
        assert_eq!(
            parse(&["-c", "k.conf", "-p", "1067", "-P", "1068", "--fsync", "-d"]),
            Ok(Cli::Run {
                config: "k.conf".into(),
                server_port: 1067,
                client_port: 1068,
                fsync: true,
                http: None,
                clock_offset: 0,
                ha_connections: 16
            })
        );
        assert!(matches!(
            parse(&["-c", "k", "--http", "127.0.0.1:8000"]),
            Ok(Cli::Run { http: Some(a), .. }) if a.port() == 8000
        ));
        assert!(parse(&["-c", "k", "--http", "localhost"]).is_err());
        assert!(matches!(
            parse(&["-c", "k", "--clock-offset", "-61"]),
            Ok(Cli::Run {
                clock_offset: -61,
                ..
            })
        ));
        assert!(parse(&["-c", "k", "--clock-offset", "x"]).is_err());
        assert!(matches!(
            parse(&["-c", "k", "--ha-connections", "4"]),
            Ok(Cli::Run {
                ha_connections: 4,
                ..
            })
        ));
        for bad in ["0", "257", "x", "-1"] {
            assert!(
                parse(&["-c", "k", "--ha-connections", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(USAGE.contains("--ha-connections N"));
        assert_eq!(parse(&["-t", "k.conf"]), Ok(Cli::Check("k.conf".into())));
        assert_eq!(parse(&["-v"]), Ok(Cli::Version));
        assert_eq!(parse(&["-V"]), Ok(Cli::ExtendedVersion));
        assert!(parse(&[]).is_err());
        assert!(parse(&["-c"]).is_err());
        assert!(parse(&["-c", "k", "-p", "0"]).is_err());
        assert!(parse(&["-c", "k", "-p", "70000"]).is_err());
        assert!(parse(&["-x"]).is_err());
    }
}
