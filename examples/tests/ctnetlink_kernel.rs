//! The ctnetlink adapter against the real kernel, in a fresh network namespace (its own
//! conntrack table): commit from `CtRepr`s (TCP with SNAT and mark, UDP, ICMP, IPv6 TCP, a
//! zone, DNAT with a port), checked with `conntrack -L -o extended`; the same commit again
//! replaces every entry through the EEXIST path; our dump gives the entries back; events from
//! `conntrack -I` / `-D` arrive, and those of our commit carry our port id; flush.
//!
//! Needs root and conntrack-tools' `conntrack`; fails (never passes silently) without them.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ct_sync::ctnetlink::consts::{AF_INET6, AF_UNSPEC, EEXIST};
use ct_sync::ctnetlink::{AckMode, CommitConfig, CtMessage, CtMsgKind, DecodeOptions};
use ct_sync::wire::ct::{status, tcp_state};
use ct_sync::wire::{CtRepr, Pair};
use examples::ctnl::{CtEvent, CtnlSocket};
use examples::netns::{Lab, Node, require_bin};

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const SYNCED: u32 = status::SEEN_REPLY | status::ASSURED | status::CONFIRMED;

fn entries() -> Vec<CtRepr> {
    let tcp_snat = CtRepr {
        ipv4: Some(Pair::new(v4("192.0.2.10"), v4("198.51.100.2"))),
        l4proto: Some(6),
        port: Some(Pair::new(40000, 443)),
        tcp_state: Some(tcp_state::ESTABLISHED),
        status: Some(SYNCED | status::SRC_NAT | status::SRC_NAT_DONE),
        timeout: Some(600),
        mark: Some(42),
        snat_ipv4: Some(v4("203.0.113.9")),
        ..CtRepr::default()
    };
    let udp = CtRepr {
        ipv4: Some(Pair::new(v4("192.0.2.11"), v4("198.51.100.3"))),
        l4proto: Some(17),
        port: Some(Pair::new(5000, 53)),
        status: Some(SYNCED),
        timeout: Some(1800),
        ..CtRepr::default()
    };
    let icmp = CtRepr {
        ipv4: Some(Pair::new(v4("192.0.2.12"), v4("198.51.100.4"))),
        l4proto: Some(1),
        icmp_type: Some(8),
        icmp_code: Some(0),
        icmp_id: Some(0x1234),
        status: Some(SYNCED),
        timeout: Some(30),
        ..CtRepr::default()
    };
    let tcp6 = CtRepr {
        ipv6: Some(Pair::new(v6("2001:db8::10"), v6("2001:db8:1::2"))),
        l4proto: Some(6),
        port: Some(Pair::new(40001, 22)),
        tcp_state: Some(tcp_state::ESTABLISHED),
        status: Some(SYNCED),
        timeout: Some(600),
        ..CtRepr::default()
    };
    let zoned = CtRepr {
        zone: Some(7),
        ..udp.clone()
    };
    let dnat = CtRepr {
        ipv4: Some(Pair::new(v4("192.0.2.13"), v4("198.51.100.5"))),
        l4proto: Some(17),
        port: Some(Pair::new(4000, 53)),
        status: Some(SYNCED | status::DST_NAT | status::DST_NAT_DONE),
        timeout: Some(1800),
        dnat_ipv4: Some(v4("203.0.113.7")),
        dpat_port: Some(5353),
        ..CtRepr::default()
    };
    vec![tcp_snat, udp, icmp, tcp6, zoned, dnat]
}

fn require_conntrack(node: &Node) {
    require_bin("conntrack");
    let present = |n: &Node| {
        n.enter(|| std::path::Path::new("/proc/sys/net/netfilter/nf_conntrack_count").exists())
    };
    if !present(node) {
        let _ = std::process::Command::new("modprobe")
            .arg("nf_conntrack")
            .status();
    }
    assert!(
        present(node),
        "the kernel's conntrack is not available (nf_conntrack not loaded and `modprobe nf_conntrack` failed)"
    );
}

/// The synced attributes a dump must give back: the timeout counts down, the kernel adds
/// SYNPROXY, mark 0 and its own status bits.
fn synced_view(ct: &CtRepr) -> CtRepr {
    CtRepr {
        timeout: None,
        synproxy: None,
        status: None,
        mark: ct.mark.filter(|&m| m != 0),
        ..ct.clone()
    }
}

fn dump(sock: &mut CtnlSocket) -> Vec<CtMessage> {
    let mut got = Vec::new();
    sock.dump(AF_UNSPEC, DecodeOptions::default(), |m| got.push(m))
        .expect("dump");
    got
}

/// Waits (bounded) for an event matching `pred`, skipping others.
fn wait_event(
    ev: &mut CtnlSocket,
    what: &str,
    mut pred: impl FnMut(&CtMessage) -> bool,
) -> CtMessage {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out after 5 s waiting for {what}");
        match ev
            .next_event(left, DecodeOptions::default())
            .expect("event socket")
        {
            Some(CtEvent::Conntrack(m)) if pred(&m) => return m,
            Some(CtEvent::Overrun) => panic!("event socket overrun while waiting for {what}"),
            _ => {}
        }
    }
}

#[test]
fn commit_dump_events_flush_against_the_kernel() {
    let lab = Lab::new("ctnl");
    let node = lab.add_node("a");
    require_conntrack(&node);
    let mut events = node.enter(|| CtnlSocket::open_events(false).expect("event socket"));
    let mut sock = node.enter(|| CtnlSocket::open().expect("ctnetlink socket"));
    assert_ne!(events.portid(), sock.portid());
    let entries = entries();

    // 1. Commit into the empty table.
    for ack in [AckMode::ErrorsOnly, AckMode::PerMessage] {
        sock.flush(AF_UNSPEC).expect("flush");
        let cfg = CommitConfig {
            ack,
            ..CommitConfig::default()
        };
        let r = sock.commit(&entries, cfg).expect("commit");
        assert_eq!(
            (r.stats.created, r.stats.replaced, r.stats.failed),
            (6, 0, 0),
            "{ack:?}: {:?} {:?}",
            r.failures,
            r.errno_counts
        );
    }
    let list_all = node.run(&["conntrack", "-L", "-o", "extended"]);
    let list6 = node.run(&["conntrack", "-L", "-f", "ipv6", "-o", "extended"]);
    let expect = [
        // TCP with SNAT: the reply goes to the SNAT address; the mark is kept.
        "src=192.0.2.10 dst=198.51.100.2 sport=40000 dport=443 src=198.51.100.2 dst=203.0.113.9 sport=443 dport=40000 [ASSURED] mark=42",
        "src=192.0.2.11 dst=198.51.100.3 sport=5000 dport=53 src=198.51.100.3 dst=192.0.2.11 sport=53 dport=5000 [ASSURED] mark=0 use=1",
        "src=192.0.2.12 dst=198.51.100.4 type=8 code=0 id=4660 src=198.51.100.4 dst=192.0.2.12 type=0 code=0 id=4660",
        "src=192.0.2.11 dst=198.51.100.3 sport=5000 dport=53 src=198.51.100.3 dst=192.0.2.11 sport=53 dport=5000 [ASSURED] mark=0 zone=7",
        // DNAT with a port: the reply comes from the DNAT address and port.
        "src=192.0.2.13 dst=198.51.100.5 sport=4000 dport=53 src=203.0.113.7 dst=192.0.2.13 sport=5353 dport=4000",
    ];
    for e in expect {
        assert!(
            list_all.contains(e),
            "missing `{e}` in conntrack -L:\n{list_all}"
        );
    }
    assert!(
        list_all.contains("ESTABLISHED src=192.0.2.10"),
        "TCP state: {list_all}"
    );
    assert!(
        list6.contains("src=2001:db8::10 dst=2001:db8:1::2 sport=40001 dport=22 src=2001:db8:1::2 dst=2001:db8::10 sport=22 dport=40001 [ASSURED]"),
        "IPv6 entry: {list6}"
    );
    // `-L` lists every family, `-f ipv6` the one IPv6 entry.
    assert_eq!((list_all.lines().count(), list6.lines().count()), (6, 1));

    // 2. The same again: every create meets EEXIST and is replaced.
    let r = sock
        .commit(&entries, CommitConfig::default())
        .expect("commit again");
    assert_eq!(
        (r.stats.created, r.stats.replaced, r.stats.failed),
        (0, 6, 0),
        "{:?}",
        r.failures
    );
    assert_eq!(r.errno_counts, [(EEXIST, 6)]);

    // 3. Our dump returns the committed conntracks (for the synced attributes).
    let dumped = dump(&mut sock);
    assert_eq!(dumped.len(), 6);
    let got: BTreeSet<String> = dumped
        .iter()
        .map(|m| format!("{:?}", synced_view(&m.ct)))
        .collect();
    let want: BTreeSet<String> = entries
        .iter()
        .map(|c| format!("{:?}", synced_view(c)))
        .collect();
    assert_eq!(got, want);
    for m in &dumped {
        assert_eq!(m.kind, CtMsgKind::Get);
        let st = m.ct.status.expect("status");
        assert_eq!(st & SYNCED, SYNCED, "status {st:#x}");
        assert!(m.ct.timeout.is_some_and(|t| t > 0 && t <= 1800));
    }
    let v6_only = {
        let mut n = 0;
        sock.dump(AF_INET6, DecodeOptions::default(), |_| n += 1)
            .expect("dump v6");
        n
    };
    assert_eq!(v6_only, 1);

    // 4. Events: our commit's carry our port id; conntrack(8)'s do not.
    let ours = sock.portid();
    let m = wait_event(&mut events, "a NEW event from our commit", |m| {
        m.kind == CtMsgKind::New && m.pid == ours
    });
    assert!(m.ct.orig_addrs().is_some());
    node.run(&[
        "conntrack",
        "-I",
        "-p",
        "udp",
        "-s",
        "192.0.2.20",
        "-d",
        "198.51.100.20",
        "--sport",
        "7000",
        "--dport",
        "53",
        "-t",
        "120",
    ]);
    let is_new_flow = |m: &CtMessage| m.ct.port == Some(Pair::new(7000, 53));
    let m = wait_event(&mut events, "the NEW event of conntrack -I", |m| {
        m.kind == CtMsgKind::New && is_new_flow(m)
    });
    assert_ne!(m.pid, ours, "conntrack -I is not our socket");
    assert_eq!(
        m.ct.ipv4,
        Some(Pair::new(v4("192.0.2.20"), v4("198.51.100.20")))
    );
    node.run(&[
        "conntrack",
        "-D",
        "-p",
        "udp",
        "-s",
        "192.0.2.20",
        "--sport",
        "7000",
    ]);
    wait_event(&mut events, "the DESTROY event of conntrack -D", |m| {
        m.kind == CtMsgKind::Destroy && is_new_flow(m)
    });

    // 5. Flush.
    sock.flush(AF_UNSPEC).expect("flush");
    assert!(dump(&mut sock).is_empty(), "table not empty after flush");
}
