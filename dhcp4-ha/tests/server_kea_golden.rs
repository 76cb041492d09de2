//! The server against Kea 2.2 itself: every client packet of tests/data/kea22_clients.pcap
//! (dhclient, udhcpc, dhcpcd, systemd-networkd, perfdhcp direct and relayed with option 82)
//! is fed in capture order to a server with the capture's configuration; the replies must be
//! the very bytes Kea sent, to the same destinations, and no reply where Kea sent none.

mod common;
mod server_common;

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcp4_ha::server::ChangeKind;
use dhcp4_ha::wire::{Dhcp4Repr, MessageType};
use server_common::{Harness, KEA_CAPTURE_CONFIG, SERVER_ADDR, config};

#[test]
fn replies_are_keas_byte_for_byte() {
    let caps = common::capture("kea22_clients.pcap");
    let server = Ipv4Addr::from(SERVER_ADDR);
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let mut compared = 0;
    let mut i = 0;
    while i < caps.len() {
        let q = &caps[i];
        assert_ne!(q.src, server, "#{i}: a query expected");
        let got = h.feed_from(SocketAddrV4::new(q.src, q.sport), q.dst, &q.payload);
        // Kea's replies to this query: the packets from the server that follow it.
        let mut kea = Vec::new();
        while i + 1 < caps.len() && caps[i + 1].src == server {
            i += 1;
            kea.push(&caps[i]);
        }
        assert_eq!(got.len(), kea.len(), "#{i}: number of replies");
        for (g, k) in got.iter().zip(&kea) {
            let ours = Dhcp4Repr::from_bytes(&g.payload).unwrap();
            let theirs = Dhcp4Repr::from_bytes(&k.payload).unwrap();
            assert_eq!(ours, theirs, "#{i}: reply differs");
            assert_eq!(g.payload, k.payload, "#{i}: reply bytes differ");
            assert_eq!(*g.dst.ip(), k.dst, "#{i}: destination address");
            assert_eq!(g.dst.port(), k.dport, "#{i}: destination port");
            assert_eq!(g.src, k.src, "#{i}: source address");
            compared += 1;
        }
        i += 1;
    }
    assert_eq!(compared, 18, "every Kea reply compared");
    // What Kea's memfile would hold: .100 released, .101-.102 leased, .103 released, .105
    // and .106 leased (.104 was only offered).
    let leased: Vec<Ipv4Addr> = h.server.store().iter().map(|l| l.addr).collect();
    let want: Vec<Ipv4Addr> = [101, 102, 105, 106]
        .iter()
        .map(|d| Ipv4Addr::new(192, 0, 2, *d))
        .collect();
    assert_eq!(leased, want);
    let changes = h.changes();
    let deletes = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deleted)
        .count();
    assert_eq!(deletes, 2, "two RELEASEs");
    assert_eq!(h.stat("pkt4-received"), 20);
    assert_eq!(h.stat("pkt4-sent"), 18);
    assert_eq!(h.stat("pkt4-offer-sent"), 9);
    assert_eq!(h.stat("pkt4-ack-sent"), 9);
    assert_eq!(h.stat("pkt4-release-received"), 2);
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 4);
    assert_eq!(h.stat("subnet[1].total-addresses"), 101);
    let hosts: Vec<&str> = h.server.store().iter().map(|l| &l.hostname[..]).collect();
    assert_eq!(hosts, ["udhcpc-host", "dhcpcd-host", "", ""]);
    // A sanity check on the message types compared.
    assert!(caps.iter().any(
        |c| Dhcp4Repr::from_bytes(&c.payload).unwrap().message_type() == Some(MessageType::RELEASE)
    ));
}
