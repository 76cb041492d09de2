//! Who runs keepalived's scripts (`vrrp_script` checks and notify scripts), and whether a
//! script is safe to run: `script_user` and `enable_script_security` of `global_defs`.
//!
//! As in keepalived: scripts run as `script_user` (its primary group unless a group is
//! given); without it, as `keepalived_script` if that user exists, else as root (with a
//! warning). A script is *insecure* when a user other than root and the script user could
//! change what runs: the executable, or any directory on its path, owned by someone else or
//! writable by group or others (a root-owned sticky directory such as `/tmp` is fine: others
//! cannot replace a file in it they do not own). With `enable_script_security` an insecure
//! script is not run; without it, it runs and the daemon says that it should not.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::sys;

/// The user keepalived runs scripts as when `script_user` is not set, if it exists.
pub(crate) const DEFAULT_USER: &str = "keepalived_script";

/// How scripts are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScriptPolicy {
    /// The user and group the scripts run as; `None`: the daemon's own (root).
    pub(crate) ids: Option<(u32, u32)>,
    /// The name of that user, for log lines.
    pub(crate) user: String,
    /// `enable_script_security`.
    pub(crate) security: bool,
}

impl ScriptPolicy {
    /// The policy of `script_user` / `enable_script_security`; warnings go to `warn`. An
    /// unknown `script_user` or group is an error (keepalived refuses it as well).
    pub(crate) fn new(
        script_user: Option<&(String, Option<String>)>,
        security: bool,
        warn: &mut dyn FnMut(String),
    ) -> Result<Self, String> {
        let lookup =
            |u: &str| sys::user_ids(u).map_err(|e| format!("cannot look up script user {u}: {e}"));
        let (user, ids) = match script_user {
            Some((u, group)) => {
                let (uid, mut gid) =
                    lookup(u)?.ok_or_else(|| format!("script_user {u}: no such user"))?;
                if let Some(g) = group {
                    gid = sys::group_id(g)
                        .map_err(|e| format!("cannot look up group {g}: {e}"))?
                        .ok_or_else(|| format!("script_user {u} {g}: no such group"))?;
                }
                (u.clone(), Some((uid, gid)))
            }
            None => match lookup(DEFAULT_USER)? {
                Some(ids) => (DEFAULT_USER.to_owned(), Some(ids)),
                None => {
                    warn(format!(
                        "scripts run as root: the default script user '{DEFAULT_USER}' does not \
                         exist (create it, or set script_user)"
                    ));
                    ("root".to_owned(), None)
                }
            },
        };
        Ok(Self {
            ids,
            user,
            security,
        })
    }

    /// Root, without security checks: what tests and a missing configuration get.
    pub(crate) fn root() -> Self {
        Self {
            ids: None,
            user: "root".to_owned(),
            security: false,
        }
    }

    /// Sets the user and group of a script's process.
    pub(crate) fn apply(&self, cmd: &mut tokio::process::Command) {
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid).gid(gid);
        }
    }

    /// Why `command_line` (a script as keepalived.conf writes it) is insecure for this
    /// policy, if it is: the offending path and what is wrong with it.
    pub(crate) fn insecurity(&self, command_line: &str) -> Option<String> {
        let uid = self.ids.map_or(0, |(u, _)| u);
        let program = program_of(command_line)?;
        let Some(path) = resolve(&program) else {
            return Some(format!("{program}: not found"));
        };
        let mut at: Option<&Path> = Some(&path);
        while let Some(p) = at {
            let meta = match std::fs::metadata(p) {
                Ok(m) => m,
                Err(e) => return Some(format!("{}: {e}", p.display())),
            };
            let owner = meta.uid();
            let mode = meta.mode();
            let sticky_root_dir = meta.is_dir() && mode & 0o1000 != 0 && owner == 0;
            if owner != 0 && owner != uid {
                return Some(format!("{} is owned by uid {owner}", p.display()));
            }
            if mode & 0o020 != 0 && !sticky_root_dir {
                return Some(format!("{} is writable by its group", p.display()));
            }
            if mode & 0o002 != 0 && !sticky_root_dir {
                return Some(format!("{} is writable by anyone", p.display()));
            }
            at = p.parent();
        }
        None
    }
}

/// The program of a command line: its first word, without quotes.
fn program_of(command_line: &str) -> Option<String> {
    let w = command_line.split_whitespace().next()?;
    Some(w.trim_matches(['"', '\'']).to_owned())
}

/// Where `program` is: itself when it has a slash, else the first match in `PATH`.
fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn policy(security: bool) -> ScriptPolicy {
        ScriptPolicy {
            security,
            ..ScriptPolicy::root()
        }
    }

    #[test]
    fn the_program_is_the_first_word() {
        assert_eq!(
            program_of("\"/bin/true\" a b").as_deref(),
            Some("/bin/true")
        );
        assert_eq!(program_of("  test -e /x").as_deref(), Some("test"));
        assert_eq!(program_of("   "), None);
    }

    #[test]
    fn system_programs_are_secure_and_a_world_writable_script_is_not() {
        // Root-owned, not writable by others: /bin/sh and its directories.
        assert_eq!(policy(true).insecurity("/bin/sh -c true"), None);
        assert_eq!(policy(true).insecurity("sh -c true"), None);
        if !nix_is_root() {
            return; // the files made below would be owned by a non-root user anyway
        }
        let dir = std::env::temp_dir().join(format!("vrrpd-scripts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = dir.join("check.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(policy(true).insecurity(script.to_str().unwrap()), None);
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o757)).unwrap();
        let why = policy(true).insecurity(script.to_str().unwrap()).unwrap();
        assert!(why.contains("writable by anyone"), "{why}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        let why = policy(true).insecurity(script.to_str().unwrap()).unwrap();
        assert!(why.contains("writable by its group"), "{why}");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            policy(true)
                .insecurity("/nonexistent/x")
                .unwrap()
                .contains("No such file")
        );
    }

    fn nix_is_root() -> bool {
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }
}
