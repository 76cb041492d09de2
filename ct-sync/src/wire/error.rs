//! The error types of the codec: [`ParseError`] for received bytes, [`EmitError`] for values
//! that cannot be put on the wire.
//!
//! Offsets are byte offsets from the start of the message (for errors about one message or its
//! attributes) or from the start of the datagram (for errors found while splitting one).

/// Why received bytes were rejected.
///
/// Every malformed input maps to exactly one variant; decoding never panics. The variants follow
/// the checks a conntrackd 1.4.7 receiver makes: the splitter ones (`Truncated`, `BadLength`)
/// end the walk through a datagram, as they do in `channel_handler_routine`; the others reject
/// one message, as `msg2ct` / `msg2exp` or the header checks do.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes remain than the header (8, or 16 for ACK / NACK / RESYNC) or the `len` field
    /// announce. Over a stream transport the bytes from `offset` on are the start of a message
    /// still to be completed.
    #[error("truncated message at offset {offset}: need {need} bytes, have {have}")]
    Truncated {
        /// Where the message starts.
        offset: usize,
        /// Bytes the header requires.
        need: usize,
        /// Bytes present from `offset` on.
        have: usize,
    },
    /// The `len` field is smaller than the header it must cover (8 bytes, 16 for ACK / NACK /
    /// RESYNC); zero included.
    #[error("bad message length {len} at offset {offset}: at least {min} required")]
    BadLength {
        /// Where the message starts.
        offset: usize,
        /// The `len` field.
        len: u16,
        /// The minimum for this message's type and flags.
        min: u16,
    },
    /// A buffer given to [`Message::new_checked`](crate::wire::Message::new_checked) is longer
    /// than the message its `len` field announces.
    #[error("message length field says {len} bytes, buffer has {have}")]
    LengthMismatch {
        /// The `len` field.
        len: u16,
        /// Bytes in the buffer.
        have: usize,
    },
    /// The version nibble is not 1 (conntrackd counts it as "Wrong protocol version").
    #[error("unsupported protocol version {version}")]
    BadVersion {
        /// The version nibble.
        version: u8,
    },
    /// The type nibble is neither a state message (0..=5) nor a control message (10).
    #[error("unknown message type {msg_type}")]
    UnknownType {
        /// The type nibble.
        msg_type: u8,
    },
    /// A state (data) message carries flags other than HELLO / HELLO_BACK (conntrackd's
    /// `MSG_BAD`).
    #[error("data message with control flags {flags:#04x}")]
    DataFlags {
        /// The flags byte.
        flags: u8,
    },
    /// An attribute's `nta_len` is below 4, the size of its own header.
    #[error("attribute {id} at offset {offset}: nta_len {nta_len} is shorter than its header")]
    AttrTooShort {
        /// Where the attribute starts, from the start of the message.
        offset: usize,
        /// The attribute id.
        id: u16,
        /// The `nta_len` field.
        nta_len: u16,
    },
    /// An attribute's `nta_len` runs past the end of the message.
    #[error(
        "attribute {id} at offset {offset}: nta_len {nta_len} exceeds the {remaining} bytes left"
    )]
    AttrOverrun {
        /// Where the attribute starts, from the start of the message.
        offset: usize,
        /// The attribute id.
        id: u16,
        /// The `nta_len` field.
        nta_len: u16,
        /// Bytes left in the message from `offset` on.
        remaining: usize,
    },
    /// An attribute id at or above `NTA_MAX` (33 for conntracks, 21 for expectations): a 1.4.7
    /// receiver rejects the whole message. See
    /// [`ParseOptions::skip_unknown_attrs`](crate::wire::ParseOptions::skip_unknown_attrs).
    #[error("unknown attribute id {id} at offset {offset}")]
    UnknownAttr {
        /// Where the attribute starts, from the start of the message.
        offset: usize,
        /// The attribute id.
        id: u16,
    },
    /// A fixed-size attribute whose `nta_len` is not exactly its size.
    #[error("attribute {id} at offset {offset}: nta_len {nta_len}, expected exactly {expected}")]
    AttrSize {
        /// Where the attribute starts, from the start of the message.
        offset: usize,
        /// The attribute id.
        id: u16,
        /// The `nta_len` field.
        nta_len: u16,
        /// The only accepted `nta_len`.
        expected: u16,
    },
    /// A variable-size attribute (helper name, labels, expectation function) longer than its
    /// maximum.
    #[error("attribute {id} at offset {offset}: nta_len {nta_len} exceeds the maximum {max}")]
    AttrTooLong {
        /// Where the attribute starts, from the start of the message.
        offset: usize,
        /// The attribute id.
        id: u16,
        /// The `nta_len` field.
        nta_len: u16,
        /// The largest accepted `nta_len`.
        max: u16,
    },
}

/// Why a value could not be emitted.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is too small.
    #[error("buffer too small: need {required} bytes, have {have}")]
    InsufficientSize {
        /// Bytes needed.
        required: usize,
        /// Bytes available.
        have: usize,
    },
    /// A state message with flags other than HELLO / HELLO_BACK: receivers drop it.
    #[error("data message with control flags {flags:#04x}")]
    DataFlags {
        /// The flags byte.
        flags: u8,
    },
    /// A control message whose sequence range does not match its flags: the `from` / `to` range
    /// is present exactly when the flags hold ACK, NACK or RESYNC.
    #[error("control flags {flags:#04x} and the presence of a sequence range disagree")]
    RangeMismatch {
        /// The flags byte.
        flags: u8,
    },
    /// A variable-size attribute is longer than a 1.4.7 receiver accepts.
    #[error("attribute {id}: nta_len {nta_len} exceeds the maximum {max}")]
    AttrTooLong {
        /// The attribute id.
        id: u16,
        /// The `nta_len` it would have.
        nta_len: usize,
        /// The largest accepted `nta_len`.
        max: u16,
    },
    /// A variable-size attribute with no payload: conntrackd never sends one and a receiver
    /// ignores it (or, at the end of a message, skips it as trailing bytes).
    #[error("attribute {id} has an empty payload")]
    EmptyAttr {
        /// The attribute id.
        id: u16,
    },
    /// One message is larger than the batcher's datagram limit.
    #[error("message of {len} bytes exceeds the datagram limit of {limit} bytes")]
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The batcher's limit.
        limit: usize,
    },
}
