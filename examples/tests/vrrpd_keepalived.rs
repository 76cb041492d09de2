//! Interop: the `vrrpd` daemon against a live keepalived 2.2.7, each test in its own network
//! namespaces (routers `r1` and `r2` and a client `c` on one bridge, TEST-NET addresses only).
//! Needs root, iproute2 and keepalived: without them the tests fail saying so, they never pass
//! silently.
//!
//! State is read from `vrrpd`'s control socket and from keepalived's `notify` script, which
//! appends every state keepalived enters to a file; keepalived's exact state sequence is
//! asserted, so a spurious transition fails the test. Which side starts first is fixed (the
//! first one waits until it is Master), so the elections are deterministic. "The client reaches
//! the VIP" is a TCP connection to a closed port on the VIP, answered with a reset by whoever
//! holds it.
//!
//! Covered: VRRPv3/IPv4 multicast at 100 ms adverts with vrrpd as the higher priority (crash of
//! vrrpd, keepalived takes over, vrrpd restarts and preempts back) and as the lower priority
//! (crash of keepalived, vrrpd takes over); VRRPv2 with `auth_type PASS`, the right password
//! (one Master, each side accepts the other's adverts) and a wrong one (both Master: each drops
//! the other's adverts); unicast peers both ways with a graceful (priority 0) release;
//! VRRPv3/IPv6 with a link-local first VIP and a 2001:db8:: VIP.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, run_cmd, wait_until};
use examples::vrrpd::control::{self, Request};
use serde_json::Value;

/// r1's, r2's and the client's IPv4 addresses.
const R1: &str = "192.0.2.1";
const R2: &str = "192.0.2.2";
const CLIENT: &str = "192.0.2.10";
/// The IPv4 VIP.
const VIP4: &str = "192.0.2.100";
/// The IPv6 VIPs: a link-local one first (keepalived's rule for VRRPv3/IPv6), then a global.
const VIP6_LL: &str = "fe80::51";
const VIP6: &str = "2001:db8::51";
/// Bound on every wait at 100 ms adverts (start-up, elections, takeovers).
const WAIT: Duration = Duration::from_secs(5);
/// Bound on every wait at VRRPv2's 1 s adverts (a Master_Down_Interval is 3.2 to 3.6 s).
const WAIT_V2: Duration = Duration::from_secs(10);

/// One lab: r1, r2 and a client on one bridge.
struct Lab3 {
    lab: Lab,
    r1: Node,
    r2: Node,
    c: Node,
}

impl Lab3 {
    fn new(tag: &str, v6: bool) -> Self {
        require_bin("keepalived");
        let lab = Lab::new(tag);
        let r1 = lab.add_node("r1");
        let r2 = lab.add_node("r2");
        let c = lab.add_node("c");
        r1.add_addr(NODE_IF, &format!("{R1}/24"));
        r2.add_addr(NODE_IF, &format!("{R2}/24"));
        c.add_addr(NODE_IF, &format!("{CLIENT}/24"));
        if v6 {
            c.add_addr(NODE_IF, "2001:db8::10/64");
            // The adverts leave from the link-local address: wait until it is usable.
            r1.link_local(NODE_IF);
            r2.link_local(NODE_IF);
        }
        Self { lab, r1, r2, c }
    }

    /// Cuts (or restores) `node`'s cable at the switch.
    fn cable(&self, node: &Node, up: bool) {
        self.lab.set_port_up(node, NODE_IF, up);
        if up {
            node.wait_oper_up(NODE_IF);
        }
    }
}

/// The body of `vrrp_instance VI_1` shared by both daemons (both read keepalived.conf).
fn instance(priority: u8, version: u8, advert: &str, extra: &str, vips: &[String]) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}\n")).collect();
    format!(
        "    state BACKUP\n    interface {NODE_IF}\n    virtual_router_id 51\n    \
         priority {priority}\n    version {version}\n    advert_int {advert}\n{extra}    \
         virtual_ipaddress {{\n{vips}    }}\n"
    )
}

fn v4_vips() -> Vec<String> {
    vec![format!("{VIP4}/24")]
}

fn v6_vips() -> Vec<String> {
    vec![format!("{VIP6_LL}/64"), format!("{VIP6}/64")]
}

/// `vrrpd` running in a node, with its control socket.
struct Vrrpd {
    proc: Proc,
    sock: PathBuf,
}

impl Vrrpd {
    /// Writes `vrrpd-NODE.conf` with `body` as `VI_1` and starts vrrpd in `node`.
    fn start(node: &Node, dir: &Path, body: &str) -> Self {
        let file = dir.join(format!("vrrpd-{}.conf", node.name()));
        let text = format!(
            "global_defs {{\n    router_id vrrpd-{}\n}}\nvrrp_instance VI_1 {{\n{body}}}\n",
            node.name()
        );
        std::fs::write(&file, text).unwrap();
        let sock = dir.join(format!("vrrpd-{}.sock", node.name()));
        let proc = node.spawn(&[
            env!("CARGO_BIN_EXE_vrrpd"),
            "-f",
            file.to_str().unwrap(),
            "--control",
            sock.to_str().unwrap(),
        ]);
        Self { proc, sock }
    }

    /// VI_1's status, if the daemon answers.
    fn status(&self) -> Option<Value> {
        let v = control::call(&self.sock, &Request::Status).ok()?;
        Some(v["instances"][0].clone())
    }

    fn state(&self) -> Option<String> {
        Some(self.status()?["state"].as_str()?.to_owned())
    }

    fn wait_state(&self, state: &str, timeout: Duration) {
        wait_until(timeout, &format!("vrrpd to enter {state}"), || {
            self.state().as_deref() == Some(state)
        });
    }

    /// A counter of VI_1.
    fn counter(&self, name: &str) -> u64 {
        let s = self.status().expect("vrrpd answers on its control socket");
        s["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} in {s}"))
    }

    /// How many times the log says VI_1 entered `state`.
    fn entered(&self, state: &str) -> usize {
        self.proc
            .log()
            .matches(&format!("(VI_1) Entering {state} STATE"))
            .count()
    }
}

/// keepalived 2.2.7 running in a node with `body` as `VI_1`, its states recorded by a notify
/// script.
struct Keepalived {
    proc: Proc,
    node: Node,
    states: PathBuf,
}

impl Keepalived {
    fn start(node: &Node, dir: &Path, body: &str) -> Self {
        let bin = require_bin("keepalived");
        let name = node.name();
        let states = dir.join(format!("ka-{name}.states"));
        let notify = dir.join(format!("ka-{name}-notify.sh"));
        // keepalived calls the script with TYPE NAME STATE PRIORITY.
        std::fs::write(
            &notify,
            format!("#!/bin/sh\necho \"$3\" >> {}\n", states.display()),
        )
        .unwrap();
        std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = dir.join(format!("ka-{name}.conf"));
        let text = format!(
            "global_defs {{\n    router_id ka-{name}\n    script_user root\n}}\n\
             vrrp_instance VI_1 {{\n    notify {}\n{body}}}\n",
            notify.display()
        );
        std::fs::write(&conf, text).unwrap();
        let pid = |what: &str| {
            dir.join(format!("ka-{name}-{what}.pid"))
                .to_string_lossy()
                .into_owned()
        };
        let proc = node.spawn(&[
            &bin.to_string_lossy(),
            "-f",
            &conf.to_string_lossy(),
            "--vrrp",
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--dont-respawn",
            "-p",
            &pid("main"),
            "-r",
            &pid("vrrp"),
            "-c",
            &pid("checkers"),
            "-b",
            &pid("bfd"),
        ]);
        Self {
            proc,
            node: node.clone(),
            states,
        }
    }

    /// The states the notify script recorded so far.
    fn states(&self) -> Vec<String> {
        std::fs::read_to_string(&self.states)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn wait_state(&self, state: &str, timeout: Duration) {
        wait_until(timeout, &format!("keepalived to enter {state}"), || {
            self.states().last().is_some_and(|s| s == state)
        });
    }

    fn log_count(&self, needle: &str) -> usize {
        self.proc.log().matches(needle).count()
    }

    /// SIGKILL to every process of keepalived's node (parent and VRRP child alike).
    fn kill_all(&mut self) {
        let pids = run_cmd("ip", &["netns", "pids", self.node.netns()]);
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if !pids.is_empty() {
            let mut args = vec!["-KILL"];
            args.extend(pids);
            run_cmd("kill", &args);
        }
        self.proc.wait_exit(WAIT);
    }
}

/// Whether the client reaches `vip`: a TCP connection to a closed port is answered with a
/// reset (connection refused) by whoever holds the VIP; no answer is a time-out.
fn reaches(client: &Node, vip: &str) -> bool {
    let ip: IpAddr = vip.parse().unwrap();
    client.enter(|| {
        let to = SocketAddr::from((ip, 9));
        match TcpStream::connect_timeout(&to, Duration::from_millis(300)) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        }
    })
}

fn wait_reaches(client: &Node, vip: &str, on: &str) {
    wait_until(WAIT, &format!("the client to reach {vip} on {on}"), || {
        reaches(client, vip)
    });
}

fn has_addr(node: &Node, addr: &str) -> bool {
    node.ip(&["addr", "show", "dev", NODE_IF])
        .contains(&format!(" {addr}/"))
}

/// vrrpd (r1, priority 200) with keepalived (r2, priority 100), VRRPv3/IPv4 multicast at
/// 100 ms: vrrpd Master and keepalived Backup; vrrpd crashes (SIGKILL, cable cut) and
/// keepalived takes over, the client reaches the VIP on r2; vrrpd restarts (its stale VIP
/// removed at start-up) and preempts, keepalived goes back to Backup. keepalived's states are
/// exactly BACKUP, MASTER, BACKUP.
#[test]
fn v3_vrrpd_master_keepalived_backup_crash_and_preempt() {
    let l = Lab3::new("kiv3a", false);
    let dir = l.lab.dir();
    let v = Vrrpd::start(&l.r1, dir, &instance(200, 3, "0.1", "", &v4_vips()));
    v.wait_state("MASTER", WAIT);
    let ka = Keepalived::start(&l.r2, dir, &instance(100, 3, "0.1", "", &v4_vips()));
    ka.wait_state("BACKUP", WAIT);
    wait_reaches(&l.c, VIP4, "r1");
    // keepalived stays Backup: it accepts vrrpd's adverts (it would go Master after its
    // Master_Down_Interval, 339 ms, otherwise). Wait until it has been running well past that.
    let start = v.counter("adverts_tx");
    wait_until(
        WAIT,
        "vrrpd to send 10 adverts after keepalived started",
        || v.counter("adverts_tx") >= start + 10,
    );
    assert_eq!(ka.states(), ["BACKUP"]);
    assert!(has_addr(&l.r1, VIP4) && !has_addr(&l.r2, VIP4));

    // Crash of vrrpd: SIGKILL and its cable cut.
    let mut v = v;
    v.proc.signal(libc::SIGKILL);
    v.proc.wait_exit(WAIT);
    l.cable(&l.r1, false);
    ka.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, VIP4, "r2");
    assert!(has_addr(&l.r2, VIP4));

    // vrrpd comes back: the stale VIP goes, it preempts keepalived.
    drop(v);
    l.cable(&l.r1, true);
    let v = Vrrpd::start(&l.r1, dir, &instance(200, 3, "0.1", "", &v4_vips()));
    v.wait_state("MASTER", WAIT);
    ka.wait_state("BACKUP", WAIT);
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP"]);
    assert!(
        v.proc
            .log()
            .contains("removed stale address 192.0.2.100/24"),
        "{}",
        v.proc.log()
    );
    assert!(v.counter("adverts_rx") >= 1, "vrrpd heard keepalived");
    assert_eq!(v.counter("checksum_errors"), 0);
    assert_eq!(v.entered("MASTER"), 1, "{}", v.proc.log());
    assert!(
        ka.log_count("received advert from 192.0.2.1 with higher priority 200, ours 100") >= 1,
        "{}",
        ka.proc.log()
    );
    wait_reaches(&l.c, VIP4, "r1");
    assert!(!has_addr(&l.r2, VIP4));
}

/// The roles swapped: keepalived (r1, priority 200) Master, vrrpd (r2, priority 100) Backup
/// naming keepalived as its Master; keepalived crashes (every process SIGKILLed, then the
/// cable cut)
/// and vrrpd takes over, the client reaches the VIP on r2.
#[test]
fn v3_keepalived_master_vrrpd_backup_crash() {
    let l = Lab3::new("kiv3b", false);
    let dir = l.lab.dir();
    let mut ka = Keepalived::start(&l.r1, dir, &instance(200, 3, "0.1", "", &v4_vips()));
    ka.wait_state("MASTER", WAIT);
    let v = Vrrpd::start(&l.r2, dir, &instance(100, 3, "0.1", "", &v4_vips()));
    wait_until(WAIT, "vrrpd BACKUP with keepalived as Master", || {
        v.status().is_some_and(|s| {
            s["state"] == "BACKUP" && s["master"]["address"] == R1 && s["master"]["priority"] == 200
        })
    });
    wait_reaches(&l.c, VIP4, "r1");
    // vrrpd stays Backup well past its Master_Down_Interval (361 ms).
    let start = v.counter("adverts_rx");
    wait_until(WAIT, "vrrpd to hear 10 more adverts", || {
        v.counter("adverts_rx") >= start + 10
    });
    assert_eq!(v.state().as_deref(), Some("BACKUP"));
    assert_eq!(v.counter("checksum_errors"), 0);
    assert_eq!(
        v.status().unwrap()["master_adver_interval_ms"],
        100.0,
        "learnt from keepalived's adverts"
    );

    // SIGKILL first: cut first, keepalived would notice the carrier loss and go FAULT.
    ka.kill_all();
    l.cable(&l.r1, false);
    v.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, VIP4, "r2");
    assert!(has_addr(&l.r2, VIP4));
    assert_eq!(v.entered("MASTER"), 1, "{}", v.proc.log());
    assert_eq!(ka.states(), ["BACKUP", "MASTER"]);
}

fn v2_auth(password: &str) -> String {
    format!("    authentication {{\n        auth_type PASS\n        auth_pass {password}\n    }}\n")
}

/// VRRPv2 with `auth_type PASS` and the same password on both sides: keepalived (r2, 100)
/// becomes Master alone; vrrpd (r1, 200) starts, accepts its adverts (Backup naming it, no
/// authentication error) and preempts; keepalived accepts vrrpd's adverts and goes Backup.
#[test]
fn v2_auth_pass_right_password() {
    let l = Lab3::new("kiv2a", false);
    let dir = l.lab.dir();
    let ka = Keepalived::start(
        &l.r2,
        dir,
        &instance(100, 2, "1", &v2_auth("hakit-pw"), &v4_vips()),
    );
    ka.wait_state("MASTER", WAIT_V2);
    let v = Vrrpd::start(
        &l.r1,
        dir,
        &instance(200, 2, "1", &v2_auth("hakit-pw"), &v4_vips()),
    );
    wait_until(WAIT_V2, "vrrpd BACKUP with keepalived as Master", || {
        v.status().is_some_and(|s| {
            s["state"] == "BACKUP" && s["master"]["address"] == R2 && s["master"]["priority"] == 100
        })
    });
    v.wait_state("MASTER", WAIT_V2);
    ka.wait_state("BACKUP", WAIT_V2);
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP"]);
    assert_eq!(v.counter("auth_errors"), 0);
    assert_eq!(v.entered("MASTER"), 1, "{}", v.proc.log());
    assert_eq!(ka.log_count("invalid passwd"), 0, "{}", ka.proc.log());
    wait_reaches(&l.c, VIP4, "r1");
}

/// VRRPv2 with `auth_type PASS` and different passwords: each side drops the other's adverts,
/// so both are Master (split brain), keepalived logging `received an invalid passwd!` and
/// vrrpd counting authentication errors.
#[test]
fn v2_auth_pass_wrong_password_both_master() {
    let l = Lab3::new("kiv2b", false);
    let dir = l.lab.dir();
    let ka = Keepalived::start(
        &l.r2,
        dir,
        &instance(100, 2, "1", &v2_auth("hakit-pw"), &v4_vips()),
    );
    ka.wait_state("MASTER", WAIT_V2);
    let v = Vrrpd::start(
        &l.r1,
        dir,
        &instance(200, 2, "1", &v2_auth("hakit-px"), &v4_vips()),
    );
    v.wait_state("MASTER", WAIT_V2);
    wait_until(
        WAIT_V2,
        "vrrpd to reject 2 adverts and keepalived 2",
        || v.counter("auth_errors") >= 2 && ka.log_count("received an invalid passwd!") >= 2,
    );
    assert_eq!(ka.states(), ["BACKUP", "MASTER"], "{}", ka.proc.log());
    assert_eq!(v.state().as_deref(), Some("MASTER"));
    assert!(has_addr(&l.r1, VIP4) && has_addr(&l.r2, VIP4));
}

/// Unicast peers both ways (`unicast_src_ip` / `unicast_peer`, VRRPv3, 100 ms): keepalived
/// (r2, 100) Master alone; vrrpd (r1, 200) hears its unicast adverts and preempts; keepalived
/// hears vrrpd's and goes Backup. vrrpd stops (SIGTERM: priority 0 to the peer) and keepalived
/// takes over at once; the client reaches the VIP on r2.
#[test]
fn v3_unicast_peers() {
    let l = Lab3::new("kiuni", false);
    let dir = l.lab.dir();
    let uni = |src: &str, peer: &str| {
        format!("    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n")
    };
    let ka = Keepalived::start(
        &l.r2,
        dir,
        &instance(100, 3, "0.1", &uni(R2, R1), &v4_vips()),
    );
    ka.wait_state("MASTER", WAIT);
    let mut v = Vrrpd::start(
        &l.r1,
        dir,
        &instance(200, 3, "0.1", &uni(R1, R2), &v4_vips()),
    );
    v.wait_state("MASTER", WAIT);
    ka.wait_state("BACKUP", WAIT);
    assert!(v.counter("adverts_rx") >= 1, "vrrpd heard keepalived");
    assert_eq!(v.counter("checksum_errors"), 0);
    wait_reaches(&l.c, VIP4, "r1");
    // Still one Master well past keepalived's Master_Down_Interval.
    let start = v.counter("adverts_tx");
    wait_until(WAIT, "vrrpd to send 10 adverts", || {
        v.counter("adverts_tx") >= start + 10
    });
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP"]);

    let st = v.proc.terminate(WAIT);
    assert!(st.success(), "{}", v.proc.log());
    ka.wait_state("MASTER", WAIT);
    assert!(
        ka.log_count("Backup received priority 0 advertisement") >= 1,
        "{}",
        ka.proc.log()
    );
    wait_reaches(&l.c, VIP4, "r2");
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP", "MASTER"]);
}

/// VRRPv3/IPv6, VIPs fe80::51 (first, as VRRPv3 requires) and 2001:db8::51: keepalived (r2,
/// 100) Master alone; vrrpd (r1, 200) hears it (from its link-local address) and preempts,
/// keepalived goes Backup, the client reaches [2001:db8::51]; vrrpd stops (priority 0) and
/// keepalived takes over.
#[test]
fn v3_ipv6_link_local_first() {
    let l = Lab3::new("kiv6", true);
    let dir = l.lab.dir();
    let ka = Keepalived::start(&l.r2, dir, &instance(100, 3, "0.1", "", &v6_vips()));
    ka.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, VIP6, "r2");
    let mut v = Vrrpd::start(&l.r1, dir, &instance(200, 3, "0.1", "", &v6_vips()));
    v.wait_state("MASTER", WAIT);
    ka.wait_state("BACKUP", WAIT);
    let s = v.status().unwrap();
    assert!(
        s["source"]
            .as_str()
            .is_some_and(|a| a.starts_with("fe80::")),
        "{s}"
    );
    assert!(v.counter("adverts_rx") >= 1, "vrrpd heard keepalived");
    assert_eq!(v.counter("checksum_errors"), 0);
    assert_eq!(v.counter("ttl_errors"), 0);
    assert!(has_addr(&l.r1, VIP6) && has_addr(&l.r1, VIP6_LL));
    wait_until(WAIT, "keepalived to remove its VIPs", || {
        !has_addr(&l.r2, VIP6)
    });
    wait_reaches(&l.c, VIP6, "r1");
    let start = v.counter("adverts_tx");
    wait_until(WAIT, "vrrpd to send 10 adverts", || {
        v.counter("adverts_tx") >= start + 10
    });
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP"]);

    let st = v.proc.terminate(WAIT);
    assert!(st.success(), "{}", v.proc.log());
    assert!(!has_addr(&l.r1, VIP6));
    ka.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, VIP6, "r2");
}

/// Link cut of vrrpd's cable and its return: vrrpd (r1, 200) Master; its cable is cut, vrrpd
/// sees its interface go down and enters FAULT (VIP removed), as keepalived does, and keepalived
/// (r2, 100) takes over, the client reaching the VIP on r2. The cable comes back: vrrpd leaves
/// FAULT for BACKUP, preempts keepalived, and announces the VIP again (gratuitous ARP), so the
/// client reaches the VIP on r1 at once rather than after its ARP entry expires.
#[test]
fn v3_link_cut_and_return_refreshes_arp() {
    let l = Lab3::new("kilnk", false);
    let dir = l.lab.dir();
    let v = Vrrpd::start(&l.r1, dir, &instance(200, 3, "0.1", "", &v4_vips()));
    v.wait_state("MASTER", WAIT);
    let ka = Keepalived::start(&l.r2, dir, &instance(100, 3, "0.1", "", &v4_vips()));
    ka.wait_state("BACKUP", WAIT);
    wait_reaches(&l.c, VIP4, "r1");

    l.cable(&l.r1, false);
    ka.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, VIP4, "r2");

    l.cable(&l.r1, true);
    ka.wait_state("BACKUP", WAIT);
    wait_until(WAIT, "keepalived to remove its VIP", || {
        !has_addr(&l.r2, VIP4)
    });
    wait_reaches(&l.c, VIP4, "r1");
    let log = v.proc.log();
    let order = [
        "Kernel is reporting: interface eth0 is down",
        "(VI_1) tracked interface eth0 down: FAULT",
        "(VI_1) Entering FAULT STATE",
        "(VI_1) Removing VIPs 192.0.2.100",
        "Kernel is reporting: interface eth0 is up again",
        "(VI_1) Entering BACKUP STATE (fault cleared)",
        "(VI_1) Entering MASTER STATE (preempting a lower-priority master",
    ];
    let mut at = 0;
    for line in order {
        let found = log[at..]
            .find(line)
            .unwrap_or_else(|| panic!("missing or out of order: {line}\n{log}"));
        at += found + line.len();
    }
    assert!(log[at..].contains("gratuitous ARP"), "{log}");
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP"]);
    assert_eq!(v.state().as_deref(), Some("MASTER"));
}

/// Whether `node` holds `addr` on any interface (with a VMAC the VIPs live on the VMAC).
fn holds(node: &Node, addr: &str) -> bool {
    node.ip(&["addr", "show"]).contains(&format!(" {addr}/"))
}

/// VMAC on both sides, keepalived first as Master, then vrrpd preempting it, then vrrpd
/// stopping gracefully: each hears the other through its VMAC (one Master at a time) and the
/// client reaches the VIP through whoever holds it. IPv4 and IPv6 (link-local first VIP).
fn vmac_pair_with_keepalived(tag: &str, v6: bool) {
    let l = Lab3::new(tag, v6);
    let dir = l.lab.dir();
    let (vips, vip) = if v6 {
        (v6_vips(), VIP6)
    } else {
        (v4_vips(), VIP4)
    };
    let extra = "    use_vmac\n";
    let ka = Keepalived::start(&l.r2, dir, &instance(100, 3, "0.1", extra, &vips));
    ka.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, vip, "r2");
    let mut v = Vrrpd::start(&l.r1, dir, &instance(200, 3, "0.1", extra, &vips));
    v.wait_state("MASTER", WAIT);
    ka.wait_state("BACKUP", WAIT);
    wait_until(WAIT, "keepalived to remove its VIPs", || !holds(&l.r2, vip));
    assert!(holds(&l.r1, vip));
    assert!(
        l.r1.ip(&["-o", "link", "show"]).contains("vrrp.51"),
        "no VMAC on r1"
    );
    wait_reaches(&l.c, vip, "r1");
    // vrrpd hears keepalived's adverts through its VMAC while Backup, and keepalived hears
    // vrrpd's: ten adverts later both are still in their roles.
    let start = v.counter("adverts_tx");
    wait_until(WAIT, "vrrpd to send 10 adverts", || {
        v.counter("adverts_tx") >= start + 10
    });
    assert_eq!(ka.states(), ["BACKUP", "MASTER", "BACKUP"]);
    assert_eq!(v.counter("checksum_errors"), 0);

    let st = v.proc.terminate(WAIT);
    assert!(st.success(), "{}", v.proc.log());
    assert!(!holds(&l.r1, vip));
    assert!(
        !l.r1.ip(&["-o", "link", "show"]).contains("vrrp.51"),
        "VMAC left after SIGTERM"
    );
    ka.wait_state("MASTER", WAIT);
    wait_reaches(&l.c, vip, "r2");
}

#[test]
fn v3_vmac_ipv4_with_keepalived() {
    vmac_pair_with_keepalived("kivm4", false);
}

#[test]
fn v3_vmac_ipv6_with_keepalived() {
    vmac_pair_with_keepalived("kivm6", true);
}
