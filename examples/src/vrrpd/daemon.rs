//! The event loop: sockets, timers, signals and the control socket in; adverts, addresses,
//! gratuitous ARPs, notify scripts and log lines out. Every protocol decision is vrrp-fsm's.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use socket2::Socket;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vmac::{AddrSpec, Announcer, GarpKind, MacAddr, NaSpec, Netlink, StaleSpec, VmacSpec};
use vrrp_fsm::keepalived::{Instance, Notify, Runnable, VrrpScript};
use vrrp_fsm::track::{self, ObjectStatus, ScriptCheck, Tracked};
use vrrp_fsm::{Command, Counters, Event, GroupEvent, State, SyncGroup, VirtualRouter};
use vrrp_proto::{IpChecks, VirtualAddrs};

use super::control::Request;
use super::firewall::{AcceptFilter, Dropped};
use super::load;
use super::net::{self, Packet};
use super::scripts::ScriptPolicy;
use super::sys;

/// How the daemon was started.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// keepalived.conf.
    pub file: PathBuf,
    /// `-i ID`.
    pub config_id: Option<String>,
    /// Control socket path.
    pub control: PathBuf,
    /// How a Master with a VMAC announces its VIPs (`--vmac-garp`).
    pub vmac_garp: VmacGarp,
    /// `--rt-priority N` (0: off), over `vrrp_rt_priority` of the file.
    pub rt_priority: Option<u8>,
}

/// How a new Master with a VMAC makes the LAN's bridges learn the VMAC on its port.
///
/// The hazard (shared/reference/vrrp.md): a gratuitous ARP *request* is answered by any host
/// that still holds the VIP, and an old Master answers from the same VMAC, so a bridge learns
/// the VMAC on the old Master's port until the new Master's next frame. A *reply* asks
/// nothing; an advert sent right after the burst re-teaches the bridge at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmacGarp {
    /// The ARP form of the gratuitous ARPs sent from a VMAC.
    pub kind: GarpKind,
    /// Send the last advert again right after the burst.
    pub advert_after: bool,
}

impl VmacGarp {
    /// The default: keepalived's requests, then the advert again (what measured best; see
    /// the README).
    pub const DEFAULT: Self = Self {
        kind: GarpKind::Request,
        advert_after: true,
    };

    /// Parses `request`, `reply`, `request+advert` or `reply+advert`.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, advert_after) = match s.strip_suffix("+advert") {
            Some(k) => (k, true),
            None => (s, false),
        };
        let kind = match kind {
            "request" => GarpKind::Request,
            "reply" => GarpKind::Reply,
            _ => return None,
        };
        Some(Self { kind, advert_after })
    }
}

/// Logs one line on stderr.
macro_rules! log {
    ($($t:tt)*) => { eprintln!("vrrpd: {}", format_args!($($t)*)) };
}

/// An input for the loop.
#[derive(Debug)]
enum Input {
    /// A datagram for (unit, member), received at `at`.
    Rx {
        unit: u64,
        member: usize,
        at: Instant,
        packet: Packet,
    },
    /// A control request and where to answer.
    Control(Request, oneshot::Sender<Value>),
    /// A link changed: its index and whether it is running (up with carrier).
    Link { ifindex: u32, running: bool },
    /// Link notifications were lost (ENOBUFS): re-read every tracked link.
    LinkResync,
    /// A `vrrp_script` run finished: `Ok` or why it failed.
    Script {
        name: String,
        outcome: Result<(), String>,
    },
}

/// One state machine: a lone instance or a sync group.
#[derive(Debug)]
enum Machine {
    One(Box<VirtualRouter>),
    Group(SyncGroup),
}

impl Machine {
    fn member(&self, i: usize) -> Option<&VirtualRouter> {
        match self {
            Self::One(vr) => (i == 0).then_some(&**vr),
            Self::Group(g) => g.member(i),
        }
    }
    fn handle_packet(&mut self, now: Instant, member: usize, rx: &vrrp_proto::Received) {
        match self {
            Self::One(vr) => vr.handle_received(now, rx),
            Self::Group(g) => {
                g.handle_packet(now, member, &vrrp_fsm::RxMeta::from(rx), &rx.advert);
            }
        }
    }
    fn record_malformed(&mut self, member: usize, err: &vrrp_proto::DecodeError) {
        match self {
            Self::One(vr) => vr.record_malformed(err),
            Self::Group(g) => g.record_malformed(member, err),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::One(vr) => vr.handle_timeout(now),
            Self::Group(g) => g.handle_timeout(now),
        }
    }
    fn handle_command(&mut self, now: Instant, member: usize, cmd: Command) {
        match self {
            Self::One(vr) => vr.handle_command(now, cmd),
            Self::Group(g) => g.handle_command(now, member, cmd),
        }
    }
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<(usize, vrrp_fsm::Transmit)> {
        match self {
            Self::One(vr) => vr.poll_transmit(buf).map(|t| (0, t)),
            Self::Group(g) => g.poll_transmit(buf),
        }
    }
    fn poll_event(&mut self) -> Option<GroupEvent> {
        match self {
            Self::One(vr) => vr
                .poll_event()
                .map(|event| GroupEvent::Member { member: 0, event }),
            Self::Group(g) => g.poll_event(),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::One(vr) => vr.poll_timeout(),
            Self::Group(g) => g.poll_timeout(),
        }
    }
}

/// One instance's I/O.
#[derive(Debug)]
struct Member {
    inst: Instance,
    tx: Socket,
    tx_ifindex: u32,
    /// The VMAC this run created.
    vmac: Option<vmac::Vmac>,
    /// What the instance tracks: its own interface (keepalived tracks it unless
    /// `dont_track_primary`), then `track_interface` and `track_script` of the instance and
    /// of its sync group.
    tracks: Vec<Track>,
    /// The priority tracking starts from: the configured one, or the one set with
    /// `vrrpctl priority`.
    base_priority: u8,
    /// Whether the router was put in FAULT by tracking.
    fault: bool,
    /// The last advert sent and its destination (sent again after a VMAC's GARP burst).
    last_advert: Option<(IpAddr, Vec<u8>)>,
}

/// One tracked object of an instance.
#[derive(Debug, Clone)]
struct Track {
    what: Tracking,
    weight: i32,
    reverse: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tracking {
    /// An interface (by index; 0 when it did not exist at start-up) and its name.
    Interface(u32, String),
    /// A `vrrp_script` by name.
    Script(String),
}

/// A running `vrrp_script`: its definition, its rise / fall count and the task running it.
#[derive(Debug)]
struct ScriptRun {
    def: VrrpScript,
    check: ScriptCheck,
    task: JoinHandle<()>,
}

/// Runs `vrrp_script` `def` every `interval` (keepalived counts the interval from one start
/// to the next) and reports each outcome; a run longer than `timeout` is killed and fails.
/// Under `enable_script_security` an insecure script is not run at all: it stays in its
/// initial state, which tracking counts as neither up nor down (keepalived disables it).
fn spawn_script(
    def: VrrpScript,
    input: mpsc::UnboundedSender<Input>,
    policy: Arc<ScriptPolicy>,
) -> JoinHandle<()> {
    if let Some(why) = policy.insecurity(&def.script) {
        if policy.security {
            log!("VRRP_Script({}) disabled: insecure ({why})", def.name);
            return tokio::spawn(async {});
        }
        if policy.ids.is_none() {
            log!(
                "VRRP_Script({}) runs as root although it is insecure ({why}): set \
                 enable_script_security to refuse such scripts",
                def.name
            );
        }
    }
    tokio::spawn(async move {
        let interval = def.interval.max(std::time::Duration::from_millis(10));
        let timeout = def.timeout.unwrap_or(interval);
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::time::sleep_until(next).await;
            next += interval;
            let outcome = run_script(&def.script, timeout, &policy).await;
            let msg = Input::Script {
                name: def.name.clone(),
                outcome,
            };
            if input.send(msg).is_err() {
                return;
            }
        }
    })
}

/// Runs one check script (through `sh -c`, so keepalived's quoted command lines work).
async fn run_script(
    cmd: &str,
    timeout: std::time::Duration,
    policy: &ScriptPolicy,
) -> Result<(), String> {
    let mut command = tokio::process::Command::new("sh");
    policy.apply(&mut command);
    let mut child = command
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) if st.success() => Ok(()),
        Ok(Ok(st)) => Err(match st.code() {
            Some(c) => format!("exited with status {c}"),
            None => "killed by a signal".to_owned(),
        }),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let _ = child.kill().await;
            Err("timed out".to_owned())
        }
    }
}

/// A running lone instance or sync group.
#[derive(Debug)]
struct Unit {
    id: u64,
    /// The group's name, for a sync group.
    group: Option<(String, Notify)>,
    members: Vec<Member>,
    machine: Machine,
    readers: Vec<JoinHandle<()>>,
}

/// What a unit is made of, to compare across reloads.
type UnitDef = (Option<vrrp_fsm::keepalived::Group>, Vec<Instance>);

fn unit_defs(r: &Runnable) -> Vec<(String, UnitDef)> {
    let mut out = Vec::new();
    for g in &r.groups {
        let members = g.members.iter().map(|&i| r.instances[i].clone()).collect();
        out.push((format!("group {}", g.name), (Some(g.clone()), members)));
    }
    for (i, inst) in r.instances.iter().enumerate() {
        if r.group_of(i).is_none() {
            out.push((inst.name.clone(), (None, vec![inst.clone()])));
        }
    }
    out
}

/// Listens to link notifications and forwards them as [`Input::Link`] (or
/// [`Input::LinkResync`] after an overrun).
fn watch_links(input: mpsc::UnboundedSender<Input>) -> io::Result<JoinHandle<()>> {
    let groups = vmac::Groups {
        link: true,
        ipv4_addr: false,
        ipv6_addr: false,
    };
    let events = vmac::EventSocket::open(groups).map_err(io::Error::other)?;
    events.set_non_blocking(true).map_err(io::Error::other)?;
    let mut afd = sys::register(events)?;
    Ok(tokio::spawn(async move {
        loop {
            let mut guard = match afd.readable_mut().await {
                Ok(g) => g,
                Err(e) => {
                    log!("link events: {e}");
                    return;
                }
            };
            match guard.get_inner_mut().try_recv() {
                Ok(batch) if batch.is_empty() => guard.clear_ready(),
                Ok(batch) => {
                    for e in batch {
                        let msg = match e {
                            vmac::Event::NewLink(l) => Input::Link {
                                ifindex: l.index,
                                running: l.is_running(),
                            },
                            vmac::Event::DelLink(l) => Input::Link {
                                ifindex: l.index,
                                running: false,
                            },
                            vmac::Event::Overrun => Input::LinkResync,
                            _ => continue,
                        };
                        if input.send(msg).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    log!("link events: {e}");
                    guard.clear_ready();
                }
            }
        }
    }))
}

/// What the daemon knows of the tracked objects.
struct Known<'a> {
    links: &'a HashMap<u32, bool>,
    scripts: &'a HashMap<String, ScriptRun>,
}

impl Known<'_> {
    fn status_of(&self, what: &Tracking) -> ObjectStatus {
        match what {
            Tracking::Interface(index, _) => match self.links.get(index) {
                Some(true) => ObjectStatus::Up,
                _ => ObjectStatus::Down,
            },
            Tracking::Script(name) => self
                .scripts
                .get(name)
                .map_or(ObjectStatus::Init, |r| r.check.status()),
        }
    }
}

/// Recomputes member `i`'s priority and FAULT from what it tracks and tells its router what
/// changed. Returns whether anything did.
fn reevaluate(known: &Known<'_>, unit: &mut Unit, i: usize, now: Instant) -> bool {
    let m = &unit.members[i];
    let objects = m.tracks.iter().map(|t| Tracked {
        weight: t.weight,
        reverse: t.reverse,
        status: known.status_of(&t.what),
    });
    let verdict = track::evaluate(m.base_priority, objects);
    let mut changed = false;
    let current = unit
        .machine
        .member(i)
        .map_or(verdict.priority, VirtualRouter::tracked_priority);
    if current != verdict.priority {
        log!(
            "({}) Changing effective priority from {current} to {}",
            m.inst.name,
            verdict.priority
        );
        unit.machine
            .handle_command(now, i, Command::SetPriority(verdict.priority));
        changed = true;
    }
    if verdict.fault != m.fault {
        if verdict.fault {
            let down: Vec<String> = m
                .tracks
                .iter()
                .filter(|t| t.weight == 0 && known.status_of(&t.what) == ObjectStatus::Down)
                .map(|t| match &t.what {
                    Tracking::Interface(_, n) => format!("interface {n}"),
                    Tracking::Script(n) => format!("script {n}"),
                })
                .collect();
            log!("({}) tracked {} down: FAULT", m.inst.name, down.join(", "));
        } else {
            log!("({}) every tracked object is up again", m.inst.name);
        }
        unit.members[i].fault = verdict.fault;
        let cmd = if verdict.fault {
            Command::FaultOn
        } else {
            Command::FaultOff
        };
        unit.machine.handle_command(now, i, cmd);
        changed = true;
    }
    changed
}

/// The daemon's state.
struct Daemon {
    opts: Options,
    nl: Netlink,
    units: Vec<(String, UnitDef, Unit)>,
    next_id: u64,
    input: mpsc::UnboundedSender<Input>,
    announcers: HashMap<u32, (Announcer, MacAddr)>,
    buf: Vec<u8>,
    /// Whether each tracked interface is running, by index.
    links: HashMap<u32, bool>,
    /// The `vrrp_script`s that running instances track, by name.
    scripts: HashMap<String, ScriptRun>,
    /// Accept_Mode off: the nftables drops for the virtual addresses of non-owners.
    accept_filter: AcceptFilter,
    /// Who runs the scripts (`script_user`, `enable_script_security`).
    script_policy: Arc<ScriptPolicy>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("units", &self.units.len())
            .finish()
    }
}

fn ifindex(nl: &mut Netlink, name: &str) -> io::Result<u32> {
    match nl.link_by_name(name) {
        Ok(Some(l)) => Ok(l.index),
        Ok(None) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface {name} not found"),
        )),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

fn state_word(s: State) -> &'static str {
    match s {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

/// Whether the configuration runs any script (checks or notify scripts).
fn has_scripts(r: &Runnable) -> bool {
    let notifies = |n: &Notify| {
        [&n.master, &n.backup, &n.fault, &n.stop, &n.any]
            .iter()
            .any(|c| c.is_some())
    };
    r.instances
        .iter()
        .any(|i| !i.track_script.is_empty() || notifies(&i.notify))
        || r.groups
            .iter()
            .any(|g| !g.track_script.is_empty() || notifies(&g.notify))
}

/// Runs keepalived's notify scripts for a transition to `state`, without waiting for them.
fn notify(n: &Notify, kind: &str, name: &str, state: State, priority: u8, policy: &ScriptPolicy) {
    let specific = match state {
        State::Master => &n.master,
        State::Backup => &n.backup,
        State::Fault => &n.fault,
        State::Initialize => &n.stop,
    };
    let mut cmds: Vec<String> = specific.iter().cloned().collect();
    if let Some(any) = &n.any {
        cmds.push(format!(
            "{any} {kind} {name} {} {priority}",
            state_word(state)
        ));
    }
    for cmd in cmds {
        if policy.security
            && let Some(why) = policy.insecurity(&cmd)
        {
            log!("({name}) notify script '{cmd}' not run: insecure ({why})");
            continue;
        }
        let mut command = tokio::process::Command::new("sh");
        policy.apply(&mut command);
        match command.arg("-c").arg(&cmd).spawn() {
            Ok(mut child) => {
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Err(e) => log!("({name}) cannot run notify script '{cmd}': {e}"),
        }
    }
}

/// Turns off IGMP membership reports for 224.0.0.0/24 in this network namespace.
///
/// Joining 224.0.0.18 on a VMAC sends a report *from the VMAC*: a Backup starting up would teach
/// the bridges that the shared VMAC lives on its port while the Master still serves it (a black
/// hole until the Master's next advert, measured with `failover_bench --scenarios preempt`).
/// Reports for link-local groups serve no purpose: switches flood 224.0.0.0/24 (RFC 4541).
fn quiet_link_local_igmp(name: &str) {
    const KEY: &str = "/proc/sys/net/ipv4/igmp_link_local_mcast_reports";
    match std::fs::read_to_string(KEY) {
        Ok(v) if v.trim() == "0" => {}
        Ok(_) => match std::fs::write(KEY, "0") {
            Ok(()) => log!(
                "({name}) VMAC: net.ipv4.igmp_link_local_mcast_reports set to 0, so joining \
                 224.0.0.18 does not announce the VMAC from a Backup"
            ),
            Err(e) => log!("({name}) cannot write {KEY}: {e}"),
        },
        Err(e) => log!("({name}) cannot read {KEY}: {e}"),
    }
}

fn vip_list(v: &VirtualAddrs) -> String {
    v.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Daemon {
    /// Removes the VMACs and VIPs a crashed run may have left (start-up only).
    fn cleanup_stale(&mut self, r: &Runnable) {
        let mut spec = StaleSpec::default();
        for inst in &r.instances {
            if let Some(v) = &inst.vmac {
                spec.names.push(v.name.clone());
                if let Ok(i) = ifindex(&mut self.nl, &inst.interface) {
                    spec.parents.push(i);
                }
            }
            if !inst.config.is_owner() {
                spec.vips.extend(inst.vips.iter().map(|v| v.addr));
                spec.vips.extend(inst.excluded.iter().map(|v| v.addr));
            }
        }
        if spec.names.is_empty() && spec.vips.is_empty() {
            return;
        }
        match self.nl.cleanup_stale(&spec) {
            Ok(c) => {
                for l in &c.links {
                    log!("removed stale VMAC {}", l.name);
                }
                for a in &c.addresses {
                    log!("removed stale address {}/{}", a.addr, a.prefix_len);
                }
            }
            Err(e) => log!("stale cleanup failed: {e}"),
        }
    }

    fn start_member(
        &mut self,
        id: u64,
        idx: usize,
        inst: &Instance,
        group: Option<&vrrp_fsm::keepalived::Group>,
    ) -> io::Result<(Member, JoinHandle<()>)> {
        let parent = ifindex(&mut self.nl, &inst.interface)?;
        let tracks = self.tracks(inst, parent, group);
        let v6 = inst.config.src_addr.is_ipv6();
        let mut vm = None;
        if let Some(plan) = &inst.vmac {
            let fam = if v6 {
                vmac::Family::V6
            } else {
                vmac::Family::V4
            };
            if !v6 {
                quiet_link_local_igmp(&inst.name);
            }
            let spec = VmacSpec::new(inst.config.vrid, fam, parent).with_name(plan.name.clone());
            let created = self
                .nl
                .create_vmac(&spec)
                .map_err(|e| io::Error::other(e.to_string()))?;
            match vmac::sysctl::Sysctl::new().apply_vmac_recipe(&plan.name, &inst.interface, fam) {
                Ok(rep) => {
                    for w in &rep.warnings {
                        log!("({}) {w}", inst.name);
                    }
                }
                Err(e) => log!("({}) VMAC sysctls: {e}", inst.name),
            }
            self.nl
                .set_link_up(created.link.index, true)
                .map_err(|e| io::Error::other(e.to_string()))?;
            log!(
                "({}) created VMAC {} ({})",
                inst.name,
                plan.name,
                created.mac
            );
            vm = Some(created);
        }
        let tx_if = inst.xmit_interface().to_owned();
        let tx_ifindex = match &vm {
            Some(v) if tx_if == v.link.name => v.link.index,
            _ => ifindex(&mut self.nl, &tx_if)?,
        };
        let tx = net::open_tx(&tx_if, tx_ifindex, inst.config.src_addr)?;
        // Receive where we send. With a VMAC, the peers' adverts carry the shared VMAC as their
        // source MAC, and macvlan hands multicast whose source is one of its own private-mode
        // devices to that device only: on the parent they are never seen (keepalived also
        // receives on the VMAC unless `vmac_xmit_base`).
        let rx = net::open_rx(&tx_if, tx_ifindex, v6)?;
        let rx = sys::register(rx)?;
        let vrid = inst.config.vrid;
        let input = self.input.clone();
        let name = inst.name.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let mut guard = match rx.readable().await {
                    Ok(g) => g,
                    Err(e) => {
                        log!("({name}) receive socket: {e}");
                        return;
                    }
                };
                match guard.try_io(|s| net::recv(s.get_ref(), v6, &mut buf)) {
                    Ok(Ok(packet)) => {
                        if packet.vrid() == Some(vrid) {
                            let at = Instant::now();
                            let msg = Input::Rx {
                                unit: id,
                                member: idx,
                                at,
                                packet,
                            };
                            if input.send(msg).is_err() {
                                return;
                            }
                        }
                    }
                    Ok(Err(e)) => log!("({name}) receive: {e}"),
                    Err(_would_block) => {}
                }
            }
        });
        Ok((
            Member {
                inst: inst.clone(),
                tx,
                tx_ifindex,
                vmac: vm,
                tracks,
                base_priority: inst.config.priority,
                fault: false,
                last_advert: None,
            },
            reader,
        ))
    }

    fn start_unit(&mut self, key: &str, def: &UnitDef) -> Result<Unit, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut members = Vec::new();
        let mut readers = Vec::new();
        let now = Instant::now();
        let fail =
            |this: &mut Self, members: Vec<Member>, readers: Vec<JoinHandle<()>>, e: String| {
                for r in readers {
                    r.abort();
                }
                for m in members {
                    if let Some(v) = m.vmac {
                        let _ = this.nl.delete_link(v.link.index);
                    }
                }
                Err(format!("{key}: {e}"))
            };
        for (i, inst) in def.1.iter().enumerate() {
            match self.start_member(id, i, inst, def.0.as_ref()) {
                Ok((m, r)) => {
                    members.push(m);
                    readers.push(r);
                }
                Err(e) => return fail(self, members, readers, format!("({}) {e}", inst.name)),
            }
        }
        let configs: Vec<_> = def.1.iter().map(|i| i.config.clone()).collect();
        let machine = match &def.0 {
            None => VirtualRouter::new(configs[0].clone(), now)
                .map(|vr| Machine::One(Box::new(vr)))
                .map_err(|e| e.to_string()),
            Some(_) => SyncGroup::new(configs, now)
                .map(Machine::Group)
                .map_err(|e| e.to_string()),
        };
        let machine = match machine {
            Ok(m) => m,
            Err(e) => return fail(self, members, readers, e),
        };
        let mut unit = Unit {
            id,
            group: def.0.as_ref().map(|g| (g.name.clone(), g.notify.clone())),
            members,
            machine,
            readers,
        };
        // A tracked interface that is already down, or a script that already failed, puts
        // the instance in FAULT (or lowers its priority) at once.
        let known = Known {
            links: &self.links,
            scripts: &self.scripts,
        };
        for i in 0..unit.members.len() {
            reevaluate(&known, &mut unit, i, now);
        }
        let Unit { members, .. } = &unit;
        for m in members {
            log!(
                "({}) started: VRID {} priority {} on {} from {}",
                m.inst.name,
                m.inst.config.vrid,
                m.inst.config.priority,
                m.inst.interface,
                m.inst.config.src_addr
            );
        }
        Ok(unit)
    }

    /// What `inst` tracks (see [`Member::tracks`]); starts the scripts not running yet and
    /// reads the state of the interfaces not known yet.
    fn tracks(
        &mut self,
        inst: &Instance,
        parent: u32,
        group: Option<&vrrp_fsm::keepalived::Group>,
    ) -> Vec<Track> {
        let mut out = vec![Track {
            what: Tracking::Interface(parent, inst.interface.clone()),
            weight: 0,
            reverse: false,
        }];
        let ifaces = inst
            .track_interface
            .iter()
            .chain(group.into_iter().flat_map(|g| &g.track_interface));
        for t in ifaces {
            let index = ifindex(&mut self.nl, &t.name).unwrap_or_else(|e| {
                log!(
                    "({}) tracked interface {}: {e}; counted as down",
                    inst.name,
                    t.name
                );
                0
            });
            out.push(Track {
                what: Tracking::Interface(index, t.name.clone()),
                weight: t.weight.unwrap_or(0),
                reverse: false,
            });
        }
        let scripts = inst
            .track_script
            .iter()
            .chain(group.into_iter().flat_map(|g| &g.track_script));
        for t in scripts {
            let name = t.script.name.clone();
            let fresh = self.scripts.get(&name).is_none_or(|r| r.def != t.script);
            if fresh {
                if let Some(old) = self.scripts.remove(&name) {
                    old.task.abort();
                }
                let def = t.script.clone();
                let check = ScriptCheck::new(def.rise, def.fall, def.init_fail);
                let task =
                    spawn_script(def.clone(), self.input.clone(), self.script_policy.clone());
                self.scripts
                    .insert(name.clone(), ScriptRun { def, check, task });
            }
            out.push(Track {
                what: Tracking::Script(name),
                weight: t.weight,
                reverse: t.script.reverse,
            });
        }
        for t in &out {
            if let Tracking::Interface(index, _) = t.what
                && index != 0
                && !self.links.contains_key(&index)
            {
                let running = self
                    .nl
                    .link_by_index(index)
                    .ok()
                    .flatten()
                    .is_some_and(|l| l.is_running());
                self.links.insert(index, running);
            }
        }
        out
    }

    /// Recomputes member `i`'s priority and FAULT from what it tracks and tells its router
    /// what changed. Returns whether anything did.
    fn reevaluate(&mut self, u: usize, i: usize, now: Instant) -> bool {
        let known = Known {
            links: &self.links,
            scripts: &self.scripts,
        };
        reevaluate(&known, &mut self.units[u].2, i, now)
    }

    /// Re-evaluates every member that tracks `what`.
    fn reevaluate_tracking(&mut self, pred: impl Fn(&Tracking) -> bool) {
        let now = Instant::now();
        for u in 0..self.units.len() {
            let mut changed = false;
            for i in 0..self.units[u].2.members.len() {
                if self.units[u].2.members[i]
                    .tracks
                    .iter()
                    .any(|t| pred(&t.what))
                {
                    changed |= self.reevaluate(u, i, now);
                }
            }
            if changed {
                self.drain(u);
            }
        }
    }

    /// A link changed: tracked interfaces going down cause FAULT or lower the priority.
    fn on_link(&mut self, ifindex: u32, running: bool) {
        let Some(prev) = self.links.get_mut(&ifindex) else {
            return;
        };
        if *prev == running {
            return;
        }
        *prev = running;
        let what = if running { "is up again" } else { "is down" };
        let names: Vec<String> = self
            .units
            .iter()
            .flat_map(|(_, _, u)| u.members.iter().flat_map(|m| &m.tracks))
            .filter_map(|t| match &t.what {
                Tracking::Interface(i, n) if *i == ifindex => Some(n.clone()),
                _ => None,
            })
            .collect();
        if let Some(n) = names.first() {
            log!("Kernel is reporting: interface {n} {what}");
        }
        self.reevaluate_tracking(|t| matches!(t, Tracking::Interface(i, _) if *i == ifindex));
    }

    /// Re-reads every tracked link after lost notifications.
    fn resync_links(&mut self) {
        let known: Vec<u32> = self.links.keys().copied().collect();
        for p in known {
            let running = self
                .nl
                .link_by_index(p)
                .ok()
                .flatten()
                .is_some_and(|l| l.is_running());
            self.on_link(p, running);
        }
    }

    /// A script run finished: count it, and act when the script's status changed.
    fn on_script(&mut self, name: &str, outcome: Result<(), String>) {
        let Some(run) = self.scripts.get_mut(name) else {
            return;
        };
        let Some(status) = run.check.record(outcome.is_ok()) else {
            return;
        };
        match (&outcome, status) {
            (_, ObjectStatus::Up) => log!("VRRP_Script({name}) succeeded"),
            (Err(why), _) => log!("VRRP_Script({name}) failed ({why})"),
            (Ok(()), _) => log!("VRRP_Script({name}) failed"),
        }
        self.reevaluate_tracking(|t| matches!(t, Tracking::Script(n) if n == name));
    }

    /// Stops the scripts no running instance tracks any more.
    fn prune_scripts(&mut self) {
        let used: std::collections::HashSet<&str> = self
            .units
            .iter()
            .flat_map(|(_, _, u)| u.members.iter().flat_map(|m| &m.tracks))
            .filter_map(|t| match &t.what {
                Tracking::Script(n) => Some(n.as_str()),
                Tracking::Interface(..) => None,
            })
            .collect();
        let unused: Vec<String> = self
            .scripts
            .keys()
            .filter(|n| !used.contains(n.as_str()))
            .cloned()
            .collect();
        for n in unused {
            if let Some(r) = self.scripts.remove(&n) {
                r.task.abort();
            }
        }
    }

    /// Sends the adverts and acts on the events of unit `u`.
    ///
    /// A new Master's VIPs are added before its first advert goes out (keepalived's order):
    /// the advert makes the old Master drop them at once, and the client must not fall into the
    /// gap between the two.
    ///
    /// Returns the reason of a rejected command, if one was.
    fn drain(&mut self, u: usize) -> Option<String> {
        let mut events = Vec::new();
        let mut rejected = None;
        while let Some(ev) = self.units[u].2.machine.poll_event() {
            if let GroupEvent::Member {
                event: Event::CommandRejected { reason, .. },
                ..
            } = &ev
            {
                rejected = Some(reason.to_string());
            }
            events.push(ev);
        }
        let (first, later): (Vec<_>, Vec<_>) = events.into_iter().partition(|ev| {
            matches!(
                ev,
                GroupEvent::StateChanged { .. }
                    | GroupEvent::Member {
                        event: Event::StateChanged { .. } | Event::VipsAdded { .. },
                        ..
                    }
            )
        });
        for ev in first {
            self.event(u, ev);
        }
        let mut buf = std::mem::take(&mut self.buf);
        let unit = &mut self.units[u].2;
        while let Some((m, t)) = unit.machine.poll_transmit(&mut buf) {
            let mem = &mut unit.members[m];
            if let Err(e) = net::send(&mem.tx, mem.tx_ifindex, t.dst, &buf[..t.len]) {
                log!("({}) send to {}: {e}", mem.inst.name, t.dst);
            }
            if mem.vmac.is_some() {
                let last = mem.last_advert.get_or_insert_with(|| (t.dst, Vec::new()));
                last.0 = t.dst;
                last.1.clear();
                last.1.extend_from_slice(&buf[..t.len]);
            }
        }
        self.buf = buf;
        for ev in later {
            self.event(u, ev);
        }
        rejected
    }

    fn event(&mut self, u: usize, ev: GroupEvent) {
        let (member, event) = match ev {
            GroupEvent::StateChanged { from, to } => {
                let unit = &self.units[u].2;
                if let Some((name, n)) = &unit.group {
                    log!("({name}) Sync group: {from} -> {to}");
                    notify(n, "GROUP", name, to, 0, &self.script_policy);
                }
                return;
            }
            GroupEvent::Member { member, event } => (member, event),
        };
        let unit = &self.units[u].2;
        let Some(m) = unit.members.get(member) else {
            return;
        };
        let name = m.inst.name.clone();
        let inst = m.inst.clone();
        let prio = unit
            .machine
            .member(member)
            .map_or(0, VirtualRouter::priority);
        match &event {
            Event::StateChanged {
                to, reason, peer, ..
            } => {
                let mut line = format!("({name}) Entering {} STATE ({reason}", state_word(*to));
                if let Some(p) = peer {
                    let role = match reason {
                        vrrp_fsm::Reason::MasterDown
                        | vrrp_fsm::Reason::PriorityZero
                        | vrrp_fsm::Reason::SyncGroup { .. } => "last master",
                        vrrp_fsm::Reason::Preempt => "preempted master",
                        vrrp_fsm::Reason::HigherPriority | vrrp_fsm::Reason::HigherAddress => {
                            "new master"
                        }
                        vrrp_fsm::Reason::Switchover => "displaced master",
                        _ => "peer",
                    };
                    line.push_str(&format!("; {role} {p}"));
                }
                line.push(')');
                if *to == State::Initialize {
                    line = format!("({name}) Stopped ({reason})");
                }
                log!("{line}");
                notify(
                    &inst.notify,
                    "INSTANCE",
                    &name,
                    *to,
                    prio,
                    &self.script_policy,
                );
            }
            Event::VipsAdded { vips, .. } => {
                log!("({name}) Adding VIPs {}", vip_list(vips));
                for v in inst.vips.iter().chain(&inst.excluded) {
                    let spec = AddrSpec {
                        label: v.label.clone(),
                        ..AddrSpec::new(v.addr, v.prefix)
                    };
                    let r = ifindex(&mut self.nl, &v.dev).and_then(|i| {
                        self.nl
                            .add_address(i, &spec)
                            .or_else(|e| if e.is_exists() { Ok(()) } else { Err(e) })
                            .map_err(|e| io::Error::other(e.to_string()))
                    });
                    if let Err(e) = r {
                        log!(
                            "({name}) cannot add {}/{} on {}: {e}",
                            v.addr,
                            v.prefix,
                            v.dev
                        );
                    }
                }
            }
            Event::VipsRemoved { vips } => {
                log!("({name}) Removing VIPs {}", vip_list(vips));
                for v in inst.vips.iter().chain(&inst.excluded) {
                    let r = ifindex(&mut self.nl, &v.dev).and_then(|i| {
                        self.nl
                            .del_address(i, v.addr, v.prefix)
                            .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
                            .map_err(|e| io::Error::other(e.to_string()))
                    });
                    if let Err(e) = r {
                        log!(
                            "({name}) cannot remove {}/{} from {}: {e}",
                            v.addr,
                            v.prefix,
                            v.dev
                        );
                    }
                }
            }
            Event::Announce { repeat, .. } => {
                log!("({name}) {event}");
                // The event lists the advertised VIPs; the excluded ones are announced too.
                let vmac = m.vmac.as_ref().map(|v| v.link.name.clone());
                let mode = self.opts.vmac_garp;
                for v in inst.vips.iter().chain(&inst.excluded) {
                    let kind = if vmac.as_deref() == Some(v.dev.as_str()) {
                        mode.kind
                    } else {
                        GarpKind::Request
                    };
                    if let Err(e) = self.announce(&v.dev, v.addr, *repeat, kind) {
                        log!("({name}) announce {} on {}: {e}", v.addr, v.dev);
                    }
                }
                if vmac.is_some() && mode.advert_after {
                    let m = &self.units[u].2.members[member];
                    if let Some((dst, bytes)) = &m.last_advert
                        && let Err(e) = net::send(&m.tx, m.tx_ifindex, *dst, bytes)
                    {
                        log!("({name}) send to {dst}: {e}");
                    }
                }
            }
            _ => log!("({name}) {event}"),
        }
    }

    /// Gratuitous ARP / unsolicited NA for `addr`, `repeat` times, from `dev`'s MAC.
    fn announce(&mut self, dev: &str, addr: IpAddr, repeat: u32, kind: GarpKind) -> io::Result<()> {
        let idx = ifindex(&mut self.nl, dev)?;
        if !self.announcers.contains_key(&idx) {
            let mac = self
                .nl
                .link(idx)
                .ok()
                .and_then(|l| l.mac)
                .ok_or_else(|| io::Error::other(format!("{dev} has no MAC")))?;
            let a = Announcer::open(idx).map_err(|e| io::Error::other(e.to_string()))?;
            self.announcers.insert(idx, (a, mac));
        }
        let (a, mac) = &self.announcers[&idx];
        for _ in 0..repeat {
            let r = match addr {
                IpAddr::V4(ip) => a.send_garp(kind, *mac, ip),
                IpAddr::V6(ip) => a.send_na(&NaSpec::new(*mac, ip).with_router(true)),
            };
            r.map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(())
    }

    /// Shuts unit `u` down: priority 0, VIPs removed, VMACs deleted, readers stopped.
    fn stop_unit(&mut self, u: usize) {
        let now = Instant::now();
        let n = self.units[u].2.members.len();
        let unit = &mut self.units[u].2;
        if matches!(unit.machine, Machine::Group(_)) {
            unit.machine.handle_command(now, 0, Command::Shutdown);
        } else {
            for m in 0..n {
                unit.machine.handle_command(now, m, Command::Shutdown);
            }
        }
        self.drain(u);
        let unit = &mut self.units[u].2;
        for r in unit.readers.drain(..) {
            r.abort();
        }
        let vmacs: Vec<_> = unit
            .members
            .iter_mut()
            .filter_map(|m| m.vmac.take())
            .collect();
        for v in vmacs {
            self.announcers.remove(&v.link.index);
            match self.nl.delete_link(v.link.index) {
                Ok(()) => log!("deleted VMAC {}", v.link.name),
                Err(e) => log!("cannot delete VMAC {}: {e}", v.link.name),
            }
        }
    }

    /// Installs (or removes) the nftables drops for the virtual addresses of the running
    /// instances with Accept_Mode off that do not own them (see [`super::firewall`]).
    fn sync_accept_filter(&mut self) {
        let mut want = Dropped::default();
        let mut names = Vec::new();
        for (_, _, unit) in &self.units {
            for m in &unit.members {
                let c = &m.inst.config;
                if c.accept_mode || c.is_owner() {
                    continue;
                }
                names.push(m.inst.name.clone());
                for v in m.inst.vips.iter().chain(&m.inst.excluded) {
                    want.insert(v.addr);
                }
            }
        }
        let n = want.len();
        match self.accept_filter.apply(want) {
            Ok(true) if n > 0 => log!(
                "({}) accept mode off: traffic to {n} virtual address(es) dropped (nftables table inet {})",
                names.join(", "),
                super::firewall::TABLE
            ),
            Ok(true) => log!(
                "accept mode off nowhere: nftables table inet {} removed",
                super::firewall::TABLE
            ),
            Ok(false) => {}
            Err(e) => log!(
                "({}) accept mode off: cannot install the nftables drops: {e}",
                names.join(", ")
            ),
        }
    }

    fn find(&self, name: &str) -> Option<(usize, usize)> {
        self.units.iter().enumerate().find_map(|(u, (_, _, unit))| {
            unit.members
                .iter()
                .position(|m| m.inst.name == name)
                .map(|m| (u, m))
        })
    }

    fn status(&self) -> Value {
        let mut list = Vec::new();
        for (_, _, unit) in &self.units {
            for (i, m) in unit.members.iter().enumerate() {
                let Some(vr) = unit.machine.member(i) else {
                    continue;
                };
                let c = &m.inst.config;
                let master = match vr.state() {
                    State::Master => {
                        json!({"address": c.src_addr, "priority": vr.priority(), "self": true})
                    }
                    _ => vr.master().map_or(
                        Value::Null,
                        |p| json!({"address": p.addr, "priority": p.priority, "self": false}),
                    ),
                };
                list.push(json!({
                    "name": m.inst.name,
                    "group": unit.group.as_ref().map(|g| g.0.clone()),
                    "vrid": c.vrid,
                    "interface": m.inst.interface,
                    "source": c.src_addr,
                    "state": state_word(vr.state()),
                    "priority": vr.priority(),
                    "configured_priority": c.priority,
                    "tracked_priority": vr.tracked_priority(),
                    "master": master,
                    "vips": c.vips.iter().collect::<Vec<_>>(),
                    "advert_interval_ms": c.advert_interval.as_secs_f64() * 1e3,
                    "master_adver_interval_ms": vr.master_adver_interval().as_secs_f64() * 1e3,
                    "master_down_interval_ms": vr.master_down_interval().as_secs_f64() * 1e3,
                    "switchover": vr.switchover_active(),
                    "stepped_down": vr.stepped_down(),
                    "counters": counters(vr.counters()),
                }));
            }
        }
        json!({"ok": true, "instances": list})
    }

    fn control(&mut self, req: Request) -> Value {
        let (name, cmd) = match req {
            Request::Status => return self.status(),
            Request::Switchover { instance } => (instance, Command::Switchover),
            Request::StepDown { instance } => (instance, Command::StepDown),
            Request::Priority { instance, priority } => {
                if priority == 0 {
                    return json!({"ok": false, "error": "priority must be 1..=255"});
                }
                (instance, Command::SetPriority(priority))
            }
            Request::Resume { instance } => (instance, Command::ResumeElection),
        };
        let Some((u, m)) = self.find(&name) else {
            return json!({"ok": false, "error": format!("no instance {name}")});
        };
        log!("({name}) control: {cmd:?}");
        if let Command::SetPriority(p) = cmd {
            // The new base for tracking: the weights keep applying on top of it.
            self.units[u].2.members[m].base_priority = p;
            self.reevaluate(u, m, Instant::now());
        } else {
            self.units[u]
                .2
                .machine
                .handle_command(Instant::now(), m, cmd);
        }
        // Report a rejection in the response as well as in the log.
        let rejected = self.drain(u);
        match rejected {
            Some(r) => json!({"ok": false, "error": r}),
            None => json!({"ok": true}),
        }
    }

    fn load(&mut self) -> Result<Runnable, String> {
        let nl = &mut self.nl;
        let loaded = load::load(&self.opts.file, self.opts.config_id.clone(), &mut |i, f| {
            load::primary_addr(nl, i, f)
        })?;
        for w in &loaded.warnings {
            log!("{w}");
        }
        let r = loaded.runnable;
        // Notify scripts and scripts started from now on run under the new policy; check
        // scripts already running keep theirs until they are restarted.
        let scripted = has_scripts(&r);
        let policy =
            ScriptPolicy::new(r.script_user.as_ref(), r.enable_script_security, &mut |w| {
                if scripted {
                    log!("{w}");
                }
            })?;
        if *self.script_policy != policy {
            self.script_policy = Arc::new(policy);
        }
        Ok(r)
    }

    /// SIGHUP: unchanged units keep running; the others are stopped, restarted or started.
    fn reload(&mut self) {
        log!("reloading {}", self.opts.file.display());
        let r = match self.load() {
            Ok(r) => r,
            Err(e) => {
                log!("reload failed, keeping the running configuration: {e}");
                return;
            }
        };
        let defs = unit_defs(&r);
        let mut u = 0;
        while u < self.units.len() {
            let keep = defs
                .iter()
                .any(|(k, d)| *k == self.units[u].0 && *d == self.units[u].1);
            if keep {
                u += 1;
            } else {
                log!("stopping {}", self.units[u].0);
                self.stop_unit(u);
                self.units.remove(u);
            }
        }
        for (k, d) in defs {
            if self.units.iter().any(|(kk, _, _)| *kk == k) {
                continue;
            }
            match self.start_unit(&k, &d) {
                Ok(unit) => {
                    self.units.push((k, d, unit));
                    let n = self.units.len() - 1;
                    self.drain(n);
                }
                Err(e) => log!("cannot start {e}"),
            }
        }
        self.prune_scripts();
        self.sync_accept_filter();
    }

    fn deadline(&self) -> Option<Instant> {
        self.units
            .iter()
            .filter_map(|(_, _, u)| u.machine.poll_timeout())
            .min()
    }

    fn on_rx(&mut self, id: u64, member: usize, at: Instant, packet: Packet) {
        let Some(u) = self.units.iter().position(|(_, _, x)| x.id == id) else {
            return;
        };
        let decoded = match &packet {
            Packet::V4(d) => vrrp_proto::decode_ipv4(d, &IpChecks::default()),
            Packet::V6(p, ip) => vrrp_proto::decode(p, *ip, &IpChecks::default()),
        };
        let machine = &mut self.units[u].2.machine;
        let snapshot = |m: &Machine| {
            m.member(member)
                .map(|vr| (vr.state(), vr.counters().adverts_rx))
        };
        let mut lower_prio = None;
        match decoded {
            Ok(rx) => {
                let before = snapshot(machine);
                machine.handle_packet(at, member, &rx);
                let after = snapshot(machine);
                // An accepted non-zero advert that leaves a Master in Master has a lower
                // priority (or the same and a lower address): a peer that also held the VIPs
                // (a split brain ending, a cable put back). keepalived refreshes the remote ARP
                // caches then (`garp_lower_prio_repeat`), else they may keep the peer's MAC.
                if let (Some((State::Master, n0)), Some((State::Master, n1))) = (before, after)
                    && n1 > n0
                    && rx.advert.priority != 0
                {
                    lower_prio = Some((rx.ip.src, rx.advert.priority));
                }
            }
            Err(e) => machine.record_malformed(member, &e),
        }
        self.drain(u);
        if let Some((from, prio)) = lower_prio
            && let Some(m) = self.units[u].2.members.get(member)
        {
            let inst = m.inst.clone();
            log!(
                "({}) lower-priority advert from {from} (priority {prio}): refreshing ARP / ND caches",
                inst.name
            );
            for v in inst.vips.iter().chain(&inst.excluded) {
                let kind = GarpKind::Request;
                if let Err(e) = self.announce(&v.dev, v.addr, inst.config.garp_master_repeat, kind)
                {
                    log!("({}) announce {} on {}: {e}", inst.name, v.addr, v.dev);
                }
            }
        }
    }
}

fn counters(c: &Counters) -> Value {
    json!({
        "adverts_rx": c.adverts_rx,
        "adverts_tx": c.adverts_tx,
        "became_master": c.became_master,
        "released_master": c.released_master,
        "priority_zero_rx": c.priority_zero_rx,
        "priority_zero_tx": c.priority_zero_tx,
        "checksum_errors": c.checksum_errors,
        "version_errors": c.version_errors,
        "vrid_errors": c.vrid_errors,
        "invalid_type_rx": c.invalid_type_rx,
        "packet_length_errors": c.packet_length_errors,
        "ttl_errors": c.ttl_errors,
        "interval_errors": c.interval_errors,
        "address_list_errors": c.address_list_errors,
        "auth_errors": c.auth_errors,
        "destination_errors": c.destination_errors,
        "unknown_source_errors": c.unknown_source_errors,
        "own_address_errors": c.own_address_errors,
        "ip_errors": c.ip_errors,
        "checksum_convention_mismatch": c.checksum_convention_mismatch,
        "events_overflow": c.events_overflow,
    })
}

async fn serve_control(listener: UnixListener, input: mpsc::UnboundedSender<Input>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let input = input.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let resp = match serde_json::from_str::<Request>(&line) {
                    Ok(req) => {
                        let (tx, rx) = oneshot::channel();
                        if input.send(Input::Control(req, tx)).is_err() {
                            return;
                        }
                        rx.await
                            .unwrap_or_else(|_| json!({"ok": false, "error": "daemon stopping"}))
                    }
                    Err(e) => json!({"ok": false, "error": format!("bad request: {e}")}),
                };
                let mut out = resp.to_string();
                out.push('\n');
                if w.write_all(out.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Runs the daemon until SIGTERM / SIGINT. Returns the process exit code.
pub(crate) async fn run(opts: Options) -> i32 {
    let nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => {
            log!("netlink: {e}");
            return 1;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut d = Daemon {
        opts,
        nl,
        units: Vec::new(),
        next_id: 0,
        input: tx.clone(),
        announcers: HashMap::new(),
        links: HashMap::new(),
        scripts: HashMap::new(),
        accept_filter: AcceptFilter::default(),
        script_policy: Arc::new(ScriptPolicy::root()),
        buf: Vec::with_capacity(1500),
    };
    let r = match d.load() {
        Ok(r) => r,
        Err(e) => {
            log!("{e}");
            return 1;
        }
    };
    match d.opts.rt_priority.or(r.rt_priority) {
        Some(0) | None => {}
        Some(p) => match sys::set_realtime(p) {
            Ok(()) => log!("running with real-time priority {p} (SCHED_RR)"),
            Err(e) => log!("cannot set real-time priority {p}: {e}"),
        },
    }
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log!("cannot install signal handlers");
        return 1;
    };
    if let Some(dir) = d.opts.control.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&d.opts.control);
    let control = match UnixListener::bind(&d.opts.control) {
        Ok(l) => l,
        Err(e) => {
            log!("control socket {}: {e}", d.opts.control.display());
            return 1;
        }
    };
    let control_task = tokio::spawn(serve_control(control, tx));
    let link_task = match watch_links(d.input.clone()) {
        Ok(t) => t,
        Err(e) => {
            log!("cannot watch links: {e}");
            control_task.abort();
            return 1;
        }
    };
    d.cleanup_stale(&r);
    let mut code = 0;
    for (k, def) in unit_defs(&r) {
        match d.start_unit(&k, &def) {
            Ok(unit) => d.units.push((k, def, unit)),
            Err(e) => {
                log!("cannot start {e}");
                code = 1;
            }
        }
    }
    if code != 0 {
        for u in 0..d.units.len() {
            d.stop_unit(u);
        }
        control_task.abort();
        link_task.abort();
        let _ = std::fs::remove_file(&d.opts.control);
        return code;
    }
    for u in 0..d.units.len() {
        d.drain(u);
    }
    d.sync_accept_filter();
    let timer = match sys::TimerFd::new().and_then(sys::register) {
        Ok(t) => t,
        Err(e) => {
            log!("timerfd: {e}");
            return 1;
        }
    };
    loop {
        if let Err(e) = timer.get_ref().set(d.deadline()) {
            log!("timerfd: {e}");
        }
        let sleep = async {
            if let Ok(mut guard) = timer.readable().await {
                guard.get_inner().clear();
                guard.clear_ready();
            }
        };
        tokio::select! {
            biased;
            _ = term.recv() => { log!("SIGTERM: stopping"); break; }
            _ = int.recv() => { log!("SIGINT: stopping"); break; }
            _ = hup.recv() => d.reload(),
            Some(inp) = rx.recv() => match inp {
                Input::Rx { unit, member, at, packet } => d.on_rx(unit, member, at, packet),
                Input::Control(req, reply) => { let _ = reply.send(d.control(req)); }
                Input::Link { ifindex, running } => d.on_link(ifindex, running),
                Input::LinkResync => d.resync_links(),
                Input::Script { name, outcome } => d.on_script(&name, outcome),
            },
            () = sleep => {
                let now = Instant::now();
                for u in 0..d.units.len() {
                    if d.units[u].2.machine.poll_timeout().is_some_and(|t| t <= now) {
                        d.units[u].2.machine.handle_timeout(now);
                        d.drain(u);
                    }
                }
            }
        }
    }
    for u in 0..d.units.len() {
        d.stop_unit(u);
    }
    if let Err(e) = d.accept_filter.clear() {
        log!(
            "cannot remove nftables table inet {}: {e}",
            super::firewall::TABLE
        );
    }
    control_task.abort();
    link_task.abort();
    let _ = std::fs::remove_file(&d.opts.control);
    log!("stopped");
    0
}
