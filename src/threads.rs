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

/// std::thread::spawn, after marking that threads may exist.
#[allow(clippy::disallowed_methods)] // the one place threads start
pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    MAY_EXIST.store(true, Ordering::SeqCst);
    std::thread::spawn(f)
}
