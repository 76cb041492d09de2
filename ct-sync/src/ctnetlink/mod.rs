//! The ctnetlink adapter: the kernel's conntrack table over `NETLINK_NETFILTER`, Sans-IO.
//!
//! * [`build`]: requests written straight into a caller's buffer, so that one `send` carries
//!   thousands of them: create ([`write_create`], with the reply tuple rebuilt from the
//!   original one and the NAT targets as conntrackd's commit does), update, delete, dump,
//!   flush;
//! * [`parse`]: what the kernel sends back: acks and errors with the sequence number they
//!   answer, the end of a dump, and conntracks from dumps and from the
//!   `NFNLGRP_CONNTRACK_NEW` / `UPDATE` / `DESTROY` event groups as [`CtRepr`](crate::wire::CtRepr)
//!   (crate::wire::CtRepr) plus the event kind and the `nlmsg_pid` that caused it;
//! * [`commit`]: the batched commit state machine ([`CommitPlanner`]).
//!
//! The socket itself (open, bind to groups, buffer sizes, `send` / `recv`) is the caller's;
//! `examples/src/ctnl.rs` is one.
//!
//! # Why our own codec
//! `netlink-packet-netfilter` 0.4 knows only the original and reply tuples, status, timeout,
//! mark and TCP protocol info of a conntrack (no NAT, zone, labels, helper, master tuple,
//! sequence adjustment or SYNPROXY), and builds a `Vec` of attribute enums (with nested
//! `Vec`s) per message. A commit writes hundreds of thousands of messages; this module writes
//! each one straight into the batch buffer, with no allocation per message, and reads into
//! [`CtRepr`](crate::wire::CtRepr) directly (one allocation only for labels).
//!
//! # Byte order
//! Netlink headers and attribute headers are in host byte order; ctnetlink payloads are big
//! endian (ports, ICMP id, status, timeout, mark, zone), except `CTA_LABELS`, a copy of the
//! kernel's bitmap (host-order words; this module assumes a little-endian host, where bit `i`
//! of 32-bit word `w` is label `32 w + i`, the sync form's numbering).
//!
//! ```
//! use ct_sync::ctnetlink::{self, CommitOptions, DecodeOptions, NlMessage};
//! use ct_sync::wire::{CtRepr, Pair};
//!
//! let ct = CtRepr {
//!     ipv4: Some(Pair::new("192.0.2.1".parse()?, "198.51.100.2".parse()?)),
//!     l4proto: Some(17),
//!     port: Some(Pair::new(4000, 53)),
//!     timeout: Some(1800),
//!     ..CtRepr::default()
//! };
//! let mut batch = Vec::new();
//! ctnetlink::write_create(&mut batch, 1, &ct, &CommitOptions::default(), false)?;
//! ctnetlink::write_create(&mut batch, 2, &ct, &CommitOptions::default(), true)?;
//! // Reading our own requests back: the kernel's messages have the same layout.
//! let got: Vec<_> = ctnetlink::messages(&batch, DecodeOptions::default()).collect();
//! let Ok(NlMessage::Conntrack(m)) = &got[1] else { panic!() };
//! assert_eq!((m.seq, m.ct.port, m.ct.timeout), (2, ct.port, Some(1800)));
//! assert_eq!(m.reply, Some(ctnetlink::reply_tuple(&ct)?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod build;
pub mod commit;
pub mod consts;
pub mod error;
pub mod nla;
pub mod parse;

pub use build::{
    CommitOptions, L4, Tuple, create_status, icmp_reply_type, master_tuple, orig_tuple,
    reply_tuple, write_create, write_delete, write_dump, write_flush, write_update,
};
pub use commit::{
    AckMode, CommitConfig, CommitEntry, CommitError, CommitFailure, CommitOp, CommitPlanner,
    CommitStats,
};
pub use error::{BuildError, ParseError};
pub use nla::{NlMsgIter, RawNlMsg};
pub use parse::{CtMessage, CtMsgKind, DecodeOptions, NlMessage, decode, messages, parse_tuple};
