//! RFC 3074 load balancing as Kea computes it, and the query filter.

mod ha_common;

use dhcp4_ha::ha::hash::{LB_TABLE, is_ha_type, lb_key};
use dhcp4_ha::ha::{QueryFacts, QueryFilter, lb_hash};
use dhcp4_ha::wire::MessageType;
use ha_common::*;

/// The table of the reference (§4) is a permutation of 0..=255 and starts and ends as the
/// reference prints it.
#[test]
fn table_is_the_reference_permutation() {
    let mut seen = [false; 256];
    for &v in &LB_TABLE {
        assert!(!seen[usize::from(v)], "{v} twice");
        seen[usize::from(v)] = true;
    }
    assert_eq!(&LB_TABLE[..6], &[251, 175, 119, 215, 81, 14]);
    assert_eq!(&LB_TABLE[250..], &[80, 170, 68, 6, 169, 234, 151][1..]);
}

/// Hash values computed independently (a Python transcription of the reference's
/// pseudo-code) for the capture's identifiers and a few edge keys.
#[test]
fn hash_values() {
    let cases: &[(&[u8], u8)] = &[
        (&[], 0),
        (&[0x00, 0x0c, 0x01, 0x02, 0x03, 0x04], 131),
        (&[0x01, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04], 104),
        (&[0x02, 0, 0, 0, 0, 0x01], 133),
        (&[0x02, 0, 0, 0, 0, 0x02], 45),
        (&[0x01, 0x02, 0x4b, 0x45, 0x08, 0xc5, 0xef], 231),
        (&[0xff; 6], 79),
        (&[0x00], 175),
        (b"abc", 170),
    ];
    for (key, want) in cases {
        assert_eq!(lb_hash(key), *want, "key {key:02x?}");
    }
    // 1000 sequential MACs split evenly (500 / 500).
    let primary = (1u32..=1000)
        .filter(|n| lb_hash(&[2, 0, 0, 0, (n >> 8) as u8, *n as u8]).is_multiple_of(2))
        .count();
    assert_eq!(primary, 500);
}

#[test]
fn key_choice() {
    assert_eq!(lb_key(Some(&[1, 2]), &[9]), Some(&[1u8, 2][..]));
    assert_eq!(
        lb_key(Some(&[]), &[9]),
        Some(&[9u8][..]),
        "empty client id: chaddr"
    );
    assert_eq!(lb_key(None, &[]), None);
    assert!(is_ha_type(Some(MessageType::INFORM)));
    assert!(!is_ha_type(Some(MessageType::OFFER)));
    assert!(!is_ha_type(None));
}

fn facts<'a>(t: MessageType, hw: &'a [u8], cid: Option<&'a [u8]>) -> QueryFacts<'a> {
    QueryFacts {
        message_type: Some(t),
        hw_addr: hw,
        client_id: cid,
        secs: 0,
        xid: 1,
    }
}

#[test]
fn query_filter_load_balancing() {
    let f1 = QueryFilter::new(&ha_config("load-balancing", "server1", ""));
    let f2 = QueryFilter::new(&ha_config("load-balancing", "server2", ""));
    let cid = [0x01, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04]; // hash 104: primary
    let hw = [0x00, 0x0c, 0x01, 0x02, 0x03, 0x04]; // hash 131: secondary
    let q = facts(MessageType::REQUEST, &hw, Some(&cid));
    let c = f1.classify(&q);
    assert!(c.in_scope);
    assert_eq!(c.class().as_deref(), Some("HA_server1"));
    assert!(!f2.classify(&q).in_scope);
    let q = facts(MessageType::DISCOVER, &hw, None);
    assert_eq!(f2.classify(&q).class().as_deref(), Some("HA_server2"));
    assert!(f2.classify(&q).in_scope && !f1.classify(&q).in_scope);
    // Not balanced: belongs to the primary.
    let q = facts(MessageType(10), &hw, None);
    assert!(f1.classify(&q).in_scope);
    assert_eq!(f2.classify(&q).class().as_deref(), Some("HA_server1"));
    // No identifier: dropped.
    let q = facts(MessageType::DISCOVER, &[], None);
    assert!(!f1.classify(&q).in_scope && f1.classify(&q).scope.is_none());
    // Failover scopes: both.
    let mut f = f2.clone();
    f.serve_failover_scopes();
    assert_eq!(f.served_scopes(), ["server1", "server2"]);
}

#[test]
fn query_filter_hot_standby() {
    let f1 = QueryFilter::new(&ha_config("hot-standby", "server1", ""));
    let f2 = QueryFilter::new(&ha_config("hot-standby", "server2", ""));
    assert_eq!(f1.served_scopes(), ["server1"]);
    assert!(f2.served_scopes().is_empty());
    for n in 0..50u8 {
        let hw = [2, 0, 0, 0, 0, n];
        let q = facts(MessageType::DISCOVER, &hw, None);
        assert_eq!(f1.classify(&q).class().as_deref(), Some("HA_server1"));
        assert!(f1.classify(&q).in_scope && !f2.classify(&q).in_scope);
    }
}
