//! The HA states of Kea 2.2 (`ha_service_states.cc`) and the pausing setting of a state.

use core::fmt;

/// An HA state, as Kea names it on the wire (`ha-heartbeat` answers, `status-get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HaState {
    /// `backup`: a backup server; receives lease updates, serves nothing.
    Backup,
    /// `communication-recovery`: load balancing while the partner is unreachable, lease
    /// updates queued (`delayed-updates-limit` > 0).
    CommunicationRecovery,
    /// `hot-standby`: normal state of the hot-standby mode.
    HotStandby,
    /// `load-balancing`: normal state of the load-balancing mode.
    LoadBalancing,
    /// `in-maintenance`: the partner took over; this server may be shut down.
    InMaintenance,
    /// `partner-down`: the partner is down; this server serves every scope.
    PartnerDown,
    /// `partner-in-maintenance`: the partner is in maintenance; this server serves every scope.
    PartnerInMaintenance,
    /// `passive-backup`: the primary of the passive-backup mode.
    PassiveBackup,
    /// `ready`: synchronised, waiting for the partner to go to its normal state.
    Ready,
    /// `syncing`: fetching the partner's leases.
    Syncing,
    /// `terminated`: stopped (clock skew); serves its own scope, sends nothing.
    Terminated,
    /// `waiting`: start-up, waiting for the partner.
    Waiting,
    /// `unavailable`: the partner's state when it does not answer.
    Unavailable,
}

impl HaState {
    /// Every state.
    pub const ALL: [Self; 13] = [
        Self::Backup,
        Self::CommunicationRecovery,
        Self::HotStandby,
        Self::LoadBalancing,
        Self::InMaintenance,
        Self::PartnerDown,
        Self::PartnerInMaintenance,
        Self::PassiveBackup,
        Self::Ready,
        Self::Syncing,
        Self::Terminated,
        Self::Waiting,
        Self::Unavailable,
    ];

    /// Kea's name (`hot-standby`, `partner-down`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::CommunicationRecovery => "communication-recovery",
            Self::HotStandby => "hot-standby",
            Self::LoadBalancing => "load-balancing",
            Self::InMaintenance => "in-maintenance",
            Self::PartnerDown => "partner-down",
            Self::PartnerInMaintenance => "partner-in-maintenance",
            Self::PassiveBackup => "passive-backup",
            Self::Ready => "ready",
            Self::Syncing => "syncing",
            Self::Terminated => "terminated",
            Self::Waiting => "waiting",
            Self::Unavailable => "unavailable",
        }
    }

    /// The state of a name (Kea's `stringToState`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether DHCP service is on in this state (Kea's `adjustNetworkState`).
    pub const fn dhcp_enabled(self) -> bool {
        matches!(
            self,
            Self::CommunicationRecovery
                | Self::LoadBalancing
                | Self::HotStandby
                | Self::PartnerDown
                | Self::PartnerInMaintenance
                | Self::PassiveBackup
                | Self::Terminated
        )
    }

    /// The name in upper case, as Kea's transition logs write it (`HOT-STANDBY`).
    pub fn upper(self) -> UpperName {
        UpperName(self)
    }
}

impl fmt::Display for HaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A state name in upper case (see [`HaState::upper`]).
#[derive(Debug, Clone, Copy)]
pub struct UpperName(HaState);

impl fmt::Display for UpperName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.name().chars() {
            fmt::Write::write_char(f, c.to_ascii_uppercase())?;
        }
        Ok(())
    }
}

/// Whether the state machine pauses on entering a state (`state-machine.states[].pause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pausing {
    /// `never` (the default).
    #[default]
    Never,
    /// `always`: pause each time the state is entered.
    Always,
    /// `once`: pause the first time only.
    Once,
}

impl Pausing {
    /// Kea's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Always => "always",
            Self::Once => "once",
        }
    }

    /// The setting of a name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "never" => Some(Self::Never),
            "always" => Some(Self::Always),
            "once" => Some(Self::Once),
            _ => None,
        }
    }
}
