//! Decode arbitrary bytes as a conntrackd sync datagram (and as one message); whatever parses
//! must re-emit canonically, byte-identically when the input was canonical, and survive
//! batching.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ct_sync::fuzzing::roundtrip(data));
