//! Gratuitous ARP and unsolicited Neighbor Advertisement: pure frame builders, and an
//! [`Announcer`] that sends the frames from an interface (the VMAC) through an AF_PACKET
//! socket, so the source MAC is the interface's own.
//!
//! ```text
//! Gratuitous ARP (42 bytes)                 Unsolicited NA (86 bytes)
//! +-------------------------------+         +-------------------------------+
//! | Ethernet  dst ff:ff:ff:ff:ff:ff|         | Ethernet  dst 33:33:00:00:00:01|
//! |           src VMAC, type 0806 |         |           src VMAC, type 86dd |
//! +-------------------------------+         +-------------------------------+
//! | ARP  htype 1 ptype 0800 6 4   |         | IPv6  src (VIP), dst ff02::1  |
//! |      oper 1 (req) / 2 (reply) |         |       next 58, hop limit 255  |
//! |      sha VMAC    spa VIP      |         +-------------------------------+
//! |      tha ff..ff / VMAC        |         | ICMPv6 136, R|S|O, target VIP |
//! |      tpa VIP                  |         | option 2 (target LLA) = VMAC  |
//! +-------------------------------+         +-------------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::MacAddr;
use crate::error::{Error, Result};

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Length of a gratuitous ARP frame (Ethernet header + ARP, no padding, as keepalived sends).
pub const GARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited NA frame (Ethernet + IPv6 + NA with a target link-layer option).
pub const NA_FRAME_LEN: usize = 86;
/// `ff02::1`, all nodes.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The two forms of gratuitous ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GarpKind {
    /// An ARP request for the VIP from the VIP, target MAC `ff:ff:ff:ff:ff:ff`: what keepalived
    /// sends. A host that still holds the VIP answers it (with the shared VMAC as source when
    /// it was a VRRP router), which can move a bridge's idea of where the VMAC lives.
    #[default]
    Request,
    /// An ARP reply for the VIP, target MAC = the sender's (`arping -A`): updates caches and
    /// bridges the same way, but asks nothing, so nobody answers.
    Reply,
}

/// Builds a gratuitous ARP frame announcing that `ip` is at `mac`, broadcast.
pub fn garp_frame(kind: GarpKind, mac: MacAddr, ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut f = [0u8; GARP_FRAME_LEN];
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    f[6..12].copy_from_slice(&mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // ARP: Ethernet (1), IPv4 (0x0800), hardware length 6, protocol length 4.
    f[14..22].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x00]);
    f[21] = match kind {
        GarpKind::Request => 1,
        GarpKind::Reply => 2,
    };
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&ip.octets());
    let tha = match kind {
        GarpKind::Request => MacAddr::BROADCAST,
        GarpKind::Reply => mac,
    };
    f[32..38].copy_from_slice(&tha.0);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// A gratuitous ARP request (keepalived's form); see [`garp_frame`].
pub fn garp_request_frame(mac: MacAddr, ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    garp_frame(GarpKind::Request, mac, ip)
}

/// A gratuitous ARP reply; see [`garp_frame`].
pub fn garp_reply_frame(mac: MacAddr, ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    garp_frame(GarpKind::Reply, mac, ip)
}

/// An unsolicited Neighbor Advertisement (RFC 4861 section 7.2.6) to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NaSpec {
    /// The link-layer address advertised (the VMAC), also the Ethernet source.
    pub mac: MacAddr,
    /// The address advertised (the VIP).
    pub target: Ipv6Addr,
    /// The IPv6 source: the target itself by default, as keepalived sends it.
    pub source: Ipv6Addr,
    /// The Router flag: set when the sender is a router (keepalived sets it when IPv6
    /// forwarding is on for the interface).
    pub router: bool,
    /// The Override flag: replace existing cache entries (on by default).
    pub override_flag: bool,
}

impl NaSpec {
    /// An advertisement of `target` at `mac`, sourced from `target`, Override set, Router
    /// clear.
    pub fn new(mac: MacAddr, target: Ipv6Addr) -> Self {
        Self {
            mac,
            target,
            source: target,
            router: false,
            override_flag: true,
        }
    }

    /// Sets the Router flag.
    pub fn with_router(mut self, router: bool) -> Self {
        self.router = router;
        self
    }
}

/// Builds an unsolicited NA frame to all nodes (`ff02::1`, Ethernet `33:33:00:00:00:01`),
/// hop limit 255, with the target link-layer address option and a valid ICMPv6 checksum.
pub fn unsolicited_na_frame(spec: &NaSpec) -> [u8; NA_FRAME_LEN] {
    let mut f = [0u8; NA_FRAME_LEN];
    f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&spec.mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header: version 6, traffic class 0, flow label 0, payload 32, ICMPv6, hop limit 255.
    let ip = &mut f[14..54];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = 58;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&spec.source.octets());
    ip[24..40].copy_from_slice(&ALL_NODES.octets());
    // ICMPv6 Neighbor Advertisement.
    let icmp = &mut f[54..86];
    icmp[0] = 136;
    icmp[4] = (u8::from(spec.router) << 7) | (u8::from(spec.override_flag) << 5);
    icmp[8..24].copy_from_slice(&spec.target.octets());
    // Target link-layer address option: type 2, length 1 (8 bytes).
    icmp[24] = 2;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&spec.mac.0);
    let sum = icmpv6_checksum(&spec.source, &ALL_NODES, &f[54..86]);
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The ICMPv6 checksum: one's complement sum over the IPv6 pseudo-header and the message
/// (whose checksum field must be zero).
fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for c in bytes.chunks(2) {
            let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
            sum += u32::from(w);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends prebuilt Ethernet frames out of one interface through an AF_PACKET socket.
///
/// Open it on the VMAC so the frames leave with the VMAC as source and through the macvlan's
/// parent (`vmac_xmit_base` users open it on the parent instead). The socket is bound to no
/// protocol, so it never queues received frames.
#[derive(Debug)]
pub struct Announcer {
    sock: Socket,
    ifindex: u32,
}

impl Announcer {
    /// Opens an AF_PACKET raw socket sending on `ifindex` (needs `CAP_NET_RAW`).
    pub fn open(ifindex: u32) -> Result<Self> {
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
            .map_err(|e| Error::io(format!("open AF_PACKET socket for ifindex {ifindex}"), e))?;
        Ok(Self { sock, ifindex })
    }

    /// The interface it sends on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one complete Ethernet frame (destination, source, EtherType, payload).
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        if frame.len() < 14 {
            return Err(Error::Invalid(format!(
                "an Ethernet frame needs at least 14 bytes, got {}",
                frame.len()
            )));
        }
        let mut dest = [0u8; 6];
        dest.copy_from_slice(&frame[..6]);
        let proto = u16::from_be_bytes([frame[12], frame[13]]);
        let addr = crate::sys::sockaddr_ll(self.ifindex, proto, dest);
        let op = || {
            format!(
                "send {}-byte frame on ifindex {}",
                frame.len(),
                self.ifindex
            )
        };
        let n = self
            .sock
            .send_to(frame, &addr)
            .map_err(|e| Error::io(op(), e))?;
        if n != frame.len() {
            return Err(Error::io(
                op(),
                std::io::Error::new(std::io::ErrorKind::WriteZero, format!("sent {n} bytes")),
            ));
        }
        Ok(())
    }

    /// Builds and sends a gratuitous ARP for `ip` at `mac`.
    pub fn send_garp(&self, kind: GarpKind, mac: MacAddr, ip: Ipv4Addr) -> Result<()> {
        self.send(&garp_frame(kind, mac, ip))
    }

    /// Builds and sends an unsolicited Neighbor Advertisement.
    pub fn send_na(&self, spec: &NaSpec) -> Result<()> {
        self.send(&unsolicited_na_frame(spec))
    }
}

impl AsFd for Announcer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for Announcer {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Family;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, NdiscNeighborFlags, NdiscRepr,
        RawHardwareAddress,
    };

    /// keepalived 2.2.7's gratuitous ARP for 192.0.2.1 from VMAC 00:00:5e:00:01:38 (VRID 56),
    /// from `shared/reference/captures/vrrp/v3_ipv4_vmac.pcap`.
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x38, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x38, 0xc0, 0x00,
        0x02, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x01,
    ];

    /// keepalived 2.2.7's unsolicited NA for fe80::54 from 02:00:00:00:00:0a (VRID 54), from
    /// `shared/reference/captures/vrrp/v3_ipv6.pcap`.
    const KEEPALIVED_NA: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x86, 0xdd, 0x60,
        0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x54, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00, 0x56, 0xec, 0x20, 0x00,
        0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x54, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
    ];

    #[test]
    fn garp_request_is_byte_identical_to_keepalived() {
        let f = garp_request_frame(MacAddr::vrrp(56, Family::V4), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(f, KEEPALIVED_GARP);
    }

    #[test]
    fn na_is_byte_identical_to_keepalived() {
        let mac: MacAddr = "02:00:00:00:00:0a".parse().unwrap();
        let f = unsolicited_na_frame(&NaSpec::new(mac, "fe80::54".parse().unwrap()));
        assert_eq!(f, KEEPALIVED_NA);
        // The second NA of the capture, for 2001:db8::1 (checksum 0xf921).
        let f = unsolicited_na_frame(&NaSpec::new(mac, "2001:db8::1".parse().unwrap()));
        assert_eq!(&f[56..58], &[0xf9, 0x21]);
    }

    fn smoltcp_arp(frame: &[u8]) -> (EthernetAddress, EthernetAddress, ArpRepr) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        (eth.dst_addr(), eth.src_addr(), arp)
    }

    #[test]
    fn garp_forms_parse_with_smoltcp() {
        let mac = MacAddr::vrrp(51, Family::V4);
        let ip = Ipv4Addr::new(198, 51, 100, 7);
        let vmac = EthernetAddress(mac.0);
        for (kind, op, tha) in [
            (
                GarpKind::Request,
                ArpOperation::Request,
                EthernetAddress::BROADCAST,
            ),
            (GarpKind::Reply, ArpOperation::Reply, vmac),
        ] {
            let (dst, src, arp) = smoltcp_arp(&garp_frame(kind, mac, ip));
            assert_eq!((dst, src), (EthernetAddress::BROADCAST, vmac));
            assert_eq!(
                arp,
                ArpRepr::EthernetIpv4 {
                    operation: op,
                    source_hardware_addr: vmac,
                    source_protocol_addr: ip,
                    target_hardware_addr: tha,
                    target_protocol_addr: ip,
                }
            );
        }
    }

    #[test]
    fn na_parses_with_smoltcp_and_checksum_verifies() {
        let mac = MacAddr::vrrp(52, Family::V6);
        let target: Ipv6Addr = "2001:db8::52".parse().unwrap();
        for (router, over) in [(false, true), (true, true), (true, false), (false, false)] {
            let spec = NaSpec {
                router,
                override_flag: over,
                source: "fe80::1".parse().unwrap(),
                ..NaSpec::new(mac, target)
            };
            let f = unsolicited_na_frame(&spec);
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!(eth.dst_addr(), EthernetAddress([0x33, 0x33, 0, 0, 0, 1]));
            assert_eq!(eth.src_addr(), EthernetAddress(mac.0));
            assert_eq!(eth.ethertype(), EthernetProtocol::Ipv6);
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
            assert_eq!(ip.hop_limit(), 255);
            assert_eq!(ip.src_addr(), spec.source);
            assert_eq!(ip.dst_addr(), ALL_NODES);
            let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
            assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
            let repr = Icmpv6Repr::parse(
                &ip.src_addr(),
                &ip.dst_addr(),
                &icmp,
                &ChecksumCapabilities::default(),
            )
            .unwrap();
            let mut flags = NdiscNeighborFlags::empty();
            flags.set(NdiscNeighborFlags::ROUTER, router);
            flags.set(NdiscNeighborFlags::OVERRIDE, over);
            assert_eq!(
                repr,
                Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                    flags,
                    target_addr: target,
                    lladdr: Some(RawHardwareAddress::from_bytes(&mac.0)),
                })
            );
        }
    }
}
