//! `run` in the foreground: rrun stays the parent of init, forwards the signals it gets,
//! copies the terminal when it holds the pty, and exits with the container's status.

use anyhow::{Result, anyhow};
use nix::sys::signal::{SigmaskHow, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Blocks every signal rrun forwards, so they queue on a signalfd instead of killing us.
/// Must happen before init is cloned; init unblocks them before exec.
pub fn block_signals() -> Result<SignalFd> {
    let set = crate::signals::forwarded();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| anyhow!("blocking signals: {e}"))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(|e| anyhow!("signalfd: {e}"))
}

/// The shell convention for a child's end: its exit code, or 128 + the signal.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Waits for init to exit, forwarding signals (and copying the terminal if `console`);
/// lets go of `until_exec` once the init has exec'd (its channel hangs up then).
pub fn wait(
    pid: i32,
    signals: SignalFd,
    console: Option<OwnedFd>,
    mut until_exec: Option<super::create::UntilExec>,
) -> Result<i32> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // Blocked again: musl's posix_spawn (a hook's start, through std's Command) gives its
    // caller back a mask without the signals musl keeps for itself (32 to 34), and a 34
    // unblocked would kill rrun and orphan its container instead of reaching it.
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&crate::signals::forwarded()),
        None,
    )
    .map_err(|e| anyhow!("blocking signals: {e}"))?;
    let _raw = console.as_ref().map(|_| crate::tty::RawMode::enter());
    if let Some(m) = &console
        && let Some((rows, cols)) = crate::tty::window_size(0)
    {
        let _ = crate::tty::set_window_size(m.as_raw_fd(), rows, cols);
    }
    let stdin = std::io::stdin();
    let mut stdin_open = console.is_some();
    // Only a terminal's traffic is copied; without one, no buffer (its zeroing alone cost
    // 8 page faults per foreground container).
    let mut buf = vec![0u8; if console.is_some() { 32 * 1024 } else { 0 }];
    loop {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        // Asking for no event: poll reports its hang-up anyway, and no message (none is
        // sent after "created") keeps it awake. Taken out of `ready` first, below.
        if let Some(u) = &until_exec {
            fds.push(PollFd::new(u.channel.as_fd(), PollFlags::empty()));
        }
        if let Some(m) = &console {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(anyhow!("poll: {e}")),
        }
        let mut ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if until_exec.is_some() && ready.remove(1) {
            until_exec = None;
        }
        if ready.len() > 2 && ready[2] {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(
                    console.as_ref().map(|m| m.as_raw_fd()).unwrap_or(-1),
                    &buf[..n],
                ),
            }
        }
        if ready.len() > 1
            && ready[1]
            && let Some(m) = &console
            && let Ok(n) = nix::unistd::read(m, &mut buf)
        {
            write_all(1, &buf[..n]);
        }
        if ready[0] {
            while let Ok(Some(info)) = signals.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    if let Some(code) = reap(pid)? {
                        if let Some(m) = &console {
                            drain(m, &mut buf);
                        }
                        return Ok(code);
                    }
                } else if sig == libc::SIGWINCH {
                    if let (Some(m), Some((rows, cols))) = (&console, crate::tty::window_size(0)) {
                        let _ = crate::tty::set_window_size(m.as_raw_fd(), rows, cols);
                    }
                } else {
                    // By number: a real-time signal has no name in nix's `Signal`.
                    let _ = crate::syscalls::send_signal(pid, sig);
                }
            }
        }
    }
}

/// Reaps every exited child (rrun is a subreaper); returns init's exit code once it is gone.
fn reap(pid: i32) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(status) if status.pid() == Some(Pid::from_raw(pid)) => return Ok(exit_code(status)),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(anyhow!("waitpid: {e}")),
        }
    }
}

fn drain(master: &OwnedFd, buf: &mut [u8]) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while let Ok(n) = nix::unistd::read(master, buf) {
        if n == 0 {
            break;
        }
        write_all(1, &buf[..n]);
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    if fd < 0 {
        return;
    }
    let borrowed = crate::syscalls::borrow_fd(fd);
    while !data.is_empty() {
        match nix::unistd::write(borrowed, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}
