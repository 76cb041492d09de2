//! High Availability in dhcp4d: Kea 2.2's `libdhcp_ha.so` as dhcp4-ha's Sans-IO
//! [`HaService`], with the I/O it needs.
//!
//! * **Listener** ([`serve_listener`]): this server's peer `url` (address and port), as Kea's
//!   dedicated HA listener. HTTP/1.1 `POST /` with a JSON command, keep-alive, answers as a
//!   one-element JSON list. Requests pass dhcp4-ha's [`admit`]: Kea's 400 for a bad request,
//!   `restrict-commands` (403), and, unlike Kea 2.2's listener (which never checks), Basic
//!   authentication when this server's peer entry has `basic-auth-user` (401 with Kea's
//!   body). Admitted commands go to the daemon's loop: HA commands and `dhcp-disable` /
//!   `dhcp-enable` to the [`HaService`], the rest (lease commands, `status-get` with the HA
//!   section, …) to the control handler with origin [`Origin::Partner`], so that the lease
//!   changes they make are never sent back.
//! * **Client** ([`spawn_peer`]): one persistent connection per peer, one request at a time
//!   (Kea's HTTP server does not read pipelined requests), each bounded by the deadline the
//!   service gave. Answers are read with [`answer_from_http`]; a refused connection, an I/O
//!   error, an unparsable response or a deadline become a [`TransportError`]. A kept-alive
//!   connection the peer closed while idle is replaced before use.
//! * **Sequence numbers**: the service sees every [`LeaseChange`] in order; after a
//!   configuration reload the new server numbers its changes from 1 again, so the daemon
//!   offsets them ([`HaNode::on_new_server`]).
//!
//! Load balancing: dhcp4d's pools take no client classes yet, so the `HA_server1` /
//! `HA_server2` pool split Kea needs cannot be expressed; both servers allocate from one
//! shared pool and the hash decides which server answers. Two clients of different scopes in
//! flight at once may be offered the same address by both servers; the second REQUEST is
//! NAKed (the address is leased by then) and the client starts over.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dhcp4_ha::control::{Admission, Answer, ListenerPolicy, Request, admit};
use dhcp4_ha::ha::{
    CommandReply, GateAction, HaConfig, HaService, PeerConfig, QueryFacts, TransportError,
    answer_from_http,
};
use dhcp4_ha::http::{
    BasicAuth, ClientConn, HttpError, Limits, Response as HttpResponse, ServerConn, http_date,
};
use dhcp4_ha::server::{Gate, LeaseChange, Server};
use dhcp4_ha::wire::Packet;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// How long an idle connection to the listener stays open (Kea's idle timeout).
const LISTENER_IDLE: Duration = Duration::from_secs(30);

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
    peers: BTreeMap<String, mpsc::UnboundedSender<PeerRequest>>,
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
    /// The service for `cfg`, with a connection task per other peer whose answers go to
    /// `answers`. Reads the peers' `basic-auth-password-file`s.
    pub(crate) fn new(
        cfg: HaConfig,
        now: Instant,
        unix: u64,
        clock_offset: i64,
        answers: &mpsc::UnboundedSender<PeerAnswer>,
    ) -> Result<Self, String> {
        let mut peers = BTreeMap::new();
        for p in cfg.other_peers() {
            let auth = peer_auth(p)?;
            peers.insert(p.name.clone(), spawn_peer(p, auth, answers.clone()));
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
            match self.peers.get(&r.peer) {
                Some(tx) if tx.send(req).is_ok() => {}
                _ => {
                    let e = TransportError::Connect(format!("no connection to peer {}", r.peer));
                    let unix = self.unix(crate::dhcp4d::daemon::unix_now());
                    self.service.handle_response(now, unix, r.id, Err(e));
                }
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

/// One connection to a peer.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    http: ClientConn,
}

/// Starts the connection task of peer `p`: requests in, answers out to `answers`.
pub(crate) fn spawn_peer(
    p: &PeerConfig,
    auth: Option<BasicAuth>,
    answers: mpsc::UnboundedSender<PeerAnswer>,
) -> mpsc::UnboundedSender<PeerRequest> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PeerRequest>();
    let port = if p.url.port == 0 { 80 } else { p.url.port };
    let addr = p.url.address().map(|a| SocketAddr::new(a, port));
    let host = p.url.stripped_hostname().to_owned();
    tokio::spawn(async move {
        let mut conn: Option<Conn> = None;
        while let Some(r) = rx.recv().await {
            let res = exchange(&mut conn, addr, &host, auth.as_ref(), &r).await;
            if answers.send((r.id, res)).is_err() {
                return;
            }
        }
    });
    tx
}

/// Whether a kept-alive connection is still usable (the peer did not close it).
fn still_open(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// One request and its answer, on the kept connection or a new one.
async fn exchange(
    conn: &mut Option<Conn>,
    addr: Option<SocketAddr>,
    host: &str,
    auth: Option<&BasicAuth>,
    r: &PeerRequest,
) -> Result<Answer, TransportError> {
    let Some(addr) = addr else {
        return Err(TransportError::Connect(
            "the peer's url is not an IP address".into(),
        ));
    };
    let deadline = tokio::time::Instant::from_std(r.deadline);
    for attempt in 0..2 {
        if Instant::now() >= r.deadline {
            return Err(TransportError::Timeout);
        }
        if conn.as_ref().is_some_and(|c| !still_open(&c.stream)) {
            *conn = None;
        }
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => {
                let s = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                    Err(_) => return Err(TransportError::Timeout),
                    Ok(Err(e)) => return Err(TransportError::Connect(e.to_string())),
                    Ok(Ok(s)) => s,
                };
                let _ = s.set_nodelay(true);
                let mut http = ClientConn::new(host, Limits::default());
                http.set_basic_auth(auth.cloned());
                conn.insert(Conn { stream: s, http })
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
    let mut out = Vec::with_capacity(body.len() + 128);
    c.http.encode_kea(body, &mut out);
    if let Err(e) = c.stream.write_all(&out).await {
        return Err((TransportError::Io(e.to_string()), true));
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut got = 0usize;
    loop {
        if let Some(r) = c.http.poll_response() {
            return r.map_err(|e| (TransportError::Http(e.to_string()), false));
        }
        let n = match c.stream.read(&mut buf).await {
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
            .handle_input(&buf[..n])
            .map_err(|e: HttpError| (TransportError::Http(e.to_string()), false))?;
    }
}

// ---------------------------------------------------------------------- listener

/// Serves the HA listener on `addr`: admitted commands go to the loop through `to_loop`.
pub(crate) fn serve_listener(
    addr: SocketAddr,
    policy: ListenerPolicy,
    to_loop: mpsc::Sender<ListenerMsg>,
) -> io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let _ = conn.set_nodelay(true);
            tokio::spawn(listener_conn(conn, policy.clone(), to_loop.clone()));
        }
    });
    Ok(bound)
}

async fn listener_conn(
    mut conn: TcpStream,
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
