//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root and before the
//! user process runs, so it never sees the unprotected files.

use super::mount::{BindSource, bind_read_only, bind_source_onto, flags};
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

/// Masks paths one after another. Directories share one empty read-only tmpfs, as in
/// runc: the first gets it, the others a read-only bind of it (one tmpfs, not one each).
/// Files share the container's /dev/null, opened and checked once.
#[derive(Default)]
pub struct Masks {
    empty_dir: Option<std::os::fd::OwnedFd>,
    null: Option<std::os::fd::OwnedFd>,
}

impl Masks {
    /// Hides a path: a directory behind the empty tmpfs, anything else behind /dev/null.
    pub fn mask(&mut self, root: &RootDir, path: &str) -> Result<()> {
        let Some(fd) = open_existing(root, path)? else {
            return Ok(());
        };
        let is_dir = nix::sys::stat::fstat(&fd)
            .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(false);
        let masked = |e| anyhow!("masking {path}: {e}");
        if !is_dir {
            let null = match self.null.take() {
                Some(null) => null,
                None => open_null_device(root)?,
            };
            let bound = bind_source_onto(BindSource::Fd(&null), false, &fd).map_err(masked);
            self.null = Some(null);
            return bound;
        }
        match &self.empty_dir {
            Some(empty) => bind_read_only(empty, false, &fd, || reopen(root, path))
                .map_err(|e| anyhow!("masking {path}: {e}")),
            None => {
                mount(
                    Some("tmpfs"),
                    &fd_path(&fd),
                    Some("tmpfs"),
                    flags(libc::MS_RDONLY),
                    None::<&str>,
                )
                .map_err(masked)?;
                self.empty_dir = open_existing(root, path)?;
                Ok(())
            }
        }
    }
}

/// Makes a path read-only with a bind mount of itself.
pub fn make_readonly(root: &RootDir, path: &str) -> Result<()> {
    let Some(fd) = open_existing(root, path)? else {
        return Ok(());
    };
    bind_read_only(&fd, true, &fd, || reopen(root, path))
        .map_err(|e| anyhow!("making {path} read-only: {e}"))
}

/// What sits on `path` once a mount was made there.
fn reopen(root: &RootDir, path: &str) -> Result<std::os::fd::OwnedFd> {
    open_existing(root, path)?.ok_or_else(|| anyhow!("{path} vanished"))
}

/// The container's /dev/null, checked to be the real null device: a rootfs that replaces
/// it with a symlink or another file must not choose what masks a path (the 2025 runc
/// advisories on maskedPaths).
fn open_null_device(root: &RootDir) -> Result<std::os::fd::OwnedFd> {
    let dev = root
        .open_in_root(Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| anyhow!("opening /dev: {e}"))?;
    let fd = crate::syscalls::openat2(
        std::os::fd::AsRawFd::as_raw_fd(&dev),
        Path::new("null"),
        libc::O_PATH,
        0,
        crate::syscalls::RESOLVE_NO_SYMLINKS,
    )
    .map_err(|e| anyhow!("/dev/null: {e} (it must be the null device, not a link)"))?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| anyhow!("/dev/null: {e}"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(anyhow!(
            "/dev/null is not the null device; refusing to use it to mask paths"
        ));
    }
    Ok(fd)
}
