//! Each router's configuration files, in the formats of the tools hakit's daemons replace:
//! keepalived.conf for `vrrpd`, kea-dhcp4.conf for `dhcp4d`, conntrackd.conf for `ctsyncd`,
//! and the sync group's notify hook (what keepalived's `primary-backup.sh` does for
//! conntrackd, here for `ctsyncd`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::topology::{
    GROUP, LAN_IF, LAN_INSTANCE, LAN_NET, LAN_VIP, LAN_VRID, POOL, Router, SYNC_IF, UP_IF,
    UP_INSTANCE, UP_VIP, UP_VRID,
};

/// Kea's HA hook library (Debian's path); `dhcp4d` runs the HA protocol itself when it finds
/// this entry.
pub const HA_HOOK: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so";
/// Kea's lease commands hook library (Debian's path), which Kea HA needs alongside.
pub const LEASE_CMDS_HOOK: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";
/// Port of the Kea HA peers' HTTP listeners (on the sync link addresses).
pub const HA_PORT: u16 = 8000;

/// DHCP lease timers: short, so that a renewal falls into the failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimers {
    /// `valid-lifetime`.
    pub valid: u32,
    /// `renew-timer` (T1).
    pub renew: u32,
    /// `rebind-timer` (T2).
    pub rebind: u32,
}

impl Default for LeaseTimers {
    /// 20 s leases, T1 4 s, T2 6 s.
    fn default() -> Self {
        Self {
            valid: 20,
            renew: 4,
            rebind: 6,
        }
    }
}

/// Kea HA failure detection timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaTimers {
    /// `heartbeat-delay` (ms).
    pub heartbeat_ms: u32,
    /// `max-response-delay` (ms).
    pub max_response_ms: u32,
    /// `max-ack-delay` (ms).
    pub max_ack_ms: u32,
}

impl Default for HaTimers {
    /// Heartbeats every 500 ms, partner down after 1.5 s of silence.
    fn default() -> Self {
        Self {
            heartbeat_ms: 500,
            max_response_ms: 1500,
            max_ack_ms: 1000,
        }
    }
}

/// Where a router's files live in the lab directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// keepalived.conf for vrrpd.
    pub keepalived_conf: PathBuf,
    /// vrrpd's control socket.
    pub vrrpd_sock: PathBuf,
    /// kea-dhcp4.conf for dhcp4d.
    pub kea_conf: PathBuf,
    /// dhcp4d's control socket (Kea's unix socket protocol).
    pub kea_sock: PathBuf,
    /// dhcp4d's memfile.
    pub leases: PathBuf,
    /// conntrackd.conf for ctsyncd.
    pub conntrackd_conf: PathBuf,
    /// ctsyncd's `LogFile`.
    pub ctsyncd_log: PathBuf,
    /// ctsyncd's lock file.
    pub ctsyncd_lock: PathBuf,
    /// The sync group's notify hook.
    pub notify_script: PathBuf,
    /// Where the hook writes what it did, one `UNIX-SECONDS WORDS…` line per step.
    pub notify_log: PathBuf,
}

impl Files {
    /// The files of router `r` in `dir`.
    pub fn new(dir: &Path, r: Router) -> Self {
        let f = |s: &str| dir.join(format!("{}-{s}", r.name()));
        Self {
            keepalived_conf: f("keepalived.conf"),
            vrrpd_sock: f("vrrpd.sock"),
            kea_conf: f("kea-dhcp4.conf"),
            kea_sock: f("kea.sock"),
            leases: f("leases4.csv"),
            conntrackd_conf: f("conntrackd.conf"),
            ctsyncd_log: f("ctsyncd.log"),
            ctsyncd_lock: f("ctsyncd.lock"),
            notify_script: f("primary-backup.sh"),
            notify_log: f("notify.log"),
        }
    }
}

/// keepalived.conf of router `r`: the LAN and upstream instances in one sync group, whose
/// notify hooks run the `primary-backup.sh`-style script.
pub fn keepalived_conf(r: Router, files: &Files, advert: Duration, vmac: bool) -> String {
    let hook = files.notify_script.display();
    let instance = |name: &str, ifname: &str, vrid: u8, vip| {
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface {ifname}\n    \
             virtual_router_id {vrid}\n    priority {}\n    version 3\n    advert_int {}\n{}    \
             virtual_ipaddress {{\n        {vip}/32\n    }}\n}}\n",
            r.priority(),
            advert.as_secs_f64(),
            if vmac { "    use_vmac\n" } else { "" },
        )
    };
    format!(
        "# {name}: hakit HA lab (vrrpd reads keepalived's format)\n\
         global_defs {{\n    router_id {name}\n}}\n\n\
         vrrp_sync_group {GROUP} {{\n    group {{\n        {LAN_INSTANCE}\n        {UP_INSTANCE}\n    }}\n    \
         notify_master \"{hook} primary\"\n    notify_backup \"{hook} backup\"\n    \
         notify_fault \"{hook} fault\"\n}}\n\n{}\n{}",
        instance(LAN_INSTANCE, LAN_IF, LAN_VRID, LAN_VIP),
        instance(UP_INSTANCE, UP_IF, UP_VRID, UP_VIP),
        name = r.name(),
    )
}

/// kea-dhcp4.conf of router `r`: the LAN subnet with the LAN VIP as router (option 3), short
/// leases, and the HA hook as a hot-standby pair (r1 primary, r2 standby) whose peers talk on
/// the sync link.
pub fn kea_conf(r: Router, files: &Files, lease: LeaseTimers, ha: HaTimers) -> Value {
    let peer = |p: Router, role: &str| {
        json!({
            "name": p.name(),
            "url": format!("http://{}:{HA_PORT}/", p.sync()),
            "role": role,
            "auto-failover": true
        })
    };
    json!({ "Dhcp4": {
        "interfaces-config": { "interfaces": [LAN_IF] },
        "control-socket": { "socket-type": "unix", "socket-name": files.kea_sock },
        "lease-database": {
            "type": "memfile", "persist": true, "name": files.leases, "lfc-interval": 0
        },
        "valid-lifetime": lease.valid,
        "renew-timer": lease.renew,
        "rebind-timer": lease.rebind,
        "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2,
                             "packet-queue-size": 64 },
        "hooks-libraries": [
            { "library": LEASE_CMDS_HOOK },
            { "library": HA_HOOK, "parameters": { "high-availability": [ {
                "this-server-name": r.name(),
                "mode": "hot-standby",
                "heartbeat-delay": ha.heartbeat_ms,
                "max-response-delay": ha.max_response_ms,
                "max-ack-delay": ha.max_ack_ms,
                "max-unacked-clients": 0,
                "sync-timeout": 10000,
                "multi-threading": { "enable-multi-threading": true,
                                     "http-dedicated-listener": true,
                                     "http-listener-threads": 1,
                                     "http-client-threads": 1 },
                "peers": [ peer(Router::R1, "primary"), peer(Router::R2, "standby") ]
            } ] } }
        ],
        "subnet4": [ {
            "id": 1,
            "subnet": LAN_NET,
            "pools": [ { "pool": POOL } ],
            "option-data": [ { "name": "routers", "data": LAN_VIP.to_string() } ]
        } ],
        "loggers": [
            { "name": "kea-dhcp4", "severity": "INFO",
              "output_options": [ { "output": "stdout" } ] },
            { "name": "kea-dhcp4.ha-hooks", "severity": "INFO",
              "output_options": [ { "output": "stdout" } ] }
        ]
    } })
}

/// conntrackd.conf of router `r`: FTFW over UDP on the sync link, the routers' own
/// addresses and the VIPs ignored (only forwarded flows are synced).
pub fn conntrackd_conf(r: Router, files: &Files) -> String {
    let mut ignore = vec![
        "127.0.0.1".to_owned(),
        LAN_VIP.to_string(),
        UP_VIP.to_string(),
    ];
    for x in Router::BOTH {
        ignore.extend([x.lan(), x.up(), x.sync()].map(|a| a.to_string()));
    }
    let ignore: String = ignore
        .iter()
        .map(|a| format!("\t\t\tIPv4_address {a}\n"))
        .collect();
    format!(
        "# {name}: hakit HA lab (ctsyncd reads conntrackd's format)
Sync {{
	Mode FTFW {{
		ResendQueueSize 131072
	}}
	UDP {{
		IPv4_address {local}
		IPv4_Destination_Address {peer}
		Port 3780
		Interface {SYNC_IF}
		SndSocketBuffer 1249280
		RcvSocketBuffer 1249280
		Checksum on
	}}
}}
General {{
	HashSize 8192
	HashLimit 65536
	LogFile {log}
	Syslog off
	LockFile {lock}
	UNIX {{
		Path {sock}
	}}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Userspace {{
		Protocol Accept {{
			TCP
			UDP
			ICMP
		}}
		Address Ignore {{
{ignore}		}}
	}}
}}
",
        name = r.name(),
        local = r.sync(),
        peer = r.peer().sync(),
        log = files.ctsyncd_log.display(),
        lock = files.ctsyncd_lock.display(),
        sock = files.conntrackd_unix_path().display(),
    )
}

impl Files {
    /// ctsyncd's UNIX control socket.
    pub fn conntrackd_unix_path(&self) -> PathBuf {
        self.conntrackd_conf.with_extension("sock")
    }
}

/// The sync group's notify hook (`primary` / `backup` / `fault`): on becoming Master commit
/// the external cache into the kernel, then flush the caches, resync the internal cache with
/// the kernel and send a bulk update; on becoming Backup shorten the kernel's timers and ask
/// the peer for a resync; on a fault shorten the timers. Each step is logged with the unix
/// time, so that the lab can place it on its timeline.
pub fn notify_script(files: &Files, ctsyncd: &Path) -> String {
    format!(
        "#!/bin/sh
# hakit HA lab: vrrpd's sync group notify hook, driving ctsyncd (conntrackd's client flags).
CT=\"{ct} -C {conf}\"
note() {{ echo \"$(date +%s.%N) $*\" >> {log}; }}
case \"$1\" in
primary)
    note primary begin
    $CT -c; note primary commit-done $?
    $CT -f; $CT -R; $CT -B
    note primary done
    ;;
backup)
    note backup begin
    $CT -t; $CT -n
    note backup done $?
    ;;
fault)
    note fault begin
    $CT -t
    note fault done $?
    ;;
*)
    echo \"usage: $0 primary|backup|fault\" >&2
    exit 1
    ;;
esac
",
        ct = ctsyncd.display(),
        conf = files.conntrackd_conf.display(),
        log = files.notify_log.display(),
    )
}

/// Writes every file of router `r`, the hook executable.
pub fn write_all(
    r: Router,
    files: &Files,
    ctsyncd: &Path,
    advert: Duration,
    vmac: bool,
    lease: LeaseTimers,
    ha: HaTimers,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(
        &files.keepalived_conf,
        keepalived_conf(r, files, advert, vmac),
    )?;
    let kea =
        serde_json::to_vec_pretty(&kea_conf(r, files, lease, ha)).map_err(std::io::Error::other)?;
    std::fs::write(&files.kea_conf, kea)?;
    std::fs::write(&files.conntrackd_conf, conntrackd_conf(r, files))?;
    std::fs::write(&files.notify_script, notify_script(files, ctsyncd))?;
    std::fs::set_permissions(&files.notify_script, std::fs::Permissions::from_mode(0o755))
}
