//! Faults, races and hostile input (issue 9). The stress suite (integration/stress/) covers
//! load; these cover a create killed at each of its steps, containers whose processes die
//! behind rrun's back, commands racing on one container, and oversized documents.

use crate::common::*;
use serde_json::json;
use std::process::{Command, Output, Stdio};

/// Where a create runs: on this host as it is, or as on a host without a cgroup2
/// hierarchy ([`without_cgroup2`]), where the id is reserved after the clone.
#[derive(Clone, Copy)]
enum Layout {
    AsIs,
    WithoutCgroup2,
}

/// `rrun create` under strace with one fault injected (`inject=SYSCALL:...`), rrun's own
/// process only: the init it clones runs on, untraced. Returns how it ended and its stderr,
/// read from a file: an init left waiting would hold a pipe open.
fn create_with_fault(
    layout: Layout,
    rt: &Runtime,
    b: &Bundle,
    id: &str,
    inject: &str,
) -> (std::process::ExitStatus, String) {
    let dir = TempDir::new("rrun-fault");
    let err_path = dir.path().join("stderr");
    let mut strace = Command::new("strace");
    strace
        .args(["-o", "/dev/null", "-e"])
        .arg(format!("inject={inject}"))
        .arg(RRUN)
        .arg("--root")
        .arg(rt.root.path())
        .args(["create", "--bundle"])
        .arg(b.path())
        .arg(id);
    let mut cmd = match layout {
        Layout::AsIs => strace,
        Layout::WithoutCgroup2 => without_cgroup2(&strace),
    };
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .expect("strace (make deps installs it)");
    (
        status,
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
}

/// Whether the host has a cgroup2 hierarchy (v2, or hybrid), where the init is cloned
/// straight into its cgroup.
fn has_cgroup2() -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("cgroup2"))
}

/// `rrun create`, SIGKILLed by strace on entry to the `when`-th call of `syscall`.
fn create_killed_at(layout: Layout, rt: &Runtime, b: &Bundle, id: &str, syscall: &str, when: u32) {
    let inject = format!("{syscall}:signal=KILL:when={when}");
    let (status, _) = create_with_fault(layout, rt, b, id, &inject);
    // strace dies of the signal its tracee died of: the fault really hit.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "create was not killed at {syscall}#{when}: {status:?}"
    );
}

/// A create killed at each step leaves nothing, or what `delete --force` removes
/// completely: state dir, cgroups in every hierarchy, the init and its mounts.
#[test]
fn create_killed_at_each_step_is_cleaned_by_delete_force() {
    let steps = [
        // The state dir and exec fifo exist; nothing is cloned yet.
        ("socketpair", 1, "after the state dir exists"),
        // The first write is the early record: the init is cloned, nothing recorded yet
        // (where there is a cgroup2 hierarchy: the record before the clone, nothing made).
        ("write", 1, "after the init is cloned"),
        // The "go" message: every cgroup is made, joined and given its device rules.
        ("sendto", 1, "after the cgroups are made"),
        // Waiting for "ready": the init is mounting the rootfs.
        ("recvfrom", 1, "during the mounts"),
        // The lock released at the very end: the init waits for `start`.
        ("flock", 2, "while the init waits for start"),
    ];
    // With a cgroup2 hierarchy the init is cloned into its cgroup there (clone3), which
    // is made first, after a record without a pid.
    let cgroup_before_clone = (
        "clone3",
        1,
        "with its cgroup v2 directory made, before the clone",
    );
    kill_create_at_each(
        Layout::AsIs,
        steps
            .into_iter()
            .chain(has_cgroup2().then_some(cgroup_before_clone)),
    );
}

/// The same where the id is reserved after the clone (no cgroup2 hierarchy to clone the
/// init into): the init is cloned before anything of the container is made.
#[test]
fn create_killed_at_each_step_is_cleaned_by_delete_force_without_cgroup2() {
    if cgroup_v2() {
        return;
    }
    let steps = [
        // Nothing is made yet: no init, no state dir.
        ("socketpair", 1, "before the clone"),
        // The state lock: the init is cloned and the state dir made, nothing recorded.
        ("flock", 1, "after the clone, with the id just reserved"),
        // The early record: the init and the state dir, no cgroup yet.
        ("write", 1, "before the record"),
        ("sendto", 1, "after the cgroups are made"),
        ("recvfrom", 1, "during the mounts"),
        ("flock", 2, "while the init waits for start"),
    ];
    kill_create_at_each(Layout::WithoutCgroup2, steps);
}

/// Kills a create of one bundle at each of `steps` in turn (a fresh id each time), and
/// checks after each what [`killed_create_is_cleaned_by_delete_force`] checks.
fn kill_create_at_each<'a>(
    layout: Layout,
    steps: impl IntoIterator<Item = (&'a str, u32, &'a str)>,
) {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    for step in steps {
        let id = unique("killed");
        killed_create_is_cleaned_by_delete_force(layout, &rt, &b, &id, step);
    }
}

/// Kills `rrun create` of `b` as `id` at `step` (a syscall and its count), then checks
/// that `delete --force` succeeds and leaves nothing, and that the id can be used again.
fn killed_create_is_cleaned_by_delete_force(
    layout: Layout,
    rt: &Runtime,
    b: &Bundle,
    id: &str,
    (syscall, when, step): (&str, u32, &str),
) {
    let before = HostSnapshot::take();
    create_killed_at(layout, rt, b, id, syscall, when);
    let out = rt.run(&["delete", "--force", id]);
    assert_no_panic(&out);
    assert!(
        out.status.success(),
        "{step}: delete --force failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The init, if cloned and not killed by delete, ends when it finds rrun gone. Two
    // empty scans a moment apart: one scan of /proc is not atomic, and a process cloned
    // while it runs (by an orphaned intermediate, say) can be missed by it.
    wait_until(&format!("{step}: no process of {id}"), || {
        processes_mentioning(id).is_empty() && {
            std::thread::sleep(std::time::Duration::from_millis(20));
            processes_mentioning(id).is_empty()
        }
    });
    assert_no_leftovers(rt, id, &before);
    rt.create(b, id);
    rt.ok(&["delete", "--force", id]);
}

/// A create whose clone fails after its cgroup v2 directory was made (clone3 refused by
/// strace, as a kernel out of pids would) says so and leaves nothing.
#[test]
fn a_failed_clone_into_the_cgroup_leaves_nothing() {
    if !has_cgroup2() {
        eprintln!("skipped: no cgroup2 hierarchy, no clone into a cgroup");
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("clonefail");
    let before = HostSnapshot::take();
    let (status, err) = create_with_fault(Layout::AsIs, &rt, &b, &id, "clone3:error=EAGAIN");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("cloning container init"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
}

/// A create killed after its early record but before it recorded the container as
/// created is reported as what it is.
#[test]
fn a_create_killed_mid_way_is_creating_then_stopped() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("midway");
    // Killed as it tells the init to build ("go"): the init then sees rrun gone and
    // exits. (Killed later, once it recorded the container while the init builds, the
    // container is either created, if the init got as far as reporting it built, or
    // stopped: `create_killed_at_each_step_is_cleaned_by_delete_force` covers those.)
    create_killed_at(Layout::AsIs, &rt, &b, &id, "sendto", 1);
    wait_until("the orphaned init exits", || {
        rt.state(&id)["status"] == "stopped"
    });
    assert!(
        rt.fails(&["start", &id]).contains("stopped"),
        "start of a never-finished container"
    );
    rt.ok(&["delete", &id]);
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn a_container_whose_init_died_is_stopped_and_deletes_cleanly() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    for started in [false, true] {
        let before = HostSnapshot::take();
        let id = unique("died");
        rt.create(&b, &id);
        if started {
            rt.ok(&["start", &id]);
        }
        let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_until("stopped", || rt.state(&id)["status"] == "stopped");
        assert_eq!(rt.state(&id)["pid"], 0);
        rt.ok(&["delete", &id]);
        assert_no_leftovers(&rt, &id, &before);
    }
}

/// A stale record whose pid now belongs to an unrelated process: the container is
/// stopped, and `delete --force` removes it without touching that process.
#[test]
fn a_reused_pid_survives_delete_force() {
    let rt = Runtime::new();
    let b = Bundle::sh("exit 0");
    let id = unique("stale");
    assert!(rt.run_with(&b, &id, &["--keep"]).status.success());
    // Start times count clock ticks (10 ms): a real reuse comes a pid wrap later, so make
    // sure the bystander is at least a tick younger than the init was.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let mut bystander = Command::new("sleep").arg("60").spawn().unwrap();
    let state_file = rt.state_dir(&id).join("state.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    rec["pid"] = json!(bystander.id());
    std::fs::write(&state_file, serde_json::to_vec(&rec).unwrap()).unwrap();
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.ok(&["delete", "--force", &id]);
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "delete --force killed an unrelated process"
    );
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

/// A state file that can't be parsed (a disk fault, a hand edit) is an error naming it;
/// `delete --force` still removes the directory, and warns that what the record named
/// (processes, cgroups) stays.
#[test]
fn a_corrupt_state_file_is_an_error_and_force_delete_removes_it() {
    let rt = Runtime::new();
    let b = Bundle::sh("exit 0");
    let id = unique("corrupt");
    assert!(rt.run_with(&b, &id, &["--keep"]).status.success());
    let record = std::fs::read(rt.state_dir(&id).join("state.json")).unwrap();
    let cgroups =
        serde_json::from_slice::<serde_json::Value>(&record).unwrap()["cgroup_paths"].clone();
    assert!(
        cgroups.as_array().is_some_and(|c| !c.is_empty()),
        "{cgroups}"
    );
    std::fs::write(rt.state_dir(&id).join("state.json"), "{\"id\": ").unwrap();
    let err = rt.fails(&["state", &id]);
    assert!(err.contains("state.json"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = rt.run(&["delete", "--force", &id]);
    assert!(out.status.success());
    // It says what it could not remove, in one line that names the file.
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("level=warning") && warning.contains("state.json"),
        "{warning}"
    );
    assert_eq!(warning.trim().lines().count(), 1, "{warning}");
    assert!(!rt.state_dir(&id).exists());
    // With its record unreadable, nothing can say where the container's cgroups were
    // (runc can't either): the test removes them, so that runs don't gather them.
    for dir in cgroups.as_array().into_iter().flatten() {
        let _ = std::fs::remove_dir(dir.as_str().unwrap());
    }
}

/// Many creates with one id at once: exactly one wins, the others are told the id is
/// taken, and the winner's container is intact.
#[test]
fn concurrent_creates_of_one_id_have_one_winner() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let before = HostSnapshot::take();
    let id = unique("samename");
    let outs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    outs.iter().for_each(assert_no_panic);
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "{} creates succeeded", winners);
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("already exists"), "{err}");
    }
    assert_eq!(rt.state(&id)["status"], "created");
    rt.ok(&["start", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

/// `delete --force` racing `start` and `kill` on one container: every command ends with
/// success or a one-line error, never a panic; afterwards nothing of it remains.
#[test]
fn delete_racing_start_and_kill_has_a_clear_outcome() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let before = HostSnapshot::take();
    for round in 0..10 {
        let id = unique(&format!("race{round}"));
        rt.create(&b, &id);
        let commands: [&[&str]; 4] = [
            &["start", &id],
            &["kill", &id, "KILL"],
            &["delete", "--force", &id],
            &["state", &id],
        ];
        let outs: Vec<Output> = std::thread::scope(|s| {
            let handles: Vec<_> = commands
                .iter()
                .map(|args| s.spawn(|| rt.run(args)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (args, o) in commands.iter().zip(&outs) {
            assert_no_panic(o);
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr);
                assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
            }
        }
        assert!(outs[2].status.success(), "delete --force lost the race");
        rt.ok(&["delete", "--force", &id]);
        wait_until("the container's processes are gone", || {
            processes_mentioning(&id).is_empty()
        });
        assert_no_leftovers(&rt, &id, &before);
    }
}

/// Peak RSS in KB of the command, as /usr/bin/time reports it; None if it didn't finish
/// within two minutes (a hang).
fn peak_rss_kb(rt: &Runtime, args: &[&str]) -> (Output, Option<u64>) {
    let out = Command::new("timeout")
        .args(["120", "/usr/bin/time", "-f", "rss=%M"])
        .arg(RRUN)
        .arg("--root")
        .arg(rt.root.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("timeout and /usr/bin/time (make deps installs them)");
    let err = String::from_utf8_lossy(&out.stderr);
    let rss = err
        .lines()
        .filter_map(|l| l.strip_prefix("rss="))
        .next_back()
        .and_then(|v| v.trim().parse().ok());
    (out, rss)
}

/// Makes `path` a 100 MB file (sparse: its JSON, then zeros).
fn grow_to_100_mb(path: &std::path::Path) {
    let file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.set_len(100 << 20).unwrap();
}

/// A 100 MB config.json is refused without being read; no state is left.
#[test]
fn an_oversized_config_is_refused_in_bounded_memory() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    grow_to_100_mb(&b.path().join("config.json"));
    let id = unique("huge");
    let (out, rss) = peak_rss_kb(
        &rt,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.json") && err.contains("16 MiB"),
        "{err}"
    );
    let rss = rss.expect("rrun finished");
    assert!(rss < 64 * 1024, "rrun used {rss} KB on a refused config");
    assert!(!rt.state_dir(&id).exists());
}

/// 100,000 environment variables and 10,000 mounts: the container runs and sees them all,
/// rrun's memory stays bounded, and nothing is left on the host.
#[test]
fn huge_env_and_mount_lists_work_in_bounded_memory() {
    let rt = Runtime::new();
    let before = HostSnapshot::take();
    let mut b = Bundle::sh("env | grep -c '^E[0-9]' ; grep -c ' /m/' /proc/self/mountinfo");
    b.edit(|c| {
        let env = c["process"]["env"].as_array_mut().unwrap();
        env.extend((0..100_000).map(|i| json!(format!("E{i}=1"))));
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.extend((0..10_000).map(|i| {
            json!({"destination": format!("/m/{i}"), "type": "tmpfs", "source": "tmpfs",
                   "options": ["size=4k"]})
        }));
    });
    let id = unique("huge");
    let (out, rss) = peak_rss_kb(&rt, &["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_no_panic(&out);
    assert!(
        out.status.success(),
        "{:?} (124: still running after 120 s): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "100000\n10000\n");
    let rss = rss.expect("rrun finished");
    assert!(rss < 256 * 1024, "rrun used {rss} KB");
    assert_no_leftovers(&rt, &id, &before);
}

/// exec's process.json with 100,000 environment variables; one beyond the size limit is
/// refused naming the file.
#[test]
fn huge_exec_process_json_works_and_an_oversized_one_is_refused() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "hugeexec");
    let dir = TempDir::new("rrun-process");
    let process = dir.path().join("process.json");
    let mut env: Vec<String> = (0..100_000).map(|i| format!("E{i}=1")).collect();
    env.push("PATH=/bin".into());
    let doc = json!({"args": ["sh", "-c", "env | grep -c '^E[0-9]'"], "cwd": "/", "env": env,
                     "user": {"uid": 0, "gid": 0}});
    std::fs::write(&process, doc.to_string()).unwrap();
    let p = process.to_str().unwrap();
    assert_eq!(rt.ok(&["exec", "--process", p, &id]), "100000\n");
    grow_to_100_mb(&process);
    let err = rt.fails_with(255, &["exec", "--process", p, &id]);
    assert!(
        err.contains("process.json") && err.contains("16 MiB"),
        "{err}"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// With RUST_BACKTRACE set, errors are still one line: no backtrace reaches users.
#[test]
fn errors_stay_one_line_with_rust_backtrace_set() {
    let rt = Runtime::new();
    let mut broken = Bundle::new(&["true"]);
    broken.edit(|c| c["process"]["args"] = json!(42));
    for args in [
        vec!["state", "no-such-container"],
        vec![
            "create",
            "--bundle",
            broken.path().to_str().unwrap(),
            "broken",
        ],
        vec!["kill", "no-such-container", "NOSIG"],
    ] {
        let out = rt
            .cmd()
            .args(&args)
            .env("RUST_BACKTRACE", "full")
            .env("RUST_LIB_BACKTRACE", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

/// The same for an app container of a user-namespaced pod, whose create goes through the
/// intermediate process: killed at each step, nothing of the app is left after `delete
/// --force` (no intermediate, no init, no cgroup, no mount), and the pod lives on.
#[test]
fn a_pod_apps_create_killed_at_each_step_is_cleaned_by_delete_force() {
    use crate::pods::{Cri, Pod, PodShape};
    let rt = Runtime::new();
    let pod = Pod::start(&rt, PodShape::user_namespaced(Cri::Containerd));
    let steps = [
        ("socketpair", 1, "after the state dir exists"),
        // The intermediate's socket: nothing cloned yet.
        ("socketpair", 2, "before the intermediate is cloned"),
        // Reading its report: it joins the pod's namespaces and clones the init.
        ("recvfrom", 1, "while the intermediate clones the init"),
        ("wait4", 1, "once the intermediate reported the init"),
        ("write", 1, "after the init is cloned"),
        ("sendto", 1, "after the cgroups are made"),
        ("recvfrom", 3, "during the mounts"),
        ("flock", 2, "while the init waits for start"),
    ];
    for (syscall, when, step) in steps {
        let id = unique("pod-killed");
        let app = pod.app(&id, "sleep 1000");
        killed_create_is_cleaned_by_delete_force(
            Layout::AsIs,
            &rt,
            &app,
            &id,
            (syscall, when, step),
        );
        assert_eq!(rt.state(&pod.sandbox_id)["status"], "running", "{step}");
    }
    rt.ok(&["delete", "--force", &pod.sandbox_id]);
}
