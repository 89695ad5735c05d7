//! cgroup v2: one directory in the unified hierarchy; controllers are enabled in
//! `cgroup.subtree_control` of every ancestor so limits can be set on the container.

use super::{
    CgroupDriver, CreatedDirs, Hierarchy, Rootless, is_permission_error, perform, read_keyed,
    read_procs, read_u64, remove_dir, resources, wait_for, write_pid,
};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub struct V2 {
    root: PathBuf,
    dir: PathBuf,
    created: CreatedDirs,
    rootless: Rootless,
    /// A rootless create could not make or join the directory: the container runs without
    /// a cgroup of its own.
    left_out: std::sync::atomic::AtomicBool,
    /// The init was cloned into the directory (make_clone_target): nothing to write.
    cloned_into: std::sync::atomic::AtomicBool,
}

impl V2 {
    pub fn new(hierarchies: &[Hierarchy], path: &Path, rootless: Rootless) -> Result<Self> {
        let Some(h) = hierarchies.iter().find(|h| h.is_v2()) else {
            bail!("no cgroup2 hierarchy mounted")
        };
        Ok(V2 {
            root: h.mount_point.clone(),
            dir: h.dir_for(path),
            created: CreatedDirs::default(),
            rootless,
            left_out: Default::default(),
            cloned_into: Default::default(),
        })
    }

    pub fn from_dir(dir: PathBuf, rootless: Rootless) -> Self {
        V2 {
            root: PathBuf::from("/sys/fs/cgroup"),
            dir,
            created: CreatedDirs::default(),
            rootless,
            left_out: Default::default(),
            cloned_into: Default::default(),
        }
    }

    fn is_left_out(&self) -> bool {
        self.left_out.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn enter_dir(&self, pid: i32) -> Result<()> {
        if self.cloned_into.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        self.make_dir()?;
        write_pid(&self.dir, pid)
    }

    fn make_dir(&self) -> Result<()> {
        self.created.create(&self.dir)?;
        enable_controllers(&self.root, &self.dir);
        Ok(())
    }
}

/// Enables every available controller from `root` down to the parent of `dir`. Best
/// effort: a parent with processes of its own can't delegate, and the container still
/// runs, only without those controllers (applying one of their limits then fails with an
/// error naming the file).
pub fn enable_controllers(root: &Path, dir: &Path) {
    let Ok(rel) = dir.strip_prefix(root) else {
        return;
    };
    let mut current = root.to_path_buf();
    for component in rel.parent().into_iter().flat_map(|p| p.components()) {
        delegate(&current);
        current.push(component);
    }
    delegate(&current);
}

fn delegate(dir: &Path) {
    let Ok(available) = super::fs::read_to_string(&dir.join("cgroup.controllers")) else {
        return;
    };
    let request: Vec<String> = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    if !request.is_empty() {
        let _ = super::fs::write(&dir.join("cgroup.subtree_control"), request.join(" "));
    }
}

impl CgroupDriver for V2 {
    fn paths(&self) -> Vec<PathBuf> {
        if self.is_left_out() {
            return Vec::new();
        }
        vec![self.dir.clone()]
    }

    fn enter(&self, pid: i32) -> Result<()> {
        match self.enter_dir(pid) {
            Err(e) if self.rootless.skip_unwritable && is_permission_error(&e) => {
                crate::logging::debug(&format!("rootless: running without a cgroup ({e:#})"));
                if self.created.list().contains(&self.dir) {
                    let _ = super::fs::remove_dir(&self.dir);
                }
                self.left_out
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }

    fn created_dirs(&self) -> Vec<PathBuf> {
        self.created.list()
    }

    fn clone_target(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn make_clone_target(&self) -> Result<std::os::fd::OwnedFd> {
        self.make_dir()?;
        let fd = super::open_clone_target(&self.dir)?;
        self.cloned_into
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(fd)
    }

    fn procs(&self) -> Result<Vec<i32>> {
        read_procs(&self.dir)
    }

    fn destroy(&self) -> Result<()> {
        let result = remove_dir(&self.dir);
        self.created.remove_empty();
        result
    }

    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        self.apply_resources_only(r)?;
        if self.is_left_out() {
            return Ok(());
        }
        let lines = resources::v1_device_writes(r.devices().as_deref().unwrap_or(&[]));
        let rules = super::devices_bpf::rules_from_v1_writes(&lines);
        match super::devices_bpf::attach(&self.dir, &rules) {
            // Loading a BPF program takes privilege; the user namespace keeps device nodes
            // out of a rootless container anyway (runc ignores this error too).
            Err(e) if self.rootless.ignore_device_errors => {
                crate::logging::debug(&format!("rootless: device rules left out ({e:#})"));
                Ok(())
            }
            other => other,
        }
    }

    fn apply_resources_only(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let writes = resources::v2_writes(r)?;
        if self.is_left_out() || (self.rootless.skip_unwritable && !self.dir.exists()) {
            return match writes.first() {
                Some(w) => Err(super::not_joined(w.controller)),
                None => Ok(()),
            };
        }
        perform(&writes, |_| Some(self.dir.clone()))
    }

    fn memory_usage(&self) -> Option<u64> {
        let f = self.dir.join("memory.current");
        f.exists().then(|| read_u64(&f))
    }

    fn oom_count(&self) -> u64 {
        read_keyed(&self.dir.join("memory.events"))
            .get("oom_kill")
            .copied()
            .unwrap_or(0)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let file = self.dir.join("cgroup.freeze");
        super::fs::write(&file, if frozen { "1" } else { "0" })
            .with_context(|| format!("writing {}", file.display()))?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        let events = self.dir.join("cgroup.events");
        let gone = std::cell::Cell::new(None);
        wait_for(&format!("{} to say {want}", events.display()), || {
            match super::fs::read_to_string(&events) {
                Ok(s) => s.lines().any(|l| l == want),
                // Removed meanwhile (systemd removes a scope whose processes have all
                // died): nothing is left to wait for.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    gone.set(Some(e));
                    true
                }
                Err(_) => false,
            }
        })?;
        match gone.take() {
            Some(e) => Err(e).with_context(|| format!("reading {}", events.display())),
            None => Ok(()),
        }
    }

    fn stats(&self) -> Result<Value> {
        let d = &self.dir;
        let cpu = read_keyed(&d.join("cpu.stat"));
        let mem = read_keyed(&d.join("memory.stat"));
        let events = read_keyed(&d.join("memory.events"));
        let max_or_zero = |f: &str| read_u64(&d.join(f));
        Ok(json!({
            "cpu": {
                "usage": {
                    "total": cpu.get("usage_usec").copied().unwrap_or(0) * 1000,
                    "kernel": cpu.get("system_usec").copied().unwrap_or(0) * 1000,
                    "user": cpu.get("user_usec").copied().unwrap_or(0) * 1000,
                },
                "throttling": {"periods": cpu.get("nr_periods"), "throttledPeriods": cpu.get("nr_throttled"), "throttledTime": cpu.get("throttled_usec").map(|v| v * 1000)},
            },
            "memory": {
                "cache": mem.get("file").copied().unwrap_or(0),
                "usage": {"limit": max_or_zero("memory.max"), "usage": read_u64(&d.join("memory.current")), "max": read_u64(&d.join("memory.peak")), "failcnt": events.get("max").copied().unwrap_or(0)},
                "swap": {"limit": max_or_zero("memory.swap.max"), "usage": read_u64(&d.join("memory.swap.current")), "failcnt": 0},
                "raw": mem,
            },
            "pids": {"current": read_u64(&d.join("pids.current")), "limit": max_or_zero("pids.max")},
            "hugetlb": hugetlb_stats(d),
        }))
    }
}

/// hugetlb.<size>.current/max/events of a cgroup2 directory, keyed by page size.
pub fn hugetlb_stats(dir: &Path) -> Value {
    let mut out = serde_json::Map::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(".current"))
        else {
            continue;
        };
        let events = read_keyed(&dir.join(format!("hugetlb.{size}.events")));
        out.insert(
            size.to_string(),
            json!({"usage": read_u64(&e.path()), "max": read_u64(&dir.join(format!("hugetlb.{size}.max"))), "failcnt": events.get("max").copied().unwrap_or(0)}),
        );
    }
    Value::Object(out)
}
