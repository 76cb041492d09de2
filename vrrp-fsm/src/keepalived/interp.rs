//! From the statement tree to the typed configuration.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use super::error::{ConfigError, ErrorKind, Position, Warning};
use super::tree::Stmt;
use super::{
    Authentication, GlobalDefs, InitialState, KeepalivedConf, Notify, SyncGroup, Tracked,
    UnicastPeer, VirtualIp, VrrpInstance, VrrpScript,
};

/// Top-level blocks that keepalived knows and hakit does not implement (LVS, static routes …).
const UNSUPPORTED_TOP: &[&str] = &[
    "virtual_server",
    "virtual_server_group",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "linkbeat_interfaces",
    "garp_group",
    "net_namespace",
    "net_namespace_ipvs",
    "instance",
    "use_pid_dir",
    "bfd_instance",
];

/// Keys that affect only keepalived features hakit does not have (mail alerts, SNMP, LVS …):
/// accepted with a warning.
const IGNORED_GLOBAL: &[&str] = &[
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "smtp_alert",
    "smtp_alert_vrrp",
    "lvs_id",
    "lvs_sync_daemon",
    "lvs_flush",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_checker",
    "enable_traps",
    "snmp_socket",
    "dynamic_interfaces",
    "vrrp_iptables",
    "vrrp_ipsets",
    "nftables",
    "nftables_priority",
    "nftables_counters",
    "nftables_ifindex",
    "vrrp_skip_check_adv_addr",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_priority",
    "checker_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "checker_rt_priority",
    "max_auto_priority",
    "process_names",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "notify_fifo",
    "notify_fifo_script",
    "script_log",
    "vrrp_rlimit_rttime",
    "router_id_from_hostname",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs",
    "umask",
];

/// Instance keys accepted with a warning (no effect in hakit).
const IGNORED_INSTANCE: &[&str] = &[
    "smtp_alert",
    "debug",
    "dont_track_primary",
    "track_src_ip",
    "skip_check_adv_addr",
    "notify_priority_changes",
    "kernel_rp_filter",
    "native_ipv6",
    "strict_mode",
    "vmac_garp_intvl",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_refresh_repeat",
    "higher_prio_send_advert",
    "virtual_routes",
    "virtual_rules",
    "track_file",
    "track_process",
    "track_bfd",
    "linkbeat_use_polling",
    "mcast_dst_ip",
];

fn err(pos: &Position, kind: ErrorKind) -> ConfigError {
    ConfigError::new(pos.clone(), kind)
}

fn wrong(s: &Stmt, value: &str, pos: &Position, expected: &'static str) -> ConfigError {
    err(
        pos,
        ErrorKind::WrongValue {
            keyword: s.keyword.clone(),
            value: value.to_owned(),
            expected,
        },
    )
}

/// The first argument, or an error naming what is expected.
fn arg<'a>(s: &'a Stmt, expected: &'static str) -> Result<(&'a str, &'a Position), ConfigError> {
    s.args.first().map(|(a, p)| (a.as_str(), p)).ok_or_else(|| {
        err(
            &s.pos,
            ErrorKind::MissingValue {
                keyword: s.keyword.clone(),
                expected,
            },
        )
    })
}

fn block(s: &Stmt) -> Result<&[Stmt], ConfigError> {
    s.block
        .as_deref()
        .ok_or_else(|| err(&s.pos, ErrorKind::BlockExpected(s.keyword.clone())))
}

fn uint(s: &Stmt, min: u64, max: u64, expected: &'static str) -> Result<u64, ConfigError> {
    let (v, p) = arg(s, expected)?;
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(wrong(s, v, p, expected)),
    }
}

/// keepalived's decimal seconds (`0.01`, `1`, `2.5`), to microseconds; at most `max_secs`.
fn decimal_secs(v: &str) -> Option<Duration> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 || int.len() > 9 {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        micros *= 10;
    }
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

fn secs(
    s: &Stmt,
    min: Duration,
    max: Duration,
    expected: &'static str,
) -> Result<Duration, ConfigError> {
    let (v, p) = arg(s, expected)?;
    match decimal_secs(v) {
        Some(d) if d >= min && d <= max => Ok(d),
        _ => Err(wrong(s, v, p, expected)),
    }
}

fn flag(s: &Stmt) -> Result<bool, ConfigError> {
    match s.args.first() {
        None => Ok(true),
        Some((v, p)) => match v.to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" => Ok(true),
            "false" | "off" | "no" => Ok(false),
            _ => Err(wrong(s, v, p, "true or false")),
        },
    }
}

fn ip(s: &Stmt, v: &str, p: &Position) -> Result<IpAddr, ConfigError> {
    v.parse()
        .map_err(|_| wrong(s, v, p, "an IPv4 or IPv6 address"))
}

/// The rest of the line as one command string (keepalived accepts quoted or bare words).
fn command(s: &Stmt) -> Result<String, ConfigError> {
    arg(s, "a command")?;
    Ok(s.args
        .iter()
        .map(|(a, _)| a.as_str())
        .collect::<Vec<_>>()
        .join(" "))
}

fn warn(w: &mut Vec<Warning>, pos: &Position, message: String) {
    w.push(Warning {
        pos: pos.clone(),
        message,
    });
}

fn user(s: &Stmt) -> Result<(String, Option<String>), ConfigError> {
    let (u, _) = arg(s, "a user name")?;
    Ok((u.to_owned(), s.args.get(1).map(|(g, _)| g.clone())))
}

pub(crate) fn interpret(
    stmts: &[Stmt],
    w: &mut Vec<Warning>,
) -> Result<KeepalivedConf, ConfigError> {
    let mut conf = KeepalivedConf::default();
    // global_defs first: instances take their defaults from it wherever it is written.
    for s in stmts.iter().filter(|s| s.keyword == "global_defs") {
        global_defs(block(s)?, &mut conf.global, w)?;
    }
    let mut names = HashSet::new();
    for s in stmts {
        match s.keyword.as_str() {
            "global_defs" => {}
            "vrrp_instance" => {
                let (name, _) = arg(s, "an instance name")?;
                if !names.insert(("i", name.to_owned())) {
                    return Err(err(
                        &s.pos,
                        ErrorKind::Duplicate {
                            block: "vrrp_instance",
                            name: name.into(),
                        },
                    ));
                }
                conf.instances.push(instance(s, name, &conf.global, w)?);
            }
            "vrrp_script" => {
                let (name, _) = arg(s, "a script name")?;
                if !names.insert(("s", name.to_owned())) {
                    return Err(err(
                        &s.pos,
                        ErrorKind::Duplicate {
                            block: "vrrp_script",
                            name: name.into(),
                        },
                    ));
                }
                if let Some(sc) = script(s, name, w)? {
                    conf.scripts.push(sc);
                }
            }
            "vrrp_sync_group" => {
                let (name, _) = arg(s, "a group name")?;
                if !names.insert(("g", name.to_owned())) {
                    return Err(err(
                        &s.pos,
                        ErrorKind::Duplicate {
                            block: "vrrp_sync_group",
                            name: name.into(),
                        },
                    ));
                }
                conf.sync_groups.push(sync_group(s, name, w)?);
            }
            k if UNSUPPORTED_TOP.contains(&k) => warn(
                w,
                &s.pos,
                format!("{k} is not supported by hakit (VRRP only); block ignored"),
            ),
            k => warn(w, &s.pos, format!("unknown keyword '{k}'")),
        }
    }
    fix_references(&mut conf, w);
    Ok(conf)
}

/// Drops references to objects that do not exist, with keepalived's warnings.
fn fix_references(conf: &mut KeepalivedConf, w: &mut Vec<Warning>) {
    let instances: HashSet<String> = conf.instances.iter().map(|i| i.name.clone()).collect();
    let scripts: HashSet<String> = conf.scripts.iter().map(|s| s.name.clone()).collect();
    let mut member_of: HashSet<String> = HashSet::new();
    let keep_tracked = |owner: &str, t: &Tracked, w: &mut Vec<Warning>| {
        let ok = scripts.contains(&t.name);
        if !ok {
            warn(
                w,
                &t.pos,
                format!("({owner}) track script {} not found, ignoring...", t.name),
            );
        }
        ok
    };
    for g in &mut conf.sync_groups {
        let name = g.name.clone();
        g.group.retain(|m| {
            if !instances.contains(m) {
                warn(
                    w,
                    &g.pos,
                    format!("vrrp_sync_group {name}: virtual router {m} doesn't exist - ignoring"),
                );
                false
            } else if !member_of.insert(m.clone()) {
                warn(
                    w,
                    &g.pos,
                    format!(
                        "vrrp_sync_group {name}: {m} is already in another sync group - ignoring"
                    ),
                );
                false
            } else {
                true
            }
        });
        g.track_script.retain(|t| keep_tracked(&name, t, w));
    }
    conf.sync_groups.retain(|g| {
        if g.group.is_empty() {
            warn(
                w,
                &g.pos,
                format!(
                    "vrrp_sync_group {} has no virtual routers - removing",
                    g.name
                ),
            );
        }
        !g.group.is_empty()
    });
    for i in &mut conf.instances {
        let name = i.name.clone();
        i.track_script.retain(|t| keep_tracked(&name, t, w));
    }
}

fn global_defs(b: &[Stmt], g: &mut GlobalDefs, w: &mut Vec<Warning>) -> Result<(), ConfigError> {
    for s in b {
        match s.keyword.as_str() {
            "router_id" => g.router_id = Some(arg(s, "a name")?.0.to_owned()),
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_version" => g.vrrp_version = Some(uint(s, 2, 3, "2 or 3")? as u8),
            "vrrp_rt_priority" => g.rt_priority = Some(uint(s, 1, 99, "1..99")? as u8),
            "vrrp_garp_master_delay" => {
                g.garp_master_delay = Some(Duration::from_secs(uint(s, 0, 86_400, "seconds")?))
            }
            "vrrp_garp_master_repeat" => {
                g.garp_master_repeat = Some(uint(s, 1, 1_000, "1..1000")? as u32)
            }
            "vrrp_garp_master_refresh" => {
                let n = uint(s, 0, 86_400, "seconds")?;
                g.garp_master_refresh = (n > 0).then(|| Duration::from_secs(n));
            }
            "vrrp_garp_master_refresh_repeat" => {
                g.garp_master_refresh_repeat = Some(uint(s, 1, 1_000, "1..1000")? as u32)
            }
            "enable_script_security" => g.enable_script_security = true,
            "script_user" => g.script_user = Some(user(s)?),
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "vrrp_startup_delay" => {
                g.startup_delay = Some(secs(
                    s,
                    Duration::ZERO,
                    Duration::from_secs(3600),
                    "seconds (0..3600)",
                )?)
            }
            "vrrp_lower_prio_no_advert" => g.lower_prio_no_advert = flag(s)?,
            "v3_checksum_as_v2" => g.v3_checksum_as_v2 = flag(s)?,
            k if IGNORED_GLOBAL.contains(&k) => warn(
                w,
                &s.pos,
                format!("global_defs {k} has no effect in hakit; ignored"),
            ),
            k => warn(w, &s.pos, format!("unknown keyword '{k}' in global_defs")),
        }
    }
    Ok(())
}

fn tracked(b: &[Stmt], w: &mut Vec<Warning>, what: &str) -> Result<Vec<Tracked>, ConfigError> {
    let mut out = Vec::new();
    for s in b {
        let mut weight = None;
        let mut i = 0;
        while i < s.args.len() {
            let (a, p) = &s.args[i];
            match a.as_str() {
                "weight" => {
                    let Some((v, vp)) = s.args.get(i + 1) else {
                        return Err(err(
                            p,
                            ErrorKind::MissingValue {
                                keyword: "weight".into(),
                                expected: "-254..254",
                            },
                        ));
                    };
                    weight = Some(match v.parse::<i32>() {
                        Ok(n) if (-254..=254).contains(&n) => n,
                        _ => return Err(wrong(s, v, vp, "-254..254")),
                    });
                    i += 2;
                    // `reverse` after a weight: accepted, same sign convention handled by scripts.
                    if matches!(s.args.get(i), Some((r, _)) if r == "reverse") {
                        i += 1;
                    }
                }
                other => {
                    warn(
                        w,
                        p,
                        format!("{what} {}: unknown option '{other}' ignored", s.keyword),
                    );
                    i += 1;
                }
            }
        }
        out.push(Tracked {
            name: s.keyword.clone(),
            weight,
            pos: s.pos.clone(),
        });
    }
    Ok(out)
}

fn notify_key(n: &mut Notify, s: &Stmt) -> Result<bool, ConfigError> {
    let slot = match s.keyword.as_str() {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify" => &mut n.any,
        _ => return Ok(false),
    };
    *slot = Some(command(s)?);
    Ok(true)
}

fn vips(b: &[Stmt], w: &mut Vec<Warning>) -> Result<Vec<VirtualIp>, ConfigError> {
    let mut out = Vec::new();
    for s in b {
        let (addr, prefix) = match s.keyword.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.keyword.as_str(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            wrong(
                s,
                &s.keyword,
                &s.pos,
                "ADDRESS[/PREFIX] [dev IF] [label LABEL] …",
            )
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(wrong(
                        s,
                        &s.keyword,
                        &s.pos,
                        "a prefix length within the family's range",
                    ));
                }
            },
        };
        let mut v = VirtualIp {
            addr,
            prefix,
            dev: None,
            label: None,
            broadcast: None,
            scope: None,
            no_track: false,
            pos: s.pos.clone(),
        };
        let mut i = 0;
        while i < s.args.len() {
            let (k, p) = &s.args[i];
            let val = |i: usize| {
                s.args
                    .get(i + 1)
                    .map(|(v, p)| (v.as_str(), p))
                    .ok_or_else(|| {
                        err(
                            p,
                            ErrorKind::MissingValue {
                                keyword: k.clone(),
                                expected: "a value",
                            },
                        )
                    })
            };
            match k.as_str() {
                "dev" => {
                    v.dev = Some(val(i)?.0.to_owned());
                    i += 2;
                }
                "label" => {
                    let (l, lp) = val(i)?;
                    if l.len() > 15 {
                        return Err(wrong(s, l, lp, "a label of at most 15 characters"));
                    }
                    v.label = Some(l.to_owned());
                    i += 2;
                }
                "brd" => {
                    let (b, bp) = val(i)?;
                    v.broadcast = Some(ip(s, b, bp)?);
                    i += 2;
                }
                "scope" => {
                    v.scope = Some(val(i)?.0.to_owned());
                    i += 2;
                }
                "no_track" => {
                    v.no_track = true;
                    i += 1;
                }
                "preferred_lft" | "peer" | "metric" | "protocol" | "home" | "nodad"
                | "noprefixroute" | "autojoin" | "track_group" => {
                    warn(
                        w,
                        p,
                        format!("virtual_ipaddress option '{k}' is not supported; ignored"),
                    );
                    // Options with a value skip it too.
                    i += if matches!(k.as_str(), "home" | "nodad" | "noprefixroute" | "autojoin") {
                        1
                    } else {
                        2
                    };
                }
                other => return Err(wrong(s, other, p, "dev, label, brd, scope or no_track")),
            }
        }
        out.push(v);
    }
    Ok(out)
}

fn instance(
    s: &Stmt,
    name: &str,
    g: &GlobalDefs,
    w: &mut Vec<Warning>,
) -> Result<VrrpInstance, ConfigError> {
    let mut vi = VrrpInstance {
        name: name.to_owned(),
        pos: s.pos.clone(),
        state: None,
        interface: String::new(),
        vrid: 0,
        priority: 100,
        advert_int: Duration::from_secs(1),
        version: g.vrrp_version.unwrap_or(2),
        use_vmac: None,
        vmac_xmit_base: false,
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        accept: None,
        src_ip: None,
        unicast_peers: Vec::new(),
        virtual_ipaddress: Vec::new(),
        virtual_ipaddress_excluded: Vec::new(),
        v3_checksum_as_v2: g.v3_checksum_as_v2,
        authentication: None,
        track_interface: Vec::new(),
        track_script: Vec::new(),
        notify: Notify::default(),
        garp_master_delay: g.garp_master_delay,
        garp_master_repeat: g.garp_master_repeat,
        garp_master_refresh: g.garp_master_refresh,
        lower_prio_no_advert: g.lower_prio_no_advert,
        down_timer_adverts: 3,
    };
    let mut interface_seen = false;
    let mut vrid_seen = false;
    let mut advert_pos = None;
    for k in block(s)? {
        if notify_key(&mut vi.notify, k)? {
            continue;
        }
        match k.keyword.as_str() {
            "state" => {
                let (v, p) = arg(k, "MASTER or BACKUP")?;
                vi.state = Some(match v {
                    "MASTER" => InitialState::Master,
                    "BACKUP" => InitialState::Backup,
                    other => {
                        warn(
                            w,
                            p,
                            format!("({name}) unknown state '{other}', defaulting to BACKUP"),
                        );
                        InitialState::Backup
                    }
                });
            }
            "interface" => {
                let (v, p) = arg(k, "an interface name")?;
                if v.is_empty() || v.len() > 15 || v.contains('/') {
                    return Err(wrong(k, v, p, "an interface name of 1..15 characters"));
                }
                vi.interface = v.to_owned();
                interface_seen = true;
            }
            "virtual_router_id" => {
                vi.vrid = uint(k, 1, 255, "1..255")? as u8;
                vrid_seen = true;
            }
            "priority" => vi.priority = uint(k, 1, 255, "1..255")? as u8,
            "advert_int" => {
                vi.advert_int = secs(
                    k,
                    Duration::from_millis(10),
                    Duration::from_secs(255),
                    "seconds, 0.01..255",
                )?;
                advert_pos = Some(k.pos.clone());
            }
            "version" => vi.version = uint(k, 2, 3, "2 or 3")? as u8,
            "use_vmac" => {
                let n = match k.args.first() {
                    Some((n, p)) if n.len() > 15 => {
                        return Err(wrong(k, n, p, "an interface name of 1..15 characters"));
                    }
                    Some((n, _)) => n.clone(),
                    None => String::new(), // filled with vrrp.VRID below
                };
                vi.use_vmac = Some(n);
            }
            "vmac_xmit_base" => vi.vmac_xmit_base = true,
            "nopreempt" => vi.nopreempt = true,
            "preempt" => vi.nopreempt = false,
            "preempt_delay" => {
                vi.preempt_delay = secs(
                    k,
                    Duration::ZERO,
                    Duration::from_secs(1000),
                    "seconds, 0..1000",
                )?
            }
            "accept" => vi.accept = Some(true),
            "no_accept" => vi.accept = Some(false),
            "unicast_src_ip" | "mcast_src_ip" => {
                let (v, p) = arg(k, "an address")?;
                vi.src_ip = Some(ip(k, v, p)?);
            }
            "unicast_peer" => {
                for peer in block(k)? {
                    let addr = ip(peer, &peer.keyword, &peer.pos)?;
                    let mut ttl = None;
                    let (mut lo, mut hi) = (0u8, 255u8);
                    let mut i = 0;
                    while i < peer.args.len() {
                        let (o, op) = &peer.args[i];
                        let Some((v, vp)) = peer.args.get(i + 1) else {
                            return Err(err(
                                op,
                                ErrorKind::MissingValue {
                                    keyword: o.clone(),
                                    expected: "0..255",
                                },
                            ));
                        };
                        let n: u8 = v.parse().map_err(|_| wrong(peer, v, vp, "0..255"))?;
                        match o.as_str() {
                            "min_ttl" => lo = n,
                            "max_ttl" => hi = n,
                            _ => return Err(wrong(peer, o, op, "min_ttl or max_ttl")),
                        }
                        ttl = Some((lo, hi));
                        i += 2;
                    }
                    vi.unicast_peers.push(UnicastPeer { addr, ttl });
                }
            }
            "virtual_ipaddress" => vi.virtual_ipaddress.extend(vips(block(k)?, w)?),
            "virtual_ipaddress_excluded" => {
                vi.virtual_ipaddress_excluded.extend(vips(block(k)?, w)?)
            }
            "v3_checksum_as_v2" => vi.v3_checksum_as_v2 = flag(k)?,
            "authentication" => {
                let mut kind = None;
                let mut pass = None;
                for a in block(k)? {
                    match a.keyword.as_str() {
                        "auth_type" => {
                            let (v, p) = arg(a, "PASS")?;
                            match v {
                                "PASS" => kind = Some(()),
                                "AH" => {
                                    return Err(err(p, ErrorKind::Unsupported(
                                        "auth_type AH (IPsec AH, VRRPv2 auth type 2) is not supported; use PASS or none".into(),
                                    )));
                                }
                                other => return Err(wrong(a, other, p, "PASS")),
                            }
                        }
                        "auth_pass" => {
                            let (v, p) = arg(a, "a password")?;
                            if v.len() > 8 {
                                warn(w, p, "Truncating auth_pass to 8 characters".into());
                            }
                            pass = Some(v.as_bytes()[..v.len().min(8)].to_vec());
                        }
                        other => warn(
                            w,
                            &a.pos,
                            format!("unknown keyword '{other}' in authentication"),
                        ),
                    }
                }
                match (kind, pass) {
                    (Some(()), Some(pass)) => vi.authentication = Some(Authentication { pass }),
                    (Some(()), None) => {
                        return Err(err(
                            &k.pos,
                            ErrorKind::Missing {
                                block: "authentication",
                                name: name.into(),
                                keyword: "auth_pass",
                            },
                        ));
                    }
                    (None, _) => warn(w, &k.pos, "authentication without auth_type ignored".into()),
                }
            }
            "track_interface" => {
                vi.track_interface
                    .extend(tracked(block(k)?, w, "track_interface")?)
            }
            "track_script" => vi
                .track_script
                .extend(tracked(block(k)?, w, "track_script")?),
            "garp_master_delay" => {
                vi.garp_master_delay = Some(Duration::from_secs(uint(k, 0, 86_400, "seconds")?))
            }
            "garp_master_repeat" => {
                vi.garp_master_repeat = Some(uint(k, 1, 1_000, "1..1000")? as u32)
            }
            "garp_master_refresh" => {
                let n = uint(k, 0, 86_400, "seconds")?;
                vi.garp_master_refresh = (n > 0).then(|| Duration::from_secs(n));
            }
            "lower_prio_no_advert" => vi.lower_prio_no_advert = flag(k)?,
            "down_timer_adverts" => vi.down_timer_adverts = uint(k, 1, 100, "1..100")? as u8,
            other if IGNORED_INSTANCE.contains(&other) => warn(
                w,
                &k.pos,
                format!("({name}) {other} has no effect in hakit; ignored"),
            ),
            other => warn(w, &k.pos, format!("({name}) unknown keyword '{other}'")),
        }
    }
    if !interface_seen {
        return Err(err(
            &s.pos,
            ErrorKind::Missing {
                block: "vrrp_instance",
                name: name.into(),
                keyword: "interface",
            },
        ));
    }
    if !vrid_seen {
        return Err(err(
            &s.pos,
            ErrorKind::Missing {
                block: "vrrp_instance",
                name: name.into(),
                keyword: "virtual_router_id",
            },
        ));
    }
    if let Some(n) = vi.use_vmac.as_mut()
        && n.is_empty()
    {
        *n = format!("vrrp.{}", vi.vrid);
    }
    let v6 = vi
        .virtual_ipaddress
        .first()
        .is_some_and(|v| v.addr.is_ipv6());
    if vi.virtual_ipaddress.iter().any(|v| v.addr.is_ipv6() != v6) {
        return Err(err(
            &s.pos,
            ErrorKind::Unsupported(format!(
                "({name}) virtual_ipaddress mixes IPv4 and IPv6; use virtual_ipaddress_excluded or two instances"
            )),
        ));
    }
    if v6 && vi.version == 2 {
        // keepalived forces version 3 for IPv6 instances.
        warn(
            w,
            &s.pos,
            format!("({name}) IPv6 needs VRRPv3; using version 3"),
        );
        vi.version = 3;
    }
    if vi.version == 2 && vi.advert_int.subsec_nanos() != 0 {
        let rounded = Duration::from_secs(vi.advert_int.as_secs_f64().round().max(1.0) as u64);
        warn(
            w,
            advert_pos.as_ref().unwrap_or(&s.pos),
            format!(
                "({name}) VRRPv2 advert_int must be whole seconds; using {}s",
                rounded.as_secs()
            ),
        );
        vi.advert_int = rounded;
    }
    if vi.version == 3 && vi.authentication.is_some() {
        warn(
            w,
            &s.pos,
            format!("({name}) authentication is not used with VRRPv3; ignored"),
        );
        vi.authentication = None;
    }
    if g.vrrp_strict {
        strict_checks(&vi)?;
    }
    Ok(vi)
}

/// keepalived's `vrrp_strict`: the RFC's rules, enforced as configuration errors.
fn strict_checks(vi: &VrrpInstance) -> Result<(), ConfigError> {
    let fail = |m: &str| {
        Err(err(
            &vi.pos,
            ErrorKind::Unsupported(format!("({}) vrrp_strict: {m}", vi.name)),
        ))
    };
    if vi.virtual_ipaddress.is_empty() {
        return fail("at least one virtual_ipaddress is required");
    }
    if !vi.unicast_peers.is_empty() {
        return fail("unicast peers are not allowed");
    }
    if vi.authentication.is_some() {
        return fail("authentication is not allowed");
    }
    if !vi.preempt_delay.is_zero() {
        return fail("preempt_delay is not allowed");
    }
    if let Some(first) = vi.virtual_ipaddress.first()
        && let IpAddr::V6(a) = first.addr
        && !a.is_unicast_link_local()
    {
        return fail("the first IPv6 virtual_ipaddress must be link-local");
    }
    Ok(())
}

fn script(s: &Stmt, name: &str, w: &mut Vec<Warning>) -> Result<Option<VrrpScript>, ConfigError> {
    let mut sc = VrrpScript {
        name: name.to_owned(),
        pos: s.pos.clone(),
        script: String::new(),
        interval: Duration::from_secs(1),
        timeout: None,
        weight: 0,
        reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
    };
    for k in block(s)? {
        match k.keyword.as_str() {
            "script" => sc.script = command(k)?,
            "interval" => {
                sc.interval = secs(
                    k,
                    Duration::from_millis(1),
                    Duration::from_secs(86_400),
                    "seconds",
                )?
            }
            "timeout" => {
                sc.timeout = Some(secs(
                    k,
                    Duration::from_millis(1),
                    Duration::from_secs(86_400),
                    "seconds",
                )?)
            }
            "weight" => {
                let (v, p) = arg(k, "-253..253")?;
                sc.weight = match v.parse::<i32>() {
                    Ok(n) if (-253..=253).contains(&n) => n,
                    _ => return Err(wrong(k, v, p, "-253..253")),
                };
                sc.reverse = matches!(k.args.get(1), Some((r, _)) if r == "reverse");
            }
            "rise" => sc.rise = uint(k, 1, 1_000_000, "a positive count")? as u32,
            "fall" => sc.fall = uint(k, 1, 1_000_000, "a positive count")? as u32,
            "user" => sc.user = Some(user(k)?),
            "init_fail" => sc.init_fail = true,
            other => warn(
                w,
                &k.pos,
                format!("vrrp_script {name}: unknown keyword '{other}'"),
            ),
        }
    }
    if sc.script.is_empty() {
        warn(
            w,
            &s.pos,
            format!("No script set for vrrp_script {name} - removing"),
        );
        return Ok(None);
    }
    Ok(Some(sc))
}

fn sync_group(s: &Stmt, name: &str, w: &mut Vec<Warning>) -> Result<SyncGroup, ConfigError> {
    let mut g = SyncGroup {
        name: name.to_owned(),
        pos: s.pos.clone(),
        group: Vec::new(),
        notify: Notify::default(),
        track_interface: Vec::new(),
        track_script: Vec::new(),
    };
    for k in block(s)? {
        if notify_key(&mut g.notify, k)? {
            continue;
        }
        match k.keyword.as_str() {
            "group" => {
                for m in block(k)? {
                    for (word, _) in m.words() {
                        g.group.push(word.to_owned());
                    }
                }
            }
            "track_interface" => {
                g.track_interface
                    .extend(tracked(block(k)?, w, "track_interface")?)
            }
            "track_script" => g
                .track_script
                .extend(tracked(block(k)?, w, "track_script")?),
            "smtp_alert"
            | "global_tracking"
            | "sync_group_tracking_weight"
            | "track_file"
            | "track_process" => warn(
                w,
                &k.pos,
                format!(
                    "vrrp_sync_group {name}: {} has no effect in hakit; ignored",
                    k.keyword
                ),
            ),
            other => warn(
                w,
                &k.pos,
                format!("vrrp_sync_group {name}: unknown keyword '{other}'"),
            ),
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::decimal_secs;
    use std::time::Duration;

    #[test]
    fn decimal_seconds() {
        assert_eq!(decimal_secs("1"), Some(Duration::from_secs(1)));
        assert_eq!(decimal_secs("0.01"), Some(Duration::from_millis(10)));
        assert_eq!(decimal_secs(".5"), Some(Duration::from_millis(500)));
        assert_eq!(decimal_secs("2.25"), Some(Duration::from_millis(2250)));
        assert_eq!(decimal_secs("1.0000001"), None);
        assert_eq!(decimal_secs("-1"), None);
        assert_eq!(decimal_secs("1e3"), None);
        assert_eq!(decimal_secs("."), None);
        assert_eq!(decimal_secs(""), None);
    }
}
