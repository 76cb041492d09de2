//! The system calls the daemons share that socket2, std and tokio do not wrap safely:
//! registering an fd-owning socket with tokio's reactor, integer socket options and
//! `sched_setscheduler`. Each daemon's own `sys` module holds the calls only it makes.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;

/// Registers a socket that owns its fd with tokio's reactor (readable and writable).
pub(crate) fn register<T: AsRawFd>(sock: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: the socket owns its fd (a socket2 or netlink-sys `Socket`, a timerfd), which
    // stays open while the `AsyncFd` holds the value; it is deregistered when the `AsyncFd`
    // is dropped, before the fd closes.
    unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)
}

/// Registers a socket with tokio's reactor for readability only (no wake-up each time the
/// send buffer drains); on failure the socket comes back with the error.
pub(crate) fn register_readable<T: AsRawFd>(sock: T) -> Result<AsyncFd<T>, (T, io::Error)> {
    // SAFETY: as in `register`.
    unsafe { AsyncFd::register_with_interest(sock, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts())
}

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` lives for the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `sched_setscheduler` for the calling thread (threads started later inherit it):
/// `policy` (`SCHED_RR`, `SCHED_FIFO`) at `priority`. The kernel's RT throttling
/// (`sched_rt_runtime_us`) still bounds a real-time thread.
pub(crate) fn set_scheduler(policy: libc::c_int, priority: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` lives for the call and is only read; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, policy, &raw const param) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The highest priority of `policy` (99 for `SCHED_RR` on Linux).
pub(crate) fn max_priority(policy: libc::c_int) -> libc::c_int {
    // SAFETY: takes an integer and touches no memory.
    unsafe { libc::sched_get_priority_max(policy) }.max(1)
}

/// The address of an IPv4 `sockaddr_in` (as `recvmsg` fills it).
pub(crate) fn from_sockaddr(a: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
        u16::from_be(a.sin_port),
    )
}

/// The `sockaddr_in` of an IPv4 address (for `sendmsg`).
pub(crate) fn to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut to: libc::sockaddr_in = unsafe { zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_port = a.port().to_be();
    to.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    to
}
