//! The owned representation of a DHCPv4 packet: [`Dhcp4Repr`] with parse / buffer_len / emit.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::error::{Area, EmitError, ParseError};
use super::layout::{AreaLayout, Item, Layout, area_index};
use super::options::{CodeSet, OptionIter, TokenKind, code};
use super::packet::{
    BOOTP_HEADER_LEN, FLAG_BROADCAST, HEADER_LEN, MAGIC_COOKIE, Packet, area_range, field,
};
use super::typed::{MessageType, Options};

/// The BOOTP op code. A newtype over the wire value, so that any value re-encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Op(pub u8);

impl Op {
    /// 1: BOOTREQUEST, client to server.
    pub const REQUEST: Self = Self(1);
    /// 2: BOOTREPLY, server to client.
    pub const REPLY: Self = Self(2);
}

/// A DHCPv4 packet, owned and decoded: the BOOTP header fields, the options, and the layout
/// the options had on the wire.
///
/// # Round trip
/// For every packet that [`parse`](Self::parse) accepts, [`emit`](Self::emit) writes the same
/// bytes back. The header is stored field by field and `sname` / `file` verbatim; option
/// values are typed such that decoding accepts exactly what encoding produces; and
/// [`layout`](Self::layout) records everything else about how the options were laid out
/// (order, RFC 3396 splits, overload into `file` / `sname`, pads, END, trailing bytes). A
/// packet already laid out canonically (Kea's order, no pads, nothing after END) gets no
/// layout, so that a repr built by hand and one parsed from its emitted bytes are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dhcp4Repr {
    /// Message op code.
    pub op: Op,
    /// Hardware address type (1 for Ethernet).
    pub htype: u8,
    /// Hardware address length, as sent.
    pub hlen: u8,
    /// Relay hop count.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began acquisition or renewal.
    pub secs: u16,
    /// Flags ([`FLAG_BROADCAST`] and 15 bits that must be zero but are kept as sent).
    pub flags: u16,
    /// Client IP address.
    pub ciaddr: Ipv4Addr,
    /// "Your" (client) IP address.
    pub yiaddr: Ipv4Addr,
    /// Next server IP address.
    pub siaddr: Ipv4Addr,
    /// Relay agent IP address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address field (the address is its first `hlen` bytes).
    pub chaddr: [u8; 16],
    /// Server host name field, verbatim. All zeros when the packet overloads it with options.
    pub sname: [u8; 64],
    /// Boot file name field, verbatim. All zeros when the packet overloads it with options.
    pub file: [u8; 128],
    /// The options.
    pub options: Options,
    /// How the options were laid out, if not canonically. Set it to `None` to emit canonically.
    pub layout: Option<Layout>,
}

impl Default for Dhcp4Repr {
    /// A BOOTREQUEST from an Ethernet client, all fields zero, no options.
    fn default() -> Self {
        Self {
            op: Op::REQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
            options: Options::default(),
            layout: None,
        }
    }
}

fn check_header(b: &[u8]) -> Result<(), ParseError> {
    if b.len() < BOOTP_HEADER_LEN {
        return Err(ParseError::Truncated {
            need: BOOTP_HEADER_LEN,
            have: b.len(),
        });
    }
    if b.len() < HEADER_LEN {
        return Err(ParseError::MissingMagicCookie { have: b.len() });
    }
    let found = u32::from_be_bytes([b[236], b[237], b[238], b[239]]);
    if found != MAGIC_COOKIE {
        return Err(ParseError::BadMagicCookie { found });
    }
    Ok(())
}

impl Dhcp4Repr {
    /// Decodes a packet, checked or not: the header, the framing of every option area, and
    /// the value of every typed option.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self, ParseError> {
        let b = packet.as_bytes();
        check_header(b)?;

        // Pass 1: framing errors, the layout, and which codes have several instances.
        let mut areas: [AreaLayout; 3] = Default::default();
        let mut seen = CodeSet::default();
        let mut multi = CodeSet::default();
        let mut tokens = packet.tokens();
        for t in tokens.by_ref() {
            let t = t?;
            let a = &mut areas[area_index(t.area)];
            match t.kind {
                TokenKind::Pad => a.push_pad(),
                TokenKind::End => {
                    a.end = true;
                    let (_, end) = area_range(t.area, b.len());
                    a.trailer = Vec::from(b.get(t.offset + 1..end).unwrap_or(&[]));
                }
                TokenKind::Option { code, data } => {
                    a.items.push(Item::Opt {
                        code,
                        len: data.len() as u8,
                    });
                    if code != code::OVERLOAD && !seen.insert(code) {
                        multi.insert(code);
                    }
                }
            }
        }
        let overload = tokens.overload();

        // Pass 2: values, joined across instances.
        let mut options = Options::default();
        for opt in OptionIter::with_multi(packet.tokens(), multi) {
            if opt.code != code::OVERLOAD {
                options.set_decoded(opt.code, opt.data, opt.offset)?;
            }
        }

        let mut layout = Layout {
            overload,
            areas,
            totals: Vec::new(),
        };
        let layout = if layout.is_canonical() {
            None
        } else {
            let mut totals: Vec<(u8, usize)> = options
                .codes()
                .map(|c| (c, options.encoded_len(c).unwrap_or(0)))
                .collect();
            totals.sort_unstable();
            layout.totals = totals;
            Some(layout)
        };

        let mut sname = [0; 64];
        let mut file = [0; 128];
        if !overload.is_some_and(|o| o.sname()) {
            sname.copy_from_slice(&b[field::SNAME]);
        }
        if !overload.is_some_and(|o| o.file()) {
            file.copy_from_slice(&b[field::FILE]);
        }
        Ok(Self {
            op: packet.op(),
            htype: packet.htype(),
            hlen: packet.hlen(),
            hops: packet.hops(),
            xid: packet.xid(),
            secs: packet.secs(),
            flags: packet.flags(),
            ciaddr: packet.ciaddr(),
            yiaddr: packet.yiaddr(),
            siaddr: packet.siaddr(),
            giaddr: packet.giaddr(),
            chaddr: packet.chaddr(),
            sname,
            file,
            options,
            layout,
        })
    }

    /// Decodes a packet from bytes (see [`parse`](Self::parse)).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        Self::parse(&Packet::new_unchecked(bytes))
    }

    /// The layout that [`emit`](Self::emit) will use: the recorded one if it still matches
    /// the options, else `None` (canonical).
    pub fn effective_layout(&self) -> Option<&Layout> {
        self.layout.as_ref().filter(|l| l.matches(&self.options))
    }

    /// Length of the emitted packet.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self.effective_layout() {
                Some(l) => l.options_len(),
                None => self.options.canonical_len(),
            }
    }

    /// Writes the packet into the front of `buf`; returns its length
    /// ([`buffer_len`](Self::buffer_len)).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.options.check_emit()?;
        let layout = self.effective_layout();
        let required = HEADER_LEN
            + match layout {
                Some(l) => l.options_len(),
                None => self.options.canonical_len(),
            };
        let have = buf.len();
        let Some(out) = buf.get_mut(..required) else {
            return Err(EmitError::InsufficientSize { required, have });
        };
        out[field::OP] = self.op.0;
        out[field::HTYPE] = self.htype;
        out[field::HLEN] = self.hlen;
        out[field::HOPS] = self.hops;
        out[field::XID].copy_from_slice(&self.xid.to_be_bytes());
        out[field::SECS].copy_from_slice(&self.secs.to_be_bytes());
        out[field::FLAGS].copy_from_slice(&self.flags.to_be_bytes());
        out[field::CIADDR].copy_from_slice(&self.ciaddr.octets());
        out[field::YIADDR].copy_from_slice(&self.yiaddr.octets());
        out[field::SIADDR].copy_from_slice(&self.siaddr.octets());
        out[field::GIADDR].copy_from_slice(&self.giaddr.octets());
        out[field::CHADDR].copy_from_slice(&self.chaddr);
        out[field::SNAME].copy_from_slice(&self.sname);
        out[field::FILE].copy_from_slice(&self.file);
        out[field::COOKIE].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        match layout {
            Some(l) => l.write(&self.options, out),
            None => self.options.write_canonical(&mut out[field::OPTIONS..]),
        }
        Ok(required)
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EmitError> {
        let mut v = alloc::vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }

    /// The message type (option 53).
    pub const fn message_type(&self) -> Option<MessageType> {
        self.options.message_type
    }

    /// Whether the broadcast flag is set.
    pub const fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// The client hardware address: the first `hlen` bytes of `chaddr` (at most 16).
    pub fn client_hw_addr(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen).min(16)]
    }

    /// Whether the options were laid out in `area` (through option 52).
    pub fn overloads(&self, area: Area) -> bool {
        self.layout.as_ref().is_some_and(|l| l.uses(area)) && area != Area::Options
    }

    /// The start of a reply to `request`, as Kea 2.2 starts one (`copyDefaultFields` and
    /// `copyDefaultOptions`), for the server to complete:
    /// * op BOOTREPLY; `htype`, `hlen`, `chaddr`, `xid`, `flags` and `giaddr` copied;
    /// * `hops` copied, as Kea does (RFC 2131 Table 3 says 0); `secs`, `ciaddr`, `yiaddr`
    ///   and `siaddr` zero (the server sets `ciaddr` when it ACKs a renewal or an INFORM);
    /// * options: the message type; the client identifier echoed (RFC 6842, Kea's default
    ///   `echo-client-id: true`: remove it to turn that off); relay agent information echoed
    ///   when it has sub-options (RFC 3046 §2.2); subnet selection echoed (RFC 3011 §3).
    ///
    /// Nothing else: server id, lease times and configured options are the server's.
    pub fn reply_to(request: &Self, message_type: MessageType) -> Self {
        let o = &request.options;
        Self {
            op: Op::REPLY,
            htype: request.htype,
            hlen: request.hlen,
            hops: request.hops,
            xid: request.xid,
            flags: request.flags,
            giaddr: request.giaddr,
            chaddr: request.chaddr,
            options: Options {
                message_type: Some(message_type),
                client_id: o.client_id.clone(),
                relay_agent_info: o
                    .relay_agent_info
                    .clone()
                    .filter(|r| !r.sub_options.is_empty()),
                subnet_selection: o.subnet_selection,
                ..Options::default()
            },
            ..Self::default()
        }
    }
}
