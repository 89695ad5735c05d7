//! tmpfs mounts as runc makes them: the tmpfs takes the mode of the directory it covers
//! unless `mode=` says otherwise (runc#3952); a read-only one is mounted writable and made
//! read-only once everything below it exists (a read-only /dev still gets its device
//! nodes); `tmpcopyup` starts it with a copy of what that directory held.

use anyhow::{Result, anyhow};
use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, fchmodat, fstatat, mkdirat};
use std::os::fd::{AsFd, OwnedFd};

/// The data and flags to mount with: `mode=` from the covered directory when not given
/// and the directory was there before rrun (`covered_mode`; one rrun made keeps tmpfs's
/// own 1777, runc#4971), and without `ro` (the caller remounts read-only later, see the
/// module doc).
pub fn mount_arguments(
    covered_mode: Option<u32>,
    data: &str,
    flags: libc::c_ulong,
) -> (String, libc::c_ulong) {
    let has_mode = data.split(',').any(|o| o.starts_with("mode="));
    let data = match covered_mode {
        Some(covered_mode) if !has_mode => {
            let mode = format!("mode={:o}", covered_mode & 0o7777);
            if data.is_empty() {
                mode
            } else {
                format!("{data},{mode}")
            }
        }
        _ => data.to_string(),
    };
    (data, flags & !libc::MS_RDONLY)
}

/// Copies the tree under `from` (the covered directory, opened before the mount) into
/// `to` (the new tmpfs): directories, files, symlinks, device nodes and fifos, with their
/// modes and owners. Nothing is followed: links are copied as links.
pub fn copy_up(from: &OwnedFd, to: &OwnedFd) -> Result<()> {
    let mut dir = Dir::openat(
        from.as_fd(),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow!("tmpcopyup: reading the directory: {e}"))?;
    let names: Vec<(std::ffi::CString, Option<Type>)> = dir
        .iter()
        .flatten()
        .filter(|e| ![&b"."[..], &b".."[..]].contains(&e.file_name().to_bytes()))
        .map(|e| (e.file_name().to_owned(), e.file_type()))
        .collect();
    for (name, _) in names {
        copy_entry(from, to, &name)
            .map_err(|e| anyhow!("tmpcopyup: {}: {e}", name.to_string_lossy()))?;
    }
    Ok(())
}

fn copy_entry(from: &OwnedFd, to: &OwnedFd, name: &std::ffi::CStr) -> nix::Result<()> {
    let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            mkdirat(to, name, mode)?;
            let src = openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            let dst = openat(
                to,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            copy_up(&src, &dst).map_err(|_| nix::errno::Errno::EIO)?;
        }
        libc::S_IFREG => {
            let src = openat(from, name, OFlag::O_RDONLY | nofollow, Mode::empty())?;
            let dst = openat(
                to,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                mode,
            )?;
            std::io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst))
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        }
        libc::S_IFLNK => {
            let target = nix::fcntl::readlinkat(from, name)?;
            nix::unistd::symlinkat(target.as_os_str(), to, name)?;
        }
        _ => nix::sys::stat::mknodat(
            to,
            name,
            nix::sys::stat::SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT),
            mode,
            st.st_rdev,
        )?,
    }
    nix::unistd::fchownat(
        to,
        name,
        Some(nix::unistd::Uid::from_raw(st.st_uid)),
        Some(nix::unistd::Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    // The umask trimmed what mkdir and open were given; suid and sgid bits also go with chown.
    if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
        fchmodat(to, name, mode, FchmodatFlags::NoFollowSymlink).or_else(|e| {
            // Linux refuses AT_SYMLINK_NOFOLLOW for fchmodat before 6.6; the entry is no link.
            if e == nix::errno::Errno::EOPNOTSUPP || e == nix::errno::Errno::ENOTSUP {
                fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)
            } else {
                Err(e)
            }
        })?;
    }
    Ok(())
}
