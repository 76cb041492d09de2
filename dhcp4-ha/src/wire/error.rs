//! The error types of the DHCPv4 codec: [`ParseError`] for received bytes, [`EmitError`] for
//! representations that cannot be written.

use core::fmt;

/// One of the three places of a DHCPv4 packet that can carry options (RFC 2131 §4.1, RFC 2132
/// §9.3): the options field proper, and the `file` and `sname` fields when option 52 (overload)
/// says so. With overload they are read in this order: options, file, sname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// The options field after the magic cookie (offset 240 to the end of the packet).
    Options,
    /// The 128-byte `file` field (offset 108), when overloaded with option 52 value 1 or 3.
    File,
    /// The 64-byte `sname` field (offset 44), when overloaded with option 52 value 2 or 3.
    Sname,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Options => "options field",
            Self::File => "file field",
            Self::Sname => "sname field",
        })
    }
}

/// Why received bytes are not an acceptable DHCPv4 packet.
///
/// Every malformed input maps to one variant; decoding never panics. Offsets are byte offsets
/// from the start of the BOOTP header (the UDP payload).
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is shorter than the 236-byte BOOTP header.
    #[error("truncated DHCP packet: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed (236).
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The BOOTP header is complete but the 4-byte magic cookie is not.
    #[error("no DHCP magic cookie: the packet ends {have} bytes in, inside the cookie")]
    MissingMagicCookie {
        /// Bytes present (236 to 239).
        have: usize,
    },
    /// The magic cookie is not 99.130.83.99 (RFC 2131 §3).
    #[error("bad DHCP magic cookie {found:#010x} (expected 0x63825363)")]
    BadMagicCookie {
        /// The four bytes at offset 236, big endian.
        found: u32,
    },
    /// An option's length byte is missing, or its data runs past the end of its area.
    #[error("option {code} at offset {offset} in the {area} needs {need} bytes, {have} left")]
    TruncatedOption {
        /// The area holding the option.
        area: Area,
        /// Offset of the option's code byte.
        offset: usize,
        /// The option code.
        code: u8,
        /// Bytes the option needs (2 + length, or 2 when the length byte is missing).
        need: usize,
        /// Bytes left in the area from `offset`.
        have: usize,
    },
    /// Option 52 (overload) does not have length 1.
    #[error("option overload (52) at offset {offset} has length {len}, expected 1")]
    BadOverloadLength {
        /// Offset of the option's code byte.
        offset: usize,
        /// The length found.
        len: u8,
    },
    /// Option 52 (overload) has a value other than 1 (file), 2 (sname) or 3 (both).
    #[error("option overload (52) at offset {offset} has value {value}, expected 1, 2 or 3")]
    BadOverloadValue {
        /// Offset of the option's code byte.
        offset: usize,
        /// The value found.
        value: u8,
    },
    /// A second option 52 in the options field.
    #[error("repeated option overload (52) at offset {offset}")]
    RepeatedOverload {
        /// Offset of the second instance's code byte.
        offset: usize,
    },
    /// Option 52 inside an overloaded `file` or `sname` field (RFC 2131 §4.1 allows it in the
    /// options field only).
    #[error("option overload (52) at offset {offset} inside the overloaded {area}")]
    OverloadInField {
        /// The overloaded field holding it.
        area: Area,
        /// Offset of its code byte.
        offset: usize,
    },
    /// An option the codec types has a length its type does not allow (after RFC 3396
    /// concatenation): e.g. a message type (53) of 2 bytes, or routers (3) of 6 bytes.
    #[error("option {code} at offset {offset} has invalid length {len}")]
    BadOptionLength {
        /// The option code.
        code: u8,
        /// Offset of its first instance's code byte (0 for a value given outside a packet).
        offset: usize,
        /// Total length of its (concatenated) data.
        len: usize,
    },
    /// A relay agent information (82) sub-option runs past the end of the option.
    #[error(
        "relay agent information at offset {offset}: sub-option {sub_code} at {at} is truncated"
    )]
    TruncatedSubOption {
        /// Offset of option 82's first instance (0 outside a packet).
        offset: usize,
        /// Offset of the sub-option within the option's (concatenated) data.
        at: usize,
        /// The sub-option code.
        sub_code: u8,
    },
    /// A relay agent information (82) sub-option the codec types has a bad length (link
    /// selection, RFC 3527, is 4 bytes).
    #[error("relay agent information at offset {offset}: sub-option {sub_code} has length {len}")]
    BadSubOptionLength {
        /// Offset of option 82's first instance (0 outside a packet).
        offset: usize,
        /// The sub-option code.
        sub_code: u8,
        /// Its length.
        len: usize,
    },
    /// Code 0 (pad), 52 (overload) or 255 (end) given as an option value: these frame the
    /// options and have no value of their own.
    #[error("option code {code} frames the options and has no value")]
    ReservedCode {
        /// The code.
        code: u8,
    },
}

/// Why a [`Dhcp4Repr`](crate::wire::Dhcp4Repr) (or part of it) could not be written.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is too small; `required` bytes are needed.
    #[error("buffer too small: need {required} bytes, have {have}")]
    InsufficientSize {
        /// Bytes needed.
        required: usize,
        /// Bytes available.
        have: usize,
    },
    /// A relay agent information sub-option longer than 255 bytes (sub-options cannot be
    /// split), or a link selection sub-option (RFC 3527) that is not 4 bytes, which the parser
    /// would refuse.
    #[error("relay agent sub-option {sub_code} has length {len}")]
    BadSubOptionLength {
        /// The sub-option code.
        sub_code: u8,
        /// Its length.
        len: usize,
    },
    /// A raw option with code 0, 52 or 255 (framing), or with the code of a typed field of
    /// [`Options`](crate::wire::Options) (which must be set through that field).
    #[error("option {code} cannot be carried as a raw option")]
    NotRaw {
        /// The code.
        code: u8,
    },
}
