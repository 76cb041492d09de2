//! Building the lab, starting the daemons, watching them, and running a [`Scenario`].

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::client::{DhcpClient, DhcpLog, EchoServer, Probes};
use super::configs::{self, Files, HaTimers, LeaseTimers};
use super::timeline::{self, RawEvent, RunData};
use super::topology::{
    self, LAN_IF, LAN_INSTANCE, Nodes, Router, SERVER, SYNC_IF, TCP_PORT, UP_IF, UP_INSTANCE,
    UP_VRID,
};
use super::{LabError, LabResult, Options, Report, Scenario};
use crate::netns::{Lab, Proc};
use crate::vrrpd::control::{self, Request};

/// How long a daemon may take to start.
const START: Duration = Duration::from_secs(10);
/// How long VRRP may take to elect r1 at start-up (keepalived's non-owner start-up waits a
/// Master_Down_Interval).
const ELECT: Duration = Duration::from_secs(10);
/// How long the Kea HA pair may take to reach hot-standby.
const HA_READY: Duration = Duration::from_secs(20);
/// How long after the event the lab waits for everything to recover.
const RECOVER: Duration = Duration::from_secs(25);
/// Steady state recorded after recovery, for the picture.
const TAIL: Duration = Duration::from_millis(1000);
/// How often the monitor asks vrrpd for its state.
const VRRP_POLL: Duration = Duration::from_millis(2);
/// How often the monitor asks dhcp4d for its HA state.
const HA_POLL: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The three daemons of a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Daemon {
    Ctsyncd,
    Dhcp4d,
    Vrrpd,
}

/// What the monitor knows now, and every change it saw.
#[derive(Debug, Default)]
struct Watch {
    /// (router, instance) → vrrpd's state word.
    vrrp: BTreeMap<(Router, String), String>,
    /// router → Kea HA state.
    ha: BTreeMap<Router, String>,
    events: Vec<RawEvent>,
}

/// A thread asking both routers' vrrpd (every 2 ms) and dhcp4d (every 50 ms) for their states.
#[derive(Debug)]
struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    fn start(files: [Files; 2], ha: bool, epoch: Instant, watch: Arc<Mutex<Watch>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut next_ha = Instant::now();
            while !s.load(Ordering::Relaxed) {
                for r in Router::BOTH {
                    let f = &files[r as usize];
                    let Ok(v) = control::call(&f.vrrpd_sock, &Request::Status) else {
                        continue;
                    };
                    let at = epoch.elapsed();
                    let Some(list) = v["instances"].as_array() else {
                        continue;
                    };
                    let mut w = lock(&watch);
                    for i in list {
                        let (Some(name), Some(state)) = (i["name"].as_str(), i["state"].as_str())
                        else {
                            continue;
                        };
                        let key = (r, name.to_owned());
                        if w.vrrp.get(&key).map(String::as_str) != Some(state) {
                            let what = match w.vrrp.get(&key) {
                                Some(old) => format!("vrrpd {name}: {old} -> {state}"),
                                None => format!("vrrpd {name}: {state}"),
                            };
                            w.events.push(RawEvent::new(at, r.name(), what));
                            w.vrrp.insert(key, state.to_owned());
                        }
                    }
                }
                if ha && Instant::now() >= next_ha {
                    next_ha += HA_POLL;
                    for r in Router::BOTH {
                        let Some(state) = ha_state(&files[r as usize].kea_sock) else {
                            continue;
                        };
                        let at = epoch.elapsed();
                        let mut w = lock(&watch);
                        if w.ha.get(&r) != Some(&state) {
                            let what = match w.ha.get(&r) {
                                Some(old) => format!("Kea HA: {old} -> {state}"),
                                None => format!("Kea HA: {state}"),
                            };
                            w.events.push(RawEvent::new(at, r.name(), what));
                            w.ha.insert(r, state);
                        }
                    }
                }
                std::thread::sleep(VRRP_POLL);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends one command over a Kea control socket (connect, send, read to EOF).
fn kea_command(sock: &Path, command: &str, arguments: Value) -> Option<Value> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut req = json!({ "command": command });
    if !arguments.is_null() {
        req["arguments"] = arguments;
    }
    s.write_all(req.to_string().as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    serde_json::from_slice(&out).ok()
}

/// The local HA state dhcp4d reports in `status-get`.
fn ha_state(sock: &Path) -> Option<String> {
    let v = kea_command(sock, "status-get", Value::Null)?;
    let ha = &v["arguments"]["high-availability"][0]["ha-servers"]["local"]["state"];
    ha.as_str().map(str::to_owned)
}

/// The lab with its daemons running; see the [module docs](super). Dropping it stops
/// everything and removes the namespaces.
#[derive(Debug)]
pub struct HaLab {
    // Fields drop in this order: threads first, the namespaces last.
    client_stop: Arc<AtomicBool>,
    dhcp_thread: Option<JoinHandle<()>>,
    probes: Option<Probes>,
    echo: Option<EchoServer>,
    monitor: Option<Monitor>,
    daemons: BTreeMap<(Router, Daemon), Proc>,
    opts: Options,
    files: [Files; 2],
    epoch: Instant,
    epoch_unix: f64,
    watch: Arc<Mutex<Watch>>,
    dhcp_log: Arc<Mutex<DhcpLog>>,
    dhcp_ha: bool,
    notes: Vec<String>,
    nodes: Nodes,
    lab: Lab,
}

impl Drop for HaLab {
    fn drop(&mut self) {
        self.client_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.dhcp_thread.take() {
            let _ = t.join();
        }
    }
}

impl HaLab {
    /// Builds the namespaces, writes the configurations and starts the daemons: ctsyncd,
    /// dhcp4d and vrrpd on both routers (dhcp4d on r2 only if it runs Kea HA; without HA it
    /// starts there when r2 becomes Master), and the server's echo services. Returns once r1
    /// is Master and r2 Backup.
    pub fn build(opts: &Options) -> LabResult<Self> {
        opts.bins.check()?;
        crate::netns::Lab::require_root();
        for bin in ["nft", "conntrack"] {
            crate::netns::require_bin(bin);
        }
        let ms = opts.advert.as_millis();
        if ms < 10 || !ms.is_multiple_of(10) {
            return Err(LabError(format!(
                "advert interval {ms} ms: a multiple of 10 ms (VRRPv3 centiseconds)"
            )));
        }
        let lab = Lab::new(&opts.tag);
        let nodes = topology::build(&lab);
        let files = Router::BOTH.map(|r| Files::new(lab.dir(), r));
        for r in Router::BOTH {
            configs::write_all(
                r,
                &files[r as usize],
                &opts.bins.ctsyncd,
                opts.advert,
                opts.vmac,
                LeaseTimers::default(),
                HaTimers::default(),
            )
            .map_err(|e| LabError(format!("write {}'s configuration: {e}", r.name())))?;
        }
        let epoch = Instant::now();
        let epoch_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut me = Self {
            client_stop: Arc::default(),
            dhcp_thread: None,
            probes: None,
            echo: None,
            monitor: None,
            daemons: BTreeMap::new(),
            opts: opts.clone(),
            files,
            epoch,
            epoch_unix,
            watch: Arc::default(),
            dhcp_log: Arc::default(),
            dhcp_ha: false,
            notes: Vec::new(),
            nodes,
            lab,
        };
        me.echo = Some(EchoServer::start(&me.nodes.server)?);
        for r in Router::BOTH {
            me.start(r, Daemon::Ctsyncd)?;
        }
        me.start(Router::R1, Daemon::Dhcp4d)?;
        let log = me.daemons[&(Router::R1, Daemon::Dhcp4d)].log();
        me.dhcp_ha = !log.contains("standalone server (no HA)");
        if me.dhcp_ha {
            me.start(Router::R2, Daemon::Dhcp4d)?;
        } else {
            me.notes.push(
                "dhcp4d runs libdhcp_ha.so as a standalone server (no Kea HA yet): r2's dhcp4d \
                 starts when r2 becomes Master and serves the same pool from its own lease \
                 file; the client's rebind is answered from there"
                    .into(),
            );
        }
        me.monitor = Some(Monitor::start(
            me.files.clone(),
            me.dhcp_ha,
            epoch,
            me.watch.clone(),
        ));
        for r in Router::BOTH {
            me.start(r, Daemon::Vrrpd)?;
        }
        me.wait(
            ELECT,
            "r1 Master and r2 Backup of both VRRP instances",
            |me| Ok(me.all_in(Router::R1, "MASTER") && me.all_in(Router::R2, "BACKUP")),
        )?;
        if me.dhcp_ha {
            let ready = me.wait(HA_READY, "the Kea HA pair in hot-standby", |me| {
                let w = lock(&me.watch);
                Ok(Router::BOTH
                    .iter()
                    .all(|r| w.ha.get(r).is_some_and(|s| s == "hot-standby")))
            });
            if let Err(e) = ready {
                let states = format!("{:?}", lock(&me.watch).ha);
                me.notes.push(format!("{e} (HA states {states}); going on"));
            }
        }
        Ok(me)
    }

    /// The lab's namespaces (for `ip netns exec`) and scratch directory.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The nodes.
    pub fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    /// Commands to look inside a running lab.
    pub fn inspect_commands(&self) -> Vec<String> {
        let vrrpctl = self.opts.bins.vrrpd.with_file_name("vrrpctl");
        topology::inspect_commands(&self.nodes, &self.lab, &vrrpctl)
    }

    /// Whether dhcp4d runs Kea HA (otherwise r2's dhcp4d starts on failover).
    pub fn dhcp_ha(&self) -> bool {
        self.dhcp_ha
    }

    fn event(&self, node: &str, what: impl Into<String>) {
        let at = self.epoch.elapsed();
        lock(&self.watch)
            .events
            .push(RawEvent::new(at, node, what.into()));
    }

    fn all_in(&self, r: Router, state: &str) -> bool {
        let w = lock(&self.watch);
        [LAN_INSTANCE, UP_INSTANCE].iter().all(|i| {
            w.vrrp
                .get(&(r, (*i).to_owned()))
                .is_some_and(|s| s == state)
        })
    }

    /// Polls `cond` every 5 ms until it holds; an error after `timeout`, on Ctrl-C, or when
    /// `cond` fails.
    fn wait(
        &mut self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&mut Self) -> LabResult<bool>,
    ) -> LabResult<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.opts.stop.load(Ordering::Relaxed) {
                return Err(LabError(format!("interrupted while waiting for {what}")));
            }
            if cond(self)? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError(format!(
                    "timed out after {timeout:?} waiting for {what}"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Fails if a daemon the lab started has exited.
    fn check_running(&mut self, r: Router, d: Daemon) -> LabResult<()> {
        if let Some(p) = self.daemons.get_mut(&(r, d))
            && !p.is_running()
        {
            let log = p.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(LabError(format!(
                "{d:?} on {} exited:\n{}",
                r.name(),
                tail.join("\n")
            )));
        }
        Ok(())
    }

    /// Starts daemon `d` on router `r` and waits until it answers.
    fn start(&mut self, r: Router, d: Daemon) -> LabResult<()> {
        let f = self.files[r as usize].clone();
        let node = self.nodes.router(r).clone();
        let bins = self.opts.bins.clone();
        let s = |p: &Path| p.display().to_string();
        let proc = match d {
            Daemon::Ctsyncd => {
                let _ = std::fs::remove_file(&f.ctsyncd_lock);
                node.spawn(&[&s(&bins.ctsyncd), "-C", &s(&f.conntrackd_conf)])
            }
            Daemon::Dhcp4d => {
                let _ = std::fs::remove_file(&f.kea_sock);
                node.spawn(&[&s(&bins.dhcp4d), "-c", &s(&f.kea_conf)])
            }
            Daemon::Vrrpd => {
                let _ = std::fs::remove_file(&f.vrrpd_sock);
                node.spawn(&[
                    &s(&bins.vrrpd),
                    "-f",
                    &s(&f.keepalived_conf),
                    "--control",
                    &s(&f.vrrpd_sock),
                ])
            }
        };
        self.daemons.insert((r, d), proc);
        let what = format!("{d:?} on {} to answer", r.name());
        self.wait(START, &what, |me| {
            me.check_running(r, d)?;
            Ok(match d {
                Daemon::Ctsyncd => node
                    .output(&[&s(&bins.ctsyncd), "-C", &s(&f.conntrackd_conf), "-s"])
                    .status
                    .success(),
                Daemon::Dhcp4d => {
                    UnixStream::connect(&f.kea_sock).is_ok()
                        || me.daemons[&(r, d)].log().contains("DHCP4_STARTED")
                }
                Daemon::Vrrpd => control::call(&f.vrrpd_sock, &Request::Status).is_ok(),
            })
        })?;
        self.event(r.name(), format!("{} started", daemon_name(d)));
        Ok(())
    }

    /// Cuts (or restores) every link of `r`.
    fn set_links(&self, r: Router, up: bool) {
        let n = self.nodes.router(r);
        for i in [LAN_IF, UP_IF, SYNC_IF] {
            self.lab.set_port_up(n, i, up);
        }
    }

    fn signal_all(&mut self, r: Router, sig: libc::c_int) -> LabResult<()> {
        for d in [Daemon::Vrrpd, Daemon::Dhcp4d, Daemon::Ctsyncd] {
            if let Some(p) = self.daemons.get_mut(&(r, d))
                && p.is_running()
            {
                p.signal(sig);
            }
        }
        for d in [Daemon::Vrrpd, Daemon::Dhcp4d, Daemon::Ctsyncd] {
            if let Some(mut p) = self.daemons.remove(&(r, d)) {
                let what = format!("{} on {} to exit", daemon_name(d), r.name());
                let deadline = Instant::now() + START;
                while p.is_running() {
                    if Instant::now() >= deadline {
                        return Err(LabError(format!("timed out waiting for {what}")));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        Ok(())
    }

    /// r1 as after a reboot: VMACs, VIPs and conntrack table gone, links back, daemons
    /// started (ctsyncd, dhcp4d, vrrpd).
    fn r1_returns(&mut self) -> LabResult<()> {
        let n = self.nodes.r1.clone();
        for vmac in [topology::LAN_VRID, UP_VRID] {
            let _ = n.output(&["ip", "link", "del", &format!("vrrp.{vmac}")]);
        }
        for (vip, i) in [(topology::LAN_VIP, LAN_IF), (topology::UP_VIP, UP_IF)] {
            let _ = n.output(&["ip", "addr", "del", &format!("{vip}/32"), "dev", i]);
        }
        let _ = n.output(&["conntrack", "-F"]);
        self.set_links(Router::R1, true);
        for i in [LAN_IF, UP_IF, SYNC_IF] {
            n.wait_oper_up(i);
        }
        self.event("r1", "r1 back (as rebooted): links restored");
        // As keepalived + conntrackd users do, r1 waits before preempting: its ctsyncd must
        // first receive r2's state (the resync its notify_backup asks for, which waits for the
        // FTFW handshake), or its commit on becoming Master would be empty and the client's
        // flows would die on r1.
        let conf = &self.files[0].keepalived_conf;
        let text = std::fs::read_to_string(conf)
            .map_err(|e| LabError(format!("{}: {e}", conf.display())))?
            .replace(
                "    state BACKUP\n",
                "    state BACKUP\n    preempt_delay 3\n",
            );
        std::fs::write(conf, text).map_err(|e| LabError(format!("{}: {e}", conf.display())))?;
        self.start(Router::R1, Daemon::Ctsyncd)?;
        self.start(Router::R1, Daemon::Dhcp4d)?;
        self.start(Router::R1, Daemon::Vrrpd)?;
        Ok(())
    }

    /// Runs the client and the scenario, and returns the report. The daemons keep running
    /// afterwards (until the lab is dropped); the client's probes stop.
    pub fn run_scenario(&mut self) -> LabResult<Report> {
        let stop = self.opts.stop.clone();
        // 1. DHCP.
        let mut dhcp = DhcpClient::new(&self.nodes.client, self.epoch)?;
        let first = dhcp.acquire(Duration::from_secs(20), &stop)?;
        let lease = first
            .lease
            .clone()
            .ok_or_else(|| LabError("no lease".into()))?;
        let bound = self.epoch + first.answered.unwrap_or_default();
        lock(&self.dhcp_log).exchanges.push(first);
        self.dhcp_thread = Some(dhcp.spawn_renewals(
            lease.clone(),
            bound,
            self.dhcp_log.clone(),
            self.client_stop.clone(),
        ));
        // 2. The probes through both VIPs.
        self.probes = Some(Probes::start(&self.nodes.client, self.epoch)?);
        let plog = self
            .probes
            .as_ref()
            .map(|p| p.log.clone())
            .unwrap_or_default();
        self.wait(
            Duration::from_secs(5),
            "the first TCP and UDP echoes",
            |_| {
                let l = lock(&plog);
                Ok(!l.udp_echoes.is_empty() && !l.tcp_echoes.is_empty())
            },
        )?;
        self.event("client", "TCP connection and UDP stream to the server echo");
        // 3. r2's external cache holds the client's flows (the sync works).
        let r2conf = self.files[1].conntrackd_conf.display().to_string();
        let ctsyncd = self.opts.bins.ctsyncd.display().to_string();
        let r2 = self.nodes.r2.clone();
        let needle = format!("src={} dst={SERVER}", lease.address);
        let port = format!("dport={TCP_PORT}");
        self.wait(
            Duration::from_secs(10),
            "r2's external cache to hold the client's TCP flow",
            |_| {
                let out = r2.output(&[&ctsyncd, "-C", &r2conf, "-e"]);
                let text = String::from_utf8_lossy(&out.stdout);
                Ok(text
                    .lines()
                    .any(|l| l.contains(&needle) && l.contains(&port)))
            },
        )?;
        self.event(
            "r2",
            "ctsyncd: the client's flows are in r2's external cache",
        );
        // 4. The event falls one second before the client's next T1.
        let t1 = Duration::from_secs(lease.renewal_time.into());
        let dlog = self.dhcp_log.clone();
        let epoch = self.epoch;
        let mut at = None;
        self.wait(Duration::from_secs(30), "a renewal time to aim at", |_| {
            let l = lock(&dlog);
            let last = l.exchanges.iter().rev().find_map(|x| x.answered);
            if let Some(last) = last {
                let t = epoch + last + t1 - Duration::from_secs(1);
                if t > Instant::now() + Duration::from_millis(200) {
                    at = Some(t);
                    return Ok(true);
                }
            }
            Ok(false)
        })?;
        let at = at.unwrap_or_else(Instant::now);
        self.wait(Duration::from_secs(10), "the moment of the event", |_| {
            Ok(Instant::now() >= at)
        })?;
        // 5. The event.
        // The event's time is when r1's LAN cable goes (or the first signal): nothing sent
        // by the client after it can pass through r1.
        let scenario = self.opts.scenario;
        let t0 = match scenario {
            Scenario::Kill | Scenario::Preempt | Scenario::Link => {
                self.lab.set_port_up(&self.nodes.r1, LAN_IF, false);
                let t0 = self.epoch.elapsed();
                self.lab.set_port_up(&self.nodes.r1, UP_IF, false);
                self.lab.set_port_up(&self.nodes.r1, SYNC_IF, false);
                if scenario != Scenario::Link {
                    self.signal_all(Router::R1, libc::SIGKILL)?;
                }
                t0
            }
            Scenario::Stop => {
                let t0 = self.epoch.elapsed();
                self.signal_all(Router::R1, libc::SIGTERM)?;
                t0
            }
        };
        lock(&self.watch).events.push(RawEvent::new(
            t0,
            "r1",
            format!("EVENT: {}", scenario.describe()),
        ));
        // 6. r2 takes over.
        self.wait(
            Duration::from_secs(10),
            "r2 Master of both instances",
            |me| Ok(me.all_in(Router::R2, "MASTER")),
        )?;
        if !self.dhcp_ha {
            self.start(Router::R2, Daemon::Dhcp4d)?;
            self.event("r2", "dhcp4d started on r2 (fallback without Kea HA)");
        }
        // 7. Everything recovers (or the time is up; the report says what did not).
        let (plog, dlog) = (plog.clone(), self.dhcp_log.clone());
        let r2_sid = Router::R2.lan();
        let notify = self.files[1].notify_log.clone();
        let recovered = self.wait(RECOVER, "the client's traffic and DHCP via r2", |me| {
            let l = lock(&plog);
            let udp = l.udp_echoes.iter().any(|(s, _)| *s >= t0);
            let first_after = l.tcp_sent.iter().position(|s| *s >= t0);
            let tcp = first_after.is_some_and(|n| l.tcp_echoes.iter().any(|(c, _)| *c >= n as u64))
                || l.tcp_error.is_some();
            drop(l);
            let d = lock(&dlog);
            let dhcp = d
                .exchanges
                .iter()
                .any(|x| x.server_id == Some(r2_sid) && x.answered.is_some_and(|a| a >= t0))
                || d.error.is_some();
            drop(d);
            let commit =
                std::fs::read_to_string(&notify).is_ok_and(|t| t.contains("primary commit-done"));
            let _ = me;
            Ok(udp && tcp && dhcp && commit)
        });
        if let Err(e) = recovered {
            if stop.load(Ordering::Relaxed) {
                return Err(e);
            }
            self.notes.push(e.0);
        }
        // 8. r1 returns and preempts.
        if scenario == Scenario::Preempt {
            self.r1_returns()?;
            self.wait(
                Duration::from_secs(15),
                "r1 Master again, r2 Backup",
                |me| Ok(me.all_in(Router::R1, "MASTER") && me.all_in(Router::R2, "BACKUP")),
            )?;
            if !self.dhcp_ha
                && let Some(mut p) = self.daemons.remove(&(Router::R2, Daemon::Dhcp4d))
            {
                p.terminate(START);
                self.event("r2", "dhcp4d stopped on r2 (fallback without Kea HA)");
            }
            let notify1 = self.files[0].notify_log.clone();
            let _ = self.wait(Duration::from_secs(10), "r1's conntrack commit", |_| {
                Ok(std::fs::read_to_string(&notify1)
                    .is_ok_and(|t| t.matches("primary commit-done").count() >= 2))
            });
            let (plog, after) = (plog.clone(), self.epoch.elapsed());
            let _ = self.wait(Duration::from_secs(10), "TCP echoes via r1", |_| {
                let l = lock(&plog);
                let n = l.tcp_sent.iter().position(|s| *s >= after);
                Ok(n.is_some_and(|n| l.tcp_echoes.iter().any(|(c, _)| *c >= n as u64)))
            });
        }
        let until = Instant::now() + TAIL;
        self.wait(TAIL + Duration::from_secs(1), "the tail", |_| {
            Ok(Instant::now() >= until)
        })?;
        // 9. Collect.
        let end = self.epoch.elapsed();
        if let Some(mut p) = self.probes.take() {
            p.stop();
        }
        self.client_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.dhcp_thread.take() {
            let _ = t.join();
        }
        let mut events = std::mem::take(&mut lock(&self.watch).events);
        for r in Router::BOTH {
            let text =
                std::fs::read_to_string(&self.files[r as usize].notify_log).unwrap_or_default();
            events.extend(timeline::notify_events(&text, self.epoch_unix, r.name()));
        }
        let commit_lines = std::fs::read_to_string(&self.files[1].ctsyncd_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Committed") || l.contains("commit has taken"))
            .map(str::to_owned)
            .collect();
        let probes = std::mem::take(&mut *lock(&plog));
        let dhcp = std::mem::take(&mut *lock(&self.dhcp_log));
        Ok(timeline::report(RunData {
            scenario,
            advert: self.opts.advert,
            vmac: self.opts.vmac,
            dhcp_ha: self.dhcp_ha,
            t0,
            end,
            events,
            probes,
            dhcp,
            commit_lines,
            notes: self.notes.clone(),
        }))
    }
}

fn daemon_name(d: Daemon) -> &'static str {
    match d {
        Daemon::Ctsyncd => "ctsyncd",
        Daemon::Dhcp4d => "dhcp4d",
        Daemon::Vrrpd => "vrrpd",
    }
}
