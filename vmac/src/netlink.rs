//! The `NETLINK_ROUTE` request socket: sequence numbers, acks, multipart dumps, and
//! `NLMSG_ERROR` turned into [`Error::Kernel`].
//!
//! The byte-level half ([`Exchange`], [`parse_datagram`]) is pure and tested against byte
//! fixtures; [`Netlink`] only adds the socket.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;
const NLMSG_HDRLEN: usize = 16;
/// Outer-header flag of an `NLMSG_ERROR`: the echoed request was cut to its header.
const NLM_F_CAPPED: u16 = 0x100;
/// Outer-header flag of an `NLMSG_ERROR`: extended-ack TLVs follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
/// How often a dump interrupted by a concurrent change (`NLM_F_DUMP_INTR`) is restarted.
const DUMP_RETRIES: usize = 5;
/// The default receive timeout of a request socket: the kernel answers at once, so waiting
/// longer means something is badly wrong, and a daemon must not hang on it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One netlink message of a datagram, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// `NLMSG_ERROR` with code 0: the request succeeded.
    Ack,
    /// `NLMSG_ERROR` with a non-zero code.
    Nack {
        /// Positive errno.
        errno: i32,
        /// `NLMSGERR_ATTR_MSG`, when present.
        message: Option<String>,
    },
    /// `NLMSG_DONE`, ending a dump; a negative code is an error of the dump.
    Done { code: i32 },
    /// `NLMSG_NOOP`.
    Noop,
    /// `NLMSG_OVERRUN`.
    Overrun,
    /// Anything else: the whole message (header included), to decode with
    /// netlink-packet-route.
    Message(&'a [u8]),
}

/// A message of a datagram with the header fields the exchange logic needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    pub(crate) seq: u32,
    pub(crate) flags: u16,
    pub(crate) item: Item<'a>,
}

/// Splits a datagram into its netlink messages. A truncated or inconsistent header is an
/// error (it leaves the rest of the datagram unreadable).
pub(crate) fn parse_datagram(data: &[u8]) -> Result<Vec<Parsed<'_>>, String> {
    let mut out = Vec::new();
    let mut off = 0;
    while data.len() - off >= NLMSG_HDRLEN {
        let buf = NetlinkBuffer::new_checked(&data[off..]).map_err(|e| e.to_string())?;
        let len = buf.length() as usize;
        if len < NLMSG_HDRLEN {
            return Err(format!(
                "netlink message length {len} is below the header size"
            ));
        }
        let msg = &data[off..off + len];
        let payload = &msg[NLMSG_HDRLEN..];
        let flags = buf.flags();
        let item = match buf.message_type() {
            NLMSG_ERROR => parse_error(flags, payload)?,
            NLMSG_DONE => Item::Done {
                code: payload
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            },
            NLMSG_NOOP => Item::Noop,
            NLMSG_OVERRUN => Item::Overrun,
            _ => Item::Message(msg),
        };
        out.push(Parsed {
            seq: buf.sequence_number(),
            flags,
            item,
        });
        // Messages are 4-byte aligned inside a datagram.
        off += (len + 3) & !3;
        if off > data.len() {
            break;
        }
    }
    Ok(out)
}

/// Decodes the payload of an `NLMSG_ERROR`: `struct nlmsgerr { int error; struct nlmsghdr
/// msg; }`, then the echoed request payload unless capped, then extended-ack attributes when
/// `NLM_F_ACK_TLVS` is set.
fn parse_error(flags: u16, payload: &[u8]) -> Result<Item<'static>, String> {
    let Some(code) = payload.get(..4) else {
        return Err(format!("NLMSG_ERROR payload of {} bytes", payload.len()));
    };
    let code = i32::from_ne_bytes([code[0], code[1], code[2], code[3]]);
    if code == 0 {
        return Ok(Item::Ack);
    }
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 4 + NLMSG_HDRLEN {
        let echoed = &payload[4..];
        let echoed_len = u32::from_ne_bytes([echoed[0], echoed[1], echoed[2], echoed[3]]) as usize;
        let skip = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            (echoed_len.max(NLMSG_HDRLEN) + 3) & !3
        };
        let mut tlvs = echoed.get(skip..).unwrap_or_default();
        while tlvs.len() >= 4 {
            let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
            let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
            if len < 4 || len > tlvs.len() {
                break;
            }
            if kind == NLMSGERR_ATTR_MSG {
                let v = &tlvs[4..len];
                let v = v.split(|&b| b == 0).next().unwrap_or_default();
                message = Some(String::from_utf8_lossy(v).into_owned());
            }
            tlvs = tlvs.get((len + 3) & !3..).unwrap_or_default();
        }
    }
    Ok(Item::Nack {
        errno: code.saturating_neg(),
        message,
    })
}

/// Decodes one rtnetlink message (header included). `None` for messages netlink-packet-route
/// cannot decode: they are skipped rather than failing a whole dump because of one exotic
/// interface.
pub(crate) fn decode_route(msg: &[u8]) -> Option<RouteNetlinkMessage> {
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg) {
        Ok(NetlinkMessage {
            payload: NetlinkPayload::InnerMessage(m),
            ..
        }) => Some(m),
        _ => None,
    }
}

/// What an [`Exchange`] concluded after a datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More datagrams are expected.
    More,
    /// The exchange is complete.
    Complete,
    /// A dump was interrupted by a concurrent change: restart it.
    Interrupted,
}

/// The state of one request/reply exchange: which sequence number it waits for, whether it is
/// a dump, and the messages collected so far.
#[derive(Debug)]
pub(crate) struct Exchange {
    seq: u32,
    dump: bool,
    interrupted: bool,
    pub(crate) replies: Vec<RouteNetlinkMessage>,
}

impl Exchange {
    pub(crate) fn new(seq: u32, dump: bool) -> Self {
        Self {
            seq,
            dump,
            interrupted: false,
            replies: Vec::new(),
        }
    }

    /// Feeds one received datagram. Messages of other sequence numbers (late answers to an
    /// earlier request that timed out) are ignored.
    pub(crate) fn feed(&mut self, datagram: &[u8], op: &dyn Fn() -> String) -> Result<Progress> {
        let items =
            parse_datagram(datagram).map_err(|reason| Error::Decode { op: op(), reason })?;
        for p in items {
            if p.seq != self.seq {
                continue;
            }
            if p.flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            match p.item {
                Item::Ack if !self.dump => return Ok(Progress::Complete),
                Item::Ack | Item::Noop => {}
                Item::Nack { errno, message } => {
                    return Err(Error::Kernel {
                        op: op(),
                        errno,
                        message,
                    });
                }
                Item::Done { code } => {
                    if code < 0 {
                        return Err(Error::Kernel {
                            op: op(),
                            errno: code.saturating_neg(),
                            message: None,
                        });
                    }
                    if self.interrupted {
                        return Ok(Progress::Interrupted);
                    }
                    return Ok(Progress::Complete);
                }
                Item::Overrun => {
                    return Err(Error::Decode {
                        op: op(),
                        reason: "NLMSG_OVERRUN".into(),
                    });
                }
                // A dump's parts, or the answer to a GET of one object (its ack follows).
                Item::Message(bytes) => {
                    if let Some(m) = decode_route(bytes) {
                        self.replies.push(m);
                    }
                }
            }
        }
        Ok(Progress::More)
    }
}

/// Serializes an rtnetlink request.
pub(crate) fn encode_request(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let mut buf = vec![0; m.buffer_len()];
    m.serialize(&mut buf);
    buf
}

/// Receives one whole datagram into `buf` (peeking first for its size, so nothing is ever
/// truncated). `Ok(false)` when `flags` holds `MSG_DONTWAIT` and nothing is queued.
pub(crate) fn recv_datagram(
    sock: &Socket,
    buf: &mut Vec<u8>,
    flags: libc::c_int,
) -> io::Result<bool> {
    buf.clear();
    if buf.capacity() < 64 * 1024 {
        buf.reserve(64 * 1024);
    }
    let size = match sock.recv(buf, flags | libc::MSG_PEEK | libc::MSG_TRUNC) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && flags & libc::MSG_DONTWAIT != 0 => {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    buf.clear();
    if size > buf.capacity() {
        buf.reserve(size);
    }
    sock.recv(buf, flags)?;
    Ok(true)
}

/// Sets `SO_RCVTIMEO` on a netlink socket.
pub(crate) fn set_read_timeout(sock: &Socket, timeout: Option<Duration>) -> io::Result<()> {
    socket2::SockRef::from(sock).set_read_timeout(timeout)
}

/// A synchronous `NETLINK_ROUTE` socket for requests.
///
/// One request at a time: each method sends, then reads until the kernel's answer (ack, error
/// or the end of a dump). Replies to requests that timed out earlier are recognised by their
/// sequence number and dropped. The socket has a receive timeout (5 s by default,
/// [`Netlink::set_timeout`]) so a daemon never hangs on it.
#[derive(Debug)]
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens and binds a `NETLINK_ROUTE` socket with extended acks on (the kernel's error
    /// messages end up in [`Error::Kernel::message`](Error::Kernel)).
    pub fn open() -> Result<Self> {
        let op = "open NETLINK_ROUTE socket";
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io(op, e))?;
        sock.bind_auto().map_err(|e| Error::io(op, e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::io(op, e))?;
        // Best effort: older kernels lack these, and the socket works without them.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        set_read_timeout(&sock, Some(DEFAULT_TIMEOUT)).map_err(|e| Error::io(op, e))?;
        Ok(Self {
            sock,
            seq: std::process::id().wrapping_mul(0x9e37),
            buf: Vec::new(),
        })
    }

    /// Sets how long a request waits for the kernel's answer (`None`: forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        set_read_timeout(&self.sock, timeout).map_err(|e| Error::io("set SO_RCVTIMEO", e))
    }

    /// Sends a request with `NLM_F_ACK` (or a dump) and collects the answer.
    pub(crate) fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &dyn Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        for _ in 0..DUMP_RETRIES {
            self.seq = self.seq.wrapping_add(1);
            let bytes = encode_request(msg.clone(), flags, self.seq);
            self.sock
                .send(&bytes, 0)
                .map_err(|e| Error::io(format!("{}: send", op()), e))?;
            let mut ex = Exchange::new(self.seq, dump);
            loop {
                recv_datagram(&self.sock, &mut self.buf, 0)
                    .map_err(|e| Error::io(format!("{}: receive", op()), e))?;
                match ex.feed(&self.buf, op)? {
                    Progress::More => {}
                    Progress::Complete => return Ok(ex.replies),
                    Progress::Interrupted => break,
                }
            }
        }
        Err(Error::Decode {
            op: op(),
            reason: format!("dump interrupted {DUMP_RETRIES} times in a row"),
        })
    }

    /// A request that only expects an ack.
    pub(crate) fn ack(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &dyn Fn() -> String,
    ) -> Result<()> {
        self.request(msg, flags, op).map(drop)
    }
}

impl AsFd for Netlink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for Netlink {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use netlink_packet_core::NLM_F_MULTIPART;
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    /// Builds a raw netlink message.
    pub(crate) fn raw(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload.len();
        let mut v = Vec::with_capacity((len + 3) & !3);
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize((len + 3) & !3, 0);
        v
    }

    fn no_op() -> String {
        "RTM_NEWLINK macvlan vrrp.51 on eth0".into()
    }

    /// An `NLMSG_ERROR` as the kernel sends it with `NETLINK_CAP_ACK` and `NETLINK_EXT_ACK`:
    /// errno -17, the echoed request header only, and an `NLMSGERR_ATTR_MSG`.
    fn eexist_with_extack(seq: u32) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(-17i32).to_ne_bytes());
        // Echoed request header: RTM_NEWLINK (16), length 64, flags REQUEST|ACK|EXCL|CREATE.
        payload.extend_from_slice(&64u32.to_ne_bytes());
        payload.extend_from_slice(&16u16.to_ne_bytes());
        payload.extend_from_slice(&0x0605u16.to_ne_bytes());
        payload.extend_from_slice(&seq.to_ne_bytes());
        payload.extend_from_slice(&0u32.to_ne_bytes());
        let msg = b"Interface exists\0";
        payload.extend_from_slice(&((4 + msg.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(msg);
        payload.resize((payload.len() + 3) & !3, 0);
        raw(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, seq, &payload)
    }

    #[test]
    fn nlmsg_error_with_errno_and_extack() {
        let d = eexist_with_extack(7);
        let items = parse_datagram(&d).unwrap();
        assert_eq!(
            items,
            vec![Parsed {
                seq: 7,
                flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
                item: Item::Nack {
                    errno: 17,
                    message: Some("Interface exists".into())
                }
            }]
        );
        let mut ex = Exchange::new(7, false);
        match ex.feed(&d, &no_op) {
            Err(Error::Kernel { op, errno, message }) => {
                assert_eq!(op, "RTM_NEWLINK macvlan vrrp.51 on eth0");
                assert_eq!(errno, 17);
                assert_eq!(message.as_deref(), Some("Interface exists"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nlmsg_error_uncapped_without_tlvs() {
        // Old-style error: errno -19 (ENODEV) and the full echoed request (header + 16 bytes).
        let mut payload = (-19i32).to_ne_bytes().to_vec();
        let echoed = raw(18, 5, 3, &[0u8; 16]);
        payload.extend_from_slice(&echoed);
        let d = raw(NLMSG_ERROR, 0, 3, &payload);
        let items = parse_datagram(&d).unwrap();
        assert_eq!(
            items[0].item,
            Item::Nack {
                errno: 19,
                message: None
            }
        );
        let e = Exchange::new(3, false).feed(&d, &no_op).unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }

    #[test]
    fn ack_completes_and_stale_sequence_is_ignored() {
        let mut d = raw(NLMSG_ERROR, 0, 4, &[0u8; 20]); // a late ack of request 4
        d.extend(raw(NLMSG_ERROR, 0, 5, &[0u8; 20]));
        let mut ex = Exchange::new(5, false);
        assert_eq!(ex.feed(&d, &no_op).unwrap(), Progress::Complete);
        // Only the stale one: nothing concluded yet.
        let d = raw(NLMSG_ERROR, 0, 4, &(-1i32).to_ne_bytes());
        assert_eq!(
            Exchange::new(5, false).feed(&d, &no_op).unwrap(),
            Progress::More
        );
    }

    fn link_msg(index: u32, name: &str) -> Vec<u8> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes
            .push(LinkAttribute::Address(vec![0, 0, 0x5e, 0, 1, 51]));
        // Encoded as the kernel sends a dump part: RTM_NEWLINK with NLM_F_MULTI.
        encode_request(RouteNetlinkMessage::NewLink(m), NLM_F_MULTIPART, 9)
    }

    #[test]
    fn multipart_dump_across_datagrams() {
        let mut first = link_msg(1, "lo");
        first.extend(link_msg(2, "eth0"));
        let mut second = link_msg(3, "vrrp.51");
        second.extend(raw(NLMSG_DONE, NLM_F_MULTIPART, 9, &0i32.to_ne_bytes()));

        let mut ex = Exchange::new(9, true);
        assert_eq!(ex.feed(&first, &no_op).unwrap(), Progress::More);
        assert_eq!(ex.feed(&second, &no_op).unwrap(), Progress::Complete);
        let names: Vec<_> = ex
            .replies
            .iter()
            .map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => crate::link::Link::from_message(l).name,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["lo", "eth0", "vrrp.51"]);
    }

    #[test]
    fn get_answer_then_ack() {
        // RTM_GETLINK of one link with NLM_F_ACK: the link, then the ack (here in one
        // datagram; the kernel may also send them apart).
        let mut answer = link_msg(3, "vrrp.51");
        answer[6..8].copy_from_slice(&0u16.to_ne_bytes()); // not multipart
        let mut ex = Exchange::new(9, false);
        assert_eq!(ex.feed(&answer, &no_op).unwrap(), Progress::More);
        let ack = raw(NLMSG_ERROR, NLM_F_CAPPED, 9, &[0u8; 20]);
        assert_eq!(ex.feed(&ack, &no_op).unwrap(), Progress::Complete);
        assert_eq!(ex.replies.len(), 1);
    }

    #[test]
    fn interrupted_dump_restarts_and_done_error_fails() {
        let mut d = link_msg(1, "lo");
        // NLM_F_DUMP_INTR on the DONE message.
        d.extend(raw(
            NLMSG_DONE,
            NLM_F_MULTIPART | NLM_F_DUMP_INTR,
            9,
            &0i32.to_ne_bytes(),
        ));
        assert_eq!(
            Exchange::new(9, true).feed(&d, &no_op).unwrap(),
            Progress::Interrupted
        );

        let d = raw(NLMSG_DONE, NLM_F_MULTIPART, 9, &(-16i32).to_ne_bytes());
        let e = Exchange::new(9, true).feed(&d, &no_op).unwrap_err();
        assert_eq!(e.errno(), Some(16));
    }

    #[test]
    fn truncated_datagram_is_a_decode_error() {
        let mut d = link_msg(1, "lo");
        d.truncate(d.len() - 8);
        let e = Exchange::new(9, true).feed(&d, &no_op).unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "{e}");
    }

    #[test]
    fn request_encoding_has_flags_and_sequence() {
        let mut m = LinkMessage::default();
        m.header.index = 42;
        let b = encode_request(
            RouteNetlinkMessage::GetLink(m),
            NLM_F_REQUEST | NLM_F_ACK,
            77,
        );
        let buf = NetlinkBuffer::new_checked(&b[..]).unwrap();
        assert_eq!(buf.length() as usize, b.len());
        assert_eq!(buf.message_type(), 18); // RTM_GETLINK
        assert_eq!(buf.flags(), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(buf.sequence_number(), 77);
        // ifinfomsg.ifi_index at payload offset 4.
        assert_eq!(&b[20..24], &42i32.to_ne_bytes());
    }
}
