//! The HA service: Kea 2.2's state machine (`ha_service.cc`), Sans-IO.
//!
//! Inputs: [`HaService::handle_timeout`], [`HaService::handle_response`] (answers to the
//! requests it asked for), [`HaService::handle_command`] (HA and `dhcp-*` commands from the
//! partner or an operator), [`HaService::lease_changed`] (every lease change of the server)
//! and [`HaService::should_serve`] (every query, before the server sees it). Outputs:
//! [`HaService::poll_request`], [`HaService::poll_event`], [`HaService::poll_gate`],
//! [`HaService::poll_timeout`], and [`HaService::dhcp_enabled`].
//!
//! The service never holds the server: leases fetched during a synchronisation come out as
//! [`HaEvent::LeasesFetched`], which the daemon merges with [`super::merge_leases`] before
//! polling on. Commands whose answer needs a partner round trip answer later
//! ([`CommandReply::Deferred`], then [`HaEvent::CommandAnswered`]).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::comm::{CommState, TERM_CLOCK_SKEW};
use super::config::{HaConfig, HaMode, PeerConfig, Role};
use super::error::TransportError;
use super::event::{GateAction, HaEvent, Reason};
use super::hash::{Classified, Placement, QueryFacts, QueryFilter};
use super::state::{HaState, Pausing};
use crate::control::args::{
    Arguments, DhcpDisable, DhcpEnable, GetPage, HeartbeatAnswer, PageFrom,
};
use crate::control::{
    Answer, Command, KeaLease4, RESULT_ERROR, RESULT_MAINTENANCE_NOT_ALLOWED, RESULT_SUCCESS,
    RESULT_UNSUPPORTED, Request,
};
use crate::lease::Lease4;
use crate::server::{ChangeKind, LeaseChange, Origin};

/// Kea's timeout of a request to a peer (`TIMEOUT_DEFAULT_HTTP_CLIENT_REQUEST`, 10 s);
/// `lease4-get-page` uses `sync-timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on lease updates awaiting acknowledgement (Kea's default
/// `parked-packet-limit` is 256 parked queries).
pub const DEFAULT_MAX_UNACKED_UPDATES: usize = 256;

/// Result code of a conflict (Kea 2.3's `CONTROL_RESULT_CONFLICT`).
pub const RESULT_CONFLICT: i32 = 4;

/// A request for the daemon to send to a peer: `POST /` to the peer's URL with
/// `request.to_kea_json()` as the body and `Host` = the peer's address.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRequest {
    /// Id to give back to [`HaService::handle_response`].
    pub id: u64,
    /// Peer name.
    pub peer: String,
    /// The command.
    pub request: Request,
    /// How long the service waits for the answer (it fails the request itself after that,
    /// through [`HaService::handle_timeout`]).
    pub timeout: Duration,
}

/// The answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandReply {
    /// Answer now.
    Answer(Answer),
    /// The answer needs a request to the partner first: it comes as
    /// [`HaEvent::CommandAnswered`] with this id.
    Deferred(u64),
}

impl CommandReply {
    /// The immediate answer, if any.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Self::Answer(a) => Some(a),
            Self::Deferred(_) => None,
        }
    }
}

/// Counters of the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HaCounters {
    /// Lease updates sent (`lease4-update` and `lease4-del`, partner and backups).
    pub updates_sent: u64,
    /// Lease updates acknowledged.
    pub updates_acked: u64,
    /// Lease updates failed (transport or error answer).
    pub updates_failed: u64,
    /// Lease updates refused as conflicts.
    pub update_conflicts: u64,
    /// Replies dropped because their lease update failed, conflicted or overflowed.
    pub replies_dropped: u64,
    /// Lease updates not sent because too many awaited acknowledgement.
    pub updates_overflowed: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeats failed.
    pub heartbeats_failed: u64,
    /// Queries dropped as out of scope.
    pub queries_not_for_us: u64,
}

/// Why the model runs (Kea's state-model events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Nop,
    HeartbeatComplete,
    LeaseUpdatesComplete,
    SyncDone,
    RecoveryStep,
    MaintenanceNotify,
    MaintenanceStart,
    MaintenanceCancel,
    SyncedPartnerUnavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heartbeat {
    Stopped,
    Due(Instant),
    InFlight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncStep {
    Disable,
    Page,
    CompleteNotify,
    Enable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    StateMachine,
    Command(u64),
}

#[derive(Debug, Clone)]
struct SyncRun {
    peer: String,
    max_period: u64,
    from: PageFrom,
    purpose: Purpose,
    started: Instant,
    pages: u32,
    leases: u64,
    dhcp_disabled: bool,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    Backlog,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecoveryResult {
    BacklogOk,
    BacklogFailed,
    ResetOk,
    ResetFailed,
}

#[derive(Debug, Clone)]
enum Pending {
    Heartbeat {
        sync_complete_notified: bool,
    },
    LeaseUpdate {
        seq: u64,
        addr: Ipv4Addr,
        counted: bool,
    },
    Backlog,
    HaReset,
    Sync(SyncStep),
    MaintenanceNotify {
        cancel: bool,
        cmd: u64,
    },
}

#[derive(Debug, Clone)]
struct InFlight {
    peer: String,
    deadline: Instant,
    what: Pending,
}

#[derive(Debug, Clone, Copy, Default)]
struct SeqState {
    outstanding: u32,
    failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Delete,
}

#[derive(Debug, Default)]
struct NetState {
    ha_disabled: bool,
    user_disabled: bool,
    ha_enable_at: Option<Instant>,
    user_enable_at: Option<Instant>,
}

impl NetState {
    fn enabled(&self) -> bool {
        !self.ha_disabled && !self.user_disabled
    }
}

/// The HA service of one server (see the module documentation).
#[derive(Debug)]
pub struct HaService {
    cfg: HaConfig,
    state: HaState,
    prev_state: HaState,
    on_entry: bool,
    transitioned: bool,
    reason: Reason,
    paused: bool,
    paused_once: BTreeSet<HaState>,
    comm: CommState,
    filter: QueryFilter,
    net: NetState,
    hb: Heartbeat,
    sync_complete_notified: bool,
    next_id: u64,
    out: VecDeque<OutRequest>,
    in_flight: BTreeMap<u64, InFlight>,
    events: VecDeque<HaEvent>,
    gates: VecDeque<GateAction>,
    seqs: BTreeMap<u64, SeqState>,
    last_seq: u64,
    released: u64,
    max_unacked_updates: usize,
    backlog: VecDeque<(Op, Lease4)>,
    backlog_overflown: bool,
    recovery: Option<Recovery>,
    recovery_result: Option<RecoveryResult>,
    sync: Option<SyncRun>,
    sync_result: Option<bool>,
    counters: HaCounters,
    unix: u64,
}

/// Kea's `verifyAsyncResponse`: results 0 and 3 pass; others give `(rcode, "<text>, error
/// code N")`.
fn verify(answer: &Answer) -> Result<(), (i32, String)> {
    if answer.is_success() {
        return Ok(());
    }
    let msg = match &answer.text {
        Some(t) => format!("{t}, error code {}", answer.result),
        None => format!("error code {}", answer.result),
    };
    Err((answer.result, msg))
}

/// Whether an error answer to a lease update is a conflict: result 4 (Kea ≥ 2.3), or 2.2's
/// result 1 for an address in flight or changed under it.
fn is_conflict(answer: &Answer) -> bool {
    answer.result == RESULT_CONFLICT
        || (answer.result == RESULT_ERROR
            && answer.text.as_deref().is_some_and(|t| {
                t.starts_with("ResourceBusy")
                    || t.starts_with("failed to update the lease with address")
                    || t.contains("lost race")
            }))
}

/// Reads an HTTP answer as Kea's HA client does: the body must be a JSON list of answers (the
/// first counts); a map (a control agent's or listener's error such as `{ "result": 403,
/// "text": "Forbidden" }`) counts as result 1 with its text. The status code is not looked
/// at beyond that.
pub fn answer_from_http(body: &[u8]) -> Result<Answer, TransportError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TransportError::Http(format!("invalid JSON in the response: {e}")))?;
    match v {
        Value::Array(items) => {
            let first = items.into_iter().next().ok_or_else(|| {
                TransportError::Http("list of responses must not be empty".into())
            })?;
            Answer::from_value(first).map_err(|e| TransportError::Http(e.to_string()))
        }
        Value::Object(m) => Ok(Answer {
            result: RESULT_ERROR,
            text: m.get("text").and_then(Value::as_str).map(str::to_string),
            arguments: None,
        }),
        _ => Err(TransportError::Http(
            "body of the response must be a list".into(),
        )),
    }
}

impl HaService {
    /// A service in the `waiting` state (or `backup` / `passive-backup` on its first run).
    /// `now` and `unix` are the start-up times; heartbeats start `heartbeat-delay` later.
    pub fn new(cfg: HaConfig, now: Instant, unix: u64) -> Self {
        let filter = QueryFilter::new(&cfg);
        let mut s = Self {
            filter,
            comm: CommState::new(now),
            state: HaState::Waiting,
            prev_state: HaState::Waiting,
            on_entry: true,
            transitioned: false,
            reason: Reason::Role,
            paused: false,
            paused_once: BTreeSet::new(),
            net: NetState::default(),
            hb: Heartbeat::Stopped,
            sync_complete_notified: false,
            next_id: 1,
            out: VecDeque::new(),
            in_flight: BTreeMap::new(),
            events: VecDeque::new(),
            gates: VecDeque::new(),
            seqs: BTreeMap::new(),
            last_seq: 0,
            released: 0,
            max_unacked_updates: DEFAULT_MAX_UNACKED_UPDATES,
            backlog: VecDeque::new(),
            backlog_overflown: false,
            recovery: None,
            recovery_result: None,
            sync: None,
            sync_result: None,
            counters: HaCounters::default(),
            unix,
            cfg,
        };
        s.apply_pausing(HaState::Waiting);
        s.run_model(now, Ev::Nop);
        s
    }

    // ------------------------------------------------------------------ accessors

    /// The configuration.
    pub fn config(&self) -> &HaConfig {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> HaState {
        self.state
    }

    /// The partner's state as last learnt (`None`: never heard of).
    pub fn partner_state(&self) -> Option<HaState> {
        self.comm.partner_state
    }

    /// Whether the state machine is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The scopes served now.
    pub fn served_scopes(&self) -> Vec<String> {
        self.filter.served_scopes()
    }

    /// Whether this server now drops every query of a type HA filters: DHCP disabled, or
    /// no scope served (the standby of a hot-standby pair). Such queries only feed failure
    /// detection, so a daemon may read them in larger, later batches.
    pub fn serves_no_scope(&self) -> bool {
        !self.net.enabled() || self.filter.serves_no_scope()
    }

    /// Whether the DHCP service is enabled (by the HA state, the partner's and operators'
    /// `dhcp-disable` / `dhcp-enable`). The daemon drops every query while it is not.
    pub fn dhcp_enabled(&self) -> bool {
        self.net.enabled()
    }

    /// Lease updates not sent to the partner (partner-down), as the heartbeat reports it.
    pub fn unsent_update_count(&self) -> u64 {
        self.comm.unsent_update_count
    }

    /// The counters.
    pub fn counters(&self) -> HaCounters {
        self.counters
    }

    /// Lease changes whose updates await acknowledgement.
    pub fn unacked_updates(&self) -> usize {
        self.seqs.len()
    }

    /// Updates queued in communication-recovery.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Sets the most lease changes that may await acknowledgement (default
    /// [`DEFAULT_MAX_UNACKED_UPDATES`]); beyond it a change's update is not sent and its
    /// reply is dropped.
    pub fn set_max_unacked_updates(&mut self, n: usize) {
        self.max_unacked_updates = n.max(1);
    }

    /// Requests waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    // ------------------------------------------------------------------ outputs

    /// The next request to send.
    pub fn poll_request(&mut self) -> Option<OutRequest> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<HaEvent> {
        self.events.pop_front()
    }

    /// The next action on held replies, in order.
    pub fn poll_gate(&mut self) -> Option<GateAction> {
        self.gates.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hb = match self.hb {
            Heartbeat::Due(t) => Some(t),
            _ => None,
        };
        [
            hb,
            self.in_flight.values().map(|f| f.deadline).min(),
            self.net.ha_enable_at,
            self.net.user_enable_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ------------------------------------------------------------------ inputs

    /// Runs what is due at `now`: requests past their timeout fail, `dhcp-disable`
    /// `max-period`s expire, the heartbeat is sent.
    pub fn handle_timeout(&mut self, now: Instant, unix: u64) {
        self.unix = unix;
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.handle_response(now, unix, id, Err(TransportError::Timeout));
        }
        if self.net.ha_enable_at.is_some_and(|t| t <= now) {
            self.net.ha_enable_at = None;
            self.net.ha_disabled = false;
        }
        if self.net.user_enable_at.is_some_and(|t| t <= now) {
            self.net.user_enable_at = None;
            self.net.user_disabled = false;
        }
        if let Heartbeat::Due(t) = self.hb
            && t <= now
        {
            self.send_heartbeat(now);
        }
    }

    /// The answer (or failure) of request `id`. Unknown ids (answers after the service's own
    /// timeout) are ignored.
    pub fn handle_response(
        &mut self,
        now: Instant,
        unix: u64,
        id: u64,
        result: Result<Answer, TransportError>,
    ) {
        self.unix = unix;
        let Some(f) = self.in_flight.remove(&id) else {
            return;
        };
        match f.what {
            Pending::Heartbeat {
                sync_complete_notified,
            } => self.on_heartbeat(now, unix, &f.peer, sync_complete_notified, result),
            Pending::LeaseUpdate { seq, addr, counted } => {
                self.on_lease_update(now, &f.peer, seq, addr, counted, result)
            }
            Pending::Sync(step) => self.on_sync(now, step, result),
            Pending::Backlog => self.on_backlog(now, &f.peer, result),
            Pending::HaReset => self.on_reset(now, &f.peer, result),
            Pending::MaintenanceNotify { cancel, cmd } => {
                self.on_maintenance_notify(now, cancel, cmd, result)
            }
        }
    }

    /// Kea's query filter (`buffer4_receive`): whether this server processes the query. Drops
    /// everything while DHCP is disabled. A query for the partner seen while communication
    /// is interrupted feeds failure detection.
    pub fn should_serve(&mut self, now: Instant, q: &QueryFacts<'_>) -> bool {
        self.classify(now, q).in_scope
    }

    /// [`should_serve`](Self::should_serve) with the scope (the `HA_<scope>` class).
    pub fn classify(&mut self, now: Instant, q: &QueryFacts<'_>) -> Classified {
        let p = self.place(now, q);
        Classified {
            in_scope: p.in_scope,
            scope: p
                .scope
                .and_then(|i| self.filter.scope_name(i))
                .map(Into::into),
        }
    }

    /// The query filter's verdict with the client class to give the query: `None` when this
    /// server does not process it, else its `HA_<scope>` class (`None` inside when it has no
    /// scope). No allocation: the hot path of a daemon.
    pub fn query_class(&mut self, now: Instant, q: &QueryFacts<'_>) -> Option<Option<&str>> {
        let p = self.place(now, q);
        p.in_scope
            .then(|| p.scope.and_then(|i| self.filter.class_of(i)))
    }

    fn place(&mut self, now: Instant, q: &QueryFacts<'_>) -> Placement {
        if !self.net.enabled() {
            return Placement {
                in_scope: false,
                scope: None,
            };
        }
        let p = self.filter.place(q);
        if !p.in_scope {
            self.counters.queries_not_for_us += 1;
            if self.interrupted(now) {
                let cid = q.client_id.unwrap_or(&[]);
                if let Some((unacked, left)) = self.comm.analyze(
                    q.hw_addr,
                    cid,
                    q.secs,
                    self.cfg.max_ack_delay,
                    self.cfg.max_unacked_clients,
                ) {
                    self.events.push_back(HaEvent::ClientUnacked {
                        query: query_label(q),
                        unacked,
                        left,
                    });
                }
            }
        }
        p
    }

    /// A lease change of the server (pass every change, in order: the gate release is
    /// cumulative). Changes made by the DHCP exchange are sent to the partner (and backups)
    /// as `lease4-update` / `lease4-del` when the state says so; others only move the gate.
    pub fn lease_changed(&mut self, now: Instant, change: &LeaseChange) {
        self.last_seq = self.last_seq.max(change.seq);
        if change.origin == Origin::Dhcp && self.cfg.send_lease_updates {
            self.send_lease_updates(now, change);
        }
        self.advance_gates();
    }

    // ------------------------------------------------------------------ commands

    /// A command from the partner or an operator: `ha-heartbeat`, `ha-scopes`,
    /// `ha-continue`, `ha-maintenance-start` / `-notify` / `-cancel`, `ha-reset`, `ha-sync`,
    /// `ha-sync-complete-notify`, `dhcp-disable`, `dhcp-enable`, `status-get` (answered with
    /// the `high-availability` section only). Others: result 2.
    pub fn handle_command(&mut self, now: Instant, unix: u64, req: &Request) -> CommandReply {
        self.unix = unix;
        let args = req.arguments.as_ref();
        let a = match req.known() {
            Some(Command::HaHeartbeat) => self.heartbeat_answer(unix),
            Some(Command::HaScopes) => self.cmd_scopes(args),
            Some(Command::HaContinue) => {
                if self.paused {
                    self.paused = false;
                    self.events.push_back(HaEvent::Continued);
                    Answer::success("HA state machine continues.", None)
                } else {
                    Answer::success("HA state machine is not paused.", None)
                }
            }
            Some(Command::HaMaintenanceNotify) => self.cmd_maintenance_notify(now, args),
            Some(Command::HaMaintenanceStart) => return self.cmd_maintenance_start(now),
            Some(Command::HaMaintenanceCancel) => return self.cmd_maintenance_cancel(now),
            Some(Command::HaReset) => {
                if self.state == HaState::Waiting {
                    Answer::success("HA state machine already in WAITING state.", None)
                } else {
                    self.reason = Reason::Command("ha-reset");
                    self.transition(HaState::Waiting);
                    self.run_model(now, Ev::Nop);
                    Answer::success("HA state machine reset.", None)
                }
            }
            Some(Command::HaSync) => return self.cmd_sync(now, args),
            Some(Command::HaSyncCompleteNotify) => {
                if self.state == HaState::PartnerDown {
                    self.sync_complete_notified = true;
                } else {
                    self.net.ha_disabled = false;
                }
                Answer::success(
                    "Server successfully notified about the synchronization completion.",
                    None,
                )
            }
            Some(Command::DhcpDisable) => self.cmd_dhcp_disable(now, args),
            Some(Command::DhcpEnable) => self.cmd_dhcp_enable(args),
            Some(Command::StatusGet) => Answer {
                result: RESULT_SUCCESS,
                text: None,
                arguments: Some(json!({ "high-availability": [self.status(now)] })),
            },
            _ => Answer::unsupported(&req.command),
        };
        CommandReply::Answer(a)
    }

    /// The `ha-heartbeat` answer: state, `date-time` (RFC 1123 of `unix`), served scopes,
    /// `unsent-update-count`.
    pub fn heartbeat_answer(&self, unix: u64) -> Answer {
        HeartbeatAnswer {
            date_time: crate::http::http_date(unix),
            scopes: self.filter.served_scopes(),
            state: self.state.name().into(),
            unsent_update_count: self.comm.unsent_update_count,
        }
        .answer()
    }

    /// One element of `status-get`'s `high-availability` list.
    pub fn status(&self, now: Instant) -> Value {
        let local = json!({
            "role": self.cfg.this_server().role.name(),
            "scopes": self.filter.served_scopes(),
            "state": self.state.name(),
        });
        let mut servers = Map::new();
        servers.insert("local".into(), local);
        if self.cfg.mode != HaMode::PassiveBackup && self.cfg.this_server().role != Role::Backup {
            let mut remote = self.comm.report(
                now,
                self.cfg.max_response_delay(),
                self.cfg.max_unacked_clients,
            );
            remote.insert(
                "role".into(),
                Value::from(self.cfg.failover_peer().map_or("", |p| p.role.name())),
            );
            servers.insert("remote".into(), Value::Object(remote));
        }
        json!({ "ha-mode": self.cfg.mode.name(), "ha-servers": Value::Object(servers) })
    }

    fn cmd_scopes(&mut self, args: Option<&Value>) -> Answer {
        let Some(args) = args else {
            return Answer::error("arguments not found in the 'ha-scopes' command");
        };
        let Some(map) = args.as_object() else {
            return Answer::error("arguments in the 'ha-scopes' command are not a map");
        };
        let Some(scopes) = map.get("scopes") else {
            return Answer::error("'scopes' is mandatory for the 'ha-scopes' command");
        };
        let Some(list) = scopes.as_array() else {
            return Answer::error("'scopes' must be a list in the 'ha-scopes' command");
        };
        let mut names = Vec::new();
        for s in list {
            let Some(s) = s.as_str() else {
                return Answer::error("scope name must be a string in the 'scopes' argument");
            };
            names.push(s.to_string());
        }
        match self.filter.serve_scopes(&names) {
            Ok(()) => {
                self.adjust_network_state();
                Answer::success("New HA scopes configured.", None)
            }
            Err(e) => Answer::error(e),
        }
    }

    fn cmd_maintenance_notify(&mut self, now: Instant, args: Option<&Value>) -> Answer {
        let cancel = match args.and_then(|a| a.get("cancel")) {
            None => {
                return Answer::error(
                    "'cancel' is mandatory for the 'ha-maintenance-notify' command",
                );
            }
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Answer::error(
                    "'cancel' must be a boolean in the 'ha-maintenance-notify' command",
                );
            }
        };
        if cancel {
            if self.state != HaState::InMaintenance {
                return Answer::error(
                    "Unable to cancel the maintenance for the server not in the in-maintenance \
                     state.",
                );
            }
            self.reason = Reason::Command("ha-maintenance-notify");
            self.transition(self.prev_state);
            self.run_model(now, Ev::MaintenanceCancel);
            return Answer::success("Server maintenance canceled.", None);
        }
        match self.state {
            HaState::Backup | HaState::PartnerInMaintenance | HaState::Terminated => Answer::new(
                RESULT_MAINTENANCE_NOT_ALLOWED,
                format!(
                    "Unable to transition the server from the {} to in-maintenance state.",
                    self.state
                ),
            ),
            _ => {
                self.reason = Reason::Command("ha-maintenance-notify");
                self.transition(HaState::InMaintenance);
                self.run_model(now, Ev::MaintenanceNotify);
                Answer::success("Server is in-maintenance state.", None)
            }
        }
    }

    fn cmd_maintenance_start(&mut self, now: Instant) -> CommandReply {
        if matches!(
            self.state,
            HaState::Backup
                | HaState::InMaintenance
                | HaState::PartnerInMaintenance
                | HaState::Terminated
        ) {
            return CommandReply::Answer(Answer::error(format!(
                "Unable to transition the server from the {} to partner-in-maintenance state.",
                self.state
            )));
        }
        let Some(peer) = self.cfg.failover_peer().map(|p| p.name.clone()) else {
            return CommandReply::Answer(Answer::error("no failover partner server found"));
        };
        let cmd = self.alloc_id();
        let req = Request::new(
            Command::HaMaintenanceNotify,
            Some(json!({ "cancel": false })),
        );
        self.send(
            now,
            &peer,
            req,
            REQUEST_TIMEOUT,
            Pending::MaintenanceNotify { cancel: false, cmd },
        );
        CommandReply::Deferred(cmd)
    }

    fn cmd_maintenance_cancel(&mut self, now: Instant) -> CommandReply {
        if self.state != HaState::PartnerInMaintenance {
            return CommandReply::Answer(Answer::error(
                "Unable to cancel maintenance request because the server is not in the \
                 partner-in-maintenance state.",
            ));
        }
        let Some(peer) = self.cfg.failover_peer().map(|p| p.name.clone()) else {
            return CommandReply::Answer(Answer::error("no failover partner server found"));
        };
        let cmd = self.alloc_id();
        let req = Request::new(
            Command::HaMaintenanceNotify,
            Some(json!({ "cancel": true })),
        );
        self.send(
            now,
            &peer,
            req,
            REQUEST_TIMEOUT,
            Pending::MaintenanceNotify { cancel: true, cmd },
        );
        CommandReply::Deferred(cmd)
    }

    fn on_maintenance_notify(
        &mut self,
        now: Instant,
        cancel: bool,
        cmd: u64,
        result: Result<Answer, TransportError>,
    ) {
        let (transport_failed, rcode, error) = match &result {
            Err(e) => (true, RESULT_ERROR, Some(e.to_string())),
            Ok(a) => match verify(a) {
                Ok(()) => (false, RESULT_SUCCESS, None),
                Err((rc, m)) => (false, rc, Some(m)),
            },
        };
        if error.is_some() {
            self.comm.partner_state = Some(HaState::Unavailable);
        }
        let answer = if cancel {
            match error {
                Some(m) => Answer::error(format!(
                    "Unable to cancel maintenance. The partner server responded with the \
                     following message to the ha-maintenance-notify command: {m}."
                )),
                None => {
                    self.reason = Reason::Command("ha-maintenance-cancel");
                    self.transition(self.prev_state);
                    self.run_model(now, Ev::MaintenanceCancel);
                    Answer::success("Server maintenance successfully canceled.", None)
                }
            }
        } else if transport_failed || rcode == RESULT_ERROR {
            self.reason = Reason::Command("ha-maintenance-start");
            self.transition(HaState::PartnerDown);
            self.run_model(now, Ev::MaintenanceStart);
            Answer::success(
                "Server is now in the partner-down state as its partner appears to be offline \
                 for maintenance.",
                None,
            )
        } else if rcode == RESULT_SUCCESS {
            self.reason = Reason::Command("ha-maintenance-start");
            self.transition(HaState::PartnerInMaintenance);
            self.run_model(now, Ev::MaintenanceStart);
            Answer::success(
                "Server is now in the partner-in-maintenance state and its partner is \
                 in-maintenance state. The partner can be now safely shut down.",
                None,
            )
        } else {
            Answer::error(format!(
                "Unable to transition to the partner-in-maintenance state. The partner server \
                 responded with the following message to the ha-maintenance-notify command: \
                 {}.",
                error.unwrap_or_default()
            ))
        };
        self.events
            .push_back(HaEvent::CommandAnswered { id: cmd, answer });
    }

    fn cmd_sync(&mut self, now: Instant, args: Option<&Value>) -> CommandReply {
        let err = |m: &str| CommandReply::Answer(Answer::error(m));
        let Some(args) = args else {
            return err("arguments not found in the 'ha-sync' command");
        };
        let Some(map) = args.as_object() else {
            return err("arguments in the 'ha-sync' command are not a map");
        };
        let Some(name) = map.get("server-name") else {
            return err("'server-name' is mandatory for the 'ha-sync' command");
        };
        let Some(name) = name.as_str() else {
            return err("'server-name' must be a string in the 'ha-sync' command");
        };
        let mut max_period = 0;
        if let Some(mp) = map.get("max-period") {
            match mp.as_i64() {
                Some(n) if n > 0 => max_period = n as u64,
                _ => {
                    return err("'max-period' must be a positive integer in the 'ha-sync' command");
                }
            }
        }
        if self.cfg.peer_config(name).is_none() {
            return CommandReply::Answer(Answer::error(format!(
                "no configuration specified for server {name}"
            )));
        }
        if self.sync.is_some() {
            return err("lease database synchronization already in progress");
        }
        let cmd = self.alloc_id();
        self.start_sync(now, name.to_string(), max_period, Purpose::Command(cmd));
        CommandReply::Deferred(cmd)
    }

    fn cmd_dhcp_disable(&mut self, now: Instant, args: Option<&Value>) -> Answer {
        let mut msg = String::new();
        let mut max_period = 0i64;
        let mut ha = false;
        if let Some(a) = args {
            match a.as_object() {
                None => msg.push_str("arguments for the 'dhcp-disable' command must be a map"),
                Some(m) => {
                    if let Some(mp) = m.get("max-period") {
                        match mp.as_i64() {
                            None => msg.push_str("'max-period' argument must be a number"),
                            Some(n) => {
                                max_period = n;
                                if n <= 0 {
                                    msg.push_str("'max-period' must be positive integer");
                                }
                            }
                        }
                    }
                    if let Some(o) = m.get("origin") {
                        match o.as_str() {
                            None => msg.push_str("'origin' argument must be a string"),
                            Some("ha-partner") => ha = true,
                            Some("user") => {}
                            Some(o) => msg.push_str(&format!(
                                "invalid value used for 'origin' parameter: {}",
                                if o.is_empty() { "(empty string)" } else { o }
                            )),
                        }
                    }
                }
            }
        }
        if !msg.is_empty() {
            return Answer::error(msg);
        }
        let mut text = String::from("DHCPv4 service disabled");
        let at = (max_period > 0).then(|| {
            text.push_str(&format!(" for {max_period} seconds"));
            now + Duration::from_secs(max_period as u64)
        });
        if ha {
            self.net.ha_disabled = true;
            if at.is_some() {
                self.net.ha_enable_at = at;
            }
        } else {
            self.net.user_disabled = true;
            if at.is_some() {
                self.net.user_enable_at = at;
            }
        }
        Answer::success(text, None)
    }

    fn cmd_dhcp_enable(&mut self, args: Option<&Value>) -> Answer {
        let mut ha = false;
        if let Some(a) = args {
            let Some(m) = a.as_object() else {
                return Answer::error("arguments for the 'dhcp-enable' command must be a map");
            };
            if let Some(o) = m.get("origin") {
                match o.as_str() {
                    None => return Answer::error("'origin' argument must be a string"),
                    Some("ha-partner") => ha = true,
                    Some("user") => {}
                    Some(o) => {
                        return Answer::error(format!(
                            "invalid value used for 'origin' parameter: {}",
                            if o.is_empty() { "(empty string)" } else { o }
                        ));
                    }
                }
            }
        }
        if ha {
            self.net.ha_disabled = false;
            self.net.ha_enable_at = None;
        } else {
            self.net.user_disabled = false;
            self.net.user_enable_at = None;
        }
        Answer::success("DHCP service successfully enabled", None)
    }

    // ------------------------------------------------------------------ requests

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn send(
        &mut self,
        now: Instant,
        peer: &str,
        request: Request,
        timeout: Duration,
        what: Pending,
    ) {
        let id = self.alloc_id();
        self.in_flight.insert(
            id,
            InFlight {
                peer: peer.to_string(),
                deadline: now + timeout,
                what,
            },
        );
        self.out.push_back(OutRequest {
            id,
            peer: peer.to_string(),
            request,
            timeout,
        });
    }

    fn peer_label(&self, name: &str) -> String {
        self.cfg
            .peer_config(name)
            .map_or_else(|| name.to_string(), PeerConfig::label)
    }

    fn interrupted(&self, now: Instant) -> bool {
        self.comm.is_interrupted(now, self.cfg.max_response_delay())
    }

    // ------------------------------------------------------------------ heartbeat

    fn schedule_heartbeat(&mut self, now: Instant) {
        if self.hb == Heartbeat::Stopped {
            self.start_heartbeat(now);
        }
    }

    fn start_heartbeat(&mut self, now: Instant) {
        if self.cfg.heartbeat_delay > 0 && self.cfg.failover_peer().is_some() {
            self.hb = Heartbeat::Due(now + self.cfg.heartbeat_delay());
        }
    }

    fn send_heartbeat(&mut self, now: Instant) {
        let Some(peer) = self.cfg.failover_peer().map(|p| p.name.clone()) else {
            self.hb = Heartbeat::Stopped;
            return;
        };
        let notified = core::mem::take(&mut self.sync_complete_notified);
        self.hb = Heartbeat::InFlight;
        self.counters.heartbeats_sent += 1;
        self.send(
            now,
            &peer,
            Request::new(Command::HaHeartbeat, None),
            REQUEST_TIMEOUT,
            Pending::Heartbeat {
                sync_complete_notified: notified,
            },
        );
    }

    fn on_heartbeat(
        &mut self,
        now: Instant,
        unix: u64,
        peer: &str,
        notified: bool,
        result: Result<Answer, TransportError>,
    ) {
        let outcome = match result {
            Err(e) => Err((true, e.to_string())),
            Ok(a) => self.read_heartbeat(&a, unix).map_err(|m| (false, m)),
        };
        let ok = outcome.is_ok();
        match outcome {
            Ok(()) => self.comm.poke(now),
            Err((transport, reason)) => {
                self.counters.heartbeats_failed += 1;
                self.events.push_back(HaEvent::HeartbeatFailed {
                    peer: self.peer_label(peer),
                    reason,
                    transport,
                });
                self.comm.partner_state = Some(HaState::Unavailable);
                if self.interrupted(now) {
                    self.events.push_back(HaEvent::CommunicationInterrupted {
                        partner: peer.to_string(),
                    });
                }
            }
        }
        // The timer runs again unless something stopped it while the heartbeat was out.
        if self.hb == Heartbeat::InFlight {
            self.start_heartbeat(now);
        }
        let ev = if notified && !ok {
            Ev::SyncedPartnerUnavailable
        } else {
            Ev::HeartbeatComplete
        };
        self.run_model(now, ev);
    }

    fn read_heartbeat(&mut self, a: &Answer, unix: u64) -> Result<(), String> {
        verify(a).map_err(|(_, m)| m)?;
        let Some(args) = a.arguments.as_ref().and_then(Value::as_object) else {
            return Err("returned arguments in the response must be a map".into());
        };
        let Some(state) = args.get("state").and_then(Value::as_str) else {
            return Err(
                "server state not returned in response to a ha-heartbeat command or it is not \
                 a string"
                    .into(),
            );
        };
        let state = HaState::from_name(state)
            .ok_or_else(|| format!("unsupported HA partner state returned {state}"))?;
        self.comm.partner_state = Some(state);
        let Some(dt) = args.get("date-time").and_then(Value::as_str) else {
            return Err(
                "date-time not returned in response to a ha-heartbeat command or it is not a \
                 string"
                    .into(),
            );
        };
        let partner_unix = crate::http::parse_http_date(dt)
            .ok_or_else(|| format!("unable to parse time {dt} as RFC 1123"))?;
        self.comm.set_partner_time(partner_unix, unix);
        if let Some(list) = args.get("scopes").and_then(Value::as_array) {
            self.comm.partner_scopes = list
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        }
        if let Some(n) = args.get("unsent-update-count") {
            let n = n.as_u64().ok_or_else(|| {
                String::from(
                    "unsent-update-count returned in the ha-heartbeat response is not an integer",
                )
            })?;
            self.comm.set_partner_unsent(n);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ lease updates

    fn should_send_updates(&self, peer: &PeerConfig) -> bool {
        if !self.cfg.send_lease_updates {
            return false;
        }
        if peer.role == Role::Backup {
            return true;
        }
        if self.cfg.this_server().role == Role::Backup {
            return false;
        }
        matches!(
            self.state,
            HaState::HotStandby | HaState::LoadBalancing | HaState::PartnerInMaintenance
        )
    }

    fn should_queue_updates(&self, peer: &PeerConfig) -> bool {
        self.cfg.send_lease_updates
            && peer.role != Role::Backup
            && self.state == HaState::CommunicationRecovery
    }

    fn send_lease_updates(&mut self, now: Instant, change: &LeaseChange) {
        let op = if change.kind == ChangeKind::Deleted {
            Op::Delete
        } else {
            Op::Add
        };
        let peers: Vec<PeerConfig> = self.cfg.other_peers().into_iter().cloned().collect();
        let counted_peers = peers
            .iter()
            .filter(|p| {
                !self.should_queue_updates(p)
                    && self.should_send_updates(p)
                    && (self.cfg.wait_backup_ack || p.role != Role::Backup)
            })
            .count();
        if counted_peers > 0 && self.seqs.len() >= self.max_unacked_updates {
            self.counters.updates_overflowed += 1;
            self.events.push_back(HaEvent::LeaseUpdateOverflow {
                seq: change.seq,
                limit: self.max_unacked_updates,
            });
            self.seqs.insert(
                change.seq,
                SeqState {
                    outstanding: 0,
                    failed: true,
                },
            );
            return;
        }
        for p in peers {
            if self.should_queue_updates(&p) {
                if self.backlog.len() >= self.cfg.delayed_updates_limit as usize {
                    self.backlog_overflown = true;
                } else {
                    self.backlog.push_back((op, change.lease.clone()));
                }
                continue;
            }
            if !self.should_send_updates(&p) {
                if p.role != Role::Backup {
                    self.comm.increase_unsent();
                }
                continue;
            }
            let counted = self.cfg.wait_backup_ack || p.role != Role::Backup;
            if counted {
                self.seqs.entry(change.seq).or_default().outstanding += 1;
            }
            self.counters.updates_sent += 1;
            let req = update_request(op, &change.lease);
            self.send(
                now,
                &p.name,
                req,
                REQUEST_TIMEOUT,
                Pending::LeaseUpdate {
                    seq: change.seq,
                    addr: change.lease.addr,
                    counted,
                },
            );
        }
    }

    fn on_lease_update(
        &mut self,
        now: Instant,
        peer: &str,
        seq: u64,
        addr: Ipv4Addr,
        counted: bool,
        result: Result<Answer, TransportError>,
    ) {
        let is_backup = self
            .cfg
            .peer_config(peer)
            .is_some_and(|p| p.role == Role::Backup);
        let mut ok = true;
        match result {
            Err(e) => {
                ok = false;
                self.events.push_back(HaEvent::LeaseUpdateFailed {
                    seq,
                    addr,
                    peer: self.peer_label(peer),
                    reason: e.to_string(),
                    transport: true,
                });
                if !is_backup {
                    self.comm.partner_state = Some(HaState::Unavailable);
                }
            }
            Ok(a) => {
                if let Err((_, m)) = verify(&a) {
                    ok = false;
                    if is_conflict(&a) {
                        self.counters.update_conflicts += 1;
                        self.events.push_back(HaEvent::LeaseUpdateConflict {
                            seq,
                            addr,
                            peer: self.peer_label(peer),
                            reason: m,
                        });
                    } else {
                        self.events.push_back(HaEvent::LeaseUpdateFailed {
                            seq,
                            addr,
                            peer: self.peer_label(peer),
                            reason: m,
                            transport: false,
                        });
                        if !is_backup {
                            self.comm.partner_state = Some(HaState::Unavailable);
                        }
                    }
                }
            }
        }
        if ok {
            self.counters.updates_acked += 1;
        } else {
            self.counters.updates_failed += 1;
        }
        if !counted {
            return;
        }
        let mut complete = false;
        if let Some(s) = self.seqs.get_mut(&seq) {
            s.outstanding = s.outstanding.saturating_sub(1);
            s.failed |= !ok;
            complete = s.outstanding == 0;
        }
        self.advance_gates();
        if complete {
            self.run_model(now, Ev::LeaseUpdatesComplete);
        }
    }

    fn push_gate(&mut self, g: GateAction) {
        if let (GateAction::Release(n), Some(GateAction::Release(last))) =
            (g, self.gates.back_mut())
        {
            *last = n;
            return;
        }
        self.gates.push_back(g);
    }

    fn advance_gates(&mut self) {
        while let Some((&seq, st)) = self.seqs.first_key_value() {
            if st.outstanding > 0 {
                break;
            }
            let failed = st.failed;
            self.seqs.remove(&seq);
            if failed {
                if seq > 0 && seq - 1 > self.released {
                    self.released = seq - 1;
                    self.push_gate(GateAction::Release(seq - 1));
                }
                self.counters.replies_dropped += 1;
                self.gates.push_back(GateAction::Discard(seq));
                self.released = self.released.max(seq);
            }
        }
        let mark = match self.seqs.first_key_value() {
            Some((&s, _)) => s - 1,
            None => self.last_seq,
        };
        if mark > self.released {
            self.released = mark;
            self.push_gate(GateAction::Release(mark));
        }
    }

    // ------------------------------------------------------------------ sync

    fn start_sync(&mut self, now: Instant, peer: String, max_period: u64, purpose: Purpose) {
        self.events
            .push_back(HaEvent::SyncStarted { peer: peer.clone() });
        self.sync = Some(SyncRun {
            peer,
            max_period,
            from: PageFrom::Start,
            purpose,
            started: now,
            pages: 0,
            leases: 0,
            dhcp_disabled: false,
            error: None,
        });
        self.sync_send_disable(now);
    }

    fn sync_send_disable(&mut self, now: Instant) {
        let Some(run) = &self.sync else { return };
        let peer = run.peer.clone();
        let args = DhcpDisable {
            max_period: (run.max_period > 0).then_some(run.max_period),
            origin: Some("ha-partner".into()),
        };
        let req = Request::new(Command::DhcpDisable, Some(args.to_arguments()));
        self.send(
            now,
            &peer,
            req,
            REQUEST_TIMEOUT,
            Pending::Sync(SyncStep::Disable),
        );
    }

    fn on_sync(&mut self, now: Instant, step: SyncStep, result: Result<Answer, TransportError>) {
        let Some(run) = self.sync.as_mut() else {
            return;
        };
        let peer = run.peer.clone();
        let (answer, err) = match result {
            Err(e) => (None, Some(e.to_string())),
            Ok(a) => match verify(&a) {
                Ok(()) => (Some(a), None),
                Err((rc, m)) => {
                    if step == SyncStep::CompleteNotify && rc == RESULT_UNSUPPORTED {
                        // Older partner: fall back to dhcp-enable.
                        self.sync_send_enable(now);
                        return;
                    }
                    (None, Some(m))
                }
            },
        };
        if let Some(e) = err {
            self.comm.partner_state = Some(HaState::Unavailable);
            match step {
                SyncStep::Disable | SyncStep::Page => {
                    let run = self.sync.as_mut().expect("sync run");
                    run.error = Some(e);
                    if run.dhcp_disabled {
                        self.sync_send_enable(now);
                    } else {
                        self.finish_sync(now);
                    }
                }
                SyncStep::CompleteNotify | SyncStep::Enable => {
                    let run = self.sync.as_mut().expect("sync run");
                    if run.error.is_none() {
                        run.error = Some(e);
                    }
                    self.finish_sync(now);
                }
            }
            return;
        }
        let answer = answer.expect("success answer");
        match step {
            SyncStep::Disable => {
                let run = self.sync.as_mut().expect("sync run");
                run.dhcp_disabled = true;
                let from = run.from;
                if self.cfg.sync_page_limit == 0 {
                    run.error =
                        Some("limit value for lease4-get-page command must not be 0".into());
                    self.sync_send_enable(now);
                    return;
                }
                let args = GetPage {
                    from,
                    limit: self.cfg.sync_page_limit,
                };
                let req = Request::new(Command::Lease4GetPage, Some(args.to_arguments()));
                let timeout = self.cfg.sync_timeout();
                self.send(now, &peer, req, timeout, Pending::Sync(SyncStep::Page));
            }
            SyncStep::Page => self.on_page(now, &peer, &answer),
            SyncStep::CompleteNotify | SyncStep::Enable => self.finish_sync(now),
        }
    }

    fn on_page(&mut self, now: Instant, peer: &str, answer: &Answer) {
        let leases_v = answer
            .arguments
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m| m.get("leases"))
            .and_then(Value::as_array);
        let Some(items) = leases_v else {
            let run = self.sync.as_mut().expect("sync run");
            run.error = Some(
                "server response does not contain leases argument or this argument is not a list"
                    .into(),
            );
            self.comm.partner_state = Some(HaState::Unavailable);
            self.sync_send_enable(now);
            return;
        };
        let n = items.len();
        let mut leases = Vec::with_capacity(n);
        let mut last = None;
        for item in items {
            match KeaLease4::from_value(item)
                .map_err(|e| e.to_string())
                .and_then(|k| k.to_lease(self.unix).map_err(|e| e.to_string()))
            {
                Ok(l) => {
                    last = Some(l.addr);
                    leases.push(l);
                }
                Err(reason) => self.events.push_back(HaEvent::LeaseSyncFailed {
                    lease: serde_json::to_string(item).unwrap_or_default(),
                    reason,
                }),
            }
        }
        let more = n >= self.cfg.sync_page_limit as usize;
        let run = self.sync.as_mut().expect("sync run");
        run.pages += 1;
        run.leases += n as u64;
        self.events.push_back(HaEvent::LeasesFetched {
            peer: peer.to_string(),
            leases,
        });
        if more && let Some(a) = last {
            let run = self.sync.as_mut().expect("sync run");
            run.from = PageFrom::After(a);
            self.sync_send_disable(now);
            return;
        }
        let peer = peer.to_string();
        self.send(
            now,
            &peer,
            Request::new(Command::HaSyncCompleteNotify, None),
            REQUEST_TIMEOUT,
            Pending::Sync(SyncStep::CompleteNotify),
        );
    }

    fn sync_send_enable(&mut self, now: Instant) {
        let Some(run) = &self.sync else { return };
        let peer = run.peer.clone();
        let args = DhcpEnable {
            origin: Some("ha-partner".into()),
        };
        let req = Request::new(Command::DhcpEnable, Some(args.to_arguments()));
        self.send(
            now,
            &peer,
            req,
            REQUEST_TIMEOUT,
            Pending::Sync(SyncStep::Enable),
        );
    }

    fn finish_sync(&mut self, now: Instant) {
        let Some(run) = self.sync.take() else { return };
        let ok = run.error.is_none();
        match &run.error {
            None => self.events.push_back(HaEvent::SyncSucceeded {
                peer: run.peer.clone(),
                pages: run.pages,
                leases: run.leases,
                elapsed: now.saturating_duration_since(run.started),
            }),
            Some(e) => self.events.push_back(HaEvent::SyncFailed {
                peer: run.peer.clone(),
                reason: e.clone(),
            }),
        }
        match run.purpose {
            Purpose::Command(id) => {
                let answer = match run.error {
                    None => Answer::success("Lease database synchronization complete.", None),
                    Some(e) => Answer::error(e),
                };
                self.events
                    .push_back(HaEvent::CommandAnswered { id, answer });
            }
            Purpose::StateMachine => {
                if self.state == HaState::Syncing {
                    self.sync_result = Some(ok);
                    self.run_model(now, Ev::SyncDone);
                }
            }
        }
    }

    // ------------------------------------------------------------------ recovery

    fn start_backlog(&mut self, now: Instant) {
        let Some(peer) = self.cfg.failover_peer().map(|p| p.name.clone()) else {
            return;
        };
        self.events.push_back(HaEvent::BacklogStart {
            count: self.backlog.len(),
            peer: peer.clone(),
        });
        self.recovery = Some(Recovery::Backlog);
        self.send_next_backlog(now, &peer);
    }

    fn send_next_backlog(&mut self, now: Instant, peer: &str) {
        match self.backlog.pop_front() {
            None => {
                self.recovery = None;
                self.recovery_result = Some(RecoveryResult::BacklogOk);
                self.run_model(now, Ev::RecoveryStep);
            }
            Some((op, lease)) => {
                let req = update_request(op, &lease);
                self.send(now, peer, req, REQUEST_TIMEOUT, Pending::Backlog);
            }
        }
    }

    fn on_backlog(&mut self, now: Instant, peer: &str, result: Result<Answer, TransportError>) {
        let err = match result {
            Err(e) => Some(e.to_string()),
            Ok(a) => verify(&a).err().map(|(_, m)| m),
        };
        match err {
            None => self.send_next_backlog(now, peer),
            Some(reason) => {
                self.events.push_back(HaEvent::RequestFailed {
                    id: "HA_LEASES_BACKLOG_FAILED",
                    peer: self.peer_label(peer),
                    reason,
                });
                self.recovery = None;
                self.recovery_result = Some(RecoveryResult::BacklogFailed);
                self.run_model(now, Ev::RecoveryStep);
            }
        }
    }

    fn send_reset(&mut self, now: Instant) {
        let Some(peer) = self.cfg.failover_peer().map(|p| p.name.clone()) else {
            return;
        };
        self.recovery = Some(Recovery::Reset);
        self.send(
            now,
            &peer,
            Request::new(Command::HaReset, None),
            REQUEST_TIMEOUT,
            Pending::HaReset,
        );
    }

    fn on_reset(&mut self, now: Instant, peer: &str, result: Result<Answer, TransportError>) {
        let err = match result {
            Err(e) => Some(e.to_string()),
            Ok(a) => verify(&a).err().map(|(_, m)| m),
        };
        self.recovery = None;
        self.recovery_result = Some(match err {
            None => RecoveryResult::ResetOk,
            Some(reason) => {
                self.events.push_back(HaEvent::RequestFailed {
                    id: "HA_RESET_FAILED",
                    peer: self.peer_label(peer),
                    reason,
                });
                RecoveryResult::ResetFailed
            }
        });
        self.run_model(now, Ev::RecoveryStep);
    }

    // ------------------------------------------------------------------ state machine

    fn normal_state(&self) -> HaState {
        if self.cfg.this_server().role == Role::Backup {
            return HaState::Backup;
        }
        match self.cfg.mode {
            HaMode::LoadBalancing => HaState::LoadBalancing,
            HaMode::HotStandby => HaState::HotStandby,
            HaMode::PassiveBackup => HaState::PassiveBackup,
        }
    }

    fn apply_pausing(&mut self, to: HaState) {
        if self.paused {
            return;
        }
        let pause = match self.cfg.pausing_of(to) {
            Pausing::Never => false,
            Pausing::Always => true,
            Pausing::Once => self.paused_once.insert(to),
        };
        if pause {
            self.paused = true;
        }
    }

    fn transition(&mut self, to: HaState) {
        let from = self.state;
        self.events.push_back(HaEvent::StateTransition {
            from,
            to,
            partner: self.comm.partner_state,
            reason: self.reason.clone(),
            mode: self.cfg.mode,
        });
        if from == HaState::CommunicationRecovery && to != from {
            self.backlog.clear();
            self.backlog_overflown = false;
            self.recovery_result = None;
        }
        self.prev_state = from;
        self.state = to;
        self.on_entry = true;
        self.transitioned = true;
        self.apply_pausing(to);
    }

    fn go(&mut self, to: HaState, reason: Reason) {
        self.reason = reason;
        self.transition(to);
    }

    fn run_model(&mut self, now: Instant, ev: Ev) {
        for _ in 0..32 {
            self.transitioned = false;
            self.run_handler(now, ev);
            if !self.transitioned {
                break;
            }
        }
    }

    fn entry(&mut self) -> bool {
        core::mem::take(&mut self.on_entry)
    }

    fn adjust_network_state(&mut self) {
        let should = self.state.dhcp_enabled();
        let enabled = self.net.enabled();
        if should != enabled {
            self.events.push_back(HaEvent::LocalDhcp {
                enabled: should,
                server: self.cfg.this_server_name.clone(),
                state: self.state,
            });
            self.net.ha_disabled = !should;
        }
    }

    fn on_entry_common(&mut self) {
        if self.paused {
            self.events.push_back(HaEvent::Paused(self.state));
        }
    }

    fn should_terminate(&mut self, now: Instant) -> bool {
        if self.comm.skew_greater(TERM_CLOCK_SKEW) {
            self.events
                .push_back(HaEvent::ClockSkewTermination(self.comm.skew_text()));
            return true;
        }
        if self.comm.skew_should_warn(now) {
            self.events
                .push_back(HaEvent::HighClockSkew(self.comm.skew_text()));
        }
        false
    }

    fn partner_state_invalid(&mut self) -> bool {
        let bad = match self.comm.partner_state {
            Some(HaState::CommunicationRecovery) => self.cfg.mode != HaMode::LoadBalancing,
            Some(HaState::HotStandby) => self.cfg.mode != HaMode::HotStandby,
            Some(HaState::LoadBalancing) => self.cfg.mode != HaMode::LoadBalancing,
            _ => false,
        };
        if bad && let Some(s) = self.comm.partner_state {
            self.events.push_back(HaEvent::InvalidPartnerState(s));
        }
        bad
    }

    fn should_partner_down(&self, now: Instant) -> bool {
        if !self.interrupted(now) {
            return false;
        }
        let role = self.cfg.this_server().role;
        if self.net.enabled() && (self.cfg.mode == HaMode::LoadBalancing || role == Role::Standby) {
            return self.comm.failure_detected(self.cfg.max_unacked_clients);
        }
        true
    }

    fn partner_reason(&self) -> Reason {
        Reason::PartnerState(self.comm.partner_state)
    }

    /// The checks at the top of most handlers: paused / cancelled → stop; clock skew →
    /// terminated; invalid partner state → waiting. Returns whether the handler goes on.
    fn common_checks(&mut self, now: Instant, ev: Ev) -> bool {
        if ev == Ev::MaintenanceCancel || self.paused {
            return false;
        }
        if self.should_terminate(now) {
            self.go(HaState::Terminated, Reason::ClockSkew);
            return false;
        }
        if self.partner_state_invalid() {
            self.go(HaState::Waiting, Reason::InvalidPartnerState);
            return false;
        }
        true
    }

    fn run_handler(&mut self, now: Instant, ev: Ev) {
        match self.state {
            HaState::Backup => {
                if self.entry() {
                    self.filter.serve_no_scopes();
                    self.adjust_network_state();
                    self.on_entry_common();
                }
            }
            HaState::PassiveBackup => {
                if self.entry() {
                    self.filter.serve_default_scopes();
                    self.adjust_network_state();
                    self.hb = Heartbeat::Stopped;
                    self.on_entry_common();
                }
            }
            HaState::Terminated => {
                if self.entry() {
                    self.filter.serve_default_scopes();
                    self.adjust_network_state();
                    self.hb = Heartbeat::Stopped;
                    self.on_entry_common();
                    self.events.push_back(HaEvent::Terminated);
                }
            }
            HaState::InMaintenance => {
                if self.entry() {
                    self.filter.serve_no_scopes();
                    self.adjust_network_state();
                    self.on_entry_common();
                    self.events.push_back(HaEvent::MaintenanceShutdownSafe);
                }
                self.schedule_heartbeat(now);
            }
            HaState::PartnerInMaintenance => {
                if self.entry() {
                    self.filter.serve_failover_scopes();
                    self.adjust_network_state();
                    self.on_entry_common();
                    self.events.push_back(HaEvent::MaintenanceStarted);
                }
                self.schedule_heartbeat(now);
                if self.paused {
                    return;
                }
                if self.should_terminate(now) {
                    self.go(HaState::Terminated, Reason::ClockSkew);
                    return;
                }
                if self.comm.partner_state == Some(HaState::Unavailable) {
                    self.go(HaState::PartnerDown, self.partner_reason());
                }
            }
            HaState::Waiting => self.waiting_handler(now, ev),
            HaState::Syncing => self.syncing_handler(now, ev),
            HaState::Ready => self.ready_handler(now, ev),
            HaState::HotStandby | HaState::LoadBalancing => self.normal_handler(now, ev),
            HaState::PartnerDown => self.partner_down_handler(now, ev),
            HaState::CommunicationRecovery => self.recovery_handler(now, ev),
            HaState::Unavailable => {}
        }
    }

    fn waiting_handler(&mut self, now: Instant, ev: Ev) {
        if self.entry() {
            self.filter.serve_no_scopes();
            self.adjust_network_state();
            self.on_entry_common();
        }
        let role = self.cfg.this_server().role;
        if self.cfg.mode != HaMode::PassiveBackup && role != Role::Backup {
            self.schedule_heartbeat(now);
        }
        if ev == Ev::MaintenanceCancel || self.paused {
            return;
        }
        if role == Role::Backup {
            self.go(HaState::Backup, Reason::Role);
            return;
        }
        if self.cfg.mode == HaMode::PassiveBackup {
            self.go(HaState::PassiveBackup, Reason::Role);
            return;
        }
        if self.should_terminate(now) {
            self.go(HaState::Terminated, Reason::ClockSkew);
            return;
        }
        if self.partner_state_invalid() {
            return;
        }
        let next_after_wait = if self.cfg.sync_leases {
            HaState::Syncing
        } else {
            HaState::Ready
        };
        match self.comm.partner_state {
            Some(
                HaState::CommunicationRecovery
                | HaState::HotStandby
                | HaState::LoadBalancing
                | HaState::InMaintenance
                | HaState::PartnerDown
                | HaState::PartnerInMaintenance
                | HaState::Ready,
            ) => self.go(next_after_wait, self.partner_reason()),
            Some(HaState::Terminated) => self.events.push_back(HaEvent::RestartPartner),
            Some(HaState::Waiting) if role == Role::Primary => {
                self.go(next_after_wait, self.partner_reason());
            }
            Some(HaState::Unavailable) if self.should_partner_down(now) => {
                self.go(HaState::PartnerDown, Reason::PartnerDown);
            }
            _ => {}
        }
    }

    fn syncing_handler(&mut self, now: Instant, ev: Ev) {
        if self.entry() {
            self.filter.serve_no_scopes();
            self.adjust_network_state();
            self.on_entry_common();
        }
        if let Some(ok) = self.sync_result.take() {
            self.schedule_heartbeat(now);
            if ok {
                self.go(HaState::Ready, Reason::SyncComplete);
            }
            return;
        }
        if !self.common_checks(now, ev) {
            return;
        }
        match self.comm.partner_state {
            Some(HaState::Terminated) => self.go(HaState::Terminated, self.partner_reason()),
            Some(HaState::Unavailable) => {
                if self.should_partner_down(now) {
                    self.go(HaState::PartnerDown, Reason::PartnerDown);
                }
            }
            _ => {
                if self.sync.is_some() {
                    return;
                }
                let Some(peer) = self.cfg.failover_peer().map(|p| p.name.clone()) else {
                    return;
                };
                self.hb = Heartbeat::Stopped;
                let mp = self.cfg.dhcp_disable_max_period();
                self.start_sync(now, peer, mp, Purpose::StateMachine);
            }
        }
    }

    fn ready_handler(&mut self, now: Instant, ev: Ev) {
        if self.entry() {
            self.filter.serve_no_scopes();
            self.adjust_network_state();
            self.on_entry_common();
        }
        self.schedule_heartbeat(now);
        if !self.common_checks(now, ev) {
            return;
        }
        let normal = self.normal_state();
        match self.comm.partner_state {
            Some(HaState::HotStandby | HaState::LoadBalancing | HaState::CommunicationRecovery) => {
                self.go(normal, self.partner_reason());
            }
            Some(HaState::InMaintenance) => {
                self.go(HaState::PartnerInMaintenance, self.partner_reason());
            }
            Some(HaState::PartnerInMaintenance) => {
                self.go(HaState::InMaintenance, self.partner_reason());
            }
            Some(HaState::Ready) if self.cfg.this_server().role == Role::Primary => {
                self.go(normal, self.partner_reason());
            }
            Some(HaState::Terminated) => self.go(HaState::Terminated, self.partner_reason()),
            Some(HaState::Unavailable) if self.should_partner_down(now) => {
                self.go(HaState::PartnerDown, Reason::PartnerDown);
            }
            _ => {}
        }
    }

    fn normal_handler(&mut self, now: Instant, ev: Ev) {
        if self.entry() {
            self.filter.serve_default_scopes();
            self.adjust_network_state();
            self.on_entry_common();
        }
        self.schedule_heartbeat(now);
        if !self.common_checks(now, ev) {
            return;
        }
        match self.comm.partner_state {
            Some(HaState::InMaintenance) => {
                self.go(HaState::PartnerInMaintenance, self.partner_reason());
            }
            Some(HaState::PartnerDown) => self.go(HaState::Waiting, self.partner_reason()),
            Some(HaState::PartnerInMaintenance) => {
                self.go(HaState::InMaintenance, self.partner_reason());
            }
            Some(HaState::Terminated) => self.go(HaState::Terminated, self.partner_reason()),
            Some(HaState::Unavailable) => {
                if self.should_partner_down(now) {
                    self.go(HaState::PartnerDown, Reason::PartnerDown);
                } else if self.cfg.allows_comm_recovery() {
                    self.go(HaState::CommunicationRecovery, self.partner_reason());
                }
            }
            _ => {}
        }
    }

    fn partner_down_handler(&mut self, now: Instant, ev: Ev) {
        if self.entry() {
            self.comm.partner_unsent_at_partner_down = self.comm.partner_unsent.1;
            let maintenance = ev == Ev::MaintenanceStart;
            if maintenance || self.cfg.this_server().auto_failover {
                self.filter.serve_failover_scopes();
            } else {
                self.filter.serve_default_scopes();
            }
            self.adjust_network_state();
            self.on_entry_common();
            if maintenance {
                self.events
                    .push_back(HaEvent::MaintenanceStartedInPartnerDown);
            }
        } else if ev == Ev::SyncedPartnerUnavailable {
            // The partner synchronised from us but our heartbeat to it failed: serve on.
            self.net.ha_disabled = false;
            self.adjust_network_state();
        }
        self.schedule_heartbeat(now);
        if !self.common_checks(now, ev) {
            return;
        }
        match self.comm.partner_state {
            Some(
                HaState::CommunicationRecovery
                | HaState::PartnerDown
                | HaState::PartnerInMaintenance,
            ) => self.go(HaState::Waiting, self.partner_reason()),
            Some(HaState::Ready) => {
                if self.comm.partner_has_new_unsent()
                    || self.comm.partner_unsent_since_partner_down()
                {
                    self.go(HaState::Waiting, self.partner_reason());
                } else {
                    let normal = self.normal_state();
                    self.go(normal, self.partner_reason());
                }
            }
            Some(HaState::Terminated) => self.go(HaState::Terminated, self.partner_reason()),
            _ => {}
        }
    }

    fn recovery_handler(&mut self, now: Instant, ev: Ev) {
        if self.entry() {
            self.filter.serve_default_scopes();
            self.adjust_network_state();
            self.on_entry_common();
        }
        self.schedule_heartbeat(now);
        if let Some(r) = self.recovery_result.take() {
            match r {
                RecoveryResult::BacklogOk => {
                    let normal = self.normal_state();
                    self.go(normal, Reason::Recovery);
                }
                RecoveryResult::BacklogFailed => self.send_reset(now),
                RecoveryResult::ResetOk => self.go(HaState::Waiting, Reason::Recovery),
                RecoveryResult::ResetFailed => {}
            }
            return;
        }
        if !self.common_checks(now, ev) {
            return;
        }
        match self.comm.partner_state {
            Some(HaState::InMaintenance) => {
                self.go(HaState::PartnerInMaintenance, self.partner_reason());
            }
            Some(HaState::PartnerDown) => self.go(HaState::Waiting, self.partner_reason()),
            Some(HaState::PartnerInMaintenance) => {
                self.go(HaState::InMaintenance, self.partner_reason());
            }
            Some(HaState::Terminated) => self.go(HaState::Terminated, self.partner_reason()),
            Some(HaState::Unavailable) => {
                if self.should_partner_down(now) {
                    self.go(HaState::PartnerDown, Reason::PartnerDown);
                }
            }
            Some(HaState::Waiting | HaState::Syncing | HaState::Ready) => {
                if !self.interrupted(now) && self.backlog_overflown {
                    self.go(HaState::Waiting, self.partner_reason());
                }
            }
            _ => {
                if self.interrupted(now) || self.recovery.is_some() {
                    return;
                }
                let p = self.comm.partner_state;
                if p == Some(self.normal_state()) || p == Some(HaState::CommunicationRecovery) {
                    if self.backlog_overflown {
                        self.send_reset(now);
                    } else if self.backlog.is_empty() {
                        let normal = self.normal_state();
                        self.go(normal, Reason::Recovery);
                    } else {
                        self.start_backlog(now);
                    }
                    return;
                }
                self.go(HaState::Waiting, self.partner_reason());
            }
        }
    }
}

fn update_request(op: Op, lease: &Lease4) -> Request {
    match op {
        Op::Add => Request::new(
            Command::Lease4Update,
            Some(KeaLease4::for_update(lease).to_value()),
        ),
        Op::Delete => Request::new(
            Command::Lease4Del,
            Some(KeaLease4::for_delete(lease).to_value()),
        ),
    }
}

/// Kea's query label: `[hwtype=1 00:0c:01:02:03:04], cid=[01:00:0c:01:02:03:04], tid=0x…`.
fn query_label(q: &QueryFacts<'_>) -> String {
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let cid = q.client_id.map_or_else(|| String::from("no info"), hex);
    format!(
        "[hwtype=1 {}], cid=[{cid}], tid=0x{:x}",
        hex(q.hw_addr),
        q.xid
    )
}

/// Result codes the service answers with, for tests and daemons.
pub mod results {
    pub use super::RESULT_CONFLICT as CONFLICT;
    pub use crate::control::{
        RESULT_EMPTY as EMPTY, RESULT_ERROR as ERROR,
        RESULT_MAINTENANCE_NOT_ALLOWED as MAINTENANCE_NOT_ALLOWED, RESULT_SUCCESS as SUCCESS,
        RESULT_UNSUPPORTED as UNSUPPORTED,
    };
}

#[cfg(test)]
mod tests;
