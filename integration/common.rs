//! Helpers for the integration tests: busybox bundles, running the real rrun binary,
//! and checks that a test left nothing behind on the host.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const RRUN: &str = env!("CARGO_BIN_EXE_rrun");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique name for this test process and call: ids, directories.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let p = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Gives the container's process capability `name`: bounding, effective and permitted.
pub fn grant_capability(config: &mut Value, name: &str) {
    for set in ["bounding", "effective", "permitted"] {
        config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!(name));
    }
}

/// An OCI bundle: a busybox rootfs and rrun's default config with the given args.
pub struct Bundle {
    pub dir: TempDir,
    pub config: Value,
}

pub fn busybox_rootfs(rootfs: &Path) {
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("busybox-static must be installed at /bin/busybox");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = bin.join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    for d in ["proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

impl Bundle {
    pub fn new(args: &[&str]) -> Self {
        let dir = TempDir::new("rrun-bundle");
        busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new(RRUN)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rrun spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        let b = Bundle { dir, config };
        b.write();
        b
    }

    /// Gives the container a user namespace of its own, host ids 100000-165535 mapped to
    /// 0-65535.
    pub fn in_user_namespace(&mut self) -> &mut Self {
        self.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        })
    }

    pub fn sh(script: &str) -> Self {
        Bundle::new(&["sh", "-c", script])
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Changes the config with a closure and writes it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.write();
        self
    }

    pub fn write(&self) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

/// A private state root for one test, with the helpers to drive rrun against it.
pub struct Runtime {
    pub root: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

/// Whatever a failing test left in its root is force-deleted, so one failure does not
/// leave containers running on the machine.
impl Drop for Runtime {
    fn drop(&mut self) {
        force_delete_all(self.root.path(), || self.cmd());
    }
}

/// `delete --force` of every container in the state root `root`, each with a fresh rrun
/// command from `rrun` (whatever a failing test left there).
pub fn force_delete_all(root: &Path, rrun: impl Fn() -> Command) {
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let _ = rrun()
                .args(["delete", "--force", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `cmd` to completion with its output through files in `dir`, not pipes: a
/// container that a command leaves behind inherits them, and a pipe would then never end.
pub fn output_through_files(mut cmd: Command, dir: &Path) -> Output {
    let base = dir.join(format!(".out-{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
    let (out_path, err_path) = (base.with_extension("stdout"), base.with_extension("stderr"));
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    let output = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    output
}

impl Runtime {
    pub fn new() -> Self {
        Runtime {
            root: TempDir::new("rrun-root"),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(RRUN);
        c.arg("--root").arg(self.root.path());
        c
    }

    /// `rrun run` of `b` (a fresh id from `tag`) under strace with `strace_args`, rrun's
    /// `global` flags before the command, its stdin /dev/null, to its end: for the tests
    /// that make the kernel refuse a call.
    pub fn run_under_strace(
        &self,
        strace_args: &[std::ffi::OsString],
        global: &[&str],
        b: &Bundle,
        tag: &str,
    ) -> Output {
        Command::new("strace")
            .args(strace_args)
            .arg(RRUN)
            .args(global)
            .arg("--root")
            .arg(self.root.path())
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(unique(tag))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("strace (make deps installs it)")
    }

    /// Runs rrun to completion. Its output goes through files, not pipes: a container that
    /// a command leaves behind inherits them, and a pipe would then never reach its end.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.cmd();
        cmd.args(args);
        output_through_files(cmd, self.root.path())
    }

    /// `rrun run` of a bundle in the foreground; returns (stdout, stderr, exit code).
    pub fn run_bundle(&self, b: &Bundle) -> (String, String, i32) {
        let id = unique("run");
        let out = self
            .cmd()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    /// `rrun run EXTRA... --bundle B ID` to completion (foreground, stdin /dev/null).
    pub fn run_with(&self, b: &Bundle, id: &str, extra: &[&str]) -> Output {
        self.cmd()
            .arg("run")
            .args(extra)
            .arg("--bundle")
            .arg(b.path())
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs the bundle and returns its stdout, failing the test on a non-zero exit.
    pub fn output_of(&self, b: &Bundle) -> String {
        let (out, err, code) = self.run_bundle(b);
        assert_eq!(code, 0, "container failed: stdout={out:?} stderr={err:?}");
        assert!(err.is_empty(), "unexpected stderr: {err}");
        out
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(
            out.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The container's processes, as `ps --format json` lists them.
    pub fn pids(&self, id: &str) -> Vec<i64> {
        serde_json::from_str(&self.ok(&["ps", "--format", "json", id])).unwrap()
    }

    /// `rrun create` (output through files, see `run`), failing the test on an error.
    pub fn create(&self, b: &Bundle, id: &str) {
        let out = self.run(&["create", "--bundle", b.path().to_str().unwrap(), id]);
        assert!(
            out.status.success(),
            "create {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rrun {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs rrun expecting failure (exit 1); returns what stderr says (see [`messages`]).
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_with(1, args)
    }

    /// Runs rrun expecting exit code `code`; returns what stderr says (see [`messages`]).
    pub fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "rrun {args:?} should fail with {code}; stdout={} stderr={}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "rrun panicked: {err}"
        );
        messages(&err)
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }
}

/// rrun's stderr as a person reads it: each of runc's log lines
/// (`time="..." level=error msg="..."`) becomes its message, unquoted; other lines (a
/// container's own output) stay as they are.
pub fn messages(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| match log_line(line) {
            Some((_, msg)) => msg,
            None => line.to_string(),
        })
        .map(|l| l + "\n")
        .collect()
}

/// A runc-style log line's level and message, or None for any other line.
pub fn log_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("time=\"")?;
    let (_, rest) = rest.split_once("\" level=")?;
    let (level, quoted) = rest.split_once(" msg=")?;
    let msg: String = serde_json::from_str(quoted).ok()?;
    Some((level.to_string(), msg))
}

/// `cmd` where the host has no cgroup2 hierarchy, as on a pure cgroup v1 host: in a
/// private mount namespace with this hybrid host's `unified` mount taken away (as
/// `make bench` runs every runtime, for crun). The init is then cloned into no cgroup.
pub fn without_cgroup2(cmd: &Command) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    wrapped
}

/// Whether this host runs the unified cgroup v2 hierarchy (the QEMU guest of
/// `make test-v2`) rather than v1.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// What a container could leave on the host: mounts, cgroup directories, processes.
/// The name a test's TempDir starts with where the test mounts a filesystem of its own on
/// the host (to bind into a container): [`HostSnapshot`] leaves such mounts out.
pub const HOST_MOUNT_FIXTURE: &str = "rrun-host-mount-";

#[derive(Debug, PartialEq, Eq)]
pub struct HostSnapshot {
    mounts: BTreeSet<String>,
}

impl HostSnapshot {
    pub fn take() -> Self {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let fixtures = format!(
            " {}",
            std::env::temp_dir().join(HOST_MOUNT_FIXTURE).display()
        );
        HostSnapshot {
            mounts: info
                .lines()
                .map(|l| l.split(' ').skip(3).take(2).collect::<Vec<_>>().join(" "))
                // Namespaces the pod tests pin, as a CRI would: theirs, not rrun's.
                .filter(|m| !m.contains(" /tmp/rrun-pins-"))
                // The filesystems tests mount on the host as bind sources, while this one
                // runs beside them.
                .filter(|m| !m.contains(&fixtures))
                // What CRIU mounts for itself (its cgroup yard, its mount namespace's
                // root) and the root a restore gives it, while a checkpoint test runs
                // beside this one. A restore's root left mounted shows otherwise: its
                // state directory can't be removed.
                .filter(|m| !m.contains("/.criu.") && !m.ends_with("/criu-root"))
                // A user's runtime directory, which logind mounts when that user's
                // systemd starts: the rootless systemd test starts one beside this one.
                .filter(|m| !is_users_runtime_dir(m))
                .collect(),
        }
    }
}

/// Whether a mount, as "root mountpoint", is logind's `/run/user/UID`.
fn is_users_runtime_dir(mount: &str) -> bool {
    mount
        .split_once(" /run/user/")
        .is_some_and(|(_, uid)| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
}

/// Asserts that nothing of container `id` remains: state dir, cgroup dirs, processes,
/// and that the host's mount table is what it was.
pub fn assert_no_leftovers(rt: &Runtime, id: &str, before: &HostSnapshot) {
    assert!(!rt.state_dir(id).exists(), "state dir of {id} left behind");
    assert_eq!(&HostSnapshot::take(), before, "host mounts changed");
    let dirs = cgroup_dirs_named(id);
    assert!(dirs.is_empty(), "cgroups left behind: {dirs:?}");
    let procs = processes_mentioning(id);
    assert!(
        procs.is_empty(),
        "processes left behind: {}",
        describe_processes(&procs)
    );
}

/// Each pid with its name, state and parent from /proc/PID/status, to tell a left-behind
/// init from an intermediate or a zombie when a test fails.
pub fn describe_processes(pids: &[i32]) -> String {
    pids.iter()
        .map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or("?")
                    .to_string()
            };
            format!(
                "{pid} ({}, {}, parent {})",
                field("Name:"),
                field("State:"),
                field("PPid:")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every cgroup directory named `id`, in every hierarchy, up to a few levels deep.
pub fn cgroup_dirs_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: usize, out: &mut Vec<PathBuf>) {
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                if e.file_name() == id {
                    out.push(e.path());
                }
                walk(&e.path(), id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 5, &mut out);
    out
}

/// Pids of processes whose command line mentions `needle` as a whole word (other than
/// this test).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if mentions_whole(&cmd, needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `text` as a whole word: ids share prefixes and counters
/// ("killed-12-3" is in "pod-killed-12-34"), and a test beside this one may be running
/// the longer one.
fn mentions_whole(text: &str, needle: &str) -> bool {
    let part_of_a_word = |c: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    text.match_indices(needle).any(|(at, _)| {
        !part_of_a_word(text[..at].chars().next_back())
            && !part_of_a_word(text[at + needle.len()..].chars().next())
    })
}

/// Fails the test if rrun's stderr shows a panic or a backtrace.
pub fn assert_no_panic_in(stderr: &str) {
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("internal error")
            && !stderr.contains("backtrace")
            && !stderr.contains("RUST_BACKTRACE"),
        "rrun panicked: {stderr}"
    );
}

/// [`assert_no_panic_in`] on a finished command's stderr.
pub fn assert_no_panic(out: &Output) {
    assert_no_panic_in(&String::from_utf8_lossy(&out.stderr));
}

/// `rrun exec -d ID ARGS...` in a running container; returns the new process's host pid.
pub fn exec_detached(rt: &Runtime, id: &str, args: &[&str]) -> i32 {
    exec_detached_with(rt, id, &[], args)
}

/// [`exec_detached`] with more of exec's flags.
pub fn exec_detached_with(rt: &Runtime, id: &str, flags: &[&str], args: &[&str]) -> i32 {
    let dir = TempDir::new("rrun-exec-pid");
    let pid_file = dir.path().join("pid");
    let pid_arg = pid_file.to_str().unwrap();
    rt.ok(&[
        &["exec", "-d", "--pid-file", pid_arg][..],
        flags,
        &[id],
        args,
    ]
    .concat());
    std::fs::read_to_string(&pid_file).unwrap().parse().unwrap()
}

/// Whether a process has ended: gone, or a zombie nobody reaped yet (on this machine the
/// orphans of `exec -d` go to a pid 1 that does not reap them).
pub fn ended(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("Z")
        })
        .unwrap_or(true)
}

/// Creates and starts a container of `b` with a fresh id made from `prefix`; returns the id.
pub fn running(rt: &Runtime, b: &Bundle, prefix: &str) -> String {
    let id = unique(prefix);
    rt.create(b, &id);
    rt.ok(&["start", &id]);
    id
}

/// Receives one message and the fd sent with it (SCM_RIGHTS), as containerd's console
/// socket and a seccomp agent's listener socket do.
pub fn recv_with_fd(
    sock: &std::os::unix::net::UnixStream,
) -> (Option<std::os::fd::OwnedFd>, String) {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = vec![0u8; 65536];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and is owned by nothing else.
            fd = fds
                .first()
                .map(|f| unsafe { std::os::fd::OwnedFd::from_raw_fd(*f) });
        }
    }
    let n = msg.bytes;
    (fd, String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Whether process `pid` runs rrun from a sealed view of the binary (CVE-2019-5736): a
/// read-only overlayfs view, or a sealed memfd copy where overlayfs is unavailable. Never
/// the host's writable file.
pub fn runs_sealed_rrun(pid: u32) -> bool {
    runs_sealed_rrun_installed_at(pid, Path::new(RRUN))
}

/// [`runs_sealed_rrun`] for an rrun installed at `installed`.
pub fn runs_sealed_rrun_installed_at(pid: u32, installed: &Path) -> bool {
    sealed_exe(pid) && !maps_the_installed_rrun(pid, installed)
}

fn sealed_exe(pid: u32) -> bool {
    let exe = format!("/proc/{pid}/exe");
    if std::fs::read_link(&exe).is_ok_and(|e| e.to_string_lossy().starts_with("/memfd:rrun")) {
        return true;
    }
    let Ok(file) = std::fs::File::open(&exe) else {
        return false;
    };
    nix::sys::statfs::fstatfs(&file)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC)
        && nix::sys::statvfs::fstatvfs(&file)
            .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Whether any mapping of process `pid` is of the installed binary through its installed
/// path. A sealed rrun keeps none, whether it re-executed from the sealed view
/// or moved onto it in place (its exe link alone is not enough: the code it runs must
/// come from the view too). A mapping through the view names the path inside the view's
/// detached mount; its device is the overlay's (Linux 6.8 on) or the installed file's
/// (before: overlayfs shows the lower file's inode), so the path tells them apart.
fn maps_the_installed_rrun(pid: u32, installed: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let path = std::fs::canonicalize(installed).unwrap();
    let host = std::fs::metadata(&path).unwrap();
    let (major, minor) = (
        nix::sys::stat::major(host.dev()),
        nix::sys::stat::minor(host.dev()),
    );
    let device = format!("{major:02x}:{minor:02x}");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    maps.lines().any(|l| {
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        f.len() > 5 && f[3] == device && f[4] == host.ino().to_string() && Path::new(f[5]) == path
    })
}

#[test]
fn a_process_mentions_an_id_only_as_a_whole_word() {
    let line = "rrun --root /run/x create --bundle /tmp/b pod-killed-12-34";
    assert!(mentions_whole(line, "pod-killed-12-34"));
    assert!(!mentions_whole(line, "killed-12-34"), "a longer id's tail");
    assert!(
        !mentions_whole(line, "pod-killed-12-3"),
        "a longer id's head"
    );
    assert!(mentions_whole("sleep 600.1234", "sleep 600.1234"));
    assert!(!mentions_whole("sleep 600.12345", "sleep 600.1234"));
    assert!(mentions_whole(
        "/tmp/bundle-1-2/rootfs x",
        "/tmp/bundle-1-2"
    ));
}

/// The host's cgroup2 mount showing the hierarchy from its root (/sys/fs/cgroup on v2,
/// /sys/fs/cgroup/unified on a hybrid host), if there is one.
pub fn host_cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.lines().find_map(|l| {
        let (mount, fs) = l.split_once(" - ")?;
        let mount: Vec<&str> = mount.split(' ').collect();
        (fs.starts_with("cgroup2 ") && mount.get(3) == Some(&"/")).then(|| PathBuf::from(mount[4]))
    })
}

/// The super options of the cgroup2 mount at `at`: the hierarchy's flags, the host's.
pub fn cgroup2_options(at: &Path) -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find_map(|l| {
            let (mount, fs) = l.split_once(" - ")?;
            let fs: Vec<&str> = fs.split(' ').collect();
            (mount.split(' ').nth(4) == at.to_str() && fs[0] == "cgroup2")
                .then(|| fs[2].to_string())
        })
        .unwrap_or_else(|| panic!("no cgroup2 mount at {}", at.display()))
}

/// The host's cgroup2 mount, with the flags systemd gives it (`nsdelegate`,
/// `memory_recursiveprot`) given back if something cleared them: runc's checkpoints and
/// restores do (CRIU's own cgroup2 mounts), as runc 1.1's cgroup mount does. The tests
/// that check that rrun leaves them need them there to see it.
pub fn cgroup2_with_systemds_flags() -> Option<PathBuf> {
    let at = host_cgroup2_mount()?;
    if !cgroup2_options(&at).contains("nsdelegate") {
        let given = Command::new("mount")
            .args(["-o", "remount,nsdelegate,memory_recursiveprot"])
            .arg(&at)
            .status()
            .unwrap();
        assert!(given.success(), "remounting {}", at.display());
    }
    let options = cgroup2_options(&at);
    assert!(
        options.contains("nsdelegate"),
        "{}: {options}",
        at.display()
    );
    Some(at)
}
