//! Typed errors and edge cases: every rejection carries the right variant, offset and
//! attribute id; the leniency of a 1.4.7 receiver is reproduced; the emitter refuses what a
//! receiver would refuse; the little-endian fields decode to their real values.

use std::net::Ipv4Addr;

use ct_sync::wire::{
    AttrSize, AttrStr, Batcher, Body, CtAttrId, CtRepr, EmitError, ExpAttrId, ExpRepr, Flags,
    Message, MessageRepr, NTA_EXP_MAX, NTA_MAX, Op, Pair, ParseError, ParseOptions, split,
};

/// One attribute TLV with zeroed padding.
fn attr(id: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut v = Vec::new();
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(payload);
    v.resize(len.next_multiple_of(4), 0);
    v
}

/// A message of type `t` (version 1) with the given flags and attribute bytes.
fn msg(t: u8, flags: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = attrs.concat();
    let mut v = vec![0x10 | t, flags];
    v.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    v.extend_from_slice(&7u32.to_be_bytes());
    v.extend_from_slice(&body);
    v
}

fn parse(bytes: &[u8]) -> Result<MessageRepr, ParseError> {
    MessageRepr::parse(&Message::new_checked(bytes)?)
}

fn ct_of(bytes: &[u8]) -> CtRepr {
    match parse(bytes).unwrap().body {
        Body::Ct { ct, .. } => ct,
        b => panic!("not a conntrack: {b:?}"),
    }
}

fn status(v: u32) -> Vec<u8> {
    attr(5, &v.to_be_bytes())
}

#[test]
fn split_errors_and_offsets() {
    let alive = [0x1a, 0x10, 0x00, 0x08, 0, 0, 0, 1];
    let errors = |tail: &[u8]| {
        let d = [&alive[..], tail].concat();
        let mut it = split(&d);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert!(it.next().is_none(), "the walk ends at the first error");
        assert_eq!(it.offset(), 8);
        assert_eq!(it.remainder(), tail);
        e
    };
    assert_eq!(
        errors(&[0x1a, 0x10, 0]),
        ParseError::Truncated {
            offset: 8,
            need: 8,
            have: 3
        }
    );
    assert_eq!(
        errors(&[0x10, 0, 0, 0, 0, 0, 0, 0]),
        ParseError::BadLength {
            offset: 8,
            len: 0,
            min: 8
        }
    );
    assert_eq!(
        errors(&[0x10, 0, 0, 5, 0, 0, 0, 0, 0]),
        ParseError::BadLength {
            offset: 8,
            len: 5,
            min: 8
        }
    );
    assert_eq!(
        errors(&[0x10, 0, 0, 12, 0, 0, 0, 0, 0]),
        ParseError::Truncated {
            offset: 8,
            need: 12,
            have: 9
        }
    );
    // ACK / NACK / RESYNC need 16 bytes: fewer left is truncation...
    assert_eq!(
        errors(&[0x1a, 0x08, 0, 8, 0, 0, 0, 0, 0, 0]),
        ParseError::Truncated {
            offset: 8,
            need: 16,
            have: 10
        }
    );
    // ...and a shorter len with enough bytes left is a bad length.
    assert_eq!(
        errors(&[0x1a, 0x04, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ParseError::BadLength {
            offset: 8,
            len: 8,
            min: 16
        }
    );
    // The 16-byte rule is about control messages only: a data type with the ACK bit is split
    // as an 8-byte message and refused by the parser.
    let d = [0x11, 0x08, 0, 8, 0, 0, 0, 0];
    let m = split(&d).next().unwrap().unwrap();
    assert_eq!(
        MessageRepr::parse(&m),
        Err(ParseError::DataFlags { flags: 0x08 })
    );
    // A message that fails to parse does not stop the walk.
    let d = [&[0x20, 0x00, 0x00, 0x08, 0, 0, 0, 0][..], &alive].concat();
    let parsed: Vec<_> = split(&d).map(|m| MessageRepr::parse(&m.unwrap())).collect();
    assert_eq!(parsed[0], Err(ParseError::BadVersion { version: 2 }));
    assert_eq!(parsed[1], Ok(MessageRepr::alive(1)));
}

#[test]
fn header_errors() {
    let ok = msg(0, 0, &[status(8)]);
    let mut long = ok.clone();
    long.push(0);
    assert_eq!(
        Message::new_checked(&long[..]).unwrap_err(),
        ParseError::LengthMismatch { len: 16, have: 17 }
    );
    assert_eq!(
        parse(&msg(7, 0, &[])),
        Err(ParseError::UnknownType { msg_type: 7 })
    );
    let mut v3 = ok.clone();
    v3[0] = 0x30;
    assert_eq!(parse(&v3), Err(ParseError::BadVersion { version: 3 }));
    assert_eq!(
        parse(&msg(2, 0x20 | 0x10, &[status(8)])),
        Err(ParseError::DataFlags { flags: 0x30 })
    );
    // HELLO and HELLO_BACK ride on data messages.
    let hello = parse(&msg(0, 0x60, &[status(8)])).unwrap();
    assert_eq!(hello.flags, Flags::HELLO | Flags::HELLO_BACK);
}

#[test]
fn attribute_errors() {
    let s = status(8);
    let mut short = msg(0, 0, &[s.clone(), status(9)]);
    short[16..18].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(
        parse(&short),
        Err(ParseError::AttrTooShort {
            offset: 16,
            id: 5,
            nta_len: 3
        })
    );
    let mut over = msg(0, 0, &[s.clone(), status(9)]);
    over[16..18].copy_from_slice(&9u16.to_be_bytes());
    assert_eq!(
        parse(&over),
        Err(ParseError::AttrOverrun {
            offset: 16,
            id: 5,
            nta_len: 9,
            remaining: 8
        })
    );
    let unknown = msg(0, 0, &[s.clone(), attr(33, &[1, 2])]);
    assert_eq!(
        parse(&unknown),
        Err(ParseError::UnknownAttr { offset: 16, id: 33 })
    );
    assert_eq!(
        parse(&msg(4, 0, &[attr(21, &[1])])),
        Err(ParseError::UnknownAttr { offset: 8, id: 21 })
    );
    assert_eq!(
        parse(&msg(0, 0, &[attr(2, &[6, 0])])),
        Err(ParseError::AttrSize {
            offset: 8,
            id: 2,
            nta_len: 6,
            expected: 5
        })
    );
    assert_eq!(
        parse(&msg(0, 0, &[s.clone(), attr(27, b"netbios-ns-x\0")])),
        Err(ParseError::AttrTooLong {
            offset: 16,
            id: 27,
            nta_len: 16 + 1,
            max: 16
        })
    );
    assert_eq!(
        parse(&msg(0, 0, &[attr(28, &[0; 1028])])),
        Err(ParseError::AttrTooLong {
            offset: 8,
            id: 28,
            nta_len: 1032,
            max: 1028
        })
    );
    assert_eq!(
        parse(&msg(5, 0, &[attr(20, &[b'x'; 29])])),
        Err(ParseError::AttrTooLong {
            offset: 8,
            id: 20,
            nta_len: 33,
            max: 32
        })
    );
    // Unknown ids can be skipped on request; the rest of the entry is kept.
    let m = Message::new_checked(&unknown[..]).unwrap();
    let r = MessageRepr::parse_with(&m, &ParseOptions::SKIP_UNKNOWN).unwrap();
    assert_eq!(
        r,
        MessageRepr::ct(
            Op::New,
            7,
            CtRepr {
                status: Some(8),
                ..Default::default()
            }
        )
    );
    assert!(!m.is_canonical());
}

/// Every fixed-size attribute is refused one byte short and one byte long, and accepted at
/// exactly its size; variable-size ones up to their maximum.
#[test]
fn exact_size_rule_for_every_id() {
    for id in CtAttrId::ALL {
        match id.size() {
            AttrSize::Exact(n) => {
                let n = usize::from(n) - 4;
                for bad in [n - 1, n + 1] {
                    // Followed by another attribute: a lone 4-byte one at the end would be
                    // ignored as trailing bytes.
                    let bytes = msg(1, 0, &[attr(id.id(), &vec![1; bad]), status(8)]);
                    let e = parse(&bytes).unwrap_err();
                    assert!(
                        matches!(e, ParseError::AttrSize { id: i, .. } if i == id.id()),
                        "{id:?}"
                    );
                }
                let bytes = msg(1, 0, &[attr(id.id(), &vec![1; n])]);
                assert!(parse(&bytes).is_ok(), "{id:?}");
                assert!(Message::new_checked(&bytes[..]).unwrap().is_canonical());
            }
            AttrSize::Max(max) => {
                let max = usize::from(max) - 4;
                assert!(parse(&msg(1, 0, &[attr(id.id(), &vec![1; max])])).is_ok());
                assert!(parse(&msg(1, 0, &[attr(id.id(), &vec![1; max + 1])])).is_err());
            }
        }
    }
    for id in ExpAttrId::ALL {
        if let AttrSize::Exact(n) = id.size() {
            let n = usize::from(n) - 4;
            assert!(parse(&msg(3, 0, &[attr(id.id(), &vec![1; n + 1])])).is_err());
            assert!(parse(&msg(3, 0, &[attr(id.id(), &vec![1; n])])).is_ok());
        }
    }
    assert_eq!((NTA_MAX, NTA_EXP_MAX), (33, 21));
}

/// What conntrackd tolerates is accepted, and re-emitted in canonical form.
#[test]
fn receiver_leniency() {
    let canonical = |bytes: &[u8]| Message::new_checked(bytes).unwrap().is_canonical();
    let reemit = |bytes: &[u8]| parse(bytes).unwrap().to_vec().unwrap();
    let want = msg(
        0,
        0,
        &[
            attr(0, &[10, 0, 0, 1, 10, 0, 0, 2]),
            status(8),
            attr(6, &30u32.to_be_bytes()),
        ],
    );
    assert!(canonical(&want));
    // Any order.
    let shuffled = msg(
        0,
        0,
        &[
            attr(6, &30u32.to_be_bytes()),
            status(8),
            attr(0, &[10, 0, 0, 1, 10, 0, 0, 2]),
        ],
    );
    assert!(!canonical(&shuffled));
    assert_eq!(reemit(&shuffled), want);
    // A repeated attribute: the last one wins.
    let dup = msg(
        0,
        0,
        &[
            attr(0, &[10, 0, 0, 1, 10, 0, 0, 2]),
            status(4),
            status(8),
            attr(6, &30u32.to_be_bytes()),
        ],
    );
    assert!(!canonical(&dup));
    assert_eq!(reemit(&dup), want);
    // Padding content is ignored, and so is a missing final padding.
    let mut pad = msg(0, 0, &[status(8), attr(2, &[17])]);
    *pad.last_mut().unwrap() = 0xff;
    assert!(!canonical(&pad));
    assert_eq!(ct_of(&pad).l4proto, Some(17));
    let mut unpadded = msg(0, 0, &[status(8), attr(2, &[17])]);
    unpadded.truncate(unpadded.len() - 3);
    let len = unpadded.len() as u16;
    unpadded[2..4].copy_from_slice(&len.to_be_bytes());
    assert!(!canonical(&unpadded));
    assert_eq!(reemit(&unpadded), msg(0, 0, &[status(8), attr(2, &[17])]));
    // Up to 4 trailing bytes are ignored, even an unknown attribute header.
    let trailing = msg(0, 0, &[status(8), vec![0, 4, 0, 99]]);
    assert!(!canonical(&trailing));
    assert_eq!(reemit(&trailing), msg(0, 0, &[status(8)]));
    // Payloads conntrackd ignores are dropped: an empty helper name, labels not whole words.
    let ignored = msg(0, 0, &[attr(27, &[]), attr(28, &[1, 2, 3]), status(8)]);
    assert!(!canonical(&ignored));
    assert_eq!(
        ct_of(&ignored),
        CtRepr {
            status: Some(8),
            ..Default::default()
        }
    );
    // A control message longer than its header: the rest is ignored.
    let long_ctl = [0x1a, 0x10, 0, 12, 0, 0, 0, 9, 1, 2, 3, 4];
    assert!(!canonical(&long_ctl));
    assert_eq!(reemit(&long_ctl), [0x1a, 0x10, 0, 8, 0, 0, 0, 9]);
}

#[test]
fn little_endian_fields() {
    // The reference's SPAT example: `00 06 00 0e 48 ee 00 00` is port 61000.
    let bytes = msg(
        0,
        0,
        &[
            attr(14, &[0x48, 0xee]),
            attr(15, &[0x35, 0x00]),
            attr(24, &[0x34, 0x12]),
        ],
    );
    assert_eq!(&bytes[8..16], &[0, 6, 0, 0x0e, 0x48, 0xee, 0, 0]);
    let ct = ct_of(&bytes);
    assert_eq!(ct.spat_port, Some(61000));
    assert_eq!(ct.dpat_port, Some(53));
    assert_eq!(ct.icmp_id, Some(0x1234));
    let order = msg(
        0,
        0,
        &[
            attr(24, &[0x34, 0x12]),
            attr(14, &[0x48, 0xee]),
            attr(15, &[0x35, 0x00]),
        ],
    );
    assert_eq!(parse(&order).unwrap().to_vec().unwrap(), order);
    // Everything else is big endian: ports of the tuple, zone.
    let ct = ct_of(&msg(
        0,
        0,
        &[attr(3, &[0x9c, 0x40, 0x01, 0xbb]), attr(32, &[0x01, 0x02])],
    ));
    assert_eq!(ct.port, Some(Pair::new(40000, 443)));
    assert_eq!(ct.zone, Some(0x0102));
}

#[test]
fn expectation_message() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/ct_sync_message/hand-exp_new_ftp.bin"
    );
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len(), 124, "the size of conntrackd's FTP EXP_NEW");
    let m = Message::new_checked(&bytes[..]).unwrap();
    assert!(m.is_canonical());
    let r = MessageRepr::parse(&m).unwrap();
    let Body::Exp { op: Op::New, exp } = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(
        exp.master.ipv4,
        Some(Pair::new(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(198, 51, 100, 2)
        ))
    );
    assert_eq!(exp.master.port, Some(Pair::new(40000, 21)));
    assert_eq!(exp.expected.port, Some(Pair::new(0, 50000)));
    assert_eq!(exp.mask.l4proto, Some(0xff));
    assert_eq!(
        (exp.timeout, exp.flags, exp.class),
        (Some(300), Some(0), Some(0))
    );
    assert_eq!(exp.helper_name.unwrap().as_str(), Some("ftp"));
    assert_eq!(r.to_vec().unwrap(), bytes);
    // The NAT tuple goes L4PROTO (17) before PORT (16), as exp2msg writes it.
    let nat = ExpRepr {
        nat_ipv4: Some(Pair::new(
            Ipv4Addr::new(203, 0, 113, 9),
            Ipv4Addr::LOCALHOST,
        )),
        nat_l4proto: Some(17),
        nat_port: Some(Pair::new(0, 5060)),
        nat_dir: Some(1),
        fn_name: AttrStr::new("nf_nat_sip_expected"),
        ..Default::default()
    };
    let out = MessageRepr::exp(Op::Update, 1, nat).to_vec().unwrap();
    let ids: Vec<u16> = Message::new_checked(&out[..])
        .unwrap()
        .attrs()
        .map(|a| a.unwrap().id)
        .collect();
    assert_eq!(ids, [15, 17, 16, 18, 20]);
}

#[test]
fn emit_errors() {
    let ct = CtRepr {
        status: Some(8),
        ..Default::default()
    };
    let mut bad = MessageRepr::ct(Op::New, 1, ct.clone());
    bad.flags = Flags::ACK;
    assert_eq!(bad.to_vec(), Err(EmitError::DataFlags { flags: 0x08 }));
    let mut ack = MessageRepr::ack(1, 2, 3);
    ack.body = Body::Ctl { range: None };
    assert_eq!(ack.to_vec(), Err(EmitError::RangeMismatch { flags: 0x08 }));
    let mut alive = MessageRepr::alive(1);
    alive.body = Body::Ctl {
        range: Some(Default::default()),
    };
    assert_eq!(
        alive.to_vec(),
        Err(EmitError::RangeMismatch { flags: 0x10 })
    );
    let helper = CtRepr {
        helper_name: AttrStr::new("netbios-ns-x"),
        ..Default::default()
    };
    assert_eq!(
        MessageRepr::ct(Op::New, 1, helper).to_vec(),
        Err(EmitError::AttrTooLong {
            id: 27,
            nta_len: 17,
            max: 16
        })
    );
    let labels = CtRepr {
        labels: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(
        MessageRepr::ct(Op::New, 1, labels).to_vec(),
        Err(EmitError::EmptyAttr { id: 28 })
    );
    let labels = CtRepr {
        labels: Some(vec![1; 257]),
        ..Default::default()
    };
    assert!(matches!(
        MessageRepr::ct(Op::New, 1, labels).to_vec(),
        Err(EmitError::AttrTooLong { id: 28, .. })
    ));
    let m = MessageRepr::ct(Op::New, 1, ct);
    let mut small = [0u8; 15];
    assert_eq!(
        m.emit(&mut small),
        Err(EmitError::InsufficientSize {
            required: 16,
            have: 15
        })
    );
    let mut batcher = Batcher::new(12);
    assert_eq!(
        batcher.push_repr(&m),
        Err(EmitError::MessageTooLarge { len: 16, limit: 12 })
    );
    assert!(batcher.is_empty());
}

#[test]
fn batcher_keeps_state_on_error() {
    let mut b = Batcher::new(40);
    assert_eq!(b.push_repr(&MessageRepr::ack(1, 1, 1)), Ok(None));
    assert_eq!(b.push_repr(&MessageRepr::ack(2, 1, 1)), Ok(None));
    // Does not fit with the 32 bytes buffered, and cannot be emitted either: nothing lost.
    let mut bad = MessageRepr::alive(3);
    bad.body = Body::Ctl {
        range: Some(Default::default()),
    };
    assert!(b.push_repr(&bad).is_err());
    assert_eq!((b.len(), b.messages()), (32, 2));
    let d = b.push_repr(&MessageRepr::ack(3, 1, 1)).unwrap().unwrap();
    assert_eq!(split(&d).count(), 2);
    assert_eq!(b.flush().map(|d| d.len()), Some(16));
    assert_eq!(b.flush(), None);
}

#[test]
fn view_setters() {
    let mut bytes = MessageRepr::nack(5, 10, 20).to_vec().unwrap();
    let mut m = Message::new_checked(&mut bytes[..]).unwrap();
    m.set_seq(6);
    m.set_range(11, 21);
    m.set_flags(Flags::NACK | Flags::HELLO);
    let r = MessageRepr::parse(&m).unwrap();
    assert_eq!(r, MessageRepr::nack(6, 11, 21).with_flags(Flags::HELLO));
    // Accessors on garbage never panic.
    let g = Message::new_unchecked(&[0x1a, 0x08][..]);
    assert_eq!(
        (g.len(), g.seq(), g.from(), g.to(), g.payload().len()),
        (0, 0, 0, 0, 0)
    );
    assert!(!g.is_canonical());
}
