//! Test helpers: a minimal classic-pcap reader for the conntrackd captures.

/// The UDP payloads of every Ethernet / IPv4 / UDP frame of a little-endian, microsecond
/// classic pcap file, in order.
pub(crate) fn udp_payloads(pcap: &[u8]) -> Vec<Vec<u8>> {
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
        let frame = &pcap[at..at + incl];
        at += incl;
        assert_eq!(u16::from_be_bytes([frame[12], frame[13]]), 0x0800, "IPv4");
        let ip = &frame[14..];
        assert_eq!(ip[9], 17, "UDP");
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &ip[ihl..total];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(udp[8..udp_len].to_vec());
    }
    assert_eq!(at, pcap.len(), "trailing bytes in pcap");
    out
}

/// Reads a file of tests/data.
pub(crate) fn data(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
