//! From a parsed keepalived.conf to runnable instances: one [`crate::Config`] per
//! `vrrp_instance`, plus what a daemon needs beside the state machine (interface, VMAC, virtual
//! addresses with their device and label, tracking, notify scripts) and the sync groups.
//!
//! The conversion does no I/O: the one fact it needs from the system, the primary address of
//! an interface (the source of the adverts when `unicast_src_ip` / `mcast_src_ip` is not
//! given), comes from the caller's closure.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use vrrp_fsm::keepalived::{NoIncludes, Options, convert, parse};
//! let parsed = parse(
//!     "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 200\n\
//!      version 3\n advert_int 0.1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n",
//!     "keepalived.conf",
//!     &mut NoIncludes,
//!     &Options::default(),
//! )?;
//! let run = convert(&parsed.config, &mut |_ifname, _family| {
//!     Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
//! })
//! .unwrap();
//! let vi = &run.instances[0];
//! assert_eq!((vi.config.vrid, vi.config.priority), (51, 200));
//! assert_eq!(vi.vips[0].dev, "eth0");
//! # Ok::<(), vrrp_fsm::keepalived::ConfigError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use vrrp_proto::{Auth, ChecksumMode, Family, Version, VirtualAddrs};

use super::{
    InitialState as KaState, KeepalivedConf, Notify, Position, VirtualIp, VrrpInstance, VrrpScript,
};
use crate::config::{Config, ConfigError as FsmConfigError, InitialState};

/// Everything a daemon runs: the instances in file order and the sync groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Runnable {
    /// One entry per `vrrp_instance`.
    pub instances: Vec<Instance>,
    /// One entry per `vrrp_sync_group`; members are indices into `instances`.
    pub groups: Vec<Group>,
    /// `vrrp_rt_priority` of `global_defs`.
    pub rt_priority: Option<u8>,
    /// `script_user USER [GROUP]` of `global_defs`: who runs the check and notify scripts.
    pub script_user: Option<(String, Option<String>)>,
    /// `enable_script_security` of `global_defs`: scripts that a non-root user could replace are
    /// not run as root.
    pub enable_script_security: bool,
}

impl Runnable {
    /// The index of the sync group `instance` (an index into `instances`) belongs to.
    pub fn group_of(&self, instance: usize) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.members.contains(&instance))
    }
}

/// The VMAC an instance uses (`use_vmac [NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacPlan {
    /// Interface name (`vrrp.VRID` unless named).
    pub name: String,
    /// `vmac_xmit_base`: adverts are sent and received on the parent interface.
    pub xmit_base: bool,
}

/// A virtual address to install, with its device resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// The interface it goes on: `dev`, else the VMAC, else the instance's interface.
    pub dev: String,
    /// IPv4 label (`eth0:1`).
    pub label: Option<String>,
    /// `brd`.
    pub broadcast: Option<IpAddr>,
    /// `scope`.
    pub scope: Option<String>,
}

/// A tracked interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedInterface {
    /// The interface name.
    pub name: String,
    /// `None`: down means FAULT. `Some(w)`: a positive weight is added while up, a negative
    /// one subtracted while down (keepalived's convention).
    pub weight: Option<i32>,
}

/// A tracked script with its definition resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedScript {
    /// The `vrrp_script` block.
    pub script: VrrpScript,
    /// The effective weight: the `track_script` entry's, else the script's. Zero means a
    /// failure is a FAULT.
    pub weight: i32,
}

/// One runnable `vrrp_instance`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The instance name.
    pub name: String,
    /// Where the block starts.
    pub pos: Position,
    /// The state machine's configuration (validated).
    pub config: Config,
    /// `interface`: where adverts are received (and sent, without a VMAC).
    pub interface: String,
    /// `use_vmac`.
    pub vmac: Option<VmacPlan>,
    /// `virtual_ipaddress`, in order (these are in [`Config::vips`] too).
    pub vips: Vec<VipSpec>,
    /// `virtual_ipaddress_excluded`: installed with the VIPs but not advertised.
    pub excluded: Vec<VipSpec>,
    /// `track_interface`.
    pub track_interface: Vec<TrackedInterface>,
    /// `track_script`.
    pub track_script: Vec<TrackedScript>,
    /// Notify scripts.
    pub notify: Notify,
}

impl Instance {
    /// The interface adverts are sent on: the VMAC unless `vmac_xmit_base`, else the
    /// interface.
    pub fn xmit_interface(&self) -> &str {
        match &self.vmac {
            Some(v) if !v.xmit_base => &v.name,
            _ => &self.interface,
        }
    }
}

/// One runnable `vrrp_sync_group`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group name.
    pub name: String,
    /// Where the block starts.
    pub pos: Position,
    /// Member indices into [`Runnable::instances`], in the group's order.
    pub members: Vec<usize>,
    /// Notify scripts (TYPE `GROUP`).
    pub notify: Notify,
    /// `track_interface` of the group (applies to every member).
    pub track_interface: Vec<TrackedInterface>,
    /// `track_script` of the group (applies to every member).
    pub track_script: Vec<TrackedScript>,
}

/// Why a configuration cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    /// The block's position.
    pub pos: Position,
    /// The instance or group name.
    pub name: String,
    /// What is wrong.
    pub kind: ConvertErrorKind,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ({}) {}", self.pos, self.name, self.kind)
    }
}

impl std::error::Error for ConvertError {}

/// What is wrong, see [`ConvertError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertErrorKind {
    /// No `unicast_src_ip` and the interface has no address of the family.
    #[error(
        "no {family} source address: interface {interface} has none and no unicast_src_ip is set"
    )]
    NoSourceAddress {
        /// The interface.
        interface: String,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// The state machine refuses the configuration.
    #[error("{0}")]
    Config(#[from] FsmConfigError),
    /// A `track_script` names no `vrrp_script`.
    #[error("track_script {0} is not defined")]
    UnknownScript(String),
    /// A sync group names no `vrrp_instance`.
    #[error("sync group member {0} is not defined")]
    UnknownInstance(String),
    /// An instance is in two sync groups.
    #[error("instance {0} is in two sync groups")]
    InTwoGroups(String),
    /// Two members of a group have the same VRID and family.
    #[error("members {0} and {1} have the same VRID and address family")]
    DuplicateVrid(String, String),
    /// Two instances on the same interface have the same VRID and family.
    #[error("instance {0} has the same VRID, family and interface")]
    Clash(String),
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// Converts a parsed configuration. `primary_addr(ifname, family)` returns the address adverts
/// are sourced from when the instance sets no `unicast_src_ip`: the interface's primary IPv4
/// address, or its IPv6 link-local address.
pub fn convert(
    conf: &KeepalivedConf,
    primary_addr: &mut dyn FnMut(&str, Family) -> Option<IpAddr>,
) -> Result<Runnable, ConvertError> {
    let mut instances = Vec::with_capacity(conf.instances.len());
    for vi in &conf.instances {
        let inst = instance(conf, vi, primary_addr)?;
        if let Some(other) = instances.iter().find(|o: &&Instance| {
            o.interface == inst.interface
                && o.config.vrid == inst.config.vrid
                && o.config.family() == inst.config.family()
        }) {
            return Err(ConvertError {
                pos: vi.pos.clone(),
                name: vi.name.clone(),
                kind: ConvertErrorKind::Clash(other.name.clone()),
            });
        }
        instances.push(inst);
    }
    let mut groups: Vec<Group> = Vec::new();
    for g in &conf.sync_groups {
        let fail = |kind| ConvertError {
            pos: g.pos.clone(),
            name: g.name.clone(),
            kind,
        };
        let mut members = Vec::new();
        for m in &g.group {
            let i = instances
                .iter()
                .position(|x| &x.name == m)
                .ok_or_else(|| fail(ConvertErrorKind::UnknownInstance(m.clone())))?;
            if groups.iter().any(|o| o.members.contains(&i)) || members.contains(&i) {
                return Err(fail(ConvertErrorKind::InTwoGroups(m.clone())));
            }
            if let Some(&j) = members.iter().find(|&&j| {
                let (a, b): (&Instance, &Instance) = (&instances[j], &instances[i]);
                a.config.vrid == b.config.vrid && a.config.family() == b.config.family()
            }) {
                return Err(fail(ConvertErrorKind::DuplicateVrid(
                    instances[j].name.clone(),
                    m.clone(),
                )));
            }
            members.push(i);
        }
        let track_script = scripts(conf, &g.track_script).map_err(fail)?;
        groups.push(Group {
            name: g.name.clone(),
            pos: g.pos.clone(),
            members,
            notify: g.notify.clone(),
            track_interface: interfaces(&g.track_interface),
            track_script,
        });
    }
    Ok(Runnable {
        instances,
        groups,
        rt_priority: conf.global.rt_priority,
        script_user: conf.global.script_user.clone(),
        enable_script_security: conf.global.enable_script_security,
    })
}

fn interfaces(t: &[super::Tracked]) -> Vec<TrackedInterface> {
    t.iter()
        .map(|t| TrackedInterface {
            name: t.name.clone(),
            weight: t.weight,
        })
        .collect()
}

fn scripts(
    conf: &KeepalivedConf,
    t: &[super::Tracked],
) -> Result<Vec<TrackedScript>, ConvertErrorKind> {
    t.iter()
        .map(|t| {
            let s = conf
                .scripts
                .iter()
                .find(|s| s.name == t.name)
                .ok_or_else(|| ConvertErrorKind::UnknownScript(t.name.clone()))?;
            Ok(TrackedScript {
                script: s.clone(),
                weight: t.weight.unwrap_or(s.weight),
            })
        })
        .collect()
}

fn vip(v: &VirtualIp, default_dev: &str) -> VipSpec {
    VipSpec {
        addr: v.addr,
        prefix: v.prefix,
        dev: v.dev.clone().unwrap_or_else(|| default_dev.to_owned()),
        label: v.label.clone(),
        broadcast: v.broadcast,
        scope: v.scope.clone(),
    }
}

fn instance(
    conf: &KeepalivedConf,
    vi: &VrrpInstance,
    primary_addr: &mut dyn FnMut(&str, Family) -> Option<IpAddr>,
) -> Result<Instance, ConvertError> {
    let fail = |kind| ConvertError {
        pos: vi.pos.clone(),
        name: vi.name.clone(),
        kind,
    };
    let g = &conf.global;
    let family = vi
        .virtual_ipaddress
        .first()
        .map(|v| Family::of(&v.addr))
        .or_else(|| vi.src_ip.as_ref().map(Family::of))
        .unwrap_or(Family::Ipv4);
    let src = match vi.src_ip {
        Some(a) => a,
        None => primary_addr(&vi.interface, family).ok_or_else(|| {
            fail(ConvertErrorKind::NoSourceAddress {
                interface: vi.interface.clone(),
                family: family_name(family),
            })
        })?,
    };
    let addrs: Vec<IpAddr> = vi.virtual_ipaddress.iter().map(|v| v.addr).collect();
    let vips = match family {
        Family::Ipv4 => VirtualAddrs::V4(
            addrs
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V4(a) => Some(*a),
                    IpAddr::V6(_) => None,
                })
                .collect(),
        ),
        Family::Ipv6 => VirtualAddrs::V6(
            addrs
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V6(a) => Some(*a),
                    IpAddr::V4(_) => None,
                })
                .collect(),
        ),
    };
    let mut c = Config::new(vi.vrid, src, vips);
    c.version = if vi.version == 2 {
        Version::V2
    } else {
        Version::V3
    };
    c.priority = vi.priority;
    c.advert_interval = vi.advert_int;
    c.preempt = !vi.nopreempt;
    c.preempt_delay = vi.preempt_delay;
    c.accept_mode = vi.accept.unwrap_or(!g.vrrp_strict);
    c.unicast_peers = vi.unicast_peers.iter().map(|p| p.addr).collect();
    c.check_unicast_src = g.vrrp_check_unicast_src;
    c.checksum = if vi.v3_checksum_as_v2 {
        ChecksumMode::VrrpOnly
    } else {
        ChecksumMode::PseudoHeader
    };
    if let Some(a) = &vi.authentication {
        c.auth = Auth::password(&a.pass);
    }
    // keepalived starts an owner without `state` as Master at once, and holds one with an
    // explicit `state BACKUP` in Backup for a Master_Down_Interval.
    c.initial_state = vi.state.map(|s| match s {
        KaState::Master => InitialState::Master,
        KaState::Backup => InitialState::Backup,
    });
    if c.initial_state == Some(InitialState::Master) && c.priority != 255 {
        // keepalived clears nopreempt / preempt_delay for a non-owner `state MASTER` (with a
        // warning); the state machine refuses the combination, so do what keepalived does.
        c.preempt = true;
        c.preempt_delay = Duration::ZERO;
    }
    c.startup_delay = g.startup_delay.unwrap_or(Duration::ZERO);
    c.down_timer_adverts = vi.down_timer_adverts;
    c.lower_prio_no_advert = vi.lower_prio_no_advert;
    if let Some(d) = vi.garp_master_delay {
        c.garp_master_delay = d;
    }
    if let Some(r) = vi.garp_master_repeat {
        c.garp_master_repeat = r;
    }
    if let Some(r) = vi.garp_master_refresh {
        c.garp_master_refresh = r;
    }
    if let Some(r) = g.garp_master_refresh_repeat {
        c.garp_master_refresh_repeat = r;
    }
    c.validate().map_err(|e| fail(e.into()))?;

    let vmac = vi.use_vmac.as_ref().map(|name| VmacPlan {
        name: name.clone(),
        xmit_base: vi.vmac_xmit_base,
    });
    let default_dev = vmac.as_ref().map_or(vi.interface.as_str(), |v| &v.name);
    let track_script = scripts(conf, &vi.track_script).map_err(fail)?;
    Ok(Instance {
        name: vi.name.clone(),
        pos: vi.pos.clone(),
        config: c,
        interface: vi.interface.clone(),
        vips: vi
            .virtual_ipaddress
            .iter()
            .map(|v| vip(v, default_dev))
            .collect(),
        excluded: vi
            .virtual_ipaddress_excluded
            .iter()
            .map(|v| vip(v, default_dev))
            .collect(),
        vmac,
        track_interface: interfaces(&vi.track_interface),
        track_script,
        notify: vi.notify.clone(),
    })
}
