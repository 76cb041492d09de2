//! The configured subnets as the engine uses them: pools with their free-address bitmaps,
//! reservations indexed by identifier and by address, the option lists merged by precedence,
//! and Kea's subnet selection.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::error::ConfigError;
use super::event::RxMeta;
use super::pool::PoolMap;
use crate::config::{Dhcp4, HostId, OptionData};
use crate::wire::{Dhcp4Repr, code};

/// Kea's default `t1-percent` (used when `calculate-tee-times` is on).
pub const DEFAULT_T1_PERCENT: f64 = 0.5;
/// Kea's default `t2-percent`.
pub const DEFAULT_T2_PERCENT: f64 = 0.875;

/// One configured option, encoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Opt {
    pub(crate) code: u8,
    pub(crate) data: Vec<u8>,
    pub(crate) always_send: bool,
}

/// `base` overridden by `more` (the more specific level wins), sorted by code.
pub(crate) fn merge(base: &[Opt], more: &[OptionData]) -> Vec<Opt> {
    let mut out: Vec<Opt> = base.to_vec();
    for o in more {
        let new = Opt {
            code: o.code,
            data: o.data.clone(),
            always_send: o.always_send,
        };
        match out.iter_mut().find(|x| x.code == o.code) {
            Some(x) => *x = new,
            None => out.push(new),
        }
    }
    out.sort_by_key(|o| o.code);
    out
}

/// A host reservation.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) addr: Option<Ipv4Addr>,
    pub(crate) hostname: Option<String>,
    /// The reservation's own option-data (merged over the pool's at reply time).
    pub(crate) options: Vec<OptionData>,
}

/// A pool and its bitmap. A bit is "used" when the address has a lease in the store or is
/// reserved for a host.
#[derive(Debug, Clone)]
pub(crate) struct PoolState {
    pub(crate) map: PoolMap,
    /// The pool's `client-class` as a bit of [`Subnets::classes`]; `None`: every client.
    pub(crate) class_bit: Option<u64>,
    /// Global, subnet and pool option-data, merged.
    pub(crate) options: Vec<Opt>,
}

impl PoolState {
    /// Whether a client of `classes` may get an address of this pool.
    pub(crate) fn allows(&self, classes: u64) -> bool {
        self.class_bit.is_none_or(|b| classes & b != 0)
    }
}

/// A subnet, ready for the engine.
#[derive(Debug, Clone)]
pub(crate) struct SubnetState {
    pub(crate) id: u32,
    pub(crate) prefix: u32,
    pub(crate) len: u8,
    pub(crate) pools: Vec<PoolState>,
    /// Global and subnet option-data, merged (option 54 taken out).
    pub(crate) options: Vec<Opt>,
    pub(crate) relay: Vec<Ipv4Addr>,
    pub(crate) interface: Option<String>,
    pub(crate) valid: u32,
    pub(crate) min_valid: u32,
    pub(crate) max_valid: u32,
    pub(crate) t1: Option<u32>,
    pub(crate) t2: Option<u32>,
    pub(crate) calculate_tee_times: bool,
    pub(crate) t1_percent: f64,
    pub(crate) t2_percent: f64,
    pub(crate) match_client_id: bool,
    pub(crate) authoritative: bool,
    /// A configured server identifier (option-data code 54).
    pub(crate) server_id: Option<Ipv4Addr>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) hosts_hw: HashMap<Vec<u8>, usize>,
    pub(crate) hosts_cid: HashMap<Vec<u8>, usize>,
    pub(crate) reserved: HashMap<Ipv4Addr, usize>,
    /// The pool and address of the last dynamic allocation (Kea's iterative allocator).
    cursor: Option<(usize, u32)>,
}

impl SubnetState {
    pub(crate) fn contains(&self, addr: Ipv4Addr) -> bool {
        crate::config::mask(u32::from(addr), self.len) == self.prefix
    }

    pub(crate) fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(crate::config::mask(u32::MAX, self.len))
    }

    pub(crate) fn prefix_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.prefix)
    }

    /// The pool holding `addr`.
    pub(crate) fn pool_index(&self, addr: Ipv4Addr) -> Option<usize> {
        self.pools.iter().position(|p| p.map.contains(addr))
    }

    /// Whether `addr` is in a pool a client of `classes` may use (a pool with a
    /// `client-class` serves only the clients of that class, as Kea's).
    pub(crate) fn in_allowed_pool(&self, addr: Ipv4Addr, classes: u64) -> bool {
        self.pools
            .iter()
            .any(|p| p.map.contains(addr) && p.allows(classes))
    }

    /// The reservation of a client, by hardware address then by client identifier (Kea's
    /// default `host-reservation-identifiers` order).
    pub(crate) fn host_for(&self, hw: &[u8], client_id: Option<&[u8]>) -> Option<usize> {
        if self.hosts.is_empty() {
            return None;
        }
        if !hw.is_empty()
            && let Some(&h) = self.hosts_hw.get(hw)
        {
            return Some(h);
        }
        client_id.and_then(|c| self.hosts_cid.get(c).copied())
    }

    /// Kea's iterative allocator: the next free pool address after the last one handed out,
    /// across the pools in order, wrapping. Nothing is marked used.
    pub(crate) fn pick(&mut self, classes: u64) -> Option<Ipv4Addr> {
        let n = self.pools.len();
        let (start_pool, start_at) = match self.cursor {
            Some((p, a)) => (p, a.checked_add(1)),
            None => (0, None),
        };
        for k in 0..=n {
            let p = (start_pool + k) % n.max(1);
            let pool = self.pools.get(p)?;
            if !pool.allows(classes) {
                continue;
            }
            let from = match (k, start_at) {
                (0, Some(a)) => Ipv4Addr::from(a),
                (0, None) if self.cursor.is_some() => continue,
                _ => pool.map.first(),
            };
            if let Some(a) = pool.map.next_free_from(from) {
                self.cursor = Some((p, u32::from(a)));
                return Some(a);
            }
        }
        None
    }

    /// Number of addresses in the pools.
    pub(crate) fn total_addresses(&self) -> u64 {
        self.pools.iter().map(|p| u64::from(p.map.len())).sum()
    }
}

/// Every subnet, with an index from address to pool.
#[derive(Debug, Clone)]
pub(crate) struct Subnets {
    pub(crate) list: Vec<SubnetState>,
    by_id: HashMap<u32, usize>,
    /// (first, last, subnet index, pool index), sorted by first; pools never overlap.
    pools: Vec<(u32, u32, usize, usize)>,
    /// The distinct `client-class` names of the pools; a client's classes become a bit mask
    /// over this list ([`Subnets::class_mask`]).
    pub(crate) classes: Vec<String>,
}

/// The bit of class `name` in `classes`, added if new (at most 64 distinct pool classes).
fn class_bit(classes: &mut Vec<String>, name: &str) -> Result<u64, ConfigError> {
    let i = match classes.iter().position(|c| c == name) {
        Some(i) => i,
        None => {
            if classes.len() == 64 {
                return Err(ConfigError::TooManyPoolClasses);
            }
            classes.push(name.to_owned());
            classes.len() - 1
        }
    };
    Ok(1 << i)
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Subnets {
    pub(crate) fn build(cfg: &Dhcp4) -> Result<Self, ConfigError> {
        let global = merge(&[], &cfg.option_data);
        let mut list = Vec::with_capacity(cfg.subnets.len());
        let mut by_id = HashMap::new();
        let mut pools = Vec::new();
        let mut classes = Vec::new();
        for (si, s) in cfg.subnets.iter().enumerate() {
            if s.id == 0 {
                return Err(ConfigError::ZeroSubnetId {
                    prefix: s.prefix,
                    len: s.len,
                });
            }
            if by_id.insert(s.id, si).is_some() {
                return Err(ConfigError::DuplicateSubnetId { id: s.id });
            }
            let prefix = crate::config::mask(u32::from(s.prefix), s.len);
            let mut options = merge(&global, &s.option_data);
            let server_id = take_server_id(&mut options);
            let mut st_pools = Vec::with_capacity(s.pools.len());
            for (pi, p) in s.pools.iter().enumerate() {
                let (f, l) = (u32::from(p.first), u32::from(p.last));
                if crate::config::mask(f, s.len) != prefix
                    || crate::config::mask(l, s.len) != prefix
                {
                    return Err(ConfigError::PoolOutsideSubnet {
                        first: p.first,
                        last: p.last,
                        prefix: Ipv4Addr::from(prefix),
                        len: s.len,
                    });
                }
                let map = PoolMap::new(p.first, p.last).map_err(|reason| ConfigError::BadPool {
                    first: p.first,
                    last: p.last,
                    reason,
                })?;
                let mut popts = merge(&options, &p.option_data);
                take_server_id(&mut popts);
                let class_bit = match &p.client_class {
                    None => None,
                    Some(c) => Some(class_bit(&mut classes, c)?),
                };
                st_pools.push(PoolState {
                    map,
                    class_bit,
                    options: popts,
                });
                pools.push((f, l, si, pi));
            }
            let t = cfg.timers_for(s);
            let valid = t
                .valid_lifetime
                .unwrap_or(crate::config::DEFAULT_VALID_LIFETIME);
            let mut st = SubnetState {
                id: s.id,
                prefix,
                len: s.len,
                pools: st_pools,
                options,
                relay: s.relay.clone(),
                interface: s.interface.clone(),
                valid,
                min_valid: t.min_valid_lifetime.unwrap_or(valid),
                max_valid: t.max_valid_lifetime.unwrap_or(valid),
                t1: t.renew_timer,
                t2: t.rebind_timer,
                calculate_tee_times: t.calculate_tee_times.unwrap_or(false),
                t1_percent: t.t1_percent.unwrap_or(DEFAULT_T1_PERCENT),
                t2_percent: t.t2_percent.unwrap_or(DEFAULT_T2_PERCENT),
                match_client_id: s.match_client_id.or(cfg.match_client_id).unwrap_or(true),
                authoritative: s.authoritative.or(cfg.authoritative).unwrap_or(false),
                server_id,
                hosts: Vec::with_capacity(s.reservations.len()),
                hosts_hw: HashMap::new(),
                hosts_cid: HashMap::new(),
                reserved: HashMap::new(),
                cursor: None,
            };
            // `reservations-in-subnet: false` turns the subnet's reservations off.
            let in_subnet = s
                .reservation_flags
                .in_subnet
                .or(cfg.reservation_flags.in_subnet)
                .unwrap_or(true);
            let reservations = if in_subnet { &s.reservations[..] } else { &[] };
            for r in reservations {
                let hi = st.hosts.len();
                let (map, what, bytes) = match &r.id {
                    HostId::HwAddress(b) => (&mut st.hosts_hw, "HW address", b),
                    HostId::ClientId(b) => (&mut st.hosts_cid, "client-id", b),
                };
                if map.insert(bytes.clone(), hi).is_some() {
                    return Err(ConfigError::DuplicateHost {
                        what,
                        id: hex(bytes),
                        subnet_id: s.id,
                    });
                }
                if let Some(a) = r.ip_address {
                    if !st.contains(a) {
                        return Err(ConfigError::ReservationOutsideSubnet {
                            addr: a,
                            prefix: Ipv4Addr::from(prefix),
                            len: s.len,
                        });
                    }
                    if st.reserved.insert(a, hi).is_some() {
                        return Err(ConfigError::DuplicateReservedAddress {
                            subnet_id: s.id,
                            addr: a,
                        });
                    }
                    // Reserved addresses are never handed out dynamically.
                    for p in &mut st.pools {
                        p.map.take(a);
                    }
                }
                st.hosts.push(Host {
                    addr: r.ip_address,
                    hostname: r.hostname.clone(),
                    options: r.option_data.clone(),
                });
            }
            list.push(st);
        }
        pools.sort_unstable();
        for w in pools.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b.0 <= a.1 {
                return Err(ConfigError::OverlappingPools {
                    first: Ipv4Addr::from(b.0),
                    last: Ipv4Addr::from(b.1),
                    other_first: Ipv4Addr::from(a.0),
                    other_last: Ipv4Addr::from(a.1),
                    other_subnet: list[a.2].id,
                });
            }
        }
        Ok(Self {
            list,
            by_id,
            pools,
            classes,
        })
    }

    /// The mask of a client's classes over the pools' classes.
    pub(crate) fn class_mask<'c>(&self, names: impl IntoIterator<Item = &'c str>) -> u64 {
        let mut m = 0;
        for n in names {
            if let Some(i) = self.classes.iter().position(|c| c == n) {
                m |= 1 << i;
            }
        }
        m
    }

    pub(crate) fn index_of(&self, id: u32) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// The (subnet, pool) holding `addr`.
    pub(crate) fn pool_of(&self, addr: Ipv4Addr) -> Option<(usize, usize)> {
        let a = u32::from(addr);
        let i = self.pools.partition_point(|p| p.0 <= a);
        let &(_, last, s, p) = self.pools.get(i.checked_sub(1)?)?;
        (a <= last).then_some((s, p))
    }

    /// The first subnet (in configuration order) whose prefix holds `addr`, as Kea's
    /// `selectSubnet(address)`.
    pub(crate) fn containing(&self, addr: Ipv4Addr) -> Option<usize> {
        self.list.iter().position(|s| s.contains(addr))
    }

    /// Kea's subnet selection for a query (`CfgSubnets4::selectSubnet`):
    /// 1. the link-selection sub-option of option 82 (RFC 3527), else option 118 (RFC 3011);
    /// 2. `giaddr` against each subnet's `relay.ip-addresses`;
    /// 3. an address matched against the prefixes: `giaddr`, else `ciaddr` (unicast only),
    ///    else the source address (unicast only), else the interface: a subnet whose
    ///    `interface` is the receiving one, else the interface's addresses.
    pub(crate) fn select(&self, q: &Dhcp4Repr, meta: &RxMeta<'_>) -> Option<usize> {
        let link = q
            .options
            .relay_agent_info
            .as_ref()
            .and_then(|r| r.link_selection())
            .or(q.options.subnet_selection);
        if let Some(a) = link {
            return self.containing(a);
        }
        let gi = q.giaddr;
        if !gi.is_unspecified() {
            if let Some(i) = self.list.iter().position(|s| s.relay.contains(&gi)) {
                return Some(i);
            }
            return self.containing(gi);
        }
        let bcast = meta.arrived_broadcast();
        if !q.ciaddr.is_unspecified() && !bcast {
            return self.containing(q.ciaddr);
        }
        let src = *meta.src.ip();
        if !src.is_unspecified() && !bcast {
            return self.containing(src);
        }
        if let Some(i) = self
            .list
            .iter()
            .position(|s| s.interface.as_deref() == Some(meta.ifname))
        {
            return Some(i);
        }
        meta.if_addrs.iter().find_map(|a| self.containing(*a))
    }
}

/// Takes a configured server identifier (option 54) out of an option list.
fn take_server_id(opts: &mut Vec<Opt>) -> Option<Ipv4Addr> {
    let i = opts.iter().position(|o| o.code == code::SERVER_ID)?;
    let o = opts.remove(i);
    let b: [u8; 4] = o.data.as_slice().try_into().ok()?;
    Some(Ipv4Addr::from(b))
}
