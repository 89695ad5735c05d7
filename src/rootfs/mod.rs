//! The container's root filesystem: mounts from config.json, /dev, pivot_root, and the
//! protections (masked and read-only paths, read-only root) applied before the user process.

pub mod cgroupfs;
pub mod devices;
pub mod idmap;
pub mod mount;
pub mod options;
pub mod paths;
pub mod secure;
pub mod tmpfs;

use anyhow::{Context, Result, anyhow};
use mount::{MountContext, flags};
use nix::mount::{MntFlags, mount as sys_mount, umount2};
use oci_spec::runtime::Spec;
use secure::RootDir;
use std::path::{Path, PathBuf};

pub struct RootfsPlan<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub user_ns: bool,
    pub cgroup_ns: bool,
    pub cgroup_paths: &'a [PathBuf],
    /// Bind and idmapped sources rrun detached (see mount::bind_sources_to_detach), by
    /// mount index.
    pub detached_sources: &'a [Option<std::os::fd::OwnedFd>],
    /// See `MountContext::cgroup_tree`.
    pub cgroup_tree: Option<&'a dyn Fn() -> Result<Option<std::os::fd::OwnedFd>>>,
    /// See `MountContext::source_at_its_turn`.
    pub source_at_its_turn: &'a dyn Fn(usize) -> Result<std::os::fd::OwnedFd>,
    /// The config lists no mount namespace: the container's mounts are made in the
    /// caller's, under the rootfs, and the root is changed with chroot.
    pub shares_host_mounts: bool,
}

/// Sets up everything below the rootfs while the host's filesystem is still visible:
/// propagation, the rootfs bind, each mount, /dev, and the working directory.
pub fn prepare(plan: &RootfsPlan) -> Result<()> {
    Build::begin(plan)?.finish()
}

/// [`prepare`] in steps, for an init that mounts what it can before it joins its cgroups
/// ([`Build::mount_pseudo_filesystems`]) and the rest after.
pub struct Build<'a> {
    plan: &'a RootfsPlan<'a>,
    root: RootDir,
    mounts: Vec<oci_spec::runtime::Mount>,
    /// The first of `mounts` not mounted yet.
    next: usize,
    read_only_later: Vec<PathBuf>,
}

impl<'a> Build<'a> {
    /// The root's propagation and the rootfs bind: nothing of the container yet.
    pub fn begin(plan: &'a RootfsPlan<'a>) -> Result<Self> {
        if !plan.shares_host_mounts {
            set_tree_propagation(plan)?;
        }
        sys_mount(
            Some(plan.rootfs),
            plan.rootfs,
            None::<&str>,
            flags(libc::MS_BIND | libc::MS_REC),
            None::<&str>,
        )
        .map_err(|e| anyhow!("bind-mounting rootfs {}: {e}", plan.rootfs.display()))?;
        if plan.shares_host_mounts {
            // In the caller's mount namespace the host's propagation stays as it is (runc
            // changes that of the host's `/`): only the rootfs bind, and every mount that
            // will be made under it, is private, so none of them reaches the host's peers.
            sys_mount(
                None::<&str>,
                plan.rootfs,
                None::<&str>,
                flags(libc::MS_PRIVATE | libc::MS_REC),
                None::<&str>,
            )
            .map_err(|e| anyhow!("making rootfs {} private: {e}", plan.rootfs.display()))?;
        }
        let root = RootDir::open(plan.rootfs)
            .with_context(|| format!("opening rootfs {}", plan.rootfs.display()))?;
        Ok(Build {
            plan,
            root,
            mounts: plan.spec.mounts().clone().unwrap_or_default(),
            next: 0,
            read_only_later: Vec::new(),
        })
    }

    fn context(&self) -> MountContext<'_> {
        let plan = self.plan;
        MountContext {
            bundle: plan.bundle,
            rootfs: plan.rootfs,
            root: &self.root,
            cgroup_ns: plan.cgroup_ns,
            cgroup_paths: plan.cgroup_paths,
            mount_label: plan
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref()),
            detached_sources: plan.detached_sources,
            cgroup_tree: plan.cgroup_tree,
            source_at_its_turn: plan.source_at_its_turn,
        }
    }

    /// The config's mounts in order, up to the first that is not one of the kernel's own
    /// filesystems ([`mount::is_pseudo_filesystem`]): what the init may mount before it is
    /// in its cgroups and before its device rules are written.
    pub fn mount_pseudo_filesystems(&mut self) -> Result<()> {
        while let Some(m) = self.mounts.get(self.next) {
            if !mount::is_pseudo_filesystem(m) {
                break;
            }
            self.mount_next()?;
        }
        Ok(())
    }

    fn mount_next(&mut self) -> Result<()> {
        let m = &self.mounts[self.next];
        let read_only = mount::mount_entry(&self.context(), self.next, m)?;
        self.read_only_later.extend(read_only);
        self.next += 1;
        Ok(())
    }

    /// /dev's standard nodes and links (unless /dev is a bind) and the config's devices.
    fn make_devices(&self) -> Result<()> {
        let ctx = self.context();
        let plan = self.plan;
        let dev_is_bound = self.mounts.iter().any(|m| {
            m.destination() == Path::new("/dev")
                && options::parse(m.options().as_deref().unwrap_or(&[])).is_bind()
        });
        if !dev_is_bound {
            devices::populate_dev(&ctx, plan.user_ns)?;
        }
        let linux = plan.spec.linux().as_ref();
        for d in linux.and_then(|l| l.devices().clone()).unwrap_or_default() {
            // As runc: /dev/ptmx is the link to the container's devpts, whatever the list says.
            if d.path() == Path::new("/dev/ptmx") {
                continue;
            }
            devices::create(&ctx, &devices::from_spec(&d)?, plan.user_ns)?;
        }
        Ok(())
    }

    /// The remaining mounts, /dev, the config's devices, the working directory, and the
    /// tmpfs mounts made read-only once filled.
    pub fn finish(mut self) -> Result<()> {
        // A last `cgroup` mount away from /dev may wait for rrun's tree
        // (cgroupfs::detached_tree): the device nodes first, as that mount can't change what
        // they are. Not where the devices are binds of the host's (a user namespace): the
        // container's mountinfo keeps the config's order, then the devices, as runc's.
        let last_is_cgroup_away_from_dev = self.mounts.last().is_some_and(|m| {
            m.typ().as_deref() == Some("cgroup")
                && !Path::new("/dev").starts_with(mount::destination(self.plan.rootfs, m))
        });
        let before_devices = if last_is_cgroup_away_from_dev && !self.plan.user_ns {
            self.mounts.len() - 1
        } else {
            self.mounts.len()
        };
        while self.next < before_devices {
            self.mount_next()?;
        }
        self.make_devices()?;
        while self.next < self.mounts.len() {
            self.mount_next()?;
        }
        let plan = self.plan;
        if let Some(process) = plan.spec.process() {
            self.root
                .mkdir_all(process.cwd(), 0o755)
                .with_context(|| format!("creating cwd {}", process.cwd().display()))?;
        }
        for dest in &self.read_only_later {
            let mounted = self
                .root
                .open_in_root(dest, libc::O_PATH)
                .with_context(|| format!("reopening {}", dest.display()))?;
            mount::remount_read_only(&mounted)
                .with_context(|| format!("making tmpfs {} read-only", dest.display()))?;
        }
        Ok(())
    }
}

/// The propagation of the container's whole mount tree, before anything is mounted: a
/// slave of the host's (or what the config asked for), so that its mounts don't leak back.
fn set_tree_propagation(plan: &RootfsPlan) -> Result<()> {
    let propagation = match requested_propagation(plan.spec) {
        // An unbindable tree could not even give the rootfs bind below: the container's
        // root becomes unbindable after pivot_root (set_root_propagation).
        Some(flag) if flag & libc::MS_UNBINDABLE != 0 => libc::MS_PRIVATE | (flag & libc::MS_REC),
        Some(flag) => flag,
        None => libc::MS_SLAVE | libc::MS_REC,
    };
    // Our mounts must not leak back to the host: make the whole tree a slave (or what the
    // config asked for) of the host's before touching anything.
    sys_mount(
        None::<&str>,
        "/",
        None::<&str>,
        flags(propagation),
        None::<&str>,
    )
    .map_err(|e| anyhow!("setting rootfs propagation: {e}"))?;
    if propagation & libc::MS_SHARED != 0 {
        // pivot_root refuses a new root whose parent mount is shared.
        make_rootfs_mount_private(plan.rootfs)?;
    }
    Ok(())
}

/// The mount a rootfs is on (the one with the longest mount point that holds it, the
/// topmost there): read before a container in the caller's mount namespace binds its
/// rootfs onto itself, so that [`detach_rootfs_bind`] can tell that bind from the rest.
pub fn mount_holding(rootfs: &Path) -> Result<u64> {
    let mounts = crate::procfs::mounts().context("reading /proc/self/mountinfo")?;
    holding(&mounts, rootfs)
        .map(|m| m.id)
        .ok_or_else(|| anyhow!("no mount holds rootfs {}", rootfs.display()))
}

/// The mount `path` is on: the one with the longest mount point that holds it, the topmost
/// of those stacked there (mountinfo lists a mount after the one it covers).
fn holding<'m>(
    mounts: &'m [crate::procfs::Mount],
    path: &Path,
) -> Option<&'m crate::procfs::Mount> {
    mounts
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
}

/// Detaches the rootfs bind of a container that shared the caller's mounts, and with it
/// every mount the container made under it: the topmost mount at `rootfs`, if it is
/// stacked right on `below` ([`mount_holding`], read before it was made). Anything else
/// there (the bind already gone, someone else's mount) is left alone.
pub fn detach_rootfs_bind(rootfs: &Path, below: u64) {
    let Ok(mounts) = crate::procfs::mounts() else {
        return;
    };
    let topmost = mounts.iter().rev().find(|m| m.mount_point == rootfs);
    if topmost.is_some_and(|m| m.parent == below) {
        let _ = umount2(rootfs, MntFlags::MNT_DETACH);
    }
}

/// Makes private the mount the rootfs is on: the rootfs itself where it is a mount point (an
/// engine's overlay), as runc does. The rootfs's bind onto itself is stacked on that mount,
/// which pivot_root refuses as the new root's parent if it is shared.
fn make_rootfs_mount_private(rootfs: &Path) -> Result<()> {
    let mounts = crate::procfs::mounts().context("reading mountinfo")?;
    let mount_point = holding(&mounts, rootfs)
        .map(|m| m.mount_point.clone())
        .unwrap_or_else(|| PathBuf::from("/"));
    sys_mount(
        None::<&str>,
        &mount_point,
        None::<&str>,
        flags(libc::MS_PRIVATE),
        None::<&str>,
    )
    .map_err(|e| anyhow!("making {} private: {e}", mount_point.display()))
}

/// Makes the rootfs the container's `/`. pivot_root with the old root stacked on the new
/// one, then detached: no directory is needed inside the rootfs for the old root.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        hide_full_proc_and_sys(rootfs)?;
        nix::unistd::chdir(rootfs).map_err(|e| anyhow!("chdir to rootfs: {e}"))?;
        sys_mount(
            Some(rootfs),
            "/",
            None::<&str>,
            flags(libc::MS_MOVE),
            None::<&str>,
        )
        .map_err(|e| anyhow!("moving rootfs to /: {e}"))?;
        nix::unistd::chroot(".").map_err(|e| anyhow!("chroot: {e}"))?;
        return nix::unistd::chdir("/").map_err(|e| anyhow!("chdir /: {e}"));
    }
    let old_root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("opening old root: {e}"))?;
    nix::unistd::chdir(rootfs).map_err(|e| anyhow!("chdir to rootfs: {e}"))?;
    crate::syscalls::pivot_root(Path::new("."), Path::new("."))
        .map_err(|e| anyhow!("pivot_root: {e}"))?;
    nix::unistd::fchdir(&old_root).map_err(|e| anyhow!("fchdir to old root: {e}"))?;
    // Unmounting the old root must not propagate to the host's mounts.
    sys_mount(
        None::<&str>,
        ".",
        None::<&str>,
        flags(libc::MS_SLAVE | libc::MS_REC),
        None::<&str>,
    )
    .map_err(|e| anyhow!("making old root slave: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| anyhow!("unmounting old root: {e}"))?;
    drop(old_root);
    nix::unistd::chdir("/").map_err(|e| anyhow!("chdir /: {e}"))
}

/// Before a --no-pivot chroot: the host's mounts stay in the namespace under the moved
/// root, and the kernel lets a new procfs or sysfs be mounted wherever a full one is
/// visible in the namespace, even out of the chroot's reach. So every full procfs and sysfs
/// outside the rootfs is detached (or covered with a tmpfs where it can't be), as runc does.
fn hide_full_proc_and_sys(rootfs: &Path) -> Result<()> {
    let info = crate::procfs::read("/proc/self/mountinfo").context("reading mountinfo")?;
    let targets: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = *fields.get(sep + 1)?;
            let (root, mount_point) = (*fields.get(3)?, PathBuf::from(fields.get(4)?));
            let full = root == "/" && matches!(fstype, "proc" | "sysfs");
            (full && !mount_point.starts_with(rootfs)).then_some(mount_point)
        })
        .collect();
    // Deepest first, so a mount is never detached before those inside it.
    for target in targets.iter().rev() {
        let slave = sys_mount(
            None::<&str>,
            target,
            None::<&str>,
            flags(libc::MS_SLAVE | libc::MS_REC),
            None::<&str>,
        );
        match slave {
            Ok(()) => {}
            // Gone with a parent already detached.
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(anyhow!("making {} slave: {e}", target.display())),
        }
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::EPERM) => {
                sys_mount(Some("tmpfs"), target, Some("tmpfs"), flags(0), None::<&str>)
                    .map_err(|e| anyhow!("covering {}: {e}", target.display()))?;
            }
            Err(e) => return Err(anyhow!("detaching {}: {e}", target.display())),
        }
    }
    Ok(())
}

/// `linux.rootfsPropagation` as mount flags, if set.
pub fn requested_propagation(spec: &Spec) -> Option<libc::c_ulong> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(options::propagation_flag)
}

/// After pivot_root, gives the container's root mount the propagation the config asked
/// for: pivot_root needs a private parent, so the new root came out private, and a
/// "shared" root must be shared again for the container's own bind mounts of `/` to see
/// its later mounts (runtime-tools linux_rootfs_propagation).
pub fn set_root_propagation(spec: &Spec) -> Result<()> {
    let Some(flag) = requested_propagation(spec) else {
        return Ok(());
    };
    sys_mount(None::<&str>, "/", None::<&str>, flags(flag), None::<&str>)
        .map_err(|e| anyhow!("linux.rootfsPropagation: applying it to the container's root: {e}"))
}

/// A path listed twice is protected once, as in runc (two masks would stack two mounts).
fn once_each(paths: &Option<Vec<String>>) -> Vec<&String> {
    let mut seen = std::collections::HashSet::new();
    paths
        .iter()
        .flatten()
        .filter(|p| seen.insert(p.as_str()))
        .collect()
}

/// After pivot_root: read-only and masked paths, then the read-only root.
pub fn protect(spec: &Spec) -> Result<()> {
    let root = RootDir::open(Path::new("/")).context("opening /")?;
    if let Some(linux) = spec.linux() {
        for p in once_each(linux.readonly_paths()) {
            paths::make_readonly(&root, p)?;
        }
        let mut masks = paths::Masks::default();
        for p in once_each(linux.masked_paths()) {
            masks.mask(&root, p)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        // By path, not through /proc/self/fd: the container may have no /proc.
        let root_dir = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| anyhow!("opening /: {e}"))?;
        let keep = mount::kept_flags(&root_dir)?;
        sys_mount(
            None::<&str>,
            "/",
            None::<&str>,
            flags(libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep),
            None::<&str>,
        )
        .map_err(|e| anyhow!("remounting / read-only: {e}"))?;
    }
    Ok(())
}
