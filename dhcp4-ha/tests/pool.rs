//! Address pools: the bitmap allocator against a plain model, edge cases, and a nearly full /15.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use dhcp4_ha::server::pool::{MAX_POOL_LEN, PoolError, PoolMap};
use proptest::prelude::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn small_pools_and_edges() {
    let mut p = PoolMap::new(ip("192.0.2.10"), ip("192.0.2.10")).unwrap();
    assert_eq!((p.len(), p.free_count()), (1, 1));
    assert_eq!(p.allocate(), Some(ip("192.0.2.10")));
    assert_eq!(p.allocate(), None, "full");
    assert!(p.release(ip("192.0.2.10")));
    assert!(!p.release(ip("192.0.2.10")), "already free");
    assert!(!p.take(ip("192.0.2.11")), "outside");
    // Iterative allocation: in order, skipping taken addresses, wrapping at the end.
    let mut p = PoolMap::new(ip("192.0.2.1"), ip("192.0.2.200")).unwrap();
    assert!(p.take(ip("192.0.2.2")));
    let got: Vec<Ipv4Addr> = (0..3).map(|_| p.allocate().unwrap()).collect();
    assert_eq!(got, [ip("192.0.2.1"), ip("192.0.2.3"), ip("192.0.2.4")]);
    for _ in 0..196 {
        p.allocate().unwrap();
    }
    assert_eq!(p.free_count(), 0);
    assert_eq!(p.allocate(), None);
    p.release(ip("192.0.2.7"));
    p.release(ip("192.0.2.150"));
    assert_eq!(p.allocate(), Some(ip("192.0.2.7")), "wraps to the start");
    assert_eq!(p.allocate(), Some(ip("192.0.2.150")));
    assert_eq!(p.next_free(None), None);
    assert_eq!(
        PoolMap::new(ip("192.0.2.9"), ip("192.0.2.1")).unwrap_err(),
        PoolError::Reversed {
            first: ip("192.0.2.9"),
            last: ip("192.0.2.1")
        }
    );
    assert!(matches!(
        PoolMap::new(ip("10.0.0.0"), ip("11.0.0.0")),
        Err(PoolError::TooLarge { .. })
    ));
    let p = PoolMap::new(ip("10.0.0.0"), ip("10.255.255.255")).unwrap();
    assert_eq!(u64::from(p.len()), MAX_POOL_LEN);
    // The last address of the address space.
    let mut p = PoolMap::new(ip("255.255.255.250"), ip("255.255.255.255")).unwrap();
    assert_eq!(p.last(), ip("255.255.255.255"));
    for _ in 0..6 {
        assert!(p.allocate().is_some());
    }
    assert_eq!(p.allocate(), None);
}

/// A /15 with every address but a handful taken still finds them at once.
#[test]
fn nearly_full_slash_15() {
    let first = ip("198.18.0.0");
    let last = ip("198.19.255.255");
    let mut p = PoolMap::new(first, last).unwrap();
    assert_eq!(p.len(), 1 << 17);
    while p.allocate().is_some() {}
    assert_eq!(p.free_count(), 0);
    let holes = [ip("198.18.0.5"), ip("198.18.200.1"), ip("198.19.255.254")];
    for h in holes {
        assert!(p.release(h));
    }
    let mut got: Vec<Ipv4Addr> = (0..3).map(|_| p.allocate().unwrap()).collect();
    got.sort();
    assert_eq!(got, holes);
    assert_eq!(p.allocate(), None);
}

#[derive(Debug, Clone)]
enum Op {
    Take(u32),
    Release(u32),
    Allocate,
    NextFree(u32),
}

fn ops(len: u32) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0..len + 3).prop_map(Op::Take),
            (0..len + 3).prop_map(Op::Release),
            Just(Op::Allocate),
            Just(Op::Allocate),
            (0..len + 3).prop_map(Op::NextFree),
        ],
        0..300,
    )
}

proptest! {
    /// The bitmap behaves as a set of free addresses with a wrapping cursor.
    #[test]
    fn matches_a_plain_model(len in 1u32..600, base in 0u32..u32::MAX - 1000, script in ops(600)) {
        let first = Ipv4Addr::from(base);
        let last = Ipv4Addr::from(base + len - 1);
        let mut p = PoolMap::new(first, last).unwrap();
        let mut free: BTreeSet<u32> = (0..len).collect();
        let mut cursor = 0u32;
        for op in script {
            match op {
                Op::Take(o) => prop_assert_eq!(p.take(Ipv4Addr::from(base + o)), free.remove(&o)),
                Op::Release(o) => {
                    let fresh = o < len && free.insert(o);
                    prop_assert_eq!(p.release(Ipv4Addr::from(base + o)), fresh);
                }
                Op::Allocate => {
                    let want = free.range(cursor..).next().or_else(|| free.iter().next()).copied();
                    let got = p.allocate().map(|a| u32::from(a) - base);
                    prop_assert_eq!(got, want);
                    if let Some(o) = want {
                        free.remove(&o);
                        cursor = if o + 1 >= len { 0 } else { o + 1 };
                    }
                }
                Op::NextFree(h) => {
                    let start = if h < len { h } else { 0 };
                    let want = free.range(start..).next().or_else(|| free.iter().next()).copied();
                    let got = p.next_free(Some(Ipv4Addr::from(base + h))).map(|a| u32::from(a) - base);
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(p.free_count() as usize, free.len());
        }
    }
}
