//! Helpers of the HA tests: configurations, a scripted partner for one service, and a
//! two-node simulation (two servers, two HA services, a virtual HTTP channel, a virtual
//! clock).
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use dhcp4_ha::config::json::parse;
use dhcp4_ha::config::{Dhcp4, NoIncludes};
use dhcp4_ha::control::args::{Arguments, GetPage, LeasePage, PageFrom};
use dhcp4_ha::control::{Answer, Command, KeaLease4, Request};
use dhcp4_ha::ha::{
    CommandReply, GateAction, HaConfig, HaEvent, HaService, HaState, OutRequest, TransportError,
    answer_from_http, merge_leases,
};
use dhcp4_ha::lease::{Lease4, LeaseStore};
use dhcp4_ha::server::{Gate, Gates, Origin, RxMeta, Server, ServerOptions, Transmit};
use dhcp4_ha::wire::Dhcp4Repr;

pub const UNIX0: u64 = 1_800_000_000;

/// The HA hook parameters of a pair: `mode`, this server, extra top-level keys (JSON
/// fragment ending with a comma, or empty).
pub fn ha_json(mode: &str, me: &str, extra: &str) -> String {
    let role2 = if mode == "load-balancing" {
        "secondary"
    } else {
        "standby"
    };
    format!(
        r#"[{{ "this-server-name": "{me}", "mode": "{mode}", {extra}
            "peers": [
              {{ "name": "server1", "url": "http://192.0.2.1:8001/", "role": "primary" }},
              {{ "name": "server2", "url": "http://192.0.2.2:8001/", "role": "{role2}" }}
            ] }}]"#
    )
}

/// Parses HA hook parameters (the `high-availability` list) from JSON text.
pub fn ha_value(text: &str) -> dhcp4_ha::config::Value {
    parse(text, "ha.json", &mut NoIncludes)
        .unwrap_or_else(|e| panic!("json: {e}\n{text}"))
        .root
}

pub fn ha_config(mode: &str, me: &str, extra: &str) -> HaConfig {
    HaConfig::from_value(&ha_value(&ha_json(mode, me, extra)), None)
        .unwrap_or_else(|e| panic!("HA config: {e}"))
}

/// Fast timers: heartbeat 1 s, max-response-delay 3 s, max-ack-delay 1 s.
pub const FAST: &str =
    r#""heartbeat-delay": 1000, "max-response-delay": 3000, "max-ack-delay": 1000,"#;

/// The request as the partner receives it: Kea's bytes, parsed back.
pub fn over_the_wire(r: &OutRequest) -> Request {
    let body = r.request.to_kea_json();
    Request::from_json(body.as_bytes()).expect("our request parses")
}

/// An answer as the client reads it off the wire.
pub fn answer_back(a: &Answer) -> Result<Answer, TransportError> {
    answer_from_http(Answer::encode_list(std::slice::from_ref(a)).as_bytes())
}

// ---------------------------------------------------------------------- scripted partner

/// A partner whose answers the test sets.
#[derive(Debug, Clone)]
pub struct FakePartner {
    pub state: HaState,
    pub alive: bool,
    /// Partner clock minus ours (s).
    pub skew: i64,
    pub scopes: Vec<String>,
    pub unsent: u64,
    /// Leases the partner serves to `lease4-get-page`.
    pub leases: Vec<Lease4>,
    /// Answer to every lease update (None: success).
    pub update_answer: Option<Answer>,
    /// Answer to ha-sync-complete-notify (None: success).
    pub notify_answer: Option<Answer>,
    /// Requests received, by command name.
    pub received: Vec<Request>,
}

impl FakePartner {
    pub fn new(state: HaState) -> Self {
        Self {
            state,
            alive: true,
            skew: 0,
            scopes: Vec::new(),
            unsent: 0,
            leases: Vec::new(),
            update_answer: None,
            notify_answer: None,
            received: Vec::new(),
        }
    }

    pub fn count(&self, cmd: &str) -> usize {
        self.received.iter().filter(|r| r.command == cmd).count()
    }

    fn answer(&mut self, unix: u64, req: Request) -> Result<Answer, TransportError> {
        if !self.alive {
            return Err(TransportError::Connect("Connection refused".into()));
        }
        self.received.push(req.clone());
        let a = match req.known() {
            Some(Command::HaHeartbeat) => dhcp4_ha::control::args::HeartbeatAnswer {
                date_time: dhcp4_ha::http::http_date((unix as i64 + self.skew) as u64),
                scopes: self.scopes.clone(),
                state: self.state.name().into(),
                unsent_update_count: self.unsent,
            }
            .answer(),
            Some(Command::Lease4Update) => self
                .update_answer
                .clone()
                .unwrap_or_else(|| Answer::success("IPv4 lease added.", None)),
            Some(Command::Lease4Del) => Answer::success("IPv4 lease deleted.", None),
            Some(Command::DhcpDisable) => {
                Answer::success("DHCPv4 service disabled for 60 seconds", None)
            }
            Some(Command::DhcpEnable) => Answer::success("DHCP service successfully enabled", None),
            Some(Command::Lease4GetPage) => {
                let p = GetPage::from_arguments(req.arguments.as_ref()).expect("page args");
                let page: Vec<KeaLease4> = self
                    .leases
                    .iter()
                    .filter(|l| match p.from {
                        PageFrom::Start => true,
                        PageFrom::After(a) => l.addr > a,
                    })
                    .take(p.limit as usize)
                    .map(KeaLease4::for_page)
                    .collect();
                LeasePage {
                    count: Some(page.len() as u64),
                    leases: page,
                }
                .answer()
            }
            Some(Command::HaSyncCompleteNotify) => {
                self.notify_answer.clone().unwrap_or_else(|| {
                    Answer::success(
                        "Server successfully notified about the synchronization completion.",
                        None,
                    )
                })
            }
            Some(Command::HaMaintenanceNotify) => {
                Answer::success("Server is in-maintenance state.", None)
            }
            Some(Command::HaReset) => Answer::success("HA state machine reset.", None),
            _ => Answer::unsupported(&req.command),
        };
        answer_back(&a)
    }
}

/// One service against a scripted partner, on a virtual clock.
pub struct Single {
    pub ha: HaService,
    pub partner: FakePartner,
    pub now: Instant,
    pub unix: u64,
    pub events: Vec<HaEvent>,
    pub gates: Vec<GateAction>,
    /// Requests kept back instead of answered (when `hold` is set).
    pub held: Vec<OutRequest>,
    pub hold: bool,
    pub t0: Instant,
    /// Every request body sent, in Kea's bytes.
    pub wire: Vec<String>,
}

impl Single {
    pub fn new(cfg: HaConfig, partner: FakePartner) -> Self {
        let now = Instant::now();
        let mut s = Self {
            ha: HaService::new(cfg, now, UNIX0),
            partner,
            now,
            unix: UNIX0,
            events: Vec::new(),
            gates: Vec::new(),
            held: Vec::new(),
            hold: false,
            t0: now,
            wire: Vec::new(),
        };
        s.pump();
        s
    }

    /// Delivers the service's requests to the partner and its answers back, until quiet.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let Some(r) = self.ha.poll_request() else {
                break;
            };
            self.wire.push(r.request.to_kea_json());
            if self.hold {
                self.held.push(r);
                continue;
            }
            let req = over_the_wire(&r);
            let a = self.partner.answer(self.unix, req);
            self.ha.handle_response(self.now, self.unix, r.id, a);
        }
        while let Some(e) = self.ha.poll_event() {
            self.events.push(e);
        }
        while let Some(g) = self.ha.poll_gate() {
            self.gates.push(g);
        }
    }

    /// Advances the clock by `ms` in steps of at most 100 ms, running timers.
    pub fn advance_ms(&mut self, ms: u64) {
        let mut left = ms;
        while left > 0 {
            let d = left.min(100);
            left -= d;
            self.now += Duration::from_millis(d);
            self.unix = UNIX0 + (self.now - self.t0).as_secs();
            if self.ha.poll_timeout().is_some_and(|t| t <= self.now) {
                self.ha.handle_timeout(self.now, self.unix);
            }
            self.pump();
        }
    }

    /// Advances until `f` holds, at most `max_ms`; panics with `what` otherwise.
    pub fn until(&mut self, max_ms: u64, what: &str, mut f: impl FnMut(&Self) -> bool) -> u64 {
        let mut t = 0;
        while !f(self) {
            assert!(
                t < max_ms,
                "{what}: not reached within {max_ms} ms; state {}, partner {:?}, events {:#?}",
                self.ha.state(),
                self.ha.partner_state(),
                self.events.iter().rev().take(8).collect::<Vec<_>>()
            );
            self.advance_ms(100);
            t += 100;
        }
        t
    }

    pub fn command(&mut self, req: Request) -> CommandReply {
        let r = self.ha.handle_command(self.now, self.unix, &req);
        self.pump();
        r
    }

    pub fn transitions(&self) -> Vec<(HaState, HaState)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HaEvent::StateTransition { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------- two-node sim

pub const POOL_CONFIG: &str = r#"
    "interfaces-config": {"interfaces": ["eth0"]},
    "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
    "subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
        "pools": [{"pool": "192.0.2.100 - 192.0.2.200"}],
        "option-data": [{"name": "routers", "data": "192.0.2.1"}]}]
"#;

pub fn dhcp4(body: &str) -> Dhcp4 {
    let text = format!("{{\"Dhcp4\": {{ {body} }} }}");
    dhcp4_ha::config::parse_str(&text, "test.json")
        .unwrap_or_else(|e| panic!("config: {e}"))
        .dhcp4
}

/// A server with its HA service.
pub struct Node {
    pub name: String,
    pub addr: Ipv4Addr,
    pub server: Server,
    pub ha: HaService,
    pub alive: bool,
    pub events: Vec<HaEvent>,
    pub replies: Vec<Transmit>,
    pub dropped: usize,
    pub deferred: Vec<(u64, Answer)>,
}

impl Node {
    fn new(name: &str, addr: Ipv4Addr, mode: &str, extra: &str, now: Instant, unix: u64) -> Self {
        let cfg = dhcp4(POOL_CONFIG);
        let mut server = Server::with_store(
            &cfg,
            Default::default(),
            ServerOptions { persist: false },
            now,
            unix,
        )
        .expect("server");
        server.set_required_gates(Gates::NONE.with(Gate::PartnerAcked));
        Self {
            name: name.into(),
            addr,
            server,
            ha: HaService::new(ha_config(mode, name, extra), now, unix),
            alive: true,
            events: Vec::new(),
            replies: Vec::new(),
            dropped: 0,
            deferred: Vec::new(),
        }
    }

    /// What the partner's listener does with a request: HA and dhcp-* commands to the HA
    /// service, lease commands to the server.
    fn serve(&mut self, now: Instant, unix: u64, req: &Request) -> Answer {
        match req.known() {
            Some(Command::Lease4Update) => {
                let k = KeaLease4::from_arguments(req.arguments.as_ref()).expect("lease args");
                let l = k.to_lease(unix).expect("lease");
                let existed = self.server.lease(l.addr).is_some();
                match self
                    .server
                    .update_lease(l, k.force_create.unwrap_or(false), Origin::Partner)
                {
                    Ok(_) if existed => Answer::success("IPv4 lease updated.", None),
                    Ok(_) => Answer::success("IPv4 lease added.", None),
                    Err(e) => Answer::error(e.to_string()),
                }
            }
            Some(Command::Lease4Del) => {
                let k = KeaLease4::from_arguments(req.arguments.as_ref()).expect("lease args");
                match self.server.delete_lease(k.ip_address, Origin::Partner) {
                    Some(_) => Answer::success("IPv4 lease deleted.", None),
                    None => Answer::new(3, "IPv4 lease not found."),
                }
            }
            Some(Command::Lease4GetPage) => {
                let p = GetPage::from_arguments(req.arguments.as_ref()).expect("page args");
                let from = match p.from {
                    PageFrom::Start => None,
                    PageFrom::After(a) => Some(a),
                };
                let leases = self
                    .server
                    .store()
                    .page(from, p.limit as usize)
                    .into_iter()
                    .map(KeaLease4::for_page)
                    .collect::<Vec<_>>();
                LeasePage {
                    count: Some(leases.len() as u64),
                    leases,
                }
                .answer()
            }
            _ => match self.ha.handle_command(now, unix, req) {
                CommandReply::Answer(a) => a,
                CommandReply::Deferred(_) => Answer::error("deferred in the sim"),
            },
        }
    }

    /// Moves lease changes to the HA service, gate actions to the server, events out, replies
    /// out. Returns whether anything happened.
    fn settle(&mut self, now: Instant) -> bool {
        let mut busy = false;
        while let Some(c) = self.server.poll_lease_change() {
            self.ha.lease_changed(now, &c);
            busy = true;
        }
        while let Some(g) = self.ha.poll_gate() {
            busy = true;
            match g {
                GateAction::Release(s) => self.server.release_gate(Gate::PartnerAcked, s),
                GateAction::Discard(s) => self.dropped += self.server.discard_held(s),
            }
        }
        while let Some(e) = self.ha.poll_event() {
            busy = true;
            match &e {
                HaEvent::LeasesFetched { leases, .. } => {
                    let out = merge_leases(&mut self.server, leases);
                    assert!(out.failed.is_empty(), "merge failed: {:?}", out.failed);
                }
                HaEvent::CommandAnswered { id, answer } => {
                    self.deferred.push((*id, answer.clone()))
                }
                _ => {}
            }
            self.events.push(e);
        }
        while let Some(t) = self.server.poll_transmit() {
            busy = true;
            self.replies.push(t);
        }
        busy
    }

    pub fn transitions(&self) -> Vec<(HaState, HaState)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HaEvent::StateTransition { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }
}

/// Two nodes, a virtual channel (instant delivery; a dead node refuses connections) and a
/// virtual clock.
pub struct Sim {
    pub nodes: [Node; 2],
    pub now: Instant,
    pub t0: Instant,
    pub unix: u64,
    pub mode: String,
    pub extra: String,
}

impl Sim {
    pub fn new(mode: &str, extra: &str) -> Self {
        let now = Instant::now();
        let n1 = Node::new(
            "server1",
            Ipv4Addr::new(192, 0, 2, 1),
            mode,
            extra,
            now,
            UNIX0,
        );
        let n2 = Node::new(
            "server2",
            Ipv4Addr::new(192, 0, 2, 2),
            mode,
            extra,
            now,
            UNIX0,
        );
        let mut s = Self {
            nodes: [n1, n2],
            now,
            t0: now,
            unix: UNIX0,
            mode: mode.into(),
            extra: extra.into(),
        };
        s.pump();
        s
    }

    pub fn state(&self, i: usize) -> HaState {
        self.nodes[i].ha.state()
    }

    /// Delivers every request between the nodes until nothing moves.
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut busy = false;
            for i in 0..2 {
                if !self.nodes[i].alive {
                    continue;
                }
                busy |= self.nodes[i].settle(self.now);
                while let Some(r) = self.nodes[i].ha.poll_request() {
                    busy = true;
                    let j = if r.peer == self.nodes[0].name { 0 } else { 1 };
                    let req = over_the_wire(&r);
                    let res = if self.nodes[j].alive {
                        let a = self.nodes[j].serve(self.now, self.unix, &req);
                        answer_back(&a)
                    } else {
                        Err(TransportError::Connect("Connection refused".into()))
                    };
                    self.nodes[i]
                        .ha
                        .handle_response(self.now, self.unix, r.id, res);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("sim does not settle");
    }

    pub fn advance_ms(&mut self, ms: u64) {
        let mut left = ms;
        while left > 0 {
            let d = left.min(100);
            left -= d;
            self.now += Duration::from_millis(d);
            self.unix = UNIX0 + (self.now - self.t0).as_secs();
            for n in self.nodes.iter_mut().filter(|n| n.alive) {
                if n.ha.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.ha.handle_timeout(self.now, self.unix);
                }
                if n.server.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.server.handle_timeout(self.now, self.unix);
                }
            }
            self.pump();
        }
    }

    /// Advances until `f` holds, at most `max_ms`; returns the time taken.
    pub fn until(&mut self, max_ms: u64, what: &str, mut f: impl FnMut(&Self) -> bool) -> u64 {
        let mut t = 0;
        while !f(self) {
            assert!(
                t < max_ms,
                "{what}: not reached within {max_ms} ms; states {} / {}; transitions {:?} / {:?}",
                self.state(0),
                self.state(1),
                self.nodes[0].transitions(),
                self.nodes[1].transitions()
            );
            self.advance_ms(100);
            t += 100;
        }
        t
    }

    /// Kills node `i` (its state is lost: a restart makes a new node).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].alive = false;
    }

    /// Restarts node `i` with an empty lease store (as after losing its disk) or, with
    /// `keep_leases`, the leases it had.
    pub fn restart(&mut self, i: usize, keep_leases: bool) {
        let name = self.nodes[i].name.clone();
        let addr = self.nodes[i].addr;
        let mut n = Node::new(
            &name,
            addr,
            &self.mode.clone(),
            &self.extra.clone(),
            self.now,
            self.unix,
        );
        if keep_leases {
            let leases: Vec<Lease4> = self.nodes[i].server.store().iter().cloned().collect();
            for l in leases {
                n.server
                    .update_lease(l, true, Origin::Control)
                    .expect("reload");
            }
            while n.server.poll_lease_change().is_some() {}
        }
        self.nodes[i] = n;
        self.pump();
    }

    /// Offers a client's query to every live node that should serve it (the broadcast
    /// domain); returns (node index, replies) of the nodes that answered.
    pub fn broadcast(&mut self, q: &Dhcp4Repr) -> Vec<(usize, Vec<Transmit>)> {
        let bytes = q.to_vec().expect("emit");
        let mut out = Vec::new();
        for i in 0..2 {
            if !self.nodes[i].alive {
                continue;
            }
            let facts = dhcp4_ha::ha::QueryFacts::from_repr(q);
            if !self.nodes[i].ha.should_serve(self.now, &facts) {
                continue;
            }
            let addrs = [self.nodes[i].addr];
            let meta = RxMeta {
                ifindex: 2,
                ifname: "eth0",
                if_addrs: &addrs,
                src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                dst: Ipv4Addr::BROADCAST,
            };
            self.nodes[i]
                .server
                .handle_packet(self.now, self.unix, &meta, &bytes);
            let before = self.nodes[i].replies.len();
            self.pump();
            let got: Vec<Transmit> = self.nodes[i].replies.drain(before..).collect();
            out.push((i, got));
        }
        out
    }

    pub fn leases(&self, i: usize) -> Vec<Lease4> {
        self.nodes[i].server.store().iter().cloned().collect()
    }
}
