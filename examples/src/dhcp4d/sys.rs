//! The system calls socket2 and std do not wrap: `recvmsg` / `sendmsg` with `IP_PKTINFO`
//! (the ingress interface and destination of each query, the egress interface and source
//! of each reply) and their batched forms `recvmmsg` / `sendmmsg` ([`RxBatch`],
//! [`send_pktinfo_batch`]), `sendto` on an `AF_PACKET` socket (a reply to a client that has
//! no address yet), `getifaddrs` (the interfaces' IPv4 addresses).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;

pub(crate) use crate::sys::{register_readable, setsockopt_int};

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

use crate::sys::{from_sockaddr, to_sockaddr};

/// The `IP_PKTINFO` of a received message: (destination, ingress interface index).
///
/// # Safety
/// `msg` is a header the kernel filled in `recvmsg` / `recvmmsg`, and its control buffer is
/// still alive.
unsafe fn read_pktinfo(msg: &libc::msghdr) -> (Ipv4Addr, u32) {
    let mut out = (Ipv4Addr::UNSPECIFIED, 0);
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // `msg_controllen` (the caller's promise); the data is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_PKTINFO {
                let p = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                out = (
                    Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr)),
                    u32::try_from(p.ipi_ifindex).unwrap_or(0),
                );
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    out
}

/// A control buffer for one `in_pktinfo` (CMSG_SPACE(12) = 32 bytes), 8-aligned.
type Cbuf = [u64; 8];

/// Writes one `IP_PKTINFO` control message (egress interface, source address) into `cbuf`
/// and points `msg` at it.
fn write_pktinfo(msg: &mut libc::msghdr, cbuf: &mut Cbuf, ifindex: u32, src: Ipv4Addr) {
    // SAFETY: all-zero is a valid in_pktinfo.
    let mut info: libc::in_pktinfo = unsafe { zeroed() };
    info.ipi_ifindex = libc::c_int::try_from(ifindex).unwrap_or(0);
    info.ipi_spec_dst.s_addr = u32::from(src).to_be();
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as _;
    // SAFETY: the control buffer (64 bytes) holds one in_pktinfo header and payload
    // (CMSG_SPACE(12) = 32); the header pointer comes from CMSG_FIRSTHDR over it and the data
    // is written unaligned.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>(), info);
    }
}

/// Datagrams one [`RxBatch::recv`] reads at most (one `recvmmsg`).
pub(crate) const RX_BATCH: usize = 32;

/// Bytes per receive slot: any UDP datagram fits (as with one 64 KiB buffer), so none is
/// truncated. The slots are zero-allocated: only the pages datagrams touch become resident.
const RX_SLOT: usize = 1 << 16;

/// Receive slots for `recvmmsg`: up to [`RX_BATCH`] queries per system call, each with its
/// source, destination and ingress interface.
pub(crate) struct RxBatch {
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_in>,
    cbufs: Vec<Cbuf>,
    meta: Vec<Rx4>,
}

impl std::fmt::Debug for RxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch")
            .field("received", &self.meta.len())
            .finish_non_exhaustive()
    }
}

impl Default for RxBatch {
    fn default() -> Self {
        Self {
            bufs: vec![0; RX_BATCH * RX_SLOT],
            // SAFETY: all-zero is a valid sockaddr_in.
            names: vec![unsafe { zeroed() }; RX_BATCH],
            cbufs: vec![[0; 8]; RX_BATCH],
            meta: Vec::with_capacity(RX_BATCH),
        }
    }
}

impl RxBatch {
    /// `recvmmsg(MSG_DONTWAIT)`: reads up to [`RX_BATCH`] datagrams; returns how many
    /// (fewer than [`RX_BATCH`]: the socket was drained), `WouldBlock` when none was queued.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.meta.clear();
        // SAFETY: all-zero is a valid value for these plain C structs (null pointers).
        let mut iovs: [libc::iovec; RX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; RX_BATCH] = unsafe { zeroed() };
        let base = self.bufs.as_mut_ptr();
        for (i, (iov, h)) in iovs.iter_mut().zip(hdrs.iter_mut()).enumerate() {
            // SAFETY: slot `i` lies inside `bufs` (RX_BATCH × RX_SLOT bytes).
            iov.iov_base = unsafe { base.add(i * RX_SLOT) }.cast();
            iov.iov_len = RX_SLOT;
            let m = &mut h.msg_hdr;
            m.msg_name = (&raw mut self.names[i]).cast();
            m.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_iov = iov;
            m.msg_iovlen = 1;
            m.msg_control = self.cbufs[i].as_mut_ptr().cast();
            m.msg_controllen = size_of::<Cbuf>();
        }
        // SAFETY: every header points to live buffers of the sizes given (slots, addresses,
        // control buffers owned by `self`, iovecs on this stack frame), for RX_BATCH headers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                RX_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(RX_BATCH);
        for (i, h) in hdrs.iter().take(n).enumerate() {
            // SAFETY: the kernel filled header `i`; its control buffer is `self.cbufs[i]`.
            let (dst, ifindex) = unsafe { read_pktinfo(&h.msg_hdr) };
            self.meta.push(Rx4 {
                len: (h.msg_len as usize).min(RX_SLOT),
                src: from_sockaddr(&self.names[i]),
                dst,
                ifindex,
            });
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`recv`](Self::recv): its metadata and payload.
    pub(crate) fn get(&self, i: usize) -> (Rx4, &[u8]) {
        let rx = self.meta[i];
        (rx, &self.bufs[i * RX_SLOT..i * RX_SLOT + rx.len])
    }
}

/// One datagram for [`send_pktinfo_batch`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct UdpOut<'a> {
    /// Destination address and port.
    pub(crate) dst: SocketAddrV4,
    /// Egress interface (0: the routes choose).
    pub(crate) ifindex: u32,
    /// Source address (unspecified: the kernel chooses).
    pub(crate) src: Ipv4Addr,
    /// UDP payload.
    pub(crate) payload: &'a [u8],
}

/// Datagrams one [`send_pktinfo_batch`] sends at most (one `sendmmsg`).
pub(crate) const TX_BATCH: usize = 64;

/// `sendmmsg(MSG_DONTWAIT)` of the first [`TX_BATCH`] of `msgs`, each with its own
/// `IP_PKTINFO`. Returns how many were sent, from the first (at least one); the error of the
/// first one when none was (the kernel stops at the first datagram that fails).
pub(crate) fn send_pktinfo_batch(fd: RawFd, msgs: &[UdpOut<'_>]) -> io::Result<usize> {
    let n = msgs.len().min(TX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: all-zero is a valid value for these plain C structs (null pointers).
    let mut to: [libc::sockaddr_in; TX_BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; TX_BATCH] = unsafe { zeroed() };
    let mut cbufs: [Cbuf; TX_BATCH] = [[0; 8]; TX_BATCH];
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; TX_BATCH] = unsafe { zeroed() };
    for (i, m) in msgs.iter().take(n).enumerate() {
        to[i] = to_sockaddr(m.dst);
        iovs[i] = libc::iovec {
            iov_base: m.payload.as_ptr().cast_mut().cast(),
            iov_len: m.payload.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&raw mut to[i]).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = &raw mut iovs[i];
        h.msg_iovlen = 1;
        write_pktinfo(h, &mut cbufs[i], m.ifindex, m.src);
    }
    // SAFETY: the first `n` headers point to live addresses, iovecs and control buffers on
    // this stack frame and to the payloads `msgs` borrows (sendmmsg only reads them).
    let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
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
    let mut to = to_sockaddr(dst);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    let mut cbuf: Cbuf = [0; 8];
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut to).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    write_pktinfo(&mut msg, &mut cbuf, ifindex, src);
    // SAFETY: every pointer in `msg` points to a live buffer of the size given; `iov` only
    // reads `payload` (sendmsg does not write through it).
    let n = unsafe { libc::sendmsg(fd, &raw const msg, libc::MSG_DONTWAIT) };
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
