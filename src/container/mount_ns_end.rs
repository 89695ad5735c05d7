//! The end of a foreground container's mount namespace, beside rrun's cleanup.
//!
//! When a container's last process exits, the kernel ends its mount namespace in that
//! exit, before the parent hears of it: /proc, /sys, the tmpfs mounts and their dentries
//! are torn down (~240 µs of a `run` of /bin/true here), and only then do rrun's own steps
//! (reaping, removing the cgroups and the state) begin. `run` in the foreground holds the
//! namespace instead, from a thread that waits: at the exit rrun wakes it on another CPU,
//! where it lets the namespace go while rrun cleans up (docs/performance.md, 2026-12-06).
//! Everything is ended before rrun exits, and before any poststop hook runs.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// A container's mount namespace held by a waiting thread.
pub struct Held {
    /// Closing it wakes the thread (end of file).
    wake: OwnedFd,
    /// The thread's id, once it has started (0 before).
    tid: Arc<AtomicI32>,
    thread: std::thread::JoinHandle<()>,
}

/// The thread letting the namespace go.
pub struct Ending(std::thread::JoinHandle<()>);

impl Held {
    /// Holds the mount namespace of process `pid`, unless it is rrun's own (nothing is
    /// torn down at the container's end then) or can't be opened (the container already
    /// ended, say): the container's exit ends it, as without this.
    pub fn hold(pid: i32) -> Option<Held> {
        use nix::fcntl::{OFlag, open};
        use nix::sys::stat::{Mode, fstat, stat};
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let ns = open(format!("/proc/{pid}/ns/mnt").as_str(), flags, Mode::empty()).ok()?;
        let (theirs, ours) = (fstat(&ns).ok()?, stat("/proc/self/ns/mnt").ok()?);
        if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino) {
            return None;
        }
        let (woken, wake) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
        let tid = Arc::new(AtomicI32::new(0));
        let its_tid = tid.clone();
        let thread = crate::threads::spawn(move || {
            its_tid.store(nix::unistd::gettid().as_raw(), Ordering::Release);
            let mut byte = [0u8; 1];
            // Returns at end of file: `release`, or rrun's end.
            let _ = nix::unistd::read(&woken, &mut byte);
            // The last reference: the namespace ends here, on this thread's CPU.
            drop(ns);
        })
        // No thread (rrun joined a pid namespace, say): the container's exit ends it.
        .ok()?;
        Some(Held { wake, tid, thread })
    }

    /// At the container's end: the thread lets the namespace go, on another CPU than the
    /// one rrun runs on where there is one.
    pub fn release(self) -> Ending {
        let tid = self.tid.load(Ordering::Acquire);
        if tid != 0 {
            crate::init::first_cpu::away_from_caller(nix::unistd::Pid::from_raw(tid));
        }
        drop(self.wake);
        Ending(self.thread)
    }
}

impl Ending {
    /// Waits until the namespace has ended.
    pub fn wait(self) {
        let _ = self.0.join();
    }
}
