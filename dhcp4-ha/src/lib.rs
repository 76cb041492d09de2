//! Kea-compatible DHCPv4 server and High Availability, Sans-IO.
//!
//! The crate does no I/O: it turns bytes into values and values into bytes, and (in later
//! parts) drives a server and an HA state machine from events that a daemon feeds in.
//!
//! * [`wire`]: the DHCPv4 codec (RFC 2131 / 2132) with split options (RFC 3396), option
//!   overload, relay agent information (RFC 3046, RFC 3527) and byte-exact round trips.
//! * [`lease`]: leases, the lease-store trait with an indexed in-memory store, and Kea's
//!   memfile CSV (schemas 1.0 to 3.0 read, 2.1 written as Kea 2.2 does), load replay and LFC.
//! * [`config`]: Kea 2.2's `kea-dhcp4.conf` (position-aware JSON with comments and includes,
//!   typed `Dhcp4` configuration, Kea's error messages).
//! * [`http`]: a Sans-IO HTTP/1.1 codec, server and client (Content-Length framing,
//!   keep-alive, pipelining, Basic authentication, Kea's exact request and response bytes).
//! * [`control`]: Kea's control commands and answers as typed values (HA and lease commands),
//!   with Kea's JSON text byte for byte.
//! * [`server`]: the server engine, answering as Kea 2.2 does (byte for byte on the captured
//!   exchanges): DORA direct and relayed, renew / rebind / init-reboot, release, decline,
//!   inform, reservations, option precedence, lease reclamation, Kea's statistics, and
//!   replies held until their lease changes are durable; address pools as free-address
//!   bitmaps (Kea's iterative allocation, fast however full the pool is).
//! * [`ha`]: Kea 2.2's High Availability: the HA hook's configuration, the state machine
//!   (hot-standby, load-balancing, passive-backup), heartbeats and failure detection, lease
//!   updates gating the replies, lease synchronisation, and the RFC 3074 load-balancing hash.
//! * [`fuzzing`]: the checks the fuzz target runs, shared with the corpus-replay test.

extern crate alloc;

pub mod config;
pub mod control;
pub mod ha;
pub mod http;
pub mod lease;
pub mod server;
pub mod wire;

/// Helpers shared by the fuzz target (`fuzz/fuzz_targets/dhcp4_packet.rs`) and the test that
/// replays its corpus.
pub mod fuzzing {
    use alloc::vec;

    use crate::wire::{Dhcp4Repr, EmitError, Packet, RelayAgentInfo, code};

    /// Decodes `data` as a DHCPv4 packet; whatever parses must hold up. Panics otherwise (that
    /// is the bug a fuzzer looks for):
    /// * the view and the owned parser agree on acceptance and on every logical option;
    /// * `emit(parse(x)) == x` byte for byte, and the re-emitted bytes parse to the same repr;
    /// * a buffer one byte short is refused with `InsufficientSize`;
    /// * emitted canonically (layout dropped), the packet parses back to the same header and
    ///   options with no layout;
    /// * `data` read as option 82 data: whatever parses re-emits identically.
    pub fn roundtrip(data: &[u8]) {
        let checked = Packet::new_checked(data);
        let parsed = Dhcp4Repr::parse(&Packet::new_unchecked(data));
        if let Err(e) = &checked {
            assert_eq!(parsed.as_ref().err(), Some(e), "view and repr disagree");
        }
        if let Ok(repr) = parsed {
            let packet = checked.expect("parse accepted what new_checked refused");
            check_options(&packet, &repr);
            check_reemit(&repr, data);
            let mut canonical = repr.clone();
            canonical.layout = None;
            let bytes = canonical.to_vec().expect("a parsed repr must emit");
            let again = Dhcp4Repr::from_bytes(&bytes).expect("canonical re-parse");
            assert_eq!(again, canonical, "canonical emit does not parse back");
        }
        if let Ok(info) = RelayAgentInfo::parse(data, 0) {
            let mut out = vec![0; info.buffer_len()];
            assert_eq!(info.emit(&mut out), Ok(data.len()));
            assert_eq!(&out[..], data, "option 82 re-emit differs");
        }
    }

    fn check_options(packet: &Packet<&[u8]>, repr: &Dhcp4Repr) {
        let mut n = 0;
        for opt in packet.options() {
            if opt.code == code::OVERLOAD {
                continue;
            }
            assert_eq!(
                repr.options.encoded(opt.code).as_deref(),
                Some(&opt.data[..]),
                "option {} differs between the iterator and the repr",
                opt.code
            );
            assert_eq!(packet.option(opt.code).as_deref(), Some(&opt.data[..]));
            n += 1;
        }
        assert_eq!(n, repr.options.len(), "option count differs");
    }

    fn check_reemit(repr: &Dhcp4Repr, original: &[u8]) {
        let n = repr.buffer_len();
        assert_eq!(n, original.len(), "buffer_len != input length");
        let mut out = vec![0; n];
        assert_eq!(repr.emit(&mut out), Ok(n));
        assert_eq!(&out[..], original, "emit(parse(x)) != x");
        assert_eq!(
            repr.emit(&mut out[..n - 1]),
            Err(EmitError::InsufficientSize {
                required: n,
                have: n - 1
            })
        );
        let again = Dhcp4Repr::from_bytes(&out).expect("re-parse");
        assert_eq!(&again, repr, "parse(emit(parse(x))) != parse(x)");
    }
}
