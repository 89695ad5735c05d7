//! One entry of config.json's `mounts`, mounted inside the rootfs.

use super::options::{self, MountOptions};
use super::secure::{MountPoint, RootDir, fd_path};
use anyhow::{Context, Result, anyhow};
use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Mount;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// What mounting needs to know beyond the entry itself.
pub struct MountContext<'a> {
    pub bundle: &'a Path,
    /// The rootfs as the host sees it.
    pub rootfs: &'a Path,
    pub root: &'a RootDir,
    pub cgroup_ns: bool,
    pub cgroup_paths: &'a [PathBuf],
    pub mount_label: Option<&'a str>,
    /// Detached copies of the bind sources (see [`bind_sources_to_detach`]), by mount index.
    pub detached_sources: &'a [Option<OwnedFd>],
    /// Where rrun builds the `cgroup` mount itself (cgroupfs::detached_tree): takes what it
    /// sent, None where it could not build it.
    pub cgroup_tree: Option<&'a dyn Fn() -> Result<Option<OwnedFd>>>,
    /// Asks rrun for the source of mount `index`, detached and idmapped at its turn
    /// (idmap::detached_at_its_turn): only rrun, the host's root, may idmap it.
    pub source_at_its_turn: &'a dyn Fn(usize) -> Result<OwnedFd>,
}

/// A mount's source that rrun detaches (open_tree) for the init to attach: its index among
/// the config's mounts, its path, and whether the whole tree under it goes (rbind).
pub struct SourceToDetach {
    pub index: usize,
    pub path: PathBuf,
    pub recursive: bool,
    /// Where the source can't be opened, create fails naming the mount (an idmapped
    /// mount, which only a detached tree can be); otherwise the init binds the path itself
    /// and meets its usual error there.
    pub required: Option<String>,
}

/// For a container in a user namespace of its own: the bind mounts whose sources rrun
/// detaches, as the host's root, for the init to attach. The init, root only in its user
/// namespace, then attaches each even where it could not reach the path (a source under a
/// directory only the host's root may enter), as runc does. A source inside the rootfs
/// is left to the init: it names what the container's earlier mounts put there, which a
/// tree detached before them would not show.
pub fn bind_sources_to_detach(
    mounts: &[Mount],
    bundle: &Path,
    rootfs: &Path,
) -> Vec<SourceToDetach> {
    let mut out = Vec::new();
    for (index, m) in mounts.iter().enumerate() {
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        if !(opts.is_bind() || m.typ().as_deref() == Some("bind")) {
            continue;
        }
        let path = bundle.join(m.source().clone().unwrap_or_default());
        if path.starts_with(rootfs) {
            continue;
        }
        out.push(SourceToDetach {
            index,
            path,
            recursive: opts.flags & libc::MS_REC != 0,
            required: None,
        });
    }
    out
}

/// The detached trees of `sources`, indexed like the `count` mounts of the config, made in
/// the calling thread's mount namespace ([`clone_source`]); none at all (an empty list, as
/// before the clone of most containers) where there are no sources.
pub fn detach(sources: &[SourceToDetach], count: usize) -> Result<Vec<Option<OwnedFd>>> {
    let mut trees = Vec::new();
    if sources.is_empty() {
        return Ok(trees);
    }
    trees.resize_with(count, || None);
    for s in sources {
        match (clone_source(&s.path, s.recursive), &s.required) {
            (Ok(tree), _) => trees[s.index] = Some(tree),
            (Err(e), Some(name)) => {
                return Err(anyhow!("{name}: opening source {}: {e}", s.path.display()));
            }
            // The init binds the path itself, and meets its usual error there.
            (Err(_), None) => {}
        }
    }
    Ok(trees)
}

/// A detached copy of a bind source, made in the calling thread's mount namespace for the
/// init to attach in the container's: a slave of the host's mounts, as a bind the init
/// made in its own namespace would be (the kernel makes a mount namespace created in a
/// user namespace a slave of its parent's). A bare clone of a shared mount joins the
/// host's peer group, so whatever the container then mounted on it (the `cgroup` tmpfs in
/// a bind of /sys, a masked path) would appear on the host's own mount.
pub fn clone_source(src: &Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let tree = crate::syscalls::open_tree_clone(src, recursive)?;
    crate::syscalls::mount_setattr_propagation_recursive(&tree, libc::MS_SLAVE)?;
    Ok(tree)
}

pub fn flags(bits: libc::c_ulong) -> MsFlags {
    MsFlags::from_bits_retain(bits)
}

/// One of the kernel's own filesystems (proc, sysfs, an empty tmpfs, devpts, mqueue): its
/// mount opens no device, so no device rule applies to it, needs no cgroup, and fills no
/// memory a cgroup would be charged for. A bind, a tmpfs filled from the rootfs
/// (`tmpcopyup`) or an idmapped mount is none of these.
pub fn is_pseudo_filesystem(m: &Mount) -> bool {
    let typ = m.typ().as_deref().unwrap_or("");
    let options = m.options().as_deref().unwrap_or(&[]);
    let opts = options::parse(options);
    matches!(typ, "proc" | "sysfs" | "tmpfs" | "devpts" | "mqueue")
        && !opts.is_bind()
        && !opts.tmpcopyup
        && !options.iter().any(|o| o.contains("idmap"))
}

/// Where `m` goes in the container. As runc: a destination that already starts with the
/// rootfs's host path is taken as that path (configs written with host paths of the rootfs
/// rely on it).
pub fn destination(rootfs: &Path, m: &Mount) -> PathBuf {
    m.destination()
        .strip_prefix(rootfs)
        .map(|rest| Path::new("/").join(rest))
        .unwrap_or_else(|_| m.destination().to_path_buf())
}

/// Mounts one entry: a bind, the `cgroup` mounts, or a filesystem; then its propagation
/// and recursive options. Returns the destination of a read-only tmpfs, which is mounted
/// writable and must be made read-only once everything under it is made (see tmpfs).
pub fn mount_entry(ctx: &MountContext, index: usize, m: &Mount) -> Result<Option<PathBuf>> {
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let dest = destination(ctx.rootfs, m);
    let dest = dest.as_path();
    let source = m.source().clone().unwrap_or_default();
    let describe = || {
        format!(
            "mounting {:?} on {:?}",
            source.display().to_string(),
            dest.display().to_string()
        )
    };
    let mut read_only_later = None;
    if opts.is_bind() || typ == "bind" {
        bind_entry(ctx, index, m, dest, &opts).with_context(describe)?;
    } else if typ == "cgroup" {
        let source = source.to_string_lossy();
        super::cgroupfs::mount_cgroups(ctx, dest, &source, &opts).with_context(describe)?;
    } else {
        read_only_later = mount_filesystem(ctx, typ, &source, dest, &opts, &describe)?;
    }
    apply_propagation(ctx.root, dest, &opts.propagation).with_context(describe)?;
    if opts.recursive_set | opts.recursive_clear != 0 {
        let mounted = reopen(ctx.root, dest).with_context(describe)?;
        crate::syscalls::mount_setattr_recursive(
            &mounted,
            opts.recursive_set,
            opts.recursive_clear,
        )
        .map_err(|e| anyhow!("recursive mount options (mount_setattr): {e}"))
        .with_context(describe)?;
    }
    Ok(read_only_later)
}

/// A bind entry: the tree rrun detached for it (before the init mounted anything, or now,
/// at its turn, where it is an idmapped one from inside the rootfs), else its source path.
fn bind_entry(
    ctx: &MountContext,
    index: usize,
    m: &Mount,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    let source = m.source().as_deref().unwrap_or(Path::new(""));
    let src = if source.is_relative() {
        ctx.bundle.join(source)
    } else {
        source.to_path_buf()
    };
    let mut tree = ctx.detached_sources.get(index).and_then(Option::as_ref);
    let asked;
    if tree.is_none() && super::idmap::detached_at_its_turn(m, ctx.bundle, ctx.rootfs) {
        asked = (ctx.source_at_its_turn)(index)?;
        tree = Some(&asked);
    }
    bind(ctx.root, &src, tree, dest, opts)
}

/// A filesystem of type `typ` mounted on `dest` (made if missing; procfs and sysfs only on
/// a real directory), a tmpfs with what it covers copied up where asked, sysfs bound from
/// the host where it can't be mounted. Returns `dest` where a tmpfs is to be made
/// read-only later.
fn mount_filesystem(
    ctx: &MountContext,
    typ: &str,
    source: &Path,
    dest: &Path,
    opts: &MountOptions,
    describe: &dyn Fn() -> String,
) -> Result<Option<PathBuf>> {
    let probed = ctx.root.probe_mount_point(dest).with_context(describe)?;
    // procfs and sysfs land only on a real directory: a symlink there (from the image
    // or a volume) would choose where they go (runc's CVE-2019-19921 defence). The
    // directory checked is the one opened and mounted on.
    if matches!(typ, "proc" | "sysfs") && matches!(probed, MountPoint::NotADir) {
        return Err(anyhow!(
            "{:?} cannot be mounted: {typ} must be mounted on ordinary directory",
            dest.display().to_string()
        ));
    }
    let (target, covered_mode) = mount_point(ctx.root, dest, probed)
        .with_context(|| format!("creating mount point {:?}", dest))?;
    let src = if source.as_os_str().is_empty() {
        Path::new(typ)
    } else {
        source
    };
    let data = crate::lsm::with_mount_label(&opts.data, typ, ctx.mount_label);
    let (data, mount_flags) = if typ == "tmpfs" {
        super::tmpfs::mount_arguments(covered_mode, &data, opts.flags)
    } else {
        (data, opts.flags)
    };
    let read_only_later =
        (opts.flags & libc::MS_RDONLY != mount_flags & libc::MS_RDONLY).then(|| dest.to_path_buf());
    // For tmpcopyup: the covered directory, readable after the tmpfs hides it.
    let covered = if typ == "tmpfs" && opts.tmpcopyup {
        Some(
            ctx.root
                .open_in_root(dest, libc::O_RDONLY | libc::O_DIRECTORY)
                .with_context(describe)?,
        )
    } else {
        None
    };
    let data = (!data.is_empty()).then_some(data.as_str());
    let result = mount(
        Some(src),
        &fd_path(&target),
        Some(typ),
        flags(mount_flags),
        data,
    );
    if result.is_ok()
        && let Some(covered) = covered
    {
        let fresh = ctx
            .root
            .open_in_root(dest, libc::O_RDONLY | libc::O_DIRECTORY)
            .with_context(describe)?;
        super::tmpfs::copy_up(&covered, &fresh).with_context(describe)?;
    }
    match result {
        Ok(()) => {}
        // sysfs can't be mounted without a network namespace of our own: bind the host's,
        // read-only where asked, as runc does.
        Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
            let fallback = MountOptions {
                flags: opts.flags | libc::MS_BIND | libc::MS_REC,
                ..Default::default()
            };
            bind(ctx.root, Path::new("/sys"), None, dest, &fallback).with_context(describe)?;
        }
        Err(e) => {
            return Err(anyhow!("{e}")).with_context(|| format!("{} (type {typ})", describe()));
        }
    }
    Ok(read_only_later)
}

/// The directory a filesystem is mounted on, as `probed` found `dest`, made if missing;
/// with the mode of a directory that was there before (a tmpfs takes it). Anything but a
/// directory is followed inside the root, as runc does: a symlink to a directory is
/// mounted on where it leads, one that leads nowhere gets its target made.
fn mount_point(
    root: &RootDir,
    dest: &Path,
    probed: MountPoint,
) -> std::io::Result<(OwnedFd, Option<u32>)> {
    match probed {
        MountPoint::Dir(fd, mode) => Ok((fd, Some(mode))),
        MountPoint::Missing => Ok((root.mkdir_missing(dest, 0o755)?, None)),
        MountPoint::NotADir => {
            let existed = root.open_in_root(dest, libc::O_PATH).is_ok();
            let target = root.mkdir_all(dest, 0o755)?;
            let mode = nix::sys::stat::fstat(&target)
                .map_err(std::io::Error::from)?
                .st_mode;
            Ok((target, existed.then_some(mode)))
        }
    }
}

/// Bind-mounts `src` (a host path, or `tree`, its detached copy) onto `dest` inside the
/// root, then applies the flags the bind itself ignores (ro, nosuid, ...) with a remount.
pub fn bind(
    root: &RootDir,
    src: &Path,
    tree: Option<&OwnedFd>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    let is_dir = match tree {
        Some(t) => nix::sys::stat::fstat(t)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .map_err(|e| anyhow!("source {}: {e}", src.display()))?,
        None => std::fs::metadata(src)
            .map_err(|e| anyhow!("source {}: {e}", src.display()))?
            .is_dir(),
    };
    let target = if is_dir {
        root.mkdir_all(dest, 0o755)?
    } else {
        root.create_file(dest, 0o644)?
    };
    bind_onto(src, tree, &target, || reopen(root, dest), opts)
}

/// [`bind`] onto a mount point already made and opened (`target`); `reopen` opens what
/// sits there once mounted.
pub fn bind_onto(
    src: &Path,
    tree: Option<&OwnedFd>,
    target: &OwnedFd,
    reopen: impl Fn() -> Result<OwnedFd>,
    opts: &MountOptions,
) -> Result<()> {
    match tree {
        Some(t) => crate::syscalls::move_mount_onto(t, target).map_err(|e| anyhow!("{e}"))?,
        None => bind_source_onto(
            BindSource::Path(src),
            opts.flags & libc::MS_REC != 0,
            target,
        )
        .map_err(|e| anyhow!("{e}"))?,
    }
    let mut extra = bind_extra_flags(opts.flags);
    if extra != 0 {
        let mounted = reopen()?;
        if tree.is_some() {
            // A tree rrun detached in a user namespace's mount namespace has the source's
            // flags locked there (a read-only source stays read-only, as runc's userns
            // tests require): kept, the remount is not first refused for clearing them.
            // An idmapped mount's tree from the host keeps them too.
            extra |= locked_flags(&mounted)?
                & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
        }
        remount_bind(&mounted, extra)?;
    }
    Ok(())
}

/// What a bind takes its copy from: a path on the host, or a file already opened.
pub enum BindSource<'a> {
    Path(&'a Path),
    Fd(&'a OwnedFd),
}

/// Binds `source` (all the mounts under it too with `recursive`) onto the opened
/// `target`: a detached copy of the source (open_tree) attached by move_mount, which
/// take both by their fds. mount(2) takes only paths, /proc/self/fd/N for an opened
/// file: a walk through procfs for each (~3 µs here, and a container's mounts make some
/// forty of them). The same checks apply either way (both copy the source as a bind
/// does). Kernels without open_tree (before 5.2) get mount(2), and so does a refusal
/// (EPERM): a seccomp profile older than open_tree may refuse it where it lets mount(2)
/// through (where the kernel refuses, mount(2) is refused the same way).
pub fn bind_source_onto(source: BindSource, recursive: bool, target: &OwnedFd) -> nix::Result<()> {
    let tree = match source {
        BindSource::Path(p) => crate::syscalls::open_tree_clone(p, recursive),
        BindSource::Fd(fd) => crate::syscalls::open_tree_clone_of(fd, recursive),
    };
    match tree {
        Ok(tree) => crate::syscalls::move_mount_onto(&tree, target).map_err(errno),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            let source = match source {
                BindSource::Path(p) => p.to_path_buf(),
                BindSource::Fd(fd) => fd_path(fd),
            };
            let rec = if recursive { libc::MS_REC } else { 0 };
            mount(
                Some(&source),
                &fd_path(target),
                None::<&str>,
                flags(libc::MS_BIND | rec),
                None::<&str>,
            )
        }
        Err(e) => Err(errno(e)),
    }
}

/// The errno of an io::Error, for messages worded as mount(2)'s (nix's "EPERM: ...").
fn errno(e: std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The flags a bind takes only from a remount after it (ro, nosuid, ...): a bind ignores them.
pub fn bind_extra_flags(flags: libc::c_ulong) -> libc::c_ulong {
    flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT)
}

/// Remounts a bind mount with extra flags, keeping the flags the kernel locks in a user
/// namespace (nosuid, nodev, noexec, atime) that we may not clear. First as one
/// mount_setattr on the fd (what the remount would do, with no /proc/self/fd/N to walk);
/// where that is refused (a kernel before 5.12, a locked flag), as a remount.
pub fn remount_bind(target: &OwnedFd, extra: libc::c_ulong) -> Result<()> {
    let (set, clear) = super::options::bind_remount_attrs(extra);
    if crate::syscalls::mount_setattr_one(target, set, clear).is_ok() {
        return Ok(());
    }
    let path = fd_path(target);
    let base = libc::MS_BIND | libc::MS_REMOUNT;
    match mount(
        None::<&str>,
        &path,
        None::<&str>,
        flags(base | extra),
        None::<&str>,
    ) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EPERM) => {
            let locked = locked_flags(target)?;
            mount(
                None::<&str>,
                &path,
                None::<&str>,
                flags(base | extra | locked),
                None::<&str>,
            )
            .map_err(|e| anyhow!("remounting: {e}"))
        }
        Err(e) => Err(anyhow!("remounting: {e}")),
    }
}

/// A read-only bind of the open file `source` onto `target` (readonlyPaths, masked
/// directories): the detached copy is made read-only, keeping the source's nosuid, nodev
/// and noexec, before it is attached, so the path is never writable through it and the
/// new mount needs no lookup. Where the kernel refuses a step (no open_tree or
/// mount_setattr, a seccomp profile's EPERM, a flag a user namespace locks), the copy is
/// attached as it is and remounted like any bind; `reopen` opens what then sits on
/// `target`.
pub fn bind_read_only(
    source: &OwnedFd,
    recursive: bool,
    target: &OwnedFd,
    reopen: impl Fn() -> Result<OwnedFd>,
) -> Result<()> {
    match crate::syscalls::open_tree_clone_of(source, recursive) {
        Ok(tree) => {
            let read_only = kept_flags(&tree).is_ok_and(|kept| {
                let (set, clear) = super::options::bind_remount_attrs(libc::MS_RDONLY | kept);
                crate::syscalls::mount_setattr_one(&tree, set, clear).is_ok()
            });
            crate::syscalls::move_mount_onto(&tree, target).map_err(|e| anyhow!("{e}"))?;
            if read_only {
                return Ok(());
            }
        }
        Err(_) => bind_source_onto(BindSource::Fd(source), recursive, target)
            .map_err(|e| anyhow!("{e}"))?,
    }
    remount_read_only(&reopen()?)
}

/// Makes the bind mount `mounted` read-only, keeping its nosuid, nodev and noexec as they
/// are (readonlyPaths, masked directories, a read-only tmpfs once filled).
pub fn remount_read_only(mounted: &OwnedFd) -> Result<()> {
    remount_bind(mounted, libc::MS_RDONLY | kept_flags(mounted)?)
}

/// Of the flags in effect on the mount of `fd`, those a read-only remount keeps: nosuid,
/// nodev, noexec.
pub fn kept_flags(fd: &OwnedFd) -> Result<libc::c_ulong> {
    Ok(locked_flags(fd)? & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC))
}

/// The mount flags currently in effect on the mount of `fd`, as mount(2) flags.
pub fn locked_flags(fd: &OwnedFd) -> Result<libc::c_ulong> {
    use nix::sys::statvfs::FsFlags;
    let st = nix::sys::statvfs::fstatvfs(fd)
        .map_err(|e| anyhow!("statvfs {}: {e}", fd_path(fd).display()))?;
    let f = st.flags();
    let mut out = 0;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, libc::MS_NOSUID),
        (FsFlags::ST_NODEV, libc::MS_NODEV),
        (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
        (FsFlags::ST_NOATIME, libc::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, libc::MS_NODIRATIME),
        // The kernel's ST_RELATIME (statfs.h); not every libc names it.
        (FsFlags::from_bits_retain(0x1000), libc::MS_RELATIME),
        (FsFlags::ST_RDONLY, libc::MS_RDONLY),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    Ok(out)
}

/// Opens the mount that now sits on `dest` (the fd taken before mounting points below it).
pub fn reopen(root: &RootDir, dest: &Path) -> Result<OwnedFd> {
    root.open_in_root(dest, libc::O_PATH)
        .with_context(|| format!("reopening {:?}", dest))
}

fn apply_propagation(root: &RootDir, dest: &Path, propagation: &[libc::c_ulong]) -> Result<()> {
    if propagation.is_empty() {
        return Ok(());
    }
    let target = reopen(root, dest)?;
    for p in propagation {
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            flags(*p),
            None::<&str>,
        )
        .map_err(|e| anyhow!("setting propagation: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(typ: &str, options: &[&str]) -> Mount {
        serde_json::from_value(serde_json::json!({
            "destination": "/x", "type": typ, "source": typ, "options": options,
        }))
        .unwrap()
    }

    #[test]
    fn only_the_kernels_own_empty_filesystems_are_pseudo_filesystems() {
        for (typ, options) in [
            ("proc", &[][..]),
            ("sysfs", &["nosuid", "ro"][..]),
            ("tmpfs", &["mode=755", "size=65536k"][..]),
            ("devpts", &["newinstance", "ptmxmode=0666"][..]),
            ("mqueue", &[][..]),
        ] {
            assert!(
                is_pseudo_filesystem(&entry(typ, options)),
                "{typ} {options:?}"
            );
        }
        for (typ, options) in [
            ("ext4", &[][..]),
            ("cgroup", &[][..]),
            ("bind", &["rbind"][..]),
            ("tmpfs", &["bind"][..]),
            ("tmpfs", &["tmpcopyup"][..]),
            ("proc", &["idmap"][..]),
            ("overlay", &[][..]),
        ] {
            assert!(
                !is_pseudo_filesystem(&entry(typ, options)),
                "{typ} {options:?}"
            );
        }
    }
}
