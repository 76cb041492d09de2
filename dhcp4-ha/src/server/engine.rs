//! The server engine: DHCPv4 queries in, replies and lease changes out (Kea 2.2's behaviour).

use std::collections::{BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::error::{ConfigError, LeaseOpError};
use super::event::{ChangeKind, LeaseChange, Origin, RxMeta, Transmit};
use super::hold::{Gate, Gates, HoldQueue};
use super::stats::{GlobalStat, Statistics, SubnetStat};
use super::subnet::{Opt, SubnetState, Subnets, merge};
use crate::config::Dhcp4;
use crate::lease::{Lease4, LeaseState, LeaseStore, MemoryStore};
use crate::wire::{Dhcp4Repr, FLAG_BROADCAST, MessageType, code};

/// UDP port of DHCP servers and relays.
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients.
pub const CLIENT_PORT: u16 = 68;
/// Kea's default `decline-probation-period` (s).
pub const DEFAULT_DECLINE_PROBATION_PERIOD: u32 = 86_400;
/// Kea's default `reclaim-timer-wait-time` (s).
pub const DEFAULT_RECLAIM_TIMER_WAIT_TIME: u32 = 10;
/// Kea's default `max-reclaim-leases`.
pub const DEFAULT_MAX_RECLAIM_LEASES: u32 = 100;

/// How many expired leases the allocator looks at for one to reuse when the pools are full.
const REUSE_SCAN: usize = 64;

/// Options sent whenever configured, requested or not (Kea's `appendBasicOptions`): routers,
/// domain name servers, domain name.
const BASIC: [u8; 3] = [code::ROUTERS, code::DOMAIN_NAME_SERVERS, code::DOMAIN_NAME];

/// How the server runs, beyond the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// Hold each reply that depends on a lease change until the daemon reports the change
    /// durable ([`Server::leases_persisted`]). `false`: replies leave at once (Kea's
    /// `persist: false`, or a daemon that writes synchronously before polling).
    pub persist: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { persist: true }
    }
}

/// Who a query comes from, as the lease matching sees it.
#[derive(Debug, Clone, Copy)]
struct Client<'a> {
    hw: &'a [u8],
    /// The client identifier used to match leases (none when `match-client-id` is false).
    cid: Option<&'a [u8]>,
    /// The client identifier as sent (reservations, DECLINE and RELEASE checks).
    raw_cid: Option<&'a [u8]>,
}

fn belongs_to(l: &Lease4, hw: &[u8], cid: Option<&[u8]>) -> bool {
    match (cid, l.client_id.is_empty()) {
        (Some(c), false) => c == &l.client_id[..],
        _ => !l.hwaddr.is_empty() && l.hwaddr == hw,
    }
}

/// Why a REQUEST gets no ACK.
enum Refusal {
    /// DHCPNAK.
    Nak,
    /// No answer at all.
    Ignore,
}

/// A granted lease and the change that wrote it.
struct Granted {
    addr: Ipv4Addr,
    valid: u32,
    seq: u64,
    host: Option<usize>,
}

/// A Kea 2.2-compatible DHCPv4 server, Sans-IO.
///
/// Feed it received datagrams ([`handle_packet`](Self::handle_packet)) and timeouts
/// ([`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout)); take out
/// replies ([`poll_transmit`](Self::poll_transmit)) and lease changes
/// ([`poll_lease_change`](Self::poll_lease_change)). Replies that depend on a lease change are
/// held until the change is durable ([`leases_persisted`](Self::leases_persisted); see
/// [`hold`](super::hold)).
///
/// Behaviour, as Kea 2.2's:
/// * DISCOVER: an OFFER of the client's reserved address, its current lease, the requested
///   address (option 50) if free in a pool, else the next free pool address (iterative
///   allocator). An offer writes nothing, so two clients may be offered the same address.
///   No address: no answer, and `v4-allocation-fail*` count it.
/// * REQUEST: SELECTING (our server id), INIT-REBOOT (no server id, option 50: an unknown
///   client is ignored unless `authoritative`, a wrong address NAKed), RENEWING / REBINDING
///   (`ciaddr`). A REQUEST naming another server is dropped.
/// * DECLINE: the lease goes to the declined state for `decline-probation-period`, its
///   client identity cleared. RELEASE: the lease is deleted. INFORM: an ACK with options.
/// * Expired leases are reclaimed by deleting them (Kea keeps them in state
///   expired-reclaimed for `hold-reclaimed-time`; this server does not), at most
///   `max-reclaim-leases` per `reclaim-timer-wait-time` cycle.
#[derive(Debug)]
pub struct Server<S: LeaseStore = MemoryStore> {
    subnets: Subnets,
    global_options: Vec<Opt>,
    global_server_id: Option<Ipv4Addr>,
    store: S,
    /// (expire, address) of every lease in the store.
    expiry: BTreeSet<(u64, Ipv4Addr)>,
    stats: Statistics,
    changes: VecDeque<LeaseChange>,
    seq: u64,
    hold: HoldQueue,
    tx: VecDeque<Transmit>,
    echo_client_id: bool,
    decline_probation: u32,
    reclaim_wait: Option<Duration>,
    max_reclaim: usize,
    next_reclaim: Option<Instant>,
    unix: u64,
    /// The classes of the query being handled, as a mask over the pools' classes.
    classes: u64,
}

impl Server<MemoryStore> {
    /// A server with an empty in-memory store, replies held until persisted.
    pub fn new(cfg: &Dhcp4, now: Instant, unix: u64) -> Result<Self, ConfigError> {
        Self::with_store(
            cfg,
            MemoryStore::default(),
            ServerOptions::default(),
            now,
            unix,
        )
    }
}

impl<S: LeaseStore> Server<S> {
    /// A server over `store`, which may hold leases already (loaded from a memfile): their
    /// addresses are marked used, their expiries indexed and the statistics counted. Loading
    /// emits no lease change.
    pub fn with_store(
        cfg: &Dhcp4,
        store: S,
        options: ServerOptions,
        now: Instant,
        unix: u64,
    ) -> Result<Self, ConfigError> {
        let subnets = Subnets::build(cfg)?;
        let mut global_options = merge(&[], &cfg.option_data);
        let global_server_id = global_options
            .iter()
            .position(|o| o.code == code::SERVER_ID)
            .map(|i| global_options.remove(i))
            .and_then(|o| <[u8; 4]>::try_from(o.data.as_slice()).ok())
            .map(Ipv4Addr::from);
        let elp = &cfg.expired_leases_processing;
        let wait = elp
            .reclaim_timer_wait_time
            .unwrap_or(DEFAULT_RECLAIM_TIMER_WAIT_TIME);
        let reclaim_wait = (wait > 0).then(|| Duration::from_secs(u64::from(wait)));
        let max_reclaim = match elp.max_reclaim_leases.unwrap_or(DEFAULT_MAX_RECLAIM_LEASES) {
            0 => usize::MAX,
            n => n as usize,
        };
        let stats = Statistics::new(subnets.list.iter().map(|s| s.id), unix);
        let required = if options.persist {
            Gates::NONE.with(Gate::Persisted)
        } else {
            Gates::NONE
        };
        let mut server = Self {
            subnets,
            global_options,
            global_server_id,
            store,
            expiry: BTreeSet::new(),
            stats,
            changes: VecDeque::new(),
            seq: 0,
            hold: HoldQueue::new(required),
            tx: VecDeque::new(),
            echo_client_id: cfg.echo_client_id.unwrap_or(true),
            decline_probation: cfg
                .decline_probation_period
                .unwrap_or(DEFAULT_DECLINE_PROBATION_PERIOD),
            reclaim_wait,
            max_reclaim,
            next_reclaim: reclaim_wait.map(|w| now + w),
            unix,
            classes: 0,
        };
        for i in 0..server.subnets.list.len() {
            let total = server.subnets.list[i].total_addresses();
            server.stats.set_subnet(
                i,
                SubnetStat::TotalAddresses,
                i64::try_from(total).unwrap_or(i64::MAX),
                unix,
            );
        }
        server.index_store();
        Ok(server)
    }

    /// Marks every stored lease's address used, indexes its expiry and counts it.
    fn index_store(&mut self) {
        let mut from = None;
        loop {
            let page: Vec<(Ipv4Addr, u64, u32, LeaseState)> = self
                .store
                .page(from, 1024)
                .into_iter()
                .map(|l| (l.addr, l.expire(), l.subnet_id, l.state))
                .collect();
            let Some(last) = page.last() else { break };
            from = Some(last.0);
            for (addr, expire, subnet_id, state) in page {
                self.expiry.insert((expire, addr));
                self.mark_used(addr);
                self.gauge(subnet_id, state, 1);
            }
        }
    }

    // ---------------------------------------------------------------- outputs

    /// The next reply ready to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop_front()
    }

    /// The next lease change, in sequence order.
    pub fn poll_lease_change(&mut self) -> Option<LeaseChange> {
        self.changes.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next (the lease reclamation
    /// cycle, every `reclaim-timer-wait-time`); `None` when reclamation is off.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_reclaim
    }

    /// The lease changes up to `seq` are durable: releases the replies waiting for them.
    pub fn leases_persisted(&mut self, seq: u64) {
        self.release_gate(Gate::Persisted, seq);
    }

    /// The lease changes up to `seq` have passed `gate`: releases the replies waiting for
    /// them and nothing else.
    pub fn release_gate(&mut self, gate: Gate, seq: u64) {
        let mut out = Vec::new();
        self.hold.release(gate, seq, &mut out);
        for tx in out {
            self.send(tx);
        }
    }

    /// Sets which gates a reply must pass (the HA layer adds [`Gate::PartnerAcked`]). Applies
    /// to replies held from now on.
    pub fn set_required_gates(&mut self, gates: Gates) {
        self.hold.required = gates;
    }

    /// The gates a reply must pass.
    pub fn required_gates(&self) -> Gates {
        self.hold.required
    }

    /// Drops the replies held for the changes up to `seq` (Kea drops a parked reply when the
    /// partner's lease update failed); returns how many.
    pub fn discard_held(&mut self, seq: u64) -> usize {
        self.hold.discard(seq)
    }

    /// Number of replies held.
    pub fn held_count(&self) -> usize {
        self.hold.len()
    }

    /// The sequence number of the last lease change (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// The statistics.
    pub fn stats(&self) -> &Statistics {
        &self.stats
    }

    /// The lease store (read only: change leases through the methods below, which keep the
    /// pools, the expiry index and the statistics in step).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The lease of `addr`.
    pub fn lease(&self, addr: Ipv4Addr) -> Option<&Lease4> {
        self.store.get(addr)
    }

    /// The id of the subnet whose prefix holds `addr` (the first in configuration order).
    pub fn subnet_of(&self, addr: Ipv4Addr) -> Option<u32> {
        self.subnets
            .containing(addr)
            .map(|i| self.subnets.list[i].id)
    }

    /// Whether `addr` is in a pool and neither leased nor reserved.
    pub fn is_free(&self, addr: Ipv4Addr) -> bool {
        self.subnets
            .pool_of(addr)
            .is_some_and(|(s, p)| self.subnets.list[s].pools[p].map.is_free(addr))
    }

    /// Number of free addresses in the pools of subnet `id`.
    pub fn free_count(&self, id: u32) -> Option<u64> {
        let s = &self.subnets.list[self.subnets.index_of(id)?];
        Some(s.pools.iter().map(|p| u64::from(p.map.free_count())).sum())
    }

    // ---------------------------------------------------------------- control API

    fn check_lease(&self, lease: &mut Lease4) -> Result<(), LeaseOpError> {
        let si = if lease.subnet_id == 0 {
            let i = self
                .subnets
                .containing(lease.addr)
                .ok_or(LeaseOpError::NoSubnetForAddress(lease.addr))?;
            lease.subnet_id = self.subnets.list[i].id;
            i
        } else {
            self.subnets
                .index_of(lease.subnet_id)
                .ok_or(LeaseOpError::NoSuchSubnet(lease.subnet_id))?
        };
        let s = &self.subnets.list[si];
        if !s.contains(lease.addr) {
            return Err(LeaseOpError::AddressNotInSubnet {
                addr: lease.addr,
                prefix: s.prefix_addr(),
                len: s.len,
                subnet_id: s.id,
            });
        }
        if lease.state == LeaseState::Default
            && lease.hwaddr.is_empty()
            && lease.client_id.is_empty()
        {
            return Err(LeaseOpError::NoIdentifier(lease.addr));
        }
        Ok(())
    }

    /// `lease4-add`: adds a lease for an address that has none (`subnet-id` 0: chosen by
    /// address). Returns the change's sequence number.
    pub fn add_lease(&mut self, mut lease: Lease4, origin: Origin) -> Result<u64, LeaseOpError> {
        if self.store.get(lease.addr).is_some() {
            return Err(LeaseOpError::Exists(lease.addr));
        }
        self.check_lease(&mut lease)?;
        Ok(self.upsert(lease, origin))
    }

    /// `lease4-update`: replaces the lease of `lease.addr`; with `force_create` (what HA peers
    /// send) adds it if missing. Returns the change's sequence number.
    pub fn update_lease(
        &mut self,
        mut lease: Lease4,
        force_create: bool,
        origin: Origin,
    ) -> Result<u64, LeaseOpError> {
        if !force_create && self.store.get(lease.addr).is_none() {
            return Err(LeaseOpError::NotFound(lease.addr));
        }
        self.check_lease(&mut lease)?;
        Ok(self.upsert(lease, origin))
    }

    /// `lease4-del`: removes the lease of `addr` and frees the address.
    pub fn delete_lease(&mut self, addr: Ipv4Addr, origin: Origin) -> Option<Lease4> {
        let (lease, _) = self.remove(addr, origin)?;
        Some(lease)
    }

    /// `lease4-wipe`: removes every lease (of subnet `subnet_id`, if given); returns how many.
    pub fn wipe(&mut self, subnet_id: Option<u32>, origin: Origin) -> usize {
        let mut addrs = Vec::new();
        let mut from = None;
        loop {
            let page = self.store.page(from, 1024);
            let Some(last) = page.last() else { break };
            from = Some(last.addr);
            addrs.extend(
                page.iter()
                    .filter(|l| subnet_id.is_none_or(|id| l.subnet_id == id))
                    .map(|l| l.addr),
            );
        }
        for a in &addrs {
            self.remove(*a, origin);
        }
        addrs.len()
    }

    // ---------------------------------------------------------------- store mutations

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn mark_used(&mut self, addr: Ipv4Addr) {
        if let Some((s, p)) = self.subnets.pool_of(addr) {
            self.subnets.list[s].pools[p].map.take(addr);
        }
    }

    fn mark_free(&mut self, addr: Ipv4Addr) {
        if let Some((s, p)) = self.subnets.pool_of(addr) {
            let sub = &mut self.subnets.list[s];
            if !sub.reserved.contains_key(&addr) {
                sub.pools[p].map.release(addr);
            }
        }
    }

    /// Adjusts the gauges (assigned, declined) for a lease of `state` coming (+1) or going (-1).
    fn gauge(&mut self, subnet_id: u32, state: LeaseState, d: i64) {
        let unix = self.unix;
        let si = self.subnets.index_of(subnet_id);
        let declined = match state {
            LeaseState::Default => false,
            LeaseState::Declined => true,
            _ => return,
        };
        if let Some(i) = si {
            self.stats
                .add_subnet(i, SubnetStat::AssignedAddresses, d, unix);
            if declined {
                self.stats
                    .add_subnet(i, SubnetStat::DeclinedAddresses, d, unix);
            }
        }
        if declined {
            self.stats.add(GlobalStat::DeclinedAddresses, d, unix);
        }
    }

    fn upsert(&mut self, lease: Lease4, origin: Origin) -> u64 {
        let prev = self.store.upsert(lease.clone());
        if let Some(p) = &prev {
            self.expiry.remove(&(p.expire(), p.addr));
            self.gauge(p.subnet_id, p.state, -1);
        }
        self.expiry.insert((lease.expire(), lease.addr));
        self.mark_used(lease.addr);
        self.gauge(lease.subnet_id, lease.state, 1);
        let seq = self.next_seq();
        self.changes.push_back(LeaseChange {
            seq,
            kind: if prev.is_some() {
                ChangeKind::Updated
            } else {
                ChangeKind::Added
            },
            lease,
            origin,
        });
        seq
    }

    fn remove(&mut self, addr: Ipv4Addr, origin: Origin) -> Option<(Lease4, u64)> {
        let prev = self.store.remove(addr)?;
        self.expiry.remove(&(prev.expire(), addr));
        self.gauge(prev.subnet_id, prev.state, -1);
        self.mark_free(addr);
        let seq = self.next_seq();
        self.changes.push_back(LeaseChange {
            seq,
            kind: ChangeKind::Deleted,
            lease: prev.clone(),
            origin,
        });
        Some((prev, seq))
    }

    // ---------------------------------------------------------------- reclamation

    /// Runs the reclamation cycle if it is due.
    pub fn handle_timeout(&mut self, now: Instant, unix: u64) {
        self.unix = unix;
        let (Some(next), Some(wait)) = (self.next_reclaim, self.reclaim_wait) else {
            return;
        };
        if now < next {
            return;
        }
        self.reclaim_expired(unix);
        self.next_reclaim = Some(now + wait);
    }

    /// Reclaims up to `max-reclaim-leases` leases expired at `unix` (default and declined
    /// leases alike, oldest first): deletes them and frees their addresses. Returns how many.
    pub fn reclaim_expired(&mut self, unix: u64) -> usize {
        self.unix = unix;
        let mut n = 0;
        while n < self.max_reclaim {
            let Some(&(expire, addr)) = self.expiry.first() else {
                break;
            };
            if expire > unix {
                break;
            }
            let Some(l) = self.store.get(addr) else {
                self.expiry.remove(&(expire, addr));
                continue;
            };
            let (state, subnet_id) = (l.state, l.subnet_id);
            self.remove(addr, Origin::Reclamation);
            n += 1;
            let si = self.subnets.index_of(subnet_id);
            let mut count = |g: GlobalStat, s: SubnetStat| {
                self.stats.add(g, 1, unix);
                if let Some(i) = si {
                    self.stats.add_subnet(i, s, 1, unix);
                }
            };
            match state {
                LeaseState::Default => {
                    count(GlobalStat::ReclaimedLeases, SubnetStat::ReclaimedLeases);
                }
                LeaseState::Declined => {
                    count(GlobalStat::ReclaimedLeases, SubnetStat::ReclaimedLeases);
                    count(
                        GlobalStat::ReclaimedDeclinedAddresses,
                        SubnetStat::ReclaimedDeclinedAddresses,
                    );
                }
                _ => {}
            }
        }
        n
    }

    // ---------------------------------------------------------------- packets

    fn count(&mut self, g: GlobalStat) {
        self.stats.add(g, 1, self.unix);
    }

    fn drop_packet(&mut self) {
        self.count(GlobalStat::Pkt4ReceiveDrop);
    }

    /// [`handle_packet`](Self::handle_packet) for a client in `classes` (for instance the
    /// `HA_server1` class the HA query filter assigns): a pool with a `client-class` gives
    /// addresses only to the clients of that class, as Kea's (load-balancing split pools).
    /// Without classes, such pools serve nobody.
    pub fn handle_packet_classified<'c>(
        &mut self,
        now: Instant,
        unix: u64,
        meta: &RxMeta<'_>,
        bytes: &[u8],
        classes: impl IntoIterator<Item = &'c str>,
    ) {
        self.classes = self.subnets.class_mask(classes);
        self.handle_packet_inner(now, unix, meta, bytes);
        self.classes = 0;
    }

    /// Handles one received datagram (the UDP payload `bytes`) of a client without classes.
    /// `now` drives timers; `unix` (wall-clock seconds) stamps leases (`cltt`) and statistics.
    pub fn handle_packet(&mut self, now: Instant, unix: u64, meta: &RxMeta<'_>, bytes: &[u8]) {
        self.classes = 0;
        self.handle_packet_inner(now, unix, meta, bytes);
    }

    fn handle_packet_inner(&mut self, now: Instant, unix: u64, meta: &RxMeta<'_>, bytes: &[u8]) {
        let _ = now;
        self.unix = unix;
        self.count(GlobalStat::Pkt4Received);
        let Ok(q) = Dhcp4Repr::from_bytes(bytes) else {
            self.count(GlobalStat::Pkt4ParseFailed);
            self.drop_packet();
            return;
        };
        let t = q.message_type();
        self.count(match t {
            Some(MessageType::DISCOVER) => GlobalStat::Pkt4DiscoverReceived,
            Some(MessageType::OFFER) => GlobalStat::Pkt4OfferReceived,
            Some(MessageType::REQUEST) => GlobalStat::Pkt4RequestReceived,
            Some(MessageType::ACK) => GlobalStat::Pkt4AckReceived,
            Some(MessageType::NAK) => GlobalStat::Pkt4NakReceived,
            Some(MessageType::RELEASE) => GlobalStat::Pkt4ReleaseReceived,
            Some(MessageType::DECLINE) => GlobalStat::Pkt4DeclineReceived,
            Some(MessageType::INFORM) => GlobalStat::Pkt4InformReceived,
            _ => GlobalStat::Pkt4UnknownReceived,
        });
        let Some(t) = t.filter(|t| {
            matches!(
                *t,
                MessageType::DISCOVER
                    | MessageType::REQUEST
                    | MessageType::DECLINE
                    | MessageType::RELEASE
                    | MessageType::INFORM
            )
        }) else {
            self.drop_packet();
            return;
        };
        // Something must identify the client (Kea's sanityCheck).
        let raw_cid = q.options.client_id.as_deref().filter(|c| !c.is_empty());
        if q.client_hw_addr().is_empty() && raw_cid.is_none() {
            self.drop_packet();
            return;
        }
        // A query naming another server is not ours (Kea's acceptServerId).
        if let Some(sid) = q.options.server_id
            && !self.is_our_server_id(sid, meta)
        {
            self.drop_packet();
            return;
        }
        let relayed = !q.giaddr.is_unspecified();
        if !relayed
            && t == MessageType::INFORM
            && meta.src.ip().is_unspecified()
            && q.ciaddr.is_unspecified()
        {
            self.drop_packet();
            return;
        }
        let subnet = self.subnets.select(&q, meta);
        // Broadcast from a link we serve no subnet on (Kea's acceptDirectRequest).
        if !relayed && meta.arrived_broadcast() && subnet.is_none() {
            self.drop_packet();
            return;
        }
        match t {
            MessageType::DISCOVER => self.discover(&q, subnet, meta),
            MessageType::REQUEST => self.request(&q, subnet, meta),
            MessageType::DECLINE => self.decline(&q),
            MessageType::RELEASE => self.release(&q),
            _ => self.inform(&q, subnet, meta),
        }
    }

    fn is_our_server_id(&self, sid: Ipv4Addr, meta: &RxMeta<'_>) -> bool {
        meta.if_addrs.contains(&sid)
            || sid == meta.dst
            || self.global_server_id == Some(sid)
            || self.subnets.list.iter().any(|s| s.server_id == Some(sid))
    }

    fn client<'q>(&self, q: &'q Dhcp4Repr, si: usize) -> Client<'q> {
        let raw_cid = q.options.client_id.as_deref().filter(|c| !c.is_empty());
        Client {
            hw: q.client_hw_addr(),
            cid: raw_cid.filter(|_| self.subnets.list[si].match_client_id),
            raw_cid,
        }
    }

    /// The client's lease in subnet `si`: by client identifier, else by hardware address if
    /// that lease belongs to the client (Kea's `belongsToClient`).
    fn client_lease(&self, si: usize, c: &Client<'_>) -> Option<Ipv4Addr> {
        let id = self.subnets.list[si].id;
        if let Some(cid) = c.cid
            && let Some(l) = self.store.by_client_id(id, cid).first()
        {
            return Some(l.addr);
        }
        if c.hw.is_empty() {
            return None;
        }
        self.store
            .by_hwaddr(id, c.hw)
            .into_iter()
            .find(|l| belongs_to(l, c.hw, c.cid))
            .map(|l| l.addr)
    }

    /// Whether `addr` is reserved in subnet `si` for a host other than `host`.
    fn reserved_for_other(&self, si: usize, addr: Ipv4Addr, host: Option<usize>) -> bool {
        self.subnets.list[si]
            .reserved
            .get(&addr)
            .is_some_and(|h| Some(*h) != host)
    }

    /// Whether `addr` may be given to client `c`: no lease, an expired default lease, or the
    /// client's own lease.
    fn available_for(&self, addr: Ipv4Addr, c: &Client<'_>, unix: u64) -> bool {
        match self.store.get(addr) {
            None => true,
            Some(l) => match l.state {
                LeaseState::Default => l.is_expired(unix) || belongs_to(l, c.hw, c.cid),
                LeaseState::Declined => l.is_expired(unix),
                _ => true,
            },
        }
    }

    fn alloc_fail(&mut self, si: usize) {
        let unix = self.unix;
        let no_pools = self.subnets.list[si].pools.is_empty();
        let (g, s) = if no_pools {
            (
                GlobalStat::V4AllocationFailNoPools,
                SubnetStat::V4AllocationFailNoPools,
            )
        } else {
            (
                GlobalStat::V4AllocationFailSubnet,
                SubnetStat::V4AllocationFailSubnet,
            )
        };
        for (g, s) in [
            (GlobalStat::V4AllocationFail, SubnetStat::V4AllocationFail),
            (g, s),
        ] {
            self.stats.add(g, 1, unix);
            self.stats.add_subnet(si, s, 1, unix);
        }
    }

    /// The address to offer (nothing is written).
    fn offer_address(
        &mut self,
        si: usize,
        c: &Client<'_>,
        hint: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        let unix = self.unix;
        let sub = &self.subnets.list[si];
        let host = sub.host_for(c.hw, c.raw_cid);
        let reserved = host.and_then(|h| sub.hosts[h].addr);
        if let Some(r) = reserved
            && self.available_for(r, c, unix)
        {
            return Some(r);
        }
        if let Some(a) = self.client_lease(si, c) {
            let ok_state = self
                .store
                .get(a)
                .is_some_and(|l| l.state == LeaseState::Default);
            if ok_state
                && (sub.in_allowed_pool(a, self.classes) || reserved == Some(a))
                && !self.reserved_for_other(si, a, host)
            {
                return Some(a);
            }
        }
        if let Some(h) = hint
            && sub.in_allowed_pool(h, self.classes)
            && !self.reserved_for_other(si, h, host)
            && (self.is_free(h) || self.available_for(h, c, unix))
        {
            return Some(h);
        }
        self.subnets.list[si]
            .pick(self.classes)
            .or_else(|| self.reusable_expired(si, unix))
    }

    /// With the pools full, an expired lease not yet reclaimed in subnet `si` (Kea's
    /// allocator reuses those): the oldest among the first [`REUSE_SCAN`] expired leases.
    fn reusable_expired(&self, si: usize, unix: u64) -> Option<Ipv4Addr> {
        let sub = &self.subnets.list[si];
        self.expiry
            .iter()
            .take_while(|(e, _)| *e <= unix)
            .take(REUSE_SCAN)
            .map(|(_, a)| *a)
            .find(|a| {
                sub.in_allowed_pool(*a, self.classes)
                    && !sub.reserved.contains_key(a)
                    && self.store.get(*a).is_some_and(|l| {
                        matches!(l.state, LeaseState::Default | LeaseState::Declined)
                    })
            })
    }

    fn discover(&mut self, q: &Dhcp4Repr, subnet: Option<usize>, meta: &RxMeta<'_>) {
        if q.options.server_id.is_some() {
            // RFC 2131 Table 5: a DISCOVER must not carry a server identifier.
            self.drop_packet();
            return;
        }
        let Some(si) = subnet else { return };
        let c = self.client(q, si);
        let Some(addr) = self.offer_address(si, &c, q.options.requested_ip) else {
            self.alloc_fail(si);
            return;
        };
        let sub = &self.subnets.list[si];
        let host = sub.host_for(c.hw, c.raw_cid);
        let valid = lifetime(sub, q.options.lease_time);
        let mut r = self.reply_base(q, MessageType::OFFER);
        self.lease_options(&mut r, q, si, host, addr, valid);
        self.finish(r, q, Some(si), meta, None);
    }

    fn request(&mut self, q: &Dhcp4Repr, subnet: Option<usize>, meta: &RxMeta<'_>) {
        let Some(si) = subnet else {
            // Kea: no subnet for this client → DHCPNAK.
            self.nak(q, None, meta);
            return;
        };
        let c = self.client(q, si);
        match self.grant(q, si, &c) {
            Ok(g) => {
                let mut r = self.reply_base(q, MessageType::ACK);
                r.ciaddr = q.ciaddr;
                self.lease_options(&mut r, q, si, g.host, g.addr, g.valid);
                self.finish(r, q, Some(si), meta, Some(g.seq));
            }
            Err(Refusal::Nak) => self.nak(q, Some(si), meta),
            Err(Refusal::Ignore) => {}
        }
    }

    /// The REQUEST decision: renew, allocate the requested address, NAK or ignore.
    fn grant(&mut self, q: &Dhcp4Repr, si: usize, c: &Client<'_>) -> Result<Granted, Refusal> {
        let unix = self.unix;
        let hint = q
            .options
            .requested_ip
            .or_else(|| Some(q.ciaddr).filter(|a| !a.is_unspecified()));
        let current = self.client_lease(si, c);
        let sub = &self.subnets.list[si];
        // INIT-REBOOT: no server id, a requested address.
        if q.options.server_id.is_none() && q.options.requested_ip.is_some() {
            match current {
                None if !sub.authoritative => return Err(Refusal::Ignore),
                None => return Err(Refusal::Nak),
                Some(a) if Some(a) != hint => return Err(Refusal::Nak),
                Some(_) => {}
            }
        }
        let host = sub.host_for(c.hw, c.raw_cid);
        let reserved = host.and_then(|h| sub.hosts[h].addr);
        let valid = lifetime(sub, q.options.lease_time);
        let addr = match hint {
            Some(a) => a,
            None => match (reserved, current) {
                (Some(r), _) if self.available_for(r, c, unix) => r,
                (_, Some(a)) => a,
                _ => match self.subnets.list[si]
                    .pick(self.classes)
                    .or_else(|| self.reusable_expired(si, unix))
                {
                    Some(a) => a,
                    None => {
                        self.alloc_fail(si);
                        return Err(Refusal::Nak);
                    }
                },
            },
        };
        let sub = &self.subnets.list[si];
        if !sub.contains(addr) || self.reserved_for_other(si, addr, host) {
            return Err(Refusal::Nak);
        }
        // A client with an available reservation gets that address and no other.
        if let Some(r) = reserved
            && r != addr
            && self.available_for(r, c, unix)
        {
            return Err(Refusal::Nak);
        }
        if !(sub.in_allowed_pool(addr, self.classes) || reserved == Some(addr))
            || !self.available_for(addr, c, unix)
        {
            return Err(Refusal::Nak);
        }
        let existing = self.store.get(addr);
        let renewal = current == Some(addr)
            && existing
                .is_some_and(|l| l.state == LeaseState::Default && belongs_to(l, c.hw, c.cid));
        let mut lease = match existing.filter(|_| renewal) {
            Some(l) => l.clone(),
            None => Lease4::new(addr),
        };
        lease.hwaddr.clear();
        lease.hwaddr.extend_from_slice(c.hw);
        lease.client_id.clear();
        if let Some(cid) = c.cid {
            lease.client_id.extend_from_slice(cid);
        }
        lease.valid_lifetime = valid;
        lease.cltt = unix;
        lease.subnet_id = sub.id;
        lease.state = LeaseState::Default;
        lease.hostname = host
            .and_then(|h| sub.hosts[h].hostname.clone())
            .or_else(|| client_hostname(q))
            .unwrap_or_default();
        lease.fqdn_fwd = false;
        lease.fqdn_rev = false;
        if let Some(old) = current
            && old != addr
        {
            // The client moves to another address: its old lease goes (Kea's requestLease4).
            self.remove(old, Origin::Dhcp);
        }
        let seq = self.upsert(lease, Origin::Dhcp);
        if !renewal {
            self.stats
                .add(GlobalStat::CumulativeAssignedAddresses, 1, unix);
            self.stats
                .add_subnet(si, SubnetStat::CumulativeAssignedAddresses, 1, unix);
        }
        Ok(Granted {
            addr,
            valid,
            seq,
            host,
        })
    }

    fn decline(&mut self, q: &Dhcp4Repr) {
        let Some(addr) = q.options.requested_ip else {
            self.drop_packet();
            return;
        };
        let raw_cid = q.options.client_id.as_deref().filter(|c| !c.is_empty());
        let Some(l) = self.store.get(addr) else {
            return;
        };
        if l.state != LeaseState::Default || !belongs_to(l, q.client_hw_addr(), raw_cid) {
            return;
        }
        let mut d = l.clone();
        d.hwaddr.clear();
        d.client_id.clear();
        d.cltt = self.unix;
        d.valid_lifetime = self.decline_probation;
        d.hostname.clear();
        d.fqdn_fwd = false;
        d.fqdn_rev = false;
        d.state = LeaseState::Declined;
        self.upsert(d, Origin::Dhcp);
    }

    fn release(&mut self, q: &Dhcp4Repr) {
        let addr = q.ciaddr;
        let raw_cid = q.options.client_id.as_deref().filter(|c| !c.is_empty());
        let Some(l) = self.store.get(addr) else {
            return;
        };
        if l.state != LeaseState::Default || !belongs_to(l, q.client_hw_addr(), raw_cid) {
            return;
        }
        self.remove(addr, Origin::Dhcp);
    }

    fn inform(&mut self, q: &Dhcp4Repr, subnet: Option<usize>, meta: &RxMeta<'_>) {
        if q.options.server_id.is_some() {
            self.drop_packet();
            return;
        }
        let mut r = self.reply_base(q, MessageType::ACK);
        r.ciaddr = q.ciaddr;
        let prl = Prl::of(q);
        let opts = match subnet {
            Some(si) => &self.subnets.list[si].options,
            None => &self.global_options,
        };
        add_configured(&mut r, opts.iter(), &prl);
        self.finish(r, q, subnet, meta, None);
    }

    fn nak(&mut self, q: &Dhcp4Repr, subnet: Option<usize>, meta: &RxMeta<'_>) {
        let r = self.reply_base(q, MessageType::NAK);
        self.finish(r, q, subnet, meta, None);
    }

    // ---------------------------------------------------------------- replies

    fn reply_base(&self, q: &Dhcp4Repr, t: MessageType) -> Dhcp4Repr {
        let mut r = Dhcp4Repr::reply_to(q, t);
        if !self.echo_client_id {
            r.options.client_id = None;
        }
        r
    }

    /// Lease time, subnet mask, T1/T2, host name and the configured options of an OFFER or
    /// an ACK that grants `addr`.
    fn lease_options(
        &self,
        r: &mut Dhcp4Repr,
        q: &Dhcp4Repr,
        si: usize,
        host: Option<usize>,
        addr: Ipv4Addr,
        valid: u32,
    ) {
        let sub = &self.subnets.list[si];
        r.yiaddr = addr;
        let o = &mut r.options;
        o.lease_time = Some(valid);
        o.subnet_mask = Some(sub.mask());
        let (t1, t2) = tee_times(sub, valid);
        o.renewal_time = t1;
        o.rebinding_time = t2;
        let prl = Prl::of(q);
        let host = host.map(|h| &sub.hosts[h]);
        let reserved_name = host.and_then(|h| h.hostname.as_deref());
        if q.options.hostname.is_some() || (reserved_name.is_some() && prl.has(code::HOSTNAME)) {
            o.hostname = reserved_name
                .map(|n| n.as_bytes().to_vec())
                .or_else(|| q.options.hostname.clone());
        }
        let base = sub
            .pool_index(addr)
            .map_or(&sub.options, |p| &sub.pools[p].options);
        match host.filter(|h| !h.options.is_empty()) {
            None => add_configured(r, base.iter(), &prl),
            Some(h) => add_configured(r, merge(base, &h.options).iter(), &prl),
        }
    }

    /// The server identifier for a reply: configured (option 54), else the address the query
    /// was sent to, else the receiving interface's address (one inside the subnet first).
    fn server_id(&self, subnet: Option<usize>, meta: &RxMeta<'_>) -> Ipv4Addr {
        let sub = subnet.map(|i| &self.subnets.list[i]);
        if let Some(s) = sub.and_then(|s| s.server_id).or(self.global_server_id) {
            return s;
        }
        if !meta.arrived_broadcast() && !meta.dst.is_unspecified() {
            return meta.dst;
        }
        sub.and_then(|s| meta.if_addrs.iter().find(|a| s.contains(**a)))
            .or_else(|| meta.if_addrs.first())
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Adds the server identifier, picks the destination (RFC 2131 §4.1, Kea's
    /// `adjustRemoteAddr`), emits, and sends or holds the reply.
    fn finish(
        &mut self,
        mut r: Dhcp4Repr,
        q: &Dhcp4Repr,
        subnet: Option<usize>,
        meta: &RxMeta<'_>,
        seq: Option<u64>,
    ) {
        let sid = self.server_id(subnet, meta);
        r.options.server_id = Some(sid);
        let t = r.message_type().unwrap_or(MessageType::ACK);
        let relayed = !q.giaddr.is_unspecified();
        let bcast = Ipv4Addr::BROADCAST;
        let (dst, link_unicast) =
            if t == MessageType::ACK && q.message_type() == Some(MessageType::INFORM) {
                if !q.ciaddr.is_unspecified() {
                    (SocketAddrV4::new(q.ciaddr, CLIENT_PORT), false)
                } else if relayed {
                    r.flags |= FLAG_BROADCAST;
                    (SocketAddrV4::new(q.giaddr, SERVER_PORT), false)
                } else {
                    (SocketAddrV4::new(*meta.src.ip(), CLIENT_PORT), false)
                }
            } else if relayed {
                (SocketAddrV4::new(q.giaddr, SERVER_PORT), false)
            } else if !q.ciaddr.is_unspecified() {
                (SocketAddrV4::new(q.ciaddr, CLIENT_PORT), false)
            } else if t == MessageType::NAK || q.broadcast() || r.yiaddr.is_unspecified() {
                (SocketAddrV4::new(bcast, CLIENT_PORT), false)
            } else {
                (SocketAddrV4::new(r.yiaddr, CLIENT_PORT), true)
            };
        if relayed && *dst.ip() != q.giaddr {
            // An INFORM answered straight to the client: no relay fields.
            r.hops = 0;
            r.giaddr = Ipv4Addr::UNSPECIFIED;
            r.options.relay_agent_info = None;
        }
        let Ok(payload) = r.to_vec() else { return };
        let tx = Transmit {
            dst,
            src: sid,
            ifindex: meta.ifindex,
            broadcast: *dst.ip() == bcast,
            link_unicast,
            htype: r.htype,
            hlen: r.hlen,
            chaddr: r.chaddr,
            message_type: t,
            xid: r.xid,
            payload,
        };
        match seq {
            Some(s) => {
                if let Some(tx) = self.hold.hold(s, tx) {
                    self.send(tx);
                }
            }
            None => self.send(tx),
        }
    }

    fn send(&mut self, tx: Transmit) {
        self.count(GlobalStat::Pkt4Sent);
        match tx.message_type {
            MessageType::OFFER => self.count(GlobalStat::Pkt4OfferSent),
            MessageType::ACK => self.count(GlobalStat::Pkt4AckSent),
            MessageType::NAK => self.count(GlobalStat::Pkt4NakSent),
            _ => {}
        }
        self.tx.push_back(tx);
    }
}

/// The valid lifetime for a client: the requested one (option 51) within
/// `min-valid-lifetime ..= max-valid-lifetime`, else `valid-lifetime`.
fn lifetime(sub: &SubnetState, requested: Option<u32>) -> u32 {
    match requested {
        Some(r) => r.clamp(sub.min_valid.min(sub.max_valid), sub.max_valid),
        None => sub.valid,
    }
}

/// Kea's `setTeeTimes`: configured values, else computed when `calculate-tee-times`; T2 sent
/// only below the lifetime, T1 only below T2 (or the lifetime).
fn tee_times(sub: &SubnetState, valid: u32) -> (Option<u32>, Option<u32>) {
    let pct = |p: f64| (p * f64::from(valid)).round() as u32;
    let t2 = sub
        .t2
        .or_else(|| sub.calculate_tee_times.then(|| pct(sub.t2_percent)))
        .filter(|t| *t > 0 && *t < valid);
    let max = t2.unwrap_or(valid);
    let t1 = sub
        .t1
        .or_else(|| sub.calculate_tee_times.then(|| pct(sub.t1_percent)))
        .filter(|t| *t > 0 && *t < max);
    (t1, t2)
}

/// The client's host name: option 12, else the name of option 81 (RFC 4702).
fn client_hostname(q: &Dhcp4Repr) -> Option<String> {
    if let Some(h) = q.options.hostname.as_deref().filter(|h| !h.is_empty()) {
        return Some(String::from_utf8_lossy(h).into_owned());
    }
    let f = q.options.client_fqdn.as_deref()?;
    let (flags, name) = (f.first()?, f.get(3..)?);
    if flags & 0x04 == 0 {
        return Some(String::from_utf8_lossy(name).into_owned()).filter(|n| !n.is_empty());
    }
    // Canonical wire format: length-prefixed labels.
    let mut out = String::new();
    let mut rest = name;
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            out.push('.');
            break;
        }
        let label = tail.get(..usize::from(len))?;
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label));
        rest = &tail[usize::from(len)..];
    }
    Some(out).filter(|n| !n.is_empty())
}

/// The parameter request list as a set.
struct Prl([u64; 4]);

impl Prl {
    fn of(q: &Dhcp4Repr) -> Self {
        let mut s = [0u64; 4];
        for &c in q.options.parameter_request_list.as_deref().unwrap_or(&[]) {
            s[usize::from(c / 64)] |= 1 << (c % 64);
        }
        Self(s)
    }

    fn has(&self, c: u8) -> bool {
        self.0[usize::from(c / 64)] & (1 << (c % 64)) != 0
    }
}

/// Adds the configured options the client gets: requested (option 55), `always-send`, or
/// basic (routers, DNS servers, domain name); never one the reply already has.
fn add_configured<'a>(r: &mut Dhcp4Repr, opts: impl Iterator<Item = &'a Opt>, prl: &Prl) {
    for o in opts {
        if (o.always_send || prl.has(o.code) || BASIC.contains(&o.code))
            && !r.options.contains(o.code)
        {
            // A value the codec refuses (wrong length for a typed option) is left out.
            let _ = r.options.set(o.code, &o.data);
        }
    }
}
