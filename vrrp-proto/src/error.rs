//! The error types of the codec.

use crate::Version;

/// Why a received VRRP packet (or the IP header around it) was rejected.
///
/// Every malformed input maps to exactly one variant; decoding never panics.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is shorter than the fixed header or than what the header announces.
    #[error("truncated VRRP packet: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the header (and address count) require.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The buffer is longer than the header and address count account for.
    #[error("VRRP length mismatch: {count} address(es) need {need} bytes, packet has {have}")]
    LengthMismatch {
        /// The `Count IPvX Addr` field.
        count: u8,
        /// Bytes that count implies.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The version nibble is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// The type nibble is not 1 (ADVERTISEMENT).
    #[error("unsupported VRRP packet type {0}")]
    BadType(u8),
    /// VRRPv2 carried over IPv6 (RFC 3768 is IPv4 only).
    #[error("VRRPv2 is defined for IPv4 only")]
    V2OverIpv6,
    /// The advertisement interval is zero.
    #[error("advertisement interval is zero")]
    ZeroInterval,
    /// VRID 0 is not a valid virtual router identifier (1..=255).
    #[error("virtual router id 0 is invalid")]
    ZeroVrid,
    /// A VRRPv2 authentication type other than 0, 1 or 2.
    #[error("unknown VRRPv2 authentication type {0}")]
    BadAuthType(u8),
    /// The checksum matches no accepted convention.
    #[error("bad VRRP checksum {found:#06x} (expected {expected:#06x})")]
    BadChecksum {
        /// Checksum field as received.
        found: u16,
        /// Checksum computed with the preferred convention (pseudo-header for v3, none for v2).
        expected: u16,
    },
    /// The IP source and destination are not of the same family.
    #[error("IP source and destination address families differ")]
    MixedFamilies,
}

/// Why an [`AdvertRepr`](crate::AdvertRepr) could not be emitted.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is too small; `required` bytes are needed.
    #[error("buffer too small: need {required} bytes, have {have}")]
    InsufficientSize {
        /// Bytes needed.
        required: usize,
        /// Bytes available.
        have: usize,
    },
    /// More than 255 virtual addresses.
    #[error("{0} virtual addresses: at most 255 fit the count field")]
    TooManyAddresses(usize),
    /// The interval does not fit the version's field (v3: 1..=4095 cs; v2: 1..=255 s).
    #[error("advertisement interval {interval} out of range for {version:?}")]
    IntervalOutOfRange {
        /// The protocol version.
        version: Version,
        /// The interval in the version's unit.
        interval: u16,
    },
    /// The address family of the virtual addresses differs from the IP header's.
    #[error("virtual address family differs from the IP pseudo-header's")]
    FamilyMismatch,
    /// VRRPv2 requested over IPv6, or VRRPv2 authentication on a v3 packet.
    #[error("version {0:?} cannot be emitted with these settings")]
    VersionMismatch(Version),
    /// VRID 0.
    #[error("virtual router id 0 is invalid")]
    ZeroVrid,
}

/// Why the IP layer around a received advertisement is not acceptable (RFC 5798 §7.1).
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpError {
    /// The IPv4 header is shorter than 20 bytes or its IHL / total length exceed the buffer.
    #[error("truncated IPv4 header: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The IPv4 header's version nibble is not 4, or IHL < 5.
    #[error("malformed IPv4 header (version {version}, ihl {ihl})")]
    BadHeader {
        /// Version nibble.
        version: u8,
        /// Header length in 32-bit words.
        ihl: u8,
    },
    /// The IP protocol is not 112.
    #[error("IP protocol {0} is not VRRP (112)")]
    NotVrrp(u8),
    /// A fragment (MF set or non-zero offset): adverts are never fragmented.
    #[error("fragmented VRRP packet")]
    Fragment,
    /// TTL / Hop Limit is not 255.
    #[error("TTL/hop limit {0} is not 255")]
    BadTtl(u8),
    /// The source address is multicast, broadcast, unspecified, or (IPv6 multicast) not link-local.
    #[error("unacceptable source address")]
    BadSource,
    /// The destination is neither the VRRP group nor an accepted unicast address.
    #[error("unexpected destination address")]
    BadDestination,
}
