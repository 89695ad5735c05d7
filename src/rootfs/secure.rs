//! Opening and creating paths *inside* the container's rootfs without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT): a symlink in the rootfs that points
//! to `/` or `../..` resolves to the rootfs itself, never to the host. Mounts then target
//! the opened file (by its fd with move_mount and mount_setattr, or through
//! `/proc/self/fd/N` with mount(2)), so a path swapped after the check can't redirect them
//! (the mount-destination race of CVE-2021-30465).

use crate::syscalls::{RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

pub struct RootDir {
    fd: OwnedFd,
}

/// What [`RootDir::probe_mount_point`] found.
pub enum MountPoint {
    /// A directory, not a symlink to one: its O_PATH fd and its mode.
    Dir(OwnedFd, u32),
    Missing,
    /// A symlink (to anything), a file, a device...
    NotADir,
}

/// The path through which the kernel reaches an open file: mount(2) and friends accept it.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `path` made relative, with `.` dropped and `..` applied lexically (never above the root).
pub fn clean_relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

impl RootDir {
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = openat2(libc::AT_FDCWD, path, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
        Ok(RootDir { fd })
    }

    /// Opens `path` (read as relative to the rootfs) with symlinks resolved inside the root.
    pub fn open_in_root(&self, path: &Path, flags: i32) -> io::Result<OwnedFd> {
        let rel = clean_relative(path);
        let rel = if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel
        };
        openat2(
            self.fd.as_raw_fd(),
            &rel,
            flags,
            0,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )
    }

    /// What sits at `path` itself (its last component not followed): a directory (opened,
    /// with its mode), nothing, or something else (a symlink, a file). One lookup serves a
    /// mount point's checks and the mount: the directory checked is the one mounted on.
    pub fn probe_mount_point(&self, path: &Path) -> io::Result<MountPoint> {
        match self.open_in_root(path, libc::O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => {
                let st = nix::sys::stat::fstat(&fd).map_err(io::Error::from)?;
                Ok(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    MountPoint::Dir(fd, st.st_mode)
                } else {
                    MountPoint::NotADir
                })
            }
            Err(e) if errno(&e) == libc::ENOENT => Ok(MountPoint::Missing),
            Err(e) => Err(e),
        }
    }

    /// Creates every missing directory of `path` inside the root; returns an O_PATH fd of it.
    /// The whole path is tried first: it usually exists, or only its last part is missing,
    /// so the walk up towards the root is taken only as far as needed.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        let rel = clean_relative(path);
        match self.open_in_root(&rel, libc::O_PATH | libc::O_DIRECTORY) {
            Err(e) if errno(&e) == libc::ENOENT => self.mkdir_missing(&rel, mode),
            found => found,
        }
    }

    /// [`Self::mkdir_all`] of a path just found missing: its lookup is not made again.
    pub fn mkdir_missing(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        let rel = clean_relative(path);
        let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return self.open_in_root(&rel, dir_flags);
        };
        let parent_fd = self.mkdir_all(parent, mode)?;
        match nix::sys::stat::mkdirat(
            &parent_fd,
            name,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        ) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        match self.open_in_root(&rel, dir_flags) {
            // The name exists and still leads nowhere: a symlink whose target is missing.
            // Make what it points to (only then is the path walked link by link).
            Err(e) if errno(&e) == libc::ENOENT => {
                let resolved = self.without_symlinks(&rel)?;
                if resolved == rel {
                    return Err(e);
                }
                self.mkdir_all(&resolved, mode)
            }
            found => found,
        }
    }

    /// `rel` with every symlink among its existing components replaced by its target, read
    /// as inside the root (an absolute target from the root, `..` never above it), as far
    /// as the components exist: what a dangling symlink points to can then be created, as
    /// runc creates mount points through them. At most 40 links, like the kernel.
    fn without_symlinks(&self, rel: &Path) -> io::Result<PathBuf> {
        let mut path = rel.to_path_buf();
        'restart: for _ in 0..40 {
            let mut prefix = PathBuf::new();
            let components: Vec<_> = path.components().collect();
            for (i, c) in components.iter().enumerate() {
                prefix.push(c);
                let fd = match self.open_in_root(&prefix, libc::O_PATH | libc::O_NOFOLLOW) {
                    Ok(fd) => fd,
                    Err(e) if errno(&e) == libc::ENOENT => return Ok(path),
                    Err(e) => return Err(e),
                };
                let st = nix::sys::stat::fstat(&fd).map_err(io::Error::from)?;
                if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                    continue;
                }
                let target = nix::fcntl::readlinkat(&fd, "").map_err(io::Error::from)?;
                let base = if Path::new(&target).is_absolute() {
                    PathBuf::from("/")
                } else {
                    Path::new("/").join(prefix.parent().unwrap_or(Path::new("")))
                };
                let mut next = base.join(target);
                for rest in &components[i + 1..] {
                    next.push(rest);
                }
                path = clean_relative(&next);
                continue 'restart;
            }
            return Ok(path);
        }
        Err(io::Error::from_raw_os_error(libc::ELOOP))
    }

    /// Makes sure a regular file (or any non-directory) exists at `path`; returns an O_PATH fd.
    pub fn create_file(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        match self.open_in_root(path, libc::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(e) if errno(&e) != libc::ENOENT => return Err(e),
            Err(_) => {}
        }
        let rel = clean_relative(path);
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new("")), 0o755)?;
        let Some(name) = rel.file_name() else {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        };
        match nix::fcntl::openat(
            &parent,
            name,
            nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_EXCL
                | nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        ) {
            Ok(fd) => drop(fd),
            // A name is there: a file made meanwhile, or a symlink whose target is missing,
            // whose target is then made (the path walked link by link only in that case).
            Err(nix::errno::Errno::EEXIST) => {
                if let Err(e) = self.open_in_root(path, libc::O_PATH)
                    && errno(&e) == libc::ENOENT
                {
                    let resolved = self.without_symlinks(&rel)?;
                    if resolved == rel {
                        return Err(e);
                    }
                    return self.create_file(&resolved, mode);
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.open_in_root(path, libc::O_PATH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn cleans_paths_lexically() {
        assert_eq!(
            clean_relative(Path::new("/a/./b/../c")),
            PathBuf::from("a/c")
        );
        assert_eq!(
            clean_relative(Path::new("/../../etc")),
            PathBuf::from("etc")
        );
    }

    #[test]
    fn mount_points_are_probed_without_following_their_last_component() {
        let base = std::env::temp_dir().join(format!("rrun-probe-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        symlink("/dir", root.join("link")).unwrap();
        symlink("/", root.join("up")).unwrap();
        let r = RootDir::open(&root).unwrap();
        let kind = |p: &str| match r.probe_mount_point(Path::new(p)).unwrap() {
            MountPoint::Dir(..) => "dir",
            MountPoint::Missing => "missing",
            MountPoint::NotADir => "other",
        };
        assert_eq!(
            ["/dir", "/up/dir", "/link", "/file", "/none", "/up/none"].map(kind),
            ["dir", "dir", "other", "other", "missing", "missing"]
        );
        // What was found missing is made, through a link in the middle, inside the root.
        r.mkdir_missing(Path::new("/up/none/deeper"), 0o755)
            .unwrap();
        assert!(root.join("none/deeper").is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn symlinks_resolve_inside_root() {
        let base = std::env::temp_dir().join(format!("rrun-secure-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        symlink("/", root.join("escape")).unwrap();
        symlink("../../..", root.join("up")).unwrap();
        let r = RootDir::open(&root).unwrap();
        // Creating through a symlink to "/" must land inside the root, not on the host.
        r.mkdir_all(Path::new("/escape/rrun-made-this"), 0o755)
            .unwrap();
        assert!(root.join("rrun-made-this").is_dir());
        // Several missing levels, through a symlink, then the same path again.
        r.mkdir_all(Path::new("/escape/a/b/c"), 0o755).unwrap();
        assert!(root.join("a/b/c").is_dir());
        r.mkdir_all(Path::new("a/b/c"), 0o755).unwrap();
        std::fs::write(root.join("a/file"), "").unwrap();
        assert_eq!(
            r.mkdir_all(Path::new("a/file/d"), 0o755)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTDIR)
        );
        r.create_file(Path::new("/up/file"), 0o644).unwrap();
        assert!(root.join("file").is_file());
        // Through dangling links, absolute and relative: their targets are made, inside.
        symlink("/tmp/foo/bar", root.join("jump")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/jump/baz/hosts", root.join("etc/hosts")).unwrap();
        r.create_file(Path::new("/etc/hosts"), 0o644).unwrap();
        assert!(root.join("tmp/foo/bar/baz/hosts").is_file());
        symlink("../made-dir", root.join("etc/dirlink")).unwrap();
        r.mkdir_all(Path::new("/etc/dirlink/sub"), 0o755).unwrap();
        assert!(root.join("made-dir/sub").is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
