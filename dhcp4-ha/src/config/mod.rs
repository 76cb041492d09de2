//! Kea 2.2's `kea-dhcp4.conf`: a position-aware JSON reader ([`json`]) and the typed
//! configuration dhcp4d runs from ([`Config`]), validated as Kea validates it.
//!
//! No I/O: the configuration is a string; `<?include "path"?>` goes through an
//! [`IncludeLoader`]. Errors read as Kea's (`FILE:L.C-C: got unexpected keyword "KEY" in
//! subnet4 map.`, `syntax error, unexpected constant string, expecting integer`, semantic
//! errors with `(FILE:L:C)`). Keys Kea knows but dhcp4d does not implement are refused with
//! [`ErrorKind::Unsupported`] naming the key and its position, unless ignoring them is
//! harmless: those become [`Warning`]s.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

pub mod json;
pub mod options;
mod read;

pub use json::{Entry, IncludeLoader, Kind, NoIncludes, Span, Value};

/// What kind of error a configuration has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed JSON, or a value of the wrong type (Kea's `syntax error, …`).
    Syntax,
    /// A key Kea does not know (`got unexpected keyword`).
    UnknownKeyword,
    /// A key twice in one map.
    Duplicate,
    /// A key (or hook library, option, value) Kea accepts but dhcp4d does not implement.
    Unsupported,
    /// A well-formed but invalid value (prefix length, pool outside subnet, …).
    Semantic,
    /// An include could not be loaded.
    Include,
    /// A size, depth or include limit was exceeded.
    Limit,
}

/// A configuration error: kind, Kea's message, position, and the key concerned if any.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The message without position.
    pub message: String,
    /// Where.
    pub span: Option<Span>,
    /// The key concerned (unknown, unsupported or duplicate keys).
    pub key: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.span, self.kind) {
            (None, _) => f.write_str(&self.message),
            (Some(s), ErrorKind::Semantic) => write!(f, "{} ({})", self.message, s.point()),
            (Some(s), ErrorKind::Duplicate) => write!(f, "{}: {}", s.point(), self.message),
            (Some(s), _) => write!(f, "{}: {}", s.range(), self.message),
        }
    }
}

impl core::error::Error for ConfigError {}

/// A warning: an ignored key, an extraneous comma, a questionable value.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// Where.
    pub span: Span,
    /// What.
    pub message: String,
    /// The key concerned, if any.
    pub key: Option<String>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span.range(), self.message)
    }
}

/// A read configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The `Dhcp4` map, typed.
    pub dhcp4: Dhcp4,
    /// Warnings (ignored keys, extraneous commas, …), in document order.
    pub warnings: Vec<Warning>,
    /// The whole document as positioned JSON (for `config-get`).
    pub raw: Value,
}

/// Reads `text` (named `file` in messages), resolving includes through `loader`.
pub fn parse(
    text: &str,
    file: &str,
    loader: &mut dyn IncludeLoader,
) -> Result<Config, ConfigError> {
    let doc = json::parse(text, file, loader)?;
    read::read(doc)
}

/// Reads `text` with includes refused.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigError> {
    parse(text, file, &mut NoIncludes)
}

/// Lease and timer parameters, global or per subnet (unset: inherited / Kea's default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timers {
    /// `valid-lifetime` (s).
    pub valid_lifetime: Option<u32>,
    /// `min-valid-lifetime` (s).
    pub min_valid_lifetime: Option<u32>,
    /// `max-valid-lifetime` (s).
    pub max_valid_lifetime: Option<u32>,
    /// `renew-timer` (T1, s).
    pub renew_timer: Option<u32>,
    /// `rebind-timer` (T2, s).
    pub rebind_timer: Option<u32>,
    /// `calculate-tee-times`.
    pub calculate_tee_times: Option<bool>,
    /// `t1-percent`.
    pub t1_percent: Option<f64>,
    /// `t2-percent`.
    pub t2_percent: Option<f64>,
}

impl Timers {
    /// `self` with every unset field taken from `parent`.
    pub fn inherit(&self, parent: &Self) -> Self {
        Self {
            valid_lifetime: self.valid_lifetime.or(parent.valid_lifetime),
            min_valid_lifetime: self.min_valid_lifetime.or(parent.min_valid_lifetime),
            max_valid_lifetime: self.max_valid_lifetime.or(parent.max_valid_lifetime),
            renew_timer: self.renew_timer.or(parent.renew_timer),
            rebind_timer: self.rebind_timer.or(parent.rebind_timer),
            calculate_tee_times: self.calculate_tee_times.or(parent.calculate_tee_times),
            t1_percent: self.t1_percent.or(parent.t1_percent),
            t2_percent: self.t2_percent.or(parent.t2_percent),
        }
    }
}

/// Kea's default `valid-lifetime` (s).
pub const DEFAULT_VALID_LIFETIME: u32 = 7200;

/// The `Dhcp4` map.
#[derive(Clone, Debug, PartialEq)]
pub struct Dhcp4 {
    /// `interfaces-config`.
    pub interfaces_config: InterfacesConfig,
    /// `lease-database` (memfile).
    pub lease_database: LeaseDatabase,
    /// Global timers.
    pub timers: Timers,
    /// `decline-probation-period` (s).
    pub decline_probation_period: Option<u32>,
    /// `match-client-id` (Kea default true).
    pub match_client_id: Option<bool>,
    /// `authoritative` (Kea default false).
    pub authoritative: Option<bool>,
    /// `echo-client-id` (Kea default true).
    pub echo_client_id: Option<bool>,
    /// `reservations-global`, `reservations-in-subnet`, `reservations-out-of-pool`.
    pub reservation_flags: ReservationFlags,
    /// `subnet4`, with ids assigned.
    pub subnets: Vec<Subnet4>,
    /// Global `option-data`.
    pub option_data: Vec<OptionData>,
    /// `control-socket`.
    pub control_socket: Option<ControlSocket>,
    /// `hooks-libraries` (lease_cmds and ha only).
    pub hooks_libraries: Vec<HookLibrary>,
    /// `multi-threading`.
    pub multi_threading: MultiThreading,
    /// `loggers`.
    pub loggers: Vec<Logger>,
    /// `expired-leases-processing`.
    pub expired_leases_processing: ExpiredLeasesProcessing,
}

impl Dhcp4 {
    /// The timers in force for `subnet` (its own, else the global ones).
    pub fn timers_for(&self, subnet: &Subnet4) -> Timers {
        subnet.timers.inherit(&self.timers)
    }

    /// The `libdhcp_ha.so` entry, if configured.
    pub fn ha_hook(&self) -> Option<&HookLibrary> {
        self.hooks_libraries
            .iter()
            .find(|h| h.kind == HookKind::HighAvailability)
    }
}

/// Host-reservation lookup flags (unset: Kea's defaults, in-subnet true, others false).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReservationFlags {
    /// `reservations-global`.
    pub global: Option<bool>,
    /// `reservations-in-subnet`.
    pub in_subnet: Option<bool>,
    /// `reservations-out-of-pool`.
    pub out_of_pool: Option<bool>,
}

/// `dhcp-socket-type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SocketType {
    /// `raw` (Kea's default).
    #[default]
    Raw,
    /// `udp`.
    Udp,
}

/// `interfaces-config`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfacesConfig {
    /// `interfaces` (`eth0`, `eth0/192.0.2.1`, `*`).
    pub interfaces: Vec<String>,
    /// `dhcp-socket-type`.
    pub dhcp_socket_type: SocketType,
}

/// `lease-database` with `type` memfile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseDatabase {
    /// `name`: the lease file (unset: Kea's default path).
    pub name: Option<String>,
    /// `persist` (default true).
    pub persist: Option<bool>,
    /// `lfc-interval` (s; 0 disables).
    pub lfc_interval: Option<u32>,
}

/// A `subnet4` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Subnet4 {
    /// `id` (assigned as Kea does when absent or 0).
    pub id: u32,
    /// The network address (host bits cleared).
    pub prefix: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
    /// `pools`.
    pub pools: Vec<Pool>,
    /// `option-data`.
    pub option_data: Vec<OptionData>,
    /// `reservations`.
    pub reservations: Vec<Reservation>,
    /// `relay.ip-addresses` (and the legacy `relay.ip-address`).
    pub relay: Vec<Ipv4Addr>,
    /// `interface`.
    pub interface: Option<String>,
    /// Per-subnet timers.
    pub timers: Timers,
    /// `match-client-id`.
    pub match_client_id: Option<bool>,
    /// `authoritative`.
    pub authoritative: Option<bool>,
    /// Reservation flags.
    pub reservation_flags: ReservationFlags,
    /// Where the subnet's map is.
    pub span: Span,
}

impl Subnet4 {
    /// Whether `addr` is in the subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        mask(u32::from(addr), self.len) == u32::from(self.prefix)
    }
}

pub(crate) fn mask(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len)))
    }
}

/// A pool: an inclusive address range.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address.
    pub last: Ipv4Addr,
    /// `client-class` (only `HA_<server>` classes, for HA load balancing).
    pub client_class: Option<String>,
    /// `option-data`.
    pub option_data: Vec<OptionData>,
    /// Where the pool's map is.
    pub span: Span,
}

/// How a reservation identifies its client.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostId {
    /// `hw-address`.
    HwAddress(Vec<u8>),
    /// `client-id` (option 61 data).
    ClientId(Vec<u8>),
}

/// A host reservation.
#[derive(Clone, Debug, PartialEq)]
pub struct Reservation {
    /// The identifier.
    pub id: HostId,
    /// `ip-address`.
    pub ip_address: Option<Ipv4Addr>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `option-data`.
    pub option_data: Vec<OptionData>,
    /// Where the reservation's map is.
    pub span: Span,
}

/// An `option-data` entry, encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionData {
    /// Option code.
    pub code: u8,
    /// The standard name, when the option has a definition.
    pub name: Option<&'static str>,
    /// The option's data bytes.
    pub data: Vec<u8>,
    /// `always-send`.
    pub always_send: bool,
    /// Where the entry's map is.
    pub span: Span,
}

/// `control-socket` (unix only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSocket {
    /// `socket-name`: the unix socket path.
    pub socket_name: String,
}

/// Which built-in a hook library entry stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    /// `libdhcp_lease_cmds.so`.
    LeaseCmds,
    /// `libdhcp_ha.so`.
    HighAvailability,
}

/// A `hooks-libraries` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct HookLibrary {
    /// What it is.
    pub kind: HookKind,
    /// `library` as written.
    pub library: String,
    /// `parameters`, positioned (the HA configuration is read from it).
    pub parameters: Option<Value>,
    /// Where the entry's map is.
    pub span: Span,
}

/// `multi-threading`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MultiThreading {
    /// `enable-multi-threading` (Kea 2.2 default true).
    pub enable: Option<bool>,
    /// `thread-pool-size` (0: automatic).
    pub thread_pool_size: Option<u32>,
    /// `packet-queue-size`.
    pub packet_queue_size: Option<u32>,
}

/// A `loggers` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logger {
    /// `name` (`kea-dhcp4`, `kea-dhcp4.leases`, …).
    pub name: String,
    /// `severity` (FATAL, ERROR, WARN, INFO, DEBUG, NONE).
    pub severity: Option<String>,
    /// `debuglevel` (0–99).
    pub debuglevel: Option<u32>,
    /// `output_options`.
    pub output_options: Vec<LogOutput>,
}

/// A logger output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOutput {
    /// `output`: `stdout`, `stderr`, `syslog[:name]` or a file.
    pub output: String,
    /// `maxsize` (bytes).
    pub maxsize: Option<u64>,
    /// `maxver`.
    pub maxver: Option<u32>,
    /// `flush`.
    pub flush: Option<bool>,
    /// `pattern`.
    pub pattern: Option<String>,
}

/// `expired-leases-processing` (unset: Kea's defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpiredLeasesProcessing {
    /// `reclaim-timer-wait-time` (s, default 10).
    pub reclaim_timer_wait_time: Option<u32>,
    /// `flush-reclaimed-timer-wait-time` (s, default 25).
    pub flush_reclaimed_timer_wait_time: Option<u32>,
    /// `hold-reclaimed-time` (s, default 3600).
    pub hold_reclaimed_time: Option<u32>,
    /// `max-reclaim-leases` (default 100).
    pub max_reclaim_leases: Option<u32>,
    /// `max-reclaim-time` (ms, default 250).
    pub max_reclaim_time: Option<u32>,
    /// `unwarned-reclaim-cycles` (default 5).
    pub unwarned_reclaim_cycles: Option<u32>,
}

/// The check the `kea_dhcp4_conf` fuzz target runs (shared with the corpus-replay test).
/// Panics if the reader misbehaves:
/// * reading never panics, and errors and warnings display;
/// * the JSON of a document that parses, written back compactly, parses to the same values
///   and reads to the same typed configuration.
///
/// Includes resolve to a fixed fragment (`"renew-timer": 100,` for `frag`, a subnet map for
/// `subnet`), so the include paths get exercised too.
pub fn fuzz_check(data: &[u8]) {
    use alloc::string::ToString;
    let text = String::from_utf8_lossy(data);
    let mut loader: alloc::collections::BTreeMap<String, String> = [
        ("frag".to_string(), "\"renew-timer\": 100,".to_string()),
        (
            "subnet".to_string(),
            "{\"id\": 7, \"subnet\": \"192.0.2.0/24\"}".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    if let Ok(doc) = json::parse(&text, "fuzz.json", &mut loader) {
        let compact = doc.root.to_string();
        let again =
            json::parse(&compact, "compact.json", &mut NoIncludes).expect("compact JSON re-parses");
        assert!(same(&doc.root, &again.root), "compact JSON differs");
    }
    match parse(&text, "fuzz.json", &mut loader) {
        Ok(c) => {
            for w in &c.warnings {
                let _ = w.to_string();
            }
            let again = parse(&c.raw.to_string(), "fuzz.json", &mut NoIncludes)
                .expect("a read configuration re-reads from its JSON");
            assert_eq!(again.dhcp4.subnets.len(), c.dhcp4.subnets.len());
            assert_eq!(again.dhcp4.timers, c.dhcp4.timers);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Equal values, positions aside (floats by bits so NaN cannot occur: JSON has none).
fn same(a: &Value, b: &Value) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::List(x), Kind::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Kind::Map(x, _), Kind::Map(y, _)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(a, b)| a.key == b.key && same(&a.value, &b.value))
        }
        (Kind::Float(x), Kind::Float(y)) => x == y,
        (x, y) => x == y,
    }
}
