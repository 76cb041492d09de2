//! Option framing: the [`Tokens`] of each area (pads, option instances, ends), option 52
//! overload, and the logical [`OptionIter`] that joins split options (RFC 3396).

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::error::{Area, ParseError};
use super::packet::{HEADER_LEN, area_range};

/// Option codes (RFC 2132 and later). Only the ones the codec or the server refers to.
pub mod code {
    /// 0: pad, a single byte.
    pub const PAD: u8 = 0;
    /// 1: subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// 2: time offset (seconds east of UTC, signed).
    pub const TIME_OFFSET: u8 = 2;
    /// 3: routers.
    pub const ROUTERS: u8 = 3;
    /// 6: domain name servers.
    pub const DOMAIN_NAME_SERVERS: u8 = 6;
    /// 12: host name.
    pub const HOSTNAME: u8 = 12;
    /// 15: domain name.
    pub const DOMAIN_NAME: u8 = 15;
    /// 26: interface MTU.
    pub const INTERFACE_MTU: u8 = 26;
    /// 28: broadcast address.
    pub const BROADCAST_ADDRESS: u8 = 28;
    /// 42: NTP servers.
    pub const NTP_SERVERS: u8 = 42;
    /// 43: vendor-specific information.
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// 50: requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// 51: IP address lease time.
    pub const LEASE_TIME: u8 = 51;
    /// 52: option overload.
    pub const OVERLOAD: u8 = 52;
    /// 53: DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// 54: server identifier.
    pub const SERVER_ID: u8 = 54;
    /// 55: parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// 56: message (error text).
    pub const MESSAGE: u8 = 56;
    /// 57: maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// 58: renewal (T1) time.
    pub const RENEWAL_TIME: u8 = 58;
    /// 59: rebinding (T2) time.
    pub const REBINDING_TIME: u8 = 59;
    /// 60: vendor class identifier.
    pub const VENDOR_CLASS_ID: u8 = 60;
    /// 61: client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// 66: TFTP server name.
    pub const TFTP_SERVER_NAME: u8 = 66;
    /// 67: boot file name.
    pub const BOOTFILE_NAME: u8 = 67;
    /// 77: user class (RFC 3004).
    pub const USER_CLASS: u8 = 77;
    /// 81: client FQDN (RFC 4702).
    pub const CLIENT_FQDN: u8 = 81;
    /// 82: relay agent information (RFC 3046).
    pub const RELAY_AGENT_INFO: u8 = 82;
    /// 118: subnet selection (RFC 3011).
    pub const SUBNET_SELECTION: u8 = 118;
    /// 119: domain search (RFC 3397).
    pub const DOMAIN_SEARCH: u8 = 119;
    /// 121: classless static routes (RFC 3442).
    pub const CLASSLESS_STATIC_ROUTE: u8 = 121;
    /// 255: end.
    pub const END: u8 = 255;
}

/// The value of option 52: which of the `file` and `sname` fields carry options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overload {
    /// 1: the `file` field.
    File,
    /// 2: the `sname` field.
    Sname,
    /// 3: both; `file` is read before `sname`.
    Both,
}

impl Overload {
    /// Decodes the option value.
    pub const fn from_value(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::File),
            2 => Some(Self::Sname),
            3 => Some(Self::Both),
            _ => None,
        }
    }

    /// The option value.
    pub const fn value(self) -> u8 {
        match self {
            Self::File => 1,
            Self::Sname => 2,
            Self::Both => 3,
        }
    }

    /// Whether the `file` field carries options.
    pub const fn file(self) -> bool {
        matches!(self, Self::File | Self::Both)
    }

    /// Whether the `sname` field carries options.
    pub const fn sname(self) -> bool {
        matches!(self, Self::Sname | Self::Both)
    }
}

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind<'a> {
    /// A pad byte (code 0).
    Pad,
    /// An end byte (code 255). The rest of the area, if any, is trailing bytes.
    End,
    /// One instance of an option: its code and the data of this instance.
    Option {
        /// The option code.
        code: u8,
        /// This instance's data (a split option has several instances, RFC 3396).
        data: &'a [u8],
    },
}

/// One framing element of an option area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The area it is in.
    pub area: Area,
    /// Offset of its first byte in the packet.
    pub offset: usize,
    /// What it is.
    pub kind: TokenKind<'a>,
}

impl<'a> Token<'a> {
    /// The code and data of an option instance; `None` for pad and end.
    pub const fn option(&self) -> Option<(u8, &'a [u8])> {
        match self.kind {
            TokenKind::Option { code, data } => Some((code, data)),
            _ => None,
        }
    }
}

/// Iterator over the [`Token`]s of every option area in use, in the order RFC 3396 §7 joins
/// them: the options field, then `file`, then `sname` (as option 52 says).
///
/// Yields an error and stops at the first framing error. The iterator is cheap to clone
/// (a few words), which is how [`OptionIter`] looks ahead.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    buf: &'a [u8],
    area: Area,
    pos: usize,
    end: usize,
    overload: Option<Overload>,
    done: bool,
}

impl<'a> Tokens<'a> {
    /// Tokens of the packet `buf` (the magic cookie is not checked here).
    pub fn new(buf: &'a [u8]) -> Self {
        let done = buf.len() < HEADER_LEN;
        let (pos, end) = area_range(Area::Options, buf.len());
        Self {
            buf,
            area: Area::Options,
            pos,
            end,
            overload: None,
            done,
        }
    }

    /// The overload seen so far (complete once the options field has been walked).
    pub const fn overload(&self) -> Option<Overload> {
        self.overload
    }

    /// Moves to the next area in use after the current one ends.
    fn next_area(&mut self) {
        let next = match (self.area, self.overload) {
            (Area::Options, Some(o)) if o.file() => Some(Area::File),
            (Area::Options | Area::File, Some(o)) if o.sname() => Some(Area::Sname),
            _ => None,
        };
        match next {
            Some(area) => {
                let (pos, end) = area_range(area, self.buf.len());
                self.area = area;
                self.pos = pos;
                self.end = end;
            }
            None => self.done = true,
        }
    }

    fn fail(&mut self, e: ParseError) -> Option<Result<Token<'a>, ParseError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<Token<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.pos >= self.end {
                // The area ends without an END option: accepted when the options fill it.
                self.next_area();
                continue;
            }
            let offset = self.pos;
            let area = self.area;
            let Some(&code) = self.buf.get(offset) else {
                self.done = true;
                return None;
            };
            let kind = match code {
                0 => {
                    self.pos += 1;
                    TokenKind::Pad
                }
                255 => {
                    // Whatever follows END in this area is trailing bytes, not options.
                    self.pos = self.end;
                    TokenKind::End
                }
                _ => {
                    let have = self.end - offset;
                    let Some(&len) = self.buf.get(offset + 1).filter(|_| have >= 2) else {
                        return self.fail(ParseError::TruncatedOption {
                            area,
                            offset,
                            code,
                            need: 2,
                            have,
                        });
                    };
                    let need = 2 + usize::from(len);
                    if need > have {
                        return self.fail(ParseError::TruncatedOption {
                            area,
                            offset,
                            code,
                            need,
                            have,
                        });
                    }
                    let Some(data) = self.buf.get(offset + 2..offset + need) else {
                        self.done = true;
                        return None;
                    };
                    if code == super::code::OVERLOAD {
                        if area != Area::Options {
                            return self.fail(ParseError::OverloadInField { area, offset });
                        }
                        if self.overload.is_some() {
                            return self.fail(ParseError::RepeatedOverload { offset });
                        }
                        let &[value] = data else {
                            return self.fail(ParseError::BadOverloadLength { offset, len });
                        };
                        let Some(o) = Overload::from_value(value) else {
                            return self.fail(ParseError::BadOverloadValue { offset, value });
                        };
                        self.overload = Some(o);
                    }
                    self.pos += need;
                    TokenKind::Option { code, data }
                }
            };
            return Some(Ok(Token { area, offset, kind }));
        }
    }
}

impl core::iter::FusedIterator for Tokens<'_> {}

/// One logical option: a code and its data, all instances joined (RFC 3396).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionRef<'a> {
    /// The option code.
    pub code: u8,
    /// Offset of the first instance's code byte.
    pub offset: usize,
    /// The data: borrowed from the packet for a single instance, owned when joined.
    pub data: Cow<'a, [u8]>,
}

/// A set of option codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CodeSet([u64; 4]);

impl CodeSet {
    pub(crate) const fn contains(&self, code: u8) -> bool {
        self.0[(code >> 6) as usize] & (1 << (code & 63)) != 0
    }

    /// Inserts `code`; returns whether it was new.
    pub(crate) const fn insert(&mut self, code: u8) -> bool {
        let new = !self.contains(code);
        self.0[(code >> 6) as usize] |= 1 << (code & 63);
        new
    }
}

/// Iterator over the logical options of a packet, in order of first appearance, with the
/// instances of each code joined across all areas (RFC 3396). See [`Packet::options`].
///
/// Joining is bounded: the data of one option is made of disjoint pieces of the packet, so all
/// joined data together is never longer than the packet. Work is linear: one pass finds the
/// codes with several instances, one more gathers their pieces (only if there are any), and
/// the iteration is the third.
///
/// [`Packet::options`]: super::Packet::options
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    tokens: Tokens<'a>,
    multi: CodeSet,
    yielded: CodeSet,
    /// For a code with several instances, its index in `joined`.
    slot: [u8; 256],
    joined: Vec<Vec<u8>>,
}

impl<'a> OptionIter<'a> {
    /// The logical options of `tokens`.
    pub fn new(tokens: Tokens<'a>) -> Self {
        let mut seen = CodeSet::default();
        let mut multi = CodeSet::default();
        for t in tokens.clone() {
            let Ok(t) = t else { break };
            if let Some((code, _)) = t.option()
                && !seen.insert(code)
            {
                multi.insert(code);
            }
        }
        Self::with_multi(tokens, multi)
    }

    /// The logical options of `tokens`, where `multi` holds the codes with several instances.
    pub(crate) fn with_multi(tokens: Tokens<'a>, multi: CodeSet) -> Self {
        let mut slot = [u8::MAX; 256];
        let mut joined: Vec<Vec<u8>> = Vec::new();
        if multi != CodeSet::default() {
            for t in tokens.clone() {
                let Ok(t) = t else { break };
                let Some((code, data)) = t.option().filter(|(c, _)| multi.contains(*c)) else {
                    continue;
                };
                // At most 254 codes (1 to 254) have instances, so an index fits below u8::MAX.
                let s = &mut slot[usize::from(code)];
                if *s == u8::MAX {
                    *s = joined.len() as u8;
                    joined.push(Vec::new());
                }
                if let Some(j) = joined.get_mut(usize::from(*s)) {
                    j.extend_from_slice(data);
                }
            }
        }
        Self {
            tokens,
            multi,
            yielded: CodeSet::default(),
            slot,
            joined,
        }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = OptionRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let t = self.tokens.next()?.ok()?;
            let Some((code, first)) = t.option() else {
                continue;
            };
            if !self.yielded.insert(code) {
                continue;
            }
            let data = if self.multi.contains(code) {
                let joined = self
                    .joined
                    .get_mut(usize::from(self.slot[usize::from(code)]));
                Cow::Owned(joined.map(core::mem::take).unwrap_or_default())
            } else {
                Cow::Borrowed(first)
            };
            return Some(OptionRef {
                code,
                offset: t.offset,
                data,
            });
        }
    }
}

impl core::iter::FusedIterator for OptionIter<'_> {}
