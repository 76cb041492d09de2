//! The per-interface sysctls of the VMAC recipe, read and written as files under
//! `/proc/sys/net/ipv{4,6}/conf/IFNAME/` (never as dotted names: interface names such as
//! `vrrp.51` or `eth0.100` contain dots).
//!
//! The recipe, as keepalived applies it:
//!
//! | where | key | value | why |
//! |---|---|---|---|
//! | VMAC | `ipv4 accept_local` | 1 | hear the other routers' adverts sourced from the shared VMAC |
//! | VMAC | `ipv4 arp_ignore` | 1 | answer ARP only for addresses on the VMAC itself |
//! | VMAC | `ipv4 rp_filter` | 0 | receive on the VMAC while it has no address |
//! | VMAC | `ipv4 promote_secondaries` | 1 | removing the first VIP keeps the others |
//! | parent | `ipv4 arp_ignore` | 1 | the parent must not answer ARP for the VIPs |
//! | parent | `ipv4 arp_filter` | 1 | nor for its own addresses through the VMAC |
//! | VMAC | `ipv6 accept_ra`, `autoconf` | 0 | addr-gen-mode NONE does not stop SLAAC from building an EUI-64 address from the shared MAC |
//!
//! The kernel uses `max(all, IFNAME)` for `rp_filter`, `arp_ignore` and `arp_announce`, so
//! the `all` values are read too: [`RecipeReport::warnings`] says where `all` overrides the
//! recipe, and [`Sysctl::clear_all_rp_filter`] moves a non-zero `all/rp_filter` onto each
//! interface, as keepalived does, so the VMAC's 0 takes effect without weakening any other
//! interface.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::Family;
use crate::error::{Error, Result};
use crate::link::validate_ifname;

/// Reads and writes `PROC/sys/net/ipv{4,6}/conf/IFNAME/KEY`, with `PROC` = `/proc` unless
/// set otherwise (tests use a temporary directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    proc_root: PathBuf,
}

impl Default for Sysctl {
    fn default() -> Self {
        Self::new()
    }
}

/// A value as it was before the crate changed it, to put back with [`Sysctl::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The sysctl file.
    pub path: PathBuf,
    /// Its value before.
    pub value: i64,
}

/// The values the kernel actually uses on one interface: `max(all, IFNAME)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effective {
    /// `max(all, IFNAME)` of `rp_filter`.
    pub rp_filter: i64,
    /// `max(all, IFNAME)` of `arp_ignore`.
    pub arp_ignore: i64,
    /// `max(all, IFNAME)` of `arp_announce`.
    pub arp_announce: i64,
}

/// A recipe value that `all` overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The interface.
    pub ifname: String,
    /// The key (`rp_filter`, `arp_ignore`).
    pub key: &'static str,
    /// What the recipe wrote on the interface.
    pub wanted: i64,
    /// The `all` value.
    pub all: i64,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "net/ipv4/conf/all/{key} = {all} overrides {ifname}/{key} = {wanted} (the kernel uses \
             the maximum of the two)",
            key = self.key,
            all = self.all,
            ifname = self.ifname,
            wanted = self.wanted,
        )?;
        if self.key == "rp_filter" {
            f.write_str("; Sysctl::clear_all_rp_filter moves `all` onto each interface")?;
        }
        Ok(())
    }
}

/// What [`Sysctl::apply_vmac_recipe`] did and found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipeReport {
    /// The parent's values the recipe changed, as they were: put them back with
    /// [`Sysctl::restore`] when the last VMAC on that parent goes.
    pub parent_saved: Vec<Saved>,
    /// The VMAC's effective values after the recipe (IPv4 recipe only).
    pub vmac: Effective,
    /// The parent's effective values after the recipe (IPv4 recipe only).
    pub parent: Effective,
    /// Where `all` overrides the recipe.
    pub warnings: Vec<Warning>,
}

fn family_dir(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

impl Sysctl {
    /// Sysctls of the running kernel (`/proc`).
    pub fn new() -> Self {
        Self::with_proc_root("/proc")
    }

    /// Sysctls under another `/proc` (a test's temporary directory holding
    /// `sys/net/ipv4/conf/...`).
    pub fn with_proc_root(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
        }
    }

    /// The `conf` directory of a family: `PROC/sys/net/ipv4/conf`.
    pub fn conf_dir(&self, family: Family) -> PathBuf {
        self.proc_root
            .join("sys/net")
            .join(family_dir(family))
            .join("conf")
    }

    /// The file of one sysctl. `ifname` may also be `all` or `default`.
    pub fn path(&self, family: Family, ifname: &str, key: &str) -> Result<PathBuf> {
        validate_ifname(ifname)?;
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(Error::Invalid(format!("sysctl key {key:?}")));
        }
        Ok(self.conf_dir(family).join(ifname).join(key))
    }

    /// Reads an integer sysctl.
    pub fn read(&self, family: Family, ifname: &str, key: &str) -> Result<i64> {
        read_path(&self.path(family, ifname, key)?)
    }

    /// Writes an integer sysctl.
    pub fn write(&self, family: Family, ifname: &str, key: &str, value: i64) -> Result<()> {
        write_path(&self.path(family, ifname, key)?, value)
    }

    /// Writes `value` unless the sysctl already holds it; returns the old value when it
    /// changed something.
    pub fn set(
        &self,
        family: Family,
        ifname: &str,
        key: &str,
        value: i64,
    ) -> Result<Option<Saved>> {
        let path = self.path(family, ifname, key)?;
        let old = read_path(&path)?;
        if old == value {
            return Ok(None);
        }
        write_path(&path, value)?;
        Ok(Some(Saved { path, value: old }))
    }

    /// The effective IPv4 values of an interface (`max(all, IFNAME)`).
    pub fn effective(&self, ifname: &str) -> Result<Effective> {
        let eff = |key| -> Result<i64> {
            Ok(self
                .read(Family::V4, "all", key)?
                .max(self.read(Family::V4, ifname, key)?))
        };
        Ok(Effective {
            rp_filter: eff("rp_filter")?,
            arp_ignore: eff("arp_ignore")?,
            arp_announce: eff("arp_announce")?,
        })
    }

    /// Applies the VMAC recipe (see the module documentation) to `vmac` and its `parent`. For
    /// an IPv6 instance only the IPv6 part applies; for an IPv4 one the IPv6 part is skipped
    /// when the kernel has no IPv6.
    pub fn apply_vmac_recipe(
        &self,
        vmac: &str,
        parent: &str,
        family: Family,
    ) -> Result<RecipeReport> {
        let mut report = RecipeReport::default();
        if family == Family::V4 {
            for (key, value) in [
                ("accept_local", 1),
                ("arp_ignore", 1),
                ("rp_filter", 0),
                ("promote_secondaries", 1),
            ] {
                self.write(Family::V4, vmac, key, value)?;
            }
            for (key, value) in [("arp_ignore", 1), ("arp_filter", 1)] {
                if let Some(saved) = self.set(Family::V4, parent, key, value)? {
                    report.parent_saved.push(saved);
                }
            }
            report.vmac = self.effective(vmac)?;
            report.parent = self.effective(parent)?;
            let all_rp = self.read(Family::V4, "all", "rp_filter")?;
            let all_ai = self.read(Family::V4, "all", "arp_ignore")?;
            let mut warn = |ifname: &str, key, wanted, all, effective| {
                if effective != wanted {
                    report.warnings.push(Warning {
                        ifname: ifname.to_owned(),
                        key,
                        wanted,
                        all,
                    });
                }
            };
            warn(vmac, "rp_filter", 0, all_rp, report.vmac.rp_filter);
            warn(vmac, "arp_ignore", 1, all_ai, report.vmac.arp_ignore);
            warn(parent, "arp_ignore", 1, all_ai, report.parent.arp_ignore);
        }
        let v6 = self.conf_dir(Family::V6).join(vmac);
        if family == Family::V6 || v6.is_dir() {
            self.write(Family::V6, vmac, "accept_ra", 0)?;
            self.write(Family::V6, vmac, "autoconf", 0)?;
        }
        Ok(report)
    }

    /// keepalived's fix for a non-zero `all/rp_filter`, which would override the VMAC's 0:
    /// raise `default/rp_filter` and every interface's `rp_filter` to at least the `all`
    /// value, then set `all` to 0. Every interface keeps the filtering it had, and the VMAC's
    /// 0 takes effect. Returns what it changed, for [`Sysctl::restore`].
    pub fn clear_all_rp_filter(&self) -> Result<Vec<Saved>> {
        let all = self.read(Family::V4, "all", "rp_filter")?;
        let mut saved = Vec::new();
        if all == 0 {
            return Ok(saved);
        }
        let dir = self.conf_dir(Family::V4);
        let entries = fs::read_dir(&dir).map_err(|source| Error::Sysctl {
            path: dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n != "all")
            .collect();
        // `default` first, so an interface appearing meanwhile starts with the raised value.
        names.sort_by_key(|n| n != "default");
        for name in names {
            let path = self.path(Family::V4, &name, "rp_filter")?;
            match read_path(&path) {
                Ok(v) if v < all => {
                    write_path(&path, all)?;
                    saved.push(Saved { path, value: v });
                }
                Ok(_) => {}
                // The interface went away meanwhile.
                Err(Error::Sysctl { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let path = self.path(Family::V4, "all", "rp_filter")?;
        write_path(&path, 0)?;
        saved.push(Saved { path, value: all });
        Ok(saved)
    }

    /// Puts saved values back, last change first. Files that no longer exist (the interface
    /// is gone) are skipped.
    pub fn restore(&self, saved: &[Saved]) -> Result<()> {
        for s in saved.iter().rev() {
            match write_path(&s.path, s.value) {
                Err(Error::Sysctl { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(())
    }
}

fn read_path(path: &Path) -> Result<i64> {
    let s = fs::read_to_string(path).map_err(|source| Error::Sysctl {
        path: path.to_owned(),
        source,
    })?;
    s.trim().parse().map_err(|_| Error::SysctlValue {
        path: path.to_owned(),
        value: s.trim().to_owned(),
    })
}

fn write_path(path: &Path, value: i64) -> Result<()> {
    // `fs::write` would create a missing file; a sysctl that does not exist is an error.
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|source| Error::Sysctl {
            path: path.to_owned(),
            source,
        })?;
    f.write_all(format!("{value}\n").as_bytes())
        .map_err(|source| Error::Sysctl {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake `/proc` in a temporary directory, removed on drop.
    struct FakeProc(PathBuf);

    impl FakeProc {
        fn new(ifaces: &[&str]) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let root = std::env::temp_dir().join(format!(
                "vmac-sysctl-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            for fam in ["ipv4", "ipv6"] {
                for i in ifaces.iter().chain(&["all", "default"]) {
                    let d = root.join("sys/net").join(fam).join("conf").join(i);
                    fs::create_dir_all(&d).unwrap();
                    for key in [
                        "accept_local",
                        "arp_ignore",
                        "arp_filter",
                        "arp_announce",
                        "rp_filter",
                        "promote_secondaries",
                        "accept_ra",
                        "autoconf",
                    ] {
                        let v = if fam == "ipv6" { "1\n" } else { "0\n" };
                        fs::write(d.join(key), v).unwrap();
                    }
                }
            }
            Self(root)
        }

        fn get(&self, fam: &str, i: &str, key: &str) -> String {
            fs::read_to_string(
                self.0
                    .join("sys/net")
                    .join(fam)
                    .join("conf")
                    .join(i)
                    .join(key),
            )
            .unwrap()
            .trim()
            .to_owned()
        }

        fn put(&self, fam: &str, i: &str, key: &str, v: &str) {
            fs::write(
                self.0
                    .join("sys/net")
                    .join(fam)
                    .join("conf")
                    .join(i)
                    .join(key),
                v,
            )
            .unwrap();
        }
    }

    impl Drop for FakeProc {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn recipe_writes_under_dotted_names() {
        let p = FakeProc::new(&["vrrp.51", "eth0.100"]);
        p.put("ipv4", "eth0.100", "arp_ignore", "2");
        let s = Sysctl::with_proc_root(&p.0);
        let r = s
            .apply_vmac_recipe("vrrp.51", "eth0.100", Family::V4)
            .unwrap();
        for (key, v) in [
            ("accept_local", "1"),
            ("arp_ignore", "1"),
            ("rp_filter", "0"),
            ("promote_secondaries", "1"),
        ] {
            assert_eq!(p.get("ipv4", "vrrp.51", key), v, "{key}");
        }
        assert_eq!(p.get("ipv4", "eth0.100", "arp_ignore"), "1");
        assert_eq!(p.get("ipv4", "eth0.100", "arp_filter"), "1");
        assert_eq!(p.get("ipv6", "vrrp.51", "accept_ra"), "0");
        assert_eq!(p.get("ipv6", "vrrp.51", "autoconf"), "0");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.vmac.arp_ignore, 1);
        // The parent's old values, to restore.
        assert_eq!(r.parent_saved.len(), 2);
        s.restore(&r.parent_saved).unwrap();
        assert_eq!(p.get("ipv4", "eth0.100", "arp_ignore"), "2");
        assert_eq!(p.get("ipv4", "eth0.100", "arp_filter"), "0");
    }

    #[test]
    fn all_overrides_are_reported_and_rp_filter_cleared() {
        let p = FakeProc::new(&["vrrp.51", "eth0", "eth1"]);
        p.put("ipv4", "all", "rp_filter", "1");
        p.put("ipv4", "all", "arp_ignore", "2");
        p.put("ipv4", "eth1", "rp_filter", "2");
        let s = Sysctl::with_proc_root(&p.0);
        let r = s.apply_vmac_recipe("vrrp.51", "eth0", Family::V4).unwrap();
        assert_eq!(r.vmac.rp_filter, 1);
        let keys: Vec<_> = r
            .warnings
            .iter()
            .map(|w| (w.ifname.as_str(), w.key))
            .collect();
        assert_eq!(
            keys,
            [
                ("vrrp.51", "rp_filter"),
                ("vrrp.51", "arp_ignore"),
                ("eth0", "arp_ignore")
            ]
        );
        assert!(
            r.warnings[0].to_string().contains("all/rp_filter = 1"),
            "{}",
            r.warnings[0]
        );

        let saved = s.clear_all_rp_filter().unwrap();
        assert_eq!(p.get("ipv4", "all", "rp_filter"), "0");
        assert_eq!(p.get("ipv4", "default", "rp_filter"), "1");
        assert_eq!(p.get("ipv4", "eth0", "rp_filter"), "1");
        assert_eq!(
            p.get("ipv4", "eth1", "rp_filter"),
            "2",
            "a stricter value is kept"
        );
        // The VMAC is an interface like the others; re-apply the recipe to zero it.
        s.write(Family::V4, "vrrp.51", "rp_filter", 0).unwrap();
        assert_eq!(s.effective("vrrp.51").unwrap().rp_filter, 0);
        assert_eq!(s.effective("eth0").unwrap().rp_filter, 1);

        s.restore(&saved).unwrap();
        assert_eq!(p.get("ipv4", "all", "rp_filter"), "1");
        assert_eq!(p.get("ipv4", "eth0", "rp_filter"), "0");
        assert_eq!(p.get("ipv4", "default", "rp_filter"), "0");
    }

    #[test]
    fn ipv6_recipe_and_errors() {
        let p = FakeProc::new(&["vmac6", "eth0"]);
        let s = Sysctl::with_proc_root(&p.0);
        let r = s.apply_vmac_recipe("vmac6", "eth0", Family::V6).unwrap();
        assert_eq!(r, RecipeReport::default());
        assert_eq!(p.get("ipv6", "vmac6", "accept_ra"), "0");
        assert_eq!(p.get("ipv4", "vmac6", "arp_ignore"), "0", "IPv4 untouched");

        // A missing interface is an error naming the file; a bad name never reaches the disk.
        let e = s.apply_vmac_recipe("nope", "eth0", Family::V4).unwrap_err();
        assert!(e.to_string().contains("conf/nope/accept_local"), "{e}");
        assert!(s.read(Family::V4, "../x", "rp_filter").is_err());
        assert!(s.read(Family::V4, "eth0", "../../x").is_err());
        p.put("ipv4", "eth0", "rp_filter", "junk");
        assert!(matches!(
            s.read(Family::V4, "eth0", "rp_filter"),
            Err(Error::SysctlValue { .. })
        ));
    }
}
