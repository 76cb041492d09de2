//! Errors of the ctnetlink codec.

/// A received netlink datagram or ctnetlink message that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than a header needs.
    #[error("{what} truncated at offset {offset}")]
    Truncated {
        /// Offset of the header in the datagram.
        offset: usize,
        /// Which header.
        what: &'static str,
    },
    /// `nlmsg_len` below the header length or past the end of the datagram.
    #[error("nlmsg_len {len} at offset {offset} is invalid ({remaining} bytes remain)")]
    BadMessageLength {
        /// Offset of the message.
        offset: usize,
        /// `nlmsg_len`.
        len: usize,
        /// Bytes left in the datagram from `offset`.
        remaining: usize,
    },
    /// `nla_len` below 4 or past the end of its enclosing attribute or message.
    #[error("attribute type {ty}: nla_len {len} is invalid ({remaining} bytes remain)")]
    BadAttrLength {
        /// Attribute type (flags stripped).
        ty: u16,
        /// `nla_len`.
        len: usize,
        /// Bytes left where it starts.
        remaining: usize,
    },
    /// An attribute payload shorter than its value.
    #[error("{what}: payload of {len} bytes, {need} needed")]
    AttrTooShort {
        /// The attribute (`CTA_…` name).
        what: &'static str,
        /// Payload length received.
        len: usize,
        /// Payload length needed.
        need: usize,
    },
    /// A conntrack message without `CTA_TUPLE_ORIG`, or a tuple without addresses or protocol.
    #[error("conntrack message lacks {what}")]
    Missing {
        /// What is missing.
        what: &'static str,
    },
    /// An address family other than `AF_INET` / `AF_INET6` in a tuple.
    #[error("tuple address family {family} is neither AF_INET nor AF_INET6")]
    Family {
        /// `nfgen_family`.
        family: u8,
    },
    /// `NLMSG_ERROR` shorter than its errno.
    #[error("NLMSG_ERROR payload of {len} bytes, at least 4 needed")]
    ShortError {
        /// Payload length.
        len: usize,
    },
}

/// A conntrack that cannot be turned into a ctnetlink request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Neither `NTA_IPV4` nor `NTA_IPV6`.
    #[error("the conntrack has no original addresses")]
    NoAddresses,
    /// No `NTA_L4PROTO`.
    #[error("the conntrack has no layer 4 protocol")]
    NoL4Proto,
    /// ICMP / ICMPv6 without type, code and id (the kernel needs all three).
    #[error("ICMP conntrack without type, code and id")]
    IncompleteIcmp,
    /// A create without `NTA_TIMEOUT` and without a commit timeout (the kernel needs one).
    #[error("no timeout: neither NTA_TIMEOUT nor a commit timeout")]
    NoTimeout,
    /// A NAT or master address of the other family than the original tuple.
    #[error("NAT or master address family differs from the original tuple")]
    FamilyMismatch,
}
