//! Virtual MAC (macvlan) interfaces, virtual addresses, sysctls and gratuitous ARP /
//! unsolicited Neighbor Advertisements for VRRP, over netlink, with no async runtime.
//!
//! This is the I/O half of hakit's VRRP: the state machine (`vrrp-fsm`) decides, this crate
//! touches the kernel. Everything is synchronous and blocking-by-default; every socket exposes
//! its fd (`AsFd` / `AsRawFd`) so a reactor (tokio's `AsyncFd`, mio, `poll(2)`) can wait on it.
//!
//! | piece | what it does |
//! |---|---|
//! | [`Netlink`] | `NETLINK_ROUTE` requests: create / delete the VMAC (macvlan), link up / down, protodown, addresses with labels, dumps, stale-state cleanup |
//! | [`EventSocket`] | link and address notifications (`RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`) as [`Event`]s |
//! | [`sysctl::Sysctl`] | the sysctls of the VMAC recipe under `/proc/sys/net/ipv{4,6}/conf/IFNAME/` |
//! | [`announce`] | gratuitous ARP (request and reply forms) and unsolicited NA frames, and an [`Announcer`] that sends them from the VMAC |
//!
//! # The VMAC recipe
//!
//! As keepalived does it (see `shared/reference/vrrp.md`):
//!
//! ```no_run
//! use std::net::{IpAddr, Ipv4Addr};
//! use vmac::{AddrSpec, Announcer, Family, GarpKind, Netlink, VmacSpec, announce, sysctl::Sysctl};
//!
//! let mut nl = Netlink::open()?;
//! // A start-up after a crash: remove VMACs and VIPs left behind.
//! let parent = nl.link_by_name("eth0")?.expect("eth0 exists");
//! let vip = Ipv4Addr::new(192, 0, 2, 1);
//! nl.cleanup_stale(&vmac::StaleSpec {
//!     parents: vec![parent.index],
//!     names: vec!["vrrp.51".into()],
//!     vips: vec![IpAddr::V4(vip)],
//! })?;
//!
//! // 1. + 2. macvlan in private mode, MAC 00:00:5e:00:01:33, then addr-gen-mode NONE.
//! let vmac = nl.create_vmac(&VmacSpec::new(51, Family::V4, parent.index))?;
//! // 3. sysctls (and a look at `all`, where the kernel takes the maximum).
//! let report = Sysctl::new().apply_vmac_recipe(&vmac.link.name, &parent.name, Family::V4)?;
//! for w in &report.warnings {
//!     eprintln!("warning: {w}");
//! }
//! nl.set_link_up(vmac.link.index, true)?;
//!
//! // Becoming Master: the VIP, then gratuitous ARP from the VMAC.
//! nl.add_address(vmac.link.index, &AddrSpec::new(IpAddr::V4(vip), 24))?;
//! let announcer = Announcer::open(vmac.link.index)?;
//! announcer.send(&announce::garp_frame(GarpKind::Request, vmac.mac, vip))?;
//! # Ok::<(), vmac::Error>(())
//! ```
//!
//! Kernel refusals come back as [`Error::Kernel`] with the errno and the request, e.g.
//! `RTM_NEWLINK macvlan vrrp.51 on eth0: File exists (os error 17)`.

mod addr;
pub mod announce;
mod error;
mod events;
mod link;
mod netlink;
mod sys;
pub mod sysctl;

use std::fmt;
use std::str::FromStr;

pub use addr::{AddrSpec, Address, Scope, eui64_link_local};
pub use announce::{Announcer, GarpKind, NaSpec};
pub use error::{Error, Result};
pub use events::{Event, EventSocket, Groups};
pub use link::{Cleanup, Link, MacvlanMode, OperState, StaleSpec, Vmac, VmacSpec};
pub use netlink::Netlink;

/// An IP address family: IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &std::net::IpAddr) -> Self {
        match addr {
            std::net::IpAddr::V4(_) => Self::V4,
            std::net::IpAddr::V6(_) => Self::V6,
        }
    }
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// The VRRP virtual router MAC: `00:00:5e:00:01:VRID` for IPv4, `00:00:5e:00:02:VRID` for
    /// IPv6 (RFC 5798 section 7.3).
    pub const fn vrrp(vrid: u8, family: Family) -> Self {
        let f = match family {
            Family::V4 => 1,
            Family::V6 => 2,
        };
        Self([0x00, 0x00, 0x5e, 0x00, f, vrid])
    }

    /// If this is a VRRP virtual router MAC, its family and VRID.
    pub fn vrrp_parts(&self) -> Option<(Family, u8)> {
        match self.0 {
            [0x00, 0x00, 0x5e, 0x00, 0x01, vrid] => Some((Family::V4, vrid)),
            [0x00, 0x00, 0x5e, 0x00, 0x02, vrid] => Some((Family::V6, vrid)),
            _ => None,
        }
    }

    /// The octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error of parsing a [`MacAddr`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?} (expected six hex octets separated by ':' or '-')")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_owned());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || p.len() > 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Self(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        Self(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_mac() {
        assert_eq!(
            MacAddr::vrrp(51, Family::V4).to_string(),
            "00:00:5e:00:01:33"
        );
        assert_eq!(
            MacAddr::vrrp(255, Family::V6).to_string(),
            "00:00:5e:00:02:ff"
        );
        assert_eq!(
            MacAddr::vrrp(7, Family::V6).vrrp_parts(),
            Some((Family::V6, 7))
        );
        assert_eq!(
            "02:00:00:00:00:0a".parse::<MacAddr>().unwrap().vrrp_parts(),
            None
        );
    }

    #[test]
    fn mac_parse() {
        assert_eq!(
            "00-00-5E-00-01-38".parse::<MacAddr>().unwrap(),
            MacAddr([0, 0, 0x5e, 0, 1, 0x38])
        );
        for bad in [
            "",
            "00:00:5e:00:01",
            "00:00:5e:00:01:38:00",
            "0:0:0:0:0:100",
            "g0:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
