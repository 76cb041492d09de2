//! The few system calls std, tokio and socket2 do not wrap: local time for log lines,
//! `SO_NO_CHECK` (conntrackd's `Checksum off`) and the scheduling policy (`Scheduler`).

#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// The local time as C's `ctime` writes it, without the newline ("Thu Jan  1 00:00:00 1970").
pub(super) fn ctime_now() -> String {
    let t: libc::time_t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| libc::time_t::try_from(d.as_secs()).unwrap_or(0));
    // SAFETY: an all-zero `tm` is a valid value; localtime_r writes into the struct we own and
    // reads only `t`, which lives for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the whole call.
    if unsafe { libc::localtime_r(&raw const t, &raw mut tm) }.is_null() {
        return t.to_string();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = usize::try_from(tm.tm_wday).ok().and_then(|d| DAYS.get(d));
    let mon = usize::try_from(tm.tm_mon).ok().and_then(|m| MONTHS.get(m));
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        day.unwrap_or(&"???"),
        mon.unwrap_or(&"???"),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    )
}

fn setsockopt_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `val` lives for the call and its size is passed; the fd is open (borrowed).
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&raw const val).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `SO_NO_CHECK`: `true` turns the UDP checksum off (conntrackd's `Checksum off`).
pub(super) fn set_no_check(fd: &impl AsRawFd, no_check: bool) -> io::Result<()> {
    setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_NO_CHECK,
        libc::c_int::from(no_check),
    )
}

/// `SO_RCVBUFFORCE` (root), else `SO_RCVBUF`.
pub(super) fn set_rcvbuf(fd: &impl AsRawFd, bytes: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
        .or_else(|_| setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v))
}

/// `SO_SNDBUFFORCE` (root), else `SO_SNDBUF`.
pub(super) fn set_sndbuf(fd: &impl AsRawFd, bytes: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v)
        .or_else(|_| setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v))
}

/// Registers a socket that owns its fd with tokio's reactor (`AsyncFd::register`).
pub(super) fn register<T: AsRawFd>(sock: T) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: the socket owns its fd (netlink-sys `Socket`), which stays open while the
    // `AsyncFd` holds the value; it is deregistered when the `AsyncFd` drops, before the fd
    // closes.
    unsafe { tokio::io::unix::AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)
}

/// `sched_setscheduler` for the calling thread (threads started later inherit it):
/// `SCHED_RR` or `SCHED_FIFO` at `priority`.
pub(super) fn set_scheduler(policy: libc::c_int, priority: libc::c_int) -> io::Result<()> {
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
pub(super) fn max_priority(policy: libc::c_int) -> libc::c_int {
    // SAFETY: takes an integer and touches no memory.
    unsafe { libc::sched_get_priority_max(policy) }.max(1)
}
