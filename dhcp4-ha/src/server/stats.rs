//! Kea's DHCPv4 statistics: the same names, the same semantics, global and per subnet
//! (`subnet[ID].name`).
//!
//! The server keeps integer values and the unix time of their last change; the control layer
//! turns them into Kea's `statistic-get` answers (`[[value, "timestamp"]]`).

/// A statistic Kea keeps once for the whole server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GlobalStat {
    /// `pkt4-received`: every packet handed to the server.
    Pkt4Received,
    /// `pkt4-discover-received`.
    Pkt4DiscoverReceived,
    /// `pkt4-offer-received`.
    Pkt4OfferReceived,
    /// `pkt4-request-received`.
    Pkt4RequestReceived,
    /// `pkt4-ack-received`.
    Pkt4AckReceived,
    /// `pkt4-nak-received`.
    Pkt4NakReceived,
    /// `pkt4-release-received`.
    Pkt4ReleaseReceived,
    /// `pkt4-decline-received`.
    Pkt4DeclineReceived,
    /// `pkt4-inform-received`.
    Pkt4InformReceived,
    /// `pkt4-unknown-received`: no or another message type.
    Pkt4UnknownReceived,
    /// `pkt4-sent`: replies released for sending.
    Pkt4Sent,
    /// `pkt4-offer-sent`.
    Pkt4OfferSent,
    /// `pkt4-ack-sent`.
    Pkt4AckSent,
    /// `pkt4-nak-sent`.
    Pkt4NakSent,
    /// `pkt4-parse-failed`: undecodable packets.
    Pkt4ParseFailed,
    /// `pkt4-receive-drop`: packets dropped before processing (parse failure, wrong type,
    /// server identifier of another server, no client identity, ...).
    Pkt4ReceiveDrop,
    /// `declined-addresses`: addresses in probation after a DHCPDECLINE.
    DeclinedAddresses,
    /// `reclaimed-declined-addresses`: declined addresses whose probation ended.
    ReclaimedDeclinedAddresses,
    /// `reclaimed-leases`: expired leases reclaimed.
    ReclaimedLeases,
    /// `cumulative-assigned-addresses`: new leases granted since start.
    CumulativeAssignedAddresses,
    /// `v4-allocation-fail`: no address could be allocated.
    V4AllocationFail,
    /// `v4-allocation-fail-subnet`: ... in a subnet outside any shared network.
    V4AllocationFailSubnet,
    /// `v4-allocation-fail-shared-network` (always 0: no shared networks).
    V4AllocationFailSharedNetwork,
    /// `v4-allocation-fail-no-pools`: ... because the subnet has no pool.
    V4AllocationFailNoPools,
    /// `v4-allocation-fail-classes` (always 0: no client classes).
    V4AllocationFailClasses,
}

impl GlobalStat {
    /// Every global statistic, in Kea's alphabetical listing order.
    pub const ALL: [Self; 25] = [
        Self::CumulativeAssignedAddresses,
        Self::DeclinedAddresses,
        Self::Pkt4AckReceived,
        Self::Pkt4AckSent,
        Self::Pkt4DeclineReceived,
        Self::Pkt4DiscoverReceived,
        Self::Pkt4InformReceived,
        Self::Pkt4NakReceived,
        Self::Pkt4NakSent,
        Self::Pkt4OfferReceived,
        Self::Pkt4OfferSent,
        Self::Pkt4ParseFailed,
        Self::Pkt4ReceiveDrop,
        Self::Pkt4Received,
        Self::Pkt4ReleaseReceived,
        Self::Pkt4RequestReceived,
        Self::Pkt4Sent,
        Self::Pkt4UnknownReceived,
        Self::ReclaimedDeclinedAddresses,
        Self::ReclaimedLeases,
        Self::V4AllocationFail,
        Self::V4AllocationFailClasses,
        Self::V4AllocationFailNoPools,
        Self::V4AllocationFailSharedNetwork,
        Self::V4AllocationFailSubnet,
    ];

    /// Kea's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pkt4Received => "pkt4-received",
            Self::Pkt4DiscoverReceived => "pkt4-discover-received",
            Self::Pkt4OfferReceived => "pkt4-offer-received",
            Self::Pkt4RequestReceived => "pkt4-request-received",
            Self::Pkt4AckReceived => "pkt4-ack-received",
            Self::Pkt4NakReceived => "pkt4-nak-received",
            Self::Pkt4ReleaseReceived => "pkt4-release-received",
            Self::Pkt4DeclineReceived => "pkt4-decline-received",
            Self::Pkt4InformReceived => "pkt4-inform-received",
            Self::Pkt4UnknownReceived => "pkt4-unknown-received",
            Self::Pkt4Sent => "pkt4-sent",
            Self::Pkt4OfferSent => "pkt4-offer-sent",
            Self::Pkt4AckSent => "pkt4-ack-sent",
            Self::Pkt4NakSent => "pkt4-nak-sent",
            Self::Pkt4ParseFailed => "pkt4-parse-failed",
            Self::Pkt4ReceiveDrop => "pkt4-receive-drop",
            Self::DeclinedAddresses => "declined-addresses",
            Self::ReclaimedDeclinedAddresses => "reclaimed-declined-addresses",
            Self::ReclaimedLeases => "reclaimed-leases",
            Self::CumulativeAssignedAddresses => "cumulative-assigned-addresses",
            Self::V4AllocationFail => "v4-allocation-fail",
            Self::V4AllocationFailSubnet => "v4-allocation-fail-subnet",
            Self::V4AllocationFailSharedNetwork => "v4-allocation-fail-shared-network",
            Self::V4AllocationFailNoPools => "v4-allocation-fail-no-pools",
            Self::V4AllocationFailClasses => "v4-allocation-fail-classes",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A statistic Kea keeps per subnet, as `subnet[ID].name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubnetStat {
    /// `total-addresses`: addresses in the subnet's pools.
    TotalAddresses,
    /// `assigned-addresses`: leases in the default or declined state (Kea lowers it for a
    /// declined lease only when the lease is reclaimed).
    AssignedAddresses,
    /// `cumulative-assigned-addresses`: new leases granted since start.
    CumulativeAssignedAddresses,
    /// `declined-addresses`: leases in the declined state.
    DeclinedAddresses,
    /// `reclaimed-declined-addresses`.
    ReclaimedDeclinedAddresses,
    /// `reclaimed-leases`.
    ReclaimedLeases,
    /// `v4-allocation-fail`.
    V4AllocationFail,
    /// `v4-allocation-fail-subnet`.
    V4AllocationFailSubnet,
    /// `v4-allocation-fail-shared-network` (always 0).
    V4AllocationFailSharedNetwork,
    /// `v4-allocation-fail-no-pools`.
    V4AllocationFailNoPools,
    /// `v4-allocation-fail-classes` (always 0).
    V4AllocationFailClasses,
}

impl SubnetStat {
    /// Every per-subnet statistic, in Kea's alphabetical listing order.
    pub const ALL: [Self; 11] = [
        Self::AssignedAddresses,
        Self::CumulativeAssignedAddresses,
        Self::DeclinedAddresses,
        Self::ReclaimedDeclinedAddresses,
        Self::ReclaimedLeases,
        Self::TotalAddresses,
        Self::V4AllocationFail,
        Self::V4AllocationFailClasses,
        Self::V4AllocationFailNoPools,
        Self::V4AllocationFailSharedNetwork,
        Self::V4AllocationFailSubnet,
    ];

    /// Kea's name (without the `subnet[ID].` prefix).
    pub const fn name(self) -> &'static str {
        match self {
            Self::TotalAddresses => "total-addresses",
            Self::AssignedAddresses => "assigned-addresses",
            Self::CumulativeAssignedAddresses => "cumulative-assigned-addresses",
            Self::DeclinedAddresses => "declined-addresses",
            Self::ReclaimedDeclinedAddresses => "reclaimed-declined-addresses",
            Self::ReclaimedLeases => "reclaimed-leases",
            Self::V4AllocationFail => "v4-allocation-fail",
            Self::V4AllocationFailSubnet => "v4-allocation-fail-subnet",
            Self::V4AllocationFailSharedNetwork => "v4-allocation-fail-shared-network",
            Self::V4AllocationFailNoPools => "v4-allocation-fail-no-pools",
            Self::V4AllocationFailClasses => "v4-allocation-fail-classes",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One value and the unix time (s) of its last change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatValue {
    /// The value.
    pub value: i64,
    /// When it last changed (unix seconds; the server's start time if never).
    pub changed: u64,
}

/// One named statistic, as `statistic-get-all` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatEntry {
    /// Kea's full name (`pkt4-received`, `subnet[1].assigned-addresses`).
    pub name: String,
    /// The value and its last change.
    pub value: StatValue,
}

/// The server's statistics.
#[derive(Debug, Clone)]
pub struct Statistics {
    global: [StatValue; 25],
    /// Per subnet, in configuration order: (subnet id, values).
    subnets: Vec<(u32, [StatValue; 11])>,
}

impl Statistics {
    pub(crate) fn new(subnet_ids: impl IntoIterator<Item = u32>, unix: u64) -> Self {
        let zero = StatValue {
            value: 0,
            changed: unix,
        };
        Self {
            global: [zero; 25],
            subnets: subnet_ids.into_iter().map(|id| (id, [zero; 11])).collect(),
        }
    }

    /// A global statistic.
    pub fn global(&self, s: GlobalStat) -> i64 {
        self.global[s.index()].value
    }

    /// A statistic of subnet `id`, if configured.
    pub fn subnet(&self, id: u32, s: SubnetStat) -> Option<i64> {
        self.subnets
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v[s.index()].value)
    }

    pub(crate) fn add(&mut self, s: GlobalStat, delta: i64, unix: u64) {
        let v = &mut self.global[s.index()];
        v.value += delta;
        v.changed = unix;
    }

    pub(crate) fn add_subnet(&mut self, idx: usize, s: SubnetStat, delta: i64, unix: u64) {
        if let Some((_, vals)) = self.subnets.get_mut(idx) {
            let v = &mut vals[s.index()];
            v.value += delta;
            v.changed = unix;
        }
    }

    pub(crate) fn set_subnet(&mut self, idx: usize, s: SubnetStat, value: i64, unix: u64) {
        if let Some((_, vals)) = self.subnets.get_mut(idx) {
            vals[s.index()] = StatValue {
                value,
                changed: unix,
            };
        }
    }

    /// Every statistic with its full name: the global ones, then each subnet's.
    pub fn iter(&self) -> impl Iterator<Item = StatEntry> + '_ {
        let global = GlobalStat::ALL.iter().map(|s| StatEntry {
            name: s.name().to_owned(),
            value: self.global[s.index()],
        });
        let subnets = self.subnets.iter().flat_map(|(id, vals)| {
            SubnetStat::ALL.iter().map(move |s| StatEntry {
                name: format!("subnet[{id}].{}", s.name()),
                value: vals[s.index()],
            })
        });
        global.chain(subnets)
    }

    /// The statistic named `name` (Kea's full name).
    pub fn get(&self, name: &str) -> Option<StatValue> {
        if let Some(rest) = name.strip_prefix("subnet[") {
            let (id, stat) = rest.split_once("].")?;
            let id: u32 = id.parse().ok()?;
            let s = SubnetStat::ALL.iter().find(|s| s.name() == stat)?;
            let (_, vals) = self.subnets.iter().find(|(i, _)| *i == id)?;
            return Some(vals[s.index()]);
        }
        let s = GlobalStat::ALL.iter().find(|s| s.name() == name)?;
        Some(self.global[s.index()])
    }
}
