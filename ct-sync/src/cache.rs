//! The caches of a sync node: the **internal cache** (this node's conntracks and expectations,
//! fed by kernel events) and the **external cache** (the peer's, fed by received sync
//! messages), as conntrackd keeps them (`cache.c`, `internal_cache.c`, `external_cache.c`).
//!
//! # What identifies an entry
//! * A conntrack is identified by its **original tuple plus zone** ([`CtKey`]): layer-3
//!   addresses, layer-4 protocol, then ports (TCP, UDP, SCTP, DCCP, UDP-Lite) or ICMP type,
//!   code and identifier, and the conntrack zone. This is what conntrackd's hash
//!   (`cache_ct_hash`) and compare (`nfct_cmp(…, NFCT_CMP_ORIG)`) use; since 1.4.7 the
//!   conntrack id is not compared. Only the original tuple travels on the wire, so both ends
//!   derive the same key.
//! * An expectation is identified by its **master, expected and mask tuples** ([`ExpKey`]).
//!
//! # Entries
//! Each entry keeps the latest representation (what a message about it carries; a conntrack
//! in compact form, [`CtAttrs`]: the encoded attributes of its message), a status
//! ([`Status`]: NEW until the first update, ALIVE after one, DEAD once destroyed) and the
//! instants it was created and last updated. A DEAD entry of the internal cache stays until
//! its CT_DEL / EXP_DEL has been sent (and, in FTFW, acknowledged), exactly as conntrackd's
//! reference-counted objects do; dumps skip DEAD entries, as `conntrackd -i` does.
//!
//! # Bounds and counters
//! A cache holds at most `HashLimit` entries (DEAD ones included); an addition beyond that is
//! refused and counted ([`CacheStats::add_fail_enospc`]). [`CacheStats`] has the counters of
//! `conntrackd -s cache` ([`Cache::report`] hands them to [`crate::control`]'s text writers).
//!
//! Storage is a slab of entries indexed by a hash map keyed by the tuple (a fixed,
//! deterministic hasher: iteration and therefore bulk order is reproducible), so the sync
//! queues refer to entries by a small slot handle and the event path hashes once. The slab
//! grows in fixed chunks of [`SLAB_CHUNK`] slots, so growing never moves (copies) the entries
//! already held, and the index can be sized up front ([`Cache::with_capacity`], from
//! `HashSize`) so that it does not rehash while the table fills.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;
use std::time::Instant;

use crate::control::CacheReport;
use crate::ctnetlink::CommitEntry;
use crate::wire::{AttrIter, CtAttrId, CtRepr, EmitError, ExpRepr, ExpTuple, Pair, ParseOptions};

/// The layer-4 part of a conntrack's original tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Id {
    /// Source and destination ports (`NTA_PORT`).
    Ports(Pair<u16>),
    /// ICMP / ICMPv6 type, code and identifier (`NTA_ICMP_*`).
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// ICMP identifier.
        id: u16,
    },
    /// Neither ports nor ICMP fields (GRE, ESP, …): addresses and protocol only.
    None,
}

/// What identifies a conntrack in a cache: its original tuple and zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtKey {
    /// Original source and destination addresses.
    pub addrs: Pair<IpAddr>,
    /// Layer-4 protocol number (0 when the message has no `NTA_L4PROTO`).
    pub l4proto: u8,
    /// Ports or ICMP fields.
    pub l4: L4Id,
    /// Conntrack zone (0 when absent).
    pub zone: u16,
}

impl CtKey {
    /// The key of a conntrack; `None` when it has no original addresses (`NTA_IPV4` /
    /// `NTA_IPV6`), which no kernel event lacks.
    pub fn of(ct: &CtRepr) -> Option<Self> {
        let addrs = ct.orig_addrs()?;
        let l4 = if let Some(p) = ct.port {
            L4Id::Ports(p)
        } else if ct.icmp_type.is_some() || ct.icmp_code.is_some() || ct.icmp_id.is_some() {
            L4Id::Icmp {
                icmp_type: ct.icmp_type.unwrap_or(0),
                code: ct.icmp_code.unwrap_or(0),
                id: ct.icmp_id.unwrap_or(0),
            }
        } else {
            L4Id::None
        };
        Some(Self {
            addrs,
            l4proto: ct.l4proto.unwrap_or(0),
            l4,
            zone: ct.zone.unwrap_or(0),
        })
    }
}

/// What identifies an expectation in a cache: its master, expected and mask tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExpKey {
    /// The master conntrack's original tuple.
    pub master: ExpTuple,
    /// The expected tuple.
    pub expected: ExpTuple,
    /// The mask.
    pub mask: ExpTuple,
}

impl ExpKey {
    /// The key of an expectation; `None` when its master tuple has no addresses.
    pub fn of(exp: &ExpRepr) -> Option<Self> {
        if exp.master.ipv4.is_none() && exp.master.ipv6.is_none() {
            return None;
        }
        Some(Self {
            master: exp.master,
            expected: exp.expected,
            mask: exp.mask,
        })
    }
}

/// How a key is derived from what is cached.
pub trait CacheKey: Copy + Eq + Hash + fmt::Debug {
    /// The representation that goes in and comes out ([`Entry::repr`]).
    type Repr: fmt::Debug;
    /// The form an entry keeps it in.
    type Stored: fmt::Debug + Clone;
    /// The key of `repr`, if it has what identifies it.
    fn key_of(repr: &Self::Repr) -> Option<Self>;
}

impl CacheKey for CtKey {
    type Repr = CtRepr;
    type Stored = CtAttrs;
    fn key_of(repr: &CtRepr) -> Option<Self> {
        Self::of(repr)
    }
}

impl CacheKey for ExpKey {
    type Repr = ExpRepr;
    type Stored = ExpRepr;
    fn key_of(repr: &ExpRepr) -> Option<Self> {
        Self::of(repr)
    }
}

/// Encoded attributes up to this many bytes are kept inside the entry; longer ones (labels,
/// NAT with IPv6, …) on the heap.
const INLINE_ATTRS: usize = 94;

/// A cached conntrack in compact form: the attributes of its sync message (what CT_NEW /
/// CT_UPD / CT_DEL carry after the 8-byte header), encoded once. A conntrack from a kernel
/// event is encoded when it is cached (in emission order, so sending it is a copy); one
/// received from the peer is kept as the bytes that came, checked by the parser first.
/// [`repr`](Self::repr) decodes it. 96 bytes instead of a 320-byte [`CtRepr`].
#[derive(Clone)]
pub struct CtAttrs(AttrBytes);

#[derive(Clone)]
enum AttrBytes {
    Inline { len: u8, buf: [u8; INLINE_ATTRS] },
    Heap(Box<[u8]>),
}

impl CtAttrs {
    /// Encodes `ct`; fails as [`CtRepr::emit_attrs`] does (a helper name or labels a receiver
    /// would refuse).
    pub fn encode(ct: &CtRepr) -> Result<Self, EmitError> {
        ct.check_emit()?;
        let len = ct.attrs_len();
        if len <= INLINE_ATTRS {
            let mut buf = [0; INLINE_ATTRS];
            ct.emit_attrs_checked(&mut buf[..len]);
            // `len` ≤ INLINE_ATTRS < 256.
            Ok(Self(AttrBytes::Inline {
                len: len as u8,
                buf,
            }))
        } else {
            let mut v = vec![0; len];
            ct.emit_attrs_checked(&mut v);
            Ok(Self(AttrBytes::Heap(v.into_boxed_slice())))
        }
    }

    /// Keeps the attribute bytes of a received message as they are. They must be what `ct`
    /// was parsed from with [`ParseOptions::STRICT`], so that [`repr`](Self::repr) gives
    /// `ct` back.
    pub(crate) fn from_parsed(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_ATTRS => {
                let mut buf = [0; INLINE_ATTRS];
                buf[..bytes.len()].copy_from_slice(bytes);
                Self(AttrBytes::Inline { len, buf })
            }
            _ => Self(AttrBytes::Heap(bytes.into())),
        }
    }

    /// The attribute bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            AttrBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            AttrBytes::Heap(b) => b,
        }
    }

    /// The conntrack (decoded; the bytes were checked when they were cached).
    pub fn repr(&self) -> CtRepr {
        CtRepr::parse_attrs(AttrIter::new(self.as_bytes(), 0), &ParseOptions::STRICT)
            .unwrap_or_default()
    }

    /// Whether the conntrack is related to a master one (carries a master tuple,
    /// `NTA_MASTER_*`), without decoding it.
    pub fn is_related(&self) -> bool {
        AttrIter::new(self.as_bytes(), 0).flatten().any(|a| {
            [
                CtAttrId::MasterIpv4,
                CtAttrId::MasterIpv6,
                CtAttrId::MasterL4Proto,
                CtAttrId::MasterPort,
            ]
            .iter()
            .any(|m| m.id() == a.id)
        })
    }
}

/// A commit decodes each cached conntrack when it writes its create.
impl CommitEntry for &CtAttrs {
    fn conntrack(&self) -> Cow<'_, CtRepr> {
        Cow::Owned(self.repr())
    }

    fn has_master(&self) -> bool {
        AttrIter::new(self.as_bytes(), 0)
            .flatten()
            .any(|a| a.id == CtAttrId::MasterIpv4.id() || a.id == CtAttrId::MasterIpv6.id())
    }
}

impl fmt::Debug for CtAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.repr(), f)
    }
}

/// The status of a cached object (`C_OBJ_NEW`, `C_OBJ_ALIVE`, `C_OBJ_DEAD`). It chooses the
/// message type at transmit time: NEW → `*_NEW`, ALIVE → `*_UPD`, DEAD → `*_DEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Created and not updated since.
    New,
    /// Updated at least once.
    Alive,
    /// Destroyed; kept until its deletion has been sent (and acknowledged in FTFW).
    Dead,
}

/// Where an internal-cache object sits in the sync queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueMark {
    /// In no queue.
    Idle,
    /// In the tx queue (queued once, whatever the number of changes).
    Tx,
    /// In the FTFW resend queue, sent with this sequence number.
    Rs(u32),
}

/// One cached object.
#[derive(Debug, Clone)]
pub struct Entry<R> {
    stored: R,
    status: Status,
    created: Instant,
    updated: Instant,
    pub(crate) queue: QueueMark,
    /// ALARM: when the entry is refreshed (internal) or expires (external).
    pub(crate) timer: Option<Instant>,
}

impl Entry<CtAttrs> {
    /// The latest representation (decoded from the compact form).
    pub fn repr(&self) -> CtRepr {
        self.stored.repr()
    }

    /// The latest representation in its compact form: the attributes of its message.
    pub fn attrs(&self) -> &CtAttrs {
        &self.stored
    }
}

impl Entry<ExpRepr> {
    /// The latest representation.
    pub fn repr(&self) -> &ExpRepr {
        &self.stored
    }
}

impl<R> Entry<R> {
    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// When the entry was created.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the entry was last created or updated.
    pub fn updated(&self) -> Instant {
        self.updated
    }
}

/// A reference to a slab slot, invalidated when the entry is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Handle {
    idx: u32,
    generation: u32,
}

/// The counters of one cache, as `conntrackd -s cache` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Objects that are not DEAD ("current active connections").
    pub active: u64,
    /// Objects held, DEAD ones awaiting their deletion message included.
    pub objects: u64,
    /// Creations that succeeded.
    pub add_ok: u64,
    /// Creations that failed.
    pub add_fail: u64,
    /// … of which because the cache held `HashLimit` objects.
    pub add_fail_enospc: u64,
    /// Updates that succeeded.
    pub upd_ok: u64,
    /// Updates that failed.
    pub upd_fail: u64,
    /// Deletions (an object became DEAD or was removed while not DEAD).
    pub del_ok: u64,
    /// Deletions that failed.
    pub del_fail: u64,
    /// Times the cache was flushed.
    pub flush: u64,
}

#[derive(Debug, Clone)]
struct Slot<K, R> {
    generation: u32,
    item: Option<(K, Entry<R>)>,
}

/// A deterministic multiply-rotate hasher: fast on the small fixed-size keys of the caches,
/// and no per-process random seed, so iteration order (and bulk order) is reproducible.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TupleHasher(u64);

const HASH_K: u64 = 0x9e37_79b9_7f4a_7c15;

impl TupleHasher {
    #[inline]
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(HASH_K);
    }
}

impl Hasher for TupleHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in chunks.by_ref() {
            let mut a = [0; 8];
            a.copy_from_slice(c);
            self.mix(u64::from_le_bytes(a));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut a = [0; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(a));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Fold the high bits down: the table uses the low ones for the bucket.
        self.0 ^ (self.0 >> 29)
    }
}

type TupleMap<K> = HashMap<K, u32, BuildHasherDefault<TupleHasher>>;

/// Slots per slab chunk: a chunk is allocated whole when the previous one is full, and never
/// reallocated.
pub const SLAB_CHUNK: usize = 4096;
const CHUNK_SHIFT: u32 = SLAB_CHUNK.trailing_zeros();
const CHUNK_MASK: usize = SLAB_CHUNK - 1;

/// The slab: chunks of [`SLAB_CHUNK`] slots; every chunk but the last is full.
#[derive(Debug, Clone)]
struct Slab<K, R> {
    chunks: Vec<Vec<Slot<K, R>>>,
    len: usize,
}

impl<K, R> Slab<K, R> {
    const fn new() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn get(&self, idx: usize) -> Option<&Slot<K, R>> {
        self.chunks
            .get(idx >> CHUNK_SHIFT)
            .and_then(|c| c.get(idx & CHUNK_MASK))
    }

    #[inline]
    fn get_mut(&mut self, idx: usize) -> Option<&mut Slot<K, R>> {
        self.chunks
            .get_mut(idx >> CHUNK_SHIFT)
            .and_then(|c| c.get_mut(idx & CHUNK_MASK))
    }

    /// Appends a slot; returns its index.
    fn push(&mut self, slot: Slot<K, R>) -> usize {
        match self.chunks.last_mut() {
            Some(c) if c.len() < SLAB_CHUNK => c.push(slot),
            _ => {
                let mut c = Vec::with_capacity(SLAB_CHUNK);
                c.push(slot);
                self.chunks.push(c);
            }
        }
        self.len += 1;
        self.len - 1
    }

    fn iter(&self) -> impl Iterator<Item = &Slot<K, R>> + '_ {
        self.chunks.iter().flatten()
    }
}

/// One cache: conntracks ([`CtKey`] → [`CtRepr`]) or expectations ([`ExpKey`] → [`ExpRepr`]).
#[derive(Debug, Clone)]
pub struct Cache<K: CacheKey> {
    index: TupleMap<K>,
    slots: Slab<K, K::Stored>,
    free: Vec<u32>,
    limit: usize,
    stats: CacheStats,
}

/// The conntrack cache.
pub type CtCache = Cache<CtKey>;
/// The expectation cache.
pub type ExpCache = Cache<ExpKey>;

impl<K: CacheKey> Cache<K> {
    /// An empty cache holding at most `limit` objects (`HashLimit`).
    pub fn new(limit: usize) -> Self {
        Self::with_capacity(limit, 0)
    }

    /// An empty cache holding at most `limit` objects (`HashLimit`), sized for `capacity` of
    /// them (at most `limit`; conntrackd sizes its hash table from `HashSize`): the index has
    /// room for that many before it grows, and that many entry slots are allocated and
    /// written now, so that filling them later takes no page faults (about 200 bytes each).
    pub fn with_capacity(limit: usize, capacity: usize) -> Self {
        let capacity = capacity.min(limit).min(u32::MAX as usize);
        let mut slots = Slab::new();
        for _ in 0..capacity {
            slots.push(Slot {
                generation: 0,
                item: None,
            });
        }
        Self {
            index: TupleMap::with_capacity_and_hasher(capacity, Default::default()),
            slots,
            // Handed out in slab order.
            free: (0..capacity as u32).rev().collect(),
            limit,
            stats: CacheStats::default(),
        }
    }

    /// The most objects this cache holds.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Objects held (DEAD ones included).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    pub(crate) fn stats_mut(&mut self) -> &mut CacheStats {
        &mut self.stats
    }

    /// The entry for `key`.
    pub fn get(&self, key: &K) -> Option<&Entry<K::Stored>> {
        self.index
            .get(key)
            .and_then(|&i| self.slots.get(i as usize)?.item.as_ref())
            .map(|(_, e)| e)
    }

    /// The entry for the key of `repr`.
    pub fn get_by_repr(&self, repr: &K::Repr) -> Option<&Entry<K::Stored>> {
        K::key_of(repr).and_then(|k| self.get(&k))
    }

    /// Every object, in slab order (DEAD ones included).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Entry<K::Stored>)> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.item.as_ref().map(|(k, e)| (k, e)))
    }

    /// What `conntrackd -i` / `-e` shows: every object that is not DEAD.
    pub fn dump(&self) -> impl Iterator<Item = (&K, &Entry<K::Stored>)> + '_ {
        self.iter().filter(|(_, e)| e.status != Status::Dead)
    }

    /// The counters as the control protocol's `-s` / `-s cache` replies take them
    /// ([`crate::control::write_stats_cache`] prints them as conntrackd does).
    pub fn report(&self) -> CacheReport {
        let s = &self.stats;
        let n = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        CacheReport {
            objects: n(s.objects),
            active: n(s.active),
            entries: n(self.index.len() as u64),
            created: n(s.add_ok),
            create_failed: n(s.add_fail),
            create_failed_nomem: 0,
            create_failed_nospace: n(s.add_fail_enospc),
            updated: n(s.upd_ok),
            update_failed: n(s.upd_fail),
            update_failed_not_found: 0,
            destroyed: n(s.del_ok),
            destroy_failed: n(s.del_fail),
            destroy_failed_not_found: 0,
        }
    }

    pub(crate) fn find(&self, key: &K) -> Option<Handle> {
        let &idx = self.index.get(key)?;
        Some(Handle {
            idx,
            generation: self.slots.get(idx as usize)?.generation,
        })
    }

    pub(crate) fn entry(&self, h: Handle) -> Option<&Entry<K::Stored>> {
        match self.slots.get(h.idx as usize) {
            Some(Slot {
                generation,
                item: Some((_, e)),
            }) if *generation == h.generation => Some(e),
            _ => None,
        }
    }

    pub(crate) fn entry_mut(&mut self, h: Handle) -> Option<&mut Entry<K::Stored>> {
        match self.slots.get_mut(h.idx as usize) {
            Some(Slot {
                generation,
                item: Some((_, e)),
            }) if *generation == h.generation => Some(e),
            _ => None,
        }
    }

    /// Handles of every object, in slab order.
    pub(crate) fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.item.as_ref().map(|_| Handle {
                idx: i as u32,
                generation: s.generation,
            })
        })
    }

    /// Adds a NEW object (`cache_add`); refused when the cache is full.
    pub(crate) fn add(&mut self, now: Instant, key: K, stored: K::Stored) -> Option<Handle> {
        if self.index.len() >= self.limit {
            self.stats.add_fail += 1;
            self.stats.add_fail_enospc += 1;
            return None;
        }
        let entry = Entry {
            stored,
            status: Status::New,
            created: now,
            updated: now,
            queue: QueueMark::Idle,
            timer: None,
        };
        let (idx, generation) = match self.free.pop() {
            Some(i) => {
                let slot = self.slots.get_mut(i as usize)?;
                slot.item = Some((key, entry));
                (i, slot.generation)
            }
            None => {
                // The index is a u32: a cache never holds more (HashLimit is far below).
                let i = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 0,
                    item: Some((key, entry)),
                });
                (i, 0)
            }
        };
        self.index.insert(key, idx);
        self.stats.add_ok += 1;
        self.stats.active += 1;
        self.stats.objects += 1;
        Some(Handle { idx, generation })
    }

    /// Replaces the object's representation and makes it ALIVE (`cache_update`).
    pub(crate) fn update(&mut self, now: Instant, h: Handle, stored: K::Stored) {
        if let Some(e) = self.entry_mut(h) {
            e.stored = stored;
            e.updated = now;
            e.status = Status::Alive;
            self.stats.upd_ok += 1;
        }
    }

    /// Marks the object DEAD (`cache_object_set_status(C_OBJ_DEAD)`).
    pub(crate) fn set_dead(&mut self, h: Handle) {
        if let Some(e) = self.entry_mut(h)
            && e.status != Status::Dead
        {
            e.status = Status::Dead;
            self.stats.del_ok += 1;
            self.stats.active -= 1;
        }
    }

    /// Removes the object (`cache_del` + free) and returns it.
    pub(crate) fn remove(&mut self, h: Handle) -> Option<(K, Entry<K::Stored>)> {
        let slot = self.slots.get_mut(h.idx as usize)?;
        if slot.generation != h.generation || slot.item.is_none() {
            return None;
        }
        let (key, entry) = slot.item.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.idx);
        self.index.remove(&key);
        if entry.status != Status::Dead {
            self.stats.del_ok += 1;
            self.stats.active -= 1;
        }
        self.stats.objects -= 1;
        Some((key, entry))
    }

    /// Updates the object of `key`, or creates it when absent or DEAD
    /// (`cache_update_force`).
    pub(crate) fn update_force(
        &mut self,
        now: Instant,
        key: K,
        stored: K::Stored,
    ) -> Option<Handle> {
        if let Some(h) = self.find(&key) {
            if self.entry(h).is_some_and(|e| e.status != Status::Dead) {
                self.update(now, h, stored);
                return Some(h);
            }
            self.remove(h);
        }
        self.add(now, key, stored)
    }

    /// Removes every object.
    pub(crate) fn flush(&mut self) {
        let handles: Vec<Handle> = self.handles().collect();
        for h in handles {
            self.remove(h);
        }
        self.stats.flush += 1;
    }
}

impl Cache<CtKey> {
    /// The order in which a commit writes the cache into the kernel: master conntracks first,
    /// then related ones (those with a master tuple, `NTA_MASTER_*`), so that a related
    /// conntrack finds its master. DEAD objects are skipped.
    pub fn commit_order(&self) -> impl Iterator<Item = (&CtKey, &Entry<CtAttrs>)> + '_ {
        let masters = self.dump().filter(|(_, e)| !e.stored.is_related());
        let related = self.dump().filter(|(_, e)| e.stored.is_related());
        masters.chain(related)
    }
}

/// Whether a conntrack is related to a master one (carries a master tuple).
pub fn is_related(ct: &CtRepr) -> bool {
    ct.master_ipv4.is_some()
        || ct.master_ipv6.is_some()
        || ct.master_l4proto.is_some()
        || ct.master_port.is_some()
}

/// One node's (or its peer's) conntracks and expectations.
#[derive(Debug, Clone)]
pub struct Caches {
    /// Conntracks.
    pub ct: CtCache,
    /// Expectations.
    pub exp: ExpCache,
}

impl Caches {
    /// Empty caches of at most `limit` objects each.
    pub fn new(limit: usize) -> Self {
        Self::with_capacity(limit, 0)
    }

    /// Empty caches of at most `limit` objects each, the conntrack index with room for
    /// `ct_capacity` entries (`HashSize`) before it grows. Expectations are rare: their
    /// index starts empty.
    pub fn with_capacity(limit: usize, ct_capacity: usize) -> Self {
        Self {
            ct: Cache::with_capacity(limit, ct_capacity),
            exp: Cache::new(limit),
        }
    }
}

/// The internal cache: this node's conntracks and expectations, fed by kernel events.
pub type InternalCache = Caches;
/// The external cache: the peer's conntracks and expectations, fed by sync messages.
pub type ExternalCache = Caches;

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ct(i: u32) -> CtRepr {
        CtRepr {
            ipv4: Some(Pair::new(
                Ipv4Addr::from(0xc000_0200 | (i >> 16)),
                Ipv4Addr::new(198, 51, 100, 1),
            )),
            l4proto: Some(17),
            port: Some(Pair::new(i as u16, 53)),
            timeout: Some(i),
            ..CtRepr::default()
        }
    }

    fn put(c: &mut CtCache, now: Instant, ct: &CtRepr) -> Handle {
        let key = CtKey::of(ct).unwrap();
        c.add(now, key, CtAttrs::encode(ct).unwrap()).unwrap()
    }

    /// Across slab chunks: every entry is found again, removed slots are reused (same index,
    /// new generation, the old handle dead), iteration sees each live entry once.
    #[test]
    fn slab_chunks_and_reuse() {
        let now = Instant::now();
        let n = 2 * SLAB_CHUNK as u32 + 7;
        let mut c = CtCache::with_capacity(1 << 20, 100);
        let hs: Vec<Handle> = (0..n).map(|i| put(&mut c, now, &ct(i))).collect();
        assert_eq!(c.len(), n as usize);
        for i in [0, SLAB_CHUNK as u32 - 1, SLAB_CHUNK as u32, n - 1] {
            let e = c.get_by_repr(&ct(i)).unwrap();
            assert_eq!(e.repr(), ct(i));
            assert_eq!(c.entry(hs[i as usize]).map(|e| e.repr()), Some(ct(i)));
        }
        let victim = hs[SLAB_CHUNK + 3];
        assert!(c.remove(victim).is_some());
        assert!(
            c.entry(victim).is_none(),
            "a removed entry's handle is dead"
        );
        let h = put(&mut c, now, &ct(n));
        assert_eq!(h.idx, victim.idx, "the freed slot is reused");
        assert_ne!(h.generation, victim.generation);
        assert!(c.entry(victim).is_none());
        assert_eq!(c.iter().count(), n as usize);
        assert_eq!(c.handles().count(), n as usize);
        c.flush();
        assert!(c.is_empty());
        assert!(c.get_by_repr(&ct(1)).is_none());
    }

    /// Attributes longer than the inline room go to the heap and come back the same; the
    /// message bytes kept by a receiver decode to what was parsed from them.
    #[test]
    fn compact_form_inline_and_heap() {
        let small = ct(1);
        let big = CtRepr {
            labels: Some(vec![0xdead_beef; 40]),
            ..ct(2)
        };
        for c in [&small, &big] {
            let a = CtAttrs::encode(c).unwrap();
            assert_eq!(&a.repr(), c);
            assert_eq!(a.as_bytes().len(), c.attrs_len());
            let kept = CtAttrs::from_parsed(a.as_bytes());
            assert_eq!(kept.as_bytes(), a.as_bytes());
            assert_eq!(&kept.repr(), c);
        }
        assert!(matches!(
            CtAttrs::encode(&small).unwrap().0,
            AttrBytes::Inline { .. }
        ));
        assert!(matches!(
            CtAttrs::encode(&big).unwrap().0,
            AttrBytes::Heap(_)
        ));
        // A receiver would refuse empty labels: not cached.
        let bad = CtRepr {
            labels: Some(Vec::new()),
            ..ct(3)
        };
        assert!(CtAttrs::encode(&bad).is_err());
    }
}
