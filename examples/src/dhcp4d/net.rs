//! dhcp4d's sockets.
//!
//! * One UDP socket on `0.0.0.0:67` (or `-p PORT`) with `SO_BROADCAST` and `IP_PKTINFO`:
//!   every query arrives on it with its ingress interface and destination address, so that
//!   queries from unconfigured interfaces are dropped and broadcasts are told from unicasts;
//!   every reply that the kernel can route leaves through it with `IP_PKTINFO` naming the
//!   interface and source address (broadcasts to 255.255.255.255 included, out of the
//!   interface the query came in on; relays at their `giaddr`, port 67).
//! * One `AF_PACKET` / `SOCK_DGRAM` socket (protocol 0: it receives nothing) for replies to a
//!   client that has no address yet (RFC 2131 §4.1, the reply goes to `yiaddr` at `chaddr`
//!   without ARP): dhcp4d builds the 28 bytes of IPv4 and UDP header with their checksums
//!   and the kernel adds the Ethernet header for the destination `chaddr`. This is what Kea
//!   does with `dhcp-socket-type: raw`; with `udp`, dhcp4d broadcasts such replies instead
//!   (as a server without packet sockets must).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::sys;

/// Opens the UDP socket of the server.
pub(crate) fn open_udp(port: u16) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    sys::setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
        .map_err(|e| io::Error::new(e.kind(), format!("IP_PKTINFO: {e}")))?;
    s.set_recv_buffer_size(4 << 20).ok();
    s.set_send_buffer_size(4 << 20).ok();
    s.bind(&SockAddr::from(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        port,
    )))
    .map_err(|e| io::Error::new(e.kind(), format!("bind 0.0.0.0:{port}: {e}")))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Opens the packet socket for link-layer unicasts.
pub(crate) fn open_packet() -> io::Result<Socket> {
    let s = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(0)))?;
    s.set_send_buffer_size(1 << 20).ok();
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The Internet checksum (RFC 1071) of `data`, continuing from `sum`.
fn ones_sum(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an IPv4 + UDP datagram (TTL 64, no options, DF clear) around `payload`. `None`
/// when the payload does not fit in one datagram.
pub(crate) fn ipv4_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let total = u16::try_from(20 + 8 + payload.len()).ok()?;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    let hsum = fold(ones_sum(0, &p[..20]));
    p[10..12].copy_from_slice(&hsum.to_be_bytes());
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    // Pseudo-header: source, destination, zero, protocol, UDP length.
    let mut sum = ones_sum(0, &src.ip().octets());
    sum = ones_sum(sum, &dst.ip().octets());
    sum += 17 + u32::from(udp_len);
    sum = ones_sum(sum, &p[20..]);
    let mut csum = fold(sum);
    if csum == 0 {
        csum = 0xffff;
    }
    p[26..28].copy_from_slice(&csum.to_be_bytes());
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero() {
        let src = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 67);
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 68);
        let p = ipv4_udp(src, dst, b"hello, dhcp!!").unwrap();
        assert_eq!(p.len(), 28 + 13);
        assert_eq!(fold(ones_sum(0, &p[..20])), 0, "IPv4 header checksum");
        let mut sum = ones_sum(0, &p[12..20]);
        sum += 17 + (p.len() as u32 - 20);
        assert_eq!(fold(ones_sum(sum, &p[20..])), 0, "UDP checksum");
        assert_eq!(&p[20..22], &67u16.to_be_bytes());
        assert_eq!(&p[22..24], &68u16.to_be_bytes());
    }
}
