//! The namespaces an exec'd process joins, opened from the container's init.

use anyhow::{Result, anyhow};
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::OwnedFd;

/// The namespaces a process is in, in the order exec joins them (user first).
const NAMESPACES: [(LinuxNamespaceType, &str); 8] = [
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Mount, "mnt"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Pid, "pid"),
    (LinuxNamespaceType::Time, "time"),
];

/// The namespaces exec joins: those of the kinds the container's config lists, as runc
/// joins them (a kind the container shares with the host stays the caller's), each opened
/// from the init's /proc/<pid>/ns. The config names the kinds, so no link needs reading to
/// compare with this process's: but for the user namespace, which can't be joined by a
/// process already in it.
pub(super) struct Joins {
    pub(super) user: Option<OwnedFd>,
    /// The pid and time namespaces, which only apply to children: the parent joins them.
    before_fork: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// The others, which the process joins itself, in runc's order around `user`.
    pub(super) in_child: Vec<(LinuxNamespaceType, OwnedFd)>,
}

fn namespaces_to_join(pid: i32, spec: &oci_spec::runtime::Spec) -> Result<Joins> {
    use nix::fcntl::{OFlag, openat, readlinkat};
    use nix::sys::stat::Mode;
    let listed: Vec<LinuxNamespaceType> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| ns.iter().map(|n| n.typ()).collect())
        .unwrap_or_default();
    let path = format!("/proc/{pid}/ns");
    let theirs = nix::fcntl::open(
        path.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow!("opening {path}: {e}"))?;
    let mut joins = Joins {
        user: None,
        before_fork: Vec::new(),
        in_child: Vec::new(),
    };
    for (t, name) in NAMESPACES.iter().filter(|(t, _)| listed.contains(t)) {
        if *t == LinuxNamespaceType::User {
            let ours = std::fs::read_link("/proc/self/ns/user").ok();
            if ours.is_some() && readlinkat(&theirs, *name).ok().map(Into::into) == ours {
                continue;
            }
        }
        let fd = openat(
            &theirs,
            *name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| anyhow!("opening {path}/{name}: {e}"))?;
        match t {
            LinuxNamespaceType::User => joins.user = Some(fd),
            LinuxNamespaceType::Pid | LinuxNamespaceType::Time => joins.before_fork.push((*t, fd)),
            _ => joins.in_child.push((*t, fd)),
        }
    }
    Ok(joins)
}

/// The namespaces to join, with those that must be joined before the fork joined already:
/// the user namespace for an ordinary user, who has no privilege over the container's pid
/// and time namespaces until it is in it (no process of the container's can reach this
/// one by it; only the user's own can, as before), then the pid and time namespaces, which
/// only apply to children.
pub(super) fn join_before_fork(
    init_pid: i32,
    spec: &oci_spec::runtime::Spec,
    rootless_euid: bool,
) -> Result<Joins> {
    let mut joins = namespaces_to_join(init_pid, spec)?;
    if rootless_euid && let Some(fd) = joins.user.take() {
        nix::sched::setns(&fd, crate::namespaces::flag(LinuxNamespaceType::User))
            .map_err(|e| anyhow!("joining the container's user namespace: {e}"))?;
    }
    for (t, fd) in &joins.before_fork {
        nix::sched::setns(fd, crate::namespaces::flag(*t)).map_err(|e| {
            anyhow!(
                "joining the container's {} namespace: {e}",
                crate::namespaces::name(*t)
            )
        })?;
    }
    Ok(joins)
}
