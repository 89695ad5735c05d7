//! Idmapped bind mounts (runtime-spec 1.1 `mounts[].uidMappings`/`gidMappings`, runc 1.2's
//! `idmap` and `ridmap` options): the files of a host directory show their owners inside
//! the container through a user namespace of the mount's own, so a volume owned by host
//! uid 1000 is uid 1000 in a container whose ids are shifted, and what the container's
//! root writes there is root's on the host.
//!
//! The parent does it all, before the init attaches anything: the source is detached with
//! open_tree (mount::detach; from inside the init's mount namespace where the container
//! has a user namespace, see container::create), given MOUNT_ATTR_IDMAP with a user
//! namespace (the container's own for `idmap` without mappings; else one made for the
//! mapping by a short-lived child, which the kernel requires: a namespace lives only while
//! a process or an fd holds it), and the init moves the tree into place as any other.
//! A source inside the rootfs waits for its mount's turn instead: the init asks for it
//! then, and the parent detaches it from inside the init's mount namespace, with the
//! container's earlier mounts in place ([`detached_at_its_turn`]).

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where a mount's user namespace comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum MountUserns {
    /// The mount's own mappings.
    Maps {
        uid: Vec<LinuxIdMapping>,
        gid: Vec<LinuxIdMapping>,
    },
    /// `idmap` without mappings: the container's new user namespace.
    Container,
    /// `idmap` without mappings in a container that joins a user namespace by path.
    Joined(PathBuf),
}

#[derive(Debug, PartialEq, Eq)]
pub struct IdmapMount {
    pub index: usize,
    /// `ridmap`: the whole tree of an rbind, not only its top mount.
    pub recursive: bool,
    pub userns: MountUserns,
}

fn is_idmapped(m: &Mount) -> bool {
    let opts = m.options().as_deref().unwrap_or(&[]);
    opts.iter().any(|o| o == "idmap" || o == "ridmap")
        || m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
}

/// The idmapped mounts of `spec`, checked as runc checks them; every error names the mount.
pub fn plan(spec: &Spec, rootless_euid: bool) -> Result<Vec<IdmapMount>> {
    let linux = spec.linux().as_ref();
    let user_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User));
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !is_idmapped(m) {
            continue;
        }
        let name = || mount_name(i, m);
        let opts = super::options::parse(m.options().as_deref().unwrap_or(&[]));
        if !(opts.is_bind() || m.typ().as_deref() == Some("bind")) {
            bail!(
                "{}: id-mapped mounts are only supported for bind-mounts",
                name()
            );
        }
        if rootless_euid {
            bail!(
                "{}: id-mapped mounts are not supported for rootless containers",
                name()
            );
        }
        let recursive = m.options().iter().flatten().any(|o| o == "ridmap");
        let userns = match (m.uid_mappings(), m.gid_mappings()) {
            (Some(uid), Some(gid)) if !uid.is_empty() && !gid.is_empty() => {
                check_maps(&format!("mounts[{i}].uidMappings"), uid)?;
                check_maps(&format!("mounts[{i}].gidMappings"), gid)?;
                MountUserns::Maps {
                    uid: uid.clone(),
                    gid: gid.clone(),
                }
            }
            (None, None) => match user_ns.and_then(|n| n.path().clone()) {
                Some(path) if !path.as_os_str().is_empty() => MountUserns::Joined(path),
                _ if user_ns.is_some() => MountUserns::Container,
                _ => bail!(
                    "{}: idmap without uidMappings and gidMappings takes the container's user namespace, and it has none",
                    name()
                ),
            },
            _ => bail!(
                "{}: id-mapped mounts must have both uid and gid mappings specified",
                name()
            ),
        };
        out.push(IdmapMount {
            index: i,
            recursive,
            userns,
        });
    }
    Ok(out)
}

/// Ranges must be non-empty, inside the 32-bit id space, and overlap neither inside nor
/// outside (the kernel refuses such a map with a bare EINVAL).
fn check_maps(field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let range = |start: u32, size: u32| (u64::from(start), u64::from(start) + u64::from(size));
    for (a, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            bail!("{field}[{a}]: size 0 maps nothing");
        }
        for (start, what) in [(m.container_id(), "containerID"), (m.host_id(), "hostID")] {
            if range(start, m.size()).1 > u64::from(u32::MAX) {
                bail!(
                    "{field}[{a}]: {what} {start} + size {} is beyond the last id",
                    m.size()
                );
            }
        }
        for (b, n) in maps.iter().enumerate().skip(a + 1) {
            let overlap = |x: (u64, u64), y: (u64, u64)| x.0 < y.1 && y.0 < x.1;
            if overlap(
                range(m.container_id(), m.size()),
                range(n.container_id(), n.size()),
            ) || overlap(range(m.host_id(), m.size()), range(n.host_id(), n.size()))
            {
                bail!("{field}: ranges [{a}] and [{b}] overlap");
            }
        }
    }
    Ok(())
}

/// Whether rrun detaches `m`'s source only when the init asks, at the mount's turn
/// ("mountsourceplease"): an idmapped mount whose source is inside the rootfs names what
/// the container's earlier mounts put there, which a tree detached before them would not
/// show (runc's parent, too, makes it on the init's request).
pub fn detached_at_its_turn(m: &Mount, bundle: &Path, rootfs: &Path) -> bool {
    is_idmapped(m) && bundle.join(source_of(m)).starts_with(rootfs)
}

fn source_of(m: &Mount) -> &Path {
    m.source().as_deref().unwrap_or(Path::new(""))
}

/// Adds the source of each idmapped mount (rbind: the whole tree) to the sources rrun
/// detaches, or marks it required where it is there already as a bind source: only a
/// detached tree can be idmapped, so a source that can't be opened fails the create,
/// naming the mount.
pub fn add_sources_to_detach(
    plans: &[IdmapMount],
    spec: &Spec,
    bundle: &Path,
    sources: &mut Vec<super::mount::SourceToDetach>,
) {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    for p in plans {
        let m = &mounts[p.index];
        let source = source_to_detach(p.index, m, bundle);
        match sources.iter_mut().find(|s| s.index == p.index) {
            Some(s) => s.required = source.required,
            None => sources.push(source),
        }
    }
}

/// The source of idmapped mount `index` as rrun detaches it: required (only a detached
/// tree can be idmapped, so one that can't be opened fails the create, naming the mount).
pub fn source_to_detach(index: usize, m: &Mount, bundle: &Path) -> super::mount::SourceToDetach {
    let flags = super::options::parse(m.options().as_deref().unwrap_or(&[])).flags;
    super::mount::SourceToDetach {
        index,
        path: bundle.join(source_of(m)),
        recursive: flags & libc::MS_REC != 0,
        required: Some(mount_name(index, m)),
    }
}

fn mount_name(index: usize, m: &Mount) -> String {
    format!("mounts[{index}] ({})", m.destination().display())
}

/// Gives each idmapped mount's detached tree its user namespace. `init_pid`: the
/// container's init, whose user namespace has its maps written by now.
pub fn apply(
    plans: &[IdmapMount],
    trees: &[Option<OwnedFd>],
    init_pid: i32,
    spec: &Spec,
) -> Result<()> {
    for p in plans {
        let m = &spec.mounts().as_deref().unwrap_or(&[])[p.index];
        let name = mount_name(p.index, m);
        let Some(tree) = trees.get(p.index).and_then(Option::as_ref) else {
            bail!(
                "{name}: source {} could not be opened for an idmapped mount",
                source_of(m).display()
            );
        };
        let userns = match &p.userns {
            MountUserns::Maps { uid, gid } => crate::id_maps::user_namespace_with(uid, gid)
                .map_err(|e| anyhow!("{name}: making its user namespace: {e:#}"))?,
            MountUserns::Container => open_userns(&format!("/proc/{init_pid}/ns/user"), &name)?,
            MountUserns::Joined(path) => open_userns(&path.display().to_string(), &name)?,
        };
        crate::syscalls::mount_setattr_idmap(tree, &userns, p.recursive).map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                anyhow!(
                    "{name}: source {} is on a filesystem that can't be idmapped (mount_setattr: {e})",
                    source_of(m).display()
                )
            } else {
                anyhow!("{name}: idmapping the mount (mount_setattr): {e}")
            }
        })?;
    }
    Ok(())
}

fn open_userns(path: &str, name: &str) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("{name}: opening user namespace {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mounts: &str, userns: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.1.0","mounts":{mounts},"linux":{{"namespaces":[{userns}]}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn idmap_takes_the_containers_user_namespace_or_the_mounts_maps() {
        let s = spec(
            r#"[{"destination":"/a","type":"bind","source":"/x","options":["rbind","idmap"]},
                {"destination":"/b","type":"bind","source":"/y","options":["rbind","ridmap"],
                 "uidMappings":[{"containerID":0,"hostID":1000,"size":10}],
                 "gidMappings":[{"containerID":0,"hostID":1000,"size":10}]},
                {"destination":"/c","type":"bind","source":"/z","options":["rbind"]}]"#,
            r#"{"type":"user"}"#,
        );
        let p = plan(&s, false).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].userns, MountUserns::Container);
        assert!(!p[0].recursive && p[1].recursive);
        assert!(matches!(p[1].userns, MountUserns::Maps { .. }));
    }

    #[test]
    fn only_idmapped_sources_inside_the_rootfs_wait_for_their_turn() {
        let s = spec(
            r#"[{"destination":"/a","type":"bind","source":"/b/rootfs/mnt","options":["rbind","idmap"]},
                {"destination":"/b","type":"bind","source":"rootfs/mnt/x","options":["rbind","idmap"]},
                {"destination":"/c","type":"bind","source":"/b/rootfs-not","options":["rbind","idmap"]},
                {"destination":"/d","type":"bind","source":"/b/rootfs/mnt","options":["rbind"]}]"#,
            r#"{"type":"user"}"#,
        );
        let (bundle, rootfs) = (Path::new("/b"), Path::new("/b/rootfs"));
        let waits: Vec<bool> = (s.mounts().iter().flatten())
            .map(|m| detached_at_its_turn(m, bundle, rootfs))
            .collect();
        assert_eq!(waits, [true, true, false, false]);
    }

    #[test]
    fn bad_idmapped_mounts_are_refused_naming_them() {
        let err = |mounts: &str, userns: &str| {
            plan(&spec(mounts, userns), false).unwrap_err().to_string()
        };
        let e = err(
            r#"[{"destination":"/t","type":"tmpfs","source":"tmpfs","options":["idmap"]}]"#,
            r#"{"type":"user"}"#,
        );
        assert!(
            e.starts_with("mounts[0] (/t): id-mapped mounts are only supported for bind-mounts"),
            "{e}"
        );
        let e = err(
            r#"[{"destination":"/a","type":"bind","source":"/x","options":["bind","idmap"]}]"#,
            "",
        );
        assert!(e.contains("it has none"), "{e}");
        let e = err(
            r#"[{"destination":"/a","type":"bind","source":"/x","options":["bind"],
                 "uidMappings":[{"containerID":0,"hostID":1000,"size":10}]}]"#,
            "",
        );
        assert!(e.contains("both uid and gid mappings"), "{e}");
        let e = err(
            r#"[{"destination":"/a","type":"bind","source":"/x","options":["bind"],
                 "uidMappings":[{"containerID":0,"hostID":1000,"size":10},{"containerID":5,"hostID":5000,"size":10}],
                 "gidMappings":[{"containerID":0,"hostID":1000,"size":10}]}]"#,
            "",
        );
        assert_eq!(e, "mounts[0].uidMappings: ranges [0] and [1] overlap");
        let e = err(
            r#"[{"destination":"/a","type":"bind","source":"/x","options":["bind"],
                 "uidMappings":[{"containerID":0,"hostID":4294967290,"size":10}],
                 "gidMappings":[{"containerID":0,"hostID":1000,"size":10}]}]"#,
            "",
        );
        assert!(e.contains("beyond the last id"), "{e}");
        let rootless = plan(
            &spec(
                r#"[{"destination":"/a","type":"bind","source":"/x","options":["bind","idmap"]}]"#,
                r#"{"type":"user"}"#,
            ),
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            rootless.contains("not supported for rootless containers"),
            "{rootless}"
        );
    }
}
