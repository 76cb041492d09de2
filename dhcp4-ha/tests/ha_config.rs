//! The HA hook's configuration: Kea 2.2's defaults and error messages.

mod ha_common;

use dhcp4_ha::config::parse_str;
use dhcp4_ha::ha::{HaConfig, HaMode, HaState, Pausing, Role, Scheme};
use ha_common::*;

fn err(text: &str) -> String {
    HaConfig::from_value(&ha_value(text), None)
        .expect_err("must be refused")
        .to_string()
}

fn peers(p1: &str, p2: &str) -> String {
    format!(r#""peers": [ {p1}, {p2} ]"#)
}

#[test]
fn defaults_hot_standby() {
    let c = ha_config("hot-standby", "server1", "");
    assert_eq!(c.mode, HaMode::HotStandby);
    assert_eq!(c.heartbeat_delay, 10_000);
    assert_eq!(c.max_response_delay, 60_000);
    assert_eq!(c.max_ack_delay, 10_000);
    assert_eq!(c.max_unacked_clients, 10);
    assert_eq!(c.delayed_updates_limit, 0);
    assert!(c.send_lease_updates && c.sync_leases);
    assert_eq!(c.sync_timeout, 60_000);
    assert_eq!(c.sync_page_limit, 10_000);
    assert!(!c.wait_backup_ack && !c.restrict_commands && c.require_client_certs);
    assert!(!c.multi_threading.enable_multi_threading);
    assert_eq!(c.dhcp_disable_max_period(), 60);
    assert_eq!(c.this_server().role, Role::Primary);
    assert!(c.this_server().auto_failover);
    assert_eq!(c.failover_peer().unwrap().name, "server2");
    assert_eq!(c.failover_peer().unwrap().role, Role::Standby);
    let u = &c.this_server().url;
    assert_eq!(
        (u.scheme, u.port, u.stripped_hostname(), u.path.as_str()),
        (Scheme::Http, 8001, "192.0.2.1", "/")
    );
    assert_eq!(u.to_text(), "http://192.0.2.1:8001/");
    assert_eq!(c.pausing_of(HaState::Ready), Pausing::Never);
}

#[test]
fn defaults_load_balancing_and_overrides() {
    let c = ha_config("load-balancing", "server2", "");
    assert_eq!(c.delayed_updates_limit, 100, "LB default");
    assert!(c.allows_comm_recovery());
    let c = ha_config(
        "load-balancing",
        "server2",
        r#""heartbeat-delay": 1000, "max-unacked-clients": 0, "sync-timeout": 500,
           "multi-threading": {"enable-multi-threading": true, "http-dedicated-listener": true,
                               "http-listener-threads": 2},
           "state-machine": {"states": [{"state": "waiting", "pause": "always"},
                                        {"state": "ready"}]},"#,
    );
    assert_eq!(c.heartbeat_delay, 1000);
    assert_eq!(c.max_unacked_clients, 0);
    assert_eq!(c.dhcp_disable_max_period(), 1, "at least 1 s");
    assert!(c.multi_threading.http_dedicated_listener);
    assert_eq!(c.multi_threading.http_listener_threads, 2);
    assert_eq!(c.multi_threading.http_client_threads, 0);
    assert_eq!(c.pausing_of(HaState::Waiting), Pausing::Always);
    assert_eq!(c.pausing_of(HaState::Ready), Pausing::Never);
    // The name given by the daemon overrides this-server-name.
    let c = HaConfig::from_value(
        &ha_value(&ha_json("hot-standby", "server1", "")),
        Some("server2"),
    )
    .unwrap();
    assert_eq!(c.this_server().role, Role::Standby);
}

/// The reference's working hot-standby configuration, read through kea-dhcp4.conf.
#[test]
fn from_kea_dhcp4_conf() {
    let text = r#"{"Dhcp4": {"interfaces-config": {"interfaces": ["eth1"]},
     "hooks-libraries": [{"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"},
      {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so", "parameters": {"high-availability": [{
        "this-server-name": "server1", "mode": "hot-standby", "heartbeat-delay": 1000, "max-response-delay": 3000,
        "max-ack-delay": 1000, "max-unacked-clients": 0, "sync-page-limit": 10000,
        "multi-threading": {"enable-multi-threading": true, "http-dedicated-listener": true,
                            "http-listener-threads": 2, "http-client-threads": 2},
        "peers": [{"name": "server1", "url": "http://198.51.100.1:8001/", "role": "primary", "auto-failover": true},
                  {"name": "server2", "url": "http://198.51.100.2:8001/", "role": "standby", "auto-failover": true}]}]}}],
     "subnet4": [{"id": 1, "subnet": "198.18.0.0/15", "pools": [{"pool": "198.18.0.10 - 198.19.255.250"}]}]}}"#;
    let cfg = parse_str(text, "kea-dhcp4.conf").expect("config").dhcp4;
    let ha = HaConfig::from_hook(cfg.ha_hook().expect("hook"), None).expect("HA config");
    assert_eq!(ha.max_response_delay, 3000);
    assert_eq!(ha.multi_threading.http_client_threads, 2);
    assert_eq!(ha.peers.len(), 2);
    let mut hook = cfg.ha_hook().unwrap().clone();
    hook.parameters = None;
    assert_eq!(
        HaConfig::from_hook(&hook, None).unwrap_err().to_string(),
        "high-availability parameter not specified for High Availability hooks library"
    );
}

const P1: &str = r#"{"name": "server1", "url": "http://192.0.2.1:8001/", "role": "primary"}"#;
const P2: &str = r#"{"name": "server2", "url": "http://192.0.2.2:8001/", "role": "standby"}"#;

fn one(body: &str) -> String {
    format!("[{{ {body} }}]")
}

#[test]
fn kea_error_messages() {
    let p = peers(P1, P2);
    let cases: Vec<(String, &str)> = vec![
        ("{}".into(), "HA configuration must be a list"),
        ("[]".into(), "invalid number of configurations in the HA configuration list. Expected exactly one configuration"),
        ("[1]".into(), "expected list of maps in the HA configuration"),
        (one(&format!(r#""this-server-name": "server1", {p}"#)), "missing parameter 'mode' (ha.json:1:2)"),
        (one(&format!(r#""this-server-name": "server1", "mode": "active-active", {p}"#)), "unsupported value 'active-active' for mode parameter"),
        (one(r#""this-server-name": "server1", "mode": "hot-standby""#), "'peers' parameter missing in HA configuration"),
        (one(r#""this-server-name": "server1", "mode": "hot-standby", "peers": {}"#), "'peers' parameter must be a list"),
        (one(&format!(r#""this-server-name": "server3", "mode": "hot-standby", {p}"#)), "no peer configuration specified for the 'server3'"),
        (one(&format!(r#""this-server-name": " ", "mode": "hot-standby", {p}"#)), "'this-server-name' value must not be empty"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "heartbeat-delay": 70000, {p}"#)), "'heartbeat-delay' must not be greater than 65535"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "max-unacked-clients": -1, {p}"#)), "'max-unacked-clients' must not be negative"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "sync-leases": "yes", {p}"#)), "invalid type specified for parameter 'sync-leases' (ha.json:1:73)"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "delayed-updates-limit": 5, {p}"#)), "'delayed-updates-limit' must be set to 0 in the hot standby configuration"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("standby", "primary")))), "multiple primary servers specified"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("standby", "leader")))), "unsupported value 'leader' for role parameter"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("standby", "secondary")))), "secondary servers not allowed in the hot standby configuration"),
        (one(&format!(r#""this-server-name": "server1", "mode": "load-balancing", {p}"#)), "standby servers not allowed in the load balancing configuration"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("server2", "server1")))), "peer with name 'server1' already specified"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("http://192.0.2.2:8001/", "ftp://192.0.2.2/")))), "invalid URL: invalid scheme ftp in ftp://192.0.2.2/ for server server2"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("http://192.0.2.2:8001/", "http://server2.example:8001/")))), "bad url 'http://server2.example:8001/': Failed to convert string to address 'server2.example': Invalid argument for server server2"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("http://", "https://")))), "bad url 'https://192.0.2.2:8001/': https scheme is not supported for server server2 where TLS is disabled"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "trust-anchor": "/ca.pem", {p}"#)), "bad TLS config for server server1: cert-file parameter is missing or empty: all or none of TLS parameters must be set"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", {}"#, peers(P1, &P2.replace("\"role\"", "\"basic-auth-password\": \"a\", \"basic-auth-password-file\": \"/f\", \"role\"")))), "only one of basic-auth-password and basic-auth-password-file parameter can be configured in peer 'server2'"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "state-machine": {{"states": [{{"state": "ready", "pause": "sometimes"}}]}}, {p}"#)), "unsupported value sometimes of 'pause' parameter"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "state-machine": {{"states": [{{"state": "ready"}}, {{"state": "ready"}}]}}, {p}"#)), "duplicated configuration for the 'ready' state"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "state-machine": {{"states": [{{"state": "sleeping"}}]}}, {p}"#)), "unknown state sleeping"),
        (one(&format!(r#""this-server-name": "server1", "mode": "hot-standby", "wait-backup-ack": true, {p}"#)), "'wait-backup-ack' must be set to false in the hot standby configuration"),
    ];
    for (text, want) in cases {
        assert_eq!(err(&text), want, "for {text}");
    }
}

#[test]
fn peer_auth_and_backup() {
    let text = one(&format!(
        r#""this-server-name": "server1", "mode": "hot-standby", "peers": [ {P1}, {P2},
            {{"name": "backup1", "url": "http://[2001:db8::3]:8001/", "role": "backup",
              "basic-auth-user": "kea", "basic-auth-password": "secret"}} ]"#
    ));
    let c = HaConfig::from_value(&ha_value(&text), None).unwrap();
    let b = c.peer_config("backup1").unwrap();
    assert_eq!(b.url.stripped_hostname(), "2001:db8::3");
    assert_eq!(
        b.basic_auth(None).unwrap().header_value(),
        "Basic a2VhOnNlY3JldA=="
    );
    assert_eq!(
        c.failover_peer().unwrap().name,
        "server2",
        "backups are not partners"
    );
    assert_eq!(c.other_peers().len(), 2);
}
