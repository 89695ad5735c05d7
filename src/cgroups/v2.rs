//! cgroup v2: one directory in the unified hierarchy; controllers are enabled in
//! `cgroup.subtree_control` of every ancestor so limits can be set on the container.

use super::{CgroupDriver, Hierarchy, read_procs, remove_dir, write_pid};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub struct V2 {
    root: PathBuf,
    dir: PathBuf,
}

impl V2 {
    pub fn new(hierarchies: &[Hierarchy], path: &Path) -> Result<Self> {
        let Some(h) = hierarchies.iter().find(|h| h.is_v2()) else {
            bail!("no cgroup2 hierarchy mounted")
        };
        Ok(V2 {
            root: h.mount_point.clone(),
            dir: h.dir_for(path),
        })
    }

    pub fn from_dir(dir: PathBuf) -> Self {
        V2 {
            root: PathBuf::from("/sys/fs/cgroup"),
            dir,
        }
    }

    /// Enables every available controller from the root down to the container's parent.
    /// Best effort: a parent with processes of its own can't delegate, and the container
    /// still runs, only without limits on those controllers.
    fn enable_controllers(&self) {
        let Ok(rel) = self.dir.strip_prefix(&self.root) else {
            return;
        };
        let mut current = self.root.clone();
        for component in rel.parent().into_iter().flat_map(|p| p.components()) {
            delegate(&current);
            current.push(component);
        }
        delegate(&current);
    }
}

fn delegate(dir: &Path) {
    let Ok(available) = std::fs::read_to_string(dir.join("cgroup.controllers")) else {
        return;
    };
    let request: Vec<String> = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    if !request.is_empty() {
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), request.join(" "));
    }
}

impl CgroupDriver for V2 {
    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn enter(&self, pid: i32) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating cgroup {}", self.dir.display()))?;
        self.enable_controllers();
        write_pid(&self.dir, pid)
    }

    fn procs(&self) -> Result<Vec<i32>> {
        read_procs(&self.dir)
    }

    fn destroy(&self) -> Result<()> {
        remove_dir(&self.dir)
    }
}
