//! The lab's namespaces, segments, addresses, routes, sysctls and nftables rules.
//!
//! Three segments (bridges in the switch namespace): `lan`, `up` (upstream) and `sync`. The
//! routers have `eth0` on the LAN, `eth1` upstream and `eth2` on the sync link; the client has
//! `eth0` on the LAN (no address until DHCP), the server `eth0` upstream.

use std::net::Ipv4Addr;

use crate::netns::{Lab, NODE_IF, Node};

/// The upstream segment.
pub const UP: &str = "upstream";
/// The sync link segment.
pub const SYNC: &str = "sync";
/// A router's LAN interface.
pub const LAN_IF: &str = NODE_IF;
/// A router's upstream interface.
pub const UP_IF: &str = "eth1";
/// A router's sync link interface.
pub const SYNC_IF: &str = "eth2";

/// The LAN prefix.
pub const LAN_NET: &str = "192.0.2.0/24";
/// The LAN VIP: the client's default gateway (DHCP option 3).
pub const LAN_VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The upstream VIP: the source of the NATed traffic.
pub const UP_VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The upstream server.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The DHCP pool.
pub const POOL: &str = "192.0.2.100 - 192.0.2.200";
/// The server's TCP echo port.
pub const TCP_PORT: u16 = 7007;
/// The server's UDP echo port.
pub const UDP_PORT: u16 = 7008;
/// VRID of the LAN instance.
pub const LAN_VRID: u8 = 51;
/// VRID of the upstream instance.
pub const UP_VRID: u8 = 52;
/// The sync group's name.
pub const GROUP: &str = "G_HA";
/// The LAN instance's name.
pub const LAN_INSTANCE: &str = "VI_LAN";
/// The upstream instance's name.
pub const UP_INSTANCE: &str = "VI_UP";

/// One of the two routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Router {
    /// r1: VRRP priority 200, Kea HA primary.
    R1,
    /// r2: VRRP priority 100, Kea HA standby.
    R2,
}

impl Router {
    /// Both, r1 first.
    pub const BOTH: [Self; 2] = [Self::R1, Self::R2];

    /// `r1` / `r2`.
    pub fn name(self) -> &'static str {
        match self {
            Self::R1 => "r1",
            Self::R2 => "r2",
        }
    }

    /// The other router.
    pub fn peer(self) -> Self {
        match self {
            Self::R1 => Self::R2,
            Self::R2 => Self::R1,
        }
    }

    /// The last octet of its addresses on every segment.
    fn host(self) -> u8 {
        match self {
            Self::R1 => 2,
            Self::R2 => 3,
        }
    }

    /// VRRP priority.
    pub fn priority(self) -> u8 {
        match self {
            Self::R1 => 200,
            Self::R2 => 100,
        }
    }

    /// Its LAN address (also its DHCP server identifier).
    pub fn lan(self) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, self.host())
    }

    /// Its upstream address.
    pub fn up(self) -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, self.host())
    }

    /// Its sync link address.
    pub fn sync(self) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, self.host())
    }

    /// Which router `addr` (a LAN, upstream or sync address) belongs to.
    pub fn of_addr(addr: Ipv4Addr) -> Option<Self> {
        Self::BOTH
            .into_iter()
            .find(|r| [r.lan(), r.up(), r.sync()].contains(&addr))
    }
}

/// The lab's four nodes.
#[derive(Debug, Clone)]
pub struct Nodes {
    /// Router r1.
    pub r1: Node,
    /// Router r2.
    pub r2: Node,
    /// The DHCP client.
    pub client: Node,
    /// The upstream server.
    pub server: Node,
}

impl Nodes {
    /// The node of `r`.
    pub fn router(&self, r: Router) -> &Node {
        match r {
            Router::R1 => &self.r1,
            Router::R2 => &self.r2,
        }
    }
}

/// The nftables ruleset of a router: SNAT of the LAN to the upstream VIP out of the upstream
/// interface; forwarding only for the LAN's new flows and established traffic (state the
/// router lacks, e.g. before the conntrack commit, is dropped rather than answered); packets
/// to the upstream VIP without a conntrack are dropped, not reset.
pub fn nft_ruleset() -> String {
    format!(
        "table ip hklab {{
	chain postrouting {{
		type nat hook postrouting priority srcnat; policy accept;
		oifname \"{UP_IF}\" ip saddr {LAN_NET} snat to {UP_VIP}
	}}
	chain forward {{
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		ip saddr {LAN_NET} ct state new accept
	}}
	chain input {{
		type filter hook input priority filter; policy accept;
		ip daddr {UP_VIP} ct state invalid drop
	}}
}}
"
    )
}

/// Builds the namespaces: segments, nodes, addresses, routes, sysctls and the routers'
/// nftables rules. The client has no address yet.
#[track_caller]
pub fn build(lab: &Lab) -> Nodes {
    lab.add_segment(UP);
    lab.add_segment(SYNC);
    let r1 = lab.add_node("r1");
    let r2 = lab.add_node("r2");
    let client = lab.add_node("client");
    let server = lab.add_node("server");
    // The server lives upstream only: its LAN cable goes (deleting one end deletes the pair).
    server.ip(&["link", "del", NODE_IF]);
    lab.attach(&server, UP, NODE_IF);
    server.add_addr(NODE_IF, &format!("{SERVER}/24"));
    // With SNAT to the upstream VIP the server answers on-link; no route needed.

    for r in Router::BOTH {
        let n = match r {
            Router::R1 => &r1,
            Router::R2 => &r2,
        };
        lab.attach(n, UP, UP_IF);
        lab.attach(n, SYNC, SYNC_IF);
        n.add_addr(LAN_IF, &format!("{}/24", r.lan()));
        n.add_addr(UP_IF, &format!("{}/24", r.up()));
        n.add_addr(SYNC_IF, &format!("{}/24", r.sync()));
        n.set_sysctl("net/ipv4/ip_forward", "1");
        for i in ["all", "default", LAN_IF, UP_IF] {
            n.set_sysctl(&format!("net/ipv4/conf/{i}/send_redirects"), "0");
        }
        let rules = lab.dir().join(format!("{}-nft.conf", r.name()));
        std::fs::write(&rules, nft_ruleset())
            .unwrap_or_else(|e| panic!("write {}: {e}", rules.display()));
        n.run(&["nft", "-f", &rules.display().to_string()]);
        // The rules made the kernel track connections here. Mid-stream TCP packets of a flow
        // this router does not know are INVALID (no loose pick-up): only the conntrack commit
        // lets the client's connection through after a failover, as conntrackd intends.
        n.set_sysctl("net/netfilter/nf_conntrack_tcp_loose", "0");
    }
    Nodes {
        r1,
        r2,
        client,
        server,
    }
}

/// The `ip netns exec` commands a person can use to look inside.
pub fn inspect_commands(nodes: &Nodes, lab: &Lab, vrrpctl: &std::path::Path) -> Vec<String> {
    let r1 = nodes.r1.netns();
    let r2 = nodes.r2.netns();
    let c = nodes.client.netns();
    let s = nodes.server.netns();
    let d = lab.dir().display();
    vec![
        format!("ip netns exec {r1} ip -br addr          # r1's addresses (VIPs on the VMACs)"),
        format!("ip netns exec {r2} ip -br addr          # r2's addresses"),
        format!(
            "{} --control {d}/r2-vrrpd.sock status   # r2's VRRP state",
            vrrpctl.display()
        ),
        format!("ip netns exec {r2} conntrack -L         # r2's conntrack table"),
        format!("ip netns exec {r2} nft list ruleset     # SNAT and forwarding rules"),
        format!("ip netns exec {c} ip -br addr; ip netns exec {c} ip route   # the client's lease"),
        format!("ip netns exec {s} ss -tn                # the server's TCP connection"),
        format!("ls {d}                                    # configs, logs, lease files"),
    ]
}
