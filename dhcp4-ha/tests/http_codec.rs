//! The HTTP/1.1 codec's edge cases: pipelining, split reads, limits, Kea's 400 / 401 / 403
//! answers, Basic authentication, refused Transfer-Encoding, keep-alive and close; a
//! proptest that no input panics the server parser; and the replay of the `http_request`
//! fuzz target's corpus (fuzz/corpus/http_request/).

use dhcp4_ha::control::{self, Admission, Answer, ListenerPolicy};
use dhcp4_ha::http::{
    self, AuthError, BasicAuth, ClientConn, HttpError, Limits, Request, Response, ServerConn,
};
use proptest::prelude::*;

const DATE: &str = "Mon, 23 Nov 2026 13:33:43 GMT";
const HEARTBEAT: &[u8] = b"POST / HTTP/1.1\r\nHost: 198.51.100.2\r\nContent-Length: 53\r\nContent-Type: application/json\r\n\r\n{ \"command\": \"ha-heartbeat\", \"service\": [ \"dhcp4\" ] }";
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/http_request");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kea-golden");

fn post(body: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Request::kea_post("198.51.100.2", body.as_bytes().to_vec(), None).encode(&mut out);
    out
}

/// Everything the server makes of `data` fed in chunks of `sizes` (cycled).
fn feed(data: &[u8], sizes: &[usize], limits: Limits) -> Vec<Result<Request, HttpError>> {
    let mut conn = ServerConn::new(limits);
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        conn.handle_input(&rest[..n]).unwrap();
        rest = &rest[n..];
        while let Some(r) = conn.poll_request() {
            out.push(r);
        }
    }
    out
}

fn encoded(r: &Response) -> String {
    let mut out = Vec::new();
    r.encode(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn pipelined_requests_and_leftover() {
    let mut data = HEARTBEAT.to_vec();
    data.extend_from_slice(&post(
        r#"{ "command": "ha-reset", "service": [ "dhcp4" ] }"#,
    ));
    data.extend_from_slice(&HEARTBEAT[..70]);
    let mut conn = ServerConn::default();
    conn.handle_input(&data).unwrap();
    let a = conn.poll_request().unwrap().unwrap();
    let b = conn.poll_request().unwrap().unwrap();
    assert!(conn.poll_request().is_none());
    assert_eq!(conn.buffered(), 70, "the third request's bytes wait");
    assert_eq!(conn.in_flight(), 2);
    assert!(a.body.ends_with(b"}") && b.body.starts_with(b"{ \"command\": \"ha-reset\""));
    conn.handle_input(&HEARTBEAT[70..]).unwrap();
    let c = conn.poll_request().unwrap().unwrap();
    assert_eq!(a, c);
    let mut out = Vec::new();
    for _ in 0..3 {
        conn.encode(&Response::kea_json(200, b"[  ]".to_vec(), DATE), &mut out);
    }
    assert!(!conn.should_close());
    assert!(conn.is_idle());
}

#[test]
fn split_at_every_boundary() {
    let mut data = HEARTBEAT.to_vec();
    data.extend_from_slice(&post("{}"));
    let whole = feed(&data, &[data.len()], Limits::default());
    assert_eq!(whole.len(), 2);
    for cut in 1..data.len() {
        assert_eq!(
            feed(&data, &[cut, data.len()], Limits::default()),
            whole,
            "{cut}"
        );
    }
    assert_eq!(feed(&data, &[1], Limits::default()), whole);
}

#[test]
fn missing_content_length_is_kea_400() {
    let data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n";
    let mut conn = ServerConn::default();
    conn.handle_input(data).unwrap();
    let req = conn.poll_request().unwrap().unwrap();
    assert!(req.body.is_empty());
    assert!(!req.is_kea_post());
    let policy = ListenerPolicy::default();
    let adm = control::admit(&req, &policy);
    assert_eq!(adm, Admission::Reject(400));
    assert_eq!(
        encoded(&adm.response(&policy, DATE).unwrap()),
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 40\r\nContent-Type: application/json\r\nDate: {DATE}\r\n\r\n{{ \"result\": 400, \"text\": \"Bad Request\" }}"
        )
    );
}

#[test]
fn get_and_wrong_content_type_are_400() {
    let policy = ListenerPolicy::default();
    let mut get = Request::kea_post("x", b"{}".to_vec(), None);
    get.method = "GET".into();
    assert_eq!(control::admit(&get, &policy), Admission::Reject(400));
    let mut text = Request::kea_post("x", br#"{"command":"ha-reset"}"#.to_vec(), None);
    text.headers[2].value = b"text/plain".to_vec();
    assert_eq!(control::admit(&text, &policy), Admission::Reject(400));
    text.headers[2].value = b"application/json; charset=utf-8".to_vec();
    assert!(matches!(
        control::admit(&text, &policy),
        Admission::Command(_)
    ));
}

#[test]
fn bad_json_is_kea_400() {
    let mut conn = ServerConn::default();
    conn.handle_input(&post("{ \"command\": ")).unwrap();
    let req = conn.poll_request().unwrap().unwrap();
    let policy = ListenerPolicy::default();
    let adm = control::admit(&req, &policy);
    assert_eq!(adm, Admission::Reject(400));
    let resp = adm.response(&policy, DATE).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.body, br#"{ "result": 400, "text": "Bad Request" }"#);
    let mut out = Vec::new();
    conn.encode(&resp, &mut out);
    assert!(
        !conn.should_close(),
        "a well-framed bad body keeps the connection"
    );
    // A JSON body that is not a command is answered with result 1 (HTTP 200).
    let adm = control::admit(&Request::kea_post("x", b"[1]".to_vec(), None), &policy);
    let Admission::Answer(a) = &adm else {
        panic!("{adm:?}")
    };
    assert_eq!(a.result, control::RESULT_ERROR);
    assert_eq!(adm.response(&policy, DATE).unwrap().status, 200);
}

#[test]
fn unknown_command_passes_for_an_unsupported_answer() {
    let policy = ListenerPolicy::default();
    let req = Request::kea_post("x", br#"{ "command": "foo-bar" }"#.to_vec(), None);
    let Admission::Command(cmd) = control::admit(&req, &policy) else {
        panic!()
    };
    assert_eq!(cmd.known(), None);
    assert_eq!(
        Answer::encode_list(&[Answer::unsupported(&cmd.command)]),
        r#"[ { "result": 2, "text": "'foo-bar' command not supported." } ]"#
    );
}

#[test]
fn restrict_commands_is_403() {
    let policy = ListenerPolicy {
        restrict_commands: true,
        ..ListenerPolicy::default()
    };
    let scopes = Request::kea_post(
        "x",
        br#"{"command":"ha-scopes","arguments":{"scopes":[]}}"#.to_vec(),
        None,
    );
    let adm = control::admit(&scopes, &policy);
    assert_eq!(adm, Admission::Reject(403));
    let r = adm.response(&policy, DATE).unwrap();
    assert_eq!(
        encoded(&r),
        format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 38\r\nContent-Type: application/json\r\nDate: {DATE}\r\n\r\n{{ \"result\": 403, \"text\": \"Forbidden\" }}"
        )
    );
    let hb = Request::kea_post("x", HEARTBEAT[HEARTBEAT.len() - 53..].to_vec(), None);
    assert!(matches!(
        control::admit(&hb, &policy),
        Admission::Command(_)
    ));
    let no_cmd = Request::kea_post("x", br#"{"arguments":{}}"#.to_vec(), None);
    assert_eq!(control::admit(&no_cmd, &policy), Admission::Reject(400));
}

#[test]
fn basic_auth_accept_and_refuse() {
    let good = BasicAuth::new("hakit", "s3cret");
    let policy = ListenerPolicy {
        basic_auth: vec![BasicAuth::new("other", "x"), good.clone()],
        realm: "dhcp4d".into(),
        ..ListenerPolicy::default()
    };
    let body = br#"{ "command": "ha-heartbeat" }"#.to_vec();
    let ok = Request::kea_post("198.51.100.2", body.clone(), Some(&good));
    // Kea's order: Host first, then Authorization, Content-Length, Content-Type.
    let names: Vec<&str> = ok.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["Host", "Authorization", "Content-Length", "Content-Type"]
    );
    assert_eq!(
        ok.header("Authorization").unwrap(),
        b"Basic aGFraXQ6czNjcmV0"
    );
    assert_eq!(ok.basic_auth(), Ok(Some(good.clone())));
    assert!(matches!(
        control::admit(&ok, &policy),
        Admission::Command(_)
    ));

    let wrong = Request::kea_post("x", body.clone(), Some(&BasicAuth::new("hakit", "nope")));
    let none = Request::kea_post("x", body.clone(), None);
    let mut garbage = none.clone();
    garbage
        .headers
        .push(http::Header::new("Authorization", "Basic !!!"));
    assert_eq!(garbage.basic_auth(), Err(AuthError::Base64));
    let mut bearer = none.clone();
    bearer
        .headers
        .push(http::Header::new("Authorization", "Bearer abc"));
    assert_eq!(bearer.basic_auth(), Err(AuthError::Scheme));
    for r in [&wrong, &none, &garbage, &bearer] {
        let adm = control::admit(r, &policy);
        assert_eq!(adm, Admission::Reject(401));
        let resp = adm.response(&policy, DATE).unwrap();
        assert_eq!(resp.status, 401);
        assert_eq!(
            resp.header("WWW-Authenticate").unwrap(),
            b"Basic realm=\"dhcp4d\""
        );
        assert_eq!(resp.body, br#"{ "result": 401, "text": "Unauthorized" }"#);
    }
    // Without configured credentials nothing is checked (Kea 2.2's listener).
    assert!(matches!(
        control::admit(&wrong, &ListenerPolicy::default()),
        Admission::Command(_)
    ));
    // The client sends the header on every request.
    let mut client = ClientConn::new("198.51.100.2", Limits::default());
    client.set_basic_auth(Some(good));
    let mut out = Vec::new();
    client.encode_kea(&body, &mut out);
    assert!(out.starts_with(
        b"POST / HTTP/1.1\r\nHost: 198.51.100.2\r\nAuthorization: Basic aGFraXQ6czNjcmV0\r\nContent-Length: 29\r\n"
    ));
}

#[test]
fn transfer_encoding_is_refused() {
    let data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let mut conn = ServerConn::default();
    conn.handle_input(data).unwrap();
    let err = conn.poll_request().unwrap().unwrap_err();
    assert_eq!(err, HttpError::TransferEncoding);
    assert_eq!(err.status(), 400);
    assert!(conn.poll_request().is_none(), "nothing after an error");
    let mut out = Vec::new();
    conn.encode(&Response::kea_error(err.status(), DATE), &mut out);
    assert!(conn.should_close());
    assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
}

#[test]
fn oversize_head_and_body() {
    let limits = Limits::new(128, 64);
    let mut conn = ServerConn::new(limits);
    let mut long = b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 200));
    // Streamed in small reads: refused once the head passes the limit.
    let mut result = None;
    for chunk in long.chunks(16) {
        conn.handle_input(chunk).unwrap();
        if let Some(r) = conn.poll_request() {
            result = Some(r);
            break;
        }
    }
    assert_eq!(result, Some(Err(HttpError::HeadTooLarge { limit: 128 })));
    assert!(conn.buffered() == 0 && conn.poll_request().is_none());
    // The body limit applies as soon as the head is in, before the body arrives.
    let mut conn = ServerConn::new(limits);
    conn.handle_input(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n")
        .unwrap();
    assert_eq!(
        conn.poll_request(),
        Some(Err(HttpError::BodyTooLarge {
            length: 65,
            limit: 64
        }))
    );
    let mut conn = ServerConn::new(limits);
    conn.handle_input(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")
        .unwrap();
    assert_eq!(conn.poll_request(), Some(Err(HttpError::BadContentLength)));
    let mut conn = ServerConn::new(limits);
    conn.handle_input(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    assert_eq!(conn.poll_request(), Some(Err(HttpError::BadContentLength)));
    let mut conn = ServerConn::new(Limits::default().with_max_headers(2));
    conn.handle_input(b"POST / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
        .unwrap();
    assert_eq!(
        conn.poll_request(),
        Some(Err(HttpError::TooManyHeaders { limit: 2 }))
    );
    let mut conn = ServerConn::new(limits.with_max_buffer(100));
    assert_eq!(
        conn.handle_input(&[b'x'; 101]),
        Err(HttpError::BufferFull { limit: 100 })
    );
    assert_eq!(conn.buffered(), 0);
    let mut conn = ServerConn::default();
    conn.handle_input(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
        .unwrap();
    assert!(matches!(
        conn.poll_request(),
        Some(Err(HttpError::Malformed(_)))
    ));
}

#[test]
fn connection_close_and_http10() {
    let mut data = b"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}".to_vec();
    data.extend_from_slice(HEARTBEAT);
    let mut conn = ServerConn::default();
    conn.handle_input(&data).unwrap();
    let r = conn.poll_request().unwrap().unwrap();
    assert!(!r.keep_alive());
    assert!(
        conn.poll_request().is_none(),
        "nothing is read after a close"
    );
    assert!(!conn.should_close(), "not before the answer");
    conn.encode(&Response::kea_error(400, DATE), &mut Vec::new());
    assert!(conn.should_close());

    let mut conn = ServerConn::default();
    conn.handle_input(b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert!(!conn.poll_request().unwrap().unwrap().keep_alive());
    let mut conn = ServerConn::default();
    conn.handle_input(b"POST / HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert!(conn.poll_request().unwrap().unwrap().keep_alive());
}

#[test]
fn client_keep_alive_and_errors() {
    let mut client = ClientConn::new("198.51.100.2", Limits::default());
    let mut out = Vec::new();
    client.encode_kea(
        br#"{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }"#,
        &mut out,
    );
    assert_eq!(out, HEARTBEAT);
    client.encode_kea(b"{}", &mut out);
    assert_eq!(client.in_flight(), 2);
    let mut resp = Vec::new();
    let one = Response::kea_json(200, b"[ { \"result\": 0 } ]".to_vec(), DATE);
    one.encode(&mut resp);
    one.encode(&mut resp);
    for chunk in resp.chunks(7) {
        client.handle_input(chunk).unwrap();
    }
    assert_eq!(client.poll_response().unwrap().unwrap(), one);
    assert_eq!(client.poll_response().unwrap().unwrap(), one);
    assert!(client.poll_response().is_none());
    assert_eq!(client.in_flight(), 0);
    // A response nobody asked for.
    client.handle_input(&resp).unwrap();
    assert_eq!(
        client.poll_response(),
        Some(Err(HttpError::UnexpectedResponse))
    );
    assert!(client.should_close());
    // A response without Content-Length.
    let mut client = ClientConn::new("x", Limits::default());
    client.encode_kea(b"{}", &mut Vec::new());
    client.handle_input(b"HTTP/1.1 200 OK\r\n\r\n[]").unwrap();
    assert_eq!(
        client.poll_response(),
        Some(Err(HttpError::MissingContentLength))
    );
    // Connection: close from the server.
    let mut client = ClientConn::new("x", Limits::default());
    client.encode_kea(b"{}", &mut Vec::new());
    client
        .handle_input(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert!(client.poll_response().unwrap().is_ok());
    assert!(client.should_close());
}

#[test]
fn http_dates() {
    assert_eq!(http::http_date(1_795_440_823), DATE);
    assert_eq!(http::parse_http_date(DATE), Some(1_795_440_823));
    assert_eq!(http::parse_http_date("Mon, 23 Nov 2026 13:33:43 UTC"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes: the server never panics, and the fuzz checks hold.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        http::fuzz_server(&data);
    }

    /// Bytes that look like HTTP (a real request with mutations) exercise deeper paths.
    #[test]
    fn mutated_requests_never_panic(
        edits in proptest::collection::vec((0..HEARTBEAT.len(), any::<u8>()), 0..6),
        cut in 0..HEARTBEAT.len() * 2,
    ) {
        let mut data = HEARTBEAT.to_vec();
        data.extend_from_slice(HEARTBEAT);
        for (i, b) in edits {
            data[i] = b;
        }
        data.truncate(cut.max(1));
        http::fuzz_server(&data);
    }

    /// Pipelined requests split at arbitrary points parse to the same requests.
    #[test]
    fn random_splits(sizes in proptest::collection::vec(1usize..40, 1..8), n in 1usize..4) {
        let mut data = Vec::new();
        for i in 0..n {
            data.extend_from_slice(&post(&format!("{{ \"command\": \"c{i}\" }}")));
        }
        let whole = feed(&data, &[data.len()], Limits::default());
        prop_assert_eq!(whole.len(), n);
        prop_assert_eq!(feed(&data, &sizes, Limits::default()), whole);
    }
}

/// The named seeds of the `http_request` fuzz target: every golden request, pipelined
/// pairs, and malformed heads for the error paths.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(GOLDEN)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for p in files {
        let g: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let mut raw = format!("{}\r\n", g["request_line"].as_str().unwrap());
        // serde_json sorts the keys: the seed's header order is alphabetical.
        for (k, v) in g["request_headers"].as_object().unwrap() {
            raw.push_str(&format!("{k}: {}\r\n", v.as_str().unwrap()));
        }
        raw.push_str("\r\n");
        raw.push_str(g["request_raw"].as_str().unwrap());
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((format!("golden-{name}"), raw.into_bytes()));
    }
    let mut pipelined = HEARTBEAT.to_vec();
    pipelined.extend_from_slice(&post(r#"{ "arguments": { "from": "start", "limit": 1000 }, "command": "lease4-get-page", "service": [ "dhcp4" ] }"#));
    out.push(("pipelined-heartbeat-get-page".into(), pipelined));
    let mut auth = Vec::new();
    Request::kea_post(
        "198.51.100.2",
        br#"{ "command": "ha-heartbeat" }"#.to_vec(),
        Some(&BasicAuth::new("hakit", "s3cret")),
    )
    .encode(&mut auth);
    out.push(("basic-auth".into(), auth));
    for (name, bytes) in [
        ("chunked", &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..]),
        ("no-content-length", b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("bad-content-length", b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"),
        ("close-then-more", b"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}POST / HTTP/1.1\r\n\r\n"),
        ("http10", b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n[]"),
        ("bad-json", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n{ \"a\""),
        ("answer-list-body", b"POST / HTTP/1.1\r\nContent-Length: 49\r\n\r\n[ { \"result\": 0, \"text\": \"IPv4 lease added.\" } ]"),
        ("non-ascii-body", "POST / HTTP/1.1\r\nContent-Length: 31\r\n\r\n{\"command\":\"h\u{e9}\",\"service\":[]}".as_bytes()),
    ] {
        out.push((name.into(), bytes.to_vec()));
    }
    out
}

#[test]
fn replay_fuzz_corpus() {
    let mut n = 0;
    let mut parsed = 0;
    for entry in std::fs::read_dir(CORPUS).unwrap_or_else(|e| panic!("{CORPUS}: {e}")) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        http::fuzz_server(&data);
        let mut conn = ServerConn::default();
        conn.handle_input(&data).unwrap();
        parsed += usize::from(matches!(conn.poll_request(), Some(Ok(_))));
        n += 1;
    }
    assert!(n >= 20, "corpus too small: {n} files in {CORPUS}");
    assert!(parsed >= 18, "only {parsed} of {n} seeds parse");
}

#[test]
fn seed_corpus_is_current() {
    for (name, bytes) in seeds() {
        let path = format!("{CORPUS}/{name}");
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (regenerate)"));
        assert_eq!(on_disk, bytes, "{name} differs: regenerate the seed corpus");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/http_request/"]
fn write_seed_corpus() {
    std::fs::create_dir_all(CORPUS).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(format!("{CORPUS}/{name}"), bytes).unwrap();
    }
}
