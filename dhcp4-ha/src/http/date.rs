//! RFC 1123 dates (`Mon, 23 Nov 2026 13:33:43 GMT`): the HTTP `Date` header and the
//! `date-time` of Kea's heartbeat answer. No clock: the caller passes unix seconds.

use alloc::format;
use alloc::string::String;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month 1..=12, day 1..=31).
const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Formats unix seconds as an RFC 1123 date in GMT, as Kea writes `Date` and the heartbeat
/// `date-time`.
pub fn http_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an RFC 1123 date (`Mon, 23 Nov 2026 13:33:43 GMT`) to unix seconds; `None` when
/// malformed, before 1970, or the weekday does not match the date.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let sep = |i: usize, c: u8| b[i] == c;
    if !(sep(7, b' ') && sep(11, b' ') && sep(16, b' ') && sep(19, b':') && sep(22, b':')) {
        return None;
    }
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|m| text.get(8..11) == Some(m))? as u32 + 1;
    let year = num(12..16)?;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if year < 1970 || day == 0 || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    if civil_from_days(days) != (i64::from(year), month, day) {
        return None;
    }
    if text.get(..3) != Some(DAYS[(days % 7) as usize]) {
        return None;
    }
    Some(days as u64 * 86_400 + u64::from(hh) * 3600 + u64::from(mm) * 60 + u64::from(ss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_dates() {
        let t = parse_http_date("Mon, 23 Nov 2026 13:33:43 GMT").unwrap();
        assert_eq!(http_date(t), "Mon, 23 Nov 2026 13:33:43 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(parse_http_date("Tue, 23 Nov 2026 13:33:43 GMT"), None);
        assert_eq!(parse_http_date("Mon, 31 Feb 2026 13:33:43 GMT"), None);
        for t in (0..5_000_000_000u64).step_by(86_399 * 37) {
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
        }
    }
}
