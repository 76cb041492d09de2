//! Kea's memfile lease file: the rows Kea 2.2 wrote (tests/data/kea-leases4.sample.csv, from
//! two real Kea 2.2 partners) re-emit byte for byte, load replays the log as Kea does, the
//! store's indexes follow every change, and generated leases round-trip in every schema.

use std::net::Ipv4Addr;

use dhcp4_ha::lease::memfile::{
    self, LfcFiles, RowErrorKind, Schema, compact, load, parse_header, parse_row, write_row,
};
use dhcp4_ha::lease::{Lease4, LeaseState, LeaseStore, MemoryStore};
use proptest::prelude::*;

/// The sample holds two files: the primary's, then (after a `# server2` annotation line) the
/// standby's rows; both under Kea 2.2's header.
fn sample_files() -> (String, String) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/kea-leases4.sample.csv"
    ))
    .unwrap();
    let (primary, standby) = text.split_once("# server2").unwrap();
    let header = primary.lines().next().unwrap();
    let standby_rows: String = standby.lines().skip(1).map(|l| format!("{l}\n")).collect();
    (primary.to_owned(), format!("{header}\n{standby_rows}"))
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn kea_rows_reemit_byte_for_byte() {
    let (primary, standby) = sample_files();
    for file in [&primary, &standby] {
        let mut lines = file.lines();
        let header = lines.next().unwrap();
        assert_eq!(parse_header(header).unwrap(), Schema::KEA_2_2);
        assert_eq!(Schema::KEA_2_2.header(), header);
        for (i, line) in lines.enumerate() {
            let lease = parse_row(line, Schema::V2_1, i + 2).unwrap();
            let mut out = String::new();
            write_row(&lease, Schema::V2_1, &mut out);
            assert_eq!(out, format!("{line}\n"));
        }
    }
}

#[test]
fn load_replays_the_log_as_kea() {
    let (primary, standby) = sample_files();
    let mut store = MemoryStore::default();
    let r = load(&primary, &mut store).unwrap();
    assert_eq!((r.rows, r.upserts, r.deletes, r.invalid), (14, 10, 4, 0));
    let addrs: Vec<String> = store.iter().map(|l| l.addr.to_string()).collect();
    assert_eq!(
        addrs,
        [
            "198.18.0.12",
            "198.18.0.13",
            "198.18.0.14",
            "198.18.0.15",
            "198.18.0.16",
            "198.18.0.17",
            "198.18.0.18"
        ]
    );
    let l = store.get(ip("198.18.0.12")).unwrap();
    assert_eq!(
        (l.valid_lifetime, l.cltt, l.expire()),
        (3600, 1_795_441_762, 1_795_445_362)
    );
    assert_eq!(l.hwaddr, [0x00, 0x0c, 0x01, 0x02, 0x03, 0x06]);
    assert_eq!(l.client_id, [0x01, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x06]);
    // The standby's file ends with an escaped hostname and user context.
    let mut s2 = MemoryStore::default();
    load(&standby, &mut s2).unwrap();
    let h = s2.get(ip("198.18.0.60")).unwrap();
    assert_eq!(h.hostname, "host,with&comma.example.");
    assert_eq!(h.user_context.as_deref(), Some(r#"{ "note": "a,b" }"#));
    assert!(h.fqdn_fwd && !h.fqdn_rev);
    // Compaction (LFC) keeps exactly the live leases and reloads to the same store.
    let out = compact(store.iter(), Schema::KEA_2_2);
    assert_eq!(out.lines().count(), 8);
    let mut again = MemoryStore::default();
    load(&out, &mut again).unwrap();
    assert!(store.iter().eq(again.iter()));
}

#[test]
fn every_schema_reads_and_bad_rows_are_reported() {
    let v10 = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname\n\
               192.0.2.10,02:00:00:00:00:01,,3600,1700003600,7,0,0,a\n";
    let v20 = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state\n\
               192.0.2.10,,,3600,1700003600,7,0,0,,1\n";
    let v30 = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id\n\
               192.0.2.10,2:0:0:0:0:1,01:02,3600,1700003600,7,true,false,,2,,5\n";
    for (text, state, pool) in [
        (v10, LeaseState::Default, 0),
        (v20, LeaseState::Declined, 0),
        (v30, LeaseState::ExpiredReclaimed, 5),
    ] {
        let mut s = MemoryStore::default();
        let r = load(text, &mut s).unwrap();
        assert_eq!((r.upserts, r.invalid), (1, 0), "{text}");
        let l = s.get(ip("192.0.2.10")).unwrap();
        assert_eq!((l.state, l.pool_id, l.cltt), (state, pool, 1_700_000_000));
    }
    // Bad rows are skipped (as Kea does) and reported with their line; the rest loads.
    let text = format!(
        "{}\n192.0.2.1,02:00:00:00:00:01,,3600,1700003600,1,0,0,,0,\n\
         192.0.2.300,02:00:00:00:00:01,,3600,1700003600,1,0,0,,0,\n\
         192.0.2.2,zz,,3600,1700003600,1,0,0,,0,\n\
         192.0.2.3,02:00:00:00:00:01,,3600,100,1,0,0,,0,\n\
         192.0.2.4,,,3600,1700003600,1,0,0,,0,\n\
         192.0.2.5,02:00:00:00:00:01,,3600,1700003600,1,0,0,,0\n\
         192.0.2.6,02:00:00:00:00:01,,3600,1700003600,1,2,0,,0,\n\
         192.0.2.7,02:00:00:00:00:01,,3600,1700003600,1,0,0,,0,not json\n",
        Schema::KEA_2_2.header()
    );
    let mut s = MemoryStore::default();
    let r = load(&text, &mut s).unwrap();
    assert_eq!((r.upserts, r.invalid), (1, 7));
    let kinds: Vec<(usize, String)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.kind.to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (3, "invalid address '192.0.2.300'".to_owned()),
            (4, "invalid hwaddr 'zz'".into()),
            (5, "expire 100 is smaller than valid_lifetime 3600".into()),
            (6, "lease has neither hwaddr nor client_id".into()),
            (7, "10 columns, the header has 11".into()),
            (8, "invalid fqdn_fwd '2'".into()),
            (9, "invalid user_context 'not json'".into()),
        ]
    );
    assert!(matches!(
        load("address,hwaddr\n", &mut s).unwrap_err().kind,
        RowErrorKind::BadHeader(_)
    ));
    assert!(matches!(
        load("", &mut s).unwrap_err().kind,
        RowErrorKind::Empty
    ));
}

#[test]
fn store_indexes_follow_every_change() {
    let mut s = MemoryStore::default();
    let mut a = Lease4::new(ip("192.0.2.10"));
    a.hwaddr = vec![2, 0, 0, 0, 0, 1];
    a.client_id = vec![1, 2, 0, 0, 0, 0, 1];
    a.subnet_id = 1;
    a.valid_lifetime = 3600;
    s.upsert(a.clone());
    assert_eq!(s.by_hwaddr(1, &a.hwaddr)[0].addr, a.addr);
    assert_eq!(s.by_client_id(1, &a.client_id)[0].addr, a.addr);
    assert!(s.by_hwaddr(2, &a.hwaddr).is_empty(), "per subnet");
    // Replacing the lease with another client moves the index entries.
    let mut b = a.clone();
    b.hwaddr = vec![2, 0, 0, 0, 0, 2];
    b.client_id.clear();
    assert_eq!(s.upsert(b.clone()), Some(a.clone()));
    assert!(s.by_hwaddr(1, &a.hwaddr).is_empty());
    assert!(s.by_client_id(1, &a.client_id).is_empty());
    assert_eq!(s.by_hwaddr(1, &b.hwaddr).len(), 1);
    assert_eq!(s.remove(b.addr), Some(b.clone()));
    assert!(s.by_hwaddr(1, &b.hwaddr).is_empty() && s.is_empty());
    // Paging as lease4-get-page does it: after `from`, in address order.
    for i in 1..=25u8 {
        let mut l = Lease4::new(Ipv4Addr::new(192, 0, 2, i));
        l.hwaddr = vec![2, 0, 0, 0, 0, i];
        s.upsert(l);
    }
    let p1: Vec<u8> = s
        .page(None, 10)
        .iter()
        .map(|l| l.addr.octets()[3])
        .collect();
    assert_eq!(p1, (1..=10).collect::<Vec<u8>>());
    let p3 = s.page(Some(ip("192.0.2.20")), 10);
    assert_eq!(p3.len(), 5);
    assert_eq!(p3[0].addr, ip("192.0.2.21"));
}

#[test]
fn lfc_file_names_and_load_order() {
    let f = LfcFiles::new("/var/lib/kea/kea-leases4.csv");
    assert_eq!(f.previous, "/var/lib/kea/kea-leases4.csv.1");
    assert_eq!(f.copy, "/var/lib/kea/kea-leases4.csv.2");
    assert_eq!(f.finish, "/var/lib/kea/kea-leases4.csv.completed");
    assert_eq!(f.output, "/var/lib/kea/kea-leases4.csv.output");
    assert_eq!(f.pid, "/var/lib/kea/kea-leases4.csv.pid");
    let all = |_: &str| true;
    assert_eq!(f.load_order(all), [f.finish.as_str(), f.current.as_str()]);
    let no_completed = |n: &str| !n.ends_with(".completed");
    assert_eq!(
        f.load_order(no_completed),
        [f.copy.as_str(), f.previous.as_str(), f.current.as_str()]
    );
}

fn lease() -> impl Strategy<Value = Lease4> {
    (
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..=20),
        prop::collection::vec(any::<u8>(), 0..=32),
        (1u32.., 0u64..=u64::from(u32::MAX) * 4, any::<u32>()),
        (
            any::<bool>(),
            any::<bool>(),
            "[a-z0-9.,&# -]{0,30}",
            0u32..5,
        ),
        prop::option::of("[a-z0-9\" :,&{}]{0,20}".prop_map(|s| format!("{{ {s} }}"))),
        any::<u32>(),
    )
        .prop_map(
            |(a, hw, cid, (valid, cltt, subnet), (fwd, rev, host, st), ctx, pool)| Lease4 {
                addr: Ipv4Addr::from(a),
                hwaddr: hw,
                client_id: cid,
                valid_lifetime: valid,
                cltt,
                subnet_id: subnet,
                fqdn_fwd: fwd,
                fqdn_rev: rev,
                hostname: host,
                state: LeaseState::from_number(st),
                user_context: ctx,
                pool_id: pool,
            },
        )
}

proptest! {
    /// write_row then parse_row gives the lease back (schema 3.0 carries every field).
    #[test]
    fn rows_roundtrip(l in lease()) {
        let mut out = String::new();
        write_row(&l, Schema::V3_0, &mut out);
        prop_assert!(out.ends_with('\n') && out.matches('\n').count() == 1);
        let back = parse_row(out.trim_end_matches('\n'), Schema::V3_0, 2).unwrap();
        prop_assert_eq!(back, l);
    }

    /// Arbitrary text never panics the loader, and what loads survives compaction.
    #[test]
    fn arbitrary_files(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut text = Schema::KEA_2_2.header().into_bytes();
        text.push(b'\n');
        text.extend_from_slice(&data);
        memfile::fuzz_roundtrip(&text);
        memfile::fuzz_roundtrip(&data);
    }
}

/// Replays the `kea_memfile` fuzz target's corpus (fuzz/corpus/kea_memfile/).
#[test]
fn replay_kea_memfile_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/kea_memfile");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        memfile::fuzz_roundtrip(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 2, "corpus too small: {n} files in {dir}");
}
