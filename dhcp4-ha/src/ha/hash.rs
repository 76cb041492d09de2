//! Load balancing (RFC 3074) and Kea's query filter: which server's scope a query belongs to
//! (`query_filter.cc`).
//!
//! The key is the client identifier (option 61 data, type byte included) when present and
//! non-empty, else the hardware address (`chaddr[..hlen]`); with neither the query is dropped.
//! The RFC 3074 Pearson hash of the key, modulo the number of active servers (primary and
//! secondary), picks the server: 0 the primary, 1 the secondary. Only DISCOVER, REQUEST,
//! DECLINE, RELEASE and INFORM are balanced; other types (and queries with no message type)
//! belong to the first peer, the primary.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::config::{HaConfig, HaMode, Role};
use crate::wire::{Dhcp4Repr, MessageType};

/// RFC 3074's mixing table (Pearson hash), as Kea's `loadb_mx_tbl`.
pub const LB_TABLE: [u8; 256] = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232, 31, 32, 55, 60, 152,
    58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243,
    124, 95, 222, 179, 197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97,
    16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67, 207, 9, 178, 204,
    74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25,
    226, 227, 199, 75, 27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241,
    73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84, 82,
    163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118,
    112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66, 231,
    52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171,
    72, 50, 33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136,
    208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
];

/// The RFC 3074 hash of `key`: start from the key length (mod 256), then for each byte from
/// the last to the first, `h = T[h ^ byte]`.
pub fn lb_hash(key: &[u8]) -> u8 {
    key.iter()
        .rev()
        .fold(key.len() as u8, |h, &b| LB_TABLE[usize::from(h ^ b)])
}

/// The load-balancing key of a query: the client identifier if non-empty, else the hardware
/// address if non-empty, else none.
pub fn lb_key<'a>(client_id: Option<&'a [u8]>, hw_addr: &'a [u8]) -> Option<&'a [u8]> {
    match client_id {
        Some(c) if !c.is_empty() => Some(c),
        _ if !hw_addr.is_empty() => Some(hw_addr),
        _ => None,
    }
}

/// Whether Kea balances a message type (DISCOVER, REQUEST, DECLINE, RELEASE, INFORM).
pub fn is_ha_type(t: Option<MessageType>) -> bool {
    matches!(
        t,
        Some(
            MessageType::DISCOVER
                | MessageType::REQUEST
                | MessageType::DECLINE
                | MessageType::RELEASE
                | MessageType::INFORM
        )
    )
}

/// What the HA layer looks at in a query.
#[derive(Debug, Clone, Copy)]
pub struct QueryFacts<'a> {
    /// Option 53 (`None`: absent).
    pub message_type: Option<MessageType>,
    /// `chaddr[..hlen]`.
    pub hw_addr: &'a [u8],
    /// Option 61 data, if present.
    pub client_id: Option<&'a [u8]>,
    /// `secs` as sent.
    pub secs: u16,
    /// Transaction id (for logs).
    pub xid: u32,
}

impl<'a> QueryFacts<'a> {
    /// The facts of a decoded query.
    pub fn from_repr(q: &'a Dhcp4Repr) -> Self {
        Self {
            message_type: q.message_type(),
            hw_addr: q.client_hw_addr(),
            client_id: q.options.client_id.as_deref(),
            secs: q.secs,
            xid: q.xid,
        }
    }
}

/// Where a query belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Whether this server processes it.
    pub in_scope: bool,
    /// The scope (server name) it belongs to; the query gets class `HA_<scope>`. `None` when
    /// it has no load-balancing key (dropped).
    pub scope: Option<String>,
}

impl Classified {
    /// The client class Kea assigns (`HA_server1`).
    pub fn class(&self) -> Option<String> {
        self.scope.as_ref().map(|s| alloc::format!("HA_{s}"))
    }
}

/// Where a query belongs, without allocating ([`QueryFilter::place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Whether this server processes it.
    pub in_scope: bool,
    /// The index of its scope among the peers (see [`QueryFilter::class_of`]).
    pub scope: Option<usize>,
}

/// Kea's query filter: the peers in balancing order (primary, then secondary / standby,
/// then backups) and the scopes this server serves now.
#[derive(Debug, Clone)]
pub struct QueryFilter {
    mode: HaMode,
    me: String,
    my_role: Role,
    /// Peer names: primary first, then secondary/standby (name order), then backups.
    peers: Vec<(String, Role)>,
    /// `HA_<peer>` for each of `peers`, built once (a query's class costs no allocation).
    classes: Vec<String>,
    active: u8,
    scopes: BTreeMap<String, bool>,
}

impl QueryFilter {
    /// The filter of a configuration, serving the default scopes.
    pub fn new(cfg: &HaConfig) -> Self {
        let mut by_name: Vec<(String, Role)> =
            cfg.peers.iter().map(|p| (p.name.clone(), p.role)).collect();
        by_name.sort();
        let mut peers = Vec::new();
        let mut backups = Vec::new();
        let mut active = 0;
        for (n, r) in by_name {
            match r {
                Role::Primary => {
                    peers.insert(0, (n, r));
                    active += 1;
                }
                Role::Secondary => {
                    peers.push((n, r));
                    active += 1;
                }
                Role::Standby => peers.push((n, r)),
                Role::Backup => backups.push((n, r)),
            }
        }
        peers.extend(backups);
        let classes = peers
            .iter()
            .map(|(n, _)| alloc::format!("HA_{n}"))
            .collect();
        let mut f = Self {
            mode: cfg.mode,
            me: cfg.this_server_name.clone(),
            my_role: cfg.this_server().role,
            peers,
            classes,
            active,
            scopes: BTreeMap::new(),
        };
        f.serve_default_scopes();
        f
    }

    /// Serves no scope.
    pub fn serve_no_scopes(&mut self) {
        self.scopes = self.peers.iter().map(|(n, _)| (n.clone(), false)).collect();
    }

    /// Serves this server's own scope (a primary or secondary), or none.
    pub fn serve_default_scopes(&mut self) {
        self.serve_no_scopes();
        if matches!(self.my_role, Role::Primary | Role::Secondary) {
            self.scopes.insert(self.me.clone(), true);
        }
    }

    /// Serves the scopes of the primary and the secondary (partner down or in maintenance).
    pub fn serve_failover_scopes(&mut self) {
        self.serve_no_scopes();
        for (n, r) in &self.peers {
            if matches!(r, Role::Primary | Role::Secondary) {
                self.scopes.insert(n.clone(), true);
            }
        }
    }

    /// Serves exactly `scopes` (`ha-scopes`); an unknown name is refused with Kea's message
    /// and nothing changes.
    pub fn serve_scopes(&mut self, scopes: &[String]) -> Result<(), String> {
        if let Some(bad) = scopes
            .iter()
            .find(|s| !self.peers.iter().any(|(n, _)| n == *s))
        {
            return Err(alloc::format!(
                "invalid server name specified '{bad}' while enabling/disabling HA scopes"
            ));
        }
        self.serve_no_scopes();
        for s in scopes {
            self.scopes.insert(s.clone(), true);
        }
        Ok(())
    }

    /// Whether `scope` is served (an unknown scope counts as served, as in Kea).
    pub fn serving(&self, scope: &str) -> bool {
        self.scopes.get(scope).copied().unwrap_or(true)
    }

    /// Whether no scope is served (a hot-standby standby, a backup, or every scope turned
    /// off): every query of a type HA filters is then dropped.
    pub fn serves_no_scope(&self) -> bool {
        !self.peers.is_empty() && !self.scopes.values().any(|&on| on)
    }

    /// The served scopes, in name order.
    pub fn served_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|(_, on)| **on)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The scope a query belongs to and whether this server serves it.
    pub fn classify(&self, q: &QueryFacts<'_>) -> Classified {
        let p = self.place(q);
        Classified {
            in_scope: p.in_scope,
            scope: p.scope.map(|i| self.peers[i].0.clone()),
        }
    }

    /// [`classify`](Self::classify) without allocating: the scope as an index into the
    /// peers (see [`class_of`](Self::class_of)).
    pub fn place(&self, q: &QueryFacts<'_>) -> Placement {
        let out = |in_scope, scope| Placement { in_scope, scope };
        if self.peers.is_empty() {
            return out(!is_ha_type(q.message_type), None);
        }
        if !is_ha_type(q.message_type) {
            return out(true, Some(0));
        }
        let candidate = if self.mode == HaMode::LoadBalancing {
            let Some(key) = lb_key(q.client_id, q.hw_addr) else {
                return out(false, None);
            };
            if self.active == 0 {
                return out(false, None);
            }
            usize::from(lb_hash(key) % self.active)
        } else {
            0
        };
        match self.peers.get(candidate) {
            Some((name, _)) => out(self.serving(name), Some(candidate)),
            None => out(false, None),
        }
    }

    /// The name of scope `i` of a [`Placement`] (a peer's name).
    pub fn scope_name(&self, i: usize) -> Option<&str> {
        self.peers.get(i).map(|(n, _)| n.as_str())
    }

    /// The client class (`HA_server1`) of scope `i` of a [`Placement`].
    pub fn class_of(&self, i: usize) -> Option<&str> {
        self.classes.get(i).map(String::as_str)
    }
}
