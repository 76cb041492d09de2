//! FTFW against real conntrackd 1.4.7 traffic and in targeted scenarios: the startup HELLO
//! exchange and the whole basic capture replayed byte for byte, gap → ACK + NACK, NACK-driven
//! resends, RESYNC bulk, DEAD objects, origin suppression, HashLimit.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ct_sync::cache::{CtKey, Status};
use ct_sync::sync::{Command, CtEvent, Origin, SyncConfig, SyncEvent, SyncNode};
use ct_sync::wire::{Body, CtRepr, Flags, Message, MessageRepr, MsgType, Op, Pair, split};

/// A captured datagram: time from the first one, direction, payload.
struct Captured {
    t: Duration,
    from_a: bool,
    bytes: Vec<u8>,
}

/// The datagrams of a capture, with their time and direction from the decoded .txt (node A
/// is 203.0.113.1).
fn capture(name: &str) -> Vec<Captured> {
    let payloads = common::udp_payloads(&common::data(&format!("captures/{name}.pcap")));
    let text = String::from_utf8(common::data(&format!("captures/{name}.txt"))).unwrap();
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        heads.len(),
        payloads.len(),
        "{name}: .txt and .pcap disagree"
    );
    heads
        .iter()
        .zip(payloads)
        .map(|(h, bytes)| {
            let mut w = h.split_whitespace();
            w.next();
            let t: f64 = w
                .next()
                .unwrap()
                .strip_prefix("t=")
                .unwrap()
                .parse()
                .unwrap();
            w.next();
            let from_a = w.next().unwrap().starts_with("203.0.113.1:");
            Captured {
                t: Duration::from_secs_f64(t),
                from_a,
                bytes,
            }
        })
        .collect()
}

fn messages(d: &[u8]) -> Vec<MessageRepr> {
    split(d)
        .map(|m| MessageRepr::parse(&m.unwrap()).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first seq of the capture's node A: the sequence base to start our node with.
const BASE: u32 = 1_795_438_543;

/// Plays node A of ftfw_basic.pcap: B's datagrams are fed at their captured times, A's
/// conntrack messages are turned back into the kernel events that caused them, and every
/// datagram our node emits must be the captured one, byte for byte, at (within 5 ms of) the
/// captured time. That covers the startup exchange (`1a 30` ALIVE|HELLO, `1a 68` from the
/// peer, `1a 48` ACK|HELLO_BACK, plain ACKs), the ACK timer, state-based CT_UPD, and CT_DEL
/// carrying the cached state.
#[test]
fn replays_the_basic_capture_byte_for_byte() {
    let cap = capture("ftfw_basic");
    // The capture starts with A's first alive timer, 1 s after A started.
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs(1);
    let mut a = SyncNode::new(SyncConfig::ftfw(BASE), t0);
    let mut emitted = 0;
    for (i, c) in cap.iter().enumerate() {
        let at = start + c.t;
        let n = i + 1;
        if !c.from_a {
            assert!(
                a.poll_timeout().unwrap() > at,
                "#{n}: our timer would fire before the peer's datagram"
            );
            a.handle_datagram(at, &c.bytes);
            assert_eq!(
                a.poll_transmit(at),
                None,
                "#{n}: nothing to send on receipt"
            );
            continue;
        }
        let msgs = messages(&c.bytes);
        assert_eq!(
            msgs.len(),
            1,
            "#{n}: one message per datagram in this capture"
        );
        match &msgs[0].body {
            Body::Ctl { .. } => {
                let due = a.poll_timeout().unwrap();
                let skew = if due > at { due - at } else { at - due };
                assert!(
                    skew < Duration::from_millis(5),
                    "#{n}: timer off by {skew:?}"
                );
                a.handle_timeout(due);
            }
            Body::Ct { op, ct } => {
                let ev = match op {
                    Op::New => CtEvent::New(ct.clone()),
                    Op::Update => {
                        if a.internal().ct.get_by_repr(ct).is_none() {
                            // First seen established: a NEW and an UPDATE collapsed into one
                            // message before the tx queue ran.
                            let syn = CtRepr {
                                tcp_state: Some(1),
                                status: Some(8),
                                ..ct.clone()
                            };
                            a.handle_kernel_event(at, CtEvent::New(syn), Origin::NotMe);
                        }
                        CtEvent::Update(ct.clone())
                    }
                    Op::Destroy => {
                        // The kernel's DESTROY carries other values; the message must carry
                        // the cached ones.
                        let stale = CtRepr {
                            timeout: Some(1),
                            mark: None,
                            ..ct.clone()
                        };
                        CtEvent::Destroy(stale)
                    }
                };
                a.handle_kernel_event(at, ev, Origin::NotMe);
            }
            Body::Exp { .. } => unreachable!("no expectation in this capture"),
        }
        let out = a.poll_transmit(at);
        assert_eq!(
            out.as_deref().map(hex),
            Some(hex(&c.bytes)),
            "#{n}: emitted datagram differs from the capture"
        );
        assert_eq!(a.poll_transmit(at), None, "#{n}: one datagram");
        emitted += 1;
    }
    assert_eq!(emitted, 26);
    // Deleted entries are gone once acknowledged; the others are still held.
    assert_eq!(a.internal().ct.len(), 6);
    assert!(
        a.internal()
            .ct
            .iter()
            .all(|(_, e)| e.status() != Status::Dead)
    );
    assert!(a.hello_done());
    assert_eq!(a.stats().lost, 0);
}

/// The three first datagrams, spelled out.
#[test]
fn startup_hello_exchange() {
    let t0 = Instant::now();
    let mut a = SyncNode::new(SyncConfig::ftfw(BASE), t0);
    assert_eq!(a.poll_transmit(t0), None);
    let t1 = a.poll_timeout().unwrap();
    assert_eq!(t1, t0 + Duration::from_secs(1));
    a.handle_timeout(t1);
    assert_eq!(
        a.poll_transmit(t1).unwrap(),
        [0x1a, 0x30, 0x00, 0x08, 0x6b, 0x04, 0x37, 0xcf]
    );
    // B: ACK|HELLO|HELLO_BACK seq = from = to = 1795438543.
    let peer = [
        0x1a, 0x68, 0x00, 0x10, 0x6b, 0x04, 0x37, 0xcf, 0x6b, 0x04, 0x37, 0xcf, 0x6b, 0x04, 0x37,
        0xcf,
    ];
    a.handle_datagram(t1 + Duration::from_millis(65), &peer);
    assert_eq!(
        a.poll_event(),
        Some(SyncEvent::HelloBack),
        "the HELLO_BACK ends our HELLOs"
    );
    assert_eq!(a.poll_event(), Some(SyncEvent::PeerHello { seq: BASE }));
    let t2 = a.poll_timeout().unwrap();
    assert_eq!(t2, t1 + Duration::from_secs(1));
    a.handle_timeout(t2);
    assert_eq!(
        a.poll_transmit(t2).unwrap(),
        [
            0x1a, 0x48, 0x00, 0x10, 0x6b, 0x04, 0x37, 0xd0, 0x6b, 0x04, 0x37, 0xcf, 0x6b, 0x04,
            0x37, 0xcf
        ]
    );
    // The next one is a plain ACK (or ALIVE): no HELLO bits any more.
    a.handle_timeout(t2 + Duration::from_secs(1));
    let d = a.poll_transmit(t2 + Duration::from_secs(1)).unwrap();
    assert_eq!(d[0..2], [0x1a, 0x10], "ALIVE without HELLO bits");
}

fn ct(port: u16) -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(203, 0, 113, 9),
        )),
        status: Some(0xe),
        l4proto: Some(17),
        port: Some(Pair::new(port, 53)),
        timeout: Some(1800),
        ..CtRepr::default()
    }
}

/// Two nodes that finished their HELLO exchange, `a` and `b`, at time `now`.
fn pair() -> (SyncNode, SyncNode, Instant) {
    let t0 = Instant::now();
    let mut a = SyncNode::new(SyncConfig::ftfw(1000), t0);
    let mut b = SyncNode::new(SyncConfig::ftfw(9000), t0);
    let mut now = t0;
    for _ in 0..3 {
        now += Duration::from_secs(1);
        a.handle_timeout(now);
        while let Some(d) = a.poll_transmit(now) {
            b.handle_datagram(now, &d);
        }
        b.handle_timeout(now);
        while let Some(d) = b.poll_transmit(now) {
            a.handle_datagram(now, &d);
        }
    }
    assert!(a.hello_done() && b.hello_done());
    assert_eq!(a.rs_len(), 0, "every message of A acknowledged");
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b, now)
}

fn drain(n: &mut SyncNode, now: Instant) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| n.poll_transmit(now)).collect()
}

/// A gap in B's view of A's numbers: B answers ACK[ack_from, exp-1] + NACK[exp, seq-1] (the
/// shape of the loss capture), still applies the message after the gap, and counts the loss
/// the way conntrackd does.
#[test]
fn gap_is_answered_with_ack_and_nack() {
    let (mut a, mut b, now) = pair();
    let mut sent = Vec::new();
    for p in 0..5 {
        a.handle_kernel_event(now, CtEvent::New(ct(1000 + p)), Origin::NotMe);
        sent.extend(drain(&mut a, now));
    }
    assert_eq!(sent.len(), 5);
    let seqs: Vec<u32> = sent
        .iter()
        .map(|d| Message::new_checked(&d[..]).unwrap().seq())
        .collect();
    let before = b.stats().lost;
    b.handle_datagram(now, &sent[0]);
    // sent[1] and sent[2] are lost.
    b.handle_datagram(now, &sent[3]);
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1, "ACK and NACK go in one datagram");
    let msgs = messages(&out[0]);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].flags, Flags::ACK);
    assert_eq!(msgs[1].flags, Flags::NACK);
    let range = |m: &MessageRepr| match m.body {
        Body::Ctl { range: Some(r) } => (r.from, r.to),
        _ => panic!("not a ranged control message: {m:?}"),
    };
    // ack_from is the first unacknowledged: B acknowledged A's ACK|HELLO_BACK in pair() and
    // everything after it is pending, up to the message before the gap.
    assert_eq!(range(&msgs[0]).1, seqs[0]);
    assert_eq!(range(&msgs[1]), (seqs[1], seqs[2]));
    assert_eq!(
        b.stats().lost - before,
        4,
        "conntrackd counts seq - last + 1"
    );
    assert_eq!(b.stats().lost_exact, 2);
    assert!(b.external().ct.get_by_repr(&ct(1003)).is_some());
    assert!(b.external().ct.get_by_repr(&ct(1001)).is_none());
    assert!(std::iter::from_fn(|| b.poll_event()).any(|e| e
        == SyncEvent::MessagesLost {
            from: seqs[1],
            to: seqs[2]
        }));

    // A receives the NACK: the two lost objects are resent with new numbers.
    a.handle_datagram(now, &out[0]);
    let resent = drain(&mut a, now);
    let msgs: Vec<MessageRepr> = resent.iter().flat_map(|d| messages(d)).collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].seq, seqs[4].wrapping_add(1), "new sequence numbers");
    assert_eq!(msgs[1].seq, seqs[4].wrapping_add(2));
    for (m, port) in msgs.iter().zip([1001, 1002]) {
        assert!(matches!(&m.body, Body::Ct { op: Op::New, ct: c } if *c == ct(port)));
    }
}

/// A NACK resends the object's current state: an update made after the first send turns a
/// resent CT_NEW into a CT_UPD with the new values; a destroyed object is resent as CT_DEL.
#[test]
fn nack_resends_current_state_with_new_numbers() {
    let (mut a, b, now) = pair();
    // B's next numbers, so that A sees no gap in B's messages.
    let b_seq = b.next_seq();
    a.handle_kernel_event(now, CtEvent::New(ct(2000)), Origin::NotMe);
    a.handle_kernel_event(now, CtEvent::New(ct(2001)), Origin::NotMe);
    let first = drain(&mut a, now);
    let first_msgs: Vec<MessageRepr> = first.iter().flat_map(|d| messages(d)).collect();
    assert_eq!(first_msgs.len(), 2);
    let (s0, s1) = (first_msgs[0].seq, first_msgs[1].seq);
    assert_eq!(a.rs_len(), 2);

    // While unacknowledged: one updated, the other destroyed.
    let updated = CtRepr {
        timeout: Some(77),
        mark: Some(5),
        ..ct(2000)
    };
    a.handle_kernel_event(now, CtEvent::Update(updated.clone()), Origin::NotMe);
    let resent_now = drain(&mut a, now);
    // The change itself is sent right away (the object left the resend queue for the tx
    // queue), as CT_UPD.
    let m = messages(&resent_now[0]);
    assert!(matches!(&m[0].body, Body::Ct { op: Op::Update, ct } if *ct == updated));
    let s2 = m[0].seq;
    a.handle_kernel_event(now, CtEvent::Destroy(ct(2001)), Origin::NotMe);
    let del = drain(&mut a, now);
    let m = messages(&del[0]);
    assert!(matches!(
        &m[0].body,
        Body::Ct {
            op: Op::Destroy,
            ..
        }
    ));
    let s3 = m[0].seq;
    assert_eq!(a.rs_len(), 2, "each object once in the resend queue");

    // The peer NACKs everything: both go again, with new numbers and current state.
    let nack = MessageRepr::nack(b_seq, s0, s3).to_vec().unwrap();
    a.handle_datagram(now, &nack);
    let again: Vec<MessageRepr> = drain(&mut a, now)
        .iter()
        .flat_map(|d| messages(d))
        .collect();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|m| m.seq > s3));
    assert!(matches!(&again[0].body, Body::Ct { op: Op::Update, ct } if *ct == updated));
    assert!(matches!(
        &again[1].body,
        Body::Ct {
            op: Op::Destroy,
            ..
        }
    ));
    let _ = (s1, s2);

    // ACK of everything: the DEAD object is freed, the live one stays.
    let last = again[1].seq;
    let ack = MessageRepr::ack(b_seq + 1, s0, last).to_vec().unwrap();
    a.handle_datagram(now, &ack);
    assert_eq!(a.rs_len(), 0);
    assert_eq!(a.internal().ct.len(), 1);
    assert_eq!(
        a.internal().ct.get_by_repr(&ct(2000)).unwrap().status(),
        Status::Alive
    );
}

/// RESYNC from the peer: the whole internal cache goes out, conntracks then expectations,
/// in full datagrams of at most 1471 bytes; `-n` sends a 16-byte RESYNC with from = to = 0.
#[test]
fn resync_sends_a_bulk() {
    let (mut a, mut b, now) = pair();
    for p in 0..500 {
        a.handle_kernel_event(now, CtEvent::New(ct(p)), Origin::Commit);
    }
    let exp = ct_sync::wire::ExpRepr {
        master: ct_sync::wire::ExpTuple {
            ipv4: Some(Pair::new(
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(203, 0, 113, 9),
            )),
            l4proto: Some(6),
            port: Some(Pair::new(40000, 21)),
            ..Default::default()
        },
        timeout: Some(300),
        ..Default::default()
    };
    a.handle_kernel_exp_event(now, ct_sync::sync::ExpEvent::New(exp), Origin::Commit);
    assert_eq!(
        a.poll_transmit(now),
        None,
        "commit-caused events are not sent"
    );

    b.handle_command(now, Command::RequestResync).unwrap();
    let req = drain(&mut b, now);
    assert_eq!(req.len(), 1);
    assert_eq!(req[0].len(), 16);
    assert_eq!(req[0][..2], [0x1a, 0x02]);
    assert_eq!(req[0][8..], [0; 8], "from = to = 0");

    a.handle_datagram(now, &req[0]);
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| e == SyncEvent::ResyncRequested));
    let bulk = drain(&mut a, now);
    assert!(bulk.iter().all(|d| d.len() <= 1471));
    assert!(bulk[..bulk.len() - 1].iter().all(|d| d.len() > 1471 - 52));
    let msgs: Vec<MessageRepr> = bulk.iter().flat_map(|d| messages(d)).collect();
    assert_eq!(msgs.len(), 501);
    assert!(msgs[..500].iter().all(|m| m.msg_type() == MsgType::CtNew));
    assert_eq!(msgs[500].msg_type(), MsgType::ExpNew);
    for d in &bulk {
        b.handle_datagram(now, d);
    }
    assert_eq!(b.external().ct.len(), 500);
    assert_eq!(b.external().exp.len(), 1);
    assert_eq!(b.stats().lost, 0);
}

/// Origin suppression: events our own commit caused are cached but not sent; events of our
/// own inject are ignored altogether.
#[test]
fn origin_suppression() {
    let (mut a, _b, now) = pair();
    a.handle_kernel_event(now, CtEvent::New(ct(1)), Origin::Commit);
    a.handle_kernel_event(now, CtEvent::Update(ct(1)), Origin::Commit);
    assert_eq!(a.poll_transmit(now), None);
    assert_eq!(a.internal().ct.len(), 1);
    a.handle_kernel_event(now, CtEvent::New(ct(2)), Origin::Inject);
    assert_eq!(a.internal().ct.len(), 1);
    a.handle_kernel_event(now, CtEvent::Destroy(ct(1)), Origin::Commit);
    assert_eq!(a.poll_transmit(now), None);
    assert_eq!(
        a.internal().ct.len(),
        0,
        "an unsent DEAD object is freed at once"
    );
    a.handle_kernel_event(now, CtEvent::New(ct(3)), Origin::NotMe);
    assert_eq!(drain(&mut a, now).len(), 1);
}

/// HashLimit: additions beyond it are refused and counted, in both caches; several events
/// about one object before the tx queue runs collapse into one message.
#[test]
fn hash_limit_and_collapse() {
    let t0 = Instant::now();
    let mut cfg = SyncConfig::ftfw(1);
    cfg.hash_limit = 3;
    let mut a = SyncNode::new(cfg.clone(), t0);
    for p in 0..5 {
        a.handle_kernel_event(t0, CtEvent::New(ct(p)), Origin::NotMe);
        a.handle_kernel_event(t0, CtEvent::Update(ct(p)), Origin::NotMe);
    }
    let s = a.internal().ct.stats();
    assert_eq!(a.internal().ct.len(), 3);
    assert_eq!((s.add_ok, s.add_fail, s.add_fail_enospc), (3, 4, 4));
    assert_eq!(s.upd_ok, 3);
    let msgs: Vec<MessageRepr> = drain(&mut a, t0).iter().flat_map(|d| messages(d)).collect();
    assert_eq!(msgs.len(), 3, "one message per object");
    assert!(msgs.iter().all(|m| m.msg_type() == MsgType::CtUpdate));
    let r = a.internal().ct.report();
    assert_eq!((r.active, r.created, r.create_failed_nospace), (3, 3, 4));

    let mut b = SyncNode::new(cfg, t0);
    let mut tx = ct_sync::wire::Batcher::udp(1500);
    let mut dgrams = Vec::new();
    for p in 0..5u16 {
        let m = MessageRepr::ct(Op::New, 100 + u32::from(p), ct(p));
        dgrams.extend(tx.push_repr(&m).unwrap());
    }
    dgrams.extend(tx.flush());
    for d in &dgrams {
        b.handle_datagram(t0, d);
    }
    assert_eq!(b.external().ct.len(), 3);
    assert_eq!(b.external().ct.stats().add_fail_enospc, 2);
    let key = CtKey::of(&ct(0)).unwrap();
    assert!(b.external().ct.get(&key).is_some());
}

/// BEFORE (an old number) is dropped and counted; a HELLO from a restarted peer is accepted
/// without a gap check and empties our resend queue.
#[test]
fn before_dropped_and_hello_rebases() {
    let (mut a, mut b, now) = pair();
    a.handle_kernel_event(now, CtEvent::New(ct(1)), Origin::NotMe);
    let d1 = drain(&mut a, now);
    b.handle_datagram(now, &d1[0]);
    b.handle_datagram(now, &d1[0]);
    assert_eq!(b.stats().before, 1);
    assert_eq!(b.poll_transmit(now), None);

    assert_eq!(a.rs_len(), 1);
    // A restarted peer (new numbers far away) says HELLO.
    let hello = MessageRepr::alive(123)
        .with_flags(Flags::HELLO)
        .to_vec()
        .unwrap();
    a.handle_datagram(now, &hello);
    assert_eq!(a.rs_len(), 0, "resend queue flushed");
    assert_eq!(a.stats().lost, 0, "no gap check on HELLO");
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| e == SyncEvent::PeerHello { seq: 123 }));
    a.handle_timeout(now + Duration::from_secs(2));
    let out = drain(&mut a, now + Duration::from_secs(2));
    let m = messages(&out[0]);
    assert_eq!(m[0].flags, Flags::ACK | Flags::HELLO_BACK);
    assert!(matches!(m[0].body, Body::Ctl { range: Some(r) } if r.from == 123 && r.to == 123));
}

/// The ACK window: after ACKWindowSize in-order messages an ACK is sent without waiting for
/// the timer.
#[test]
fn ack_window() {
    let t0 = Instant::now();
    let mut cfg = SyncConfig::ftfw(1);
    if let ct_sync::sync::ModeConfig::Ftfw {
        ack_window_size, ..
    } = &mut cfg.mode
    {
        *ack_window_size = 10;
    }
    let mut b = SyncNode::new(cfg, t0);
    for i in 0..10u16 {
        let d = MessageRepr::ct(Op::New, 500 + u32::from(i), ct(i))
            .to_vec()
            .unwrap();
        b.handle_datagram(t0, &d);
        let out = drain(&mut b, t0);
        if i < 9 {
            assert!(out.is_empty());
        } else {
            let m = messages(&out[0]);
            assert!(
                matches!(m[0].body, Body::Ctl { range: Some(r) } if r.from == 500 && r.to == 509)
            );
            assert!(m[0].flags.contains(Flags::ACK));
        }
    }
}
