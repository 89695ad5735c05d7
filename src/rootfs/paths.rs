//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root and before the
//! user process runs, so it never sees the unprotected files.

use super::mount::{flags, locked_flags, remount_bind};
use super::secure::{RootDir, fd_path};
use anyhow::{Result, anyhow};
use nix::mount::mount;
use std::path::Path;

fn open_existing(root: &RootDir, path: &str) -> Result<Option<std::os::fd::OwnedFd>> {
    match root.open_in_root(Path::new(path), libc::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(anyhow!("opening {path}: {e}")),
    }
}

/// Hides a path: a directory gets an empty read-only tmpfs, anything else /dev/null.
pub fn mask(root: &RootDir, path: &str) -> Result<()> {
    let Some(fd) = open_existing(root, path)? else {
        return Ok(());
    };
    let is_dir = nix::sys::stat::fstat(&fd)
        .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .unwrap_or(false);
    let target = fd_path(&fd);
    let result = if is_dir {
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            flags(libc::MS_RDONLY),
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            &target,
            None::<&str>,
            flags(libc::MS_BIND),
            None::<&str>,
        )
    };
    result.map_err(|e| anyhow!("masking {path}: {e}"))
}

/// Makes a path read-only with a bind mount of itself.
pub fn make_readonly(root: &RootDir, path: &str) -> Result<()> {
    let Some(fd) = open_existing(root, path)? else {
        return Ok(());
    };
    mount(
        Some(&fd_path(&fd)),
        &fd_path(&fd),
        None::<&str>,
        flags(libc::MS_BIND | libc::MS_REC),
        None::<&str>,
    )
    .map_err(|e| anyhow!("making {path} read-only: {e}"))?;
    let mounted = open_existing(root, path)?.ok_or_else(|| anyhow!("{path} vanished"))?;
    // Keep nosuid/nodev/noexec as they were; add read-only.
    let keep =
        locked_flags(&fd_path(&mounted))? & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    remount_bind(&mounted, libc::MS_RDONLY | keep)
        .map_err(|e| anyhow!("making {path} read-only: {e}"))
}
