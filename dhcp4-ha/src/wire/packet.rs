//! A checked, zero-copy view over the bytes of a DHCPv4 packet (the UDP payload).
//!
//! ```text
//! RFC 2131 §2, Figure 1
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+---------------+---------------+
//! |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |   0
//! +---------------+---------------+---------------+---------------+
//! |                            xid (4)                            |   4
//! +-------------------------------+-------------------------------+
//! |           secs (2)            |           flags (2)           |   8
//! +-------------------------------+-------------------------------+
//! |                          ciaddr  (4)                          |  12
//! |                          yiaddr  (4)                          |  16
//! |                          siaddr  (4)                          |  20
//! |                          giaddr  (4)                          |  24
//! +---------------------------------------------------------------+
//! |                          chaddr  (16)                         |  28
//! |                          sname   (64)                         |  44
//! |                          file    (128)                        | 108
//! +---------------------------------------------------------------+
//! |                  magic cookie 99.130.83.99 (4)                | 236
//! +---------------------------------------------------------------+
//! |                       options (variable)                      | 240
//! +---------------------------------------------------------------+
//! ```

use alloc::borrow::Cow;
use core::net::Ipv4Addr;

use super::error::{Area, ParseError};
use super::options::{OptionIter, Overload, Tokens};

/// The DHCP magic cookie, 99.130.83.99 (RFC 2131 §3).
pub const MAGIC_COOKIE: u32 = 0x6382_5363;
/// Length of the BOOTP header before the magic cookie.
pub const BOOTP_HEADER_LEN: usize = 236;
/// Length of the fixed part of a DHCP packet: the BOOTP header and the magic cookie.
pub const HEADER_LEN: usize = 240;
/// The broadcast bit of the `flags` field (RFC 2131 §2, Figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Byte offsets of the fields.
pub mod field {
    use core::ops::Range;
    /// Message op code: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub const OP: usize = 0;
    /// Hardware address type (1 = Ethernet).
    pub const HTYPE: usize = 1;
    /// Hardware address length.
    pub const HLEN: usize = 2;
    /// Relay hop count.
    pub const HOPS: usize = 3;
    /// Transaction id.
    pub const XID: Range<usize> = 4..8;
    /// Seconds since the client began acquisition or renewal.
    pub const SECS: Range<usize> = 8..10;
    /// Flags (broadcast bit).
    pub const FLAGS: Range<usize> = 10..12;
    /// Client IP address.
    pub const CIADDR: Range<usize> = 12..16;
    /// "Your" (client) IP address.
    pub const YIADDR: Range<usize> = 16..20;
    /// Next server IP address.
    pub const SIADDR: Range<usize> = 20..24;
    /// Relay agent IP address.
    pub const GIADDR: Range<usize> = 24..28;
    /// Client hardware address.
    pub const CHADDR: Range<usize> = 28..44;
    /// Server host name (or options, when overloaded).
    pub const SNAME: Range<usize> = 44..108;
    /// Boot file name (or options, when overloaded).
    pub const FILE: Range<usize> = 108..236;
    /// The magic cookie.
    pub const COOKIE: Range<usize> = 236..240;
    /// Start of the options field.
    pub const OPTIONS: usize = 240;
}

/// The byte range of an option area in a packet of `len` bytes.
pub(crate) const fn area_range(area: Area, len: usize) -> (usize, usize) {
    match area {
        Area::Options => (field::OPTIONS, len),
        Area::File => (field::FILE.start, field::FILE.end),
        Area::Sname => (field::SNAME.start, field::SNAME.end),
    }
}

/// A view over a buffer holding one DHCPv4 packet.
///
/// # Validation contract
/// [`Packet::new_checked`] checks that the buffer holds the BOOTP header and the magic cookie
/// and that the options are well framed in every area in use: each option's length byte is
/// present and its data ends inside its area, option 52 (overload) appears at most once, in the
/// options field, with length 1 and value 1, 2 or 3, and the overloaded fields are well framed
/// too. It does not look inside option values: typed values are checked by
/// [`Dhcp4Repr::parse`](crate::wire::Dhcp4Repr::parse).
///
/// No accessor ever panics, on a checked or an unchecked view: the fixed fields read through
/// bounds-checked slices (zeros where bytes are missing), and the option iterators stop at the
/// first malformation of an unchecked buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking it (see the validation contract above).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks the header, the magic cookie and the framing of the options.
    pub fn check(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < BOOTP_HEADER_LEN {
            return Err(ParseError::Truncated {
                need: BOOTP_HEADER_LEN,
                have: b.len(),
            });
        }
        if b.len() < HEADER_LEN {
            return Err(ParseError::MissingMagicCookie { have: b.len() });
        }
        if self.magic_cookie() != MAGIC_COOKIE {
            return Err(ParseError::BadMagicCookie {
                found: self.magic_cookie(),
            });
        }
        for token in self.tokens() {
            token?;
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        if let Some(s) = self.buffer.as_ref().get(at..at + N) {
            out.copy_from_slice(s);
        }
        out
    }

    /// The message op code (1 BOOTREQUEST, 2 BOOTREPLY).
    pub fn op(&self) -> super::Op {
        super::Op(self.byte(field::OP))
    }

    /// The hardware address type (1 for Ethernet).
    pub fn htype(&self) -> u8 {
        self.byte(field::HTYPE)
    }

    /// The hardware address length field as sent (may exceed 16).
    pub fn hlen(&self) -> u8 {
        self.byte(field::HLEN)
    }

    /// The relay hop count.
    pub fn hops(&self) -> u8 {
        self.byte(field::HOPS)
    }

    /// The transaction id.
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.bytes(field::XID.start))
    }

    /// Seconds elapsed since the client began acquisition or renewal.
    pub fn secs(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::SECS.start))
    }

    /// The flags field.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::FLAGS.start))
    }

    /// Whether the client asked for broadcast replies.
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }

    /// The client IP address.
    pub fn ciaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::CIADDR.start))
    }

    /// The "your" (client) IP address.
    pub fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::YIADDR.start))
    }

    /// The next server IP address.
    pub fn siaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::SIADDR.start))
    }

    /// The relay agent IP address.
    pub fn giaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::GIADDR.start))
    }

    /// The 16-byte client hardware address field.
    pub fn chaddr(&self) -> [u8; 16] {
        self.bytes(field::CHADDR.start)
    }

    /// The client hardware address: the first `hlen` bytes of `chaddr` (at most 16).
    pub fn client_hw_addr(&self) -> &[u8] {
        let n = usize::from(self.hlen()).min(16);
        self.buffer
            .as_ref()
            .get(field::CHADDR.start..field::CHADDR.start + n)
            .unwrap_or(&[])
    }

    /// The raw 64-byte `sname` field (options, when overloaded).
    pub fn sname(&self) -> &[u8] {
        self.buffer.as_ref().get(field::SNAME).unwrap_or(&[])
    }

    /// The raw 128-byte `file` field (options, when overloaded).
    pub fn file(&self) -> &[u8] {
        self.buffer.as_ref().get(field::FILE).unwrap_or(&[])
    }

    /// The magic cookie field.
    pub fn magic_cookie(&self) -> u32 {
        u32::from_be_bytes(self.bytes(field::COOKIE.start))
    }

    /// The raw options field (from offset 240 to the end).
    pub fn options_field(&self) -> &[u8] {
        self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[])
    }

    /// The value of option 52, if the options field carries a valid one.
    pub fn overload(&self) -> Option<Overload> {
        let mut tokens = self.tokens();
        for token in tokens.by_ref() {
            match token {
                Ok(t) if t.area != Area::Options => break,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        tokens.overload()
    }

    /// The framing tokens (pads, option instances, ends) of every area in use, in wire order:
    /// the options field, then `file`, then `sname` as option 52 says.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens::new(self.buffer.as_ref())
    }

    /// The options, one item per code in order of first appearance, each instance of a code
    /// concatenated (RFC 3396) across all areas. Data is borrowed unless a code has several
    /// instances. Option 52 itself is included. On an unchecked buffer the iteration stops at
    /// the first malformation.
    pub fn options(&self) -> OptionIter<'_> {
        OptionIter::new(self.tokens())
    }

    /// The (concatenated) data of option `code`, if present.
    pub fn option(&self, code: u8) -> Option<Cow<'_, [u8]>> {
        let mut tokens = self.tokens();
        let first = tokens.find_map(|t| match t {
            Ok(t) => t.option().filter(|(c, _)| *c == code).map(|(_, d)| d),
            Err(_) => None,
        })?;
        let mut data = Cow::Borrowed(first);
        for t in tokens {
            match t {
                Ok(t) => {
                    if let Some((c, d)) = t.option()
                        && c == code
                    {
                        data.to_mut().extend_from_slice(d);
                    }
                }
                Err(_) => break,
            }
        }
        Some(data)
    }

    /// The message type (option 53), if present with length 1.
    pub fn message_type(&self) -> Option<super::MessageType> {
        match self.option(super::code::MESSAGE_TYPE)?.as_ref() {
            [t] => Some(super::MessageType(*t)),
            _ => None,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, at: usize, data: &[u8]) {
        if let Some(s) = self.buffer.as_mut().get_mut(at..at + data.len()) {
            s.copy_from_slice(data);
        }
    }

    /// Sets the op code.
    pub fn set_op(&mut self, op: super::Op) {
        self.put(field::OP, &[op.0]);
    }

    /// Sets the relay hop count (a relay agent increments it).
    pub fn set_hops(&mut self, hops: u8) {
        self.put(field::HOPS, &[hops]);
    }

    /// Sets the transaction id.
    pub fn set_xid(&mut self, xid: u32) {
        self.put(field::XID.start, &xid.to_be_bytes());
    }

    /// Sets the seconds field.
    pub fn set_secs(&mut self, secs: u16) {
        self.put(field::SECS.start, &secs.to_be_bytes());
    }

    /// Sets the flags field.
    pub fn set_flags(&mut self, flags: u16) {
        self.put(field::FLAGS.start, &flags.to_be_bytes());
    }

    /// Sets the client IP address.
    pub fn set_ciaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::CIADDR.start, &addr.octets());
    }

    /// Sets the "your" IP address.
    pub fn set_yiaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::YIADDR.start, &addr.octets());
    }

    /// Sets the next server IP address.
    pub fn set_siaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::SIADDR.start, &addr.octets());
    }

    /// Sets the relay agent IP address.
    pub fn set_giaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::GIADDR.start, &addr.octets());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}
