//! The lease-store trait and the in-memory store with its indexes.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use super::Lease4;

/// Where leases live. [`MemoryStore`] is the memfile backend's index; a database backend can
/// implement the same trait later.
pub trait LeaseStore {
    /// The lease of an address.
    fn get(&self, addr: Ipv4Addr) -> Option<&Lease4>;
    /// The leases of a hardware address in a subnet.
    fn by_hwaddr(&self, subnet_id: u32, hwaddr: &[u8]) -> Vec<&Lease4>;
    /// The leases of a client identifier in a subnet.
    fn by_client_id(&self, subnet_id: u32, client_id: &[u8]) -> Vec<&Lease4>;
    /// Adds or replaces the lease of `lease.addr`; returns the previous one.
    fn upsert(&mut self, lease: Lease4) -> Option<Lease4>;
    /// Removes the lease of an address; returns it.
    fn remove(&mut self, addr: Ipv4Addr) -> Option<Lease4>;
    /// Number of leases.
    fn len(&self) -> usize;
    /// Whether the store is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Up to `limit` leases in address order, starting after `from` (`None`: from the start);
    /// the paging of Kea's `lease4-get-page`.
    fn page(&self, from: Option<Ipv4Addr>, limit: usize) -> Vec<&Lease4>;
}

/// Leases indexed by address (ordered, for paging and compaction), hardware address and client
/// identifier (both per subnet). Every operation is O(log n) or O(1); nothing scans, and a
/// lookup by identifier borrows the bytes (no allocation per query).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    by_addr: BTreeMap<Ipv4Addr, Lease4>,
    by_hw: Index,
    by_cid: Index,
}

/// Identifier bytes → the (subnet, address) pairs holding a lease for it. A client has one
/// lease per subnet in practice, so the list is short.
type Index = HashMap<Vec<u8>, Vec<(u32, Ipv4Addr)>>;

fn index_add(map: &mut Index, subnet: u32, key: &[u8], addr: Ipv4Addr) {
    if key.is_empty() {
        return;
    }
    let v = match map.get_mut(key) {
        Some(v) => v,
        None => map.entry(key.to_vec()).or_default(),
    };
    if !v.contains(&(subnet, addr)) {
        v.push((subnet, addr));
    }
}

fn index_del(map: &mut Index, subnet: u32, key: &[u8], addr: Ipv4Addr) {
    if key.is_empty() {
        return;
    }
    if let Some(v) = map.get_mut(key) {
        v.retain(|e| *e != (subnet, addr));
        if v.is_empty() {
            map.remove(key);
        }
    }
}

impl MemoryStore {
    /// All leases in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Lease4> {
        self.by_addr.values()
    }

    fn unindex(&mut self, l: &Lease4) {
        index_del(&mut self.by_hw, l.subnet_id, &l.hwaddr, l.addr);
        index_del(&mut self.by_cid, l.subnet_id, &l.client_id, l.addr);
    }

    fn lookup<'a>(&'a self, map: &'a Index, subnet: u32, key: &[u8]) -> Vec<&'a Lease4> {
        map.get(key)
            .map(|v| {
                v.iter()
                    .filter(|(s, _)| *s == subnet)
                    .filter_map(|(_, a)| self.by_addr.get(a))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl LeaseStore for MemoryStore {
    fn get(&self, addr: Ipv4Addr) -> Option<&Lease4> {
        self.by_addr.get(&addr)
    }

    fn by_hwaddr(&self, subnet_id: u32, hwaddr: &[u8]) -> Vec<&Lease4> {
        self.lookup(&self.by_hw, subnet_id, hwaddr)
    }

    fn by_client_id(&self, subnet_id: u32, client_id: &[u8]) -> Vec<&Lease4> {
        self.lookup(&self.by_cid, subnet_id, client_id)
    }

    fn upsert(&mut self, lease: Lease4) -> Option<Lease4> {
        let prev = self.by_addr.remove(&lease.addr);
        if let Some(p) = &prev {
            self.unindex(p);
        }
        index_add(&mut self.by_hw, lease.subnet_id, &lease.hwaddr, lease.addr);
        index_add(
            &mut self.by_cid,
            lease.subnet_id,
            &lease.client_id,
            lease.addr,
        );
        self.by_addr.insert(lease.addr, lease);
        prev
    }

    fn remove(&mut self, addr: Ipv4Addr) -> Option<Lease4> {
        let prev = self.by_addr.remove(&addr)?;
        self.unindex(&prev);
        Some(prev)
    }

    fn len(&self) -> usize {
        self.by_addr.len()
    }

    fn page(&self, from: Option<Ipv4Addr>, limit: usize) -> Vec<&Lease4> {
        use std::ops::Bound::{Excluded, Unbounded};
        let lower = from.map_or(Unbounded, Excluded);
        self.by_addr
            .range((lower, Unbounded))
            .map(|(_, l)| l)
            .take(limit)
            .collect()
    }
}
