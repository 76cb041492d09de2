//! The conntrackd.conf reader: the configurations conntrack-tools 1.4.7 ships
//! (tests/data/conntrackd/), wrong values with their line, unknown keys as warnings, and
//! arbitrary input.

use std::net::IpAddr;
use std::time::Duration;

use ct_sync::config::{ErrorKind, FilterAction, LogTarget, Mode, Transport, parse};
use proptest::prelude::*;

fn sample(name: &str) -> String {
    let path = format!(
        "{}/tests/data/conntrackd/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn ftfw_sample() {
    let p = parse(&sample("sync-ftfw-conntrackd.conf")).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let c = &p.config;
    let s = c.sync.as_ref().unwrap();
    let Mode::Ftfw(f) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert_eq!((f.resend_queue_size, f.ack_window_size), (131_072, 300));
    assert_eq!(f.common.purge_timeout, Duration::from_secs(60));
    assert_eq!(s.channels.len(), 1);
    let ch = &s.channels[0];
    assert_eq!(ch.transport, Transport::Multicast);
    assert_eq!(ch.address, Some(ip("225.0.0.50")));
    assert_eq!(ch.port, 3780);
    assert_eq!(ch.interface_addr, Some(ip("192.168.100.100")));
    assert_eq!(ch.interface.as_deref(), Some("eth2"));
    assert_eq!(
        (ch.snd_buffer, ch.rcv_buffer, ch.checksum),
        (Some(1_249_280), Some(1_249_280), true)
    );
    let g = &c.general;
    assert_eq!((g.hash_size, g.hash_limit), (32_768, 131_072));
    assert_eq!(g.log_file, LogTarget::Default);
    assert_eq!(g.unix_path, "/var/run/conntrackd.ctl");
    assert_eq!(g.netlink_buffer_size, Some(2_097_152));
    assert_eq!(g.netlink_buffer_size_max_growth, Some(8_388_608));
    let (pa, protos) = g.filter.protocol.as_ref().unwrap();
    assert_eq!(
        (*pa, protos.clone()),
        (
            FilterAction::Accept,
            vec!["TCP".to_owned(), "SCTP".into(), "DCCP".into()]
        )
    );
    let (aa, addrs) = g.filter.address.as_ref().unwrap();
    assert_eq!(*aa, FilterAction::Ignore);
    assert_eq!(addrs.len(), 6);
    assert_eq!((addrs[0].addr, addrs[0].prefix), (ip("127.0.0.1"), 32));
    assert!(!g.filter.kernelspace);
}

#[test]
fn notrack_and_alarm_samples() {
    let p = parse(&sample("sync-notrack-conntrackd.conf")).unwrap();
    assert!(matches!(
        p.config.sync.as_ref().unwrap().mode,
        Mode::Notrack(_)
    ));
    let p = parse(&sample("sync-alarm-conntrackd.conf")).unwrap();
    let Mode::Alarm(a) = &p.config.sync.as_ref().unwrap().mode else {
        panic!()
    };
    assert!(a.refresh_time > Duration::ZERO && a.cache_timeout > a.refresh_time);
}

#[test]
fn stats_and_helper_modes_are_refused_clearly() {
    for (file, mode) in [
        ("stats-conntrackd.conf", "Stats"),
        ("helper-conntrackd.conf", "Helper"),
    ] {
        let e = parse(&sample(file)).unwrap_err();
        let ErrorKind::Unsupported(msg) = &e.kind else {
            panic!("{file}: {e}")
        };
        assert!(
            msg.contains(mode) && msg.contains("not implemented"),
            "{file}: {msg}"
        );
    }
}

const BASE: &str = "Sync {\n Mode NOTRACK {\n }\n UDP Default {\n  IPv4_address 192.0.2.1\n  IPv4_Destination_Address 192.0.2.2\n  Port 3780\n  Interface veth0\n  Checksum off\n }\n TCP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3781\n }\n Options {\n  TCPWindowTracking on\n  ExpectationSync {\n   ftp\n   sip\n  }\n }\n}\nGeneral {\n Filter From Kernelspace {\n  State Accept {\n   ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP\n  }\n  Address Accept {\n   IPv6_address 2001:db8::/32\n  }\n }\n NetlinkOverrunResync off\n Syslog local3\n}\n";

#[test]
fn channels_options_and_filters() {
    let p = parse(BASE).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let s = p.config.sync.unwrap();
    assert_eq!(s.channels.len(), 2);
    assert_eq!(s.default, 0);
    assert!(!s.channels[0].checksum);
    assert_eq!(s.channels[1].transport, Transport::Tcp);
    assert_eq!(s.channels[1].destination, Some(ip("198.51.100.2")));
    assert!(s.tcp_window_tracking);
    assert_eq!(s.expectation_sync, Some(vec!["ftp".into(), "sip".into()]));
    let g = p.config.general;
    assert!(g.filter.kernelspace);
    let (_, states) = g.filter.state.unwrap();
    assert_eq!(states, ["ESTABLISHED", "CLOSED", "TIME_WAIT", "CLOSE_WAIT"]);
    assert_eq!(g.filter.address.unwrap().1[0].prefix, 32);
    assert_eq!(g.netlink_overrun_resync, None);
    assert_eq!(g.syslog, LogTarget::Named("local3".into()));
}

#[test]
fn wrong_values_are_errors_with_their_line() {
    let cases: &[(&str, &str, usize)] = &[
        ("Port 3780", "Port 70000", 7),
        ("Port 3780", "Port", 7),
        (
            "IPv4_Destination_Address 192.0.2.2",
            "IPv4_Destination_Address 192.0.2.300",
            6,
        ),
        ("Checksum off", "Checksum maybe", 9),
        ("Mode NOTRACK", "Mode FASTEST", 2),
        ("TCPWindowTracking on", "TCPWindowTracking 2", 17),
        (
            "IPv6_address 2001:db8::/32",
            "IPv6_address 2001:db8::/129",
            30,
        ),
        ("Filter From Kernelspace", "Filter From Space", 25),
        ("NetlinkOverrunResync off", "NetlinkOverrunResync soon", 33),
    ];
    for &(from, to, line) in cases {
        let text = BASE.replacen(from, to, 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, line, "{to}: {e}");
    }
    // Structure and requirements.
    assert_eq!(
        parse("Sync {\n").unwrap_err().kind,
        ErrorKind::UnclosedBlock
    );
    assert_eq!(parse("}\n").unwrap_err().kind, ErrorKind::UnexpectedClose);
    let no_dest = BASE.replacen("  IPv4_Destination_Address 192.0.2.2\n", "", 1);
    assert!(matches!(
        parse(&no_dest).unwrap_err().kind,
        ErrorKind::Required { .. }
    ));
    let e = parse("General {\n}\n").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Unsupported(ref m) if m.contains("no Sync section")));
    let mcast = "Sync {\n Multicast {\n  IPv4_address 192.0.2.50\n  Group 3780\n }\n}\n";
    assert!(matches!(
        parse(mcast).unwrap_err().kind,
        ErrorKind::WrongValue { .. }
    ));
}

#[test]
fn unknown_keys_are_warnings_with_their_line() {
    let text = BASE
        .replacen("  Checksum off\n", "  Checksum off\n  Frobnicate 3\n", 1)
        .replacen("General {\n", "General {\n Colour blue\n", 1);
    let p = parse(&text).unwrap();
    let w: Vec<(usize, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (10, "unknown key 'Frobnicate' in UDP"),
            (26, "unknown key 'Colour' in General")
        ]
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "[A-Za-z_0-9 {}\"#./:\n\t-]{0,300}") {
        let _ = parse(&s);
    }

    #[test]
    fn generated_channels_read_back(port in 1u16..=65535, a in 1u8..=254, b in 1u8..=254, ack in 1u32..100_000) {
        let text = format!(
            "Sync {{\n Mode FTFW {{\n  ACKWindowSize {ack}\n }}\n UDP {{\n  IPv4_address 192.0.2.{a}\n  \
             IPv4_Destination_Address 203.0.113.{b}\n  Port {port}\n }}\n}}\n"
        );
        let p = parse(&text).unwrap();
        let s = p.config.sync.unwrap();
        prop_assert_eq!(s.channels[0].port, port);
        prop_assert_eq!(s.channels[0].destination, Some(IpAddr::from([203, 0, 113, b])));
        prop_assert!(matches!(s.mode, Mode::Ftfw(ref f) if f.ack_window_size == ack));
    }
}

/// Replays the `conntrackd_conf` fuzz target's corpus (fuzz/corpus/conntrackd_conf/).
#[test]
fn replay_conntrackd_conf_corpus() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/conntrackd_conf"
    );
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        ct_sync::config::fuzzing::read(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 6, "corpus too small: {n} files in {dir}");
}
