//! Kea HA benchmark: a dhcp4d pair and a kea-dhcp4 2.2 pair with the same configuration
//! (hot-standby, then load-balancing), each driven by two load generators in one run — ISC's
//! perfdhcp and hakit's own ([`examples::dhcpload`], which costs far less CPU per DORA, so
//! that the servers and not the client set the ceiling); and the failover gap (how long
//! clients get no ACK after SIGKILL of the primary) of both pairs with the same timers.
//!
//! * **DORA/s at ≤ 2.5 % drops**, per generator: `perfdhcp -R CLIENTS -r RATE -p SECONDS`, or
//!   the hakit generator with the same clients, rate and period; the rate doubled from 250
//!   until a step fails, then bisected; the figure is ACKs / SECONDS of the best passing
//!   step. Every ACK waits for the partner's `lease4-update` acknowledgement.
//! * **CPU per 1000 DORA**, per generator: utime + stime (`/proc/PID/stat`) of both servers of
//!   the pair over one run at a fixed rate both pairs sustain (`--cpu-rate`, default 1000/s),
//!   per 1000 ACKs; and the generator's own CPU per 1000 ACKs. The two runs at that rate are
//!   also the cross-check of the generators: the same pair, the same rate, their ACK counts.
//! * **Failover**: hot-standby, heartbeat 1 s, max-response-delay 3 s, max-unacked-clients 0;
//!   perfdhcp at 50 DORA/s, SIGKILL of server1 after 4 s; from tcpdump's timestamps in the
//!   client namespace, the longest time without an ACK around the kill; the time from the
//!   kill to the standby's partner-down (`status-get` polled every 50 ms); the ACKed
//!   addresses missing from the standby afterwards.
//!
//! Only TEST-NET addresses: pool 192.0.2.10–250, so perfdhcp's clients return and renew (one
//! memfile row and one lease update per ACK): 241 clients in hot-standby; in load-balancing
//! the pool is split as Kea's documentation does (192.0.2.10–129 for `HA_server1`,
//! 192.0.2.130–250 for `HA_server2`) and 200 clients leave each half room for the clients
//! the hash gives it.
//!
//! ```text
//! cargo build --release -p examples --bin dhcp4d --example dhcp_ha_bench
//! sudo $CARGO_TARGET_DIR/release/examples/dhcp_ha_bench [--seconds N] [--modes hs,lb]
//!     [--impls dhcp4d,kea] [--skip-failover] [--dhcp4d PATH] [--ha-connections N]
//!     [--cpu-rate R] [--cpu-only] [--load perfdhcp|hakit|both]
//! ```
//!
//! Needs root, iproute2, perfdhcp, tcpdump and kea-dhcp4 with the HA and lease_cmds hooks
//! (perfdhcp also with `--load hakit`: the failover part runs it).

mod dhcp_common;

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dhcp_common::{CLK_TCK, Generator, Run, hakit, hakit_config, load, perfdhcp};
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_until};
use serde_json::{Value, json};

const LEASE_CMDS: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";
const HA_LIB: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so";
const SRV_IP: [&str; 2] = ["192.0.2.1", "192.0.2.3"];
const CLI_IP: &str = "192.0.2.2";
/// perfdhcp's clients in hot-standby: as many as the pool's addresses.
const CLIENTS: u32 = 241;
/// perfdhcp's clients in load-balancing: fewer than each split pool's half can take after
/// the hash's imbalance.
const CLIENTS_LB: u32 = 200;
/// The load-balancing pools: `HA_server1`'s and `HA_server2`'s halves of 192.0.2.10–250.
const LB_POOLS: [&str; 2] = ["192.0.2.10 - 192.0.2.129", "192.0.2.130 - 192.0.2.250"];
const MAX_DROPS: f64 = 2.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Dhcp4d,
    Kea,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Self::Dhcp4d => "dhcp4d",
            Self::Kea => "kea",
        }
    }
}

struct Args {
    seconds: u32,
    modes: Vec<&'static str>,
    impls: Vec<Impl>,
    failover: bool,
    dhcp4d: PathBuf,
    /// `--ha-connections N` for dhcp4d (its default when absent).
    ha_connections: Option<u32>,
    /// The fixed rate of the CPU measurement.
    cpu_rate: u32,
    /// `--cpu-only`: no rate search.
    cpu_only: bool,
    /// `--load`: the generators, in the order they run against each pair.
    loads: Vec<Generator>,
}

fn args() -> Args {
    let exe = std::env::current_exe().expect("current exe");
    let mut a = Args {
        seconds: 5,
        modes: vec!["hot-standby", "load-balancing"],
        impls: vec![Impl::Dhcp4d, Impl::Kea],
        failover: true,
        dhcp4d: exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("dhcp4d"))
            .unwrap_or_default(),
        ha_connections: None,
        cpu_rate: 1000,
        cpu_only: false,
        loads: vec![Generator::Perfdhcp, Generator::Hakit],
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{x} needs a value"));
        match x.as_str() {
            "--seconds" => a.seconds = v().parse().expect("--seconds N"),
            "--modes" => {
                a.modes = v()
                    .split(',')
                    .map(|m| match m {
                        "hs" | "hot-standby" => "hot-standby",
                        "lb" | "load-balancing" => "load-balancing",
                        o => panic!("unknown mode {o}"),
                    })
                    .collect();
            }
            "--impls" => {
                a.impls = v()
                    .split(',')
                    .map(|m| match m {
                        "dhcp4d" => Impl::Dhcp4d,
                        "kea" => Impl::Kea,
                        o => panic!("unknown implementation {o}"),
                    })
                    .collect();
            }
            "--skip-failover" => a.failover = false,
            "--dhcp4d" => a.dhcp4d = v().into(),
            "--ha-connections" => {
                a.ha_connections = Some(v().parse().expect("--ha-connections N"));
            }
            "--cpu-rate" => a.cpu_rate = v().parse().expect("--cpu-rate R"),
            "--cpu-only" => a.cpu_only = true,
            "--load" => {
                let o = v();
                a.loads = Generator::parse_list(&o)
                    .unwrap_or_else(|| panic!("--load perfdhcp|hakit|both, not {o}"));
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        a.dhcp4d.is_file(),
        "{} not found: build it (cargo build --release -p examples --bin dhcp4d) or pass --dhcp4d",
        a.dhcp4d.display()
    );
    a
}

struct Bench {
    lab: Lab,
    srv: [Node; 2],
    cli: Node,
    dhcp4d: PathBuf,
    ha_connections: Option<u32>,
    /// The generator of the warm-up DORA.
    warm_up: Generator,
}

impl Bench {
    fn sock(&self, i: usize) -> PathBuf {
        self.lab.dir().join(format!("ctrl{}.sock", i + 1))
    }

    fn config(&self, i: usize, mode: &str) -> Value {
        let role2 = if mode == "load-balancing" {
            "secondary"
        } else {
            "standby"
        };
        let dir = self.lab.dir();
        let pools = if mode == "load-balancing" {
            json!([ { "pool": LB_POOLS[0], "client-class": "HA_server1" },
                    { "pool": LB_POOLS[1], "client-class": "HA_server2" } ])
        } else {
            json!([ { "pool": "192.0.2.10 - 192.0.2.250" } ])
        };
        json!({ "Dhcp4": {
            "interfaces-config": { "interfaces": [NODE_IF] },
            "control-socket": { "socket-type": "unix", "socket-name": self.sock(i) },
            "lease-database": { "type": "memfile", "persist": true,
                                "name": dir.join(format!("leases{}.csv", i + 1)), "lfc-interval": 0 },
            "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2,
                                 "packet-queue-size": 64 },
            "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
            "hooks-libraries": [
                { "library": LEASE_CMDS },
                { "library": HA_LIB, "parameters": { "high-availability": [ {
                    "this-server-name": format!("server{}", i + 1), "mode": mode,
                    "heartbeat-delay": 1000, "max-response-delay": 3000, "max-ack-delay": 1000,
                    "max-unacked-clients": 0, "sync-page-limit": 10000,
                    "multi-threading": { "enable-multi-threading": true,
                        "http-dedicated-listener": true, "http-listener-threads": 2,
                        "http-client-threads": 2 },
                    "peers": [
                        { "name": "server1", "url": format!("http://{}:8001/", SRV_IP[0]),
                          "role": "primary", "auto-failover": true },
                        { "name": "server2", "url": format!("http://{}:8001/", SRV_IP[1]),
                          "role": role2, "auto-failover": true } ] } ] } }
            ],
            "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": pools } ],
            "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                           "output_options": [ { "output": dir.join(format!("server{}.log", i + 1)) } ] } ]
        } })
    }

    fn start(&self, i: usize, which: Impl, mode: &str) -> Proc {
        let dir = self.lab.dir();
        let path = dir.join(format!("server{}.conf", i + 1));
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&self.config(i, mode)).unwrap(),
        )
        .unwrap();
        let sock = self.sock(i);
        let _ = std::fs::remove_file(&sock);
        let p = path.to_str().unwrap();
        let mut proc = match which {
            Impl::Dhcp4d => {
                let n = self.ha_connections.map(|n| n.to_string());
                let mut cmd = vec![self.dhcp4d.to_str().unwrap(), "-c", p];
                if let Some(n) = &n {
                    cmd.extend(["--ha-connections", n.as_str()]);
                }
                self.srv[i].spawn(&cmd)
            }
            Impl::Kea => {
                let kea = require_bin("kea-dhcp4");
                let d = dir.join(format!("kea{}", i + 1));
                std::fs::create_dir_all(&d).unwrap();
                let d = d.to_str().unwrap();
                self.srv[i].spawn(&[
                    "env",
                    &format!("KEA_PIDFILE_DIR={d}"),
                    &format!("KEA_LOCKFILE_DIR={d}"),
                    kea.to_str().unwrap(),
                    "-c",
                    p,
                ])
            }
        };
        wait_until(Duration::from_secs(30), "control socket", || {
            assert!(proc.is_running(), "server{} exited: {}", i + 1, proc.log());
            UnixStream::connect(&sock).is_ok()
        });
        proc
    }

    /// Prints how many warnings and errors each server logged, by message id.
    fn log_summary(&self) {
        for i in 0..2 {
            let path = self.lab.dir().join(format!("server{}.log", i + 1));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut ids = std::collections::BTreeMap::<String, usize>::new();
            for l in text.lines() {
                if let Some(id) = l.split_whitespace().nth(4) {
                    *ids.entry(id.to_owned()).or_default() += 1;
                }
            }
            eprintln!("  server{} logged {ids:?}", i + 1);
            let _ = std::fs::remove_file(&path);
        }
    }

    fn state(&self, i: usize) -> String {
        let a = command(&self.sock(i), "status-get");
        a["arguments"]["high-availability"][0]["ha-servers"]["local"]["state"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    fn pair(&self, which: Impl, mode: &str) -> [Proc; 2] {
        for i in 0..2 {
            let _ = std::fs::remove_file(self.lab.dir().join(format!("leases{}.csv", i + 1)));
        }
        let a = self.start(0, which, mode);
        let b = self.start(1, which, mode);
        wait_until(Duration::from_secs(30), "both servers normal", || {
            self.state(0) == mode && self.state(1) == mode
        });
        let clients = clients(mode);
        let n = clients.to_string();
        wait_until(Duration::from_secs(30), "the warm-up DORA", || {
            let acks = match self.warm_up {
                Generator::Perfdhcp => perfdhcp(&self.cli, clients, &["-r", "200", "-n", &n]).acks,
                Generator::Hakit => {
                    let mut cfg = hakit_config(clients, 200, 5);
                    cfg.max_exchanges = Some(u64::from(clients));
                    hakit(&self.cli, &cfg).acks
                }
            };
            acks >= u64::from(clients) * 9 / 10
        });
        [a, b]
    }
}

fn command(sock: &Path, command: &str) -> Value {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return Value::Null;
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(json!({ "command": command }).to_string().as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

/// perfdhcp's clients in `mode`.
fn clients(mode: &str) -> u32 {
    if mode == "load-balancing" {
        CLIENTS_LB
    } else {
        CLIENTS
    }
}

/// Highest DORA/s with drops ≤ 2.5 % (`clients` clients, generator `gen`), and the
/// generator's CPU ms per 1000 DORA at that step.
fn search(cli: &Node, generator: Generator, clients: u32, secs: u32) -> (f64, f64) {
    let mut best = (0.0f64, f64::NAN);
    let mut try_rate = |r: u32| {
        let run = load(cli, generator, clients, r, secs);
        let rate = run.acks as f64 / f64::from(secs);
        eprintln!(
            "    {} -r {r:>6}: {rate:>8.1} DORA/s, drops {:>5.2} %, generator {:>5.1} CPU ms / 1000 DORA",
            generator.name(),
            run.drop_pct,
            run.gen_ms_per_1000()
        );
        let ok = run.drop_pct <= MAX_DROPS;
        if ok && rate > best.0 {
            best = (rate, run.gen_ms_per_1000());
        }
        ok
    };
    let (mut lo, mut hi) = (0u32, 0u32);
    let mut r = 250;
    while r <= 64_000 {
        if try_rate(r) {
            lo = r;
            r *= 2;
        } else {
            hi = r;
            break;
        }
    }
    if hi == 0 {
        hi = r;
    }
    for _ in 0..4 {
        if hi - lo <= lo / 20 + 25 {
            break;
        }
        let mid = (lo + hi) / 2;
        if try_rate(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    best
}

/// (utime, stime) of process `pid` in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which ends with ')') start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (n(14), n(15))
}

/// Both servers' CPU time over one run at `rate` DORA/s, in ms per 1000 ACKs.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    /// utime + stime.
    total: f64,
    /// utime: the servers' own code, without the kernel's (sockets, the veth/bridge path of
    /// every packet sent, the lease file).
    user: f64,
}

/// Measures [`Cpu`] over one run of `generator` at `rate`.
fn cpu_per_1000(
    b: &Bench,
    procs: &[Proc; 2],
    generator: Generator,
    clients: u32,
    rate: u32,
    secs: u32,
) -> (Cpu, Run) {
    let pids = [procs[0].pid(), procs[1].pid()];
    let sum = || {
        pids.iter()
            .map(|&p| cpu_ticks(p))
            .fold((0, 0), |a, t| (a.0 + t.0, a.1 + t.1))
    };
    let before = sum();
    let run = load(&b.cli, generator, clients, rate, secs);
    let after = sum();
    let per_1000 = |ticks: u64| ticks as f64 / CLK_TCK * 1000.0 / (run.acks.max(1) as f64 / 1000.0);
    let user = after.0 - before.0;
    let total = user + after.1 - before.1;
    (
        Cpu {
            total: per_1000(total),
            user: per_1000(user),
        },
        run,
    )
}

/// (timestamp, source, yiaddr) of the ACKs in a pcap file (Ethernet, IPv4, UDP).
fn acks(bytes: &[u8]) -> Vec<(f64, [u8; 4], [u8; 4])> {
    let mut out = Vec::new();
    if bytes.len() < 24 {
        return out;
    }
    let magic = &bytes[..4];
    let le = matches!(magic, [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]);
    let nanos = matches!(magic, [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]);
    let u32_at = |i: usize| {
        let a: [u8; 4] = bytes[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let ts = f64::from(u32_at(i)) + f64::from(u32_at(i + 4)) / if nanos { 1e9 } else { 1e6 };
        let len = u32_at(i + 8) as usize;
        let Some(f) = bytes.get(i + 16..i + 16 + len) else {
            break;
        };
        i += 16 + len;
        if f.len() < 14 + 20 + 8 + 240 || f[12..14] != [8, 0] || f[23] != 17 {
            continue;
        }
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let d = &f[14 + ihl + 8..];
        if d.len() < 240 || d[0] != 2 {
            continue;
        }
        // Option 53 = 5 (ACK), scanned in the options field.
        let mut j = 240;
        let mut ack = false;
        while j + 1 < d.len() && d[j] != 255 {
            if d[j] == 0 {
                j += 1;
                continue;
            }
            let l = usize::from(d[j + 1]);
            if d[j] == 53 && l == 1 && d.get(j + 2) == Some(&5) {
                ack = true;
            }
            j += 2 + l;
        }
        if ack {
            out.push((
                ts,
                [f[26], f[27], f[28], f[29]],
                [d[16], d[17], d[18], d[19]],
            ));
        }
    }
    out
}

/// One row of a generator's table.
struct Row {
    mode: &'static str,
    which: Impl,
    generator: Generator,
    /// DORA/s at ≤ 2.5 % drops.
    best: f64,
    /// Both servers' CPU at `--cpu-rate`.
    cpu: Cpu,
    /// The generator's CPU ms per 1000 DORA at the best step.
    gen_cpu: f64,
}

/// The generators' runs at `--cpu-rate` against one pair.
struct Check {
    mode: &'static str,
    which: Impl,
    runs: Vec<(Generator, Run)>,
}

struct Failover {
    which: Impl,
    partner_down: f64,
    gap: f64,
    lost: usize,
    acked: usize,
}

fn failover(b: &Bench, which: Impl) -> Failover {
    let [d1, _d2] = b.pair(which, "hot-standby");
    let tcpdump = require_bin("tcpdump");
    let pcap = b.lab.dir().join(format!("failover-{}.pcap", which.name()));
    let mut cap = b.cli.spawn(&[
        tcpdump.to_str().unwrap(),
        "-p",
        "-n",
        "-U",
        "-i",
        NODE_IF,
        "-w",
        pcap.to_str().unwrap(),
        "udp and src port 67 and not src host 192.0.2.2",
    ]);
    wait_until(Duration::from_secs(5), "tcpdump", || {
        cap.log().contains("listening on")
    });
    let perf = require_bin("perfdhcp");
    let mut load = b.cli.spawn(&[
        perf.to_str().unwrap(),
        "-4",
        "-l",
        NODE_IF,
        "-R",
        "241",
        "-r",
        "50",
        "-p",
        "14",
    ]);
    // A benchmark, not a test: a fixed point in the load.
    std::thread::sleep(Duration::from_secs(4));
    d1.signal(libc::SIGKILL);
    let killed = Instant::now();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut partner_down = f64::NAN;
    while killed.elapsed() < Duration::from_secs(30) {
        if b.state(1) == "partner-down" {
            partner_down = killed.elapsed().as_secs_f64();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = load.wait_exit(Duration::from_secs(60));
    let _ = cap.terminate(Duration::from_secs(5));
    let all = acks(&std::fs::read(&pcap).unwrap_or_default());
    let mut gap = 0.0f64;
    for w in all.windows(2) {
        // Gaps that start within 5 s before the kill.
        if w[0].0 > wall - 5.0 {
            gap = gap.max(w[1].0 - w[0].0);
        }
    }
    let standby = command(&b.sock(1), "lease4-get-all");
    let have: std::collections::BTreeSet<String> = standby["arguments"]["leases"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|x| x["ip-address"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let acked: std::collections::BTreeSet<String> = all
        .iter()
        .map(|(_, _, a)| std::net::Ipv4Addr::from(*a).to_string())
        .collect();
    let lost = acked.difference(&have).count();
    eprintln!(
        "  {}: partner-down after {partner_down:.2} s, longest gap without an ACK {gap:.2} s, \
         {lost} of {} ACKed addresses missing on the standby",
        which.name(),
        acked.len()
    );
    Failover {
        which,
        partner_down,
        gap,
        lost,
        acked: acked.len(),
    }
}

fn main() {
    Lab::require_root();
    require_bin("perfdhcp");
    require_bin("kea-dhcp4");
    for lib in [LEASE_CMDS, HA_LIB] {
        assert!(Path::new(lib).exists(), "{lib} missing");
    }
    let a = args();
    let lab = Lab::new("hab");
    let s1 = lab.add_node("s1");
    let s2 = lab.add_node("s2");
    let cli = lab.add_node("cli");
    s1.add_addr(NODE_IF, &format!("{}/24", SRV_IP[0]));
    s2.add_addr(NODE_IF, &format!("{}/24", SRV_IP[1]));
    cli.add_addr(NODE_IF, &format!("{CLI_IP}/24"));
    let b = Bench {
        lab,
        srv: [s1, s2],
        cli,
        dhcp4d: a.dhcp4d.clone(),
        ha_connections: a.ha_connections,
        warm_up: a.loads[0],
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut checks: Vec<Check> = Vec::new();
    for &mode in &a.modes {
        for &which in &a.impls {
            eprintln!("== {} pair, {mode}", which.name());
            let procs = b.pair(which, mode);
            let clients = clients(mode);
            // The fixed-rate runs first, one per generator, back to back: the CPU column and
            // the generators' cross-check.
            let mut fixed_runs = Vec::new();
            for &generator in &a.loads {
                let (cpu, fixed) =
                    cpu_per_1000(&b, &procs, generator, clients, a.cpu_rate, a.seconds);
                eprintln!(
                    "  {} at -r {}: {} ACKs ({:.2} % drops), both servers {:.1} CPU ms per 1000 DORA ({:.1} user), generator {:.1}",
                    generator.name(),
                    a.cpu_rate,
                    fixed.acks,
                    fixed.drop_pct,
                    cpu.total,
                    cpu.user,
                    fixed.gen_ms_per_1000()
                );
                fixed_runs.push((generator, cpu, fixed));
            }
            checks.push(Check {
                mode,
                which,
                runs: fixed_runs.iter().map(|&(g, _, r)| (g, r)).collect(),
            });
            for (generator, cpu, _) in fixed_runs {
                let (best, gen_cpu) = if a.cpu_only {
                    (f64::NAN, f64::NAN)
                } else {
                    search(&b.cli, generator, clients, a.seconds)
                };
                eprintln!("  {}: best {best:.0} DORA/s", generator.name());
                rows.push(Row {
                    mode,
                    which,
                    generator,
                    best,
                    cpu,
                    gen_cpu,
                });
            }
            drop(procs);
            b.log_summary();
        }
    }
    let fails: Vec<Failover> = if a.failover {
        a.impls
            .iter()
            .map(|&w| {
                eprintln!("== failover, {} pair", w.name());
                failover(&b, w)
            })
            .collect()
    } else {
        Vec::new()
    };
    for &generator in &a.loads {
        println!("\nLoad generator: {}\n", generator.name());
        println!(
            "| pair | mode | DORA/s (≤2.5 % drops) | vs kea | CPU ms / 1000 DORA at {}/s, both servers: total (user) | kea ÷ pair: total (user) | generator CPU ms / 1000 DORA at the best step |",
            a.cpu_rate
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        let mine = || rows.iter().filter(|r| r.generator == generator);
        for r in mine() {
            let kea = mine().find(|k| k.mode == r.mode && k.which == Impl::Kea);
            let (kea_best, kt, ku) = kea.map_or((f64::NAN, f64::NAN, f64::NAN), |k| {
                (k.best, k.cpu.total, k.cpu.user)
            });
            println!(
                "| {} | {} | {:.0} | {:.2}× | {:.1} ({:.1}) | {:.1}× ({:.1}×) | {:.1} |",
                r.which.name(),
                r.mode,
                r.best,
                r.best / kea_best,
                r.cpu.total,
                r.cpu.user,
                kt / r.cpu.total,
                ku / r.cpu.user,
                r.gen_cpu
            );
        }
    }
    if a.loads.len() > 1 {
        let names: Vec<&str> = a.loads.iter().map(|g| g.name()).collect();
        println!(
            "\nCross-check at {}/s, the same pair: ACKs (drops) and the generator's CPU ms / 1000 DORA\n",
            a.cpu_rate
        );
        println!(
            "| pair | mode | {} | {} ÷ {} ACKs |",
            names
                .iter()
                .map(|n| format!("{n}: ACKs (drops), CPU"))
                .collect::<Vec<_>>()
                .join(" | "),
            names[1],
            names[0]
        );
        println!("|{}", " --- |".repeat(3 + names.len()));
        for c in &checks {
            let cells: Vec<String> = c
                .runs
                .iter()
                .map(|(_, r)| {
                    format!(
                        "{} ({:.2} %), {:.1}",
                        r.acks,
                        r.drop_pct,
                        r.gen_ms_per_1000()
                    )
                })
                .collect();
            let ratio = match c.runs.as_slice() {
                [(_, x), (_, y), ..] => y.acks as f64 / x.acks.max(1) as f64,
                _ => f64::NAN,
            };
            println!(
                "| {} | {} | {} | {ratio:.3} |",
                c.which.name(),
                c.mode,
                cells.join(" | ")
            );
        }
    }
    if !fails.is_empty() {
        println!(
            "\n| pair | SIGKILL → standby partner-down | longest gap without an ACK | ACKed addresses missing on the standby |"
        );
        println!("| --- | --- | --- | --- |");
        for f in &fails {
            println!(
                "| {} | {:.2} s | {:.2} s | {} of {} |",
                f.which.name(),
                f.partner_down,
                f.gap,
                f.lost,
                f.acked
            );
        }
    }
}
