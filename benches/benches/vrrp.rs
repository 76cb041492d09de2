//! VRRP codec benchmarks: decode + checksum verify, and emit, on real keepalived adverts.
//!
//! Run: `cargo bench -p benches --bench vrrp`

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use vrrp_fsm::{Config, RxMeta, State, VirtualRouter};
use vrrp_proto::{ChecksumMode, IpChecks, RxIp, VirtualAddrs, decode, decode_ipv4};

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
    0x31, 0x36, 0xc8, 0x02, 0x00, 0x64, 0xdc, 0x9b, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0x54, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
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

/// A Backup (priority 100) hearing the keepalived Master's advert (priority 200): checks,
/// interval learning and the Master_Down re-arm; then the same with decoding included.
fn fsm(c: &mut Criterion) {
    let checks = IpChecks::default();
    let rx = decode_ipv4(&V3_IPV4_2VIPS, &checks).unwrap();
    let meta = RxMeta::from(&rx);
    let vips = VirtualAddrs::V4(vec![
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 2),
    ]);
    let mut cfg = Config::new(51, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)), vips);
    cfg.priority = 100;
    let epoch = Instant::now();
    let mut vr = VirtualRouter::new(cfg, epoch).unwrap();
    while vr.poll_event().is_some() {}
    assert_eq!(vr.state(), State::Backup);
    let mut now = epoch;
    let step = Duration::from_millis(10);
    let mut g = c.benchmark_group("vrrp-fsm");
    g.bench_function("handle_packet (Backup, master advert)", |b| {
        b.iter(|| {
            now += step;
            vr.handle_packet(now, black_box(&meta), black_box(&rx.advert));
            while vr.poll_event().is_some() {}
        })
    });
    g.bench_function("decode_ipv4 + handle_received (Backup)", |b| {
        b.iter(|| {
            now += step;
            let rx = decode_ipv4(black_box(&V3_IPV4_2VIPS), &checks).unwrap();
            vr.handle_received(now, &rx);
            while vr.poll_event().is_some() {}
        })
    });
    assert_eq!(vr.state(), State::Backup, "the Backup must stay Backup");
    g.finish();
}

criterion_group!(benches, codec, fsm);
criterion_main!(benches);
