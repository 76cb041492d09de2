//! Replies waiting for their lease changes to be safe: the durability hook.
//!
//! A reply that depends on lease changes (an ACK that wrote a lease) is *held* until every
//! required [`Gate`] has been passed for the last of those changes. The daemon passes
//! [`Gate::Persisted`] when the memfile rows up to a sequence number have reached the operating
//! system ([`Server::leases_persisted`](super::Server::leases_persisted)). The HA layer can
//! require [`Gate::PartnerAcked`] as well (Kea parks the reply until the partner acknowledged
//! the `lease4-update`) and pass it with
//! [`Server::release_gate`](super::Server::release_gate), or drop the reply with
//! [`Server::discard_held`](super::Server::discard_held) when the update failed.
//!
//! Gates are passed cumulatively ("every change up to `seq`"), as both a file append and an
//! in-order update stream naturally acknowledge. Replies that depend on no change (OFFER, NAK,
//! INFORM's ACK) are not held.

use std::collections::BTreeMap;

use super::event::Transmit;

/// A condition a held reply waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// The lease changes are durable (written to the memfile).
    Persisted,
    /// The HA partner acknowledged the lease updates.
    PartnerAcked,
}

impl Gate {
    const fn bit(self) -> u8 {
        match self {
            Self::Persisted => 1,
            Self::PartnerAcked => 2,
        }
    }
}

/// A set of gates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Gates(u8);

impl Gates {
    /// No gate: replies leave at once.
    pub const NONE: Self = Self(0);

    /// This set with `g` added.
    #[must_use]
    pub const fn with(self, g: Gate) -> Self {
        Self(self.0 | g.bit())
    }

    /// This set without `g`.
    #[must_use]
    pub const fn without(self, g: Gate) -> Self {
        Self(self.0 & !g.bit())
    }

    /// Whether `g` is in the set.
    pub const fn contains(self, g: Gate) -> bool {
        self.0 & g.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[derive(Debug)]
struct Held {
    pending: Gates,
    tx: Transmit,
}

/// Held replies by the sequence number of the last lease change they depend on.
#[derive(Debug, Default)]
pub(crate) struct HoldQueue {
    pub(crate) required: Gates,
    /// Per gate, every change up to this sequence number has passed it.
    passed: [u64; 2],
    held: BTreeMap<u64, Vec<Held>>,
    len: usize,
}

impl HoldQueue {
    pub(crate) fn new(required: Gates) -> Self {
        Self {
            required,
            ..Self::default()
        }
    }

    fn passed(&self, g: Gate) -> u64 {
        self.passed[usize::from(g.bit() - 1)]
    }

    /// Holds `tx` until the changes up to `seq` pass the required gates; returns it at once if
    /// they already have.
    pub(crate) fn hold(&mut self, seq: u64, tx: Transmit) -> Option<Transmit> {
        let mut pending = self.required;
        for g in [Gate::Persisted, Gate::PartnerAcked] {
            if self.passed(g) >= seq {
                pending = pending.without(g);
            }
        }
        if pending.is_empty() {
            return Some(tx);
        }
        self.held.entry(seq).or_default().push(Held { pending, tx });
        self.len += 1;
        None
    }

    /// Marks the changes up to `seq` as having passed `g`; pushes the replies this releases
    /// onto `out`, in sequence order.
    pub(crate) fn release(&mut self, g: Gate, seq: u64, out: &mut impl Extend<Transmit>) {
        let slot = &mut self.passed[usize::from(g.bit() - 1)];
        *slot = (*slot).max(seq);
        let mut done = Vec::new();
        for (&s, list) in self.held.range_mut(..=seq) {
            for h in list.iter_mut() {
                h.pending = h.pending.without(g);
            }
            if list.iter().any(|h| h.pending.is_empty()) {
                done.push(s);
            }
        }
        for s in done {
            if let Some(list) = self.held.remove(&s) {
                let (ready, wait): (Vec<Held>, Vec<Held>) =
                    list.into_iter().partition(|h| h.pending.is_empty());
                self.len -= ready.len();
                out.extend(ready.into_iter().map(|h| h.tx));
                if !wait.is_empty() {
                    self.held.insert(s, wait);
                }
            }
        }
    }

    /// Drops the replies held for changes up to `seq`; returns how many.
    pub(crate) fn discard(&mut self, seq: u64) -> usize {
        let keep = self.held.split_off(&(seq + 1));
        let dropped: usize = self.held.values().map(Vec::len).sum();
        self.held = keep;
        self.len -= dropped;
        dropped
    }

    pub(crate) const fn len(&self) -> usize {
        self.len
    }
}
