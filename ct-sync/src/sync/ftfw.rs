//! FTFW (`sync-ftfw.c`): the resend queue, the ACK window, NACKs and the HELLO handshake.

use std::collections::VecDeque;
use std::time::Instant;

use super::seq::{after, before};
use super::{ALIVE_INTERVAL, Core, Hdr, Obj, SeqTrack, SyncEvent, Verdict};
use crate::cache::QueueMark;
use crate::wire::{Flags, SeqRange};

/// The HELLO handshake, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hello {
    /// Nothing sent yet.
    Init,
    /// Saying HELLO on every message until a HELLO_BACK arrives.
    Say,
    /// HELLO_BACK received.
    Done,
}

/// An entry of the resend queue: a sent object (valid while its mark is `Rs(seq)`) or a sent
/// ACK / NACK / RESYNC.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RsItem {
    Obj(Obj, u32),
    Ctl {
        seq: u32,
        flags: Flags,
        range: SeqRange,
    },
}

impl RsItem {
    fn seq(&self) -> u32 {
        match *self {
            Self::Obj(_, seq) | Self::Ctl { seq, .. } => seq,
        }
    }

    fn is_live(&self, core: &Core) -> bool {
        match *self {
            Self::Obj(obj, seq) => core.mark(obj) == Some(QueueMark::Rs(seq)),
            Self::Ctl { .. } => true,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Ftfw {
    /// Sent entries in sending order (so in sequence order); objects re-queued since are left
    /// in place as stale entries and skipped.
    rs: VecDeque<RsItem>,
    rs_max: usize,
    window_size: u32,
    window: u32,
    ack_from: Option<u32>,
    hello: Hello,
    say_hello_back: bool,
    pub(crate) alive_at: Instant,
}

impl Ftfw {
    pub(crate) fn new(rs_max: usize, window_size: u32, now: Instant) -> Self {
        let window_size = window_size.max(1);
        Self {
            rs: VecDeque::new(),
            rs_max: rs_max.max(1),
            window_size,
            window: window_size,
            ack_from: None,
            hello: Hello::Init,
            say_hello_back: false,
            alive_at: now + ALIVE_INTERVAL,
        }
    }

    pub(crate) fn hello_done(&self) -> bool {
        self.hello == Hello::Done
    }

    /// `nethdr_set_hello`: the HELLO bits of the next message.
    pub(crate) fn take_hello_flags(&mut self) -> Flags {
        let mut f = Flags::EMPTY;
        if self.hello == Hello::Init {
            self.hello = Hello::Say;
        }
        if self.hello == Hello::Say {
            f |= Flags::HELLO;
        }
        if self.say_hello_back {
            f |= Flags::HELLO_BACK;
            self.say_hello_back = false;
        }
        f
    }

    /// `ftfw_recv`.
    pub(crate) fn recv(&mut self, core: &mut Core, h: &Hdr) -> Verdict {
        if h.flags.contains(Flags::HELLO_BACK) && self.hello == Hello::Say {
            self.hello = Hello::Done;
            core.event(SyncEvent::HelloBack);
        }
        let ret = if h.flags.contains(Flags::HELLO) {
            // The peer (re)started: it knows nothing of what we were waiting for.
            self.say_hello_back = true;
            core.event(SyncEvent::PeerHello { seq: h.seq });
            if let Some(from) = self.ack_from
                && before(h.seq, from)
            {
                self.window = self.window_size - 1;
                self.ack_from = Some(h.seq);
            }
            self.flush_rs(core);
            self.in_order(core, h)
        } else {
            let exp = core.rx.expected();
            match core.track(h.seq) {
                SeqTrack::Unset | SeqTrack::InSync => self.in_order(core, h),
                // Delayed or replayed: not accepted.
                SeqTrack::Before => Verdict::Drop,
                SeqTrack::After => {
                    let v = self.digest(core, h);
                    if v != Verdict::Bad {
                        if let Some(from) = self.ack_from.take() {
                            core.queue_ctl(
                                Flags::ACK,
                                Some(SeqRange {
                                    from,
                                    to: exp.wrapping_sub(1),
                                }),
                            );
                        }
                        let to = h.seq.wrapping_sub(1);
                        core.queue_ctl(Flags::NACK, Some(SeqRange { from: exp, to }));
                        core.event(SyncEvent::MessagesLost { from: exp, to });
                        // This message opens a new window.
                        self.window = self.window_size - 1;
                        self.ack_from = Some(h.seq);
                    }
                    v
                }
            }
        };
        if matches!(ret, Verdict::Data | Verdict::Ctl) {
            core.rx.update(h.seq);
        }
        ret
    }

    /// The in-sequence path: digest, then count the message in the ACK window.
    fn in_order(&mut self, core: &mut Core, h: &Hdr) -> Verdict {
        let v = self.digest(core, h);
        if v == Verdict::Bad {
            return v;
        }
        let from = *self.ack_from.get_or_insert(h.seq);
        self.window = self.window.saturating_sub(1);
        if self.window == 0 {
            core.queue_ctl(Flags::ACK, Some(SeqRange { from, to: h.seq }));
            self.window = self.window_size;
            self.ack_from = None;
        }
        v
    }

    /// `digest_msg`: data, or the control message's effect.
    fn digest(&mut self, core: &mut Core, h: &Hdr) -> Verdict {
        if h.is_data() {
            return Verdict::Data;
        }
        let range = h.range.unwrap_or_default();
        if h.is_ctl(Flags::ACK) {
            if before(range.to, range.from) {
                return Verdict::Bad;
            }
            self.rs_ack(core, range);
            Verdict::Ctl
        } else if h.is_ctl(Flags::NACK) {
            if before(range.to, range.from) {
                return Verdict::Bad;
            }
            core.event(SyncEvent::NackReceived {
                from: range.from,
                to: range.to,
            });
            self.rs_nack(core, range);
            Verdict::Ctl
        } else if h.is_ctl(Flags::RESYNC) {
            core.bulk();
            core.event(SyncEvent::ResyncRequested);
            Verdict::Ctl
        } else if h.is_ctl(Flags::ALIVE) {
            Verdict::Ctl
        } else {
            Verdict::Bad
        }
    }

    /// The index range of resend-queue entries within `[from, to]`: entries before `from`
    /// are skipped, the walk stops at the first one after `to` (the queue is in sequence
    /// order).
    fn rs_span(&self, r: SeqRange) -> (usize, usize) {
        let start = self
            .rs
            .iter()
            .position(|i| !before(i.seq(), r.from))
            .unwrap_or(self.rs.len());
        let len = self
            .rs
            .range(start..)
            .position(|i| after(i.seq(), r.to))
            .unwrap_or(self.rs.len() - start);
        (start, start + len)
    }

    /// ACK: forget the acknowledged entries (a DEAD object is freed).
    fn rs_ack(&mut self, core: &mut Core, r: SeqRange) {
        let (start, end) = self.rs_span(r);
        for item in self.rs.drain(start..end) {
            match item {
                RsItem::Obj(obj, _) if item.is_live(core) => core.release(obj),
                RsItem::Ctl { .. } => core.rs_live -= 1,
                RsItem::Obj(..) => {}
            }
        }
    }

    /// NACK: move the entries back to the tx queue; they are sent again with new sequence
    /// numbers and, for objects, their current state.
    fn rs_nack(&mut self, core: &mut Core, r: SeqRange) {
        let (start, end) = self.rs_span(r);
        let moved: Vec<RsItem> = self.rs.drain(start..end).collect();
        for item in moved {
            match item {
                RsItem::Obj(obj, _) if item.is_live(core) => core.enqueue(obj),
                RsItem::Ctl { flags, range, .. } => {
                    core.rs_live -= 1;
                    core.queue_ctl(flags, Some(range));
                }
                RsItem::Obj(..) => {}
            }
        }
    }

    /// Empties the resend queue (the peer restarted).
    fn flush_rs(&mut self, core: &mut Core) {
        for item in std::mem::take(&mut self.rs) {
            match item {
                RsItem::Obj(obj, _) if item.is_live(core) => core.release(obj),
                RsItem::Ctl { .. } => core.rs_live -= 1,
                RsItem::Obj(..) => {}
            }
        }
    }

    /// A sent entry joins the resend queue; when full, the oldest entries go.
    pub(crate) fn rs_push(&mut self, core: &mut Core, item: RsItem) {
        if let RsItem::Obj(obj, seq) = item {
            core.set_mark(obj, QueueMark::Rs(seq));
        }
        self.rs.push_back(item);
        core.rs_live += 1;
        while core.rs_live > self.rs_max {
            let Some(old) = self.rs.pop_front() else {
                break;
            };
            match old {
                RsItem::Obj(obj, _) if old.is_live(core) => {
                    core.release(obj);
                    core.stats.rs_dropped += 1;
                }
                RsItem::Ctl { .. } => {
                    core.rs_live -= 1;
                    core.stats.rs_dropped += 1;
                }
                RsItem::Obj(..) => {}
            }
        }
        // Stale entries (objects re-queued since) are dropped once they outnumber live ones.
        if self.rs.len() > 2 * core.rs_live + 1024 {
            let rs = std::mem::take(&mut self.rs);
            self.rs = rs.into_iter().filter(|i| i.is_live(core)).collect();
        }
    }

    /// The alive timer: ACK what was received and not acknowledged, else say ALIVE.
    pub(crate) fn on_timeout(&mut self, core: &mut Core, now: Instant) {
        if now < self.alive_at {
            return;
        }
        match (self.ack_from, core.rx.last()) {
            (Some(from), Some(last)) => {
                core.queue_ctl(Flags::ACK, Some(SeqRange { from, to: last }));
                self.ack_from = None;
            }
            _ => core.queue_ctl(Flags::ALIVE, None),
        }
        self.alive_at = now + ALIVE_INTERVAL;
    }
}
