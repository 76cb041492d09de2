//! Links: lookup, the VMAC (macvlan) itself, up / down, protodown, and the start-up cleanup
//! of what a crashed run left behind.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoMacVlan, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage, MacVlanMode, State,
};

use crate::addr::{AddrSpec, Address, eui64_link_local};
use crate::error::{Error, Result};
use crate::netlink::Netlink;
use crate::{Family, MacAddr};

const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
const IFF_LOWER_UP: u32 = 0x1_0000;
/// `IFNAMSIZ - 1`: the longest interface name the kernel accepts.
pub(crate) const IFNAME_MAX: usize = 15;

/// The mode of a macvlan (`IFLA_MACVLAN_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MacvlanMode {
    /// No traffic between macvlans of the same parent, and the parent's own frames with the
    /// macvlan's source MAC are accepted: what keepalived uses for VMACs (the default).
    #[default]
    Private,
    /// Traffic between macvlans goes through the external switch (the kernel's default).
    Vepa,
    /// Macvlans of the same parent talk to each other directly.
    Bridge,
    /// One macvlan takes over the parent.
    Passthru,
    /// Receives only from a list of source MACs.
    Source,
    /// A mode this crate does not name.
    Other(u32),
}

impl From<MacvlanMode> for MacVlanMode {
    fn from(m: MacvlanMode) -> Self {
        match m {
            MacvlanMode::Private => Self::Private,
            MacvlanMode::Vepa => Self::Vepa,
            MacvlanMode::Bridge => Self::Bridge,
            MacvlanMode::Passthru => Self::Passthrough,
            MacvlanMode::Source => Self::Source,
            MacvlanMode::Other(v) => Self::Other(v),
        }
    }
}

impl From<MacVlanMode> for MacvlanMode {
    fn from(m: MacVlanMode) -> Self {
        match m {
            MacVlanMode::Private => Self::Private,
            MacVlanMode::Vepa => Self::Vepa,
            MacVlanMode::Bridge => Self::Bridge,
            MacVlanMode::Passthrough => Self::Passthru,
            MacVlanMode::Source => Self::Source,
            other => Self::Other(u32::from(other)),
        }
    }
}

impl std::fmt::Display for MacvlanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Private => f.write_str("private"),
            Self::Vepa => f.write_str("vepa"),
            Self::Bridge => f.write_str("bridge"),
            Self::Passthru => f.write_str("passthru"),
            Self::Source => f.write_str("source"),
            Self::Other(v) => write!(f, "mode {v}"),
        }
    }
}

/// The RFC 2863 operational state of a link (`IFLA_OPERSTATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OperState {
    /// The driver does not report it (`UNKNOWN`; loopback, some virtual devices).
    #[default]
    Unknown,
    /// `NOTPRESENT`.
    NotPresent,
    /// `DOWN`.
    Down,
    /// `LOWERLAYERDOWN`: e.g. a macvlan whose parent lost its carrier.
    LowerLayerDown,
    /// `TESTING`.
    Testing,
    /// `DORMANT`.
    Dormant,
    /// `UP`: ready to pass packets.
    Up,
    /// A value this crate does not name.
    Other(u8),
}

impl From<State> for OperState {
    fn from(s: State) -> Self {
        match s {
            State::Unknown => Self::Unknown,
            State::NotPresent => Self::NotPresent,
            State::Down => Self::Down,
            State::LowerLayerDown => Self::LowerLayerDown,
            State::Testing => Self::Testing,
            State::Dormant => Self::Dormant,
            State::Up => Self::Up,
            other => Self::Other(u8::from(other)),
        }
    }
}

/// A network interface as the kernel describes it (`RTM_NEWLINK`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address, for Ethernet-like links.
    pub mac: Option<MacAddr>,
    /// The `IFF_*` flags (`IFF_UP` = 0x1, `IFF_RUNNING` = 0x40, `IFF_LOWER_UP` = 0x10000).
    pub flags: u32,
    /// MTU.
    pub mtu: Option<u32>,
    /// The operational state.
    pub operstate: OperState,
    /// The lower device (`IFLA_LINK`): a macvlan's parent, a veth's peer.
    pub parent: Option<u32>,
    /// Set when [`Link::parent`] is an index in another network namespace
    /// (`IFLA_LINK_NETNSID`).
    pub parent_netnsid: Option<i32>,
    /// The link kind (`IFLA_INFO_KIND`): `macvlan`, `veth`, `dummy`, ...
    pub kind: Option<String>,
    /// The macvlan mode, for macvlans.
    pub macvlan_mode: Option<MacvlanMode>,
    /// Protocol-down (`IFLA_PROTO_DOWN`): the link is held down by a control-plane daemon.
    pub protodown: bool,
}

impl Link {
    /// Decodes an `RTM_NEWLINK` / `RTM_DELLINK` message.
    pub(crate) fn from_message(m: &LinkMessage) -> Self {
        let mut l = Self {
            index: m.header.index,
            name: String::new(),
            mac: None,
            flags: m.header.flags.bits(),
            mtu: None,
            operstate: OperState::Unknown,
            parent: None,
            parent_netnsid: None,
            kind: None,
            macvlan_mode: None,
            protodown: false,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name.clone_from(n),
                LinkAttribute::Address(b) => {
                    if let Ok(b) = <[u8; 6]>::try_from(b.as_slice()) {
                        l.mac = Some(MacAddr(b));
                    }
                }
                LinkAttribute::Mtu(v) => l.mtu = Some(*v),
                LinkAttribute::OperState(st) => l.operstate = (*st).into(),
                LinkAttribute::Link(p) => l.parent = Some(*p),
                LinkAttribute::LinkNetNsId(id) => l.parent_netnsid = Some(*id),
                LinkAttribute::ProtoDown(v) => l.protodown = *v != 0,
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(k.to_string()),
                            LinkInfo::Data(InfoData::MacVlan(d)) => {
                                for x in d {
                                    if let InfoMacVlan::Mode(mode) = x {
                                        l.macvlan_mode = Some((*mode).into());
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }

    /// `IFF_UP`: administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// `IFF_RUNNING`: operationally up.
    pub fn is_running(&self) -> bool {
        self.flags & IFF_RUNNING != 0
    }

    /// `IFF_LOWER_UP`: the carrier is present.
    pub fn has_carrier(&self) -> bool {
        self.flags & IFF_LOWER_UP != 0
    }

    /// `true` for a macvlan.
    pub fn is_macvlan(&self) -> bool {
        self.kind.as_deref() == Some("macvlan")
    }
}

/// What to create: a macvlan VMAC on a parent interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacSpec {
    /// Interface name (at most 15 bytes): `vrrp.VRID` by default, or keepalived's
    /// `use_vmac NAME`.
    pub name: String,
    /// The parent interface's index.
    pub parent: u32,
    /// The MAC: `00:00:5e:00:01:VRID` (IPv4) or `00:00:5e:00:02:VRID` (IPv6) by default.
    pub mac: MacAddr,
    /// The macvlan mode: private by default (see [`MacvlanMode::Private`]).
    pub mode: MacvlanMode,
    /// The VRRP instance's family. An IPv6 VMAC needs IPv6 on the box; an IPv4 one tolerates
    /// a kernel without IPv6 when setting the address generation mode.
    pub family: Family,
    /// Put a link-local address on the VMAC: the parent's (or, if it has none, the EUI-64
    /// one of the parent's MAC), so IPv6 adverts leave from a non-VIP address with the VMAC.
    /// `true` by default for IPv6.
    pub copy_link_local: bool,
}

impl VmacSpec {
    /// The defaults for a VRRP instance: name `vrrp.VRID`, the VRRP MAC of `family`, private
    /// mode, link-local copied for IPv6.
    pub fn new(vrid: u8, family: Family, parent: u32) -> Self {
        Self {
            name: format!("vrrp.{vrid}"),
            parent,
            mac: MacAddr::vrrp(vrid, family),
            mode: MacvlanMode::Private,
            family,
            copy_link_local: family == Family::V6,
        }
    }

    /// Sets the interface name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the macvlan mode.
    pub fn with_mode(mut self, mode: MacvlanMode) -> Self {
        self.mode = mode;
        self
    }
}

/// A VMAC that [`Netlink::create_vmac`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vmac {
    /// The new interface, as the kernel reported it after creation (still down).
    pub link: Link,
    /// Its MAC.
    pub mac: MacAddr,
    /// The link-local address put on it, if [`VmacSpec::copy_link_local`].
    pub link_local: Option<Ipv6Addr>,
}

/// What [`Netlink::cleanup_stale`] looks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaleSpec {
    /// Only macvlans on these parents (empty: on any parent of this namespace).
    pub parents: Vec<u32>,
    /// Macvlans with these names are stale whatever their MAC (`use_vmac NAME`); macvlans
    /// with a VRRP MAC (`00:00:5e:00:0{1,2}:xx`) are stale whatever their name.
    pub names: Vec<String>,
    /// Virtual addresses to remove from every interface. Leave out the addresses of an
    /// address owner (priority 255): there they are the interface's real addresses.
    pub vips: Vec<IpAddr>,
}

/// What [`Netlink::cleanup_stale`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cleanup {
    /// The deleted macvlans.
    pub links: Vec<Link>,
    /// The deleted addresses (those on deleted macvlans went with them and are not listed).
    pub addresses: Vec<Address>,
}

/// Checks an interface name as the kernel would (`dev_valid_name`).
pub(crate) fn validate_ifname(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Invalid(format!("interface name {name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > IFNAME_MAX {
        return bad("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("is reserved");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
    {
        return bad("contains '/', ':', whitespace or NUL");
    }
    Ok(())
}

fn link_request(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

impl Netlink {
    /// Every link of the namespace (`RTM_GETLINK` dump).
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            &|| "RTM_GETLINK dump".into(),
        )?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// The link with this index, `None` if there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        let r = self.request(
            RouteNetlinkMessage::GetLink(link_request(index)),
            0,
            &|| format!("RTM_GETLINK ifindex {index}"),
        );
        first_link(r)
    }

    /// The link with this name, `None` if there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        validate_ifname(name)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        let r = self.request(RouteNetlinkMessage::GetLink(m), 0, &|| {
            format!("RTM_GETLINK {name}")
        });
        first_link(r)
    }

    /// The link with this index, or [`Error::NoSuchLink`].
    pub fn link(&mut self, index: u32) -> Result<Link> {
        self.link_by_index(index)?
            .ok_or_else(|| Error::NoSuchLink(format!("ifindex {index}")))
    }

    /// Creates the VMAC: a macvlan named, addressed and moded as `spec` says, on
    /// `spec.parent` (`RTM_NEWLINK` with `NLM_F_CREATE | NLM_F_EXCL`, so an existing interface
    /// of that name is an `EEXIST` error); then, in a second request, IPv6 address generation
    /// mode NONE (setting it at creation fails with `EAFNOSUPPORT`), so the VMAC grows no
    /// link-local address of its own; then, if asked, the parent's link-local address.
    ///
    /// The link is left down: apply the sysctls, then [`Netlink::set_link_up`]. If a later
    /// step fails the new interface is deleted again.
    pub fn create_vmac(&mut self, spec: &VmacSpec) -> Result<Vmac> {
        validate_ifname(&spec.name)?;
        let parent = self.link(spec.parent)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(spec.name.clone()));
        m.attributes.push(LinkAttribute::Link(spec.parent));
        m.attributes
            .push(LinkAttribute::Address(spec.mac.0.to_vec()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(spec.mode.into())])),
        ]));
        let op = || format!("RTM_NEWLINK macvlan {} on {}", spec.name, parent.name);
        self.ack(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &op,
        )?;

        let link = self
            .link_by_name(&spec.name)?
            .ok_or_else(|| Error::Decode {
                op: op(),
                reason: "the new interface is not in the link table".into(),
            })?;
        match self.finish_vmac(spec, &parent, &link) {
            Ok(link_local) => {
                // Re-read: the kernel may have adjusted flags since creation.
                let link = self.link_by_index(link.index)?.unwrap_or(link);
                Ok(Vmac {
                    link,
                    mac: spec.mac,
                    link_local,
                })
            }
            Err(e) => {
                let _ = self.delete_link(link.index);
                Err(e)
            }
        }
    }

    fn finish_vmac(
        &mut self,
        spec: &VmacSpec,
        parent: &Link,
        link: &Link,
    ) -> Result<Option<Ipv6Addr>> {
        match self.set_addr_gen_mode_none(link.index) {
            Ok(()) => {}
            // No IPv6 in this kernel: nothing can grow a link-local address anyway.
            Err(e) if spec.family == Family::V4 && e.errno() == Some(libc::EAFNOSUPPORT) => {}
            Err(e) => return Err(e),
        }
        if !spec.copy_link_local {
            return Ok(None);
        }
        let ll = match self.link_local_of(parent.index)? {
            Some(a) => a,
            None => {
                let mac = parent.mac.ok_or_else(|| {
                    Error::Invalid(format!(
                        "{} has neither an IPv6 link-local address nor a MAC to derive one from",
                        parent.name
                    ))
                })?;
                eui64_link_local(mac)
            }
        };
        self.add_address(link.index, &AddrSpec::new(IpAddr::V6(ll), 64))?;
        Ok(Some(ll))
    }

    /// Sets IPv6 address generation mode NONE (`IFLA_INET6_ADDR_GEN_MODE`), so bringing the
    /// link up adds no link-local address.
    pub fn set_addr_gen_mode_none(&mut self, index: u32) -> Result<()> {
        let mut m = link_request(index);
        m.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        let r = self.ack(RouteNetlinkMessage::NewLink(m), 0, &|| {
            format!("RTM_NEWLINK ifindex {index} IFLA_INET6_ADDR_GEN_MODE none")
        });
        self.name_in_error(index, r)
    }

    /// Deletes a link (`RTM_DELLINK`). Deleting a macvlan removes its addresses with it.
    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        let r = self.ack(
            RouteNetlinkMessage::DelLink(link_request(index)),
            0,
            &|| format!("RTM_DELLINK ifindex {index}"),
        );
        self.name_in_error(index, r)
    }

    /// Brings a link up or down (`IFF_UP`).
    pub fn set_link_up(&mut self, index: u32, up: bool) -> Result<()> {
        let mut m = link_request(index);
        m.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        m.header.change_mask = LinkFlags::Up;
        let r = self.ack(RouteNetlinkMessage::NewLink(m), 0, &|| {
            format!(
                "RTM_NEWLINK ifindex {index} {}",
                if up { "up" } else { "down" }
            )
        });
        self.name_in_error(index, r)
    }

    /// Sets or clears protodown (`IFLA_PROTO_DOWN`), FRR's alternative to removing the VIPs:
    /// a Backup holds its (operator-made) macvlan in protodown, so the carrier is off and the
    /// addresses stay configured but unused; the Master clears it.
    pub fn set_protodown(&mut self, index: u32, on: bool) -> Result<()> {
        let mut m = link_request(index);
        m.attributes.push(LinkAttribute::ProtoDown(u8::from(on)));
        let r = self.ack(RouteNetlinkMessage::NewLink(m), 0, &|| {
            format!(
                "RTM_NEWLINK ifindex {index} protodown {}",
                if on { "on" } else { "off" }
            )
        });
        self.name_in_error(index, r)
    }

    /// The macvlans that [`Netlink::cleanup_stale`] would delete.
    pub fn stale_vmacs(&mut self, spec: &StaleSpec) -> Result<Vec<Link>> {
        Ok(self
            .links()?
            .into_iter()
            .filter(|l| is_stale_vmac(l, spec))
            .collect())
    }

    /// Start-up cleanup after a crashed run: deletes the stale VMACs (macvlans with a VRRP MAC
    /// or one of `spec.names`, on one of `spec.parents`), then removes `spec.vips` from every
    /// interface that still holds them. Interfaces or addresses that vanish meanwhile are not
    /// errors.
    pub fn cleanup_stale(&mut self, spec: &StaleSpec) -> Result<Cleanup> {
        let mut out = Cleanup::default();
        for l in self.stale_vmacs(spec)? {
            match self.delete_link(l.index) {
                Ok(()) => out.links.push(l),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        if spec.vips.is_empty() {
            return Ok(out);
        }
        let gone: HashSet<u32> = out.links.iter().map(|l| l.index).collect();
        for a in self.addresses()? {
            if gone.contains(&a.ifindex) || !spec.vips.contains(&a.addr) {
                continue;
            }
            match self.del_address(a.ifindex, a.addr, a.prefix_len) {
                Ok(()) => out.addresses.push(a),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Rewrites `ifindex N` in a kernel error's request description as `NAME (ifindex N)`.
    pub(crate) fn name_in_error<T>(&mut self, index: u32, r: Result<T>) -> Result<T> {
        match r {
            Err(Error::Kernel { op, errno, message }) => {
                let op = match self.link_by_index(index) {
                    Ok(Some(l)) => op.replace(
                        &format!("ifindex {index}"),
                        &format!("{} (ifindex {index})", l.name),
                    ),
                    _ => op,
                };
                Err(Error::Kernel { op, errno, message })
            }
            other => other,
        }
    }
}

fn first_link(r: Result<Vec<RouteNetlinkMessage>>) -> Result<Option<Link>> {
    match r {
        Ok(v) => Ok(v.iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
            _ => None,
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The stale-VMAC rule of [`Netlink::cleanup_stale`].
pub(crate) fn is_stale_vmac(l: &Link, spec: &StaleSpec) -> bool {
    if !l.is_macvlan() {
        return false;
    }
    let ours = l.mac.is_some_and(|m| m.vrrp_parts().is_some()) || spec.names.contains(&l.name);
    let on_parent = spec.parents.is_empty()
        || (l.parent_netnsid.is_none() && l.parent.is_some_and(|p| spec.parents.contains(&p)));
    ours && on_parent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{decode_route, encode_request};

    fn macvlan(index: u32, name: &str, mac: MacAddr, parent: u32) -> Link {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        m.attributes.push(LinkAttribute::Link(parent));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private,
            )])),
        ]));
        // Through the wire format and back, as a dump would deliver it.
        let bytes = encode_request(RouteNetlinkMessage::NewLink(m), 0, 1);
        match decode_route(&bytes).unwrap() {
            RouteNetlinkMessage::NewLink(l) => Link::from_message(&l),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn link_decoding() {
        let l = macvlan(9, "vrrp.51", MacAddr::vrrp(51, Family::V4), 2);
        assert_eq!(l.index, 9);
        assert_eq!(l.name, "vrrp.51");
        assert_eq!(l.mac, Some(MacAddr::vrrp(51, Family::V4)));
        assert_eq!(l.parent, Some(2));
        assert_eq!(l.kind.as_deref(), Some("macvlan"));
        assert_eq!(l.macvlan_mode, Some(MacvlanMode::Private));
        assert!(!l.is_up() && !l.protodown);
    }

    #[test]
    fn stale_rule() {
        let spec = StaleSpec {
            parents: vec![2],
            names: vec!["vip-web".into()],
            vips: vec![],
        };
        let other_mac = MacAddr([2, 0, 0, 0, 0, 1]);
        assert!(is_stale_vmac(
            &macvlan(9, "vrrp.51", MacAddr::vrrp(51, Family::V4), 2),
            &spec
        ));
        assert!(is_stale_vmac(
            &macvlan(9, "x", MacAddr::vrrp(1, Family::V6), 2),
            &spec
        ));
        assert!(is_stale_vmac(&macvlan(9, "vip-web", other_mac, 2), &spec));
        assert!(!is_stale_vmac(&macvlan(9, "mv0", other_mac, 2), &spec));
        assert!(!is_stale_vmac(
            &macvlan(9, "vrrp.51", MacAddr::vrrp(51, Family::V4), 3),
            &spec
        ));
        let any_parent = StaleSpec::default();
        assert!(is_stale_vmac(
            &macvlan(9, "vrrp.51", MacAddr::vrrp(51, Family::V4), 3),
            &any_parent
        ));
        let mut not_macvlan = macvlan(9, "vrrp.51", MacAddr::vrrp(51, Family::V4), 2);
        not_macvlan.kind = Some("dummy".into());
        assert!(!is_stale_vmac(&not_macvlan, &spec));
    }

    #[test]
    fn interface_names() {
        for ok in ["vrrp.51", "eth0.100", "a", "vrrp.255-long15"] {
            validate_ifname(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "eth0:1", "a b", "sixteen-chars-xx"] {
            assert!(validate_ifname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vmac_spec_defaults() {
        let s = VmacSpec::new(51, Family::V4, 2);
        assert_eq!(s.name, "vrrp.51");
        assert_eq!(s.mac.to_string(), "00:00:5e:00:01:33");
        assert_eq!(s.mode, MacvlanMode::Private);
        assert!(!s.copy_link_local);
        let s = VmacSpec::new(52, Family::V6, 2)
            .with_name("vmac6")
            .with_mode(MacvlanMode::Bridge);
        assert_eq!(s.mac.to_string(), "00:00:5e:00:02:34");
        assert_eq!(
            (s.name.as_str(), s.mode, s.copy_link_local),
            ("vmac6", MacvlanMode::Bridge, true)
        );
    }

    #[test]
    fn create_request_encoding() {
        // The macvlan RTM_NEWLINK carries IFLA_IFNAME, IFLA_LINK, IFLA_ADDRESS and
        // IFLA_LINKINFO { IFLA_INFO_KIND "macvlan", IFLA_INFO_DATA { IFLA_MACVLAN_MODE 1 } }.
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName("vrrp.51".into()));
        m.attributes.push(LinkAttribute::Link(2));
        m.attributes.push(LinkAttribute::Address(
            MacAddr::vrrp(51, Family::V4).0.to_vec(),
        ));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacvlanMode::Private.into(),
            )])),
        ]));
        let b = encode_request(RouteNetlinkMessage::NewLink(m), 0x0605, 1);
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        // "macvlan\0" as IFLA_INFO_KIND (len 12, type 1).
        assert!(hex.contains("0c0001006d6163766c616e00"), "{hex}");
        // IFLA_MACVLAN_MODE (len 8, type 1) = MACVLAN_MODE_PRIVATE (1).
        assert!(hex.contains("0800010001000000"), "{hex}");
        // IFLA_ADDRESS (len 10, type 1) = 00:00:5e:00:01:33.
        assert!(hex.contains("0a00010000005e000133"), "{hex}");
        // IFLA_LINK (len 8, type 5) = 2.
        assert!(hex.contains("0800050002000000"), "{hex}");
    }
}
