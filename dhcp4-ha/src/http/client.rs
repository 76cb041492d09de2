//! The client side of a connection.

use alloc::string::String;
use alloc::vec::Vec;

use super::{BasicAuth, Framer, HttpError, Kind, Limits, Request, Response};

/// One client connection to a peer (Sans-IO): [`encode_kea`](Self::encode_kea) appends the
/// bytes of a command request as Kea sends them; feed what the socket read to
/// [`handle_input`](Self::handle_input) and take responses, in request order, with
/// [`poll_response`](Self::poll_response).
#[derive(Debug, Clone)]
pub struct ClientConn {
    framer: Framer,
    host: String,
    auth: Option<BasicAuth>,
    in_flight: usize,
    closed: bool,
}

impl ClientConn {
    /// A connection to `host` (the `Host` value: the peer's address without port, as Kea
    /// writes it).
    pub fn new(host: &str, limits: Limits) -> Self {
        Self {
            framer: Framer::new(limits),
            host: host.into(),
            auth: None,
            in_flight: 0,
            closed: false,
        }
    }

    /// Credentials sent as `Authorization: Basic` with every request (`basic-auth-user` /
    /// `basic-auth-password` of the peer), or none.
    pub fn set_basic_auth(&mut self, auth: Option<BasicAuth>) {
        self.auth = auth;
    }

    /// The `Host` value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Appends Kea's request for the JSON `body` (see [`Request::kea_post`]). Returns the
    /// number of bytes appended.
    pub fn encode_kea(&mut self, body: &[u8], out: &mut Vec<u8>) -> usize {
        let req = Request::kea_post(&self.host, body.to_vec(), self.auth.as_ref());
        self.encode(&req, out)
    }

    /// Appends any request. Returns the number of bytes appended.
    pub fn encode(&mut self, request: &Request, out: &mut Vec<u8>) -> usize {
        self.in_flight += 1;
        let before = out.len();
        request.encode(out);
        out.len() - before
    }

    /// Buffers bytes read from the socket ([`HttpError::BufferFull`] as on the server side).
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), HttpError> {
        if self.closed {
            return Ok(());
        }
        self.framer.push(data)
    }

    /// The next complete response, an error (the connection is then unusable: close it), or
    /// `None` until more input arrives.
    pub fn poll_response(&mut self) -> Option<Result<Response, HttpError>> {
        if self.closed {
            return None;
        }
        if self.in_flight == 0 {
            if self.framer.buf.is_empty() {
                return None;
            }
            self.closed = true;
            return Some(Err(HttpError::UnexpectedResponse));
        }
        match self.framer.next(Kind::Response) {
            Ok(None) => None,
            Ok(Some((head, body))) => {
                let resp = Response {
                    minor_version: head.minor_version,
                    status: head.status,
                    reason: head.reason,
                    headers: head.headers,
                    body,
                };
                // 1xx responses are interim: the final one follows.
                if !(100..200).contains(&resp.status) {
                    self.in_flight -= 1;
                }
                if !resp.keep_alive() {
                    self.closed = true;
                }
                Some(Ok(resp))
            }
            Err(e) => {
                self.closed = true;
                Some(Err(e))
            }
        }
    }

    /// Requests sent and not yet answered.
    pub const fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether the connection must be closed (the server asked for it, or its bytes could
    /// not be parsed); requests still in flight then failed.
    pub const fn should_close(&self) -> bool {
        self.closed
    }
}
