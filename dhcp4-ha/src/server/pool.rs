//! Address pools as free-address bitmaps: allocation stays fast however full the pool is.
//!
//! A [`PoolMap`] covers one contiguous range (`first ..= last`). One bit per address says
//! whether it is free, and a summary bit per 64-address word says whether that word has any
//! free address, so finding the next free address scans at most `len / 4096` summary words
//! (32 for a /15) instead of the leases. Allocation is Kea's iterative allocator: the next free
//! address after the last one handed out, wrapping at the end of the pool.

use std::net::Ipv4Addr;

/// Largest pool accepted: 2^24 addresses (a /8; 2 MiB of bitmap).
pub const MAX_POOL_LEN: u64 = 1 << 24;

/// Why a pool cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// `first` is after `last`.
    #[error("pool {first} - {last}: first address after last")]
    Reversed {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
    /// More than [`MAX_POOL_LEN`] addresses.
    #[error("pool {first} - {last} has more than {MAX_POOL_LEN} addresses")]
    TooLarge {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
}

/// The free / used state of every address of one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMap {
    first: u32,
    len: u32,
    /// Bit i of word w: address `first + 64 w + i` is free.
    words: Vec<u64>,
    /// Bit j of summary word s: `words[64 s + j] != 0`.
    summary: Vec<u64>,
    free: u32,
    /// Offset where the next search starts (after the last allocation).
    cursor: u32,
}

impl PoolMap {
    /// A pool with every address of `first ..= last` free.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, PoolError> {
        let (f, l) = (u32::from(first), u32::from(last));
        if f > l {
            return Err(PoolError::Reversed { first, last });
        }
        let len = u64::from(l - f) + 1;
        if len > MAX_POOL_LEN {
            return Err(PoolError::TooLarge { first, last });
        }
        // Bounded by MAX_POOL_LEN above.
        let len = len as u32;
        let nwords = len.div_ceil(64) as usize;
        let mut words = vec![u64::MAX; nwords];
        let tail = len % 64;
        if tail != 0 {
            words[nwords - 1] = (1u64 << tail) - 1;
        }
        let nsum = nwords.div_ceil(64);
        let mut summary = vec![u64::MAX; nsum];
        let stail = nwords % 64;
        if stail != 0 {
            summary[nsum - 1] = (1u64 << stail) - 1;
        }
        Ok(Self {
            first: f,
            len,
            words,
            summary,
            free: len,
            cursor: 0,
        })
    }

    /// First address.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first)
    }

    /// Last address.
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first + (self.len - 1))
    }

    /// Number of addresses.
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// Always false: a pool has at least one address.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Number of free addresses.
    pub const fn free_count(&self) -> u32 {
        self.free
    }

    /// Whether `addr` is in the pool.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.offset(addr).is_some()
    }

    fn offset(&self, addr: Ipv4Addr) -> Option<u32> {
        u32::from(addr)
            .checked_sub(self.first)
            .filter(|o| *o < self.len)
    }

    /// Whether `addr` is in the pool and free.
    pub fn is_free(&self, addr: Ipv4Addr) -> bool {
        self.offset(addr)
            .is_some_and(|o| self.words[(o / 64) as usize] & (1 << (o % 64)) != 0)
    }

    /// Marks `addr` used (a lease, a reservation, a declined address). Returns false when it
    /// is outside the pool or already used.
    pub fn take(&mut self, addr: Ipv4Addr) -> bool {
        let Some(o) = self.offset(addr) else {
            return false;
        };
        let w = (o / 64) as usize;
        let bit = 1u64 << (o % 64);
        if self.words[w] & bit == 0 {
            return false;
        }
        self.words[w] &= !bit;
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1u64 << (w % 64));
        }
        self.free -= 1;
        true
    }

    /// Marks `addr` free again (released, expired, reclaimed). Returns false when it is outside
    /// the pool or already free.
    pub fn release(&mut self, addr: Ipv4Addr) -> bool {
        let Some(o) = self.offset(addr) else {
            return false;
        };
        let w = (o / 64) as usize;
        let bit = 1u64 << (o % 64);
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.summary[w / 64] |= 1u64 << (w % 64);
        self.free += 1;
        true
    }

    /// The first free offset at or after `from` (no wrap).
    fn find_from(&self, from: u32) -> Option<u32> {
        if from >= self.len {
            return None;
        }
        let w = (from / 64) as usize;
        let here = self.words[w] & (u64::MAX << (from % 64));
        if here != 0 {
            return Some(w as u32 * 64 + here.trailing_zeros());
        }
        // The next non-empty word, through the summary.
        let next = w + 1;
        if next >= self.words.len() {
            return None;
        }
        let mut s = next / 64;
        let mut mask = self.summary[s] & (u64::MAX << (next % 64));
        loop {
            if mask != 0 {
                let word = s * 64 + mask.trailing_zeros() as usize;
                return Some(word as u32 * 64 + self.words[word].trailing_zeros());
            }
            s += 1;
            if s >= self.summary.len() {
                return None;
            }
            mask = self.summary[s];
        }
    }

    /// The next free address at or after `hint` (or the pool start), wrapping around; nothing
    /// is marked.
    pub fn next_free(&self, hint: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if self.free == 0 {
            return None;
        }
        let start = hint.and_then(|h| self.offset(h)).unwrap_or(0);
        self.find_from(start)
            .or_else(|| self.find_from(0))
            .map(|o| Ipv4Addr::from(self.first + o))
    }

    /// Kea's iterative allocation: takes the next free address after the previous allocation
    /// (wrapping), or `None` when the pool is full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let start = Ipv4Addr::from(self.first + self.cursor);
        let addr = self.next_free(Some(start))?;
        self.take(addr);
        let o = u32::from(addr) - self.first;
        self.cursor = if o + 1 >= self.len { 0 } else { o + 1 };
        Some(addr)
    }
}

impl PoolMap {
    /// The first free address at or after `from` (an address before the pool counts as its
    /// start), without wrapping; nothing is marked.
    pub fn next_free_from(&self, from: Ipv4Addr) -> Option<Ipv4Addr> {
        let f = u32::from(from);
        let start = f.saturating_sub(self.first);
        if f > self.first && start >= self.len {
            return None;
        }
        self.find_from(start)
            .map(|o| Ipv4Addr::from(self.first + o))
    }
}
