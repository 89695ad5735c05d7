//! Where the init runs before "go". It makes its namespaces while rrun writes the records
//! and makes the cgroups (`namespaces::early_unshare`), but the kernel starts a new
//! process on its parent's CPU about half the time here, even with the other CPU idle:
//! the init then waits until rrun blocks on "go", and the two steps run one after the
//! other (docs/performance.md, 2026-12-04 night). So rrun keeps the init off its own CPU
//! until "go", and the init takes back the affinity it inherited as the first thing it
//! does then, before it joins any cgroup: the CPUs of a cpuset it joins are intersected
//! with the affinity a process last asked for, so none of this shows in the container.

use anyhow::{Result, anyhow};
use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

pub struct FirstCpu {
    inherited: CpuSet,
}

impl FirstCpu {
    /// The calling process's affinity, which the init it clones next inherits.
    pub fn note() -> Option<Self> {
        let inherited = sched_getaffinity(Pid::from_raw(0)).ok()?;
        Some(FirstCpu { inherited })
    }

    /// In rrun, right after the clone: the init may run anywhere it could but on this
    /// CPU. Best effort: where it can't move, it runs once rrun blocks, as it would have.
    pub fn away_from_caller(&self, init: Pid) {
        let Ok(here) = sched_getcpu() else {
            return;
        };
        if let Some(elsewhere) = without(&self.inherited, here) {
            let _ = sched_setaffinity(init, &elsewhere);
        }
    }

    /// In the init, once "go" came (rrun moved it before sending that): the affinity it
    /// was cloned with. Untouched where rrun did not move it.
    pub fn restore(&self) -> Result<()> {
        let here = Pid::from_raw(0);
        if sched_getaffinity(here).is_ok_and(|now| now == self.inherited) {
            return Ok(());
        }
        sched_setaffinity(here, &self.inherited)
            .map_err(|e| anyhow!("restoring the init's CPU affinity: {e}"))
    }
}

/// `set` without `cpu`, if that leaves any CPU.
fn without(set: &CpuSet, cpu: usize) -> Option<CpuSet> {
    let mut rest = *set;
    rest.unset(cpu).ok()?;
    (0..CpuSet::count())
        .any(|c| rest.is_set(c).unwrap_or(false))
        .then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(cpus: &[usize]) -> CpuSet {
        let mut s = CpuSet::new();
        for &c in cpus {
            s.set(c).unwrap();
        }
        s
    }

    #[test]
    fn the_callers_cpu_is_left_out_only_where_another_remains() {
        assert_eq!(without(&set_of(&[0, 1]), 0), Some(set_of(&[1])));
        assert_eq!(without(&set_of(&[2, 5]), 3), Some(set_of(&[2, 5])));
        assert_eq!(without(&set_of(&[1]), 1), None);
    }

    #[test]
    fn a_moved_child_gets_its_inherited_affinity_back() {
        let first = FirstCpu::note().unwrap();
        let here = sched_getcpu().unwrap();
        let Some(elsewhere) = without(&first.inherited, here) else {
            return; // one CPU: nothing to move to
        };
        let (wait_end, tell_end) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes syscalls and exits, as after any fork in a test.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop(tell_end);
                // Until the parent has moved it (or closed the pipe, as it exits).
                let _ = nix::unistd::read(&wait_end, &mut [0u8]);
                let moved = sched_getaffinity(Pid::from_raw(0)).unwrap() == elsewhere;
                let restored = first.restore().is_ok()
                    && sched_getaffinity(Pid::from_raw(0)).unwrap() == first.inherited;
                crate::syscalls::exit_immediately(if moved && restored { 0 } else { 1 })
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(wait_end);
                let moved = sched_setaffinity(child, &elsewhere);
                let _ = nix::unistd::write(&tell_end, b"x");
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                moved.unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
