//! The fds rrun was started with beyond stdio. runc's init gets only the fds it is given;
//! rrun's init is a clone of rrun, so it closes the caller's other fds itself as soon as it
//! exists: while it waits for `start` it must hold nothing of the caller's (a log file, a
//! test harness's pipe), and no process of the container may reach them through it.

use std::os::fd::RawFd;
use std::sync::OnceLock;

static AT_START: OnceLock<Vec<RawFd>> = OnceLock::new();

/// Notes the fds open now; called by `create` and `run` before rrun opens any of its own.
pub fn note() {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default();
    // The directory's own fd was among them, already closed again.
    let fds: Vec<RawFd> = fds
        .into_iter()
        .filter(|fd| {
            nix::fcntl::fcntl(crate::syscalls::borrow_fd(*fd), nix::fcntl::F_GETFD).is_ok()
        })
        .collect();
    let _ = AT_START.set(fds);
}

/// In the init: closes the noted fds except the first `keep` after stdio (fds 3 to
/// 3+keep-1: `--preserve-fds` and socket activation's).
pub fn close_in_init(keep: u32) {
    for fd in AT_START.get().into_iter().flatten() {
        if *fd >= 3 + keep as RawFd {
            crate::syscalls::close_inherited(*fd);
        }
    }
}
