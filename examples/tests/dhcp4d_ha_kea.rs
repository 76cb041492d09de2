//! Kea 2.2 HA between dhcp4d and a real kea-dhcp4 2.2 (`libdhcp_ha.so` with its dedicated
//! listener, `libdhcp_lease_cmds.so`) in network namespaces, with one configuration shape
//! for both: hot-standby with dhcp4d as the primary and as the standby (both reach
//! hot-standby, every lease granted is on both), and load-balancing (both reach
//! load-balancing, each client is answered by the server the RFC 3074 hash picks); SIGKILL
//! of the primary under load, Kea's and dhcp4d's (the survivor goes partner-down and serves,
//! no ACKed lease is lost or given twice, the killed server resyncs); a partition of the HA
//! port between dhcp4d and Kea and its healing. Needs root, iproute2, perfdhcp, tcpdump, nft,
//! kea-dhcp4 and Kea's HA and lease_cmds hooks.

mod dhcp4d_common;

use std::time::Duration;

use dhcp4_ha::ha::hash::lb_key;
use dhcp4_ha::ha::lb_hash;
use dhcp4d_common::ha::*;
use dhcp4d_common::*;
use examples::netns::require_bin;
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

#[test]
fn sigkill_of_a_kea_primary_under_load_dhcp4d_standby_takes_over() {
    sigkill_primary_under_load(&Pair::new(TAG), [Impl::Kea, Impl::Dhcp4d]);
}

#[test]
fn sigkill_of_a_dhcp4d_primary_under_load_kea_standby_takes_over() {
    sigkill_primary_under_load(&Pair::new(TAG), [Impl::Dhcp4d, Impl::Kea]);
}

/// dhcp4d primary, Kea standby; nftables on Kea's node drops the HA port both ways.
///
/// Per Kea 2.2 each side learns of the partition only when a heartbeat fails, i.e. after
/// the 10 s HTTP request timeout (not after `max-response-delay`): the primary of a
/// hot-standby pair then goes partner-down at once, the standby too because
/// `max-unacked-clients` is 0. Both serve every scope (split brain). Clients are sent to
/// Kea only during the partition (unicast): both allocate from the whole pool in
/// partner-down, so clients of both sides could be given the same address, and Kea 2.2
/// decides whether to resync from a returning partner only from the last two heartbeats'
/// `unsent-update-count`; dhcp4d is shown serving (OFFERs) without taking leases. On the
/// heal the pair resyncs: dhcp4d must fetch Kea's partition leases whichever side sees the
/// other first, and both return to hot-standby with equal lease databases.
#[test]
fn partition_of_the_ha_port_between_dhcp4d_and_kea_and_heal() {
    let nft = require_bin("nft");
    let nft = nft.to_str().unwrap();
    let p = Pair::new(TAG);
    let c1 = p.write(0, &p.config(0, "hot-standby", &Value::Null, &Value::Null));
    let c2 = p.write(1, &p.config(1, "hot-standby", &Value::Null, &Value::Null));
    let d = p.start(0, Impl::Dhcp4d, &c1, &[]);
    let k = p.start(1, Impl::Kea, &c2, &[]);
    p.wait_both("hot-standby", Duration::from_secs(20));
    let perf = perfdhcp(&p.cli, &["-r", "50", "-n", "10", "-R", "10"]);
    assert_eq!(perf.get("REQUEST-ACK").received, 10, "{}", perf.output);
    // Drop the HA traffic on server2 both ways (its listener's port and replies from
    // server1's listener).
    let port = HA_PORT.to_string();
    p.srv[1].run(&[nft, "add", "table", "inet", "hkhak"]);
    p.srv[1].run(&[
        nft,
        "add chain inet hkhak input { type filter hook input priority 0 ; }",
    ]);
    for dir in ["dport", "sport"] {
        p.srv[1].run(&[
            nft, "add", "rule", "inet", "hkhak", "input", "tcp", dir, &port, "drop",
        ]);
    }
    let cut = std::time::Instant::now();
    p.wait_state(1, "partner-down", Duration::from_secs(30));
    let t_kea = cut.elapsed();
    p.wait_state(0, "partner-down", Duration::from_secs(30));
    let t_d4 = cut.elapsed();
    eprintln!("partner-down into the partition: Kea standby {t_kea:?}, dhcp4d primary {t_d4:?}");
    for (who, t) in [("Kea", t_kea), ("dhcp4d", t_d4)] {
        assert!(
            t >= Duration::from_secs(3),
            "{who} went partner-down before max-response-delay: {t:?}"
        );
    }
    // Both serve alone: Kea grants leases, dhcp4d answers DISCOVERs.
    let (mut cap, pcap) = p.capture("partition.pcap");
    let perf = perfdhcp(
        &p.cli,
        &[
            "-r",
            "20",
            "-n",
            "10",
            "-R",
            "10",
            "-b",
            "mac=00:0c:77:00:00:00",
            SRV_IP[1],
        ],
    );
    assert_eq!(
        perf.get("REQUEST-ACK").received,
        10,
        "Kea served during the partition: {}",
        perf.output
    );
    let offers = perfdhcp_no_wait(
        &p.cli,
        &[
            "-i",
            "-r",
            "20",
            "-n",
            "10",
            "-R",
            "10",
            "-b",
            "mac=00:0c:78:00:00:00",
            SRV_IP[0],
        ],
    );
    // Without -W perfdhcp exits right after its last DISCOVER: that OFFER may be missed.
    let d_o = offers.get("DISCOVER-OFFER");
    assert!(
        d_o.sent == 10 && d_o.received >= 9,
        "dhcp4d served during the partition: {}",
        offers.output
    );
    cap.terminate(Duration::from_secs(5));
    let acks = acks_in(&pcap);
    assert!(
        acks.len() == 10 && acks.iter().all(|a| a.0.to_string() == SRV_IP[1]),
        "10 ACKs, all from Kea: {acks:?}"
    );
    assert!(
        p.leases_of(0).len() == 10 && p.leases_of(1).len() == 20,
        "the partition leases are on Kea only"
    );
    p.srv[1].run(&[nft, "delete", "table", "inet", "hkhak"]);
    let t = p.wait_both("hot-standby", Duration::from_secs(45));
    eprintln!("healed to hot-standby in {t:?}");
    let l1 = p.leases_of(0);
    assert_eq!(
        l1,
        p.leases_of(1),
        "the lease databases agree after the heal"
    );
    assert_eq!(l1.len(), 20, "{l1:?}");
    assert_acked_leases_held(&acks, &l1, "dhcp4d");
    // The pair serves new clients again, dhcp4d as the primary.
    let perf = perfdhcp(
        &p.cli,
        &[
            "-r",
            "20",
            "-n",
            "10",
            "-R",
            "10",
            "-b",
            "mac=00:0c:79:00:00:00",
        ],
    );
    assert_eq!(perf.get("REQUEST-ACK").received, 10, "{}", perf.output);
    assert_eq!(p.leases_of(0), p.leases_of(1));
    for (who, proc) in [("dhcp4d", &d), ("Kea", &k)] {
        let log = proc.log();
        for l in log
            .lines()
            .filter(|l| l.contains("HA_STATE_TRANSITION") || l.contains("HA_SYNC_SUCCESSFUL"))
        {
            eprintln!("{who}: {}", l.split_once(" HA_").map_or(l, |x| x.1));
        }
        assert!(
            log.contains("to PARTNER-DOWN state"),
            "{who} logged its partner-down transition"
        );
    }
}
