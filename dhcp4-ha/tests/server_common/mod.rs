//! Helpers shared by the server tests: configurations, client packets, a harness that runs
//! a server and collects its replies.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use dhcp4_ha::config::{Dhcp4, parse_str};
use dhcp4_ha::server::{LeaseChange, RxMeta, Server, ServerOptions, Transmit};
use dhcp4_ha::wire::{Dhcp4Repr, FLAG_BROADCAST, MessageType, RelayAgentInfo};

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub const UNIX0: u64 = 1_800_000_000;

/// `{"Dhcp4": { <body> }}` read with the crate's reader.
pub fn config(body: &str) -> Dhcp4 {
    let text = format!("{{\"Dhcp4\": {{ {body} }} }}");
    parse_str(&text, "test.json")
        .unwrap_or_else(|e| panic!("config: {e}\n{text}"))
        .dhcp4
}

/// One /24 (192.0.2.0/24, pool .100-.200) as the Kea capture was made with.
pub const KEA_CAPTURE_CONFIG: &str = r#"
    "interfaces-config": {"interfaces": ["eth0"]},
    "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
    "subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
        "pools": [{"pool": "192.0.2.100 - 192.0.2.200"}],
        "option-data": [
            {"name": "routers", "data": "192.0.2.1"},
            {"name": "domain-name-servers", "data": "192.0.2.53, 192.0.2.54"},
            {"name": "domain-name", "data": "example.org"}]}]
"#;

pub const SERVER_ADDR: [u8; 4] = [192, 0, 2, 1];

/// A server plus a virtual clock and the addresses of its interface.
pub struct Harness {
    pub server: Server,
    pub now: Instant,
    pub unix: u64,
    pub ifname: String,
    pub if_addrs: Vec<Ipv4Addr>,
}

impl Harness {
    pub fn new(cfg: &Dhcp4) -> Self {
        Self::with(cfg, ServerOptions { persist: false })
    }

    pub fn with(cfg: &Dhcp4, opts: ServerOptions) -> Self {
        let now = Instant::now();
        let server = Server::with_store(cfg, Default::default(), opts, now, UNIX0).expect("server");
        Self {
            server,
            now,
            unix: UNIX0,
            ifname: "eth0".into(),
            if_addrs: vec![Ipv4Addr::from(SERVER_ADDR)],
        }
    }

    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.unix += secs;
    }

    /// Feeds `bytes` as received from `src` sent to `dst`; returns the replies released.
    pub fn feed_from(&mut self, src: SocketAddrV4, dst: Ipv4Addr, bytes: &[u8]) -> Vec<Transmit> {
        let meta = RxMeta {
            ifindex: 7,
            ifname: &self.ifname,
            if_addrs: &self.if_addrs,
            src,
            dst,
        };
        self.server.handle_packet(self.now, self.unix, &meta, bytes);
        std::iter::from_fn(|| self.server.poll_transmit()).collect()
    }

    /// Feeds a query the way it would arrive: broadcast from 0.0.0.0:68 (no ciaddr, no
    /// giaddr), unicast from ciaddr:68 to the server, or from the relay (giaddr:67).
    pub fn feed(&mut self, q: &Dhcp4Repr) -> Vec<Transmit> {
        let bytes = q.to_vec().unwrap();
        let (src, dst) = if !q.giaddr.is_unspecified() {
            (SocketAddrV4::new(q.giaddr, 67), Ipv4Addr::from(SERVER_ADDR))
        } else if !q.ciaddr.is_unspecified() {
            (SocketAddrV4::new(q.ciaddr, 68), Ipv4Addr::from(SERVER_ADDR))
        } else {
            (
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                Ipv4Addr::BROADCAST,
            )
        };
        self.feed_from(src, dst, &bytes)
    }

    /// Feeds `q` broadcast (a REBINDING client, ciaddr set but sent to 255.255.255.255).
    pub fn feed_broadcast(&mut self, q: &Dhcp4Repr) -> Vec<Transmit> {
        let bytes = q.to_vec().unwrap();
        let src = SocketAddrV4::new(q.ciaddr, 68);
        self.feed_from(src, Ipv4Addr::BROADCAST, &bytes)
    }

    /// Feeds `q`, expects exactly one reply, decodes it.
    pub fn one(&mut self, q: &Dhcp4Repr) -> (Transmit, Dhcp4Repr) {
        let out = self.feed(q);
        assert_eq!(
            out.len(),
            1,
            "expected one reply to {:?}, got {out:?}",
            q.message_type()
        );
        let r = Dhcp4Repr::from_bytes(&out[0].payload).expect("reply decodes");
        (out[0].clone(), r)
    }

    pub fn none(&mut self, q: &Dhcp4Repr) {
        let out = self.feed(q);
        assert!(
            out.is_empty(),
            "expected no reply to {:?}, got {out:?}",
            q.message_type()
        );
    }

    pub fn changes(&mut self) -> Vec<LeaseChange> {
        std::iter::from_fn(|| self.server.poll_lease_change()).collect()
    }

    pub fn stat(&self, name: &str) -> i64 {
        self.server
            .stats()
            .get(name)
            .unwrap_or_else(|| panic!("no statistic {name}"))
            .value
    }

    /// DISCOVER, OFFER, REQUEST, ACK for `c`; returns the address.
    pub fn dora(&mut self, c: &ClientSim) -> Ipv4Addr {
        let (_, offer) = self.one(&c.discover());
        assert_eq!(offer.message_type(), Some(MessageType::OFFER));
        let (_, ack) = self.one(&c.select(offer.yiaddr, offer.options.server_id.unwrap()));
        assert_eq!(
            ack.message_type(),
            Some(MessageType::ACK),
            "ACK for {:?}",
            offer.yiaddr
        );
        assert_eq!(ack.yiaddr, offer.yiaddr);
        ack.yiaddr
    }
}

/// A simulated client: builds its queries.
#[derive(Clone, Debug)]
pub struct ClientSim {
    pub mac: [u8; 6],
    pub client_id: Option<Vec<u8>>,
    pub giaddr: Ipv4Addr,
    pub relay_info: Option<RelayAgentInfo>,
    pub broadcast: bool,
    pub prl: Vec<u8>,
    pub hostname: Option<&'static str>,
    pub xid: u32,
}

impl ClientSim {
    pub fn new(n: u32) -> Self {
        let b = n.to_be_bytes();
        Self {
            mac: [0x02, 0x00, b[0], b[1], b[2], b[3]],
            client_id: None,
            giaddr: Ipv4Addr::UNSPECIFIED,
            relay_info: None,
            broadcast: false,
            prl: vec![1, 3, 6, 15, 51, 54],
            hostname: None,
            xid: 0x1000 + n,
        }
    }

    pub fn with_client_id(mut self) -> Self {
        let mut id = vec![1];
        id.extend_from_slice(&self.mac);
        self.client_id = Some(id);
        self
    }

    pub fn relayed(mut self, giaddr: Ipv4Addr) -> Self {
        self.giaddr = giaddr;
        self
    }

    pub fn base(&self, t: MessageType) -> Dhcp4Repr {
        let mut q = Dhcp4Repr {
            xid: self.xid,
            giaddr: self.giaddr,
            hops: u8::from(!self.giaddr.is_unspecified()),
            flags: if self.broadcast { FLAG_BROADCAST } else { 0 },
            ..Dhcp4Repr::default()
        };
        q.chaddr[..6].copy_from_slice(&self.mac);
        let o = &mut q.options;
        o.message_type = Some(t);
        o.client_id = self.client_id.clone();
        o.relay_agent_info = self.relay_info.clone();
        if matches!(
            t,
            MessageType::DISCOVER | MessageType::REQUEST | MessageType::INFORM
        ) {
            o.parameter_request_list = Some(self.prl.clone());
            o.hostname = self.hostname.map(|h| h.as_bytes().to_vec());
        }
        q
    }

    pub fn discover(&self) -> Dhcp4Repr {
        self.base(MessageType::DISCOVER)
    }

    /// REQUEST in SELECTING.
    pub fn select(&self, addr: Ipv4Addr, server: Ipv4Addr) -> Dhcp4Repr {
        let mut q = self.base(MessageType::REQUEST);
        q.options.requested_ip = Some(addr);
        q.options.server_id = Some(server);
        q
    }

    /// REQUEST in INIT-REBOOT.
    pub fn init_reboot(&self, addr: Ipv4Addr) -> Dhcp4Repr {
        let mut q = self.base(MessageType::REQUEST);
        q.options.requested_ip = Some(addr);
        q
    }

    /// REQUEST in RENEWING / REBINDING (ciaddr).
    pub fn renew(&self, addr: Ipv4Addr) -> Dhcp4Repr {
        let mut q = self.base(MessageType::REQUEST);
        q.ciaddr = addr;
        q
    }

    pub fn release(&self, addr: Ipv4Addr, server: Ipv4Addr) -> Dhcp4Repr {
        let mut q = self.base(MessageType::RELEASE);
        q.ciaddr = addr;
        q.options.server_id = Some(server);
        q
    }

    pub fn decline(&self, addr: Ipv4Addr, server: Ipv4Addr) -> Dhcp4Repr {
        let mut q = self.base(MessageType::DECLINE);
        q.options.requested_ip = Some(addr);
        q.options.server_id = Some(server);
        q
    }

    pub fn inform(&self, ciaddr: Ipv4Addr) -> Dhcp4Repr {
        let mut q = self.base(MessageType::INFORM);
        q.ciaddr = ciaddr;
        q
    }
}
