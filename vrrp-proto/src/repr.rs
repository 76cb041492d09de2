//! The owned representation of an advertisement: [`AdvertRepr`] with parse / buffer_len / emit.

extern crate alloc;

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use crate::checksum::{self, ChecksumMode};
use crate::error::{EmitError, ParseError};
use crate::wire::{self, Advert, field};

/// The VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// VRRPv2, RFC 3768: IPv4 only, interval in seconds, 8 bytes of authentication data.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 or IPv6, interval in centiseconds.
    V3,
}

impl Version {
    /// The value of the version nibble.
    pub const fn number(self) -> u8 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

/// The IP address family an advertisement travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: 4-byte virtual addresses, group 224.0.0.18.
    Ipv4,
    /// IPv6: 16-byte virtual addresses, group ff02::12.
    Ipv6,
}

impl Family {
    /// Size of one virtual address in bytes.
    pub const fn addr_len(self) -> usize {
        match self {
            Self::Ipv4 => 4,
            Self::Ipv6 => 16,
        }
    }

    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::Ipv4,
            IpAddr::V6(_) => Self::Ipv6,
        }
    }
}

/// The addresses an advertisement carries, all of one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VirtualAddrs {
    /// IPv4 virtual addresses.
    V4(Vec<Ipv4Addr>),
    /// IPv6 virtual addresses.
    V6(Vec<Ipv6Addr>),
}

impl VirtualAddrs {
    /// The family of these addresses.
    pub const fn family(&self) -> Family {
        match self {
            Self::V4(_) => Family::Ipv4,
            Self::V6(_) => Family::Ipv6,
        }
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Self::V4(v) => v.len(),
            Self::V6(v) => v.len(),
        }
    }

    /// Whether there are no addresses.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The addresses as [`IpAddr`]s.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (a, b) = match self {
            Self::V4(v) => (Some(v.iter().map(|a| IpAddr::V4(*a))), None),
            Self::V6(v) => (None, Some(v.iter().map(|a| IpAddr::V6(*a)))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }
}

/// VRRPv2 authentication type (RFC 2338 §5.3.6, kept by RFC 3768 for compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication.
    None,
    /// 1: simple text password (keepalived `auth_type PASS`), up to 8 bytes, zero padded.
    SimplePassword,
    /// 2: IP Authentication Header (keepalived `auth_type AH`): parsed, not supported.
    IpAh,
}

impl AuthType {
    /// The value of the Auth Type field.
    pub const fn number(self) -> u8 {
        match self {
            Self::None => 0,
            Self::SimplePassword => 1,
            Self::IpAh => 2,
        }
    }

    /// Decodes the Auth Type field.
    pub const fn from_number(n: u8) -> Result<Self, ParseError> {
        match n {
            0 => Ok(Self::None),
            1 => Ok(Self::SimplePassword),
            2 => Ok(Self::IpAh),
            n => Err(ParseError::BadAuthType(n)),
        }
    }
}

/// The VRRPv2 authentication fields: type and the 8 bytes of authentication data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Auth {
    /// The authentication type.
    pub kind: AuthType,
    /// Authentication data as sent (the password, NUL padded, for type 1).
    pub data: [u8; 8],
}

impl Auth {
    /// No authentication, zero data.
    pub const NONE: Self = Self {
        kind: AuthType::None,
        data: [0; 8],
    };

    /// Simple password authentication; the password is truncated to 8 bytes, as keepalived does.
    pub fn password(pw: &[u8]) -> Self {
        let mut data = [0; 8];
        let n = pw.len().min(8);
        data[..n].copy_from_slice(&pw[..n]);
        Self {
            kind: AuthType::SimplePassword,
            data,
        }
    }

    /// The result of checking this received authentication against the configured one.
    pub fn check(&self, expected: &Self) -> AuthCheck {
        match (self.kind, expected.kind) {
            (AuthType::IpAh, _) | (_, AuthType::IpAh) => AuthCheck::Unsupported,
            (a, b) if a != b => AuthCheck::TypeMismatch,
            (AuthType::SimplePassword, _) if self.data != expected.data => AuthCheck::BadPassword,
            _ => AuthCheck::Ok,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self::NONE
    }
}

/// Outcome of [`Auth::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthCheck {
    /// Authentication matches the configuration.
    Ok,
    /// The authentication type differs from the configured one.
    TypeMismatch,
    /// Simple password differs.
    BadPassword,
    /// IP AH (type 2) is not supported by hakit.
    Unsupported,
}

/// The source and destination of the IP packet that carries (or will carry) an advertisement:
/// the checksum pseudo-header, and the address family of the virtual addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPair {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (the group, or a unicast peer).
    pub dst: IpAddr,
}

impl IpPair {
    /// An IPv4 pair.
    pub const fn v4(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Self {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
        }
    }

    /// An IPv6 pair.
    pub const fn v6(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Self {
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
        }
    }

    /// The family of the pair, or an error when source and destination differ.
    pub fn family(&self) -> Result<Family, ParseError> {
        match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Ok(Family::Ipv4),
            (IpAddr::V6(_), IpAddr::V6(_)) => Ok(Family::Ipv6),
            _ => Err(ParseError::MixedFamilies),
        }
    }
}

/// A VRRP advertisement, owned and validated.
///
/// `interval` is Max_Adver_Int in the version's unit: centiseconds (1..=4095) for VRRPv3,
/// seconds (1..=255) for VRRPv2; [`AdvertRepr::interval_duration`] converts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdvertRepr {
    /// Protocol version.
    pub version: Version,
    /// Virtual Router Identifier, 1..=255.
    pub vrid: u8,
    /// Priority: 255 address owner, 1..=254 backup, 0 Master releasing.
    pub priority: u8,
    /// Max_Adver_Int (v3, centiseconds) or Adver Int (v2, seconds).
    pub interval: u16,
    /// The virtual addresses.
    pub addrs: VirtualAddrs,
    /// VRRPv2 authentication; [`Auth::NONE`] for v3.
    pub auth: Auth,
    /// The four reserved bits in front of Max_Adver_Int (v3) as received; zero when sending.
    /// RFC 5798 §5.2.5 says receivers ignore them; they are kept only so that a re-emitted
    /// packet is byte-identical to the one parsed.
    pub reserved: u8,
}

impl AdvertRepr {
    /// A VRRPv3 advertisement with an interval given as a [`Duration`] (rounded to centiseconds,
    /// clamped to 1..=4095).
    pub fn v3(vrid: u8, priority: u8, interval: Duration, addrs: VirtualAddrs) -> Self {
        Self {
            version: Version::V3,
            vrid,
            priority,
            interval: duration_to_centis(interval),
            addrs,
            auth: Auth::NONE,
            reserved: 0,
        }
    }

    /// The advertisement interval as a [`Duration`].
    pub fn interval_duration(&self) -> Duration {
        match self.version {
            Version::V3 => Duration::from_millis(u64::from(self.interval) * 10),
            Version::V2 => Duration::from_secs(u64::from(self.interval)),
        }
    }

    /// Length of the VRRP message this representation emits.
    pub fn buffer_len(&self) -> usize {
        wire::message_len(self.version, self.addrs.family(), self.addrs.len())
    }

    /// Parses and validates a checked view. The checksum is verified against `ip`: for VRRPv3
    /// over IPv4 both conventions are accepted and the one that matched is returned.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Advert<T>,
        ip: &IpPair,
    ) -> Result<(Self, ChecksumMode), ParseError> {
        let family = ip.family()?;
        packet.check_len(family)?;
        let mode = packet.verify_checksum(ip)?;
        let version = packet.version()?;
        let count = usize::from(packet.count());
        let addrs = match family {
            Family::Ipv4 => {
                let mut v = Vec::with_capacity(count);
                v.extend(
                    packet
                        .addr_bytes(family)
                        .chunks_exact(4)
                        .map(|c| Ipv4Addr::from(<[u8; 4]>::try_from(c).unwrap_or([0; 4]))),
                );
                VirtualAddrs::V4(v)
            }
            Family::Ipv6 => {
                let mut v = Vec::with_capacity(count);
                v.extend(
                    packet
                        .addr_bytes(family)
                        .chunks_exact(16)
                        .map(|c| Ipv6Addr::from(<[u8; 16]>::try_from(c).unwrap_or([0; 16]))),
                );
                VirtualAddrs::V6(v)
            }
        };
        let auth = match version {
            Version::V2 => packet.auth()?,
            Version::V3 => Auth::NONE,
        };
        Ok((
            Self {
                version,
                vrid: packet.vrid(),
                priority: packet.priority(),
                interval: packet.interval(),
                addrs,
                auth,
                reserved: packet.reserved(),
            },
            mode,
        ))
    }

    /// Checks that this representation can be emitted for `ip` and returns the message length.
    fn check_emit(&self, ip: &IpPair) -> Result<usize, EmitError> {
        let family = ip.family().map_err(|_| EmitError::FamilyMismatch)?;
        if family != self.addrs.family() {
            return Err(EmitError::FamilyMismatch);
        }
        if self.vrid == 0 {
            return Err(EmitError::ZeroVrid);
        }
        if self.addrs.len() > 255 {
            return Err(EmitError::TooManyAddresses(self.addrs.len()));
        }
        let max = match self.version {
            Version::V3 => 0x0fff,
            Version::V2 => 0xff,
        };
        if self.interval == 0 || self.interval > max {
            return Err(EmitError::IntervalOutOfRange {
                version: self.version,
                interval: self.interval,
            });
        }
        match self.version {
            Version::V2 if family == Family::Ipv6 => {
                return Err(EmitError::VersionMismatch(Version::V2));
            }
            Version::V3 if self.auth != Auth::NONE || self.reserved > 0x0f => {
                return Err(EmitError::VersionMismatch(Version::V3));
            }
            _ => {}
        }
        Ok(self.buffer_len())
    }

    /// Emits the message into `buf` (which must hold at least [`buffer_len`](Self::buffer_len)
    /// bytes) and fills the checksum in the requested convention. VRRPv2 always uses no
    /// pseudo-header and IPv6 always uses it, whatever `mode` says. Returns the bytes written.
    pub fn emit(
        &self,
        buf: &mut [u8],
        ip: &IpPair,
        mode: ChecksumMode,
    ) -> Result<usize, EmitError> {
        let len = self.check_emit(ip)?;
        if buf.len() < len {
            return Err(EmitError::InsufficientSize {
                required: len,
                have: buf.len(),
            });
        }
        let buf = &mut buf[..len];
        buf[0] = (self.version.number() << 4) | wire::TYPE_ADVERTISEMENT;
        buf[field::VRID] = self.vrid;
        buf[field::PRIORITY] = self.priority;
        // Bounded to 255 by check_emit.
        buf[field::COUNT] = self.addrs.len() as u8;
        match self.version {
            Version::V3 => {
                let v = (u16::from(self.reserved) << 12) | self.interval;
                buf[field::V3_INTERVAL].copy_from_slice(&v.to_be_bytes());
            }
            Version::V2 => {
                buf[field::V2_AUTH_TYPE] = self.auth.kind.number();
                buf[field::V2_INTERVAL] = self.interval as u8;
            }
        }
        buf[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let mut at = field::ADDRS;
        match &self.addrs {
            VirtualAddrs::V4(v) => {
                for a in v {
                    buf[at..at + 4].copy_from_slice(&a.octets());
                    at += 4;
                }
            }
            VirtualAddrs::V6(v) => {
                for a in v {
                    buf[at..at + 16].copy_from_slice(&a.octets());
                    at += 16;
                }
            }
        }
        if self.version == Version::V2 {
            buf[at..at + 8].copy_from_slice(&self.auth.data);
        }
        let mode = checksum::effective_mode(self.version, self.addrs.family(), mode);
        let sum = checksum::compute(buf, ip, mode);
        buf[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(len)
    }
}

/// Rounds a duration to whole centiseconds in 1..=4095 (the VRRPv3 Max_Adver_Int field).
pub fn duration_to_centis(d: Duration) -> u16 {
    let cs = (d.as_micros() + 5_000) / 10_000;
    cs.clamp(1, 0x0fff) as u16
}
