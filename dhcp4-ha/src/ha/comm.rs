//! What this server knows of its partner (Kea's `CommunicationState4`): the partner's last
//! state and scopes, when the last good heartbeat was ("poke" time), the clock skew, the
//! clients seen trying the partner while communication is interrupted, and the counts of
//! lease updates not sent.

use alloc::string::String;
use alloc::vec::Vec;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::state::HaState;

/// Clock skew above which Kea warns (s).
pub const WARN_CLOCK_SKEW: i64 = 30;
/// Clock skew above which Kea terminates (s).
pub const TERM_CLOCK_SKEW: i64 = 60;
/// Least time between two clock skew warnings (s).
pub const MIN_TIME_SINCE_CLOCK_SKEW_WARN: u64 = 60;
/// Most connecting clients remembered while communication is interrupted (a bound Kea does
/// not have; beyond it new clients are counted as analysed but not remembered).
pub const MAX_CONNECTING_CLIENTS: usize = 65_536;

/// The partner as this server sees it.
#[derive(Debug, Clone)]
pub struct CommState {
    /// Partner's state; `None` before the first heartbeat answer or failure.
    pub partner_state: Option<HaState>,
    /// Partner's scopes from its last heartbeat answer.
    pub partner_scopes: Vec<String>,
    /// Last good heartbeat (start-up time before any).
    pub poke_time: Instant,
    /// Partner's clock minus ours (s), from the last heartbeat answer.
    pub clock_skew: i64,
    /// Our and the partner's unix time when the skew was measured.
    pub skew_times: Option<(u64, u64)>,
    last_skew_warn: Option<Instant>,
    /// (hw address, client id) → unacked, for queries meant for the partner.
    connecting: HashMap<(Vec<u8>, Vec<u8>), bool>,
    unacked: u64,
    /// Queries analysed since the last good heartbeat.
    pub analyzed: u64,
    /// Lease updates not sent to the partner (partner-down).
    pub unsent_update_count: u64,
    /// The partner's previous and last `unsent-update-count`.
    pub partner_unsent: (u64, u64),
    /// The partner's `unsent-update-count` when this server entered partner-down.
    pub partner_unsent_at_partner_down: u64,
}

impl CommState {
    /// The state at start-up.
    pub fn new(now: Instant) -> Self {
        Self {
            partner_state: None,
            partner_scopes: Vec::new(),
            poke_time: now,
            clock_skew: 0,
            skew_times: None,
            last_skew_warn: None,
            connecting: HashMap::new(),
            unacked: 0,
            analyzed: 0,
            unsent_update_count: 0,
            partner_unsent: (0, 0),
            partner_unsent_at_partner_down: 0,
        }
    }

    /// Time since the last good heartbeat.
    pub fn since_poke(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.poke_time)
    }

    /// Kea's `isCommunicationInterrupted`: more than `max-response-delay` since the last good
    /// heartbeat.
    pub fn is_interrupted(&self, now: Instant, max_response_delay: Duration) -> bool {
        self.since_poke(now) > max_response_delay
    }

    /// A good heartbeat: resets the poke time and the connecting clients.
    pub fn poke(&mut self, now: Instant) {
        self.poke_time = now;
        self.connecting.clear();
        self.unacked = 0;
        self.analyzed = 0;
    }

    /// Records the partner's heartbeat time (`date-time`, parsed) against ours.
    pub fn set_partner_time(&mut self, partner_unix: u64, my_unix: u64) {
        self.clock_skew = partner_unix as i64 - my_unix as i64;
        self.skew_times = Some((my_unix, partner_unix));
    }

    /// Whether the skew is above `secs` either way.
    pub fn skew_greater(&self, secs: i64) -> bool {
        self.clock_skew.abs() > secs
    }

    /// Kea's `clockSkewShouldWarn`: above 30 s, at most once a minute.
    pub fn skew_should_warn(&mut self, now: Instant) -> bool {
        if !self.skew_greater(WARN_CLOCK_SKEW) {
            return false;
        }
        let due = self.last_skew_warn.is_none_or(|t| {
            now.saturating_duration_since(t).as_secs() > MIN_TIME_SINCE_CLOCK_SKEW_WARN
        });
        if due {
            self.last_skew_warn = Some(now);
        }
        due
    }

    /// Kea's skew text: `my time: …, partner's time: …, partner's clock is 61s ahead`.
    pub fn skew_text(&self) -> String {
        let Some((mine, theirs)) = self.skew_times else {
            return "skew not initialized".into();
        };
        let dir = if self.clock_skew < 0 {
            alloc::format!("{}s behind", -self.clock_skew)
        } else {
            alloc::format!("{}s ahead", self.clock_skew)
        };
        alloc::format!(
            "my time: {}, partner's time: {}, partner's clock is {dir}",
            time_text(mine),
            time_text(theirs)
        )
    }

    /// Kea's `analyzeMessage`: a query meant for the partner seen while communication is
    /// interrupted. Returns `Some((unacked total, left))` when the client became unacked.
    pub fn analyze(
        &mut self,
        hw: &[u8],
        client_id: &[u8],
        secs: u16,
        max_ack_delay: u16,
        max_unacked: u32,
    ) -> Option<(u64, u64)> {
        self.analyzed += 1;
        let mut secs = secs;
        if secs > 255 && secs & 0xff == 0 {
            secs = secs.swap_bytes();
        }
        let unacked = u64::from(secs) * 1000 > u64::from(max_ack_delay);
        let key = (hw.to_vec(), client_id.to_vec());
        let newly = match self.connecting.get_mut(&key) {
            Some(u) => {
                let became = !*u && unacked;
                *u |= unacked;
                became
            }
            None => {
                if self.connecting.len() < MAX_CONNECTING_CLIENTS {
                    self.connecting.insert(key, unacked);
                }
                unacked
            }
        };
        if !newly {
            return None;
        }
        self.unacked += 1;
        let left = (u64::from(max_unacked) + 1).saturating_sub(self.unacked);
        Some((self.unacked, left))
    }

    /// Kea's `failureDetected`: `max-unacked-clients` is 0, or more clients than that are
    /// unacked.
    pub fn failure_detected(&self, max_unacked: u32) -> bool {
        max_unacked == 0 || self.unacked > u64::from(max_unacked)
    }

    /// Clients seen trying the partner.
    pub fn connecting_clients(&self) -> u64 {
        self.connecting.len() as u64
    }

    /// Unacked clients.
    pub fn unacked_clients(&self) -> u64 {
        self.unacked
    }

    /// Counts a lease update not sent (wraps to 1, as Kea).
    pub fn increase_unsent(&mut self) {
        self.unsent_update_count = self.unsent_update_count.checked_add(1).unwrap_or(1);
    }

    /// Records the partner's `unsent-update-count`.
    pub fn set_partner_unsent(&mut self, n: u64) {
        self.partner_unsent = (self.partner_unsent.1, n);
    }

    /// Whether the partner has lease updates it did not send since its previous heartbeat
    /// (Kea's `hasPartnerNewUnsentUpdates`).
    pub fn partner_has_new_unsent(&self) -> bool {
        self.partner_unsent.1 > 0 && self.partner_unsent.0 != self.partner_unsent.1
    }

    /// Whether the partner's `unsent-update-count` is non-zero and differs from the value it
    /// had when this server entered partner-down: the partner served clients without telling
    /// us, so we must sync before going back to normal. (Kea compares only the last two
    /// heartbeats, so a partner that reports the same count twice while it syncs from us is
    /// taken as having nothing new, and its leases are missed after a partition.)
    pub fn partner_unsent_since_partner_down(&self) -> bool {
        self.partner_unsent.1 > 0 && self.partner_unsent.1 != self.partner_unsent_at_partner_down
    }

    /// The `remote` map of `status-get` (without `role`).
    pub fn report(
        &self,
        now: Instant,
        max_response_delay: Duration,
        max_unacked: u32,
    ) -> Map<String, Value> {
        let in_touch = self.partner_state.is_some();
        let interrupted = self.is_interrupted(now, max_response_delay);
        let age = if in_touch {
            self.since_poke(now).as_secs()
        } else {
            0
        };
        let left = if interrupted && u64::from(max_unacked) >= self.unacked {
            u64::from(max_unacked) - self.unacked + 1
        } else {
            0
        };
        let v = json!({
            "age": age,
            "analyzed-packets": self.analyzed,
            "communication-interrupted": interrupted,
            "connecting-clients": self.connecting_clients(),
            "in-touch": in_touch,
            "last-scopes": self.partner_scopes,
            "last-state": self.partner_state.map(HaState::name).unwrap_or(""),
            "unacked-clients": self.unacked,
            "unacked-clients-left": left,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// `YYYY-Mon-DD HH:MM:SS` as Kea's `ptimeToText` writes a time in logs.
fn time_text(unix: u64) -> String {
    // Reuse the RFC 1123 formatter and rearrange: "Mon, 23 Nov 2026 13:33:43 GMT".
    let d = crate::http::http_date(unix);
    let parts: Vec<&str> = d.split(' ').collect();
    if parts.len() == 6 {
        alloc::format!("{}-{}-{} {}", parts[3], parts[2], parts[1], parts[4])
    } else {
        d
    }
}
