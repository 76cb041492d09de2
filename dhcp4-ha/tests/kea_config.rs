//! The kea-dhcp4.conf reader against Kea 2.2 itself: the sample configurations (what
//! `kea-dhcp4 -t` said about each, recorded below), Kea's error texts and positions for each
//! error kind (recorded from `kea-dhcp4 -t` on the same inputs), comments, includes, limits, a
//! proptest (arbitrary text never panics; generated configurations read back with their
//! values) and the fuzz corpus replay.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dhcp4_ha::config::{
    self, ConfigError, ErrorKind, HookKind, HostId, SocketType, json::MAX_DEPTH, parse, parse_str,
};
use proptest::prelude::*;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kea4");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/kea_dhcp4_conf");

/// Kea's verdict (`kea-dhcp4 -t`, Kea 2.2.0 on Debian 12) and ours, per sample. `None` for
/// ours: accepted. `Some((key, line))`: refused as unsupported, naming `key` at `line`.
/// Kea's verdict: `ok`, or why it failed on this machine (`hook path`, `interface`: reasons of
/// the machine, not of the configuration).
/// (sample, Kea's verdict, ours).
type Row = (&'static str, &'static str, Option<(&'static str, u32)>);

const SAMPLES: &[Row] = &[
    ("advanced.json", "ok", Some(("option-def", 69))),
    (
        "all-keys-netconf.json",
        "hook path",
        Some(("boot-file-name", 20)),
    ),
    ("all-keys.json", "hook path", Some(("boot-file-name", 20))),
    ("all-options.json", "ok", Some(("option-data", 559))),
    ("backends.json", "ok", None),
    ("classify.json", "interface", Some(("client-classes", 20))),
    ("classify2.json", "interface", Some(("client-classes", 21))),
    ("comments.json", "ok", Some(("option-def", 17))),
    (
        "config-backend.json",
        "hook path",
        Some(("config-control", 28)),
    ),
    ("dhcpv4-over-dhcpv6.json", "ok", Some(("4o6-interface", 24))),
    ("global-reservations.json", "ok", Some(("reservations", 71))),
    (
        "ha-load-balancing-primary.json",
        "hook path",
        Some(("client-classes", 42)),
    ),
    ("hooks-radius.json", "interface", Some(("option-def", 88))),
    ("hooks.json", "hook path", Some(("hooks-libraries", 37))),
    ("leases-expiration.json", "ok", None),
    ("multiple-options.json", "ok", None),
    (
        "mysql-reservations.json",
        "ok",
        Some(("hosts-database", 58)),
    ),
    (
        "pgsql-reservations.json",
        "ok",
        Some(("hosts-databases", 59)),
    ),
    ("reservations.json", "ok", Some(("duid", 111))),
    ("several-subnets.json", "ok", None),
    (
        "shared-network.json",
        "interface",
        Some(("shared-networks", 36)),
    ),
    ("single-subnet.json", "ok", None),
    ("vendor-specific.json", "ok", Some(("option-def", 6))),
    ("vivso.json", "ok", Some(("option-def", 11))),
    ("with-ddns.json", "ok", Some(("dhcp-ddns", 45))),
];

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

#[test]
fn kea_sample_table() {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let listed: Vec<&str> = SAMPLES.iter().map(|s| s.0).collect();
    assert_eq!(names, listed, "every sample has a row");
    for &(name, kea, ours) in SAMPLES {
        let result = parse_str(&sample(name), name);
        match (ours, result) {
            (None, Ok(_)) => assert_ne!(kea, "interface", "{name}"),
            (Some((key, line)), Err(e)) => {
                assert_eq!(e.kind, ErrorKind::Unsupported, "{name}: {e}");
                assert_eq!(e.key.as_deref(), Some(key), "{name}: {e}");
                let span = e.span.as_ref().unwrap();
                assert_eq!(span.line, line, "{name}: {e}");
                let text = e.to_string();
                assert!(text.starts_with(&format!("{name}:{line}.")), "{text}");
                assert!(text.contains("not supported") || text.contains("cannot be"));
            }
            (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn single_subnet_values() {
    let c = parse_str(&sample("single-subnet.json"), "single-subnet.json").unwrap();
    let d = &c.dhcp4;
    assert_eq!(d.interfaces_config.interfaces, ["eth0"]);
    assert_eq!(d.lease_database.lfc_interval, Some(3600));
    assert_eq!(d.timers.valid_lifetime, Some(4000));
    assert_eq!(d.timers.renew_timer, None, "commented out in the sample");
    assert_eq!(d.subnets.len(), 1);
    let s = &d.subnets[0];
    assert_eq!(
        (s.id, s.prefix, s.len),
        (1, Ipv4Addr::new(192, 0, 2, 0), 24)
    );
    assert_eq!(s.pools[0].first, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(s.pools[0].last, Ipv4Addr::new(192, 0, 2, 200));
    assert_eq!(s.interface.as_deref(), Some("eth0"));
    assert_eq!(d.loggers[0].name, "kea-dhcp4");
    assert_eq!(d.loggers[0].output_options[0].output, "stdout");
    assert!(c.warnings.is_empty());
}

#[test]
fn multiple_options_and_several_subnets() {
    let c = parse_str(&sample("multiple-options.json"), "m.json").unwrap();
    let opts = &c.dhcp4.subnets[0].option_data;
    assert!(!opts.is_empty());
    let routers = opts.iter().find(|o| o.code == 3).expect("routers");
    assert_eq!(routers.name, Some("routers"));
    let c = parse_str(&sample("several-subnets.json"), "s.json").unwrap();
    let ids: Vec<u32> = c.dhcp4.subnets.iter().map(|s| s.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "ids unique: {ids:?}");
}

/// The hot-standby configuration of the reference (kea-ha.md §5), accepted by Kea 2.2.
const HOT_STANDBY: &str = r#"{"Dhcp4": {"interfaces-config": {"interfaces": ["eth1"], "dhcp-socket-type": "raw"},
 "control-socket": {"socket-type": "unix", "socket-name": "/var/lib/kea/ctrl.sock"},
 "lease-database": {"type": "memfile", "persist": true, "name": "/var/lib/kea/kea-leases4.csv", "lfc-interval": 3600},
 "multi-threading": {"enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64},
 "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
 "hooks-libraries": [{"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"},
  {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so", "parameters": {"high-availability": [{
    "this-server-name": "server1", "mode": "hot-standby", "heartbeat-delay": 1000, "max-response-delay": 3000,
    "max-ack-delay": 1000, "max-unacked-clients": 0, "sync-page-limit": 10000,
    "multi-threading": {"enable-multi-threading": true, "http-dedicated-listener": true,
                        "http-listener-threads": 2, "http-client-threads": 2},
    "peers": [{"name": "server1", "url": "http://198.51.100.1:8001/", "role": "primary", "auto-failover": true},
              {"name": "server2", "url": "http://198.51.100.2:8001/", "role": "standby", "auto-failover": true}]}]}}],
 "subnet4": [{"id": 1, "subnet": "198.18.0.0/15", "pools": [{"pool": "198.18.0.10 - 198.19.255.250"}],
   "relay": {"ip-addresses": ["198.51.100.100"]}, "option-data": [{"name": "routers", "data": "198.18.0.1"}]}],
 "loggers": [{"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "/var/lib/kea/kea.log"}]}]}}"#;

#[test]
fn hot_standby_reference_config() {
    let c = parse_str(HOT_STANDBY, "hs.json").unwrap();
    let d = &c.dhcp4;
    assert_eq!(d.interfaces_config.dhcp_socket_type, SocketType::Raw);
    assert_eq!(
        d.control_socket.as_ref().unwrap().socket_name,
        "/var/lib/kea/ctrl.sock"
    );
    assert_eq!(d.lease_database.persist, Some(true));
    assert_eq!(
        d.lease_database.name.as_deref(),
        Some("/var/lib/kea/kea-leases4.csv")
    );
    assert_eq!(d.multi_threading.thread_pool_size, Some(2));
    assert_eq!(d.multi_threading.packet_queue_size, Some(64));
    assert_eq!(d.hooks_libraries[0].kind, HookKind::LeaseCmds);
    let ha = d.ha_hook().unwrap();
    let params = ha.parameters.as_ref().unwrap();
    let ha0 = &params.get("high-availability").unwrap().as_list().unwrap()[0];
    assert_eq!(ha0.get("mode").unwrap().as_str(), Some("hot-standby"));
    assert_eq!(ha0.get("heartbeat-delay").unwrap().as_i64(), Some(1000));
    let span = &ha0.get("mode").unwrap().span;
    assert_eq!((span.line, span.col), (8, 44));
    let s = &d.subnets[0];
    assert_eq!(s.relay, [Ipv4Addr::new(198, 51, 100, 100)]);
    assert_eq!(s.pools[0].last, Ipv4Addr::new(198, 19, 255, 250));
    assert_eq!(s.option_data[0].data, [198, 18, 0, 1]);
    let t = d.timers_for(s);
    assert_eq!(
        (t.valid_lifetime, t.renew_timer, t.rebind_timer),
        (Some(3600), Some(900), Some(1800))
    );
}

fn err(text: &str) -> ConfigError {
    parse_str(text, "a.json").expect_err("must be refused")
}

fn msg(text: &str) -> String {
    err(text).to_string()
}

/// The messages below are `kea-dhcp4 -t`'s for the same input (after "Syntax check failed
/// with: " / "Error encountered: "), unless noted.
#[test]
fn kea_messages_unknown_and_types() {
    let a = "{\n  \"Dhcp4\": {\n    \"valid-lifetime\": 4000,\n    \"subnet4\": [ { \"id\": 1, \"subnet\": \"192.0.2.0/33\",\n      \"reservatoins\": [] } ]\n  }\n}\n";
    let e = err(a);
    assert_eq!(e.kind, ErrorKind::UnknownKeyword);
    assert_eq!(
        e.to_string(),
        "a.json:5.7-20: got unexpected keyword \"reservatoins\" in subnet4 map."
    );
    let cases = [
        (
            r#"{"Dhcp4": {"valid-lifetime": 4000, "Foo": 1}}"#,
            "a.json:1.36-40: got unexpected keyword \"Foo\" in Dhcp4 map.",
        ),
        (
            r#"{"Dhcp4": {"lease-database": {"type": "memfile", "foo": 1}}}"#,
            "a.json:1.50-54: got unexpected keyword \"foo\" in lease-database map.",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "pools": [{"pool": "10.0.0.1 - 10.0.0.9", "foo": 1}]}]}}"#,
            "a.json:1.100-104: got unexpected keyword \"foo\" in pools map.",
        ),
        (
            r#"{"Dhcp4": {"option-data": [{"name": "routers", "data": "1.2.3.4", "never-send": true}]}}"#,
            "a.json:1.67-78: got unexpected keyword \"never-send\" in option-data map.",
        ),
        (
            r#"{"Dhcp4": {"multi-threading": {"foo": 1}}}"#,
            "a.json:1.32-36: got unexpected keyword \"foo\" in multi-threading map.",
        ),
        (
            r#"{"Dhcp4": {"control-socket": {"foo": 1}}}"#,
            "a.json:1.31-35: got unexpected keyword \"foo\" in control-socket map.",
        ),
        (
            r#"{"Dhcp4": {"interfaces-config": {"foo": 1}}}"#,
            "a.json:1.34-38: got unexpected keyword \"foo\" in interfaces-config map.",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "relay": {"foo": 1}}]}}"#,
            "a.json:1.68-72: syntax error, unexpected constant string, expecting ip-address or ip-addresses",
        ),
        (
            "{\n  \"Dhcp4\": {\n    \"valid-lifetime\": \"x\",\n    \"subnet4\": [ { \"id\": 1, \"subnet\": \"192.0.2.0/33\" } ]\n  }\n}\n",
            "a.json:3.23-25: syntax error, unexpected constant string, expecting integer",
        ),
        (
            r#"{"Dhcp4": {"subnet4": 5}}"#,
            "a.json:1.23: syntax error, unexpected integer, expecting [",
        ),
        (
            r#"{"Dhcp4": {"interfaces-config": "x"}}"#,
            "a.json:1.33-35: syntax error, unexpected constant string, expecting {",
        ),
        (
            r#"{"Dhcp4": {"valid-lifetime": true}}"#,
            "a.json:1.30-33: syntax error, unexpected boolean, expecting integer",
        ),
        (
            r#"{"Dhcp4": {"valid-lifetime": 1.5}}"#,
            "a.json:1.30-32: syntax error, unexpected floating point, expecting integer",
        ),
        (
            r#"{"Dhcp4": {"valid-lifetime": null}}"#,
            "a.json:1.30-33: syntax error, unexpected null, expecting integer",
        ),
        (
            r#"{"Dhcp4": {"lease-database": {"persist": 1}}}"#,
            "a.json:1.42: syntax error, unexpected integer, expecting boolean",
        ),
        (
            r#"{"Dhcp4": {"lease-database": {"type": "foo"}}}"#,
            "a.json:1.39-43: syntax error, unexpected constant string, expecting memfile or mysql or postgresql",
        ),
        (
            r#"{"Dhcp4": {"interfaces-config": {"dhcp-socket-type": "foo"}}}"#,
            "a.json:1.54-58: syntax error, unexpected constant string, expecting raw or udp",
        ),
        (
            r#"{"Dhcp4": {"valid-lifetime": 4 "x": 1}}"#,
            "a.json:1.32-34: syntax error, unexpected constant string, expecting \",\" or }",
        ),
        (
            "{\"Dhcp4\": {\"valid-lifetime\": 4}\n",
            "a.json:2.1: syntax error, unexpected end of file, expecting \",\" or }",
        ),
        (
            "[]\n",
            "a.json:1.1: syntax error, unexpected [, expecting {",
        ),
        (
            r#"{"Foo": 1, "Dhcp4": {"valid-lifetime": 4000}}"#,
            "a.json:1.2-6: syntax error, unexpected constant string, expecting Dhcp4",
        ),
        (
            r#"{"Dhcp4": {"valid-lifetime": 4}} x"#,
            "a.json:1.34: Invalid character: x",
        ),
        (
            r#"{"Dhcp4": {"valid-lifetime": 4, "valid-lifetime": 5}}"#,
            "a.json:1:33: duplicate valid-lifetime entries in Dhcp4 map (previous at a.json:1:30)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"id": 1}]}}"#,
            "a.json:1.24: missing parameter 'subnet' (a.json:1:24) [subnet4 map between a.json:1:24 and a.json:1:32]",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(msg(input), want, "input: {input}");
    }
}

#[test]
fn kea_messages_semantic() {
    let cases = [
        (
            "{\n  \"Dhcp4\": {\n    \"valid-lifetime\": 4000,\n    \"subnet4\": [ { \"id\": 1, \"subnet\": \"192.0.2.0/33\" } ]\n  }\n}\n",
            "subnet configuration failed: Invalid prefix length specified for subnet: 33 (a.json:4:39)",
        ),
        (
            "{\n  \"Dhcp4\": {\n    \"valid-lifetime\": 4000,\n    \"subnet4\": [ { \"id\": 1, \"subnet\": \"192.0.2.0/24\",\n       \"pools\": [ { \"pool\": \"192.0.3.10 - 192.0.3.20\" } ] } ]\n  }\n}\n",
            "subnet configuration failed: a pool of type V4, with the following address range: 192.0.3.10-192.0.3.20 does not match the prefix of a subnet: 192.0.2.0/24 to which it is being added (a.json:4:18)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1}, {"subnet": "11.0.0.0/8", "id": 1}]}}"#,
            "ID of the new IPv4 subnet '1' is already in use (a.json:1:59)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1}, {"subnet": "10.0.0.0/8", "id": 2}]}}"#,
            "subnet with the prefix of '10.0.0.0/8' already exists (a.json:1:59)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "pools": [{"pool": "10.0.0.1 - 10.0.0.0"}]}]}}"#,
            "Failed to create pool defined by: 10.0.0.1-10.0.0.0 (a.json:1:77)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "pools": [{"pool": "10.0.0.1-10.0.0.5"},{"pool": "10.0.0.4/30"}]}]}}"#,
            "subnet configuration failed: a pool of type V4, with the following address range: 10.0.0.4-10.0.0.7 overlaps with an existing pool in the subnet: 10.0.0.0/8 to which it is being added (a.json:1:24)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "pools": [{"pool": "10.0.0.x"}]}]}}"#,
            "invalid pool definition: 10.0.0.x. There are two acceptable formats <min address-max address> or <prefix/len> (a.json:1:77)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0", "id": 1}]}}"#,
            "subnet configuration failed: Invalid subnet syntax (prefix/len expected):10.0.0.0 (a.json:1:35)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "reservations": [{"hw-address": "aa:bb:cc:dd:ee:ff", "client-id": "01:02", "ip-address": "10.0.0.1"}]}]}}"#,
            "the 'hw-address' and 'client-id' are mutually exclusive (a.json:1:75)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "reservations": [{"ip-address": "10.0.0.1"}]}]}}"#,
            "one of the supported identifiers must be specified for host reservation: circuit-id, client-id, duid, flex-id, hw-address (a.json:1:75)",
        ),
        (
            r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "reservations": [{"hw-address": "zz", "ip-address": "10.0.0.1"}]}]}}"#,
            "invalid host identifier value 'zz' (a.json:1:75)",
        ),
        (
            r#"{"Dhcp4": {"option-data": [{"name": "routers", "data": "1.2.3.x"}]}}"#,
            "option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address '1.2.3.x': Invalid argument (a.json:1:56)",
        ),
        (
            r#"{"Dhcp4": {"option-data": [{"name": "foo-bar", "data": "1.2.3.4"}]}}"#,
            "definition for the option 'dhcp4.foo-bar' having code '0' does not exist (a.json:1:37)",
        ),
        (
            r#"{"Dhcp4": {"option-data": [{"code": 200, "data": "1.2.3.4"}]}}"#,
            "definition for the option 'dhcp4.' having code '200' does not exist (a.json:1:28)",
        ),
        (
            r#"{"Dhcp4": {"option-data": [{"name": "routers", "code": 4, "data": "1.2.3.4"}]}}"#,
            "specified option name 'routers' does not match the option definition: 'dhcp4.time-servers' (a.json:1:37)",
        ),
        (
            r#"{"Dhcp4": {"option-data": [{"data": "1.2.3.4"}]}}"#,
            "option data configuration requires one of 'code' or 'name' parameters to be specified (a.json:1:28)",
        ),
    ];
    for (input, want) in cases {
        let e = err(input);
        assert_eq!(e.kind, ErrorKind::Semantic, "input: {input}");
        assert_eq!(e.to_string(), want, "input: {input}");
    }
    // Kea gives these without a position; ours adds the subnet's or omits it likewise.
    let e = err(
        r#"{"Dhcp4": {"renew-timer": 100, "rebind-timer": 50, "valid-lifetime": 200, "subnet4": [{"subnet": "10.0.0.0/8", "id": 1}]}}"#,
    );
    assert!(e.to_string().starts_with("subnet configuration failed: the value of renew-timer (100) is greater than the value of rebind-timer (50)"), "{e}");
    assert_eq!(
        msg(r#"{"Dhcp4": {"valid-lifetime": 10, "min-valid-lifetime": 20}}"#),
        "the value of min-valid-lifetime (20) is not less than (default) valid-lifetime (10)"
    );
    assert!(msg(r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "reservations": [{"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "11.0.0.1"}]}]}}"#)
        .starts_with("specified reservation '11.0.0.1' is not within the IPv4 subnet '10.0.0.0/8'"));
    assert!(msg(r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "reservations": [{"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "10.0.0.1"},{"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "10.0.0.2"}]}]}}"#)
        .starts_with("failed to add new host using the HW address 'aa:bb:cc:dd:ee:ff' to the IPv4 subnet id '1' as this host has already been added"));
    // A syntax error anywhere wins over an earlier semantic error (Kea checks the grammar of
    // the whole file first).
    let e = err(
        r#"{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/33", "id": 1}], "valid-lifetime": "x"}}"#,
    );
    assert_eq!(e.kind, ErrorKind::Syntax);
}

#[test]
fn unsupported_and_ignored() {
    let e = err(r#"{"Dhcp4": {"valid-lifetime": 4000,
  "shared-networks": [{"name": "x"}]}}"#);
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(
        e.to_string(),
        "a.json:2.3-19: \"shared-networks\" in Dhcp4 map is not supported by dhcp4d"
    );
    let e = err(r#"{"Dhcp4": {"lease-database": {"type": "mysql", "name": "x"}}}"#);
    assert_eq!(
        e.to_string(),
        "a.json:1.39-45: lease-database type mysql is not supported by dhcp4d (memfile only)"
    );
    let e = err(r#"{"Dhcp4": {"hooks-libraries": [{"library": "/opt/libdhcp_radius.so"}]}}"#);
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .contains("/opt/libdhcp_radius.so is not supported")
    );
    let e = err(r#"{"Dhcp4": {"dhcp-ddns": {"enable-updates": true}}}"#);
    assert_eq!(e.key.as_deref(), Some("dhcp-ddns"));
    let e = err(r#"{"Dhcp4": {"control-socket": {"socket-type": "http", "socket-name": "x"}}}"#);
    assert_eq!(e.kind, ErrorKind::Unsupported);
    let e = err(
        r#"{"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.0/24", "client-class": "foo"}]}]}}"#,
    );
    assert_eq!(e.key.as_deref(), Some("client-class"));
    let e =
        err(r#"{"Dhcp4": {"option-data": [{"name": "x", "space": "vendor-4491", "data": ""}]}}"#);
    assert_eq!(e.kind, ErrorKind::Unsupported);

    let c = parse_str(
        r#"{"Dhcp4": {"valid-lifetime": 4000, "sanity-checks": {"lease-checks": "fix"},
 "server-tag": "a", "dhcp-ddns": {"enable-updates": false}, "shared-networks": [],
 "echo-client-id": true, "match-client-id": false, "comment": "c",
 "subnet4": [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.0/24", "client-class": "HA_server1"}]}]}}"#,
        "w.json",
    )
    .unwrap();
    let keys: Vec<_> = c.warnings.iter().map(|w| w.key.clone().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "sanity-checks",
            "server-tag",
            "dhcp-ddns",
            "shared-networks"
        ]
    );
    assert_eq!(
        c.warnings[0].to_string(),
        "w.json:1.36-50: \"sanity-checks\" in Dhcp4 map is ignored: dhcp4d does not implement it"
    );
    assert_eq!(c.dhcp4.match_client_id, Some(false));
    assert_eq!(c.dhcp4.echo_client_id, Some(true));
    assert_eq!(
        c.dhcp4.subnets[0].pools[0].client_class.as_deref(),
        Some("HA_server1")
    );
}

#[test]
fn comments_trailing_commas_and_numbers() {
    let c = parse_str(
        "# hash\n{\"Dhcp4\": { // slash\n \"valid-lifetime\": 4000, /* block\n over lines */ \"renew-timer\": 1,\n \"t1-percent\": .5,\n \"subnet4\": [{\"id\": 3, \"subnet\": \"10.0.0.0/8\",},],\n}}\n",
        "c.json",
    )
    .unwrap();
    assert_eq!(c.dhcp4.timers.renew_timer, Some(1));
    assert_eq!(c.dhcp4.timers.t1_percent, Some(0.5));
    // Kea: "configuration syntax warning: t.json:1.31: Extraneous comma. ..."
    let commas: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(commas.len(), 3, "{commas:?}");
    assert_eq!(
        commas[0],
        "c.json:6.46: Extraneous comma. A piece of configuration may have been omitted."
    );
    let e = err("{\"Dhcp4\": {\"valid-lifetime\": 4000 /* open\n}}");
    assert_eq!(
        e.to_string(),
        "a.json:1.35: Comment not closed. (/* in line 1"
    );
}

#[test]
fn includes() {
    let mut files = BTreeMap::new();
    files.insert(
        "/etc/kea/frag.json".to_string(),
        "\"renew-timer\": 100,".to_string(),
    );
    files.insert(
        "/etc/kea/subnets.json".to_string(),
        "[\n  {\"id\": 5, \"subnet\": \"10.0.0.0/8\", \"bogus\": 1}\n]".to_string(),
    );
    let text = "{\"Dhcp4\": {\"valid-lifetime\": 4000, <?include \"/etc/kea/frag.json\"?> \"rebind-timer\": 200}}";
    let c = parse(text, "main.json", &mut files).unwrap();
    assert_eq!(c.dhcp4.timers.renew_timer, Some(100));
    assert_eq!(c.dhcp4.timers.rebind_timer, Some(200));
    // Errors inside an include name the included file.
    let text = "{\"Dhcp4\": {\n\"subnet4\": <?include \"/etc/kea/subnets.json\"?>}}";
    let e = parse(text, "main.json", &mut files).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/kea/subnets.json:2.37-43: got unexpected keyword \"bogus\" in subnet4 map."
    );
    let text = "{\"Dhcp4\": {<?include \"/nope\"?> \"rebind-timer\": 200}}";
    let e = parse(text, "main.json", &mut files).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Include);
    assert!(
        e.to_string().contains("Can't open include file /nope"),
        "{e}"
    );
    // Includes are refused by parse_str, and a self-include is bounded.
    assert_eq!(err(text).kind, ErrorKind::Include);
    files.insert("/loop".into(), "<?include \"/loop\"?>".into());
    let e = parse("<?include \"/loop\"?>", "main.json", &mut files).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
}

#[test]
fn limits() {
    let deep = format!(
        "{{\"Dhcp4\": {{\"user-context\": {}{}}}}}",
        "[".repeat(MAX_DEPTH + 5),
        "]".repeat(MAX_DEPTH + 5)
    );
    assert_eq!(err(&deep).kind, ErrorKind::Limit);
    let ok = format!(
        "{{\"Dhcp4\": {{\"user-context\": {}{}}}}}",
        "[".repeat(10),
        "]".repeat(10)
    );
    parse_str(&ok, "a.json").unwrap();
}

#[test]
fn reservations_and_options() {
    let c = parse_str(
        r#"{"Dhcp4": {"subnet4": [{"id": 9, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.0/25"}],
  "reservations": [
    {"hw-address": "1a:1b:1c:1d:1e:1f", "ip-address": "192.0.2.201", "hostname": "special",
     "option-data": [{"name": "domain-name-servers", "data": "10.1.1.202, 10.1.1.203"}]},
    {"client-id": "01:11:22:33:44:55:66", "ip-address": "192.0.2.202"}],
  "option-data": [{"code": 15, "data": "example.org"}, {"name": "domain-search", "data": "a.example, b.example"},
                  {"code": 26, "csv-format": false, "data": "05DC", "always-send": true}]}]}}"#,
        "r.json",
    )
    .unwrap();
    let s = &c.dhcp4.subnets[0];
    assert_eq!(s.pools[0].last, Ipv4Addr::new(192, 0, 2, 127));
    let r = &s.reservations[0];
    assert_eq!(
        r.id,
        HostId::HwAddress(vec![0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f])
    );
    assert_eq!(r.hostname.as_deref(), Some("special"));
    assert_eq!(r.option_data[0].data, [10, 1, 1, 202, 10, 1, 1, 203]);
    assert_eq!(
        s.reservations[1].id,
        HostId::ClientId(vec![1, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
    );
    assert_eq!(s.option_data[0].name, Some("domain-name"));
    assert_eq!(s.option_data[0].data, b"example.org");
    assert_eq!(
        s.option_data[1].data,
        b"\x01a\x07example\x00\x01b\x07example\x00"
    );
    assert_eq!(s.option_data[2].data, [0x05, 0xdc]);
    assert!(s.option_data[2].always_send);
    assert_eq!(
        (s.reservations[0].span.line, s.reservations[0].span.col),
        (3, 5)
    );
}

#[derive(Debug, Clone)]
struct Gen {
    valid: u32,
    renew: u32,
    subnets: Vec<(u32, u8, u8, u8)>,
}

fn gen_config() -> impl Strategy<Value = Gen> {
    (
        1000u32..100_000,
        1u32..500,
        prop::collection::btree_set(1u8..=250, 0..6),
    )
        .prop_flat_map(|(valid, renew, octets)| {
            let n = octets.len();
            (
                Just(valid),
                Just(renew),
                Just(octets),
                prop::collection::vec((1u8..100, 0u8..100), n),
            )
        })
        .prop_map(|(valid, renew, octets, ranges)| Gen {
            valid,
            renew,
            subnets: octets
                .into_iter()
                .zip(ranges)
                .enumerate()
                .map(|(i, (o, (a, b)))| (i as u32 + 1, o, a, a.saturating_add(b)))
                .collect(),
        })
}

fn render(g: &Gen, sep: &str) -> String {
    let subnets: Vec<String> = g
        .subnets
        .iter()
        .map(|(id, o, a, b)| {
            format!(
                "{{\"id\": {id},{sep}\"subnet\": \"10.{o}.0.0/16\", \"pools\": [{{\"pool\": \"10.{o}.0.{a} - 10.{o}.0.{b}\"}}]}}"
            )
        })
        .collect();
    format!(
        "{{\"Dhcp4\": {{{sep}\"valid-lifetime\": {},{sep}\"renew-timer\": {},{sep}\"subnet4\": [{}]}}}}",
        g.valid,
        g.renew,
        subnets.join(&format!(",{sep}"))
    )
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        config::fuzz_check(s.as_bytes());
    }

    #[test]
    fn json_like_text_never_panics(s in r#"[{}\[\]:,"a-z0-9 .<?#/*\n-]{0,120}"#) {
        config::fuzz_check(s.as_bytes());
        let _ = parse_str(&format!("{{\"Dhcp4\": {{{s}}}}}"), "p.json");
    }

    #[test]
    fn generated_configs_read_back(g in gen_config(), sep in prop::sample::select(vec![" ", "\n", " /* c */ ", " # c\n", "// c\n"])) {
        let text = render(&g, sep);
        let c = parse_str(&text, "g.json").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(c.dhcp4.timers.valid_lifetime, Some(g.valid));
        prop_assert_eq!(c.dhcp4.timers.renew_timer, Some(g.renew));
        prop_assert_eq!(c.dhcp4.subnets.len(), g.subnets.len());
        for (s, (id, o, a, b)) in c.dhcp4.subnets.iter().zip(&g.subnets) {
            prop_assert_eq!(s.id, *id);
            prop_assert_eq!(s.prefix, Ipv4Addr::new(10, *o, 0, 0));
            prop_assert_eq!(s.pools[0].first, Ipv4Addr::new(10, *o, 0, *a));
            prop_assert_eq!(s.pools[0].last, Ipv4Addr::new(10, *o, 0, *b));
        }
        config::fuzz_check(text.as_bytes());
    }
}

#[test]
fn replay_fuzz_corpus() {
    let mut n = 0;
    for entry in std::fs::read_dir(CORPUS).unwrap_or_else(|e| panic!("{CORPUS}: {e}")) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        config::fuzz_check(&data);
        n += 1;
    }
    assert!(n >= SAMPLES.len(), "corpus too small: {n}");
    for &(name, _, _) in SAMPLES {
        let seed = std::fs::read(format!("{CORPUS}/{name}")).unwrap();
        assert_eq!(
            seed,
            sample(name).into_bytes(),
            "{name}: corpus seed differs"
        );
    }
}
