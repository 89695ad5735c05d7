//! Discovery of the host's cgroup hierarchies from /proc/self/mountinfo and of the calling
//! process's own cgroup in each (relative cgroup paths are resolved against it, as runc does).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted on the host, e.g. /sys/fs/cgroup/memory.
    pub mount_point: PathBuf,
    /// v1 controllers (`memory`, `cpu`, `name=systemd`, ...); empty for cgroup2.
    pub controllers: Vec<String>,
    /// The calling process's cgroup in this hierarchy, e.g. `/user.slice`.
    pub own_cgroup: PathBuf,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// The host directory for a container cgroup path: absolute paths are taken from the
    /// hierarchy root, relative ones from the caller's own cgroup.
    pub fn dir_for(&self, path: &Path) -> PathBuf {
        let inner = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.own_cgroup.join(path)
        };
        self.mount_point
            .join(crate::rootfs::secure::clean_relative(&inner))
    }
}

/// The host's hierarchies, read once per rrun process: every command asks several times,
/// and the container's init inherits the answer read before it was cloned (it only needs
/// the mount points and controllers, which its cgroup namespace does not change).
pub fn host_hierarchies() -> Result<&'static [Hierarchy]> {
    static HIERARCHIES: std::sync::OnceLock<Vec<Hierarchy>> = std::sync::OnceLock::new();
    if let Some(h) = HIERARCHIES.get() {
        return Ok(h);
    }
    let mountinfo =
        crate::procfs::read("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let own = crate::procfs::read("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    Ok(HIERARCHIES.get_or_init(|| parse(&mountinfo, &own)))
}

/// Parses mountinfo and /proc/self/cgroup text (split out for unit tests).
pub fn parse(mountinfo: &str, own_cgroups: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let rfields: Vec<&str> = right.split(' ').collect();
        if fields.len() < 5 || rfields.len() < 3 {
            continue;
        }
        let fstype = rfields[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mount_point = PathBuf::from(unescape(fields[4]));
        let controllers: Vec<String> = if fstype == "cgroup2" {
            Vec::new()
        } else {
            rfields[2]
                .split(',')
                .filter(|o| is_controller_option(o))
                .map(str::to_string)
                .collect()
        };
        if fstype == "cgroup" && controllers.is_empty() {
            continue;
        }
        // The same hierarchy may be mounted twice; the first mount wins.
        if out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        let own_cgroup = own_cgroup_for(own_cgroups, &controllers);
        out.push(Hierarchy {
            mount_point,
            controllers,
            own_cgroup,
        });
    }
    out
}

fn is_controller_option(o: &str) -> bool {
    !matches!(
        o,
        "rw" | "ro"
            | "nosuid"
            | "nodev"
            | "noexec"
            | "relatime"
            | "noatime"
            | "clone_children"
            | "xattr"
            | "noprefix"
            | "nsdelegate"
            | "memory_recursiveprot"
            | "memory_localevents"
            | "memory_hugetlb_accounting"
            | "favordynmods"
            | "cpuset_v2_mode"
    ) && !o.starts_with("release_agent=")
}

fn own_cgroup_for(own_cgroups: &str, controllers: &[String]) -> PathBuf {
    for line in own_cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("/"),
        );
        let mut listed: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        let mut wanted: Vec<&str> = controllers.iter().map(String::as_str).collect();
        listed.sort();
        wanted.sort();
        if listed == wanted {
            return PathBuf::from(path);
        }
    }
    PathBuf::from("/")
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "9:name=systemd:/
4:memory:/process_api/abc
1:cpu:/
0::/
";

    #[test]
    fn finds_hybrid_hierarchies_and_own_cgroups() {
        let h = parse(MOUNTINFO, OWN);
        assert_eq!(h.len(), 4);
        assert_eq!(h[1].controllers, vec!["memory"]);
        assert_eq!(h[1].own_cgroup, PathBuf::from("/process_api/abc"));
        assert_eq!(h[2].controllers, vec!["name=systemd"]);
        assert!(h[3].is_v2());
        assert_eq!(
            h[1].dir_for(Path::new("c1")),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/c1")
        );
        assert_eq!(
            h[1].dir_for(Path::new("/a/../b")),
            PathBuf::from("/sys/fs/cgroup/memory/b")
        );
    }
}
