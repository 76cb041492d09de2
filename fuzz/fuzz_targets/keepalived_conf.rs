//! Read arbitrary bytes as keepalived.conf: a typed error or a configuration, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vrrp_fsm::keepalived::fuzzing::read(data));
