//! One virtual router: the RFC 5798 / RFC 9568 state machine with keepalived's options.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp_proto::{
    AdvertRepr, AuthCheck, DecodeError, Family, IpError, IpPair, ParseError, Received, Version,
    VirtualAddrs,
};

use crate::config::{Config, ConfigError, InitialState};
use crate::event::{
    AnnounceTrigger, Command, Counters, DropReason, Event, Peer, Reason, RejectReason, RxMeta,
    State, Transmit,
};
use crate::timers;

/// At most this many events wait in the queue; see [`VirtualRouter::poll_event`].
pub const EVENT_QUEUE_CAP: usize = 64;

/// The advert waiting to be emitted: its priority, and the next destination index.
#[derive(Debug, Clone, Copy)]
struct PendingAdvert {
    priority: u8,
    next: usize,
}

/// What a [`SyncGroup`](crate::SyncGroup) needs to know about a member.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncHooks {
    /// This router is a sync-group member: it does not go Master on its own timer.
    pub(crate) member: bool,
    /// Its Master_Down timer expired: it wants to be Master (keepalived's `wantstate`).
    pub(crate) wants_master: bool,
    /// The reason and peer it would have gone Master with.
    pub(crate) wanted: (Reason, Option<Peer>),
    /// It left Master on its own (higher-priority advert): the group follows.
    pub(crate) left_master: bool,
}

/// One VRRP virtual router as a Sans-IO state machine.
///
/// Inputs: [`handle_packet`](Self::handle_packet) (a decoded advert and its IP metadata),
/// [`handle_timeout`](Self::handle_timeout), [`handle_command`](Self::handle_command). Outputs:
/// [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event) and
/// [`poll_timeout`](Self::poll_timeout). Time only comes in as `now`; nothing here sleeps,
/// reads a clock or does I/O, and no input makes it panic or return an error: a bad advert is
/// dropped, counted in [`Counters`] and reported as [`Event::Dropped`].
///
/// After every `handle_*` call, drain `poll_transmit` and `poll_event`, then sleep until
/// `poll_timeout`. Both queues are bounded: at most one advert is pending (a newer one
/// replaces an older one still waiting, since an advert describes the current state), and at
/// most [`EVENT_QUEUE_CAP`] events (when full, [`Event::Dropped`] reports are discarded first,
/// then the oldest events; each loss counts in `events_overflow`).
#[derive(Debug)]
pub struct VirtualRouter {
    cfg: Config,
    template: AdvertRepr,
    state: State,
    /// The priority set by configuration and tracking ([`Command::SetPriority`]).
    tracked_priority: u8,
    /// [`Command::Switchover`] in force.
    switchover: bool,
    /// [`Command::StepDown`] in force: do not preempt.
    step_down: bool,
    fault: bool,
    master_adver_interval: Duration,
    /// The Master as last heard (Backup).
    master: Option<Peer>,
    master_down: Option<Instant>,
    adver_timer: Option<Instant>,
    garp_delay: Option<Instant>,
    garp_refresh: Option<Instant>,
    /// keepalived's `preempt_time`: lower-priority adverts are accepted until then.
    preempt_until: Option<Instant>,
    /// Start-up time plus `startup_delay`: no Master_Down timer expires before it.
    start_gate: Instant,
    /// Reason and peer of the transition the Master_Down timer will cause.
    next_reason: Reason,
    next_peer: Option<Peer>,
    tx: Option<PendingAdvert>,
    events: VecDeque<Event>,
    counters: Counters,
    pub(crate) sync: SyncHooks,
}

impl VirtualRouter {
    /// Validates `config` and starts the router at `now`: the owner goes Master at once (adverts
    /// and events are queued), any other router goes Backup with a full Master_Down_Interval
    /// (see [`InitialState`] for keepalived's `state` and `vrrp_startup_delay`).
    pub fn new(config: Config, now: Instant) -> Result<Self, ConfigError> {
        Self::build(config, now, false)
    }

    /// A sync-group member: it reports an expired Master_Down timer instead of acting on it.
    pub(crate) fn new_member(config: Config, now: Instant) -> Result<Self, ConfigError> {
        Self::build(config, now, true)
    }

    fn build(config: Config, now: Instant, member: bool) -> Result<Self, ConfigError> {
        config.validate()?;
        let template = config.advert(config.priority);
        let mut vr = Self {
            tracked_priority: config.priority,
            master_adver_interval: config.advert_interval,
            template,
            state: State::Initialize,
            switchover: false,
            step_down: false,
            fault: false,
            master: None,
            master_down: None,
            adver_timer: None,
            garp_delay: None,
            garp_refresh: None,
            preempt_until: None,
            start_gate: now,
            next_reason: Reason::MasterDown,
            next_peer: None,
            tx: None,
            events: VecDeque::new(),
            counters: Counters::default(),
            sync: SyncHooks {
                member,
                wants_master: false,
                wanted: (Reason::MasterDown, None),
                left_master: false,
            },
            cfg: config,
        };
        vr.start(now);
        Ok(vr)
    }

    // ----- accessors -------------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The priority this router advertises and compares with: the tracked priority, raised to
    /// the switchover priority while a [`Command::Switchover`] is in force.
    pub fn priority(&self) -> u8 {
        if self.switchover {
            self.tracked_priority.max(self.cfg.switchover_priority)
        } else {
            self.tracked_priority
        }
    }

    /// The priority from configuration and tracking ([`Command::SetPriority`]).
    pub fn tracked_priority(&self) -> u8 {
        self.tracked_priority
    }

    /// The current Master: this router when Master, else the last Master heard as Backup.
    pub fn master(&self) -> Option<Peer> {
        match self.state {
            State::Master => Some(Peer {
                addr: self.cfg.src_addr,
                priority: self.priority(),
            }),
            State::Backup => self.master,
            State::Initialize | State::Fault => None,
        }
    }

    /// Master_Adver_Interval: learned from the Master's VRRPv3 adverts, else ours.
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// Skew_Time for our priority and the current Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        timers::skew_time(
            self.cfg.version,
            self.priority(),
            self.master_adver_interval,
        )
    }

    /// Master_Down_Interval for our priority and the current Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        timers::master_down_interval(
            self.cfg.version,
            self.priority(),
            self.master_adver_interval,
            self.cfg.down_timer_adverts,
        )
    }

    /// When the Master_Down timer expires (Backup only).
    pub fn master_down_deadline(&self) -> Option<Instant> {
        self.master_down
    }

    /// The statistics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether a [`Command::Switchover`] is in force.
    pub fn switchover_active(&self) -> bool {
        self.switchover
    }

    /// Whether a [`Command::StepDown`] is in force (preemption suspended).
    pub fn stepped_down(&self) -> bool {
        self.step_down
    }

    /// Whether a fault is set ([`Command::FaultOn`], or a sync-group peer's fault).
    pub fn is_faulted(&self) -> bool {
        self.fault
    }

    // ----- inputs ----------------------------------------------------------------------------

    /// Processes a received advert that the codec accepted (`vrrp_proto::decode`). Adverts are
    /// ignored in Initialize and Fault; unacceptable ones are dropped (see [`DropReason`]).
    pub fn handle_packet(&mut self, now: Instant, meta: &RxMeta, advert: &AdvertRepr) {
        if !matches!(self.state, State::Backup | State::Master) {
            return;
        }
        if let Err(reason) = self.check_advert(meta, advert) {
            self.drop_advert(meta.src, reason);
            return;
        }
        self.counters.adverts_rx += 1;
        if advert.priority == 0 {
            self.counters.priority_zero_rx += 1;
        }
        if advert.version == Version::V3
            && self.cfg.family() == Family::Ipv4
            && meta.checksum != self.cfg.checksum
        {
            self.counters.checksum_convention_mismatch += 1;
        }
        let peer = Peer {
            addr: meta.src,
            priority: advert.priority,
        };
        match self.state {
            State::Backup => self.backup_rx(now, peer, advert),
            State::Master => self.master_rx(now, peer, advert),
            State::Initialize | State::Fault => {}
        }
    }

    /// [`handle_packet`](Self::handle_packet) with what `vrrp_proto::decode` returned.
    pub fn handle_received(&mut self, now: Instant, rx: &Received) {
        self.handle_packet(now, &RxMeta::from(rx), &rx.advert);
    }

    /// Counts a packet the codec refused (for this VRID, as far as the daemon could tell).
    pub fn record_malformed(&mut self, err: &DecodeError) {
        let c = &mut self.counters;
        match err {
            DecodeError::Vrrp(e) => match e {
                ParseError::BadChecksum { .. } => c.checksum_errors += 1,
                ParseError::BadVersion(_) | ParseError::V2OverIpv6 => c.version_errors += 1,
                ParseError::BadType(_) => c.invalid_type_rx += 1,
                ParseError::ZeroVrid => c.vrid_errors += 1,
                ParseError::ZeroInterval => c.interval_errors += 1,
                ParseError::BadAuthType(_) => c.auth_errors += 1,
                ParseError::Truncated { .. } | ParseError::LengthMismatch { .. } => {
                    c.packet_length_errors += 1;
                }
                _ => c.ip_errors += 1,
            },
            DecodeError::Ip(IpError::BadTtl(_)) => c.ttl_errors += 1,
            DecodeError::Ip(IpError::Truncated { .. }) => c.packet_length_errors += 1,
            _ => c.ip_errors += 1,
        }
    }

    /// Runs the timers due at `now`. Calls before a deadline (early or spurious) do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Master => {
                if self.adver_timer.is_some_and(|t| t <= now) {
                    self.queue_advert(self.priority());
                    self.adver_timer = Some(now + self.cfg.advert_interval);
                }
                if self.garp_delay.is_some_and(|t| t <= now) {
                    self.garp_delay = None;
                    self.announce(self.cfg.garp_master_repeat, AnnounceTrigger::MasterDelay);
                }
                if self.garp_refresh.is_some_and(|t| t <= now) {
                    self.garp_refresh = Some(now + self.cfg.garp_master_refresh);
                    self.announce(
                        self.cfg.garp_master_refresh_repeat,
                        AnnounceTrigger::Refresh,
                    );
                }
            }
            State::Backup => {
                if self.master_down.is_some_and(|t| t <= now) {
                    self.master_down = None;
                    let (reason, peer) = (self.next_reason, self.next_peer);
                    if self.sync.member {
                        // The group decides; meanwhile wait another full interval, as
                        // keepalived does while its sync group is not ready.
                        self.sync.wants_master = true;
                        self.sync.wanted = (reason, peer);
                        let d = self.master_down_interval();
                        self.arm_master_down(now, d);
                    } else {
                        self.become_master(now, reason, peer);
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Carries out an operator's or tracker's command (see [`Command`] for the semantics).
    /// What cannot be done is reported as [`Event::CommandRejected`].
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::SetPriority(p) => {
                let max = if self.cfg.is_owner() { 255 } else { 254 };
                let before = self.priority();
                self.tracked_priority = p.clamp(1, max);
                self.priority_changed(before);
            }
            Command::FaultOn => self.enter_fault(Reason::Fault),
            Command::FaultOff => self.leave_fault(now, Reason::FaultCleared),
            Command::Shutdown => self.shutdown(),
            Command::Start => {
                if self.state == State::Initialize {
                    self.start(now);
                } else {
                    self.reject(cmd, RejectReason::AlreadyRunning);
                }
            }
            Command::Switchover => {
                if let Err(r) = self.can_switchover() {
                    self.reject(cmd, r);
                } else {
                    self.switchover(now);
                }
            }
            Command::StepDown => self.step_down(now, cmd),
            Command::ResumeElection => {
                let before = self.priority();
                self.switchover = false;
                self.step_down = false;
                self.priority_changed(before);
            }
        }
    }

    // ----- outputs ---------------------------------------------------------------------------

    /// The next advert to send: the VRRP message is written to `buf` (cleared first) and the
    /// returned [`Transmit`] says where it goes. With unicast peers one advert gives one
    /// transmit per peer.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let pending = self.tx?;
        let dst = if self.cfg.unicast_peers.is_empty() {
            self.cfg.group()
        } else {
            match self.cfg.unicast_peers.get(pending.next) {
                Some(p) => *p,
                None => {
                    self.tx = None;
                    return None;
                }
            }
        };
        let ndst = self.cfg.unicast_peers.len().max(1);
        self.tx = (pending.next + 1 < ndst).then_some(PendingAdvert {
            priority: pending.priority,
            next: pending.next + 1,
        });
        self.template.priority = pending.priority;
        buf.clear();
        buf.resize(self.template.buffer_len(), 0);
        let pair = IpPair {
            src: self.cfg.src_addr,
            dst,
        };
        // Config::validate emitted this advert for every destination: it cannot fail.
        let len = self.template.emit(buf, &pair, self.cfg.checksum).ok()?;
        buf.truncate(len);
        self.counters.adverts_tx += 1;
        if pending.priority == 0 {
            self.counters.priority_zero_tx += 1;
        }
        Some(Transmit {
            dst,
            src: self.cfg.src_addr,
            len,
            priority: pending.priority,
        })
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called (`None`: no timer
    /// runs, as in Initialize and Fault).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.master_down,
            self.adver_timer,
            self.garp_delay,
            self.garp_refresh,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- receive ---------------------------------------------------------------------------

    fn check_advert(&self, meta: &RxMeta, advert: &AdvertRepr) -> Result<(), DropReason> {
        let family = self.cfg.family();
        if Family::of(&meta.src) != family || advert.addrs.family() != family {
            return Err(DropReason::FamilyMismatch);
        }
        if advert.vrid != self.cfg.vrid {
            return Err(DropReason::VridMismatch { vrid: advert.vrid });
        }
        if advert.version != self.cfg.version {
            return Err(DropReason::VersionMismatch {
                version: advert.version,
            });
        }
        let multicast = meta.dst.is_multicast();
        if multicast && meta.ttl != vrrp_proto::TTL {
            return Err(DropReason::Ttl { ttl: meta.ttl });
        }
        if multicast != self.cfg.unicast_peers.is_empty() {
            return Err(DropReason::UnexpectedDestination { dst: meta.dst });
        }
        if !multicast && self.cfg.check_unicast_src && !self.cfg.unicast_peers.contains(&meta.src) {
            return Err(DropReason::UnknownSource);
        }
        if meta.src == self.cfg.src_addr {
            return Err(DropReason::OwnAddress);
        }
        match advert.version {
            Version::V2 => {
                let check = advert.auth.check(&self.cfg.auth);
                if check != AuthCheck::Ok {
                    return Err(DropReason::Auth(check));
                }
                if advert.interval != self.template.interval {
                    return Err(DropReason::IntervalMismatch {
                        received: advert.interval_duration(),
                        expected: self.cfg.advert_interval,
                    });
                }
            }
            Version::V3 => {
                if advert.interval == 0 {
                    return Err(DropReason::IntervalMismatch {
                        received: Duration::ZERO,
                        expected: self.cfg.advert_interval,
                    });
                }
            }
        }
        let check_addrs =
            !self.cfg.skip_check_adv_addr || self.master.map(|m| m.addr) != Some(meta.src);
        if check_addrs && !same_addresses(&advert.addrs, &self.cfg.vips) {
            return Err(DropReason::AddressList {
                received: advert.addrs.len(),
                expected: self.cfg.vips.len(),
            });
        }
        Ok(())
    }

    fn drop_advert(&mut self, from: IpAddr, reason: DropReason) {
        let c = &mut self.counters;
        match reason {
            DropReason::VridMismatch { .. } => c.vrid_errors += 1,
            DropReason::VersionMismatch { .. } => c.version_errors += 1,
            DropReason::FamilyMismatch | DropReason::AddressList { .. } => {
                c.address_list_errors += 1;
            }
            DropReason::Ttl { .. } => c.ttl_errors += 1,
            DropReason::UnexpectedDestination { .. } => c.destination_errors += 1,
            DropReason::UnknownSource => c.unknown_source_errors += 1,
            DropReason::OwnAddress => c.own_address_errors += 1,
            DropReason::Auth(_) => c.auth_errors += 1,
            DropReason::IntervalMismatch { .. } => c.interval_errors += 1,
        }
        self.push_event(Event::Dropped { from, reason });
    }

    /// RFC 5798 §6.4.2 (Backup), with keepalived's `preempt_delay`.
    fn backup_rx(&mut self, now: Instant, peer: Peer, advert: &AdvertRepr) {
        if peer.priority == 0 {
            let skew = self.skew_time();
            self.arm_master_down(now, skew);
            self.next_reason = Reason::PriorityZero;
            self.next_peer = Some(peer);
            return;
        }
        let own = self.priority();
        let preempting = self.cfg.preempt && !self.step_down;
        let delaying = preempting
            && self.cfg.preempt_delay > Duration::ZERO
            && self.preempt_until.is_none_or(|t| t > now);
        if !preempting || peer.priority >= own || delaying {
            if advert.version == Version::V3 {
                self.master_adver_interval = advert.interval_duration();
            }
            if self.master != Some(peer) {
                self.push_event(Event::MasterLearned { master: peer });
            }
            self.master = Some(peer);
            let d = self.master_down_interval();
            self.arm_master_down(now, d);
            self.next_reason = Reason::MasterDown;
            self.next_peer = Some(peer);
            self.sync.wants_master = false;
            if preempting && self.cfg.preempt_delay > Duration::ZERO {
                if peer.priority >= own {
                    self.preempt_until = None;
                } else if self.preempt_until.is_none() {
                    self.preempt_until = Some(now + self.cfg.preempt_delay);
                }
            }
        } else {
            // Preempt: discard the lower-priority advert; the Master_Down timer runs on.
            self.master = Some(peer);
            self.next_reason = Reason::Preempt;
            self.next_peer = Some(peer);
        }
    }

    /// RFC 5798 §6.4.3 (Master), with RFC 9568's answer to a lower-priority advert.
    fn master_rx(&mut self, now: Instant, peer: Peer, advert: &AdvertRepr) {
        let own = self.priority();
        if peer.priority == 0 {
            self.queue_advert(own);
            self.adver_timer = Some(now + self.cfg.advert_interval);
            return;
        }
        let higher = peer.priority > own || (peer.priority == own && peer.addr > self.cfg.src_addr);
        if higher {
            if self.cfg.higher_prio_send_advert {
                self.queue_advert(own);
            }
            if advert.version == Version::V3 {
                self.master_adver_interval = advert.interval_duration();
            }
            let reason = if peer.priority > own {
                Reason::HigherPriority
            } else {
                Reason::HigherAddress
            };
            self.leave_master(State::Backup, reason, Some(peer), false);
            self.master = Some(peer);
            let d = self.master_down_interval();
            self.arm_master_down(now, d);
            self.next_reason = Reason::MasterDown;
            self.next_peer = Some(peer);
            if self.sync.member {
                self.sync.left_master = true;
            }
        } else if !self.cfg.lower_prio_no_advert {
            // RFC 9568 §6.4.3: assert mastership to the sender (and to learning bridges).
            self.queue_advert(own);
        }
    }

    // ----- transitions -----------------------------------------------------------------------

    /// Initialize → Backup / Master / Fault (RFC 5798 §6.4.1, keepalived's start-up).
    fn start(&mut self, now: Instant) {
        self.start_gate = now + self.cfg.startup_delay;
        self.preempt_until = None;
        if self.fault {
            self.set_state(State::Fault, Reason::Startup, None);
            return;
        }
        self.enter_running(now, Reason::Startup);
    }

    /// To Backup (or straight to Master for the owner) from Initialize or Fault.
    fn enter_running(&mut self, now: Instant, reason: Reason) {
        self.master_adver_interval = self.cfg.advert_interval;
        self.master = None;
        let owner_master =
            self.cfg.is_owner() && self.cfg.initial_state != Some(InitialState::Backup);
        if owner_master && !self.sync.member && self.start_gate <= now {
            let reason = if reason == Reason::Startup {
                Reason::OwnerStartup
            } else {
                reason
            };
            self.become_master(now, reason, None);
            return;
        }
        self.set_state(State::Backup, reason, None);
        self.next_peer = None;
        if owner_master {
            self.next_reason = if reason == Reason::Startup {
                Reason::OwnerStartup
            } else {
                reason
            };
            self.arm_master_down(now, Duration::ZERO);
        } else {
            self.next_reason = Reason::MasterDown;
            let d = self.master_down_interval();
            self.arm_master_down(now, d);
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason, peer: Option<Peer>) {
        self.set_state(State::Master, reason, peer);
        self.counters.became_master += 1;
        self.master_down = None;
        self.preempt_until = None;
        self.step_down = false;
        self.master = None;
        self.sync.wants_master = false;
        self.queue_advert(self.priority());
        self.adver_timer = Some(now + self.cfg.advert_interval);
        self.push_event(Event::VipsAdded {
            vips: self.cfg.vips.clone(),
            accept_mode: self.cfg.accept_mode || self.cfg.is_owner(),
        });
        self.announce(self.cfg.garp_master_repeat, AnnounceTrigger::BecameMaster);
        self.garp_delay = (self.cfg.garp_master_delay > Duration::ZERO
            && self.cfg.garp_master_repeat > 0)
            .then(|| now + self.cfg.garp_master_delay);
        self.garp_refresh = (self.cfg.garp_master_refresh > Duration::ZERO
            && self.cfg.garp_master_refresh_repeat > 0)
            .then(|| now + self.cfg.garp_master_refresh);
    }

    /// Master → `to`: stops advertising (after a priority-0 advert if `release`), removes the
    /// addresses. The caller arms the timers of the new state.
    fn leave_master(&mut self, to: State, reason: Reason, peer: Option<Peer>, release: bool) {
        if release {
            self.queue_advert(0);
        }
        self.adver_timer = None;
        self.garp_delay = None;
        self.garp_refresh = None;
        self.preempt_until = None;
        self.counters.released_master += 1;
        self.set_state(to, reason, peer);
        self.push_event(Event::VipsRemoved {
            vips: self.cfg.vips.clone(),
        });
    }

    /// Master → Backup without a new Master known (step-down, sync group).
    fn master_to_backup(&mut self, now: Instant, reason: Reason, release: bool) {
        self.leave_master(State::Backup, reason, None, release);
        self.master = None;
        self.master_adver_interval = self.cfg.advert_interval;
        let d = self.master_down_interval();
        self.arm_master_down(now, d);
        self.next_reason = Reason::MasterDown;
        self.next_peer = None;
    }

    pub(crate) fn enter_fault(&mut self, reason: Reason) {
        if self.fault {
            return;
        }
        self.fault = true;
        let before = self.priority();
        self.switchover = false;
        self.step_down = false;
        self.priority_changed_quiet(before);
        match self.state {
            State::Master => self.leave_master(State::Fault, reason, None, true),
            State::Backup => self.set_state(State::Fault, reason, None),
            State::Initialize | State::Fault => {}
        }
        self.clear_timers();
    }

    pub(crate) fn leave_fault(&mut self, now: Instant, reason: Reason) {
        if !self.fault {
            return;
        }
        self.fault = false;
        if self.state == State::Fault {
            self.enter_running(now, reason);
        }
    }

    fn shutdown(&mut self) {
        let before = self.priority();
        self.switchover = false;
        self.step_down = false;
        self.priority_changed_quiet(before);
        match self.state {
            State::Master => self.leave_master(State::Initialize, Reason::Shutdown, None, true),
            State::Backup | State::Fault => {
                self.set_state(State::Initialize, Reason::Shutdown, None);
            }
            State::Initialize => {}
        }
        self.clear_timers();
        self.master = None;
    }

    /// Whether [`Command::Switchover`] can be carried out now.
    pub(crate) fn can_switchover(&self) -> Result<(), RejectReason> {
        match self.state {
            State::Initialize | State::Fault => Err(RejectReason::NotRunning),
            State::Master => Ok(()),
            State::Backup => {
                let prio = self.tracked_priority.max(self.cfg.switchover_priority);
                match self.master {
                    Some(m)
                        if m.priority > prio
                            || (m.priority == prio && m.addr > self.cfg.src_addr) =>
                    {
                        Err(RejectReason::MasterOutranks(m))
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    fn switchover(&mut self, now: Instant) {
        let before = self.priority();
        self.switchover = true;
        self.step_down = false;
        match self.state {
            State::Master => self.priority_changed(before),
            State::Backup => {
                self.priority_changed_quiet(before);
                let displaced = self.master;
                self.become_master(now, Reason::Switchover, displaced);
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn step_down(&mut self, now: Instant, cmd: Command) {
        match self.state {
            State::Initialize | State::Fault => self.reject(cmd, RejectReason::NotRunning),
            State::Backup => {
                let before = self.priority();
                self.switchover = false;
                self.step_down = true;
                self.priority_changed_quiet(before);
            }
            State::Master => {
                let before = self.priority();
                self.switchover = false;
                self.priority_changed_quiet(before);
                self.master_to_backup(now, Reason::StepDown, true);
                self.step_down = true;
            }
        }
    }

    /// Sync group: follow the group to Master. `own` when this member's own timer expired.
    pub(crate) fn sync_goto_master(&mut self, now: Instant, leader: usize, own: bool) {
        if self.state != State::Backup {
            return;
        }
        let (reason, peer) = if own {
            self.sync.wanted
        } else {
            (Reason::SyncGroup { leader }, self.master)
        };
        self.become_master(now, reason, peer);
    }

    /// Sync group: follow the group to Backup (no priority-0 advert, as keepalived).
    pub(crate) fn sync_goto_backup(&mut self, now: Instant, leader: usize) {
        if self.state == State::Master {
            self.master_to_backup(now, Reason::SyncGroup { leader }, false);
        }
    }

    // ----- helpers ---------------------------------------------------------------------------

    fn set_state(&mut self, to: State, reason: Reason, peer: Option<Peer>) {
        let from = self.state;
        self.state = to;
        if to != State::Backup {
            self.sync.wants_master = false;
        }
        self.push_event(Event::StateChanged {
            from,
            to,
            reason,
            peer,
        });
    }

    fn arm_master_down(&mut self, now: Instant, d: Duration) {
        self.master_down = Some(now.max(self.start_gate) + d);
    }

    fn clear_timers(&mut self) {
        self.master_down = None;
        self.adver_timer = None;
        self.garp_delay = None;
        self.garp_refresh = None;
        self.preempt_until = None;
        self.sync.wants_master = false;
    }

    fn queue_advert(&mut self, priority: u8) {
        self.tx = Some(PendingAdvert { priority, next: 0 });
    }

    fn announce(&mut self, repeat: u32, trigger: AnnounceTrigger) {
        if repeat > 0 {
            self.push_event(Event::Announce {
                vips: self.cfg.vips.clone(),
                repeat,
                trigger,
            });
        }
    }

    /// Reports a change of the advertised priority; a Master advertises it at once.
    fn priority_changed(&mut self, before: u8) {
        let now_prio = self.priority();
        if now_prio != before {
            self.push_event(Event::PriorityChanged {
                from: before,
                to: now_prio,
            });
            if self.state == State::Master {
                self.queue_advert(now_prio);
            }
        }
    }

    /// Reports a change of the advertised priority, without an advert.
    fn priority_changed_quiet(&mut self, before: u8) {
        let now_prio = self.priority();
        if now_prio != before {
            self.push_event(Event::PriorityChanged {
                from: before,
                to: now_prio,
            });
        }
    }

    pub(crate) fn reject(&mut self, command: Command, reason: RejectReason) {
        self.push_event(Event::CommandRejected { command, reason });
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= EVENT_QUEUE_CAP {
            self.counters.events_overflow += 1;
            if matches!(e, Event::Dropped { .. }) {
                return;
            }
            match self
                .events
                .iter()
                .position(|e| matches!(e, Event::Dropped { .. }))
            {
                Some(i) => {
                    self.events.remove(i);
                }
                None => {
                    self.events.pop_front();
                }
            }
        }
        self.events.push_back(e);
    }
}

/// Whether two address lists hold the same addresses (in any order; same count).
fn same_addresses(a: &VirtualAddrs, b: &VirtualAddrs) -> bool {
    match (a, b) {
        (VirtualAddrs::V4(a), VirtualAddrs::V4(b)) => {
            a.len() == b.len() && b.iter().all(|x| a.contains(x))
        }
        (VirtualAddrs::V6(a), VirtualAddrs::V6(b)) => {
            a.len() == b.len() && b.iter().all(|x| a.contains(x))
        }
        _ => false,
    }
}
