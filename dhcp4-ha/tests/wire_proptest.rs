//! Property tests: `parse(emit(r)) == r` over generated representations, and
//! `emit(parse(x)) == x` over generated valid packets with arbitrary layouts (splits,
//! overload, pads, trailing bytes); mutated packets never panic.

mod common;

use dhcp4_ha::fuzzing;
use dhcp4_ha::wire::{Dhcp4Repr, Packet, code};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Built by hand, emitted, parsed back: the same repr, with no layout.
    #[test]
    fn repr_round_trip(repr in common::arb_repr()) {
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let view = Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.xid(), repr.xid);
        prop_assert_eq!(view.message_type(), repr.options.message_type);
        let parsed = Dhcp4Repr::parse(&view).unwrap();
        prop_assert_eq!(&parsed, &repr);
        fuzzing::roundtrip(&bytes);
    }

    /// Valid packets in any layout re-emit byte for byte and carry the options they were
    /// built from.
    #[test]
    fn bytes_round_trip((bytes, opts) in common::arb_packet()) {
        let repr = Dhcp4Repr::from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
        prop_assert_eq!(repr.to_vec().unwrap(), bytes.clone());
        prop_assert_eq!(repr.options.len(), opts.len());
        for (c, v) in &opts {
            let got = repr.options.encoded(*c);
            prop_assert_eq!(got.as_deref(), Some(&v[..]), "option {}", c);
        }
        fuzzing::roundtrip(&bytes);
    }

    /// A value edit of the same length keeps the layout and changes only the value's
    /// bytes; the edited packet still parses to the edited repr.
    #[test]
    fn same_length_edit_keeps_layout((bytes, _) in common::arb_packet(), xid: u32, t: u8) {
        let mut repr = Dhcp4Repr::from_bytes(&bytes).unwrap();
        repr.xid = xid;
        if repr.options.message_type.is_some() {
            repr.options.message_type = Some(dhcp4_ha::wire::MessageType(t));
        }
        let out = repr.to_vec().unwrap();
        prop_assert_eq!(out.len(), bytes.len());
        let again = Dhcp4Repr::from_bytes(&out).unwrap();
        prop_assert_eq!(again, repr);
    }

    /// Random corruption of valid packets: a typed error or a packet that round-trips,
    /// never a panic.
    #[test]
    fn mutations_never_panic(
        (bytes, _) in common::arb_packet(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = bytes.clone();
        for (i, v) in edits {
            let at = i.index(b.len());
            b[at] = v;
        }
        fuzzing::roundtrip(&b);
        // Truncated anywhere.
        let n = cut.index(bytes.len() + 1);
        fuzzing::roundtrip(&bytes[..n]);
    }

    /// Arbitrary bytes behind a valid header and cookie.
    #[test]
    fn arbitrary_options_never_panic(tail in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut b = vec![0; 236];
        b.extend_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(&tail);
        fuzzing::roundtrip(&b);
        // Also as options carried in file and sname (option 52 = 3 first).
        b.truncate(240);
        b.extend_from_slice(&[code::OVERLOAD, 1, 3]);
        b.extend_from_slice(&tail);
        let k = tail.len().min(128);
        b[108..108 + k].copy_from_slice(&tail[..k]);
        let k = tail.len().min(64);
        b[44..44 + k].copy_from_slice(&tail[tail.len() - k..]);
        fuzzing::roundtrip(&b);
    }
}

/// The packet generator reaches every layout feature the round trip must preserve.
#[test]
fn generator_covers_layouts() {
    use dhcp4_ha::wire::{Area, TokenKind};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = common::arb_packet();
    let mut seen = [0usize; 8];
    for _ in 0..400 {
        let (bytes, opts) = strategy.new_tree(&mut runner).unwrap().current();
        let view = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Dhcp4Repr::parse(&view).unwrap();
        let tokens: Vec<_> = view.tokens().map(Result::unwrap).collect();
        let instances = tokens.iter().filter(|t| t.option().is_some()).count();
        let overload = view.overload();
        seen[0] += usize::from(overload.is_some_and(|o| o.file()));
        seen[1] += usize::from(overload.is_some_and(|o| o.sname()));
        seen[2] += usize::from(instances > opts.len() + usize::from(overload.is_some()));
        seen[3] += usize::from(tokens.iter().any(|t| t.kind == TokenKind::Pad));
        seen[4] += usize::from(
            repr.layout
                .as_ref()
                .is_some_and(|l| !l.trailer().is_empty()),
        );
        seen[5] += usize::from(!tokens.iter().any(|t| t.kind == TokenKind::End));
        seen[6] += usize::from(repr.layout.is_none());
        seen[7] += usize::from(
            tokens
                .iter()
                .any(|t| t.area == Area::Sname && t.option().is_some()),
        );
    }
    // file, sname, splits, pads, trailers, no END, canonical, options in sname
    assert!(seen.iter().all(|&n| n >= 10), "{seen:?}");
}
