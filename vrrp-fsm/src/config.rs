//! The configuration of one virtual router: RFC 5798 / RFC 9568 parameters, and keepalived's
//! options where keepalived differs from the RFC (each named after its keepalived keyword).

use std::net::IpAddr;
use std::time::Duration;

use vrrp_proto::{AdvertRepr, Auth, AuthType, ChecksumMode, Family, IpPair, Version, VirtualAddrs};

/// keepalived's `state` keyword: the state an instance is configured to start in.
///
/// What keepalived 2.2.7 does with it (`vrrp_init_state()` and `vrrp_complete_instance()`), and
/// therefore what hakit does:
///
/// * The address owner (priority 255) goes Master at once when its state is `MASTER` or not
///   given. An owner configured `state BACKUP` starts in Backup with a full
///   Master_Down_Interval like everybody else (and, preempting everything, takes over when it
///   expires).
/// * A non-owner configured `state MASTER` does **not** start as Master: it starts in Backup with
///   a full Master_Down_Interval, exactly as `state BACKUP` does. keepalived only clears
///   `nopreempt` and `preempt_delay` for it (with a warning); hakit refuses those combinations
///   with a [`ConfigError`] instead, so the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitialState {
    /// `state BACKUP`.
    Backup,
    /// `state MASTER`.
    Master,
}

/// The configuration of one virtual router.
///
/// Build one with [`Config::new`] (keepalived's defaults, VRRPv3) and adjust the public fields;
/// [`VirtualRouter::new`](crate::VirtualRouter::new) validates it with [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Virtual Router Identifier, 1..=255 (keepalived `virtual_router_id`).
    pub vrid: u8,
    /// Protocol version (keepalived `version`; hakit defaults to VRRPv3).
    pub version: Version,
    /// Configured priority, 1..=255; 255 is the address owner (keepalived `priority`, default 100).
    pub priority: u8,
    /// This router's primary address: the IP source of its adverts, the address compared when
    /// priorities tie, and part of the checksum pseudo-header (keepalived `unicast_src_ip` /
    /// `mcast_src_ip`, else the interface's address). IPv6: link-local when multicast is used.
    pub src_addr: IpAddr,
    /// The virtual addresses (keepalived `virtual_ipaddress`), all of the source's family.
    pub vips: VirtualAddrs,
    /// Advertisement_Interval (keepalived `advert_int`, default 1 s). VRRPv3: 10 ms ..= 40.95 s
    /// in whole centiseconds; VRRPv2: 1 ..= 255 whole seconds.
    pub advert_interval: Duration,
    /// Preempt_Mode (default true; keepalived `nopreempt` sets it false).
    pub preempt: bool,
    /// keepalived `preempt_delay` (default 0, at most 1000 s): after the first lower-priority
    /// advert a Backup keeps accepting lower-priority adverts for this long before it preempts.
    pub preempt_delay: Duration,
    /// Accept_Mode: whether a non-owner Master accepts packets addressed to the virtual
    /// addresses. The state machine only reports it (in [`Event::VipsAdded`](crate::Event));
    /// filtering is the daemon's job. Default true, as keepalived without `vrrp_strict`
    /// (the RFC's default is false).
    pub accept_mode: bool,
    /// Unicast peers (keepalived `unicast_peer`): when not empty, adverts go to each peer
    /// instead of the multicast group, and adverts received on the group are dropped.
    pub unicast_peers: Vec<IpAddr>,
    /// keepalived `vrrp_check_unicast_src`: drop unicast adverts whose source is not a peer.
    pub check_unicast_src: bool,
    /// Checksum convention for VRRPv3 over IPv4 (default: with the pseudo-header, as keepalived
    /// and FRR; keepalived `v3_checksum_as_v2` selects [`ChecksumMode::VrrpOnly`], as RFC 9568).
    /// Either convention is accepted on receive.
    pub checksum: ChecksumMode,
    /// VRRPv2 authentication (keepalived `authentication { auth_type PASS }`); must be
    /// [`Auth::NONE`] for VRRPv3. Received adverts are checked with [`Auth::check`].
    pub auth: Auth,
    /// keepalived `state` (default: not given, i.e. derived from the priority). See
    /// [`InitialState`].
    pub initial_state: Option<InitialState>,
    /// keepalived `vrrp_startup_delay` (default 0): after start-up no Master_Down timer (not
    /// even the owner's immediate one) expires before this delay plus the timer's own value.
    /// Adverts are heard meanwhile.
    pub startup_delay: Duration,
    /// keepalived `down_timer_adverts` (1..=100, default 3): the multiplier in
    /// Master_Down_Interval = `down_timer_adverts` × Master_Adver_Interval + Skew_Time.
    pub down_timer_adverts: u8,
    /// keepalived `lower_prio_no_advert` (default false): when false a Master that hears a
    /// lower-priority advert sends an advert at once (RFC 9568); true restores RFC 5798.
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert` (default false): a Master that hears a
    /// higher-priority advert sends one more advert of its own before it becomes Backup.
    pub higher_prio_send_advert: bool,
    /// keepalived `skip_check_adv_addr` (default false): check the address list of an advert only
    /// when it comes from a different source than the current Master's previous one.
    pub skip_check_adv_addr: bool,
    /// keepalived `garp_master_delay` (default 5 s; zero disables): a second burst of
    /// gratuitous ARPs / unsolicited NAs this long after becoming Master.
    pub garp_master_delay: Duration,
    /// keepalived `garp_master_repeat` (default 5): messages per virtual address in each burst
    /// sent on becoming Master and after `garp_master_delay`.
    pub garp_master_repeat: u32,
    /// keepalived `garp_master_refresh` (default zero, off): repeat a burst at this interval
    /// while Master.
    pub garp_master_refresh: Duration,
    /// keepalived `garp_master_refresh_repeat` (default 1): messages per address in a refresh.
    pub garp_master_refresh_repeat: u32,
    /// The priority advertised while an operator's [`Command::Switchover`](crate::Command) is in
    /// force (default 254, the highest a non-owner may use; 1..=254).
    pub switchover_priority: u8,
}

impl Config {
    /// A configuration with keepalived's defaults and VRRPv3: priority 100, 1 s adverts,
    /// preempt on, checksum with the IPv4 pseudo-header, accept mode on, GARP bursts of 5 at
    /// once and 5 s later.
    pub fn new(vrid: u8, src_addr: IpAddr, vips: VirtualAddrs) -> Self {
        Self {
            vrid,
            version: Version::V3,
            priority: 100,
            src_addr,
            vips,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: true,
            unicast_peers: Vec::new(),
            check_unicast_src: false,
            checksum: ChecksumMode::PseudoHeader,
            auth: Auth::NONE,
            initial_state: None,
            startup_delay: Duration::ZERO,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            skip_check_adv_addr: false,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            switchover_priority: 254,
        }
    }

    /// The address family of this virtual router.
    pub fn family(&self) -> Family {
        Family::of(&self.src_addr)
    }

    /// Whether this router is the address owner (configured priority 255).
    pub fn is_owner(&self) -> bool {
        self.priority == 255
    }

    /// The Advertisement_Interval as it appears in the Max Adver Int field: centiseconds for
    /// VRRPv3, seconds for VRRPv2 (valid only after [`validate`](Self::validate)).
    pub fn interval_field(&self) -> u16 {
        match self.version {
            Version::V3 => vrrp_proto::duration_to_centis(self.advert_interval),
            Version::V2 => u16::try_from(self.advert_interval.as_secs()).unwrap_or(u16::MAX),
        }
    }

    /// The advert this router sends, at priority `priority`.
    pub(crate) fn advert(&self, priority: u8) -> AdvertRepr {
        AdvertRepr {
            version: self.version,
            vrid: self.vrid,
            priority,
            interval: self.interval_field(),
            addrs: self.vips.clone(),
            auth: self.auth,
            reserved: 0,
        }
    }

    /// The multicast group of this router's family.
    pub fn group(&self) -> IpAddr {
        match self.family() {
            Family::Ipv4 => IpAddr::V4(vrrp_proto::GROUP_V4),
            Family::Ipv6 => IpAddr::V6(vrrp_proto::GROUP_V6),
        }
    }

    /// Checks every rule the state machine relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::ZeroVrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::ZeroPriority);
        }
        let family = self.family();
        match self.src_addr {
            IpAddr::V4(a) if a.is_unspecified() || a.is_multicast() || a.is_broadcast() => {
                return Err(ConfigError::BadSourceAddress(self.src_addr));
            }
            IpAddr::V6(a) if a.is_unspecified() || a.is_multicast() => {
                return Err(ConfigError::BadSourceAddress(self.src_addr));
            }
            IpAddr::V6(a) if self.unicast_peers.is_empty() && !a.is_unicast_link_local() => {
                return Err(ConfigError::Ipv6SourceNotLinkLocal(a));
            }
            _ => {}
        }
        if self.vips.is_empty() {
            return Err(ConfigError::NoVirtualAddress);
        }
        if self.vips.len() > 255 {
            return Err(ConfigError::TooManyVirtualAddresses(self.vips.len()));
        }
        if self.vips.family() != family {
            return Err(ConfigError::FamilyMismatch("virtual address"));
        }
        if let Some(peer) = self
            .unicast_peers
            .iter()
            .find(|p| Family::of(p) != family || **p == self.src_addr)
        {
            return Err(if Family::of(peer) != family {
                ConfigError::FamilyMismatch("unicast peer")
            } else {
                ConfigError::PeerIsSelf(*peer)
            });
        }
        match self.version {
            Version::V2 => {
                if family == Family::Ipv6 {
                    return Err(ConfigError::V2OverIpv6);
                }
                let d = self.advert_interval;
                if d.subsec_nanos() != 0 || !(1..=255).contains(&d.as_secs()) {
                    return Err(ConfigError::IntervalOutOfRange {
                        version: self.version,
                        interval: d,
                    });
                }
                if self.auth.kind == AuthType::IpAh {
                    return Err(ConfigError::AuthUnsupported);
                }
            }
            Version::V3 => {
                let d = self.advert_interval;
                let ns = d.as_nanos();
                if !ns.is_multiple_of(10_000_000) || !(1..=4095).contains(&(ns / 10_000_000)) {
                    return Err(ConfigError::IntervalOutOfRange {
                        version: self.version,
                        interval: d,
                    });
                }
                if self.auth != Auth::NONE {
                    return Err(ConfigError::AuthWithV3);
                }
            }
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::DownTimerAdverts(self.down_timer_adverts));
        }
        if self.preempt_delay > Duration::from_secs(1000) {
            return Err(ConfigError::PreemptDelayTooLong(self.preempt_delay));
        }
        if !self.preempt && self.preempt_delay > Duration::ZERO {
            return Err(ConfigError::PreemptDelayWithNopreempt);
        }
        if self.is_owner() && !self.preempt {
            return Err(ConfigError::OwnerNopreempt);
        }
        if self.initial_state == Some(InitialState::Master) && !self.is_owner() {
            if !self.preempt {
                return Err(ConfigError::InitialMasterNopreempt);
            }
            if self.preempt_delay > Duration::ZERO {
                return Err(ConfigError::InitialMasterPreemptDelay);
            }
        }
        if !(1..=254).contains(&self.switchover_priority) {
            return Err(ConfigError::SwitchoverPriority(self.switchover_priority));
        }
        // The advert must emit for every destination: the state machine relies on it.
        let advert = self.advert(self.priority);
        let mut buf = vec![0; advert.buffer_len()];
        let dsts = std::iter::once(self.group()).chain(self.unicast_peers.iter().copied());
        for dst in dsts {
            let pair = IpPair {
                src: self.src_addr,
                dst,
            };
            advert
                .emit(&mut buf, &pair, self.checksum)
                .map_err(ConfigError::Emit)?;
        }
        Ok(())
    }
}

/// Why a [`Config`] is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `virtual_router_id` 0.
    #[error("virtual_router_id must be 1..=255, not 0")]
    ZeroVrid,
    /// `priority` 0 (reserved for a Master that releases).
    #[error("priority must be 1..=255, not 0 (0 means a Master is releasing)")]
    ZeroPriority,
    /// The source address cannot source VRRP.
    #[error("source address {0} cannot source VRRP adverts")]
    BadSourceAddress(IpAddr),
    /// IPv6 multicast adverts must come from a link-local address (RFC 5798 §5.1.2.1).
    #[error("IPv6 source address {0} must be link-local when adverts are multicast")]
    Ipv6SourceNotLinkLocal(std::net::Ipv6Addr),
    /// No virtual address.
    #[error("at least one virtual address is required")]
    NoVirtualAddress,
    /// More than 255 virtual addresses.
    #[error("{0} virtual addresses: at most 255 fit an advert")]
    TooManyVirtualAddresses(usize),
    /// An address is not of the source address's family.
    #[error("{0} address family differs from the source address's")]
    FamilyMismatch(&'static str),
    /// A unicast peer is this router's own source address.
    #[error("unicast peer {0} is this router's own source address")]
    PeerIsSelf(IpAddr),
    /// VRRPv2 is IPv4 only.
    #[error("VRRPv2 is defined for IPv4 only")]
    V2OverIpv6,
    /// The advert interval cannot be carried by the version.
    #[error(
        "advert_int {interval:?} is out of range for {version:?} (v3: 10 ms..=40.95 s in whole \
         centiseconds, v2: 1..=255 whole seconds)"
    )]
    IntervalOutOfRange {
        /// The configured version.
        version: Version,
        /// The configured interval.
        interval: Duration,
    },
    /// Authentication configured with VRRPv3 (which has none).
    #[error("VRRPv3 has no authentication")]
    AuthWithV3,
    /// IP AH authentication is not supported.
    #[error("IP AH authentication (auth_type AH) is not supported")]
    AuthUnsupported,
    /// `down_timer_adverts` outside 1..=100.
    #[error("down_timer_adverts must be 1..=100, not {0}")]
    DownTimerAdverts(u8),
    /// `preempt_delay` above keepalived's 1000 s.
    #[error("preempt_delay {0:?} exceeds 1000 s")]
    PreemptDelayTooLong(Duration),
    /// `preempt_delay` with `nopreempt`.
    #[error("preempt_delay has no effect with nopreempt")]
    PreemptDelayWithNopreempt,
    /// `nopreempt` on the address owner.
    #[error("nopreempt is incompatible with priority 255 (address owner)")]
    OwnerNopreempt,
    /// `state MASTER` with `nopreempt` (keepalived clears nopreempt with a warning).
    #[error("nopreempt does not work with initial state MASTER")]
    InitialMasterNopreempt,
    /// `state MASTER` with `preempt_delay` (keepalived clears the delay with a warning).
    #[error("preempt_delay does not work with initial state MASTER")]
    InitialMasterPreemptDelay,
    /// The switchover priority is not a non-owner priority.
    #[error("switchover priority must be 1..=254, not {0}")]
    SwitchoverPriority(u8),
    /// The advert cannot be emitted (should be caught by the rules above).
    #[error("advert cannot be emitted: {0}")]
    Emit(vrrp_proto::EmitError),
}
