//! The systemd cgroup driver (`--systemd-cgroup`), checked against systemd itself
//! (`systemctl show`) and the container's cgroup files. They need systemd as PID 1: on
//! this host they say so and pass; `make test-systemd` runs them in the systemd guest
//! (cgroup v2, then v1), where RRUN_EXPECT_SYSTEMD=1 makes a missing systemd a failure.

use crate::common::*;
use serde_json::json;
use std::process::Command;

fn have_systemd() -> bool {
    let present = std::path::Path::new("/run/systemd/system").exists();
    if !present {
        assert!(
            std::env::var_os("RRUN_EXPECT_SYSTEMD").is_none(),
            "RRUN_EXPECT_SYSTEMD is set, but systemd is not running"
        );
        eprintln!("skipped: systemd is not PID 1 here (make test-systemd runs this in a guest)");
    }
    present
}

/// `systemctl show -p PROP --value UNIT`.
fn show(unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-p", prop, "--value", unit])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn unit_gone(unit: &str) -> bool {
    show(unit, "LoadState") == "not-found"
}

/// systemd unloads a stopped transient unit a moment after its job ends.
fn assert_unit_gone(unit: &str) {
    wait_until(&format!("systemd to unload {unit}"), || unit_gone(unit));
}

/// A bundle whose cgroupsPath names a scope in system.slice; returns (bundle, unit).
fn scoped(script: &str, name: &str) -> (Bundle, String) {
    let mut b = Bundle::sh(script);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("system.slice:rrun-test:{name}")));
    (b, format!("rrun-test-{name}.scope"))
}

/// The container's cgroup file as its init sees it (v1: in the controller's directory).
fn limits_script() -> &'static str {
    if cgroup_v2() {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    }
}

/// rrun's arguments for `--systemd-cgroup CMD --bundle B ID` (CMD may carry flags: "run -d").
fn sd<'a>(cmd: &'a str, b: &'a Bundle, id: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--systemd-cgroup"];
    args.extend(cmd.split(' '));
    args.extend(["--bundle", b.path().to_str().unwrap(), id]);
    args
}

fn assert_no_cgroup_named(name: &str) {
    let left = cgroup_dirs_named(name);
    assert!(left.is_empty(), "{left:?}");
}

fn host_cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
}

#[test]
fn a_container_lives_in_its_scope_with_its_limits_known_to_systemd() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let name = unique("scope");
    let (mut b, unit) = scoped("sleep 300", &name);
    b.edit(|c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 42},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512}});
    });
    rt.ok(&sd("create", &b, &name));
    assert_eq!(show(&unit, "ActiveState"), "active", "{unit} while created");
    assert_eq!(
        show(&unit, "MemoryMax")
            .parse::<u64>()
            .ok()
            .or_else(|| show(&unit, "MemoryLimit").parse().ok()),
        Some(64 << 20)
    );
    assert_eq!(show(&unit, "TasksMax"), "42");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(&unit, "Delegate"), "yes");
    let pid = rt.state(&name)["pid"].as_i64().unwrap() as i32;
    assert!(
        host_cgroup_of(pid).contains(&format!("/system.slice/{unit}")),
        "init's cgroup: {}",
        host_cgroup_of(pid)
    );
    rt.ok(&["start", &name]);
    // The limits are in the container's own cgroup files too, as the container sees them.
    let out = rt.ok(&["exec", &name, "sh", "-c", limits_script()]);
    assert_eq!(out, format!("{}\n42\n", 64 << 20));
    // Everyday operations work on the scope's cgroup.
    rt.ok(&["pause", &name]);
    assert_eq!(rt.state(&name)["status"], "paused");
    rt.ok(&["resume", &name]);
    let ps = rt.ok(&["ps", &name]);
    assert!(ps.contains("sleep"), "ps: {ps}");
    let stats = rt.ok(&["events", "--stats", &name]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["data"]["pids"]["current"], 1, "{stats}");
    rt.ok(&["kill", "--all", &name, "KILL"]);
    wait_until("the container stops", || {
        rt.state(&name)["status"] == "stopped"
    });
    rt.ok(&["delete", &name]);
    assert_unit_gone(&unit);
    assert!(!rt.state_dir(&name).exists());
    assert_no_cgroup_named(&unit);
}

#[test]
fn run_in_the_default_scope_gives_output_and_exit_code() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("sdrun");
    // The standard devices stay usable under systemd's device policy.
    let b = Bundle::sh("echo hi > /dev/null && head -c 3 /dev/zero | wc -c; exit 3");
    let out = rt
        .cmd()
        .args(["--systemd-cgroup", "run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    assert_unit_gone(&format!("runc-{id}.scope"));
}

/// `kill --all KILL` (containerd's stop of a pod's container) of a container in a scope:
/// frozen, signalled, thawed; every process ends and systemd removes the scope. systemd
/// may remove it before the thaw (seen in two of critest's pods: the kill failed with
/// "thawing after signalling: ... cgroup.freeze: no such file or directory"); that race is
/// too narrow to provoke here, and commands::kill's unit tests cover it. This checks the
/// whole path end to end, a few times.
#[test]
fn kill_all_of_a_scope_that_systemd_removes_at_once_succeeds() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    for round in 0..5 {
        let name = unique("sdkillall");
        let (b, unit) = scoped("sleep 1000 & sleep 1000 & exec sleep 1000", &name);
        rt.ok(&sd("run -d", &b, &name));
        let out = rt.run(&["kill", "--all", &name, "KILL"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "round {round}: {err}");
        assert!(!err.contains("thaw"), "round {round}: {err}");
        wait_until("the container to stop", || {
            rt.state(&name)["status"] == "stopped"
        });
        rt.ok(&["delete", &name]);
        assert_unit_gone(&unit);
    }
}

#[test]
fn update_changes_the_units_properties_and_the_files() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let name = unique("sdupd");
    let (mut b, unit) = scoped("sleep 300", &name);
    b.edit(|c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 42},
            "cpu": {"quota": 50000, "period": 100000}})
    });
    rt.ok(&sd("run -d", &b, &name));
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    // A new period alone keeps the quota, as in runc: 50 ms of every 200 ms.
    rt.ok(&["update", "--cpu-period", "200000", &name]);
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "250ms");
    if cgroup_v2() {
        // systemd (252 on) makes a cgroup idle for CPUWeight=idle only, and clears cpu.idle
        // for any other weight: the shares give way, with runc's warning.
        let idle = || rt.ok(&["exec", &name, "cat", "/sys/fs/cgroup/cpu.idle"]);
        let out = rt.run(&["update", "--cpu-share", "200", "--cpu-idle", "1", &name]);
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unable to apply both"), "{err}");
        assert_eq!(idle(), "1\n");
        rt.ok(&["update", "--cpu-share", "200", &name]);
        assert_eq!(idle(), "0\n");
    }
    rt.ok(&["update", "--memory", "128M", "--pids-limit", "30", &name]);
    let memory = if cgroup_v2() {
        "MemoryMax"
    } else {
        "MemoryLimit"
    };
    assert_eq!(show(&unit, memory), (128u64 << 20).to_string());
    assert_eq!(show(&unit, "TasksMax"), "30");
    let out = rt.ok(&["exec", &name, "sh", "-c", limits_script()]);
    assert_eq!(out, format!("{}\n30\n", 128 << 20));
    rt.ok(&["delete", "--force", &name]);
    assert_unit_gone(&unit);
}

#[test]
fn annotations_become_unit_properties() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let name = unique("sdann");
    let (mut b, unit) = scoped("sleep 300", &name);
    b.edit(|c| {
        c["annotations"] = json!({"org.systemd.property.TimeoutStopSec": "7",
            "org.systemd.property.CollectMode": "'inactive-or-failed'"});
    });
    rt.ok(&sd("run -d", &b, &name));
    assert_eq!(show(&unit, "TimeoutStopUSec"), "7s");
    assert_eq!(show(&unit, "CollectMode"), "inactive-or-failed");
    rt.ok(&["delete", "--force", &name]);
    assert_unit_gone(&unit);
}

#[test]
fn slices_and_nested_slices_are_placed_as_systemd_places_them() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let n = std::process::id();
    let name = unique("sdnest");
    let mut b = Bundle::sh("sleep 300");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("rrun{n}-inner.slice:pfx:{name}")));
    rt.ok(&sd("run -d", &b, &name));
    let pid = rt.state(&name)["pid"].as_i64().unwrap() as i32;
    assert!(
        host_cgroup_of(pid).contains(&format!(
            "/rrun{n}.slice/rrun{n}-inner.slice/pfx-{name}.scope"
        )),
        "{}",
        host_cgroup_of(pid)
    );
    rt.ok(&["delete", "--force", &name]);
    assert_unit_gone(&format!("pfx-{name}.scope"));

    // A name ending in .slice makes a slice, placed by its own name.
    let slice_id = unique("sdslice");
    let slice = format!("rrun{n}x.slice");
    let mut s = Bundle::sh("sleep 300");
    s.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("system.slice:p:{slice}")));
    rt.ok(&sd("run -d", &s, &slice_id));
    assert_eq!(show(&slice, "ActiveState"), "active");
    let pid = rt.state(&slice_id)["pid"].as_i64().unwrap() as i32;
    assert!(
        host_cgroup_of(pid).contains(&format!("/{slice}")),
        "{}",
        host_cgroup_of(pid)
    );
    rt.ok(&["delete", "--force", &slice_id]);
    // A stopped transient slice may stay loaded (inactive) for a while; what matters is
    // that it is stopped and its cgroup gone.
    wait_until(&format!("{slice} to stop"), || {
        unit_gone(&slice) || show(&slice, "ActiveState") == "inactive"
    });
    assert_no_cgroup_named(&slice);
}

#[test]
fn bad_paths_properties_and_buses_fail_cleanly() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let before = HostSnapshot::take();
    let id = unique("sdbad");
    let mut b = Bundle::sh("true");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!("/not/a/slice/path"));
    let err = rt.fails(&sd("create", &b, &id));
    assert!(
        err.contains("linux.cgroupsPath") && err.contains("slice:prefix:name"),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);

    // A property systemd does not know: its own error, one line, no unit left.
    let (mut b, unit) = scoped("true", &id);
    b.edit(|c| c["annotations"] = json!({"org.systemd.property.NoSuchPropertyAtAll": "true"}));
    let err = rt.fails(&sd("create", &b, &id));
    assert!(
        err.contains(&unit) && err.contains("NoSuchPropertyAtAll"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_unit_gone(&unit);
    assert_no_leftovers(&rt, &id, &before);

    // An annotation name runc refuses.
    b.edit(|c| c["annotations"] = json!({"org.systemd.property.X1": "true"}));
    let err = rt.fails(&sd("create", &b, &id));
    assert!(err.contains("org.systemd.property.X1"), "{err}");
    assert_no_leftovers(&rt, &id, &before);

    // systemd unreachable: the error names the bus address.
    b.edit(|c| c["annotations"] = json!({}));
    let out = rt
        .cmd()
        .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/rrun-no-such-bus")
        .args(["--systemd-cgroup", "create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    let err = messages(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("unix:path=/run/rrun-no-such-bus"), "{err}");
    assert_no_panic(&out);
    assert_unit_gone(&unit);
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn a_scope_that_exists_already_is_refused_and_left_alone() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("sdexist");
    let (b, unit) = scoped("true", &id);
    let holder = Command::new("systemd-run")
        .args(["--scope", "--unit", &unit, "--quiet", "sleep", "300"])
        .spawn()
        .unwrap();
    wait_until("the other scope runs", || {
        show(&unit, "ActiveState") == "active"
    });
    let err = rt.fails(&sd("create", &b, &id));
    assert!(
        err.contains("not empty") || err.contains("UnitExists"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!rt.state_dir(&id).exists());
    assert_eq!(
        show(&unit, "ActiveState"),
        "active",
        "the other scope must stay"
    );
    let _ = Command::new("systemctl").args(["stop", &unit]).status();
    let mut holder = holder;
    let _ = holder.wait();
}

#[test]
fn a_create_killed_midway_leaves_a_scope_that_delete_force_removes() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("sdkill");
    let marker = TempDir::new("rrun-sd-marker");
    let flag = marker.path().join("in-hook");
    let (mut b, unit) = scoped("true", &id);
    b.edit(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("touch {}; while :; do sleep 1; done", flag.display()), id.clone()]}]});
    });
    let mut create = rt
        .cmd()
        .args(["--systemd-cgroup", "create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the hook runs", || flag.exists());
    assert_eq!(
        show(&unit, "ActiveState"),
        "active",
        "the half-made container's scope"
    );
    create.kill().unwrap();
    create.wait().unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert_unit_gone(&unit);
    assert!(!rt.state_dir(&id).exists());
    for pid in processes_mentioning(&id) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn a_bus_that_never_answers_is_an_error_within_the_bound() {
    if !have_systemd() {
        return;
    }
    let rt = Runtime::new();
    let before = HostSnapshot::take();
    let id = unique("sdmute");
    let dir = TempDir::new("rrun-mute-bus");
    let sock = dir.path().join("bus");
    // Accepts connections and never reads or answers.
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(2) {
            held.push(s);
        }
        std::thread::sleep(std::time::Duration::from_secs(90));
    });
    let (b, unit) = scoped("true", &id);
    let address = format!("unix:path={}", sock.display());
    let started = std::time::Instant::now();
    let out = rt
        .cmd()
        .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
        .args(["--systemd-cgroup", "create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = messages(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("did not answer") && err.contains(&address),
        "{err}"
    );
    // One bound (30 s, runc's), not one per call: the clean-up does not wait again.
    assert!(took < std::time::Duration::from_secs(45), "took {took:?}");
    assert_no_panic(&out);
    assert!(unit_gone(&unit));
    assert_no_leftovers(&rt, &id, &before);
    drop(holder);
}

/// A Kubernetes pod with the systemd cgroup driver, as the kubelet and the CRI lay it
/// out: the pod is the kubelet's slice `kubepods-besteffort-pod<uid>.slice` (nested in
/// kubepods.slice and kubepods-besteffort.slice), each container a scope in it named with
/// the CRI's prefix (`cri-containerd-<id>.scope`, `crio-<id>.scope`); the pod's limit on
/// the slice covers its containers; an app's scope goes with the app and the slice stays
/// while the sandbox lives.
#[test]
fn a_pods_containers_are_scopes_in_the_pods_kubepods_slice() {
    use crate::pods::{Cri, Pod, PodShape, start_app};
    if !have_systemd() {
        return;
    }
    for (cri, prefix) in [(Cri::Containerd, "cri-containerd"), (Cri::CriO, "crio")] {
        let rt = Runtime::new();
        let pod = Pod::start(
            &rt,
            PodShape {
                cri,
                userns: false,
                shared_pid: false,
                systemd: true,
            },
        );
        let slice = pod.cgroup_parent.clone();
        let slice_path = format!("/kubepods.slice/kubepods-besteffort.slice/{slice}");
        let sandbox_unit = format!("{prefix}-{}.scope", pod.sandbox_id);
        let sandbox_cgroup = host_cgroup_of(pod.sandbox_pid as i32);
        assert!(
            sandbox_cgroup.contains(&format!("{slice_path}/{sandbox_unit}")),
            "{cri:?}: {sandbox_cgroup}"
        );
        // The kubelet's pod limit, on the slice.
        let limit = if cgroup_v2() {
            "MemoryMax"
        } else {
            "MemoryLimit"
        };
        let out = Command::new("systemctl")
            .args([
                "set-property",
                "--runtime",
                &slice,
                &format!("{limit}=256M"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let app_id = format!("{}-app", pod.sandbox_id);
        let (_app, app_pid) = start_app(&rt, &pod, &app_id, "sleep 1000");
        let app_unit = format!("{prefix}-{app_id}.scope");
        assert_eq!(show(&app_unit, "Slice"), slice, "{cri:?}");
        let memory = std::fs::read_to_string(format!("/proc/{app_pid}/cgroup")).unwrap();
        let memory = memory
            .lines()
            .find(|l| l.starts_with("0::") || l.contains(":memory:"))
            .unwrap();
        assert!(
            memory.ends_with(&format!("{slice_path}/{app_unit}")),
            "{cri:?}: the app's memory cgroup is below the limited slice: {memory}"
        );
        let (dir, file) = if cgroup_v2() {
            ("/sys/fs/cgroup", "memory.max")
        } else {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        };
        assert_eq!(
            std::fs::read_to_string(format!("{dir}{slice_path}/{file}"))
                .unwrap()
                .trim(),
            (256u64 << 20).to_string(),
            "{cri:?}"
        );
        assert_eq!(rt.ok(&["exec", &app_id, "hostname"]), "pod-host\n");
        rt.ok(&["delete", "--force", &app_id]);
        assert_unit_gone(&app_unit);
        assert_eq!(show(&slice, "ActiveState"), "active", "{cri:?}");
        rt.ok(&["delete", "--force", &pod.sandbox_id]);
        assert_unit_gone(&sandbox_unit);
        drop(pod);
        assert_no_cgroup_named(&app_unit);
        assert_no_cgroup_named(&sandbox_unit);
    }
}

#[test]
fn a_user_namespaced_container_with_a_writable_cgroup_mount_owns_its_cgroup() {
    // runc (1.2 on) gives such a container's cgroup and its delegated files to the
    // container's user on cgroup v2; with a read-only mount they stay root's, which the
    // container's user namespace does not map (65534).
    if !have_systemd() || !cgroup_v2() {
        return;
    }
    let rt = Runtime::new();
    for (option, owner) in [("rw", "0"), ("ro", "65534")] {
        let name = unique("delegated");
        let (mut b, _unit) = scoped(
            "stat -c %u /sys/fs/cgroup /sys/fs/cgroup/cgroup.procs",
            &name,
        );
        b.in_user_namespace();
        b.edit(|c| {
            let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
            if !namespaces.iter().any(|n| n["type"] == "cgroup") {
                namespaces.push(json!({"type": "cgroup"}));
            }
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/sys/fs/cgroup" {
                    m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", option]);
                }
            }
        });
        assert_eq!(
            rt.ok(&sd("run", &b, &name)),
            format!("{owner}\n{owner}\n"),
            "{option}"
        );
    }
}

/// systemd mounts cgroup2 with `nsdelegate` and `memory_recursiveprot`, flags of the whole
/// hierarchy: a container without a cgroup namespace of its own (Docker's `--cgroupns
/// host`) gets a bind of the host's tree, where a fresh cgroup2 mount, made in the host's
/// cgroup namespace, would set them anew for the whole host, without options clearing both
/// (a build that mounted one did; runc 1.1 does, its issue 5258).
#[test]
fn a_container_in_the_hosts_cgroup_namespace_leaves_the_hosts_cgroup2_flags() {
    if !have_systemd() || !cgroup_v2() {
        return;
    }
    let cgroup2 = cgroup2_with_systemds_flags().expect("a cgroup2 mount");
    let before = cgroup2_options(&cgroup2);
    let rt = Runtime::new();
    let mut b = Bundle::sh("p=$(cut -d: -f3 /proc/self/cgroup); cat /sys/fs/cgroup$p/cgroup.type");
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
    });
    assert_eq!(rt.output_of(&b), "domain\n");
    assert_eq!(cgroup2_options(&cgroup2), before);
}
