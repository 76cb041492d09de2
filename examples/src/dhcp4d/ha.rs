//! High Availability in dhcp4d: Kea 2.2's `libdhcp_ha.so` as dhcp4-ha's Sans-IO
//! [`HaService`], with the I/O it needs.
//!
//! * **Listener** ([`serve_listener`]): this server's peer `url` (address and port), as Kea's
//!   dedicated HA listener; TLS when the url is `https://` (see the `tls` module:
//!   `cert-file` / `key-file`, client certificates checked against `trust-anchor`, required
//!   with `require-client-certs`). HTTP/1.1 `POST /` with a JSON command, keep-alive,
//!   answers as a one-element JSON list. Requests pass dhcp4-ha's [`admit`]: Kea's 400 for a
//!   bad request, `restrict-commands` (403), and, unlike Kea 2.2's listener (which never
//!   checks), Basic authentication when this server's peer entry has `basic-auth-user` (401
//!   with Kea's body). Admitted commands go to the daemon's loop: HA commands and
//!   `dhcp-disable` / `dhcp-enable` to the [`HaService`], the rest (lease commands,
//!   `status-get` with the HA section, …) to the control handler with origin
//!   [`Origin::Partner`], so that the lease changes they make are never sent back.
//!   Pipelined requests are all handed to the loop before any answer is awaited (so the
//!   lease updates of one read are applied in one loop turn and one group commit), answered
//!   in order, every answer ready at that moment in one write. Every response carries
//!   `Server: hakit-dhcp4d/<version>` ([`SERVER_NAME`]), which tells a dhcp4d client that
//!   it may pipeline; Kea's listener sends no `Server` header.
//! * **Client** ([`PeerPool`]): up to `--ha-connections` persistent connections per peer
//!   ([`DEFAULT_CONNECTIONS`]), opened when first needed, TLS for an `https://` url. A
//!   connection carries one request at a time (Kea's HTTP server does not read pipelined
//!   requests), so many lease updates are in flight at once, one per connection, until a
//!   response on it names a dhcp4d listener: it then writes every request queued on it (up
//!   to [`MAX_PIPELINE`] unanswered) in one write, and the pool sends all lease updates over
//!   one connection. The updates of one lease always take the same connection (chosen by a
//!   hash of its address; the mapping changes only while nothing is in flight): a
//!   `lease4-update` and a later `lease4-del` of that address reach the partner in order.
//!   Other requests (heartbeats, sync pages, commands) take an idle connection. Each request
//!   is bounded by the deadline the service gave; answers are read with
//!   [`answer_from_http`]; a refused connection, a failed TLS handshake, an I/O error, an
//!   unparsable response or a deadline become a [`TransportError`] for every request written
//!   on that connection. A kept-alive connection the peer closed while idle is replaced.
//! * **Sequence numbers**: the service sees every [`LeaseChange`] in order; after a
//!   configuration reload the new server numbers its changes from 1 again, so the daemon
//!   offsets them ([`HaNode::on_new_server`]).
//!
//! Load balancing: each query gets the `HA_<server>` class of the scope it hashes to
//! ([`HaNode::classify`]), so pools with `client-class` `HA_server1` / `HA_server2` split the
//! addresses between the servers, as Kea's documentation configures them. A pool without a
//! class is shared: two clients of different scopes in flight at once may then be offered
//! the same address by both servers (the second REQUEST is NAKed and the client starts
//! over), so load-balancing configurations should split their pools.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dhcp4_ha::control::{Admission, Answer, ListenerPolicy, Request, admit};
use dhcp4_ha::ha::{
    CommandReply, GateAction, HaConfig, HaService, PeerConfig, QueryFacts, Scheme, TransportError,
    answer_from_http,
};
use dhcp4_ha::http::{
    BasicAuth, ClientConn, Header, Limits, Response as HttpResponse, ServerConn, http_date,
};
use dhcp4_ha::server::{Gate, LeaseChange, Server};
use dhcp4_ha::wire::Packet;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::alarm::Alarm;
use super::tls::{self, HaStream, TlsFiles};

/// How long an idle connection to the listener stays open (Kea's idle timeout).
const LISTENER_IDLE: Duration = Duration::from_secs(30);

/// How long a client may take to complete the TLS handshake with the listener (Kea's
/// request timeout).
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Connections per peer unless `--ha-connections` says otherwise: enough lease updates in
/// flight to keep a partner's loop busy (each of its turns commits every update that
/// arrived in one write), few enough to stay far from any file-descriptor limit.
pub(crate) const DEFAULT_CONNECTIONS: usize = 16;

/// The most connections per peer `--ha-connections` accepts.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// Realm of the listener's `WWW-Authenticate` header.
pub(crate) const REALM: &str = "kea-dhcp4-ha";

/// The `Server` header of the listener's responses. It names dhcp4d, and so tells a dhcp4d
/// client that this listener reads pipelined requests; Kea's listener sends no `Server`
/// header (and reads one request at a time), so its clients are never sent more than one.
pub(crate) const SERVER_NAME: &str = concat!("hakit-dhcp4d/", env!("CARGO_PKG_VERSION"));

/// How a `Server` value naming a listener that reads pipelined requests begins.
const PIPELINING_SERVER: &[u8] = b"hakit-dhcp4d/";

/// Most requests written and not yet answered on one connection to a listener that reads
/// pipelined requests (more wait in the connection's queue).
pub(crate) const MAX_PIPELINE: usize = 64;

/// The connections that carry the lease updates to a partner that reads pipelined requests:
/// one, so that the updates of a loop turn leave in one write and reach the partner's loop
/// in one read (each connection is also one task and one partner-side task to wake).
const PIPELINED_LEASE_CONNECTIONS: usize = 1;

/// A request for a peer's connection task.
#[derive(Debug)]
pub(crate) struct PeerRequest {
    /// The service's request id.
    id: u64,
    /// The JSON body (Kea's bytes).
    body: Vec<u8>,
    /// When the service gives up on it.
    deadline: Instant,
}

/// The answer of a peer (or why there is none), by request id.
pub(crate) type PeerAnswer = (u64, Result<Answer, TransportError>);

/// A command received on the listener, and where its answer (the HTTP body) goes.
pub(crate) type ListenerMsg = (Vec<u8>, oneshot::Sender<String>);

/// Whether `name` is a command the HA service answers (over the listener and the control
/// socket alike).
pub(crate) fn is_ha_command(name: &str) -> bool {
    name.starts_with("ha-") || name == "dhcp-disable" || name == "dhcp-enable"
}

/// The HA service of the daemon with its peers' connections and the commands waiting for a
/// partner's answer.
#[derive(Debug)]
pub(crate) struct HaNode {
    /// The Sans-IO service.
    pub(crate) service: HaService,
    /// The connections to each other peer, by name.
    peers: BTreeMap<String, PeerPool>,
    /// Deferred command answers: id → (HTTP form?, reply channel).
    deferred: BTreeMap<u64, (bool, oneshot::Sender<String>)>,
    /// Added to the server's sequence numbers (see the module documentation).
    seq_offset: u64,
    /// The highest sequence number given to the service.
    last_seq: u64,
    /// Seconds added to the wall clock the service sees (`--clock-offset`, tests only).
    clock_offset: i64,
    /// Queries not served: out of scope, or DHCP disabled by the HA state.
    pub(crate) not_served: u64,
    /// Replies dropped because their lease update failed.
    pub(crate) replies_dropped: u64,
}

impl HaNode {
    /// The service for `cfg`, with up to `connections` connections to each other peer whose
    /// answers go to `answers`. Reads the peers' `basic-auth-password-file`s and, for
    /// `https://` peers, their TLS files (an unusable one is an error naming it).
    pub(crate) fn new(
        cfg: HaConfig,
        now: Instant,
        unix: u64,
        clock_offset: i64,
        connections: usize,
        answers: &mpsc::UnboundedSender<PeerAnswer>,
    ) -> Result<Self, String> {
        let mut peers = BTreeMap::new();
        for p in cfg.other_peers() {
            let port = if p.url.port == 0 { 80 } else { p.url.port };
            let target = PeerTarget {
                addr: p.url.address().map(|a| SocketAddr::new(a, port)),
                host: p.url.stripped_hostname().to_owned(),
                auth: peer_auth(p)?,
                tls: peer_tls(&cfg, p)?,
            };
            peers.insert(
                p.name.clone(),
                PeerPool::new(target, connections, answers.clone()),
            );
        }
        let unix = offset_unix(unix, clock_offset);
        Ok(Self {
            service: HaService::new(cfg, now, unix),
            peers,
            deferred: BTreeMap::new(),
            seq_offset: 0,
            last_seq: 0,
            clock_offset,
            not_served: 0,
            replies_dropped: 0,
        })
    }

    /// The wall clock as the service sees it.
    pub(crate) fn unix(&self, unix: u64) -> u64 {
        offset_unix(unix, self.clock_offset)
    }

    /// Makes `server` wait for the partner's acknowledgements and numbers its changes after
    /// the ones the service saw (a new server after a reload starts from 1 again).
    pub(crate) fn on_new_server(&mut self, server: &mut Server) {
        server.set_required_gates(server.required_gates().with(Gate::PartnerAcked));
        self.seq_offset = self.last_seq;
    }

    /// Kea's query filter: `None` when this server does not answer the query in `bytes`,
    /// else the client class HA gives it (`HA_server1`; `None` inside when the query has no
    /// load-balancing key), which selects the split pools of load-balancing.
    pub(crate) fn classify(&mut self, now: Instant, bytes: &[u8]) -> Option<Option<&str>> {
        let verdict = match Packet::new_checked(bytes) {
            Ok(p) => {
                let cid = p.option(61);
                let facts = QueryFacts {
                    message_type: p.message_type(),
                    hw_addr: p.client_hw_addr(),
                    client_id: cid.as_deref(),
                    secs: p.secs(),
                    xid: p.xid(),
                };
                self.service.query_class(now, &facts)
            }
            // Malformed: the server drops it and counts it.
            Err(_) => self.service.dhcp_enabled().then_some(None),
        };
        if verdict.is_none() {
            self.not_served += 1;
        }
        verdict
    }

    /// A lease change of the server.
    pub(crate) fn lease_changed(&mut self, now: Instant, ch: &LeaseChange) {
        let seq = ch.seq + self.seq_offset;
        self.last_seq = self.last_seq.max(seq);
        if self.seq_offset == 0 {
            self.service.lease_changed(now, ch);
        } else {
            let mut c = ch.clone();
            c.seq = seq;
            self.service.lease_changed(now, &c);
        }
    }

    /// Applies the service's gate actions to the server's held replies.
    pub(crate) fn apply_gates(&mut self, server: &mut Server) {
        while let Some(g) = self.service.poll_gate() {
            match g {
                GateAction::Release(s) => {
                    if let Some(s) = s.checked_sub(self.seq_offset).filter(|&s| s > 0) {
                        server.release_gate(Gate::PartnerAcked, s);
                    }
                }
                GateAction::Discard(s) => {
                    if let Some(s) = s.checked_sub(self.seq_offset).filter(|&s| s > 0) {
                        self.replies_dropped += server.discard_held(s) as u64;
                    }
                }
            }
        }
    }

    /// Hands the service's requests to the peers' connection tasks.
    pub(crate) fn send_requests(&mut self, now: Instant) {
        while let Some(r) = self.service.poll_request() {
            let req = PeerRequest {
                id: r.id,
                body: r.request.to_kea_json().into_bytes(),
                deadline: now + r.timeout,
            };
            let lease = r.request.lease_address();
            let sent = self
                .peers
                .get_mut(&r.peer)
                .is_some_and(|pool| pool.send(req, lease));
            if !sent {
                let e = TransportError::Connect(format!("no connection to peer {}", r.peer));
                let unix = self.unix(crate::dhcp4d::daemon::unix_now());
                self.service.handle_response(now, unix, r.id, Err(e));
            }
        }
    }

    /// Runs an HA command (`body` parsed as `req`). Returns the answer text, or `None` when
    /// the answer comes later ([`HaNode::answer_deferred`]) and `reply` was kept.
    pub(crate) fn command(
        &mut self,
        now: Instant,
        unix: u64,
        req: &Request,
        http: bool,
        reply: oneshot::Sender<String>,
    ) -> Option<(String, oneshot::Sender<String>)> {
        let unix = self.unix(unix);
        match self.service.handle_command(now, unix, req) {
            CommandReply::Answer(a) => Some((encode(&a, http), reply)),
            CommandReply::Deferred(id) => {
                self.deferred.insert(id, (http, reply));
                None
            }
        }
    }

    /// Sends the answer of a deferred command.
    pub(crate) fn answer_deferred(&mut self, id: u64, answer: &Answer) {
        if let Some((http, reply)) = self.deferred.remove(&id) {
            let _ = reply.send(encode(answer, http));
        }
    }
}

/// An answer as the unix socket (a map) or HTTP (a one-element list) carries it.
pub(crate) fn encode(a: &Answer, http: bool) -> String {
    if http {
        Answer::encode_list(std::slice::from_ref(a))
    } else {
        a.to_kea_json()
    }
}

fn offset_unix(unix: u64, offset: i64) -> u64 {
    u64::try_from(
        i64::try_from(unix)
            .unwrap_or(i64::MAX)
            .saturating_add(offset),
    )
    .unwrap_or(0)
}

/// The credentials to send to `p` (its `basic-auth-password-file` read here).
fn peer_auth(p: &PeerConfig) -> Result<Option<BasicAuth>, String> {
    let file = match &p.basic_auth_password_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read basic-auth-password-file {f}: {e}"))?,
        ),
        None => None,
    };
    // Kea reads the whole file; a trailing newline from an editor is not part of it.
    let file = file.map(|s| s.trim_end_matches(['\r', '\n']).to_owned());
    Ok(p.basic_auth(file.as_deref()))
}

/// The listener's policy: `restrict-commands`, and this server's credentials if it has any.
pub(crate) fn listener_policy(cfg: &HaConfig) -> Result<ListenerPolicy, String> {
    let auth = peer_auth(cfg.this_server())?;
    Ok(ListenerPolicy {
        restrict_commands: cfg.restrict_commands,
        basic_auth: auth.into_iter().collect(),
        realm: REALM.into(),
    })
}

/// The address the listener binds: this server's `url` (an IP literal; port 80 when the URL
/// has none).
pub(crate) fn listen_addr(cfg: &HaConfig) -> Result<SocketAddr, String> {
    let url = &cfg.this_server().url;
    let ip = url.address().ok_or_else(|| {
        format!(
            "the url of {} must be an IP address to listen on: {}",
            cfg.this_server_name, url.raw
        )
    })?;
    Ok(SocketAddr::new(
        ip,
        if url.port == 0 { 80 } else { url.port },
    ))
}

// ---------------------------------------------------------------------- client

/// How a peer is reached: its address, the `Host` header, the credentials and, for an
/// `https://` url, TLS.
#[derive(Debug)]
struct PeerTarget {
    /// The url's address and port (80 when it has none); `None`: not an IP literal.
    addr: Option<SocketAddr>,
    /// The `Host` header: the url's host without brackets.
    host: String,
    /// `basic-auth-user` / `-password`.
    auth: Option<BasicAuth>,
    /// TLS, for an `https://` url.
    tls: Option<PeerTls>,
}

/// TLS to a peer: the client configuration (trust anchor, this server's certificate) and
/// the name the peer's certificate must carry.
#[derive(Debug, Clone)]
pub(crate) struct PeerTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

/// The TLS setup of the connections to `p`: `None` for an `http://` url.
pub(crate) fn peer_tls(cfg: &HaConfig, p: &PeerConfig) -> Result<Option<PeerTls>, String> {
    if p.url.scheme != Scheme::Https {
        return Ok(None);
    }
    let bad = |e: String| format!("bad TLS config for server {}: {e}", p.name);
    let files = TlsFiles::of(cfg, p)
        .ok_or_else(|| bad("https needs trust-anchor, cert-file and key-file".to_owned()))?;
    Ok(Some(PeerTls {
        config: tls::client_config(&files).map_err(bad)?,
        name: tls::server_name(&p.url).map_err(bad)?,
    }))
}

/// The connections to one peer: up to `--ha-connections` of them, opened when first needed.
/// The updates of one lease (`lease4-update` / `lease4-del` of one address) always take the
/// same connection, so they reach the peer in the order the service sent them; other
/// requests take an idle connection, a new one, or the least busy.
///
/// A connection carries one request at a time until a response on it names a dhcp4d
/// listener ([`SERVER_NAME`]): Kea's HTTP server does not read pipelined requests, dhcp4d's
/// does, so to a dhcp4d partner a connection then writes every queued request (up to
/// [`MAX_PIPELINE`] unanswered) in one write. And once the partner is known to read them,
/// the lease updates all take [`PIPELINED_LEASE_CONNECTIONS`] connection(s), so that one
/// write and one partner read carry the updates of a whole loop turn; the address →
/// connection mapping changes only while no request is in flight, so no update can overtake
/// an earlier one of the same address.
#[derive(Debug)]
struct PeerPool {
    target: Arc<PeerTarget>,
    answers: mpsc::UnboundedSender<PeerAnswer>,
    /// What the connection tasks learn and count for the whole pool.
    shared: Arc<PoolShared>,
    /// `None`: not opened yet.
    conns: Vec<Option<ConnHandle>>,
    /// The connections the lease updates are spread over now (the first ones of `conns`).
    lease_conns: usize,
}

/// What a pool's connection tasks share with it.
#[derive(Debug)]
struct PoolShared {
    /// Whether the peer's last response named a listener that reads pipelined requests:
    /// [`UNKNOWN`], [`PIPELINES`] or [`ONE_AT_A_TIME`].
    pipelining: AtomicU8,
    /// Requests given to the pool's tasks and not answered yet, over all connections.
    pending: AtomicUsize,
}

/// [`PoolShared::pipelining`]: no response yet.
const UNKNOWN: u8 = 0;
/// [`PoolShared::pipelining`]: the peer reads pipelined requests.
const PIPELINES: u8 = 1;
/// [`PoolShared::pipelining`]: the peer reads one request at a time (Kea).
const ONE_AT_A_TIME: u8 = 2;

impl Default for PoolShared {
    fn default() -> Self {
        Self {
            pipelining: AtomicU8::new(UNKNOWN),
            pending: AtomicUsize::new(0),
        }
    }
}

/// A connection task of a [`PeerPool`].
#[derive(Debug)]
struct ConnHandle {
    tx: mpsc::UnboundedSender<PeerRequest>,
    /// Requests given to the task and not answered yet.
    pending: Arc<AtomicUsize>,
}

impl PeerPool {
    fn new(
        target: PeerTarget,
        connections: usize,
        answers: mpsc::UnboundedSender<PeerAnswer>,
    ) -> Self {
        let n = connections.max(1);
        Self {
            target: Arc::new(target),
            answers,
            shared: Arc::new(PoolShared::default()),
            conns: (0..n).map(|_| None).collect(),
            lease_conns: n,
        }
    }

    /// Hands `r` to a connection task; `lease`: the address of a lease update. `false` when
    /// the task is gone.
    fn send(&mut self, r: PeerRequest, lease: Option<Ipv4Addr>) -> bool {
        let i = match lease {
            Some(a) => lease_slot(a, self.lease_connections()),
            None => self.least_busy(),
        };
        let (target, answers, shared) = (&self.target, &self.answers, &self.shared);
        let h = self.conns[i]
            .get_or_insert_with(|| spawn_conn(target.clone(), answers.clone(), shared.clone()));
        h.pending.fetch_add(1, Ordering::Relaxed);
        self.shared.pending.fetch_add(1, Ordering::Relaxed);
        if h.tx.send(r).is_ok() {
            true
        } else {
            h.pending.fetch_sub(1, Ordering::Relaxed);
            self.shared.pending.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }

    /// How many connections the lease updates are spread over: all of them, or
    /// [`PIPELINED_LEASE_CONNECTIONS`] once the peer is known to read pipelined requests. The
    /// mapping changes only while nothing is in flight: an update on the new mapping could
    /// otherwise overtake an earlier one of the same address still on its old connection.
    fn lease_connections(&mut self) -> usize {
        let want = if self.shared.pipelining.load(Ordering::Relaxed) == PIPELINES {
            PIPELINED_LEASE_CONNECTIONS.min(self.conns.len())
        } else {
            self.conns.len()
        };
        if want != self.lease_conns && self.shared.pending.load(Ordering::Relaxed) == 0 {
            self.lease_conns = want;
        }
        self.lease_conns
    }

    /// An idle open connection, else one not opened yet, else the open one with the fewest
    /// requests waiting.
    fn least_busy(&self) -> usize {
        let mut unopened = None;
        let mut best: Option<(usize, usize)> = None;
        for (i, c) in self.conns.iter().enumerate() {
            match c {
                Some(h) => {
                    let p = h.pending.load(Ordering::Relaxed);
                    if p == 0 {
                        return i;
                    }
                    if best.is_none_or(|(_, b)| p < b) {
                        best = Some((i, p));
                    }
                }
                None => {
                    unopened.get_or_insert(i);
                }
            }
        }
        unopened.or_else(|| best.map(|(i, _)| i)).unwrap_or(0)
    }
}

/// The connection (of `n`) that carries the updates of the lease at `addr`.
fn lease_slot(addr: Ipv4Addr, n: usize) -> usize {
    // Fibonacci hashing: consecutive addresses spread over the connections.
    let h = u64::from(u32::from(addr)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    usize::try_from(h % n.max(1) as u64).unwrap_or(0)
}

/// Whether a response names a listener that reads pipelined requests (dhcp4d's
/// [`SERVER_NAME`]; Kea sends no `Server` header).
fn reads_pipelined(resp: &HttpResponse) -> bool {
    resp.header("Server")
        .is_some_and(|v| v.starts_with(PIPELINING_SERVER))
}

/// One connection to a peer.
#[derive(Debug)]
struct Conn {
    stream: HaStream,
    http: ClientConn,
    /// The last response named a listener that reads pipelined requests.
    pipelining: bool,
    /// A response came back on this connection (it was kept alive at least once).
    answered: bool,
}

/// A request in a connection task.
#[derive(Debug)]
struct Queued {
    req: PeerRequest,
    /// This is the second attempt (see [`ConnTask::connection_lost`]).
    retried: bool,
}

/// What woke a waiting connection task.
#[derive(Debug)]
enum Wake {
    /// The socket's read.
    Read(io::Result<usize>),
    /// A request from the pool (`None`: the pool is gone).
    Request(Option<PeerRequest>),
    /// The alarm: a deadline may have passed.
    Deadline,
}

/// The task of one connection to a peer: requests in, in order; written one at a time, or
/// all queued ones at once (up to [`MAX_PIPELINE`] unanswered) once the listener is known
/// to read pipelined requests; answers out in order. Each request is bounded by the
/// deadline the service gave: an unanswered one past it fails with
/// [`TransportError::Timeout`] and, as the answers after it cannot overtake it, the
/// connection is closed and the other requests written on it fail too. A refused
/// connection, a failed TLS handshake, an I/O error or an unparsable response fail the
/// requests written on that connection (those not written yet go on a new one). A kept
/// connection the peer closed while idle is noticed (the task reads it while idle) and
/// replaced; if the close crosses a write, what was written is sent once more on a new
/// connection.
#[derive(Debug)]
struct ConnTask {
    target: Arc<PeerTarget>,
    answers: mpsc::UnboundedSender<PeerAnswer>,
    shared: Arc<PoolShared>,
    /// This connection's count of unanswered requests (the pool's `least_busy`).
    pending: Arc<AtomicUsize>,
    conn: Option<Conn>,
    /// Waiting to be written, in order.
    queue: VecDeque<Queued>,
    /// Written on `conn`, not answered yet, oldest first.
    in_flight: VecDeque<Queued>,
    /// `in_flight` began with a write on a kept connection that was idle, and nothing has
    /// been read back since: if the connection ends now, the peer closed it while idle,
    /// before reading what was written.
    idle_close_suspect: bool,
    /// The bytes being written (kept between writes).
    out: Vec<u8>,
    /// Read buffer (kept between reads).
    buf: Vec<u8>,
    /// Fires at the oldest unanswered request's deadline (or earlier, see [`Alarm`]).
    alarm: Alarm,
    /// The daemon dropped its end of the answers.
    gone: bool,
}

/// Starts a connection task to `target`, answers out to `answers`.
fn spawn_conn(
    target: Arc<PeerTarget>,
    answers: mpsc::UnboundedSender<PeerAnswer>,
    shared: Arc<PoolShared>,
) -> ConnHandle {
    let (tx, rx) = mpsc::unbounded_channel::<PeerRequest>();
    let pending = Arc::new(AtomicUsize::new(0));
    let task = ConnTask {
        target,
        answers,
        shared,
        pending: pending.clone(),
        conn: None,
        queue: VecDeque::new(),
        in_flight: VecDeque::new(),
        idle_close_suspect: false,
        out: Vec::with_capacity(4096),
        buf: vec![0u8; 16 * 1024],
        alarm: Alarm::new(),
        gone: false,
    };
    tokio::spawn(task.run(rx));
    ConnHandle { tx, pending }
}

impl ConnTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<PeerRequest>) {
        while !self.gone {
            while let Ok(r) = rx.try_recv() {
                self.queue.push_back(Queued {
                    req: r,
                    retried: false,
                });
            }
            if !self.queue.is_empty() && self.room() > 0 {
                self.write_queued().await;
                continue;
            }
            let wake = match &mut self.conn {
                // Nothing to write and no connection: wait for a request.
                None => Wake::Request(rx.recv().await),
                Some(c) => {
                    if let Some(w) = self.in_flight.front() {
                        self.alarm.arm(w.req.deadline);
                    }
                    // While idle too: the peer may close a kept connection.
                    tokio::select! {
                        biased;
                        r = c.stream.read(&mut self.buf) => Wake::Read(r),
                        r = rx.recv() => Wake::Request(r),
                        () = self.alarm.fired(), if !self.in_flight.is_empty() => Wake::Deadline,
                    }
                }
            };
            match wake {
                Wake::Read(Ok(0)) => self.connection_lost("connection closed by the peer"),
                Wake::Read(Err(e)) => self.connection_lost(&e.to_string()),
                Wake::Read(Ok(n)) => self.on_input(n),
                Wake::Request(Some(r)) => self.queue.push_back(Queued {
                    req: r,
                    retried: false,
                }),
                // The pool is gone: so is the daemon.
                Wake::Request(None) => return,
                Wake::Deadline => self.on_deadline(),
            }
        }
    }

    /// How many more requests may be written now: one at a time until the listener is
    /// known to read pipelined requests (a new connection: one).
    fn room(&self) -> usize {
        let cap = match &self.conn {
            Some(c) if c.pipelining => MAX_PIPELINE,
            _ => 1,
        };
        cap.saturating_sub(self.in_flight.len())
    }

    /// The answer (or failure) of one request, to the daemon.
    fn deliver(&mut self, id: u64, res: Result<Answer, TransportError>) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
        self.shared.pending.fetch_sub(1, Ordering::Relaxed);
        if self.answers.send((id, res)).is_err() {
            self.gone = true;
        }
    }

    /// Writes what `room` allows of the queue, on the kept connection or a new one.
    async fn write_queued(&mut self) {
        let now = Instant::now();
        // The service already gave up on these.
        while self.queue.front().is_some_and(|q| q.req.deadline <= now) {
            if let Some(q) = self.queue.pop_front() {
                self.deliver(q.req.id, Err(TransportError::Timeout));
            }
        }
        let Some(head) = self.queue.front() else {
            return;
        };
        if self.conn.is_none() {
            match self.open(head.req.deadline).await {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    if let Some(q) = self.queue.pop_front() {
                        self.deliver(q.req.id, Err(e));
                    }
                    return;
                }
            }
        }
        let room = self.room();
        let Some(c) = self.conn.as_mut() else {
            return;
        };
        if self.in_flight.is_empty() {
            self.idle_close_suspect = c.answered;
        }
        self.out.clear();
        for _ in 0..room {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            c.http.encode_kea(&q.req.body, &mut self.out);
            self.in_flight.push_back(q);
        }
        let mut written = 0;
        while written < self.out.len() {
            if let Some(w) = self.in_flight.front() {
                self.alarm.arm(w.req.deadline);
            }
            let Some(c) = self.conn.as_mut() else {
                return;
            };
            // `write` is cancel-safe: an alarm that fires early loses nothing.
            let r = tokio::select! {
                biased;
                r = c.stream.write(&self.out[written..]) => Some(r),
                () = self.alarm.fired() => None,
            };
            match r {
                Some(Ok(0)) => return self.connection_lost("connection closed while writing"),
                Some(Ok(n)) => written += n,
                Some(Err(e)) => return self.connection_lost(&e.to_string()),
                None => {
                    self.on_deadline();
                    if self.conn.is_none() {
                        return;
                    }
                }
            }
        }
        if let Some(c) = self.conn.as_mut()
            && let Err(e) = c.stream.flush().await
        {
            self.connection_lost(&e.to_string());
        }
    }

    /// Opens a connection for requests due by `deadline`.
    async fn open(&self, deadline: Instant) -> Result<Conn, TransportError> {
        let t = &*self.target;
        let Some(addr) = t.addr else {
            return Err(TransportError::Connect(
                "the peer's url is not an IP address".into(),
            ));
        };
        let stream = match tokio::time::timeout_at(deadline.into(), connect(t, addr)).await {
            Err(_) => return Err(TransportError::Timeout),
            Ok(r) => r?,
        };
        let mut http = ClientConn::new(&t.host, Limits::default());
        http.set_basic_auth(t.auth.clone());
        Ok(Conn {
            stream,
            http,
            pipelining: false,
            answered: false,
        })
    }

    /// `n` bytes read: every complete response answers the oldest request in flight.
    fn on_input(&mut self, n: usize) {
        self.idle_close_suspect = false;
        let Some(c) = self.conn.as_mut() else {
            return;
        };
        if let Err(e) = c.http.handle_input(&self.buf[..n]) {
            return self.fail_connection(&TransportError::Http(e.to_string()));
        }
        loop {
            let Some(c) = self.conn.as_mut() else {
                return;
            };
            match c.http.poll_response() {
                None => return,
                Some(Err(e)) => {
                    // Also bytes on an idle connection (`UnexpectedResponse`): not usable.
                    return self.fail_connection(&TransportError::Http(e.to_string()));
                }
                Some(Ok(resp)) => {
                    c.answered = true;
                    c.pipelining = reads_pipelined(&resp);
                    let closing = c.http.should_close();
                    let learnt = if c.pipelining {
                        PIPELINES
                    } else {
                        ONE_AT_A_TIME
                    };
                    if self.shared.pipelining.load(Ordering::Relaxed) != learnt {
                        self.shared.pipelining.store(learnt, Ordering::Relaxed);
                    }
                    // `ClientConn` counts the requests: a response has one.
                    if let Some(w) = self.in_flight.pop_front() {
                        self.deliver(w.req.id, answer_from_http(&resp.body));
                    }
                    if closing {
                        // The peer closes after this response: the rest were not answered.
                        return self.fail_connection(&TransportError::Io(
                            "connection closed by the peer".into(),
                        ));
                    }
                }
            }
        }
    }

    /// The connection ended (closed by the peer, or an I/O error): the requests written on
    /// it fail, except when the peer closed the kept connection while it was idle, before
    /// reading anything written since: those are written once more on a new connection.
    fn connection_lost(&mut self, reason: &str) {
        if self.idle_close_suspect {
            self.idle_close_suspect = false;
            self.conn = None;
            while let Some(w) = self.in_flight.pop_back() {
                if w.retried {
                    self.deliver(w.req.id, Err(TransportError::Io(reason.to_owned())));
                } else {
                    self.queue.push_front(Queued {
                        req: w.req,
                        retried: true,
                    });
                }
            }
            return;
        }
        self.fail_connection(&TransportError::Io(reason.to_owned()));
    }

    /// Closes the connection; every request written on it fails with `e`.
    fn fail_connection(&mut self, e: &TransportError) {
        self.conn = None;
        self.idle_close_suspect = false;
        while let Some(w) = self.in_flight.pop_front() {
            self.deliver(w.req.id, Err(e.clone()));
        }
    }

    /// The alarm fired: if the oldest request in flight is past its deadline, it fails with
    /// [`TransportError::Timeout`], and so does the connection (the answers behind it cannot
    /// come first).
    fn on_deadline(&mut self) {
        let now = Instant::now();
        match self.in_flight.front() {
            Some(w) if w.req.deadline <= now => {
                self.conn = None;
                self.idle_close_suspect = false;
                while let Some(w) = self.in_flight.pop_front() {
                    let e = if w.req.deadline <= now {
                        TransportError::Timeout
                    } else {
                        TransportError::Io(
                            "connection closed: an earlier request on it timed out".into(),
                        )
                    };
                    self.deliver(w.req.id, Err(e));
                }
            }
            // Early (the request it was armed for was answered): armed again by the caller.
            _ => {}
        }
    }
}

/// Opens a connection to `t` (TCP, then the TLS handshake for `https://`).
async fn connect(t: &PeerTarget, addr: SocketAddr) -> Result<HaStream, TransportError> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| TransportError::Connect(e.to_string()))?;
    let _ = s.set_nodelay(true);
    match &t.tls {
        None => Ok(HaStream::Tcp(s)),
        Some(tls) => tokio_rustls::TlsConnector::from(tls.config.clone())
            .connect(tls.name.clone(), s)
            .await
            .map(|s| HaStream::TlsClient(Box::new(s)))
            .map_err(|e| TransportError::Connect(format!("TLS handshake failed: {e}"))),
    }
}

// ---------------------------------------------------------------------- listener

/// The TLS setup of the listener: `None` when this server's url is `http://`.
pub(crate) fn listener_tls(cfg: &HaConfig) -> Result<Option<Arc<ServerConfig>>, String> {
    let me = cfg.this_server();
    if me.url.scheme != Scheme::Https {
        return Ok(None);
    }
    let bad = |e: String| format!("bad TLS config for server {}: {e}", me.name);
    let files = TlsFiles::of(cfg, me)
        .ok_or_else(|| bad("https needs trust-anchor, cert-file and key-file".to_owned()))?;
    tls::server_config(&files, cfg.require_client_certs)
        .map(Some)
        .map_err(bad)
}

/// Serves the HA listener on `addr` (TLS with `tls`): admitted commands go to the loop
/// through `to_loop`.
pub(crate) fn serve_listener(
    addr: SocketAddr,
    policy: ListenerPolicy,
    tls: Option<Arc<ServerConfig>>,
    to_loop: mpsc::Sender<ListenerMsg>,
) -> io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let bound = listener.local_addr()?;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let _ = conn.set_nodelay(true);
            let (policy, to_loop, acceptor) = (policy.clone(), to_loop.clone(), acceptor.clone());
            tokio::spawn(async move {
                let stream = match acceptor {
                    None => HaStream::Tcp(conn),
                    // A client that fails the handshake (no certificate, or one the trust
                    // anchor did not sign) is dropped; it sees the TLS alert.
                    Some(a) => match tokio::time::timeout(HANDSHAKE, a.accept(conn)).await {
                        Ok(Ok(s)) => HaStream::TlsServer(Box::new(s)),
                        _ => return,
                    },
                };
                listener_conn(stream, policy, to_loop).await;
            });
        }
    });
    Ok(bound)
}

/// A request of a listener connection, in the order read: its answer, now or from the loop.
#[derive(Debug)]
enum Answering {
    /// Answered without the loop (refused by [`admit`], or unparsable).
    Ready(HttpResponse),
    /// Waiting for the loop's answer (the HTTP body).
    Loop(oneshot::Receiver<String>),
}

async fn listener_conn(
    mut conn: HaStream,
    policy: ListenerPolicy,
    to_loop: mpsc::Sender<ListenerMsg>,
) {
    let mut http = ServerConn::default();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    let mut answering = VecDeque::new();
    // Kea's idle timeout, with one timer registration per LISTENER_IDLE, not one per read.
    let mut idle = Alarm::new();
    let mut last_read = Instant::now();
    loop {
        idle.arm(last_read + LISTENER_IDLE);
        let n = tokio::select! {
            biased;
            r = conn.read(&mut chunk) => match r {
                Ok(n) => n,
                Err(_) => return,
            },
            () = idle.fired() => {
                if last_read.elapsed() >= LISTENER_IDLE {
                    return;
                }
                continue;
            }
        };
        if n == 0 {
            return;
        }
        last_read = Instant::now();
        let date = http_date(crate::dhcp4d::daemon::unix_now());
        if let Err(e) = http.handle_input(&chunk[..n]) {
            answering.push_back(Answering::Ready(HttpResponse::kea_error(e.status(), &date)));
        }
        // Every request read goes to the loop before any answer is awaited: pipelined lease
        // updates are applied in one loop turn and answered after one group commit.
        while let Some(r) = http.poll_request() {
            let a = match r {
                Ok(req) => match admit(&req, &policy) {
                    Admission::Command(_) => {
                        let (tx, rx) = oneshot::channel();
                        if to_loop.send((req.body, tx)).await.is_err() {
                            return;
                        }
                        Answering::Loop(rx)
                    }
                    other => Answering::Ready(
                        other
                            .response(&policy, &date)
                            .unwrap_or_else(|| HttpResponse::kea_error(500, &date)),
                    ),
                },
                Err(e) => Answering::Ready(HttpResponse::kea_error(e.status(), &date)),
            };
            answering.push_back(a);
        }
        // Answers in request order; every answer ready at that moment in one write.
        while let Some(first) = answering.pop_front() {
            let resp = match first {
                Answering::Ready(r) => r,
                Answering::Loop(rx) => match rx.await {
                    Ok(text) => HttpResponse::kea_json(200, text.into_bytes(), &date),
                    Err(_) => return,
                },
            };
            encode_named(&mut http, resp, &mut out);
            while let Some(next) = answering.front_mut() {
                let resp = match next {
                    Answering::Ready(_) => match answering.pop_front() {
                        Some(Answering::Ready(r)) => r,
                        _ => break,
                    },
                    Answering::Loop(rx) => match rx.try_recv() {
                        Ok(text) => {
                            answering.pop_front();
                            HttpResponse::kea_json(200, text.into_bytes(), &date)
                        }
                        Err(oneshot::error::TryRecvError::Empty) => break,
                        Err(oneshot::error::TryRecvError::Closed) => return,
                    },
                };
                encode_named(&mut http, resp, &mut out);
            }
            if conn.write_all(&out).await.is_err() || conn.flush().await.is_err() {
                return;
            }
            out.clear();
        }
        if http.should_close() {
            let _ = conn.shutdown().await;
            return;
        }
    }
}

/// Appends `resp` with the `Server` header naming dhcp4d, after Kea's headers.
fn encode_named(http: &mut ServerConn, mut resp: HttpResponse, out: &mut Vec<u8>) {
    resp.headers.push(Header::new("Server", SERVER_NAME));
    http.encode(&resp, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offset_saturates() {
        assert_eq!(offset_unix(100, 61), 161);
        assert_eq!(offset_unix(100, -61), 39);
        assert_eq!(offset_unix(10, -61), 0);
    }

    #[test]
    fn lease_slots_are_fixed_per_address_and_spread() {
        for n in [1, 2, 8, 16] {
            let mut per = vec![0usize; n];
            for i in 0..4096u32 {
                let a = Ipv4Addr::from(0xc000_0200 + i);
                let s = lease_slot(a, n);
                assert!(s < n);
                assert_eq!(s, lease_slot(a, n), "same address, same connection");
                per[s] += 1;
            }
            let even = 4096 / n;
            assert!(
                per.iter().all(|&c| c >= even / 2 && c <= even * 2),
                "{n}: {per:?}"
            );
        }
    }

    /// A peer on 127.0.0.1 that answers every command with success, the connection of
    /// index `k` after `k` ms, recording the (ip-address, command) of each lease command in
    /// the order it read them.
    async fn recording_peer() -> (SocketAddr, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = log.clone();
        tokio::spawn(async move {
            for k in 0u64.. {
                let (mut c, _) = l.accept().await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut http = ServerConn::default();
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = match c.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        http.handle_input(&buf[..n]).unwrap();
                        while let Some(r) = http.poll_request() {
                            let req = Request::from_json(&r.unwrap().body).unwrap();
                            let ip = req.lease_address().map(|a| a.to_string());
                            seen.lock()
                                .unwrap()
                                .push((ip.unwrap_or_default(), req.command.clone()));
                            tokio::time::sleep(Duration::from_millis(k % 4)).await;
                            let mut out = Vec::new();
                            let body = br#"[ { "result": 0, "text": "ok" } ]"#.to_vec();
                            http.encode(&HttpResponse::kea_json(200, body, "x"), &mut out);
                            c.write_all(&out).await.unwrap();
                        }
                    }
                });
            }
        });
        (addr, log)
    }

    #[test]
    fn updates_of_one_lease_arrive_in_order_over_many_connections() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (addr, log) = recording_peer().await;
            let (tx, mut rx) = mpsc::unbounded_channel();
            let target = PeerTarget {
                addr: Some(addr),
                host: "127.0.0.1".into(),
                auth: None,
                tls: None,
            };
            let mut pool = PeerPool::new(target, 8, tx);
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut id = 0;
            // Per address: update, delete, update; 40 addresses, interleaved.
            let cmds = ["lease4-update", "lease4-del", "lease4-update"];
            for c in cmds {
                for i in 0..40u32 {
                    let a = Ipv4Addr::from(0xc000_0200 + i);
                    let body = format!(r#"{{"command":"{c}","arguments":{{"ip-address":"{a}"}}}}"#);
                    let lease = Request::from_json(body.as_bytes()).unwrap().lease_address();
                    assert_eq!(lease, Some(a));
                    id += 1;
                    let r = PeerRequest {
                        id,
                        body: body.into_bytes(),
                        deadline,
                    };
                    assert!(pool.send(r, lease));
                }
            }
            // A heartbeat takes any connection.
            id += 1;
            let hb = PeerRequest {
                id,
                body: br#"{"command":"ha-heartbeat"}"#.to_vec(),
                deadline,
            };
            assert!(pool.send(hb, None));
            for _ in 0..id {
                let (_, res) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .expect("every request answered in time")
                    .unwrap();
                assert_eq!(res.unwrap().result, 0);
            }
            let opened = pool.conns.iter().filter(|c| c.is_some()).count();
            assert!(opened >= 4, "the updates spread over connections: {opened}");
            assert!(
                pool.conns
                    .iter()
                    .flatten()
                    .all(|c| c.pending.load(Ordering::Relaxed) == 0)
            );
            let log = log.lock().unwrap();
            assert_eq!(log.len(), 121);
            for i in 0..40u32 {
                let a = Ipv4Addr::from(0xc000_0200 + i).to_string();
                let got: Vec<&str> = log
                    .iter()
                    .filter(|(ip, _)| *ip == a)
                    .map(|(_, c)| c.as_str())
                    .collect();
                assert_eq!(got, cmds, "{a}");
            }
        });
    }

    /// How a [`fake_peer`] behaves.
    #[derive(Debug, Clone, Copy, Default)]
    struct FakeOpts {
        /// Names itself dhcp4d (`Server` header): its clients may pipeline.
        server_header: bool,
        /// Waits this long after each read before answering what it read.
        delay: Duration,
        /// On its first connection: once `.0` requests were read after the first one, it
        /// answers the next `.1` of them and closes (the rest stay unanswered).
        close_mid_pipeline: Option<(usize, usize)>,
        /// Closes every connection once it answered one request.
        close_when_idle: bool,
    }

    /// What a [`fake_peer`] saw.
    #[derive(Debug, Default)]
    struct FakeLog {
        /// (connection index, command, lease address) in the order read.
        seen: Vec<(usize, String, String)>,
        /// The most requests read and not yet answered at one time, on any connection.
        most_unanswered: usize,
        /// Connections accepted.
        connections: usize,
    }

    /// A peer listener on 127.0.0.1 answering every request with success, in order, as
    /// `opts` says.
    async fn fake_peer(opts: FakeOpts) -> (SocketAddr, Arc<std::sync::Mutex<FakeLog>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let log = Arc::new(std::sync::Mutex::new(FakeLog::default()));
        let shared = log.clone();
        tokio::spawn(async move {
            for k in 0usize.. {
                let (mut c, _) = l.accept().await.unwrap();
                shared.lock().unwrap().connections += 1;
                let log = shared.clone();
                tokio::spawn(async move {
                    let mut http = ServerConn::default();
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut unanswered = 0usize;
                    let mut read_total = 0usize;
                    loop {
                        let n = match c.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        http.handle_input(&buf[..n]).unwrap();
                        while let Some(r) = http.poll_request() {
                            let req = Request::from_json(&r.unwrap().body).unwrap();
                            let ip = req.lease_address().map(|a| a.to_string());
                            log.lock().unwrap().seen.push((
                                k,
                                req.command.clone(),
                                ip.unwrap_or_default(),
                            ));
                            unanswered += 1;
                            read_total += 1;
                        }
                        {
                            let mut l = log.lock().unwrap();
                            l.most_unanswered = l.most_unanswered.max(unanswered);
                        }
                        let mut answer = |n: usize, out: &mut Vec<u8>| {
                            for _ in 0..n {
                                let body = br#"[ { "result": 0, "text": "ok" } ]"#.to_vec();
                                let mut resp = HttpResponse::kea_json(200, body, "x");
                                if opts.server_header {
                                    resp.headers.push(Header::new("Server", SERVER_NAME));
                                }
                                http.encode(&resp, out);
                            }
                        };
                        let mut out = Vec::new();
                        if let Some((after, answered)) = opts.close_mid_pipeline
                            && k == 0
                            && read_total > 1
                        {
                            if read_total < 1 + after {
                                continue;
                            }
                            answer(answered, &mut out);
                            c.write_all(&out).await.unwrap();
                            let _ = c.shutdown().await;
                            return;
                        }
                        if !opts.delay.is_zero() {
                            tokio::time::sleep(opts.delay).await;
                        }
                        answer(unanswered, &mut out);
                        unanswered = 0;
                        c.write_all(&out).await.unwrap();
                        if opts.close_when_idle {
                            let _ = c.shutdown().await;
                            return;
                        }
                    }
                });
            }
        });
        (addr, log)
    }

    fn pool_to(
        addr: SocketAddr,
        connections: usize,
    ) -> (PeerPool, mpsc::UnboundedReceiver<PeerAnswer>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let target = PeerTarget {
            addr: Some(addr),
            host: "127.0.0.1".into(),
            auth: None,
            tls: None,
        };
        (PeerPool::new(target, connections, tx), rx)
    }

    /// A `lease4-update` of `a` with request id `id`.
    fn update(id: u64, a: Ipv4Addr) -> (PeerRequest, Option<Ipv4Addr>) {
        let body = format!(r#"{{"command":"lease4-update","arguments":{{"ip-address":"{a}"}}}}"#);
        let req = PeerRequest {
            id,
            body: body.into_bytes(),
            deadline: Instant::now() + Duration::from_secs(10),
        };
        (req, Some(a))
    }

    /// The next `n` answers, by request id.
    async fn answers(
        rx: &mut mpsc::UnboundedReceiver<PeerAnswer>,
        n: usize,
    ) -> BTreeMap<u64, Result<Answer, TransportError>> {
        let mut got = BTreeMap::new();
        for _ in 0..n {
            let (id, res) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("every request answered in time")
                .unwrap();
            assert!(got.insert(id, res).is_none(), "request {id} answered twice");
        }
        got
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_partner_without_the_server_header_never_gets_pipelined_requests() {
        for server_header in [false, true] {
            block_on(async {
                let delay = Duration::from_millis(3);
                let (addr, log) = fake_peer(FakeOpts {
                    server_header,
                    delay,
                    ..FakeOpts::default()
                })
                .await;
                let (mut pool, mut rx) = pool_to(addr, 4);
                // 30 updates of one address: one connection, queued at once.
                let a = Ipv4Addr::new(192, 0, 2, 10);
                for id in 1..=30 {
                    let (r, lease) = update(id, a);
                    assert!(pool.send(r, lease));
                }
                let got = answers(&mut rx, 30).await;
                assert!(
                    got.values()
                        .all(|r| r.as_ref().is_ok_and(|a| a.result == 0))
                );
                let most = log.lock().unwrap().most_unanswered;
                let learnt = pool.shared.pipelining.load(Ordering::Relaxed);
                if server_header {
                    assert!(most > 1, "a dhcp4d partner got no pipelined requests");
                    assert_eq!(learnt, PIPELINES);
                } else {
                    assert_eq!(most, 1, "Kea (no Server header) got pipelined requests");
                    assert_eq!(learnt, ONE_AT_A_TIME);
                }
                // Then updates of 40 addresses: over the 4 connections to Kea, over one
                // to a dhcp4d partner.
                for i in 0..40u32 {
                    let (r, lease) = update(100 + u64::from(i), Ipv4Addr::from(0xc000_0220 + i));
                    assert!(pool.send(r, lease));
                }
                let got = answers(&mut rx, 40).await;
                assert!(got.values().all(Result::is_ok));
                let log = log.lock().unwrap();
                let conns: std::collections::BTreeSet<usize> =
                    log.seen[30..].iter().map(|(k, _, _)| *k).collect();
                if server_header {
                    assert_eq!(pool.lease_conns, PIPELINED_LEASE_CONNECTIONS);
                    assert_eq!(conns.len(), 1, "{conns:?}");
                    assert!(log.most_unanswered > 1);
                } else {
                    assert_eq!(pool.lease_conns, 4);
                    assert!(conns.len() > 1, "{conns:?}");
                    assert_eq!(log.most_unanswered, 1);
                }
                assert_eq!(pool.shared.pending.load(Ordering::Relaxed), 0);
            });
        }
    }

    #[test]
    fn a_connection_closed_mid_pipeline_fails_exactly_the_requests_written_on_it() {
        block_on(async {
            // Of the 64 pipelined after the first request, the peer answers 2 and closes.
            let (addr, log) = fake_peer(FakeOpts {
                server_header: true,
                close_mid_pipeline: Some((MAX_PIPELINE, 2)),
                ..FakeOpts::default()
            })
            .await;
            let (mut pool, mut rx) = pool_to(addr, 1);
            let a = Ipv4Addr::new(192, 0, 2, 10);
            let (r, lease) = update(1, a);
            assert!(pool.send(r, lease));
            assert!(answers(&mut rx, 1).await[&1].is_ok());
            // 64 written in one go, 5 more wait in the queue.
            let total = MAX_PIPELINE as u64 + 5;
            for id in 2..=1 + total {
                let (r, lease) = update(id, a);
                assert!(pool.send(r, lease));
            }
            let got = answers(&mut rx, total as usize).await;
            let log = log.lock().unwrap();
            assert_eq!(log.connections, 2);
            // What went on the new connection (ids from the lease addresses' order).
            let again = log.seen.iter().filter(|(k, _, _)| *k == 1).count() as u64;
            // The first 64 were written on the closed connection; after its 2 answers the
            // client may have written 2 more before it saw the close. The rest went on a
            // new connection, each once.
            assert!((3..=5).contains(&again), "{again} sent again");
            let first_again = 2 + total - again;
            for (id, res) in &got {
                match *id {
                    2 | 3 => assert!(res.is_ok(), "{id}: {res:?}"),
                    i if i < first_again => assert!(
                        matches!(res, Err(TransportError::Io(_))),
                        "{id} was written on the closed connection: {res:?}"
                    ),
                    _ => assert!(
                        res.is_ok(),
                        "{id} was not written before the close: {res:?}"
                    ),
                }
            }
            assert_eq!(pool.shared.pending.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn a_kept_connection_the_peer_closed_while_idle_is_replaced() {
        block_on(async {
            let (addr, log) = fake_peer(FakeOpts {
                server_header: true,
                close_when_idle: true,
                ..FakeOpts::default()
            })
            .await;
            let (mut pool, mut rx) = pool_to(addr, 1);
            for id in 1..=3 {
                let (r, lease) = update(id, Ipv4Addr::new(192, 0, 2, 10));
                assert!(pool.send(r, lease));
                let got = answers(&mut rx, 1).await;
                assert!(got[&id].is_ok(), "{got:?}");
            }
            assert_eq!(log.lock().unwrap().connections, 3);
        });
    }

    #[test]
    fn the_listener_answers_pipelined_requests_in_order_in_one_loop_turn() {
        block_on(async {
            let policy = ListenerPolicy {
                restrict_commands: true,
                basic_auth: Vec::new(),
                realm: REALM.into(),
            };
            let (to_loop, mut from_listener) = mpsc::channel::<ListenerMsg>(256);
            let addr =
                serve_listener("127.0.0.1:0".parse().unwrap(), policy, None, to_loop).unwrap();
            // The loop: waits until all 8 admitted commands are there (the listener must
            // hand them over before awaiting an answer), then answers them last first.
            let lp = tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < 8 {
                    got.push(from_listener.recv().await.unwrap());
                }
                for (body, reply) in got.into_iter().rev() {
                    let req = Request::from_json(&body).unwrap();
                    let ip = req.lease_address().unwrap();
                    let text = format!(r#"[ {{ "result": 0, "text": "{ip}" }} ]"#);
                    reply.send(text).unwrap();
                }
            });
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut http = ClientConn::new("127.0.0.1", Limits::default());
            let mut out = Vec::new();
            for i in 0..9u8 {
                if i == 4 {
                    // Refused by restrict-commands (403) without the loop, in order.
                    http.encode_kea(br#"{"command":"config-get"}"#, &mut out);
                    continue;
                }
                let body = format!(
                    r#"{{"command":"lease4-update","arguments":{{"ip-address":"192.0.2.{i}"}}}}"#
                );
                http.encode_kea(body.as_bytes(), &mut out);
            }
            c.write_all(&out).await.unwrap();
            let mut buf = vec![0u8; 16 * 1024];
            let mut resps = Vec::new();
            while resps.len() < 9 {
                let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
                    .await
                    .expect("the listener answers")
                    .unwrap();
                assert!(n > 0, "the listener closed after {} answers", resps.len());
                http.handle_input(&buf[..n]).unwrap();
                while let Some(r) = http.poll_response() {
                    resps.push(r.unwrap());
                }
            }
            lp.await.unwrap();
            for (i, r) in resps.iter().enumerate() {
                assert_eq!(r.header("Server"), Some(SERVER_NAME.as_bytes()));
                assert!(reads_pipelined(r));
                let a = answer_from_http(&r.body);
                if i == 4 {
                    assert_eq!(r.status, 403);
                } else {
                    assert_eq!(r.status, 200);
                    assert_eq!(
                        a.unwrap().text.as_deref(),
                        Some(format!("192.0.2.{i}").as_str())
                    );
                }
            }
        });
    }

    #[test]
    fn ha_commands_go_to_the_service() {
        for c in [
            "ha-heartbeat",
            "ha-maintenance-start",
            "dhcp-disable",
            "dhcp-enable",
        ] {
            assert!(is_ha_command(c), "{c}");
        }
        for c in ["lease4-update", "status-get", "list-commands"] {
            assert!(!is_ha_command(c), "{c}");
        }
    }
}
