//! What the HA service tells the daemon: events (logged in Kea's words, with Kea's message
//! ids), gate actions for held replies, and deferred command answers.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;
use core::time::Duration;

use super::config::HaMode;
use super::state::HaState;
use crate::control::Answer;
use crate::lease::Lease4;

/// What to do with the replies the server holds for
/// [`Gate::PartnerAcked`](crate::server::Gate::PartnerAcked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateAction {
    /// Every lease change up to this sequence number was acknowledged (or needs no
    /// acknowledgement): `server.release_gate(Gate::PartnerAcked, seq)`.
    Release(u64),
    /// The lease update of this change failed: Kea drops the reply.
    /// `server.discard_held(seq)`, then nothing else (the next `Release` passes it).
    Discard(u64),
}

/// Why the state machine changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The partner's state, as learnt from its heartbeat (or `unavailable`).
    PartnerState(Option<HaState>),
    /// The partner stopped answering and failure detection says it is down.
    PartnerDown,
    /// The clock skew exceeds 60 s.
    ClockSkew,
    /// The partner is in a state this mode does not have.
    InvalidPartnerState,
    /// The lease database synchronisation completed.
    SyncComplete,
    /// A command (`ha-reset`, `ha-maintenance-*`).
    Command(&'static str),
    /// Leaving communication-recovery after the backlog was sent or reset.
    Recovery,
    /// Start-up role (backup, passive-backup).
    Role,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PartnerState(Some(s)) => write!(f, "partner is {s}"),
            Self::PartnerState(None) => f.write_str("partner state unknown"),
            Self::PartnerDown => f.write_str("partner unavailable and failure detected"),
            Self::ClockSkew => f.write_str("clock skew too high"),
            Self::InvalidPartnerState => f.write_str("partner state invalid for the mode"),
            Self::SyncComplete => f.write_str("lease database synchronization complete"),
            Self::Command(c) => write!(f, "{c} command"),
            Self::Recovery => f.write_str("communication recovered"),
            Self::Role => f.write_str("server role"),
        }
    }
}

/// An event of the HA service. `Display` gives Kea's log text; [`HaEvent::kea_id`] Kea's
/// message id.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HaEvent {
    /// `HA_STATE_TRANSITION`, or `HA_STATE_TRANSITION_PASSIVE_BACKUP` in the passive-backup
    /// mode (where no partner state is known, so none is logged).
    StateTransition {
        /// Previous state.
        from: HaState,
        /// New state.
        to: HaState,
        /// The partner's state at the time (`None`: unknown).
        partner: Option<HaState>,
        /// Why.
        reason: Reason,
        /// The HA mode.
        mode: HaMode,
    },
    /// `HA_LOCAL_DHCP_ENABLE` / `HA_LOCAL_DHCP_DISABLE`: the state turned the DHCP service on
    /// or off.
    LocalDhcp {
        /// On or off.
        enabled: bool,
        /// This server's name.
        server: String,
        /// The state.
        state: HaState,
    },
    /// `HA_STATE_MACHINE_PAUSED`.
    Paused(HaState),
    /// `HA_STATE_MACHINE_CONTINUED`.
    Continued,
    /// `HA_HEARTBEAT_COMMUNICATIONS_FAILED` / `HA_HEARTBEAT_FAILED`.
    HeartbeatFailed {
        /// Peer label (`server2 (http://…)`).
        peer: String,
        /// Why.
        reason: String,
        /// Transport (true) or answer (false) failure.
        transport: bool,
    },
    /// `HA_COMMUNICATION_INTERRUPTED`.
    CommunicationInterrupted {
        /// Partner name.
        partner: String,
    },
    /// `HA_COMMUNICATION_INTERRUPTED_CLIENT4_UNACKED`.
    ClientUnacked {
        /// Query label (`[hwtype=1 …], cid=[…], tid=0x…`).
        query: String,
        /// Unacked clients so far.
        unacked: u64,
        /// Clients left before partner-down.
        left: u64,
    },
    /// `HA_HIGH_CLOCK_SKEW`.
    HighClockSkew(String),
    /// `HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION`.
    ClockSkewTermination(String),
    /// `HA_TERMINATED`.
    Terminated,
    /// `HA_TERMINATED_RESTART_PARTNER`.
    RestartPartner,
    /// `HA_INVALID_PARTNER_STATE_*`.
    InvalidPartnerState(HaState),
    /// `HA_LEASE_UPDATE_FAILED` / `HA_LEASE_UPDATE_COMMUNICATIONS_FAILED`: the reply of this
    /// change is dropped and the partner marked unavailable.
    LeaseUpdateFailed {
        /// Sequence number of the lease change.
        seq: u64,
        /// Leased address.
        addr: Ipv4Addr,
        /// Peer label.
        peer: String,
        /// Why.
        reason: String,
        /// Transport (true) or answer (false) failure.
        transport: bool,
    },
    /// `HA_LEASE_UPDATE_CONFLICT` (Kea 2.3): the partner refused the update for a conflict
    /// (result 4, or 2.2's result 1 `ResourceBusy` / `failed to update the lease`). The
    /// reply is dropped; the partner is not marked unavailable.
    LeaseUpdateConflict {
        /// Sequence number of the lease change.
        seq: u64,
        /// Leased address.
        addr: Ipv4Addr,
        /// Peer label.
        peer: String,
        /// The partner's text.
        reason: String,
    },
    /// More lease updates await acknowledgement than the limit: the change's reply is
    /// dropped without sending the update.
    LeaseUpdateOverflow {
        /// Sequence number of the lease change.
        seq: u64,
        /// The limit.
        limit: usize,
    },
    /// `HA_SYNC_START`.
    SyncStarted {
        /// Peer fetched from.
        peer: String,
    },
    /// `HA_LEASES_SYNC_LEASE_PAGE_RECEIVED`; carries the leases for the daemon to merge
    /// into its store ([`super::merge_leases`]).
    LeasesFetched {
        /// Peer name.
        peer: String,
        /// The page's leases.
        leases: Vec<Lease4>,
    },
    /// `HA_LEASE_SYNC_FAILED`: one lease of a page could not be read.
    LeaseSyncFailed {
        /// The lease map as received.
        lease: String,
        /// Why.
        reason: String,
    },
    /// `HA_SYNC_SUCCESSFUL`.
    SyncSucceeded {
        /// Peer name.
        peer: String,
        /// Pages fetched.
        pages: u32,
        /// Leases received.
        leases: u64,
        /// How long it took.
        elapsed: Duration,
    },
    /// `HA_SYNC_FAILED`.
    SyncFailed {
        /// Peer name.
        peer: String,
        /// Why.
        reason: String,
    },
    /// `HA_MAINTENANCE_STARTED`.
    MaintenanceStarted,
    /// `HA_MAINTENANCE_SHUTDOWN_SAFE`.
    MaintenanceShutdownSafe,
    /// `HA_MAINTENANCE_STARTED_IN_PARTNER_DOWN`.
    MaintenanceStartedInPartnerDown,
    /// `HA_LEASES_BACKLOG_START`.
    BacklogStart {
        /// Updates queued.
        count: usize,
        /// Partner name.
        peer: String,
    },
    /// `HA_LEASES_BACKLOG_FAILED` / `HA_RESET_FAILED` and similar request failures.
    RequestFailed {
        /// Kea's message id.
        id: &'static str,
        /// Peer label.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The answer of a command that needed a partner round trip (`ha-maintenance-start`,
    /// `ha-maintenance-cancel`, `ha-sync`).
    CommandAnswered {
        /// The id [`super::CommandReply::Deferred`] gave.
        id: u64,
        /// The answer to send.
        answer: Answer,
    },
}

impl HaEvent {
    /// Kea's message id.
    pub fn kea_id(&self) -> &'static str {
        match self {
            Self::StateTransition {
                mode: HaMode::PassiveBackup,
                ..
            } => "HA_STATE_TRANSITION_PASSIVE_BACKUP",
            Self::StateTransition { .. } => "HA_STATE_TRANSITION",
            Self::LocalDhcp { enabled: true, .. } => "HA_LOCAL_DHCP_ENABLE",
            Self::LocalDhcp { enabled: false, .. } => "HA_LOCAL_DHCP_DISABLE",
            Self::Paused(_) => "HA_STATE_MACHINE_PAUSED",
            Self::Continued => "HA_STATE_MACHINE_CONTINUED",
            Self::HeartbeatFailed {
                transport: true, ..
            } => "HA_HEARTBEAT_COMMUNICATIONS_FAILED",
            Self::HeartbeatFailed { .. } => "HA_HEARTBEAT_FAILED",
            Self::CommunicationInterrupted { .. } => "HA_COMMUNICATION_INTERRUPTED",
            Self::ClientUnacked { .. } => "HA_COMMUNICATION_INTERRUPTED_CLIENT4_UNACKED",
            Self::HighClockSkew(_) => "HA_HIGH_CLOCK_SKEW",
            Self::ClockSkewTermination(_) => "HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION",
            Self::Terminated => "HA_TERMINATED",
            Self::RestartPartner => "HA_TERMINATED_RESTART_PARTNER",
            Self::InvalidPartnerState(HaState::CommunicationRecovery) => {
                "HA_INVALID_PARTNER_STATE_COMMUNICATION_RECOVERY"
            }
            Self::InvalidPartnerState(HaState::HotStandby) => {
                "HA_INVALID_PARTNER_STATE_HOT_STANDBY"
            }
            Self::InvalidPartnerState(_) => "HA_INVALID_PARTNER_STATE_LOAD_BALANCING",
            Self::LeaseUpdateFailed {
                transport: true, ..
            } => "HA_LEASE_UPDATE_COMMUNICATIONS_FAILED",
            Self::LeaseUpdateFailed { .. } => "HA_LEASE_UPDATE_FAILED",
            Self::LeaseUpdateConflict { .. } => "HA_LEASE_UPDATE_CONFLICT",
            Self::LeaseUpdateOverflow { .. } => "HA_LEASE_UPDATE_OVERFLOW",
            Self::SyncStarted { .. } => "HA_SYNC_START",
            Self::LeasesFetched { .. } => "HA_LEASES_SYNC_LEASE_PAGE_RECEIVED",
            Self::LeaseSyncFailed { .. } => "HA_LEASE_SYNC_FAILED",
            Self::SyncSucceeded { .. } => "HA_SYNC_SUCCESSFUL",
            Self::SyncFailed { .. } => "HA_SYNC_FAILED",
            Self::MaintenanceStarted => "HA_MAINTENANCE_STARTED",
            Self::MaintenanceShutdownSafe => "HA_MAINTENANCE_SHUTDOWN_SAFE",
            Self::MaintenanceStartedInPartnerDown => "HA_MAINTENANCE_STARTED_IN_PARTNER_DOWN",
            Self::BacklogStart { .. } => "HA_LEASES_BACKLOG_START",
            Self::RequestFailed { id, .. } => id,
            Self::CommandAnswered { .. } => "HA_COMMAND_ANSWERED",
        }
    }
}

impl fmt::Display for HaEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StateTransition {
                from,
                to,
                reason,
                mode: HaMode::PassiveBackup,
                ..
            } => write!(
                f,
                "server transitions from {} to {} state ({reason})",
                from.upper(),
                to.upper()
            ),
            Self::StateTransition {
                from,
                to,
                partner,
                reason,
                ..
            } => {
                let p = partner.unwrap_or(HaState::Unavailable);
                write!(
                    f,
                    "server transitions from {} to {} state, partner state is {} ({reason})",
                    from.upper(),
                    to.upper(),
                    if partner.is_some() {
                        alloc::format!("{}", p.upper())
                    } else {
                        String::from("UNDEFINED")
                    }
                )
            }
            Self::LocalDhcp {
                enabled,
                server,
                state,
            } => write!(
                f,
                "local DHCP service is {} while the {server} is in the {} state",
                if *enabled { "enabled" } else { "disabled" },
                state.upper()
            ),
            Self::Paused(s) => write!(f, "state machine paused in state {}", s.upper()),
            Self::Continued => f.write_str("state machine is un-paused"),
            Self::HeartbeatFailed {
                peer,
                reason,
                transport: true,
            } => write!(f, "failed to send heartbeat to {peer}: {reason}"),
            Self::HeartbeatFailed { peer, reason, .. } => {
                write!(f, "heartbeat to {peer} failed: {reason}")
            }
            Self::CommunicationInterrupted { partner } => {
                write!(f, "communication with {partner} is interrupted")
            }
            Self::ClientUnacked {
                query,
                unacked,
                left,
            } => write!(
                f,
                "{query}: partner server failed to respond, {unacked} clients unacked so far, \
                 {left} clients left before transitioning to the partner-down state"
            ),
            Self::HighClockSkew(t) => write!(f, "{t}, please synchronize clocks!"),
            Self::ClockSkewTermination(t) => {
                write!(f, "{t}, causing HA service to terminate")
            }
            Self::Terminated => f.write_str(
                "HA service terminated due to an unrecoverable condition. Check previous error \
                 message(s), address the problem and restart!",
            ),
            Self::RestartPartner => {
                f.write_str("waiting for the partner in the TERMINATED state to be restarted")
            }
            Self::InvalidPartnerState(s) => {
                write!(f, "partner is in the {s} state unexpectedly")
            }
            Self::LeaseUpdateFailed {
                seq,
                addr,
                peer,
                reason,
                transport: true,
            } => write!(
                f,
                "[lease {addr}, change {seq}]: failed to communicate with {peer}: {reason}"
            ),
            Self::LeaseUpdateFailed {
                seq,
                addr,
                peer,
                reason,
                ..
            } => write!(
                f,
                "[lease {addr}, change {seq}]: lease update to {peer} failed: {reason}"
            ),
            Self::LeaseUpdateConflict {
                seq,
                addr,
                peer,
                reason,
            } => write!(
                f,
                "[lease {addr}, change {seq}]: lease update to {peer} returned conflict status \
                 code: {reason}"
            ),
            Self::LeaseUpdateOverflow { seq, limit } => write!(
                f,
                "[change {seq}]: {limit} lease updates await acknowledgement, dropping the reply"
            ),
            Self::SyncStarted { peer } => {
                write!(f, "starting lease database synchronization with {peer}")
            }
            Self::LeasesFetched { peer, leases } => {
                write!(f, "received {} leases from {peer}", leases.len())
            }
            Self::LeaseSyncFailed { lease, reason } => {
                write!(
                    f,
                    "synchronization failed for lease: {lease}, reason: {reason}"
                )
            }
            Self::SyncSucceeded { peer, elapsed, .. } => write!(
                f,
                "lease database synchronization with {peer} completed successfully in {:.3} ms",
                elapsed.as_secs_f64() * 1000.0
            ),
            Self::SyncFailed { peer, reason } => {
                write!(
                    f,
                    "lease database synchronization with {peer} failed: {reason}"
                )
            }
            Self::MaintenanceStarted => f.write_str(
                "the server is now in the partner-in-maintenance state and the partner is \
                 in-maintenance state",
            ),
            Self::MaintenanceShutdownSafe => f.write_str(
                "the server can now be shutdown for maintenance as the partner has taken over \
                 the DHCP traffic",
            ),
            Self::MaintenanceStartedInPartnerDown => f.write_str(
                "the server is now in the partner-down mode as a result of requested maintenance",
            ),
            Self::BacklogStart { count, peer } => {
                write!(
                    f,
                    "starting to send {count} outstanding lease updates to {peer}"
                )
            }
            Self::RequestFailed { peer, reason, .. } => {
                write!(f, "request to {peer} failed: {reason}")
            }
            Self::CommandAnswered { id, answer } => {
                write!(f, "command {id} answered: {}", answer.to_kea_json())
            }
        }
    }
}
