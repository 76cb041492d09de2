//! Differential tests against dhcproto 0.15 (dev-dependency only): on the golden packets and
//! on generated ones, the two decoders agree on the header and on the options.
//!
//! Where dhcproto's semantics differ, the comparison narrows (and says so here):
//! * dhcproto never reads options from `sname` / `file` (option 52 is kept as a value): for a
//!   packet with overload only the header is compared;
//! * dhcproto joins the instances of a split option (RFC 3396) only when they are adjacent,
//!   and a lone piece it cannot decode ends its option parsing: for a packet with a
//!   non-adjacent split, or a pad between two pieces, only the header is compared;
//! * dhcproto decodes some options more strictly (host name and domain name as UTF-8, client
//!   FQDN as a DNS name, some codes we keep raw as fixed-size values) and silently stops at
//!   the first it cannot decode: the generators draw ASCII names and only codes that both
//!   decode alike (our typed codes but 81, and the codes dhcproto leaves `Unknown`);
//! * dhcproto keeps one relay sub-option per code: sub-options are compared when unique;
//! * dhcproto's `chaddr()` slices by `hlen`, so generated `hlen` is at most 16.

mod common;

use std::net::Ipv4Addr;

use dhcp4_ha::wire::{Dhcp4Repr, Packet, TYPED_CODES, TokenKind, code};
use dhcproto::v4::relay::{RelayCode, RelayInfo};
use dhcproto::v4::{DhcpOption, Message, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use proptest::prelude::*;

/// Codes both decoders decode alike.
fn comparable(c: u8) -> bool {
    if c == code::OVERLOAD || c == 0 || c == 255 {
        return false;
    }
    if TYPED_CODES.contains(&c) {
        return c != code::CLIENT_FQDN;
    }
    // Rapid commit (80) is empty in both.
    c == 80 || matches!(OptionCode::from(c), OptionCode::Unknown(_))
}

/// What was compared: the header always; the options unless skipped.
#[derive(Debug, Default)]
struct Compared {
    packets: usize,
    with_options: usize,
    options: usize,
}

fn theirs(bytes: &[u8]) -> Message {
    Message::decode(&mut Decoder::new(bytes)).unwrap_or_else(|e| panic!("dhcproto: {e}"))
}

/// Compares our decoding of `bytes` with dhcproto's.
fn compare(bytes: &[u8], tally: &mut Compared) {
    let ours = Dhcp4Repr::from_bytes(bytes).unwrap();
    let m = theirs(bytes);
    assert_eq!(u8::from(m.opcode()), ours.op.0, "op");
    assert_eq!(u8::from(m.htype()), ours.htype, "htype");
    assert_eq!(
        (m.hlen(), m.hops(), m.xid(), m.secs()),
        (ours.hlen, ours.hops, ours.xid, ours.secs)
    );
    assert_eq!(u16::from(m.flags()), ours.flags, "flags");
    assert_eq!(
        (m.ciaddr(), m.yiaddr(), m.siaddr(), m.giaddr()),
        (ours.ciaddr, ours.yiaddr, ours.siaddr, ours.giaddr)
    );
    if ours.hlen <= 16 {
        assert_eq!(m.chaddr(), ours.client_hw_addr(), "chaddr");
    }
    tally.packets += 1;

    // Skip the options where dhcproto's semantics differ (see the module docs).
    let view = Packet::new_checked(bytes).unwrap();
    if view.overload().is_some() {
        return;
    }
    let tokens: Vec<_> = view.tokens().map(Result::unwrap).collect();
    let mut runs_seen = std::collections::BTreeSet::new();
    let mut prev: Option<u8> = None;
    for t in &tokens {
        let c = match t.kind {
            TokenKind::Option { code, .. } => Some(code),
            _ => None,
        };
        if let Some(c) = c
            && prev != Some(c)
            && !runs_seen.insert(c)
        {
            return; // a second run of `c`
        }
        prev = c;
    }
    if ours.options.codes().any(|c| !comparable(c)) {
        return;
    }
    tally.with_options += 1;

    let o = &ours.options;
    assert_eq!(m.opts().iter().count(), o.len(), "option count");
    for c in o.codes() {
        let opt = m
            .opts()
            .get(OptionCode::from(c))
            .unwrap_or_else(|| panic!("dhcproto lacks option {c}"));
        let bytes = o.encoded(c).unwrap();
        let addrs = |v: &[Ipv4Addr]| -> Vec<u8> { v.iter().flat_map(|a| a.octets()).collect() };
        match opt {
            DhcpOption::MessageType(t) => assert_eq!(vec![u8::from(*t)], *bytes),
            DhcpOption::SubnetMask(a)
            | DhcpOption::BroadcastAddr(a)
            | DhcpOption::RequestedIpAddress(a)
            | DhcpOption::ServerIdentifier(a)
            | DhcpOption::SubnetSelection(a) => assert_eq!(a.octets(), *bytes),
            DhcpOption::Router(v) | DhcpOption::DomainNameServer(v) | DhcpOption::NtpServers(v) => {
                assert_eq!(addrs(v), *bytes)
            }
            DhcpOption::TimeOffset(n) => assert_eq!(n.to_be_bytes(), *bytes),
            DhcpOption::AddressLeaseTime(n) | DhcpOption::Renewal(n) | DhcpOption::Rebinding(n) => {
                assert_eq!(n.to_be_bytes(), *bytes)
            }
            DhcpOption::MaxMessageSize(n) | DhcpOption::InterfaceMtu(n) => {
                assert_eq!(n.to_be_bytes(), *bytes)
            }
            DhcpOption::Hostname(s) | DhcpOption::DomainName(s) | DhcpOption::Message(s) => {
                assert_eq!(s.as_bytes(), &*bytes)
            }
            DhcpOption::ClassIdentifier(v)
            | DhcpOption::ClientIdentifier(v)
            | DhcpOption::TFTPServerName(v)
            | DhcpOption::BootfileName(v)
            | DhcpOption::UserClass(v) => assert_eq!(v, &*bytes),
            DhcpOption::ParameterRequestList(codes) => {
                let v: Vec<u8> = codes.iter().map(|c| u8::from(*c)).collect();
                assert_eq!(v, *bytes)
            }
            DhcpOption::RelayAgentInformation(info) => {
                let ri = o.relay_agent_info.as_ref().unwrap();
                for (sub, theirs) in [
                    (1u8, info.get(RelayCode::AgentCircuitId)),
                    (2, info.get(RelayCode::AgentRemoteId)),
                    (5, info.get(RelayCode::LinkSelection)),
                ] {
                    if ri.sub_options.iter().filter(|s| s.code == sub).count() > 1 {
                        continue;
                    }
                    let theirs: Option<Vec<u8>> = theirs.map(|t| match t {
                        RelayInfo::AgentCircuitId(v) | RelayInfo::AgentRemoteId(v) => v.clone(),
                        RelayInfo::LinkSelection(a) => a.octets().to_vec(),
                        other => panic!("unexpected {other:?}"),
                    });
                    assert_eq!(theirs.as_deref(), ri.get(sub), "sub-option {sub}");
                }
            }
            DhcpOption::RapidCommit => assert!(bytes.is_empty()),
            DhcpOption::Unknown(u) => assert_eq!(u.data(), &*bytes, "option {c}"),
            other => panic!("option {c}: uncompared dhcproto variant {other:?}"),
        }
        tally.options += 1;
    }
}

#[test]
fn golden_packets_agree() {
    let mut tally = Compared::default();
    for (_, bytes) in common::golden() {
        compare(&bytes, &mut tally);
    }
    // The captures are compared in full; the split and overload fixtures by header.
    assert_eq!(tally.packets, 41);
    assert_eq!(tally.with_options, 38);
    assert!(tally.options > 250, "{tally:?}");
}

/// Codes drawn for the oracle: any comparable code, typed ones half of the time.
fn oracle_code() -> BoxedStrategy<u8> {
    prop_oneof![
        prop::sample::select(
            TYPED_CODES
                .iter()
                .copied()
                .filter(|&c| c != code::CLIENT_FQDN)
                .collect::<Vec<_>>()
        ),
        // Not 80: dhcproto debug-asserts that rapid commit is empty.
        (1u8..=254).prop_filter("comparable", |&c| comparable(c) && c != 80),
    ]
    .boxed()
}

fn oracle_header() -> BoxedStrategy<Vec<u8>> {
    common::header()
        .prop_map(|mut h| {
            h[2] %= 17;
            h
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// Canonical packets (our emit of generated reprs): always comparable in full.
    #[test]
    fn generated_reprs_agree(h in oracle_header(), opts in common::option_set(oracle_code(), true, 14)) {
        let repr = common::repr_from(&h, &opts);
        let bytes = repr.to_vec().unwrap();
        let mut tally = Compared::default();
        compare(&bytes, &mut tally);
        prop_assert_eq!(tally.with_options, 1);
    }

    /// Packets in any layout: the header always, the options where dhcproto can follow.
    #[test]
    fn generated_layouts_agree(
        h in oracle_header(),
        opts in common::option_set(oracle_code(), true, 10),
        seed: u64,
    ) {
        let bytes = common::build_packet(&h, &opts, seed);
        compare(&bytes, &mut Compared::default());
    }

    /// dhcproto's encoding of a message (its own option order: ascending, 82 last) parses
    /// with ours to the same options. (dhcproto drops empty options when encoding, so none
    /// are drawn here, and keeps relay sub-options one per code, sorted by code.)
    #[test]
    fn dhcproto_encodings_parse_alike(h in oracle_header(), opts in common::option_set(oracle_code(), true, 14)) {
        let opts: Vec<_> = opts
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let repr = common::repr_from(&h, &opts);
        let m = theirs(&repr.to_vec().unwrap());
        let mut buf = Vec::new();
        m.encode(&mut Encoder::new(&mut buf)).unwrap();
        let ours = Dhcp4Repr::from_bytes(&buf).unwrap();
        let mut expected = repr.options.clone();
        if let Some(ri) = &mut expected.relay_agent_info {
            let last: std::collections::BTreeMap<u8, Vec<u8>> =
                ri.sub_options.drain(..).map(|s| (s.code, s.data)).collect();
            ri.sub_options = last
                .into_iter()
                .map(|(code, data)| dhcp4_ha::wire::SubOption { code, data })
                .collect();
        }
        prop_assert_eq!(&ours.options, &expected);
        prop_assert_eq!((ours.xid, ours.flags, ours.giaddr), (repr.xid, repr.flags, repr.giaddr));
        prop_assert_eq!(ours.to_vec().unwrap(), buf);
    }
}

/// Over many generated layouts, a fair share is compared option by option.
#[test]
fn layouts_are_mostly_comparable() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (
        oracle_header(),
        common::option_set(oracle_code(), true, 10),
        any::<u64>(),
    );
    let mut tally = Compared::default();
    for _ in 0..300 {
        let (h, opts, seed) = strategy.new_tree(&mut runner).unwrap().current();
        compare(&common::build_packet(&h, &opts, seed), &mut tally);
    }
    assert!(tally.with_options >= 75, "{tally:?}");
}
