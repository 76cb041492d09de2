//! keepalived's `vrrp_sync_group`: several virtual routers that change state together.

use std::collections::VecDeque;
use std::time::Instant;

use vrrp_proto::{AdvertRepr, DecodeError, Family, Received};

use crate::config::{Config, ConfigError};
use crate::event::{Command, Event, Reason, RejectReason, RxMeta, State, Transmit};
use crate::router::{EVENT_QUEUE_CAP, VirtualRouter};

/// Why a [`SyncGroup`] cannot be built.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncGroupError {
    /// A group needs at least one member.
    #[error("a sync group needs at least one member")]
    Empty,
    /// A member's configuration is refused.
    #[error("member {member}: {error}")]
    Member {
        /// Index of the member.
        member: usize,
        /// The error.
        error: ConfigError,
    },
    /// Two members have the same VRID and family (they could not be told apart).
    #[error("members {first} and {second} have the same VRID and address family")]
    DuplicateVrid {
        /// First member.
        first: usize,
        /// Second member.
        second: usize,
    },
}

/// An event of a [`SyncGroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    /// An event of one member.
    Member {
        /// Index of the member.
        member: usize,
        /// Its event.
        event: Event,
    },
    /// All members now share a new state (keepalived's group notify).
    StateChanged {
        /// Previous common state.
        from: State,
        /// New common state.
        to: State,
    },
}

/// Virtual routers kept in the same state, as keepalived's `vrrp_sync_group`:
///
/// * **Master** only together, and only when every member wants it: a member whose
///   Master_Down timer expires *wants* Master; the group goes Master when all members want it
///   (or already are Master). Until then the member stays Backup and waits another
///   Master_Down_Interval (keepalived prefers Backup to thrashing: if one VRID's Master is
///   still heard, nobody takes over).
/// * **Backup** together: when a Master member hears a higher-priority advert and becomes
///   Backup, the other members leave Master too (without a priority-0 advert, as keepalived).
/// * **Fault** together: a fault on any member ([`Command::FaultOn`]) puts every member in
///   Fault (Masters send priority 0); the group leaves Fault when no member has a fault left.
///
/// Commands: [`SetPriority`](Command::SetPriority), [`FaultOn`](Command::FaultOn) and
/// [`FaultOff`](Command::FaultOff) concern the addressed member; every other command applies
/// to all members (a switchover of one member alone would only make the group thrash). A
/// switchover is rejected for all when any member would reject it.
///
/// The handle/poll surface is [`VirtualRouter`]'s, with members addressed by index.
#[derive(Debug)]
pub struct SyncGroup {
    members: Vec<VirtualRouter>,
    own_fault: Vec<bool>,
    state: Option<State>,
    events: VecDeque<GroupEvent>,
}

impl SyncGroup {
    /// Builds and starts the members at `now`.
    pub fn new(configs: Vec<Config>, now: Instant) -> Result<Self, SyncGroupError> {
        if configs.is_empty() {
            return Err(SyncGroupError::Empty);
        }
        for (i, a) in configs.iter().enumerate() {
            for (j, b) in configs.iter().enumerate().skip(i + 1) {
                if a.vrid == b.vrid && a.family() == b.family() {
                    return Err(SyncGroupError::DuplicateVrid {
                        first: i,
                        second: j,
                    });
                }
            }
        }
        let mut members = Vec::with_capacity(configs.len());
        for (member, c) in configs.into_iter().enumerate() {
            members.push(
                VirtualRouter::new_member(c, now)
                    .map_err(|error| SyncGroupError::Member { member, error })?,
            );
        }
        let n = members.len();
        let mut g = Self {
            members,
            own_fault: vec![false; n],
            state: None,
            events: VecDeque::new(),
        };
        g.settle(now);
        Ok(g)
    }

    /// The members.
    pub fn members(&self) -> &[VirtualRouter] {
        &self.members
    }

    /// One member.
    pub fn member(&self, i: usize) -> Option<&VirtualRouter> {
        self.members.get(i)
    }

    /// The member serving `vrid` in `family`, to demultiplex received adverts.
    pub fn member_for(&self, vrid: u8, family: Family) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.config().vrid == vrid && m.config().family() == family)
    }

    /// The state all members share, or `None` while they differ (only between a member's own
    /// transition and the group's, which happen within one call).
    pub fn state(&self) -> Option<State> {
        let first = self.members.first()?.state();
        self.members
            .iter()
            .all(|m| m.state() == first)
            .then_some(first)
    }

    /// [`VirtualRouter::handle_packet`] for member `member` (an unknown index is ignored).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        member: usize,
        meta: &RxMeta,
        advert: &AdvertRepr,
    ) {
        if let Some(m) = self.members.get_mut(member) {
            m.handle_packet(now, meta, advert);
            self.settle(now);
        }
    }

    /// Demultiplexes a decoded advert by VRID and family; returns the member that took it.
    pub fn handle_received(&mut self, now: Instant, rx: &Received) -> Option<usize> {
        let i = self.member_for(rx.advert.vrid, rx.advert.addrs.family())?;
        self.handle_packet(now, i, &RxMeta::from(rx), &rx.advert);
        Some(i)
    }

    /// [`VirtualRouter::record_malformed`] for member `member`: counts a packet the codec
    /// refused (an unknown index is ignored). Counters only; no state changes.
    pub fn record_malformed(&mut self, member: usize, err: &DecodeError) {
        if let Some(m) = self.members.get_mut(member) {
            m.record_malformed(err);
        }
    }

    /// Runs every member's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for m in &mut self.members {
            m.handle_timeout(now);
        }
        self.settle(now);
    }

    /// Carries out a command (see the type's documentation for which members it concerns).
    pub fn handle_command(&mut self, now: Instant, member: usize, cmd: Command) {
        if member >= self.members.len() {
            return;
        }
        match cmd {
            Command::SetPriority(_) => self.members[member].handle_command(now, cmd),
            Command::FaultOn => {
                self.own_fault[member] = true;
                for (j, m) in self.members.iter_mut().enumerate() {
                    let reason = if j == member {
                        Reason::Fault
                    } else {
                        Reason::SyncGroup { leader: member }
                    };
                    m.enter_fault(reason);
                }
            }
            Command::FaultOff => {
                self.own_fault[member] = false;
                if !self.own_fault.iter().any(|f| *f) {
                    for (j, m) in self.members.iter_mut().enumerate() {
                        let reason = if j == member {
                            Reason::FaultCleared
                        } else {
                            Reason::SyncGroup { leader: member }
                        };
                        m.leave_fault(now, reason);
                    }
                }
            }
            Command::Switchover => {
                let refusal = self
                    .members
                    .iter()
                    .map(VirtualRouter::can_switchover)
                    .find_map(Result::err);
                match refusal {
                    Some(r) => self.reject_all(cmd, r),
                    None => {
                        for m in &mut self.members {
                            m.handle_command(now, cmd);
                        }
                    }
                }
            }
            Command::Shutdown | Command::Start | Command::StepDown | Command::ResumeElection => {
                for m in &mut self.members {
                    m.handle_command(now, cmd);
                }
            }
        }
        self.settle(now);
    }

    fn reject_all(&mut self, cmd: Command, r: RejectReason) {
        for m in &mut self.members {
            m.reject(cmd, r);
        }
    }

    /// The next advert of any member, with the member's index.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<(usize, Transmit)> {
        self.members
            .iter_mut()
            .enumerate()
            .find_map(|(i, m)| m.poll_transmit(buf).map(|t| (i, t)))
    }

    /// The next event: the group's own first, then the members' in member order.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.members.iter_mut().enumerate().find_map(|(member, m)| {
            m.poll_event()
                .map(|event| GroupEvent::Member { member, event })
        })
    }

    /// The earliest member timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members
            .iter()
            .filter_map(VirtualRouter::poll_timeout)
            .min()
    }

    /// Applies the group rules after members acted on their own.
    fn settle(&mut self, now: Instant) {
        // A member that left Master on its own takes the others along.
        if let Some(i) = self.members.iter().position(|m| m.sync.left_master) {
            for (j, m) in self.members.iter_mut().enumerate() {
                m.sync.left_master = false;
                if j != i {
                    m.sync_goto_backup(now, i);
                }
            }
        }
        // Master together, when everybody wants it.
        let wanting = |m: &VirtualRouter| m.state() == State::Backup && m.sync.wants_master;
        if let Some(leader) = self.members.iter().position(wanting) {
            let ready = self
                .members
                .iter()
                .all(|m| m.state() == State::Master || wanting(m));
            if ready {
                for m in &mut self.members {
                    let own = wanting(m);
                    m.sync_goto_master(now, leader, own);
                }
            }
        }
        if let Some(s) = self.state()
            && self.state != Some(s)
        {
            // The first shared state is reported too (from Initialize), as keepalived runs the
            // group's notify_backup at start-up: a conntrackd hook asks for its resync there.
            let from = self.state.unwrap_or(State::Initialize);
            if self.events.len() >= EVENT_QUEUE_CAP {
                self.events.pop_front();
            }
            self.events
                .push_back(GroupEvent::StateChanged { from, to: s });
            self.state = Some(s);
        }
    }
}
