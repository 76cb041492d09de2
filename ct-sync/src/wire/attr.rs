//! Attribute TLVs (`struct netattr`), shared by conntrack and expectation messages.
//!
//! ```text
//! +---------------------------+---------------------------+
//! | nta_len (u16, big endian) | nta_attr (u16, big endian)|
//! +---------------------------+---------------------------+
//! | payload: nta_len - 4 bytes, then zero padding up to   |
//! | the next multiple of 4 (NTA_ALIGN)                    |
//! +-------------------------------------------------------+
//! ```
//!
//! `nta_len` counts the 4-byte header and the payload, not the padding; the next attribute
//! starts `NTA_ALIGN(nta_len)` bytes further. The walk ([`AttrIter`]) is the one of `msg2ct`:
//! it runs while more than 4 bytes remain (so up to 4 trailing bytes are ignored), rejects an
//! `nta_len` below 4 or beyond the remaining bytes, and tolerates a last attribute whose
//! padding is missing. Which ids exist and their sizes depend on the message kind:
//! [`CtAttrId`](crate::wire::CtAttrId), [`ExpAttrId`](crate::wire::ExpAttrId).

use core::fmt;

use crate::wire::error::{EmitError, ParseError};

/// Length of an attribute header.
pub const NTA_HEADER_LEN: usize = 4;
/// Attribute alignment (`NTA_ALIGNTO`).
pub const NTA_ALIGNTO: usize = 4;

/// `NTA_ALIGN`: `len` rounded up to the attribute alignment.
pub const fn nta_align(len: usize) -> usize {
    (len + NTA_ALIGNTO - 1) & !(NTA_ALIGNTO - 1)
}

/// The size rule of an attribute id, on `nta_len` (header included), as a 1.4.7 receiver
/// enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrSize {
    /// Fixed size: `nta_len` must be exactly this.
    Exact(u16),
    /// Variable size: `nta_len` must not exceed this.
    Max(u16),
}

impl AttrSize {
    /// Checks a received `nta_len` against the rule.
    pub(crate) fn check(self, offset: usize, id: u16, nta_len: u16) -> Result<(), ParseError> {
        match self {
            Self::Exact(expected) if nta_len != expected => Err(ParseError::AttrSize {
                offset,
                id,
                nta_len,
                expected,
            }),
            Self::Max(max) if nta_len > max => Err(ParseError::AttrTooLong {
                offset,
                id,
                nta_len,
                max,
            }),
            _ => Ok(()),
        }
    }
}

/// One attribute as found by [`AttrIter`]: its position, raw id and the bytes it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttr<'a> {
    /// Where the attribute header starts, from the start of the message.
    pub offset: usize,
    /// `nta_attr`.
    pub id: u16,
    /// `nta_len` (header plus payload, no padding).
    pub nta_len: u16,
    /// The payload: `nta_len - 4` bytes.
    pub payload: &'a [u8],
    /// The padding bytes present after the payload (up to 3; fewer when the message ends
    /// first).
    pub padding: &'a [u8],
}

impl RawAttr<'_> {
    /// Whether the padding is complete and zeroed, as `build.c` writes it.
    pub fn padding_is_canonical(&self) -> bool {
        let want = nta_align(usize::from(self.nta_len)) - usize::from(self.nta_len);
        self.padding.len() == want && self.padding.iter().all(|&b| b == 0)
    }
}

/// Walks the attributes of a state message the way `msg2ct` / `msg2exp` do; see the
/// [module docs](self). The walk stops at the first error.
#[derive(Debug, Clone)]
pub struct AttrIter<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    done: bool,
}

impl<'a> AttrIter<'a> {
    /// Walks `attrs`, the bytes after a message header of `base` bytes (offsets reported count
    /// from the start of the message).
    pub const fn new(attrs: &'a [u8], base: usize) -> Self {
        Self {
            buf: attrs,
            pos: 0,
            base,
            done: false,
        }
    }

    /// The bytes not (yet) walked: after a complete walk, the up to 4 trailing bytes a receiver
    /// ignores (empty for a well-formed message).
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<RawAttr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.rest();
        if rest.len() <= NTA_HEADER_LEN {
            self.done = true;
            return None;
        }
        let nta_len = u16::from_be_bytes([rest[0], rest[1]]);
        let id = u16::from_be_bytes([rest[2], rest[3]]);
        let offset = self.base + self.pos;
        let len = usize::from(nta_len);
        if len > rest.len() {
            self.done = true;
            return Some(Err(ParseError::AttrOverrun {
                offset,
                id,
                nta_len,
                remaining: rest.len(),
            }));
        }
        if len < NTA_HEADER_LEN {
            self.done = true;
            return Some(Err(ParseError::AttrTooShort {
                offset,
                id,
                nta_len,
            }));
        }
        let padded = nta_align(len);
        let attr = RawAttr {
            offset,
            id,
            nta_len,
            payload: &rest[NTA_HEADER_LEN..len],
            padding: &rest[len..padded.min(rest.len())],
        };
        self.pos += padded;
        Some(Ok(attr))
    }
}

/// The per-kind facts the generic walk needs: how many ids exist, their size rules, their rank
/// in the sender's emission order, and which ids carry a payload a receiver may ignore.
#[derive(Debug)]
pub(crate) struct AttrTable {
    /// `NTA_MAX` / `NTA_EXP_MAX`.
    pub(crate) max: u16,
    /// Size rule by id.
    pub(crate) sizes: &'static [AttrSize],
    /// Position in emission order by id.
    pub(crate) ranks: &'static [u8],
    /// The labels id (a whole, non-zero number of 32-bit words), if this kind has one.
    pub(crate) labels: Option<u16>,
}

impl AttrTable {
    /// Whether a payload of an id whose size rule passed is one that a receiver ignores (and so
    /// the parser drops): an empty variable-size payload, or labels that are not whole words.
    pub(crate) fn is_ignored(&self, id: u16, payload: &[u8]) -> bool {
        match self.sizes.get(usize::from(id)) {
            Some(AttrSize::Max(_)) => {
                payload.is_empty() || (Some(id) == self.labels && !payload.len().is_multiple_of(4))
            }
            _ => false,
        }
    }
}

/// See [`Message::is_canonical`](crate::wire::Message::is_canonical).
pub(crate) fn is_canonical(mut attrs: AttrIter<'_>, table: &AttrTable) -> bool {
    let mut last_rank: Option<u8> = None;
    for a in attrs.by_ref() {
        let Ok(a) = a else { return false };
        let Some(&rank) = table.ranks.get(usize::from(a.id)) else {
            return false;
        };
        let Some(&size) = table.sizes.get(usize::from(a.id)) else {
            return false;
        };
        if size.check(a.offset, a.id, a.nta_len).is_err()
            || table.is_ignored(a.id, a.payload)
            || !a.padding_is_canonical()
            || last_rank.is_some_and(|r| r >= rank)
        {
            return false;
        }
        last_rank = Some(rank);
    }
    attrs.rest().is_empty()
}

/// Receiver options beyond what a 1.4.7 receiver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Skip attributes with an id at or above `NTA_MAX` / `NTA_EXP_MAX` instead of rejecting the
    /// whole message. Off by default, which is what conntrackd 1.4.7 does (`msg2ct` returns -1,
    /// counted as "Malformed payload"); on, a newer peer's additions are dropped and the rest
    /// of the entry kept. Skipped attributes must still be well-formed TLVs.
    pub skip_unknown_attrs: bool,
}

impl ParseOptions {
    /// conntrackd 1.4.7's behaviour (the default).
    pub const STRICT: Self = Self {
        skip_unknown_attrs: false,
    };
    /// Skip unknown attribute ids.
    pub const SKIP_UNKNOWN: Self = Self {
        skip_unknown_attrs: true,
    };
}

/// The generic part of `msg2ct` / `msg2exp`: walk, reject unknown ids (or skip them), enforce
/// the size rules, drop what a receiver ignores, and hand each accepted attribute to `set` (a
/// later duplicate overwrites an earlier one, as `nfct_set_attr` does).
pub(crate) fn parse_attrs<'a>(
    attrs: AttrIter<'a>,
    table: &AttrTable,
    opts: &ParseOptions,
    mut set: impl FnMut(u16, &'a [u8]),
) -> Result<(), ParseError> {
    for a in attrs {
        let a = a?;
        if a.id >= table.max {
            if opts.skip_unknown_attrs {
                continue;
            }
            return Err(ParseError::UnknownAttr {
                offset: a.offset,
                id: a.id,
            });
        }
        let Some(&size) = table.sizes.get(usize::from(a.id)) else {
            continue;
        };
        size.check(a.offset, a.id, a.nta_len)?;
        if !table.is_ignored(a.id, a.payload) {
            set(a.id, a.payload);
        }
    }
    Ok(())
}

/// Labels payload (whole big-endian words, checked by the caller) as host words.
pub(crate) fn words(payload: &[u8]) -> alloc::vec::Vec<u32> {
    payload.chunks_exact(4).map(be32).collect()
}

/// Computes the rank (position in emission order) of every id from the emission order.
pub(crate) const fn ranks<const N: usize>(order: [u16; N]) -> [u8; N] {
    let mut ranks = [0u8; N];
    let mut i = 0;
    while i < N {
        ranks[order[i] as usize] = i as u8;
        i += 1;
    }
    ranks
}

/// Writes attributes into a buffer already checked to be large enough.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Writes one attribute whose payload `fill` writes into `len` bytes, then zero padding.
    pub(crate) fn attr_with(&mut self, id: u16, len: usize, fill: impl FnOnce(&mut [u8])) {
        let nta_len = NTA_HEADER_LEN + len;
        let padded = nta_align(nta_len);
        let dst = &mut self.buf[self.pos..self.pos + padded];
        // Bounded by the emitters' size checks (at most 1028).
        dst[0..2].copy_from_slice(&(nta_len as u16).to_be_bytes());
        dst[2..4].copy_from_slice(&id.to_be_bytes());
        fill(&mut dst[NTA_HEADER_LEN..nta_len]);
        dst[nta_len..].fill(0);
        self.pos += padded;
    }
}

/// Bytes an attribute with a payload of `len` bytes takes, padding included.
pub(crate) const fn attr_space(len: usize) -> usize {
    nta_align(NTA_HEADER_LEN + len)
}

/// Checks a variable-size payload before emission: not empty and within `max` (`nta_len`).
pub(crate) fn check_var(id: u16, len: usize, max: u16) -> Result<(), EmitError> {
    if len == 0 {
        return Err(EmitError::EmptyAttr { id });
    }
    let nta_len = NTA_HEADER_LEN + len;
    if nta_len > usize::from(max) {
        return Err(EmitError::AttrTooLong { id, nta_len, max });
    }
    Ok(())
}

pub(crate) fn be16(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[0], p[1]])
}

pub(crate) fn be32(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

pub(crate) fn arr<const N: usize>(p: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&p[..N]);
    a
}

/// A source / destination pair: addresses of a tuple, or its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pair<T> {
    /// Source.
    pub src: T,
    /// Destination.
    pub dst: T,
}

impl<T> Pair<T> {
    /// A pair.
    pub const fn new(src: T, dst: T) -> Self {
        Self { src, dst }
    }
}

/// Longest string payload any attribute accepts: `NTA_EXP_FN`, `nta_len` ≤ 32.
pub const ATTR_STR_CAPACITY: usize = 28;

/// A string attribute (helper name, expectation function) as carried on the wire: the payload
/// bytes exactly as received, which conntrackd fills with the string and its terminating NUL
/// (`strlen + 1` bytes). Never empty; at most [`ATTR_STR_CAPACITY`] bytes, inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrStr {
    len: u8,
    bytes: [u8; ATTR_STR_CAPACITY],
}

impl AttrStr {
    /// The payload conntrackd would send for `name`: its bytes and a NUL. `None` if `name`
    /// holds a NUL or does not fit (27 bytes at most; the attribute may allow less, which
    /// emission checks).
    pub fn new(name: &str) -> Option<Self> {
        if name.as_bytes().contains(&0) || name.len() + 1 > ATTR_STR_CAPACITY {
            return None;
        }
        let mut bytes = [0; ATTR_STR_CAPACITY];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Some(Self {
            len: (name.len() + 1) as u8,
            bytes,
        })
    }

    /// A payload taken as is (1 to [`ATTR_STR_CAPACITY`] bytes, NUL terminated or not).
    pub fn from_payload(payload: &[u8]) -> Option<Self> {
        if payload.is_empty() || payload.len() > ATTR_STR_CAPACITY {
            return None;
        }
        let mut bytes = [0; ATTR_STR_CAPACITY];
        bytes[..payload.len()].copy_from_slice(payload);
        Some(Self {
            len: payload.len() as u8,
            bytes,
        })
    }

    /// The payload bytes, terminating NUL included.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The string: the payload up to its first NUL.
    pub fn name_bytes(&self) -> &[u8] {
        let p = self.payload();
        let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
        &p[..end]
    }

    /// The string, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.name_bytes()).ok()
    }
}

impl fmt::Debug for AttrStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttrStr(\"{}\")", self.payload().escape_ascii())
    }
}
