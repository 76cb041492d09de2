//! dhcp4d's sockets.
//!
//! * One UDP socket on `0.0.0.0:67` (or `-p PORT`) with `SO_BROADCAST` and `IP_PKTINFO`:
//!   every query arrives on it with its ingress interface and destination address, so that
//!   queries from unconfigured interfaces are dropped and broadcasts are told from unicasts;
//!   every reply that the kernel can route leaves through it with `IP_PKTINFO` naming the
//!   interface and source address (broadcasts to 255.255.255.255 included, out of the
//!   interface the query came in on; relays at their `giaddr`, port 67).
//! * One `AF_PACKET` / `SOCK_DGRAM` socket (protocol 0: it receives nothing) for replies to a
//!   client that has no address yet (RFC 2131 §4.1, the reply goes to `yiaddr` at `chaddr`
//!   without ARP): dhcp4d builds the 28 bytes of IPv4 and UDP header with their checksums
//!   and the kernel adds the Ethernet header for the destination `chaddr`. This is what Kea
//!   does with `dhcp-socket-type: raw`; with `udp`, dhcp4d broadcasts such replies instead
//!   (as a server without packet sockets must).
//!
//! Per loop turn the queries are read in batches of up to [`sys::RX_BATCH`] with one
//! `recvmmsg` ([`sys::RxBatch`]), and the replies the turn released are queued in an
//! [`Outbox`] and leave together after the group commit, the UDP ones with one `sendmmsg`
//! per [`sys::TX_BATCH`]. Under load, [`Coalesce`] reads the socket at most once per
//! [`RX_COALESCE`]: the queries of that interval are handled in one turn, one wake-up, one
//! `write` of lease rows and one `sendmmsg` instead of one of each per query.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use dhcp4_ha::server::Transmit;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::sys::{self, UdpOut};

/// Opens the UDP socket of the server.
pub(crate) fn open_udp(port: u16) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    sys::setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
        .map_err(|e| io::Error::new(e.kind(), format!("IP_PKTINFO: {e}")))?;
    s.set_recv_buffer_size(4 << 20).ok();
    s.set_send_buffer_size(4 << 20).ok();
    s.bind(&SockAddr::from(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        port,
    )))
    .map_err(|e| io::Error::new(e.kind(), format!("bind 0.0.0.0:{port}: {e}")))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Opens the packet socket for link-layer unicasts.
pub(crate) fn open_packet() -> io::Result<Socket> {
    let s = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(0)))?;
    s.set_send_buffer_size(1 << 20).ok();
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The Internet checksum (RFC 1071) of `data`, continuing from `sum`.
fn ones_sum(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an IPv4 + UDP datagram (TTL 64, no options, DF clear) around `payload`. `None`
/// when the payload does not fit in one datagram.
pub(crate) fn ipv4_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let total = u16::try_from(20 + 8 + payload.len()).ok()?;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    let hsum = fold(ones_sum(0, &p[..20]));
    p[10..12].copy_from_slice(&hsum.to_be_bytes());
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    // Pseudo-header: source, destination, zero, protocol, UDP length.
    let mut sum = ones_sum(0, &src.ip().octets());
    sum = ones_sum(sum, &dst.ip().octets());
    sum += 17 + u32::from(udp_len);
    sum = ones_sum(sum, &p[20..]);
    let mut csum = fold(sum);
    if csum == 0 {
        csum = 0xffff;
    }
    p[26..28].copy_from_slice(&csum.to_be_bytes());
    Some(p)
}

/// How a queued reply leaves.
#[derive(Debug)]
enum Via {
    /// Through the UDP socket to `dst` from `src` out of `ifindex` (0: the routes choose).
    Udp {
        dst: SocketAddrV4,
        ifindex: u32,
        src: Ipv4Addr,
    },
    /// Through the packet socket: an IPv4 datagram to `dst` at the client's `chaddr`.
    Link { dst: SocketAddrV4, frame: Vec<u8> },
}

/// The replies of one loop turn, sent together once their lease rows are written: runs of
/// UDP replies with one `sendmmsg` each, link-layer unicasts with one `sendto` each, in the
/// order they were queued.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: Vec<(Transmit, Via)>,
}

impl Outbox {
    /// Queues `tx` for the UDP socket: to `dst` from `src` (unspecified: the kernel chooses)
    /// out of `ifindex` (0: the routes choose).
    pub(crate) fn push_udp(
        &mut self,
        tx: Transmit,
        dst: SocketAddrV4,
        ifindex: u32,
        src: Ipv4Addr,
    ) {
        self.queue.push((tx, Via::Udp { dst, ifindex, src }));
    }

    /// Queues `tx` for the packet socket: `frame` (its IPv4 + UDP datagram to `dst`, see
    /// [`ipv4_udp`]) to the client's hardware address out of `tx.ifindex`.
    pub(crate) fn push_link(&mut self, tx: Transmit, dst: SocketAddrV4, frame: Vec<u8>) {
        self.queue.push((tx, Via::Link { dst, frame }));
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends every queued reply through `udp` or `packet` and empties the queue. A UDP reply
    /// whose source address the kernel refuses (`EINVAL`: the server identifier is not an
    /// address of ours) is sent again with the kernel's choice of source. `failed` is called
    /// with each reply that could not be sent, its destination and the error.
    pub(crate) fn send(
        &mut self,
        udp: RawFd,
        packet: Option<RawFd>,
        mut failed: impl FnMut(&Transmit, SocketAddrV4, &io::Error),
    ) {
        let mut batch: Vec<UdpOut<'_>> = Vec::with_capacity(self.queue.len().min(sys::TX_BATCH));
        let mut i = 0;
        while i < self.queue.len() {
            // The run of UDP replies starting at `i`.
            batch.clear();
            for (tx, via) in &self.queue[i..] {
                let Via::Udp { dst, ifindex, src } = *via else {
                    break;
                };
                batch.push(UdpOut {
                    dst,
                    ifindex,
                    src,
                    payload: &tx.payload,
                });
                if batch.len() == sys::TX_BATCH {
                    break;
                }
            }
            if batch.is_empty() {
                let (tx, via) = &self.queue[i];
                if let Via::Link { dst, frame } = via {
                    let r = match packet {
                        Some(fd) => sys::send_link(fd, tx.ifindex, tx.client_hw_addr(), frame),
                        None => Err(io::Error::from(io::ErrorKind::Unsupported)),
                    };
                    if let Err(e) = r {
                        failed(tx, *dst, &e);
                    }
                }
                i += 1;
                continue;
            }
            match sys::send_pktinfo_batch(udp, &batch) {
                Ok(n) if n > 0 => i += n,
                // The first datagram failed (`Ok(0)` does not happen for a non-empty batch):
                // send it alone, then go on with the next.
                Ok(_) | Err(_) => {
                    let m = batch[0];
                    let r =
                        sys::send_pktinfo(udp, m.dst, m.ifindex, m.src, m.payload).or_else(|e| {
                            if e.kind() == io::ErrorKind::InvalidInput && !m.src.is_unspecified() {
                                sys::send_pktinfo(
                                    udp,
                                    m.dst,
                                    m.ifindex,
                                    Ipv4Addr::UNSPECIFIED,
                                    m.payload,
                                )
                            } else {
                                Err(e)
                            }
                        });
                    if let Err(e) = r {
                        failed(&self.queue[i].0, m.dst, &e);
                    }
                    i += 1;
                }
            }
        }
        drop(batch);
        self.queue.clear();
    }
}

/// The server's UDP socket and its registration with tokio's reactor (readability only).
/// While [`Coalesce`] holds, the socket is taken out of the reactor
/// ([`watch(false)`](Self::watch)): arriving queries then wake nobody up, where an
/// edge-triggered registration would wake the loop once per datagram.
#[derive(Debug)]
pub(crate) struct UdpPort {
    fd: RawFd,
    watched: Option<AsyncFd<Socket>>,
    idle: Option<Socket>,
}

impl UdpPort {
    /// Wraps `sock` (from [`open_udp`]) and watches it.
    pub(crate) fn new(sock: Socket) -> io::Result<Self> {
        let fd = sock.as_raw_fd();
        let watched = sys::register_readable(sock).map_err(|(_, e)| e)?;
        Ok(Self {
            fd,
            watched: Some(watched),
            idle: None,
        })
    }

    /// The socket's descriptor (for `recvmmsg` / `sendmmsg`).
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    /// Watches the socket (`true`) or takes it out of the reactor (`false`); nothing to do
    /// when it already is so.
    pub(crate) fn watch(&mut self, on: bool) -> io::Result<()> {
        if on {
            if let Some(s) = self.idle.take() {
                match sys::register_readable(s) {
                    Ok(a) => self.watched = Some(a),
                    Err((s, e)) => {
                        self.idle = Some(s);
                        return Err(e);
                    }
                }
            }
        } else if let Some(a) = self.watched.take() {
            self.idle = Some(a.into_inner());
        }
        Ok(())
    }

    /// Waits until the socket is readable (forever while it is not watched) and clears the
    /// readiness: the caller then reads until the socket is drained.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match &self.watched {
            Some(a) => {
                a.readable().await?.clear_ready();
                Ok(())
            }
            None => std::future::pending().await,
        }
    }
}

/// The longest a query waits in the socket under load (see [`Coalesce`]). tokio's timer
/// rounds it up to the next millisecond.
pub(crate) const RX_COALESCE: Duration = Duration::from_millis(2);

/// Queries per window from which coalescing stops (see [`Coalesce`]).
pub(crate) const RX_COALESCE_BATCH: usize = 32;

/// The hold while the server answers no query HA filters (the standby of a hot-standby
/// pair): such queries are only read to be dropped and counted, so they are read at most
/// once per this window, whatever the load (see [`Coalesce::after_rx_not_serving`]).
pub(crate) const RX_COALESCE_NOT_SERVING: Duration = Duration::from_millis(10);

/// Receive coalescing, as a NIC moderates its interrupts. When queries come in faster than
/// one per two windows, the daemon stops watching the socket for one window after each turn
/// that read some, and then drains what arrived in the meantime in one turn: one wake-up, one
/// `write` of lease rows and one `sendmmsg` per window instead of one of each per query. A
/// query then waits at most one window (plus timer rounding) before it is read.
///
/// * Light load (queries more than two windows apart): nothing changes, each query is read
///   as soon as it arrives.
/// * Heavy load (queries arriving at [`RX_COALESCE_BATCH`] or more per window, measured
///   over the time since the last turn): no hold either; the load batches by itself, and
///   holding would only send the replies in longer bursts, which overflow the receive buffer
///   of a client or relay that sends many queries (perfdhcp's, for one).
/// * A window of zero turns coalescing off.
#[derive(Debug, Clone)]
pub(crate) struct Coalesce {
    window: Duration,
    last_rx: Option<Instant>,
    hold: Option<Instant>,
}

impl Coalesce {
    /// Coalescing over `window` (zero: off).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            last_rx: None,
            hold: None,
        }
    }

    /// After a turn at `now` that drained the socket having read `n` datagrams: decides
    /// whether the socket is left alone for a window.
    pub(crate) fn after_rx(&mut self, now: Instant, n: usize) {
        self.hold = None;
        if n == 0 || self.window.is_zero() {
            return;
        }
        let Some(last) = self.last_rx.replace(now) else {
            return;
        };
        let since = now.saturating_duration_since(last);
        // Busy: the previous turn is less than two windows old. Light: at the rate of this
        // turn (n since the previous one), a window brings fewer than RX_COALESCE_BATCH.
        let busy = since < 2 * self.window;
        let light =
            (n as u128) * self.window.as_nanos() < (RX_COALESCE_BATCH as u128) * since.as_nanos();
        if busy && light {
            self.hold = Some(now + self.window);
        }
    }

    /// After a turn at `now` that drained the socket having read `n` datagrams, while the
    /// server drops every query (none of its scopes is served): when some were read, the
    /// socket is left alone for [`RX_COALESCE_NOT_SERVING`] (no replies go out, so the
    /// heavy-load rule does not apply); an idle socket is watched as usual.
    pub(crate) fn after_rx_not_serving(&mut self, now: Instant, n: usize) {
        self.hold = None;
        self.last_rx = Some(now);
        if n > 0 && !self.window.is_zero() {
            self.hold = Some(now + RX_COALESCE_NOT_SERVING);
        }
    }

    /// Until when the socket is not watched (`None`: watch it).
    pub(crate) fn hold_until(&self) -> Option<Instant> {
        self.hold
    }

    /// Whether the hold is over at `now`: the socket must be read (and is watched again).
    pub(crate) fn expired(&mut self, now: Instant) -> bool {
        if self.hold.is_some_and(|t| t <= now) {
            self.hold = None;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use dhcp4_ha::wire::MessageType;

    use super::*;

    fn transmit(payload: &[u8]) -> Transmit {
        Transmit {
            dst: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            src: Ipv4Addr::UNSPECIFIED,
            ifindex: 0,
            broadcast: false,
            link_unicast: false,
            htype: 1,
            hlen: 6,
            chaddr: [0; 16],
            message_type: MessageType::OFFER,
            xid: 1,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn a_server_that_serves_no_scope_holds_whatever_the_load_but_not_when_idle() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(RX_COALESCE);
        // Heavy load: serving, no hold; not serving, the long hold.
        c.after_rx(t0, 1);
        c.after_rx(t0 + RX_COALESCE, 10 * RX_COALESCE_BATCH);
        assert_eq!(c.hold_until(), None);
        c.after_rx_not_serving(t0 + RX_COALESCE, 10 * RX_COALESCE_BATCH);
        assert_eq!(
            c.hold_until(),
            Some(t0 + RX_COALESCE + RX_COALESCE_NOT_SERVING)
        );
        assert!(!c.expired(t0 + RX_COALESCE_NOT_SERVING));
        assert!(c.expired(t0 + RX_COALESCE + RX_COALESCE_NOT_SERVING));
        // Nothing read: the socket is watched.
        c.after_rx_not_serving(t0 + 2 * RX_COALESCE_NOT_SERVING, 0);
        assert_eq!(c.hold_until(), None);
        // Coalescing off stays off.
        let mut off = Coalesce::new(Duration::ZERO);
        off.after_rx_not_serving(t0, 5);
        assert_eq!(off.hold_until(), None);
    }

    #[test]
    fn coalescing_holds_only_between_light_and_heavy_load() {
        let w = Duration::from_millis(2);
        let t0 = Instant::now();
        let mut c = Coalesce::new(w);
        c.after_rx(t0, 1);
        assert_eq!(c.hold_until(), None, "a first query is read at once");
        c.after_rx(t0 + 5 * w, 1);
        assert_eq!(c.hold_until(), None, "queries far apart: no hold");
        let t1 = t0 + 5 * w + w / 2;
        c.after_rx(t1, 3);
        assert_eq!(
            c.hold_until(),
            Some(t1 + w),
            "queries close together: hold a window"
        );
        assert!(!c.expired(t1 + w / 2));
        assert!(c.expired(t1 + w), "the hold ends after one window");
        assert_eq!(c.hold_until(), None);
        c.after_rx(t1 + w, RX_COALESCE_BATCH);
        assert_eq!(
            c.hold_until(),
            None,
            "a full window: the load batches by itself"
        );
        let t2 = t1 + w + w / 10;
        c.after_rx(t2, 4);
        assert_eq!(
            c.hold_until(),
            None,
            "4 in a tenth of a window: 40 per window"
        );
        c.after_rx(t2 + w, 2);
        assert_eq!(c.hold_until(), Some(t2 + 2 * w), "2 per window: hold");
        c.after_rx(t2 + 3 * w, 0);
        assert_eq!(
            c.hold_until(),
            None,
            "nothing came: the socket is watched again"
        );
        let mut off = Coalesce::new(Duration::ZERO);
        off.after_rx(t0, 1);
        off.after_rx(t0, 1);
        assert_eq!(off.hold_until(), None, "a zero window turns coalescing off");
    }

    #[test]
    fn batches_go_out_and_come_in_with_their_addresses() {
        let rx = open_loopback();
        let rx_addr = match rx.local_addr().unwrap().as_socket() {
            Some(std::net::SocketAddr::V4(a)) => a,
            other => panic!("not IPv4: {other:?}"),
        };
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx_port = tx.local_addr().unwrap().port();
        let mut out = Outbox::default();
        for i in 0..70u8 {
            out.push_udp(transmit(&[i; 3]), rx_addr, 0, Ipv4Addr::LOCALHOST);
        }
        let mut failures = 0;
        out.send(tx.as_raw_fd(), None, |_, _, _| failures += 1);
        assert_eq!(failures, 0);
        assert!(out.is_empty());
        let mut batch = sys::RxBatch::default();
        let mut got = Vec::new();
        while got.len() < 70 {
            let n = batch
                .recv(rx.as_raw_fd())
                .expect("the 70 datagrams are queued");
            assert!(n <= sys::RX_BATCH);
            for i in 0..n {
                let (m, bytes) = batch.get(i);
                assert_eq!(m.src, SocketAddrV4::new(Ipv4Addr::LOCALHOST, tx_port));
                assert_eq!(m.dst, Ipv4Addr::LOCALHOST, "IP_PKTINFO destination");
                assert_ne!(m.ifindex, 0, "IP_PKTINFO interface");
                assert_eq!(bytes.len(), 3);
                got.push(bytes[0]);
            }
        }
        assert_eq!(
            got,
            (0..70).collect::<Vec<u8>>(),
            "all, in order, over two sendmmsg"
        );
        assert_eq!(
            batch.recv(rx.as_raw_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn a_failed_reply_is_reported_and_the_rest_still_go_out() {
        let rx = open_loopback();
        let rx_addr = match rx.local_addr().unwrap().as_socket() {
            Some(std::net::SocketAddr::V4(a)) => a,
            other => panic!("not IPv4: {other:?}"),
        };
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut out = Outbox::default();
        out.push_udp(transmit(b"a"), rx_addr, 0, Ipv4Addr::LOCALHOST);
        // No such interface: sendmmsg stops at this one, which is then sent alone, fails
        // and is reported; the next one goes out with the next sendmmsg.
        out.push_udp(transmit(b"b"), rx_addr, 999_999, Ipv4Addr::LOCALHOST);
        out.push_udp(transmit(b"c"), rx_addr, 0, Ipv4Addr::LOCALHOST);
        // No packet socket: a link-layer reply cannot be sent and is reported.
        out.push_link(transmit(b"d"), rx_addr, vec![0; 29]);
        let mut failed = Vec::new();
        out.send(tx.as_raw_fd(), None, |t, dst, _| {
            failed.push((t.payload.clone(), dst))
        });
        assert_eq!(failed, [(b"b".to_vec(), rx_addr), (b"d".to_vec(), rx_addr)]);
        let mut batch = sys::RxBatch::default();
        let n = batch.recv(rx.as_raw_fd()).unwrap();
        let got: Vec<&[u8]> = (0..n).map(|i| batch.get(i).1).collect();
        assert_eq!(got, [b"a", b"c"]);
    }

    fn open_loopback() -> Socket {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        sys::setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1).unwrap();
        s.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
            .unwrap();
        s
    }

    #[test]
    fn checksums_verify_to_zero() {
        let src = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 67);
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 68);
        let p = ipv4_udp(src, dst, b"hello, dhcp!!").unwrap();
        assert_eq!(p.len(), 28 + 13);
        assert_eq!(fold(ones_sum(0, &p[..20])), 0, "IPv4 header checksum");
        let mut sum = ones_sum(0, &p[12..20]);
        sum += 17 + (p.len() as u32 - 20);
        assert_eq!(fold(ones_sum(sum, &p[20..])), 0, "UDP checksum");
        assert_eq!(&p[20..22], &67u16.to_be_bytes());
        assert_eq!(&p[22..24], &68u16.to_be_bytes());
    }
}
