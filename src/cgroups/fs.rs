//! The host's cgroup files, reached from one directory fd of /sys/fs/cgroup instead of by
//! their absolute paths.
//!
//! Why: /sys is sysfs, and a path walk through it takes sysfs's kernfs lock (to read) at
//! each of `fs` and `cgroup`. A new network namespace registers its loopback device in
//! sysfs under the same lock (to write), and its end removes it again, under the
//! rtnl lock every new network namespace waits for. A container's life made about sixty
//! such walks (its cgroups made, joined, limited, listed and removed in each of nine v1
//! hierarchies), so in a burst of containers they queued behind one another's
//! loopback devices (docs/performance.md). Opened once, the walk through sysfs happens
//! once per rrun process; the rest of each path is the cgroup filesystems' own.
//!
//! Every function takes the absolute path a caller would have used, and names it in its
//! errors as before. A path outside /sys/fs/cgroup, or a process that could not open it,
//! or one that has [`release`]d it, uses the absolute path: the same file, found the
//! old way.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

const ROOT: &str = "/sys/fs/cgroup";
const UNOPENED: i32 = -1;
/// Not open and never to be opened again in this process (released, or unopenable).
const NONE: i32 = -2;

static ROOT_FD: AtomicI32 = AtomicI32::new(UNOPENED);

fn root() -> Option<BorrowedFd<'static>> {
    let mut fd = ROOT_FD.load(Ordering::Acquire);
    if fd == UNOPENED {
        let opened = nix::fcntl::open(
            ROOT,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_or(NONE, IntoRawFd::into_raw_fd);
        fd = match ROOT_FD.compare_exchange(UNOPENED, opened, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => opened,
            Err(other) => {
                // Another thread (a hook's output reader, say) opened it first: ours goes.
                if opened >= 0 {
                    drop(crate::syscalls::own_fd(opened));
                }
                other
            }
        };
    }
    // The fd stays open until `release`, which only a single-threaded process calls.
    (fd >= 0).then(|| crate::syscalls::borrow_fd(fd))
}

/// Closes the fd for good: the container's init and `exec`'s process call it once they
/// have joined their cgroups, so that nothing of the host's stays open in a process that
/// lives in the container (the fd is close-on-exec too). Later calls use absolute paths.
pub fn release() {
    let fd = ROOT_FD.swap(NONE, Ordering::AcqRel);
    if fd >= 0 {
        // Opened by `root` and owned by this module alone.
        drop(crate::syscalls::own_fd(fd));
    }
}

/// The directory fd and the path to use with it for `path`.
fn at(path: &Path) -> (BorrowedFd<'static>, &Path) {
    if let Ok(inner) = path.strip_prefix(ROOT)
        && !inner.as_os_str().is_empty()
        && let Some(fd) = root()
    {
        return (fd, inner);
    }
    (nix::fcntl::AT_FDCWD, path)
}

pub fn open(path: &Path, flags: nix::fcntl::OFlag) -> io::Result<OwnedFd> {
    let (dir, inner) = at(path);
    nix::fcntl::openat(
        dir,
        inner,
        flags | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// An existing file opened for writing (never created: a missing cgroup file means the
/// controller is not there).
pub fn open_for_writing(path: &Path) -> io::Result<std::fs::File> {
    open(path, nix::fcntl::OFlag::O_WRONLY).map(std::fs::File::from)
}

/// Writes `data` to an existing file in one write(2): cgroup files take a write whole.
pub fn write(path: &Path, data: impl AsRef<[u8]>) -> io::Result<()> {
    std::io::Write::write_all(&mut open_for_writing(path)?, data.as_ref())
}

pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::from(open(path, nix::fcntl::OFlag::O_RDONLY)?);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)?;
    Ok(text)
}

pub fn exists(path: &Path) -> bool {
    let (dir, inner) = at(path);
    nix::unistd::faccessat(
        dir,
        inner,
        nix::unistd::AccessFlags::F_OK,
        nix::fcntl::AtFlags::empty(),
    )
    .is_ok()
}

pub fn create_dir(path: &Path) -> io::Result<()> {
    let (dir, inner) = at(path);
    nix::sys::stat::mkdirat(dir, inner, nix::sys::stat::Mode::from_bits_truncate(0o777))
        .map_err(io::Error::from)
}

pub fn remove_dir(path: &Path) -> io::Result<()> {
    let (dir, inner) = at(path);
    nix::unistd::unlinkat(dir, inner, nix::unistd::UnlinkatFlags::RemoveDir)
        .map_err(io::Error::from)
}

/// Gives `path` (not following a last symlink) to the user `uid`, its group unchanged.
pub fn chown(path: &Path, uid: u32) -> io::Result<()> {
    let (dir, inner) = at(path);
    nix::unistd::fchownat(
        dir,
        inner,
        Some(nix::unistd::Uid::from_raw(uid)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// A detached copy of the cgroup directory at `path` and the mounts below it
/// ([`crate::syscalls::open_tree_clone`]).
pub fn open_tree_clone(path: &Path) -> io::Result<OwnedFd> {
    let (dir, inner) = at(path);
    crate::syscalls::open_tree_clone_in(dir, inner, true)
}

/// The link count of a directory: 2 plus its subdirectories.
pub fn link_count(path: &Path) -> io::Result<u64> {
    let (dir, inner) = at(path);
    nix::sys::stat::fstatat(dir, inner, nix::fcntl::AtFlags::empty())
        .map(|st| st.st_nlink)
        .map_err(io::Error::from)
}

/// The type of the filesystem at `path` (following a last symlink, as statfs(2) does).
pub fn filesystem_type(path: &Path) -> Option<nix::sys::statfs::FsType> {
    if path == Path::new(ROOT)
        && let Some(fd) = root()
    {
        return nix::sys::statfs::fstatfs(fd)
            .ok()
            .map(|s| s.filesystem_type());
    }
    let dir = open(path, nix::fcntl::OFlag::O_PATH).ok()?;
    nix::sys::statfs::fstatfs(dir.as_fd())
        .ok()
        .map(|s| s.filesystem_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_root_are_taken_from_its_fd_and_others_as_they_are() {
        let (_, inner) = at(Path::new("/sys/fs/cgroup/memory/a/tasks"));
        if root().is_some() {
            assert_eq!(inner, Path::new("memory/a/tasks"));
        }
        let (dir, inner) = at(Path::new("/sys/fs/cgroupx/memory"));
        assert_eq!(inner, Path::new("/sys/fs/cgroupx/memory"));
        assert_eq!(std::os::fd::AsRawFd::as_raw_fd(&dir), nix::libc::AT_FDCWD);
        let (_, inner) = at(Path::new(ROOT));
        assert_eq!(inner, Path::new(ROOT));
    }
}
