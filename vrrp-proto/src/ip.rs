//! IP-layer checks around a received advertisement (RFC 5798 §7.1): TTL / Hop Limit 255, the
//! source and destination addresses, and the IPv4 header that raw IPv4 sockets deliver.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum::PROTOCOL;
use crate::error::IpError;
use crate::repr::IpPair;

/// The IPv4 VRRP multicast group, 224.0.0.18.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP multicast group, ff02::12.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / Hop Limit every advertisement is sent with and must arrive with.
pub const TTL: u8 = 255;

/// What the IP layer told about a received advertisement: addresses and TTL / Hop Limit.
///
/// For IPv4 it comes from the header ([`parse_ipv4`]); for IPv6 from the socket's receive
/// metadata (source from `recvmsg`, destination from `IPV6_PKTINFO`, `IPV6_HOPLIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxIp {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL or Hop Limit.
    pub ttl: u8,
}

impl RxIp {
    /// The pseudo-header pair for checksum verification.
    pub const fn pair(&self) -> IpPair {
        IpPair {
            src: self.src,
            dst: self.dst,
        }
    }
}

/// The parts of an IPv4 header that VRRP cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Info {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Type of service / DSCP+ECN byte (keepalived sends 0xc0).
    pub tos: u8,
    /// Header length in bytes (IHL × 4).
    pub header_len: usize,
}

impl Ipv4Info {
    /// As generic receive metadata.
    pub const fn rx(&self) -> RxIp {
        RxIp {
            src: IpAddr::V4(self.src),
            dst: IpAddr::V4(self.dst),
            ttl: self.ttl,
        }
    }
}

/// Parses the IPv4 header of a datagram from a raw IPv4 socket and returns it with the VRRP
/// payload (bounded by the header's total length). Checks version, IHL, protocol 112 and that
/// the datagram is not a fragment; it does not check TTL or addresses (see [`check`]).
pub fn parse_ipv4(datagram: &[u8]) -> Result<(Ipv4Info, &[u8]), IpError> {
    if datagram.len() < 20 {
        return Err(IpError::Truncated {
            need: 20,
            have: datagram.len(),
        });
    }
    let version = datagram[0] >> 4;
    let ihl = datagram[0] & 0x0f;
    if version != 4 || ihl < 5 {
        return Err(IpError::BadHeader { version, ihl });
    }
    let header_len = usize::from(ihl) * 4;
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    // Linux raw sockets deliver the total length in network order and unchanged.
    if total < header_len || datagram.len() < total {
        return Err(IpError::Truncated {
            need: total.max(header_len),
            have: datagram.len(),
        });
    }
    let frag = u16::from_be_bytes([datagram[6], datagram[7]]);
    if frag & 0x3fff != 0 {
        return Err(IpError::Fragment);
    }
    if datagram[9] != PROTOCOL {
        return Err(IpError::NotVrrp(datagram[9]));
    }
    let src = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
    let dst = Ipv4Addr::new(datagram[16], datagram[17], datagram[18], datagram[19]);
    Ok((
        Ipv4Info {
            src,
            dst,
            ttl: datagram[8],
            tos: datagram[1],
            header_len,
        },
        &datagram[header_len..total],
    ))
}

/// Which IP-layer rules to enforce beyond RFC 5798's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IpChecks {
    /// Also require TTL 255 on unicast adverts. keepalived does not check the TTL of unicast
    /// adverts (they may cross routers), so the default is `false`; RFC 5798 would say `true`.
    pub unicast_ttl: bool,
}

/// Checks the IP layer of a received advertisement: a multicast destination must be the VRRP
/// group and arrive with TTL / Hop Limit 255 from a usable source (IPv6: link-local); a unicast
/// destination is accepted (the socket decides which ones reach us), with the TTL checked only
/// when `checks.unicast_ttl` is set.
pub fn check(rx: &RxIp, checks: &IpChecks) -> Result<(), IpError> {
    match (rx.src, rx.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            if src.is_multicast() || src.is_unspecified() || src.is_broadcast() {
                return Err(IpError::BadSource);
            }
            if dst.is_multicast() {
                if dst != GROUP_V4 {
                    return Err(IpError::BadDestination);
                }
            } else if dst.is_unspecified() || dst.is_broadcast() {
                return Err(IpError::BadDestination);
            }
            if (dst.is_multicast() || checks.unicast_ttl) && rx.ttl != TTL {
                return Err(IpError::BadTtl(rx.ttl));
            }
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            if src.is_multicast() || src.is_unspecified() {
                return Err(IpError::BadSource);
            }
            if dst.is_multicast() {
                if dst != GROUP_V6 {
                    return Err(IpError::BadDestination);
                }
                // RFC 5798 §5.1.2.1: the source is the sender's link-local address.
                if !src.is_unicast_link_local() {
                    return Err(IpError::BadSource);
                }
            } else if dst.is_unspecified() {
                return Err(IpError::BadDestination);
            }
            if (dst.is_multicast() || checks.unicast_ttl) && rx.ttl != TTL {
                return Err(IpError::BadTtl(rx.ttl));
            }
        }
        _ => return Err(IpError::BadDestination),
    }
    Ok(())
}
