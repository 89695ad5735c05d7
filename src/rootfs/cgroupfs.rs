//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup.
//! On a unified host it is a cgroup2 mount; on v1 (and hybrid) hosts a tmpfs holding one
//! mount per hierarchy, each showing only the container's own cgroup.

use super::mount::{MountContext, bind, flags, reopen};
use super::options::MountOptions;
use super::secure::fd_path;
use crate::cgroups::{host_hierarchies, is_unified_host};
use anyhow::{Result, anyhow};
use nix::mount::mount;
use std::path::Path;

pub fn mount_cgroups(ctx: &MountContext, dest: &Path, opts: &MountOptions) -> Result<()> {
    let target = ctx.root.mkdir_all(dest, 0o755)?;
    if is_unified_host() {
        return mount_one(
            ctx,
            dest,
            "cgroup2",
            None,
            opts.flags,
            ctx.cgroup_paths.first().map(|p| p.as_path()),
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
    for h in host_hierarchies()? {
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
        mount_one(ctx, &sub, fstype, data.as_deref(), opts.flags, host_dir)?;
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

/// In a cgroup namespace a fresh cgroup mount shows the container's cgroup as its root;
/// without one, bind the container's directory so it sees no more than that.
fn mount_one(
    ctx: &MountContext,
    sub: &Path,
    fstype: &str,
    data: Option<&str>,
    fl: libc::c_ulong,
    host_dir: Option<&Path>,
) -> Result<()> {
    if ctx.cgroup_ns || host_dir.is_none() {
        let target = ctx.root.mkdir_all(sub, 0o755)?;
        mount(
            Some(fstype),
            &fd_path(&target),
            Some(fstype),
            flags(fl),
            data,
        )
        .map_err(|e| anyhow!("{fstype} on {}: {e}", sub.display()))
    } else {
        let bind_opts = MountOptions {
            flags: libc::MS_BIND | libc::MS_REC | fl,
            ..Default::default()
        };
        bind(
            ctx.root,
            host_dir.unwrap_or(Path::new("/")),
            None,
            sub,
            &bind_opts,
        )
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
