//! dhcp4d against ISC's perfdhcp (the Kea load generator) in network namespaces: a server
//! node and a client node on one bridge. perfdhcp always acts as a relay agent (it puts its
//! own address in `giaddr` and listens on port 67), so "direct" here means a `giaddr` on the
//! server's own link (subnet chosen by it) and "relayed" a `giaddr` on another network,
//! matched by `relay.ip-addresses`.
//!
//! Checked: perfdhcp's statistics (every exchange answered, no drops where none are due),
//! and the memfile (distinct leases, rows byte for byte what Kea writes). Needs root,
//! iproute2 and perfdhcp: without them the tests fail, they never pass silently.

mod dhcp4d_common;

use std::collections::BTreeSet;
use std::time::Duration;

use dhcp4_ha::lease::{LeaseStore as _, MemoryStore};
use dhcp4d_common::*;
use examples::netns::{NODE_IF, wait_until};
use serde_json::{Value, json};

const TAG: &str = "d4p";

fn stop(mut p: examples::netns::Proc) -> String {
    let st = p.terminate(Duration::from_secs(5));
    assert!(st.success(), "dhcp4d exit status {st}: {}", p.log());
    let log = p.log();
    assert!(log.contains("DHCP4_SHUTDOWN"), "{log}");
    log
}

fn leases_in(store: &MemoryStore, net: [u8; 3]) -> usize {
    store.iter().filter(|l| l.addr.octets()[..3] == net).count()
}

#[test]
fn direct_dora_perfdhcp() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let conf = config(&s, lan_subnet("192.0.2.10 - 192.0.2.250"), Value::Null);
    let conf = write_config(&s, "kea-dhcp4.conf", &conf);
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    let n = 200;
    let perf = perfdhcp(&s.cli, &["-r", "200", "-n", "200", "-R", "200"]);
    let dora = (perf.get("DISCOVER-OFFER"), perf.get("REQUEST-ACK"));
    assert_eq!(
        (dora.0.sent, dora.0.received, dora.0.drops),
        (n, n, 0),
        "{}",
        perf.output
    );
    assert_eq!(
        (dora.1.sent, dora.1.received, dora.1.drops),
        (n, n, 0),
        "{}",
        perf.output
    );
    let log = stop(d);
    assert_eq!(
        log.matches("DHCP4_LEASE_ALLOC").count(),
        n as usize,
        "{log}"
    );
    let (store, rows) = read_leases(&s.leases());
    assert_eq!(rows.len(), n as usize, "one row per ACK");
    assert_eq!(store.len(), n as usize);
    let hws: BTreeSet<String> = store.iter().map(hw).collect();
    assert_eq!(hws.len(), n as usize, "distinct clients");
    for l in store.iter() {
        assert!(
            (10..=250).contains(&l.addr.octets()[3]) && l.addr.octets()[..3] == [192, 0, 2],
            "{} outside the pool",
            l.addr
        );
        assert_eq!((l.valid_lifetime, l.subnet_id), (3600, 1));
        assert!(hw(l).starts_with("00:0c:01:"), "perfdhcp's MACs: {}", hw(l));
        // perfdhcp sends a client identifier: 01 + MAC.
        assert_eq!(l.client_id[0], 1);
        assert_eq!(&l.client_id[1..], &l.hwaddr[..]);
    }
    assert_kea_rows(&s.leases());
}

#[test]
fn relayed_dora_perfdhcp() {
    // perfdhcp on 198.51.100.100 (its giaddr); the server reaches it through eth0.
    let s = Setup::new(TAG, Some("198.51.100.100"));
    s.srv
        .ip(&["route", "add", "198.51.100.0/24", "dev", NODE_IF]);
    s.cli.ip(&["route", "add", "192.0.2.0/24", "dev", NODE_IF]);
    let subnets = json!([
        { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": "192.0.2.10 - 192.0.2.250" } ] },
        { "id": 2, "subnet": "203.0.113.0/24", "pools": [ { "pool": "203.0.113.10 - 203.0.113.200" } ],
          "relay": { "ip-addresses": [ "198.51.100.100" ] },
          "option-data": [ { "name": "routers", "data": "203.0.113.1" } ] }
    ]);
    let conf = write_config(&s, "kea-dhcp4.conf", &config(&s, subnets, Value::Null));
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    let n = 100;
    let perf = perfdhcp(&s.cli, &["-r", "100", "-n", "100", "-R", "100"]);
    for sec in ["DISCOVER-OFFER", "REQUEST-ACK"] {
        let e = perf.get(sec);
        assert_eq!(
            (e.sent, e.received, e.drops),
            (n, n, 0),
            "{sec}: {}",
            perf.output
        );
    }
    stop(d);
    let (store, _) = read_leases(&s.leases());
    assert_eq!(store.len(), n as usize);
    assert_eq!(
        leases_in(&store, [203, 0, 113]),
        n as usize,
        "all from the relay's subnet"
    );
    assert!(store.iter().all(|l| l.subnet_id == 2));
    assert_kea_rows(&s.leases());
}

#[test]
fn renew_and_release_perfdhcp() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let conf = config(&s, lan_subnet("192.0.2.10 - 192.0.2.250"), Value::Null);
    let conf = write_config(&s, "kea-dhcp4.conf", &conf);
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    // 60 new clients/s for 3 s, and 20 renewals/s and 10 releases/s of granted leases.
    let perf = perfdhcp(
        &s.cli,
        &["-r", "60", "-f", "20", "-F", "10", "-p", "3", "-R", "1000"],
    );
    let ack = perf.get("REQUEST-ACK");
    let renew = perf.get("REQUEST-ACK (renewal)");
    let release = perf.get("RELEASE");
    assert!(ack.received > 100 && ack.drops == 0, "{}", perf.output);
    assert!(renew.sent > 10, "renewals were sent: {}", perf.output);
    assert_eq!(
        (renew.received, renew.drops),
        (renew.sent, 0),
        "{}",
        perf.output
    );
    assert!(release.sent > 5, "releases were sent: {}", perf.output);
    let log = stop(d);
    let (store, rows) = read_leases(&s.leases());
    let deletes = rows
        .iter()
        .filter(|r| r.split(',').nth(3) == Some("0"))
        .count() as u64;
    assert_eq!(deletes, release.sent, "one delete row per RELEASE");
    assert_eq!(
        log.matches("DHCP4_RELEASE ").count() as u64,
        release.sent,
        "{log}"
    );
    assert_eq!(
        store.len() as u64,
        ack.received - release.sent,
        "leases = new leases − released"
    );
    // A renewal appends the lease again (one row per ACK).
    assert_eq!(
        rows.len() as u64,
        ack.received + renew.received + release.sent
    );
    assert_kea_rows(&s.leases());
}

#[test]
fn full_pool_perfdhcp() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let conf = config(&s, lan_subnet("192.0.2.10 - 192.0.2.19"), Value::Null);
    let conf = write_config(&s, "kea-dhcp4.conf", &conf);
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    let perf = perfdhcp(&s.cli, &["-r", "50", "-n", "20", "-R", "20"]);
    let (dis, req) = (perf.get("DISCOVER-OFFER"), perf.get("REQUEST-ACK"));
    assert_eq!(
        (dis.sent, dis.received),
        (20, 10),
        "10 offers, then the pool is full: {}",
        perf.output
    );
    assert_eq!(
        (req.sent, req.received, req.drops),
        (10, 10, 0),
        "{}",
        perf.output
    );
    stop(d);
    let (store, rows) = read_leases(&s.leases());
    assert_eq!((store.len(), rows.len()), (10, 10));
    let addrs: BTreeSet<u8> = store.iter().map(|l| l.addr.octets()[3]).collect();
    assert_eq!(addrs, (10..=19).collect(), "the whole pool, nothing else");
}

#[test]
fn reservation_perfdhcp() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let subnets = json!([ { "id": 1, "subnet": "192.0.2.0/24",
        "pools": [ { "pool": "192.0.2.10 - 192.0.2.250" } ],
        "reservations": [ { "hw-address": "00:0c:aa:00:00:07", "ip-address": "192.0.2.251",
                            "hostname": "reserved" } ] } ]);
    let conf = write_config(&s, "kea-dhcp4.conf", &config(&s, subnets, Value::Null));
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    // -R 1: every exchange from the base MAC.
    let perf = perfdhcp(
        &s.cli,
        &[
            "-r",
            "10",
            "-n",
            "3",
            "-R",
            "1",
            "-b",
            "mac=00:0c:aa:00:00:07",
        ],
    );
    let req = perf.get("REQUEST-ACK");
    assert_eq!((req.received, req.drops), (req.sent, 0), "{}", perf.output);
    assert!(req.received >= 1, "{}", perf.output);
    // Another client gets a pool address, never the reserved one.
    let other = perfdhcp(
        &s.cli,
        &[
            "-r",
            "10",
            "-n",
            "3",
            "-R",
            "3",
            "-b",
            "mac=00:0c:bb:00:00:00",
        ],
    );
    assert_eq!(other.get("REQUEST-ACK").received, 3, "{}", other.output);
    stop(d);
    let (store, _) = read_leases(&s.leases());
    let mine: Vec<_> = store
        .iter()
        .filter(|l| hw(l) == "00:0c:aa:00:00:07")
        .collect();
    assert_eq!(mine.len(), 1, "{store:?}");
    assert_eq!(mine[0].addr, ip("192.0.2.251"), "the reserved address");
    assert_eq!(mine[0].hostname, "reserved");
    assert!(
        store
            .iter()
            .filter(|l| hw(l) != "00:0c:aa:00:00:07")
            .all(|l| l.addr != ip("192.0.2.251") && l.addr.octets()[3] <= 250)
    );
}

#[test]
fn config_check_like_kea() {
    let dir = std::env::temp_dir().join(format!("hkd4p-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(
        &good,
        r#"{"Dhcp4": {"interfaces-config": {"interfaces": ["eth0"]},
            "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}]}}"#,
    )
    .unwrap();
    let bad = dir.join("bad.conf");
    std::fs::write(
        &bad,
        "{\"Dhcp4\": {\"subnet4\": [{\"id\": 1, \"subnet\": \"192.0.2.0/24\", \"bogus\": 1}]}}",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_dhcp4d");
    let ok = std::process::Command::new(bin)
        .arg("-t")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ko = std::process::Command::new(bin)
        .arg("-t")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(ko.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ko.stderr);
    assert!(
        err.starts_with("Syntax check failed with: ")
            && err.contains("bad.conf:1.")
            && err.contains("bogus"),
        "{err}"
    );
    let v = std::process::Command::new(bin).arg("-v").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lfc_compacts_in_kea_file_order() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let mut c = config(&s, lan_subnet("192.0.2.10 - 192.0.2.250"), Value::Null);
    c["Dhcp4"]["lease-database"]["lfc-interval"] = 1.into();
    let conf = write_config(&s, "kea-dhcp4.conf", &c);
    let d = start_dhcp4d(&s.srv, &conf, &["--fsync"]);
    let perf = perfdhcp(
        &s.cli,
        &["-r", "60", "-f", "20", "-F", "10", "-p", "3", "-R", "1000"],
    );
    assert_eq!(perf.get("REQUEST-ACK").drops, 0, "{}", perf.output);
    let copy = format!("{}.2", s.leases().display());
    wait_until(
        Duration::from_secs(5),
        "a lease file cleanup after the load",
        || d.log().matches("DHCPSRV_MEMFILE_LFC_EXECUTE").count() >= 3,
    );
    let live = command(&s.socket(), "lease4-get-all", Value::Null);
    let n = live["arguments"]["leases"].as_array().unwrap().len();
    assert!(n > 100, "{n} leases");
    stop(d);
    // F.2 holds one row per live lease (no history, no delete rows), F what came after.
    let compacted = std::fs::read_to_string(&copy).unwrap();
    assert!(
        compacted
            .lines()
            .skip(1)
            .all(|r| r.split(',').nth(3) != Some("0"))
    );
    assert!(!std::path::Path::new(&format!("{}.1", s.leases().display())).exists());
    assert!(!std::path::Path::new(&format!("{}.completed", s.leases().display())).exists());
    let (store, _) = read_leases(&s.leases());
    assert_eq!(store.len(), n, "F.2 then F load to the live leases");
    let rows = compacted.lines().count() - 1
        + std::fs::read_to_string(s.leases()).unwrap().lines().count()
        - 1;
    assert!(
        rows < perf.get("REQUEST-ACK").received as usize + perf.get("RELEASE").sent as usize,
        "compacted: {rows} rows"
    );
    assert_kea_rows(std::path::Path::new(&copy));
    // dhcp4d restarts from F.2 + F.
    let d2 = start_dhcp4d(&s.srv, &conf, &[]);
    let again = command(&s.socket(), "lease4-get-all", Value::Null);
    assert_eq!(again["arguments"]["leases"], live["arguments"]["leases"]);
    stop(d2);
}

#[test]
fn sighup_reloads_and_keeps_leases() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let c = config(&s, lan_subnet("192.0.2.10 - 192.0.2.250"), Value::Null);
    let conf = write_config(&s, "kea-dhcp4.conf", &c);
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    let perf = perfdhcp(&s.cli, &["-r", "100", "-n", "30", "-R", "30"]);
    assert_eq!(perf.get("REQUEST-ACK").received, 30, "{}", perf.output);
    let mut c2 = c.clone();
    c2["Dhcp4"]["valid-lifetime"] = 1800.into();
    write_config(&s, "kea-dhcp4.conf", &c2);
    d.signal(libc::SIGHUP);
    wait_until(Duration::from_secs(5), "DHCP4_DYNRECONF_SUCCESS", || {
        d.log().contains("DHCP4_DYNRECONF_SUCCESS")
    });
    let perf = perfdhcp(
        &s.cli,
        &[
            "-r",
            "100",
            "-n",
            "10",
            "-R",
            "10",
            "-b",
            "mac=00:0c:55:00:00:00",
        ],
    );
    assert_eq!(perf.get("REQUEST-ACK").received, 10, "{}", perf.output);
    // A broken file is refused and the running configuration stays.
    std::fs::write(&conf, "{ \"Dhcp4\": { \"subnet4\": [ ").unwrap();
    d.signal(libc::SIGHUP);
    wait_until(Duration::from_secs(5), "DHCP4_DYNRECONF_FAIL", || {
        d.log().contains("DHCP4_DYNRECONF_FAIL")
    });
    let all = command(&s.socket(), "lease4-get-all", Value::Null);
    let leases = all["arguments"]["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 40, "the leases survived both reloads");
    let by_lft = |v: u64| leases.iter().filter(|l| l["valid-lft"] == v).count();
    assert_eq!((by_lft(3600), by_lft(1800)), (30, 10));
    // `config-reload` over the control socket says what is wrong, and changes nothing.
    let r = command(&s.socket(), "config-reload", Value::Null);
    assert_eq!(r["result"], 1, "{r}");
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .starts_with("Config reload failed: "),
        "{r}"
    );
    write_config(&s, "kea-dhcp4.conf", &c);
    let r = command(&s.socket(), "config-reload", Value::Null);
    assert_eq!(r["result"], 0, "{r}");
    // `shutdown` answers, then the daemon flushes and exits with status 0.
    let mut d = d;
    let r = command(&s.socket(), "shutdown", Value::Null);
    assert_eq!(r["result"], 0, "{r}");
    assert!(d.wait_exit(Duration::from_secs(5)).success());
    assert!(d.log().contains("DHCP4_SHUTDOWN"));
}

#[test]
fn expired_leases_are_reclaimed_and_written() {
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let c = config(
        &s,
        lan_subnet("192.0.2.10 - 192.0.2.250"),
        json!({ "valid-lifetime": 3, "renew-timer": 1, "rebind-timer": 2,
                "expired-leases-processing": { "reclaim-timer-wait-time": 1 } }),
    );
    let conf = write_config(&s, "kea-dhcp4.conf", &c);
    let d = start_dhcp4d(&s.srv, &conf, &[]);
    let perf = perfdhcp(&s.cli, &["-r", "100", "-n", "10", "-R", "10"]);
    assert_eq!(perf.get("REQUEST-ACK").received, 10, "{}", perf.output);
    // Each lease expires 3 s after its ACK and is reclaimed within the next cycle.
    wait_until(
        Duration::from_secs(10),
        "10 reclamation delete rows",
        || {
            let (_, rows) = read_leases(&s.leases());
            rows.iter()
                .filter(|r| r.split(',').nth(3) == Some("0"))
                .count()
                == 10
        },
    );
    let all = command(&s.socket(), "lease4-get-all", Value::Null);
    assert_eq!(all["result"], 3, "no lease left: {all}");
    let st = command(
        &s.socket(),
        "statistic-get",
        json!({ "name": "reclaimed-leases" }),
    );
    assert_eq!(st["arguments"]["reclaimed-leases"][0][0], 10, "{st}");
    stop(d);
    let (store, rows) = read_leases(&s.leases());
    assert_eq!((store.len(), rows.len()), (0, 20));
    assert_kea_rows(&s.leases());
}
