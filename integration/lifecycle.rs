//! create / start / state / kill / delete / run / list / spec, as a user sees them.

use crate::common::*;
use serde_json::json;
use std::process::{Command, Stdio};

#[test]
fn run_prints_output_and_returns_exit_code() {
    let rt = Runtime::new();
    let (out, err, code) = rt.run_bundle(&Bundle::sh("echo hello from rrun; exit 3"));
    assert_eq!(out, "hello from rrun\n", "stderr: {err}");
    assert_eq!(code, 3);
}

#[test]
fn state_follows_the_lifecycle() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("life");
    let before = HostSnapshot::take();
    rt.create(&b, &id);
    let s = rt.state(&id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["ociVersion"], "1.0.2-dev");
    assert_eq!(s["bundle"], b.path().to_str().unwrap());
    assert_eq!(s["rootfs"], b.rootfs().to_str().unwrap());
    assert!(s["created"].as_str().unwrap().ends_with('Z'));
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0);
    // The created container's init is alive and already in its own pid namespace.
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        std::fs::read_link("/proc/self/ns/pid").unwrap()
    );

    rt.ok(&["start", &id]);
    let s = rt.state(&id);
    assert_eq!(s["status"], "running");
    assert_eq!(
        s["pid"].as_i64().unwrap(),
        pid,
        "init keeps its pid through exec"
    );
    wait_until("exec of sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"))
    });

    rt.ok(&["kill", &id, "KILL"]);
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &before);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(") Z")
    );
}

#[test]
fn container_is_placed_in_its_own_cgroup_and_it_is_removed() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("cg");
    let before = HostSnapshot::take();
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let dirs = cgroup_dirs_named(&id);
    assert!(!dirs.is_empty(), "no cgroup named after the container");
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}",
            d.display()
        );
    }
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn absolute_cgroups_path_is_used() {
    let rt = Runtime::new();
    let name = unique("abs-cg");
    let mut b = Bundle::sh("cat /proc/self/cgroup");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/rrun-test/{name}")));
    let id = unique("abscg");
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let dir = format!(
        "/sys/fs/cgroup/{}rrun-test/{name}",
        if cgroup_v2() { "" } else { "pids/" }
    );
    let procs = std::fs::read_to_string(format!("{dir}/cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), pid.to_string());
    rt.ok(&["delete", &id]);
    assert!(!std::path::Path::new(&dir).exists());
}

#[test]
fn delete_force_kills_a_running_container() {
    let rt = Runtime::new();
    let marker = unique("marker");
    let b = Bundle::sh(&format!("sleep 1000; echo {marker}"));
    let id = unique("force");
    let before = HostSnapshot::take();
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let err = rt.fails(&["delete", &id]);
    assert!(
        err.contains("cannot delete container") && err.contains("running"),
        "{err}"
    );
    assert_eq!(
        rt.state(&id)["status"],
        "running",
        "a refused delete changes nothing"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
    assert!(processes_mentioning(&marker).is_empty());
}

/// A v1 freezer cgroup of the test's own, frozen, holding a process moved into it; thawed
/// and removed when dropped, whatever the test got to.
struct ForeignFrozenCgroup(std::path::PathBuf);

impl ForeignFrozenCgroup {
    fn freeze(pid: i64) -> Self {
        let dir = std::path::Path::new("/sys/fs/cgroup/freezer").join(unique("foreign-freezer"));
        std::fs::create_dir(&dir).unwrap();
        let cg = ForeignFrozenCgroup(dir);
        std::fs::write(cg.0.join("cgroup.procs"), pid.to_string()).unwrap();
        std::fs::write(cg.0.join("freezer.state"), "FROZEN").unwrap();
        cg
    }

    fn thaw(&self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
    }
}

impl Drop for ForeignFrozenCgroup {
    fn drop(&mut self) {
        self.thaw();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::remove_dir(&self.0).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// An init SIGKILL can't end (frozen by a freezer cgroup that isn't the container's, as
/// crun's test_delete makes it) fails `delete --force` in runc's words after its bound,
/// and the container stays, so that once the init can die a `delete --force` removes all
/// of it. (Before, rrun went on to remove the cgroups the init still held and failed on
/// those, "device or resource busy", some eight seconds later.)
#[test]
fn delete_force_of_an_init_sigkill_cannot_end_fails_and_keeps_the_container() {
    if cgroup_v2() || !std::path::Path::new("/sys/fs/cgroup/freezer/tasks").exists() {
        eprintln!("skipped: no v1 freezer hierarchy");
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("frozen-elsewhere");
    let before = HostSnapshot::take();
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let foreign = ForeignFrozenCgroup::freeze(pid);
    let err = rt.fails(&["delete", "--force", &id]);
    assert!(
        err.contains("container init still running") && err.contains(&pid.to_string()),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(rt.state(&id)["pid"], pid, "the container is kept");
    foreign.thaw();
    rt.ok(&["delete", "--force", &id]);
    drop(foreign);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn delete_of_created_container_kills_init() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("delcreated");
    let before = HostSnapshot::take();
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &before);
    wait_until("init gone", || {
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap()
                .is_empty()
    });
}

#[test]
fn kill_default_signal_is_term_and_all_reaches_every_process() {
    let rt = Runtime::new();
    // The shell traps TERM (pid 1 ignores signals it has no handler for).
    let b = Bundle::sh("trap 'echo got-term > /tmp/t; exit 0' TERM; sleep 1000 & wait");
    let id = unique("kill");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    wait_until("trap installed", || {
        std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("SigCgt:") && !l.ends_with("0000000000000000"))
        })
    });
    rt.ok(&["kill", &id]);
    wait_until("stopped after TERM", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);

    let b = Bundle::sh("sleep 1000 & sleep 1000 & wait");
    let id = unique("killall");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    rt.ok(&["kill", "--all", &id, "9"]);
    wait_until("stopped after kill --all", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);
}

#[test]
fn run_forwards_signals_and_reports_128_plus_signal() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("sig");
    let mut child = rt
        .cmd()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("running", || {
        rt.run(&["state", &id]).status.success() && rt.state(&id)["status"] == "running"
    });
    rt.ok(&["kill", &id, "SIGKILL"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert!(
        !rt.state_dir(&id).exists(),
        "run removes the container after it exits"
    );
}

/// Whether process `pid` has a handler for signal `sig` (its SigCgt bit).
fn catches(pid: i64, sig: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .filter_map(|l| l.strip_prefix("SigCgt:"))
            .filter_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .any(|mask| mask & (1 << (sig - 1)) != 0)
    })
}

/// Real-time signals reach the container as any other: a foreground `run` forwards those
/// it gets (34, which runc calls SIGRTMIN, and 64, SIGRTMAX), and `kill --all` sends them
/// by number (`RTMIN+1` is 35, as in runc).
#[test]
fn real_time_signals_reach_the_container_from_run_and_kill_all() {
    let rt = Runtime::new();
    let script =
        "trap 'echo got34; exit 34' 34; trap 'echo got64; exit 64' 64; while :; do sleep 0.1; done";
    let b = Bundle::sh(script);
    // A hook's output is read on threads of rrun's (src/threads.rs says what that meant
    // for signal 34).
    let mut hooked = Bundle::sh(script);
    hooked.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/true"}]}));
    for (sig, b) in [(34, &b), (64, &b), (34, &hooked)] {
        let id = unique("rtsig");
        let child = rt
            .cmd()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("the traps installed", || {
            rt.run(&["state", &id]).status.success()
                && rt.state(&id)["pid"]
                    .as_i64()
                    .is_some_and(|pid| pid > 0 && catches(pid, 64))
        });
        let sent = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let mut child = child;
        let ended = (0..1000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            child.try_wait().unwrap().is_some()
        });
        // Also where rrun ended and left its container (which holds the output's pipe).
        rt.run(&["delete", "-f", &id]);
        let out = child.wait_with_output().unwrap();
        assert!(ended, "signal {sig} never reached the container");
        assert_eq!(out.status.code(), Some(sig), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("got{sig}\n"));
    }

    let b = Bundle::sh("trap 'echo got35 > /dev/shm/rt' 35; while :; do sleep 0.1; done");
    let id = unique("rtall");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    wait_until("the trap installed", || catches(pid, 35));
    rt.ok(&["kill", "--all", &id, "RTMIN+1"]);
    wait_until("the trap ran", || {
        rt.run(&["exec", &id, "cat", "/dev/shm/rt"]).stdout == b"got35\n"
    });
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn run_detach_keep_and_pid_file() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("detach");
    let pidfile = b.path().join("init.pid");
    let status = rt
        .cmd()
        .args(["run", "-d", "--pid-file"])
        .arg(&pidfile)
        .args(["--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let s = rt.state(&id);
    assert_eq!(s["status"], "running");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        s["pid"].to_string()
    );
    rt.ok(&["delete", "-f", &id]);

    let b = Bundle::sh("exit 0");
    let id = unique("keep");
    let out = rt.run_with(&b, &id, &["--keep"]);
    assert!(out.status.success());
    assert_eq!(
        rt.state(&id)["status"],
        "stopped",
        "--keep leaves the stopped container"
    );
    rt.ok(&["delete", &id]);
}

#[test]
fn list_shows_containers_in_table_json_and_quiet() {
    let rt = Runtime::new();
    assert_eq!(rt.ok(&["list", "--format", "json"]).trim(), "null");
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("list");
    rt.create(&b, &id);
    let table = rt.ok(&["list"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&id) && row.contains("created") && row.contains(b.path().to_str().unwrap()),
        "{row}"
    );
    let json: serde_json::Value = serde_json::from_str(&rt.ok(&["list", "-f", "json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"], "created");
    assert_eq!(rt.ok(&["list", "-q"]), format!("{id}\n"));
    rt.ok(&["delete", &id]);
}

#[test]
fn spec_writes_runc_default_and_refuses_to_overwrite() {
    let dir = TempDir::new("rrun-spec");
    let rt = Runtime::new();
    rt.ok(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
    assert_eq!(v["process"]["terminal"], true);
    let err = rt.fails(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    assert!(err.contains("exists"), "{err}");
    let dir2 = TempDir::new("rrun-spec-rootless");
    rt.ok(&[
        "spec",
        "--rootless",
        "--bundle",
        dir2.path().to_str().unwrap(),
    ]);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir2.path().join("config.json")).unwrap()).unwrap();
    assert!(
        v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "user")
    );
}

#[test]
fn log_file_gets_json_errors() {
    let rt = Runtime::new();
    let dir = TempDir::new("rrun-log");
    let log = dir.path().join("log.json");
    let out = rt
        .cmd()
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "no-such-container",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"));
    assert!(v["time"].as_str().unwrap().starts_with("20"));
}

#[test]
fn a_reused_pid_is_not_taken_for_the_container() {
    let rt = Runtime::new();
    let b = Bundle::sh("exit 0");
    let id = unique("reuse");
    let out = rt.run_with(&b, &id, &["--keep"]);
    assert!(out.status.success());
    // Point the record at a live, unrelated process (this test) with the recorded start time.
    let state_file = rt.state_dir(&id).join("state.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    rec["pid"] = json!(std::process::id());
    std::fs::write(&state_file, serde_json::to_vec(&rec).unwrap()).unwrap();
    assert_eq!(rt.state(&id)["status"], "stopped");
    assert!(rt.fails(&["kill", &id, "KILL"]).contains("not running"));
    rt.ok(&["delete", &id]);
}

/// Each hook kind records its stdin and the mount namespace it ran in.
#[test]
fn hooks_run_at_their_moments_with_state_on_stdin() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let log = b.path().join("hooks.log");
    let hook = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo \"{kind} $(readlink /proc/self/ns/mnt) $s\" >> {}", log.display())]});
    b.edit(|c| {
        c["annotations"] = json!({"org.test": "yes"});
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "createContainer": [hook("createContainer")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    let id = unique("hooks");
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let container_mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap()
        .display()
        .to_string();
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .display()
        .to_string();
    rt.ok(&["start", &id]);
    rt.ok(&["delete", "-f", &id]);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ],
        "{text}"
    );
    for l in &lines {
        let (kind, rest) = l.split_once(' ').unwrap();
        let (ns, state) = rest.split_once(' ').unwrap();
        let expected_ns = if kind == "createContainer" {
            &container_mnt
        } else {
            &host_mnt
        };
        assert_eq!(ns, expected_ns, "{kind} ran in the wrong mount namespace");
        let s: serde_json::Value = serde_json::from_str(state).unwrap();
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["bundle"], b.path().to_str().unwrap());
        assert_eq!(s["annotations"]["org.test"], "yes");
        if kind != "poststop" {
            assert_eq!(s["pid"], pid, "{kind} gets the init pid");
        }
    }
}

#[test]
fn failing_create_hook_aborts_and_cleans_up() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]}));
    let id = unique("badhook");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("error running createRuntime hook #0: exit status 1"),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn version_is_in_runcs_shape() {
    let out = Runtime::new().ok(&["--version"]);
    // runc's test: "runc version X.Y.Z", then "commit:", then "spec: X.Y.Z".
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("runc version 1."), "{out}");
    assert!(lines[0].contains("rrun "), "{out}");
    assert!(lines[1].starts_with("commit: "), "{out}");
    assert!(lines[2].starts_with("spec: 1."), "{out}");
}

#[test]
fn features_document_is_the_specs_type_and_tells_the_truth() {
    let out = Runtime::new().ok(&["features"]);
    let f: oci_spec::runtime::Features = serde_json::from_str(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hooks"].as_array().unwrap().len(), 6);
    let linux = f.linux().as_ref().unwrap();
    assert_eq!(v["linux"]["seccomp"]["enabled"], true);
    assert!(
        v["linux"]["seccomp"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "SCMP_ACT_NOTIFY")
    );
    assert_eq!(
        v["linux"]["cgroup"]["systemd"], true,
        "the systemd cgroup driver"
    );
    assert!(linux.namespaces().as_ref().unwrap().len() >= 8);
    // Idmapped mounts and the user's own systemd (rootless) are there, and said to be.
    assert_eq!(v["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(v["linux"]["cgroup"]["systemdUser"], true);
}

/// startContainer runs inside the container (its mount namespace, after pivot_root), after
/// `start` and before the process; annotations reach `state`.
#[test]
fn start_container_hook_runs_inside_and_annotations_reach_state() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cat /hook.out; echo process");
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["annotations"] = json!({"com.example.key": "value"});
        c["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "read -r s; echo \"startContainer in $(readlink /proc/self/ns/mnt): $s\" > /hook.out"]}]});
    });
    let id = unique("starthook");
    let log = b.path().join("out.log");
    let status = rt
        .cmd()
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let state = rt.state(&id);
    assert_eq!(state["annotations"]["com.example.key"], "value");
    let pid = state["pid"].as_i64().unwrap();
    let mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap()
        .display()
        .to_string();
    assert!(!b.rootfs().join("hook.out").exists(), "not before start");
    rt.ok(&["start", &id]);
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(
        out.starts_with(&format!("startContainer in {mnt}: {{")),
        "{out}"
    );
    assert!(
        out.contains(&format!("\"id\":\"{id}\"")) && out.ends_with("process\n"),
        "{out}"
    );
    rt.ok(&["delete", &id]);
}

/// A hook that appends `line` to the file `log`.
fn hook_appending(log: &std::path::Path, line: &str) -> serde_json::Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {line} >> {}", log.display())]})
}

/// A failing poststart hook fails `start` and kills the container, and the hooks after it
/// do not run, as in runc (whose hooks.bats checks it) and crun; the spec would have a
/// warning. `run` and `run --detach` then remove the container, as runc's do.
#[test]
fn a_failing_poststart_hook_fails_start_and_kills_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let log = b.path().join("hooks.log");
    let record = |kind: &str| hook_appending(&log, kind);
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [record("poststart"), {"path": "/bin/false"}, record("never")],
            "poststop": [record("poststop")],
        })
    });
    let id = unique("poststartfail");
    rt.create(&b, &id);
    let start = rt.run(&["start", &id]);
    assert!(!start.status.success());
    let error = messages(&String::from_utf8_lossy(&start.stderr));
    assert!(
        error.contains("error running poststart hook #1: exit status 1"),
        "{error}"
    );
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.ok(&["delete", &id]);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "poststart\npoststop\n"
    );
    for detach in [false, true] {
        std::fs::remove_file(&log).unwrap();
        let id = unique("poststartfail");
        let mut args = vec!["run", "--bundle", b.path().to_str().unwrap()];
        if detach {
            args.push("--detach");
        }
        args.push(&id);
        let run = rt.run(&args);
        assert!(!run.status.success(), "detach {detach}");
        let error = messages(&String::from_utf8_lossy(&run.stderr));
        assert!(
            error.contains("error running poststart hook #1: exit status 1"),
            "detach {detach}: {error}"
        );
        assert!(!rt.state_dir(&id).exists(), "detach {detach}");
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "poststart\npoststop\n",
            "detach {detach}"
        );
    }
}

/// A failing poststop hook is a warning: the hooks after it still run and `delete`
/// succeeds (runtime-spec lifecycle; runtime-tools poststop_fail).
#[test]
fn a_failing_poststop_hook_warns_and_the_rest_run() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let log = b.path().join("hooks.log");
    let record = |kind: &str| hook_appending(&log, kind);
    b.edit(|c| c["hooks"] = json!({"poststop": [{"path": "/bin/false"}, record("poststop")]}));
    let id = unique("hookwarn");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let delete = rt.run(&["delete", "--force", &id]);
    assert!(delete.status.success());
    let warning = messages(&String::from_utf8_lossy(&delete.stderr));
    assert!(
        warning.contains("error running poststop hook #0: exit status 1"),
        "{warning}"
    );
    assert!(!rt.state_dir(&id).exists());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "poststop\n");
}

/// Poststart hooks run "after the user-specified process is executed": when they run,
/// the container's pid already is the process, not rrun's init.
#[test]
fn poststart_hook_runs_after_the_process_is_executed() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let log = b.path().join("exe.log");
    let script = format!(
        "pid=$(grep -o '\"pid\":[0-9]*' | cut -d: -f2); readlink /proc/$pid/exe >> {}",
        log.display()
    );
    b.edit(|c| {
        c["hooks"] = json!({"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]})
    });
    let id = unique("poststart");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let exe = std::fs::read_to_string(&log).unwrap();
    rt.ok(&["delete", "--force", &id]);
    // The link reads as the container sees it; before the exec it was rrun.
    assert_eq!(
        exe.trim(),
        "/bin/busybox",
        "the poststart hook saw the init before its exec"
    );
}

/// `run` in the foreground records the container while the init builds and lets the init
/// exec once built, with no round through the exec fifo, unless the config has hooks in
/// between: the prestart and createRuntime hooks still run before the container counts as
/// created (their state says "creating"), a poststart hook after the exec, and `run`
/// still reports the process's output and exit code.
#[test]
fn run_in_the_foreground_runs_every_hook_at_its_moment() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo out; exit 3");
    let log = b.path().join("hooks.log");
    let hook = |kind: &str| {
        let script = format!(
            "read -r s; pid=$(echo \"$s\" | grep -o '\"pid\":[0-9]*' | cut -d: -f2); \
             status=$(echo \"$s\" | grep -o '\"status\":\"[a-z]*\"'); \
             echo \"{kind} $status $(readlink /proc/$pid/exe 2>/dev/null)\" >> {}",
            log.display()
        );
        json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
    };
    b.edit(|c| {
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        })
    });
    let id = unique("runhooks");
    let out = rt.run_with(&b, &id, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("prestart \"status\":\"creating\""),
        "{text}"
    );
    assert!(
        lines[1].starts_with("createRuntime \"status\":\"creating\""),
        "{text}"
    );
    // After the exec: the pid is the process (busybox's sh, or gone once it exited).
    assert!(lines[2].starts_with("poststart "), "{text}");
    assert!(
        !lines[2].contains("rrun"),
        "poststart ran before the exec: {text}"
    );
    assert!(lines[3].starts_with("poststop "), "{text}");
    assert!(!rt.state_dir(&id).exists());
}

/// The container is what config.json said at create: editing it afterwards changes
/// nothing (runtime-tools config_updates_without_affect).
#[test]
fn config_changes_after_create_do_not_affect_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo $MARK > /out");
    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "MARK=original"]);
        c["root"]["readonly"] = json!(false);
    });
    let id = unique("cfgupdate");
    rt.create(&b, &id);
    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "MARK=changed"]);
        c["hostname"] = json!("changed");
    });
    rt.ok(&["start", &id]);
    wait_until("the container to stop", || {
        rt.state(&id)["status"] == "stopped"
    });
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("out")).unwrap(),
        "original\n"
    );
    rt.ok(&["delete", &id]);
}

/// Unknown properties and annotation keys are ignored; an ociVersion that is no version
/// is refused, naming the field (runtime-tools misc_props).
#[test]
fn unknown_properties_are_ignored_and_a_bad_version_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo ran");
    b.edit(|c| {
        c["unknownProperty"] = json!({"nested": [1, 2]});
        c["process"]["unknownToo"] = json!(true);
        c["annotations"] = json!({"org.example.unknown-key": ""});
    });
    assert_eq!(rt.output_of(&b), "ran\n");
    b.edit(|c| c["ociVersion"] = json!("invalid"));
    let id = unique("badversion");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("ociVersion"), "{err}");
    assert!(!rt.state_dir(&id).exists());
}

/// runtime-spec 1.2 properties rrun does not apply (as runc 1.1), written in the spec's own
/// words, still run the container: `process.scheduler.flags` names two flags otherwise
/// than the oci-spec crate's types, and such a config was refused (crun's
/// test_scheduler.py). A flag that is no flag is refused, naming the field.
#[test]
fn a_scheduler_in_the_spec_s_words_runs_and_a_bad_flag_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo ran");
    let scheduler = |flags: serde_json::Value| json!({"policy": "SCHED_OTHER", "flags": flags});
    b.edit(|c| {
        c["process"]["scheduler"] =
            scheduler(json!(["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]))
    });
    assert_eq!(rt.output_of(&b), "ran\n");
    b.edit(|c| c["process"]["scheduler"] = scheduler(json!(["SCHED_FLAG_SOMETIMES"])));
    let id = unique("badflag");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("process.scheduler.flags[0]"), "{err}");
    assert!(!rt.state_dir(&id).exists());
}

/// rrun's command line started by `sh` with some signals ignored, as `nohup` or a shell's
/// `trap ''` pass them on to what they start.
fn ignoring_signals(rt: &Runtime, args: &[&str]) -> Command {
    let rrun = rt.cmd();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("trap '' HUP INT TERM USR1 40 64; exec \"$@\"")
        .arg("sh")
        .arg(rrun.get_program())
        .args(rrun.get_args())
        .args(args)
        .stdin(Stdio::null());
    c
}

#[test]
fn the_process_starts_with_no_signal_ignored_or_blocked_whatever_rrun_inherited() {
    // rrun ignores SIGPIPE, `run` blocks what it forwards, and a caller's ignored signals
    // survive an exec (the real-time ones too, which the C library won't reset): none of
    // it may reach the container's process.
    let rt = Runtime::new();
    let b = Bundle::new(&["cat", "/proc/self/status"]);
    let bundle = b.path().to_str().unwrap();
    let clean = |out: &str| {
        for line in ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
        }
    };
    let sh_ignores = Command::new("sh")
        .args([
            "-c",
            "trap '' HUP INT TERM USR1 40 64; exec cat /proc/self/status",
        ])
        .output()
        .unwrap();
    let ignored = String::from_utf8_lossy(&sh_ignores.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .and_then(|mask| u64::from_str_radix(mask, 16).ok())
        .unwrap();
    // HUP, INT, USR1 and TERM (1, 2, 10 and 15), and two real-time signals.
    let wanted = 0x8000_0080_0000_4203;
    assert_eq!(ignored & wanted, wanted, "the caller ignores {ignored:#x}");

    let id = unique("sigs-run");
    let out = ignoring_signals(&rt, &["run", "--bundle", bundle, &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    clean(&String::from_utf8_lossy(&out.stdout));

    let id = unique("sigs-created");
    let dir = TempDir::new("sigs-out");
    let out_file = dir.path().join("stdout");
    let created = ignoring_signals(&rt, &["create", "--bundle", bundle, &id])
        .stdout(std::fs::File::create(&out_file).unwrap())
        .status()
        .unwrap();
    assert!(created.success());
    rt.ok(&["start", &id]);
    wait_until("the container's end", || {
        rt.state(&id)["status"] == "stopped"
    });
    clean(&std::fs::read_to_string(&out_file).unwrap());
    rt.ok(&["delete", &id]);

    // A process `exec` adds, in the foreground and detached.
    let sleeper = Bundle::new(&["sleep", "30"]);
    let id = running(&rt, &sleeper, "sigs-exec");
    let out = ignoring_signals(&rt, &["exec", &id, "cat", "/proc/self/status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    clean(&String::from_utf8_lossy(&out.stdout));
    let exec_out = dir.path().join("exec-stdout");
    let detached = ignoring_signals(&rt, &["exec", "-d", &id, "cat", "/proc/self/status"])
        .stdout(std::fs::File::create(&exec_out).unwrap())
        .status()
        .unwrap();
    assert!(detached.success());
    let status = || std::fs::read_to_string(&exec_out).unwrap();
    wait_until("the detached process's output", || {
        status().contains("SigIgn")
    });
    clean(&status());
    rt.ok(&["delete", "--force", &id]);
}

/// A created container stops on the signals that stop a created runc container (its Go
/// init waits for `start` and dies of them), `kill`'s default SIGTERM first, and on no
/// other; a HUP its caller left ignored stays ignored, as Go keeps it, but not TERM.
/// pidfd-socket.bats kills a created container with SIGTERM this way; engines stop one so.
#[test]
fn a_created_container_stops_on_the_signals_that_stop_runc_s() {
    let rt = Runtime::new();
    let b = Bundle::new(&["echo", "started"]);
    let bundle = b.path().to_str().unwrap();
    let init_of = |id: &str| rt.state(id)["pid"].as_i64().unwrap() as i32;
    let signal = |id: &str, sig: i32| {
        // SAFETY: a plain kill(2) of the container's init, which the test just created.
        assert_eq!(unsafe { libc::kill(init_of(id), sig) }, 0);
    };
    let stopped = |id: &str| rt.state(id)["status"] == "stopped";

    let id = unique("created-term");
    rt.create(&b, &id);
    let pid = init_of(&id);
    rt.ok(&["kill", &id]);
    wait_until("stopped by kill's TERM", || stopped(&id));
    assert!(
        std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |c| c.is_empty()),
        "the init is gone"
    );
    rt.ok(&["delete", &id]);

    let id = unique("created-quit");
    rt.create(&b, &id);
    signal(&id, libc::SIGQUIT);
    wait_until("stopped by QUIT", || stopped(&id));
    rt.ok(&["delete", &id]);

    // Neither USR1 nor WINCH ends it: `start` still runs the process.
    let dir = TempDir::new("created-sigs");
    let out_file = dir.path().join("stdout");
    let id = unique("created-usr1");
    let created = rt
        .cmd()
        .args(["create", "--bundle", bundle, &id])
        .stdout(std::fs::File::create(&out_file).unwrap())
        .status()
        .unwrap();
    assert!(created.success());
    signal(&id, libc::SIGUSR1);
    signal(&id, libc::SIGWINCH);
    // TERM takes a few milliseconds to end a created init (above); give these far longer.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(rt.state(&id)["status"], "created");
    rt.ok(&["start", &id]);
    wait_until("the process ran", || stopped(&id));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "started\n");
    rt.ok(&["delete", &id]);

    // The caller ignores HUP, INT and TERM (nohup, a shell's trap ''): HUP is still
    // ignored, TERM still stops it.
    let id = unique("created-ignoring");
    let created = ignoring_signals(&rt, &["create", "--bundle", bundle, &id])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());
    signal(&id, libc::SIGHUP);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(rt.state(&id)["status"], "created");
    signal(&id, libc::SIGTERM);
    wait_until("stopped by TERM though its caller ignored it", || {
        stopped(&id)
    });
    rt.ok(&["delete", &id]);
}

/// The pid an fd is a pidfd of, from its fdinfo ("Pid:"), as the kernel reports it.
fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> i64 {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .unwrap_or_else(|| panic!("not a pidfd: {info}"))
        .trim()
        .parse()
        .unwrap()
}

fn pidfd_kill(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal with a live pidfd, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            0,
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "pidfd_send_signal: {}",
        std::io::Error::last_os_error()
    );
}

/// A listener on a fresh socket path, accepting one connection on a thread and returning
/// what it received (runc's tests/cmd/pidfd-kill does the same with the pidfd).
fn pidfd_receiver(
    dir: &TempDir,
) -> (
    String,
    std::thread::JoinHandle<(Option<std::os::fd::OwnedFd>, String)>,
) {
    let path = dir.path().join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let handle = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        recv_with_fd(&conn)
    });
    (path.display().to_string(), handle)
}

/// pidfd-socket.bats: `create --pidfd-socket` and `exec --pidfd-socket` hand the caller a
/// pidfd of the init and of the exec'd process, with runc's words beside them; the pidfd
/// kills just that process. A socket nobody listens on fails the create, naming it, and
/// leaves nothing.
#[test]
fn pidfd_socket_hands_over_the_init_and_an_exec_d_process() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let dir = TempDir::new("rrun-pidfd");
    let id = unique("pidfd");
    let (path, received) = pidfd_receiver(&dir);
    let bundle = b.path().to_str().unwrap();
    rt.ok(&["create", "--pidfd-socket", &path, "--bundle", bundle, &id]);
    let (init_fd, words) = received.join().unwrap();
    let init_fd = init_fd.expect("no fd came with the message");
    assert_eq!(words, "standard");
    assert_eq!(pidfd_pid(&init_fd), rt.state(&id)["pid"].as_i64().unwrap());
    rt.ok(&["start", &id]);

    std::fs::remove_file(&path).unwrap();
    let (path, received) = pidfd_receiver(&dir);
    let pid_file = dir.path().join("exec.pid");
    let pid_file = pid_file.to_str().unwrap();
    rt.ok(&[
        "exec",
        "-d",
        "--pidfd-socket",
        &path,
        "--pid-file",
        pid_file,
        &id,
        "sleep",
        "1000",
    ]);
    let (exec_fd, words) = received.join().unwrap();
    let exec_fd = exec_fd.expect("no fd came with the message");
    assert_eq!(words, "setns");
    let exec_pid: i64 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pidfd_pid(&exec_fd), exec_pid);
    pidfd_kill(&exec_fd);
    wait_until("the exec'd process to end", || ended(exec_pid as i32));
    assert_eq!(rt.state(&id)["status"], "running");
    pidfd_kill(&init_fd);
    wait_until("the container to stop", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);

    let nobody = dir.path().join("nobody.sock");
    let nobody = nobody.to_str().unwrap();
    let id = unique("pidfd-nobody");
    let before = HostSnapshot::take();
    let said = rt.fails(&[
        "run",
        "-d",
        "--pidfd-socket",
        nobody,
        "--bundle",
        bundle,
        &id,
    ]);
    assert_eq!(
        said,
        format!("run: --pidfd-socket: failed to dial {nobody}: no such file or directory\n")
    );
    assert_no_leftovers(&rt, &id, &before);
}
