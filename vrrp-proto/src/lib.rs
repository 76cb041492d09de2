//! A checked, zero-copy codec for VRRP advertisements: VRRPv3 (RFC 5798, RFC 9568) over IPv4
//! and IPv6, and VRRPv2 (RFC 3768) over IPv4 with authentication types 0 and 1.
//!
//! The crate follows smoltcp's `wire` model: [`Advert`] is a view over bytes whose accessors
//! never panic once [`Advert::new_checked`] succeeded, and [`AdvertRepr`] is the owned,
//! validated form with [`AdvertRepr::parse`], [`AdvertRepr::buffer_len`] and
//! [`AdvertRepr::emit`]. For every valid packet, `emit(parse(x)) == x` byte for byte.
//!
//! Checksums: VRRPv3 over IPv4 exists in two conventions (with the IPv4 pseudo-header, as
//! keepalived and FRR send by default, and without, as RFC 9568 says). The sender picks one
//! with [`ChecksumMode`]; the receiver accepts both and reports which one matched.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use vrrp_proto::{AdvertRepr, ChecksumMode, IpChecks, VirtualAddrs, decode_ipv4};
//!
//! // A keepalived advert as a raw IPv4 socket delivers it (IP header included).
//! let datagram = [
//!     0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x8b, 0xc0, 0x00, 0x02,
//!     0x0b, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0xc8, 0x02, 0x00, 0x64, 0xdf, 0xc2, 0xc0, 0x00,
//!     0x02, 0x01, 0xc0, 0x00, 0x02, 0x02,
//! ];
//! let rx = decode_ipv4(&datagram, &IpChecks::default())?;
//! assert_eq!((rx.advert.vrid, rx.advert.priority, rx.advert.interval), (51, 200, 100));
//! assert_eq!(rx.checksum, ChecksumMode::PseudoHeader);
//! assert_eq!(
//!     rx.advert.addrs,
//!     VirtualAddrs::V4(vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)])
//! );
//!
//! // Re-emit: byte-identical.
//! let mut out = vec![0; rx.advert.buffer_len()];
//! rx.advert.emit(&mut out, &rx.ip.pair(), rx.checksum)?;
//! assert_eq!(&out[..], &datagram[20..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod checksum;
pub mod error;
pub mod ip;
pub mod repr;
pub mod wire;

pub use checksum::ChecksumMode;
pub use error::{EmitError, IpError, ParseError};
pub use ip::{GROUP_V4, GROUP_V6, IpChecks, Ipv4Info, RxIp, TTL};
pub use repr::{
    AdvertRepr, Auth, AuthCheck, AuthType, Family, IpPair, Version, VirtualAddrs,
    duration_to_centis,
};
pub use wire::Advert;

/// An advertisement received and validated at both the IP and the VRRP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// What the IP layer said (addresses, TTL).
    pub ip: RxIp,
    /// The advertisement.
    pub advert: AdvertRepr,
    /// The checksum convention that matched.
    pub checksum: ChecksumMode,
}

/// Either layer's reason to drop a received packet.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The IP layer is not acceptable.
    #[error("IP layer: {0}")]
    Ip(#[from] IpError),
    /// The VRRP message is malformed.
    #[error("VRRP: {0}")]
    Vrrp(#[from] ParseError),
}

/// Decodes a datagram from a raw IPv4 socket (IP header included): IP checks, then VRRP.
pub fn decode_ipv4(datagram: &[u8], checks: &IpChecks) -> Result<Received, DecodeError> {
    let (info, payload) = ip::parse_ipv4(datagram)?;
    decode(payload, info.rx(), checks)
}

/// Decodes a VRRP message whose IP metadata came separately (IPv6 sockets, or a parsed IPv4
/// header): IP checks, then VRRP.
pub fn decode(payload: &[u8], ip: RxIp, checks: &IpChecks) -> Result<Received, DecodeError> {
    ip::check(&ip, checks)?;
    let pair = ip.pair();
    let family = pair.family()?;
    let view = Advert::new_checked(payload, family)?;
    let (advert, checksum) = AdvertRepr::parse(&view, &pair)?;
    Ok(Received {
        ip,
        advert,
        checksum,
    })
}

/// Helpers shared by the fuzz targets and the tests that replay their corpora.
pub mod fuzzing {
    use super::*;

    /// Decodes `data` as an IPv4 datagram and as an IPv6 payload; whatever parses must
    /// re-emit byte-identically and re-parse to the same representation. Panics otherwise
    /// (that is the bug a fuzzer looks for).
    pub fn roundtrip(data: &[u8]) {
        let checks = IpChecks { unicast_ttl: false };
        if let Ok(rx) = decode_ipv4(data, &checks) {
            // The VRRP message is what the IPv4 header delimits (IHL, total length).
            let (_, payload) = ip::parse_ipv4(data).expect("decode_ipv4 accepted the header");
            check_reemit(&rx, payload);
        }
        // Treat the input as an IPv6 (or raw IPv4) payload between fixed addresses.
        let v6 = RxIp {
            src: core::net::IpAddr::V6(core::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            dst: core::net::IpAddr::V6(GROUP_V6),
            ttl: TTL,
        };
        let v4 = RxIp {
            src: core::net::IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 11)),
            dst: core::net::IpAddr::V4(GROUP_V4),
            ttl: TTL,
        };
        for ip in [v6, v4] {
            // Most random inputs fail the checksum; also accept them with a fixed-up checksum
            // so the fuzzer reaches the field decoders.
            let mut fixed = alloc::vec::Vec::from(data);
            let mut view = Advert::new_unchecked(&mut fixed[..]);
            view.fill_checksum(&ip.pair(), ChecksumMode::PseudoHeader);
            for bytes in [data, &fixed[..]] {
                if let Ok(rx) = decode(bytes, ip, &checks) {
                    check_reemit(&rx, bytes);
                }
            }
        }
    }

    fn check_reemit(rx: &Received, original: &[u8]) {
        let mut out = alloc::vec![0; rx.advert.buffer_len()];
        let n = rx
            .advert
            .emit(&mut out, &rx.ip.pair(), rx.checksum)
            .expect("a parsed advert must emit");
        assert_eq!(&out[..n], original, "emit(parse(x)) != x");
        let again = decode(&out, rx.ip, &IpChecks::default()).expect("re-parse");
        assert_eq!(&again, rx);
    }
}
