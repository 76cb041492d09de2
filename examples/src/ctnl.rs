//! Socket glue for `ct_sync::ctnetlink`: a blocking `NETLINK_NETFILTER` socket that dumps the
//! conntrack table, reads conntrack events, and commits conntracks in large batches.
//!
//! ```no_run
//! use examples::ctnl::{CtnlSocket, CtEvent};
//! use ct_sync::ctnetlink::{CommitConfig, DecodeOptions, consts::AF_UNSPEC};
//!
//! let mut events = CtnlSocket::open_events(true)?;
//! let mut sock = CtnlSocket::open()?;
//! let entries: Vec<ct_sync::wire::CtRepr> = Vec::new(); // e.g. from the external cache
//! let report = sock.commit(&entries, CommitConfig::default())?;
//! println!("created {} replaced {}", report.stats.created, report.stats.replaced);
//! sock.dump(AF_UNSPEC, DecodeOptions::default(), |m| println!("{:?}", m.ct))?;
//! while let Some(ev) = events.next_event(std::time::Duration::from_secs(1), DecodeOptions::default())? {
//!     match ev {
//!         CtEvent::Conntrack(m) if m.pid == sock.portid() => {} // our own commit: not re-sent
//!         CtEvent::Conntrack(m) => println!("{:?} {:?}", m.kind, m.ct),
//!         CtEvent::Overrun => println!("overrun, re-dump needed"),
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use ct_sync::ctnetlink::consts::{
    ENOBUFS, NETLINK_NETFILTER, NFNLGRP_CONNTRACK_DESTROY, NFNLGRP_CONNTRACK_NEW,
    NFNLGRP_CONNTRACK_UPDATE,
};
use ct_sync::ctnetlink::{
    self, CommitConfig, CommitEntry, CommitFailure, CommitPlanner, CommitStats, CtMessage,
    DecodeOptions, NlMessage,
};
use netlink_sys::{Socket, SocketAddr};

/// Receive buffer of a commit or dump socket: room for the answers of
/// [`CommitConfig::max_in_flight`] requests (about 1 KB of kernel accounting each).
pub const DEFAULT_RCVBUF: usize = 32 << 20;
/// Send buffer: a batch must fit (netlink sends a datagram whole).
pub const DEFAULT_SNDBUF: usize = 8 << 20;
/// The largest datagram the kernel sends us (dump batches are ≤ 32 KB; events ≤ 8 KB).
const RX_CAPACITY: usize = 64 * 1024;

/// What an event socket reads.
// Conntracks are the common case; boxing would allocate per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtEvent {
    /// A conntrack event (new, update or destroy).
    Conntrack(CtMessage),
    /// The socket's receive buffer overflowed (`ENOBUFS`): events were lost, the table must be
    /// dumped again (conntrackd schedules a resync).
    Overrun,
}

/// The outcome of [`CtnlSocket::commit`].
#[derive(Debug, Clone)]
pub struct CommitReport {
    /// Counters.
    pub stats: CommitStats,
    /// Entries not committed and why.
    pub failures: Vec<CommitFailure>,
    /// Answers per errno.
    pub errno_counts: Vec<(i32, u64)>,
    /// Wall time from the first send to the last answer.
    pub elapsed: Duration,
}

/// A blocking ctnetlink socket.
#[derive(Debug)]
pub struct CtnlSocket {
    sock: Socket,
    portid: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
    seq: u32,
    /// Conntrack events read while waiting for something else.
    pending: VecDeque<CtMessage>,
    /// The `SO_RCVTIMEO` in force (set only when it changes).
    timeout: Option<Option<Duration>>,
}

impl CtnlSocket {
    /// A socket for requests (commit, dump, flush), bound to no group, with
    /// [`DEFAULT_RCVBUF`] / [`DEFAULT_SNDBUF`] (forced past the sysctl limits when root) and
    /// `NETLINK_CAP_ACK` (error answers echo only the request's header).
    pub fn open() -> io::Result<Self> {
        let s = Self::bind(0)?;
        s.set_buffers(DEFAULT_RCVBUF, DEFAULT_SNDBUF)?;
        s.sock.set_cap_ack(true)?;
        Ok(s)
    }

    /// A socket subscribed to `NFNLGRP_CONNTRACK_NEW`, `_UPDATE` and `_DESTROY`, with a
    /// [`DEFAULT_RCVBUF`] receive buffer. `reliable` sets `NETLINK_BROADCAST_SEND_ERROR` and
    /// `NETLINK_NO_ENOBUFS` (conntrackd's `NetlinkEventsReliable`): the kernel then drops the
    /// conntrack rather than an event, and no overrun is reported.
    pub fn open_events(reliable: bool) -> io::Result<Self> {
        let s = Self::bind(0)?;
        for g in [
            NFNLGRP_CONNTRACK_NEW,
            NFNLGRP_CONNTRACK_UPDATE,
            NFNLGRP_CONNTRACK_DESTROY,
        ] {
            s.sock.add_membership(g)?;
        }
        s.set_buffers(DEFAULT_RCVBUF, 1 << 16)?;
        if reliable {
            s.sock.set_broadcast_error(true)?;
            s.sock.set_no_enobufs(true)?;
        }
        Ok(s)
    }

    /// Leaves the multicast `groups` (e.g. the NEW and UPDATE event groups).
    pub fn leave_groups(&self, groups: &[u32]) -> io::Result<()> {
        for &g in groups {
            self.sock.drop_membership(g)?;
        }
        Ok(())
    }

    fn bind(groups: u32) -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_NETFILTER as isize)?;
        sock.bind(&SocketAddr::new(0, groups))?;
        let mut addr = SocketAddr::new(0, 0);
        sock.get_address(&mut addr)?;
        Ok(Self {
            sock,
            portid: addr.port_number(),
            rx: Vec::with_capacity(RX_CAPACITY),
            tx: Vec::new(),
            seq: 1,
            pending: VecDeque::new(),
            timeout: None,
        })
    }

    /// The socket's netlink port id: the `nlmsg_pid` of events its requests cause.
    pub fn portid(&self) -> u32 {
        self.portid
    }

    /// Sets the receive and send buffers: `SO_RCVBUFFORCE` / `SO_SNDBUFFORCE` (root), else
    /// the plain options (capped by `net.core.rmem_max` / `wmem_max`).
    pub fn set_buffers(&self, rcv: usize, snd: usize) -> io::Result<()> {
        if sys::set_buf_force(&self.sock, rcv, snd).is_err() {
            let r = socket2::SockRef::from(&self.sock);
            r.set_recv_buffer_size(rcv)?;
            r.set_send_buffer_size(snd)?;
        }
        Ok(())
    }

    /// The receive buffer size the kernel granted (twice what was asked, as Linux counts).
    pub fn rcvbuf(&self) -> io::Result<usize> {
        socket2::SockRef::from(&self.sock).recv_buffer_size()
    }

    /// Sends one buffer of concatenated requests in one `send`.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        let n = self.sock.send(buf, 0)?;
        if n != buf.len() {
            return Err(io::Error::other(format!(
                "short netlink send: {n} of {}",
                buf.len()
            )));
        }
        Ok(())
    }

    /// Receives one datagram, waiting at most `timeout` (`None`: forever). `Ok(None)` on
    /// timeout; `ENOBUFS` is returned as an error of kind `Other` with raw os error ENOBUFS.
    pub fn recv(&mut self, timeout: Option<Duration>) -> io::Result<Option<&[u8]>> {
        if self.timeout != Some(timeout) {
            socket2::SockRef::from(&self.sock).set_read_timeout(timeout)?;
            self.timeout = Some(timeout);
        }
        self.rx.clear();
        self.rx.reserve(RX_CAPACITY);
        match self.sock.recv(&mut self.rx, 0) {
            Ok(_) => Ok(Some(&self.rx)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// Sends one request built by `build` (with `NLM_F_ACK`) and waits for its answer;
    /// returns the errno (0: success). Conntrack events read meanwhile are kept for
    /// [`next_event`](Self::next_event).
    pub fn request(&mut self, build: impl FnOnce(&mut Vec<u8>, u32)) -> io::Result<i32> {
        let seq = self.next_seq();
        let mut tx = std::mem::take(&mut self.tx);
        tx.clear();
        build(&mut tx, seq);
        let sent = self.send(&tx);
        self.tx = tx;
        sent?;
        loop {
            let Some(d) = self.recv(Some(Duration::from_secs(5)))? else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer from ctnetlink",
                ));
            };
            let mut answer = None;
            let mut events = Vec::new();
            for m in ctnetlink::messages(d, DecodeOptions::default()) {
                match m.map_err(io::Error::other)? {
                    NlMessage::Error { seq: s, errno } if s == seq => answer = Some(errno),
                    NlMessage::Conntrack(c) => events.push(c),
                    _ => {}
                }
            }
            self.pending.extend(events);
            if let Some(e) = answer {
                return Ok(e);
            }
        }
    }

    /// Flushes the table (`AF_UNSPEC`) or one family.
    pub fn flush(&mut self, family: u8) -> io::Result<()> {
        let e = self.request(|b, seq| {
            ctnetlink::write_flush(b, seq, family, true);
        })?;
        errno_result(e)
    }

    /// Dumps the table for `family` (`AF_INET`, `AF_INET6`, `AF_UNSPEC`), calling `f` for
    /// every conntrack. An interrupted dump (`NLM_F_DUMP_INTR`) or a malformed message is an
    /// error.
    pub fn dump(
        &mut self,
        family: u8,
        opts: DecodeOptions,
        mut f: impl FnMut(CtMessage),
    ) -> io::Result<()> {
        let seq = self.next_seq();
        let mut tx = Vec::new();
        ctnetlink::write_dump(&mut tx, seq, family);
        self.send(&tx)?;
        loop {
            let Some(d) = self.recv(Some(Duration::from_secs(5)))? else {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "dump stalled"));
            };
            for raw in ctnetlink::NlMsgIter::new(d) {
                let raw = raw.map_err(io::Error::other)?;
                if raw.flags & ct_sync::ctnetlink::consts::NLM_F_DUMP_INTR != 0 {
                    return Err(io::Error::other("dump interrupted (NLM_F_DUMP_INTR)"));
                }
                match ctnetlink::decode(&raw, &opts).map_err(io::Error::other)? {
                    NlMessage::Done { seq: s } if s == seq => return Ok(()),
                    NlMessage::Error { seq: s, errno } if s == seq => {
                        return errno_result(errno);
                    }
                    NlMessage::Conntrack(m) if m.seq == seq => f(m),
                    _ => {}
                }
            }
        }
    }

    /// The next conntrack event, waiting at most `timeout`; `Ok(None)` on timeout. An
    /// overflowing receive buffer yields [`CtEvent::Overrun`] once.
    pub fn next_event(
        &mut self,
        timeout: Duration,
        opts: DecodeOptions,
    ) -> io::Result<Option<CtEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(Some(CtEvent::Conntrack(m)));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let d = match self.recv(Some(left)) {
                Ok(Some(d)) => d,
                Ok(None) => return Ok(None),
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    return Ok(Some(CtEvent::Overrun));
                }
                Err(e) => return Err(e),
            };
            let mut got = Vec::new();
            for m in ctnetlink::messages(d, opts) {
                if let NlMessage::Conntrack(m) = m.map_err(io::Error::other)? {
                    got.push(m);
                }
            }
            self.pending.extend(got);
        }
    }

    /// Commits `entries` with a [`CommitPlanner`]: batches of up to
    /// [`CommitConfig::batch_bytes`] per `send`, answers read after each send until the
    /// planner can send again. `cfg.first_seq` is replaced by this socket's sequence counter.
    pub fn commit<E: CommitEntry>(
        &mut self,
        entries: &[E],
        cfg: CommitConfig,
    ) -> io::Result<CommitReport> {
        let cfg = CommitConfig {
            first_seq: self.seq,
            ..cfg
        };
        let start = Instant::now();
        let mut planner = CommitPlanner::new(entries, cfg);
        let mut tx = std::mem::take(&mut self.tx);
        tx.reserve(cfg.batch_bytes + 4096);
        let result = (|| {
            while !planner.is_done() {
                tx.clear();
                if planner.poll_transmit(&mut tx) > 0 {
                    self.send(&tx)?;
                }
                // The kernel handled the whole batch inside `send`: its answers are queued.
                // Read until the planner may send again (or is done).
                loop {
                    let block = planner.in_flight() > 0
                        && (planner.in_flight() >= cfg.max_in_flight
                            || cfg.ack == ct_sync::ctnetlink::AckMode::ErrorsOnly);
                    let timeout = if block {
                        Some(Duration::from_secs(5))
                    } else {
                        Some(Duration::from_micros(1))
                    };
                    let d = match self.recv(timeout) {
                        Ok(Some(d)) => d,
                        Ok(None) if block => {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "commit: no answer from ctnetlink",
                            ));
                        }
                        Ok(None) => break,
                        Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                            planner.handle_overrun();
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    planner.handle_datagram(d).map_err(io::Error::other)?;
                    if planner.in_flight() == 0 {
                        break;
                    }
                }
            }
            Ok(())
        })();
        self.tx = tx;
        self.seq = self
            .seq
            .wrapping_add(u32::try_from(planner.stats().requests).unwrap_or(u32::MAX));
        result?;
        Ok(CommitReport {
            stats: planner.stats(),
            failures: planner.failures().to_vec(),
            errno_counts: planner.errno_counts().to_vec(),
            elapsed: start.elapsed(),
        })
    }
}

fn errno_result(errno: i32) -> io::Result<()> {
    if errno == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(errno))
    }
}

/// CPU time (user + system) of this process so far (`getrusage(RUSAGE_SELF)`).
pub fn process_cpu_time() -> Duration {
    sys::cpu_time()
}

/// The system calls neither std nor netlink-sys / socket2 wrap.
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    fn setsockopt_int(fd: &impl AsRawFd, opt: libc::c_int, val: usize) -> io::Result<()> {
        let v = libc::c_int::try_from(val).unwrap_or(libc::c_int::MAX);
        // SAFETY: `v` lives for the call and its size is passed; the fd is open (borrowed).
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const v).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `SO_RCVBUFFORCE` and `SO_SNDBUFFORCE` (need CAP_NET_ADMIN).
    pub(super) fn set_buf_force(fd: &impl AsRawFd, rcv: usize, snd: usize) -> io::Result<()> {
        setsockopt_int(fd, libc::SO_RCVBUFFORCE, rcv)?;
        setsockopt_int(fd, libc::SO_SNDBUFFORCE, snd)
    }

    /// utime + stime of the process.
    pub(super) fn cpu_time() -> Duration {
        // SAFETY: an all-zero rusage is a valid value; getrusage writes into the struct we own.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage for the whole call.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) };
        if rc != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}
