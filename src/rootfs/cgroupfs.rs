//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup.
//! On a unified host it is a cgroup2 mount; on v1 (and hybrid) hosts a tmpfs holding one
//! mount per hierarchy, each showing only the container's own cgroup.

use super::mount::{MountContext, bind, flags, reopen};
use super::options::MountOptions;
use super::secure::fd_path;
use crate::cgroups::{Hierarchy, host_hierarchies, is_unified_host};
use anyhow::{Result, anyhow};
use nix::mount::mount;
use std::path::{Path, PathBuf};

pub fn mount_cgroups(ctx: &MountContext, dest: &Path, opts: &MountOptions) -> Result<()> {
    let target = ctx.root.mkdir_all(dest, 0o755)?;
    let hierarchies = host_hierarchies()?;
    if is_unified_host() {
        let own = hierarchies.first().map(own_dir).unwrap_or_default();
        return mount_one(
            ctx,
            dest,
            "cgroup2",
            None,
            opts.flags,
            ctx.cgroup_paths.first().map(|p| p.as_path()),
            &own,
        );
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
    for h in hierarchies {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let host_dir = ctx
            .cgroup_paths
            .iter()
            .find(|p| p.starts_with(&h.mount_point))
            .map(|p| p.as_path());
        let (fstype, data) = if h.is_v2() {
            ("cgroup2", None)
        } else {
            ("cgroup", Some(h.controllers.join(",")))
        };
        mount_one(
            ctx,
            &sub,
            fstype,
            data.as_deref(),
            opts.flags,
            host_dir,
            &own_dir(h),
        )?;
        // A co-mounted hierarchy such as cpu,cpuacct is also reachable under each name.
        if h.controllers.len() > 1 {
            for c in &h.controllers {
                if c.as_str() != name.to_string_lossy() && !c.starts_with("name=") {
                    let link = ctx.root.mkdir_all(dest, 0o755)?;
                    let _ = nix::unistd::symlinkat(name, &link, c.as_str());
                }
            }
        }
    }
    if opts.flags & libc::MS_RDONLY != 0 {
        remount_read_only(ctx, dest, opts.flags)?;
    }
    Ok(())
}

/// The init's own cgroup in `h` where the container has none of its own there: the
/// caller's, which the init never left (a rootless container its user may not place).
fn own_dir(h: &Hierarchy) -> PathBuf {
    h.mount_point
        .join(crate::rootfs::secure::clean_relative(&h.own_cgroup))
}

/// In a cgroup namespace a fresh cgroup mount shows the container's cgroup as its root;
/// without one, bind the container's directory so it sees no more than that. Where the
/// container is in no cgroup of its own (rootless: not made, or a fresh mount refused in
/// a user namespace), its init's own cgroup `own` is bound instead, as runc does.
fn mount_one(
    ctx: &MountContext,
    sub: &Path,
    fstype: &str,
    data: Option<&str>,
    fl: libc::c_ulong,
    host_dir: Option<&Path>,
    own: &Path,
) -> Result<()> {
    let bind_opts = MountOptions {
        flags: libc::MS_BIND | libc::MS_REC | fl,
        ..Default::default()
    };
    let bind_own = || bind(ctx.root, own, None, sub, &bind_opts);
    match host_dir {
        Some(dir) if !ctx.cgroup_ns => match bind(ctx.root, dir, None, sub, &bind_opts) {
            Err(_) if !dir.exists() => bind_own(),
            other => other,
        },
        _ => {
            let target = ctx.root.mkdir_all(sub, 0o755)?;
            match mount(
                Some(fstype),
                &fd_path(&target),
                Some(fstype),
                flags(fl),
                data,
            ) {
                Ok(()) => Ok(()),
                // A user namespace's root may not mount cgroupfs (EPERM without a cgroup
                // namespace of its own; EBUSY, with one, where the host's cgroup2 mount
                // has other options): bind what it would have shown, as runc does.
                Err(nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY) => match host_dir {
                    Some(dir) if dir.exists() => bind(ctx.root, dir, None, sub, &bind_opts),
                    _ => bind_own(),
                },
                Err(e) => Err(anyhow!("{fstype} on {}: {e}", sub.display())),
            }
        }
    }
}

fn remount_read_only(ctx: &MountContext, dest: &Path, fl: libc::c_ulong) -> Result<()> {
    let target = reopen(ctx.root, dest)?;
    mount(
        None::<&str>,
        &fd_path(&target),
        None::<&str>,
        flags(libc::MS_REMOUNT | fl),
        None::<&str>,
    )
    .map_err(|e| anyhow!("remounting {} read-only: {e}", dest.display()))
}
