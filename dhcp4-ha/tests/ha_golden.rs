//! The HA service against the golden exchanges of two real Kea 2.2 partners
//! (tests/data/kea-golden/): the requests it sends are Kea's bytes, and its answers to the
//! partner's requests are Kea's bytes.

mod ha_common;

use std::net::Ipv4Addr;

use dhcp4_ha::control::json::to_kea_string;
use dhcp4_ha::control::{Answer, KeaLease4, Request};
use dhcp4_ha::ha::{CommandReply, HaEvent, HaState};
use dhcp4_ha::http::parse_http_date;
use dhcp4_ha::lease::Lease4;
use dhcp4_ha::server::{ChangeKind, LeaseChange, Origin};
use ha_common::*;
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kea-golden");

fn golden(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{DIR}/{name}.json"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).expect("golden JSON")
}

fn raw(g: &Value, key: &str) -> String {
    g[key].as_str().expect("raw string").to_string()
}

fn request_of(g: &Value) -> Request {
    Request::from_json(raw(g, "request_raw").as_bytes()).expect("golden request")
}

fn encode(a: &Answer) -> String {
    Answer::encode_list(std::slice::from_ref(a))
}

fn hs(me: &str, extra: &str) -> dhcp4_ha::ha::HaConfig {
    ha_config("hot-standby", me, &format!("{FAST}{extra}"))
}

fn primary_hot_standby() -> Single {
    let mut s = Single::new(hs("server1", ""), FakePartner::new(HaState::Ready));
    s.until(3000, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    s
}

fn capture_lease(addr: Ipv4Addr, last: u8) -> Lease4 {
    let mut l = Lease4::new(addr);
    l.hwaddr = vec![0x00, 0x0c, 0x01, 0x02, 0x03, last];
    l.client_id = vec![0x01, 0x00, 0x0c, 0x01, 0x02, 0x03, last];
    l.valid_lifetime = 3600;
    l.cltt = 1_795_444_426 - 3600;
    l.subnet_id = 1;
    l
}

#[test]
fn heartbeat_request_bytes() {
    let mut s = Single::new(hs("server1", ""), FakePartner::new(HaState::Waiting));
    s.hold = true;
    s.advance_ms(1000);
    assert_eq!(s.wire.len(), 1);
    assert_eq!(s.wire[0], raw(&golden("ha-heartbeat"), "request_raw"));
}

#[test]
fn lease_update_and_delete_bytes() {
    let mut s = primary_hot_standby();
    s.wire.clear();
    let add = LeaseChange {
        seq: 1,
        kind: ChangeKind::Added,
        lease: capture_lease(Ipv4Addr::new(198, 18, 0, 10), 0x04),
        origin: Origin::Dhcp,
    };
    s.ha.lease_changed(s.now, &add);
    let del = LeaseChange {
        seq: 2,
        kind: ChangeKind::Deleted,
        lease: capture_lease(Ipv4Addr::new(198, 18, 0, 13), 0x07),
        origin: Origin::Dhcp,
    };
    s.ha.lease_changed(s.now, &del);
    s.pump();
    assert_eq!(s.wire[0], raw(&golden("lease4-update"), "request_raw"));
    assert_eq!(s.wire[1], raw(&golden("lease4-del"), "request_raw"));
}

/// A sync: dhcp-disable, pages (the captured 1000-lease page, then from its last address),
/// ha-sync-complete-notify, all Kea's bytes.
#[test]
fn sync_request_bytes() {
    let page = golden("lease4-get-page-nonempty");
    let leases: Vec<Lease4> = page["response"][0]["arguments"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| KeaLease4::from_value(v).unwrap().to_lease(0).unwrap())
        .collect();
    assert_eq!(leases.len(), 1000);
    let mut p = FakePartner::new(HaState::Waiting);
    p.leases = leases;
    let mut s = Single::new(hs("server1", "\"sync-page-limit\": 1000,"), p);
    s.until(1500, "ready", |s| s.ha.state() == HaState::Ready);
    let disable = raw(&golden("dhcp-disable"), "request_raw");
    assert_eq!(s.wire[1], disable);
    assert_eq!(s.wire[2], raw(&page, "request_raw"));
    assert_eq!(s.wire[3], disable, "dhcp-disable before every page");
    assert_eq!(
        s.wire[4],
        r#"{ "arguments": { "from": "198.18.3.241", "limit": 1000 }, "command": "lease4-get-page", "service": [ "dhcp4" ] }"#
    );
    assert_eq!(
        s.wire[5],
        raw(&golden("ha-sync-complete-notify"), "request_raw")
    );
    assert_eq!(s.wire.len(), 6);
    let fetched: usize = s
        .events
        .iter()
        .map(|e| match e {
            HaEvent::LeasesFetched { leases, .. } => leases.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(fetched, 1000);
    // The empty page answer (result 3) counts as success.
    let empty = golden("lease4-get-page-empty");
    let a = answer_from_http_str(&raw(&empty, "response_raw"));
    assert_eq!(a.result, 3);
    assert!(a.is_success());
}

fn answer_from_http_str(s: &str) -> Answer {
    dhcp4_ha::ha::answer_from_http(s.as_bytes()).expect("answer")
}

/// The heartbeat answer of a waiting server at the capture's time.
#[test]
fn heartbeat_answer_bytes() {
    let g = golden("ha-heartbeat");
    let unix = parse_http_date("Mon, 23 Nov 2026 13:33:43 GMT").unwrap();
    let s = Single::new(hs("server2", ""), FakePartner::new(HaState::Waiting));
    let a = s.ha.heartbeat_answer(unix);
    assert_eq!(encode(&a), raw(&g, "response_raw"));
}

/// The answers to the partner's and the operator's commands.
#[test]
fn command_answer_bytes() {
    let mut s = primary_hot_standby();
    for name in [
        "dhcp-disable",
        "dhcp-enable",
        "ha-sync-complete-notify",
        "ha-scopes",
        "ha-continue",
    ] {
        let g = golden(name);
        let r = s.command(request_of(&g));
        let CommandReply::Answer(a) = r else {
            panic!("{name} deferred")
        };
        assert_eq!(encode(&a), raw(&g, "response_raw"), "{name}");
    }
    // In-maintenance on the partner's notify, then reset.
    let mut s2 = Single::new(hs("server2", ""), FakePartner::new(HaState::HotStandby));
    s2.until(3000, "hot-standby", |s| s.ha.state() == HaState::HotStandby);
    let g = golden("ha-maintenance-notify");
    let a = s2.command(request_of(&g));
    assert_eq!(encode(a.answer().unwrap()), raw(&g, "response_raw"));
    let g = golden("ha-reset");
    let a = s2.command(request_of(&g));
    assert_eq!(encode(a.answer().unwrap()), raw(&g, "response_raw"));
}

fn deferred_answer(s: &Single, id: u64) -> Answer {
    s.events
        .iter()
        .find_map(|e| match e {
            HaEvent::CommandAnswered { id: i, answer } if *i == id => Some(answer.clone()),
            _ => None,
        })
        .expect("deferred answer")
}

#[test]
fn maintenance_answer_bytes() {
    let mut s = primary_hot_standby();
    let g = golden("ha-maintenance-start");
    let CommandReply::Deferred(id) = s.command(request_of(&g)) else {
        panic!()
    };
    assert_eq!(encode(&deferred_answer(&s, id)), raw(&g, "response_raw"));
    // The notify it sent is the captured one.
    assert_eq!(
        s.wire.last().unwrap(),
        &raw(&golden("ha-maintenance-notify"), "request_raw")
    );
    let g = golden("ha-maintenance-cancel");
    let CommandReply::Deferred(id) = s.command(request_of(&g)) else {
        panic!()
    };
    assert_eq!(encode(&deferred_answer(&s, id)), raw(&g, "response_raw"));
}

/// status-get's high-availability section of a primary that just went hot-standby with its
/// partner ready, as captured.
#[test]
fn status_get_section() {
    let mut s = primary_hot_standby();
    let g = golden("status-get");
    let want = &g["response"][0]["arguments"]["high-availability"][0];
    let got = s.ha.status(s.now);
    assert_eq!(&got, want);
    assert_eq!(to_kea_string(&got), to_kea_string(want));
    let r = s.command(request_of(&g));
    let args = r.answer().unwrap().arguments.clone().unwrap();
    assert_eq!(args["high-availability"][0], *want);
}
