//! Where rrun's threads start. rrun runs on one thread but while it reads a hook's output
//! (crate::hooks); its allocator (crate::allocator) takes its lock only once a second
//! thread may exist, so every thread starts here, which says so first. clippy.toml refuses
//! `std::thread::spawn` and its kin anywhere else.

use std::sync::atomic::{AtomicBool, Ordering};

static MAY_EXIST: AtomicBool = AtomicBool::new(false);

/// Whether a thread other than the first may have been started in this process (once
/// true, true for good: a thread that ended is not worth knowing about).
pub fn may_exist() -> bool {
    // Relaxed: the thread that set it reads its own write, and a thread started after it
    // was set sees it through the start (std::thread::spawn synchronizes with the new
    // thread's first step).
    MAY_EXIST.load(Ordering::Relaxed)
}

/// std::thread::Builder::spawn, after marking that threads may exist. It fails where the
/// kernel refuses a thread (EAGAIN, seen in a `run` that had joined another container's
/// pid namespace for its init).
///
/// Signals stay the first thread's: the new thread runs with all of them blocked, and the
/// caller keeps the mask it had. musl unblocks the signals it keeps for itself (32 to 34)
/// in the first thread when a second one starts, and 34 is one `run` forwards (its
/// signalfd reads only what every thread blocks; unblocked anywhere, a 34 killed rrun and
/// orphaned its container). So, with a second thread alive, nothing may call what musl
/// runs on every thread through signal 34 (`__synccall`: setuid, setgid, setgroups,
/// setrlimit and their kin); rrun's threads live beside commands that call none of them.
pub fn spawn<F, T>(f: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(std::thread::Builder::new(), f)
}

/// As [`spawn`], on a stack of `size` bytes: for a thread of a few system calls, whose
/// default stack (2 MiB, mapped and unmapped around it) costs more than its work (~90 µs
/// of a `run` here, docs/performance.md, 2026-12-07).
pub fn spawn_small<F, T>(size: usize, f: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(std::thread::Builder::new().stack_size(size), f)
}

#[allow(clippy::disallowed_methods)] // the one place threads start
fn start<F, T>(builder: std::thread::Builder, f: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    MAY_EXIST.store(true, Ordering::SeqCst);
    let callers = crate::syscalls::blocked_signals();
    let thread = builder.spawn(move || {
        let _ = crate::syscalls::set_blocked_signals(u64::MAX);
        f()
    });
    if let Ok(mask) = callers {
        let _ = crate::syscalls::set_blocked_signals(mask);
    }
    thread
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signal 34 as `run` blocks it (crate::signals::forwarded).
    const SIG34: u64 = 1 << 33;

    #[test]
    fn a_started_thread_leaves_the_callers_signals_blocked_and_blocks_all_itself() {
        // A thread of its own, whose mask this test may change.
        let outer = spawn(|| {
            let before = crate::syscalls::blocked_signals().unwrap();
            crate::syscalls::set_blocked_signals(before | SIG34).unwrap();
            let inner = spawn(|| crate::syscalls::blocked_signals().unwrap()).unwrap();
            let callers = crate::syscalls::blocked_signals().unwrap();
            (callers, inner.join().unwrap(), before)
        })
        .unwrap();
        let (callers, inner, before) = outer.join().unwrap();
        assert_eq!(callers, before | SIG34, "the caller's mask as it was");
        // All but SIGKILL and SIGSTOP, which the kernel never blocks.
        let unblockable = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));
        assert_eq!(inner, !unblockable);
    }
}
