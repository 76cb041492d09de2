//! The HA state machine in scripted scenarios: one service against a scripted partner on a
//! virtual clock (start-up, failure detection, maintenance, clock skew, pausing,
//! communication-recovery, lease updates and the reply gate).

mod ha_common;

use std::net::Ipv4Addr;

use dhcp4_ha::control::{Answer, Command, Request};
use dhcp4_ha::ha::{CommandReply, GateAction, HaEvent, HaState, QueryFacts};
use dhcp4_ha::lease::Lease4;
use dhcp4_ha::server::{ChangeKind, LeaseChange, Origin};
use dhcp4_ha::wire::MessageType;
use ha_common::*;
use serde_json::json;

fn hs(me: &str, extra: &str) -> dhcp4_ha::ha::HaConfig {
    ha_config("hot-standby", me, &format!("{FAST}{extra}"))
}

fn lease(n: u8) -> Lease4 {
    let mut l = Lease4::new(Ipv4Addr::new(192, 0, 2, 100 + n));
    l.hwaddr = vec![2, 0, 0, 0, 0, n];
    l.client_id = vec![1, 2, 0, 0, 0, 0, n];
    l.valid_lifetime = 3600;
    l.cltt = UNIX0;
    l.subnet_id = 1;
    l
}

fn change(seq: u64, n: u8, origin: Origin) -> LeaseChange {
    LeaseChange {
        seq,
        kind: ChangeKind::Added,
        lease: lease(n),
        origin,
    }
}

fn cmd(c: Command, args: Option<serde_json::Value>) -> Request {
    Request::new(c, args)
}

/// Primary + standby partner in waiting: primary syncs, goes ready, then hot-standby once
/// the partner is ready too.
#[test]
fn start_up_hot_standby_primary() {
    let mut s = Single::new(hs("server1", ""), FakePartner::new(HaState::Waiting));
    assert_eq!(s.ha.state(), HaState::Waiting);
    assert!(!s.ha.dhcp_enabled(), "DHCP is off while waiting");
    assert!(s.ha.served_scopes().is_empty());
    s.until(1500, "ready", |s| s.ha.state() == HaState::Ready);
    assert_eq!(
        s.transitions(),
        vec![
            (HaState::Waiting, HaState::Syncing),
            (HaState::Syncing, HaState::Ready)
        ]
    );
    // Sync: dhcp-disable (max-period = 60 s default sync-timeout), one page, notify.
    let names: Vec<&str> = s
        .partner
        .received
        .iter()
        .map(|r| r.command.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ha-heartbeat",
            "dhcp-disable",
            "lease4-get-page",
            "ha-sync-complete-notify"
        ]
    );
    assert_eq!(
        s.partner.received[1].arguments,
        Some(json!({"max-period": 60, "origin": "ha-partner"}))
    );
    assert_eq!(
        s.partner.received[2].arguments,
        Some(json!({"from": "start", "limit": 10000}))
    );
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::SyncSucceeded { .. }))
    );
    assert!(!s.ha.dhcp_enabled(), "DHCP is off while ready");
    s.partner.state = HaState::Ready;
    s.until(1500, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    assert!(s.ha.dhcp_enabled());
    assert_eq!(s.ha.served_scopes(), ["server1"]);
    assert!(s.events.iter().any(|e| matches!(
        e,
        HaEvent::LocalDhcp {
            enabled: true,
            state: HaState::HotStandby,
            ..
        }
    )));
}

/// The standby lets the primary go first at each step and serves no scope when normal.
#[test]
fn start_up_hot_standby_standby() {
    let mut s = Single::new(hs("server2", ""), FakePartner::new(HaState::Waiting));
    s.advance_ms(3000);
    assert_eq!(
        s.ha.state(),
        HaState::Waiting,
        "standby waits while both wait"
    );
    s.partner.state = HaState::Syncing;
    s.advance_ms(2000);
    assert_eq!(
        s.ha.state(),
        HaState::Waiting,
        "waits while the partner syncs"
    );
    s.partner.state = HaState::Ready;
    s.until(1500, "ready", |s| s.ha.state() == HaState::Ready);
    s.advance_ms(3000);
    assert_eq!(
        s.ha.state(),
        HaState::Ready,
        "both ready: the primary goes first"
    );
    s.partner.state = HaState::HotStandby;
    s.until(1500, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    assert!(
        s.ha.served_scopes().is_empty(),
        "the standby serves nothing"
    );
    assert!(s.ha.dhcp_enabled());
}

fn normal_primary(extra: &str) -> Single {
    let mut s = Single::new(hs("server1", extra), FakePartner::new(HaState::Ready));
    s.until(3000, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    s.partner.state = HaState::HotStandby;
    s.advance_ms(1000);
    s
}

/// A hot-standby primary goes partner-down once heartbeats fail for longer than
/// max-response-delay (3 s), without looking at clients.
#[test]
fn partner_down_primary_by_heartbeat_failure() {
    let mut s = normal_primary("");
    s.partner.alive = false;
    let t = s.until(6000, "partner-down", |s| {
        s.ha.state() == HaState::PartnerDown
    });
    assert!((3000..=4500).contains(&t), "partner-down after {t} ms");
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::CommunicationInterrupted { .. }))
    );
    assert_eq!(s.ha.served_scopes(), ["server1"]);
    assert!(s.ha.dhcp_enabled());
}

fn normal_standby(extra: &str) -> Single {
    let mut p = FakePartner::new(HaState::HotStandby);
    p.scopes = vec!["server1".into()];
    let mut s = Single::new(hs("server2", extra), p);
    s.until(3000, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    s
}

fn query(n: u32, secs: u16) -> (Vec<u8>, Vec<u8>, u16) {
    let b = n.to_be_bytes();
    let mac = vec![2, 0, b[0], b[1], b[2], b[3]];
    let mut cid = vec![1];
    cid.extend_from_slice(&mac);
    (mac, cid, secs)
}

fn offer_queries(s: &mut Single, from: u32, count: u32, secs: u16) {
    for n in from..from + count {
        let (mac, cid, secs) = query(n, secs);
        let f = QueryFacts {
            message_type: Some(MessageType::DISCOVER),
            hw_addr: &mac,
            client_id: Some(&cid),
            secs,
            xid: n,
        };
        assert!(!s.ha.should_serve(s.now, &f), "the standby does not serve");
    }
}

/// The standby with max-unacked-clients 10 needs more than 10 clients retrying (secs above
/// max-ack-delay) for the primary's scope; clients with secs 0 never count (Kea's pitfall).
#[test]
fn partner_down_standby_needs_unacked_clients() {
    let mut s = normal_standby("");
    s.partner.alive = false;
    s.advance_ms(5000);
    assert!(s.ha.partner_state() == Some(HaState::Unavailable));
    offer_queries(&mut s, 1, 50, 0);
    s.advance_ms(3000);
    assert_eq!(
        s.ha.state(),
        HaState::HotStandby,
        "secs 0 clients never trigger"
    );
    offer_queries(&mut s, 100, 10, 5);
    s.advance_ms(2000);
    assert_eq!(
        s.ha.state(),
        HaState::HotStandby,
        "10 unacked clients are not more than 10"
    );
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::ClientUnacked { left: 1, .. }))
    );
    offer_queries(&mut s, 200, 1, 5);
    s.until(1500, "partner-down", |s| {
        s.ha.state() == HaState::PartnerDown
    });
    assert_eq!(s.ha.served_scopes(), ["server1"]);
    // Byte-swapped secs (0x0500 = 5 s little-endian) count too.
    let mut s = normal_standby("\"max-unacked-clients\": 0,");
    s.partner.alive = false;
    let t = s.until(6000, "partner-down", |s| {
        s.ha.state() == HaState::PartnerDown
    });
    assert!(
        (3000..=4500).contains(&t),
        "max-unacked-clients 0: partner-down after {t} ms"
    );
}

/// ha-maintenance-start on the primary: the partner goes in-maintenance, the primary
/// partner-in-maintenance; ha-maintenance-cancel reverts.
#[test]
fn maintenance_start_and_cancel() {
    let mut s = normal_primary("");
    let CommandReply::Deferred(id) = s.command(cmd(Command::HaMaintenanceStart, None)) else {
        panic!("ha-maintenance-start needs the partner");
    };
    let answer = s
        .events
        .iter()
        .find_map(|e| match e {
            HaEvent::CommandAnswered { id: i, answer } if *i == id => Some(answer.clone()),
            _ => None,
        })
        .expect("answered");
    assert_eq!(answer.result, 0);
    assert_eq!(
        answer.text.as_deref(),
        Some(
            "Server is now in the partner-in-maintenance state and its partner is \
             in-maintenance state. The partner can be now safely shut down."
        )
    );
    assert_eq!(s.ha.state(), HaState::PartnerInMaintenance);
    assert_eq!(
        s.partner.received.last().unwrap().arguments,
        Some(json!({"cancel": false}))
    );
    s.partner.state = HaState::InMaintenance;
    s.advance_ms(2000);
    assert_eq!(s.ha.state(), HaState::PartnerInMaintenance);
    // Partner shut down: partner-down.
    s.partner.alive = false;
    s.until(1500, "partner-down", |s| {
        s.ha.state() == HaState::PartnerDown
    });

    // Cancel from partner-in-maintenance.
    let mut s = normal_primary("");
    s.command(cmd(Command::HaMaintenanceStart, None));
    assert_eq!(s.ha.state(), HaState::PartnerInMaintenance);
    s.partner.state = HaState::InMaintenance;
    s.command(cmd(Command::HaMaintenanceCancel, None));
    assert_eq!(s.ha.state(), HaState::HotStandby);
    assert!(s.events.iter().any(|e| matches!(
        e,
        HaEvent::CommandAnswered { answer: Answer { result: 0, text: Some(t), .. }, .. }
            if t == "Server maintenance successfully canceled."
    )));

    // Partner unreachable: partner-down right away.
    let mut s = normal_primary("");
    s.partner.alive = false;
    s.command(cmd(Command::HaMaintenanceStart, None));
    assert_eq!(s.ha.state(), HaState::PartnerDown);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::MaintenanceStartedInPartnerDown))
    );
}

/// The partner's ha-maintenance-notify moves this server in and out of in-maintenance.
#[test]
fn maintenance_notify_from_partner() {
    let mut s = normal_standby("");
    let r = s.command(cmd(
        Command::HaMaintenanceNotify,
        Some(json!({"cancel": false})),
    ));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("Server is in-maintenance state.")
    );
    assert_eq!(s.ha.state(), HaState::InMaintenance);
    assert!(!s.ha.dhcp_enabled());
    let r = s.command(cmd(
        Command::HaMaintenanceNotify,
        Some(json!({"cancel": true})),
    ));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("Server maintenance canceled.")
    );
    // Back to the previous state.
    assert_eq!(s.ha.state(), HaState::HotStandby);
    assert!(s.ha.dhcp_enabled());
    let r = s.command(cmd(
        Command::HaMaintenanceNotify,
        Some(json!({"cancel": true})),
    ));
    assert_eq!(r.answer().unwrap().result, 1);
    let r = s.command(cmd(Command::HaMaintenanceNotify, None));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("'cancel' is mandatory for the 'ha-maintenance-notify' command")
    );
}

/// Clock skew: above 30 s a warning (at most once a minute), above 60 s terminated; the
/// terminated server stops heartbeats and serves its own scope.
#[test]
fn clock_skew_warns_then_terminates() {
    let mut s = normal_primary("");
    s.partner.skew = 45;
    s.advance_ms(5000);
    let warns = s
        .events
        .iter()
        .filter(|e| matches!(e, HaEvent::HighClockSkew(_)))
        .count();
    assert_eq!(warns, 1, "one warning per minute");
    let text = s
        .events
        .iter()
        .find(|e| matches!(e, HaEvent::HighClockSkew(_)))
        .unwrap()
        .to_string();
    assert!(
        text.ends_with("partner's clock is 45s ahead, please synchronize clocks!"),
        "{text}"
    );
    assert_eq!(s.ha.state(), HaState::HotStandby);
    s.partner.skew = -61;
    s.until(1500, "terminated", |s| s.ha.state() == HaState::Terminated);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::ClockSkewTermination(t) if t.contains("61s behind")))
    );
    let hb = s.partner.count("ha-heartbeat");
    s.advance_ms(5000);
    assert_eq!(
        s.partner.count("ha-heartbeat"),
        hb,
        "no heartbeats in terminated"
    );
    assert_eq!(s.ha.served_scopes(), ["server1"]);
    assert!(s.ha.dhcp_enabled());
    s.partner.skew = 0;
    s.partner.state = HaState::Waiting;
    s.advance_ms(3000);
    assert_eq!(s.ha.state(), HaState::Terminated, "terminated is sticky");
}

/// pause "once" stops the machine the first time it enters ready; ha-continue lets it go on.
#[test]
fn pause_once_and_continue() {
    let extra = r#""state-machine": {"states": [{"state": "ready", "pause": "once"}]},"#;
    let mut p = FakePartner::new(HaState::Ready);
    p.state = HaState::Ready;
    let mut s = Single::new(hs("server1", extra), p);
    s.until(1500, "ready", |s| s.ha.state() == HaState::Ready);
    assert!(s.ha.is_paused());
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::Paused(HaState::Ready)))
    );
    s.advance_ms(3000);
    assert_eq!(s.ha.state(), HaState::Ready, "paused");
    let r = s.command(cmd(Command::HaContinue, None));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("HA state machine continues.")
    );
    let r = s.command(cmd(Command::HaContinue, None));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("HA state machine is not paused.")
    );
    s.until(1500, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    // Entering ready again (ha-reset → waiting → syncing → ready) does not pause.
    let r = s.command(cmd(Command::HaReset, None));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("HA state machine reset.")
    );
    s.until(3000, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    let readies = s
        .transitions()
        .iter()
        .filter(|t| **t == (HaState::Syncing, HaState::Ready))
        .count();
    assert_eq!(readies, 2);
    assert!(!s.ha.is_paused());
}

/// pause "always" on waiting: the service starts paused and stays in waiting.
#[test]
fn pause_always_at_start() {
    let extra = r#""state-machine": {"states": [{"state": "waiting", "pause": "always"}]},"#;
    let mut s = Single::new(hs("server1", extra), FakePartner::new(HaState::Waiting));
    assert!(s.ha.is_paused());
    s.advance_ms(5000);
    assert_eq!(s.ha.state(), HaState::Waiting);
    assert!(
        s.partner.count("ha-heartbeat") >= 4,
        "heartbeats go on while paused"
    );
    s.command(cmd(Command::HaContinue, None));
    s.until(1500, "syncing or ready", |s| s.ha.state() == HaState::Ready);
}

fn lb_primary(extra: &str) -> Single {
    let cfg = ha_config("load-balancing", "server1", &format!("{FAST}{extra}"));
    let mut s = Single::new(cfg, FakePartner::new(HaState::Ready));
    s.until(3000, "load-balancing", |s| {
        s.ha.state() == HaState::LoadBalancing
    });
    s.partner.state = HaState::LoadBalancing;
    s.advance_ms(1000);
    s
}

/// Load balancing with delayed-updates-limit: an unreachable partner sends the server to
/// communication-recovery, lease updates queue (replies not held), and the backlog is sent
/// when the partner is back.
#[test]
fn communication_recovery_sends_backlog() {
    let mut s = lb_primary("");
    assert_eq!(s.ha.served_scopes(), ["server1"]);
    s.partner.alive = false;
    s.until(1500, "communication-recovery", |s| {
        s.ha.state() == HaState::CommunicationRecovery
    });
    assert!(s.ha.dhcp_enabled());
    let before = s.partner.count("lease4-update");
    for n in 1..=3 {
        s.ha.lease_changed(s.now, &change(u64::from(n), n, Origin::Dhcp));
        s.pump();
    }
    assert_eq!(s.ha.backlog_len(), 3);
    assert_eq!(
        s.gates.last(),
        Some(&GateAction::Release(3)),
        "replies not held"
    );
    s.advance_ms(5000);
    assert_eq!(
        s.ha.state(),
        HaState::CommunicationRecovery,
        "LB needs unacked clients"
    );
    s.partner.alive = true;
    s.until(1500, "load-balancing", |s| {
        s.ha.state() == HaState::LoadBalancing
    });
    assert_eq!(s.partner.count("lease4-update") - before, 3, "backlog sent");
    assert_eq!(s.ha.backlog_len(), 0);
}

/// A backlog beyond delayed-updates-limit makes the server reset the partner and resync.
#[test]
fn communication_recovery_overflow_resets() {
    let mut s = lb_primary("\"delayed-updates-limit\": 2,");
    s.partner.alive = false;
    s.until(1500, "communication-recovery", |s| {
        s.ha.state() == HaState::CommunicationRecovery
    });
    for n in 1..=3 {
        s.ha.lease_changed(s.now, &change(u64::from(n), n, Origin::Dhcp));
    }
    s.pump();
    assert_eq!(s.ha.backlog_len(), 2);
    s.partner.alive = true;
    s.until(1500, "waiting", |s| {
        s.transitions()
            .contains(&(HaState::CommunicationRecovery, HaState::Waiting))
    });
    assert_eq!(s.partner.count("ha-reset"), 1);
}

/// Lease updates hold the reply until acked; failures drop it and mark the partner
/// unavailable; conflicts drop it without; other origins pass at once.
#[test]
fn lease_updates_gate_the_replies() {
    let mut s = normal_primary("");
    s.hold = true;
    s.ha.lease_changed(s.now, &change(1, 1, Origin::Dhcp));
    s.pump();
    assert_eq!(s.held.len(), 1);
    assert_eq!(s.held[0].request.command, "lease4-update");
    assert!(s.gates.is_empty(), "held until the partner acks");
    s.ha.lease_changed(s.now, &change(2, 2, Origin::Reclamation));
    s.pump();
    assert!(s.gates.is_empty(), "cumulative: 2 waits for 1");
    let r = s.held.remove(0);
    s.ha.handle_response(
        s.now,
        s.unix,
        r.id,
        answer_back(&Answer::success("IPv4 lease added.", None)),
    );
    s.pump();
    assert_eq!(s.gates, [GateAction::Release(2)]);

    // Conflict: dropped, partner still in touch.
    s.gates.clear();
    s.ha.lease_changed(s.now, &change(3, 3, Origin::Dhcp));
    s.pump();
    let r = s.held.remove(0);
    let conflict = Answer::error("ResourceBusy: IP address:192.0.2.103 could not be updated.");
    s.ha.handle_response(s.now, s.unix, r.id, answer_back(&conflict));
    s.pump();
    assert_eq!(s.gates, [GateAction::Discard(3)]);
    assert_eq!(s.ha.partner_state(), Some(HaState::HotStandby));
    assert_eq!(s.ha.counters().update_conflicts, 1);

    // Failure: dropped, partner unavailable.
    s.gates.clear();
    s.ha.lease_changed(s.now, &change(4, 4, Origin::Dhcp));
    s.ha.lease_changed(s.now, &change(5, 5, Origin::Dhcp));
    s.pump();
    let r4 = s.held.remove(0);
    let r5 = s.held.remove(0);
    s.ha.handle_response(
        s.now,
        s.unix,
        r5.id,
        answer_back(&Answer::success("IPv4 lease added.", None)),
    );
    s.pump();
    assert!(s.gates.is_empty(), "5 waits for 4");
    s.ha.handle_response(
        s.now,
        s.unix,
        r4.id,
        Err(dhcp4_ha::ha::TransportError::Timeout),
    );
    s.pump();
    assert_eq!(s.gates, [GateAction::Discard(4), GateAction::Release(5)]);
    assert_eq!(s.ha.partner_state(), Some(HaState::Unavailable));
    assert!(
        s.events
            .iter()
            .any(|e| e.kea_id() == "HA_LEASE_UPDATE_COMMUNICATIONS_FAILED")
    );
}

/// An unanswered update fails on the service's own 10 s timeout.
#[test]
fn lease_update_times_out() {
    let mut s = normal_primary("");
    s.hold = true;
    s.ha.lease_changed(s.now, &change(1, 1, Origin::Dhcp));
    s.pump();
    s.advance_ms(9_900);
    assert!(!s.gates.contains(&GateAction::Discard(1)));
    s.advance_ms(200);
    assert!(s.gates.contains(&GateAction::Discard(1)), "{:?}", s.gates);
}

/// In partner-down no update is sent; the unsent count grows and the heartbeat reports it.
#[test]
fn partner_down_counts_unsent_updates() {
    let mut s = normal_primary("");
    s.partner.alive = false;
    s.until(6000, "partner-down", |s| {
        s.ha.state() == HaState::PartnerDown
    });
    let sent = s.ha.counters().updates_sent;
    for n in 1..=4 {
        s.ha.lease_changed(s.now, &change(u64::from(n), n, Origin::Dhcp));
    }
    s.pump();
    assert_eq!(s.ha.counters().updates_sent, sent);
    assert_eq!(s.ha.unsent_update_count(), 4);
    assert_eq!(s.gates.last(), Some(&GateAction::Release(4)));
    let a = s.ha.heartbeat_answer(s.unix);
    assert_eq!(a.arguments.unwrap()["unsent-update-count"], json!(4));
    // The partner comes back ready with no unsent updates of its own: straight to normal.
    s.partner.alive = true;
    s.partner.state = HaState::Ready;
    s.until(1500, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
}

/// A partner-down server whose partner returns ready with new unsent updates resyncs.
#[test]
fn partner_down_resyncs_when_partner_has_unsent() {
    let mut s = normal_standby("\"max-unacked-clients\": 0,");
    s.partner.alive = false;
    s.until(6000, "partner-down", |s| {
        s.ha.state() == HaState::PartnerDown
    });
    s.partner.alive = true;
    s.partner.state = HaState::PartnerDown;
    s.partner.unsent = 7;
    s.until(1500, "waiting", |s| {
        s.transitions()
            .contains(&(HaState::PartnerDown, HaState::Waiting))
    });
}

/// The query filter drops everything while DHCP is disabled, and dhcp-disable from the
/// partner expires after max-period.
#[test]
fn dhcp_disable_from_partner_expires() {
    let mut s = normal_primary("");
    let r = s.command(cmd(
        Command::DhcpDisable,
        Some(json!({"max-period": 2, "origin": "ha-partner"})),
    ));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("DHCPv4 service disabled for 2 seconds")
    );
    assert!(!s.ha.dhcp_enabled());
    let (mac, cid, _) = query(1, 0);
    let f = QueryFacts {
        message_type: Some(MessageType::DISCOVER),
        hw_addr: &mac,
        client_id: Some(&cid),
        secs: 0,
        xid: 1,
    };
    assert!(!s.ha.should_serve(s.now, &f));
    s.advance_ms(2100);
    assert!(s.ha.dhcp_enabled());
    assert!(s.ha.should_serve(s.now, &f));
    let r = s.command(cmd(Command::DhcpDisable, Some(json!({"origin": "nobody"}))));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("invalid value used for 'origin' parameter: nobody")
    );
}

/// ha-scopes changes what is served; an unknown scope is refused with Kea's text.
#[test]
fn ha_scopes_command() {
    let mut s = normal_standby("");
    let r = s.command(cmd(Command::HaScopes, Some(json!({"scopes": ["server1"]}))));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("New HA scopes configured.")
    );
    assert_eq!(s.ha.served_scopes(), ["server1"]);
    let r = s.command(cmd(Command::HaScopes, Some(json!({"scopes": ["server9"]}))));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("invalid server name specified 'server9' while enabling/disabling HA scopes")
    );
    assert_eq!(s.ha.served_scopes(), ["server1"], "unchanged");
    let r = s.command(cmd(Command::HaScopes, Some(json!({}))));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("'scopes' is mandatory for the 'ha-scopes' command")
    );
    let r = s.command(Request::new(Command::ListCommands, None));
    assert_eq!(r.answer().unwrap().result, 2);
}

/// A sync whose ha-sync-complete-notify the partner does not know falls back to dhcp-enable.
#[test]
fn sync_complete_notify_falls_back_to_dhcp_enable() {
    let mut p = FakePartner::new(HaState::Waiting);
    p.notify_answer = Some(Answer::unsupported("ha-sync-complete-notify"));
    p.leases = (1..=5).map(lease).collect();
    let cfg = hs("server1", "\"sync-page-limit\": 2,");
    let mut s = Single::new(cfg, p);
    s.until(1500, "ready", |s| s.ha.state() == HaState::Ready);
    let names: Vec<&str> = s
        .partner
        .received
        .iter()
        .map(|r| r.command.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ha-heartbeat",
            "dhcp-disable",
            "lease4-get-page",
            "dhcp-disable",
            "lease4-get-page",
            "dhcp-disable",
            "lease4-get-page",
            "ha-sync-complete-notify",
            "dhcp-enable"
        ]
    );
    assert_eq!(
        s.partner.received[4].arguments,
        Some(json!({"from": "192.0.2.102", "limit": 2}))
    );
    let fetched: usize = s
        .events
        .iter()
        .map(|e| match e {
            HaEvent::LeasesFetched { leases, .. } => leases.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(fetched, 5);
}

/// ha-sync from an operator answers after the sync.
#[test]
fn ha_sync_command() {
    let mut s = normal_primary("");
    s.partner.leases = (1..=3).map(lease).collect();
    let r = s.command(cmd(
        Command::HaSync,
        Some(json!({"server-name": "server2", "max-period": 5})),
    ));
    let CommandReply::Deferred(id) = r else {
        panic!("deferred")
    };
    assert!(s.events.iter().any(|e| matches!(
        e,
        HaEvent::CommandAnswered { id: i, answer: Answer { result: 0, text: Some(t), .. } }
            if *i == id && t == "Lease database synchronization complete."
    )));
    assert!(
        s.partner
            .received
            .iter()
            .any(|r| r.command == "dhcp-disable"
                && r.arguments == Some(json!({"max-period": 5, "origin": "ha-partner"})))
    );
    let r = s.command(cmd(Command::HaSync, Some(json!({"server-name": "nobody"}))));
    assert_eq!(
        r.answer().unwrap().text.as_deref(),
        Some("no configuration specified for server nobody")
    );
}

/// Held replies are bounded: beyond the limit of unacked changes, a change's update is not
/// sent and its reply is dropped.
#[test]
fn unacked_updates_are_bounded() {
    let mut s = normal_primary("");
    s.ha.set_max_unacked_updates(2);
    s.hold = true;
    for n in 1..=3 {
        s.ha.lease_changed(s.now, &change(u64::from(n), n, Origin::Dhcp));
    }
    s.pump();
    assert_eq!(s.held.len(), 2, "the third update is not sent");
    assert_eq!(s.ha.counters().updates_overflowed, 1);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, HaEvent::LeaseUpdateOverflow { seq: 3, limit: 2 }))
    );
    for r in std::mem::take(&mut s.held) {
        s.ha.handle_response(
            s.now,
            s.unix,
            r.id,
            answer_back(&Answer::success("IPv4 lease added.", None)),
        );
    }
    s.pump();
    assert_eq!(s.gates, [GateAction::Release(2), GateAction::Discard(3)]);
}
