//! Differential test against a real Kea 2.2: the same control commands go to `kea-dhcp4`
//! (with `libdhcp_lease_cmds.so`, over its unix control socket) and to hakit's
//! `ControlHandler`; the answers must be the same text, once lease times (`cltt`) and
//! statistic timestamps are set aside.
//!
//! Kea runs with no interfaces (no DHCP traffic), memfile and its control socket in a
//! temporary directory removed afterwards. A missing `kea-dhcp4` fails the test.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use dhcp4_ha::config;
use dhcp4_ha::control::handler::ControlHandler;
use dhcp4_ha::server::Server;
use serde_json::{Value, json};

const LEASE_CMDS: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";

fn kea_binary() -> PathBuf {
    ["/usr/sbin", "/usr/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join("kea-dhcp4"))
        .find(|p| p.exists())
        .expect("kea-dhcp4 is not installed: apt-get install kea-dhcp4-server")
}

/// The shared `Dhcp4` map (Kea gets its socket, lease file and logger added).
fn dhcp4() -> Value {
    json!({
        "interfaces-config": { "interfaces": [] },
        "valid-lifetime": 3600,
        "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": "192.0.2.10 - 192.0.2.200" } ] },
                     { "id": 2, "subnet": "198.51.100.0/24" } ]
    })
}

/// A Kea process in a temporary directory, both gone on drop.
struct Kea {
    dir: PathBuf,
    child: Option<Child>,
}

impl Kea {
    fn start() -> Self {
        assert!(
            Path::new(LEASE_CMDS).exists(),
            "{LEASE_CMDS} missing: install kea-dhcp4-server"
        );
        let dir = std::env::temp_dir().join(format!("hk-kea-ctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut kea = Self { dir, child: None };
        let mut d = dhcp4();
        d["control-socket"] = json!({ "socket-type": "unix", "socket-name": kea.socket() });
        d["lease-database"] = json!({ "type": "memfile", "persist": true,
                                      "name": kea.dir.join("leases4.csv"), "lfc-interval": 0 });
        d["hooks-libraries"] = json!([ { "library": LEASE_CMDS } ]);
        d["loggers"] = json!([ { "name": "kea-dhcp4", "severity": "WARN",
                                 "output_options": [ { "output": kea.dir.join("kea.log") } ] } ]);
        let path = kea.dir.join("kea-dhcp4.conf");
        std::fs::write(&path, json!({ "Dhcp4": d }).to_string()).unwrap();
        let child = Command::new(kea_binary())
            .arg("-c")
            .arg(&path)
            .env("KEA_PIDFILE_DIR", &kea.dir)
            .env("KEA_LOCKFILE_DIR", &kea.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kea-dhcp4");
        kea.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(kea.socket()).is_err() {
            if let Some(st) = kea.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kea-dhcp4 exited ({st}); log: {}", kea.log());
            }
            assert!(
                Instant::now() < deadline,
                "kea-dhcp4 control socket not up in 10 s; log: {}",
                kea.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        kea
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("ctrl.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kea.log")).unwrap_or_default()
    }

    /// One request over the control socket; Kea answers and closes.
    fn send(&self, body: &str) -> String {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{body}: no answer from Kea: {e}"));
        String::from_utf8(out).unwrap()
    }
}

impl Drop for Kea {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cltt` set to 0 everywhere (the two servers stamp leases with their own clocks).
fn without_cltt(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(c) = m.get_mut("cltt") {
                *c = json!(0);
            }
            m.values_mut().for_each(without_cltt);
        }
        Value::Array(a) => a.iter_mut().for_each(without_cltt),
        _ => {}
    }
}

#[test]
fn same_answers_as_kea() {
    let kea = Kea::start();
    let unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cfg = config::parse_str(&json!({ "Dhcp4": dhcp4() }).to_string(), "x").unwrap();
    let now = Instant::now();
    let mut server = Server::new(&cfg.dhcp4, now, unix).unwrap();
    let mut ours = ControlHandler::new(cfg, std::process::id(), now);
    let mut ask = |body: &str| {
        let k = kea.send(body);
        let o = ours
            .handle(&mut server, Instant::now(), unix, body.as_bytes())
            .socket_text();
        (k, o)
    };

    // Compared byte for byte (after cltt).
    let exact = [
        r#"{"command":"lease4-add","arguments":{"ip-address":"192.0.2.1","hw-address":"1a:1b:1c:1d:1e:1f"}}"#,
        r#"{"command":"lease4-add","arguments":{"ip-address":"192.0.2.3","hw-address":"1a:1b:1c:1d:1e:2f","client-id":"01:02:03","hostname":"Host.Example.org","valid-lft":1000,"fqdn-fwd":true,"user-context":{"a":1}}}"#,
        r#"{"command":"lease4-add","arguments":{"ip-address":"198.51.100.5","hw-address":"aa:bb:cc:dd:ee:ff","client-id":"01:aa:bb"}}"#,
        r#"{"command":"lease4-add","arguments":{"ip-address":"192.0.2.1","hw-address":"1a:1b:1c:1d:1e:1f"}}"#,
        r#"{"command":"lease4-add","arguments":{"ip-address":"192.0.2.5","hw-address":"1a:1b:1c:1d:1e:1f","valid-lft":"x"}}"#,
        r#"{"command":"lease4-add","arguments":{"ip-address":"192.0.2.2","hw-address":"1a","subnet-id":2}}"#,
        r#"{"command":"lease4-add","arguments":{"ip-address":"192.0.2.2","hw-address":"1a","client-id":"1"}}"#,
        r#"{"command":"lease4-get","arguments":{"ip-address":"192.0.2.3"}}"#,
        r#"{"command":"lease4-get","arguments":{"identifier-type":"client-id","identifier":"01:aa:bb","subnet-id":2}}"#,
        r#"{"command":"lease4-get","arguments":{"identifier-type":"duid","identifier":"01:aa:bb","subnet-id":2}}"#,
        r#"{"command":"lease4-get","arguments":{"ip-address":"192.0.2.99"}}"#,
        r#"{"command":"lease4-get-all"}"#,
        r#"{"command":"lease4-get-all","arguments":{"subnets":[2]}}"#,
        r#"{"command":"lease4-get-page","arguments":{"from":"start","limit":2}}"#,
        r#"{"command":"lease4-get-page","arguments":{"from":"192.0.2.3","limit":2}}"#,
        r#"{"command":"lease4-get-page","arguments":{"from":"x","limit":2}}"#,
        r#"{"command":"lease4-get-by-hostname","arguments":{"hostname":"HOST.example.org"}}"#,
        r#"{"command":"lease4-get-by-hw-address","arguments":{"hw-address":"aa:bb:cc:dd:ee:ff"}}"#,
        r#"{"command":"lease4-get-by-client-id","arguments":{"client-id":"01:02:03"}}"#,
        r#"{"command":"lease4-update","arguments":{"ip-address":"192.0.2.1","hw-address":"1a:1b:1c:1d:1e:1f","hostname":"new"}}"#,
        r#"{"command":"lease4-update","arguments":{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f"}}"#,
        r#"{"command":"lease4-update","arguments":{"ip-address":"192.0.2.150","hw-address":"1a:1b:1c:1d:1e:1f","force-create":true}}"#,
        r#"{"command":"lease4-get","arguments":{"ip-address":"192.0.2.1"}}"#,
        r#"{"command":"lease4-del","arguments":{"ip-address":"192.0.2.150"}}"#,
        r#"{"command":"lease4-del","arguments":{"ip-address":"192.0.2.150"}}"#,
        r#"{"command":"lease4-del","arguments":{"identifier-type":"hw-address","identifier":"aa:bb:cc:dd:ee:ff","subnet-id":2}}"#,
        r#"{"command":"lease4-wipe","arguments":{"subnet-id":2}}"#,
        r#"{"command":"lease4-wipe"}"#,
        r#"{"command":"lease4-get-all"}"#,
        r#"{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"192.0.2.0/24","pools":[{"pool":"192.0.3.1-192.0.3.5"}]}]}}}"#,
        r#"{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"192.0.2.0/24"},{"id":1,"subnet":"198.51.100.0/24"}]}}}"#,
        r#"{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"192.0.2.0/24"}]}}}"#,
        r#"{"command":"dhcp-disable","arguments":{"max-period":60,"origin":"ha-partner"}}"#,
        r#"{"command":"dhcp-enable","arguments":{"origin":"ha-partner"}}"#,
        r#"{"command":"statistic-get","arguments":{"name":"nope"}}"#,
        r#"{"command":"statistic-reset","arguments":{"name":"nope"}}"#,
        r#"{"command":"foo-bar"}"#,
        r#"{"command":"foo", "x":1}"#,
    ];
    let mut differ = Vec::new();
    for body in exact {
        let (k, o) = ask(body);
        let mut kv: Value = serde_json::from_str(&k).unwrap_or_else(|e| panic!("{body}: {e}: {k}"));
        let mut ov: Value = serde_json::from_str(&o).unwrap();
        without_cltt(&mut kv);
        without_cltt(&mut ov);
        // The texts too, not only the values: Kea's JSON style.
        if kv != ov || (k.contains("cltt") == o.contains("cltt") && !k.contains("cltt") && k != o) {
            differ.push(format!("{body}\n  kea:   {k}\n  hakit: {o}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} answers differ:\n{}",
        differ.len(),
        exact.len(),
        differ.join("\n")
    );

    // Statistics: the same names.
    let (k, o) = ask(r#"{"command":"statistic-get-all"}"#);
    let names = |t: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(t).unwrap();
        assert_eq!(v["result"], 0, "{t}");
        v["arguments"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    // Known divergence of the server's statistics (server/stats.rs), reported to its owner:
    // Kea 2.2 creates the per-subnet `v4-allocation-fail*` statistics only when first counted,
    // and keeps `v4-reservation-conflicts` (global and per subnet), which hakit lacks. This
    // asserts exactly that difference, so that any other one (or the fix) shows up here.
    let (on, kn) = (names(&o), names(&k));
    let only_ours: Vec<&String> = on.iter().filter(|n| !kn.contains(n)).collect();
    let only_kea: Vec<&String> = kn.iter().filter(|n| !on.contains(n)).collect();
    assert!(
        only_ours
            .iter()
            .all(|n| n.starts_with("subnet[") && n.contains("].v4-allocation-fail")),
        "statistics Kea does not have at start: {only_ours:?}"
    );
    assert_eq!(only_ours.len(), 10, "{only_ours:?}");
    assert_eq!(
        only_kea,
        [
            "subnet[1].v4-reservation-conflicts",
            "subnet[2].v4-reservation-conflicts",
            "v4-reservation-conflicts"
        ],
        "statistics hakit lacks"
    );

    // list-commands: ours are Kea's, in Kea's order.
    let (k, o) = ask(r#"{"command":"list-commands"}"#);
    let list = |t: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(t).unwrap();
        v["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let (kl, ol) = (list(&k), list(&o));
    let common: Vec<&String> = kl.iter().filter(|c| ol.contains(c)).collect();
    assert_eq!(
        common.len(),
        ol.len(),
        "commands Kea lacks: {ol:?} vs {kl:?}"
    );
    assert_eq!(common, ol.iter().collect::<Vec<_>>());

    // status-get: the same keys (pid and times differ).
    let (k, o) = ask(r#"{"command":"status-get"}"#);
    let keys = |t: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(t).unwrap();
        v["arguments"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(&o), keys(&k), "status-get keys");
}
