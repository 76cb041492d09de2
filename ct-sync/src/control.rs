//! conntrackd's UNIX control protocol (conntrack-tools 1.4.7): request codes, the client's
//! command line, and the text of every reply, byte for byte. Sans-IO.
//!
//! # The protocol
//! The daemon listens on an `AF_UNIX` stream socket at `General { UNIX { Path } }`. A client
//! (`conntrackd -C FILE -s`, keepalived's `primary-backup.sh`, ...) connects, sends **one
//! native-endian C `int`** ([`Request::to_bytes`]), then reads until the daemon closes, printing
//! whatever arrives. The daemon reads the int ([`parse_request`]), answers with text (or
//! nothing) and closes. There is no status code: commands such as commit, flush and resync
//! answer with nothing; `-c` keeps the connection open until the commit is done, which is how
//! the client blocks.
//!
//! # The client's command line
//! [`client_args`] turns the arguments of `conntrackd` (`-c`, `-s network`, `-i expect -x`,
//! `-C FILE`, ...) into the [`Request`] the real client sends, with conntrackd's own parsing
//! rules (see [`client_args`] for the quirks kept).
//!
//! # The replies
//! One plain report struct per reply text, filled by the daemon from its counters, and one
//! writer per text:
//!
//! | client | request | report | writer |
//! |---|---|---|---|
//! | `-s`, `-s ct`, `-s expect` | [`Request::Stats`], [`Request::ExpStats`] | [`StatsReport`] | [`write_stats`] |
//! | `-s network` | [`Request::StatsNetwork`] | [`NetworkReport`] | [`write_stats_network`] |
//! | `-s cache` | [`Request::StatsCache`] | [`CacheStatsReport`] | [`write_stats_cache`] |
//! | `-s runtime` | [`Request::StatsRuntime`] | [`RuntimeReport`] | [`write_stats_runtime`] |
//! | `-s link` | [`Request::StatsLink`] | [`LinkReport`] (one per channel) | [`write_stats_link`] |
//! | `-s rsqueue` | [`Request::StatsRsqueue`] | [`RsQueueEntry`] (FTFW only) | [`write_stats_rsqueue`] |
//! | `-s queue` | [`Request::StatsQueue`] | [`QueueReport`] | [`write_stats_queue`] |
//! | `-s process` | [`Request::StatsProcess`] | [`ChildProcess`] | [`write_stats_process`] |
//! | `-i`, `-e` | [`Request::CtDumpInternal`], [`Request::CtDumpExternal`] | [`CtRepr`] + [`DumpExtras`] | [`write_ct_dump_entry`] |
//!
//! Each writer has a `parse_*` inverse that reads conntrackd's text back into the report
//! (typed errors, never a panic), so that `write(parse(text)) == text` can be checked against
//! the real daemon's output.
//!
//! ```
//! use ct_sync::control::{client_args, ClientCommand, Request, parse_request};
//! let req = client_args(&["-C", "/etc/conntrackd/conntrackd.conf", "-s", "net"])?;
//! assert_eq!(req.command, ClientCommand::Request(Request::StatsNetwork));
//! assert_eq!(Request::StatsNetwork.code(), 28);
//! assert_eq!(parse_request(&Request::CtCommit.to_bytes())?, Request::CtCommit);
//! # Ok::<(), ct_sync::control::ControlError>(())
//! ```
//!
//! # Known differences from conntrackd
//! * conntrackd formats some replies into fixed 512-byte buffers (`-s queue`, `-s cache`) and
//!   sends the length `snprintf` *would* have written: with more than four queues, or very
//!   long cache names, it sends stack garbage. The writers here always write the whole text.
//! * The `-i` / `-e` line is written from the synced attributes ([`CtRepr`]) plus
//!   [`DumpExtras`]. Not representable, so never written: the kernel's per-direction
//!   `packets=`/`bytes=` counters (accounting on), `zone-orig=`/`zone-reply=`, `secmark=`,
//!   `secctx=`, `delta-time=` (timestamps on) and `labels=` (conntrackd prints no labels: it
//!   passes no label map). GRE keys are not synced, so GRE prints `srckey=0x0 dstkey=0x0` as
//!   conntrackd's external cache does. A conntrack without `NTA_L4PROTO` makes libnetfilter_
//!   conntrack write before its buffer; here the protocol column is left out.
//! * IPv6 addresses are written in Rust's form, which is glibc's `inet_ntop` form except for
//!   IPv4-compatible addresses (`::a.b.c.d` in glibc, hexadecimal here).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::net::IpAddr;
use core::str::FromStr;

use crate::wire::ct::status;
use crate::wire::{AttrStr, CtRepr, Pair};

/// Bytes of a request on the wire: one C `int`.
pub const REQUEST_LEN: usize = 4;

/// Appends formatted text to a `String` (which cannot fail).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

// ---------------------------------------------------------------------------------------------
// Requests

macro_rules! requests {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $cname:literal;)*) => {
        /// A control request: the `int` a client sends (`include/conntrackd.h`, 1.4.7).
        ///
        /// `Ct*` act on conntracks, `Exp*` on expectations, `All*` on both; "master" is the
        /// kernel table, "internal" / "external" the daemon's caches.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Request {
            $($(#[$doc])* $name = $code,)*
        }

        impl Request {
            /// Every request, in code order.
            pub const ALL: [Self; requests!(@count $($name)*)] = [$(Self::$name,)*];

            /// The request with code `code`, if 1.4.7 defines one.
            pub const fn from_code(code: i32) -> Option<Self> {
                match code {
                    $($code => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// conntrackd's name for the request (`CT_COMMIT`, `STATS_NETWORK`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => $cname,)*
                }
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + requests!(@count $($tail)*) };
}

requests! {
    /// `-F ct`: flush the kernel conntrack table (in a child process). No reply.
    CtFlushMaster = 0, "CT_FLUSH_MASTER";
    /// `-R ct`: re-dump the kernel conntrack table into the internal cache. No reply.
    CtResyncMaster = 1, "CT_RESYNC_MASTER";
    /// `-i`, `-i ct`: dump the internal conntrack cache, one line per entry.
    CtDumpInternal = 16, "CT_DUMP_INTERNAL";
    /// `-e`, `-e ct`: dump the external conntrack cache, one line per entry.
    CtDumpExternal = 17, "CT_DUMP_EXTERNAL";
    /// `-c ct`: commit the external conntrack cache to the kernel; the reply (nothing) comes
    /// when the commit is done.
    CtCommit = 18, "CT_COMMIT";
    /// Flush the internal and external conntrack caches (no 1.4.7 flag sends it; `-f` sends
    /// [`AllFlushCache`](Self::AllFlushCache)). No reply.
    CtFlushCache = 19, "CT_FLUSH_CACHE";
    /// `-k`: stop the daemon. No reply.
    Kill = 20, "KILL";
    /// `-s`, `-s ct`: general statistics ([`write_stats`]).
    Stats = 21, "STATS";
    /// `-B`: send every internal-cache entry to the peers (bulk). No reply.
    SendBulk = 22, "SEND_BULK";
    /// `-n`: ask the peers for a resync (FTFW and NOTRACK). No reply.
    RequestDump = 23, "REQUEST_DUMP";
    /// `-i -x`: dump the internal conntrack cache as XML.
    CtDumpInternalXml = 24, "CT_DUMP_INT_XML";
    /// `-e -x`: dump the external conntrack cache as XML.
    CtDumpExternalXml = 25, "CT_DUMP_EXT_XML";
    /// `-t`: flush the kernel table in `PurgeTimeout` seconds. No reply.
    ResetTimers = 26, "RESET_TIMERS";
    /// Defined, marked unused in 1.4.7; no flag sends it and the daemon ignores it.
    DebugInfo = 27, "DEBUG_INFO";
    /// `-s network`: sync message and sequence tracking errors ([`write_stats_network`]).
    StatsNetwork = 28, "STATS_NETWORK";
    /// `-s cache`: extended cache statistics ([`write_stats_cache`]).
    StatsCache = 29, "STATS_CACHE";
    /// `-s runtime`: uptime, netlink and runtime counters ([`write_stats_runtime`]).
    StatsRuntime = 30, "STATS_RUNTIME";
    /// `-s link` (or the older `-s multicast`): every dedicated link ([`write_stats_link`]).
    StatsLink = 31, "STATS_LINK";
    /// `-s rsqueue`: the FTFW resend queue ([`write_stats_rsqueue`]).
    StatsRsqueue = 32, "STATS_RSQUEUE";
    /// `-f internal`: flush the internal conntrack cache. No reply.
    CtFlushInternalCache = 33, "CT_FLUSH_INT_CACHE";
    /// `-f external`: flush the external conntrack cache. No reply.
    CtFlushExternalCache = 34, "CT_FLUSH_EXT_CACHE";
    /// `-s process`: the daemon's child processes ([`write_stats_process`]).
    StatsProcess = 35, "STATS_PROCESS";
    /// `-s queue`: the daemon's queues ([`write_stats_queue`]).
    StatsQueue = 36, "STATS_QUEUE";
    /// `-s expect`: general statistics of the expectation caches ([`write_stats`]); nothing
    /// without `ExpectationSync`.
    ExpStats = 37, "EXP_STATS";
    /// `-F expect`: flush the kernel expectation table. No reply.
    ExpFlushMaster = 38, "EXP_FLUSH_MASTER";
    /// `-R expect`: re-dump the kernel expectation table into the internal cache. No reply.
    ExpResyncMaster = 39, "EXP_RESYNC_MASTER";
    /// `-i expect`: dump the internal expectation cache.
    ExpDumpInternal = 40, "EXP_DUMP_INTERNAL";
    /// `-e expect`: dump the external expectation cache.
    ExpDumpExternal = 41, "EXP_DUMP_EXTERNAL";
    /// `-c expect`: commit the external expectation cache to the kernel.
    ExpCommit = 42, "EXP_COMMIT";
    /// `-F`: flush the kernel conntrack and expectation tables. No reply.
    AllFlushMaster = 43, "ALL_FLUSH_MASTER";
    /// `-R`: re-dump both kernel tables into the internal caches. No reply.
    AllResyncMaster = 44, "ALL_RESYNC_MASTER";
    /// `-f`: flush all caches. No reply.
    AllFlushCache = 45, "ALL_FLUSH_CACHE";
    /// `-c`: commit all external caches; the reply (nothing) comes when the commit is done.
    AllCommit = 46, "ALL_COMMIT";
    /// `-i expect -x`: dump the internal expectation cache as XML.
    ExpDumpInternalXml = 47, "EXP_DUMP_INT_XML";
    /// `-e expect -x`: dump the external expectation cache as XML.
    ExpDumpExternalXml = 48, "EXP_DUMP_EXT_XML";
}

impl Request {
    /// The request's code, the `int` on the wire.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The request as the client sends it: its code as a native-endian C `int`.
    pub const fn to_bytes(self) -> [u8; REQUEST_LEN] {
        self.code().to_ne_bytes()
    }
}

/// Decodes what a client sent: the first 4 bytes as a native-endian `int` (the daemon reads
/// exactly one `int` and ignores anything after it, as conntrackd does).
pub fn parse_request(bytes: &[u8]) -> Result<Request, ControlError> {
    let Some(&raw) = bytes.first_chunk::<REQUEST_LEN>() else {
        return Err(ControlError::ShortRequest { len: bytes.len() });
    };
    let code = i32::from_ne_bytes(raw);
    Request::from_code(code).ok_or(ControlError::UnknownRequest { code })
}

// ---------------------------------------------------------------------------------------------
// Errors

/// What went wrong decoding a request, a command line, or a reply text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Fewer than 4 bytes arrived before the client closed (conntrackd counts these as
    /// `local read failed` when nothing at all arrived).
    #[error("control request of {len} bytes, an int needs {REQUEST_LEN}")]
    ShortRequest {
        /// Bytes received.
        len: usize,
    },
    /// A code 1.4.7 does not define.
    #[error("unknown control request {code}")]
    UnknownRequest {
        /// The code received.
        code: i32,
    },
    /// A command-line argument that is no known option (conntrackd prints its usage).
    #[error("Unknown option: {option}")]
    UnknownOption {
        /// The argument.
        option: String,
    },
    /// `-f` or `-s` with a parameter it does not know.
    #[error("unknown parameter `{param}' for option `-{option}'")]
    UnknownParameter {
        /// The option letter.
        option: char,
        /// The parameter given.
        param: String,
    },
    /// `-C` as the last argument.
    #[error("Missing config filename")]
    MissingConfigFile,
    /// Options that do not go together: daemon and client options, or `-x` without `-i` or
    /// `-e` before it (conntrackd: "Invalid parameters").
    #[error("Invalid parameters: {reason}")]
    InvalidParameters {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// Client mode was selected but no option chose a request.
    #[error("no control request selected")]
    NoRequest,
    /// A reply text that is not what conntrackd writes.
    #[error("{report} text, byte {offset}: expected {expected}")]
    BadText {
        /// Which text was being read.
        report: &'static str,
        /// Byte offset in the text where reading failed.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
}

// ---------------------------------------------------------------------------------------------
// Client command line

/// What a `conntrackd` command line asks for ([`client_args`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// `-C FILE`; `None` means the default `/etc/conntrackd/conntrackd.conf`.
    pub config_file: Option<String>,
    /// What to do.
    pub command: ClientCommand,
}

/// The mode a `conntrackd` command line selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCommand {
    /// Client mode: send this request to the daemon and print the reply.
    Request(Request),
    /// `-d`: run as a daemon, in the background.
    Daemon,
    /// No mode option: run the daemon in the foreground ("console mode").
    Console,
    /// `-v`: print the version.
    Version,
    /// `-h`: print the usage.
    Help,
}

/// The default configuration file of conntrackd.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/conntrackd/conntrackd.conf";

#[derive(Clone, Copy, PartialEq, Eq)]
enum RunMode {
    Unset,
    Daemon,
    Request,
}

/// Reads a `conntrackd` command line (without the program name) the way conntrackd 1.4.7's
/// `main` does, and returns the request its client would send.
///
/// Kept from conntrackd, so that scripts written for it behave the same:
/// * only the second character of an argument selects the option (`-stats` is `-s`);
/// * a parameter is any following argument not starting with `-`, and matches when it is a
///   prefix of the keyword (`-s net`, `-c e`, `-f int`); the empty string matches the first
///   keyword;
/// * `-c`, `-i`, `-e`, `-F`, `-R` leave an argument that is neither `ct` nor `expect` to be
///   read as the next option;
/// * `-x` must follow `-i` / `-e` (with their `ct` / `expect`); the last request option wins;
/// * `-v` and `-h` take effect where they appear, ignoring what follows.
///
/// Differences: an unknown option is an error here (conntrackd prints its usage and exits 0);
/// `-C` without a file name is an error (conntrackd logs it and uses the default file); a
/// client-mode command line that selects no request is [`ControlError::NoRequest`]
/// (conntrackd would send `-1`).
pub fn client_args<S: AsRef<str>>(args: &[S]) -> Result<ClientRequest, ControlError> {
    let mut mode = RunMode::Unset;
    let mut action: Option<Request> = None;
    let mut config_file = None;
    let mut i = 0;
    let set_mode = |mode: &mut RunMode, want: RunMode| {
        if *mode != RunMode::Unset && *mode != want {
            return Err(ControlError::InvalidParameters {
                reason: "daemon and client options mixed",
            });
        }
        *mode = want;
        Ok(())
    };
    while i < args.len() {
        let arg = args[i].as_ref();
        let next = args
            .get(i + 1)
            .map(AsRef::as_ref)
            .filter(|a| !a.starts_with('-'));
        let opt = arg.as_bytes().get(1).copied().unwrap_or(0);
        let table =
            |ct: Request, exp: Request, dfl: Request, action: &mut Option<Request>| match next {
                Some(p) if is_prefix(p, "ct") => {
                    *action = Some(ct);
                    1
                }
                Some(p) if is_prefix(p, "expect") => {
                    *action = Some(exp);
                    1
                }
                Some(_) => 0,
                None => {
                    *action = Some(dfl);
                    0
                }
            };
        use Request as R;
        match opt {
            b'd' => set_mode(&mut mode, RunMode::Daemon)?,
            b'c' => {
                set_mode(&mut mode, RunMode::Request)?;
                i += table(R::CtCommit, R::ExpCommit, R::AllCommit, &mut action);
            }
            b'i' => {
                set_mode(&mut mode, RunMode::Request)?;
                i += table(
                    R::CtDumpInternal,
                    R::ExpDumpInternal,
                    R::CtDumpInternal,
                    &mut action,
                );
            }
            b'e' => {
                set_mode(&mut mode, RunMode::Request)?;
                i += table(
                    R::CtDumpExternal,
                    R::ExpDumpExternal,
                    R::CtDumpExternal,
                    &mut action,
                );
            }
            b'C' => {
                i += 1;
                let file = args.get(i).ok_or(ControlError::MissingConfigFile)?;
                config_file = Some(String::from(file.as_ref()));
            }
            b'F' => {
                set_mode(&mut mode, RunMode::Request)?;
                i += table(
                    R::CtFlushMaster,
                    R::ExpFlushMaster,
                    R::AllFlushMaster,
                    &mut action,
                );
            }
            b'R' => {
                set_mode(&mut mode, RunMode::Request)?;
                i += table(
                    R::CtResyncMaster,
                    R::ExpResyncMaster,
                    R::AllResyncMaster,
                    &mut action,
                );
            }
            b'f' => {
                set_mode(&mut mode, RunMode::Request)?;
                action = Some(match next {
                    None => R::AllFlushCache,
                    Some(p) => {
                        i += 1;
                        keyword(
                            p,
                            'f',
                            &[
                                ("internal", R::CtFlushInternalCache),
                                ("external", R::CtFlushExternalCache),
                            ],
                        )?
                    }
                });
            }
            b'B' => {
                set_mode(&mut mode, RunMode::Request)?;
                action = Some(R::SendBulk);
            }
            b't' => {
                set_mode(&mut mode, RunMode::Request)?;
                action = Some(R::ResetTimers);
            }
            b'k' => {
                set_mode(&mut mode, RunMode::Request)?;
                action = Some(R::Kill);
            }
            b'n' => {
                set_mode(&mut mode, RunMode::Request)?;
                action = Some(R::RequestDump);
            }
            b's' => {
                set_mode(&mut mode, RunMode::Request)?;
                action = Some(match next {
                    None => R::Stats,
                    Some(p) => {
                        i += 1;
                        keyword(
                            p,
                            's',
                            &[
                                ("network", R::StatsNetwork),
                                ("cache", R::StatsCache),
                                ("runtime", R::StatsRuntime),
                                ("multicast", R::StatsLink),
                                ("link", R::StatsLink),
                                ("rsqueue", R::StatsRsqueue),
                                ("process", R::StatsProcess),
                                ("queue", R::StatsQueue),
                                ("ct", R::Stats),
                                ("expect", R::ExpStats),
                            ],
                        )?
                    }
                });
            }
            b'x' => {
                action = Some(match action {
                    Some(R::CtDumpInternal) => R::CtDumpInternalXml,
                    Some(R::CtDumpExternal) => R::CtDumpExternalXml,
                    Some(R::ExpDumpInternal) => R::ExpDumpInternalXml,
                    Some(R::ExpDumpExternal) => R::ExpDumpExternalXml,
                    _ => {
                        return Err(ControlError::InvalidParameters {
                            reason: "-x needs -i or -e before it",
                        });
                    }
                });
            }
            b'v' => {
                return Ok(ClientRequest {
                    config_file,
                    command: ClientCommand::Version,
                });
            }
            b'h' => {
                return Ok(ClientRequest {
                    config_file,
                    command: ClientCommand::Help,
                });
            }
            _ => {
                return Err(ControlError::UnknownOption {
                    option: String::from(arg),
                });
            }
        }
        i += 1;
    }
    let command = match mode {
        RunMode::Unset => ClientCommand::Console,
        RunMode::Daemon => ClientCommand::Daemon,
        RunMode::Request => ClientCommand::Request(action.ok_or(ControlError::NoRequest)?),
    };
    Ok(ClientRequest {
        config_file,
        command,
    })
}

/// `strncmp(param, word, strlen(param)) == 0`: `param` is a prefix of `word`.
fn is_prefix(param: &str, word: &str) -> bool {
    word.as_bytes().starts_with(param.as_bytes())
}

fn keyword(param: &str, option: char, words: &[(&str, Request)]) -> Result<Request, ControlError> {
    words
        .iter()
        .find(|(w, _)| is_prefix(param, w))
        .map(|&(_, r)| r)
        .ok_or_else(|| ControlError::UnknownParameter {
            option,
            param: String::from(param),
        })
}

// ---------------------------------------------------------------------------------------------
// Reports

/// The counters of one cache (`struct cache` stats in `cache.c`): what `-s` and `-s cache`
/// print for the internal and the external cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheReport {
    /// Objects allocated in the cache, dead ones kept for resends included (`-s cache`).
    pub objects: u32,
    /// Active (live) entries: "current active connections".
    pub active: u32,
    /// Entries in the hash table (`-s cache` "total entries").
    pub entries: u32,
    /// Entries added.
    pub created: u32,
    /// Adds that failed.
    pub create_failed: u32,
    /// Adds that failed for lack of memory.
    pub create_failed_nomem: u32,
    /// Adds that failed because the cache was full (`HashLimit`).
    pub create_failed_nospace: u32,
    /// Entries updated.
    pub updated: u32,
    /// Updates that failed.
    pub update_failed: u32,
    /// Updates of entries not in the cache.
    pub update_failed_not_found: u32,
    /// Entries destroyed.
    pub destroyed: u32,
    /// Destructions that failed.
    pub destroy_failed: u32,
    /// Destructions of entries not in the cache.
    pub destroy_failed_not_found: u32,
}

/// The counters of the internal cache's stand-in under `DisableInternalCache`
/// ("internal bypass"): events passed straight to the peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BypassReport {
    /// New conntracks sent.
    pub new: u32,
    /// Updates sent.
    pub updated: u32,
    /// Destructions sent.
    pub destroyed: u32,
}

/// The counters of the external cache's stand-in under `DisableExternalCache`
/// ("external inject"): received state written straight into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InjectReport {
    /// Conntracks created in the kernel.
    pub created: u32,
    /// Creations that failed.
    pub create_failed: u32,
    /// Conntracks updated.
    pub updated: u32,
    /// Updates that failed.
    pub update_failed: u32,
    /// Conntracks deleted.
    pub destroyed: u32,
    /// Deletions that failed.
    pub destroy_failed: u32,
}

/// The internal side: a cache, or the bypass of `DisableInternalCache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalStats {
    /// `cache internal:`.
    Cache(CacheReport),
    /// `internal bypass:`.
    Bypass(BypassReport),
}

/// The external side: a cache, or the direct injection of `DisableExternalCache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalStats {
    /// `cache external:`.
    Cache(CacheReport),
    /// `external inject:`.
    Inject(InjectReport),
}

/// `traffic processed:` (the kernel's accounting of the conntracks seen; zero unless the
/// daemon reads counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrafficReport {
    /// Bytes, both directions.
    pub bytes: u64,
    /// Packets, both directions.
    pub packets: u64,
}

/// A dedicated link's transport, as the stats name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `UDP traffic`.
    Udp,
    /// `multicast traffic`.
    Multicast,
    /// `TCP traffic`, with the state of its two sockets (shown by `-s` and `-s network`).
    Tcp {
        /// The listening side has a peer connected.
        server_connected: bool,
        /// The connecting side is connected.
        client_connected: bool,
    },
}

/// Sent and received counters of a link (send side: the client socket; receive side: the
/// server socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelCounters {
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_recv: u64,
    /// Datagrams (or stream writes) sent.
    pub packets_sent: u64,
    /// Datagrams (or stream reads) received.
    pub packets_recv: u64,
    /// Send errors.
    pub errors_send: u64,
    /// Receive errors.
    pub errors_recv: u64,
}

/// The active link, as `-s` and `-s network` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReport {
    /// Its transport.
    pub kind: ChannelKind,
    /// Its interface name.
    pub ifname: String,
    /// Its counters.
    pub counters: ChannelCounters,
}

/// `message tracking:` of `-s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageTracking {
    /// Malformed messages received.
    pub malformed: u64,
    /// Messages lost, by sequence tracking.
    pub lost: u64,
}

/// The reply to `-s` (and `-s ct`; `-s expect` has the same form, about the expectation
/// caches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsReport {
    /// The internal cache.
    pub internal: InternalStats,
    /// The external cache.
    pub external: ExternalStats,
    /// `traffic processed:`.
    pub traffic: TrafficReport,
    /// The active link.
    pub channel: ChannelReport,
    /// `message tracking:`.
    pub tracking: MessageTracking,
}

/// The reply to `-s network`: receive and send errors, sequence tracking, and the active link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkReport {
    /// Malformed messages received (all reasons).
    pub rcv_malformed: u64,
    /// Received with a protocol version other than 1.
    pub rcv_bad_version: u32,
    /// Received with a bad header.
    pub rcv_bad_header: u32,
    /// Received with a bad payload (attributes).
    pub rcv_bad_payload: u32,
    /// Received with an unknown type.
    pub rcv_bad_type: u32,
    /// Received truncated.
    pub rcv_truncated: u32,
    /// Received with a bad size.
    pub rcv_bad_size: u32,
    /// Messages that could not be built for sending.
    pub snd_malformed: u32,
    /// Messages lost, by sequence tracking.
    pub rcv_lost: u64,
    /// Messages received with an old sequence number.
    pub rcv_before: u64,
    /// The active link.
    pub channel: ChannelReport,
}

/// The reply to `-s cache`: the extended statistics of both caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStatsReport {
    /// The internal cache (or its bypass, whose text is the same as for `-s`).
    pub internal: InternalStats,
    /// The external cache (or the injection, whose text is the same as for `-s`).
    pub external: ExternalStats,
}

/// The reply to `-s runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuntimeReport {
    /// Seconds since the daemon started (shown as days, hours and minutes).
    pub uptime_secs: u64,
    /// ctnetlink events received.
    pub events_received: u64,
    /// Events dropped by the filter.
    pub events_filtered: u64,
    /// Events of an unknown type.
    pub events_unknown_type: u32,
    /// Events that could not be handled.
    pub catch_event_failed: u32,
    /// Dump messages of an unknown type.
    pub dump_unknown_type: u32,
    /// Netlink socket overruns (ENOBUFS).
    pub netlink_overrun: u32,
    /// Kernel table flushes (`-F`, `-t`).
    pub flush_kernel_table: u32,
    /// Kernel table re-dumps (`-R`, overrun recovery).
    pub resync_kernel_table: u32,
    /// The event socket's receive buffer size in bytes.
    pub netlink_buffer_size: u32,
    /// Child processes that died of a signal.
    pub child_process_failed: u32,
    /// ... of SIGSEGV.
    pub child_process_segfault: u32,
    /// ... of SIGINT, SIGTERM or SIGKILL.
    pub child_process_termsig: u32,
    /// `select` failures.
    pub select_failed: u32,
    /// `waitpid` failures.
    pub wait_failed: u32,
    /// Control connections that closed before sending a request.
    pub local_read_failed: u32,
    /// Control requests the sync mode did not know.
    pub local_unknown_request: u32,
}

/// The carrier state `-s link` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// Up, with carrier.
    Running,
    /// Up, no carrier.
    NoCarrier,
    /// Administratively down.
    Down,
}

impl LinkStatus {
    /// The word conntrackd prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::NoCarrier => "NO-CARRIER",
            Self::Down => "DOWN",
        }
    }
}

/// One dedicated link in `-s link`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    /// Its transport (the TCP socket states are not shown here).
    pub kind: ChannelKind,
    /// Its interface name.
    pub ifname: String,
    /// Its carrier state.
    pub status: LinkStatus,
    /// Whether it is the link in use (`ACTIVE`, otherwise `BACKUP`).
    pub active: bool,
    /// Its counters.
    pub counters: ChannelCounters,
}

/// One entry of the FTFW resend queue (`-s rsqueue`), with its host-order sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsQueueEntry {
    /// A sent control message (ACK, NACK, RESYNC) awaiting acknowledgement.
    Control {
        /// Its sequence number.
        seq: u32,
        /// Its header flags.
        flags: u8,
    },
    /// A cache object sent and not yet acknowledged.
    Object {
        /// Its sequence number.
        seq: u32,
    },
}

/// One queue of `-s queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    /// Its name (`txqueue`, `rsqueue`, `errorq`).
    pub name: String,
    /// Elements queued now.
    pub current: u32,
    /// Its capacity.
    pub max: u32,
    /// Adds refused because it was full.
    pub enospc_errors: u32,
}

/// The reply to `-s queue`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueReport {
    /// Allocated queue nodes (control messages; cache objects are not counted).
    pub allocated_nodes: u32,
    /// Every queue, in the order to print (conntrackd's list order; 1.4.7 in FTFW over UDP
    /// prints `txqueue`, `errorq`, `rsqueue`).
    pub queues: Vec<QueueStats>,
}

/// What a child process does, in `-s process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// `any` (cache dumps).
    Any,
    /// `flush` (kernel table flush).
    Flush,
    /// `commit`.
    Commit,
    /// `unknown`.
    Unknown,
}

impl ChildKind {
    /// The word conntrackd prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Flush => "flush",
            Self::Commit => "commit",
            Self::Unknown => "unknown",
        }
    }
}

/// One child process in `-s process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildProcess {
    /// Its process id.
    pub pid: u32,
    /// What it does.
    pub kind: ChildKind,
}

/// A conntrack's tuple in the reply direction, which `-i` shows for kernel-sourced entries
/// (the wire carries only the original tuple).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTuple {
    /// Source and destination addresses.
    pub addrs: Pair<IpAddr>,
    /// The layer-4 part, printed by the conntrack's protocol.
    pub l4: TupleL4,
}

/// The layer-4 part of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TupleL4 {
    /// Not set (printed as zeros where the protocol has ports).
    #[default]
    None,
    /// Source and destination ports (TCP, UDP, UDP-Lite, SCTP, DCCP).
    Ports(Pair<u16>),
    /// ICMP / ICMPv6 type, code and identifier.
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Identifier.
        id: u16,
    },
}

/// What a `-i` / `-e` line shows besides the synced attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DumpExtras {
    /// The reply tuple: present for internal-cache entries, which come from the kernel;
    /// absent for external-cache entries, built from sync messages.
    pub reply: Option<ReplyTuple>,
    /// The kernel's reference count (`use=`), present for entries read by a kernel dump.
    pub use_count: Option<u32>,
    /// Seconds until a cache timer expires (`[expires in Ns]`, ALARM mode's external cache).
    pub expires_in: Option<i64>,
    /// Seconds since the entry entered the cache (`[active since Ns]`).
    pub active_since: i64,
}

// ---------------------------------------------------------------------------------------------
// Writers

fn write_cache(name: &str, c: &CacheReport, out: &mut String) {
    w!(
        out,
        "cache {name}:\n\
         current active connections:\t{:12}\n\
         connections created:\t\t{:12}\tfailed:\t{:12}\n\
         connections updated:\t\t{:12}\tfailed:\t{:12}\n\
         connections destroyed:\t\t{:12}\tfailed:\t{:12}\n\n",
        c.active,
        c.created,
        c.create_failed,
        c.updated,
        c.update_failed,
        c.destroyed,
        c.destroy_failed
    );
}

fn write_cache_extended(name: &str, c: &CacheReport, out: &mut String) {
    w!(
        out,
        "cache:{name}\tactive objects:\t\t{:12}\n\
         \tactive/total entries:\t\t{:12}/{:12}\n\
         \tcreation OK/failed:\t\t{:12}/{:12}\n\
         \t\tno memory available:\t{:12}\n\
         \t\tno space left in cache:\t{:12}\n\
         \tupdate OK/failed:\t\t{:12}/{:12}\n\
         \t\tentry not found:\t{:12}\n\
         \tdeletion created/failed:\t{:12}/{:12}\n\
         \t\tentry not found:\t{:12}\n\n",
        c.objects,
        c.active,
        c.entries,
        c.created,
        c.create_failed,
        c.create_failed_nomem,
        c.create_failed_nospace,
        c.updated,
        c.update_failed,
        c.update_failed_not_found,
        c.destroyed,
        c.destroy_failed,
        c.destroy_failed_not_found
    );
}

fn write_bypass(b: &BypassReport, out: &mut String) {
    w!(
        out,
        "internal bypass:\n\
         connections new:\t\t{:12}\n\
         connections updated:\t\t{:12}\n\
         connections destroyed:\t\t{:12}\n\n",
        b.new,
        b.updated,
        b.destroyed
    );
}

fn write_inject(j: &InjectReport, out: &mut String) {
    w!(
        out,
        "external inject:\n\
         connections created:\t\t{:12}\tfailed:\t{:12}\n\
         connections updated:\t\t{:12}\tfailed:\t{:12}\n\
         connections destroyed:\t\t{:12}\tfailed:\t{:12}\n\n",
        j.created,
        j.create_failed,
        j.updated,
        j.update_failed,
        j.destroyed,
        j.destroy_failed
    );
}

fn write_internal(s: &InternalStats, extended: bool, out: &mut String) {
    match s {
        InternalStats::Cache(c) if extended => write_cache_extended("internal", c, out),
        InternalStats::Cache(c) => write_cache("internal", c, out),
        InternalStats::Bypass(b) => write_bypass(b, out),
    }
}

fn write_external(s: &ExternalStats, extended: bool, out: &mut String) {
    match s {
        ExternalStats::Cache(c) if extended => write_cache_extended("external", c, out),
        ExternalStats::Cache(c) => write_cache("external", c, out),
        ExternalStats::Inject(j) => write_inject(j, out),
    }
}

const fn kind_word(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Udp => "UDP",
        ChannelKind::Multicast => "multicast",
        ChannelKind::Tcp { .. } => "TCP",
    }
}

const fn connected(c: bool) -> &'static str {
    if c { "connected" } else { "disconnected" }
}

fn write_counters(c: &ChannelCounters, out: &mut String) {
    w!(
        out,
        "{:20} Bytes sent {:20} Bytes recv\n\
         {:20} Pckts sent {:20} Pckts recv\n\
         {:20} Error send {:20} Error recv\n\n",
        c.bytes_sent,
        c.bytes_recv,
        c.packets_sent,
        c.packets_recv,
        c.errors_send,
        c.errors_recv
    );
}

fn write_channel(c: &ChannelReport, out: &mut String) {
    w!(
        out,
        "{} traffic (active device={})",
        kind_word(c.kind),
        c.ifname
    );
    if let ChannelKind::Tcp {
        server_connected,
        client_connected,
    } = c.kind
    {
        w!(
            out,
            " server={} client={}",
            connected(server_connected),
            connected(client_connected)
        );
    }
    out.push_str(":\n");
    write_counters(&c.counters, out);
}

/// Writes the reply to `-s` / `-s ct` / `-s expect`: both caches, `traffic processed:`, the
/// active link and `message tracking:`.
pub fn write_stats(r: &StatsReport, out: &mut String) {
    write_internal(&r.internal, false, out);
    write_external(&r.external, false, out);
    w!(
        out,
        "traffic processed:\n{:20} Bytes      {:20} Pckts\n\n",
        r.traffic.bytes,
        r.traffic.packets
    );
    write_channel(&r.channel, out);
    w!(
        out,
        "message tracking:\n{:20} Malformed msgs {:20} Lost msgs\n\n",
        r.tracking.malformed,
        r.tracking.lost
    );
}

/// Writes the reply to `-s network`.
pub fn write_stats_network(r: &NetworkReport, out: &mut String) {
    w!(
        out,
        "network statistics:\n\
         \trecv:\n\
         \t\tMalformed messages:\t{:20}\n\
         \t\tWrong protocol version:\t{:20}\n\
         \t\tMalformed header:\t{:20}\n\
         \t\tMalformed payload:\t{:20}\n\
         \t\tBad message type:\t{:20}\n\
         \t\tTruncated message:\t{:20}\n\
         \t\tBad message size:\t{:20}\n\
         \tsend:\n\
         \t\tMalformed messages:\t{:20}\n\n\
         sequence tracking statistics:\n\
         \trecv:\n\
         \t\tPackets lost:\t\t{:20}\n\
         \t\tPackets before:\t\t{:20}\n\n",
        r.rcv_malformed,
        r.rcv_bad_version,
        r.rcv_bad_header,
        r.rcv_bad_payload,
        r.rcv_bad_type,
        r.rcv_truncated,
        r.rcv_bad_size,
        r.snd_malformed,
        r.rcv_lost,
        r.rcv_before
    );
    write_channel(&r.channel, out);
}

/// Writes the reply to `-s cache`.
pub fn write_stats_cache(r: &CacheStatsReport, out: &mut String) {
    write_internal(&r.internal, true, out);
    write_external(&r.external, true, out);
}

/// conntrackd's uptime: `[D day[s] ](H h M min|M min)`.
fn write_uptime(secs: u64, out: &mut String) {
    let days = secs / 86_400;
    if days != 0 {
        w!(out, "{days} day{} ", if days == 1 { "" } else { "s" });
    }
    let minutes = secs / 60;
    let hours = (minutes / 60) % 24;
    let minutes = minutes % 60;
    if hours != 0 {
        w!(out, "{hours} h {minutes} min");
    } else {
        w!(out, "{minutes} min");
    }
}

/// Writes the reply to `-s runtime`.
pub fn write_stats_runtime(r: &RuntimeReport, out: &mut String) {
    out.push_str("daemon uptime: ");
    write_uptime(r.uptime_secs, out);
    w!(
        out,
        "\n\n\
         netlink stats:\n\
         \tevents received:\t{:20}\n\
         \tevents filtered:\t{:20}\n\
         \tevents unknown type:\t\t{:12}\n\
         \tcatch event failed:\t\t{:12}\n\
         \tdump unknown type:\t\t{:12}\n\
         \tnetlink overrun:\t\t{:12}\n\
         \tflush kernel table:\t\t{:12}\n\
         \tresync with kernel table:\t{:12}\n\
         \tcurrent buffer size (in bytes):\t{:12}\n\n\
         runtime stats:\n\
         \tchild process failed:\t\t{:12}\n\
         \t\tchild process segfault:\t{:12}\n\
         \t\tchild process termsig:\t{:12}\n\
         \tselect failed:\t\t\t{:12}\n\
         \twait failed:\t\t\t{:12}\n\
         \tlocal read failed:\t\t{:12}\n\
         \tlocal unknown request:\t\t{:12}\n\n",
        r.events_received,
        r.events_filtered,
        r.events_unknown_type,
        r.catch_event_failed,
        r.dump_unknown_type,
        r.netlink_overrun,
        r.flush_kernel_table,
        r.resync_kernel_table,
        r.netlink_buffer_size,
        r.child_process_failed,
        r.child_process_segfault,
        r.child_process_termsig,
        r.select_failed,
        r.wait_failed,
        r.local_read_failed,
        r.local_unknown_request
    );
}

/// Writes the reply to `-s link`: every dedicated link, in configuration order.
pub fn write_stats_link(links: &[LinkReport], out: &mut String) {
    for l in links {
        w!(
            out,
            "{} traffic device={} status={} role={}:\n",
            kind_word(l.kind),
            l.ifname,
            l.status.as_str(),
            if l.active { "ACTIVE" } else { "BACKUP" }
        );
        write_counters(&l.counters, out);
    }
}

/// Writes the reply to `-s rsqueue` (FTFW): the queue length, then its entries oldest first.
pub fn write_stats_rsqueue(entries: &[RsQueueEntry], out: &mut String) {
    w!(out, "resent queue (len={})\n", entries.len());
    for e in entries {
        match *e {
            RsQueueEntry::Control { seq, flags } => {
                w!(out, "control -> seq:{seq} flags:{flags}\n");
            }
            RsQueueEntry::Object { seq } => w!(out, "object -> seq:{seq}\n"),
        }
    }
}

/// Writes the reply to `-s queue`.
pub fn write_stats_queue(r: &QueueReport, out: &mut String) {
    w!(
        out,
        "allocated queue nodes:\t\t{:12}\n\n",
        r.allocated_nodes
    );
    for q in &r.queues {
        w!(
            out,
            "queue {}:\n\
             current elements:\t\t{:12}\n\
             maximum elements:\t\t{:12}\n\
             not enough space errors:\t{:12}\n\n",
            q.name,
            q.current,
            q.max,
            q.enospc_errors
        );
    }
}

/// Writes the reply to `-s process` (nothing when there is no child).
pub fn write_stats_process(children: &[ChildProcess], out: &mut String) {
    for c in children {
        w!(out, "PID={} type={}\n", c.pid, c.kind.as_str());
    }
}

/// libnetfilter_conntrack's protocol names.
fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        136 => "udplite",
        1 => "icmp",
        58 => "icmpv6",
        132 => "sctp",
        47 => "gre",
        33 => "dccp",
        _ => "unknown",
    }
}

const TCP_STATES: [&str; 10] = [
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "SYN_SENT2",
];
const SCTP_STATES: [&str; 10] = [
    "NONE",
    "CLOSED",
    "COOKIE_WAIT",
    "COOKIE_ECHOED",
    "ESTABLISHED",
    "SHUTDOWN_SENT",
    "SHUTDOWN_RECD",
    "SHUTDOWN_ACK_SENT",
    "HEARTBEAT_SENT",
    "HEARTBEAT_ACKED",
];
const DCCP_STATES: [&str; 10] = [
    "NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE",
    "INVALID",
];

/// `IPS_OFFLOAD`.
const IPS_OFFLOAD: u32 = 1 << 14;
/// `IPS_HW_OFFLOAD`.
const IPS_HW_OFFLOAD: u32 = 1 << 15;

fn state_name(table: &[&'static str; 10], s: u8) -> &'static str {
    table.get(usize::from(s)).copied().unwrap_or(table[0])
}

/// Whether protocol `p` prints `sport=` / `dport=`.
const fn has_ports(p: u8) -> bool {
    matches!(p, 6 | 17 | 136 | 132 | 33)
}

fn write_l4(proto: u8, l4: &TupleL4, out: &mut String) {
    match proto {
        p if has_ports(p) => {
            let ports = match *l4 {
                TupleL4::Ports(p) => p,
                _ => Pair::new(0, 0),
            };
            w!(out, "sport={} dport={} ", ports.src, ports.dst);
        }
        47 => out.push_str("srckey=0x0 dstkey=0x0 "),
        1 | 58 => {
            let (ty, code, id) = match *l4 {
                TupleL4::Icmp { ty, code, id } => (ty, code, id),
                _ => (0, 0, 0),
            };
            w!(out, "type={ty} code={code} id={id} ");
        }
        _ => {}
    }
}

/// The original tuple's layer-4 part as the synced attributes give it.
fn orig_l4(ct: &CtRepr) -> TupleL4 {
    match ct.l4proto {
        Some(1 | 58) => TupleL4::Icmp {
            ty: ct.icmp_type.unwrap_or(0),
            code: ct.icmp_code.unwrap_or(0),
            id: ct.icmp_id.unwrap_or(0),
        },
        _ => ct.port.map_or(TupleL4::None, TupleL4::Ports),
    }
}

/// Writes one line of `-i` / `-e` (conntrackd's `cache_ct_dump_step`: libnetfilter_
/// conntrack's default one-line form without the timeout, then the cache's extras), newline
/// included. See the [module docs](self) for what cannot be shown.
pub fn write_ct_dump_entry(ct: &CtRepr, extras: &DumpExtras, out: &mut String) {
    let start = out.len();
    if let Some(p) = ct.l4proto {
        w!(out, "{:<8} {p} ", proto_name(p));
    }
    if let Some(s) = ct.tcp_state {
        w!(out, "{} ", state_name(&TCP_STATES, s));
    }
    if let Some(s) = ct.sctp_state {
        w!(out, "{} ", state_name(&SCTP_STATES, s));
    }
    if let Some(s) = ct.dccp_state {
        w!(out, "{} ", state_name(&DCCP_STATES, s));
    }
    if let Some(a) = ct.ipv4 {
        w!(out, "src={} dst={} ", a.src, a.dst);
    } else if let Some(a) = ct.ipv6 {
        w!(out, "src={} dst={} ", a.src, a.dst);
    }
    let proto = ct.l4proto.unwrap_or(0);
    write_l4(proto, &orig_l4(ct), out);
    if ct.status.is_some_and(|s| s & status::SEEN_REPLY == 0) {
        out.push_str("[UNREPLIED] ");
    }
    if let Some(r) = &extras.reply {
        w!(out, "src={} dst={} ", r.addrs.src, r.addrs.dst);
        write_l4(proto, &r.l4, out);
    }
    if let Some(s) = ct.status {
        if s & IPS_HW_OFFLOAD != 0 {
            out.push_str("[HW_OFFLOAD] ");
        } else if s & IPS_OFFLOAD != 0 {
            out.push_str("[OFFLOAD] ");
        } else if s & status::ASSURED != 0 {
            out.push_str("[ASSURED] ");
        }
    }
    if let Some(m) = ct.mark {
        w!(out, "mark={m} ");
    }
    if let Some(z) = ct.zone {
        w!(out, "zone={z} ");
    }
    if let Some(h) = &ct.helper_name {
        w!(out, "helper={} ", String::from_utf8_lossy(h.name_bytes()));
    }
    if let Some(u) = extras.use_count {
        w!(out, "use={u} ");
    }
    // libnetfilter_conntrack drops the last blank.
    if out.len() > start && out.ends_with(' ') {
        out.pop();
    }
    if let Some(e) = extras.expires_in {
        w!(out, " [expires in {e}s]");
    }
    w!(out, " [active since {}s]\n", extras.active_since);
}

// ---------------------------------------------------------------------------------------------
// Parsers (conntrackd's text back into the reports)

/// A cursor over a reply text.
struct Scan<'a> {
    text: &'a str,
    pos: usize,
    report: &'static str,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str, report: &'static str) -> Self {
        Self {
            text,
            pos: 0,
            report,
        }
    }

    fn err(&self, expected: &'static str) -> ControlError {
        ControlError::BadText {
            report: self.report,
            offset: self.pos,
            expected,
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn at(&self, lit: &str) -> bool {
        self.rest().starts_with(lit)
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn lit(&mut self, lit: &'static str) -> Result<(), ControlError> {
        if self.at(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.err(lit))
        }
    }

    /// A decimal number, after any padding blanks.
    fn num<T: FromStr>(&mut self) -> Result<T, ControlError> {
        let rest = self.rest();
        let pad = rest.len() - rest.trim_start_matches(' ').len();
        let digits = rest[pad..].bytes().take_while(u8::is_ascii_digit).count();
        let n = rest[pad..pad + digits]
            .parse()
            .map_err(|_| self.err("a number"))?;
        self.pos += pad + digits;
        Ok(n)
    }

    /// Text up to (not including) `stop`, which must follow on the same line.
    fn until(&mut self, stop: &'static str) -> Result<&'a str, ControlError> {
        let rest = self.rest();
        let n = rest
            .find(stop)
            .filter(|&n| !rest[..n].contains('\n'))
            .ok_or_else(|| self.err(stop))?;
        self.pos += n;
        Ok(&rest[..n])
    }

    fn word(
        &mut self,
        words: &[&'static str],
        expected: &'static str,
    ) -> Result<usize, ControlError> {
        let i = words
            .iter()
            .position(|w| self.at(w))
            .ok_or_else(|| self.err(expected))?;
        self.pos += words[i].len();
        Ok(i)
    }

    fn end(&self) -> Result<(), ControlError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err("the end of the text"))
        }
    }
}

fn scan_cache_body(s: &mut Scan<'_>) -> Result<CacheReport, ControlError> {
    let mut c = CacheReport::default();
    s.lit("current active connections:\t")?;
    c.active = s.num()?;
    s.lit("\nconnections created:\t\t")?;
    c.created = s.num()?;
    s.lit("\tfailed:\t")?;
    c.create_failed = s.num()?;
    s.lit("\nconnections updated:\t\t")?;
    c.updated = s.num()?;
    s.lit("\tfailed:\t")?;
    c.update_failed = s.num()?;
    s.lit("\nconnections destroyed:\t\t")?;
    c.destroyed = s.num()?;
    s.lit("\tfailed:\t")?;
    c.destroy_failed = s.num()?;
    s.lit("\n\n")?;
    Ok(c)
}

fn scan_cache_extended_body(s: &mut Scan<'_>) -> Result<CacheReport, ControlError> {
    let mut c = CacheReport::default();
    s.lit("\tactive objects:\t\t")?;
    c.objects = s.num()?;
    s.lit("\n\tactive/total entries:\t\t")?;
    c.active = s.num()?;
    s.lit("/")?;
    c.entries = s.num()?;
    s.lit("\n\tcreation OK/failed:\t\t")?;
    c.created = s.num()?;
    s.lit("/")?;
    c.create_failed = s.num()?;
    s.lit("\n\t\tno memory available:\t")?;
    c.create_failed_nomem = s.num()?;
    s.lit("\n\t\tno space left in cache:\t")?;
    c.create_failed_nospace = s.num()?;
    s.lit("\n\tupdate OK/failed:\t\t")?;
    c.updated = s.num()?;
    s.lit("/")?;
    c.update_failed = s.num()?;
    s.lit("\n\t\tentry not found:\t")?;
    c.update_failed_not_found = s.num()?;
    s.lit("\n\tdeletion created/failed:\t")?;
    c.destroyed = s.num()?;
    s.lit("/")?;
    c.destroy_failed = s.num()?;
    s.lit("\n\t\tentry not found:\t")?;
    c.destroy_failed_not_found = s.num()?;
    s.lit("\n\n")?;
    Ok(c)
}

fn scan_bypass_body(s: &mut Scan<'_>) -> Result<BypassReport, ControlError> {
    let mut b = BypassReport::default();
    s.lit("connections new:\t\t")?;
    b.new = s.num()?;
    s.lit("\nconnections updated:\t\t")?;
    b.updated = s.num()?;
    s.lit("\nconnections destroyed:\t\t")?;
    b.destroyed = s.num()?;
    s.lit("\n\n")?;
    Ok(b)
}

fn scan_inject_body(s: &mut Scan<'_>) -> Result<InjectReport, ControlError> {
    let mut j = InjectReport::default();
    s.lit("connections created:\t\t")?;
    j.created = s.num()?;
    s.lit("\tfailed:\t")?;
    j.create_failed = s.num()?;
    s.lit("\nconnections updated:\t\t")?;
    j.updated = s.num()?;
    s.lit("\tfailed:\t")?;
    j.update_failed = s.num()?;
    s.lit("\nconnections destroyed:\t\t")?;
    j.destroyed = s.num()?;
    s.lit("\tfailed:\t")?;
    j.destroy_failed = s.num()?;
    s.lit("\n\n")?;
    Ok(j)
}

fn scan_internal(s: &mut Scan<'_>, extended: bool) -> Result<InternalStats, ControlError> {
    if s.at("internal bypass:\n") {
        s.lit("internal bypass:\n")?;
        return scan_bypass_body(s).map(InternalStats::Bypass);
    }
    if extended {
        s.lit("cache:internal")?;
        scan_cache_extended_body(s).map(InternalStats::Cache)
    } else {
        s.lit("cache internal:\n")?;
        scan_cache_body(s).map(InternalStats::Cache)
    }
}

fn scan_external(s: &mut Scan<'_>, extended: bool) -> Result<ExternalStats, ControlError> {
    if s.at("external inject:\n") {
        s.lit("external inject:\n")?;
        return scan_inject_body(s).map(ExternalStats::Inject);
    }
    if extended {
        s.lit("cache:external")?;
        scan_cache_extended_body(s).map(ExternalStats::Cache)
    } else {
        s.lit("cache external:\n")?;
        scan_cache_body(s).map(ExternalStats::Cache)
    }
}

fn scan_counters(s: &mut Scan<'_>) -> Result<ChannelCounters, ControlError> {
    let mut c = ChannelCounters {
        bytes_sent: s.num()?,
        ..ChannelCounters::default()
    };
    s.lit(" Bytes sent ")?;
    c.bytes_recv = s.num()?;
    s.lit(" Bytes recv\n")?;
    c.packets_sent = s.num()?;
    s.lit(" Pckts sent ")?;
    c.packets_recv = s.num()?;
    s.lit(" Pckts recv\n")?;
    c.errors_send = s.num()?;
    s.lit(" Error send ")?;
    c.errors_recv = s.num()?;
    s.lit(" Error recv\n\n")?;
    Ok(c)
}

const KIND_WORDS: [&str; 3] = ["UDP traffic ", "multicast traffic ", "TCP traffic "];

fn scan_channel(s: &mut Scan<'_>) -> Result<ChannelReport, ControlError> {
    let k = s.word(&KIND_WORDS, "UDP, multicast or TCP traffic")?;
    s.lit("(active device=")?;
    let ifname = String::from(s.until(")")?);
    s.lit(")")?;
    let kind = match k {
        0 => ChannelKind::Udp,
        1 => ChannelKind::Multicast,
        _ => {
            s.lit(" server=")?;
            let server = s.word(&["connected", "disconnected"], "(dis)connected")? == 0;
            s.lit(" client=")?;
            let client = s.word(&["connected", "disconnected"], "(dis)connected")? == 0;
            ChannelKind::Tcp {
                server_connected: server,
                client_connected: client,
            }
        }
    };
    s.lit(":\n")?;
    Ok(ChannelReport {
        kind,
        ifname,
        counters: scan_counters(s)?,
    })
}

/// Reads the text of `-s` (as [`write_stats`] writes it).
pub fn parse_stats(text: &str) -> Result<StatsReport, ControlError> {
    let s = &mut Scan::new(text, "stats");
    let internal = scan_internal(s, false)?;
    let external = scan_external(s, false)?;
    s.lit("traffic processed:\n")?;
    let bytes = s.num()?;
    s.lit(" Bytes      ")?;
    let packets = s.num()?;
    s.lit(" Pckts\n\n")?;
    let channel = scan_channel(s)?;
    s.lit("message tracking:\n")?;
    let malformed = s.num()?;
    s.lit(" Malformed msgs ")?;
    let lost = s.num()?;
    s.lit(" Lost msgs\n\n")?;
    s.end()?;
    Ok(StatsReport {
        internal,
        external,
        traffic: TrafficReport { bytes, packets },
        channel,
        tracking: MessageTracking { malformed, lost },
    })
}

/// Reads the text of `-s network`.
pub fn parse_stats_network(text: &str) -> Result<NetworkReport, ControlError> {
    let s = &mut Scan::new(text, "network stats");
    s.lit("network statistics:\n\trecv:\n\t\tMalformed messages:\t")?;
    let rcv_malformed = s.num()?;
    s.lit("\n\t\tWrong protocol version:\t")?;
    let rcv_bad_version = s.num()?;
    s.lit("\n\t\tMalformed header:\t")?;
    let rcv_bad_header = s.num()?;
    s.lit("\n\t\tMalformed payload:\t")?;
    let rcv_bad_payload = s.num()?;
    s.lit("\n\t\tBad message type:\t")?;
    let rcv_bad_type = s.num()?;
    s.lit("\n\t\tTruncated message:\t")?;
    let rcv_truncated = s.num()?;
    s.lit("\n\t\tBad message size:\t")?;
    let rcv_bad_size = s.num()?;
    s.lit("\n\tsend:\n\t\tMalformed messages:\t")?;
    let snd_malformed = s.num()?;
    s.lit("\n\nsequence tracking statistics:\n\trecv:\n\t\tPackets lost:\t\t")?;
    let rcv_lost = s.num()?;
    s.lit("\n\t\tPackets before:\t\t")?;
    let rcv_before = s.num()?;
    s.lit("\n\n")?;
    let channel = scan_channel(s)?;
    s.end()?;
    Ok(NetworkReport {
        rcv_malformed,
        rcv_bad_version,
        rcv_bad_header,
        rcv_bad_payload,
        rcv_bad_type,
        rcv_truncated,
        rcv_bad_size,
        snd_malformed,
        rcv_lost,
        rcv_before,
        channel,
    })
}

/// Reads the text of `-s cache`.
pub fn parse_stats_cache(text: &str) -> Result<CacheStatsReport, ControlError> {
    let s = &mut Scan::new(text, "cache stats");
    let internal = scan_internal(s, true)?;
    let external = scan_external(s, true)?;
    s.end()?;
    Ok(CacheStatsReport { internal, external })
}

/// Reads the text of `-s runtime`. The uptime is read back as whole minutes (all the text
/// holds).
pub fn parse_stats_runtime(text: &str) -> Result<RuntimeReport, ControlError> {
    let s = &mut Scan::new(text, "runtime stats");
    s.lit("daemon uptime: ")?;
    let mut secs = 0u64;
    let first: u64 = s.num()?;
    let minutes = if s.at(" day") {
        s.word(&[" days ", " day "], "day(s)")?;
        secs = first.saturating_mul(86_400);
        s.num()?
    } else {
        first
    };
    let minutes = if s.at(" h ") {
        s.lit(" h ")?;
        secs = secs.saturating_add(minutes.saturating_mul(3600));
        s.num()?
    } else {
        minutes
    };
    s.lit(" min\n\nnetlink stats:\n\tevents received:\t")?;
    let mut r = RuntimeReport {
        uptime_secs: secs.saturating_add(minutes.saturating_mul(60)),
        events_received: s.num()?,
        ..RuntimeReport::default()
    };
    s.lit("\n\tevents filtered:\t")?;
    r.events_filtered = s.num()?;
    s.lit("\n\tevents unknown type:\t\t")?;
    r.events_unknown_type = s.num()?;
    s.lit("\n\tcatch event failed:\t\t")?;
    r.catch_event_failed = s.num()?;
    s.lit("\n\tdump unknown type:\t\t")?;
    r.dump_unknown_type = s.num()?;
    s.lit("\n\tnetlink overrun:\t\t")?;
    r.netlink_overrun = s.num()?;
    s.lit("\n\tflush kernel table:\t\t")?;
    r.flush_kernel_table = s.num()?;
    s.lit("\n\tresync with kernel table:\t")?;
    r.resync_kernel_table = s.num()?;
    s.lit("\n\tcurrent buffer size (in bytes):\t")?;
    r.netlink_buffer_size = s.num()?;
    s.lit("\n\nruntime stats:\n\tchild process failed:\t\t")?;
    r.child_process_failed = s.num()?;
    s.lit("\n\t\tchild process segfault:\t")?;
    r.child_process_segfault = s.num()?;
    s.lit("\n\t\tchild process termsig:\t")?;
    r.child_process_termsig = s.num()?;
    s.lit("\n\tselect failed:\t\t\t")?;
    r.select_failed = s.num()?;
    s.lit("\n\twait failed:\t\t\t")?;
    r.wait_failed = s.num()?;
    s.lit("\n\tlocal read failed:\t\t")?;
    r.local_read_failed = s.num()?;
    s.lit("\n\tlocal unknown request:\t\t")?;
    r.local_unknown_request = s.num()?;
    s.lit("\n\n")?;
    s.end()?;
    Ok(r)
}

/// Reads the text of `-s link`.
pub fn parse_stats_link(text: &str) -> Result<Vec<LinkReport>, ControlError> {
    let s = &mut Scan::new(text, "link stats");
    let mut links = Vec::new();
    while !s.at_end() {
        let kind = match s.word(&KIND_WORDS, "UDP, multicast or TCP traffic")? {
            0 => ChannelKind::Udp,
            1 => ChannelKind::Multicast,
            _ => ChannelKind::Tcp {
                server_connected: false,
                client_connected: false,
            },
        };
        s.lit("device=")?;
        let ifname = String::from(s.until(" status=")?);
        s.lit(" status=")?;
        let status = match s.word(&["RUNNING", "NO-CARRIER", "DOWN"], "a link status")? {
            0 => LinkStatus::Running,
            1 => LinkStatus::NoCarrier,
            _ => LinkStatus::Down,
        };
        s.lit(" role=")?;
        let active = s.word(&["ACTIVE", "BACKUP"], "ACTIVE or BACKUP")? == 0;
        s.lit(":\n")?;
        let counters = scan_counters(s)?;
        links.push(LinkReport {
            kind,
            ifname,
            status,
            active,
            counters,
        });
    }
    Ok(links)
}

/// Reads the text of `-s rsqueue`; the announced length must match the entries.
pub fn parse_stats_rsqueue(text: &str) -> Result<Vec<RsQueueEntry>, ControlError> {
    let s = &mut Scan::new(text, "rsqueue stats");
    s.lit("resent queue (len=")?;
    let len: usize = s.num()?;
    s.lit(")\n")?;
    let mut entries = Vec::new();
    while !s.at_end() {
        if s.at("control") {
            s.lit("control -> seq:")?;
            let seq = s.num()?;
            s.lit(" flags:")?;
            let flags = s.num()?;
            entries.push(RsQueueEntry::Control { seq, flags });
        } else {
            s.lit("object -> seq:")?;
            entries.push(RsQueueEntry::Object { seq: s.num()? });
        }
        s.lit("\n")?;
    }
    if entries.len() != len {
        return Err(s.err("as many entries as the announced length"));
    }
    Ok(entries)
}

/// Reads the text of `-s queue`.
pub fn parse_stats_queue(text: &str) -> Result<QueueReport, ControlError> {
    let s = &mut Scan::new(text, "queue stats");
    s.lit("allocated queue nodes:\t\t")?;
    let mut r = QueueReport {
        allocated_nodes: s.num()?,
        queues: Vec::new(),
    };
    s.lit("\n\n")?;
    while !s.at_end() {
        s.lit("queue ")?;
        let name = String::from(s.until(":\n")?);
        s.lit(":\ncurrent elements:\t\t")?;
        let current = s.num()?;
        s.lit("\nmaximum elements:\t\t")?;
        let max = s.num()?;
        s.lit("\nnot enough space errors:\t")?;
        let enospc_errors = s.num()?;
        s.lit("\n\n")?;
        r.queues.push(QueueStats {
            name,
            current,
            max,
            enospc_errors,
        });
    }
    Ok(r)
}

/// Reads the text of `-s process`.
pub fn parse_stats_process(text: &str) -> Result<Vec<ChildProcess>, ControlError> {
    let s = &mut Scan::new(text, "process stats");
    let mut children = Vec::new();
    while !s.at_end() {
        s.lit("PID=")?;
        let pid = s.num()?;
        s.lit(" type=")?;
        let kind = match s.word(&["any", "flush", "commit", "unknown"], "a process type")? {
            0 => ChildKind::Any,
            1 => ChildKind::Flush,
            2 => ChildKind::Commit,
            _ => ChildKind::Unknown,
        };
        s.lit("\n")?;
        children.push(ChildProcess { pid, kind });
    }
    Ok(children)
}

/// Reads one `-i` / `-e` line (with or without its newline) back into the attributes it shows.
///
/// Lossy where the text is: the status becomes just `SEEN_REPLY` (unless `[UNREPLIED]`) and
/// `ASSURED` (if `[ASSURED]`; `[OFFLOAD]` / `[HW_OFFLOAD]` set those bits instead), and a
/// state name that stands for an out-of-range value reads back as 0. Writing the result gives
/// the line back.
pub fn parse_ct_dump_entry(line: &str) -> Result<(CtRepr, DumpExtras), ControlError> {
    const R: &str = "dump line";
    let line = line.strip_suffix('\n').unwrap_or(line);
    let err = |offset: usize, expected: &'static str| ControlError::BadText {
        report: R,
        offset,
        expected,
    };
    let mut ct = CtRepr::default();
    let mut extras = DumpExtras::default();

    // The bracketed extras at the end.
    let mut body = line;
    let (head, active) = body
        .rsplit_once(" [active since ")
        .ok_or_else(|| err(0, "[active since Ns]"))?;
    extras.active_since = active
        .strip_suffix("s]")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| err(head.len(), "[active since Ns]"))?;
    body = head;
    if let Some((head, exp)) = body.rsplit_once(" [expires in ") {
        extras.expires_in = Some(
            exp.strip_suffix("s]")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| err(head.len(), "[expires in Ns]"))?,
        );
        body = head;
    }

    let tokens: Vec<&str> = body.split(' ').filter(|t| !t.is_empty()).collect();
    let mut t = tokens.iter().copied().peekable();
    let name = t.next().ok_or_else(|| err(0, "a protocol name"))?;
    let proto: u8 = t
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| err(name.len(), "a protocol number"))?;
    ct.l4proto = Some(proto);
    // States: words without '=' or '[' before the first address.
    while let Some(&tok) = t.peek() {
        if tok.contains('=') || tok.starts_with('[') {
            break;
        }
        t.next();
        let find = |table: &[&str; 10]| table.iter().position(|s| *s == tok).map(|i| i as u8);
        match proto {
            6 => ct.tcp_state = Some(find(&TCP_STATES).ok_or_else(|| err(0, "a TCP state"))?),
            132 => {
                ct.sctp_state = Some(find(&SCTP_STATES).ok_or_else(|| err(0, "an SCTP state"))?);
            }
            33 => {
                ct.dccp_state = Some(find(&DCCP_STATES).ok_or_else(|| err(0, "a DCCP state"))?);
            }
            _ => return Err(err(0, "no state for this protocol")),
        }
    }
    let mut status_bits = status::SEEN_REPLY;
    let mut orig_done = false;
    let mut reply_addrs: Option<Pair<IpAddr>> = None;
    let mut reply_l4 = TupleL4::None;
    let mut orig_l4_val = TupleL4::None;
    let mut pending_src: Option<IpAddr> = None;
    for tok in t {
        let (key, val) = tok.split_once('=').unwrap_or((tok, ""));
        let l4 = if orig_done {
            &mut reply_l4
        } else {
            &mut orig_l4_val
        };
        match key {
            "src" => {
                if pending_src.is_some() || reply_addrs.is_some() {
                    return Err(err(0, "one src= per tuple"));
                }
                if ct.ipv4.is_some() || ct.ipv6.is_some() {
                    orig_done = true;
                }
                pending_src = Some(val.parse().map_err(|_| err(0, "an address"))?);
            }
            "dst" => {
                let src = pending_src
                    .take()
                    .ok_or_else(|| err(0, "src= before dst="))?;
                let dst: IpAddr = val.parse().map_err(|_| err(0, "an address"))?;
                if orig_done {
                    reply_addrs = Some(Pair::new(src, dst));
                } else {
                    match (src, dst) {
                        (IpAddr::V4(s), IpAddr::V4(d)) => ct.ipv4 = Some(Pair::new(s, d)),
                        (IpAddr::V6(s), IpAddr::V6(d)) => ct.ipv6 = Some(Pair::new(s, d)),
                        _ => return Err(err(0, "addresses of one family")),
                    }
                }
            }
            "sport" | "dport" => {
                let v: u16 = val.parse().map_err(|_| err(0, "a port"))?;
                let mut p = match *l4 {
                    TupleL4::Ports(p) => p,
                    _ => Pair::new(0, 0),
                };
                if key == "sport" {
                    p.src = v;
                } else {
                    p.dst = v;
                }
                *l4 = TupleL4::Ports(p);
            }
            "type" | "code" | "id" => {
                let (mut ty, mut code, mut id) = match *l4 {
                    TupleL4::Icmp { ty, code, id } => (ty, code, id),
                    _ => (0, 0, 0),
                };
                match key {
                    "type" => ty = val.parse().map_err(|_| err(0, "an ICMP type"))?,
                    "code" => code = val.parse().map_err(|_| err(0, "an ICMP code"))?,
                    _ => id = val.parse().map_err(|_| err(0, "an ICMP id"))?,
                }
                *l4 = TupleL4::Icmp { ty, code, id };
            }
            "srckey" | "dstkey" if proto == 47 => {}
            "[UNREPLIED]" => {
                status_bits &= !status::SEEN_REPLY;
                orig_done = true;
            }
            "[ASSURED]" | "[OFFLOAD]" | "[HW_OFFLOAD]" => {
                status_bits |= match key {
                    "[ASSURED]" => status::ASSURED,
                    "[OFFLOAD]" => IPS_OFFLOAD,
                    _ => IPS_HW_OFFLOAD,
                };
                orig_done = true;
            }
            "mark" => ct.mark = Some(val.parse().map_err(|_| err(0, "a mark"))?),
            "zone" => ct.zone = Some(val.parse().map_err(|_| err(0, "a zone"))?),
            "helper" => {
                ct.helper_name = Some(AttrStr::new(val).ok_or_else(|| err(0, "a helper name"))?);
            }
            "use" => extras.use_count = Some(val.parse().map_err(|_| err(0, "a use count"))?),
            _ => return Err(err(0, "a known field")),
        }
    }
    if pending_src.is_some() {
        return Err(err(line.len(), "dst= after src="));
    }
    // The text cannot tell a missing status from one without SEEN_REPLY's absence and
    // ASSURED; conntrackd's entries always carry one.
    ct.status = Some(status_bits);
    match proto {
        1 | 58 => {
            if let TupleL4::Icmp { ty, code, id } = orig_l4_val {
                ct.icmp_type = Some(ty);
                ct.icmp_code = Some(code);
                ct.icmp_id = Some(id);
            }
        }
        _ => {
            if let TupleL4::Ports(p) = orig_l4_val {
                ct.port = Some(p);
            }
        }
    }
    extras.reply = reply_addrs.map(|addrs| ReplyTuple {
        addrs,
        l4: reply_l4,
    });
    Ok((ct, extras))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ct::tcp_state;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn codes_round_trip() {
        for r in Request::ALL {
            assert_eq!(Request::from_code(r.code()), Some(r));
            assert_eq!(parse_request(&r.to_bytes()), Ok(r));
        }
        assert_eq!(Request::ALL.len(), 35);
    }

    #[test]
    fn uptime_forms() {
        let up = |s| {
            let mut o = String::new();
            write_uptime(s, &mut o);
            o
        };
        assert_eq!(up(59), "0 min");
        assert_eq!(up(3600 + 120), "1 h 2 min");
        assert_eq!(up(86_400 + 60), "1 day 1 min");
        assert_eq!(up(2 * 86_400 + 3 * 3600), "2 days 3 h 0 min");
    }

    #[test]
    fn tcp_state_table_matches_constants() {
        assert_eq!(
            TCP_STATES[usize::from(tcp_state::ESTABLISHED)],
            "ESTABLISHED"
        );
        assert_eq!(TCP_STATES[usize::from(tcp_state::SYN_SENT2)], "SYN_SENT2");
    }

    #[test]
    fn ipv4_display_is_inet_ntoa() {
        let a: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(a.to_string(), "192.0.2.1");
        assert_eq!(b.to_string(), "2001:db8::1");
    }
}
