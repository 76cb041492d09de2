//! A DHCPv4 load generator that plays a relay agent, for benchmarks: cheap enough that the
//! servers, not the client, set the ceiling.
//!
//! # What goes on the wire
//! The generator is what ISC's `perfdhcp -4 -l IFACE -R N` is in the benchmarks: one relay
//! agent (RFC 2131 §4.1, RFC 1542) in front of `N` simulated clients. It sends from UDP port
//! 67 of the relay's address, with `giaddr` set to that address and `hops` 1, to every
//! address in [`LoadConfig::servers`], and receives the servers' replies on that port. As a
//! relay with several helper addresses does, it sends each query to every server; the
//! benchmarks give it [`ALL_SERVERS`] (255.255.255.255:67, broadcast on the relay's link),
//! which is where perfdhcp sends when given an interface and no server, so both servers of an
//! HA pair receive every query.
//!
//! Each exchange is the four-message DORA of one client: DHCPDISCOVER (the client is then
//! SELECTING, RFC 2131 §4.4), the first DHCPOFFER for it, DHCPREQUEST with the offer's server
//! identifier (option 54) and requested IP address (option 50) (REQUESTING), then DHCPACK or
//! DHCPNAK. The messages carry what perfdhcp's carry: message type, a parameter request list
//! (1, 28, 2, 3, 15, 6, 12), a client identifier (option 61, type 1 and the MAC; optional),
//! `secs` 0 (settable), no broadcast flag.
//!
//! Client `i` (0 ≤ i < N) has the MAC address [`LoadConfig::base_mac`] + `i` (as a 48-bit
//! number); the default base, [`PERFDHCP_BASE_MAC`] (00:0c:01:02:03:04), makes the clients
//! those of `perfdhcp -R N` for N ≤ 251, so both generators renew the same leases against
//! one server. Exchanges take the clients in turn; after a warm-up every client has a lease
//! and every DORA renews it (as with perfdhcp's `-R`).
//!
//! # Rate, timeouts and counts
//! Open loop: exchange `k` is due at `start + k / rate`, whatever the replies do. An
//! exchange's query that gets no reply within [`LoadConfig::timeout`] (1 s, perfdhcp's drop
//! time) is a drop: of DISCOVER-OFFER when no DHCPOFFER came, of REQUEST-ACK when no
//! DHCPACK / DHCPNAK came. After the sending period the generator keeps receiving until every
//! exchange has completed or timed out, so every exchange started ends up counted once:
//! completed (ACK), refused (NAK) or dropped. [`LoadReport`] has the counts per message type,
//! the DISCOVER → ACK latency percentiles, how far the generator fell behind its schedule
//! and its own CPU time.
//!
//! # Cost
//! One thread and one socket. Replies are read with `recvmmsg` and queries written with
//! `sendmmsg`, up to 64 per call; queries are copies of two templates built once with
//! [`dhcp4_ha::wire::Dhcp4Repr`], patched in place (xid, `chaddr`, client identifier,
//! requested address, server identifier); replies are read through the zero-copy
//! [`Packet`] view. Exchanges live in a table allocated at the start (indexed by xid) and
//! their deadlines in a queue that stays sorted because every timeout is the same length:
//! nothing is allocated per exchange. The loop wakes at most once per
//! [`LoadConfig::quantum`] (100 µs), so at high rates each wake handles a batch.
//!
//! ```no_run
//! use std::time::Duration;
//! use examples::dhcpload::{ALL_SERVERS, LoadConfig, run};
//!
//! let cfg = LoadConfig::new("192.0.2.2".parse()?, vec![ALL_SERVERS], 241, 5000, Duration::from_secs(4));
//! let report = run(&cfg)?;
//! println!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod sys;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use dhcp4_ha::wire::{Dhcp4Repr, MessageType, Op, Options, Packet, TokenKind, code, field};
use socket2::{Domain, Protocol, Socket, Type};

/// The DHCP server (and relay agent) UDP port.
pub const SERVER_PORT: u16 = 67;

/// 255.255.255.255:67: every DHCP server on the relay's link, where perfdhcp sends when given
/// an interface and no server.
pub const ALL_SERVERS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);

/// The MAC address of perfdhcp's first client (`-R N` clients are this one + 0 … N − 1).
pub const PERFDHCP_BASE_MAC: [u8; 6] = [0x00, 0x0c, 0x01, 0x02, 0x03, 0x04];

/// The parameter request list (option 55) of every query, perfdhcp's.
const PARAMETER_REQUEST_LIST: [u8; 7] = [1, 28, 2, 3, 15, 6, 12];

/// The most exchanges in flight the table holds (2^20).
const MAX_SLOTS: usize = 1 << 20;

/// What to send, where, how fast and for how long; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The relay agent's address: `giaddr` and the source address of every query.
    pub relay: Ipv4Addr,
    /// The local UDP port (67 for a relay agent; 0 picks one, for tests: servers that reply
    /// to the source port, not to 67).
    pub relay_port: u16,
    /// Where every query goes (each query is sent once to each); [`ALL_SERVERS`] for
    /// broadcast on the relay's link.
    pub servers: Vec<SocketAddrV4>,
    /// Simulated clients (distinct MAC addresses).
    pub clients: u32,
    /// Exchanges started per second.
    pub rate: u32,
    /// How long to start exchanges.
    pub duration: Duration,
    /// Stop after this many exchanges even if `duration` has not passed (perfdhcp's `-n`).
    pub max_exchanges: Option<u64>,
    /// How long a query waits for its reply before the exchange counts as a drop.
    pub timeout: Duration,
    /// Client 0's MAC address; client `i`'s is this + `i`.
    pub base_mac: [u8; 6],
    /// Whether queries carry a client identifier (option 61: type 1 and the MAC).
    pub client_id: bool,
    /// The `secs` field of every query.
    pub secs: u16,
    /// The shortest time between two wake-ups of the loop: the batching interval at high
    /// rates, and the most a reply may wait before it is read.
    pub quantum: Duration,
}

impl LoadConfig {
    /// `clients` clients behind relay `relay` (port 67), `rate` exchanges per second for
    /// `duration`, to `servers`; timeout 1 s, perfdhcp's clients (client identifier on),
    /// `secs` 0, wake-ups at most every 100 µs.
    pub fn new(
        relay: Ipv4Addr,
        servers: Vec<SocketAddrV4>,
        clients: u32,
        rate: u32,
        duration: Duration,
    ) -> Self {
        Self {
            relay,
            relay_port: SERVER_PORT,
            servers,
            clients,
            rate,
            duration,
            max_exchanges: None,
            timeout: Duration::from_secs(1),
            base_mac: PERFDHCP_BASE_MAC,
            client_id: true,
            secs: 0,
            quantum: Duration::from_micros(100),
        }
    }

    /// Exchanges the run starts: `rate × duration`, or fewer with `max_exchanges`.
    pub fn planned(&self) -> u64 {
        let by_time = (u128::from(self.rate) * self.duration.as_nanos() / 1_000_000_000) as u64;
        self.max_exchanges.map_or(by_time, |m| m.min(by_time))
    }

    /// Client `i`'s MAC address: `base_mac` + `i`, modulo 2^48.
    pub fn client_mac(&self, i: u32) -> [u8; 6] {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&self.base_mac);
        let v = u64::from_be_bytes(b).wrapping_add(u64::from(i));
        let b = v.to_be_bytes();
        [b[2], b[3], b[4], b[5], b[6], b[7]]
    }

    fn check(&self) -> io::Result<()> {
        let bad = |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()));
        if self.clients == 0 {
            return bad("no clients");
        }
        if self.rate == 0 {
            return bad("rate 0");
        }
        if self.servers.is_empty() {
            return bad("no server address");
        }
        if self.servers.len() > sys::BATCH {
            return bad("more server addresses than one sendmmsg batch");
        }
        if self.timeout.is_zero() {
            return bad("timeout 0");
        }
        Ok(())
    }
}

/// DISCOVER → ACK times of the completed exchanges, in a log-linear histogram (32 buckets per
/// power of two above 64 µs: within 3 %), allocated once.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u64>,
    max: u64,
}

impl Histogram {
    const LINEAR: u64 = 64;
    const SUB_BITS: u32 = 5;
    const BUCKETS: usize = 64 + 40 * 32;

    fn new() -> Self {
        Self {
            counts: vec![0; Self::BUCKETS],
            max: 0,
        }
    }

    fn index(us: u64) -> usize {
        if us < Self::LINEAR {
            return us as usize;
        }
        let log = 63 - u64::from(us.leading_zeros()) as u32; // ≥ 6
        let octave = (log - 6) as usize;
        let sub = ((us >> (log - Self::SUB_BITS)) & ((1 << Self::SUB_BITS) - 1)) as usize;
        (64 + octave * 32 + sub).min(Self::BUCKETS - 1)
    }

    /// The lowest value of bucket `i`.
    fn low(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let octave = ((i - 64) / 32) as u32;
        let sub = ((i - 64) % 32) as u64;
        (32 + sub) << (octave + 1)
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(us)] += 1;
        self.max = self.max.max(us);
    }

    /// The `q`-quantile (0 < q ≤ 1), as its bucket's lowest value; zero when empty.
    fn quantile(&self, q: f64) -> Duration {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(Self::low(i).min(self.max));
            }
        }
        Duration::from_micros(self.max)
    }
}

/// Counts and times of one [`run`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Exchanges started (one DHCPDISCOVER each, to every server address).
    pub started: u64,
    /// Exchanges not started because the exchange table was full (only when far more than
    /// `rate × timeout` exchanges are in flight; zero in a sound run).
    pub not_started: u64,
    /// DHCPOFFERs that answered an exchange's DHCPDISCOVER (the first one per exchange).
    pub offers: u64,
    /// Exchanges whose DHCPDISCOVER got no DHCPOFFER within the timeout.
    pub discover_drops: u64,
    /// DHCPREQUESTs sent (one per offered exchange, to every server address).
    pub requests: u64,
    /// DHCPACKs: completed exchanges.
    pub acks: u64,
    /// DHCPNAKs.
    pub naks: u64,
    /// Exchanges whose DHCPREQUEST got neither DHCPACK nor DHCPNAK within the timeout.
    pub request_drops: u64,
    /// Replies for an exchange already past that message (a second server's DHCPOFFER).
    pub duplicates: u64,
    /// Replies for no exchange in flight (too late, or not ours).
    pub unmatched: u64,
    /// Datagrams that are not DHCP replies (bad framing, truncated, BOOTREQUEST).
    pub malformed: u64,
    /// Datagrams the kernel refused for a reason other than a full buffer.
    pub send_errors: u64,
    /// Median DISCOVER → ACK time of the completed exchanges.
    pub latency_p50: Duration,
    /// 99th percentile of the same.
    pub latency_p99: Duration,
    /// Longest DISCOVER → ACK time.
    pub latency_max: Duration,
    /// How late the generator sent its most delayed DHCPDISCOVER compared with the schedule
    /// (a few hundred µs when it keeps up; growing when the generator is the bottleneck).
    pub max_lag: Duration,
    /// From the start to the last exchange started.
    pub sending: Duration,
    /// From the start to the end of the run (the last exchange completed or timed out).
    pub elapsed: Duration,
    /// CPU time of the generator's thread in user space.
    pub cpu_user: Duration,
    /// CPU time of the generator's thread in the kernel (its system calls, and the sending
    /// path of every datagram it sends, which runs in its context).
    pub cpu_system: Duration,
}

impl LoadReport {
    /// Exchanges completed with a DHCPACK.
    pub fn completed(&self) -> u64 {
        self.acks
    }

    /// Drops in per cent as perfdhcp reports them, for the worse of the two exchanges:
    /// max(DISCOVER drops / DISCOVERs, REQUEST drops / REQUESTs). 100 when nothing was sent.
    pub fn drop_pct(&self) -> f64 {
        let pct = |d: u64, n: u64| {
            if n == 0 {
                100.0
            } else {
                100.0 * d as f64 / n as f64
            }
        };
        let discover = pct(self.discover_drops, self.started);
        if self.offers == 0 {
            return discover;
        }
        discover.max(pct(self.request_drops, self.requests))
    }

    /// Completed exchanges per second of the sending period.
    pub fn rate(&self) -> f64 {
        self.acks as f64 / self.sending.as_secs_f64().max(1e-9)
    }

    /// The generator's CPU time (user + system).
    pub fn cpu(&self) -> Duration {
        self.cpu_user + self.cpu_system
    }

    /// The generator's CPU milliseconds per 1000 completed exchanges.
    pub fn cpu_ms_per_1000(&self) -> f64 {
        self.cpu().as_secs_f64() * 1e6 / self.acks.max(1) as f64
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} DORA started, {} ACK, {} NAK; drops: {} DISCOVER, {} REQUEST ({:.2} %); \
             DISCOVER→ACK p50 {} µs, p99 {} µs; lag ≤ {} µs; generator CPU {:.1} ms / 1000 DORA",
            self.started,
            self.acks,
            self.naks,
            self.discover_drops,
            self.request_drops,
            self.drop_pct(),
            self.latency_p50.as_micros(),
            self.latency_p99.as_micros(),
            self.max_lag.as_micros(),
            self.cpu_ms_per_1000(),
        )
    }
}

/// Where an exchange is, in the client's words (RFC 2131 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No exchange in this slot.
    Free,
    /// DHCPDISCOVER sent, waiting for a DHCPOFFER.
    Selecting,
    /// DHCPOFFER received; DHCPREQUEST queued or sent, waiting for DHCPACK / DHCPNAK.
    Requesting,
}

/// One exchange in flight.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    /// The exchange's number (its xid is the run's base + this).
    seq: u32,
    client: u32,
    stage: Stage,
    /// When its DHCPDISCOVER was queued.
    started: Instant,
    /// The offered address (option 50 of the DHCPREQUEST).
    offered: Ipv4Addr,
    /// The offer's server identifier (option 54 of the DHCPREQUEST).
    server_id: Ipv4Addr,
}

/// A query built once, patched per exchange.
#[derive(Debug, Clone)]
struct Template {
    bytes: Vec<u8>,
    /// Offset of option 61's data (type byte first), if present.
    client_id: Option<usize>,
    /// Offset of option 50's data.
    requested_ip: Option<usize>,
    /// Offset of option 54's data.
    server_id: Option<usize>,
}

impl Template {
    fn new(cfg: &LoadConfig, message_type: MessageType) -> io::Result<Self> {
        let mac = cfg.client_mac(0);
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&mac);
        let request = message_type == MessageType::REQUEST;
        let repr = Dhcp4Repr {
            hops: 1,
            secs: cfg.secs,
            giaddr: cfg.relay,
            chaddr,
            options: Options {
                message_type: Some(message_type),
                parameter_request_list: Some(PARAMETER_REQUEST_LIST.to_vec()),
                client_id: cfg.client_id.then(|| {
                    let mut id = vec![1];
                    id.extend_from_slice(&mac);
                    id
                }),
                requested_ip: request.then_some(Ipv4Addr::UNSPECIFIED),
                server_id: request.then_some(Ipv4Addr::UNSPECIFIED),
                ..Options::default()
            },
            ..Dhcp4Repr::default()
        };
        let bytes = repr.to_vec().map_err(io::Error::other)?;
        if bytes.len() > sys::TX_SLOT {
            return Err(io::Error::other("query longer than a transmit slot"));
        }
        let mut t = Self {
            client_id: None,
            requested_ip: None,
            server_id: None,
            bytes: Vec::new(),
        };
        let packet = Packet::new_checked(&bytes[..]).map_err(io::Error::other)?;
        for token in packet.tokens() {
            let token = token.map_err(io::Error::other)?;
            if let TokenKind::Option { code: c, .. } = token.kind {
                let at = Some(token.offset + 2);
                match c {
                    code::CLIENT_ID => t.client_id = at,
                    code::REQUESTED_IP => t.requested_ip = at,
                    code::SERVER_ID => t.server_id = at,
                    _ => {}
                }
            }
        }
        t.bytes = bytes;
        Ok(t)
    }
}

/// Opens the relay agent's socket: bound to `relay:relay_port`, broadcast allowed,
/// non-blocking, with large buffers.
fn open_socket(cfg: &LoadConfig) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_broadcast(true)?;
    s.set_nonblocking(true)?;
    const BUF: libc::c_int = 8 << 20;
    // Past the rmem_max / wmem_max limits when the process may (root); else as far as they go.
    if crate::sys::setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, BUF)
        .is_err()
    {
        let _ = s.set_recv_buffer_size(BUF as usize);
    }
    if crate::sys::setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, BUF)
        .is_err()
    {
        let _ = s.set_send_buffer_size(BUF as usize);
    }
    s.bind(&SocketAddrV4::new(cfg.relay, cfg.relay_port).into())?;
    Ok(s)
}

/// Runs one load: opens the relay agent's socket (in the calling thread's network
/// namespace), starts `cfg.rate` exchanges per second for `cfg.duration`, waits until every
/// exchange has completed or timed out, closes the socket and returns the counts. Blocks the
/// calling thread for the whole run (about `duration` + the timeout at most twice).
pub fn run(cfg: &LoadConfig) -> io::Result<LoadReport> {
    cfg.check()?;
    let sock = open_socket(cfg)?;
    let mut g = Generator::new(cfg)?;
    g.run(sock.as_raw_fd())?;
    Ok(g.report)
}

/// The state of one run.
#[derive(Debug)]
struct Generator<'a> {
    cfg: &'a LoadConfig,
    discover: Template,
    request: Template,
    /// Exchanges in flight, at `seq & mask`.
    slots: Vec<Exchange>,
    mask: u32,
    /// (deadline, seq, stage) of every query sent, in send order (so by deadline).
    deadlines: VecDeque<(Instant, u32, Stage)>,
    /// Exchanges whose DHCPOFFER came and whose DHCPREQUEST is not queued yet.
    offered: VecDeque<u32>,
    /// xid of exchange 0 (random per run, so that late replies to an earlier run never match).
    xid_base: u32,
    /// Exchanges started so far (the next one's seq).
    next: u64,
    /// Exchanges in flight.
    outstanding: u64,
    /// When the run started.
    start: Instant,
    rx: sys::RxBatch,
    tx: sys::TxBatch,
    histogram: Histogram,
    report: LoadReport,
}

impl<'a> Generator<'a> {
    fn new(cfg: &'a LoadConfig) -> io::Result<Self> {
        // Every exchange lives at most twice the timeout: room for all of them, and a margin
        // for the batches sent ahead of the clock.
        let live = u128::from(cfg.rate) * cfg.timeout.as_nanos() * 2 / 1_000_000_000;
        let want = usize::try_from(live)
            .unwrap_or(MAX_SLOTS)
            .saturating_add(4 * sys::BATCH);
        let n = want.next_power_of_two().clamp(1024, MAX_SLOTS);
        let now = Instant::now();
        let free = Exchange {
            seq: 0,
            client: 0,
            stage: Stage::Free,
            started: now,
            offered: Ipv4Addr::UNSPECIFIED,
            server_id: Ipv4Addr::UNSPECIFIED,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(17)
            });
        Ok(Self {
            cfg,
            discover: Template::new(cfg, MessageType::DISCOVER)?,
            request: Template::new(cfg, MessageType::REQUEST)?,
            slots: vec![free; n],
            mask: (n - 1) as u32,
            deadlines: VecDeque::with_capacity(2 * n),
            offered: VecDeque::with_capacity(n),
            xid_base: seed.wrapping_mul(0x9e37_79b9),
            next: 0,
            outstanding: 0,
            start: now,
            rx: sys::RxBatch::new(),
            tx: sys::TxBatch::new(),
            histogram: Histogram::new(),
            report: LoadReport::default(),
        })
    }

    fn run(&mut self, fd: std::os::fd::RawFd) -> io::Result<()> {
        sys::set_timer_slack(Duration::from_micros(1));
        let (user0, system0) = sys::thread_cpu();
        let planned = self.cfg.planned();
        let rate = u128::from(self.cfg.rate);
        let start = Instant::now();
        self.start = start;
        let due_at =
            |k: u64| start + Duration::from_nanos((u128::from(k) * 1_000_000_000 / rate) as u64);
        let mut last_wake = start;
        loop {
            let now = Instant::now();
            self.receive(fd, now)?;
            self.expire(now);
            let elapsed = now.duration_since(start).as_nanos();
            let due = ((elapsed * rate / 1_000_000_000) as u64 + 1).min(planned);
            let blocked = self.transmit(fd, now, due, &due_at)?;
            if self.next >= planned && self.outstanding == 0 && self.tx.len() == 0 {
                break;
            }
            // The next thing to do: the next DHCPDISCOVER, the next deadline.
            let mut deadline = now + self.cfg.timeout;
            if self.next < planned {
                deadline = deadline.min(due_at(self.next));
            }
            if let Some(&(d, _, _)) = self.deadlines.front() {
                deadline = deadline.min(d);
            }
            // At most one wake-up per quantum: replies and due queries wait for the next.
            let earliest = last_wake + self.cfg.quantum;
            let now = Instant::now();
            if now < earliest {
                std::thread::sleep(earliest - now);
            }
            let now = Instant::now();
            if deadline > now {
                sys::poll(fd, blocked, deadline - now)?;
            }
            last_wake = Instant::now();
        }
        let end = Instant::now();
        let (user1, system1) = sys::thread_cpu();
        let r = &mut self.report;
        r.elapsed = end.duration_since(start);
        r.cpu_user = user1.saturating_sub(user0);
        r.cpu_system = system1.saturating_sub(system0);
        r.latency_p50 = self.histogram.quantile(0.5);
        r.latency_p99 = self.histogram.quantile(0.99);
        r.latency_max = Duration::from_micros(self.histogram.max);
        Ok(())
    }

    /// Reads every queued reply.
    fn receive(&mut self, fd: std::os::fd::RawFd, now: Instant) -> io::Result<()> {
        loop {
            let n = match self.rx.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error queued on the socket (a server's port unreachable): ignored,
                // the exchange times out.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            for i in 0..n {
                self.handle(i, now);
            }
            if n < sys::BATCH {
                return Ok(());
            }
        }
    }

    /// Handles datagram `i` of the last receive batch.
    fn handle(&mut self, i: usize, now: Instant) {
        let (src, bytes, truncated) = self.rx.get(i);
        let packet = match Packet::new_checked(bytes) {
            Ok(p) if !truncated && p.op() == Op::REPLY => p,
            _ => {
                self.report.malformed += 1;
                return;
            }
        };
        let seq = packet.xid().wrapping_sub(self.xid_base);
        let slot = &mut self.slots[(seq & self.mask) as usize];
        if slot.seq != seq
            || slot.stage == Stage::Free
            || packet.chaddr()[..6] != self.cfg.client_mac(slot.client)
        {
            self.report.unmatched += 1;
            return;
        }
        match (packet.message_type(), slot.stage) {
            (Some(MessageType::OFFER), Stage::Selecting) => {
                self.report.offers += 1;
                slot.offered = packet.yiaddr();
                slot.server_id = packet
                    .option(code::SERVER_ID)
                    .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                    .map_or_else(|| *src.ip(), Ipv4Addr::from);
                slot.stage = Stage::Requesting;
                self.offered.push_back(seq);
            }
            (Some(MessageType::ACK), Stage::Requesting) => {
                self.report.acks += 1;
                self.histogram.record(now.duration_since(slot.started));
                slot.stage = Stage::Free;
                self.outstanding -= 1;
            }
            (Some(MessageType::NAK), Stage::Requesting) => {
                self.report.naks += 1;
                slot.stage = Stage::Free;
                self.outstanding -= 1;
            }
            _ => self.report.duplicates += 1,
        }
    }

    /// Counts as drops the exchanges whose query's deadline has passed without a reply.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, seq, stage)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let slot = &mut self.slots[(seq & self.mask) as usize];
            if slot.seq != seq || slot.stage != stage {
                continue;
            }
            // A REQUESTING exchange whose DHCPREQUEST is still queued has no deadline of its
            // own yet: its DHCPDISCOVER's deadline does not end it.
            match stage {
                Stage::Selecting => self.report.discover_drops += 1,
                Stage::Requesting => self.report.request_drops += 1,
                Stage::Free => continue,
            }
            slot.stage = Stage::Free;
            self.outstanding -= 1;
        }
    }

    /// Queues the DHCPREQUESTs of the offered exchanges, then the DHCPDISCOVERs due (up to
    /// exchange `due`), and sends them in batches. Returns whether the socket's buffer is full.
    fn transmit(
        &mut self,
        fd: std::os::fd::RawFd,
        now: Instant,
        due: u64,
        due_at: &impl Fn(u64) -> Instant,
    ) -> io::Result<bool> {
        let fan = self.cfg.servers.len();
        loop {
            while self.tx.room() >= fan {
                if let Some(seq) = self.offered.pop_front() {
                    self.queue_request(seq, now);
                } else if self.next < due {
                    let lag = now.saturating_duration_since(due_at(self.next));
                    self.report.max_lag = self.report.max_lag.max(lag);
                    self.queue_discover(now);
                } else {
                    break;
                }
            }
            if self.tx.len() == 0 {
                return Ok(false);
            }
            match self.tx.flush(fd) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.report.send_errors += 1,
            }
            if self.offered.is_empty() && self.next >= due && self.tx.len() == 0 {
                return Ok(false);
            }
        }
    }

    fn queue_discover(&mut self, now: Instant) {
        let seq = self.next as u32;
        self.next += 1;
        // The sending period covers this exchange's share of the schedule.
        self.report.sending = now.duration_since(self.start)
            + Duration::from_nanos(1_000_000_000 / u64::from(self.cfg.rate));
        let client = ((self.next - 1) % u64::from(self.cfg.clients)) as u32;
        let idx = (seq & self.mask) as usize;
        if self.slots[idx].stage != Stage::Free {
            self.report.not_started += 1;
            return;
        }
        self.slots[idx] = Exchange {
            seq,
            client,
            stage: Stage::Selecting,
            started: now,
            offered: Ipv4Addr::UNSPECIFIED,
            server_id: Ipv4Addr::UNSPECIFIED,
        };
        self.outstanding += 1;
        self.report.started += 1;
        self.deadlines
            .push_back((now + self.cfg.timeout, seq, Stage::Selecting));
        let mac = self.cfg.client_mac(client);
        let xid = self.xid_base.wrapping_add(seq).to_be_bytes();
        for &dst in &self.cfg.servers {
            let b = self.tx.push(dst, &self.discover.bytes);
            b[field::XID].copy_from_slice(&xid);
            b[field::CHADDR][..6].copy_from_slice(&mac);
            if let Some(at) = self.discover.client_id {
                b[at + 1..at + 7].copy_from_slice(&mac);
            }
        }
    }

    fn queue_request(&mut self, seq: u32, now: Instant) {
        let slot = self.slots[(seq & self.mask) as usize];
        if slot.seq != seq || slot.stage != Stage::Requesting {
            return;
        }
        self.report.requests += 1;
        self.deadlines
            .push_back((now + self.cfg.timeout, seq, Stage::Requesting));
        let mac = self.cfg.client_mac(slot.client);
        let xid = self.xid_base.wrapping_add(seq).to_be_bytes();
        for &dst in &self.cfg.servers {
            let b = self.tx.push(dst, &self.request.bytes);
            b[field::XID].copy_from_slice(&xid);
            b[field::CHADDR][..6].copy_from_slice(&mac);
            if let Some(at) = self.request.client_id {
                b[at + 1..at + 7].copy_from_slice(&mac);
            }
            if let Some(at) = self.request.requested_ip {
                b[at..at + 4].copy_from_slice(&slot.offered.octets());
            }
            if let Some(at) = self.request.server_id {
                b[at..at + 4].copy_from_slice(&slot.server_id.octets());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;

    const SERVER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// What the fake server does with the `n`-th query of a type (counting from 1).
    #[derive(Debug, Clone, Copy, Default)]
    struct Policy {
        /// Ignore every k-th DHCPDISCOVER.
        ignore_discover_every: Option<u64>,
        /// Ignore every k-th DHCPREQUEST.
        ignore_request_every: Option<u64>,
        /// Answer every k-th DHCPREQUEST with a DHCPNAK.
        nak_every: Option<u64>,
        /// Send every DHCPOFFER twice (a second server answering too).
        double_offer: bool,
    }

    /// What the fake server saw.
    #[derive(Debug, Default)]
    struct Seen {
        discovers: u64,
        requests: u64,
        /// Queries that break what the generator promises (relay fields, client identity,
        /// the offered address and server id in the DHCPREQUEST).
        wrong: Vec<String>,
        macs: std::collections::BTreeSet<[u8; 6]>,
    }

    struct Fake {
        addr: SocketAddrV4,
        stop: Arc<AtomicBool>,
        thread: JoinHandle<Seen>,
    }

    impl Fake {
        fn finish(self) -> Seen {
            self.stop.store(true, Ordering::Relaxed);
            self.thread.join().expect("fake server panicked")
        }
    }

    /// The address a client gets: 192.0.2.10 + the last MAC byte (distinct for ≤ 240
    /// clients from the perfdhcp base).
    fn lease_for(mac: &[u8]) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, 10u8.wrapping_add(mac[5]))
    }

    /// A DHCP server on loopback that answers DISCOVER with OFFER and REQUEST with ACK (to
    /// the query's source address), following `policy`.
    fn fake(policy: Policy) -> Fake {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind fake server");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = match sock.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("not IPv4: {other}"),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Seen::default();
            let mut buf = [0u8; 1500];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let q = match Dhcp4Repr::from_bytes(&buf[..n]) {
                    Ok(q) => q,
                    Err(e) => {
                        seen.wrong.push(format!("unparseable query: {e}"));
                        continue;
                    }
                };
                let mac: [u8; 6] = q.chaddr[..6].try_into().unwrap();
                seen.macs.insert(mac);
                if q.hops != 1 || q.giaddr != Ipv4Addr::LOCALHOST || q.op != Op::REQUEST {
                    seen.wrong.push(format!("relay fields: {q:?}"));
                }
                let mut id = vec![1];
                id.extend_from_slice(&mac);
                if q.options.client_id.as_deref() != Some(&id[..]) {
                    seen.wrong
                        .push(format!("client id {:?}", q.options.client_id));
                }
                let every = |k: Option<u64>, n: u64| k.is_some_and(|k| n.is_multiple_of(k));
                let reply = match q.options.message_type {
                    Some(MessageType::DISCOVER) => {
                        seen.discovers += 1;
                        if every(policy.ignore_discover_every, seen.discovers) {
                            continue;
                        }
                        let mut r = Dhcp4Repr::reply_to(&q, MessageType::OFFER);
                        r.yiaddr = lease_for(&mac);
                        r
                    }
                    Some(MessageType::REQUEST) => {
                        seen.requests += 1;
                        if q.options.requested_ip != Some(lease_for(&mac))
                            || q.options.server_id != Some(SERVER_ID)
                        {
                            seen.wrong.push(format!(
                                "REQUEST for {:?} from {:?}",
                                q.options.requested_ip, q.options.server_id
                            ));
                        }
                        if every(policy.ignore_request_every, seen.requests) {
                            continue;
                        }
                        if every(policy.nak_every, seen.requests) {
                            Dhcp4Repr::reply_to(&q, MessageType::NAK)
                        } else {
                            let mut r = Dhcp4Repr::reply_to(&q, MessageType::ACK);
                            r.yiaddr = lease_for(&mac);
                            r.options.lease_time = Some(3600);
                            r
                        }
                    }
                    other => {
                        seen.wrong.push(format!("message type {other:?}"));
                        continue;
                    }
                };
                let mut r = reply;
                r.options.server_id = Some(SERVER_ID);
                let bytes = r.to_vec().unwrap();
                let _ = sock.send_to(&bytes, from);
                if policy.double_offer && r.options.message_type == Some(MessageType::OFFER) {
                    let _ = sock.send_to(&bytes, from);
                }
            }
            seen
        });
        Fake { addr, stop, thread }
    }

    fn config(server: SocketAddrV4, clients: u32, rate: u32, millis: u64) -> LoadConfig {
        let mut cfg = LoadConfig::new(
            Ipv4Addr::LOCALHOST,
            vec![server],
            clients,
            rate,
            Duration::from_millis(millis),
        );
        cfg.relay_port = 0;
        cfg.timeout = Duration::from_millis(300);
        cfg
    }

    /// Every exchange started ends counted once: ACK, NAK or a drop at either step.
    fn assert_balanced(r: &LoadReport) {
        assert_eq!(
            r.started,
            r.acks + r.naks + r.discover_drops + r.request_drops,
            "{r:?}"
        );
        assert_eq!(r.offers, r.requests, "one DHCPREQUEST per DHCPOFFER: {r:?}");
        assert_eq!(r.offers, r.acks + r.naks + r.request_drops, "{r:?}");
    }

    #[test]
    fn every_exchange_completes_against_a_server_that_answers_all() {
        let server = fake(Policy::default());
        let cfg = config(server.addr, 50, 2000, 500);
        let r = run(&cfg).expect("run");
        let seen = server.finish();
        assert!(seen.wrong.is_empty(), "{:?}", seen.wrong);
        assert_eq!(r.started, 1000, "{r:?}");
        assert_eq!(r.acks, 1000, "{r:?}");
        assert_eq!((r.discover_drops, r.request_drops, r.naks), (0, 0, 0));
        assert_eq!((r.unmatched, r.malformed, r.not_started), (0, 0, 0));
        assert_balanced(&r);
        assert_eq!((seen.discovers, seen.requests), (1000, 1000));
        assert_eq!(seen.macs.len(), 50, "the clients take turns");
        assert!(seen.macs.contains(&PERFDHCP_BASE_MAC));
        assert!(r.drop_pct() == 0.0);
        assert!(
            r.latency_p50 > Duration::ZERO && r.latency_p50 <= r.latency_p99,
            "{r:?}"
        );
        assert!(r.latency_p99 < Duration::from_millis(300), "{r:?}");
        // Open loop at 2000/s: the 1000 exchanges take about 0.5 s.
        assert!(
            r.sending >= Duration::from_millis(450) && r.sending < Duration::from_millis(700),
            "{r:?}"
        );
    }

    #[test]
    fn ignored_requests_are_request_drops() {
        let server = fake(Policy {
            ignore_request_every: Some(10),
            ..Policy::default()
        });
        let cfg = config(server.addr, 241, 4000, 500);
        let r = run(&cfg).expect("run");
        let seen = server.finish();
        assert!(seen.wrong.is_empty(), "{:?}", seen.wrong);
        assert_eq!(r.started, 2000);
        assert_eq!(r.offers, 2000, "{r:?}");
        assert_eq!(r.discover_drops, 0, "{r:?}");
        assert_eq!(r.request_drops, 200, "every 10th REQUEST ignored: {r:?}");
        assert_eq!(r.acks, 1800, "{r:?}");
        assert_balanced(&r);
        assert!((r.drop_pct() - 10.0).abs() < 1e-9, "{}", r.drop_pct());
    }

    #[test]
    fn ignored_discovers_are_discover_drops_and_naks_are_counted() {
        let server = fake(Policy {
            ignore_discover_every: Some(5),
            nak_every: Some(4),
            ..Policy::default()
        });
        let cfg = config(server.addr, 100, 2000, 500);
        let r = run(&cfg).expect("run");
        let seen = server.finish();
        assert!(seen.wrong.is_empty(), "{:?}", seen.wrong);
        assert_eq!(r.started, 1000);
        assert_eq!(r.discover_drops, 200, "{r:?}");
        assert_eq!(r.requests, 800, "{r:?}");
        assert_eq!(r.naks, 200, "{r:?}");
        assert_eq!(r.acks, 600, "{r:?}");
        assert_eq!(r.request_drops, 0, "{r:?}");
        assert_balanced(&r);
        assert!((r.drop_pct() - 20.0).abs() < 1e-9, "{}", r.drop_pct());
    }

    #[test]
    fn a_second_offer_is_a_duplicate_not_a_second_request() {
        let server = fake(Policy {
            double_offer: true,
            ..Policy::default()
        });
        let cfg = config(server.addr, 10, 1000, 300);
        let r = run(&cfg).expect("run");
        let seen = server.finish();
        assert!(seen.wrong.is_empty(), "{:?}", seen.wrong);
        assert_eq!(r.acks, 300, "{r:?}");
        assert_eq!(r.duplicates, 300, "{r:?}");
        assert_eq!(seen.requests, 300);
        assert_balanced(&r);
    }

    #[test]
    fn a_silent_server_drops_everything_within_the_timeout() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(addr) = silent.local_addr().unwrap() else {
            panic!("not IPv4");
        };
        let cfg = config(addr, 10, 1000, 200);
        let t = Instant::now();
        let r = run(&cfg).expect("run");
        assert_eq!(r.started, 200);
        assert_eq!(r.discover_drops, 200, "{r:?}");
        assert_eq!((r.acks, r.offers, r.requests), (0, 0, 0));
        assert_balanced(&r);
        assert!((r.drop_pct() - 100.0).abs() < 1e-9);
        // The sending period, then one timeout for the last DHCPDISCOVER.
        assert!(
            t.elapsed() < Duration::from_millis(200 + 300 + 200),
            "{:?}",
            t.elapsed()
        );
        assert!(r.elapsed >= Duration::from_millis(200 + 290), "{r:?}");
    }

    #[test]
    fn max_exchanges_stops_early() {
        let server = fake(Policy::default());
        let mut cfg = config(server.addr, 5, 1000, 5000);
        cfg.max_exchanges = Some(20);
        let r = run(&cfg).expect("run");
        server.finish();
        assert_eq!((r.started, r.acks), (20, 20), "{r:?}");
        assert!(r.elapsed < Duration::from_secs(1), "{r:?}");
    }

    #[test]
    fn client_macs_count_up_from_the_base_like_perfdhcp() {
        let cfg = LoadConfig::new(
            Ipv4Addr::LOCALHOST,
            vec![ALL_SERVERS],
            241,
            1,
            Duration::ZERO,
        );
        assert_eq!(cfg.client_mac(0), PERFDHCP_BASE_MAC);
        assert_eq!(cfg.client_mac(240), [0x00, 0x0c, 0x01, 0x02, 0x03, 0xf4]);
        assert_eq!(cfg.client_mac(252), [0x00, 0x0c, 0x01, 0x02, 0x04, 0x00]);
        let mut top = cfg.clone();
        top.base_mac = [0xff; 6];
        assert_eq!(top.client_mac(1), [0; 6]);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let ok = config(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9), 1, 1, 1);
        for (what, cfg) in [
            (
                "clients",
                LoadConfig {
                    clients: 0,
                    ..ok.clone()
                },
            ),
            (
                "rate",
                LoadConfig {
                    rate: 0,
                    ..ok.clone()
                },
            ),
            (
                "servers",
                LoadConfig {
                    servers: vec![],
                    ..ok.clone()
                },
            ),
            (
                "timeout",
                LoadConfig {
                    timeout: Duration::ZERO,
                    ..ok.clone()
                },
            ),
        ] {
            let e = run(&cfg).expect_err(what);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
        }
    }

    #[test]
    fn histogram_quantiles_are_within_three_percent() {
        let mut h = Histogram::new();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        for (q, want) in [(0.5, 5000.0), (0.99, 9900.0), (0.01, 100.0)] {
            let got = h.quantile(q).as_micros() as f64;
            assert!((got - want).abs() / want <= 0.035, "q {q}: {got} vs {want}");
        }
        assert_eq!(h.max, 10_000);
        for us in [0u64, 1, 63, 64, 65, 1000, 1 << 20, u64::MAX] {
            let i = Histogram::index(us);
            assert!(i < Histogram::BUCKETS);
            assert!(Histogram::low(i) <= us, "{us}");
        }
    }

    /// A responder that costs next to nothing: answers each query in place (op BOOTREPLY,
    /// DHCPOFFER for a DHCPDISCOVER, DHCPACK for a DHCPREQUEST, `yiaddr` set), batched,
    /// until `stop`.
    fn echo_responder() -> (SocketAddrV4, Arc<AtomicBool>, JoinHandle<u64>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(addr) = sock.local_addr().unwrap() else {
            panic!("not IPv4");
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let fd = sock.as_raw_fd();
            let mut rx = sys::RxBatch::new();
            let mut tx = sys::TxBatch::new();
            let mut answered = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let Ok(n) = rx.recv(fd) else {
                    let _ = sys::poll(fd, false, Duration::from_millis(5));
                    continue;
                };
                for i in 0..n {
                    let (src, q, _) = rx.get(i);
                    let b = tx.push(src, q);
                    b[field::OP] = 2;
                    b[field::YIADDR].copy_from_slice(&[192, 0, 2, 10]);
                    // Option 53 comes first in the generator's queries.
                    let at = field::OPTIONS;
                    if b.len() > at + 2 && b[at] == code::MESSAGE_TYPE {
                        b[at + 2] = if b[at + 2] == 1 { 2 } else { 5 };
                    }
                }
                while tx.len() > 0 {
                    match tx.flush(fd) {
                        Ok(k) => answered += k as u64,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            let _ = sys::poll(fd, true, Duration::from_millis(1));
                        }
                        Err(_) => {}
                    }
                }
            }
            answered
        });
        (addr, stop, thread)
    }

    /// The generator's own cost at a high rate, against [`echo_responder`] on loopback:
    /// `cargo test --release -p examples --lib dhcpload::tests::cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: run it alone, in release"]
    fn cost_at_50k_dora_per_second() {
        let (addr, stop, thread) = echo_responder();
        for rate in [10_000, 50_000, 100_000] {
            let cfg = config(addr, 241, rate, 2000);
            let r = run(&cfg).expect("run");
            println!(
                "rate {rate}: {r}; user {:?} system {:?} over {:?}",
                r.cpu_user, r.cpu_system, r.sending
            );
            if rate == 50_000 {
                assert!(r.drop_pct() < 1.0, "{r}");
                assert!(r.max_lag < Duration::from_millis(50), "{r}");
            }
        }
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
    }
}
