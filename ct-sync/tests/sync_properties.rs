//! Properties of the sync modes, on the simulator (`ct_sync::sim`): FTFW converges under any
//! loss that eventually stops (deletes included, across sequence-number wraparound), NOTRACK
//! converges without loss, the resend queue stays within ResendQueueSize, and no datagram
//! makes a node panic.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ct_sync::cache::CtKey;
use ct_sync::sim::{Link, Sim};
use ct_sync::sync::{CtEvent, ModeConfig, Origin, SyncConfig, SyncNode};
use ct_sync::wire::{CtRepr, MessageRepr, Op, Pair};
use proptest::prelude::*;

fn ct(key: u8, version: u8) -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            Ipv4Addr::new(198, 51, 100, key),
            Ipv4Addr::new(203, 0, 113, 9),
        )),
        status: Some(0xe),
        l4proto: Some(6),
        port: Some(Pair::new(40000 + u16::from(key), 443)),
        tcp_state: Some(3),
        timeout: Some(1000 + u32::from(version)),
        mark: Some(u32::from(version)),
        ..CtRepr::default()
    }
}

/// A kernel event at A: (key, kind 0 = new, 1 = update, 2 = destroy, version, pause in ms
/// before the next).
type KernelOp = (u8, u8, u8, u16);

fn ops() -> impl Strategy<Value = Vec<KernelOp>> {
    prop::collection::vec((0u8..40, 0u8..3, any::<u8>(), 0u16..300), 1..150)
}

fn event(op: &KernelOp) -> CtEvent {
    let c = ct(op.0, op.2);
    match op.1 {
        0 => CtEvent::New(c),
        1 => CtEvent::Update(c),
        _ => CtEvent::Destroy(c),
    }
}

/// What A holds (live objects) and what B believes A holds.
fn internal_view(n: &SyncNode) -> BTreeMap<CtKey, CtRepr> {
    n.internal()
        .ct
        .dump()
        .map(|(k, e)| (*k, e.repr().clone()))
        .collect()
}

fn external_view(n: &SyncNode) -> BTreeMap<CtKey, CtRepr> {
    n.external()
        .ct
        .iter()
        .map(|(k, e)| (*k, e.repr().clone()))
        .collect()
}

fn seq_base() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 200)..=u32::MAX]
}

/// Runs `ops` at node 0 of a two-node simulation under `loss`, then heals the link.
fn run(
    seed: u64,
    mut a_cfg: SyncConfig,
    mut b_cfg: SyncConfig,
    loss: f64,
    ops: &[KernelOp],
) -> Sim {
    a_cfg.seed = seed;
    b_cfg.seed = seed ^ 1;
    let mut sim = Sim::new(seed, Link::default());
    let a = sim.add_node(a_cfg);
    let b = sim.add_node(b_cfg);
    // HELLO / HELLO_BACK on a clean link: before it ends, conntrackd's FTFW is not reliable
    // (a HELLO empties the resend queue).
    sim.run_for(Duration::from_secs(3));
    assert!(sim.node(a).hello_done() && sim.node(b).hello_done());
    sim.set_loss(loss);
    for op in ops {
        sim.kernel_event(a, event(op), Origin::NotMe);
        sim.run_for(Duration::from_millis(u64::from(op.3)));
    }
    sim.run_for(Duration::from_secs(2));
    sim.set_loss(0.0);
    sim.run_for(Duration::from_secs(10));
    sim
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// FTFW: whatever the loss (below 100 %, then healed), B's external cache ends equal to
    /// A's internal cache, values and deletions included, and A's resend queue empties.
    #[test]
    fn ftfw_converges(seed in any::<u64>(), loss in 0.0f64..0.8, ops in ops(),
                      base_a in seq_base(), base_b in seq_base()) {
        let sim = run(seed, SyncConfig::ftfw(base_a), SyncConfig::ftfw(base_b), loss, &ops);
        let (a, b) = (sim.node(0), sim.node(1));
        prop_assert_eq!(external_view(b), internal_view(a));
        prop_assert_eq!(a.pending_objects(), 0, "every object acknowledged");
        // Idle peers ACK each other's ACK every second: A's latest one or two ACKs may still
        // be waiting for theirs.
        prop_assert!(a.rs_len() <= 2, "{} entries left in the resend queue", a.rs_len());
        prop_assert_eq!(a.internal().ct.len(), a.internal().ct.dump().count(), "DEAD freed");
        prop_assert_eq!(b.stats().malformed, 0);
    }

    /// NOTRACK on a lossless link converges too.
    #[test]
    fn notrack_converges_without_loss(seed in any::<u64>(), ops in ops(), base in seq_base()) {
        let sim = run(seed, SyncConfig::notrack(base), SyncConfig::notrack(7), 0.0, &ops);
        prop_assert_eq!(external_view(sim.node(1)), internal_view(sim.node(0)));
        prop_assert_eq!(sim.node(1).stats().lost, 0);
    }

    /// The resend queue never holds more than ResendQueueSize entries, whatever the loss.
    #[test]
    fn resend_queue_is_bounded(seed in any::<u64>(), size in 1usize..24, loss in 0.5f64..=1.0,
                               ops in ops()) {
        let mut cfg = SyncConfig::ftfw(1);
        cfg.mode = ModeConfig::Ftfw { resend_queue_size: size, ack_window_size: 300 };
        let mut sim = Sim::new(seed, Link::default());
        let a = sim.add_node(cfg);
        sim.add_node(SyncConfig::ftfw(5));
        sim.run_for(Duration::from_secs(3));
        sim.set_loss(loss);
        for op in &ops {
            sim.kernel_event(a, event(op), Origin::NotMe);
            prop_assert!(sim.node(a).rs_len() <= size);
            sim.run_for(Duration::from_millis(u64::from(op.3)));
            prop_assert!(sim.node(a).rs_len() <= size);
        }
    }

    /// No datagram makes any mode panic; malformed ones are counted.
    #[test]
    fn arbitrary_datagrams_never_panic(data in prop::collection::vec(any::<u8>(), 0..600),
                                       mode in 0u8..3, ) {
        let t0 = std::time::Instant::now();
        let cfg = match mode {
            0 => SyncConfig::ftfw(1),
            1 => SyncConfig::notrack(1),
            _ => SyncConfig::alarm(1, Duration::from_secs(5), Duration::from_secs(10)),
        };
        let mut n = SyncNode::new(cfg, t0);
        n.handle_kernel_event(t0, CtEvent::New(ct(1, 1)), Origin::NotMe);
        n.handle_datagram(t0, &data);
        // Also as a message glued after a valid one.
        let mut d = MessageRepr::ct(Op::New, 2, ct(2, 2)).to_vec().unwrap();
        d.extend_from_slice(&data);
        n.handle_datagram(t0, &d);
        while n.poll_transmit(t0).is_some() {}
        n.handle_timeout(t0 + Duration::from_secs(2));
        while n.poll_transmit(t0 + Duration::from_secs(2)).is_some() {}
        while n.poll_event().is_some() {}
        prop_assert!(n.stats().msg_rcv >= 1);
    }

    /// Sequence comparisons are modular: `before` / `after` agree with the order of numbers
    /// less than 2³¹ apart, across `u32::MAX`.
    #[test]
    fn seq_compare_wraps(a in any::<u32>(), d in 1u32..0x7fff_ffff) {
        let b = a.wrapping_add(d);
        prop_assert!(ct_sync::sync::before(a, b));
        prop_assert!(ct_sync::sync::after(b, a));
        prop_assert!(!ct_sync::sync::before(b, a));
    }
}

/// A fixed run across the wrap of both counters: the numbers pass `u32::MAX` and the nodes
/// stay in sync (no loss counted, all acknowledged).
#[test]
fn counters_wrap_past_u32_max() {
    let ops: Vec<KernelOp> = (0..100).map(|i| (i % 40, (i % 3) % 2, i, 5)).collect();
    let sim = run(
        9,
        SyncConfig::ftfw(u32::MAX - 30),
        SyncConfig::ftfw(u32::MAX - 3),
        0.0,
        &ops,
    );
    let (a, b) = (sim.node(0), sim.node(1));
    assert!(a.next_seq() < 1000, "A's counter wrapped: {}", a.next_seq());
    assert!(b.next_seq() < 1000, "B's counter wrapped: {}", b.next_seq());
    assert_eq!(b.stats().lost, 0);
    assert_eq!(b.stats().before, 0);
    assert_eq!(external_view(b), internal_view(a));
    assert_eq!(a.pending_objects(), 0);
}

/// Under heavy loss the loss machinery is actually exercised (the properties above are not
/// vacuous): NACKs are sent and answered.
#[test]
fn loss_exercises_nacks() {
    let ops: Vec<KernelOp> = (0..150).map(|i| (i % 40, 1, i, 20)).collect();
    let sim = run(3, SyncConfig::ftfw(1), SyncConfig::ftfw(2), 0.4, &ops);
    let (a, b) = (sim.node(0), sim.node(1));
    assert!(b.stats().lost_exact > 10, "lost {}", b.stats().lost_exact);
    assert!(sim.link_stats().lost > 10);
    assert_eq!(external_view(b), internal_view(a));
}
