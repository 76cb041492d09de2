//! The lease-store trait and the in-memory store with its indexes.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
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
///
/// Memory per lease (see benches/scripts/dhcp4_perfdhcp.md, 1M leases): the lease is boxed, so
/// the address map's nodes hold 12 bytes per entry (the map fills its nodes about half when
/// leases arrive in address order, as a memfile has them), and each identifier index holds a
/// 64-bit keyed hash of (subnet, identifier) and the address, 16 bytes, instead of a copy of
/// the identifier and a list. A lookup checks every candidate's subnet and identifier against
/// the lease itself, so a hash collision costs a comparison, never a wrong answer.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    by_addr: BTreeMap<Ipv4Addr, Box<Lease4>>,
    by_hw: Index,
    by_cid: Index,
}

/// A 64-bit hash used as a key as it is (it is already a keyed SipHash).
#[derive(Debug, Clone, Copy, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in so that the hasher stays correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// (subnet, identifier bytes) → the addresses holding a lease for it, as a keyed hash → the
/// first address, and the further ones (rare: a client has one lease per subnet in practice)
/// in insertion order.
#[derive(Debug, Clone, Default)]
struct Index {
    keys: RandomState,
    first: PrehashedMap<Ipv4Addr>,
    more: PrehashedMap<Vec<Ipv4Addr>>,
}

impl Index {
    fn hash(&self, subnet: u32, key: &[u8]) -> u64 {
        self.keys.hash_one((subnet, key))
    }

    fn add(&mut self, subnet: u32, key: &[u8], addr: Ipv4Addr) {
        if key.is_empty() {
            return;
        }
        let h = self.hash(subnet, key);
        match self.first.entry(h) {
            Entry::Vacant(e) => {
                e.insert(addr);
            }
            Entry::Occupied(e) => {
                if *e.get() != addr {
                    let v = self.more.entry(h).or_default();
                    if !v.contains(&addr) {
                        v.push(addr);
                    }
                }
            }
        }
    }

    fn remove(&mut self, subnet: u32, key: &[u8], addr: Ipv4Addr) {
        if key.is_empty() {
            return;
        }
        let h = self.hash(subnet, key);
        let Entry::Occupied(mut first) = self.first.entry(h) else {
            return;
        };
        if *first.get() == addr {
            // The next one in insertion order moves up.
            match self.more.get_mut(&h) {
                Some(v) => {
                    *first.get_mut() = v.remove(0);
                    if v.is_empty() {
                        self.more.remove(&h);
                    }
                }
                None => {
                    first.remove();
                }
            }
        } else if let Some(v) = self.more.get_mut(&h) {
            v.retain(|a| *a != addr);
            if v.is_empty() {
                self.more.remove(&h);
            }
        }
    }

    /// The addresses indexed under the hash of (subnet, key), in insertion order; some may
    /// belong to another identifier with the same hash (the caller checks).
    fn candidates<'a>(
        &'a self,
        subnet: u32,
        key: &[u8],
    ) -> impl Iterator<Item = Ipv4Addr> + use<'a> {
        let h = if key.is_empty() {
            None
        } else {
            Some(self.hash(subnet, key))
        };
        let first = h.and_then(|h| self.first.get(&h)).copied();
        let more = h
            .and_then(|h| self.more.get(&h))
            .map_or(&[][..], Vec::as_slice);
        first.into_iter().chain(more.iter().copied())
    }
}

impl MemoryStore {
    /// All leases in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Lease4> {
        self.by_addr.values().map(|l| &**l)
    }

    fn unindex(&mut self, l: &Lease4) {
        self.by_hw.remove(l.subnet_id, &l.hwaddr, l.addr);
        self.by_cid.remove(l.subnet_id, &l.client_id, l.addr);
    }

    fn lookup<'a>(
        &'a self,
        index: &'a Index,
        subnet: u32,
        key: &[u8],
        field: fn(&Lease4) -> &[u8],
    ) -> Vec<&'a Lease4> {
        index
            .candidates(subnet, key)
            .filter_map(|a| self.by_addr.get(&a))
            .map(|l| &**l)
            .filter(|l| l.subnet_id == subnet && field(l) == key)
            .collect()
    }
}

impl LeaseStore for MemoryStore {
    fn get(&self, addr: Ipv4Addr) -> Option<&Lease4> {
        self.by_addr.get(&addr).map(|l| &**l)
    }

    fn by_hwaddr(&self, subnet_id: u32, hwaddr: &[u8]) -> Vec<&Lease4> {
        self.lookup(&self.by_hw, subnet_id, hwaddr, |l| &l.hwaddr)
    }

    fn by_client_id(&self, subnet_id: u32, client_id: &[u8]) -> Vec<&Lease4> {
        self.lookup(&self.by_cid, subnet_id, client_id, |l| &l.client_id)
    }

    fn upsert(&mut self, lease: Lease4) -> Option<Lease4> {
        let addr = lease.addr;
        let prev = match self.by_addr.get_mut(&addr) {
            // A renewal or an update: the lease is replaced in its box.
            Some(slot) => Some(std::mem::replace(&mut **slot, lease)),
            None => {
                self.by_addr.insert(addr, Box::new(lease));
                None
            }
        };
        if let Some(p) = &prev {
            self.unindex(p);
        }
        if let Some(l) = self.by_addr.get(&addr) {
            self.by_hw.add(l.subnet_id, &l.hwaddr, addr);
            self.by_cid.add(l.subnet_id, &l.client_id, addr);
        }
        prev
    }

    fn remove(&mut self, addr: Ipv4Addr) -> Option<Lease4> {
        let prev = self.by_addr.remove(&addr)?;
        self.unindex(&prev);
        Some(*prev)
    }

    fn len(&self) -> usize {
        self.by_addr.len()
    }

    fn page(&self, from: Option<Ipv4Addr>, limit: usize) -> Vec<&Lease4> {
        use std::ops::Bound::{Excluded, Unbounded};
        let lower = from.map_or(Unbounded, Excluded);
        self.by_addr
            .range((lower, Unbounded))
            .map(|(_, l)| &**l)
            .take(limit)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(last: u8, subnet: u32, hw: &[u8], cid: &[u8]) -> Lease4 {
        let mut l = Lease4::new(Ipv4Addr::new(192, 0, 2, last));
        l.subnet_id = subnet;
        l.hwaddr = hw.to_vec();
        l.client_id = cid.to_vec();
        l
    }

    fn addrs(v: &[&Lease4]) -> Vec<u8> {
        v.iter().map(|l| l.addr.octets()[3]).collect()
    }

    #[test]
    fn identifiers_find_leases_per_subnet_in_insertion_order() {
        let hw = [2, 0, 0, 0, 0, 1];
        let mut s = MemoryStore::default();
        s.upsert(lease(30, 1, &hw, b"c1"));
        s.upsert(lease(10, 1, &hw, b""));
        s.upsert(lease(20, 1, &hw, b"c1"));
        s.upsert(lease(40, 2, &hw, b"c1"));
        assert_eq!(addrs(&s.by_hwaddr(1, &hw)), [30, 10, 20]);
        assert_eq!(addrs(&s.by_hwaddr(2, &hw)), [40]);
        assert_eq!(addrs(&s.by_client_id(1, b"c1")), [30, 20]);
        assert!(s.by_hwaddr(3, &hw).is_empty());
        assert!(
            s.by_client_id(1, b"").is_empty(),
            "empty ids are not indexed"
        );
        assert!(s.by_hwaddr(1, &[]).is_empty());
        // Removing the first one moves the next one up; the order stays.
        s.remove(Ipv4Addr::new(192, 0, 2, 30));
        assert_eq!(addrs(&s.by_hwaddr(1, &hw)), [10, 20]);
        assert_eq!(addrs(&s.by_client_id(1, b"c1")), [20]);
        // An update that changes the identifier moves the lease between keys, and a renewal
        // (same identifiers) puts it last, as a new insertion would.
        s.upsert(lease(10, 1, &[2, 0, 0, 0, 0, 2], b""));
        assert_eq!(addrs(&s.by_hwaddr(1, &hw)), [20]);
        assert_eq!(addrs(&s.by_hwaddr(1, &[2, 0, 0, 0, 0, 2])), [10]);
        s.upsert(lease(50, 1, &hw, b""));
        s.upsert(lease(20, 1, &hw, b"c1"));
        assert_eq!(addrs(&s.by_hwaddr(1, &hw)), [50, 20]);
        for a in [10, 20, 40, 50] {
            s.remove(Ipv4Addr::new(192, 0, 2, a));
        }
        assert!(s.is_empty());
        assert!(s.by_hw.first.is_empty() && s.by_hw.more.is_empty());
        assert!(s.by_cid.first.is_empty() && s.by_cid.more.is_empty());
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_the_lease() {
        // Force every identifier onto one hash bucket: lookups still answer exactly.
        let mut s = MemoryStore::default();
        let hw1 = [2, 0, 0, 0, 0, 1];
        let hw2 = [2, 0, 0, 0, 0, 2];
        s.upsert(lease(10, 1, &hw1, b""));
        s.upsert(lease(11, 1, &hw2, b""));
        let h1 = s.by_hw.hash(1, &hw1);
        let h2 = s.by_hw.hash(1, &hw2);
        // Re-file the second lease under the first one's hash, as a collision would.
        s.by_hw.first.remove(&h2);
        s.by_hw
            .more
            .entry(h1)
            .or_default()
            .push(Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(addrs(&s.by_hwaddr(1, &hw1)), [10]);
        let mut both = s.by_hw.candidates(1, &hw1).collect::<Vec<_>>();
        both.sort();
        assert_eq!(both.len(), 2, "both addresses share the bucket");
        // The lease of hw1 is found and nothing of hw2 leaks into its answer.
        s.remove(Ipv4Addr::new(192, 0, 2, 10));
        assert!(s.by_hwaddr(1, &hw1).is_empty());
    }

    #[test]
    fn clone_keeps_the_index_keys() {
        let mut s = MemoryStore::default();
        s.upsert(lease(10, 1, &[2, 0, 0, 0, 0, 1], b"x"));
        let c = s.clone();
        assert_eq!(addrs(&c.by_hwaddr(1, &[2, 0, 0, 0, 0, 1])), [10]);
        assert_eq!(addrs(&c.by_client_id(1, b"x")), [10]);
        assert_eq!(c.iter().count(), 1);
    }
}
