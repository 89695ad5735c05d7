//! `exec`: a new process in a running container. rrun joins the container's pid (and time)
//! namespace itself, forks the process, puts it in the container's cgroups, and the child
//! joins the other namespaces (user first), takes the process's user, limits, capabilities
//! and the container's seccomp filter, and execs. Like `create` it never runs rrun's
//! binary inside the container: rrun first moves onto a sealed view of itself.

use super::{Status, foreground};
use crate::init::handshake::{self, Message};
use crate::state::{ContainerRecord, Store};
use crate::syscalls::CloneResult;
use anyhow::{Result, bail};
use oci_spec::runtime::Process;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

mod cgroups;
mod child;
mod flags;
mod namespaces;

pub use flags::process_from_flags;

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

/// Runs the process; returns its exit code (foreground) or 0 once it runs (detached). In
/// phases: the container found running, the process prepared from its config, the pid and
/// time namespaces joined, the caller's ends opened, the process forked into its cgroups
/// (its side is [`child::run`]), its set-up waited for, and what the caller asked for
/// handed over. A process forked and failed is killed and reaped.
pub fn exec(store: &Store, mut opts: ExecOptions) -> Result<i32> {
    // CVE-2019-5736: container processes see this process once it joins them. The `exec`
    // command sealed rrun before it read anything (always, an ordinary user's too), so this
    // finds rrun sealed; it guards any other caller (and where sealing re-executes, the
    // sealed process reads again whatever was read before).
    crate::selfexe::seal_unless_out_of_reach(store.root_path())?;
    let record = running_container(store, &mut opts)?;
    let prepared = Prepared::read(&mut opts, &record)?;
    let rootless_euid = crate::rootless::euid_is_rootless();
    let joins = namespaces::join_before_fork(record.pid, &prepared.bundle.spec, rootless_euid)?;
    let ends = CallersEnds::open(&opts, prepared.terminal)?;
    let mut placement =
        cgroups::Placement::decide(&record.cgroup_paths, &opts.sub_cgroups, rootless_euid)?;
    let (parent_end, child_end) = handshake::pair()?;
    let pid = match placement.fork()? {
        CloneResult::Child => {
            drop(parent_end);
            child::run(
                &opts.process,
                prepared,
                &joins,
                ends.console_child.as_ref(),
                opts.preserve_fds,
                child_end,
                rootless_euid,
            )
        }
        CloneResult::Parent(pid) => pid,
    };
    drop(child_end);
    drop(ends.console_child);
    let placed = placement.place(pid, record.pid, record.rootless_cgroups);
    if let Err(e) = placed {
        super::kill_child_and_reap(pid);
        return Err(e);
    }
    let join_cgroups = std::mem::take(&mut placement.join_cgroups);
    wait_until_set_up(&opts, pid, join_cgroups, &placement.dirs, &parent_end)?;
    let console = match ends.console_parent {
        Some(sock) => Some(crate::tty::recv_console(sock.as_raw_fd())?),
        None => None,
    };
    if let Some(socket) = &ends.pidfd_socket
        && let Err(e) = crate::pidfd_socket::send(socket, pid, crate::pidfd_socket::SETNS)
    {
        super::kill_child_and_reap(pid);
        return Err(e);
    }
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    match ends.signals {
        None => Ok(0),
        Some(signals) => foreground::wait(pid, signals, console, None),
    }
}

/// The container's record, where it is running (or paused, with --ignore-paused); the
/// container's lock is let go.
fn running_container(store: &Store, opts: &mut ExecOptions) -> Result<ContainerRecord> {
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
    Ok(c.record.clone())
}

/// What the process is made from, read and checked before anything is made: the
/// container's bundle, the process with the container's settings where it left them
/// unset, its scheduling and CPU affinity, the container's seccomp filter compiled and
/// its agent connected.
struct Prepared {
    terminal: bool,
    bundle: crate::config::Bundle,
    scheduling: crate::scheduling::ContainerScheduling,
    affinity: crate::process::ExecAffinity,
    seccomp: Option<crate::seccomp::Filter>,
    /// As for the init: the process's notify listener goes to the seccomp agent, with the
    /// container's state and this process's host pid (filled in by the child).
    seccomp_listener: Option<(OwnedFd, serde_json::Value)>,
}

impl Prepared {
    fn read(opts: &mut ExecOptions, record: &ContainerRecord) -> Result<Self> {
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
        crate::lsm::look_at_the_hosts_lsms(Some(&opts.process));
        let scheduling = crate::scheduling::ContainerScheduling::of(&bundle.spec)?;
        let affinity = crate::process::ExecAffinity::of(&opts.process)?;
        let profile = (bundle.spec.linux().as_ref()).and_then(|l| l.seccomp().as_ref());
        let seccomp = profile.map(crate::seccomp::compile).transpose()?;
        let seccomp_listener = match (&seccomp, profile) {
            (Some(filter), Some(s)) if filter.uses_notify => Some(
                super::create::connect_seccomp_listener(s, &opts.id, &bundle, &bundle.spec)?,
            ),
            _ => None,
        };
        Ok(Prepared {
            terminal,
            bundle,
            scheduling,
            affinity,
            seccomp,
            seccomp_listener,
        })
    }
}

/// What passes between the caller and the process: the console socket's two ends (the
/// process sends its pty master on one), the `--pidfd-socket` connection, and, in the
/// foreground, the signals blocked to be forwarded.
struct CallersEnds {
    console_child: Option<OwnedFd>,
    console_parent: Option<OwnedFd>,
    pidfd_socket: Option<OwnedFd>,
    signals: Option<nix::sys::signalfd::SignalFd>,
}

impl CallersEnds {
    fn open(opts: &ExecOptions, terminal: bool) -> Result<Self> {
        let (console_child, console_parent) =
            crate::tty::console_sockets(opts.console_socket.as_deref(), terminal)?;
        let pidfd_socket = (opts.pidfd_socket.as_deref())
            .map(crate::pidfd_socket::connect)
            .transpose()?;
        let signals = if opts.detach {
            None
        } else {
            Some(foreground::block_signals()?)
        };
        Ok(CallersEnds {
            console_child,
            console_parent,
            pidfd_socket,
            signals,
        })
    }
}

/// Lets the forked process go ("go": the v1 cgroups it joins itself) and waits for it to
/// be set up ("ready", sent just before its exec). A process in a frozen cgroup can't get
/// ready; only --ignore-paused waits for resume.
fn wait_until_set_up(
    opts: &ExecOptions,
    pid: i32,
    join_cgroups: Vec<PathBuf>,
    dirs: &[PathBuf],
    channel: &handshake::Channel,
) -> Result<()> {
    // The process may have failed before it reads "go" (its initial CPU affinity).
    let go = Message::Go { join_cgroups };
    if let Err(e) = channel.send_unless_failed(&go) {
        super::kill_child_and_reap(pid);
        return Err(e);
    }
    let not_frozen = || {
        if !opts.ignore_paused && crate::cgroups::frozen(dirs) {
            // Killed, not waited for: a frozen process dies only once thawed.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            bail!("cannot exec in a paused container");
        }
        Ok(())
    };
    match channel.recv_watching(not_frozen)? {
        Some(Message::Ready) => Ok(()),
        Some(Message::Failed { message }) => {
            super::kill_child_and_reap(pid);
            bail!("{message}")
        }
        _ => bail!("the process exited before it was set up"),
    }
}
