//! The container's init: the child rrun clones. It builds the container from inside its
//! namespaces, reports to the parent over the handshake channel, waits for `start`, and
//! execs the user's process, which keeps its pid (no extra process, no re-exec of rrun).

pub mod first_cpu;
pub mod handshake;
mod setup;

use crate::namespaces::NamespacePlan;
use crate::rootfs;
use anyhow::{Result, anyhow};
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
    /// Idmapped-mount sources the parent detached before the clone, by mount index.
    pub detached_sources: Vec<Option<OwnedFd>>,
    /// When the init gets the bind and idmapped sources rrun detaches for it.
    pub mount_sources: MountSourcesFrom,
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

/// When the init gets the bind and idmapped sources rrun detaches for it (open_tree, as
/// the host's root). In a user namespace, from inside the init's mount namespace: copies
/// of that namespace's mounts, with the flags the kernel locks there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountSourcesFrom {
    /// Detached in rrun's mount namespace before the clone (idmapped mounts of a container
    /// without a user namespace): the init inherits them, in `detached_sources`.
    TheClone,
    /// Detached right after the clone (a user namespace of the container's own, whose
    /// mount namespace the clone made): sent before "go".
    RightAfterTheClone,
    /// Detached once the init has joined a user namespace and made its mount namespace
    /// there (idmapped mounts of a container that joins one): the init asks
    /// ("mountsourcesplease") before "limitsset".
    TheInitsRequest,
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
    let prepared = match setup::setup(&args) {
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

fn exec(p: setup::Prepared, a: &InitArgs, ignored_signals: Option<u64>) -> ! {
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
