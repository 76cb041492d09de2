//! A deterministic simulator of VRRP routers on one link (feature `sim`).
//!
//! * **Clock**: virtual. Time starts at an arbitrary `Instant` (the epoch) and only moves when
//!   the simulator jumps to the next delivery or timer; nothing sleeps.
//! * **Randomness**: a seeded splitmix64 generator ([`SplitMix64`]) decides losses and
//!   latencies, so a seed replays the same run.
//! * **Link**: one broadcast domain. Multicast adverts go to every other host, unicast ones to
//!   the host that owns the destination address. Each copy gets `latency + U(0, jitter)` delay
//!   (but never overtakes an earlier copy between the same two hosts: one segment does not
//!   reorder) and is lost with probability `loss`, or dropped when a partition separates the
//!   hosts.
//! * **Bytes**: every advert goes through [`AdvertRepr::emit`](vrrp_proto::AdvertRepr::emit)
//!   (inside `poll_transmit`) and [`vrrp_proto::decode`], so the codec is exercised.
//! * **Hosts** run a [`VirtualRouter`] or a [`SyncGroup`]; they can crash (silently, no
//!   priority 0) and restart (a new state machine from the same configuration).
//! * **Trace**: every send, delivery, loss, event, crash and command is recorded with its
//!   virtual time, so tests can assert against what actually happened on the wire.
//!
//! ```
//! use std::time::Duration;
//! use vrrp_fsm::sim::{config_v4, Link, Sim};
//! use vrrp_fsm::State;
//!
//! let mut sim = Sim::new(7, Link::default());
//! let r1 = sim.add_router("r1", config_v4(1, 1, 200));
//! let r2 = sim.add_router("r2", config_v4(1, 2, 100));
//! sim.run_for(Duration::from_secs(5));
//! assert_eq!(sim.router(r1).unwrap().state(), State::Master);
//! sim.crash(r1);
//! sim.run_for(Duration::from_secs(5));
//! assert_eq!(sim.router(r2).unwrap().state(), State::Master);
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use vrrp_proto::{IpChecks, RxIp, TTL, VirtualAddrs};

use crate::{Command, Config, Event, GroupEvent, State, SyncGroup, VirtualRouter};

/// splitmix64 (Steele, Lea, Flood 2014): a tiny, seedable, good-enough generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, max] (nanosecond resolution).
    pub fn duration_up_to(&mut self, max: Duration) -> Duration {
        let ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if ns == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.next_u64() % (ns + 1))
        }
    }
}

/// The link's behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay, uniform in [0, jitter].
    pub jitter: Duration,
    /// Probability that one copy of a packet is lost.
    pub loss: f64,
}

impl Default for Link {
    /// 100 µs, no jitter, no loss.
    fn default() -> Self {
        Self {
            latency: Duration::from_micros(100),
            jitter: Duration::ZERO,
            loss: 0.0,
        }
    }
}

/// What a host runs.
#[derive(Debug)]
pub enum SimNode {
    /// One virtual router.
    Router(Box<VirtualRouter>),
    /// A sync group.
    Group(SyncGroup),
}

impl SimNode {
    fn handle_received(&mut self, now: Instant, rx: &vrrp_proto::Received) {
        match self {
            Self::Router(r) => r.handle_received(now, rx),
            Self::Group(g) => {
                g.handle_received(now, rx);
            }
        }
    }

    fn record_malformed(&mut self, e: &vrrp_proto::DecodeError) {
        if let Self::Router(r) = self {
            r.record_malformed(e);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::Router(r) => r.handle_timeout(now),
            Self::Group(g) => g.handle_timeout(now),
        }
    }

    fn handle_command(&mut self, now: Instant, member: usize, cmd: Command) {
        match self {
            Self::Router(r) => r.handle_command(now, cmd),
            Self::Group(g) => g.handle_command(now, member, cmd),
        }
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<(usize, crate::Transmit)> {
        match self {
            Self::Router(r) => r.poll_transmit(buf).map(|t| (0, t)),
            Self::Group(g) => g.poll_transmit(buf),
        }
    }

    fn poll_event(&mut self) -> Option<RecordKind> {
        match self {
            Self::Router(r) => r
                .poll_event()
                .map(|event| RecordKind::Event { member: 0, event }),
            Self::Group(g) => g.poll_event().map(|e| match e {
                GroupEvent::Member { member, event } => RecordKind::Event { member, event },
                GroupEvent::StateChanged { from, to } => RecordKind::GroupStateChanged { from, to },
            }),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Router(r) => r.poll_timeout(),
            Self::Group(g) => g.poll_timeout(),
        }
    }

    fn routers(&self) -> Vec<&VirtualRouter> {
        match self {
            Self::Router(r) => vec![&**r],
            Self::Group(g) => g.members().iter().collect(),
        }
    }

    fn owns(&self, addr: IpAddr) -> bool {
        self.routers().iter().any(|r| r.config().src_addr == addr)
    }

    fn restart(&self, now: Instant) -> Self {
        match self {
            // The configurations were valid when the node was built.
            Self::Router(r) => Self::Router(Box::new(
                VirtualRouter::new(r.config().clone(), now).expect("configuration was valid"),
            )),
            Self::Group(g) => Self::Group(
                SyncGroup::new(
                    g.members().iter().map(|m| m.config().clone()).collect(),
                    now,
                )
                .expect("configuration was valid"),
            ),
        }
    }
}

/// Why a copy of a packet did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossCause {
    /// The link's random loss.
    Random,
    /// A partition separated the hosts.
    Partition,
    /// The receiver was down when the packet arrived.
    Down,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKind {
    /// An event of a host's state machine.
    Event {
        /// Sync-group member (0 for a lone router).
        member: usize,
        /// The event.
        event: Event,
    },
    /// A sync group's common state changed.
    GroupStateChanged {
        /// Previous common state.
        from: State,
        /// New common state.
        to: State,
    },
    /// A packet was emitted.
    Sent {
        /// Member that sent it.
        member: usize,
        /// Destination address.
        dst: IpAddr,
        /// Advertised priority.
        priority: u8,
        /// Packet id.
        id: u64,
    },
    /// A copy reached this host and was handed to its state machine.
    Delivered {
        /// Sending host.
        from: usize,
        /// Advertised priority.
        priority: u8,
        /// Packet id.
        id: u64,
        /// When it was sent.
        sent_at: Instant,
    },
    /// A copy for this host was lost.
    Lost {
        /// Sending host.
        from: usize,
        /// Advertised priority.
        priority: u8,
        /// Packet id.
        id: u64,
        /// When it was sent.
        sent_at: Instant,
        /// When it would have arrived.
        due: Instant,
        /// Why.
        cause: LossCause,
    },
    /// The host crashed.
    Crashed,
    /// The host restarted.
    Restarted,
    /// A command was given.
    Command {
        /// Member.
        member: usize,
        /// Command.
        command: Command,
    },
}

/// One line of the trace: at `at`, on host `node`, `kind` happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Virtual time.
    pub at: Instant,
    /// Host index.
    pub node: usize,
    /// What.
    pub kind: RecordKind,
}

#[derive(Debug)]
struct Host {
    name: String,
    node: SimNode,
    up: bool,
    side: u64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Flight {
    at: Instant,
    seq: u64,
    to: usize,
    from: usize,
    src: IpAddr,
    dst: IpAddr,
    id: u64,
    sent_at: Instant,
    priority: u8,
    bytes: Vec<u8>,
}

/// The simulator. See the [module documentation](self).
#[derive(Debug)]
pub struct Sim {
    epoch: Instant,
    now: Instant,
    hosts: Vec<Host>,
    link: Link,
    rng: SplitMix64,
    flights: BinaryHeap<Reverse<Flight>>,
    /// Arrival time of the last copy queued between two hosts (FIFO per pair).
    last_due: std::collections::HashMap<(usize, usize), Instant>,
    seq: u64,
    trace: Vec<Record>,
    buf: Vec<u8>,
}

impl Sim {
    /// An empty link, at virtual time zero.
    pub fn new(seed: u64, link: Link) -> Self {
        // The only clock read: an arbitrary origin for virtual time.
        let epoch = Instant::now();
        Self {
            epoch,
            now: epoch,
            hosts: Vec::new(),
            link,
            rng: SplitMix64::new(seed),
            flights: BinaryHeap::new(),
            last_due: std::collections::HashMap::new(),
            seq: 0,
            trace: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Adds a host running one router, started now. Panics on an invalid configuration (a test
    /// bug).
    pub fn add_router(&mut self, name: &str, config: Config) -> usize {
        let r = VirtualRouter::new(config, self.now).expect("valid configuration");
        self.add(name, SimNode::Router(Box::new(r)))
    }

    /// Adds a host running a sync group, started now. Panics on an invalid configuration.
    pub fn add_group(&mut self, name: &str, configs: Vec<Config>) -> usize {
        let g = SyncGroup::new(configs, self.now).expect("valid configuration");
        self.add(name, SimNode::Group(g))
    }

    fn add(&mut self, name: &str, node: SimNode) -> usize {
        self.hosts.push(Host {
            name: name.to_owned(),
            node,
            up: true,
            side: 0,
        });
        let i = self.hosts.len() - 1;
        self.drain(i);
        i
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time zero.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// The link settings.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Changes the link settings (for packets sent from now on).
    pub fn set_link(&mut self, link: Link) {
        self.link = link;
    }

    /// A host's name.
    pub fn name(&self, i: usize) -> &str {
        self.hosts.get(i).map_or("?", |h| h.name.as_str())
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there is no host.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Whether host `i` is running.
    pub fn is_up(&self, i: usize) -> bool {
        self.hosts.get(i).is_some_and(|h| h.up)
    }

    /// The router of host `i` (`None` for a sync group).
    pub fn router(&self, i: usize) -> Option<&VirtualRouter> {
        match &self.hosts.get(i)?.node {
            SimNode::Router(r) => Some(r),
            SimNode::Group(_) => None,
        }
    }

    /// The sync group of host `i` (`None` for a lone router).
    pub fn group(&self, i: usize) -> Option<&SyncGroup> {
        match &self.hosts.get(i)?.node {
            SimNode::Group(g) => Some(g),
            SimNode::Router(_) => None,
        }
    }

    /// The running hosts whose router (or any group member) is Master for `vrid`.
    pub fn masters(&self, vrid: u8) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|&i| {
                self.hosts[i].up
                    && self.hosts[i]
                        .node
                        .routers()
                        .iter()
                        .any(|r| r.config().vrid == vrid && r.state() == State::Master)
            })
            .collect()
    }

    /// Everything recorded so far.
    pub fn trace(&self) -> &[Record] {
        &self.trace
    }

    /// The state changes recorded so far, with their records (time, host, member).
    pub fn state_changes(&self) -> impl Iterator<Item = (&Record, &Event)> + '_ {
        self.trace.iter().filter_map(|r| match &r.kind {
            RecordKind::Event {
                event: e @ Event::StateChanged { .. },
                ..
            } => Some((r, e)),
            _ => None,
        })
    }

    /// Crashes host `i`: it stops at once, without a priority-0 advert; packets to it are lost.
    pub fn crash(&mut self, i: usize) {
        if let Some(h) = self.hosts.get_mut(i)
            && h.up
        {
            h.up = false;
            self.record(i, RecordKind::Crashed);
        }
    }

    /// Restarts a crashed host with a fresh state machine from the same configuration.
    pub fn restart(&mut self, i: usize) {
        let now = self.now;
        if let Some(h) = self.hosts.get_mut(i)
            && !h.up
        {
            h.node = h.node.restart(now);
            h.up = true;
            self.record(i, RecordKind::Restarted);
            self.drain(i);
        }
    }

    /// Gives a command to host `i` (member `member` of a sync group; 0 for a router).
    pub fn command(&mut self, i: usize, member: usize, command: Command) {
        let now = self.now;
        if let Some(h) = self.hosts.get_mut(i)
            && h.up
        {
            h.node.handle_command(now, member, command);
            self.record(i, RecordKind::Command { member, command });
            self.drain(i);
        }
    }

    /// Splits the link: hosts in different slices no longer hear each other; hosts not listed
    /// are each isolated.
    pub fn partition(&mut self, sides: &[&[usize]]) {
        for (i, h) in self.hosts.iter_mut().enumerate() {
            h.side = sides
                .iter()
                .position(|s| s.contains(&i))
                .map_or(1_000_000 + i as u64, |p| p as u64);
        }
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        for h in &mut self.hosts {
            h.side = 0;
        }
    }

    /// The time of the next delivery or timer.
    pub fn next_time(&self) -> Option<Instant> {
        let flight = self.flights.peek().map(|Reverse(f)| f.at);
        let timer = self
            .hosts
            .iter()
            .filter(|h| h.up)
            .filter_map(|h| h.node.poll_timeout())
            .min();
        match (flight, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Processes the next delivery or timer if it is due no later than `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        let Some(t) = self.next_time().filter(|t| *t <= limit) else {
            return false;
        };
        self.now = self.now.max(t);
        let now = self.now;
        if self.flights.peek().is_some_and(|Reverse(f)| f.at <= now) {
            // Checked just above: the heap is not empty.
            let Some(Reverse(f)) = self.flights.pop() else {
                return false;
            };
            self.deliver(f);
        } else {
            for i in 0..self.hosts.len() {
                let h = &mut self.hosts[i];
                if h.up && h.node.poll_timeout().is_some_and(|t| t <= now) {
                    h.node.handle_timeout(now);
                    self.drain(i);
                }
            }
        }
        true
    }

    /// Runs until virtual time `t` (processing everything due up to and including `t`).
    pub fn run_until(&mut self, t: Instant) {
        while self.step(t) {}
        self.now = self.now.max(t);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    fn deliver(&mut self, f: Flight) {
        let now = self.now;
        let to = f.to;
        if !self.hosts[to].up {
            self.record(
                to,
                RecordKind::Lost {
                    from: f.from,
                    priority: f.priority,
                    id: f.id,
                    sent_at: f.sent_at,
                    due: f.at,
                    cause: LossCause::Down,
                },
            );
            return;
        }
        self.record(
            to,
            RecordKind::Delivered {
                from: f.from,
                priority: f.priority,
                id: f.id,
                sent_at: f.sent_at,
            },
        );
        let ip = RxIp {
            src: f.src,
            dst: f.dst,
            ttl: TTL,
        };
        match vrrp_proto::decode(&f.bytes, ip, &IpChecks::default()) {
            Ok(rx) => self.hosts[to].node.handle_received(now, &rx),
            Err(e) => self.hosts[to].node.record_malformed(&e),
        }
        self.drain(to);
    }

    /// Collects host `i`'s transmits and events.
    fn drain(&mut self, i: usize) {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        while let Some((member, t)) = self.hosts[i].node.poll_transmit(&mut buf) {
            self.seq += 1;
            let id = self.seq;
            self.record(
                i,
                RecordKind::Sent {
                    member,
                    dst: t.dst,
                    priority: t.priority,
                    id,
                },
            );
            let targets: Vec<usize> = (0..self.hosts.len())
                .filter(|&j| j != i && (t.dst.is_multicast() || self.hosts[j].node.owns(t.dst)))
                .collect();
            for j in targets {
                let due = now + self.link.latency + self.rng.duration_up_to(self.link.jitter);
                let due = self.last_due.get(&(i, j)).map_or(due, |d| due.max(*d));
                let cause = if self.hosts[j].side != self.hosts[i].side {
                    Some(LossCause::Partition)
                } else if self.link.loss > 0.0 && self.rng.next_f64() < self.link.loss {
                    Some(LossCause::Random)
                } else {
                    None
                };
                if let Some(cause) = cause {
                    self.record(
                        j,
                        RecordKind::Lost {
                            from: i,
                            priority: t.priority,
                            id,
                            sent_at: now,
                            due,
                            cause,
                        },
                    );
                    continue;
                }
                self.last_due.insert((i, j), due);
                self.seq += 1;
                self.flights.push(Reverse(Flight {
                    at: due,
                    seq: self.seq,
                    to: j,
                    from: i,
                    src: t.src,
                    dst: t.dst,
                    id,
                    sent_at: now,
                    priority: t.priority,
                    bytes: buf[..t.len].to_vec(),
                }));
            }
        }
        self.buf = buf;
        while let Some(kind) = self.hosts[i].node.poll_event() {
            self.record(i, kind);
        }
    }

    fn record(&mut self, node: usize, kind: RecordKind) {
        self.trace.push(Record {
            at: self.now,
            node,
            kind,
        });
    }

    /// One line for a record: `t=  3.218750s  r1  Backup -> Master  (…)`.
    pub fn describe(&self, r: &Record) -> String {
        let mut s = String::new();
        let t = (r.at - self.epoch).as_secs_f64();
        let _ = write!(s, "t={t:>10.6}s  {:<4}", self.name(r.node));
        let _ = match &r.kind {
            RecordKind::Event { member, event } if self.group(r.node).is_some() => {
                write!(s, "[{member}] {event}")
            }
            RecordKind::Event { event, .. } => write!(s, "{event}"),
            RecordKind::GroupStateChanged { from, to } => write!(s, "sync group {from} -> {to}"),
            RecordKind::Sent { dst, priority, .. } => {
                write!(s, "sent advert prio {priority} to {dst}")
            }
            RecordKind::Delivered { from, priority, .. } => {
                write!(
                    s,
                    "received advert prio {priority} from {}",
                    self.name(*from)
                )
            }
            RecordKind::Lost {
                from,
                priority,
                cause,
                ..
            } => write!(
                s,
                "lost advert prio {priority} from {} ({cause:?})",
                self.name(*from)
            ),
            RecordKind::Crashed => write!(s, "crashed"),
            RecordKind::Restarted => write!(s, "restarted"),
            RecordKind::Command { member, command } => {
                write!(s, "command {command:?} (member {member})")
            }
        };
        s
    }
}

/// A VRRPv3 IPv4 configuration on TEST-NET-1: source 192.0.2.`host`, one virtual address
/// 198.51.100.`vrid`, priority `priority`, 1 s adverts.
pub fn config_v4(vrid: u8, host: u8, priority: u8) -> Config {
    let mut c = Config::new(
        vrid,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)),
        VirtualAddrs::V4(vec![Ipv4Addr::new(198, 51, 100, vrid)]),
    );
    c.priority = priority;
    c
}

/// A VRRPv3 IPv6 configuration: source fe80::`host`, virtual addresses fe80::`vrid`:1 and
/// 2001:db8::`vrid`, priority `priority`, 1 s adverts.
pub fn config_v6(vrid: u8, host: u8, priority: u8) -> Config {
    let mut c = Config::new(
        vrid,
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(host))),
        VirtualAddrs::V6(vec![
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, u16::from(vrid), 1),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(vrid)),
        ]),
    );
    c.priority = priority;
    c
}
