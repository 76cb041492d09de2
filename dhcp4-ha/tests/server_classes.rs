//! Pools with a `client-class`: a client gets addresses only from the pools of its classes
//! (or from pools without a class), as in Kea. This is how load-balancing HA splits a subnet
//! between the two servers (`HA_server1`, `HA_server2`).

mod server_common;

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcp4_ha::wire::{Dhcp4Repr, MessageType};
use server_common::{ClientSim, Harness, config, ip};

const SPLIT: &str = r#"
    "valid-lifetime": 4000,
    "subnet4": [
      {"id": 1, "subnet": "192.0.2.0/24", "pools": [
        {"pool": "192.0.2.10 - 192.0.2.19", "client-class": "HA_server1"},
        {"pool": "192.0.2.20 - 192.0.2.29", "client-class": "HA_server2"}
      ]}
    ]
"#;

/// Feeds `q` as a broadcast from a client of `classes`; returns the decoded replies.
fn feed(h: &mut Harness, q: &Dhcp4Repr, classes: &[&str]) -> Vec<Dhcp4Repr> {
    let bytes = q.to_vec().unwrap();
    let meta = dhcp4_ha::server::RxMeta {
        ifindex: 7,
        ifname: &h.ifname,
        if_addrs: &h.if_addrs,
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: Ipv4Addr::BROADCAST,
    };
    h.server
        .handle_packet_classified(h.now, h.unix, &meta, &bytes, classes.iter().copied());
    std::iter::from_fn(|| h.server.poll_transmit())
        .map(|t| Dhcp4Repr::from_bytes(&t.payload).unwrap())
        .collect()
}

fn in_range(a: Ipv4Addr, first: &str, last: &str) -> bool {
    (ip(first)..=ip(last)).contains(&a)
}

#[test]
fn each_class_gets_its_own_pool() {
    let mut h = Harness::new(&config(SPLIT));
    for n in 0..10 {
        let c = ClientSim::new(n);
        let class = if n % 2 == 0 {
            "HA_server1"
        } else {
            "HA_server2"
        };
        let offer = feed(&mut h, &c.discover(), &[class]);
        assert_eq!(offer.len(), 1);
        let a = offer[0].yiaddr;
        let want = if n % 2 == 0 {
            ("192.0.2.10", "192.0.2.19")
        } else {
            ("192.0.2.20", "192.0.2.29")
        };
        assert!(in_range(a, want.0, want.1), "{class} got {a}");
        let ack = feed(&mut h, &c.select(a, ip("192.0.2.1")), &[class]);
        assert_eq!(ack[0].message_type(), Some(MessageType::ACK));
    }
}

#[test]
fn a_client_without_the_class_gets_nothing_from_classed_pools() {
    let mut h = Harness::new(&config(SPLIT));
    let c = ClientSim::new(1);
    assert!(
        feed(&mut h, &c.discover(), &[]).is_empty(),
        "no unclassed pool"
    );
    assert_eq!(h.stat("v4-allocation-fail"), 1);
    // Asking for an address of the other class's pool: a client of HA_server1 is offered one
    // of its own pool instead.
    let mut q = c.discover();
    q.options.requested_ip = Some(ip("192.0.2.25"));
    let offer = feed(&mut h, &q, &["HA_server1"]);
    assert!(in_range(offer[0].yiaddr, "192.0.2.10", "192.0.2.19"));
}

#[test]
fn a_full_class_pool_does_not_spill_into_the_other() {
    let mut h = Harness::new(&config(SPLIT));
    for n in 0..10 {
        let c = ClientSim::new(n);
        let offer = feed(&mut h, &c.discover(), &["HA_server1"]);
        let ack = feed(
            &mut h,
            &c.select(offer[0].yiaddr, ip("192.0.2.1")),
            &["HA_server1"],
        );
        assert_eq!(ack[0].message_type(), Some(MessageType::ACK));
    }
    let c = ClientSim::new(100);
    assert!(feed(&mut h, &c.discover(), &["HA_server1"]).is_empty());
    let offer = feed(&mut h, &c.discover(), &["HA_server2"]);
    assert!(in_range(offer[0].yiaddr, "192.0.2.20", "192.0.2.29"));
}
