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
//! * **Client** ([`PeerPool`]): up to `--ha-connections` persistent connections per peer
//!   ([`DEFAULT_CONNECTIONS`]), opened when first needed, TLS for an `https://` url. Each
//!   carries one request at a time (Kea's HTTP server does not read pipelined requests), so
//!   many lease updates are in flight at once, one per connection. The updates of one lease
//!   always take the same connection (chosen by a hash of its address): a `lease4-update`
//!   and a later `lease4-del` of that address reach the partner in order. Other requests
//!   (heartbeats, sync pages, commands) take an idle connection. Each request is bounded by
//!   the deadline the service gave; answers are read with [`answer_from_http`]; a refused
//!   connection, a failed TLS handshake, an I/O error, an unparsable response or a deadline
//!   become a [`TransportError`]. A kept-alive connection the peer closed while idle is
//!   replaced before use.
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

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dhcp4_ha::control::{Admission, Answer, ListenerPolicy, Request, admit};
use dhcp4_ha::ha::{
    CommandReply, GateAction, HaConfig, HaService, PeerConfig, QueryFacts, Scheme, TransportError,
    answer_from_http,
};
use dhcp4_ha::http::{
    BasicAuth, ClientConn, HttpError, Limits, Response as HttpResponse, ServerConn, http_date,
};
use dhcp4_ha::server::{Gate, LeaseChange, Server};
use dhcp4_ha::wire::Packet;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

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

/// The connections to one peer: up to `--ha-connections` of them, each carrying one request
/// at a time (Kea's HTTP server does not read pipelined requests), opened when first needed.
/// The updates of one lease (`lease4-update` / `lease4-del` of one address) always take the
/// same connection, so they reach the peer in the order the service sent them; other
/// requests take an idle connection, a new one, or the least busy.
#[derive(Debug)]
struct PeerPool {
    target: Arc<PeerTarget>,
    answers: mpsc::UnboundedSender<PeerAnswer>,
    /// `None`: not opened yet.
    conns: Vec<Option<ConnHandle>>,
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
        Self {
            target: Arc::new(target),
            answers,
            conns: (0..connections.max(1)).map(|_| None).collect(),
        }
    }

    /// Hands `r` to a connection task; `lease`: the address of a lease update. `false` when
    /// the task is gone.
    fn send(&mut self, r: PeerRequest, lease: Option<Ipv4Addr>) -> bool {
        let i = match lease {
            Some(a) => lease_slot(a, self.conns.len()),
            None => self.least_busy(),
        };
        let (target, answers) = (&self.target, &self.answers);
        let h = self.conns[i].get_or_insert_with(|| spawn_conn(target.clone(), answers.clone()));
        h.pending.fetch_add(1, Ordering::Relaxed);
        if h.tx.send(r).is_ok() {
            true
        } else {
            h.pending.fetch_sub(1, Ordering::Relaxed);
            false
        }
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

/// One connection to a peer.
#[derive(Debug)]
struct Conn {
    stream: HaStream,
    http: ClientConn,
    /// The bytes of the request being written (kept between requests).
    out: Vec<u8>,
    /// Read buffer (kept between requests).
    buf: Vec<u8>,
}

/// Starts a connection task to `target`: requests in, one at a time, answers out to
/// `answers`.
fn spawn_conn(target: Arc<PeerTarget>, answers: mpsc::UnboundedSender<PeerAnswer>) -> ConnHandle {
    let (tx, mut rx) = mpsc::unbounded_channel::<PeerRequest>();
    let pending = Arc::new(AtomicUsize::new(0));
    let left = pending.clone();
    tokio::spawn(async move {
        let mut conn: Option<Conn> = None;
        while let Some(r) = rx.recv().await {
            let res = exchange(&mut conn, &target, &r).await;
            left.fetch_sub(1, Ordering::Relaxed);
            if answers.send((r.id, res)).is_err() {
                return;
            }
        }
    });
    ConnHandle { tx, pending }
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

/// One request and its answer, on the kept connection or a new one.
async fn exchange(
    conn: &mut Option<Conn>,
    t: &PeerTarget,
    r: &PeerRequest,
) -> Result<Answer, TransportError> {
    let Some(addr) = t.addr else {
        return Err(TransportError::Connect(
            "the peer's url is not an IP address".into(),
        ));
    };
    let deadline = tokio::time::Instant::from_std(r.deadline);
    for attempt in 0..2 {
        if Instant::now() >= r.deadline {
            return Err(TransportError::Timeout);
        }
        if conn.as_ref().is_some_and(|c| !c.stream.still_open()) {
            *conn = None;
        }
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => {
                let stream = match tokio::time::timeout_at(deadline, connect(t, addr)).await {
                    Err(_) => return Err(TransportError::Timeout),
                    Ok(r) => r?,
                };
                let mut http = ClientConn::new(&t.host, Limits::default());
                http.set_basic_auth(t.auth.clone());
                conn.insert(Conn {
                    stream,
                    http,
                    out: Vec::with_capacity(1024),
                    buf: vec![0u8; 16 * 1024],
                })
            }
        };
        match tokio::time::timeout_at(deadline, round_trip(c, &r.body)).await {
            Err(_) => {
                *conn = None;
                return Err(TransportError::Timeout);
            }
            Ok(Ok(resp)) => {
                if c.http.should_close() {
                    *conn = None;
                }
                return answer_from_http(&resp.body);
            }
            Ok(Err((e, nothing_read))) => {
                *conn = None;
                // A kept connection closed by the peer just before we wrote: try a new one.
                if reused && nothing_read && attempt == 0 {
                    continue;
                }
                return Err(e);
            }
        }
    }
    Err(TransportError::Io("connection closed by the peer".into()))
}

/// Writes one request and reads its response. The error says whether nothing at all was
/// read back.
async fn round_trip(c: &mut Conn, body: &[u8]) -> Result<HttpResponse, (TransportError, bool)> {
    c.out.clear();
    c.http.encode_kea(body, &mut c.out);
    if let Err(e) = c.stream.write_all(&c.out).await {
        return Err((TransportError::Io(e.to_string()), true));
    }
    if let Err(e) = c.stream.flush().await {
        return Err((TransportError::Io(e.to_string()), true));
    }
    let mut got = 0usize;
    loop {
        if let Some(r) = c.http.poll_response() {
            return r.map_err(|e| (TransportError::Http(e.to_string()), false));
        }
        let n = match c.stream.read(&mut c.buf).await {
            Ok(0) => {
                return Err((
                    TransportError::Io("connection closed by the peer".into()),
                    got == 0,
                ));
            }
            Ok(n) => n,
            Err(e) => return Err((TransportError::Io(e.to_string()), got == 0)),
        };
        got += n;
        c.http
            .handle_input(&c.buf[..n])
            .map_err(|e: HttpError| (TransportError::Http(e.to_string()), false))?;
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

async fn listener_conn(
    mut conn: HaStream,
    policy: ListenerPolicy,
    to_loop: mpsc::Sender<ListenerMsg>,
) {
    let mut http = ServerConn::default();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        let Ok(Ok(n)) = tokio::time::timeout(LISTENER_IDLE, conn.read(&mut chunk)).await else {
            return;
        };
        if n == 0 {
            return;
        }
        let date = http_date(crate::dhcp4d::daemon::unix_now());
        if let Err(e) = http.handle_input(&chunk[..n]) {
            http.encode(&HttpResponse::kea_error(e.status(), &date), &mut out);
        }
        while let Some(r) = http.poll_request() {
            let resp = match r {
                Ok(req) => match admit(&req, &policy) {
                    Admission::Command(_) => {
                        let (tx, rx) = oneshot::channel();
                        if to_loop.send((req.body, tx)).await.is_err() {
                            return;
                        }
                        match rx.await {
                            Ok(text) => HttpResponse::kea_json(200, text.into_bytes(), &date),
                            Err(_) => return,
                        }
                    }
                    other => match other.response(&policy, &date) {
                        Some(resp) => resp,
                        None => HttpResponse::kea_error(500, &date),
                    },
                },
                Err(e) => HttpResponse::kea_error(e.status(), &date),
            };
            http.encode(&resp, &mut out);
        }
        if !out.is_empty() {
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
