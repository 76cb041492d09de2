//! Commit benchmark: N UDP conntracks (timeout 1800, TEST-NET addresses, distinct ports)
//! committed through ctnetlink into the empty table of a fresh network namespace, with the
//! batched [`CommitPlanner`](ct_sync::ctnetlink::CommitPlanner), for several batch sizes,
//! ACK modes and socket counts. Prints entries/s and CPU time per entry (getrusage of this
//! process: utime + stime, which includes the kernel's work done inside `send`), the median
//! of R runs, plus the rate of `conntrack -I` (one process per entry) for scale.
//!
//! Needs root. Run: `cargo run --release -p examples --example ct_commit_bench -- [N] [R]`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ct_sync::cache::CtAttrs;
use ct_sync::ctnetlink::consts::{AF_UNSPEC, NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE};
use ct_sync::ctnetlink::{AckMode, CommitConfig, CommitEntry};
use ct_sync::wire::ct::status;
use ct_sync::wire::{CtRepr, Pair};
use examples::ctnl::{CtnlSocket, process_cpu_time};
use examples::netns::{Lab, Node};

fn entry(i: u32) -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            Ipv4Addr::new(192, 0, 2, 1 + (i / 60_000) as u8),
            Ipv4Addr::new(198, 51, 100, 1),
        )),
        l4proto: Some(17),
        port: Some(Pair::new(1024 + (i % 60_000) as u16, 53)),
        status: Some(status::SEEN_REPLY | status::ASSURED | status::CONFIRMED),
        timeout: Some(1800),
        ..CtRepr::default()
    }
}

fn count(node: &Node) -> usize {
    node.enter(|| {
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
            .expect("nf_conntrack_count")
            .trim()
            .parse()
            .expect("a number")
    })
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    batch: usize,
    ack: AckMode,
    sockets: usize,
    /// Event groups another socket of the namespace listens to during the commit (as a sync
    /// daemon's event socket does): the kernel builds an event per create for each group
    /// that has a listener.
    listen: Listen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listen {
    /// No listener.
    None,
    /// NEW, UPDATE and DESTROY (a daemon that stays subscribed during its commit).
    All,
    /// DESTROY only (ctsyncd leaves NEW and UPDATE for its commit).
    Destroy,
}

/// The entries as a sync peer's events carry them for conntracks it created through
/// ctnetlink: unreplied (CONFIRMED only), with the all-zero SYNPROXY.
fn as_synced(e: &CtRepr) -> CtRepr {
    CtRepr {
        status: Some(status::CONFIRMED),
        synproxy: Some(Default::default()),
        ..e.clone()
    }
}

/// One run: flush, commit, check the count. Returns (wall, cpu).
fn run<E: CommitEntry + Sync>(node: &Node, entries: &[E], s: Setup) -> (Duration, Duration) {
    let mut socks: Vec<CtnlSocket> = (0..s.sockets)
        .map(|_| node.enter(|| CtnlSocket::open().expect("netlink socket")))
        .collect();
    socks[0].flush(AF_UNSPEC).expect("flush");
    assert_eq!(count(node), 0, "table not empty after flush");
    let listener = match s.listen {
        Listen::None => None,
        Listen::All | Listen::Destroy => {
            let l = node.enter(|| CtnlSocket::open_events(false).expect("event socket"));
            if s.listen == Listen::Destroy {
                l.leave_groups(&[NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE])
                    .expect("drop membership");
            }
            Some(l)
        }
    };
    let cfg = CommitConfig {
        ack: s.ack,
        batch_bytes: s.batch,
        max_in_flight: 16_384,
        ..CommitConfig::default()
    };
    let chunk = entries.len().div_ceil(s.sockets);
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let reports: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = socks
            .iter_mut()
            .zip(entries.chunks(chunk))
            .map(|(sock, part)| sc.spawn(move || sock.commit(part, cfg).expect("commit")))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let wall = t0.elapsed();
    let cpu = process_cpu_time() - cpu0;
    drop(listener);
    let created: u64 = reports.iter().map(|r| r.stats.created).sum();
    let failed: u64 = reports.iter().map(|r| r.stats.failed).sum();
    assert_eq!(
        (created, failed),
        (entries.len() as u64, 0),
        "commit incomplete: {:?}",
        reports.iter().map(|r| &r.errno_counts).collect::<Vec<_>>()
    );
    assert_eq!(count(node), entries.len(), "kernel table count");
    (wall, cpu)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().map_or(100_000, |a| a.parse().expect("N"));
    let runs: usize = args.next().map_or(5, |a| a.parse().expect("R"));
    let lab = Lab::new("ctnlb");
    let node = lab.add_node("a");
    let entries: Vec<CtRepr> = (0..n).map(entry).collect();
    println!("ctnetlink commit of {n} UDP conntracks, median of {runs} runs");
    println!(
        "{:>8} {:>12} {:>7} {:>8} {:>10} {:>12} {:>10}",
        "batch", "ack", "sockets", "listen", "wall ms", "entries/s", "cpu µs/ent"
    );
    let mut setups = Vec::new();
    let base = Setup {
        batch: 256 << 10,
        ack: AckMode::ErrorsOnly,
        sockets: 1,
        listen: Listen::None,
    };
    for batch in [64 << 10, 256 << 10, 1 << 20] {
        setups.push(Setup { batch, ..base });
    }
    setups.push(Setup {
        ack: AckMode::PerMessage,
        ..base
    });
    setups.push(Setup { sockets: 2, ..base });
    setups.push(Setup {
        listen: Listen::All,
        ..base
    });
    setups.push(Setup {
        listen: Listen::Destroy,
        ..base
    });
    let synced: Vec<CtRepr> = entries.iter().map(as_synced).collect();
    let mut rows: Vec<(Setup, &[CtRepr], &str)> =
        setups.into_iter().map(|s| (s, &entries[..], "")).collect();
    rows.push((
        Setup {
            listen: Listen::Destroy,
            ..base
        },
        &synced[..],
        " (entries as synced: unreplied, SYNPROXY zero)",
    ));
    let compact: Vec<CtAttrs> = synced
        .iter()
        .map(|e| CtAttrs::encode(e).expect("encodable"))
        .collect();
    let compact: Vec<&CtAttrs> = compact.iter().collect();
    let mut results: Vec<(Setup, Duration, Duration, &str)> = Vec::new();
    for (s, entries, note) in rows {
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        for _ in 0..runs {
            let (w, c) = run(&node, entries, s);
            walls.push(w);
            cpus.push(c);
        }
        results.push((s, median(walls), median(cpus), note));
    }
    // As ctsyncd commits: its external cache's compact entries, decoded one by one while
    // the creates are written.
    let s = Setup {
        listen: Listen::Destroy,
        ..base
    };
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..runs {
        let (w, c) = run(&node, &compact, s);
        walls.push(w);
        cpus.push(c);
    }
    results.push((
        s,
        median(walls),
        median(cpus),
        " (entries as synced, decoded from the cache's compact form: the daemon's commit)",
    ));
    for (s, w, c, note) in results {
        println!(
            "{:>8} {:>12} {:>7} {:>8} {:>10.1} {:>12.0} {:>10.2}{note}",
            format!("{}K", s.batch >> 10),
            format!("{:?}", s.ack),
            s.sockets,
            format!("{:?}", s.listen),
            w.as_secs_f64() * 1e3,
            f64::from(n) / w.as_secs_f64(),
            c.as_secs_f64() * 1e6 / f64::from(n),
        );
    }
    // For scale: `conntrack -I`, one process and one request+ACK per entry.
    let mut sock = node.enter(|| CtnlSocket::open().expect("netlink socket"));
    sock.flush(AF_UNSPEC).expect("flush");
    let k = 500u32;
    let t0 = Instant::now();
    for i in 0..k {
        let sport = (1024 + i).to_string();
        node.run(&[
            "conntrack",
            "-I",
            "-p",
            "udp",
            "-s",
            "192.0.2.1",
            "-d",
            "198.51.100.1",
            "--sport",
            &sport,
            "--dport",
            "53",
            "-t",
            "1800",
        ]);
    }
    let w = t0.elapsed();
    println!(
        "conntrack -I loop: {k} entries in {:.0} ms = {:.0} entries/s",
        w.as_secs_f64() * 1e3,
        f64::from(k) / w.as_secs_f64()
    );
}
