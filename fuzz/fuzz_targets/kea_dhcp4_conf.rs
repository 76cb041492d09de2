//! Read arbitrary bytes as a kea-dhcp4.conf: a typed error or a configuration whose JSON,
//! written back, reads to the same values; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dhcp4_ha::config::fuzz_check(data));
