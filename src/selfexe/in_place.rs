//! Sealing the running process without a second exec. Every mapping of rrun's binary
//! moves onto the sealed view, and the process's exe link is pointed there with
//! prctl(PR_SET_MM_MAP), which CRIU's restore uses to set a restored process's exe link.
//! The result is what re-executing from the view gives (no mapping and no link left to
//! the host's file), without a second process start: its exec, glibc's start-up (whose
//! CPU probe traps to the hypervisor on a VM), the relocation of the static-pie, and the
//! page faults of both (docs/performance.md).
//!
//! How each mapping of the binary moves:
//! - one that was never writable (code, read-only data) is mapped again from the view, at
//!   the same address and file offset: the same bytes, through the view;
//! - one that is or was writable (.data, and the RELRO part that glibc relocated and then
//!   made read-only) becomes a private anonymous copy of its present bytes.
//!
//! The kernel accepts the new exe link only if no mapping of the old file remains (EBUSY
//! otherwise): its own check that none was missed. It asks for CAP_SYS_ADMIN or
//! CAP_CHECKPOINT_RESTORE; without them, or on any error, the caller re-executes instead.

use anyhow::{Context, Result, anyhow, bail};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};

/// What the sealed view is: the running binary's own file seen through the sealed overlay,
/// or a sealed copy of its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    SameFile,
    Copy,
}

/// Whether this process may change its exe link (PR_SET_MM_MAP's exe_fd asks for one of
/// these in its user namespace).
pub fn may_change_exe() -> bool {
    use caps::{CapSet, Capability};
    let may = |cap| caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false);
    may(Capability::CAP_SYS_ADMIN) || may(Capability::CAP_CHECKPOINT_RESTORE)
}

/// Moves every mapping of the running binary onto `view` (opened read-only: the same file
/// through the sealed overlay, or a sealed copy of it) and makes `view` the process's exe.
pub fn seal_in_place(view: &std::fs::File, kind: View) -> Result<()> {
    apply(&plan(view, kind)?, view)
}

/// What [`apply`] does: each mapping of the binary and how it moves, and the memory
/// bounds that PR_SET_MM_MAP sets again. Only reads: a process with the same memory (the
/// parent of an init it cloned, whose mappings and bounds the clone copied) may make it,
/// and the process that moves is left only the moves.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    moves: Vec<Move>,
    /// What /proc/self/stat shows of the memory's bounds; brk and exe_fd are the mover's.
    bounds: crate::syscalls::MmMap,
}

/// Reads what moving onto `view` takes, checking first that the view holds the very bytes
/// that run and that this process may change its exe link.
pub fn plan(view: &std::fs::File, kind: View) -> Result<Plan> {
    if !may_change_exe() {
        bail!("changing the exe link needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE");
    }
    let host = std::fs::metadata("/proc/self/exe").context("/proc/self/exe")?;
    // The view must hold the very bytes that run: code mapped from any other file would
    // change under the running process. Through the overlay it is the same file
    // (overlayfs shows the lower file's inode number); a copy was read from
    // /proc/self/exe, which a running binary's writers can't change (ETXTBSY).
    let seen = view.metadata().context("the sealed view")?;
    let same = match kind {
        View::SameFile => (seen.ino(), seen.len()) == (host.ino(), host.len()),
        View::Copy => seen.len() == host.len(),
    };
    if !same {
        bail!("the sealed view is not the running binary");
    }
    let writable = writable_file_ranges(view).context("reading rrun's program headers")?;
    let maps = crate::procfs::read("/proc/self/maps").context("/proc/self/maps")?;
    let moves = plan_moves(&maps, (host.dev(), host.ino()), &writable)?;
    let stat = crate::procfs::read("/proc/self/stat").context("/proc/self/stat")?;
    let bounds = mm_bounds(&stat).ok_or_else(|| anyhow!("no memory bounds in /proc/self/stat"))?;
    Ok(Plan { moves, bounds })
}

/// Moves the running process onto `view` as `plan` says: `view` holds the bytes the plan
/// was made for (the same file, or a copy of it: the moves are the same).
pub fn apply(plan: &Plan, view: &std::fs::File) -> Result<()> {
    for m in &plan.moves {
        let moved = match m.how {
            How::Remap { offset } => crate::syscalls::remap_private_fixed(
                m.start,
                m.len,
                m.prot,
                view.as_raw_fd(),
                offset,
            ),
            How::Copy => crate::syscalls::replace_with_anonymous_copy(m.start, m.len, m.prot),
        };
        moved.with_context(|| format!("moving the mapping at {:#x}", m.start))?;
    }
    let mut map = plan.bounds;
    map.exe_fd = view.as_raw_fd() as u32;
    // Read last, by the process that moves: nothing between here and the prctl allocates,
    // so the break can't move.
    map.brk = crate::syscalls::current_brk();
    crate::syscalls::set_mm_map(&map).map_err(|e| anyhow!("prctl(PR_SET_MM_MAP): {e}"))
}

#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum How {
    /// Mapped again from the view, at this file offset.
    Remap { offset: u64 },
    /// Replaced by an anonymous copy of its bytes.
    Copy,
}

#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Move {
    start: usize,
    len: usize,
    prot: libc::c_int,
    how: How,
}

/// What becomes of each mapping of the file `(dev, ino)` listed in `maps` (the text of
/// /proc/self/maps); `writable` are the file ranges of the binary's writable segments.
fn plan_moves(maps: &str, (dev, ino): (u64, u64), writable: &[Range<u64>]) -> Result<Vec<Move>> {
    let mut moves = Vec::new();
    for line in maps.lines() {
        let Some(m) = Mapping::parse(line) else {
            continue;
        };
        if m.dev != (nix::sys::stat::major(dev), nix::sys::stat::minor(dev)) || m.ino != ino {
            continue;
        }
        let perm = |i: usize, c: u8| m.perms.get(i) == Some(&c);
        let prot = [
            (0, b'r', libc::PROT_READ),
            (1, b'w', libc::PROT_WRITE),
            (2, b'x', libc::PROT_EXEC),
        ]
        .iter()
        .filter(|(i, c, _)| perm(*i, *c))
        .fold(0, |p, (_, _, flag)| p | flag);
        let len = m.end - m.start;
        let bytes = m.offset..m.offset + len as u64;
        // A writable segment's mapping starts at the file page of its first byte; a mapping
        // that starts before that page only shares that page with it (a segment that
        // ends in it, as musl's layout puts .rodata) and was never written.
        let was_writable = perm(1, b'w')
            || (!perm(2, b'x')
                && writable.iter().any(|w| {
                    w.start < bytes.end && bytes.start < w.end && bytes.start >= page_start(w.start)
                }));
        let how = if was_writable {
            if !perm(0, b'r') {
                bail!("mapping at {:#x} of rrun's binary is not readable", m.start);
            }
            How::Copy
        } else {
            How::Remap { offset: m.offset }
        };
        moves.push(Move {
            start: m.start,
            len,
            prot,
            how,
        });
    }
    if !moves.iter().any(|m| m.prot & libc::PROT_EXEC != 0) {
        bail!("no mapping of rrun's code found in /proc/self/maps");
    }
    Ok(moves)
}

/// The start of the (x86-64, 4 KiB) page that holds file offset `offset`.
fn page_start(offset: u64) -> u64 {
    offset & !0xfff
}

/// One line of /proc/<pid>/maps: `start-end perms offset major:minor inode [path]`.
struct Mapping<'a> {
    start: usize,
    end: usize,
    perms: &'a [u8],
    offset: u64,
    dev: (u64, u64),
    ino: u64,
}

impl<'a> Mapping<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?.as_bytes();
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let ino = fields.next()?.parse().ok()?;
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            perms,
            offset,
            dev: (
                u64::from_str_radix(major, 16).ok()?,
                u64::from_str_radix(minor, 16).ok()?,
            ),
            ino,
        })
    }
}

/// The file ranges of the ELF's writable PT_LOAD segments (64-bit, little-endian, as rrun
/// is built): what the loader and glibc may have written in memory since.
fn writable_file_ranges(elf: &std::fs::File) -> Result<Vec<Range<u64>>> {
    let mut header = [0u8; 64];
    elf.read_exact_at(&mut header, 0)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        bail!("not a 64-bit little-endian ELF");
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let phoff = u64::from_le_bytes(header[0x20..0x28].try_into()?);
    let (entry_size, count) = (u16_at(&header, 0x36), u16_at(&header, 0x38));
    if entry_size < 56 {
        bail!("program header entries of {entry_size} bytes");
    }
    let mut table = vec![0u8; entry_size * count];
    elf.read_exact_at(&mut table, phoff)?;
    Ok(writable_loads(&table, entry_size))
}

fn writable_loads(table: &[u8], entry_size: usize) -> Vec<Range<u64>> {
    const PT_LOAD: u32 = 1;
    const PF_W: u32 = 2;
    let u32_at = |e: &[u8], i: usize| u32::from_le_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
    let u64_at = |e: &[u8], i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&e[i..i + 8]);
        u64::from_le_bytes(b)
    };
    table
        .chunks_exact(entry_size)
        .filter(|e| u32_at(e, 0) == PT_LOAD && u32_at(e, 4) & PF_W != 0)
        .map(|e| {
            let (offset, file_size) = (u64_at(e, 8), u64_at(e, 32));
            offset..offset + file_size
        })
        .collect()
}

/// The memory bounds PR_SET_MM_MAP sets, as /proc/self/stat shows them now (fields 26 –
/// 28 and 45 – 51 of proc(5)); brk and exe_fd are the caller's.
fn mm_bounds(stat: &str) -> Option<crate::syscalls::MmMap> {
    // The command name, in parentheses, may hold spaces and ')': fields follow the last.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<u64> = rest
        .split_ascii_whitespace()
        .skip(1) // the state, field 3
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // fields[0] is field 4 of proc(5).
    let field = |n: usize| fields.get(n - 4).copied().filter(|v| *v != 0);
    Some(crate::syscalls::MmMap {
        start_code: field(26)?,
        end_code: field(27)?,
        start_stack: field(28)?,
        start_data: field(45)?,
        end_data: field(46)?,
        start_brk: field(47)?,
        arg_start: field(48)?,
        arg_end: field(49)?,
        env_start: field(50)?,
        env_end: field(51)?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55a0e4c00000-55a0e4c99000 r--p 00000000 fe:00 4242 /usr/bin/rrun
55a0e4c99000-55a0e4e8e000 r-xp 00098000 fe:00 4242 /usr/bin/rrun
55a0e4e8e000-55a0e4ea5000 r--p 0028c000 fe:00 4242 /usr/bin/rrun
55a0e4ea5000-55a0e4ea8000 rw-p 002a2000 fe:00 4242 /usr/bin/rrun
55a0e4ea8000-55a0e4eaf000 rw-p 00000000 00:00 0
55a0e5000000-55a0e5021000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 r--p 00000000 fe:00 77 /usr/lib/other
7ffc1ccef000-7ffc1cd10000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn code_and_read_only_data_are_remapped_and_what_was_written_is_copied() {
        // rrun's layout: rodata, text, then RELRO and .data, the two writable segments.
        let writable = [0x28c140..0x2a2178, 0x2a2178..0x2a4fb0];
        let moves = plan_moves(MAPS, (libc::makedev(0xfe, 0), 4242), &writable).unwrap();
        let summary: Vec<_> = moves
            .iter()
            .map(|m| (m.start, m.len, m.prot, &m.how))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    0x55a0e4c00000,
                    0x99000,
                    libc::PROT_READ,
                    &How::Remap { offset: 0 }
                ),
                (
                    0x55a0e4c99000,
                    0x1f5000,
                    libc::PROT_READ | libc::PROT_EXEC,
                    &How::Remap { offset: 0x98000 }
                ),
                // RELRO: read-only now, relocated by glibc before: a copy.
                (0x55a0e4e8e000, 0x17000, libc::PROT_READ, &How::Copy),
                (
                    0x55a0e4ea5000,
                    0x3000,
                    libc::PROT_READ | libc::PROT_WRITE,
                    &How::Copy
                ),
            ]
        );
    }

    #[test]
    fn read_only_data_that_shares_a_file_page_with_the_writable_segment_is_remapped() {
        // musl's layout: .rodata after the code, ending in the file page where the
        // writable segment (RELRO, then .data) begins, one page further on in memory.
        const MUSL_MAPS: &str = "\
7f0000000000-7f0000001000 r--p 00000000 fe:00 4242 /usr/bin/rrun
7f0000001000-7f0000184000 r-xp 00001000 fe:00 4242 /usr/bin/rrun
7f0000184000-7f00001f5000 r--p 00184000 fe:00 4242 /usr/bin/rrun
7f00001f5000-7f0000208000 r--p 001f4000 fe:00 4242 /usr/bin/rrun
7f0000208000-7f000020a000 rw-p 00207000 fe:00 4242 /usr/bin/rrun
";
        let writable = [Range {
            start: 0x1f4680,
            end: 0x2089f0,
        }];
        let moves = plan_moves(MUSL_MAPS, (libc::makedev(0xfe, 0), 4242), &writable).unwrap();
        let how: Vec<_> = moves.iter().map(|m| &m.how).collect();
        assert_eq!(
            how,
            [
                &How::Remap { offset: 0 },
                &How::Remap { offset: 0x1000 },
                &How::Remap { offset: 0x184000 },
                &How::Copy,
                &How::Copy,
            ]
        );
    }

    #[test]
    fn a_binary_whose_code_is_not_listed_is_refused() {
        let err = plan_moves(MAPS, (libc::makedev(0xfe, 0), 9999), &[]).unwrap_err();
        assert!(
            err.to_string().contains("no mapping of rrun's code"),
            "{err}"
        );
    }

    #[test]
    fn the_test_binary_has_writable_segments_and_code_that_is_not_among_them() {
        let exe = std::fs::File::open("/proc/self/exe").unwrap();
        let writable = writable_file_ranges(&exe).unwrap();
        assert!(!writable.is_empty());
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let meta = exe.metadata().unwrap();
        let moves = plan_moves(&maps, (meta.dev(), meta.ino()), &writable).unwrap();
        for m in &moves {
            if m.prot & libc::PROT_EXEC != 0 {
                assert!(matches!(m.how, How::Remap { .. }), "{m:?}");
            }
            if m.prot & libc::PROT_WRITE != 0 {
                assert_eq!(m.how, How::Copy, "{m:?}");
            }
        }
    }

    #[test]
    fn memory_bounds_come_from_the_fields_after_the_command_name() {
        // A command name with a space and a parenthesis; fields 3 on numbered by position.
        let mut fields: Vec<String> = (3..=52).map(|n| (n * 1000).to_string()).collect();
        fields[0] = "S".into();
        let stat = format!("1234 (a) b) {}", fields.join(" "));
        let map = mm_bounds(&stat).unwrap();
        assert_eq!(
            (map.start_code, map.end_code, map.start_stack),
            (26000, 27000, 28000)
        );
        assert_eq!(
            (map.start_data, map.end_data, map.start_brk),
            (45000, 46000, 47000)
        );
        assert_eq!((map.arg_start, map.arg_end), (48000, 49000));
        assert_eq!((map.env_start, map.env_end), (50000, 51000));
        assert_eq!((map.brk, map.exe_fd), (0, 0));
        // The bounds hidden (as proc shows them to a reader without access): none.
        assert!(mm_bounds("1234 (rrun) S 1 2 3").is_none());
    }
}
