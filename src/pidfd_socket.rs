//! `--pidfd-socket` (runc 1.2, `create`, `run`, `exec`): a pidfd of the container's init, or
//! of the exec'd process, sent over an AF_UNIX socket the caller listens on, as runc sends
//! it: one message whose data names the kind of process ("standard" for an init, "setns"
//! for an exec'd one) with the pidfd beside it (SCM_RIGHTS). The caller can then signal or
//! wait for that very process, whatever becomes of its pid.
//!
//! rrun connects before it makes anything, so that a socket nobody listens on fails the
//! command with nothing to undo, and sends once the process is set up, opening the pidfd
//! itself (pidfd_open of its child): unlike runc, whose init sends its own, no socket of
//! the caller's ever reaches the container.

use anyhow::{Result, anyhow};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// What runc's init sends beside a container init's pidfd.
pub const STANDARD: &str = "standard";
/// What runc's exec'd process sends beside its pidfd.
pub const SETNS: &str = "setns";

pub fn connect(path: &Path) -> Result<OwnedFd> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| anyhow!("--pidfd-socket: failed to dial {}: {e}", path.display()))?;
    Ok(OwnedFd::from(stream))
}

/// Sends a pidfd of `pid` (rrun's child) with `kind` as the message's data.
pub fn send(socket: &OwnedFd, pid: i32, kind: &str) -> Result<()> {
    let pidfd = crate::syscalls::pidfd_open(pid).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => anyhow!("--pidfd-socket requires >= v5.3 kernel"),
        _ => anyhow!("--pidfd-socket: failed to pidfd_open: {e}"),
    })?;
    crate::tty::send_fd(socket.as_raw_fd(), pidfd.as_raw_fd(), kind)
        .map_err(|e| anyhow!("--pidfd-socket: failed to send pidfd on socket: {e:#}"))
}
