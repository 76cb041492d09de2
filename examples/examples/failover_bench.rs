//! Failover benchmark: the same scenarios for a `vrrpd` pair and a keepalived pair, in network
//! namespaces (routers r1, priority 200, and r2, priority 100, and a client on one bridge;
//! TEST-NET addresses only), and the client-visible outage of each.
//!
//! Scenarios, each on the Master r1:
//! - crash: its cable is cut at the switch port, then every daemon process of r1 is SIGKILLed
//!   (cut first, so nothing the dying daemon does reaches the LAN); the event is the cut;
//! - graceful: SIGTERM to the daemon (it sends priority 0 and removes its VIPs);
//! - link cut: the cable only, the daemon keeps running;
//! - preempt: r1 stops gracefully, then starts again and takes the VIP back from r2; the
//!   figure is the longest gap in the client's answers (the VMAC black hole shows here).
//!
//! The client sends a UDP probe to the VIP every millisecond; a responder in each router (a
//! socket bound to the wildcard address, so it answers for the VIP while the router holds it)
//! replies with the router's id. The outage is the time from the event to the first reply from
//! r2 (the new Master). After each trial r1 is restored (cable back, daemon restarted) and
//! takes the VIP back before the next one. A spurious transition is a state change of either
//! router in the quiet window before the event, or anything but exactly one transition of r2
//! (to Master) between the event and the restore. The quiet window lasts 30 advert intervals
//! (0.3 to 3 s) plus a random fraction of one, so the event falls at a random phase of the
//! Master's advert period.
//!
//! ```text
//! cargo build --release -p examples --bin vrrpd --example failover_bench
//! sudo $CARGO_TARGET_DIR/release/examples/failover_bench [--quick] [--trials N]
//!     [--adverts 1000,100,10] [--vmac off|on|both] [--daemons vrrpd,keepalived]
//!     [--scenarios crash,graceful,link-cut,preempt] [--vrrpd PATH]
//! ```
//!
//! Needs root, iproute2 and keepalived. Ctrl-C stops after the current step and removes the
//! namespaces.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, run_cmd};
use examples::vrrpd::control::{self, Request};

const R1: &str = "192.0.2.1";
const R2: &str = "192.0.2.2";
const CLIENT: &str = "192.0.2.10";
const VIP: &str = "192.0.2.100";
const VRID: u8 = 51;
/// The backup's priority (r2), which the RFC values use.
const BACKUP_PRIORITY: u32 = 100;
const ECHO_PORT: u16 = 7;
const PROBE_EVERY: Duration = Duration::from_millis(1);

/// Extra arguments for vrrpd (`--vrrpd-arg`, repeated).
static VRRPD_ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Set by Ctrl-C: every wait gives up, the labs are dropped (namespaces removed).
static STOP: AtomicBool = AtomicBool::new(false);

type Res<T> = Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Daemon {
    Vrrpd,
    Keepalived,
}

impl Daemon {
    fn name(self) -> &'static str {
        match self {
            Self::Vrrpd => "vrrpd",
            Self::Keepalived => "keepalived",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Crash,
    Graceful,
    LinkCut,
    Preempt,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Crash => "crash (SIGKILL + cable)",
            Self::Graceful => "graceful (SIGTERM)",
            Self::LinkCut => "link cut",
            Self::Preempt => "preempt (r1 returns), longest gap",
        }
    }

    /// The RFC value: Master_Down_Interval, or Skew_Time for a priority-0 release, with the
    /// backup's priority.
    fn rfc(self, advert: Duration) -> Duration {
        let skew = advert * (256 - BACKUP_PRIORITY) / 256;
        match self {
            Self::Graceful => skew,
            Self::Crash | Self::LinkCut => advert * 3 + skew,
            // Both routers are up: nothing in the protocol forces a gap.
            Self::Preempt => Duration::ZERO,
        }
    }
}

#[derive(Debug)]
struct Args {
    trials: usize,
    adverts: Vec<u64>,
    vmac: Vec<bool>,
    daemons: Vec<Daemon>,
    scenarios: Vec<Scenario>,
    vrrpd: PathBuf,
    command: String,
}

const USAGE: &str = "usage: failover_bench [--quick] [--trials N] [--adverts MS,MS..] \
[--vmac off|on|both] [--daemons vrrpd,keepalived] [--scenarios crash,graceful,link-cut,preempt] [--vrrpd PATH] [--vrrpd-arg ARG]...";

fn parse_args() -> Res<Args> {
    let argv: Vec<String> = std::env::args().collect();
    let default_vrrpd = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("vrrpd")))
        .unwrap_or_else(|| "vrrpd".into());
    let mut a = Args {
        trials: 5,
        adverts: vec![1000, 100, 10],
        vmac: vec![false, true],
        daemons: vec![Daemon::Vrrpd, Daemon::Keepalived],
        scenarios: vec![Scenario::Crash, Scenario::Graceful, Scenario::LinkCut],
        vrrpd: default_vrrpd,
        command: argv.join(" "),
    };
    let mut trials = None;
    let mut vrrpd_args = Vec::new();
    let mut it = argv.into_iter().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => {
                a.adverts = vec![100, 10];
                a.vmac = vec![false];
                trials.get_or_insert(3);
            }
            "--trials" => {
                trials = Some(value()?.parse().map_err(|e| format!("--trials: {e}"))?);
            }
            "--adverts" => {
                a.adverts = value()?
                    .split(',')
                    .map(|s| s.parse::<u64>().map_err(|e| format!("--adverts: {e}")))
                    .collect::<Res<_>>()?;
                if a.adverts.iter().any(|&ms| ms < 10 || ms % 10 != 0) {
                    return Err("--adverts: multiples of 10 ms (VRRPv3 centiseconds)".into());
                }
            }
            "--vmac" => {
                a.vmac = match value()?.as_str() {
                    "off" => vec![false],
                    "on" => vec![true],
                    "both" => vec![false, true],
                    v => return Err(format!("--vmac {v}: off, on or both")),
                };
            }
            "--daemons" => {
                a.daemons = value()?
                    .split(',')
                    .map(|d| match d {
                        "vrrpd" => Ok(Daemon::Vrrpd),
                        "keepalived" => Ok(Daemon::Keepalived),
                        _ => Err(format!("--daemons: unknown {d}")),
                    })
                    .collect::<Res<_>>()?;
            }
            "--scenarios" => {
                a.scenarios = value()?
                    .split(',')
                    .map(|d| match d {
                        "crash" => Ok(Scenario::Crash),
                        "graceful" => Ok(Scenario::Graceful),
                        "link-cut" => Ok(Scenario::LinkCut),
                        "preempt" => Ok(Scenario::Preempt),
                        _ => Err(format!("--scenarios: unknown {d}")),
                    })
                    .collect::<Res<_>>()?;
            }
            "--vrrpd" => a.vrrpd = value()?.into(),
            "--vrrpd-arg" => vrrpd_args.push(value()?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    a.trials = trials.unwrap_or(5).max(1);
    let _ = VRRPD_ARGS.set(vrrpd_args);
    Ok(a)
}

fn stopped() -> Res<()> {
    if STOP.load(Ordering::Relaxed) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Polls `probe` every millisecond until it returns a value, `timeout` passes (an error naming
/// `what`) or Ctrl-C.
fn poll<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> Res<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        stopped()?;
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sleeps `d` in small steps, giving up on Ctrl-C.
fn pause(d: Duration) -> Res<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        stopped()?;
        std::thread::sleep(Duration::from_millis(5).min(end - Instant::now()));
    }
    Ok(())
}

/// A UDP responder in a router: answers every probe with the router's id.
#[derive(Debug)]
struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    fn start(node: &Node, id: u8) -> Self {
        let sock = node.enter(|| UdpSocket::bind(("0.0.0.0", ECHO_PORT)).expect("bind echo"));
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf)
                    && n >= 8
                {
                    buf[8] = id;
                    let _ = sock.send_to(&buf[..9], from);
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One reply: which router answered, when it arrived.
#[derive(Debug, Clone, Copy)]
struct Answer {
    from: u8,
    at: Instant,
}

/// The client: a probe to the VIP every millisecond, the replies recorded.
#[derive(Debug)]
struct Prober {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Prober {
    fn start(client: &Node) -> Self {
        let sock = client.enter(|| UdpSocket::bind((CLIENT, 0)).expect("bind probe"));
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let rx = sock.try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let to: SocketAddr = format!("{VIP}:{ECHO_PORT}").parse().unwrap();
        let flag = stop.clone();
        let sender = std::thread::spawn(move || {
            let mut next = Instant::now();
            let mut seq = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let _ = sock.send_to(&seq.to_be_bytes(), to);
                seq += 1;
                next += PROBE_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        let flag = stop.clone();
        let store = answers.clone();
        let receiver = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !flag.load(Ordering::Relaxed) {
                if let Ok(9) = rx.recv(&mut buf) {
                    let a = Answer {
                        from: buf[8],
                        at: Instant::now(),
                    };
                    store.lock().unwrap_or_else(PoisonError::into_inner).push(a);
                }
            }
        });
        Self {
            stop,
            answers,
            threads: vec![sender, receiver],
        }
    }

    /// The first reply from router `from` that arrived at or after `since`.
    fn first_from(&self, from: u8, since: Instant) -> Option<Instant> {
        let a = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let start = a.partition_point(|x| x.at < since);
        a[start..].iter().find(|x| x.from == from).map(|x| x.at)
    }

    /// The longest time without any reply between `from` and `to` (both ends count as
    /// replies).
    /// Also returns where it began.
    fn longest_gap(&self, from: Instant, to: Instant) -> (Duration, Instant) {
        let a = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let start = a.partition_point(|x| x.at < from);
        let mut last = from;
        let mut gap = (Duration::ZERO, from);
        for x in a[start..].iter().take_while(|x| x.at <= to) {
            if x.at - last > gap.0 {
                gap = (x.at - last, last);
            }
            last = x.at;
        }
        if to.saturating_duration_since(last) > gap.0 {
            gap = (to - last, last);
        }
        gap
    }

    fn clear(&self) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `ip -n SWITCH -batch -`, kept running so a cable cut is one line written to a pipe rather
/// than a process start (a few milliseconds on a loaded machine).
#[derive(Debug)]
struct Switch {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Switch {
    fn start(lab: &Lab) -> Self {
        let mut child = Command::new("ip")
            .args(["-n", lab.switch_netns(), "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("ip -batch");
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    fn set(&mut self, port: &str, up: bool) {
        let line = format!("link set {port} {}\n", if up { "up" } else { "down" });
        let s = self.stdin.as_mut().expect("ip -batch stdin");
        s.write_all(line.as_bytes()).expect("ip -batch");
        s.flush().expect("ip -batch");
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A router's daemon.
#[derive(Debug)]
struct Router {
    node: Node,
    daemon: Daemon,
    conf: PathBuf,
    sock: PathBuf,
    states: PathBuf,
    pids: [String; 4],
    proc: Option<Proc>,
}

fn instance(priority: u8, advert: Duration, vmac: bool) -> String {
    format!(
        "    state BACKUP\n    interface {NODE_IF}\n    virtual_router_id {VRID}\n    \
         priority {priority}\n    version 3\n    advert_int {}\n{}    virtual_ipaddress {{\n        \
         {VIP}/24\n    }}\n",
        advert.as_secs_f64(),
        if vmac { "    use_vmac\n" } else { "" }
    )
}

impl Router {
    fn new(
        node: &Node,
        dir: &Path,
        daemon: Daemon,
        priority: u8,
        advert: Duration,
        vmac: bool,
    ) -> Self {
        let name = node.name();
        let states = dir.join(format!("{name}.states"));
        let notify = dir.join(format!("{name}-notify.sh"));
        std::fs::write(
            &notify,
            format!("#!/bin/sh\necho \"$3\" >> {}\n", states.display()),
        )
        .unwrap();
        std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = dir.join(format!("{name}.conf"));
        let text = match daemon {
            Daemon::Vrrpd => format!(
                "global_defs {{\n    router_id {name}\n}}\nvrrp_instance VI_1 {{\n{}}}\n",
                instance(priority, advert, vmac)
            ),
            Daemon::Keepalived => format!(
                "global_defs {{\n    router_id {name}\n    script_user root\n}}\n\
                 vrrp_instance VI_1 {{\n    notify {}\n{}}}\n",
                notify.display(),
                instance(priority, advert, vmac)
            ),
        };
        std::fs::write(&conf, text).unwrap();
        let pid = |w: &str| {
            dir.join(format!("{name}-{w}.pid"))
                .to_string_lossy()
                .into_owned()
        };
        Self {
            node: node.clone(),
            daemon,
            conf,
            sock: dir.join(format!("{name}.sock")),
            states,
            pids: [pid("main"), pid("vrrp"), pid("checkers"), pid("bfd")],
            proc: None,
        }
    }

    fn start(&mut self, vrrpd: &Path) {
        let conf = self.conf.to_string_lossy().into_owned();
        let p = match self.daemon {
            Daemon::Vrrpd => {
                let bin = vrrpd.to_string_lossy();
                let sock = self.sock.to_string_lossy();
                let mut argv = vec![&*bin, "-f", &conf, "--control", &sock];
                argv.extend(VRRPD_ARGS.get().into_iter().flatten().map(String::as_str));
                self.node.spawn(&argv)
            }
            Daemon::Keepalived => {
                // A marker, so a state recorded by a previous run is not read as current.
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.states)
                    .unwrap();
                writeln!(f, "START").unwrap();
                // After a SIGKILL the pid files stay, and the VRRP child they name may linger as
                // a zombie (reparented to a pid 1 that does not reap): keepalived would refuse
                // to start ("daemon is already running").
                for p in &self.pids {
                    let _ = std::fs::remove_file(p);
                }
                self.node.spawn(&[
                    &require_bin("keepalived").to_string_lossy(),
                    "-f",
                    &conf,
                    "--vrrp",
                    "--dont-fork",
                    "--log-console",
                    "--no-syslog",
                    "--dont-respawn",
                    "-p",
                    &self.pids[0],
                    "-r",
                    &self.pids[1],
                    "-c",
                    &self.pids[2],
                    "-b",
                    &self.pids[3],
                ])
            }
        };
        self.proc = Some(p);
    }

    fn state(&self) -> Option<String> {
        match self.daemon {
            Daemon::Vrrpd => {
                let v = control::call(&self.sock, &Request::Status).ok()?;
                Some(v["instances"][0]["state"].as_str()?.to_owned())
            }
            Daemon::Keepalived => std::fs::read_to_string(&self.states)
                .ok()?
                .lines()
                .last()
                .map(str::to_owned),
        }
    }

    /// State changes so far (of the current process for vrrpd; of every run for keepalived).
    fn transitions(&self) -> usize {
        match self.daemon {
            Daemon::Vrrpd => self
                .proc
                .as_ref()
                .map_or(0, |p| p.log().matches(") Entering ").count()),
            Daemon::Keepalived => std::fs::read_to_string(&self.states)
                .unwrap_or_default()
                .lines()
                .filter(|l| *l != "START")
                .count(),
        }
    }

    /// SIGKILL to every process of the router's namespace (keepalived's parent and children).
    fn kill_all(&mut self) -> Res<()> {
        let me = std::process::id().to_string();
        let out = run_cmd("ip", &["netns", "pids", self.node.netns()]);
        let pids: Vec<&str> = out.split_whitespace().filter(|p| *p != me).collect();
        if !pids.is_empty() {
            let mut args = vec!["-KILL"];
            args.extend(pids);
            let _ = Command::new("kill")
                .args(&args)
                .stderr(Stdio::null())
                .status();
        }
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> Res<()> {
        if let Some(p) = self.proc.as_mut() {
            poll(Duration::from_secs(5), "the daemon to exit", || {
                (!p.is_running()).then_some(())
            })?;
        }
        self.proc = None;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = self.proc.as_ref().map(Proc::log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(15).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// One lab with a pair of routers of one kind, at one advert interval, with or without VMAC.
struct Cell {
    // Field order is drop order: threads and processes first, the lab last.
    prober: Prober,
    _responders: [Responder; 2],
    r1: Router,
    r2: Router,
    switch: Switch,
    port1: String,
    vrrpd: PathBuf,
    advert: Duration,
    /// Kept for its drop: removes the namespaces.
    _lab: Lab,
}

/// The results of one (daemon, scenario, advert, VMAC) cell.
#[derive(Debug, Default, Clone)]
struct Outcome {
    outages: Vec<Duration>,
    failures: usize,
    spurious: usize,
    /// Trials after which r1 did not get the VIP back (Master and answering the client) in
    /// time: the outage counts, the pair is rebuilt.
    restore_stuck: usize,
}

impl Cell {
    fn new(daemon: Daemon, advert: Duration, vmac: bool, vrrpd: &Path) -> Self {
        let lab = Lab::new("fb");
        let n1 = lab.add_node("r1");
        let n2 = lab.add_node("r2");
        let c = lab.add_node("c");
        n1.add_addr(NODE_IF, &format!("{R1}/24"));
        n2.add_addr(NODE_IF, &format!("{R2}/24"));
        c.add_addr(NODE_IF, &format!("{CLIENT}/24"));
        let r1 = Router::new(&n1, lab.dir(), daemon, 200, advert, vmac);
        let r2 = Router::new(&n2, lab.dir(), daemon, 100, advert, vmac);
        let responders = [Responder::start(&n1, 1), Responder::start(&n2, 2)];
        let prober = Prober::start(&c);
        let switch = Switch::start(&lab);
        let port1 = lab.port_of(&n1, NODE_IF);
        Self {
            prober,
            _responders: responders,
            r1,
            r2,
            switch,
            port1,
            vrrpd: vrrpd.to_owned(),
            advert,
            _lab: lab,
        }
    }

    fn mdi(&self) -> Duration {
        Scenario::Crash.rfc(self.advert)
    }

    /// r1 Master, r2 Backup, and the client answered by r1.
    fn wait_steady(&self) -> Res<()> {
        let t = Instant::now();
        let limit = self.mdi() * 3 + Duration::from_secs(5);
        poll(limit, "r1 MASTER, r2 BACKUP", || {
            (self.r1.state().as_deref() == Some("MASTER")
                && self.r2.state().as_deref() == Some("BACKUP"))
            .then_some(())
        })?;
        poll(limit, "the client answered by r1", || {
            self.prober.first_from(1, t)
        })?;
        Ok(())
    }

    /// Starts both daemons (r1 first: it wins the first election) and waits until steady.
    fn start(&mut self) -> Res<()> {
        self.r1.start(&self.vrrpd);
        poll(self.mdi() * 2 + Duration::from_secs(3), "r1 MASTER", || {
            (self.r1.state().as_deref() == Some("MASTER")).then_some(())
        })?;
        self.r2.start(&self.vrrpd);
        self.wait_steady()
    }

    fn cable(&mut self, up: bool) {
        let port = self.port1.clone();
        self.switch.set(&port, up);
    }

    /// One trial: quiet window, event, takeover, restore. Returns the outage and the spurious
    /// transitions seen.
    fn trial(&mut self, scenario: Scenario) -> Res<(Option<Duration>, usize)> {
        if scenario == Scenario::Preempt {
            return self.trial_preempt();
        }
        // Plus a random fraction of an interval: the event lands at a random phase of the
        // Master's advert period (the restore would otherwise lock it to one phase).
        let quiet = (self.advert * 30).clamp(Duration::from_millis(300), Duration::from_secs(3))
            + self.advert.mul_f64(random_fraction());
        let (q1, q2) = (self.r1.transitions(), self.r2.transitions());
        pause(quiet)?;
        let mut spurious = self.r1.transitions() - q1 + self.r2.transitions() - q2;
        let e2 = self.r2.transitions();
        self.prober.clear();
        let t0 = Instant::now();
        match scenario {
            Scenario::Crash => {
                self.cable(false);
                self.r1.kill_all()?;
            }
            Scenario::Graceful => {
                if let Some(p) = &self.r1.proc {
                    p.signal(libc::SIGTERM);
                }
            }
            Scenario::LinkCut => self.cable(false),
            Scenario::Preempt => unreachable!("handled by trial_preempt"),
        }
        let limit = self.mdi() * 3 + Duration::from_secs(2);
        let outage = match poll(limit, "an answer from r2", || self.prober.first_from(2, t0)) {
            Ok(at) => Some(at - t0),
            Err(e) => {
                stopped()?;
                eprintln!("  no takeover: {e}\n  r2: {}", self.r2.log_tail());
                None
            }
        };
        // Let flaps show before counting r2's transitions.
        pause((self.advert * 10).clamp(Duration::from_millis(100), Duration::from_secs(1)))?;
        spurious += (self.r2.transitions() - e2).abs_diff(1);
        // Restore.
        match scenario {
            Scenario::Crash => {
                self.cable(true);
                self.r1.node.wait_oper_up(NODE_IF);
                self.r1.start(&self.vrrpd);
            }
            Scenario::Graceful => {
                self.r1.wait_exit()?;
                self.r1.start(&self.vrrpd);
            }
            Scenario::LinkCut => {
                self.cable(true);
                self.r1.node.wait_oper_up(NODE_IF);
            }
            Scenario::Preempt => unreachable!("handled by trial_preempt"),
        }
        Ok((outage, spurious))
    }

    /// Preemption: r1 stops gracefully and r2 serves the client; then r1 starts again, takes
    /// the VIP back, and the figure is the longest time the client went without an answer from
    /// r1's start until 20 intervals after r1's first answer. With a VMAC this is where a
    /// gratuitous ARP request answered by r2 (from the same VMAC) leaves a black hole.
    fn trial_preempt(&mut self) -> Res<(Option<Duration>, usize)> {
        if let Some(p) = &self.r1.proc {
            p.signal(libc::SIGTERM);
        }
        self.r1.wait_exit()?;
        let t = Instant::now();
        let limit = self.mdi() * 3 + Duration::from_secs(2);
        poll(limit, "an answer from r2", || self.prober.first_from(2, t))?;
        pause((self.advert * 30).clamp(Duration::from_millis(300), Duration::from_secs(3)))?;
        let e2 = self.r2.transitions();
        self.prober.clear();
        let t0 = Instant::now();
        self.r1.start(&self.vrrpd);
        let first = poll(limit + Duration::from_secs(3), "an answer from r1", || {
            self.prober.first_from(1, t0)
        })?;
        let tail = (self.advert * 20).max(Duration::from_millis(200));
        pause((first + tail).saturating_duration_since(Instant::now()))?;
        let (gap, at) = self.prober.longest_gap(t0, first + tail);
        eprintln!(
            "  longest gap {} ms from {} ms after r1's start; r1's first answer at {} ms",
            ms(gap),
            ms(at - t0),
            ms(first - t0)
        );
        let spurious = (self.r2.transitions() - e2).abs_diff(1);
        Ok((Some(gap), spurious))
    }

    /// After a trial: r1 Master again and answering the client.
    fn restored(&self) -> Res<()> {
        self.wait_steady()
    }
}

/// A fraction in [0, 1) from std's randomly keyed hasher (no extra crate).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m >= 100.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

type Key = (Scenario, u64, bool);

fn run(args: &Args) -> Res<BTreeMap<(Key, Daemon), Outcome>> {
    let mut results: BTreeMap<(Key, Daemon), Outcome> = BTreeMap::new();
    for &advert_ms in &args.adverts {
        for &vmac in &args.vmac {
            for &daemon in &args.daemons {
                stopped()?;
                let advert = Duration::from_millis(advert_ms);
                eprintln!(
                    "== {} advert {advert_ms} ms, VMAC {}",
                    daemon.name(),
                    if vmac { "on" } else { "off" }
                );
                let mut cell = Cell::new(daemon, advert, vmac, &args.vrrpd);
                if let Err(e) = cell.start() {
                    stopped()?;
                    eprintln!(
                        "  start-up failed: {e}\n  r1: {}\n  r2: {}",
                        cell.r1.log_tail(),
                        cell.r2.log_tail()
                    );
                    for &s in &args.scenarios {
                        results
                            .entry(((s, advert_ms, vmac), daemon))
                            .or_default()
                            .failures += args.trials;
                    }
                    continue;
                }
                for &s in &args.scenarios {
                    let out = results.entry(((s, advert_ms, vmac), daemon)).or_default();
                    for i in 0..args.trials {
                        match cell.trial(s) {
                            Ok((o, sp)) => {
                                eprintln!(
                                    "  {} #{}: outage {}, spurious {sp}",
                                    s.name(),
                                    i + 1,
                                    o.map_or_else(|| "none".into(), |d| format!("{} ms", ms(d)))
                                );
                                match o {
                                    Some(d) => out.outages.push(d),
                                    None => out.failures += 1,
                                }
                                out.spurious += sp;
                                if let Err(e) = cell.restored() {
                                    stopped()?;
                                    eprintln!(
                                        "  restore after #{}: {e}\n  r1: {}",
                                        i + 1,
                                        cell.r1.log_tail()
                                    );
                                    out.restore_stuck += 1;
                                    cell = Cell::new(daemon, advert, vmac, &args.vrrpd);
                                    if let Err(e) = cell.start() {
                                        stopped()?;
                                        eprintln!("  cannot restart the pair: {e}");
                                        break;
                                    }
                                }
                            }
                            Err(e) => {
                                stopped()?;
                                eprintln!(
                                    "  {} #{}: {e}\n  r1: {}\n  r2: {}",
                                    s.name(),
                                    i + 1,
                                    cell.r1.log_tail(),
                                    cell.r2.log_tail()
                                );
                                out.failures += 1;
                                // A fresh pair for the next trial.
                                cell = Cell::new(daemon, advert, vmac, &args.vrrpd);
                                if let Err(e) = cell.start() {
                                    stopped()?;
                                    eprintln!("  cannot restart the pair: {e}");
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(results)
}

fn table(args: &Args, results: &BTreeMap<(Key, Daemon), Outcome>) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Median client-visible outage over {} trial(s) per cell, ms (probe every 1 ms; \
         RFC: Master_Down_Interval for crash / link cut, Skew_Time for graceful, backup \
         priority {BACKUP_PRIORITY}).\n\n",
        args.trials
    ));
    out.push_str(
        "| scenario | advert | VMAC | vrrpd | keepalived | RFC | vrrpd / keepalived | spurious (vrrpd / keepalived) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut keys: Vec<Key> = results.keys().map(|(k, _)| *k).collect();
    keys.dedup();
    keys.sort_by_key(|&(s, a, v)| (s, std::cmp::Reverse(a), v));
    keys.dedup();
    for key @ (s, advert_ms, vmac) in keys {
        let get = |d| results.get(&(key, d));
        let cell = |o: Option<&Outcome>| match o {
            None => ("–".to_owned(), None, "–".to_owned()),
            Some(o) => {
                let m = median(&o.outages);
                let mut text = m.map_or_else(|| "none".into(), ms);
                if o.failures > 0 {
                    text.push_str(&format!(" ({} failed)", o.failures));
                }
                if o.restore_stuck > 0 {
                    text.push_str(&format!(" ({} restore stuck)", o.restore_stuck));
                }
                (text, m, o.spurious.to_string())
            }
        };
        let (vt, vm, vs) = cell(get(Daemon::Vrrpd));
        let (kt, km, ks) = cell(get(Daemon::Keepalived));
        let ratio = match (vm, km) {
            (Some(v), Some(k)) if !k.is_zero() => {
                format!("{:.2}", v.as_secs_f64() / k.as_secs_f64())
            }
            _ => "–".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {vt} | {kt} | {} | {ratio} | {vs} / {ks} |\n",
            s.name(),
            if advert_ms >= 1000 {
                format!("{} s", advert_ms / 1000)
            } else {
                format!("{advert_ms} ms")
            },
            if vmac { "on" } else { "off" },
            match s.rfc(Duration::from_millis(advert_ms)) {
                d if d.is_zero() => "0".to_owned(),
                d => ms(d),
            },
        ));
    }
    out
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    Lab::require_root();
    require_bin("keepalived");
    assert!(
        args.vrrpd.is_file(),
        "{} not found: build it first (cargo build --release -p examples --bin vrrpd) or pass \
         --vrrpd PATH",
        args.vrrpd.display()
    );
    // Ctrl-C: set STOP; the waits give up and every lab is dropped on the way out.
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        eprintln!("interrupted: cleaning up");
        STOP.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    match run(&args) {
        Ok(results) => {
            println!("{}", table(&args, &results));
            println!(
                "Command: `{}` ({:.0} s)",
                args.command,
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("failover_bench: {e}");
            std::process::exit(130);
        }
    }
}
