//! CRIU's cgroup yard, made of the host's own mounts.
//!
//! To read a container's cgroups at a dump and to make them at a restore, CRIU mounts every
//! hierarchy afresh, in its own cgroup namespace: the host's, as rrun's. A cgroup2 mount
//! made in the host's cgroup namespace sets the hierarchy's flags for the whole host, and
//! CRIU gives it none: every checkpoint and every restore cleared systemd's `nsdelegate`
//! and `memory_recursiveprot` on a cgroup v2 host (runc's too; the same hazard as runc's
//! issue 5258). CRIU takes a "yard" instead (`cgroup_yard`): a directory with one entry per
//! hierarchy, named as CRIU names them, which it opens and never mounts on. rrun's yard is
//! a directory of symlinks to where the host mounts each hierarchy from its root.
//!
//! The links are relative: CRIU's restored tasks join their cgroups through the yard's fd,
//! possibly from inside the container's root, where an absolute link would resolve in the
//! container's tree. A relative one climbs from the yard itself, which is outside it.

use anyhow::{Context, Result};
use std::path::{Component, Path, PathBuf};

/// A yard CRIU is given; removed when dropped.
pub struct CgroupYard {
    dir: PathBuf,
}

impl CgroupYard {
    /// Makes the yard at `dir` (a new directory in the container's state directory). None
    /// where some hierarchy has no mount showing it from its root here: CRIU then mounts
    /// its own, as before (a cgroup2 mounted nowhere has no flags to lose).
    pub fn make(dir: &Path) -> Result<Option<Self>> {
        let own = crate::procfs::read("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
        let mountinfo =
            crate::procfs::read("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let Some(hierarchies) = crate::cgroups::mounted_from_their_roots(&own, &mountinfo) else {
            return Ok(None);
        };
        // One a killed rrun left behind.
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        let yard = CgroupYard {
            dir: dir.to_path_buf(),
        };
        let real =
            std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
        for (listed, mount_point) in hierarchies {
            let entry = dir.join(entry_name(&listed));
            let target = relative_link(&real, &mount_point);
            std::os::unix::fs::symlink(&target, &entry)
                .with_context(|| format!("linking {} to {}", entry.display(), target.display()))?;
        }
        Ok(Some(yard))
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for CgroupYard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The name CRIU gives a hierarchy's place in its yard: the controllers as
/// /proc/PID/cgroup lists them, each without `name=`, and `unified` for cgroup2
/// (criu/cgroup.c, `ctrl_dir_and_opt` at a restore, `collect_cgroups` at a dump).
fn entry_name(listed: &str) -> String {
    if listed.is_empty() {
        return "unified".into();
    }
    listed
        .split(',')
        .map(|c| c.strip_prefix("name=").unwrap_or(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// `target` (absolute) as a link from the directory `from` (absolute, no symlinks): up to
/// `/`, then down. A `..` too many at `/` stays there.
fn relative_link(from: &Path, target: &Path) -> PathBuf {
    let mut link = PathBuf::new();
    for c in from.components() {
        if matches!(c, Component::Normal(_)) {
            link.push("..");
        }
    }
    link.push(target.strip_prefix("/").unwrap_or(target));
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_as_criu_names_them() {
        assert_eq!(entry_name("cpu,cpuacct"), "cpu,cpuacct");
        assert_eq!(entry_name("name=systemd"), "systemd");
        assert_eq!(entry_name(""), "unified");
        assert_eq!(entry_name("misc"), "misc");
    }

    #[test]
    fn links_climb_from_the_yard_to_the_root_and_down_to_the_mount() {
        assert_eq!(
            relative_link(
                Path::new("/run/rrun/abc/criu-cgroup-yard"),
                Path::new("/sys/fs/cgroup/cpu,cpuacct")
            ),
            Path::new("../../../../sys/fs/cgroup/cpu,cpuacct")
        );
    }

    /// Made on this host, each link leads to the mount it names, from the yard.
    #[test]
    fn a_yard_on_this_host_leads_to_each_hierarchy_and_goes_when_dropped() {
        let base = std::env::temp_dir().join(format!("rrun-yard-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let dir = base.join("yard");
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let expected = crate::cgroups::mounted_from_their_roots(&own, &mountinfo);
        let yard = CgroupYard::make(&dir).unwrap();
        assert_eq!(yard.is_some(), expected.is_some());
        if let (Some(yard), Some(expected)) = (yard, expected) {
            for (listed, mount_point) in expected {
                let entry = yard.path().join(entry_name(&listed));
                assert_eq!(
                    std::fs::canonicalize(&entry).unwrap(),
                    std::fs::canonicalize(&mount_point).unwrap(),
                    "{}",
                    entry.display()
                );
                assert!(std::fs::read_link(&entry).unwrap().is_relative());
            }
            drop(yard);
            assert!(!dir.exists());
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
