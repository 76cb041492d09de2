//! The batched commit: creating many conntracks in the kernel with few system calls.
//!
//! [`CommitPlanner`] is a Sans-IO state machine. It writes batches of `IPCTNL_MSG_CT_NEW`
//! creates into a buffer ([`poll_transmit`](CommitPlanner::poll_transmit)), reads the kernel's
//! answers ([`handle_datagram`](CommitPlanner::handle_datagram)), and on `EEXIST` replaces the
//! existing conntrack with a delete followed by a create, as conntrackd's commit does. Masters
//! are committed before the conntracks related to them (`CTA_TUPLE_MASTER` needs the master in
//! the table).
//!
//! # Acknowledgements
//! Netlink handles the messages of one `send` in order and answers each request that fails
//! with an `NLMSG_ERROR` carrying its errno and sequence number; with `NLM_F_ACK` a success is
//! answered too (errno 0). Answers come back in request order, so an answer for sequence
//! number `s` also settles every earlier request still waiting: those succeeded (or their
//! error would have come first). [`AckMode::ErrorsOnly`] relies on that: only the last
//! message of each batch asks for an ACK, as a fence. At most
//! [`CommitConfig::max_in_flight`] requests are outstanding, so the answers always fit the
//! socket's receive buffer (an overflowing buffer drops answers: `ENOBUFS`, reported to
//! [`handle_overrun`](CommitPlanner::handle_overrun)).

extern crate alloc;

use alloc::borrow::Cow;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::build::{CommitOptions, write_create, write_delete};
use super::consts::{EEXIST, NLM_F_ACK, NLMSG_ERROR};
use super::error::{BuildError, ParseError};
use super::nla::NlMsgIter;
use crate::wire::CtRepr;

/// Which requests ask for an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckMode {
    /// `NLM_F_ACK` on every request (what libnetfilter_conntrack's `NFCT_Q_CREATE` does).
    PerMessage,
    /// `NLM_F_ACK` only on the last request of each batch; failures are answered anyway.
    ErrorsOnly,
}

/// Tuning of a [`CommitPlanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitConfig {
    /// How conntracks are turned into creates.
    pub options: CommitOptions,
    /// Which requests ask for an acknowledgement.
    pub ack: AckMode,
    /// Bytes per batch: [`poll_transmit`](CommitPlanner::poll_transmit) stops adding messages
    /// once a batch reaches this size (the last message may cross it).
    pub batch_bytes: usize,
    /// Requests sent and not yet answered, at most. Each answer takes about 1 KB of the
    /// socket's receive buffer (kernel accounting), so keep this below `SO_RCVBUF / 1024`.
    pub max_in_flight: usize,
    /// The sequence number of the first request.
    pub first_seq: u32,
}

impl Default for CommitConfig {
    fn default() -> Self {
        Self {
            options: CommitOptions::default(),
            ack: AckMode::ErrorsOnly,
            batch_bytes: 256 * 1024,
            max_in_flight: 8192,
            first_seq: 1,
        }
    }
}

/// What a request of the commit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitOp {
    /// The first create of an entry.
    Create,
    /// The delete of an existing conntrack that refused the create (`EEXIST`).
    Delete,
    /// The create after that delete.
    Recreate,
}

/// Why an entry was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitError {
    /// The kernel refused the request with this errno.
    Kernel(i32),
    /// The entry cannot be expressed as a create (never sent).
    Build(BuildError),
    /// The answer was lost in a receive-buffer overrun: the outcome is unknown.
    Unconfirmed,
}

/// An entry that was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitFailure {
    /// Index of the entry in the planner's input.
    pub entry: usize,
    /// The request that failed.
    pub op: CommitOp,
    /// Why.
    pub error: CommitError,
}

/// Counters of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Entries created by their first create.
    pub created: u64,
    /// Entries that existed and were replaced (delete + create).
    pub replaced: u64,
    /// Entries not committed ([`CommitPlanner::failures`] says why).
    pub failed: u64,
    /// Requests written.
    pub requests: u64,
    /// Batches written.
    pub batches: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u32,
    entry: u32,
    op: CommitOp,
}

/// The batched commit state machine; see the [module docs](self). The entries are anything
/// [`CommitEntry`]: conntracks (`&[CtRepr]`), references to them (`&[&CtRepr]`), or a
/// cache's compact forms (`&[&CtAttrs]`, decoded one at a time as the creates are written).
#[derive(Debug)]
pub struct CommitPlanner<'a, E = CtRepr> {
    entries: &'a [E],
    cfg: CommitConfig,
    /// 0: entries without a master; 1: related entries; 2: all written once.
    phase: u8,
    cursor: usize,
    replace: VecDeque<u32>,
    outstanding: VecDeque<Pending>,
    next_seq: u32,
    stats: CommitStats,
    failures: Vec<CommitFailure>,
    errnos: Vec<(i32, u64)>,
}

fn has_master(ct: &CtRepr) -> bool {
    ct.master_ipv4.is_some() || ct.master_ipv6.is_some()
}

/// An entry a [`CommitPlanner`] commits: a conntrack, borrowed ([`CtRepr`], `&CtRepr`) or
/// decoded when its create is written (a cache's compact
/// [`CtAttrs`](crate::cache::CtAttrs), so that a commit needs no decoded copy of the whole
/// cache).
pub trait CommitEntry {
    /// The conntrack.
    fn conntrack(&self) -> Cow<'_, CtRepr>;

    /// Whether it has a master tuple (`NTA_MASTER_IPV4` / `_IPV6`): committed after the
    /// conntracks without one.
    fn has_master(&self) -> bool {
        has_master(&self.conntrack())
    }
}

impl<T: AsRef<CtRepr>> CommitEntry for T {
    fn conntrack(&self) -> Cow<'_, CtRepr> {
        Cow::Borrowed(self.as_ref())
    }

    fn has_master(&self) -> bool {
        has_master(self.as_ref())
    }
}

impl<'a, E: CommitEntry> CommitPlanner<'a, E> {
    /// A commit of `entries` (at most `u32::MAX`; more are ignored).
    pub fn new(entries: &'a [E], cfg: CommitConfig) -> Self {
        let entries = &entries[..entries.len().min(u32::MAX as usize)];
        Self {
            entries,
            cfg: CommitConfig {
                max_in_flight: cfg.max_in_flight.max(2),
                ..cfg
            },
            phase: 0,
            cursor: 0,
            replace: VecDeque::new(),
            outstanding: VecDeque::new(),
            next_seq: cfg.first_seq,
            stats: CommitStats::default(),
            failures: Vec::new(),
            errnos: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> CommitStats {
        self.stats
    }

    /// Entries not committed, in the order the failures were learnt.
    pub fn failures(&self) -> &[CommitFailure] {
        &self.failures
    }

    /// How many answers carried each errno (failed deletes of a replacement included).
    pub fn errno_counts(&self) -> &[(i32, u64)] {
        &self.errnos
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether every entry is settled: committed, replaced or failed.
    pub fn is_done(&self) -> bool {
        self.phase >= 2 && self.replace.is_empty() && self.outstanding.is_empty()
    }

    /// The next entry of the current phase, advancing the cursor.
    fn next_entry(&mut self) -> Option<u32> {
        while self.phase < 2 {
            while self.cursor < self.entries.len() {
                let i = self.cursor;
                self.cursor += 1;
                if self.entries[i].has_master() == (self.phase == 1) {
                    return Some(i as u32);
                }
            }
            self.phase += 1;
            self.cursor = 0;
        }
        None
    }

    fn push(&mut self, entry: u32, op: CommitOp) {
        self.outstanding.push_back(Pending {
            seq: self.next_seq,
            entry,
            op,
        });
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stats.requests += 1;
    }

    fn fail(&mut self, entry: u32, op: CommitOp, error: CommitError) {
        self.stats.failed += 1;
        self.failures.push(CommitFailure {
            entry: entry as usize,
            op,
            error,
        });
    }

    /// Appends the next batch of requests to `buf` and returns how many were written (0 when
    /// nothing can be sent now: all written, or [`max_in_flight`](CommitConfig::max_in_flight)
    /// requests wait for answers). Send the appended bytes in one `send`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let start = buf.len();
        let mut written = 0;
        // Where the last message written starts: in errors-only mode it carries the fence ACK.
        let mut last = None;
        let ack = self.cfg.ack == AckMode::PerMessage;
        let opts = self.cfg.options;
        while buf.len() - start < self.cfg.batch_bytes {
            let room = self.cfg.max_in_flight - self.outstanding.len().min(self.cfg.max_in_flight);
            if let Some(&entry) = self.replace.front() {
                if room < 2 {
                    break;
                }
                self.replace.pop_front();
                let ct = self.entries[entry as usize].conntrack();
                let at = buf.len();
                // The entry was built once already, so neither can fail; checked all the same.
                let built = write_delete(buf, self.next_seq, &ct, ack).and_then(|_| {
                    write_create(buf, self.next_seq.wrapping_add(1), &ct, &opts, ack)
                });
                match built {
                    Ok(n) => {
                        self.push(entry, CommitOp::Delete);
                        self.push(entry, CommitOp::Recreate);
                        written += 2;
                        last = Some(buf.len() - n);
                    }
                    Err(e) => {
                        buf.truncate(at);
                        self.fail(entry, CommitOp::Recreate, CommitError::Build(e));
                    }
                }
                continue;
            }
            if room < 1 {
                break;
            }
            let Some(entry) = self.next_entry() else {
                break;
            };
            let at = buf.len();
            match write_create(
                buf,
                self.next_seq,
                &self.entries[entry as usize].conntrack(),
                &opts,
                ack,
            ) {
                Ok(_) => {
                    self.push(entry, CommitOp::Create);
                    written += 1;
                    last = Some(at);
                }
                Err(e) => self.fail(entry, CommitOp::Create, CommitError::Build(e)),
            }
        }
        if let (AckMode::ErrorsOnly, Some(at)) = (self.cfg.ack, last) {
            let flags = u16::from_ne_bytes([buf[at + 6], buf[at + 7]]) | NLM_F_ACK;
            buf[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
        }
        if written > 0 {
            self.stats.batches += 1;
        }
        written
    }

    /// Takes the answer to request `seq` (`errno` 0: success). Earlier requests still waiting
    /// are settled as successes (answers come in order). Returns false for a sequence number
    /// this commit is not waiting for.
    pub fn handle_answer(&mut self, seq: u32, errno: i32) -> bool {
        let Some(front) = self.outstanding.front() else {
            return false;
        };
        let idx = seq.wrapping_sub(front.seq) as usize;
        if idx >= self.outstanding.len() {
            return false;
        }
        for _ in 0..idx {
            if let Some(p) = self.outstanding.pop_front() {
                self.settle(p, 0);
            }
        }
        if let Some(p) = self.outstanding.pop_front() {
            self.settle(p, errno);
        }
        true
    }

    fn settle(&mut self, p: Pending, errno: i32) {
        if errno != 0 {
            match self.errnos.iter_mut().find(|(e, _)| *e == errno) {
                Some((_, n)) => *n += 1,
                None => self.errnos.push((errno, 1)),
            }
        }
        match (p.op, errno) {
            (CommitOp::Create, 0) => self.stats.created += 1,
            (CommitOp::Recreate, 0) => self.stats.replaced += 1,
            (CommitOp::Create, EEXIST) => self.replace.push_back(p.entry),
            // The conntrack went away by itself (expired): the recreate follows anyway.
            (CommitOp::Delete, _) => {}
            (op, e) => self.fail(p.entry, op, CommitError::Kernel(e)),
        }
    }

    /// Reads a datagram received on the commit socket: every `NLMSG_ERROR` in it is an answer
    /// ([`handle_answer`](Self::handle_answer)); other messages are ignored.
    pub fn handle_datagram(&mut self, data: &[u8]) -> Result<(), ParseError> {
        for m in NlMsgIter::new(data) {
            let m = m?;
            if m.ty == NLMSG_ERROR {
                let e = m.payload.get(..4).ok_or(ParseError::ShortError {
                    len: m.payload.len(),
                })?;
                let e = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
                self.handle_answer(m.seq, e.checked_neg().unwrap_or(i32::MAX));
            }
        }
        Ok(())
    }

    /// The socket reported a receive-buffer overrun (`ENOBUFS`): answers were dropped, so the
    /// outcome of every request still waiting is unknown. They are reported as failures
    /// ([`CommitError::Unconfirmed`]); a dump tells what the table holds.
    pub fn handle_overrun(&mut self) {
        while let Some(p) = self.outstanding.pop_front() {
            if p.op != CommitOp::Delete {
                self.fail(p.entry, p.op, CommitError::Unconfirmed);
            }
        }
    }
}
