//! The Internet checksum (RFC 1071) over a VRRP message, with or without the IP pseudo-header.

use core::net::IpAddr;

use crate::repr::{Family, IpPair, Version};

/// The IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;

/// Which bytes the checksum covers.
///
/// VRRPv2 always covers the VRRP message only; VRRPv3 over IPv6 always includes the IPv6
/// pseudo-header (RFC 5798 §5.2.8). For VRRPv3 over IPv4 both conventions exist in the field:
/// keepalived and FRR include the IPv4 pseudo-header by default, while RFC 9568 (and Cisco,
/// Juniper, Arista, keepalived's `v3_checksum_as_v2`) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// The IP pseudo-header is included (keepalived's and FRR's default for VRRPv3 over IPv4).
    #[default]
    PseudoHeader,
    /// Only the VRRP message is summed (VRRPv2; RFC 9568 for VRRPv3 over IPv4).
    VrrpOnly,
}

/// The convention that applies to a version and family: only v3 over IPv4 honours `requested`.
pub const fn effective_mode(
    version: Version,
    family: Family,
    requested: ChecksumMode,
) -> ChecksumMode {
    match (version, family) {
        (Version::V2, _) => ChecksumMode::VrrpOnly,
        (Version::V3, Family::Ipv6) => ChecksumMode::PseudoHeader,
        (Version::V3, Family::Ipv4) => requested,
    }
}

/// Adds big-endian 16-bit words of `data` to a running 32-bit sum (odd length padded with zero).
pub fn sum_words(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

/// Folds a 32-bit sum into 16 bits with end-around carry.
pub const fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header's contribution to the sum for an upper-layer message of `len` bytes.
pub fn pseudo_header_sum(ip: &IpPair, len: usize) -> u32 {
    let mut acc = 0;
    match (ip.src, ip.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum_words(acc, &s.octets());
            acc = sum_words(acc, &d.octets());
            acc += u32::from(PROTOCOL);
            acc += (len as u32) & 0xffff;
        }
        (s, d) => {
            acc = sum_words(acc, &ip_octets(s));
            acc = sum_words(acc, &ip_octets(d));
            acc += len as u32 >> 16;
            acc += (len as u32) & 0xffff;
            acc += u32::from(PROTOCOL);
        }
    }
    acc
}

fn ip_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The checksum value for `msg` (whose checksum field must be zero or is treated as data).
///
/// To compute a checksum to send, zero the field first; the result goes into the field as is.
pub fn compute(msg: &[u8], ip: &IpPair, mode: ChecksumMode) -> u16 {
    let mut acc = sum_words(0, msg);
    if mode == ChecksumMode::PseudoHeader {
        acc += pseudo_header_sum(ip, msg.len());
    }
    !fold(acc)
}

/// The checksum `msg` should carry: computed with the checksum field (bytes 6..8) skipped.
pub fn expected(msg: &[u8], ip: &IpPair, mode: ChecksumMode) -> u16 {
    let mut acc = sum_words(0, &msg[..6]);
    acc = sum_words(acc, &msg[8..]);
    if mode == ChecksumMode::PseudoHeader {
        acc += pseudo_header_sum(ip, msg.len());
    }
    !fold(acc)
}
