//! Thin wrappers around the few syscalls that nix or libc do not wrap safely.
//! Every `unsafe` block of rrun lives here, each with the reason it is sound.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cstr(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The result of [`clone_process`] as seen by each side.
pub enum CloneResult {
    Parent(libc::pid_t),
    Child,
}

/// Creates a child process like fork(2), in the new namespaces named by `flags`.
/// The child runs on a copy-on-write copy of the caller's stack, so the caller must be
/// single-threaded (rrun never starts threads).
pub fn clone_process(flags: libc::c_int) -> io::Result<CloneResult> {
    // SAFETY: clone with a NULL stack behaves like fork; rrun is single-threaded, so the
    // child owns a consistent copy of the whole address space. SIGCHLD makes the child
    // waitable with a plain waitpid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(pid as libc::pid_t)),
    }
}

/// The signal set of exactly the signals numbered in `numbers` (1 to 64), set bit by bit:
/// musl's sigaddset and sigfillset refuse 32 to 34, which it keeps for itself, and so do
/// nix's sets built on them.
pub fn sigset_of(numbers: impl IntoIterator<Item = i32>) -> nix::sys::signal::SigSet {
    let bits = numbers
        .into_iter()
        .filter(|n| (1..=64).contains(n))
        .fold(0u64, |bits, n| bits | 1 << (n - 1));
    // SAFETY: a zeroed sigset_t is the empty set; on x86_64 Linux, glibc's and musl's
    // sigset_t are arrays of unsigned long whose first 64 bits are signals 1 to 64, as the
    // kernel reads them.
    unsafe {
        let mut raw: libc::sigset_t = std::mem::zeroed();
        std::ptr::write_unaligned(&mut raw as *mut libc::sigset_t as *mut u64, bits);
        nix::sys::signal::SigSet::from_sigset_t_unchecked(raw)
    }
}

/// The calling thread's blocked signals as the kernel holds them: signal n is bit n - 1.
/// The C library's sigprocmask leaves out of what it reports the signals it keeps for
/// itself (musl: 32 to 34); this is the raw call.
pub fn blocked_signals() -> nix::Result<u64> {
    let mut old = 0u64;
    // SAFETY: no set (nothing changes); `old` is 8 writable bytes, the size passed, which
    // the kernel fills with signals 1 to 64.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            &mut old as *mut u64,
            8usize,
        )
    };
    nix::errno::Errno::result(ret).map(|_| old)
}

/// Sets the calling thread's blocked signals to exactly `bits` (as [`blocked_signals`]).
pub fn set_blocked_signals(bits: u64) -> nix::Result<()> {
    // SAFETY: `bits` is 8 readable bytes, the size passed; no old set is asked for. The
    // kernel never blocks SIGKILL or SIGSTOP whatever is asked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &bits as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    nix::errno::Errno::result(ret).map(drop)
}

/// The numbers (1 to 64) of the signals in `set`.
pub fn sigset_numbers(set: &nix::sys::signal::SigSet) -> Vec<i32> {
    // SAFETY: sigismember only reads the set, which is a valid sigset_t.
    (1..=64)
        .filter(|n| unsafe { libc::sigismember(set.as_ref(), *n) } == 1)
        .collect()
}

/// The arguments C's `main` was given, as byte strings.
///
/// # Safety
/// `argv` holds `argc` pointers to NUL-terminated strings, as C's start code passes them.
pub unsafe fn c_arguments(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    (0..argc.max(0) as usize)
        // SAFETY: the caller's: argc valid, NUL-terminated strings.
        .map(|i| unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) })
        .map(|s| std::ffi::OsStr::from_bytes(s.to_bytes()).to_os_string())
        .collect()
}

/// clone3(2)'s argument block, up to the `cgroup` field (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`clone_process`] (in the new namespaces named by `flags`), the child starting in the
/// cgroup v2 directory open as `cgroup` (clone3's CLONE_INTO_CGROUP): no pid is written to
/// `cgroup.procs` afterwards.
pub fn clone_into_cgroup(flags: libc::c_int, cgroup: RawFd) -> io::Result<CloneResult> {
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        // The kernel gives a CLONE_PARENT child its caller's exit signal, and clone3
        // refuses one given with it (EINVAL).
        exit_signal: if flags & libc::CLONE_PARENT == 0 {
            libc::SIGCHLD as u64
        } else {
            0
        },
        cgroup: cgroup as u64,
        ..Default::default()
    };
    // SAFETY: as clone_process: no stack given, so the child runs on a copy-on-write copy
    // of the single-threaded caller, like fork; `args` outlives the call and its size is
    // passed with it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(pid as libc::pid_t)),
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): opens `path` relative to `dirfd` with the given RESOLVE_* restrictions.
pub fn openat2(
    dirfd: RawFd,
    path: &Path,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let path = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    // SAFETY: `how` and `path` outlive the call and the size passed matches the struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

/// faccessat2(2) with X_OK and AT_EACCESS: whether the calling thread, with its effective
/// ids and capabilities, may execute `path` (a `noexec` mount says no). A raw syscall:
/// musl falls back to forking a checker where the kernel lacks faccessat2.
pub fn may_execute(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call; no other pointers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    check(ret).map(drop)
}

/// getdents64(2): the next directory entries of `dir` into `buf`, as the kernel lays them
/// out (struct linux_dirent64, one after another); 0 at the end.
pub fn getdents64(dir: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which outlives the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            dir.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    check(n).map(|n| n as usize)
}

/// pivot_root(2).
pub fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let (a, b) = (cstr(new_root)?, cstr(put_old)?);
    // SAFETY: both strings are valid NUL-terminated paths that outlive the call.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) };
    check(ret).map(drop)
}

/// close_range(2) with CLOSE_RANGE_CLOEXEC: every fd from `first` up is closed on exec (where
/// close_range is refused, each fd /proc/self/fd lists).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers; marking fds close-on-exec frees nothing.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if check(ret).is_ok() {
        return Ok(());
    }
    // Kernels before 5.11, or a seccomp profile that refuses close_range (runc's
    // seccomp.bats has one): each open fd, one by one, as runc falls back too.
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let fd = entry?.file_name().to_string_lossy().parse::<RawFd>();
        if let Ok(fd) = fd
            && fd >= first as RawFd
        {
            // SAFETY: F_SETFD on an fd number changes only its flag; a number that closed
            // meanwhile (the directory's own fd) fails with EBADF, ignored.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

/// pidfd_open(2): a handle on `pid` that becomes readable when the process exits.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

/// pidfd_send_signal(2): signals exactly the process the pidfd refers to, never a reused pid.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is valid for the duration of the call; NULL siginfo is allowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    check(ret).map(drop)
}

/// kill(2) with a signal number, real-time ones included (nix's `kill` takes only the
/// signals its `Signal` names, 1 to 31).
pub fn send_signal(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Makes the calling process a child subreaper, so orphaned descendants are reparented to it.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and no pointers.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    check(ret).map(drop)
}

/// Sets PR_SET_KEEPCAPS, so capabilities survive the switch away from uid 0.
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes an integer flag and no pointers.
    let ret = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong, 0, 0, 0) };
    check(ret).map(drop)
}

/// setresuid/setresgid/setgroups as raw syscalls: they act on the calling thread only, which
/// is what we want in the single-threaded init (glibc's wrappers broadcast to all threads).
/// `groups`: None leaves the supplementary groups as they are.
pub fn set_ids(uid: u32, gid: u32, groups: Option<&[u32]>) -> io::Result<()> {
    if let Some(groups) = groups {
        // SAFETY: `groups` is a valid slice for the duration of the call.
        let ret = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
        // In a user namespace whose setgroups is denied the groups can't change: the
        // process keeps those it has, as with runc.
        if let Err(e) = check(ret)
            && !setgroups_denied()
        {
            return Err(e);
        }
    }
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    check(ret)?;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    check(ret).map(drop)
}

/// Whether /proc/self/setgroups says "deny" (asked only after setgroups failed).
fn setgroups_denied() -> bool {
    std::fs::read("/proc/self/setgroups").is_ok_and(|s| s.starts_with(b"deny"))
}

/// Sets one resource limit of the calling process.
pub fn set_rlimit(resource: libc::c_int, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` outlives the call; a NULL old-limit pointer is allowed.
    let ret = unsafe { libc::prlimit(0, resource as _, &lim, std::ptr::null_mut()) };
    check(ret).map(drop)
}

/// Replaces the process image. Only returns on failure.
pub fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point to CStrings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// Leaves the process at once with `code`, without running atexit handlers or destructors:
/// used by the forked init, whose copy of the parent's buffers must not be flushed twice.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// A raw syscall's result: the error errno holds when it is negative.
fn check(ret: impl Into<i64>) -> io::Result<i64> {
    let ret = ret.into();
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a raw fd that a nix call just returned.
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass an fd freshly returned by the kernel that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Closes an fd rrun inherited from its caller and never wrapped in an owner of its own
/// (see inherited_fds), so closing it leaves no Rust object with a dangling fd.
pub fn close_inherited(fd: RawFd) {
    // SAFETY: only fds noted at start-up, before rrun opened any, are passed; nothing in
    // rrun owns them.
    unsafe { libc::close(fd) };
}

/// The highest signal number (SIGRTMAX) on the architectures rrun builds for.
pub const LAST_SIGNAL: i32 = 64;

/// Restores the default disposition of signal number `sig`, any of 1 to [`LAST_SIGNAL`]:
/// rt_sigaction(2) itself, as the C library's sigaction refuses the real-time signals it
/// keeps for its threads (32 to 34 for musl, 32 and 33 for glibc), which a caller may
/// still have left ignored.
pub fn default_signal_disposition(sig: i32) -> io::Result<()> {
    /// struct sigaction as the kernel takes it (asm-generic, x86_64).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: SIG_DFL installs no handler, so no code of ours can run in signal context;
    // `act` is a valid kernel sigaction of the size passed with it (8, the mask's bytes).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
    check(ret).map(|_| ())
}

/// How a signal given to [`end_on_signal`] ends the process: the exit code, and whether it
/// first tries to die of the signal itself (which the kernel refuses to the first process
/// of a pid namespace: it ignores a signal it has no handler for, even from outside).
#[derive(Clone, Copy)]
pub struct Ending {
    pub exit_code: u8,
    pub by_the_signal_where_possible: bool,
}

/// Per signal number: its [`Ending`], the exit code in the low byte and BY_THE_SIGNAL.
static ENDINGS: [std::sync::atomic::AtomicU16; 65] =
    [const { std::sync::atomic::AtomicU16::new(0) }; 65];
const BY_THE_SIGNAL: u16 = 0x100;

/// From now until the next exec (which resets caught signals to their defaults), signal
/// `sig` ends the process as `how` says, whatever it is doing, and it is unblocked.
pub fn end_on_signal(sig: i32, how: Ending) -> io::Result<()> {
    let slot = usize::try_from(sig)
        .ok()
        .and_then(|s| ENDINGS.get(s))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flag = if how.by_the_signal_where_possible {
        BY_THE_SIGNAL
    } else {
        0
    };
    slot.store(
        u16::from(how.exit_code) | flag,
        std::sync::atomic::Ordering::Relaxed,
    );
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(end_process),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    let signal = nix::sys::signal::Signal::try_from(sig)?;
    // SAFETY: end_process only reads an atomic and makes async-signal-safe system calls,
    // and never returns into the interrupted code.
    unsafe { nix::sys::signal::sigaction(signal, &action) }?;
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
        Some(&sigset_of([sig])),
        None,
    )?;
    Ok(())
}

extern "C" fn end_process(sig: libc::c_int) {
    let ending = usize::try_from(sig)
        .ok()
        .and_then(|s| ENDINGS.get(s))
        .map_or(0, |e| e.load(std::sync::atomic::Ordering::Relaxed));
    if ending & BY_THE_SIGNAL != 0 {
        let _ = default_signal_disposition(sig);
        let _ = nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
            Some(&sigset_of([sig])),
            None,
        );
        // SAFETY: kill is async-signal-safe; with the default disposition and the signal
        // unblocked it ends this process before returning, unless the kernel ignores it.
        unsafe { libc::kill(libc::getpid(), sig) };
    }
    exit_immediately(i32::from(ending & 0xff));
}

/// Ignores SIGPIPE, as Rust's own start-up does for every program: a write to a closed pipe
/// then fails with EPIPE instead of killing rrun.
pub fn ignore_sigpipe() {
    // SAFETY: SIG_IGN installs no handler, so no code of ours can run in signal context.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
}

/// Opens /dev/null on whichever of fds 0, 1 and 2 the caller left closed, as Rust's own
/// start-up does: else the first file rrun opens would become its stdin or stdout.
pub fn open_missing_stdio() {
    for fd in 0..3 {
        // SAFETY: F_GETFD reads the fd's flags and touches no memory.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // Opened in order, so it lands on the lowest closed fd: this one. Not
            // close-on-exec: stdio goes on to rrun's re-exec and to the container.
            // SAFETY: a NUL-terminated literal path; the fd is left open on purpose.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Joins a new session keyring named `name`, so the container does not share the caller's.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_ulong = 1;
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    check(ret).map(drop)
}

/// Borrows an fd that stays open for the whole run of rrun (stdio, a held pty master).
pub fn borrow_fd(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: callers pass only fds that outlive every use of the borrow (stdio, or an fd
    // owned by the caller's frame for the duration of the write).
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// The size of one classic or extended BPF instruction (struct sock_filter, struct
/// bpf_insn): programs are passed to the kernel as their bytes, 8 per instruction.
const BPF_INSN_BYTES: usize = 8;

/// The number of instructions in `program`, or EINVAL if it is not whole instructions.
fn bpf_insn_count(program: &[u8]) -> io::Result<usize> {
    if !program.len().is_multiple_of(BPF_INSN_BYTES) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(program.len() / BPF_INSN_BYTES)
}

/// seccomp(SECCOMP_SET_MODE_FILTER): installs a classic BPF program, given as its bytes
/// (struct sock_filter, 8 per instruction, in the machine's byte order); with the
/// NEW_LISTENER flag the kernel returns the notification fd.
pub fn seccomp_set_filter(program: &[u8], flags: u32) -> io::Result<Option<OwnedFd>> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const u8,
    }
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;
    let len = u16::try_from(bpf_insn_count(program)?)
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points to `program`, which outlives the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    let ret = check(ret)?;
    // With NEW_LISTENER the return value is a new fd owned by nobody else.
    Ok((flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0).then(|| own_fd(ret as RawFd)))
}

/// PR_SET_DUMPABLE: a non-dumpable process's /proc entries (exe, fd, mem) are closed to
/// anyone without CAP_SYS_PTRACE over it.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer flag and no pointers.
    let ret = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong, 0, 0, 0) };
    check(ret).map(drop)
}

/// memfd_create(2) with close-on-exec and sealing allowed.
pub fn memfd_create(name: &str) -> io::Result<OwnedFd> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

pub fn get_seals(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GET_SEALS takes no argument beyond the fd.
    let ret = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    check(ret).map(|seals| seals as libc::c_int)
}

pub fn add_seals(fd: RawFd, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: F_ADD_SEALS takes an integer argument.
    let ret = unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) };
    check(ret).map(drop)
}

/// fsopen(2) with close-on-exec: a filesystem context for the new mount API.
pub fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    let name = CString::new(fstype).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the name is NUL-terminated and outlives the call.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

/// fsconfig(FSCONFIG_SET_STRING): sets one mount option on a filesystem context.
pub fn fsconfig_set_string(ctx: &OwnedFd, key: &str, value: &str) -> io::Result<()> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    let (k, v) = (CString::new(key), CString::new(value));
    let (Ok(k), Ok(v)) = (k, v) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    // SAFETY: key and value are NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            k.as_ptr(),
            v.as_ptr(),
            0,
        )
    };
    check(ret).map(drop)
}

/// fsconfig(FSCONFIG_CMD_CREATE) then fsmount(2): a detached mount, as an fd.
pub fn fsmount_created(ctx: &OwnedFd, attrs: libc::c_uint) -> io::Result<OwnedFd> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: CMD_CREATE takes no key, value or aux argument.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    check(ret)?;
    // SAFETY: fsmount takes the context fd and two flag words.
    let fd = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

/// mount_setattr(2) with AT_RECURSIVE: sets and clears MOUNT_ATTR_* bits on the mount
/// behind `fd` and every mount below it.
pub fn mount_setattr_recursive(fd: &OwnedFd, set: u64, clear: u64) -> io::Result<()> {
    mount_setattr(fd, true, set, clear, 0, 0)
}

/// Gives the mount `fd` and every mount under it the propagation `propagation`
/// (MS_PRIVATE, MS_SLAVE, MS_SHARED or MS_UNBINDABLE), as mount(2) with MS_REC would.
pub fn mount_setattr_propagation_recursive(
    fd: &OwnedFd,
    propagation: libc::c_ulong,
) -> io::Result<()> {
    mount_setattr(fd, true, 0, 0, propagation, 0)
}

/// mount_setattr(2) on the mount behind `fd` alone: sets and clears MOUNT_ATTR_* bits.
pub fn mount_setattr_one(fd: &OwnedFd, set: u64, clear: u64) -> io::Result<()> {
    mount_setattr(fd, false, set, clear, 0, 0)
}

/// mount_setattr(2) MOUNT_ATTR_IDMAP on the detached tree `fd` (all of it with
/// `recursive`): its files show their owners through the user namespace `userns`.
pub fn mount_setattr_idmap(fd: &OwnedFd, userns: &OwnedFd, recursive: bool) -> io::Result<()> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    mount_setattr(
        fd,
        recursive,
        MOUNT_ATTR_IDMAP,
        0,
        0,
        userns.as_raw_fd() as u64,
    )
}

fn mount_setattr(
    fd: &OwnedFd,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
    userns_fd: u64,
) -> io::Result<()> {
    const AT_EMPTY_PATH: libc::c_uint = 0x1000;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd,
    };
    let flags = AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: attr is a valid mount_attr of the size passed; the empty path names the fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(drop)
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (and the
/// mounts below it when `recursive`), as an fd that can be attached elsewhere, even in
/// another mount namespace.
pub fn open_tree_clone(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    open_tree_clone_at(libc::AT_FDCWD, &cstr(path)?, 0, recursive)
}

/// [`open_tree_clone`] of `path` taken from the directory `dir`.
pub fn open_tree_clone_in(
    dir: std::os::fd::BorrowedFd,
    path: &Path,
    recursive: bool,
) -> io::Result<OwnedFd> {
    open_tree_clone_at(dir.as_raw_fd(), &cstr(path)?, 0, recursive)
}

/// [`open_tree_clone`] of what the open file `fd` is (AT_EMPTY_PATH): no path to resolve.
pub fn open_tree_clone_of(fd: &OwnedFd, recursive: bool) -> io::Result<OwnedFd> {
    const AT_EMPTY_PATH: libc::c_uint = 0x1000;
    open_tree_clone_at(fd.as_raw_fd(), c"", AT_EMPTY_PATH, recursive)
}

fn open_tree_clone_at(
    dirfd: RawFd,
    path: &CStr,
    at_flags: libc::c_uint,
    recursive: bool,
) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | at_flags
        | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: the path is NUL-terminated and outlives the call; dirfd is an open fd or
    // AT_FDCWD.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

/// move_mount(2) from the detached tree `from` onto the directory or file `to`.
pub fn move_mount_onto(from: &OwnedFd, to: &OwnedFd) -> io::Result<()> {
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    move_mount_from_fd(from, to, c"", MOVE_MOUNT_T_EMPTY_PATH)
}

/// move_mount(2) from the detached tree `from` onto `name` in the directory `dir`, its
/// last component not followed if a symlink.
pub fn move_mount_onto_name(from: &OwnedFd, dir: &OwnedFd, name: &CStr) -> io::Result<()> {
    move_mount_from_fd(from, dir, name, 0)
}

/// move_mount(2) of the tree `from` itself onto `to_path` under `to` (the empty path with
/// MOVE_MOUNT_T_EMPTY_PATH: `to` itself).
fn move_mount_from_fd(
    from: &OwnedFd,
    to: &OwnedFd,
    to_path: &CStr,
    to_flags: libc::c_uint,
) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    // SAFETY: both fds are valid for the call; the paths are NUL-terminated strings that
    // outlive it, the empty one naming `from` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            to_path.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | to_flags,
        )
    };
    check(ret).map(drop)
}

/// personality(2): sets the execution domain (PER_LINUX, PER_LINUX32, ...).
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: plain integer argument.
    let ret = unsafe { libc::personality(persona) };
    check(ret as libc::c_long).map(drop)
}

/// sched_setattr(2) for the calling thread: `attr` is the kernel's struct sched_attr as
/// eight plain fields (size, policy, flags, nice, priority, runtime, deadline, period).
pub fn sched_setattr(
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    (runtime, deadline, period): (u64, u64, u64),
) -> io::Result<()> {
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority,
        runtime,
        deadline,
        period,
    };
    // SAFETY: `attr` is a complete SCHED_ATTR_SIZE_VER0 struct that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    check(ret).map(drop)
}

/// ioprio_set(2) for the calling process (IOPRIO_WHO_PROCESS, who 0); its children inherit it.
pub fn ioprio_set_self(ioprio: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio) };
    check(ret).map(drop)
}

/// set_mempolicy(2): `mode` with its flags, over the nodes whose bits are set in `nodes`.
pub fn set_mempolicy(mode: i32, nodes: &[u64]) -> io::Result<()> {
    // The kernel reads maxnode - 1 bits: one more than the mask holds.
    let max_node = if nodes.is_empty() {
        0
    } else {
        nodes.len() * 64 + 1
    };
    // SAFETY: the kernel reads at most max_node - 1 bits, all inside `nodes`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode,
            if nodes.is_empty() {
                std::ptr::null()
            } else {
                nodes.as_ptr()
            },
            max_node,
        )
    };
    check(ret).map(drop)
}

/// fexecve(3): executes the file behind `fd`. Only returns on failure.
pub fn fexecve(fd: RawFd, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point to CStrings that outlive the call.
    unsafe { libc::fexecve(fd, a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program, given as its bytes
/// (struct bpf_insn, 8 per instruction, in the machine's byte order).
pub fn bpf_load_cgroup_device_prog(insns: &[u8]) -> io::Result<OwnedFd> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    let license = b"Apache\0";
    // union bpf_attr, PROG_LOAD part: prog_type, insn_cnt, insns, license, then zeros.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&(bpf_insn_count(insns)? as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: attr points to a buffer of the size passed; the pointers in it (insns,
    // license) stay valid for the duration of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr.as_ptr(),
            attr.len() as u32,
        )
    };
    check(fd).map(|fd| own_fd(fd as RawFd))
}

/// bpf(BPF_PROG_ATTACH) of a device program to a cgroup, alongside its ancestors' ones.
pub fn bpf_attach_cgroup_device(cgroup_fd: RawFd, prog_fd: RawFd) -> io::Result<()> {
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&(cgroup_fd as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog_fd as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&BPF_F_ALLOW_MULTI.to_ne_bytes());
    // SAFETY: attr is a plain buffer of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            attr.as_ptr(),
            attr.len() as u32,
        )
    };
    check(ret).map(drop)
}

/// Brings the loopback interface of the caller's network namespace up (runc does this in
/// every network namespace it makes: a fresh one has `lo` down).
pub fn set_loopback_up() -> io::Result<()> {
    set_interface_up(inet_socket()?.as_fd(), "lo", true)
}

/// A datagram socket of the caller's network namespace, to name its interfaces to the
/// ioctls below (a socket's namespace is the one it was made in).
pub fn inet_socket() -> io::Result<OwnedFd> {
    nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)
}

/// An rtnetlink socket of the caller's network namespace.
pub fn netlink_route_socket() -> io::Result<OwnedFd> {
    nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Netlink,
        nix::sys::socket::SockType::Raw,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        nix::sys::socket::SockProtocol::NetlinkRoute,
    )
    .map_err(io::Error::from)
}

/// An ifreq naming `name`; ENODEV for a name no interface could have.
fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    // SAFETY: ifreq is plain old data; zeroed is a valid value (empty name, no flags).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// The index of interface `name` in the network namespace of `sock` (SIOCGIFINDEX).
pub fn interface_index(sock: BorrowedFd, name: &str) -> io::Result<i32> {
    let mut req = ifreq_named(name)?;
    // SAFETY: SIOCGIFINDEX reads the name and writes the index into req, which lives for
    // the call and is the size the kernel expects.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union's index member is the one SIOCGIFINDEX just filled.
    Ok(unsafe { req.ifr_ifru.ifru_ifindex })
}

/// Sets interface `name` (in the network namespace of `sock`) up or down, its other flags
/// as they are (SIOCGIFFLAGS, then SIOCSIFFLAGS).
pub fn set_interface_up(sock: BorrowedFd, name: &str, up: bool) -> io::Result<()> {
    let mut req = ifreq_named(name)?;
    // SAFETY: SIOCGIFFLAGS reads the named interface's flags into req, which lives for
    // the call and is the size the kernel expects.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let up_flag = libc::IFF_UP as libc::c_short;
    // SAFETY: the union's flags member is the one SIOCGIFFLAGS just filled.
    unsafe {
        if up {
            req.ifr_ifru.ifru_flags |= up_flag
        } else {
            req.ifr_ifru.ifru_flags &= !up_flag
        }
    };
    // SAFETY: as above; SIOCSIFFLAGS only reads req.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Maps `len` bytes of `fd` at `offset`, private, over [start, start + len) of this process,
/// with `prot`. For moving one of the mappings of rrun's own binary onto another view of
/// the same file (selfexe::in_place): the bytes at those addresses stay what they were.
pub fn remap_private_fixed(
    start: usize,
    len: usize,
    prot: libc::c_int,
    fd: RawFd,
    offset: u64,
) -> io::Result<()> {
    // SAFETY: MAP_FIXED replaces exactly [start, start + len), a mapping of rrun's binary,
    // with the same bytes of the same file (the caller's view of it): code running there
    // and pointers into it find what they found before.
    let p = unsafe {
        libc::mmap(
            start as *mut libc::c_void,
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Replaces [start, start + len) of this process, a readable mapping, with a private
/// anonymous copy of its present bytes, protected with `prot`: the same contents, no file
/// behind them.
pub fn replace_with_anonymous_copy(start: usize, len: usize, prot: libc::c_int) -> io::Result<()> {
    // SAFETY: the copy is a new anonymous mapping of `len` bytes, written only within it;
    // the source range is mapped and readable (the caller's: one of rrun's own mappings);
    // mremap moves the copy over the source in one step, so no reader sees other bytes.
    unsafe {
        let copy = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        );
        if copy == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        std::ptr::copy_nonoverlapping(start as *const u8, copy as *mut u8, len);
        let flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
        if libc::mprotect(copy, len, prot) != 0
            || libc::mremap(copy, len, len, flags, start as *mut libc::c_void) == libc::MAP_FAILED
        {
            let e = io::Error::last_os_error();
            libc::munmap(copy, len);
            return Err(e);
        }
    }
    Ok(())
}

/// The program break, as brk(2) keeps it (brk(0) moves nothing).
pub fn current_brk() -> u64 {
    // SAFETY: brk with 0 never moves the break; it returns the current one.
    unsafe { libc::syscall(libc::SYS_brk, 0) as u64 }
}

/// struct prctl_mm_map (linux/prctl.h): the bounds of a process's memory that
/// PR_SET_MM_MAP sets in one call, and the fd of its new /proc/<pid>/exe.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MmMap {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// Left as it is when `auxv_size` is 0.
    pub auxv: u64,
    pub auxv_size: u32,
    pub exe_fd: u32,
}

/// prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE): the size of struct prctl_mm_map, where the kernel
/// has PR_SET_MM_MAP at all (CONFIG_CHECKPOINT_RESTORE); it changes nothing.
pub fn mm_map_size() -> io::Result<u32> {
    let mut size: libc::c_uint = 0;
    // SAFETY: the kernel writes one unsigned int to the address given, a local of that type.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP_SIZE as libc::c_ulong,
            &mut size as *mut libc::c_uint as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(ret).map(|_| size)
}

/// prctl(PR_SET_MM, PR_SET_MM_MAP): needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE to
/// change the exe link, which the kernel refuses (EBUSY) while the old file is mapped.
pub fn set_mm_map(map: &MmMap) -> io::Result<()> {
    // SAFETY: `map` is a prctl_mm_map of the size passed; the kernel only reads it.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP as libc::c_ulong,
            map as *const MmMap as libc::c_ulong,
            std::mem::size_of::<MmMap>() as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The directory of a cgroup2 mount this test may make a cgroup in: the unified
    /// hierarchy's root (a hybrid host's /sys/fs/cgroup/unified, a v2 host's
    /// /sys/fs/cgroup), None where there is none or it can't be written.
    fn scratch_cgroup2(name: &str) -> Option<std::path::PathBuf> {
        let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(std::path::Path::new)
            .find(|p| p.join("cgroup.procs").exists() && !p.join("tasks").exists())?;
        let dir = root.join(name);
        std::fs::create_dir(&dir).ok()?;
        Some(dir)
    }

    /// The intermediate process clones the init into its cgroup as its caller's child
    /// (CLONE_PARENT | CLONE_INTO_CGROUP): the kernel refuses clone3 an exit signal with
    /// CLONE_PARENT, and takes the caller's.
    #[test]
    fn a_clone_into_a_cgroup_can_be_given_to_the_callers_parent() {
        let name = format!("rrun-unit-clone-parent-{}", std::process::id());
        let Some(dir) = scratch_cgroup2(&name) else {
            eprintln!("skipped: no cgroup2 mount this test may write");
            return;
        };
        let fd = std::fs::File::open(&dir).unwrap();
        let (report, reported) = std::os::unix::net::UnixStream::pair().unwrap();
        // The intermediate makes only system calls: this test process has other threads.
        let intermediate = match clone_process(0).unwrap() {
            CloneResult::Child => {
                let result = clone_into_cgroup(libc::CLONE_PARENT, fd.as_raw_fd());
                let pid: i32 = match result {
                    Ok(CloneResult::Child) => loop {
                        // SAFETY: pause only waits for the test's SIGKILL.
                        unsafe { libc::pause() };
                    },
                    Ok(CloneResult::Parent(pid)) => pid,
                    Err(e) => -e.raw_os_error().unwrap_or(1),
                };
                // SAFETY: writes 4 bytes from a live local to an open socket.
                unsafe { libc::write(report.as_raw_fd(), (&pid as *const i32).cast(), 4) };
                exit_immediately(0)
            }
            CloneResult::Parent(pid) => pid,
        };
        drop(report);
        let mut bytes = [0u8; 4];
        std::io::Read::read_exact(&mut &reported, &mut bytes).unwrap();
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(intermediate), None).unwrap();
        let pid = i32::from_ne_bytes(bytes);
        if pid <= 0 {
            let _ = std::fs::remove_dir(&dir);
            panic!("{}", io::Error::from_raw_os_error(-pid));
        }
        // Read before the kill, asserted after the clean-up: a failed check leaves nothing.
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Ours to reap, as the init is rrun's: it was born our child.
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        let _ = std::fs::remove_dir(&dir);
        assert!(
            cgroup.lines().any(|l| l == format!("0::/{name}")),
            "{cgroup}"
        );
        assert_eq!(
            status.unwrap(),
            nix::sys::wait::WaitStatus::Signaled(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
                false
            )
        );
    }
}
