//! The golden request / response pairs captured between two real Kea 2.2 partners
//! (tests/data/kea-golden/, one file per command) through the HTTP codec and the typed
//! control messages: every byte is parsed and re-encoded identically.

use std::fmt;

use dhcp4_ha::control::args::{
    Arguments, DhcpDisable, DhcpEnable, GetPage, HeartbeatAnswer, LeasePage, MaintenanceNotify,
    PageFrom, Scopes, StatusGet,
};
use dhcp4_ha::control::{Answer, Command, KeaLease4, Outcome, Request};
use dhcp4_ha::http::{self, ClientConn, Header, Limits, ServerConn, parse_http_date};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kea-golden");

/// A JSON map of strings read in document order (the header order of a capture).
#[derive(Debug, Clone, PartialEq)]
struct Ordered(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry::<String, String>()? {
                    out.push(kv);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Deserialize)]
struct Golden {
    #[serde(skip)]
    name: String,
    request_line: String,
    request_headers: Ordered,
    request_raw: String,
    request: Value,
    response_status: String,
    response_headers: Ordered,
    response_raw: String,
    response: Value,
}

impl Golden {
    fn head(first: &str, headers: &Ordered) -> Vec<u8> {
        let mut out = format!("{first}\r\n");
        for (k, v) in &headers.0 {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    fn request_bytes(&self) -> Vec<u8> {
        let mut b = Self::head(&self.request_line, &self.request_headers);
        b.extend_from_slice(self.request_raw.as_bytes());
        b
    }

    /// The response body. The capture stores long bodies cut at 4096 bytes with
    /// `...(truncated)` appended (lease4-get-page-nonempty); its parsed `response` is whole.
    /// Then the body is re-encoded from `response` in Kea's style and must start with the
    /// stored bytes and have the recorded `Content-Length`.
    fn response_body(&self) -> String {
        let Some(prefix) = self.response_raw.strip_suffix("...(truncated)") else {
            return self.response_raw.clone();
        };
        let full = dhcp4_ha::control::json::to_kea_string(&self.response);
        assert_eq!(prefix.len(), 4096, "{}", self.name);
        assert!(full.starts_with(prefix), "{}: prefix differs", self.name);
        assert_eq!(
            full.len().to_string(),
            self.header("Content-Length"),
            "{}",
            self.name
        );
        full
    }

    fn response_bytes(&self) -> Vec<u8> {
        let mut b = Self::head(&self.response_status, &self.response_headers);
        b.extend_from_slice(self.response_body().as_bytes());
        b
    }

    /// Sent by a Kea partner (rather than by `curl` from the test harness).
    fn sent_by_kea(&self) -> bool {
        !self
            .request_headers
            .0
            .iter()
            .any(|(k, _)| k == "User-Agent")
    }

    /// A header of the response, else of the request.
    fn header(&self, name: &str) -> &str {
        let h = self
            .response_headers
            .0
            .iter()
            .chain(&self.request_headers.0);
        h.into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }
}

fn goldens() -> Vec<Golden> {
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let mut g: Golden = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            g.name = p.file_stem().unwrap().to_string_lossy().into_owned();
            g
        })
        .collect()
}

fn headers_of(h: &[Header]) -> Vec<(String, String)> {
    h.iter()
        .map(|h| (h.name.clone(), String::from_utf8(h.value.clone()).unwrap()))
        .collect()
}

#[test]
fn golden_requests_parse_and_reencode() {
    let all = goldens();
    assert_eq!(all.len(), 15);
    let mut kea = 0;
    for g in &all {
        let raw = g.request_bytes();
        let mut server = ServerConn::default();
        server.handle_input(&raw).unwrap();
        let req = server.poll_request().unwrap().unwrap();
        assert!(server.poll_request().is_none(), "{}", g.name);
        assert_eq!(
            format!("{} {} HTTP/1.{}", req.method, req.target, req.minor_version),
            g.request_line
        );
        assert_eq!(headers_of(&req.headers), g.request_headers.0, "{}", g.name);
        assert_eq!(req.body, g.request_raw.as_bytes(), "{}", g.name);
        assert!(req.is_kea_post() && req.keep_alive(), "{}", g.name);
        // The HTTP request re-encodes byte for byte.
        let mut again = Vec::new();
        req.encode(&mut again);
        assert_eq!(again, raw, "{}", g.name);

        let cmd = Request::from_json(&req.body).unwrap();
        assert_eq!(cmd.to_value(), g.request, "{}", g.name);
        assert!(cmd.known().is_some(), "{}", g.name);
        if g.sent_by_kea() {
            // Kea's own bytes: body and head rebuilt from the typed value.
            kea += 1;
            assert_eq!(cmd.to_kea_json(), g.request_raw, "{}", g.name);
            let mut client = ClientConn::new(g.header("Host"), Limits::default());
            let mut out = Vec::new();
            client.encode_kea(cmd.to_kea_json().as_bytes(), &mut out);
            assert_eq!(out, raw, "{}", g.name);
        } else {
            // curl's compact form.
            assert_eq!(cmd.to_compact(), g.request_raw, "{}", g.name);
        }
    }
    assert_eq!(kea, 8, "requests sent by a Kea partner");
}

#[test]
fn golden_responses_parse_and_reencode() {
    for g in goldens() {
        let mut client = ClientConn::new("198.51.100.2", Limits::default());
        client.encode_kea(g.request_raw.as_bytes(), &mut Vec::new());
        let raw = g.response_bytes();
        client.handle_input(&raw).unwrap();
        let resp = client.poll_response().unwrap().unwrap();
        assert!(client.poll_response().is_none());
        assert_eq!(client.in_flight(), 0);
        assert!(!client.should_close());
        assert_eq!(
            format!(
                "HTTP/1.{} {} {}",
                resp.minor_version, resp.status, resp.reason
            ),
            g.response_status
        );
        assert_eq!(
            headers_of(&resp.headers),
            g.response_headers.0,
            "{}",
            g.name
        );
        let body = g.response_body();
        assert_eq!(resp.body, body.as_bytes());

        let answers = Answer::parse_list(&resp.body).unwrap();
        let values: Vec<Value> = answers.iter().map(Answer::to_value).collect();
        assert_eq!(Value::Array(values), g.response, "{}", g.name);
        assert_eq!(Answer::encode_list(&answers), body, "{}", g.name);
        assert!(answers[0].is_success(), "{}", g.name);

        // The whole response rebuilt from the typed answer and the Date.
        let rebuilt = http::Response::kea_json(
            200,
            Answer::encode_list(&answers).into_bytes(),
            g.header("Date"),
        );
        let mut out = Vec::new();
        let mut server = ServerConn::default();
        server.handle_input(&g.request_bytes()).unwrap();
        server.poll_request().unwrap().unwrap();
        server.encode(&rebuilt, &mut out);
        assert_eq!(out, raw, "{}", g.name);
        assert!(!server.should_close());
        assert!(parse_http_date(g.header("Date")).is_some());
    }
}

fn golden(name: &str) -> Golden {
    goldens().into_iter().find(|g| g.name == name).unwrap()
}

fn req_args(g: &Golden) -> Value {
    g.request["arguments"].clone()
}

fn answer(g: &Golden) -> Answer {
    Answer::parse_first(g.response_body().as_bytes()).unwrap()
}

/// `T` read from `v` and written back gives `v`.
fn typed<T: Arguments>(v: &Value) -> T {
    let t = T::from_arguments(Some(v)).unwrap();
    assert_eq!(&t.to_arguments(), v);
    t
}

#[test]
fn heartbeat() {
    let g = golden("ha-heartbeat");
    let req = Request::new(Command::HaHeartbeat, None);
    assert_eq!(req.to_kea_json(), g.request_raw);
    let a = answer(&g);
    let hb: HeartbeatAnswer = typed(a.arguments.as_ref().unwrap());
    assert_eq!(hb.state, "waiting");
    assert!(hb.scopes.is_empty());
    assert_eq!(hb.unsent_update_count, 0);
    assert_eq!(hb.answer(), a);
    let t = parse_http_date(&hb.date_time).unwrap();
    assert_eq!(http::http_date(t), hb.date_time);
}

#[test]
fn lease_update_and_delete() {
    for (name, cmd) in [
        ("lease4-update", Command::Lease4Update),
        ("lease4-del", Command::Lease4Del),
    ] {
        let g = golden(name);
        let args = req_args(&g);
        let l: KeaLease4 = typed(&args);
        let lease = l.to_lease(0).unwrap();
        assert_eq!(lease.valid_lifetime, 3600);
        assert_eq!(
            lease.cltt,
            1_795_444_426 - 3600,
            "cltt = expire - valid-lft"
        );
        assert_eq!(lease.subnet_id, 1);
        assert_eq!(lease.hwaddr.len(), 6);
        assert_eq!(lease.client_id.len(), 7);
        let rebuilt = if cmd == Command::Lease4Update {
            KeaLease4::for_update(&lease)
        } else {
            KeaLease4::for_delete(&lease)
        };
        assert_eq!(rebuilt, l);
        let req = Request::new(cmd, Some(rebuilt.to_arguments()));
        assert_eq!(req.to_kea_json(), g.request_raw, "{name}");
        assert_eq!(answer(&g).outcome(), Outcome::Success);
    }
}

#[test]
fn lease_get_page() {
    for name in ["lease4-get-page-empty", "lease4-get-page-nonempty"] {
        let g = golden(name);
        let page: GetPage = typed(&req_args(&g));
        assert_eq!(page.from, PageFrom::Start);
        assert_eq!(page.limit, 1000);
        let a = answer(&g);
        let leases: LeasePage = typed(a.arguments.as_ref().unwrap());
        assert_eq!(leases.count, Some(leases.leases.len() as u64));
        // Every lease goes to a Lease4 and back to the same get-page map.
        let rebuilt: Vec<KeaLease4> = leases
            .leases
            .iter()
            .map(|l| KeaLease4::for_page(&l.to_lease(0).unwrap()))
            .collect();
        assert_eq!(rebuilt, leases.leases);
        assert_eq!(leases.answer(), a, "{name}");
        assert_eq!(
            Answer::encode_list(&[leases.answer()]),
            g.response_body(),
            "{name}"
        );
    }
    let next = GetPage {
        from: PageFrom::After("198.18.3.241".parse().unwrap()),
        limit: 10000,
    };
    let req = Request::new(Command::Lease4GetPage, Some(next.to_arguments()));
    assert_eq!(
        req.to_kea_json(),
        r#"{ "arguments": { "from": "198.18.3.241", "limit": 10000 }, "command": "lease4-get-page", "service": [ "dhcp4" ] }"#
    );
    assert!(GetPage::from_arguments(Some(&serde_json::json!({"from": "x", "limit": 1}))).is_err());
}

#[test]
fn disable_enable_maintenance_scopes() {
    let d: DhcpDisable = typed(&req_args(&golden("dhcp-disable")));
    assert_eq!(d.max_period, Some(60));
    assert_eq!(d.origin.as_deref(), Some("ha-partner"));
    let e: DhcpEnable = typed(&req_args(&golden("dhcp-enable")));
    assert_eq!(e.origin.as_deref(), Some("ha-partner"));
    let m: MaintenanceNotify = typed(&req_args(&golden("ha-maintenance-notify")));
    assert!(!m.cancel);
    let s: Scopes = typed(&req_args(&golden("ha-scopes")));
    assert_eq!(s.scopes, ["server1"]);
    let g = golden("ha-sync-complete-notify");
    assert_eq!(
        Request::new(Command::HaSyncCompleteNotify, None).to_kea_json(),
        g.request_raw
    );
}

#[test]
fn status_get() {
    let g = golden("status-get");
    let a = answer(&g);
    assert_eq!(a.text, None);
    let s: StatusGet = typed(a.arguments.as_ref().unwrap());
    let ha = &s.high_availability.as_ref().unwrap()[0];
    assert_eq!(ha.ha_mode, "hot-standby");
    assert_eq!(ha.ha_servers.local.role, "primary");
    let remote = ha.ha_servers.remote.as_ref().unwrap();
    assert_eq!(remote.last_state, "ready");
    assert!(remote.in_touch);
    assert_eq!(s.other["pid"], 20582);
    let rebuilt = Answer {
        result: 0,
        text: None,
        arguments: Some(s.to_arguments()),
    };
    assert_eq!(Answer::encode_list(&[rebuilt]), g.response_raw);
}

#[test]
fn answers_as_kea_client_reads_them() {
    assert_eq!(
        Answer::encode_list(&[Answer::unsupported("foo-bar")]),
        r#"[ { "result": 2, "text": "'foo-bar' command not supported." } ]"#
    );
    let map = br#"{ "result": 0, "text": "x" }"#;
    assert!(matches!(
        Answer::parse_list(map),
        Err(dhcp4_ha::control::AnswerError::NotList)
    ));
    assert!(Answer::parse_list(b"[]").is_err());
    assert!(Answer::parse_list(b"[ { \"text\": \"no result\" } ]").is_err());
    let empty =
        Answer::parse_first(br#"[ { "result": 3, "text": "IPv4 lease not found." } ]"#).unwrap();
    assert_eq!(empty.outcome(), Outcome::Empty);
    assert!(empty.is_success());
    let refused = Answer::new(1001, "refused");
    assert_eq!(refused.outcome(), Outcome::Error(1001));
    assert!(!refused.is_success());
}

#[test]
fn envelope_errors() {
    use dhcp4_ha::control::CommandError;
    assert!(matches!(
        Request::from_json(b"{ bad"),
        Err(CommandError::Json(_))
    ));
    assert_eq!(Request::from_json(b"[1]"), Err(CommandError::NotMap));
    assert_eq!(
        Request::from_json(br#"{"service":["dhcp4"]}"#),
        Err(CommandError::MissingCommand)
    );
    assert_eq!(
        Request::from_json(br#"{"command":1}"#),
        Err(CommandError::CommandNotString)
    );
    assert_eq!(
        Request::from_json(br#"{"command":"x","extra":1}"#),
        Err(CommandError::UnknownKey("extra".into()))
    );
    let no_service = Request::from_json(br#"{"command":"ha-heartbeat"}"#).unwrap();
    assert_eq!(no_service.service, None);
    assert_eq!(no_service.to_kea_json(), r#"{ "command": "ha-heartbeat" }"#);
    assert_eq!(
        CommandError::NotMap.answer().unwrap().to_kea_json(),
        r#"{ "result": 1, "text": "Error during command processing: Invalid command Element specified, expected map" }"#
    );
}

#[test]
fn restricted_command_set() {
    let allowed: Vec<&str> = Command::ALL
        .into_iter()
        .filter(|c| c.allowed_when_restricted())
        .map(Command::name)
        .collect();
    assert_eq!(
        allowed,
        [
            "ha-heartbeat",
            "lease4-update",
            "lease4-del",
            "lease4-get-page",
            "lease4-get-all",
            "dhcp-disable",
            "dhcp-enable",
            "ha-sync-complete-notify",
            "ha-maintenance-notify",
            "ha-reset",
            "status-get",
            "list-commands"
        ]
    );
    for c in Command::ALL {
        assert_eq!(Command::from_name(c.name()), Some(c));
    }
}
