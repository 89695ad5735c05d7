//! The process's CPU scheduler and I/O priority and the container's NUMA memory policy
//! (runtime-spec 1.2's `process.scheduler`, `process.ioPriority`, `linux.memoryPolicy`),
//! checked before anything is made and set by the init and by `exec`'s process (after the
//! personality, before the user and capabilities change), in runc's words, as runc applies
//! them from 1.2 on (1.1 ignored them). An exec'd process takes the container's scheduler
//! and I/O priority where its own process.json has none (`process::inherit_unset_from`);
//! the memory policy is the container's for every process.

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    MemoryPolicyFlagType, MemoryPolicyModeType, Process, Scheduler, Spec,
};

/// What runc checks of a process's scheduler and I/O priority before it starts anything.
pub fn check_process(process: &Process) -> Result<()> {
    if let Some(s) = process.scheduler() {
        check_scheduler(s).map_err(|e| anyhow!("process.scheduler: {e}"))?;
    }
    if let Some(p) = process.io_priority()
        && !(0..=7).contains(&p.priority())
    {
        bail!(
            "process.ioPriority: invalid ioPriority.Priority: {}",
            p.priority()
        );
    }
    Ok(())
}

fn check_scheduler(s: &Scheduler) -> Result<()> {
    use LinuxSchedulerPolicy::*;
    let policy = *s.policy();
    let nice = s.nice().unwrap_or(0);
    if matches!(policy, SchedOther | SchedBatch) && !(-20..=19).contains(&nice) {
        bail!("invalid scheduler.nice: {nice} when scheduler.policy is {policy}");
    }
    if s.priority().unwrap_or(0) != 0 && !matches!(policy, SchedFifo | SchedRr) {
        bail!("scheduler.priority can only be specified for SchedFIFO or SchedRR policy");
    }
    let deadline_fields = [s.runtime(), s.deadline(), s.period()];
    if policy != SchedDeadline && deadline_fields.iter().any(|v| v.unwrap_or(0) != 0) {
        bail!("scheduler runtime/deadline/period can only be specified for SchedDeadline policy");
    }
    Ok(())
}

/// Sets the calling process's scheduler. `cpus_limited`: the container's cgroup limits its
/// CPUs (`linux.resources.cpu.cpus`), where the kernel refuses a deadline scheduler that
/// cannot span its root domain (EPERM), which runc explains so.
fn set_scheduler(s: Option<&Scheduler>, cpus_limited: bool) -> Result<()> {
    let Some(s) = s else {
        return Ok(());
    };
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => 0,
        SchedFifo => 1,
        SchedRr => 2,
        SchedBatch => 3,
        SchedIso => 4,
        SchedIdle => 5,
        SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0, |all, flag| {
        all | match flag {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    let deadline = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    let priority = s.priority().unwrap_or(0) as u32;
    match crate::syscalls::sched_setattr(policy, flags, s.nice().unwrap_or(0), priority, deadline) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && cpus_limited => {
            bail!("process scheduler can't be used together with AllowedCPUs")
        }
        Err(e) => bail!("error setting scheduler: {e}"),
    }
}

/// Sets the calling process's I/O priority (its children inherit it).
fn set_io_priority(p: Option<&LinuxIOPriority>) -> Result<()> {
    let Some(p) = p else {
        return Ok(());
    };
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    crate::syscalls::ioprio_set_self((class << 13) | p.priority() as u32)
        .map_err(|e| anyhow!("failed to set io priority: {e}"))
}

/// What every process of the container runs with besides its own process settings: the
/// container's memory policy, and whether its cgroup limits its CPUs (which the scheduler's
/// error explains). Read before any process is started, so that a bad one stops nothing
/// half made.
pub struct ContainerScheduling {
    memory_policy: Option<MemoryPolicy>,
    cpus_limited: bool,
}

impl ContainerScheduling {
    pub fn of(spec: &Spec) -> Result<Self> {
        let cpus = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.cpus().as_deref());
        Ok(ContainerScheduling {
            memory_policy: memory_policy(spec)?,
            cpus_limited: cpus.is_some_and(|c| !c.is_empty()),
        })
    }

    /// Sets the calling process's scheduler, I/O priority (from `process`) and memory policy.
    pub fn apply(&self, process: &Process) -> Result<()> {
        set_scheduler(process.scheduler().as_ref(), self.cpus_limited)?;
        set_io_priority(process.io_priority().as_ref())?;
        set_memory_policy(self.memory_policy.as_ref())
    }
}

/// A NUMA memory policy as set_mempolicy takes it: the mode with its flags, the node mask.
#[derive(Debug, PartialEq)]
pub struct MemoryPolicy {
    mode: i32,
    nodes: Vec<u64>,
}

/// The config's memory policy, read and checked as runc does (its messages), or none.
fn memory_policy(spec: &Spec) -> Result<Option<MemoryPolicy>> {
    let Some(policy) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    else {
        return Ok(None);
    };
    memory_policy_of(policy)
        .map(Some)
        .map_err(|e| anyhow!("linux.memoryPolicy: {e}"))
}

/// Node numbers as runc takes them (its CPU sets'): up to 64 Ki.
const MAX_NODE: u64 = 64 * 1024;

fn memory_policy_of(policy: &LinuxMemoryPolicy) -> Result<MemoryPolicy> {
    use MemoryPolicyModeType::*;
    let text = policy.nodes().as_deref().unwrap_or_default();
    let nodes =
        node_mask(text).map_err(|e| anyhow!("invalid memory policy nodes {text:?}: {e}"))?;
    let count: u32 = nodes.iter().map(|w| w.count_ones()).sum();
    let mode = match policy.mode() {
        MpolDefault => 0,
        MpolPreferred => 1,
        MpolBind => 2,
        MpolInterleave => 3,
        MpolLocal => 4,
        MpolPreferredMany => 5,
        MpolWeightedInterleave => 6,
    };
    match policy.mode() {
        MpolDefault | MpolLocal if count != 0 => {
            bail!("memory policy mode requires 0 nodes but got {count}")
        }
        MpolBind | MpolInterleave | MpolPreferredMany | MpolWeightedInterleave if count == 0 => {
            bail!("memory policy mode requires at least one node but got 0")
        }
        _ => {}
    }
    let flags = policy.flags().iter().flatten().fold(0, |all, flag| {
        all | match flag {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        }
    });
    Ok(MemoryPolicy {
        mode: mode | flags,
        nodes,
    })
}

/// A node list (`0-3,7`) as a bit mask of 64-bit words, empty for an empty list.
fn node_mask(text: &str) -> Result<Vec<u64>> {
    let mut mask = Vec::new();
    if text.is_empty() {
        return Ok(mask);
    }
    for part in text.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let number = |n: &str| -> Result<u64> {
            let n: u64 = n.parse().map_err(|_| anyhow!("{n:?} is not a number"))?;
            if n > MAX_NODE {
                bail!("values larger than {MAX_NODE} are not supported");
            }
            Ok(n)
        };
        let (first, last) = (number(first)?, number(last)?);
        if first > last {
            bail!("invalid range {part:?}");
        }
        for node in first..=last {
            let word = (node / 64) as usize;
            if mask.len() <= word {
                mask.resize(word + 1, 0);
            }
            mask[word] |= 1 << (node % 64);
        }
    }
    Ok(mask)
}

/// Sets the calling process's memory policy.
fn set_memory_policy(policy: Option<&MemoryPolicy>) -> Result<()> {
    let Some(p) = policy else {
        return Ok(());
    };
    crate::syscalls::set_mempolicy(p.mode, &p.nodes).map_err(|e| anyhow!("set_mempolicy: {e}"))
}

/// The memory policy modes rrun knows, as `features` lists them.
pub const MEMORY_POLICY_MODES: [&str; 7] = [
    "MPOL_BIND",
    "MPOL_DEFAULT",
    "MPOL_INTERLEAVE",
    "MPOL_LOCAL",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_WEIGHTED_INTERLEAVE",
];

/// The memory policy flags rrun knows, as `features` lists them.
pub const MEMORY_POLICY_FLAGS: [&str; 3] = [
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// The spec's names of memory policy modes and flags, which runc refuses others of with
/// these words (before the spec's types would, in theirs): `policy` is the memoryPolicy object.
pub fn check_memory_policy_names(policy: &serde_json::Value) -> Result<()> {
    let Some(policy) = policy.as_object() else {
        return Ok(());
    };
    let mode = policy.get("mode").map_or(Some(""), |m| m.as_str());
    if let Some(mode) = mode
        && !MEMORY_POLICY_MODES.contains(&mode)
    {
        bail!("linux.memoryPolicy: invalid memory policy mode {mode:?}");
    }
    for flag in policy
        .get("flags")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(flag) = flag.as_str()
            && !MEMORY_POLICY_FLAGS.contains(&flag)
        {
            bail!("linux.memoryPolicy: invalid memory policy flag {flag:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Result<MemoryPolicy> {
        check_memory_policy_names(&json)?;
        memory_policy_of(&serde_json::from_value(json)?)
    }

    #[test]
    fn memory_policies_are_read_and_refused_in_runc_s_words() {
        let p = policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0,2-3,64",
            "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap();
        assert_eq!(p.mode, 2 | 1 << 15);
        assert_eq!(p.nodes, vec![0b1101, 1]);
        let err = |json| format!("{:#}", policy(json).unwrap_err());
        assert_eq!(
            err(serde_json::json!({})),
            "linux.memoryPolicy: invalid memory policy mode \"\""
        );
        assert!(
            err(serde_json::json!({"mode": "INTERLEAVE"})).contains("invalid memory policy mode")
        );
        assert!(
            err(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["badflag"]}))
                .contains("invalid memory policy flag \"badflag\"")
        );
        assert_eq!(
            err(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"})),
            "memory policy mode requires 0 nodes but got 8"
        );
        assert!(
            err(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}))
                .starts_with("invalid memory policy nodes")
        );
        assert!(err(serde_json::json!({"mode": "MPOL_INTERLEAVE"})).contains("at least one node"));
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_DEFAULT"})).unwrap(),
            MemoryPolicy {
                mode: 0,
                nodes: vec![]
            }
        );
    }

    #[test]
    fn schedulers_are_checked_as_runc_checks_them() {
        let check = |json| {
            let s: Scheduler = serde_json::from_value(json).unwrap();
            check_scheduler(&s).map_err(|e| e.to_string())
        };
        assert!(check(serde_json::json!({"policy": "SCHED_BATCH", "nice": 19})).is_ok());
        assert_eq!(
            check(serde_json::json!({"policy": "SCHED_OTHER", "nice": 20})).unwrap_err(),
            "invalid scheduler.nice: 20 when scheduler.policy is SCHED_OTHER"
        );
        assert!(
            check(serde_json::json!({"policy": "SCHED_BATCH", "priority": 3}))
                .unwrap_err()
                .contains("SchedFIFO or SchedRR")
        );
        assert!(check(serde_json::json!({"policy": "SCHED_FIFO", "priority": 3})).is_ok());
        assert!(
            check(serde_json::json!({"policy": "SCHED_OTHER", "runtime": 5}))
                .unwrap_err()
                .contains("SchedDeadline")
        );
        assert!(
            check(
                serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 42000,
                "deadline": 100000, "period": 1000000})
            )
            .is_ok()
        );
    }
}
