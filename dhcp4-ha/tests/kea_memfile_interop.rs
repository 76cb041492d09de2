//! Interchange with a real Kea 2.2 (`kea-dhcp4`, installed by .ci/run): a lease file written by
//! hakit is loaded by Kea (checked with `lease4-get-all` over Kea's control socket), and the
//! rows Kea appends (`lease4-add`, `lease4-del`) load in hakit to the same leases.
//!
//! Kea runs with no interfaces (no DHCP traffic, no privileges needed), memfile persistence on
//! and LFC off, in a temporary directory removed afterwards.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dhcp4_ha::lease::memfile::{Schema, load, write_delete_row, write_row};
use dhcp4_ha::lease::{Lease4, LeaseState, LeaseStore, MemoryStore};
use serde_json::{Value, json};

const LEASE_CMDS: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";

fn kea_binary() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin"] {
        let p = Path::new(dir).join("kea-dhcp4");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "kea-dhcp4 is not installed: run .ci/run (it installs kea-dhcp4-server), or apt-get install kea-dhcp4-server"
    );
}

/// A temporary directory and a Kea process, both gone on drop.
struct Kea {
    dir: PathBuf,
    child: Option<Child>,
}

impl Kea {
    fn dir(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hk-kea-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, child: None }
    }

    fn leases(&self) -> PathBuf {
        self.dir.join("leases4.csv")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("ctrl.sock")
    }

    fn start(&mut self) {
        assert!(
            Path::new(LEASE_CMDS).exists(),
            "{LEASE_CMDS} missing: install kea-dhcp4-server"
        );
        let conf = json!({ "Dhcp4": {
            "interfaces-config": { "interfaces": [] },
            "control-socket": { "socket-type": "unix", "socket-name": self.socket() },
            "lease-database": { "type": "memfile", "persist": true, "name": self.leases(), "lfc-interval": 0 },
            "hooks-libraries": [ { "library": LEASE_CMDS } ],
            "valid-lifetime": 3600,
            "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": "192.0.2.10 - 192.0.2.200" } ] },
                         { "id": 2, "subnet": "198.51.100.0/24" } ],
            "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                           "output_options": [ { "output": self.dir.join("kea.log") } ] } ]
        }});
        let path = self.dir.join("kea-dhcp4.conf");
        std::fs::write(&path, serde_json::to_vec_pretty(&conf).unwrap()).unwrap();
        let child = Command::new(kea_binary())
            .arg("-c")
            .arg(&path)
            .env("KEA_PIDFILE_DIR", &self.dir)
            .env("KEA_LOCKFILE_DIR", &self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kea-dhcp4");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(self.socket()).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kea-dhcp4 exited ({st}); log: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "kea-dhcp4 control socket not up in 10 s; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kea.log")).unwrap_or_default()
    }

    /// One command over the control socket (Kea answers and closes).
    fn command(&self, command: &str, arguments: Value) -> Value {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = json!({ "command": command });
        if !arguments.is_null() {
            req["arguments"] = arguments;
        }
        s.write_all(req.to_string().as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{command}: {e}: {}", String::from_utf8_lossy(&out)))
    }

    fn shutdown(&mut self) {
        let r = self.command("shutdown", Value::Null);
        assert_eq!(r["result"], 0, "{r}");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kea-dhcp4 did not exit after shutdown"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    dhcp4_ha::lease::memfile::hex_colon(b, &mut s);
    s
}

fn ours() -> Vec<Lease4> {
    let far = 4_102_444_800; // 2100-01-01: never expires during the test
    let mut v = Vec::new();
    for i in 0..5u8 {
        let mut l = Lease4::new(Ipv4Addr::new(192, 0, 2, 10 + i));
        l.hwaddr = vec![2, 0, 0, 0, 0, i];
        l.client_id = if i % 2 == 0 {
            vec![1, 2, 0, 0, 0, 0, i]
        } else {
            Vec::new()
        };
        l.valid_lifetime = 3600;
        l.cltt = far - 3600;
        l.subnet_id = 1;
        v.push(l);
    }
    v[1].hostname = "a,b&c.example.".into();
    v[2].fqdn_fwd = true;
    v[3].user_context = Some(r#"{ "site": "x,y" }"#.into());
    v[4].addr = Ipv4Addr::new(198, 51, 100, 7);
    v[4].subnet_id = 2;
    v
}

#[test]
fn kea_loads_hakit_lease_file_and_hakit_loads_keas() {
    let mut kea = Kea::dir("memfile");
    let leases = ours();
    let mut file = Schema::KEA_2_2.header();
    file.push('\n');
    for l in &leases {
        write_row(l, Schema::KEA_2_2, &mut file);
    }
    // A deleted lease must not come back.
    let mut gone = leases[0].clone();
    gone.addr = Ipv4Addr::new(192, 0, 2, 99);
    write_row(&gone, Schema::KEA_2_2, &mut file);
    write_delete_row(&gone, Schema::KEA_2_2, &mut file);
    std::fs::write(kea.leases(), &file).unwrap();

    kea.start();
    let all = kea.command("lease4-get-all", Value::Null);
    assert_eq!(all["result"], 0, "{all}");
    let got = all["arguments"]["leases"].as_array().unwrap();
    assert_eq!(got.len(), leases.len(), "{all}");
    for l in &leases {
        let k = got
            .iter()
            .find(|k| k["ip-address"] == l.addr.to_string())
            .unwrap_or_else(|| panic!("Kea lacks {}: {all}", l.addr));
        assert_eq!(k["hw-address"], hex(&l.hwaddr), "{k}");
        if !l.client_id.is_empty() {
            assert_eq!(k["client-id"], hex(&l.client_id), "{k}");
        }
        assert_eq!(k["valid-lft"], l.valid_lifetime, "{k}");
        assert_eq!(k["cltt"], l.cltt, "{k}");
        assert_eq!(k["subnet-id"], l.subnet_id, "{k}");
        assert_eq!(k["hostname"], l.hostname.as_str(), "{k}");
        assert_eq!(k["fqdn-fwd"], l.fqdn_fwd, "{k}");
        assert_eq!(k["state"], 0, "{k}");
        if let Some(ctx) = &l.user_context {
            let want: Value = serde_json::from_str(ctx).unwrap();
            assert_eq!(k["user-context"], want, "{k}");
        }
    }

    // Kea appends rows of its own: an add with awkward text, a declined lease, a delete.
    let r = kea.command(
        "lease4-add",
        json!({ "ip-address": "192.0.2.50", "hw-address": "02:00:00:00:00:50", "client-id": "01:02:03",
                "hostname": "x&y,z", "valid-lft": 1800, "user-context": { "note": "a,b" } }),
    );
    assert_eq!(r["result"], 0, "{r}");
    let r = kea.command(
        "lease4-add",
        json!({ "ip-address": "192.0.2.51", "hw-address": "02:00:00:00:00:51", "state": 1 }),
    );
    assert_eq!(r["result"], 0, "{r}");
    let r = kea.command("lease4-del", json!({ "ip-address": "192.0.2.12" }));
    assert_eq!(r["result"], 0, "{r}");
    let all = kea.command("lease4-get-all", Value::Null);
    kea.shutdown();

    // Kea appended; the rows hakit wrote are still there byte for byte.
    let text = std::fs::read_to_string(kea.leases()).unwrap();
    assert!(text.starts_with(&file), "Kea rewrote hakit's rows:\n{text}");
    let mut store = MemoryStore::default();
    let report = load(&text, &mut store).unwrap();
    assert_eq!(report.invalid, 0, "{:?}", report.errors);
    let kea_view = all["arguments"]["leases"].as_array().unwrap();
    assert_eq!(store.len(), kea_view.len());
    for k in kea_view {
        let addr: Ipv4Addr = k["ip-address"].as_str().unwrap().parse().unwrap();
        let l = store
            .get(addr)
            .unwrap_or_else(|| panic!("hakit lacks {addr}"));
        assert_eq!(hex(&l.hwaddr), k["hw-address"].as_str().unwrap());
        assert_eq!(l.hostname, k["hostname"].as_str().unwrap());
        assert_eq!(
            u64::from(l.valid_lifetime),
            k["valid-lft"].as_u64().unwrap()
        );
        assert_eq!(l.cltt, k["cltt"].as_u64().unwrap());
        assert_eq!(u64::from(l.state.number()), k["state"].as_u64().unwrap());
    }
    let added = store.get(Ipv4Addr::new(192, 0, 2, 50)).unwrap();
    assert_eq!(added.hostname, "x&y,z");
    assert_eq!(added.client_id, [1, 2, 3]);
    let ctx: Value = serde_json::from_str(added.user_context.as_deref().unwrap()).unwrap();
    assert_eq!(ctx, json!({ "note": "a,b" }));
    assert_eq!(
        store.get(Ipv4Addr::new(192, 0, 2, 51)).unwrap().state,
        LeaseState::Declined
    );
    assert!(
        store.get(Ipv4Addr::new(192, 0, 2, 12)).is_none(),
        "Kea's delete row removes the lease"
    );
}
