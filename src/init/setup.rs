//! The container built from inside, by its init, from its clone to "ready": `setup` and
//! its phases. What follows "ready" (the wait for `start`, the startContainer hooks, the
//! exec) is in the module above.

use super::{
    InitArgs, MountSourcesFrom, enter_cwd, send_seccomp_listener, set_domainname, setup_terminal,
};
use crate::init::handshake::Message;
use crate::process;
use crate::rootfs::{self, RootfsPlan};
use anyhow::{Context, Result, anyhow};
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;

/// What setup leaves for the last steps.
pub(super) struct Prepared {
    pub(super) fifo: OwnedFd,
    pub(super) launch: process::Launch,
}

/// Builds the container from inside, in phases: the namespaces made and rrun's binary
/// sealed, the first mounts while rrun works beside ("go"), the cgroups and namespaces
/// joined, the host's names, rrun's limits awaited, the rootfs built and protected, and
/// the process prepared, the seccomp filter loaded last. The order is the one runc's
/// init keeps; each phase's comments say why.
pub(super) fn setup(a: &InitArgs) -> Result<Prepared> {
    make_namespaces_and_seal(a)?;
    let after_clone = match a.mount_sources {
        MountSourcesFrom::RightAfterTheClone => Some(receive_mount_sources(a)?),
        _ => None,
    };
    // Read when the `cgroup` mount's turn comes, by then long sent.
    let cgroup_tree = || match a.channel.recv_with_fd()? {
        (Some(Message::CgroupTree), tree) => Ok(tree),
        _ => Err(anyhow!("rrun ended before it sent the cgroup mounts")),
    };
    // Asked when an idmapped mount whose source is in the rootfs comes (rrun's other
    // messages meanwhile are set aside for their turn).
    let source_at_its_turn = |index| {
        a.channel.send(&Message::MountSourcePlease { index })?;
        let is_reply = |m: &Message| matches!(m, Message::MountSource { index: i } if *i == index);
        match a.channel.recv_reply(is_reply)? {
            (Some(_), Some(tree)) => Ok(tree),
            _ => Err(anyhow!(
                "rrun ended before it sent mounts[{index}]'s source"
            )),
        }
    };
    let plan_with = |detached_sources| RootfsPlan {
        spec: a.spec,
        bundle: a.bundle,
        rootfs: a.rootfs,
        user_ns: a.namespaces.user_ns,
        cgroup_ns: a.namespaces.new_cgroup,
        cgroup_paths: a.cgroup_paths,
        detached_sources,
        cgroup_tree: a
            .cgroup_tree_from_parent
            .then_some(&cgroup_tree as &dyn Fn() -> Result<Option<OwnedFd>>),
        source_at_its_turn: &source_at_its_turn,
        shares_host_mounts: !a.own_mount_ns,
    };
    // While rrun makes the records and cgroups (its branch before "go" was the longer one
    // without these): the config's first mounts, where they are the kernel's own
    // filesystems and nothing the init joins later could change what they show (no user
    // namespace: its sources are the clone's).
    let early_plan;
    let build = if a.own_mount_ns && a.namespaces.init_mounts_before_go() {
        early_plan = plan_with(&a.detached_sources);
        let mut build = rootfs::Build::begin(&early_plan)?;
        build.mount_pseudo_filesystems()?;
        Some(build)
    } else {
        None
    };
    join_cgroups_on_go(a)?;
    let process = (a.spec.process().as_ref()).ok_or_else(|| anyhow!("process: must be set"))?;
    // Opened now, while the state directory is reachable and we are still
    // the host's root (before becoming the user namespace's root); O_RDWR never blocks.
    let fifo = nix::fcntl::open(
        a.fifo,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("opening {}: {e}", a.fifo.display()))?;
    join_namespaces(a)?;
    set_names(a.spec)?;
    let on_request = wait_for_limits(a)?;
    let sources = (on_request.as_ref().or(after_clone.as_ref())).unwrap_or(&a.detached_sources);
    match build {
        Some(build) => build.finish()?,
        None => rootfs::prepare(&plan_with(sources))?,
    }
    run_create_hooks(a)?;
    enter_and_protect_rootfs(a, process)?;
    let launch = prepare_process(a, process)?;
    crate::logging::debug("init: closing the pipe to signal completion: the container is built");
    Ok(Prepared { fifo, launch })
}

/// The init's namespaces (but those it joins later), then rrun's sealed view, where the
/// parent left sealing to it.
fn make_namespaces_and_seal(a: &InitArgs) -> Result<()> {
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
    Ok(())
}

/// The bind and idmapped sources rrun detached from inside this init's mount namespace,
/// by mount index ("mountsource" until "mountsourcessent"; the config's other mounts,
/// and the sources rrun could not open, None).
fn receive_mount_sources(a: &InitArgs) -> Result<Vec<Option<OwnedFd>>> {
    let mut trees = Vec::new();
    trees.resize_with(a.spec.mounts().as_ref().map_or(0, Vec::len), || None);
    loop {
        match a.channel.recv_with_fd()? {
            (Some(Message::MountSource { index }), Some(tree)) if index < trees.len() => {
                trees[index] = Some(tree);
            }
            (Some(Message::MountSourcesSent), _) => return Ok(trees),
            // rrun ended, or failed, on the way: it undoes what it made.
            _ => crate::syscalls::exit_immediately(1),
        }
    }
}

/// Waits for "go" and joins the cgroups it names (those the init was not cloned into).
fn join_cgroups_on_go(a: &InitArgs) -> Result<()> {
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
    Ok(())
}

/// The namespaces the init joins or makes after its cgroups, as the root of its user
/// namespace where it has one.
fn join_namespaces(a: &InitArgs) -> Result<()> {
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
    Ok(())
}

/// The umask the container's files are made with, its host and domain names.
fn set_names(spec: &Spec) -> Result<()> {
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| anyhow!("setting hostname {h:?}: {e}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        set_domainname(d)?;
    }
    Ok(())
}

/// Waits for rrun's cgroup limits ("limitsset"), asking first for the config's network
/// devices and, in a joined user namespace, the idmapped mounts' sources (returned), and
/// brings the loopback up where rrun did not.
fn wait_for_limits(a: &InitArgs) -> Result<Option<Vec<Option<OwnedFd>>>> {
    // Its network namespace is the container's now: rrun moves the config's devices in.
    if !crate::net_devices::of(a.spec).is_empty() {
        a.channel.send(&Message::MoveNetDevices)?;
    }
    // Its mount namespace is made, in the joined user namespace: rrun detaches the
    // sources from inside it.
    let sources = if a.mount_sources == MountSourcesFrom::TheInitsRequest {
        a.channel.send(&Message::MountSourcesPlease)?;
        Some(receive_mount_sources(a)?)
    } else {
        None
    };
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
    Ok(sources)
}

/// The prestart and createRuntime hooks (run by rrun, when the init asks), then the
/// createContainer hooks.
fn run_create_hooks(a: &InitArgs) -> Result<()> {
    let Some(hooks) = a.spec.hooks() else {
        return Ok(());
    };
    // The same test decides where rrun sends "created" (before or after these).
    if crate::hooks::has_create_hooks(a.spec) {
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
    )
}

/// Into the rootfs (pivot_root, or a chroot without a mount namespace of the container's
/// own), the sysctls, the terminal, then the masked and read-only paths.
fn enter_and_protect_rootfs(a: &InitArgs, process: &oci_spec::runtime::Process) -> Result<()> {
    let spec = a.spec;
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
    rootfs::protect(spec)
}

/// The process's session, cwd, limits, keyring, personality and scheduling, then its user
/// and capabilities prepared and the seccomp filter loaded.
fn prepare_process(a: &InitArgs, process: &oci_spec::runtime::Process) -> Result<process::Launch> {
    let spec = a.spec;
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
    Ok(launch)
}
