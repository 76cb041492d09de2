//! A deterministic simulator of sync nodes on one lossy link (feature `sim`).
//!
//! * **Clock**: virtual. Time starts at an arbitrary `Instant` and only moves when the
//!   simulator jumps to the next delivery or timer; nothing sleeps.
//! * **Randomness**: a seeded splitmix64 generator ([`SplitMix64`]) decides losses and
//!   latencies, so a seed replays the same run.
//! * **Link**: every datagram a node sends goes to every other node (two nodes: conntrackd's
//!   UDP pair; more: its multicast group). Each copy arrives after `latency + U(0, jitter)`,
//!   never overtaking an earlier copy on the same path (no reordering), or is lost with
//!   probability `loss` ([`Sim::set_loss`] changes it at any time).
//! * **Bytes**: everything goes through [`SyncNode::poll_transmit`] and
//!   [`SyncNode::handle_datagram`], so the codec and batching are exercised.
//!
//! ```
//! use std::time::Duration;
//! use ct_sync::sim::{Link, Sim};
//! use ct_sync::sync::{CtEvent, Origin, SyncConfig};
//! use ct_sync::wire::{CtRepr, Pair};
//!
//! let mut sim = Sim::new(7, Link { loss: 0.3, ..Link::default() });
//! let a = sim.add_node(SyncConfig::ftfw(100));
//! let b = sim.add_node(SyncConfig::ftfw(900));
//! sim.set_loss(0.0);
//! sim.run_for(Duration::from_secs(3)); // HELLO / HELLO_BACK
//! sim.set_loss(0.3);
//! for port in 1000..1100 {
//!     let ct = CtRepr {
//!         ipv4: Some(Pair::new("192.0.2.1".parse()?, "198.51.100.2".parse()?)),
//!         l4proto: Some(6),
//!         port: Some(Pair::new(port, 80)),
//!         ..CtRepr::default()
//!     };
//!     sim.kernel_event(a, CtEvent::New(ct), Origin::NotMe);
//! }
//! sim.run_for(Duration::from_secs(5));
//! sim.set_loss(0.0);
//! sim.run_for(Duration::from_secs(10));
//! assert_eq!(sim.node(b).external().ct.len(), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::sync::{Command, CommandError, CtEvent, ExpEvent, Origin, SyncConfig, SyncNode};

/// splitmix64: a tiny, seedable generator.
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
}

/// The link's behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Probability that a datagram copy is lost, in [0, 1].
    pub loss: f64,
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay, uniform in [0, jitter].
    pub jitter: Duration,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            loss: 0.0,
            latency: Duration::from_micros(200),
            jitter: Duration::from_micros(100),
        }
    }
}

/// What crossed the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Datagram copies sent.
    pub sent: u64,
    /// Copies delivered.
    pub delivered: u64,
    /// Copies lost.
    pub lost: u64,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    order: u64,
    to: usize,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Most steps one `run_until` takes before it gives up (a livelock guard).
const MAX_STEPS: u64 = 50_000_000;

/// Sync nodes on a simulated link.
#[derive(Debug)]
pub struct Sim {
    epoch: Instant,
    now: Instant,
    nodes: Vec<SyncNode>,
    rng: SplitMix64,
    link: Link,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    /// Latest arrival scheduled per (from, to), so a path never reorders.
    last_arrival: Vec<Vec<Instant>>,
    order: u64,
    stats: LinkStats,
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, link: Link) -> Self {
        let epoch = Instant::now();
        Self {
            epoch,
            now: epoch,
            nodes: Vec::new(),
            rng: SplitMix64::new(seed),
            link,
            in_flight: BinaryHeap::new(),
            last_arrival: Vec::new(),
            order: 0,
            stats: LinkStats::default(),
        }
    }

    /// Starts a node now; returns its index.
    pub fn add_node(&mut self, config: SyncConfig) -> usize {
        self.nodes.push(SyncNode::new(config, self.now));
        for row in &mut self.last_arrival {
            row.push(self.now);
        }
        self.last_arrival.push(vec![self.now; self.nodes.len()]);
        self.nodes.len() - 1
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// A node.
    pub fn node(&self, i: usize) -> &SyncNode {
        &self.nodes[i]
    }

    /// A node, to drive directly; call [`flush`](Self::flush) after handing it something.
    pub fn node_mut(&mut self, i: usize) -> &mut SyncNode {
        &mut self.nodes[i]
    }

    /// What crossed the link.
    pub fn link_stats(&self) -> LinkStats {
        self.stats
    }

    /// Changes the loss probability.
    pub fn set_loss(&mut self, loss: f64) {
        self.link.loss = loss;
    }

    /// A kernel event at node `i`, now; its datagrams go on the link.
    pub fn kernel_event(&mut self, i: usize, event: CtEvent, origin: Origin) {
        let now = self.now;
        self.nodes[i].handle_kernel_event(now, event, origin);
        self.flush(i);
    }

    /// An expectation event at node `i`, now.
    pub fn kernel_exp_event(&mut self, i: usize, event: ExpEvent, origin: Origin) {
        let now = self.now;
        self.nodes[i].handle_kernel_exp_event(now, event, origin);
        self.flush(i);
    }

    /// An operator command at node `i`, now.
    pub fn command(&mut self, i: usize, command: Command) -> Result<(), CommandError> {
        let now = self.now;
        let r = self.nodes[i].handle_command(now, command);
        self.flush(i);
        r
    }

    /// Puts everything node `i` has to send on the link.
    pub fn flush(&mut self, i: usize) {
        let now = self.now;
        while let Some(d) = self.nodes[i].poll_transmit(now) {
            for to in 0..self.nodes.len() {
                if to == i {
                    continue;
                }
                self.stats.sent += 1;
                if self.rng.next_f64() < self.link.loss {
                    self.stats.lost += 1;
                    continue;
                }
                let jitter_ns = u64::try_from(self.link.jitter.as_nanos()).unwrap_or(u64::MAX);
                let extra = if jitter_ns == 0 {
                    0
                } else {
                    self.rng.next_u64() % (jitter_ns + 1)
                };
                let at = (now + self.link.latency + Duration::from_nanos(extra))
                    .max(self.last_arrival[i][to]);
                self.last_arrival[i][to] = at;
                self.order += 1;
                self.in_flight.push(Reverse(InFlight {
                    at,
                    order: self.order,
                    to,
                    bytes: d.clone(),
                }));
            }
        }
    }

    /// Runs deliveries and timers up to `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: Instant) {
        for _ in 0..MAX_STEPS {
            let delivery = self.in_flight.peek().map(|Reverse(f)| f.at);
            let timer = self.nodes.iter().filter_map(SyncNode::poll_timeout).min();
            let next = match (delivery, timer) {
                (Some(d), Some(t)) => d.min(t),
                (d, t) => match d.or(t) {
                    Some(x) => x,
                    None => break,
                },
            };
            if next > deadline {
                break;
            }
            self.now = self.now.max(next);
            if delivery.is_some_and(|d| d <= self.now) {
                let Some(Reverse(f)) = self.in_flight.pop() else {
                    continue;
                };
                self.stats.delivered += 1;
                let now = self.now;
                self.nodes[f.to].handle_datagram(now, &f.bytes);
                self.flush(f.to);
            } else {
                for i in 0..self.nodes.len() {
                    if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                        let now = self.now;
                        self.nodes[i].handle_timeout(now);
                        self.flush(i);
                    }
                }
            }
        }
        self.now = self.now.max(deadline);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.now + d;
        self.run_until(deadline);
    }
}
