//! The server's errors: an inconsistent configuration, and a refused lease operation.

use std::net::Ipv4Addr;

/// Why a [`Server`](super::Server) cannot be built from a configuration. The messages follow
/// Kea's wording where Kea has the same check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// More than 64 distinct `client-class` names on pools.
    #[error("too many distinct pool client classes (at most 64)")]
    TooManyPoolClasses,
    /// Two subnets have the same id.
    #[error("ID of the new IPv4 subnet '{id}' is already in use")]
    DuplicateSubnetId {
        /// The id.
        id: u32,
    },
    /// A subnet has id 0 (the reader assigns ids; a hand-built configuration must too).
    #[error("subnet {prefix}/{len} has no id (0 is not a valid subnet-id)")]
    ZeroSubnetId {
        /// Network address.
        prefix: Ipv4Addr,
        /// Prefix length.
        len: u8,
    },
    /// A pool is not inside its subnet's prefix.
    #[error(
        "subnet configuration failed: a pool of type V4, with the following address range: \
         {first}-{last} does not match the prefix of a subnet: {prefix}/{len} to which it is \
         being added"
    )]
    PoolOutsideSubnet {
        /// First address of the pool.
        first: Ipv4Addr,
        /// Last address of the pool.
        last: Ipv4Addr,
        /// Subnet network address.
        prefix: Ipv4Addr,
        /// Subnet prefix length.
        len: u8,
    },
    /// A pool overlaps another pool (of the same or another subnet).
    #[error(
        "subnet configuration failed: a pool of type V4, with the following address range: \
         {first}-{last} overlaps with an existing pool {other_first}-{other_last} (subnet-id \
         {other_subnet})"
    )]
    OverlappingPools {
        /// First address of the pool.
        first: Ipv4Addr,
        /// Last address of the pool.
        last: Ipv4Addr,
        /// First address of the pool it overlaps.
        other_first: Ipv4Addr,
        /// Last address of the pool it overlaps.
        other_last: Ipv4Addr,
        /// The subnet of the pool it overlaps.
        other_subnet: u32,
    },
    /// A pool's range is reversed or too large for the bitmap.
    #[error("Failed to create pool defined by: {first}-{last}: {reason}")]
    BadPool {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
        /// What is wrong.
        reason: super::pool::PoolError,
    },
    /// A reservation's address is outside its subnet.
    #[error("specified reservation '{addr}' is not within the IPv4 subnet '{prefix}/{len}'")]
    ReservationOutsideSubnet {
        /// The reserved address.
        addr: Ipv4Addr,
        /// Subnet network address.
        prefix: Ipv4Addr,
        /// Subnet prefix length.
        len: u8,
    },
    /// Two reservations of a subnet give the same address.
    #[error(
        "failed to add new host to the IPv4 subnet id '{subnet_id}' for the address {addr}: \
         There's already a reservation for this address"
    )]
    DuplicateReservedAddress {
        /// The subnet.
        subnet_id: u32,
        /// The address.
        addr: Ipv4Addr,
    },
    /// Two reservations of a subnet have the same identifier.
    #[error(
        "failed to add new host using the {what} '{id}' to the IPv4 subnet id '{subnet_id}' as \
         this host has already been added"
    )]
    DuplicateHost {
        /// `HW address` or `client-id`.
        what: &'static str,
        /// The identifier, colon hex.
        id: String,
        /// The subnet.
        subnet_id: u32,
    },
}

/// Why a lease operation of the control API ([`Server::add_lease`](super::Server::add_lease)
/// and friends) was refused. The messages are Kea's lease_cmds texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseOpError {
    /// `lease4-add` of an address that already has a lease.
    #[error("lease already exists for address {0}")]
    Exists(Ipv4Addr),
    /// The lease's `subnet-id` is not configured.
    #[error("Invalid subnet-id: No IPv4 subnet with subnet-id={0} currently configured.")]
    NoSuchSubnet(u32),
    /// No subnet contains the address (lease without `subnet-id`).
    #[error("subnet-id not specified and failed to find a subnet for address {0}")]
    NoSubnetForAddress(Ipv4Addr),
    /// The address is not inside the lease's subnet.
    #[error("The address {addr} does not belong to subnet {prefix}/{len}, subnet-id={subnet_id}")]
    AddressNotInSubnet {
        /// The address.
        addr: Ipv4Addr,
        /// Subnet network address.
        prefix: Ipv4Addr,
        /// Subnet prefix length.
        len: u8,
        /// The subnet.
        subnet_id: u32,
    },
    /// `lease4-update` without `force-create` of an address with no lease.
    #[error("failed to update the lease with address {0} - no such lease")]
    NotFound(Ipv4Addr),
    /// A lease in the default state needs a hardware address or a client identifier.
    #[error("lease {0} has neither a hw-address nor a client-id")]
    NoIdentifier(Ipv4Addr),
}
