//! Test helpers: a minimal classic-pcap reader for the golden captures.

use std::net::{IpAddr, Ipv6Addr};

use vrrp_proto::RxIp;

/// One VRRP packet found in a capture: the IP metadata, the VRRP message, and for IPv4 the
/// whole IP datagram.
pub(crate) struct Captured {
    pub(crate) rx: RxIp,
    pub(crate) vrrp: Vec<u8>,
    pub(crate) ipv4_datagram: Option<Vec<u8>>,
}

/// Reads every Ethernet frame of a little-endian, microsecond classic pcap file.
pub(crate) fn frames(pcap: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap expected"
    );
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "Ethernet linktype"
    );
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16;
        out.push(pcap[at..at + incl].to_vec());
        at += incl;
    }
    assert_eq!(at, pcap.len(), "trailing bytes in pcap");
    out
}

/// The VRRP packets (IP protocol 112) in a capture, in order.
pub(crate) fn vrrp_packets(pcap: &[u8]) -> Vec<Captured> {
    let mut out = Vec::new();
    for f in frames(pcap) {
        let ethertype = u16::from_be_bytes([f[12], f[13]]);
        let ip = &f[14..];
        match ethertype {
            0x0800 if ip[9] == 112 => {
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let (info, _) = vrrp_proto::ip::parse_ipv4(&ip[..total]).unwrap();
                out.push(Captured {
                    rx: info.rx(),
                    vrrp: ip[ihl..total].to_vec(),
                    ipv4_datagram: Some(ip[..total].to_vec()),
                });
            }
            0x86dd if ip[6] == 112 => {
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
                let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
                out.push(Captured {
                    rx: RxIp {
                        src: IpAddr::V6(src),
                        dst: IpAddr::V6(dst),
                        ttl: ip[7],
                    },
                    vrrp: ip[40..40 + plen].to_vec(),
                    ipv4_datagram: None,
                });
            }
            _ => {}
        }
    }
    out
}
