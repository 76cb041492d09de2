//! Kea 2.2 HA between dhcp4d and a real kea-dhcp4 2.2 (`libdhcp_ha.so` with its dedicated
//! listener, `libdhcp_lease_cmds.so`) in network namespaces, with one configuration shape
//! for both: hot-standby with dhcp4d as the primary and as the standby (both reach
//! hot-standby, every lease granted is on both), and load-balancing (both reach
//! load-balancing, each client is answered by the server the RFC 3074 hash picks). Needs
//! root, iproute2, perfdhcp, tcpdump, kea-dhcp4 and Kea's HA and lease_cmds hooks.

mod dhcp4d_common;

use std::time::Duration;

use dhcp4_ha::ha::hash::lb_key;
use dhcp4_ha::ha::lb_hash;
use dhcp4d_common::ha::*;
use dhcp4d_common::*;
use serde_json::Value;

const TAG: &str = "hak";

fn hot_standby_with_kea(roles: [Impl; 2]) {
    let p = Pair::new(TAG);
    let procs: Vec<_> = (0..2)
        .map(|i| {
            let c = p.write(i, &p.config(i, "hot-standby", &Value::Null, &Value::Null));
            p.start(i, roles[i], &c, &[])
        })
        .collect();
    let t = p.wait_both("hot-standby", Duration::from_secs(20));
    eprintln!("{roles:?} in hot-standby after {t:?}");
    // Kea opens its DHCP sockets after the control socket; the pair's state decides.
    let perf = perfdhcp(&p.cli, &["-r", "50", "-n", "100", "-R", "100"]);
    let ra = perf.get("REQUEST-ACK");
    assert_eq!((ra.sent, ra.received), (100, 100), "{}", perf.output);
    let l1 = p.leases_of(0);
    let l2 = p.leases_of(1);
    assert_eq!(l1.len(), 100, "{l1:?}");
    assert_eq!(l1, l2, "the standby has every lease, field for field");
    // Kea sees its partner as dhcp4d reports itself, and the other way round.
    for i in 0..2 {
        let s = command(&p.socket(i), "status-get", Value::Null);
        let remote = &s["arguments"]["high-availability"][0]["ha-servers"]["remote"];
        assert_eq!(remote["last-state"], "hot-standby", "server{}: {s}", i + 1);
        assert_eq!(remote["in-touch"], true, "server{}: {s}", i + 1);
    }
    drop(procs);
}

#[test]
fn hot_standby_dhcp4d_primary_kea_standby() {
    hot_standby_with_kea([Impl::Dhcp4d, Impl::Kea]);
}

#[test]
fn hot_standby_kea_primary_dhcp4d_standby() {
    hot_standby_with_kea([Impl::Kea, Impl::Dhcp4d]);
}

#[test]
fn load_balancing_dhcp4d_and_kea_split_clients_by_the_hash() {
    let p = Pair::new(TAG);
    // Split pools: each server allocates from its half (`HA_server1` / `HA_server2`).
    let c1 = p.write(
        0,
        &p.config(0, "load-balancing", &Value::Null, &Value::Null),
    );
    let c2 = p.write(
        1,
        &p.config(1, "load-balancing", &Value::Null, &Value::Null),
    );
    let _d = p.start(0, Impl::Dhcp4d, &c1, &[]);
    let _k = p.start(1, Impl::Kea, &c2, &[]);
    let t = p.wait_both("load-balancing", Duration::from_secs(20));
    eprintln!("load-balancing after {t:?}");
    let (mut cap, pcap) = p.capture("lb.pcap");
    let perf = perfdhcp(&p.cli, &["-r", "20", "-n", "80", "-R", "80"]);
    cap.terminate(Duration::from_secs(5));
    let ra = perf.get("REQUEST-ACK");
    assert_eq!((ra.sent, ra.received), (80, 80), "{}", perf.output);
    let acks = acks_in(&pcap);
    assert_eq!(acks.len(), 80, "{acks:?}");
    let mut served = [0; 2];
    for (src, addr, hw, cid) in &acks {
        let mac: Vec<u8> = hw
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        let key = lb_key(cid.as_deref(), &mac).expect("a key");
        let want = usize::from(lb_hash(key) % 2);
        assert_eq!(
            src.to_string(),
            SRV_IP[want],
            "{hw} ({addr}) hashes to server{}",
            want + 1
        );
        let half = if want == 0 {
            ("192.0.2.10", "192.0.2.129")
        } else {
            ("192.0.2.130", "192.0.2.250")
        };
        let a = *addr;
        assert!(
            (half.0.parse::<std::net::Ipv4Addr>().unwrap()..=half.1.parse().unwrap()).contains(&a),
            "{hw} got {a} outside server{}'s pool",
            want + 1
        );
        served[want] += 1;
    }
    eprintln!(
        "served: server1 (dhcp4d) {}, server2 (Kea) {}",
        served[0], served[1]
    );
    assert!(served[0] > 10 && served[1] > 10, "both serve: {served:?}");
    let l1 = p.leases_of(0);
    assert_eq!(l1.len(), 80);
    assert_eq!(l1, p.leases_of(1), "both have every lease");
}
