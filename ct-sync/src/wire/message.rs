//! The owned form of one message: [`MessageRepr`] with parse / buffer_len / emit.

extern crate alloc;

use alloc::vec::Vec;

use crate::wire::attr::ParseOptions;
use crate::wire::ct::CtRepr;
use crate::wire::error::{EmitError, ParseError};
use crate::wire::exp::ExpRepr;
use crate::wire::header::{
    ACK_HEADER_LEN, Flags, HEADER_LEN, Message, MsgType, PROTOCOL_VERSION, field,
};

/// What a state message says happened to its conntrack or expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `*_NEW`.
    New,
    /// `*_UPD`.
    Update,
    /// `*_DEL`.
    Destroy,
}

/// The `from` / `to` sequence range of an ACK, NACK or RESYNC (inclusive; RESYNC sends 0, 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqRange {
    /// First sequence number.
    pub from: u32,
    /// Last sequence number.
    pub to: u32,
}

/// The body of a message, by type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// The conntrack variant is ~400 bytes and the control one 12: boxing the large one would cost
// a heap allocation for every state message on the event path, which matters more than the
// size of the rarer control messages.
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// CT_NEW / CT_UPD / CT_DEL.
    Ct {
        /// Which of the three.
        op: Op,
        /// The conntrack.
        ct: CtRepr,
    },
    /// EXP_NEW / EXP_UPD / EXP_DEL.
    Exp {
        /// Which of the three.
        op: Op,
        /// The expectation.
        exp: ExpRepr,
    },
    /// A control message (`NET_T_CTL`): what it means is in the flags. `range` is present
    /// exactly when the flags hold ACK, NACK or RESYNC (the 16-byte header).
    Ctl {
        /// The `from` / `to` range.
        range: Option<SeqRange>,
    },
}

/// One message, owned and validated: header fields and body.
///
/// For every message that conntrackd 1.4.7 sends (every message for which
/// [`Message::is_canonical`] holds), `emit(parse(x)) == x` byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageRepr {
    /// The flags (HELLO / HELLO_BACK on any message; ACK, NACK, RESYNC, ALIVE on control
    /// messages).
    pub flags: Flags,
    /// The sequence number.
    pub seq: u32,
    /// The body.
    pub body: Body,
}

impl MessageRepr {
    /// A conntrack message without flags.
    pub const fn ct(op: Op, seq: u32, ct: CtRepr) -> Self {
        Self {
            flags: Flags::EMPTY,
            seq,
            body: Body::Ct { op, ct },
        }
    }

    /// An expectation message without flags.
    pub const fn exp(op: Op, seq: u32, exp: ExpRepr) -> Self {
        Self {
            flags: Flags::EMPTY,
            seq,
            body: Body::Exp { op, exp },
        }
    }

    /// An ALIVE (8 bytes).
    pub const fn alive(seq: u32) -> Self {
        Self::ctl(Flags::ALIVE, seq, None)
    }

    /// An ACK of `from..=to` (16 bytes).
    pub const fn ack(seq: u32, from: u32, to: u32) -> Self {
        Self::ctl(Flags::ACK, seq, Some(SeqRange { from, to }))
    }

    /// A NACK asking for `from..=to` again (16 bytes).
    pub const fn nack(seq: u32, from: u32, to: u32) -> Self {
        Self::ctl(Flags::NACK, seq, Some(SeqRange { from, to }))
    }

    /// A RESYNC request (16 bytes, `from = to = 0` as conntrackd sends it).
    pub const fn resync(seq: u32) -> Self {
        Self::ctl(Flags::RESYNC, seq, Some(SeqRange { from: 0, to: 0 }))
    }

    const fn ctl(flags: Flags, seq: u32, range: Option<SeqRange>) -> Self {
        Self {
            flags,
            seq,
            body: Body::Ctl { range },
        }
    }

    /// The same message with `flags` added (HELLO, HELLO_BACK).
    #[must_use]
    pub const fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = self.flags.union(flags);
        self
    }

    /// The message type.
    pub const fn msg_type(&self) -> MsgType {
        match self.body {
            Body::Ct { op: Op::New, .. } => MsgType::CtNew,
            Body::Ct { op: Op::Update, .. } => MsgType::CtUpdate,
            Body::Ct {
                op: Op::Destroy, ..
            } => MsgType::CtDestroy,
            Body::Exp { op: Op::New, .. } => MsgType::ExpNew,
            Body::Exp { op: Op::Update, .. } => MsgType::ExpUpdate,
            Body::Exp {
                op: Op::Destroy, ..
            } => MsgType::ExpDestroy,
            Body::Ctl { .. } => MsgType::Ctl,
        }
    }

    /// Parses a checked message with conntrackd 1.4.7's rules ([`ParseOptions::STRICT`]).
    pub fn parse<T: AsRef<[u8]>>(msg: &Message<T>) -> Result<Self, ParseError> {
        Self::parse_with(msg, &ParseOptions::STRICT)
    }

    /// Parses a checked message: version 1, a known type, state messages with no flags but
    /// HELLO / HELLO_BACK, and their attributes as `msg2ct` / `msg2exp` accept them.
    pub fn parse_with<T: AsRef<[u8]>>(
        msg: &Message<T>,
        opts: &ParseOptions,
    ) -> Result<Self, ParseError> {
        msg.check_len()?;
        if msg.version() != PROTOCOL_VERSION {
            return Err(ParseError::BadVersion {
                version: msg.version(),
            });
        }
        let msg_type = msg.msg_type();
        let t = MsgType::from_number(msg_type).ok_or(ParseError::UnknownType { msg_type })?;
        let flags = msg.flags();
        if t.is_data() && !Flags::DATA_ALLOWED.contains(flags) {
            return Err(ParseError::DataFlags {
                flags: flags.bits(),
            });
        }
        let body = match t {
            MsgType::CtNew | MsgType::CtUpdate | MsgType::CtDestroy => Body::Ct {
                op: op_of(t),
                ct: CtRepr::parse_attrs(msg.attrs(), opts)?,
            },
            MsgType::ExpNew | MsgType::ExpUpdate | MsgType::ExpDestroy => Body::Exp {
                op: op_of(t),
                exp: ExpRepr::parse_attrs(msg.attrs(), opts)?,
            },
            MsgType::Ctl => Body::Ctl {
                range: msg.has_range().then(|| SeqRange {
                    from: msg.from(),
                    to: msg.to(),
                }),
            },
        };
        Ok(Self {
            flags,
            seq: msg.seq(),
            body,
        })
    }

    /// Length of the message this representation emits.
    pub fn buffer_len(&self) -> usize {
        match &self.body {
            Body::Ct { ct, .. } => HEADER_LEN + ct.attrs_len(),
            Body::Exp { exp, .. } => HEADER_LEN + exp.attrs_len(),
            Body::Ctl { range: Some(_) } => ACK_HEADER_LEN,
            Body::Ctl { range: None } => HEADER_LEN,
        }
    }

    /// Writes the message into `buf` (at least [`buffer_len`](Self::buffer_len) bytes) and
    /// returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_len(buf, self.buffer_len())
    }

    /// [`emit`](Self::emit) with `len` = [`buffer_len`](Self::buffer_len) already known.
    pub(crate) fn emit_len(&self, buf: &mut [u8], len: usize) -> Result<usize, EmitError> {
        debug_assert_eq!(len, self.buffer_len());
        let flags = self.flags;
        match &self.body {
            Body::Ct { .. } | Body::Exp { .. } if !Flags::DATA_ALLOWED.contains(flags) => {
                return Err(EmitError::DataFlags {
                    flags: flags.bits(),
                });
            }
            Body::Ctl { range } if range.is_some() != flags.has_range() => {
                return Err(EmitError::RangeMismatch {
                    flags: flags.bits(),
                });
            }
            Body::Ct { ct, .. } => ct.check_emit()?,
            Body::Exp { exp, .. } => exp.check_emit()?,
            Body::Ctl { .. } => {}
        }
        // At most a few kilobytes once the body checks passed (every attribute is bounded,
        // labels to 1028 bytes), so the length fits the 16-bit field.
        let len16 = len as u16;
        if buf.len() < len {
            return Err(EmitError::InsufficientSize {
                required: len,
                have: buf.len(),
            });
        }
        let buf = &mut buf[..len];
        match &self.body {
            Body::Ct { ct, .. } => ct.emit_attrs_checked(&mut buf[field::ATTRS..]),
            Body::Exp { exp, .. } => exp.emit_attrs(&mut buf[field::ATTRS..])?,
            Body::Ctl { range } => {
                if let Some(r) = range {
                    buf[field::FROM].copy_from_slice(&r.from.to_be_bytes());
                    buf[field::TO].copy_from_slice(&r.to.to_be_bytes());
                }
                0
            }
        };
        buf[field::VER_TYPE] = (PROTOCOL_VERSION << 4) | self.msg_type().number();
        buf[field::FLAGS] = flags.bits();
        buf[field::LEN].copy_from_slice(&len16.to_be_bytes());
        buf[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        Ok(len)
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EmitError> {
        let mut v = alloc::vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}

const fn op_of(t: MsgType) -> Op {
    match t {
        MsgType::CtNew | MsgType::ExpNew => Op::New,
        MsgType::CtUpdate | MsgType::ExpUpdate => Op::Update,
        _ => Op::Destroy,
    }
}
