//! `exec`: a new process in a running container. rrun joins the container's pid (and time)
//! namespace itself, forks the process, puts it in the container's cgroups, and the child
//! joins the other namespaces (user first), takes the process's user, limits, capabilities
//! and the container's seccomp filter, and execs. Like `create` it never runs rrun's
//! binary inside the container: rrun first moves onto a sealed view of itself.

use super::{Status, foreground};
use crate::init::handshake::{self, Message};
use crate::state::Store;
use crate::syscalls::{CloneResult, clone_process};
use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct ExecOptions {
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    /// `--pidfd-socket`: where the process's pidfd goes (`pidfd_socket`).
    pub pidfd_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// `--cgroup`: sub-cgroups to put the process in instead of the container's own.
    pub sub_cgroups: Vec<String>,
    /// `--ignore-paused`: exec into a paused container; the process waits for resume.
    pub ignore_paused: bool,
    /// The container's bundle, where the caller has read it already (for the process's
    /// defaults): read once, not twice.
    pub bundle: Option<crate::config::Bundle>,
    /// The container, where the caller has opened it already (to find that bundle): its
    /// record is read once, and the lock taken once.
    pub container: Option<crate::state::LockedContainer>,
}

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
struct Joins {
    user: Option<OwnedFd>,
    /// The pid and time namespaces, which only apply to children: the parent joins them.
    before_fork: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// The others, which the process joins itself, in runc's order around `user`.
    in_child: Vec<(LinuxNamespaceType, OwnedFd)>,
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

/// Runs the process; returns its exit code (foreground) or 0 once it runs (detached).
pub fn exec(store: &Store, mut opts: ExecOptions) -> Result<i32> {
    // CVE-2019-5736: container processes see this process once it joins them. The `exec`
    // command sealed rrun before it read anything (always, an ordinary user's too), so this
    // finds rrun sealed; it guards any other caller (and where sealing re-executes, the
    // sealed process reads again whatever was read before).
    crate::selfexe::seal_unless_out_of_reach(store.root_path())?;
    let c = match opts.container.take() {
        Some(c) => c,
        None => store.open(&opts.id)?,
    };
    match super::status(&c) {
        Status::Stopped => bail!("cannot exec in a stopped container"),
        Status::Paused if !opts.ignore_paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => {}
    }
    let record = c.record.clone();
    drop(c);
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.detach {
        bail!("cannot allocate tty if rrun will detach without setting console socket");
    }
    let bundle = match opts.bundle.take() {
        Some(b) => b,
        None => crate::config::load_bundle(std::path::Path::new(&record.bundle))?,
    };
    if let Some(container_process) = bundle.spec.process() {
        crate::process::inherit_unset_from(&mut opts.process, container_process);
    }
    crate::scheduling::check_process(&opts.process)?;
    let scheduling = crate::scheduling::ContainerScheduling::of(&bundle.spec)?;
    let affinity = crate::process::ExecAffinity::of(&opts.process)?;
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    // As for the init: the process's notify listener goes to the seccomp agent, with the
    // container's state and this process's host pid (filled in by the child).
    let seccomp_listener = match (
        &seccomp,
        bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref()),
    ) {
        (Some(filter), Some(s)) if filter.uses_notify => Some(
            super::create::connect_seccomp_listener(s, &opts.id, &bundle, &bundle.spec)?,
        ),
        _ => None,
    };
    let mut joins = namespaces_to_join(record.pid, &bundle.spec)?;
    // An ordinary user has no privilege over the container's pid and time namespaces
    // until it is in their user namespace: join that here first (no process of the
    // container's can reach this one by it; only the user's own can, as before).
    let rootless_euid = crate::rootless::euid_is_rootless();
    if rootless_euid && let Some(fd) = joins.user.take() {
        nix::sched::setns(&fd, crate::namespaces::flag(LinuxNamespaceType::User))
            .map_err(|e| anyhow!("joining the container's user namespace: {e}"))?;
    }
    // pid and time namespaces only apply to children: join them here, before the fork.
    for (t, fd) in &joins.before_fork {
        nix::sched::setns(fd, crate::namespaces::flag(*t)).map_err(|e| {
            anyhow!(
                "joining the container's {} namespace: {e}",
                crate::namespaces::name(*t)
            )
        })?;
    }
    let (console_child, console_parent) =
        crate::tty::console_sockets(opts.console_socket.as_deref(), terminal)?;
    let pidfd_socket = opts
        .pidfd_socket
        .as_deref()
        .map(crate::pidfd_socket::connect)
        .transpose()?;
    let signals = if opts.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    let cgroup_dirs = exec_cgroups(&record.cgroup_paths, &opts.sub_cgroups)?;
    // runc falls back to the init's cgroup (v2) only where --cgroup named none.
    let fallback = opts.sub_cgroups.is_empty();
    // The process joins v1 cgroups itself (cgroups::join_self) while it is still in the
    // host's user namespace; rootless, the parent joined the container's already.
    let (v1_dirs, by_pid): (Vec<PathBuf>, Vec<PathBuf>) = cgroup_dirs
        .iter()
        .cloned()
        .partition(|d| !rootless_euid && crate::cgroups::is_v1_dir(d));
    let join_cgroups: Vec<PathBuf> = v1_dirs.iter().map(|d| d.join("tasks")).collect();
    let (parent_end, child_end) = handshake::pair()?;
    // A v2 cgroup is entered at the fork, for the same reason (clone3's CLONE_INTO_CGROUP),
    // where the kernel allows it: not rootless, not into a cgroup whose controllers are
    // delegated below it (EBUSY: then by pid, as runc, with join_cgroup's fallback).
    let born_in_cgroup = match by_pid.as_slice() {
        [dir] if !rootless_euid => crate::cgroups::open_clone_target(dir)
            .ok()
            .and_then(|d| crate::syscalls::clone_into_cgroup(0, d.as_raw_fd()).ok()),
        _ => None,
    };
    let by_pid = if born_in_cgroup.is_some() {
        Vec::new()
    } else {
        by_pid
    };
    let cloned = match born_in_cgroup {
        Some(r) => r,
        None => clone_process(0).map_err(|e| anyhow!("forking the process: {e}"))?,
    };
    let pid = match cloned {
        CloneResult::Child => {
            drop(parent_end);
            child_end.relay_logs();
            // The host's /proc is still in view: this process's pid as the agent sees it.
            let host_pid = seccomp_listener
                .as_ref()
                .map(|_| super::create::host_pid_of_self());
            let personality = bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.personality().clone());
            let result = crate::process::set_personality(personality.as_ref()).and_then(|_| {
                child_setup(
                    &opts.process,
                    &affinity,
                    &scheduling,
                    &joins,
                    console_child.as_ref().map(|f| f.as_raw_fd()),
                    &child_end,
                    rootless_euid,
                )
            });
            match result {
                Ok(prepared) => {
                    let listener = seccomp_listener.map(|(sock, mut message)| {
                        message["pid"] = host_pid.unwrap_or_default().into();
                        (sock, message.to_string())
                    });
                    child_exec(
                        prepared,
                        seccomp.as_ref(),
                        listener,
                        opts.preserve_fds,
                        &child_end,
                    )
                }
                Err(e) => {
                    let _ = child_end.send(&Message::Failed {
                        message: format!("{e:#}"),
                    });
                    crate::syscalls::exit_immediately(1)
                }
            }
        }
        CloneResult::Parent(pid) => pid,
    };
    drop(child_end);
    drop(console_child);
    let kill_child = || {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    };
    for dir in &by_pid {
        match join_cgroup(dir, pid, record.pid, fallback) {
            Ok(()) => {}
            // Rootless, a process may not move itself into its user's delegated subtree
            // from outside it (the kernel asks for write access to the common ancestor):
            // as runc, the process then stays in the caller's cgroup.
            Err(e) if record.rootless_cgroups && crate::rootless::is_permission_error(&e) => {
                crate::logging::debug(&format!(
                    "rootless: the process stays out of {} ({e:#})",
                    dir.display()
                ));
            }
            Err(e) => {
                kill_child();
                return Err(e);
            }
        }
    }
    // The process may have failed before it reads "go" (its initial CPU affinity).
    if let Err(e) = parent_end.send_unless_failed(&Message::Go { join_cgroups }) {
        kill_child();
        return Err(e);
    }
    // A process in a frozen cgroup can't get ready; only --ignore-paused waits for resume.
    let not_frozen = || {
        if !opts.ignore_paused && crate::cgroups::frozen(&cgroup_dirs) {
            // Killed, not waited for: a frozen process dies only once thawed.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            bail!("cannot exec in a paused container");
        }
        Ok(())
    };
    match parent_end.recv_watching(not_frozen)? {
        Some(Message::Ready) => {}
        Some(Message::Failed { message }) => {
            kill_child();
            bail!("{message}")
        }
        _ => bail!("the process exited before it was set up"),
    }
    let console = match console_parent {
        Some(sock) => Some(crate::tty::recv_console(sock.as_raw_fd())?),
        None => None,
    };
    if let Some(socket) = &pidfd_socket
        && let Err(e) = crate::pidfd_socket::send(socket, pid, crate::pidfd_socket::SETNS)
    {
        kill_child();
        return Err(e);
    }
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    match signals {
        None => Ok(0),
        Some(signals) => foreground::wait(pid, signals, console, None),
    }
}

fn child_setup(
    process: &Process,
    affinity: &crate::process::ExecAffinity,
    scheduling: &crate::scheduling::ContainerScheduling,
    joins: &Joins,
    console: Option<std::os::fd::RawFd>,
    channel: &handshake::Channel,
    rootless_euid: bool,
) -> Result<crate::process::Launch> {
    crate::syscalls::set_dumpable(false).map_err(|e| anyhow!("PR_SET_DUMPABLE: {e}"))?;
    affinity.before_cgroups()?;
    let join_cgroups = match channel.recv()? {
        Some(Message::Go { join_cgroups, .. }) => join_cgroups,
        _ => crate::syscalls::exit_immediately(1),
    };
    crate::cgroups::join_self(&join_cgroups)?;
    // The last of the host's cgroup files this process reaches (cgroups/fs.rs).
    crate::cgroups::fs::release();
    affinity.after_cgroups()?;
    // runc's names for these steps, which --debug logs are grepped for (see init).
    crate::logging::debug("nsexec container setup: the process joins the container's namespaces");
    // runc's order: a namespace the container shares with another user namespace than
    // its own (the host's network namespace, say) is joined before its user namespace.
    let joined = std::cell::Cell::new(0);
    crate::namespaces::join_in_runc_order(&joins.in_child, joins.user.as_ref(), &joined)
        .context("joining the container's namespaces")?;
    crate::logging::debug("child process in init(): namespaces joined");
    if let Some(sock) = console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::tty::setup_console(sock, size, false)?;
    } else {
        // A session of its own, as the init's (and runc's exec'd processes): one that led
        // from outside would keep CRIU from checkpointing the container.
        nix::unistd::setsid().map_err(|e| anyhow!("setsid: {e}"))?;
    }
    crate::init::enter_cwd(process.cwd())?;
    crate::process::apply_rlimits(process)?;
    scheduling.apply(process)?;
    crate::process::prepare(process, rootless_euid)
}

fn child_exec(
    launch: crate::process::Launch,
    seccomp: Option<&crate::seccomp::Filter>,
    seccomp_listener: Option<(OwnedFd, String)>,
    preserve_fds: u32,
    channel: &handshake::Channel,
) -> ! {
    let _ = crate::syscalls::cloexec_from(3 + preserve_fds);
    crate::init::reset_signals();
    let locked =
        launch
            .lock_down(seccomp)
            .and_then(|listener| match (listener, &seccomp_listener) {
                (Some(fd), Some((sock, message))) => {
                    crate::tty::send_fd(sock.as_raw_fd(), fd.as_raw_fd(), message)
                        .map_err(|e| anyhow!("linux.seccomp.listenerPath: {e:#}"))
                }
                _ => Ok(()),
            });
    if let Err(e) = locked {
        let _ = channel.send(&Message::Failed {
            message: format!("{e:#}"),
        });
        crate::syscalls::exit_immediately(1);
    }
    // The channel closes on exec: the parent learns the process runs from "ready" sent
    // just before, and a failed exec is reported on the container's stderr.
    crate::logging::debug(&format!("setns_init: about to exec {:?}", launch.exe()));
    let _ = channel.send(&Message::Ready);
    crate::logging::stop_relaying();
    launch.exec_or_exit()
}

/// The process of `exec` without `--process`: the container's own process settings with
/// the command line and runc's flags applied on top.
pub fn process_from_flags(
    base: &Process,
    args: Vec<String>,
    a: &crate::cli::ExecArgs,
) -> Result<Process> {
    let mut v = serde_json::to_value(base)?;
    v["args"] = serde_json::json!(args);
    v["terminal"] = serde_json::json!(a.tty);
    if let Some(cwd) = &a.cwd {
        v["cwd"] = serde_json::json!(cwd);
    }
    if !a.env.is_empty() {
        let mut env: Vec<String> = base.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        v["env"] = serde_json::json!(env);
    }
    if let Some(user) = &a.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (
                u.parse::<u32>()
                    .map_err(|_| anyhow!("--user: {user:?} is not uid[:gid]"))?,
                Some(
                    g.parse::<u32>()
                        .map_err(|_| anyhow!("--user: {user:?} is not uid[:gid]"))?,
                ),
            ),
            None => (
                user.parse::<u32>()
                    .map_err(|_| anyhow!("--user: {user:?} is not uid[:gid]"))?,
                None,
            ),
        };
        v["user"]["uid"] = serde_json::json!(uid);
        if let Some(g) = gid {
            v["user"]["gid"] = serde_json::json!(g);
        }
    }
    if !a.additional_gids.is_empty() {
        v["user"]["additionalGids"] = serde_json::json!(a.additional_gids);
    }
    if !a.cap.is_empty() {
        // As runc: --cap never touches the inheritable set, and raises ambient capabilities
        // only where the config has an inheritable set (ambient ones need it).
        let has_inheritable = v["capabilities"]
            .get("inheritable")
            .is_some_and(|i| !i.is_null());
        let sets: &[&str] = if has_inheritable {
            &["bounding", "effective", "permitted", "ambient"]
        } else {
            &["bounding", "effective", "permitted"]
        };
        for set in sets {
            let list = v["capabilities"][set]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut names: Vec<serde_json::Value> = list;
            for c in &a.cap {
                if !names.iter().any(|n| n == c) {
                    names.push(serde_json::json!(c));
                }
            }
            v["capabilities"][*set] = serde_json::Value::Array(names);
        }
    }
    if a.no_new_privs {
        v["noNewPrivileges"] = serde_json::json!(true);
    }
    if let Some(p) = &a.apparmor {
        v["apparmorProfile"] = serde_json::json!(p);
    }
    if let Some(l) = &a.process_label {
        v["selinuxLabel"] = serde_json::json!(l);
    }
    serde_json::from_value(v).context("building the process")
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
