//! The ctnetlink event socket, non-blocking, for the event loop (`crate::ctnl::CtnlSocket`
//! is blocking; it serves the dumps, flushes and commits).

use std::io;

use ct_sync::ctnetlink::consts::{
    ENOBUFS, NETLINK_NETFILTER, NFNLGRP_CONNTRACK_DESTROY, NFNLGRP_CONNTRACK_NEW,
    NFNLGRP_CONNTRACK_UPDATE,
};
use netlink_sys::{Socket, SocketAddr};
use tokio::io::unix::AsyncFd;

use super::sys::register_readable;

/// The largest event datagram received whole: the kernel sends every event in a datagram of
/// its own, sized to the event (a few hundred bytes; helpers and labels stay well below this).
const RX_SLOT: usize = 8 * 1024;
/// Event datagrams received per system call (`recvmmsg`).
const RX_SLOTS: usize = 64;

/// What one read of the event socket gave.
#[derive(Debug)]
pub(super) enum Read {
    /// This many datagrams of netlink messages ([`EventSocket::datagram`]).
    Data(usize),
    /// Nothing waiting.
    Empty,
    /// The receive buffer overflowed: events were lost.
    Overrun,
}

/// Whether the reactor watches the event socket.
#[derive(Debug)]
enum Watch {
    /// Registered: each new event wakes the loop when it waits.
    On(AsyncFd<Socket>),
    /// Not registered ([`EventSocket::unwatch`]): events queue up without waking anyone.
    Off(Socket),
    /// Only while switching.
    Switching,
}

/// A non-blocking socket subscribed to the conntrack NEW, UPDATE and DESTROY groups.
#[derive(Debug)]
pub(super) struct EventSocket {
    fd: Watch,
    rx: super::sys::MmsgRx,
    /// The receive buffer size asked for (`NetlinkBufferSize`, grown on overruns).
    pub(super) bufsize: u32,
}

impl EventSocket {
    /// Opens the socket with a receive buffer of `bufsize` bytes; `reliable` sets
    /// `NETLINK_BROADCAST_SEND_ERROR` and `NETLINK_NO_ENOBUFS` (`NetlinkEventsReliable`).
    /// `bufsize` `None` keeps the kernel's default.
    pub(super) fn open(bufsize: Option<u32>, reliable: bool) -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_NETFILTER as isize)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        for g in [
            NFNLGRP_CONNTRACK_NEW,
            NFNLGRP_CONNTRACK_UPDATE,
            NFNLGRP_CONNTRACK_DESTROY,
        ] {
            sock.add_membership(g)?;
        }
        if reliable {
            sock.set_broadcast_error(true)?;
            sock.set_no_enobufs(true)?;
        }
        if let Some(b) = bufsize {
            super::sys::set_rcvbuf(&sock, b)?;
        }
        // Linux reports twice the size asked for.
        let bufsize = bufsize.unwrap_or_else(|| {
            let granted = socket2::SockRef::from(&sock)
                .recv_buffer_size()
                .unwrap_or(0)
                / 2;
            u32::try_from(granted).unwrap_or(u32::MAX)
        });
        sock.set_non_blocking(true)?;
        Ok(Self {
            fd: Watch::On(register_readable(sock).map_err(|(_, e)| e)?),
            rx: super::sys::MmsgRx::new(RX_SLOTS, RX_SLOT),
            bufsize,
        })
    }

    fn sock(&self) -> &Socket {
        match &self.fd {
            Watch::On(fd) => fd.get_ref(),
            Watch::Off(s) => s,
            Watch::Switching => unreachable!("the event socket is always put back"),
        }
    }

    /// Stops the reactor watching the socket (`EPOLL_CTL_DEL`), for a wait between the reads
    /// of a burst: while registered, every event the kernel queues wakes the thread
    /// (edge-triggered epoll signals each arrival), even when no task waits for it.
    pub(super) fn unwatch(&mut self) {
        self.fd = match std::mem::replace(&mut self.fd, Watch::Switching) {
            Watch::On(fd) => Watch::Off(fd.into_inner()),
            other => other,
        };
    }

    /// Has the reactor watch the socket again (`EPOLL_CTL_ADD`; events already queued make it
    /// readable at once).
    pub(super) fn watch(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.fd, Watch::Switching) {
            Watch::Off(s) => match register_readable(s) {
                Ok(fd) => self.fd = Watch::On(fd),
                Err((s, e)) => {
                    self.fd = Watch::Off(s);
                    return Err(e);
                }
            },
            other => self.fd = other,
        }
        Ok(())
    }

    /// Sets a new receive buffer size.
    pub(super) fn resize(&mut self, bufsize: u32) -> io::Result<()> {
        super::sys::set_rcvbuf(self.sock(), bufsize)?;
        self.bufsize = bufsize;
        Ok(())
    }

    /// Leaves (`false`) or joins again (`true`) the NEW and UPDATE groups. A commit leaves
    /// them: otherwise the kernel builds, for this socket, one event per conntrack the commit
    /// creates, inside the commit's own `send` (it has to, as long as anyone listens), and the
    /// daemon then reads them all back. DESTROY stays: a commit's replacements and other
    /// flows' ends are still heard.
    pub(super) fn set_new_update_groups(&self, joined: bool) -> io::Result<()> {
        for g in [NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE] {
            if joined {
                self.sock().add_membership(g)?;
            } else {
                self.sock().drop_membership(g)?;
            }
        }
        Ok(())
    }

    /// Waits until the socket is readable, and clears the readiness: read until
    /// [`Read::Empty`] afterwards (or come back without waiting). Watches the socket again
    /// first if it was not.
    pub(super) async fn readable(&mut self) -> io::Result<()> {
        self.watch()?;
        let Watch::On(fd) = &self.fd else {
            return Err(io::Error::other("event socket not registered"));
        };
        let mut g = fd.readable().await?;
        g.clear_ready();
        Ok(())
    }

    /// Reads up to 64 datagrams with one system call, without blocking; they stay readable
    /// with [`datagram`](Self::datagram) until the next read.
    pub(super) fn read(&mut self) -> io::Result<Read> {
        let sock = match &self.fd {
            Watch::On(fd) => fd.get_ref(),
            Watch::Off(s) => s,
            Watch::Switching => return Ok(Read::Empty),
        };
        match self.rx.recv(sock) {
            Ok(n) => Ok(Read::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Empty),
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => Ok(Read::Overrun),
            Err(e) => Err(e),
        }
    }

    /// Datagram `i` of the last [`read`](Self::read), and whether it was cut to 8 KB.
    pub(super) fn datagram(&self, i: usize) -> (&[u8], bool) {
        self.rx.get(i)
    }
}
