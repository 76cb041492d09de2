//! Link and address notifications.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};

use crate::addr::Address;
use crate::error::{Error, Result};
use crate::link::Link;
use crate::netlink::{Item, decode_route, parse_datagram, recv_datagram, set_read_timeout};

/// `RTNLGRP_LINK`.
const RTNLGRP_LINK: u32 = 1;
/// `RTNLGRP_IPV4_IFADDR`.
const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// `RTNLGRP_IPV6_IFADDR`.
const RTNLGRP_IPV6_IFADDR: u32 = 9;
/// Receive buffer asked for: bursts (a VMAC created with its addresses, a parent going down
/// with many VMACs) must not overflow it.
const RCVBUF: usize = 1 << 20;

/// Which notifications to subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Groups {
    /// `RTNLGRP_LINK`: links created, changed (up / down, carrier, protodown) and deleted.
    pub link: bool,
    /// `RTNLGRP_IPV4_IFADDR`: IPv4 addresses added and removed.
    pub ipv4_addr: bool,
    /// `RTNLGRP_IPV6_IFADDR`: IPv6 addresses added, changed (DAD done) and removed.
    pub ipv6_addr: bool,
}

impl Groups {
    /// All three groups.
    pub const ALL: Self = Self {
        link: true,
        ipv4_addr: true,
        ipv6_addr: true,
    };
}

/// A notification, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `RTM_NEWLINK`: a link appeared or changed.
    NewLink(Link),
    /// `RTM_DELLINK`: a link was deleted.
    DelLink(Link),
    /// `RTM_NEWADDR`: an address was added or changed.
    NewAddress(Address),
    /// `RTM_DELADDR`: an address was removed.
    DelAddress(Address),
    /// The socket's buffer overflowed (`ENOBUFS`): notifications were lost. Re-read the state
    /// with [`Netlink::links`](crate::Netlink::links) and
    /// [`Netlink::addresses`](crate::Netlink::addresses).
    Overrun,
}

/// Decodes the notifications of one datagram; messages of other types, and ones
/// netlink-packet-route cannot decode, are skipped.
pub(crate) fn decode_events(datagram: &[u8]) -> Vec<Event> {
    let Ok(items) = parse_datagram(datagram) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|p| match p.item {
            Item::Message(bytes) => match decode_route(bytes)? {
                RouteNetlinkMessage::NewLink(l) => Some(Event::NewLink(Link::from_message(&l))),
                RouteNetlinkMessage::DelLink(l) => Some(Event::DelLink(Link::from_message(&l))),
                RouteNetlinkMessage::NewAddress(a) => {
                    Address::from_message(&a).map(Event::NewAddress)
                }
                RouteNetlinkMessage::DelAddress(a) => {
                    Address::from_message(&a).map(Event::DelAddress)
                }
                _ => None,
            },
            Item::Overrun => Some(Event::Overrun),
            _ => None,
        })
        .collect()
}

/// A `NETLINK_ROUTE` socket subscribed to link and address notifications.
///
/// Blocking use: [`EventSocket::recv`] or [`EventSocket::recv_timeout`]. With a reactor: wait
/// for the fd ([`AsFd`]) to be readable, then call [`EventSocket::try_recv`] until it returns
/// an empty batch.
#[derive(Debug)]
pub struct EventSocket {
    sock: Socket,
    buf: Vec<u8>,
}

impl EventSocket {
    /// Opens a socket subscribed to `groups`.
    pub fn open(groups: Groups) -> Result<Self> {
        let op = "open NETLINK_ROUTE event socket";
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io(op, e))?;
        sock.bind_auto().map_err(|e| Error::io(op, e))?;
        for (on, g) in [
            (groups.link, RTNLGRP_LINK),
            (groups.ipv4_addr, RTNLGRP_IPV4_IFADDR),
            (groups.ipv6_addr, RTNLGRP_IPV6_IFADDR),
        ] {
            if on {
                sock.add_membership(g)
                    .map_err(|e| Error::io(format!("{op}: join group {g}"), e))?;
            }
        }
        // Best effort: the default buffer still works, it just overflows sooner.
        let _ = sock.set_rx_buf_sz(RCVBUF);
        Ok(Self {
            sock,
            buf: Vec::new(),
        })
    }

    /// Puts the fd in non-blocking mode (for reactors that require it, such as tokio's
    /// `AsyncFd`); [`EventSocket::recv`] then returns an [`Error::Io`] of kind `WouldBlock`
    /// when nothing is queued. [`EventSocket::try_recv`] never blocks either way.
    pub fn set_non_blocking(&self, non_blocking: bool) -> Result<()> {
        self.sock
            .set_non_blocking(non_blocking)
            .map_err(|e| Error::io("set O_NONBLOCK on the event socket", e))
    }

    /// Waits for the next datagram and returns its notifications (possibly none, when it held
    /// only messages of no interest).
    pub fn recv(&mut self) -> Result<Vec<Event>> {
        self.receive(0)
    }

    /// Returns the notifications of the next queued datagram, or an empty batch at once when
    /// none is queued.
    pub fn try_recv(&mut self) -> Result<Vec<Event>> {
        self.receive(libc::MSG_DONTWAIT)
    }

    /// Like [`EventSocket::recv`], but returns an empty batch after `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<Event>> {
        let timeout = timeout.max(Duration::from_micros(1));
        set_read_timeout(&self.sock, Some(timeout)).map_err(|e| Error::io("set SO_RCVTIMEO", e))?;
        let r = self.receive(0);
        let _ = set_read_timeout(&self.sock, None);
        match r {
            Err(Error::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(Vec::new())
            }
            other => other,
        }
    }

    fn receive(&mut self, flags: libc::c_int) -> Result<Vec<Event>> {
        match recv_datagram(&self.sock, &mut self.buf, flags) {
            Ok(true) => Ok(decode_events(&self.buf)),
            Ok(false) => Ok(Vec::new()),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(vec![Event::Overrun]),
            Err(e) => Err(Error::io("receive netlink notifications", e)),
        }
    }
}

impl AsFd for EventSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for EventSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::encode_request;
    use netlink_packet_route::address::{AddressAttribute, AddressMessage};
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};

    #[test]
    fn decodes_link_and_address_notifications() {
        let mut l = LinkMessage::default();
        l.header.index = 7;
        l.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        l.attributes.push(LinkAttribute::IfName("vrrp.51".into()));
        let mut d = encode_request(RouteNetlinkMessage::NewLink(l.clone()), 0, 0);
        d.extend(encode_request(RouteNetlinkMessage::DelLink(l), 0, 0));
        let mut a = AddressMessage::default();
        a.header.index = 7;
        a.header.prefix_len = 24;
        a.attributes
            .push(AddressAttribute::Local("192.0.2.1".parse().unwrap()));
        d.extend(encode_request(
            RouteNetlinkMessage::NewAddress(a.clone()),
            0,
            0,
        ));
        d.extend(encode_request(RouteNetlinkMessage::DelAddress(a), 0, 0));

        let ev = decode_events(&d);
        assert_eq!(ev.len(), 4);
        match &ev[0] {
            Event::NewLink(l) => {
                assert_eq!((l.index, l.name.as_str()), (7, "vrrp.51"));
                assert!(l.is_up() && l.has_carrier());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&ev[1], Event::DelLink(l) if l.index == 7));
        assert!(
            matches!(&ev[2], Event::NewAddress(a) if a.addr.to_string() == "192.0.2.1" && a.prefix_len == 24)
        );
        assert!(matches!(&ev[3], Event::DelAddress(a) if a.ifindex == 7));
    }

    #[test]
    fn garbage_yields_nothing() {
        assert!(decode_events(&[1, 2, 3]).is_empty());
        assert!(decode_events(&[0xff; 40]).is_empty());
    }
}
