//! /dev inside the container: the standard device nodes, `linux.devices`, and the links
//! every program expects (/dev/fd, /dev/stdin, /dev/ptmx, ...).

use super::mount::{MountContext, bind};
use super::options::MountOptions;
use anyhow::{Context, Result, anyhow};
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// A device node to create: path inside the container, kind, numbers, permissions, owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices runc always provides.
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| DeviceNode {
        path: p.into(),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn from_spec(d: &LinuxDevice) -> Result<DeviceNode> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        other => {
            return Err(anyhow!(
                "linux.devices: {}: unsupported device type {other:?}",
                d.path().display()
            ));
        }
    };
    Ok(DeviceNode {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Creates one node. In a user namespace mknod is not allowed, so the host's node is
/// bind-mounted instead (as runc does): where the container has a user namespace, and
/// where rrun itself runs in one (under rootless Podman), which mknod's EPERM tells.
pub fn create(ctx: &MountContext, node: &DeviceNode, user_ns: bool) -> Result<()> {
    if user_ns {
        return bind_host_node(ctx, node);
    }
    let parent_path = node.path.parent().unwrap_or(Path::new("/"));
    let parent = ctx
        .root
        .mkdir_all(parent_path, 0o755)
        .with_context(|| describe(node))?;
    create_in(ctx, &parent, node)
}

/// /dev as runc fills it when the config doesn't bind one: the standard nodes and the
/// links (see [`create_links`]), with /dev opened (or made) once for all of them.
pub fn populate_dev(ctx: &MountContext, user_ns: bool) -> Result<()> {
    let dev = ctx
        .root
        .mkdir_all(Path::new("/dev"), 0o755)
        .context("creating /dev")?;
    for node in default_devices() {
        if user_ns {
            bind_host_node(ctx, &node)?;
        } else {
            create_in(ctx, &dev, &node)?;
        }
    }
    create_links(&dev)
}

fn describe(node: &DeviceNode) -> String {
    format!("creating device {}", node.path.display())
}

/// The host's node bound onto the container's path.
fn bind_host_node(ctx: &MountContext, node: &DeviceNode) -> Result<()> {
    let opts = MountOptions {
        flags: libc::MS_BIND,
        ..Default::default()
    };
    bind(ctx.root, &node.path, None, &node.path, &opts).with_context(|| describe(node))
}

/// [`create`] outside a user namespace of the container's own, in the node's directory,
/// open already (`parent`).
fn create_in(ctx: &MountContext, parent: &OwnedFd, node: &DeviceNode) -> Result<()> {
    let name = node
        .path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file path", node.path.display()))?;
    match mknodat(
        parent,
        name,
        node.kind,
        Mode::from_bits_truncate(node.mode),
        makedev(node.major, node.minor),
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::EEXIST) => return Ok(()),
        Err(nix::errno::Errno::EPERM) if crate::rootless::in_user_namespace() => {
            return bind_host_node(ctx, node);
        }
        Err(e) => return Err(anyhow!("{e}")).with_context(|| describe(node)),
    }
    nix::unistd::fchownat(
        parent,
        name,
        Some(node.uid.into()),
        Some(node.gid.into()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| anyhow!("chown: {e}"))
    .with_context(|| describe(node))
}

/// Links every container gets, like runc's: /dev/fd, std streams, /dev/core, /dev/ptmx,
/// made in `dev`, the container's /dev.
fn create_links(dev: &OwnedFd) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, dev, name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(anyhow!("creating symlink /dev/{name}: {e}")),
        }
    }
    // /dev/ptmx must be the one of the container's own devpts instance.
    let _ = nix::unistd::unlinkat(dev, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
    nix::unistd::symlinkat("pts/ptmx", dev, "ptmx")
        .map_err(|e| anyhow!("creating symlink /dev/ptmx: {e}"))
}

/// Stdio that is the host's /dev/null becomes the container's own, as runc does after
/// pivot_root: an fd into a mount the container doesn't have is one CRIU can't checkpoint
/// (and, as runc, a process sees one /dev/null). Nothing to do (and no error) when no
/// stdio is a null device, or the container has no /dev/null to open.
pub fn reopen_dev_null() -> Result<()> {
    use nix::sys::stat::fstat;
    let is_null = |st: &nix::sys::stat::FileStat| {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
            && st.st_rdev == makedev(1, 3)
    };
    let null_stdio: Vec<i32> = (0..3)
        .filter(|&fd| fstat(crate::syscalls::borrow_fd(fd)).is_ok_and(|st| is_null(&st)))
        .collect();
    if null_stdio.is_empty() {
        return Ok(());
    }
    let Ok(own) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return Ok(());
    };
    for fd in null_stdio {
        let done = match fd {
            0 => nix::unistd::dup2_stdin(&own),
            1 => nix::unistd::dup2_stdout(&own),
            _ => nix::unistd::dup2_stderr(&own),
        };
        done.map_err(|e| anyhow!("reopening /dev/null as fd {fd}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_convert() {
        let d: LinuxDevice = serde_json::from_str(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":8630,"uid":1,"gid":2}"#).unwrap();
        let n = from_spec(&d).unwrap();
        assert_eq!(
            (n.kind, n.major, n.minor, n.mode, n.uid, n.gid),
            (SFlag::S_IFCHR, 10, 229, 0o666, 1, 2)
        );
    }

    #[test]
    fn defaults_match_runc() {
        let names: Vec<_> = default_devices().into_iter().map(|d| d.path).collect();
        assert_eq!(names.len(), 6);
        assert!(names.contains(&PathBuf::from("/dev/tty")));
    }
}
