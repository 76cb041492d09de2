//! FTFW (`sync-ftfw.c`): the resend queue, the ACK window, NACKs and the HELLO handshake.

use std::collections::VecDeque;
use std::time::Instant;

use super::seq::{after, before};
use super::{ALIVE_INTERVAL, Core, Hdr, Obj, SeqTrack, SyncEvent, TxItem, Verdict};
use crate::cache::QueueMark;
use crate::control::RsQueueEntry;
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
    /// [`SyncConfig::hold_until_handshake`](super::SyncConfig::hold_until_handshake).
    hold_enabled: bool,
    /// The peer's latest message carried HELLO (it has not heard our HELLO_BACK yet).
    peer_hello: bool,
    pub(crate) alive_at: Instant,
}

impl Ftfw {
    pub(crate) fn new(rs_max: usize, window_size: u32, hold_enabled: bool, now: Instant) -> Self {
        let window_size = window_size.max(1);
        Self {
            rs: VecDeque::new(),
            rs_max: rs_max.max(1),
            window_size,
            window: window_size,
            ack_from: None,
            hello: Hello::Init,
            say_hello_back: false,
            hold_enabled,
            peer_hello: true,
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
        let ret = self.recv_inner(core, h);
        if self.hold_enabled {
            self.peer_hello = h.flags.contains(Flags::HELLO);
            self.update_hold(core);
        }
        ret
    }

    /// [`SyncConfig::hold_until_handshake`](super::SyncConfig::hold_until_handshake): state
    /// messages wait while our HELLO is unanswered or the peer still says HELLO; once
    /// neither holds, what waited joins the tx queue.
    fn update_hold(&mut self, core: &mut Core) {
        let hold = self.hello != Hello::Done || self.peer_hello;
        if core.hold && !hold {
            core.tx.extend(core.held.drain(..).map(TxItem::Obj));
        }
        core.hold = hold;
    }

    fn recv_inner(&mut self, core: &mut Core, h: &Hdr) -> Verdict {
        let mut kicked = false;
        if h.flags.contains(Flags::HELLO_BACK) && self.hello == Hello::Say {
            self.hello = Hello::Done;
            core.event(SyncEvent::HelloBack);
            if self.hold_enabled {
                kicked = true;
                // Our next message no longer says HELLO: send it now, the peer may be
                // holding its data until it sees one.
                core.queue_ctl(Flags::ALIVE, None);
            }
        }
        let ret = if h.flags.contains(Flags::HELLO) {
            if self.hold_enabled && !self.say_hello_back && !kicked {
                // Answer now (the ALIVE carries HELLO_BACK), not at the next timer: data
                // waits for the handshake.
                core.queue_ctl(Flags::ALIVE, None);
            }
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

    /// The live entries of the resend queue, oldest first (`-s rsqueue`): objects re-queued
    /// or released since they were sent are not listed.
    pub(crate) fn rs_entries<'a>(
        &'a self,
        core: &'a Core,
    ) -> impl Iterator<Item = RsQueueEntry> + 'a {
        self.rs
            .iter()
            .filter(|i| i.is_live(core))
            .map(|i| match *i {
                RsItem::Obj(_, seq) => RsQueueEntry::Object { seq },
                RsItem::Ctl { seq, flags, .. } => RsQueueEntry::Control {
                    seq,
                    flags: flags.bits(),
                },
            })
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use crate::control::RsQueueEntry;
    use crate::sync::{ALIVE_INTERVAL, CtEvent, Origin, SyncConfig, SyncNode};
    use crate::wire::{CtRepr, Flags, Pair};

    fn ct(sport: u16) -> CtRepr {
        CtRepr {
            ipv4: Some(Pair::new(
                Ipv4Addr::new(192, 0, 2, 1),
                Ipv4Addr::new(198, 51, 100, 2),
            )),
            l4proto: Some(17),
            port: Some(Pair::new(sport, 53)),
            timeout: Some(30),
            ..CtRepr::default()
        }
    }

    fn drain(n: &mut SyncNode, now: Instant) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| n.poll_transmit(now)).collect()
    }

    /// Every message of the datagrams `ds`: (flags, is state data).
    fn flags_of(ds: &[Vec<u8>]) -> Vec<(u8, bool)> {
        ds.iter()
            .flat_map(|d| crate::wire::split(d))
            .map(|m| {
                let m = m.unwrap();
                (m.flags().bits(), m.msg_type() <= 5)
            })
            .collect()
    }

    /// Delivers what each side sends to the other until both are quiet; returns what `a`
    /// sent.
    fn exchange(a: &mut SyncNode, b: &mut SyncNode, now: Instant) -> Vec<Vec<u8>> {
        let mut from_a = Vec::new();
        for _ in 0..100 {
            let da = drain(a, now);
            let db = drain(b, now);
            if da.is_empty() && db.is_empty() {
                return from_a;
            }
            da.iter().for_each(|d| b.handle_datagram(now, d));
            db.iter().for_each(|d| a.handle_datagram(now, d));
            from_a.extend(da);
        }
        panic!("the peers never went quiet");
    }

    fn holding(seq_base: u32, now: Instant) -> SyncNode {
        let mut c = SyncConfig::ftfw(seq_base);
        c.hold_until_handshake = true;
        SyncNode::new(c, now)
    }

    #[test]
    fn hold_until_handshake_sends_state_only_after_hello_both_ways() {
        let t0 = Instant::now();
        let mut a = holding(1000, t0);
        let mut b = holding(5000, t0);
        for p in [40000, 40001, 40002] {
            a.handle_kernel_event(t0, CtEvent::New(ct(p)), Origin::NotMe);
        }
        // Only an ALIVE saying HELLO goes first; the conntracks wait.
        let first = drain(&mut a, t0);
        assert_eq!(
            flags_of(&first),
            [((Flags::ALIVE | Flags::HELLO).bits(), false)]
        );
        assert_eq!(a.pending_objects(), 3);
        first.iter().for_each(|d| b.handle_datagram(t0, d));
        let sent = exchange(&mut a, &mut b, t0);
        assert_eq!(
            b.external().ct.len(),
            3,
            "b got them once both sides were done"
        );
        assert!(a.hello_done() && b.hello_done());
        let data: Vec<u8> = flags_of(&sent)
            .into_iter()
            .filter(|&(_, data)| data)
            .map(|(f, _)| f)
            .collect();
        assert_eq!(data.len(), 3);
        assert!(
            data.iter().all(|f| f & Flags::HELLO.bits() == 0),
            "no state message said HELLO: {data:?}"
        );

        // The peer restarts: while it says HELLO, new state waits again.
        let mut b2 = holding(9000, t0);
        let t1 = t0 + ALIVE_INTERVAL;
        b2.handle_timeout(t1);
        let hello = drain(&mut b2, t1);
        hello.iter().for_each(|d| a.handle_datagram(t1, d));
        a.handle_kernel_event(t1, CtEvent::New(ct(40003)), Origin::NotMe);
        let out = drain(&mut a, t1);
        assert!(
            flags_of(&out).iter().all(|&(_, data)| !data),
            "no state message while the peer says HELLO"
        );
        out.iter().for_each(|d| b2.handle_datagram(t1, d));
        exchange(&mut a, &mut b2, t1);
        assert!(b2.external().ct.get_by_repr(&ct(40003)).is_some());
    }

    #[test]
    fn held_list_stays_bounded_while_the_peer_is_away() {
        let t0 = Instant::now();
        let mut a = holding(1000, t0);
        // The same tuple created again and again: each NEW replaces the cached object.
        for _ in 0..10_000 {
            a.handle_kernel_event(t0, CtEvent::New(ct(40000)), Origin::NotMe);
        }
        assert!(a.core.held.len() <= 1025, "{}", a.core.held.len());
        assert_eq!(a.pending_objects(), 1);
    }

    #[test]
    fn without_hold_state_goes_at_once_with_hello() {
        let t0 = Instant::now();
        let mut a = SyncNode::new(SyncConfig::ftfw(1000), t0);
        a.handle_kernel_event(t0, CtEvent::New(ct(40000)), Origin::NotMe);
        let out = drain(&mut a, t0);
        assert_eq!(flags_of(&out), [(Flags::HELLO.bits(), true)]);
    }

    #[test]
    fn rs_queue_lists_unacknowledged_entries_oldest_first() {
        let t0 = Instant::now();
        let mut a = SyncNode::new(SyncConfig::ftfw(1000), t0);
        let mut b = SyncNode::new(SyncConfig::ftfw(5000), t0);
        assert_eq!(a.rs_queue().count(), 0);
        for p in [40000, 40001, 40002] {
            a.handle_kernel_event(t0, CtEvent::New(ct(p)), Origin::NotMe);
        }
        let sent = drain(&mut a, t0);
        let objects = |seqs: &[u32]| -> Vec<RsQueueEntry> {
            seqs.iter()
                .map(|&seq| RsQueueEntry::Object { seq })
                .collect()
        };
        assert_eq!(
            a.rs_queue().collect::<Vec<_>>(),
            objects(&[1000, 1001, 1002])
        );
        assert_eq!(a.rs_queue().count(), a.rs_len());

        // An update re-queues the first object: it leaves the list until it is sent again,
        // then comes last with its new number.
        a.handle_kernel_event(t0, CtEvent::Update(ct(40000)), Origin::NotMe);
        assert_eq!(a.rs_queue().collect::<Vec<_>>(), objects(&[1001, 1002]));
        let resent = drain(&mut a, t0);
        assert_eq!(
            a.rs_queue().collect::<Vec<_>>(),
            objects(&[1001, 1002, 1003])
        );

        for d in sent.iter().chain(&resent) {
            b.handle_datagram(t0, d);
        }
        // b's alive timer acknowledges them; its ACK waits in b's own resend queue.
        let t1 = t0 + ALIVE_INTERVAL;
        b.handle_timeout(t1);
        let ack = drain(&mut b, t1);
        assert_eq!(
            b.rs_queue().collect::<Vec<_>>(),
            [RsQueueEntry::Control {
                seq: 5000,
                flags: Flags::ACK.bits()
            }]
        );
        for d in &ack {
            a.handle_datagram(t1, d);
        }
        assert_eq!(a.rs_queue().count(), 0, "everything acknowledged");
        assert_eq!(a.rs_len(), 0);

        let n = SyncNode::new(SyncConfig::notrack(1), t0);
        assert_eq!(n.rs_queue().count(), 0);
    }
}
