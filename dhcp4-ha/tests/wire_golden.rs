//! Golden tests: real packets from ISC dhclient 4.4.3, udhcpc (BusyBox 1.35), dhcpcd 9.4,
//! systemd-networkd 252, perfdhcp 2.2 and the Kea 2.2 server answering them (captured in
//! network namespaces into tests/data/kea22_clients.pcap, rendered by tcpdump in
//! kea22_clients.txt), and hand-written packets with split options and option overload.
//! Every one decodes to what tcpdump shows and re-emits byte for byte; Kea's replies are
//! rebuilt from scratch byte for byte.

mod common;

use std::net::Ipv4Addr;

use dhcp4_ha::fuzzing;
use dhcp4_ha::wire::{
    Area, Dhcp4Repr, MessageType, Op, Options, Overload, Packet, RelayAgentInfo, code,
};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn parse(bytes: &[u8]) -> Dhcp4Repr {
    Dhcp4Repr::from_bytes(bytes).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_golden_packet_round_trips() {
    let golden = common::golden();
    assert_eq!(golden.len(), 38 + common::FIXTURES.len());
    for (name, bytes) in golden {
        let repr = parse(&bytes);
        assert_eq!(repr.buffer_len(), bytes.len(), "{name}");
        assert_eq!(repr.to_vec().unwrap(), bytes, "{name}: emit(parse(x)) != x");
        // The view, the iterator, the canonical re-encoding and option 82 all hold up.
        fuzzing::roundtrip(&bytes);
    }
}

/// Which captured packets keep a layout: the clients' own option orders and padding. Kea's
/// replies and perfdhcp's requests (written by Kea's libdhcp++) are in canonical order.
#[test]
fn capture_summary() {
    let caps = common::capture("kea22_clients.pcap");
    let keeps_layout = [0, 2, 4, 6, 7, 9, 11, 13, 15, 17];
    let types = [
        1, 2, 3, 5, 3, 5, 7, // dhclient: DORA, INIT-REBOOT, RELEASE
        1, 2, 3, 5, // udhcpc
        1, 2, 3, 5, // dhcpcd
        1, 2, 3, 5, 7, // systemd-networkd
        1, 2, 1, 2, 3, 5, 1, 2, 3, 5, // perfdhcp
        1, 2, 3, 5, 1, 2, 3, 5, // perfdhcp with option 82
    ];
    assert_eq!(caps.len(), types.len());
    for (i, c) in caps.iter().enumerate() {
        let r = parse(&c.payload);
        let from_server = c.sport == 67 && c.src == ip("192.0.2.1");
        assert_eq!(
            r.op,
            if from_server { Op::REPLY } else { Op::REQUEST },
            "#{i}"
        );
        assert_eq!(r.message_type(), Some(MessageType(types[i])), "#{i}");
        assert_eq!(r.layout.is_some(), keeps_layout.contains(&i), "#{i} layout");
        assert_eq!((r.htype, r.hlen), (1, 6));
        assert_eq!(r.client_hw_addr(), &r.chaddr[..6]);
        let view = Packet::new_checked(&c.payload[..]).unwrap();
        assert_eq!(view.xid(), r.xid);
        assert_eq!(view.message_type(), r.message_type());
        if from_server {
            // Kea answers in its canonical order, with no padding: what we emit by default.
            assert_eq!(r.options.codes().next(), Some(code::MESSAGE_TYPE));
            assert_eq!(r.options.server_id, Some(ip("192.0.2.1")));
            assert_eq!(r.options.lease_time, Some(3600));
            assert_eq!(r.options.renewal_time, Some(900));
            assert_eq!(r.options.rebinding_time, Some(1800));
        }
    }
}

#[test]
fn dhclient_discover() {
    let p = &common::kea22_clients()[0];
    assert_eq!(p.len(), 300, "dhclient pads to the BOOTP minimum");
    let r = parse(p);
    assert_eq!(r.xid, 0x7ae7_f06a);
    assert_eq!(r.client_hw_addr(), [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
    assert_eq!(r.flags, 0);
    assert!(!r.broadcast());
    let o = &r.options;
    assert_eq!(o.message_type, Some(MessageType::DISCOVER));
    assert_eq!(o.hostname.as_deref(), Some(&b"vm"[..]));
    assert_eq!(
        o.parameter_request_list.as_deref(),
        Some(&[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42][..])
    );
    assert_eq!(o.len(), 3);
    let layout = r.layout.as_ref().unwrap();
    assert_eq!(layout.trailer(), &[0; 37][..]);
    assert!(layout.has_end(Area::Options));
    assert_eq!(layout.overload(), None);
    assert!(!layout.has_pads());
}

#[test]
fn dhclient_request_keeps_its_order() {
    let caps = common::kea22_clients();
    let r = parse(&caps[2]);
    let order: Vec<u8> = r
        .layout
        .as_ref()
        .unwrap()
        .instances()
        .map(|i| i.1)
        .collect();
    assert_eq!(order, [53, 54, 50, 12, 55]);
    assert_eq!(r.options.server_id, Some(ip("192.0.2.1")));
    assert_eq!(r.options.requested_ip, Some(ip("192.0.2.100")));
    // The INIT-REBOOT request has no server id; the release is unicast with ciaddr.
    let reboot = parse(&caps[4]);
    assert_eq!(reboot.options.server_id, None);
    assert_eq!(reboot.options.requested_ip, Some(ip("192.0.2.100")));
    let release = parse(&caps[6]);
    assert_eq!(release.message_type(), Some(MessageType::RELEASE));
    assert_eq!(release.ciaddr, ip("192.0.2.100"));
}

#[test]
fn udhcpc_dhcpcd_networkd() {
    let caps = common::kea22_clients();
    let udhcpc = parse(&caps[7]);
    assert_eq!(udhcpc.options.max_message_size, Some(576));
    assert_eq!(
        udhcpc.options.vendor_class_id.as_deref(),
        Some(&b"udhcp 1.35.0"[..])
    );
    assert_eq!(
        udhcpc.options.client_id.as_deref(),
        Some(&[1, 2, 0, 0x5e, 0x10, 0, 2][..])
    );
    assert_eq!(
        udhcpc.options.hostname.as_deref(),
        Some(&b"udhcpc-host"[..])
    );

    let dhcpcd = parse(&caps[11]);
    // Rapid commit (80, empty) and forcerenew-nonce-capable (145) stay raw.
    assert_eq!(dhcpcd.options.other.get(80), Some(&[][..]));
    assert_eq!(dhcpcd.options.other.get(145), Some(&[1][..]));
    assert_eq!(
        dhcpcd.options.client_id.as_ref().unwrap()[0],
        0xff,
        "RFC 4361 client id"
    );
    let request = parse(&caps[13]);
    let first = request.layout.as_ref().unwrap().instances().next().unwrap();
    assert_eq!(
        first,
        (Area::Options, code::REQUESTED_IP, 4),
        "dhcpcd puts 50 first"
    );

    let networkd = parse(&caps[15]);
    assert_eq!(networkd.secs, 1);
    assert_eq!(networkd.options.max_message_size, Some(1472));
    assert_eq!(
        networkd.options.parameter_request_list.as_deref(),
        Some(&[1, 3, 6, 12, 15, 33, 42, 120, 121][..])
    );
    let release = parse(&caps[19]);
    assert_eq!(release.ciaddr, ip("192.0.2.103"));
    assert_eq!(release.layout, None, "53, 61, END is canonical");
}

#[test]
fn perfdhcp_relayed_with_option_82() {
    let caps = common::kea22_clients();
    let discover = parse(&caps[30]);
    assert_eq!(discover.hops, 1);
    assert_eq!(discover.giaddr, ip("192.0.2.2"));
    let rai = discover.options.relay_agent_info.as_ref().unwrap();
    assert_eq!(rai.circuit_id(), Some(&b"vlan10"[..]));
    assert_eq!(
        rai.remote_id(),
        Some(&[0x02, 0x00, 0x5e, 0x10, 0x00, 0x99][..])
    );
    assert_eq!(rai.link_selection(), Some(ip("192.0.2.0")));
    assert_eq!(rai.sub_options.len(), 3);
    // Kea echoes option 82 unchanged, last.
    let ack = parse(&caps[33]);
    assert_eq!(ack.options.relay_agent_info.as_ref(), Some(rai));
    assert_eq!(ack.options.codes().last(), Some(code::RELAY_AGENT_INFO));
    let request = parse(&caps[32]);
    assert_eq!(request.options.requested_ip, Some(ip("192.0.2.106")));
}

/// Kea's replies, rebuilt from the request with `reply_to` and the configured options,
/// are the very bytes Kea sent.
#[test]
fn kea_replies_rebuilt_byte_for_byte() {
    let caps = common::kea22_clients();
    let pairs = [
        (0, 1),
        (2, 3),
        (4, 5),
        (7, 8),
        (9, 10),
        (11, 12),
        (13, 14),
        (15, 16),
        (17, 18),
        (20, 21),
        (24, 25),
        (30, 31),
        (32, 33),
    ];
    for (q, a) in pairs {
        let request = parse(&caps[q]);
        let kea = parse(&caps[a]);
        let t = if request.message_type() == Some(MessageType::DISCOVER) {
            MessageType::OFFER
        } else {
            MessageType::ACK
        };
        let mut reply = Dhcp4Repr::reply_to(&request, t);
        reply.yiaddr = kea.yiaddr;
        let o = &mut reply.options;
        o.subnet_mask = Some(ip("255.255.255.0"));
        o.routers = Some(vec![ip("192.0.2.1")]);
        o.domain_name_servers = Some(vec![ip("192.0.2.53"), ip("192.0.2.54")]);
        o.domain_name = Some(b"example.org".to_vec());
        o.hostname = request.options.hostname.clone(); // Kea echoes the client's name
        o.lease_time = Some(3600);
        o.server_id = Some(ip("192.0.2.1"));
        o.renewal_time = Some(900);
        o.rebinding_time = Some(1800);
        assert_eq!(reply.to_vec().unwrap(), caps[a], "reply #{a} to #{q}");
    }
}

#[test]
fn split_options_are_joined() {
    let bytes = common::hex_fixture("split_rfc3396.hex");
    let r = parse(&bytes);
    assert_eq!(r.message_type(), Some(MessageType::ACK));
    assert!(r.broadcast());
    let routes = r.options.other.get(code::CLASSLESS_STATIC_ROUTE).unwrap();
    assert_eq!(
        routes,
        [24, 192, 0, 2, 198, 51, 100, 1, 0, 198, 51, 100, 1],
        "121 joined across option 1"
    );
    assert_eq!(
        r.options.domain_name_servers,
        Some(vec![ip("198.51.100.53"), ip("198.51.100.54")])
    );
    assert_eq!(r.options.subnet_mask, Some(ip("255.255.255.0")));
    let rai = r.options.relay_agent_info.as_ref().unwrap();
    assert_eq!(rai.circuit_id(), Some(&b"p1/3"[..]));
    // The view joins them the same way, borrowed when not split.
    let view = Packet::new_checked(&bytes[..]).unwrap();
    let opts: Vec<_> = view.options().collect();
    let codes: Vec<u8> = opts.iter().map(|o| o.code).collect();
    assert_eq!(codes, [53, 54, 121, 1, 51, 6, 15, 82]);
    assert!(matches!(opts[0].data, std::borrow::Cow::Borrowed(_)));
    assert!(matches!(opts[2].data, std::borrow::Cow::Owned(_)));
    assert_eq!(opts[2].offset, 243 + 6);
    // Each instance is in the layout.
    let sizes: Vec<(u8, u8)> = r
        .layout
        .as_ref()
        .unwrap()
        .instances()
        .map(|(_, c, l)| (c, l))
        .collect();
    assert_eq!(sizes[2..4], [(121, 6), (1, 4)]);
    assert_eq!(sizes[6..9], [(6, 4), (6, 0), (6, 4)]);
}

#[test]
fn overload_into_file_and_sname() {
    let bytes = common::hex_fixture("overload_both.hex");
    let view = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(view.overload(), Some(Overload::Both));
    let r = parse(&bytes);
    let o = &r.options;
    assert_eq!(o.message_type, Some(MessageType::OFFER));
    assert_eq!(o.server_id, Some(ip("203.0.113.1")));
    assert_eq!(o.lease_time, Some(86_400));
    assert_eq!(o.subnet_mask, Some(ip("255.255.255.0")));
    assert_eq!(o.routers, Some(vec![ip("203.0.113.1")]));
    // Joined across the options field and file (RFC 3396 §7).
    assert_eq!(
        o.domain_name_servers,
        Some(vec![ip("203.0.113.53"), ip("203.0.113.54")])
    );
    assert_eq!(
        (o.renewal_time, o.rebinding_time),
        (Some(43_200), Some(75_600))
    );
    assert_eq!(o.domain_name.as_deref(), Some(&b"example.com"[..]));
    assert_eq!(o.hostname.as_deref(), Some(&b"host42"[..]));
    // The overloaded fields read as zeros; siaddr is a plain header field.
    assert_eq!(r.sname, [0; 64]);
    assert_eq!(r.file, [0; 128]);
    assert_eq!(r.siaddr, ip("203.0.113.1"));
    assert!(r.overloads(Area::File) && r.overloads(Area::Sname));
    let areas: Vec<Area> = r
        .layout
        .as_ref()
        .unwrap()
        .instances()
        .map(|i| i.0)
        .collect();
    assert_eq!(areas.iter().filter(|a| **a == Area::Sname).count(), 2);
    // Dropping the layout writes the same options canonically, without overload.
    let mut canonical = r.clone();
    canonical.layout = None;
    let flat = canonical.to_vec().unwrap();
    let again = parse(&flat);
    assert_eq!(again.options, r.options);
    assert_eq!(Packet::new_checked(&flat[..]).unwrap().overload(), None);
}

#[test]
fn overload_file_without_end() {
    let bytes = common::hex_fixture("overload_file_no_end.hex");
    let r = parse(&bytes);
    let o = &r.options;
    assert_eq!(o.message_type, Some(MessageType::REQUEST));
    assert_eq!(o.requested_ip, Some(ip("192.0.2.42")));
    assert_eq!(
        o.client_id.as_deref(),
        Some(&[1, 2, 0, 0x5e, 0, 0x53, 1][..])
    );
    assert_eq!(
        o.parameter_request_list.as_deref(),
        Some(&[1, 3, 6, 15][..])
    );
    assert_eq!(
        o.vendor_class_id.as_deref(),
        Some(&b"MSFT 5.0 compatible!"[..])
    );
    let l = r.layout.as_ref().unwrap();
    assert_eq!(l.overload(), Some(Overload::File));
    assert!(!l.has_end(Area::File));
    assert!(l.has_pads());
    assert_eq!(l.trailer(), [0; 4]);
}

/// Editing a parsed packet: values of the same length keep the client's layout; anything
/// else is written canonically.
#[test]
fn edits_keep_or_drop_the_layout() {
    let original = common::kea22_clients()[2].clone(); // dhclient REQUEST, padded
    let mut r = parse(&original);
    r.options.requested_ip = Some(ip("192.0.2.77"));
    r.hops = 1;
    let edited = r.to_vec().unwrap();
    assert_eq!(edited.len(), original.len());
    let diff: Vec<usize> = (0..edited.len())
        .filter(|&i| edited[i] != original[i])
        .collect();
    assert_eq!(
        diff,
        [3, 254],
        "only hops and the last byte of the address differ"
    );

    r.options.hostname = Some(b"longer-name".to_vec());
    assert!(
        r.effective_layout().is_none(),
        "a new length drops the layout"
    );
    let canonical = r.to_vec().unwrap();
    let again = parse(&canonical);
    assert_eq!(again.layout, None);
    assert_eq!(again.options, r.options);
    assert_eq!(
        again.options.codes().collect::<Vec<_>>(),
        [53, 12, 50, 54, 55],
        "Kea's order: 53 first, then ascending"
    );
}

#[test]
fn long_options_are_split_in_255_byte_pieces() {
    let mut r = Dhcp4Repr {
        options: Options {
            message_type: Some(MessageType::ACK),
            relay_agent_info: Some(RelayAgentInfo::default().with_circuit_id(*b"eth0")),
            ..Options::default()
        },
        ..Dhcp4Repr::default()
    };
    r.options.set(code::DOMAIN_SEARCH, &[7; 600]).unwrap();
    r.options.routers = Some((0..100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect());
    let bytes = r.to_vec().unwrap();
    let view = Packet::new_checked(&bytes[..]).unwrap();
    let instances: Vec<(u8, usize)> = view
        .tokens()
        .filter_map(|t| t.unwrap().option().map(|(c, d)| (c, d.len())))
        .collect();
    assert_eq!(
        instances,
        [
            (53, 1),
            (3, 255),
            (3, 145),
            (119, 255),
            (119, 255),
            (119, 90),
            (82, 6)
        ]
    );
    let again = parse(&bytes);
    assert_eq!(again, r, "canonical splits need no layout");
}
