//! Accept_Mode off (RFC 5798 §6.1, keepalived's `no_accept`, which `vrrp_strict` implies): a
//! Master that is not the address owner must not accept packets addressed to the virtual
//! addresses, only answer ARP / Neighbor Discovery for them and forward traffic sent to the
//! virtual MAC.
//!
//! vrrpd keeps the drop rules in an nftables table of its own, `inet vrrpd`, written whole and
//! atomically by `nft -f -` whenever the set of such addresses changes (start, SIGHUP) and
//! deleted at exit. The rules sit on the `input` hook, which only sees packets for local
//! addresses, so the addresses stay in the sets in every state: a Backup does not hold them,
//! and a Master drops from its first packet on, with no firewall work on the failover path.
//! Neighbor Solicitations and Advertisements to an IPv6 virtual address pass (neighbor
//! unreachability detection must keep working); ARP is not IP and is not filtered.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

/// The nftables table (family `inet`) that holds vrrpd's rules.
pub(crate) const TABLE: &str = "vrrpd";

/// The virtual addresses whose traffic is dropped, by family.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// IPv4 virtual addresses.
    pub(crate) v4: BTreeSet<Ipv4Addr>,
    /// IPv6 virtual addresses.
    pub(crate) v6: BTreeSet<Ipv6Addr>,
}

impl Dropped {
    /// Adds `addr` to its family's set.
    pub(crate) fn insert(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(a) => {
                self.v4.insert(a);
            }
            IpAddr::V6(a) => {
                self.v6.insert(a);
            }
        }
    }

    /// Whether there is nothing to drop.
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// How many addresses there are.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// The nft script that replaces the table with one dropping traffic to `d`'s addresses.
/// (`table …{}` first, so that `delete table` also works when there is none yet.)
pub(crate) fn ruleset(d: &Dropped) -> String {
    fn elements<T: std::fmt::Display>(set: &BTreeSet<T>) -> String {
        if set.is_empty() {
            return String::new();
        }
        let list: Vec<String> = set.iter().map(ToString::to_string).collect();
        format!(" elements = {{ {} }};", list.join(", "))
    }
    let mut s = String::new();
    let _ = writeln!(s, "table inet {TABLE} {{}}");
    let _ = writeln!(s, "delete table inet {TABLE}");
    let _ = writeln!(s, "table inet {TABLE} {{");
    let _ = writeln!(s, "  set vips4 {{ type ipv4_addr;{} }}", elements(&d.v4));
    let _ = writeln!(s, "  set vips6 {{ type ipv6_addr;{} }}", elements(&d.v6));
    let _ = writeln!(s, "  chain accept_mode {{");
    let _ = writeln!(s, "    type filter hook input priority -1; policy accept;");
    let _ = writeln!(s, "    ip daddr @vips4 counter drop");
    let _ = writeln!(
        s,
        "    ip6 daddr @vips6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept"
    );
    let _ = writeln!(s, "    ip6 daddr @vips6 counter drop");
    let _ = writeln!(s, "  }}");
    let _ = writeln!(s, "}}");
    s
}

/// Runs `nft -f -` with `script` on its standard input.
fn nft(script: &str) -> io::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The table as installed: what it drops now.
#[derive(Debug, Default)]
pub(crate) struct AcceptFilter {
    installed: Option<Dropped>,
}

impl AcceptFilter {
    /// Makes the table drop exactly `want`'s addresses: nothing is run when they are already
    /// in place, and with nothing to drop the table is deleted (or never made). Returns whether
    /// nftables was changed.
    pub(crate) fn apply(&mut self, want: Dropped) -> io::Result<bool> {
        if want.is_empty() {
            return self.clear();
        }
        if self.installed.as_ref() == Some(&want) {
            return Ok(false);
        }
        nft(&ruleset(&want))?;
        self.installed = Some(want);
        Ok(true)
    }

    /// Deletes the table if vrrpd made it. Returns whether nftables was changed.
    pub(crate) fn clear(&mut self) -> io::Result<bool> {
        if self.installed.take().is_none() {
            return Ok(false);
        }
        nft(&format!("delete table inet {TABLE}\n"))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_lists_both_families_and_lets_neighbor_discovery_through() {
        let mut d = Dropped::default();
        d.insert("192.0.2.100".parse().unwrap());
        d.insert("192.0.2.101".parse().unwrap());
        d.insert("2001:db8::100".parse().unwrap());
        assert_eq!(d.len(), 3);
        let s = ruleset(&d);
        assert!(
            s.starts_with("table inet vrrpd {}\ndelete table inet vrrpd\n"),
            "{s}"
        );
        assert!(
            s.contains("set vips4 { type ipv4_addr; elements = { 192.0.2.100, 192.0.2.101 }; }"),
            "{s}"
        );
        assert!(
            s.contains("set vips6 { type ipv6_addr; elements = { 2001:db8::100 }; }"),
            "{s}"
        );
        let nd = s.find("nd-neighbor-solicit").unwrap();
        let drop6 = s.find("ip6 daddr @vips6 counter drop").unwrap();
        assert!(nd < drop6, "ND must be accepted before the drop: {s}");
    }

    #[test]
    fn an_empty_family_has_no_elements_clause() {
        let mut d = Dropped::default();
        d.insert("198.51.100.7".parse().unwrap());
        let s = ruleset(&d);
        assert!(s.contains("set vips6 { type ipv6_addr; }"), "{s}");
    }

    #[test]
    fn nothing_to_drop_runs_nothing() {
        let mut f = AcceptFilter::default();
        assert!(!f.apply(Dropped::default()).unwrap());
        assert!(!f.clear().unwrap());
    }
}
