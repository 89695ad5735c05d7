//! rrun's heap: dlmalloc (musl's own allocator made rrun's parsing, clap's and serde's,
//! about twice as slow: docs/performance.md, 2026-12-04), with a lock taken only once a
//! second thread may exist ([`crate::threads`]). dlmalloc's own global instance locks a
//! pthread mutex around every call: two atomic operations for each of the thousands of
//! allocations of a `run`, about 1 % of its time (2026-12-05, afternoon), in processes that
//! almost never start a thread.
//!
//! A fork while another thread holds the lock would leave the child's heap locked (dlmalloc's
//! global instance took its lock around fork with pthread_atfork): rrun clones its init
//! before any thread starts, and a hook's process comes from std::process, whose child
//! allocates nothing before its exec.
//!
//! The binary installs it (main.rs); tests and fuzz targets keep the system's.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Allocator;

static mut HEAP: dlmalloc::Dlmalloc = dlmalloc::Dlmalloc::new();
static LOCKED: AtomicBool = AtomicBool::new(false);

impl Allocator {
    fn with_heap<R>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> R) -> R {
        // Read once: if no other thread may exist now, none can start before this returns
        // (threads start only from this thread, and never from inside the allocator).
        let shared = crate::threads::may_exist();
        if shared {
            lock();
        }
        // SAFETY: HEAP is reached only here, by one thread at a time: before any other
        // thread may exist there is only the caller, and after, the lock is held.
        let out = f(unsafe { &mut *std::ptr::addr_of_mut!(HEAP) });
        if shared {
            LOCKED.store(false, Ordering::Release);
        }
        out
    }
}

/// A spin lock: held for one dlmalloc call, and contended only by a hook's output readers.
/// It yields the CPU rather than spin long (sched_yield allocates nothing).
fn lock() {
    let mut spins = 0u32;
    while LOCKED
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

// SAFETY: each method hands dlmalloc exactly what GlobalAlloc's caller gave it (dlmalloc
// takes the layout's size and alignment as the trait does), on the heap that `with_heap`
// gives one thread at a time.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with_heap(|heap| unsafe { heap.malloc(layout.size(), layout.align()) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.with_heap(|heap| unsafe { heap.free(ptr, layout.size(), layout.align()) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.with_heap(|heap| unsafe { heap.calloc(layout.size(), layout.align()) })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.with_heap(|heap| unsafe { heap.realloc(ptr, layout.size(), layout.align(), new_size) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill_and_check(seed: u8, rounds: usize) {
        let a = Allocator;
        for i in 0..rounds {
            let size = 1 + (i * 37 + seed as usize) % 3000;
            let layout = Layout::from_size_align(size, 16).unwrap();
            // SAFETY: a non-zero size; the block is written within it and freed once.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null() && (p as usize).is_multiple_of(16));
                std::ptr::write_bytes(p, seed, size);
                let p = a.realloc(p, layout, size * 2);
                assert!(
                    (0..size).all(|k| *p.add(k) == seed),
                    "realloc kept the bytes"
                );
                a.dealloc(p, Layout::from_size_align(size * 2, 16).unwrap());
            }
        }
    }

    #[test]
    fn blocks_stay_whole_with_threads_started_through_rrun() {
        fill_and_check(1, 200);
        let workers: Vec<_> = (2..6u8)
            .map(|seed| crate::threads::spawn(move || fill_and_check(seed, 2000)).unwrap())
            .collect();
        assert!(crate::threads::may_exist());
        fill_and_check(7, 2000);
        for w in workers {
            w.join().unwrap();
        }
    }
}
