//! The raw IP protocol 112 sockets of one instance: a receive socket on the instance's
//! interface (multicast membership, no bound address so every advert reaches it) and a send
//! socket on the transmit interface (the VMAC, or the interface) bound to the source address,
//! with TTL / Hop Limit 255 and TOS / traffic class 0xc0. The send socket drops everything it
//! would receive (a BPF filter), so each advert is read once.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockFilter, Socket, Type};
use vrrp_proto::{GROUP_V4, GROUP_V6, RxIp, TTL};

use super::sys;

/// DSCP CS6 (network control), as keepalived and FRR send.
const TOS: u32 = 0xc0;

/// Offset of the checksum in a VRRP message.
const CHECKSUM_OFFSET: libc::c_int = 6;

fn proto() -> Option<Protocol> {
    Some(Protocol::from(i32::from(vrrp_proto::checksum::PROTOCOL)))
}

fn ctx(what: &str, ifname: &str) -> impl FnOnce(io::Error) -> io::Error {
    let m = format!("{what} on {ifname}");
    move |e| io::Error::new(e.kind(), format!("{m}: {e}"))
}

/// Opens the receive socket of an instance on `ifname`.
pub(crate) fn open_rx(ifname: &str, ifindex: u32, v6: bool) -> io::Result<Socket> {
    let s = if v6 {
        let s = Socket::new(Domain::IPV6, Type::RAW, proto())
            .map_err(ctx("raw IPv6 socket", ifname))?;
        sys::set_ipv6_checksum(s.as_raw_fd(), CHECKSUM_OFFSET)
            .map_err(ctx("IPV6_CHECKSUM", ifname))?;
        sys::set_ipv6_recv_info(s.as_raw_fd()).map_err(ctx("IPV6_RECVPKTINFO", ifname))?;
        s.join_multicast_v6(&GROUP_V6, ifindex)
            .map_err(ctx("join ff02::12", ifname))?;
        s
    } else {
        let s = Socket::new(Domain::IPV4, Type::RAW, proto())
            .map_err(ctx("raw IPv4 socket", ifname))?;
        s.join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))
            .map_err(ctx("join 224.0.0.18", ifname))?;
        s
    };
    s.bind_device(Some(ifname.as_bytes()))
        .map_err(ctx("SO_BINDTODEVICE", ifname))?;
    s.set_recv_buffer_size(1 << 20).ok();
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Opens the send socket of an instance: out of `ifname`, from `src`.
pub(crate) fn open_tx(ifname: &str, ifindex: u32, src: IpAddr) -> io::Result<Socket> {
    let s = match src {
        IpAddr::V6(a) => {
            let s = Socket::new(Domain::IPV6, Type::RAW, proto())
                .map_err(ctx("raw IPv6 socket", ifname))?;
            sys::set_ipv6_checksum(s.as_raw_fd(), CHECKSUM_OFFSET)
                .map_err(ctx("IPV6_CHECKSUM", ifname))?;
            s.set_multicast_hops_v6(u32::from(TTL))?;
            s.set_unicast_hops_v6(u32::from(TTL))?;
            s.set_multicast_loop_v6(false)?;
            s.set_multicast_if_v6(ifindex)?;
            s.set_tclass_v6(TOS)?;
            s.bind_device(Some(ifname.as_bytes()))
                .map_err(ctx("SO_BINDTODEVICE", ifname))?;
            let scope = if a.is_unicast_link_local() {
                ifindex
            } else {
                0
            };
            s.bind(&SockAddr::from(SocketAddrV6::new(a, 0, 0, scope)))
                .map_err(ctx(&format!("bind {a}"), ifname))?;
            s
        }
        IpAddr::V4(a) => {
            let s = Socket::new(Domain::IPV4, Type::RAW, proto())
                .map_err(ctx("raw IPv4 socket", ifname))?;
            s.set_multicast_ttl_v4(u32::from(TTL))?;
            s.set_ttl_v4(u32::from(TTL))?;
            s.set_multicast_loop_v4(false)?;
            s.set_tos_v4(TOS)?;
            s.bind_device(Some(ifname.as_bytes()))
                .map_err(ctx("SO_BINDTODEVICE", ifname))?;
            s.bind(&SockAddr::from(SocketAddrV4::new(a, 0)))
                .map_err(ctx(&format!("bind {a}"), ifname))?;
            s
        }
    };
    // Classic BPF "ret #0": the send socket never queues what it would receive.
    s.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Sends one VRRP message to `dst` (the group or a unicast peer).
pub(crate) fn send(s: &Socket, ifindex: u32, dst: IpAddr, msg: &[u8]) -> io::Result<()> {
    let to = match dst {
        IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
        IpAddr::V6(a) => {
            let scope = if a.is_multicast() || a.is_unicast_link_local() {
                ifindex
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope))
        }
    };
    s.send_to(msg, &SockAddr::from(to)).map(|_| ())
}

/// A received datagram: the whole IPv4 datagram, or an IPv6 payload with its metadata.
#[derive(Debug, Clone)]
pub(crate) enum Packet {
    /// IPv4, header included.
    V4(Vec<u8>),
    /// IPv6 payload and what `recvmsg` told.
    V6(Vec<u8>, RxIp),
}

impl Packet {
    /// The VRID byte, to demultiplex before decoding.
    pub(crate) fn vrid(&self) -> Option<u8> {
        match self {
            Self::V4(d) => {
                let ihl = usize::from(d.first()? & 0x0f) * 4;
                d.get(ihl + 1).copied()
            }
            Self::V6(p, _) => p.get(1).copied(),
        }
    }
}

/// Receives one datagram (non-blocking).
pub(crate) fn recv(s: &Socket, v6: bool, buf: &mut [u8]) -> io::Result<Packet> {
    if v6 {
        let r = sys::recv_v6(s.as_raw_fd(), buf)?;
        let dst = r.dst.unwrap_or(GROUP_V6);
        Ok(Packet::V6(
            buf[..r.len].to_vec(),
            RxIp {
                src: IpAddr::V6(r.src),
                dst: IpAddr::V6(dst),
                // No hop-limit control message: treat as not 255 (dropped for multicast).
                ttl: r.hop_limit.unwrap_or(0),
            },
        ))
    } else {
        // socket2 `recv` wants `MaybeUninit`; `Read for &Socket` is the safe equivalent.
        let n = io::Read::read(&mut &*s, buf)?;
        Ok(Packet::V4(buf[..n].to_vec()))
    }
}
