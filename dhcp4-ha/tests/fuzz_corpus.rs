//! Replays the fuzz target's seed corpus (fuzz/corpus/dhcp4_packet/, plus whatever a fuzzer
//! run saved there) through the function the fuzz target calls.
//!
//! The seeds are written by the ignored test `write_seed_corpus`:
//! `cargo test -p dhcp4-ha --test fuzz_corpus -- --ignored write_seed_corpus`.

mod common;

use dhcp4_ha::wire::Dhcp4Repr;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/dhcp4_packet");

/// The named seeds: real packets from the captures, the hand-written fixtures, generated
/// layouts, and a few malformed packets for the error paths.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let caps = common::kea22_clients();
    let mut out: Vec<(String, Vec<u8>)> = [
        (0, "dhclient-discover"),
        (2, "dhclient-request"),
        (3, "kea-ack-dhclient"),
        (6, "dhclient-release"),
        (7, "udhcpc-discover"),
        (11, "dhcpcd-discover"),
        (13, "dhcpcd-request"),
        (15, "networkd-discover"),
        (19, "networkd-release"),
        (20, "perfdhcp-discover"),
        (24, "perfdhcp-request"),
        (25, "kea-ack-perfdhcp"),
        (30, "perfdhcp-relayed-discover-opt82"),
        (33, "kea-ack-relayed-opt82"),
    ]
    .into_iter()
    .map(|(i, name)| (name.to_string(), caps[i].clone()))
    .collect();
    for f in common::FIXTURES {
        out.push((
            f.trim_end_matches(".hex").replace('_', "-"),
            common::hex_fixture(f),
        ));
    }
    // Generated layouts: splits, overload, pads (seeds chosen to cover them).
    let opts: Vec<(u8, Vec<u8>)> = vec![
        (53, vec![3]),
        (61, vec![1, 2, 0, 0x5e, 0, 0, 1]),
        (55, vec![1, 3, 6, 15, 119, 121]),
        (12, b"generated-host".to_vec()),
        (82, vec![1, 3, b'p', b'/', b'1', 5, 4, 10, 1, 0, 0]),
        (43, (0..=199).collect()),
        (121, vec![24, 10, 1, 2, 10, 1, 2, 1]),
    ];
    let mut header = vec![0; 236];
    header[..4].copy_from_slice(&[1, 1, 6, 0]);
    header[28..34].copy_from_slice(&[2, 0, 0x5e, 0, 0, 1]);
    for seed in [1u64, 7, 42, 1234] {
        out.push((
            format!("generated-layout-{seed}"),
            common::build_packet(&header, &opts, seed),
        ));
    }
    // Malformed: truncated option, bad overload, typed option of a bad length.
    let base = caps[20].clone();
    let mut truncated = base.clone();
    truncated.truncate(base.len() - 3);
    out.push(("malformed-truncated-option".into(), truncated));
    let mut overload = base[..240].to_vec();
    overload.extend_from_slice(&[53, 1, 1, 52, 1, 4, 255]);
    out.push(("malformed-overload-value".into(), overload));
    let mut length = base[..240].to_vec();
    length.extend_from_slice(&[53, 2, 1, 1, 255]);
    out.push(("malformed-message-type-length".into(), length));
    out
}

#[test]
fn replay_fuzz_corpus() {
    let mut n = 0;
    let mut decoded = 0;
    for entry in std::fs::read_dir(DIR).unwrap_or_else(|e| panic!("{DIR}: {e}")) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        dhcp4_ha::fuzzing::roundtrip(&data);
        decoded += usize::from(Dhcp4Repr::from_bytes(&data).is_ok());
        n += 1;
    }
    assert!(n >= 20, "corpus too small: {n} files in {DIR}");
    // The realistic seeds must decode (a corpus of garbage would make the replay meaningless).
    assert!(decoded >= 20, "only {decoded} of {n} seeds decode");
}

#[test]
fn seed_corpus_is_current() {
    for (name, bytes) in seeds() {
        let path = format!("{DIR}/{name}");
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (regenerate)"));
        assert_eq!(on_disk, bytes, "{name} differs: regenerate the seed corpus");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/dhcp4_packet/"]
fn write_seed_corpus() {
    std::fs::create_dir_all(DIR).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(format!("{DIR}/{name}"), bytes).unwrap();
    }
}
