//! What the vrrpd namespace tests share: starting a daemon on a node with a keepalived.conf,
//! asking its control socket, and probing a VIP from a client.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use examples::netns::{NODE_IF, Node, Proc};
use examples::vrrpd::control::{self, Request};

/// The path of the vrrpd binary built for the tests.
pub(crate) fn vrrpd() -> &'static str {
    env!("CARGO_BIN_EXE_vrrpd")
}

/// Writes `text` as `DIR/NODE.conf` and starts vrrpd on `node` with its control socket at
/// `DIR/NODE.sock`.
pub(crate) fn spawn(node: &Node, dir: &Path, text: &str) -> (Proc, PathBuf) {
    let file = dir.join(format!("{}.conf", node.name()));
    std::fs::write(&file, text).unwrap();
    let sock = dir.join(format!("{}.sock", node.name()));
    let p = node.spawn(&[
        vrrpd(),
        "-f",
        file.to_str().unwrap(),
        "--control",
        sock.to_str().unwrap(),
    ]);
    (p, sock)
}

/// The status of instance `i` (in the daemon's order), if the daemon answers.
pub(crate) fn instance(sock: &Path, i: usize) -> Option<serde_json::Value> {
    let v = control::call(sock, &Request::Status).ok()?;
    Some(v["instances"].get(i)?.clone())
}

/// The state word of the first instance.
pub(crate) fn state(sock: &Path) -> Option<String> {
    Some(instance(sock, 0)?["state"].as_str()?.to_owned())
}

/// The advertised priority of the first instance.
pub(crate) fn priority(sock: &Path) -> Option<u64> {
    instance(sock, 0)?["priority"].as_u64()
}

/// Whether `node` holds `vip/24` on its LAN interface.
pub(crate) fn has_vip_on(node: &Node, vip: &str) -> bool {
    node.ip(&["-4", "addr", "show", "dev", NODE_IF])
        .contains(&format!("{vip}/24"))
}

/// Whether the client reaches `vip`: a TCP connection to a closed port is answered with a
/// reset (connection refused) by whoever holds the VIP; no answer is a time-out.
pub(crate) fn reaches_vip(client: &Node, vip: &str) -> bool {
    client.enter(|| {
        let to = SocketAddr::from((vip.parse::<Ipv4Addr>().unwrap(), 9));
        match TcpStream::connect_timeout(&to, Duration::from_millis(300)) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        }
    })
}
