//! The conntrackd sync wire format (conntrack-tools 1.4.7), byte for byte.
//!
//! A datagram (or a TCP stream) carries concatenated messages. Each message is a header
//! ([`Message`], `struct nethdr`, 8 bytes, or 16 with the `from` / `to` of an ACK, NACK or
//! RESYNC) followed, for state messages, by attribute TLVs ([`attr`]): a conntrack ([`CtRepr`],
//! ids [`CtAttrId`]) or an expectation ([`ExpRepr`], ids [`ExpAttrId`]).
//!
//! The layers follow the house codec model:
//! * views over bytes whose accessors never panic: [`Message`] (one message) and [`AttrIter`]
//!   (its attributes), plus [`split`] to walk a datagram;
//! * owned, validated values: [`MessageRepr`] with [`parse`](MessageRepr::parse),
//!   [`buffer_len`](MessageRepr::buffer_len) and [`emit`](MessageRepr::emit);
//! * [`Batcher`] to pack messages into datagrams of at most `MTU − 28 − 1` bytes;
//! * one error enum per direction: [`ParseError`], [`EmitError`].
//!
//! # Compatibility with conntrackd 1.4.7
//! * **What is accepted** is what a 1.4.7 receiver accepts: the datagram walk stops where its
//!   receive loop stops; a message is rejected for a version other than 1, an unknown type,
//!   control flags on a state message, an attribute `nta_len` below 4 or past the end, an id
//!   at or above `NTA_MAX` (33; 21 for expectations), or a fixed-size attribute whose `nta_len`
//!   is not exactly its size (a variable-size one longer than its maximum). Like conntrackd,
//!   the parser takes attributes in any order, lets a repeated one overwrite the earlier,
//!   ignores up to 4 trailing bytes, the content of padding, a missing final padding, and the
//!   payloads conntrackd ignores (empty strings or labels, labels not made of whole words).
//!   [`ParseOptions::skip_unknown_attrs`] optionally skips unknown ids instead.
//! * **What is emitted** is what 1.4.7 emits: attributes in `ct2msg` / `exp2msg` order, exact
//!   sizes, zeroed padding, only ids below `NTA_MAX`, the three little-endian 16-bit fields
//!   ([`ct`] module docs) in the byte order an x86 conntrackd uses. Hence `emit(parse(x)) == x`
//!   for every message conntrackd sends; [`Message::is_canonical`] recognises exactly that
//!   form, and the golden tests check it against real captures.
//!
//! ```
//! use ct_sync::wire::{Body, Message, MessageRepr};
//! // CT_NEW from ftfw_basic.pcap #19: TCP 198.51.100.77:40000 -> 192.0.2.80:443, SNAT, mark.
//! let bytes = [
//!     0x10, 0x00, 0x00, 0x5c, 0x6b, 0x04, 0x37, 0xdd, 0x00, 0x0c, 0x00, 0x00, 0xc6, 0x33,
//!     0x64, 0x4d, 0xc0, 0x00, 0x02, 0x50, 0x00, 0x08, 0x00, 0x05, 0x00, 0x00, 0x01, 0x9e,
//!     0x00, 0x05, 0x00, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x9c, 0x40,
//!     0x01, 0xbb, 0x00, 0x05, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06,
//!     0x00, 0x00, 0x02, 0x58, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x08,
//!     0x00, 0x0c, 0xcb, 0x00, 0x71, 0x09, 0x00, 0x10, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00,
//!     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
//! ];
//! let msg = Message::new_checked(&bytes[..])?;
//! let repr = MessageRepr::parse(&msg)?;
//! let Body::Ct { ct, .. } = &repr.body else { unreachable!() };
//! assert_eq!(ct.port.map(|p| (p.src, p.dst)), Some((40000, 443)));
//! assert_eq!(ct.snat_ipv4, Some("203.0.113.9".parse()?));
//! assert_eq!((ct.mark, ct.timeout), (Some(42), Some(600)));
//! // Byte-identical re-emission.
//! assert!(msg.is_canonical());
//! assert_eq!(repr.to_vec()?, bytes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attr;
pub mod ct;
pub mod datagram;
pub mod error;
pub mod exp;
pub mod header;
pub mod message;

pub use attr::{AttrIter, AttrSize, AttrStr, Pair, ParseOptions, RawAttr};
pub use ct::{CtAttrId, CtRepr, NTA_MAX, NatSeqAdj, Synproxy};
pub use datagram::{Batcher, Messages, split, tcp_payload_limit, udp_payload_limit};
pub use error::{EmitError, ParseError};
pub use exp::{ExpAttrId, ExpRepr, ExpTuple, NTA_EXP_MAX};
pub use header::{Flags, Message, MsgType, PROTOCOL_VERSION};
pub use message::{Body, MessageRepr, Op, SeqRange};
