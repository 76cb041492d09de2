//! The server's lease side: bounded reclamation through an expiry index, the durability gate
//! (and a second, HA-style gate), the control operations, a pre-loaded store, configuration
//! errors, and a proptest of random client actions against a small pool.

mod server_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use dhcp4_ha::config::{Dhcp4, HostId};
use dhcp4_ha::lease::{Lease4, LeaseState, LeaseStore, MemoryStore};
use dhcp4_ha::server::{
    ChangeKind, ConfigError, Gate, Gates, LeaseOpError, Origin, Server, ServerOptions,
};
use dhcp4_ha::wire::MessageType;
use proptest::prelude::*;
use server_common::{ClientSim, Harness, KEA_CAPTURE_CONFIG, UNIX0, config, ip};

fn srv() -> Ipv4Addr {
    ip("192.0.2.1")
}

fn lease(addr: &str, mac: u8, cltt: u64, valid: u32) -> Lease4 {
    let mut l = Lease4::new(ip(addr));
    l.hwaddr = vec![2, 0, 0, 0, 0, mac];
    l.cltt = cltt;
    l.valid_lifetime = valid;
    l.subnet_id = 1;
    l
}

#[test]
fn expired_leases_reclaimed_in_bounded_batches() {
    let cfg = config(
        r#""expired-leases-processing": {"reclaim-timer-wait-time": 10, "max-reclaim-leases": 100},
           "subnet4": [{"id": 1, "subnet": "10.0.0.0/16", "pools": [{"pool": "10.0.0.0 - 10.0.3.255"}]}]"#,
    );
    let mut h = Harness::new(&cfg);
    // 250 leases expiring in 60 s, 10 that stay.
    for i in 0..260u32 {
        let mut l = lease("10.0.0.0", 1, h.unix, if i < 250 { 60 } else { 6000 });
        l.addr = Ipv4Addr::from(u32::from(ip("10.0.0.0")) + i);
        h.server.add_lease(l, Origin::Control).unwrap();
    }
    h.changes();
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 260);
    let t0 = h.server.poll_timeout().expect("reclamation timer");
    assert_eq!(t0, h.now + Duration::from_secs(10));
    // Before the timer: nothing.
    h.advance(61);
    h.server.handle_timeout(t0 - Duration::from_secs(1), h.unix);
    assert_eq!(h.server.store().len(), 260);
    let mut batches = Vec::new();
    for _ in 0..4 {
        let at = h.server.poll_timeout().unwrap().max(h.now);
        h.now = at;
        let before = h.server.store().len();
        h.server.handle_timeout(at, h.unix);
        batches.push(before - h.server.store().len());
        assert_eq!(h.server.poll_timeout(), Some(at + Duration::from_secs(10)));
    }
    assert_eq!(batches, [100, 100, 50, 0], "max-reclaim-leases per cycle");
    assert_eq!(h.stat("reclaimed-leases"), 250);
    assert_eq!(h.stat("subnet[1].reclaimed-leases"), 250);
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 10);
    assert_eq!(h.server.free_count(1), Some(1024 - 10));
    let ch = h.changes();
    assert_eq!(ch.len(), 250);
    assert!(
        ch.iter()
            .all(|c| c.kind == ChangeKind::Deleted && c.origin == Origin::Reclamation)
    );
}

#[test]
fn ack_is_held_until_persisted_offer_and_nak_are_not() {
    let mut h = Harness::with(&config(KEA_CAPTURE_CONFIG), ServerOptions { persist: true });
    let c = ClientSim::new(1);
    let (_, offer) = h.one(&c.discover());
    // The ACK waits for its lease change.
    assert!(h.feed(&c.select(offer.yiaddr, srv())).is_empty());
    assert_eq!(h.server.held_count(), 1);
    assert_eq!(h.stat("pkt4-ack-sent"), 0);
    let ch = h.changes();
    assert_eq!(ch.len(), 1);
    h.server.leases_persisted(ch[0].seq - 1);
    assert!(
        h.server.poll_transmit().is_none(),
        "an older change does not release it"
    );
    h.server.leases_persisted(ch[0].seq);
    let tx = h.server.poll_transmit().expect("released");
    assert_eq!(tx.message_type, MessageType::ACK);
    assert_eq!(h.stat("pkt4-ack-sent"), 1);
    // A NAK leaves at once.
    let (_, nak) = h.one(&ClientSim::new(2).select(offer.yiaddr, srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    // Two ACKs held, released together by one cumulative report, in order.
    let a = ClientSim::new(3);
    let b = ClientSim::new(4);
    let oa = h.one(&a.discover()).1.yiaddr;
    let ob = h.one(&b.discover()).1.yiaddr;
    assert!(h.feed(&a.select(oa, srv())).is_empty());
    assert!(h.feed(&b.select(ob, srv())).is_empty());
    h.server.leases_persisted(h.server.last_seq());
    let out: Vec<_> = std::iter::from_fn(|| h.server.poll_transmit()).collect();
    assert_eq!(
        out.iter().map(|t| t.xid).collect::<Vec<_>>(),
        [a.xid, b.xid]
    );
}

#[test]
fn second_gate_for_ha_and_discard() {
    let mut h = Harness::with(&config(KEA_CAPTURE_CONFIG), ServerOptions { persist: true });
    h.server
        .set_required_gates(Gates::NONE.with(Gate::Persisted).with(Gate::PartnerAcked));
    let c = ClientSim::new(1);
    let o = h.one(&c.discover()).1.yiaddr;
    assert!(h.feed(&c.select(o, srv())).is_empty());
    let seq = h.server.last_seq();
    h.server.leases_persisted(seq);
    assert!(h.server.poll_transmit().is_none(), "partner has not acked");
    h.server.release_gate(Gate::PartnerAcked, seq);
    assert!(h.server.poll_transmit().is_some());
    // A failed partner update: the reply is dropped.
    let d = ClientSim::new(2);
    let o = h.one(&d.discover()).1.yiaddr;
    assert!(h.feed(&d.select(o, srv())).is_empty());
    assert_eq!(h.server.discard_held(h.server.last_seq()), 1);
    h.server.leases_persisted(h.server.last_seq());
    h.server
        .release_gate(Gate::PartnerAcked, h.server.last_seq());
    assert!(h.server.poll_transmit().is_none());
    assert_eq!(h.server.held_count(), 0);
}

#[test]
fn control_operations_keep_pools_and_stats_in_step() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let l = lease("192.0.2.120", 1, UNIX0, 3600);
    h.server.add_lease(l.clone(), Origin::Control).unwrap();
    assert!(!h.server.is_free(ip("192.0.2.120")));
    assert_eq!(
        h.server.add_lease(l.clone(), Origin::Control),
        Err(LeaseOpError::Exists(ip("192.0.2.120")))
    );
    let mut other = lease("198.51.100.5", 2, UNIX0, 3600);
    assert_eq!(
        h.server
            .add_lease(other.clone(), Origin::Control)
            .unwrap_err()
            .to_string(),
        "The address 198.51.100.5 does not belong to subnet 192.0.2.0/24, subnet-id=1"
    );
    other.subnet_id = 99;
    assert_eq!(
        h.server
            .add_lease(other, Origin::Control)
            .unwrap_err()
            .to_string(),
        "Invalid subnet-id: No IPv4 subnet with subnet-id=99 currently configured."
    );
    // subnet-id 0: chosen by address.
    let mut auto = lease("192.0.2.130", 3, UNIX0, 3600);
    auto.subnet_id = 0;
    h.server.add_lease(auto, Origin::Partner).unwrap();
    assert_eq!(h.server.lease(ip("192.0.2.130")).unwrap().subnet_id, 1);
    assert_eq!(
        h.server
            .update_lease(lease("192.0.2.140", 4, UNIX0, 1), false, Origin::Control),
        Err(LeaseOpError::NotFound(ip("192.0.2.140")))
    );
    h.server
        .update_lease(lease("192.0.2.140", 4, UNIX0, 1), true, Origin::Partner)
        .unwrap();
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 3);
    // A DHCP client cannot take a lease added by control.
    let (_, nak) = h.one(&ClientSim::new(9).select(ip("192.0.2.120"), srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    assert_eq!(
        h.server
            .delete_lease(ip("192.0.2.120"), Origin::Control)
            .unwrap(),
        l
    );
    assert!(h.server.is_free(ip("192.0.2.120")));
    assert_eq!(h.server.wipe(Some(1), Origin::Control), 2);
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 0);
    assert_eq!(h.server.subnet_of(ip("192.0.2.77")), Some(1));
    assert_eq!(h.server.subnet_of(ip("198.51.100.77")), None);
    let origins: Vec<Origin> = h.changes().iter().map(|c| c.origin).collect();
    assert!(origins.contains(&Origin::Partner) && origins.contains(&Origin::Control));
}

#[test]
fn preloaded_store_is_marked_used_and_counted() {
    let mut store = MemoryStore::default();
    store.upsert(lease("192.0.2.100", 1, UNIX0, 3600));
    let mut d = lease("192.0.2.101", 2, UNIX0, 3600);
    d.state = LeaseState::Declined;
    d.hwaddr.clear();
    store.upsert(d);
    let cfg = config(KEA_CAPTURE_CONFIG);
    let mut h = Harness::new(&cfg);
    h.server =
        Server::with_store(&cfg, store, ServerOptions { persist: false }, h.now, UNIX0).unwrap();
    assert!(!h.server.is_free(ip("192.0.2.100")) && !h.server.is_free(ip("192.0.2.101")));
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 2);
    assert_eq!(h.stat("subnet[1].declined-addresses"), 1);
    assert!(h.changes().is_empty(), "loading emits nothing");
    assert_eq!(h.dora(&ClientSim::new(7)), ip("192.0.2.102"));
    // The preloaded client gets its lease back.
    let mut c = ClientSim::new(7);
    c.mac = [2, 0, 0, 0, 0, 1];
    assert_eq!(h.one(&c.discover()).1.yiaddr, ip("192.0.2.100"));
}

fn base() -> Dhcp4 {
    config(KEA_CAPTURE_CONFIG)
}

fn build_err(cfg: &Dhcp4) -> String {
    Server::new(cfg, std::time::Instant::now(), UNIX0)
        .unwrap_err()
        .to_string()
}

#[test]
fn inconsistent_configurations_are_refused() {
    let mut c = base();
    c.subnets[0].pools[0].last = ip("192.0.3.5");
    assert_eq!(
        build_err(&c),
        "subnet configuration failed: a pool of type V4, with the following address range: \
         192.0.2.100-192.0.3.5 does not match the prefix of a subnet: 192.0.2.0/24 to which it \
         is being added"
    );
    let mut c = base();
    let mut p = c.subnets[0].pools[0].clone();
    p.first = ip("192.0.2.150");
    p.last = ip("192.0.2.250");
    c.subnets[0].pools.push(p);
    assert!(build_err(&c).contains("overlaps with an existing pool 192.0.2.100-192.0.2.200"));
    let mut c = base();
    let s = c.subnets[0].clone();
    c.subnets.push(s);
    assert_eq!(
        build_err(&c),
        "ID of the new IPv4 subnet '1' is already in use"
    );
    // Pools overlapping across subnets (overlapping prefixes).
    let mut c = base();
    let mut s = c.subnets[0].clone();
    s.id = 2;
    s.len = 16;
    s.prefix = ip("192.0.0.0");
    c.subnets.push(s);
    assert!(build_err(&c).contains("overlaps"));
    // Reservations.
    let mut c = config(
        r#""subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
            "reservations": [{"hw-address": "02:00:00:00:00:01", "ip-address": "192.0.2.5"},
                             {"hw-address": "02:00:00:00:00:02", "ip-address": "192.0.2.6"}]}]"#,
    );
    assert!(Server::new(&c, std::time::Instant::now(), UNIX0).is_ok());
    c.subnets[0].reservations[1].ip_address = Some(ip("192.0.2.5"));
    assert_eq!(
        build_err(&c),
        "failed to add new host to the IPv4 subnet id '1' for the address 192.0.2.5: There's \
         already a reservation for this address"
    );
    c.subnets[0].reservations[1].ip_address = Some(ip("198.51.100.5"));
    assert_eq!(
        build_err(&c),
        "specified reservation '198.51.100.5' is not within the IPv4 subnet '192.0.2.0/24'"
    );
    c.subnets[0].reservations[1].ip_address = None;
    c.subnets[0].reservations[1].id = HostId::HwAddress(vec![2, 0, 0, 0, 0, 1]);
    assert_eq!(
        build_err(&c),
        "failed to add new host using the HW address '02:00:00:00:00:01' to the IPv4 subnet id \
         '1' as this host has already been added"
    );
    assert!(matches!(
        {
            let mut c = base();
            c.subnets[0].id = 0;
            Server::new(&c, std::time::Instant::now(), UNIX0).unwrap_err()
        },
        ConfigError::ZeroSubnetId { .. }
    ));
}

#[derive(Debug, Clone)]
enum Act {
    Dora(u8),
    Discover(u8),
    SelectAddr(u8, u8),
    Renew(u8),
    Release(u8),
    Decline(u8),
    Advance(u16),
}

fn act() -> impl Strategy<Value = Act> {
    let c = 0u8..12;
    prop_oneof![
        4 => c.clone().prop_map(Act::Dora),
        2 => c.clone().prop_map(Act::Discover),
        2 => (c.clone(), 0u8..12).prop_map(|(c, a)| Act::SelectAddr(c, a)),
        2 => c.clone().prop_map(Act::Renew),
        1 => c.clone().prop_map(Act::Release),
        1 => c.prop_map(Act::Decline),
        1 => (1u16..400).prop_map(Act::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random client actions on an 8-address pool (one address reserved) keep the
    /// invariants: no address with two owners, a client with at most one lease, the bitmap
    /// agreeing with the store, and the gauges agreeing with the leases.
    #[test]
    fn random_clients_keep_invariants(acts in proptest::collection::vec(act(), 1..80)) {
        let cfg = config(
            r#""valid-lifetime": 300, "decline-probation-period": 200,
               "expired-leases-processing": {"reclaim-timer-wait-time": 1, "max-reclaim-leases": 3},
               "subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
                 "pools": [{"pool": "192.0.2.10 - 192.0.2.17"}],
                 "reservations": [{"hw-address": "02:00:00:00:00:03", "ip-address": "192.0.2.12"}]}]"#,
        );
        let mut h = Harness::new(&cfg);
        let clients: Vec<ClientSim> = (0..12).map(|n| {
            let c = ClientSim::new(n);
            if n % 3 == 0 { c.with_client_id() } else { c }
        }).collect();
        let mut held: BTreeMap<u8, Ipv4Addr> = BTreeMap::new();
        for a in acts {
            match a {
                Act::Dora(c) => {
                    let out = h.feed(&clients[c as usize].discover());
                    if let Some(t) = out.first() {
                        let o = dhcp4_ha::wire::Dhcp4Repr::from_bytes(&t.payload).unwrap();
                        h.feed(&clients[c as usize].select(o.yiaddr, srv()));
                    }
                }
                Act::Discover(c) => { h.feed(&clients[c as usize].discover()); }
                Act::SelectAddr(c, a) => {
                    h.feed(&clients[c as usize].select(Ipv4Addr::new(192, 0, 2, 8 + a), srv()));
                }
                Act::Renew(c) => {
                    if let Some(a) = held.get(&c) { h.feed(&clients[c as usize].renew(*a)); }
                }
                Act::Release(c) => {
                    if let Some(a) = held.get(&c) { h.feed(&clients[c as usize].release(*a, srv())); }
                }
                Act::Decline(c) => {
                    if let Some(a) = held.get(&c) { h.feed(&clients[c as usize].decline(*a, srv())); }
                }
                Act::Advance(s) => {
                    h.advance(u64::from(s));
                    h.server.handle_timeout(h.now, h.unix);
                }
            }
            // Invariants.
            let leases: Vec<Lease4> = h.server.store().iter().cloned().collect();
            held.clear();
            let mut owners = BTreeSet::new();
            for l in &leases {
                if l.state == LeaseState::Default {
                    let who = clients.iter().position(|c| c.mac[..] == l.hwaddr[..]).unwrap() as u8;
                    prop_assert!(held.insert(who, l.addr).is_none(), "client {who} holds two leases");
                    prop_assert!(owners.insert(l.addr));
                }
            }
            for n in 10..=17u8 {
                let a = Ipv4Addr::new(192, 0, 2, n);
                let used = h.server.lease(a).is_some() || n == 12;
                prop_assert_eq!(h.server.is_free(a), !used, "bitmap vs store at {}", a);
            }
            let assigned = leases.iter().filter(|l| matches!(l.state, LeaseState::Default | LeaseState::Declined)).count();
            let declined = leases.iter().filter(|l| l.state == LeaseState::Declined).count();
            prop_assert_eq!(h.stat("subnet[1].assigned-addresses"), assigned as i64);
            prop_assert_eq!(h.stat("subnet[1].declined-addresses"), declined as i64);
            prop_assert_eq!(h.stat("declined-addresses"), declined as i64);
            prop_assert!(h.server.lease(Ipv4Addr::new(192, 0, 2, 12)).is_none_or(|l| l.hwaddr == [2, 0, 0, 0, 0, 3] || l.state != LeaseState::Default));
        }
    }
}
