//! What goes in and out of the server besides bytes: where a packet came from ([`RxMeta`]),
//! a reply to send ([`Transmit`]) and a change of the lease store ([`LeaseChange`]).

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::lease::Lease4;
use crate::wire::MessageType;

/// Where a received packet came from. Borrowed, so that a daemon builds it without
/// allocating per packet.
#[derive(Debug, Clone, Copy)]
pub struct RxMeta<'a> {
    /// Index of the receiving interface.
    pub ifindex: u32,
    /// Name of the receiving interface (matched against a subnet's `interface`).
    pub ifname: &'a str,
    /// The receiving interface's IPv4 addresses, primary first.
    pub if_addrs: &'a [Ipv4Addr],
    /// Source address and port of the datagram (0.0.0.0:68 from a client without address).
    pub src: SocketAddrV4,
    /// Destination address of the datagram: one of ours (unicast) or 255.255.255.255.
    pub dst: Ipv4Addr,
}

impl RxMeta<'_> {
    /// Whether the datagram was sent to the limited broadcast address.
    pub fn arrived_broadcast(&self) -> bool {
        self.dst == Ipv4Addr::BROADCAST
    }
}

/// A reply to send, once released (see [`Server::poll_transmit`](super::Server::poll_transmit)).
///
/// How to send it (RFC 2131 §4.1):
/// * `dst` is 255.255.255.255:68 → link-layer broadcast on `ifindex`;
/// * [`link_unicast`](Self::link_unicast) → the client has no address yet: send to `dst`
///   (its new `yiaddr`) at the link-layer address in `chaddr` without ARP (raw socket or an
///   ARP entry), or broadcast if that is impossible;
/// * otherwise an ordinary unicast to `dst` (a relay on port 67, a client's `ciaddr` on 68).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// Source address to send from (the server identifier of the reply).
    pub src: Ipv4Addr,
    /// Interface the query arrived on, to send from.
    pub ifindex: u32,
    /// Whether `dst` is the limited broadcast address.
    pub broadcast: bool,
    /// Whether `dst` must be reached at the link-layer address `chaddr` without ARP.
    pub link_unicast: bool,
    /// Hardware type of the client (`htype`).
    pub htype: u8,
    /// Hardware address length (`hlen`).
    pub hlen: u8,
    /// Client hardware address field (the address is its first `hlen` bytes).
    pub chaddr: [u8; 16],
    /// The message type of the reply (for logs).
    pub message_type: MessageType,
    /// Transaction id (for logs).
    pub xid: u32,
    /// The DHCP message (UDP payload).
    pub payload: Vec<u8>,
}

impl Transmit {
    /// The client hardware address (`chaddr[..hlen]`).
    pub fn client_hw_addr(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen).min(16)]
    }
}

/// What happened to a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A new lease (no lease had this address before).
    Added,
    /// The lease of an address was replaced (renewed, declined, reassigned, ...).
    Updated,
    /// The lease was removed (released, reclaimed, deleted).
    Deleted,
}

/// Who caused a lease change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The DHCP exchange with a client (REQUEST, DECLINE, RELEASE): what an HA peer sends to
    /// its partner as `lease4-update` / `lease4-del`.
    Dhcp,
    /// Lease reclamation (expiry, end of probation); each HA peer reclaims on its own.
    Reclamation,
    /// A control command (`lease4-add`, `lease4-update`, `lease4-del`, `lease4-wipe`).
    Control,
    /// An update applied on behalf of an HA partner (must not be sent back to it).
    Partner,
}

/// A change of the lease store, for the daemon to append to the memfile and (later) for the
/// HA layer to send to the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseChange {
    /// Sequence number, from 1, increasing by one per change.
    pub seq: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// The lease after the change (before it, for [`ChangeKind::Deleted`]).
    pub lease: Lease4,
    /// Who caused it.
    pub origin: Origin,
}
