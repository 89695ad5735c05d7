//! Where the init runs before "go". It makes its namespaces while rrun writes the records
//! and makes the cgroups (`namespaces::early_unshare`), but the kernel starts a new
//! process on its parent's CPU about half the time here, even with the other CPU idle:
//! the init then waits until rrun blocks on "go", and the two steps run one after the
//! other (docs/performance.md, 2026-12-04 night). So rrun keeps the init off its own CPU
//! until "go"; at "go" the init sets its affinity to every CPU its cgroups allow
//! (`process::reset_cpu_affinity`, as runc does for every container process), so nothing
//! of the move reaches the container.

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
}
