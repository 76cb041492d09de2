//! The HA hook's configuration (`libdhcp_ha.so` `parameters.high-availability`), read with
//! Kea 2.2's defaults, limits and error messages (`ha_config_parser.cc`, `ha_config.cc`).
//!
//! No I/O: `basic-auth-password-file` is kept as a path for the daemon to read (see
//! [`PeerConfig::basic_auth`]); TLS files are kept as paths.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use super::error::HaConfigError;
use super::state::{HaState, Pausing};
use crate::config::{HookLibrary, Value};
use crate::http::BasicAuth;

/// Kea's default `heartbeat-delay` (ms).
pub const DEFAULT_HEARTBEAT_DELAY: u16 = 10_000;
/// Kea's default `max-response-delay` (ms).
pub const DEFAULT_MAX_RESPONSE_DELAY: u16 = 60_000;
/// Kea's default `max-ack-delay` (ms).
pub const DEFAULT_MAX_ACK_DELAY: u16 = 10_000;
/// Kea's default `max-unacked-clients`.
pub const DEFAULT_MAX_UNACKED_CLIENTS: u32 = 10;
/// Kea's default `delayed-updates-limit` in load-balancing mode (0 in the others).
pub const DEFAULT_LB_DELAYED_UPDATES_LIMIT: u32 = 100;
/// Kea's default `sync-timeout` (ms).
pub const DEFAULT_SYNC_TIMEOUT: u32 = 60_000;
/// Kea's default `sync-page-limit`.
pub const DEFAULT_SYNC_PAGE_LIMIT: u32 = 10_000;

/// The HA mode (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HaMode {
    /// `load-balancing`.
    LoadBalancing,
    /// `hot-standby`.
    HotStandby,
    /// `passive-backup`.
    PassiveBackup,
}

impl HaMode {
    /// Kea's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::LoadBalancing => "load-balancing",
            Self::HotStandby => "hot-standby",
            Self::PassiveBackup => "passive-backup",
        }
    }

    /// The mode of a name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "load-balancing" => Some(Self::LoadBalancing),
            "hot-standby" => Some(Self::HotStandby),
            "passive-backup" => Some(Self::PassiveBackup),
            _ => None,
        }
    }
}

/// A peer's role (`role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `primary`.
    Primary,
    /// `secondary` (load-balancing).
    Secondary,
    /// `standby` (hot-standby).
    Standby,
    /// `backup`.
    Backup,
}

impl Role {
    /// Kea's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::Standby => "standby",
            Self::Backup => "backup",
        }
    }

    /// The role of a name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "primary" => Some(Self::Primary),
            "secondary" => Some(Self::Secondary),
            "standby" => Some(Self::Standby),
            "backup" => Some(Self::Backup),
            _ => None,
        }
    }
}

/// URL scheme of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

/// A peer URL as Kea's `Url` class reads it: scheme, host, optional port, path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerUrl {
    /// As written.
    pub raw: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Host as written (an IPv6 literal keeps its brackets).
    pub hostname: String,
    /// Port (0: none given).
    pub port: u16,
    /// Path (`/` when the URL ends with the port and a slash, empty when absent).
    pub path: String,
}

impl PeerUrl {
    /// Parses a URL with the rules and error messages of Kea's `Url::parse`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let colon = match url.find(':') {
            None | Some(0) => return Err(format!("url {url} lacks http or https scheme")),
            Some(i) => i,
        };
        let scheme = match &url[..colon] {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            s => return Err(format!("invalid scheme {s} in {url}")),
        };
        if !url[colon..].starts_with("://") {
            return Err(format!("expected :// after scheme in {url}"));
        }
        let start = colon + 3;
        if start >= url.len() {
            return Err(format!("hostname missing in {url}"));
        }
        let rest = &url[start..];
        let host_end = if rest.starts_with('[') {
            match rest.find(']') {
                None => return Err(format!("expected ] after IPv6 address in {url}")),
                Some(1) => return Err(format!("expected IPv6 address within [] in {url}")),
                Some(i) => i + 1,
            }
        } else {
            rest.find(':')
                .or_else(|| rest.find('/'))
                .unwrap_or(rest.len())
        };
        let hostname = rest[..host_end].to_string();
        let mut after = &rest[host_end..];
        let mut port = 0u16;
        if let Some(p) = after.strip_prefix(':') {
            if p.is_empty() {
                return Err(format!("expected port number after : in {url}"));
            }
            let end = p.find('/').unwrap_or(p.len());
            let text = &p[..end];
            port = text
                .parse::<u32>()
                .ok()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("invalid port number {text} in {url}"))?;
            after = &p[end..];
        }
        let path = if rest.len() == host_end {
            String::new()
        } else {
            after.to_string()
        };
        Ok(Self {
            raw: url.to_string(),
            scheme,
            hostname,
            port,
            path,
        })
    }

    /// The host without IPv6 brackets (what goes in the `Host` header).
    pub fn stripped_hostname(&self) -> &str {
        let h = self.hostname.as_str();
        if h.len() >= 2 && h.starts_with('[') {
            &h[1..h.len() - 1]
        } else {
            h
        }
    }

    /// The host as an address (Kea requires an IP literal).
    pub fn address(&self) -> Option<IpAddr> {
        self.stripped_hostname().parse().ok()
    }

    /// Kea's `Url::toText`.
    pub fn to_text(&self) -> String {
        let mut s = String::from(match self.scheme {
            Scheme::Http => "http://",
            Scheme::Https => "https://",
        });
        s.push_str(&self.hostname);
        if self.port != 0 {
            s.push_str(&format!(":{}", self.port));
        }
        s.push_str(&self.path);
        s
    }
}

/// One entry of `peers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// `name` (trimmed).
    pub name: String,
    /// `url`.
    pub url: PeerUrl,
    /// `role`.
    pub role: Role,
    /// `auto-failover` (default true).
    pub auto_failover: bool,
    /// `basic-auth-user`.
    pub basic_auth_user: Option<String>,
    /// `basic-auth-password`.
    pub basic_auth_password: Option<String>,
    /// `basic-auth-password-file` (read by the daemon).
    pub basic_auth_password_file: Option<String>,
    /// `trust-anchor`.
    pub trust_anchor: Option<String>,
    /// `cert-file`.
    pub cert_file: Option<String>,
    /// `key-file`.
    pub key_file: Option<String>,
}

impl PeerConfig {
    /// Kea's log label: `name (url)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.url.to_text())
    }

    /// The credentials sent to this peer: `basic-auth-user` with `basic-auth-password`, or
    /// with `password_file_content` (the content of `basic-auth-password-file`, read by the
    /// daemon). `None` without a user (or with an empty one, as Kea).
    pub fn basic_auth(&self, password_file_content: Option<&str>) -> Option<BasicAuth> {
        let user = self.basic_auth_user.as_deref().filter(|u| !u.is_empty())?;
        let password = password_file_content
            .or(self.basic_auth_password.as_deref())
            .unwrap_or("");
        Some(BasicAuth::new(user, password))
    }
}

/// `multi-threading` of the HA configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HaMultiThreading {
    /// `enable-multi-threading` (default false in 2.2).
    pub enable_multi_threading: bool,
    /// `http-dedicated-listener` (default false).
    pub http_dedicated_listener: bool,
    /// `http-listener-threads` (0: as many as DHCP threads).
    pub http_listener_threads: u32,
    /// `http-client-threads` (0: as many as DHCP threads).
    pub http_client_threads: u32,
}

/// The HA configuration of this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// `this-server-name`.
    pub this_server_name: String,
    /// `mode`.
    pub mode: HaMode,
    /// `send-lease-updates`.
    pub send_lease_updates: bool,
    /// `sync-leases`.
    pub sync_leases: bool,
    /// `sync-timeout` (ms).
    pub sync_timeout: u32,
    /// `sync-page-limit`.
    pub sync_page_limit: u32,
    /// `delayed-updates-limit`.
    pub delayed_updates_limit: u32,
    /// `heartbeat-delay` (ms).
    pub heartbeat_delay: u16,
    /// `max-response-delay` (ms).
    pub max_response_delay: u16,
    /// `max-ack-delay` (ms).
    pub max_ack_delay: u16,
    /// `max-unacked-clients`.
    pub max_unacked_clients: u32,
    /// `wait-backup-ack`.
    pub wait_backup_ack: bool,
    /// `multi-threading`.
    pub multi_threading: HaMultiThreading,
    /// `trust-anchor` (global).
    pub trust_anchor: Option<String>,
    /// `cert-file` (global).
    pub cert_file: Option<String>,
    /// `key-file` (global).
    pub key_file: Option<String>,
    /// `require-client-certs`.
    pub require_client_certs: bool,
    /// `restrict-commands`.
    pub restrict_commands: bool,
    /// `peers`, in configuration order.
    pub peers: Vec<PeerConfig>,
    /// `state-machine.states`: the pausing of each configured state.
    pub pausing: BTreeMap<HaState, Pausing>,
}

// ------------------------------------------------------------------ Kea-style getters

fn missing(scope: &Value, name: &str) -> HaConfigError {
    HaConfigError::new(format!(
        "missing parameter '{name}' ({})",
        scope.span.point()
    ))
}

fn bad_type(v: &Value, name: &str) -> HaConfigError {
    HaConfigError::new(format!(
        "invalid type specified for parameter '{name}' ({})",
        v.span.point()
    ))
}

fn get_string(scope: &Value, name: &str) -> Result<String, HaConfigError> {
    let v = scope.get(name).ok_or_else(|| missing(scope, name))?;
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| bad_type(v, name))
}

fn get_opt_string(scope: &Value, name: &str) -> Result<Option<String>, HaConfigError> {
    match scope.get(name) {
        None => Ok(None),
        Some(_) => get_string(scope, name).map(Some),
    }
}

fn get_bool(scope: &Value, name: &str, default: bool) -> Result<bool, HaConfigError> {
    match scope.get(name) {
        None => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| bad_type(v, name)),
    }
}

/// Kea's `getAndValidateInteger<T>`: an integer in `0..=max`.
fn get_int(scope: &Value, name: &str, default: u64, max: u64) -> Result<u64, HaConfigError> {
    let Some(v) = scope.get(name) else {
        return Ok(default);
    };
    let n = v.as_i64().ok_or_else(|| bad_type(v, name))?;
    if n < 0 {
        return Err(HaConfigError::new(format!("'{name}' must not be negative")));
    }
    let n = n as u64;
    if n > max {
        return Err(HaConfigError::new(format!(
            "'{name}' must not be greater than {max}"
        )));
    }
    Ok(n)
}

fn u16_param(scope: &Value, name: &str, default: u16) -> Result<u16, HaConfigError> {
    get_int(scope, name, default.into(), u16::MAX.into()).map(|n| n as u16)
}

fn u32_param(scope: &Value, name: &str, default: u32) -> Result<u32, HaConfigError> {
    get_int(scope, name, default.into(), u32::MAX.into()).map(|n| n as u32)
}

impl HaConfig {
    /// Reads the HA hook entry of `kea-dhcp4.conf` (its `parameters` must hold
    /// `high-availability`). `this_server_name` overrides `this-server-name` (one
    /// configuration file for both partners); `None` takes it from the configuration.
    pub fn from_hook(
        hook: &HookLibrary,
        this_server_name: Option<&str>,
    ) -> Result<Self, HaConfigError> {
        let ha = hook
            .parameters
            .as_ref()
            .and_then(|p| p.get("high-availability"))
            .ok_or_else(|| {
                HaConfigError::new(
                    "high-availability parameter not specified for High Availability hooks \
                     library",
                )
            })?;
        Self::from_value(ha, this_server_name)
    }

    /// Reads the `high-availability` list (exactly one map), with Kea's defaults and checks.
    pub fn from_value(
        config: &Value,
        this_server_name: Option<&str>,
    ) -> Result<Self, HaConfigError> {
        let Some(list) = config.as_list() else {
            return Err(HaConfigError::new("HA configuration must be a list"));
        };
        if list.len() != 1 {
            return Err(HaConfigError::new(
                "invalid number of configurations in the HA configuration list. Expected \
                 exactly one configuration",
            ));
        }
        let c = &list[0];
        if c.as_map().is_none() {
            return Err(HaConfigError::new(
                "expected list of maps in the HA configuration",
            ));
        }
        let mode_name = get_string(c, "mode")?;
        let mode = HaMode::from_name(&mode_name).ok_or_else(|| {
            HaConfigError::new(format!(
                "unsupported value '{mode_name}' for mode parameter"
            ))
        })?;
        let Some(peers) = c.get("peers") else {
            return Err(HaConfigError::new(
                "'peers' parameter missing in HA configuration",
            ));
        };
        let Some(peers) = peers.as_list() else {
            return Err(HaConfigError::new("'peers' parameter must be a list"));
        };
        let mut states_list = None;
        if let Some(sm) = c.get("state-machine") {
            if sm.as_map().is_none() {
                return Err(HaConfigError::new(
                    "'state-machine' parameter must be a map",
                ));
            }
            if let Some(s) = sm.get("states") {
                states_list = Some(
                    s.as_list()
                        .ok_or_else(|| HaConfigError::new("'states' parameter must be a list"))?,
                );
            }
        }

        let name = match this_server_name {
            Some(n) => n.to_string(),
            None => get_string(c, "this-server-name")?,
        };
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(HaConfigError::new(
                "'this-server-name' value must not be empty",
            ));
        }
        let lb_default = if mode == HaMode::LoadBalancing {
            DEFAULT_LB_DELAYED_UPDATES_LIMIT
        } else {
            0
        };
        let mut cfg = Self {
            this_server_name: name,
            mode,
            send_lease_updates: get_bool(c, "send-lease-updates", true)?,
            sync_leases: get_bool(c, "sync-leases", true)?,
            sync_timeout: u32_param(c, "sync-timeout", DEFAULT_SYNC_TIMEOUT)?,
            sync_page_limit: u32_param(c, "sync-page-limit", DEFAULT_SYNC_PAGE_LIMIT)?,
            delayed_updates_limit: u32_param(c, "delayed-updates-limit", lb_default)?,
            heartbeat_delay: u16_param(c, "heartbeat-delay", DEFAULT_HEARTBEAT_DELAY)?,
            max_response_delay: u16_param(c, "max-response-delay", DEFAULT_MAX_RESPONSE_DELAY)?,
            max_ack_delay: u16_param(c, "max-ack-delay", DEFAULT_MAX_ACK_DELAY)?,
            max_unacked_clients: u32_param(c, "max-unacked-clients", DEFAULT_MAX_UNACKED_CLIENTS)?,
            wait_backup_ack: get_bool(c, "wait-backup-ack", false)?,
            multi_threading: HaMultiThreading::default(),
            trust_anchor: None,
            cert_file: None,
            key_file: None,
            require_client_certs: true,
            restrict_commands: false,
            peers: Vec::new(),
            pausing: BTreeMap::new(),
        };
        if let Some(mt) = c.get("multi-threading") {
            if mt.as_map().is_none() {
                return Err(HaConfigError::new(
                    "multi-threading configuration must be a map",
                ));
            }
            cfg.multi_threading = HaMultiThreading {
                enable_multi_threading: get_bool(mt, "enable-multi-threading", false)?,
                http_dedicated_listener: get_bool(mt, "http-dedicated-listener", false)?,
                http_listener_threads: u32_param(mt, "http-listener-threads", 0)?,
                http_client_threads: u32_param(mt, "http-client-threads", 0)?,
            };
        }
        cfg.trust_anchor = get_opt_string(c, "trust-anchor")?;
        cfg.cert_file = get_opt_string(c, "cert-file")?;
        cfg.key_file = get_opt_string(c, "key-file")?;
        cfg.require_client_certs = get_bool(c, "require-client-certs", true)?;
        cfg.restrict_commands = get_bool(c, "restrict-commands", false)?;

        for p in peers {
            cfg.peers.push(Self::peer(&cfg.peers, p)?);
        }

        if let Some(states) = states_list {
            for s in states {
                if s.as_map().is_none() {
                    return Err(HaConfigError::new("state configuration must be a map"));
                }
                let state_name = get_string(s, "state")?;
                let state = HaState::from_name(&state_name)
                    .ok_or_else(|| HaConfigError::new(format!("unknown state {state_name}")))?;
                if cfg.pausing.contains_key(&state) {
                    return Err(HaConfigError::new(format!(
                        "duplicated configuration for the '{state_name}' state"
                    )));
                }
                let pause = match s.get("pause") {
                    None => Pausing::Never,
                    Some(_) => {
                        let p = get_string(s, "pause")?;
                        Pausing::from_name(&p).ok_or_else(|| {
                            HaConfigError::new(format!(
                                "unsupported value {p} of 'pause' parameter"
                            ))
                        })?
                    }
                };
                cfg.pausing.insert(state, pause);
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn peer(seen: &[PeerConfig], p: &Value) -> Result<PeerConfig, HaConfigError> {
        if p.as_map().is_none() {
            return Err(HaConfigError::new("peer configuration must be a map"));
        }
        let raw_name = get_string(p, "name")?;
        if seen.iter().any(|s| s.name == raw_name) {
            return Err(HaConfigError::new(format!(
                "peer with name '{raw_name}' already specified"
            )));
        }
        let name = raw_name.trim().to_string();
        if name.is_empty() {
            return Err(HaConfigError::new("peer name must not be empty"));
        }
        let url_text = get_string(p, "url")?;
        // An invalid URL is reported by `validate`, as Kea does.
        let url = PeerUrl::parse(&url_text).unwrap_or(PeerUrl {
            raw: url_text,
            scheme: Scheme::Https,
            hostname: String::new(),
            port: 0,
            path: String::new(),
        });
        let trust_anchor = get_opt_string(p, "trust-anchor")?;
        let cert_file = get_opt_string(p, "cert-file")?;
        let key_file = get_opt_string(p, "key-file")?;
        let role_name = get_string(p, "role")?;
        let role = Role::from_name(&role_name).ok_or_else(|| {
            HaConfigError::new(format!(
                "unsupported value '{role_name}' for role parameter"
            ))
        })?;
        let auto_failover = get_bool(p, "auto-failover", true)?;
        let basic_auth_password = get_opt_string(p, "basic-auth-password")?;
        let basic_auth_password_file = get_opt_string(p, "basic-auth-password-file")?;
        if basic_auth_password.is_some() && basic_auth_password_file.is_some() {
            return Err(HaConfigError::new(format!(
                "only one of basic-auth-password and basic-auth-password-file parameter can \
                 be configured in peer '{name}'"
            )));
        }
        let basic_auth_user = get_opt_string(p, "basic-auth-user")?;
        if let Some(u) = &basic_auth_user
            && u.contains(':')
        {
            return Err(HaConfigError::new(format!(
                "user '{u}' must not contain a ':' in peer '{name}'"
            )));
        }
        Ok(PeerConfig {
            name,
            url,
            role,
            auto_failover,
            basic_auth_user,
            basic_auth_password,
            basic_auth_password_file,
            trust_anchor,
            cert_file,
            key_file,
        })
    }

    /// Kea's `HAConfig::validate`: this server among the peers, valid URLs with IP
    /// literals, TLS all-or-nothing, role counts per mode.
    fn validate(&self) -> Result<(), HaConfigError> {
        let me = &self.this_server_name;
        if self.peer_config(me).is_none() {
            return Err(HaConfigError::new(format!(
                "no peer configuration specified for the '{me}'"
            )));
        }
        let mut by_name: Vec<&PeerConfig> = self.peers.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let mut counts: BTreeMap<Role, u32> = BTreeMap::new();
        for p in by_name {
            if let Err(m) = PeerUrl::parse(&p.url.raw) {
                return Err(HaConfigError::new(format!(
                    "invalid URL: {m} for server {}",
                    p.name
                )));
            }
            if p.url.address().is_none() {
                return Err(HaConfigError::new(format!(
                    "bad url '{}': Failed to convert string to address '{}': Invalid \
                     argument for server {}",
                    p.url.to_text(),
                    p.url.stripped_hostname(),
                    p.name
                )));
            }
            let pick = |own: &Option<String>, global: &Option<String>| {
                own.clone()
                    .or_else(|| global.clone())
                    .filter(|s| !s.is_empty())
            };
            let ca = pick(&p.trust_anchor, &self.trust_anchor);
            let cert = pick(&p.cert_file, &self.cert_file);
            let key = pick(&p.key_file, &self.key_file);
            if ca.is_some() || cert.is_some() || key.is_some() {
                for (have, what) in [
                    (ca.is_some(), "trust-anchor"),
                    (cert.is_some(), "cert-file"),
                    (key.is_some(), "key-file"),
                ] {
                    if !have {
                        return Err(HaConfigError::new(format!(
                            "bad TLS config for server {}: {what} parameter is missing or \
                             empty: all or none of TLS parameters must be set",
                            p.name
                        )));
                    }
                }
            } else if p.url.scheme == Scheme::Https {
                return Err(HaConfigError::new(format!(
                    "bad url '{}': https scheme is not supported for server {} where TLS is \
                     disabled",
                    p.url.to_text(),
                    p.name
                )));
            }
            *counts.entry(p.role).or_default() += 1;
        }
        let n = |r: Role| counts.get(&r).copied().unwrap_or(0);
        for (r, what) in [
            (Role::Primary, "primary"),
            (Role::Secondary, "secondary"),
            (Role::Standby, "standby"),
        ] {
            if n(r) > 1 {
                return Err(HaConfigError::new(format!(
                    "multiple {what} servers specified"
                )));
            }
        }
        let fail = |m: &str| Err(HaConfigError::new(m));
        match self.mode {
            HaMode::LoadBalancing => {
                if n(Role::Standby) > 0 {
                    return fail("standby servers not allowed in the load balancing configuration");
                }
                if n(Role::Secondary) == 0 {
                    return fail("secondary server required in the load balancing configuration");
                }
                if n(Role::Primary) == 0 {
                    return fail("primary server required in the load balancing configuration");
                }
                if self.wait_backup_ack {
                    return fail(
                        "'wait-backup-ack' must be set to false in the load balancing \
                         configuration",
                    );
                }
            }
            HaMode::HotStandby => {
                if n(Role::Secondary) > 0 {
                    return fail("secondary servers not allowed in the hot standby configuration");
                }
                if n(Role::Standby) == 0 {
                    return fail("standby server required in the hot standby configuration");
                }
                if n(Role::Primary) == 0 {
                    return fail("primary server required in the hot standby configuration");
                }
                if self.wait_backup_ack {
                    return fail(
                        "'wait-backup-ack' must be set to false in the hot standby \
                         configuration",
                    );
                }
                if self.delayed_updates_limit > 0 {
                    return fail(
                        "'delayed-updates-limit' must be set to 0 in the hot standby \
                         configuration",
                    );
                }
            }
            HaMode::PassiveBackup => {
                if n(Role::Secondary) > 0 {
                    return fail(
                        "secondary servers not allowed in the passive backup configuration",
                    );
                }
                if n(Role::Standby) > 0 {
                    return fail("standby servers not allowed in the passive backup configuration");
                }
                if n(Role::Primary) == 0 {
                    return fail("primary server required in the passive backup configuration");
                }
                if self.delayed_updates_limit > 0 {
                    return fail(
                        "'delayed-updates-limit' must be set to 0 in the passive backup \
                         configuration",
                    );
                }
            }
        }
        Ok(())
    }

    /// The peer named `name`.
    pub fn peer_config(&self, name: &str) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// This server's peer entry.
    pub fn this_server(&self) -> &PeerConfig {
        // `validate` guarantees it exists.
        self.peer_config(&self.this_server_name)
            .unwrap_or(&self.peers[0])
    }

    /// The failover partner: the first other non-backup peer in name order (none in
    /// passive-backup mode or for a backup server of that mode).
    pub fn failover_peer(&self) -> Option<&PeerConfig> {
        let mut others: Vec<&PeerConfig> = self
            .peers
            .iter()
            .filter(|p| p.name != self.this_server_name && p.role != Role::Backup)
            .collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        others.into_iter().next()
    }

    /// The other peers (partner and backups), in name order.
    pub fn other_peers(&self) -> Vec<&PeerConfig> {
        let mut others: Vec<&PeerConfig> = self
            .peers
            .iter()
            .filter(|p| p.name != self.this_server_name)
            .collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        others
    }

    /// The pausing configured for `state`.
    pub fn pausing_of(&self, state: HaState) -> Pausing {
        self.pausing.get(&state).copied().unwrap_or_default()
    }

    /// `heartbeat-delay` as a duration.
    pub fn heartbeat_delay(&self) -> Duration {
        Duration::from_millis(self.heartbeat_delay.into())
    }

    /// `max-response-delay` as a duration.
    pub fn max_response_delay(&self) -> Duration {
        Duration::from_millis(self.max_response_delay.into())
    }

    /// `sync-timeout` as a duration.
    pub fn sync_timeout(&self) -> Duration {
        Duration::from_millis(self.sync_timeout.into())
    }

    /// The `max-period` of the `dhcp-disable` sent before each page: `sync-timeout` in
    /// seconds, at least 1.
    pub fn dhcp_disable_max_period(&self) -> u64 {
        u64::from(self.sync_timeout / 1000).max(1)
    }

    /// Whether the communication-recovery state is used (load balancing with
    /// `delayed-updates-limit` > 0).
    pub fn allows_comm_recovery(&self) -> bool {
        self.mode == HaMode::LoadBalancing && self.delayed_updates_limit > 0
    }
}
