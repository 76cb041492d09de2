//! Sequence numbers (conntrackd's `network.c`): one send counter per node, and tracking of
//! the peer's numbers on receipt.
//!
//! Comparisons are modulo 2³² (`before` / `after`, as the kernel's TCP sequence macros): `a`
//! is before `b` when `a − b`, read as a signed 32-bit number, is negative. So tracking keeps
//! working when the counter wraps past `u32::MAX`.

/// Whether `a` comes before `b`, modulo 2³².
pub const fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Whether `a` comes after `b`, modulo 2³².
pub const fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// The send counter: every message sent, data or control, takes the next number.
///
/// conntrackd starts it at `time(NULL)` on the first send; the library never reads a clock,
/// so the daemon passes that base in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqCounter {
    next: u32,
}

impl SeqCounter {
    /// A counter whose first number is `base`.
    pub const fn new(base: u32) -> Self {
        Self { next: base }
    }

    /// The number the next message gets.
    pub const fn peek(&self) -> u32 {
        self.next
    }

    /// Takes the next number.
    pub fn take(&mut self) -> u32 {
        let s = self.next;
        self.next = s.wrapping_add(1);
        s
    }
}

/// Where a received sequence number stands (`nethdr_track_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqTrack {
    /// Nothing received yet (`SEQ_UNSET`).
    Unset,
    /// The expected number, last + 1 (`SEQ_IN_SYNC`).
    InSync,
    /// Past the expected number: messages were lost (`SEQ_AFTER`).
    After,
    /// Before the expected number: an old or replayed message (`SEQ_BEFORE`).
    Before,
}

/// Tracking of the peer's sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqTracker {
    last: Option<u32>,
}

impl SeqTracker {
    /// A tracker that has seen nothing.
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// Classifies `seq` without recording it.
    pub fn track(&self, seq: u32) -> SeqTrack {
        match self.last {
            None => SeqTrack::Unset,
            Some(last) => {
                let exp = last.wrapping_add(1);
                if seq == exp {
                    SeqTrack::InSync
                } else if after(seq, exp) {
                    SeqTrack::After
                } else {
                    SeqTrack::Before
                }
            }
        }
    }

    /// The number expected next (last + 1; 1 before anything was received, as conntrackd's
    /// zeroed `last_seq_recv` gives).
    pub fn expected(&self) -> u32 {
        self.last.unwrap_or(0).wrapping_add(1)
    }

    /// The last number recorded.
    pub fn last(&self) -> Option<u32> {
        self.last
    }

    /// Records `seq` as the last received (`nethdr_track_update_seq`).
    pub fn update(&mut self, seq: u32) {
        self.last = Some(seq);
    }

    /// Forgets everything (a fresh start).
    pub fn reset(&mut self) {
        self.last = None;
    }
}
