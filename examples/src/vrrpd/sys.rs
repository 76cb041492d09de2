//! The few system calls socket2 and tokio do not wrap safely: `IPV6_CHECKSUM`,
//! `IPV6_RECVPKTINFO`, `recvmsg` with its control messages (IPv6 hop limit and destination),
//! `sched_setscheduler` (keepalived's `vrrp_rt_priority`, through the shared `crate::sys`) and a
//! timerfd for deadlines finer than tokio's millisecond wheel.
//!
//! Why `recvmsg` rather than an AF_PACKET socket for the IPv6 hop limit: the kernel already
//! verifies the checksum (with `IPV6_CHECKSUM`) and filters by protocol; the hop limit and the
//! destination come as `IPV6_HOPLIMIT` / `IPV6_PKTINFO` control messages of the same datagram,
//! so nothing has to be matched across two sockets.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, RawFd};

pub(crate) use crate::sys::register;
use crate::sys::setsockopt_int;

/// `IPV6_CHECKSUM`: the kernel computes the checksum (with the IPv6 pseudo-header) at
/// `offset` on send and verifies it on receive.
pub(crate) fn set_ipv6_checksum(fd: RawFd, offset: libc::c_int) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, offset)
}

/// `IPV6_RECVPKTINFO` and `IPV6_RECVHOPLIMIT`: deliver the destination and the hop limit
/// with every datagram.
pub(crate) fn set_ipv6_recv_info(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
}

/// One datagram of a raw IPv6 socket with its metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rx6 {
    pub(crate) len: usize,
    pub(crate) src: Ipv6Addr,
    pub(crate) dst: Option<Ipv6Addr>,
    pub(crate) hop_limit: Option<u8>,
}

/// `recvmsg(MSG_DONTWAIT)` on a raw IPv6 socket with `IPV6_RECVPKTINFO` / `IPV6_RECVHOPLIMIT`.
pub(crate) fn recv_v6(fd: RawFd, buf: &mut [u8]) -> io::Result<Rx6> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut src: libc::sockaddr_in6 = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 32];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut src).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&cbuf);
    // SAFETY: every pointer in `msg` points to a live buffer of the size given.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Rx6 {
        len: n as usize,
        src: Ipv6Addr::from(src.sin6_addr.s6_addr),
        dst: None,
        hop_limit: None,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // `msg_controllen`; the data is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::IPPROTO_IPV6 {
                if h.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                    out.hop_limit = u8::try_from(v).ok();
                } else if h.cmsg_type == libc::IPV6_PKTINFO {
                    let p =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>());
                    out.dst = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                }
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok(out)
}

/// Puts the calling thread (the daemon's only runtime thread) under `SCHED_RR` with
/// `priority` (1..=99), keepalived's `vrrp_rt_priority`: adverts and timers keep their pace on
/// a busy machine.
pub(crate) fn set_realtime(priority: u8) -> io::Result<()> {
    crate::sys::set_scheduler(libc::SCHED_RR, libc::c_int::from(priority))
}

/// A `CLOCK_MONOTONIC` timerfd: the state machines' deadlines to the microsecond (tokio's
/// timer wheel rounds up to the next millisecond, which at 10 ms adverts is a tenth of an
/// interval). `Instant` is `CLOCK_MONOTONIC` on Linux, so relative arming is exact.
#[derive(Debug)]
pub(crate) struct TimerFd(std::os::fd::OwnedFd);

impl TimerFd {
    /// A disarmed, non-blocking timer.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with constant arguments; the returned fd is checked and owned.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Self(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    /// Arms the timer for `deadline` (at once if it has passed), or disarms it.
    pub(crate) fn set(&self, deadline: Option<std::time::Instant>) -> io::Result<()> {
        // SAFETY: all-zero is a valid `itimerspec` (a disarmed timer).
        let mut spec: libc::itimerspec = unsafe { zeroed() };
        if let Some(t) = deadline {
            let d = t.saturating_duration_since(std::time::Instant::now());
            // A zero it_value disarms: fire after 1 ns instead.
            let d = d.max(std::time::Duration::from_nanos(1));
            spec.it_value.tv_sec = libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX);
            spec.it_value.tv_nsec = libc::c_long::from(d.subsec_nanos() as i32);
        }
        // SAFETY: the fd is a timerfd we own; `spec` is initialised and outlives the call; the
        // old value is not asked for (null).
        let rc =
            unsafe { libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Consumes the expiry count so the fd stops being readable.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live 8-byte buffer; a would-block error is fine.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The uid and primary gid of user `name` (`getpwnam_r`, so NSS sources count too); `None`
/// when there is no such user.
pub(crate) fn user_ids(name: &str) -> io::Result<Option<(u32, u32)>> {
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::other("NUL in a user name"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: `pwd` is plain data filled by the call; `buf` outlives it and its length is
    // passed; `result` is null or points at `pwd`.
    unsafe {
        let mut pwd: libc::passwd = zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            c.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok((!result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid)))
    }
}

/// The gid of group `name` (`getgrnam_r`); `None` when there is no such group.
pub(crate) fn group_id(name: &str) -> io::Result<Option<u32>> {
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::other("NUL in a group name"))?;
    let mut buf = vec![0 as libc::c_char; 64 * 1024];
    // SAFETY: as in `user_ids`, with `group`.
    unsafe {
        let mut grp: libc::group = zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(
            c.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok((!result.is_null()).then_some(grp.gr_gid))
    }
}
