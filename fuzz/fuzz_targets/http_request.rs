//! Feed arbitrary bytes to the HTTP server connection, whole and in split reads: the same
//! requests or typed error either way, every request re-encodes to itself, and every body
//! that parses as a Kea command or answer list re-encodes to the same value; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dhcp4_ha::http::fuzz_server(data));
