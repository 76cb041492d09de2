//! keepalived.conf, the VRRP subset: read the file operators already have into a typed
//! configuration.
//!
//! Supported: `global_defs` (router_id, vrrp_strict, vrrp_version, vrrp_garp_master_delay,
//! vrrp_garp_master_repeat, vrrp_garp_master_refresh, vrrp_garp_master_refresh_repeat,
//! enable_script_security, script_user, vrrp_check_unicast_src, vrrp_startup_delay, vrrp_rt_priority,
//! vrrp_lower_prio_no_advert, v3_checksum_as_v2), `vrrp_instance`, `vrrp_script`,
//! `vrrp_sync_group`, `include` (through the caller's [`Includes`]: the reader does no I/O),
//! `@id` conditional lines and `$NAME=value` parameters.
//!
//! As keepalived does: an unknown keyword is a [`Warning`] with its line, and the rest of the
//! file is used; LVS blocks (`virtual_server`, …) are reported as unsupported and skipped. A
//! value that is wrong (out of range, not an address, …) is a [`ConfigError`] with file, line
//! and column.
//!
//! ```
//! use vrrp_fsm::keepalived::{parse, NoIncludes, Options, InitialState};
//! let conf = parse(
//!     "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n\
//!      priority 200\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {\n    192.0.2.1/24 dev eth0 label eth0:1\n  }\n}\n",
//!     "keepalived.conf",
//!     &mut NoIncludes,
//!     &Options::default(),
//! )?;
//! let vi = &conf.config.instances[0];
//! assert_eq!((vi.vrid, vi.priority, vi.state), (51, 200, Some(InitialState::Master)));
//! assert_eq!(vi.advert_int, std::time::Duration::from_millis(100));
//! assert_eq!(vi.virtual_ipaddress[0].label.as_deref(), Some("eth0:1"));
//! # Ok::<(), vrrp_fsm::keepalived::ConfigError>(())
//! ```

mod convert;
mod error;
mod interp;
mod lexer;
mod tree;

use std::net::IpAddr;
use std::time::Duration;

pub use convert::{
    ConvertError, ConvertErrorKind, Group, Instance, Runnable, TrackedInterface, TrackedScript,
    VipSpec, VmacPlan, convert,
};
pub use error::{ConfigError, ErrorKind, Position, Warning};

/// Resolves `include PATTERN` (keepalived expands shell globs). The reader does no I/O: the
/// daemon implements this over the file system, tests over a map.
pub trait Includes {
    /// The files `pattern` names, as (name, contents), in the order to read them. `from` is the
    /// file that contains the `include`.
    fn include(&mut self, pattern: &str, from: &str) -> Result<Vec<(String, String)>, String>;
}

/// An [`Includes`] for configurations that have none: every `include` is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIncludes;

impl Includes for NoIncludes {
    fn include(&mut self, _pattern: &str, _from: &str) -> Result<Vec<(String, String)>, String> {
        Err("includes are not available here".into())
    }
}

/// Reading options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// keepalived's `-i ID` config id: selects `@ID` lines (`@^ID` lines are kept for every
    /// other id). keepalived defaults it to the host name; the daemon does the same.
    pub config_id: Option<String>,
}

/// A configuration and the warnings reading it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The configuration.
    pub config: KeepalivedConf,
    /// What was ignored or adjusted, with positions.
    pub warnings: Vec<Warning>,
}

/// Reads a keepalived.conf text (`name` is used in positions).
pub fn parse(
    text: &str,
    name: &str,
    includes: &mut dyn Includes,
    options: &Options,
) -> Result<Parsed, ConfigError> {
    let mut warnings = Vec::new();
    let stmts = tree::build(text, name, includes, options, &mut warnings)?;
    let config = interp::interpret(&stmts, &mut warnings)?;
    Ok(Parsed { config, warnings })
}

/// The VRRP part of a keepalived configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeepalivedConf {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_instance` blocks, in file order.
    pub instances: Vec<VrrpInstance>,
    /// `vrrp_script` blocks.
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_sync_group` blocks.
    pub sync_groups: Vec<SyncGroup>,
}

/// `global_defs`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GlobalDefs {
    /// `router_id`.
    pub router_id: Option<String>,
    /// `vrrp_strict`: enforce RFC rules (≥ 1 VIP, no unicast, no auth, v3 for IPv6 …).
    pub vrrp_strict: bool,
    /// `vrrp_version` (default for instances; keepalived's default is 2).
    pub vrrp_version: Option<u8>,
    /// `vrrp_garp_master_delay`: second GARP burst after becoming Master (keepalived: 5 s).
    pub garp_master_delay: Option<Duration>,
    /// `vrrp_garp_master_repeat`: GARPs per burst (keepalived: 5).
    pub garp_master_repeat: Option<u32>,
    /// `vrrp_garp_master_refresh`: periodic GARP while Master (keepalived: off).
    pub garp_master_refresh: Option<Duration>,
    /// `vrrp_garp_master_refresh_repeat`.
    pub garp_master_refresh_repeat: Option<u32>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// `vrrp_check_unicast_src`: only listed unicast peers are heard.
    pub vrrp_check_unicast_src: bool,
    /// `vrrp_startup_delay`.
    pub startup_delay: Option<Duration>,
    /// `vrrp_lower_prio_no_advert` (default for instances).
    pub lower_prio_no_advert: bool,
    /// `v3_checksum_as_v2` (default for instances).
    pub v3_checksum_as_v2: bool,
    /// `vrrp_rt_priority`: run the VRRP process with this real-time (SCHED_RR) priority.
    pub rt_priority: Option<u8>,
}

/// `state` of an instance at start-up, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    /// `state BACKUP` (or an unknown word, which keepalived defaults to BACKUP).
    Backup,
    /// `state MASTER`.
    Master,
}

/// One `virtual_ipaddress` (or `virtual_ipaddress_excluded`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (keepalived's default: /32 or /128).
    pub prefix: u8,
    /// `dev IFNAME` (default: the instance's interface).
    pub dev: Option<String>,
    /// `label LABEL` (IPv4: `eth0:1` style).
    pub label: Option<String>,
    /// `brd ADDR`.
    pub broadcast: Option<IpAddr>,
    /// `scope SCOPE`.
    pub scope: Option<String>,
    /// `no_track`: the address's interface state does not affect the instance.
    pub no_track: bool,
    /// Where it is written.
    pub pos: Position,
}

/// `authentication` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// `auth_pass`, truncated to 8 bytes as keepalived does.
    pub pass: Vec<u8>,
}

/// A tracked interface or script with its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// Interface or script name.
    pub name: String,
    /// `weight N`: added to the priority while up (positive) or subtracted while down
    /// (negative); `None` means the object's own weight (scripts) or FAULT (interfaces).
    pub weight: Option<i32>,
    /// Where it is written.
    pub pos: Position,
}

/// `unicast_peer` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    /// The peer's address.
    pub addr: IpAddr,
    /// `min_ttl` / `max_ttl` accepted from that peer.
    pub ttl: Option<(u8, u8)>,
}

/// Notify scripts (instance or sync group).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<String>,
    /// `notify_backup`.
    pub backup: Option<String>,
    /// `notify_fault`.
    pub fault: Option<String>,
    /// `notify_stop`.
    pub stop: Option<String>,
    /// `notify`: called with TYPE NAME STATE PRIORITY.
    pub any: Option<String>,
}

/// A `vrrp_instance` block.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// The instance name.
    pub name: String,
    /// Where the block starts.
    pub pos: Position,
    /// `state`: `None` when the instance has no `state` line: keepalived then starts it as BACKUP, or
    /// as MASTER at once when it owns the addresses (priority 255); an explicit `state BACKUP`
    /// holds even the owner in BACKUP for a Master_Down_Interval.
    pub state: Option<InitialState>,
    /// `interface`.
    pub interface: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// `priority` (default 100).
    pub priority: u8,
    /// `advert_int` (default 1 s).
    pub advert_int: Duration,
    /// `version` (default: `vrrp_version`, else 2 as keepalived).
    pub version: u8,
    /// `use_vmac [NAME]`: `Some(name)` when a VMAC is used (default name `vrrp.VRID`).
    pub use_vmac: Option<String>,
    /// `vmac_xmit_base`.
    pub vmac_xmit_base: bool,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `preempt_delay`.
    pub preempt_delay: Duration,
    /// `accept` / `no_accept` (`None`: keepalived's default, accept unless `vrrp_strict`).
    pub accept: Option<bool>,
    /// `unicast_src_ip` (or `mcast_src_ip`).
    pub src_ip: Option<IpAddr>,
    /// `unicast_peer` block.
    pub unicast_peers: Vec<UnicastPeer>,
    /// `virtual_ipaddress`.
    pub virtual_ipaddress: Vec<VirtualIp>,
    /// `virtual_ipaddress_excluded`.
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    /// `v3_checksum_as_v2`.
    pub v3_checksum_as_v2: bool,
    /// `authentication` (`auth_type PASS` only).
    pub authentication: Option<Authentication>,
    /// `track_interface`.
    pub track_interface: Vec<Tracked>,
    /// `track_script`.
    pub track_script: Vec<Tracked>,
    /// Notify scripts.
    pub notify: Notify,
    /// `garp_master_delay`.
    pub garp_master_delay: Option<Duration>,
    /// `garp_master_repeat`.
    pub garp_master_repeat: Option<u32>,
    /// `garp_master_refresh`.
    pub garp_master_refresh: Option<Duration>,
    /// `lower_prio_no_advert`.
    pub lower_prio_no_advert: bool,
    /// `down_timer_adverts` (1..=100, default 3).
    pub down_timer_adverts: u8,
}

/// A `vrrp_script` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// Name.
    pub name: String,
    /// Where the block starts.
    pub pos: Position,
    /// `script` command line.
    pub script: String,
    /// `interval` (default 1 s).
    pub interval: Duration,
    /// `timeout` (default: the interval).
    pub timeout: Option<Duration>,
    /// `weight` (-253..=253, default 0: failure means FAULT).
    pub weight: i32,
    /// `weight … reverse`.
    pub reverse: bool,
    /// `rise` (default 1).
    pub rise: u32,
    /// `fall` (default 1).
    pub fall: u32,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
    /// `init_fail`: start in the failed state.
    pub init_fail: bool,
}

/// A `vrrp_sync_group` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// Name.
    pub name: String,
    /// Where the block starts.
    pub pos: Position,
    /// Member instance names.
    pub group: Vec<String>,
    /// Notify scripts.
    pub notify: Notify,
    /// `track_interface` of the group.
    pub track_interface: Vec<Tracked>,
    /// `track_script` of the group.
    pub track_script: Vec<Tracked>,
}

/// The function the `keepalived_conf` fuzz target and the corpus-replay test call.
pub mod fuzzing {
    use super::{Includes, Options, parse};

    /// Resolves every include to the same small file, so the fuzzer exercises includes
    /// without I/O (and the depth limit stops loops).
    #[derive(Debug)]
    struct Echo;

    impl Includes for Echo {
        fn include(&mut self, pattern: &str, _from: &str) -> Result<Vec<(String, String)>, String> {
            if pattern.len().is_multiple_of(2) {
                Ok(vec![(pattern.to_owned(), format!("include {pattern}\n"))])
            } else {
                Err("not found".into())
            }
        }
    }

    /// Reads `data` (as UTF-8, lossily) with and without a config id; panics only on a bug.
    pub fn read(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        for id in [None, Some("r1".to_owned())] {
            let _ = parse(&text, "fuzz.conf", &mut Echo, &Options { config_id: id });
        }
    }
}
