//! dhcp4d with a tiny raw DHCP client (dhcp4-ha's codec on a UDP socket bound to port 68 in
//! a namespace without an address): DORA by broadcast, then DHCPDECLINE (which perfdhcp
//! cannot send) puts the lease on probation in the memfile; and an OFFER to a client that
//! asked for unicast reaches it as a link-layer unicast to `yiaddr` at `chaddr` (seen by
//! tcpdump in the client's namespace). Needs root, iproute2 and tcpdump.

mod dhcp4d_common;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use dhcp4_ha::lease::{LeaseState, LeaseStore as _};
use dhcp4_ha::wire::{Dhcp4Repr, FLAG_BROADCAST, MessageType};
use dhcp4d_common::*;
use examples::netns::{NODE_IF, Node, require_bin, wait_until};
use serde_json::{Value, json};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const TAG: &str = "d4x";
const PROBATION: u32 = 600;

/// A client socket: UDP port 68 on `eth0` of `node`, broadcast allowed.
fn client_socket(node: &Node) -> UdpSocket {
    node.enter(|| {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind_device(Some(NODE_IF.as_bytes())).unwrap();
        s.bind(&SockAddr::from(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            68,
        )))
        .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        UdpSocket::from(s)
    })
}

struct Client {
    sock: UdpSocket,
    mac: [u8; 6],
    xid: u32,
}

impl Client {
    fn query(&self, t: MessageType) -> Dhcp4Repr {
        let mut q = Dhcp4Repr {
            xid: self.xid,
            flags: FLAG_BROADCAST,
            ..Dhcp4Repr::default()
        };
        q.chaddr[..6].copy_from_slice(&self.mac);
        q.options.message_type = Some(t);
        q
    }

    fn send(&self, q: &Dhcp4Repr) {
        let bytes = q.to_vec().unwrap();
        self.sock
            .send_to(&bytes, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67))
            .unwrap();
    }

    /// Waits up to 5 s for a reply of type `t` to our xid.
    #[track_caller]
    fn expect(&self, t: MessageType) -> Dhcp4Repr {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            let Ok(n) = self.sock.recv(&mut buf) else {
                continue;
            };
            let Ok(r) = Dhcp4Repr::from_bytes(&buf[..n]) else {
                continue;
            };
            if r.xid == self.xid && r.message_type() == Some(t) {
                return r;
            }
        }
        panic!("no {t:?} for xid {:#x} within 5 s", self.xid);
    }
}

#[test]
fn decline_puts_the_lease_on_probation() {
    let s = Setup::new(TAG, None);
    let conf = config(
        &s,
        lan_subnet("192.0.2.10 - 192.0.2.20"),
        json!({ "decline-probation-period": PROBATION }),
    );
    let conf = write_config(&s, "kea-dhcp4.conf", &conf);
    let d = start_dhcp4d(&s.srv, &conf, &["--http", "127.0.0.1:8004"]);
    let c = Client {
        sock: client_socket(&s.cli),
        mac: [0x02, 0, 0x5e, 0, 0x53, 0x01],
        xid: 0x1234_5678,
    };
    c.send(&c.query(MessageType::DISCOVER));
    let offer = c.expect(MessageType::OFFER);
    let sid = offer.options.server_id.expect("server identifier");
    assert_eq!(sid, ip(SERVER_IP));
    let addr = offer.yiaddr;
    let mut req = c.query(MessageType::REQUEST);
    req.options.requested_ip = Some(addr);
    req.options.server_id = Some(sid);
    c.send(&req);
    let ack = c.expect(MessageType::ACK);
    assert_eq!(ack.yiaddr, addr);
    // The address is in use (an ARP probe would say so): decline it.
    let mut dec = c.query(MessageType::DECLINE);
    dec.options.requested_ip = Some(addr);
    dec.options.server_id = Some(sid);
    c.send(&dec);
    wait_until(
        Duration::from_secs(5),
        "DHCP4_DECLINE_LEASE in the log",
        || d.log().contains("DHCP4_DECLINE_LEASE"),
    );
    let answer = command(
        &s.socket(),
        "lease4-get",
        json!({ "ip-address": addr.to_string() }),
    );
    assert_eq!(answer["result"], 0, "{answer}");
    assert_eq!(answer["arguments"]["state"], 1, "declined: {answer}");
    // The same answer over HTTP (Kea's control agent protocol): a one-element list.
    let body = json!({ "command": "lease4-get", "service": ["dhcp4"],
                       "arguments": { "ip-address": addr.to_string() } })
    .to_string();
    let http = s.srv.enter(|| {
        let mut t = TcpStream::connect("127.0.0.1:8004").unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            t,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        t.read_to_string(&mut out).unwrap();
        out
    });
    assert!(http.starts_with("HTTP/1.1 200 OK\r\n"), "{http}");
    let (_, json_body) = http.split_once("\r\n\r\n").unwrap();
    let list: Value = serde_json::from_str(json_body).unwrap();
    assert_eq!(list, json!([answer]), "HTTP answer = [unix socket answer]");
    let stats = command(
        &s.socket(),
        "statistic-get",
        json!({ "name": "declined-addresses" }),
    );
    assert_eq!(stats["arguments"]["declined-addresses"][0][0], 1, "{stats}");
    let mut d = d;
    assert!(d.terminate(Duration::from_secs(5)).success());
    let (store, rows) = read_leases(&s.leases());
    assert_eq!(rows.len(), 2, "the ACK row and the DECLINE row: {rows:?}");
    let l = store.get(addr).expect("the declined lease");
    assert_eq!(l.state, LeaseState::Declined);
    assert_eq!(l.valid_lifetime, PROBATION, "probation period");
    assert!(
        l.hwaddr.is_empty() && l.client_id.is_empty(),
        "the client's identity is cleared: {l:?}"
    );
    assert!(rows[1].ends_with(",1,"), "state 1 in the row: {}", rows[1]);
    assert_kea_rows(&s.leases());

    // Restarted, dhcp4d still holds the address on probation: the next client gets another.
    let d2 = start_dhcp4d(&s.srv, &conf, &[]);
    let c2 = Client {
        mac: [0x02, 0, 0x5e, 0, 0x53, 0x02],
        xid: 0x4242,
        ..c
    };
    c2.send(&c2.query(MessageType::DISCOVER));
    let offer2 = c2.expect(MessageType::OFFER);
    assert_ne!(offer2.yiaddr, addr, "a declined address is not offered");
    drop(d2);
}

#[test]
fn offer_to_unaddressed_client_is_link_unicast() {
    let s = Setup::new(TAG, None);
    let tcpdump = require_bin("tcpdump");
    let conf = write_config(
        &s,
        "kea-dhcp4.conf",
        &config(&s, lan_subnet("192.0.2.10 - 192.0.2.20"), Value::Null),
    );
    let _d = start_dhcp4d(&s.srv, &conf, &[]);
    let mac_text = s
        .cli
        .run(&["cat", &format!("/sys/class/net/{NODE_IF}/address")]);
    let mac_text = mac_text.trim().to_owned();
    let mac: Vec<u8> = mac_text
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let mut cap = s.cli.spawn(&[
        tcpdump.to_str().unwrap(),
        "-p",
        "-l",
        "-n",
        "-e",
        "-i",
        NODE_IF,
        "udp and src port 67",
    ]);
    wait_until(Duration::from_secs(5), "tcpdump to listen", || {
        cap.log().contains("listening on")
    });
    let c = Client {
        sock: client_socket(&s.cli),
        mac: mac.clone().try_into().unwrap(),
        xid: 0x0bad_cafe,
    };
    let mut q = c.query(MessageType::DISCOVER);
    q.flags = 0; // unicast, please
    c.send(&q);
    // The OFFER goes to yiaddr, which the client does not have yet: its UDP socket never
    // sees it, the wire does.
    let line = examples::netns::wait_for(Duration::from_secs(5), "the OFFER on the wire", || {
        cap.log()
            .lines()
            .find(|l| l.contains("192.0.2.1.67 > 192.0.2."))
            .map(str::to_owned)
    });
    assert!(
        line.contains(&format!("> {mac_text}")),
        "sent to the client's MAC: {line}"
    );
    assert!(
        line.contains("> 192.0.2.10.68"),
        "to yiaddr, port 68: {line}"
    );
    assert!(!line.contains("255.255.255.255"), "not a broadcast: {line}");
    assert!(cap.is_running());
}
