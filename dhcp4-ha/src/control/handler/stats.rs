//! Kea's statistics commands over the server's [`Statistics`]: the `[[value, "timestamp"]]`
//! answers, and resets / removals kept as an overlay (the server's counters are never
//! written by the control layer).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use serde_json::{Map, Value};

use crate::server::{StatValue, Statistics};

/// Kea's timestamp of a statistic sample, `YYYY-MM-DD HH:MM:SS.ffffff`, of `unix` seconds and
/// `micros` microseconds, in UTC. Kea prints local time; hakit's daemons run in UTC, where
/// both agree. Pure: the same arguments give the same text.
pub fn kea_timestamp(unix: u64, micros: u32) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        micros.min(999_999)
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian calendar.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// What a reset or a removal left of a statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    /// The server's value at that time (reported values count from it).
    base: i64,
    /// When (unix seconds).
    at: u64,
    /// Removed (hidden until the server changes it again), rather than reset.
    removed: bool,
}

/// The resets and removals applied by `statistic-reset*` / `statistic-remove*`.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatOverlay {
    marks: BTreeMap<String, Mark>,
}

impl StatOverlay {
    /// The value Kea would report for `name` (`None`: removed, or no such statistic).
    pub(crate) fn view(&self, name: &str, raw: StatValue) -> Option<StatValue> {
        let Some(m) = self.marks.get(name) else {
            return Some(raw);
        };
        if m.removed && raw.changed <= m.at {
            return None;
        }
        Some(StatValue {
            value: raw.value.saturating_sub(m.base),
            changed: raw.changed.max(m.at),
        })
    }

    /// `statistic-reset` / `statistic-remove` of an existing statistic.
    pub(crate) fn mark(&mut self, name: &str, raw: StatValue, unix: u64, removed: bool) {
        self.marks.insert(
            name.into(),
            Mark {
                base: raw.value,
                at: unix,
                removed,
            },
        );
    }

    /// The statistic as reported, if it exists and is not removed.
    pub(crate) fn get(&self, stats: &Statistics, name: &str) -> Option<StatValue> {
        self.view(name, stats.get(name)?)
    }

    /// Every reported statistic, keyed by name (Kea's order: byte order of the names).
    pub(crate) fn all(&self, stats: &Statistics) -> Map<String, Value> {
        let mut m = Map::new();
        for e in stats.iter() {
            if let Some(v) = self.view(&e.name, e.value) {
                m.insert(e.name, samples(v));
            }
        }
        m
    }
}

/// `[ [ value, "timestamp" ] ]`: the one sample hakit keeps (Kea keeps up to
/// `statistic-default-sample-count`, 20, newest first).
pub(crate) fn samples(v: StatValue) -> Value {
    Value::Array(alloc::vec![Value::Array(alloc::vec![
        Value::from(v.value),
        Value::String(kea_timestamp(v.changed, 0)),
    ])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(kea_timestamp(0, 0), "1970-01-01 00:00:00.000000");
        // 2026-11-23 16:39:05 UTC.
        assert_eq!(
            kea_timestamp(1_795_451_945, 60_300),
            "2026-11-23 16:39:05.060300"
        );
        assert_eq!(kea_timestamp(951_782_400, 1), "2000-02-29 00:00:00.000001");
        assert_eq!(
            kea_timestamp(4_107_542_399, 0),
            "2100-02-28 23:59:59.000000"
        );
    }
}
