//! What scripts and engines read from rrun's command line, as runc's own integration suite
//! checks it: log lines, --debug, help, exit codes, kill/list/ps/events edge cases.

use crate::common::*;
use std::process::Stdio;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn errors_are_runc_log_lines_on_stderr_and_plain_with_a_log_file() {
    let rt = Runtime::new();
    let out = rt.run(&["state", "no-such-container"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("time=\"20"), "{err}");
    assert_eq!(
        log_line(lines[0]).map(|(level, _)| level),
        Some("error".into())
    );
    assert!(messages(&err).contains("does not exist"), "{err}");

    // With --log the formatted line goes to the file and the plain message to stderr.
    let dir = TempDir::new("rrun-log");
    let log = dir.path().join("log.txt");
    let out = rt.run(&["--log", log.to_str().unwrap(), "state", "no-such-container"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        !err.contains("level=") && err.contains("does not exist"),
        "{err}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("level=error msg="), "{logged}");

    // A log file that can't be opened is an error, as in runc.
    let out = rt.run(&["--log", "/nonexistent-dir/log", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&stderr_of(&out)).contains("--log: opening /nonexistent-dir/log"));
}

/// `--debug` names create's steps as runc does (tools and runc's own tests grep for them), as level=debug lines
/// on stderr, or only in the --log file when there is one.
#[test]
fn debug_lines_name_runcs_steps_on_stderr_or_in_the_log() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let out = rt.run(&[
        "--debug",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("dbg"),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let debug: Vec<String> = err
        .lines()
        .filter_map(log_line)
        .filter(|(level, _)| level == "debug")
        .map(|(_, msg)| msg)
        .collect();
    for step in [
        "nsexec container setup",
        "child process in init()",
        "init: closing the pipe to signal completion",
        // The sealed view of rrun's binary its init runs from (CVE-2019-5736), in runc's
        // words: overlayfs works on every host these tests run on.
        "runc exeseal: using overlayfs for sealed /proc/self/exe",
        "runc exeseal: using /proc/self/exe clone",
    ] {
        assert!(debug.iter().any(|m| m.contains(step)), "{step}: {err}");
    }

    let dir = TempDir::new("rrun-log");
    let log = dir.path().join("log.json");
    let args = [
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
    ];
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "dbgexec");
    let out = rt.run(&[&args[..], &["exec", &id, "true"]].concat());
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("debug"), "{}", stderr_of(&out));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("\"level\":\"debug\""), "{logged}");
    assert!(logged.contains("setns_init: about to exec"), "{logged}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn help_is_in_runcs_layout_for_every_runc_command() {
    let rt = Runtime::new();
    let binary = std::path::Path::new(RRUN)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for flag in ["-h", "--help"] {
        let out = rt.ok(&[flag]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME:", "{out}");
        assert!(
            lines[1].contains("runc - Open Container Initiative runtime"),
            "{out}"
        );
    }
    for cmd in [
        "checkpoint",
        "create",
        "delete",
        "events",
        "exec",
        "kill",
        "list",
        "pause",
        "ps",
        "restore",
        "resume",
        "run",
        "spec",
        "start",
        "state",
        "update",
        "features",
    ] {
        let out = rt.ok(&[cmd, "-h"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME:", "{cmd}: {out}");
        assert!(
            lines[1].starts_with(&format!("   {binary} {cmd} - ")),
            "{cmd}: {out}"
        );
    }
    for unknown in [&["foo", "-h"][..], &["foo"], &["--debug", "foo", "bar"]] {
        let out = rt.run(unknown);
        assert_eq!(out.status.code(), Some(3), "{unknown:?}");
        assert_eq!(
            messages(&stderr_of(&out)),
            "No help topic for 'foo'\n",
            "{unknown:?}"
        );
    }
}

/// checkpoint's --parent-path, checked as runc checks it (the rest: checkpoint.rs).
#[test]
fn checkpoint_parent_paths_are_checked_as_runc_does() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "ckpt");
    let images = TempDir::new("rrun-ckpt-images");
    let image = images.path().to_str().unwrap();
    let err = rt.fails(&[
        "checkpoint",
        "--image-path",
        image,
        "--parent-path",
        "/abs/parent",
        &id,
    ]);
    assert!(err.contains("--parent-path must be relative"), "{err}");
    let err = rt.fails(&[
        "checkpoint",
        "--image-path",
        image,
        "--parent-path",
        "no-such-parent",
        &id,
    ]);
    assert!(err.contains("invalid --parent-path"), "{err}");
    assert!(err.contains(&format!("{image}/no-such-parent")), "{err}");
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
}

/// exec's own failures exit 255, as runc's, apart from the process's exit codes.
#[test]
fn exec_failures_exit_255_and_paused_containers_wait_only_when_asked() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "exec255");
    let out = rt.run(&["exec", &id, "sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42));
    let err = rt.fails_with(
        255,
        &["exec", "--pid-file", "/non-existent/dir/pid", &id, "true"],
    );
    assert!(err.contains("/non-existent/dir/pid"), "{err}");
    rt.ok(&["pause", &id]);
    let err = rt.fails_with(255, &["exec", &id, "true"]);
    assert!(err.contains("cannot exec in a paused container"), "{err}");
    // --ignore-paused: the process runs once the container is resumed.
    let resumer = {
        let root = rt.root.path().to_path_buf();
        let id = id.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            std::process::Command::new(RRUN)
                .arg("--root")
                .arg(root)
                .args(["resume", &id])
                .status()
                .unwrap()
        })
    };
    let waiting = rt
        .cmd()
        .args(["exec", "--ignore-paused", &id, "echo", "ok"])
        .stdin(Stdio::null())
        .output();
    let out = waiting.unwrap();
    assert!(resumer.join().unwrap().success());
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn kill_signal_0_and_all_on_a_stopped_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "kill0");
    rt.ok(&["kill", &id, "0"]);
    rt.ok(&["kill", &id, "KILL"]);
    wait_until("the container stops", || {
        rt.state(&id)["status"] == "stopped"
    });
    let err = rt.fails(&["kill", &id, "0"]);
    assert!(err.contains("container not running"), "{err}");
    rt.ok(&["kill", "--all", &id, "0"]);
    // ps of a stopped container is the header alone, as in runc.
    let ps = rt.ok(&["ps", &id]);
    assert_eq!(ps.lines().count(), 1, "{ps}");
    assert_eq!(rt.ok(&["ps", "--format", "json", &id]), "[]\n");
    rt.ok(&["delete", &id]);
}

/// A container without its own pid namespace: its init is no pid 1, so SIGKILL must reach
/// every process of its cgroup, even once the init has gone.
#[test]
fn sigkill_reaches_every_process_of_a_container_in_the_hosts_pid_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    let id = running(&rt, &b, "hostpid");
    let extra = exec_detached(&rt, &id, &["sleep", "100"]);
    let init = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the init is gone", || rt.state(&id)["status"] == "stopped");
    rt.ok(&["kill", &id, "KILL"]);
    // The exec'd process was reparented away from rrun: it is gone (or a zombie).
    wait_until("the other process is killed", || ended(extra));
    rt.ok(&["delete", &id]);
}

/// `ls` is `list`'s other name: the same table, never a crash for the alias.
#[test]
fn ls_is_list() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &b, "ls");
    let list = rt.ok(&["list"]);
    assert!(list.contains(&id), "{list}");
    assert_eq!(rt.ok(&["ls"]), list);
    assert_eq!(rt.ok(&["ls", "-q"]), format!("{id}\n"));
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn list_fails_on_a_missing_root_given_by_flag() {
    let out = std::process::Command::new(RRUN)
        .args(["--root", "/nonexistent-rrun-root", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&stderr_of(&out)).contains("/nonexistent-rrun-root"));
}

#[test]
fn events_and_stats_are_in_runcs_field_order() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "events");
    let out = rt.ok(&["events", "--stats", &id]);
    assert!(
        out.starts_with(&format!(
            "{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":{{\"cpu\":"
        )),
        "{out}"
    );
    let data: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&String> = data["data"].as_object().unwrap().keys().collect();
    let order = ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb"];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| order.iter().position(|o| o == k).unwrap_or(99))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn update_takes_runcs_flag_names() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "updflags");
    rt.ok(&["update", "--cpu-share", "512", "--pids-limit", "20", &id]);
    let shares_file = if cgroup_v2() {
        "cpu.weight"
    } else {
        "cpu/cpu.shares"
    };
    let expected = if cgroup_v2() { "59" } else { "512" };
    let out = rt.ok(&["exec", &id, "cat", &format!("/sys/fs/cgroup/{shares_file}")]);
    assert_eq!(out.trim(), expected);
    let err = rt.fails(&["update", "--l3-cache-schema", "L3:0=f", &id]);
    assert!(err.contains("Intel RDT"), "{err}");
    rt.ok(&["delete", "--force", &id]);
}
