//! `exec`: a new process in a running container, as engines' health checks and
//! `docker exec` use it.

use crate::common::*;
use serde_json::json;
use std::process::{Command, Stdio};

#[test]
fn exec_output_exit_code_and_namespaces() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "exec");
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let out = rt.run(&["exec", &id, "sh", "-c", "echo hi; hostname; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; cat /proc/self/cgroup; echo --; cat /proc/1/cgroup; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "hi");
    assert_eq!(lines[1], "rrun");
    assert_eq!(
        lines[2],
        std::fs::read_link(format!("/proc/{init}/ns/pid"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert_eq!(
        lines[3],
        std::fs::read_link(format!("/proc/{init}/ns/mnt"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    // Every hierarchy's line, not only the first: which hierarchy comes first depends on
    // what else mounted cgroup hierarchies on the host before. Both read inside the
    // container (its pid 1 is the init), so a cgroup namespace shows them alike.
    let (own, init_cgroups) = text
        .split_once("--\n")
        .map(|(before, after)| (before.lines().skip(4).collect::<Vec<_>>(), after))
        .unwrap();
    assert!(!own.is_empty(), "{text}");
    assert_eq!(
        own.join("\n") + "\n",
        init_cgroups,
        "the exec'd process is in the init's cgroups: {text}"
    );
    rt.ok(&["delete", "-f", &id]);
}

/// As runc: exec joins the namespaces of the kinds the container's config lists, from its
/// init; a kind the container shares with the host stays the caller's, even where the
/// caller is in another namespace of that kind than the init.
#[test]
fn exec_joins_the_namespace_kinds_the_config_lists_and_no_other() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    let id = running(&rt, &b, "execkinds");
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let link = |path: String| {
        std::fs::read_link(path)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let rrun = rt.cmd();
    let out = Command::new("unshare")
        .arg("--net")
        .arg(rrun.get_program())
        .args(rrun.get_args())
        .args([
            "exec",
            &id,
            "sh",
            "-c",
            "readlink /proc/self/ns/net; hostname",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    // Not the init's (the host's) network namespace, nor this test's: the caller's own.
    assert_eq!(lines.len(), 2, "{text}");
    assert_ne!(lines[0], link(format!("/proc/{init}/ns/net")), "{text}");
    assert_ne!(lines[0], link("/proc/self/ns/net".into()), "{text}");
    // The uts namespace is listed: joined, whatever the caller's.
    assert_eq!(lines[1], "rrun");
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_flags_user_env_cwd_caps() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execflags");
    let out = rt.ok(&[
        "exec",
        "--user",
        "1000:1001",
        "-g",
        "5",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "id -u; id -G; echo $FOO; pwd",
    ]);
    assert_eq!(out, "1000\n1001 5\nbar\n/tmp\n");
    let caps = rt.ok(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert!(
        caps.contains("0000000020200420"),
        "CAP_SYS_ADMIN added to the bounding set: {caps}"
    );
    let nnp = rt.ok(&["exec", &id, "grep", "NoNewPrivs", "/proc/self/status"]);
    assert!(nnp.contains('1'), "{nnp}");
    rt.ok(&["delete", "-f", &id]);
}

/// Writes a process.json that runs `args` as root with `execCPUAffinity` set to `affinity`.
fn write_process_with_affinity(file: &std::path::Path, args: &[&str], affinity: serde_json::Value) {
    let process = json!({"args": args, "cwd": "/", "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0}, "execCPUAffinity": affinity});
    std::fs::write(file, process.to_string()).unwrap();
}

/// runtime-spec 1.2's `process.execCPUAffinity`, as runc applies it (cpu_affinity.bats):
/// `initial` while the process joins the container (its mask in a --debug line, runc's
/// words), `final` once it is in its cgroups, `initial` kept where no `final` is given;
/// from a process.json or from config.json's process.
#[test]
fn exec_cpu_affinity_initial_then_final() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = cpus - 1;
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execaff");
    let file = b.path().join("process.json");
    let exec = |affinity: serde_json::Value| {
        let grep = ["grep", "Cpus_allowed_list:", "/proc/self/status"];
        write_process_with_affinity(&file, &grep, affinity);
        let out = rt.run(&["--debug", "exec", "--process", file.to_str().unwrap(), &id]);
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (allowed, log) = exec(json!({"initial": last.to_string(), "final": "0"}));
    assert_eq!(allowed, "Cpus_allowed_list:\t0");
    assert!(
        log.contains(&format!("nsexec: affinity: {:#x}", 1u64 << last)),
        "{log}"
    );
    let (allowed, log) = exec(json!({"initial": last.to_string()}));
    assert_eq!(allowed, format!("Cpus_allowed_list:\t{last}"));
    assert!(
        log.contains(&format!("nsexec: affinity: {:#x}", 1u64 << last)),
        "{log}"
    );
    rt.ok(&["delete", "--force", &id]);
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({"final": last.to_string()}));
    let id = running(&rt, &b, "execaff");
    assert_eq!(
        rt.ok(&[
            "exec",
            &id,
            "grep",
            "Cpus_allowed_list:",
            "/proc/self/status"
        ]),
        format!("Cpus_allowed_list:\t{last}\n")
    );
    rt.ok(&["delete", "--force", &id]);
}

/// A CPU list rrun can't read, or CPUs the kernel refuses: `exec` fails with exit 255 and
/// a line naming the field or the step, leaves no process in the container, and the
/// container runs on.
#[test]
fn a_bad_exec_cpu_affinity_fails_the_exec_and_leaves_nothing() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execaffbad");
    let file = b.path().join("process.json");
    for (affinity, expected) in [
        (
            json!({"final": "3-1"}),
            "process.execCPUAffinity.final: \"3-1\": the range 3-1 ends before it starts",
        ),
        (
            json!({"initial": "1000"}),
            "setting the initial CPU affinity: EINVAL",
        ),
        (
            json!({"final": "1000"}),
            "setting the final CPU affinity: EINVAL",
        ),
    ] {
        write_process_with_affinity(&file, &["sleep", "1000"], affinity.clone());
        let err = rt.fails_with(255, &["exec", "--process", file.to_str().unwrap(), &id]);
        assert!(err.contains(expected), "{affinity}: {err}");
        let pids = rt.pids(&id);
        assert_eq!(pids.len(), 1, "{affinity}: only the init is left: {pids:?}");
    }
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_process_json() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execjson");
    let file = b.path().join("process.json");
    std::fs::write(&file, json!({"args": ["sh", "-c", "echo $X; umask; pwd"], "env": ["PATH=/bin", "X=from-json"], "cwd": "/etc", "user": {"uid": 0, "gid": 0, "umask": 63}}).to_string()).unwrap();
    assert_eq!(
        rt.ok(&["exec", "--process", file.to_str().unwrap(), &id]),
        "from-json\n0077\n/etc\n"
    );
    std::fs::write(&file, r#"{"args": "not a list"}"#).unwrap();
    assert!(
        rt.fails_with(255, &["exec", "-p", file.to_str().unwrap(), &id])
            .contains("args")
    );
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn a_process_json_without_capabilities_gets_the_containers_not_rrun_s() {
    // runc's exec takes what a process.json leaves out of capabilities, AppArmor, SELinux,
    // scheduler, I/O priority and exec CPU affinity from the container's process; rrun ran
    // such a process with every capability it had itself.
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execcaps");
    let caps = |process: serde_json::Value| {
        let file = b.path().join("process.json");
        std::fs::write(&file, process.to_string()).unwrap();
        rt.ok(&["exec", "--process", file.to_str().unwrap(), &id])
    };
    let status = ["grep", "-E", "^Cap(Prm|Eff|Bnd)", "/proc/self/status"];
    let of_init = rt.ok(&[
        "exec",
        &id,
        "grep",
        "-E",
        "^Cap(Prm|Eff|Bnd)",
        "/proc/1/status",
    ]);
    assert!(of_init.contains("0000000020000420"), "{of_init}");
    let without = caps(
        json!({"args": status, "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}),
    );
    assert_eq!(without, of_init);
    let with = caps(
        json!({"args": status, "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}}),
    );
    assert_eq!(with.matches("0000000000000020").count(), 3, "{with}");
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_detach_and_pid_file() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execdetach");
    let pidfile = b.path().join("exec.pid");
    let status = rt
        .cmd()
        .args(["exec", "-d", "--pid-file"])
        .arg(&pidfile)
        .args([&id, "sleep", "777"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    wait_until("sleep 777 runs", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep\u{0}777"))
    });
    assert!(rt.pids(&id).contains(&pid));
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_errors() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execerr");
    assert!(
        rt.fails_with(255, &["exec", &id, "no-such-command"])
            .contains("executable file not found")
    );
    assert!(rt.fails_with(255, &["exec", &id]).contains("command"));
    assert!(
        rt.fails_with(255, &["exec", "--user", "root", &id, "true"])
            .contains("--user")
    );
    rt.ok(&["pause", &id]);
    assert!(
        rt.fails_with(255, &["exec", &id, "true"])
            .contains("paused")
    );
    rt.ok(&["resume", &id]);
    rt.ok(&["kill", &id, "KILL"]);
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    assert!(
        rt.fails_with(255, &["exec", &id, "true"])
            .contains("stopped")
    );
    rt.ok(&["delete", &id]);
    assert!(
        rt.fails_with(255, &["exec", &id, "true"])
            .contains("does not exist")
    );
}

#[test]
fn exec_into_a_user_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.in_user_namespace();
    let id = running(&rt, &b, "execuserns");
    let out = rt.ok(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_with_a_tty_through_the_console_socket() {
    use std::io::Read;
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "exectty");
    let dir = TempDir::new("rrun-exec-console");
    let sock = dir.path().join("c.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        recv_with_fd(&conn).0.expect("a pty master")
    });
    let status = rt
        .cmd()
        .args([
            "exec",
            "-t",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
            "sh",
            "-c",
            "tty; [ -t 0 ] && echo is-a-tty",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut master = std::fs::File::from(receiver.join().unwrap());
    let mut text = String::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        text.contains("/dev/pts/") && text.contains("is-a-tty"),
        "{text:?}"
    );
    rt.ok(&["delete", "-f", &id]);
}

/// CVE-2019-5736 through exec: the process runs from a sealed copy of rrun until it execs,
/// so a container process never reaches the host's binary.
#[test]
fn exec_runs_from_a_sealed_view_of_rrun() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execsealed");
    // `rrun exec` moves onto a sealed view of its binary (in place, or by re-executing from
    // it) before it forks the process that joins the container, so that process runs from
    // the sealed file too, and maps nothing of the installed one.
    let mut child = rt
        .cmd()
        .args(["exec", &id, "sh", "-c", "sleep 2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until("rrun exec runs sealed", || runs_sealed_rrun(pid));
    assert!(child.wait().unwrap().success());
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_into_a_sub_cgroup() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execsub");
    let (flag, dir) = if cgroup_v2() {
        let d = cgroup_dirs_named(&id).remove(0);
        ("sub".to_string(), d)
    } else {
        let d = cgroup_dirs_named(&id)
            .into_iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
            .unwrap();
        ("pids:sub".to_string(), d)
    };
    // runc's words for a sub-cgroup that isn't there, and for one outside the container's.
    let err = rt.fails_with(255, &["exec", "--cgroup", &flag, &id, "true"]);
    assert!(
        err.contains(" adding pid ") && err.contains("no such file or directory"),
        "{err}"
    );
    let outside = flag.replace("sub", "..");
    let err = rt.fails_with(255, &["exec", "--cgroup", &outside, &id, "true"]);
    assert!(err.contains("bad sub cgroup path: .."), "{err}");
    let err = rt.fails_with(255, &["exec", "--cgroup", "whaaat:/", &id, "true"]);
    assert!(err.contains("unknown controller whaaat"), "{err}");
    std::fs::create_dir(dir.join("sub")).unwrap();
    let pidfile = b.path().join("sub.pid");
    let status = rt
        .cmd()
        .args(["exec", "-d", "--cgroup", &flag, "--pid-file"])
        .arg(&pidfile)
        .args([&id, "sleep", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(
        std::fs::read_to_string(dir.join("sub/cgroup.procs"))
            .unwrap()
            .lines()
            .any(|l| l == pid),
        "the process is in the sub-cgroup"
    );
    rt.ok(&["kill", "--all", &id, "KILL"]);
    wait_until("sub-cgroup empty", || {
        std::fs::read_to_string(dir.join("sub/cgroup.procs"))
            .map(|s| s.trim().is_empty())
            .unwrap_or(true)
    });
    std::fs::remove_dir(dir.join("sub")).unwrap();
    rt.ok(&["delete", "-f", &id]);
}

/// runc's v1 forms of --cgroup: one path for every hierarchy, and several controllers
/// sharing a path.
#[test]
fn exec_into_sub_cgroups_of_every_hierarchy_or_of_several_controllers() {
    if cgroup_v2() {
        eprintln!("skipped: cgroup v1 forms");
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "execsubs");
    let dirs = cgroup_dirs_named(&id);
    let in_each = |pid: &str, sub: &str, only: &[&str]| {
        for d in &dirs {
            let named = only.is_empty()
                || only
                    .iter()
                    .any(|c| d.starts_with(format!("/sys/fs/cgroup/{c}")));
            let target = if named { d.join(sub) } else { d.clone() };
            let procs = std::fs::read_to_string(target.join("cgroup.procs")).unwrap_or_default();
            assert!(
                procs.lines().any(|l| l == pid),
                "{pid} not in {}",
                target.display()
            );
        }
    };
    for d in &dirs {
        std::fs::create_dir(d.join("all")).unwrap();
        // A cpuset takes no task until it has cpus and memory nodes.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                std::fs::write(d.join("all").join(f), v.trim()).unwrap();
            }
        }
    }
    let pid = exec_detached_with(&rt, &id, &["--cgroup", "all"], &["sleep", "100"]);
    in_each(&pid.to_string(), "all", &[]);
    for c in ["memory", "pids"] {
        let d = dirs
            .iter()
            .find(|d| d.starts_with(format!("/sys/fs/cgroup/{c}")))
            .unwrap();
        std::fs::create_dir(d.join("two")).unwrap();
    }
    let pid = exec_detached_with(
        &rt,
        &id,
        &["--cgroup", "memory,pids:two"],
        &["sleep", "100"],
    );
    in_each(&pid.to_string(), "two", &["memory", "pids"]);
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.ok(&["delete", "-f", &id]);
    for d in &dirs {
        let _ = std::fs::remove_dir(d.join("two"));
        let _ = std::fs::remove_dir(d.join("all"));
    }
}

#[test]
fn exec_process_is_in_every_cgroup_of_the_container() {
    // On v1 the process moves itself into each hierarchy (cgroups::join_self); what
    // the host sees must be the init's cgroups, hierarchy by hierarchy, limits included.
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 3}));
    let id = running(&rt, &b, "execcg");
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let pid = exec_detached(&rt, &id, &["sleep", "100"]);
    let cgroups_of = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cgroups_of(pid as i64), cgroups_of(init));
    // The pids limit counts it: with the init and this process, a third one fits (the
    // shell), its child doesn't.
    let out = rt.run(&["exec", &id, "sh", "-c", "sleep 1 & echo forked"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("forked"),
        "a fourth process in the container's pids cgroup: {out:?}"
    );
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_forwards_signals_and_gets_the_seccomp_filter_and_time_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 100, "nanosecs": 0}});
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
    });
    let id = running(&rt, &b, "execsig");
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "mkdir /tmp/denied 2>&1; cut -d. -f1 /proc/uptime",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("Permission denied"),
        "the container's seccomp filter applies: {out}"
    );
    assert!(
        lines[1].parse::<u64>().unwrap() >= 86400 * 100,
        "the container's time namespace: {out}"
    );
    let mut child = rt
        .cmd()
        .args(["exec", &id, "sleep", "1000"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("exec'd sleep", || rt.pids(&id).len() >= 2);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        child.wait().unwrap().code(),
        Some(128 + 15),
        "SIGTERM reached the process"
    );
    rt.ok(&["delete", "-f", &id]);
}

/// tty.bats: `exec -p` reads its process.json once even from a pipe (there `-p <(...)`,
/// here `-p /proc/self/fd/0` on a pipe), though exec re-executes rrun from its sealed binary
/// first.
#[test]
fn exec_process_json_from_a_pipe() {
    use std::io::Write;
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "execpipe");
    let mut child = rt
        .cmd()
        .args(["exec", "-p", "/proc/self/fd/0", &id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"args": ["/bin/echo", "from a pipe"], "cwd": "/"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from a pipe\n");
    rt.ok(&["delete", "--force", &id]);
}

/// runc's "init process in non-root cgroup" case (cgroup v2): a container that moved its
/// init into a sub-cgroup and enabled a domain controller leaves its own cgroup unable to
/// take processes; exec then joins the init's cgroup instead of failing.
#[test]
fn exec_joins_the_inits_cgroup_when_the_containers_takes_no_processes() {
    if !cgroup_v2() {
        eprintln!("skipped: cgroup v2 only (make test-v2 runs it)");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh("sleep 300");
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys/fs/cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
    });
    let id = running(&rt, &b, "exec-busy");
    rt.ok(&[
        "exec",
        &id,
        "sh",
        "-euc",
        "mkdir /sys/fs/cgroup/foo; echo 1 > /sys/fs/cgroup/foo/cgroup.procs; echo $$ > /sys/fs/cgroup/foo/cgroup.procs; echo +memory > /sys/fs/cgroup/cgroup.subtree_control",
    ]);
    assert_eq!(
        rt.ok(&["exec", &id, "cat", "/proc/self/cgroup"]),
        "0::/foo\n"
    );
    rt.ok(&["delete", "--force", &id]);
}
