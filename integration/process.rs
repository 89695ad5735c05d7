//! The container process: user, capabilities, rlimits, env, cwd, umask, oom score, fds.

use crate::common::*;
use serde_json::json;
use std::process::Stdio;

#[test]
fn user_and_groups_are_applied() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("id -u; id -g; id -G");
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]})
    });
    assert_eq!(rt.output_of(&b), "1000\n1001\n1001 5 1002\n");
}

#[test]
fn capabilities_and_no_new_privileges_are_applied() {
    let rt = Runtime::new();
    let b = Bundle::sh("grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs)' /proc/self/status");
    let out = rt.output_of(&b);
    // CAP_AUDIT_WRITE(29) | CAP_KILL(5) | CAP_NET_BIND_SERVICE(10) = 0x20000420
    assert!(out.contains("CapBnd:\t0000000020000420"), "{out}");
    assert!(out.contains("CapEff:\t0000000020000420"), "{out}");
    assert!(out.contains("CapPrm:\t0000000020000420"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
}

#[test]
fn rlimits_are_applied() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("ulimit -Sn; ulimit -Hn; ulimit -Sc");
    b.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1111, "hard": 2222},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ])
    });
    assert_eq!(rt.output_of(&b), "1111\n2222\n0\n");
}

#[test]
fn env_cwd_and_home() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("pwd; echo $FOO; echo $HOME");
    b.edit(|c| {
        c["process"]["cwd"] = json!("/work/dir");
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    });
    assert_eq!(rt.output_of(&b), "/work/dir\nbar baz\n/root\n");
}

#[test]
fn umask_and_oom_score_adj() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("umask; cat /proc/self/oom_score_adj");
    b.edit(|c| {
        c["process"]["user"]["umask"] = json!(0o077);
        c["process"]["oomScoreAdj"] = json!(123);
    });
    assert_eq!(rt.output_of(&b), "0077\n123\n");
}

/// runc (1.2 and later) gives every container process all the CPUs its cgroups allow,
/// whatever the affinity rrun was started with (a pinned shim, `taskset`): `run` and
/// `exec` alike (runc's cpu_affinity.bats, "should reset"). rrun also keeps its init off
/// its own CPU until "go" (init::first_cpu), which must not show either.
#[test]
fn every_container_process_gets_the_cpus_its_cgroups_allow() {
    let allowed = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .map(|l| l.trim_end().to_string())
            .unwrap_or_default()
    };
    let all = allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = (cpus - 1).to_string();
    let rt = Runtime::new();
    let pinned_to_0 = |args: &[&str]| {
        let out = std::process::Command::new("taskset")
            .args(["-c", "0", RRUN, "--root"])
            .arg(rt.root.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        allowed(&String::from_utf8_lossy(&out.stdout))
    };
    let mut b = Bundle::sh("grep Cpus_allowed_list: /proc/self/status");
    let bundle = b.path().to_str().unwrap().to_string();
    assert_eq!(allowed(&rt.output_of(&b)), all);
    let run = pinned_to_0(&["run", "--bundle", &bundle, &unique("affinity")]);
    assert_eq!(run, all, "run under taskset -c 0");
    let sleeper = Bundle::new(&["sleep", "1000"]);
    let id = running(&rt, &sleeper, "affinity");
    let exec = pinned_to_0(&[
        "exec",
        &id,
        "grep",
        "Cpus_allowed_list:",
        "/proc/self/status",
    ]);
    assert_eq!(exec, all, "exec under taskset -c 0");
    rt.ok(&["delete", "--force", &id]);
    // A cpuset with no CPU in common with rrun's affinity: the process gets the cpuset's.
    b.edit(|c| c["linux"]["resources"] = json!({"cpu": {"cpus": last, "mems": "0"}}));
    let run = pinned_to_0(&["run", "--bundle", &bundle, &unique("affinity")]);
    assert_eq!(
        run,
        format!("Cpus_allowed_list:\t{last}"),
        "run under taskset -c 0"
    );
}

#[test]
fn no_rrun_fd_reaches_the_container() {
    let rt = Runtime::new();
    // ls opens the directory itself as fd 3.
    let b = Bundle::sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    assert_eq!(rt.output_of(&b), "0 1 2 3 ");
}

#[test]
fn preserve_fds_passes_extra_fds() {
    use std::os::unix::process::CommandExt;
    let rt = Runtime::new();
    let b = Bundle::sh("cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let dir = TempDir::new("rrun-fds");
    std::fs::write(dir.path().join("f"), "passed through fd 3\n").unwrap();
    let file = std::fs::File::open(dir.path().join("f")).unwrap();
    let id = unique("fds");
    let mut cmd = rt.cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null());
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: dup2 and fcntl in the child between fork and exec is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec, so clear it explicitly.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "passed through fd 3\n0 1 2 3 4 "
    );
}

#[test]
fn missing_executable_fails_at_create_with_clear_error() {
    let rt = Runtime::new();
    let b = Bundle::new(&["no-such-command"]);
    let id = unique("noexe");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("exec: \"no-such-command\": executable file not found in $PATH"),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
    // An absolute path: runc's words, which engines match ("no such file or directory"
    // becomes Docker's and Podman's exit code 127).
    let b = Bundle::new(&["/no/such/command"]);
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains(
            "exec: \"/no/such/command\": stat /no/such/command: no such file or directory"
        ),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
    // A directory is "permission denied", as Go's exec.LookPath says it in runc's init
    // (Podman's and Docker's exit code 126; Podman's own suite matches these words).
    let b = Bundle::new(&["/etc"]);
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("exec: \"/etc\": permission denied"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
}

/// An executable the kernel would refuse though its mode bits allow it fails `create` in
/// runc's words, as runc's init asks the kernel (faccessat2) once the process's user and
/// capabilities are in force, before "ready": on a `noexec` mount (Podman's system test
/// "podman volume: exec/noexec" wants 126, which Podman gives for these words), and a file
/// only its owner may run, for another user, unless the process has CAP_DAC_OVERRIDE.
#[test]
fn an_executable_the_kernel_refuses_fails_at_create() {
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new();
    let volume = TempDir::new("rrun-noexec-vol");
    // busybox, named for the applet it runs.
    let echo = volume.path().join("echo");
    std::fs::copy("/bin/busybox", &echo).unwrap();
    std::fs::set_permissions(&echo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = Bundle::new(&["/vol/echo", "got here"]);
    std::fs::create_dir(b.rootfs().join("vol")).unwrap();
    let source = volume.path().to_str().unwrap().to_string();
    let with_options = |b: &mut Bundle, options: &[&str]| {
        b.edit(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| m["destination"] != "/vol");
            mounts.push(
                json!({"destination": "/vol", "type": "bind", "source": source,
                "options": options}),
            );
        });
    };
    let id = unique("noexec");
    let before = HostSnapshot::take();
    with_options(&mut b, &["rbind", "noexec"]);
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("exec /vol/echo: permission denied"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
    // The same file on an exec mount runs.
    with_options(&mut b, &["rbind"]);
    assert_eq!(rt.output_of(&b), "got here\n");
    // Mode 0700, owned by root: uid 1000 may not run it...
    std::fs::set_permissions(&echo, std::fs::Permissions::from_mode(0o700)).unwrap();
    b.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("exec /vol/echo: permission denied"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
    // ...unless its capabilities let it, as the kernel's execve will.
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_DAC_OVERRIDE"], "effective": ["CAP_DAC_OVERRIDE"],
            "permitted": ["CAP_DAC_OVERRIDE"]})
    });
    assert_eq!(rt.output_of(&b), "got here\n");
}

/// systemd socket activation: the listening socket rrun was given reaches the container at
/// fd 3 with LISTEN_FDS/LISTEN_PID rewritten, and the container accepts on it.
#[test]
fn listen_fds_socket_activation() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let rt = Runtime::new();
    let b = crate::security::probe_bundle(&["accept3"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let id = unique("listenfds");
    // LISTEN_PID must be rrun's own pid: a shell sets it to its $$ and execs rrun.
    let script = format!(
        "LISTEN_PID=$$ LISTEN_FDS=1 exec {RRUN} --root {} run --bundle {} {id}",
        rt.root.path().display(),
        b.path().display()
    );
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // SAFETY: only dup2 and fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "hello from pid 1, LISTEN_PID=1\n");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "accept3=0\n");
}

/// NOTIFY_SOCKET: the container's READY=1 reaches the host's socket when `start` runs, with
/// the container's pid as MAINPID.
#[test]
fn notify_socket_relays_ready() {
    let rt = Runtime::new();
    let b = crate::security::probe_bundle(&["notify"]);
    let dir = TempDir::new("rrun-notify-host");
    let host_path = dir.path().join("host.sock");
    let host = std::os::unix::net::UnixDatagram::bind(&host_path).unwrap();
    host.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let id = unique("sdnotify");
    let log = b.path().join("create.log");
    let status = rt
        .cmd()
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .env("NOTIFY_SOCKET", &host_path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let status = rt
        .cmd()
        .args(["start", &id])
        .env("NOTIFY_SOCKET", &host_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut buf = [0u8; 512];
    let n = host.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    assert!(msg.lines().any(|l| l == format!("MAINPID={pid}")), "{msg}");
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "notify=0\n");
    rt.ok(&["delete", &id]);
}

/// A name that is no Linux capability is refused at create, naming it (the spec: "any
/// value which cannot be mapped to a relevant kernel interface MUST cause an error").
#[test]
/// As runc (its capabilities.bats): names that are no capability are dropped with one
/// warning naming them, and the container runs with the rest.
fn unknown_capability_is_dropped_with_a_warning() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("grep CapBnd /proc/self/status");
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_TEST", "UNKNOWN_CAP"])
    });
    let (out, err, code) = rt.run_bundle(&b);
    assert_eq!(code, 0, "{err}");
    // CAP_KILL is 5: the bounding set is that one bit.
    assert_eq!(out, "CapBnd:\t0000000000000020\n");
    let warnings: Vec<(String, String)> = err.lines().filter_map(log_line).collect();
    assert_eq!(
        warnings,
        vec![(
            "warning".to_string(),
            "ignoring unknown or unavailable capabilities: [CAP_TEST UNKNOWN_CAP]".to_string()
        )],
        "{err}"
    );
}

/// Capabilities are settled during `create`, as runc does: one that can't be granted (an
/// inheritable capability outside the bounding set) fails `create` with the capability
/// named, rather than the process after `start`.
#[test]
fn ungrantable_capability_fails_create_not_start() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_SYS_ADMIN"],
        })
    });
    let id = unique("capset");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("process.capabilities.inheritable: CAP_SYS_ADMIN not in the bounding set"),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
}

/// An rlimit type the kernel has no interface for is refused, naming the field.
#[test]
fn unknown_rlimit_type_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
            {"type": "RLIMIT_TEST", "hard": 1024, "soft": 1024},
        ])
    });
    let id = unique("badrlimit");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("process.rlimits[1].type"), "{err}");
    assert!(!rt.state_dir(&id).exists());
}

/// The environment as runc prepares it (env.bats): a name given twice keeps its last
/// value, once; an empty HOME is replaced by the user's home from /etc/passwd.
#[test]
fn env_is_deduplicated_and_an_empty_home_is_the_users() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["env"]);
    b.edit(|c| c["process"]["env"] = json!(["ONE=two", "HOME=", "ONE=", "PATH=/bin", "HOME="]));
    let out = rt.output_of(&b);
    assert_eq!(out, "ONE=\nPATH=/bin\nHOME=/root\n");
    b.edit(|c| c["process"]["env"] = json!(["HOME=/override", "PATH=/bin"]));
    assert_eq!(rt.output_of(&b), "HOME=/override\nPATH=/bin\n");
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "=x"]));
    let (_, err, code) = rt.run_bundle(&b);
    assert_ne!(code, 0);
    assert!(messages(&err).contains("name cannot be empty"), "{err}");
}

/// exec --process without a user or env (env.bats): uid 0, and HOME from /etc/passwd.
#[test]
fn exec_process_json_may_leave_out_user_and_env() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "execjson");
    let file = b.path().join("process.json");
    std::fs::write(&file, r#"{"args": ["/bin/env"], "cwd": "/"}"#).unwrap();
    assert_eq!(
        rt.ok(&["exec", "-p", file.to_str().unwrap(), &id]),
        "HOME=/root\n"
    );
    let id_out = rt.ok(&["exec", "-p", file.to_str().unwrap(), &id]);
    assert!(
        !id_out.contains("PATH="),
        "the config's env is not used: {id_out}"
    );
    rt.ok(&["delete", "--force", &id]);
}

fn cap_line(status: &str, set: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with(&format!("Cap{set}:")))
        .unwrap_or_default()
        .to_string()
}

/// exec --cap (capabilities.bats): the capability joins bounding, effective and permitted,
/// and the ambient set only where the config has an inheritable set; an ambient capability
/// that is not inheritable is a warning.
#[test]
fn exec_cap_and_ambient_capabilities_as_runc() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| c["process"]["capabilities"] = json!({}));
    let id = running(&rt, &b, "execcap");
    let out = rt.ok(&[
        "exec",
        "--cap",
        "CAP_KILL",
        "--cap",
        "CAP_AUDIT_WRITE",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(cap_line(&out, "Inh"), "CapInh:\t0000000000000000");
    assert_eq!(cap_line(&out, "Eff"), "CapEff:\t0000000020000020");
    assert_eq!(cap_line(&out, "Bnd"), "CapBnd:\t0000000020000020");
    assert_eq!(cap_line(&out, "Amb"), "CapAmb:\t0000000000000000");
    rt.ok(&["delete", "--force", &id]);

    let mut b = Bundle::new(&["cat", "/proc/self/status"]);
    b.edit(|c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
        c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_CHOWN"]);
    });
    let (out, err, code) = rt.run_bundle(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cap_line(&out, "Amb"), "CapAmb:\t0000000000000020");
    let warnings: Vec<(String, String)> = err.lines().filter_map(log_line).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert_eq!(warnings[0].0, "warning");
    assert!(
        warnings[0]
            .1
            .starts_with("can't raise ambient capability CAP_CHOWN: "),
        "{err}"
    );
}

/// Hooks as runc runs them (hooks.bats, hooks_so.bats): a failure's message carries the
/// hook's output; startContainer hooks get the process's environment; createContainer
/// hooks run in the rootfs.
#[test]
fn hooks_output_environment_and_directory_as_runc() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "true"]},
            {"path": "/bin/sh", "args": ["sh", "-c", "echo out; echo err >&2; exit 3"]}
        ]})
    });
    let err = rt.fails(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("hookout"),
    ]);
    assert!(
        err.contains("error running prestart hook #1: exit status 3, stdout: out\n, stderr: err\n"),
        "{err}"
    );

    let mut b = Bundle::new(&["true"]);
    std::fs::write(
        b.rootfs().join("check.sh"),
        "#!/bin/sh\n[ \"$ONE\" = two ] && [ -n \"$HOME\" ] && pwd > /pwd-seen || exit 1\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["755", b.rootfs().join("check.sh").to_str().unwrap()])
        .status()
        .unwrap();
    let created_in = b.path().join("created-in");
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["env"] = json!(["ONE=two", "PATH=/bin"]);
        c["hooks"] = json!({
            "startContainer": [{"path": "/check.sh"}],
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("pwd > {}", created_in.display())]}]
        });
    });
    let (_, err, code) = rt.run_bundle(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&created_in).unwrap().trim(),
        b.rootfs().display().to_string()
    );
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("pwd-seen")).unwrap(),
        "/\n"
    );
}

/// `exec` of a file the kernel can't run: one line, in runc's words (run.bats).
#[test]
fn execve_error_is_one_line_in_runcs_words() {
    let rt = Runtime::new();
    let b = Bundle::new(&["/run.sh"]);
    std::fs::write(b.rootfs().join("run.sh"), "#!/mmnnttbb foo bar\nsh\n").unwrap();
    std::process::Command::new("chmod")
        .args(["755", b.rootfs().join("run.sh").to_str().unwrap()])
        .status()
        .unwrap();
    let (out, err, code) = rt.run_bundle(&b);
    assert_ne!(code, 0);
    assert_eq!(out, "");
    assert_eq!(err, "exec /run.sh: no such file or directory\n");
}

/// personality.bats: linux.personality LINUX32 for the process and exec'd ones.
#[test]
fn personality_linux32_reaches_run_and_exec() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "uname -m; sleep 100"]);
    b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32", "flags": []}));
    let id = running(&rt, &b, "pers");
    assert_eq!(rt.ok(&["exec", &id, "uname", "-m"]), "i686\n");
    rt.ok(&["delete", "--force", &id]);
    b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["NOPE"]}));
    let err = rt.fails(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("persbad"),
    ]);
    assert!(err.contains("linux.personality.flags"), "{err}");
}

/// A caller that starts rrun with stdin, stdout and stderr closed (a daemon, say): rrun puts
/// /dev/null there first, as Rust's own start-up would, so the first files rrun opens do not
/// become them and the container's stdio is /dev/null, not one of rrun's files.
#[test]
fn rrun_started_with_stdio_closed_gives_the_container_dev_null() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "for fd in 0 1 2; do seen=\"$seen$(readlink /proc/$$/fd/$fd) \"; done; echo $seen >/stdio",
    );
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = unique("closedstdio");
    let script = format!(
        "exec {RRUN} --root {} run --bundle {} {id} <&- >&- 2>&-",
        rt.root.path().display(),
        b.path().display()
    );
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let seen = std::fs::read_to_string(b.path().join("rootfs/stdio")).unwrap();
    assert_eq!(seen, "/dev/null /dev/null /dev/null\n");
}

#[test]
fn scheduler_io_priority_and_memory_policy_reach_the_init_and_exec_d_processes() {
    // runtime-spec 1.2's process.scheduler, process.ioPriority and linux.memoryPolicy, as
    // runc 1.2 on sets them; an exec'd process takes the container's unless its own differ.
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "priority": 0, "nice": 19});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 4});
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]});
    });
    let id = running(&rt, &b, "sched");
    // /proc/PID/stat: field 19 is the nice value, field 41 the policy (3: SCHED_BATCH).
    let policy_and_nice = "cut -d' ' -f41,19 /proc/1/stat; cut -d' ' -f41,19 /proc/self/stat";
    assert_eq!(
        rt.ok(&["exec", &id, "sh", "-c", policy_and_nice]),
        "19 3\n19 3\n"
    );
    let io_and_memory = "ionice -p 1; ionice; head -n 1 /proc/self/numa_maps | cut -d' ' -f2";
    assert_eq!(
        rt.ok(&["exec", &id, "sh", "-c", io_and_memory]),
        "best-effort: prio 4\nbest-effort: prio 4\nprefer=relative:0\n"
    );
    let file = b.path().join("process.json");
    std::fs::write(
        &file,
        json!({"args": ["sh", "-c", "ionice; cut -d' ' -f41 /proc/$$/stat /proc/self/stat; true"], "env": ["PATH=/bin"],
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "ioPriority": {"class": "IOPRIO_CLASS_IDLE"},
            "scheduler": {"policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RESET_ON_FORK"],
                "runtime": 42000, "deadline": 100000, "period": 1000000}})
        .to_string(),
    )
    .unwrap();
    // The shell runs under the deadline scheduler (6); `cut`, its child, is reset to
    // SCHED_OTHER (0) by SCHED_FLAG_RESET_ON_FORK.
    assert_eq!(
        rt.ok(&["exec", "--process", file.to_str().unwrap(), &id]),
        "idle\n6\n0\n"
    );
    rt.ok(&["delete", "-f", &id]);
}
