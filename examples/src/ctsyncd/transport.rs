//! The dedicated link: conntrackd's UDP, multicast and TCP channels.
//!
//! * **UDP**: a server socket bound to `IPv4_address:Port` (or `IPv6_address`) receives; a
//!   client socket on an ephemeral port of the same address sends to
//!   `IPv4_Destination_Address:Port`. `SndSocketBuffer`, `RcvSocketBuffer`, `Checksum`.
//! * **Multicast**: the server socket is bound to the group and port (`IPv4_address`,
//!   `Group`; 1.4.9's binding, which 1.4.7 peers do not notice) and joins the group on
//!   `IPv4_interface`; the client socket sends to the group with `IP_MULTICAST_LOOP` off and
//!   `IP_MULTICAST_IF` set to `IPv4_interface`, TTL 1.
//! * **TCP**: a listener on `IPv4_address:Port` accepts the peer's connection (and receives
//!   on it); a client connection to `IPv4_Destination_Address:Port` sends. Messages are
//!   reassembled across reads by their `len` field. Unlike conntrackd (whose error queue
//!   drops the oldest buffer when full), queued data is never dropped: the send queue is
//!   unbounded and accounted, and written as the socket allows; while the client connection
//!   is down it is retried every second and data waits.
//!
//! Datagram sends that would block wait in a short queue (never dropped locally either).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ct_sync::config::{Channel as ChannelConf, Transport};
use ct_sync::control::{ChannelCounters, ChannelKind, ChannelReport};
use ct_sync::wire::{ParseError, split};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::{Level, log};

/// Datagrams waiting for a blocked socket before the daemon stops pulling from the sync node.
const DGRAM_QUEUE: usize = 64;
/// Bytes read per stream read.
const STREAM_READ: usize = 64 * 1024;
/// Largest datagram received.
const DGRAM_MAX: usize = 65_536;
/// Datagrams received per system call (`recvmmsg`).
const RECV_BATCH: usize = 16;
/// Datagrams sent per system call (`sendmmsg`) at most.
const SEND_BATCH: usize = 64;
/// Delay between TCP connection attempts.
const RECONNECT: Duration = Duration::from_secs(1);

/// The receiving socket of a datagram transport, watched by the reactor or not.
#[derive(Debug)]
enum Rx {
    /// Registered: a datagram arriving wakes the loop.
    On(UdpSocket),
    /// Not registered ([`Channel::unwatch_rx`]): datagrams queue up without waking anyone.
    Off(std::net::UdpSocket),
    /// Only while switching.
    Switching,
}

/// The sockets of one transport.
#[derive(Debug)]
enum Sockets {
    /// UDP or multicast.
    Dgram {
        rx: Rx,
        tx: UdpSocket,
        dest: Box<SockAddr>,
        /// `recvmmsg` buffers.
        mm: Box<super::sys::MmsgRx>,
    },
    /// TCP.
    Stream(Box<StreamSockets>),
}

#[derive(Debug)]
struct StreamSockets {
    listener: TcpListener,
    /// The connection the peer made to us: what we receive on.
    server: Option<TcpStream>,
    /// Bytes of an incomplete message read from `server`.
    partial: Vec<u8>,
    /// Our connection to the peer: what we send on.
    client: Option<TcpStream>,
    /// Connections made by the connector task.
    connected: mpsc::Receiver<TcpStream>,
    /// Asks the connector task for a new connection.
    reconnect: mpsc::Sender<()>,
    /// Bytes of the queue head already written.
    head_written: usize,
}

/// Something the channel's sockets became ready for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ready {
    /// Data to read.
    Read,
    /// Room to write.
    Write,
    /// A TCP connection came up (accepted or connected).
    Connection,
}

/// The dedicated link.
#[derive(Debug)]
pub(super) struct Channel {
    socks: Sockets,
    kind: Transport,
    ifname: String,
    /// Datagrams (or stream chunks) waiting for the socket.
    out: VecDeque<Vec<u8>>,
    /// Bytes in `out`.
    out_bytes: usize,
    /// Largest `out_bytes` seen.
    pub(super) out_bytes_peak: usize,
    counters: ChannelCounters,
}

fn local_any(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

fn udp_socket(v6: bool) -> io::Result<Socket> {
    let dom = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(dom, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn tune(s: &Socket, c: &ChannelConf) -> io::Result<()> {
    if let Some(b) = c.snd_buffer {
        super::sys::set_sndbuf(s, b)?;
    }
    if let Some(b) = c.rcv_buffer {
        super::sys::set_rcvbuf(s, b)?;
    }
    if !c.checksum {
        super::sys::set_no_check(s, true)?;
    }
    Ok(())
}

fn missing(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} is required"))
}

impl Channel {
    /// Opens the sockets of channel `c` (inside the tokio runtime).
    pub(super) fn open(c: &ChannelConf) -> io::Result<Self> {
        let ifname = c.interface.clone().unwrap_or_default();
        let socks = match c.transport {
            Transport::Udp => {
                let local = c.address.ok_or_else(|| missing("UDP: IPv4_address"))?;
                let peer = c
                    .destination
                    .ok_or_else(|| missing("UDP: IPv4_Destination_Address"))?;
                let rx = udp_socket(local.is_ipv6())?;
                rx.set_reuse_address(true)?;
                tune(&rx, c)?;
                rx.bind(&SockAddr::from(SocketAddr::new(local, c.port)))?;
                let tx = udp_socket(local.is_ipv6())?;
                tune(&tx, c)?;
                tx.bind(&SockAddr::from(SocketAddr::new(local, 0)))?;
                Sockets::Dgram {
                    rx: Rx::On(UdpSocket::from_std(rx.into())?),
                    tx: UdpSocket::from_std(tx.into())?,
                    dest: Box::new(SockAddr::from(SocketAddr::new(peer, c.port))),
                    mm: Box::new(super::sys::MmsgRx::new(RECV_BATCH, DGRAM_MAX)),
                }
            }
            Transport::Multicast => {
                let group = c
                    .address
                    .ok_or_else(|| missing("Multicast: IPv4_address"))?;
                let rx = udp_socket(group.is_ipv6())?;
                rx.set_reuse_address(true)?;
                tune(&rx, c)?;
                rx.bind(&SockAddr::from(SocketAddr::new(group, c.port)))?;
                let tx = udp_socket(group.is_ipv6())?;
                tune(&tx, c)?;
                match (group, c.interface_addr) {
                    (IpAddr::V4(g), ifa) => {
                        let ifa = match ifa {
                            Some(IpAddr::V4(a)) => a,
                            _ => Ipv4Addr::UNSPECIFIED,
                        };
                        rx.join_multicast_v4(&g, &ifa)?;
                        tx.set_multicast_loop_v4(false)?;
                        tx.set_multicast_if_v4(&ifa)?;
                        tx.set_multicast_ttl_v4(1)?;
                        tx.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(ifa), 0)))?;
                    }
                    (IpAddr::V6(g), _) => {
                        let idx = c
                            .interface
                            .as_deref()
                            .map(ifindex)
                            .transpose()?
                            .unwrap_or(0);
                        rx.join_multicast_v6(&g, idx)?;
                        tx.set_multicast_loop_v6(false)?;
                        tx.set_multicast_if_v6(idx)?;
                        tx.bind(&SockAddr::from(SocketAddr::new(local_any(true), 0)))?;
                    }
                }
                Sockets::Dgram {
                    rx: Rx::On(UdpSocket::from_std(rx.into())?),
                    tx: UdpSocket::from_std(tx.into())?,
                    dest: Box::new(SockAddr::from(SocketAddr::new(group, c.port))),
                    mm: Box::new(super::sys::MmsgRx::new(RECV_BATCH, DGRAM_MAX)),
                }
            }
            Transport::Tcp => {
                let local = c.address.ok_or_else(|| missing("TCP: IPv4_address"))?;
                let peer = c
                    .destination
                    .ok_or_else(|| missing("TCP: IPv4_Destination_Address"))?;
                let dom = if local.is_ipv6() {
                    Domain::IPV6
                } else {
                    Domain::IPV4
                };
                let l = Socket::new(dom, Type::STREAM, Some(Protocol::TCP))?;
                l.set_reuse_address(true)?;
                l.set_nonblocking(true)?;
                tune(&l, c)?;
                l.bind(&SockAddr::from(SocketAddr::new(local, c.port)))?;
                l.listen(8)?;
                let (conn_tx, conn_rx) = mpsc::channel(1);
                let (again_tx, again_rx) = mpsc::channel(1);
                tokio::spawn(connector(
                    SocketAddr::new(local, 0),
                    SocketAddr::new(peer, c.port),
                    c.clone(),
                    conn_tx,
                    again_rx,
                ));
                Sockets::Stream(Box::new(StreamSockets {
                    listener: TcpListener::from_std(l.into())?,
                    server: None,
                    partial: Vec::new(),
                    client: None,
                    connected: conn_rx,
                    reconnect: again_tx,
                    head_written: 0,
                }))
            }
        };
        Ok(Self {
            socks,
            kind: c.transport,
            ifname,
            out: VecDeque::new(),
            out_bytes: 0,
            out_bytes_peak: 0,
            counters: ChannelCounters::default(),
        })
    }

    /// Whether the daemon may pull more datagrams from the sync node now. A stream takes
    /// everything (its queue is unbounded); datagram sockets take a few while blocked.
    pub(super) fn wants_more(&self) -> bool {
        match self.socks {
            Sockets::Dgram { .. } => self.out.len() < DGRAM_QUEUE,
            Sockets::Stream(_) => true,
        }
    }

    /// Datagrams (or stream chunks) waiting to be written.
    pub(super) fn queued(&self) -> usize {
        self.out.len()
    }

    /// Queues one datagram built by the sync node.
    pub(super) fn push(&mut self, d: Vec<u8>) {
        self.out_bytes += d.len();
        self.out_bytes_peak = self.out_bytes_peak.max(self.out_bytes);
        self.out.push_back(d);
    }

    /// Writes what the sockets take now; every datagram sent whole goes to `spent` (for the
    /// sync node to reuse its buffer).
    pub(super) fn flush(&mut self, mut spent: impl FnMut(Vec<u8>)) {
        match &mut self.socks {
            Sockets::Dgram { tx, dest, .. } => {
                // Everything queued, up to SEND_BATCH datagrams per system call.
                while !self.out.is_empty() {
                    let k = self.out.len().min(SEND_BATCH);
                    let r = {
                        let mut bufs: [&[u8]; SEND_BATCH] = [&[]; SEND_BATCH];
                        for (b, d) in bufs.iter_mut().zip(self.out.iter()) {
                            *b = d;
                        }
                        let bufs = &bufs[..k];
                        tx.try_io(Interest::WRITABLE, || {
                            super::sys::sendmmsg(tx, Some(&**dest), bufs)
                        })
                    };
                    let sent = match r {
                        Ok(n) => n.max(1).min(k),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => {
                            // conntrackd counts the error and the datagram is gone; FTFW
                            // recovers it with a NACK.
                            self.counters.errors_send += 1;
                            if self.counters.errors_send == 1 {
                                log!(Level::Error, "can't send to the dedicated link: {e}");
                            }
                            if let Some(d) = self.out.pop_front() {
                                self.out_bytes -= d.len();
                            }
                            continue;
                        }
                    };
                    for _ in 0..sent {
                        if let Some(d) = self.out.pop_front() {
                            self.out_bytes -= d.len();
                            self.counters.bytes_sent += d.len() as u64;
                            self.counters.packets_sent += 1;
                            spent(d);
                        }
                    }
                }
            }
            Sockets::Stream(s) => {
                while let Some(d) = self.out.front() {
                    let Some(c) = &s.client else { return };
                    match c.try_write(&d[s.head_written..]) {
                        Ok(n) => {
                            self.counters.bytes_sent += n as u64;
                            s.head_written += n;
                            if s.head_written == d.len() {
                                self.counters.packets_sent += 1;
                                s.head_written = 0;
                                self.out_bytes -= d.len();
                                if let Some(d) = self.out.pop_front() {
                                    spent(d);
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => {
                            self.counters.errors_send += 1;
                            log!(Level::Error, "TCP client connection lost: {e}");
                            // The unwritten rest of the head is resent whole on the next
                            // connection: the peer drops a message cut by the old one.
                            s.head_written = 0;
                            s.client = None;
                            let _ = s.reconnect.try_send(());
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Waits until a socket is ready. Cancel safe.
    pub(super) async fn ready(&mut self) -> io::Result<Ready> {
        let has_out = !self.out.is_empty();
        self.watch_rx()?;
        match &mut self.socks {
            Sockets::Dgram { rx, tx, .. } => {
                let Rx::On(rx) = rx else {
                    // Lost when it could not leave the reactor (logged then): nothing to
                    // wait for any more, and no reason to spin.
                    return std::future::pending().await;
                };
                tokio::select! {
                    r = rx.readable() => r.map(|()| Ready::Read),
                    r = tx.writable(), if has_out => r.map(|()| Ready::Write),
                }
            }
            Sockets::Stream(s) => {
                let StreamSockets {
                    listener,
                    server,
                    partial,
                    client,
                    connected,
                    ..
                } = &mut **s;
                tokio::select! {
                    r = listener.accept() => {
                        let (stream, peer) = r?;
                        log!(Level::Notice, "TCP connection accepted from {peer}");
                        let _ = stream.set_nodelay(true);
                        *server = Some(stream);
                        partial.clear();
                        Ok(Ready::Connection)
                    }
                    Some(stream) = connected.recv() => {
                        *client = Some(stream);
                        Ok(Ready::Connection)
                    }
                    r = async { server.as_ref().expect("guarded").readable().await }, if server.is_some() => {
                        r.map(|()| Ready::Read)
                    }
                    r = async { client.as_ref().expect("guarded").writable().await }, if client.is_some() && has_out => {
                        r.map(|()| Ready::Write)
                    }
                }
            }
        }
    }

    /// Reads what is waiting (at most `limit` reads) and hands each datagram, or each run of
    /// complete stream messages, to `f`. Returns whether more may be waiting.
    pub(super) fn receive(&mut self, limit: u32, mut f: impl FnMut(&[u8])) -> bool {
        for _ in 0..limit.max(1) {
            match &mut self.socks {
                Sockets::Dgram { rx, mm, .. } => {
                    let got = match rx {
                        Rx::On(rx) => rx.try_io(Interest::READABLE, || mm.recv(rx)),
                        Rx::Off(rx) => mm.recv(rx),
                        Rx::Switching => Ok(0),
                    };
                    match got {
                        Ok(n) => {
                            for i in 0..n {
                                let (d, truncated) = mm.get(i);
                                self.counters.bytes_recv += d.len() as u64;
                                self.counters.packets_recv += 1;
                                if truncated {
                                    self.counters.errors_recv += 1;
                                } else {
                                    f(d);
                                }
                            }
                            if n < mm.slots() {
                                return false;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                        Err(_) => {
                            self.counters.errors_recv += 1;
                            return false;
                        }
                    }
                }
                Sockets::Stream(s) => {
                    let Some(conn) = &s.server else { return false };
                    let have = s.partial.len();
                    s.partial.resize(have + STREAM_READ, 0);
                    match conn.try_read(&mut s.partial[have..]) {
                        Ok(0) => {
                            s.partial.clear();
                            log!(Level::Notice, "TCP server connection closed by the peer");
                            s.server = None;
                            return false;
                        }
                        Ok(n) => {
                            s.partial.truncate(have + n);
                            self.counters.bytes_recv += n as u64;
                            self.counters.packets_recv += 1;
                            let (complete, broken) = complete_prefix(&s.partial);
                            if complete > 0 {
                                f(&s.partial[..complete]);
                            }
                            if broken {
                                // A length that cannot be right: the stream lost its framing.
                                self.counters.errors_recv += 1;
                                log!(Level::Error, "malformed TCP stream, connection reset");
                                s.partial.clear();
                                s.server = None;
                                return false;
                            }
                            s.partial.drain(..complete);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            s.partial.truncate(have);
                            return false;
                        }
                        Err(_) => {
                            self.counters.errors_recv += 1;
                            s.partial.clear();
                            s.server = None;
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    /// Whether this is a datagram transport (UDP or multicast).
    pub(super) fn is_dgram(&self) -> bool {
        matches!(self.socks, Sockets::Dgram { .. })
    }

    /// Takes a datagram transport's receiving socket out of the reactor's epoll set, for a
    /// wait between the reads of a burst ([`receive`](Self::receive) still reads it;
    /// [`ready`](Self::ready) puts it back). Registered, every datagram that arrives would
    /// wake the thread, even when no task waits for it.
    pub(super) fn unwatch_rx(&mut self) {
        if let Sockets::Dgram { rx, .. } = &mut self.socks {
            *rx = match std::mem::replace(rx, Rx::Switching) {
                Rx::On(s) => match s.into_std() {
                    Ok(s) => Rx::Off(s),
                    Err(e) => {
                        log!(Level::Error, "dedicated link: receive socket lost: {e}");
                        Rx::Switching
                    }
                },
                other => other,
            };
        }
    }

    /// Puts the receiving socket back in the reactor's epoll set (datagrams already queued
    /// make it readable at once).
    fn watch_rx(&mut self) -> io::Result<()> {
        if let Sockets::Dgram { rx, .. } = &mut self.socks
            && let Rx::Off(_) = rx
            && let Rx::Off(s) = std::mem::replace(rx, Rx::Switching)
        {
            *rx = Rx::On(UdpSocket::from_std(s)?);
        }
        Ok(())
    }

    /// The link as `-s` and `-s network` show it.
    pub(super) fn report(&self) -> ChannelReport {
        ChannelReport {
            kind: self.kind(),
            ifname: self.ifname.clone(),
            counters: self.counters,
        }
    }

    /// The transport as the stats name it.
    pub(super) fn kind(&self) -> ChannelKind {
        match (&self.socks, self.kind) {
            (Sockets::Stream(s), _) => ChannelKind::Tcp {
                server_connected: s.server.is_some(),
                client_connected: s.client.is_some(),
            },
            (_, Transport::Multicast) => ChannelKind::Multicast,
            _ => ChannelKind::Udp,
        }
    }

    /// The interface name (`Interface`).
    pub(super) fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The counters.
    pub(super) fn counters(&self) -> ChannelCounters {
        self.counters
    }

    /// Bytes waiting to be written.
    pub(super) fn queued_bytes(&self) -> usize {
        self.out_bytes
    }
}

/// The length of the complete messages at the start of `buf`, and whether the walk stopped
/// on something other than an incomplete last message.
fn complete_prefix(buf: &[u8]) -> (usize, bool) {
    let mut it = split(buf);
    let mut done = 0;
    while let Some(m) = it.next() {
        match m {
            Ok(_) => done = it.offset(),
            Err(ParseError::Truncated { .. }) => return (done, false),
            Err(_) => return (done, true),
        }
    }
    (done, false)
}

/// Connects to the peer (again after every request on `again`), retrying every second.
async fn connector(
    local: SocketAddr,
    peer: SocketAddr,
    conf: ChannelConf,
    out: mpsc::Sender<TcpStream>,
    mut again: mpsc::Receiver<()>,
) {
    let mut logged = false;
    loop {
        let attempt = async {
            let dom = if peer.is_ipv6() {
                Domain::IPV6
            } else {
                Domain::IPV4
            };
            let s = Socket::new(dom, Type::STREAM, Some(Protocol::TCP))?;
            tune(&s, &conf)?;
            s.bind(&SockAddr::from(local))?;
            s.set_nonblocking(true)?;
            let sock = tokio::net::TcpSocket::from_std_stream(s.into());
            sock.connect(peer).await
        };
        match attempt.await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                log!(Level::Notice, "TCP client connected to {peer}");
                logged = false;
                if out.send(stream).await.is_err() || again.recv().await.is_none() {
                    return;
                }
            }
            Err(e) => {
                if !logged {
                    log!(
                        Level::Warning,
                        "TCP client can't connect to {peer}: {e}; retrying"
                    );
                    logged = true;
                }
                tokio::time::sleep(RECONNECT).await;
            }
        }
    }
}

/// The index of interface `name`.
fn ifindex(name: &str) -> io::Result<u32> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)?
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, path))
}

/// The MTU of interface `name` (1500 when it cannot be read).
pub(super) fn mtu(name: Option<&str>) -> usize {
    name.and_then(|n| std::fs::read_to_string(format!("/sys/class/net/{n}/mtu")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1500)
}

/// The carrier state of interface `name` as `-s link` shows it.
pub(super) fn link_status(name: &str) -> ct_sync::control::LinkStatus {
    use ct_sync::control::LinkStatus;
    let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    let carrier = std::fs::read_to_string(format!("/sys/class/net/{name}/carrier"))
        .is_ok_and(|s| s.trim() == "1");
    if flags & 1 == 0 {
        LinkStatus::Down
    } else if carrier {
        LinkStatus::Running
    } else {
        LinkStatus::NoCarrier
    }
}
