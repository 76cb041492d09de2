//! Every malformed input is a typed error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vrrp_proto::{
    Advert, AdvertRepr, Auth, AuthCheck, AuthType, ChecksumMode, DecodeError, EmitError, Family,
    IpChecks, IpError, IpPair, ParseError, RxIp, Version, VirtualAddrs, decode, decode_ipv4, ip,
};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

fn rx4() -> RxIp {
    RxIp {
        src: IpAddr::V4(SRC),
        dst: IpAddr::V4(vrrp_proto::GROUP_V4),
        ttl: 255,
    }
}

fn v3_two_vips() -> AdvertRepr {
    AdvertRepr::v3(
        51,
        200,
        Duration::from_secs(1),
        VirtualAddrs::V4(vec![
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
        ]),
    )
}

fn emit(r: &AdvertRepr, ip: &IpPair, mode: ChecksumMode) -> Vec<u8> {
    let mut b = vec![0; r.buffer_len()];
    r.emit(&mut b, ip, mode).unwrap();
    b
}

fn vrrp_err(bytes: &[u8]) -> ParseError {
    match decode(bytes, rx4(), &IpChecks::default()) {
        Err(DecodeError::Vrrp(e)) => e,
        other => panic!("expected a VRRP error, got {other:?}"),
    }
}

/// Rewrites the checksum so that only the mutation under test is wrong.
fn refill(mut b: Vec<u8>) -> Vec<u8> {
    Advert::new_unchecked(&mut b[..]).fill_checksum(&rx4().pair(), ChecksumMode::PseudoHeader);
    b
}

#[test]
fn truncated_header_and_addresses() {
    let good = emit(&v3_two_vips(), &rx4().pair(), ChecksumMode::PseudoHeader);
    for cut in 0..8 {
        assert_eq!(
            vrrp_err(&good[..cut]),
            ParseError::Truncated { need: 8, have: cut }
        );
    }
    assert_eq!(
        vrrp_err(&good[..12]),
        ParseError::Truncated { need: 16, have: 12 }
    );
}

#[test]
fn count_not_matching_length() {
    let mut b = emit(&v3_two_vips(), &rx4().pair(), ChecksumMode::PseudoHeader);
    b[3] = 1; // one address announced, two present
    assert_eq!(
        vrrp_err(&refill(b.clone())),
        ParseError::LengthMismatch {
            count: 1,
            need: 12,
            have: 16
        }
    );
    b[3] = 255;
    assert_eq!(
        vrrp_err(&refill(b)),
        ParseError::Truncated {
            need: 8 + 255 * 4,
            have: 16
        }
    );
}

#[test]
fn bad_version_type_vrid_interval() {
    let good = emit(&v3_two_vips(), &rx4().pair(), ChecksumMode::PseudoHeader);
    let mut b = good.clone();
    b[0] = 0x41;
    assert_eq!(vrrp_err(&refill(b)), ParseError::BadVersion(4));
    let mut b = good.clone();
    b[0] = 0x32;
    assert_eq!(vrrp_err(&refill(b)), ParseError::BadType(2));
    let mut b = good.clone();
    b[1] = 0;
    assert_eq!(vrrp_err(&refill(b)), ParseError::ZeroVrid);
    let mut b = good.clone();
    b[4] = 0xf0; // reserved bits set, interval zero
    b[5] = 0;
    assert_eq!(vrrp_err(&refill(b)), ParseError::ZeroInterval);
}

#[test]
fn bad_checksum_reports_both_values() {
    let mut b = emit(&v3_two_vips(), &rx4().pair(), ChecksumMode::PseudoHeader);
    let sum = u16::from_be_bytes([b[6], b[7]]);
    b[7] ^= 1;
    assert_eq!(
        vrrp_err(&b),
        ParseError::BadChecksum {
            found: sum ^ 1,
            expected: sum
        }
    );
    // A checksum valid for another source address is wrong here.
    let other = IpPair::v4(Ipv4Addr::new(192, 0, 2, 12), vrrp_proto::GROUP_V4);
    let b = emit(&v3_two_vips(), &other, ChecksumMode::PseudoHeader);
    assert!(matches!(vrrp_err(&b), ParseError::BadChecksum { .. }));
}

#[test]
fn v2_rules() {
    let v2 = AdvertRepr {
        version: Version::V2,
        vrid: 50,
        priority: 100,
        interval: 1,
        addrs: VirtualAddrs::V4(vec![Ipv4Addr::new(192, 0, 2, 1)]),
        auth: Auth::password(b"EcbCp2b1"),
        reserved: 0,
    };
    let good = emit(&v2, &rx4().pair(), ChecksumMode::PseudoHeader);
    assert_eq!(good.len(), 20);
    // v2 never uses a pseudo-header, whatever was asked.
    assert_eq!(good, emit(&v2, &rx4().pair(), ChecksumMode::VrrpOnly));
    let mut b = good.clone();
    b[4] = 3;
    Advert::new_unchecked(&mut b[..]).fill_checksum(&rx4().pair(), ChecksumMode::VrrpOnly);
    assert_eq!(vrrp_err(&b), ParseError::BadAuthType(3));
    // Missing authentication trailer.
    assert_eq!(
        vrrp_err(&good[..12]),
        ParseError::Truncated { need: 20, have: 12 }
    );
    // v2 over IPv6 is refused.
    let rx6 = RxIp {
        src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(vrrp_proto::GROUP_V6),
        ttl: 255,
    };
    assert_eq!(
        decode(&good, rx6, &IpChecks::default()),
        Err(DecodeError::Vrrp(ParseError::V2OverIpv6))
    );
    // Auth type 2 parses, and the check reports it as unsupported.
    let mut ah = v2.clone();
    ah.auth.kind = AuthType::IpAh;
    let bytes = emit(&ah, &rx4().pair(), ChecksumMode::VrrpOnly);
    let rx = decode(&bytes, rx4(), &IpChecks::default()).unwrap();
    assert_eq!(rx.advert.auth.kind, AuthType::IpAh);
    assert_eq!(rx.advert.auth.check(&v2.auth), AuthCheck::Unsupported);
    assert_eq!(
        v2.auth.check(&Auth::password(b"other")),
        AuthCheck::BadPassword
    );
    assert_eq!(v2.auth.check(&Auth::NONE), AuthCheck::TypeMismatch);
    assert_eq!(v2.auth.check(&Auth::password(b"EcbCp2b1")), AuthCheck::Ok);
}

#[test]
fn ip_layer_checks() {
    let good = emit(&v3_two_vips(), &rx4().pair(), ChecksumMode::PseudoHeader);
    let checks = IpChecks::default();
    let ttl = RxIp { ttl: 254, ..rx4() };
    assert_eq!(
        decode(&good, ttl, &checks),
        Err(DecodeError::Ip(IpError::BadTtl(254)))
    );
    let group = RxIp {
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 19)),
        ..rx4()
    };
    assert_eq!(ip::check(&group, &checks), Err(IpError::BadDestination));
    let src = RxIp {
        src: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 5)),
        ..rx4()
    };
    assert_eq!(ip::check(&src, &checks), Err(IpError::BadSource));
    // Unicast: TTL not checked unless asked (keepalived's behaviour).
    let uni = RxIp {
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)),
        ttl: 64,
        ..rx4()
    };
    assert_eq!(ip::check(&uni, &checks), Ok(()));
    assert_eq!(
        ip::check(&uni, &IpChecks { unicast_ttl: true }),
        Err(IpError::BadTtl(64))
    );
    // IPv6 multicast must come from a link-local source.
    let v6 = RxIp {
        src: IpAddr::V6("2001:db8::1".parse().unwrap()),
        dst: IpAddr::V6(vrrp_proto::GROUP_V6),
        ttl: 255,
    };
    assert_eq!(ip::check(&v6, &checks), Err(IpError::BadSource));
    // IPv4 header parsing.
    let mut d = vec![
        0x45, 0xc0, 0, 36, 0, 1, 0, 0, 255, 112, 0, 0, 192, 0, 2, 11, 224, 0, 0, 18,
    ];
    d.extend_from_slice(&good);
    assert!(decode_ipv4(&d, &checks).is_ok());
    let mut frag = d.clone();
    frag[6] = 0x20; // MF
    assert_eq!(
        decode_ipv4(&frag, &checks),
        Err(DecodeError::Ip(IpError::Fragment))
    );
    let mut proto = d.clone();
    proto[9] = 17;
    assert_eq!(
        decode_ipv4(&proto, &checks),
        Err(DecodeError::Ip(IpError::NotVrrp(17)))
    );
    assert_eq!(
        decode_ipv4(&d[..30], &checks),
        Err(DecodeError::Ip(IpError::Truncated { need: 36, have: 30 }))
    );
    let mut ihl = d.clone();
    ihl[0] = 0x44;
    assert_eq!(
        decode_ipv4(&ihl, &checks),
        Err(DecodeError::Ip(IpError::BadHeader { version: 4, ihl: 4 }))
    );
}

#[test]
fn emit_errors() {
    let ip = rx4().pair();
    let r = v3_two_vips();
    let mut small = [0u8; 10];
    assert_eq!(
        r.emit(&mut small, &ip, ChecksumMode::PseudoHeader),
        Err(EmitError::InsufficientSize {
            required: 16,
            have: 10
        })
    );
    let mut buf = [0u8; 64];
    let mut bad = r.clone();
    bad.interval = 0x1000;
    assert!(matches!(
        bad.emit(&mut buf, &ip, ChecksumMode::PseudoHeader),
        Err(EmitError::IntervalOutOfRange { .. })
    ));
    let v6ip = IpPair::v6(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        vrrp_proto::GROUP_V6,
    );
    assert_eq!(
        r.emit(&mut buf, &v6ip, ChecksumMode::PseudoHeader),
        Err(EmitError::FamilyMismatch)
    );
    let mut many = r.clone();
    many.addrs = VirtualAddrs::V4(vec![Ipv4Addr::new(192, 0, 2, 1); 256]);
    assert_eq!(
        many.emit(&mut [0; 2048], &ip, ChecksumMode::PseudoHeader),
        Err(EmitError::TooManyAddresses(256))
    );
    let mut zero = r.clone();
    zero.vrid = 0;
    assert_eq!(
        zero.emit(&mut buf, &ip, ChecksumMode::PseudoHeader),
        Err(EmitError::ZeroVrid)
    );
    assert_eq!(
        Advert::new_checked(&buf[..3], Family::Ipv4).unwrap_err(),
        ParseError::Truncated { need: 8, have: 3 }
    );
}

#[test]
fn durations_round_to_centiseconds() {
    assert_eq!(vrrp_proto::duration_to_centis(Duration::from_millis(10)), 1);
    assert_eq!(vrrp_proto::duration_to_centis(Duration::from_millis(1)), 1);
    assert_eq!(
        vrrp_proto::duration_to_centis(Duration::from_millis(1004)),
        100
    );
    assert_eq!(
        vrrp_proto::duration_to_centis(Duration::from_secs(100)),
        4095
    );
    assert_eq!(v3_two_vips().interval_duration(), Duration::from_secs(1));
}
