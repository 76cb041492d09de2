//! Option 82, relay agent information (RFC 3046): a sequence of sub-options, each a code, a
//! length and data. Sub-options have no pad or end and are never split.
//!
//! ```text
//!  Code   Len     Agent Information Field
//! +------+------+------+------+------+------+--...-+------+
//! |  82  |   N  |  i1  |  i2  |  i3  |  i4  |      |  iN  |
//! +------+------+------+------+------+------+--...-+------+
//!  SubOpt  Len     Sub-option Value
//! +------+------+------+------+------+------+--...-+
//! |  1   |   n  |  s1  |  s2  |  s3  |  s4  |      |
//! +------+------+------+------+------+------+--...-+
//! ```

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::error::{EmitError, ParseError};

/// Sub-option codes of option 82.
pub mod sub_code {
    /// 1: agent circuit id (RFC 3046).
    pub const CIRCUIT_ID: u8 = 1;
    /// 2: agent remote id (RFC 3046).
    pub const REMOTE_ID: u8 = 2;
    /// 5: link selection (RFC 3527), a 4-byte IPv4 address naming the client's subnet.
    pub const LINK_SELECTION: u8 = 5;
    /// 6: subscriber id (RFC 3993).
    pub const SUBSCRIBER_ID: u8 = 6;
    /// 11: server identifier override (RFC 5107).
    pub const SERVER_ID_OVERRIDE: u8 = 11;
    /// 12: relay agent identifier (RFC 6925).
    pub const RELAY_AGENT_ID: u8 = 12;
    /// 19: relay source port (RFC 8357).
    pub const RELAY_PORT: u8 = 19;
}

/// One sub-option as it appears in the option: borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubOptionRef<'a> {
    /// Offset of its code byte within the option data.
    pub at: usize,
    /// The sub-option code.
    pub code: u8,
    /// Its data.
    pub data: &'a [u8],
}

/// Iterator over the sub-options of option 82's (joined) data. Yields an error and stops at
/// a sub-option that runs past the end. Error offsets are relative to the option data, with
/// `offset` (option 82's offset in the packet) carried for the report.
#[derive(Debug, Clone)]
pub struct SubOptionIter<'a> {
    data: &'a [u8],
    pos: usize,
    offset: usize,
}

impl<'a> SubOptionIter<'a> {
    /// Sub-options of `data`, the value of an option 82 whose first instance is at `offset` in
    /// its packet (0 if unknown).
    pub const fn new(data: &'a [u8], offset: usize) -> Self {
        Self {
            data,
            pos: 0,
            offset,
        }
    }
}

impl<'a> Iterator for SubOptionIter<'a> {
    type Item = Result<SubOptionRef<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.pos;
        let rest = self.data.get(at..)?;
        let &code = rest.first()?;
        let data = rest
            .get(1)
            .and_then(|&len| rest.get(2..2 + usize::from(len)));
        match data {
            Some(data) => {
                self.pos += 2 + data.len();
                Some(Ok(SubOptionRef { at, code, data }))
            }
            None => {
                self.pos = self.data.len();
                Some(Err(ParseError::TruncatedSubOption {
                    offset: self.offset,
                    at,
                    sub_code: code,
                }))
            }
        }
    }
}

impl core::iter::FusedIterator for SubOptionIter<'_> {}

/// One sub-option of option 82, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubOption {
    /// The sub-option code (see [`sub_code`]).
    pub code: u8,
    /// Its data (at most 255 bytes to be emitted).
    pub data: Vec<u8>,
}

/// Option 82, relay agent information: its sub-options in wire order (duplicates kept), with
/// typed accessors for the ones a server acts on. A DHCP server echoes this option unchanged
/// in its replies (RFC 3046 §2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RelayAgentInfo {
    /// The sub-options in wire order.
    pub sub_options: Vec<SubOption>,
}

impl RelayAgentInfo {
    /// Parses the (joined) data of option 82 whose first instance is at `offset` (0 if
    /// unknown). Checks the framing and the length of link selection (4 bytes).
    pub fn parse(data: &[u8], offset: usize) -> Result<Self, ParseError> {
        let mut sub_options = Vec::new();
        for s in SubOptionIter::new(data, offset) {
            let s = s?;
            if s.code == sub_code::LINK_SELECTION && s.data.len() != 4 {
                return Err(ParseError::BadSubOptionLength {
                    offset,
                    sub_code: s.code,
                    len: s.data.len(),
                });
            }
            sub_options.push(SubOption {
                code: s.code,
                data: Vec::from(s.data),
            });
        }
        Ok(Self { sub_options })
    }

    /// The data of the first sub-option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.sub_options
            .iter()
            .find(|s| s.code == code)
            .map(|s| &s.data[..])
    }

    /// The agent circuit id (sub-option 1).
    pub fn circuit_id(&self) -> Option<&[u8]> {
        self.get(sub_code::CIRCUIT_ID)
    }

    /// The agent remote id (sub-option 2).
    pub fn remote_id(&self) -> Option<&[u8]> {
        self.get(sub_code::REMOTE_ID)
    }

    /// The link selection address (sub-option 5, RFC 3527), if present with 4 bytes.
    pub fn link_selection(&self) -> Option<Ipv4Addr> {
        let b: [u8; 4] = self.get(sub_code::LINK_SELECTION)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// Appends a sub-option (builder style).
    #[must_use]
    pub fn with(mut self, code: u8, data: impl Into<Vec<u8>>) -> Self {
        self.sub_options.push(SubOption {
            code,
            data: data.into(),
        });
        self
    }

    /// Appends a circuit id sub-option.
    #[must_use]
    pub fn with_circuit_id(self, id: impl Into<Vec<u8>>) -> Self {
        self.with(sub_code::CIRCUIT_ID, id)
    }

    /// Appends a remote id sub-option.
    #[must_use]
    pub fn with_remote_id(self, id: impl Into<Vec<u8>>) -> Self {
        self.with(sub_code::REMOTE_ID, id)
    }

    /// Appends a link selection sub-option.
    #[must_use]
    pub fn with_link_selection(self, addr: Ipv4Addr) -> Self {
        self.with(sub_code::LINK_SELECTION, addr.octets())
    }

    /// Length of the encoded option data (the sub-options, without option 82's own header).
    pub fn buffer_len(&self) -> usize {
        self.sub_options.iter().map(|s| 2 + s.data.len()).sum()
    }

    /// Checks that every sub-option fits its length byte, and that link selection has 4
    /// bytes (what [`parse`](Self::parse) accepts).
    pub fn check_emit(&self) -> Result<(), EmitError> {
        let bad = |s: &&SubOption| {
            s.data.len() > 255 || (s.code == sub_code::LINK_SELECTION && s.data.len() != 4)
        };
        match self.sub_options.iter().find(bad) {
            Some(s) => Err(EmitError::BadSubOptionLength {
                sub_code: s.code,
                len: s.data.len(),
            }),
            None => Ok(()),
        }
    }

    /// Writes the option data into `buf`; returns the length written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.check_emit()?;
        let required = self.buffer_len();
        let Some(out) = buf.get_mut(..required) else {
            return Err(EmitError::InsufficientSize {
                required,
                have: buf.len(),
            });
        };
        self.write_part(0, out);
        Ok(required)
    }

    /// Writes bytes `start..start + out.len()` of the encoded data into `out`.
    pub(crate) fn write_part(&self, start: usize, out: &mut [u8]) {
        let mut at = 0;
        for s in &self.sub_options {
            // Sub-option lengths are checked before any emit; a longer one writes its low byte.
            copy_overlap(&[s.code, s.data.len() as u8], at, start, out);
            copy_overlap(&s.data, at + 2, start, out);
            at += 2 + s.data.len();
            if at >= start + out.len() {
                break;
            }
        }
    }
}

/// Copies the part of `seg` (which sits at `seg_at` in a value) that falls in the window
/// `start..start + out.len()` of that value into `out`.
pub(crate) fn copy_overlap(seg: &[u8], seg_at: usize, start: usize, out: &mut [u8]) {
    let lo = seg_at.max(start);
    let hi = (seg_at + seg.len()).min(start + out.len());
    if lo < hi
        && let (Some(src), Some(dst)) = (
            seg.get(lo - seg_at..hi - seg_at),
            out.get_mut(lo - start..hi - start),
        )
    {
        dst.copy_from_slice(src);
    }
}
