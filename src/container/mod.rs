//! A container as the commands see it: its record, its live status, and the operations
//! that act on its processes and resources.

pub mod cgroup_yard;
pub mod checkpoint;
pub mod create;
pub mod exec;
pub mod foreground;
pub mod notify;
pub mod restore;

use crate::cgroups;
use crate::state::{self, ContainerRecord, LockedContainer};
use anyhow::{Context, Result, anyhow, bail};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A create has not finished (or was killed before it did) and the init lives.
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The state document a hook (or a seccomp agent) of the container in `bundle` gets.
fn hook_state(id: &str, status: &str, pid: i32, bundle: &crate::config::Bundle) -> String {
    let annotations = bundle.spec.annotations().clone().unwrap_or_default();
    crate::hooks::state_json(
        id,
        status,
        pid,
        &bundle.dir.display().to_string(),
        &annotations,
        bundle.spec.version(),
    )
}

/// The prestart and createRuntime hooks, with the container `creating` and the init's pid:
/// when the init has made its namespaces (`create`), or CRIU has (`restore`), as runc runs
/// them.
fn run_create_hooks(id: &str, bundle: &crate::config::Bundle, pid: i32) -> Result<()> {
    let Some(hooks) = bundle.spec.hooks() else {
        return Ok(());
    };
    let state = hook_state(id, "creating", pid, bundle);
    #[allow(deprecated)]
    let prestart = hooks.prestart().as_deref().unwrap_or(&[]);
    crate::hooks::run_all("prestart", prestart, &state)?;
    crate::hooks::run_all(
        "createRuntime",
        hooks.create_runtime().as_deref().unwrap_or(&[]),
        &state,
    )
}

/// Field 22 of /proc/PID/stat (start time) and field 3 (state), or None if no such process.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let data = crate::procfs::read(&format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &data[data.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// Whether the recorded init still runs: same pid *and* same start time, and not a zombie.
pub fn init_alive(record: &ContainerRecord) -> bool {
    if record.pid <= 0 {
        return false;
    }
    matches!(proc_stat(record.pid), Some((start, state)) if start == record.pid_start_time && state != 'Z' && state != 'X')
}

pub fn status(c: &LockedContainer) -> Status {
    if !init_alive(&c.record) {
        return Status::Stopped;
    }
    if c.record.creating {
        return Status::Creating;
    }
    // Frozen first, as runc: a created container can be paused too (and is created
    // again once resumed).
    if is_frozen(&c.record) {
        return Status::Paused;
    }
    if c.fifo_path().exists() {
        return Status::Created;
    }
    Status::Running
}

fn is_frozen(record: &ContainerRecord) -> bool {
    cgroups::frozen(&record.cgroup_paths)
}

/// The cgroup driver of an existing container, as create recorded it.
pub fn cgroup_of(record: &ContainerRecord) -> Box<dyn cgroups::CgroupDriver> {
    cgroups::from_paths(
        record.cgroup_paths.clone(),
        record.systemd_unit.as_deref(),
        record.rootless_cgroups,
    )
}

/// The pids of the container's processes: its cgroup's, or, for a rootless container
/// that could join no cgroup of its own, those in its init's pid namespace (with no pid
/// namespace of its own: the init and its descendants).
pub fn processes(record: &ContainerRecord) -> Result<Vec<i32>> {
    if record.cgroup_paths.is_empty() && record.systemd_unit.is_none() && record.rootless_cgroups {
        if !init_alive(record) {
            return Ok(Vec::new());
        }
        return Ok(if record.shared_pid_ns {
            process_tree(record.pid)
        } else {
            pid_namespace_members(record.pid)
        });
    }
    cgroup_of(record).procs()
}

/// Every host pid, with its parent's.
fn host_processes() -> Vec<(i32, i32)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = crate::procfs::read(&format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let ppid = rest.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// The processes in `init`'s pid namespace, `exec`'s included (their parent, rrun,
/// is outside it: orphaned, they go to the host's reaper, not to the init).
fn pid_namespace_members(init: i32) -> Vec<i32> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return vec![init];
    };
    host_processes()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns))
        .collect()
}

/// `root` and every process descending from it.
fn process_tree(root: i32) -> Vec<i32> {
    let parents = host_processes();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

/// Sends `sig` to init, through a pidfd so a recycled pid can never be hit.
pub fn signal_init(record: &ContainerRecord, sig: i32) -> Result<()> {
    let pidfd = crate::syscalls::pidfd_open(record.pid)
        .map_err(|e| anyhow!("container init {} is gone: {e}", record.pid))?;
    // The pidfd pins the process; check it is still ours before signalling.
    if !init_alive(record) {
        bail!("container not running");
    }
    crate::syscalls::pidfd_send_signal(&pidfd, sig)
        .map_err(|e| anyhow!("sending signal {sig} to pid {}: {e}", record.pid))
}

/// Signals every process in the container's cgroup (and init, should the cgroup be gone).
pub fn signal_all(record: &ContainerRecord, sig: i32) -> Result<()> {
    let mut pids = processes(record).unwrap_or_default();
    if init_alive(record) && !pids.contains(&record.pid) {
        pids.push(record.pid);
    }
    for pid in pids {
        let _ = crate::syscalls::send_signal(pid, sig);
    }
    Ok(())
}

/// Kills a child of this process that rrun forked and no longer wants (an init or an
/// exec'd process whose set-up failed), and reaps it.
fn kill_child_and_reap(pid: i32) {
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Kills everything in the container and waits until it is gone.
pub fn kill_and_wait(record: &ContainerRecord) -> Result<()> {
    let alive = init_alive(record);
    // The usual delete: the container stopped by itself and left nothing to kill or thaw.
    if !alive && processes(record).is_ok_and(|p| p.is_empty()) {
        return Ok(());
    }
    cgroups::thaw(&record.cgroup_paths);
    let pidfd = if alive {
        crate::syscalls::pidfd_open(record.pid).ok()
    } else {
        None
    };
    signal_all(record, libc::SIGKILL)?;
    // An init SIGKILL can't end (frozen by a freezer cgroup not the container's, stuck in
    // the kernel) keeps its cgroups busy: fail as runc does, in its words, and keep the
    // record, so that a later `delete --force` finds the container again.
    if let Some(fd) = pidfd
        && !wait_pidfd(&fd, Duration::from_secs(10))
    {
        bail!(
            "container init still running: pid {} has not exited 10 s after SIGKILL",
            record.pid
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes(record).map(|p| !p.is_empty()).unwrap_or(false) {
        if Instant::now() > deadline {
            bail!(
                "processes of container {} did not exit after SIGKILL",
                record.id
            );
        }
        signal_all(record, libc::SIGKILL)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Waits until the process behind `fd` exits; false if it still runs after `timeout`.
pub fn wait_pidfd(fd: &std::os::fd::OwnedFd, timeout: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Removes everything the container owns: its processes, the mounts it made in the
/// caller's mount namespace, its cgroups and state directory.
pub fn destroy(c: &LockedContainer) -> Result<()> {
    kill_and_wait(&c.record)?;
    if let Some(below) = c.record.rootfs_bind_on {
        crate::rootfs::detach_rootfs_bind(std::path::Path::new(&c.record.rootfs), below);
    }
    let destroyed = cgroup_of(&c.record).destroy();
    cgroups::remove_made_dirs(&c.record.cgroup_parents_created);
    destroyed?;
    // A container whose create never finished was never created: no poststop for it.
    if !c.record.creating {
        run_poststop_hooks(&c.record);
    }
    restore::unmount_leftover_root(&c.dir);
    state::remove_dir(&c.dir)
}

pub mod spec;

/// The JSON `state` prints, field for field runc's (engines parse it).
#[derive(serde::Serialize, Debug)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

pub fn oci_state(c: &LockedContainer) -> OciState {
    let status = status(c);
    let r = &c.record;
    OciState {
        oci_version: if r.oci_version.is_empty() {
            "1.0.2".into()
        } else {
            r.oci_version.clone()
        },
        id: r.id.clone(),
        pid: if status == Status::Stopped { 0 } else { r.pid },
        status: status.as_str().into(),
        bundle: r.bundle.clone(),
        rootfs: r.rootfs.clone(),
        created: r.created.clone(),
        owner: r.owner.clone(),
        annotations: r.annotations.clone(),
    }
}

/// Lets a created container's init exec the user process: one byte down the exec fifo,
/// then the fifo is removed, which is what makes the status `running`.
/// Returns the sd_notify relay to run once the lock is released, when the host asked for
/// notifications (NOTIFY_SOCKET) and the container was created for them.
pub fn start(c: &LockedContainer) -> Result<Option<NotifyRelay>> {
    start_process(c, Caller::Detached)
}

/// Who starts the process, which decides what [`start_process`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `start`, `run --detach`: the container's notifications are relayed where asked, and
    /// the call returns once the process has exec'd (as runc's, which reads the exec fifo
    /// to its end), so that the caller finds it running.
    Detached,
    /// `run` in the foreground, which waits on the container itself: nothing relayed, and
    /// no wait for the exec unless poststart hooks must run after it. (Woken by the exec,
    /// rrun would take the CPU from the process it has just started, as the kernel wakes
    /// it where that process runs: ~35 µs on a container's path.)
    Foreground,
}

/// The container's READY=1, to be relayed to the host's NOTIFY_SOCKET.
pub struct NotifyRelay {
    sock: std::os::unix::net::UnixDatagram,
    host: std::path::PathBuf,
    record: ContainerRecord,
}

impl NotifyRelay {
    /// Waits for READY=1 from the container (or for its end) and relays it.
    pub fn wait(self) -> Result<()> {
        let record = self.record;
        notify::relay_until_ready(&self.sock, &self.host, record.pid, || init_alive(&record))
    }
}

/// Starts the process; where notifications are relayed, binds the notify socket first, so
/// that none of the container's messages is lost.
pub fn start_process(c: &LockedContainer, caller: Caller) -> Result<Option<NotifyRelay>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let notify = match (caller, notify::host_socket()) {
        (Caller::Detached, Some(host)) => notify::bind(&c.dir)?.map(|sock| (sock, host)),
        _ => None,
    };
    // A frozen init could never exec: refuse (as runc, for which such a container is
    // paused) rather than wait for it.
    if cgroups::frozen(&c.record.cgroup_paths) {
        bail!("cannot start a container in the paused state");
    }
    let fifo = c.fifo_path();
    // Non-blocking: if init is gone there is no reader and open fails with ENXIO at once.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENXIO) {
                anyhow!("cannot start a container that has stopped")
            } else {
                anyhow!("opening {}: {e}", fifo.display())
            }
        })?;
    let exec_watch = match caller {
        Caller::Foreground if !has_record_hooks(&c.record, "poststart") => None,
        _ => Some(ExecWatch::open(&fifo)?),
    };
    f.write_all(b"0")
        .map_err(|e| anyhow!("writing {}: {e}", fifo.display()))?;
    drop(f);
    remove_exec_fifo(c)?;
    // Poststart hooks run "after the user-specified process is executed" (the spec). The
    // first that fails kills the container and fails the start, as in runc (every version)
    // and crun; the spec asks only for a warning, but runc's suite and callers that run
    // checks as poststart hooks count on the failure.
    if let Some(watch) = exec_watch {
        watch.wait(&c.record.cgroup_paths);
        if let Err(e) = run_poststart_hooks(&c.record) {
            if let Err(k) = kill_and_wait(&c.record) {
                crate::logging::warn(&format!(
                    "killing the container after a failed poststart hook: {k:#}"
                ));
            }
            return Err(e);
        }
    }
    Ok(notify.map(|(sock, host)| NotifyRelay {
        sock,
        host,
        record: c.record.clone(),
    }))
}

/// The container counts as running once its exec fifo is gone: after `start` wrote it, or
/// at once for an init told to exec once built (`run` in the foreground).
pub fn remove_exec_fifo(c: &LockedContainer) -> Result<()> {
    let fifo = c.fifo_path();
    std::fs::remove_file(&fifo).with_context(|| format!("removing {}", fifo.display()))
}

/// Tells when init has exec'd the process (or died): init holds the exec fifo open, close
/// on exec, so the fifo loses its last writer then. A read end sees that as POLLHUP, but
/// only if some writer opened after it did: hence the second, short-lived writer.
struct ExecWatch {
    read_end: std::fs::File,
}

impl ExecWatch {
    fn open(fifo: &std::path::Path) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |read: bool| {
            std::fs::OpenOptions::new()
                .read(read)
                .write(!read)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(fifo)
                .map_err(|e| anyhow!("opening {}: {e}", fifo.display()))
        };
        let read_end = open(true)?;
        drop(open(false)?);
        Ok(ExecWatch { read_end })
    }

    /// Blocks until no writer is left: init has exec'd or exited. The init may first run
    /// startContainer hooks (bounded by their timeouts); should its cgroup be frozen
    /// meanwhile, it can make no progress, and `start` stops waiting, with a warning.
    fn wait(self, cgroup_paths: &[std::path::PathBuf]) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        loop {
            // No events asked: poll returns only for POLLHUP, an error or the timeout.
            let mut fds = [PollFd::new(self.read_end.as_fd(), PollFlags::empty())];
            match poll(&mut fds, PollTimeout::from(1000u16)) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(0) if cgroups::frozen(cgroup_paths) => {
                    crate::logging::warn(
                        "the container's cgroup was frozen before its process ran: not waiting for it",
                    );
                    return;
                }
                Ok(0) => continue,
                _ => return,
            }
        }
    }
}

/// The poststart or poststop hooks recorded at create, where there are any.
fn record_hooks<'a>(r: &'a ContainerRecord, kind: &str) -> Option<&'a [oci_spec::runtime::Hook]> {
    let hooks = r.hooks.as_ref()?;
    let list = if kind == "poststart" {
        hooks.poststart()
    } else {
        hooks.poststop()
    };
    list.as_deref().filter(|l| !l.is_empty())
}

fn has_record_hooks(r: &ContainerRecord, kind: &str) -> bool {
    record_hooks(r, kind).is_some()
}

/// Runs the poststop hooks recorded at create; failures are warnings, and every hook runs.
fn run_poststop_hooks(r: &ContainerRecord) {
    if let Some(list) = record_hooks(r, "poststop") {
        crate::hooks::run_all_warn("poststop", list, &record_state(r, "stopped", 0));
    }
}

/// Runs the poststart hooks recorded at create, up to the first that fails.
fn run_poststart_hooks(r: &ContainerRecord) -> Result<()> {
    match record_hooks(r, "poststart") {
        Some(list) => crate::hooks::run_all("poststart", list, &record_state(r, "running", r.pid)),
        None => Ok(()),
    }
}

/// The state hooks read on their stdin, from the record.
fn record_state(r: &ContainerRecord, status: &str, pid: i32) -> String {
    crate::hooks::state_json(
        &r.id,
        status,
        pid,
        &r.bundle,
        &r.annotations,
        &r.oci_version,
    )
}
