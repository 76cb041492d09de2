//! Network-namespace labs for tests, interop runs and the HA lab.
//!
//! A [`Lab`] is a set of named network namespaces (`ip netns add`) whose names all start with
//! one unique prefix: a *switch* namespace holding Linux bridges ("segments"), and *nodes*
//! joined to segments by veth pairs. Dropping the lab kills every process still running in its
//! namespaces (SIGTERM, then SIGKILL), deletes the namespaces and removes its scratch
//! directory, also when the test panics.
//!
//! ```no_run
//! use std::time::Duration;
//! use examples::netns::{Lab, wait_until};
//!
//! let lab = Lab::new("demo");
//! let a = lab.add_node("a");
//! let b = lab.add_node("b");
//! a.add_addr("eth0", "192.0.2.1/24");
//! b.add_addr("eth0", "192.0.2.2/24");
//! // Sockets opened inside a namespace stay in it, whichever thread uses them later.
//! let rx = b.enter(|| std::net::UdpSocket::bind("192.0.2.2:9000").unwrap());
//! let tx = a.enter(|| std::net::UdpSocket::bind("192.0.2.1:0").unwrap());
//! tx.send_to(b"hello", "192.0.2.2:9000").unwrap();
//! let mut buf = [0; 16];
//! assert_eq!(rx.recv(&mut buf).unwrap(), 5);
//! // Cut b's cable at the switch, and put it back.
//! lab.set_port_up(&b, "eth0", false);
//! lab.set_port_up(&b, "eth0", true);
//! b.wait_oper_up("eth0");
//! let mut daemon = a.spawn(&["sleep", "60"]); // killed and reaped on drop
//! wait_until(Duration::from_secs(1), "sleep is running", || daemon.is_running());
//! ```
//!
//! Every command needs root and iproute2: [`Lab::new`] calls [`Lab::require_root`], which fails
//! loudly instead of letting a test pass without having run.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The segment [`Lab::add_node`] attaches new nodes to.
pub const LAN: &str = "lan";

/// The interface [`Lab::add_node`] gives a new node on [`LAN`].
pub const NODE_IF: &str = "eth0";

/// The longest interface name Linux accepts (IFNAMSIZ − 1).
pub const IFNAME_MAX: usize = 15;

/// How long the helpers wait for the kernel (link up, link-local address) before failing.
const KERNEL_WAIT: Duration = Duration::from_secs(5);

/// How long a process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(timeout, what, || cond().then_some(()));
}

/// Polls `probe` every 10 ms until it returns a value; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `probe` every `every` until it returns `Ok`; after `timeout` panics with the text
/// `fail` makes of the last `Err` (what was seen instead, and whatever logs explain it), which
/// is only built on failure.
#[track_caller]
pub fn wait_or<T, E>(
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
    fail: impl FnOnce(E) -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?}: {}", fail(e))
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// Finds `name` in `PATH` (and the sbin directories, which a test's `PATH` may lack); panics
/// with a clear message when it is not installed, so a test cannot pass without its peer.
#[track_caller]
pub fn require_bin(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("this test needs `{name}`, which is not installed (not in PATH or sbin)")
        })
}

/// Whether `addr` is in a documentation range (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
/// 2001:db8::/32) or IPv6 link-local (fe80::/10): the only addresses a lab may use.
pub fn is_test_net(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => matches!(
            a.octets(),
            [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
        ),
        IpAddr::V6(a) => {
            let s = a.segments();
            (s[0] == 0x2001 && s[1] == 0x0db8) || a.is_unicast_link_local()
        }
    }
}

/// Runs `program args…`; panics with the command line and its stderr when it cannot start or
/// fails. Returns stdout.
#[track_caller]
pub fn run_cmd(program: &str, args: &[&str]) -> String {
    let out = output_of(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn output_of(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program} {}`: {e}", args.join(" ")))
}

/// A set of network namespaces sharing a unique name prefix; see the [module docs](self).
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    dir: PathBuf,
    switch: String,
    state: Mutex<LabState>,
}

#[derive(Debug, Default)]
struct LabState {
    /// Every namespace created, switch first.
    namespaces: Vec<String>,
    segments: Vec<String>,
    nodes: Vec<Node>,
    /// (node, node interface) → switch-side port name.
    ports: Vec<(String, String, String)>,
}

impl Lab {
    /// Fails (panics) unless the process is root and iproute2's `ip` runs: lab tests must never
    /// pass silently for lack of privilege or tools.
    #[track_caller]
    pub fn require_root() {
        assert_eq!(
            sys::euid(),
            0,
            "this test needs root: it creates network namespaces, veth pairs and raw sockets \
             (run it as root or with sudo)"
        );
        let ok = Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "this test needs iproute2's `ip` command in PATH");
    }

    /// Creates a lab whose namespaces are named `hk<tag>-<pid>-<n>-…` (unique per process and
    /// call), with a switch namespace holding the [`LAN`] bridge and a scratch directory.
    #[track_caller]
    pub fn new(tag: &str) -> Self {
        Self::require_root();
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "hk{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Leftovers of a killed earlier run that had the same pid.
        for ns in list_namespaces() {
            if ns.starts_with(&format!("{prefix}-")) {
                kill_namespace_pids(&ns);
                let _ = output_of("ip", &["netns", "del", &ns]);
            }
        }
        let dir = std::env::temp_dir().join(&prefix);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let lab = Self {
            switch: format!("{prefix}-sw"),
            prefix,
            dir,
            state: Mutex::default(),
        };
        lab.create_namespace(&lab.switch);
        lab.add_segment(LAN);
        lab
    }

    /// The prefix every namespace name of this lab starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A scratch directory (configuration files, logs, pid files), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name of the switch namespace, which holds the bridges.
    pub fn switch_netns(&self) -> &str {
        &self.switch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LabState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[track_caller]
    fn create_namespace(&self, name: &str) {
        // Recorded first, so that a failure below still deletes it.
        self.lock().namespaces.push(name.to_owned());
        run_cmd("ip", &["netns", "add", name]);
        run_cmd("ip", &["-n", name, "link", "set", "lo", "up"]);
    }

    /// Adds a segment: a bridge named `name` in the switch namespace, STP and multicast
    /// snooping off, so that every frame floods at once (VRRP multicast needs no querier).
    #[track_caller]
    pub fn add_segment(&self, name: &str) {
        check_ifname(name);
        let sw = &self.switch;
        run_cmd(
            "ip",
            &[
                "-n",
                sw,
                "link",
                "add",
                name,
                "type",
                "bridge",
                "stp_state",
                "0",
            ],
        );
        run_cmd(
            "ip",
            &[
                "-n",
                sw,
                "link",
                "set",
                name,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        );
        run_cmd("ip", &["-n", sw, "link", "set", name, "up"]);
        self.lock().segments.push(name.to_owned());
    }

    /// Adds a node namespace named `<prefix>-<name>` attached to [`LAN`] as [`NODE_IF`]. IPv6
    /// duplicate address detection is off in it, so link-local and added addresses are usable
    /// at once.
    #[track_caller]
    pub fn add_node(&self, name: &str) -> Node {
        assert!(
            self.lock().nodes.iter().all(|n| n.name != name),
            "node {name} exists already"
        );
        let node = Node {
            name: name.to_owned(),
            netns: format!("{}-{name}", self.prefix),
            dir: self.dir.clone(),
            procs: Arc::default(),
        };
        self.create_namespace(&node.netns);
        for scope in ["all", "default"] {
            node.set_sysctl(&format!("net/ipv6/conf/{scope}/accept_dad"), "0");
        }
        self.lock().nodes.push(node.clone());
        self.attach(&node, LAN, NODE_IF);
        node
    }

    /// The node called `name`; panics when there is none.
    #[track_caller]
    pub fn node(&self, name: &str) -> Node {
        self.lock()
            .nodes
            .iter()
            .find(|n| n.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no node {name} in lab {}", self.prefix))
    }

    /// Joins `node` to `segment` with a veth pair: `ifname` in the node, a port on the bridge
    /// in the switch namespace. Both ends are up (and operationally up) on return.
    #[track_caller]
    pub fn attach(&self, node: &Node, segment: &str, ifname: &str) {
        check_ifname(ifname);
        let port = {
            let st = self.lock();
            assert!(
                st.segments.iter().any(|s| s == segment),
                "no segment {segment} in lab {}",
                self.prefix
            );
            format!("p{}", st.ports.len())
        };
        let sw = &self.switch;
        run_cmd(
            "ip",
            &[
                "-n",
                sw,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                ifname,
                "netns",
                &node.netns,
            ],
        );
        self.lock()
            .ports
            .push((node.name.clone(), ifname.to_owned(), port.clone()));
        run_cmd(
            "ip",
            &["-n", sw, "link", "set", &port, "master", segment, "up"],
        );
        node.set_link(ifname, true);
        node.wait_oper_up(ifname);
    }

    /// The switch-side port of `node`'s interface `ifname`.
    #[track_caller]
    pub fn port_of(&self, node: &Node, ifname: &str) -> String {
        self.lock()
            .ports
            .iter()
            .find(|(n, i, _)| *n == node.name && i == ifname)
            .map(|(_, _, p)| p.clone())
            .unwrap_or_else(|| panic!("{}:{ifname} is not attached", node.name))
    }

    /// Cuts (`up = false`) or restores the cable of `node`'s interface `ifname` by setting its
    /// switch port down or up: the node sees its carrier go, as with a pulled cable.
    #[track_caller]
    pub fn set_port_up(&self, node: &Node, ifname: &str, up: bool) {
        let port = self.port_of(node, ifname);
        let state = if up { "up" } else { "down" };
        run_cmd("ip", &["-n", &self.switch, "link", "set", &port, state]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let st = std::mem::take(&mut *self.lock());
        // Nodes first (their processes may still run), then the switch.
        for ns in st.namespaces.iter().rev() {
            kill_namespace_pids(ns);
            let out = Command::new("ip").args(["netns", "del", ns]).output();
            if !out.is_ok_and(|o| o.status.success()) {
                eprintln!("lab {}: could not delete namespace {ns}", self.prefix);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[track_caller]
fn check_ifname(name: &str) {
    assert!(
        !name.is_empty() && name.len() <= IFNAME_MAX && !name.contains(['/', ' ', ':']),
        "{name:?} is not a valid interface name (1..={IFNAME_MAX} bytes, no '/', ':' or space)"
    );
}

fn list_namespaces() -> Vec<String> {
    let out = output_of("ip", &["netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// SIGTERM to every process in namespace `ns`, then SIGKILL to whatever survives the grace time.
fn kill_namespace_pids(ns: &str) {
    let pids = || -> Vec<u32> {
        let out = output_of("ip", &["netns", "pids", ns]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|&p| p != std::process::id())
            .collect()
    };
    let first = pids();
    if first.is_empty() {
        return;
    }
    for &p in &first {
        let _ = sys::kill(p, libc::SIGTERM);
    }
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline && !pids().is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in pids() {
        let _ = sys::kill(p, libc::SIGKILL);
    }
}

/// A node of a [`Lab`]: one network namespace. Cheap to clone; valid while its lab lives.
#[derive(Debug, Clone)]
pub struct Node {
    name: String,
    netns: String,
    dir: PathBuf,
    procs: Arc<AtomicUsize>,
}

impl Node {
    /// The node's short name (as given to [`Lab::add_node`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's full name (for `ip netns exec` / `ip -n`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// `ip -n NETNS args…`, checked; returns stdout.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["-n", self.netns.as_str()];
        v.extend_from_slice(args);
        run_cmd("ip", &v)
    }

    /// Runs `cmd[0] cmd[1..]` inside the namespace (`ip netns exec`), checked: panics with the
    /// command and its stderr when it fails. Returns stdout.
    #[track_caller]
    pub fn run(&self, cmd: &[&str]) -> String {
        let out = self.output(cmd);
        assert!(
            out.status.success(),
            "`{}` in {} failed ({}): {}",
            cmd.join(" "),
            self.netns,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `cmd` inside the namespace and returns its output whatever its exit status.
    #[track_caller]
    pub fn output(&self, cmd: &[&str]) -> Output {
        let mut v = vec!["netns", "exec", self.netns.as_str()];
        v.extend_from_slice(cmd);
        output_of("ip", &v)
    }

    /// Starts `cmd` inside the namespace with stdin closed and stdout and stderr appended to a
    /// log file in the lab directory. The returned guard stops the process on drop.
    #[track_caller]
    pub fn spawn(&self, cmd: &[&str]) -> Proc {
        assert!(!cmd.is_empty(), "spawn needs a command");
        let n = self.procs.fetch_add(1, Ordering::Relaxed);
        let prog = Path::new(cmd[0])
            .file_name()
            .map_or_else(|| "proc".into(), |f| f.to_string_lossy().into_owned());
        let log = self.dir.join(format!("{}-{prog}-{n}.log", self.name));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let err = file
            .try_clone()
            .unwrap_or_else(|e| panic!("dup {}: {e}", log.display()));
        // `ip netns exec` execs the command in place: the child's pid is the command's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}` in {}: {e}", cmd.join(" "), self.netns));
        Proc {
            child,
            what: format!("`{}` in {}", cmd.join(" "), self.netns),
            log,
        }
    }

    /// Runs `f` on a thread that entered this namespace and returns its result (a panic in `f`
    /// propagates). Sockets opened there stay in the namespace after `f` returns, so the
    /// usual pattern is to open sockets with `enter` and use them from any thread.
    pub fn enter<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.netns);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                sys::setns_net(&ns).unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Writes `value` to `/proc/sys/<key>` in this namespace (e.g. `net/ipv4/ip_forward`).
    #[track_caller]
    pub fn set_sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        self.enter(|| {
            fs::write(&path, value).unwrap_or_else(|e| panic!("write {value} to {path}: {e}"));
        });
    }

    /// Adds `cidr` (e.g. `192.0.2.1/24`, `2001:db8::1/64`) to `ifname`. Only documentation
    /// and link-local addresses are allowed ([`is_test_net`]); IPv6 addresses skip DAD.
    #[track_caller]
    pub fn add_addr(&self, ifname: &str, cidr: &str) {
        let addr: IpAddr = cidr
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{cidr:?} is not ADDRESS/PREFIX"));
        assert!(
            is_test_net(addr),
            "{addr} is not a documentation (TEST-NET, 2001:db8::/32) or link-local address"
        );
        let mut args = vec!["addr", "add", cidr, "dev", ifname];
        if addr.is_ipv6() {
            args.push("nodad");
        }
        self.ip(&args);
    }

    /// Sets `ifname` administratively up or down.
    #[track_caller]
    pub fn set_link(&self, ifname: &str, up: bool) {
        self.ip(&["link", "set", ifname, if up { "up" } else { "down" }]);
    }

    /// The interface index of `ifname`.
    #[track_caller]
    pub fn ifindex(&self, ifname: &str) -> u32 {
        let out = self.ip(&["-o", "link", "show", "dev", ifname]);
        out.split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex in `ip link show {ifname}`: {out}"))
    }

    /// Waits until `ifname` is operationally up (its carrier is on and the kernel's link
    /// watcher activated it, so frames sent on it are not dropped).
    #[track_caller]
    pub fn wait_oper_up(&self, ifname: &str) {
        let what = format!("{ifname} in {} to be operationally up", self.netns);
        wait_until(KERNEL_WAIT, &what, || {
            self.ip(&["-o", "link", "show", "dev", ifname])
                .contains("state UP")
        });
    }

    /// The IPv6 link-local address of `ifname`, waiting until one is present and not tentative.
    #[track_caller]
    pub fn link_local(&self, ifname: &str) -> Ipv6Addr {
        let what = format!("a usable link-local address on {ifname} in {}", self.netns);
        wait_for(KERNEL_WAIT, &what, || {
            let out = self.ip(&["-o", "-6", "addr", "show", "dev", ifname, "scope", "link"]);
            out.lines()
                .filter(|l| !l.contains("tentative"))
                .find_map(|l| {
                    let mut w = l.split_whitespace();
                    w.find(|&t| t == "inet6")?;
                    w.next()?.split('/').next()?.parse().ok()
                })
        })
    }
}

/// A process started by [`Node::spawn`]. Drop sends SIGTERM, waits up to 3 s, then SIGKILLs,
/// and always reaps it; while panicking it also prints the tail of the process's log.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Proc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file that collects the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Whether the process is still running (not yet exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends signal `sig` (e.g. `libc::SIGHUP`).
    #[track_caller]
    pub fn signal(&self, sig: libc::c_int) {
        sys::kill(self.pid(), sig).unwrap_or_else(|e| panic!("kill -{sig} {}: {e}", self.what));
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; panics if it does not exit.
    #[track_caller]
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st;
        }
        self.signal(libc::SIGTERM);
        self.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to exit; panics if it does not.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("{} to exit", self.what);
        wait_for(timeout, &what, || self.child.try_wait().ok().flatten())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = sys::kill(self.pid(), libc::SIGTERM);
            let deadline = Instant::now() + TERM_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "---- last lines of {} ({}):",
                self.what,
                self.log.display()
            );
            for l in tail.iter().rev() {
                let _ = writeln!(err, "{l}");
            }
        }
    }
}

/// The few system calls std does not wrap.
#[allow(unsafe_code)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Moves the calling thread into the network namespace `ns` refers to.
    pub(super) fn setns_net(ns: &File) -> io::Result<()> {
        // SAFETY: `ns` is an open file for the whole call; setns only changes the calling
        // thread's network namespace and touches no memory of ours.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The effective user id.
    pub(super) fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    /// Sends `sig` to process `pid`.
    pub(super) fn kill(pid: u32, sig: libc::c_int) -> io::Result<()> {
        let pid = libc::pid_t::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: kill takes plain integers and touches no memory of ours. The pid is positive,
        // so it addresses exactly one process, never a process group or every process.
        let rc = unsafe { libc::kill(pid, sig) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
