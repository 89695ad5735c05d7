//! The container's init: the child rrun clones. It builds the container from inside its
//! namespaces, reports to the parent over the handshake channel, waits for `start`, and
//! execs the user's process, which keeps its pid (no extra process, no re-exec of rrun).

pub mod first_cpu;
pub mod handshake;

use crate::namespaces::NamespacePlan;
use crate::process;
use crate::rootfs::{self, RootfsPlan};
use anyhow::{Context, Result, anyhow};
use handshake::{Channel, Message};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Everything init needs; it lives in the memory init inherited from the parent.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub namespaces: &'a NamespacePlan,
    pub channel: Channel,
    pub fifo: &'a Path,
    pub console_socket: Option<RawFd>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub cgroup_paths: &'a [PathBuf],
    /// False when the container shares the host's mount namespace: nothing is mounted then.
    pub own_mount_ns: bool,
    /// Name of the fresh session keyring, unless `--no-new-keyring`.
    pub keyring: Option<String>,
    /// The state JSON for createContainer and startContainer hooks, where there are any.
    pub hook_state: Option<String>,
    /// The compiled `linux.seccomp` filter, if any.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// The socket connected to `listenerPath`, and the message sent with the listener fd.
    pub seccomp_listener: Option<(OwnedFd, String)>,
    /// Bind sources detached by the parent (containers with their own user namespace).
    pub detached_sources: Vec<Option<OwnedFd>>,
    /// The parent blocks every signal it forwards (`run` in the foreground), and the init
    /// keeps that mask until its last step: no disposition matters before then.
    pub signals_blocked: bool,
    /// rrun runs as an ordinary user: the parent writes the id maps unprivileged, the init
    /// stays dumpable, and the process keeps its supplementary groups.
    pub rootless_euid: bool,
    /// The parent left sealing to the init (CVE-2019-5736; crate::selfexe): it sends the
    /// sealed view of rrun it makes for it, with how to move onto it.
    pub seals: bool,
    /// The parent builds the container's `cgroup` mount and sends it ("cgrouptree").
    pub cgroup_tree_from_parent: bool,
}

/// Runs init to the exec of the user process; never returns.
pub fn run(args: InitArgs) -> ! {
    crate::inherited_fds::close_in_init(args.preserve_fds);
    args.channel.relay_logs();
    let failed = |channel: &Channel, e: anyhow::Error| -> ! {
        let _ = channel.send(&Message::Failed {
            message: format!("{e:#}"),
        });
        crate::syscalls::exit_immediately(1)
    };
    let prepared = match setup(&args) {
        Ok(p) => p,
        Err(e) => failed(&args.channel, e),
    };
    if let Err(e) = args.channel.send(&Message::Ready) {
        failed(&args.channel, e);
    }
    // Wait until the parent has recorded the container; end-of-file means it died.
    let (start_at_once, ignored_signals) = match args.channel.recv() {
        Ok(Some(Message::Created {
            start,
            ignored_signals,
        })) => (start, ignored_signals),
        _ => crate::syscalls::exit_immediately(1),
    };
    // In `run`'s foreground, where no signal can arrive before the exec anyway, before
    // `start`. Otherwise a signal the caller ignored stays ignored until the exec, as it
    // was (a created container may wait long for `start`; a Go init, runc's, keeps an
    // ignored SIGHUP or SIGINT too).
    if args.signals_blocked {
        reset_dispositions_but_sigpipe(ignored_signals);
    }
    // The parent reads no more: what init has to say now goes to its own stderr.
    crate::logging::stop_relaying();
    if !start_at_once {
        let still_ignored = if args.signals_blocked {
            Some(0)
        } else {
            ignored_signals
        };
        end_on_signals_as_a_go_init(still_ignored);
        wait_for_start(&prepared.fifo);
    }
    // Nothing of rrun's reaches the startContainer hooks either (nor, later, the process).
    let _ = crate::syscalls::cloexec_from(3 + args.preserve_fds);
    if let Some(hooks) = args.spec.hooks() {
        let start_hooks = hooks.start_container().as_deref().unwrap_or(&[]);
        let env = prepared.launch.env();
        let result = crate::hooks::run_all_with_env(
            "startContainer",
            start_hooks,
            args.hook_state.as_deref().unwrap_or_default(),
            Some(&env),
        );
        if let Err(e) = result {
            crate::logging::error(&format!("{e:#}"));
            crate::syscalls::exit_immediately(1);
        }
    }
    exec(prepared, &args, ignored_signals)
}

/// What setup leaves for the last steps.
struct Prepared {
    fifo: OwnedFd,
    launch: process::Launch,
}

fn setup(a: &InitArgs) -> Result<Prepared> {
    // Until it execs, init is a copy of rrun: not dumpable, so no process of the container
    // may open /proc/<init>/exe (the host's rrun binary, CVE-2019-5736) or ptrace it.
    //
    // Rootless, the init stays dumpable, as any process of its user: the unprivileged
    // write of its uid_map (and newuidmap's check of its owner) needs it, and so does
    // `exec` into a created container (an ordinary user can read the namespaces of its
    // own processes only when they are dumpable). Its /proc/<pid>/exe is then a binary
    // the user can't write, or a sealed copy (create seals a binary its user may write).
    if !a.rootless_euid {
        crate::syscalls::set_dumpable(false).map_err(|e| anyhow!("PR_SET_DUMPABLE: {e}"))?;
    }
    // While the parent makes the records and cgroups: the namespaces. The loopback
    // interface of a network namespace of the container's own comes up after (as runc's),
    // from rrun where it can (`namespaces::loopback_up_from_outside`), or below.
    crate::namespaces::early_unshare(a.namespaces)?;
    // Then onto the sealed view of rrun, where the parent left it to the init: long before
    // its exec (which may run /proc/self/exe as an interpreter), and before it joins
    // anything (its new namespaces hold nothing of the container yet: no process can reach
    // it through them). The parent read how meanwhile, on its own CPU.
    if a.seals {
        let (plan, copy, view) = match a.channel.recv_with_fd()? {
            (Some(Message::Seal { plan, copy }), Some(view)) => (plan, copy, view),
            _ => crate::syscalls::exit_immediately(1),
        };
        let view = crate::selfexe::SealedView::received(std::fs::File::from(view), copy);
        let moved = match &plan {
            Some(plan) => crate::selfexe::move_onto_planned(&view, plan),
            None => crate::selfexe::move_onto(&view),
        };
        moved.context("moving the init onto a sealed view of rrun")?;
        // Its fd closes here (the mappings and the exe link keep what they need): a created
        // container's init holds no fd of rrun's (runc's create.bats).
        drop(view);
    }
    // Read when the `cgroup` mount's turn comes, by then long sent.
    let cgroup_tree = || match a.channel.recv_with_fd()? {
        (Some(Message::CgroupTree), tree) => Ok(tree),
        _ => Err(anyhow!("rrun ended before it sent the cgroup mounts")),
    };
    let plan = RootfsPlan {
        spec: a.spec,
        bundle: a.bundle,
        rootfs: a.rootfs,
        user_ns: a.namespaces.user_ns,
        cgroup_ns: a.namespaces.new_cgroup,
        cgroup_paths: a.cgroup_paths,
        detached_sources: &a.detached_sources,
        cgroup_tree: a
            .cgroup_tree_from_parent
            .then_some(&cgroup_tree as &dyn Fn() -> Result<Option<OwnedFd>>),
        shares_host_mounts: !a.own_mount_ns,
    };
    // While rrun makes the records and cgroups (its branch before "go" was the longer one
    // without these): the config's first mounts, where they are the kernel's own
    // filesystems and nothing the init joins later could change what they show.
    let build = if a.own_mount_ns && a.namespaces.init_mounts_before_go() {
        let mut build = rootfs::Build::begin(&plan)?;
        build.mount_pseudo_filesystems()?;
        Some(build)
    } else {
        None
    };
    let join_cgroups = match a.channel.recv()? {
        Some(Message::Go { join_cgroups }) => join_cgroups,
        _ => crate::syscalls::exit_immediately(1),
    };
    // Before it joins any cgroup: the CPUs of a cpuset it joins are those it allows.
    process::reset_cpu_affinity();
    // Before anything else, and before a new cgroup namespace is made (its root is the
    // cgroup the init is in then).
    crate::cgroups::join_self(&join_cgroups).context("unable to apply cgroup configuration")?;
    // The last of the host's cgroup files the init reaches from their root's fd
    // (cgroups/fs.rs): it holds nothing of the host's while it lives in the container.
    crate::cgroups::fs::release();
    // The debug lines of these steps carry runc's names for them (nsexec, init(), the
    // pipe that signals completion): tools and runc's own tests grep a --debug log for them.
    crate::logging::debug("nsexec container setup: the init joins its namespaces");
    let spec = a.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| anyhow!("process: must be set"))?;
    // Opened now, while the state directory is reachable and we are still
    // the host's root (before becoming the user namespace's root); O_RDWR never blocks.
    let fifo = nix::fcntl::open(
        a.fifo,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("opening {}: {e}", a.fifo.display()))?;
    if a.namespaces.new_user {
        // Become the namespace's root, so files we create belong to the container's root.
        let groups: &[u32] = &[];
        crate::syscalls::set_ids(0, 0, (!a.rootless_euid).then_some(groups))
            .map_err(|e| anyhow!("becoming root in the user namespace: {e}"))?;
    }
    crate::namespaces::child_join(a.namespaces)?;
    if a.namespaces.user_ns && !a.namespaces.new_user {
        // In a joined user namespace (by setns, here or in the intermediate), as runc: its
        // root, whose ids are mapped there, so that what we create has an owner.
        let groups: &[u32] = &[];
        crate::syscalls::set_ids(0, 0, Some(groups))
            .map_err(|e| anyhow!("becoming root in the joined user namespace: {e}"))?;
    }
    crate::logging::debug("child process in init(): namespaces joined, building the container");
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| anyhow!("setting hostname {h:?}: {e}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        set_domainname(d)?;
    }
    // Its network namespace is the container's now: rrun moves the config's devices in.
    if !crate::net_devices::of(spec).is_empty() {
        a.channel.send(&Message::MoveNetDevices)?;
    }
    // rrun writes the cgroup limits beside the steps above; its device rules deny every
    // device for a moment while it writes them (handshake's `LimitsSet`): no device is
    // made, opened or mounted before they are in place.
    let loopback_is_up = match a.channel.recv()? {
        Some(Message::LimitsSet { loopback_up }) => loopback_up,
        _ => crate::syscalls::exit_immediately(1),
    };
    // One made before "go" that rrun did not bring up, or made by the clone or after the
    // joins (with a user namespace): now, before anything runs in it.
    let new_net = nix::sched::CloneFlags::CLONE_NEWNET;
    if a.namespaces.makes_new(new_net) && !loopback_is_up {
        crate::syscalls::set_loopback_up()
            .map_err(|e| anyhow!("bringing up the loopback interface: {e}"))?;
    }
    match build {
        Some(build) => build.finish()?,
        None => rootfs::prepare(&plan)?,
    }
    if let Some(hooks) = spec.hooks() {
        // The same test decides where rrun sends "created" (before or after these).
        if crate::hooks::has_create_hooks(spec) {
            a.channel.send(&Message::RunCreateHooks)?;
            match a.channel.recv()? {
                Some(Message::HooksDone) => {}
                _ => crate::syscalls::exit_immediately(1),
            }
        }
        // Inside the container's mount namespace, before pivot_root, as the spec says, and
        // in the rootfs, as runc runs them (hooks bind-mount into `./lib` and the like).
        if a.own_mount_ns {
            nix::unistd::chdir(a.rootfs).map_err(|e| anyhow!("chdir to rootfs: {e}"))?;
        }
        crate::hooks::run_all(
            "createContainer",
            hooks.create_container().as_deref().unwrap_or(&[]),
            a.hook_state.as_deref().unwrap_or_default(),
        )?;
    }
    if a.own_mount_ns {
        rootfs::pivot(a.rootfs, a.no_pivot)?;
        rootfs::devices::reopen_dev_null()?;
        rootfs::set_root_propagation(spec)?;
    } else {
        // The pty comes from the host's /dev/ptmx, before the chroot: no /dev/console is
        // bound in the host's mount namespace.
        if process.terminal().unwrap_or(false) {
            setup_terminal(a, process)?;
        }
        // The config's mounts are under the rootfs, in the caller's mount namespace (as
        // runc makes them; without a namespace of its own there is no pivot_root, and no
        // masked or read-only paths: `config::validate` refuses them, and sysctls outside
        // the container's namespaces, as runc does).
        nix::unistd::chroot(a.rootfs)
            .map_err(|e| anyhow!("chroot to {}: {e}", a.rootfs.display()))?;
        nix::unistd::chdir("/").map_err(|e| anyhow!("chdir /: {e}"))?;
    }
    crate::sysctl::write_all(spec)?;
    if a.own_mount_ns && process.terminal().unwrap_or(false) {
        setup_terminal(a, process)?;
    }
    // Masked and read-only paths, then a read-only root (without a mount namespace only
    // the root, on the rootfs bind: `config::validate` refuses the others there).
    rootfs::protect(spec)?;
    // The container's init leads a session of its own, as runc's (its init calls setsid
    // whatever the terminal): with a terminal setup_console made it so. CRIU, for one,
    // won't dump a container whose session leader is outside it.
    if !process.terminal().unwrap_or(false) {
        nix::unistd::setsid().map_err(|e| anyhow!("setsid: {e}"))?;
    }
    enter_cwd(process.cwd())?;
    process::apply_rlimits(process)?;
    if let Some(name) = &a.keyring {
        match crate::syscalls::join_session_keyring(name) {
            Ok(()) => {}
            // Kernels without keyrings, or a seccomp profile of the host that denies them.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {}
            Err(e) => return Err(anyhow!("joining session keyring {name}: {e}")),
        }
    }
    process::set_personality(spec.linux().as_ref().and_then(|l| l.personality().as_ref()))?;
    crate::scheduling::ContainerScheduling::of(spec)?.apply(process)?;
    let launch = process::prepare(process, a.rootless_euid)?;
    // The filter is in place before "ready", as runc's init loads it before it signals
    // completion: the startContainer hooks run under it (runc's seccomp.bats), and a
    // profile that can't be loaded fails `create`, not `start`.
    let listener = launch.lock_down(a.seccomp)?;
    send_seccomp_listener(listener, a)?;
    crate::logging::debug("init: closing the pipe to signal completion: the container is built");
    Ok(Prepared { fifo, launch })
}

/// The process's pty, sent through the console socket; /dev/console is bound to it only in
/// the container's own mount namespace.
fn setup_terminal(a: &InitArgs, process: &oci_spec::runtime::Process) -> Result<()> {
    let sock = a
        .console_socket
        .ok_or_else(|| anyhow!("process.terminal is set but no console socket was given"))?;
    let size = process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    crate::tty::setup_console(sock, size, a.own_mount_ns)
}

/// Enters `process.cwd` resolved inside the container's root, refusing magic links: a cwd of
/// `/proc/self/fd/N` must never land on a directory of the host through an fd of rrun's
/// (CVE-2024-21626). The result is checked to be reachable from the container's root.
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    let root =
        rootfs::secure::RootDir::open(Path::new("/")).map_err(|e| anyhow!("opening /: {e}"))?;
    let dir = root
        .open_in_root(cwd, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| anyhow!("process.cwd: {}: {e}", cwd.display()))?;
    nix::unistd::fchdir(&dir)
        .map_err(|e| anyhow!("process.cwd: chdir to {}: {e}", cwd.display()))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(anyhow!(
            "process.cwd: {} is outside the container's root",
            cwd.display()
        )),
    }
}

fn set_domainname(name: &str) -> Result<()> {
    std::fs::write("/proc/sys/kernel/domainname", name)
        .map_err(|e| anyhow!("setting domainname {name:?}: {e}"))
}

/// While it waits for `start` (and runs the startContainer hooks), the init ends on the
/// signals that end runc's Go init, so `kill` (SIGTERM, by default) stops a created
/// container as it stops runc's: as the first process of a pid namespace, with no handler,
/// the init would ignore them. `still_ignored` (bit `n - 1` for signal `n`; unknown if
/// None) are the signals the caller left ignored that are ignored still; Go keeps HUP and
/// INT of those ignored.
fn end_on_signals_as_a_go_init(still_ignored: Option<u64>) {
    use nix::sys::signal::Signal;
    let ignored = |sig: Signal| still_ignored.is_none_or(|m| m & (1 << (sig as i32 - 1)) != 0);
    for (sig, by_the_signal_where_possible) in crate::signals::ENDING_A_GO_PROGRAM {
        if matches!(sig, Signal::SIGHUP | Signal::SIGINT) && ignored(sig) {
            continue;
        }
        let ending = crate::syscalls::Ending {
            exit_code: crate::signals::GO_EXIT_STATUS,
            by_the_signal_where_possible,
        };
        // A seccomp profile refusing rt_sigaction leaves the init as it was: nothing to
        // tell the container's stderr, which the init now writes to.
        let _ = crate::syscalls::end_on_signal(sig as i32, ending);
    }
}

/// Blocks until `start` writes to the fifo. Any other outcome means nobody will start us.
fn wait_for_start(fifo: &OwnedFd) {
    let mut buf = [0u8; 1];
    loop {
        match nix::unistd::read(fifo, &mut buf) {
            Ok(1) => return,
            Err(nix::errno::Errno::EINTR) => continue,
            _ => crate::syscalls::exit_immediately(1),
        }
    }
}

fn exec(p: Prepared, a: &InitArgs, ignored_signals: Option<u64>) -> ! {
    // Nothing of rrun's may reach the container: every fd past stdio and the preserved
    // ones closes on exec (CVE-2024-21626 was a leaked fd).
    let _ = crate::syscalls::cloexec_from(3 + a.preserve_fds);
    if !a.signals_blocked {
        // Else done at "created".
        reset_dispositions_but_sigpipe(ignored_signals);
    }
    unignore_sigpipe_and_unblock();
    p.launch.exec_or_exit()
}

/// Hands the seccomp notify listener, if the filter made one, to `listenerPath`.
fn send_seccomp_listener(listener: Option<OwnedFd>, a: &InitArgs) -> Result<()> {
    if let (Some(listener), Some((sock, message))) = (listener, &a.seccomp_listener) {
        crate::tty::send_fd(sock.as_raw_fd(), listener.as_raw_fd(), message)
            .map_err(|e| anyhow!("linux.seccomp.listenerPath: {e:#}"))?;
    }
    Ok(())
}

/// The process starts with default dispositions and nothing blocked: rrun ignores SIGPIPE
/// (as every Rust program does), `run` blocks signals to forward them, and a signal its
/// caller ignored would stay ignored across the exec.
pub fn reset_signals() {
    reset_dispositions_but_sigpipe(None);
    unignore_sigpipe_and_unblock();
}

fn unignore_sigpipe_and_unblock() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
    let _ = crate::syscalls::default_signal_disposition(Signal::SIGPIPE as i32);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Every disposition back to its default but SIGPIPE's, which rrun still needs ignored
/// (its writes to a pipe whose reader left, a hook's stdin, must fail, not kill it). rrun
/// installs no handler of its own: only signals its caller ignored change here, the
/// real-time ones too (runc and crun reset all but two or three of those). With
/// `ignored` (rrun's, and so the init's: bit `n - 1` for signal `n`), only those, a call
/// each; without, every one.
fn reset_dispositions_but_sigpipe(ignored: Option<u64>) {
    use nix::sys::signal::Signal;
    let keep = [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGPIPE].map(|s| s as i32);
    let is_ignored = |sig: i32| ignored.is_none_or(|mask| mask & (1 << (sig - 1)) != 0);
    for sig in (1..=crate::syscalls::LAST_SIGNAL).filter(|s| !keep.contains(s)) {
        if is_ignored(sig) {
            let _ = crate::syscalls::default_signal_disposition(sig);
        }
    }
}
