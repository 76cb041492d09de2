//! `ControlHandler`: every command, success and error paths, against the answers a real
//! Kea 2.2 `kea-dhcp4` (with `libdhcp_lease_cmds.so`) gave over its control socket for the
//! same requests (texts recorded from Kea; the positions `(<wire>:L:C)` are Kea's for the
//! same request bytes), and the golden HA exchanges of tests/data/kea-golden.

use std::time::{Duration, Instant};

use dhcp4_ha::config::{self, Config};
use dhcp4_ha::control::handler::{Action, CONFIG_SANE, ControlHandler, Reply, kea_timestamp};
use dhcp4_ha::control::{Answer, Request};
use dhcp4_ha::lease::LeaseStore;
use dhcp4_ha::server::{ChangeKind, Origin, Server};
use serde_json::{Value, json};

const UNIX: u64 = 1_795_451_982; // 2026-11-23 16:39:42 UTC

const CONF: &str = r#"{ "Dhcp4": {
  "interfaces-config": { "interfaces": [] },
  "lease-database": { "type": "memfile", "persist": false },
  "valid-lifetime": 3600,
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": "192.0.2.10 - 192.0.2.200" } ] },
               { "id": 2, "subnet": "198.51.100.0/24" } ]
} }"#;

struct Rig {
    h: ControlHandler,
    s: Server,
    now: Instant,
}

impl Rig {
    fn new() -> Self {
        let cfg: Config = config::parse_str(CONF, "kea-dhcp4.conf").unwrap();
        let now = Instant::now();
        let s = Server::new(&cfg.dhcp4, now, UNIX).unwrap();
        let h = ControlHandler::new(cfg, 4242, now);
        Self { h, s, now }
    }

    fn reply(&mut self, body: &str) -> Reply {
        self.h.handle(&mut self.s, self.now, UNIX, body.as_bytes())
    }

    /// The socket answer text.
    fn text(&mut self, body: &str) -> String {
        self.reply(body).socket_text()
    }

    /// Asserts result and text of `body`'s answer.
    fn expect(&mut self, body: &str, result: i32, text: &str) -> Answer {
        let a = self.reply(body).answer;
        assert_eq!(
            (a.result, a.text.as_deref()),
            (result, Some(text)),
            "{body}"
        );
        a
    }

    fn add3(&mut self) {
        for (ip, hw, extra) in [
            ("192.0.2.1", "1a:1b:1c:1d:1e:1f", ""),
            (
                "192.0.2.3",
                "1a:1b:1c:1d:1e:2f",
                r#","client-id":"01:02:03","hostname":"Host.Example.org","valid-lft":100,"fqdn-fwd":true,"user-context":{"a":1}"#,
            ),
            (
                "198.51.100.5",
                "aa:bb:cc:dd:ee:ff",
                r#","client-id":"01:aa:bb""#,
            ),
        ] {
            let body = format!(
                r#"{{"command":"lease4-add","arguments":{{"ip-address":"{ip}","hw-address":"{hw}"{extra}}}}}"#
            );
            let a = self.reply(&body).answer;
            assert_eq!(a.result, 0, "{body}: {a:?}");
        }
    }
}

#[test]
fn envelope_errors_as_kea() {
    let mut r = Rig::new();
    assert_eq!(
        r.text(r#"{"command":"foo"}"#),
        r#"{ "result": 2, "text": "'foo' command not supported." }"#
    );
    r.expect("xx", 1, "invalid first character x");
    r.expect(
        "{}",
        1,
        "Error during command processing: Invalid answer specified, does not contain mandatory 'command'",
    );
    r.expect(
        r#"{"x":1}"#,
        1,
        "Error during command processing: Invalid answer specified, does not contain mandatory 'command'",
    );
    r.expect(
        r#"{"command":1}"#,
        1,
        "Error during command processing: 'command' element in command message is not a string",
    );
    r.expect(
        "[1]",
        1,
        "Error during command processing: Invalid command Element specified, expected map",
    );
    r.expect(
        r#"{"command":"foo", "x":1}"#,
        1,
        "Error during command processing: Received command contains unsupported parameter 'x'",
    );
    // Kea ignores `service` on its own socket, and text after the first value.
    r.expect(
        r#"{"command":"foo", "service":"x"}"#,
        2,
        "'foo' command not supported.",
    );
    r.expect(
        r#"{"command":"foo"}{"command":"bar"}"#,
        2,
        "'foo' command not supported.",
    );
    // Over HTTP the same answer is a one-element list.
    assert_eq!(
        r.reply(r#"{"command":"foo"}"#).http_text(),
        r#"[ { "result": 2, "text": "'foo' command not supported." } ]"#
    );
}

#[test]
fn list_version_build_status() {
    let mut r = Rig::new();
    let a = r
        .reply(r#"{"command":"list-commands","arguments":1}"#)
        .answer;
    assert_eq!((a.result, a.text.as_deref()), (0, None));
    let names: Vec<&str> = a
        .arguments
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for c in [
        "lease4-get-page",
        "status-get",
        "statistic-get-all",
        "config-test",
    ] {
        assert!(names.contains(&c), "{c}");
    }
    assert!(!names.contains(&"ha-heartbeat"));
    r.h.set_extra_commands(["ha-heartbeat".to_string()]);
    let a = r.reply(r#"{"command":"list-commands"}"#).answer;
    assert!(
        a.arguments
            .unwrap()
            .as_array()
            .unwrap()
            .contains(&json!("ha-heartbeat"))
    );

    let a = r.reply(r#"{"command":"version-get"}"#).answer;
    let v = format!("hakit {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(a.text.as_deref(), Some(v.as_str()));
    assert!(
        a.arguments.unwrap()["extended"]
            .as_str()
            .unwrap()
            .starts_with(&v)
    );
    let a = r.reply(r#"{"command":"build-report"}"#).answer;
    assert_eq!(a.result, 0);
    assert!(a.text.unwrap().contains("hakit"));

    r.now += Duration::from_secs(91);
    assert_eq!(
        r.text(r#"{"command":"status-get","arguments":[]}"#),
        r#"{ "arguments": { "multi-threading-enabled": false, "pid": 4242, "reload": 91, "sockets": { "status": "ready" }, "uptime": 91 }, "result": 0 }"#
    );
    // The HA layer's section, and the multi-threading keys Kea adds when MT is on.
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/kea-golden/status-get.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let want = &golden["response"][0];
    let text = CONF.replace(
        "\"valid-lifetime\": 3600,",
        "\"valid-lifetime\": 3600, \"multi-threading\": { \"enable-multi-threading\": true, \"thread-pool-size\": 2, \"packet-queue-size\": 64 },",
    );
    let cfg = config::parse_str(&text, "x").unwrap();
    let mut h = ControlHandler::new(cfg, 20582, r.now);
    h.set_high_availability(Some(want["arguments"]["high-availability"].clone()));
    let later = r.now + Duration::from_secs(4);
    let got = h.handle(
        &mut r.s,
        later,
        UNIX,
        br#"{"command":"status-get","service":["dhcp4"]}"#,
    );
    assert_eq!(got.http_text(), golden["response_raw"].as_str().unwrap());
}

#[test]
fn lease4_add_rules_and_texts() {
    let mut r = Rig::new();
    let add = |args: &str| format!(r#"{{"command":"lease4-add","arguments":{args}}}"#);
    r.expect(
        r#"{"command":"lease4-add"}"#,
        1,
        "no parameters specified for the command",
    );
    r.expect(
        &add("{}"),
        1,
        "missing parameter 'ip-address' (<wire>:0:37)",
    );
    r.expect(
        r#"{ "command" : "lease4-add" , "arguments" : {  } }"#,
        1,
        "missing parameter 'ip-address' (<wire>:0:44)",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.1"}"#),
        1,
        "missing parameter 'hw-address' (<wire>:0:37)",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.1","hw-address":"1a:1b:1c:1d:1e:1f"}"#),
        0,
        "Lease for address 192.0.2.1, subnet-id 1 added.",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.1","hw-address":"1a:1b:1c:1d:1e:1f"}"#),
        1,
        "IPv4 lease already exists.",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.2","hw-address":"1a:1b:1c:1d:1e:2f","subnet-id":2}"#),
        1,
        "The address 192.0.2.2 does not belong to subnet 198.51.100.0/24, subnet-id=2",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.2","hw-address":"1a:1b:1c:1d:1e:2f","subnet-id":7}"#),
        1,
        "Invalid subnet-id: No IPv4 subnet with subnet-id=7 currently configured.",
    );
    r.expect(
        &add(r#"{"ip-address":"203.0.113.2","hw-address":"1a:1b:1c:1d:1e:2f"}"#),
        1,
        "subnet-id not specified and failed to find a subnet for address 203.0.113.2",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.3","hw-address":"zz"}"#),
        1,
        "'z' is not a valid hexadecimal digit in decoded string 'zz'",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.6","hw-address":"1a1b1c1d1e1f"}"#),
        1,
        "invalid format of the decoded string '1a1b1c1d1e1f'",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.3","hw-address":"1a:1b:1c:1d:1e:1f","state":5}"#),
        1,
        "Invalid state value: 5, supported values are: 0 (default), 1 (declined) and 2 (expired-reclaimed)",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.4","hw-address":"1a:1b:1c:1d:1e:1f","expire":50,"valid-lft":100}"#),
        1,
        "expiration time must be greater than valid lifetime for address 192.0.2.4",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.4","hw-address":"1a:1b:1c:1d:1e:1f","user-context":3}"#),
        1,
        "Invalid user context '3' is not a JSON map.",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.5","hw-address":"1a:1b:1c:1d:1e:1f","valid-lft":"x"}"#),
        1,
        "invalid type specified for parameter 'valid-lft' (<wire>:0:107)",
    );
    r.expect(
        "{\"command\":\"lease4-add\",\n \"arguments\":\n   {\"ip-address\":\"192.0.2.5\",\n    \"hw-address\":\"1a:1b:1c:1d:1e:1f\",\n      \"valid-lft\":\"x\"}}",
        1,
        "invalid type specified for parameter 'valid-lft' (<wire>:4:19)",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.5","hw-address":"1a:1b:1c:1d:1e:1f","valid-lft":12345678901}"#),
        1,
        "out of range value (12345678901) specified for parameter 'valid-lft' (<wire>:0:107)",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.9","hw-address":"1a:1b:1c:1d:1e:1f","subnet-id":-1}"#),
        1,
        "out of range value (-1) specified for parameter 'subnet-id' (<wire>:0:107)",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.5","hw-address":"1a:1b:1c:1d:1e:1f","fqdn-fwd":1}"#),
        1,
        "invalid type specified for parameter 'fqdn-fwd' (<wire>:0:106)",
    );
    r.expect(
        &add(r#"{"ip-address":5,"hw-address":"1a:1b:1c:1d:1e:1f"}"#),
        1,
        "invalid type specified for parameter 'ip-address' (<wire>:0:50)",
    );
    r.expect(
        &add(r#"{"ip-address":"2001:db8::1","hw-address":"1a:1b:1c:1d:1e:1f"}"#),
        1,
        "Non-IPv4 address specified: 2001:db8::1",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.9","hw-address":"1a:1b:1c:1d:1e:1f","client-id":""}"#),
        1,
        "Empty DUIDs are not allowed",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.11","hw-address":"1a","client-id":"1"}"#),
        1,
        "client-id is too short (1), at least 2 is required",
    );
    r.expect(
        &add(r#"{"ip-address":"192.0.2.30","hw-address":"1a","client-id":"zz"}"#),
        1,
        "'zz' is not a valid string of hexadecimal digits",
    );
    let long = vec!["aa"; 21].join(":");
    r.expect(
        &add(&format!(
            r#"{{"ip-address":"192.0.2.30","hw-address":"{long}"}}"#
        )),
        1,
        "address vector size exceeds MAX_HWADDR_LEN",
    );
    // subnet-id 0 means "choose by address"; a cltt key is not Kea's to read.
    r.expect(
        &add(r#"{"ip-address":"192.0.2.9","hw-address":"1:b:c:d:1e:1f","subnet-id":0,"cltt":50,"hostname":"A.Example"}"#),
        0,
        "Lease for address 192.0.2.9, subnet-id 1 added.",
    );
    assert_eq!(
        r.text(r#"{"command":"lease4-get","arguments":{"ip-address":"192.0.2.9"}}"#),
        format!(
            r#"{{ "arguments": {{ "cltt": {UNIX}, "fqdn-fwd": false, "fqdn-rev": false, "hostname": "a.example", "hw-address": "01:0b:0c:0d:1e:1f", "ip-address": "192.0.2.9", "state": 0, "subnet-id": 1, "valid-lft": 3600 }}, "result": 0, "text": "IPv4 lease found." }}"#
        )
    );
    // The changes were made as control operations.
    let mut n = 0;
    while let Some(c) = r.s.poll_lease_change() {
        assert_eq!((c.kind, c.origin), (ChangeKind::Added, Origin::Control));
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn lease4_get_del_by_address_and_identifier() {
    let mut r = Rig::new();
    r.add3();
    let get = |args: &str| format!(r#"{{"command":"lease4-get","arguments":{args}}}"#);
    let del = |args: &str| format!(r#"{{"command":"lease4-del","arguments":{args}}}"#);
    r.expect(
        r#"{"command":"lease4-get"}"#,
        1,
        "Parameters missing or are not a map.",
    );
    r.expect(&get("1"), 1, "Parameters missing or are not a map.");
    r.expect(&get("{}"), 1, "Mandatory 'subnet-id' parameter missing.");
    r.expect(&get(r#"{"ip-address":"192.0.2.2"}"#), 3, "Lease not found.");
    r.expect(
        &get(r#"{"ip-address":"x"}"#),
        1,
        "Failed to convert string to address 'x': Invalid argument",
    );
    r.expect(
        &get(r#"{"ip-address":1}"#),
        1,
        "'ip-address' is not a string.",
    );
    r.expect(
        &get(r#"{"ip-address":"2001:db8::1"}"#),
        1,
        "Invalid IPv4 address specified: 2001:db8::1",
    );
    r.expect(
        &get(r#"{"identifier-type":"hw-address","identifier":"01:02"}"#),
        1,
        "Mandatory 'subnet-id' parameter missing.",
    );
    r.expect(
        &get(r#"{"identifier-type":"duid","identifier":"01:02","subnet-id":1}"#),
        1,
        "Query by duid is not allowed in v4.",
    );
    r.expect(
        &get(r#"{"identifier-type":"foo","identifier":"01:02","subnet-id":1}"#),
        1,
        "Incorrect identifier type: foo, the only supported values are: address, hw-address, duid",
    );
    r.expect(
        &get(r#"{"identifier-type":"hw-address","subnet-id":1}"#),
        1,
        "No 'ip-address' provided and 'identifier' is either missing or not a string.",
    );
    r.expect(
        &get(r#"{"identifier-type":5,"identifier":"aa","subnet-id":1}"#),
        1,
        "No 'ip-address' provided and 'identifier-type' is either missing or not a string.",
    );
    r.expect(
        &get(r#"{"identifier-type":"hw-address","identifier":"aa","subnet-id":"1"}"#),
        1,
        "'subnet-id' parameter is not integer.",
    );
    r.expect(
        &get(r#"{"identifier-type":"address","identifier":"aa","subnet-id":1}"#),
        3,
        "Lease not found.",
    );
    // By identifier: in the right subnet only.
    let want = r#"{ "arguments": { "client-id": "01:aa:bb", "cltt": 1795451982, "fqdn-fwd": false, "fqdn-rev": false, "hostname": "", "hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "198.51.100.5", "state": 0, "subnet-id": 2, "valid-lft": 3600 }, "result": 0, "text": "IPv4 lease found." }"#;
    assert_eq!(
        r.text(&get(
            r#"{"identifier-type":"hw-address","identifier":"aa:bb:cc:dd:ee:ff","subnet-id":2}"#
        )),
        want
    );
    assert_eq!(
        r.text(&get(
            r#"{"identifier-type":"client-id","identifier":"01:aa:bb","subnet-id":2}"#
        )),
        want
    );
    r.expect(
        &get(r#"{"identifier-type":"hw-address","identifier":"aa:bb:cc:dd:ee:ff","subnet-id":1}"#),
        3,
        "Lease not found.",
    );
    // The lease with a user context and client id, as Kea writes it.
    assert_eq!(
        r.text(&get(r#"{"ip-address":"192.0.2.3"}"#)),
        r#"{ "arguments": { "client-id": "01:02:03", "cltt": 1795451982, "fqdn-fwd": true, "fqdn-rev": false, "hostname": "host.example.org", "hw-address": "1a:1b:1c:1d:1e:2f", "ip-address": "192.0.2.3", "state": 0, "subnet-id": 1, "user-context": { "a": 1 }, "valid-lft": 100 }, "result": 0, "text": "IPv4 lease found." }"#
    );

    r.expect(
        r#"{"command":"lease4-del"}"#,
        1,
        "Parameters missing or are not a map.",
    );
    r.expect(&del("{}"), 1, "Mandatory 'subnet-id' parameter missing.");
    r.expect(
        &del(r#"{"identifier-type":"duid","identifier":"01:aa:bb","subnet-id":2}"#),
        1,
        "Delete by duid is not allowed in v4.",
    );
    r.expect(
        &del(r#"{"identifier-type":"hw-address","identifier":"aa:bb:cc:dd:ee:ff","subnet-id":2}"#),
        0,
        "IPv4 lease deleted.",
    );
    r.expect(
        &del(r#"{"identifier-type":"hw-address","identifier":"aa:bb:cc:dd:ee:ff","subnet-id":2}"#),
        3,
        "IPv4 lease not found.",
    );
    // By address, the subnet-id is not looked at.
    r.expect(
        &del(r#"{"ip-address":"192.0.2.1","subnet-id":2}"#),
        0,
        "IPv4 lease deleted.",
    );
    r.expect(
        &del(r#"{"ip-address":"192.0.2.1"}"#),
        3,
        "IPv4 lease not found.",
    );
    assert!(r.s.lease("192.0.2.1".parse().unwrap()).is_none());
    assert!(
        r.s.is_free("192.0.2.1".parse().unwrap())
            || r.s.subnet_of("192.0.2.1".parse().unwrap()) == Some(1)
    );
}

#[test]
fn lease4_update_and_force_create() {
    let mut r = Rig::new();
    r.add3();
    let up = |args: &str| format!(r#"{{"command":"lease4-update","arguments":{args}}}"#);
    r.expect(
        r#"{"command":"lease4-update"}"#,
        1,
        "no parameters specified for lease4-update command",
    );
    r.expect(&up("{}"), 1, "missing parameter 'ip-address' (<wire>:0:40)");
    r.expect(
        &up(r#"{"ip-address":"192.0.2.1","hw-address":"1a:1b:1c:1d:1e:1f","hostname":"new"}"#),
        0,
        "IPv4 lease updated.",
    );
    assert_eq!(
        r.s.lease("192.0.2.1".parse().unwrap()).unwrap().hostname,
        "new"
    );
    r.expect(
        &up(r#"{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f"}"#),
        1,
        "failed to update the lease with address 192.0.2.150 either because the lease has been deleted or it has changed in the database, in both cases a retry might succeed",
    );
    r.expect(
        &up(r#"{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f","force-create":true}"#),
        0,
        "IPv4 lease added.",
    );
    r.expect(
        &up(
            r#"{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f","force-create":"yes"}"#,
        ),
        1,
        "invalid type specified for parameter 'force-create' (<wire>:0:115)",
    );
    r.expect(
        &up(r#"{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f","subnet-id":2}"#),
        1,
        "The address 192.0.2.150 does not belong to subnet 198.51.100.0/24, subnet-id=2",
    );
    // expire = cltt + valid-lft.
    r.expect(
        &up(r#"{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f","expire":1795444426,"valid-lft":3600}"#),
        0,
        "IPv4 lease updated.",
    );
    assert_eq!(
        r.s.lease("192.0.2.150".parse().unwrap()).unwrap().cltt,
        1_795_444_426 - 3600
    );
}

#[test]
fn lease4_lists_pages_wipe() {
    let mut r = Rig::new();
    r.add3();
    let a = r.expect(
        r#"{"command":"lease4-get-all"}"#,
        0,
        "3 IPv4 lease(s) found.",
    );
    let ips: Vec<&str> = a.arguments.as_ref().unwrap()["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ip-address"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["192.0.2.1", "192.0.2.3", "198.51.100.5"]);
    let a = r.expect(
        r#"{"command":"lease4-get-all","arguments":{"subnets":[2]}}"#,
        0,
        "1 IPv4 lease(s) found.",
    );
    assert_eq!(
        a.arguments.unwrap()["leases"][0]["ip-address"],
        "198.51.100.5"
    );
    assert_eq!(
        r.text(r#"{"command":"lease4-get-all","arguments":{"subnets":[3]}}"#),
        r#"{ "arguments": { "leases": [  ] }, "result": 3, "text": "0 IPv4 lease(s) found." }"#
    );
    r.expect(
        r#"{"command":"lease4-get-all","arguments":{"subnets":2}}"#,
        1,
        "'subnets' parameter must be a list",
    );
    r.expect(
        r#"{"command":"lease4-get-all","arguments":{"subnets":["x"]}}"#,
        1,
        "listed subnet identifiers must be numbers",
    );
    r.expect(
        r#"{"command":"lease4-get-all","arguments":{}}"#,
        1,
        "'subnets' parameter not specified",
    );
    r.expect(
        r#"{"command":"lease4-get-all","arguments":1}"#,
        1,
        "get(string) called on a non-map Element in (<wire>:0:40)",
    );

    let page = |args: &str| format!(r#"{{"command":"lease4-get-page","arguments":{args}}}"#);
    r.expect(
        r#"{"command":"lease4-get-page"}"#,
        1,
        "no parameters specified for the lease4-get-page command",
    );
    r.expect(&page("{}"), 1, "'from' parameter not specified");
    r.expect(
        &page(r#"{"from":"start"}"#),
        1,
        "'limit' parameter not specified",
    );
    r.expect(
        &page(r#"{"from":"x","limit":2}"#),
        1,
        "'from' parameter value is neither 'start' keyword nor a valid IPv4 address",
    );
    r.expect(
        &page(r#"{"from":1,"limit":2}"#),
        1,
        "'from' parameter must be a string",
    );
    r.expect(
        &page(r#"{"from":"start","limit":0}"#),
        1,
        "page size of retrieved leases must not be 0",
    );
    r.expect(
        &page(r#"{"from":"start","limit":"2"}"#),
        1,
        "'limit' parameter must be a number",
    );
    r.expect(
        &page(r#"{"from":"start","limit":-1}"#),
        1,
        "page size of retrieved leases must not be greater than 4294967295",
    );
    r.expect(
        &page(r#"{"from":"start","limit":5000000000}"#),
        1,
        "page size of retrieved leases must not be greater than 4294967295",
    );
    r.expect(
        &page(r#"{"from":"2001:db8::1","limit":2}"#),
        1,
        "'from' parameter value 2001:db8::1 is not an IPv4 address",
    );
    let a = r.expect(
        &page(r#"{"from":"start","limit":2}"#),
        0,
        "2 IPv4 lease(s) found.",
    );
    assert_eq!(a.arguments.as_ref().unwrap()["count"], 2);
    let a = r.expect(
        &page(r#"{"from":"192.0.2.3","limit":2}"#),
        0,
        "1 IPv4 lease(s) found.",
    );
    assert_eq!(
        a.arguments.unwrap()["leases"][0]["ip-address"],
        "198.51.100.5"
    );
    assert_eq!(
        r.text(&page(r#"{"from":"255.255.255.255","limit":2}"#)),
        r#"{ "arguments": { "count": 0, "leases": [  ] }, "result": 3, "text": "0 IPv4 lease(s) found." }"#
    );

    r.expect(
        r#"{"command":"lease4-get-by-hw-address","arguments":{"hw-address":"aa:bb:cc:dd:ee:ff"}}"#,
        0,
        "1 IPv4 lease(s) found.",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hw-address","arguments":{"hw-address":""}}"#,
        3,
        "0 IPv4 lease(s) found.",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hw-address","arguments":1}"#,
        1,
        "Command arguments missing or a not a map.",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hw-address","arguments":{"hw-address":" "}}"#,
        1,
        "' ' is not a valid hexadecimal digit in decoded string ' '",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hw-address","arguments":{"hw-address":0}}"#,
        1,
        "'hw-address' parameter must be a string",
    );
    r.expect(
        r#"{"command":"lease4-get-by-client-id","arguments":{"client-id":"01:aa:bb"}}"#,
        0,
        "1 IPv4 lease(s) found.",
    );
    r.expect(
        r#"{"command":"lease4-get-by-client-id","arguments":{}}"#,
        1,
        "'client-id' parameter not specified",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hostname","arguments":{"hostname":"HOST.example.org"}}"#,
        0,
        "1 IPv4 lease(s) found.",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hostname","arguments":{"hostname":""}}"#,
        1,
        "'hostname' parameter is empty",
    );
    r.expect(
        r#"{"command":"lease4-get-by-hostname","arguments":{"hostname":0}}"#,
        1,
        "'hostname' parameter must be a string",
    );

    r.expect(
        r#"{"command":"lease4-wipe","arguments":{"subnet-id":9}}"#,
        3,
        "Deleted 0 IPv4 lease(s) from subnet(s) 9",
    );
    r.expect(
        r#"{"command":"lease4-wipe","arguments":{"subnet-id":"x"}}"#,
        1,
        "invalid type specified for parameter 'subnet-id' (<wire>:0:50)",
    );
    r.expect(
        r#"{"command":"lease4-wipe","arguments":1}"#,
        1,
        "contains(string) called on a non-map Element in (<wire>:0:37)",
    );
    r.expect(
        r#"{"command":"lease4-wipe","arguments":{"subnet-id":2}}"#,
        0,
        "Deleted 1 IPv4 lease(s) from subnet(s) 2",
    );
    r.expect(
        r#"{"command":"lease4-wipe"}"#,
        0,
        "Deleted 2 IPv4 lease(s) from subnet(s) 1 2",
    );
    r.expect(
        r#"{"command":"lease4-wipe","arguments":{}}"#,
        3,
        "Deleted 0 IPv4 lease(s) from subnet(s) 1 2",
    );
    assert!(r.s.store().is_empty());
    r.expect(
        r#"{"command":"lease4-resend-ddns","arguments":{"ip-address":"192.0.2.1"}}"#,
        1,
        "DDNS updating is not enabled",
    );
}

#[test]
fn statistics_commands() {
    let mut r = Rig::new();
    assert_eq!(kea_timestamp(UNIX, 0), "2026-11-23 16:39:42.000000");
    assert_eq!(
        r.text(r#"{"command":"statistic-get","arguments":{"name":"subnet[1].total-addresses"}}"#),
        r#"{ "arguments": { "subnet[1].total-addresses": [ [ 191, "2026-11-23 16:39:42.000000" ] ] }, "result": 0 }"#
    );
    assert_eq!(
        r.text(r#"{"command":"statistic-get","arguments":{"name":"nope"}}"#),
        r#"{ "arguments": {  }, "result": 0 }"#
    );
    r.expect(
        r#"{"command":"statistic-get"}"#,
        1,
        "Missing mandatory 'name' parameter.",
    );
    r.expect(
        r#"{"command":"statistic-get","arguments":{"name":1}}"#,
        1,
        "'name' parameter expected to be a string.",
    );
    // A reset stamps the statistic with the reset time and counts from zero.
    let later = UNIX + 10;
    let a =
        r.h.handle(
            &mut r.s,
            r.now,
            later,
            br#"{"command":"statistic-reset","arguments":{"name":"subnet[1].total-addresses"}}"#,
        )
        .answer;
    assert_eq!(
        a.text.as_deref(),
        Some("Statistic 'subnet[1].total-addresses' reset.")
    );
    assert_eq!(
        r.text(r#"{"command":"statistic-get","arguments":{"name":"subnet[1].total-addresses"}}"#),
        r#"{ "arguments": { "subnet[1].total-addresses": [ [ 0, "2026-11-23 16:39:52.000000" ] ] }, "result": 0 }"#
    );
    r.expect(
        r#"{"command":"statistic-reset","arguments":{"name":"nope"}}"#,
        1,
        "No 'nope' statistic found",
    );
    r.expect(
        r#"{"command":"statistic-remove","arguments":{"name":"subnet[1].total-addresses"}}"#,
        0,
        "Statistic 'subnet[1].total-addresses' removed.",
    );
    r.expect(
        r#"{"command":"statistic-remove","arguments":{"name":"subnet[1].total-addresses"}}"#,
        1,
        "No 'subnet[1].total-addresses' statistic found",
    );
    // Leases added count in the gauges, from the reset.
    r.add3();
    let all = r
        .reply(r#"{"command":"statistic-get-all","arguments":{"x":1}}"#)
        .answer;
    assert_eq!((all.result, all.text.as_deref()), (0, None));
    let m = all.arguments.unwrap();
    let m = m.as_object().unwrap();
    assert!(!m.contains_key("subnet[1].total-addresses"));
    assert_eq!(m["subnet[1].assigned-addresses"][0][0], 2);
    assert_eq!(m["subnet[2].assigned-addresses"][0][0], 1);
    assert_eq!(m["pkt4-received"][0][0], 0);
    let names: Vec<&String> = m.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "Kea lists statistics in name order");
    r.expect(
        r#"{"command":"statistic-reset-all","arguments":{"x":1}}"#,
        0,
        "All statistics reset to neutral values.",
    );
    assert_eq!(
        r.text(
            r#"{"command":"statistic-get","arguments":{"name":"subnet[1].assigned-addresses"}}"#
        ),
        r#"{ "arguments": { "subnet[1].assigned-addresses": [ [ 0, "2026-11-23 16:39:42.000000" ] ] }, "result": 0 }"#
    );
    r.expect(
        r#"{"command":"statistic-remove-all"}"#,
        0,
        "All statistics removed.",
    );
    let all = r.reply(r#"{"command":"statistic-get-all"}"#).answer;
    assert_eq!(all.arguments.unwrap(), json!({}));
}

#[test]
fn dhcp_disable_enable_and_max_period() {
    let mut r = Rig::new();
    let t0 = r.now;
    assert!(r.h.is_enabled(t0));
    r.expect(
        r#"{"command":"dhcp-disable"}"#,
        0,
        "DHCPv4 service disabled",
    );
    assert!(!r.h.is_enabled(t0));
    assert_eq!(r.h.poll_timeout(), None);
    r.expect(
        r#"{"command":"dhcp-enable"}"#,
        0,
        "DHCP service successfully enabled",
    );
    assert!(r.h.is_enabled(t0));
    r.expect(
        r#"{"command":"dhcp-disable","arguments":{"max-period":0}}"#,
        1,
        "'max-period' must be positive integer",
    );
    r.expect(
        r#"{"command":"dhcp-disable","arguments":{"max-period":-5}}"#,
        1,
        "'max-period' must be positive integer",
    );
    r.expect(
        r#"{"command":"dhcp-disable","arguments":{"max-period":"x"}}"#,
        1,
        "'max-period' argument must be a number",
    );
    r.expect(
        r#"{"command":"dhcp-disable","arguments":{"origin":"foo"}}"#,
        1,
        "invalid value used for 'origin' parameter: foo",
    );
    r.expect(
        r#"{"command":"dhcp-disable","arguments":{"origin":5}}"#,
        1,
        "'origin' argument must be a string",
    );
    r.expect(
        r#"{"command":"dhcp-disable","arguments":1}"#,
        1,
        "arguments for the 'dhcp-disable' command must be a map",
    );
    r.expect(
        r#"{"command":"dhcp-enable","arguments":1}"#,
        1,
        "arguments for the 'dhcp-enable' command must be a map",
    );
    r.expect(
        r#"{"command":"dhcp-enable","arguments":{"origin":"x"}}"#,
        1,
        "invalid value used for 'origin' parameter: x",
    );
    assert!(r.h.is_enabled(t0), "refused commands change nothing");
    // The golden HA exchange: the partner disables us for 60 s.
    let golden = r#"{ "arguments": { "max-period": 60, "origin": "ha-partner" }, "command": "dhcp-disable", "service": [ "dhcp4" ] }"#;
    assert_eq!(
        r.reply(golden).http_text(),
        r#"[ { "result": 0, "text": "DHCPv4 service disabled for 60 seconds" } ]"#
    );
    assert_eq!(r.h.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    // A user disabling too: enabling one origin leaves the service off.
    r.expect(
        r#"{"command":"dhcp-disable","arguments":{"origin":"user"}}"#,
        0,
        "DHCPv4 service disabled",
    );
    r.expect(
        r#"{"command":"dhcp-enable","arguments":{"origin":"ha-partner"}}"#,
        0,
        "DHCP service successfully enabled",
    );
    assert!(!r.h.is_enabled(t0));
    // max-period ends every origin's disabling.
    assert!(!r.h.is_enabled(t0 + Duration::from_secs(59)));
    assert!(r.h.is_enabled(t0 + Duration::from_secs(60)));
    r.h.handle_timeout(t0 + Duration::from_secs(60));
    assert!(r.h.is_enabled(t0));
    assert_eq!(r.h.poll_timeout(), None);
    assert_eq!(
        r.reply(
            r#"{"command":"dhcp-enable","service":["dhcp4"],"arguments":{"origin":"ha-partner"}}"#
        )
        .http_text(),
        r#"[ { "result": 0, "text": "DHCP service successfully enabled" } ]"#
    );
}

#[test]
fn config_get_test_write_shutdown() {
    let mut r = Rig::new();
    let a = r.reply(r#"{"command":"config-get"}"#).answer;
    assert_eq!((a.result, a.text.as_deref()), (0, None));
    let conf = a.arguments.unwrap();
    assert_eq!(conf["Dhcp4"]["valid-lifetime"], 3600);
    assert_eq!(conf["Dhcp4"]["subnet4"][1]["subnet"], "198.51.100.0/24");
    assert_eq!(conf.as_object().unwrap().len(), 1);

    r.expect(
        r#"{"command":"config-test"}"#,
        1,
        "Missing mandatory 'arguments' parameter.",
    );
    r.expect(
        r#"{"command":"config-test","arguments":{}}"#,
        1,
        "Missing mandatory 'Dhcp4' parameter.",
    );
    r.expect(
        r#"{"command":"config-test","arguments":1}"#,
        1,
        "Error during command processing: get(string) called on a non-map Element in (<wire>:0:37)",
    );
    r.expect(
        r#"{"command":"config-test","arguments":{"Dhcp6":{}}}"#,
        1,
        "Missing mandatory 'Dhcp4' parameter.",
    );
    r.expect(
        r#"{"command":"config-test","arguments":{"Dhcp4":1}}"#,
        1,
        "'Dhcp4' parameter expected to be a map.",
    );
    r.expect(
        r#"{"command":"config-test","arguments":{"Dhcp4":{}, "Control-agent":{}}}"#,
        1,
        "Unsupported 'Control-agent' parameter.",
    );
    r.expect(
        r#"{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"192.0.2.0/24"}]}}}"#,
        0,
        CONFIG_SANE,
    );
    r.expect(
        r#"{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"192.0.2.0/24","pools":[{"pool":"192.0.3.1-192.0.3.5"}]}]}}}"#,
        1,
        "subnet configuration failed: a pool of type V4, with the following address range: 192.0.3.1-192.0.3.5 does not match the prefix of a subnet: 192.0.2.0/24 to which it is being added (<wire>:0:59)",
    );
    r.expect(
        r#"{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"192.0.2.0/24"},{"id":1,"subnet":"198.51.100.0/24"}]}}}"#,
        1,
        "ID of the new IPv4 subnet '1' is already in use (<wire>:0:92)",
    );
    // config-test changes nothing.
    let again = r
        .reply(r#"{"command":"config-get"}"#)
        .answer
        .arguments
        .unwrap();
    assert_eq!(again, conf);

    r.expect(
        r#"{"command":"config-write"}"#,
        1,
        "Unable to determine filename. Please specify filename explicitly.",
    );
    r.expect(
        r#"{"command":"config-write","arguments":{"filename":5}}"#,
        1,
        "passed parameter 'filename' is not a string",
    );
    r.h.set_config_path("/etc/kea/kea-dhcp4.conf");
    let w = r.reply(r#"{"command":"config-write"}"#);
    let Action::WriteConfig { path, contents } = &w.action else {
        panic!("{w:?}");
    };
    assert_eq!(path, "/etc/kea/kea-dhcp4.conf");
    let back: Value = serde_json::from_str(contents).unwrap();
    assert_eq!(back, conf);
    assert_eq!(
        w.socket_text(),
        format!(
            r#"{{ "arguments": {{ "filename": "/etc/kea/kea-dhcp4.conf", "size": {} }}, "result": 0, "text": "Configuration written to /etc/kea/kea-dhcp4.conf successful" }}"#,
            contents.len()
        )
    );
    assert_eq!(
        Reply::config_write_failed("/nonexistent/x.json")
            .text
            .as_deref(),
        Some("Error during write-config:Unable to open file /nonexistent/x.json for writing")
    );
    // The written text reads back as the same configuration.
    let reread = config::parse_str(contents, "w").unwrap();
    let (a, b) = (&reread.dhcp4, &r.h.config().dhcp4);
    assert_eq!(a.timers, b.timers);
    let shape = |d: &config::Dhcp4| -> Vec<_> {
        d.subnets
            .iter()
            .map(|s| {
                let pools: Vec<_> = s.pools.iter().map(|p| (p.first, p.last)).collect();
                (s.id, s.prefix, s.len, pools)
            })
            .collect()
    };
    assert_eq!(shape(a), shape(b));

    r.expect(
        r#"{"command":"shutdown","arguments":{"exit-value":"x"}}"#,
        1,
        "parameter 'exit-value' is not an integer",
    );
    r.expect(
        r#"{"command":"shutdown","arguments":1}"#,
        1,
        "Argument must be a map",
    );
    let s = r.reply(r#"{"command":"shutdown","arguments":{"exit-value":3}}"#);
    assert_eq!(
        s.socket_text(),
        r#"{ "result": 0, "text": "Shutting down." }"#
    );
    assert_eq!(s.action, Action::Shutdown { exit_value: 3 });
    assert_eq!(
        r.reply(r#"{"command":"shutdown"}"#).action,
        Action::Shutdown { exit_value: 0 }
    );
}

/// The golden lease exchanges between two Kea partners, replayed into a hakit server.
#[test]
fn golden_lease_exchanges() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kea-golden");
    let load = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap())
            .unwrap()
    };
    let conf = r#"{ "Dhcp4": { "valid-lifetime": 3600,
        "subnet4": [ { "id": 1, "subnet": "198.18.0.0/15", "pools": [ { "pool": "198.18.0.10 - 198.19.255.250" } ] } ] } }"#;
    let cfg = config::parse_str(conf, "x").unwrap();
    let now = Instant::now();
    let mut s = Server::new(&cfg.dhcp4, now, UNIX).unwrap();
    let mut h = ControlHandler::new(cfg, 1, now);
    let run = |h: &mut ControlHandler, name: &str, s: &mut Server| {
        let g = load(name);
        let req = g["request_raw"].as_str().unwrap();
        let reply = h.handle_from(s, now, UNIX, req.as_bytes(), Origin::Partner);
        (reply, g)
    };
    // Empty page first.
    let (reply, g) = run(&mut h, "lease4-get-page-empty", &mut s);
    assert_eq!(reply.http_text(), g["response_raw"].as_str().unwrap());
    // The update adds the lease; a second identical one updates it.
    let (reply, g) = run(&mut h, "lease4-update", &mut s);
    assert_eq!(reply.http_text(), g["response_raw"].as_str().unwrap());
    let c = s.poll_lease_change().unwrap();
    assert_eq!((c.kind, c.origin), (ChangeKind::Added, Origin::Partner));
    let (reply, _) = run(&mut h, "lease4-update", &mut s);
    assert_eq!(reply.answer.text.as_deref(), Some("IPv4 lease updated."));
    // The lease reads back in the get-page form the partner would get.
    let lease = Request::from_json(
        load("lease4-update")["request_raw"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap()
    .arguments
    .unwrap();
    let got = h.handle(
        &mut s,
        now,
        UNIX,
        br#"{"command":"lease4-get","arguments":{"ip-address":"198.18.0.10"}}"#,
    );
    let got = got.answer.arguments.unwrap();
    assert_eq!(
        got["cltt"].as_u64().unwrap() + got["valid-lft"].as_u64().unwrap(),
        lease["expire"].as_u64().unwrap()
    );
    for k in [
        "client-id",
        "hw-address",
        "hostname",
        "fqdn-fwd",
        "fqdn-rev",
        "state",
        "subnet-id",
    ] {
        assert_eq!(got[k], lease[k], "{k}");
    }
    // The delete of a lease we do not have is "not found" (result 3, success for HA).
    let (reply, _) = run(&mut h, "lease4-del", &mut s);
    assert_eq!(
        reply.http_text(),
        r#"[ { "result": 3, "text": "IPv4 lease not found." } ]"#
    );
    // Page with every lease of the non-empty capture: add them, then page them back.
    let g = load("lease4-get-page-nonempty");
    let leases = g["response"][0]["arguments"]["leases"].as_array().unwrap();
    for l in leases {
        let mut args = l.clone();
        args["expire"] = json!(l["cltt"].as_u64().unwrap() + l["valid-lft"].as_u64().unwrap());
        args.as_object_mut().unwrap().remove("cltt");
        args["force-create"] = json!(true);
        let body = json!({"command": "lease4-update", "arguments": args}).to_string();
        let r = h.handle(&mut s, now, UNIX, body.as_bytes());
        assert!(r.answer.is_success(), "{body}: {:?}", r.answer);
    }
    let req = g["request_raw"].as_str().unwrap();
    let reply = h.handle(&mut s, now, UNIX, req.as_bytes());
    assert_eq!(reply.answer.to_value(), g["response"][0]);
}
