//! The batched commit planner against a model of the kernel's ctnetlink: a table keyed by
//! (original tuple, zone), requests processed in order, `NLMSG_ERROR` answers for failures
//! and for `NLM_F_ACK`, and a receive buffer of bounded size.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ct_sync::ctnetlink::consts::*;
use ct_sync::ctnetlink::{
    self, AckMode, BuildError, CommitConfig, CommitError, CommitOp, CommitPlanner, CtMsgKind,
    DecodeOptions, NlMessage, Tuple,
};
use ct_sync::wire::{CtRepr, Pair};

/// The kernel model.
#[derive(Default)]
struct Kernel {
    table: HashSet<(Tuple, Option<u16>)>,
    /// Masters looked up by related creates.
    created_order: Vec<(Tuple, bool)>,
    /// Answers queued for the socket (one datagram each).
    rx: Vec<Vec<u8>>,
    /// Most answers queued at once.
    peak_rx: usize,
    /// Fail creates of these source ports with this errno.
    fail_port: Option<(u16, i32)>,
    requests: usize,
}

fn answer(seq: u32, errno: i32) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&36u32.to_ne_bytes());
    m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
    m.extend_from_slice(&NLM_F_CAPPED.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&(-errno).to_ne_bytes());
    m.extend_from_slice(&[0; 16]);
    m
}

impl Kernel {
    /// One `send`: every request processed in order, answers queued.
    fn send(&mut self, batch: &[u8]) {
        for raw in ctnetlink::NlMsgIter::new(batch) {
            let raw = raw.unwrap();
            self.requests += 1;
            let NlMessage::Conntrack(m) =
                ctnetlink::decode(&raw, &DecodeOptions::default()).unwrap()
            else {
                panic!("not a conntrack request")
            };
            let key = (ctnetlink::orig_tuple(&m.ct).unwrap(), m.ct.zone);
            let errno = match m.kind {
                CtMsgKind::New => {
                    let port = m.ct.port.map(|p| p.src);
                    let master_ok = match ctnetlink::master_tuple(&m.ct).unwrap() {
                        Some(t) => self.table.iter().any(|(k, _)| *k == t),
                        None => true,
                    };
                    if self.fail_port.is_some_and(|(p, _)| Some(p) == port) {
                        self.fail_port.unwrap().1
                    } else if self.table.contains(&key) {
                        EEXIST
                    } else if !master_ok {
                        ENOENT
                    } else {
                        self.created_order
                            .push((key.0, ctnetlink::master_tuple(&m.ct).unwrap().is_some()));
                        self.table.insert(key);
                        0
                    }
                }
                CtMsgKind::Destroy => {
                    if self.table.remove(&key) {
                        0
                    } else {
                        ENOENT
                    }
                }
                k => panic!("unexpected request {k:?}"),
            };
            if errno != 0 || raw.flags & NLM_F_ACK != 0 {
                self.rx.push(answer(raw.seq, errno));
                self.peak_rx = self.peak_rx.max(self.rx.len());
            }
        }
    }
}

fn udp(i: u32) -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            Ipv4Addr::new(192, 0, 2, (i >> 16) as u8),
            Ipv4Addr::new(198, 51, 100, (i >> 8) as u8),
        )),
        l4proto: Some(17),
        port: Some(Pair::new(i as u16, 53)),
        timeout: Some(1800),
        status: Some(8),
        ..CtRepr::default()
    }
}

/// Drives a commit to the end; returns the planner's counters and the kernel.
fn run<'a>(entries: &'a [CtRepr], cfg: CommitConfig, kernel: &mut Kernel) -> CommitPlanner<'a> {
    let mut p = CommitPlanner::new(entries, cfg);
    let mut buf = Vec::new();
    let mut rounds = 0;
    while !p.is_done() {
        rounds += 1;
        assert!(rounds < 100_000, "the commit does not progress");
        buf.clear();
        let n = p.poll_transmit(&mut buf);
        assert!(
            p.in_flight() <= cfg.max_in_flight,
            "in flight above the bound"
        );
        if n > 0 {
            kernel.send(&buf);
        }
        // Answers arrive; the socket reads them all before sending more.
        for d in std::mem::take(&mut kernel.rx) {
            p.handle_datagram(&d).unwrap();
        }
    }
    p
}

#[test]
fn creates_then_replaces_on_eexist() {
    let entries: Vec<_> = (0..5000).map(udp).collect();
    for ack in [AckMode::PerMessage, AckMode::ErrorsOnly] {
        let cfg = CommitConfig {
            ack,
            batch_bytes: 16 * 1024,
            max_in_flight: 300,
            ..CommitConfig::default()
        };
        let mut k = Kernel::default();
        let p = run(&entries, cfg, &mut k);
        let s = p.stats();
        assert_eq!((s.created, s.replaced, s.failed), (5000, 0, 0), "{ack:?}");
        assert_eq!(k.table.len(), 5000);
        assert!(k.peak_rx <= 300, "answers queued above the in-flight bound");
        if ack == AckMode::ErrorsOnly {
            // One fence ACK per batch, nothing else.
            assert_eq!(k.peak_rx, 1);
            assert!(s.batches >= 5000 * 132 / (16 * 1024));
        }
        // The same again: every entry exists, so each is deleted and re-created.
        let p = run(&entries, cfg, &mut k);
        let s = p.stats();
        assert_eq!((s.created, s.replaced, s.failed), (0, 5000, 0), "{ack:?}");
        assert_eq!(s.requests, 3 * 5000, "create, delete, recreate");
        assert_eq!(p.errno_counts(), [(EEXIST, 5000)]);
        assert_eq!(k.table.len(), 5000);
    }
}

#[test]
fn errors_are_counted_per_errno_with_the_entry() {
    let entries: Vec<_> = (0..100).map(udp).collect();
    let mut k = Kernel {
        fail_port: Some((42, ENOMEM)),
        ..Kernel::default()
    };
    let mut with_bad = entries.clone();
    with_bad[7].timeout = None;
    let p = run(&with_bad, CommitConfig::default(), &mut k);
    let s = p.stats();
    assert_eq!((s.created, s.failed), (98, 2));
    assert_eq!(p.errno_counts(), [(ENOMEM, 1)]);
    let mut f = p.failures().to_vec();
    f.sort_by_key(|f| f.entry);
    assert_eq!(f[0].entry, 7);
    assert_eq!(f[0].error, CommitError::Build(BuildError::NoTimeout));
    assert_eq!((f[1].entry, f[1].op), (42, CommitOp::Create));
    assert_eq!(f[1].error, CommitError::Kernel(ENOMEM));
}

#[test]
fn masters_are_committed_before_related_entries() {
    let master = CtRepr {
        l4proto: Some(6),
        port: Some(Pair::new(40000, 21)),
        ..udp(1)
    };
    let related = CtRepr {
        port: Some(Pair::new(40001, 20)),
        master_ipv4: master.ipv4,
        master_l4proto: Some(6),
        master_port: master.port,
        ..master.clone()
    };
    // Related first in the input; one message per batch to make the order visible.
    let entries = vec![related, udp(2), master];
    let cfg = CommitConfig {
        batch_bytes: 1,
        ..CommitConfig::default()
    };
    let mut k = Kernel::default();
    let p = run(&entries, cfg, &mut k);
    assert_eq!((p.stats().created, p.stats().failed), (3, 0));
    let related_flags: Vec<bool> = k.created_order.iter().map(|(_, r)| *r).collect();
    assert_eq!(related_flags, [false, false, true]);
}

#[test]
fn in_flight_bound_holds_without_answers_and_overrun_reports_unconfirmed() {
    let entries: Vec<_> = (0..1000).map(udp).collect();
    let cfg = CommitConfig {
        ack: AckMode::PerMessage,
        max_in_flight: 64,
        batch_bytes: 1 << 20,
        ..CommitConfig::default()
    };
    let mut p = CommitPlanner::new(&entries, cfg);
    let mut buf = Vec::new();
    assert_eq!(p.poll_transmit(&mut buf), 64);
    buf.clear();
    assert_eq!(
        p.poll_transmit(&mut buf),
        0,
        "nothing more until answers come"
    );
    // Answers for the first 10 (the last of them settles the earlier ones too).
    assert!(p.handle_answer(cfg.first_seq + 9, 0));
    assert!(!p.handle_answer(cfg.first_seq + 9, 0), "already settled");
    assert!(!p.handle_answer(cfg.first_seq + 5000, 0), "never sent");
    assert_eq!(p.stats().created, 10);
    assert_eq!(p.poll_transmit(&mut buf), 10);
    // The socket overran: the 64 waiting requests have unknown outcomes.
    p.handle_overrun();
    assert_eq!(p.stats().failed, 64);
    assert!(
        p.failures()
            .iter()
            .all(|f| f.error == CommitError::Unconfirmed)
    );
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn references_commit_like_owned_entries() {
    let owned: Vec<CtRepr> = (0..500).map(udp).collect();
    let refs: Vec<&CtRepr> = owned.iter().collect();
    let cfg = CommitConfig {
        batch_bytes: 4096,
        ..CommitConfig::default()
    };
    let mut p = CommitPlanner::new(&owned, cfg);
    let mut q = CommitPlanner::new(&refs, cfg);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut batches = 0;
    loop {
        a.clear();
        b.clear();
        let (n, m) = (p.poll_transmit(&mut a), q.poll_transmit(&mut b));
        assert_eq!((n, &a), (m, &b), "batch {batches} differs");
        if n == 0 {
            break;
        }
        batches += 1;
        // No answers: the fence ACK of each batch is never read, so flight grows to the bound.
        if p.in_flight() >= cfg.max_in_flight {
            break;
        }
    }
    assert!(batches > 1, "several batches were compared");
}

#[test]
fn sequence_numbers_wrap() {
    let entries: Vec<_> = (0..50).map(udp).collect();
    let cfg = CommitConfig {
        first_seq: u32::MAX - 10,
        batch_bytes: 1000,
        ..CommitConfig::default()
    };
    let mut k = Kernel::default();
    let p = run(&entries, cfg, &mut k);
    assert_eq!(p.stats().created, 50);
}
