//! The lab's client side: a DHCP client on dhcp4-ha's codec (DORA, then renewing at T1 by
//! unicast to the server identifier and rebinding at T2 by broadcast, each exchange recorded
//! with who answered), and the probes through the VIPs: a TCP connection carrying a counter
//! every 10 ms and a UDP stream every 5 ms, both echoed by the upstream server.
//!
//! Every time is a [`Duration`] since the lab's epoch (an [`Instant`] the caller picks).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dhcp4_ha::wire::{Dhcp4Repr, FLAG_BROADCAST, MessageType};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::topology::{LAN_IF, SERVER, TCP_PORT, UDP_PORT};
use super::{LabError, LabResult};
use crate::netns::Node;

/// The UDP stream's interval.
pub const UDP_EVERY: Duration = Duration::from_millis(5);
/// The TCP counter's interval.
pub const TCP_EVERY: Duration = Duration::from_millis(10);
/// How often an unanswered DHCP request is sent again.
pub const DHCP_RETRY: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A lease the client holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    /// `yiaddr`.
    pub address: Ipv4Addr,
    /// Prefix length from the subnet mask option (24 when absent).
    pub prefix: u8,
    /// The server identifier (option 54).
    pub server_id: Ipv4Addr,
    /// The routers option (3), first address.
    pub router: Option<Ipv4Addr>,
    /// Lease time (option 51), seconds.
    pub lease_time: u32,
    /// T1 (option 58), seconds.
    pub renewal_time: u32,
    /// T2 (option 59), seconds.
    pub rebinding_time: u32,
}

/// Which RFC 2131 exchange a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DhcpPhase {
    /// DISCOVER / OFFER / REQUEST / ACK by broadcast.
    Selecting,
    /// REQUEST unicast to the server identifier (after T1).
    Renewing,
    /// REQUEST broadcast (after T2).
    Rebinding,
}

/// One DHCP exchange: a request (and its retransmissions) and the answer, if any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DhcpExchange {
    /// Which exchange.
    pub phase: DhcpPhase,
    /// When the first request went out.
    pub sent: Duration,
    /// How many requests went out.
    pub attempts: u32,
    /// When the answer arrived.
    pub answered: Option<Duration>,
    /// ACK or NAK.
    pub answer: Option<String>,
    /// The answer's server identifier.
    pub server_id: Option<Ipv4Addr>,
    /// The answer's IP source address.
    pub from: Option<Ipv4Addr>,
    /// The lease the answer gave.
    pub lease: Option<Lease>,
}

/// What the DHCP client recorded.
#[derive(Debug, Default)]
pub struct DhcpLog {
    /// Every exchange, in order.
    pub exchanges: Vec<DhcpExchange>,
    /// The last error, if the client gave up.
    pub error: Option<String>,
}

fn mac_of(node: &Node) -> LabResult<[u8; 6]> {
    // /sys shows the namespace of whoever mounted it: ask inside the node.
    let out = node.output(&["cat", &format!("/sys/class/net/{LAN_IF}/address")]);
    let s = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u8> = s
        .trim()
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    v.try_into()
        .map_err(|_| LabError(format!("no MAC address on the client's {LAN_IF}: {s:?}")))
}

/// A DHCP client on UDP port 68 of the client's LAN interface.
#[derive(Debug)]
pub struct DhcpClient {
    node: Node,
    sock: UdpSocket,
    mac: [u8; 6],
    xid: u32,
    epoch: Instant,
}

impl DhcpClient {
    /// Opens the client's socket in `node` (port 68 on the LAN interface, broadcast allowed).
    pub fn new(node: &Node, epoch: Instant) -> LabResult<Self> {
        let mac = mac_of(node)?;
        let sock = node
            .enter(|| -> std::io::Result<UdpSocket> {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.set_broadcast(true)?;
                s.bind_device(Some(LAN_IF.as_bytes()))?;
                s.bind(&SockAddr::from(SocketAddrV4::new(
                    Ipv4Addr::UNSPECIFIED,
                    68,
                )))?;
                s.set_read_timeout(Some(Duration::from_millis(50)))?;
                Ok(UdpSocket::from(s))
            })
            .map_err(|e| LabError(format!("DHCP client socket: {e}")))?;
        let xid = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]) ^ 0x4841_4c42;
        Ok(Self {
            node: node.clone(),
            sock,
            mac,
            xid,
            epoch,
        })
    }

    fn request(&self, t: MessageType, broadcast: bool) -> Dhcp4Repr {
        let mut q = Dhcp4Repr {
            xid: self.xid,
            flags: if broadcast { FLAG_BROADCAST } else { 0 },
            ..Dhcp4Repr::default()
        };
        q.chaddr[..6].copy_from_slice(&self.mac);
        q.options.message_type = Some(t);
        let mut id = vec![1];
        id.extend_from_slice(&self.mac);
        q.options.client_id = Some(id);
        q.options.parameter_request_list = Some(vec![1, 3, 51, 54, 58, 59]);
        q
    }

    fn send(&self, q: &Dhcp4Repr, to: Ipv4Addr) -> LabResult<()> {
        let bytes = q
            .to_vec()
            .map_err(|e| LabError(format!("encode DHCP request: {e}")))?;
        self.sock
            .send_to(&bytes, SocketAddrV4::new(to, 67))
            .map_err(|e| LabError(format!("send DHCP request to {to}: {e}")))?;
        Ok(())
    }

    /// Waits until `deadline` for an answer to our xid of one of `types`.
    fn receive(
        &self,
        types: &[MessageType],
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Option<(Dhcp4Repr, Ipv4Addr, Instant)> {
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let at = Instant::now();
            let Ok(r) = Dhcp4Repr::from_bytes(&buf[..n]) else {
                continue;
            };
            let from = match from {
                SocketAddr::V4(a) => *a.ip(),
                SocketAddr::V6(_) => continue,
            };
            if r.xid == self.xid && r.message_type().is_some_and(|t| types.contains(&t)) {
                return Some((r, from, at));
            }
        }
        None
    }

    fn since(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.epoch)
    }

    /// DISCOVER / OFFER / REQUEST / ACK by broadcast, each step retried every second until
    /// `timeout`; on ACK configures the address and the default route in the client.
    pub fn acquire(&mut self, timeout: Duration, stop: &AtomicBool) -> LabResult<DhcpExchange> {
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        let mut attempts = 0;
        while Instant::now() < deadline {
            if stop.load(Ordering::Relaxed) {
                return Err(LabError("interrupted".into()));
            }
            self.xid = self.xid.wrapping_add(1);
            attempts += 1;
            self.send(
                &self.request(MessageType::DISCOVER, true),
                Ipv4Addr::BROADCAST,
            )?;
            let Some((offer, _, _)) = self.receive(
                &[MessageType::OFFER],
                (Instant::now() + DHCP_RETRY).min(deadline),
                stop,
            ) else {
                continue;
            };
            let Some(sid) = offer.options.server_id else {
                continue;
            };
            let mut req = self.request(MessageType::REQUEST, true);
            req.options.requested_ip = Some(offer.yiaddr);
            req.options.server_id = Some(sid);
            self.send(&req, Ipv4Addr::BROADCAST)?;
            let Some((ack, from, at)) = self.receive(
                &[MessageType::ACK, MessageType::NAK],
                (Instant::now() + DHCP_RETRY).min(deadline),
                stop,
            ) else {
                continue;
            };
            if ack.message_type() != Some(MessageType::ACK) {
                continue;
            }
            let lease = lease_of(&ack)?;
            self.configure(&lease)?;
            return Ok(DhcpExchange {
                phase: DhcpPhase::Selecting,
                sent: self.since(started),
                attempts,
                answered: Some(self.since(at)),
                answer: Some("ACK".into()),
                server_id: Some(lease.server_id),
                from: Some(from),
                lease: Some(lease),
            });
        }
        Err(LabError(format!(
            "the client got no lease within {timeout:?} ({attempts} DISCOVERs)"
        )))
    }

    /// Puts the lease's address on the client's LAN interface and the routers option as its
    /// default route.
    fn configure(&self, lease: &Lease) -> LabResult<()> {
        let cidr = format!("{}/{}", lease.address, lease.prefix);
        let out = self
            .node
            .output(&["ip", "addr", "replace", &cidr, "dev", LAN_IF]);
        if !out.status.success() {
            return Err(LabError(format!(
                "ip addr replace {cidr}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        if let Some(gw) = lease.router {
            let gw = gw.to_string();
            let out = self
                .node
                .output(&["ip", "route", "replace", "default", "via", &gw]);
            if !out.status.success() {
                return Err(LabError(format!(
                    "ip route replace default via {gw}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        }
        Ok(())
    }

    /// Runs the bound client on a thread: renews at T1 (unicast to the server identifier, sent
    /// again every second), rebinds at T2 (broadcast, every second) and records each exchange
    /// in `log`, until `stop`.
    pub fn spawn_renewals(
        mut self,
        lease: Lease,
        bound_at: Instant,
        log: Arc<Mutex<DhcpLog>>,
        stop: Arc<AtomicBool>,
    ) -> JoinHandle<()> {
        std::thread::spawn(move || {
            if let Err(e) = self.renew_loop(lease, bound_at, &log, &stop) {
                lock(&log).error = Some(e.0);
            }
        })
    }

    fn renew_loop(
        &mut self,
        mut lease: Lease,
        mut bound_at: Instant,
        log: &Mutex<DhcpLog>,
        stop: &AtomicBool,
    ) -> LabResult<()> {
        while !stop.load(Ordering::Relaxed) {
            let t1 = bound_at + Duration::from_secs(lease.renewal_time.into());
            let t2 = bound_at + Duration::from_secs(lease.rebinding_time.into());
            let expiry = bound_at + Duration::from_secs(lease.lease_time.into());
            // Bound: wait for T1.
            while Instant::now() < t1 {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            self.xid = self.xid.wrapping_add(1);
            let mut exchange: Option<usize> = None;
            let mut answered = None;
            while answered.is_none() && !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= expiry {
                    return Err(LabError(format!(
                        "the lease on {} expired without an answer to the renewals",
                        lease.address
                    )));
                }
                let phase = if now >= t2 {
                    DhcpPhase::Rebinding
                } else {
                    DhcpPhase::Renewing
                };
                let mut req = self.request(MessageType::REQUEST, false);
                req.ciaddr = lease.address;
                let to = match phase {
                    DhcpPhase::Renewing => lease.server_id,
                    _ => Ipv4Addr::BROADCAST,
                };
                self.send(&req, to)?;
                {
                    let mut l = lock(log);
                    let same = exchange.is_some_and(|i| l.exchanges[i].phase == phase);
                    if same {
                        if let Some(i) = exchange {
                            l.exchanges[i].attempts += 1;
                        }
                    } else {
                        l.exchanges.push(DhcpExchange {
                            phase,
                            sent: self.since(now),
                            attempts: 1,
                            answered: None,
                            answer: None,
                            server_id: None,
                            from: None,
                            lease: None,
                        });
                        exchange = Some(l.exchanges.len() - 1);
                    }
                }
                let mut until = (now + DHCP_RETRY).min(expiry);
                if phase == DhcpPhase::Renewing {
                    until = until.min(t2);
                }
                answered = self.receive(&[MessageType::ACK, MessageType::NAK], until, stop);
            }
            let Some((ack, from, at)) = answered else {
                return Ok(());
            };
            let kind = ack.message_type();
            let new_lease = if kind == Some(MessageType::ACK) {
                Some(lease_of(&ack)?)
            } else {
                None
            };
            if let Some(i) = exchange {
                let mut l = lock(log);
                let x = &mut l.exchanges[i];
                x.answered = Some(self.since(at));
                x.answer = Some(if new_lease.is_some() { "ACK" } else { "NAK" }.into());
                x.server_id = ack.options.server_id;
                x.from = Some(from);
                x.lease.clone_from(&new_lease);
            }
            match new_lease {
                Some(l) => {
                    lease = l;
                    bound_at = at;
                }
                None => {
                    return Err(LabError(format!(
                        "DHCPNAK from {from} for {}",
                        lease.address
                    )));
                }
            }
        }
        Ok(())
    }
}

fn lease_of(ack: &Dhcp4Repr) -> LabResult<Lease> {
    let o = &ack.options;
    let server_id = o
        .server_id
        .ok_or_else(|| LabError("DHCPACK without a server identifier".into()))?;
    let lease_time = o
        .lease_time
        .ok_or_else(|| LabError("DHCPACK without a lease time".into()))?;
    Ok(Lease {
        address: ack.yiaddr,
        prefix: o
            .subnet_mask
            .map_or(24, |m| u32::from(m).leading_ones() as u8),
        server_id,
        router: o.routers.as_ref().and_then(|r| r.first().copied()),
        lease_time,
        renewal_time: o.renewal_time.unwrap_or(lease_time / 2),
        rebinding_time: o.rebinding_time.unwrap_or(lease_time / 8 * 7),
    })
}

/// The server's TCP and UDP echo services, on threads, until dropped.
#[derive(Debug)]
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServer {
    /// Listens on the server's TCP and UDP echo ports in `node`.
    pub fn start(node: &Node) -> LabResult<Self> {
        let (listener, udp) = node
            .enter(|| -> std::io::Result<(TcpListener, UdpSocket)> {
                let l = TcpListener::bind((SERVER, TCP_PORT))?;
                let u = UdpSocket::bind((SERVER, UDP_PORT))?;
                Ok((l, u))
            })
            .map_err(|e| LabError(format!("echo server: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let s = stop.clone();
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| LabError(e.to_string()))?;
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&buf[..n], from);
                }
            }
        }));
        let s = stop.clone();
        listener
            .set_nonblocking(true)
            .map_err(|e| LabError(e.to_string()))?;
        threads.push(std::thread::spawn(move || {
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        let s = s.clone();
                        conns.push(std::thread::spawn(move || {
                            let _ = c.set_nonblocking(false);
                            let _ = c.set_nodelay(true);
                            let _ = c.set_read_timeout(Some(Duration::from_millis(100)));
                            let mut buf = [0u8; 4096];
                            while !s.load(Ordering::Relaxed) {
                                match c.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(n) => {
                                        if c.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                    Err(e)
                                        if matches!(
                                            e.kind(),
                                            std::io::ErrorKind::WouldBlock
                                                | std::io::ErrorKind::TimedOut
                                                | std::io::ErrorKind::Interrupted
                                        ) => {}
                                    Err(_) => break,
                                }
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        }));
        Ok(Self { stop, threads })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What the probes recorded.
#[derive(Debug, Default)]
pub struct ProbeLog {
    /// UDP probes sent.
    pub udp_sent: u64,
    /// UDP echoes: (when the probe was sent, when its echo arrived).
    pub udp_echoes: Vec<(Duration, Duration)>,
    /// When each TCP counter (the index) was written.
    pub tcp_sent: Vec<Duration>,
    /// TCP echoes: (counter, when it arrived).
    pub tcp_echoes: Vec<(u64, Duration)>,
    /// How the TCP connection ended, if it did (reset, EOF, error), and when.
    pub tcp_error: Option<(Duration, String)>,
}

/// The client's TCP connection and UDP stream to the server, on threads, until stopped.
#[derive(Debug)]
pub struct Probes {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// What they recorded.
    pub log: Arc<Mutex<ProbeLog>>,
}

impl Probes {
    /// Connects to the server from `node` (through the default route) and starts sending.
    pub fn start(node: &Node, epoch: Instant) -> LabResult<Self> {
        let (tcp, udp) = node
            .enter(|| -> std::io::Result<(TcpStream, UdpSocket)> {
                let t = TcpStream::connect_timeout(
                    &SocketAddr::from((SERVER, TCP_PORT)),
                    Duration::from_secs(5),
                )?;
                let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
                u.connect((SERVER, UDP_PORT))?;
                Ok((t, u))
            })
            .map_err(|e| LabError(format!("client to server {SERVER} through the VIPs: {e}")))?;
        let io = |e: std::io::Error| LabError(e.to_string());
        tcp.set_nodelay(true).map_err(io)?;
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io)?;
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(ProbeLog::default()));
        let since = move || epoch.elapsed();
        let mut threads = Vec::new();

        // UDP sender: [seq, sent_ns] every 5 ms.
        let (s, l, u) = (stop.clone(), log.clone(), udp.try_clone().map_err(io)?);
        threads.push(std::thread::spawn(move || {
            let mut seq = 0u64;
            let mut next = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let mut msg = [0u8; 16];
                msg[..8].copy_from_slice(&seq.to_be_bytes());
                msg[8..].copy_from_slice(&(since().as_nanos() as u64).to_be_bytes());
                // Errors (e.g. no route while the gateway's ARP entry fails) count as losses.
                let _ = u.send(&msg);
                seq += 1;
                lock(&l).udp_sent = seq;
                next += UDP_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        }));
        // UDP receiver.
        let (s, l) = (stop.clone(), log.clone());
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !s.load(Ordering::Relaxed) {
                if let Ok(16) = udp.recv(&mut buf) {
                    let at = since();
                    let sent = u64::from_be_bytes(buf[8..16].try_into().unwrap_or_default());
                    lock(&l).udp_echoes.push((Duration::from_nanos(sent), at));
                }
            }
        }));
        // TCP writer: an 8-byte counter every 10 ms.
        let (s, l, mut w) = (stop.clone(), log.clone(), tcp.try_clone().map_err(io)?);
        threads.push(std::thread::spawn(move || {
            // A stalled connection fills the send buffer: writes time out and are taken up
            // again, so that the thread always sees `stop`.
            let _ = w.set_write_timeout(Some(Duration::from_millis(100)));
            let mut n = 0u64;
            let mut next = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let bytes = n.to_be_bytes();
                let mut off = 0;
                while off < bytes.len() && !s.load(Ordering::Relaxed) {
                    match w.write(&bytes[off..]) {
                        Ok(k) => off += k,
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock
                                    | std::io::ErrorKind::TimedOut
                                    | std::io::ErrorKind::Interrupted
                            ) => {}
                        Err(e) => {
                            let mut g = lock(&l);
                            g.tcp_error
                                .get_or_insert_with(|| (since(), format!("write: {e}")));
                            return;
                        }
                    }
                }
                if off < bytes.len() {
                    return;
                }
                n += 1;
                lock(&l).tcp_sent.push(since());
                next += TCP_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        }));
        // TCP reader.
        let (s, l, mut r) = (stop.clone(), log.clone(), tcp);
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut pending: Vec<u8> = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match r.read(&mut buf) {
                    Ok(0) => {
                        lock(&l).tcp_error.get_or_insert_with(|| {
                            (since(), "the server closed the connection".into())
                        });
                        return;
                    }
                    Ok(k) => {
                        let at = since();
                        pending.extend_from_slice(&buf[..k]);
                        let whole = pending.len() / 8 * 8;
                        let mut g = lock(&l);
                        for c in pending[..whole].chunks_exact(8) {
                            let v = u64::from_be_bytes(c.try_into().unwrap_or_default());
                            g.tcp_echoes.push((v, at));
                        }
                        drop(g);
                        pending.drain(..whole);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        lock(&l)
                            .tcp_error
                            .get_or_insert_with(|| (since(), format!("read: {e}")));
                        return;
                    }
                }
            }
        }));
        Ok(Self { stop, threads, log })
    }

    /// Stops the probes and waits for their threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        self.stop();
    }
}
