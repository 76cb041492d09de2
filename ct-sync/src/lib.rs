//! conntrackd-compatible connection-tracking state sync, Sans-IO, plus a ctnetlink adapter.
//!
//! The goal: a hakit node and a real conntrackd 1.4.7 node sync connection-tracking state with
//! each other in either role (FTFW, NOTRACK and ALARM over UDP, multicast or TCP), and on
//! failover the synced connections are committed into the kernel fast.
//!
//! | piece | status |
//! |---|---|
//! | [`config`] | conntrackd.conf reader (`General`, `Sync` with its modes and transports) |
//! | [`control`] | the UNIX control protocol: request codes, `conntrackd` client flags, the `-s` / `-i` / `-e` reply texts byte for byte |
//! | [`wire`] | the sync wire codec: headers, conntrack and expectation attributes, datagram splitting and batching, byte-exact with conntrackd 1.4.7 |
//! | [`fuzzing`] | the checks the `ct_sync_message` fuzz target runs, shared with the corpus-replay test |
//! | [`ctnetlink`] | the kernel conntrack table: create / update / delete / dump / flush requests, dump and event decoding into [`wire::CtRepr`], the batched commit planner |
//! | [`cache`] | the internal and external caches: conntracks and expectations keyed by tuple, status, `HashLimit`, `-s cache` counters |
//! | [`sync`] | the sync modes (FTFW, NOTRACK, ALARM) as one Sans-IO state machine, [`sync::SyncNode`], with sequence tracking |
//! | `sim` (feature `sim`) | a deterministic simulator of sync nodes on a lossy link, for tests |
//!
//! The library does no I/O.

extern crate alloc;

pub mod cache;
pub mod config;
pub mod control;
pub mod ctnetlink;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sync;
pub mod wire;

/// Helpers shared by the fuzz target `fuzz/fuzz_targets/ct_sync_message.rs` and the test that
/// replays its corpus.
pub mod fuzzing {
    use alloc::vec::Vec;

    use crate::wire::{Batcher, Message, MessageRepr, ParseOptions, split};

    /// Decodes `data` as a datagram (and as one message); whatever parses must hold up. Panics
    /// otherwise (that is the bug a fuzzer looks for):
    /// * every message the splitter yields has exactly its `len` bytes, and the walk accounts
    ///   for the whole datagram unless it stopped on an error;
    /// * each message that parses (with and without skipping unknown attributes) re-emits
    ///   canonically, the re-emitted bytes parse to the same value, and when the input was
    ///   canonical the re-emitted bytes are the input, byte for byte;
    /// * the parsed messages batched into datagrams (of a limit derived from the input) never
    ///   exceed the limit and split back into the same messages.
    pub fn roundtrip(data: &[u8]) {
        let mut reprs = Vec::new();
        let mut walked = 0;
        let mut it = split(data);
        let mut failed = false;
        for m in it.by_ref() {
            match m {
                Ok(m) => {
                    assert_eq!(m.as_bytes().len(), usize::from(m.len()), "split length");
                    walked += m.as_bytes().len();
                    check_message(&m, &mut reprs);
                }
                Err(_) => failed = true,
            }
        }
        assert_eq!(walked, it.offset(), "split offset");
        if !failed {
            assert_eq!(walked, data.len(), "split stopped early without an error");
        }
        if let Ok(m) = Message::new_checked(data) {
            check_message(&m, &mut Vec::new());
        }
        check_batching(&reprs, data.first().copied().unwrap_or(0));
    }

    fn check_message(msg: &Message<&[u8]>, reprs: &mut Vec<MessageRepr>) {
        let strict = MessageRepr::parse(msg);
        for opts in [ParseOptions::STRICT, ParseOptions::SKIP_UNKNOWN] {
            let Ok(repr) = MessageRepr::parse_with(msg, &opts) else {
                continue;
            };
            let out = repr.to_vec().expect("a parsed message must emit");
            assert_eq!(out.len(), repr.buffer_len(), "buffer_len");
            let again = Message::new_checked(&out[..]).expect("re-emitted header");
            assert!(again.is_canonical(), "emit is not canonical: {out:02x?}");
            assert_eq!(
                MessageRepr::parse(&again).as_ref(),
                Ok(&repr),
                "parse(emit(parse(x))) != parse(x)"
            );
            if msg.is_canonical() {
                assert_eq!(&out[..], msg.as_bytes(), "emit(parse(x)) != x");
            }
            if opts == ParseOptions::STRICT {
                reprs.push(repr);
            }
        }
        if msg.is_canonical() && strict.is_ok() {
            assert_eq!(
                MessageRepr::parse_with(msg, &ParseOptions::SKIP_UNKNOWN),
                strict,
                "skipping unknown ids changed a canonical message"
            );
        }
    }

    fn check_batching(reprs: &[MessageRepr], seed: u8) {
        let Some(largest) = reprs.iter().map(MessageRepr::buffer_len).max() else {
            return;
        };
        let limit = largest + usize::from(seed) * 4;
        let mut batcher = Batcher::new(limit);
        let mut datagrams = Vec::new();
        for r in reprs {
            datagrams.extend(batcher.push_repr(r).expect("fits the limit"));
        }
        datagrams.extend(batcher.flush());
        let mut back = Vec::new();
        for d in &datagrams {
            assert!(!d.is_empty() && d.len() <= limit, "datagram over the limit");
            for m in split(d) {
                back.push(MessageRepr::parse(&m.expect("split")).expect("parse"));
            }
        }
        assert_eq!(back, reprs, "batching lost or changed messages");
    }
}
