//! Interop: hakit's VRRP codec (`vrrp-proto`) against a live keepalived 2.2.7, in both
//! directions, each test in its own network namespaces (`ka` runs keepalived, `obs` is hakit's
//! side; both on one bridge). Needs root, iproute2 and keepalived: without them the tests fail
//! saying so, they never pass silently.
//!
//! keepalived → hakit: adverts captured in `obs` (raw IPv4 socket, IP header included; for IPv6
//! an `AF_PACKET` socket, which delivers the IPv6 header, so hop limit and both addresses come
//! from the wire) and decoded with [`decode_ipv4`] / [`decode`].
//!
//! hakit → keepalived: adverts built with [`AdvertRepr::emit`] and sent from `obs` at a higher
//! priority than keepalived's; keepalived (started as MASTER) goes BACKUP when it accepts them,
//! and stays MASTER and logs why when it rejects them. Its state comes from a `notify` script
//! that appends each state to a file.
//!
//! Finding on `v3_checksum_as_v2`: keepalived 2.2.7 does not know the keyword (it came in a
//! later release). In `vrrp_instance` and in `global_defs` alike it logs
//! `Unknown keyword 'v3_checksum_as_v2'` and ignores it: it still sends VRRPv3/IPv4 adverts with
//! the IPv4 pseudo-header checksum, rejects adverts without it (`Invalid VRRPv3 checksum`) and
//! accepts adverts with it. This is why the reference capture `v3_ipv4_rfc9568.pcap`, taken from
//! a 2.2.7 "configured" with the option, carries pseudo-header checksums.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_until};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use vrrp_proto::checksum;
use vrrp_proto::{
    AdvertRepr, Auth, AuthType, ChecksumMode, GROUP_V4, GROUP_V6, IpChecks, IpPair, Received, RxIp,
    TTL, Version, VirtualAddrs, decode, decode_ipv4,
};

/// keepalived's address on `ka`'s eth0.
const KA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// hakit's address on `obs`'s eth0.
const OBS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The virtual addresses of the IPv4 instances.
const VIPS: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 101), Ipv4Addr::new(192, 0, 2, 102)];
/// The IP protocol number of VRRP.
const VRRP: i32 = 112;
/// What keepalived logs when it accepted one of hakit's adverts (priority 200) as MASTER.
const HIGHER_PRIORITY: &str =
    "Master received advert from 192.0.2.2 with higher priority 200, ours 100";
/// Bound on every wait for keepalived (start-up, state changes, adverts).
const WAIT: Duration = Duration::from_secs(8);

/// One lab: `ka` (192.0.2.1/24) and `obs` (192.0.2.2/24) on one bridge.
struct Pair {
    lab: Lab,
    ka: Node,
    obs: Node,
}

impl Pair {
    fn new(tag: &str) -> Self {
        let lab = Lab::new(tag);
        let ka = lab.add_node("ka");
        let obs = lab.add_node("obs");
        ka.add_addr(NODE_IF, &format!("{KA}/24"));
        obs.add_addr(NODE_IF, &format!("{OBS}/24"));
        Self { lab, ka, obs }
    }
}

/// Where to put `v3_checksum_as_v2` in keepalived's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsV2 {
    Absent,
    Instance,
    Global,
}

/// keepalived 2.2.7 running in `ka` with one `vrrp_instance VI_1` on eth0.
struct Keepalived {
    proc: Proc,
    states: PathBuf,
    conf: String,
}

impl Keepalived {
    /// Writes the configuration (`global_extra` inside `global_defs`, `instance` inside the
    /// instance) and a notify script, and starts keepalived in the foreground.
    fn start(pair: &Pair, global_extra: &str, instance: &str) -> Self {
        let bin = require_bin("keepalived");
        let dir = pair.lab.dir();
        let states = dir.join("states");
        let notify = dir.join("notify.sh");
        // keepalived calls the script with TYPE NAME STATE PRIORITY.
        std::fs::write(
            &notify,
            format!("#!/bin/sh\necho \"$3\" >> {}\n", states.display()),
        )
        .unwrap();
        std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = dir.join("keepalived.conf");
        let text = format!(
            "global_defs {{\n    router_id {prefix}\n    script_user root\n{global_extra}\n}}\n\
             vrrp_instance VI_1 {{\n    interface {NODE_IF}\n    notify {notify}\n{instance}\n}}\n",
            prefix = pair.lab.prefix(),
            notify = notify.display(),
        );
        std::fs::write(&conf, &text).unwrap();
        let pid = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let (p, r, c, b) = (
            pid("ka.pid"),
            pid("vrrp.pid"),
            pid("checkers.pid"),
            pid("bfd.pid"),
        );
        let proc = pair.ka.spawn(&[
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
            &p,
            "-r",
            &r,
            "-c",
            &c,
            "-b",
            &b,
        ]);
        Self {
            proc,
            states,
            conf: text,
        }
    }

    /// The 1-based line of the configuration that contains `needle`.
    fn conf_line(&self, needle: &str) -> usize {
        1 + self
            .conf
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in the configuration"))
    }

    /// The states the notify script recorded so far.
    fn states(&self) -> Vec<String> {
        std::fs::read_to_string(&self.states)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the last recorded state is `state`.
    fn wait_state(&self, state: &str) {
        wait_until(WAIT, &format!("keepalived to enter {state}"), || {
            self.states().last().is_some_and(|s| s == state)
        });
    }

    /// How many log lines contain `needle`.
    fn log_count(&self, needle: &str) -> usize {
        self.proc
            .log()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `needle` was logged at least `n` times.
    fn wait_log(&self, needle: &str, n: usize) {
        wait_until(
            WAIT,
            &format!("{n} × {needle:?} in keepalived's log"),
            || self.log_count(needle) >= n,
        );
    }
}

/// A raw IPv4 VRRP socket in `obs`, joined to 224.0.0.18 on eth0.
fn rx_v4(obs: &Node) -> Socket {
    let index = obs.ifindex(NODE_IF);
    obs.enter(|| {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(VRRP))).unwrap();
        s.join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(index))
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s
    })
}

/// An `AF_PACKET` socket in `obs` receiving IPv6 packets from the link layer up (header
/// included): the source, destination and hop limit keepalived really sent.
fn rx_v6(obs: &Node) -> Socket {
    obs.enter(|| {
        let proto = (libc::ETH_P_IPV6 as u16).to_be();
        let s = Socket::new(
            Domain::PACKET,
            Type::DGRAM,
            Some(Protocol::from(i32::from(proto))),
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s
    })
}

/// Splits an IPv6 packet into receive metadata and payload, if it carries VRRP directly.
fn parse_ipv6(pkt: &[u8]) -> Option<(RxIp, &[u8])> {
    if pkt.len() < 40 || pkt[0] >> 4 != 6 || i32::from(pkt[6]) != VRRP {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[8..24]).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[24..40]).ok()?);
    let rx = RxIp {
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        ttl: pkt[7],
    };
    Some((rx, pkt.get(40..40 + len)?))
}

/// Reads until an advert satisfying `want` arrives (bounded by [`WAIT`]). Every VRRP packet
/// read must decode: a decode error is an interop failure and fails the test with the bytes.
/// Returns the decoded advert and the VRRP message's bytes.
fn next_advert(
    sock: &Socket,
    v6: bool,
    mut want: impl FnMut(&Received) -> bool,
) -> (Received, Vec<u8>) {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 2048];
    let mut seen = 0;
    while Instant::now() < deadline {
        let n = match (&*sock).read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => panic!("receive: {e}"),
        };
        let pkt = &buf[..n];
        let (rx, payload) = if v6 {
            let Some((ip, payload)) = parse_ipv6(pkt) else {
                continue;
            };
            let rx = decode(payload, ip, &IpChecks::default());
            (rx, payload.to_vec())
        } else {
            (decode_ipv4(pkt, &IpChecks::default()), pkt[20..].to_vec())
        };
        let rx =
            rx.unwrap_or_else(|e| panic!("keepalived's advert does not decode: {e}: {pkt:02x?}"));
        seen += 1;
        if want(&rx) {
            return (rx, payload);
        }
    }
    panic!("no wanted advert within {WAIT:?} ({seen} other adverts seen)");
}

/// Sends one advert from `obs` to 224.0.0.18 every `period` until dropped.
struct Sender {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    /// Emits `advert` with `mode` for the pair (192.0.2.2 → 224.0.0.18) and starts sending it on
    /// a raw socket whose IP header the kernel builds (TTL 255, TOS 0xc0, no loopback).
    fn start(obs: &Node, advert: &AdvertRepr, mode: ChecksumMode, period: Duration) -> Self {
        let mut bytes = vec![0; advert.buffer_len()];
        let n = advert
            .emit(&mut bytes, &IpPair::v4(OBS, GROUP_V4), mode)
            .unwrap();
        assert_eq!(n, bytes.len());
        let sock = obs.enter(|| {
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(VRRP))).unwrap();
            s.set_multicast_if_v4(&OBS).unwrap();
            s.set_multicast_ttl_v4(u32::from(TTL)).unwrap();
            s.set_multicast_loop_v4(false).unwrap();
            s.set_tos_v4(0xc0).unwrap();
            s
        });
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (stop, sent) = (stop.clone(), sent.clone());
            move || {
                let to = SockAddr::from(SocketAddrV4::new(GROUP_V4, 0));
                while !stop.load(Ordering::Relaxed) {
                    sock.send_to(&bytes, &to).expect("send advert");
                    sent.fetch_add(1, Ordering::Relaxed);
                    // Pacing the adverts (the advert interval), not synchronisation.
                    std::thread::sleep(period);
                }
            }
        });
        Self {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let r = t.join();
            if !std::thread::panicking() {
                r.expect("sender thread");
            }
        }
    }
}

fn v3_instance(vrid: u8, priority: u8, extra: &str) -> String {
    format!(
        "    state MASTER\n    version 3\n    virtual_router_id {vrid}\n    priority {priority}\n    \
         advert_int 0.1\n    virtual_ipaddress {{\n        {}/24\n        {}/24\n    }}\n{extra}",
        VIPS[0], VIPS[1]
    )
}

fn v3_advert(vrid: u8, priority: u8) -> AdvertRepr {
    AdvertRepr::v3(
        vrid,
        priority,
        Duration::from_millis(100),
        VirtualAddrs::V4(VIPS.to_vec()),
    )
}

/// keepalived → hakit, VRRPv3 over IPv4 with two VIPs: decodes with the pseudo-header
/// checksum, TTL 255, TOS 0xc0, from keepalived's address to the group; on SIGTERM the
/// priority-0 advert arrives and decodes.
#[test]
fn keepalived_v3_ipv4_adverts_decode_and_release_with_priority_zero() {
    let pair = Pair::new("kv3");
    let sock = rx_v4(&pair.obs);
    let mut ka = Keepalived::start(&pair, "", &v3_instance(51, 200, ""));
    let (rx, _) = next_advert(&sock, false, |r| r.advert.priority == 200);
    assert_eq!(rx.advert, v3_advert(51, 200));
    assert_eq!(rx.advert.version, Version::V3);
    assert_eq!(rx.advert.interval_duration(), Duration::from_millis(100));
    assert_eq!(rx.checksum, ChecksumMode::PseudoHeader);
    assert_eq!(
        rx.ip,
        RxIp {
            src: IpAddr::V4(KA),
            dst: IpAddr::V4(GROUP_V4),
            ttl: TTL
        }
    );
    ka.wait_state("MASTER");

    ka.proc.terminate(WAIT);
    let (rx, _) = next_advert(&sock, false, |r| r.advert.priority == 0);
    assert_eq!(rx.advert, v3_advert(51, 0));
    assert_eq!(rx.checksum, ChecksumMode::PseudoHeader);
}

/// keepalived → hakit, VRRPv3 over IPv6 with a link-local VIP first: decodes with the IPv6
/// pseudo-header, from `ka`'s link-local address to ff02::12 with hop limit 255.
#[test]
fn keepalived_v3_ipv6_adverts_decode() {
    let pair = Pair::new("kv6");
    let ka_ll = pair.ka.link_local(NODE_IF);
    let sock = rx_v6(&pair.obs);
    let vips: [Ipv6Addr; 2] = ["fe80::54".parse().unwrap(), "2001:db8::54".parse().unwrap()];
    let ka = Keepalived::start(
        &pair,
        "",
        &format!(
            "    state MASTER\n    version 3\n    virtual_router_id 54\n    priority 200\n    \
             advert_int 0.1\n    virtual_ipaddress {{\n        {}/64\n        {}/64\n    }}\n",
            vips[0], vips[1]
        ),
    );
    let (rx, bytes) = next_advert(&sock, true, |r| r.advert.priority == 200);
    assert_eq!(
        rx.advert,
        AdvertRepr::v3(
            54,
            200,
            Duration::from_millis(100),
            VirtualAddrs::V6(vips.to_vec())
        )
    );
    assert_eq!(rx.checksum, ChecksumMode::PseudoHeader);
    assert_eq!(
        rx.ip,
        RxIp {
            src: IpAddr::V6(ka_ll),
            dst: IpAddr::V6(GROUP_V6),
            ttl: TTL
        }
    );
    // Re-emitted by hakit: byte-identical to keepalived's message.
    let mut out = vec![0; rx.advert.buffer_len()];
    rx.advert
        .emit(&mut out, &rx.ip.pair(), ChecksumMode::PseudoHeader)
        .unwrap();
    assert_eq!(out, bytes);
    ka.wait_state("MASTER");
}

/// VRRPv2 with `auth_type PASS`, both ways:
/// - keepalived → hakit: version 2, auth type 1 with the password, interval 1 s, checksum
///   over the VRRP message only;
/// - hakit → keepalived: a wrong password is rejected (`received an invalid passwd!`, keepalived
///   stays MASTER); the right one is accepted (keepalived goes BACKUP).
#[test]
fn v2_auth_pass_both_ways() {
    let pair = Pair::new("kv2");
    let sock = rx_v4(&pair.obs);
    let ka = Keepalived::start(
        &pair,
        "",
        &format!(
            "    state MASTER\n    version 2\n    virtual_router_id 50\n    priority 100\n    \
             advert_int 1\n    authentication {{\n        auth_type PASS\n        \
             auth_pass hakit-pw\n    }}\n    virtual_ipaddress {{\n        {}/24\n        {}/24\n    }}\n",
            VIPS[0], VIPS[1]
        ),
    );
    let (rx, bytes) = next_advert(&sock, false, |r| r.advert.priority == 100);
    let expected = AdvertRepr {
        version: Version::V2,
        vrid: 50,
        priority: 100,
        interval: 1,
        addrs: VirtualAddrs::V4(VIPS.to_vec()),
        auth: Auth::password(b"hakit-pw"),
        reserved: 0,
    };
    assert_eq!(rx.advert, expected);
    assert_eq!(rx.advert.auth.kind, AuthType::SimplePassword);
    assert_eq!(&rx.advert.auth.data, b"hakit-pw");
    assert_eq!(rx.checksum, ChecksumMode::VrrpOnly);
    assert_eq!(bytes.len(), rx.advert.buffer_len());
    ka.wait_state("MASTER");
    let master = ka.states();

    let mut wrong = expected.clone();
    wrong.priority = 200;
    wrong.auth = Auth::password(b"hakit-px");
    {
        let s = Sender::start(
            &pair.obs,
            &wrong,
            ChecksumMode::VrrpOnly,
            Duration::from_millis(100),
        );
        ka.wait_log("received an invalid passwd!", 3);
        assert!(s.sent() >= 3);
    }
    assert_eq!(ka.states(), master, "a wrong password moved keepalived");

    let mut right = expected;
    right.priority = 200;
    let _s = Sender::start(
        &pair.obs,
        &right,
        ChecksumMode::VrrpOnly,
        Duration::from_millis(100),
    );
    ka.wait_state("BACKUP");
    ka.wait_log(HIGHER_PRIORITY, 1);
}

/// VRRPv3/IPv4 checksums both ways, with `v3_checksum_as_v2` absent, in `vrrp_instance`, or in
/// `global_defs`. keepalived 2.2.7 behaves the same in all three (see the module docs):
/// - the option, when present, is logged as an unknown keyword;
/// - keepalived sends the pseudo-header checksum (and it does not match the RFC 9568 one);
/// - hakit's `VrrpOnly` adverts are rejected (`Invalid VRRPv3 checksum`, keepalived stays
///   MASTER); hakit's `PseudoHeader` adverts are accepted (keepalived goes BACKUP).
fn v3_checksums_both_ways(tag: &str, as_v2: AsV2) {
    let pair = Pair::new(tag);
    let sock = rx_v4(&pair.obs);
    let (global, instance) = match as_v2 {
        AsV2::Absent => ("", ""),
        AsV2::Instance => ("", "    v3_checksum_as_v2\n"),
        AsV2::Global => ("    v3_checksum_as_v2\n", ""),
    };
    let ka = Keepalived::start(&pair, global, &v3_instance(52, 100, instance));

    let unknown = "Unknown keyword 'v3_checksum_as_v2'";
    if as_v2 != AsV2::Absent {
        // keepalived's config reader names the line it skipped: the option is not applied.
        let line = ka.conf_line("v3_checksum_as_v2");
        ka.wait_log(&format!("Line {line}) {unknown}"), 1);
    }
    let (rx, bytes) = next_advert(&sock, false, |r| r.advert.priority == 100);
    assert_eq!(rx.advert, v3_advert(52, 100));
    assert_eq!(
        rx.checksum,
        ChecksumMode::PseudoHeader,
        "keepalived 2.2.7 sends the pseudo-header checksum ({as_v2:?})"
    );
    let found = u16::from_be_bytes([bytes[6], bytes[7]]);
    let pair_ip = IpPair::v4(KA, GROUP_V4);
    assert_eq!(
        found,
        checksum::expected(&bytes, &pair_ip, ChecksumMode::PseudoHeader)
    );
    assert_ne!(
        found,
        checksum::expected(&bytes, &pair_ip, ChecksumMode::VrrpOnly)
    );
    ka.wait_state("MASTER");
    let master = ka.states();

    {
        let s = Sender::start(
            &pair.obs,
            &v3_advert(52, 200),
            ChecksumMode::VrrpOnly,
            Duration::from_millis(100),
        );
        ka.wait_log("Invalid VRRPv3 checksum", 3);
        assert!(s.sent() >= 3);
    }
    assert_eq!(
        ka.states(),
        master,
        "RFC 9568 checksums moved keepalived ({as_v2:?})"
    );

    let _s = Sender::start(
        &pair.obs,
        &v3_advert(52, 200),
        ChecksumMode::PseudoHeader,
        Duration::from_millis(100),
    );
    ka.wait_state("BACKUP");
    ka.wait_log(HIGHER_PRIORITY, 1);
    if as_v2 == AsV2::Absent {
        assert_eq!(ka.log_count(unknown), 0);
    }
}

#[test]
fn v3_checksums_default_config() {
    v3_checksums_both_ways("kcd", AsV2::Absent);
}

#[test]
fn v3_checksum_as_v2_in_instance_is_ignored_by_2_2_7() {
    v3_checksums_both_ways("kci", AsV2::Instance);
}

#[test]
fn v3_checksum_as_v2_in_global_defs_is_ignored_by_2_2_7() {
    v3_checksums_both_ways("kcg", AsV2::Global);
}
