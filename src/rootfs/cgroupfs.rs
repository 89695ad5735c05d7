//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup.
//! On a unified host it is a cgroup2 mount; on v1 (and hybrid) hosts a tmpfs holding one
//! mount per hierarchy, each showing only the container's own cgroup.

use super::mount::{MountContext, bind_extra_flags, bind_onto, flags, remount_bind, reopen};
use super::options::MountOptions;
use super::secure::fd_path;
use crate::cgroups::{Hierarchy, host_hierarchies, is_unified_host};
use anyhow::{Result, anyhow};
use nix::fcntl::{OFlag, openat};
use nix::mount::mount;
use nix::sys::stat::{Mode, mkdirat};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where a hierarchy is mounted: /sys/fs/cgroup itself on a cgroup v2 host, found inside
/// the rootfs as any mount point is; or a directory of the tmpfs rrun has just mounted
/// there on a v1 host. Nothing but rrun has written to that tmpfs, so a name in it is
/// looked up in it directly (no link followed), not walked to from the rootfs's root: the
/// nine hierarchies' mount points cost two short lookups each instead of five walks.
enum MountPoint<'a> {
    InRootfs(&'a Path),
    InTmpfs {
        tmpfs: &'a OwnedFd,
        name: &'a OsStr,
        /// For messages: the path inside the container.
        path: PathBuf,
    },
}

impl MountPoint<'_> {
    fn path(&self) -> &Path {
        match self {
            MountPoint::InRootfs(p) => p,
            MountPoint::InTmpfs { path, .. } => path,
        }
    }

    /// Makes the directory and opens it.
    fn make(&self, ctx: &MountContext) -> Result<OwnedFd> {
        match self {
            MountPoint::InRootfs(p) => Ok(ctx.root.mkdir_all(p, 0o755)?),
            MountPoint::InTmpfs { tmpfs, name, path } => {
                match mkdirat(*tmpfs, *name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(anyhow!("making {}: {e}", path.display())),
                }
                self.reopen(ctx)
            }
        }
    }

    /// Opens what sits there (after a mount, the mount).
    fn reopen(&self, ctx: &MountContext) -> Result<OwnedFd> {
        match self {
            MountPoint::InRootfs(p) => reopen(ctx.root, p),
            MountPoint::InTmpfs { tmpfs, name, path } => openat(
                *tmpfs,
                *name,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| anyhow!("opening {}: {e}", path.display())),
        }
    }
}

/// The `cgroup` mount at `dest`; `source` is the config's, which a cgroup2 mount shows
/// (runc's: Docker's and Podman's configs say "cgroup").
pub fn mount_cgroups(
    ctx: &MountContext,
    dest: &Path,
    source: &str,
    opts: &MountOptions,
) -> Result<()> {
    // rrun built it beside the init's first steps ([`detached_tree`]): attach it whole.
    if let Some(tree) = ctx.cgroup_tree.map(|take| take()).transpose()?.flatten() {
        let target = ctx.root.mkdir_all(dest, 0o755)?;
        crate::syscalls::move_mount_onto(&tree, &target)
            .map_err(|e| anyhow!("attaching the cgroup mounts rrun made: {e}"))?;
        return Ok(());
    }
    let target = ctx.root.mkdir_all(dest, 0o755)?;
    let hierarchies = host_hierarchies()?;
    if is_unified_host() {
        // (The host's mount, as rrun found it; where it found none, cgroup2's usual place.)
        let host_tree = hierarchies.first().map_or_else(
            || PathBuf::from("/sys/fs/cgroup"),
            |h| h.mount_point.clone(),
        );
        let own = hierarchies
            .first()
            .map_or_else(|| host_tree.clone(), own_dir);
        let fresh = FreshMount {
            source: if source.is_empty() { "cgroup2" } else { source },
            fstype: "cgroup2",
            data: None,
        };
        let what = if ctx.cgroup_ns {
            // A fresh cgroup2 mount, the container's cgroup its root; refused, a bind of
            // what it would have shown.
            Source::Fresh {
                instead: match ctx.cgroup_paths.first() {
                    Some(dir) if dir.exists() => dir.as_path(),
                    _ => &own,
                },
            }
        } else {
            // The host's whole tree, which a fresh mount would show here too (runc 1.1
            // mounts one), and where the path in /proc/self/cgroup leads; but bound: a
            // cgroup2 mount made in the host's cgroup namespace sets the host's hierarchy
            // flags, and without options takes `nsdelegate` and `memory_recursiveprot`
            // away from every cgroup on the host (runc's issue 5258, fixed by the same bind).
            Source::Bind {
                dir: &host_tree,
                instead: &host_tree,
            }
        };
        return mount_one(
            ctx,
            &MountPoint::InRootfs(dest),
            &fresh,
            opts.flags,
            BindFlags::Now,
            what,
        )
        .map(|_| ());
    }
    let fl = opts.flags & !libc::MS_RDONLY;
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags(fl),
        Some("mode=755"),
    )
    .map_err(|e| anyhow!("tmpfs: {e}"))?;
    let tmpfs = reopen(ctx.root, dest)?;
    let mut flags_pending = Vec::new();
    for h in in_the_tmpfs(hierarchies) {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let sub = MountPoint::InTmpfs {
            tmpfs: &tmpfs,
            name,
            path: dest.join(name),
        };
        let host_dir = ctx
            .cgroup_paths
            .iter()
            .find(|p| p.starts_with(&h.mount_point))
            .map(|p| p.as_path());
        let data = h.controllers.join(",");
        let fresh = FreshMount {
            // runc's names: the named systemd hierarchy shows "systemd", the rest "cgroup".
            source: if data == "name=systemd" {
                "systemd"
            } else {
                "cgroup"
            },
            fstype: "cgroup",
            data: Some(&data),
        };
        let own = own_dir(h);
        let what = match host_dir {
            Some(dir) if !ctx.cgroup_ns => Source::Bind { dir, instead: &own },
            Some(dir) if dir.exists() => Source::Fresh { instead: dir },
            _ => Source::Fresh { instead: &own },
        };
        let bound = mount_one(ctx, &sub, &fresh, opts.flags, BindFlags::Later, what)?;
        link_comounted(&tmpfs, h, name);
        if let Bound::FlagsPending { source } = bound {
            flags_pending.push((sub, source));
        }
    }
    if apply_bind_flags(ctx, &tmpfs, &flags_pending, opts.flags)? {
        keep_the_tmpfs_writable(&tmpfs, opts.flags)?;
    }
    Ok(())
}

/// The tmpfs holding a v1 host's hierarchies stays writable whatever the mount's flags
/// say, as runc (every version) and crun (1.8, checked) leave it: they give `ro` to the
/// hierarchies only. (A systemd in the container, say, may make its links there.) Where the flags
/// were given to the tmpfs with the hierarchies under it, in one call, its `ro` is taken
/// back.
fn keep_the_tmpfs_writable(tmpfs: &OwnedFd, fl: libc::c_ulong) -> Result<()> {
    if fl & libc::MS_RDONLY == 0 {
        return Ok(());
    }
    let (read_only, _) = super::options::bind_remount_attrs(libc::MS_RDONLY);
    crate::syscalls::mount_setattr_one(tmpfs, 0, read_only)
        .map_err(|e| anyhow!("the cgroup tmpfs kept writable: {e}"))
}

/// The hierarchies a v1 host's container sees in its tmpfs: the v1 ones. A hybrid host's
/// cgroup2 (`unified`) stays out, as in runc (every version), whose containers see only
/// the v1 hierarchies: software that found it there would take the host for a hybrid one
/// and look for its own cgroup in it.
fn in_the_tmpfs(hierarchies: &[Hierarchy]) -> impl Iterator<Item = &Hierarchy> {
    hierarchies.iter().filter(|h| !h.is_v2())
}

/// A co-mounted hierarchy such as cpu,cpuacct is also reachable under each name: links in
/// the tmpfs to where it is mounted as `name`.
fn link_comounted(tmpfs: &OwnedFd, h: &Hierarchy, name: &OsStr) {
    if h.controllers.len() > 1 {
        for c in &h.controllers {
            if c.as_str() != name.to_string_lossy() && !c.starts_with("name=") {
                let _ = nix::unistd::symlinkat(name, tmpfs, c.as_str());
            }
        }
    }
}

/// Whether a hierarchy's bind gets its flags (ro, nosuid, ...) at once, or from
/// [`apply_bind_flags`] once every hierarchy is in the tmpfs.
#[derive(Clone, Copy)]
enum BindFlags {
    Now,
    Later,
}

enum Bound {
    /// A fresh cgroup mount, or a bind that has its flags.
    Done,
    /// A bind of `source` still waiting for [`apply_bind_flags`].
    FlagsPending { source: PathBuf },
}

/// Gives the hierarchies bound into the tmpfs the mount's flags with one mount_setattr
/// over the tmpfs and every mount under it, where a remount of each bind costs nine
/// remounts and as many lookups; returns whether the tmpfs took them too (it has them
/// already, `ro` aside: see [`keep_the_tmpfs_writable`]). Where that call is refused (a
/// kernel before 5.12; a flag the kernel locks in a user namespace, which a remount keeps
/// by hand), each bind is remounted as before.
fn apply_bind_flags(
    ctx: &MountContext,
    tmpfs: &OwnedFd,
    pending: &[(MountPoint, PathBuf)],
    fl: libc::c_ulong,
) -> Result<bool> {
    if pending.is_empty() {
        return Ok(false);
    }
    let (set, clear) = super::options::bind_remount_attrs(fl);
    if crate::syscalls::mount_setattr_recursive(tmpfs, set, clear).is_ok() {
        return Ok(true);
    }
    for (sub, source) in pending {
        remount_bind(&sub.reopen(ctx)?, bind_extra_flags(fl))
            .map_err(|e| binding_failed(source, sub, e))?;
    }
    Ok(false)
}

fn binding_failed(source: &Path, sub: &MountPoint, e: anyhow::Error) -> anyhow::Error {
    anyhow!(
        "binding {} on {}: {e:#}",
        source.display(),
        sub.path().display()
    )
}

/// The init's own cgroup in `h` where the container has none of its own there: the
/// caller's, which the init never left (a rootless container its user may not place).
fn own_dir(h: &Hierarchy) -> PathBuf {
    h.mount_point
        .join(crate::rootfs::secure::clean_relative(&h.own_cgroup))
}

/// A cgroup filesystem mounted afresh: what the mount shows as its source, its type and
/// its options (a v1 hierarchy's controllers).
struct FreshMount<'a> {
    source: &'a str,
    fstype: &'static str,
    data: Option<&'a str>,
}

/// What a hierarchy's mount point gets.
enum Source<'a> {
    /// A bind of `dir`: on v1 without a cgroup namespace the container's cgroup, so that
    /// it sees no more than that, and where it is gone, `instead`; on v2 without one, the
    /// host's whole tree (both the same).
    Bind { dir: &'a Path, instead: &'a Path },
    /// A fresh mount (in a cgroup namespace it shows the container's cgroup as its root);
    /// where the kernel refuses one (a user namespace's root: EPERM without a cgroup
    /// namespace of its own, EBUSY where the host's cgroup2 mount has other options), a
    /// bind of `instead`, what it would have shown, as runc does. Where the container is
    /// in no cgroup of its own (rootless: not made), that is its init's own cgroup.
    Fresh { instead: &'a Path },
}

fn mount_one(
    ctx: &MountContext,
    sub: &MountPoint,
    fresh: &FreshMount,
    fl: libc::c_ulong,
    bind_flags: BindFlags,
    source: Source,
) -> Result<Bound> {
    // A bind ignores flags: a remount (or apply_bind_flags) gives them, where there are any.
    let later = matches!(bind_flags, BindFlags::Later) && bind_extra_flags(fl) != 0;
    let bind_opts = MountOptions {
        flags: libc::MS_BIND | libc::MS_REC | if later { 0 } else { fl },
        ..Default::default()
    };
    let bind = |dir: &Path| {
        let target = sub.make(ctx)?;
        bind_onto(dir, None, &target, || sub.reopen(ctx), &bind_opts)
            .map_err(|e| binding_failed(dir, sub, e))?;
        Ok(if later {
            Bound::FlagsPending {
                source: dir.to_path_buf(),
            }
        } else {
            Bound::Done
        })
    };
    match source {
        Source::Bind { dir, instead } => match bind(dir) {
            Err(_) if !dir.exists() => bind(instead),
            other => other,
        },
        Source::Fresh { instead } => {
            let target = sub.make(ctx)?;
            match mount(
                Some(fresh.source),
                &fd_path(&target),
                Some(fresh.fstype),
                flags(fl),
                fresh.data,
            ) {
                Ok(()) => Ok(Bound::Done),
                Err(nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY) => bind(instead),
                Err(e) => Err(anyhow!("{} on {}: {e}", fresh.fstype, sub.path().display())),
            }
        }
    }
}

/// Whether rrun may build the container's /sys/fs/cgroup itself ([`detached_tree`]): a v1
/// (or hybrid) host, a `cgroup` mount that is not a bind, and a container directory in
/// every hierarchy, so that each is a bind of it, as [`mount_cgroups`] makes in the init
/// without a cgroup namespace; and a root propagation the tree can be given
/// ([`tree_propagation`]). The caller rules out user and cgroup namespaces.
pub fn can_build_detached(
    mount_options: &[String],
    cgroup_paths: &[PathBuf],
    root_propagation: Option<libc::c_ulong>,
) -> bool {
    if is_unified_host() || super::options::parse(mount_options).is_bind() {
        return false;
    }
    if tree_propagation(root_propagation).is_none() {
        return false;
    }
    let Ok(hierarchies) = host_hierarchies() else {
        return false;
    };
    hierarchies.iter().all(|h| {
        h.mount_point.file_name().is_none()
            || cgroup_paths.iter().any(|p| p.starts_with(&h.mount_point))
    })
}

/// The propagation the built tree gets, that of the binds the init would make: it clones
/// them from its copy of the host's mounts after making that copy a slave of the host's
/// (or private, as the config asks). None for the propagations not handled here.
fn tree_propagation(root_propagation: Option<libc::c_ulong>) -> Option<libc::c_ulong> {
    let kind = root_propagation.map(|p| p & !libc::MS_REC);
    match kind {
        None | Some(libc::MS_SLAVE) => Some(libc::MS_SLAVE),
        Some(libc::MS_PRIVATE) => Some(libc::MS_PRIVATE),
        _ => None,
    }
}

/// The container's /sys/fs/cgroup on a v1 host as a detached tree, built by rrun on its
/// own CPU after "go" while the init joins its cgroups and makes its first mounts (in the
/// init, the nine binds took ~150 µs of its path: docs/performance.md, 2026-12-06,
/// morning): a tmpfs, in it a bind of the container's directory in each hierarchy (and
/// the names of co-mounted controllers as links), with the mount's flags and the
/// propagation the init's own binds would have. The init attaches it whole and makes the
/// tmpfs read-only as before. Needs a kernel that mounts onto a detached tree (6.15);
/// elsewhere this fails and the init builds it itself.
pub fn detached_tree(
    mount_options: &[String],
    cgroup_paths: &[PathBuf],
    root_propagation: Option<libc::c_ulong>,
) -> Result<OwnedFd> {
    let fl = super::options::parse(mount_options).flags;
    let propagation = tree_propagation(root_propagation)
        .ok_or_else(|| anyhow!("no propagation to give the cgroup mounts"))?;
    let ctx = crate::syscalls::fsopen("tmpfs").map_err(|e| anyhow!("tmpfs: {e}"))?;
    // What mount(2) of "tmpfs" with mode=755 shows, the source's name too.
    crate::syscalls::fsconfig_set_string(&ctx, "source", "tmpfs")
        .and_then(|()| crate::syscalls::fsconfig_set_string(&ctx, "mode", "755"))
        .map_err(|e| anyhow!("tmpfs: {e}"))?;
    let tmpfs = crate::syscalls::fsmount_created(&ctx, 0).map_err(|e| anyhow!("tmpfs: {e}"))?;
    for h in in_the_tmpfs(host_hierarchies()?) {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let dir = cgroup_paths
            .iter()
            .find(|p| p.starts_with(&h.mount_point))
            .ok_or_else(|| anyhow!("no cgroup of the container in {}", h.mount_point.display()))?;
        mkdirat(&tmpfs, name, Mode::from_bits_truncate(0o755))
            .map_err(|e| anyhow!("making {}: {e}", name.to_string_lossy()))?;
        let bind = crate::cgroups::fs::open_tree_clone(dir)
            .map_err(|e| anyhow!("binding {}: {e}", dir.display()))?;
        let c_name = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name))?;
        crate::syscalls::move_mount_onto_name(&bind, &tmpfs, &c_name)
            .map_err(|e| anyhow!("binding {}: {e}", dir.display()))?;
        link_comounted(&tmpfs, h, name);
    }
    let (set, clear) = super::options::bind_remount_attrs(fl);
    crate::syscalls::mount_setattr_recursive(&tmpfs, set, clear)
        .map_err(|e| anyhow!("the cgroup mounts' flags: {e}"))?;
    keep_the_tmpfs_writable(&tmpfs, fl)?;
    crate::syscalls::mount_setattr_propagation_recursive(&tmpfs, propagation)
        .map_err(|e| anyhow!("the cgroup mounts' propagation: {e}"))?;
    Ok(tmpfs)
}
