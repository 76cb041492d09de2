//! Golden tests: every advertisement in the real keepalived 2.2.7 captures (copied from
//! shared/reference/captures/vrrp/) decodes to the values tcpdump shows and re-emits
//! byte-identical.

mod common;

use std::net::{IpAddr, Ipv6Addr};

use vrrp_proto::{AuthType, ChecksumMode, IpChecks, Version, VirtualAddrs, decode, decode_ipv4};

/// What tcpdump printed for one advert.
struct Expect {
    version: Version,
    vrid: u8,
    prio: u8,
    interval: u16,
    addrs: &'static [&'static str],
    checksum: ChecksumMode,
    auth: Option<&'static [u8; 8]>,
}

fn check_file(name: &str, expected: &[Expect]) {
    let path = format!("{}/tests/data/{name}.pcap", env!("CARGO_MANIFEST_DIR"));
    let pcap = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let packets = common::vrrp_packets(&pcap);
    assert_eq!(packets.len(), expected.len(), "{name}: advert count");
    for (i, (p, e)) in packets.iter().zip(expected).enumerate() {
        let what = format!("{name} advert #{i}");
        // Through the public entry points a daemon uses.
        let rx = match &p.ipv4_datagram {
            Some(d) => decode_ipv4(d, &IpChecks::default()),
            None => decode(&p.vrrp, p.rx, &IpChecks::default()),
        }
        .unwrap_or_else(|err| panic!("{what}: {err}"));
        let a = &rx.advert;
        assert_eq!(a.version, e.version, "{what}: version");
        assert_eq!(a.vrid, e.vrid, "{what}: vrid");
        assert_eq!(a.priority, e.prio, "{what}: priority");
        assert_eq!(a.interval, e.interval, "{what}: interval");
        assert_eq!(rx.checksum, e.checksum, "{what}: checksum convention");
        let addrs: Vec<IpAddr> = a.addrs.iter().collect();
        let want: Vec<IpAddr> = e.addrs.iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(addrs, want, "{what}: addresses");
        match e.auth {
            Some(pw) => {
                assert_eq!(a.auth.kind, AuthType::SimplePassword, "{what}");
                assert_eq!(&a.auth.data, pw, "{what}: password");
            }
            None => assert_eq!(a.auth.kind, AuthType::None, "{what}"),
        }
        assert_eq!(rx.ip.ttl, 255, "{what}: ttl");
        // Re-emit byte-identical, in the convention that matched.
        let mut out = vec![0u8; a.buffer_len()];
        let n = a.emit(&mut out, &rx.ip.pair(), rx.checksum).unwrap();
        assert_eq!(n, p.vrrp.len(), "{what}: length");
        assert_eq!(out, p.vrrp, "{what}: re-emitted bytes differ");
    }
}

const V4_2: &[&str] = &["192.0.2.1", "192.0.2.2"];
const V4_1: &[&str] = &["192.0.2.1"];

fn v3(
    vrid: u8,
    prio: u8,
    interval: u16,
    addrs: &'static [&'static str],
    c: ChecksumMode,
) -> Expect {
    Expect {
        version: Version::V3,
        vrid,
        prio,
        interval,
        addrs,
        checksum: c,
        auth: None,
    }
}

#[test]
fn v3_ipv4_pseudo_header() {
    use ChecksumMode::PseudoHeader as P;
    check_file(
        "v3_ipv4_pseudo",
        &[
            v3(51, 200, 100, V4_2, P),
            v3(51, 200, 100, V4_2, P),
            v3(51, 0, 100, V4_2, P),
        ],
    );
}

/// This capture was taken from keepalived 2.2.7 configured with `v3_checksum_as_v2`, yet every
/// advert carries the pseudo-header checksum (0xd3fb = the complement of the VRRP words plus
/// 192.0.2.11, 224.0.0.18, 112 and length 12). The live interop test
/// (examples/tests/keepalived_codec.rs) shows why: keepalived 2.2.7 does not know the keyword
/// (it logs "Unknown keyword"), sends the pseudo-header form and accepts only that form. The
/// RFC 9568 convention is exercised by `both_ipv4_conventions_accepted_and_reported` and the
/// property tests.
#[test]
fn v3_ipv4_rfc9568_checksum() {
    use ChecksumMode::PseudoHeader as R;
    let mut e: Vec<Expect> = (0..6).map(|_| v3(52, 150, 50, V4_1, R)).collect();
    e.push(v3(52, 0, 50, V4_1, R));
    check_file("v3_ipv4_rfc9568", &e);
}

#[test]
fn v3_ipv4_vmac() {
    use ChecksumMode::PseudoHeader as P;
    check_file(
        "v3_ipv4_vmac",
        &[
            v3(56, 200, 100, V4_1, P),
            v3(56, 200, 100, V4_1, P),
            v3(56, 0, 100, V4_1, P),
        ],
    );
}

#[test]
fn v3_ipv6() {
    use ChecksumMode::PseudoHeader as P;
    const A: &[&str] = &["fe80::54", "2001:db8::1"];
    check_file(
        "v3_ipv6",
        &[
            v3(54, 200, 100, A, P),
            v3(54, 200, 100, A, P),
            v3(54, 0, 100, A, P),
        ],
    );
}

#[test]
fn v2_ipv4_auth_pass() {
    let e = |prio| Expect {
        version: Version::V2,
        vrid: 50,
        prio,
        interval: 1,
        addrs: V4_1,
        checksum: ChecksumMode::VrrpOnly,
        auth: Some(b"EcbCp2b1"),
    };
    check_file("v2_ipv4_auth", &[e(100), e(0)]);
}

/// The two IPv4 conventions give different checksums for the same advert, and the receiver
/// reports which one it saw.
#[test]
fn both_ipv4_conventions_accepted_and_reported() {
    let pcap = std::fs::read(format!(
        "{}/tests/data/v3_ipv4_pseudo.pcap",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let p = &common::vrrp_packets(&pcap)[0];
    let rx = decode(&p.vrrp, p.rx, &IpChecks::default()).unwrap();
    let mut rfc = vec![0; rx.advert.buffer_len()];
    rx.advert
        .emit(&mut rfc, &rx.ip.pair(), ChecksumMode::VrrpOnly)
        .unwrap();
    assert_ne!(rfc, p.vrrp, "the conventions must differ");
    let back = decode(&rfc, p.rx, &IpChecks::default()).unwrap();
    assert_eq!(back.checksum, ChecksumMode::VrrpOnly);
    assert_eq!(back.advert, rx.advert);
}

/// IPv6 uses the pseudo-header whatever the sender asks for.
#[test]
fn ipv6_always_uses_pseudo_header() {
    let repr = vrrp_proto::AdvertRepr::v3(
        9,
        100,
        std::time::Duration::from_millis(100),
        VirtualAddrs::V6(vec![Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9)]),
    );
    let ip = vrrp_proto::IpPair::v6(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        vrrp_proto::GROUP_V6,
    );
    let mut a = vec![0; repr.buffer_len()];
    let mut b = a.clone();
    repr.emit(&mut a, &ip, ChecksumMode::PseudoHeader).unwrap();
    repr.emit(&mut b, &ip, ChecksumMode::VrrpOnly).unwrap();
    assert_eq!(a, b);
    let view = vrrp_proto::Advert::new_checked(&a[..], vrrp_proto::Family::Ipv6).unwrap();
    assert_eq!(view.verify_checksum(&ip), Ok(ChecksumMode::PseudoHeader));
}
