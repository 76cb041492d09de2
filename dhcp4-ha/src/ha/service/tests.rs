//! Backup servers and the passive-backup mode (Kea 2.2 `ha_service.cc`: `backupStateHandler`,
//! `passiveBackupStateHandler`, `shouldSendLeaseUpdates`, `asyncSendLeaseUpdate`).

use super::*;
use crate::config::{NoIncludes, json};
use crate::lease::Lease4;
use crate::server::{ChangeKind, LeaseChange, Origin};

const UNIX0: u64 = 1_800_000_000;

/// The HA configuration of `me` among `peers` (`(name, role)`; server`N` listens on
/// 192.0.2.`N`) in `mode`, with fast timers and `extra` keys (a JSON fragment ending with a
/// comma, or empty).
fn cfg(mode: &str, me: &str, peers: &[(&str, &str)], extra: &str) -> HaConfig {
    let peers: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, (name, role))| {
            format!(
                r#"{{ "name": "{name}", "url": "http://192.0.2.{}:8001/", "role": "{role}" }}"#,
                i + 1
            )
        })
        .collect();
    let text = format!(
        r#"[{{ "this-server-name": "{me}", "mode": "{mode}", "heartbeat-delay": 1000,
              "max-response-delay": 3000, "max-ack-delay": 1000, "max-unacked-clients": 0,
              {extra} "peers": [ {} ] }}]"#,
        peers.join(", ")
    );
    let v = json::parse(&text, "ha.json", &mut NoIncludes)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .root;
    HaConfig::from_value(&v, None).unwrap_or_else(|e| panic!("HA config: {e}"))
}

const HS_WITH_BACKUP: [(&str, &str); 3] = [
    ("server1", "primary"),
    ("server2", "standby"),
    ("server3", "backup"),
];

const PASSIVE: [(&str, &str); 2] = [("server1", "primary"), ("server2", "backup")];

fn change(seq: u64, last_octet: u8) -> LeaseChange {
    let mut lease = Lease4::new(Ipv4Addr::new(192, 0, 2, last_octet));
    lease.hwaddr = vec![0, 0x0c, 1, 2, 3, last_octet];
    lease.valid_lifetime = 3600;
    lease.cltt = UNIX0;
    lease.subnet_id = 1;
    LeaseChange {
        seq,
        kind: ChangeKind::Added,
        lease,
        origin: Origin::Dhcp,
    }
}

fn requests(s: &mut HaService) -> Vec<OutRequest> {
    core::iter::from_fn(|| s.poll_request()).collect()
}

fn gates(s: &mut HaService) -> Vec<GateAction> {
    core::iter::from_fn(|| s.poll_gate()).collect()
}

fn events(s: &mut HaService) -> Vec<HaEvent> {
    core::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn a_backup_server_goes_to_backup_serves_nothing_and_sends_no_heartbeat() {
    let t0 = Instant::now();
    let mut s = HaService::new(
        cfg("hot-standby", "server3", &HS_WITH_BACKUP, ""),
        t0,
        UNIX0,
    );
    assert_eq!(s.state(), HaState::Backup);
    assert!(!s.dhcp_enabled(), "a backup serves no client");
    assert!(s.served_scopes().is_empty());
    assert!(s.serves_no_scope());
    assert_eq!(s.poll_timeout(), None, "no heartbeat from a backup");
    s.handle_timeout(t0 + Duration::from_secs(60), UNIX0 + 60);
    assert!(requests(&mut s).is_empty());
    assert_eq!(s.state(), HaState::Backup);
    // Kea leaves `remote` out of a backup's status.
    let st = s.status(t0);
    assert_eq!(st["ha-servers"]["local"]["state"], "backup");
    assert_eq!(st["ha-servers"]["local"]["role"], "backup");
    assert!(st["ha-servers"].get("remote").is_none(), "{st}");
    let hb = s.heartbeat_answer(UNIX0);
    assert_eq!(hb.arguments.as_ref().unwrap()["state"], "backup");
    // In hot-standby the transition is HA_STATE_TRANSITION, as Kea logs it.
    let ev = events(&mut s);
    let tr = ev
        .iter()
        .find(|e| matches!(e, HaEvent::StateTransition { .. }))
        .expect("a transition");
    assert_eq!(tr.kea_id(), "HA_STATE_TRANSITION");
}

#[test]
fn a_passive_backup_primary_serves_and_logs_its_transition_without_partner() {
    let t0 = Instant::now();
    let mut s = HaService::new(cfg("passive-backup", "server1", &PASSIVE, ""), t0, UNIX0);
    assert_eq!(s.state(), HaState::PassiveBackup);
    assert!(s.dhcp_enabled());
    assert_eq!(s.served_scopes(), vec![String::from("server1")]);
    assert!(!s.serves_no_scope());
    assert_eq!(s.poll_timeout(), None, "no heartbeat in passive-backup");
    let st = s.status(t0);
    assert!(st["ha-servers"].get("remote").is_none(), "{st}");
    let tr = events(&mut s)
        .into_iter()
        .find(|e| matches!(e, HaEvent::StateTransition { .. }))
        .expect("a transition");
    assert_eq!(tr.kea_id(), "HA_STATE_TRANSITION_PASSIVE_BACKUP");
    assert_eq!(
        tr.to_string(),
        "server transitions from WAITING to PASSIVE-BACKUP state (server role)"
    );
    // The backup server of that mode.
    let b = HaService::new(cfg("passive-backup", "server2", &PASSIVE, ""), t0, UNIX0);
    assert_eq!(b.state(), HaState::Backup);
    assert!(!b.dhcp_enabled());
}

#[test]
fn wait_backup_ack_false_releases_the_reply_at_once_and_ignores_a_failed_update() {
    let t0 = Instant::now();
    let mut s = HaService::new(cfg("passive-backup", "server1", &PASSIVE, ""), t0, UNIX0);
    s.lease_changed(t0, &change(1, 10));
    let out = requests(&mut s);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].peer, "server2");
    assert_eq!(out[0].request.known(), Some(Command::Lease4Update));
    assert_eq!(
        gates(&mut s),
        vec![GateAction::Release(1)],
        "not waited for"
    );
    let e = Err(TransportError::Connect("Connection refused".into()));
    s.handle_response(t0, UNIX0, out[0].id, e);
    assert!(gates(&mut s).is_empty(), "nothing dropped");
    assert_eq!(s.counters().replies_dropped, 0);
    assert_eq!(s.state(), HaState::PassiveBackup);
}

#[test]
fn wait_backup_ack_true_holds_the_reply_until_the_backup_acks_and_drops_it_on_failure() {
    let t0 = Instant::now();
    let c = cfg(
        "passive-backup",
        "server1",
        &PASSIVE,
        r#""wait-backup-ack": true,"#,
    );
    let mut s = HaService::new(c, t0, UNIX0);
    s.lease_changed(t0, &change(1, 10));
    s.lease_changed(t0, &change(2, 11));
    let out = requests(&mut s);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(gates(&mut s).is_empty(), "both replies held for the backup");
    s.handle_response(
        t0,
        UNIX0,
        out[0].id,
        Ok(Answer::success("IPv4 lease added.", None)),
    );
    assert_eq!(gates(&mut s), vec![GateAction::Release(1)]);
    let e = Err(TransportError::Connect("Connection refused".into()));
    s.handle_response(t0, UNIX0, out[1].id, e);
    assert_eq!(gates(&mut s), vec![GateAction::Discard(2)]);
    assert_eq!(s.counters().replies_dropped, 1);
    // A failed backup is not a partner: the mode and its state do not change.
    assert_eq!(s.state(), HaState::PassiveBackup);
    assert_eq!(s.partner_state(), None);
}

#[test]
fn a_partner_down_primary_still_updates_its_backup_and_counts_only_the_partner_unsent() {
    let t0 = Instant::now();
    let mut s = HaService::new(
        cfg("hot-standby", "server1", &HS_WITH_BACKUP, ""),
        t0,
        UNIX0,
    );
    // The standby never answers: heartbeats fail until max-response-delay has passed.
    for sec in 1..=8 {
        let now = t0 + Duration::from_secs(sec);
        s.handle_timeout(now, UNIX0 + sec);
        for r in requests(&mut s) {
            assert_eq!(r.peer, "server2", "heartbeats go to the partner only");
            let e = Err(TransportError::Connect("Connection refused".into()));
            s.handle_response(now, UNIX0 + sec, r.id, e);
        }
        if s.state() == HaState::PartnerDown {
            break;
        }
    }
    assert_eq!(s.state(), HaState::PartnerDown);
    gates(&mut s);
    let now = t0 + Duration::from_secs(9);
    s.lease_changed(now, &change(1, 10));
    let out = requests(&mut s);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].peer, "server3", "the backup gets every update");
    assert_eq!(out[0].request.known(), Some(Command::Lease4Update));
    assert_eq!(
        s.unsent_update_count(),
        1,
        "one update not sent to the partner"
    );
    assert_eq!(
        gates(&mut s),
        vec![GateAction::Release(1)],
        "not waited for"
    );
}
