//! Netlink framing: `struct nlmsghdr`, `struct nfgenmsg` and `struct nlattr` TLVs.
//!
//! Headers are in host byte order (netlink is a local protocol); ctnetlink attribute payloads
//! are in network byte order, as the kernel reads them with `nla_get_be*`.
//!
//! ```text
//! nlmsghdr (16): len u32 | type u16 | flags u16 | seq u32 | pid u32      (host order)
//! nfgenmsg  (4): family u8 | version u8 | res_id u16 (big endian)
//! nlattr    (4): len u16 (header + payload, no padding) | type u16      (host order)
//!                payload, zero padded to a multiple of 4
//! ```

extern crate alloc;

use alloc::vec::Vec;

use super::error::ParseError;

/// `NLMSG_HDRLEN`: the length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// The length of `struct nfgenmsg`.
pub const NFGENMSG_LEN: usize = 4;
/// `NLA_HDRLEN`: the length of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// `NLA_F_NESTED`: set in the type of an attribute whose payload is attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`: set in the type of an attribute in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// `NLA_TYPE_MASK`: the type bits of `nla_type`.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// `NLMSG_ALIGN` / `NLA_ALIGN`: `len` rounded up to a multiple of 4.
pub const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends netlink messages and their attributes to a caller's buffer; nests and the message
/// length are patched when they end. Writing never fails (the buffer grows); a message is at
/// most `u32::MAX` bytes and a nest at most `u16::MAX`, which the callers stay far below.
#[derive(Debug)]
pub(crate) struct NlWriter<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> NlWriter<'a> {
    /// Starts a message: `nlmsghdr` (length patched by [`finish`](Self::finish)) and `nfgenmsg`.
    pub(crate) fn begin(
        buf: &'a mut Vec<u8>,
        ty: u16,
        flags: u16,
        seq: u32,
        family: u8,
        version: u8,
    ) -> Self {
        let start = buf.len();
        let mut hdr = [0u8; NLMSG_HDRLEN + NFGENMSG_LEN];
        hdr[4..6].copy_from_slice(&ty.to_ne_bytes());
        hdr[6..8].copy_from_slice(&flags.to_ne_bytes());
        hdr[8..12].copy_from_slice(&seq.to_ne_bytes());
        // nlmsg_pid 0: the kernel fills in the sender's port id.
        hdr[16] = family;
        hdr[17] = version;
        buf.extend_from_slice(&hdr);
        Self { buf, start }
    }

    /// Appends one attribute with `payload`, zero padded.
    pub(crate) fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        let pad = align4(len) - len;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
    }

    pub(crate) fn u8(&mut self, ty: u16, v: u8) {
        self.attr(ty, &[v]);
    }

    pub(crate) fn be16(&mut self, ty: u16, v: u16) {
        self.attr(ty, &v.to_be_bytes());
    }

    pub(crate) fn be32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    /// Opens a nested attribute; returns its offset for [`end_nest`](Self::end_nest).
    pub(crate) fn begin_nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    /// Closes the nest opened at `at` (its contents are already 4-byte aligned).
    pub(crate) fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Patches `nlmsg_len` and returns the message length.
    pub(crate) fn finish(self) -> usize {
        let len = self.buf.len() - self.start;
        self.buf[self.start..self.start + 4].copy_from_slice(&(len as u32).to_ne_bytes());
        len
    }
}

/// One netlink message found in a datagram: its header fields and the bytes after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawNlMsg<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: for events, the port id of the socket whose request caused the change
    /// (0 when the kernel itself did).
    pub pid: u32,
    /// The payload (`nlmsg_len − 16` bytes).
    pub payload: &'a [u8],
}

/// Walks the netlink messages of a received datagram (`NLMSG_OK` / `NLMSG_NEXT`). Stops at the
/// first malformed header with an error.
#[derive(Debug, Clone)]
pub struct NlMsgIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> NlMsgIter<'a> {
    /// Walks `datagram`.
    pub const fn new(datagram: &'a [u8]) -> Self {
        Self {
            buf: datagram,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for NlMsgIter<'a> {
    type Item = Result<RawNlMsg<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let offset = self.pos;
        if rest.len() < NLMSG_HDRLEN {
            self.done = true;
            return Some(Err(ParseError::Truncated {
                offset,
                what: "nlmsghdr",
            }));
        }
        let len = u32::from_ne_bytes(arr(&rest[0..4])) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            self.done = true;
            return Some(Err(ParseError::BadMessageLength {
                offset,
                len,
                remaining: rest.len(),
            }));
        }
        let msg = RawNlMsg {
            ty: u16::from_ne_bytes(arr(&rest[4..6])),
            flags: u16::from_ne_bytes(arr(&rest[6..8])),
            seq: u32::from_ne_bytes(arr(&rest[8..12])),
            pid: u32::from_ne_bytes(arr(&rest[12..16])),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        self.pos += align4(len);
        Some(Ok(msg))
    }
}

/// One attribute: type bits (flags stripped) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nla<'a> {
    pub(crate) ty: u16,
    pub(crate) payload: &'a [u8],
}

/// Walks a run of attributes (`nla_for_each_attr`); a header that overruns is an error.
#[derive(Debug, Clone)]
pub(crate) struct NlaIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> NlaIter<'a> {
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for NlaIter<'a> {
    type Item = Result<Nla<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        // Like nla_ok(): fewer bytes than a header left means the end (the kernel pads).
        if rest.len() < NLA_HDRLEN {
            self.done = true;
            return None;
        }
        let len = usize::from(u16::from_ne_bytes(arr(&rest[0..2])));
        let ty = u16::from_ne_bytes(arr(&rest[2..4])) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            self.done = true;
            return Some(Err(ParseError::BadAttrLength {
                ty,
                len,
                remaining: rest.len(),
            }));
        }
        self.pos += align4(len);
        Some(Ok(Nla {
            ty,
            payload: &rest[NLA_HDRLEN..len],
        }))
    }
}

/// The first `N` bytes of `p` (callers check the length first).
pub(crate) fn arr<const N: usize>(p: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&p[..N]);
    a
}

/// Payload checks shared by the attribute readers.
pub(crate) fn exact<const N: usize>(what: &'static str, p: &[u8]) -> Result<[u8; N], ParseError> {
    if p.len() < N {
        return Err(ParseError::AttrTooShort {
            what,
            len: p.len(),
            need: N,
        });
    }
    Ok(arr(p))
}

pub(crate) fn get_u8(what: &'static str, p: &[u8]) -> Result<u8, ParseError> {
    exact::<1>(what, p).map(|a| a[0])
}

pub(crate) fn get_be16(what: &'static str, p: &[u8]) -> Result<u16, ParseError> {
    exact::<2>(what, p).map(u16::from_be_bytes)
}

pub(crate) fn get_be32(what: &'static str, p: &[u8]) -> Result<u32, ParseError> {
    exact::<4>(what, p).map(u32::from_be_bytes)
}
