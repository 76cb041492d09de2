//! Properties of VRRP elections, checked over random simulations (seeded, virtual time, real
//! bytes through vrrp-proto), plus a no-panic property over arbitrary inputs.
//!
//! 1. Exactly one Master after convergence, the highest priority (ties: highest address).
//! 2. After the Master crashes, a Backup takes over Master_Down_Interval after the last
//!    advert it received, within 1 µs.
//! 3. After a priority-0 release, at Skew_Time after receiving it, within 1 µs.
//! 4. A healed partition has one Master again within one advert interval (plus latency).
//! 5. Loss causes no spurious transition: a Backup only becomes Master after at least
//!    `down_timer_adverts` consecutive adverts from the Master to it were lost (checked
//!    against the simulator's record of each copy), and the best router never leaves Master.

mod util;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use util::*;
use vrrp_fsm::sim::{Link, LossCause, RecordKind, Sim, config_v4};
use vrrp_fsm::{Command, Reason, RxMeta, State, VirtualRouter};
use vrrp_proto::{AdvertRepr, Auth, ChecksumMode, Version, VirtualAddrs};

const VRID: u8 = 1;
const US: Duration = Duration::from_micros(1);

fn interval() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_secs(1)),
        Just(Duration::from_millis(100)),
        Just(Duration::from_millis(10)),
    ]
}

/// Distinct non-owner priorities, in random order.
fn distinct_priorities(n: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::btree_set(1u8..=254, n)
        .prop_flat_map(|s| Just(s.into_iter().collect::<Vec<_>>()).prop_shuffle())
}

/// A link whose jitter stays below the smallest skew difference (interval / 256), so that
/// the order of takeovers is the order of priorities.
fn quiet_link(i: Duration, seed: u64) -> Link {
    let lat = i / 1000 + Duration::from_micros(seed % 7);
    Link {
        latency: lat,
        jitter: i / 512,
        loss: 0.0,
    }
}

/// Host `k` gets address 192.0.2.(10 + k).
fn build(sim: &mut Sim, prios: &[u8], i: Duration) -> Vec<usize> {
    prios
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut c = config_v4(VRID, 10 + k as u8, *p);
            c.advert_interval = i;
            sim.add_router(&format!("r{k}"), c)
        })
        .collect()
}

/// The expected Master among `alive`: highest priority, then highest address.
fn best(prios: &[u8], alive: &[usize]) -> usize {
    *alive
        .iter()
        .max_by_key(|k| (prios[**k], **k))
        .expect("someone alive")
}

/// RFC 5798 §6.1, written out independently of the crate: Skew_Time =
/// ((256 − Priority) × Master_Adver_Interval) / 256, in nanoseconds.
fn skew(prio: u8, i: Duration) -> Duration {
    Duration::from_nanos((i.as_nanos() as u64) * (256 - u64::from(prio)) / 256)
}

/// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
fn mdi(prio: u8, i: Duration) -> Duration {
    i * 3 + skew(prio, i)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// 1. All start together (ties allowed): one Master, the best, and it stays.
    #[test]
    fn one_master_after_convergence(
        seed: u64,
        prios in prop::collection::vec(1u8..=255, 2..=5),
        i in interval(),
        lat_us in 1u64..3000,
    ) {
        let link = Link { latency: Duration::from_micros(lat_us).min(i / 4), jitter: i / 20, loss: 0.0 };
        let mut sim = Sim::new(seed, link);
        let ids = build(&mut sim, &prios, i);
        sim.run_for(i * 8);
        let all: Vec<usize> = (0..ids.len()).collect();
        prop_assert_eq!(sim.masters(VRID), vec![ids[best(&prios, &all)]]);
        let t = sim.now();
        sim.run_for(i * 20);
        prop_assert!(changes_after(&sim, t).is_empty(), "not stable: {:?}", changes_after(&sim, t));
        for (k, id) in ids.iter().enumerate() {
            let r = sim.router(*id).unwrap();
            if k != best(&prios, &all) {
                prop_assert_eq!(r.state(), State::Backup);
                prop_assert_eq!(r.master().map(|m| m.priority), Some(prios[best(&prios, &all)]));
            }
        }
    }

    /// 1b. Staggered start-up with preemption: the best wins whoever came first.
    #[test]
    fn one_master_after_staggered_start(
        seed: u64,
        prios in distinct_priorities(2..=5),
        i in interval(),
        starts in prop::collection::vec(0u32..50, 5),
    ) {
        let mut sim = Sim::new(seed, quiet_link(i, seed));
        let mut order: Vec<usize> = (0..prios.len()).collect();
        order.sort_by_key(|k| starts[*k]);
        let mut ids = vec![0; prios.len()];
        for k in order {
            sim.run_until(sim.epoch() + i / 10 * starts[k]);
            let mut c = config_v4(VRID, 10 + k as u8, prios[k]);
            c.advert_interval = i;
            ids[k] = sim.add_router(&format!("r{k}"), c);
        }
        sim.run_for(i * 10);
        let all: Vec<usize> = (0..prios.len()).collect();
        prop_assert_eq!(sim.masters(VRID), vec![ids[best(&prios, &all)]]);
    }

    /// 2. Crash of the Master: the first takeover is by the best Backup, exactly
    /// Master_Down_Interval after the last advert it received (within 1 µs).
    #[test]
    fn takeover_at_master_down_interval(
        seed: u64,
        prios in distinct_priorities(2..=5),
        i in interval(),
        crash_after in 0u32..300,
    ) {
        let mut sim = Sim::new(seed, quiet_link(i, seed));
        let ids = build(&mut sim, &prios, i);
        sim.run_for(i * 6 + i / 100 * crash_after);
        let all: Vec<usize> = (0..prios.len()).collect();
        let m = best(&prios, &all);
        prop_assert_eq!(sim.masters(VRID), vec![ids[m]]);
        let t = sim.now();
        sim.crash(ids[m]);
        sim.run_for(i * 6);
        let c = changes_after(&sim, t);
        let first = c.iter().find(|c| c.to == State::Master).expect("a takeover");
        let alive: Vec<usize> = all.iter().copied().filter(|k| *k != m).collect();
        let b = best(&prios, &alive);
        prop_assert_eq!(first.node, ids[b]);
        prop_assert_eq!(first.reason, Reason::MasterDown);
        let last = last_delivery(&sim, ids[b], ids[m], t + i).expect("heard the Master");
        let expected = last + mdi(prios[b], i);
        prop_assert!(abs_diff(first.at, expected) <= US, "took over at {:?}, expected {:?}", first.at - sim.epoch(), expected - sim.epoch());
        prop_assert_eq!(sim.masters(VRID), vec![ids[b]]);
    }

    /// 3. Priority-0 release: the best Backup takes over Skew_Time after receiving it.
    #[test]
    fn takeover_at_skew_time_after_release(
        seed: u64,
        prios in distinct_priorities(2..=5),
        i in interval(),
        stop_after in 0u32..300,
    ) {
        let mut sim = Sim::new(seed, quiet_link(i, seed));
        let ids = build(&mut sim, &prios, i);
        sim.run_for(i * 6 + i / 100 * stop_after);
        let all: Vec<usize> = (0..prios.len()).collect();
        let m = best(&prios, &all);
        let t = sim.now();
        sim.command(ids[m], 0, Command::Shutdown);
        sim.run_for(i * 6);
        let c = changes_after(&sim, t);
        let first = c.iter().find(|c| c.to == State::Master).expect("a takeover");
        let alive: Vec<usize> = all.iter().copied().filter(|k| *k != m).collect();
        let b = best(&prios, &alive);
        prop_assert_eq!(first.node, ids[b]);
        prop_assert_eq!(first.reason, Reason::PriorityZero);
        let rx = sim
            .trace()
            .iter()
            .find(|r| r.node == ids[b] && r.at >= t && matches!(r.kind, RecordKind::Delivered { priority: 0, .. }))
            .expect("priority 0 received")
            .at;
        let expected = rx + skew(prios[b], i);
        prop_assert!(abs_diff(first.at, expected) <= US);
        prop_assert!(first.at - t < i, "a release is faster than an advert interval");
    }

    /// 4. A partition heals: one Master again within one advert interval (plus latency).
    #[test]
    fn healed_partition_has_one_master_within_one_interval(
        seed: u64,
        prios in distinct_priorities(2..=5),
        i in interval(),
        mask: u32,
        heal_after in 0u32..300,
        lower_prio_no_advert: bool,
    ) {
        let n = prios.len();
        // A proper, non-empty subset: 1 ..= 2^n − 2.
        let mask = 1 + mask % ((1 << n) - 2);
        let side_a: Vec<usize> = (0..n).filter(|k| mask & (1 << k) != 0).collect();
        let side_b: Vec<usize> = (0..n).filter(|k| mask & (1 << k) == 0).collect();
        let link = quiet_link(i, seed);
        let mut sim = Sim::new(seed, link);
        let ids: Vec<usize> = prios
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let mut c = config_v4(VRID, 10 + k as u8, *p);
                c.advert_interval = i;
                c.lower_prio_no_advert = lower_prio_no_advert;
                sim.add_router(&format!("r{k}"), c)
            })
            .collect();
        sim.run_for(i * 6);
        let a: Vec<usize> = side_a.iter().map(|k| ids[*k]).collect();
        let b: Vec<usize> = side_b.iter().map(|k| ids[*k]).collect();
        sim.partition(&[&a, &b]);
        sim.run_for(i * 6 + i / 100 * heal_after);
        // Each side has elected its own Master.
        let mut split = sim.masters(VRID);
        split.sort_unstable();
        let mut expect = vec![ids[best(&prios, &side_a)], ids[best(&prios, &side_b)]];
        expect.sort_unstable();
        prop_assert_eq!(split, expect);
        let t = sim.now();
        sim.heal();
        sim.run_until(t + i + link.latency + link.jitter + US);
        let all: Vec<usize> = (0..n).collect();
        prop_assert_eq!(sim.masters(VRID), vec![ids[best(&prios, &all)]]);
        sim.run_for(i * 10);
        prop_assert_eq!(sim.masters(VRID), vec![ids[best(&prios, &all)]]);
    }

    /// 5. Random loss: the best router never leaves Master, and a Backup only takes over after
    /// `down_timer_adverts` consecutive adverts from the Master to it were lost.
    #[test]
    fn loss_causes_no_spurious_transition(
        seed: u64,
        prios in distinct_priorities(2..=4),
        i in interval(),
        loss in 0.0f64..0.35,
        dta in 2u8..=4,
    ) {
        let mut link = quiet_link(i, seed);
        link.loss = loss;
        let mut sim = Sim::new(seed, Link { loss: 0.0, ..link });
        let ids: Vec<usize> = prios
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let mut c = config_v4(VRID, 10 + k as u8, *p);
                c.advert_interval = i;
                c.down_timer_adverts = dta;
                sim.add_router(&format!("r{k}"), c)
            })
            .collect();
        sim.run_for(i * 8);
        let all: Vec<usize> = (0..prios.len()).collect();
        let m = ids[best(&prios, &all)];
        prop_assert_eq!(sim.masters(VRID), vec![m]);
        let t = sim.now();
        sim.set_link(link);
        sim.run_for(i * 100);
        let c = changes_after(&sim, t);
        prop_assert!(c.iter().all(|c| c.node != m), "the best router left Master: {:?}", c);
        // Copies from the Master to each host, in arrival order: (due, lost).
        for ch in c.iter().filter(|c| c.to == State::Master) {
            let mut copies: Vec<(Instant, bool)> = sim
                .trace()
                .iter()
                .filter(|r| r.node == ch.node)
                .filter_map(|r| match r.kind {
                    RecordKind::Delivered { from, .. } if from == m => Some((r.at, false)),
                    RecordKind::Lost { from, due, cause: LossCause::Random, .. } if from == m => Some((due, true)),
                    _ => None,
                })
                .filter(|(due, _)| *due < ch.at)
                .collect();
            copies.sort();
            let run = copies.iter().rev().take_while(|(_, lost)| *lost).count();
            prop_assert!(
                run >= usize::from(dta),
                "host {} became Master at {:?} after only {} lost adverts in a row",
                ch.node, ch.t, run
            );
        }
        // The losses really happened at about the stated rate (the test is not vacuous).
        let lost = sim.trace().iter().filter(|r| matches!(r.kind, RecordKind::Lost { cause: LossCause::Random, .. })).count();
        let total = lost + sim.trace().iter().filter(|r| r.at > t && matches!(r.kind, RecordKind::Delivered { .. })).count();
        if loss > 0.15 && total >= 100 {
            prop_assert!(lost > 0, "none of {} lost at p = {}", total, loss);
        }
        // Once the loss stops, the next advert of the best router settles any spurious Master.
        sim.set_link(Link { loss: 0.0, ..link });
        sim.run_for(i * 2);
        prop_assert_eq!(sim.masters(VRID), vec![m]);
    }
}

// ----- arbitrary inputs ----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Packet {
        src: u8,
        vrid: u8,
        prio: u8,
        interval: u16,
        v2: bool,
        ttl: u8,
        unicast: bool,
        extra_vip: bool,
    },
    Timeout(u32),
    Command(Command),
}

fn op() -> impl Strategy<Value = Op> {
    let command = prop_oneof![
        any::<u8>().prop_map(Command::SetPriority),
        Just(Command::FaultOn),
        Just(Command::FaultOff),
        Just(Command::Shutdown),
        Just(Command::Start),
        Just(Command::Switchover),
        Just(Command::StepDown),
        Just(Command::ResumeElection),
    ];
    prop_oneof![
        4 => (1u8..5, 0u8..3, any::<u8>(), 0u16..4096, any::<bool>(), prop_oneof![Just(255u8), any::<u8>()], any::<bool>(), any::<bool>())
            .prop_map(|(src, vrid, prio, interval, v2, ttl, unicast, extra_vip)| Op::Packet { src, vrid, prio, interval, v2, ttl, unicast, extra_vip }),
        4 => (0u32..5_000_000).prop_map(Op::Timeout),
        1 => command.prop_map(Op::Command),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever comes in, in whatever order: no panic, bounded queues, and timers consistent
    /// with the state (nothing left due after `handle_timeout`).
    #[test]
    fn arbitrary_inputs_keep_the_machine_consistent(
        ops in prop::collection::vec(op(), 1..200),
        prio in 1u8..=255,
        preempt_delay in prop_oneof![Just(0u64), 1u64..3000],
        garp_refresh in prop_oneof![Just(0u64), 1u64..3000],
    ) {
        let t0 = Instant::now();
        let mut c = config_v4(1, 1, prio);
        c.advert_interval = Duration::from_millis(100);
        c.preempt_delay = Duration::from_millis(preempt_delay);
        c.garp_master_refresh = Duration::from_millis(garp_refresh);
        let mut vr = VirtualRouter::new(c, t0).unwrap();
        let mut now = t0;
        let mut buf = Vec::new();
        for op in ops {
            match op {
                Op::Packet { src, vrid, prio, interval, v2, ttl, unicast, extra_vip } => {
                    let mut addrs = vec![Ipv4Addr::new(198, 51, 100, 1)];
                    if extra_vip {
                        addrs.push(Ipv4Addr::new(203, 0, 113, 9));
                    }
                    let a = AdvertRepr {
                        version: if v2 { Version::V2 } else { Version::V3 },
                        vrid,
                        priority: prio,
                        interval,
                        addrs: VirtualAddrs::V4(addrs),
                        auth: Auth::NONE,
                        reserved: 0,
                    };
                    let meta = RxMeta {
                        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, src)),
                        dst: if unicast { IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)) } else { IpAddr::V4(vrrp_proto::GROUP_V4) },
                        ttl,
                        checksum: ChecksumMode::VrrpOnly,
                    };
                    vr.handle_packet(now, &meta, &a);
                }
                Op::Timeout(us) => {
                    now += Duration::from_micros(u64::from(us));
                    vr.handle_timeout(now);
                    prop_assert!(vr.poll_timeout().is_none_or(|t| t > now), "a timer is still due");
                }
                Op::Command(cmd) => vr.handle_command(now, cmd),
            }
            let mut n = 0;
            while let Some(t) = vr.poll_transmit(&mut buf) {
                n += 1;
                prop_assert_eq!(t.len, buf.len());
                prop_assert!(t.priority == 0 || t.priority == vr.priority());
            }
            prop_assert!(n <= 1, "one advert at most per input with multicast");
            let mut events = 0;
            while vr.poll_event().is_some() {
                events += 1;
            }
            prop_assert!(events <= vrrp_fsm::EVENT_QUEUE_CAP);
            match vr.state() {
                State::Master => prop_assert!(vr.poll_timeout().is_some()),
                State::Backup => prop_assert!(vr.master_down_deadline().is_some()),
                State::Initialize | State::Fault => prop_assert_eq!(vr.poll_timeout(), None),
            }
            prop_assert!((1..=255).contains(&vr.priority()));
        }
    }
}
