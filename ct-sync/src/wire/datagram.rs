//! Datagrams: walking the messages of a received one ([`split`]) and packing messages into
//! outgoing ones ([`Batcher`]).
//!
//! conntrackd concatenates messages into a datagram without any framing beyond each message's
//! `len`. Its send buffer holds `MTU − 28` bytes for UDP and multicast (`MTU − 40` for TCP)
//! and takes a message only while `buffered + len < size`, so a UDP datagram carries at most
//! `MTU − 28 − 1` bytes (1471 at MTU 1500); a message never straddles two datagrams.

extern crate alloc;

use alloc::vec::Vec;

use crate::wire::ct::CtRepr;
use crate::wire::error::{EmitError, ParseError};
use crate::wire::header::{Flags, HEADER_LEN, MsgType, PROTOCOL_VERSION, field};
use crate::wire::header::{Message, check_header};
use crate::wire::message::{MessageRepr, Op};

/// IPv4 and UDP header bytes conntrackd subtracts from the MTU for UDP and multicast.
pub const UDP_OVERHEAD: usize = 28;
/// IPv4 and TCP header bytes conntrackd subtracts from the MTU for TCP.
pub const TCP_OVERHEAD: usize = 40;

/// The most payload bytes conntrackd puts in one UDP or multicast datagram at `mtu`:
/// `mtu − 28 − 1` (1471 at 1500).
pub const fn udp_payload_limit(mtu: usize) -> usize {
    mtu.saturating_sub(UDP_OVERHEAD + 1)
}

/// The most bytes conntrackd buffers for one TCP send at `mtu`: `mtu − 40 − 1`.
pub const fn tcp_payload_limit(mtu: usize) -> usize {
    mtu.saturating_sub(TCP_OVERHEAD + 1)
}

/// Walks the messages of a received datagram.
///
/// Yields a view of each message (exactly `len` bytes, header checks passed) in order. The
/// checks and their order are those of conntrackd 1.4.7's receive loop; the first failure
/// ([`ParseError::Truncated`] or [`ParseError::BadLength`], with the offset in the datagram)
/// is yielded and ends the walk, dropping the rest of the datagram as conntrackd does. Version,
/// type and attributes are left to [`MessageRepr::parse`], so one bad message does not hide
/// the ones after it. Nothing is allocated.
///
/// ```
/// use ct_sync::wire::{MessageRepr, split};
/// // An ALIVE|HELLO followed by an ACK|HELLO|HELLO_BACK, as two conntrackd peers start up.
/// let datagram = [
///     0x1a, 0x30, 0x00, 0x08, 0x6b, 0x04, 0x37, 0xcf, // ALIVE|HELLO, seq 1795438543
///     0x1a, 0x68, 0x00, 0x10, 0x6b, 0x04, 0x37, 0xcf, // ACK|HELLO|HELLO_BACK
///     0x6b, 0x04, 0x37, 0xcf, 0x6b, 0x04, 0x37, 0xcf, // from, to
/// ];
/// let msgs: Vec<MessageRepr> = split(&datagram)
///     .map(|m| MessageRepr::parse(&m?))
///     .collect::<Result<_, ct_sync::wire::ParseError>>()?;
/// assert_eq!(msgs[0], MessageRepr::alive(1795438543).with_flags(ct_sync::wire::Flags::HELLO));
/// assert_eq!(msgs[1].seq, 1795438543);
/// # Ok::<(), ct_sync::wire::ParseError>(())
/// ```
pub fn split(datagram: &[u8]) -> Messages<'_> {
    Messages {
        buf: datagram,
        pos: 0,
        done: false,
    }
}

/// The iterator of [`split`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Messages<'a> {
    /// Offset of the next message to walk (after an error: of the message that failed).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The bytes not walked yet. After a [`ParseError::Truncated`] on a stream transport, the
    /// start of a message to complete with the next read, as conntrackd's TCP channel keeps it.
    pub fn remainder(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<&'a [u8]>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        match check_header(self.buf, self.pos) {
            Ok(len) => {
                let msg = &self.buf[self.pos..self.pos + len];
                self.pos += len;
                Some(Ok(Message::new_unchecked(msg)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Messages<'_> {}

/// Packs messages into datagrams of at most `limit` bytes, in order, never splitting one.
///
/// Sans-IO: [`push`](Self::push) hands back the datagram that became full, and
/// [`flush`](Self::flush) the one being filled; the caller sends them. At most one datagram
/// buffer is held.
///
/// ```
/// use ct_sync::wire::{Batcher, MessageRepr, split};
/// let mut batcher = Batcher::udp(1500); // 1471-byte datagrams, as conntrackd
/// let mut out = Vec::new();
/// for seq in 0..200 {
///     out.extend(batcher.push_repr(&MessageRepr::ack(seq, 0, seq))?);
/// }
/// out.extend(batcher.flush());
/// assert!(out.iter().all(|d| d.len() <= 1471));
/// assert_eq!(out.iter().map(|d| split(d).count()).sum::<usize>(), 200);
/// # Ok::<(), ct_sync::wire::EmitError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Batcher {
    limit: usize,
    buf: Vec<u8>,
    count: usize,
    /// Sent datagrams handed back ([`recycle`](Self::recycle)), reused for the next ones.
    spare: Vec<Vec<u8>>,
}

/// Datagram buffers a [`Batcher`] keeps for reuse, at most.
pub const BATCHER_SPARE: usize = 128;

impl Batcher {
    /// A batcher for datagrams of at most `limit` payload bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            buf: Vec::new(),
            count: 0,
            spare: Vec::new(),
        }
    }

    /// A batcher for UDP or multicast at `mtu`: limit [`udp_payload_limit`] (`mtu − 29`).
    pub fn udp(mtu: usize) -> Self {
        Self::new(udp_payload_limit(mtu))
    }

    /// The datagram size limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes buffered for the next datagram.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Messages buffered for the next datagram.
    pub fn messages(&self) -> usize {
        self.count
    }

    /// Makes room for `len` more bytes: returns the buffered datagram if they do not fit.
    fn room(&mut self, len: usize) -> Result<Option<Vec<u8>>, EmitError> {
        if len > self.limit {
            return Err(EmitError::MessageTooLarge {
                len,
                limit: self.limit,
            });
        }
        let full = if self.buf.len() + len > self.limit {
            self.flush()
        } else {
            None
        };
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.limit);
        }
        Ok(full)
    }

    /// Appends one emitted message (not checked: the bytes are the caller's). Returns the
    /// previous datagram if this message did not fit in it.
    pub fn push(&mut self, msg: &[u8]) -> Result<Option<Vec<u8>>, EmitError> {
        let full = self.room(msg.len())?;
        self.buf.extend_from_slice(msg);
        self.count += 1;
        Ok(full)
    }

    /// Emits `repr` straight into the datagram being filled. Returns the previous datagram if
    /// this message did not fit in it.
    pub fn push_repr(&mut self, repr: &MessageRepr) -> Result<Option<Vec<u8>>, EmitError> {
        let len = repr.buffer_len();
        let count = self.count;
        let full = self.room(len)?;
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        if let Err(e) = repr.emit_len(&mut self.buf[start..], len) {
            self.buf.truncate(start);
            // Put back what `room` took out, so that an error loses nothing.
            if let Some(prev) = full {
                self.buf = prev;
                self.count = count;
            }
            return Err(e);
        }
        self.count += 1;
        Ok(full)
    }

    /// Emits a CT_NEW / CT_UPD / CT_DEL message about a borrowed conntrack straight into the
    /// datagram being filled: the same bytes as [`push_repr`](Self::push_repr) with
    /// [`Body::Ct`](crate::wire::Body::Ct), without moving the conntrack into a
    /// [`MessageRepr`]. Returns the previous datagram if this message did not fit in it.
    pub fn push_ct(
        &mut self,
        flags: Flags,
        seq: u32,
        op: Op,
        ct: &CtRepr,
    ) -> Result<Option<Vec<u8>>, EmitError> {
        if !Flags::DATA_ALLOWED.contains(flags) {
            return Err(EmitError::DataFlags {
                flags: flags.bits(),
            });
        }
        ct.check_emit()?;
        let len = HEADER_LEN + ct.attrs_len();
        self.push_ct_with(flags, seq, op, len, |d| {
            ct.emit_attrs_checked(d);
        })
    }

    /// [`push_ct`](Self::push_ct) for a conntrack whose attributes are already encoded
    /// (`attrs`: a valid attribute block, as [`CtRepr::emit_attrs`] writes it).
    pub(crate) fn push_ct_attrs(
        &mut self,
        flags: Flags,
        seq: u32,
        op: Op,
        attrs: &[u8],
    ) -> Result<Option<Vec<u8>>, EmitError> {
        if !Flags::DATA_ALLOWED.contains(flags) {
            return Err(EmitError::DataFlags {
                flags: flags.bits(),
            });
        }
        self.push_ct_with(flags, seq, op, HEADER_LEN + attrs.len(), |d| {
            d.copy_from_slice(attrs);
        })
    }

    fn push_ct_with(
        &mut self,
        flags: Flags,
        seq: u32,
        op: Op,
        len: usize,
        attrs: impl FnOnce(&mut [u8]),
    ) -> Result<Option<Vec<u8>>, EmitError> {
        let full = self.room(len)?;
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        let m = &mut self.buf[start..];
        let t = match op {
            Op::New => MsgType::CtNew,
            Op::Update => MsgType::CtUpdate,
            Op::Destroy => MsgType::CtDestroy,
        };
        m[field::VER_TYPE] = (PROTOCOL_VERSION << 4) | t.number();
        m[field::FLAGS] = flags.bits();
        // At most a few kilobytes once `check_emit` passed (every attribute is bounded,
        // labels to 1028 bytes), so the length fits the 16-bit field.
        m[field::LEN].copy_from_slice(&(len as u16).to_be_bytes());
        m[field::SEQ].copy_from_slice(&seq.to_be_bytes());
        attrs(&mut m[field::ATTRS..]);
        self.count += 1;
        Ok(full)
    }

    /// Takes the datagram being filled, if any message is in it.
    pub fn flush(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            return None;
        }
        self.count = 0;
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.limit));
        Some(core::mem::replace(&mut self.buf, next))
    }

    /// Hands back a datagram this batcher produced, once sent: its buffer is reused for a
    /// later datagram instead of a new allocation (at most [`BATCHER_SPARE`] are kept).
    pub fn recycle(&mut self, mut datagram: Vec<u8>) {
        if self.spare.len() < BATCHER_SPARE && datagram.capacity() >= self.limit {
            datagram.clear();
            self.spare.push(datagram);
        }
    }
}
