//! process.terminal: the pty master over --console-socket, and `run` holding the pty itself.

use crate::common::*;
use serde_json::json;
use std::io::Read;
use std::os::unix::net::UnixListener;

#[test]
fn console_socket_receives_pty_master() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; stty size");
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    let dir = TempDir::new("rrun-console");
    let sock_path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let id = unique("tty");
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (fd, name) = recv_with_fd(&conn);
        (fd.expect("no fd received"), name)
    });
    let status = rt
        .cmd()
        .args([
            "create",
            "--console-socket",
            sock_path.to_str().unwrap(),
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (master, name) = receiver.join().unwrap();
    assert!(
        name.starts_with("/dev/pts/"),
        "payload is the pty name: {name}"
    );
    rt.ok(&["start", &id]);
    let mut file = std::fs::File::from(master);
    let mut text = String::new();
    // Reading the master ends with EIO once the container has exited.
    let mut buf = [0u8; 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("both-ttys"), "{text:?}");
    assert!(text.contains("33 101"), "console size applied: {text:?}");
    wait_until("stopped", || rt.state(&id)["status"] == "stopped");
    rt.ok(&["delete", &id]);
}

#[test]
fn run_in_foreground_holds_the_terminal_itself() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("tty; echo done");
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let (out, err, code) = rt.run_bundle(&b);
    assert_eq!(code, 0, "{err}");
    // As runc: no "\r\n" for "\n" on the way out (ONLCR is off on the pty rrun holds).
    assert_eq!(out, "/dev/pts/0\ndone\n");
}

/// The same with rrun slow to take the pty master (strace holds back each of its
/// `recvmsg`, the master's among them): the process, writing at once, still finds "\n"
/// left alone. runc's own run.bats saw "\r\n" when rrun let the init exec before it had
/// the master.
#[test]
fn run_in_foreground_takes_the_terminal_before_the_process_writes() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["echo", "done"]);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let strace_args =
        ["-o", "/dev/null", "-e", "inject=recvmsg:delay_enter=200000"].map(Into::into);
    let out = rt.run_under_strace(&strace_args, &[], &b, "slow-tty");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
}

/// The process's user owns its terminal (tty.bats), and so do exec'd processes.
#[test]
fn a_non_root_process_owns_its_pty() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("stat -c %u $(tty)");
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let (out, err, code) = rt.run_bundle(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1000\n");
}

/// Without a mount namespace of its own the container still gets a pty (host-mntns.bats):
/// it is opened from the host's /dev/ptmx before the chroot.
#[test]
fn terminal_without_a_mount_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("[ -t 1 ] && echo tty");
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "mount");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["mounts"] = json!([]);
    });
    let (out, err, code) = rt.run_bundle(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "tty\n");
}

#[test]
fn detached_terminal_without_console_socket_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let id = unique("ttyrefused");
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("console socket"), "{err}");
    assert!(!rt.state_dir(&id).exists());
}
