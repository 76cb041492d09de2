//! Typed arguments of the HA commands and answers. Each type reads from and writes to the
//! `arguments` value of a [`Request`](super::Request) or [`Answer`](super::Answer) with
//! [`Arguments::from_arguments`] / [`Arguments::to_arguments`]; reading is tolerant of keys
//! later Kea versions add (they are ignored, or kept where a type has an `extra` map).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use super::KeaLease4;
use super::{Command, RESULT_EMPTY, RESULT_SUCCESS};

/// Conversion between a typed argument set and the JSON `arguments` value.
pub trait Arguments: Serialize + DeserializeOwned {
    /// Reads `arguments` (absent arguments read as an empty map).
    fn from_arguments(arguments: Option<&Value>) -> Result<Self, ArgsError> {
        let empty = Value::Object(Map::new());
        Self::deserialize(arguments.unwrap_or(&empty)).map_err(|e| ArgsError(e.to_string()))
    }

    /// The `arguments` value.
    fn to_arguments(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Arguments that do not fit their type (the serde message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid arguments: {0}")]
pub struct ArgsError(pub String);

/// `ha-heartbeat` answer: the sender's state, clock and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HeartbeatAnswer {
    /// RFC 1123 time of the answering server (`Mon, 23 Nov 2026 13:33:43 GMT`).
    pub date_time: String,
    /// Scopes served.
    pub scopes: Vec<String>,
    /// HA state name (`hot-standby`, `waiting`, …).
    pub state: String,
    /// Lease updates not sent while in partner-down.
    #[serde(default)]
    pub unsent_update_count: u64,
}
impl Arguments for HeartbeatAnswer {}

impl HeartbeatAnswer {
    /// The answer Kea gives: result 0, `HA peer status returned.`
    pub fn answer(&self) -> super::Answer {
        super::Answer::success("HA peer status returned.", Some(self.to_arguments()))
    }
}

/// `dhcp-disable` arguments (`max-period` in seconds; `origin` `ha-partner` from a peer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct DhcpDisable {
    /// Seconds after which the service re-enables itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_period: Option<u64>,
    /// Who disabled it (`ha-partner`, `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}
impl Arguments for DhcpDisable {}

/// `dhcp-enable` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct DhcpEnable {
    /// Who enables it (`ha-partner`, `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}
impl Arguments for DhcpEnable {}

/// `ha-maintenance-notify` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MaintenanceNotify {
    /// `true` when maintenance is cancelled.
    pub cancel: bool,
}
impl Arguments for MaintenanceNotify {}

/// `ha-scopes` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Scopes {
    /// The scopes to serve.
    pub scopes: Vec<String>,
}
impl Arguments for Scopes {}

/// `ha-sync` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Sync {
    /// The server to fetch leases from.
    pub server_name: String,
    /// Seconds the partner's DHCP service stays disabled at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_period: Option<u64>,
}
impl Arguments for Sync {}

/// Where a `lease4-get-page` starts: `"start"` or after an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFrom {
    /// From the lowest address.
    Start,
    /// After this address (the last one of the previous page).
    After(Ipv4Addr),
}

impl Serialize for PageFrom {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Start => s.serialize_str("start"),
            Self::After(a) => s.collect_str(a),
        }
    }
}

impl<'de> Deserialize<'de> for PageFrom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "start" {
            return Ok(Self::Start);
        }
        s.parse().map(Self::After).map_err(|_| {
            serde::de::Error::custom(alloc::format!(
                "'from' parameter value {s} is neither 'start' keyword nor a valid IPv4 address"
            ))
        })
    }
}

/// `lease4-get-page` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GetPage {
    /// Where the page starts.
    pub from: PageFrom,
    /// Most leases in the page (`sync-page-limit`).
    pub limit: u32,
}
impl Arguments for GetPage {}

/// `lease4-get-page` (and, without `count`, `lease4-get-all`) answer arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeasePage {
    /// Number of leases (absent in `lease4-get-all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The leases, `cltt` form.
    pub leases: Vec<KeaLease4>,
}
impl Arguments for LeasePage {}

impl LeasePage {
    /// Kea's `lease4-get-page` answer: result 0 `N IPv4 lease(s) found.`, or result 3
    /// when the page is empty.
    pub fn answer(&self) -> super::Answer {
        let n = self.leases.len();
        super::Answer {
            result: if n == 0 { RESULT_EMPTY } else { RESULT_SUCCESS },
            text: Some(alloc::format!("{n} IPv4 lease(s) found.")),
            arguments: Some(self.to_arguments()),
        }
    }
}

impl Arguments for KeaLease4 {}

/// The `high-availability` element of `status-get`: one per HA relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HaStatus {
    /// `hot-standby`, `load-balancing` or `passive-backup`.
    pub ha_mode: String,
    /// This server and its partner.
    pub ha_servers: HaServers,
}

/// `ha-servers` of [`HaStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HaServers {
    /// This server.
    pub local: LocalStatus,
    /// The partner (absent in passive-backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteStatus>,
}

/// `local` of [`HaServers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LocalStatus {
    /// Role (`primary`, `secondary`, `standby`, `backup`).
    pub role: String,
    /// Scopes served.
    pub scopes: Vec<String>,
    /// HA state.
    pub state: String,
}

/// `remote` of [`HaServers`]: what this server knows of its partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RemoteStatus {
    /// Seconds since the partner's state was last learnt.
    pub age: u64,
    /// Packets analysed while communication is interrupted.
    pub analyzed_packets: u64,
    /// Whether communication with the partner is interrupted.
    pub communication_interrupted: bool,
    /// Clients trying to get leases from the partner.
    pub connecting_clients: u64,
    /// Whether the partner was reached since start-up.
    pub in_touch: bool,
    /// The partner's scopes, as last reported.
    pub last_scopes: Vec<String>,
    /// The partner's state, as last reported.
    pub last_state: String,
    /// The partner's role.
    pub role: String,
    /// Clients unacknowledged by the partner.
    pub unacked_clients: u64,
    /// How many more unacknowledged clients make the partner down.
    pub unacked_clients_left: u64,
}

/// `status-get` answer arguments: the `high-availability` section typed, the rest (pid,
/// uptime, reload, multi-threading, queue statistics, sockets) kept as values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatusGet {
    /// The HA section, when the HA hook is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<Vec<HaStatus>>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
impl Arguments for StatusGet {}

/// The typed request arguments of a known command, read and written back: they must make
/// the same value again (the fuzz check, also usable in tests).
pub fn fuzz_arguments(command: Option<Command>, arguments: &Value) {
    fn check<T: Arguments + PartialEq + core::fmt::Debug>(v: &Value) {
        if let Ok(t) = T::from_arguments(Some(v)) {
            let back = t.to_arguments();
            let again = T::from_arguments(Some(&back)).expect("written arguments read back");
            assert_eq!(again, t, "typed arguments changed on a round trip");
        }
    }
    match command {
        Some(Command::Lease4Update | Command::Lease4Del) => {
            check::<KeaLease4>(arguments);
            // Kea's JSON escapes non-ASCII byte by byte, so a user-context with non-ASCII
            // text does not survive Kea's text form; expire must not overflow.
            let ascii = serde_json::to_string(arguments).is_ok_and(|s| s.is_ascii());
            if let Ok(l) = KeaLease4::from_arguments(Some(arguments))
                && let Ok(lease) = l.to_lease(0)
                && ascii
                && lease
                    .cltt
                    .checked_add(u64::from(lease.valid_lifetime))
                    .is_some()
            {
                let update = KeaLease4::for_update(&lease);
                assert_eq!(
                    update.to_lease(0).as_ref(),
                    Ok(&lease),
                    "lease4-update form"
                );
                let page = KeaLease4::for_page(&lease);
                assert_eq!(page.to_lease(0).as_ref(), Ok(&lease), "get-page form");
            }
        }
        Some(Command::Lease4GetPage) => check::<GetPage>(arguments),
        Some(Command::DhcpDisable) => check::<DhcpDisable>(arguments),
        Some(Command::DhcpEnable) => check::<DhcpEnable>(arguments),
        Some(Command::HaMaintenanceNotify) => check::<MaintenanceNotify>(arguments),
        Some(Command::HaScopes) => check::<Scopes>(arguments),
        Some(Command::HaSync) => check::<Sync>(arguments),
        _ => {}
    }
}
