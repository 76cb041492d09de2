//! The ctnetlink codec without a kernel: hand-assembled golden bytes for a create, the reply
//! tuple conntrackd's commit builds (NAT, ICMP), `build → parse` round trips of generated
//! conntracks, kernel answers, and arbitrary bytes never panicking.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ct_sync::ctnetlink::consts::*;
use ct_sync::ctnetlink::{
    self, BuildError, CommitOptions, CtMsgKind, DecodeOptions, L4, NlMessage, ParseError, Tuple,
    create_status, reply_tuple, write_create, write_delete, write_dump, write_flush, write_update,
};
use ct_sync::wire::ct::{status, tcp_state};
use ct_sync::wire::{AttrStr, CtRepr, NatSeqAdj, Pair, Synproxy};
use proptest::collection::vec;
use proptest::prelude::*;

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn udp() -> CtRepr {
    CtRepr {
        ipv4: Some(Pair::new(ip4("192.0.2.1"), ip4("198.51.100.2"))),
        l4proto: Some(17),
        port: Some(Pair::new(4000, 53)),
        timeout: Some(1800),
        ..CtRepr::default()
    }
}

fn one(bytes: &[u8]) -> NlMessage {
    let mut it = ctnetlink::messages(bytes, DecodeOptions::default());
    let m = it.next().expect("one message").expect("parses");
    assert!(it.next().is_none(), "exactly one message");
    m
}

fn ct_of(bytes: &[u8]) -> ctnetlink::CtMessage {
    match one(bytes) {
        NlMessage::Conntrack(m) => m,
        other => panic!("not a conntrack: {other:?}"),
    }
}

/// Appends an attribute the way the kernel lays it out (host-order header, padding).
fn nla(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn nest(out: &mut Vec<u8>, ty: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    nla(out, ty | 0x8000, &inner);
}

fn v4_tuple(out: &mut Vec<u8>, ty: u16, s: [u8; 4], d: [u8; 4], proto: u8, sp: u16, dp: u16) {
    nest(out, ty, |t| {
        nest(t, CTA_TUPLE_IP, |ip| {
            nla(ip, CTA_IP_V4_SRC, &s);
            nla(ip, CTA_IP_V4_DST, &d);
        });
        nest(t, CTA_TUPLE_PROTO, |p| {
            nla(p, CTA_PROTO_NUM, &[proto]);
            nla(p, CTA_PROTO_SRC_PORT, &sp.to_be_bytes());
            nla(p, CTA_PROTO_DST_PORT, &dp.to_be_bytes());
        });
    });
}

fn nlmsg(ty: u16, flags: u16, seq: u32, pid: u32, family: u8, attrs: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((20 + attrs.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&pid.to_ne_bytes());
    m.extend_from_slice(&[family, 0, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

#[test]
fn create_golden_bytes() {
    let mut attrs = Vec::new();
    v4_tuple(
        &mut attrs,
        CTA_TUPLE_ORIG,
        [192, 0, 2, 1],
        [198, 51, 100, 2],
        17,
        4000,
        53,
    );
    v4_tuple(
        &mut attrs,
        CTA_TUPLE_REPLY,
        [198, 51, 100, 2],
        [192, 0, 2, 1],
        17,
        53,
        4000,
    );
    nla(&mut attrs, CTA_TIMEOUT, &1800u32.to_be_bytes());
    let want = nlmsg(
        0x0100,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
        7,
        0,
        AF_INET,
        &attrs,
    );
    let mut got = Vec::new();
    let n = write_create(&mut got, 7, &udp(), &CommitOptions::default(), false).unwrap();
    assert_eq!(n, got.len());
    assert_eq!(
        got.len(),
        132,
        "16 header + 4 nfgenmsg + 2 × 52 tuples + 8 timeout"
    );
    assert_eq!(got, want);
    // With an ACK only the flags differ.
    let mut acked = Vec::new();
    write_create(&mut acked, 7, &udp(), &CommitOptions::default(), true).unwrap();
    let flags = u16::from_ne_bytes([acked[6], acked[7]]);
    assert_eq!(flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    assert_eq!(acked[8..], want[8..]);
}

#[test]
fn requests_are_appended_and_parse_back() {
    let mut buf = vec![0xaa; 3]; // whatever the caller had
    write_delete(&mut buf, 10, &udp(), true).unwrap();
    write_update(&mut buf, 11, &udp(), &CommitOptions::default(), false).unwrap();
    let dump_len = write_dump(&mut buf, 12, AF_INET6);
    let flush_len = write_flush(&mut buf, 13, AF_UNSPEC, true);
    assert_eq!((dump_len, flush_len), (20, 20));
    assert_eq!(&buf[..3], &[0xaa; 3]);
    let msgs: Vec<_> = ctnetlink::NlMsgIter::new(&buf[3..])
        .map(Result::unwrap)
        .collect();
    let kinds: Vec<_> = msgs.iter().map(|m| (m.ty, m.flags, m.seq)).collect();
    assert_eq!(
        kinds,
        [
            (0x0102, NLM_F_REQUEST | NLM_F_ACK, 10),
            (0x0100, NLM_F_REQUEST, 11),
            (0x0101, NLM_F_REQUEST | NLM_F_DUMP, 12),
            (0x0102, NLM_F_REQUEST | NLM_F_ACK, 13),
        ]
    );
    assert_eq!(msgs[2].payload[0], AF_INET6);
    // A flush of one family says so with nfgenmsg version 1.
    let mut f = Vec::new();
    write_flush(&mut f, 1, AF_INET, false);
    assert_eq!(&f[16..18], &[AF_INET, 1]);
    // The delete names the conntrack by its original tuple only.
    let del = ct_of(&buf[3..3 + msgs[0].payload.len() + 16]);
    assert_eq!(del.kind, CtMsgKind::Destroy);
    assert_eq!(del.reply, None);
    assert_eq!(del.ct.port, udp().port);
}

#[test]
fn reply_tuple_applies_nat_like_setup_reply() {
    let ct = CtRepr {
        ipv4: Some(Pair::new(ip4("192.0.2.10"), ip4("198.51.100.20"))),
        l4proto: Some(6),
        port: Some(Pair::new(40000, 443)),
        snat_ipv4: Some(ip4("203.0.113.9")),
        spat_port: Some(61000),
        dnat_ipv4: Some(ip4("192.0.2.80")),
        dpat_port: Some(8443),
        ..CtRepr::default()
    };
    let r = reply_tuple(&ct).unwrap();
    assert_eq!(
        r.addrs,
        Pair::new(
            IpAddr::V4(ip4("192.0.2.80")),
            IpAddr::V4(ip4("203.0.113.9"))
        )
    );
    assert_eq!(r.l4, L4::Ports(Pair::new(8443, 61000)));
    // ICMP: the echo request's reply is an echo reply with the same id and code.
    let ping = CtRepr {
        ipv4: Some(Pair::new(ip4("192.0.2.1"), ip4("192.0.2.2"))),
        l4proto: Some(1),
        icmp_type: Some(8),
        icmp_code: Some(0),
        icmp_id: Some(0x1234),
        ..CtRepr::default()
    };
    let r = reply_tuple(&ping).unwrap();
    assert_eq!(
        r.l4,
        L4::Icmp {
            ty: 0,
            code: 0,
            id: 0x1234
        }
    );
    let ping6 = CtRepr {
        ipv4: None,
        ipv6: Some(Pair::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )),
        l4proto: Some(58),
        icmp_type: Some(128),
        ..ping
    };
    assert!(matches!(
        reply_tuple(&ping6).unwrap().l4,
        L4::Icmp { ty: 129, .. }
    ));
}

#[test]
fn build_errors_leave_the_buffer_alone() {
    let opts = CommitOptions::default();
    let cases = [
        (
            CtRepr {
                ipv4: None,
                ..udp()
            },
            BuildError::NoAddresses,
        ),
        (
            CtRepr {
                l4proto: None,
                ..udp()
            },
            BuildError::NoL4Proto,
        ),
        (
            CtRepr {
                timeout: None,
                ..udp()
            },
            BuildError::NoTimeout,
        ),
        (
            CtRepr {
                l4proto: Some(1),
                icmp_type: Some(8),
                ..udp()
            },
            BuildError::IncompleteIcmp,
        ),
        (
            CtRepr {
                snat_ipv6: Some(Ipv6Addr::LOCALHOST),
                ..udp()
            },
            BuildError::FamilyMismatch,
        ),
    ];
    for (ct, err) in cases {
        let mut buf = vec![1, 2, 3];
        assert_eq!(write_create(&mut buf, 1, &ct, &opts, false), Err(err));
        assert_eq!(buf, [1, 2, 3]);
    }
    // A commit timeout stands in for a missing NTA_TIMEOUT, and wins over a present one.
    let forced = CommitOptions {
        commit_timeout: Some(180),
        ..opts
    };
    let mut buf = Vec::new();
    let no_timeout = CtRepr {
        timeout: None,
        ..udp()
    };
    write_create(&mut buf, 1, &no_timeout, &forced, false).unwrap();
    write_create(&mut buf, 2, &udp(), &forced, false).unwrap();
    for m in ctnetlink::messages(&buf, DecodeOptions::default()) {
        let NlMessage::Conntrack(m) = m.unwrap() else {
            panic!()
        };
        assert_eq!(m.ct.timeout, Some(180));
    }
}

#[test]
fn create_status_and_tcp_flags_follow_conntrackd() {
    assert_eq!(
        create_status(status::EXPECTED | status::SEEN_REPLY | status::ASSURED),
        status::SEEN_REPLY | status::ASSURED | status::CONFIRMED
    );
    assert_eq!(create_status(status::DYING), status::CONFIRMED);
    let tcp = CtRepr {
        l4proto: Some(6),
        tcp_state: Some(tcp_state::ESTABLISHED),
        tcp_wscale_orig: Some(7),
        tcp_wscale_repl: Some(9),
        ..udp()
    };
    let find_flags = |bytes: &[u8]| -> Vec<[u8; 2]> {
        // FLAGS_ORIGINAL / FLAGS_REPLY: nla_len 6, types 4 and 5.
        bytes
            .windows(6)
            .filter(|w| {
                w[..2] == 6u16.to_ne_bytes()
                    && (w[2..4] == 4u16.to_ne_bytes() || w[2..4] == 5u16.to_ne_bytes())
            })
            .map(|w| [w[4], w[5]])
            .collect()
    };
    let mut liberal = Vec::new();
    write_create(&mut liberal, 1, &tcp, &CommitOptions::default(), false).unwrap();
    assert_eq!(
        find_flags(&liberal),
        [[8, 8], [8, 8]],
        "BE_LIBERAL both ways"
    );
    let m = ct_of(&liberal);
    assert_eq!(m.ct.tcp_state, Some(3));
    assert_eq!(
        m.ct.tcp_wscale_orig, None,
        "not sent without window tracking"
    );
    let tracking = CommitOptions {
        tcp_window_tracking: true,
        ..CommitOptions::default()
    };
    let mut tracked = Vec::new();
    write_create(&mut tracked, 1, &tcp, &tracking, false).unwrap();
    assert!(find_flags(&tracked).is_empty());
    let m = ctnetlink::decode(
        &ctnetlink::NlMsgIter::new(&tracked).next().unwrap().unwrap(),
        &DecodeOptions {
            tcp_window_tracking: true,
        },
    )
    .unwrap();
    let NlMessage::Conntrack(m) = m else { panic!() };
    assert_eq!(
        (m.ct.tcp_wscale_orig, m.ct.tcp_wscale_repl),
        (Some(7), Some(9))
    );
}

#[test]
fn kernel_event_with_nat_decodes_to_the_sync_form() {
    // A NEW event as the kernel sends it for a SNATed TCP flow caused by port id 4242.
    let mut a = Vec::new();
    v4_tuple(
        &mut a,
        CTA_TUPLE_ORIG,
        [192, 0, 2, 1],
        [198, 51, 100, 2],
        6,
        40000,
        443,
    );
    v4_tuple(
        &mut a,
        CTA_TUPLE_REPLY,
        [198, 51, 100, 2],
        [203, 0, 113, 9],
        6,
        443,
        61000,
    );
    nla(&mut a, CTA_ID, &0xdead_beefu32.to_be_bytes());
    nla(&mut a, CTA_STATUS, &0x19eu32.to_be_bytes());
    nla(&mut a, CTA_TIMEOUT, &600u32.to_be_bytes());
    nest(&mut a, CTA_PROTOINFO, |p| {
        nest(p, CTA_PROTOINFO_TCP, |t| {
            nla(t, CTA_PROTOINFO_TCP_STATE, &[3]);
            nla(t, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, &[7]);
            nla(t, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, &[0x23, 0]);
        });
    });
    nla(&mut a, CTA_MARK, &42u32.to_be_bytes());
    nla(&mut a, CTA_ZONE, &7u16.to_be_bytes());
    nla(&mut a, CTA_LABELS, &[0x05, 0, 0, 0, 0, 0, 0, 0]);
    nest(&mut a, CTA_HELP, |h| nla(h, CTA_HELP_NAME, b"ftp\0"));
    nla(&mut a, 0x3ff, &[1, 2, 3]); // unknown: skipped
    let bytes = nlmsg(0x0100, NLM_F_CREATE | NLM_F_EXCL, 0, 4242, AF_INET, &a);
    let m = ct_of(&bytes);
    assert_eq!(
        (m.kind, m.pid, m.seq, m.id),
        (CtMsgKind::New, 4242, 0, Some(0xdead_beef))
    );
    let want = CtRepr {
        ipv4: Some(Pair::new(ip4("192.0.2.1"), ip4("198.51.100.2"))),
        status: Some(0x19e),
        l4proto: Some(6),
        port: Some(Pair::new(40000, 443)),
        tcp_state: Some(3),
        timeout: Some(600),
        mark: Some(42),
        snat_ipv4: Some(ip4("203.0.113.9")),
        spat_port: Some(61000),
        helper_name: AttrStr::new("ftp"),
        labels: Some(vec![5]),
        zone: Some(7),
        ..CtRepr::default()
    };
    assert_eq!(m.ct, want);
    // The same as an update and as a destroy.
    let upd = nlmsg(0x0100, 0, 0, 0, AF_INET, &a);
    assert_eq!(ct_of(&upd).kind, CtMsgKind::Update);
    let del = nlmsg(0x0102, 0, 0, 0, AF_INET, &a);
    assert_eq!(ct_of(&del).kind, CtMsgKind::Destroy);
    // A dump entry: CT_NEW with NLM_F_MULTI (what 6.x kernels send), or CT_GET.
    let entry = nlmsg(0x0100, NLM_F_MULTI, 9, 1, AF_INET, &a);
    assert_eq!((ct_of(&entry).kind, ct_of(&entry).seq), (CtMsgKind::Get, 9));
    let get = nlmsg(0x0101, 0, 9, 1, AF_INET, &a);
    assert_eq!(ct_of(&get).kind, CtMsgKind::Get);
    // Without SRC_NAT_DONE the reply tuple is not read as NAT (libnetfilter_conntrack's rule).
    let mut plain = a.clone();
    let at = plain
        .windows(8)
        .position(|w| w[..4] == [8, 0, 3, 0] && w[4..] == 0x19eu32.to_be_bytes())
        .unwrap();
    plain[at + 4..at + 8].copy_from_slice(&0x00eu32.to_be_bytes());
    let m = ct_of(&nlmsg(0x0100, 0, 0, 0, AF_INET, &plain));
    assert_eq!((m.ct.snat_ipv4, m.ct.spat_port), (None, None));
}

#[test]
fn answers_and_done() {
    let mut err = Vec::new();
    err.extend_from_slice(&36u32.to_ne_bytes());
    err.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
    err.extend_from_slice(&NLM_F_CAPPED.to_ne_bytes());
    err.extend_from_slice(&99u32.to_ne_bytes());
    err.extend_from_slice(&1234u32.to_ne_bytes());
    err.extend_from_slice(&(-EEXIST).to_ne_bytes());
    err.extend_from_slice(&[0; 16]);
    let mut done = Vec::new();
    done.extend_from_slice(&20u32.to_ne_bytes());
    done.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    done.extend_from_slice(&NLM_F_MULTI.to_ne_bytes());
    done.extend_from_slice(&5u32.to_ne_bytes());
    done.extend_from_slice(&[0; 8]);
    let mut both = err.clone();
    both.extend_from_slice(&done);
    let got: Vec<_> = ctnetlink::messages(&both, DecodeOptions::default())
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        got,
        [
            NlMessage::Error {
                seq: 99,
                errno: EEXIST
            },
            NlMessage::Done { seq: 5 }
        ]
    );
    // Truncated and lying lengths are typed errors.
    assert!(matches!(one_err(&both[..10]), ParseError::Truncated { .. }));
    let mut long = err.clone();
    long[0] = 200;
    assert!(matches!(
        one_err(&long),
        ParseError::BadMessageLength { len: 200, .. }
    ));
    let mut short = err[..20].to_vec();
    short[0] = 18;
    short.truncate(18);
    assert!(matches!(one_err(&short), ParseError::ShortError { len: 2 }));
}

fn one_err(bytes: &[u8]) -> ParseError {
    ctnetlink::messages(bytes, DecodeOptions::default())
        .find_map(Result::err)
        .expect("an error")
}

#[test]
fn malformed_conntracks_are_typed_errors() {
    // No original tuple.
    let mut a = Vec::new();
    nla(&mut a, CTA_STATUS, &8u32.to_be_bytes());
    assert!(matches!(
        one_err(&nlmsg(0x0100, 0, 0, 0, AF_INET, &a)),
        ParseError::Missing {
            what: "CTA_TUPLE_ORIG"
        }
    ));
    // A 2-byte CTA_STATUS.
    let mut a = Vec::new();
    v4_tuple(
        &mut a,
        CTA_TUPLE_ORIG,
        [192, 0, 2, 1],
        [192, 0, 2, 2],
        17,
        1,
        2,
    );
    nla(&mut a, CTA_STATUS, &[0, 8]);
    assert!(matches!(
        one_err(&nlmsg(0x0100, 0, 0, 0, AF_INET, &a)),
        ParseError::AttrTooShort {
            what: "CTA_STATUS",
            ..
        }
    ));
    // An attribute overrunning its message.
    let mut a = Vec::new();
    v4_tuple(
        &mut a,
        CTA_TUPLE_ORIG,
        [192, 0, 2, 1],
        [192, 0, 2, 2],
        17,
        1,
        2,
    );
    a.extend_from_slice(&40u16.to_ne_bytes());
    a.extend_from_slice(&CTA_MARK.to_ne_bytes());
    a.extend_from_slice(&[0; 4]);
    assert!(matches!(
        one_err(&nlmsg(0x0100, 0, 0, 0, AF_INET, &a)),
        ParseError::BadAttrLength { .. }
    ));
}

// ---- round trips of generated conntracks ----

fn v4_in(third: u8) -> impl Strategy<Value = Ipv4Addr> {
    any::<u8>().prop_map(move |d| Ipv4Addr::new(198, 51, third, d))
}

fn v6_in(group: u16) -> impl Strategy<Value = Ipv6Addr> {
    any::<u16>().prop_map(move |d| Ipv6Addr::new(0x2001, 0xdb8, group, 0, 0, 0, 0, d))
}

prop_compose! {
    fn gen_ct()(
        v6 in any::<bool>(),
        a4 in (v4_in(1), v4_in(2), v4_in(3), v4_in(4)),
        a6 in (v6_in(1), v6_in(2), v6_in(3), v6_in(4)),
        proto in prop_oneof![Just(6u8), Just(17), Just(1), Just(47), Just(132)],
        ports in any::<(u16, u16)>(),
        icmp in (any::<u8>(), any::<u16>()),
        snat in any::<bool>(), dnat in any::<bool>(),
        spat in proptest::option::of(any::<u16>()), dpat in proptest::option::of(any::<u16>()),
        flags in any::<u32>(),
        timeout in any::<u32>(), mark in proptest::option::of(any::<u32>()),
        zone in proptest::option::of(1..=u16::MAX),
        labels in proptest::option::of(vec(any::<u32>(), 1..5)),
        helper in proptest::option::of("[a-z]{1,11}"),
        seqadj in proptest::option::of(any::<[u32; 6]>()),
        synproxy in proptest::option::of(any::<[u32; 3]>()),
        tcp in any::<u8>(), sctp in any::<(u8, u32, u32)>(),
        master in any::<bool>(),
    ) -> CtRepr {
        let mut ct = CtRepr {
            l4proto: Some(proto),
            timeout: Some(timeout),
            mark,
            zone,
            helper_name: helper.as_deref().and_then(AttrStr::new),
            ..CtRepr::default()
        };
        // Orig src/dst from ranges 1/2, SNAT/DNAT from 3/4: NAT addresses always differ.
        if v6 {
            ct.ipv6 = Some(Pair::new(a6.0, a6.1));
            ct.snat_ipv6 = snat.then_some(a6.2);
            ct.dnat_ipv6 = dnat.then_some(a6.3);
        } else {
            ct.ipv4 = Some(Pair::new(a4.0, a4.1));
            ct.snat_ipv4 = snat.then_some(a4.2);
            ct.dnat_ipv4 = dnat.then_some(a4.3);
        }
        let mut st = flags & 0xffff & !(status::SRC_NAT_DONE | status::DST_NAT_DONE);
        match proto {
            1 => {
                let p = if v6 { 58 } else { 1 };
                ct.l4proto = Some(p);
                ct.icmp_type = Some(if v6 { 128 } else { 8 });
                ct.icmp_code = Some(icmp.0);
                ct.icmp_id = Some(icmp.1);
            }
            47 => {}
            _ => {
                ct.port = Some(Pair::new(ports.0, ports.1));
                // NAT ports that differ from the original ones (else nothing to derive).
                ct.spat_port = spat.filter(|&p| p != ports.0);
                ct.dpat_port = dpat.filter(|&p| p != ports.1);
            }
        }
        if proto == 6 {
            ct.tcp_state = Some(tcp % 10);
        }
        if proto == 132 {
            (ct.sctp_state, ct.sctp_vtag_orig, ct.sctp_vtag_repl) =
                (Some(sctp.0), Some(sctp.1), Some(sctp.2));
        }
        if ct.snat_ipv4.is_some() || ct.snat_ipv6.is_some() || ct.spat_port.is_some() {
            st |= status::SRC_NAT_DONE;
        }
        if ct.dnat_ipv4.is_some() || ct.dnat_ipv6.is_some() || ct.dpat_port.is_some() {
            st |= status::DST_NAT_DONE;
        }
        ct.status = Some(st);
        ct.labels = labels.map(|mut w| {
            if let Some(l) = w.last_mut() { *l |= 1; }
            w
        });
        ct.nat_seq_adj = seqadj.map(|s| NatSeqAdj {
            orig_pos: s[0], orig_before: s[1], orig_after: s[2],
            repl_pos: s[3], repl_before: s[4], repl_after: s[5],
        });
        ct.synproxy = synproxy.map(|s| Synproxy { its: s[0], isn: s[1], tsoff: s[2] });
        if master {
            if v6 {
                ct.master_ipv6 = Some(Pair::new(a6.2, a6.3));
            } else {
                ct.master_ipv4 = Some(Pair::new(a4.2, a4.3));
            }
            ct.master_l4proto = Some(6);
            ct.master_port = Some(Pair::new(ports.1, 21));
        }
        ct
    }
}

proptest! {
    #[test]
    fn create_round_trips(ct in gen_ct(), seq in any::<u32>(), ack in any::<bool>()) {
        let mut buf = Vec::new();
        let n = write_create(&mut buf, seq, &ct, &CommitOptions::default(), ack).unwrap();
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(n % 4, 0);
        let m = ct_of(&buf);
        prop_assert_eq!(m.kind, CtMsgKind::New);
        prop_assert_eq!(m.seq, seq);
        // The reply tuple goes out un-NATed (the original inverted): the kernel applies the
        // NAT attributes to it.
        let plain = CtRepr {
            snat_ipv4: None, dnat_ipv4: None, snat_ipv6: None, dnat_ipv6: None,
            spat_port: None, dpat_port: None, ..ct.clone()
        };
        prop_assert_eq!(m.reply, Some(reply_tuple(&plain).unwrap()));
        // NAT travels in CTA_NAT_SRC / CTA_NAT_DST, which the parser (of the kernel's
        // messages, where NAT shows in the reply tuple) does not read back.
        // An all-zero SYNPROXY is left out (the kernel's own value for a created conntrack).
        let want = CtRepr {
            status: ct.status.map(create_status),
            synproxy: ct.synproxy.filter(|s| *s != Synproxy::default()),
            ..plain
        };
        prop_assert_eq!(m.ct, want);
    }

    #[test]
    fn many_creates_in_one_buffer(cts in vec(gen_ct(), 1..40)) {
        let mut buf = Vec::new();
        for (i, ct) in cts.iter().enumerate() {
            write_create(&mut buf, i as u32, ct, &CommitOptions::default(), false).unwrap();
        }
        let back: Vec<_> = ctnetlink::messages(&buf, DecodeOptions::default())
            .map(|m| match m.unwrap() {
                NlMessage::Conntrack(m) => (m.seq, m.ct.orig_addrs()),
                other => panic!("{other:?}"),
            })
            .collect();
        let want: Vec<_> = cts.iter().enumerate().map(|(i, c)| (i as u32, c.orig_addrs())).collect();
        prop_assert_eq!(back, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        for m in ctnetlink::messages(&bytes, DecodeOptions { tcp_window_tracking: true }) {
            let _ = m;
        }
        let entries = [udp()];
        let mut p = ctnetlink::CommitPlanner::new(&entries, ctnetlink::CommitConfig::default());
        let mut buf = Vec::new();
        p.poll_transmit(&mut buf);
        let _ = p.handle_datagram(&bytes);
        let _ = ctnetlink::parse_tuple(&bytes);
    }

    #[test]
    fn corrupted_requests_never_panic(ct in gen_ct(), pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut buf = Vec::new();
        write_create(&mut buf, 1, &ct, &CommitOptions::default(), false).unwrap();
        let i = pos % buf.len();
        buf[i] = byte;
        buf.truncate(cut % (buf.len() + 1));
        for m in ctnetlink::messages(&buf, DecodeOptions::default()) {
            let _ = m;
        }
    }
}

#[test]
fn zero_synproxy_is_left_out_of_creates() {
    let zero = CtRepr {
        synproxy: Some(Synproxy::default()),
        ..udp()
    };
    let set = CtRepr {
        synproxy: Some(Synproxy {
            its: 1,
            isn: 2,
            tsoff: 3,
        }),
        ..udp()
    };
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    write_create(&mut a, 7, &zero, &CommitOptions::default(), false).unwrap();
    write_create(&mut b, 7, &udp(), &CommitOptions::default(), false).unwrap();
    write_create(&mut c, 7, &set, &CommitOptions::default(), false).unwrap();
    assert_eq!(a, b, "a zero SYNPROXY adds nothing to the request");
    assert_eq!(ct_of(&c).ct.synproxy, set.synproxy, "a set one is sent");
    assert!(c.len() > b.len());
}

#[test]
fn tuple_family_helper() {
    let t = Tuple {
        addrs: Pair::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        ),
        l4proto: 17,
        l4: L4::None,
    };
    assert_eq!(t.family(), AF_INET6);
}
