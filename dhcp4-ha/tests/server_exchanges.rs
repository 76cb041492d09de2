//! The server's DHCP exchanges, Sans-IO: DORA direct and relayed, reply destinations (RFC 2131
//! §4.1), renew / rebind / init-reboot, release, decline, inform, reservations, option
//! precedence, match-client-id, a full pool; replies cross-checked with dhcproto.

mod server_common;

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcp4_ha::lease::{LeaseState, LeaseStore};
use dhcp4_ha::server::{ChangeKind, Origin};
use dhcp4_ha::wire::{FLAG_BROADCAST, MessageType, RelayAgentInfo};
use dhcproto::{Decodable, Decoder, v4};
use server_common::{ClientSim, Harness, KEA_CAPTURE_CONFIG, config, ip};

const TWO_SUBNETS: &str = r#"
    "valid-lifetime": 4000,
    "subnet4": [
      {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]},
      {"id": 2, "subnet": "198.51.100.0/24", "pools": [{"pool": "198.51.100.10 - 198.51.100.20"}],
       "relay": {"ip-addresses": ["203.0.113.1"]}},
      {"id": 3, "subnet": "203.0.113.0/24", "pools": [{"pool": "203.0.113.100 - 203.0.113.110"}]}
    ]
"#;

fn srv() -> Ipv4Addr {
    ip("192.0.2.1")
}

#[test]
fn dora_direct_then_dhcproto_agrees() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let c = ClientSim::new(1).with_client_id();
    let (tx, offer) = h.one(&c.discover());
    assert_eq!(offer.yiaddr, ip("192.0.2.100"));
    assert!(h.changes().is_empty(), "an OFFER writes no lease");
    assert!(h.server.lease(offer.yiaddr).is_none());
    // Unicast to yiaddr at the client's MAC (no broadcast flag, no ciaddr, no giaddr).
    assert_eq!(tx.dst, SocketAddrV4::new(offer.yiaddr, 68));
    assert!(tx.link_unicast && !tx.broadcast);
    assert_eq!(tx.client_hw_addr(), c.mac);
    let (_, ack) = h.one(&c.select(offer.yiaddr, srv()));
    assert_eq!(ack.message_type(), Some(MessageType::ACK));
    let ch = h.changes();
    assert_eq!(ch.len(), 1);
    assert_eq!(
        (ch[0].kind, ch[0].origin, ch[0].seq),
        (ChangeKind::Added, Origin::Dhcp, 1)
    );
    let l = h.server.lease(offer.yiaddr).unwrap();
    assert_eq!(l.hwaddr, c.mac);
    assert_eq!(Some(&l.client_id), c.client_id.as_ref());
    assert_eq!((l.cltt, l.valid_lifetime, l.subnet_id), (h.unix, 3600, 1));
    // dhcproto reads the same reply.
    let tx = h.feed(&c.select(offer.yiaddr, srv())).pop().unwrap();
    let m = v4::Message::decode(&mut Decoder::new(&tx.payload)).unwrap();
    assert_eq!(m.opcode(), v4::Opcode::BootReply);
    assert_eq!(m.yiaddr(), offer.yiaddr);
    assert_eq!(m.xid(), c.xid);
    let o = m.opts();
    assert_eq!(o.msg_type(), Some(v4::MessageType::Ack));
    assert_eq!(
        o.get(v4::OptionCode::AddressLeaseTime),
        Some(&v4::DhcpOption::AddressLeaseTime(3600))
    );
    assert_eq!(
        o.get(v4::OptionCode::Renewal),
        Some(&v4::DhcpOption::Renewal(900))
    );
    assert_eq!(
        o.get(v4::OptionCode::Rebinding),
        Some(&v4::DhcpOption::Rebinding(1800))
    );
    assert_eq!(
        o.get(v4::OptionCode::ServerIdentifier),
        Some(&v4::DhcpOption::ServerIdentifier(srv()))
    );
    assert_eq!(
        o.get(v4::OptionCode::SubnetMask),
        Some(&v4::DhcpOption::SubnetMask(ip("255.255.255.0")))
    );
    assert_eq!(
        o.get(v4::OptionCode::Router),
        Some(&v4::DhcpOption::Router(vec![ip("192.0.2.1")]))
    );
    assert_eq!(
        o.get(v4::OptionCode::DomainNameServer),
        Some(&v4::DhcpOption::DomainNameServer(vec![
            ip("192.0.2.53"),
            ip("192.0.2.54")
        ]))
    );
    assert_eq!(
        o.get(v4::OptionCode::ClientIdentifier),
        Some(&v4::DhcpOption::ClientIdentifier(
            c.client_id.clone().unwrap()
        )),
        "echo-client-id"
    );
    assert_eq!(
        h.changes()[0].kind,
        ChangeKind::Updated,
        "a second REQUEST renews"
    );
}

#[test]
fn relayed_selection_by_relay_address_giaddr_and_link_selection() {
    let mut h = Harness::new(&config(TWO_SUBNETS));
    // giaddr 203.0.113.1 is listed in subnet 2's relay addresses: subnet 2, not subnet 3.
    let c = ClientSim::new(1).relayed(ip("203.0.113.1"));
    let (tx, offer) = h.one(&c.discover());
    assert_eq!(offer.yiaddr, ip("198.51.100.10"));
    assert_eq!(
        tx.dst,
        SocketAddrV4::new(ip("203.0.113.1"), 67),
        "server → relay on 67"
    );
    assert!(!tx.link_unicast && !tx.broadcast);
    assert_eq!(offer.giaddr, ip("203.0.113.1"));
    // giaddr 203.0.113.9 matched by prefix: subnet 3.
    let c2 = ClientSim::new(2).relayed(ip("203.0.113.9"));
    assert_eq!(h.dora(&c2), ip("203.0.113.100"));
    // Link selection (RFC 3527) overrides giaddr; option 82 is echoed.
    let mut c3 = ClientSim::new(3).relayed(ip("203.0.113.9"));
    let rai = RelayAgentInfo::default()
        .with_circuit_id(b"port7".to_vec())
        .with_link_selection(ip("192.0.2.0"));
    c3.relay_info = Some(rai.clone());
    let (_, offer) = h.one(&c3.discover());
    assert_eq!(offer.yiaddr, ip("192.0.2.10"));
    assert_eq!(offer.options.relay_agent_info, Some(rai));
    // Option 118 (subnet selection) likewise.
    let c4 = ClientSim::new(4).relayed(ip("203.0.113.9"));
    let mut d = c4.discover();
    d.options.subnet_selection = Some(ip("198.51.100.77"));
    let (_, offer) = h.one(&d);
    // .10 was only offered (nothing written) but the iterative allocator moved on.
    assert_eq!(offer.yiaddr, ip("198.51.100.11"));
    assert_eq!(offer.options.subnet_selection, Some(ip("198.51.100.77")));
    // A giaddr no subnet matches: no answer.
    let c5 = ClientSim::new(5).relayed(ip("10.9.9.9"));
    h.none(&c5.discover());
}

#[test]
fn direct_selection_by_interface_name_and_address() {
    let cfg = config(
        r#""subnet4": [
          {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]},
          {"id": 2, "subnet": "198.51.100.0/24", "interface": "eth9",
           "pools": [{"pool": "198.51.100.10 - 198.51.100.20"}]}]"#,
    );
    let mut h = Harness::new(&cfg);
    assert_eq!(
        h.dora(&ClientSim::new(1)),
        ip("192.0.2.10"),
        "by interface address"
    );
    h.ifname = "eth9".into();
    h.if_addrs = vec![ip("203.0.113.1")];
    let (_, o) = h.one(&ClientSim::new(2).discover());
    assert_eq!(o.yiaddr, ip("198.51.100.10"), "by interface name");
    // The server id: the interface address (the query was broadcast).
    assert_eq!(o.options.server_id, Some(ip("203.0.113.1")));
    // No subnet on the link: broadcast queries are dropped.
    h.ifname = "eth5".into();
    h.if_addrs = vec![ip("203.0.113.1")];
    h.none(&ClientSim::new(3).discover());
    assert_eq!(h.stat("pkt4-receive-drop"), 1);
}

#[test]
fn reply_destinations_rfc2131_4_1() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    // Broadcast flag set → 255.255.255.255:68.
    let mut c = ClientSim::new(1);
    c.broadcast = true;
    let (tx, offer) = h.one(&c.discover());
    assert_eq!(tx.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert!(tx.broadcast && !tx.link_unicast);
    assert_eq!(offer.flags & FLAG_BROADCAST, FLAG_BROADCAST, "flags copied");
    let a = h.dora(&c);
    // RENEWING (ciaddr, unicast) → ciaddr:68.
    let (tx, ack) = h.one(&c.renew(a));
    assert_eq!(tx.dst, SocketAddrV4::new(a, 68));
    assert_eq!(ack.ciaddr, a, "ACK to a renewal carries ciaddr");
    // NAK without giaddr → broadcast.
    let c2 = ClientSim::new(2);
    let (tx, nak) = h.one(&c2.select(a, srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    assert_eq!(tx.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(nak.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        nak.options.lease_time, None,
        "a NAK carries no lease options"
    );
    assert_eq!(nak.options.server_id, Some(srv()));
    // Relayed NAK → relay, broadcast flag as received.
    let mut c3 = ClientSim::new(3).relayed(ip("192.0.2.2"));
    c3.broadcast = true;
    let (tx, nak) = h.one(&c3.select(a, srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    assert_eq!(tx.dst, SocketAddrV4::new(ip("192.0.2.2"), 67));
    assert_eq!(nak.flags, FLAG_BROADCAST);
}

#[test]
fn renew_rebind_init_reboot_right_and_wrong() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let c = ClientSim::new(1);
    let a = h.dora(&c);
    h.changes();
    h.advance(900);
    // RENEWING: the lease's cltt moves.
    let (_, ack) = h.one(&c.renew(a));
    assert_eq!(ack.message_type(), Some(MessageType::ACK));
    assert_eq!(h.server.lease(a).unwrap().cltt, h.unix);
    assert_eq!(h.changes()[0].kind, ChangeKind::Updated);
    // REBINDING (broadcast, ciaddr): ACK, sent to ciaddr.
    h.advance(900);
    let out = h.feed_broadcast(&c.renew(a));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, SocketAddrV4::new(a, 68));
    assert_eq!(out[0].message_type, MessageType::ACK);
    // INIT-REBOOT, right address: ACK.
    let (_, ack) = h.one(&c.init_reboot(a));
    assert_eq!(
        (ack.message_type(), ack.yiaddr),
        (Some(MessageType::ACK), a)
    );
    // INIT-REBOOT, wrong address: NAK.
    let (_, nak) = h.one(&c.init_reboot(ip("192.0.2.150")));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    // INIT-REBOOT from a client we do not know: ignored (authoritative is false)...
    let stranger = ClientSim::new(9);
    h.none(&stranger.init_reboot(ip("192.0.2.150")));
    // ... and NAKed when authoritative.
    let mut h2 = Harness::new(&config(&format!(
        "\"authoritative\": true, {KEA_CAPTURE_CONFIG}"
    )));
    let (_, nak) = h2.one(&stranger.init_reboot(ip("192.0.2.150")));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    // RENEWING an address that belongs to another client: NAK, lease unchanged.
    let before = h.server.lease(a).unwrap().clone();
    let (_, nak) = h.one(&stranger.renew(a));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    assert_eq!(h.server.lease(a), Some(&before));
    // SELECTING naming another server: dropped, counted.
    let drops = h.stat("pkt4-receive-drop");
    h.none(&stranger.select(ip("192.0.2.120"), ip("192.0.2.99")));
    assert_eq!(h.stat("pkt4-receive-drop"), drops + 1);
    // SELECTING an address outside the pools: NAK.
    let (_, nak) = h.one(&stranger.select(ip("192.0.2.50"), srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
}

#[test]
fn moving_to_another_address_deletes_the_old_lease() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let c = ClientSim::new(1);
    let a = h.dora(&c);
    h.changes();
    let (_, ack) = h.one(&c.select(ip("192.0.2.150"), srv()));
    assert_eq!(ack.yiaddr, ip("192.0.2.150"));
    let ch = h.changes();
    assert_eq!(
        ch.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [ChangeKind::Deleted, ChangeKind::Added]
    );
    assert!(h.server.lease(a).is_none() && h.server.is_free(a));
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 1);
}

#[test]
fn release_and_decline_then_probation_end() {
    let cfg = config(&format!(
        "\"decline-probation-period\": 100, \"expired-leases-processing\": {{\"reclaim-timer-wait-time\": 5}}, {KEA_CAPTURE_CONFIG}"
    ));
    let mut h = Harness::new(&cfg);
    let c1 = ClientSim::new(1).with_client_id();
    let c2 = ClientSim::new(2);
    let a1 = h.dora(&c1);
    let a2 = h.dora(&c2);
    h.changes();
    // A RELEASE by someone else is ignored.
    h.none(&c2.release(a1, srv()));
    assert!(h.server.lease(a1).is_some());
    // RELEASE: deleted, freed, no reply.
    h.none(&c1.release(a1, srv()));
    assert!(h.server.lease(a1).is_none() && h.server.is_free(a1));
    assert_eq!(h.changes()[0].kind, ChangeKind::Deleted);
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 1);
    // DECLINE: declined for the probation period, client identity cleared.
    h.none(&c2.decline(a2, srv()));
    let l = h.server.lease(a2).unwrap();
    assert_eq!(l.state, LeaseState::Declined);
    assert!(l.hwaddr.is_empty() && l.client_id.is_empty() && l.hostname.is_empty());
    assert_eq!((l.valid_lifetime, l.cltt), (100, h.unix));
    assert_eq!(h.stat("declined-addresses"), 1);
    assert_eq!(h.stat("subnet[1].declined-addresses"), 1);
    assert_eq!(
        h.stat("subnet[1].assigned-addresses"),
        1,
        "Kea keeps it assigned until reclaimed"
    );
    assert!(!h.server.is_free(a2));
    // Nobody gets it during probation.
    let c3 = ClientSim::new(3);
    let (_, o) = h.one(&c3.discover());
    assert_ne!(o.yiaddr, a2);
    let (_, nak) = h.one(&c3.select(a2, srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    // Probation ends: reclaimed at the next cycle.
    h.advance(99);
    h.server.handle_timeout(h.now, h.unix);
    assert!(h.server.lease(a2).is_some(), "not yet");
    h.advance(6);
    assert!(h.server.poll_timeout().unwrap() <= h.now);
    h.server.handle_timeout(h.now, h.unix);
    assert!(h.server.lease(a2).is_none() && h.server.is_free(a2));
    assert_eq!(h.stat("declined-addresses"), 0);
    assert_eq!(h.stat("reclaimed-declined-addresses"), 1);
    assert_eq!(h.stat("subnet[1].reclaimed-declined-addresses"), 1);
    assert_eq!(h.stat("subnet[1].reclaimed-leases"), 1);
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 0);
    let del = h.changes().into_iter().last().unwrap();
    assert_eq!(
        (del.kind, del.origin),
        (ChangeKind::Deleted, Origin::Reclamation)
    );
}

#[test]
fn inform_gets_options_and_no_lease() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let c = ClientSim::new(1);
    let (tx, ack) = h.one(&c.inform(ip("192.0.2.77")));
    assert_eq!(ack.message_type(), Some(MessageType::ACK));
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.ciaddr, ip("192.0.2.77"));
    assert_eq!(tx.dst, SocketAddrV4::new(ip("192.0.2.77"), 68));
    assert_eq!(ack.options.lease_time, None);
    assert_eq!(ack.options.routers, Some(vec![ip("192.0.2.1")]));
    assert_eq!(ack.options.server_id, Some(srv()));
    assert!(h.changes().is_empty() && h.server.store().is_empty());
    // A relayed INFORM without ciaddr goes to the relay with the broadcast flag.
    let c2 = ClientSim::new(2).relayed(ip("192.0.2.2"));
    let (tx, ack) = h.one(&c2.inform(Ipv4Addr::UNSPECIFIED));
    assert_eq!(tx.dst, SocketAddrV4::new(ip("192.0.2.2"), 67));
    assert_eq!(ack.flags & FLAG_BROADCAST, FLAG_BROADCAST);
    // An INFORM with a server id is an RFC violation: dropped.
    let mut bad = c.inform(ip("192.0.2.77"));
    bad.options.server_id = Some(srv());
    h.none(&bad);
}

const RESERVATIONS: &str = r#"
    "valid-lifetime": 600,
    "option-data": [{"name": "domain-name", "data": "global.example"},
                    {"name": "ntp-servers", "data": "192.0.2.123"}],
    "subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
      "pools": [{"pool": "192.0.2.10 - 192.0.2.12",
                 "option-data": [{"name": "domain-name", "data": "pool.example"}]}],
      "option-data": [{"name": "domain-name", "data": "subnet.example"},
                      {"name": "routers", "data": "192.0.2.1"},
                      {"name": "time-offset", "data": "3600"},
                      {"name": "interface-mtu", "data": "1400", "always-send": true}],
      "reservations": [
        {"hw-address": "02:00:00:00:00:01", "ip-address": "192.0.2.11", "hostname": "alpha",
         "option-data": [{"name": "domain-name", "data": "host.example"}]},
        {"client-id": "01:02:00:00:00:00:02", "ip-address": "192.0.2.50"}]}]
"#;

#[test]
fn reservations_by_hw_and_client_id_and_skipped_for_others() {
    let mut h = Harness::new(&config(RESERVATIONS));
    // Another client never gets .11 (reserved): the pool yields .10 then .12.
    let x = ClientSim::new(100);
    let y = ClientSim::new(101);
    assert_eq!(h.dora(&x), ip("192.0.2.10"));
    assert_eq!(h.dora(&y), ip("192.0.2.12"));
    let z = ClientSim::new(102);
    h.none(&z.discover());
    // Asking for it: NAK.
    let (_, nak) = h.one(&z.select(ip("192.0.2.11"), srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    // The host with the hw reservation gets it, with its hostname and option-data.
    let alpha = ClientSim::new(1);
    assert_eq!(alpha.mac, [2, 0, 0, 0, 0, 1]);
    let mut alpha_h = alpha.clone();
    alpha_h.prl.push(12);
    let (_, offer) = h.one(&alpha_h.discover());
    assert_eq!(offer.yiaddr, ip("192.0.2.11"));
    assert_eq!(offer.options.hostname.as_deref(), Some(&b"alpha"[..]));
    assert_eq!(
        offer.options.domain_name.as_deref(),
        Some(&b"host.example"[..])
    );
    assert_eq!(h.dora(&alpha), ip("192.0.2.11"));
    assert_eq!(h.server.lease(ip("192.0.2.11")).unwrap().hostname, "alpha");
    // A client-id reservation, out of the pool (in the subnet).
    let beta = ClientSim::new(2).with_client_id();
    assert_eq!(beta.client_id.as_deref(), Some(&[1, 2, 0, 0, 0, 0, 2][..]));
    assert_eq!(h.dora(&beta), ip("192.0.2.50"));
    // The reserved host asking for another address is NAKed (its reservation is free).
    let beta2 = ClientSim::new(2).with_client_id();
    h.server.delete_lease(ip("192.0.2.50"), Origin::Control);
    let (_, nak) = h.one(&beta2.select(ip("192.0.2.10"), srv()));
    assert_eq!(nak.message_type(), Some(MessageType::NAK));
    // Releasing a reserved address does not free it for the pool.
    h.none(&alpha.release(ip("192.0.2.11"), srv()));
    assert!(!h.server.is_free(ip("192.0.2.11")));
}

#[test]
fn option_precedence_and_parameter_request_list() {
    let mut h = Harness::new(&config(RESERVATIONS));
    let mut c = ClientSim::new(100);
    c.prl = vec![1, 3, 42];
    let (_, offer) = h.one(&c.discover());
    let o = &offer.options;
    // Pool beats subnet beats global; domain-name (15) is basic: sent unasked.
    assert_eq!(o.domain_name.as_deref(), Some(&b"pool.example"[..]));
    // Requested: NTP from the global level.
    assert_eq!(o.ntp_servers, Some(vec![ip("192.0.2.123")]));
    assert_eq!(o.routers, Some(vec![ip("192.0.2.1")]));
    // Not requested and not basic: time offset left out; always-send MTU included.
    assert_eq!(o.time_offset, None);
    assert_eq!(o.interface_mtu, Some(1400));
    assert_eq!(o.subnet_mask, Some(ip("255.255.255.0")));
    assert_eq!(o.lease_time, Some(600));
    // No renew/rebind configured and calculate-tee-times off: no T1/T2.
    assert_eq!((o.renewal_time, o.rebinding_time), (None, None));
    // Requesting time-offset brings it.
    c.prl = vec![2];
    let (_, offer) = h.one(&c.discover());
    assert_eq!(offer.options.time_offset, Some(3600));
}

#[test]
fn tee_times_calculated_and_lease_time_bounds() {
    let cfg = config(
        r#""valid-lifetime": 1000, "min-valid-lifetime": 500, "max-valid-lifetime": 2000,
           "calculate-tee-times": true,
           "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}]"#,
    );
    let mut h = Harness::new(&cfg);
    let c = ClientSim::new(1);
    let (_, o) = h.one(&c.discover());
    assert_eq!(o.options.lease_time, Some(1000));
    assert_eq!(
        (o.options.renewal_time, o.options.rebinding_time),
        (Some(500), Some(875))
    );
    let mut d = c.discover();
    d.options.lease_time = Some(10);
    assert_eq!(h.one(&d).1.options.lease_time, Some(500), "clamped to min");
    d.options.lease_time = Some(1_000_000);
    assert_eq!(h.one(&d).1.options.lease_time, Some(2000), "clamped to max");
}

#[test]
fn match_client_id_false_matches_by_hw_address() {
    let cfg = config(&format!("\"match-client-id\": false, {KEA_CAPTURE_CONFIG}"));
    let mut h = Harness::new(&cfg);
    let mut c = ClientSim::new(1).with_client_id();
    let a = h.dora(&c);
    assert!(
        h.server.lease(a).unwrap().client_id.is_empty(),
        "Kea stores no client-id then"
    );
    // Same MAC, another client-id: still the same client.
    c.client_id = Some(vec![0xff, 9, 9, 9]);
    let (_, o) = h.one(&c.discover());
    assert_eq!(o.yiaddr, a);
    // With matching on (default), another client-id is another client.
    let mut h2 = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let mut c2 = ClientSim::new(1).with_client_id();
    let a2 = h2.dora(&c2);
    c2.client_id = Some(vec![0xff, 9, 9, 9]);
    let (_, o) = h2.one(&c2.discover());
    assert_ne!(o.yiaddr, a2);
}

#[test]
fn full_pool_gives_no_offer_and_counts_allocation_failures() {
    let cfg = config(
        r#""subnet4": [{"id": 5, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.12"}]},
                       {"id": 6, "subnet": "198.51.100.0/24", "interface": "eth6"}]"#,
    );
    let mut h = Harness::new(&cfg);
    for n in 0..3 {
        h.dora(&ClientSim::new(n));
    }
    assert_eq!(h.server.free_count(5), Some(0));
    let late = ClientSim::new(99);
    h.none(&late.discover());
    assert_eq!(h.stat("v4-allocation-fail"), 1);
    assert_eq!(h.stat("v4-allocation-fail-subnet"), 1);
    assert_eq!(h.stat("subnet[5].v4-allocation-fail"), 1);
    assert_eq!(h.stat("subnet[5].v4-allocation-fail-subnet"), 1);
    assert_eq!(h.stat("pkt4-nak-sent"), 0, "no NAK for a DISCOVER");
    // A subnet with no pool: the no-pools counter.
    h.ifname = "eth6".into();
    h.none(&late.discover());
    assert_eq!(h.stat("subnet[6].v4-allocation-fail-no-pools"), 1);
    assert_eq!(h.stat("v4-allocation-fail"), 2);
}

#[test]
fn malformed_and_unwanted_packets_are_counted_never_answered() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    assert!(h.feed_from(src, Ipv4Addr::BROADCAST, &[1, 2, 3]).is_empty());
    let mut bytes = ClientSim::new(1).discover().to_vec().unwrap();
    bytes[236] = 0; // magic cookie
    assert!(h.feed_from(src, Ipv4Addr::BROADCAST, &bytes).is_empty());
    assert_eq!(h.stat("pkt4-parse-failed"), 2);
    // An OFFER received, a packet with no message type.
    let mut offer = ClientSim::new(1).discover();
    offer.options.message_type = Some(MessageType::OFFER);
    h.none(&offer);
    let mut none = ClientSim::new(1).discover();
    none.options.message_type = None;
    h.none(&none);
    assert_eq!(h.stat("pkt4-offer-received"), 1);
    assert_eq!(h.stat("pkt4-unknown-received"), 1);
    // No hardware address and no client-id.
    let mut anon = ClientSim::new(1).discover();
    anon.hlen = 0;
    h.none(&anon);
    assert_eq!(h.stat("pkt4-received"), 5);
    assert_eq!(h.stat("pkt4-receive-drop"), 5);
    assert_eq!(h.stat("pkt4-sent"), 0);
}

#[test]
fn statistics_after_a_scripted_exchange() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let clients: Vec<ClientSim> = (0..4).map(ClientSim::new).collect();
    let addrs: Vec<Ipv4Addr> = clients.iter().map(|c| h.dora(c)).collect();
    h.one(&clients[0].renew(addrs[0]));
    h.none(&clients[1].release(addrs[1], srv()));
    h.none(&clients[2].decline(addrs[2], srv()));
    h.one(&clients[3].select(ip("192.0.2.160"), srv())); // moves
    h.one(&ClientSim::new(9).select(addrs[0], srv())); // NAK
    let want = [
        ("pkt4-received", 4 * 2 + 5),
        ("pkt4-discover-received", 4),
        ("pkt4-request-received", 4 + 3),
        ("pkt4-release-received", 1),
        ("pkt4-decline-received", 1),
        ("pkt4-sent", 8 + 3),
        ("pkt4-offer-sent", 4),
        ("pkt4-ack-sent", 4 + 2),
        ("pkt4-nak-sent", 1),
        ("cumulative-assigned-addresses", 5),
        ("declined-addresses", 1),
        ("subnet[1].total-addresses", 101),
        ("subnet[1].assigned-addresses", 3),
        ("subnet[1].declined-addresses", 1),
        ("subnet[1].cumulative-assigned-addresses", 5),
        ("reclaimed-leases", 0),
    ];
    for (name, v) in want {
        assert_eq!(h.stat(name), v, "{name}");
    }
    let all: Vec<_> = h.server.stats().iter().collect();
    assert!(
        all.iter()
            .any(|e| e.name == "subnet[1].assigned-addresses" && e.value.value == 3)
    );
    assert_eq!(all.len(), 25 + 11);
}

#[test]
fn full_pool_reuses_an_expired_lease_before_reclamation() {
    let cfg = config(
        r#""valid-lifetime": 100, "expired-leases-processing": {"reclaim-timer-wait-time": 0},
           "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.12"}]}]"#,
    );
    let mut h = Harness::new(&cfg);
    assert_eq!(h.server.poll_timeout(), None, "reclamation off");
    for n in 0..3 {
        h.dora(&ClientSim::new(n));
    }
    let late = ClientSim::new(50);
    h.none(&late.discover());
    h.advance(101);
    // Nothing reclaimed (timer off), yet the expired lease of .10 can be reused.
    let a = h.dora(&late);
    assert_eq!(a, ip("192.0.2.10"));
    assert_eq!(h.server.lease(a).unwrap().hwaddr, late.mac);
    assert_eq!(h.server.store().len(), 3);
    assert_eq!(h.stat("subnet[1].assigned-addresses"), 3);
}

#[test]
fn configured_server_identifier_is_used_and_accepted() {
    let cfg = config(&format!(
        "\"option-data\": [{{\"name\": \"dhcp-server-identifier\", \"data\": \"203.0.113.7\"}}], {KEA_CAPTURE_CONFIG}"
    ));
    let mut h = Harness::new(&cfg);
    let c = ClientSim::new(1);
    let (tx, offer) = h.one(&c.discover());
    assert_eq!(offer.options.server_id, Some(ip("203.0.113.7")));
    assert_eq!(tx.src, ip("203.0.113.7"));
    let (_, ack) = h.one(&c.select(offer.yiaddr, ip("203.0.113.7")));
    assert_eq!(ack.message_type(), Some(MessageType::ACK));
}

#[test]
fn offers_reserve_nothing_two_clients_may_be_offered_one_address() {
    let mut h = Harness::new(&config(KEA_CAPTURE_CONFIG));
    let a = ClientSim::new(1);
    let b = ClientSim::new(2);
    let x = ip("192.0.2.150");
    let mut da = a.discover();
    da.options.requested_ip = Some(x);
    let mut db = b.discover();
    db.options.requested_ip = Some(x);
    assert_eq!(h.one(&da).1.yiaddr, x);
    assert_eq!(
        h.one(&db).1.yiaddr,
        x,
        "Kea offers it again: offers write nothing"
    );
    // The first REQUEST wins, the second is NAKed.
    assert_eq!(
        h.one(&b.select(x, srv())).1.message_type(),
        Some(MessageType::ACK)
    );
    assert_eq!(
        h.one(&a.select(x, srv())).1.message_type(),
        Some(MessageType::NAK)
    );
    // Now a DISCOVER asking for it is offered another address.
    assert_ne!(h.one(&da).1.yiaddr, x);
}

#[test]
fn reservations_in_subnet_false_ignores_reservations() {
    let cfg = config(&RESERVATIONS.replace(
        "\"valid-lifetime\": 600,",
        "\"valid-lifetime\": 600, \"reservations-in-subnet\": false,",
    ));
    let mut h = Harness::new(&cfg);
    assert_eq!(h.dora(&ClientSim::new(100)), ip("192.0.2.10"));
    assert_eq!(
        h.dora(&ClientSim::new(101)),
        ip("192.0.2.11"),
        "not reserved any more"
    );
    assert_ne!(h.dora(&ClientSim::new(1)), ip("192.0.2.11"));
}
