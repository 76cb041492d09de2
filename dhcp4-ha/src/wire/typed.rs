//! The typed options a server acts on ([`Options`]), raw passthrough of the rest
//! ([`RawOptions`]), and the message type.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use super::error::{EmitError, ParseError};
use super::options::code;
use super::relay::{RelayAgentInfo, copy_overlap};

/// The DHCP message type (option 53). A newtype over the wire value so that every value,
/// known or not, encodes back to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u8);

impl MessageType {
    /// 1: DHCPDISCOVER.
    pub const DISCOVER: Self = Self(1);
    /// 2: DHCPOFFER.
    pub const OFFER: Self = Self(2);
    /// 3: DHCPREQUEST.
    pub const REQUEST: Self = Self(3);
    /// 4: DHCPDECLINE.
    pub const DECLINE: Self = Self(4);
    /// 5: DHCPACK.
    pub const ACK: Self = Self(5);
    /// 6: DHCPNAK.
    pub const NAK: Self = Self(6);
    /// 7: DHCPRELEASE.
    pub const RELEASE: Self = Self(7);
    /// 8: DHCPINFORM.
    pub const INFORM: Self = Self(8);
    /// 9: DHCPFORCERENEW (RFC 3203).
    pub const FORCERENEW: Self = Self(9);
    /// 10: DHCPLEASEQUERY (RFC 4388).
    pub const LEASEQUERY: Self = Self(10);
    /// 11: DHCPLEASEUNASSIGNED (RFC 4388).
    pub const LEASEUNASSIGNED: Self = Self(11);
    /// 12: DHCPLEASEUNKNOWN (RFC 4388).
    pub const LEASEUNKNOWN: Self = Self(12);
    /// 13: DHCPLEASEACTIVE (RFC 4388).
    pub const LEASEACTIVE: Self = Self(13);
    /// 14: DHCPBULKLEASEQUERY (RFC 6926).
    pub const BULKLEASEQUERY: Self = Self(14);
    /// 15: DHCPLEASEQUERYDONE (RFC 6926).
    pub const LEASEQUERYDONE: Self = Self(15);
    /// 16: DHCPACTIVELEASEQUERY (RFC 7724).
    pub const ACTIVELEASEQUERY: Self = Self(16);
    /// 17: DHCPLEASEQUERYSTATUS (RFC 7724).
    pub const LEASEQUERYSTATUS: Self = Self(17);
    /// 18: DHCPTLS (RFC 7724).
    pub const TLS: Self = Self(18);

    /// The name Kea logs for it (`DHCPDISCOVER`, …), or `None` for an unassigned value.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "DHCPDISCOVER",
            2 => "DHCPOFFER",
            3 => "DHCPREQUEST",
            4 => "DHCPDECLINE",
            5 => "DHCPACK",
            6 => "DHCPNAK",
            7 => "DHCPRELEASE",
            8 => "DHCPINFORM",
            9 => "DHCPFORCERENEW",
            10 => "DHCPLEASEQUERY",
            11 => "DHCPLEASEUNASSIGNED",
            12 => "DHCPLEASEUNKNOWN",
            13 => "DHCPLEASEACTIVE",
            14 => "DHCPBULKLEASEQUERY",
            15 => "DHCPLEASEQUERYDONE",
            16 => "DHCPACTIVELEASEQUERY",
            17 => "DHCPLEASEQUERYSTATUS",
            18 => "DHCPTLS",
            _ => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "UNKNOWN({})", self.0),
        }
    }
}

/// An encoded option value, borrowed from the representation, that can be written in pieces
/// (an option split over several instances is written one piece per instance).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Bytes(&'a [u8]),
    Fixed([u8; 4], usize),
    Addrs(&'a [Ipv4Addr]),
    Relay(&'a RelayAgentInfo),
}

impl Value<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Bytes(b) => b.len(),
            Self::Fixed(_, n) => *n,
            Self::Addrs(a) => 4 * a.len(),
            Self::Relay(r) => r.buffer_len(),
        }
    }

    /// Writes bytes `start..start + out.len()` of the encoded value into `out`.
    pub(crate) fn write_part(&self, start: usize, out: &mut [u8]) {
        match self {
            Self::Bytes(b) => copy_overlap(b, 0, start, out),
            Self::Fixed(b, n) => copy_overlap(&b[..(*n).min(4)], 0, start, out),
            Self::Addrs(a) => {
                let end = (start + out.len()).div_ceil(4).min(a.len());
                for (i, addr) in a.iter().enumerate().take(end).skip(start / 4) {
                    copy_overlap(&addr.octets(), 4 * i, start, out);
                }
            }
            Self::Relay(r) => r.write_part(start, out),
        }
    }

    fn to_cow(self) -> Cow<'static, [u8]> {
        let mut v = alloc::vec![0; self.len()];
        self.write_part(0, &mut v);
        Cow::Owned(v)
    }
}

/// How one typed field decodes from and encodes to option data. Decoding accepts exactly
/// what encoding produces, so that a parsed value re-encodes byte for byte.
pub(crate) trait OptionValue: Sized {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError>;
    fn value(&self) -> Value<'_>;
}

fn fixed<const N: usize>(data: &[u8], code: u8, offset: usize) -> Result<[u8; N], ParseError> {
    data.try_into().map_err(|_| ParseError::BadOptionLength {
        code,
        offset,
        len: data.len(),
    })
}

fn fixed_value<const N: usize>(b: [u8; N]) -> Value<'static> {
    let mut out = [0; 4];
    out[..N.min(4)].copy_from_slice(&b[..N.min(4)]);
    Value::Fixed(out, N.min(4))
}

impl OptionValue for Ipv4Addr {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError> {
        fixed::<4>(&data, code, offset).map(Self::from)
    }
    fn value(&self) -> Value<'_> {
        fixed_value(self.octets())
    }
}

impl OptionValue for u16 {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError> {
        fixed::<2>(&data, code, offset).map(Self::from_be_bytes)
    }
    fn value(&self) -> Value<'_> {
        fixed_value(self.to_be_bytes())
    }
}

impl OptionValue for u32 {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError> {
        fixed::<4>(&data, code, offset).map(Self::from_be_bytes)
    }
    fn value(&self) -> Value<'_> {
        fixed_value(self.to_be_bytes())
    }
}

impl OptionValue for i32 {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError> {
        fixed::<4>(&data, code, offset).map(Self::from_be_bytes)
    }
    fn value(&self) -> Value<'_> {
        fixed_value(self.to_be_bytes())
    }
}

impl OptionValue for MessageType {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError> {
        fixed::<1>(&data, code, offset).map(|[t]| Self(t))
    }
    fn value(&self) -> Value<'_> {
        fixed_value([self.0])
    }
}

impl OptionValue for Vec<u8> {
    fn decode(data: Cow<'_, [u8]>, _: u8, _: usize) -> Result<Self, ParseError> {
        Ok(data.into_owned())
    }
    fn value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}

impl OptionValue for Vec<Ipv4Addr> {
    fn decode(data: Cow<'_, [u8]>, code: u8, offset: usize) -> Result<Self, ParseError> {
        if !data.len().is_multiple_of(4) {
            return Err(ParseError::BadOptionLength {
                code,
                offset,
                len: data.len(),
            });
        }
        Ok(data
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            .collect())
    }
    fn value(&self) -> Value<'_> {
        Value::Addrs(self)
    }
}

impl OptionValue for RelayAgentInfo {
    fn decode(data: Cow<'_, [u8]>, _: u8, offset: usize) -> Result<Self, ParseError> {
        Self::parse(&data, offset)
    }
    fn value(&self) -> Value<'_> {
        Value::Relay(self)
    }
}

/// Options without a typed field, raw, by code (each code once; a split option is stored
/// joined). Codes 0, 52 and 255 and the codes of typed fields are refused, which keeps every
/// code in exactly one place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RawOptions(BTreeMap<u8, Vec<u8>>);

impl RawOptions {
    /// An empty set.
    pub const fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Whether `code` may be stored raw.
    pub const fn accepts(code: u8) -> bool {
        !matches!(code, code::PAD | code::OVERLOAD | code::END) && !Options::is_typed(code)
    }

    /// Sets option `code` to `data`; returns the previous value.
    pub fn insert(
        &mut self,
        code: u8,
        data: impl Into<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, EmitError> {
        if !Self::accepts(code) {
            return Err(EmitError::NotRaw { code });
        }
        Ok(self.0.insert(code, data.into()))
    }

    /// The data of option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.0.get(&code).map(|v| &v[..])
    }

    /// Whether option `code` is present.
    pub fn contains(&self, code: u8) -> bool {
        self.0.contains_key(&code)
    }

    /// Removes option `code`; returns its data.
    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        self.0.remove(&code)
    }

    /// The options, by ascending code.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u8, &[u8])> + '_ {
        self.0.iter().map(|(c, v)| (*c, &v[..]))
    }

    /// Number of options.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Defines [`Options`] and the code-to-field dispatch from one list, in ascending code order.
macro_rules! typed_options {
    ($( #[doc = $doc:literal] $field:ident: $ty:ty = $code:path; )*) => {
        /// The options of a packet: a typed field for each option a server acts on, and
        /// [`RawOptions`] for every other one. Each code is in one place only; an option split
        /// over several instances (RFC 3396) is held joined.
        ///
        /// Build replies with struct update syntax
        /// (`Options { message_type: Some(MessageType::ACK), ..Default::default() }`) and
        /// [`Options::set`] for options given by code. Emitted without a recorded layout, the
        /// options come in Kea's order (see [`Options::codes`]).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
        pub struct Options {
            $( #[doc = $doc] pub $field: Option<$ty>, )*
            /// Every other option, raw.
            pub other: RawOptions,
        }

        /// The codes that have a typed field in [`Options`], ascending.
        pub const TYPED_CODES: &[u8] = &[$($code),*];

        impl Options {
            /// Whether `code` has a typed field.
            pub const fn is_typed(code: u8) -> bool {
                matches!(code, $($code)|*)
            }

            fn typed_value(&self, code: u8) -> Option<Value<'_>> {
                match code {
                    $( $code => self.$field.as_ref().map(OptionValue::value), )*
                    _ => None,
                }
            }

            /// Decodes `data` into the typed field of `code`; `Ok(false)` if it has none.
            fn decode_typed(
                &mut self,
                code: u8,
                data: Cow<'_, [u8]>,
                offset: usize,
            ) -> Result<bool, ParseError> {
                match code {
                    $( $code => {
                        self.$field = Some(OptionValue::decode(data, code, offset)?);
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }

            fn remove_typed(&mut self, code: u8) -> bool {
                match code {
                    $( $code => self.$field.take().is_some(), )*
                    _ => false,
                }
            }
        }
    };
}

typed_options! {
    /// 1: subnet mask.
    subnet_mask: Ipv4Addr = code::SUBNET_MASK;
    /// 2: time offset, seconds east of UTC.
    time_offset: i32 = code::TIME_OFFSET;
    /// 3: routers, in order of preference (any multiple of 4 bytes).
    routers: Vec<Ipv4Addr> = code::ROUTERS;
    /// 6: domain name servers.
    domain_name_servers: Vec<Ipv4Addr> = code::DOMAIN_NAME_SERVERS;
    /// 12: host name, as sent (not necessarily UTF-8).
    hostname: Vec<u8> = code::HOSTNAME;
    /// 15: domain name.
    domain_name: Vec<u8> = code::DOMAIN_NAME;
    /// 26: interface MTU.
    interface_mtu: u16 = code::INTERFACE_MTU;
    /// 28: broadcast address.
    broadcast_address: Ipv4Addr = code::BROADCAST_ADDRESS;
    /// 42: NTP servers.
    ntp_servers: Vec<Ipv4Addr> = code::NTP_SERVERS;
    /// 50: requested IP address.
    requested_ip: Ipv4Addr = code::REQUESTED_IP;
    /// 51: lease time in seconds (`u32::MAX` is infinite).
    lease_time: u32 = code::LEASE_TIME;
    /// 53: message type.
    message_type: MessageType = code::MESSAGE_TYPE;
    /// 54: server identifier.
    server_id: Ipv4Addr = code::SERVER_ID;
    /// 55: parameter request list (option codes, in the client's order).
    parameter_request_list: Vec<u8> = code::PARAMETER_REQUEST_LIST;
    /// 56: message (error text, e.g. in a DHCPNAK).
    message: Vec<u8> = code::MESSAGE;
    /// 57: maximum DHCP message size the client accepts.
    max_message_size: u16 = code::MAX_MESSAGE_SIZE;
    /// 58: renewal (T1) time in seconds.
    renewal_time: u32 = code::RENEWAL_TIME;
    /// 59: rebinding (T2) time in seconds.
    rebinding_time: u32 = code::REBINDING_TIME;
    /// 60: vendor class identifier.
    vendor_class_id: Vec<u8> = code::VENDOR_CLASS_ID;
    /// 61: client identifier, type byte included (Kea's client identity).
    client_id: Vec<u8> = code::CLIENT_ID;
    /// 66: TFTP server name.
    tftp_server_name: Vec<u8> = code::TFTP_SERVER_NAME;
    /// 67: boot file name.
    bootfile_name: Vec<u8> = code::BOOTFILE_NAME;
    /// 77: user class (RFC 3004), raw.
    user_class: Vec<u8> = code::USER_CLASS;
    /// 81: client FQDN (RFC 4702), raw: flags, two RCODE bytes, then the name.
    client_fqdn: Vec<u8> = code::CLIENT_FQDN;
    /// 82: relay agent information (RFC 3046).
    relay_agent_info: RelayAgentInfo = code::RELAY_AGENT_INFO;
    /// 118: subnet selection (RFC 3011).
    subnet_selection: Ipv4Addr = code::SUBNET_SELECTION;
}

/// Option codes in the order a canonical emit writes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeList {
    codes: [u8; 256],
    len: usize,
}

impl CodeList {
    fn push(&mut self, code: u8) {
        if let Some(slot) = self.codes.get_mut(self.len) {
            *slot = code;
            self.len += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.codes[..self.len.min(256)]
    }
}

impl Options {
    /// The encoded value of option `code` (typed or raw), for writing.
    pub(crate) fn value(&self, code: u8) -> Option<Value<'_>> {
        self.typed_value(code)
            .or_else(|| self.other.get(code).map(Value::Bytes))
    }

    /// Whether option `code` is present.
    pub fn contains(&self, code: u8) -> bool {
        self.value(code).is_some()
    }

    /// The encoded data of option `code` (borrowed where the field holds bytes).
    pub fn encoded(&self, code: u8) -> Option<Cow<'_, [u8]>> {
        Some(match self.value(code)? {
            Value::Bytes(b) => Cow::Borrowed(b),
            v => v.to_cow(),
        })
    }

    /// The length of option `code`'s encoded data.
    pub fn encoded_len(&self, code: u8) -> Option<usize> {
        self.value(code).map(|v| v.len())
    }

    /// Sets option `code` from its encoded data: decoded into its typed field if it has one
    /// (with the packet parser's checks), raw otherwise.
    pub fn set(&mut self, code: u8, data: &[u8]) -> Result<(), ParseError> {
        self.set_decoded(code, Cow::Borrowed(data), 0)
    }

    pub(crate) fn set_decoded(
        &mut self,
        code: u8,
        data: Cow<'_, [u8]>,
        offset: usize,
    ) -> Result<(), ParseError> {
        if matches!(code, code::PAD | code::OVERLOAD | code::END) {
            return Err(ParseError::ReservedCode { code });
        }
        if Self::is_typed(code) {
            self.decode_typed(code, data, offset)?;
        } else {
            self.other.0.insert(code, data.into_owned());
        }
        Ok(())
    }

    /// Removes option `code`; returns whether it was present.
    pub fn remove(&mut self, code: u8) -> bool {
        self.remove_typed(code) || self.other.remove(code).is_some()
    }

    /// The present option codes in the order a canonical emit writes them, which is Kea's
    /// (`LibDHCP::packOptions4`): message type (53) first, then ascending codes, relay agent
    /// information (82) last.
    pub fn codes(&self) -> impl Iterator<Item = u8> + '_ {
        let list = self.canonical_codes();
        (0..list.len).map(move |i| list.codes[i])
    }

    pub(crate) fn canonical_codes(&self) -> CodeList {
        let mut list = CodeList {
            codes: [0; 256],
            len: 0,
        };
        if self.message_type.is_some() {
            list.push(code::MESSAGE_TYPE);
        }
        let mut typed = TYPED_CODES
            .iter()
            .copied()
            .filter(|&c| c != code::MESSAGE_TYPE && c != code::RELAY_AGENT_INFO)
            .filter(|&c| self.typed_value(c).is_some())
            .peekable();
        let mut raw = self.other.0.keys().copied().peekable();
        loop {
            let next = match (typed.peek(), raw.peek()) {
                (Some(&t), Some(&r)) if t < r => typed.next(),
                (Some(_), Some(_)) | (None, Some(_)) => raw.next(),
                (Some(_), None) => typed.next(),
                (None, None) => break,
            };
            if let Some(c) = next {
                list.push(c);
            }
        }
        if self.relay_agent_info.is_some() {
            list.push(code::RELAY_AGENT_INFO);
        }
        list
    }

    /// Number of options present.
    pub fn len(&self) -> usize {
        self.canonical_codes().len
    }

    /// Whether no option is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that the options can be emitted (every relay sub-option fits its length byte).
    pub fn check_emit(&self) -> Result<(), EmitError> {
        match &self.relay_agent_info {
            Some(r) => r.check_emit(),
            None => Ok(()),
        }
    }

    /// Length of the options written canonically: each option in one instance, or split in
    /// 255-byte instances when longer (RFC 3396), then END.
    pub fn canonical_len(&self) -> usize {
        let mut n = 1;
        for &c in self.canonical_codes().as_slice() {
            let len = self.encoded_len(c).unwrap_or(0);
            n += len + 2 * len.div_ceil(255).max(1);
        }
        n
    }

    /// Writes the options canonically into `out` (exactly [`canonical_len`] bytes).
    ///
    /// [`canonical_len`]: Self::canonical_len
    pub(crate) fn write_canonical(&self, out: &mut [u8]) {
        let mut w = Writer { out, pos: 0 };
        for &c in self.canonical_codes().as_slice() {
            let Some(v) = self.value(c) else { continue };
            let len = v.len();
            if len == 0 {
                w.put(&[c, 0]);
            }
            let mut start = 0;
            while start < len {
                let n = (len - start).min(255);
                w.put(&[c, n as u8]);
                v.write_part(start, w.take(n));
                start += n;
            }
        }
        w.put(&[code::END]);
    }
}

/// A cursor over an output slice; writes past its end are dropped (callers size the slice
/// first, so that never happens, but no input can make it panic).
pub(crate) struct Writer<'a> {
    pub(crate) out: &'a mut [u8],
    pub(crate) pos: usize,
}

impl Writer<'_> {
    pub(crate) fn put(&mut self, data: &[u8]) {
        let dst = self.take(data.len());
        if dst.len() == data.len() {
            dst.copy_from_slice(data);
        }
    }

    /// The next `n` bytes, or an empty slice if the output ends first.
    pub(crate) fn take(&mut self, n: usize) -> &mut [u8] {
        let start = self.pos;
        self.pos += n;
        match self.out.get_mut(start..start + n) {
            Some(s) => s,
            None => &mut [],
        }
    }
}
