//! Lease file interchange between dhcp4d and a real kea-dhcp4 2.2, both serving perfdhcp in
//! network namespaces:
//! * a file written by dhcp4d (grants, renewals, releases) is loaded by Kea: Kea's
//!   `lease4-get-all` lists the same leases;
//! * a file written by Kea is loaded by dhcp4d: dhcp4d's `lease4-get-all` lists the same
//!   leases, and the same clients coming back get the same addresses from dhcp4d.
//!
//! Needs root, iproute2, perfdhcp, kea-dhcp4 and Kea's lease_cmds hook.

mod dhcp4d_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dhcp4_ha::lease::MemoryStore;
use dhcp4_ha::lease::memfile;
use dhcp4d_common::*;
use serde_json::{Value, json};

const TAG: &str = "d4k";

/// (address → (hw-address, client-id, valid-lft, cltt, subnet-id, state)) of a lease list.
type Leases = BTreeMap<String, (String, String, u64, u64, u64, u64)>;

fn from_answer(a: &Value) -> Leases {
    assert_eq!(a["result"], 0, "{a}");
    a["arguments"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["ip-address"].as_str().unwrap().to_owned(),
                (
                    l["hw-address"].as_str().unwrap_or_default().to_owned(),
                    l["client-id"].as_str().unwrap_or_default().to_owned(),
                    l["valid-lft"].as_u64().unwrap(),
                    l["cltt"].as_u64().unwrap(),
                    l["subnet-id"].as_u64().unwrap(),
                    l["state"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn from_store(s: &MemoryStore) -> Leases {
    s.iter()
        .map(|l| {
            let mut cid = String::new();
            memfile::hex_colon(&l.client_id, &mut cid);
            (
                l.addr.to_string(),
                (
                    hw(l),
                    cid,
                    u64::from(l.valid_lifetime),
                    l.cltt,
                    u64::from(l.subnet_id),
                    u64::from(l.state.number()),
                ),
            )
        })
        .collect()
}

fn conf(s: &Setup, interfaces: Value) -> std::path::PathBuf {
    let c = config(
        s,
        lan_subnet("192.0.2.10 - 192.0.2.250"),
        json!({
            "interfaces-config": { "interfaces": interfaces },
            "hooks-libraries": [ { "library": LEASE_CMDS } ],
            "multi-threading": { "enable-multi-threading": false },
        }),
    );
    write_config(s, "kea-dhcp4.conf", &c)
}

fn require_lease_cmds() {
    assert!(
        Path::new(LEASE_CMDS).exists(),
        "{LEASE_CMDS} missing: install kea-dhcp4-server"
    );
}

#[test]
fn kea_loads_the_file_dhcp4d_wrote() {
    require_lease_cmds();
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let c = conf(&s, json!(["eth0"]));
    let mut d = start_dhcp4d(&s.srv, &c, &[]);
    let perf = perfdhcp(
        &s.cli,
        &["-r", "100", "-f", "20", "-F", "10", "-p", "2", "-R", "1000"],
    );
    assert_eq!(perf.get("REQUEST-ACK").drops, 0, "{}", perf.output);
    let ours = from_answer(&command(&s.socket(), "lease4-get-all", Value::Null));
    assert!(ours.len() > 50, "{} leases", ours.len());
    assert!(d.terminate(Duration::from_secs(5)).success());
    let (store, _) = read_leases(&s.leases());
    assert_eq!(from_store(&store), ours, "dhcp4d's answer is its file");

    // Kea on the same file, no interfaces (it only has to read it).
    let c = conf(&s, json!([]));
    let mut kea = start_kea(&s, &s.srv, &c);
    let theirs = from_answer(&command(&s.socket(), "lease4-get-all", Value::Null));
    assert_eq!(theirs, ours, "Kea reads dhcp4d's file to the same leases");
    let bye = command(&s.socket(), "shutdown", Value::Null);
    assert_eq!(bye["result"], 0, "{bye}");
    kea.wait_exit(Duration::from_secs(10));
}

#[test]
fn dhcp4d_loads_the_file_kea_wrote() {
    require_lease_cmds();
    let s = Setup::new(TAG, Some(CLIENT_IP));
    let c = conf(&s, json!(["eth0"]));
    let mut kea = start_kea(&s, &s.srv, &c);
    // Kea opens its raw socket after the control socket: let one exchange go through.
    let args = [
        "-r",
        "100",
        "-n",
        "120",
        "-R",
        "120",
        "-b",
        "mac=00:0c:42:00:00:00",
    ];
    // Kea answers once its raw socket is open (bounded by 30 s; an OFFER is enough: the
    // warm-up client's REQUEST-ACK count is not reliable for a single exchange).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !{
        perfdhcp(
            &s.cli,
            &[
                "-r",
                "10",
                "-n",
                "1",
                "-R",
                "1",
                "-b",
                "mac=00:0c:99:00:00:00",
            ],
        )
        .get("DISCOVER-OFFER")
        .received
            >= 1
    } {
        assert!(
            std::time::Instant::now() < deadline,
            "Kea did not answer perfdhcp within 30 s; its log:\n{}",
            kea.log()
        );
    }
    let perf = perfdhcp(&s.cli, &args);
    assert_eq!(perf.get("REQUEST-ACK").received, 120, "{}", perf.output);
    let theirs = from_answer(&command(&s.socket(), "lease4-get-all", Value::Null));
    // perfdhcp's 120 clients (their MACs start 00:0c:42), plus the warm-up one if its
    // exchange completed.
    let load = theirs
        .values()
        .filter(|(hw, ..)| hw.starts_with("00:0c:42"))
        .count();
    assert_eq!(load, 120, "{theirs:?}");
    assert!(theirs.len() <= 121, "{theirs:?}");
    let bye = command(&s.socket(), "shutdown", Value::Null);
    assert_eq!(bye["result"], 0, "{bye}");
    kea.wait_exit(Duration::from_secs(10));
    let rows_before = std::fs::read_to_string(s.leases()).unwrap();

    let mut d = start_dhcp4d(&s.srv, &c, &[]);
    let ours = from_answer(&command(&s.socket(), "lease4-get-all", Value::Null));
    assert_eq!(ours, theirs, "dhcp4d reads Kea's file to the same leases");
    // The same 120 clients come back: each gets its address again (a renewal, not a new one).
    let perf = perfdhcp(&s.cli, &args);
    assert_eq!(perf.get("REQUEST-ACK").received, 120, "{}", perf.output);
    let after = from_answer(&command(&s.socket(), "lease4-get-all", Value::Null));
    assert_eq!(after.len(), theirs.len(), "no new lease");
    for (addr, (hw, ..)) in &theirs {
        assert_eq!(&after[addr].0, hw, "{addr} still belongs to {hw}");
    }
    assert!(d.terminate(Duration::from_secs(5)).success());
    let text = std::fs::read_to_string(s.leases()).unwrap();
    assert!(
        text.starts_with(&rows_before),
        "dhcp4d appends to Kea's file, never rewrites it"
    );
    assert_eq!(text.lines().count(), rows_before.lines().count() + 120);
}
