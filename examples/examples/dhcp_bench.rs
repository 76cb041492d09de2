//! DHCPv4 throughput benchmark: perfdhcp against dhcp4d and kea-dhcp4 (single-threaded and
//! multi-threaded) with the same kea-dhcp4.conf, memfile on, in one run; and the cost of a
//! 1M-lease memfile (load time, memory) for dhcp4d and Kea.
//!
//! For each server and each load generator (`--load`: ISC's perfdhcp, hakit's own
//! [`examples::dhcpload`] with the same clients, or both):
//! * **DORA/s at ≤ 2.5 % drops**: `perfdhcp -r RATE -p SECONDS` (or the same load from
//!   hakit's generator), the rate doubled until an exchange fails (drops above 2.5 % in
//!   DISCOVER-OFFER or REQUEST-ACK), then bisected; the figure is the ACKs per second of the
//!   best passing step, and the generator's own CPU per 1000 DORA at that step.
//! * **CPU per 1000 DORA**: the server's utime + stime (`/proc/PID/stat`) over a run at one
//!   fixed rate for every server, divided by the ACKs the generator received.
//!
//! Only TEST-NET addresses go on the wire, so the pool is 192.0.2.10–250 (241 addresses) and
//! perfdhcp runs with `-R 241`: after a warm-up that creates the 241 leases, every DORA is a
//! returning client whose lease is renewed (one memfile row per ACK, as for a new client).
//! ISC's and the reference figures use unique clients in a /8; compare implementations only
//! side by side in one run.
//!
//! The 1M-lease part writes a memfile of 1,000,000 distinct leases in 240.0.0.0/8 (class E,
//! reserved, never routable: lease records only, no address is configured or sent; the
//! servers run in a namespace with loopback only) and measures the time from the start to the
//! server's first control answer (both answer only once the leases are loaded), and its
//! VmRSS then.
//!
//! ```text
//! cargo build --release -p examples --bin dhcp4d --example dhcp_bench
//! sudo $CARGO_TARGET_DIR/release/examples/dhcp_bench [--seconds N] [--fixed-rate R]
//!     [--servers dhcp4d,dhcp4d-fsync,kea-st,kea-mt] [--skip-1m | --only-1m] [--dhcp4d PATH]
//!     [--load perfdhcp|hakit|both]
//! ```
//!
//! Needs root, iproute2, perfdhcp and kea-dhcp4 (with the lease_cmds hook for the 1M part).

mod dhcp_common;

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dhcp_common::{CLK_TCK, Generator, Run, hakit, hakit_config, load, perfdhcp};
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_until};
use serde_json::{Value, json};

const LEASE_CMDS: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";
const CLIENTS: u32 = 241;
const MAX_DROPS: f64 = 2.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dhcp4d,
    Dhcp4dFsync,
    KeaSt,
    KeaMt,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Dhcp4d => "dhcp4d",
            Self::Dhcp4dFsync => "dhcp4d-fsync",
            Self::KeaSt => "kea-st",
            Self::KeaMt => "kea-mt",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Dhcp4d, Self::Dhcp4dFsync, Self::KeaSt, Self::KeaMt]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

struct Args {
    seconds: u32,
    fixed_rate: u32,
    servers: Vec<Kind>,
    skip_1m: bool,
    only_1m: bool,
    dhcp4d: PathBuf,
    /// `--load`: the generators, in the order they run against each server.
    loads: Vec<Generator>,
}

fn args() -> Args {
    let exe = std::env::current_exe().expect("current exe");
    let mut a = Args {
        seconds: 5,
        fixed_rate: 2000,
        servers: vec![Kind::Dhcp4d, Kind::Dhcp4dFsync, Kind::KeaSt, Kind::KeaMt],
        skip_1m: false,
        only_1m: false,
        dhcp4d: exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("dhcp4d"))
            .unwrap_or_default(),
        loads: vec![Generator::Perfdhcp, Generator::Hakit],
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{x} needs a value"));
        match x.as_str() {
            "--seconds" => a.seconds = v().parse().expect("--seconds N"),
            "--fixed-rate" => a.fixed_rate = v().parse().expect("--fixed-rate R"),
            "--servers" => {
                a.servers = v()
                    .split(',')
                    .map(|s| Kind::parse(s).unwrap_or_else(|| panic!("unknown server {s}")))
                    .collect();
            }
            "--skip-1m" => a.skip_1m = true,
            "--only-1m" => a.only_1m = true,
            "--dhcp4d" => a.dhcp4d = v().into(),
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

fn config(dir: &Path, kind: Kind, interfaces: Value, subnets: Value) -> Value {
    let mt = kind == Kind::KeaMt;
    json!({ "Dhcp4": {
        "interfaces-config": { "interfaces": interfaces },
        "control-socket": { "socket-type": "unix", "socket-name": dir.join(format!("{}.sock", kind.name())) },
        "lease-database": { "type": "memfile", "persist": true,
                            "name": dir.join(format!("{}.csv", kind.name())), "lfc-interval": 0 },
        "multi-threading": if mt {
            json!({ "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 })
        } else {
            json!({ "enable-multi-threading": false })
        },
        "hooks-libraries": [ { "library": LEASE_CMDS } ],
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
        "subnet4": subnets,
        "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                       "output_options": [ { "output": dir.join(format!("{}.log", kind.name())) } ] } ]
    }})
}

fn start(a: &Args, lab: &Lab, node: &Node, kind: Kind, conf: &Value) -> (Proc, PathBuf) {
    let dir = lab.dir();
    let path = dir.join(format!("{}.conf", kind.name()));
    std::fs::write(&path, serde_json::to_vec_pretty(conf).unwrap()).unwrap();
    let sock = PathBuf::from(
        conf["Dhcp4"]["control-socket"]["socket-name"]
            .as_str()
            .unwrap(),
    );
    let _ = std::fs::remove_file(&sock);
    let p = path.to_str().unwrap();
    let mut proc = match kind {
        Kind::Dhcp4d => node.spawn(&[a.dhcp4d.to_str().unwrap(), "-c", p]),
        Kind::Dhcp4dFsync => node.spawn(&[a.dhcp4d.to_str().unwrap(), "-c", p, "--fsync"]),
        Kind::KeaSt | Kind::KeaMt => {
            let kea = require_bin("kea-dhcp4");
            let d = dir.to_str().unwrap();
            node.spawn(&[
                "env",
                &format!("KEA_PIDFILE_DIR={d}"),
                &format!("KEA_LOCKFILE_DIR={d}"),
                kea.to_str().unwrap(),
                "-c",
                p,
            ])
        }
    };
    wait_until(
        Duration::from_secs(600),
        &format!("{} control socket", kind.name()),
        || {
            assert!(proc.is_running(), "{} exited: {}", kind.name(), proc.log());
            UnixStream::connect(&sock).is_ok()
        },
    );
    (proc, sock)
}

fn command(sock: &Path, command: &str) -> Value {
    let mut s = UnixStream::connect(sock).expect("connect control socket");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(json!({ "command": command }).to_string().as_bytes())
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with ')'): state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    n(14) + n(15)
}

fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Highest achieved DORA/s with drops ≤ 2.5 % with `generator`, and the best step.
fn search(cli: &Node, generator: Generator, secs: u32) -> (f64, Vec<(u32, Run)>) {
    let mut steps = Vec::new();
    let try_rate = |r: u32, steps: &mut Vec<(u32, Run)>| {
        let mut run = load(cli, generator, CLIENTS, r, secs);
        // perfdhcp's own rate counts the exit wait; the ACKs over the sending time do not.
        run.rate = run.acks as f64 / f64::from(secs);
        eprintln!(
            "    {} -r {r:>6}: {:>9.1} DORA/s, drops {:>5.2} %, generator {:>5.1} CPU ms / 1000 DORA",
            generator.name(),
            run.rate,
            run.drop_pct,
            run.gen_ms_per_1000()
        );
        steps.push((r, run));
        run.drop_pct <= MAX_DROPS
    };
    let (mut lo, mut hi) = (0u32, 0u32);
    let mut r = 1000;
    while r <= 128_000 {
        if try_rate(r, &mut steps) {
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
    for _ in 0..5 {
        if hi - lo <= lo / 20 + 50 {
            break;
        }
        let mid = (lo + hi) / 2;
        if try_rate(mid, &mut steps) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let best = steps
        .iter()
        .filter(|(_, run)| run.drop_pct <= MAX_DROPS)
        .map(|(_, run)| run.rate)
        .fold(0.0, f64::max);
    (best, steps)
}

struct Result1 {
    kind: Kind,
    generator: Generator,
    dora: f64,
    /// The generator's CPU ms per 1000 DORA at the best step.
    gen_cpu: f64,
    cpu_ms_per_1000: f64,
    fixed_acks: u64,
}

fn throughput(a: &Args, lab: &Lab, srv: &Node, cli: &Node) -> Vec<Result1> {
    let subnets = json!([ { "id": 1, "subnet": "192.0.2.0/24",
        "pools": [ { "pool": "192.0.2.10 - 192.0.2.250" } ] } ]);
    let mut out = Vec::new();
    for &kind in &a.servers {
        eprintln!("== {}", kind.name());
        let conf = config(lab.dir(), kind, json!([NODE_IF]), subnets.clone());
        let _ = std::fs::remove_file(lab.dir().join(format!("{}.csv", kind.name())));
        let (mut proc, _) = start(a, lab, srv, kind, &conf);
        // Kea opens its DHCP socket after the control socket: warm up until every client has
        // its lease.
        let n = CLIENTS.to_string();
        wait_until(Duration::from_secs(20), "the warm-up DORA", || {
            let acks = match a.loads[0] {
                Generator::Perfdhcp => perfdhcp(cli, CLIENTS, &["-r", "500", "-n", &n]).acks,
                Generator::Hakit => {
                    let mut cfg = hakit_config(CLIENTS, 500, 5);
                    cfg.max_exchanges = Some(u64::from(CLIENTS));
                    hakit(cli, &cfg).acks
                }
            };
            acks >= u64::from(CLIENTS) * 9 / 10
        });
        for &generator in &a.loads {
            let (best, steps) = search(cli, generator, a.seconds);
            let gen_cpu = steps
                .iter()
                .filter(|(_, run)| run.drop_pct <= MAX_DROPS && run.rate >= best)
                .map(|(_, run)| run.gen_ms_per_1000())
                .next()
                .unwrap_or(f64::NAN);
            let before = cpu_ticks(proc.pid());
            let fixed = load(cli, generator, CLIENTS, a.fixed_rate, a.seconds);
            let ticks = cpu_ticks(proc.pid()) - before;
            let cpu = ticks as f64 / CLK_TCK * 1000.0 / (fixed.acks.max(1) as f64 / 1000.0);
            eprintln!(
                "  {}: best {best:.0} DORA/s; at -r {}: {} ACKs ({:.2} % drops), CPU {cpu:.1} ms per 1000 DORA",
                generator.name(),
                a.fixed_rate,
                fixed.acks,
                fixed.drop_pct
            );
            out.push(Result1 {
                kind,
                generator,
                dora: best,
                gen_cpu,
                cpu_ms_per_1000: cpu,
                fixed_acks: fixed.acks,
            });
        }
        let _ = proc.terminate(Duration::from_secs(10));
    }
    out
}

/// Writes a schema 2.1 memfile of `n` leases in 240.0.0.0/8.
fn million_file(path: &Path, n: u32) {
    let mut s = String::with_capacity(n as usize * 100);
    s.push_str("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n");
    let expire = 4_102_444_800u64; // 2100-01-01
    for i in 0..n {
        let a = 0xf000_0000u32 + 16 + i;
        let [b0, b1, b2, b3] = a.to_be_bytes();
        let [_, m1, m2, m3] = i.to_be_bytes();
        use std::fmt::Write as _;
        let _ = writeln!(
            s,
            "{b0}.{b1}.{b2}.{b3},02:00:00:{m1:02x}:{m2:02x}:{m3:02x},01:02:00:00:{m1:02x}:{m2:02x}:{m3:02x},3600,{expire},1,0,0,,0,"
        );
    }
    std::fs::write(path, s).unwrap();
}

struct Load {
    kind: Kind,
    secs: f64,
    rss_mib: f64,
    leases: u64,
}

fn million(a: &Args, lab: &Lab) -> Vec<Load> {
    let node = lab.add_node("big");
    // Loopback only: no address of 240/8 is ever configured or sent.
    node.ip(&["link", "set", NODE_IF, "down"]);
    let src = lab.dir().join("million.csv");
    let n = 1_000_000;
    let t = Instant::now();
    million_file(&src, n);
    eprintln!(
        "== 1M leases: wrote {} ({:.0} MB) in {:.1} s",
        src.display(),
        std::fs::metadata(&src).map_or(0, |m| m.len()) as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let subnets = json!([ { "id": 1, "subnet": "240.0.0.0/8",
        "pools": [ { "pool": "240.0.0.16 - 240.255.255.250" } ] } ]);
    let mut out = Vec::new();
    for kind in [Kind::Dhcp4d, Kind::KeaSt] {
        if !a.servers.contains(&kind) {
            continue;
        }
        let conf = config(lab.dir(), kind, json!([]), subnets.clone());
        let csv = lab.dir().join(format!("{}.csv", kind.name()));
        std::fs::copy(&src, &csv).unwrap();
        let t = Instant::now();
        let (mut proc, sock) = start(a, lab, &node, kind, &conf);
        // Kea opens its control socket before it has read the leases, and answers commands
        // once it has: the clock stops at the first answer.
        let all = command(&sock, "statistic-get-all");
        let secs = t.elapsed().as_secs_f64();
        let rss = vm_rss_kib(proc.pid()) as f64 / 1024.0;
        let leases = all["arguments"]["subnet[1].assigned-addresses"][0][0]
            .as_u64()
            .unwrap_or(0);
        eprintln!(
            "  {}: first answer after {secs:.2} s, VmRSS {rss:.0} MiB, assigned-addresses {leases}",
            kind.name()
        );
        let _ = proc.terminate(Duration::from_secs(30));
        let _ = std::fs::remove_file(&csv);
        out.push(Load {
            kind,
            secs,
            rss_mib: rss,
            leases,
        });
    }
    let _ = std::fs::remove_file(&src);
    out
}

fn main() {
    Lab::require_root();
    require_bin("perfdhcp");
    require_bin("kea-dhcp4");
    let a = args();
    let lab = Lab::new("d4b");
    let srv = lab.add_node("srv");
    let cli = lab.add_node("cli");
    srv.add_addr(NODE_IF, "192.0.2.1/24");
    cli.add_addr(NODE_IF, "192.0.2.2/24");
    let results = if a.only_1m {
        Vec::new()
    } else {
        throughput(&a, &lab, &srv, &cli)
    };
    let loads = if a.skip_1m {
        Vec::new()
    } else {
        million(&a, &lab)
    };

    if !results.is_empty() {
        println!(
            "\n| load | server | DORA/s (≤2.5 % drops) | vs kea-st | generator CPU ms / 1000 DORA at the best step | CPU ms / 1000 DORA (at -r {}) | vs kea-st | ACKs in that run |",
            a.fixed_rate
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for &generator in &a.loads {
            let mine = || results.iter().filter(|r| r.generator == generator);
            let kea_st = mine().find(|r| r.kind == Kind::KeaSt);
            for r in mine() {
                let (x, y) = kea_st.map_or((f64::NAN, f64::NAN), |k| {
                    (r.dora / k.dora, r.cpu_ms_per_1000 / k.cpu_ms_per_1000)
                });
                println!(
                    "| {} | {} | {:.0} | {x:.2}× | {:.1} | {:.1} | {y:.2}× | {} |",
                    generator.name(),
                    r.kind.name(),
                    r.dora,
                    r.gen_cpu,
                    r.cpu_ms_per_1000,
                    r.fixed_acks
                );
            }
        }
    }
    if !loads.is_empty() {
        println!(
            "\n| server | 1M-lease memfile: start to first control answer | VmRSS | leases counted |"
        );
        println!("| --- | --- | --- | --- |");
        for l in &loads {
            println!(
                "| {} | {:.2} s | {:.0} MiB | {} |",
                l.kind.name(),
                l.secs,
                l.rss_mib,
                l.leases
            );
        }
    }
}
