//! The crate's only unsafe code: a `sockaddr_ll` for AF_PACKET sends, which neither socket2
//! nor std can build.
#![allow(unsafe_code)]

use socket2::{SockAddr, SockAddrStorage};

/// A link-layer socket address (`struct sockaddr_ll`) for sending on interface `ifindex` to
/// `dest`, with EtherType `protocol` (host byte order).
pub(crate) fn sockaddr_ll(ifindex: u32, protocol: u16, dest: [u8; 6]) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of the platform's `sockaddr_*` types, which is what
    // `view_as` requires; it is smaller than `sockaddr_storage` (checked by `view_as`), and the
    // storage is zeroed, a valid `sockaddr_ll`.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dest);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the family is AF_PACKET and the storage holds an initialised `sockaddr_ll` of
    // exactly `len` bytes, as `SockAddr::new` requires.
    unsafe { SockAddr::new(storage, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_and_length() {
        let a = sockaddr_ll(3, 0x0806, [0xff; 6]);
        assert_eq!(a.family(), libc::AF_PACKET as libc::sa_family_t);
        assert_eq!(a.len() as usize, std::mem::size_of::<libc::sockaddr_ll>());
    }
}
