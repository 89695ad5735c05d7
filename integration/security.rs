//! Seccomp and capabilities, checked from inside the container with a static probe.

use crate::common::*;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// The probe (integration/probe.c) built once per run, statically, so it runs in a busybox
/// rootfs. It goes to cargo's directory for integration tests' files, under target/, not
/// to /tmp, where each run left one behind; built under this process's name and renamed,
/// so that two runs at once never see a half-written one.
fn probe_binary() -> &'static std::path::Path {
    static PROBE: OnceLock<std::path::PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let building = dir.join(format!("probe.{}", std::process::id()));
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/integration/probe.c");
        let status = std::process::Command::new("gcc")
            .args(["-static", "-no-pie", "-O1", "-o"])
            .arg(&building)
            .arg(src)
            .status()
            .expect("gcc is needed for the probe");
        assert!(status.success(), "building the probe failed");
        let out = dir.join("probe");
        std::fs::rename(&building, &out).unwrap();
        out
    })
}

pub fn probe_bundle(tests: &[&str]) -> Bundle {
    let mut args = vec!["/bin/probe"];
    args.extend_from_slice(tests);
    let mut b = Bundle::new(&args);
    std::fs::copy(probe_binary(), b.rootfs().join("bin/probe")).unwrap();
    b.edit(|c| c["root"]["readonly"] = json!(false));
    b
}

fn results(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn seccomp_errno_rule_applies_to_native_and_compat_syscalls() {
    let rt = Runtime::new();
    let mut b = probe_bundle(&["mkdir", "i386-mkdir", "getpid"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        })
    });
    let r = results(&rt.output_of(&b));
    assert_eq!(r["mkdir"], "EACCES");
    assert_eq!(
        r["i386-mkdir"], "EACCES",
        "the i386 ABI gets the profile's answer too"
    );
    assert_eq!(r["getpid"], "0");
    assert!(!b.rootfs().join("tmp/probe-i386").exists());
}

#[test]
fn seccomp_compat_syscall_without_its_arch_is_killed_not_allowed() {
    let rt = Runtime::new();
    let mut b = probe_bundle(&["mkdir", "i386-mkdir"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        })
    });
    let (out, _, code) = rt.run_bundle(&b);
    assert_eq!(results(&out)["mkdir"], "EPERM");
    assert_eq!(
        code,
        128 + libc::SIGSYS,
        "an i386 syscall on an x86_64-only filter kills"
    );
    assert!(!b.rootfs().join("tmp/probe-i386").exists());
}

#[test]
fn seccomp_args_kill_action_and_filter_without_no_new_privileges() {
    let rt = Runtime::new();
    let mut b = probe_bundle(&["personality-ok", "getpid", "personality-bad"]);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS",
                          "args": [{"index": 0, "value": 0xffff_ffffu64, "valueTwo": 0x0040000, "op": "SCMP_CMP_MASKED_EQ"}]}]
        })
    });
    let (out, err, code) = rt.run_bundle(&b);
    let r = results(&out);
    assert_eq!(
        r.get("personality-ok").map(String::as_str),
        Some("0"),
        "{out} {err}"
    );
    assert_eq!(r["getpid"], "0");
    assert!(!r.contains_key("personality-bad"));
    assert_eq!(code, 128 + libc::SIGSYS);
}

/// runc's ENOSYS stub: under a profile whose default denies with EPERM (the engines' own,
/// as older engines shipped it, before their default answered ENOSYS), a syscall above
/// every one the profile names gets ENOSYS, as from a kernel without it, while one within
/// the profile's range that it does not allow keeps the default.
#[test]
fn syscalls_newer_than_a_denying_profile_get_enosys() {
    let profile: Value = serde_json::from_slice(
        &std::fs::read("/usr/share/containers/seccomp.json")
            .expect("golang-github-containers-common provides the engines' default profile"),
    )
    .unwrap();
    let rt = Runtime::new();
    let mut b = probe_bundle(&["getpid", "personality-bad", "nr-1000"]);
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.edit(|c| {
        let mut oci = engine_profile_to_oci(&profile, &caps);
        oci.as_object_mut().unwrap().remove("defaultErrnoRet");
        c["linux"]["seccomp"] = oci;
    });
    let r = results(&rt.output_of(&b));
    assert_eq!(r["getpid"], "0");
    assert_eq!(r["personality-bad"], "EPERM");
    assert_eq!(r["nr-1000"], "ENOSYS");
}

/// seccomp.bats: the filter is in place before the startContainer hooks run (runc's init
/// loads it before it signals completion), so a hook the profile forbids a syscall is killed
/// and `run` fails naming the hook.
#[test]
fn start_container_hooks_run_under_the_seccomp_filter() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
        });
        c["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/hook-made-this"]}]});
    });
    let (_, err, code) = rt.run_bundle(&b);
    assert_ne!(code, 0, "{err}");
    let said = messages(&err);
    assert!(
        said.contains("error running startContainer hook #0") && said.contains("bad system call"),
        "{said}"
    );
    assert!(!b.rootfs().join("tmp/hook-made-this").exists());
}

/// seccomp.bats: a profile that refuses close_range and the new mount API (as a host's
/// older profile does, with ENOSYS) still runs the container, and still nothing of rrun's
/// is open in it (the init marks its fds close-on-exec one by one instead).
#[test]
fn a_profile_refusing_close_range_runs_and_leaks_no_fd() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["ls", "/proc/self/fd"]);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close_range", "fsopen", "fsconfig", "fspick", "openat2",
                                    "open_tree", "move_mount", "mount_setattr"],
                          "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        });
    });
    // stdio, and the directory `ls` reads.
    assert_eq!(rt.output_of(&b), "0\n1\n2\n3\n");
}

/// seccomp.bats "SECCOMP_FILTER_FLAG_*": the filter is loaded with the flags runc 1.2 and
/// later give it, and `--debug` says which in runc's words: SPEC_ALLOW (4) where the
/// profile lists no flags, none for an empty list, TSYNC ignored, LOG as 2.
#[test]
fn seccomp_filter_flags_are_runc_s_and_debug_names_them() {
    let rt = Runtime::new();
    let cases = [
        (None, 4),
        (Some(json!([])), 0),
        (
            Some(json!([
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG"
            ])),
            2,
        ),
        (
            Some(json!([
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_LOG"
            ])),
            6,
        ),
    ];
    for (flags, expected) in cases {
        let mut b = Bundle::sh("mkdir /tmp/foo");
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(false);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
            });
            if let Some(flags) = &flags {
                c["linux"]["seccomp"]["flags"] = flags.clone();
            }
        });
        let out = rt
            .cmd()
            .args(["--debug", "run", "--bundle"])
            .arg(b.path())
            .arg(unique("flags"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {err}");
        assert!(
            err.contains("mkdir: can't create directory '/tmp/foo': Operation not permitted"),
            "{flags:?}: {err}"
        );
        assert!(
            err.contains(&format!("msg=\"seccomp filter flags: {expected}\"")),
            "{flags:?} loads with {expected}: {err}"
        );
    }
}

/// Converts an engine-format profile (Podman's and Docker's, with archMap, includes and
/// excludes) to `linux.seccomp` for x86_64 and the given capabilities, as the engines do.
fn engine_profile_to_oci(profile: &Value, caps: &[&str]) -> Value {
    let mut arches = vec![json!("SCMP_ARCH_X86_64")];
    for m in profile["archMap"].as_array().unwrap() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            arches.extend(m["subArchitectures"].as_array().unwrap().iter().cloned());
        }
    }
    let has_all_caps = |v: &Value| {
        v.as_array()
            .is_none_or(|l| l.iter().all(|c| caps.contains(&c.as_str().unwrap())))
    };
    let has_any_cap = |v: &Value| {
        v.as_array()
            .is_some_and(|l| l.iter().any(|c| caps.contains(&c.as_str().unwrap())))
    };
    let arch_ok = |inc: &Value, exc: &Value| {
        inc.as_array()
            .is_none_or(|l| l.is_empty() || l.iter().any(|a| a == "amd64"))
            && !exc
                .as_array()
                .is_some_and(|l| l.iter().any(|a| a == "amd64"))
    };
    let mut syscalls = Vec::new();
    for s in profile["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&s["includes"], &s["excludes"]);
        if !has_all_caps(&inc["caps"])
            || has_any_cap(&exc["caps"])
            || !arch_ok(&inc["arches"], &exc["arches"])
        {
            continue;
        }
        let mut rule = json!({"names": s["names"], "action": s["action"]});
        if !s["args"].is_null() {
            rule["args"] = s["args"].clone();
        }
        if !s["errnoRet"].is_null() {
            rule["errnoRet"] = s["errnoRet"].clone();
        }
        syscalls.push(rule);
    }
    json!({"defaultAction": profile["defaultAction"], "defaultErrnoRet": profile["defaultErrnoRet"], "architectures": arches, "syscalls": syscalls})
}

#[test]
fn engine_default_profile_runs_ordinary_work_and_denies_the_rest() {
    let path = "/usr/share/containers/seccomp.json";
    let profile: Value = serde_json::from_slice(
        &std::fs::read(path)
            .expect("golang-github-containers-common provides the engines' default profile"),
    )
    .unwrap();
    let rt = Runtime::new();
    let mut b = probe_bundle(&[
        "getpid",
        "mkdir",
        "personality-ok",
        "personality-bad",
        "i386-personality-bad",
        "kcmp",
        "unshare",
        "mount",
    ]);
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.edit(|c| c["linux"]["seccomp"] = engine_profile_to_oci(&profile, &caps));
    let r = results(&rt.output_of(&b));
    assert_eq!(r["getpid"], "0");
    assert_eq!(r["mkdir"], "0");
    assert_eq!(r["personality-ok"], "0");
    // Not in the allow list: the profile's default errno (ENOSYS), on both ABIs.
    assert_eq!(r["personality-bad"], "ENOSYS");
    assert_eq!(r["i386-personality-bad"], "ENOSYS");
    // Allowed only with CAP_SYS_PTRACE: the excludes rule answers EPERM.
    assert_eq!(r["kcmp"], "EPERM");
    // This profile allows unshare and mount; without CAP_SYS_ADMIN the kernel refuses them.
    assert_eq!(r["unshare"], "EPERM");
    assert_eq!(r["mount"], "EPERM");

    // A busybox shell does ordinary work under the same profile.
    let mut sh = Bundle::sh(
        "echo hi > /tmp/f && cat /tmp/f && ls / | wc -l && ps | wc -l && sleep 0 && echo done",
    );
    sh.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = engine_profile_to_oci(&profile, &caps);
    });
    let out = rt.output_of(&sh);
    assert!(out.starts_with("hi\n") && out.ends_with("done\n"), "{out}");
}

#[test]
fn seccomp_notify_listener_receives_the_fd_and_metadata() {
    use std::os::unix::net::UnixListener;
    let rt = Runtime::new();
    let dir = TempDir::new("rrun-notify");
    let sock = dir.path().join("listener.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut b = probe_bundle(&["getpid"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "meta-data-1",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })
    });
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (fd, text) = recv_with_fd(&conn);
        (fd.is_some(), text)
    });
    let out = rt.output_of(&b);
    assert_eq!(results(&out)["getpid"], "0");
    let (got_fd, text) = receiver.join().unwrap();
    assert!(got_fd, "no listener fd came with the message");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["metadata"], "meta-data-1");
    assert_eq!(v["fds"], json!(["seccompFd"]));
    assert!(v["pid"].as_i64().unwrap() > 0);
    assert_eq!(v["state"]["pid"], v["pid"]);
}

#[test]
fn bad_seccomp_profile_is_refused_at_create() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.edit(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOPE"}));
    let id = unique("badseccomp");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("linux.seccomp.defaultAction"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
    let mut b = Bundle::sh("true");
    b.edit(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("listenerPath"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
    // runc's limits on notify, and its words when the agent is not there.
    for (profile, words) in [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent.sock", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/nonexistent.sock"}),
            "SCMP_ACT_NOTIFY cannot be used as default action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent.sock", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "failed to connect with seccomp agent",
        ),
    ] {
        let mut b = Bundle::sh("true");
        b.edit(|c| c["linux"]["seccomp"] = profile.clone());
        let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(err.contains(words), "{err}");
        assert_no_leftovers(&rt, &id, &before);
    }
}

/// seccomp-notify.bats: an exec'd process's listener reaches the agent too, with that
/// process's pid, so the agent can answer its notified syscalls.
#[test]
fn exec_hands_its_seccomp_listener_to_the_agent() {
    use std::os::unix::net::UnixListener;
    let rt = Runtime::new();
    let dir = TempDir::new("rrun-notify-exec");
    let sock = dir.path().join("listener.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })
    });
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (conn, _) = listener.accept().unwrap();
            let (fd, text) = recv_with_fd(&conn);
            got.push((fd.is_some(), text));
        }
        got
    });
    let id = running(&rt, &b, "notifyexec");
    let exec_pid = exec_detached(&rt, &id, &["sleep", "100"]);
    let got = receiver.join().unwrap();
    assert!(
        got.iter().all(|(fd, _)| *fd),
        "every message carries a listener"
    );
    let v: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(v["pid"], exec_pid, "{v}");
    assert_eq!(v["state"]["id"], id.as_str());
    rt.ok(&["delete", "--force", &id]);
}

/// Every capability this test process has, for a privileged container (this machine's
/// root lacks some, e.g. CAP_SYS_RESOURCE, and no process can grant more than it has).
fn all_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    let eff = u64::from_str_radix(eff, 16).unwrap();
    let names = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    names
        .iter()
        .enumerate()
        .filter(|(bit, _)| eff & (1 << bit) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

/// CVE-2019-5736: a container process that sees rrun's init before it execs (here: a
/// second container joins the first one's pid namespace) takes an fd of /proc/<pid>/exe
/// and, once the init has exec'd, reopens it for writing to overwrite the runtime. Even a
/// privileged attacker (every capability, so ptrace checks don't stop it) must fail: the
/// init runs from a sealed view of rrun (a read-only overlayfs, or a sealed memfd copy). The write is only tried once the test has
/// seen that the init's exe is that copy, so a broken defence never touches the real binary.
#[test]
fn container_cannot_reach_the_rrun_binary_through_proc_exe() {
    let rt = Runtime::new();
    let mut attacker = Bundle::sh(
        "while [ ! -e /tmp/go ]; do sleep 0.02; done; \
         for p in /proc/[0-9]*; do n=${p#/proc/}; [ $n = 1 ] || [ $n = $$ ] || victim=$n; done; \
         exec 3< /proc/$victim/exe && echo opened > /tmp/opened || echo refused > /tmp/opened; \
         while [ ! -e /tmp/go2 ]; do sleep 0.02; done; \
         ( printf x >> /proc/self/fd/3 ) 2> /tmp/err && echo WRITABLE > /tmp/result.tmp || echo refused > /tmp/result.tmp; \
         mv /tmp/result.tmp /tmp/result; sleep 1000",
    );
    let caps = all_caps();
    attacker.edit(|c| {
        c["root"]["readonly"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(caps);
        }
    });
    let a_id = unique("attacker");
    rt.create(&attacker, &a_id);
    rt.ok(&["start", &a_id]);
    let a_pid = rt.state(&a_id)["pid"].as_i64().unwrap();

    let mut victim = Bundle::new(&["sleep", "1000"]);
    victim.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid", "path": format!("/proc/{a_pid}/ns/pid")}));
    });
    let v_id = unique("victim");
    rt.create(&victim, &v_id);
    let v_pid = rt.state(&v_id)["pid"].as_i64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{v_pid}/exe")).unwrap();
    assert!(
        runs_sealed_rrun(v_pid as u32),
        "init runs from a sealed view of rrun, not {}",
        exe.display()
    );

    std::fs::write(attacker.rootfs().join("tmp/go"), "").unwrap();
    wait_until("attacker opened the exe", || {
        attacker.rootfs().join("tmp/opened").exists()
    });
    rt.ok(&["start", &v_id]);
    wait_until("victim exec'd", || {
        std::fs::read_to_string(format!("/proc/{v_pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"))
    });
    std::fs::write(attacker.rootfs().join("tmp/go2"), "").unwrap();
    wait_until("attacker result", || {
        attacker.rootfs().join("tmp/result").exists()
    });
    let result = std::fs::read_to_string(attacker.rootfs().join("tmp/result")).unwrap();
    let err = std::fs::read_to_string(attacker.rootfs().join("tmp/err")).unwrap_or_default();
    assert_eq!(
        result.trim(),
        "refused",
        "the runtime's binary could be written ({err})"
    );
    rt.ok(&["delete", "-f", &v_id]);
    rt.ok(&["delete", "-f", &a_id]);
}

/// `true` in a plain container and in one with a user namespace of its own: the init moves
/// onto the sealed view itself in the first, rrun moves before the clone in the second.
fn with_and_without_user_namespace() -> [(&'static str, Bundle); 2] {
    let mut in_userns = Bundle::new(&["true"]);
    in_userns.in_user_namespace();
    [("plain", Bundle::new(&["true"])), ("userns", in_userns)]
}

/// Where rrun may seal in place (as root), `create` makes the sealed view and the init moves
/// onto it itself, first thing after the clone; in a user namespace of its own (its ids are
/// mapped only later), rrun moves first and the init inherits it; where no overlayfs view
/// can be made (here rrun is installed so deep that overlayfs's `lowerdir`, the binary's
/// directory and a second layer, is longer than the 256 bytes fsconfig takes), the init
/// moves onto a sealed copy. Each init, waiting for `start`, runs sealed and maps nothing of
/// the installed binary.
#[test]
fn every_init_runs_sealed_whoever_sealed_it() {
    let rt = Runtime::new();
    for (name, bundle) in with_and_without_user_namespace() {
        let id = unique(name);
        rt.create(&bundle, &id);
        let pid = rt.state(&id)["pid"].as_i64().unwrap() as u32;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert!(
            runs_sealed_rrun(pid),
            "{name}: the init runs {}",
            exe.display()
        );
        rt.ok(&["delete", "-f", &id]);
    }

    let deep = TempDir::new("deep-install");
    let dir = deep.path().join("d".repeat(200)).join("e".repeat(60));
    std::fs::create_dir_all(&dir).unwrap();
    let installed = dir.join("rrun");
    std::fs::copy(RRUN, &installed).unwrap();
    let deep_rrun = || {
        let mut c = std::process::Command::new(&installed);
        c.arg("--root").arg(rt.root.path());
        c
    };
    let b = Bundle::new(&["true"]);
    let id = unique("deep");
    let mut create = deep_rrun();
    create.args(["create", "--bundle"]).arg(b.path()).arg(&id);
    let out = output_through_files(create, rt.root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as u32;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().starts_with("/memfd:rrun"),
        "the deep install's init runs {}, not a sealed copy",
        exe.display()
    );
    assert!(runs_sealed_rrun_installed_at(pid, &installed));
    let mut start = deep_rrun();
    start.args(["start", &id]);
    assert!(output_through_files(start, rt.root.path()).status.success());
    wait_until("the deep install's container ended", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);
}

/// CVE-2019-5736 with no other container: an entrypoint that is a `#!/proc/self/exe`
/// script makes the kernel run the init's own binary as the container's first process,
/// with the image's arguments; that process (or one it starts) could keep an fd of the
/// binary and write it once no rrun runs it. The process must find a sealed view of rrun,
/// never the host's file. Here the script makes rrun's `--criu` flag swallow the script's
/// path, and a `--log` fifo holds that rrun until the test has looked at it.
#[test]
fn an_entrypoint_running_proc_self_exe_finds_a_sealed_rrun() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let rt = Runtime::new();
    let mut b = Bundle::new(&["/x", "--log", "/tmp/log", "list"]);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let script = b.rootfs().join("x");
    std::fs::write(&script, "#!/proc/self/exe --criu\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = b.rootfs().join("tmp/log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let id = unique("selfexe");
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.ok(&["start", &id]);
    wait_until("the entrypoint runs rrun", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("/proc/self/exe\0--criu\0/x\0"))
    });
    let exe = std::fs::metadata(format!("/proc/{pid}/exe")).unwrap();
    let host = std::fs::metadata(RRUN).unwrap();
    let sealed = runs_sealed_rrun(pid as u32);
    // Let that rrun go on (it opens its log, lists nothing, and exits) before asserting.
    let log = std::fs::read_to_string(&fifo).unwrap();
    assert!(
        (exe.dev(), exe.ino()) != (host.dev(), host.ino()),
        "the container ran the host's rrun binary, {}",
        RRUN
    );
    assert!(
        sealed,
        "the container's rrun runs from no sealed view: {log}"
    );
    rt.ok(&["delete", "-f", &id]);
}

/// CVE-2024-21626: process.cwd resolves inside the rootfs and never through an fd of rrun.
#[test]
fn cwd_cannot_escape_the_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("pwd");
    b.edit(|c| c["process"]["cwd"] = json!("/../../../../../tmp"));
    assert_eq!(rt.output_of(&b), "/tmp\n");
    for fd in 3..12 {
        let mut b = Bundle::sh("pwd; ls");
        b.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}")));
        let (out, err, code) = rt.run_bundle(&b);
        assert_ne!(code, 0, "cwd /proc/self/fd/{fd} was accepted: {out}");
        assert!(err.contains("process.cwd") || err.contains("cwd"), "{err}");
    }
}

/// A rootfs whose /dev/null is a link to a sensitive procfs file must not get that file
/// bound over its masked paths.
#[test]
fn masking_refuses_a_fake_dev_null() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cat /proc/timer_list | wc -c");
    std::fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null"))
        .unwrap();
    b.edit(|c| {
        // No /dev tmpfs: the rootfs's own /dev is used.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    });
    let id = unique("fakenull");
    let before = HostSnapshot::take();
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("/dev/null"), "{err}");
    assert_no_leftovers(&rt, &id, &before);
}

/// /sys and /proc/sys are read-only in the default config; writes fail.
#[test]
fn proc_sys_and_sys_are_not_writable() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "(echo 1 > /proc/sys/vm/drop_caches) 2>&1; (echo x > /sys/kernel/uevent_helper) 2>&1; (echo 0 > /proc/sys/kernel/printk) 2>&1; echo end",
    );
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let out = rt.output_of(&b);
    assert_eq!(out.matches("Read-only file system").count(), 3, "{out}");
}

/// Where AppArmor is enabled (the systemd guest, where RRUN_EXPECT_APPARMOR=1 makes its
/// absence a failure), the config's profile confines the container's process and an
/// `exec`'s, as runc's does: the label is theirs and the profile's rule holds. A build that
/// looked for AppArmor from inside the container (its /sys has no securityfs) left both
/// unconfined, Docker's `docker-default` too. The test loads a profile of its own.
#[test]
fn the_apparmor_profile_confines_the_process_and_an_exec() {
    if !std::path::Path::new("/sys/kernel/security/apparmor").exists() {
        assert!(
            std::env::var_os("RRUN_EXPECT_APPARMOR").is_none(),
            "RRUN_EXPECT_APPARMOR is set, but AppArmor is not enabled"
        );
        eprintln!("AppArmor is not enabled here: skipped");
        return;
    }
    let profile = "rrun-test-confined";
    let text = format!(
        "profile {profile} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  mount,\n  umount,\n  pivot_root,\n  signal,\n  ptrace,\n  unix,\n  deny /tmp/denied-by-the-profile w,\n}}\n"
    );
    let dir = TempDir::new("rrun-apparmor");
    let file = dir.path().join(profile);
    std::fs::write(&file, text).unwrap();
    let loaded = std::process::Command::new("apparmor_parser")
        .arg("-r")
        .arg(&file)
        .output()
        .expect("apparmor_parser (the apparmor package) is needed where AppArmor is on");
    assert!(loaded.status.success(), "{loaded:?}");

    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "cat /proc/self/attr/current; touch /tmp/denied-by-the-profile 2>&1; touch /tmp/allowed && echo allowed; exec sleep 1000",
    );
    std::fs::create_dir_all(b.rootfs().join("tmp")).unwrap();
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["apparmorProfile"] = json!(profile);
    });
    let id = unique("apparmor");
    let log = b.path().join("out");
    let out = std::fs::File::create(&log).unwrap();
    let status = rt
        .cmd()
        .args(["run", "-d", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    wait_until("the container's first lines", || {
        std::fs::read_to_string(&log).unwrap().contains("allowed")
    });
    let inside = std::fs::read_to_string(&log).unwrap();
    let exec = rt.ok(&["exec", &id, "cat", "/proc/self/attr/current"]);
    rt.ok(&["delete", "-f", &id]);
    let _ = std::process::Command::new("apparmor_parser")
        .arg("-R")
        .arg(&file)
        .status();
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines[0], format!("{profile} (enforce)"), "{inside}");
    assert!(lines[1].contains("Permission denied"), "{inside}");
    assert_eq!(lines[2], "allowed", "{inside}");
    assert_eq!(exec.trim_end(), format!("{profile} (enforce)"));
}

/// Without AppArmor or SELinux on the host, labels are ignored as runc ignores them (this
/// machine has neither; where one is enabled the label is applied instead).
#[test]
fn lsm_labels_are_ignored_when_the_lsm_is_disabled() {
    if std::path::Path::new("/sys/kernel/security/apparmor").exists()
        || std::path::Path::new("/sys/fs/selinux/enforce").exists()
    {
        eprintln!("an LSM is enabled here: this test covers hosts without one");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo ran; cat /proc/self/attr/current 2>/dev/null; true");
    b.edit(|c| {
        c["process"]["apparmorProfile"] = json!("no-such-profile");
        c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    });
    let id = unique("lsm");
    let out = rt
        .cmd()
        .args(["--debug", "run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ran\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ignoring process.apparmorProfile"),
        "a debug line says the profile is ignored: {err}"
    );
}

/// CVE-2019-19921's class: procfs and sysfs must land on the rootfs's own directory. A
/// symlink there (from the image, or a volume racing the mount) would choose where procfs
/// goes (inside the root, over some file the container then controls); rrun refuses, as
/// runc does, and leaves nothing behind.
#[test]
fn proc_or_sys_as_a_symlink_is_refused() {
    for dir in ["proc", "sys"] {
        let rt = Runtime::new();
        let b = Bundle::new(&["true"]);
        let target = b.rootfs().join("elsewhere");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::remove_dir(b.rootfs().join(dir)).unwrap();
        std::os::unix::fs::symlink("/elsewhere", b.rootfs().join(dir)).unwrap();
        let id = unique("procsym");
        let before = HostSnapshot::take();
        let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(
            err.contains("must be mounted on ordinary directory"),
            "{dir}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_no_leftovers(&rt, &id, &before);
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    }
}

/// A foreground `run` lets go of the sealed view of its binary that the init moved onto
/// once the container's process runs: the view's end waits for RCU grace periods, better
/// spent while rrun waits for its container than at the container's start or rrun's end.
/// While the container runs, no fd of rrun's is on an overlayfs.
#[test]
fn a_foreground_run_holds_no_sealed_view_while_its_container_runs() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("viewgone");
    let mut child = rt
        .cmd()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("running", || {
        rt.run(&["state", &id]).status.success() && rt.state(&id)["status"] == "running"
    });
    let init = rt.state(&id)["pid"].as_i64().unwrap() as u32;
    wait_until("the container's process runs", || {
        std::fs::read_link(format!("/proc/{init}/exe"))
            .is_ok_and(|e| e.to_string_lossy().ends_with("sleep") || e.ends_with("busybox"))
    });
    // The view (the binary through the overlay) and its detached mount are on overlayfs.
    let held = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .unwrap()
            .flatten()
            .filter(|e| {
                nix::fcntl::open(
                    &e.path(),
                    nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .and_then(|fd| nix::sys::statfs::fstatfs(&fd))
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC)
            })
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|t| t.display().to_string())
            .collect()
    };
    // rrun lets go as soon as it notices the exec: a moment after the exec itself.
    wait_until("rrun holds no sealed view", || held().is_empty());
    rt.ok(&["kill", &id, "SIGKILL"]);
    child.wait().unwrap();
}

/// create.bats: while a container waits for `start`, its init holds none of the fds its
/// caller left open, nor any of rrun's own (the sealed view of rrun's binary the init moved
/// onto, the host's /sys/fs/cgroup its cgroup files are reached from, say): only its stdio
/// and what `start` needs, the exec fifo, sockets, pipes.
#[test]
fn a_created_init_holds_none_of_the_callers_fds() {
    let rt = Runtime::new();
    for (name, b) in with_and_without_user_namespace() {
        let leaked = std::fs::File::open("/etc/hostname").unwrap();
        // Opened without O_CLOEXEC, as a careless caller leaves it.
        let raw = nix::fcntl::fcntl(&leaked, nix::fcntl::F_DUPFD(100)).unwrap();
        let id = unique("fdleak");
        // The init keeps the caller's stdio: files, not pipes a wait would hang on.
        let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        nix::unistd::close(raw).unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = rt.state(&id)["pid"].as_i64().unwrap();
        let fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let fd = e.file_name().to_string_lossy().parse().ok()?;
                Some((fd, std::fs::read_link(e.path()).ok()?.display().to_string()))
            })
            .collect();
        assert!(
            fds.iter().any(|(_, t)| t.ends_with("exec.fifo")),
            "{name}: {fds:?}"
        );
        let unexpected: Vec<&(i32, String)> = fds
            .iter()
            .filter(|(fd, t)| {
                *fd > 2
                    && !t.ends_with("exec.fifo")
                    && !["socket:", "pipe:", "anon_inode:"]
                        .iter()
                        .any(|k| t.starts_with(k))
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "{name}: the created init holds {unexpected:?}"
        );
        drop(leaked);
        rt.ok(&["delete", "--force", &id]);
    }
}

/// A host mount that is read-only and nosuid stays so for the root of a user-namespaced
/// container it is bound into, even with CAP_SYS_ADMIN: the kernel locks those flags on
/// the mounts a user namespace's mount namespace copies from the host, and a bind is a
/// copy of that namespace's mount (rrun detaches it from inside the init's namespace, as
/// runc binds it there). A copy made in rrun's own namespace carried no lock: the
/// container's root remounted it writable and suid, and wrote to the host's read-only
/// mount. Also a source only the host's root may reach (the tmpfs under a 0700
/// directory), which only rrun's side can detach.
#[test]
fn a_host_mounts_read_only_and_nosuid_stay_locked_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new();
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}locked"));
    std::fs::set_permissions(host.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let src = host.path().join("ro");
    std::fs::create_dir(&src).unwrap();
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    mount(
        Some("tmpfs"),
        &src,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=1777"),
    )
    .unwrap();
    mount(
        None::<&str>,
        &src,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
        None::<&str>,
    )
    .unwrap();
    let mut b = Bundle::sh(
        "mount -o remount,bind,rw /mnt 2>/dev/null && echo made-writable
         touch /mnt/written 2>/dev/null && echo wrote
         mount -o remount,bind,suid /mnt 2>/dev/null && echo made-suid
         mount -o remount,bind,ro,nosuid,noexec /mnt && echo noexec-added
         grep ' /mnt ' /proc/self/mounts | cut -d' ' -f4",
    );
    b.in_user_namespace().edit(|c| {
        grant_capability(c, "CAP_SYS_ADMIN");
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/mnt", "type": "bind", "source": &src, "options": ["bind"]}),
        );
    });
    std::fs::create_dir(b.rootfs().join("mnt")).unwrap();
    let (out, err, code) = rt.run_bundle(&b);
    let written = src.join("written").exists();
    umount2(&src, MntFlags::MNT_DETACH).unwrap();
    assert_eq!(
        (out.as_str(), code),
        ("noexec-added\nro,nosuid,noexec,relatime\n", 0),
        "{err}"
    );
    assert!(
        !written,
        "the container wrote to the host's read-only mount"
    );
}

/// What a host mount covers stays covered in a user-namespaced container: a plain `bind`
/// (not `rbind`) of a directory with a mount below it would show the directory under that
/// mount, and the kernel refuses such a copy where the mounts come from a more privileged
/// namespace, as runc meets it (EINVAL). A copy made in rrun's own namespace showed the
/// covered file. The run fails naming the mount, and leaves nothing behind.
#[test]
fn a_bind_in_a_user_namespace_does_not_uncover_what_a_host_mount_covers() {
    let rt = Runtime::new();
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}covered"));
    let covered = host.path().join("covered");
    std::fs::create_dir(&covered).unwrap();
    std::fs::write(covered.join("secret"), "under the mount\n").unwrap();
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    mount(
        Some("tmpfs"),
        &covered,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let mut b = Bundle::sh("cat /mnt/covered/secret");
    b.in_user_namespace().edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/mnt", "type": "bind", "source": host.path(), "options": ["bind"]}),
        );
    });
    std::fs::create_dir(b.rootfs().join("mnt")).unwrap();
    let before = HostSnapshot::take();
    let id = unique("covered");
    let out = rt.run_with(&b, &id, &[]);
    umount2(&covered, MntFlags::MNT_DETACH).unwrap();
    let err = messages(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{err}");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains(&format!(
            "mounting \"{}\" on \"/mnt\"",
            host.path().display()
        )) && err.contains("EINVAL")
            && err.lines().count() == 1,
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
}

/// A bind of a host tree in a container with a user namespace of its own (rrun detaches
/// the source as the host's root): what the container mounts on it (its
/// `cgroup` tmpfs in a bind of /sys, the masked /sys/firmware) stays in the container. A
/// bare clone of the host's shared /sys joined the host's peer group, and the container's
/// /sys/fs/cgroup covered the host's own.
#[test]
fn mounts_on_a_bind_of_a_host_tree_stay_in_a_user_namespaced_container() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("test -d /sys/fs/cgroup/memory && echo bound");
    b.in_user_namespace().edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
        }
        assert!(
            c["linux"]["maskedPaths"]
                .to_string()
                .contains("/sys/firmware")
        );
    });
    let mount_points = || -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .collect()
    };
    let before = mount_points();
    let (out, err, code) = rt.run_bundle(&b);
    let after = mount_points();
    let count = |all: &[String], m: &String| all.iter().filter(|x| *x == m).count();
    // Under /sys only: tests running beside this one mount elsewhere on the host. Each
    // mount point as often as it gained mounts, in mountinfo's order.
    let mut appeared: Vec<&String> = Vec::new();
    for m in after.iter().filter(|m| m.starts_with("/sys")) {
        if !appeared.contains(&m) {
            let gained = count(&after, m).saturating_sub(count(&before, m));
            appeared.extend(std::iter::repeat_n(m, gained));
        }
    }
    // Put the host back before failing (the topmost mount at each, deepest first): a
    // covered /sys/fs/cgroup breaks every later container.
    for m in appeared.iter().rev() {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
    assert!(appeared.is_empty(), "on the host: {appeared:?}");
    assert_eq!((out.as_str(), code), ("bound\n", 0), "{err}");
}
