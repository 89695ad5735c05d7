//! Where the init runs before "go". It makes its namespaces while rrun writes the records
//! and makes the cgroups (`namespaces::early_unshare`), but the kernel starts a new
//! process on its parent's CPU about half the time here, even with the other CPU idle:
//! the init then waits until rrun blocks on "go", and the two steps run one after the
//! other (docs/performance.md, 2026-12-04 night). So rrun keeps the init off its own CPU
//! until "go"; at "go" the init sets its affinity to every CPU its cgroups allow
//! (`process::reset_cpu_affinity`, as runc does for every container process), so nothing
//! of the move reaches the container.
//!
//! rrun can move the init only if it runs first. Often it does not: the scheduler (EEVDF)
//! lets the new task preempt its parent at the clone's return, and the init, on rrun's
//! CPU, then makes its namespaces (~0.4 ms) while rrun waits with the other CPU idle
//! (3 `run`s in 30 here, each ~0.6 ms longer). So the init, first thing, leaves the CPU
//! rrun ran on at the clone if it finds itself there; whichever of the two runs first
//! moves it.

use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

/// In rrun, right after the clone: the init may run on any CPU rrun may but on the one
/// rrun runs on. Best effort: where it can't move, it runs once rrun blocks, as it would
/// have.
pub fn away_from_caller(init: Pid) {
    let (Ok(here), Ok(ours)) = (sched_getcpu(), sched_getaffinity(Pid::from_raw(0))) else {
        return;
    };
    if let Some(elsewhere) = without(&ours, here) {
        let _ = sched_setaffinity(init, &elsewhere);
    }
}

/// In rrun, right before the clone: the CPU the init should leave.
pub fn callers() -> Option<usize> {
    sched_getcpu().ok()
}

/// In the init, first thing: off `callers` (from [`callers`]) if it runs there, to any
/// other CPU it may use. Best effort, as [`away_from_caller`].
pub fn leave(callers: Option<usize>) {
    let Some(cpu) = callers else {
        return;
    };
    if sched_getcpu().ok() != Some(cpu) {
        return;
    }
    let Ok(ours) = sched_getaffinity(Pid::from_raw(0)) else {
        return;
    };
    if let Some(elsewhere) = without(&ours, cpu) {
        let _ = sched_setaffinity(Pid::from_raw(0), &elsewhere);
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
    fn an_init_on_the_callers_cpu_moves_off_it() {
        // Each test runs on a thread of its own: only this thread's affinity changes.
        let all = sched_getaffinity(Pid::from_raw(0)).unwrap();
        let cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|&c| all.is_set(c).unwrap())
            .collect();
        if cpus.len() < 2 {
            eprintln!("skipped: one CPU, nowhere to move");
            return;
        }
        let callers = cpus[0];
        sched_setaffinity(Pid::from_raw(0), &set_of(&[callers])).unwrap();
        sched_setaffinity(Pid::from_raw(0), &set_of(&cpus)).unwrap();
        assert_eq!(
            sched_getcpu().unwrap(),
            callers,
            "still where it was pinned"
        );
        leave(None);
        leave(Some(cpus[1]));
        assert_eq!(sched_getcpu().unwrap(), callers, "not on that CPU: stays");
        leave(Some(callers));
        assert_ne!(sched_getcpu().unwrap(), callers);
        let now = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert_eq!(now, set_of(&cpus[1..]));
    }

    #[test]
    fn the_callers_cpu_is_left_out_only_where_another_remains() {
        assert_eq!(without(&set_of(&[0, 1]), 0), Some(set_of(&[1])));
        assert_eq!(without(&set_of(&[2, 5]), 3), Some(set_of(&[2, 5])));
        assert_eq!(without(&set_of(&[1]), 1), None);
    }
}
