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
fn unknown_capability_is_refused_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_TEST"]));
    let id = unique("badcap");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("process.capabilities.bounding[1]: unknown capability \"CAP_TEST\""),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
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
