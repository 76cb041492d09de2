//! Sync benchmark: `ctsyncd` and conntrackd 1.4.7 side by side, the same measurements in one
//! run (see `benches/scripts/ct_sync.md`).
//!
//! Two nodes on one bridge (TEST-NET addresses only): the primary `a` (203.0.113.1) and the
//! backup `b` (203.0.113.2), both running the daemon under test in FTFW mode over UDP. For each
//! run (fresh daemons, empty kernel tables) three phases:
//!
//! - **event**: N UDP conntracks (timeout 1800) are created on `a` with the batching
//!   ctnetlink commit; the time runs from the first create until `b`'s external cache holds N
//!   (polled every 2 ms with `-s` on `b`'s control socket). CPU per event is `a`'s daemon CPU
//!   divided by N;
//! - **resync**: `b`'s external cache is flushed (`-f external`), then `-n`; the time runs
//!   until `b` holds N again;
//! - **commit**: `-c` on `b` into its empty kernel table: the wall time of the request (the
//!   reply comes when the commit is done), checked against the kernel's conntrack count.
//!
//! CPU is utime + stime of each daemon from `/proc/PID/stat` before and after each phase
//! (clock ticks, usually 10 ms), and, for a finer figure, the sum of its threads'
//! `/proc/PID/task/*/schedstat` run times. Each cell is the median of R runs.
//!
//! ```text
//! cargo build --release -p examples --bin ctsyncd --example ct_sync_bench
//! sudo $CARGO_TARGET_DIR/release/examples/ct_sync_bench [--n 100000] [--runs 3]
//!     [--daemons ctsyncd,conntrackd] [--ctsyncd PATH] [--library] [--pause-ms MS]
//! ```
//!
//! `--pause-ms` waits that long after the daemons' pids are printed, before the event phase,
//! to attach `perf record -p PID`.
//!
//! `--floor` measures the kernel's share of the event path instead: a reader that takes the
//! events exactly as the daemon does and discards them (`examples::ctsyncd::event_floor`),
//! alone and with one 1444-byte UDP datagram sent per 19 events; CPU per event, median of R.
//!
//! It also times the library alone (no sockets): the sender's `SyncNode` per kernel event and
//! the receiver's per entry, to split the daemon's CPU into library and I/O.
//!
//! Needs root, iproute2 and conntrackd.

use std::io::{Read as _, Write as _};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ct_sync::control::{
    ExternalStats, Request, parse_stats, parse_stats_network, parse_stats_runtime,
};
use ct_sync::ctnetlink::CommitConfig;
use ct_sync::ctnetlink::consts::AF_UNSPEC;
use ct_sync::sync::{CtEvent, Origin, SyncConfig, SyncNode};
use ct_sync::wire::{CtRepr, Pair};
use examples::ctnl::{CtnlSocket, process_cpu_time};
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin};

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(60);
/// How often `b` is asked for its external cache's size.
const POLL: Duration = Duration::from_millis(2);

type Res<T> = Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ctsyncd,
    Conntrackd,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Self::Ctsyncd => "ctsyncd",
            Self::Conntrackd => "conntrackd",
        }
    }
}

fn conf_text(dir: &Path, name: &str, local: &str, peer: &str) -> String {
    let d = dir.display();
    format!(
        "Sync {{
	Mode FTFW {{
		ResendQueueSize 131072
	}}
	UDP {{
		IPv4_address {local}
		IPv4_Destination_Address {peer}
		Port 3780
		Interface {NODE_IF}
		SndSocketBuffer 8388608
		RcvSocketBuffer 8388608
		Checksum on
	}}
}}
General {{
	HashSize 65536
	HashLimit 524288
	LogFile {d}/{name}.log
	Syslog off
	LockFile {d}/{name}.lock
	UNIX {{
		Path {d}/{name}.sock
	}}
	NetlinkBufferSize 16777216
	NetlinkBufferSizeMaxGrowth 67108864
	Filter From Userspace {{
		Address Ignore {{
			IPv4_address 127.0.0.1
			IPv4_address 203.0.113.1
			IPv4_address 203.0.113.2
		}}
	}}
}}
"
    )
}

/// A daemon in a node, with its control socket.
struct Daemon {
    proc: Proc,
    sock: PathBuf,
    name: String,
}

impl Daemon {
    fn start(bin: &str, node: &Node, dir: &Path, name: &str, text: &str) -> Res<Self> {
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        let _ = std::fs::remove_file(dir.join(format!("{name}.lock")));
        let proc = node.spawn(&[bin, "-C", &conf.display().to_string()]);
        let mut d = Self {
            proc,
            sock: dir.join(format!("{name}.sock")),
            name: name.to_owned(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if !d.proc.is_running() {
                return Err(format!("{bin} in {name} exited:\n{}", d.proc.log()));
            }
            if d.request(Request::Stats).is_ok() {
                return Ok(d);
            }
            if Instant::now() > deadline {
                return Err(format!("{bin} in {name} never answered on its UNIX socket"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One control request (conntrackd's protocol: a native `int`, the reply until EOF).
    fn request(&self, r: Request) -> Res<String> {
        let mut s = UnixStream::connect(&self.sock)
            .map_err(|e| format!("{}: connect {}: {e}", self.name, self.sock.display()))?;
        s.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
        s.write_all(&r.to_bytes())
            .map_err(|e| format!("{}: {r:?}: {e}", self.name))?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .map_err(|e| format!("{}: {r:?} reply: {e}", self.name))?;
        Ok(out)
    }

    fn external_active(&self) -> Res<u32> {
        let text = self.request(Request::Stats)?;
        match parse_stats(&text)
            .map_err(|e| format!("{} -s: {e}\n{text}", self.name))?
            .external
        {
            ExternalStats::Cache(c) => Ok(c.active),
            ExternalStats::Inject(_) => Err("external cache expected".into()),
        }
    }

    fn network(&self) -> Res<ct_sync::control::NetworkReport> {
        let text = self.request(Request::StatsNetwork)?;
        parse_stats_network(&text).map_err(|e| format!("{} -s network: {e}\n{text}", self.name))
    }

    fn cpu(&self) -> Cpu {
        Cpu::of(self.proc.pid())
    }

    fn stop(mut self) {
        self.proc.terminate(Duration::from_secs(10));
    }
}

/// CPU time of a process: utime + stime (clock ticks) and the threads' run time (ns).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    ticks: Duration,
    sched: Duration,
    /// Voluntary context switches (the daemon went to sleep: one wake-up each).
    wakeups: u64,
}

impl Cpu {
    fn of(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let hz = clock_ticks();
        let t = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        let ticks = Duration::from_secs_f64(t as f64 / hz as f64);
        let mut ns = 0u64;
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in dir.flatten() {
                let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let wakeups = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        Self {
            ticks,
            sched: Duration::from_nanos(ns),
            wakeups,
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            ticks: self.ticks.saturating_sub(before.ticks),
            sched: self.sched.saturating_sub(before.sched),
            wakeups: self.wakeups.saturating_sub(before.wakeups),
        }
    }
}

fn clock_ticks() -> u64 {
    // getconf is the portable way without unsafe code; 100 on Linux in practice.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// One phase's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    wall: Duration,
    a: Cpu,
    b: Cpu,
}

#[derive(Debug, Clone, Copy, Default)]
struct RunResult {
    event: Phase,
    resync: Phase,
    commit: Phase,
    inject: Duration,
    lost: u64,
    overruns: u32,
}

fn entries(n: u32) -> Vec<CtRepr> {
    (0..n)
        .map(|i| CtRepr {
            ipv4: Some(Pair::new(
                Ipv4Addr::new(198, 51, 100, 100 + (i / 60_000) as u8),
                Ipv4Addr::new(192, 0, 2, 100 + ((i / 30_000) % 100) as u8),
            )),
            l4proto: Some(17),
            port: Some(Pair::new(1024 + (i % 30_000) as u16, 53)),
            timeout: Some(1800),
            ..CtRepr::default()
        })
        .collect()
}

fn conntrack_count(node: &Node) -> usize {
    node.enter(|| {
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    })
}

fn flush_kernel(node: &Node) -> Res<()> {
    node.enter(|| {
        let mut s = CtnlSocket::open().map_err(|e| e.to_string())?;
        s.flush(AF_UNSPEC).map_err(|e| e.to_string())
    })?;
    let deadline = Instant::now() + WAIT;
    while conntrack_count(node) != 0 {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: the conntrack table does not empty",
                node.name()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Polls `b` every [`POLL`] until its external cache holds `n`; returns when it first did.
fn wait_holds(b: &Daemon, n: u32, what: &str) -> Res<Instant> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = b.external_active()?;
        if got >= n {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: b holds {got} of {n}"));
        }
        std::thread::sleep(POLL);
    }
}

/// Both peers heard three datagrams from each other: the HELLO handshake is over.
fn wait_handshake(a: &Daemon, b: &Daemon) -> Res<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let ra = a.network()?.channel.counters.packets_recv;
        let rb = b.network()?.channel.counters.packets_recv;
        if ra >= 3 && rb >= 3 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no handshake: a heard {ra}, b heard {rb} datagrams"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_once(
    which: Impl,
    bin: &str,
    lab: &Lab,
    a: &Node,
    b: &Node,
    cts: &[CtRepr],
    pause: Option<Duration>,
) -> Res<RunResult> {
    let n = u32::try_from(cts.len()).map_err(|_| "too many entries")?;
    let dir = lab.dir();
    flush_kernel(a)?;
    flush_kernel(b)?;
    let da = Daemon::start(
        bin,
        a,
        dir,
        "a",
        &conf_text(dir, "a", "203.0.113.1", "203.0.113.2"),
    )?;
    let db = Daemon::start(
        bin,
        b,
        dir,
        "b",
        &conf_text(dir, "b", "203.0.113.2", "203.0.113.1"),
    )?;
    wait_handshake(&da, &db)?;
    eprintln!(
        "{:>10}: a is pid {}, b is pid {}",
        which.name(),
        da.proc.pid(),
        db.proc.pid()
    );
    if let Some(p) = pause {
        // Time to attach `perf record -p` to the pids above.
        std::thread::sleep(p);
    }
    let mut r = RunResult::default();

    // Event path.
    let (ca, cb) = (da.cpu(), db.cpu());
    let t0 = Instant::now();
    let injector = {
        let a = a.clone();
        let cts = cts.to_vec();
        std::thread::spawn(move || {
            a.enter(|| {
                let mut s = CtnlSocket::open().map_err(|e| e.to_string())?;
                let rep = s
                    .commit(&cts, CommitConfig::default())
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((rep.stats.created, Instant::now()))
            })
        })
    };
    let done = wait_holds(&db, n, "event path");
    let (created, injected) = injector.join().map_err(|_| "injector panicked")??;
    let done = done?;
    if created != u64::from(n) {
        return Err(format!("the injector created {created} of {n}"));
    }
    r.inject = injected - t0;
    r.event = Phase {
        wall: done - t0,
        a: da.cpu().since(ca),
        b: db.cpu().since(cb),
    };
    r.lost = db.network()?.rcv_lost;
    let text = da.request(Request::StatsRuntime)?;
    r.overruns = parse_stats_runtime(&text)
        .map_err(|e| format!("a -s runtime: {e}\n{text}"))?
        .netlink_overrun;
    if r.overruns > 0 {
        let log = std::fs::read_to_string(dir.join("a.log")).unwrap_or_default();
        eprintln!("a's event socket overran; its log:\n{log}\n{text}");
    }

    // Resync: an empty external cache, then -n.
    db.request(Request::CtFlushExternalCache)?;
    let deadline = Instant::now() + WAIT;
    while db.external_active()? != 0 {
        if Instant::now() > deadline {
            return Err("b's external cache does not empty".into());
        }
        std::thread::sleep(POLL);
    }
    // Let the flush's own work settle before measuring.
    std::thread::sleep(Duration::from_millis(200));
    let (ca, cb) = (da.cpu(), db.cpu());
    let t0 = Instant::now();
    db.request(Request::RequestDump)?;
    let done = wait_holds(&db, n, "resync")?;
    r.resync = Phase {
        wall: done - t0,
        a: da.cpu().since(ca),
        b: db.cpu().since(cb),
    };

    // Commit into b's empty kernel table, as in a failover: `a` is gone, and its conntracks
    // live in another machine's kernel. The lab's namespaces share one conntrack hash table,
    // so `a`'s N entries would otherwise sit in the chains `b`'s creates walk. `a`'s daemon
    // stops first, so that the flush's DESTROY events never reach `b`.
    std::thread::sleep(Duration::from_millis(200));
    let a_cpu_end = da.cpu();
    da.stop();
    flush_kernel(a)?;
    if conntrack_count(b) != 0 {
        return Err("b's kernel table is not empty before the commit".into());
    }
    let (ca, cb) = (a_cpu_end, db.cpu());
    let t0 = Instant::now();
    db.request(Request::AllCommit)?;
    let wall = t0.elapsed();
    r.commit = Phase {
        wall,
        a: a_cpu_end.since(ca),
        b: db.cpu().since(cb),
    };
    let have = conntrack_count(b);
    if which == Impl::Ctsyncd {
        // ctsyncd's own account of the commit (and of the table read back after it).
        let log = std::fs::read_to_string(dir.join("b.log")).unwrap_or_default();
        let this = format!("(pid={})", db.proc.pid());
        for l in log
            .lines()
            .filter(|l| l.contains(&this) && l.contains("commit"))
        {
            eprintln!("{:>10}: b: {l}", which.name());
        }
    }
    if have != cts.len() {
        return Err(format!("after -c b's kernel holds {have} of {n}"));
    }
    eprintln!(
        "{:>10}: event {:.3} s (inject {:.3} s, a {:.3} s cpu, {} wake-ups, b {} wake-ups), \
         resync {:.3} s (b {} wake-ups), commit {:.3} s, b lost {}, a's netlink overruns {}",
        which.name(),
        r.event.wall.as_secs_f64(),
        r.inject.as_secs_f64(),
        r.event.a.sched.as_secs_f64(),
        r.event.a.wakeups,
        r.event.b.wakeups,
        r.resync.wall.as_secs_f64(),
        r.resync.b.wakeups,
        r.commit.wall.as_secs_f64(),
        r.lost,
        r.overruns
    );
    db.stop();
    Ok(r)
}

fn median_by(v: &[RunResult], f: impl Fn(&RunResult) -> f64) -> f64 {
    let mut x: Vec<f64> = v.iter().map(f).collect();
    x.sort_by(f64::total_cmp);
    x[x.len() / 2]
}

/// The medians of one daemon's runs for one phase.
#[derive(Debug, Clone, Copy)]
struct Cell {
    wall: f64,
    a_ticks: f64,
    a_sched: f64,
    b_ticks: f64,
    b_sched: f64,
}

fn cell(v: &[RunResult], p: impl Fn(&RunResult) -> Phase + Copy) -> Cell {
    Cell {
        wall: median_by(v, |r| p(r).wall.as_secs_f64()),
        a_ticks: median_by(v, |r| p(r).a.ticks.as_secs_f64()),
        a_sched: median_by(v, |r| p(r).a.sched.as_secs_f64()),
        b_ticks: median_by(v, |r| p(r).b.ticks.as_secs_f64()),
        b_sched: median_by(v, |r| p(r).b.sched.as_secs_f64()),
    }
}

/// The library's share of the event path, without sockets: `SyncNode::handle_kernel_event`
/// for every entry with the tx queue drained every 100 events (as the daemon does per
/// `EventIterationLimit`), then the datagrams into a peer's `handle_datagram`. Returns the
/// medians of CPU ns per entry (sender, receiver) over `runs` (process CPU time: this runs
/// before any other thread of the benchmark).
fn sans_io(cts: &[CtRepr], runs: usize) -> (f64, f64) {
    let n = cts.len() as f64;
    let (mut tx, mut rx) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        // HashSize as in the daemons' conntrackd.conf.
        let cfg = |seq| SyncConfig {
            hash_size: 65_536,
            ..SyncConfig::ftfw(seq)
        };
        let mut a = SyncNode::new(cfg(1), start);
        let mut b = SyncNode::new(cfg(1 << 30), start);
        // The HELLO handshake first, as in the daemons (otherwise every message carries
        // HELLO and the receiver reports each one).
        let mut t0 = start;
        for _ in 0..4 {
            t0 += Duration::from_secs(2);
            a.handle_timeout(t0);
            b.handle_timeout(t0);
            while let Some(d) = a.poll_transmit(t0) {
                b.handle_datagram(t0, &d);
            }
            while let Some(d) = b.poll_transmit(t0) {
                a.handle_datagram(t0, &d);
            }
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
        assert!(a.hello_done() && b.hello_done(), "no handshake");
        let events: Vec<CtEvent> = cts.iter().cloned().map(CtEvent::New).collect();
        let mut out = Vec::with_capacity(cts.len() / 10);
        let start = process_cpu_time();
        for (i, ev) in events.into_iter().enumerate() {
            a.handle_kernel_event(t0, ev, Origin::NotMe);
            if i % 100 == 99 {
                out.extend(std::iter::from_fn(|| a.poll_transmit(t0)));
            }
        }
        out.extend(std::iter::from_fn(|| a.poll_transmit(t0)));
        tx.push((process_cpu_time() - start).as_secs_f64() * 1e9 / n);
        let start = process_cpu_time();
        for d in &out {
            b.handle_datagram(t0, d);
        }
        rx.push((process_cpu_time() - start).as_secs_f64() * 1e9 / n);
        assert_eq!(
            b.external().ct.len(),
            cts.len(),
            "the peer holds every entry"
        );
    }
    tx.sort_by(f64::total_cmp);
    rx.sort_by(f64::total_cmp);
    (tx[tx.len() / 2], rx[rx.len() / 2])
}

/// `--floor`: the event path without the daemon's own work, in namespace `a` of a fresh lab.
fn event_floor_runs(cts: &[CtRepr], runs: usize) {
    let n = cts.len() as u64;
    let lab = Lab::new("ctf");
    let a = lab.add_node("a");
    let b = lab.add_node("b");
    a.add_addr(NODE_IF, "203.0.113.1/24");
    b.add_addr(NODE_IF, "203.0.113.2/24");
    // A receiver in b that never reads: its buffer fills and the rest is dropped there.
    let sink = b.enter(|| std::net::UdpSocket::bind("203.0.113.2:3780").expect("bind in b"));
    println!("\nevent path floor, {n} UDP conntracks created on a, median of {runs} runs:");
    println!("| reader | µs CPU/event | events | datagrams | recvmmsg calls | wake-ups | sent |");
    println!("|---|---|---|---|---|---|---|");
    for (name, to) in [
        ("recv only", None),
        (
            "recv + UDP send",
            Some("203.0.113.2:3780".parse().expect("addr")),
        ),
    ] {
        let mut got = Vec::new();
        for _ in 0..runs.max(1) {
            flush_kernel(&a).expect("flush a");
            let (tx, rx) = std::sync::mpsc::channel();
            let reader = {
                let a = a.clone();
                std::thread::spawn(move || {
                    a.enter(|| {
                        examples::ctsyncd::event_floor(n, 16 << 20, to, Duration::from_secs(5), tx)
                    })
                })
            };
            rx.recv_timeout(WAIT).expect("the reader never subscribed");
            a.enter(|| {
                let mut s = CtnlSocket::open().expect("ctnetlink socket");
                let rep = s.commit(cts, CommitConfig::default()).expect("inject");
                assert_eq!(rep.stats.created, n, "the injector created {n}");
            });
            let f = reader
                .join()
                .expect("reader panicked")
                .expect("event reader");
            if f.overrun || f.events != n {
                eprintln!(
                    "{name}: the reader's socket overran ({} of {n} events read): run not counted",
                    f.events
                );
                continue;
            }
            got.push(f);
        }
        if got.is_empty() {
            println!("| {name} | - (every run overran) | | | | | |");
            continue;
        }
        got.sort_by_key(|f| f.cpu);
        let f = got[got.len() / 2];
        println!(
            "| {name} | {:.2} | {} | {} | {} | {} | {} |",
            f.cpu.as_secs_f64() * 1e6 / n as f64,
            f.events,
            f.datagrams,
            f.reads,
            f.wakeups,
            f.sent
        );
    }
    drop(sink);
    flush_kernel(&a).expect("flush a");
}

fn main() {
    let mut n: u32 = 100_000;
    let mut runs: usize = 3;
    let mut daemons = vec![Impl::Ctsyncd, Impl::Conntrackd];
    let mut ctsyncd: Option<String> = None;
    let mut library_only = false;
    let mut pause = None;
    let mut floor = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--n" => n = val().parse().expect("--n N"),
            "--runs" => runs = val().parse().expect("--runs R"),
            "--ctsyncd" => ctsyncd = Some(val()),
            "--library" => library_only = true,
            "--floor" => floor = true,
            "--pause-ms" => {
                pause = Some(Duration::from_millis(val().parse().expect("--pause-ms MS")));
            }
            "--daemons" => {
                daemons = val()
                    .split(',')
                    .map(|d| match d {
                        "ctsyncd" => Impl::Ctsyncd,
                        "conntrackd" => Impl::Conntrackd,
                        _ => panic!("unknown daemon {d}"),
                    })
                    .collect();
            }
            _ => panic!(
                "usage: ct_sync_bench [--n N] [--runs R] [--daemons ctsyncd,conntrackd] \
                 [--ctsyncd PATH] [--library] [--floor] [--pause-ms MS]"
            ),
        }
    }
    let ctsyncd = ctsyncd.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent()
            .and_then(Path::parent)
            .map(|d| d.join("ctsyncd").display().to_string())
            .expect("target directory")
    });
    if daemons.contains(&Impl::Ctsyncd) {
        assert!(
            Path::new(&ctsyncd).is_file(),
            "no ctsyncd at {ctsyncd}: build it (cargo build --release -p examples --bin ctsyncd) \
             or pass --ctsyncd PATH"
        );
    }
    if daemons.contains(&Impl::Conntrackd) {
        require_bin("conntrackd");
    }
    let cts = entries(n);
    let (tx_ns, rx_ns) = sans_io(&cts, 5);
    if library_only {
        println!(
            "library alone, {n} entries, median of 5: sender {tx_ns:.0} ns/event, receiver {rx_ns:.0} ns/entry"
        );
        return;
    }
    if floor {
        event_floor_runs(&cts, runs);
        return;
    }
    let lab = Lab::new("ctb");
    let a = lab.add_node("a");
    let b = lab.add_node("b");
    a.add_addr(NODE_IF, "203.0.113.1/24");
    b.add_addr(NODE_IF, "203.0.113.2/24");
    // A namespace's table limit is the host's (read-only inside the namespace).
    let max: usize = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        max >= cts.len(),
        "net.netfilter.nf_conntrack_max is {max}, below N = {n}: raise it on the host"
    );

    let mut results: Vec<(Impl, Vec<RunResult>)> = Vec::new();
    for &which in &daemons {
        let bin = match which {
            Impl::Ctsyncd => ctsyncd.as_str(),
            Impl::Conntrackd => "conntrackd",
        };
        let mut v = Vec::new();
        for i in 0..runs {
            match run_once(which, bin, &lab, &a, &b, &cts, pause) {
                Ok(r) => v.push(r),
                Err(e) => {
                    eprintln!("{} run {i}: {e}", which.name());
                    for f in ["a.log", "b.log"] {
                        let log = std::fs::read_to_string(lab.dir().join(f)).unwrap_or_default();
                        let tail: Vec<&str> = log.lines().rev().take(20).collect();
                        eprintln!("== {f}:");
                        for l in tail.iter().rev() {
                            eprintln!("{l}");
                        }
                    }
                    std::process::exit(1);
                }
            }
        }
        results.push((which, v));
    }

    let nf = f64::from(n);
    println!(
        "\nFTFW/UDP, {n} UDP conntracks, median of {runs} runs (fresh daemons each run); \
         CPU = utime+stime [schedstat]"
    );
    println!(
        "| phase | daemon | time | entries/s | CPU a (s) | CPU b (s) | µs CPU/entry a | µs CPU/entry b |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    type Pick = fn(&RunResult) -> Phase;
    let phases: [(&str, Pick); 3] = [
        ("event", |r| r.event),
        ("resync", |r| r.resync),
        ("commit", |r| r.commit),
    ];
    let mut cells = Vec::new();
    for (pname, pick) in phases {
        for (which, v) in &results {
            let c = cell(v, pick);
            println!(
                "| {pname} | {} | {:.3} s | {:.0} | {:.2} [{:.3}] | {:.2} [{:.3}] | {:.2} | {:.2} |",
                which.name(),
                c.wall,
                nf / c.wall,
                c.a_ticks,
                c.a_sched,
                c.b_ticks,
                c.b_sched,
                c.a_sched * 1e6 / nf,
                c.b_sched * 1e6 / nf,
            );
            cells.push((pname, *which, c));
        }
    }
    let find = |p: &str, w: Impl| {
        cells
            .iter()
            .find(|(q, x, _)| *q == p && *x == w)
            .map(|c| c.2)
    };
    if daemons.len() == 2 {
        println!("\nratios ctsyncd / conntrackd (time; CPU a; CPU b):");
        for (p, _) in phases {
            if let (Some(x), Some(y)) = (find(p, Impl::Ctsyncd), find(p, Impl::Conntrackd)) {
                let r = |a: f64, b: f64| {
                    if b > 0.0 {
                        format!("{:.2}", a / b)
                    } else {
                        "-".into()
                    }
                };
                println!(
                    "  {p:>6}: time {} ; cpu a {} ; cpu b {}",
                    r(x.wall, y.wall),
                    r(x.a_sched, y.a_sched),
                    r(x.b_sched, y.b_sched)
                );
            }
        }
    }
    for (which, v) in &results {
        println!(
            "{}: injection {:.3} s (median), b's `Packets lost` after the event phase: {:?}",
            which.name(),
            median_by(v, |r| r.inject.as_secs_f64()),
            v.iter().map(|r| r.lost).collect::<Vec<_>>()
        );
    }
    println!(
        "library alone (ct-sync SyncNode, no I/O, median of 5): sender {tx_ns:.0} ns CPU per \
         event (handle_kernel_event + poll_transmit), receiver {rx_ns:.0} ns CPU per entry \
         (handle_datagram)"
    );
    println!(
        "\ncommand: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
}
