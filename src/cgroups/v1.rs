//! cgroup v1: one directory per mounted hierarchy (and, on hybrid hosts, the cgroup2 one).

use super::{CgroupDriver, Hierarchy, read_procs, remove_dir, write_pid};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct V1 {
    dirs: Vec<PathBuf>,
}

impl V1 {
    pub fn new(hierarchies: &[Hierarchy], path: &Path) -> Self {
        V1 {
            dirs: hierarchies.iter().map(|h| h.dir_for(path)).collect(),
        }
    }

    pub fn from_dirs(dirs: Vec<PathBuf>) -> Self {
        V1 { dirs }
    }

    /// The directory used to list processes: any v1 hierarchy holds all of them; prefer
    /// pids or freezer, which every container runtime joins.
    fn procs_dir(&self) -> Option<&PathBuf> {
        self.dirs
            .iter()
            .find(|d| {
                d.starts_with("/sys/fs/cgroup/pids") || d.starts_with("/sys/fs/cgroup/freezer")
            })
            .or(self.dirs.first())
    }
}

impl CgroupDriver for V1 {
    fn paths(&self) -> Vec<PathBuf> {
        self.dirs.clone()
    }

    fn enter(&self, pid: i32) -> Result<()> {
        for dir in &self.dirs {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating cgroup {}", dir.display()))?;
            if dir.join("cpuset.cpus").exists() {
                inherit_cpuset(dir)?;
            }
            write_pid(dir, pid)?;
        }
        Ok(())
    }

    fn procs(&self) -> Result<Vec<i32>> {
        match self.procs_dir() {
            Some(d) => read_procs(d),
            None => Ok(Vec::new()),
        }
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for dir in &self.dirs {
            if let Err(e) = remove_dir(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// A new v1 cpuset cgroup starts with no cpus and no mems, and a process can't join it
/// until they are set: copy them down from the nearest ancestor that has them.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut chain = vec![dir.to_path_buf()];
        while let Some(parent) = chain.last().and_then(|d| d.parent()).map(Path::to_path_buf) {
            if !parent.join(file).exists() {
                break;
            }
            let value = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
            chain.push(parent);
            if !value.trim().is_empty() {
                break;
            }
        }
        let mut value =
            std::fs::read_to_string(chain.last().map(|d| d.join(file)).unwrap_or_default())
                .unwrap_or_default();
        for d in chain.iter().rev().skip(1) {
            let current = std::fs::read_to_string(d.join(file)).unwrap_or_default();
            if current.trim().is_empty() {
                std::fs::write(d.join(file), value.trim())
                    .with_context(|| format!("writing {}", d.join(file).display()))?;
            } else {
                value = current;
            }
        }
    }
    Ok(())
}
