//! A checked, zero-copy view over the bytes of a VRRP advertisement.
//!
//! ```text
//! VRRPv3 (RFC 5798 §5.1)                 VRRPv2 (RFC 3768 §5.1)
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v3: |(rsvd)|     Max Adver Int   |          Checksum             |
//! v2: |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Count × IPv4 (4 bytes) or IPv6 (16 bytes) address       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | v2 only: Authentication Data (8 bytes)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # Validation contract
//! [`Advert::new_checked`] checks that the buffer holds the fixed header, a known version and
//! type, a non-zero VRID and interval, and exactly as many bytes as the address count needs for
//! the family given. After it succeeds no accessor panics. Accessors on a view made with
//! [`Advert::new_unchecked`] may return garbage but never panic either: they read through
//! bounds-checked slices and return zeros when bytes are missing.

use crate::checksum::{self, ChecksumMode};
use crate::error::ParseError;
use crate::repr::{Auth, AuthType, Family, IpPair, Version};

/// The type nibble of an ADVERTISEMENT.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed header, before the addresses.
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data trailer.
pub const V2_AUTH_LEN: usize = 8;

/// Byte offsets of the fields.
pub mod field {
    use core::ops::Range;
    /// Version and type nibbles.
    pub const VER_TYPE: usize = 0;
    /// Virtual Router ID.
    pub const VRID: usize = 1;
    /// Priority.
    pub const PRIORITY: usize = 2;
    /// Count IPvX Addr.
    pub const COUNT: usize = 3;
    /// VRRPv3: 4 reserved bits and the 12-bit Max Adver Int, big endian.
    pub const V3_INTERVAL: Range<usize> = 4..6;
    /// VRRPv2: Auth Type.
    pub const V2_AUTH_TYPE: usize = 4;
    /// VRRPv2: Adver Int in seconds.
    pub const V2_INTERVAL: usize = 5;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Start of the addresses.
    pub const ADDRS: usize = 8;
}

/// Length of a VRRP message of `version` carrying `count` addresses of `family`.
pub const fn message_len(version: Version, family: Family, count: usize) -> usize {
    let trailer = match version {
        Version::V2 => V2_AUTH_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + count * family.addr_len() + trailer
}

/// A view over a buffer holding one VRRP advertisement (the IP payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Advert<T> {
    /// Wraps a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking the header and that its length matches the address count
    /// for `family` (which the IP header tells: VRRP itself does not carry it).
    pub fn new_checked(buffer: T, family: Family) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len(family)?;
        Ok(p)
    }

    /// Checks the header fields and the length (see [`new_checked`](Self::new_checked)).
    pub fn check_len(&self, family: Family) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated {
                need: HEADER_LEN,
                have: b.len(),
            });
        }
        let version = self.version()?;
        if b[0] & 0x0f != TYPE_ADVERTISEMENT {
            return Err(ParseError::BadType(b[0] & 0x0f));
        }
        if version == Version::V2 && family == Family::Ipv6 {
            return Err(ParseError::V2OverIpv6);
        }
        let need = message_len(version, family, usize::from(self.count()));
        if b.len() < need {
            return Err(ParseError::Truncated {
                need,
                have: b.len(),
            });
        }
        if b.len() > need {
            return Err(ParseError::LengthMismatch {
                count: self.count(),
                need,
                have: b.len(),
            });
        }
        if self.vrid() == 0 {
            return Err(ParseError::ZeroVrid);
        }
        if self.interval() == 0 {
            return Err(ParseError::ZeroInterval);
        }
        if version == Version::V2 {
            AuthType::from_number(self.byte(field::V2_AUTH_TYPE))?;
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// The version field.
    pub fn version(&self) -> Result<Version, ParseError> {
        match self.byte(field::VER_TYPE) >> 4 {
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            v => Err(ParseError::BadVersion(v)),
        }
    }

    /// The Virtual Router ID.
    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    /// The priority.
    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    /// The address count.
    pub fn count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// The interval in the version's unit (v3: centiseconds, 12 bits; v2: seconds).
    pub fn interval(&self) -> u16 {
        match self.version() {
            Ok(Version::V2) => u16::from(self.byte(field::V2_INTERVAL)),
            _ => u16::from_be_bytes([self.byte(4), self.byte(5)]) & 0x0fff,
        }
    }

    /// VRRPv3: the four reserved bits in front of Max Adver Int.
    pub fn reserved(&self) -> u8 {
        match self.version() {
            Ok(Version::V3) => self.byte(4) >> 4,
            _ => 0,
        }
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.byte(6), self.byte(7)])
    }

    /// The raw bytes of the addresses (empty if the buffer is too short).
    pub fn addr_bytes(&self, family: Family) -> &[u8] {
        let end = field::ADDRS + usize::from(self.count()) * family.addr_len();
        self.buffer.as_ref().get(field::ADDRS..end).unwrap_or(&[])
    }

    /// VRRPv2: the authentication type and data.
    pub fn auth(&self) -> Result<Auth, ParseError> {
        let kind = AuthType::from_number(self.byte(field::V2_AUTH_TYPE))?;
        let b = self.buffer.as_ref();
        let mut data = [0; 8];
        if b.len() >= HEADER_LEN + V2_AUTH_LEN {
            data.copy_from_slice(&b[b.len() - V2_AUTH_LEN..]);
        }
        Ok(Auth { kind, data })
    }

    /// Verifies the checksum against `ip` and returns the convention that matched.
    ///
    /// VRRPv2 is checked without a pseudo-header, VRRPv3 over IPv6 with it, and VRRPv3 over
    /// IPv4 first with the pseudo-header (keepalived's default) and then without (RFC 9568).
    /// The field must hold the checksum exactly as computed (0x0000 is not accepted for 0xffff)
    /// so that a parsed packet re-emits byte-identically.
    pub fn verify_checksum(&self, ip: &IpPair) -> Result<ChecksumMode, ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated {
                need: HEADER_LEN,
                have: b.len(),
            });
        }
        let version = self.version()?;
        let family = ip.family()?;
        let found = self.checksum();
        let first = checksum::effective_mode(version, family, ChecksumMode::PseudoHeader);
        let expected = checksum::expected(b, ip, first);
        if found == expected {
            return Ok(first);
        }
        if version == Version::V3 && family == Family::Ipv4 {
            let alt = checksum::expected(b, ip, ChecksumMode::VrrpOnly);
            if found == alt {
                return Ok(ChecksumMode::VrrpOnly);
            }
        }
        Err(ParseError::BadChecksum { found, expected })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Advert<T> {
    /// Sets the priority (the checksum must be filled again afterwards).
    pub fn set_priority(&mut self, priority: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::PRIORITY) {
            *b = priority;
        }
    }

    /// Recomputes and stores the checksum in the convention `mode` (see
    /// [`checksum::effective_mode`] for which versions honour it).
    pub fn fill_checksum(&mut self, ip: &IpPair, mode: ChecksumMode) {
        let Ok(version) = self.version() else { return };
        let Ok(family) = ip.family() else { return };
        let b = self.buffer.as_mut();
        if b.len() < HEADER_LEN {
            return;
        }
        let mode = checksum::effective_mode(version, family, mode);
        let sum = checksum::expected(b, ip, mode);
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Advert<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}
