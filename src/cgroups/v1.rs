//! cgroup v1: one directory per mounted hierarchy (and, on hybrid hosts, the cgroup2 one).

use super::{
    CgroupDriver, CreatedDirs, Hierarchy, Rootless, host_hierarchies, is_permission_error, perform,
    perform_skipping, read_keyed, read_procs, read_u64, remove_dir, resources, wait_for, write_pid,
};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub struct V1 {
    /// The container's directories, less those a rootless create could not join.
    dirs: std::sync::Mutex<Vec<PathBuf>>,
    created: CreatedDirs,
    rootless: Rootless,
    /// The hybrid cgroup2 directory the init was cloned into (make_clone_target).
    cloned_into: std::sync::Mutex<Option<PathBuf>>,
}

impl V1 {
    pub fn new(hierarchies: &[Hierarchy], path: &Path, rootless: Rootless) -> Self {
        V1 {
            dirs: std::sync::Mutex::new(hierarchies.iter().map(|h| h.dir_for(path)).collect()),
            created: CreatedDirs::default(),
            rootless,
            cloned_into: Default::default(),
        }
    }

    pub fn from_dirs(dirs: Vec<PathBuf>, rootless: Rootless) -> Self {
        V1 {
            dirs: std::sync::Mutex::new(dirs),
            created: CreatedDirs::default(),
            rootless,
            cloned_into: Default::default(),
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes one directory and moves `pid` into it; with `leave_v1`, a v1 one is left
    /// to the process: its `tasks` file is returned instead.
    fn enter_one(
        &self,
        hierarchies: &[Hierarchy],
        dir: &Path,
        pid: i32,
        leave_v1: bool,
    ) -> Result<Option<PathBuf>> {
        let cloned_into = self.cloned_into.lock().unwrap_or_else(|e| e.into_inner());
        if cloned_into.as_deref() == Some(dir) {
            return Ok(None);
        }
        drop(cloned_into);
        self.created.create(dir)?;
        let h = hierarchies.iter().find(|h| dir.starts_with(&h.mount_point));
        // The hybrid cgroup2 hierarchy holds controllers too (hugetlb here).
        let v2 = h.filter(|h| h.is_v2());
        if let Some(u) = v2 {
            super::v2::enable_controllers(&u.mount_point, dir);
        }
        if h.is_some_and(|h| h.controllers.iter().any(|c| c == "cpuset")) {
            inherit_cpuset(dir)?;
        }
        if leave_v1 && v2.is_none() {
            return Ok(Some(dir.join("tasks")));
        }
        write_pid(dir, pid).map(|()| None)
    }

    /// `enter`, leaving the v1 directories to the process with `leave_v1`.
    fn enter_dirs(&self, pid: i32, leave_v1: bool) -> Result<Vec<PathBuf>> {
        let hierarchies = host_hierarchies()?;
        let mut left = Vec::new();
        for dir in self.dirs() {
            match self.enter_one(hierarchies, &dir, pid, leave_v1) {
                Ok(tasks) => left.extend(tasks),
                Err(e) if self.rootless.skip_unwritable && is_permission_error(&e) => {
                    crate::logging::debug(&format!(
                        "rootless: leaving out cgroup {} ({e:#})",
                        dir.display()
                    ));
                    // Made but not joinable: it goes, since nothing will remove it later.
                    if self.created.list().contains(&dir) {
                        let _ = super::fs::remove_dir(&dir);
                    }
                    self.dirs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|d| d != &dir);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(left)
    }

    /// Whether the container is in no cgroup of `controller` because a rootless create
    /// could not join one.
    fn not_joined(&self, hierarchies: &[Hierarchy], controller: &str) -> bool {
        self.rootless.skip_unwritable && self.dir_for(hierarchies, controller).is_none()
    }

    /// The container's directory in the hierarchy of `controller` ("unified" for the
    /// cgroup2 hierarchy of a hybrid host).
    fn dir_for(&self, hierarchies: &[Hierarchy], controller: &str) -> Option<PathBuf> {
        let h = hierarchies.iter().find(|h| {
            if controller == "unified" {
                h.is_v2()
            } else {
                h.controllers.iter().any(|c| c == controller)
            }
        })?;
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|d| d.starts_with(&h.mount_point))
            .cloned()
    }

    /// The directory used to list processes: any v1 hierarchy holds all of them; prefer
    /// pids or freezer, which every container runtime joins.
    fn procs_dir(&self) -> Option<PathBuf> {
        let dirs = self.dirs();
        dirs.iter()
            .find(|d| {
                d.starts_with("/sys/fs/cgroup/pids") || d.starts_with("/sys/fs/cgroup/freezer")
            })
            .or(dirs.first())
            .cloned()
    }
}

impl CgroupDriver for V1 {
    fn paths(&self) -> Vec<PathBuf> {
        self.dirs()
    }

    fn enter(&self, pid: i32) -> Result<()> {
        self.enter_dirs(pid, false).map(drop)
    }

    fn enter_leaving_v1_to_process(&self, pid: i32) -> Result<Vec<PathBuf>> {
        self.enter_dirs(pid, true)
    }

    /// The hybrid cgroup2 directory, where the host has one.
    fn clone_target(&self) -> Option<PathBuf> {
        let hierarchies = host_hierarchies().ok()?;
        let v2 = hierarchies.iter().find(|h| h.is_v2())?;
        self.dirs()
            .into_iter()
            .find(|d| d.starts_with(&v2.mount_point))
    }

    fn make_clone_target(&self) -> Result<std::os::fd::OwnedFd> {
        let hierarchies = host_hierarchies()?;
        let Some(dir) = self.clone_target() else {
            anyhow::bail!("no cgroup2 hierarchy to clone into");
        };
        self.created.create(&dir)?;
        if let Some(v2) = hierarchies.iter().find(|h| h.is_v2()) {
            super::v2::enable_controllers(&v2.mount_point, &dir);
        }
        let fd = super::open_clone_target(&dir)?;
        *self.cloned_into.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir);
        Ok(fd)
    }

    fn created_dirs(&self) -> Vec<PathBuf> {
        self.created.list()
    }

    fn procs(&self) -> Result<Vec<i32>> {
        match self.procs_dir() {
            Some(d) => read_procs(&d),
            None => Ok(Vec::new()),
        }
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for dir in &self.dirs() {
            if let Err(e) = remove_dir(dir) {
                first_err.get_or_insert(e);
            }
        }
        self.created.remove_empty();
        first_err.map_or(Ok(()), Err)
    }

    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        self.apply_resources_only(r)?;
        let hierarchies = host_hierarchies()?;
        if self.dir_for(hierarchies, "devices").is_some() {
            let writes = resources::v1_device_writes(r.devices().as_deref().unwrap_or(&[]));
            match perform(&writes, |c| self.dir_for(hierarchies, c)) {
                Err(e) if self.rootless.ignore_device_errors => {
                    crate::logging::debug(&format!("rootless: device rules left out ({e:#})"))
                }
                other => other?,
            }
        }
        Ok(())
    }

    fn apply_resources_only(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let hierarchies = host_hierarchies()?;
        let mut writes = resources::v1_writes(r)?;
        // Hybrid hosts have hugetlb only in their cgroup2 hierarchy: use its v2 files.
        if self.dir_for(hierarchies, "hugetlb").is_none() {
            for w in writes.iter_mut().filter(|w| w.controller == "hugetlb") {
                w.controller = "unified";
                for (file, _) in w.candidates.iter_mut() {
                    *file = file.replace(".limit_in_bytes", ".max");
                }
            }
        }
        order_memory_writes(&mut writes, self.dir_for(hierarchies, "memory").as_deref());
        perform_skipping(
            &writes,
            |c| self.dir_for(hierarchies, c),
            |c| self.not_joined(hierarchies, c),
        )
    }

    fn memory_usage(&self) -> Option<u64> {
        let hierarchies = host_hierarchies().ok()?;
        self.dir_for(hierarchies, "memory")
            .map(|d| read_u64(&d.join("memory.usage_in_bytes")))
    }

    fn oom_count(&self) -> u64 {
        let Ok(hierarchies) = host_hierarchies() else {
            return 0;
        };
        self.dir_for(hierarchies, "memory")
            .map(|d| {
                read_keyed(&d.join("memory.oom_control"))
                    .get("oom_kill")
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let hierarchies = host_hierarchies()?;
        let Some(dir) = self.dir_for(hierarchies, "freezer") else {
            if self.rootless.skip_unwritable {
                anyhow::bail!(
                    "cannot toggle freezer: cgroups not configured for container (rootless, and the freezer cgroup is not delegated to this user)"
                );
            }
            anyhow::bail!("the freezer cgroup controller is not mounted");
        };
        let state = if frozen { "FROZEN" } else { "THAWED" };
        let file = dir.join("freezer.state");
        super::fs::write(&file, state)
            .with_context(|| format!("writing {state} to {}", file.display()))?;
        wait_for(&format!("{} to read {state}", file.display()), || {
            super::fs::read_to_string(&file).is_ok_and(|s| s.trim() == state)
        })
    }

    fn stats(&self) -> Result<Value> {
        let hierarchies = host_hierarchies()?;
        let dir = |c: &str| self.dir_for(hierarchies, c);
        let mut data = json!({});
        if let Some(d) = dir("cpuacct") {
            let percpu: Vec<u64> = super::fs::read_to_string(&d.join("cpuacct.usage_percpu"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let stat = read_keyed(&d.join("cpuacct.stat"));
            // cpuacct.stat counts clock ticks (USER_HZ, 100 on Linux); runc reports ns.
            let ticks_to_ns = 10_000_000;
            data["cpu"]["usage"] = json!({
                "total": read_u64(&d.join("cpuacct.usage")),
                "percpu": percpu,
                "kernel": stat.get("system").copied().unwrap_or(0) * ticks_to_ns,
                "user": stat.get("user").copied().unwrap_or(0) * ticks_to_ns,
            });
        }
        if let Some(d) = dir("cpu") {
            let s = read_keyed(&d.join("cpu.stat"));
            data["cpu"]["throttling"] = json!({"periods": s.get("nr_periods"), "throttledPeriods": s.get("nr_throttled"), "throttledTime": s.get("throttled_time")});
        }
        if let Some(d) = dir("memory") {
            let entry = |prefix: &str| {
                json!({
                    "limit": read_u64(&d.join(format!("{prefix}.limit_in_bytes"))),
                    "usage": read_u64(&d.join(format!("{prefix}.usage_in_bytes"))),
                    "max": read_u64(&d.join(format!("{prefix}.max_usage_in_bytes"))),
                    "failcnt": read_u64(&d.join(format!("{prefix}.failcnt"))),
                })
            };
            let raw = read_keyed(&d.join("memory.stat"));
            data["memory"] = json!({
                "cache": raw.get("cache").copied().unwrap_or(0),
                "usage": entry("memory"),
                "swap": entry("memory.memsw"),
                "kernel": entry("memory.kmem"),
                "kernelTCP": entry("memory.kmem.tcp"),
                "raw": raw,
            });
        }
        if let Some(d) = dir("pids") {
            data["pids"] = json!({"current": read_u64(&d.join("pids.current")), "limit": read_u64(&d.join("pids.max"))});
        }
        if let Some(d) = dir("blkio") {
            data["blkio"] = json!({
                "ioServiceBytesRecursive": blkio_entries(&d.join("blkio.throttle.io_service_bytes_recursive")),
                "ioServicedRecursive": blkio_entries(&d.join("blkio.throttle.io_serviced_recursive")),
            });
        }
        if let Some(d) = dir("unified") {
            data["hugetlb"] = super::v2::hugetlb_stats(&d);
        }
        Ok(data)
    }
}

/// blkio's `MAJ:MIN Op value` lines as runc's entries.
fn blkio_entries(path: &Path) -> Vec<Value> {
    super::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (ma, mi) = f.first()?.split_once(':')?;
            Some(json!({"major": ma.parse::<u64>().ok()?, "minor": mi.parse::<u64>().ok()?, "op": f.get(1)?, "value": f.get(2)?.parse::<u64>().ok()?}))
        })
        .collect()
}

/// memory.limit_in_bytes may not exceed memory.memsw.limit_in_bytes: when the new swap
/// limit raises memsw, it must be written first.
fn order_memory_writes(writes: &mut [resources::Write], memory_dir: Option<&Path>) {
    let find = |ws: &[resources::Write], f: &str| ws.iter().position(|w| w.candidates[0].0 == f);
    let (Some(limit), Some(swap)) = (
        find(writes, "memory.limit_in_bytes"),
        find(writes, "memory.memsw.limit_in_bytes"),
    ) else {
        return;
    };
    let current = memory_dir
        .map(|d| read_u64(&d.join("memory.memsw.limit_in_bytes")))
        .unwrap_or(u64::MAX);
    let new_swap: i64 = writes[swap].candidates[0].1.parse().unwrap_or(-1);
    if (new_swap < 0 || new_swap as u64 > current) && swap > limit {
        writes.swap(limit, swap);
    }
}

/// A new v1 cpuset cgroup starts with no cpus and no mems, and a process can't join it
/// until they are set: copy them down from the nearest ancestor that has them.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut empty = Vec::new();
        let mut value = String::new();
        let mut current = Some(dir);
        while let Some(d) = current {
            match super::fs::read_to_string(&d.join(file)) {
                Ok(v) if !v.trim().is_empty() => {
                    value = v.trim().to_string();
                    break;
                }
                Ok(_) => empty.push(d),
                // Above the hierarchy's root: nothing to inherit.
                Err(_) => break,
            }
            current = d.parent();
        }
        if value.is_empty() {
            continue;
        }
        for d in empty.iter().rev() {
            super::fs::write(&d.join(file), &value)
                .with_context(|| format!("writing {}", d.join(file).display()))?;
        }
    }
    Ok(())
}
