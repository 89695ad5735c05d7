//! The cgroups an exec'd process goes into: the container's, or the sub-cgroups `--cgroup`
//! names, entered at the fork where the kernel allows it, else joined by the process (v1)
//! or by its pid (v2, rootless), as runc does.

use crate::syscalls::{CloneResult, clone_process};
use anyhow::{Result, anyhow, bail};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where the process goes and how it gets there.
pub(super) struct Placement {
    /// Every directory the process goes into (the freezer among them, watched while the
    /// process is set up).
    pub(super) dirs: Vec<PathBuf>,
    /// The v1 `tasks` files the process writes itself, while it is still in the host's user
    /// namespace; rootless, the parent joins the container's cgroups for it.
    pub(super) join_cgroups: Vec<PathBuf>,
    /// Those the parent puts the process in by its pid once it is forked.
    by_pid: Vec<PathBuf>,
    /// runc falls back to the init's cgroup (v2) only where --cgroup named none.
    fallback: bool,
    rootless_euid: bool,
}

impl Placement {
    pub(super) fn decide(
        container: &[PathBuf],
        sub_cgroups: &[String],
        rootless_euid: bool,
    ) -> Result<Self> {
        let dirs = exec_cgroups(container, sub_cgroups)?;
        let (v1_dirs, by_pid): (Vec<PathBuf>, Vec<PathBuf>) = dirs
            .iter()
            .cloned()
            .partition(|d| !rootless_euid && crate::cgroups::is_v1_dir(d));
        Ok(Placement {
            join_cgroups: v1_dirs.iter().map(|d| d.join("tasks")).collect(),
            dirs,
            by_pid,
            fallback: sub_cgroups.is_empty(),
            rootless_euid,
        })
    }

    /// Forks the process. A v2 cgroup is entered at the fork, for the same reason as v1's
    /// are joined by the process (clone3's CLONE_INTO_CGROUP), where the kernel allows it:
    /// not rootless, not into a cgroup whose controllers are delegated below it (EBUSY:
    /// then by pid, as runc, with [`join_cgroup`]'s fallback).
    pub(super) fn fork(&mut self) -> Result<CloneResult> {
        let born_in_cgroup = match self.by_pid.as_slice() {
            [dir] if !self.rootless_euid => crate::cgroups::open_clone_target(dir)
                .ok()
                .and_then(|d| crate::syscalls::clone_into_cgroup(0, d.as_raw_fd()).ok()),
            _ => None,
        };
        match born_in_cgroup {
            Some(cloned) => {
                self.by_pid.clear();
                Ok(cloned)
            }
            None => clone_process(0).map_err(|e| anyhow!("forking the process: {e}")),
        }
    }

    /// Puts the forked process `pid` in the cgroups it was not born in nor joins itself.
    /// Rootless, a process may not move itself into its user's delegated subtree from
    /// outside it (the kernel asks for write access to the common ancestor): as runc, the
    /// process then stays in the caller's cgroup.
    pub(super) fn place(&self, pid: i32, init_pid: i32, rootless_cgroups: bool) -> Result<()> {
        for dir in &self.by_pid {
            match join_cgroup(dir, pid, init_pid, self.fallback) {
                Ok(()) => {}
                Err(e) if rootless_cgroups && crate::rootless::is_permission_error(&e) => {
                    crate::logging::debug(&format!(
                        "rootless: the process stays out of {} ({e:#})",
                        dir.display()
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Puts `pid` in `dir`. On cgroup v2 a cgroup whose sub-cgroups use domain controllers
/// takes no processes of its own (EBUSY): as runc does, the process then joins the cgroup
/// the container's init is in (a container that manages its own subtree moved it there),
/// unless `--cgroup` named the cgroup (`fallback` false).
fn join_cgroup(dir: &Path, pid: i32, init_pid: i32, fallback: bool) -> Result<()> {
    let write = |d: &Path| crate::cgroups::fs::write(&d.join("cgroup.procs"), pid.to_string());
    let failed = |d: &Path, e: std::io::Error| {
        anyhow::Error::new(crate::cgroups::OsError(e)).context(format!(
            "error adding pid {pid} to cgroups: {}",
            d.join("cgroup.procs").display()
        ))
    };
    match write(dir) {
        Ok(()) => Ok(()),
        Err(e)
            if fallback
                && e.raw_os_error() == Some(libc::EBUSY)
                && crate::cgroups::is_unified_host() =>
        {
            let own = crate::procfs::read(&format!("/proc/{init_pid}/cgroup")).unwrap_or_default();
            let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
                return Err(failed(dir, e));
            };
            let init_dir = Path::new("/sys/fs/cgroup")
                .join(crate::rootfs::secure::clean_relative(Path::new(path)));
            write(&init_dir).map_err(|e2| {
                failed(dir, e).context(format!(
                    "nor to the init's {}: {}",
                    init_dir.display(),
                    crate::cgroups::OsError(e2)
                ))
            })
        }
        Err(e) => Err(failed(dir, e)),
    }
}

/// `--cgroup` as runc reads it: `CONTROLLER[,CONTROLLER...]:PATH` (v1), or one PATH alone
/// (v2, or every v1 hierarchy). Keys are controller names, "" for the path alone.
fn parse_sub_cgroups(args: &[String]) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for arg in args {
        match arg.split_once(':') {
            Some((controllers, path)) => {
                for c in controllers.split(',') {
                    if c.is_empty() {
                        bail!("invalid --cgroup argument: {arg} (empty <controller> prefix)");
                    }
                    if out.iter().any(|(k, _)| k == c) {
                        bail!(
                            "invalid --cgroup argument(s): controller {c} specified multiple times"
                        );
                    }
                    out.push((c.to_string(), path.to_string()));
                }
            }
            None if args.len() == 1 => out.push((String::new(), arg.clone())),
            None => bail!("invalid --cgroup argument: {arg} (missing <controller>: prefix)"),
        }
    }
    Ok(out)
}

/// `base` joined with `sub` and cleaned as a path (Go's path.Join), which must stay inside
/// `base`: `..` out of the container's cgroup is refused, with runc's words.
fn sub_cgroup(base: &Path, sub: &str) -> Result<PathBuf> {
    let mut joined = base.to_path_buf();
    for part in sub.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                joined.pop();
            }
            name => joined.push(name),
        }
    }
    if !joined.starts_with(base) {
        bail!("bad sub cgroup path: {sub}");
    }
    Ok(joined)
}

/// The directories the process joins: the container's, or with `--cgroup` the sub-cgroups
/// named (one path for every hierarchy, or per controller on v1), as runc resolves them.
/// Whether they exist shows when the process is added.
fn exec_cgroups(container: &[PathBuf], subs: &[String]) -> Result<Vec<PathBuf>> {
    let requested = parse_sub_cgroups(subs)?;
    if requested.is_empty() {
        return Ok(container.to_vec());
    }
    if let Some((_, sub)) = requested.iter().find(|(c, _)| c.is_empty()) {
        return container.iter().map(|d| sub_cgroup(d, sub)).collect();
    }
    let hierarchies = crate::cgroups::host_hierarchies()?;
    let mut dirs = container.to_vec();
    for (controller, sub) in &requested {
        let index = container.iter().position(|d| {
            hierarchies.iter().any(|h| {
                d.starts_with(&h.mount_point) && h.controllers.iter().any(|c| c == controller)
            })
        });
        let Some(i) = index else {
            bail!("unknown controller {controller} in SubCgroupPaths");
        };
        dirs[i] = sub_cgroup(&container[i], sub)?;
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_cgroups_are_read_and_joined_as_runc_does() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_sub_cgroups(&args(&["memory:m", "cpu,cpuacct:c"])).unwrap(),
            vec![
                ("memory".to_string(), "m".to_string()),
                ("cpu".to_string(), "c".to_string()),
                ("cpuacct".to_string(), "c".to_string())
            ]
        );
        assert_eq!(
            parse_sub_cgroups(&args(&["sub"])).unwrap(),
            vec![(String::new(), "sub".to_string())]
        );
        for (bad, words) in [
            (&["a", "b"][..], "missing <controller>: prefix"),
            (&[",cpu:x"][..], "empty <controller> prefix"),
            (
                &["cpu:x", "cpu:y"][..],
                "controller cpu specified multiple times",
            ),
        ] {
            let err = parse_sub_cgroups(&args(bad)).unwrap_err().to_string();
            assert!(err.contains(words), "{bad:?}: {err}");
        }
        let base = Path::new("/sys/fs/cgroup/pids/c");
        assert_eq!(sub_cgroup(base, "/").unwrap(), base);
        assert_eq!(sub_cgroup(base, "a/../b/./c").unwrap(), base.join("b/c"));
        for escape in ["..", "../c2", "a/../../x"] {
            let err = sub_cgroup(base, escape).unwrap_err().to_string();
            assert_eq!(err, format!("bad sub cgroup path: {escape}"));
        }
    }
}
