//! IPv4 / IPv6 addresses: add and remove (with keepalived-style labels), dump.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{Error, Result};
use crate::link::IFNAME_MAX;
use crate::netlink::Netlink;
use crate::{Family, MacAddr};

/// `IFA_F_SECONDARY`.
const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_NODAD`.
const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_DADFAILED`.
const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_TENTATIVE`.
const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_PERMANENT`.
const IFA_F_PERMANENT: u32 = 0x80;
/// `IFA_F_NOPREFIXROUTE`.
const IFA_F_NOPREFIXROUTE: u32 = 0x200;

/// An address scope (`ifa_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// `global` (0).
    #[default]
    Universe,
    /// `site` (200).
    Site,
    /// `link` (253).
    Link,
    /// `host` (254).
    Host,
    /// `nowhere` (255).
    Nowhere,
    /// Another value.
    Other(u8),
}

impl From<u8> for Scope {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Universe,
            200 => Self::Site,
            253 => Self::Link,
            254 => Self::Host,
            255 => Self::Nowhere,
            v => Self::Other(v),
        }
    }
}

impl From<Scope> for u8 {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Universe => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(v) => v,
        }
    }
}

/// An address as the kernel reports it (`RTM_NEWADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// The interface index.
    pub ifindex: u32,
    /// The local address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix_len: u8,
    /// The IPv4 label (`eth0:10`); the kernel reports the interface name when none was set.
    pub label: Option<String>,
    /// The scope.
    pub scope: Scope,
    /// The `IFA_F_*` flags (from `IFA_FLAGS` when present).
    pub flags: u32,
    /// The IPv4 broadcast address, if any.
    pub broadcast: Option<Ipv4Addr>,
}

impl Address {
    pub(crate) fn from_message(m: &AddressMessage) -> Option<Self> {
        let mut local = None;
        let mut address = None;
        let mut a = Self {
            ifindex: m.header.index,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix_len: m.header.prefix_len,
            label: None,
            scope: u8::from(m.header.scope).into(),
            flags: u32::from(m.header.flags.bits()),
            broadcast: None,
        };
        for attr in &m.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Label(l) => a.label = Some(l.clone()),
                AddressAttribute::Flags(f) => a.flags = f.bits(),
                AddressAttribute::Broadcast(b) => a.broadcast = Some(*b),
                _ => {}
            }
        }
        // IFA_LOCAL is the local address when present (it differs from IFA_ADDRESS only on
        // point-to-point links, where IFA_ADDRESS is the peer).
        a.addr = local.or(address)?;
        Some(a)
    }

    /// `IFA_F_TENTATIVE`: duplicate address detection is still running.
    pub fn is_tentative(&self) -> bool {
        self.flags & IFA_F_TENTATIVE != 0
    }

    /// `IFA_F_DADFAILED`: another node holds this address.
    pub fn is_dad_failed(&self) -> bool {
        self.flags & IFA_F_DADFAILED != 0
    }

    /// `IFA_F_SECONDARY`.
    pub fn is_secondary(&self) -> bool {
        self.flags & IFA_F_SECONDARY != 0
    }

    /// `IFA_F_PERMANENT`: configured, not autoconfigured.
    pub fn is_permanent(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0
    }

    /// `true` for an IPv6 link-local address (`fe80::/10`).
    pub fn is_ipv6_link_local(&self) -> bool {
        matches!(self.addr, IpAddr::V6(a) if is_link_local(&a))
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The EUI-64 link-local address of a MAC (`fe80::` + MAC with the U/L bit flipped and
/// `ff:fe` in the middle), what keepalived puts on an IPv6 VMAC whose parent has no
/// link-local address.
pub fn eui64_link_local(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// An address to add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length (at most 32 for IPv4, 128 for IPv6).
    pub prefix_len: u8,
    /// IPv4 only: a label such as `eth0:10` (keepalived's `label`), at most 15 bytes. This
    /// crate requires it to start with the interface's name: the kernel (6.18) and iproute2
    /// (6.1) accept any label, but `ifconfig`-style aliases and `ip addr show label eth0:*`
    /// assume the convention, and a label naming another interface is a configuration slip.
    pub label: Option<String>,
    /// IPv4 only: the broadcast address (`brd`).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv4 only: the scope (`scope`); the kernel picks it for IPv6.
    pub scope: Option<Scope>,
    /// IPv6: skip duplicate address detection (`IFA_F_NODAD`), so the address is usable at
    /// once instead of tentative for a second. On by default for IPv6: a VIP appears on the
    /// new Master as it leaves the old one.
    pub nodad: bool,
    /// Do not add the prefix route (`IFA_F_NOPREFIXROUTE`).
    pub noprefixroute: bool,
}

impl AddrSpec {
    /// An address with a prefix, no label; `nodad` for IPv6.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Self {
        Self {
            addr,
            prefix_len,
            label: None,
            broadcast: None,
            scope: None,
            nodad: addr.is_ipv6(),
            noprefixroute: false,
        }
    }

    /// Sets the label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Checks the prefix length and the label against the interface name.
    pub fn validate(&self, ifname: &str) -> Result<()> {
        let max = match self.addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if self.prefix_len > max {
            return Err(Error::Invalid(format!(
                "prefix length /{} of {} exceeds {max}",
                self.prefix_len, self.addr
            )));
        }
        if self.addr.is_ipv6() && (self.label.is_some() || self.broadcast.is_some()) {
            return Err(Error::Invalid(format!(
                "{}: labels and broadcast addresses are IPv4 only",
                self.addr
            )));
        }
        if let Some(l) = &self.label {
            if !l.starts_with(ifname) {
                return Err(Error::Invalid(format!(
                    "label {l:?} must start with the interface name {ifname:?}"
                )));
            }
            if l.len() > IFNAME_MAX || l.contains('\0') {
                return Err(Error::Invalid(format!(
                    "label {l:?} is longer than 15 bytes or contains NUL"
                )));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut s = format!("{}/{}", self.addr, self.prefix_len);
        if let Some(l) = &self.label {
            s.push_str(" label ");
            s.push_str(l);
        }
        s
    }

    /// The `RTM_NEWADDR` message for this address on `ifindex`.
    pub(crate) fn message(&self, ifindex: u32) -> AddressMessage {
        let mut m = address_header(ifindex, self.addr, self.prefix_len);
        let mut flags = 0;
        if self.nodad && self.addr.is_ipv6() {
            flags |= IFA_F_NODAD;
        }
        if self.noprefixroute {
            flags |= IFA_F_NOPREFIXROUTE;
        }
        if let Some(s) = self.scope {
            m.header.scope = u8::from(s).into();
        }
        m.header.flags = AddressHeaderFlags::from_bits_retain(flags as u8);
        if let Some(l) = &self.label {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if let Some(b) = self.broadcast {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if flags != 0 {
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
                    flags,
                )));
        }
        m
    }
}

/// The header and `IFA_LOCAL` / `IFA_ADDRESS` of an address request.
fn address_header(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = match Family::of(&addr) {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    };
    m.header.prefix_len = prefix_len;
    m.header.index = ifindex;
    m.header.scope = AddressScope::Universe;
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    m
}

impl Netlink {
    /// Every address of the namespace (`RTM_GETADDR` dump, both families).
    pub fn addresses(&mut self) -> Result<Vec<Address>> {
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
            &|| "RTM_GETADDR dump".into(),
        )?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Address::from_message(a),
                _ => None,
            })
            .collect())
    }

    /// The addresses of one interface.
    pub fn addresses_of(&mut self, ifindex: u32) -> Result<Vec<Address>> {
        let mut v = self.addresses()?;
        v.retain(|a| a.ifindex == ifindex);
        Ok(v)
    }

    /// The first IPv6 link-local address of an interface that passed (or skipped) duplicate
    /// address detection.
    pub fn link_local_of(&mut self, ifindex: u32) -> Result<Option<Ipv6Addr>> {
        Ok(self
            .addresses_of(ifindex)?
            .into_iter()
            .find(|a| a.is_ipv6_link_local() && !a.is_dad_failed())
            .and_then(|a| match a.addr {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            }))
    }

    /// Adds an address (`RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`: an address already
    /// there is an `EEXIST` error, see [`Error::is_exists`]).
    ///
    /// IPv6: with [`AddrSpec::nodad`] (the default) the address is usable at once, and the
    /// kernel's `RTM_NEWADDR` notification follows a moment later from its DAD work queue.
    /// Without it the address stays tentative (neither used nor answered for) until duplicate
    /// address detection ends, which waits for the link to be operationally up.
    pub fn add_address(&mut self, ifindex: u32, spec: &AddrSpec) -> Result<()> {
        let name = self.link(ifindex)?.name;
        spec.validate(&name)?;
        let op = || format!("RTM_NEWADDR {} on {name}", spec.describe());
        self.ack(
            RouteNetlinkMessage::NewAddress(spec.message(ifindex)),
            NLM_F_CREATE | NLM_F_EXCL,
            &op,
        )
    }

    /// Removes an address (`RTM_DELADDR`); one that is not there is an `EADDRNOTAVAIL`
    /// error (see [`Error::is_not_found`]).
    pub fn del_address(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let m = address_header(ifindex, addr, prefix_len);
        let r = self.ack(RouteNetlinkMessage::DelAddress(m), 0, &|| {
            format!("RTM_DELADDR {addr}/{prefix_len} on ifindex {ifindex}")
        });
        self.name_in_error(ifindex, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{decode_route, encode_request};

    fn roundtrip(m: AddressMessage) -> Address {
        let bytes = encode_request(RouteNetlinkMessage::NewAddress(m), 0, 1);
        match decode_route(&bytes).unwrap() {
            RouteNetlinkMessage::NewAddress(a) => Address::from_message(&a).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv4_with_label_and_broadcast() {
        let mut s = AddrSpec::new("192.0.2.10".parse().unwrap(), 24).with_label("eth0:10");
        s.broadcast = Some(Ipv4Addr::new(192, 0, 2, 255));
        s.validate("eth0").unwrap();
        let a = roundtrip(s.message(3));
        assert_eq!(a.ifindex, 3);
        assert_eq!(a.addr, "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(a.prefix_len, 24);
        assert_eq!(a.label.as_deref(), Some("eth0:10"));
        assert_eq!(a.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert_eq!(a.flags, 0);
        assert_eq!(a.scope, Scope::Universe);
    }

    #[test]
    fn ipv6_nodad_by_default() {
        let s = AddrSpec::new("2001:db8::1".parse().unwrap(), 64);
        assert!(s.nodad);
        let a = roundtrip(s.message(4));
        assert_eq!(a.flags & IFA_F_NODAD, IFA_F_NODAD);
        assert!(!a.is_ipv6_link_local());
        assert!(!AddrSpec::new("192.0.2.1".parse().unwrap(), 32).nodad);
    }

    #[test]
    fn validation() {
        let v4: IpAddr = "192.0.2.10".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(AddrSpec::new(v4, 33).validate("eth0").is_err());
        assert!(AddrSpec::new(v6, 129).validate("eth0").is_err());
        AddrSpec::new(v6, 128).validate("eth0").unwrap();
        // keepalived's `label eth0:10` on `dev eth0`: fine; on another interface: refused.
        AddrSpec::new(v4, 24)
            .with_label("eth0:10")
            .validate("eth0")
            .unwrap();
        let e = AddrSpec::new(v4, 24)
            .with_label("eth1:10")
            .validate("eth0")
            .unwrap_err();
        assert!(
            e.to_string().contains("must start with the interface name"),
            "{e}"
        );
        assert!(
            AddrSpec::new(v4, 24)
                .with_label("eth0:0123456789a")
                .validate("eth0")
                .is_err()
        );
        assert!(
            AddrSpec::new(v6, 64)
                .with_label("eth0:1")
                .validate("eth0")
                .is_err()
        );
    }

    #[test]
    fn eui64() {
        let mac: MacAddr = "02:00:00:00:00:0a".parse().unwrap();
        assert_eq!(
            eui64_link_local(mac),
            "fe80::ff:fe00:a".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            eui64_link_local(MacAddr::vrrp(54, Family::V6)),
            "fe80::200:5eff:fe00:236".parse::<Ipv6Addr>().unwrap()
        );
    }
}
