//! Replays the fuzz target's seed corpus (fuzz/corpus/ct_sync_message/, plus any crash
//! artifacts a fuzzer run saved there) through the same function the fuzz target calls, and
//! checks that the seeds are what their names say:
//! * `<capture>-NN.bin` (datagrams from the conntrackd captures) and `hand-*.bin` (hand-made,
//!   valid): every message parses and is canonical;
//! * `bad-*.bin`: the walk or some message fails;
//! * `odd-*.bin`: accepted as conntrackd accepts them, but not in canonical form.

use ct_sync::wire::{Message, MessageRepr, split};

/// (messages that parse, canonical ones, errors) of a datagram.
fn census(data: &[u8]) -> (usize, usize, usize) {
    let (mut ok, mut canonical, mut errors) = (0, 0, 0);
    for m in split(data) {
        match m {
            Ok(m) => {
                match MessageRepr::parse(&m) {
                    Ok(_) => ok += 1,
                    Err(_) => errors += 1,
                }
                canonical += usize::from(m.is_canonical());
            }
            Err(_) => errors += 1,
        }
    }
    (ok, canonical, errors)
}

#[test]
fn replay_fuzz_corpus() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/ct_sync_message"
    );
    let mut n = 0;
    let mut messages = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        ct_sync::fuzzing::roundtrip(&data);
        n += 1;
        let (ok, canonical, errors) = census(&data);
        if name.starts_with("bad-") {
            assert!(errors > 0, "{name}: accepted");
        } else if name.starts_with("odd-") {
            assert_eq!(errors, 0, "{name}: rejected");
            assert!(canonical < ok, "{name}: canonical");
            assert!(
                Message::new_checked(&data[..]).is_ok(),
                "{name}: one message"
            );
        } else if name.ends_with(".bin") {
            assert_eq!(errors, 0, "{name}: rejected");
            assert!(ok > 0 && canonical == ok, "{name}: not canonical");
            messages += ok;
        }
    }
    assert!(n >= 100, "corpus too small: {n} files in {dir}");
    assert!(messages >= 260, "only {messages} valid seed messages");
}
