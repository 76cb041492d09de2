//! Load arbitrary bytes as a Kea memfile lease file; what loads must survive compaction (LFC)
//! unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dhcp4_ha::lease::memfile::fuzz_roundtrip(data));
