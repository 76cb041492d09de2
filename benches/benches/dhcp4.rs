//! dhcp4-ha benchmarks: pool allocation in a nearly full /15, the DHCPv4 codec on a DISCOVER /
//! OFFER exchange, and Kea memfile rows.
//!
//! Run: `cargo bench -p benches --bench dhcp4`

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, criterion_group, criterion_main};
use dhcp4_ha::lease::Lease4;
use dhcp4_ha::lease::memfile::{Schema, parse_row, write_row};
use dhcp4_ha::server::pool::PoolMap;
use dhcp4_ha::wire::{Dhcp4Repr, MessageType, Packet};

/// A /15 (131072 addresses) with all but 131 addresses taken: every allocation must find one
/// of the few holes; each iteration frees one address and allocates one.
fn pool(c: &mut Criterion) {
    let mut p = PoolMap::new(
        Ipv4Addr::new(198, 18, 0, 0),
        Ipv4Addr::new(198, 19, 255, 255),
    )
    .unwrap();
    while p.allocate().is_some() {}
    let mut x: u32 = 0x9e37_79b9;
    let mut next = move || {
        // xorshift32: spread the releases over the whole pool.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for _ in 0..131 {
        p.release(Ipv4Addr::from(0xc612_0000 + (next() & 0x1_ffff)));
    }
    let mut g = c.benchmark_group("dhcp4-pool");
    g.bench_function("release + allocate, /15 99.9% full", |b| {
        b.iter(|| {
            p.release(Ipv4Addr::from(0xc612_0000 + (next() & 0x1_ffff)));
            black_box(p.allocate())
        })
    });
    g.finish();
}

fn discover() -> Vec<u8> {
    let mut d = Dhcp4Repr {
        xid: 0x1234_5678,
        hlen: 6,
        htype: 1,
        ..Dhcp4Repr::default()
    };
    d.chaddr[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    d.options.message_type = Some(MessageType::DISCOVER);
    d.options.client_id = Some(vec![1, 2, 0, 0, 0, 0, 1]);
    d.options.parameter_request_list = Some(vec![1, 3, 6, 15, 28, 42, 51, 58, 59]);
    d.options.max_message_size = Some(1500);
    d.options.hostname = Some(b"client-1".to_vec());
    d.to_vec().unwrap()
}

fn codec(c: &mut Criterion) {
    let bytes = discover();
    let mut g = c.benchmark_group("dhcp4-wire");
    g.bench_function("parse DISCOVER (view + repr)", |b| {
        b.iter(|| Dhcp4Repr::parse(&Packet::new_checked(black_box(&bytes[..])).unwrap()).unwrap())
    });
    let req = Dhcp4Repr::from_bytes(&bytes).unwrap();
    let mut out = vec![0u8; 1500];
    g.bench_function("build + emit OFFER", |b| {
        b.iter(|| {
            let mut offer = Dhcp4Repr::reply_to(black_box(&req), MessageType::OFFER);
            offer.yiaddr = Ipv4Addr::new(192, 0, 2, 10);
            offer.options.server_id = Some(Ipv4Addr::new(192, 0, 2, 1));
            offer.options.lease_time = Some(3600);
            offer.options.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
            offer.options.routers = Some(vec![Ipv4Addr::new(192, 0, 2, 1)]);
            offer.emit(&mut out).unwrap()
        })
    });
    g.finish();
}

fn memfile(c: &mut Criterion) {
    let mut l = Lease4::new(Ipv4Addr::new(192, 0, 2, 10));
    l.hwaddr = vec![2, 0, 0, 0, 0, 1];
    l.client_id = vec![1, 2, 0, 0, 0, 0, 1];
    l.valid_lifetime = 3600;
    l.cltt = 1_795_441_762;
    l.subnet_id = 1;
    let mut row = String::new();
    write_row(&l, Schema::KEA_2_2, &mut row);
    let line = row.trim_end().to_owned();
    let mut g = c.benchmark_group("dhcp4-memfile");
    let mut buf = String::with_capacity(256);
    g.bench_function("write_row (Kea 2.2 schema)", |b| {
        b.iter(|| {
            buf.clear();
            write_row(black_box(&l), Schema::KEA_2_2, &mut buf);
        })
    });
    g.bench_function("parse_row", |b| {
        b.iter(|| parse_row(black_box(&line), Schema::KEA_2_2, 2).unwrap())
    });
    g.finish();
}

criterion_group!(benches, pool, codec, memfile);
criterion_main!(benches);
