//! Replays the fuzz target's seed corpus (fuzz/corpus/vrrp_advert/, plus any crash artifacts a
//! fuzzer run saved there) through the same function the fuzz target calls.

#[test]
fn replay_fuzz_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/vrrp_advert");
    let mut n = 0;
    let mut decoded = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        vrrp_proto::fuzzing::roundtrip(&data);
        let as_ipv4 = vrrp_proto::decode_ipv4(&data, &Default::default()).is_ok();
        let v6 = vrrp_proto::RxIp {
            src: "fe80::ff:fe00:a".parse().unwrap(),
            dst: std::net::IpAddr::V6(vrrp_proto::GROUP_V6),
            ttl: 255,
        };
        let as_ipv6 = vrrp_proto::decode(&data, v6, &Default::default()).is_ok();
        decoded += usize::from(as_ipv4 || as_ipv6);
        n += 1;
    }
    assert!(n >= 20, "corpus too small: {n} files in {dir}");
    // The seeds taken from the keepalived captures must decode (guards against a corpus of
    // nothing but garbage, which would make the replay meaningless).
    assert!(decoded >= 16, "only {decoded} of {n} seeds decode");
}
