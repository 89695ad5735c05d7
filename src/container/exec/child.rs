//! The exec'd process's side, from the fork to its exec: it joins its cgroups (v1) and the
//! container's namespaces, takes its console, cwd, limits, scheduling, user and
//! capabilities, the container's seccomp filter, and execs. A failure is reported to the
//! parent over the handshake channel, and the process exits.

use super::Prepared;
use super::namespaces::Joins;
use crate::init::handshake::{self, Message};
use anyhow::{Context, Result, anyhow};
use oci_spec::runtime::Process;
use std::os::fd::{AsRawFd, OwnedFd};

/// The forked process, to its exec or its end.
pub(super) fn run(
    process: &Process,
    prepared: Prepared,
    joins: &Joins,
    console: Option<&OwnedFd>,
    preserve_fds: u32,
    channel: handshake::Channel,
    rootless_euid: bool,
) -> ! {
    channel.relay_logs();
    // The host's /proc is still in view: this process's pid as the agent sees it.
    let host_pid =
        (prepared.seccomp_listener.as_ref()).map(|_| crate::container::create::host_pid_of_self());
    let personality = (prepared.bundle.spec.linux().as_ref()).and_then(|l| l.personality().clone());
    let result = crate::process::set_personality(personality.as_ref()).and_then(|_| {
        child_setup(
            process,
            &prepared.affinity,
            &prepared.scheduling,
            joins,
            console.map(|f| f.as_raw_fd()),
            &channel,
            rootless_euid,
        )
    });
    match result {
        Ok(launch) => {
            let listener = prepared.seccomp_listener.map(|(sock, mut message)| {
                message["pid"] = host_pid.unwrap_or_default().into();
                (sock, message.to_string())
            });
            child_exec(
                launch,
                prepared.seccomp.as_ref(),
                listener,
                preserve_fds,
                &channel,
            )
        }
        Err(e) => {
            let _ = channel.send(&Message::Failed {
                message: format!("{e:#}"),
            });
            crate::syscalls::exit_immediately(1)
        }
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
