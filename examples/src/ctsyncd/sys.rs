//! The few system calls std, tokio and socket2 do not wrap: local time for log lines,
//! `SO_NO_CHECK` (conntrackd's `Checksum off`) and the scheduling policy (`Scheduler`).

#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// The local time as C's `ctime` writes it, without the newline ("Thu Jan  1 00:00:00 1970").
pub(super) fn ctime_now() -> String {
    let t: libc::time_t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| libc::time_t::try_from(d.as_secs()).unwrap_or(0));
    // SAFETY: an all-zero `tm` is a valid value; localtime_r writes into the struct we own and
    // reads only `t`, which lives for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the whole call.
    if unsafe { libc::localtime_r(&raw const t, &raw mut tm) }.is_null() {
        return t.to_string();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = usize::try_from(tm.tm_wday).ok().and_then(|d| DAYS.get(d));
    let mon = usize::try_from(tm.tm_mon).ok().and_then(|m| MONTHS.get(m));
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        day.unwrap_or(&"???"),
        mon.unwrap_or(&"???"),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    )
}

fn setsockopt_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    crate::sys::setsockopt_int(fd.as_raw_fd(), level, opt, val)
}

/// `SO_NO_CHECK`: `true` turns the UDP checksum off (conntrackd's `Checksum off`).
pub(super) fn set_no_check(fd: &impl AsRawFd, no_check: bool) -> io::Result<()> {
    setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_NO_CHECK,
        libc::c_int::from(no_check),
    )
}

/// `SO_RCVBUFFORCE` (root), else `SO_RCVBUF`.
pub(super) fn set_rcvbuf(fd: &impl AsRawFd, bytes: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
        .or_else(|_| setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v))
}

/// `SO_SNDBUFFORCE` (root), else `SO_SNDBUF`.
pub(super) fn set_sndbuf(fd: &impl AsRawFd, bytes: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v)
        .or_else(|_| setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v))
}

pub(super) use crate::sys::{max_priority, register_readable, set_scheduler};

/// Extra bytes between two `recvmmsg` slots: 17 cache lines, so that 64 consecutive slots
/// start in 64 different cache sets.
const SLOT_SKEW: usize = 17 * 64;

/// Buffers for `recvmmsg`: `slots` datagrams of at most `slot` bytes each, received with one
/// system call. The buffers are allocated once and reused by every call.
///
/// The slots are [`SLOT_SKEW`] bytes further apart than their size: at a power-of-two
/// stride (8 or 64 KB) the start of every slot falls in the same CPU cache sets, and reading
/// the datagrams a call just received missed the cache at each slot.
#[derive(Debug)]
pub(super) struct MmsgRx {
    buf: Vec<u8>,
    slot: usize,
    /// Distance between the starts of two slots.
    stride: usize,
    slots: usize,
    /// The lengths of the datagrams the last call received (bytes of each slot).
    lens: Vec<usize>,
    /// Which datagrams of the last call were cut to the slot size (`MSG_TRUNC`).
    truncated: Vec<bool>,
}

impl MmsgRx {
    /// Room for `slots` datagrams of `slot` bytes.
    pub(super) fn new(slots: usize, slot: usize) -> Self {
        let slots = slots.max(1);
        let stride = slot + SLOT_SKEW;
        Self {
            buf: vec![0; slots * stride],
            slot,
            stride,
            slots,
            lens: Vec::with_capacity(slots.max(1)),
            truncated: Vec::with_capacity(slots.max(1)),
        }
    }

    /// How many datagrams one call receives at most.
    pub(super) fn slots(&self) -> usize {
        self.slots
    }

    /// Receives up to [`slots`](Self::slots) datagrams without blocking (`MSG_DONTWAIT`);
    /// returns how many. `WouldBlock` when none waits; a socket error (`ENOBUFS` on a netlink
    /// socket that overran) is returned once nothing was received before it.
    pub(super) fn recv(&mut self, fd: &impl AsRawFd) -> io::Result<usize> {
        let n = self.slots();
        let slot = self.slot;
        let mut iov: Vec<libc::iovec> = self
            .buf
            .chunks_exact_mut(self.stride)
            .map(|c| libc::iovec {
                iov_base: c.as_mut_ptr().cast(),
                iov_len: slot,
            })
            .collect();
        // SAFETY: an all-zero `mmsghdr` is valid (null name, no control data).
        let mut hdrs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at one iovec of `iov`, each into its own slot of
        // `self.buf`; all of them outlive the call, which writes at most `iov_len` bytes per
        // slot and the headers' `msg_len` / `msg_flags`.
        let rc = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                u32::try_from(n).unwrap_or(u32::MAX),
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = usize::try_from(rc).unwrap_or(0);
        self.lens.clear();
        self.truncated.clear();
        for h in &hdrs[..got] {
            self.lens.push((h.msg_len as usize).min(slot));
            self.truncated
                .push(h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0);
        }
        Ok(got)
    }

    /// Datagram `i` of the last call, and whether it was truncated.
    pub(super) fn get(&self, i: usize) -> (&[u8], bool) {
        let at = i * self.stride;
        (&self.buf[at..at + self.lens[i]], self.truncated[i])
    }
}

/// `sendmmsg`: sends `bufs` as datagrams to `dest` (`None`: the connected peer) with one
/// system call, without blocking; returns how many the socket took (`WouldBlock` if none).
pub(super) fn sendmmsg(
    fd: &impl AsRawFd,
    dest: Option<&socket2::SockAddr>,
    bufs: &[&[u8]],
) -> io::Result<usize> {
    if bufs.is_empty() {
        return Ok(0);
    }
    let mut iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr().cast_mut().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: an all-zero `mmsghdr` is valid (null name, no control data).
    let mut hdrs: Vec<libc::mmsghdr> = (0..bufs.len())
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
        if let Some(d) = dest {
            h.msg_hdr.msg_name = d.as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = d.len();
        }
    }
    // SAFETY: the headers point at `iov` (each at one caller buffer, only read by the call)
    // and at `dest`; all outlive the call, which writes only `msg_len` in the headers.
    let rc = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            u32::try_from(hdrs.len()).unwrap_or(u32::MAX),
            libc::MSG_DONTWAIT,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(usize::try_from(rc).unwrap_or(0))
    }
}
