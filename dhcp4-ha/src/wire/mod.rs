//! The DHCPv4 wire codec (RFC 2131, RFC 2132): a checked zero-copy view, [`Packet`], and an
//! owned representation, [`Dhcp4Repr`], with `parse` / `buffer_len` / `emit`.
//!
//! # Options
//! Options live in up to three areas, read in this order (RFC 2131 §4.1, RFC 3396 §7): the
//! options field after the magic cookie, then the `file` field and then the `sname` field
//! when option 52 (overload) in the options field says so. Each area is a sequence of pad
//! bytes (0), options (code, length, data) and optionally an END (255) after which the rest of
//! the area is ignored. An option may appear in several instances, anywhere in the three
//! areas; its value is the concatenation of their data in order (RFC 3396).
//!
//! * [`Tokens`] walks the framing (pads, instances, ends) and reports every framing error;
//! * [`OptionIter`] yields logical options, one per code, joined; borrowed unless split;
//! * [`Options`] holds them decoded: a typed field for each option a server acts on (message
//!   type, requested address, server id, client id, parameter request list, lease times,
//!   relay agent information, …), [`RawOptions`] for the rest;
//! * [`RelayAgentInfo`] / [`SubOptionIter`] decode option 82's sub-options (RFC 3046), with
//!   link selection (RFC 3527); option 118 (subnet selection) is a typed field.
//!
//! # Round trip
//! For every packet [`Dhcp4Repr::parse`] accepts, [`Dhcp4Repr::emit`] writes the same bytes:
//! `emit(parse(x)) == x`. How:
//! * header fields are stored as sent, including `sname` / `file` and the unused flag bits;
//! * a typed option accepts exactly the encodings it produces (e.g. an address is exactly 4
//!   bytes, an address list a multiple of 4, the message type 1 byte of any value); a typed
//!   option with another length is a [`ParseError::BadOptionLength`], not a silent fallback;
//! * the [`Layout`] records what the values do not say: the order of the options, each
//!   instance's length (RFC 3396 splits, even a split of an option shorter than 255 bytes),
//!   the overload value and which options went into `file` / `sname`, pad bytes, whether each
//!   area ends with END, and the bytes after END (clients pad to 300 bytes);
//! * a packet laid out exactly as a canonical emit would write it (Kea's order: message type,
//!   ascending codes, relay agent information last; one instance per option, 255-byte pieces
//!   when longer; END; nothing after) keeps no layout, so `parse(emit(r)) == r` holds for
//!   hand-built reprs too.
//!
//! Emitting with a recorded layout writes the current values into the recorded instances, if
//! they still fit (the same codes with the same lengths; see [`Layout::matches`]). A repr
//! whose options changed otherwise is emitted canonically: a server that edits a parsed
//! packet gets a well-formed packet in Kea's order.
//!
//! # Validation contract
//! Decoding never panics, takes time linear in the packet size, and allocates at most a small
//! multiple of it: every joined value is made of disjoint pieces of the packet, and every
//! count (options, pads, sub-options) is bounded by its length. [`Packet::new_checked`] validates the framing;
//! [`Dhcp4Repr::parse`] also validates the typed values. Errors carry the offset and the
//! option code.
//!
//! ```
//! use dhcp4_ha::wire::{Dhcp4Repr, MessageType, Options, Packet};
//! use std::net::Ipv4Addr;
//!
//! // A DHCPDISCOVER as a client sends it.
//! let discover = Dhcp4Repr {
//!     xid: 0x3903_f326,
//!     chaddr: [0, 0x0b, 0x82, 0x01, 0xfc, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
//!     options: Options {
//!         message_type: Some(MessageType::DISCOVER),
//!         parameter_request_list: Some(vec![1, 3, 6, 15]),
//!         ..Options::default()
//!     },
//!     ..Dhcp4Repr::default()
//! };
//! let bytes = discover.to_vec()?;
//!
//! // The server's side: a checked view for a fast look, then the owned form.
//! let packet = Packet::new_checked(&bytes[..])?;
//! assert_eq!(packet.message_type(), Some(MessageType::DISCOVER));
//! let request = Dhcp4Repr::parse(&packet)?;
//! assert_eq!(request, discover);
//!
//! let mut offer = Dhcp4Repr::reply_to(&request, MessageType::OFFER);
//! offer.yiaddr = Ipv4Addr::new(192, 0, 2, 10);
//! offer.options.server_id = Some(Ipv4Addr::new(192, 0, 2, 1));
//! offer.options.lease_time = Some(3600);
//! let mut buf = [0u8; 576];
//! let n = offer.emit(&mut buf)?;
//! assert_eq!(Dhcp4Repr::from_bytes(&buf[..n])?, offer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod layout;
mod options;
mod packet;
mod relay;
mod repr;
mod typed;

pub use error::{Area, EmitError, ParseError};
pub use layout::Layout;
pub use options::{OptionIter, OptionRef, Overload, Token, TokenKind, Tokens, code};
pub use packet::{BOOTP_HEADER_LEN, FLAG_BROADCAST, HEADER_LEN, MAGIC_COOKIE, Packet, field};
pub use relay::{RelayAgentInfo, SubOption, SubOptionIter, SubOptionRef, sub_code};
pub use repr::{Dhcp4Repr, Op};
pub use typed::{MessageType, Options, RawOptions, TYPED_CODES};
