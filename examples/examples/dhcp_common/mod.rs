//! What the two DHCP benches (`dhcp_bench`, `dhcp_ha_bench`) share: the two load generators
//! (ISC perfdhcp, a child process; hakit's [`dhcpload`], on a thread of the bench) run the
//! same way — `CLIENTS` clients behind the relay agent 192.0.2.2, broadcast — and reported as
//! one [`Run`].

#![allow(dead_code)] // each bench uses a part

use std::collections::BTreeMap;
use std::time::Duration;

use examples::dhcpload::{self, ALL_SERVERS, LoadConfig};
use examples::netns::{NODE_IF, Node, require_bin};

/// The relay agent address the generators send from (the client namespace's).
pub(crate) const RELAY: &str = "192.0.2.2";

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux ABI this runs on.
pub(crate) const CLK_TCK: f64 = 100.0;

/// A load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generator {
    /// ISC perfdhcp, a child process.
    Perfdhcp,
    /// hakit's generator ([`dhcpload`]), on a thread of this process.
    Hakit,
}

impl Generator {
    /// The name the tables print.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Perfdhcp => "perfdhcp",
            Self::Hakit => "hakit",
        }
    }

    /// The generators of `--load perfdhcp|hakit|both`.
    pub(crate) fn parse_list(s: &str) -> Option<Vec<Self>> {
        match s {
            "perfdhcp" => Some(vec![Self::Perfdhcp]),
            "hakit" => Some(vec![Self::Hakit]),
            "both" => Some(vec![Self::Perfdhcp, Self::Hakit]),
            _ => None,
        }
    }
}

/// One run of a generator.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Run {
    /// Exchanges per second (perfdhcp's `Rate:` line, or the generator's own count).
    pub(crate) rate: f64,
    /// ACKs received.
    pub(crate) acks: u64,
    /// The larger drop percentage of DISCOVER-OFFER and REQUEST-ACK.
    pub(crate) drop_pct: f64,
    /// The generator's own CPU time (user + system), seconds.
    pub(crate) gen_cpu: f64,
}

impl Run {
    /// The generator's CPU milliseconds per 1000 ACKs.
    pub(crate) fn gen_ms_per_1000(&self) -> f64 {
        self.gen_cpu * 1e6 / self.acks.max(1) as f64
    }
}

/// CPU time (user + system, seconds) of this process's waited-for children so far
/// (`/proc/self/stat` cutime and cstime): perfdhcp's, as `ip netns exec` execs it in place.
pub(crate) fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (n(16) + n(17)) as f64 / CLK_TCK
}

/// The hakit generator's configuration: `clients` perfdhcp clients behind the relay agent,
/// broadcast to every server, `rate` DORA/s for `secs` seconds.
pub(crate) fn hakit_config(clients: u32, rate: u32, secs: u32) -> LoadConfig {
    LoadConfig::new(
        RELAY.parse().expect("relay address"),
        vec![ALL_SERVERS],
        clients,
        rate,
        Duration::from_secs(u64::from(secs)),
    )
}

/// One run of the hakit generator in the client namespace.
pub(crate) fn hakit(cli: &Node, cfg: &LoadConfig) -> Run {
    let r = cli
        .enter(|| dhcpload::run(cfg))
        .unwrap_or_else(|e| panic!("hakit load generator: {e}"));
    // What perfdhcp's summary says, and whether the generator kept to its schedule.
    eprintln!("      hakit: {r}");
    Run {
        rate: r.rate(),
        acks: r.acks,
        drop_pct: r.drop_pct(),
        gen_cpu: r.cpu().as_secs_f64(),
    }
}

/// One run of perfdhcp with `clients` clients (`-R`) and `extra` arguments.
pub(crate) fn perfdhcp(cli: &Node, clients: u32, extra: &[&str]) -> Run {
    let bin = require_bin("perfdhcp");
    let clients = clients.to_string();
    let mut cmd = vec![
        bin.to_str().unwrap(),
        "-4",
        "-l",
        NODE_IF,
        "-R",
        &clients,
        "-W",
        "500000",
    ];
    cmd.extend_from_slice(extra);
    let cpu0 = children_cpu();
    let out = cli.output(&cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Run {
        gen_cpu: children_cpu() - cpu0,
        ..Run::default()
    };
    let mut section = String::new();
    let mut sent = BTreeMap::new();
    let mut drops = BTreeMap::new();
    for l in text.lines() {
        let num = |l: &str| {
            l.split(':')
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if let Some(r) = l.strip_prefix("Rate: ") {
            run.rate = r
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        } else if let Some(s) = l.strip_prefix("***Statistics for: ") {
            section = s.trim_end_matches('*').to_owned();
        } else if l.starts_with("sent packets:") {
            sent.insert(section.clone(), num(l));
        } else if l.starts_with("drops:") {
            drops.insert(section.clone(), num(l));
        } else if l.starts_with("received packets:") && section == "REQUEST-ACK" {
            run.acks = num(l) as u64;
        }
    }
    for s in ["DISCOVER-OFFER", "REQUEST-ACK"] {
        let (n, d) = (
            sent.get(s).copied().unwrap_or(0.0),
            drops.get(s).copied().unwrap_or(0.0),
        );
        let pct = if n > 0.0 { 100.0 * d / n } else { 100.0 };
        run.drop_pct = run.drop_pct.max(pct);
    }
    run
}

/// One run of `generator` with `clients` clients at `rate` DORA/s for `secs` seconds.
pub(crate) fn load(cli: &Node, generator: Generator, clients: u32, rate: u32, secs: u32) -> Run {
    match generator {
        Generator::Perfdhcp => perfdhcp(
            cli,
            clients,
            &["-r", &rate.to_string(), "-p", &secs.to_string()],
        ),
        Generator::Hakit => hakit(cli, &hakit_config(clients, rate, secs)),
    }
}
