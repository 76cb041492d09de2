//! The event loop (tokio, current thread): queries, control commands, timers and signals in;
//! lease rows, replies and log lines out. Every DHCP decision is dhcp4-ha's [`Server`].
//!
//! One loop turn:
//! 1. take what is ready: up to [`RX_BUDGET`] datagrams (each straight into
//!    [`Server::handle_packet`]), or a control command, or a timer (lease reclamation, LFC);
//! 2. collect every [`LeaseChange`] the turn produced and append their rows to the memfile
//!    with **one** `write` (group commit; `fdatasync` too with `--fsync`);
//! 3. [`Server::leases_persisted`] up to the last change: the replies held for those rows are
//!    released;
//! 4. send every released reply ([`Server::poll_transmit`]).
//!
//! So a reply leaves only after the row of its lease has reached the operating system (the
//! disk with `--fsync`): a crash after a client got its ACK cannot lose the lease.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dhcp4_ha::config::{self, Config, Dhcp4, IncludeLoader, SocketType};
use dhcp4_ha::control::Answer;
use dhcp4_ha::control::Request;
use dhcp4_ha::control::handler::ControlHandler;
use dhcp4_ha::ha::{HaConfig, HaEvent, merge_leases};
use dhcp4_ha::http::{Response as HttpResponse, ServerConn, http_date};
use dhcp4_ha::lease::{LeaseState, LeaseStore as _, MemoryStore};
use dhcp4_ha::server::{
    CLIENT_PORT, ChangeKind, LeaseChange, Origin, RxMeta, SERVER_PORT, Server, ServerOptions,
    Transmit,
};
use dhcp4_ha::wire::{Dhcp4Repr, MessageType};
use socket2::Socket;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use super::alarm::Alarm;
use super::control::{self, Action};
use super::ha::{self, HaNode, ListenerMsg, PeerAnswer};
use super::log::{Logs, Severity, klog};
use super::store::{self, LeaseFile, Lfc};
use super::{net, sys};

/// Datagrams handled per loop turn at most (one group commit covers them all).
pub(crate) const RX_BUDGET: usize = 256;

/// Kea's default lease file.
pub(crate) const DEFAULT_LEASE_FILE: &str = "/var/lib/kea/kea-leases4.csv";

/// Largest control command accepted.
const MAX_COMMAND: usize = 1 << 20;

/// How long a control client may take to send its command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle HTTP control connection stays open.
const HTTP_IDLE: Duration = Duration::from_secs(30);

/// How the daemon was started.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `-c FILE`.
    pub(crate) config: PathBuf,
    /// `-p PORT`: the server port (67).
    pub(crate) server_port: u16,
    /// `-P PORT`: the client port (68).
    pub(crate) client_port: u16,
    /// `--fsync`: `fdatasync` the lease file in every group commit.
    pub(crate) fsync: bool,
    /// `--http ADDR:PORT`: serve control commands over HTTP too.
    pub(crate) http: Option<SocketAddr>,
    /// `--clock-offset SECONDS`: added to the wall clock the HA service sees (tests of
    /// Kea's clock-skew checks).
    pub(crate) clock_offset: i64,
    /// `--ha-connections N`: connections to each HA peer.
    pub(crate) ha_connections: usize,
}

/// Resolves `<?include "path"?>` relative to the configuration file's directory.
#[derive(Debug)]
struct FileIncludes(PathBuf);

impl IncludeLoader for FileIncludes {
    fn load(&mut self, path: &str) -> Result<String, String> {
        let p = self.0.join(path);
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    }
}

/// Reads and checks the configuration file.
pub(crate) fn read_config(path: &Path) -> Result<Config, config::ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| config::ConfigError {
        kind: config::ErrorKind::Include,
        message: format!("unable to open file {name}: {e}"),
        span: None,
        key: None,
    })?;
    let dir = path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    config::parse(&text, &name, &mut FileIncludes(dir))
}

/// The wall clock in unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An interface the server listens on.
#[derive(Debug, Clone)]
struct Iface {
    index: u32,
    name: String,
    addrs: Vec<Ipv4Addr>,
}

/// The configured interfaces (`interfaces-config.interfaces`) as they are now.
#[derive(Debug)]
struct Ifaces {
    /// `iface` or `iface/addr` entries.
    specs: Vec<(String, Option<Ipv4Addr>)>,
    /// `*`: every interface but loopback.
    all: bool,
    list: Vec<Iface>,
    refreshed: Option<Instant>,
}

impl Ifaces {
    fn new(cfg: &Dhcp4) -> Self {
        let mut specs = Vec::new();
        let mut all = false;
        for s in &cfg.interfaces_config.interfaces {
            if s == "*" {
                all = true;
            } else if let Some((name, addr)) = s.split_once('/') {
                specs.push((name.to_owned(), addr.parse().ok()));
            } else {
                specs.push((s.clone(), None));
            }
        }
        let mut me = Self {
            specs,
            all,
            list: Vec::new(),
            refreshed: None,
        };
        me.refresh(Instant::now());
        me
    }

    fn refresh(&mut self, now: Instant) {
        self.refreshed = Some(now);
        let Ok(all) = sys::interfaces() else { return };
        self.list = all
            .into_iter()
            .filter_map(|(index, name, mut addrs)| {
                if self.all && name != "lo" {
                    return Some(Iface { index, name, addrs });
                }
                let (_, want) = self.specs.iter().find(|(n, _)| *n == name)?;
                if let Some(a) = want
                    && let Some(p) = addrs.iter().position(|x| x == a)
                {
                    let a = addrs.remove(p);
                    addrs.insert(0, a);
                }
                Some(Iface { index, name, addrs })
            })
            .collect();
    }

    /// The interface of index `i` if the server listens on it (re-reading the interfaces at
    /// most once a second when it is unknown: it may have appeared, or got an address).
    fn get(&mut self, i: u32, now: Instant) -> Option<&Iface> {
        let known = self
            .list
            .iter()
            .any(|f| f.index == i && !f.addrs.is_empty());
        if !known
            && self
                .refreshed
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.refresh(now);
        }
        self.list.iter().find(|f| f.index == i)
    }

    fn names(&self) -> String {
        let v: Vec<&str> = self.list.iter().map(|f| f.name.as_str()).collect();
        v.join(", ")
    }
}

/// A control command, whether it came over HTTP, and where its answer goes.
type ControlMsg = (Vec<u8>, bool, oneshot::Sender<String>);

/// The daemon's state.
struct Daemon {
    opts: Options,
    cfg: Dhcp4,
    server: Server,
    handler: ControlHandler,
    file: Option<LeaseFile>,
    logs: Logs,
    ifaces: Ifaces,
    udp: net::UdpPort,
    packet: Option<Socket>,
    socket_type: SocketType,
    lfc_every: Option<Duration>,
    next_lfc: Option<Instant>,
    /// Receive slots (`recvmmsg`).
    rx: sys::RxBatch,
    /// The replies of the turn, sent after the group commit.
    out: net::Outbox,
    /// Receive coalescing under load.
    coalesce: net::Coalesce,
    /// Datagrams from interfaces the server does not listen on.
    foreign: u64,
    /// Replies that could not be sent.
    send_errors: u64,
    /// Queries dropped while the service was disabled (`dhcp-disable`).
    disabled_drops: u64,
    /// The HA service, when `libdhcp_ha.so` is configured.
    ha: Option<HaNode>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("leases", &self.server.store().len())
            .finish_non_exhaustive()
    }
}

fn hw_text(tx_hw: &[u8], htype: u8) -> String {
    let mut s = format!("hwtype={htype} ");
    dhcp4_ha::lease::memfile::hex_colon(tx_hw, &mut s);
    s
}

fn lease_file_name(cfg: &Dhcp4) -> String {
    cfg.lease_database
        .name
        .clone()
        .unwrap_or_else(|| DEFAULT_LEASE_FILE.into())
}

impl Daemon {
    fn persist(cfg: &Dhcp4) -> bool {
        cfg.lease_database.persist.unwrap_or(true)
    }

    fn lfc_interval(cfg: &Dhcp4) -> Option<Duration> {
        match cfg.lease_database.lfc_interval.unwrap_or(3600) {
            0 => None,
            s => Some(Duration::from_secs(u64::from(s))),
        }
    }

    fn note_config(&mut self) {
        if let Some(ha) = &self.ha {
            let c = ha.service.config();
            klog!(
                self.logs,
                "ha-hooks",
                Info,
                "HA_CONFIGURED",
                "this server {} is {} in {} mode, {} peers; DHCP service follows the HA state",
                c.this_server_name,
                c.this_server().role.name(),
                c.mode.name(),
                c.peers.len()
            );
        }
        if self.cfg.multi_threading.enable == Some(true) {
            klog!(
                self.logs,
                "dhcp4",
                Info,
                "DHCP4_MULTI_THREADING_INFO",
                "enable-multi-threading ignored: dhcp4d runs one event loop"
            );
        }
    }

    // ------------------------------------------------------------------ packets

    /// Reads and handles up to [`RX_BUDGET`] datagrams, [`sys::RX_BATCH`] per `recvmmsg`.
    /// Returns whether the socket is drained, and how many datagrams were read.
    fn receive(&mut self, now: Instant, unix: u64) -> (bool, usize) {
        let fd = self.udp.fd();
        let mut read = 0;
        let mut calls = 0;
        while read < RX_BUDGET && calls < RX_BUDGET {
            calls += 1;
            let n = match self.rx.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (true, read),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // A datagram-level error (e.g. a queued ICMP error): note it, go on.
                    klog!(
                        self.logs,
                        "packets",
                        Debug,
                        "DHCP4_PACKET_RECEIVE_FAIL",
                        "receive: {e}"
                    );
                    continue;
                }
            };
            read += n;
            for i in 0..n {
                let (rx, bytes) = self.rx.get(i);
                let Some(iface) = self.ifaces.get(rx.ifindex, now) else {
                    self.foreign += 1;
                    continue;
                };
                if !self.handler.is_enabled(now) {
                    // `dhcp-disable`: queries are dropped unanswered.
                    self.disabled_drops += 1;
                    continue;
                }
                let class = match &mut self.ha {
                    Some(ha) => match ha.classify(now, bytes) {
                        Some(class) => class,
                        // Out of this server's scopes, or the HA state turns DHCP off.
                        None => continue,
                    },
                    None => None,
                };
                let meta = RxMeta {
                    ifindex: rx.ifindex,
                    ifname: &iface.name,
                    if_addrs: &iface.addrs,
                    src: rx.src,
                    dst: rx.dst,
                };
                // With HA the query carries its `HA_<server>` class (split pools of
                // load-balancing).
                self.server
                    .handle_packet_classified(now, unix, &meta, bytes, class);
            }
            if n < sys::RX_BATCH {
                return (true, read);
            }
        }
        (false, read)
    }

    /// Logs one lease change in Kea's words.
    fn log_change(logs: &mut Logs, ch: &LeaseChange) {
        let l = &ch.lease;
        match (ch.kind, ch.origin, l.state) {
            (ChangeKind::Deleted, Origin::Reclamation, _) => klog!(
                logs,
                "alloc-engine",
                Debug,
                "ALLOC_ENGINE_V4_LEASE_RECLAIM",
                "reclaiming expired lease for address {}",
                l.addr
            ),
            (ChangeKind::Deleted, Origin::Dhcp, _) => klog!(
                logs,
                "leases",
                Info,
                "DHCP4_RELEASE",
                "[hwtype=1 {}]: address {} was released properly.",
                hex(&l.hwaddr),
                l.addr
            ),
            (_, Origin::Dhcp, LeaseState::Declined) => klog!(
                logs,
                "leases",
                Info,
                "DHCP4_DECLINE_LEASE",
                "Received DHCPDECLINE for addr {}: lease is declined and will be unavailable for {} seconds",
                l.addr,
                l.valid_lifetime
            ),
            _ => {}
        }
    }

    /// Writes the rows of every pending lease change in one commit, releases the replies
    /// held for them, and sends every releasable reply.
    fn flush(&mut self) {
        // HA: merging a fetched page makes more changes; a few rounds settle everything.
        for _ in 0..16 {
            self.commit_changes();
            if !self.drive_ha() {
                break;
            }
        }
        while let Some(tx) = self.server.poll_transmit() {
            self.send(tx);
        }
        if !self.out.is_empty() {
            let udp = self.udp.fd();
            let packet = self.packet.as_ref().map(AsRawFd::as_raw_fd);
            let (logs, errors) = (&mut self.logs, &mut self.send_errors);
            self.out.send(udp, packet, |tx, dst, e| {
                *errors += 1;
                klog!(
                    logs,
                    "packets",
                    Error,
                    "DHCP4_PACKET_SEND_FAIL",
                    "[{}], tid=0x{:x}: failed to send DHCPv4 packet {:?} to {dst}: {e}",
                    hw_text(tx.client_hw_addr(), tx.htype),
                    tx.xid,
                    tx.message_type
                );
            });
        }
    }

    /// Writes the rows of the pending lease changes in one commit (and hands them to the HA
    /// service), and releases the replies held for them.
    fn commit_changes(&mut self) {
        let mut last = None;
        let now = Instant::now();
        while let Some(ch) = self.server.poll_lease_change() {
            Self::log_change(&mut self.logs, &ch);
            if let Some(f) = &mut self.file {
                f.push(&ch);
            }
            if let Some(ha) = &mut self.ha {
                ha.lease_changed(now, &ch);
            }
            last = Some(ch.seq);
        }
        if let Some(seq) = last {
            let ok = match &mut self.file {
                Some(f) => match f.commit() {
                    Ok(_) => true,
                    Err(e) => {
                        let name = f.name().to_owned();
                        klog!(
                            self.logs,
                            "dhcpsrv",
                            Error,
                            "DHCPSRV_MEMFILE_WRITE_FAIL",
                            "cannot append to lease file {name}: {e}; the replies of this batch are dropped"
                        );
                        false
                    }
                },
                None => true,
            };
            if ok {
                self.server.leases_persisted(seq);
            } else {
                self.server.discard_held(seq);
            }
        }
    }

    /// Moves the HA service's outputs: gate actions to the server, events to the log (and
    /// fetched leases into the store), requests to the peers. Returns whether the server has
    /// new lease changes to commit.
    fn drive_ha(&mut self) -> bool {
        let Some(ha) = &mut self.ha else {
            return false;
        };
        let now = Instant::now();
        let committed = self.server.last_seq();
        ha.apply_gates(&mut self.server);
        while let Some(e) = ha.service.poll_event() {
            match &e {
                HaEvent::LeasesFetched { peer, leases } => {
                    let out = merge_leases(&mut self.server, leases);
                    klog!(
                        self.logs,
                        "ha-hooks",
                        Info,
                        e.kea_id(),
                        "received {} leases from {peer}: {} added, {} updated, {} stale skipped, {} failed",
                        leases.len(),
                        out.added,
                        out.updated,
                        out.skipped,
                        out.failed.len()
                    );
                    for (addr, why) in &out.failed {
                        klog!(
                            self.logs,
                            "ha-hooks",
                            Warn,
                            "HA_LEASE_SYNC_FAILED",
                            "synchronization failed for lease: {addr}, reason: {why}"
                        );
                    }
                }
                HaEvent::CommandAnswered { id, answer } => ha.answer_deferred(*id, answer),
                _ => {
                    let sev = ha_severity(&e);
                    if self.logs.enabled("ha-hooks", sev) {
                        self.logs
                            .log("ha-hooks", sev, e.kea_id(), format_args!("{e}"));
                    }
                }
            }
        }
        ha.apply_gates(&mut self.server);
        ha.send_requests(now);
        // Lease changes from merged pages: commit them and go round again.
        self.server.last_seq() != committed
    }

    fn log_reply(&mut self, tx: &Transmit) {
        let yiaddr = tx
            .payload
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from);
        let hw = || hw_text(tx.client_hw_addr(), tx.htype);
        match tx.message_type {
            MessageType::ACK
                if !yiaddr.is_unspecified() && self.logs.enabled("leases", Severity::Info) =>
            {
                // Decoded only when the message is logged.
                let r = Dhcp4Repr::from_bytes(&tx.payload).ok();
                let cid = r
                    .as_ref()
                    .and_then(|r| r.options.client_id.as_deref())
                    .map_or_else(|| "no info".to_owned(), hex);
                let secs = r.and_then(|r| r.options.lease_time).unwrap_or(0);
                klog!(
                    self.logs,
                    "leases",
                    Info,
                    "DHCP4_LEASE_ALLOC",
                    "[{}], cid=[{cid}], tid=0x{:x}: lease {yiaddr} has been allocated for {secs} seconds",
                    hw(),
                    tx.xid
                );
            }
            MessageType::OFFER => klog!(
                self.logs,
                "leases",
                Debug,
                "DHCP4_LEASE_ADVERT",
                "[{}], tid=0x{:x}: lease {yiaddr} will be advertised",
                hw(),
                tx.xid
            ),
            MessageType::NAK => klog!(
                self.logs,
                "packets",
                Debug,
                "DHCP4_PACKET_SEND",
                "[{}], tid=0x{:x}: trying to send packet DHCPNAK to {}",
                hw(),
                tx.xid,
                tx.dst
            ),
            _ => {}
        }
    }

    /// Queues one reply in the outbox (see the [`net`] module for which socket carries what).
    fn send(&mut self, tx: Transmit) {
        self.log_reply(&tx);
        let mut dst = tx.dst;
        match dst.port() {
            CLIENT_PORT => dst.set_port(self.opts.client_port),
            SERVER_PORT => dst.set_port(self.opts.server_port),
            _ => {}
        }
        let src = if tx.src.is_unspecified() {
            self.ifaces
                .list
                .iter()
                .find(|f| f.index == tx.ifindex)
                .and_then(|f| f.addrs.first().copied())
                .unwrap_or(Ipv4Addr::UNSPECIFIED)
        } else {
            tx.src
        };
        if tx.link_unicast {
            match (&self.packet, self.socket_type) {
                (Some(_), SocketType::Raw) if tx.htype == 1 && tx.hlen == 6 => {
                    match net::ipv4_udp(
                        SocketAddrV4::new(src, self.opts.server_port),
                        dst,
                        &tx.payload,
                    ) {
                        Some(frame) => self.out.push_link(tx, dst, frame),
                        None => {
                            self.send_errors += 1;
                            klog!(
                                self.logs,
                                "packets",
                                Error,
                                "DHCP4_PACKET_SEND_FAIL",
                                "[{}], tid=0x{:x}: failed to send DHCPv4 packet {:?} to {dst}: too large",
                                hw_text(tx.client_hw_addr(), tx.htype),
                                tx.xid,
                                tx.message_type
                            );
                        }
                    }
                }
                // No packet socket (udp socket type, or not Ethernet): broadcast instead.
                _ => {
                    let ifindex = tx.ifindex;
                    let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, dst.port());
                    self.out.push_udp(tx, bcast, ifindex, src);
                }
            }
        } else {
            // Broadcasts leave by the query's interface; unicasts follow the routes.
            let ifindex = if tx.broadcast { tx.ifindex } else { 0 };
            self.out.push_udp(tx, dst, ifindex, src);
        }
    }

    // ------------------------------------------------------------------ timers

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.server.poll_timeout(),
            self.next_lfc,
            self.handler.poll_timeout(),
            self.ha.as_ref().and_then(|h| h.service.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timer(&mut self, now: Instant, unix: u64) {
        if self.handler.poll_timeout().is_some_and(|t| t <= now) {
            self.handler.handle_timeout(now);
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now, unix);
        }
        if let Some(ha) = &mut self.ha
            && ha.service.poll_timeout().is_some_and(|t| t <= now)
        {
            let u = ha.unix(unix);
            ha.service.handle_timeout(now, u);
        }
        if self.next_lfc.is_some_and(|t| t <= now) {
            self.flush();
            self.run_lfc();
            self.next_lfc = self.lfc_every.map(|d| now + d);
        }
    }

    fn run_lfc(&mut self) {
        let Some(f) = &mut self.file else { return };
        let t0 = Instant::now();
        match f.lfc(self.server.store()) {
            Ok(Lfc::Done(n)) => klog!(
                self.logs,
                "dhcpsrv",
                Info,
                "DHCPSRV_MEMFILE_LFC_EXECUTE",
                "lease file cleanup of {}: {n} leases written in {:.3} s",
                f.name(),
                t0.elapsed().as_secs_f64()
            ),
            Ok(Lfc::Busy) => klog!(
                self.logs,
                "dhcpsrv",
                Warn,
                "DHCPSRV_MEMFILE_LFC_UNREGISTER_TIMER_FAILED",
                "lease file cleanup of {} skipped: a previous one is unfinished",
                f.name()
            ),
            Err(e) => klog!(
                self.logs,
                "dhcpsrv",
                Error,
                "DHCPSRV_MEMFILE_LFC_SPAWN_FAIL",
                "lease file cleanup of {} failed: {e}",
                f.name()
            ),
        }
    }

    // ------------------------------------------------------------------ control, reload

    /// Answers a control command (unix socket, `--http`, or from the HA listener with
    /// `origin` [`Origin::Partner`]) through `reply`, now or, for HA commands that need the
    /// partner's answer first, later.
    fn command(
        &mut self,
        body: &[u8],
        http: bool,
        origin: Origin,
        reply: oneshot::Sender<String>,
        now: Instant,
        unix: u64,
    ) -> Action {
        let name = command_name(body);
        if let Some(ha) = &mut self.ha {
            if name.as_deref().is_some_and(ha::is_ha_command) {
                let req = match Request::from_json(body) {
                    Ok(r) => r,
                    Err(e) => {
                        let a = e
                            .answer()
                            .unwrap_or_else(|| Answer::error("invalid command"));
                        let _ = reply.send(ha::encode(&a, http));
                        return Action::None;
                    }
                };
                if let Some((text, reply)) = ha.command(now, unix, &req, http, reply) {
                    // Answered at once: after the flush, which sends what it asked for.
                    self.flush();
                    let _ = reply.send(text);
                } else {
                    self.flush();
                }
                return Action::None;
            }
            if name.as_deref() == Some("status-get") {
                let st = ha.service.status(now);
                self.handler
                    .set_high_availability(Some(serde_json::Value::Array(vec![st])));
            }
        }
        let (text, action) = self.control_command(body, http, origin, now, unix);
        let _ = reply.send(text);
        action
    }

    /// Answers the commands of the HA listener: `first` and those already waiting in `rx`
    /// (up to [`RX_BUDGET`]). Lease updates from the partner are applied together and
    /// answered after **one** group commit of their rows; any other command is answered on
    /// its own, after the updates before it.
    fn partner_commands(
        &mut self,
        first: ListenerMsg,
        rx: &mut mpsc::Receiver<ListenerMsg>,
        now: Instant,
        unix: u64,
    ) -> Action {
        let mut held: Vec<(String, oneshot::Sender<String>)> = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some((body, reply)) = next.take() {
            taken += 1;
            if matches!(
                command_name(&body).as_deref(),
                Some("lease4-update" | "lease4-del")
            ) {
                // A lease command asks the daemon for nothing (no reload, shutdown or file
                // write): the handler answers it directly, in the HTTP form only.
                let r =
                    self.handler
                        .handle_from(&mut self.server, now, unix, &body, Origin::Partner);
                held.push((r.http_text(), reply));
            } else {
                if !held.is_empty() {
                    self.flush();
                    for (text, reply) in held.drain(..) {
                        let _ = reply.send(text);
                    }
                }
                let action = self.command(&body, true, Origin::Partner, reply, now, unix);
                if action != Action::None {
                    return action;
                }
            }
            if taken < RX_BUDGET {
                next = rx.try_recv().ok();
            }
        }
        if !held.is_empty() {
            self.flush();
            for (text, reply) in held {
                let _ = reply.send(text);
            }
        }
        Action::None
    }

    fn control_command(
        &mut self,
        body: &[u8],
        http: bool,
        origin: Origin,
        now: Instant,
        unix: u64,
    ) -> (String, Action) {
        let reply = control::dispatch(&mut self.handler, &mut self.server, now, unix, body, origin);
        // Lease changes made by the command are written before the answer.
        self.flush();
        if reply.action == Action::Reload {
            let answer = match self.reload() {
                Ok(()) => Answer::success("Configuration successful.", None),
                Err(e) => Answer::error(format!("Config reload failed: {e}")),
            };
            let text = if http {
                Answer::encode_list(std::slice::from_ref(&answer))
            } else {
                answer.to_kea_json()
            };
            return (text, Action::None);
        }
        (if http { reply.http } else { reply.text }, reply.action)
    }

    /// Re-reads the configuration (SIGHUP, `config-reload`): the leases are kept, the
    /// subnets, options, interfaces and loggers are replaced. The lease file, socket type and
    /// control socket stay as they were at start-up.
    fn reload(&mut self) -> Result<(), String> {
        let cfg = read_config(&self.opts.config).map_err(|e| e.to_string())?;
        self.flush();
        let now = Instant::now();
        let store: MemoryStore = self.server.store().clone();
        let opts = ServerOptions {
            persist: self.file.is_some(),
        };
        let server = Server::with_store(&cfg.dhcp4, store, opts, now, unix_now())
            .map_err(|e| e.to_string())?;
        let logs = Logs::new(&cfg.dhcp4.loggers)?;
        if lease_file_name(&cfg.dhcp4) != lease_file_name(&self.cfg) {
            klog!(
                self.logs,
                "dhcp4",
                Warn,
                "DHCP4_CONFIG_LEASE_FILE",
                "lease-database.name changed: takes effect at restart"
            );
        }
        let mut server = server;
        if let Some(ha) = &mut self.ha {
            ha.on_new_server(&mut server);
            let new_ha = cfg
                .dhcp4
                .ha_hook()
                .map(|h| HaConfig::from_hook(h, None).map_err(|e| e.to_string()))
                .transpose()?;
            if new_ha.as_ref() != Some(ha.service.config()) {
                klog!(
                    self.logs,
                    "ha-hooks",
                    Warn,
                    "HA_CONFIG_CHANGED",
                    "the high-availability configuration changed: takes effect at restart"
                );
            }
        }
        self.server = server;
        self.handler.set_config(cfg.clone(), now);
        self.logs = logs;
        self.ifaces = Ifaces::new(&cfg.dhcp4);
        self.lfc_every = Self::lfc_interval(&cfg.dhcp4).filter(|_| self.file.is_some());
        self.next_lfc = self.lfc_every.map(|d| now + d);
        self.cfg = cfg.dhcp4;
        self.note_config();
        Ok(())
    }
}

/// The `command` of a JSON request body (an object), if it has one. Only that member is
/// decoded, the others are skipped without being built: this runs for every lease update
/// from the partner, whose `arguments` the control handler decodes anyway.
fn command_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow, default)]
        command: Option<std::borrow::Cow<'a, str>>,
    }
    // A derived struct would also accept a list; a command is an object.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let named: Named<'_> = serde_json::from_slice(body).ok()?;
    named.command.map(std::borrow::Cow::into_owned)
}

/// The severity Kea logs an HA event with.
fn ha_severity(e: &HaEvent) -> Severity {
    match e {
        HaEvent::HeartbeatFailed { .. }
        | HaEvent::CommunicationInterrupted { .. }
        | HaEvent::HighClockSkew(_)
        | HaEvent::InvalidPartnerState(_)
        | HaEvent::LeaseUpdateFailed { .. }
        | HaEvent::LeaseUpdateConflict { .. }
        | HaEvent::LeaseUpdateOverflow { .. }
        | HaEvent::LeaseSyncFailed { .. }
        | HaEvent::RequestFailed { .. }
        | HaEvent::RestartPartner => Severity::Warn,
        HaEvent::ClockSkewTermination(_) | HaEvent::Terminated | HaEvent::SyncFailed { .. } => {
            Severity::Error
        }
        HaEvent::CommandAnswered { .. } => Severity::Debug,
        _ => Severity::Info,
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    dhcp4_ha::lease::memfile::hex_colon(b, &mut s);
    s
}

/// Serves Kea's control socket protocol on `path`: each connection sends one JSON command
/// and gets one answer, then the server closes.
fn serve_control(path: &str, to_loop: mpsc::Sender<ControlMsg>) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let to_loop = to_loop.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let read = async {
                    loop {
                        let n = conn.read(&mut chunk).await?;
                        buf.extend_from_slice(&chunk[..n]);
                        if n == 0 || buf.len() > MAX_COMMAND || complete_json(&buf) {
                            return Ok::<_, io::Error>(());
                        }
                    }
                };
                if !matches!(
                    tokio::time::timeout(COMMAND_TIMEOUT, read).await,
                    Ok(Ok(()))
                ) {
                    return;
                }
                if buf.iter().all(u8::is_ascii_whitespace) {
                    return;
                }
                let (tx, rx) = oneshot::channel();
                if to_loop.send((buf, false, tx)).await.is_err() {
                    return;
                }
                if let Ok(answer) = rx.await {
                    let _ = conn.write_all(answer.as_bytes()).await;
                    let _ = conn.shutdown().await;
                }
            });
        }
    });
    Ok(())
}

/// Serves Kea's control agent protocol on `addr`: HTTP/1.1 `POST /` with a JSON command,
/// answered with a JSON list (keep-alive, pipelining, Kea's stock errors).
fn serve_http(addr: SocketAddr, to_loop: mpsc::Sender<ControlMsg>) -> io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let to_loop = to_loop.clone();
            tokio::spawn(async move {
                let mut http = ServerConn::default();
                let mut chunk = vec![0u8; 16 * 1024];
                let mut out = Vec::new();
                loop {
                    let Ok(Ok(n)) = tokio::time::timeout(HTTP_IDLE, conn.read(&mut chunk)).await
                    else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    let date = http_date(unix_now());
                    if let Err(e) = http.handle_input(&chunk[..n]) {
                        http.encode(&HttpResponse::kea_error(e.status(), &date), &mut out);
                    }
                    while let Some(r) = http.poll_request() {
                        let resp = match r {
                            Ok(req) if req.method == "POST" => {
                                let (tx, rx) = oneshot::channel();
                                if to_loop.send((req.body, true, tx)).await.is_err() {
                                    return;
                                }
                                match rx.await {
                                    Ok(text) => {
                                        HttpResponse::kea_json(200, text.into_bytes(), &date)
                                    }
                                    Err(_) => return,
                                }
                            }
                            Ok(_) => HttpResponse::kea_error(405, &date),
                            Err(e) => HttpResponse::kea_error(e.status(), &date),
                        };
                        http.encode(&resp, &mut out);
                    }
                    if !out.is_empty() {
                        if conn.write_all(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                    if http.should_close() {
                        let _ = conn.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    Ok(bound)
}

/// Whether `buf` holds a whole JSON value (or something that can never become one).
fn complete_json(buf: &[u8]) -> bool {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<serde_json::Value>();
    match it.next() {
        None => false,
        Some(Ok(_)) => true,
        Some(Err(e)) => !e.is_eof(),
    }
}

/// Runs the daemon until SIGTERM / SIGINT / `shutdown`; returns the exit code.
pub(crate) async fn run(opts: Options) -> i32 {
    let mut logs = Logs::console();
    let cfg = match read_config(&opts.config) {
        Ok(c) => c,
        Err(e) => {
            klog!(
                logs,
                "dhcp4",
                Error,
                "DHCP4_CONFIG_LOAD_FAIL",
                "configuration error using file: {}, reason: {e}",
                opts.config.display()
            );
            return 1;
        }
    };
    let mut logs = match Logs::new(&cfg.dhcp4.loggers) {
        Ok(l) => l,
        Err(e) => {
            klog!(logs, "dhcp4", Error, "DHCP4_CONFIG_LOAD_FAIL", "{e}");
            return 1;
        }
    };
    for w in &cfg.warnings {
        klog!(logs, "dhcp4", Warn, "DHCP4_CONFIG_SYNTAX_WARNING", "{w}");
    }
    let persist = Daemon::persist(&cfg.dhcp4);
    let name = lease_file_name(&cfg.dhcp4);
    let t0 = Instant::now();
    let (store, file) = if persist {
        klog!(
            logs,
            "dhcpsrv",
            Info,
            "DHCPSRV_MEMFILE_DB",
            "opening memory file lease database: name={name} persist=true type=memfile"
        );
        let loaded = match store::load(&name) {
            Ok(l) => l,
            Err(e) => {
                klog!(
                    logs,
                    "dhcpsrv",
                    Error,
                    "DHCPSRV_MEMFILE_LEASE_LOAD_FAIL",
                    "failed to load leases: {e}"
                );
                return 1;
            }
        };
        for (f, r) in &loaded.files {
            klog!(
                logs,
                "dhcpsrv",
                Info,
                "DHCPSRV_MEMFILE_LEASE_FILE_LOAD",
                "loading leases from file {f}: {} rows ({} leases written, {} deleted, {} invalid)",
                r.rows + r.invalid,
                r.upserts,
                r.deletes,
                r.invalid
            );
            for e in &r.errors {
                klog!(
                    logs,
                    "dhcpsrv",
                    Warn,
                    "DHCPSRV_MEMFILE_READ_ERROR",
                    "{f}: {e}, the lease is skipped"
                );
            }
        }
        let file = match LeaseFile::open(&name, opts.fsync) {
            Ok(f) => f,
            Err(e) => {
                klog!(
                    logs,
                    "dhcpsrv",
                    Error,
                    "DHCPSRV_MEMFILE_LEASE_LOAD_FAIL",
                    "cannot open lease file for appending: {e}"
                );
                return 1;
            }
        };
        (loaded.store, Some(file))
    } else {
        (MemoryStore::default(), None)
    };
    let now = Instant::now();
    let leases = store.len();
    let mut server = match Server::with_store(
        &cfg.dhcp4,
        store,
        ServerOptions {
            persist: file.is_some(),
        },
        now,
        unix_now(),
    ) {
        Ok(s) => s,
        Err(e) => {
            klog!(
                logs,
                "dhcp4",
                Error,
                "DHCP4_CONFIG_LOAD_FAIL",
                "configuration error using file: {}, reason: {e}",
                opts.config.display()
            );
            return 1;
        }
    };
    klog!(
        logs,
        "dhcpsrv",
        Info,
        "DHCPSRV_MEMFILE_LEASES_LOADED",
        "{leases} leases loaded in {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    // HA: the service, its peers' connections and its listener.
    let (ha_answer_tx, mut ha_answer_rx) = mpsc::unbounded_channel::<PeerAnswer>();
    let (ha_cmd_tx, mut ha_cmd_rx) = mpsc::channel::<ListenerMsg>(256);
    let ha_node = match cfg.dhcp4.ha_hook() {
        None => None,
        Some(hook) => {
            let started = HaConfig::from_hook(hook, None)
                .map_err(|e| format!("failed to configure High Availability hooks library: {e}"))
                .and_then(|c| {
                    let addr = ha::listen_addr(&c)?;
                    let policy = ha::listener_policy(&c)?;
                    let tls = ha::listener_tls(&c)?;
                    let mut node = HaNode::new(
                        c,
                        now,
                        unix_now(),
                        opts.clock_offset,
                        opts.ha_connections,
                        &ha_answer_tx,
                    )?;
                    node.on_new_server(&mut server);
                    let bound = ha::serve_listener(addr, policy, tls, ha_cmd_tx.clone())
                        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                    Ok((node, bound))
                });
            match started {
                Ok((node, bound)) => {
                    klog!(
                        logs,
                        "ha-hooks",
                        Info,
                        "HA_DEDICATED_LISTENER_STARTED",
                        "started dedicated listener for HA commands on {bound}"
                    );
                    Some(node)
                }
                Err(e) => {
                    klog!(logs, "dhcp4", Error, "DHCP4_CONFIG_LOAD_FAIL", "{e}");
                    return 1;
                }
            }
        }
    };
    let socket_type = cfg.dhcp4.interfaces_config.dhcp_socket_type;
    let udp = match net::open_udp(opts.server_port).and_then(net::UdpPort::new) {
        Ok(s) => s,
        Err(e) => {
            klog!(
                logs,
                "dhcp4",
                Error,
                "DHCP4_OPEN_SOCKET_FAIL",
                "failed to open socket: {e}"
            );
            return 1;
        }
    };
    let packet = if socket_type == SocketType::Raw {
        match net::open_packet() {
            Ok(p) => Some(p),
            Err(e) => {
                klog!(
                    logs,
                    "dhcp4",
                    Warn,
                    "DHCP4_OPEN_SOCKET_FAIL",
                    "no packet socket ({e}): replies to clients without an address are broadcast"
                );
                None
            }
        }
    } else {
        None
    };
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<ControlMsg>(64);
    if let Some(cs) = &cfg.dhcp4.control_socket
        && let Err(e) = serve_control(&cs.socket_name, ctl_tx.clone())
    {
        klog!(
            logs,
            "commands",
            Error,
            "COMMAND_SOCKET_UNIX_OPEN",
            "cannot open control socket {}: {e}",
            cs.socket_name
        );
        return 1;
    }
    if let Some(addr) = opts.http {
        match serve_http(addr, ctl_tx.clone()) {
            Ok(bound) => klog!(
                logs,
                "commands",
                Info,
                "COMMAND_HTTP_LISTENER_STARTED",
                "control commands over HTTP on {bound}"
            ),
            Err(e) => {
                klog!(
                    logs,
                    "commands",
                    Error,
                    "COMMAND_HTTP_LISTENER_FAILED",
                    "cannot listen on {addr}: {e}"
                );
                return 1;
            }
        }
    }
    let (Ok(mut sigterm), Ok(mut sigint), Ok(mut sighup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        klog!(
            logs,
            "dhcp4",
            Error,
            "DHCP4_INIT_FAIL",
            "cannot install signal handlers"
        );
        return 1;
    };
    let lfc_every = Daemon::lfc_interval(&cfg.dhcp4).filter(|_| file.is_some());
    let mut handler = ControlHandler::new(cfg.clone(), std::process::id(), now);
    handler.set_config_path(opts.config.display().to_string());
    let mut d = Daemon {
        handler,
        ifaces: Ifaces::new(&cfg.dhcp4),
        cfg: cfg.dhcp4,
        server,
        file,
        logs,
        udp,
        packet,
        socket_type,
        lfc_every,
        next_lfc: lfc_every.map(|i| now + i),
        rx: sys::RxBatch::default(),
        out: net::Outbox::default(),
        coalesce: net::Coalesce::new(net::RX_COALESCE),
        foreign: 0,
        send_errors: 0,
        disabled_drops: 0,
        ha: ha_node,
        opts,
    };
    if d.ha.is_some() {
        let names: Vec<String> = dhcp4_ha::control::Command::ALL
            .iter()
            .map(|c| c.name())
            .filter(|n| n.starts_with("ha-"))
            .map(str::to_owned)
            .collect();
        d.handler.set_extra_commands(names);
    }
    d.note_config();
    klog!(
        d.logs,
        "dhcp4",
        Info,
        "DHCP4_STARTED",
        "hakit dhcp4d {} (Kea 2.2 compatible) started: port {}, interfaces [{}], {} leases",
        env!("CARGO_PKG_VERSION"),
        d.opts.server_port,
        d.ifaces.names(),
        leases
    );
    let mut pending_rx = false;
    let mut exit = 0;
    // One timer registration, moved only when something is due earlier (see `alarm`).
    let mut alarm = Alarm::new();
    loop {
        let hold = d.coalesce.hold_until();
        if let Err(e) = d.udp.watch(hold.is_none()) {
            klog!(d.logs, "dhcp4", Error, "DHCP4_PACKET_RECEIVE_FAIL", "{e}");
            return 1;
        }
        if let Some(t) = d.next_deadline().into_iter().chain(hold).min() {
            alarm.arm(t);
        }
        tokio::select! {
            biased;
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => {
                match d.reload() {
                    Ok(()) => klog!(d.logs, "dhcp4", Info, "DHCP4_DYNRECONF_SUCCESS",
                        "configuration reloaded from {}", d.opts.config.display()),
                    Err(e) => klog!(d.logs, "dhcp4", Error, "DHCP4_DYNRECONF_FAIL",
                        "configuration reload failed, the old one stays: {e}"),
                }
            }
            Some((body, http, reply)) = ctl_rx.recv() => {
                let (now, unix) = (Instant::now(), unix_now());
                let action = d.command(&body, http, Origin::Control, reply, now, unix);
                if let Action::Shutdown(code) = action {
                    exit = code;
                    break;
                }
            }
            Some((id, res)) = ha_answer_rx.recv() => {
                let (now, unix) = (Instant::now(), unix_now());
                if let Some(ha) = &mut d.ha {
                    let u = ha.unix(unix);
                    ha.service.handle_response(now, u, id, res);
                    // Take every answer already there before the flush.
                    while let Ok((id, res)) = ha_answer_rx.try_recv() {
                        ha.service.handle_response(now, u, id, res);
                    }
                }
            }
            Some(msg) = ha_cmd_rx.recv() => {
                let (now, unix) = (Instant::now(), unix_now());
                let action = d.partner_commands(msg, &mut ha_cmd_rx, now, unix);
                if let Action::Shutdown(code) = action {
                    exit = code;
                    break;
                }
            }
            r = d.udp.readable(), if !pending_rx => {
                match r {
                    Ok(()) => pending_rx = true,
                    Err(e) => {
                        klog!(d.logs, "dhcp4", Error, "DHCP4_PACKET_RECEIVE_FAIL", "{e}");
                        return 1;
                    }
                }
            }
            () = alarm.fired() => {
                // Possibly early (a deadline that moved later): `on_timer` runs what is due.
                let now = Instant::now();
                if d.coalesce.expired(now) {
                    pending_rx = true;
                }
                d.on_timer(now, unix_now());
            }
            () = std::future::ready(()), if pending_rx => {}
        }
        if pending_rx {
            let (now, unix) = (Instant::now(), unix_now());
            let (drained, read) = d.receive(now, unix);
            pending_rx = !drained;
            if drained {
                if d.ha.as_ref().is_some_and(|h| h.service.serves_no_scope()) {
                    // Every query read is dropped: read them in larger batches.
                    d.coalesce.after_rx_not_serving(now, read);
                } else {
                    d.coalesce.after_rx(now, read);
                }
            }
        }
        d.flush();
    }
    d.flush();
    // Let the control connection that asked for `shutdown` write its answer.
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    let mut stats: BTreeMap<&str, i64> = BTreeMap::new();
    for name in [
        "pkt4-received",
        "pkt4-ack-sent",
        "pkt4-offer-sent",
        "pkt4-receive-drop",
    ] {
        stats.insert(name, d.server.stats().get(name).map_or(0, |v| v.value));
    }
    klog!(
        d.logs,
        "dhcp4",
        Info,
        "DHCP4_SHUTDOWN",
        "server shutdown: {} leases, {} rows written, {stats:?}, {} foreign datagrams, {} send errors, {} dropped while disabled",
        d.server.store().len(),
        d.file.as_ref().map_or(0, |f| f.written),
        d.foreign,
        d.send_errors,
        d.disabled_drops
    );
    if let Some(ha) = &d.ha {
        let c = ha.service.counters();
        klog!(
            d.logs,
            "ha-hooks",
            Info,
            "HA_DEINIT_OK",
            "HA state {}: {} queries not served (scope or state), {} lease updates sent, {} acked, {} failed, {} replies dropped, {} heartbeats sent, {} failed",
            ha.service.state(),
            ha.not_served,
            c.updates_sent,
            c.updates_acked,
            c.updates_failed,
            ha.replies_dropped,
            c.heartbeats_sent,
            c.heartbeats_failed
        );
    }
    if let Some(cs) = &d.cfg.control_socket {
        let _ = std::fs::remove_file(&cs.socket_name);
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_name_reads_only_an_object_s_command_string() {
        let update = br#"{ "command": "lease4-update", "arguments": { "ip-address": "192.0.2.10", "hw-address": "00:0c:01:02:03:04", "user-context": { "a": [1, {"b": null}] } } }"#;
        assert_eq!(command_name(update).as_deref(), Some("lease4-update"));
        assert_eq!(
            command_name(br#" {"arguments": {}, "command": "ha-heartbeat"}"#).as_deref(),
            Some("ha-heartbeat")
        );
        assert_eq!(
            command_name(br#"{"command": "lease4-\u0064el"}"#).as_deref(),
            Some("lease4-del")
        );
        for bad in [
            &br#"{"arguments": {}}"#[..],
            br#"{"command": 5}"#,
            br#"["lease4-update"]"#,
            br#"{"command": "lease4-update""#,
            b"",
            b"not json",
        ] {
            assert_eq!(command_name(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
