//! Expectation messages: the attribute ids (`enum nta_exp_attr`) and [`ExpRepr`], the owned
//! form of the payload of EXP_NEW / EXP_UPD / EXP_DEL.
//!
//! All values are big endian. [`ExpRepr::emit_attrs`] writes the attributes in the order of
//! `exp2msg` ([`ExpAttrId::EMIT_ORDER`]): master, expected and mask tuples (addresses, L4
//! protocol, ports each), TIMEOUT, FLAGS, CLASS, then the NAT tuple (address, **L4 protocol
//! before port**, direction), HELPER_NAME and FN. The same exact-size rule as for conntracks
//! applies; HELPER_NAME allows an `nta_len` of 16 and FN of 32.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::attr::{
    self, AttrIter, AttrSize, AttrStr, AttrTable, Pair, ParseOptions, Writer, arr, attr_space,
    be16, be32,
};
use crate::wire::error::{EmitError, ParseError};

/// `NTA_EXP_MAX`: expectation attribute ids are `0..NTA_EXP_MAX`.
pub const NTA_EXP_MAX: u16 = 21;

/// An expectation attribute id (`enum nta_exp_attr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum ExpAttrId {
    /// 0 `NTA_EXP_MASTER_IPV4`.
    MasterIpv4 = 0,
    /// 1 `NTA_EXP_MASTER_IPV6`.
    MasterIpv6 = 1,
    /// 2 `NTA_EXP_MASTER_L4PROTO`.
    MasterL4Proto = 2,
    /// 3 `NTA_EXP_MASTER_PORT`.
    MasterPort = 3,
    /// 4 `NTA_EXP_EXPECT_IPV4`.
    ExpectIpv4 = 4,
    /// 5 `NTA_EXP_EXPECT_IPV6`.
    ExpectIpv6 = 5,
    /// 6 `NTA_EXP_EXPECT_L4PROTO`.
    ExpectL4Proto = 6,
    /// 7 `NTA_EXP_EXPECT_PORT`.
    ExpectPort = 7,
    /// 8 `NTA_EXP_MASK_IPV4`.
    MaskIpv4 = 8,
    /// 9 `NTA_EXP_MASK_IPV6`.
    MaskIpv6 = 9,
    /// 10 `NTA_EXP_MASK_L4PROTO`.
    MaskL4Proto = 10,
    /// 11 `NTA_EXP_MASK_PORT`.
    MaskPort = 11,
    /// 12 `NTA_EXP_TIMEOUT`: u32 seconds.
    Timeout = 12,
    /// 13 `NTA_EXP_FLAGS`: u32.
    Flags = 13,
    /// 14 `NTA_EXP_CLASS`: u32.
    Class = 14,
    /// 15 `NTA_EXP_NAT_IPV4`.
    NatIpv4 = 15,
    /// 16 `NTA_EXP_NAT_PORT`.
    NatPort = 16,
    /// 17 `NTA_EXP_NAT_L4PROTO`.
    NatL4Proto = 17,
    /// 18 `NTA_EXP_NAT_DIR`: u32.
    NatDir = 18,
    /// 19 `NTA_EXP_HELPER_NAME`: string, `nta_len` ≤ 16.
    HelperName = 19,
    /// 20 `NTA_EXP_FN`: string, `nta_len` ≤ 32.
    Fn = 20,
}

impl ExpAttrId {
    /// Every id, in numeric order.
    pub const ALL: [Self; 21] = [
        Self::MasterIpv4,
        Self::MasterIpv6,
        Self::MasterL4Proto,
        Self::MasterPort,
        Self::ExpectIpv4,
        Self::ExpectIpv6,
        Self::ExpectL4Proto,
        Self::ExpectPort,
        Self::MaskIpv4,
        Self::MaskIpv6,
        Self::MaskL4Proto,
        Self::MaskPort,
        Self::Timeout,
        Self::Flags,
        Self::Class,
        Self::NatIpv4,
        Self::NatPort,
        Self::NatL4Proto,
        Self::NatDir,
        Self::HelperName,
        Self::Fn,
    ];

    /// The order in which `exp2msg` (and [`ExpRepr::emit_attrs`]) writes the attributes.
    pub const EMIT_ORDER: [Self; 21] = [
        Self::MasterIpv4,
        Self::MasterIpv6,
        Self::MasterL4Proto,
        Self::MasterPort,
        Self::ExpectIpv4,
        Self::ExpectIpv6,
        Self::ExpectL4Proto,
        Self::ExpectPort,
        Self::MaskIpv4,
        Self::MaskIpv6,
        Self::MaskL4Proto,
        Self::MaskPort,
        Self::Timeout,
        Self::Flags,
        Self::Class,
        Self::NatIpv4,
        Self::NatL4Proto,
        Self::NatPort,
        Self::NatDir,
        Self::HelperName,
        Self::Fn,
    ];

    /// The id for a number below [`NTA_EXP_MAX`].
    pub const fn from_u16(id: u16) -> Option<Self> {
        if id < NTA_EXP_MAX {
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
}

const fn exact(payload: u16) -> AttrSize {
    AttrSize::Exact(4 + payload)
}

const SIZES: [AttrSize; 21] = [
    exact(8),
    exact(32),
    exact(1),
    exact(4),
    exact(8),
    exact(32),
    exact(1),
    exact(4),
    exact(8),
    exact(32),
    exact(1),
    exact(4),
    exact(4),
    exact(4),
    exact(4),
    exact(8),
    exact(4),
    exact(1),
    exact(4),
    AttrSize::Max(16),
    AttrSize::Max(32),
];

const fn order_ids() -> [u16; 21] {
    let mut ids = [0u16; 21];
    let mut i = 0;
    while i < 21 {
        ids[i] = ExpAttrId::EMIT_ORDER[i] as u16;
        i += 1;
    }
    ids
}

const RANKS: [u8; 21] = attr::ranks(order_ids());

pub(crate) static TABLE: AttrTable = AttrTable {
    max: NTA_EXP_MAX,
    sizes: &SIZES,
    ranks: &RANKS,
    labels: None,
};

/// One of the three tuples of an expectation (master, expected, mask): addresses, L4
/// protocol, ports, each optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExpTuple {
    /// IPv4 source and destination.
    pub ipv4: Option<Pair<Ipv4Addr>>,
    /// IPv6 source and destination.
    pub ipv6: Option<Pair<Ipv6Addr>>,
    /// L4 protocol.
    pub l4proto: Option<u8>,
    /// Source and destination ports (TCP, UDP, SCTP, DCCP).
    pub port: Option<Pair<u16>>,
}

/// An expectation as EXP_NEW / EXP_UPD / EXP_DEL carry it (`msg2exp` / `exp2msg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExpRepr {
    /// `NTA_EXP_MASTER_*`: the master conntrack's original tuple.
    pub master: ExpTuple,
    /// `NTA_EXP_EXPECT_*`: the expected tuple.
    pub expected: ExpTuple,
    /// `NTA_EXP_MASK_*`: the mask over the expected tuple.
    pub mask: ExpTuple,
    /// `NTA_EXP_TIMEOUT`: seconds left (absent with `CommitTimeout`).
    pub timeout: Option<u32>,
    /// `NTA_EXP_FLAGS`.
    pub flags: Option<u32>,
    /// `NTA_EXP_CLASS`.
    pub class: Option<u32>,
    /// `NTA_EXP_NAT_IPV4`: the NAT tuple's addresses.
    pub nat_ipv4: Option<Pair<Ipv4Addr>>,
    /// `NTA_EXP_NAT_L4PROTO`.
    pub nat_l4proto: Option<u8>,
    /// `NTA_EXP_NAT_PORT`.
    pub nat_port: Option<Pair<u16>>,
    /// `NTA_EXP_NAT_DIR`.
    pub nat_dir: Option<u32>,
    /// `NTA_EXP_HELPER_NAME` (payload up to 12 bytes, NUL included).
    pub helper_name: Option<AttrStr>,
    /// `NTA_EXP_FN`: expectation function name (payload up to 28 bytes, NUL included).
    pub fn_name: Option<AttrStr>,
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

/// A field's value to write, by kind.
enum Val<'a> {
    V4(&'a Pair<Ipv4Addr>),
    V6(&'a Pair<Ipv6Addr>),
    U8(u8),
    Ports(&'a Pair<u16>),
    U32(u32),
    Str(&'a AttrStr),
}

impl Val<'_> {
    fn len(&self) -> usize {
        match self {
            Self::V4(_) => 8,
            Self::V6(_) => 32,
            Self::U8(_) => 1,
            Self::Ports(_) | Self::U32(_) => 4,
            Self::Str(s) => s.payload().len(),
        }
    }

    fn write(&self, d: &mut [u8]) {
        match self {
            Self::V4(p) => {
                d[..4].copy_from_slice(&p.src.octets());
                d[4..].copy_from_slice(&p.dst.octets());
            }
            Self::V6(p) => {
                d[..16].copy_from_slice(&p.src.octets());
                d[16..].copy_from_slice(&p.dst.octets());
            }
            Self::U8(v) => d[0] = *v,
            Self::Ports(p) => {
                d[..2].copy_from_slice(&p.src.to_be_bytes());
                d[2..].copy_from_slice(&p.dst.to_be_bytes());
            }
            Self::U32(v) => d.copy_from_slice(&v.to_be_bytes()),
            Self::Str(s) => d.copy_from_slice(s.payload()),
        }
    }
}

impl ExpTuple {
    fn set(&mut self, slot: u16, p: &[u8]) {
        match slot {
            0 => self.ipv4 = Some(v4pair(p)),
            1 => self.ipv6 = Some(v6pair(p)),
            2 => self.l4proto = Some(p[0]),
            _ => self.port = Some(ports(p)),
        }
    }

    fn get(&self, slot: u16) -> Option<Val<'_>> {
        match slot {
            0 => self.ipv4.as_ref().map(Val::V4),
            1 => self.ipv6.as_ref().map(Val::V6),
            2 => self.l4proto.map(Val::U8),
            _ => self.port.as_ref().map(Val::Ports),
        }
    }
}

impl ExpRepr {
    /// Parses the attributes of an expectation message, as `msg2exp` accepts them (any order,
    /// a repeated attribute overwrites the earlier one, empty strings dropped).
    pub fn parse_attrs(attrs: AttrIter<'_>, opts: &ParseOptions) -> Result<Self, ParseError> {
        let mut exp = Self::default();
        attr::parse_attrs(attrs, &TABLE, opts, |id, p| exp.set(id, p))?;
        Ok(exp)
    }

    fn set(&mut self, id: u16, p: &[u8]) {
        let Some(id) = ExpAttrId::from_u16(id) else {
            return;
        };
        let n = id.id();
        match id {
            ExpAttrId::MasterIpv4
            | ExpAttrId::MasterIpv6
            | ExpAttrId::MasterL4Proto
            | ExpAttrId::MasterPort => self.master.set(n, p),
            ExpAttrId::ExpectIpv4
            | ExpAttrId::ExpectIpv6
            | ExpAttrId::ExpectL4Proto
            | ExpAttrId::ExpectPort => self.expected.set(n - 4, p),
            ExpAttrId::MaskIpv4
            | ExpAttrId::MaskIpv6
            | ExpAttrId::MaskL4Proto
            | ExpAttrId::MaskPort => self.mask.set(n - 8, p),
            ExpAttrId::Timeout => self.timeout = Some(be32(p)),
            ExpAttrId::Flags => self.flags = Some(be32(p)),
            ExpAttrId::Class => self.class = Some(be32(p)),
            ExpAttrId::NatIpv4 => self.nat_ipv4 = Some(v4pair(p)),
            ExpAttrId::NatPort => self.nat_port = Some(ports(p)),
            ExpAttrId::NatL4Proto => self.nat_l4proto = Some(p[0]),
            ExpAttrId::NatDir => self.nat_dir = Some(be32(p)),
            ExpAttrId::HelperName => self.helper_name = AttrStr::from_payload(p),
            ExpAttrId::Fn => self.fn_name = AttrStr::from_payload(p),
        }
    }

    fn get(&self, id: ExpAttrId) -> Option<Val<'_>> {
        let n = id.id();
        match id {
            ExpAttrId::MasterIpv4
            | ExpAttrId::MasterIpv6
            | ExpAttrId::MasterL4Proto
            | ExpAttrId::MasterPort => self.master.get(n),
            ExpAttrId::ExpectIpv4
            | ExpAttrId::ExpectIpv6
            | ExpAttrId::ExpectL4Proto
            | ExpAttrId::ExpectPort => self.expected.get(n - 4),
            ExpAttrId::MaskIpv4
            | ExpAttrId::MaskIpv6
            | ExpAttrId::MaskL4Proto
            | ExpAttrId::MaskPort => self.mask.get(n - 8),
            ExpAttrId::Timeout => self.timeout.map(Val::U32),
            ExpAttrId::Flags => self.flags.map(Val::U32),
            ExpAttrId::Class => self.class.map(Val::U32),
            ExpAttrId::NatIpv4 => self.nat_ipv4.as_ref().map(Val::V4),
            ExpAttrId::NatPort => self.nat_port.as_ref().map(Val::Ports),
            ExpAttrId::NatL4Proto => self.nat_l4proto.map(Val::U8),
            ExpAttrId::NatDir => self.nat_dir.map(Val::U32),
            ExpAttrId::HelperName => self.helper_name.as_ref().map(Val::Str),
            ExpAttrId::Fn => self.fn_name.as_ref().map(Val::Str),
        }
    }

    /// Checks what a receiver would refuse: strings longer than their attribute allows.
    pub(crate) fn check_emit(&self) -> Result<(), EmitError> {
        for id in [ExpAttrId::HelperName, ExpAttrId::Fn] {
            if let (Some(v), AttrSize::Max(max)) = (self.get(id), id.size()) {
                attr::check_var(id.id(), v.len(), max)?;
            }
        }
        Ok(())
    }

    /// Length of the attributes this expectation emits, padding included.
    pub fn attrs_len(&self) -> usize {
        ExpAttrId::EMIT_ORDER
            .iter()
            .filter_map(|&id| self.get(id))
            .map(|v| attr_space(v.len()))
            .sum()
    }

    /// Writes the attributes in `exp2msg` order into `buf` and returns the bytes written.
    pub fn emit_attrs(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.check_emit()?;
        let len = self.attrs_len();
        if buf.len() < len {
            return Err(EmitError::InsufficientSize {
                required: len,
                have: buf.len(),
            });
        }
        let mut w = Writer::new(&mut buf[..len]);
        for id in ExpAttrId::EMIT_ORDER {
            if let Some(v) = self.get(id) {
                w.attr_with(id.id(), v.len(), |d| v.write(d));
            }
        }
        Ok(w.pos())
    }
}
