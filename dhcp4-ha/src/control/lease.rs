//! The lease map of Kea's lease commands (`Lease4::toElement`, read by `Lease4Parser`).

use alloc::string::String;
use core::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::json;
use crate::lease::memfile::{hex_colon, parse_hex_colon};
use crate::lease::{Lease4, LeaseState, MAX_CLIENT_ID_LEN, MAX_HWADDR_LEN};

/// Why a lease map does not make a [`Lease4`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// `hw-address` is not colon-separated hex of at most 20 bytes.
    #[error("invalid hw-address '{0}'")]
    HwAddress(String),
    /// `client-id` is not colon-separated hex of at most 255 bytes.
    #[error("invalid client-id '{0}'")]
    ClientId(String),
    /// `expire` is smaller than `valid-lft`.
    #[error("expire {expire} is smaller than valid-lft {valid}")]
    Expire {
        /// expire.
        expire: u64,
        /// valid-lft.
        valid: u32,
    },
    /// `state` above 2.
    #[error("invalid state value {0}: supported values are 0, 1 and 2")]
    State(u32),
    /// `user-context` is not a map.
    #[error("user-context must be a map")]
    UserContext,
}

/// A lease as Kea's lease commands carry it. `lease4-update` / `lease4-del` give `expire`
/// (`cltt + valid-lft`; `lease4-update` adds `force-create: true`); `lease4-get-page` and
/// `lease4-get-all` give `cltt`. Keys this type does not know (`pool-id`, `origin`, …) are
/// kept in [`extra`](Self::extra) so that a map re-encodes unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeaLease4 {
    /// `ip-address`.
    pub ip_address: Ipv4Addr,
    /// `hw-address`: lower-case colon hex (may be empty).
    #[serde(default)]
    pub hw_address: String,
    /// `client-id`: colon hex, absent when the lease has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `cltt` (get-page / get-all form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cltt: Option<u64>,
    /// `expire` (update / del form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// `force-create` (`lease4-update` from an HA peer: `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_create: Option<bool>,
    /// `fqdn-fwd`.
    #[serde(default)]
    pub fqdn_fwd: bool,
    /// `fqdn-rev`.
    #[serde(default)]
    pub fqdn_rev: bool,
    /// `hostname` (always written, `""` when none).
    #[serde(default)]
    pub hostname: String,
    /// `state`: 0 default, 1 declined, 2 expired-reclaimed.
    #[serde(default)]
    pub state: u32,
    /// `subnet-id`; when absent the receiver picks the subnet by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<u32>,
    /// `user-context`, a map, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_context: Option<Value>,
    /// `valid-lft`.
    #[serde(default)]
    pub valid_lft: u32,
    /// Other keys, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl KeaLease4 {
    fn base(lease: &Lease4) -> Self {
        let mut hw = String::new();
        hex_colon(&lease.hwaddr, &mut hw);
        let client_id = (!lease.client_id.is_empty()).then(|| {
            let mut s = String::new();
            hex_colon(&lease.client_id, &mut s);
            s
        });
        let user_context = lease
            .user_context
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .filter(Value::is_object);
        Self {
            ip_address: lease.addr,
            hw_address: hw,
            client_id,
            cltt: None,
            expire: None,
            force_create: None,
            fqdn_fwd: lease.fqdn_fwd,
            fqdn_rev: lease.fqdn_rev,
            hostname: lease.hostname.clone(),
            state: lease.state.number(),
            subnet_id: Some(lease.subnet_id),
            user_context,
            valid_lft: lease.valid_lifetime,
            extra: Map::new(),
        }
    }

    /// The arguments of the `lease4-update` Kea's HA hook sends: `expire` and
    /// `force-create: true`.
    pub fn for_update(lease: &Lease4) -> Self {
        Self {
            expire: Some(lease.cltt.saturating_add(u64::from(lease.valid_lifetime))),
            force_create: Some(true),
            ..Self::base(lease)
        }
    }

    /// The arguments of `lease4-del`: the update map without `force-create`.
    pub fn for_delete(lease: &Lease4) -> Self {
        Self {
            expire: Some(lease.cltt.saturating_add(u64::from(lease.valid_lifetime))),
            ..Self::base(lease)
        }
    }

    /// A lease of a `lease4-get-page` / `lease4-get-all` answer: `cltt`.
    pub fn for_page(lease: &Lease4) -> Self {
        Self {
            cltt: Some(lease.cltt),
            ..Self::base(lease)
        }
    }

    /// The lease the map describes, with Kea's rules (`Lease4Parser`): `cltt = expire -
    /// valid-lft` (or `cltt` as given; `now` when neither is present), `state` at most 2. A
    /// missing `subnet-id` becomes 0: the caller picks the subnet by address.
    pub fn to_lease(&self, now: u64) -> Result<Lease4, LeaseError> {
        let hwaddr = parse_hex_colon(&self.hw_address, MAX_HWADDR_LEN)
            .ok_or_else(|| LeaseError::HwAddress(self.hw_address.clone()))?;
        let client_id = match &self.client_id {
            None => alloc::vec::Vec::new(),
            Some(c) => parse_hex_colon(c, MAX_CLIENT_ID_LEN)
                .ok_or_else(|| LeaseError::ClientId(c.clone()))?,
        };
        if self.state > 2 {
            return Err(LeaseError::State(self.state));
        }
        let cltt = match (self.expire, self.cltt) {
            (Some(expire), _) => {
                expire
                    .checked_sub(u64::from(self.valid_lft))
                    .ok_or(LeaseError::Expire {
                        expire,
                        valid: self.valid_lft,
                    })?
            }
            (None, Some(cltt)) => cltt,
            (None, None) => now,
        };
        let user_context = match &self.user_context {
            None => None,
            Some(v @ Value::Object(_)) => Some(json::to_kea_string(v)),
            Some(_) => return Err(LeaseError::UserContext),
        };
        Ok(Lease4 {
            addr: self.ip_address,
            hwaddr,
            client_id,
            valid_lifetime: self.valid_lft,
            cltt,
            subnet_id: self.subnet_id.unwrap_or(0),
            fqdn_fwd: self.fqdn_fwd,
            fqdn_rev: self.fqdn_rev,
            hostname: self.hostname.clone(),
            state: LeaseState::from_number(self.state),
            user_context,
            pool_id: 0,
        })
    }

    /// The map as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a lease map.
    pub fn from_value(v: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(v)
    }
}
