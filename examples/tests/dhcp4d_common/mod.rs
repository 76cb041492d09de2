//! Helpers shared by the dhcp4d namespace tests: a lab with a server and a client node,
//! configuration files, starting dhcp4d and Kea, running perfdhcp and reading its
//! statistics, reading lease files, and Kea's control socket protocol.
#![allow(dead_code, unreachable_pub)]

pub mod ha;
pub mod tls;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dhcp4_ha::lease::memfile::{self, LfcFiles, Schema};
use dhcp4_ha::lease::{Lease4, MemoryStore};
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_until};
use serde_json::{Value, json};

/// The server's address on the LAN.
pub const SERVER_IP: &str = "192.0.2.1";
/// The client (perfdhcp) node's address on the LAN: perfdhcp acts as a relay agent and
/// puts it in `giaddr`.
pub const CLIENT_IP: &str = "192.0.2.2";
/// Kea's lease commands hook.
pub const LEASE_CMDS: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";

/// How long a daemon may take to start.
pub const START: Duration = Duration::from_secs(10);

/// Serialises the labs of one test binary: perfdhcp and the daemons are timing-sensitive, and
/// several of them at once on a 2-core CI machine turn slow answers into perfdhcp "drops".
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the other labs of this test binary to finish (held until the lab is dropped).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A lab with a server node `srv` (192.0.2.1/24) and a client node `cli` on one LAN.
pub struct Setup {
    pub lab: Lab,
    pub srv: Node,
    pub cli: Node,
    /// Dropped after the lab: the next test's lab starts once this one is gone.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Setup {
    /// `tag` must be unique per test file (the namespace prefix is `hk<tag>-…`).
    pub fn new(tag: &str, client_ip: Option<&str>) -> Self {
        let serial = serial();
        let lab = Lab::new(tag);
        let srv = lab.add_node("srv");
        let cli = lab.add_node("cli");
        srv.add_addr(NODE_IF, &format!("{SERVER_IP}/24"));
        if let Some(ip) = client_ip {
            cli.add_addr(NODE_IF, &format!("{ip}/24"));
        }
        Self {
            lab,
            srv,
            cli,
            _serial: serial,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.lab.dir().join(name)
    }

    /// The lease file path.
    pub fn leases(&self) -> PathBuf {
        self.path("leases4.csv")
    }

    /// The control socket path.
    pub fn socket(&self) -> PathBuf {
        self.path("ctrl.sock")
    }
}

/// A kea-dhcp4.conf for the lab: interface eth0, memfile at `leases`, control socket,
/// `subnets` as given, INFO logs on stdout, `extra` keys merged into `Dhcp4`.
pub fn config(setup: &Setup, subnets: Value, extra: Value) -> Value {
    let mut d = json!({
        "interfaces-config": { "interfaces": [NODE_IF] },
        "control-socket": { "socket-type": "unix", "socket-name": setup.socket() },
        "lease-database": { "type": "memfile", "persist": true, "name": setup.leases(), "lfc-interval": 0 },
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
        "subnet4": subnets,
        "loggers": [ { "name": "kea-dhcp4", "severity": "INFO", "output_options": [ { "output": "stdout" } ] } ]
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            d[k] = v;
        }
    }
    json!({ "Dhcp4": d })
}

/// The one LAN subnet 192.0.2.0/24 with pool `pool`.
pub fn lan_subnet(pool: &str) -> Value {
    json!([ { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": pool } ] } ])
}

/// Writes `conf` to `name` in the lab directory and returns the path.
pub fn write_config(setup: &Setup, name: &str, conf: &Value) -> PathBuf {
    let p = setup.path(name);
    std::fs::write(&p, serde_json::to_vec_pretty(conf).unwrap()).unwrap();
    p
}

/// Starts dhcp4d on `node` with `conf` (and extra arguments) and waits until it serves: its
/// control socket (opened after the DHCP socket) accepts, or it logged DHCP4_STARTED.
pub fn start_dhcp4d(node: &Node, conf: &Path, extra: &[&str]) -> Proc {
    let c: Value = serde_json::from_slice(&std::fs::read(conf).unwrap()).unwrap();
    let sock = c["Dhcp4"]["control-socket"]["socket-name"]
        .as_str()
        .map(PathBuf::from);
    if let Some(s) = &sock {
        let _ = std::fs::remove_file(s);
    }
    let conf = conf.to_str().unwrap();
    let mut cmd = vec![env!("CARGO_BIN_EXE_dhcp4d"), "-c", conf];
    cmd.extend_from_slice(extra);
    let mut p = node.spawn(&cmd);
    wait_until(
        START,
        "dhcp4d to start (control socket or DHCP4_STARTED)",
        || {
            assert!(p.is_running(), "dhcp4d exited: {}", p.log());
            p.log().contains("DHCP4_STARTED")
                || sock
                    .as_ref()
                    .is_some_and(|s| UnixStream::connect(s).is_ok())
        },
    );
    p
}

/// Starts kea-dhcp4 on `node` with `conf`, its pid and lock files in the lab directory, and
/// waits for its control socket.
pub fn start_kea(setup: &Setup, node: &Node, conf: &Path) -> Proc {
    let kea = require_bin("kea-dhcp4");
    let dir = setup.lab.dir().to_str().unwrap().to_owned();
    let conf = conf.to_str().unwrap();
    let mut p = node.spawn(&[
        "env",
        &format!("KEA_PIDFILE_DIR={dir}"),
        &format!("KEA_LOCKFILE_DIR={dir}"),
        kea.to_str().unwrap(),
        "-c",
        conf,
    ]);
    let sock = setup.socket();
    wait_until(START, "kea-dhcp4's control socket", || {
        assert!(p.is_running(), "kea-dhcp4 exited: {}", p.log());
        UnixStream::connect(&sock).is_ok()
    });
    p
}

/// Sends one command over a Kea control socket (connect, send, read to EOF) and parses the
/// answer.
pub fn command(sock: &Path, command: &str, arguments: Value) -> Value {
    let mut s =
        UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = json!({ "command": command });
    if !arguments.is_null() {
        req["arguments"] = arguments;
    }
    s.write_all(req.to_string().as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{command}: {e}: {}", String::from_utf8_lossy(&out)))
}

/// One section of perfdhcp's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exchange {
    pub sent: u64,
    pub received: u64,
    pub drops: u64,
}

/// perfdhcp's statistics by section (`DISCOVER-OFFER`, `REQUEST-ACK`,
/// `REQUEST-ACK (renewal)`, `RELEASE`), and its whole output.
#[derive(Debug, Clone, Default)]
pub struct Perf {
    pub sections: BTreeMap<String, Exchange>,
    pub output: String,
}

impl Perf {
    #[track_caller]
    pub fn get(&self, name: &str) -> Exchange {
        *self
            .sections
            .get(name)
            .unwrap_or_else(|| panic!("perfdhcp printed no {name} section:\n{}", self.output))
    }
}

/// Parses perfdhcp's report.
pub fn parse_perf(output: &str) -> Perf {
    let mut perf = Perf {
        output: output.to_owned(),
        ..Perf::default()
    };
    let mut cur: Option<String> = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("***Statistics for: ") {
            cur = Some(rest.trim_end_matches('*').to_owned());
            perf.sections
                .insert(cur.clone().unwrap(), Exchange::default());
            continue;
        }
        let Some(c) = &cur else { continue };
        let e = perf.sections.get_mut(c).unwrap();
        let num = |l: &str| l.split(':').nth(1).and_then(|v| v.trim().parse().ok());
        if line.starts_with("sent packets:") {
            e.sent = num(line).unwrap_or(0);
        } else if line.starts_with("received packets:") {
            e.received = num(line).unwrap_or(0);
        } else if line.starts_with("drops:") {
            e.drops = num(line).unwrap_or(0);
        }
    }
    perf
}

/// Runs perfdhcp (`-4 -l eth0 -W 1 s`, then `args`) in `node` and parses its statistics.
/// perfdhcp exits 3 when packets were dropped; only its statistics decide.
pub fn perfdhcp(node: &Node, args: &[&str]) -> Perf {
    let bin = require_bin("perfdhcp");
    let mut cmd = vec![bin.to_str().unwrap(), "-4", "-l", NODE_IF, "-W", "1000000"];
    cmd.extend_from_slice(args);
    let out = node.output(&cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let perf = parse_perf(&text);
    assert!(
        !perf.sections.is_empty(),
        "perfdhcp printed no statistics ({}): {}\n{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    perf
}

/// The leases the lease files around `path` hold (Kea's load order), and the rows of `path`
/// itself (without its header).
pub fn read_leases(path: &Path) -> (MemoryStore, Vec<String>) {
    let name = path.to_str().unwrap();
    let files = LfcFiles::new(name);
    let mut store = MemoryStore::default();
    for f in files.load_order(|p| Path::new(p).exists()) {
        let text = std::fs::read_to_string(f).unwrap();
        let r = memfile::load(&text, &mut store).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(r.invalid, 0, "{f}: invalid rows {:?}", r.errors);
    }
    let rows = std::fs::read_to_string(path)
        .map(|t| t.lines().skip(1).map(str::to_owned).collect())
        .unwrap_or_default();
    (store, rows)
}

/// Checks that every row of the lease file is byte for byte what Kea 2.2 writes for the lease
/// it parses to (schema 2.1 header, canonical row text).
pub fn assert_kea_rows(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(Schema::KEA_2_2.header().as_str()));
    for (i, l) in lines.enumerate() {
        let lease = memfile::parse_row(l, Schema::KEA_2_2, i + 2)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut again = String::new();
        memfile::write_row(&lease, Schema::KEA_2_2, &mut again);
        assert_eq!(again.trim_end(), l, "row {} is not Kea's text", i + 2);
    }
    assert!(text.ends_with('\n'), "the file must end with a newline");
}

/// Parses `a.b.c.d`.
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A lease's hardware address as text.
pub fn hw(l: &Lease4) -> String {
    let mut s = String::new();
    memfile::hex_colon(&l.hwaddr, &mut s);
    s
}
