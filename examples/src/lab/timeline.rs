//! The failover's timeline: events with times relative to the scenario's event, the summary a
//! person reads at a glance, as a text table, as JSON, and as a hand-written SVG picture.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use super::Scenario;
use super::client::{DhcpLog, DhcpPhase, Lease, ProbeLog, TCP_EVERY, UDP_EVERY};
use super::topology::Router;

/// Something that happened, at a time since the lab's epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// Since the lab's epoch.
    pub at: Duration,
    /// Where (`r1`, `r2`, `client`).
    pub node: String,
    /// What, in the protocol's words.
    pub what: String,
}

impl RawEvent {
    /// An event.
    pub fn new(at: Duration, node: &str, what: String) -> Self {
        Self {
            at,
            node: node.to_owned(),
            what,
        }
    }
}

/// An event of the report: milliseconds relative to the scenario's event (negative before).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the event.
    pub t_ms: f64,
    /// Where.
    pub node: String,
    /// What.
    pub what: String,
}

/// What the lab recorded during a run, for [`report`].
#[derive(Debug)]
pub struct RunData {
    /// The scenario.
    pub scenario: Scenario,
    /// The VRRP advert interval.
    pub advert: Duration,
    /// VMAC on.
    pub vmac: bool,
    /// dhcp4d ran Kea HA.
    pub dhcp_ha: bool,
    /// The event, since the epoch.
    pub t0: Duration,
    /// The end of the recording, since the epoch.
    pub end: Duration,
    /// Daemon and lab events.
    pub events: Vec<RawEvent>,
    /// The probes' records.
    pub probes: ProbeLog,
    /// The DHCP client's records.
    pub dhcp: DhcpLog,
    /// r2's ctsyncd log lines about commits.
    pub commit_lines: Vec<String>,
    /// Remarks (fallbacks, steps that did not complete).
    pub notes: Vec<String>,
}

/// The TCP connection's fate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TcpSummary {
    /// No reset or close, and data written after the event came back.
    pub survived: bool,
    /// How the connection ended, if it did.
    pub error: Option<String>,
    /// Counters written.
    pub sent: u64,
    /// Counters echoed.
    pub echoed: u64,
    /// Echoes of counters written after the event.
    pub echoed_after_event: u64,
    /// When the first echo arrived after the outage (ms since the event).
    pub resumed_ms: Option<f64>,
    /// The gap the failover caused (ms).
    pub failover_gap_ms: f64,
    /// The longest time without an echo (ms), and when it began (ms since the event).
    pub longest_gap_ms: f64,
    /// When the longest gap began.
    pub longest_gap_from_ms: f64,
}

/// The UDP stream's fate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UdpSummary {
    /// Probes sent.
    pub sent: u64,
    /// Echoes received.
    pub echoed: u64,
    /// The gap the failover caused (ms): the longest beginning between the event and r2
    /// becoming Master.
    pub failover_gap_ms: f64,
    /// The longest time without an echo (ms), failover or not.
    pub longest_gap_ms: f64,
    /// When the longest gap began (ms since the event).
    pub longest_gap_from_ms: f64,
}

/// The DHCP service after the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DhcpSummary {
    /// The lease the client got first.
    pub lease: Option<Lease>,
    /// When a request was answered again after the event (ms since the event).
    pub served_again_ms: Option<f64>,
    /// Which exchange (renewing, rebinding).
    pub phase: Option<DhcpPhase>,
    /// Its server identifier.
    pub server_id: Option<Ipv4Addr>,
    /// `r1` / `r2`, from the server identifier.
    pub server: Option<String>,
    /// Kea HA ran (otherwise the fallback: r2's dhcp4d started on failover).
    pub ha: bool,
}

/// The run's report: the summary figures and every event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: Scenario,
    /// What it does.
    pub description: String,
    /// VRRP advert interval (ms).
    pub advert_ms: u64,
    /// VMAC on.
    pub vmac: bool,
    /// The RFC 5798 Master_Down_Interval of r2 (ms).
    pub master_down_interval_ms: f64,
    /// When r2 was Master of both instances (ms since the event).
    pub r2_master_ms: Option<f64>,
    /// When the first UDP probe sent after the event was echoed (ms since the event).
    pub vip_answered_ms: Option<f64>,
    /// When r2's notify hook saw `ctsyncd -c` return (ms since the event).
    pub conntrack_commit_ms: Option<f64>,
    /// r2's ctsyncd log lines about the commit.
    pub conntrack_commit_log: Vec<String>,
    /// When r1 was Master again (preempt, ms since the event).
    pub r1_master_again_ms: Option<f64>,
    /// DHCP.
    pub dhcp: DhcpSummary,
    /// TCP.
    pub tcp: TcpSummary,
    /// UDP.
    pub udp: UdpSummary,
    /// Remarks.
    pub notes: Vec<String>,
    /// Every event, in time order.
    pub events: Vec<Event>,
    /// Echo arrival times (ms since the event), for the picture.
    #[serde(skip)]
    udp_echo_ms: Vec<f64>,
    #[serde(skip)]
    tcp_echo_ms: Vec<f64>,
    #[serde(skip)]
    start_ms: f64,
    #[serde(skip)]
    end_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rel(at: Duration, t0: Duration) -> f64 {
    ms(at) - ms(t0)
}

/// The events of a notify hook's log (`UNIX-SECONDS WORDS…` lines), in the lab's time.
pub fn notify_events(text: &str, epoch_unix: f64, node: &str) -> Vec<RawEvent> {
    text.lines()
        .filter_map(|l| {
            let (ts, rest) = l.split_once(' ')?;
            let t: f64 = ts.parse().ok()?;
            let since = t - epoch_unix;
            if since < 0.0 {
                return None;
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            let what = match words.as_slice() {
                ["primary", "begin"] => {
                    "notify_master hook: ctsyncd -c (commit the external cache)".to_owned()
                }
                ["primary", "commit-done", rc] => {
                    format!("conntrack commit finished (ctsyncd -c exit {rc})")
                }
                ["primary", "done"] => {
                    "caches flushed, internal cache resynced, bulk update sent (-f -R -B)"
                        .to_owned()
                }
                ["backup", "begin"] => "notify_backup hook: ctsyncd -t, -n".to_owned(),
                ["backup", "done", rc] => format!("resync requested from the peer (exit {rc})"),
                ["fault", "begin"] => "notify_fault hook: ctsyncd -t".to_owned(),
                ["fault", "done", rc] => format!("kernel timers shortened (exit {rc})"),
                _ => format!("notify hook: {rest}"),
            };
            Some(RawEvent::new(Duration::from_secs_f64(since), node, what))
        })
        .collect()
}

/// The longest interval between consecutive times (sorted), and where it began.
fn longest_gap(times: &[f64]) -> (f64, f64) {
    times
        .windows(2)
        .map(|w| (w[1] - w[0], w[0]))
        .fold((0.0, 0.0), |best, g| if g.0 > best.0 { g } else { best })
}

fn router_of(sid: Option<Ipv4Addr>) -> Option<String> {
    sid.and_then(Router::of_addr).map(|r| r.name().to_owned())
}

/// Computes the report from what the lab recorded.
pub fn report(d: RunData) -> Report {
    let t0 = d.t0;
    let mut events: Vec<Event> = Vec::new();
    for e in &d.events {
        events.push(Event {
            t_ms: rel(e.at, t0),
            node: e.node.clone(),
            what: e.what.clone(),
        });
    }
    let find = |node: &str, pred: &dyn Fn(&str) -> bool| {
        let mut v: Vec<&RawEvent> = d
            .events
            .iter()
            .filter(|e| e.node == node && e.at >= t0 && pred(&e.what))
            .collect();
        v.sort_by_key(|e| e.at);
        v.into_iter().map(|e| rel(e.at, t0)).collect::<Vec<_>>()
    };
    // r2 Master of both instances: the later of the two transitions.
    let r2_master_ms = {
        let lan = find("r2", &|w| w.contains("VI_LAN") && w.ends_with("-> MASTER"));
        let up = find("r2", &|w| w.contains("VI_UP") && w.ends_with("-> MASTER"));
        match (lan.first(), up.first()) {
            (Some(a), Some(b)) => Some(a.max(*b)),
            _ => None,
        }
    };
    let r1_master_again_ms = {
        let lan = find("r1", &|w| w.contains("VI_LAN") && w.ends_with("-> MASTER"));
        let up = find("r1", &|w| w.contains("VI_UP") && w.ends_with("-> MASTER"));
        match (lan.first(), up.first()) {
            (Some(a), Some(b)) => Some(a.max(*b)),
            _ => None,
        }
    };
    let conntrack_commit_ms = find("r2", &|w| w.starts_with("conntrack commit finished"))
        .first()
        .copied();

    // UDP.
    let p = &d.probes;
    let end_ms = rel(d.end, t0);
    let mut udp_times: Vec<f64> = p.udp_echoes.iter().map(|(_, r)| rel(*r, t0)).collect();
    udp_times.sort_by(f64::total_cmp);
    // A stream that never comes back has its longest gap up to the end of the recording.
    let (ugap, ufrom) = longest_gap(&[&udp_times[..], &[end_ms]].concat());
    // The failover's outage: the longest gap that begins between the event and r2 becoming
    // Master (later gaps, if any, are something else). The VIPs answer again at its end; with
    // no outage (r1 answered until r2 took over), at the first echo of a probe sent after
    // the event.
    let window_end = r2_master_ms.unwrap_or(0.0) + 50.0;
    let outage = {
        let t = [&udp_times[..], &[end_ms]].concat();
        t.windows(2)
            .filter(|w| w[0] >= -(ms(UDP_EVERY) * 3.0) && w[0] <= window_end)
            .map(|w| (w[1] - w[0], w[0]))
            .fold((0.0, 0.0), |best, g| if g.0 > best.0 { g } else { best })
    };
    let vip_answered_ms = if outage.0 > ms(UDP_EVERY) * 4.0 {
        udp_times.iter().copied().find(|t| *t > outage.1)
    } else {
        p.udp_echoes
            .iter()
            .filter(|(s, _)| *s >= t0)
            .map(|(_, r)| rel(*r, t0))
            .min_by(f64::total_cmp)
    };
    let udp = UdpSummary {
        sent: p.udp_sent,
        echoed: p.udp_echoes.len() as u64,
        failover_gap_ms: outage.0,
        longest_gap_ms: ugap,
        longest_gap_from_ms: ufrom,
    };
    if let Some(v) = vip_answered_ms {
        events.push(Event {
            t_ms: v,
            node: "client".into(),
            what: "the VIPs answer again: UDP echoes resume".into(),
        });
    }

    // TCP.
    let mut tcp_times: Vec<f64> = p.tcp_echoes.iter().map(|(_, r)| rel(*r, t0)).collect();
    tcp_times.sort_by(f64::total_cmp);
    let first_after = p.tcp_sent.iter().position(|s| *s >= t0).map(|n| n as u64);
    let after: Vec<f64> = p
        .tcp_echoes
        .iter()
        .filter(|(c, _)| first_after.is_some_and(|n| *c >= n))
        .map(|(_, r)| rel(*r, t0))
        .collect();
    let (tgap, tfrom) = longest_gap(&[&tcp_times[..], &[end_ms]].concat());
    let touts = {
        let t = [&tcp_times[..], &[end_ms]].concat();
        t.windows(2)
            .filter(|w| w[0] >= -(ms(TCP_EVERY) * 3.0) && w[0] <= window_end)
            .map(|w| (w[1] - w[0], w[0]))
            .fold((0.0, 0.0), |best, g| if g.0 > best.0 { g } else { best })
    };
    let resumed_ms = tcp_times.iter().copied().find(|t| *t > touts.1);
    let tcp = TcpSummary {
        survived: p.tcp_error.is_none() && !after.is_empty(),
        error: p
            .tcp_error
            .as_ref()
            .map(|(at, e)| format!("{e} at {:+.1} ms", rel(*at, t0))),
        sent: p.tcp_sent.len() as u64,
        echoed: p.tcp_echoes.len() as u64,
        echoed_after_event: after.len() as u64,
        resumed_ms: if touts.0 > 0.0 { resumed_ms } else { None },
        failover_gap_ms: touts.0,
        longest_gap_ms: tgap,
        longest_gap_from_ms: tfrom,
    };
    if let Some(r) = tcp.resumed_ms {
        events.push(Event {
            t_ms: r,
            node: "client".into(),
            what: format!(
                "TCP echoes resume after a {:.0} ms gap (no reset)",
                tcp.failover_gap_ms
            ),
        });
    }
    if let Some((at, e)) = &p.tcp_error {
        events.push(Event {
            t_ms: rel(*at, t0),
            node: "client".into(),
            what: format!("TCP connection lost: {e}"),
        });
    }

    // DHCP.
    let mut served = None;
    for x in &d.dhcp.exchanges {
        let sid = x.server_id;
        let what = match x.phase {
            DhcpPhase::Selecting => "DHCPDISCOVER/REQUEST (broadcast)".to_owned(),
            DhcpPhase::Renewing => format!(
                "DHCPREQUEST renewing, unicast to the server id{}",
                if x.attempts > 1 {
                    format!(" (sent {} times)", x.attempts)
                } else {
                    String::new()
                }
            ),
            DhcpPhase::Rebinding => format!(
                "DHCPREQUEST rebinding, broadcast{}",
                if x.attempts > 1 {
                    format!(" (sent {} times)", x.attempts)
                } else {
                    String::new()
                }
            ),
        };
        if x.phase != DhcpPhase::Selecting {
            events.push(Event {
                t_ms: rel(x.sent, t0),
                node: "client".into(),
                what,
            });
        }
        if let Some(a) = x.answered {
            let lease = x.lease.as_ref();
            let who = router_of(sid).unwrap_or_else(|| "?".into());
            events.push(Event {
                t_ms: rel(a, t0),
                node: "client".into(),
                what: format!(
                    "DHCP{} {} from {who} (server id {}){}",
                    x.answer.as_deref().unwrap_or("?"),
                    lease.map_or_else(|| "-".into(), |l| l.address.to_string()),
                    sid.map_or_else(|| "-".into(), |s| s.to_string()),
                    lease
                        .and_then(|l| l.router)
                        .map(|r| format!(", router {r}"))
                        .unwrap_or_default(),
                ),
            });
            if a >= t0 && served.is_none() {
                served = Some((rel(a, t0), x.phase, sid));
            }
        }
    }
    if let Some(e) = &d.dhcp.error {
        events.push(Event {
            t_ms: rel(d.end, t0),
            node: "client".into(),
            what: format!("DHCP client: {e}"),
        });
    }
    let dhcp = DhcpSummary {
        lease: d.dhcp.exchanges.first().and_then(|x| x.lease.clone()),
        served_again_ms: served.map(|s| s.0),
        phase: served.map(|s| s.1),
        server_id: served.and_then(|s| s.2),
        server: served.and_then(|s| router_of(s.2)),
        ha: d.dhcp_ha,
    };
    events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    let advert_s = d.advert.as_secs_f64();
    let skew = (256.0 - f64::from(Router::R2.priority())) / 256.0 * advert_s;
    let start_ms = udp_times
        .first()
        .copied()
        .unwrap_or(0.0)
        .clamp(-5000.0, -200.0);
    Report {
        scenario: d.scenario,
        description: d.scenario.describe().to_owned(),
        advert_ms: d.advert.as_millis() as u64,
        vmac: d.vmac,
        master_down_interval_ms: (3.0 * advert_s + skew) * 1e3,
        r2_master_ms,
        vip_answered_ms,
        conntrack_commit_ms,
        conntrack_commit_log: d.commit_lines,
        r1_master_again_ms: if d.scenario == Scenario::Preempt {
            r1_master_again_ms
        } else {
            None
        },
        dhcp,
        tcp,
        udp,
        notes: d.notes,
        events,
        udp_echo_ms: udp_times,
        tcp_echo_ms: tcp_times,
        start_ms,
        end_ms,
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "not seen".into(), |v| format!("{v:+9.1} ms"))
}

impl Report {
    /// The timeline as a text table, with the summary first.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ha-lab: scenario {} ({}), VRRP adverts every {} ms (Master_Down_Interval {:.1} ms), VMAC {}",
            self.scenario.name(),
            self.description,
            self.advert_ms,
            self.master_down_interval_ms,
            if self.vmac { "on" } else { "off" }
        );
        if let Some(l) = &self.dhcp.lease {
            let _ = writeln!(
                s,
                "lease {}/{} from server id {} ({}), router {}, lease {} s, T1 {} s, T2 {} s; \
                 DHCP: {}",
                l.address,
                l.prefix,
                l.server_id,
                router_of(Some(l.server_id)).unwrap_or_default(),
                l.router.map_or_else(|| "-".into(), |r| r.to_string()),
                l.lease_time,
                l.renewal_time,
                l.rebinding_time,
                if self.dhcp.ha {
                    "Kea HA hot-standby (r1 primary, r2 standby)"
                } else {
                    "fallback, r2's dhcp4d starts on failover (no Kea HA in dhcp4d yet)"
                }
            );
        }
        let _ = writeln!(s, "\n{:>10}  {:<6}  what", "t", "where");
        for e in &self.events {
            let _ = writeln!(s, "{:>+9.1}ms  {:<6}  {}", e.t_ms, e.node, e.what);
        }
        let _ = writeln!(s, "\nsummary (times since the event):");
        let _ = writeln!(
            s,
            "  r2 became Master            {}",
            opt_ms(self.r2_master_ms)
        );
        let _ = writeln!(
            s,
            "  the VIPs answered again     {}   (UDP echoes resume after the outage)",
            opt_ms(self.vip_answered_ms)
        );
        let _ = writeln!(
            s,
            "  conntrack commit finished   {}   (r2's notify_master: ctsyncd -c returned)",
            opt_ms(self.conntrack_commit_ms)
        );
        let _ = writeln!(
            s,
            "  DHCP served again           {}   ({})",
            opt_ms(self.dhcp.served_again_ms),
            match (&self.dhcp.phase, &self.dhcp.server, self.dhcp.server_id) {
                (Some(p), Some(r), Some(id)) => format!(
                    "{} answered by {r}, server id {id}",
                    match p {
                        DhcpPhase::Renewing => "renewal",
                        DhcpPhase::Rebinding => "rebind",
                        DhcpPhase::Selecting => "DISCOVER",
                    }
                ),
                _ => "no answer after the event".into(),
            }
        );
        if let Some(t) = self.r1_master_again_ms {
            let _ = writeln!(s, "  r1 Master again (preempt)   {}", opt_ms(Some(t)));
        }
        let t = &self.tcp;
        let _ = writeln!(
            s,
            "  TCP connection              {}; failover gap {:.1} ms, longest gap {:.1} ms \
             (from {:+.1} ms); {} of {} counters echoed, {} written after the event",
            if t.survived {
                "survived (no reset, data kept flowing)".to_owned()
            } else {
                format!(
                    "LOST: {}",
                    t.error.as_deref().unwrap_or("no data after the event")
                )
            },
            t.failover_gap_ms,
            t.longest_gap_ms,
            t.longest_gap_from_ms,
            t.echoed,
            t.sent,
            t.echoed_after_event
        );
        let u = &self.udp;
        let _ = writeln!(
            s,
            "  UDP stream                  failover gap {:.1} ms, longest gap {:.1} ms (from \
             {:+.1} ms); {} of {} probes echoed",
            u.failover_gap_ms, u.longest_gap_ms, u.longest_gap_from_ms, u.echoed, u.sent
        );
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        s
    }

    /// The report as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The timeline as an SVG picture: VRRP states of both routers, UDP and TCP echoes (gaps
    /// show as holes), DHCP exchanges and the conntrack commit, on one time axis.
    pub fn svg(&self) -> String {
        const W: f64 = 1000.0;
        const LEFT: f64 = 150.0;
        const RIGHT: f64 = 20.0;
        const ROW: f64 = 34.0;
        const TOP: f64 = 70.0;
        let t_min = self.start_ms.max(-3000.0);
        let t_max = self.end_ms.max(t_min + 100.0);
        let x =
            |t: f64| LEFT + (t.clamp(t_min, t_max) - t_min) / (t_max - t_min) * (W - LEFT - RIGHT);
        let rows = [
            "r1 VRRP",
            "r2 VRRP",
            "UDP echoes",
            "TCP echoes",
            "DHCP",
            "conntrack",
        ];
        let h = TOP + ROW * rows.len() as f64 + 60.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" \
             viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(s, "<rect width=\"{W}\" height=\"{h}\" fill=\"white\"/>");
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">hakit HA lab: {} \
             ({}), adverts {} ms, VMAC {}</text>",
            self.scenario.name(),
            xml(&self.description),
            self.advert_ms,
            if self.vmac { "on" } else { "off" }
        );
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"40\">r2 Master {} · VIPs answer {} · commit done {} · DHCP again {} · \
             UDP gap {:.0} ms · TCP {} (gap {:.0} ms)</text>",
            short(self.r2_master_ms),
            short(self.vip_answered_ms),
            short(self.conntrack_commit_ms),
            short(self.dhcp.served_again_ms),
            self.udp.failover_gap_ms,
            if self.tcp.survived {
                "survived"
            } else {
                "lost"
            },
            self.tcp.failover_gap_ms
        );
        let row_y = |i: usize| TOP + ROW * i as f64;
        for (i, name) in rows.iter().enumerate() {
            let y = row_y(i);
            let _ = writeln!(
                s,
                "<text x=\"10\" y=\"{:.1}\">{name}</text>\
                 <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
                y + ROW / 2.0 + 4.0,
                y + ROW,
                W - RIGHT,
                y + ROW
            );
        }
        // VRRP state bars from the events.
        for (i, node) in ["r1", "r2"].iter().enumerate() {
            let y = row_y(i) + 8.0;
            let mut cur: Option<(f64, &str)> = None;
            let mut bars = Vec::new();
            for e in self.events.iter().filter(|e| &e.node == node) {
                let state = if e.what.starts_with("vrrpd VI_LAN") {
                    e.what.rsplit(' ').next()
                } else if e.what.starts_with("EVENT") && *node == "r1" {
                    Some("DOWN")
                } else {
                    None
                };
                if let Some(st) = state {
                    if let Some((from, old)) = cur {
                        bars.push((from, e.t_ms, old));
                    }
                    cur = Some((e.t_ms, st));
                }
            }
            if let Some((from, old)) = cur {
                bars.push((from, t_max, old));
            }
            for (a, b, st) in bars {
                let (fill, label) = match st {
                    "MASTER" => ("#2e7d32", "Master"),
                    "BACKUP" => ("#90a4ae", "Backup"),
                    "FAULT" => ("#ef6c00", "Fault"),
                    "DOWN" => ("#c62828", "down"),
                    _ => ("#cfd8dc", st),
                };
                let (xa, xb) = (x(a), x(b));
                let _ = writeln!(
                    s,
                    "<rect x=\"{xa:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\" fill=\"{fill}\"/>",
                    (xb - xa).max(0.5)
                );
                if xb - xa > 50.0 {
                    let _ = writeln!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"white\">{label}</text>",
                        xa + 4.0,
                        y + 13.0
                    );
                }
            }
        }
        // Echo ticks (one per pixel column at most).
        for (i, times, every) in [
            (2, &self.udp_echo_ms, UDP_EVERY),
            (3, &self.tcp_echo_ms, TCP_EVERY),
        ] {
            let y = row_y(i) + 8.0;
            let mut last_px = f64::NEG_INFINITY;
            let mut path = String::new();
            for &t in times.iter().filter(|t| **t >= t_min && **t <= t_max) {
                let px = x(t).round();
                if px > last_px {
                    let _ = write!(path, "M{px:.0} {y:.0}v18");
                    last_px = px;
                }
            }
            let _ = writeln!(
                s,
                "<path d=\"{path}\" stroke=\"#1565c0\" stroke-width=\"1\"/>\
                 <title>{} ms interval</title>",
                every.as_millis()
            );
        }
        // The longest gaps.
        for (i, from, gap) in [
            (2, self.udp.longest_gap_from_ms, self.udp.longest_gap_ms),
            (3, self.tcp.longest_gap_from_ms, self.tcp.longest_gap_ms),
        ] {
            let y = row_y(i) + 8.0;
            let (xa, xb) = (x(from), x(from + gap));
            let _ = writeln!(
                s,
                "<rect x=\"{xa:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\" fill=\"#ffcdd2\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b71c1c\">gap {gap:.0} ms</text>",
                (xb - xa).max(0.5),
                xa + 3.0,
                y + 13.0
            );
        }
        // DHCP and conntrack markers.
        let mut dhcp_label_y = 0;
        for e in &self.events {
            let (row, color) = if e.node == "client" && e.what.starts_with("DHCP") {
                (
                    4,
                    if e.what.contains("ACK") {
                        "#2e7d32"
                    } else {
                        "#c62828"
                    },
                )
            } else if e.node == "client" && e.what.starts_with("DHCPREQUEST") {
                (4, "#ef6c00")
            } else if e.what.starts_with("conntrack commit") || e.what.starts_with("notify_master")
            {
                (5, "#6a1b9a")
            } else {
                continue;
            };
            if e.t_ms < t_min || e.t_ms > t_max {
                continue;
            }
            let y = row_y(row) + 8.0;
            let px = x(e.t_ms);
            let label = if row == 4 {
                let who = if e.what.contains("from r2") {
                    "ACK r2"
                } else if e.what.contains("from r1") {
                    "ACK r1"
                } else if e.what.contains("renewing") {
                    "renew"
                } else if e.what.contains("rebinding") {
                    "rebind"
                } else {
                    "DHCP"
                };
                who.to_owned()
            } else if e.what.starts_with("conntrack") {
                "commit done".to_owned()
            } else {
                "commit".to_owned()
            };
            dhcp_label_y = (dhcp_label_y + 1) % 2;
            let _ = writeln!(
                s,
                "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{:+.1} ms {}</title></circle>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{label}</text>",
                y + 9.0,
                e.t_ms,
                xml(&e.what),
                px + 6.0,
                y + 6.0 + 10.0 * f64::from(dhcp_label_y),
            );
        }
        // Axis and the event line.
        let axis_y = TOP + ROW * rows.len() as f64 + 10.0;
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{:.1}\" y2=\"{axis_y}\" stroke=\"black\"/>",
            W - RIGHT
        );
        let span = t_max - t_min;
        let step = [100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0]
            .into_iter()
            .find(|s| span / s <= 12.0)
            .unwrap_or(10000.0);
        let mut t = (t_min / step).ceil() * step;
        while t <= t_max {
            let px = x(t);
            let _ = writeln!(
                s,
                "<line x1=\"{px:.1}\" y1=\"{axis_y}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\
                 <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:+.1} s</text>",
                axis_y + 5.0,
                axis_y + 20.0,
                t / 1000.0
            );
            t += step;
        }
        let x0 = x(0.0);
        let _ = writeln!(
            s,
            "<line x1=\"{x0:.1}\" y1=\"{:.1}\" x2=\"{x0:.1}\" y2=\"{axis_y}\" stroke=\"#c62828\" \
             stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c62828\">event</text>",
            TOP - 10.0,
            x0 + 4.0,
            TOP - 2.0
        );
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.1}\" fill=\"#555\">time since the event; blue ticks: echoes \
             arriving at the client (UDP every {} ms, TCP every {} ms); red: the longest gap</text>",
            axis_y + 40.0,
            UDP_EVERY.as_millis(),
            TCP_EVERY.as_millis()
        );
        s.push_str("</svg>\n");
        s
    }
}

fn short(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:+.0} ms"))
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_notify_lines() {
        assert_eq!(longest_gap(&[0.0, 5.0, 30.0, 35.0]), (25.0, 5.0));
        assert_eq!(longest_gap(&[]), (0.0, 0.0));
        let ev = notify_events(
            "100.5 primary begin\n100.75 primary commit-done 0\nbad\n99 backup begin\n",
            100.0,
            "r2",
        );
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].at, Duration::from_millis(500));
        assert_eq!(ev[1].what, "conntrack commit finished (ctsyncd -c exit 0)");
    }
}
