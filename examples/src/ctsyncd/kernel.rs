//! The ctnetlink event socket, non-blocking, for the event loop (`crate::ctnl::CtnlSocket`
//! is blocking; it serves the dumps, flushes and commits).

use std::io;

use ct_sync::ctnetlink::consts::{
    ENOBUFS, NETLINK_NETFILTER, NFNLGRP_CONNTRACK_DESTROY, NFNLGRP_CONNTRACK_NEW,
    NFNLGRP_CONNTRACK_UPDATE,
};
use netlink_sys::{Socket, SocketAddr};
use tokio::io::unix::AsyncFd;

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

/// A non-blocking socket subscribed to the conntrack NEW, UPDATE and DESTROY groups.
#[derive(Debug)]
pub(super) struct EventSocket {
    fd: AsyncFd<Socket>,
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
            fd: super::sys::register(sock)?,
            rx: super::sys::MmsgRx::new(RX_SLOTS, RX_SLOT),
            bufsize,
        })
    }

    /// Sets a new receive buffer size.
    pub(super) fn resize(&mut self, bufsize: u32) -> io::Result<()> {
        super::sys::set_rcvbuf(self.fd.get_ref(), bufsize)?;
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
                self.fd.get_ref().add_membership(g)?;
            } else {
                self.fd.get_ref().drop_membership(g)?;
            }
        }
        Ok(())
    }

    /// Waits until the socket is readable, and clears the readiness: read until
    /// [`Read::Empty`] afterwards (or come back without waiting).
    pub(super) async fn readable(&self) -> io::Result<()> {
        let mut g = self.fd.readable().await?;
        g.clear_ready();
        Ok(())
    }

    /// Reads up to 64 datagrams with one system call, without blocking; they stay readable
    /// with [`datagram`](Self::datagram) until the next read.
    pub(super) fn read(&mut self) -> io::Result<Read> {
        match self.rx.recv(self.fd.get_ref()) {
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
