//! Smoke test of the `vrrpd` daemon: two routers (r1 priority 200, r2 priority 100, VRRPv3,
//! 100 ms adverts, one VIP) and a client on one bridge, in network namespaces. r1 becomes
//! Master and holds the VIP, the client reaches it; r1 crashes (SIGKILL, cable cut) and r2
//! takes over, the client reaches the VIP again; SIGTERM removes r2's VIP and exits 0. Also
//! `vrrpd -C` on a good and a bad file. Needs root and iproute2: without them the
//! test fails, it never passes silently.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{has_vip_on, reaches_vip, spawn, state, vrrpd};
use examples::netns::{Lab, NODE_IF, Node, wait_until};
use examples::vrrpd::control::{self, Request};

const VIP: &str = "192.0.2.100";
const WAIT: Duration = Duration::from_secs(5);

fn conf(prio: u8) -> String {
    format!(
        "global_defs {{\n  router_id r{prio}\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface {NODE_IF}\n  virtual_router_id 51\n  \
         priority {prio}\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

fn has_vip(node: &Node) -> bool {
    has_vip_on(node, VIP)
}

fn reaches(client: &Node) -> bool {
    reaches_vip(client, VIP)
}

#[test]
fn config_check() {
    let dir = std::env::temp_dir().join(format!("vrrpd-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(&good, conf(200)).unwrap();
    let out = Command::new(vrrpd())
        .args(["-C", "-f", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, conf(200).replace("priority 200", "priority 300")).unwrap();
    let out = Command::new(vrrpd())
        .args(["-C", "-f", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Line 8 of the file, the value's column.
    assert!(err.contains("bad.conf:8:12: priority"), "{err}");
}

#[test]
fn failover_and_graceful_stop() {
    Lab::require_root();
    let started = Instant::now();
    let lab = Lab::new("vrrpd");
    let r1 = lab.add_node("r1");
    let r2 = lab.add_node("r2");
    let client = lab.add_node("c");
    r1.add_addr(NODE_IF, "192.0.2.1/24");
    r2.add_addr(NODE_IF, "192.0.2.2/24");
    client.add_addr(NODE_IF, "192.0.2.10/24");

    let (mut p1, s1) = spawn(&r1, lab.dir(), &conf(200));
    let (mut p2, s2) = spawn(&r2, lab.dir(), &conf(100));
    wait_until(WAIT, "r1 MASTER and r2 BACKUP", || {
        state(&s1).as_deref() == Some("MASTER") && state(&s2).as_deref() == Some("BACKUP")
    });
    // vrrpctl prints the same status.
    let out = Command::new(env!("CARGO_BIN_EXE_vrrpctl"))
        .args(["--control", s2.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["instances"][0]["master"]["address"], "192.0.2.1");
    assert_eq!(v["instances"][0]["master"]["priority"], 200);
    assert!(has_vip(&r1) && !has_vip(&r2));
    wait_until(WAIT, "the client reaches the VIP on r1", || {
        reaches(&client)
    });
    assert!(
        p1.log()
            .contains("(VI_1) Entering MASTER STATE (master down timer expired"),
        "{}",
        p1.log()
    );

    // Crash of the Master: SIGKILL and its cable cut (its stale VIP stays behind).
    p1.signal(libc::SIGKILL);
    p1.wait_exit(WAIT);
    lab.set_port_up(&r1, NODE_IF, false);
    let t = Instant::now();
    wait_until(Duration::from_secs(2), "r2 MASTER after the crash", || {
        state(&s2).as_deref() == Some("MASTER")
    });
    let takeover = t.elapsed();
    assert!(has_vip(&r2));
    wait_until(WAIT, "the client reaches the VIP on r2", || {
        reaches(&client)
    });
    assert!(
        p2.log().contains("(VI_1) Entering MASTER STATE"),
        "{}",
        p2.log()
    );

    // SIGHUP with an unchanged file: the instance keeps running, no state change.
    let before = p2.log().matches("Entering").count();
    p2.signal(libc::SIGHUP);
    wait_until(WAIT, "r2 reloaded", || p2.log().contains("reloading"));
    assert_eq!(state(&s2).as_deref(), Some("MASTER"));
    assert_eq!(p2.log().matches("Entering").count(), before, "{}", p2.log());

    // Graceful stop: VIP removed, exit 0.
    let st = p2.terminate(WAIT);
    assert!(st.success(), "vrrpd exited with {st}: {}", p2.log());
    assert!(!has_vip(&r2), "VIP left on r2 after SIGTERM");
    eprintln!(
        "takeover after crash: {takeover:?}; test took {:?}",
        started.elapsed()
    );
}

#[test]
fn vmac_master() {
    let lab = Lab::new("vrrpdv");
    let r1 = lab.add_node("r1");
    let client = lab.add_node("c");
    r1.add_addr(NODE_IF, "192.0.2.1/24");
    client.add_addr(NODE_IF, "192.0.2.10/24");
    let text = conf(200).replace("  version 3\n", "  version 3\n  use_vmac\n");
    let (mut p1, s1) = spawn(&r1, lab.dir(), &text);
    wait_until(WAIT, "r1 MASTER", || {
        state(&s1).as_deref() == Some("MASTER")
    });
    let vmac = r1.ip(&["-d", "addr", "show", "dev", "vrrp.51"]);
    assert!(vmac.contains("00:00:5e:00:01:33"), "{vmac}");
    assert!(vmac.contains("macvlan mode private"), "{vmac}");
    assert!(vmac.contains(&format!("{VIP}/24")), "{vmac}");
    wait_until(WAIT, "the client reaches the VIP through the VMAC", || {
        reaches(&client)
    });
    // Not asserted: which MAC the client's neighbour entry ends with. The RST for the probe
    // leaves through eth0 (its prefix route comes first), and the ARP request r1 sends for the
    // client carries the VIP with eth0's MAC (arp_announce 0), so the entry may name eth0.
    let st = p1.terminate(WAIT);
    assert!(st.success(), "{}", p1.log());
    assert!(
        r1.output(&["ip", "link", "show", "vrrp.51"]).status.code() != Some(0),
        "VMAC left"
    );
}

/// `adverts_rx` of VI_1, through the control socket (0 when the daemon does not answer).
fn adverts_rx(sock: &Path) -> u64 {
    control::call(sock, &Request::Status)
        .ok()
        .and_then(|v| v["instances"][0]["counters"]["adverts_rx"].as_u64())
        .unwrap_or(0)
}

/// Two routers with VMAC: the peers' adverts carry the shared VMAC as source MAC, which
/// macvlan delivers to the VMAC device only; the Backup must hear them there (a receive socket
/// on the parent never sees them, and both routers end up Master).
#[test]
fn vmac_pair_one_master_and_failover() {
    let lab = Lab::new("vrrpdw");
    let r1 = lab.add_node("r1");
    let r2 = lab.add_node("r2");
    let client = lab.add_node("c");
    r1.add_addr(NODE_IF, "192.0.2.1/24");
    r2.add_addr(NODE_IF, "192.0.2.2/24");
    client.add_addr(NODE_IF, "192.0.2.10/24");
    let vmac = |prio| conf(prio).replace("  version 3\n", "  version 3\n  use_vmac\n");
    let (mut p1, s1) = spawn(&r1, lab.dir(), &vmac(200));
    wait_until(WAIT, "r1 MASTER", || {
        state(&s1).as_deref() == Some("MASTER")
    });
    let (p2, s2) = spawn(&r2, lab.dir(), &vmac(100));
    // r2 hears r1 through its VMAC and stays Backup over ten adverts.
    wait_until(WAIT, "r2 hears ten adverts from r1", || {
        assert_ne!(
            state(&s2).as_deref(),
            Some("MASTER"),
            "split brain: {}",
            p2.log()
        );
        adverts_rx(&s2) >= 10
    });
    assert_eq!(state(&s2).as_deref(), Some("BACKUP"));
    assert_eq!(state(&s1).as_deref(), Some("MASTER"));
    assert!(!p2.log().contains("Entering MASTER"), "{}", p2.log());
    wait_until(WAIT, "the client reaches the VIP on r1", || {
        reaches(&client)
    });
    // Crash of the Master: r2 takes over and the client reaches the VIP through r2's VMAC.
    p1.signal(libc::SIGKILL);
    p1.wait_exit(WAIT);
    lab.set_port_up(&r1, NODE_IF, false);
    wait_until(Duration::from_secs(2), "r2 MASTER after the crash", || {
        state(&s2).as_deref() == Some("MASTER")
    });
    wait_until(WAIT, "the client reaches the VIP on r2", || {
        reaches(&client)
    });
}

fn counter(sock: &Path, name: &str) -> u64 {
    control::call(sock, &Request::Status)
        .ok()
        .and_then(|v| v["instances"][0]["counters"][name].as_u64())
        .unwrap_or(0)
}

/// Both IPv4 checksum conventions of VRRPv3: two vrrpd routers with `v3_checksum_as_v2`
/// (RFC 9568's message-only checksum) agree; a pair where only one uses it still works (vrrpd
/// accepts both forms) and counts each advert of the other convention.
#[test]
fn v3_checksum_conventions_between_vrrpd() {
    let lab = Lab::new("vrrpdcs");
    let r1 = lab.add_node("r1");
    let r2 = lab.add_node("r2");
    r1.add_addr(NODE_IF, "192.0.2.1/24");
    r2.add_addr(NODE_IF, "192.0.2.2/24");
    let as_v2 = |prio| conf(prio).replace("  version 3\n", "  version 3\n  v3_checksum_as_v2\n");
    let (_p1, s1) = spawn(&r1, lab.dir(), &as_v2(200));
    let (mut p2, s2) = spawn(&r2, lab.dir(), &as_v2(100));
    wait_until(WAIT, "r1 MASTER, r2 BACKUP hearing ten adverts", || {
        state(&s1).as_deref() == Some("MASTER")
            && state(&s2).as_deref() == Some("BACKUP")
            && adverts_rx(&s2) >= 10
    });
    assert_eq!(counter(&s2, "checksum_errors"), 0);
    assert_eq!(counter(&s2, "checksum_convention_mismatch"), 0);
    // r2 with the default (pseudo-header) convention: still one Master, mismatches counted.
    p2.terminate(WAIT);
    let (_p2, s2) = spawn(&r2, lab.dir(), &conf(100));
    wait_until(
        WAIT,
        "r2 BACKUP hearing ten adverts of the other convention",
        || state(&s2).as_deref() == Some("BACKUP") && adverts_rx(&s2) >= 10,
    );
    assert_eq!(state(&s1).as_deref(), Some("MASTER"));
    assert_eq!(counter(&s2, "checksum_errors"), 0);
    assert!(counter(&s2, "checksum_convention_mismatch") >= 10);
}

/// Accept_Mode off (`no_accept`): the non-owner Master holds the VIP and answers ARP for it,
/// but drops traffic addressed to it (nftables table `inet vrrpd`), while its own address
/// answers; SIGHUP with `accept` lifts the drop; SIGTERM leaves no table behind.
#[test]
fn no_accept_master_drops_traffic_to_its_vip() {
    let lab = Lab::new("vrrpdna");
    let r1 = lab.add_node("r1");
    let client = lab.add_node("c");
    r1.add_addr(NODE_IF, "192.0.2.1/24");
    client.add_addr(NODE_IF, "192.0.2.10/24");
    let no_accept = conf(200).replace("  version 3\n", "  version 3\n  no_accept\n");
    let (mut p1, s1) = spawn(&r1, lab.dir(), &no_accept);
    wait_until(WAIT, "r1 MASTER", || {
        state(&s1).as_deref() == Some("MASTER")
    });
    assert!(has_vip(&r1));
    assert!(
        p1.log()
            .contains("accept mode off: traffic to 1 virtual address(es) dropped"),
        "{}",
        p1.log()
    );
    // r1's own address answers; the VIP resolves to r1 but its traffic is dropped.
    wait_until(WAIT, "the client reaches r1's own address", || {
        reaches_vip(&client, "192.0.2.1")
    });
    assert!(!reaches(&client), "a no_accept Master answered on its VIP");
    let neigh = client.ip(&["neigh", "show", VIP]);
    assert!(neigh.contains("lladdr"), "the VIP did not resolve: {neigh}");
    let rules = r1.run(&["nft", "list", "table", "inet", "vrrpd"]);
    assert!(rules.contains(VIP), "{rules}");
    let v4_drops = rules
        .lines()
        .find(|l| l.contains("ip daddr @vips4"))
        .unwrap_or_default();
    assert!(!v4_drops.contains("packets 0 "), "nothing dropped: {rules}");

    // SIGHUP with `accept`: the table goes, the VIP answers.
    std::fs::write(lab.dir().join("r1.conf"), conf(200)).unwrap();
    p1.signal(libc::SIGHUP);
    wait_until(WAIT, "the drop lifted after the reload", || {
        p1.log().contains("nftables table inet vrrpd removed")
    });
    wait_until(WAIT, "the client reaches the VIP", || reaches(&client));

    // Back to no_accept, then SIGTERM: no table is left behind.
    std::fs::write(lab.dir().join("r1.conf"), &no_accept).unwrap();
    p1.signal(libc::SIGHUP);
    wait_until(WAIT, "the drop back after the second reload", || {
        p1.log().matches("virtual address(es) dropped").count() == 2
    });
    p1.terminate(WAIT);
    let tables = r1.run(&["nft", "list", "tables"]);
    assert!(!tables.contains("vrrpd"), "left behind: {tables}");
}
