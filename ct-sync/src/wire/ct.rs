//! Conntrack messages: the attribute ids (`enum nta_attr`) and [`CtRepr`], the owned form of
//! the payload of CT_NEW / CT_UPD / CT_DEL.
//!
//! # Byte orders
//! Every multi-byte value is big endian, except three 16-bit fields that conntrackd writes with
//! `htons()` applied to a value libnetfilter_conntrack already keeps in network order, so on an
//! x86 (little-endian) sender the bytes end up **little endian**: [`CtAttrId::SpatPort`],
//! [`CtAttrId::DpatPort`] and [`CtAttrId::IcmpId`]. Port 61000 (`0xee48`) travels as `48 ee`,
//! ICMP id `0x1234` as `34 12`. A 1.4.7 receiver on x86 applies the same double swap and reads
//! the right value back. [`CtRepr`] holds the real numbers (61000, `0x1234`) and emits the x86
//! bytes, so it interoperates with conntrackd on x86 (every captured peer); between two
//! big-endian conntrackd hosts the bytes would be big endian, which this crate does not model.
//!
//! # Emission order
//! [`CtRepr::emit_attrs`] writes the attributes in the order of `ct2msg` ([`CtAttrId::EMIT_ORDER`]):
//! original addresses, STATUS, L4PROTO, the protocol's own (PORT, TCP_STATE, the window scales |
//! PORT, SCTP | PORT, DCCP | ICMP | PORT), TIMEOUT, MARK, master tuple, NAT addresses, NAT
//! ports, NAT sequence adjustment, helper, labels, SYNPROXY, ZONE. Since conntrackd never
//! emits an attribute twice nor out of that order, every message it sends re-emits
//! byte-identically; [`Message::is_canonical`](crate::wire::Message::is_canonical) tells
//! whether a received message is of that form. The parser accepts any order, as conntrackd
//! does.

extern crate alloc;

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::attr::{
    self, AttrIter, AttrSize, AttrStr, AttrTable, Pair, ParseOptions, Writer, arr, attr_space,
    be16, be32,
};
use crate::wire::error::{EmitError, ParseError};

/// `NTA_MAX`: conntrack attribute ids are `0..NTA_MAX`; a 1.4.7 receiver rejects a message
/// with any other id, so nothing at or above it is ever emitted.
pub const NTA_MAX: u16 = 33;

/// `NTA_LABELS_MAX_SIZE`: at most 1024 payload bytes (4096 labels) of connection labels.
pub const LABELS_MAX_WORDS: usize = 256;

/// A conntrack attribute id (`enum nta_attr`), with its wire size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum CtAttrId {
    /// 0 `NTA_IPV4`: original source and destination, 2 × 4 bytes.
    Ipv4 = 0,
    /// 1 `NTA_IPV6`: original source and destination, 2 × 16 bytes.
    Ipv6 = 1,
    /// 2 `NTA_L4PROTO`: u8.
    L4Proto = 2,
    /// 3 `NTA_PORT`: original source and destination port, 2 × u16 big endian.
    Port = 3,
    /// 4 `NTA_TCP_STATE`: u8.
    TcpState = 4,
    /// 5 `NTA_STATUS`: u32 `IPS_*` bits.
    Status = 5,
    /// 6 `NTA_TIMEOUT`: u32 seconds.
    Timeout = 6,
    /// 7 `NTA_MARK`: u32.
    Mark = 7,
    /// 8 `NTA_MASTER_IPV4`: master's original addresses.
    MasterIpv4 = 8,
    /// 9 `NTA_MASTER_IPV6`: master's original addresses.
    MasterIpv6 = 9,
    /// 10 `NTA_MASTER_L4PROTO`: u8.
    MasterL4Proto = 10,
    /// 11 `NTA_MASTER_PORT`: master's original ports.
    MasterPort = 11,
    /// 12 `NTA_SNAT_IPV4`: reply destination address.
    SnatIpv4 = 12,
    /// 13 `NTA_DNAT_IPV4`: reply source address.
    DnatIpv4 = 13,
    /// 14 `NTA_SPAT_PORT`: reply destination port, **little endian** (x86 senders).
    SpatPort = 14,
    /// 15 `NTA_DPAT_PORT`: reply source port, **little endian** (x86 senders).
    DpatPort = 15,
    /// 16 `NTA_NAT_SEQ_ADJ`: 6 × u32.
    NatSeqAdj = 16,
    /// 17 `NTA_SCTP_STATE`: u8.
    SctpState = 17,
    /// 18 `NTA_SCTP_VTAG_ORIG`: u32.
    SctpVtagOrig = 18,
    /// 19 `NTA_SCTP_VTAG_REPL`: u32.
    SctpVtagRepl = 19,
    /// 20 `NTA_DCCP_STATE`: u8.
    DccpState = 20,
    /// 21 `NTA_DCCP_ROLE`: u8.
    DccpRole = 21,
    /// 22 `NTA_ICMP_TYPE`: u8.
    IcmpType = 22,
    /// 23 `NTA_ICMP_CODE`: u8.
    IcmpCode = 23,
    /// 24 `NTA_ICMP_ID`: u16, **little endian** (x86 senders).
    IcmpId = 24,
    /// 25 `NTA_TCP_WSCALE_ORIG`: u8.
    TcpWscaleOrig = 25,
    /// 26 `NTA_TCP_WSCALE_REPL`: u8.
    TcpWscaleRepl = 26,
    /// 27 `NTA_HELPER_NAME`: NUL-terminated string, `nta_len` ≤ 16.
    HelperName = 27,
    /// 28 `NTA_LABELS`: u32 words, `nta_len` ≤ 1028.
    Labels = 28,
    /// 29 `NTA_SNAT_IPV6`: reply destination address.
    SnatIpv6 = 29,
    /// 30 `NTA_DNAT_IPV6`: reply source address.
    DnatIpv6 = 30,
    /// 31 `NTA_SYNPROXY`: `{its, isn, tsoff}` u32.
    Synproxy = 31,
    /// 32 `NTA_ZONE`: u16 big endian.
    Zone = 32,
}

impl CtAttrId {
    /// Every id, in numeric order.
    pub const ALL: [Self; 33] = [
        Self::Ipv4,
        Self::Ipv6,
        Self::L4Proto,
        Self::Port,
        Self::TcpState,
        Self::Status,
        Self::Timeout,
        Self::Mark,
        Self::MasterIpv4,
        Self::MasterIpv6,
        Self::MasterL4Proto,
        Self::MasterPort,
        Self::SnatIpv4,
        Self::DnatIpv4,
        Self::SpatPort,
        Self::DpatPort,
        Self::NatSeqAdj,
        Self::SctpState,
        Self::SctpVtagOrig,
        Self::SctpVtagRepl,
        Self::DccpState,
        Self::DccpRole,
        Self::IcmpType,
        Self::IcmpCode,
        Self::IcmpId,
        Self::TcpWscaleOrig,
        Self::TcpWscaleRepl,
        Self::HelperName,
        Self::Labels,
        Self::SnatIpv6,
        Self::DnatIpv6,
        Self::Synproxy,
        Self::Zone,
    ];

    /// The order in which `ct2msg` (and [`CtRepr::emit_attrs`]) writes the attributes.
    pub const EMIT_ORDER: [Self; 33] = [
        Self::Ipv4,
        Self::Ipv6,
        Self::Status,
        Self::L4Proto,
        Self::Port,
        Self::TcpState,
        Self::TcpWscaleOrig,
        Self::TcpWscaleRepl,
        Self::SctpState,
        Self::SctpVtagOrig,
        Self::SctpVtagRepl,
        Self::DccpState,
        Self::DccpRole,
        Self::IcmpType,
        Self::IcmpCode,
        Self::IcmpId,
        Self::Timeout,
        Self::Mark,
        Self::MasterIpv4,
        Self::MasterIpv6,
        Self::MasterL4Proto,
        Self::MasterPort,
        Self::SnatIpv4,
        Self::DnatIpv4,
        Self::SnatIpv6,
        Self::DnatIpv6,
        Self::SpatPort,
        Self::DpatPort,
        Self::NatSeqAdj,
        Self::HelperName,
        Self::Labels,
        Self::Synproxy,
        Self::Zone,
    ];

    /// The id for a number below [`NTA_MAX`].
    pub const fn from_u16(id: u16) -> Option<Self> {
        if id < NTA_MAX {
            Some(Self::ALL[id as usize])
        } else {
            None
        }
    }

    /// The numeric id.
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The size rule a 1.4.7 receiver enforces on `nta_len`.
    pub const fn size(self) -> AttrSize {
        SIZES[self as usize]
    }

    /// conntrackd's name without the `NTA_` prefix (`IPV4`, `SPAT_PORT`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ipv4 => "IPV4",
            Self::Ipv6 => "IPV6",
            Self::L4Proto => "L4PROTO",
            Self::Port => "PORT",
            Self::TcpState => "TCP_STATE",
            Self::Status => "STATUS",
            Self::Timeout => "TIMEOUT",
            Self::Mark => "MARK",
            Self::MasterIpv4 => "MASTER_IPV4",
            Self::MasterIpv6 => "MASTER_IPV6",
            Self::MasterL4Proto => "MASTER_L4PROTO",
            Self::MasterPort => "MASTER_PORT",
            Self::SnatIpv4 => "SNAT_IPV4",
            Self::DnatIpv4 => "DNAT_IPV4",
            Self::SpatPort => "SPAT_PORT",
            Self::DpatPort => "DPAT_PORT",
            Self::NatSeqAdj => "NAT_SEQ_ADJ",
            Self::SctpState => "SCTP_STATE",
            Self::SctpVtagOrig => "SCTP_VTAG_ORIG",
            Self::SctpVtagRepl => "SCTP_VTAG_REPL",
            Self::DccpState => "DCCP_STATE",
            Self::DccpRole => "DCCP_ROLE",
            Self::IcmpType => "ICMP_TYPE",
            Self::IcmpCode => "ICMP_CODE",
            Self::IcmpId => "ICMP_ID",
            Self::TcpWscaleOrig => "TCP_WSCALE_ORIG",
            Self::TcpWscaleRepl => "TCP_WSCALE_REPL",
            Self::HelperName => "HELPER_NAME",
            Self::Labels => "LABELS",
            Self::SnatIpv6 => "SNAT_IPV6",
            Self::DnatIpv6 => "DNAT_IPV6",
            Self::Synproxy => "SYNPROXY",
            Self::Zone => "ZONE",
        }
    }
}

const fn exact(payload: u16) -> AttrSize {
    AttrSize::Exact(4 + payload)
}

/// Size rules by id (the `h[]` table of parse.c: `NTA_SIZE(sizeof ...)`, or `max_size`).
const SIZES: [AttrSize; 33] = [
    exact(8),
    exact(32),
    exact(1),
    exact(4),
    exact(1),
    exact(4),
    exact(4),
    exact(4),
    exact(8),
    exact(32),
    exact(1),
    exact(4),
    exact(4),
    exact(4),
    exact(2),
    exact(2),
    exact(24),
    exact(1),
    exact(4),
    exact(4),
    exact(1),
    exact(1),
    exact(1),
    exact(1),
    exact(2),
    exact(1),
    exact(1),
    // NFCT_HELPER_NAME_MAX, compared with nta_len itself (header included).
    AttrSize::Max(16),
    // NTA_SIZE(NTA_LABELS_MAX_SIZE).
    AttrSize::Max(4 + 4 * LABELS_MAX_WORDS as u16),
    exact(16),
    exact(16),
    exact(12),
    exact(2),
];

const fn order_ids() -> [u16; 33] {
    let mut ids = [0u16; 33];
    let mut i = 0;
    while i < 33 {
        ids[i] = CtAttrId::EMIT_ORDER[i] as u16;
        i += 1;
    }
    ids
}

const RANKS: [u8; 33] = attr::ranks(order_ids());

pub(crate) static TABLE: AttrTable = AttrTable {
    max: NTA_MAX,
    sizes: &SIZES,
    ranks: &RANKS,
    labels: Some(CtAttrId::Labels as u16),
};

/// `IPS_*` conntrack status bits (the STATUS attribute).
pub mod status {
    /// Related to a master conntrack (expected).
    pub const EXPECTED: u32 = 1 << 0;
    /// Traffic seen in both directions.
    pub const SEEN_REPLY: u32 = 1 << 1;
    /// Never expire early.
    pub const ASSURED: u32 = 1 << 2;
    /// In the kernel table.
    pub const CONFIRMED: u32 = 1 << 3;
    /// Source NAT.
    pub const SRC_NAT: u32 = 1 << 4;
    /// Destination NAT.
    pub const DST_NAT: u32 = 1 << 5;
    /// TCP sequence adjustment.
    pub const SEQ_ADJUST: u32 = 1 << 6;
    /// Source NAT set up.
    pub const SRC_NAT_DONE: u32 = 1 << 7;
    /// Destination NAT set up.
    pub const DST_NAT_DONE: u32 = 1 << 8;
    /// Being destroyed.
    pub const DYING: u32 = 1 << 9;
    /// Fixed timeout.
    pub const FIXED_TIMEOUT: u32 = 1 << 10;
}

/// TCP conntrack states (the TCP_STATE attribute).
pub mod tcp_state {
    /// No state.
    pub const NONE: u8 = 0;
    /// SYN sent.
    pub const SYN_SENT: u8 = 1;
    /// SYN received.
    pub const SYN_RECV: u8 = 2;
    /// Established.
    pub const ESTABLISHED: u8 = 3;
    /// FIN wait.
    pub const FIN_WAIT: u8 = 4;
    /// Close wait.
    pub const CLOSE_WAIT: u8 = 5;
    /// Last ACK.
    pub const LAST_ACK: u8 = 6;
    /// Time wait.
    pub const TIME_WAIT: u8 = 7;
    /// Closed.
    pub const CLOSE: u8 = 8;
    /// Simultaneous open.
    pub const SYN_SENT2: u8 = 9;
}

/// NAT sequence adjustment (`struct nta_attr_natseqadj`), host values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NatSeqAdj {
    /// Original direction: correction position.
    pub orig_pos: u32,
    /// Original direction: offset before.
    pub orig_before: u32,
    /// Original direction: offset after.
    pub orig_after: u32,
    /// Reply direction: correction position.
    pub repl_pos: u32,
    /// Reply direction: offset before.
    pub repl_before: u32,
    /// Reply direction: offset after.
    pub repl_after: u32,
}

impl NatSeqAdj {
    fn parse(p: &[u8]) -> Self {
        Self {
            orig_pos: be32(&p[0..]),
            orig_before: be32(&p[4..]),
            orig_after: be32(&p[8..]),
            repl_pos: be32(&p[12..]),
            repl_before: be32(&p[16..]),
            repl_after: be32(&p[20..]),
        }
    }

    fn write(&self, d: &mut [u8]) {
        let v = [
            self.orig_pos,
            self.orig_before,
            self.orig_after,
            self.repl_pos,
            self.repl_before,
            self.repl_after,
        ];
        for (c, x) in d.chunks_exact_mut(4).zip(v) {
            c.copy_from_slice(&x.to_be_bytes());
        }
    }
}

/// SYNPROXY state (`struct nta_attr_synproxy`, on the wire in this field order).
/// conntrackd sends it all-zero for every conntrack created through ctnetlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Synproxy {
    /// Initial timestamp.
    pub its: u32,
    /// Initial sequence number.
    pub isn: u32,
    /// Timestamp offset.
    pub tsoff: u32,
}

/// A conntrack as a CT_NEW / CT_UPD / CT_DEL message carries it: every attribute optional,
/// with host values (see the [module docs](self) for byte orders and order).
///
/// Only the original tuple and the NAT targets travel; the receiver rebuilds the reply tuple.
/// Build one with struct update syntax from [`CtRepr::default`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CtRepr {
    /// `NTA_IPV4`: original source and destination (IPv4 conntracks).
    pub ipv4: Option<Pair<Ipv4Addr>>,
    /// `NTA_IPV6`: original source and destination (IPv6 conntracks).
    pub ipv6: Option<Pair<Ipv6Addr>>,
    /// `NTA_STATUS`: `IPS_*` bits ([`status`]).
    pub status: Option<u32>,
    /// `NTA_L4PROTO`: IP protocol number.
    pub l4proto: Option<u8>,
    /// `NTA_PORT`: original source and destination port (TCP, UDP, SCTP, DCCP, UDP-Lite).
    pub port: Option<Pair<u16>>,
    /// `NTA_TCP_STATE` ([`tcp_state`]).
    pub tcp_state: Option<u8>,
    /// `NTA_TCP_WSCALE_ORIG` (sent with `TCPWindowTracking on`).
    pub tcp_wscale_orig: Option<u8>,
    /// `NTA_TCP_WSCALE_REPL` (sent with `TCPWindowTracking on`).
    pub tcp_wscale_repl: Option<u8>,
    /// `NTA_SCTP_STATE`.
    pub sctp_state: Option<u8>,
    /// `NTA_SCTP_VTAG_ORIG`.
    pub sctp_vtag_orig: Option<u32>,
    /// `NTA_SCTP_VTAG_REPL`.
    pub sctp_vtag_repl: Option<u32>,
    /// `NTA_DCCP_STATE`.
    pub dccp_state: Option<u8>,
    /// `NTA_DCCP_ROLE`.
    pub dccp_role: Option<u8>,
    /// `NTA_ICMP_TYPE`.
    pub icmp_type: Option<u8>,
    /// `NTA_ICMP_CODE`.
    pub icmp_code: Option<u8>,
    /// `NTA_ICMP_ID`: the real identifier; little endian on the wire.
    pub icmp_id: Option<u16>,
    /// `NTA_TIMEOUT`: seconds left (absent with `CommitTimeout`).
    pub timeout: Option<u32>,
    /// `NTA_MARK`.
    pub mark: Option<u32>,
    /// `NTA_MASTER_IPV4`: the master's original addresses (related conntracks).
    pub master_ipv4: Option<Pair<Ipv4Addr>>,
    /// `NTA_MASTER_IPV6`: the master's original addresses.
    pub master_ipv6: Option<Pair<Ipv6Addr>>,
    /// `NTA_MASTER_L4PROTO`.
    pub master_l4proto: Option<u8>,
    /// `NTA_MASTER_PORT`: the master's original ports.
    pub master_port: Option<Pair<u16>>,
    /// `NTA_SNAT_IPV4`: source NAT address (the reply tuple's destination).
    pub snat_ipv4: Option<Ipv4Addr>,
    /// `NTA_DNAT_IPV4`: destination NAT address (the reply tuple's source).
    pub dnat_ipv4: Option<Ipv4Addr>,
    /// `NTA_SNAT_IPV6`: source NAT address.
    pub snat_ipv6: Option<Ipv6Addr>,
    /// `NTA_DNAT_IPV6`: destination NAT address.
    pub dnat_ipv6: Option<Ipv6Addr>,
    /// `NTA_SPAT_PORT`: source port translation (the reply tuple's destination port), the real
    /// port; little endian on the wire.
    pub spat_port: Option<u16>,
    /// `NTA_DPAT_PORT`: destination port translation (the reply tuple's source port), the real
    /// port; little endian on the wire.
    pub dpat_port: Option<u16>,
    /// `NTA_NAT_SEQ_ADJ`.
    pub nat_seq_adj: Option<NatSeqAdj>,
    /// `NTA_HELPER_NAME` (payload up to 12 bytes, NUL included).
    pub helper_name: Option<AttrStr>,
    /// `NTA_LABELS`: 1 to 256 words; bit `i` of word `w` is label `32 w + i`.
    pub labels: Option<Vec<u32>>,
    /// `NTA_SYNPROXY`.
    pub synproxy: Option<Synproxy>,
    /// `NTA_ZONE`.
    pub zone: Option<u16>,
}

/// Lets code that takes `&[E]` with `E: AsRef<CtRepr>` (such as
/// [`CommitPlanner`](crate::ctnetlink::CommitPlanner)) take both owned conntracks and
/// references to cached ones (`&[&CtRepr]`) without copying them.
impl AsRef<Self> for CtRepr {
    fn as_ref(&self) -> &Self {
        self
    }
}

fn v4pair(p: &[u8]) -> Pair<Ipv4Addr> {
    Pair::new(
        Ipv4Addr::from(arr::<4>(&p[0..])),
        Ipv4Addr::from(arr::<4>(&p[4..])),
    )
}

fn v6pair(p: &[u8]) -> Pair<Ipv6Addr> {
    Pair::new(
        Ipv6Addr::from(arr::<16>(&p[0..])),
        Ipv6Addr::from(arr::<16>(&p[16..])),
    )
}

fn ports(p: &[u8]) -> Pair<u16> {
    Pair::new(be16(&p[0..]), be16(&p[2..]))
}

fn put_v4pair(d: &mut [u8], v: &Pair<Ipv4Addr>) {
    d[..4].copy_from_slice(&v.src.octets());
    d[4..8].copy_from_slice(&v.dst.octets());
}

fn put_v6pair(d: &mut [u8], v: &Pair<Ipv6Addr>) {
    d[..16].copy_from_slice(&v.src.octets());
    d[16..32].copy_from_slice(&v.dst.octets());
}

fn put_ports(d: &mut [u8], v: &Pair<u16>) {
    d[..2].copy_from_slice(&v.src.to_be_bytes());
    d[2..4].copy_from_slice(&v.dst.to_be_bytes());
}

impl CtRepr {
    /// Parses the attributes of a conntrack message, as `msg2ct` accepts them (any order; a
    /// repeated attribute overwrites the earlier one; up to 4 trailing bytes ignored; empty
    /// helper names and labels that are not whole words dropped, as a receiver ignores them).
    pub fn parse_attrs(attrs: AttrIter<'_>, opts: &ParseOptions) -> Result<Self, ParseError> {
        let mut ct = Self::default();
        attr::parse_attrs(attrs, &TABLE, opts, |id, p| ct.set(id, p))?;
        Ok(ct)
    }

    /// Checks `attrs` exactly as [`parse_attrs`](Self::parse_attrs) does (the same errors),
    /// but keeps only what identifies the conntrack (the fields
    /// [`CtKey::of`](crate::cache::CtKey::of) reads: original addresses, L4PROTO, PORT, the
    /// ICMP fields, ZONE). A receiver that caches the message's bytes needs no more.
    pub(crate) fn parse_key_attrs(
        attrs: AttrIter<'_>,
        opts: &ParseOptions,
    ) -> Result<Self, ParseError> {
        const KEY: [CtAttrId; 8] = [
            CtAttrId::Ipv4,
            CtAttrId::Ipv6,
            CtAttrId::L4Proto,
            CtAttrId::Port,
            CtAttrId::IcmpType,
            CtAttrId::IcmpCode,
            CtAttrId::IcmpId,
            CtAttrId::Zone,
        ];
        let mut ct = Self::default();
        attr::parse_attrs(attrs, &TABLE, opts, |id, p| {
            if KEY.iter().any(|k| k.id() == id) {
                ct.set(id, p);
            }
        })?;
        Ok(ct)
    }

    /// Stores one attribute whose size rule was checked.
    fn set(&mut self, id: u16, p: &[u8]) {
        let Some(id) = CtAttrId::from_u16(id) else {
            return;
        };
        match id {
            CtAttrId::Ipv4 => self.ipv4 = Some(v4pair(p)),
            CtAttrId::Ipv6 => self.ipv6 = Some(v6pair(p)),
            CtAttrId::L4Proto => self.l4proto = Some(p[0]),
            CtAttrId::Port => self.port = Some(ports(p)),
            CtAttrId::TcpState => self.tcp_state = Some(p[0]),
            CtAttrId::Status => self.status = Some(be32(p)),
            CtAttrId::Timeout => self.timeout = Some(be32(p)),
            CtAttrId::Mark => self.mark = Some(be32(p)),
            CtAttrId::MasterIpv4 => self.master_ipv4 = Some(v4pair(p)),
            CtAttrId::MasterIpv6 => self.master_ipv6 = Some(v6pair(p)),
            CtAttrId::MasterL4Proto => self.master_l4proto = Some(p[0]),
            CtAttrId::MasterPort => self.master_port = Some(ports(p)),
            CtAttrId::SnatIpv4 => self.snat_ipv4 = Some(Ipv4Addr::from(arr::<4>(p))),
            CtAttrId::DnatIpv4 => self.dnat_ipv4 = Some(Ipv4Addr::from(arr::<4>(p))),
            CtAttrId::SpatPort => self.spat_port = Some(u16::from_le_bytes(arr(p))),
            CtAttrId::DpatPort => self.dpat_port = Some(u16::from_le_bytes(arr(p))),
            CtAttrId::NatSeqAdj => self.nat_seq_adj = Some(NatSeqAdj::parse(p)),
            CtAttrId::SctpState => self.sctp_state = Some(p[0]),
            CtAttrId::SctpVtagOrig => self.sctp_vtag_orig = Some(be32(p)),
            CtAttrId::SctpVtagRepl => self.sctp_vtag_repl = Some(be32(p)),
            CtAttrId::DccpState => self.dccp_state = Some(p[0]),
            CtAttrId::DccpRole => self.dccp_role = Some(p[0]),
            CtAttrId::IcmpType => self.icmp_type = Some(p[0]),
            CtAttrId::IcmpCode => self.icmp_code = Some(p[0]),
            CtAttrId::IcmpId => self.icmp_id = Some(u16::from_le_bytes(arr(p))),
            CtAttrId::TcpWscaleOrig => self.tcp_wscale_orig = Some(p[0]),
            CtAttrId::TcpWscaleRepl => self.tcp_wscale_repl = Some(p[0]),
            CtAttrId::HelperName => self.helper_name = AttrStr::from_payload(p),
            CtAttrId::Labels => self.labels = Some(attr::words(p)),
            CtAttrId::SnatIpv6 => self.snat_ipv6 = Some(Ipv6Addr::from(arr::<16>(p))),
            CtAttrId::DnatIpv6 => self.dnat_ipv6 = Some(Ipv6Addr::from(arr::<16>(p))),
            CtAttrId::Synproxy => {
                self.synproxy = Some(Synproxy {
                    its: be32(&p[0..]),
                    isn: be32(&p[4..]),
                    tsoff: be32(&p[8..]),
                });
            }
            CtAttrId::Zone => self.zone = Some(be16(p)),
        }
    }

    /// Writes every present attribute in `ct2msg` order ([`CtAttrId::EMIT_ORDER`]), straight
    /// line: one test per field, no per-id dispatch. `w` has room for
    /// [`attrs_len`](Self::attrs_len) bytes.
    fn write_attrs(&self, w: &mut Writer<'_>) {
        #[inline(always)]
        fn put<T>(w: &mut Writer<'_>, id: CtAttrId, v: &Option<T>, f: impl FnOnce(&T, &mut [u8])) {
            if let Some(v) = v {
                let n = match id.size() {
                    AttrSize::Exact(n) => usize::from(n) - 4,
                    AttrSize::Max(_) => 0,
                };
                w.attr_with(id.id(), n, |d| f(v, d));
            }
        }
        let be32 = |v: &u32, d: &mut [u8]| d.copy_from_slice(&v.to_be_bytes());
        let byte = |v: &u8, d: &mut [u8]| d[0] = *v;
        // The three fields conntrackd writes in host order (little endian on x86).
        let le16 = |v: &u16, d: &mut [u8]| d.copy_from_slice(&v.to_le_bytes());
        let v4 = |v: &Ipv4Addr, d: &mut [u8]| d.copy_from_slice(&v.octets());
        let v6 = |v: &Ipv6Addr, d: &mut [u8]| d.copy_from_slice(&v.octets());
        put(w, CtAttrId::Ipv4, &self.ipv4, |v, d| put_v4pair(d, v));
        put(w, CtAttrId::Ipv6, &self.ipv6, |v, d| put_v6pair(d, v));
        put(w, CtAttrId::Status, &self.status, be32);
        put(w, CtAttrId::L4Proto, &self.l4proto, byte);
        put(w, CtAttrId::Port, &self.port, |v, d| put_ports(d, v));
        put(w, CtAttrId::TcpState, &self.tcp_state, byte);
        put(w, CtAttrId::TcpWscaleOrig, &self.tcp_wscale_orig, byte);
        put(w, CtAttrId::TcpWscaleRepl, &self.tcp_wscale_repl, byte);
        put(w, CtAttrId::SctpState, &self.sctp_state, byte);
        put(w, CtAttrId::SctpVtagOrig, &self.sctp_vtag_orig, be32);
        put(w, CtAttrId::SctpVtagRepl, &self.sctp_vtag_repl, be32);
        put(w, CtAttrId::DccpState, &self.dccp_state, byte);
        put(w, CtAttrId::DccpRole, &self.dccp_role, byte);
        put(w, CtAttrId::IcmpType, &self.icmp_type, byte);
        put(w, CtAttrId::IcmpCode, &self.icmp_code, byte);
        put(w, CtAttrId::IcmpId, &self.icmp_id, le16);
        put(w, CtAttrId::Timeout, &self.timeout, be32);
        put(w, CtAttrId::Mark, &self.mark, be32);
        put(w, CtAttrId::MasterIpv4, &self.master_ipv4, |v, d| {
            put_v4pair(d, v);
        });
        put(w, CtAttrId::MasterIpv6, &self.master_ipv6, |v, d| {
            put_v6pair(d, v);
        });
        put(w, CtAttrId::MasterL4Proto, &self.master_l4proto, byte);
        put(w, CtAttrId::MasterPort, &self.master_port, |v, d| {
            put_ports(d, v);
        });
        put(w, CtAttrId::SnatIpv4, &self.snat_ipv4, v4);
        put(w, CtAttrId::DnatIpv4, &self.dnat_ipv4, v4);
        put(w, CtAttrId::SnatIpv6, &self.snat_ipv6, v6);
        put(w, CtAttrId::DnatIpv6, &self.dnat_ipv6, v6);
        put(w, CtAttrId::SpatPort, &self.spat_port, le16);
        put(w, CtAttrId::DpatPort, &self.dpat_port, le16);
        put(w, CtAttrId::NatSeqAdj, &self.nat_seq_adj, |v, d| v.write(d));
        if let Some(h) = &self.helper_name {
            let p = h.payload();
            w.attr_with(CtAttrId::HelperName.id(), p.len(), |d| d.copy_from_slice(p));
        }
        if let Some(words) = &self.labels {
            w.attr_with(CtAttrId::Labels.id(), 4 * words.len(), |d| {
                for (c, x) in d.chunks_exact_mut(4).zip(words) {
                    c.copy_from_slice(&x.to_be_bytes());
                }
            });
        }
        put(w, CtAttrId::Synproxy, &self.synproxy, |s, d| {
            d[0..4].copy_from_slice(&s.its.to_be_bytes());
            d[4..8].copy_from_slice(&s.isn.to_be_bytes());
            d[8..12].copy_from_slice(&s.tsoff.to_be_bytes());
        });
        put(w, CtAttrId::Zone, &self.zone, |v, d| {
            d.copy_from_slice(&v.to_be_bytes());
        });
    }

    /// Checks what a receiver would refuse or ignore: a helper name or labels too long or empty.
    pub(crate) fn check_emit(&self) -> Result<(), EmitError> {
        let var = [
            (
                CtAttrId::HelperName,
                self.helper_name.map(|h| h.payload().len()),
            ),
            (CtAttrId::Labels, self.labels.as_ref().map(|w| 4 * w.len())),
        ];
        for (id, len) in var {
            if let (Some(len), AttrSize::Max(max)) = (len, id.size()) {
                attr::check_var(id.id(), len, max)?;
            }
        }
        Ok(())
    }

    /// Length of the attributes this conntrack emits, padding included.
    pub fn attrs_len(&self) -> usize {
        // The sum of `attr_space(field_len(id))` over the ids, written out field by field:
        // every message sent computes it, and the per-id dispatch was the sender's hottest
        // code. `emit_attrs` checks the two agree.
        const fn space(id: CtAttrId) -> usize {
            match id.size() {
                AttrSize::Exact(n) => attr_space(n as usize - 4),
                AttrSize::Max(_) => 0,
            }
        }
        let f = |present: bool, id: CtAttrId| if present { space(id) } else { 0 };
        f(self.ipv4.is_some(), CtAttrId::Ipv4)
            + f(self.ipv6.is_some(), CtAttrId::Ipv6)
            + f(self.l4proto.is_some(), CtAttrId::L4Proto)
            + f(self.port.is_some(), CtAttrId::Port)
            + f(self.tcp_state.is_some(), CtAttrId::TcpState)
            + f(self.status.is_some(), CtAttrId::Status)
            + f(self.timeout.is_some(), CtAttrId::Timeout)
            + f(self.mark.is_some(), CtAttrId::Mark)
            + f(self.master_ipv4.is_some(), CtAttrId::MasterIpv4)
            + f(self.master_ipv6.is_some(), CtAttrId::MasterIpv6)
            + f(self.master_l4proto.is_some(), CtAttrId::MasterL4Proto)
            + f(self.master_port.is_some(), CtAttrId::MasterPort)
            + f(self.snat_ipv4.is_some(), CtAttrId::SnatIpv4)
            + f(self.dnat_ipv4.is_some(), CtAttrId::DnatIpv4)
            + f(self.spat_port.is_some(), CtAttrId::SpatPort)
            + f(self.dpat_port.is_some(), CtAttrId::DpatPort)
            + f(self.nat_seq_adj.is_some(), CtAttrId::NatSeqAdj)
            + f(self.sctp_state.is_some(), CtAttrId::SctpState)
            + f(self.sctp_vtag_orig.is_some(), CtAttrId::SctpVtagOrig)
            + f(self.sctp_vtag_repl.is_some(), CtAttrId::SctpVtagRepl)
            + f(self.dccp_state.is_some(), CtAttrId::DccpState)
            + f(self.dccp_role.is_some(), CtAttrId::DccpRole)
            + f(self.icmp_type.is_some(), CtAttrId::IcmpType)
            + f(self.icmp_code.is_some(), CtAttrId::IcmpCode)
            + f(self.icmp_id.is_some(), CtAttrId::IcmpId)
            + f(self.tcp_wscale_orig.is_some(), CtAttrId::TcpWscaleOrig)
            + f(self.tcp_wscale_repl.is_some(), CtAttrId::TcpWscaleRepl)
            + self
                .helper_name
                .map_or(0, |s| attr_space(s.payload().len()))
            + self.labels.as_ref().map_or(0, |w| attr_space(4 * w.len()))
            + f(self.snat_ipv6.is_some(), CtAttrId::SnatIpv6)
            + f(self.dnat_ipv6.is_some(), CtAttrId::DnatIpv6)
            + f(self.synproxy.is_some(), CtAttrId::Synproxy)
            + f(self.zone.is_some(), CtAttrId::Zone)
    }

    /// Writes the attributes in `ct2msg` order into `buf` and returns the bytes written.
    pub fn emit_attrs(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.check_emit()?;
        let len = self.attrs_len();
        if buf.len() < len {
            return Err(EmitError::InsufficientSize {
                required: len,
                have: buf.len(),
            });
        }
        Ok(self.emit_attrs_checked(&mut buf[..len]))
    }

    /// [`emit_attrs`](Self::emit_attrs) once [`check_emit`](Self::check_emit) passed, into
    /// exactly [`attrs_len`](Self::attrs_len) bytes.
    pub(crate) fn emit_attrs_checked(&self, buf: &mut [u8]) -> usize {
        let len = buf.len();
        let mut w = Writer::new(buf);
        self.write_attrs(&mut w);
        debug_assert_eq!(
            w.pos(),
            len,
            "attrs_len disagrees with the attributes written"
        );
        w.pos()
    }

    /// The original source and destination addresses (IPv4 if both families are present, as
    /// only one ever is).
    pub fn orig_addrs(&self) -> Option<Pair<IpAddr>> {
        match (self.ipv4, self.ipv6) {
            (Some(p), _) => Some(Pair::new(p.src.into(), p.dst.into())),
            (None, Some(p)) => Some(Pair::new(p.src.into(), p.dst.into())),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CtKey;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Attribute blocks of arbitrary ids (some unknown) and lengths, well-formed TLVs or not.
    fn attrs() -> impl Strategy<Value = Vec<u8>> {
        let one = (0u16..40, vec(any::<u8>(), 0..40), any::<bool>());
        vec(one, 0..12).prop_map(|v| {
            let mut out = Vec::new();
            for (id, p, pad) in v {
                out.extend_from_slice(&((4 + p.len()) as u16).to_be_bytes());
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&p);
                if pad {
                    out.resize(out.len().next_multiple_of(4), 0);
                }
            }
            out
        })
    }

    proptest! {
        /// The receiver's key-only parse fails exactly when the full parse fails (same error)
        /// and gives the same key.
        #[test]
        fn key_parse_agrees_with_full_parse(bytes in attrs(), skip in any::<bool>()) {
            let opts = if skip { ParseOptions::SKIP_UNKNOWN } else { ParseOptions::STRICT };
            let full = CtRepr::parse_attrs(AttrIter::new(&bytes, 8), &opts);
            let key = CtRepr::parse_key_attrs(AttrIter::new(&bytes, 8), &opts);
            match (full, key) {
                (Ok(f), Ok(k)) => prop_assert_eq!(CtKey::of(&f), CtKey::of(&k)),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (f, k) => prop_assert!(false, "full {:?} key {:?}", f, k),
            }
        }
    }
}
