//! `vrrpd`: a thin VRRP daemon over vrrp-proto (codec), vrrp-fsm (state machine and
//! keepalived.conf reader) and vmac (addresses, VMACs, gratuitous ARP), and its control
//! protocol for `vrrpctl`.
//!
//! ```text
//! vrrpd -f FILE [-i ID] [--control PATH]   run in the foreground (logs on stderr)
//! vrrpd -C -f FILE [-i ID]                 check the configuration (exit 0, or 1 with file:line:column)
//! vrrpd -d -f FILE [-i ID]                 dump the parsed and converted configuration
//! ```
//!
//! Signals: SIGTERM / SIGINT stop (priority-0 adverts, VIPs and VMACs removed, exit 0);
//! SIGHUP re-reads the file, and instances whose configuration did not change keep running.

pub mod control;
mod daemon;
mod firewall;
pub mod load;
mod net;
mod scripts;
mod sys;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

pub use daemon::VmacGarp;
use vrrp_proto::Family;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// `-f FILE` (default `/etc/keepalived/keepalived.conf`).
    pub file: PathBuf,
    /// `-i ID`.
    pub config_id: Option<String>,
    /// `--control PATH`.
    pub control: PathBuf,
    /// `-C`.
    pub check: bool,
    /// `-d`.
    pub dump: bool,
    /// `--vmac-garp MODE`.
    pub vmac_garp: VmacGarp,
    /// `--rt-priority N`.
    pub rt_priority: Option<u8>,
}

/// The usage text.
pub const USAGE: &str = "usage: vrrpd [-f FILE] [-i CONFIG_ID] [--control PATH] [-C | -d]\n\
  -f, --use-file FILE     keepalived.conf to read (default /etc/keepalived/keepalived.conf)\n\
  -i, --config-id ID      select @ID lines (default: the host name)\n\
  -C, --config-test       check the configuration and exit\n\
  -d, --dump-conf         print the configuration and exit\n\
      --control PATH      control socket (default /run/hakit/vrrpd.sock)\n\
      --vmac-garp MODE    how a Master announces VIPs on a VMAC: request, reply,\n\
                          request+advert or reply+advert (default request+advert)\n\
      --rt-priority N     SCHED_RR priority 1..99, 0 off (default: vrrp_rt_priority)\n\
  -n, -l, -D, -P          accepted for keepalived compatibility (always foreground, stderr)\n";

impl Cli {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut cli = Self {
            file: "/etc/keepalived/keepalived.conf".into(),
            config_id: None,
            control: control::DEFAULT_SOCKET.into(),
            check: false,
            dump: false,
            vmac_garp: VmacGarp::DEFAULT,
            rt_priority: None,
        };
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |what: &str| it.next().ok_or_else(|| format!("{a} needs {what}"));
            match a.as_str() {
                "-f" | "--use-file" => cli.file = value("a file")?.into(),
                "-i" | "--config-id" => cli.config_id = Some(value("an id")?),
                "--control" => cli.control = value("a path")?.into(),
                "--rt-priority" => {
                    let v = value("a priority")?;
                    cli.rt_priority = Some(
                        v.parse::<u8>()
                            .ok()
                            .filter(|p| *p <= 99)
                            .ok_or_else(|| format!("--rt-priority: 0..99, not {v}"))?,
                    );
                }
                "--vmac-garp" => {
                    let v = value("a mode")?;
                    cli.vmac_garp = VmacGarp::parse(&v)
                        .ok_or_else(|| format!("--vmac-garp: unknown mode {v}"))?;
                }
                "-C" | "--config-test" => cli.check = true,
                "-d" | "--dump-conf" => cli.dump = true,
                "-n" | "--dont-fork" | "-l" | "--log-console" | "-D" | "--log-detail" | "-P"
                | "--vrrp" => {}
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(cli)
    }
}

/// `vrrpd`'s main: returns the exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let cli = match Cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("vrrpd: {e}");
            }
            eprint!("{USAGE}");
            return if e.is_empty() { 0 } else { 2 };
        }
    };
    if cli.check || cli.dump {
        // The source address comes from the interface when it exists here; otherwise a
        // placeholder lets the rest of the configuration be checked.
        let mut nl = vmac::Netlink::open().ok();
        let mut addr = |ifname: &str, fam: Family| {
            nl.as_mut()
                .and_then(|nl| load::primary_addr(nl, ifname, fam))
                .or(Some(match fam {
                    Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
                    Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xfe)),
                }))
        };
        return match load::load(&cli.file, cli.config_id.clone(), &mut addr) {
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("{w}");
                }
                if cli.dump {
                    println!("{:#?}", l.runnable);
                } else {
                    eprintln!(
                        "{}: configuration OK ({} instance(s), {} sync group(s))",
                        cli.file.display(),
                        l.runnable.instances.len(),
                        l.runnable.groups.len()
                    );
                }
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vrrpd: runtime: {e}");
            return 1;
        }
    };
    rt.block_on(daemon::run(daemon::Options {
        file: cli.file,
        config_id: cli.config_id,
        control: cli.control,
        vmac_garp: cli.vmac_garp,
        rt_priority: cli.rt_priority,
    }))
}

/// `vrrpctl`'s main: returns the exit code.
pub fn ctl_main(args: impl IntoIterator<Item = String>) -> i32 {
    const CTL_USAGE: &str = "usage: vrrpctl [--control PATH] status | switchover NAME | step-down NAME | priority NAME N | resume NAME\n";
    let mut path = PathBuf::from(control::DEFAULT_SOCKET);
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--control" {
            match it.next() {
                Some(p) => path = p.into(),
                None => {
                    eprint!("{CTL_USAGE}");
                    return 2;
                }
            }
        } else {
            rest.push(a);
        }
    }
    let strs: Vec<&str> = rest.iter().map(String::as_str).collect();
    let req = match strs.as_slice() {
        ["status"] => control::Request::Status,
        ["switchover", n] => control::Request::Switchover {
            instance: (*n).into(),
        },
        ["step-down", n] => control::Request::StepDown {
            instance: (*n).into(),
        },
        ["resume", n] => control::Request::Resume {
            instance: (*n).into(),
        },
        ["priority", n, p] => match p.parse::<u8>() {
            Ok(priority) if priority > 0 => control::Request::Priority {
                instance: (*n).into(),
                priority,
            },
            _ => {
                eprintln!("vrrpctl: priority must be 1..255");
                return 2;
            }
        },
        _ => {
            eprint!("{CTL_USAGE}");
            return 2;
        }
    };
    match control::call(&path, &req) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            if v.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("vrrpctl: {}: {e}", path.display());
            1
        }
    }
}
