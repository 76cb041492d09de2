//! Kea 2.2's control commands of `kea-dhcp4` (and of its `lease_cmds` hook) as one Sans-IO
//! handler: a request body in, the answer out ([`Reply`]), with what the daemon must do
//! besides answering ([`Action`]).
//!
//! [`ControlHandler::handle`] takes the bytes a client sent over the unix control socket (or
//! the HTTP body of Kea's control agent / the HA listener), runs the command against a
//! [`Server`] and answers with Kea's result code and text, byte for byte where Kea's answer
//! depends only on the request and the server's state. [`Reply::socket_text`] is the answer
//! as Kea writes it on its unix socket (one JSON object); [`Reply::http_text`] wraps it in the
//! one-element list of Kea's HTTP answers.
//!
//! The handler also keeps the DHCP service state of `dhcp-disable` / `dhcp-enable`
//! ([`ControlHandler::is_enabled`], with the `max-period` re-enable timer at
//! [`ControlHandler::poll_timeout`]), which the daemon checks before handing DHCP packets to
//! the server and which the HA layer drives with origin `ha-partner`.
//!
//! Where hakit differs from Kea 2.2:
//! * `version-get` answers `hakit <crate version>` (see [`ControlHandler::set_version`]);
//! * `config-get` returns the `Dhcp4` map as read (Kea adds every default);
//! * statistics keep one sample (Kea keeps up to 20), stamped to the second in UTC;
//! * the texts of malformed JSON follow Kea's for a wrong first character only.

mod hex;
mod lease;
mod stats;

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::OnceCell;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use stats::kea_timestamp;

use super::{Answer, CommandError, Request, json};
use crate::config::{self, Config, NoIncludes};
use crate::lease::LeaseStore;
use crate::server::{ConfigError as ServerConfigError, Origin, Server};

/// The commands [`ControlHandler`] answers, in `list-commands` order (byte order).
pub const COMMANDS: [&str; 27] = [
    "build-report",
    "config-get",
    "config-test",
    "config-write",
    "dhcp-disable",
    "dhcp-enable",
    "lease4-add",
    "lease4-del",
    "lease4-get",
    "lease4-get-all",
    "lease4-get-by-client-id",
    "lease4-get-by-hostname",
    "lease4-get-by-hw-address",
    "lease4-get-page",
    "lease4-resend-ddns",
    "lease4-update",
    "lease4-wipe",
    "list-commands",
    "shutdown",
    "statistic-get",
    "statistic-get-all",
    "statistic-remove",
    "statistic-remove-all",
    "statistic-reset",
    "statistic-reset-all",
    "status-get",
    "version-get",
];

/// Kea's answer to a `config-test` that passes.
pub const CONFIG_SANE: &str = "Configuration seems sane. Control-socket, hook-libraries, and D2 \
                               configuration were sanity checked, but not applied.";

/// What the daemon does after sending the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Nothing.
    None,
    /// `shutdown`: send the answer, then exit with `exit_value`.
    Shutdown {
        /// The process exit status (`exit-value`, default 0).
        exit_value: i32,
    },
    /// `config-write`: write `contents` to `path`. The answer reports success; when the write
    /// fails, send [`Reply::config_write_failed`] instead.
    WriteConfig {
        /// The file to write.
        path: String,
        /// The configuration text.
        contents: String,
    },
}

/// The answer to one request and what to do besides.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The command name, when the request had one.
    pub command: Option<String>,
    /// The answer.
    pub answer: Answer,
    /// What the daemon must do.
    pub action: Action,
}

impl Reply {
    fn new(command: Option<String>, answer: Answer) -> Self {
        Self {
            command,
            answer,
            action: Action::None,
        }
    }

    /// The answer as Kea writes it on its unix control socket: `{ "result": 0, … }`.
    pub fn socket_text(&self) -> String {
        self.answer.to_kea_json()
    }

    /// The answer as Kea's HTTP listeners write it: `[ { "result": 0, … } ]`.
    pub fn http_text(&self) -> String {
        Answer::encode_list(core::slice::from_ref(&self.answer))
    }

    /// Kea's answer to a `config-write` whose file could not be written.
    pub fn config_write_failed(path: &str) -> Answer {
        Answer::error(format!(
            "Error during write-config:Unable to open file {path} for writing"
        ))
    }
}

/// Who disabled the DHCP service (`origin` of `dhcp-disable` / `dhcp-enable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DisableOrigin {
    /// `user` (the default): an operator.
    User,
    /// `ha-partner`: the HA partner (or the local HA state machine).
    HaPartner,
}

impl DisableOrigin {
    /// The `origin` value on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::HaPartner => "ha-partner",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "ha-partner" => Some(Self::HaPartner),
            _ => None,
        }
    }
}

/// The request body with its positions, parsed only when an error text needs one (Kea's
/// `(<wire>:LINE:COL)`: line from 0, column from 1).
pub(crate) struct Wire<'a> {
    text: Option<&'a str>,
    root: OnceCell<Option<config::Value>>,
}

impl<'a> Wire<'a> {
    fn new(body: &'a [u8]) -> Self {
        Self {
            text: core::str::from_utf8(body).ok(),
            root: OnceCell::new(),
        }
    }

    fn root(&self) -> Option<&config::Value> {
        self.root
            .get_or_init(|| {
                let text = self.text?;
                config::json::parse(text, "<wire>", &mut NoIncludes)
                    .ok()
                    .map(|d| d.root)
            })
            .as_ref()
    }

    /// Kea's position of a value at `span`: Kea's reader counts columns from 0 on the first
    /// line and from 1 after a newline, and records a map or list after its bracket, a
    /// scalar before its first character.
    fn fmt(span: Option<&config::Span>, container: bool) -> String {
        match span {
            Some(s) => {
                let col = s.col + u32::from(s.line > 1) + u32::from(container);
                format!(
                    "(<wire>:{}:{})",
                    s.line.saturating_sub(1),
                    col.saturating_sub(1)
                )
            }
            None => "(<wire>:0:0)".into(),
        }
    }

    fn pos(v: Option<&config::Value>) -> String {
        Self::fmt(
            v.map(|v| &v.span),
            v.is_some_and(|v| matches!(v.kind, config::Kind::Map(..) | config::Kind::List(_))),
        )
    }

    /// The position of the `arguments` value.
    pub(crate) fn args(&self) -> String {
        Self::pos(self.root().and_then(|r| r.get("arguments")))
    }

    /// The position of `arguments.<key>`.
    pub(crate) fn arg(&self, key: &str) -> String {
        Self::pos(
            self.root()
                .and_then(|r| r.get("arguments"))
                .and_then(|a| a.get(key)),
        )
    }
}

/// Kea's `dhcp4` control commands, Sans-IO. See the [module documentation](self).
#[derive(Debug)]
pub struct ControlHandler {
    config: Config,
    /// `{"Dhcp4": …}` of the active configuration, as JSON.
    config_json: Value,
    config_path: Option<String>,
    pid: u32,
    started: Instant,
    reloaded: Instant,
    version: String,
    extended: String,
    build_report: String,
    high_availability: Option<Value>,
    extra_commands: Vec<String>,
    disabled: Vec<DisableOrigin>,
    enable_at: Option<Instant>,
    stats: stats::StatOverlay,
}

impl ControlHandler {
    /// A handler for a server running `config`, in process `pid`, started (and configured) at
    /// `now`.
    pub fn new(config: Config, pid: u32, now: Instant) -> Self {
        let config_json = dhcp4_json(&config);
        let version = format!("hakit {}", env!("CARGO_PKG_VERSION"));
        let extended = format!(
            "{version}\ndhcp4-ha (Kea 2.2 compatible DHCPv4 server, Sans-IO)\nlinked with:\nRust \
             standard library\ndatabase:\nMemfile backend 2.1"
        );
        let build_report = format!(
            "Package:\n  Name:              hakit\n  Version:           {}\n  Crate:             \
             dhcp4-ha\n  Compatibility:     Kea 2.2 (kea-dhcp4, lease_cmds, high_availability)\n",
            env!("CARGO_PKG_VERSION")
        );
        Self {
            config,
            config_json,
            config_path: None,
            pid,
            started: now,
            reloaded: now,
            version,
            extended,
            build_report,
            high_availability: None,
            extra_commands: Vec::new(),
            disabled: Vec::new(),
            enable_at: None,
            stats: stats::StatOverlay::default(),
        }
    }

    /// Sets the configuration file (the default of `config-write`).
    pub fn set_config_path(&mut self, path: impl Into<String>) {
        self.config_path = Some(path.into());
    }

    /// Replaces the active configuration (after a reload); `status-get`'s `reload` counts from
    /// `now`.
    pub fn set_config(&mut self, config: Config, now: Instant) {
        self.config_json = dhcp4_json(&config);
        self.config = config;
        self.reloaded = now;
    }

    /// The active configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the `version-get` text and `extended` text (default `hakit <crate version>`).
    pub fn set_version(&mut self, text: impl Into<String>, extended: impl Into<String>) {
        self.version = text.into();
        self.extended = extended.into();
    }

    /// Sets the `high-availability` list of `status-get` (the HA layer keeps it current;
    /// `None`: no HA, the key is left out).
    pub fn set_high_availability(&mut self, status: Option<Value>) {
        self.high_availability = status;
    }

    /// Command names handled elsewhere (the HA commands) to list in `list-commands`.
    pub fn set_extra_commands(&mut self, names: impl IntoIterator<Item = String>) {
        self.extra_commands = names.into_iter().collect();
    }

    // ------------------------------------------------------------ DHCP service state

    /// Whether the DHCP service is enabled at `now` (no origin disabled it, or its
    /// `max-period` ran out). While disabled the daemon drops DHCP queries unanswered.
    pub fn is_enabled(&self, now: Instant) -> bool {
        self.disabled.is_empty() || self.enable_at.is_some_and(|t| now >= t)
    }

    /// When the service re-enables itself (`max-period`), if disabled with one.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.disabled.is_empty() {
            None
        } else {
            self.enable_at
        }
    }

    /// Re-enables the service for every origin if its `max-period` ran out at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.enable_at.is_some_and(|t| now >= t) {
            self.disabled.clear();
            self.enable_at = None;
        }
    }

    /// Disables the service on behalf of `origin`; with `max_period`, every origin's
    /// disabling ends after it (Kea's `delayedEnableAll`).
    pub fn disable_service(
        &mut self,
        origin: DisableOrigin,
        max_period: Option<Duration>,
        now: Instant,
    ) {
        if !self.disabled.contains(&origin) {
            self.disabled.push(origin);
        }
        if let Some(p) = max_period {
            self.enable_at = Some(now + p);
        }
    }

    /// Ends `origin`'s disabling; the service is enabled when no origin disables it.
    pub fn enable_service(&mut self, origin: DisableOrigin) {
        self.disabled.retain(|o| *o != origin);
        if self.disabled.is_empty() {
            self.enable_at = None;
        }
    }

    // ------------------------------------------------------------ commands

    /// Runs one command from an operator (lease changes get [`Origin::Control`]).
    /// `now` drives `uptime` and `max-period`; `unix` stamps new leases and statistic resets.
    pub fn handle<S: LeaseStore>(
        &mut self,
        server: &mut Server<S>,
        now: Instant,
        unix: u64,
        body: &[u8],
    ) -> Reply {
        self.handle_from(server, now, unix, body, Origin::Control)
    }

    /// Runs one command whose lease changes are attributed to `origin` ([`Origin::Partner`]
    /// for the `lease4-update` / `lease4-del` an HA partner sends).
    pub fn handle_from<S: LeaseStore>(
        &mut self,
        server: &mut Server<S>,
        now: Instant,
        unix: u64,
        body: &[u8],
        origin: Origin,
    ) -> Reply {
        let req = match parse_envelope(body) {
            Ok(r) => r,
            Err(a) => return Reply::new(None, a),
        };
        let wire = Wire::new(body);
        let args = req.arguments.as_ref();
        let mut action = Action::None;
        let answer = match req.command.as_str() {
            "build-report" => Answer::success(self.build_report.clone(), None),
            "config-get" => Answer {
                result: 0,
                text: None,
                arguments: Some(self.config_json.clone()),
            },
            "config-test" => self.config_test(args, &wire, now, unix),
            "config-write" => match self.config_write(args) {
                Ok((answer, a)) => {
                    action = a;
                    answer
                }
                Err(a) => a,
            },
            "dhcp-disable" => self.dhcp_disable(args, now),
            "dhcp-enable" => self.dhcp_enable(args),
            "lease4-add" => lease::add(&self.config.dhcp4, server, unix, args, &wire, origin),
            "lease4-update" => lease::update(&self.config.dhcp4, server, unix, args, &wire, origin),
            "lease4-get" => lease::get(server, args),
            "lease4-del" => lease::del(server, args, origin),
            "lease4-get-all" => lease::get_all(server, args, &wire),
            "lease4-get-page" => lease::get_page(server, args),
            "lease4-get-by-hw-address" => lease::get_by_hw_address(server, args),
            "lease4-get-by-client-id" => lease::get_by_client_id(server, args),
            "lease4-get-by-hostname" => lease::get_by_hostname(server, args),
            "lease4-wipe" => lease::wipe(&self.config.dhcp4, server, args, &wire, origin),
            "lease4-resend-ddns" => Answer::error("DDNS updating is not enabled"),
            "list-commands" => self.list_commands(),
            "shutdown" => match shutdown(args) {
                Ok(exit_value) => {
                    action = Action::Shutdown { exit_value };
                    Answer::success("Shutting down.", None)
                }
                Err(a) => a,
            },
            "statistic-get" => self.statistic_get(server, args),
            "statistic-get-all" => Answer {
                result: 0,
                text: None,
                arguments: Some(Value::Object(self.stats.all(server.stats()))),
            },
            "statistic-reset" => self.statistic_mark(server, args, unix, false),
            "statistic-remove" => self.statistic_mark(server, args, unix, true),
            "statistic-reset-all" => {
                self.mark_all(server, unix, false);
                Answer::success("All statistics reset to neutral values.", None)
            }
            "statistic-remove-all" => {
                self.mark_all(server, unix, true);
                Answer::success("All statistics removed.", None)
            }
            "status-get" => self.status_get(now),
            "version-get" => Answer::success(
                self.version.clone(),
                Some(single("extended", Value::String(self.extended.clone()))),
            ),
            other => Answer::unsupported(other),
        };
        Reply {
            command: Some(req.command),
            answer,
            action,
        }
    }

    fn list_commands(&self) -> Answer {
        let mut names: Vec<String> = COMMANDS.iter().map(|s| (*s).to_owned()).collect();
        names.extend(self.extra_commands.iter().cloned());
        names.sort();
        names.dedup();
        Answer {
            result: 0,
            text: None,
            arguments: Some(Value::Array(names.into_iter().map(Value::String).collect())),
        }
    }

    fn status_get(&self, now: Instant) -> Answer {
        let secs = |t: Instant| now.saturating_duration_since(t).as_secs();
        let mt = &self.config.dhcp4.multi_threading;
        let mut m = Map::new();
        if let Some(ha) = &self.high_availability {
            m.insert("high-availability".into(), ha.clone());
        }
        // Kea 2.2's default is single-threaded.
        let mt_on = mt.enable.unwrap_or(false);
        m.insert("multi-threading-enabled".into(), Value::Bool(mt_on));
        if mt_on {
            m.insert(
                "packet-queue-size".into(),
                Value::from(mt.packet_queue_size.unwrap_or(64)),
            );
            m.insert(
                "packet-queue-statistics".into(),
                Value::Array(alloc::vec![Value::from(0.0); 3]),
            );
            m.insert(
                "thread-pool-size".into(),
                Value::from(mt.thread_pool_size.unwrap_or(0)),
            );
        }
        m.insert("pid".into(), Value::from(self.pid));
        m.insert("reload".into(), Value::from(secs(self.reloaded)));
        m.insert(
            "sockets".into(),
            single("status", Value::String("ready".into())),
        );
        m.insert("uptime".into(), Value::from(secs(self.started)));
        Answer {
            result: 0,
            text: None,
            arguments: Some(Value::Object(m)),
        }
    }

    fn config_test(
        &self,
        args: Option<&Value>,
        wire: &Wire<'_>,
        now: Instant,
        unix: u64,
    ) -> Answer {
        let Some(args) = args else {
            return Answer::error("Missing mandatory 'arguments' parameter.");
        };
        let Value::Object(map) = args else {
            return Answer::error(format!(
                "Error during command processing: get(string) called on a non-map Element in {}",
                wire.args()
            ));
        };
        match map.get("Dhcp4") {
            None => return Answer::error("Missing mandatory 'Dhcp4' parameter."),
            Some(Value::Object(_)) => {}
            Some(_) => return Answer::error("'Dhcp4' parameter expected to be a map."),
        }
        if let Some(k) = map.keys().find(|k| *k != "Dhcp4") {
            return Answer::error(format!("Unsupported '{k}' parameter."));
        }
        // Read the arguments where they stand in the body, so that positions are the body's.
        let text = wire
            .root()
            .and_then(|r| r.get("arguments"))
            .and_then(|a| wire.text.and_then(|t| isolate(t, a)))
            .unwrap_or_else(|| serde_json::to_string(args).unwrap_or_default());
        let cfg = match config::parse_str(&text, "<wire>") {
            Ok(c) => c,
            Err(e) => {
                return Answer::error(match &e.span {
                    Some(s) => format!("{} {}", e.message, Wire::fmt(Some(s), true)),
                    None => e.message,
                });
            }
        };
        match Server::new(&cfg.dhcp4, now, unix) {
            Ok(_) => Answer::success(CONFIG_SANE, None),
            Err(e) => {
                let span = server_error_span(&cfg, &e);
                Answer::error(match span {
                    Some(s) => format!("{e} {}", Wire::fmt(Some(s), true)),
                    None => e.to_string(),
                })
            }
        }
    }

    fn config_write(&self, args: Option<&Value>) -> Result<(Answer, Action), Answer> {
        let given = match args.and_then(|a| a.get("filename")) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Answer::error("passed parameter 'filename' is not a string")),
        };
        let Some(path) = given.or_else(|| self.config_path.clone()) else {
            return Err(Answer::error(
                "Unable to determine filename. Please specify filename explicitly.",
            ));
        };
        let mut contents = serde_json::to_string_pretty(&self.config_json).unwrap_or_default();
        contents.push('\n');
        let mut a = Map::new();
        a.insert("filename".into(), Value::String(path.clone()));
        a.insert("size".into(), Value::from(contents.len()));
        let answer = Answer::success(
            format!("Configuration written to {path} successful"),
            Some(Value::Object(a)),
        );
        Ok((answer, Action::WriteConfig { path, contents }))
    }

    fn dhcp_disable(&mut self, args: Option<&Value>, now: Instant) -> Answer {
        let mut max_period = None;
        let mut origin = DisableOrigin::User;
        if let Some(args) = args {
            let Value::Object(m) = args else {
                return Answer::error("arguments for the 'dhcp-disable' command must be a map");
            };
            if let Some(p) = m.get("max-period") {
                let Some(n) = p.as_i64().or_else(|| p.as_u64().map(|_| i64::MAX)) else {
                    return Answer::error("'max-period' argument must be a number");
                };
                if n <= 0 {
                    return Answer::error("'max-period' must be positive integer");
                }
                max_period = Some(n);
            }
            match origin_arg(m) {
                Ok(Some(o)) => origin = o,
                Ok(None) => {}
                Err(a) => return a,
            }
        }
        let period = max_period.map(|n| Duration::from_secs(n.unsigned_abs()));
        self.disable_service(origin, period, now);
        match max_period {
            Some(n) => Answer::success(format!("DHCPv4 service disabled for {n} seconds"), None),
            None => Answer::success("DHCPv4 service disabled", None),
        }
    }

    fn dhcp_enable(&mut self, args: Option<&Value>) -> Answer {
        let mut origin = DisableOrigin::User;
        if let Some(args) = args {
            let Value::Object(m) = args else {
                return Answer::error("arguments for the 'dhcp-enable' command must be a map");
            };
            match origin_arg(m) {
                Ok(Some(o)) => origin = o,
                Ok(None) => {}
                Err(a) => return a,
            }
        }
        self.enable_service(origin);
        Answer::success("DHCP service successfully enabled", None)
    }

    fn statistic_name(args: Option<&Value>) -> Result<&str, Answer> {
        match args.and_then(|a| a.get("name")) {
            None => Err(Answer::error("Missing mandatory 'name' parameter.")),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(Answer::error("'name' parameter expected to be a string.")),
        }
    }

    fn statistic_get<S: LeaseStore>(&self, server: &Server<S>, args: Option<&Value>) -> Answer {
        let name = match Self::statistic_name(args) {
            Ok(n) => n,
            Err(a) => return a,
        };
        let mut m = Map::new();
        if let Some(v) = self.stats.get(server.stats(), name) {
            m.insert(name.into(), stats::samples(v));
        }
        Answer {
            result: 0,
            text: None,
            arguments: Some(Value::Object(m)),
        }
    }

    fn statistic_mark<S: LeaseStore>(
        &mut self,
        server: &Server<S>,
        args: Option<&Value>,
        unix: u64,
        remove: bool,
    ) -> Answer {
        let name = match Self::statistic_name(args) {
            Ok(n) => n,
            Err(a) => return a,
        };
        let (Some(raw), Some(_)) = (
            server.stats().get(name),
            self.stats.get(server.stats(), name),
        ) else {
            return Answer::error(format!("No '{name}' statistic found"));
        };
        self.stats.mark(name, raw, unix, remove);
        let verb = if remove { "removed" } else { "reset" };
        Answer::success(format!("Statistic '{name}' {verb}."), None)
    }

    fn mark_all<S: LeaseStore>(&mut self, server: &Server<S>, unix: u64, remove: bool) {
        let entries: Vec<_> = server.stats().iter().collect();
        for e in entries {
            if self.stats.view(&e.name, e.value).is_some() {
                self.stats.mark(&e.name, e.value, unix, remove);
            }
        }
    }
}

fn single(key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.into(), v);
    Value::Object(m)
}

fn origin_arg(m: &Map<String, Value>) -> Result<Option<DisableOrigin>, Answer> {
    match m.get("origin") {
        None => Ok(None),
        Some(Value::String(s)) => DisableOrigin::from_name(s).map(Some).ok_or_else(|| {
            Answer::error(format!("invalid value used for 'origin' parameter: {s}"))
        }),
        Some(_) => Err(Answer::error("'origin' argument must be a string")),
    }
}

fn shutdown(args: Option<&Value>) -> Result<i32, Answer> {
    let Some(args) = args else { return Ok(0) };
    let Value::Object(m) = args else {
        return Err(Answer::error("Argument must be a map"));
    };
    match m.get("exit-value") {
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .map(|n| i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX }))
            .ok_or_else(|| Answer::error("parameter 'exit-value' is not an integer")),
    }
}

/// `{"Dhcp4": …}` of a configuration as JSON.
fn dhcp4_json(config: &Config) -> Value {
    let dhcp4 = config
        .raw
        .get("Dhcp4")
        .and_then(|v| serde_json::from_str::<Value>(&v.to_string()).ok())
        .unwrap_or_else(|| Value::Object(Map::new()));
    single("Dhcp4", dhcp4)
}

/// `text` with every byte outside the value `v` (a map: from its `{` to its `}`) blanked,
/// newlines kept: the value parses alone with the positions it has in `text`.
fn isolate(text: &str, v: &config::Value) -> Option<String> {
    let config::Kind::Map(_, close) = &v.kind else {
        return None;
    };
    let start = offset(text, v.span.line, v.span.col)?;
    let end = offset(text, close.end_line, close.end_col)?;
    let out: Vec<u8> = text
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            if (start..=end).contains(&i) || b == b'\n' {
                b
            } else {
                b' '
            }
        })
        .collect();
    String::from_utf8(out).ok()
}

/// The byte offset of 1-based `line` and byte column `col`.
fn offset(text: &str, line: u32, col: u32) -> Option<usize> {
    let mut at = 0usize;
    for _ in 1..line {
        at += text[at..].find('\n')? + 1;
    }
    let o = at + usize::try_from(col).ok()?.checked_sub(1)?;
    (o < text.len()).then_some(o)
}

/// The subnet map a server configuration error is about.
fn server_error_span<'c>(cfg: &'c Config, e: &ServerConfigError) -> Option<&'c config::Span> {
    let subnets = &cfg.dhcp4.subnets;
    let by_prefix = |p: core::net::Ipv4Addr, l: u8| {
        subnets
            .iter()
            .find(|s| s.prefix == p && s.len == l)
            .map(|s| &s.span)
    };
    match e {
        ServerConfigError::DuplicateSubnetId { id } => subnets
            .iter()
            .filter(|s| s.id == *id)
            .nth(1)
            .map(|s| &s.span),
        ServerConfigError::ZeroSubnetId { prefix, len }
        | ServerConfigError::PoolOutsideSubnet { prefix, len, .. }
        | ServerConfigError::ReservationOutsideSubnet { prefix, len, .. } => {
            by_prefix(*prefix, *len)
        }
        ServerConfigError::DuplicateReservedAddress { subnet_id, .. }
        | ServerConfigError::DuplicateHost { subnet_id, .. } => {
            subnets.iter().find(|s| s.id == *subnet_id).map(|s| &s.span)
        }
        _ => None,
    }
}

/// Kea's checks of the command envelope (`parseCommand`), in Kea's order: a JSON map with a
/// `command` string and no keys but `command`, `arguments`, `service` and `remote-address`.
/// Text after the first JSON value is ignored, as Kea's socket reader does.
fn parse_envelope(body: &[u8]) -> Result<Request, Answer> {
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let v = match values.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(Answer::error(json_error_text(body, &e))),
        None => return Err(Answer::error("invalid first character: empty command")),
    };
    let err = |e: CommandError| Answer::error(format!("Error during command processing: {e}"));
    let Value::Object(mut map) = v else {
        return Err(err(CommandError::NotMap));
    };
    let command = match map.remove("command") {
        None => return Err(err(CommandError::MissingCommand)),
        Some(Value::String(s)) => s,
        Some(_) => return Err(err(CommandError::CommandNotString)),
    };
    if let Some(k) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "arguments" | "service" | "remote-address"))
    {
        return Err(err(CommandError::UnknownKey(k.clone())));
    }
    let service = match map.remove("service") {
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    };
    Ok(Request {
        command,
        service,
        arguments: map.remove("arguments"),
    })
}

/// Kea's text for a body that is not JSON: `invalid first character x` when the first
/// non-blank character cannot start a value; the JSON reader's message otherwise.
fn json_error_text(body: &[u8], e: &serde_json::Error) -> String {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b)
            if !matches!(
                b,
                b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
            ) =>
        {
            let c =
                String::from_utf8_lossy(&body[body.iter().position(|x| *x == b).unwrap_or(0)..])
                    .chars()
                    .next()
                    .unwrap_or('?');
            format!("invalid first character {c}")
        }
        _ => format!("invalid JSON: {e}"),
    }
}

/// `value` in Kea's JSON text (for messages quoting a value).
pub(crate) fn kea_text(value: &Value) -> String {
    json::to_kea_string(value)
}
