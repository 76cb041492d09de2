//! Kea's control commands as typed values: the command envelope ([`Request`]), the answer
//! ([`Answer`], sent as a one-element JSON list over HTTP), the result codes, the command
//! names ([`Command`]) and typed arguments for the HA traffic ([`args`]).
//!
//! Two JSON forms are written: Kea's ([`json`]: `{ "arguments": { … }, "command":
//! "ha-heartbeat", "service": [ "dhcp4" ] }`, keys sorted, Kea's spacing), which is what Kea
//! partners send and answer, byte for byte; and the compact form of `curl`-style clients
//! (`{"command":…,"service":[…],"arguments":{…}}`), for [`Request::to_compact`].

pub mod args;
pub mod handler;
pub mod json;
mod lease;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use lease::{KeaLease4, LeaseError};

use crate::http;

/// Result 0: success.
pub const RESULT_SUCCESS: i32 = 0;
/// Result 1: error.
pub const RESULT_ERROR: i32 = 1;
/// Result 2: command not supported (Kea's HA falls back, e.g. to `dhcp-enable`).
pub const RESULT_UNSUPPORTED: i32 = 2;
/// Result 3: success, nothing found (`lease4-del` of a missing lease, an empty page).
pub const RESULT_EMPTY: i32 = 3;
/// Result of `ha-maintenance-notify` refused by the partner's state (Kea's
/// `HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED`).
pub const RESULT_MAINTENANCE_NOT_ALLOWED: i32 = 1001;

/// The commands of Kea's HA traffic, operator HA commands and the lease commands the HA
/// hook uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `ha-heartbeat`.
    HaHeartbeat,
    /// `lease4-update`.
    Lease4Update,
    /// `lease4-del`.
    Lease4Del,
    /// `lease4-get-page`.
    Lease4GetPage,
    /// `lease4-get-all`.
    Lease4GetAll,
    /// `dhcp-disable`.
    DhcpDisable,
    /// `dhcp-enable`.
    DhcpEnable,
    /// `ha-sync-complete-notify`.
    HaSyncCompleteNotify,
    /// `ha-maintenance-notify`.
    HaMaintenanceNotify,
    /// `ha-maintenance-start`.
    HaMaintenanceStart,
    /// `ha-maintenance-cancel`.
    HaMaintenanceCancel,
    /// `ha-reset`.
    HaReset,
    /// `ha-continue`.
    HaContinue,
    /// `ha-scopes`.
    HaScopes,
    /// `ha-sync`.
    HaSync,
    /// `status-get`.
    StatusGet,
    /// `list-commands`.
    ListCommands,
}

impl Command {
    /// Every command, in declaration order.
    pub const ALL: [Self; 17] = [
        Self::HaHeartbeat,
        Self::Lease4Update,
        Self::Lease4Del,
        Self::Lease4GetPage,
        Self::Lease4GetAll,
        Self::DhcpDisable,
        Self::DhcpEnable,
        Self::HaSyncCompleteNotify,
        Self::HaMaintenanceNotify,
        Self::HaMaintenanceStart,
        Self::HaMaintenanceCancel,
        Self::HaReset,
        Self::HaContinue,
        Self::HaScopes,
        Self::HaSync,
        Self::StatusGet,
        Self::ListCommands,
    ];

    /// The command's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Self::HaHeartbeat => "ha-heartbeat",
            Self::Lease4Update => "lease4-update",
            Self::Lease4Del => "lease4-del",
            Self::Lease4GetPage => "lease4-get-page",
            Self::Lease4GetAll => "lease4-get-all",
            Self::DhcpDisable => "dhcp-disable",
            Self::DhcpEnable => "dhcp-enable",
            Self::HaSyncCompleteNotify => "ha-sync-complete-notify",
            Self::HaMaintenanceNotify => "ha-maintenance-notify",
            Self::HaMaintenanceStart => "ha-maintenance-start",
            Self::HaMaintenanceCancel => "ha-maintenance-cancel",
            Self::HaReset => "ha-reset",
            Self::HaContinue => "ha-continue",
            Self::HaScopes => "ha-scopes",
            Self::HaSync => "ha-sync",
            Self::StatusGet => "status-get",
            Self::ListCommands => "list-commands",
        }
    }

    /// The command of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether the dedicated listener lets the command through with `restrict-commands:
    /// true` (Kea 2.2's list: list-commands, status-get, dhcp-disable, dhcp-enable, ha-reset,
    /// ha-heartbeat, lease4-update, lease4-del, lease4-get-all, lease4-get-page,
    /// ha-maintenance-notify, ha-sync-complete-notify).
    pub const fn allowed_when_restricted(self) -> bool {
        matches!(
            self,
            Self::ListCommands
                | Self::StatusGet
                | Self::DhcpDisable
                | Self::DhcpEnable
                | Self::HaReset
                | Self::HaHeartbeat
                | Self::Lease4Update
                | Self::Lease4Del
                | Self::Lease4GetAll
                | Self::Lease4GetPage
                | Self::HaMaintenanceNotify
                | Self::HaSyncCompleteNotify
        )
    }
}

/// Why a request body is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Not JSON (Kea's HTTP layer answers 400 `Bad Request`).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// JSON, but not a map.
    #[error("Invalid command Element specified, expected map")]
    NotMap,
    /// No `command` key.
    #[error("Invalid answer specified, does not contain mandatory 'command'")]
    MissingCommand,
    /// `command` is not a string.
    #[error("'command' element in command message is not a string")]
    CommandNotString,
    /// `service` is not a list of strings.
    #[error("service value must be a list")]
    BadService,
    /// A key other than `command`, `arguments`, `service`, `remote-address`.
    #[error("Received command contains unsupported parameter '{0}'")]
    UnknownKey(String),
}

impl CommandError {
    /// Kea's answer to the error, for errors a JSON body gets as result 1 (the text prefixed
    /// `Error during command processing: `), or `None` for [`CommandError::Json`] (HTTP 400).
    pub fn answer(&self) -> Option<Answer> {
        match self {
            Self::Json(_) => None,
            e => Some(Answer::error(alloc::format!(
                "Error during command processing: {e}"
            ))),
        }
    }
}

/// A command request: `{ "arguments": …, "command": …, "service": [ … ] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Command name.
    pub command: String,
    /// Target services (`[ "dhcp4" ]`; optional on the HA listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Vec<String>>,
    /// Arguments (a map), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

impl Request {
    /// A request for `command` to the `dhcp4` service, as Kea's HA hook sends it.
    pub fn new(command: Command, arguments: Option<Value>) -> Self {
        Self {
            command: command.name().into(),
            service: Some(alloc::vec!["dhcp4".into()]),
            arguments,
        }
    }

    /// The known command, if the name is one.
    pub fn known(&self) -> Option<Command> {
        Command::from_name(&self.command)
    }

    /// Parses a request body, with Kea's checks of the envelope.
    pub fn from_json(body: &[u8]) -> Result<Self, CommandError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| CommandError::Json(e.to_string()))?;
        Self::from_value(v)
    }

    /// Checks and converts a parsed body.
    pub fn from_value(v: Value) -> Result<Self, CommandError> {
        let Value::Object(mut map) = v else {
            return Err(CommandError::NotMap);
        };
        if let Some(k) = map.keys().find(|k| {
            !matches!(
                k.as_str(),
                "command" | "arguments" | "service" | "remote-address"
            )
        }) {
            return Err(CommandError::UnknownKey(k.clone()));
        }
        let command = match map.remove("command") {
            None => return Err(CommandError::MissingCommand),
            Some(Value::String(s)) => s,
            Some(_) => return Err(CommandError::CommandNotString),
        };
        let service = match map.remove("service") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        _ => Err(CommandError::BadService),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(CommandError::BadService),
        };
        Ok(Self {
            command,
            service,
            arguments: map.remove("arguments"),
        })
    }

    /// The request as a JSON value.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(a) = &self.arguments {
            m.insert("arguments".into(), a.clone());
        }
        m.insert("command".into(), Value::String(self.command.clone()));
        if let Some(s) = &self.service {
            m.insert(
                "service".into(),
                Value::Array(s.iter().cloned().map(Value::String).collect()),
            );
        }
        Value::Object(m)
    }

    /// The body Kea sends: `{ "arguments": { … }, "command": "…", "service": [ "dhcp4" ] }`.
    pub fn to_kea_json(&self) -> String {
        json::to_kea_string(&self.to_value())
    }

    /// The compact body (`{"command":"…","service":[…],"arguments":{…}}`), as `curl`
    /// users and scripts write it.
    pub fn to_compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `ip-address` argument of a `lease4-update` or `lease4-del` (`None` for other
    /// commands): a transport with several connections to a peer sends the updates of one
    /// lease on one connection, so that they arrive in order.
    pub fn lease_address(&self) -> Option<core::net::Ipv4Addr> {
        match self.known()? {
            Command::Lease4Update | Command::Lease4Del => self
                .arguments
                .as_ref()?
                .get("ip-address")?
                .as_str()?
                .parse()
                .ok(),
            _ => None,
        }
    }
}

/// One answer: `{ "arguments": …, "result": N, "text": "…" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Result code ([`RESULT_SUCCESS`], …).
    pub result: i32,
    /// Text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Arguments, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// Why a response body is not an answer a Kea client accepts (`verifyAsyncResponse`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// Not JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Not a list (Kea's HA client counts a map as an error).
    #[error("unexpected type of the response: expected a list")]
    NotList,
    /// An empty list.
    #[error("empty response list")]
    Empty,
    /// An element is not `{ "result": integer, … }`.
    #[error("invalid answer: {0}")]
    Invalid(String),
}

/// What a Kea client makes of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Result 0.
    Success,
    /// Result 3: success, nothing found.
    Empty,
    /// Result 2: the peer does not support the command (fall back).
    Unsupported,
    /// Any other result: an error.
    Error(i32),
}

impl Answer {
    /// An answer with a text and no arguments.
    pub fn new(result: i32, text: impl Into<String>) -> Self {
        Self {
            result,
            text: Some(text.into()),
            arguments: None,
        }
    }

    /// Result 0 with `text` and `arguments`.
    pub fn success(text: impl Into<String>, arguments: Option<Value>) -> Self {
        Self {
            result: RESULT_SUCCESS,
            text: Some(text.into()),
            arguments,
        }
    }

    /// Result 1 with `text`.
    pub fn error(text: impl Into<String>) -> Self {
        Self::new(RESULT_ERROR, text)
    }

    /// Kea's answer to an unknown command: result 2, `'<name>' command not supported.`
    pub fn unsupported(command: &str) -> Self {
        Self::new(
            RESULT_UNSUPPORTED,
            alloc::format!("'{command}' command not supported."),
        )
    }

    /// How a Kea client reads the result.
    pub const fn outcome(&self) -> Outcome {
        match self.result {
            RESULT_SUCCESS => Outcome::Success,
            RESULT_EMPTY => Outcome::Empty,
            RESULT_UNSUPPORTED => Outcome::Unsupported,
            n => Outcome::Error(n),
        }
    }

    /// Results 0 and 3 count as success.
    pub const fn is_success(&self) -> bool {
        matches!(self.outcome(), Outcome::Success | Outcome::Empty)
    }

    /// The answer as a JSON value (keys sorted as Kea writes them).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(a) = &self.arguments {
            m.insert("arguments".into(), a.clone());
        }
        m.insert("result".into(), Value::from(self.result));
        if let Some(t) = &self.text {
            m.insert("text".into(), Value::String(t.clone()));
        }
        Value::Object(m)
    }

    /// Converts one element of an answer list.
    pub fn from_value(v: Value) -> Result<Self, AnswerError> {
        let Value::Object(mut m) = v else {
            return Err(AnswerError::Invalid("not a map".into()));
        };
        let result = match m.remove("result") {
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| AnswerError::Invalid("result is not an integer".into()))?,
            Some(_) => return Err(AnswerError::Invalid("result is not an integer".into())),
            None => return Err(AnswerError::Invalid("no result".into())),
        };
        let text = match m.remove("text") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(AnswerError::Invalid("text is not a string".into())),
        };
        Ok(Self {
            result,
            text,
            arguments: m.remove("arguments"),
        })
    }

    /// One answer in Kea's style, without the list (`{ "result": 0, "text": "…" }`).
    pub fn to_kea_json(&self) -> String {
        json::to_kea_string(&self.to_value())
    }

    /// The HTTP body of an answer list in Kea's style: `[ { … } ]`.
    pub fn encode_list(answers: &[Self]) -> String {
        json::to_kea_string(&Value::Array(answers.iter().map(Self::to_value).collect()))
    }

    /// Parses a response body as Kea's HA client does: a non-empty list whose elements
    /// are answers.
    pub fn parse_list(body: &[u8]) -> Result<Vec<Self>, AnswerError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| AnswerError::Json(e.to_string()))?;
        let Value::Array(items) = v else {
            return Err(AnswerError::NotList);
        };
        if items.is_empty() {
            return Err(AnswerError::Empty);
        }
        items.into_iter().map(Self::from_value).collect()
    }

    /// The first answer of a response body (the one Kea's HA client looks at).
    pub fn parse_first(body: &[u8]) -> Result<Self, AnswerError> {
        Self::parse_list(body)?
            .into_iter()
            .next()
            .ok_or(AnswerError::Empty)
    }
}

/// How the HA listener treats requests.
#[derive(Debug, Clone, Default)]
pub struct ListenerPolicy {
    /// `restrict-commands`: only [`Command::allowed_when_restricted`] commands pass.
    pub restrict_commands: bool,
    /// Accepted credentials; empty means no authentication (Kea 2.2's dedicated listener
    /// never checks any).
    pub basic_auth: Vec<http::BasicAuth>,
    /// Realm of the `WWW-Authenticate` header of a 401.
    pub realm: String,
}

/// What the listener does with an HTTP request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Admission {
    /// A command to run; answer with 200 and the answer list.
    Command(Request),
    /// Answer with 200 and this answer, without running anything (a malformed envelope).
    Answer(Answer),
    /// Answer with Kea's stock response of this status (400, 401, 403); 401 carries
    /// `WWW-Authenticate` ([`http::Response::unauthorized`]).
    Reject(u16),
}

impl Admission {
    /// The HTTP response for everything but [`Admission::Command`] (whose answer the caller
    /// builds).
    pub fn response(&self, policy: &ListenerPolicy, date: &str) -> Option<http::Response> {
        match self {
            Self::Command(_) => None,
            Self::Answer(a) => Some(http::Response::kea_json(
                200,
                Answer::encode_list(core::slice::from_ref(a)).into_bytes(),
                date,
            )),
            Self::Reject(401) => Some(http::Response::unauthorized(&policy.realm, date)),
            Self::Reject(s) => Some(http::Response::kea_error(*s, date)),
        }
    }
}

/// Kea's checks of a command request, in Kea's order: POST with `Content-Length` and
/// `Content-Type: application/json`, and a JSON body (else 400); credentials when
/// configured (else 401); with `restrict-commands`, a `command` string of the allowed set
/// (else 400 / 403); then the envelope (else an answer with result 1).
pub fn admit(req: &http::Request, policy: &ListenerPolicy) -> Admission {
    if !req.is_kea_post() {
        return Admission::Reject(400);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Admission::Reject(400);
    };
    if !policy.basic_auth.is_empty() {
        match req.basic_auth() {
            Ok(Some(a)) if a.is_allowed(&policy.basic_auth) => {}
            _ => return Admission::Reject(401),
        }
    }
    if policy.restrict_commands {
        let Some(name) = body.get("command").and_then(Value::as_str) else {
            return Admission::Reject(400);
        };
        if !Command::from_name(name).is_some_and(Command::allowed_when_restricted) {
            return Admission::Reject(403);
        }
    }
    match Request::from_value(body) {
        Ok(r) => Admission::Command(r),
        Err(e) => e.answer().map_or(Admission::Reject(400), Admission::Answer),
    }
}

/// The body checks of the `http_request` fuzz target: whatever parses as a command or an
/// answer list re-encodes (Kea's style and compact) to text that parses to the same value.
pub fn fuzz_body(body: &[u8]) {
    let ascii = |s: &str| s.is_ascii();
    if let Ok(req) = Request::from_json(body) {
        let compact = req.to_compact();
        assert_eq!(
            Request::from_json(compact.as_bytes()).as_ref(),
            Ok(&req),
            "compact re-encoding differs"
        );
        if ascii(&compact) {
            let kea = req.to_kea_json();
            assert_eq!(
                Request::from_json(kea.as_bytes()).as_ref(),
                Ok(&req),
                "Kea re-encoding differs"
            );
        }
        if let Some(args) = &req.arguments {
            args::fuzz_arguments(req.known(), args);
        }
    }
    if let Ok(list) = Answer::parse_list(body) {
        let kea = Answer::encode_list(&list);
        if serde_json::to_string(&Value::Array(list.iter().map(Answer::to_value).collect()))
            .is_ok_and(|s| ascii(&s))
        {
            assert_eq!(
                Answer::parse_list(kea.as_bytes()).as_ref(),
                Ok(&list),
                "answer re-encoding differs"
            );
        }
    }
}

#[cfg(test)]
mod lease_address_tests {
    use super::*;

    #[test]
    fn lease_address_of_lease_commands_only() {
        let update = Request::from_json(
            br#"{"command":"lease4-update","arguments":{"ip-address":"192.0.2.7","hw-address":"00:0c:01:02:03:04"}}"#,
        )
        .unwrap();
        assert_eq!(update.lease_address(), Some("192.0.2.7".parse().unwrap()));
        let del = Request::from_json(
            br#"{"command":"lease4-del","arguments":{"ip-address":"192.0.2.8"}}"#,
        )
        .unwrap();
        assert_eq!(del.lease_address(), Some("192.0.2.8".parse().unwrap()));
        for body in [
            &br#"{"command":"ha-heartbeat"}"#[..],
            br#"{"command":"lease4-get","arguments":{"ip-address":"192.0.2.7"}}"#,
            br#"{"command":"lease4-update","arguments":{"ip-address":"not an address"}}"#,
            br#"{"command":"lease4-update","arguments":{"ip-address":7}}"#,
            br#"{"command":"lease4-del"}"#,
        ] {
            let r = Request::from_json(body).unwrap();
            assert_eq!(r.lease_address(), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
