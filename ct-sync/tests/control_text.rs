//! The control protocol's reply texts against real conntrackd 1.4.7 output
//! (`tests/data/control/`, see its README): every sample reads back into its report and is
//! written again byte for byte; hand-built reports give the exact text.

use std::net::{IpAddr, Ipv4Addr};

use ct_sync::control::{
    BypassReport, CacheReport, CacheStatsReport, ChannelCounters, ChannelKind, ChannelReport,
    ChildKind, ChildProcess, ControlError, DumpExtras, ExternalStats, InjectReport, InternalStats,
    LinkReport, LinkStatus, MessageTracking, NetworkReport, QueueReport, QueueStats, ReplyTuple,
    RsQueueEntry, RuntimeReport, StatsReport, TrafficReport, TupleL4, parse_ct_dump_entry,
    parse_stats, parse_stats_cache, parse_stats_link, parse_stats_network, parse_stats_process,
    parse_stats_queue, parse_stats_rsqueue, parse_stats_runtime, write_ct_dump_entry, write_stats,
    write_stats_cache, write_stats_link, write_stats_network, write_stats_process,
    write_stats_queue, write_stats_rsqueue, write_stats_runtime,
};
use ct_sync::wire::ct::{status, tcp_state};
use ct_sync::wire::{CtRepr, Pair};

fn sample(name: &str) -> String {
    let path = format!("{}/tests/data/control/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn emit<T: ?Sized>(r: &T, f: fn(&T, &mut String)) -> String {
    let mut out = String::new();
    f(r, &mut out);
    out
}

#[test]
fn stats_sample_reemits_byte_identically() {
    for name in ["stats.txt", "stats_backup.txt"] {
        let text = sample(name);
        let r = parse_stats(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(emit(&r, write_stats), text, "{name}");
    }
    let r = parse_stats(&sample("stats.txt")).unwrap();
    let InternalStats::Cache(int) = r.internal else {
        panic!("internal cache expected")
    };
    assert_eq!(
        (int.active, int.created, int.updated, int.destroyed),
        (7, 8, 1, 1)
    );
    assert_eq!(r.channel.kind, ChannelKind::Udp);
    assert_eq!(r.channel.ifname, "eth0");
    let b = parse_stats(&sample("stats_backup.txt")).unwrap();
    let ExternalStats::Cache(ext) = b.external else {
        panic!("external cache expected")
    };
    assert_eq!(ext.active, 7, "B holds A's seven entries");
}

#[test]
fn network_cache_runtime_samples_reemit() {
    let text = sample("stats_network.txt");
    let r = parse_stats_network(&text).unwrap();
    assert_eq!(emit(&r, write_stats_network), text);
    for name in ["stats_cache.txt", "stats_cache_backup.txt"] {
        let text = sample(name);
        let r = parse_stats_cache(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(emit(&r, write_stats_cache), text, "{name}");
    }
    let text = sample("stats_runtime.txt");
    let r = parse_stats_runtime(&text).unwrap();
    assert_eq!(r.uptime_secs, 60);
    assert_eq!(r.netlink_buffer_size, 2_097_152);
    assert_eq!(emit(&r, write_stats_runtime), text);
}

#[test]
fn queue_rsqueue_link_samples_reemit() {
    let text = sample("stats_queue.txt");
    let q = parse_stats_queue(&text).unwrap();
    let names: Vec<&str> = q.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["txqueue", "errorq", "rsqueue"]);
    assert_eq!(q.queues[0].max, 2_147_483_647);
    assert_eq!(emit(&q, write_stats_queue), text);

    let text = sample("stats_rsqueue.txt");
    let rs = parse_stats_rsqueue(&text).unwrap();
    assert_eq!(rs.len(), 2);
    assert!(rs.iter().all(|e| matches!(e, RsQueueEntry::Object { .. })));
    assert_eq!(emit(&rs[..], write_stats_rsqueue), text);

    let text = sample("stats_link.txt");
    let links = parse_stats_link(&text).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].status, links[0].active),
        (LinkStatus::Running, true)
    );
    assert_eq!(emit(&links[..], write_stats_link), text);
}

#[test]
fn dump_samples_reemit_line_by_line() {
    for name in ["dump_internal.txt", "dump_external.txt"] {
        let text = sample(name);
        let mut out = String::new();
        for line in text.split_inclusive('\n') {
            let (ct, extras) =
                parse_ct_dump_entry(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
            assert_eq!(
                extras.reply.is_some(),
                name == "dump_internal.txt",
                "only the internal cache shows reply tuples: {line}"
            );
            write_ct_dump_entry(&ct, &extras, &mut out);
        }
        assert_eq!(out, text, "{name}");
    }
}

/// The TCP entry of the samples, as the sync message carries it (ftfw_basic.pcap style).
fn tcp_entry() -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(
            "198.51.100.77".parse().unwrap(),
            "192.0.2.80".parse().unwrap(),
        )),
        status: Some(status::SEEN_REPLY | status::ASSURED | status::CONFIRMED),
        l4proto: Some(6),
        port: Some(Pair::new(40000, 443)),
        tcp_state: Some(tcp_state::ESTABLISHED),
        timeout: Some(600),
        mark: Some(43),
        ..CtRepr::default()
    }
}

#[test]
fn dump_line_from_a_synced_conntrack() {
    let ct = tcp_entry();
    let mut out = String::new();
    write_ct_dump_entry(
        &ct,
        &DumpExtras {
            active_since: 78,
            ..DumpExtras::default()
        },
        &mut out,
    );
    // The exact line of dump_external.txt: no timeout, no reply tuple.
    let expected = "tcp      6 ESTABLISHED src=198.51.100.77 dst=192.0.2.80 sport=40000 \
                    dport=443 [ASSURED] mark=43 [active since 78s]\n";
    assert_eq!(out, expected);
    assert!(sample("dump_external.txt").contains(expected));

    // The internal cache's form adds the reply tuple.
    let mut out = String::new();
    let v4 = |s: &str| IpAddr::V4(s.parse::<Ipv4Addr>().unwrap());
    write_ct_dump_entry(
        &ct,
        &DumpExtras {
            reply: Some(ReplyTuple {
                addrs: Pair::new(v4("192.0.2.80"), v4("198.51.100.77")),
                l4: TupleL4::Ports(Pair::new(443, 40000)),
            }),
            active_since: 76,
            ..DumpExtras::default()
        },
        &mut out,
    );
    assert!(sample("dump_internal.txt").contains(&out), "{out}");

    // An unreplied ICMP echo with an ALARM-mode timer and a kernel use count.
    let icmp = CtRepr {
        ipv4: Some(Pair::new(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        )),
        status: Some(status::CONFIRMED),
        l4proto: Some(1),
        icmp_type: Some(8),
        icmp_code: Some(0),
        icmp_id: Some(0x1234),
        ..CtRepr::default()
    };
    let mut out = String::new();
    let extras = DumpExtras {
        use_count: Some(1),
        expires_in: Some(170),
        active_since: 10,
        ..DumpExtras::default()
    };
    write_ct_dump_entry(&icmp, &extras, &mut out);
    assert_eq!(
        out,
        "icmp     1 src=192.0.2.1 dst=192.0.2.2 type=8 code=0 id=4660 [UNREPLIED] use=1 \
         [expires in 170s] [active since 10s]\n"
    );
    let (back, back_extras) = parse_ct_dump_entry(&out).unwrap();
    assert_eq!(back_extras, extras);
    assert_eq!((back.icmp_type, back.icmp_id), (Some(8), Some(0x1234)));
}

fn counters(n: u64) -> ChannelCounters {
    ChannelCounters {
        bytes_sent: n,
        bytes_recv: n + 1,
        packets_sent: n + 2,
        packets_recv: n + 3,
        errors_send: n + 4,
        errors_recv: n + 5,
    }
}

#[test]
fn bypass_inject_tcp_multicast_forms() {
    let r = StatsReport {
        internal: InternalStats::Bypass(BypassReport {
            new: 1,
            updated: 2,
            destroyed: 3,
        }),
        external: ExternalStats::Inject(InjectReport {
            created: 4,
            create_failed: 5,
            updated: 6,
            update_failed: 7,
            destroyed: 8,
            destroy_failed: 9,
        }),
        traffic: TrafficReport {
            bytes: 10,
            packets: 11,
        },
        channel: ChannelReport {
            kind: ChannelKind::Tcp {
                server_connected: true,
                client_connected: false,
            },
            ifname: "eth1".into(),
            counters: counters(100),
        },
        tracking: MessageTracking {
            malformed: 12,
            lost: 519,
        },
    };
    let text = emit(&r, write_stats);
    assert!(text.starts_with(
        "internal bypass:\nconnections new:\t\t           1\nconnections updated:\t\t           2\n"
    ));
    assert!(text.contains(
        "external inject:\nconnections created:\t\t           4\tfailed:\t           5\n"
    ));
    assert!(
        text.contains("TCP traffic (active device=eth1) server=connected client=disconnected:\n")
    );
    assert!(text.ends_with(
        "message tracking:\n                  12 Malformed msgs                  519 Lost msgs\n\n"
    ));
    assert_eq!(parse_stats(&text).unwrap(), r);

    // -s cache prints the bypass and inject blocks unchanged.
    let c = CacheStatsReport {
        internal: r.internal,
        external: r.external,
    };
    let ctext = emit(&c, write_stats_cache);
    assert!(text.starts_with(&ctext));
    assert_eq!(parse_stats_cache(&ctext).unwrap(), c);

    let n = NetworkReport {
        rcv_malformed: 1,
        rcv_bad_version: 2,
        rcv_bad_header: 3,
        rcv_bad_payload: 4,
        rcv_bad_type: 5,
        rcv_truncated: 6,
        rcv_bad_size: 7,
        snd_malformed: 8,
        rcv_lost: 9,
        rcv_before: 10,
        channel: ChannelReport {
            kind: ChannelKind::Multicast,
            ifname: "eth2".into(),
            counters: counters(7),
        },
    };
    let ntext = emit(&n, write_stats_network);
    assert!(ntext.contains("multicast traffic (active device=eth2):\n"));
    assert_eq!(parse_stats_network(&ntext).unwrap(), n);

    let links = vec![
        LinkReport {
            kind: ChannelKind::Multicast,
            ifname: "eth2".into(),
            status: LinkStatus::NoCarrier,
            active: false,
            counters: counters(1),
        },
        LinkReport {
            kind: ChannelKind::Udp,
            ifname: "eth3".into(),
            status: LinkStatus::Down,
            active: true,
            counters: counters(2),
        },
    ];
    let ltext = emit(&links[..], write_stats_link);
    assert!(ltext.starts_with("multicast traffic device=eth2 status=NO-CARRIER role=BACKUP:\n"));
    assert!(ltext.contains("UDP traffic device=eth3 status=DOWN role=ACTIVE:\n"));
    assert_eq!(parse_stats_link(&ltext).unwrap(), links);
}

#[test]
fn runtime_uptime_queue_rsqueue_process_forms() {
    let r = RuntimeReport {
        uptime_secs: 2 * 86_400 + 5 * 3600 + 7 * 60,
        events_received: u64::MAX,
        ..RuntimeReport::default()
    };
    let text = emit(&r, write_stats_runtime);
    assert!(text.starts_with("daemon uptime: 2 days 5 h 7 min\n\n"));
    assert!(text.contains("\tevents received:\t18446744073709551615\n"));
    assert_eq!(parse_stats_runtime(&text).unwrap(), r);

    let rs = [
        RsQueueEntry::Control {
            seq: 1_795_450_912,
            flags: 8,
        },
        RsQueueEntry::Object { seq: 1_795_450_913 },
    ];
    let text = emit(&rs[..], write_stats_rsqueue);
    assert_eq!(
        text,
        "resent queue (len=2)\ncontrol -> seq:1795450912 flags:8\nobject -> seq:1795450913\n"
    );
    assert_eq!(parse_stats_rsqueue(&text).unwrap(), rs);
    assert!(matches!(
        parse_stats_rsqueue("resent queue (len=3)\nobject -> seq:1\n"),
        Err(ControlError::BadText { .. })
    ));

    let q = QueueReport {
        allocated_nodes: 3,
        queues: vec![QueueStats {
            name: "errorq".into(),
            current: 128,
            max: 128,
            enospc_errors: 384,
        }],
    };
    let text = emit(&q, write_stats_queue);
    assert!(text.ends_with("not enough space errors:\t         384\n\n"));
    assert_eq!(parse_stats_queue(&text).unwrap(), q);

    let p = [
        ChildProcess {
            pid: 4242,
            kind: ChildKind::Commit,
        },
        ChildProcess {
            pid: 7,
            kind: ChildKind::Any,
        },
    ];
    let text = emit(&p[..], write_stats_process);
    assert_eq!(text, "PID=4242 type=commit\nPID=7 type=any\n");
    assert_eq!(parse_stats_process(&text).unwrap(), p);
    assert_eq!(parse_stats_process("").unwrap(), []);
}

#[test]
fn wide_numbers_push_the_columns() {
    // %12u / %20llu are minimum widths: wider numbers are written whole, and read back.
    let c = CacheReport {
        active: u32::MAX,
        created: 1_000_000_000,
        ..CacheReport::default()
    };
    let r = CacheStatsReport {
        internal: InternalStats::Cache(c),
        external: ExternalStats::Cache(CacheReport::default()),
    };
    let text = emit(&r, write_stats_cache);
    assert!(text.contains("\tactive/total entries:\t\t  4294967295/           0\n"));
    assert_eq!(parse_stats_cache(&text).unwrap(), r);
}

#[test]
fn malformed_texts_are_typed_errors() {
    let good = sample("stats.txt");
    for cut in [0, 1, 15, 100, good.len() / 2, good.len() - 1] {
        assert!(
            matches!(parse_stats(&good[..cut]), Err(ControlError::BadText { .. })),
            "cut at {cut}"
        );
    }
    let mut extra = good.clone();
    extra.push('x');
    assert!(matches!(
        parse_stats(&extra),
        Err(ControlError::BadText {
            expected: "the end of the text",
            ..
        })
    ));
    let overflow = good.replacen("           7", "99999999999", 1);
    assert!(
        parse_stats(&overflow).is_err(),
        "u32 overflow must be an error"
    );
    for bad in [
        "",
        "tcp 6",
        "tcp      6 ESTABLISHED src=1.2.3.4 [active since 1s]",
        "tcp      6 BOGUS src=1.2.3.4 dst=1.2.3.5 [active since 1s]",
        "udp      17 src=1.2.3.4 dst=::1 [active since 1s]",
        "udp      17 src=1.2.3.4 dst=1.2.3.5 frob=1 [active since 1s]",
        "udp      17 src=1.2.3.4 dst=1.2.3.5 [active since xs]",
    ] {
        assert!(parse_ct_dump_entry(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn unknown_protocols_and_states() {
    let ct = CtRepr {
        ipv4: Some(Pair::new(
            "203.0.113.1".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        )),
        l4proto: Some(47),
        status: Some(status::SEEN_REPLY),
        ..CtRepr::default()
    };
    let mut out = String::new();
    write_ct_dump_entry(&ct, &DumpExtras::default(), &mut out);
    assert_eq!(
        out,
        "gre      47 src=203.0.113.1 dst=203.0.113.2 srckey=0x0 dstkey=0x0 [active since 0s]\n"
    );
    let odd = CtRepr {
        l4proto: Some(250),
        tcp_state: Some(200),
        ..ct
    };
    let mut out = String::new();
    write_ct_dump_entry(&odd, &DumpExtras::default(), &mut out);
    // An out-of-range state prints as NONE, like libnetfilter_conntrack.
    assert_eq!(
        out,
        "unknown  250 NONE src=203.0.113.1 dst=203.0.113.2 [active since 0s]\n"
    );
}
