//! Read arbitrary bytes as conntrackd.conf: a typed error or a configuration, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ct_sync::config::fuzzing::read(data));
