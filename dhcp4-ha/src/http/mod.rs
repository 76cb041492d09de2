//! A Sans-IO HTTP/1.1 codec for Kea's control channel, server side ([`ServerConn`]) and
//! client side ([`ClientConn`]).
//!
//! What Kea's HA hook speaks, and nothing more: heads are parsed with `httparse`, bodies are
//! framed by `Content-Length` only (Kea has no chunked encoding, so any `Transfer-Encoding` is
//! refused with [`HttpError::TransferEncoding`]), connections are persistent (HTTP/1.1 default;
//! `Connection: close` and HTTP/1.0 without `keep-alive` end them) and pipelined bytes stay
//! buffered for the next message. Head and body sizes are bounded by [`Limits`].
//!
//! The builders produce Kea's exact bytes: [`Request::kea_post`] writes
//! `POST / HTTP/1.1`, `Host`, (`Authorization`,) `Content-Length`, `Content-Type`, the order
//! Kea's `HttpRequest::toString` uses (Host first, then the headers sorted by lower-case
//! name); [`Response::kea_json`] writes `Content-Length`, `Content-Type: application/json`,
//! `Date`, as in the captures. The library has no clock: the caller passes the `Date` text,
//! made with [`http_date`].
//!
//! No I/O: a connection is fed the bytes a socket read returned and hands back parsed
//! messages; encoding appends to a caller buffer.

mod auth;
mod client;
mod date;
mod server;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub use auth::{AuthError, BasicAuth};
pub use client::ClientConn;
pub use date::{http_date, parse_http_date};
pub use server::ServerConn;

/// Most headers a head may carry (the hard ceiling for [`Limits::max_headers`]).
pub const MAX_HEADERS: usize = 64;

/// Size limits of a connection. The defaults fit Kea's traffic: heads of a few hundred bytes
/// and `lease4-get-page` answers of up to `sync-page-limit` leases (about 300 bytes each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest head (request or status line, headers and the empty line), in bytes.
    pub max_head: usize,
    /// Longest body (`Content-Length`), in bytes.
    pub max_body: usize,
    /// Most headers in one head (at most [`MAX_HEADERS`]).
    pub max_headers: usize,
    /// Most bytes kept buffered and not yet parsed (pipelined messages included); input
    /// beyond it is refused with [`HttpError::BufferFull`] until the caller polls.
    pub max_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(8 * 1024, 32 * 1024 * 1024)
    }
}

impl Limits {
    /// Limits with the given head and body sizes, 32 headers, and a buffer of one head and
    /// one body.
    pub const fn new(max_head: usize, max_body: usize) -> Self {
        Self {
            max_head,
            max_body,
            max_headers: 32,
            max_buffer: max_head.saturating_add(max_body),
        }
    }

    /// The same limits with at most `n` headers (clamped to [`MAX_HEADERS`]).
    #[must_use]
    pub const fn with_max_headers(mut self, n: usize) -> Self {
        self.max_headers = if n > MAX_HEADERS { MAX_HEADERS } else { n };
        self
    }

    /// The same limits with another buffer bound.
    #[must_use]
    pub const fn with_max_buffer(mut self, n: usize) -> Self {
        self.max_buffer = n;
        self
    }
}

/// Why a message could not be parsed, or input was refused. Every error of a server
/// connection is answered with [`HttpError::status`] (Kea's stock answers) and ends it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The head is not valid HTTP/1.x (`httparse`'s reason).
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    /// The head is longer than [`Limits::max_head`].
    #[error("HTTP head longer than {limit} bytes")]
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// More headers than [`Limits::max_headers`].
    #[error("more than {limit} HTTP headers")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// `Content-Length` above [`Limits::max_body`].
    #[error("body of {length} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// The announced length.
        length: u64,
        /// The limit.
        limit: usize,
    },
    /// `Content-Length` is not a decimal number, or appears twice with different values.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// A response other than 1xx / 204 / 304 without `Content-Length` (Kea always sends it;
    /// read-until-close framing is not supported).
    #[error("response without Content-Length")]
    MissingContentLength,
    /// `Transfer-Encoding` is present: Kea has no chunked encoding, and neither has this codec.
    #[error("Transfer-Encoding is not supported")]
    TransferEncoding,
    /// More input than [`Limits::max_buffer`] is waiting; poll before feeding more.
    #[error("more than {limit} bytes buffered")]
    BufferFull {
        /// The limit.
        limit: usize,
    },
    /// A response arrived with no request outstanding.
    #[error("response without a request")]
    UnexpectedResponse,
}

impl HttpError {
    /// The HTTP status a server answers this error with: 400 (Kea's stock `Bad Request`; Kea
    /// 2.2 knows no 413 / 431).
    pub const fn status(&self) -> u16 {
        400
    }
}

/// One header: its name as received (or as it will be sent) and its raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Name, case preserved.
    pub name: String,
    /// Value, without the surrounding whitespace.
    pub value: Vec<u8>,
}

impl Header {
    /// A header from text.
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.to_string(),
            value: value.as_bytes().to_vec(),
        }
    }
}

fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| &h.value[..])
}

/// Whether the comma-separated header `name` carries `token` (case-insensitive).
fn header_has_token(headers: &[Header], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Kea's reason phrase for a status code (`HttpResponse::statusCodeToString`), or `""`.
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// An HTTP request, head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method (`POST`).
    pub method: String,
    /// Request target (`/`).
    pub target: String,
    /// HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// Headers in the order received or to be sent.
    pub headers: Vec<Header>,
    /// The body (exactly `Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The request Kea's HA client sends: `POST / HTTP/1.1` with `Host` (the peer's host
    /// without port, as Kea writes it), `Authorization` when `auth` is given,
    /// `Content-Length` and `Content-Type: application/json`.
    pub fn kea_post(host: &str, body: Vec<u8>, auth: Option<&BasicAuth>) -> Self {
        let mut headers = Vec::with_capacity(4);
        headers.push(Header::new("Host", host));
        if let Some(a) = auth {
            headers.push(Header::new("Authorization", &a.header_value()));
        }
        headers.push(Header::new("Content-Length", &body.len().to_string()));
        headers.push(Header::new("Content-Type", "application/json"));
        Self {
            method: "POST".into(),
            target: "/".into(),
            minor_version: 1,
            headers,
            body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }

    /// Whether the connection stays open after this request's response: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.minor_version == 0 {
            header_has_token(&self.headers, "Connection", "keep-alive")
        } else {
            !header_has_token(&self.headers, "Connection", "close")
        }
    }

    /// Whether `Content-Type` is `application/json` (parameters such as `charset` allowed).
    pub fn is_json(&self) -> bool {
        self.header("Content-Type").is_some_and(|v| {
            let media = v.split(|&b| b == b';').next().unwrap_or_default();
            media.trim_ascii().eq_ignore_ascii_case(b"application/json")
        })
    }

    /// The credentials of an `Authorization: Basic` header: `Ok(None)` without the header,
    /// an error when it is not valid Basic authentication.
    pub fn basic_auth(&self) -> Result<Option<BasicAuth>, AuthError> {
        self.header("Authorization")
            .map(BasicAuth::parse_header)
            .transpose()
    }

    /// Kea's checks of an incoming command request (`PostHttpRequestJson`): method `POST`,
    /// a `Content-Length` header and `Content-Type: application/json`. Kea answers a failure
    /// with 400 (see [`Response::kea_error`]).
    pub fn is_kea_post(&self) -> bool {
        self.method == "POST" && self.header("Content-Length").is_some() && self.is_json()
    }

    /// Length of the encoded request.
    pub fn encoded_len(&self) -> usize {
        head_len(self.method.len() + 1 + self.target.len() + 9, &self.headers) + self.body.len()
    }

    /// Appends the request, head and body, to `out`, headers in their order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.");
        out.push(b'0' + self.minor_version.min(9));
        out.extend_from_slice(b"\r\n");
        encode_headers(&self.headers, out);
        out.extend_from_slice(&self.body);
    }
}

/// An HTTP response, head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP minor version (1).
    pub minor_version: u8,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in the order received or to be sent.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Kea's JSON response: `HTTP/1.1 <status> <reason>` with `Content-Length`,
    /// `Content-Type: application/json` and `Date` (in that order, as Kea sorts its header
    /// map by lower-case name). `date` is the `Date` value ([`http_date`]).
    pub fn kea_json(status: u16, body: Vec<u8>, date: &str) -> Self {
        let headers = alloc::vec![
            Header::new("Content-Length", &body.len().to_string()),
            Header::new("Content-Type", "application/json"),
            Header::new("Date", date),
        ];
        Self {
            minor_version: 1,
            status,
            reason: reason_phrase(status).into(),
            headers,
            body,
        }
    }

    /// Kea's stock error response (`createStockHttpResponse`): the status and the body
    /// `{ "result": <status>, "text": "<reason>" }`, e.g. 400 `Bad Request`, 403 `Forbidden`.
    pub fn kea_error(status: u16, date: &str) -> Self {
        let body = alloc::format!(
            "{{ \"result\": {status}, \"text\": \"{}\" }}",
            reason_phrase(status)
        );
        Self::kea_json(status, body.into_bytes(), date)
    }

    /// 401 with `WWW-Authenticate: Basic realm="<realm>"`, as Kea's basic-auth check
    /// answers (`realm` must not contain `"`).
    pub fn unauthorized(realm: &str, date: &str) -> Self {
        let mut r = Self::kea_error(401, date);
        r.headers.push(Header::new(
            "WWW-Authenticate",
            &alloc::format!("Basic realm=\"{realm}\""),
        ));
        r
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }

    /// Whether the connection stays open after this response.
    pub fn keep_alive(&self) -> bool {
        if self.minor_version == 0 {
            header_has_token(&self.headers, "Connection", "keep-alive")
        } else {
            !header_has_token(&self.headers, "Connection", "close")
        }
    }

    /// Length of the encoded response.
    pub fn encoded_len(&self) -> usize {
        head_len(15 + self.reason.len(), &self.headers) + self.body.len()
    }

    /// Appends the response, head and body, to `out`, headers in their order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(b"HTTP/1.");
        out.push(b'0' + self.minor_version.min(9));
        out.push(b' ');
        let s = self.status.min(999);
        out.extend_from_slice(&[
            b'0' + (s / 100) as u8,
            b'0' + (s / 10 % 10) as u8,
            b'0' + (s % 10) as u8,
            b' ',
        ]);
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        encode_headers(&self.headers, out);
        out.extend_from_slice(&self.body);
    }
}

fn head_len(first_line_without_crlf: usize, headers: &[Header]) -> usize {
    first_line_without_crlf
        + 2
        + headers
            .iter()
            .map(|h| h.name.len() + 2 + h.value.len() + 2)
            .sum::<usize>()
        + 2
}

fn encode_headers(headers: &[Header], out: &mut Vec<u8>) {
    for h in headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A parsed head, waiting for its body.
#[derive(Debug, Clone)]
struct Head {
    /// Method and target (requests) or empty strings.
    method: String,
    target: String,
    /// Status and reason (responses).
    status: u16,
    reason: String,
    minor_version: u8,
    headers: Vec<Header>,
    head_len: usize,
    body_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
}

fn convert_headers(raw: &[httparse::Header<'_>]) -> Vec<Header> {
    raw.iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect()
}

fn map_httparse(e: httparse::Error, limits: &Limits) -> HttpError {
    if e == httparse::Error::TooManyHeaders {
        HttpError::TooManyHeaders {
            limit: limits.max_headers,
        }
    } else {
        HttpError::Malformed(e.to_string())
    }
}

/// The body length a head announces: `Transfer-Encoding` refused, `Content-Length` parsed
/// (repeated values must agree), none → `None`.
fn content_length(headers: &[Header], limits: &Limits) -> Result<Option<usize>, HttpError> {
    let mut found: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("Transfer-Encoding") {
            return Err(HttpError::TransferEncoding);
        }
        if h.name.eq_ignore_ascii_case("Content-Length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::BadContentLength);
            }
            let n = v
                .iter()
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != n) {
                return Err(HttpError::BadContentLength);
            }
            found = Some(n);
        }
    }
    match found {
        None => Ok(None),
        Some(n) if n > limits.max_body as u64 => Err(HttpError::BodyTooLarge {
            length: n,
            limit: limits.max_body,
        }),
        // Fits in usize: it is at most max_body.
        Some(n) => Ok(Some(n as usize)),
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` while incomplete.
fn parse_head(buf: &[u8], kind: Kind, limits: &Limits) -> Result<Option<Head>, HttpError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let slots = &mut storage[..limits.max_headers.min(MAX_HEADERS)];
    let too_large = HttpError::HeadTooLarge {
        limit: limits.max_head,
    };
    // Only the first `max_head` bytes are looked at, so that where a read splits the input
    // cannot change which error is found.
    let window = &buf[..buf.len().min(limits.max_head)];
    let mut head = match kind {
        Kind::Request => {
            let mut req = httparse::Request::new(slots);
            match req.parse(window).map_err(|e| map_httparse(e, limits))? {
                httparse::Status::Partial => None,
                httparse::Status::Complete(n) => Some(Head {
                    method: req.method.unwrap_or_default().to_string(),
                    target: req.path.unwrap_or_default().to_string(),
                    status: 0,
                    reason: String::new(),
                    minor_version: req.version.unwrap_or(1),
                    headers: convert_headers(req.headers),
                    head_len: n,
                    body_len: 0,
                }),
            }
        }
        Kind::Response => {
            let mut resp = httparse::Response::new(slots);
            match resp.parse(window).map_err(|e| map_httparse(e, limits))? {
                httparse::Status::Partial => None,
                httparse::Status::Complete(n) => Some(Head {
                    method: String::new(),
                    target: String::new(),
                    status: resp.code.unwrap_or_default(),
                    reason: resp.reason.unwrap_or_default().to_string(),
                    minor_version: resp.version.unwrap_or(1),
                    headers: convert_headers(resp.headers),
                    head_len: n,
                    body_len: 0,
                }),
            }
        }
    };
    match &mut head {
        None if buf.len() > limits.max_head => Err(too_large),
        None => Ok(None),
        Some(h) if h.head_len > limits.max_head => Err(too_large),
        Some(h) => {
            let len = content_length(&h.headers, limits)?;
            h.body_len = match (len, kind) {
                (Some(n), _) => n,
                // A request without Content-Length has no body (RFC 9112 §6.3).
                (None, Kind::Request) => 0,
                (None, Kind::Response) if matches!(h.status, 100..=199 | 204 | 304) => 0,
                (None, Kind::Response) => return Err(HttpError::MissingContentLength),
            };
            Ok(head)
        }
    }
}

/// The buffering and framing shared by both sides.
#[derive(Debug, Clone)]
struct Framer {
    limits: Limits,
    buf: Vec<u8>,
    head: Option<Head>,
}

impl Framer {
    const fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            head: None,
        }
    }

    fn push(&mut self, data: &[u8]) -> Result<(), HttpError> {
        if self.buf.len().saturating_add(data.len()) > self.limits.max_buffer {
            return Err(HttpError::BufferFull {
                limit: self.limits.max_buffer,
            });
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete message: its head and body.
    fn next(&mut self, kind: Kind) -> Result<Option<(Head, Vec<u8>)>, HttpError> {
        if self.head.is_none() {
            if self.buf.is_empty() {
                return Ok(None);
            }
            self.head = parse_head(&self.buf, kind, &self.limits)?;
        }
        let Some(h) = &self.head else {
            return Ok(None);
        };
        let total = h.head_len + h.body_len;
        if self.buf.len() < total {
            return Ok(None);
        }
        let body = self.buf[h.head_len..total].to_vec();
        self.buf.drain(..total);
        Ok(self.head.take().map(|h| (h, body)))
    }
}

/// The checks the `http_request` fuzz target runs (and its corpus replay): `data` fed to a
/// [`ServerConn`] whole and in several split patterns yields the same requests and errors;
/// every request re-encodes to bytes that parse back to it; every body that parses as a
/// Kea command or answer list re-encodes (Kea's style and compact) to the same value. Panics
/// on a violation.
pub fn fuzz_server(data: &[u8]) {
    let limits = Limits::new(1024, 4096)
        .with_max_headers(16)
        .with_max_buffer(usize::MAX);
    let whole = run_server(data, &[data.len().max(1)], limits);
    for pattern in [&[1usize][..], &[7], &[3, 64, 1]] {
        if data.len() <= 2048 || pattern[0] > 1 {
            let split = run_server(data, pattern, limits);
            assert_eq!(whole, split, "split reads {pattern:?} changed the result");
        }
    }
    for outcome in &whole {
        let Ok(req) = outcome else { continue };
        let mut bytes = Vec::new();
        req.encode(&mut bytes);
        assert_eq!(bytes.len(), req.encoded_len(), "encoded_len is wrong");
        let again = run_server(&bytes, &[bytes.len()], limits);
        assert_eq!(again.len(), 1, "re-encoded request parsed to {again:?}");
        assert_eq!(again[0].as_ref(), Ok(req), "re-encoded request differs");
        crate::control::fuzz_body(&req.body);
    }
}

/// Feeds `data` in chunks of the given sizes (cycled), polling after each; collects the
/// requests and the error, if any.
fn run_server(data: &[u8], chunks: &[usize], limits: Limits) -> Vec<Result<Request, HttpError>> {
    let mut conn = ServerConn::new(limits);
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    loop {
        let n = chunks[i % chunks.len()]
            .clamp(1, rest.len().max(1))
            .min(rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = conn.handle_input(chunk) {
            out.push(Err(e));
            return out;
        }
        while let Some(r) = conn.poll_request() {
            let failed = r.is_err();
            if r.is_ok() {
                let mut sink = Vec::new();
                conn.encode(&Response::kea_error(200, "x"), &mut sink);
            }
            out.push(r);
            if failed {
                return out;
            }
        }
        if rest.is_empty() {
            return out;
        }
    }
}
