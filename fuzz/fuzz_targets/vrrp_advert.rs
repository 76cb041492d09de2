//! Decode arbitrary bytes as a VRRP advertisement (IPv4 datagram and IPv6/IPv4 payload);
//! whatever parses must re-emit byte-identically.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vrrp_proto::fuzzing::roundtrip(data));
