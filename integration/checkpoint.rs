//! `checkpoint` and `restore` with CRIU. CRIU 3.17 cannot run on this host's kernel: here
//! the tests check that rrun says so in one line and changes nothing; `make test-systemd`
//! runs the rest in the Debian guest (kernel 6.1), where RRUN_EXPECT_CRIU=1 makes a CRIU
//! that can't run a failure. The containers' stdio are pipes, as an engine's are: CRIU
//! keeps a pipe to the outside as an external one, and a restore gives the restored
//! process the restoring caller's pipes in its place.

use crate::common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether CRIU can checkpoint on this machine (`criu check`).
fn criu_runs() -> bool {
    Command::new("criu")
        .arg("check")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn have_criu() -> bool {
    let runs = criu_runs();
    if !runs {
        assert!(
            std::env::var_os("RRUN_EXPECT_CRIU").is_none(),
            "RRUN_EXPECT_CRIU is set, but `criu check` fails"
        );
        eprintln!("skipped: CRIU cannot run here (make test-systemd runs this in a guest)");
    }
    runs
}

/// The three pipes of a detached container: the test keeps stdin's write end and the
/// read ends of stdout and stderr.
struct Pipes {
    stdin: Option<(OwnedFd, OwnedFd)>,
    out_r: std::fs::File,
    out_w: Option<OwnedFd>,
    // Held so that the container's stderr has a reader.
    _err_r: std::fs::File,
    err_w: Option<OwnedFd>,
}

impl Pipes {
    fn new() -> Self {
        let (in_r, in_w) = nix::unistd::pipe().unwrap();
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (err_r, err_w) = nix::unistd::pipe().unwrap();
        Pipes {
            stdin: Some((in_r, in_w)),
            out_r: out_r.into(),
            out_w: Some(out_w),
            _err_r: err_r.into(),
            err_w: Some(err_w),
        }
    }

    /// Runs rrun with the container ends of the pipes as its stdio; returns its exit
    /// status and what it logged. The test's copies of those ends are closed after.
    fn rrun(&mut self, rt: &Runtime, args: &[&str]) -> (bool, String) {
        let log = TempDir::new("rrun-cr-log");
        let log_file = log.path().join("log");
        let (in_r, _) = self.stdin.as_ref().unwrap();
        let status = rt
            .cmd()
            .arg("--log")
            .arg(&log_file)
            .args(args)
            .stdin(Stdio::from(in_r.try_clone().unwrap()))
            .stdout(Stdio::from(
                self.out_w.as_ref().unwrap().try_clone().unwrap(),
            ))
            .stderr(Stdio::from(
                self.err_w.as_ref().unwrap().try_clone().unwrap(),
            ))
            .status()
            .unwrap();
        let logged = std::fs::read_to_string(&log_file).unwrap_or_default();
        (status.success(), messages(&logged))
    }

    /// The container has its own copies now: the test's write ends go, so that reads end
    /// when the container's do.
    fn close_container_ends(&mut self) {
        self.out_w = None;
        self.err_w = None;
    }

    /// The next line of stdout, within `secs`.
    #[track_caller]
    fn line(&mut self, secs: u64) -> Option<String> {
        read_line(&mut self.out_r, secs)
    }
}

/// The next line of `f` within `secs`; None at the end of the output.
#[track_caller]
fn read_line(f: &mut std::fs::File, secs: u64) -> Option<String> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let end = Instant::now() + Duration::from_secs(secs);
    let mut line = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no line within {secs} s (got {line:?})");
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        let ms = left.as_millis().min(10_000) as u16;
        if poll(&mut fds, PollTimeout::from(ms)).unwrap() == 0 {
            continue;
        }
        let mut b = [0u8; 1];
        match f.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(_) if b[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            Ok(_) => line.push(b[0]),
        }
    }
}

/// The next line, a count.
#[track_caller]
fn number(p: &mut Pipes) -> u64 {
    let l = p.line(30).expect("the output ended");
    l.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {l:?}"))
}

const COUNTER: &str = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done";

fn counting_bundle() -> Bundle {
    Bundle::sh(COUNTER)
}

/// `run -d` of `b` as `id` with fresh pipes; returns them with the count already going.
fn run_counting(rt: &Runtime, b: &Bundle, id: &str, extra: &[&str]) -> Pipes {
    let mut p = Pipes::new();
    let mut args = extra.to_vec();
    args.extend(["run", "-d", "--bundle", b.path().to_str().unwrap(), id]);
    let (ok, log) = p.rrun(rt, &args);
    assert!(ok, "run: {log}");
    p.close_container_ends();
    number(&mut p);
    p
}

/// `[GLOBAL...] restore -d [FLAGS...] --image-path IMAGE --bundle B ID` with fresh pipes.
fn restore_counting(
    rt: &Runtime,
    b: &Bundle,
    id: &str,
    image: &str,
    global: &[&str],
    flags: &[&str],
) -> Pipes {
    let mut p = Pipes::new();
    let mut args = global.to_vec();
    args.extend(["restore", "-d"]);
    args.extend(flags);
    args.extend([
        "--image-path",
        image,
        "--bundle",
        b.path().to_str().unwrap(),
        id,
    ]);
    let (ok, log) = p.rrun(rt, &args);
    assert!(ok, "restore: {log}");
    p.close_container_ends();
    p
}

/// The last count in what the container has written so far (it may have stopped).
fn last_count(p: &mut Pipes) -> u64 {
    let mut n = number(p);
    loop {
        let mut fds = [nix::poll::PollFd::new(
            p.out_r.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap() == 0 {
            return n;
        }
        match p.line(5).and_then(|l| l.trim().parse().ok()) {
            Some(m) => n = m,
            None => return n,
        }
    }
}

fn assert_gone(rt: &Runtime, id: &str) {
    let err = rt.fails(&["state", id]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(processes_mentioning(id).is_empty());
    assert!(
        cgroup_dirs_named(id).is_empty(),
        "{:?}",
        cgroup_dirs_named(id)
    );
}

#[test]
fn a_counting_container_continues_where_it_stopped() {
    if !have_criu() {
        return;
    }
    let rt = Runtime::new();
    let mut b = counting_bundle();
    // The prestart hook gets the state of the container being made: at the restore, the
    // restored init's.
    let hooked = TempDir::new("rrun-cr-hook");
    let hook_out = hooked.path().join("state");
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", hook_out.display())]}]});
    });
    let id = unique("cr-count");
    let before = HostSnapshot::take();
    let mut p = run_counting(&rt, &b, &id, &[]);
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().join("img");
    let image = image.to_str().unwrap();
    std::fs::remove_file(&hook_out).unwrap();
    // Stop reading, checkpoint: what was counted is in the pipe, what comes next in the
    // images.
    rt.ok(&["checkpoint", "--image-path", image, &id]);
    let seen = last_count(&mut p);
    // The checkpointed container is gone, as with runc: its processes are in the images.
    assert_gone(&rt, &id);
    let mut restored = restore_counting(&rt, &b, &id, image, &[], &[]);
    let st = rt.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    let hook: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&hook_out).unwrap()).unwrap();
    assert_eq!(
        (&hook["id"], &hook["pid"]),
        (&st["id"], &st["pid"]),
        "{hook}"
    );
    let next = number(&mut restored);
    assert!(
        next > seen && next < seen + 50,
        "the count went on from {seen}: {next}"
    );
    assert!(number(&mut restored) > next);
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

/// To read a container's cgroups at a dump and make them at a restore, CRIU mounts each
/// hierarchy afresh in rrun's cgroup namespace, the host's; a cgroup2 mount made there sets
/// the hierarchy's flags for the whole host, and CRIU's sets none: before rrun gave CRIU a
/// yard of the host's own mounts, a checkpoint and a restore each cleared systemd's
/// `nsdelegate` and `memory_recursiveprot` (runc's still do).
#[test]
fn checkpoint_and_restore_leave_the_hosts_cgroup2_flags() {
    if !have_criu() {
        return;
    }
    let Some(cgroup2) = cgroup2_with_systemds_flags() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    let flags = cgroup2_options(&cgroup2);
    let rt = Runtime::new();
    let b = counting_bundle();
    let id = unique("cr-flags");
    let before = HostSnapshot::take();
    let _p = run_counting(&rt, &b, &id, &[]);
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().join("img");
    let image = image.to_str().unwrap();
    rt.ok(&["checkpoint", "--image-path", image, &id]);
    assert_eq!(cgroup2_options(&cgroup2), flags, "after the checkpoint");
    let mut restored = restore_counting(&rt, &b, &id, image, &[], &[]);
    assert_eq!(cgroup2_options(&cgroup2), flags, "after the restore");
    number(&mut restored);
    let dir = rt.root.path().join(&id);
    assert!(
        !dir.join("criu-cgroup-yard").exists(),
        "the yard outlived CRIU: {:?}",
        std::fs::read_dir(&dir).map(|d| d.count())
    );
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn leave_running_keeps_the_container_and_a_new_id_restores_the_copy() {
    if !have_criu() {
        return;
    }
    let rt = Runtime::new();
    let b = counting_bundle();
    let id = unique("cr-leave");
    let copy = unique("cr-copy");
    let before = HostSnapshot::take();
    let mut p = run_counting(&rt, &b, &id, &[]);
    let pid = rt.state(&id)["pid"].clone();
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().to_str().unwrap();
    // The copy goes on from the count at the checkpoint: after this one.
    let seen = last_count(&mut p);
    rt.ok(&["checkpoint", "--leave-running", "--image-path", image, &id]);
    let st = rt.state(&id);
    assert_eq!((st["status"].as_str(), &st["pid"]), (Some("running"), &pid));
    let now = last_count(&mut p);
    assert!(number(&mut p) > now, "still counting");
    // The original goes; its copy comes back under another id.
    rt.ok(&["delete", "--force", &id]);
    let mut restored = restore_counting(&rt, &b, &copy, image, &[], &[]);
    assert_eq!(rt.state(&copy)["status"], "running");
    let next = number(&mut restored);
    assert!(next > seen && next < seen + 50, "{seen} then {next}");
    rt.ok(&["delete", "--force", &copy]);
    assert_no_leftovers(&rt, &copy, &before);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn a_pre_dump_then_a_dump_on_it_restores() {
    if !have_criu() {
        return;
    }
    let rt = Runtime::new();
    let b = counting_bundle();
    let id = unique("cr-pre");
    let before = HostSnapshot::take();
    let mut p = run_counting(&rt, &b, &id, &[]);
    let images = TempDir::new("rrun-cr-images");
    let parent = images.path().join("parent");
    let image = images.path().join("image");
    rt.ok(&[
        "checkpoint",
        "--pre-dump",
        "--image-path",
        parent.to_str().unwrap(),
        &id,
    ]);
    // A pre-dump leaves the container running.
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(number(&mut p) > 0);
    rt.ok(&[
        "checkpoint",
        "--parent-path",
        "../parent",
        "--image-path",
        image.to_str().unwrap(),
        &id,
    ]);
    // The dump refers to its parent's pages.
    assert!(image.join("parent").exists());
    let seen = last_count(&mut p);
    assert_gone(&rt, &id);
    let mut restored = restore_counting(&rt, &b, &id, image.to_str().unwrap(), &[], &[]);
    let next = number(&mut restored);
    assert!(next > seen && next < seen + 50, "{seen} then {next}");
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn a_container_with_a_terminal_gets_its_terminal_back() {
    if !have_criu() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh("i=0; while :; do echo tty$i; i=$((i+1)); sleep 0.1; done");
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let id = unique("cr-tty");
    let before = HostSnapshot::take();
    let dir = TempDir::new("rrun-cr-console");
    let console = |name: &str| {
        let path = dir.path().join(name);
        (std::os::unix::net::UnixListener::bind(&path).unwrap(), path)
    };
    let (l1, s1) = console("1.sock");
    rt.ok(&[
        "run",
        "-d",
        "--console-socket",
        s1.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let master = recv_with_fd(&l1.accept().unwrap().0).0.unwrap();
    let mut m1 = std::fs::File::from(master);
    let first = read_line(&mut m1, 30).unwrap_or_default();
    assert!(first.starts_with("tty"), "{first:?}");
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().to_str().unwrap();
    rt.ok(&["checkpoint", "--image-path", image, &id]);
    assert_gone(&rt, &id);
    drop(m1);
    let (l2, s2) = console("2.sock");
    rt.ok(&[
        "restore",
        "-d",
        "--console-socket",
        s2.to_str().unwrap(),
        "--image-path",
        image,
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let master = recv_with_fd(&l2.accept().unwrap().0).0.unwrap();
    let mut m2 = std::fs::File::from(master);
    // The restored shell writes to the terminal it had, whose master is the new one.
    let line = read_line(&mut m2, 30).unwrap_or_default();
    assert!(line.trim_end().starts_with("tty"), "{line:?}");
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn an_established_tcp_connection_survives_with_tcp_established() {
    if !have_criu() {
        return;
    }
    let rt = Runtime::new();
    // In the container's own network namespace, on loopback (up, as runc leaves it), a
    // server prints what a client counts into the connection (the server's stdin never
    // ends: busybox nc stops at the end of its stdin).
    let b = Bundle::sh(&format!(
        "sleep 100000 | nc -l -p 5000 & sleep 0.5; ({COUNTER}) | nc 127.0.0.1 5000"
    ));
    let id = unique("cr-tcp");
    let before = HostSnapshot::take();
    let mut p = run_counting(&rt, &b, &id, &[]);
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().to_str().unwrap();
    // Without the flag CRIU refuses the connection, and the container goes on.
    let err = rt.fails(&["checkpoint", "--image-path", image, &id]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("dump.log"), "{err}");
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(number(&mut p) > 0);
    rt.ok(&[
        "checkpoint",
        "--tcp-established",
        "--image-path",
        image,
        &id,
    ]);
    let seen = last_count(&mut p);
    // A restore without it fails as the dump did, in one line naming CRIU's log, and
    // leaves nothing: no state, no cgroup, no process, no mount.
    let err = rt.fails(&[
        "restore",
        "-d",
        "--image-path",
        image,
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("restore.log"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
    let mut restored = restore_counting(&rt, &b, &id, image, &[], &["--tcp-established"]);
    let next = number(&mut restored);
    assert!(next > seen && next < seen + 50, "{seen} then {next}");
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn a_container_in_a_systemd_scope_is_restored_into_its_scope() {
    if !have_criu() || !std::path::Path::new("/run/systemd/system").exists() {
        return;
    }
    let rt = Runtime::new();
    let name = unique("crscope");
    let mut b = counting_bundle();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("system.slice:rrun-test:{name}")));
    let unit = format!("rrun-test-{name}.scope");
    let id = unique("cr-scope");
    let before = HostSnapshot::take();
    let mut p = run_counting(&rt, &b, &id, &["--systemd-cgroup"]);
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().to_str().unwrap();
    rt.ok(&["--systemd-cgroup", "checkpoint", "--image-path", image, &id]);
    let seen = last_count(&mut p);
    let gone = || {
        let out = Command::new("systemctl")
            .args(["show", "-p", "LoadState", "--value", &unit])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "not-found"
    };
    wait_until("the scope to go", gone);
    let mut restored = restore_counting(&rt, &b, &id, image, &["--systemd-cgroup"], &[]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cgroup.contains(&unit), "{cgroup}");
    let next = number(&mut restored);
    assert!(next > seen && next < seen + 50, "{seen} then {next}");
    rt.ok(&["--systemd-cgroup", "delete", "--force", &id]);
    wait_until("the scope to go", gone);
    assert_no_leftovers(&rt, &id, &before);
}

/// Where CRIU can't run (this host's kernel), checkpoint says why in one line, naming
/// CRIU, the kernel and CRIU's log, and the container runs on untouched.
#[test]
fn where_criu_cannot_run_checkpoint_says_so_and_changes_nothing() {
    let installed = Command::new("criu").arg("--version").output().is_ok();
    if !installed || criu_runs() {
        eprintln!("skipped: CRIU runs here (or is not installed)");
        return;
    }
    let rt = Runtime::new();
    let b = counting_bundle();
    let id = unique("cr-nokernel");
    let mut p = run_counting(&rt, &b, &id, &[]);
    let pid = rt.state(&id)["pid"].clone();
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().join("img");
    let err = rt.fails(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    let kernel = nix::sys::utsname::uname().unwrap();
    let kernel = kernel.release().to_string_lossy();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CRIU cannot run on this kernel") && err.contains(&*kernel),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}/dump.log", image.display())),
        "{err}"
    );
    let st = rt.state(&id);
    assert_eq!((st["status"].as_str(), &st["pid"]), (Some("running"), &pid));
    let n = number(&mut p);
    assert!(number(&mut p) > n, "still counting");
    rt.ok(&["delete", "--force", &id]);
}

/// Bad input to checkpoint and restore: one line naming what is wrong, nothing left.
#[test]
fn bad_checkpoint_and_restore_requests_are_refused_naming_the_problem() {
    let rt = Runtime::new();
    let b = counting_bundle();
    let before = HostSnapshot::take();
    let err = rt.fails(&["checkpoint", "nosuch"]);
    assert!(
        err.contains("container does not exist: \"nosuch\""),
        "{err}"
    );

    // A created container has no process to checkpoint yet.
    let id = unique("cr-created");
    rt.create(&b, &id);
    let err = rt.fails(&["checkpoint", "--image-path", "/tmp/rrun-never", &id]);
    assert!(
        err.contains("cannot be checkpointed in created state"),
        "{err}"
    );
    assert!(!std::path::Path::new("/tmp/rrun-never").exists());
    rt.ok(&["delete", "--force", &id]);

    // Bad flags, on a running container.
    let sleeper = Bundle::sh("sleep 100");
    let id = running(&rt, &sleeper, "cr-flags");
    let err = rt.fails(&["checkpoint", "--manage-cgroups-mode", "loose", &id]);
    assert!(
        err.contains("--manage-cgroups-mode") && err.contains("loose"),
        "{err}"
    );
    let err = rt.fails(&["checkpoint", "--empty-ns", "pid", &id]);
    assert!(err.contains("--empty-ns"), "{err}");
    let err = rt.fails(&["checkpoint", "--page-server", "nowhere", &id]);
    assert!(err.contains("--page-server ADDRESS:PORT"), "{err}");
    rt.ok(&["delete", "--force", &id]);

    // Restore from images that are not there: named, and no container is made.
    let rid = unique("cr-noimage");
    let missing = TempDir::new("rrun-cr-none");
    let image = missing.path().join("absent");
    let err = rt.fails(&[
        "restore",
        "-d",
        "--image-path",
        image.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &rid,
    ]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&image.display().to_string()), "{err}");
    assert!(!rt.state_dir(&rid).exists());
    // An image directory without rrun's descriptors file (not a checkpoint).
    let err = rt.fails(&[
        "restore",
        "-d",
        "--image-path",
        missing.path().to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &rid,
    ]);
    assert!(err.contains("descriptors.json"), "{err}");
    let err = rt.fails(&["restore", "--bundle", "/nonexistent-bundle", &rid]);
    assert!(err.contains("/nonexistent-bundle"), "{err}");
    assert_no_leftovers(&rt, &rid, &before);
    assert_no_leftovers(&rt, &id, &before);
}

/// `features` tells engines checkpoint/restore is there (runc's annotation) only when a
/// CRIU answers, with its version.
#[test]
fn features_report_checkpoint_only_with_a_criu() {
    let rt = Runtime::new();
    let doc: serde_json::Value =
        serde_json::from_str(&rt.ok(&["--criu", "/nonexistent/criu", "features"])).unwrap();
    let a = &doc["annotations"];
    assert!(
        a.get("org.opencontainers.runc.checkpoint.enabled")
            .is_none(),
        "{a}"
    );
    let Ok(out) = Command::new("criu").arg("--version").output() else {
        eprintln!("skipped the half with CRIU: not installed");
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    let a = &doc["annotations"];
    assert_eq!(
        a["org.opencontainers.runc.checkpoint.enabled"], "true",
        "{a}"
    );
    let version = a["org.criu.version"].as_str().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let reported = text
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap_or_default();
    // CRIU prints 3.17.1 as "3.17.1" and 3.18 as "3.18".
    assert!(
        version == reported || version == format!("{reported}.0"),
        "{version} vs {reported}"
    );
}

/// A CRIU that never answers: a shell script in place of `criu`, which becomes a
/// `sleep` whose argument (returned) tells it from any other process.
fn silent_criu(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("criu");
    let marker = format!("600.{}", unique("").replace('-', ""));
    std::fs::write(&path, format!("#!/bin/sh\nexec sleep {marker}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (path, format!("sleep {marker}"))
}

/// Images restore can read, made by hand (the restore never gets to use them).
fn fake_images(dir: &std::path::Path) -> String {
    std::fs::write(
        dir.join("descriptors.json"),
        r#"["/dev/null","/dev/null","/dev/null"]"#,
    )
    .unwrap();
    dir.display().to_string()
}

/// No wait on CRIU is without bound: a CRIU that never answers is killed after
/// RRUN_CRIU_TIMEOUT, and the restore fails in one line, leaving nothing.
#[test]
fn a_criu_that_never_answers_is_an_error_within_the_bound() {
    let rt = Runtime::new();
    let b = counting_bundle();
    let tools = TempDir::new("rrun-cr-fake");
    let (criu, marker) = silent_criu(tools.path());
    let images = fake_images(tools.path());
    let id = unique("cr-silent");
    let before = HostSnapshot::take();
    let started = Instant::now();
    let out = output_through_files(
        {
            let mut c = rt.cmd();
            c.env("RRUN_CRIU_TIMEOUT", "2")
                .arg("--criu")
                .arg(&criu)
                .args(["restore", "-d", "--image-path", &images, "--bundle"])
                .arg(b.path())
                .arg(&id);
            c
        },
        tools.path(),
    );
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let err = messages(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("CRIU did not finish within 2 s"), "{err}");
    assert!(processes_mentioning(&marker).is_empty());
    assert_no_leftovers(&rt, &id, &before);
}

/// A restore killed while CRIU works leaves what `delete --force` removes: the state
/// directory, the rootfs bound for CRIU, the cgroups.
#[test]
fn a_restore_killed_midway_is_cleaned_by_delete_force() {
    let rt = Runtime::new();
    let b = counting_bundle();
    let tools = TempDir::new("rrun-cr-fake");
    let (criu, marker) = silent_criu(tools.path());
    let images = fake_images(tools.path());
    let id = unique("cr-killed");
    let before = HostSnapshot::take();
    let mut child = rt
        .cmd()
        .arg("--criu")
        .arg(&criu)
        .args(["restore", "-d", "--image-path", &images, "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the fake CRIU to start", || {
        !processes_mentioning(&marker).is_empty()
    });
    let _ = child.kill();
    let _ = child.wait();
    for pid in processes_mentioning(&marker) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(rt.state_dir(&id).exists());
    rt.ok(&["delete", "--force", &id]);
    wait_until("the fake CRIU to go", || {
        processes_mentioning(&marker).is_empty()
    });
    assert_no_leftovers(&rt, &id, &before);
}

/// The help of both commands: their own titles, and every flag runc's have.
#[test]
fn help_lists_runcs_checkpoint_and_restore_flags() {
    let rt = Runtime::new();
    let checkpoint = rt.ok(&["checkpoint", "--help"]);
    assert!(
        checkpoint
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(" - Checkpoint a running container"),
        "{checkpoint}"
    );
    for flag in [
        "image-path",
        "work-path",
        "parent-path",
        "leave-running",
        "tcp-established",
        "tcp-skip-in-flight",
        "link-remap",
        "ext-unix-sk",
        "shell-job",
        "lazy-pages",
        "status-fd",
        "page-server",
        "file-locks",
        "pre-dump",
        "manage-cgroups-mode",
        "empty-ns",
        "auto-dedup",
    ] {
        assert!(
            checkpoint.contains(&format!("--{flag}")),
            "{flag}: {checkpoint}"
        );
    }
    let restore = rt.ok(&["restore", "--help"]);
    assert!(
        restore
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(" - Restore a container from a previous checkpoint"),
        "{restore}"
    );
    for flag in [
        "console-socket",
        "image-path",
        "work-path",
        "tcp-established",
        "ext-unix-sk",
        "shell-job",
        "file-locks",
        "manage-cgroups-mode",
        "bundle",
        "detach",
        "pid-file",
        "no-subreaper",
        "no-pivot",
        "empty-ns",
        "auto-dedup",
        "lazy-pages",
        "lsm-profile",
        "lsm-mount-context",
    ] {
        assert!(restore.contains(&format!("--{flag}")), "{flag}: {restore}");
    }
}

/// Bind mounts as CRIU must be told of them: one nested in another (whose mount point
/// inside the outer source is gone by the restore: restore makes it again, as create
/// did), and one whose destination is a symlink in the rootfs (the mount is where it
/// points).
#[test]
fn nested_binds_and_a_symlinked_destination_come_back() {
    if !have_criu() {
        return;
    }
    let rt = Runtime::new();
    let mut b = counting_bundle();
    let data = TempDir::new("rrun-cr-binds");
    let (outer, inner, conf) = (
        data.path().join("outer"),
        data.path().join("inner"),
        data.path().join("conf"),
    );
    for d in [&outer, &inner, &conf] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(inner.join("marker"), "inner\n").unwrap();
    std::fs::write(conf.join("marker"), "conf\n").unwrap();
    std::fs::create_dir_all(b.rootfs().join("real/conf")).unwrap();
    std::os::unix::fs::symlink("/real/conf", b.rootfs().join("conf")).unwrap();
    let bind = |src: &std::path::Path, dest: &str| json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rw"]});
    let mounts = [
        bind(&outer, "/test"),
        bind(&inner, "/test/for/nested"),
        bind(&conf, "/conf"),
    ];
    b.edit(|c| c["mounts"].as_array_mut().unwrap().extend(mounts));
    let id = unique("cr-binds");
    let before = HostSnapshot::take();
    let mut p = run_counting(&rt, &b, &id, &[]);
    let markers = ["cat", "/test/for/nested/marker", "/real/conf/marker"];
    let inside = |rt: &Runtime, id: &str| {
        let out = rt.run(&[&["exec", id][..], &markers[..]].concat());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(inside(&rt, &id), "inner\nconf\n");
    let images = TempDir::new("rrun-cr-images");
    let image = images.path().to_str().unwrap();
    rt.ok(&["checkpoint", "--image-path", image, &id]);
    let seen = last_count(&mut p);
    // The mount point create made in the outer source goes.
    std::fs::remove_dir_all(outer.join("for")).unwrap();
    let mut restored = restore_counting(&rt, &b, &id, image, &[], &[]);
    let next = number(&mut restored);
    assert!(next > seen && next < seen + 50, "{seen} then {next}");
    let mounts = rt.run(&["exec", &id, "cat", "/proc/self/mountinfo"]);
    assert_eq!(
        inside(&rt, &id),
        "inner\nconf\n",
        "{}",
        String::from_utf8_lossy(&mounts.stdout)
    );
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}
