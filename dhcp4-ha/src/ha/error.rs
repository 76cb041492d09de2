//! Errors of the HA layer.

use alloc::string::String;

/// An invalid HA configuration, with Kea 2.2's message (what `kea-dhcp4` prints after
/// `failed to configure High Availability hooks library: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HaConfigError {
    /// Kea's message.
    pub message: String,
}

impl HaConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Why a request to a peer got no answer (what Kea's HTTP client reports as an I/O or HTTP
/// error). Every kind makes Kea mark the partner `unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection could not be made (refused, unreachable).
    #[error("{0}")]
    Connect(String),
    /// The connection failed while the request was in flight.
    #[error("{0}")]
    Io(String),
    /// No complete answer within the request's timeout.
    #[error("Connection timed out")]
    Timeout,
    /// The answer was not a valid HTTP/1.1 response, or not `200 OK` with a JSON body.
    #[error("{0}")]
    Http(String),
}
