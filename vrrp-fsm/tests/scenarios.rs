//! Scenario tests: one behaviour each, in the simulator (real bytes through vrrp-proto) or
//! driven by hand through the handle/poll surface.

mod util;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use util::*;
use vrrp_fsm::sim::{Link, RecordKind, Sim, config_v4, config_v6};
use vrrp_fsm::{
    AnnounceTrigger, Command, Config, ConfigError, DropReason, Event, InitialState, Peer, Reason,
    RejectReason, State, SyncGroup, VirtualRouter,
};
use vrrp_proto::{Auth, AuthCheck, IpChecks, RxIp, Version, VirtualAddrs};

const MDI_100: Duration = Duration::from_nanos(3_609_375_000);
const MDI_150: Duration = Duration::from_nanos(3_414_062_500);
const MDI_200: Duration = Duration::from_nanos(3_218_750_000);
const SKEW_150: Duration = Duration::from_nanos(414_062_500);
const SKEW_100: Duration = Duration::from_nanos(609_375_000);
const LAT: Duration = Duration::from_micros(100);

fn sim() -> Sim {
    Sim::new(1, Link::default())
}

fn state(sim: &Sim, i: usize) -> State {
    sim.router(i).expect("router").state()
}

// ----- start-up -------------------------------------------------------------------------------

#[test]
fn owner_goes_master_at_once_and_displaces_a_lower_master() {
    let mut sim = sim();
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    assert_eq!(state(&sim, r2), State::Master);
    let t_owner = sim.now();
    let r1 = sim.add_router("r1", config_v4(1, 1, 255));
    // At once, without waiting for any timer.
    assert_eq!(state(&sim, r1), State::Master);
    sim.run_for(secs(5.0));
    let c = changes_after(&sim, t_owner - Duration::from_nanos(1));
    assert_eq!(c[0].node, r1);
    assert_eq!(
        (c[0].from, c[0].to, c[0].reason),
        (State::Initialize, State::Master, Reason::OwnerStartup)
    );
    assert_eq!(c[0].at, t_owner);
    // r2 steps back on the owner's first advert, one latency later.
    assert_eq!(c[1].node, r2);
    assert_eq!(
        (c[1].from, c[1].to, c[1].reason),
        (State::Master, State::Backup, Reason::HigherPriority)
    );
    assert_eq!(
        c[1].peer,
        Some(Peer {
            addr: v4(1),
            priority: 255
        })
    );
    assert_eq!(c[1].at, t_owner + LAT);
    assert_eq!(c.len(), 2);
}

#[test]
fn non_owners_start_in_backup_with_a_full_master_down_interval() {
    let mut sim = sim();
    let r = sim.add_router("r", config_v4(1, 1, 100));
    assert_eq!(state(&sim, r), State::Backup);
    sim.run_for(secs(10.0));
    let c = changes(&sim);
    assert_eq!(
        (c[0].from, c[0].to, c[0].reason),
        (State::Initialize, State::Backup, Reason::Startup)
    );
    assert_eq!(
        (c[1].to, c[1].reason, c[1].peer),
        (State::Master, Reason::MasterDown, None)
    );
    assert_eq!(c[1].t, MDI_100);
}

/// keepalived 2.2.7: `state MASTER` on a non-owner starts in Backup with a full
/// Master_Down_Interval; an owner with `state BACKUP` does too.
#[test]
fn keepalived_initial_state() {
    let mut sim = sim();
    let mut c = config_v4(1, 1, 150);
    c.initial_state = Some(InitialState::Master);
    let r1 = sim.add_router("r1", c);
    assert_eq!(state(&sim, r1), State::Backup);
    let mut c = config_v4(2, 2, 255);
    c.initial_state = Some(InitialState::Backup);
    let r2 = sim.add_router("r2", c);
    assert_eq!(state(&sim, r2), State::Backup);
    sim.run_for(secs(5.0));
    let c = changes(&sim);
    let m1 = c
        .iter()
        .find(|c| c.node == r1 && c.to == State::Master)
        .unwrap();
    assert_eq!(m1.t, MDI_150);
    let m2 = c
        .iter()
        .find(|c| c.node == r2 && c.to == State::Master)
        .unwrap();
    assert_eq!(
        m2.t,
        Duration::from_secs(3) + Duration::from_nanos(3_906_250)
    );

    let mut bad = config_v4(1, 1, 150);
    bad.initial_state = Some(InitialState::Master);
    bad.preempt = false;
    assert_eq!(bad.validate(), Err(ConfigError::InitialMasterNopreempt));
    bad.preempt = true;
    bad.preempt_delay = secs(5.0);
    assert_eq!(bad.validate(), Err(ConfigError::InitialMasterPreemptDelay));
}

#[test]
fn startup_delay_holds_every_master_down_timer() {
    let mut sim = sim();
    let mut c = config_v4(1, 1, 100);
    c.startup_delay = secs(2.0);
    let r1 = sim.add_router("r1", c);
    let mut c = config_v4(2, 2, 255);
    c.startup_delay = secs(2.0);
    let r2 = sim.add_router("r2", c);
    // Even the owner waits, in Backup, as keepalived does.
    assert_eq!(state(&sim, r2), State::Backup);
    sim.run_for(secs(10.0));
    let c = changes(&sim);
    let m1 = c
        .iter()
        .find(|c| c.node == r1 && c.to == State::Master)
        .unwrap();
    assert_eq!(m1.t, secs(2.0) + MDI_100);
    let m2 = c
        .iter()
        .find(|c| c.node == r2 && c.to == State::Master)
        .unwrap();
    assert_eq!((m2.t, m2.reason), (secs(2.0), Reason::OwnerStartup));
}

// ----- preemption -----------------------------------------------------------------------------

#[test]
fn preempt_takes_over_after_own_master_down_interval() {
    let mut sim = sim();
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    let t = sim.now();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200));
    sim.run_for(secs(10.0));
    let c = changes_after(&sim, t);
    let up = c
        .iter()
        .find(|c| c.node == r1 && c.to == State::Master)
        .unwrap();
    assert_eq!(up.at, t + MDI_200);
    assert_eq!(up.reason, Reason::Preempt);
    assert_eq!(
        up.peer,
        Some(Peer {
            addr: v4(2),
            priority: 100
        })
    );
    let down = c
        .iter()
        .find(|c| c.node == r2 && c.to == State::Backup)
        .unwrap();
    assert_eq!(
        (down.at, down.reason),
        (up.at + LAT, Reason::HigherPriority)
    );
}

#[test]
fn nopreempt_leaves_a_lower_master_alone() {
    let mut sim = sim();
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    let mut c = config_v4(1, 1, 200);
    c.preempt = false;
    let r1 = sim.add_router("r1", c);
    sim.run_for(secs(60.0));
    assert_eq!(
        (state(&sim, r1), state(&sim, r2)),
        (State::Backup, State::Master)
    );
    assert_eq!(sim.router(r1).unwrap().master().unwrap().addr, v4(2));
    // But it still takes over when the Master is lost.
    sim.crash(r2);
    sim.run_for(secs(5.0));
    assert_eq!(state(&sim, r1), State::Master);
}

#[test]
fn preempt_delay_postpones_preemption() {
    let mut sim = sim();
    sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    let t = sim.now();
    let mut c = config_v4(1, 1, 200);
    c.preempt_delay = secs(10.0);
    let r1 = sim.add_router("r1", c);
    sim.run_for(secs(30.0));
    let up = changes_after(&sim, t)
        .into_iter()
        .find(|c| c.node == r1 && c.to == State::Master)
        .unwrap();
    // keepalived: lower-priority adverts are accepted for preempt_delay after the first one,
    // then ignored; the takeover comes one Master_Down_Interval after the last accepted one.
    let first = sim
        .trace()
        .iter()
        .find(|r| r.node == r1 && matches!(r.kind, RecordKind::Delivered { .. }))
        .unwrap()
        .at;
    // keepalived's boundary: accepted while preempt_time > now, so the one at exactly
    // first + 10 s is the first one ignored.
    let last_accepted =
        last_delivery(&sim, r1, 0, first + secs(10.0) - Duration::from_nanos(1)).unwrap();
    assert!(last_accepted > first + secs(8.9));
    assert_eq!(up.at, last_accepted + MDI_200);
    assert_eq!(up.reason, Reason::Preempt);
}

#[test]
fn equal_priority_goes_to_the_higher_primary_address() {
    let mut sim = sim();
    let lo = sim.add_router("lo", config_v4(1, 5, 100));
    let hi = sim.add_router("hi", config_v4(1, 9, 100));
    sim.run_for(secs(10.0));
    assert_eq!(
        (state(&sim, lo), state(&sim, hi)),
        (State::Backup, State::Master)
    );
    let c = changes(&sim);
    let back = c
        .iter()
        .find(|c| c.node == lo && c.from == State::Master)
        .unwrap();
    assert_eq!(back.reason, Reason::HigherAddress);
    assert_eq!(
        back.peer,
        Some(Peer {
            addr: v4(9),
            priority: 100
        })
    );
}

// ----- priority 0 -----------------------------------------------------------------------------

#[test]
fn shutdown_sends_priority_zero_and_the_backup_takes_over_at_skew_time() {
    let mut vr = VirtualRouter::new(config_v4(1, 1, 255), Instant::now()).unwrap();
    drain_tx(&mut vr);
    let now = Instant::now();
    vr.handle_command(now, Command::Shutdown);
    let tx = drain_tx(&mut vr);
    assert_eq!(tx.len(), 1);
    let rx = vrrp_proto::decode(
        &tx[0].1,
        RxIp {
            src: tx[0].0.src,
            dst: tx[0].0.dst,
            ttl: 255,
        },
        &IpChecks::default(),
    )
    .unwrap();
    assert_eq!(rx.advert.priority, 0);
    assert_eq!(vr.counters().priority_zero_tx, 1);
    assert_eq!(vr.state(), State::Initialize);
    let ev = drain_events(&mut vr);
    assert!(ev.iter().any(|e| matches!(e, Event::VipsRemoved { .. })));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::StateChanged {
            from: State::Master,
            to: State::Initialize,
            reason: Reason::Shutdown,
            ..
        }
    )));
    assert_eq!(vr.poll_timeout(), None);

    // In the simulator: the Backups take over at Skew_Time after the release arrives.
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200));
    let r2 = sim.add_router("r2", config_v4(1, 2, 150));
    let r3 = sim.add_router("r3", config_v4(1, 3, 100));
    sim.run_for(secs(10.0));
    let t = sim.now();
    sim.command(r1, 0, Command::Shutdown);
    sim.run_for(secs(5.0));
    let c = changes_after(&sim, t);
    let up = c.iter().find(|c| c.to == State::Master).unwrap();
    assert_eq!(up.node, r2);
    assert_eq!(up.at, t + LAT + SKEW_150);
    assert_eq!(up.reason, Reason::PriorityZero);
    assert_eq!(
        up.peer,
        Some(Peer {
            addr: v4(1),
            priority: 0
        })
    );
    assert_eq!(state(&sim, r3), State::Backup);
    assert_eq!(sim.router(r3).unwrap().counters().priority_zero_rx, 1);
    // Start again: Backup, then preempts.
    sim.command(r1, 0, Command::Start);
    assert_eq!(state(&sim, r1), State::Backup);
    sim.run_for(secs(5.0));
    assert_eq!(state(&sim, r1), State::Master);
}

#[test]
fn master_answers_priority_zero_at_once() {
    let t0 = Instant::now();
    let mut vr = VirtualRouter::new(config_v4(1, 1, 255), t0).unwrap();
    drain_tx(&mut vr);
    let t = t0 + secs(0.5);
    vr.handle_packet(t, &meta(2), &advert(1, 0));
    let tx = drain_tx(&mut vr);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0.priority, 255);
    // And the advert timer restarts from now.
    assert_eq!(vr.poll_timeout(), Some(t + secs(1.0)));
}

// ----- RFC 9568: lower-priority advert --------------------------------------------------------

#[test]
fn rfc9568_master_answers_a_lower_priority_advert_unless_lower_prio_no_advert() {
    for (no_advert, expect) in [(false, 1), (true, 0)] {
        let t0 = Instant::now();
        let mut c = config_v4(1, 1, 200);
        c.lower_prio_no_advert = no_advert;
        let mut vr = VirtualRouter::new(c, t0).unwrap();
        vr.handle_timeout(t0 + MDI_200);
        assert_eq!(vr.state(), State::Master);
        drain_tx(&mut vr);
        vr.handle_packet(t0 + secs(3.5), &meta(2), &advert(1, 100));
        let tx = drain_tx(&mut vr);
        assert_eq!(tx.len(), expect, "lower_prio_no_advert = {no_advert}");
        assert!(tx.iter().all(|(t, _)| t.priority == 200));
        assert_eq!(vr.state(), State::Master);
    }
}

#[test]
fn higher_prio_send_advert_sends_one_more_advert_before_backup() {
    let t0 = Instant::now();
    let mut c = config_v4(1, 1, 100);
    c.higher_prio_send_advert = true;
    let mut vr = VirtualRouter::new(c, t0).unwrap();
    vr.handle_timeout(t0 + MDI_100);
    drain_tx(&mut vr);
    vr.handle_packet(t0 + secs(4.0), &meta(2), &advert(1, 200));
    assert_eq!(vr.state(), State::Backup);
    let tx = drain_tx(&mut vr);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0.priority, 100);
}

// ----- VRRPv2 ----------------------------------------------------------------------------------

fn v2(host: u8, prio: u8, pass: &[u8]) -> Config {
    let mut c = config_v4(50, host, prio);
    c.version = Version::V2;
    c.auth = Auth::password(pass);
    c
}

#[test]
fn v2_auth_mismatch_is_dropped() {
    // Different passwords: neither hears the other; both end up Master (split brain).
    let mut sim = sim();
    let r1 = sim.add_router("r1", v2(1, 200, b"EcbCp2b1"));
    let r2 = sim.add_router("r2", v2(2, 100, b"wrong"));
    sim.run_for(secs(10.0));
    assert_eq!(
        (state(&sim, r1), state(&sim, r2)),
        (State::Master, State::Master)
    );
    let c2 = sim.router(r2).unwrap().counters();
    assert!(c2.auth_errors >= 5, "{c2:?}");
    assert_eq!(c2.adverts_rx, 0);
    assert!(events(&sim, r2, sim.epoch()).iter().any(|e| matches!(
        e,
        Event::Dropped {
            reason: DropReason::Auth(AuthCheck::BadPassword),
            ..
        }
    )));
    // Same password: one Master.
    let mut sim = Sim::new(2, Link::default());
    let r1 = sim.add_router("r1", v2(1, 200, b"EcbCp2b1"));
    let r2 = sim.add_router("r2", v2(2, 100, b"EcbCp2b1"));
    sim.run_for(secs(10.0));
    assert_eq!(
        (state(&sim, r1), state(&sim, r2)),
        (State::Master, State::Backup)
    );
    assert_eq!(sim.router(r2).unwrap().counters().auth_errors, 0);
    // VRRPv2 skew: (256 - 200) / 256 s, with 1 s adverts.
    let c = changes(&sim);
    assert_eq!(c.iter().find(|c| c.to == State::Master).unwrap().t, MDI_200);
}

#[test]
fn v2_interval_mismatch_is_dropped() {
    let t0 = Instant::now();
    let mut vr = VirtualRouter::new(v2(1, 100, b"pw"), t0).unwrap();
    let mut a = advert(50, 200);
    a.version = Version::V2;
    a.auth = Auth::password(b"pw");
    a.interval = 2; // seconds; ours is 1
    vr.handle_packet(t0 + secs(1.0), &meta(2), &a);
    assert_eq!(vr.counters().interval_errors, 1);
    assert!(drain_events(&mut vr).iter().any(|e| matches!(
        e,
        Event::Dropped {
            reason: DropReason::IntervalMismatch { .. },
            ..
        }
    )));
    // The timer was not reset by the dropped advert.
    assert_eq!(vr.master_down_deadline(), Some(t0 + MDI_100));
    a.interval = 1;
    vr.handle_packet(t0 + secs(1.0), &meta(2), &a);
    assert_eq!(vr.master_down_deadline(), Some(t0 + secs(1.0) + MDI_100));
}

// ----- interop, accept mode, log lines -------------------------------------------------------

/// A real keepalived 2.2.7 advert (VRID 51, priority 200, 1 s, two VIPs, checksum with the
/// IPv4 pseudo-header) as a raw socket delivers it, into a hakit Backup sending RFC 9568
/// checksums.
#[test]
fn keepalived_advert_bytes_reset_the_master_down_timer() {
    let datagram = [
        0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x8b, 0xc0, 0x00, 0x02,
        0x0b, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0xc8, 0x02, 0x00, 0x64, 0xdf, 0xc2, 0xc0, 0x00,
        0x02, 0x01, 0xc0, 0x00, 0x02, 0x02,
    ];
    let t0 = Instant::now();
    let mut c = Config::new(
        51,
        v4(12),
        VirtualAddrs::V4(vec![
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(192, 0, 2, 1),
        ]),
    );
    c.checksum = vrrp_proto::ChecksumMode::VrrpOnly;
    let mut vr = VirtualRouter::new(c, t0).unwrap();
    let rx = vrrp_proto::decode_ipv4(&datagram, &IpChecks::default()).unwrap();
    let t = t0 + secs(1.0);
    vr.handle_received(t, &rx);
    assert_eq!(vr.counters().adverts_rx, 1);
    assert_eq!(vr.counters().checksum_convention_mismatch, 1);
    assert_eq!(
        vr.master(),
        Some(Peer {
            addr: v4(11),
            priority: 200
        })
    );
    assert_eq!(vr.master_down_deadline(), Some(t + MDI_100));
    assert!(drain_events(&mut vr).contains(&Event::MasterLearned {
        master: Peer {
            addr: v4(11),
            priority: 200
        }
    }));
}

#[test]
fn accept_mode_is_reported_with_the_addresses() {
    let t0 = Instant::now();
    for (prio, accept, expect) in [(100, true, true), (100, false, false), (255, false, true)] {
        let mut c = config_v4(1, 1, prio);
        c.accept_mode = accept;
        let mut vr = VirtualRouter::new(c, t0).unwrap();
        vr.handle_timeout(t0 + secs(4.0));
        assert_eq!(vr.state(), State::Master);
        let added: Vec<bool> = drain_events(&mut vr)
            .into_iter()
            .filter_map(|e| match e {
                Event::VipsAdded { accept_mode, vips } => {
                    assert_eq!(vips, VirtualAddrs::V4(vec![Ipv4Addr::new(198, 51, 100, 1)]));
                    Some(accept_mode)
                }
                _ => None,
            })
            .collect();
        assert_eq!(added, vec![expect], "priority {prio}, accept {accept}");
    }
}

#[test]
fn events_read_as_log_lines() {
    let e = Event::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: Reason::MasterDown,
        peer: Some(Peer {
            addr: v4(1),
            priority: 200,
        }),
    };
    assert_eq!(
        e.to_string(),
        "Backup -> Master  (master down timer expired; last master 192.0.2.1 prio 200)"
    );
    let e = Event::Dropped {
        from: v4(2),
        reason: DropReason::AddressList {
            received: 2,
            expected: 1,
        },
    };
    assert_eq!(
        e.to_string(),
        "dropped advert from 192.0.2.2: virtual address list differs from ours (2 received, 1 configured)"
    );
}

// ----- drops ------------------------------------------------------------------------------------

#[test]
fn invalid_adverts_are_dropped_counted_and_reported() {
    let t0 = Instant::now();
    let mut vr = VirtualRouter::new(config_v4(1, 1, 100), t0).unwrap();
    drain_events(&mut vr);
    let t = t0 + secs(1.0);
    // Wrong VRID.
    vr.handle_packet(t, &meta(2), &advert(2, 200));
    // TTL 254 on multicast.
    let mut m = meta(2);
    m.ttl = 254;
    vr.handle_packet(t, &m, &advert(1, 200));
    // Our own address.
    vr.handle_packet(t, &meta(1), &advert(1, 200));
    // A different address list, even from the owner.
    let mut a = advert(1, 255);
    a.addrs = VirtualAddrs::V4(vec![
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(198, 51, 100, 2),
    ]);
    vr.handle_packet(t, &meta(2), &a);
    // Version 2 on a v3 router.
    let mut a = advert(1, 200);
    a.version = Version::V2;
    vr.handle_packet(t, &meta(2), &a);
    // Unicast while multicast is configured.
    let mut m = meta(2);
    m.dst = v4(1);
    vr.handle_packet(t, &m, &advert(1, 200));
    let c = *vr.counters();
    assert_eq!(
        (
            c.vrid_errors,
            c.ttl_errors,
            c.own_address_errors,
            c.address_list_errors,
            c.version_errors,
            c.destination_errors
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert_eq!(c.adverts_rx, 0);
    let reasons: Vec<DropReason> = drain_events(&mut vr)
        .into_iter()
        .filter_map(|e| match e {
            Event::Dropped { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 6);
    assert_eq!(reasons[0], DropReason::VridMismatch { vrid: 2 });
    assert_eq!(
        reasons[3],
        DropReason::AddressList {
            received: 2,
            expected: 1
        }
    );
    // None of them reset the Master_Down timer.
    assert_eq!(vr.master_down_deadline(), Some(t0 + MDI_100));
    // Malformed packets reported by the codec are counted too.
    let bad = vrrp_proto::decode(&[0x31, 1, 100, 0], meta_ip(), &IpChecks::default()).unwrap_err();
    vr.record_malformed(&bad);
    assert_eq!(vr.counters().packet_length_errors, 1);
}

fn meta_ip() -> RxIp {
    RxIp {
        src: v4(2),
        dst: IpAddr::V4(vrrp_proto::GROUP_V4),
        ttl: 255,
    }
}

#[test]
fn skip_check_adv_addr_checks_only_new_sources() {
    let t0 = Instant::now();
    let mut c = config_v4(1, 1, 100);
    c.skip_check_adv_addr = true;
    let mut vr = VirtualRouter::new(c, t0).unwrap();
    let mut odd = advert(1, 200);
    odd.addrs = VirtualAddrs::V4(vec![Ipv4Addr::new(203, 0, 113, 1)]);
    // Unknown source: checked and dropped.
    vr.handle_packet(t0, &meta(2), &odd);
    assert_eq!(vr.counters().address_list_errors, 1);
    // Known Master: not checked.
    vr.handle_packet(t0, &meta(2), &advert(1, 200));
    vr.handle_packet(t0 + secs(1.0), &meta(2), &odd);
    assert_eq!(vr.counters().address_list_errors, 1);
    assert_eq!(vr.counters().adverts_rx, 2);
}

#[test]
fn event_queue_is_bounded_and_keeps_state_changes() {
    let t0 = Instant::now();
    let mut vr = VirtualRouter::new(config_v4(1, 1, 100), t0).unwrap();
    for _ in 0..1000 {
        vr.handle_packet(t0, &meta(2), &advert(9, 200));
    }
    vr.handle_timeout(t0 + MDI_100);
    let ev = drain_events(&mut vr);
    assert!(ev.len() <= vrrp_fsm::EVENT_QUEUE_CAP);
    assert!(vr.counters().events_overflow > 900);
    assert_eq!(vr.counters().vrid_errors, 1000);
    let states: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(states, vec![State::Backup, State::Master]);
}

#[test]
fn early_and_spurious_timeouts_do_nothing() {
    let t0 = Instant::now();
    let mut vr = VirtualRouter::new(config_v4(1, 1, 100), t0).unwrap();
    drain_events(&mut vr);
    for ms in [0, 1, 1000, 3609] {
        vr.handle_timeout(t0 + Duration::from_millis(ms));
    }
    vr.handle_timeout(t0 + MDI_100 - Duration::from_nanos(1));
    assert_eq!(vr.state(), State::Backup);
    assert!(drain_events(&mut vr).is_empty());
    assert!(drain_tx(&mut vr).is_empty());
    vr.handle_timeout(t0 + MDI_100);
    assert_eq!(vr.state(), State::Master);
}

#[test]
fn backup_learns_master_adver_interval() {
    let t0 = Instant::now();
    let mut vr = VirtualRouter::new(config_v4(1, 1, 100), t0).unwrap();
    let mut a = advert(1, 200);
    a.interval = 10; // 100 ms
    vr.handle_packet(t0, &meta(2), &a);
    assert_eq!(vr.master_adver_interval(), Duration::from_millis(100));
    // 3 × 100 ms + (156/256) × 100 ms, in nanoseconds.
    assert_eq!(vr.master_down_interval(), Duration::from_nanos(360_937_500));
    assert_eq!(
        vr.master_down_deadline(),
        Some(t0 + Duration::from_nanos(360_937_500))
    );
    vr.handle_packet(t0 + secs(0.1), &meta(2), &advert(1, 0));
    assert_eq!(
        vr.master_down_deadline(),
        Some(t0 + secs(0.1) + Duration::from_nanos(60_937_500))
    );
}

#[test]
fn down_timer_adverts_changes_the_multiplier() {
    let t0 = Instant::now();
    let mut c = config_v4(1, 1, 100);
    c.down_timer_adverts = 5;
    let vr = VirtualRouter::new(c, t0).unwrap();
    assert_eq!(vr.master_down_deadline(), Some(t0 + secs(5.0) + SKEW_100));
}

// ----- fault -------------------------------------------------------------------------------------

#[test]
fn fault_on_releases_and_fault_off_returns_to_backup() {
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200));
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    let t = sim.now();
    sim.command(r1, 0, Command::FaultOn);
    assert_eq!(state(&sim, r1), State::Fault);
    assert_eq!(sim.router(r1).unwrap().poll_timeout(), None);
    let ev = events(&sim, r1, t);
    assert!(ev.iter().any(|e| matches!(e, Event::VipsRemoved { .. })));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::StateChanged {
            from: State::Master,
            to: State::Fault,
            reason: Reason::Fault,
            ..
        }
    )));
    assert_eq!(sim.router(r1).unwrap().counters().priority_zero_tx, 1);
    sim.run_for(secs(20.0));
    let up = changes_after(&sim, t)
        .into_iter()
        .find(|c| c.node == r2)
        .unwrap();
    assert_eq!(
        (up.at, up.reason),
        (t + LAT + SKEW_100, Reason::PriorityZero)
    );
    // In Fault, nothing is heard and nothing sent.
    assert_eq!(state(&sim, r1), State::Fault);
    assert_eq!(sim.router(r1).unwrap().counters().adverts_rx, 0);
    assert_eq!(sim.router(r1).unwrap().counters().adverts_tx, 8);
    let t2 = sim.now();
    sim.command(r1, 0, Command::FaultOff);
    assert_eq!(state(&sim, r1), State::Backup);
    sim.run_for(secs(10.0));
    let c = changes_after(&sim, t2);
    let back = c
        .iter()
        .find(|c| c.node == r1 && c.to == State::Master)
        .unwrap();
    assert_eq!((back.at, back.reason), (t2 + MDI_200, Reason::Preempt));
    assert_eq!(state(&sim, r2), State::Backup);
}

// ----- unicast ----------------------------------------------------------------------------------

#[test]
fn unicast_peers_get_one_copy_each_and_elect_one_master() {
    let mut sim = sim();
    let hosts = [1u8, 2, 3];
    let prios = [100u8, 200, 150];
    let mut ids = Vec::new();
    for (h, p) in hosts.iter().zip(prios) {
        let mut c = config_v4(7, *h, p);
        c.unicast_peers = hosts.iter().filter(|x| *x != h).map(|x| v4(*x)).collect();
        c.check_unicast_src = true;
        ids.push(sim.add_router(&format!("r{h}"), c));
    }
    sim.run_for(secs(20.0));
    assert_eq!(sim.masters(7), vec![ids[1]]);
    let sent: Vec<IpAddr> = sim
        .trace()
        .iter()
        .filter(|r| r.node == ids[1])
        .filter_map(|r| match r.kind {
            RecordKind::Sent { dst, .. } => Some(dst),
            _ => None,
        })
        .collect();
    assert!(sent.len() >= 30);
    assert!(sent.iter().all(|d| !d.is_multicast()));
    assert_eq!(
        sent.iter().filter(|d| **d == v4(1)).count(),
        sent.iter().filter(|d| **d == v4(3)).count()
    );
    assert_eq!(
        sim.router(ids[0]).unwrap().counters().unknown_source_errors,
        0
    );

    // A unicast router drops multicast adverts, and unknown sources with check_unicast_src.
    let t0 = Instant::now();
    let mut c = config_v4(7, 1, 100);
    c.unicast_peers = vec![v4(2)];
    c.check_unicast_src = true;
    let mut vr = VirtualRouter::new(c, t0).unwrap();
    vr.handle_packet(t0, &meta(2), &advert(7, 200));
    let mut m = meta(3);
    m.dst = v4(1);
    vr.handle_packet(t0, &m, &advert(7, 200));
    assert_eq!(vr.counters().destination_errors, 1);
    assert_eq!(vr.counters().unknown_source_errors, 1);
    m.src = v4(2);
    m.ttl = 64; // unicast: TTL not checked, as keepalived
    vr.handle_packet(t0, &m, &advert(7, 200));
    assert_eq!(vr.counters().adverts_rx, 1);
}

#[test]
fn ipv6_routers_elect_one_master() {
    let mut sim = sim();
    let a = sim.add_router("a", config_v6(3, 1, 100));
    let b = sim.add_router("b", config_v6(3, 2, 120));
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters(3), vec![b]);
    assert_eq!(sim.router(a).unwrap().master().unwrap().priority, 120);
    assert!(sim.router(a).unwrap().counters().adverts_rx >= 5);
}

// ----- tracking ---------------------------------------------------------------------------------

#[test]
fn lowering_the_priority_of_the_master_lets_a_backup_preempt() {
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200));
    let r2 = sim.add_router("r2", config_v4(1, 2, 150));
    sim.run_for(secs(10.0));
    let t = sim.now();
    sim.command(r1, 0, Command::SetPriority(100));
    // Advertised at once.
    let sent = sim
        .trace()
        .iter()
        .rev()
        .find_map(|r| match r.kind {
            RecordKind::Sent { priority, .. } if r.node == r1 => Some((r.at, priority)),
            _ => None,
        })
        .unwrap();
    assert_eq!(sent, (t, 100));
    assert!(events(&sim, r1, t).contains(&Event::PriorityChanged { from: 200, to: 100 }));
    sim.run_for(secs(10.0));
    let c = changes_after(&sim, t);
    let up = c.iter().find(|c| c.node == r2).unwrap();
    // r2 discarded every lower advert since the last one of priority 200.
    let last = last_delivery(&sim, r2, r1, t - Duration::from_nanos(1)).unwrap();
    assert_eq!(
        (up.at, up.reason),
        (last + Duration::from_nanos(3_414_062_500), Reason::Preempt)
    );
    assert_eq!(state(&sim, r1), State::Backup);
    // Clamped: a non-owner never advertises 255, nor 0.
    sim.command(r2, 0, Command::SetPriority(255));
    assert_eq!(sim.router(r2).unwrap().priority(), 254);
    sim.command(r2, 0, Command::SetPriority(0));
    assert_eq!(sim.router(r2).unwrap().priority(), 1);
}

// ----- gratuitous ARP / NA ---------------------------------------------------------------------

#[test]
fn gratuitous_arp_bursts_follow_keepalived_settings() {
    let t0 = Instant::now();
    let mut c = config_v4(1, 1, 255);
    c.garp_master_refresh = secs(60.0);
    c.garp_master_refresh_repeat = 2;
    let mut vr = VirtualRouter::new(c, t0).unwrap();
    let announces = |ev: Vec<Event>| -> Vec<(u32, AnnounceTrigger)> {
        ev.into_iter()
            .filter_map(|e| match e {
                Event::Announce {
                    repeat,
                    trigger,
                    vips,
                } => {
                    assert_eq!(vips.len(), 1);
                    Some((repeat, trigger))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        announces(drain_events(&mut vr)),
        vec![(5, AnnounceTrigger::BecameMaster)]
    );
    let mut t = t0;
    let mut seen = Vec::new();
    while t < t0 + secs(130.0) {
        t = vr.poll_timeout().unwrap();
        vr.handle_timeout(t);
        for a in announces(drain_events(&mut vr)) {
            seen.push(((t - t0).as_secs(), a));
        }
    }
    assert_eq!(
        seen,
        vec![
            (5, (5, AnnounceTrigger::MasterDelay)),
            (60, (2, AnnounceTrigger::Refresh)),
            (120, (2, AnnounceTrigger::Refresh)),
        ]
    );
    // IPv6: the same events, for unsolicited NAs.
    let mut vr6 = VirtualRouter::new(config_v6(3, 1, 255), t0).unwrap();
    assert!(drain_events(&mut vr6).iter().any(|e| matches!(
        e,
        Event::Announce { vips: VirtualAddrs::V6(v), repeat: 5, .. } if v.len() == 2
    )));
}

// ----- switchover / step-down -------------------------------------------------------------------

#[test]
fn switchover_holds_against_a_preempting_higher_priority_peer() {
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200)); // preempt on (default)
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters(1), vec![r1]);
    let t = sim.now();
    sim.command(r2, 0, Command::Switchover);
    assert_eq!(state(&sim, r2), State::Master);
    assert_eq!(sim.router(r2).unwrap().priority(), 254);
    sim.run_for(secs(60.0));
    let c = changes_after(&sim, t);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!((c[0].node, c[0].reason), (r2, Reason::Switchover));
    assert_eq!(
        c[0].peer,
        Some(Peer {
            addr: v4(1),
            priority: 200
        })
    );
    assert_eq!(
        (c[1].node, c[1].to, c[1].reason),
        (r1, State::Backup, Reason::HigherPriority)
    );
    assert_eq!(sim.masters(1), vec![r2]);
    // Resume: r2 advertises 100 again and r1 preempts one Master_Down_Interval later.
    let t = sim.now();
    sim.command(r2, 0, Command::ResumeElection);
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters(1), vec![r1]);
    let up = changes_after(&sim, t)
        .into_iter()
        .find(|c| c.node == r1)
        .unwrap();
    assert_eq!(up.reason, Reason::Preempt);
    // One Master_Down_Interval after the last advert at 254 (which may still have been in
    // flight when the command came).
    let last_254 = sim
        .trace()
        .iter()
        .filter(|r| r.node == r1 && matches!(r.kind, RecordKind::Delivered { priority: 254, .. }))
        .map(|r| r.at)
        .next_back()
        .unwrap();
    assert!(last_254 <= t + LAT);
    assert_eq!(up.at, last_254 + MDI_200);
}

#[test]
fn switchover_is_rejected_against_the_owner() {
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 255));
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(5.0));
    let t = sim.now();
    sim.command(r2, 0, Command::Switchover);
    assert_eq!(state(&sim, r2), State::Backup);
    assert!(events(&sim, r2, t).contains(&Event::CommandRejected {
        command: Command::Switchover,
        reason: RejectReason::MasterOutranks(Peer {
            addr: v4(1),
            priority: 255
        }),
    }));
    assert_eq!(sim.masters(1), vec![r1]);
}

#[test]
fn step_down_hands_over_and_does_not_take_back() {
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200)); // preempt on
    let r2 = sim.add_router("r2", config_v4(1, 2, 150));
    let r3 = sim.add_router("r3", config_v4(1, 3, 100));
    sim.run_for(secs(10.0));
    let t = sim.now();
    sim.command(r1, 0, Command::StepDown);
    assert_eq!(state(&sim, r1), State::Backup);
    assert!(sim.router(r1).unwrap().stepped_down());
    sim.run_for(secs(60.0));
    let c = changes_after(&sim, t);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!((c[0].node, c[0].reason), (r1, Reason::StepDown));
    // The best remaining Backup takes over at its Skew_Time, as after a shutdown.
    assert_eq!(
        (c[1].node, c[1].at, c[1].reason),
        (r2, t + LAT + SKEW_150, Reason::PriorityZero)
    );
    assert_eq!(sim.masters(1), vec![r2]);
    assert_eq!(state(&sim, r3), State::Backup);
    // r1 is not taking back, though it hears a lower priority with preempt on...
    assert!(sim.router(r1).unwrap().counters().adverts_rx >= 50);
    // ...until the new Master is lost: then it takes over, and the step-down ends.
    let t = sim.now();
    sim.crash(r2);
    sim.run_for(secs(10.0));
    let up = changes_after(&sim, t)
        .into_iter()
        .find(|c| c.to == State::Master)
        .unwrap();
    assert_eq!((up.node, up.reason), (r1, Reason::MasterDown));
    let last = last_delivery(&sim, r1, r2, t).unwrap();
    assert_eq!(up.at, last + MDI_200);
    assert!(!sim.router(r1).unwrap().stepped_down());
    assert_eq!(sim.masters(1), vec![r1]);
}

#[test]
fn step_down_ends_with_resume_election() {
    let mut sim = sim();
    let r1 = sim.add_router("r1", config_v4(1, 1, 200));
    let r2 = sim.add_router("r2", config_v4(1, 2, 100));
    sim.run_for(secs(10.0));
    sim.command(r1, 0, Command::StepDown);
    sim.run_for(secs(30.0));
    assert_eq!(sim.masters(1), vec![r2]);
    let t = sim.now();
    sim.command(r1, 0, Command::ResumeElection);
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters(1), vec![r1]);
    let up = changes_after(&sim, t)
        .into_iter()
        .find(|c| c.node == r1)
        .unwrap();
    assert_eq!(up.reason, Reason::Preempt);
    // StepDown needs a running router.
    sim.command(r2, 0, Command::FaultOn);
    let t = sim.now();
    sim.command(r2, 0, Command::StepDown);
    assert!(events(&sim, r2, t).iter().any(|e| matches!(
        e,
        Event::CommandRejected {
            command: Command::StepDown,
            reason: RejectReason::NotRunning
        }
    )));
}

// ----- sync groups ------------------------------------------------------------------------------

#[test]
fn sync_group_prefers_backup_until_every_member_wants_master() {
    let mut sim = sim();
    let a10 = sim.add_router("a10", config_v4(10, 1, 200));
    let a20 = sim.add_router("a20", config_v4(20, 1, 200));
    let b = sim.add_group("b", vec![config_v4(10, 2, 100), config_v4(20, 2, 100)]);
    sim.run_for(secs(10.0));
    let g = sim.group(b).unwrap();
    assert_eq!(g.state(), Some(State::Backup));
    // One VRID's Master is lost: the group stays Backup, its other Master is still heard.
    sim.crash(a10);
    sim.run_for(secs(20.0));
    assert_eq!(sim.group(b).unwrap().state(), Some(State::Backup));
    assert!(sim.group(b).unwrap().member(0).unwrap().state() == State::Backup);
    // Both lost: the whole group goes Master.
    let t = sim.now();
    sim.crash(a20);
    sim.run_for(secs(10.0));
    assert_eq!(sim.group(b).unwrap().state(), Some(State::Master));
    let c = changes_after(&sim, t);
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.node == b && c.to == State::Master));
    // Both at the same instant: member 1's own timer, with member 0 already wanting.
    assert_eq!(c[0].at, c[1].at);
    let last = last_delivery(&sim, b, a20, t).unwrap();
    assert_eq!(c[0].at, last + MDI_100);
}

#[test]
fn sync_groups_fail_over_and_back_together() {
    let mut sim = sim();
    let a = sim.add_group("a", vec![config_v4(10, 1, 200), config_v4(20, 1, 200)]);
    let b = sim.add_group("b", vec![config_v4(10, 2, 100), config_v4(20, 2, 100)]);
    sim.run_for(secs(10.0));
    assert_eq!(sim.group(a).unwrap().state(), Some(State::Master));
    assert_eq!(sim.group(b).unwrap().state(), Some(State::Backup));
    // A fault on one member of a: all of a goes Fault (with priority 0), all of b Master.
    let t = sim.now();
    sim.command(a, 1, Command::FaultOn);
    assert_eq!(sim.group(a).unwrap().state(), Some(State::Fault));
    sim.run_for(secs(10.0));
    assert_eq!(sim.group(b).unwrap().state(), Some(State::Master));
    let c = changes_after(&sim, t);
    let reasons: Vec<(usize, usize, Reason)> =
        c.iter().map(|c| (c.node, c.member, c.reason)).collect();
    assert!(reasons.contains(&(a, 1, Reason::Fault)));
    assert!(reasons.contains(&(a, 0, Reason::SyncGroup { leader: 1 })));
    assert!(reasons.contains(&(b, 0, Reason::PriorityZero)));
    // Fault cleared: a comes back as Backup, preempts, and b follows to Backup.
    sim.command(a, 1, Command::FaultOff);
    assert_eq!(sim.group(a).unwrap().state(), Some(State::Backup));
    sim.run_for(secs(10.0));
    assert_eq!(sim.group(a).unwrap().state(), Some(State::Master));
    assert_eq!(sim.group(b).unwrap().state(), Some(State::Backup));
    assert_eq!(sim.masters(10), vec![a]);
    assert_eq!(sim.masters(20), vec![a]);
    // Group-wide switchover to b holds against a's preemption.
    sim.command(b, 0, Command::Switchover);
    sim.run_for(secs(30.0));
    assert_eq!(sim.masters(10), vec![b]);
    assert_eq!(sim.masters(20), vec![b]);
    assert_eq!(sim.group(a).unwrap().state(), Some(State::Backup));
}

/// keepalived runs a sync group's notify_backup at start-up (a conntrackd hook asks for its
/// resync there): the first shared state is reported, from Initialize.
#[test]
fn sync_group_reports_its_start_up_state() {
    let t0 = Instant::now();
    let mut g = SyncGroup::new(vec![config_v4(10, 1, 100), config_v4(20, 1, 100)], t0).unwrap();
    g.handle_timeout(t0);
    let ev: Vec<_> = std::iter::from_fn(|| g.poll_event()).collect();
    let group: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e, vrrp_fsm::GroupEvent::StateChanged { .. }))
        .collect();
    assert_eq!(
        group,
        [&vrrp_fsm::GroupEvent::StateChanged {
            from: State::Initialize,
            to: State::Backup
        }]
    );
}

#[test]
fn sync_group_member_losing_to_a_higher_priority_takes_the_group_to_backup() {
    let t0 = Instant::now();
    let mut g = SyncGroup::new(vec![config_v4(10, 1, 100), config_v4(20, 1, 100)], t0).unwrap();
    let t = t0 + MDI_100;
    g.handle_timeout(t);
    assert_eq!(g.state(), Some(State::Master));
    g.handle_packet(t + secs(0.5), 0, &meta(2), &advert(10, 200));
    assert_eq!(g.state(), Some(State::Backup));
    let mut buf = Vec::new();
    while g.poll_transmit(&mut buf).is_some() {}
    let ev: Vec<_> = std::iter::from_fn(|| g.poll_event()).collect();
    assert!(ev.contains(&vrrp_fsm::GroupEvent::StateChanged {
        from: State::Master,
        to: State::Backup
    }));
    assert!(ev.iter().any(|e| matches!(
        e,
        vrrp_fsm::GroupEvent::Member {
            member: 1,
            event: Event::StateChanged {
                reason: Reason::SyncGroup { leader: 0 },
                ..
            }
        }
    )));
    assert_eq!(g.member_for(20, vrrp_proto::Family::Ipv4), Some(1));
}

// ----- configuration ----------------------------------------------------------------------------

#[test]
fn configuration_is_validated() {
    let ok = config_v4(1, 1, 100);
    assert_eq!(ok.validate(), Ok(()));
    let check = |f: &dyn Fn(&mut Config), e: ConfigError| {
        let mut c = ok.clone();
        f(&mut c);
        assert_eq!(c.validate(), Err(e.clone()));
        assert_eq!(VirtualRouter::new(c, Instant::now()).unwrap_err(), e);
    };
    check(&|c| c.vrid = 0, ConfigError::ZeroVrid);
    check(&|c| c.priority = 0, ConfigError::ZeroPriority);
    check(
        &|c| c.vips = VirtualAddrs::V4(vec![]),
        ConfigError::NoVirtualAddress,
    );
    check(
        &|c| c.advert_interval = Duration::from_millis(5),
        ConfigError::IntervalOutOfRange {
            version: Version::V3,
            interval: Duration::from_millis(5),
        },
    );
    check(
        &|c| c.advert_interval = Duration::from_millis(15),
        ConfigError::IntervalOutOfRange {
            version: Version::V3,
            interval: Duration::from_millis(15),
        },
    );
    check(&|c| c.auth = Auth::password(b"x"), ConfigError::AuthWithV3);
    check(
        &|c| c.down_timer_adverts = 0,
        ConfigError::DownTimerAdverts(0),
    );
    check(
        &|c| c.unicast_peers = vec![v4(1)],
        ConfigError::PeerIsSelf(v4(1)),
    );
    check(
        &|c| c.vips = VirtualAddrs::V6(vec!["2001:db8::1".parse().unwrap()]),
        ConfigError::FamilyMismatch("virtual address"),
    );
    check(
        &|c| {
            c.preempt = false;
            c.preempt_delay = secs(1.0);
        },
        ConfigError::PreemptDelayWithNopreempt,
    );
    let mut v2c = ok.clone();
    v2c.version = Version::V2;
    v2c.advert_interval = Duration::from_millis(1500);
    assert!(matches!(
        v2c.validate(),
        Err(ConfigError::IntervalOutOfRange { .. })
    ));
    let mut v6 = config_v6(1, 1, 100);
    v6.src_addr = "2001:db8::1".parse().unwrap();
    assert!(matches!(
        v6.validate(),
        Err(ConfigError::Ipv6SourceNotLinkLocal(_))
    ));
    let mut owner = ok;
    owner.priority = 255;
    owner.preempt = false;
    assert_eq!(owner.validate(), Err(ConfigError::OwnerNopreempt));
}

#[test]
fn sync_group_counts_malformed_packets_per_member() {
    let t0 = Instant::now();
    let mut g = SyncGroup::new(vec![config_v4(10, 1, 100), config_v4(20, 1, 100)], t0).unwrap();
    let bad = vrrp_proto::DecodeError::Vrrp(vrrp_proto::ParseError::BadChecksum {
        found: 1,
        expected: 2,
    });
    g.record_malformed(1, &bad);
    g.record_malformed(7, &bad); // unknown member: ignored
    assert_eq!(g.member(0).unwrap().counters().checksum_errors, 0);
    assert_eq!(g.member(1).unwrap().counters().checksum_errors, 1);
}
