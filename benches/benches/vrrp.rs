//! VRRP codec benchmarks: decode + checksum verify, and emit, on real keepalived adverts.
//!
//! Run: `cargo bench -p benches --bench vrrp`

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use vrrp_proto::{ChecksumMode, IpChecks, RxIp, decode, decode_ipv4};

/// keepalived 2.2.7: VRRPv3, VRID 51, priority 200, 2 IPv4 VIPs, pseudo-header checksum; the
/// whole IPv4 datagram as a raw socket delivers it.
const V3_IPV4_2VIPS: [u8; 36] = [
    0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x8b, 0xc0, 0x00, 0x02, 0x0b,
    0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0xc8, 0x02, 0x00, 0x64, 0xdf, 0xc2, 0xc0, 0x00, 0x02, 0x01,
    0xc0, 0x00, 0x02, 0x02,
];

/// keepalived 2.2.7: VRRPv3 over IPv6, VRID 54, VIPs fe80::54 and 2001:db8::1 (the VRRP message;
/// the IPv6 header arrives as receive metadata).
const V3_IPV6: [u8; 40] = [
    0x31, 0x36, 0xc8, 0x02, 0x00, 0x64, 0xdc, 0x9b, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0x54, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];

fn v6_rx() -> RxIp {
    RxIp {
        src: "fe80::ff:fe00:a".parse().unwrap(),
        dst: IpAddr::V6(vrrp_proto::GROUP_V6),
        ttl: 255,
    }
}

fn codec(c: &mut Criterion) {
    let checks = IpChecks::default();
    let mut g = c.benchmark_group("vrrp-proto");
    g.bench_function("decode+verify v3 ipv4 2 VIPs (IP header incl.)", |b| {
        b.iter(|| decode_ipv4(black_box(&V3_IPV4_2VIPS), &checks).unwrap())
    });
    let rx6 = v6_rx();
    g.bench_function("decode+verify v3 ipv6 2 VIPs", |b| {
        b.iter(|| decode(black_box(&V3_IPV6), rx6, &checks).unwrap())
    });
    let rx = decode_ipv4(&V3_IPV4_2VIPS, &checks).unwrap();
    let pair = rx.ip.pair();
    let mut buf = [0u8; 64];
    g.bench_function("emit v3 ipv4 2 VIPs (pseudo-header checksum)", |b| {
        b.iter(|| {
            rx.advert
                .emit(black_box(&mut buf), &pair, ChecksumMode::PseudoHeader)
                .unwrap()
        })
    });
    let rx6 = decode(&V3_IPV6, rx6, &checks).unwrap();
    let pair6 = rx6.ip.pair();
    g.bench_function("emit v3 ipv6 2 VIPs", |b| {
        b.iter(|| {
            rx6.advert
                .emit(black_box(&mut buf), &pair6, ChecksumMode::PseudoHeader)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
