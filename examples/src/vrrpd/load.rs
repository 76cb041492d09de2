//! Reading keepalived.conf from the file system: `include` globs, the config id, and the
//! interface addresses the conversion asks for.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use vrrp_fsm::keepalived::{self, Includes, Options, Runnable, Warning};
use vrrp_proto::Family;

/// `include` over the file system: a relative pattern is relative to the including file's
/// directory; `*` and `?` are expanded in the last path component (sorted, as glob(3)).
#[derive(Debug, Default)]
pub struct FsIncludes;

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

impl Includes for FsIncludes {
    fn include(&mut self, pattern: &str, from: &str) -> Result<Vec<(String, String)>, String> {
        let base = Path::new(from).parent().unwrap_or_else(|| Path::new("."));
        let full: PathBuf = if Path::new(pattern).is_absolute() {
            pattern.into()
        } else {
            base.join(pattern)
        };
        let name = full
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let paths = if name.contains(['*', '?']) {
            let dir = full.parent().unwrap_or_else(|| Path::new("."));
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| wildcard(name.as_bytes(), n.as_bytes()))
                })
                .collect();
            v.sort();
            v
        } else {
            vec![full]
        };
        paths
            .into_iter()
            .map(|p| {
                std::fs::read_to_string(&p)
                    .map(|t| (p.display().to_string(), t))
                    .map_err(|e| format!("{}: {e}", p.display()))
            })
            .collect()
    }
}

/// keepalived's default config id: the host name.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The address adverts leave from: the interface's first primary IPv4 address, or its IPv6
/// link-local address.
pub fn primary_addr(nl: &mut vmac::Netlink, ifname: &str, family: Family) -> Option<IpAddr> {
    let link = nl.link_by_name(ifname).ok()??;
    match family {
        Family::Ipv4 => nl
            .addresses_of(link.index)
            .ok()?
            .into_iter()
            .filter(|a| a.addr.is_ipv4() && !a.is_secondary())
            .map(|a| a.addr)
            .next(),
        Family::Ipv6 => nl.link_local_of(link.index).ok()?.map(IpAddr::V6),
    }
}

/// What reading a file gave.
#[derive(Debug)]
pub struct Loaded {
    /// The runnable instances and groups.
    pub runnable: Runnable,
    /// The parsed configuration (for `-d`).
    pub parsed: keepalived::KeepalivedConf,
    /// Warnings, with positions.
    pub warnings: Vec<Warning>,
}

/// Reads, parses and converts `file`. `addr` answers the source-address question. Errors are
/// `file:line:column: message`.
pub fn load(
    file: &Path,
    config_id: Option<String>,
    addr: &mut dyn FnMut(&str, Family) -> Option<IpAddr>,
) -> Result<Loaded, String> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
    let opts = Options {
        config_id: config_id.or_else(host_name),
    };
    let parsed =
        keepalived::parse(&text, &name, &mut FsIncludes, &opts).map_err(|e| e.to_string())?;
    let runnable = keepalived::convert(&parsed.config, addr).map_err(|e| e.to_string())?;
    Ok(Loaded {
        runnable,
        parsed: parsed.config,
        warnings: parsed.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.conf", b"a.conf"));
        assert!(wildcard(b"v?.conf", b"v1.conf"));
        assert!(!wildcard(b"*.conf", b"a.cfg"));
        assert!(wildcard(b"*", b""));
    }
}
