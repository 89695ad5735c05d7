//! CVE-2019-5736 defence: a container process can reach rrun's binary through the
//! /proc/<pid>/exe of an rrun process inside the container (one joining it for `exec`; the
//! init, whose exe a `#!/proc/self/exe` entrypoint runs as the container's first process).
//! So `exec` first moves rrun onto a sealed view of its binary (in place where it may, else
//! by re-executing from it), and so does `create`, or, where it may move in place, it makes
//! the view and its init moves onto it once it has made its namespaces, as its parent read
//! how ([`move_onto_planned`]), before it joins anything or execs. That
//! link can never be opened for writing and is never the host's writable file.
//!
//! The sealed view is, as in runc 1.2, the binary seen through a private, detached,
//! read-only overlayfs mount (lower layers only: no write can get through, and no bytes are
//! copied). Where overlayfs or the new mount API is unavailable, a sealed memfd copy of the
//! binary (several MB written per call).
//!
//! With CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) the process moves onto the view in place
//! instead of executing it ([`in_place`]): the same result without a second process start.

mod in_place;

use anyhow::{Result, anyhow};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether the running binary is already sealed: a sealed memfd, or a file on a read-only
/// overlayfs (what [`sealed_overlay`] makes; an overlay install that is read-only is as
/// safe from writes).
pub fn running_sealed() -> bool {
    // A process's binary changes only with an exec, which starts this over, or when it
    // seals itself in place, which records it here.
    match SEALED.load(Ordering::Relaxed) {
        UNKNOWN => {
            let sealed = binary_is_sealed();
            SEALED.store(if sealed { YES } else { NO }, Ordering::Relaxed);
            sealed
        }
        state => state == YES,
    }
}

static SEALED: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const NO: u8 = 1;
const YES: u8 = 2;

fn binary_is_sealed() -> bool {
    let Ok(exe) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    if crate::syscalls::get_seals(exe.as_raw_fd()).is_ok_and(|s| s & SEALS == SEALS) {
        return true;
    }
    let on_overlay = nix::sys::statfs::fstatfs(&exe)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC);
    on_overlay
        && nix::sys::statvfs::fstatvfs(&exe)
            .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Whether the caller may write the binary it runs from (an ordinary user's own build,
/// say): then a container process that reaches /proc/<init>/exe could change it.
pub fn writable_by_caller() -> bool {
    !running_sealed()
        && nix::unistd::faccessat(
            nix::fcntl::AT_FDCWD,
            "/proc/self/exe",
            nix::unistd::AccessFlags::W_OK,
            nix::fcntl::AtFlags::AT_EACCESS,
        )
        .is_ok()
}

/// Moves onto the sealed view ([`ensure_sealed`]) unless no container of this caller could
/// write the binary anyway: what `create` and `run` do first (the `exec`
/// command seals without this exception, and `container::exec` calls this as a guard).
///
/// For `create` and `run`: the init is a clone of this process, so its /proc/<pid>/exe is
/// the file rrun runs from, and the container reaches that file before any of its
/// processes exist: an entrypoint that is a `#!/proc/self/exe` script (or an ELF whose
/// interpreter is that path) makes the kernel run it as the container's first process,
/// with arguments from the image. Such a process, or one it starts, could keep an fd of
/// the binary and write it once no rrun runs it. So, as runc runs its init from a sealed
/// copy, rrun moves onto its sealed view, and the init inherits that view. For
/// `exec`: container processes see the process once it joins them.
///
/// An ordinary user's container runs as that user or its subordinate ids: a binary the
/// user can't write is safe from it as it is.
pub fn seal_unless_out_of_reach(scratch: &Path) -> Result<()> {
    if !crate::rootless::euid_is_rootless() || writable_by_caller() {
        ensure_sealed(scratch)?;
    }
    Ok(())
}

/// Whether this process can move onto a sealed view in place ([`in_place`]): it holds
/// CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE and the kernel has PR_SET_MM_MAP. Where it can,
/// sealing never needs a second exec, so `create` may leave it to the init
/// ([`move_onto_planned`]), after the clone.
pub fn can_seal_in_place() -> bool {
    in_place::may_change_exe() && crate::syscalls::mm_map_size().is_ok()
}

/// A sealed view of the running binary, opened read-only: through the sealed overlayfs
/// mount, or a sealed memfd copy where that can't be made. Made by the parent for its
/// init to move onto ([`move_onto_planned`]), after the clone, and passed over: made by
/// the init beside its parent's cgroup work, the mount's dissolution waited ~150 us for an
/// RCU grace period; made before the clone, it delayed the init's namespaces.
/// The view holds its detached mount open: the mount's dissolution and, with the last
/// reference to the view, the end of the overlay's superblock each wait for an RCU grace
/// period, and the holder chooses when (`run`, once its container's process runs).
pub struct SealedView {
    file: std::fs::File,
    kind: in_place::View,
    /// Never read: held, and dropped with the view, which dissolves the mount.
    _mount: Option<OwnedFd>,
}

impl SealedView {
    /// The view's file, for another process ([`SealedView::received`]).
    pub fn file(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.file.as_fd()
    }

    /// Whether the view is a sealed copy of the binary, not the binary itself.
    pub fn is_copy(&self) -> bool {
        self.kind == in_place::View::Copy
    }

    /// The view another process made and passed over (its mount stays with that process).
    pub fn received(file: std::fs::File, copy: bool) -> Self {
        SealedView {
            file,
            kind: if copy {
                in_place::View::Copy
            } else {
                in_place::View::SameFile
            },
            _mount: None,
        }
    }
}

/// Makes the view; `scratch` as for [`ensure_sealed`].
pub fn sealed_view(scratch: &Path) -> Result<SealedView> {
    let view = match sealed_overlay(scratch) {
        Ok((file, mount)) => SealedView {
            file,
            kind: in_place::View::SameFile,
            _mount: Some(mount),
        },
        Err(e) => {
            crate::logging::debug(&format!("no overlayfs view of rrun ({e:#}): a sealed copy"));
            sealed_copy_view()?
        }
    };
    log_view_made(!view.is_copy());
    Ok(view)
}

/// Says with `--debug` that a sealed view was made, in runc's words, which runc's own tests
/// (and so those of a drop-in) look for. Sealing before the command line is read
/// ([`crate::commands::seal_before_parsing`]) happens before logging is set up, so it
/// goes unsaid.
fn log_view_made(through_overlay: bool) {
    if through_overlay {
        crate::logging::debug("runc exeseal: using overlayfs for sealed /proc/self/exe");
    }
    crate::logging::debug("runc exeseal: using /proc/self/exe clone");
}

fn sealed_copy_view() -> Result<SealedView> {
    Ok(SealedView {
        file: std::fs::File::from(sealed_copy()?),
        kind: in_place::View::Copy,
        _mount: None,
    })
}

/// Moves the running process onto `view` in place, never by a second exec (a cloned init
/// can't re-execute: its state is its parent's memory); from a sealed copy where the view
/// won't do. Needs what [`can_seal_in_place`] checks.
pub fn move_onto(view: &SealedView) -> Result<()> {
    if running_sealed() {
        return Ok(());
    }
    onto_view_or_copy(view, in_place::seal_in_place)
}

/// How a process moves onto a sealed view ([`move_onto_planned`]), read without moving:
/// `create` reads it for the init it cloned (the clone copied its mappings and memory
/// bounds), on its own CPU while the init makes its namespaces, and sends it over.
pub use in_place::Plan as MovePlan;

/// Reads the plan for moving onto `view`; see [`MovePlan`].
pub fn plan_move(view: &SealedView) -> Result<MovePlan> {
    in_place::plan(&view.file, view.kind)
}

/// [`move_onto`] with the plan read by a process with the same memory ([`plan_move`]);
/// from a sealed copy where the view won't do (the moves are the same for a copy).
pub fn move_onto_planned(view: &SealedView, plan: &MovePlan) -> Result<()> {
    onto_view_or_copy(view, |file, _| in_place::apply(plan, file))
}

/// Moves onto `view` with `move_to`, or, where that fails on the overlay's view, onto a
/// sealed copy made now; records that the process runs sealed.
fn onto_view_or_copy(
    view: &SealedView,
    move_to: impl Fn(&std::fs::File, in_place::View) -> Result<()>,
) -> Result<()> {
    if let Err(e) = move_to(&view.file, view.kind) {
        if view.kind == in_place::View::Copy {
            return Err(e);
        }
        crate::logging::debug(&format!("not sealed in place ({e:#}): from a sealed copy"));
        let copy = sealed_copy_view()?;
        move_to(&copy.file, copy.kind)?;
    }
    SEALED.store(YES, Ordering::Relaxed);
    Ok(())
}

/// Makes the running rrun run from a sealed view of its binary: moves onto it in place
/// where it may ([`in_place`]), else re-executes from it with the same arguments and
/// environment (and then returns only in the new process). `scratch` is an existing directory
/// (the state root) for overlayfs's second lower layer, which may not contain or be inside
/// the binary's directory: /run or /dev serve when it does.
pub fn ensure_sealed(scratch: &Path) -> Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let (sealed, through_overlay) = match sealed_overlay(scratch) {
        // The mount dissolves here: the process's mappings and exe link hold the view.
        Ok((view, _mount)) => match in_place::seal_in_place(&view, in_place::View::SameFile) {
            Ok(()) => {
                log_view_made(true);
                SEALED.store(YES, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => {
                crate::logging::debug(&format!(
                    "not sealed in place ({e:#}): re-executing from the sealed view"
                ));
                (OwnedFd::from(view), true)
            }
        },
        Err(e) => {
            crate::logging::debug(&format!("no overlayfs view of rrun ({e}): copying it"));
            (sealed_copy()?, false)
        }
    };
    log_view_made(through_overlay);
    let args: Vec<CString> = crate::args::args_os()
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    Err(anyhow!(
        "re-executing from the sealed binary: {}",
        crate::syscalls::fexecve(sealed.as_raw_fd(), &args, &env)
    ))
}

/// The binary opened through a detached read-only overlayfs whose top layer is its
/// directory: nothing to copy, and nothing opened through it can write the binary.
/// Opened for reading (not O_PATH): it is mapped, and becomes the exe link, in place.
/// Returned with the detached mount's fd, whose closing dissolves the mount.
fn sealed_overlay(scratch: &Path) -> Result<(std::fs::File, OwnedFd)> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(anyhow!("{} has no directory", exe.display()));
    };
    // Lower layers are separated by ':'; a ':' or '\' inside a path is escaped.
    let escape = |p: &Path| {
        String::from_utf8_lossy(p.as_os_str().as_bytes())
            .replace('\\', "\\\\")
            .replace(':', "\\:")
    };
    // Layers may not contain one another: the first candidate apart from the binary's.
    let scratch = [scratch, Path::new("/run"), Path::new("/dev")]
        .into_iter()
        .find(|s| s.is_dir() && !s.starts_with(dir) && !dir.starts_with(s))
        .ok_or_else(|| anyhow!("no directory apart from {} for overlayfs", dir.display()))?;
    let ctx = crate::syscalls::fsopen("overlay")?;
    // Two lower layers and no upper one make the mount read-only for good; the binary's
    // directory on top, so that nothing in `scratch` can hide it.
    let lower = format!("{}:{}", escape(dir), escape(scratch));
    crate::syscalls::fsconfig_set_string(&ctx, "lowerdir", &lower)?;
    // Opportunistic: avoids kernel log noise when the two layers are on different filesystems.
    let _ = crate::syscalls::fsconfig_set_string(&ctx, "xino", "off");
    const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 4;
    let mnt = crate::syscalls::fsmount_created(
        &ctx,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )?;
    let fd = nix::fcntl::openat(
        &mnt,
        name,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    Ok((std::fs::File::from(fd), mnt))
}

/// A sealed in-memory copy of the binary.
fn sealed_copy() -> Result<OwnedFd> {
    let mut exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| anyhow!("opening /proc/self/exe: {e}"))?;
    let memfd = crate::syscalls::memfd_create("rrun").map_err(|e| anyhow!("memfd_create: {e}"))?;
    let mut copy = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut copy).map_err(|e| anyhow!("copying rrun into a memfd: {e}"))?;
    crate::syscalls::add_seals(copy.as_raw_fd(), SEALS)
        .map_err(|e| anyhow!("sealing the rrun copy: {e}"))?;
    Ok(OwnedFd::from(copy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_copy_is_the_binary_and_sealed_against_writes() {
        let copy = sealed_copy().unwrap();
        let seals = crate::syscalls::get_seals(copy.as_raw_fd()).unwrap();
        assert_eq!(seals & SEALS, SEALS);
        let path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read("/proc/self/exe").unwrap()
        );
        let written = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
        assert_eq!(written.unwrap_err().raw_os_error(), Some(libc::EPERM));
    }
}
