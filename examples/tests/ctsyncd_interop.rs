//! `ctsyncd` against itself and against a real conntrackd 1.4.7, in network namespaces.
//!
//! Topology (one bridge): node `a` (the primary) holds 203.0.113.1/24 (the sync link),
//! 198.51.100.1/24 and 192.0.2.1/24 and forwards; node `b` (the backup) holds 203.0.113.2/24;
//! `client` (198.51.100.10, via a) makes real TCP and UDP connections to `server`
//! (192.0.2.80, via a), so a's conntrack table sees them; more conntracks are created on `a`
//! with `conntrack -I` (TCP with SNAT and a mark, ICMP) or, for bulk, with the batching
//! ctnetlink commit. Each node has its own conntrack table (its own namespace).
//!
//! Needs root, iproute2, conntrackd, conntrack and nft: without them the tests fail saying so.
//! Namespaces are prefixed `hkcs`; every wait is bounded and a failure prints both daemons'
//! logs.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ct_sync::control::{
    ChannelKind, ChannelReport, ExternalStats, RsQueueEntry, parse_ct_dump_entry, parse_stats,
    parse_stats_network, parse_stats_rsqueue,
};
use ct_sync::ctnetlink::CommitConfig;
use ct_sync::wire::ct::status;
use ct_sync::wire::{CtRepr, Pair};
use examples::ctnl::CtnlSocket;
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_or, wait_until};

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(20);
/// How often a wait polls the daemons.
const POLL: Duration = Duration::from_millis(50);

fn ctsyncd() -> &'static str {
    env!("CARGO_BIN_EXE_ctsyncd")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ctsyncd,
    Conntrackd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ftfw,
    Notrack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Udp,
    Multicast,
    Tcp,
}

fn conf_text(dir: &Path, name: &str, mode: Mode, link: Link, local: &str, peer: &str) -> String {
    let d = dir.display();
    let mode = match mode {
        Mode::Ftfw => "FTFW {\n\t\tResendQueueSize 131072\n\t}",
        Mode::Notrack => "NOTRACK {\n\t\tDisableInternalCache off\n\t}",
    };
    let link = match link {
        Link::Udp => format!(
            "UDP {{\n\t\tIPv4_address {local}\n\t\tIPv4_Destination_Address {peer}\n\t\t\
             Port 3780\n\t\tInterface {NODE_IF}\n\t\tSndSocketBuffer 8388608\n\t\t\
             RcvSocketBuffer 8388608\n\t\tChecksum on\n\t}}"
        ),
        Link::Multicast => format!(
            "Multicast {{\n\t\tIPv4_address 225.0.0.50\n\t\tGroup 3780\n\t\t\
             IPv4_interface {local}\n\t\tInterface {NODE_IF}\n\t\tSndSocketBuffer 8388608\n\t\t\
             RcvSocketBuffer 8388608\n\t\tChecksum on\n\t}}"
        ),
        Link::Tcp => format!(
            "TCP {{\n\t\tIPv4_address {local}\n\t\tIPv4_Destination_Address {peer}\n\t\t\
             Port 3781\n\t\tInterface {NODE_IF}\n\t\tChecksum on\n\t}}"
        ),
    };
    format!(
        "Sync {{
	Mode {mode}
	{link}
}}
General {{
	HashSize 8192
	HashLimit 262144
	LogFile {d}/{name}.log
	Syslog off
	LockFile {d}/{name}.lock
	UNIX {{
		Path {d}/{name}.sock
	}}
	NetlinkBufferSize 8388608
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

/// A sync daemon in a node, with its configuration file.
struct Daemon {
    which: Impl,
    node: Node,
    name: String,
    conf: String,
    dir: PathBuf,
    proc: Option<Proc>,
}

impl Daemon {
    fn start(which: Impl, node: &Node, dir: &Path, name: &str, text: &str) -> Self {
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, text).unwrap();
        let mut d = Self {
            which,
            node: node.clone(),
            name: name.to_owned(),
            conf: conf.display().to_string(),
            dir: dir.to_owned(),
            proc: None,
        };
        d.launch();
        d
    }

    fn bin(&self) -> &'static str {
        match self.which {
            Impl::Ctsyncd => ctsyncd(),
            Impl::Conntrackd => "conntrackd",
        }
    }

    fn launch(&mut self) {
        let p = self.node.spawn(&[self.bin(), "-C", &self.conf]);
        self.proc = Some(p);
        let what = format!(
            "{:?} in {} to answer on its UNIX socket",
            self.which, self.name
        );
        wait_until(WAIT, &what, || {
            let p = self.proc.as_mut().unwrap();
            assert!(p.is_running(), "{:?} exited:\n{}", self.which, self.logs());
            self.try_query_with(self.which, &["-s"]).is_some()
        });
    }

    /// Stops the daemon (SIGTERM) and waits for its exit.
    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(WAIT);
        }
        // conntrackd leaves its lock file behind only when killed; be safe.
        let _ = std::fs::remove_file(self.dir.join(format!("{}.lock", self.name)));
    }

    fn logs(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join(format!("{}.log", self.name)))
            .unwrap_or_default();
        let out = self.proc.as_ref().map(Proc::log).unwrap_or_default();
        format!(
            "== {} ({:?}) LogFile:\n{log}== output:\n{out}",
            self.name, self.which
        )
    }

    /// The client of `client` (ctsyncd's or conntrackd's) against this daemon.
    fn try_query_with(&self, client: Impl, flags: &[&str]) -> Option<String> {
        let bin = match client {
            Impl::Ctsyncd => ctsyncd(),
            Impl::Conntrackd => "conntrackd",
        };
        let mut cmd = vec![bin, "-C", &self.conf];
        cmd.extend_from_slice(flags);
        let out = self.node.output(&cmd);
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).expect("UTF-8 reply"))
    }

    #[track_caller]
    fn query_with(&self, client: Impl, flags: &[&str], peer: &Self) -> String {
        self.try_query_with(client, flags).unwrap_or_else(|| {
            panic!(
                "`{:?} {}` in {} failed\n{}\n{}",
                client,
                flags.join(" "),
                self.name,
                self.logs(),
                peer.logs()
            )
        })
    }

    /// Its own client.
    #[track_caller]
    fn query(&self, flags: &[&str], peer: &Self) -> String {
        self.query_with(self.which, flags, peer)
    }

    /// The conntracks of `-e` (or `-i`).
    #[track_caller]
    fn dump(&self, flag: &str, peer: &Self) -> Vec<CtRepr> {
        self.query(&[flag], peer)
            .lines()
            .map(|l| {
                parse_ct_dump_entry(l)
                    .unwrap_or_else(|e| panic!("{}: {e}: {l:?}", self.name))
                    .0
            })
            .collect()
    }

    #[track_caller]
    fn external_active(&self, peer: &Self) -> u32 {
        let text = self.query(&["-s"], peer);
        match parse_stats(&text)
            .unwrap_or_else(|e| panic!("{} -s: {e}\n{text}", self.name))
            .external
        {
            ExternalStats::Cache(c) => c.active,
            ExternalStats::Inject(_) => panic!("external cache expected"),
        }
    }
}

/// A lab with the primary `a`, the backup `b`, and the client and server behind `a`.
struct Net {
    lab: Lab,
    a: Node,
    b: Node,
    client: Node,
    server: Node,
}

impl Net {
    /// Starts `wa` on `a` and `wb` on `b`, syncing over the 203.0.113.0/24 link.
    fn start_pair(&self, wa: Impl, wb: Impl, mode: Mode, link: Link) -> (Daemon, Daemon) {
        let dir = self.lab.dir();
        let text = |name, local, peer| conf_text(dir, name, mode, link, local, peer);
        (
            Daemon::start(
                wa,
                &self.a,
                dir,
                "a",
                &text("a", "203.0.113.1", "203.0.113.2"),
            ),
            Daemon::start(
                wb,
                &self.b,
                dir,
                "b",
                &text("b", "203.0.113.2", "203.0.113.1"),
            ),
        )
    }
}

fn net() -> Net {
    for bin in ["conntrackd", "conntrack", "nft"] {
        require_bin(bin);
    }
    let lab = Lab::new("cs");
    let a = lab.add_node("a");
    let b = lab.add_node("b");
    let client = lab.add_node("client");
    let server = lab.add_node("server");
    for cidr in ["203.0.113.1/24", "198.51.100.1/24", "192.0.2.1/24"] {
        a.add_addr(NODE_IF, cidr);
    }
    a.set_sysctl("net/ipv4/ip_forward", "1");
    // A rule that uses conntrack makes the kernel track packets in this namespace.
    a.run(&["nft", "add", "table", "inet", "hkcs"]);
    a.run(&[
        "nft",
        "add",
        "chain",
        "inet",
        "hkcs",
        "hkfwd",
        "{ type filter hook forward priority 0; policy accept; }",
    ]);
    a.run(&[
        "nft",
        "add",
        "rule",
        "inet",
        "hkcs",
        "hkfwd",
        "ct",
        "state",
        "established,related",
        "accept",
    ]);
    a.set_sysctl("net/ipv4/conf/all/send_redirects", "0");
    a.set_sysctl(&format!("net/ipv4/conf/{NODE_IF}/send_redirects"), "0");
    b.add_addr(NODE_IF, "203.0.113.2/24");
    client.add_addr(NODE_IF, "198.51.100.10/24");
    client.ip(&["route", "add", "default", "via", "198.51.100.1"]);
    server.add_addr(NODE_IF, "192.0.2.80/24");
    server.ip(&["route", "add", "default", "via", "192.0.2.1"]);
    Net {
        lab,
        a,
        b,
        client,
        server,
    }
}

/// Open connections through `a`: kept alive while the value lives.
struct Traffic {
    _tcp: (TcpStream, TcpStream),
    udp_sport: u16,
    tcp_sport: u16,
}

/// A TCP connection and a UDP exchange from the client to the server, through `a`.
fn traffic(n: &Net) -> Traffic {
    let listener = n
        .server
        .enter(|| TcpListener::bind("192.0.2.80:8080").expect("server: listen"));
    let echo = n
        .server
        .enter(|| UdpSocket::bind("192.0.2.80:5353").expect("server: udp"));
    let mut c = n.client.enter(|| {
        TcpStream::connect_timeout(&"192.0.2.80:8080".parse().unwrap(), WAIT)
            .expect("client: connect through a")
    });
    let (mut s, _) = listener.accept().unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    s.write_all(b"pong").unwrap();
    c.read_exact(&mut buf).unwrap();
    let tcp_sport = c.local_addr().unwrap().port();

    let u = n
        .client
        .enter(|| UdpSocket::bind("198.51.100.10:0").expect("client: udp"));
    u.set_read_timeout(Some(WAIT)).unwrap();
    echo.set_read_timeout(Some(WAIT)).unwrap();
    u.send_to(b"query", "192.0.2.80:5353").unwrap();
    let mut b = [0u8; 16];
    let (len, from) = echo.recv_from(&mut b).expect("server: udp through a");
    echo.send_to(&b[..len], from).unwrap();
    u.recv_from(&mut b).expect("client: udp echo");
    Traffic {
        _tcp: (c, s),
        udp_sport: u.local_addr().unwrap().port(),
        tcp_sport,
    }
}

/// `conntrack -I` on `a`: a TCP conntrack with SNAT and a mark, and an ICMP one.
fn insert_manual(n: &Net) {
    n.a.run(&[
        "conntrack",
        "-I",
        "-p",
        "tcp",
        "-s",
        "198.51.100.77",
        "-d",
        "192.0.2.81",
        "--sport",
        "40000",
        "--dport",
        "443",
        "--state",
        "ESTABLISHED",
        "-t",
        "600",
        "-u",
        "SEEN_REPLY,ASSURED",
        "-m",
        "42",
        "--src-nat",
        "203.0.113.9",
    ]);
    n.a.run(&[
        "conntrack",
        "-I",
        "-p",
        "icmp",
        "-s",
        "198.51.100.78",
        "-d",
        "192.0.2.82",
        "--icmp-type",
        "8",
        "--icmp-code",
        "0",
        "--icmp-id",
        "4660",
        "-t",
        "30",
    ]);
}

fn v4(s: &str, d: &str) -> Option<Pair<std::net::Ipv4Addr>> {
    Some(Pair::new(s.parse().unwrap(), d.parse().unwrap()))
}

/// Whether `list` holds a conntrack with these original addresses, protocol and ports.
fn has(list: &[CtRepr], src: &str, dst: &str, proto: u8, ports: Option<(u16, u16)>) -> bool {
    list.iter().any(|c| {
        c.ipv4 == v4(src, dst)
            && c.l4proto == Some(proto)
            && ports.is_none_or(|(s, d)| c.port == Some(Pair::new(s, d)))
    })
}

/// What the backup must hold.
/// Original source, destination, protocol and ports of a conntrack.
type Want = (&'static str, &'static str, u8, Option<(u16, u16)>);

fn expected(t: &Traffic) -> Vec<Want> {
    vec![
        ("198.51.100.77", "192.0.2.81", 6, Some((40000, 443))),
        ("198.51.100.78", "192.0.2.82", 1, None),
        ("198.51.100.10", "192.0.2.80", 6, Some((t.tcp_sport, 8080))),
        ("198.51.100.10", "192.0.2.80", 17, Some((t.udp_sport, 5353))),
    ]
}

/// The whole scenario between a primary `wa` and a backup `wb`: sync of real and manual
/// conntracks, commit into b's kernel (with the NAT reply tuple rebuilt), deletion.
fn scenario(wa: Impl, wb: Impl, mode: Mode, link: Link, commit_client: Impl) {
    let n = net();
    let (da, db) = n.start_pair(wa, wb, mode, link);
    if link == Link::Tcp {
        // The channel needs both connections before the first message.
        let up = |d: &Daemon, peer: &Daemon| {
            channel(d, peer).kind
                == ChannelKind::Tcp {
                    server_connected: true,
                    client_connected: true,
                }
        };
        wait_until(WAIT, "both TCP connections of the sync channel", || {
            up(&da, &db) && up(&db, &da)
        });
    }

    let t = traffic(&n);
    insert_manual(&n);
    let want = expected(&t);
    let last = wait_or(
        WAIT,
        POLL,
        || {
            let last = db.dump("-e", &da);
            let all = want
                .iter()
                .all(|&(s, d, p, ports)| has(&last, s, d, p, ports));
            if all { Ok(last) } else { Err(last) }
        },
        |last| {
            format!(
                "b's external cache never held a's conntracks: {last:#?}\n{}\n{}",
                da.logs(),
                db.logs()
            )
        },
    );
    // The synced NAT entry carries its SNAT address and mark.
    let nat = last
        .iter()
        .find(|c| c.ipv4 == v4("198.51.100.77", "192.0.2.81"))
        .unwrap();
    assert_eq!(nat.mark, Some(42), "{nat:?}");
    assert!(
        nat.status.is_some_and(|s| s & status::ASSURED != 0),
        "{nat:?}"
    );
    assert!(db.external_active(&da) >= want.len() as u32);
    // Nothing of the sync link itself (filtered) and nothing malformed.
    assert!(
        !last
            .iter()
            .any(|c| c.ipv4.is_some_and(|a| a.src.octets()[..3] == [203, 0, 113]))
    );
    let net_stats = parse_stats_network(&db.query(&["-s", "network"], &da)).unwrap();
    assert_eq!(net_stats.rcv_malformed, 0, "b received malformed messages");

    // Commit into b's kernel (the given client), then b's table has them, NAT rebuilt.
    let before = n.b.run(&["conntrack", "-L"]);
    assert!(
        !before.contains("198.51.100.77"),
        "b's table had the entry before the commit"
    );
    db.query_with(commit_client, &["-c"], &da);
    let table = n.b.run(&["conntrack", "-L"]);
    for needle in [
        "src=198.51.100.77 dst=192.0.2.81 sport=40000 dport=443 src=192.0.2.81 dst=203.0.113.9 \
         sport=443 dport=40000",
        "mark=42",
        "src=198.51.100.78 dst=192.0.2.82 type=8 code=0 id=4660",
        &format!(
            "src=198.51.100.10 dst=192.0.2.80 sport={} dport=8080",
            t.tcp_sport
        ),
        &format!(
            "src=198.51.100.10 dst=192.0.2.80 sport={} dport=5353",
            t.udp_sport
        ),
    ] {
        assert!(
            table.contains(needle),
            "b's kernel table lacks `{needle}` after -c:\n{table}\n{}\n{}",
            da.logs(),
            db.logs()
        );
    }

    // Deletion on a reaches b's external cache.
    n.a.run(&[
        "conntrack",
        "-D",
        "-p",
        "tcp",
        "-s",
        "198.51.100.77",
        "-d",
        "192.0.2.81",
    ]);
    let e = wait_or(
        WAIT,
        POLL,
        || {
            let e = db.dump("-e", &da);
            let gone = !has(&e, "198.51.100.77", "192.0.2.81", 6, Some((40000, 443)));
            if gone { Ok(e) } else { Err(()) }
        },
        |()| format!("the deletion never reached b\n{}\n{}", da.logs(), db.logs()),
    );
    assert!(
        has(&e, "198.51.100.78", "192.0.2.82", 1, None),
        "deleted too much: {e:#?}"
    );
}

#[test]
fn ctsyncd_to_ctsyncd_ftfw_udp() {
    scenario(
        Impl::Ctsyncd,
        Impl::Ctsyncd,
        Mode::Ftfw,
        Link::Udp,
        Impl::Ctsyncd,
    );
}

#[test]
fn ctsyncd_to_ctsyncd_ftfw_tcp() {
    scenario(
        Impl::Ctsyncd,
        Impl::Ctsyncd,
        Mode::Ftfw,
        Link::Tcp,
        Impl::Ctsyncd,
    );
}

#[test]
fn conntrackd_to_ctsyncd_ftfw_udp_real_client_commits() {
    scenario(
        Impl::Conntrackd,
        Impl::Ctsyncd,
        Mode::Ftfw,
        Link::Udp,
        Impl::Conntrackd,
    );
}

#[test]
fn ctsyncd_to_conntrackd_ftfw_udp() {
    scenario(
        Impl::Ctsyncd,
        Impl::Conntrackd,
        Mode::Ftfw,
        Link::Udp,
        Impl::Conntrackd,
    );
}

#[test]
fn conntrackd_to_ctsyncd_ftfw_multicast() {
    scenario(
        Impl::Conntrackd,
        Impl::Ctsyncd,
        Mode::Ftfw,
        Link::Multicast,
        Impl::Ctsyncd,
    );
}

#[test]
fn ctsyncd_to_conntrackd_ftfw_multicast() {
    scenario(
        Impl::Ctsyncd,
        Impl::Conntrackd,
        Mode::Ftfw,
        Link::Multicast,
        Impl::Conntrackd,
    );
}

#[test]
fn conntrackd_to_ctsyncd_notrack_udp() {
    scenario(
        Impl::Conntrackd,
        Impl::Ctsyncd,
        Mode::Notrack,
        Link::Udp,
        Impl::Ctsyncd,
    );
}

#[test]
fn ctsyncd_to_conntrackd_notrack_udp() {
    scenario(
        Impl::Ctsyncd,
        Impl::Conntrackd,
        Mode::Notrack,
        Link::Udp,
        Impl::Conntrackd,
    );
}

/// `count` UDP conntracks 198.51.100.x:port → 192.0.2.x:53, created on `node` in batches.
fn bulk_entries(node: &Node, count: u32) {
    let entries: Vec<CtRepr> = (0..count)
        .map(|i| CtRepr {
            ipv4: v4(
                &format!("198.51.100.{}", 100 + i / 60000),
                &format!("192.0.2.{}", 100 + (i / 30000) % 100),
            ),
            l4proto: Some(17),
            port: Some(Pair::new(1024 + (i % 30000) as u16, 53)),
            timeout: Some(1800),
            ..CtRepr::default()
        })
        .collect();
    let report = node.enter(|| {
        let mut s = CtnlSocket::open().expect("ctnetlink socket");
        s.commit(&entries, CommitConfig::default()).expect("commit")
    });
    assert_eq!(report.stats.created, u64::from(count), "{report:?}");
}

/// `d`'s dedicated link as `-s network` shows it.
#[track_caller]
fn channel(d: &Daemon, peer: &Daemon) -> ChannelReport {
    let text = d.query(&["-s", "network"], peer);
    parse_stats_network(&text)
        .unwrap_or_else(|e| panic!("{} -s network: {e}\n{text}", d.name))
        .channel
}

/// Datagrams `d` received on its dedicated link (`-s network`).
#[track_caller]
fn packets_recv(d: &Daemon, peer: &Daemon) -> u64 {
    channel(d, peer).counters.packets_recv
}

/// Waits until both FTFW peers have heard three datagrams from each other on a lossless link:
/// each side's 1 s alive timer has said HELLO and the answer (HELLO_BACK) has come back, so
/// neither side says HELLO any more.
fn wait_handshake(a: &Daemon, b: &Daemon) {
    wait_or(
        WAIT,
        POLL,
        || {
            let (ra, rb) = (packets_recv(a, b), packets_recv(b, a));
            if ra >= 3 && rb >= 3 {
                Ok(())
            } else {
                Err((ra, rb))
            }
        },
        |(ra, rb)| {
            format!(
                "the peers never exchanged their HELLOs (a heard {ra}, b heard {rb} datagrams)\n{}\n{}",
                a.logs(),
                b.logs()
            )
        },
    );
}

/// Waits until `db`'s external cache holds at least `n` of `da`'s entries (`when` says at
/// which point of the test).
fn wait_holding(da: &Daemon, db: &Daemon, n: u32, when: &str) {
    wait_or(
        WAIT,
        POLL,
        || {
            let got = db.external_active(da);
            if got >= n { Ok(()) } else { Err(got) }
        },
        |got| format!("{when}, b holds {got} of {n}\n{}\n{}", da.logs(), db.logs()),
    );
}

/// FTFW with one sync datagram in five dropped at b still converges, for both receivers.
fn lossy(wa: Impl, wb: Impl) {
    let n = net();
    let mode = Mode::Ftfw;
    let (da, db) = n.start_pair(wa, wb, mode, Link::Udp);
    // The loss starts once the HELLO handshake is over. Until a's HELLO is answered, every
    // message of a carries HELLO, which b takes as "a (re)started: accept its numbers afresh"
    // without a gap check; and b's first message (HELLO) empties a's resend queue. A datagram
    // lost in that window is neither seen as lost nor resendable (conntrackd does the same),
    // so a burst made during the handshake does not converge under loss, for any pairing.
    wait_handshake(&da, &db);
    n.b.run(&["nft", "add", "table", "inet", "hkcs"]);
    n.b.run(&[
        "nft",
        "add",
        "chain",
        "inet",
        "hkcs",
        "hkin",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    n.b.run(&[
        "nft", "add", "rule", "inet", "hkcs", "hkin", "udp", "dport", "3780", "numgen", "random",
        "mod", "5", "==", "0", "counter", "drop",
    ]);
    const N: u32 = 3000;
    bulk_entries(&n.a, N);
    // Keep the state changing, as live traffic does: every new message shows the peer the
    // gaps left by the drops, which it fills with NACKs (a silent link only carries ACKs).
    let mut extra = 0u32;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got = db.external_active(&da);
        if got >= N + extra {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b holds {got} of {} conntracks\nb: {}\na: {}\n{}\n{}",
            N + extra,
            db.query(&["-s", "network"], &da),
            da.query(&["-s", "network"], &db),
            da.logs(),
            db.logs()
        );
        let ct = CtRepr {
            ipv4: v4("198.51.100.99", "192.0.2.99"),
            l4proto: Some(17),
            port: Some(Pair::new(2000 + extra as u16, 54)),
            timeout: Some(1800),
            ..CtRepr::default()
        };
        n.a.enter(|| {
            let mut s = CtnlSocket::open().expect("ctnetlink socket");
            s.commit(&[ct], CommitConfig::default()).expect("commit")
        });
        extra += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let rules = n.b.run(&["nft", "list", "table", "inet", "hkcs"]);
    assert!(
        !rules.contains("packets 0 "),
        "nothing was dropped: {rules}"
    );
    let net_stats = parse_stats_network(&db.query(&["-s", "network"], &da)).unwrap();
    assert!(net_stats.rcv_lost > 0, "b saw no loss: {net_stats:?}");
    assert!(db.dump("-e", &da).len() >= N as usize);
}

#[test]
fn ftfw_lossy_link_converges_ctsyncd_to_ctsyncd() {
    lossy(Impl::Ctsyncd, Impl::Ctsyncd);
}

#[test]
fn ftfw_lossy_link_converges_conntrackd_to_ctsyncd() {
    lossy(Impl::Conntrackd, Impl::Ctsyncd);
}

#[test]
fn ftfw_lossy_link_converges_ctsyncd_to_conntrackd() {
    lossy(Impl::Ctsyncd, Impl::Conntrackd);
}

/// `-s rsqueue` on an FTFW primary none of whose acknowledgements arrive (after the HELLO
/// handshake, b's datagrams are dropped at a): every conntrack sent stays in its resend
/// queue, listed oldest first with increasing sequence numbers — the same list for ctsyncd
/// and conntrackd (besides the objects, a's own unacknowledged ACKs may be listed).
fn rsqueue_unacknowledged(wa: Impl) {
    let n = net();
    let mode = Mode::Ftfw;
    let (da, db) = n.start_pair(wa, Impl::Ctsyncd, mode, Link::Udp);
    wait_handshake(&da, &db);
    n.a.run(&[
        "nft",
        "add",
        "chain",
        "inet",
        "hkcs",
        "hkin",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    n.a.run(&[
        "nft", "add", "rule", "inet", "hkcs", "hkin", "udp", "dport", "3780", "counter", "drop",
    ]);
    const N: u32 = 50;
    bulk_entries(&n.a, N);
    wait_until(WAIT, "b to hold a's conntracks", || {
        db.external_active(&da) >= N
    });
    let text = da.query(&["-s", "rsqueue"], &db);
    let rs = parse_stats_rsqueue(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let seqs: Vec<u32> = rs
        .iter()
        .filter_map(|e| match *e {
            RsQueueEntry::Object { seq } => Some(seq),
            RsQueueEntry::Control { flags, .. } => {
                assert!(
                    flags & 0x0c != 0,
                    "only ACK or NACK besides objects: {text}"
                );
                None
            }
        })
        .collect();
    assert_eq!(seqs.len(), N as usize, "{text}");
    assert!(
        seqs.windows(2)
            .all(|w| (1..100).contains(&w[1].wrapping_sub(w[0]))),
        "increasing numbers, oldest first: {text}"
    );
}

#[test]
fn rsqueue_lists_unacknowledged_ctsyncd() {
    rsqueue_unacknowledged(Impl::Ctsyncd);
}

#[test]
fn rsqueue_lists_unacknowledged_conntrackd() {
    rsqueue_unacknowledged(Impl::Conntrackd);
}

/// The backup restarts with an empty cache; `-n` asks the primary for a resync.
fn resync(wa: Impl, wb: Impl) {
    let n = net();
    let (da, mut db) = n.start_pair(wa, wb, Mode::Ftfw, Link::Udp);
    const N: u32 = 500;
    bulk_entries(&n.a, N);
    wait_until(WAIT, "b to hold a's conntracks", || {
        db.external_active(&da) >= N
    });
    db.stop();
    db.launch();
    // The restarted b has talked with a (HELLO and its answer), and still holds nothing.
    wait_handshake(&da, &db);
    assert_eq!(
        db.external_active(&da),
        0,
        "a restarted b should start empty"
    );
    db.query(&["-n"], &da);
    wait_holding(&da, &db, N, "after -n");
}

#[test]
fn resync_conntrackd_primary_ctsyncd_backup() {
    resync(Impl::Conntrackd, Impl::Ctsyncd);
}

#[test]
fn resync_ctsyncd_primary_conntrackd_backup() {
    resync(Impl::Ctsyncd, Impl::Conntrackd);
}

#[test]
fn ftfw_lossy_link_converges_conntrackd_to_conntrackd() {
    lossy(Impl::Conntrackd, Impl::Conntrackd);
}

/// Sets b's drop rule for the sync port: `None` drops every datagram from a, `Some(m)` one in
/// `m` (replacing the rule in force).
fn b_drop(n: &Net, one_in: Option<u32>) {
    let _ = n.b.output(&["nft", "add", "table", "inet", "hkcs"]);
    let _ = n.b.output(&[
        "nft",
        "add",
        "chain",
        "inet",
        "hkcs",
        "hkin",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    n.b.run(&["nft", "flush", "chain", "inet", "hkcs", "hkin"]);
    let m = one_in.map(|m| m.to_string());
    let mut rule = vec![
        "nft", "add", "rule", "inet", "hkcs", "hkin", "udp", "dport", "3780",
    ];
    if let Some(m) = &m {
        rule.extend_from_slice(&["numgen", "random", "mod", m, "==", "0"]);
    }
    rule.extend_from_slice(&["counter", "drop"]);
    n.b.run(&rule);
}

/// The documented FTFW limit of conntrackd's design: a burst sent while the sender still says
/// HELLO is not protected. The receiver takes every HELLO message without a gap check (the
/// sender may have restarted), and the receiver's own first messages (HELLO) empty the
/// sender's resend queue; so what is lost then is never NACKed nor resent. Here b hears
/// nothing from a until the burst (every datagram dropped, so a's HELLO is never answered),
/// then one datagram in two is dropped during the burst. With conntrackd as the sender b
/// stays short for good, while what a sends after the handshake still arrives, and `-n`
/// (which keepalived's backup script runs) recovers the rest. ctsyncd as the sender holds
/// its state messages until the handshake is over both ways
/// (`SyncConfig::hold_until_handshake`), so b converges, whichever the receiver.
fn burst_during_hello(wa: Impl, wb: Impl) {
    let n = net();
    let mode = Mode::Ftfw;
    b_drop(&n, None);
    let (da, db) = n.start_pair(wa, wb, mode, Link::Udp);
    // a's alive timer has said HELLO at least once, and b has heard none of it.
    wait_until(WAIT, "a's first datagram", || {
        channel(&da, &db).counters.packets_sent >= 1
    });
    assert_eq!(packets_recv(&db, &da), 0, "b heard a before the burst");
    b_drop(&n, Some(2));
    const N: u32 = 3000;
    bulk_entries(&n.a, N);
    // Past the handshake (HELLO_BACK rides on a's next messages, one in two arrives), b's
    // count stops growing short of N: the ACK/NACK exchange goes on, nothing is resent.
    if wa == Impl::Ctsyncd {
        wait_holding(
            &da,
            &db,
            N,
            "with the entries ctsyncd held until the handshake",
        );
        let net_stats = parse_stats_network(&db.query(&["-s", "network"], &da)).unwrap();
        assert!(net_stats.rcv_lost > 0, "b saw no loss: {net_stats:?}");
        return;
    }
    let mut last = u32::MAX;
    let deadline = Instant::now() + WAIT;
    loop {
        std::thread::sleep(Duration::from_millis(2500));
        let got = db.external_active(&da);
        if got == last {
            break;
        }
        assert!(Instant::now() < deadline, "b's count never settled ({got})");
        last = got;
    }
    assert!(
        last < N,
        "b got all {N} entries of a burst made during the HELLO handshake under 50% loss"
    );
    assert!(
        last > 0,
        "b got nothing at all: the link is dead, not lossy"
    );
    eprintln!("{wa:?} -> {wb:?}: b settled at {last} of the {N} entries of the HELLO-time burst");
    // Later traffic is protected: each new entry arrives (resent if dropped).
    for port in 0..20u16 {
        let ct = CtRepr {
            ipv4: v4("198.51.100.99", "192.0.2.99"),
            l4proto: Some(17),
            port: Some(Pair::new(3000 + port, 54)),
            timeout: Some(1800),
            ..CtRepr::default()
        };
        n.a.enter(|| {
            let mut s = CtnlSocket::open().expect("ctnetlink socket");
            s.commit(&[ct], CommitConfig::default()).expect("commit")
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until(
        WAIT,
        "b to hold the 20 entries made after the handshake",
        || {
            let e = db.dump("-e", &da);
            (0..20u16).all(|p| has(&e, "198.51.100.99", "192.0.2.99", 17, Some((3000 + p, 54))))
        },
    );
    let after = db.external_active(&da);
    assert!(
        after < N + 20,
        "the burst's losses were recovered after all ({after})"
    );
    // A resync (on a lossless link) asks a for its whole cache: b converges.
    n.b.run(&["nft", "flush", "chain", "inet", "hkcs", "hkin"]);
    db.query(&["-n"], &da);
    wait_until(WAIT, "b to hold everything after -n", || {
        db.external_active(&da) >= N + 20
    });
}

#[test]
fn ftfw_burst_during_hello_not_recovered_conntrackd_to_conntrackd() {
    burst_during_hello(Impl::Conntrackd, Impl::Conntrackd);
}

#[test]
fn ftfw_burst_during_hello_not_recovered_conntrackd_to_ctsyncd() {
    burst_during_hello(Impl::Conntrackd, Impl::Ctsyncd);
}

#[test]
fn ftfw_burst_during_hello_held_ctsyncd_to_ctsyncd() {
    burst_during_hello(Impl::Ctsyncd, Impl::Ctsyncd);
}

#[test]
fn ftfw_burst_during_hello_held_ctsyncd_to_conntrackd() {
    burst_during_hello(Impl::Ctsyncd, Impl::Conntrackd);
}
