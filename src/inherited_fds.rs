//! The fds rrun was started with beyond stdio. runc's init gets only the fds it is given;
//! rrun's init is a clone of rrun, so it closes the caller's other fds itself as soon as it
//! exists: while it waits for `start` it must hold nothing of the caller's (a log file, a
//! test harness's pipe), and no process of the container may reach them through it.

use std::os::fd::RawFd;
use std::sync::OnceLock;

static AT_START: OnceLock<Vec<RawFd>> = OnceLock::new();

/// Notes the fds open now; called by `create` and `run` before rrun opens any of its own.
/// /proc/self/fd is read with getdents64 into a buffer on the stack (no directory stream,
/// no heap, one call where there are few fds); the listing's own fd is left out.
pub fn note() {
    let _ = AT_START.set(open_now().unwrap_or_default());
}

fn open_now() -> std::io::Result<Vec<RawFd>> {
    use std::os::fd::AsRawFd;
    let dir = crate::syscalls::openat2(
        libc::AT_FDCWD,
        std::path::Path::new("/proc/self/fd"),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        0,
    )?;
    let mut fds = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = crate::syscalls::getdents64(&dir, &mut buf)?;
        if n == 0 {
            break;
        }
        fds.extend(
            dirent_names(&buf[..n])
                .filter_map(|name| std::str::from_utf8(name).ok()?.parse::<RawFd>().ok())
                .filter(|fd| *fd > 2 && *fd != dir.as_raw_fd()),
        );
    }
    Ok(fds)
}

/// The names in a getdents64 buffer: each record is d_ino (8 bytes), d_off (8), d_reclen
/// (2), d_type (1), then the NUL-terminated name, padded to d_reclen.
fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let record = buf.get(at..)?;
        let len = u16::from_ne_bytes(record.get(16..18)?.try_into().ok()?) as usize;
        let name = record.get(19..len.min(record.len()))?;
        at += len.max(1);
        Some(&name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())])
    })
}

/// In the init: closes the noted fds except the first `keep` after stdio (fds 3 to
/// 3+keep-1: `--preserve-fds` and socket activation's).
pub fn close_in_init(keep: u32) {
    for fd in AT_START.get().into_iter().flatten() {
        if *fd >= 3 + keep as RawFd {
            crate::syscalls::close_inherited(*fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fds_open_now_are_found_and_the_listing_is_not_among_them() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let listed = open_now().unwrap();
        assert!(listed.contains(&fd), "{listed:?} lacks {fd}");
        assert!(listed.iter().all(|fd| *fd > 2));
    }

    #[test]
    fn dirent_records_give_their_names() {
        let mut buf = Vec::new();
        for name in ["3", "12"] {
            let reclen = (19 + name.len() + 1).next_multiple_of(8);
            let mut rec = vec![0u8; reclen];
            rec[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            rec[19..19 + name.len()].copy_from_slice(name.as_bytes());
            buf.extend(rec);
        }
        let names: Vec<&[u8]> = dirent_names(&buf).collect();
        assert_eq!(names, [b"3".as_slice(), b"12".as_slice()]);
    }
}
