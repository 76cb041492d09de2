//! ct-sync benchmarks: the event path (kernel event → datagram bytes), the receive path
//! (datagram → external cache) and a bulk of 100k entries, on FTFW nodes.
//!
//! Run: `cargo bench -p benches --bench ct_sync -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ct_sync::sync::{Command, CtEvent, Origin, SyncConfig, SyncNode};
use ct_sync::wire::{Batcher, CtRepr, Message, MessageRepr, Op, Pair, Synproxy, split};

/// A ctnetlink-created TCP conntrack as conntrackd sends it (84 bytes on the wire), number
/// `i` of a /16 of sources.
fn ct(i: u32, version: u32) -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            Ipv4Addr::from(0xc633_0000 | (i >> 14 & 0xff) << 8 | (i & 0x3f)),
            Ipv4Addr::new(203, 0, 113, 9),
        )),
        status: Some(0xe),
        l4proto: Some(6),
        port: Some(Pair::new(1024 + (i as u16 >> 6 & 0xff), 80)),
        tcp_state: Some(3),
        timeout: Some(1800 - version % 600),
        mark: Some(0),
        synproxy: Some(Synproxy::default()),
        ..CtRepr::default()
    }
}

fn event_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct-sync event path");
    let now = Instant::now();
    // Steady state: 10k conntracks, each event an update of one of them; one datagram per
    // event (light load: the tx queue runs after every event).
    let mut node = SyncNode::new(SyncConfig::ftfw(1), now);
    for i in 0..10_000 {
        node.handle_kernel_event(now, CtEvent::New(ct(i, 0)), Origin::NotMe);
    }
    while node.poll_transmit(now).is_some() {}
    let reprs: Vec<CtRepr> = (0..10_000).map(|i| ct(i, 1)).collect();
    let mut i = 0;
    g.throughput(Throughput::Elements(1));
    g.bench_function("update → datagram, 1 per datagram", |b| {
        b.iter(|| {
            i = (i + 1) % reprs.len();
            node.handle_kernel_event(now, CtEvent::Update(reprs[i].clone()), Origin::NotMe);
            black_box(node.poll_transmit(now))
        })
    });
    // Under load: 100 events between tx-queue runs, packed 17 per datagram.
    g.throughput(Throughput::Elements(100));
    g.bench_function("update → datagram, 100 per tx run", |b| {
        b.iter(|| {
            for _ in 0..100 {
                i = (i + 1) % reprs.len();
                node.handle_kernel_event(now, CtEvent::Update(reprs[i].clone()), Origin::NotMe);
            }
            while let Some(d) = node.poll_transmit(now) {
                black_box(d);
            }
        })
    });
    // New then destroy: the conntrack's whole life, two messages.
    g.throughput(Throughput::Elements(2));
    let mut fresh = SyncNode::new(SyncConfig::ftfw(1), now);
    let mut n = 0u32;
    g.bench_function("new + destroy → 2 datagrams", |b| {
        b.iter(|| {
            n = n.wrapping_add(1) % 1_000_000;
            let c = ct(n, 0);
            fresh.handle_kernel_event(now, CtEvent::New(c.clone()), Origin::NotMe);
            black_box(fresh.poll_transmit(now));
            fresh.handle_kernel_event(now, CtEvent::Destroy(c), Origin::NotMe);
            black_box(fresh.poll_transmit(now))
        })
    });
    g.finish();
}

fn receive_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct-sync receive path");
    let now = Instant::now();
    // 10k CT_UPD in full datagrams; sequence numbers rewritten before each pass so that the
    // FTFW receiver sees them in order.
    let mut batcher = Batcher::udp(1500);
    let mut datagrams = Vec::new();
    for i in 0..10_000u32 {
        let m = MessageRepr::ct(Op::Update, i, ct(i, 1));
        datagrams.extend(batcher.push_repr(&m).unwrap());
    }
    datagrams.extend(batcher.flush());
    let msgs: usize = datagrams.iter().map(|d| split(d).count()).sum();
    let mut node = SyncNode::new(SyncConfig::ftfw(1), now);
    let mut seq = 0u32;
    g.throughput(Throughput::Elements(msgs as u64));
    g.bench_function("10k CT_UPD → external cache", |b| {
        b.iter(|| {
            for d in &mut datagrams {
                let mut off = 0;
                while off < d.len() {
                    let len = usize::from(u16::from_be_bytes([d[off + 2], d[off + 3]]));
                    let mut m = Message::new_unchecked(&mut d[off..off + len]);
                    m.set_seq(seq);
                    seq = seq.wrapping_add(1);
                    off += len;
                }
                node.handle_datagram(now, d);
            }
            while node.poll_transmit(now).is_some() {}
            black_box(node.external().ct.len())
        })
    });
    g.finish();
}

fn bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct-sync bulk");
    g.sample_size(10);
    let now = Instant::now();
    let mut node = SyncNode::new(SyncConfig::ftfw(1), now);
    for i in 0..100_000 {
        node.populate(now, ct(i, 0));
    }
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("100k entries → datagrams (-B / RESYNC)", |b| {
        b.iter(|| {
            node.handle_command(now, Command::SendBulk).unwrap();
            let mut bytes = 0;
            while let Some(d) = node.poll_transmit(now) {
                bytes += d.len();
            }
            black_box(bytes)
        })
    });
    // And the receiving side of the same bulk.
    let mut sender = SyncNode::new(SyncConfig::notrack(1), now);
    for i in 0..100_000 {
        sender.populate(now, ct(i, 0));
    }
    sender.handle_command(now, Command::SendBulk).unwrap();
    let datagrams: Vec<Vec<u8>> = std::iter::from_fn(|| sender.poll_transmit(now)).collect();
    g.bench_function("100k entries ← datagrams (NOTRACK receiver)", |b| {
        b.iter_batched(
            || SyncNode::new(SyncConfig::notrack(5), now),
            |mut rx| {
                for d in &datagrams {
                    rx.handle_datagram(now, d);
                }
                black_box(rx.external().ct.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, event_path, receive_path, bulk);
criterion_main!(benches);
