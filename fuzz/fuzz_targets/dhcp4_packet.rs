//! Decode arbitrary bytes as a DHCPv4 packet: a typed error or a packet that re-emits
//! byte-identically (and agrees with the zero-copy view and the canonical re-encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dhcp4_ha::fuzzing::roundtrip(data));
