//! Crash safety of dhcp4d: SIGKILL while perfdhcp runs, restart, and every lease a client
//! got an ACK for is in the reloaded memfile (ACKs captured with tcpdump in the client's
//! namespace, each yiaddr + chaddr checked), each client once. dhcp4d writes a lease's row
//! before it sends the ACK, so this must hold whatever the moment of the kill. Needs root,
//! iproute2, perfdhcp and tcpdump.

mod dhcp4d_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use dhcp4_ha::lease::LeaseStore as _;
use dhcp4_ha::wire::MessageType;
use dhcp4d_common::ha::dhcp_in_pcap;
use dhcp4d_common::*;
use examples::netns::{NODE_IF, require_bin, wait_until};
use serde_json::Value;

const TAG: &str = "d4c";

#[test]
fn sigkill_loses_no_acked_lease() {
    let tcpdump = require_bin("tcpdump");
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let conf = write_config(
        &s,
        "kea-dhcp4.conf",
        &config(&s, lan_subnet("192.0.2.10 - 192.0.2.250"), Value::Null),
    );
    // Quiet logs: this test is about the lease file.
    let mut c: Value = serde_json::from_slice(&std::fs::read(&conf).unwrap()).unwrap();
    c["Dhcp4"]["loggers"][0]["severity"] = "WARN".into();
    c["Dhcp4"]["subnet4"][0]["subnet"] = "192.0.2.0/24".into();
    std::fs::write(&conf, serde_json::to_vec(&c).unwrap()).unwrap();
    let pcap = s.path("acks.pcap");
    let mut cap = s.cli.spawn(&[
        tcpdump.to_str().unwrap(),
        "-p",
        "-n",
        "-U",
        "-i",
        NODE_IF,
        "-w",
        pcap.to_str().unwrap(),
        "udp and src port 67",
    ]);
    wait_until(Duration::from_secs(5), "tcpdump to listen", || {
        cap.log().contains("listening on")
    });
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    // 200 new clients a second for 3 s (the pool has 241 addresses; the kill comes first).
    let perf = s.cli.spawn(&[
        require_bin("perfdhcp").to_str().unwrap(),
        "-4",
        "-l",
        NODE_IF,
        "-r",
        "200",
        "-p",
        "3",
        "-R",
        "100000",
    ]);
    wait_until(
        Duration::from_secs(10),
        "some leases in the memfile",
        || std::fs::read_to_string(s.leases()).is_ok_and(|t| t.lines().count() > 100),
    );
    d.signal(libc::SIGKILL);
    let mut d = d;
    d.wait_exit(Duration::from_secs(5));
    let mut perf = perf;
    perf.wait_exit(Duration::from_secs(20));
    cap.terminate(Duration::from_secs(5));

    let acks: Vec<(Ipv4Addr, String)> = dhcp_in_pcap(&std::fs::read(&pcap).unwrap())
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.message_type() == Some(MessageType::ACK))
        .map(|m| {
            let mut h = String::new();
            dhcp4_ha::lease::memfile::hex_colon(&m.chaddr[..6], &mut h);
            (m.yiaddr, h)
        })
        .collect();
    assert!(acks.len() > 50, "{} ACKs captured", acks.len());

    // Restart on the same file: every ACKed lease is there.
    let d2 = start_dhcp4d(&s.srv, &conf, &[]);
    let (store, _) = read_leases(&s.leases());
    for (addr, h) in &acks {
        let l = store
            .get(*addr)
            .unwrap_or_else(|| panic!("{addr} was ACKed to {h} but is not in the memfile"));
        assert_eq!(&hw(l), h, "{addr} belongs to the client that got the ACK");
    }
    let mut per_client: BTreeMap<String, usize> = BTreeMap::new();
    for l in store.iter() {
        *per_client.entry(hw(l)).or_default() += 1;
    }
    assert!(per_client.values().all(|&n| n == 1), "one lease per client");
    let acked: BTreeSet<_> = acks.iter().map(|a| a.0).collect();
    assert_eq!(acked.len(), acks.len(), "no address ACKed twice");
    // The restarted server knows them: it hands out only the other addresses.
    let answer = command(&s.socket(), "lease4-get-all", Value::Null);
    let n = answer["arguments"]["leases"].as_array().unwrap().len();
    assert_eq!(n, store.len(), "{answer}");
    let again = perfdhcp(
        &s.cli,
        &[
            "-r",
            "100",
            "-n",
            "20",
            "-R",
            "20",
            "-b",
            "mac=00:0c:77:00:00:00",
        ],
    );
    assert_eq!(again.get("REQUEST-ACK").received, 20, "{}", again.output);
    let all = command(&s.socket(), "lease4-get-all", Value::Null);
    assert_eq!(all["arguments"]["leases"].as_array().unwrap().len(), n + 20);
    drop(d2);
}
