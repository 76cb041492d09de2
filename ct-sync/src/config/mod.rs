//! conntrackd.conf: read the file operators already have (conntrack-tools 1.4.7 syntax) into a
//! typed configuration for the sync daemon.
//!
//! Read: `General` (HashSize, HashLimit, LogFile, Syslog, LockFile, `UNIX { Path }`,
//! NetlinkBufferSize, NetlinkBufferSizeMaxGrowth, NetlinkOverrunResync, NetlinkEventsReliable,
//! PollSecs, EventIterationLimit, Nice, Systemd, `Scheduler`, `Filter`) and `Sync` (`Mode FTFW`
//! / `NOTRACK` / `ALARM` with their options, the `UDP`, `Multicast` and `TCP` transports with
//! their keys, `Options`). As the issue asks of every hakit reader: an unknown key is a
//! [`Warning`] with its line and the rest is used; a wrong value is a [`ConfigError`] with its
//! line. conntrackd's `Stats` and `Helper` modes are not implemented: a file with only those is
//! an error that says so, and beside a `Sync` section they are warnings.
//!
//! ```
//! use ct_sync::config::{parse, Mode, Transport};
//! let conf = parse("Sync {\n Mode FTFW {\n  ACKWindowSize 100\n }\n UDP {\n  IPv4_address 192.0.2.1\n\
//!   IPv4_Destination_Address 192.0.2.2\n  Port 3780\n  Interface eth1\n }\n}\n\
//!   General {\n UNIX {\n  Path /run/ctsyncd.ctl\n }\n}\n")?;
//! let sync = conf.config.sync.as_ref().unwrap();
//! assert!(matches!(sync.mode, Mode::Ftfw(ref f) if f.ack_window_size == 100));
//! assert!(matches!(sync.channels[0].transport, Transport::Udp));
//! assert_eq!(conf.config.general.unix_path, "/run/ctsyncd.ctl");
//! # Ok::<(), ct_sync::config::ConfigError>(())
//! ```

mod syntax;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use syntax::Node;

/// Largest configuration text accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 4 << 20;
/// conntrackd's `MULTICHANNEL_MAX`: at most this many dedicated links.
pub const MAX_CHANNELS: usize = 4;

/// A configuration error, with its line (from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ConfigError {
    /// Line of the error.
    pub line: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    pub(crate) fn new(line: usize, kind: ErrorKind) -> Self {
        Self { line, kind }
    }
}

/// What is wrong in a conntrackd.conf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `"` not closed on its line.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A block that is never closed (the line is where it opens).
    #[error("block opened here is never closed")]
    UnclosedBlock,
    /// A `}` without an open block.
    #[error("unexpected '}}'")]
    UnexpectedClose,
    /// A `{` with no key before it.
    #[error("'{{' without a key")]
    StrayOpen,
    /// Blocks nested too deeply.
    #[error("blocks nested more than {0} deep")]
    TooDeep(usize),
    /// The text is larger than [`MAX_CONFIG_BYTES`].
    #[error("configuration larger than {0} bytes")]
    TooLarge(usize),
    /// A key that needs a value has none, or a section has no block.
    #[error("{key} needs {expected}")]
    Missing {
        /// The key.
        key: String,
        /// What it needs.
        expected: &'static str,
    },
    /// A value that does not parse or is out of range.
    #[error("{key}: invalid value '{value}', expected {expected}")]
    WrongValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What is acceptable.
        expected: &'static str,
    },
    /// A required key is absent from a section.
    #[error("{section}: {key} is required")]
    Required {
        /// The section.
        section: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// Something ctsyncd does not implement and cannot ignore.
    #[error("{0}")]
    Unsupported(String),
}

/// A warning: accepted, but ignored or adjusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Line.
    pub line: usize,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: warning: {}", self.line, self.message)
    }
}

/// A configuration and the warnings reading it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The configuration.
    pub config: ConntrackdConf,
    /// Ignored keys and sections, with their lines.
    pub warnings: Vec<Warning>,
}

/// A conntrackd configuration (sync mode).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConntrackdConf {
    /// `General`.
    pub general: General,
    /// `Sync` (always present after a successful [`parse`]).
    pub sync: Option<SyncSection>,
}

/// Where log lines go (`LogFile`, `Syslog`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// `off` (or absent).
    #[default]
    Off,
    /// `on`: the default place (`/var/log/conntrackd.log`, or facility `daemon`).
    Default,
    /// A file path or syslog facility name.
    Named(String),
}

/// `General`.
#[derive(Debug, Clone, PartialEq)]
pub struct General {
    /// `HashSize` (default 65536).
    pub hash_size: u32,
    /// `HashLimit` (default 262144): the most entries a cache holds.
    pub hash_limit: u32,
    /// `LogFile`.
    pub log_file: LogTarget,
    /// `Syslog`.
    pub syslog: LogTarget,
    /// `LockFile` (default /var/lock/conntrack.lock).
    pub lock_file: String,
    /// `UNIX { Path }` (default /var/run/conntrackd.ctl).
    pub unix_path: String,
    /// `NetlinkBufferSize` (bytes; default: the kernel's).
    pub netlink_buffer_size: Option<u32>,
    /// `NetlinkBufferSizeMaxGrowth`.
    pub netlink_buffer_size_max_growth: Option<u32>,
    /// `NetlinkOverrunResync` (default 30 s; `None` when `off`).
    pub netlink_overrun_resync: Option<Duration>,
    /// `NetlinkEventsReliable` (default off).
    pub netlink_events_reliable: bool,
    /// `PollSecs`: poll the kernel table instead of listening to events.
    pub poll_secs: Option<u32>,
    /// `EventIterationLimit` (default 100).
    pub event_iteration_limit: u32,
    /// `Nice`.
    pub nice: Option<i32>,
    /// `Systemd`.
    pub systemd: bool,
    /// `Scheduler { Type; Priority }`.
    pub scheduler: Option<(String, u32)>,
    /// `Filter`.
    pub filter: Filter,
}

impl Default for General {
    fn default() -> Self {
        Self {
            hash_size: 65_536,
            hash_limit: 262_144,
            log_file: LogTarget::Off,
            syslog: LogTarget::Off,
            lock_file: "/var/lock/conntrack.lock".into(),
            unix_path: "/var/run/conntrackd.ctl".into(),
            netlink_buffer_size: None,
            netlink_buffer_size_max_growth: None,
            netlink_overrun_resync: Some(Duration::from_secs(30)),
            netlink_events_reliable: false,
            poll_secs: None,
            event_iteration_limit: 100,
            nice: None,
            systemd: false,
            scheduler: None,
            filter: Filter::default(),
        }
    }
}

/// `Accept` or `Ignore` in a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    /// Only what is listed is synced.
    Accept,
    /// What is listed is not synced.
    Ignore,
}

/// An address in `Filter { Address … }`, with an optional prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrMatch {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (full length when not written).
    pub prefix: u8,
}

/// `Filter [From Userspace|Kernelspace] { … }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// `From Kernelspace`: the kernel filters the events (BSF).
    pub kernelspace: bool,
    /// `Protocol Accept|Ignore { TCP UDP … }`.
    pub protocol: Option<(FilterAction, Vec<String>)>,
    /// `Address Accept|Ignore { IPv4_address …; IPv6_address … }`.
    pub address: Option<(FilterAction, Vec<AddrMatch>)>,
    /// `State Accept|Ignore { ESTABLISHED CLOSED … for TCP }`.
    pub state: Option<(FilterAction, Vec<String>)>,
}

/// `Sync`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSection {
    /// The sync mode.
    pub mode: Mode,
    /// The dedicated links, in file order; `channels[default]` is used first.
    pub channels: Vec<Channel>,
    /// Index of the `Default` channel (0 when none is marked).
    pub default: usize,
    /// `Options { TCPWindowTracking }`.
    pub tcp_window_tracking: bool,
    /// `Options { ExpectationSync }`: `Some(vec![])` for `on` (all helpers), else the helpers.
    pub expectation_sync: Option<Vec<String>>,
}

/// Settings every mode shares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Common {
    /// `CommitTimeout`: fixed timeout of committed entries (default: the synced timeout).
    pub commit_timeout: Option<Duration>,
    /// `PurgeTimeout` (default 60 s): the delay of `-t`.
    pub purge_timeout: Duration,
    /// `DisableExternalCache`: inject into the kernel on receipt.
    pub disable_external_cache: bool,
    /// `StartupResync`: ask the peer for a resync at start-up.
    pub startup_resync: bool,
}

/// `Mode FTFW { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ftfw {
    /// Shared settings.
    pub common: Common,
    /// `ResendQueueSize` (default 131072).
    pub resend_queue_size: u32,
    /// `ACKWindowSize` (default 300).
    pub ack_window_size: u32,
}

/// `Mode NOTRACK { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notrack {
    /// Shared settings.
    pub common: Common,
    /// `DisableInternalCache`.
    pub disable_internal_cache: bool,
}

/// `Mode ALARM { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// Shared settings.
    pub common: Common,
    /// `RefreshTime` (default 15 s).
    pub refresh_time: Duration,
    /// `CacheTimeout` (default 180 s).
    pub cache_timeout: Duration,
}

/// The sync mode.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// FTFW: reliable, with sequence numbers, ACK / NACK and resends.
    Ftfw(Ftfw),
    /// NOTRACK: best effort.
    Notrack(Notrack),
    /// ALARM: periodic refresh.
    Alarm(Alarm),
}

/// The transport of a dedicated link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `UDP { … }`.
    Udp,
    /// `Multicast { … }`.
    Multicast,
    /// `TCP { … }`.
    Tcp,
}

/// One dedicated link (`UDP`, `Multicast` or `TCP` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The transport.
    pub transport: Transport,
    /// Line of the block.
    pub line: usize,
    /// UDP / TCP: the local address to bind (`IPv4_address` / `IPv6_address`); Multicast: the
    /// group.
    pub address: Option<IpAddr>,
    /// UDP / TCP: the peer (`IPv4_Destination_Address` / `IPv6_Destination_Address`).
    pub destination: Option<IpAddr>,
    /// UDP / TCP `Port`, or Multicast `Group` (the UDP port).
    pub port: u16,
    /// Multicast: the local address of the interface (`IPv4_interface` / `IPv6_interface`).
    pub interface_addr: Option<IpAddr>,
    /// `Interface`.
    pub interface: Option<String>,
    /// `SndSocketBuffer`.
    pub snd_buffer: Option<u32>,
    /// `RcvSocketBuffer`.
    pub rcv_buffer: Option<u32>,
    /// `Checksum` (UDP checksum; default on).
    pub checksum: bool,
}

/// Reads a conntrackd.conf text.
pub fn parse(text: &str) -> Result<Parsed, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::new(1, ErrorKind::TooLarge(MAX_CONFIG_BYTES)));
    }
    let nodes = syntax::parse(text)?;
    let mut w = Vec::new();
    let mut conf = ConntrackdConf::default();
    let mut unsupported_modes = Vec::new();
    for n in &nodes {
        match n.words[0].as_str() {
            "General" => general(block(n)?, &mut conf.general, &mut w)?,
            "Sync" => {
                if conf.sync.is_some() {
                    return Err(unsupported(n, "Sync section given twice"));
                }
                conf.sync = Some(sync(n, &mut w)?);
            }
            m @ ("Stats" | "Helper") => {
                unsupported_modes.push(m);
                warn(
                    &mut w,
                    n,
                    format!("conntrackd's {m} mode is not implemented by ctsyncd; section ignored"),
                );
            }
            k => warn(&mut w, n, format!("unknown section '{k}'")),
        }
    }
    if conf.sync.is_none() {
        let what = if unsupported_modes.is_empty() {
            "no Sync section: ctsyncd runs conntrackd's sync mode only".to_owned()
        } else {
            format!(
                "no Sync section: ctsyncd runs conntrackd's sync mode only ({} mode is not implemented)",
                unsupported_modes.join(" / ")
            )
        };
        return Err(ConfigError::new(1, ErrorKind::Unsupported(what)));
    }
    Ok(Parsed {
        config: conf,
        warnings: w,
    })
}

fn warn(w: &mut Vec<Warning>, n: &Node, message: String) {
    w.push(Warning {
        line: n.line,
        message,
    });
}

fn unsupported(n: &Node, what: &str) -> ConfigError {
    ConfigError::new(n.line, ErrorKind::Unsupported(what.to_owned()))
}

fn block(n: &Node) -> Result<&[Node], ConfigError> {
    n.block.as_deref().ok_or_else(|| {
        ConfigError::new(
            n.line,
            ErrorKind::Missing {
                key: n.words.join(" "),
                expected: "a { … } block",
            },
        )
    })
}

fn value<'a>(n: &'a Node, expected: &'static str) -> Result<&'a str, ConfigError> {
    n.words.get(1).map(String::as_str).ok_or_else(|| {
        ConfigError::new(
            n.line,
            ErrorKind::Missing {
                key: n.words[0].clone(),
                expected,
            },
        )
    })
}

fn wrong(n: &Node, v: &str, expected: &'static str) -> ConfigError {
    ConfigError::new(
        n.line,
        ErrorKind::WrongValue {
            key: n.words[0].clone(),
            value: v.to_owned(),
            expected,
        },
    )
}

fn num<T: std::str::FromStr + PartialOrd>(
    n: &Node,
    min: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    let v = value(n, expected)?;
    match v.parse::<T>() {
        Ok(x) if x >= min => Ok(x),
        _ => Err(wrong(n, v, expected)),
    }
}

fn secs(n: &Node) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(u64::from(num::<u32>(n, 0, "seconds")?)))
}

fn on_off(n: &Node) -> Result<bool, ConfigError> {
    let v = value(n, "on or off")?;
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" => Ok(true),
        "off" | "no" => Ok(false),
        _ => Err(wrong(n, v, "on or off")),
    }
}

fn log_target(n: &Node) -> Result<LogTarget, ConfigError> {
    let v = value(n, "on, off or a name")?;
    Ok(match v.to_ascii_lowercase().as_str() {
        "on" => LogTarget::Default,
        "off" => LogTarget::Off,
        _ => LogTarget::Named(v.to_owned()),
    })
}

fn addr(n: &Node, v4: bool) -> Result<IpAddr, ConfigError> {
    let v = value(n, "an address")?;
    let a = if v4 {
        v.parse::<Ipv4Addr>().map(IpAddr::V4).ok()
    } else {
        // conntrackd accepts `fe80::1%eth0` style scoped addresses for IPv6.
        v.split('%')
            .next()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6)
    };
    a.ok_or_else(|| {
        wrong(
            n,
            v,
            if v4 {
                "an IPv4 address"
            } else {
                "an IPv6 address"
            },
        )
    })
}

fn general(b: &[Node], g: &mut General, w: &mut Vec<Warning>) -> Result<(), ConfigError> {
    for n in b {
        match n.words[0].as_str() {
            "HashSize" => g.hash_size = num(n, 1, "a positive number")?,
            "HashLimit" => g.hash_limit = num(n, 1, "a positive number")?,
            "LogFile" => g.log_file = log_target(n)?,
            "Syslog" => g.syslog = log_target(n)?,
            "LockFile" => g.lock_file = value(n, "a path")?.to_owned(),
            "UNIX" => {
                for u in block(n)? {
                    match u.words[0].as_str() {
                        "Path" => g.unix_path = value(u, "a path")?.to_owned(),
                        "Backlog" => warn(w, u, "UNIX Backlog is obsolete; ignored".into()),
                        k => warn(w, u, format!("unknown key '{k}' in UNIX")),
                    }
                }
            }
            "NetlinkBufferSize" => g.netlink_buffer_size = Some(num(n, 1, "bytes")?),
            "NetlinkBufferSizeMaxGrowth" => {
                g.netlink_buffer_size_max_growth = Some(num(n, 1, "bytes")?)
            }
            "NetlinkOverrunResync" => {
                let v = value(n, "on, off or seconds")?;
                g.netlink_overrun_resync = match v.to_ascii_lowercase().as_str() {
                    "on" => Some(Duration::from_secs(30)),
                    "off" => None,
                    _ => Some(secs(n)?),
                };
            }
            "NetlinkEventsReliable" => g.netlink_events_reliable = on_off(n)?,
            "PollSecs" => g.poll_secs = Some(num(n, 1, "seconds")?),
            "EventIterationLimit" => g.event_iteration_limit = num(n, 1, "a positive number")?,
            "Nice" => g.nice = Some(num(n, -20, "-20..19")?),
            "Systemd" => g.systemd = on_off(n)?,
            "Scheduler" => {
                let (mut ty, mut prio) = (String::from("OTHER"), 0);
                for s in block(n)? {
                    match s.words[0].as_str() {
                        "Type" => ty = value(s, "RR, FIFO or OTHER")?.to_owned(),
                        "Priority" => prio = num(s, 0, "0..99")?,
                        k => warn(w, s, format!("unknown key '{k}' in Scheduler")),
                    }
                }
                g.scheduler = Some((ty, prio));
            }
            "Filter" => filter(n, &mut g.filter, w)?,
            k => warn(w, n, format!("unknown key '{k}' in General")),
        }
    }
    Ok(())
}

fn action(n: &Node) -> Result<FilterAction, ConfigError> {
    let v = value(n, "Accept or Ignore")?;
    match v {
        "Accept" => Ok(FilterAction::Accept),
        "Ignore" => Ok(FilterAction::Ignore),
        _ => Err(wrong(n, v, "Accept or Ignore")),
    }
}

fn filter(n: &Node, f: &mut Filter, w: &mut Vec<Warning>) -> Result<(), ConfigError> {
    match n.words.get(1..).unwrap_or_default() {
        [] => {}
        [from, place] if from == "From" && place == "Userspace" => f.kernelspace = false,
        [from, place] if from == "From" && place == "Kernelspace" => f.kernelspace = true,
        _ => {
            return Err(wrong(
                n,
                &n.words[1..].join(" "),
                "From Userspace or From Kernelspace",
            ));
        }
    }
    for s in block(n)? {
        match s.words[0].as_str() {
            "Protocol" => {
                let a = action(s)?;
                let names = block(s)?
                    .iter()
                    .flat_map(|p| p.words.iter().cloned())
                    .collect();
                f.protocol = Some((a, names));
            }
            "Address" => {
                let a = action(s)?;
                let mut list = Vec::new();
                for e in block(s)? {
                    let v4 = match e.words[0].as_str() {
                        "IPv4_address" => true,
                        "IPv6_address" => false,
                        k => return Err(wrong(e, k, "IPv4_address or IPv6_address")),
                    };
                    let raw = value(e, "an address")?;
                    let (a_str, prefix) = match raw.split_once('/') {
                        Some((a, p)) => (a, Some(p)),
                        None => (raw, None),
                    };
                    let max = if v4 { 32 } else { 128 };
                    let addr: IpAddr = if v4 {
                        a_str.parse::<Ipv4Addr>().map(IpAddr::V4)
                    } else {
                        a_str.parse::<Ipv6Addr>().map(IpAddr::V6)
                    }
                    .map_err(|_| wrong(e, raw, "an address[/prefix]"))?;
                    let prefix = match prefix {
                        None => max,
                        Some(p) => match p.parse::<u8>() {
                            Ok(p) if p <= max => p,
                            _ => return Err(wrong(e, raw, "an address[/prefix]")),
                        },
                    };
                    list.push(AddrMatch { addr, prefix });
                }
                f.address = Some((a, list));
            }
            "State" => {
                let a = action(s)?;
                let mut states = Vec::new();
                for e in block(s)? {
                    // `ESTABLISHED CLOSED TIME_WAIT for TCP`: the states, then the protocol.
                    let words: Vec<&str> = e.words.iter().map(String::as_str).collect();
                    let end = words
                        .iter()
                        .position(|x| *x == "for")
                        .unwrap_or(words.len());
                    if end < words.len() && words.get(end + 1) != Some(&"TCP") {
                        return Err(wrong(e, &words[end..].join(" "), "for TCP"));
                    }
                    states.extend(
                        words[..end]
                            .iter()
                            .map(|x| x.trim_end_matches(',').to_owned()),
                    );
                }
                f.state = Some((a, states));
            }
            k => warn(w, s, format!("unknown key '{k}' in Filter")),
        }
    }
    Ok(())
}

fn sync(n: &Node, w: &mut Vec<Warning>) -> Result<SyncSection, ConfigError> {
    let mut mode = None;
    let mut channels = Vec::new();
    let mut default = None;
    let mut tcp_window_tracking = false;
    let mut expectation_sync = None;
    for s in block(n)? {
        match s.words[0].as_str() {
            "Mode" => {
                if mode.is_some() {
                    return Err(unsupported(s, "Mode given twice"));
                }
                mode = Some(sync_mode(s, w)?);
            }
            t @ ("UDP" | "Multicast" | "TCP") => {
                let transport = match t {
                    "UDP" => Transport::Udp,
                    "Multicast" => Transport::Multicast,
                    _ => Transport::Tcp,
                };
                if s.words.get(1).is_some_and(|d| d == "Default") {
                    if default.is_some() {
                        return Err(unsupported(s, "more than one Default link"));
                    }
                    default = Some(channels.len());
                }
                if channels.len() == MAX_CHANNELS {
                    return Err(unsupported(s, "more than 4 dedicated links"));
                }
                channels.push(channel(s, transport, w)?);
            }
            "UDP6" | "Multicast6" => {
                return Err(unsupported(s, "use UDP / Multicast with IPv6_address keys"));
            }
            "Options" => {
                for o in block(s)? {
                    match o.words[0].as_str() {
                        "TCPWindowTracking" => tcp_window_tracking = on_off(o)?,
                        "ExpectationSync" => {
                            expectation_sync = match (&o.block, o.words.get(1)) {
                                (Some(b), _) => {
                                    Some(b.iter().flat_map(|h| h.words.iter().cloned()).collect())
                                }
                                (None, _) if on_off(o)? => Some(Vec::new()),
                                _ => None,
                            };
                        }
                        k => warn(w, o, format!("unknown key '{k}' in Sync Options")),
                    }
                }
            }
            k @ ("CacheTimeout" | "CommitTimeout" | "PurgeTimeout" | "RefreshTime"
            | "ResendBufferSize" | "ChecksumOff" | "ACKWindowSize" | "ResendQueueSize") => warn(
                w,
                s,
                format!("{k} belongs in the Mode block (old syntax); ignored here"),
            ),
            k => warn(w, s, format!("unknown key '{k}' in Sync")),
        }
    }
    if channels.is_empty() {
        return Err(ConfigError::new(
            n.line,
            ErrorKind::Required {
                section: "Sync",
                key: "a UDP, Multicast or TCP block",
            },
        ));
    }
    let mode = match mode {
        Some(m) => m,
        // conntrackd defaults to FTFW when no mode is given.
        None => {
            warn(w, n, "no Mode given: FTFW, as conntrackd".into());
            Mode::Ftfw(Ftfw {
                common: Common {
                    purge_timeout: Duration::from_secs(60),
                    ..Common::default()
                },
                resend_queue_size: 131_072,
                ack_window_size: 300,
            })
        }
    };
    Ok(SyncSection {
        mode,
        channels,
        default: default.unwrap_or(0),
        tcp_window_tracking,
        expectation_sync,
    })
}

fn sync_mode(s: &Node, w: &mut Vec<Warning>) -> Result<Mode, ConfigError> {
    let name = value(s, "FTFW, NOTRACK or ALARM")?.to_owned();
    let mut common = Common {
        purge_timeout: Duration::from_secs(60),
        ..Common::default()
    };
    let (mut resend, mut ack) = (131_072u32, 300u32);
    let mut no_internal = false;
    let (mut refresh, mut cache) = (Duration::from_secs(15), Duration::from_secs(180));
    let upper = name.to_ascii_uppercase();
    if !matches!(upper.as_str(), "FTFW" | "NOTRACK" | "ALARM") {
        return Err(wrong(s, &name, "FTFW, NOTRACK or ALARM"));
    }
    for o in s.block.as_deref().unwrap_or_default() {
        let k = o.words[0].as_str();
        match (upper.as_str(), k) {
            (_, "CommitTimeout") => common.commit_timeout = Some(secs(o)?),
            (_, "PurgeTimeout") => common.purge_timeout = secs(o)?,
            (_, "DisableExternalCache") => common.disable_external_cache = on_off(o)?,
            (_, "StartupResync") => common.startup_resync = on_off(o)?,
            ("FTFW", "ResendQueueSize") => resend = num(o, 1, "a positive number")?,
            ("FTFW", "ACKWindowSize") => ack = num(o, 1, "a positive number")?,
            ("NOTRACK", "DisableInternalCache") => no_internal = on_off(o)?,
            ("ALARM", "RefreshTime") => {
                refresh = Duration::from_secs(u64::from(num::<u32>(o, 1, "seconds")?))
            }
            ("ALARM", "CacheTimeout") => {
                cache = Duration::from_secs(u64::from(num::<u32>(o, 1, "seconds")?))
            }
            (m, k) => warn(w, o, format!("unknown key '{k}' in Mode {m}")),
        }
    }
    Ok(match upper.as_str() {
        "FTFW" => Mode::Ftfw(Ftfw {
            common,
            resend_queue_size: resend,
            ack_window_size: ack,
        }),
        "NOTRACK" => Mode::Notrack(Notrack {
            common,
            disable_internal_cache: no_internal,
        }),
        _ => Mode::Alarm(Alarm {
            common,
            refresh_time: refresh,
            cache_timeout: cache,
        }),
    })
}

fn channel(s: &Node, transport: Transport, w: &mut Vec<Warning>) -> Result<Channel, ConfigError> {
    let mut c = Channel {
        transport,
        line: s.line,
        address: None,
        destination: None,
        port: 0,
        interface_addr: None,
        interface: None,
        snd_buffer: None,
        rcv_buffer: None,
        checksum: true,
    };
    let mut port_seen = false;
    for k in block(s)? {
        match k.words[0].as_str() {
            "IPv4_address" => c.address = Some(addr(k, true)?),
            "IPv6_address" => c.address = Some(addr(k, false)?),
            "IPv4_Destination_Address" => c.destination = Some(addr(k, true)?),
            "IPv6_Destination_Address" => c.destination = Some(addr(k, false)?),
            "IPv4_interface" => c.interface_addr = Some(addr(k, true)?),
            "IPv6_interface" => {
                // conntrackd takes an interface name here for IPv6 multicast.
                let v = value(k, "an interface")?;
                match v.parse::<Ipv6Addr>() {
                    Ok(a) => c.interface_addr = Some(IpAddr::V6(a)),
                    Err(_) => c.interface = Some(v.to_owned()),
                }
            }
            "Port" | "Group" => {
                c.port = num(k, 1, "a UDP/TCP port 1..65535")?;
                port_seen = true;
            }
            "Interface" => c.interface = Some(value(k, "an interface name")?.to_owned()),
            "SndSocketBuffer" => c.snd_buffer = Some(num(k, 1, "bytes")?),
            "RcvSocketBuffer" => c.rcv_buffer = Some(num(k, 1, "bytes")?),
            "Checksum" => c.checksum = on_off(k)?,
            other => warn(w, k, format!("unknown key '{other}' in {}", s.words[0])),
        }
    }
    let section = match transport {
        Transport::Udp => "UDP",
        Transport::Multicast => "Multicast",
        Transport::Tcp => "TCP",
    };
    let required = |key| ConfigError::new(s.line, ErrorKind::Required { section, key });
    if !port_seen {
        return Err(required(if transport == Transport::Multicast {
            "Group"
        } else {
            "Port"
        }));
    }
    match transport {
        Transport::Multicast => {
            let group = c
                .address
                .ok_or_else(|| required("IPv4_address (the group)"))?;
            if !group.is_multicast() {
                return Err(ConfigError::new(
                    s.line,
                    ErrorKind::WrongValue {
                        key: "IPv4_address".into(),
                        value: group.to_string(),
                        expected: "a multicast group",
                    },
                ));
            }
        }
        Transport::Udp | Transport::Tcp => {
            if c.destination.is_none() {
                return Err(required("IPv4_Destination_Address"));
            }
        }
    }
    Ok(c)
}

/// The function the `conntrackd_conf` fuzz target and its corpus-replay test call.
pub mod fuzzing {
    /// Reads `data` (as UTF-8, lossily); panics only on a bug.
    pub fn read(data: &[u8]) {
        let _ = super::parse(&String::from_utf8_lossy(data));
    }
}
