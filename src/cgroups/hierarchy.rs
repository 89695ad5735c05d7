//! Discovery of the host's cgroup hierarchies and of the calling process's own cgroup in
//! each (relative cgroup paths are resolved against it, as runc does): at the places
//! systemd mounts them where they are there, from /proc/self/mountinfo otherwise.

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
    /// Where relative container paths start: the own cgroup, or on a cgroup v2 host its
    /// parent, as runc's v2 driver takes it (the caller's own cgroup has processes, so no
    /// domain controller can be enabled for a child of it: a container put there would
    /// get no memory, cpu or pids files).
    relative_base: PathBuf,
}

impl Hierarchy {
    fn new(mount_point: PathBuf, controllers: Vec<String>, own_cgroup: PathBuf) -> Self {
        Hierarchy {
            mount_point,
            controllers,
            relative_base: own_cgroup.clone(),
            own_cgroup,
        }
    }

    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// The host directory for a container cgroup path: absolute paths are taken from the
    /// hierarchy root, relative ones from the caller's own cgroup.
    pub fn dir_for(&self, path: &Path) -> PathBuf {
        let inner = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.relative_base.join(path)
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
    let own = crate::procfs::read("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let mut found = match at_default_places(&own, &filesystem_type) {
        Some(found) => found,
        None => {
            let mountinfo = crate::procfs::read("/proc/self/mountinfo")
                .context("reading /proc/self/mountinfo")?;
            parse(&mountinfo, &own)
        }
    };
    relative_paths_from_the_parent_on_v2(&mut found);
    Ok(HIERARCHIES.get_or_init(|| found))
}

/// On a cgroup v2 host (one hierarchy, cgroup2) relative paths start at the parent of the
/// caller's cgroup, as in runc; a hybrid host's cgroup2 hierarchy is v1's companion and
/// takes them as the v1 hierarchies do, from the caller's own.
fn relative_paths_from_the_parent_on_v2(found: &mut [Hierarchy]) {
    if let [only] = found
        && only.is_v2()
    {
        only.relative_base = only
            .own_cgroup
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    }
}

/// A directory that exists as long as this process lives: a hierarchy's root, or where
/// relative paths start in it, this process's own cgroup or (v2) its parent (a cgroup
/// with a member, or with one below, can't be removed; where the mount shows the hierarchy
/// from its root, as `dir_for` takes it to). What a container's default cgroup (its id)
/// is made in.
pub fn exists_while_we_run(dir: &Path) -> bool {
    // Asked of every ancestor of every directory a create makes: the set is built once
    // (each `dir_for` is an allocation and a path cleaning), as the hierarchies are read.
    static DIRS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    let Ok(hierarchies) = host_hierarchies() else {
        return false;
    };
    DIRS.get_or_init(|| {
        hierarchies
            .iter()
            .flat_map(|h| [h.mount_point.clone(), h.dir_for(Path::new(""))])
            .collect()
    })
    .iter()
    .any(|d| d == dir)
}

const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

fn filesystem_type(path: &Path) -> Option<nix::sys::statfs::FsType> {
    super::fs::filesystem_type(path)
}

/// The hierarchies where systemd (and Debian's cgroupfs-mount) put them: the unified one
/// at /sys/fs/cgroup, or a tmpfs there with each v1 hierarchy at its controllers' names
/// (`cpu,cpuacct`, `systemd` for `name=systemd`) and the hybrid's cgroup2 at `unified`.
/// runc's v1 driver looks there first too, and reads mountinfo only for what it doesn't
/// find; here any hierarchy of /proc/self/cgroup missing from its place hands the whole
/// question to mountinfo (None). mountinfo is the kernel formatting every mount of the
/// namespace on each read: a few dozen µs here, hundreds of lines on a node with many
/// containers. The order is mountinfo's where systemd mounted them: v1 by hierarchy id
/// (the order they were first mounted), the unified one last.
fn at_default_places(
    own_cgroups: &str,
    filesystem_type: &dyn Fn(&Path) -> Option<nix::sys::statfs::FsType>,
) -> Option<Vec<Hierarchy>> {
    use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};
    let root = Path::new(DEFAULT_ROOT);
    let mut v1: Vec<(u32, Hierarchy)> = Vec::new();
    let mut unified_own = None;
    for line in own_cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, listed, own) = (parts.next()?, parts.next()?, parts.next()?);
        if listed.is_empty() {
            unified_own = Some(PathBuf::from(own));
            continue;
        }
        let controllers: Vec<String> = listed.split(',').map(str::to_string).collect();
        let dir_name: Vec<&str> = controllers
            .iter()
            .map(|c| c.strip_prefix("name=").unwrap_or(c))
            .collect();
        let mount_point = root.join(dir_name.join(","));
        if filesystem_type(&mount_point)? != CGROUP_SUPER_MAGIC {
            return None;
        }
        let hierarchy = Hierarchy::new(mount_point, controllers, PathBuf::from(own));
        v1.push((id.parse().ok()?, hierarchy));
    }
    let root_type = filesystem_type(root)?;
    if root_type == CGROUP2_SUPER_MAGIC && v1.is_empty() {
        return Some(vec![Hierarchy::new(
            root.to_path_buf(),
            Vec::new(),
            unified_own?,
        )]);
    }
    if root_type != TMPFS_MAGIC {
        return None;
    }
    v1.sort_by_key(|(id, _)| *id);
    let mut found: Vec<Hierarchy> = v1.into_iter().map(|(_, h)| h).collect();
    let unified = root.join("unified");
    if let Some(own_cgroup) = unified_own
        && filesystem_type(&unified) == Some(CGROUP2_SUPER_MAGIC)
    {
        found.push(Hierarchy::new(unified, Vec::new(), own_cgroup));
    }
    Some(found)
}

/// Parses mountinfo and /proc/self/cgroup text (split out for unit tests).
pub fn parse(mountinfo: &str, own_cgroups: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in cgroup_mounts(mountinfo) {
        // The same hierarchy may be mounted twice; the first mount wins.
        if out.iter().any(|h| h.controllers == m.controllers) {
            continue;
        }
        let own_cgroup = own_cgroup_for(own_cgroups, &m.controllers);
        out.push(Hierarchy::new(m.mount_point, m.controllers, own_cgroup));
    }
    out
}

/// Where each hierarchy of `own_cgroups` (/proc/self/cgroup's text) is mounted showing it
/// from its root, as (the controllers as that file lists them, `""` for cgroup2; the mount
/// point), in that file's order; None where one has no such mount in `mountinfo` (a bind
/// of a subtree shows its root as that subtree's path). What a program that would
/// otherwise mount every hierarchy afresh (CRIU) can be given instead.
pub fn mounted_from_their_roots(
    own_cgroups: &str,
    mountinfo: &str,
) -> Option<Vec<(String, PathBuf)>> {
    let sorted = |mut controllers: Vec<String>| {
        controllers.sort();
        controllers
    };
    let mounts: Vec<(Vec<String>, PathBuf)> = cgroup_mounts(mountinfo)
        .filter(|m| m.from_the_root)
        .map(|m| (sorted(m.controllers), m.mount_point))
        .collect();
    own_cgroups
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let listed = line.split(':').nth(1)?;
            let wanted = sorted(
                listed
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
            let (_, mount_point) = mounts.iter().find(|(c, _)| *c == wanted)?;
            Some((listed.to_string(), mount_point.clone()))
        })
        .collect()
}

/// A cgroup or cgroup2 mount that mountinfo lists.
struct CgroupMount {
    mount_point: PathBuf,
    /// v1 controllers (`memory`, `name=systemd`, ...) in the mount's option order; empty
    /// for cgroup2.
    controllers: Vec<String>,
    /// Whether it shows the hierarchy from its root (not a bind of a subtree).
    from_the_root: bool,
}

/// The cgroup and cgroup2 mounts of `mountinfo`, in its order; a v1 mount naming no
/// controller is passed over.
fn cgroup_mounts(mountinfo: &str) -> impl Iterator<Item = CgroupMount> + '_ {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let rfields: Vec<&str> = right.split(' ').collect();
        if fields.len() < 5 || rfields.len() < 3 {
            return None;
        }
        let controllers: Vec<String> = match rfields[0] {
            "cgroup2" => Vec::new(),
            "cgroup" => rfields[2]
                .split(',')
                .filter(|o| is_controller_option(o))
                .map(str::to_string)
                .collect(),
            _ => return None,
        };
        if rfields[0] == "cgroup" && controllers.is_empty() {
            return None;
        }
        Some(CgroupMount {
            mount_point: PathBuf::from(crate::procfs::unescape_mount_field(fields[4])),
            controllers,
            from_the_root: fields[3] == "/",
        })
    })
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

    /// A host whose file systems are `mounted` (path, type); statfs fails elsewhere.
    fn host_with(
        mounted: &'static [(&'static str, nix::sys::statfs::FsType)],
    ) -> impl Fn(&Path) -> Option<nix::sys::statfs::FsType> {
        move |path| {
            mounted
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, t)| *t)
        }
    }

    use nix::sys::statfs::{CGROUP_SUPER_MAGIC as V1, CGROUP2_SUPER_MAGIC as V2, TMPFS_MAGIC};

    const HYBRID: &[(&str, nix::sys::statfs::FsType)] = &[
        ("/sys/fs/cgroup", TMPFS_MAGIC),
        ("/sys/fs/cgroup/cpu", V1),
        ("/sys/fs/cgroup/memory", V1),
        ("/sys/fs/cgroup/systemd", V1),
        ("/sys/fs/cgroup/unified", V2),
    ];

    #[test]
    fn every_hierarchy_mounted_from_its_root_is_found_in_proc_self_cgroups_order() {
        let found = mounted_from_their_roots(OWN, MOUNTINFO).unwrap();
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|(c, p)| (c.as_str(), p.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("name=systemd", "/sys/fs/cgroup/systemd"),
                ("memory", "/sys/fs/cgroup/memory"),
                ("cpu", "/sys/fs/cgroup/cpu"),
                ("", "/sys/fs/cgroup/unified"),
            ]
        );
        // Joint controllers in either order; a second mount of a subtree passed over.
        let mountinfo = "50 23 0:40 /kubepods /mnt/cpu rw - cgroup cgroup rw,cpuacct,cpu\n\
                         51 23 0:40 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n\
                         52 23 0:41 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let found = mounted_from_their_roots("2:cpu,cpuacct:/a\n0::/b\n", mountinfo).unwrap();
        assert_eq!(
            found,
            [
                (
                    "cpu,cpuacct".to_string(),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
                ),
                (String::new(), PathBuf::from("/sys/fs/cgroup")),
            ]
        );
    }

    #[test]
    fn a_hierarchy_mounted_only_from_a_subtree_or_nowhere_gives_no_answer() {
        let subtree = "50 23 0:40 /kubepods /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(mounted_from_their_roots("4:memory:/a\n", subtree), None);
        // cgroup2 listed (as every kernel lists it) but mounted nowhere.
        assert_eq!(
            mounted_from_their_roots("0::/\n", MOUNTINFO.lines().next().unwrap()),
            None
        );
    }

    #[test]
    fn hierarchies_at_their_default_places_are_what_mountinfo_lists() {
        let found = at_default_places(OWN, &host_with(HYBRID)).unwrap();
        assert_eq!(found, parse(MOUNTINFO, OWN));
    }

    #[test]
    fn a_hierarchy_away_from_its_default_place_leaves_the_answer_to_mountinfo() {
        const MEMORY_ELSEWHERE: &[(&str, nix::sys::statfs::FsType)] = &[
            ("/sys/fs/cgroup", TMPFS_MAGIC),
            ("/sys/fs/cgroup/cpu", V1),
            ("/sys/fs/cgroup/memory", TMPFS_MAGIC),
            ("/sys/fs/cgroup/systemd", V1),
        ];
        assert_eq!(at_default_places(OWN, &host_with(MEMORY_ELSEWHERE)), None);
        // Listed by the kernel but mounted nowhere (or elsewhere): no such directory.
        let unmounted = format!("12:net_cls,net_prio:/\n{OWN}");
        assert_eq!(at_default_places(&unmounted, &host_with(HYBRID)), None);
    }

    #[test]
    fn comounted_and_named_hierarchies_are_at_the_names_systemd_gives_them() {
        const COMOUNTED: &[(&str, nix::sys::statfs::FsType)] = &[
            ("/sys/fs/cgroup", TMPFS_MAGIC),
            ("/sys/fs/cgroup/cpu,cpuacct", V1),
            ("/sys/fs/cgroup/systemd", V1),
        ];
        let own = "3:name=systemd:/user.slice\n2:cpu,cpuacct:/a\n0::/\n";
        let found = at_default_places(own, &host_with(COMOUNTED)).unwrap();
        let places: Vec<_> = found
            .iter()
            .map(|h| (h.mount_point.to_str().unwrap(), h.controllers.join(",")))
            .collect();
        assert_eq!(
            places,
            [
                ("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct".to_string()),
                ("/sys/fs/cgroup/systemd", "name=systemd".to_string()),
            ],
            "no cgroup2 at /sys/fs/cgroup/unified: none is used, as by runc"
        );
        assert_eq!(found[1].own_cgroup, PathBuf::from("/user.slice"));
    }

    #[test]
    fn a_unified_host_has_one_hierarchy_at_sys_fs_cgroup() {
        const UNIFIED: &[(&str, nix::sys::statfs::FsType)] = &[("/sys/fs/cgroup", V2)];
        let found = at_default_places("0::/user.slice/x.scope\n", &host_with(UNIFIED)).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].is_v2());
        assert_eq!(found[0].mount_point, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(found[0].own_cgroup, PathBuf::from("/user.slice/x.scope"));
        // A v1 hierarchy beside the unified one is for mountinfo to place.
        assert_eq!(
            at_default_places("1:name=systemd:/\n0::/\n", &host_with(UNIFIED)),
            None
        );
        // Nothing mounted at /sys/fs/cgroup: mountinfo decides.
        assert_eq!(at_default_places("0::/\n", &host_with(&[])), None);
    }

    #[test]
    fn relative_paths_start_at_the_parent_of_the_callers_cgroup_on_v2_only() {
        const UNIFIED: &[(&str, nix::sys::statfs::FsType)] = &[("/sys/fs/cgroup", V2)];
        let mut found =
            at_default_places("0::/system.slice/x.service\n", &host_with(UNIFIED)).unwrap();
        relative_paths_from_the_parent_on_v2(&mut found);
        assert_eq!(
            found[0].dir_for(Path::new("c1")),
            PathBuf::from("/sys/fs/cgroup/system.slice/c1")
        );
        assert_eq!(
            found[0].dir_for(Path::new("/abs/c1")),
            PathBuf::from("/sys/fs/cgroup/abs/c1")
        );
        let mut root = at_default_places("0::/\n", &host_with(UNIFIED)).unwrap();
        relative_paths_from_the_parent_on_v2(&mut root);
        assert_eq!(
            root[0].dir_for(Path::new("c1")),
            PathBuf::from("/sys/fs/cgroup/c1")
        );
        // A hybrid host's hierarchies, cgroup2 among them, start at the caller's own.
        let mut hybrid = vec![
            Hierarchy::new(
                "/sys/fs/cgroup/memory".into(),
                vec!["memory".into()],
                "/a/b".into(),
            ),
            Hierarchy::new("/sys/fs/cgroup/unified".into(), vec![], "/a/b".into()),
        ];
        relative_paths_from_the_parent_on_v2(&mut hybrid);
        assert_eq!(
            hybrid[1].dir_for(Path::new("c1")),
            PathBuf::from("/sys/fs/cgroup/unified/a/b/c1")
        );
    }

    #[test]
    fn the_roots_and_own_cgroups_are_known_to_exist_and_nothing_under_them() {
        for h in host_hierarchies().unwrap() {
            let own = h.dir_for(Path::new(""));
            assert!(exists_while_we_run(&h.mount_point), "{h:?}");
            assert!(exists_while_we_run(&own) && own.is_dir(), "{h:?}");
            assert!(!exists_while_we_run(&own.join("c1")), "{h:?}");
        }
    }

    #[test]
    fn on_this_host_the_default_places_agree_with_mountinfo() {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        if let Some(found) = at_default_places(&own, &filesystem_type) {
            assert_eq!(found, parse(&mountinfo, &own));
        }
    }

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
