//! Namespaces: which ones the container gets new, which it joins by path, and in what
//! order, split between the rrun parent (before clone) and the init (after clone).
//!
//! - A new pid namespace is created by the clone itself, so init is pid 1 of it without an
//!   extra fork; with a user namespace, so are all the others. Without one, the init
//!   unshares the new network, uts, ipc and mount namespaces itself the moment it runs,
//!   while the parent makes the records and cgroups (`early_unshare`). A new cgroup
//!   namespace is unshared by init *after* it joined its cgroup, so that cgroup is its root.
//! - A pid namespace given by path only affects children, so the parent joins it before
//!   cloning (no extra fork either), and returns to its own right after: its hooks and
//!   threads stay out of the container's. A new time namespace is unshared by the parent
//!   too (that too affects only children), since its offsets must be written before any
//!   process lives in it, and left after the clone as well. A parent that could not
//!   return (root only in a user namespace) leaves both to a short-lived intermediate
//!   process that clones the init for it. A time namespace given by
//!   path is joined by init: setns moves its caller too, and a parent in it would read the
//!   init's start time shifted by its boottime offset (the container would then look like
//!   another process to `state`).
//! - Other namespaces given by path are joined by init in runc's order: first those it
//!   may join as it is (a namespace not owned by the joined user namespace can only be
//!   joined from outside it), then the user namespace, then the rest (an ordinary user
//!   may join the namespaces a user namespace owns only once inside it).

use anyhow::{Context, Result, anyhow, bail};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

pub struct NamespacePlan {
    /// Namespaces created by clone().
    pub clone_flags: CloneFlags,
    /// Namespaces the init makes itself as soon as it runs, while the parent makes its
    /// records and cgroups (see [`early_unshare`]).
    pub early_unshare: CloneFlags,
    /// Namespaces init unshares itself after joining those by path.
    pub late_unshare: CloneFlags,
    /// Namespaces init joins, other than the user namespace, with fds opened before the
    /// clone.
    pub child_joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// The user namespace joined by path, with the path as the config gives it.
    pub user_join: Option<(PathBuf, OwnedFd)>,
    /// Which of `child_joins` (bit i) and the user namespace (bit 31) are joined; the
    /// intermediate's joins are seen by the init it clones, a copy of it.
    joined: Cell<u32>,
    /// The pid namespace the parent joins before the clone.
    pub parent_joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub new_time: bool,
    pub new_user: bool,
    pub user_ns: bool,
    pub new_cgroup: bool,
    /// A new pid namespace inside a joined user namespace (a Kubernetes pod's app
    /// container with `hostUsers: false`): the pid namespace must be made by a process
    /// already in that user namespace, so a short-lived intermediate joins it and clones
    /// the init (see `clone_init`); that intermediate joins the namespaces given by path.
    pub intermediate: bool,
}

impl NamespacePlan {
    /// Whether the container gets a new namespace of this kind, whoever makes it.
    pub fn makes_new(&self, kind: CloneFlags) -> bool {
        (self.clone_flags | self.early_unshare | self.late_unshare).contains(kind)
    }

    /// Whether the init mounts the config's first pseudo filesystems before "go"
    /// (`rootfs::Build::mount_pseudo_filesystems`): in a mount namespace it made itself
    /// before "go", with every namespace those mounts show (pid, network, ipc) already its
    /// own, and no user namespace, whose maps rrun writes before "go". Namespaces joined by
    /// path (a pod's) are joined after "go", so their mounts wait for it.
    pub fn init_mounts_before_go(&self) -> bool {
        self.early_unshare.contains(CloneFlags::CLONE_NEWNS)
            && !self.user_ns
            && self.child_joins.is_empty()
            && self.user_join.is_none()
            && !self.intermediate
    }
}

const USER_JOINED: u32 = 1 << 31;

/// What the init may make by unshare as well as the clone would: every new namespace but
/// the pid namespace (only a clone makes its first process), the user namespace (the
/// others must be made inside it, and the parent writes its maps) and those ordered
/// around joins (cgroup, time). Made in the clone, they cost the parent's clone call:
/// the network namespace alone is half a millisecond of the parent's path. Made by the
/// init, they take shape on the other CPU while the parent makes the records and
/// cgroups; the init is still in the parent's cgroups then, as it was in the clone, so
/// the same cgroup is charged for them.
const UNSHARED_EARLY: CloneFlags = CloneFlags::CLONE_NEWNET
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNS);

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

pub fn name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn plan(spec: &Spec) -> Result<NamespacePlan> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let user_joined = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    let mut p = NamespacePlan {
        clone_flags: CloneFlags::empty(),
        early_unshare: CloneFlags::empty(),
        late_unshare: CloneFlags::empty(),
        child_joins: Vec::new(),
        parent_joins: Vec::new(),
        new_time: false,
        new_user: false,
        user_ns: false,
        new_cgroup: false,
        user_join: None,
        joined: Cell::new(0),
        intermediate: false,
    };
    for ns in &namespaces {
        let t = ns.typ();
        if t == LinuxNamespaceType::User {
            p.user_ns = true;
        }
        match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => {
                let fd = open_ns(t, path)?;
                if t == LinuxNamespaceType::User {
                    p.user_join = Some((path.clone(), fd));
                } else if t == LinuxNamespaceType::Pid {
                    p.parent_joins.push((t, fd));
                } else {
                    p.child_joins.push((t, fd));
                }
            }
            _ => match t {
                LinuxNamespaceType::Time => p.new_time = true,
                LinuxNamespaceType::Cgroup => {
                    p.new_cgroup = true;
                    p.late_unshare |= flag(t);
                }
                LinuxNamespaceType::User => {
                    p.new_user = true;
                    p.clone_flags |= flag(t);
                }
                // Made by the intermediate, from inside the joined user namespace.
                LinuxNamespaceType::Pid if user_joined => p.clone_flags |= flag(t),
                // Created after joining the user namespace, so that it owns them.
                _ if user_joined => p.late_unshare |= flag(t),
                _ => p.clone_flags |= flag(t),
            },
        }
    }
    p.intermediate = user_joined && p.clone_flags.contains(CloneFlags::CLONE_NEWPID);
    if !p.user_ns {
        let early = p.clone_flags & UNSHARED_EARLY;
        p.clone_flags.remove(early);
        p.early_unshare = early;
    }
    if p.child_joins.len() >= 31 {
        bail!("linux.namespaces: too many namespaces to join");
    }
    Ok(p)
}

/// Clones the container's init, as `clone_process(flags)` would; through an intermediate
/// where some namespace must be entered by another process than rrun: a child that
/// enters them (the joined user namespace and those given by path, see
/// [`NamespacePlan::intermediate`]; the pid and time namespaces rrun could not come back
/// from, see [`parent_prepare`]), clones the init as rrun's own child (CLONE_PARENT),
/// reports its pid and exits: the extra process lives for a few setns and a clone, and
/// never outlives create.
/// `cgroup`: a cgroup v2 directory to clone the init straight into.
pub fn clone_init(
    p: &NamespacePlan,
    for_the_clone: &ForTheClone,
    cgroup: Option<&OwnedFd>,
) -> Result<crate::syscalls::CloneResult> {
    use crate::syscalls::{CloneResult, clone_into_cgroup, clone_process};
    let clone = |flags: libc::c_int| match cgroup {
        Some(dir) => clone_into_cgroup(flags, dir.as_raw_fd()),
        None => clone_process(flags),
    };
    let flags = p.clone_flags.bits();
    if !p.intermediate && !for_the_clone.left_to_the_intermediate() {
        return clone(flags).map_err(|e| anyhow!("cloning container init: {e}"));
    }
    let (report, reported) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| anyhow!("socket for the intermediate process: {e}"))?;
    match clone_process(0).map_err(|e| anyhow!("forking the intermediate process: {e}"))? {
        CloneResult::Child => {
            drop(reported);
            let enter_and_clone = || -> Result<CloneResult> {
                if for_the_clone.left_to_the_intermediate() {
                    enter_for_the_clone(p, &for_the_clone.time_offsets)?;
                }
                if p.intermediate {
                    join_by_path(p)?;
                }
                clone(flags | libc::CLONE_PARENT).map_err(|e| {
                    anyhow!("cloning container init from the intermediate process: {e}")
                })
            };
            let result = enter_and_clone();
            let message = match result {
                Ok(CloneResult::Child) => {
                    drop(report);
                    return Ok(CloneResult::Child);
                }
                Ok(CloneResult::Parent(pid)) => format!("{pid}"),
                Err(e) => format!("error: {e:#}"),
            };
            let _ = std::io::Write::write_all(&mut &report, message.as_bytes());
            crate::syscalls::exit_immediately(0)
        }
        CloneResult::Parent(intermediate) => {
            drop(report);
            let mut text = String::new();
            // The intermediate writes one line and exits: end-of-file bounds the read.
            let read = std::io::Read::read_to_string(&mut &reported, &mut text);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(intermediate), None);
            read.map_err(|e| anyhow!("reading from the intermediate process: {e}"))?;
            if let Some(e) = text.strip_prefix("error: ") {
                bail!("{e}");
            }
            text.parse()
                .map(CloneResult::Parent)
                .map_err(|_| anyhow!("the intermediate process ended without cloning the init"))
        }
    }
}

fn open_ns(t: LinuxNamespaceType, path: &PathBuf) -> Result<OwnedFd> {
    let fd: OwnedFd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| {
        anyhow!(
            "linux.namespaces: opening {} namespace path {}: {e}",
            name(t),
            path.display()
        )
    })?;
    Ok(fd)
}

/// Brings up the loopback interface of the network namespace process `pid` (the init) has
/// made, from rrun: rrun enters that namespace, sets `lo` up, and returns to its own. rrun
/// does it after "go", beside the init's joins, which would otherwise take its ~50 – 100 µs
/// (docs/performance.md, 2026-12-06 and 2026-12-06, morning).
/// Ok(false) where the init has not made it (its namespace is still rrun's), or where
/// rrun could not return to its own (rootless Podman runs it as root of a user namespace
/// that does not own the host's network namespace): the init brings it up itself then.
/// An error only where rrun, having entered, could not return after all.
pub fn loopback_up_from_outside(pid: i32) -> Result<bool> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::{Mode, fstat};
    let open_net = |path: &str| open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty());
    let (Ok(ours), Ok(theirs)) = (
        open_net("/proc/self/ns/net"),
        open_net(&format!("/proc/{pid}/ns/net")),
    ) else {
        return Ok(false);
    };
    let same = |a: &OwnedFd, b: &OwnedFd| match (fstat(a), fstat(b)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => true,
    };
    // Returning takes the same rights as entering one's own namespace: tried first.
    let can_return = || nix::sched::setns(&ours, CloneFlags::CLONE_NEWNET).is_ok();
    if same(&ours, &theirs)
        || !can_return()
        || nix::sched::setns(&theirs, CloneFlags::CLONE_NEWNET).is_err()
    {
        return Ok(false);
    }
    let up = crate::syscalls::set_loopback_up().is_ok();
    nix::sched::setns(&ours, CloneFlags::CLONE_NEWNET)
        .map_err(|e| anyhow!("returning to rrun's network namespace: {e}"))?;
    Ok(up)
}

/// Runs `f` on a thread of rrun's that has joined the mount namespace of `pid`, and returns
/// what it returned. A thread of its own: setns into a mount namespace moves the caller's
/// root and working directory, which a thread shares with the others until it unshares
/// them, and the rest of rrun stays where it is. The thread ends with `f`.
pub fn in_mount_namespace_of<T: Send + 'static>(
    pid: i32,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let path = format!("/proc/{pid}/ns/mnt");
    let ns = std::fs::File::open(&path).map_err(|e| anyhow!("opening {path}: {e}"))?;
    // A few system calls and `f`'s: a small stack.
    let thread = crate::threads::spawn_small(64 * 1024, move || -> Result<T> {
        nix::sched::unshare(CloneFlags::CLONE_FS).map_err(|e| anyhow!("unshare(CLONE_FS): {e}"))?;
        nix::sched::setns(&ns, CloneFlags::CLONE_NEWNS)
            .map_err(|e| anyhow!("joining the init's mount namespace: {e}"))?;
        Ok(f())
    })
    .map_err(|e| anyhow!("starting a thread in the init's mount namespace: {e}"))?;
    thread
        .join()
        .map_err(|_| anyhow!("the thread in the init's mount namespace panicked"))?
}

fn setns(t: LinuxNamespaceType, fd: &OwnedFd) -> Result<()> {
    nix::sched::setns(fd, flag(t)).map_err(|e| anyhow!("joining {} namespace: {e}", name(t)))
}

/// The container's pid namespace (joined by path) and new time namespace: a process enters
/// them for its children alone, and the init is the child they are for. rrun enters them
/// itself for the clone and comes back to its own right after, so that its hooks and
/// threads stay out of the container's, as runc's do; where it could not come back, the
/// intermediate process that clones the init enters them instead (see [`parent_prepare`]).
#[must_use = "rrun's children go on being born in the container's namespaces until restored"]
pub struct ForTheClone {
    /// rrun's own pid and time namespaces for its children, where it entered the
    /// container's itself; None where the intermediate enters them.
    own: Option<OwnNamespaces>,
    /// What a new time namespace's /proc/self/timens_offsets gets.
    time_offsets: String,
}

struct OwnNamespaces {
    pid: Option<OwnedFd>,
    time: Option<OwnedFd>,
}

impl ForTheClone {
    /// Whether the intermediate process enters the container's pid and time namespaces.
    fn left_to_the_intermediate(&self) -> bool {
        self.own.is_none()
    }

    /// Back in rrun's own namespaces for what it starts after the clone: hooks, which
    /// runc runs from its own namespaces (in the container's time namespace they would
    /// read its shifted clocks), and threads, which the kernel refuses to a process whose
    /// children go to another pid namespace than its own (EINVAL, which musl's
    /// pthread_create reports as EAGAIN).
    pub fn restore(self) -> Result<()> {
        let Some(own) = self.own else { return Ok(()) };
        let kinds = [LinuxNamespaceType::Pid, LinuxNamespaceType::Time];
        for (kind, fd) in kinds.into_iter().zip([own.pid, own.time]) {
            if let Some(fd) = fd {
                nix::sched::setns(&fd, flag(kind)).map_err(|e| {
                    anyhow!("returning to rrun's own {} namespace: {e}", name(kind))
                })?;
            }
        }
        Ok(())
    }
}

/// Parent side, before the clone: the container's pid and time namespaces for the clone
/// alone (see [`ForTheClone`]). Entering a namespace takes privilege over the user
/// namespace that owns it, so a rrun that is root only in a user namespace (rootless
/// Podman's) may enter the container's and not come back to the host's: whether it may
/// is tried first, by entering its own, and where not, the intermediate process enters
/// them and rrun stays where it is.
pub fn parent_prepare(p: &NamespacePlan, spec: &Spec) -> Result<ForTheClone> {
    let time_offsets = if p.new_time {
        time_offsets_text(spec)?
    } else {
        String::new()
    };
    let pid = own_for_children(
        !p.parent_joins.is_empty(),
        LinuxNamespaceType::Pid,
        "/proc/thread-self/ns/pid_for_children",
    )?;
    let time = own_for_children(
        p.new_time,
        LinuxNamespaceType::Time,
        "/proc/thread-self/ns/time_for_children",
    )?;
    let own = match (pid, time) {
        (Own::ToReturnTo(pid), Own::ToReturnTo(time)) => Some(OwnNamespaces { pid, time }),
        _ => None,
    };
    let for_the_clone = ForTheClone { own, time_offsets };
    if !for_the_clone.left_to_the_intermediate() {
        enter_for_the_clone(p, &for_the_clone.time_offsets)?;
    }
    Ok(for_the_clone)
}

/// rrun's own namespace of one kind for its children, where the clone needs another.
enum Own {
    /// Opened, and entered once to see that rrun may come back to it (None: not needed).
    ToReturnTo(Option<OwnedFd>),
    /// rrun may not enter it (EPERM): once in the container's, it would stay there.
    OutOfReach,
}

fn own_for_children(needed: bool, t: LinuxNamespaceType, link: &str) -> Result<Own> {
    if !needed {
        return Ok(Own::ToReturnTo(None));
    }
    let fd = open_ns(t, &PathBuf::from(link))?;
    match nix::sched::setns(&fd, flag(t)) {
        Ok(()) => Ok(Own::ToReturnTo(Some(fd))),
        Err(nix::errno::Errno::EPERM) => Ok(Own::OutOfReach),
        Err(e) => bail!("entering rrun's own {} namespace: {e}", name(t)),
    }
}

/// Joins the config's pid namespace and makes a new time namespace with its offsets, for
/// the caller's children.
fn enter_for_the_clone(p: &NamespacePlan, time_offsets: &str) -> Result<()> {
    for (t, fd) in &p.parent_joins {
        setns(*t, fd)?;
    }
    if p.new_time {
        nix::sched::unshare(flag(LinuxNamespaceType::Time))
            .map_err(|e| anyhow!("creating time namespace: {e}"))?;
        if !time_offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", time_offsets)
                .context("writing /proc/self/timens_offsets")?;
        }
    }
    Ok(())
}

/// `linux.timeOffsets` as /proc/self/timens_offsets takes them.
fn time_offsets_text(spec: &Spec) -> Result<String> {
    let mut text = String::new();
    let offsets = spec.linux().as_ref().and_then(|l| l.time_offsets().clone());
    for (clock, off) in offsets.unwrap_or_default() {
        let clock = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => bail!("linux.timeOffsets: unknown clock {other:?}"),
        };
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    Ok(text)
}

/// Joins the namespaces given by path that are not joined yet, in runc's order.
fn join_by_path(p: &NamespacePlan) -> Result<()> {
    let user = p.user_join.as_ref().map(|(_, fd)| fd);
    join_in_runc_order(&p.child_joins, user, &p.joined)
}

/// Joins `others` (no user namespace among them) and `user` in runc's three passes: each
/// of `others` it may join now (EPERM: not yet), the user namespace, then the rest. A
/// namespace owned by another user namespace than `user` (the host's network namespace,
/// say) can only be joined from outside `user`, one owned by `user` perhaps only from
/// inside it. `joined` remembers across calls which are joined: bit i for `others[i]`,
/// bit 31 for the user namespace.
pub fn join_in_runc_order(
    others: &[(LinuxNamespaceType, OwnedFd)],
    user: Option<&OwnedFd>,
    joined: &Cell<u32>,
) -> Result<()> {
    let join_others = |must: bool| -> Result<()> {
        for (i, (t, fd)) in others.iter().enumerate() {
            if joined.get() & (1 << i) != 0 {
                continue;
            }
            match nix::sched::setns(fd, flag(*t)) {
                Ok(()) => joined.set(joined.get() | (1 << i)),
                Err(nix::errno::Errno::EPERM) if !must => {}
                Err(e) => bail!("joining {} namespace: {e}", name(*t)),
            }
        }
        Ok(())
    };
    join_others(false)?;
    if let Some(fd) = user
        && joined.get() & USER_JOINED == 0
    {
        setns(LinuxNamespaceType::User, fd)?;
        joined.set(joined.get() | USER_JOINED);
    }
    join_others(true)
}

/// Init side, first thing after the clone: the namespaces it makes before "go".
pub fn early_unshare(p: &NamespacePlan) -> Result<()> {
    if !p.early_unshare.is_empty() {
        nix::sched::unshare(p.early_unshare)
            .map_err(|e| anyhow!("making the container's namespaces: {e}"))?;
    }
    Ok(())
}

/// Init side: join the namespaces given by path, then unshare the late ones.
pub fn child_join(p: &NamespacePlan) -> Result<()> {
    join_by_path(p)?;
    if !p.late_unshare.is_empty() {
        nix::sched::unshare(p.late_unshare).map_err(|e| anyhow!("unsharing namespaces: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_clones_all_but_cgroup() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"mount"},{"type":"cgroup"},{"type":"user"}]}}"#,
        )
        .unwrap();
        let p = plan(&spec).unwrap();
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWUSER
        );
        assert_eq!(p.late_unshare, CloneFlags::CLONE_NEWCGROUP);
        assert!(p.early_unshare.is_empty());
        assert!(p.new_user && p.user_ns && p.new_cgroup);
    }

    #[test]
    fn without_a_user_namespace_the_init_makes_all_but_pid_itself() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"cgroup"}]}}"#,
        )
        .unwrap();
        let p = plan(&spec).unwrap();
        assert_eq!(p.clone_flags, CloneFlags::CLONE_NEWPID);
        assert_eq!(
            p.early_unshare,
            CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWNS
        );
        assert_eq!(p.late_unshare, CloneFlags::CLONE_NEWCGROUP);
        assert!(p.makes_new(CloneFlags::CLONE_NEWNS) && p.makes_new(CloneFlags::CLONE_NEWCGROUP));
        assert!(!p.makes_new(CloneFlags::CLONE_NEWUSER));
    }

    #[test]
    fn missing_namespace_path_names_the_field() {
        let spec: Spec = serde_json::from_str(r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"network","path":"/nonexistent/ns"}]}}"#).unwrap();
        let err = plan(&spec).err().unwrap().to_string();
        assert!(
            err.starts_with("linux.namespaces: opening net namespace path /nonexistent/ns"),
            "{err}"
        );
    }

    #[test]
    fn time_offsets_are_written_as_the_kernel_reads_them_and_unknown_clocks_refused() {
        let spec = |offsets: &str| -> Spec {
            serde_json::from_str(&format!(
                r#"{{"ociVersion":"1.0.2","linux":{{"namespaces":[{{"type":"time"}}],"timeOffsets":{offsets}}}}}"#
            ))
            .unwrap()
        };
        let text = time_offsets_text(&spec(
            r#"{"boottime":{"secs":86400},"monotonic":{"secs":-5,"nanosecs":7}}"#,
        ))
        .unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, ["boottime 86400 0", "monotonic -5 7"]);
        assert!(text.ends_with('\n'));
        let err = time_offsets_text(&spec(r#"{"realtime":{"secs":1}}"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.timeOffsets: unknown clock \"realtime\""
        );
    }
}
