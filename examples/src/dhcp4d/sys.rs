//! The system calls socket2 and std do not wrap: `recvmsg` / `sendmsg` with `IP_PKTINFO`
//! (the ingress interface and destination of each query, the egress interface and source
//! of each reply), `sendto` on an `AF_PACKET` socket (a reply to a client that has no
//! address yet), `getifaddrs` (the interfaces' IPv4 addresses), and tokio's
//! `AsyncFd::register`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;

/// Registers a socket with tokio's reactor.
pub(crate) fn register<T: AsRawFd>(sock: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: the socket owns its fd (socket2 `Socket`), which stays open while the `AsyncFd`
    // holds the value; it is deregistered when the `AsyncFd` is dropped, before the fd closes.
    unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)
}

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` lives for the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One received datagram's metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rx4 {
    /// Payload length.
    pub(crate) len: usize,
    /// Source address and port.
    pub(crate) src: SocketAddrV4,
    /// Destination address (from `IP_PKTINFO`).
    pub(crate) dst: Ipv4Addr,
    /// Ingress interface index (from `IP_PKTINFO`; 0 if the kernel gave none).
    pub(crate) ifindex: u32,
}

/// `recvmsg(MSG_DONTWAIT)` on a UDP socket with `IP_PKTINFO` set.
pub(crate) fn recv_pktinfo(fd: RawFd, buf: &mut [u8]) -> io::Result<Rx4> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut src: libc::sockaddr_in = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut src).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&cbuf);
    // SAFETY: every pointer in `msg` points to a live buffer of the size given.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Rx4 {
        len: n as usize,
        src: SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(src.sin_addr.s_addr)),
            u16::from_be(src.sin_port),
        ),
        dst: Ipv4Addr::UNSPECIFIED,
        ifindex: 0,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // `msg_controllen`; the data is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_PKTINFO {
                let p = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                out.dst = Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr));
                out.ifindex = u32::try_from(p.ipi_ifindex).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok(out)
}

/// `sendmsg(MSG_DONTWAIT)` of `payload` to `dst` out of interface `ifindex`, from source
/// address `src` (unspecified: the kernel chooses), with an `IP_PKTINFO` control message.
pub(crate) fn send_pktinfo(
    fd: RawFd,
    dst: SocketAddrV4,
    ifindex: u32,
    src: Ipv4Addr,
    payload: &[u8],
) -> io::Result<usize> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut to: libc::sockaddr_in = unsafe { zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_port = dst.port().to_be();
    to.sin_addr.s_addr = u32::from(*dst.ip()).to_be();
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: as above.
    let mut info: libc::in_pktinfo = unsafe { zeroed() };
    info.ipi_ifindex = libc::c_int::try_from(ifindex).unwrap_or(0);
    info.ipi_spec_dst.s_addr = u32::from(src).to_be();
    let mut cbuf = [0u64; 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut to).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as _;
    // SAFETY: the control buffer (64 bytes) holds one in_pktinfo header and payload
    // (CMSG_SPACE(12) = 32); the header pointer comes from CMSG_FIRSTHDR over it and the data
    // is written unaligned. `iov` only reads `payload` (sendmsg does not write through it).
    let n = unsafe {
        let c = libc::CMSG_FIRSTHDR(&raw const msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>(), info);
        libc::sendmsg(fd, &raw const msg, libc::MSG_DONTWAIT)
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `sendto` on an `AF_PACKET` / `SOCK_DGRAM` socket: `frame` (an IPv4 datagram) to the
/// link-layer address `mac` out of `ifindex`; the kernel adds the Ethernet header.
pub(crate) fn send_link(fd: RawFd, ifindex: u32, mac: &[u8], frame: &[u8]) -> io::Result<usize> {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut ll: libc::sockaddr_ll = unsafe { zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = (libc::ETH_P_IP as u16).to_be();
    ll.sll_ifindex =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let n = mac.len().min(ll.sll_addr.len());
    ll.sll_halen = n as u8;
    ll.sll_addr[..n].copy_from_slice(&mac[..n]);
    // SAFETY: `frame` and `ll` are live for the call and their sizes are passed.
    let r = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
            (&raw const ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Every interface's IPv4 addresses, by (index, name), in the kernel's order (primary
/// address first). Interfaces without an IPv4 address are listed with none.
pub(crate) fn interfaces() -> io::Result<Vec<(u32, String, Vec<Ipv4Addr>)>> {
    let mut out: Vec<(u32, String, Vec<Ipv4Addr>)> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&raw mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs;
        // `ifa_name` is a NUL-terminated string; `ifa_addr`, when not null and of family
        // AF_INET, points to a sockaddr_in.
        unsafe {
            let ifa = &*cur;
            let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
            let index = libc::if_nametoindex(ifa.ifa_name);
            let pos = match out.iter().position(|e| e.0 == index) {
                Some(p) => p,
                None => {
                    out.push((index, name, Vec::new()));
                    out.len() - 1
                }
            };
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = std::ptr::read_unaligned(ifa.ifa_addr.cast::<libc::sockaddr_in>());
                out[pos]
                    .2
                    .push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out.retain(|e| e.0 != 0);
    Ok(out)
}
