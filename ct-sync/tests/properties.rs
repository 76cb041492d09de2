//! Property tests: generated values round-trip through emit and parse; generated valid wire
//! messages (built by an encoder independent of the crate's) re-emit byte for byte; batching
//! respects the limit, packs greedily and splits back; arbitrary bytes never panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use ct_sync::cache::{CtAttrs, is_related};
use ct_sync::wire::{
    AttrSize, AttrStr, Batcher, Body, CtAttrId, CtRepr, ExpAttrId, ExpRepr, ExpTuple, Flags,
    Message, MessageRepr, NTA_EXP_MAX, NTA_MAX, NatSeqAdj, Op, Pair, SeqRange, Synproxy, split,
    udp_payload_limit,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = Pair<Ipv4Addr>> {
    any::<([u8; 4], [u8; 4])>().prop_map(|(a, b)| Pair::new(a.into(), b.into()))
}

fn v6() -> impl Strategy<Value = Pair<Ipv6Addr>> {
    any::<([u8; 16], [u8; 16])>().prop_map(|(a, b)| Pair::new(a.into(), b.into()))
}

fn ports() -> impl Strategy<Value = Pair<u16>> {
    any::<(u16, u16)>().prop_map(|(a, b)| Pair::new(a, b))
}

/// A string payload of 1..=max bytes (any bytes, as received).
fn attr_str(max: usize) -> impl Strategy<Value = AttrStr> {
    vec(any::<u8>(), 1..=max).prop_map(|p| AttrStr::from_payload(&p).unwrap())
}

fn ct_repr() -> impl Strategy<Value = CtRepr> {
    let addrs = (
        prop::option::of(v4()),
        prop::option::of(v6()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u8>()),
        prop::option::of(ports()),
        prop::option::of(any::<u8>()),
        prop::option::of(any::<(u8, u8)>()),
    );
    let protos = (
        prop::option::of(any::<(u8, u32, u32)>()),
        prop::option::of(any::<(u8, u8)>()),
        prop::option::of(any::<(u8, u8, u16)>()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
    );
    let master = (
        prop::option::of(v4()),
        prop::option::of(v6()),
        prop::option::of(any::<u8>()),
        prop::option::of(ports()),
    );
    let nat = (
        prop::option::of(any::<[u8; 4]>()),
        prop::option::of(any::<[u8; 4]>()),
        prop::option::of(any::<[u8; 16]>()),
        prop::option::of(any::<[u8; 16]>()),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<[u32; 6]>()),
    );
    let rest = (
        prop::option::of(attr_str(12)),
        prop::option::of(vec(any::<u32>(), 1..=256)),
        prop::option::of(any::<[u32; 3]>()),
        prop::option::of(any::<u16>()),
    );
    (addrs, protos, master, nat, rest).prop_map(
        |(
            (ipv4, ipv6, status, l4proto, port, tcp_state, wscale),
            (sctp, dccp, icmp, timeout, mark),
            (master_ipv4, master_ipv6, master_l4proto, master_port),
            (snat4, dnat4, snat6, dnat6, spat, dpat, seq),
            (helper_name, labels, synproxy, zone),
        )| CtRepr {
            ipv4,
            ipv6,
            status,
            l4proto,
            port,
            tcp_state,
            tcp_wscale_orig: wscale.map(|w| w.0),
            tcp_wscale_repl: wscale.map(|w| w.1),
            sctp_state: sctp.map(|s| s.0),
            sctp_vtag_orig: sctp.map(|s| s.1),
            sctp_vtag_repl: sctp.map(|s| s.2),
            dccp_state: dccp.map(|d| d.0),
            dccp_role: dccp.map(|d| d.1),
            icmp_type: icmp.map(|i| i.0),
            icmp_code: icmp.map(|i| i.1),
            icmp_id: icmp.map(|i| i.2),
            timeout,
            mark,
            master_ipv4,
            master_ipv6,
            master_l4proto,
            master_port,
            snat_ipv4: snat4.map(Ipv4Addr::from),
            dnat_ipv4: dnat4.map(Ipv4Addr::from),
            snat_ipv6: snat6.map(Ipv6Addr::from),
            dnat_ipv6: dnat6.map(Ipv6Addr::from),
            spat_port: spat,
            dpat_port: dpat,
            nat_seq_adj: seq.map(|s| NatSeqAdj {
                orig_pos: s[0],
                orig_before: s[1],
                orig_after: s[2],
                repl_pos: s[3],
                repl_before: s[4],
                repl_after: s[5],
            }),
            helper_name,
            labels,
            synproxy: synproxy.map(|s| Synproxy {
                its: s[0],
                isn: s[1],
                tsoff: s[2],
            }),
            zone,
        },
    )
}

fn exp_tuple() -> impl Strategy<Value = ExpTuple> {
    (
        prop::option::of(v4()),
        prop::option::of(v6()),
        prop::option::of(any::<u8>()),
        prop::option::of(ports()),
    )
        .prop_map(|(ipv4, ipv6, l4proto, port)| ExpTuple {
            ipv4,
            ipv6,
            l4proto,
            port,
        })
}

fn exp_repr() -> impl Strategy<Value = ExpRepr> {
    (
        (exp_tuple(), exp_tuple(), exp_tuple()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        (
            prop::option::of(v4()),
            prop::option::of(any::<u8>()),
            prop::option::of(ports()),
            prop::option::of(any::<u32>()),
        ),
        prop::option::of(attr_str(12)),
        prop::option::of(attr_str(28)),
    )
        .prop_map(
            |((master, expected, mask), timeout, flags, class, nat, helper_name, fn_name)| {
                ExpRepr {
                    master,
                    expected,
                    mask,
                    timeout,
                    flags,
                    class,
                    nat_ipv4: nat.0,
                    nat_l4proto: nat.1,
                    nat_port: nat.2,
                    nat_dir: nat.3,
                    helper_name,
                    fn_name,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::New), Just(Op::Update), Just(Op::Destroy)]
}

/// Any valid message: state messages with HELLO bits, control messages with any flags (the
/// range present exactly with ACK / NACK / RESYNC).
fn message() -> impl Strategy<Value = MessageRepr> {
    let hello = (0u8..4).prop_map(|b| Flags::from_bits(b << 5));
    prop_oneof![
        3 => (op(), any::<u32>(), ct_repr(), hello.clone())
            .prop_map(|(op, seq, ct, f)| MessageRepr::ct(op, seq, ct).with_flags(f)),
        1 => (op(), any::<u32>(), exp_repr(), hello)
            .prop_map(|(op, seq, exp, f)| MessageRepr::exp(op, seq, exp).with_flags(f)),
        2 => (any::<u8>(), any::<u32>(), any::<(u32, u32)>()).prop_map(|(f, seq, (from, to))| {
            let flags = Flags::from_bits(f);
            MessageRepr {
                flags,
                seq,
                body: Body::Ctl {
                    range: flags.has_range().then_some(SeqRange { from, to }),
                },
            }
        }),
    ]
}

/// Control messages and small conntracks, for batching (fast to generate in bulk).
fn small_message() -> impl Strategy<Value = MessageRepr> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(s, t)| MessageRepr::ack(s, t, t)),
        any::<u32>().prop_map(MessageRepr::alive),
        (any::<u32>(), v4(), ports(), prop::option::of(any::<u32>())).prop_map(
            |(seq, a, p, mark)| MessageRepr::ct(
                Op::New,
                seq,
                CtRepr {
                    ipv4: Some(a),
                    status: Some(8),
                    l4proto: Some(17),
                    port: Some(p),
                    timeout: Some(30),
                    mark,
                    ..Default::default()
                }
            )
        ),
        (any::<u32>(), v6(), 1usize..40).prop_map(|(seq, a, n)| MessageRepr::ct(
            Op::Update,
            seq,
            CtRepr {
                ipv6: Some(a),
                labels: Some(vec![1; n]),
                ..Default::default()
            }
        )),
    ]
}

/// An independent encoder: a state message of type `t` from `(id, payload)` pairs.
fn encode(t: u8, flags: u8, seq: u32, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, p) in attrs {
        let len = 4 + p.len();
        body.extend_from_slice(&(len as u16).to_be_bytes());
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(p);
        body.resize(body.len() + (4 - len % 4) % 4, 0);
    }
    let mut v = vec![0x10 | t, flags];
    v.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&body);
    v
}

/// Payload of a given size rule: exact, or 1..=max bytes (labels: whole words).
fn payload(size: AttrSize, labels: bool) -> BoxedStrategy<Vec<u8>> {
    match size {
        AttrSize::Exact(n) => vec(any::<u8>(), usize::from(n) - 4).boxed(),
        AttrSize::Max(m) if labels => vec(any::<[u8; 4]>(), 1..=(usize::from(m) - 4) / 4)
            .prop_map(|w| w.concat())
            .boxed(),
        AttrSize::Max(m) => vec(any::<u8>(), 1..=usize::from(m) - 4).boxed(),
    }
}

/// One optional attribute: id and payload.
type MaybeAttr = BoxedStrategy<Option<(u16, Vec<u8>)>>;

/// A valid conntrack or expectation message on the wire, attributes in emission order, each
/// present or not, with random payloads of the right sizes.
fn wire_message() -> impl Strategy<Value = Vec<u8>> {
    let ct: Vec<MaybeAttr> = CtAttrId::EMIT_ORDER
        .iter()
        .map(|&id| {
            prop::option::of(payload(id.size(), id == CtAttrId::Labels))
                .prop_map(move |p| p.map(|p| (id.id(), p)))
                .boxed()
        })
        .collect();
    let exp: Vec<MaybeAttr> = ExpAttrId::EMIT_ORDER
        .iter()
        .map(|&id| {
            prop::option::of(payload(id.size(), false))
                .prop_map(move |p| p.map(|p| (id.id(), p)))
                .boxed()
        })
        .collect();
    prop_oneof![
        (0u8..3, 0u8..4, any::<u32>(), ct).prop_map(|(t, f, seq, a)| {
            encode(t, f << 5, seq, &a.into_iter().flatten().collect::<Vec<_>>())
        }),
        (3u8..6, 0u8..4, any::<u32>(), exp).prop_map(|(t, f, seq, a)| {
            encode(t, f << 5, seq, &a.into_iter().flatten().collect::<Vec<_>>())
        }),
    ]
}

fn attr_ids(bytes: &[u8]) -> Vec<u16> {
    Message::new_checked(bytes)
        .unwrap()
        .attrs()
        .map(|a| a.unwrap().id)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// parse(emit(repr)) == repr, the emitted form is canonical, and no id reaches NTA_MAX.
    #[test]
    fn repr_roundtrip(repr in message()) {
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let m = Message::new_checked(&bytes[..]).unwrap();
        prop_assert!(m.is_canonical());
        prop_assert_eq!(MessageRepr::parse(&m).unwrap(), repr.clone());
        let max = match repr.body {
            Body::Exp { .. } => NTA_EXP_MAX,
            _ => NTA_MAX,
        };
        prop_assert!(attr_ids(&bytes).iter().all(|&id| id < max));
        ct_sync::fuzzing::roundtrip(&bytes);
    }

    /// The caches' compact form of a conntrack is its message's attributes: it decodes back
    /// to the conntrack, knows whether it is related without decoding, and
    /// `Batcher::push_ct` (the borrowed, one-pass emitter) writes exactly what `push_repr`
    /// writes.
    #[test]
    fn compact_form_and_push_ct(
        ct in ct_repr(),
        op in op(),
        seq in any::<u32>(),
        hello in (0u8..4).prop_map(|b| Flags::from_bits(b << 5)),
    ) {
        let a = CtAttrs::encode(&ct).unwrap();
        prop_assert_eq!(a.repr(), ct.clone());
        prop_assert_eq!(a.is_related(), is_related(&ct));
        let mut attrs = vec![0; ct.attrs_len()];
        prop_assert_eq!(ct.emit_attrs(&mut attrs).unwrap(), attrs.len());
        prop_assert_eq!(a.as_bytes(), &attrs[..]);
        let limit = udp_payload_limit(9000);
        let (mut x, mut y) = (Batcher::new(limit), Batcher::new(limit));
        x.push_ct(hello, seq, op, &ct).unwrap();
        y.push_repr(&MessageRepr::ct(op, seq, ct.clone()).with_flags(hello)).unwrap();
        prop_assert_eq!(x.flush(), y.flush());
    }

    /// emit(parse(bytes)) == bytes for valid messages built independently of the crate.
    #[test]
    fn wire_roundtrip(bytes in wire_message()) {
        let m = Message::new_checked(&bytes[..]).unwrap();
        prop_assert!(m.is_canonical());
        let repr = MessageRepr::parse(&m).unwrap();
        prop_assert_eq!(repr.to_vec().unwrap(), bytes.clone());
        ct_sync::fuzzing::roundtrip(&bytes);
    }

    /// The same attributes in another order (or repeated) parse to the same values, as
    /// conntrackd does not depend on the order; re-emission restores the canonical order.
    #[test]
    fn order_independent(bytes in wire_message(), seed in any::<u64>()) {
        let m = Message::new_checked(&bytes[..]).unwrap();
        let repr = MessageRepr::parse(&m).unwrap();
        let mut attrs: Vec<(u16, Vec<u8>)> =
            m.attrs().map(|a| a.unwrap()).map(|a| (a.id, a.payload.to_vec())).collect();
        // A deterministic shuffle, plus a repeat of the first attribute in front.
        let n = attrs.len();
        for i in 0..n {
            let j = (seed.rotate_left(i as u32) as usize) % n;
            attrs.swap(i, j);
        }
        if let Some(first) = attrs.last().cloned() {
            attrs.insert(0, first);
        }
        let shuffled = encode(m.msg_type(), m.flags().bits(), m.seq(), &attrs);
        let again = MessageRepr::parse(&Message::new_checked(&shuffled[..]).unwrap()).unwrap();
        prop_assert_eq!(&again, &repr);
        prop_assert_eq!(again.to_vec().unwrap(), bytes);
        ct_sync::fuzzing::roundtrip(&shuffled);
    }

    /// Batches never exceed the limit, are packed greedily (conntrackd's `buffered + len <
    /// size` rule: a datagram is closed only when the next message does not fit), and split
    /// back into the same messages in the same order.
    #[test]
    fn batching(msgs in vec(small_message(), 1..120), mtu in 250usize..2000) {
        let limit = udp_payload_limit(mtu);
        prop_assert_eq!(limit, mtu - 29);
        let mut b = Batcher::udp(mtu);
        let mut datagrams = Vec::new();
        for m in &msgs {
            datagrams.extend(b.push_repr(m).unwrap());
        }
        datagrams.extend(b.flush());
        prop_assert!(b.is_empty());
        let mut back = Vec::new();
        for (i, d) in datagrams.iter().enumerate() {
            prop_assert!(d.len() <= limit);
            let here: Vec<MessageRepr> = split(d)
                .map(|m| MessageRepr::parse(&m.unwrap()).unwrap())
                .collect();
            back.extend(here);
            if let Some(next) = msgs.get(back.len()) {
                prop_assert!(d.len() + next.buffer_len() > limit, "datagram {} not full", i);
            }
        }
        prop_assert_eq!(back, msgs);
    }

    /// The same through `push` of pre-emitted bytes.
    #[test]
    fn batching_bytes(msgs in vec(small_message(), 1..60), limit in 220usize..600) {
        let mut b = Batcher::new(limit);
        let mut out = Vec::new();
        let emitted: Vec<Vec<u8>> = msgs.iter().map(|m| m.to_vec().unwrap()).collect();
        for e in &emitted {
            out.extend(b.push(e).unwrap());
        }
        out.extend(b.flush());
        prop_assert!(out.iter().all(|d| d.len() <= limit));
        prop_assert_eq!(out.concat(), emitted.concat());
    }

    /// Arbitrary bytes never panic and whatever parses holds up (the fuzz target's checks).
    #[test]
    fn arbitrary_bytes(data in vec(any::<u8>(), 0..200)) {
        ct_sync::fuzzing::roundtrip(&data);
    }

    /// Valid messages with one byte changed: same.
    #[test]
    fn mutated_messages(bytes in wire_message(), at in any::<usize>(), to in any::<u8>()) {
        let mut bytes = bytes;
        let at = at % bytes.len();
        bytes[at] = to;
        ct_sync::fuzzing::roundtrip(&bytes);
    }
}
