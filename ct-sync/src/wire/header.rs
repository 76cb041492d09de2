//! The message header (`struct nethdr` / `struct nethdr_ack`) and a checked, zero-copy view
//! over one message.
//!
//! ```text
//!  0               1               2               3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-------+-------+---------------+-------------------------------+
//! |version| type  |     flags     |        len (big endian)       |
//! +-------+-------+---------------+-------------------------------+
//! |                     seq (big endian)                          |
//! +---------------------------------------------------------------+
//! |  ACK / NACK / RESYNC only: from (big endian)                  |
//! +---------------------------------------------------------------+
//! |  ACK / NACK / RESYNC only: to (big endian)                    |
//! +---------------------------------------------------------------+
//! |  state messages: attributes (netattr TLVs, 4-byte aligned)    |
//! ```
//!
//! conntrackd declares the first byte as the bit-fields `type:4, version:4` in the order that
//! makes the byte `(version << 4) | type` on either host byte order, so CT_NEW is `0x10` and a
//! control message `0x1a`. `len` covers the whole message: header, attributes and their padding.
//!
//! # Validation contract
//! [`Message::new_checked`] checks what a 1.4.7 receiver checks before it looks inside a
//! message: a full 8-byte header, a 16-byte one when the message is an ACK, NACK or RESYNC, a
//! `len` no shorter than that header, and (for the view) a buffer of exactly `len` bytes. It
//! does not check the version, the type or the attributes: [`MessageRepr::parse`] does. No
//! accessor panics, whatever the buffer: on a view made with [`Message::new_unchecked`] they
//! read zeros where bytes are missing.
//!
//! [`MessageRepr::parse`]: crate::wire::MessageRepr::parse

use core::fmt;
use core::ops::{BitOr, BitOrAssign};

use crate::wire::attr::{self, AttrIter};
use crate::wire::error::ParseError;
use crate::wire::{ct, exp};

/// `CONNTRACKD_PROTOCOL_VERSION`: the only version on the wire.
pub const PROTOCOL_VERSION: u8 = 1;
/// `NETHDR_SIZ`: length of the common header.
pub const HEADER_LEN: usize = 8;
/// `NETHDR_ACK_SIZ`: length of the header of an ACK, NACK or RESYNC (with `from` and `to`).
pub const ACK_HEADER_LEN: usize = 16;

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and type (low nibble).
    pub const VER_TYPE: usize = 0;
    /// Flags.
    pub const FLAGS: usize = 1;
    /// Message length, big endian.
    pub const LEN: Range<usize> = 2..4;
    /// Sequence number, big endian.
    pub const SEQ: Range<usize> = 4..8;
    /// ACK / NACK / RESYNC: first sequence number of the range, big endian.
    pub const FROM: Range<usize> = 8..12;
    /// ACK / NACK / RESYNC: last sequence number of the range, big endian.
    pub const TO: Range<usize> = 12..16;
    /// Start of the attributes of a state message.
    pub const ATTRS: usize = 8;
}

/// The message flags (`NET_F_*`), a bit set over the flags byte.
///
/// Unknown bits are kept, so that a parsed message re-emits the byte it carried.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Flags(u8);

impl Flags {
    /// No flag.
    pub const EMPTY: Self = Self(0);
    /// `NET_F_UNUSED` (bit 0): never set by conntrackd.
    pub const UNUSED: Self = Self(1 << 0);
    /// `NET_F_RESYNC`: ask the peer to send its whole internal cache (16-byte header).
    pub const RESYNC: Self = Self(1 << 1);
    /// `NET_F_NACK`: ask for the retransmission of `from..=to` (16-byte header).
    pub const NACK: Self = Self(1 << 2);
    /// `NET_F_ACK`: acknowledge `from..=to` (16-byte header).
    pub const ACK: Self = Self(1 << 3);
    /// `NET_F_ALIVE`: keep-alive (8-byte header).
    pub const ALIVE: Self = Self(1 << 4);
    /// `NET_F_HELLO`: the sender (re)started; may ride on any message.
    pub const HELLO: Self = Self(1 << 5);
    /// `NET_F_HELLO_BACK`: answer to a HELLO; may ride on any message.
    pub const HELLO_BACK: Self = Self(1 << 6);
    /// The flags that make a control message carry `from` / `to` (16-byte header).
    pub const RANGE: Self = Self(Self::ACK.0 | Self::NACK.0 | Self::RESYNC.0);
    /// The only flags a state message may carry.
    pub const DATA_ALLOWED: Self = Self(Self::HELLO.0 | Self::HELLO_BACK.0);

    const NAMES: [(Self, &'static str); 7] = [
        (Self::UNUSED, "UNUSED"),
        (Self::RESYNC, "RESYNC"),
        (Self::NACK, "NACK"),
        (Self::ACK, "ACK"),
        (Self::ALIVE, "ALIVE"),
        (Self::HELLO, "HELLO"),
        (Self::HELLO_BACK, "HELLO_BACK"),
    ];

    /// The flags of a flags byte, unknown bits included.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// The flags byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// These flags plus `other`.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// These flags without `other`.
    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether a control message with these flags carries `from` / `to` (ACK, NACK or RESYNC).
    pub const fn has_range(self) -> bool {
        self.intersects(Self::RANGE)
    }
}

impl BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

/// Formats as conntrackd's names joined with `|` (`ACK|HELLO`), `0` when empty, and unknown
/// bits in hexadecimal.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("0");
        }
        let mut first = true;
        let mut rest = self.0;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#04x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

/// The message type (`enum nethdr_type`), the low nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MsgType {
    /// 0 `NET_T_STATE_CT_NEW`: a new conntrack.
    CtNew,
    /// 1 `NET_T_STATE_CT_UPD`: a conntrack changed (or was first seen established).
    CtUpdate,
    /// 2 `NET_T_STATE_CT_DEL`: a conntrack is gone.
    CtDestroy,
    /// 3 `NET_T_STATE_EXP_NEW`: a new expectation.
    ExpNew,
    /// 4 `NET_T_STATE_EXP_UPD`: an expectation changed.
    ExpUpdate,
    /// 5 `NET_T_STATE_EXP_DEL`: an expectation is gone.
    ExpDestroy,
    /// 10 `NET_T_CTL`: a control message (ACK, NACK, RESYNC, ALIVE, with HELLO bits).
    Ctl,
}

impl MsgType {
    /// Decodes the type nibble.
    pub const fn from_number(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::CtNew,
            1 => Self::CtUpdate,
            2 => Self::CtDestroy,
            3 => Self::ExpNew,
            4 => Self::ExpUpdate,
            5 => Self::ExpDestroy,
            10 => Self::Ctl,
            _ => return None,
        })
    }

    /// The type nibble.
    pub const fn number(self) -> u8 {
        match self {
            Self::CtNew => 0,
            Self::CtUpdate => 1,
            Self::CtDestroy => 2,
            Self::ExpNew => 3,
            Self::ExpUpdate => 4,
            Self::ExpDestroy => 5,
            Self::Ctl => 10,
        }
    }

    /// Whether this is a state (data) message: `NET_T_STATE_*`, type 0..=5.
    pub const fn is_data(self) -> bool {
        !matches!(self, Self::Ctl)
    }

    /// conntrackd's name for the type, as its debug output and the decoded captures print it
    /// (`CT_NEW`, `CT_UPD`, `CT_DEL`, `EXP_NEW`, `EXP_UPD`, `EXP_DEL`, `CTL`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::CtNew => "CT_NEW",
            Self::CtUpdate => "CT_UPD",
            Self::CtDestroy => "CT_DEL",
            Self::ExpNew => "EXP_NEW",
            Self::ExpUpdate => "EXP_UPD",
            Self::ExpDestroy => "EXP_DEL",
            Self::Ctl => "CTL",
        }
    }
}

/// The `NET_T_CTL` type nibble.
pub const TYPE_CTL: u8 = 10;

/// Whether a message with this type nibble and flags has the 16-byte header (`IS_ACK`,
/// `IS_NACK` or `IS_RESYNC`: a control message with ACK, NACK or RESYNC set).
pub const fn is_range_header(msg_type: u8, flags: Flags) -> bool {
    msg_type == TYPE_CTL && flags.has_range()
}

/// The header checks a 1.4.7 receiver applies to the message starting at `offset` of `buf`
/// (`remain = buf.len() - offset`), in its order. Returns the message length.
pub(crate) fn check_header(buf: &[u8], offset: usize) -> Result<usize, ParseError> {
    let rest = buf.get(offset..).unwrap_or(&[]);
    if rest.len() < HEADER_LEN {
        return Err(ParseError::Truncated {
            offset,
            need: HEADER_LEN,
            have: rest.len(),
        });
    }
    let len = u16::from_be_bytes([rest[2], rest[3]]);
    if len == 0 {
        return Err(ParseError::BadLength {
            offset,
            len,
            min: HEADER_LEN as u16,
        });
    }
    if usize::from(len) > rest.len() {
        return Err(ParseError::Truncated {
            offset,
            need: usize::from(len),
            have: rest.len(),
        });
    }
    let min = if is_range_header(rest[0] & 0x0f, Flags(rest[1])) {
        if rest.len() < ACK_HEADER_LEN {
            return Err(ParseError::Truncated {
                offset,
                need: ACK_HEADER_LEN,
                have: rest.len(),
            });
        }
        ACK_HEADER_LEN
    } else {
        HEADER_LEN
    };
    if usize::from(len) < min {
        return Err(ParseError::BadLength {
            offset,
            len,
            min: min as u16,
        });
    }
    Ok(usize::from(len))
}

/// A view over a buffer holding exactly one message (header and, for state messages, the
/// attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    /// Wraps a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after the header checks (see the [module docs](self)); the buffer must
    /// hold exactly `len` bytes. To walk the messages of a datagram use
    /// [`split`](crate::wire::split), which hands out views of the right length.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let m = Self::new_unchecked(buffer);
        m.check_len()?;
        Ok(m)
    }

    /// The checks of [`new_checked`](Self::new_checked).
    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        let len = check_header(b, 0)?;
        if len != b.len() {
            return Err(ParseError::LengthMismatch {
                len: self.len(),
                have: b.len(),
            });
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The bytes of the message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn be32(&self, at: usize) -> u32 {
        u32::from_be_bytes([
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        ])
    }

    /// The version nibble (1 for every conntrackd since 0.9.x).
    pub fn version(&self) -> u8 {
        self.byte(field::VER_TYPE) >> 4
    }

    /// The raw type nibble; [`MsgType::from_number`] decodes it.
    pub fn msg_type(&self) -> u8 {
        self.byte(field::VER_TYPE) & 0x0f
    }

    /// The flags.
    pub fn flags(&self) -> Flags {
        Flags(self.byte(field::FLAGS))
    }

    /// The `len` field: the whole message, header and attribute padding included.
    pub fn len(&self) -> u16 {
        u16::from_be_bytes([self.byte(2), self.byte(3)])
    }

    /// Whether the `len` field is zero (never for a checked view).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number.
    pub fn seq(&self) -> u32 {
        self.be32(field::SEQ.start)
    }

    /// Whether this message has the 16-byte header with `from` / `to` (ACK, NACK, RESYNC).
    pub fn has_range(&self) -> bool {
        is_range_header(self.msg_type(), self.flags())
    }

    /// Length of the header: 16 for ACK / NACK / RESYNC, 8 otherwise.
    pub fn header_len(&self) -> usize {
        if self.has_range() {
            ACK_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// ACK / NACK / RESYNC: the first sequence number of the range (0 for other messages).
    pub fn from(&self) -> u32 {
        if self.has_range() {
            self.be32(field::FROM.start)
        } else {
            0
        }
    }

    /// ACK / NACK / RESYNC: the last sequence number of the range (0 for other messages).
    pub fn to(&self) -> u32 {
        if self.has_range() {
            self.be32(field::TO.start)
        } else {
            0
        }
    }

    /// The bytes after the header, up to `len` (the attributes of a state message; empty for a
    /// control message that conntrackd sent).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.len()).min(b.len());
        b.get(self.header_len()..end).unwrap_or(&[])
    }

    /// The attributes of a state message, walked as `msg2ct` / `msg2exp` walk them. Offsets in
    /// the items and errors count from the start of the message.
    pub fn attrs(&self) -> AttrIter<'_> {
        AttrIter::new(self.payload(), self.header_len())
    }

    /// Whether the message is in the exact form conntrackd 1.4.7 (and
    /// [`MessageRepr::emit`](crate::wire::MessageRepr::emit)) produces, the form for which
    /// `emit(parse(x)) == x` holds byte for byte:
    /// * a control message is exactly 8 bytes, or 16 with ACK / NACK / RESYNC;
    /// * a state message's attributes are all known ids with their exact (or bounded) sizes,
    ///   appear at most once each and in `ct2msg` / `exp2msg` emission order, have zeroed
    ///   padding up to 4-byte alignment, leave no trailing bytes, and none is of the kinds a
    ///   receiver ignores (an empty string or label set, labels not a whole number of words).
    ///
    /// Version, type and flags are not judged here: [`MessageRepr::parse`] does that.
    ///
    /// [`MessageRepr::parse`]: crate::wire::MessageRepr::parse
    pub fn is_canonical(&self) -> bool {
        if self.check_len().is_err() {
            return false;
        }
        let Some(t) = MsgType::from_number(self.msg_type()) else {
            return false;
        };
        match t {
            MsgType::Ctl => usize::from(self.len()) == self.header_len(),
            MsgType::CtNew | MsgType::CtUpdate | MsgType::CtDestroy => {
                attr::is_canonical(self.attrs(), &ct::TABLE)
            }
            MsgType::ExpNew | MsgType::ExpUpdate | MsgType::ExpDestroy => {
                attr::is_canonical(self.attrs(), &exp::TABLE)
            }
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    fn put(&mut self, range: core::ops::Range<usize>, bytes: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            dst.copy_from_slice(bytes);
        }
    }

    /// Sets the sequence number (FTFW re-sends with new numbers).
    pub fn set_seq(&mut self, seq: u32) {
        self.put(field::SEQ, &seq.to_be_bytes());
    }

    /// Sets the flags byte. Changing whether the message has a range changes its header
    /// length: only do that on a buffer emitted for the new form.
    pub fn set_flags(&mut self, flags: Flags) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::FLAGS) {
            *b = flags.bits();
        }
    }

    /// ACK / NACK / RESYNC: sets `from` and `to` (does nothing for other messages).
    pub fn set_range(&mut self, from: u32, to: u32) {
        if self.has_range() {
            self.put(field::FROM, &from.to_be_bytes());
            self.put(field::TO, &to.to_be_bytes());
        }
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Message<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}
