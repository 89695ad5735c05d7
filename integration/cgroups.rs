//! Cgroup resources, update, pause/resume, ps and events, checked against the kernel's
//! files and behaviour (cgroup v1 on this host; hugetlb in its hybrid cgroup2 hierarchy).

use crate::common::*;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Command, Stdio};

fn with_resources(script: &str, resources: Value) -> Bundle {
    let mut b = Bundle::sh(script);
    b.edit(|c| c["linux"]["resources"] = resources);
    b
}

#[test]
fn memory_limit_is_set_and_enforced() {
    let rt = Runtime::new();
    let limit = 32 << 20;
    // v1's swap limit is memory + swap, v2's swap.max the swap alone.
    let (files, expected) = if cgroup_v2() {
        (
            "memory.max memory.swap.max memory.low",
            format!("{limit}\n0\n{}\n", 16 << 20),
        )
    } else {
        (
            "memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes",
            format!("{limit}\n{limit}\n{}\n", 16 << 20),
        )
    };
    let b = with_resources(
        &format!(
            "cd /sys/fs/cgroup && cat {files}; dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?"
        ),
        json!({"memory": {"limit": limit, "swap": limit, "reservation": 16 << 20}}),
    );
    assert_eq!(
        rt.output_of(&b),
        format!("{expected}rc=137\n"),
        "a 64M buffer is OOM-killed under a 32M limit"
    );
}

#[test]
fn pids_limit_stops_forks() {
    let rt = Runtime::new();
    let file = if cgroup_v2() {
        "/sys/fs/cgroup/pids.max"
    } else {
        "/sys/fs/cgroup/pids/pids.max"
    };
    // The forks that hit the limit are a subshell's, whose error ends only that subshell;
    // its message is read once it has ended (a pipe to `head` raced the subshell's forks
    // for the last pid, and the shell itself could lose: "can't fork", exit 2, for rrun
    // before and after 12a934e alike, 1 and 2 runs in 150).
    let b = with_resources(
        &format!(
            "cat {file}; (for i in 1 2 3 4 5 6 7 8; do sleep 5 & done) 2>/dev/shm/err; \
             head -1 /dev/shm/err; echo done"
        ),
        json!({"pids": {"limit": 4}}),
    );
    let out = rt.output_of(&b);
    assert_eq!(out.lines().next(), Some("4"));
    assert!(
        out.contains("can't fork") || out.contains("Resource temporarily unavailable"),
        "{out}"
    );
}

#[test]
fn cpu_and_cpuset_settings_are_in_the_files() {
    let rt = Runtime::new();
    // v2: shares become cpu.weight as runc converts them, quota and period one cpu.max.
    let (files, expected) = if cgroup_v2() {
        ("cpu.weight cpu.max cpuset.cpus", "59\n25000 50000\n0\n")
    } else {
        (
            "cpu/cpu.shares cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus",
            "512\n50000\n25000\n0\n",
        )
    };
    let b = with_resources(
        &format!("cd /sys/fs/cgroup && cat {files}; grep Cpus_allowed_list /proc/self/status"),
        json!({"cpu": {"shares": 512, "quota": 25000, "period": 50000, "cpus": "0", "mems": "0"}}),
    );
    assert_eq!(
        rt.output_of(&b),
        format!("{expected}Cpus_allowed_list:\t0\n")
    );
}

#[test]
fn hugetlb_limit_is_applied() {
    let rt = Runtime::new();
    let b = with_resources(
        "sleep 1000",
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}]}),
    );
    let id = unique("huge");
    rt.create(&b, &id);
    // On the hybrid v1 host hugetlb lives in the cgroup2 hierarchy, so it is v2's file there too.
    let dir = cgroup_dirs_named(&id)
        .into_iter()
        .find(|d| d.join("hugetlb.2MB.max").exists())
        .expect("a cgroup with hugetlb files");
    // And on reservations, where the kernel accounts them (5.7 on), as runc sets both.
    for file in ["hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"] {
        if file.contains("rsvd") && !dir.join(file).exists() {
            continue;
        }
        assert_eq!(
            std::fs::read_to_string(dir.join(file)).unwrap().trim(),
            (4u64 << 21).to_string(),
            "{file}"
        );
    }
    rt.ok(&["delete", &id]);
}

/// /dev/kmsg (c 1:11) is not among the standard devices: bound into the container it
/// can't be opened (v1: devices.deny; v2: the eBPF device filter) until a rule allows it.
/// Only writes are tried: reading the kernel log needs CAP_SYSLOG anyway.
#[test]
fn devices_cgroup_denies_unlisted_devices() {
    let rt = Runtime::new();
    let script = "(echo rrun-devices-test > /dev/kmsg) 2>&1 | grep -c 'not permitted'; echo end";
    let mount = json!({"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]});
    let mut denied = Bundle::sh(script);
    denied.edit(|c| c["mounts"].as_array_mut().unwrap().push(mount.clone()));
    assert_eq!(
        rt.output_of(&denied),
        "1\nend\n",
        "a device without a rule can't be opened"
    );
    let mut allowed = Bundle::sh(script);
    allowed.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(mount.clone());
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}));
    });
    assert_eq!(rt.output_of(&allowed), "0\nend\n", "a rule allows it");
}

/// A filesystem on a block device opens the device when it is mounted, and the device
/// rules decide (v1 devices.deny; v2 the eBPF filter, both asked at the open): the init
/// mounts it only once it is in its cgroups with the rules written, whatever its place in
/// the config (first here, before /proc: the kernel's own filesystems the init may mount
/// before "go", this one it may not). Denied, the mount fails naming the device; allowed,
/// the container reads the file on it.
#[test]
fn a_block_device_the_rules_deny_is_not_mounted() {
    let rt = Runtime::new();
    let dir = TempDir::new("rrun-blockdev");
    let content = dir.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::fs::write(content.join("hello"), "from the device\n").unwrap();
    let image = dir.path().join("fs.img");
    let made = Command::new("mkfs.ext4")
        .args(["-q", "-d"])
        .arg(&content)
        .arg(&image)
        .arg("4M")
        .output()
        .expect("mkfs.ext4 (e2fsprogs)");
    assert!(made.status.success(), "{made:?}");
    let loop_dev = LoopDevice::attach(&image);
    let rdev = std::os::unix::fs::MetadataExt::rdev(&std::fs::metadata(&loop_dev.path).unwrap());
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let mount =
        json!({"destination": "/mnt", "type": "ext4", "source": loop_dev.path, "options": ["ro"]});
    let mut b = Bundle::sh("cat /mnt/hello");
    b.edit(|c| c["mounts"].as_array_mut().unwrap().insert(0, mount.clone()));
    let (out, err, code) = rt.run_bundle(&b);
    assert_ne!(code, 0, "mounted a denied device: {out:?}");
    assert!(
        err.contains(&loop_dev.path) && err.contains("Operation not permitted"),
        "{err}"
    );
    b.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"allow": true, "type": "b", "major": major, "minor": minor, "access": "r"}),
            );
    });
    assert_eq!(rt.output_of(&b), "from the device\n");
}

/// A loop device on a file, detached when dropped.
struct LoopDevice {
    path: String,
}

impl LoopDevice {
    fn attach(file: &std::path::Path) -> Self {
        let out = Command::new("losetup")
            .args(["--find", "--show", "--read-only"])
            .arg(file)
            .output()
            .expect("losetup (util-linux)");
        assert!(out.status.success(), "{out:?}");
        LoopDevice {
            path: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path]).status();
    }
}

/// rrun writes the limits while its init takes its first steps, and a v1 device list is
/// emptied before its exceptions are written: a moment in which every device is denied,
/// mknod too. The init makes, opens and mounts no device before rrun says the rules are in
/// place. Here each of rrun's writes returns 50 ms late (strace, rrun alone: not the init
/// it clones), so that moment lasts 50 ms, and 500 tmpfs mounts stacked on /tmp put the
/// init's mknod of /dev/null a few ms after "go": inside it, for an init that did not wait
/// (it failed "creating device /dev/null: EPERM" every time here). The devices are made
/// and usable, and the rules hold.
#[test]
fn the_init_makes_its_devices_once_the_device_rules_are_written() {
    let rt = Runtime::new();
    let script = "head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; \
        (echo rrun-devices-test > /dev/kmsg) 2>&1 | grep -c 'not permitted'";
    let mut b = Bundle::sh(script);
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(
            json!({"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}),
        );
        let tmpfs = json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]});
        mounts.extend(std::iter::repeat_n(tmpfs, 500));
    });
    let strace_args = ["-o", "/dev/null", "-e", "inject=write:delay_exit=50000"].map(Into::into);
    let out = rt.run_under_strace(&strace_args, &[], &b, "slow-rules");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "3\nnull-ok\n1\n",
        "{out:?}"
    );
}

/// On a v1 host rrun builds the container's /sys/fs/cgroup itself (a detached tmpfs of
/// binds of the container's cgroups) after "go", and the init attaches it; where rrun can't
/// (here strace makes its move_mount fail, as a kernel before 6.15 does), the init builds
/// it as before. The container sees the same mounts either way (each line of its
/// mountinfo, but for ids and device numbers; the same names and links; a hybrid host's
/// cgroup2 left out, as runc leaves it), and rrun's debug log tells which way it went.
#[test]
fn the_cgroup_mounts_rrun_builds_are_those_the_init_builds() {
    if cgroup_v2() {
        return; // one cgroup2 mount there, nothing to build
    }
    let rt = Runtime::new();
    let script = "grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f5-; \
        cd /sys/fs/cgroup && for f in *; do echo \"$f $(readlink $f)\"; done; \
        cat pids/pids.max; touch x && echo writable";
    let b = Bundle::sh(script);
    let built_by_rrun = rt
        .cmd()
        .arg("--debug")
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(unique("cgroup-tree"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(built_by_rrun.status.success(), "{built_by_rrun:?}");
    // Mounting onto a detached tree came with Linux 6.15: before it, the init builds it.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let version: Vec<u32> = release
        .split(['.', '-'])
        .take(2)
        .map(|n| n.trim().parse().unwrap_or(0))
        .collect();
    let kernel_builds_detached = version >= vec![6, 15];
    let log = String::from_utf8_lossy(&built_by_rrun.stderr);
    assert_eq!(
        log.contains("the init makes its cgroup mounts"),
        !kernel_builds_detached,
        "{release}: {log}"
    );
    let strace_args = ["-o", "/dev/null", "-e", "inject=move_mount:error=EINVAL"].map(Into::into);
    let built_by_init = rt.run_under_strace(&strace_args, &["--debug"], &b, "cgroup-init");
    assert!(built_by_init.status.success(), "{built_by_init:?}");
    let log = String::from_utf8_lossy(&built_by_init.stderr);
    assert!(log.contains("the init makes its cgroup mounts"), "{log}");
    let seen = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let by_rrun = seen(&built_by_rrun);
    assert!(by_rrun.contains("\n/sys/fs/cgroup/pids ro,"), "{by_rrun}");
    // The tmpfs holding them is writable, as runc and crun leave it.
    assert!(by_rrun.ends_with("max\nwritable\n"), "{by_rrun}");
    // A hybrid host's cgroup2 is not among them, as in runc.
    if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        assert!(!by_rrun.contains("unified"), "{by_rrun}");
    }
    assert_eq!(by_rrun, seen(&built_by_init));
}

#[test]
fn pause_resume_and_kill_while_paused() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("pause");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    assert!(rt.fails(&["resume", &id]).contains("not paused"));
    rt.ok(&["pause", &id]);
    assert_eq!(rt.state(&id)["status"], "paused");
    if cgroup_v2() {
        let dir = cgroup_dirs_named(&id).remove(0);
        assert!(
            std::fs::read_to_string(dir.join("cgroup.events"))
                .unwrap()
                .contains("frozen 1")
        );
    } else {
        let dir = cgroup_dirs_named(&id)
            .into_iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/freezer"))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("freezer.state"))
                .unwrap()
                .trim(),
            "FROZEN"
        );
    }
    assert!(rt.fails(&["pause", &id]).contains("container not running"));
    rt.ok(&["resume", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["pause", &id]);
    let before = HostSnapshot::take();
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);

    // As runc: `kill KILL` of a paused container thaws it, so that it dies (on cgroup v1 a
    // frozen process can't, and the container stayed paused).
    let id = unique("pause-kill");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    rt.ok(&["pause", &id]);
    rt.ok(&["kill", &id, "KILL"]);
    wait_until("the paused container killed", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);

    // `kill --all` freezes the container while it signals it and thaws it after, a paused
    // one too, as runc: TERM then ends the two sleeps, and the shell's wait with them.
    let b = Bundle::sh("sleep 1000 & sleep 1000 & wait");
    let id = unique("pause-killall");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    // The shell, pid 1, ignores TERM: paused before it has forked the sleeps, it would
    // wait for ever (a CI run caught that race).
    wait_until("the two sleeps", || rt.pids(&id).len() == 3);
    rt.ok(&["pause", &id]);
    rt.ok(&["kill", "--all", &id, "TERM"]);
    wait_until("the paused container stopped by kill --all", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);
}

#[test]
fn ps_lists_the_container_processes() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 1000 & sleep 1001 & wait");
    let id = unique("ps");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    wait_until("children", || rt.pids(&id).len() == 3);
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "-f", "json", &id])).unwrap();
    assert!(pids.contains(&pid));
    let table = rt.ok(&["ps", &id]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"));
    assert_eq!(lines.clone().count(), 3, "{table}");
    assert!(table.contains("sleep 1001"));
    let custom = rt.ok(&["ps", &id, "-o", "pid,comm"]);
    assert!(
        custom
            .lines()
            .next()
            .unwrap()
            .trim_start()
            .starts_with("PID"),
        "{custom}"
    );
    rt.ok(&["delete", "-f", &id]);
    assert!(rt.fails(&["ps", &id]).contains("does not exist"));
}

/// `update -r -` with `resources` on its stdin; it must succeed.
fn update_from_stdin(rt: &Runtime, id: &str, resources: &[u8]) {
    let mut child = rt
        .cmd()
        .args(["update", "-r", "-", id])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), resources).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn update_changes_limits_from_flags_and_json() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("update");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let flags = [
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "20",
        "--cpu-shares",
        "256",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "60000",
    ];
    let mut args = vec!["update"];
    args.extend_from_slice(&flags);
    args.push(&id);
    rt.ok(&args);
    let v2 = cgroup_v2();
    let dir = |h: &str| {
        cgroup_dirs_named(&id)
            .into_iter()
            .find(|d| v2 || d.starts_with(format!("/sys/fs/cgroup/{h}")))
            .unwrap()
    };
    let read = |h: &str, f: &str| {
        std::fs::read_to_string(dir(h).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let memory_limit = || {
        if v2 {
            read("memory", "memory.max")
        } else {
            read("memory", "memory.limit_in_bytes")
        }
    };
    assert_eq!(memory_limit(), (64u64 << 20).to_string());
    if v2 {
        assert_eq!(
            read("memory", "memory.swap.max"),
            (64u64 << 20).to_string(),
            "v2 swap.max is swap minus memory"
        );
        assert_eq!(read("cpu", "cpu.weight"), "35");
        assert_eq!(read("cpu", "cpu.max"), "30000 60000");
    } else {
        assert_eq!(
            read("memory", "memory.memsw.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        assert_eq!(read("cpu", "cpu.shares"), "256");
        assert_eq!(
            (
                read("cpu", "cpu.cfs_quota_us"),
                read("cpu", "cpu.cfs_period_us")
            ),
            ("30000".into(), "60000".into())
        );
    }
    assert_eq!(read("pids", "pids.max"), "20");
    let file = b.path().join("res.json");
    std::fs::write(
        &file,
        r#"{"pids": {"limit": 33}, "memory": {"limit": 268435456, "swap": 536870912}}"#,
    )
    .unwrap();
    rt.ok(&["update", "-r", file.to_str().unwrap(), &id]);
    assert_eq!(read("pids", "pids.max"), "33");
    assert_eq!(
        memory_limit(),
        "268435456",
        "raising limit and swap together works"
    );
    update_from_stdin(&rt, &id, br#"{"pids": {"limit": 44}}"#);
    assert_eq!(read("pids", "pids.max"), "44");
    assert!(
        rt.fails(&["update", "--memory", "lots", &id])
            .contains("--memory")
    );
    assert!(
        rt.fails(&["update", "--cpuset-cpus", "99", &id])
            .contains("cpuset.cpus")
    );
    rt.ok(&["delete", "-f", &id]);
    assert!(
        rt.fails(&["update", "--pids-limit", "5", &id])
            .contains("does not exist")
    );
}

#[test]
fn field_names_in_another_case_are_read_as_runc_reads_them() {
    // runc reads config.json and `update -r` with Go's encoding/json, which takes "CPU" for
    // `cpu` and "Cpus" for `cpus`; runc's update.bats relies on it. Such keys were dropped.
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        // Both spellings, as runc's update.bats leaves them: read in turn into one field.
        c["linux"]["resources"]["cpu"] = json!({"shares": 512, "cpus": "1"});
        c["linux"]["resources"]["CPU"] = json!({"Cpus": "0", "MEMS": "0"});
        c["linux"]["resources"]["Pids"] = json!({"Limit": 20});
    });
    let id = unique("gocase");
    rt.create(&b, &id);
    let v2 = cgroup_v2();
    let read = |controller: &str, file: &str| {
        let dir = cgroup_dirs_named(&id)
            .into_iter()
            .find(|d| v2 || d.starts_with(format!("/sys/fs/cgroup/{controller}")))
            .unwrap();
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    let (shares, expected) = if v2 {
        ("cpu.weight", "59")
    } else {
        ("cpu.shares", "512")
    };
    assert_eq!(read("cpu", shares), expected);
    assert_eq!(read("pids", "pids.max"), "20");
    update_from_stdin(
        &rt,
        &id,
        br#"{"PIDS": {"limit": 30}, "Memory": {"Limit": 67108864}}"#,
    );
    assert_eq!(read("pids", "pids.max"), "30");
    let memory_limit = if v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read("memory", memory_limit), (64u64 << 20).to_string());
    // A wrong type is still an error naming the field, in the spec's spelling.
    let file = b.path().join("bad.json");
    std::fs::write(&file, r#"{"Pids": {"Limit": "many"}}"#).unwrap();
    let err = rt.fails(&["update", "-r", file.to_str().unwrap(), &id]);
    assert!(
        err.contains("update: resources.pids.limit: invalid type"),
        "{err}"
    );
    assert_eq!(read("pids", "pids.max"), "30");
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn events_stats_in_runc_schema() {
    let rt = Runtime::new();
    let b = with_resources(
        "sleep 1000",
        json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}),
    );
    let id = unique("stats");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let v: Value = serde_json::from_str(rt.ok(&["events", "--stats", &id]).trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let d = &v["data"];
    assert_eq!(d["memory"]["usage"]["limit"], 64u64 << 20);
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert_eq!(d["pids"]["current"], 1);
    assert_eq!(d["pids"]["limit"], 50);
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    if !cgroup_v2() {
        assert!(
            d["cpu"]["usage"]["percpu"].is_array(),
            "v1 reports per-cpu usage"
        );
    }
    assert!(d["memory"]["raw"]["rss"].is_u64() || d["memory"]["raw"]["anon"].is_u64());
    // Stopped: both refuse in runc's words.
    rt.ok(&["kill", &id, "KILL"]);
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    let err = rt.fails(&["events", "--stats", &id]);
    assert!(
        err.contains(&format!("container with id {id} is not running")),
        "{err}"
    );
    let err = rt.fails(&["update", "--pids-limit", "60", &id]);
    assert!(err.contains("container not running"), "{err}");
    rt.ok(&["delete", "-f", &id]);
    assert!(
        rt.fails(&["events", "--stats", &id])
            .contains("does not exist")
    );
}

#[test]
fn events_stream_reports_oom() {
    let rt = Runtime::new();
    let b = with_resources(
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000",
        json!({"memory": {"limit": 32 << 20, "swap": 32 << 20}}),
    );
    let mut b = b;
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = unique("oom");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let mut events = rt
        .cmd()
        .args(["events", "--interval", "200ms", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(events.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "stats");
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    let mut saw_oom = false;
    for line in lines.by_ref().take(100) {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["type"] == "oom" {
            assert_eq!(v["id"], id.as_str());
            saw_oom = true;
            break;
        }
    }
    assert!(saw_oom, "no oom event");
    rt.ok(&["delete", "-f", &id]);
    let status = events.wait().unwrap();
    assert!(status.success(), "events ends when the container is gone");
}

#[test]
fn resources_the_host_cannot_apply_fail_cleanly() {
    let rt = Runtime::new();
    let host_specific = if cgroup_v2() {
        (
            json!({"unified": {"memory.no_such_file": "1"}}),
            "memory.no_such_file",
        )
    } else {
        (
            json!({"unified": {"memory.high": "1"}}),
            "linux.resources.unified",
        )
    };
    for (resources, field) in [
        (json!({"cpu": {"cpus": "99"}}), "cpuset.cpus"),
        host_specific,
        (json!({"memory": {"swappiness": 300}}), "swappiness"),
    ] {
        let b = with_resources("true", resources);
        let id = unique("badres");
        let before = HostSnapshot::take();
        let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(err.contains(field), "{field}: {err}");
        assert_no_leftovers(&rt, &id, &before);
    }
}

#[test]
fn update_check_before_update_refuses_a_limit_below_usage() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("checkupd");
    rt.create(&b, &id);
    rt.ok(&["start", &id]);
    let file = b.path().join("res.json");
    std::fs::write(
        &file,
        r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#,
    )
    .unwrap();
    let err = rt.fails(&["update", "-r", file.to_str().unwrap(), &id]);
    assert!(
        err.contains("rejecting memory limit 4096 <= usage"),
        "{err}"
    );
    assert_eq!(rt.state(&id)["status"], "running");
    // Without the check, v1 refuses a limit it can't reclaim down to (EBUSY): runc's words,
    // with the numbers. (v2 takes it and OOM-kills the container.)
    if !cgroup_v2() {
        let err = rt.fails(&["update", "--memory", "4096", &id]);
        assert!(
            err.contains("unable to set memory limit to 4096 (current usage: "),
            "{err}"
        );
        assert_eq!(rt.state(&id)["status"], "running");
    }
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn systemd_cgroups_path_without_systemd_is_a_clear_error() {
    if std::path::Path::new("/run/systemd/system").exists() {
        return; // systemd runs here: integration/systemd.rs covers the driver
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!("system.slice:rrun:test"));
    let id = unique("slice");
    let before = HostSnapshot::take();
    let err = rt.fails(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(
        err.contains("--systemd-cgroup") && err.contains("systemd is not running"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_no_leftovers(&rt, &id, &before);
}

/// Without --systemd-cgroup, a "slice:prefix:name" cgroupsPath is one cgroupfs directory of
/// that name, as runc and crun take it: containerd's CRI writes that form for a pod whose
/// parent ends in ".slice", whichever driver its runtime uses (critest on containerd 1.6).
#[test]
fn a_slice_style_cgroups_path_without_systemd_is_a_directory_of_that_name() {
    let rt = Runtime::new();
    let id = unique("slicedir");
    let name = format!("test.slice:cri-containerd:{id}");
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(name));
    let before = HostSnapshot::take();
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    // (A hierarchy an engine mounted in a namespace of its own is listed too, and is no
    // runtime's to join here.)
    assert!(
        cgroups
            .lines()
            .filter(|l| hierarchy_mounted_here(l))
            .all(|l| l.ends_with(&format!("/{name}"))),
        "every hierarchy's cgroup is the one directory {name}: {cgroups}"
    );
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

/// Whether the hierarchy of a /proc/PID/cgroup line is mounted in this mount namespace,
/// where systemd mounts it (/sys/fs/cgroup itself on a cgroup v2 host).
fn hierarchy_mounted_here(line: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dir = match line.split(':').nth(1) {
        Some("") if cgroup_v2() => return true,
        Some("") => "unified",
        Some("name=systemd") => "systemd",
        Some(controllers) => controllers,
        None => return false,
    };
    let dev = |p: &str| std::fs::metadata(p).map(|m| m.dev()).ok();
    let here = dev(&format!("/sys/fs/cgroup/{dir}"));
    here.is_some() && here != dev("/sys/fs/cgroup")
}

/// Block IO throttling on the first disk (the QEMU guest gets one for this test).
#[test]
fn block_io_throttle_is_applied() {
    let rt = Runtime::new();
    let disk = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("vd") || n.starts_with("sd") || n.starts_with("nvme"));
    let disk = disk.expect("a disk to throttle");
    let dev = std::fs::read_to_string(format!("/sys/block/{disk}/dev"))
        .unwrap()
        .trim()
        .to_string();
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let b = with_resources(
        "sleep 1000",
        json!({"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}], "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}}),
    );
    let id = unique("blkio");
    rt.create(&b, &id);
    if cgroup_v2() {
        let dir = cgroup_dirs_named(&id).remove(0);
        let io_max = std::fs::read_to_string(dir.join("io.max")).unwrap();
        assert!(
            io_max.contains(&format!("{dev} rbps=1048576 wbps=max riops=max wiops=100")),
            "{io_max}"
        );
    } else {
        let dir = cgroup_dirs_named(&id)
            .into_iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/blkio"))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("blkio.throttle.read_bps_device"))
                .unwrap()
                .trim(),
            format!("{dev} 1048576")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("blkio.throttle.write_iops_device"))
                .unwrap()
                .trim(),
            format!("{dev} 100")
        );
    }
    rt.ok(&["delete", &id]);
}

/// On cgroup v2 without a cgroup namespace, the container's /sys/fs/cgroup is a fresh
/// cgroup2 mount, the host's whole tree, as runc makes it (Docker's `--cgroupns host`):
/// the path in /proc/self/cgroup leads to the container's cgroup there. A build before
/// bound the container's cgroup alone, where that path led nowhere. (v1 binds each
/// hierarchy's container cgroup, as runc does: `the_cgroup_mounts_rrun_builds_are_...`.)
#[test]
fn without_a_cgroup_namespace_v2_shows_the_whole_tree_where_proc_self_cgroup_leads() {
    if !cgroup_v2() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "p=$(cut -d: -f3 /proc/self/cgroup); echo $p; \
         grep -qx 1 /sys/fs/cgroup$p/cgroup.procs && echo leads there; \
         [ -e /sys/fs/cgroup/cgroup.events ] || echo the root",
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
    });
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].len() > 1 && lines[0].starts_with('/'), "{out}");
    assert_eq!(lines[1..], ["leads there", "the root"], "{out}");
}

/// `unified` sets cgroup v2 files as given; on v1 it is refused (see the test above).
#[test]
fn unified_keys_on_v2_and_network_on_v1() {
    let rt = Runtime::new();
    if cgroup_v2() {
        let b = with_resources(
            "cat /sys/fs/cgroup/memory.high /sys/fs/cgroup/pids.max",
            json!({"unified": {"memory.high": "50000000", "pids.max": "77"}}),
        );
        assert_eq!(
            rt.output_of(&b),
            "49999872\n77\n",
            "memory.high is rounded down to pages"
        );
    } else {
        // This host mounts no net_cls hierarchy: the config can't be applied, and says so.
        let b = with_resources("true", json!({"network": {"classID": 1048577}}));
        let id = unique("netcls");
        let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(
            err.contains("network.classID") && err.contains("net_cls"),
            "{err}"
        );
    }
}

/// The remaining memory and cpu knobs: in their v1 files, or their v2 equivalents where v2
/// has one (v2 has no swappiness, OOM-killer switch or TCP buffer limit: those are ignored).
#[test]
fn more_memory_and_cpu_knobs() {
    let rt = Runtime::new();
    let resources = json!({
        "memory": {"limit": 64 << 20, "swappiness": 20, "disableOOMKiller": true, "kernelTCP": 16 << 20, "useHierarchy": true},
        "cpu": {"quota": 50000, "period": 100000, "burst": 1000, "idle": 1},
    });
    let (script, expected) = if cgroup_v2() {
        (
            "cd /sys/fs/cgroup && cat cpu.max.burst cpu.idle memory.max",
            format!("1000\n1\n{}\n", 64 << 20),
        )
    } else {
        (
            "cd /sys/fs/cgroup && cat memory/memory.swappiness memory/memory.kmem.tcp.limit_in_bytes cpu/cpu.cfs_burst_us cpu/cpu.idle memory/memory.use_hierarchy; grep oom_kill_disable memory/memory.oom_control",
            format!("20\n{}\n1000\n1\n1\noom_kill_disable 1\n", 16 << 20),
        )
    };
    assert_eq!(rt.output_of(&with_resources(script, resources)), expected);
}

/// blockIO.weight: io.bfq.weight (the weight itself) or io.weight (runc's conversion) on
/// v2, blkio.weight or blkio.bfq.weight on v1; a kernel with none of them (no BFQ or CFQ,
/// no io cost controller) refuses it with an error naming the file.
#[test]
fn block_io_weight() {
    let rt = Runtime::new();
    let b = with_resources("sleep 1000", json!({"blockIO": {"weight": 500}}));
    let id = unique("bioweight");
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    if out.status.success() {
        let read = |f: &str| read_in_cgroups_of(&id, f);
        let value = read("io.bfq.weight")
            .or_else(|| read("io.weight"))
            .or_else(|| read("blkio.weight"))
            .or_else(|| read("blkio.bfq.weight"))
            .expect("a weight file");
        assert!(value.contains("500") || value.contains("4950"), "{value}");
        rt.ok(&["delete", &id]);
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("blockIO.weight") && (err.contains("blkio.weight") || err.contains("io.")),
            "{err}"
        );
        assert!(!rt.state_dir(&id).exists());
    }
}

/// blockIO.weightDevice, as runc sets it. On v2 only BFQ takes a device's own weight
/// (`io.bfq.weight`); without BFQ on that device the weight is left out and the container
/// starts: io.weight's per-device form needs the io cost controller, and rrun's write of it
/// failed create and `update` with EOPNOTSUPP (Podman's `--blkio-weight-device` on a v2
/// host). On v1, a kernel without CFQ's or BFQ's weight files (this host's) refuses it,
/// naming the field, with nothing left.
#[test]
fn block_io_weight_device_goes_to_bfq_or_nowhere() {
    let rt = Runtime::new();
    // A real block device, and whether BFQ schedules it.
    let (dev, bfq) = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .find_map(|d| {
            let dev = std::fs::read_to_string(d.path().join("dev")).ok()?;
            let scheduler =
                std::fs::read_to_string(d.path().join("queue/scheduler")).unwrap_or_default();
            Some((dev.trim().to_string(), scheduler.contains("[bfq]")))
        })
        .unwrap_or(("7:0".into(), false));
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor): (u64, u64) = (major.parse().unwrap(), minor.parse().unwrap());
    let b = with_resources(
        "sleep 1000",
        json!({"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 98}]}}),
    );
    let id = unique("bioweightdev");
    let before = HostSnapshot::take();
    let v1_files = ["blkio.weight_device", "blkio.bfq.weight_device"]
        .iter()
        .any(|f| {
            std::path::Path::new("/sys/fs/cgroup/blkio")
                .join(f)
                .exists()
        });
    if !cgroup_v2() && !v1_files {
        let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(err.contains("blockIO.weightDevice"), "{err}");
        assert_no_leftovers(&rt, &id, &before);
        return;
    }
    rt.create(&b, &id);
    if cgroup_v2() {
        let read = |f: &str| read_in_cgroups_of(&id, f).unwrap_or_default();
        if bfq {
            assert!(read("io.bfq.weight").contains(&format!("{dev} 98")));
        }
        assert!(!read("io.weight").contains(&dev), "{}", read("io.weight"));
    }
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &before);
}

/// Cgroup file `file` of container `id`: the first of its cgroup directories that has it.
fn read_in_cgroups_of(id: &str, file: &str) -> Option<String> {
    cgroup_dirs_named(id)
        .iter()
        .map(|d| d.join(file))
        .find(|p| p.exists())
        .map(|p| std::fs::read_to_string(p).unwrap())
}

/// Every directory in every hierarchy whose path has a component named `name`.
fn cgroup_dirs_under(name: &str) -> Vec<std::path::PathBuf> {
    cgroup_dirs_named(name)
}

/// A nested `cgroupsPath` whose parents don't exist: create makes them, and both a failed
/// create and delete remove those it made, while a parent that was already there stays
/// (as one made by kubelet or systemd must).
#[test]
fn nested_cgroups_path_parents_made_by_create_are_removed() {
    let rt = Runtime::new();
    let top = unique("cgparent");
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{top}/mid/ctr")));

    let id = unique("nested");
    rt.create(&b, &id);
    assert!(!cgroup_dirs_under(&top).is_empty(), "the parents were made");
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(cgroup_dirs_under(&top), Vec::<std::path::PathBuf>::new());

    // A failure after the cgroups were made (a createRuntime hook runs after that).
    b.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]}));
    let id = unique("nestedfail");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("createRuntime hook #0"), "{err}");
    assert_eq!(cgroup_dirs_under(&top), Vec::<std::path::PathBuf>::new());

    // A parent that existed before is left alone.
    b.edit(|c| c["hooks"] = json!({}));
    let existing = if cgroup_v2() {
        std::path::PathBuf::from("/sys/fs/cgroup").join(&top)
    } else {
        std::path::PathBuf::from("/sys/fs/cgroup/pids").join(&top)
    };
    std::fs::create_dir(&existing).unwrap();
    let id = unique("nestedkeep");
    rt.create(&b, &id);
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(cgroup_dirs_under(&top), vec![existing.clone()]);
    std::fs::remove_dir(&existing).unwrap();
}

/// net_cls and net_prio (v1 only): this host builds them into its kernel but mounts
/// neither, so the test mounts them in a private mount namespace of its own, as a host
/// that uses them would have them, and runs rrun there (runtime-tools
/// linux_cgroups_network).
#[test]
fn network_class_id_and_priorities_where_net_cls_is_mounted() {
    if cgroup_v2() {
        // cgroup v2 has neither controller: see unified_keys_on_v2_and_network_on_v1.
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"]["network"] =
            json!({"classID": 1048577, "priorities": [{"name": "lo", "priority": 7}]})
    });
    let id = unique("netcls");
    let mnt = TempDir::new("rrun-netcls");
    // Whatever happens, the container is deleted before the shell exits: a container left
    // running would hold the test's pipes open.
    let script = format!(
        r#"dir=/sys/fs/cgroup/net_cls
        if ! mountpoint -q $dir; then
            dir={mnt}; mount -t cgroup -o net_cls,net_prio rrun-test $dir || exit 1
        fi
        trap '{rrun} --root {root} delete --force {id} >/dev/null 2>&1' EXIT
        {rrun} --root {root} run -d --bundle {bundle} {id} </dev/null >/dev/null 2>{root}/run.err || {{ cat {root}/run.err >&2; exit 1; }}
        cat $dir/{id}/net_cls.classid
        grep '^lo ' $dir/{id}/net_prio.ifpriomap
        {rrun} --root {root} delete --force {id}
        if [ -e $dir/{id} ]; then echo left behind; fi"#,
        mnt = mnt.path().display(),
        rrun = RRUN,
        root = rt.root.path().display(),
        bundle = b.path().display(),
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    end_hierarchy_mounted_nowhere("net_cls,net_prio", mnt.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1048577\nlo 7\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

/// A v1 hierarchy unmounted while a child cgroup was still being released (the container's,
/// just removed) stays alive in the kernel, listed in every /proc/<pid>/cgroup and mounted
/// nowhere, and rrun then reads mountinfo to find the others. Mounting it again and
/// unmounting it once the child is gone ends it, but not at once: the kernel frees the
/// hierarchy after the unmount (35 - 45 ms on an idle machine here, longer under load), and
/// a mount made before that waits for the end and makes a new hierarchy, which the next
/// unmount sends the same way. So each unmount gets time to take effect before the next
/// try, from 0.2 s doubling to 2 s (once, a loaded CI run polling every 50 ms never
/// saw it gone and left it).
fn end_hierarchy_mounted_nowhere(controllers: &str, scratch: &std::path::Path) {
    let listed = || {
        std::fs::read_to_string("/proc/self/cgroup")
            .unwrap()
            .lines()
            .any(|l| l.split(':').nth(1) == Some(controllers))
    };
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.contains(" - cgroup ") && l.ends_with(controllers))
    };
    let script = format!(
        "mount -t cgroup -o {controllers} rrun-test {dir} && umount {dir}",
        dir = scratch.display()
    );
    for attempt in 0..12 {
        if !listed() || mounted() {
            return;
        }
        let _ = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .status();
        let patience = (200u64 << attempt.min(4)).min(2000);
        for _ in 0..patience / 20 {
            if !listed() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// cgroups.bats: a container never joins a cgroup that holds another's processes, nor a
/// frozen one (its init could never make progress and create would wait forever): both
/// are refused at once, naming the reason, and nothing is left behind.
#[test]
fn busy_or_frozen_cgroup_is_refused_without_waiting() {
    let rt = Runtime::new();
    let path = format!("/{}", unique("sharedcg"));
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    let first = running(&rt, &b, "firstcg");
    let second = unique("secondcg");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &second]);
    assert!(
        err.contains("container's cgroup is not empty: 1 process(es) found"),
        "{err}"
    );
    assert!(!rt.state_dir(&second).exists());
    rt.ok(&["delete", "--force", &first]);

    // A frozen cgroup made before the container.
    let freezer_dir = if cgroup_v2() {
        std::path::PathBuf::from(format!("/sys/fs/cgroup{path}"))
    } else {
        std::path::PathBuf::from(format!("/sys/fs/cgroup/freezer{path}"))
    };
    std::fs::create_dir_all(&freezer_dir).unwrap();
    let (file, frozen, thawed) = if cgroup_v2() {
        ("cgroup.freeze", "1", "0")
    } else {
        ("freezer.state", "FROZEN", "THAWED")
    };
    std::fs::write(freezer_dir.join(file), frozen).unwrap();
    let started = std::time::Instant::now();
    let id = unique("frozencg");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("container's cgroup unexpectedly frozen"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(!rt.state_dir(&id).exists());
    std::fs::write(freezer_dir.join(file), thawed).unwrap();
    std::fs::remove_dir(&freezer_dir).unwrap();
}

/// dev.bats: a device node the config lists is not thereby allowed; the device rules
/// decide, so "deny all" holds for it.
#[test]
fn a_listed_device_is_not_allowed_unless_a_rule_allows_it() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("head -c1 /dev/kmsg 2>&1 >/dev/null; echo rc=$?");
    b.edit(|c| {
        c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
        grant_capability(c, "CAP_SYSLOG");
    });
    let out = rt.output_of(&b);
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.ends_with("rc=1\n"), "{out}");
}

/// delete.bats: processes a container moved into sub-cgroups of its own are killed and
/// the sub-cgroups removed with the container's.
#[test]
fn delete_force_removes_sub_cgroups_and_their_processes() {
    let rt = Runtime::new();
    let path = format!("/{}", unique("subcg"));
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    let id = running(&rt, &b, "subcg");
    let pid = exec_detached(&rt, &id, &["sleep", "100"]).to_string();
    let hierarchies: Vec<std::path::PathBuf> = if cgroup_v2() {
        vec![format!("/sys/fs/cgroup{path}").into()]
    } else {
        ["memory", "freezer", "pids"]
            .iter()
            .map(|h| format!("/sys/fs/cgroup/{h}{path}").into())
            .collect()
    };
    for dir in &hierarchies {
        let sub = dir.join("foo");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("cgroup.procs"), &pid).unwrap();
    }
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.state_dir(&id).exists());
    for dir in &hierarchies {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    assert!(
        ended(pid.parse().unwrap()),
        "the process in the sub-cgroup is killed"
    );
}

/// update.bats: limits that depend on each other's old values are applied whatever their
/// order: a lower CPU period with a quota under the parent's limit, and swap lifted.
#[test]
fn update_applies_interdependent_limits() {
    let rt = Runtime::new();
    let parent = unique("podcg");
    let parent_dir: std::path::PathBuf = if cgroup_v2() {
        format!("/sys/fs/cgroup/{parent}").into()
    } else {
        format!("/sys/fs/cgroup/cpu/{parent}").into()
    };
    std::fs::create_dir_all(&parent_dir).unwrap();
    if cgroup_v2() {
        let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
        std::fs::write(parent_dir.join("cpu.max"), "50000 100000").unwrap();
    } else {
        std::fs::write(parent_dir.join("cpu.cfs_quota_us"), "50000").unwrap();
    }
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{parent}/ctr"));
        c["linux"]["resources"] = json!({"memory": {"limit": 33554432, "swap": 33554432}});
    });
    let id = running(&rt, &b, "podupd");
    if !cgroup_v2() {
        // v1 refuses a quota above the parent's limit (v2 takes it; the parent's rules).
        let err = rt.fails(&["update", "--cpu-quota", "60000", &id]);
        assert!(err.contains("cpu.quota"), "above the parent's limit: {err}");
    }
    rt.ok(&[
        "update",
        "--cpu-period",
        "10000",
        "--cpu-quota",
        "3000",
        &id,
    ]);
    let ctr = parent_dir.join("ctr");
    if cgroup_v2() {
        assert_eq!(
            std::fs::read_to_string(ctr.join("cpu.max")).unwrap(),
            "3000 10000\n"
        );
    } else {
        assert_eq!(
            std::fs::read_to_string(ctr.join("cpu.cfs_period_us")).unwrap(),
            "10000\n"
        );
        assert_eq!(
            std::fs::read_to_string(ctr.join("cpu.cfs_quota_us")).unwrap(),
            "3000\n"
        );
        rt.ok(&["update", "--memory-swap", "-1", &id]);
        let memsw = format!("/sys/fs/cgroup/memory/{parent}/ctr/memory.memsw.limit_in_bytes");
        let v: u64 = std::fs::read_to_string(memsw)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(v > 1 << 40, "swap is unlimited: {v}");
    }
    rt.ok(&["delete", "--force", &id]);
    assert!(!parent_dir.join("ctr").exists());
    let _ = std::fs::remove_dir(&parent_dir);
}

/// A created container can be paused, as in runc. No command waits on an init that cannot
/// make progress: `start` of a paused created container refuses at once, in runc's words,
/// and starts once resumed. Refusals in runc's words too ("container not running",
/// "container not paused").
#[test]
fn a_created_container_pauses_and_resumes_and_start_refuses_it_paused() {
    let rt = Runtime::new();
    let path = format!("/{}", unique("frozenstart"));
    let mut b = Bundle::new(&["echo", "started"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    let id = unique("frozenstart");
    rt.create(&b, &id);
    // As runc: a created container can be paused; it is "paused" until resumed, then
    // "created" again.
    rt.ok(&["pause", &id]);
    assert_eq!(rt.state(&id)["status"], "paused");
    let frozen = if cgroup_v2() {
        std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.freeze")).unwrap()
    } else {
        std::fs::read_to_string(format!("/sys/fs/cgroup/freezer{path}/freezer.state")).unwrap()
    };
    assert!(["1", "FROZEN"].contains(&frozen.trim()), "{frozen}");
    let err = rt.fails(&["pause", &id]);
    assert!(err.contains("container not running"), "{err}");
    // Its init could never exec: refused at once, not waited for.
    let started = std::time::Instant::now();
    let err = rt.fails(&["start", &id]);
    assert!(
        err.contains("cannot start a container in the paused state"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    rt.ok(&["resume", &id]);
    assert_eq!(rt.state(&id)["status"], "created");
    let err = rt.fails(&["resume", &id]);
    assert!(err.contains("container not paused"), "{err}");
    rt.ok(&["start", &id]);
    wait_until("the container stops", || {
        rt.state(&id)["status"] == "stopped"
    });
    let err = rt.fails(&["pause", &id]);
    assert!(err.contains("container not running"), "{err}");
    rt.ok(&["delete", &id]);
}

/// A memory limit below what the init needs to build the container: runc's words for it,
/// whichever the kernel does first (the OOM killer ends the init, or v1 refuses a limit
/// below what the cgroup already holds), never a bare "killed by SIGKILL"; nothing left.
#[test]
fn a_memory_limit_too_low_for_the_init_is_named_and_leaves_nothing() {
    let rt = Runtime::new();
    let b = with_resources("true", json!({"memory": {"limit": 1000}}));
    let id = unique("oominit");
    let before = HostSnapshot::take();
    let err = rt.fails(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("container init was OOM-killed (memory limit too low?)")
            || err.contains("unable to set memory limit to 1000 (current usage: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_no_leftovers(&rt, &id, &before);
}
