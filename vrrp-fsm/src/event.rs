//! What goes in and out of a [`VirtualRouter`](crate::VirtualRouter) besides adverts: commands,
//! receive metadata, transmits, events and counters.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use vrrp_proto::{AuthCheck, ChecksumMode, Received, Version, VirtualAddrs};

/// The state of a virtual router (RFC 5798 §6.4, plus keepalived's FAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running: before start-up, after [`Command::Shutdown`].
    Initialize,
    /// Listening to the Master, ready to take over.
    Backup,
    /// Forwarding for the virtual addresses and advertising.
    Master,
    /// A tracked object (interface, script) is down: neither listening nor advertising
    /// (keepalived's FAULT state).
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initialize => "Initialize",
            Self::Backup => "Backup",
            Self::Master => "Master",
            Self::Fault => "Fault",
        })
    }
}

/// Another VRRP router, as its adverts describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Its primary address (the IP source of its adverts).
    pub addr: IpAddr,
    /// The priority it advertised.
    pub priority: u8,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} prio {}", self.addr, self.priority)
    }
}

/// Why a state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Start-up: Initialize → Backup (RFC 5798 §6.4.1), or Initialize → Fault when a fault is
    /// already set.
    Startup,
    /// The address owner (priority 255) started: Initialize → Master at once.
    OwnerStartup,
    /// The Master_Down timer expired: no usable advert for Master_Down_Interval. The peer is
    /// the last Master heard, if any.
    MasterDown,
    /// The Master released with a priority-0 advert and the Skew_Time timer expired. The peer
    /// is the releasing Master.
    PriorityZero,
    /// Preemption: adverts of a lower-priority Master were discarded until the Master_Down
    /// timer expired. The peer is that Master.
    Preempt,
    /// A Master heard a higher-priority advert. The peer is the new Master.
    HigherPriority,
    /// A Master heard an advert of equal priority from a higher primary address. The peer is
    /// the new Master.
    HigherAddress,
    /// [`Command::Switchover`]: this router was asked to become Master. The peer is the Master
    /// it displaces, if known.
    Switchover,
    /// [`Command::StepDown`]: this Master handed over with a priority-0 advert.
    StepDown,
    /// [`Command::FaultOn`].
    Fault,
    /// [`Command::FaultOff`].
    FaultCleared,
    /// [`Command::Shutdown`].
    Shutdown,
    /// A [`SyncGroup`](crate::SyncGroup) moved this member along with member `leader`.
    SyncGroup {
        /// Index of the member whose own transition the group followed.
        leader: usize,
    },
}

impl Reason {
    /// What the peer of a [`Event::StateChanged`] with this reason is, in words.
    fn peer_role(self) -> &'static str {
        match self {
            Self::MasterDown | Self::PriorityZero | Self::SyncGroup { .. } => "last master",
            Self::Preempt => "preempted master",
            Self::HigherPriority | Self::HigherAddress => "new master",
            Self::Switchover => "displaced master",
            _ => "peer",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Startup => f.write_str("start-up"),
            Self::OwnerStartup => f.write_str("address owner start-up"),
            Self::MasterDown => f.write_str("master down timer expired"),
            Self::PriorityZero => f.write_str("master released with priority 0"),
            Self::Preempt => f.write_str("preempting a lower-priority master"),
            Self::HigherPriority => f.write_str("higher priority advert"),
            Self::HigherAddress => f.write_str("equal priority advert from a higher address"),
            Self::Switchover => f.write_str("operator switchover"),
            Self::StepDown => f.write_str("operator step-down"),
            Self::Fault => f.write_str("fault"),
            Self::FaultCleared => f.write_str("fault cleared"),
            Self::Shutdown => f.write_str("shutdown"),
            Self::SyncGroup { leader } => write!(f, "sync group follows member {leader}"),
        }
    }
}

/// Why a received advert was dropped. Each reason also increments a [`Counters`] field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The VRID is not ours (`vrid_errors`).
    VridMismatch {
        /// The VRID received.
        vrid: u8,
    },
    /// The VRRP version is not ours (`version_errors`).
    VersionMismatch {
        /// The version received.
        version: Version,
    },
    /// The IP family or the address list's family is not ours (`address_list_errors`).
    FamilyMismatch,
    /// Multicast advert with a TTL / Hop Limit other than 255 (`ttl_errors`). Unicast adverts
    /// are not checked here, as keepalived.
    Ttl {
        /// The TTL / Hop Limit received.
        ttl: u8,
    },
    /// Multicast advert while unicast peers are configured, or unicast without
    /// (`destination_errors`).
    UnexpectedDestination {
        /// The destination received.
        dst: IpAddr,
    },
    /// `check_unicast_src`: the source is not a configured peer (`unknown_source_errors`).
    UnknownSource,
    /// The advert carries our own primary address as its source: a looped-back advert or an
    /// address conflict (`own_address_errors`).
    OwnAddress,
    /// VRRPv2 authentication does not match (`auth_errors`).
    Auth(AuthCheck),
    /// VRRPv2 advert interval differs from ours; RFC 3768 §7.1 says drop (`interval_errors`).
    IntervalMismatch {
        /// The interval received.
        received: Duration,
        /// Ours.
        expected: Duration,
    },
    /// The virtual addresses differ from ours (`address_list_errors`). RFC 5798 says "MAY
    /// verify, SHOULD log"; hakit drops the advert as keepalived does, whatever its priority.
    AddressList {
        /// Number of addresses received.
        received: usize,
        /// Number configured.
        expected: usize,
    },
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VridMismatch { vrid } => write!(f, "VRID {vrid} is not ours"),
            Self::VersionMismatch { version } => {
                write!(f, "version {} is not ours", version.number())
            }
            Self::FamilyMismatch => f.write_str("address family is not ours"),
            Self::Ttl { ttl } => write!(f, "TTL {ttl} is not 255"),
            Self::UnexpectedDestination { dst } => write!(f, "unexpected destination {dst}"),
            Self::UnknownSource => f.write_str("source is not a unicast peer"),
            Self::OwnAddress => f.write_str("source is our own primary address"),
            Self::Auth(c) => write!(f, "authentication failure ({c:?})"),
            Self::IntervalMismatch { received, expected } => {
                write!(
                    f,
                    "advert interval {received:?} differs from ours ({expected:?})"
                )
            }
            Self::AddressList { received, expected } => write!(
                f,
                "virtual address list differs from ours ({received} received, {expected} configured)"
            ),
        }
    }
}

/// What made the state machine ask for gratuitous ARPs / unsolicited NAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnounceTrigger {
    /// The burst sent on becoming Master.
    BecameMaster,
    /// The second burst, `garp_master_delay` after becoming Master.
    MasterDelay,
    /// The periodic `garp_master_refresh`.
    Refresh,
}

/// Something the daemon acts on or logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The state changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
        /// The other router involved, when there is one (see [`Reason`]).
        peer: Option<Peer>,
    },
    /// Install the virtual addresses (becoming Master).
    VipsAdded {
        /// The addresses.
        vips: VirtualAddrs,
        /// Accept_Mode: whether the daemon lets packets addressed to them in (a non-owner with
        /// accept mode off must drop them, e.g. with nftables as keepalived does). Always true
        /// for the address owner.
        accept_mode: bool,
    },
    /// Remove the virtual addresses (leaving Master).
    VipsRemoved {
        /// The addresses.
        vips: VirtualAddrs,
    },
    /// Send `repeat` gratuitous ARPs per IPv4 virtual address, or unsolicited Neighbor
    /// Advertisements (router and override flags set) per IPv6 virtual address.
    Announce {
        /// The addresses to announce.
        vips: VirtualAddrs,
        /// Messages per address.
        repeat: u32,
        /// Which burst this is.
        trigger: AnnounceTrigger,
    },
    /// The priority this router advertises changed.
    PriorityChanged {
        /// Previous value.
        from: u8,
        /// New value.
        to: u8,
    },
    /// A Backup accepted adverts from a Master it had not heard before (or heard again after
    /// a change).
    MasterLearned {
        /// The Master.
        master: Peer,
    },
    /// An advert was dropped (also counted in [`Counters`]).
    Dropped {
        /// Its IP source.
        from: IpAddr,
        /// Why.
        reason: DropReason,
    },
    /// A command could not be carried out.
    CommandRejected {
        /// The command.
        command: Command,
        /// Why.
        reason: RejectReason,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StateChanged {
                from,
                to,
                reason,
                peer,
            } => {
                write!(f, "{from} -> {to}  ({reason}")?;
                if let Some(p) = peer {
                    write!(f, "; {} {p}", reason.peer_role())?;
                }
                f.write_str(")")
            }
            Self::VipsAdded { vips, accept_mode } => {
                write!(f, "add {} virtual address(es)", vips.len())?;
                if !accept_mode {
                    f.write_str(" (accept mode off)")?;
                }
                Ok(())
            }
            Self::VipsRemoved { vips } => write!(f, "remove {} virtual address(es)", vips.len()),
            Self::Announce {
                vips,
                repeat,
                trigger,
            } => {
                let what = match vips {
                    VirtualAddrs::V4(_) => "gratuitous ARP",
                    VirtualAddrs::V6(_) => "unsolicited NA",
                };
                write!(
                    f,
                    "{what} x{repeat} for {} address(es) ({trigger:?})",
                    vips.len()
                )
            }
            Self::PriorityChanged { from, to } => write!(f, "priority {from} -> {to}"),
            Self::MasterLearned { master } => write!(f, "master is {master}"),
            Self::Dropped { from, reason } => write!(f, "dropped advert from {from}: {reason}"),
            Self::CommandRejected { command, reason } => {
                write!(f, "command {command:?} rejected: {reason}")
            }
        }
    }
}

/// Why a [`Command`] was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The router is in Initialize or Fault.
    NotRunning,
    /// Switchover: the Master's priority beats even the switchover priority (it is the address
    /// owner, or has the same priority and a higher address).
    MasterOutranks(Peer),
    /// Start: the router is already running (not in Initialize).
    AlreadyRunning,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRunning => f.write_str("not running (Initialize or Fault)"),
            Self::MasterOutranks(p) => write!(f, "master {p} outranks the switchover priority"),
            Self::AlreadyRunning => f.write_str("already running"),
        }
    }
}

/// An operator's or a tracker's request.
///
/// The manual switchover semantics (what holds against a preempting higher-priority peer):
///
/// * [`Switchover`](Self::Switchover): "make this router Master now". It advertises
///   `max(priority, switchover_priority)` (254 by default) from now on, and a Backup becomes
///   Master at once (advert, virtual addresses, gratuitous ARPs). The old Master hears a higher
///   priority and becomes Backup; a preempting peer sees a priority at least its own and does
///   not preempt. The elevated priority stays until [`ResumeElection`](Self::ResumeElection),
///   [`StepDown`](Self::StepDown), a fault or a shutdown. Rejected when the known Master
///   outranks the switchover priority (it is the owner, or ties with a higher address).
/// * [`StepDown`](Self::StepDown): "this Master hands over and does not take back". The Master
///   sends a priority-0 advert (the Backups take over at their Skew_Time, the best one first),
///   removes its addresses, becomes Backup, and stops preempting: it accepts adverts from any
///   Master, even one of lower priority. It still takes over when the new Master is lost (its
///   Master_Down timer expires), which ends the step-down, as do
///   [`ResumeElection`](Self::ResumeElection) and [`Switchover`](Self::Switchover). On a Backup
///   it only stops preemption.
/// * [`ResumeElection`](Self::ResumeElection) returns to the configured behaviour: the
///   configured (or tracked) priority and the configured preemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Set the priority from tracking (keepalived's weights): clamped to 1..=254, or 1..=255
    /// for the configured owner. A Master advertises the new value at once.
    SetPriority(u8),
    /// A tracked object went down (keepalived's FAULT): a Master sends a priority-0 advert and
    /// removes its addresses; the router stops listening until [`FaultOff`](Self::FaultOff).
    FaultOn,
    /// The tracked objects are up again: Fault → Backup with a full Master_Down_Interval (the
    /// owner goes Master at once).
    FaultOff,
    /// Graceful stop: a Master sends a priority-0 advert and removes its addresses; the router
    /// goes to Initialize.
    Shutdown,
    /// Start again after [`Shutdown`](Self::Shutdown), as at creation.
    Start,
    /// Become Master now and hold it (see above).
    Switchover,
    /// Hand over and do not take back (see above).
    StepDown,
    /// Cancel [`Switchover`](Self::Switchover) and [`StepDown`](Self::StepDown).
    ResumeElection,
}

/// The IP-layer facts about a received advert that the state machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxMeta {
    /// IP source: the sender's primary address.
    pub src: IpAddr,
    /// IP destination: the group or our own unicast address.
    pub dst: IpAddr,
    /// TTL / Hop Limit.
    pub ttl: u8,
    /// The checksum convention that matched (VRRPv3 over IPv4 only differs).
    pub checksum: ChecksumMode,
}

impl From<&Received> for RxMeta {
    fn from(rx: &Received) -> Self {
        Self {
            src: rx.ip.src,
            dst: rx.ip.dst,
            ttl: rx.ip.ttl,
            checksum: rx.checksum,
        }
    }
}

/// One packet to send: the VRRP message is in the buffer given to `poll_transmit`, `len` bytes.
/// Send it as IP protocol 112 with TTL / Hop Limit 255 (and, as keepalived and FRR, DSCP CS6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// IP destination: the multicast group or a unicast peer.
    pub dst: IpAddr,
    /// IP source: the configured primary address (it is in the checksum's pseudo-header).
    pub src: IpAddr,
    /// Length of the VRRP message written to the buffer.
    pub len: usize,
    /// The priority advertised (0 when releasing).
    pub priority: u8,
}

/// Statistics in the spirit of the VRRP MIB (RFC 6527 `vrrpv3StatisticsTable`, plus the
/// global checksum / version / VRID error counters, and keepalived's `stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Counters {
    /// Valid adverts received and processed (`vrrpv3StatisticsRcvdAdvertisements`).
    pub adverts_rx: u64,
    /// Advert packets emitted (one per destination).
    pub adverts_tx: u64,
    /// Transitions to Master (`vrrpv3StatisticsMasterTransitions`).
    pub became_master: u64,
    /// Transitions out of Master.
    pub released_master: u64,
    /// Priority-0 adverts received (`vrrpv3StatisticsRcvdPriZeroPackets`).
    pub priority_zero_rx: u64,
    /// Priority-0 advert packets emitted (`vrrpv3StatisticsSentPriZeroPackets`).
    pub priority_zero_tx: u64,
    /// Bad checksums reported with [`record_malformed`](crate::VirtualRouter::record_malformed)
    /// (`vrrpv3GlobalStatisticsChecksumErrors`).
    pub checksum_errors: u64,
    /// Unknown or wrong versions (`vrrpv3GlobalStatisticsVersionErrors`).
    pub version_errors: u64,
    /// Adverts for another VRID, or with VRID 0 (`vrrpv3GlobalStatisticsVrIdErrors`).
    pub vrid_errors: u64,
    /// Packet types other than advertisement (`vrrpv3StatisticsRcvdInvalidTypePackets`).
    pub invalid_type_rx: u64,
    /// Truncated or length-inconsistent packets (`vrrpv3StatisticsPacketLengthErrors`).
    pub packet_length_errors: u64,
    /// TTL / Hop Limit errors (`vrrpv3StatisticsIpTtlErrors`).
    pub ttl_errors: u64,
    /// Interval errors: VRRPv2 interval mismatch, zero interval
    /// (`vrrpv3StatisticsAdvIntervalErrors`).
    pub interval_errors: u64,
    /// Address list or family mismatches (`vrrpv3StatisticsAddressListErrors`).
    pub address_list_errors: u64,
    /// VRRPv2 authentication failures (RFC 2787 `vrrpStatsAuthFailures`).
    pub auth_errors: u64,
    /// Multicast received while unicast is configured, or the reverse.
    pub destination_errors: u64,
    /// Unicast adverts from a source that is not a peer (`check_unicast_src`).
    pub unknown_source_errors: u64,
    /// Adverts carrying our own primary address as source.
    pub own_address_errors: u64,
    /// Other IP-layer errors reported with `record_malformed`.
    pub ip_errors: u64,
    /// Valid VRRPv3-over-IPv4 adverts whose checksum convention differs from the one we send
    /// (interop diagnostic, not an error: both are accepted).
    pub checksum_convention_mismatch: u64,
    /// Events discarded because the event queue was full (see
    /// [`VirtualRouter::poll_event`](crate::VirtualRouter::poll_event)).
    pub events_overflow: u64,
}
