//! Two HA services with their servers, on a virtual HTTP channel and a virtual clock: the
//! pair starts up, serves clients (replies gated by the partner's acks), one dies, the other
//! goes partner-down and serves alone, the dead one returns empty and resyncs.

mod ha_common;
mod server_common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dhcp4_ha::ha::{HaEvent, HaState, lb_hash};
use dhcp4_ha::wire::{Dhcp4Repr, MessageType};
use ha_common::*;
use server_common::ClientSim;

/// DORA through the broadcast domain: exactly one node offers and acks. Returns (node,
/// address).
fn dora(sim: &mut Sim, c: &ClientSim) -> (usize, Ipv4Addr) {
    let offers: Vec<(usize, Dhcp4Repr)> = sim
        .broadcast(&c.discover())
        .into_iter()
        .flat_map(|(i, tx)| tx.into_iter().map(move |t| (i, t)))
        .map(|(i, t)| (i, Dhcp4Repr::from_bytes(&t.payload).unwrap()))
        .collect();
    assert_eq!(offers.len(), 1, "one OFFER for client {:02x?}", c.mac);
    let (node, offer) = &offers[0];
    assert_eq!(offer.message_type(), Some(MessageType::OFFER));
    let req = c.select(offer.yiaddr, offer.options.server_id.unwrap());
    let acks: Vec<(usize, Dhcp4Repr)> = sim
        .broadcast(&req)
        .into_iter()
        .flat_map(|(i, tx)| tx.into_iter().map(move |t| (i, t)))
        .map(|(i, t)| (i, Dhcp4Repr::from_bytes(&t.payload).unwrap()))
        .collect();
    assert_eq!(acks.len(), 1, "one ACK");
    assert_eq!(acks[0].0, *node, "ACK from the offering server");
    assert_eq!(acks[0].1.message_type(), Some(MessageType::ACK));
    (*node, acks[0].1.yiaddr)
}

fn lease_map(sim: &Sim, i: usize) -> BTreeMap<Ipv4Addr, (Vec<u8>, u64)> {
    sim.leases(i)
        .into_iter()
        .map(|l| (l.addr, (l.hwaddr, l.cltt)))
        .collect()
}

fn extra() -> String {
    format!("{FAST}\"max-unacked-clients\": 0,")
}

#[test]
fn hot_standby_pair_failover_and_resync() {
    let mut sim = Sim::new("hot-standby", &extra());
    let t = sim.until(10_000, "both hot-standby", |s| {
        s.state(0) == HaState::HotStandby && s.state(1) == HaState::HotStandby
    });
    eprintln!("hot-standby pair normal after {t} ms");
    assert!(
        t <= 5000,
        "pair normal after {t} ms (Kea: 4.1-4.4 s with 1 s heartbeats)"
    );
    assert_eq!(
        sim.nodes[0].transitions(),
        [
            (HaState::Waiting, HaState::Syncing),
            (HaState::Syncing, HaState::Ready),
            (HaState::Ready, HaState::HotStandby)
        ]
    );
    // The primary serves; each ACK waited for the standby's lease4-update ack.
    for n in 1..=10 {
        let (node, _) = dora(&mut sim, &ClientSim::new(n).with_client_id());
        assert_eq!(node, 0, "the primary serves in hot-standby");
    }
    assert_eq!(lease_map(&sim, 0).len(), 10);
    assert_eq!(
        lease_map(&sim, 0),
        lease_map(&sim, 1),
        "the standby has every lease"
    );
    assert_eq!(sim.nodes[0].ha.counters().updates_acked, 10);
    assert_eq!(sim.nodes[0].dropped, 0);

    // The primary dies.
    sim.kill(0);
    let t = sim.until(6000, "standby partner-down", |s| {
        s.state(1) == HaState::PartnerDown
    });
    eprintln!("standby partner-down {t} ms after the primary died");
    assert!(
        (2000..=4500).contains(&t),
        "partner-down after {t} ms (Kea: 2.8 s)"
    );
    for n in 11..=15 {
        let (node, _) = dora(&mut sim, &ClientSim::new(n).with_client_id());
        assert_eq!(node, 1, "the standby serves in partner-down");
    }
    assert_eq!(lease_map(&sim, 1).len(), 15);
    assert_eq!(sim.nodes[1].ha.unsent_update_count(), 5);

    // It returns with an empty lease file: waiting, syncing from the standby, normal.
    sim.restart(0, false);
    assert_eq!(sim.state(0), HaState::Waiting);
    let t = sim.until(10_000, "both hot-standby again", |s| {
        s.state(0) == HaState::HotStandby && s.state(1) == HaState::HotStandby
    });
    eprintln!("restart to normal {t} ms");
    assert!(t <= 5000, "recovery took {t} ms (Kea: 2.4 s)");
    assert_eq!(
        lease_map(&sim, 0),
        lease_map(&sim, 1),
        "every lease synced back"
    );
    assert!(
        sim.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, HaEvent::SyncSucceeded { leases: 15, .. }))
    );
    assert!(sim.nodes[1].ha.dhcp_enabled());
    let (node, _) = dora(&mut sim, &ClientSim::new(16).with_client_id());
    assert_eq!(node, 0, "the primary serves again");
}

#[test]
fn load_balancing_pair_failover_and_resync() {
    let mut sim = Sim::new("load-balancing", &extra());
    sim.until(10_000, "both load-balancing", |s| {
        s.state(0) == HaState::LoadBalancing && s.state(1) == HaState::LoadBalancing
    });
    let mut served = [0; 2];
    for n in 1..=24 {
        let c = ClientSim::new(n).with_client_id();
        let (node, _) = dora(&mut sim, &c);
        let cid = c.client_id.clone().unwrap();
        assert_eq!(
            node,
            usize::from(lb_hash(&cid) % 2),
            "the hash picks the server"
        );
        served[node] += 1;
    }
    assert!(served[0] > 0 && served[1] > 0, "both serve: {served:?}");
    assert_eq!(lease_map(&sim, 0), lease_map(&sim, 1));
    assert_eq!(lease_map(&sim, 0).len(), 24);

    sim.kill(1);
    sim.until(6000, "server1 partner-down", |s| {
        s.state(0) == HaState::PartnerDown
    });
    assert_eq!(sim.nodes[0].ha.served_scopes(), ["server1", "server2"]);
    for n in 25..=34 {
        let (node, _) = dora(&mut sim, &ClientSim::new(n).with_client_id());
        assert_eq!(node, 0, "server1 serves every scope");
    }
    sim.restart(1, false);
    sim.until(10_000, "both load-balancing again", |s| {
        s.state(0) == HaState::LoadBalancing && s.state(1) == HaState::LoadBalancing
    });
    assert_eq!(lease_map(&sim, 1).len(), 34);
    assert_eq!(lease_map(&sim, 0), lease_map(&sim, 1));
    assert_eq!(sim.nodes[0].ha.served_scopes(), ["server1"]);
    assert_eq!(sim.nodes[1].ha.served_scopes(), ["server2"]);
}

/// A partner that restarts with its leases but was down while the other served: it resyncs
/// and the replies it makes during the sync gap are none (DHCP disabled by the partner).
#[test]
fn returning_partner_resyncs_with_stale_leases() {
    let mut sim = Sim::new("hot-standby", &extra());
    sim.until(10_000, "normal", |s| {
        s.state(0) == HaState::HotStandby && s.state(1) == HaState::HotStandby
    });
    for n in 1..=4 {
        dora(&mut sim, &ClientSim::new(n).with_client_id());
    }
    sim.kill(1);
    sim.until(6000, "primary partner-down", |s| {
        s.state(0) == HaState::PartnerDown
    });
    for n in 5..=8 {
        dora(&mut sim, &ClientSim::new(n).with_client_id());
    }
    sim.restart(1, true);
    assert_eq!(lease_map(&sim, 1).len(), 4, "stale copy");
    sim.until(10_000, "normal again", |s| {
        s.state(0) == HaState::HotStandby && s.state(1) == HaState::HotStandby
    });
    assert_eq!(lease_map(&sim, 0), lease_map(&sim, 1));
    assert_eq!(lease_map(&sim, 1).len(), 8);
}
