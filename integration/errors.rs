//! Bad input: every one gets a clear one-line error, exit 1, and leaves nothing behind.

use crate::common::*;
use serde_json::json;

fn create_fails(rt: &Runtime, b: &Bundle) -> String {
    let id = unique("bad");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_no_leftovers(rt, &id, &before);
    err
}

#[test]
fn missing_config_json() {
    let rt = Runtime::new();
    let b = Bundle::sh("true");
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    assert!(create_fails(&rt, &b).contains("config.json not found"));
}

#[test]
fn invalid_json_names_the_field() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["process"]["user"]["uid"] = json!("root"));
    let err = create_fails(&rt, &b);
    assert!(err.contains("process.user.uid"), "{err}");
    std::fs::write(b.path().join("config.json"), "{ not json").unwrap();
    assert!(create_fails(&rt, &b).contains("config.json"));
}

#[test]
fn malformed_exec_cpu_affinity_is_refused_naming_the_field() {
    // oci-spec checks the CPU list with a pattern (through shims/regex): still checked,
    // and `\d` means 0-9 only, as in runc's Go.
    let rt = Runtime::new();
    for bad in ["0-x", "\u{663}"] {
        let mut b = Bundle::sh("true");
        b.edit(|c| c["process"]["execCPUAffinity"] = json!({ "initial": bad }));
        let err = create_fails(&rt, &b);
        assert!(err.contains("process.execCPUAffinity.initial"), "{err}");
    }
    let mut b = Bundle::sh("true");
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({ "initial": "0-1,3" }));
    assert_eq!(rt.output_of(&b), "");
}

#[test]
fn bad_schedulers_io_priorities_and_memory_policies_are_refused_in_runc_s_words() {
    let rt = Runtime::new();
    for (field, value, expected) in [
        (
            ("process", "scheduler"),
            json!({"policy": "SCHED_OTHER", "nice": 20}),
            "invalid scheduler.nice: 20 when scheduler.policy is SCHED_OTHER",
        ),
        (
            ("process", "scheduler"),
            json!({"policy": "SCHED_BATCH", "runtime": 5}),
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy",
        ),
        (
            ("process", "ioPriority"),
            json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "invalid ioPriority.Priority: 8",
        ),
        (
            ("linux", "memoryPolicy"),
            json!({}),
            "invalid memory policy mode \"\"",
        ),
        (
            ("linux", "memoryPolicy"),
            json!({"mode": "INTERLEAVE", "nodes": "0"}),
            "invalid memory policy mode \"INTERLEAVE\"",
        ),
        (
            ("linux", "memoryPolicy"),
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["badflag"]}),
            "invalid memory policy flag \"badflag\"",
        ),
        (
            ("linux", "memoryPolicy"),
            json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "memory policy mode requires 0 nodes but got 8",
        ),
        (
            ("linux", "memoryPolicy"),
            json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}),
            "invalid memory policy nodes",
        ),
    ] {
        let mut b = Bundle::sh("true");
        b.edit(|c| c[field.0][field.1] = value.clone());
        let err = create_fails(&rt, &b);
        assert!(err.contains(expected), "{field:?} {value}: {err}");
    }
    // Refused by the kernel in the init, once the container is half made: a deadline
    // scheduler in a cpuset smaller than its root domain (runc's words for it).
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        let mut b = Bundle::sh("true");
        b.edit(|c| {
            c["linux"]["resources"]["cpu"] = json!({"cpus": "0"});
            c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE", "runtime": 42000,
                "deadline": 1000000, "period": 1000000});
        });
        let err = create_fails(&rt, &b);
        assert!(
            err.contains("process scheduler can't be used together with AllowedCPUs"),
            "{err}"
        );
    }
}

#[test]
fn missing_rootfs_and_empty_args() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let err = create_fails(&rt, &b);
    assert!(
        err.contains("root.path") && err.contains("no-such-rootfs"),
        "{err}"
    );
    let mut b = Bundle::sh("true");
    b.edit(|c| c["process"]["args"] = json!([]));
    assert!(create_fails(&rt, &b).contains("process.args"));
}

#[test]
fn bad_mount_type_reports_the_mount_and_cleans_up() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/bad", "type": "nosuchfs", "source": "none"}))
    });
    let err = create_fails(&rt, &b);
    assert!(
        err.contains("mounting \"none\" on \"/bad\"") && err.contains("nosuchfs"),
        "{err}"
    );
}

/// runc's rules, checked before anything is made: masked and read-only paths need a mount
/// namespace of the container's own, and a sysctl a namespace of its own that isolates it;
/// one that would change the host's kernel (here `vm.overcommit_ratio`) is refused.
#[test]
fn what_would_reach_the_host_is_refused_naming_the_field() {
    let rt = Runtime::new();
    for field in ["maskedPaths", "readonlyPaths"] {
        let mut b = Bundle::sh("true");
        b.edit(|c| {
            c["linux"]["namespaces"] = json!([{"type": "pid"}]);
            c["hostname"] = json!(null);
            c["linux"]["maskedPaths"] = json!([]);
            c["linux"]["readonlyPaths"] = json!([]);
            c["linux"][field] = json!(["/proc/kcore"]);
        });
        let err = create_fails(&rt, &b);
        assert!(
            err.contains(&format!(
                "linux.{field}: unable to restrict sys entries without a private MNT namespace"
            )),
            "{err}"
        );
    }
    let overcommit = || std::fs::read_to_string("/proc/sys/vm/overcommit_ratio").unwrap();
    let host_value = overcommit();
    let other: u32 = host_value.trim().parse::<u32>().unwrap() + 1;
    for (key, value, message) in [
        (
            "vm.overcommit_ratio",
            other.to_string(),
            "is not in a separate kernel namespace",
        ),
        (
            "kernel.shmmax",
            "4096".to_string(),
            "is not allowed in the hosts ipc namespace",
        ),
        (
            "net.ipv4.ip_forward",
            "1".to_string(),
            "not allowed in host network namespace",
        ),
    ] {
        let mut b = Bundle::sh("true");
        b.edit(|c| {
            let own: Vec<_> = c["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| !(key.starts_with("kernel.") && n["type"] == "ipc"))
                .filter(|n| !(key.starts_with("net.") && n["type"] == "network"))
                .cloned()
                .collect();
            c["linux"]["namespaces"] = json!(own);
            c["linux"]["sysctl"] = json!({ key: value });
        });
        let err = create_fails(&rt, &b);
        assert!(
            err.contains(&format!("linux.sysctl: sysctl \"{key}\" {message}")),
            "{err}"
        );
    }
    // In the config's own namespaces, two keys refused all the same: one that names a file
    // above /proc/sys (in a network namespace of the container's own: the rules would let
    // it through), and a ucounts limit without a user namespace, which would be the host's
    // (runc 1.5's words).
    for (key, want) in [
        (
            "net/../../kernel/core_pattern",
            "linux.sysctl: invalid key \"net/../../kernel/core_pattern\"",
        ),
        (
            "user.max_user_namespaces",
            "linux.sysctl: setting ucounts without a user namespace not allowed: user.max_user_namespaces",
        ),
    ] {
        let mut b = Bundle::sh("true");
        b.edit(|c| c["linux"]["sysctl"] = json!({ key: "0" }));
        let err = create_fails(&rt, &b);
        assert!(err.contains(want), "{err}");
    }
    assert_eq!(overcommit(), host_value, "the host's setting untouched");
}

/// A step that fails late in the init, long after rrun recorded the container as created
/// (it does so while the init builds): here an rlimit above what the kernel allows
/// (RLIMIT_NOFILE over fs.nr_open: EPERM, with CAP_SYS_RESOURCE or not), its setting held
/// back 300 ms by strace. The error is the init's, and nothing is left.
#[test]
fn a_failure_after_the_container_is_recorded_leaves_nothing() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1u64 << 40, "hard": 1u64 << 40}])
    });
    let id = unique("latefail");
    let before = HostSnapshot::take();
    let out = std::process::Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "-e",
            "inject=prlimit64:delay_enter=300000",
        ])
        .arg(RRUN)
        .arg("--root")
        .arg(rt.root.path())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("strace (make deps installs it)");
    let err = messages(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("process.rlimits: setting RLIMIT_NOFILE"),
        "{err}"
    );
    assert_no_panic(&out);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn bad_namespace_path_and_hostname_without_uts() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network")
    });
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "network", "path": "/no/such/ns"}))
    });
    assert!(create_fails(&rt, &b).contains("/no/such/ns"));
    let mut b = Bundle::sh("true");
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts")
    });
    assert!(create_fails(&rt, &b).contains("hostname"));
}

#[test]
fn unknown_id_for_every_command() {
    let rt = Runtime::new();
    for cmd in ["state", "start", "kill", "delete"] {
        let err = rt.fails(&[cmd, "nonexistent-id"]);
        assert!(err.contains("does not exist"), "{cmd}: {err}");
    }
    // runc: delete --force of a missing container succeeds.
    rt.ok(&["delete", "--force", "nonexistent-id"]);
}

#[test]
fn invalid_ids_are_refused() {
    let rt = Runtime::new();
    let b = Bundle::sh("true");
    for id in ["../escape", "a/b", "..", "with space"] {
        let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), id]);
        assert!(err.contains("invalid container id"), "{id}: {err}");
    }
    assert!(!rt.root.path().parent().unwrap().join("escape").exists());
}

#[test]
fn duplicate_id_is_refused_without_harm() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("dup");
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].clone();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("already exists"), "{err}");
    let s = rt.state(&id);
    assert_eq!(s["pid"], pid);
    assert_eq!(s["status"], "created");
    rt.ok(&["delete", &id]);
}

/// On a host with no cgroup2 hierarchy (pure v1; here the hybrid's `unified` unmounted in
/// a private mount namespace) the id is reserved after the clone, while the init makes its
/// namespaces: a container runs and goes as anywhere, and a duplicate id is refused all
/// the same, the other container untouched, no init left for it, and no socket of the
/// caller's connected to.
#[test]
fn duplicate_id_is_refused_without_harm_where_the_id_is_reserved_after_the_clone() {
    if cgroup_v2() {
        return;
    }
    let rt = Runtime::new();
    let v1_only = |args: &[&str]| {
        let mut rrun = rt.cmd();
        rrun.args(args);
        output_through_files(without_cgroup2(&rrun), rt.root.path())
    };
    let b = Bundle::sh("echo ran");
    let id = unique("v1run");
    let out = v1_only(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(!rt.state_dir(&id).exists(), "state dir of {id} left behind");
    assert_eq!(cgroup_dirs_named(&id), Vec::<std::path::PathBuf>::new());

    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("v1dup");
    let create = [
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        id.as_str(),
    ];
    let out = v1_only(&create);
    assert!(out.status.success(), "{out:?}");
    let pid = rt.state(&id)["pid"].clone();
    let out = v1_only(&create);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    let s = rt.state(&id);
    assert_eq!(s["pid"], pid);
    assert_eq!(s["status"], "created");
    let others: Vec<i32> = processes_mentioning(&id)
        .into_iter()
        .filter(|p| json!(p) != pid)
        .collect();
    assert!(
        others.is_empty(),
        "processes left by the refused create: {others:?}"
    );
    // With a console socket to connect to, the id is checked first: the caller's socket
    // hears nothing of a refused create, as with runc.
    let mut tty = Bundle::new(&["sleep", "1000"]);
    tty.edit(|c| c["process"]["terminal"] = json!(true));
    let dir = TempDir::new("rrun-console");
    let sock = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = v1_only(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        tty.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let heard = listener.accept();
    assert!(
        heard.is_err(),
        "the console socket was connected to: {heard:?}"
    );
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn start_twice_and_start_stopped() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("twice");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    assert!(rt.fails(&["start", &id]).contains("already running"));
    rt.ok(&["kill", &id, "KILL"]);
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    assert!(rt.fails(&["start", &id]).contains("stopped"));
    assert!(rt.fails(&["kill", &id]).contains("not running"));
    rt.ok(&["delete", &id]);
}

#[test]
fn bad_flags_and_signals() {
    let rt = Runtime::new();
    let out = rt.run(&["create", "--no-such-flag", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
    let out = rt.run(&["state"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "missing argument is a usage error"
    );
    let out = rt.run(&["--log-format", "xml", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("badsig");
    rt.create(&b, &id);
    assert!(rt.fails(&["kill", &id, "SIGNOPE"]).contains("signal"));
    assert_eq!(rt.state(&id)["status"], "created");
    rt.ok(&["delete", &id]);
}

#[test]
fn force_delete_removes_what_a_killed_create_left() {
    let rt = Runtime::new();
    let id = unique("halfmade");
    // A create killed before it saved the state leaves only its directory and fifo.
    std::fs::create_dir_all(rt.state_dir(&id)).unwrap();
    std::fs::write(rt.state_dir(&id).join("exec.fifo"), "").unwrap();
    assert!(rt.fails(&["state", &id]).contains("does not exist"));
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.state_dir(&id).exists());
    let b = Bundle::sh("true");
    rt.create(&b, &id);
    rt.ok(&["delete", &id]);
}
