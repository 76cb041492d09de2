//! HTTP Basic authentication (RFC 7617), as Kea sends it to peers and checks it.

use alloc::string::String;
use alloc::vec::Vec;

/// Why an `Authorization` header is not valid Basic authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Another scheme than `Basic`.
    #[error("not Basic authentication")]
    Scheme,
    /// The credentials are not valid base64.
    #[error("credentials are not valid base64")]
    Base64,
    /// The decoded credentials are not UTF-8 `user:password`.
    #[error("credentials are not user:password")]
    Format,
}

/// A user and password (`basic-auth-user`, `basic-auth-password`).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User (must not contain `:`).
    pub user: String,
    /// Password.
    pub password: String,
}

impl core::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl BasicAuth {
    /// Credentials from text.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The `Authorization` value: `Basic base64(user:password)`.
    pub fn header_value(&self) -> String {
        let mut plain = Vec::with_capacity(self.user.len() + 1 + self.password.len());
        plain.extend_from_slice(self.user.as_bytes());
        plain.push(b':');
        plain.extend_from_slice(self.password.as_bytes());
        let mut out = String::from("Basic ");
        base64_encode(&plain, &mut out);
        out
    }

    /// Parses an `Authorization` value (`Basic <base64>`; the scheme is case-insensitive).
    pub fn parse_header(value: &[u8]) -> Result<Self, AuthError> {
        let value = value.trim_ascii();
        let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, &[][..]),
        };
        if !scheme.eq_ignore_ascii_case(b"Basic") {
            return Err(AuthError::Scheme);
        }
        let plain = base64_decode(rest.trim_ascii()).ok_or(AuthError::Base64)?;
        let text = String::from_utf8(plain).map_err(|_| AuthError::Format)?;
        let (user, password) = text.split_once(':').ok_or(AuthError::Format)?;
        Ok(Self::new(user, password))
    }

    /// Whether `self` is one of `allowed`, compared without an early exit on the first
    /// differing byte.
    pub fn is_allowed(&self, allowed: &[Self]) -> bool {
        allowed.iter().fold(false, |acc, a| {
            acc | (ct_eq(a.user.as_bytes(), self.user.as_bytes())
                & ct_eq(a.password.as_bytes(), self.password.as_bytes()))
        })
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn base64_encode(data: &[u8], out: &mut String) {
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
}

/// Standard base64 with padding (padding may be left out).
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let trimmed = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] => rest,
        t => t,
    };
    if trimmed.len() % 4 == 1 || (trimmed.len() != text.len() && !text.len().is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in trimmed {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero (canonical encoding).
    (acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7617_example() {
        let a = BasicAuth::new("Aladdin", "open sesame");
        assert_eq!(a.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(
            BasicAuth::parse_header(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Ok(a)
        );
    }

    #[test]
    fn base64_roundtrip() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let mut s = String::new();
            base64_encode(&data, &mut s);
            assert_eq!(base64_decode(s.as_bytes()), Some(data));
        }
        assert_eq!(base64_decode(b"QQ"), Some(b"A".to_vec()));
        assert_eq!(base64_decode(b"QR=="), None);
        assert_eq!(base64_decode(b"Q"), None);
        assert_eq!(base64_decode(b"Q=="), None);
    }
}
