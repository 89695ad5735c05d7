//! The container's record as a create writes it: `creating` before and after the clone,
//! `created` once the init is under way; and the pid file.

use super::CreateOptions;
use super::plan::Plan;
use crate::cgroups::{self, CgroupDriver};
use crate::config;
use crate::init::handshake::{self, Message};
use crate::state::{self, ContainerRecord};
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};

/// The `creating` record, without the init (pid 0: no process to signal): written before
/// the clone where the cgroup is made first, and given the init by [`with_init`].
pub(super) fn early_record(
    opts: &CreateOptions,
    plan: &Plan,
    bundle: &config::Bundle,
) -> ContainerRecord {
    ContainerRecord {
        creating: true,
        rootless_cgroups: opts.rootless_cgroups,
        shared_pid_ns: !plan
            .namespaces
            .clone_flags
            .contains(nix::sched::CloneFlags::CLONE_NEWPID),
        rootfs_bind_on: plan.rootfs_bind_on,
        ..new_record(&opts.id, bundle, plan.cgroup.as_ref())
    }
}

/// `record` with the cloned init: its pid and start time.
pub(super) fn with_init(record: ContainerRecord, pid: i32) -> Result<ContainerRecord> {
    let (pid_start_time, _) =
        crate::container::proc_stat(pid).ok_or_else(|| anyhow!("container init {pid} vanished"))?;
    Ok(ContainerRecord {
        pid,
        pid_start_time,
        ..record
    })
}

/// What a new container's record (create's, restore's) takes from its id, bundle and
/// cgroups; the process's fields are the caller's.
pub(in crate::container) fn new_record(
    id: &str,
    bundle: &config::Bundle,
    cgroup: &dyn CgroupDriver,
) -> ContainerRecord {
    let spec = &bundle.spec;
    let cgroup_paths = cgroup.paths();
    let systemd_unit = cgroup.systemd_unit();
    ContainerRecord {
        id: id.to_string(),
        bundle: bundle.dir.display().to_string(),
        rootfs: bundle.rootfs.display().to_string(),
        created: crate::logging::rfc3339_now(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        // With systemd the parents are slices that systemd makes and owns.
        cgroup_parents_created: if systemd_unit.is_some() {
            Vec::new()
        } else {
            missing_parents(&cgroup_paths)
        },
        cgroup_paths,
        systemd_unit,
        oci_version: spec.version().clone(),
        hooks: spec.hooks().clone(),
        ..ContainerRecord::default()
    }
}

/// Records the container as created (with the cgroups it could join, rootless, and the
/// parents made for them), writes the pid file and tells the init; with `start`, the init
/// execs once built instead of waiting for `start`.
pub(super) fn record_created(
    opts: &CreateOptions,
    dir: &Path,
    record: &mut ContainerRecord,
    cgroup: Option<&dyn CgroupDriver>,
    pid: i32,
    parent_end: &handshake::Channel,
    start: bool,
) -> Result<()> {
    if let Some(cg) = cgroup {
        record.cgroup_paths = cg.paths();
    }
    record.cgroup_parents_created = made_parents(cgroup, &record.cgroup_paths);
    record.creating = false;
    state::update_record(dir, record)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    // The init may have failed meanwhile (it reads this only after "ready").
    parent_end.send_unless_failed(&Message::Created {
        start,
        ignored_signals: crate::signals::ignored_by_this_process(),
    })
}

/// Parents of the container's cgroup directories that don't exist yet, outermost first:
/// what `enter` is about to make, recorded before it does.
pub(in crate::container) fn missing_parents(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        let mut missing: Vec<PathBuf> = p
            .ancestors()
            .skip(1)
            .take_while(|d| !cgroups::exists_while_we_run(d) && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        out.extend(missing);
    }
    out
}

/// The parents `enter` really made (the container's own directories excluded).
fn made_parents(cgroup: Option<&dyn cgroups::CgroupDriver>, own: &[PathBuf]) -> Vec<PathBuf> {
    cgroup
        .map(|cg| cg.created_dirs())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| !own.contains(d))
        .collect()
}

/// Writes the pid file atomically (runc writes the bare number, no newline).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path)?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string())
        .with_context(|| format!("writing pid file {}", path.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing pid file {}", path.display()))
}
