//! dhcp4-ha server engine benchmarks: DISCOVER→OFFER and REQUEST→ACK through the whole engine
//! (decode, subnet selection, lease lookup, allocation, reply options, encode), and a full DORA
//! of a new client, on a /15 pool that is 99 % leased.
//!
//! Run: `cargo bench -p benches --bench dhcp4_server`

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use dhcp4_ha::config::parse_str;
use dhcp4_ha::lease::Lease4;
use dhcp4_ha::server::{Origin, RxMeta, Server, ServerOptions};
use dhcp4_ha::wire::{Dhcp4Repr, MessageType};

const UNIX: u64 = 1_800_000_000;
const FIRST: u32 = 0xc612_0000; // 198.18.0.0

fn server(fill_permille: u32) -> Server {
    let cfg = parse_str(
        r#"{"Dhcp4": {"valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
            "subnet4": [{"id": 1, "subnet": "198.18.0.0/15",
              "pools": [{"pool": "198.18.0.0 - 198.19.255.255"}],
              "relay": {"ip-addresses": ["198.51.100.100"]},
              "option-data": [{"name": "routers", "data": "198.18.0.1"},
                              {"name": "domain-name-servers", "data": "198.18.0.53"}]}]}}"#,
        "bench.json",
    )
    .unwrap()
    .dhcp4;
    let mut s = Server::with_store(
        &cfg,
        Default::default(),
        ServerOptions { persist: false },
        Instant::now(),
        UNIX,
    )
    .unwrap();
    // Lease all but every 100th address (spread over the whole pool).
    for i in 0..(1u32 << 17) {
        if i % 1000 >= fill_permille {
            continue;
        }
        let mut l = Lease4::new(Ipv4Addr::from(FIRST + i));
        l.hwaddr = vec![0x0e, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        l.cltt = UNIX;
        l.valid_lifetime = 1_000_000;
        l.subnet_id = 1;
        s.add_lease(l, Origin::Control).unwrap();
    }
    while s.poll_lease_change().is_some() {}
    s
}

fn query(t: MessageType, mac: u32) -> Dhcp4Repr {
    let mut q = Dhcp4Repr {
        xid: mac,
        hops: 1,
        giaddr: Ipv4Addr::new(198, 51, 100, 100),
        ..Dhcp4Repr::default()
    };
    q.chaddr[..6].copy_from_slice(&[
        0x02,
        0,
        (mac >> 24) as u8,
        (mac >> 16) as u8,
        (mac >> 8) as u8,
        mac as u8,
    ]);
    q.options.message_type = Some(t);
    q.options.parameter_request_list = Some(vec![1, 3, 6, 15, 51, 54, 58, 59]);
    q.options.max_message_size = Some(1500);
    q
}

/// Writes `mac` into an encoded query's chaddr and xid.
fn set_mac(bytes: &mut [u8], mac: u32) {
    bytes[4..8].copy_from_slice(&mac.to_be_bytes());
    bytes[30..34].copy_from_slice(&mac.to_be_bytes());
}

fn engine(c: &mut Criterion) {
    let addrs = [Ipv4Addr::new(198, 51, 100, 1)];
    let meta = RxMeta {
        ifindex: 2,
        ifname: "eth1",
        if_addrs: &addrs,
        src: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 100), 67),
        dst: Ipv4Addr::new(198, 51, 100, 1),
    };
    let now = Instant::now();
    let mut g = c.benchmark_group("dhcp4-server /15 99% full");

    // DISCOVER → OFFER for ever new clients: each offer searches the bitmap for the next of
    // the ~1300 free addresses (offers write nothing).
    let mut s = server(990);
    let mut discover = query(MessageType::DISCOVER, 0).to_vec().unwrap();
    let mut n = 0u32;
    g.bench_function("DISCOVER -> OFFER", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            set_mac(&mut discover, n);
            s.handle_packet(now, UNIX, &meta, &discover);
            black_box(s.poll_transmit().unwrap())
        })
    });

    // REQUEST → ACK renewing one client's lease (lease lookup, update, change, reply).
    let mut s = server(990);
    let mut rq = query(MessageType::REQUEST, 7);
    rq.options.requested_ip = Some(Ipv4Addr::from(FIRST + 995));
    rq.options.server_id = Some(addrs[0]);
    let request = rq.to_vec().unwrap();
    s.handle_packet(now, UNIX, &meta, &request);
    assert_eq!(s.poll_transmit().unwrap().message_type, MessageType::ACK);
    g.bench_function("REQUEST -> ACK (renewal)", |b| {
        b.iter(|| {
            s.handle_packet(now, UNIX, &meta, &request);
            let tx = s.poll_transmit().unwrap();
            black_box(s.poll_lease_change().unwrap());
            black_box(tx)
        })
    });

    // A full DORA of a new client, then its RELEASE (so that the pool stays 99 % full).
    let mut s = server(990);
    let mut discover = query(MessageType::DISCOVER, 0).to_vec().unwrap();
    let mut n = 0u32;
    g.bench_function("DORA of a new client (+ RELEASE)", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            set_mac(&mut discover, n);
            s.handle_packet(now, UNIX, &meta, &discover);
            let offer = Dhcp4Repr::from_bytes(&s.poll_transmit().unwrap().payload).unwrap();
            let mut req = query(MessageType::REQUEST, n);
            req.options.requested_ip = Some(offer.yiaddr);
            req.options.server_id = offer.options.server_id;
            s.handle_packet(now, UNIX, &meta, &req.to_vec().unwrap());
            let ack = s.poll_transmit().unwrap();
            assert_eq!(ack.message_type, MessageType::ACK);
            s.delete_lease(offer.yiaddr, Origin::Control);
            while s.poll_lease_change().is_some() {}
            black_box(ack)
        })
    });
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
