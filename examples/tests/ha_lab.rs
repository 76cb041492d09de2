//! The HA lab's default scenario through the library (`examples::lab`): r1 (Master, Kea HA
//! primary) loses every daemon (SIGKILL) and its links; the client must keep its TCP
//! connection, see a UDP gap bounded by the advert interval, and have its renewal answered by
//! r2. Namespaces are prefixed `hklab`; nothing may be left behind. Needs root, iproute2,
//! nftables and conntrack: without them the test fails saying so.

use std::time::Duration;

use examples::lab::topology::{LAN_VIP, Router};
use examples::lab::{Binaries, HaLab, Options, Scenario};

fn bins() -> Binaries {
    Binaries {
        vrrpd: env!("CARGO_BIN_EXE_vrrpd").into(),
        dhcp4d: env!("CARGO_BIN_EXE_dhcp4d").into(),
        ctsyncd: env!("CARGO_BIN_EXE_ctsyncd").into(),
    }
}

fn namespaces() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kill_of_the_master_keeps_tcp_and_dhcp() {
    let mut opts = Options::new(bins());
    opts.tag = "lab".into();
    opts.scenario = Scenario::Kill;
    opts.advert = Duration::from_millis(100);
    let mut lab = HaLab::build(&opts).unwrap_or_else(|e| panic!("building the lab: {e}"));
    let prefix = lab.lab().prefix().to_owned();
    assert!(prefix.starts_with("hklab-"), "{prefix}");
    let report = lab
        .run_scenario()
        .unwrap_or_else(|e| panic!("running the scenario: {e}"));
    drop(lab);
    eprintln!("{}", report.text());

    // Nothing left behind.
    let left = namespaces();
    assert!(
        !left.lines().any(|l| l.starts_with(&prefix)),
        "namespaces of {prefix} left behind:\n{left}"
    );

    // The client got a lease from r1 with the LAN VIP as its router.
    let lease = report.dhcp.lease.as_ref().expect("the client got a lease");
    let host = lease.address.octets()[3];
    assert!(
        lease.address.octets()[..3] == [192, 0, 2] && (100..=200).contains(&host),
        "address {} outside the pool",
        lease.address
    );
    assert_eq!(lease.router, Some(LAN_VIP), "routers option");
    assert_eq!(lease.server_id, Router::R1.lan(), "r1 served first");

    // r2 took over within Master_Down_Interval plus a margin, and committed the conntracks.
    let mdi = report.master_down_interval_ms;
    let r2 = report.r2_master_ms.expect("r2 became Master");
    assert!(
        r2 < mdi + 200.0,
        "r2 Master after {r2:.1} ms (MDI {mdi:.1} ms)"
    );
    let commit = report
        .conntrack_commit_ms
        .expect("r2's notify_master committed the external cache");
    assert!(
        commit >= r2,
        "commit at {commit:.1} ms before r2 was Master"
    );

    // The TCP connection survived: no reset, and data written after the event came back.
    assert!(report.tcp.survived, "TCP connection lost: {:?}", report.tcp);
    assert!(report.tcp.error.is_none(), "{:?}", report.tcp.error);
    assert!(
        report.tcp.echoed_after_event >= 100,
        "only {} counters written after the event were echoed",
        report.tcp.echoed_after_event
    );

    // The UDP stream's longest gap is bounded by Master_Down_Interval + 200 ms (measured:
    // about MDI - 30 ms, since r2 hears r1's last advert up to an interval before the event).
    let gap = report.udp.longest_gap_ms;
    assert!(
        gap < mdi + 200.0,
        "UDP gap {gap:.1} ms, bound {:.1} ms",
        mdi + 200.0
    );
    assert!(
        report.vip_answered_ms.is_some(),
        "the VIPs never answered again"
    );

    // The renewal (or the rebind) was answered by r2.
    assert_eq!(
        report.dhcp.server.as_deref(),
        Some("r2"),
        "DHCP after the event: {:?}",
        report.dhcp
    );
    assert_eq!(report.dhcp.server_id, Some(Router::R2.lan()));
    assert!(report.dhcp.served_again_ms.is_some_and(|t| t > 0.0));
}
