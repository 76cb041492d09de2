//! Golden text from a live conntrackd 1.4.7: `ct_sync::control`'s writers must reproduce the
//! replies of the real daemon byte for byte, and its request table must match the real
//! client's. Needs root, iproute2, conntrackd and conntrack: without them the tests fail
//! saying so, they never pass silently.
//!
//! * `replies_match_the_real_daemon`: two nodes `a` (192.0.2.1) and `b` (192.0.2.2) on one
//!   bridge run conntrackd in FTFW over UDP, each with its own UNIX socket, lock and log file
//!   in the lab directory. Conntracks created on `a` with `conntrack -I` reach `b`'s external
//!   cache. Every `-s` variant, `-i` and `-e` is read back into `ct_sync::control`'s reports
//!   and written again; the text must be identical (times included: the same numbers go back
//!   in). The dump lines are also written from the `CtRepr` of each created conntrack.
//! * `real_client_sends_our_codes`: a UNIX listener plays the daemon; the real
//!   `conntrackd -C FILE <flags>` client connects, and for every flag the int it sends must be
//!   the code `client_args` gives; the listener answers a text (over 1024 bytes once, the
//!   client's read size) and the client must print it unchanged and exit 0.
//!
//! Namespaces are prefixed `hkctl`.

use std::io::{Read as _, Write as _};
use std::net::IpAddr;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ct_sync::control::{
    ClientCommand, DumpExtras, ExternalStats, InternalStats, ReplyTuple, RsQueueEntry, TupleL4,
    client_args, parse_ct_dump_entry, parse_request, parse_stats, parse_stats_cache,
    parse_stats_link, parse_stats_network, parse_stats_queue, parse_stats_rsqueue,
    parse_stats_runtime, write_ct_dump_entry, write_stats, write_stats_cache, write_stats_link,
    write_stats_network, write_stats_queue, write_stats_rsqueue, write_stats_runtime,
};
use ct_sync::wire::ct::{status, tcp_state};
use ct_sync::wire::{CtRepr, Pair};
use examples::netns::{Lab, NODE_IF, Node, Proc, require_bin, wait_for, wait_until};

/// Bound on every wait (daemon start, sync between the nodes, client exit).
const WAIT: Duration = Duration::from_secs(10);

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
		Checksum on
	}}
}}
General {{
	HashSize 8192
	HashLimit 65535
	LogFile {d}/{name}.log
	Syslog off
	LockFile {d}/{name}.lock
	UNIX {{
		Path {d}/{name}.sock
	}}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
}}
"
    )
}

fn write_conf(dir: &Path, name: &str, local: &str, peer: &str) -> PathBuf {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf_text(dir, name, local, peer))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A conntrackd in a node, with its configuration file.
struct Daemon {
    node: Node,
    conf: String,
    proc: Proc,
}

/// `conntrackd -C conf flags…` in `node`: its stdout if it succeeded.
fn try_query(node: &Node, conf: &str, flags: &[&str]) -> Option<String> {
    let mut cmd = vec!["conntrackd", "-C", conf];
    cmd.extend_from_slice(flags);
    let out = node.output(&cmd);
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).expect("conntrackd prints UTF-8"))
}

impl Daemon {
    fn start(node: &Node, conf: &Path) -> Self {
        let conf = conf.display().to_string();
        let mut proc = node.spawn(&["conntrackd", "-C", &conf]);
        let what = format!("conntrackd in {} to answer on its UNIX socket", node.name());
        wait_until(WAIT, &what, || {
            assert!(proc.is_running(), "conntrackd exited: {}", proc.log());
            try_query(node, &conf, &["-s"]).is_some()
        });
        Self {
            node: node.clone(),
            conf,
            proc,
        }
    }

    fn try_query(&self, flags: &[&str]) -> Option<String> {
        try_query(&self.node, &self.conf, flags)
    }

    /// `conntrackd -C FILE flags…`: its stdout, which must be a success.
    #[track_caller]
    fn query(&self, flags: &[&str]) -> String {
        self.try_query(flags).unwrap_or_else(|| {
            panic!(
                "`conntrackd {}` in {} failed; daemon log: {}",
                flags.join(" "),
                self.node.name(),
                self.proc.log()
            )
        })
    }
}

/// A conntrack created with `conntrack -I`: its arguments and what conntrackd's sync
/// message (hence the external cache) holds.
struct Flow {
    args: &'static [&'static str],
    ct: CtRepr,
}

fn v4(a: &str, b: &str) -> Option<Pair<std::net::Ipv4Addr>> {
    Some(Pair::new(a.parse().unwrap(), b.parse().unwrap()))
}

fn v6(a: &str, b: &str) -> Option<Pair<std::net::Ipv6Addr>> {
    Some(Pair::new(a.parse().unwrap(), b.parse().unwrap()))
}

const REPLIED: u32 = status::SEEN_REPLY | status::ASSURED;

fn flows() -> Vec<Flow> {
    vec![
        Flow {
            args: &[
                "-p",
                "tcp",
                "-s",
                "198.51.100.77",
                "-d",
                "192.0.2.80",
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
            ],
            ct: CtRepr {
                ipv4: v4("198.51.100.77", "192.0.2.80"),
                l4proto: Some(6),
                port: Some(Pair::new(40000, 443)),
                tcp_state: Some(tcp_state::ESTABLISHED),
                status: Some(REPLIED),
                mark: Some(42),
                ..CtRepr::default()
            },
        },
        Flow {
            args: &[
                "-p",
                "udp",
                "-s",
                "198.51.100.78",
                "-d",
                "192.0.2.81",
                "--sport",
                "5353",
                "--dport",
                "53",
                "-t",
                "120",
            ],
            ct: CtRepr {
                ipv4: v4("198.51.100.78", "192.0.2.81"),
                l4proto: Some(17),
                port: Some(Pair::new(5353, 53)),
                status: Some(0),
                mark: Some(0),
                ..CtRepr::default()
            },
        },
        Flow {
            args: &[
                "-p",
                "icmp",
                "-s",
                "203.0.113.1",
                "-d",
                "203.0.113.2",
                "--icmp-type",
                "8",
                "--icmp-code",
                "0",
                "--icmp-id",
                "4660",
                "-t",
                "30",
            ],
            ct: CtRepr {
                ipv4: v4("203.0.113.1", "203.0.113.2"),
                l4proto: Some(1),
                icmp_type: Some(8),
                icmp_code: Some(0),
                icmp_id: Some(4660),
                status: Some(0),
                mark: Some(0),
                ..CtRepr::default()
            },
        },
        Flow {
            args: &[
                "-p",
                "sctp",
                "-s",
                "2001:db8::1",
                "-d",
                "2001:db8::2",
                "--sport",
                "5000",
                "--dport",
                "6000",
                "--state",
                "ESTABLISHED",
                "--orig-vtag",
                "1",
                "--reply-vtag",
                "2",
                "-t",
                "100",
                "-u",
                "SEEN_REPLY,ASSURED",
            ],
            ct: CtRepr {
                ipv6: v6("2001:db8::1", "2001:db8::2"),
                l4proto: Some(132),
                port: Some(Pair::new(5000, 6000)),
                sctp_state: Some(4),
                status: Some(REPLIED),
                mark: Some(0),
                ..CtRepr::default()
            },
        },
        Flow {
            args: &[
                "-p",
                "udp",
                "-s",
                "2001:db8::30",
                "-d",
                "2001:db8::40",
                "--sport",
                "4500",
                "--dport",
                "4500",
                "-t",
                "100",
                "-u",
                "SEEN_REPLY",
                "-m",
                "7",
            ],
            ct: CtRepr {
                ipv6: v6("2001:db8::30", "2001:db8::40"),
                l4proto: Some(17),
                port: Some(Pair::new(4500, 4500)),
                status: Some(status::SEEN_REPLY),
                mark: Some(7),
                ..CtRepr::default()
            },
        },
    ]
}

/// Flows created while the backup is stopped, so that they wait in the resend queue.
fn late_flows() -> Vec<Flow> {
    vec![
        Flow {
            args: &[
                "-p",
                "tcp",
                "-s",
                "203.0.113.50",
                "-d",
                "198.51.100.60",
                "--sport",
                "50000",
                "--dport",
                "80",
                "--state",
                "TIME_WAIT",
                "-t",
                "100",
                "-u",
                "SEEN_REPLY,ASSURED",
            ],
            ct: CtRepr {
                ipv4: v4("203.0.113.50", "198.51.100.60"),
                l4proto: Some(6),
                port: Some(Pair::new(50000, 80)),
                tcp_state: Some(tcp_state::TIME_WAIT),
                status: Some(REPLIED),
                mark: Some(0),
                ..CtRepr::default()
            },
        },
        Flow {
            args: &[
                "-p",
                "tcp",
                "-s",
                "2001:db8::10",
                "-d",
                "2001:db8::20",
                "--sport",
                "33000",
                "--dport",
                "22",
                "--state",
                "SYN_SENT",
                "-t",
                "100",
            ],
            ct: CtRepr {
                ipv6: v6("2001:db8::10", "2001:db8::20"),
                l4proto: Some(6),
                port: Some(Pair::new(33000, 22)),
                tcp_state: Some(tcp_state::SYN_SENT),
                status: Some(0),
                mark: Some(0),
                ..CtRepr::default()
            },
        },
    ]
}

fn insert(node: &Node, flow: &Flow) {
    let mut cmd = vec!["conntrack", "-I"];
    cmd.extend_from_slice(flow.args);
    node.run(&cmd);
}

/// The reply tuple the kernel builds for a conntrack without NAT.
fn reply_of(ct: &CtRepr) -> ReplyTuple {
    let addrs = match (ct.ipv4, ct.ipv6) {
        (Some(a), _) => Pair::new(IpAddr::V4(a.dst), IpAddr::V4(a.src)),
        (None, Some(a)) => Pair::new(IpAddr::V6(a.dst), IpAddr::V6(a.src)),
        (None, None) => panic!("conntrack without addresses"),
    };
    let l4 = match ct.l4proto {
        // The reply of an echo request is an echo reply (type 0).
        Some(1) => TupleL4::Icmp {
            ty: 0,
            code: ct.icmp_code.unwrap_or(0),
            id: ct.icmp_id.unwrap_or(0),
        },
        _ => ct
            .port
            .map_or(TupleL4::None, |p| TupleL4::Ports(Pair::new(p.dst, p.src))),
    };
    ReplyTuple { addrs, l4 }
}

/// Checks every line of a `-i` / `-e` text: it reads back and writes again identically; and
/// each flow's line, written from its `CtRepr` with the dump's own `active since`, is there.
#[track_caller]
fn check_dump(text: &str, flows: &[Flow], with_reply: bool, what: &str) {
    let mut again = String::new();
    let mut actives = Vec::new();
    for line in text.lines() {
        let (ct, extras) =
            parse_ct_dump_entry(line).unwrap_or_else(|e| panic!("{what}: {e}: {line:?}"));
        write_ct_dump_entry(&ct, &extras, &mut again);
        actives.push((line, extras.active_since));
    }
    assert_eq!(again, text, "{what}: re-emitted text differs");
    for flow in flows {
        let extras = |active_since| DumpExtras {
            reply: with_reply.then(|| reply_of(&flow.ct)),
            active_since,
            ..DumpExtras::default()
        };
        let found = actives.iter().any(|&(line, active)| {
            let mut ours = String::new();
            write_ct_dump_entry(&flow.ct, &extras(active), &mut ours);
            ours.trim_end_matches('\n') == line
        });
        let mut sample = String::new();
        write_ct_dump_entry(&flow.ct, &extras(0), &mut sample);
        assert!(
            found,
            "{what}: no line matches our rendering of {:?}\n ours (active 0): {sample}\n \
             conntrackd's:\n{text}",
            flow.args
        );
    }
}

#[test]
fn replies_match_the_real_daemon() {
    require_bin("conntrackd");
    require_bin("conntrack");
    let lab = Lab::new("ctl");
    let a = lab.add_node("a");
    let b = lab.add_node("b");
    a.add_addr(NODE_IF, "192.0.2.1/24");
    b.add_addr(NODE_IF, "192.0.2.2/24");
    let conf_a = write_conf(lab.dir(), "a", "192.0.2.1", "192.0.2.2");
    let conf_b = write_conf(lab.dir(), "b", "192.0.2.2", "192.0.2.1");
    let da = Daemon::start(&a, &conf_a);
    let db = Daemon::start(&b, &conf_b);

    let flows = flows();
    for f in &flows {
        insert(&a, f);
    }
    let n = flows.len() as u32;
    let external_active = |d: &Daemon| match parse_stats(&d.query(&["-s"])).unwrap().external {
        ExternalStats::Cache(c) => c.active,
        ExternalStats::Inject(_) => panic!("external cache expected"),
    };
    wait_until(WAIT, "b's external cache to hold a's conntracks", || {
        external_active(&db) >= n
    });

    // -s on both sides: read back, write again, identical.
    for (d, name) in [(&da, "a"), (&db, "b")] {
        for flags in [&["-s"][..], &["-s", "ct"]] {
            let text = d.query(flags);
            let r = parse_stats(&text).unwrap_or_else(|e| panic!("{name} -s: {e}\n{text}"));
            let mut out = String::new();
            write_stats(&r, &mut out);
            assert_eq!(out, text, "{name} {flags:?}");
            assert_eq!(r.channel.ifname, NODE_IF);
        }
    }
    let sa = parse_stats(&da.query(&["-s"])).unwrap();
    let InternalStats::Cache(ia) = sa.internal else {
        panic!("a: internal cache expected")
    };
    assert!(
        ia.active >= n && ia.created >= n,
        "a's internal cache: {ia:?}"
    );
    assert!(sa.channel.counters.packets_sent > 0, "a sent nothing");

    // -s network, -s cache, -s runtime, -s link, -s queue.
    for d in [&da, &db] {
        let text = d.query(&["-s", "network"]);
        let r = parse_stats_network(&text).unwrap();
        let mut out = String::new();
        write_stats_network(&r, &mut out);
        assert_eq!(out, text, "-s network");
        assert_eq!(r.rcv_malformed, 0);

        let text = d.query(&["-s", "cache"]);
        let r = parse_stats_cache(&text).unwrap();
        let mut out = String::new();
        write_stats_cache(&r, &mut out);
        assert_eq!(out, text, "-s cache");

        let text = d.query(&["-s", "runtime"]);
        let r = parse_stats_runtime(&text).unwrap();
        let mut out = String::new();
        write_stats_runtime(&r, &mut out);
        assert_eq!(out, text, "-s runtime");
        assert_eq!(r.netlink_buffer_size, 2_097_152);

        let text = d.query(&["-s", "link"]);
        let links = parse_stats_link(&text).unwrap();
        assert_eq!(links.len(), 1, "one dedicated link");
        assert!(links[0].active);
        let mut out = String::new();
        write_stats_link(&links, &mut out);
        assert_eq!(out, text, "-s link");

        let text = d.query(&["-s", "queue"]);
        let q = parse_stats_queue(&text).unwrap();
        assert!(q.queues.iter().any(|q| q.name == "rsqueue"), "{text}");
        let mut out = String::new();
        write_stats_queue(&q, &mut out);
        assert_eq!(out, text, "-s queue");
    }
    assert_eq!(
        da.query(&["-s", "expect"]),
        "",
        "no ExpectationSync: nothing"
    );

    // Dumps: a's internal cache shows reply tuples, b's external cache does not.
    check_dump(&da.query(&["-i"]), &flows, true, "a -i");
    check_dump(&db.query(&["-e"]), &flows, false, "b -e");
    check_dump(&da.query(&["-e"]), &[], false, "a -e");

    // Objects waiting in a's resend queue while b is stopped.
    db.proc.signal(libc::SIGSTOP);
    let late = late_flows();
    for f in &late {
        insert(&a, f);
    }
    let text = wait_for(WAIT, "a's resend queue to hold the late objects", || {
        let text = da.query(&["-s", "rsqueue"]);
        let entries = parse_stats_rsqueue(&text).unwrap();
        let objects = entries
            .iter()
            .filter(|e| matches!(e, RsQueueEntry::Object { .. }))
            .count();
        (objects >= late.len()).then_some(text)
    });
    let entries = parse_stats_rsqueue(&text).unwrap();
    let mut out = String::new();
    write_stats_rsqueue(&entries, &mut out);
    assert_eq!(out, text, "-s rsqueue");
    db.proc.signal(libc::SIGCONT);

    let all: Vec<Flow> = flows.into_iter().chain(late).collect();
    let total = all.len() as u32;
    wait_until(WAIT, "b's external cache to catch up after SIGCONT", || {
        external_active(&db) >= total
    });
    check_dump(&db.query(&["-e"]), &all, false, "b -e after resend");
    check_dump(&da.query(&["-i"]), &all, true, "a -i after resend");
}

/// Every flag the real client accepts, with the code conntrackd.h gives it.
const FLAG_TABLE: &[(&[&str], i32)] = &[
    (&["-c"], 46),
    (&["-c", "ct"], 18),
    (&["-c", "expect"], 42),
    (&["-f"], 45),
    (&["-f", "internal"], 33),
    (&["-f", "external"], 34),
    (&["-F"], 43),
    (&["-F", "ct"], 0),
    (&["-F", "expect"], 38),
    (&["-i"], 16),
    (&["-i", "expect"], 40),
    (&["-e"], 17),
    (&["-e", "expect"], 41),
    (&["-i", "-x"], 24),
    (&["-e", "-x"], 25),
    (&["-i", "expect", "-x"], 47),
    (&["-e", "expect", "-x"], 48),
    (&["-k"], 20),
    (&["-s"], 21),
    (&["-s", "expect"], 37),
    (&["-s", "network"], 28),
    (&["-s", "cache"], 29),
    (&["-s", "runtime"], 30),
    (&["-s", "link"], 31),
    (&["-s", "rsqueue"], 32),
    (&["-s", "process"], 35),
    (&["-s", "queue"], 36),
    (&["-R"], 44),
    (&["-R", "ct"], 1),
    (&["-R", "expect"], 39),
    (&["-n"], 23),
    (&["-B"], 22),
    (&["-t"], 26),
    (&["-s", "net"], 28),
    (&["-c", "internal"], 23),
];

#[test]
fn real_client_sends_our_codes() {
    let conntrackd = require_bin("conntrackd");
    let lab = Lab::new("ctl");
    let a = lab.add_node("a");
    a.add_addr(NODE_IF, "192.0.2.1/24");
    // The client reads the whole configuration: a valid one, whose socket is our listener.
    let conf = write_conf(lab.dir(), "fake", "192.0.2.1", "192.0.2.2");
    let sock = lab.dir().join("fake.sock");
    let listener = UnixListener::bind(&sock).expect("bind the fake daemon's socket");
    listener.set_nonblocking(true).unwrap();

    for (i, &(flags, code)) in FLAG_TABLE.iter().enumerate() {
        let ours = match client_args(flags).unwrap().command {
            ClientCommand::Request(r) => r,
            other => panic!("{flags:?}: {other:?}"),
        };
        assert_eq!(ours.code(), code, "{flags:?}: our table");

        let mut child = Command::new("ip")
            .args(["netns", "exec", a.netns()])
            .arg(&conntrackd)
            .arg("-C")
            .arg(&conf)
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the conntrackd client");
        let what = format!("the client of {flags:?} to connect");
        let (mut conn, _) = wait_for(WAIT, &what, || listener.accept().ok());
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = [0u8; 4];
        conn.read_exact(&mut req)
            .unwrap_or_else(|e| panic!("{flags:?}: reading the request: {e}"));
        let got = parse_request(&req).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        assert_eq!(got, ours, "{flags:?}: the real client sent {}", got.name());

        // One long reply, past the client's 1024-byte reads.
        let reply = if i == 0 {
            (0..100)
                .map(|n| format!("line {n:04} of a long reply\n"))
                .collect()
        } else {
            format!("reply to {} ({})\n", got.name(), got.code())
        };
        conn.write_all(reply.as_bytes()).unwrap();
        drop(conn);

        let status = wait_for(WAIT, "the client to exit", || {
            child.try_wait().ok().flatten()
        });
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            status.success(),
            "{flags:?}: client exit {status}: {stderr}"
        );
        assert_eq!(
            stdout, reply,
            "{flags:?}: the client printed something else"
        );
    }
}
