//! The error type of the crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong talking to the kernel, or why a request was refused before it was sent.
///
/// Kernel refusals are [`Error::Kernel`], carrying the errno and a description of the request
/// (`RTM_NEWLINK macvlan vrrp.51 on eth0`), so a log line says what was asked and why it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel answered a netlink request with `NLMSG_ERROR` and a non-zero errno.
    #[error("{op}: {}{}", io::Error::from_raw_os_error(*errno), ExtAck(message.as_deref()))]
    Kernel {
        /// The request, e.g. `RTM_NEWLINK macvlan vrrp.51 on eth0`.
        op: String,
        /// The positive errno (`17` is `EEXIST`).
        errno: i32,
        /// The kernel's extended-ack message (`NLMSGERR_ATTR_MSG`), when it sent one.
        message: Option<String>,
    },
    /// A system call on a socket failed (open, bind, send, receive, timeout).
    #[error("{op}: {source}")]
    Io {
        /// What was being done, e.g. `open NETLINK_ROUTE socket`.
        op: String,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The kernel sent something this crate could not decode.
    #[error("{op}: malformed netlink message: {reason}")]
    Decode {
        /// The request whose reply was malformed.
        op: String,
        /// What was wrong.
        reason: String,
    },
    /// A request was refused before reaching the kernel (bad interface name, bad label, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// An interface looked up by index or name does not exist.
    #[error("no such interface: {0}")]
    NoSuchLink(String),
    /// Reading or writing a sysctl file failed.
    #[error("sysctl {}: {source}", path.display())]
    Sysctl {
        /// The file under `/proc/sys`.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// A sysctl file held something other than an integer.
    #[error("sysctl {}: not an integer: {value:?}", path.display())]
    SysctlValue {
        /// The file under `/proc/sys`.
        path: PathBuf,
        /// What it held.
        value: String,
    },
}

impl Error {
    /// The errno behind this error: the kernel's for [`Error::Kernel`], the operating system's
    /// for [`Error::Io`] and [`Error::Sysctl`], `None` otherwise.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            Self::Io { source, .. } | Self::Sysctl { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// `true` when the kernel said the object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        matches!(self, Self::Kernel { errno, .. } if *errno == libc::EEXIST)
    }

    /// `true` when the object of the request does not exist: [`Error::NoSuchLink`], or the
    /// kernel's `ENODEV` / `EADDRNOTAVAIL` / `ENOENT`.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::NoSuchLink(_) => true,
            Self::Kernel { errno, .. } => {
                matches!(*errno, libc::ENODEV | libc::EADDRNOTAVAIL | libc::ENOENT)
            }
            _ => false,
        }
    }

    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            op: op.into(),
            source,
        }
    }
}

/// Formats the optional extended-ack message after the errno text.
struct ExtAck<'a>(Option<&'a str>);

impl fmt::Display for ExtAck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) if !m.is_empty() => write!(f, " ({m})"),
            _ => Ok(()),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_error_names_request_and_errno() {
        let e = Error::Kernel {
            op: "RTM_NEWLINK macvlan vrrp.51 on eth0".into(),
            errno: 17,
            message: None,
        };
        let s = e.to_string();
        assert!(
            s.starts_with("RTM_NEWLINK macvlan vrrp.51 on eth0: "),
            "{s}"
        );
        assert!(s.contains("os error 17"), "{s}");
        assert!(e.is_exists());
        assert_eq!(e.errno(), Some(17));

        let e = Error::Kernel {
            op: "RTM_NEWADDR".into(),
            errno: 22,
            message: Some("Invalid prefix length".into()),
        };
        assert!(e.to_string().ends_with("(Invalid prefix length)"), "{e}");
        assert!(!e.is_exists() && !e.is_not_found());
    }
}
