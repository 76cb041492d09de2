//! Kea 2.2 HA over TLS (`https://` peer urls, `trust-anchor` / `cert-file` / `key-file`,
//! `require-client-certs`) in network namespaces: two dhcp4d servers, and dhcp4d with a
//! real kea-dhcp4 2.2 in both roles, reach hot-standby over mutually authenticated TLS and
//! replicate every lease; a server whose certificate the trust anchor did not sign is
//! refused on both sides (handshake errors logged, the pair never reaches hot-standby).
//! Certificates are made by the test (rcgen). Needs root, iproute2, perfdhcp, and for the
//! Kea cases kea-dhcp4 with its HA and lease_cmds hooks.

mod dhcp4d_common;

use std::time::Duration;

use dhcp4d_common::ha::*;
use dhcp4d_common::tls::*;
use dhcp4d_common::*;
use serde_json::{Value, json};

/// Namespaces `hkhat-…`.
const TAG: &str = "hat";

/// Server `i`'s hot-standby configuration over https with `tls` keys in its HA map.
fn https_config(p: &Pair, i: usize, tls: &Value) -> std::path::PathBuf {
    let mut ha = tls.clone();
    merge(&mut ha, &json!({ "require-client-certs": true }));
    let mut c = p.config(i, "hot-standby", &ha, &Value::Null);
    use_https(&mut c);
    p.write(i, &c)
}

/// Both servers (implementations `roles`) over https with certificates of one CA: they
/// reach hot-standby and every lease perfdhcp gets is on both.
fn hot_standby_over_https(roles: [Impl; 2]) {
    let p = Pair::new(TAG);
    let ca = TestCa::new("hakit HA test CA");
    let procs: Vec<_> = (0..2)
        .map(|i| {
            let c = https_config(&p, i, &tls_files(&p, i, &ca, &ca));
            p.start(i, roles[i], &c, &[])
        })
        .collect();
    let t = p.wait_both("hot-standby", Duration::from_secs(20));
    eprintln!("{roles:?} over https in hot-standby after {t:?}");
    let perf = perfdhcp(&p.cli, &["-r", "50", "-n", "100", "-R", "100"]);
    let ra = perf.get("REQUEST-ACK");
    assert_eq!((ra.sent, ra.received), (100, 100), "{}", perf.output);
    // Read at once: an ACK leaves only after the partner acknowledged the lease's update.
    let l1 = p.leases_of(0);
    assert_eq!(l1.len(), 100, "{l1:?}");
    assert_eq!(
        l1,
        p.leases_of(1),
        "the standby has every lease, field for field"
    );
    for i in 0..2 {
        let s = command(&p.socket(i), "status-get", Value::Null);
        let remote = &s["arguments"]["high-availability"][0]["ha-servers"]["remote"];
        assert_eq!(remote["last-state"], "hot-standby", "server{}: {s}", i + 1);
        // The listeners speak TLS only: plain HTTP gets no HTTP answer.
        let back = plain_exchange(
            &p,
            i,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"command\":\"ha-heartbeat\"}",
        );
        assert!(
            !back.starts_with(b"HTTP/"),
            "server{} answered plain HTTP: {}",
            i + 1,
            String::from_utf8_lossy(&back)
        );
    }
    drop(procs);
}

#[test]
fn dhcp4d_pair_over_https_with_client_certificates() {
    hot_standby_over_https([Impl::Dhcp4d, Impl::Dhcp4d]);
}

#[test]
fn dhcp4d_primary_kea_standby_over_https() {
    hot_standby_over_https([Impl::Dhcp4d, Impl::Kea]);
}

#[test]
fn kea_primary_dhcp4d_standby_over_https() {
    hot_standby_over_https([Impl::Kea, Impl::Dhcp4d]);
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let p = Pair::new(TAG);
    let ca = TestCa::new("hakit HA test CA");
    let rogue = TestCa::new("rogue CA");
    // server2 trusts the right CA, but its own certificate comes from the rogue one.
    let c1 = https_config(&p, 0, &tls_files(&p, 0, &ca, &ca));
    let c2 = https_config(&p, 1, &tls_files(&p, 1, &ca, &rogue));
    let mut s1 = p.start(0, Impl::Dhcp4d, &c1, &[]);
    let mut s2 = p.start(1, Impl::Dhcp4d, &c2, &[]);
    // server1 verifies server2's certificate as a client and refuses it ...
    wait_until_logged(
        &mut s1,
        "server1",
        "invalid peer certificate: UnknownIssuer",
    );
    // ... and server1's listener refuses server2's client certificate: server2 gets the
    // alert.
    wait_until_logged(&mut s2, "server2", "received fatal alert");
    // Neither reaches the other: each goes on alone (partner-down after
    // max-response-delay, `max-unacked-clients` 0), never hot-standby.
    for i in 0..2 {
        let t = p.wait_state(i, "partner-down", Duration::from_secs(15));
        eprintln!("server{} partner-down after {t:?}", i + 1);
        let s = command(&p.socket(i), "status-get", Value::Null);
        let remote = &s["arguments"]["high-availability"][0]["ha-servers"]["remote"];
        assert_eq!(remote["last-state"], "unavailable", "server{}: {s}", i + 1);
    }
    for (who, proc) in [("server1", &s1), ("server2", &s2)] {
        assert!(
            !proc.log().contains("to HOT-STANDBY state"),
            "{who} reached hot-standby: {}",
            proc.log()
        );
    }
}

/// Waits (bounded) until `proc`'s log contains `text`.
fn wait_until_logged(proc: &mut examples::netns::Proc, who: &str, text: &str) {
    examples::netns::wait_until(
        Duration::from_secs(15),
        &format!("{who} to log {text:?}"),
        || {
            assert!(proc.is_running(), "{who} exited: {}", proc.log());
            proc.log().contains(text)
        },
    );
}

#[test]
fn unreadable_tls_files_stop_the_start() {
    let p = Pair::new(TAG);
    let ca = TestCa::new("hakit HA test CA");
    let mut tls = tls_files(&p, 0, &ca, &ca);
    let missing = p.path("no-such-key.pem");
    tls["key-file"] = json!(missing);
    let c = https_config(&p, 0, &tls);
    let out = p.srv[0].output(&[env!("CARGO_BIN_EXE_dhcp4d"), "-c", c.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "dhcp4d started without its key: {text}"
    );
    assert!(
        text.contains(&format!("cannot read key-file {}", missing.display())),
        "{text}"
    );
}
