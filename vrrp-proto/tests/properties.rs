//! Property tests: generated adverts round-trip through emit and parse, and arbitrary bytes never
//! panic the decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vrrp_proto::{
    Advert, AdvertRepr, Auth, AuthType, ChecksumMode, IpChecks, IpPair, RxIp, Version,
    VirtualAddrs, decode, fuzzing,
};

fn auth() -> impl Strategy<Value = Auth> {
    (0u8..3, any::<[u8; 8]>()).prop_map(|(k, data)| Auth {
        kind: match k {
            0 => AuthType::None,
            1 => AuthType::SimplePassword,
            _ => AuthType::IpAh,
        },
        data,
    })
}

/// A valid advert together with the IP pair it travels in and the sender's checksum choice.
fn advert() -> impl Strategy<Value = (AdvertRepr, IpPair, ChecksumMode)> {
    let v4 = (
        prop::bool::ANY,
        1u8..=255,
        any::<u8>(),
        prop::collection::vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 0..20),
        auth(),
        1u16..=4095,
        0u8..16,
        (1u8..224, any::<[u8; 3]>()).prop_map(|(a, [b, c, d])| [a, b, c, d]),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(
            |(v2, vrid, priority, addrs, auth, iv, reserved, src, uni, rfc)| {
                let (version, interval, auth, reserved) = if v2 {
                    (Version::V2, 1 + iv % 255, auth, 0)
                } else {
                    (Version::V3, iv, Auth::NONE, reserved)
                };
                let dst = if uni {
                    Ipv4Addr::new(192, 0, 2, 12)
                } else {
                    vrrp_proto::GROUP_V4
                };
                let mode = if rfc {
                    ChecksumMode::VrrpOnly
                } else {
                    ChecksumMode::PseudoHeader
                };
                (
                    AdvertRepr {
                        version,
                        vrid,
                        priority,
                        interval,
                        addrs: VirtualAddrs::V4(addrs),
                        auth,
                        reserved,
                    },
                    IpPair::v4(Ipv4Addr::from(src), dst),
                    mode,
                )
            },
        );
    let v6 = (
        1u8..=255,
        any::<u8>(),
        prop::collection::vec(any::<[u8; 16]>().prop_map(Ipv6Addr::from), 0..8),
        1u16..=4095,
        any::<u64>(),
    )
        .prop_map(|(vrid, priority, addrs, interval, iid)| {
            let src = Ipv6Addr::from((0xfe80u128 << 112) | u128::from(iid));
            (
                AdvertRepr {
                    version: Version::V3,
                    vrid,
                    priority,
                    interval,
                    addrs: VirtualAddrs::V6(addrs),
                    auth: Auth::NONE,
                    reserved: 0,
                },
                IpPair::v6(src, vrrp_proto::GROUP_V6),
                ChecksumMode::PseudoHeader,
            )
        });
    prop_oneof![v4, v6]
}

fn rx_of(ip: &IpPair) -> RxIp {
    RxIp {
        src: ip.src,
        dst: ip.dst,
        ttl: 255,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// parse(emit(repr)) == repr, the checksum convention is reported back, and the bytes are a
    /// fixed point: emit(parse(bytes)) == bytes.
    #[test]
    fn repr_roundtrip((repr, ip, mode) in advert()) {
        let mut bytes = vec![0; repr.buffer_len()];
        let n = repr.emit(&mut bytes, &ip, mode).unwrap();
        prop_assert_eq!(n, bytes.len());
        let rx = decode(&bytes, rx_of(&ip), &IpChecks::default()).unwrap();
        prop_assert_eq!(&rx.advert, &repr);
        let expect_mode = match (repr.version, ip.src) {
            (Version::V2, _) => ChecksumMode::VrrpOnly,
            (_, IpAddr::V6(_)) => ChecksumMode::PseudoHeader,
            _ => mode,
        };
        // In the rare case both IPv4 conventions give the same sum, the pseudo-header wins.
        let view = Advert::new_unchecked(&bytes[..]);
        if rx.checksum != expect_mode {
            prop_assert_eq!(rx.checksum, ChecksumMode::PseudoHeader);
            prop_assert_eq!(view.verify_checksum(&ip), Ok(ChecksumMode::PseudoHeader));
        }
        let mut again = vec![0; rx.advert.buffer_len()];
        rx.advert.emit(&mut again, &ip, rx.checksum).unwrap();
        prop_assert_eq!(again, bytes);
    }

    /// Single-bit corruption of a valid advert is always detected or still decodes to a valid
    /// advert that re-emits identically (e.g. a flipped reserved bit); never a panic.
    #[test]
    fn bit_flips_are_caught((repr, ip, mode) in advert(), bit in any::<usize>()) {
        let mut bytes = vec![0; repr.buffer_len()];
        repr.emit(&mut bytes, &ip, mode).unwrap();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(rx) = decode(&bytes, rx_of(&ip), &IpChecks::default()) {
            let mut again = vec![0; rx.advert.buffer_len()];
            rx.advert.emit(&mut again, &ip, rx.checksum).unwrap();
            prop_assert_eq!(again, bytes);
        }
    }

    /// Arbitrary bytes: the fuzz round-trip property holds.
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::roundtrip(&data);
    }
}
