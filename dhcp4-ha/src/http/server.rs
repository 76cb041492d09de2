//! The server side of a connection.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{Framer, HttpError, Kind, Limits, Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Parsing requests.
    Open,
    /// A request asked to close: no more requests are parsed; close after its response.
    Draining,
    /// A parse error was reported: answer it ([`HttpError::status`]) and close.
    Failed,
}

/// One server connection (Sans-IO): feed it what the socket read with
/// [`handle_input`](Self::handle_input), take complete requests with
/// [`poll_request`](Self::poll_request), answer each one, in order, with
/// [`encode`](Self::encode), and close the socket when [`should_close`](Self::should_close)
/// says so.
///
/// Pipelined requests are parsed one after the other from the buffered bytes. After an
/// error (reported once by `poll_request`) nothing more is parsed: the caller sends
/// `Response::kea_error(err.status(), date)` through `encode` and closes.
#[derive(Debug, Clone)]
pub struct ServerConn {
    framer: Framer,
    /// Keep-alive flags of the requests handed out and not yet answered, oldest first.
    in_flight: VecDeque<bool>,
    state: State,
    close_after_write: bool,
}

impl Default for ServerConn {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl ServerConn {
    /// A new connection with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            framer: Framer::new(limits),
            in_flight: VecDeque::new(),
            state: State::Open,
            close_after_write: false,
        }
    }

    /// The limits in force.
    pub const fn limits(&self) -> &Limits {
        &self.framer.limits
    }

    /// Buffers bytes read from the socket. Refused whole with [`HttpError::BufferFull`] when
    /// more than [`Limits::max_buffer`] bytes would wait (poll, then feed again). Bytes after
    /// a closing request or an error are dropped.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), HttpError> {
        if self.state != State::Open {
            return Ok(());
        }
        self.framer.push(data)
    }

    /// The next complete request, an error (once; the connection then only answers it and
    /// closes), or `None` until more input arrives.
    pub fn poll_request(&mut self) -> Option<Result<Request, HttpError>> {
        if self.state != State::Open {
            return None;
        }
        match self.framer.next(Kind::Request) {
            Ok(None) => None,
            Ok(Some((head, body))) => {
                let req = Request {
                    method: head.method,
                    target: head.target,
                    minor_version: head.minor_version,
                    headers: head.headers,
                    body,
                };
                let keep = req.keep_alive();
                self.in_flight.push_back(keep);
                if !keep {
                    self.state = State::Draining;
                    self.framer.buf = Vec::new();
                }
                Some(Ok(req))
            }
            Err(e) => {
                self.state = State::Failed;
                self.framer.buf = Vec::new();
                Some(Err(e))
            }
        }
    }

    /// Appends `response` to `out`: the answer to the oldest unanswered request (or to the
    /// error just reported). Returns the number of bytes appended.
    pub fn encode(&mut self, response: &Response, out: &mut Vec<u8>) -> usize {
        let keep = self.in_flight.pop_front().unwrap_or(false);
        if !keep || !response.keep_alive() {
            self.close_after_write = true;
        }
        if self.state == State::Failed && self.in_flight.is_empty() {
            self.close_after_write = true;
        }
        let before = out.len();
        response.encode(out);
        out.len() - before
    }

    /// Whether the socket should be closed once the encoded bytes are written: a request
    /// or response asked for it, or input was unparseable.
    pub fn should_close(&self) -> bool {
        self.close_after_write && self.in_flight.is_empty()
    }

    /// Requests handed out and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Bytes buffered and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.framer.buf.len()
    }

    /// Whether nothing is pending: no partial request buffered and nothing unanswered (the
    /// state in which Kea's idle timeout applies).
    pub fn is_idle(&self) -> bool {
        self.framer.buf.is_empty() && self.in_flight.is_empty()
    }
}
