//! Network-namespace fixtures for the vmac tests: named namespaces (`ip netns add`) removed on
//! every path by a drop guard, and a way to run a closure inside one (a thread that called
//! `setns`, so sockets it opens, `/proc/sys/net` it reads and commands it spawns are all in
//! that namespace).
#![allow(unsafe_code, dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Fails the test, loudly, when it cannot do what it must (never passes silently).
pub(crate) fn require_privileges() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "vmac namespace tests must run as root (they create network namespaces, macvlans and \
         AF_PACKET sockets); run them with sudo or as root"
    );
    let ok = Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "vmac namespace tests need the `ip` command (iproute2) in PATH"
    );
}

/// Runs a command, panicking with its stderr if it fails; returns stdout.
pub(crate) fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub(crate) struct NetNs {
    pub(crate) name: String,
}

impl NetNs {
    /// Creates `hkvm-<tag>-<pid>-<n>`.
    pub(crate) fn new(tag: &str) -> Self {
        require_privileges();
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "hkvm-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        // A leftover of a killed earlier run with the same pid: remove it first.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS...`, checked; returns stdout.
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend_from_slice(args);
        run("ip", &v)
    }

    /// `ip -n NAME -j ARGS...`, parsed.
    pub(crate) fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let mut v = vec!["-j"];
        v.extend_from_slice(args);
        let out = self.ip(&v);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
    }

    /// Waits (up to 3 s) until `dev` is operationally up: the kernel's link watcher has then
    /// activated its queueing discipline, so frames sent on it are not dropped.
    pub(crate) fn wait_oper_up(&self, dev: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let v = self.ip_json(&["link", "show", "dev", dev]);
            if v[0]["operstate"] == "UP" {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{dev} in {} is not operationally up after 3 s: {v}",
                self.name
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Runs `f` on a thread that entered this namespace.
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter();
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Moves the calling thread into this namespace (only use on a thread of its own).
    pub(crate) fn enter(&self) {
        let path = format!("/run/netns/{}", self.name);
        let f = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: `f` is an open namespace file for the duration of the call; setns only
        // changes the calling thread's network namespace.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair: `router` holds `p0`, `peer` holds `p1`, both up.
#[derive(Debug)]
pub(crate) struct Lab {
    pub(crate) router: NetNs,
    pub(crate) peer: NetNs,
}

impl Lab {
    pub(crate) fn new(tag: &str) -> Self {
        let router = NetNs::new(&format!("{tag}-r"));
        let peer = NetNs::new(&format!("{tag}-p"));
        router.ip(&[
            "link", "add", "p0", "type", "veth", "peer", "name", "p1", "netns", &peer.name,
        ]);
        router.ip(&["link", "set", "p0", "up"]);
        peer.ip(&["link", "set", "p1", "up"]);
        router.wait_oper_up("p0");
        peer.wait_oper_up("p1");
        Self { router, peer }
    }
}
