//! Kea 2.2 HA between two dhcp4d servers in network namespaces (server1 192.0.2.1 primary,
//! server2 192.0.2.3 standby, perfdhcp as a relay on 192.0.2.2): the pair reaches
//! hot-standby and replicates every lease before the ACK; SIGKILL of the primary under load
//! (partner-down, no ACKed lease lost or given twice, the primary returns and resyncs); a
//! partition of the HA port and its healing; maintenance start / cancel; Basic
//! authentication (a wrong password gets 401 and changes nothing); clock skew > 60 s
//! terminates. Needs root, iproute2, perfdhcp, tcpdump and nft.

mod dhcp4d_common;

use std::time::Duration;

use dhcp4d_common::ha::*;
use dhcp4d_common::*;
use examples::netns::require_bin;
use serde_json::{Value, json};

const TAG: &str = "hap";

/// Both servers from one configuration shape; `ha` / `peer` keys merged in.
fn start_pair(
    p: &Pair,
    ha: &Value,
    peer: &Value,
    extra: [&[&str]; 2],
) -> [examples::netns::Proc; 2] {
    let c1 = p.write(0, &p.config(0, "hot-standby", ha, peer));
    let c2 = p.write(1, &p.config(1, "hot-standby", ha, peer));
    let a = p.start(0, Impl::Dhcp4d, &c1, extra[0]);
    let b = p.start(1, Impl::Dhcp4d, &c2, extra[1]);
    [a, b]
}

#[test]
fn hot_standby_pair_replicates_every_lease_before_the_ack() {
    let p = Pair::new(TAG);
    let _d = start_pair(&p, &Value::Null, &Value::Null, [&[], &[]]);
    let t = p.wait_both("hot-standby", Duration::from_secs(15));
    eprintln!("pair in hot-standby after {t:?}");
    let perf = perfdhcp(&p.cli, &["-r", "50", "-n", "100", "-R", "100"]);
    let ra = perf.get("REQUEST-ACK");
    assert_eq!(
        (ra.sent, ra.received),
        (100, 100),
        "every client bound: {}",
        perf.output
    );
    // Read at once: an ACK leaves only after the standby acknowledged its lease4-update.
    let l1 = p.leases_of(0);
    let l2 = p.leases_of(1);
    assert_eq!(l1.len(), 100, "{l1:?}");
    assert_eq!(l1, l2, "the standby has every lease, field for field");
    // The standby answered nobody.
    let st = command(
        &p.socket(1),
        "statistic-get",
        json!({ "name": "pkt4-ack-sent" }),
    );
    assert_eq!(
        st["arguments"]["pkt4-ack-sent"][0][0], 0,
        "standby sent ACKs: {st}"
    );
    // status-get carries Kea's HA section.
    let s = command(&p.socket(0), "status-get", Value::Null);
    let ha = &s["arguments"]["high-availability"][0];
    assert_eq!(ha["ha-mode"], "hot-standby", "{s}");
    assert_eq!(ha["ha-servers"]["local"]["role"], "primary");
    assert_eq!(ha["ha-servers"]["local"]["scopes"], json!(["server1"]));
    assert_eq!(ha["ha-servers"]["remote"]["role"], "standby");
    assert_eq!(ha["ha-servers"]["remote"]["last-state"], "hot-standby");
    assert_eq!(ha["ha-servers"]["remote"]["in-touch"], true);
    // The HA commands are listed, and answer over the control socket too.
    let lc = command(&p.socket(0), "list-commands", Value::Null);
    let names: Vec<&str> = lc["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"ha-heartbeat") && names.contains(&"ha-maintenance-start"));
    let hb = command(&p.socket(1), "ha-heartbeat", Value::Null);
    assert_eq!(hb["result"], 0, "{hb}");
    assert_eq!(hb["arguments"]["state"], "hot-standby");
    assert_eq!(hb["arguments"]["scopes"], json!([]));
}

#[test]
fn sigkill_of_the_primary_under_load_loses_no_acked_lease() {
    sigkill_primary_under_load(&Pair::new(TAG), [Impl::Dhcp4d, Impl::Dhcp4d]);
}

#[test]
fn partition_of_the_ha_port_and_heal() {
    let nft = require_bin("nft");
    let p = Pair::new(TAG);
    let _d = start_pair(&p, &Value::Null, &Value::Null, [&[], &[]]);
    p.wait_both("hot-standby", Duration::from_secs(15));
    // Drop the HA traffic on server2 both ways (the listener's port and replies from it).
    let nft = nft.to_str().unwrap();
    let port = HA_PORT.to_string();
    p.srv[1].run(&[nft, "add", "table", "inet", "hkha"]);
    p.srv[1].run(&[
        nft,
        "add chain inet hkha input { type filter hook input priority 0 ; }",
    ]);
    for dir in ["dport", "sport"] {
        p.srv[1].run(&[
            nft, "add", "rule", "inet", "hkha", "input", "tcp", dir, &port, "drop",
        ]);
    }
    // Heartbeats time out after 10 s (Kea's request timeout); then both serve alone.
    let t = p.wait_state(1, "partner-down", Duration::from_secs(25));
    eprintln!("standby partner-down {t:?} into the partition");
    p.wait_state(0, "partner-down", Duration::from_secs(25));
    let perf = perfdhcp(&p.cli, &["-r", "20", "-n", "10", "-R", "10"]);
    assert!(
        perf.get("REQUEST-ACK").received >= 10,
        "clients served during the partition: {}",
        perf.output
    );
    p.srv[1].run(&[nft, "delete", "table", "inet", "hkha"]);
    let t = p.wait_both("hot-standby", Duration::from_secs(40));
    eprintln!("healed to hot-standby in {t:?}");
    let l1 = p.leases_of(0);
    assert_eq!(
        l1,
        p.leases_of(1),
        "the lease databases converge after the heal"
    );
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
            "mac=00:0c:55:00:00:00",
        ],
    );
    assert_eq!(perf.get("REQUEST-ACK").received, 10, "{}", perf.output);
}

#[test]
fn maintenance_start_and_cancel() {
    let p = Pair::new(TAG);
    let _d = start_pair(&p, &Value::Null, &Value::Null, [&[], &[]]);
    p.wait_both("hot-standby", Duration::from_secs(15));
    let a = command(&p.socket(1), "ha-maintenance-start", Value::Null);
    assert_eq!(a["result"], 0, "{a}");
    assert_eq!(
        a["text"],
        "Server is now in the partner-in-maintenance state and its partner is in-maintenance \
         state. The partner can be now safely shut down."
    );
    assert_eq!(p.state(1), "partner-in-maintenance");
    assert_eq!(p.state(0), "in-maintenance");
    // server2 serves every scope now: a client gets its ACK from 192.0.2.3.
    let (mut cap, pcap) = p.capture("maint.pcap");
    let perf = perfdhcp(&p.cli, &["-r", "10", "-n", "5", "-R", "5"]);
    assert_eq!(perf.get("REQUEST-ACK").received, 5, "{}", perf.output);
    cap.terminate(Duration::from_secs(5));
    let acks = acks_in(&pcap);
    assert!(
        !acks.is_empty() && acks.iter().all(|a| a.0.to_string() == SRV_IP[1]),
        "ACKs from server2 only: {acks:?}"
    );
    assert_eq!(p.leases_of(0), p.leases_of(1), "updates still flow");
    let a = command(&p.socket(1), "ha-maintenance-cancel", Value::Null);
    assert_eq!(a["result"], 0, "{a}");
    assert_eq!(a["text"], "Server maintenance successfully canceled.");
    p.wait_both("hot-standby", Duration::from_secs(10));
}

#[test]
fn basic_auth_wrong_credentials_get_401_and_change_nothing() {
    let p = Pair::new(TAG);
    let pw = p.path("ha-password");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let peer = json!({ "basic-auth-user": "hakit", "basic-auth-password-file": pw });
    let _d = start_pair(&p, &Value::Null, &peer, [&[], &[]]);
    // The pair authenticates to each other.
    p.wait_both("hot-standby", Duration::from_secs(15));
    let body = r#"{ "command": "dhcp-disable", "service": [ "dhcp4" ], "arguments": { "origin": "ha-partner" } }"#;
    let req = |auth: Option<&str>| {
        let mut r = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
            SRV_IP[0],
            body.len()
        );
        if let Some(a) = auth {
            r.push_str(&format!("Authorization: Basic {a}\r\n"));
        }
        r.push_str("\r\n");
        r.push_str(body);
        r
    };
    // hakit:wrong, and no credentials at all.
    for auth in [Some("aGFraXQ6d3Jvbmc="), None] {
        let (status, text) = p.http(0, &req(auth));
        assert_eq!(status, 401, "{text}");
        assert_eq!(text, r#"{ "result": 401, "text": "Unauthorized" }"#);
    }
    let s = command(&p.socket(0), "status-get", Value::Null);
    assert_eq!(
        s["arguments"]["high-availability"][0]["ha-servers"]["local"]["state"],
        "hot-standby"
    );
    let perf = perfdhcp(&p.cli, &["-r", "10", "-n", "5", "-R", "5"]);
    assert_eq!(
        perf.get("REQUEST-ACK").received,
        5,
        "the refused dhcp-disable did not disable the service: {}",
        perf.output
    );
    // The right credentials (hakit:s3cret) pass.
    let (status, text) = p.http(0, &req(Some("aGFraXQ6czNjcmV0")));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("DHCPv4 service disabled"), "{text}");
}

#[test]
fn clock_skew_over_60_s_terminates() {
    let p = Pair::new(TAG);
    let d = start_pair(
        &p,
        &Value::Null,
        &Value::Null,
        [&[], &["--clock-offset", "90"]],
    );
    p.wait_both("terminated", Duration::from_secs(15));
    let log = d[0].log();
    assert!(
        log.contains("HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION") && log.contains("90s ahead"),
        "server1 logs the skew: {log}"
    );
}

#[test]
fn load_balancing_pair_serves_new_and_returning_clients() {
    let p = Pair::new(TAG);
    let c1 = p.write(
        0,
        &p.config(0, "load-balancing", &Value::Null, &Value::Null),
    );
    let c2 = p.write(
        1,
        &p.config(1, "load-balancing", &Value::Null, &Value::Null),
    );
    let _d1 = p.start(0, Impl::Dhcp4d, &c1, &[]);
    let _d2 = p.start(1, Impl::Dhcp4d, &c2, &[]);
    p.wait_both("load-balancing", Duration::from_secs(15));
    let first = perfdhcp(&p.cli, &["-r", "50", "-n", "100", "-R", "100"]);
    eprintln!("{}", first.output);
    assert_eq!(first.get("REQUEST-ACK").received, 100, "{}", first.output);
    assert_eq!(p.leases_of(0), p.leases_of(1));
    // The same 100 clients again, twice: each renews its own address with its server.
    let again = perfdhcp(&p.cli, &["-r", "100", "-p", "3", "-R", "100"]);
    eprintln!("{}", again.output);
    let ra = again.get("REQUEST-ACK");
    assert_eq!(ra.drops, 0, "{}", again.output);
    assert_eq!(again.get("DISCOVER-OFFER").drops, 0, "{}", again.output);
    assert_eq!(p.leases_of(0).len(), 100);
    assert_eq!(p.leases_of(0), p.leases_of(1));
}
