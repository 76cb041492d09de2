//! The HA lab: two routers with hakit's three daemons, a DHCP client and an upstream server,
//! in network namespaces, and a failover whose cost is measured from the client's side.
//!
//! ```text
//!                      LAN 192.0.2.0/24 (VIP .1)            upstream 198.51.100.0/24 (VIP .1)
//!  client (DHCP .100-.200) ──┬── r1 .2 (prio 200) ──┬── server .10 (TCP + UDP echo)
//!                            └── r2 .3 (prio 100) ──┘
//!                     r1 and r2: sync link 203.0.113.0/24 (.2, .3): ctsyncd FTFW, Kea HA
//! ```
//!
//! Each router runs `vrrpd` (the LAN VIP and the upstream VIP in one `vrrp_sync_group`, VMAC on
//! by default, whose `notify_master` / `notify_backup` drive `ctsyncd` as keepalived's
//! `primary-backup.sh` drives conntrackd), `dhcp4d` (a Kea HA hot-standby pair, r1 primary)
//! and `ctsyncd` (FTFW over UDP on the sync link), with nftables SNAT of the LAN to the
//! upstream VIP. The client gets its address by DHCP ([`client`]), then holds a TCP connection
//! (a counter every 10 ms, echoed) and a UDP stream (every 5 ms, echoed) to the server through
//! both VIPs. A [`Scenario`] hits r1 and the [`Report`] tells when r2 became Master, when the
//! VIP answered again, when the conntrack commit finished, when DHCP was served again, whether
//! the TCP connection survived, and the longest gaps.
//!
//! ```no_run
//! use examples::lab::{Binaries, Options, run};
//!
//! let report = run(&Options::new(Binaries::next_to_current_exe())).unwrap();
//! println!("{}", report.text());
//! ```
//!
//! Everything runs in namespaces named `hk<tag>-…` ([`Options::tag`]); dropping the [`HaLab`]
//! removes them, also on panic. Needs root, iproute2, nftables and conntrack.

pub mod client;
pub mod configs;
pub mod scenario;
pub mod timeline;
pub mod topology;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use scenario::HaLab;
pub use timeline::{Event, Report};

/// What goes wrong in a lab run: a step that did not happen in time, a daemon that exited,
/// an interruption. The text says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError(pub String);

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

impl From<String> for LabError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// A lab step's result.
pub type LabResult<T> = Result<T, LabError>;

/// What happens to r1, the Master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Every daemon on r1 is SIGKILLed and r1's links are cut (links first, so nothing the
    /// dying daemons do reaches the wire).
    Kill,
    /// SIGTERM to every daemon on r1 (vrrpd sends priority-0 adverts); links stay up.
    Stop,
    /// r1's links are cut; its daemons keep running.
    Link,
    /// `kill`, then r1 comes back (as after a reboot: its VIPs, VMACs and conntrack table
    /// gone, links restored, daemons started) and preempts r2.
    Preempt,
}

impl Scenario {
    /// Parses `kill`, `stop`, `link` or `preempt`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "kill" => Self::Kill,
            "stop" => Self::Stop,
            "link" => Self::Link,
            "preempt" => Self::Preempt,
            _ => return None,
        })
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Stop => "stop",
            Self::Link => "link",
            Self::Preempt => "preempt",
        }
    }

    /// What happens, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL of every daemon on r1, r1's links cut",
            Self::Stop => "SIGTERM to every daemon on r1 (graceful stop)",
            Self::Link => "r1's links cut, its daemons keep running",
            Self::Preempt => "SIGKILL + links cut on r1, then r1 returns and preempts",
        }
    }
}

/// Where the three daemons' binaries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `vrrpd`.
    pub vrrpd: PathBuf,
    /// `dhcp4d`.
    pub dhcp4d: PathBuf,
    /// `ctsyncd`.
    pub ctsyncd: PathBuf,
}

impl Binaries {
    /// The daemons in the directory of the running program (cargo builds them side by side).
    pub fn next_to_current_exe() -> Self {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default();
        Self {
            vrrpd: dir.join("vrrpd"),
            dhcp4d: dir.join("dhcp4d"),
            ctsyncd: dir.join("ctsyncd"),
        }
    }

    /// Fails naming the first binary that does not exist.
    pub fn check(&self) -> LabResult<()> {
        for p in [&self.vrrpd, &self.dhcp4d, &self.ctsyncd] {
            if !p.is_file() {
                return Err(LabError(format!(
                    "{} not found: build the daemons first \
                     (cargo build --release -p examples --bins)",
                    p.display()
                )));
            }
        }
        Ok(())
    }
}

/// How to run the lab.
#[derive(Debug, Clone)]
pub struct Options {
    /// The daemons.
    pub bins: Binaries,
    /// VRRP advertisement interval (a multiple of 10 ms).
    pub advert: Duration,
    /// `use_vmac` on both instances.
    pub vmac: bool,
    /// What happens to r1.
    pub scenario: Scenario,
    /// Namespace tag: the namespaces are named `hk<tag>-<pid>-<n>-<node>`.
    pub tag: String,
    /// Set (e.g. by a Ctrl-C handler) to give up: every wait returns an error and the lab
    /// is removed on the way out.
    pub stop: Arc<AtomicBool>,
}

impl Options {
    /// The defaults: 100 ms adverts, VMAC on, scenario `kill`, tag `lab`.
    pub fn new(bins: Binaries) -> Self {
        Self {
            bins,
            advert: Duration::from_millis(100),
            vmac: true,
            scenario: Scenario::Kill,
            tag: "lab".into(),
            stop: Arc::default(),
        }
    }
}

/// Builds the lab, runs the scenario and removes the lab: the report, or what went wrong.
pub fn run(opts: &Options) -> LabResult<Report> {
    let mut lab = HaLab::build(opts)?;
    lab.run_scenario()
}
