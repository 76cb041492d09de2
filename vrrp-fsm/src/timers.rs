//! The RFC's timer arithmetic, in nanoseconds.
//!
//! VRRPv3 (RFC 5798 §6.1, RFC 9568 §6.1):
//! Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256, and
//! Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time. VRRPv2 (RFC 3768 §6.1):
//! Skew_Time = (256 − Priority) / 256 seconds, whatever the advert interval.
//!
//! keepalived's `down_timer_adverts` replaces the 3. Nothing is rounded to centiseconds: at
//! 10 ms adverts the skew of priority 100 is 6.09375 ms, which FRR's centisecond arithmetic
//! turns into 0, so that its backups stop staggering.

use std::time::Duration;

use vrrp_proto::Version;

/// Skew_Time for a router of `priority` that hears a Master advertising every
/// `master_adver_interval` (VRRPv3) or, for VRRPv2, `(256 − priority) / 256` s.
///
/// Exact to the nanosecond below (the division truncates at most 1 ns).
pub fn skew_time(version: Version, priority: u8, master_adver_interval: Duration) -> Duration {
    let base = match version {
        Version::V3 => master_adver_interval,
        Version::V2 => Duration::from_secs(1),
    };
    let ns = base.as_nanos() * (256 - u128::from(priority)) / 256;
    // At most 40.95 s (v3) or 1 s (v2): fits u64 nanoseconds.
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Master_Down_Interval = `down_timer_adverts` × Master_Adver_Interval + Skew_Time.
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_interval: Duration,
    down_timer_adverts: u8,
) -> Duration {
    master_adver_interval * u32::from(down_timer_adverts)
        + skew_time(version, priority, master_adver_interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_values() {
        let s = Duration::from_secs(1);
        // keepalived's lab figures: 3609 / 609 ms at priority 100, 1 s adverts.
        assert_eq!(
            skew_time(Version::V3, 100, s),
            Duration::from_nanos(609_375_000)
        );
        assert_eq!(
            master_down_interval(Version::V3, 100, s, 3),
            Duration::from_nanos(3_609_375_000)
        );
        // 10 ms adverts: 6.09375 ms, not truncated to centiseconds.
        let cs = Duration::from_millis(10);
        assert_eq!(
            skew_time(Version::V3, 100, cs),
            Duration::from_nanos(6_093_750)
        );
        assert_eq!(
            skew_time(Version::V3, 255, cs),
            Duration::from_nanos(39_062)
        );
        // VRRPv2: the skew ignores the interval.
        let v2 = Duration::from_secs(3);
        assert_eq!(
            skew_time(Version::V2, 200, v2),
            Duration::from_nanos(218_750_000)
        );
        assert_eq!(
            master_down_interval(Version::V2, 200, v2, 3),
            Duration::from_nanos(9_218_750_000)
        );
        assert_eq!(
            master_down_interval(Version::V3, 1, Duration::from_millis(40_950), 100),
            Duration::from_millis(4_095_000) + Duration::from_nanos(40_790_039_062)
        );
    }
}
