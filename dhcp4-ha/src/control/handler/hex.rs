//! Kea's readings of identifiers in command arguments: colon-separated hex for hardware
//! addresses, the looser "formatted" hex (colons, spaces or one run of digits) for client
//! identifiers, each with Kea's error texts.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Most bytes of a hardware address (Kea's `HWAddr::MAX_HWADDR_LEN`).
pub(crate) const MAX_HWADDR_LEN: usize = 20;
/// Most bytes of a client identifier in the lease commands (Kea reads it as a DUID: 128).
pub(crate) const MAX_CLIENT_ID_LEN: usize = 128;
/// Fewest bytes of a client identifier.
pub(crate) const MIN_CLIENT_ID_LEN: usize = 2;

/// Groups of one or two hex digits separated by `sep`; the empty string is no bytes.
fn separated(s: &str, sep: char) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    for part in s.split(sep) {
        if part.is_empty() {
            return Err(format!(
                "two consecutive separators ('{sep}') specified in a decoded string '{s}'"
            ));
        }
        if part.len() > 2 {
            return Err(format!("invalid format of the decoded string '{s}'"));
        }
        if let Some(c) = part.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "'{c}' is not a valid hexadecimal digit in decoded string '{s}'"
            ));
        }
        // One or two hex digits: always fits a byte.
        out.push(u8::from_str_radix(part, 16).unwrap_or(0));
    }
    Ok(out)
}

/// A hardware address as Kea's `HWAddr::fromText` reads it.
pub(crate) fn hw_address(s: &str) -> Result<Vec<u8>, String> {
    let b = separated(s, ':')?;
    if b.len() > MAX_HWADDR_LEN {
        return Err("address vector size exceeds MAX_HWADDR_LEN".into());
    }
    Ok(b)
}

/// Kea's `decodeFormattedHexString`: colon- or space-separated groups, or a run of digits
/// (optionally `0x`-prefixed; an odd count gets a leading zero).
fn formatted(s: &str) -> Result<Vec<u8>, String> {
    if s.contains(':') {
        return separated(s, ':');
    }
    if s.contains(' ') {
        return separated(s, ' ');
    }
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("'{s}' is not a valid string of hexadecimal digits"));
    }
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    let bytes = digits.as_bytes();
    let mut i = 0;
    if bytes.len() % 2 == 1 {
        out.push(nibble(bytes[0]));
        i = 1;
    }
    while i + 1 < bytes.len() {
        out.push(nibble(bytes[i]) << 4 | nibble(bytes[i + 1]));
        i += 2;
    }
    Ok(out)
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// A client identifier as Kea's `ClientId::fromText` reads it.
pub(crate) fn client_id(s: &str) -> Result<Vec<u8>, String> {
    let b = formatted(s)?;
    if b.is_empty() {
        return Err("Empty DUIDs are not allowed".into());
    }
    if b.len() > MAX_CLIENT_ID_LEN {
        return Err(format!(
            "DUID size is {} bytes, exceeds maximum of {MAX_CLIENT_ID_LEN}",
            b.len()
        ));
    }
    if b.len() < MIN_CLIENT_ID_LEN {
        return Err(format!(
            "client-id is too short ({}), at least {MIN_CLIENT_ID_LEN} is required",
            b.len()
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kea_hex_rules() {
        assert_eq!(
            hw_address("1:b:c:d:1e:1f"),
            Ok(alloc::vec![1, 0xb, 0xc, 0xd, 0x1e, 0x1f])
        );
        assert_eq!(hw_address(""), Ok(Vec::new()));
        assert_eq!(
            hw_address("zz").unwrap_err(),
            "'z' is not a valid hexadecimal digit in decoded string 'zz'"
        );
        assert_eq!(
            hw_address("1a1b1c").unwrap_err(),
            "invalid format of the decoded string '1a1b1c'"
        );
        assert_eq!(
            hw_address("1a:").unwrap_err(),
            "two consecutive separators (':') specified in a decoded string '1a:'"
        );
        assert_eq!(
            client_id("A3A6f78"),
            Ok(alloc::vec![0x0a, 0x3a, 0x6f, 0x78])
        );
        assert_eq!(client_id("1 2 3"), Ok(alloc::vec![1, 2, 3]));
        assert_eq!(client_id("0x0102"), Ok(alloc::vec![1, 2]));
        assert_eq!(
            client_id("0X0102").unwrap_err(),
            "'0X0102' is not a valid string of hexadecimal digits"
        );
        assert_eq!(client_id("").unwrap_err(), "Empty DUIDs are not allowed");
        assert_eq!(
            client_id("1").unwrap_err(),
            "client-id is too short (1), at least 2 is required"
        );
        assert_eq!(
            client_id("01  02").unwrap_err(),
            "two consecutive separators (' ') specified in a decoded string '01  02'"
        );
    }
}
