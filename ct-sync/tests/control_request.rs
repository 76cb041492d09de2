//! Request codes and the `conntrackd` command line, against conntrack-tools 1.4.7's
//! `include/conntrackd.h` and `src/main.c`. (`examples/tests/conntrackd_control.rs` checks the
//! same table against the real client binary.)

use ct_sync::control::{
    ClientCommand, ClientRequest, ControlError, REQUEST_LEN, Request, client_args, parse_request,
};
use proptest::prelude::*;

/// Every client command line of conntrackd 1.4.7 and the code its client sends.
const FLAG_TABLE: &[(&[&str], i32)] = &[
    (&["-c"], 46),
    (&["-c", "ct"], 18),
    (&["-c", "expect"], 42),
    (&["-f"], 45),
    (&["-f", "internal"], 33),
    (&["-f", "external"], 34),
    (&["-F"], 43),
    (&["-F", "ct"], 0),
    (&["-F", "expect"], 38),
    (&["-i"], 16),
    (&["-i", "ct"], 16),
    (&["-i", "expect"], 40),
    (&["-e"], 17),
    (&["-e", "ct"], 17),
    (&["-e", "expect"], 41),
    (&["-i", "-x"], 24),
    (&["-e", "-x"], 25),
    (&["-i", "expect", "-x"], 47),
    (&["-e", "expect", "-x"], 48),
    (&["-k"], 20),
    (&["-s"], 21),
    (&["-s", "ct"], 21),
    (&["-s", "expect"], 37),
    (&["-s", "network"], 28),
    (&["-s", "cache"], 29),
    (&["-s", "runtime"], 30),
    (&["-s", "link"], 31),
    (&["-s", "multicast"], 31),
    (&["-s", "rsqueue"], 32),
    (&["-s", "process"], 35),
    (&["-s", "queue"], 36),
    (&["-R"], 44),
    (&["-R", "ct"], 1),
    (&["-R", "expect"], 39),
    (&["-n"], 23),
    (&["-B"], 22),
    (&["-t"], 26),
];

fn request(args: &[&str]) -> Result<Request, ControlError> {
    match client_args(args)?.command {
        ClientCommand::Request(r) => Ok(r),
        other => panic!("{args:?} gave {other:?}"),
    }
}

#[test]
fn every_flag_sends_the_code_of_1_4_7() {
    for &(args, code) in FLAG_TABLE {
        let r = request(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(r.code(), code, "{args:?} sends {}", r.name());
        // With -C before and after.
        let mut with_conf = vec!["-C", "/tmp/x.conf"];
        with_conf.extend_from_slice(args);
        let req = client_args(&with_conf).unwrap();
        assert_eq!(req.config_file.as_deref(), Some("/tmp/x.conf"));
        assert_eq!(req.command, ClientCommand::Request(r));
    }
}

#[test]
fn header_codes_and_names() {
    let expect = [
        (0, "CT_FLUSH_MASTER"),
        (1, "CT_RESYNC_MASTER"),
        (18, "CT_COMMIT"),
        (19, "CT_FLUSH_CACHE"),
        (21, "STATS"),
        (22, "SEND_BULK"),
        (23, "REQUEST_DUMP"),
        (26, "RESET_TIMERS"),
        (27, "DEBUG_INFO"),
        (36, "STATS_QUEUE"),
        (46, "ALL_COMMIT"),
        (48, "EXP_DUMP_EXT_XML"),
    ];
    for (code, name) in expect {
        assert_eq!(Request::from_code(code).map(Request::name), Some(name));
    }
    for code in [-1, 2, 15, 49, 1000, i32::MIN, i32::MAX] {
        assert_eq!(Request::from_code(code), None, "{code}");
    }
    let codes: Vec<i32> = Request::ALL.iter().map(|r| r.code()).collect();
    let mut want = vec![0, 1];
    want.extend(16..=48);
    assert_eq!(codes, want);
}

#[test]
fn wire_form_is_a_native_int() {
    assert_eq!(Request::AllCommit.to_bytes(), 46i32.to_ne_bytes());
    assert_eq!(REQUEST_LEN, 4);
    assert_eq!(parse_request(&21i32.to_ne_bytes()), Ok(Request::Stats));
    // conntrackd reads one int and ignores the rest.
    let mut long = 28i32.to_ne_bytes().to_vec();
    long.extend_from_slice(b"junk");
    assert_eq!(parse_request(&long), Ok(Request::StatsNetwork));
    assert_eq!(
        parse_request(&[21, 0]),
        Err(ControlError::ShortRequest { len: 2 })
    );
    assert_eq!(
        parse_request(&[]),
        Err(ControlError::ShortRequest { len: 0 })
    );
    assert_eq!(
        parse_request(&99i32.to_ne_bytes()),
        Err(ControlError::UnknownRequest { code: 99 })
    );
}

#[test]
fn parameters_match_by_prefix_like_strncmp() {
    assert_eq!(request(&["-s", "net"]), Ok(Request::StatsNetwork));
    assert_eq!(
        request(&["-s", "c"]),
        Ok(Request::StatsCache),
        "cache before ct"
    );
    assert_eq!(
        request(&["-s", "r"]),
        Ok(Request::StatsRuntime),
        "runtime before rsqueue"
    );
    assert_eq!(request(&["-s", "m"]), Ok(Request::StatsLink));
    assert_eq!(request(&["-c", "e"]), Ok(Request::ExpCommit));
    assert_eq!(
        request(&["-c", ""]),
        Ok(Request::CtCommit),
        "empty matches ct"
    );
    assert_eq!(request(&["-f", "ext"]), Ok(Request::CtFlushExternalCache));
    assert_eq!(
        request(&["-s", "networks"]),
        Err(ControlError::UnknownParameter {
            option: 's',
            param: "networks".into()
        })
    );
    assert_eq!(
        request(&["-f", "both"]),
        Err(ControlError::UnknownParameter {
            option: 'f',
            param: "both".into()
        })
    );
}

#[test]
fn conntrackd_parsing_quirks_are_kept() {
    // Only the second character counts.
    assert_eq!(request(&["-stats"]), Ok(Request::Stats));
    assert_eq!(
        request(&["--commit"]),
        Err(ControlError::UnknownOption {
            option: "--commit".into()
        })
    );
    // -c leaves a non-table word to be read as an option: "internal" is -n.
    assert_eq!(request(&["-c", "internal"]), Ok(Request::RequestDump));
    // The last request option wins.
    assert_eq!(request(&["-s", "-c"]), Ok(Request::AllCommit));
    assert_eq!(request(&["-i", "-x", "-s"]), Ok(Request::Stats));
    // A parameter starting with '-' is the next option.
    assert_eq!(request(&["-i", "-e"]), Ok(Request::CtDumpExternal));
}

#[test]
fn modes_and_errors() {
    let cmd = |a: &[&str]| client_args(a).map(|r: ClientRequest| r.command);
    assert_eq!(cmd(&[]), Ok(ClientCommand::Console));
    assert_eq!(cmd(&["-C", "f"]), Ok(ClientCommand::Console));
    assert_eq!(cmd(&["-d"]), Ok(ClientCommand::Daemon));
    assert_eq!(cmd(&["-v", "-bogus"]), Ok(ClientCommand::Version));
    assert_eq!(cmd(&["-h"]), Ok(ClientCommand::Help));
    assert!(matches!(
        cmd(&["-d", "-c"]),
        Err(ControlError::InvalidParameters { .. })
    ));
    assert!(matches!(
        cmd(&["-s", "-d"]),
        Err(ControlError::InvalidParameters { .. })
    ));
    assert!(matches!(
        cmd(&["-x"]),
        Err(ControlError::InvalidParameters { .. })
    ));
    assert!(matches!(
        cmd(&["-s", "-x"]),
        Err(ControlError::InvalidParameters { .. })
    ));
    assert_eq!(cmd(&["-C"]), Err(ControlError::MissingConfigFile));
    assert_eq!(
        cmd(&["-z"]),
        Err(ControlError::UnknownOption {
            option: "-z".into()
        })
    );
    assert_eq!(
        cmd(&["s"]),
        Err(ControlError::UnknownOption { option: "s".into() })
    );
    assert_eq!(
        cmd(&[""]),
        Err(ControlError::UnknownOption { option: "".into() })
    );
    // Owned strings work too (std::env::args).
    let owned: Vec<String> = vec!["-s".into(), "queue".into()];
    assert_eq!(
        client_args(&owned).unwrap().command,
        ClientCommand::Request(Request::StatsQueue)
    );
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8),
                            args in proptest::collection::vec(".{0,6}", 0..6)) {
        match parse_request(&bytes) {
            Ok(r) => prop_assert_eq!(&r.to_bytes()[..], &bytes[..4]),
            Err(ControlError::ShortRequest { len }) => prop_assert!(len < 4),
            Err(e) => prop_assert!(matches!(e, ControlError::UnknownRequest { .. }), "unexpected {:?}", e),
        }
        let _ = client_args(&args);
    }

    #[test]
    fn report_parsers_never_panic(text in ".{0,300}") {
        let _ = ct_sync::control::parse_stats(&text);
        let _ = ct_sync::control::parse_stats_runtime(&text);
        let _ = ct_sync::control::parse_stats_queue(&text);
        let _ = ct_sync::control::parse_stats_link(&text);
        let _ = ct_sync::control::parse_ct_dump_entry(&text);
    }
}
