//! Helpers of the HA namespace tests: a lab with two servers and a client on one LAN, Kea
//! 2.2 HA configurations (one file shape for dhcp4d and kea-dhcp4), starting either server,
//! reading HA states over the control socket, capturing the DHCP replies the client saw.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dhcp4_ha::wire::{Dhcp4Repr, MessageType};
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_for, wait_until};
use serde_json::{Value, json};

use super::{CLIENT_IP, LEASE_CMDS, START, command};

/// Kea's HA hook.
pub const HA_LIB: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so";
/// The servers' LAN addresses (server1, server2); the client is [`CLIENT_IP`].
pub const SRV_IP: [&str; 2] = ["192.0.2.1", "192.0.2.3"];
/// The HA listener port of both servers.
pub const HA_PORT: u16 = 8001;
/// The pool both servers share.
pub const POOL: &str = "192.0.2.10 - 192.0.2.250";

/// The load-balancing halves of [`POOL`]: server1's (`HA_server1`) and server2's.
pub const LB_POOLS: [&str; 2] = ["192.0.2.10 - 192.0.2.129", "192.0.2.130 - 192.0.2.250"];

/// Fast HA timers (Kea's defaults take a minute to detect a failure): heartbeat 1 s,
/// max-response-delay 3 s, max-ack-delay 1 s, and `max-unacked-clients` 0 because perfdhcp
/// sends `secs` 0.
pub fn fast_timers() -> Value {
    json!({
        "heartbeat-delay": 1000, "max-response-delay": 3000, "max-ack-delay": 1000,
        "max-unacked-clients": 0
    })
}

/// Which implementation runs a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Dhcp4d,
    Kea,
}

/// Two servers (`s1` 192.0.2.1 = server1, `s2` 192.0.2.3 = server2) and a client node
/// (192.0.2.2, perfdhcp's relay address) on one LAN.
pub struct Pair {
    pub lab: Lab,
    pub srv: [Node; 2],
    pub cli: Node,
    /// Dropped after the lab (see [`super::serial`]).
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Pair {
    /// `tag` must be unique per test file and start with `ha` (namespaces `hkha…`).
    pub fn new(tag: &str) -> Self {
        assert!(tag.starts_with("ha"), "HA test namespaces are hkha…");
        let serial = super::serial();
        let lab = Lab::new(tag);
        let s1 = lab.add_node("s1");
        let s2 = lab.add_node("s2");
        let cli = lab.add_node("cli");
        s1.add_addr(NODE_IF, &format!("{}/24", SRV_IP[0]));
        s2.add_addr(NODE_IF, &format!("{}/24", SRV_IP[1]));
        cli.add_addr(NODE_IF, &format!("{CLIENT_IP}/24"));
        Self {
            lab,
            srv: [s1, s2],
            cli,
            _serial: serial,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.lab.dir().join(name)
    }

    /// Server `i`'s control socket.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.path(&format!("ctrl{}.sock", i + 1))
    }

    /// Server `i`'s lease file.
    pub fn leases(&self, i: usize) -> PathBuf {
        self.path(&format!("leases{}.csv", i + 1))
    }

    /// The Kea 2.2 configuration of server `i` (0: server1): interface eth0, memfile, control
    /// socket, lease_cmds and HA hooks (Kea's dedicated listener: Dhcp4 and HA
    /// multi-threading on), `mode`, `ha` keys merged into the HA map, `peer` keys merged
    /// into both peer entries.
    pub fn config(&self, i: usize, mode: &str, ha: &Value, peer: &Value) -> Value {
        let role2 = if mode == "load-balancing" {
            "secondary"
        } else {
            "standby"
        };
        let mut peers = vec![
            json!({ "name": "server1", "url": format!("http://{}:{HA_PORT}/", SRV_IP[0]),
                    "role": "primary", "auto-failover": true }),
            json!({ "name": "server2", "url": format!("http://{}:{HA_PORT}/", SRV_IP[1]),
                    "role": role2, "auto-failover": true }),
        ];
        for p in &mut peers {
            merge(p, peer);
        }
        let mut hac = json!({
            "this-server-name": format!("server{}", i + 1),
            "mode": mode,
            "sync-page-limit": 10000,
            "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                                 "http-listener-threads": 2, "http-client-threads": 2 },
            "peers": peers,
        });
        // Load-balancing splits the pool between the servers by client class, as Kea's
        // documentation does: each serves its scope from its own half.
        let pools = if mode == "load-balancing" {
            json!([ { "pool": LB_POOLS[0], "client-class": "HA_server1" },
                    { "pool": LB_POOLS[1], "client-class": "HA_server2" } ])
        } else {
            json!([ { "pool": POOL } ])
        };
        merge(&mut hac, &fast_timers());
        merge(&mut hac, ha);
        json!({ "Dhcp4": {
            "interfaces-config": { "interfaces": [NODE_IF] },
            "control-socket": { "socket-type": "unix", "socket-name": self.socket(i) },
            "lease-database": { "type": "memfile", "persist": true, "name": self.leases(i),
                                "lfc-interval": 0 },
            "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2,
                                 "packet-queue-size": 64 },
            "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
            "hooks-libraries": [
                { "library": LEASE_CMDS },
                { "library": HA_LIB, "parameters": { "high-availability": [hac] } }
            ],
            "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": pools } ],
            "loggers": [ { "name": "kea-dhcp4", "severity": "INFO",
                           "output_options": [ { "output": "stdout" } ] },
                         { "name": "kea-dhcp4.leases", "severity": "WARN",
                           "output_options": [ { "output": "stdout" } ] } ]
        } })
    }

    /// Writes server `i`'s configuration and returns its path.
    pub fn write(&self, i: usize, conf: &Value) -> PathBuf {
        let p = self.path(&format!("server{}.conf", i + 1));
        std::fs::write(&p, serde_json::to_vec_pretty(conf).unwrap()).unwrap();
        p
    }

    /// Starts server `i` with `conf` (dhcp4d with `extra` arguments, or kea-dhcp4) and waits
    /// for its control socket.
    pub fn start(&self, i: usize, which: Impl, conf: &Path, extra: &[&str]) -> Proc {
        start_server(
            &self.srv[i],
            &self.path(&format!("kea{}", i + 1)),
            which,
            conf,
            extra,
            &self.socket(i),
            i,
        )
    }

    /// Server `i`'s HA state (`status-get`'s local state).
    pub fn state(&self, i: usize) -> String {
        let a = command(&self.socket(i), "status-get", Value::Null);
        a["arguments"]["high-availability"][0]["ha-servers"]["local"]["state"]
            .as_str()
            .unwrap_or_else(|| panic!("no HA state in server{}'s status-get: {a}", i + 1))
            .to_owned()
    }

    /// Waits until server `i` is in `state`; returns how long it took.
    pub fn wait_state(&self, i: usize, state: &str, timeout: Duration) -> Duration {
        let t0 = std::time::Instant::now();
        let what = format!("server{} to reach {state}", i + 1);
        let mut last = String::new();
        wait_for(timeout, &what, || {
            last = self.state(i);
            (last == state).then_some(())
        });
        t0.elapsed()
    }

    /// Waits until both servers are in `state`.
    pub fn wait_both(&self, state: &str, timeout: Duration) -> Duration {
        let t0 = std::time::Instant::now();
        wait_until(timeout, &format!("both servers in {state}"), || {
            self.state(0) == state && self.state(1) == state
        });
        t0.elapsed()
    }

    /// Server `i`'s leases as `address → (hw-address, client-id, valid-lft, cltt, subnet-id)`.
    pub fn leases_of(&self, i: usize) -> Leases {
        let a = command(&self.socket(i), "lease4-get-all", Value::Null);
        assert!(
            a["result"] == 0 || a["result"] == 3,
            "lease4-get-all on server{}: {a}",
            i + 1
        );
        a["arguments"]["leases"]
            .as_array()
            .map(|l| l.iter().map(lease_entry).collect())
            .unwrap_or_default()
    }

    /// Starts tcpdump on the client's interface writing the server replies to `name`;
    /// returns it and the pcap path.
    pub fn capture(&self, name: &str) -> (Proc, PathBuf) {
        let tcpdump = require_bin("tcpdump");
        let pcap = self.path(name);
        let cap = self.cli.spawn(&[
            tcpdump.to_str().unwrap(),
            "-p",
            "-n",
            "-U",
            "-i",
            NODE_IF,
            "-w",
            pcap.to_str().unwrap(),
            "udp and src port 67 and dst port 67",
        ]);
        wait_until(Duration::from_secs(5), "tcpdump to listen", || {
            cap.log().contains("listening on")
        });
        (cap, pcap)
    }

    /// Sends a raw HTTP request to server `i`'s HA listener from the client node; returns the
    /// status code and body.
    pub fn http(&self, i: usize, request: &str) -> (u16, String) {
        let addr: SocketAddr = format!("{}:{HA_PORT}", SRV_IP[i]).parse().unwrap();
        let mut s = self.cli.enter(|| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
        });
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

/// Leases by address: (hw-address, client-id, valid-lft, cltt, subnet-id).
pub type Leases = BTreeMap<String, (String, String, u64, u64, u64)>;

fn lease_entry(l: &Value) -> (String, (String, String, u64, u64, u64)) {
    (
        l["ip-address"].as_str().unwrap().to_owned(),
        (
            l["hw-address"].as_str().unwrap_or_default().to_owned(),
            l["client-id"].as_str().unwrap_or_default().to_owned(),
            l["valid-lft"].as_u64().unwrap(),
            l["cltt"].as_u64().unwrap(),
            l["subnet-id"].as_u64().unwrap(),
        ),
    )
}

/// Merges the keys of `extra` (a map, or null) into `v`.
pub fn merge(v: &mut Value, extra: &Value) {
    if let (Value::Object(m), Value::Object(e)) = (v, extra) {
        for (k, x) in e {
            m.insert(k.clone(), x.clone());
        }
    }
}

/// Fails unless Kea's HA and lease_cmds hooks are installed.
pub fn require_kea_ha() {
    for lib in [HA_LIB, LEASE_CMDS] {
        assert!(
            Path::new(lib).exists(),
            "{lib} missing: install kea-dhcp4-server (Kea 2.2 hooks)"
        );
    }
}

/// Starts server number `i` (0-based) on `node` with `conf` — dhcp4d with `extra` arguments,
/// or kea-dhcp4 with its pid and lock files in `kea_dir` — and waits for its control socket
/// `sock`.
fn start_server(
    node: &Node,
    kea_dir: &Path,
    which: Impl,
    conf: &Path,
    extra: &[&str],
    sock: &Path,
    i: usize,
) -> Proc {
    let _ = std::fs::remove_file(sock);
    let conf = conf.to_str().unwrap();
    let mut p = match which {
        Impl::Dhcp4d => {
            let mut cmd = vec![env!("CARGO_BIN_EXE_dhcp4d"), "-c", conf];
            cmd.extend_from_slice(extra);
            node.spawn(&cmd)
        }
        Impl::Kea => {
            require_kea_ha();
            let kea = require_bin("kea-dhcp4");
            std::fs::create_dir_all(kea_dir).unwrap();
            let dir = kea_dir.to_str().unwrap();
            node.spawn(&[
                "env",
                &format!("KEA_PIDFILE_DIR={dir}"),
                &format!("KEA_LOCKFILE_DIR={dir}"),
                kea.to_str().unwrap(),
                "-c",
                conf,
            ])
        }
    };
    wait_until(START, "the server's control socket", || {
        assert!(p.is_running(), "server{} exited: {}", i + 1, p.log());
        UnixStream::connect(sock).is_ok()
    });
    p
}

/// The DHCP messages in a pcap file (Ethernet, IPv4, UDP), with their IPv4 source.
pub fn dhcp_in_pcap(bytes: &[u8]) -> Vec<(Ipv4Addr, Dhcp4Repr)> {
    assert!(bytes.len() >= 24, "pcap without a header");
    let le = match &bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        m => panic!("not a pcap file: magic {m:?}"),
    };
    let u32_at = |b: &[u8], i: usize| {
        let a: [u8; 4] = b[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(bytes, 20), 1, "link type Ethernet");
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let len = u32_at(bytes, i + 8) as usize;
        let Some(frame) = bytes.get(i + 16..i + 16 + len) else {
            break; // a record cut by the end of the capture
        };
        i += 16 + len;
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
            continue;
        }
        let src = Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]);
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        if let Some(payload) = frame.get(14 + ihl + 8..)
            && let Ok(m) = Dhcp4Repr::from_bytes(payload)
        {
            out.push((src, m));
        }
    }
    out
}

/// The ACKs (with an address) in a capture: (source, yiaddr, chaddr text, client-id).
pub fn acks_in(pcap: &Path) -> Vec<(Ipv4Addr, Ipv4Addr, String, Option<Vec<u8>>)> {
    dhcp_in_pcap(&std::fs::read(pcap).unwrap())
        .into_iter()
        .filter(|(_, m)| m.message_type() == Some(MessageType::ACK) && !m.yiaddr.is_unspecified())
        .map(|(src, m)| {
            let mut h = String::new();
            dhcp4_ha::lease::memfile::hex_colon(m.client_hw_addr(), &mut h);
            (src, m.yiaddr, h, m.options.client_id.clone())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Failover under load and labs of more than two servers (backup / passive-backup), for
// pairs of either implementation.

/// Starts perfdhcp in the client node without waiting: `args` after `-4 -l eth0`.
pub fn spawn_perfdhcp(cli: &Node, args: &[&str]) -> Proc {
    let bin = require_bin("perfdhcp");
    let mut cmd = vec![bin.to_str().unwrap(), "-4", "-l", NODE_IF];
    cmd.extend_from_slice(args);
    cli.spawn(&cmd)
}

/// Runs perfdhcp (`-4 -l eth0`, then `args`) in `node` without `-W` (which perfdhcp refuses
/// with `-i`, DISCOVER-OFFER only) and parses its statistics.
pub fn perfdhcp_no_wait(node: &Node, args: &[&str]) -> super::Perf {
    let bin = require_bin("perfdhcp");
    let mut cmd = vec![bin.to_str().unwrap(), "-4", "-l", NODE_IF];
    cmd.extend_from_slice(args);
    let out = node.output(&cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let perf = super::parse_perf(&text);
    assert!(
        !perf.sections.is_empty(),
        "perfdhcp printed no statistics ({}): {}\n{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    perf
}

/// Checks the ACKs a client saw against the lease database `db` of the server that holds
/// them all now: each ACKed address is there for the client that got the ACK, and no address
/// was ACKed to two clients. Returns the clients per address.
#[track_caller]
pub fn assert_acked_leases_held(
    acks: &[(Ipv4Addr, Ipv4Addr, String, Option<Vec<u8>>)],
    db: &Leases,
    holder: &str,
) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    for (src, addr, hw, _) in acks {
        let l = db
            .get(&addr.to_string())
            .unwrap_or_else(|| panic!("{addr} ACKed by {src} to {hw} is not on {holder}"));
        assert_eq!(
            &l.0, hw,
            "{addr} (ACKed by {src}) belongs to the client that got the ACK on {holder}"
        );
    }
    let mut by_addr: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (_, addr, hw, _) in acks {
        by_addr
            .entry(addr.to_string())
            .or_default()
            .insert(hw.clone());
    }
    for (a, c) in &by_addr {
        assert_eq!(c.len(), 1, "{a} ACKed to several clients: {c:?}");
    }
    by_addr
}

/// SIGKILL of the primary of a hot-standby pair (`roles`: server1's and server2's
/// implementation) while 20 new clients a second arrive: the standby goes partner-down and
/// serves the clients after the kill; every address a client got an ACK for (captured in the
/// client's namespace) is on the standby for that client and was given to no other client;
/// the primary restarts on its lease file, syncs from the standby, both return to
/// hot-standby and `lease4-get-all` agrees on both.
pub fn sigkill_primary_under_load(p: &Pair, roles: [Impl; 2]) {
    let c1 = p.write(0, &p.config(0, "hot-standby", &Value::Null, &Value::Null));
    let c2 = p.write(1, &p.config(1, "hot-standby", &Value::Null, &Value::Null));
    let d1 = p.start(0, roles[0], &c1, &[]);
    let d2 = p.start(1, roles[1], &c2, &[]);
    p.wait_both("hot-standby", Duration::from_secs(20));
    let (mut cap, pcap) = p.capture("acks.pcap");
    // 20 new clients a second for 10 s; the primary dies after about 3 s.
    let mut perf = spawn_perfdhcp(&p.cli, &["-r", "20", "-p", "10", "-R", "100000"]);
    wait_until(Duration::from_secs(10), "50 leases on the standby", || {
        p.leases_of(1).len() >= 50
    });
    d1.signal(libc::SIGKILL);
    let mut d1 = d1;
    d1.wait_exit(Duration::from_secs(5));
    drop(d1);
    let killed = std::time::Instant::now();
    let t = p.wait_state(1, "partner-down", Duration::from_secs(15));
    eprintln!("{roles:?}: standby partner-down {t:?} after the kill");
    perf.wait_exit(Duration::from_secs(30));
    cap.terminate(Duration::from_secs(5));
    let acks = acks_in(&pcap);
    let from = |ip: &str| acks.iter().filter(|a| a.0.to_string() == ip).count();
    let (from1, from2) = (from(SRV_IP[0]), from(SRV_IP[1]));
    eprintln!(
        "{roles:?}: ACKs: {from1} from server1, {from2} from server2 ({:?} since the kill)",
        killed.elapsed()
    );
    assert!(from1 >= 50, "the primary served first: {from1}");
    // A hot-standby standby answers nobody: its ACKs all came after partner-down.
    assert!(
        from2 >= 20,
        "the standby served new clients after the kill: {from2}"
    );
    let l2 = p.leases_of(1);
    let by_addr = assert_acked_leases_held(&acks, &l2, "the standby");
    // The primary restarts on its lease file, syncs from the standby, both return to normal.
    let conf = p.path("server1.conf");
    let restarted = std::time::Instant::now();
    let _d1 = p.start(0, roles[0], &conf, &[]);
    p.wait_both("hot-standby", Duration::from_secs(30));
    eprintln!(
        "{roles:?}: restart to hot-standby: {:?}",
        restarted.elapsed()
    );
    let l1 = p.leases_of(0);
    assert_eq!(l1, p.leases_of(1), "the primary synced every lease back");
    assert!(
        l1.len() >= by_addr.len(),
        "{} < {}",
        l1.len(),
        by_addr.len()
    );
    let log = std::fs::read_to_string(d2.log_path()).unwrap();
    assert!(
        log.contains("HA_STATE_TRANSITION") && log.contains("to PARTNER-DOWN state"),
        "the standby logged its transition in Kea's words"
    );
}

/// The servers' LAN addresses in a lab of three (server1, server2, server3).
pub const SRV_IP3: [&str; 3] = ["192.0.2.1", "192.0.2.3", "192.0.2.4"];

/// A lab of `n` ≤ 3 servers (`srv[i]` = server`i+1` at [`SRV_IP3`]`[i]`) and a client node
/// (perfdhcp's relay address [`CLIENT_IP`]) on one LAN, each server of either implementation,
/// with any set of HA roles (backup servers, passive-backup).
pub struct HaLab {
    pub lab: Lab,
    pub srv: Vec<Node>,
    pub cli: Node,
    /// Dropped after the lab (see [`super::serial`]).
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl HaLab {
    /// `tag` must be unique per test file.
    pub fn new(tag: &str, n: usize) -> Self {
        assert!((1..=SRV_IP3.len()).contains(&n), "1 to 3 servers");
        let serial = super::serial();
        let lab = Lab::new(tag);
        let srv: Vec<Node> = (0..n)
            .map(|i| {
                let s = lab.add_node(&format!("s{}", i + 1));
                s.add_addr(NODE_IF, &format!("{}/24", SRV_IP3[i]));
                s
            })
            .collect();
        let cli = lab.add_node("cli");
        cli.add_addr(NODE_IF, &format!("{CLIENT_IP}/24"));
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

    /// Server `i`'s control socket.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.path(&format!("ctrl{}.sock", i + 1))
    }

    /// Server `i`'s lease file.
    pub fn leases(&self, i: usize) -> PathBuf {
        self.path(&format!("leases{}.csv", i + 1))
    }

    /// The Kea 2.2 configuration of server `i` in a lab whose servers have `roles` (one per
    /// server, Kea's role names) in HA `mode`: as [`Pair::config`], one pool [`POOL`], `ha`
    /// keys merged into the HA map.
    pub fn config(&self, i: usize, mode: &str, roles: &[&str], ha: &Value) -> Value {
        assert_eq!(roles.len(), self.srv.len(), "one role per server");
        let peers: Vec<Value> = roles
            .iter()
            .enumerate()
            .map(|(j, role)| {
                json!({ "name": format!("server{}", j + 1),
                        "url": format!("http://{}:{HA_PORT}/", SRV_IP3[j]),
                        "role": role, "auto-failover": true })
            })
            .collect();
        let mut hac = json!({
            "this-server-name": format!("server{}", i + 1),
            "mode": mode,
            "sync-page-limit": 10000,
            "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                                 "http-listener-threads": 2, "http-client-threads": 2 },
            "peers": peers,
        });
        merge(&mut hac, &fast_timers());
        merge(&mut hac, ha);
        json!({ "Dhcp4": {
            "interfaces-config": { "interfaces": [NODE_IF] },
            "control-socket": { "socket-type": "unix", "socket-name": self.socket(i) },
            "lease-database": { "type": "memfile", "persist": true, "name": self.leases(i),
                                "lfc-interval": 0 },
            "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2,
                                 "packet-queue-size": 64 },
            "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
            "hooks-libraries": [
                { "library": LEASE_CMDS },
                { "library": HA_LIB, "parameters": { "high-availability": [hac] } }
            ],
            "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": POOL } ] } ],
            "loggers": [ { "name": "kea-dhcp4", "severity": "INFO",
                           "output_options": [ { "output": "stdout" } ] },
                         { "name": "kea-dhcp4.leases", "severity": "WARN",
                           "output_options": [ { "output": "stdout" } ] } ]
        } })
    }

    /// Writes server `i`'s configuration and returns its path.
    pub fn write(&self, i: usize, conf: &Value) -> PathBuf {
        let p = self.path(&format!("server{}.conf", i + 1));
        std::fs::write(&p, serde_json::to_vec_pretty(conf).unwrap()).unwrap();
        p
    }

    /// Starts server `i` (dhcp4d or kea-dhcp4) with `conf` and waits for its control socket.
    pub fn start(&self, i: usize, which: Impl, conf: &Path) -> Proc {
        start_server(
            &self.srv[i],
            &self.path(&format!("kea{}", i + 1)),
            which,
            conf,
            &[],
            &self.socket(i),
            i,
        )
    }

    /// Server `i`'s `status-get` `high-availability[0]`.
    pub fn ha_status(&self, i: usize) -> Value {
        let a = command(&self.socket(i), "status-get", Value::Null);
        let ha = &a["arguments"]["high-availability"][0];
        assert!(
            ha.is_object(),
            "no HA section in server{}'s status-get: {a}",
            i + 1
        );
        ha.clone()
    }

    /// Server `i`'s HA state.
    pub fn state(&self, i: usize) -> String {
        let s = self.ha_status(i);
        s["ha-servers"]["local"]["state"]
            .as_str()
            .unwrap_or_else(|| panic!("no local state in server{}'s status: {s}", i + 1))
            .to_owned()
    }

    /// Waits until server `i` is in `state`.
    pub fn wait_state(&self, i: usize, state: &str, timeout: Duration) -> Duration {
        let t0 = std::time::Instant::now();
        let mut last = String::new();
        let what = format!("server{} to reach {state}", i + 1);
        wait_for(timeout, &what, || {
            last = self.state(i);
            (last == state).then_some(())
        });
        t0.elapsed()
    }

    /// Server `i`'s leases (as [`Pair::leases_of`]).
    pub fn leases_of(&self, i: usize) -> Leases {
        let a = command(&self.socket(i), "lease4-get-all", Value::Null);
        assert!(
            a["result"] == 0 || a["result"] == 3,
            "lease4-get-all on server{}: {a}",
            i + 1
        );
        a["arguments"]["leases"]
            .as_array()
            .map(|l| l.iter().map(lease_entry).collect())
            .unwrap_or_default()
    }

    /// Server `i`'s `pkt4-ack-sent` statistic.
    pub fn acks_sent(&self, i: usize) -> u64 {
        let st = command(
            &self.socket(i),
            "statistic-get",
            json!({ "name": "pkt4-ack-sent" }),
        );
        st["arguments"]["pkt4-ack-sent"][0][0]
            .as_u64()
            .unwrap_or_else(|| panic!("no pkt4-ack-sent on server{}: {st}", i + 1))
    }

    /// Starts tcpdump on the client's interface writing the server replies to `name`.
    pub fn capture(&self, name: &str) -> (Proc, PathBuf) {
        capture_replies(&self.cli, &self.path(name))
    }
}

/// Starts tcpdump on `cli`'s interface writing the DHCP server replies (relayed, port 67 to
/// 67) to `pcap`, and waits until it listens.
pub fn capture_replies(cli: &Node, pcap: &Path) -> (Proc, PathBuf) {
    let tcpdump = require_bin("tcpdump");
    let cap = cli.spawn(&[
        tcpdump.to_str().unwrap(),
        "-p",
        "-n",
        "-U",
        "-i",
        NODE_IF,
        "-w",
        pcap.to_str().unwrap(),
        "udp and src port 67 and dst port 67",
    ]);
    wait_until(Duration::from_secs(5), "tcpdump to listen", || {
        cap.log().contains("listening on")
    });
    (cap, pcap.to_path_buf())
}
