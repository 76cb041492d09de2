//! NOTRACK and ALARM: ALIVE after idle, RESYNC, refreshes at random intervals, expiry of
//! external entries, and what each mode ignores.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ct_sync::cache::Status;
use ct_sync::sync::{Command, CtEvent, Origin, SyncConfig, SyncNode};
use ct_sync::wire::{Body, CtRepr, Flags, MessageRepr, MsgType, Op, Pair, split};

fn ct(port: u16) -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(203, 0, 113, 9),
        )),
        status: Some(0x8),
        l4proto: Some(17),
        port: Some(Pair::new(port, 9999)),
        timeout: Some(30),
        ..CtRepr::default()
    }
}

fn messages(d: &[u8]) -> Vec<MessageRepr> {
    split(d)
        .map(|m| MessageRepr::parse(&m.unwrap()).unwrap())
        .collect()
}

fn drain(n: &mut SyncNode, now: Instant) -> Vec<MessageRepr> {
    std::iter::from_fn(|| n.poll_transmit(now))
        .flat_map(|d| messages(&d))
        .collect()
}

/// NOTRACK: no HELLO, no ACK; an 8-byte ALIVE once a second while idle, the timer re-armed
/// by every transmit; received data applied whatever the gaps.
#[test]
fn notrack_alive_after_idle() {
    let t0 = Instant::now();
    let mut a = SyncNode::new(SyncConfig::notrack(50), t0);
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    // A transmit at 0.5 s pushes the ALIVE to 1.5 s.
    let t = t0 + Duration::from_millis(500);
    a.handle_kernel_event(t, CtEvent::New(ct(1)), Origin::NotMe);
    let m = drain(&mut a, t);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].flags, m[0].seq), (Flags::EMPTY, 50));
    assert_eq!(a.poll_timeout(), Some(t + Duration::from_secs(1)));
    a.handle_timeout(t0 + Duration::from_secs(1));
    assert!(drain(&mut a, t0 + Duration::from_secs(1)).is_empty());
    let t2 = t + Duration::from_secs(1);
    a.handle_timeout(t2);
    let d = a.poll_transmit(t2).unwrap();
    assert_eq!(d, [0x1a, 0x10, 0x00, 0x08, 0x00, 0x00, 0x00, 0x33]);

    // The receiver applies data across gaps and counts them; ALIVE is fine.
    let mut b = SyncNode::new(SyncConfig::notrack(7), t0);
    for (seq, port) in [(100, 1), (101, 2), (105, 3)] {
        let d = MessageRepr::ct(Op::New, seq, ct(port)).to_vec().unwrap();
        b.handle_datagram(t0, &d);
    }
    b.handle_datagram(t0, &MessageRepr::alive(106).to_vec().unwrap());
    assert_eq!(b.external().ct.len(), 3);
    assert_eq!(b.stats().lost_exact, 3);
    assert!(b.poll_transmit(t0).is_none(), "NOTRACK never answers");
    // An ACK is not a NOTRACK message.
    b.handle_datagram(t0, &MessageRepr::ack(107, 1, 2).to_vec().unwrap());
    assert_eq!(b.stats().bad_header, 1);
}

/// NOTRACK honours RESYNC with a bulk, and `-n` sends one.
#[test]
fn notrack_resync() {
    let t0 = Instant::now();
    let mut a = SyncNode::new(SyncConfig::notrack(1), t0);
    let mut b = SyncNode::new(SyncConfig::notrack(1000), t0);
    for p in 0..40 {
        a.handle_kernel_event(t0, CtEvent::New(ct(p)), Origin::Commit);
    }
    assert!(drain(&mut a, t0).is_empty());
    b.handle_command(t0, Command::RequestResync).unwrap();
    let req: Vec<Vec<u8>> = std::iter::from_fn(|| b.poll_transmit(t0)).collect();
    assert_eq!(req[0].len(), 16);
    assert_eq!(req[0][..2], [0x1a, 0x02]);
    a.handle_datagram(t0, &req[0]);
    let bulk: Vec<Vec<u8>> = std::iter::from_fn(|| a.poll_transmit(t0)).collect();
    assert_eq!(bulk.len(), 2, "40 × 52 bytes in 1471-byte datagrams");
    for d in &bulk {
        b.handle_datagram(t0, d);
    }
    assert_eq!(b.external().ct.len(), 40);
    // Nothing is kept for resending.
    assert_eq!(a.rs_len(), 0);
}

fn alarm_cfg(seed: u64) -> SyncConfig {
    let mut c = SyncConfig::alarm(1, Duration::from_secs(10), Duration::from_secs(30));
    c.seed = seed;
    c
}

/// ALARM: each entry is sent on its event and then re-sent within 1..=RefreshTime s plus
/// 0.2-1 s, as CT_NEW while it was never updated (the type comes from its status); a
/// destroyed entry is sent once as CT_DEL and then forgotten.
#[test]
fn alarm_refreshes_at_random_intervals() {
    let t0 = Instant::now();
    let mut a = SyncNode::new(alarm_cfg(42), t0);
    assert_eq!(
        a.poll_timeout(),
        None,
        "no control messages, no timer while empty"
    );
    for p in 0..20 {
        a.handle_kernel_event(t0, CtEvent::New(ct(p)), Origin::NotMe);
    }
    assert_eq!(drain(&mut a, t0).len(), 20);
    let mut sends: Vec<Vec<Instant>> = vec![Vec::new(); 20];
    let end = t0 + Duration::from_secs(120);
    while let Some(t) = a.poll_timeout() {
        if t > end {
            break;
        }
        a.handle_timeout(t);
        for m in drain(&mut a, t) {
            assert_eq!(m.flags, Flags::EMPTY, "ALARM sends no flags");
            let Body::Ct { op, ct: c } = &m.body else {
                panic!("ALARM sends no control messages: {m:?}")
            };
            assert_eq!(*op, Op::New, "never updated: refreshed as CT_NEW");
            sends[usize::from(c.port.unwrap().src)].push(t);
        }
    }
    let mut gaps = Vec::new();
    for (p, s) in sends.iter().enumerate() {
        let mut last = t0;
        assert!(s.len() >= 120 / 11, "entry {p} refreshed {} times", s.len());
        for &t in s {
            let gap = t - last;
            assert!(
                gap >= Duration::from_millis(1199) && gap <= Duration::from_secs(11),
                "entry {p}: refresh after {gap:?}"
            );
            gaps.push(gap);
            last = t;
        }
    }
    // The jitter spreads them: not all gaps alike.
    gaps.sort();
    assert!(gaps[gaps.len() - 1] - gaps[0] > Duration::from_secs(5));

    // Same seed, same schedule.
    let mut again = SyncNode::new(alarm_cfg(42), t0);
    for p in 0..20 {
        again.handle_kernel_event(t0, CtEvent::New(ct(p)), Origin::NotMe);
    }
    drain(&mut again, t0);
    let first = again.poll_timeout().unwrap();
    assert_eq!(
        Some(first),
        sends.iter().flat_map(|s| s.first().copied()).min()
    );

    // A destroyed entry: one CT_DEL, then never again.
    let t = end;
    a.handle_kernel_event(t, CtEvent::Destroy(ct(3)), Origin::NotMe);
    let m = drain(&mut a, t);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].msg_type(), MsgType::CtDestroy);
    assert!(a.internal().ct.get_by_repr(&ct(3)).is_none());
    assert_eq!(a.internal().ct.len(), 19);
    // An updated entry is refreshed as CT_UPD from then on.
    a.handle_kernel_event(t, CtEvent::Update(ct(4)), Origin::NotMe);
    assert_eq!(drain(&mut a, t)[0].msg_type(), MsgType::CtUpdate);
    assert_eq!(
        a.internal().ct.get_by_repr(&ct(4)).unwrap().status(),
        Status::Alive
    );
}

/// ALARM receiver: entries expire CacheTimeout after their last refresh; a message with any
/// flag is ignored; RESYNC (`-n`) is not supported.
#[test]
fn alarm_external_expiry() {
    let t0 = Instant::now();
    let mut b = SyncNode::new(alarm_cfg(1), t0);
    let send = |b: &mut SyncNode, t: Instant, seq: u32, port: u16| {
        let d = MessageRepr::ct(Op::New, seq, ct(port)).to_vec().unwrap();
        b.handle_datagram(t, &d);
    };
    send(&mut b, t0, 10, 1);
    send(&mut b, t0, 11, 2);
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    // Entry 1 is refreshed at 20 s; entry 2 is not.
    let t20 = t0 + Duration::from_secs(20);
    send(&mut b, t20, 12, 1);
    b.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(b.external().ct.len(), 1);
    assert!(b.external().ct.get_by_repr(&ct(1)).is_some());
    assert_eq!(b.poll_timeout(), Some(t20 + Duration::from_secs(30)));
    b.handle_timeout(t20 + Duration::from_secs(30));
    assert_eq!(b.external().ct.len(), 0);
    // Two expiries, plus the replacement of entry 1 by its refresh (a CT_NEW replaces).
    assert_eq!(b.external().ct.stats().del_ok, 3);

    // Flags: ignored, not malformed.
    let hello = MessageRepr::ct(Op::New, 13, ct(5))
        .with_flags(Flags::HELLO)
        .to_vec()
        .unwrap();
    b.handle_datagram(t0, &hello);
    b.handle_datagram(t0, &MessageRepr::ack(14, 1, 1).to_vec().unwrap());
    assert_eq!(b.external().ct.len(), 0);
    assert_eq!(b.stats().malformed, 0);
    assert!(b.handle_command(t0, Command::RequestResync).is_err());
}
