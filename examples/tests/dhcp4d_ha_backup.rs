//! Kea 2.2 HA backup servers, dhcp4d and a real kea-dhcp4 2.2 mixed, in network namespaces
//! (server1 192.0.2.1, server2 192.0.2.3, server3 192.0.2.4, perfdhcp as a relay on
//! 192.0.2.2):
//!
//! * a hot-standby pair with a third server of role `backup`: the primary's leases reach the
//!   backup (`lease4-get-all`), which stays in the `backup` state and answers no client
//!   (dhcp4d pair + Kea backup; Kea primary + dhcp4d standby + dhcp4d backup);
//! * the `passive-backup` mode, a primary with one backup: the primary is in the
//!   `passive-backup` state, serves and replicates to the backup. With `wait-backup-ack`
//!   true an ACK leaves only after the backup acknowledged the lease, and with the backup
//!   stopped no ACK leaves (Kea 2.2 drops the parked reply when an update it waits for
//!   fails, `ha_service.cc` `asyncSendLeaseUpdate`); with false (Kea's default) the primary
//!   serves on without its backup.
//!
//! Needs root, iproute2, perfdhcp, tcpdump, kea-dhcp4 and Kea's HA and lease_cmds hooks.

mod dhcp4d_common;

use std::time::Duration;

use dhcp4d_common::ha::*;
use dhcp4d_common::*;
use examples::netns::wait_until;
use serde_json::{Value, json};

const TAG: &str = "hkb";

/// How long the lease updates to a backup (not waited for) may take to land.
const BACKUP_CATCH_UP: Duration = Duration::from_secs(10);

/// A hot-standby pair (server1 primary, server2 standby) and server3 with role `backup`.
fn hot_standby_with_backup(impls: [Impl; 3]) {
    let lab = HaLab::new(TAG, 3);
    let roles = ["primary", "standby", "backup"];
    let _procs: Vec<_> = (0..3)
        .map(|i| {
            let c = lab.write(i, &lab.config(i, "hot-standby", &roles, &Value::Null));
            lab.start(i, impls[i], &c)
        })
        .collect();
    lab.wait_state(2, "backup", Duration::from_secs(10));
    lab.wait_state(0, "hot-standby", Duration::from_secs(20));
    lab.wait_state(1, "hot-standby", Duration::from_secs(20));
    let (mut cap, pcap) = lab.capture("acks.pcap");
    let perf = perfdhcp(&lab.cli, &["-r", "50", "-n", "30", "-R", "30"]);
    let ra = perf.get("REQUEST-ACK");
    assert_eq!((ra.sent, ra.received), (30, 30), "{}", perf.output);
    cap.terminate(Duration::from_secs(5));
    let l1 = lab.leases_of(0);
    assert_eq!(l1.len(), 30, "{l1:?}");
    // The standby's update is waited for, the backup's is not (hot-standby requires
    // wait-backup-ack false).
    assert_eq!(l1, lab.leases_of(1), "the standby has every lease");
    let mut l3 = Leases::new();
    wait_until(
        BACKUP_CATCH_UP,
        "the backup to hold the primary's leases",
        || {
            l3 = lab.leases_of(2);
            l3 == l1
        },
    );
    // Only the primary answered: the backup and the standby served no client.
    // (The capture also holds the relayed queries perfdhcp sends, port 67 to 67.)
    let replies: Vec<_> = dhcp_in_pcap(&std::fs::read(&pcap).unwrap())
        .into_iter()
        .filter(|(src, _)| src.to_string() != CLIENT_IP)
        .collect();
    assert!(
        !replies.is_empty() && replies.iter().all(|(src, _)| src.to_string() == SRV_IP3[0]),
        "replies from server1 only: {:?}",
        replies.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_eq!(lab.acks_sent(2), 0, "the backup sent ACKs");
    assert_eq!(lab.acks_sent(1), 0, "the standby sent ACKs");
    // The backup stays a backup, and reports no partner (Kea omits `remote` for a backup).
    let s = lab.ha_status(2);
    assert_eq!(s["ha-servers"]["local"]["state"], "backup", "{s}");
    assert_eq!(s["ha-servers"]["local"]["role"], "backup", "{s}");
    assert_eq!(s["ha-servers"]["local"]["scopes"], json!([]), "{s}");
    assert!(s["ha-servers"]["remote"].is_null(), "{s}");
    assert_eq!(s["ha-mode"], "hot-standby", "{s}");
    // The pair still sees each other in hot-standby.
    let s = lab.ha_status(0);
    assert_eq!(
        s["ha-servers"]["remote"]["last-state"], "hot-standby",
        "{s}"
    );
    assert_eq!(s["ha-servers"]["remote"]["role"], "standby", "{s}");
}

#[test]
fn dhcp4d_hot_standby_pair_with_a_kea_backup() {
    hot_standby_with_backup([Impl::Dhcp4d, Impl::Dhcp4d, Impl::Kea]);
}

#[test]
fn kea_primary_dhcp4d_standby_and_dhcp4d_backup() {
    hot_standby_with_backup([Impl::Kea, Impl::Dhcp4d, Impl::Dhcp4d]);
}

/// The passive-backup mode: server1 (`primary`) with one backup (server2), first with
/// `wait-backup-ack` true, then false.
fn passive_backup(impls: [Impl; 2]) {
    let lab = HaLab::new(TAG, 2);
    let roles = ["primary", "backup"];
    let conf = |wait: bool| {
        let ha = json!({ "wait-backup-ack": wait });
        lab.write(0, &lab.config(0, "passive-backup", &roles, &ha))
    };
    let c2 = lab.write(1, &lab.config(1, "passive-backup", &roles, &Value::Null));
    let mut primary = lab.start(0, impls[0], &conf(true));
    let mut backup = lab.start(1, impls[1], &c2);
    // No heartbeats in this mode: both reach their state on their own.
    lab.wait_state(0, "passive-backup", Duration::from_secs(10));
    lab.wait_state(1, "backup", Duration::from_secs(10));
    // Kea logs the transitions of this mode without a partner state.
    for (pr, to) in [(&primary, "PASSIVE-BACKUP"), (&backup, "BACKUP")] {
        let want = format!(
            "HA_STATE_TRANSITION_PASSIVE_BACKUP server transitions from WAITING to {to} state"
        );
        assert!(pr.log().contains(&want), "{want} in {}", pr.log());
    }
    let s = lab.ha_status(0);
    assert_eq!(s["ha-mode"], "passive-backup", "{s}");
    assert_eq!(s["ha-servers"]["local"]["role"], "primary", "{s}");
    assert_eq!(
        s["ha-servers"]["local"]["scopes"],
        json!(["server1"]),
        "{s}"
    );
    assert!(
        s["ha-servers"]["remote"].is_null(),
        "no partner in passive-backup: {s}"
    );

    // wait-backup-ack true: an ACK leaves after the backup acknowledged its lease, so the
    // backup holds every lease the moment perfdhcp is done.
    let perf = perfdhcp(&lab.cli, &["-r", "50", "-n", "20", "-R", "20"]);
    let ra = perf.get("REQUEST-ACK");
    assert_eq!((ra.sent, ra.received), (20, 20), "{}", perf.output);
    let l1 = lab.leases_of(0);
    assert_eq!(l1.len(), 20, "{l1:?}");
    assert_eq!(
        l1,
        lab.leases_of(1),
        "the backup acknowledged every lease before its ACK"
    );
    assert_eq!(lab.acks_sent(1), 0, "the backup sent ACKs");

    // The backup stops: every update fails, and with wait-backup-ack true no ACK leaves.
    backup.terminate(Duration::from_secs(10));
    let perf = perfdhcp(
        &lab.cli,
        &[
            "-r",
            "20",
            "-n",
            "5",
            "-R",
            "5",
            "-b",
            "mac=00:0c:66:00:00:00",
        ],
    );
    assert_eq!(
        perf.get("DISCOVER-OFFER").received,
        5,
        "OFFERs write no lease and wait for nobody: {}",
        perf.output
    );
    assert_eq!(
        perf.get("REQUEST-ACK").received,
        0,
        "wait-backup-ack true with the backup down: no ACK: {}",
        perf.output
    );
    assert_eq!(lab.state(0), "passive-backup");

    // wait-backup-ack false (Kea's default): the primary serves without its backup.
    primary.terminate(Duration::from_secs(10));
    let c1 = conf(false);
    let _primary = lab.start(0, impls[0], &c1);
    lab.wait_state(0, "passive-backup", Duration::from_secs(10));
    let perf = perfdhcp(
        &lab.cli,
        &[
            "-r",
            "20",
            "-n",
            "5",
            "-R",
            "5",
            "-b",
            "mac=00:0c:67:00:00:00",
        ],
    );
    assert_eq!(
        perf.get("REQUEST-ACK").received,
        5,
        "wait-backup-ack false: ACKs without the backup: {}",
        perf.output
    );
    // The backup returns and receives the updates of new leases again (a backup does not
    // synchronise what it missed).
    let _backup = lab.start(1, impls[1], &c2);
    lab.wait_state(1, "backup", Duration::from_secs(10));
    let perf = perfdhcp(
        &lab.cli,
        &[
            "-r",
            "20",
            "-n",
            "5",
            "-R",
            "5",
            "-b",
            "mac=00:0c:68:00:00:00",
        ],
    );
    assert_eq!(perf.get("REQUEST-ACK").received, 5, "{}", perf.output);
    let l1 = lab.leases_of(0);
    let new: Leases = l1
        .into_iter()
        .filter(|(_, l)| l.0.starts_with("00:0c:68"))
        .collect();
    assert_eq!(new.len(), 5, "{new:?}");
    wait_until(BACKUP_CATCH_UP, "the backup to hold the new leases", || {
        let l2 = lab.leases_of(1);
        new.iter().all(|(a, l)| l2.get(a) == Some(l))
    });
}

#[test]
fn passive_backup_dhcp4d_primary_kea_backup() {
    passive_backup([Impl::Dhcp4d, Impl::Kea]);
}

#[test]
fn passive_backup_dhcp4d_primary_dhcp4d_backup() {
    passive_backup([Impl::Dhcp4d, Impl::Dhcp4d]);
}

/// The reference: Kea itself as the passive-backup primary, with a dhcp4d backup.
#[test]
fn passive_backup_kea_primary_dhcp4d_backup() {
    passive_backup([Impl::Kea, Impl::Dhcp4d]);
}
