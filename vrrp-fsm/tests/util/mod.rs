//! Helpers shared by the scenario and property tests.
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vrrp_fsm::sim::{RecordKind, Sim};
use vrrp_fsm::{Event, Peer, Reason, RxMeta, State};
use vrrp_proto::{AdvertRepr, ChecksumMode, VirtualAddrs};

/// One state change seen in a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub at: Instant,
    pub t: Duration,
    pub node: usize,
    pub member: usize,
    pub from: State,
    pub to: State,
    pub reason: Reason,
    pub peer: Option<Peer>,
}

/// Every member-level state change in the trace, in order.
pub fn changes(sim: &Sim) -> Vec<Change> {
    sim.trace()
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Event {
                member,
                event:
                    Event::StateChanged {
                        from,
                        to,
                        reason,
                        peer,
                    },
            } => Some(Change {
                at: r.at,
                t: r.at - sim.epoch(),
                node: r.node,
                member: *member,
                from: *from,
                to: *to,
                reason: *reason,
                peer: *peer,
            }),
            _ => None,
        })
        .collect()
}

/// Changes after `since`.
pub fn changes_after(sim: &Sim, since: Instant) -> Vec<Change> {
    changes(sim).into_iter().filter(|c| c.at >= since).collect()
}

/// Time of the last advert from host `from` delivered to host `to` at or before `before`.
pub fn last_delivery(sim: &Sim, to: usize, from: usize, before: Instant) -> Option<Instant> {
    sim.trace()
        .iter()
        .filter(|r| r.node == to && r.at <= before)
        .filter(|r| matches!(r.kind, RecordKind::Delivered { from: f, .. } if f == from))
        .map(|r| r.at)
        .next_back()
}

/// Events of host `node` (member 0) recorded after `since`.
pub fn events(sim: &Sim, node: usize, since: Instant) -> Vec<Event> {
    sim.trace()
        .iter()
        .filter(|r| r.node == node && r.at >= since)
        .filter_map(|r| match &r.kind {
            RecordKind::Event { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub fn abs_diff(a: Instant, b: Instant) -> Duration {
    if a > b { a - b } else { b - a }
}

/// 192.0.2.`n`.
pub fn v4(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

/// A VRRPv3 advert for `vrid` at `priority` with sim::config_v4's virtual address.
pub fn advert(vrid: u8, priority: u8) -> AdvertRepr {
    AdvertRepr::v3(
        vrid,
        priority,
        Duration::from_secs(1),
        VirtualAddrs::V4(vec![Ipv4Addr::new(198, 51, 100, vrid)]),
    )
}

/// Metadata of a multicast IPv4 advert from 192.0.2.`n`.
pub fn meta(n: u8) -> RxMeta {
    RxMeta {
        src: v4(n),
        dst: IpAddr::V4(vrrp_proto::GROUP_V4),
        ttl: 255,
        checksum: ChecksumMode::PseudoHeader,
    }
}

/// Drains a router's events.
pub fn drain_events(vr: &mut vrrp_fsm::VirtualRouter) -> Vec<Event> {
    std::iter::from_fn(|| vr.poll_event()).collect()
}

/// Drains a router's transmits: (transmit, decoded priority).
pub fn drain_tx(vr: &mut vrrp_fsm::VirtualRouter) -> Vec<(vrrp_fsm::Transmit, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(t) = vr.poll_transmit(&mut buf) {
        out.push((t, buf[..t.len].to_vec()));
    }
    out
}
