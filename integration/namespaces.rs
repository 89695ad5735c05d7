//! Namespaces: new ones, joined ones, user namespace mappings, time offsets, hostname.

use crate::common::*;
use serde_json::json;

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// `rrun spec` lists a cgroup namespace only on a pure cgroup v2 host, as runc's does.
fn with_cgroup_namespace(b: &mut Bundle) {
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
    });
}

#[test]
fn new_namespaces_and_pid_1() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "echo $$; for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; ls /sys/class/net",
    );
    with_cgroup_namespace(&mut b);
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the process is pid 1 of its pid namespace");
    for (i, kind) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
        .iter()
        .enumerate()
    {
        assert_ne!(
            lines[i + 1],
            host_ns(kind),
            "{kind} namespace is the host's"
        );
    }
    assert_eq!(
        lines[7], "lo",
        "a new network namespace has only loopback: {out}"
    );
}

/// rrun brings the loopback of the container's new network namespace up from outside
/// where it can; where it can't (its setns into that namespace refused here, as strace
/// makes it), the init brings it up itself: up all the same.
#[test]
fn the_loopback_is_up_where_rrun_cannot_enter_the_containers_network_namespace() {
    let rt = Runtime::new();
    let b = Bundle::sh("ip -o link show lo");
    // Without -f: only rrun is traced, the init it clones is not.
    let strace_args = ["-o", "/dev/null", "-e", "inject=setns:error=EPERM"].map(Into::into);
    let out = rt.run_under_strace(&strace_args, &[], &b, "lo-inside");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("<LOOPBACK,UP,LOWER_UP>"), "{text}");
}

/// A network namespace of the container's own has its loopback up, as runc's do: a
/// process can reach 127.0.0.1 (here in a user namespace too), and its session is its own
/// (runc's init calls setsid whatever the terminal).
#[test]
fn own_network_namespace_has_loopback_up_and_the_init_leads_its_session() {
    let rt = Runtime::new();
    let script = "ip -o link show lo; ip -o addr show lo | grep -o 'inet [0-9./]*'; \
        echo sid $(cut -d' ' -f6 /proc/1/stat)";
    let out = rt.output_of(&Bundle::sh(script));
    assert!(out.contains("<LOOPBACK,UP,LOWER_UP>"), "{out}");
    assert!(out.contains("inet 127.0.0.1/8"), "{out}");
    assert!(out.contains("sid 1\n"), "{out}");
    let mut userns = Bundle::sh(script);
    userns.in_user_namespace();
    let out = rt.output_of(&userns);
    assert!(out.contains("<LOOPBACK,UP,LOWER_UP>"), "{out}");
    // An exec'd process leads a session of its own too.
    let b = Bundle::new(&["sleep", "100"]);
    let id = running(&rt, &b, "session");
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $$ $(cut -d' ' -f6 /proc/$$/stat)",
    ]);
    let ids: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "{out}");
    assert_eq!(
        ids[0], ids[1],
        "the exec'd shell's session is its own: {out}"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// Stdio that is the host's /dev/null is the container's own /dev/null inside, as runc
/// makes it (CRIU can checkpoint only fds of mounts the container has): the fd's mount is
/// the container's /dev.
#[test]
fn host_dev_null_stdio_becomes_the_containers_own() {
    let rt = Runtime::new();
    let script = "grep mnt_id /proc/self/fdinfo/0 | tr -dc 0-9; echo; \
        awk '$5 == \"/dev\" {print $1}' /proc/self/mountinfo";
    let (out, err, code) = rt.run_bundle(&Bundle::sh(script));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0], lines[1],
        "stdin's mount is the container's /dev: {out}"
    );
}

#[test]
fn cgroup_namespace_root_is_the_container_cgroup() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cat /proc/self/cgroup");
    with_cgroup_namespace(&mut b);
    let out = rt.output_of(&b);
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "cgroup namespace root must be the container's cgroup: {out}"
        );
    }
}

#[test]
fn hostname_and_domainname() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("hostname; cat /proc/sys/kernel/domainname");
    b.edit(|c| {
        c["hostname"] = json!("box1");
        c["domainname"] = json!("example.test");
    });
    assert_eq!(rt.output_of(&b), "box1\nexample.test\n");
}

#[test]
fn joins_namespaces_by_path() {
    let rt = Runtime::new();
    let first = Bundle::new(&["sleep", "1000"]);
    let id = unique("nsowner");
    rt.create(&first, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let target_net = std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .display()
        .to_string();
    let target_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts"))
        .unwrap()
        .display()
        .to_string();
    let target_pid = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .unwrap()
        .display()
        .to_string();
    let mut b = Bundle::sh(
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts; readlink /proc/self/ns/pid; hostname",
    );
    b.edit(|c| {
        c["hostname"] = json!(null);
        c["linux"]["namespaces"] = json!([
            {"type": "mount"},
            {"type": "network", "path": format!("/proc/{pid}/ns/net")},
            {"type": "uts", "path": format!("/proc/{pid}/ns/uts")},
            {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
        ]);
    });
    let out = rt.output_of(&b);
    assert_eq!(
        out,
        format!("{target_net}\n{target_uts}\n{target_pid}\nrrun\n")
    );
    rt.ok(&["delete", "-f", &id]);
}

/// A container joining another's pid namespace (Docker's `--pid container:NAME`, with
/// its prestart hook) starts, and its hooks run in rrun's pid namespace, as runc's do:
/// rrun joins the container's only to clone the init. Before, the hooks were born in the
/// container's namespace, and rrun could start no thread to read their output ("reading
/// the output of /bin/sh: resource temporarily unavailable").
#[test]
fn hooks_of_a_container_joining_a_pid_namespace_run_in_rrun_s() {
    let rt = Runtime::new();
    let first = Bundle::new(&["sleep", "1000"]);
    let owner = unique("pidowner");
    rt.create(&first, &owner);
    let pid = rt.state(&owner)["pid"].as_i64().unwrap();
    let ns_of = |p: &str| std::fs::read_link(p).unwrap().display().to_string();
    let (theirs, ours) = (
        ns_of(&format!("/proc/{pid}/ns/pid")),
        ns_of("/proc/self/ns/pid"),
    );
    let mut b = Bundle::sh("readlink /proc/self/ns/pid");
    let log = b.path().join("hooks.log");
    let hook = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {kind} $(readlink /proc/self/ns/pid) >> {}", log.display())]});
    b.edit(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "pid" {
                ns["path"] = json!(format!("/proc/{pid}/ns/pid"));
            }
        }
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    assert_eq!(rt.output_of(&b), format!("{theirs}\n"));
    rt.ok(&["delete", "-f", &owner]);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("prestart {ours}\ncreateRuntime {ours}\npoststart {ours}\npoststop {ours}\n")
    );
}

#[test]
fn user_namespace_with_mappings() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "id -u; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u /tmp/owned; touch /tmp/made",
    );
    std::fs::create_dir_all(b.rootfs().join("tmp")).unwrap();
    std::fs::write(b.rootfs().join("tmp/owned"), "").unwrap();
    std::os::unix::fs::chown(b.rootfs().join("tmp/owned"), Some(100000), Some(100000)).unwrap();
    std::os::unix::fs::chown(b.rootfs().join("tmp"), Some(100000), Some(100000)).unwrap();
    b.edit(|c| c["root"]["readonly"] = json!(false))
        .in_user_namespace();
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(lines[3], "0", "host uid 100000 is root inside");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(b.rootfs().join("tmp/made"))
            .unwrap()
            .uid(),
        100000,
        "files made inside belong to the mapped uid"
    );
}

/// The container's clocks have its offsets; its hooks, run by rrun, keep the host's time
/// namespace (rrun makes the container's for the clone alone).
#[test]
fn time_namespace_offsets() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cut -d. -f1 /proc/uptime");
    let log = b.path().join("hooks.log");
    let hook = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {kind} $(readlink /proc/self/ns/time) >> {}", log.display())]});
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}});
        c["hooks"] = json!({"prestart": [hook("prestart")], "poststop": [hook("poststop")]});
    });
    let inside: u64 = rt.output_of(&b).trim().parse().unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= 86400 * 365 + host as u64 - 5,
        "uptime inside {inside} vs host {host}"
    );
    let ours = std::fs::read_link("/proc/self/ns/time").unwrap();
    let ours = ours.display();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("prestart {ours}\npoststop {ours}\n")
    );
}

/// A container that joins every namespace of another (runc's "joining existing container
/// namespaces"), its time namespace with offsets and its user namespace included: it is
/// created, runs (its start time, read from the host's time namespace, is its own) and
/// has the other's clocks.
#[test]
fn joining_another_containers_time_and_user_namespaces_keeps_it_running() {
    let rt = Runtime::new();
    let mut target = Bundle::new(&["sleep", "1000"]);
    target.in_user_namespace().edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}});
    });
    let target_id = unique("time-target");
    rt.create(&target, &target_id);
    let pid = rt.state(&target_id)["pid"].as_i64().unwrap();
    let mut joiner = Bundle::new(&["sleep", "1000"]);
    joiner.edit(|c| {
        let ns: Vec<serde_json::Value> = ["user", "time", "pid", "net", "ipc", "uts"]
            .iter()
            .map(|kind| {
                let typ = if *kind == "net" { "network" } else { kind };
                json!({"type": typ, "path": format!("/proc/{pid}/ns/{kind}")})
            })
            .chain([json!({"type": "mount"})])
            .collect();
        c["linux"]["namespaces"] = json!(ns);
        c.as_object_mut().unwrap().remove("hostname");
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
    });
    let id = unique("time-joiner");
    rt.create(&joiner, &id);
    rt.ok(&["start", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    let inside: u64 = rt
        .ok(&["exec", &id, "cut", "-d.", "-f1", "/proc/uptime"])
        .trim()
        .parse()
        .unwrap();
    assert!(inside >= 86400 * 365, "uptime inside {inside}");
    let joined = rt.state(&id)["pid"].as_i64().unwrap();
    for kind in ["time", "user", "pid"] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{joined}/ns/{kind}")).unwrap(),
            std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap(),
            "{kind}"
        );
    }
    rt.ok(&["delete", "--force", &id]);
    rt.ok(&["delete", "--force", &target_id]);
}

/// No namespaces at all: the container inherits every one of the caller's. Its mounts are
/// made as runc makes them, in the caller's mount namespace under the rootfs (bound onto
/// itself and private, so none reaches the host's peers), the root changed by chroot, a
/// read-only root made so; delete detaches them all. Unlike runc, the host's own `/` keeps
/// its propagation.
#[test]
fn without_namespaces_the_mounts_are_the_callers_under_the_rootfs_until_delete() {
    let rt = Runtime::new();
    // The rootfs where every other test's look at the host's mount table skips it
    // (HostSnapshot): its mounts are the host's while the container exists.
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}nomountns"));
    let rootfs = host.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let mut b = Bundle::sh(
        "test -r /proc/self/status && test -c /dev/null && echo mounted; \
         touch /file 2>/dev/null || echo read-only",
    );
    b.edit(|c| {
        c["root"]["path"] = json!(rootfs);
        c["linux"]["namespaces"] = json!([]);
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["hostname"] = json!(null);
        c["root"]["readonly"] = json!(true);
    });
    let mounts_under_rootfs = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| std::path::Path::new(m).starts_with(&rootfs))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let root_propagation = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = info
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .map(str::to_string);
        line.map(|l| l.split(" - ").next().unwrap().split(' ').skip(6).count())
    };
    let propagation_before = root_propagation();
    let id = unique("nons");
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    for kind in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap(),
            std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap(),
            "{kind}"
        );
    }
    let mounted = mounts_under_rootfs();
    assert!(
        mounted.contains(&rootfs.join("proc").display().to_string()),
        "the container's /proc is mounted in the caller's namespace: {mounted:?}"
    );
    // A second create under the same id fails, and its undoing leaves the first's mounts.
    let err = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        mounts_under_rootfs(),
        mounted,
        "the first container's mounts stay"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(
        mounts_under_rootfs(),
        Vec::<String>::new(),
        "delete detached every mount"
    );
    assert_eq!(rt.output_of(&b), "mounted\nread-only\n");
    assert_eq!(
        mounts_under_rootfs(),
        Vec::<String>::new(),
        "run left no mount"
    );
    assert_eq!(
        root_propagation(),
        propagation_before,
        "the host's / as it was"
    );
}

/// userns.bats: a bind source only the host's root may reach (under a 0700 directory)
/// still reaches a container in its own user namespace: rrun detaches the source tree as
/// the host's root (from inside the init's mount namespace), and the init attaches it.
#[test]
fn bind_source_the_user_namespace_cannot_reach_is_still_mounted() {
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new();
    let mut b = Bundle::sh("cat /tmp/one/file /tmp/two/file");
    // Mount points are made by the namespace's root (host uid 100000).
    std::fs::set_permissions(
        b.rootfs().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    for (dir, text) in [("hidden-1", "one\n"), ("hidden-2", "two\n")] {
        let src = b.path().join(dir).join("dir");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("file"), text).unwrap();
        std::fs::set_permissions(b.path().join(dir), std::fs::Permissions::from_mode(0o700))
            .unwrap();
    }
    b.in_user_namespace().edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"source": "hidden-1/dir", "destination": "/tmp/one", "options": ["bind"]}));
        mounts.push(json!({"source": "hidden-2/dir", "destination": "/tmp/two", "options": ["rbind", "ro"]}));
    });
    assert_eq!(rt.output_of(&b), "one\ntwo\n");
}

/// A host directory of uid 1000's files, bound into a container whose ids are shifted
/// (0-65535 are host 100000-165535): plain, its files are nobody's inside; through an
/// idmapped mount (`idmap`: the container's own mapping) they show their real owners, and
/// what the container's root creates there is root's on the host.
#[test]
fn idmapped_mounts_show_real_owners_and_write_host_ids() {
    let vol = TempDir::new("rrun-idmap-vol");
    // The directory is the host root's, its file uid 1000's.
    std::fs::write(vol.path().join("f"), "x").unwrap();
    std::os::unix::fs::chown(vol.path().join("f"), Some(1000), Some(1000)).unwrap();
    let src = vol.path().to_str().unwrap().to_string();
    let script = "stat -c %u:%g /plain/f /mapped/f; touch /mapped/new";
    let mut b = Bundle::sh(script);
    // The container's root is not the rootfs's owner: the mount points must exist.
    for d in ["plain", "mapped"] {
        std::fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    b.in_user_namespace().edit(|c| {
        c["root"]["readonly"] = json!(false);
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/plain", "type": "bind", "source": src, "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/mapped", "type": "bind", "source": src, "options": ["rbind", "idmap"]}));
    });
    let rt = Runtime::new();
    let out = rt.output_of(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["65534:65534", "1000:1000"],
        "{out}"
    );
    // (The container's root owns the directory through the mount: host root is its 0.)
    use std::os::unix::fs::MetadataExt;
    let new = std::fs::metadata(vol.path().join("new")).unwrap();
    assert_eq!(
        (new.uid(), new.gid()),
        (0, 0),
        "the container's root writes as the host's"
    );
}

/// Explicit `uidMappings`/`gidMappings` on the mount (runtime-spec 1.1): host 1000 is
/// shown as the mapping says, whatever the container's own mapping is.
#[test]
fn idmapped_mount_with_its_own_mappings_shifts_its_owners() {
    let vol = TempDir::new("rrun-idmap-own");
    std::fs::write(vol.path().join("f"), "x").unwrap();
    std::os::unix::fs::chown(vol.path().join("f"), Some(1000), Some(1000)).unwrap();
    let src = vol.path().to_str().unwrap().to_string();
    let mut b = Bundle::sh("stat -c %u:%g /m/f");
    std::fs::create_dir(b.rootfs().join("m")).unwrap();
    b.in_user_namespace().edit(|c| {
        // On-disk 1000 becomes host id 100005: uid 5 in the container's namespace.
        let map = json!([{"containerID": 1000, "hostID": 100005, "size": 1}]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/m", "type": "bind", "source": src, "options": ["rbind"],
            "uidMappings": map, "gidMappings": map
        }));
    });
    let rt = Runtime::new();
    assert_eq!(rt.output_of(&b).trim(), "5:5");
    let doc: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert_eq!(doc["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    let opts = doc["mountOptions"].as_array().unwrap();
    assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")));
}

/// Bad idmapped mounts: one line naming the mount, and nothing left behind.
#[test]
fn idmapped_mounts_that_are_bad_are_refused_naming_the_mount() {
    let rt = Runtime::new();
    let vol = TempDir::new("rrun-idmap-bad");
    let src = vol.path().to_str().unwrap().to_string();
    let cases: [(serde_json::Value, &str); 4] = [
        (
            json!({"destination": "/m", "type": "bind", "source": src, "options": ["rbind"],
                   "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}, {"containerID": 5, "hostID": 200000, "size": 10}],
                   "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}]}),
            "uidMappings: ranges [0] and [1] overlap",
        ),
        (
            json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
            "id-mapped mounts are only supported for bind-mounts",
        ),
        (
            // procfs can't be idmapped: the kernel says EINVAL, rrun names the mount.
            json!({"destination": "/m", "type": "bind", "source": "/proc", "options": ["rbind", "idmap"]}),
            "is on a filesystem that can't be idmapped",
        ),
        (
            // Detached from inside the init's mount namespace, after the clone.
            json!({"destination": "/m", "type": "bind", "source": "/nonexistent-idmap-source", "options": ["rbind", "idmap"]}),
            "opening source /nonexistent-idmap-source: no such file or directory",
        ),
    ];
    for (mount, want) in cases {
        let mut b = Bundle::sh("true");
        std::fs::create_dir(b.rootfs().join("m")).unwrap();
        b.in_user_namespace()
            .edit(|c| c["mounts"].as_array_mut().unwrap().push(mount));
        let before = HostSnapshot::take();
        let id = unique("idmap-bad");
        let err = rt.fails(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(
            err.contains("mounts[") && err.contains(want),
            "want {want:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_no_leftovers(&rt, &id, &before);
    }
}

/// A user-namespaced pod (Kubernetes `hostUsers: false`): the sandbox makes the user
/// namespace with the pod's mapping; an app container joins it by path and makes its own
/// pid and mount namespaces inside it (through a short-lived intermediate process, which
/// the kernel requires and which is gone once create returns).
#[test]
fn an_app_container_makes_its_pid_namespace_inside_the_pods_user_namespace() {
    let rt = Runtime::new();
    let mut sandbox = Bundle::new(&["sleep", "1000"]);
    sandbox.in_user_namespace();
    let sandbox_id = unique("userns-sandbox");
    rt.create(&sandbox, &sandbox_id);
    let sandbox_pid = rt.state(&sandbox_id)["pid"].as_i64().unwrap();
    let pod_userns = format!("/proc/{sandbox_pid}/ns/user");
    let mut app = Bundle::new(&["sleep", "1000"]);
    app.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "user", "path": pod_userns},
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
        ]);
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
    });
    let app_id = unique("userns-app");
    let out = rt.run(&[
        "run",
        "-d",
        "--bundle",
        app.path().to_str().unwrap(),
        &app_id,
    ]);
    assert!(out.status.success(), "{out:?}");
    let app_pid = rt.state(&app_id)["pid"].as_i64().unwrap() as i32;
    // No intermediate (a copy of rrun, whose command line names the id) outlived create.
    let procs = processes_mentioning(&app_id);
    assert!(procs.is_empty(), "left behind: {procs:?}");
    let uid_map = std::fs::read_to_string(format!("/proc/{app_pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{app_pid}/ns/user")).unwrap(),
        std::fs::read_link(&pod_userns).unwrap(),
        "the app is in the pod's user namespace"
    );
    // Its own pid namespace, owned by the pod's user namespace: the init is pid 1 there.
    let status = std::fs::read_to_string(format!("/proc/{app_pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");
    assert_ne!(
        std::fs::read_link(format!("/proc/{app_pid}/ns/pid")).unwrap(),
        std::fs::read_link(format!("/proc/{sandbox_pid}/ns/pid")).unwrap()
    );
    // The container's root is the mapped uid on the host.
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid.split_whitespace().nth(1), Some("100000"), "{uid}");
    assert_eq!(rt.ok(&["exec", &app_id, "id", "-u"]).trim(), "0");
    rt.ok(&["delete", "-f", &app_id]);
    rt.ok(&["delete", "-f", &sandbox_id]);
}

/// A namespace the init can't make fails the container with the kernel's reason and
/// leaves nothing behind. Here rrun runs as root of a user namespace that maps every id
/// to itself and allows no network namespace (its `max_net_namespaces` is 0): rrun no
/// longer makes that namespace in its clone, the init makes it while rrun makes the rest.
#[test]
fn a_namespace_the_init_cannot_make_fails_the_run_naming_it_and_leaves_nothing() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("no-netns");
    let before = HostSnapshot::take();
    let rrun = rt.cmd();
    let mut child = Command::new("unshare")
        .args(["--user", "sh", "-c"])
        // Capabilities in the namespace come with an exec as its root: the second `sh`.
        .arg(r#"read go && exec sh -c 'echo 0 > /proc/sys/user/max_net_namespaces && exec "$@"' sh "$@""#)
        .arg("sh")
        .arg(rrun.get_program())
        .args(rrun.get_args())
        .args(["--rootless", "true", "run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The maps can be written once `unshare` has made the user namespace.
    wait_until("the user namespace", || {
        std::fs::read_link(format!("/proc/{pid}/ns/user")).ok()
            != std::fs::read_link("/proc/self/ns/user").ok()
    });
    for map in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{map}"), "0 0 4294967295\n").unwrap();
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_no_panic_in(&stderr);
    let message = messages(&stderr);
    assert!(
        message.contains("making the container's namespaces: ENOSPC"),
        "{message}"
    );
    assert_no_leftovers(&rt, &id, &before);
}
