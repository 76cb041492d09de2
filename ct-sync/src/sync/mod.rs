//! The sync modes (conntrackd's `sync-ftfw.c`, `sync-notrack.c`, `sync-alarm.c` and the
//! common `sync-mode.c` / `network.c`), Sans-IO.
//!
//! One [`SyncNode`] is one conntrackd sync process: its two caches
//! ([`internal`](SyncNode::internal) and [`external`](SyncNode::external)), its tx queue, its
//! sequence numbers and the state of its mode (FTFW, NOTRACK or ALARM). Like quinn-proto's
//! `Connection`, it only reacts to what it is given:
//!
//! * in: [`handle_datagram`](SyncNode::handle_datagram) (a received datagram),
//!   [`handle_kernel_event`](SyncNode::handle_kernel_event) /
//!   [`handle_kernel_exp_event`](SyncNode::handle_kernel_exp_event) (ctnetlink events, with
//!   their [`Origin`]), [`handle_command`](SyncNode::handle_command) (`conntrackd -n`, `-B`,
//!   `-f`), [`handle_timeout`](SyncNode::handle_timeout);
//! * out: [`poll_transmit`](SyncNode::poll_transmit) (datagrams of at most `MTU − 29` bytes),
//!   [`poll_timeout`](SyncNode::poll_timeout), [`poll_event`](SyncNode::poll_event).
//!
//! The caller drains `poll_transmit` after every `handle_*` call; that is conntrackd's "run
//! the tx queue after every event-loop turn". Under light load one message goes per datagram,
//! under load the datagrams fill up.
//!
//! # Modes
//! * **FTFW**: state-based reliable delivery. A changed object is queued once and its message
//!   is built at transmit time from its current state (type from its [`Status`]); sent
//!   objects and sent ACK / NACK / RESYNC go to a resend queue (`ResendQueueSize`, oldest
//!   dropped silently when full) until acknowledged; a gap in the peer's numbers is answered
//!   with `ACK[ack_from, exp−1]` and `NACK[exp, seq−1]`; a NACK moves the entries back to the
//!   tx queue (resent with new numbers); an ACK is sent every `ACKWindowSize` in-order
//!   messages and by the 1 s alive timer; HELLO rides on every message until a HELLO_BACK
//!   arrives.
//! * **NOTRACK**: best effort; ALIVE after 1 s idle; RESYNC honoured.
//! * **ALARM**: no control messages; every internal object is re-sent every
//!   `random(1..RefreshTime)` s + 0.2-1 s; external objects expire after `CacheTimeout`.
//!
//! # Example: two FTFW nodes
//! ```
//! use std::time::{Duration, Instant};
//! use ct_sync::sync::{CtEvent, Origin, SyncConfig, SyncNode};
//! use ct_sync::wire::{CtRepr, Pair};
//!
//! let t0 = Instant::now();
//! let mut a = SyncNode::new(SyncConfig::ftfw(1000), t0);
//! let mut b = SyncNode::new(SyncConfig::ftfw(5000), t0);
//! let ct = CtRepr {
//!     ipv4: Some(Pair::new("192.0.2.1".parse()?, "198.51.100.2".parse()?)),
//!     l4proto: Some(17),
//!     port: Some(Pair::new(40000, 53)),
//!     timeout: Some(30),
//!     ..CtRepr::default()
//! };
//! a.handle_kernel_event(t0, CtEvent::New(ct.clone()), Origin::NotMe);
//! while let Some(d) = a.poll_transmit(t0) {
//!     b.handle_datagram(t0, &d);
//! }
//! assert_eq!(b.external().ct.get_by_repr(&ct).map(|e| e.repr()), Some(ct));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod alarm;
mod ftfw;
mod notrack;
pub mod seq;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cache::{Cache, CacheKey, Caches, CtAttrs, CtKey, ExpKey, Handle, QueueMark, Status};
use crate::config::{ConntrackdConf, Mode, Transport};
use crate::control::{ChannelReport, NetworkReport, RsQueueEntry};
use crate::wire::{
    Batcher, Body, CtRepr, ExpRepr, Flags, Message, MessageRepr, MsgType, Op, PROTOCOL_VERSION,
    ParseError, ParseOptions, SeqRange, split, tcp_payload_limit, udp_payload_limit,
};

pub use seq::{SeqCounter, SeqTrack, SeqTracker, after, before};

/// The alive / ACK timer of FTFW and NOTRACK (`ALIVE_INT`).
pub const ALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Default `ResendQueueSize`.
pub const DEFAULT_RESEND_QUEUE_SIZE: usize = 131_072;
/// Default `ACKWindowSize`.
pub const DEFAULT_ACK_WINDOW_SIZE: u32 = 300;
/// Default `HashLimit`.
pub const DEFAULT_HASH_LIMIT: usize = 262_144;
/// Default `HashSize`.
pub const DEFAULT_HASH_SIZE: usize = 65_536;
/// Most events held for [`SyncNode::poll_event`]; beyond, new ones are counted in
/// [`NetStats::events_dropped`] and dropped.
pub const MAX_EVENTS: usize = 65_536;

/// The mode and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ModeConfig {
    /// FTFW.
    Ftfw {
        /// `ResendQueueSize`: the most entries the resend queue holds.
        resend_queue_size: usize,
        /// `ACKWindowSize`: an ACK after this many in-order messages.
        ack_window_size: u32,
    },
    /// NOTRACK.
    Notrack,
    /// ALARM.
    Alarm {
        /// `RefreshTime`: each object is re-sent within `1..=RefreshTime` s (+ 0.2-1 s).
        refresh_time: Duration,
        /// `CacheTimeout`: an external object not refreshed for this long is removed.
        cache_timeout: Duration,
    },
}

/// What a [`SyncNode`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// The mode.
    pub mode: ModeConfig,
    /// Largest datagram payload: [`udp_payload_limit`]`(mtu)` for UDP and multicast (1471 at
    /// MTU 1500), [`tcp_payload_limit`]`(mtu)` for TCP.
    pub payload_limit: usize,
    /// `HashLimit`: the most objects each cache holds.
    pub hash_limit: usize,
    /// `HashSize`: the conntrack caches are sized for this many entries up front (at most
    /// `hash_limit`; [`Cache::with_capacity`]): no rehash and no page fault while they fill,
    /// for about 200 bytes of memory per entry and cache, taken at start-up. 0 (the
    /// constructors' default; [`from_conf`](Self::from_conf) takes conntrackd.conf's):
    /// grown on demand.
    pub hash_size: usize,
    /// The first sequence number (conntrackd uses `time(NULL)` at start-up).
    pub seq_base: u32,
    /// Seed of the ALARM refresh jitter.
    pub seed: u64,
    /// `DisableExternalCache`: received state is not cached but handed out as
    /// [`SyncEvent::InjectCt`] / [`SyncEvent::InjectExp`] to write into the kernel.
    pub disable_external_cache: bool,
    /// `CommitTimeout` is set: the TIMEOUT attribute is not sent.
    pub omit_timeout: bool,
    /// FTFW: state messages wait in the tx queue until the HELLO handshake is over both ways
    /// (our HELLO answered with HELLO_BACK, and the peer's latest message without HELLO);
    /// meanwhile only control messages go, and an ALIVE is sent at once to start (or answer)
    /// the handshake. Until then a lost state message would go unnoticed (the peer takes a
    /// HELLO message without a gap check) or could not be resent (the peer's HELLO empties
    /// the resend queue). Off (the default, and conntrackd's behaviour): state messages go
    /// from the first one on, carrying HELLO. Not a wire change: a conntrackd peer sees an
    /// ordinary start-up.
    pub hold_until_handshake: bool,
}

impl SyncConfig {
    fn with_mode(mode: ModeConfig, seq_base: u32) -> Self {
        Self {
            mode,
            payload_limit: udp_payload_limit(1500),
            hash_limit: DEFAULT_HASH_LIMIT,
            hash_size: 0,
            seq_base,
            seed: 0x5eed,
            disable_external_cache: false,
            omit_timeout: false,
            hold_until_handshake: false,
        }
    }

    /// FTFW with conntrackd's defaults over UDP at MTU 1500.
    pub fn ftfw(seq_base: u32) -> Self {
        Self::with_mode(
            ModeConfig::Ftfw {
                resend_queue_size: DEFAULT_RESEND_QUEUE_SIZE,
                ack_window_size: DEFAULT_ACK_WINDOW_SIZE,
            },
            seq_base,
        )
    }

    /// NOTRACK over UDP at MTU 1500.
    pub fn notrack(seq_base: u32) -> Self {
        Self::with_mode(ModeConfig::Notrack, seq_base)
    }

    /// ALARM with `RefreshTime` and `CacheTimeout` over UDP at MTU 1500.
    pub fn alarm(seq_base: u32, refresh_time: Duration, cache_timeout: Duration) -> Self {
        Self::with_mode(
            ModeConfig::Alarm {
                refresh_time,
                cache_timeout,
            },
            seq_base,
        )
    }

    /// The settings of a conntrackd.conf `Sync` section for a link of `mtu` (the transport of
    /// its default channel chooses the datagram limit). `None` without a `Sync` section.
    pub fn from_conf(conf: &ConntrackdConf, mtu: usize, seq_base: u32, seed: u64) -> Option<Self> {
        let sync = conf.sync.as_ref()?;
        let (mode, common) = match &sync.mode {
            Mode::Ftfw(f) => (
                ModeConfig::Ftfw {
                    resend_queue_size: f.resend_queue_size as usize,
                    ack_window_size: f.ack_window_size.max(1),
                },
                &f.common,
            ),
            Mode::Notrack(n) => (ModeConfig::Notrack, &n.common),
            Mode::Alarm(a) => (
                ModeConfig::Alarm {
                    refresh_time: a.refresh_time,
                    cache_timeout: a.cache_timeout,
                },
                &a.common,
            ),
        };
        let tcp = sync
            .channels
            .get(sync.default)
            .is_some_and(|c| c.transport == Transport::Tcp);
        Some(Self {
            mode,
            payload_limit: if tcp {
                tcp_payload_limit(mtu)
            } else {
                udp_payload_limit(mtu)
            },
            hash_limit: conf.general.hash_limit as usize,
            hash_size: conf.general.hash_size as usize,
            seq_base,
            seed,
            disable_external_cache: common.disable_external_cache,
            omit_timeout: common.commit_timeout.is_some(),
            hold_until_handshake: false,
        })
    }
}

/// A conntrack event from the kernel (ctnetlink NEW / UPDATE / DESTROY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtEvent {
    /// A new conntrack.
    New(CtRepr),
    /// A conntrack changed.
    Update(CtRepr),
    /// A conntrack is gone (only its tuple matters: the deletion carries the cached state).
    Destroy(CtRepr),
}

/// An expectation event from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpEvent {
    /// A new expectation.
    New(ExpRepr),
    /// An expectation changed.
    Update(ExpRepr),
    /// An expectation is gone.
    Destroy(ExpRepr),
}

/// Who caused a kernel event (`origin.c`): conntrackd does not re-send what it wrote itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The kernel or another process (`CTD_ORIGIN_NOT_ME`): cached and sent.
    NotMe,
    /// This node's commit of the external cache (`CTD_ORIGIN_COMMIT`): cached, not sent.
    Commit,
    /// This node's direct inject with `DisableExternalCache` (`CTD_ORIGIN_INJECT`): ignored.
    Inject,
}

/// A request from the operator (conntrackd's client flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `-n`: ask the peer to send its whole internal cache (a RESYNC message).
    RequestResync,
    /// `-B`: send the whole internal cache to the peer.
    SendBulk,
    /// `-f internal`: empty the internal cache.
    FlushInternal,
    /// `-f external`: empty the external cache.
    FlushExternal,
}

impl Command {
    /// conntrackd's name for the request.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RequestResync => "request resync",
            Self::SendBulk => "send bulk",
            Self::FlushInternal => "flush internal cache",
            Self::FlushExternal => "flush external cache",
        }
    }
}

/// A command the mode does not support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{command} is not supported in {mode} mode")]
pub struct CommandError {
    /// The command's name.
    pub command: &'static str,
    /// The mode's name.
    pub mode: &'static str,
}

/// Why a received message was counted as malformed (`-s network`'s lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The datagram walk stopped (`Truncated message` / `Bad message size`).
    Walk(ParseError),
    /// A version other than 1 (`Wrong protocol version`).
    BadVersion(u8),
    /// Flags or type the mode rejects, or an ACK / NACK range that ends before it starts
    /// (`Malformed header`).
    BadHeader {
        /// Type nibble.
        msg_type: u8,
        /// Flags.
        flags: Flags,
    },
    /// Not a state message type (`Bad message type`).
    BadType(u8),
    /// Attributes rejected (`Malformed payload`).
    BadPayload(ParseError),
}

/// Something that happened, for the daemon to log or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// FTFW: the peer said HELLO (it started or restarted): its sequence numbers are taken
    /// afresh and our resend queue was emptied; the next message carries HELLO_BACK.
    PeerHello {
        /// Sequence number of the HELLO.
        seq: u32,
    },
    /// FTFW: the peer answered our HELLO with HELLO_BACK; we stop saying HELLO.
    HelloBack,
    /// The peer sent RESYNC: the whole internal cache was queued.
    ResyncRequested,
    /// A gap in the peer's sequence numbers: messages `from..=to` were lost (FTFW asked for
    /// them again with a NACK).
    MessagesLost {
        /// First missing number.
        from: u32,
        /// Last missing number.
        to: u32,
    },
    /// FTFW: the peer asked for `from..=to` again.
    NackReceived {
        /// First number asked for.
        from: u32,
        /// Last number asked for.
        to: u32,
    },
    /// A received message was dropped as malformed.
    Malformed(Malformed),
    /// `DisableExternalCache`: write this conntrack into the kernel now.
    InjectCt {
        /// Create, update or delete.
        op: Op,
        /// The conntrack.
        ct: Box<CtRepr>,
    },
    /// `DisableExternalCache`: write this expectation into the kernel now.
    InjectExp {
        /// Create, update or delete.
        op: Op,
        /// The expectation.
        exp: Box<ExpRepr>,
    },
}

/// The counters of `conntrackd -s network` (plus a few of this implementation's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetStats {
    /// Messages sent, data and control.
    pub msg_sent: u64,
    /// Messages received (walked out of a datagram).
    pub msg_rcv: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_rcv: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_rcv: u64,
    /// Received messages dropped as malformed (the sum of the five below).
    pub malformed: u64,
    /// … wrong protocol version.
    pub bad_version: u64,
    /// … header the mode rejects.
    pub bad_header: u64,
    /// … attributes rejected.
    pub bad_payload: u64,
    /// … not a state message type.
    pub bad_type: u64,
    /// … the datagram ended inside a header or message.
    pub truncated: u64,
    /// … a length field out of range.
    pub bad_size: u64,
    /// Objects whose message could not be built (send-side "Malformed messages").
    pub msg_snd_malformed: u64,
    /// "Packets lost" as conntrackd counts it: `seq − last + 1` per gap (two more than the
    /// messages actually missing).
    pub lost: u64,
    /// Messages actually missing: `seq − last − 1` per gap.
    pub lost_exact: u64,
    /// "Packets before": old or replayed numbers.
    pub before: u64,
    /// FTFW: resend-queue entries dropped because the queue was full.
    pub rs_dropped: u64,
    /// Events dropped because [`MAX_EVENTS`] were waiting.
    pub events_dropped: u64,
}

impl NetStats {
    /// The counters as the control protocol's `-s network` reply takes them, with the
    /// daemon's `channel` (socket counters and link); [`crate::control::write_stats_network`]
    /// prints them as conntrackd does.
    pub fn report(&self, channel: ChannelReport) -> NetworkReport {
        let n = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        NetworkReport {
            rcv_malformed: self.malformed,
            rcv_bad_version: n(self.bad_version),
            rcv_bad_header: n(self.bad_header),
            rcv_bad_payload: n(self.bad_payload),
            rcv_bad_type: n(self.bad_type),
            rcv_truncated: n(self.truncated),
            rcv_bad_size: n(self.bad_size),
            snd_malformed: n(self.msg_snd_malformed),
            rcv_lost: self.lost,
            rcv_before: self.before,
            channel,
        }
    }
}

/// An internal-cache object in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Obj {
    Ct(Handle),
    Exp(Handle),
}

/// An entry of the tx queue.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TxItem {
    Obj(Obj),
    Ctl {
        flags: Flags,
        range: Option<SeqRange>,
    },
}

/// What the mode's receive routine says about a message (`MSG_DATA`, `MSG_CTL`, `MSG_DROP`,
/// `MSG_BAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Data,
    Ctl,
    Drop,
    Bad,
}

/// The header fields the modes look at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hdr {
    pub(crate) msg_type: u8,
    pub(crate) flags: Flags,
    pub(crate) seq: u32,
    pub(crate) range: Option<SeqRange>,
}

impl Hdr {
    /// `IS_DATA`: a state message type with no flags but HELLO / HELLO_BACK.
    pub(crate) fn is_data(&self) -> bool {
        MsgType::from_number(self.msg_type).is_some_and(MsgType::is_data)
            && Flags::DATA_ALLOWED.contains(self.flags)
    }

    /// A control message with `flag` (`IS_ACK`, `IS_NACK`, `IS_RESYNC`, `IS_ALIVE`).
    pub(crate) fn is_ctl(&self, flag: Flags) -> bool {
        self.msg_type == MsgType::Ctl.number() && self.flags.intersects(flag)
    }
}

/// What every mode shares: caches, tx queue, sequence numbers, counters, events.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) internal: Caches,
    pub(crate) external: Caches,
    pub(crate) tx: VecDeque<TxItem>,
    pub(crate) batcher: Batcher,
    pub(crate) seq: SeqCounter,
    pub(crate) rx: SeqTracker,
    pub(crate) stats: NetStats,
    pub(crate) events: VecDeque<SyncEvent>,
    /// Live entries of the FTFW resend queue (objects whose mark is `Rs`, and control
    /// messages).
    pub(crate) rs_live: usize,
    pub(crate) disable_external_cache: bool,
    pub(crate) omit_timeout: bool,
    /// FTFW with [`SyncConfig::hold_until_handshake`]: objects queued now wait in `held`.
    pub(crate) hold: bool,
    /// Objects queued while `hold` (marked `Tx`), in queueing order.
    pub(crate) held: VecDeque<Obj>,
    /// The first object was held: send an ALIVE (with HELLO) now rather than at the timer.
    pub(crate) kick: bool,
}

impl Core {
    pub(crate) fn event(&mut self, ev: SyncEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    fn malformed(&mut self, m: Malformed) {
        self.stats.malformed += 1;
        match &m {
            Malformed::Walk(ParseError::Truncated { .. }) => self.stats.truncated += 1,
            Malformed::Walk(_) => self.stats.bad_size += 1,
            Malformed::BadVersion(_) => self.stats.bad_version += 1,
            Malformed::BadHeader { .. } => self.stats.bad_header += 1,
            Malformed::BadType(_) => self.stats.bad_type += 1,
            Malformed::BadPayload(_) => self.stats.bad_payload += 1,
        }
        self.event(SyncEvent::Malformed(m));
    }

    /// `nethdr_track_seq`: classifies a received number and counts gaps and old numbers.
    pub(crate) fn track(&mut self, seq: u32) -> SeqTrack {
        let t = self.rx.track(seq);
        match t {
            SeqTrack::After => {
                let last = self.rx.last().unwrap_or(0);
                let gap = seq.wrapping_sub(last);
                self.stats.lost += u64::from(gap.wrapping_add(1));
                self.stats.lost_exact += u64::from(gap.wrapping_sub(1));
            }
            SeqTrack::Before => self.stats.before += 1,
            SeqTrack::Unset | SeqTrack::InSync => {}
        }
        t
    }

    pub(crate) fn mark(&self, obj: Obj) -> Option<QueueMark> {
        match obj {
            Obj::Ct(h) => self.internal.ct.entry(h).map(|e| e.queue),
            Obj::Exp(h) => self.internal.exp.entry(h).map(|e| e.queue),
        }
    }

    pub(crate) fn set_mark(&mut self, obj: Obj, mark: QueueMark) {
        let e = match obj {
            Obj::Ct(h) => self.internal.ct.entry_mut(h).map(|e| &mut e.queue),
            Obj::Exp(h) => self.internal.exp.entry_mut(h).map(|e| &mut e.queue),
        };
        if let Some(q) = e {
            *q = mark;
        }
    }

    fn status(&self, obj: Obj) -> Option<Status> {
        match obj {
            Obj::Ct(h) => self.internal.ct.entry(h).map(|e| e.status()),
            Obj::Exp(h) => self.internal.exp.entry(h).map(|e| e.status()),
        }
    }

    /// Queues an object once (`*_enqueue` / `do_cache_to_tx`): an object waiting in the
    /// resend queue moves to the tx queue.
    pub(crate) fn enqueue(&mut self, obj: Obj) {
        match self.mark(obj) {
            None | Some(QueueMark::Tx) => {}
            Some(m) => {
                if let QueueMark::Rs(_) = m {
                    self.rs_live -= 1;
                }
                self.set_mark(obj, QueueMark::Tx);
                if self.hold {
                    self.kick |= self.held.is_empty();
                    self.held.push_back(obj);
                    // Objects replaced or flushed while held leave stale handles behind: keep
                    // the list within a bound of the caches' size.
                    let live = self.internal.ct.len() + self.internal.exp.len();
                    if self.held.len() > 2 * live + 1024 {
                        let held = std::mem::take(&mut self.held);
                        self.held = held
                            .into_iter()
                            .filter(|&o| self.mark(o) == Some(QueueMark::Tx))
                            .collect();
                    }
                } else {
                    self.tx.push_back(TxItem::Obj(obj));
                }
            }
        }
    }

    pub(crate) fn queue_ctl(&mut self, flags: Flags, range: Option<SeqRange>) {
        self.tx.push_back(TxItem::Ctl { flags, range });
    }

    /// Queues every internal object, conntracks then expectations.
    pub(crate) fn bulk(&mut self) {
        let cts: Vec<Handle> = self.internal.ct.handles().collect();
        for h in cts {
            self.enqueue(Obj::Ct(h));
        }
        let exps: Vec<Handle> = self.internal.exp.handles().collect();
        for h in exps {
            self.enqueue(Obj::Exp(h));
        }
    }

    /// Removes an internal object, keeping the resend-queue count right.
    pub(crate) fn remove_obj(&mut self, obj: Obj) {
        if let Some(QueueMark::Rs(_)) = self.mark(obj) {
            self.rs_live -= 1;
        }
        match obj {
            Obj::Ct(h) => {
                self.internal.ct.remove(h);
            }
            Obj::Exp(h) => {
                self.internal.exp.remove(h);
            }
        }
    }

    /// The object left the queues (sent, or acknowledged): a DEAD one is freed.
    pub(crate) fn release(&mut self, obj: Obj) {
        if let Some(QueueMark::Rs(_)) = self.mark(obj) {
            self.rs_live -= 1;
        }
        self.set_mark(obj, QueueMark::Idle);
        if self.status(obj) == Some(Status::Dead) {
            self.remove_obj(obj);
        }
    }

    /// Emits the object's current state into the batcher with the next sequence number.
    fn emit_obj(&mut self, obj: Obj, flags: Flags) -> Option<(Option<Vec<u8>>, u32)> {
        let seq = self.seq.peek();
        let pushed = match obj {
            Obj::Ct(h) => {
                let e = self.internal.ct.entry(h)?;
                self.batcher
                    .push_ct_attrs(flags, seq, op_of(e.status()), e.attrs().as_bytes())
            }
            Obj::Exp(h) => {
                let e = self.internal.exp.entry(h)?;
                let msg = MessageRepr {
                    flags,
                    seq,
                    body: Body::Exp {
                        op: op_of(e.status()),
                        exp: *e.repr(),
                    },
                };
                self.batcher.push_repr(&msg)
            }
        };
        match pushed {
            Ok(full) => {
                self.seq.take();
                self.stats.msg_sent += 1;
                Some((full, seq))
            }
            Err(_) => {
                self.stats.msg_snd_malformed += 1;
                None
            }
        }
    }

    fn emit_ctl(&mut self, flags: Flags, range: Option<SeqRange>) -> (Option<Vec<u8>>, u32) {
        let seq = self.seq.take();
        let msg = MessageRepr {
            flags,
            seq,
            body: Body::Ctl { range },
        };
        self.stats.msg_sent += 1;
        // A control message is 8 or 16 bytes and always emits; only a limit below 16 fails.
        let full = self.batcher.push_repr(&msg).unwrap_or_else(|_| {
            self.stats.msg_snd_malformed += 1;
            None
        });
        (full, seq)
    }
}

const fn op_of(status: Status) -> Op {
    match status {
        Status::New => Op::New,
        Status::Alive => Op::Update,
        Status::Dead => Op::Destroy,
    }
}

/// The state of the mode.
#[derive(Debug)]
enum ModeState {
    Ftfw(ftfw::Ftfw),
    Notrack(notrack::Notrack),
    Alarm(alarm::Alarm),
}

/// One conntrackd sync node: caches, queues, sequence numbers and the mode's state machine.
#[derive(Debug)]
pub struct SyncNode {
    core: Core,
    mode: ModeState,
}

/// What a kernel event did to the internal cache.
struct Touched {
    handle: Handle,
    send: bool,
    dead: bool,
}

impl SyncNode {
    /// A node started at `now` (FTFW and NOTRACK arm their 1 s alive timer).
    pub fn new(config: SyncConfig, now: Instant) -> Self {
        let mode = match config.mode {
            ModeConfig::Ftfw {
                resend_queue_size,
                ack_window_size,
            } => ModeState::Ftfw(ftfw::Ftfw::new(
                resend_queue_size,
                ack_window_size,
                config.hold_until_handshake,
                now,
            )),
            ModeConfig::Notrack => ModeState::Notrack(notrack::Notrack::new(now)),
            ModeConfig::Alarm {
                refresh_time,
                cache_timeout,
            } => ModeState::Alarm(alarm::Alarm::new(refresh_time, cache_timeout, config.seed)),
        };
        Self {
            core: Core {
                internal: Caches::with_capacity(config.hash_limit, config.hash_size),
                external: Caches::with_capacity(config.hash_limit, config.hash_size),
                tx: VecDeque::new(),
                batcher: Batcher::new(config.payload_limit),
                seq: SeqCounter::new(config.seq_base),
                rx: SeqTracker::new(),
                stats: NetStats::default(),
                events: VecDeque::new(),
                rs_live: 0,
                disable_external_cache: config.disable_external_cache,
                omit_timeout: config.omit_timeout,
                hold: matches!(&mode, ModeState::Ftfw(_)) && config.hold_until_handshake,
                held: VecDeque::new(),
                kick: false,
            },
            mode,
        }
    }

    /// The mode's name as conntrackd.conf spells it.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            ModeState::Ftfw(_) => "FTFW",
            ModeState::Notrack(_) => "NOTRACK",
            ModeState::Alarm(_) => "ALARM",
        }
    }

    /// This node's conntracks and expectations.
    pub fn internal(&self) -> &Caches {
        &self.core.internal
    }

    /// The peer's conntracks and expectations.
    pub fn external(&self) -> &Caches {
        &self.core.external
    }

    /// The network counters.
    pub fn stats(&self) -> &NetStats {
        &self.core.stats
    }

    /// Sequence number of the next message sent.
    pub fn next_seq(&self) -> u32 {
        self.core.seq.peek()
    }

    /// The peer's sequence tracking.
    pub fn seq_tracker(&self) -> &SeqTracker {
        &self.core.rx
    }

    /// Entries waiting in the tx queue (some may be stale and skipped at transmit time).
    pub fn tx_len(&self) -> usize {
        self.core.tx.len()
    }

    /// FTFW: entries in the resend queue (objects and ACK / NACK / RESYNC awaiting their
    /// acknowledgement); 0 in the other modes.
    pub fn rs_len(&self) -> usize {
        self.core.rs_live
    }

    /// FTFW: the resend queue's entries, oldest first (what `conntrackd -s rsqueue` lists):
    /// sent objects and ACK / NACK / RESYNC messages awaiting their acknowledgement, with the
    /// sequence number each was sent with. As many as [`rs_len`](Self::rs_len); empty in the
    /// other modes.
    pub fn rs_queue(&self) -> impl Iterator<Item = RsQueueEntry> + '_ {
        let ftfw = match &self.mode {
            ModeState::Ftfw(f) => Some(f),
            _ => None,
        };
        ftfw.into_iter().flat_map(move |f| f.rs_entries(&self.core))
    }

    /// Internal objects waiting to be sent, or (FTFW) sent and not yet acknowledged: 0 once
    /// the peer has everything.
    pub fn pending_objects(&self) -> usize {
        let ct = self.core.internal.ct.iter().map(|(_, e)| e.queue);
        let exp = self.core.internal.exp.iter().map(|(_, e)| e.queue);
        ct.chain(exp).filter(|q| *q != QueueMark::Idle).count()
    }

    /// FTFW: whether our HELLO was answered (HELLO_BACK received). Always true in the other
    /// modes, which do not say hello.
    pub fn hello_done(&self) -> bool {
        match &self.mode {
            ModeState::Ftfw(f) => f.hello_done(),
            _ => true,
        }
    }

    /// Loads a conntrack from the start-up kernel dump into the internal cache without sending
    /// it (`internal_cache_ct_populate`).
    pub fn populate(&mut self, now: Instant, mut ct: CtRepr) {
        if self.core.omit_timeout {
            ct.timeout = None;
        }
        let (Some(key), Ok(attrs)) = (CtKey::of(&ct), CtAttrs::encode(&ct)) else {
            self.core.internal.ct.stats_mut().add_fail += 1;
            return;
        };
        if let Some(h) = self.core.internal.ct.update_force(now, key, attrs)
            && let ModeState::Alarm(a) = &mut self.mode
        {
            a.arm_refresh(&mut self.core, Obj::Ct(h), now);
        }
    }

    /// A conntrack event from the kernel: updates the internal cache and, unless the event
    /// was caused by this node ([`Origin`]), queues the object for sending.
    ///
    /// * NEW replaces any cached object of the same tuple with a NEW one;
    /// * UPDATE updates it (ALIVE), or creates a NEW one when absent or DEAD;
    /// * DESTROY marks it DEAD (the deletion carries the cached state, not the event's);
    ///   a DESTROY for an unknown tuple is ignored.
    pub fn handle_kernel_event(&mut self, now: Instant, event: CtEvent, origin: Origin) {
        if origin == Origin::Inject {
            return;
        }
        let (kind, mut ct) = match event {
            CtEvent::New(c) => (Op::New, c),
            CtEvent::Update(c) => (Op::Update, c),
            CtEvent::Destroy(c) => (Op::Destroy, c),
        };
        if self.core.omit_timeout {
            ct.timeout = None;
        }
        let key = CtKey::of(&ct);
        // A deletion sends the cached state, not the event's: nothing to encode.
        let attrs = match kind {
            Op::Destroy => None,
            _ => match CtAttrs::encode(&ct) {
                Ok(a) => Some(a),
                Err(_) => {
                    // Nothing a peer would take (a helper name or labels out of bounds).
                    self.core.stats.msg_snd_malformed += 1;
                    return;
                }
            },
        };
        let mut rs_live = self.core.rs_live;
        let touched = internal_event(
            &mut self.core.internal.ct,
            &mut rs_live,
            now,
            kind,
            key,
            attrs,
        );
        self.core.rs_live = rs_live;
        if let Some(t) = touched {
            self.after_internal(now, Obj::Ct(t.handle), t, origin);
        }
    }

    /// An expectation event from the kernel (as [`handle_kernel_event`](Self::handle_kernel_event)).
    pub fn handle_kernel_exp_event(&mut self, now: Instant, event: ExpEvent, origin: Origin) {
        if origin == Origin::Inject {
            return;
        }
        let (kind, mut exp) = match event {
            ExpEvent::New(e) => (Op::New, e),
            ExpEvent::Update(e) => (Op::Update, e),
            ExpEvent::Destroy(e) => (Op::Destroy, e),
        };
        if self.core.omit_timeout {
            exp.timeout = None;
        }
        let key = ExpKey::of(&exp);
        let mut rs_live = self.core.rs_live;
        let touched = internal_event(
            &mut self.core.internal.exp,
            &mut rs_live,
            now,
            kind,
            key,
            Some(exp),
        );
        self.core.rs_live = rs_live;
        if let Some(t) = touched {
            self.after_internal(now, Obj::Exp(t.handle), t, origin);
        }
    }

    fn after_internal(&mut self, now: Instant, obj: Obj, t: Touched, origin: Origin) {
        if let ModeState::Alarm(a) = &mut self.mode {
            if t.dead {
                a.disarm(&mut self.core, obj);
            } else {
                a.arm_refresh(&mut self.core, obj, now);
            }
        }
        if t.send && origin == Origin::NotMe {
            self.core.enqueue(obj);
        }
        if t.dead && self.core.mark(obj) == Some(QueueMark::Idle) {
            // Not queued (our own commit's deletion): nothing holds it any more.
            self.core.remove_obj(obj);
        }
    }

    /// A received datagram: walks its messages, runs the mode's receive routine on each and
    /// applies state messages to the external cache. Malformed input is counted
    /// ([`NetStats`]) and reported ([`SyncEvent::Malformed`]); it never panics.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.core.stats.datagrams_rcv += 1;
        self.core.stats.bytes_rcv += datagram.len() as u64;
        for m in split(datagram) {
            match m {
                Ok(msg) => {
                    self.core.stats.msg_rcv += 1;
                    self.handle_message(now, &msg);
                }
                Err(e) => self.core.malformed(Malformed::Walk(e)),
            }
        }
    }

    fn handle_message(&mut self, now: Instant, msg: &Message<&[u8]>) {
        if msg.version() != PROTOCOL_VERSION {
            self.core.malformed(Malformed::BadVersion(msg.version()));
            return;
        }
        let hdr = Hdr {
            msg_type: msg.msg_type(),
            flags: msg.flags(),
            seq: msg.seq(),
            range: msg.has_range().then(|| SeqRange {
                from: msg.from(),
                to: msg.to(),
            }),
        };
        let verdict = match &mut self.mode {
            ModeState::Ftfw(f) => f.recv(&mut self.core, &hdr),
            ModeState::Notrack(n) => n.recv(&mut self.core, &hdr),
            ModeState::Alarm(a) => a.recv(&mut self.core, &hdr),
        };
        match verdict {
            Verdict::Data => {}
            Verdict::Ctl | Verdict::Drop => return,
            Verdict::Bad => {
                self.core.malformed(Malformed::BadHeader {
                    msg_type: hdr.msg_type,
                    flags: hdr.flags,
                });
                return;
            }
        }
        let opts = ParseOptions::STRICT;
        match MsgType::from_number(hdr.msg_type) {
            Some(t @ (MsgType::CtNew | MsgType::CtUpdate | MsgType::CtDestroy)) => {
                if self.core.disable_external_cache {
                    match CtRepr::parse_attrs(msg.attrs(), &opts) {
                        Ok(ct) => self.core.event(SyncEvent::InjectCt {
                            op: msg_op(t),
                            ct: Box::new(ct),
                        }),
                        Err(e) => self.core.malformed(Malformed::BadPayload(e)),
                    }
                    return;
                }
                // Checked as a whole, decoded only as far as the key: the external cache
                // keeps the message's own bytes.
                match CtRepr::parse_key_attrs(msg.attrs(), &opts) {
                    Ok(key) => self.apply_ct(now, msg_op(t), CtKey::of(&key), msg.payload()),
                    Err(e) => self.core.malformed(Malformed::BadPayload(e)),
                }
            }
            Some(t @ (MsgType::ExpNew | MsgType::ExpUpdate | MsgType::ExpDestroy)) => {
                match crate::wire::ExpRepr::parse_attrs(msg.attrs(), &opts) {
                    Ok(exp) => self.apply_exp(now, msg_op(t), exp),
                    Err(e) => self.core.malformed(Malformed::BadPayload(e)),
                }
            }
            _ => self.core.malformed(Malformed::BadType(hdr.msg_type)),
        }
    }

    /// A received conntrack into the external cache: its key, and the attribute bytes it
    /// was parsed (strictly) from, which the cache keeps as they are.
    fn apply_ct(&mut self, now: Instant, op: Op, key: Option<CtKey>, attrs: &[u8]) {
        let stored = (op != Op::Destroy).then(|| CtAttrs::from_parsed(attrs));
        let h = external_apply(&mut self.core.external.ct, now, op, key, stored);
        if let (Some(h), ModeState::Alarm(a)) = (h, &mut self.mode) {
            a.arm_expiry(&mut self.core, Obj::Ct(h), now);
        }
    }

    fn apply_exp(&mut self, now: Instant, op: Op, exp: ExpRepr) {
        if self.core.disable_external_cache {
            self.core.event(SyncEvent::InjectExp {
                op,
                exp: Box::new(exp),
            });
            return;
        }
        let key = ExpKey::of(&exp);
        let h = external_apply(&mut self.core.external.exp, now, op, key, Some(exp));
        if let (Some(h), ModeState::Alarm(a)) = (h, &mut self.mode) {
            a.arm_expiry(&mut self.core, Obj::Exp(h), now);
        }
    }

    /// An operator request.
    pub fn handle_command(&mut self, _now: Instant, command: Command) -> Result<(), CommandError> {
        let unsupported = |mode| {
            Err(CommandError {
                command: command.name(),
                mode,
            })
        };
        match command {
            Command::RequestResync => match self.mode {
                ModeState::Alarm(_) => return unsupported("ALARM"),
                _ => self
                    .core
                    .queue_ctl(Flags::RESYNC, Some(SeqRange { from: 0, to: 0 })),
            },
            Command::SendBulk => match self.mode {
                ModeState::Alarm(_) => return unsupported("ALARM"),
                _ => self.core.bulk(),
            },
            Command::FlushInternal => {
                let queued_rs = self
                    .core
                    .internal
                    .ct
                    .iter()
                    .map(|(_, e)| e.queue)
                    .chain(self.core.internal.exp.iter().map(|(_, e)| e.queue))
                    .filter(|q| matches!(q, QueueMark::Rs(_)))
                    .count();
                self.core.rs_live -= queued_rs;
                self.core.internal.ct.flush();
                self.core.internal.exp.flush();
            }
            Command::FlushExternal => {
                self.core.external.ct.flush();
                self.core.external.exp.flush();
            }
        }
        Ok(())
    }

    /// Runs the timers due at `now`: FTFW's alive timer (an ACK of what was received, else
    /// an ALIVE), NOTRACK's ALIVE, ALARM's refreshes and external-cache expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.mode {
            ModeState::Ftfw(f) => f.on_timeout(&mut self.core, now),
            ModeState::Notrack(n) => n.on_timeout(&mut self.core, now),
            ModeState::Alarm(a) => a.on_timeout(&mut self.core, now),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.mode {
            ModeState::Ftfw(f) => Some(f.alive_at),
            ModeState::Notrack(n) => Some(n.alive_at),
            ModeState::Alarm(a) => a.next_timeout(),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SyncEvent> {
        self.core.events.pop_front()
    }

    /// Hands back a datagram from [`poll_transmit`](Self::poll_transmit) once it is sent:
    /// its buffer is reused for a later datagram (optional; saves an allocation each).
    pub fn recycle(&mut self, datagram: Vec<u8>) {
        self.core.batcher.recycle(datagram);
    }

    /// The next datagram to send: the tx queue packed into datagrams of at most the payload
    /// limit, the last one flushed when the queue is empty. `None` when nothing is queued.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if std::mem::take(&mut self.core.kick) && self.core.hold {
            self.core.queue_ctl(Flags::ALIVE, None);
        }
        while let Some(item) = self.core.tx.pop_front() {
            if let Some(Some(full)) = self.xmit(item) {
                self.after_transmit(now, &full);
                return Some(full);
            }
        }
        let last = self.core.batcher.flush()?;
        self.after_transmit(now, &last);
        Some(last)
    }

    /// Sends one tx-queue entry into the batcher: `None` if it was stale, else the datagram
    /// it filled, if any.
    fn xmit(&mut self, item: TxItem) -> Option<Option<Vec<u8>>> {
        match item {
            TxItem::Obj(obj) => {
                if self.core.mark(obj) != Some(QueueMark::Tx) {
                    return None;
                }
                let flags = self.hello_flags();
                let Some((full, seq)) = self.core.emit_obj(obj, flags) else {
                    self.core.release(obj);
                    return None;
                };
                match &mut self.mode {
                    ModeState::Ftfw(f) => f.rs_push(&mut self.core, ftfw::RsItem::Obj(obj, seq)),
                    _ => self.core.release(obj),
                }
                Some(full)
            }
            TxItem::Ctl { flags, range } => {
                let hello = self.hello_flags();
                let (full, seq) = self.core.emit_ctl(flags | hello, range);
                if let (ModeState::Ftfw(f), Some(range)) = (&mut self.mode, range) {
                    f.rs_push(&mut self.core, ftfw::RsItem::Ctl { seq, flags, range });
                }
                Some(full)
            }
        }
    }

    fn hello_flags(&mut self) -> Flags {
        match &mut self.mode {
            ModeState::Ftfw(f) => f.take_hello_flags(),
            _ => Flags::EMPTY,
        }
    }

    fn after_transmit(&mut self, now: Instant, datagram: &[u8]) {
        self.core.stats.datagrams_sent += 1;
        self.core.stats.bytes_sent += datagram.len() as u64;
        match &mut self.mode {
            ModeState::Ftfw(f) => f.alive_at = now + ALIVE_INTERVAL,
            ModeState::Notrack(n) => n.alive_at = now + ALIVE_INTERVAL,
            ModeState::Alarm(_) => {}
        }
    }
}

const fn msg_op(t: MsgType) -> Op {
    match t {
        MsgType::CtNew | MsgType::ExpNew => Op::New,
        MsgType::CtUpdate | MsgType::ExpUpdate => Op::Update,
        _ => Op::Destroy,
    }
}

/// Applies a kernel event to one internal cache (`internal_cache_*_event_*`): the event's
/// key and, for NEW and UPDATE, what the cache keeps of it.
fn internal_event<K: CacheKey>(
    cache: &mut Cache<K>,
    rs_live: &mut usize,
    now: Instant,
    kind: Op,
    key: Option<K>,
    stored: Option<K::Stored>,
) -> Option<Touched> {
    let fail = |cache: &mut Cache<K>| {
        let s = cache.stats_mut();
        match kind {
            Op::New => s.add_fail += 1,
            Op::Update => s.upd_fail += 1,
            Op::Destroy => s.del_fail += 1,
        }
    };
    let Some(key) = key else {
        fail(cache);
        return None;
    };
    let mut drop_old = |cache: &mut Cache<K>, h: Handle| {
        if let Some((_, old)) = cache.remove(h)
            && let QueueMark::Rs(_) = old.queue
        {
            *rs_live -= 1;
        }
    };
    match (kind, stored) {
        (Op::Destroy, _) => {
            let h = cache.find(&key)?;
            if cache.entry(h).is_some_and(|e| e.status() == Status::Dead) {
                return None;
            }
            cache.set_dead(h);
            Some(Touched {
                handle: h,
                send: true,
                dead: true,
            })
        }
        (_, None) => {
            fail(cache);
            None
        }
        (Op::New, Some(stored)) => {
            if let Some(h) = cache.find(&key) {
                drop_old(cache, h);
            }
            let handle = cache.add(now, key, stored)?;
            Some(Touched {
                handle,
                send: true,
                dead: false,
            })
        }
        (Op::Update, Some(stored)) => {
            if let Some(h) = cache.find(&key) {
                if cache.entry(h).is_some_and(|e| e.status() != Status::Dead) {
                    cache.update(now, h, stored);
                    return Some(Touched {
                        handle: h,
                        send: true,
                        dead: false,
                    });
                }
                drop_old(cache, h);
            }
            let handle = cache.add(now, key, stored)?;
            Some(Touched {
                handle,
                send: true,
                dead: false,
            })
        }
    }
}

/// Applies a received state message to one external cache (`external_cache_*`): its key and,
/// for NEW and UPDATE, what the cache keeps of it.
fn external_apply<K: CacheKey>(
    cache: &mut Cache<K>,
    now: Instant,
    op: Op,
    key: Option<K>,
    stored: Option<K::Stored>,
) -> Option<Handle> {
    let fail = |cache: &mut Cache<K>| {
        let s = cache.stats_mut();
        match op {
            Op::New => s.add_fail += 1,
            Op::Update => s.upd_fail += 1,
            Op::Destroy => s.del_fail += 1,
        }
    };
    let Some(key) = key else {
        fail(cache);
        return None;
    };
    match (op, stored) {
        (Op::Destroy, _) => {
            if let Some(h) = cache.find(&key) {
                cache.remove(h);
            }
            None
        }
        (_, None) => {
            fail(cache);
            None
        }
        (Op::New, Some(stored)) => {
            if let Some(h) = cache.find(&key) {
                cache.remove(h);
            }
            cache.add(now, key, stored)
        }
        (Op::Update, Some(stored)) => cache.update_force(now, key, stored),
    }
}
