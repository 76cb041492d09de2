//! Every malformed input maps to its typed error, with the offset and option code; the view
//! and the owned parser agree; emit refuses what parse would refuse.

use std::net::Ipv4Addr;

use dhcp4_ha::wire::{
    Area, Dhcp4Repr, EmitError, MAGIC_COOKIE, Options, Packet, ParseError, RawOptions,
    RelayAgentInfo, SubOption, SubOptionIter, code,
};

/// A 240-byte header with the cookie, then `options`.
fn packet(options: &[u8]) -> Vec<u8> {
    let mut p = vec![0; 236];
    p[0] = 1;
    p.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    p.extend_from_slice(options);
    p
}

/// The error, checked to be the same from the view and from the owned parser.
fn error(bytes: &[u8]) -> ParseError {
    let view = Packet::new_checked(bytes).err();
    let repr = Dhcp4Repr::from_bytes(bytes).err();
    match view {
        Some(e) => assert_eq!(repr, Some(e), "view and repr disagree"),
        None => assert!(repr.is_some(), "accepted"),
    }
    repr.unwrap()
}

#[test]
fn header_errors() {
    assert_eq!(error(&[]), ParseError::Truncated { need: 236, have: 0 });
    assert_eq!(
        error(&[0; 235]),
        ParseError::Truncated {
            need: 236,
            have: 235
        }
    );
    assert_eq!(
        error(&[0; 239]),
        ParseError::MissingMagicCookie { have: 239 }
    );
    let mut p = packet(&[255]);
    p[239] = 0x64;
    assert_eq!(error(&p), ParseError::BadMagicCookie { found: 0x6382_5364 });
    // 240 bytes and nothing else is a (BOOTP-like) packet without options.
    let r = Dhcp4Repr::from_bytes(&packet(&[])).unwrap();
    assert!(r.options.is_empty());
    assert_eq!(r.to_vec().unwrap().len(), 240);
}

#[test]
fn framing_errors() {
    // A code with no length byte at the end of the packet.
    assert_eq!(
        error(&packet(&[53, 1, 1, 12])),
        ParseError::TruncatedOption {
            area: Area::Options,
            offset: 243,
            code: 12,
            need: 2,
            have: 1
        }
    );
    // Data running past the end.
    assert_eq!(
        error(&packet(&[53, 1, 1, 12, 5, b'a', b'b'])),
        ParseError::TruncatedOption {
            area: Area::Options,
            offset: 243,
            code: 12,
            need: 7,
            have: 4
        }
    );
    // Bytes after END are not options, even if they would be malformed.
    assert!(Dhcp4Repr::from_bytes(&packet(&[53, 1, 1, 255, 12, 200])).is_ok());
}

#[test]
fn overload_errors() {
    assert_eq!(
        error(&packet(&[52, 2, 1, 1, 255])),
        ParseError::BadOverloadLength {
            offset: 240,
            len: 2
        }
    );
    for value in [0, 4, 255] {
        assert_eq!(
            error(&packet(&[52, 1, value, 255])),
            ParseError::BadOverloadValue { offset: 240, value }
        );
    }
    assert_eq!(
        error(&packet(&[52, 1, 1, 52, 1, 1, 255])),
        ParseError::RepeatedOverload { offset: 243 }
    );
    // Option 52 inside the overloaded file field.
    let mut p = packet(&[52, 1, 3, 255]);
    p[108..111].copy_from_slice(&[52, 1, 2]);
    assert_eq!(
        error(&p),
        ParseError::OverloadInField {
            area: Area::File,
            offset: 108
        }
    );
    // ... and inside sname (file is all pads).
    let mut p = packet(&[52, 1, 3, 255]);
    p[44..47].copy_from_slice(&[52, 1, 2]);
    assert_eq!(
        error(&p),
        ParseError::OverloadInField {
            area: Area::Sname,
            offset: 44
        }
    );
    // A truncated option at the end of the overloaded sname field.
    let mut p = packet(&[52, 1, 2, 255]);
    p[104..108].copy_from_slice(&[0, 0, 12, 3]);
    assert_eq!(
        error(&p),
        ParseError::TruncatedOption {
            area: Area::Sname,
            offset: 106,
            code: 12,
            need: 5,
            have: 2
        }
    );
    // Without option 52, sname and file are opaque: the same bytes are fine.
    let mut p = packet(&[255]);
    p[44..47].copy_from_slice(&[52, 1, 2]);
    assert!(Dhcp4Repr::from_bytes(&p).is_ok());
}

#[test]
fn typed_value_errors() {
    assert_eq!(
        error(&packet(&[53, 2, 1, 1, 255])),
        ParseError::BadOptionLength {
            code: 53,
            offset: 240,
            len: 2
        }
    );
    assert_eq!(
        error(&packet(&[53, 1, 1, 3, 6, 10, 0, 0, 1, 10, 0, 255])),
        ParseError::BadOptionLength {
            code: 3,
            offset: 243,
            len: 6
        }
    );
    // Two instances of the message type join to 2 bytes (RFC 3396): invalid.
    assert_eq!(
        error(&packet(&[53, 1, 1, 12, 1, b'x', 53, 1, 3, 255])),
        ParseError::BadOptionLength {
            code: 53,
            offset: 240,
            len: 2
        }
    );
    // The view checks framing only.
    assert!(Packet::new_checked(&packet(&[53, 2, 1, 1, 255])[..]).is_ok());
    // Relay agent information: a truncated sub-option, a short link selection.
    let p = packet(&[53, 1, 1, 82, 5, 1, 2, b'a', b'b', 2, 255]);
    assert_eq!(
        error(&p),
        ParseError::TruncatedSubOption {
            offset: 243,
            at: 4,
            sub_code: 2
        }
    );
    let p = packet(&[82, 5, 5, 3, 10, 0, 0, 255]);
    assert_eq!(
        error(&p),
        ParseError::BadSubOptionLength {
            offset: 240,
            sub_code: 5,
            len: 3
        }
    );
}

#[test]
fn options_refuse_framing_codes() {
    let mut o = Options::default();
    for c in [code::PAD, code::OVERLOAD, code::END] {
        assert_eq!(o.set(c, &[1]), Err(ParseError::ReservedCode { code: c }));
    }
    assert_eq!(
        o.set(code::SERVER_ID, &[1, 2, 3]),
        Err(ParseError::BadOptionLength {
            code: 54,
            offset: 0,
            len: 3
        })
    );
    o.set(code::SERVER_ID, &[192, 0, 2, 1]).unwrap();
    assert_eq!(o.server_id, Some(Ipv4Addr::new(192, 0, 2, 1)));
    o.set(200, b"raw").unwrap();
    assert_eq!(o.other.get(200), Some(&b"raw"[..]));
    assert!(o.remove(200) && o.remove(54) && !o.remove(54));

    let mut raw = RawOptions::new();
    for c in [0, 52, 255, 53, 82, 118] {
        assert_eq!(raw.insert(c, vec![]), Err(EmitError::NotRaw { code: c }));
    }
    assert_eq!(raw.insert(43, vec![1]), Ok(None));
    assert_eq!(raw.insert(43, vec![2]), Ok(Some(vec![1])));
}

#[test]
fn emit_errors() {
    let r = Dhcp4Repr::default();
    let n = r.buffer_len();
    assert_eq!(n, 241);
    let mut buf = vec![0; n - 1];
    assert_eq!(
        r.emit(&mut buf),
        Err(EmitError::InsufficientSize {
            required: 241,
            have: 240
        })
    );
    let mut bad = r.clone();
    bad.options.relay_agent_info = Some(RelayAgentInfo::default().with(5, vec![10, 0, 0]));
    assert_eq!(
        bad.to_vec(),
        Err(EmitError::BadSubOptionLength {
            sub_code: 5,
            len: 3
        })
    );
    bad.options.relay_agent_info = Some(RelayAgentInfo {
        sub_options: vec![SubOption {
            code: 9,
            data: vec![0; 256],
        }],
    });
    assert_eq!(
        bad.to_vec(),
        Err(EmitError::BadSubOptionLength {
            sub_code: 9,
            len: 256
        })
    );
}

#[test]
fn sub_option_iterator() {
    let data = [1, 2, b'a', b'b', 5, 4, 10, 0, 0, 0, 9];
    let items: Vec<_> = SubOptionIter::new(&data, 300).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].unwrap().data, b"ab");
    assert_eq!(items[1].unwrap().at, 4);
    assert_eq!(
        items[2],
        Err(ParseError::TruncatedSubOption {
            offset: 300,
            at: 10,
            sub_code: 9
        })
    );
}

#[test]
fn unchecked_views_never_panic() {
    for len in [0, 1, 43, 44, 107, 236, 239, 240, 241] {
        let bytes = vec![0xff; len];
        let p = Packet::new_unchecked(&bytes[..]);
        let _ = (
            p.op(),
            p.xid(),
            p.secs(),
            p.flags(),
            p.ciaddr(),
            p.giaddr(),
            p.chaddr(),
        );
        let _ = (p.sname(), p.file(), p.options_field(), p.client_hw_addr());
        assert_eq!(p.options().count(), 0);
        assert_eq!(p.option(53), None);
        let _ = (p.overload(), p.message_type(), p.tokens().count());
    }
    let mut bytes = [0; 10];
    let mut p = Packet::new_unchecked(&mut bytes[..]);
    p.set_giaddr(Ipv4Addr::new(1, 2, 3, 4));
    p.set_hops(3);
    assert_eq!(p.hops(), 3);
    assert_eq!(p.giaddr(), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn errors_display_offsets_and_codes() {
    let e = error(&packet(&[53, 1, 1, 12, 5, b'a']));
    assert_eq!(
        e.to_string(),
        "option 12 at offset 243 in the options field needs 7 bytes, 3 left"
    );
}

/// A 64 KiB packet of 1-byte instances of every raw code, interleaved: joining stays linear
/// (this test would take seconds if it were quadratic) and the round trip holds.
#[test]
fn many_interleaved_instances() {
    let raw: Vec<u8> = (1..=254u8).filter(|&c| RawOptions::accepts(c)).collect();
    let mut opts = vec![53, 1, 1];
    let mut i = 0;
    while opts.len() < 65_000 {
        opts.extend_from_slice(&[raw[i % raw.len()], 1, (i / raw.len()) as u8]);
        i += 1;
    }
    opts.push(255);
    let bytes = packet(&opts);
    let r = Dhcp4Repr::from_bytes(&bytes).unwrap();
    assert_eq!(r.options.len(), 1 + raw.len());
    let per_code = (i / raw.len()) as u8;
    assert_eq!(r.options.other.get(raw[0]).unwrap()[..3], [0, 1, 2]);
    assert!(
        r.options
            .other
            .iter()
            .all(|(_, v)| v.len() >= usize::from(per_code))
    );
    assert_eq!(r.to_vec().unwrap(), bytes);
    dhcp4_ha::fuzzing::roundtrip(&bytes);
}
