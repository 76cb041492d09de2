//! Leases: the [`Lease4`] record, the [`LeaseStore`] trait with an indexed in-memory store,
//! and Kea's memfile CSV format ([`memfile`]), byte-compatible with Kea 2.2 so that a Kea server
//! can take over hakit's lease file and the other way round.
//!
//! The library does no I/O: [`memfile`] turns leases into rows to append and file contents
//! into leases; the daemon writes and reads the files (and decides when a row has reached the
//! operating system before a reply is sent).

pub mod memfile;
mod store;

use std::net::Ipv4Addr;

pub use store::{LeaseStore, MemoryStore};

/// Longest hardware address Kea stores (`HWAddr::MAX_HWADDR_LEN`).
pub const MAX_HWADDR_LEN: usize = 20;
/// Longest client identifier (option 61 data).
pub const MAX_CLIENT_ID_LEN: usize = 255;

/// A lease's state, as Kea numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LeaseState {
    /// 0: assigned.
    #[default]
    Default,
    /// 1: declined by a client (DHCPDECLINE); the address is on probation.
    Declined,
    /// 2: expired and reclaimed.
    ExpiredReclaimed,
    /// Another value (Kea keeps what it reads).
    Other(u32),
}

impl LeaseState {
    /// Kea's number for the state.
    pub const fn number(self) -> u32 {
        match self {
            Self::Default => 0,
            Self::Declined => 1,
            Self::ExpiredReclaimed => 2,
            Self::Other(n) => n,
        }
    }

    /// The state for Kea's number.
    pub const fn from_number(n: u32) -> Self {
        match n {
            0 => Self::Default,
            1 => Self::Declined,
            2 => Self::ExpiredReclaimed,
            n => Self::Other(n),
        }
    }
}

/// An IPv4 lease, with the fields Kea's memfile and its lease commands carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease4 {
    /// The leased address.
    pub addr: Ipv4Addr,
    /// Client hardware address (may be empty for a declined lease).
    pub hwaddr: Vec<u8>,
    /// Client identifier (option 61), empty when the client sent none.
    pub client_id: Vec<u8>,
    /// Valid lifetime in seconds; 0 marks a deleted lease in the memfile.
    pub valid_lifetime: u32,
    /// Client last transaction time (unix seconds); `expire = cltt + valid_lifetime`.
    pub cltt: u64,
    /// Subnet identifier.
    pub subnet_id: u32,
    /// Forward DNS update done.
    pub fqdn_fwd: bool,
    /// Reverse DNS update done.
    pub fqdn_rev: bool,
    /// Client host name.
    pub hostname: String,
    /// State.
    pub state: LeaseState,
    /// User context: a JSON map as text (Kea's spacing), if any.
    pub user_context: Option<String>,
    /// Pool identifier (schema 3.0; 0 otherwise).
    pub pool_id: u32,
}

impl Lease4 {
    /// A lease of `addr` with empty identifiers and zero times (fill in the rest).
    pub fn new(addr: Ipv4Addr) -> Self {
        Self {
            addr,
            hwaddr: Vec::new(),
            client_id: Vec::new(),
            valid_lifetime: 0,
            cltt: 0,
            subnet_id: 0,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: String::new(),
            state: LeaseState::Default,
            user_context: None,
            pool_id: 0,
        }
    }

    /// Expiration time (unix seconds).
    pub const fn expire(&self) -> u64 {
        self.cltt + self.valid_lifetime as u64
    }

    /// Whether the lease has expired at `now` (unix seconds).
    pub const fn is_expired(&self, now: u64) -> bool {
        self.expire() <= now
    }
}
