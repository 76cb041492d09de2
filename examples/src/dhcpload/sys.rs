//! The system calls of the load generator that socket2 and std do not wrap: `recvmmsg` /
//! `sendmmsg` ([`RxBatch`], [`TxBatch`]), `ppoll` with a nanosecond timeout, the calling
//! thread's CPU time (`getrusage(RUSAGE_THREAD)`) and its timer slack (`prctl`).
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::Duration;

/// Datagrams one `recvmmsg` or `sendmmsg` carries at most.
pub(crate) const BATCH: usize = 64;

/// Bytes per receive slot: more than any DHCPv4 reply a server sends over Ethernet (576 by
/// default, 1500 at most); a longer datagram is reported truncated.
const RX_SLOT: usize = 2048;

/// Bytes per transmit slot: room for the generator's queries (about 270 bytes).
pub(crate) const TX_SLOT: usize = 512;

use crate::sys::{from_sockaddr, to_sockaddr};

/// Receive slots for `recvmmsg`, allocated once.
pub(crate) struct RxBatch {
    bufs: Box<[u8]>,
    names: Box<[libc::sockaddr_in]>,
    /// (length, truncated) of each datagram of the last [`recv`](Self::recv).
    lens: [(usize, bool); BATCH],
}

impl std::fmt::Debug for RxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch").finish_non_exhaustive()
    }
}

impl RxBatch {
    pub(crate) fn new() -> Self {
        Self {
            bufs: vec![0; BATCH * RX_SLOT].into_boxed_slice(),
            // SAFETY: all-zero is a valid sockaddr_in.
            names: vec![unsafe { zeroed::<libc::sockaddr_in>() }; BATCH].into_boxed_slice(),
            lens: [(0, false); BATCH],
        }
    }

    /// `recvmmsg(MSG_DONTWAIT)`: up to [`BATCH`] datagrams; `WouldBlock` when none is queued.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value for these plain C structs (null pointers).
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let base = self.bufs.as_mut_ptr();
        for (i, (iov, h)) in iovs.iter_mut().zip(hdrs.iter_mut()).enumerate() {
            // SAFETY: slot `i` lies inside `bufs` (BATCH × RX_SLOT bytes).
            iov.iov_base = unsafe { base.add(i * RX_SLOT) }.cast();
            iov.iov_len = RX_SLOT;
            let m = &mut h.msg_hdr;
            m.msg_name = (&raw mut self.names[i]).cast();
            m.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_iov = iov;
            m.msg_iovlen = 1;
        }
        // SAFETY: every header points to live buffers of the sizes given (slots and addresses
        // owned by `self`, iovecs on this stack frame), for BATCH headers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(BATCH);
        for (len, h) in self.lens.iter_mut().zip(&hdrs).take(n) {
            *len = (
                (h.msg_len as usize).min(RX_SLOT),
                h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            );
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`recv`](Self::recv): source, payload, whether truncated.
    pub(crate) fn get(&self, i: usize) -> (SocketAddrV4, &[u8], bool) {
        let (len, truncated) = self.lens[i];
        (
            from_sockaddr(&self.names[i]),
            &self.bufs[i * RX_SLOT..i * RX_SLOT + len],
            truncated,
        )
    }
}

/// Datagrams waiting for one `sendmmsg`, in slots allocated once.
pub(crate) struct TxBatch {
    bufs: Box<[u8]>,
    /// (destination, length) of each queued datagram.
    msgs: [(SocketAddrV4, usize); BATCH],
    len: usize,
}

impl std::fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxBatch")
            .field("queued", &self.len)
            .finish_non_exhaustive()
    }
}

impl TxBatch {
    pub(crate) fn new() -> Self {
        Self {
            bufs: vec![0; BATCH * TX_SLOT].into_boxed_slice(),
            msgs: [(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), 0); BATCH],
            len: 0,
        }
    }

    /// Free slots.
    pub(crate) fn room(&self) -> usize {
        BATCH - self.len
    }

    /// Queued datagrams.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues `payload` (at most [`TX_SLOT`] bytes) for `dst`; returns the slot's bytes for
    /// patching. The caller checks [`room`](Self::room) first.
    pub(crate) fn push(&mut self, dst: SocketAddrV4, payload: &[u8]) -> &mut [u8] {
        let i = self.len;
        let n = payload.len().min(TX_SLOT);
        self.msgs[i] = (dst, n);
        self.len += 1;
        let slot = &mut self.bufs[i * TX_SLOT..i * TX_SLOT + n];
        slot.copy_from_slice(&payload[..n]);
        slot
    }

    /// `sendmmsg(MSG_DONTWAIT)` of the queued datagrams; the ones sent leave the queue.
    /// Returns how many were sent; `WouldBlock` when the socket's buffer is full (the rest
    /// stay queued); any other error drops the first queued datagram (so that one bad
    /// destination cannot stall the rest) and is returned.
    pub(crate) fn flush(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.len;
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: all-zero is a valid value for these plain C structs (null pointers).
        let mut to: [libc::sockaddr_in; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let base = self.bufs.as_mut_ptr();
        for i in 0..n {
            let (dst, len) = self.msgs[i];
            to[i] = to_sockaddr(dst);
            // SAFETY: slot `i` lies inside `bufs` (BATCH × TX_SLOT bytes).
            iovs[i].iov_base = unsafe { base.add(i * TX_SLOT) }.cast();
            iovs[i].iov_len = len;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&raw mut to[i]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &raw mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: the first `n` headers point to live addresses and iovecs on this stack
        // frame and to slots of `bufs` (sendmmsg only reads them).
        let r =
            unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
        let sent = if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                self.consume(1);
            }
            return Err(e);
        } else {
            (r as usize).min(n)
        };
        self.consume(sent);
        Ok(sent)
    }

    /// Drops the first `k` queued datagrams, moving the rest to the front.
    fn consume(&mut self, k: usize) {
        let k = k.min(self.len);
        if k == 0 {
            return;
        }
        self.bufs.copy_within(k * TX_SLOT..self.len * TX_SLOT, 0);
        self.msgs.copy_within(k..self.len, 0);
        self.len -= k;
    }
}

/// `ppoll` on `fd` for input (and output when `output`) for at most `timeout`; returns
/// whether the socket is ready. An interrupted wait returns `Ok(false)`.
pub(crate) fn poll(fd: RawFd, output: bool, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN | if output { libc::POLLOUT } else { 0 },
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `pfd` and `ts` live for the call; one pollfd is passed; no signal mask.
    let r = unsafe { libc::ppoll(&raw mut pfd, 1, &raw const ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}

/// CPU time of the calling thread so far: (user, system).
pub(crate) fn thread_cpu() -> (Duration, Duration) {
    // SAFETY: all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { zeroed() };
    // SAFETY: `ru` lives for the call and is only written.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &raw mut ru) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let d = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0).min(999_999) * 1000,
        )
    };
    (d(ru.ru_utime), d(ru.ru_stime))
}

/// Sets the calling thread's timer slack (how late the kernel may end its sleeps), so that
/// the pacing sleeps of a few tens of microseconds are not stretched by the default 50 µs.
pub(crate) fn set_timer_slack(slack: Duration) {
    let ns = libc::c_ulong::try_from(slack.as_nanos())
        .unwrap_or(libc::c_ulong::MAX)
        .max(1);
    // SAFETY: PR_SET_TIMERSLACK takes an integer and touches no memory; a failure only
    // leaves the default slack.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0) };
}
