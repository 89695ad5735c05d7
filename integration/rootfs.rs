//! The container's filesystem: mounts, /dev, masked and read-only paths, read-only root,
//! pivot_root and --no-pivot, and mount destinations that try to escape the rootfs.

use crate::common::*;
use serde_json::json;

#[test]
fn default_mounts_are_in_place() {
    let rt = Runtime::new();
    let out = rt.output_of(&Bundle::sh("cat /proc/self/mountinfo"));
    let find = |dest: &str| {
        out.lines()
            .find(|l| l.split(' ').nth(4) == Some(dest))
            .unwrap_or_else(|| panic!("{dest} not mounted:\n{out}"))
            .to_string()
    };
    assert!(
        find("/").contains(" ro,"),
        "root is read-only: {}",
        find("/")
    );
    assert!(find("/proc").contains(" - proc "));
    assert!(find("/dev").contains(" - tmpfs ") && find("/dev").contains("nosuid"));
    assert!(find("/dev/pts").contains(" - devpts "));
    let shm = find("/dev/shm");
    assert!(
        shm.contains("nosuid,nodev,noexec") && shm.contains("size=65536k"),
        "{shm}"
    );
    assert!(find("/dev/mqueue").contains(" - mqueue "));
    assert!(find("/sys").contains(" ro,") && find("/sys").contains(" - sysfs "));
    assert!(out.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .is_some_and(|d| d.starts_with("/sys/fs/cgroup"))
    }));
    // Nothing of the host's mount table is visible.
    assert!(
        !out.contains("/work"),
        "host mounts leak into the container:\n{out}"
    );
}

/// The container's mountinfo lists its mounts in the config's order, then what rrun adds
/// (as runc's): in a user namespace the standard devices are binds of the host's nodes,
/// and they come after the last of the config's mounts (the `cgroup` one) although,
/// outside one, the nodes are made before that mount takes rrun's tree.
#[test]
fn device_binds_follow_the_configs_mounts_in_mountinfo() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cut -d' ' -f5 /proc/self/mountinfo");
    b.in_user_namespace();
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    let at = |dest: &str| {
        lines
            .iter()
            .position(|l| *l == dest)
            .unwrap_or_else(|| panic!("{dest} not mounted:\n{out}"))
    };
    assert!(at("/sys/fs/cgroup") < at("/dev/null"), "{out}");
    assert!(
        at("/dev/null") < at("/proc/keys"),
        "masked paths come last:\n{out}"
    );
    // Outside a user namespace the nodes are made, not bound: no line for them.
    let plain = rt.output_of(&Bundle::sh("cut -d' ' -f5 /proc/self/mountinfo"));
    assert!(!plain.lines().any(|l| l == "/dev/null"), "{plain}");
    assert!(plain.lines().any(|l| l == "/sys/fs/cgroup"), "{plain}");
}

#[test]
fn cgroup_mount_flags_hold_on_every_hierarchy() {
    // The config's flags for /sys/fs/cgroup reach the mount and, on v1, each hierarchy's
    // bind under it (given all at once, see rootfs/cgroupfs.rs); with `rw` they don't.
    // On v1 the tmpfs holding the hierarchies takes all but `ro`, as runc and crun leave
    // it writable.
    let rt = Runtime::new();
    let script = "grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f5,6; \
                  for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do \
                  [ -e $f ] && (echo max > $f) 2>/dev/null && echo wrote $f; done; true";
    let cgroup_mounts = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(dest, _)| dest.starts_with("/sys/fs/cgroup"))
            .map(|(d, f)| (d.to_string(), f.to_string()))
            .collect()
    };
    let out = rt.output_of(&Bundle::sh(script));
    let mounts = cgroup_mounts(&out);
    assert!(!mounts.is_empty(), "{out}");
    for (dest, flags) in &mounts {
        let tmpfs = dest == "/sys/fs/cgroup" && !cgroup_v2();
        let writable = if tmpfs { "rw" } else { "ro" };
        for f in [writable, "nosuid", "nodev", "noexec", "relatime"] {
            assert!(
                flags.split(',').any(|x| x == f),
                "{dest}: {flags} lacks {f}"
            );
        }
    }
    assert!(!out.contains("wrote"), "{out}");

    let mut b = Bundle::sh(script);
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys/fs/cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
    });
    let out = rt.output_of(&b);
    for (dest, flags) in cgroup_mounts(&out) {
        assert!(flags.starts_with("rw,"), "{dest}: {flags}");
        assert!(flags.contains("nosuid"), "{dest}: {flags}");
    }
    assert!(
        out.contains("wrote"),
        "the container's own pids.max is writable: {out}"
    );
}

/// The cgroup filesystems mounted afresh (in a cgroup namespace) show runc's sources: the
/// config's "cgroup" on cgroup2, "cgroup" on a v1 hierarchy and "systemd" on systemd's
/// named one (a build before showed the filesystem type, "cgroup2", there).
#[test]
fn fresh_cgroup_mounts_show_runcs_sources() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "awk '$5 ~ \"^/sys/fs/cgroup\" { for (i = 7; i <= NF; i++) if ($i == \"-\") print $5, $(i + 1), $(i + 2) }' /proc/self/mountinfo",
    );
    b.edit(|c| {
        // (`rrun spec` lists one on a cgroup v2 host already.)
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        if !namespaces.iter().any(|n| n["type"] == "cgroup") {
            namespaces.push(json!({"type": "cgroup"}));
        }
    });
    let out = rt.output_of(&b);
    let mut fresh = 0;
    for line in out.lines() {
        let [dest, fstype, source] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{out}");
        };
        let expected = match fstype {
            "tmpfs" => "tmpfs",
            "cgroup" | "cgroup2" if dest.ends_with("/systemd") => "systemd",
            "cgroup" | "cgroup2" => "cgroup",
            // A symlink's target is no mount; nothing else belongs here.
            _ => panic!("{dest}: a {fstype} mount: {out}"),
        };
        fresh += usize::from(fstype.starts_with("cgroup"));
        assert_eq!(source, expected, "{dest} ({fstype}): {out}");
    }
    assert!(fresh > 0, "{out}");
}

#[test]
fn a_cgroup_mount_flag_the_user_namespace_locks_fails_the_run_naming_the_hierarchy() {
    // In a user namespace the kernel locks the flags of the host's mounts; this host's v1
    // hierarchies are relatime, so binds of them can't be made strictatime. The flags of
    // all the binds are asked at once; refused, each bind is remounted on its own, which
    // fails as it did before, naming it, and the run leaves nothing behind.
    if cgroup_v2() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.in_user_namespace().edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys/fs/cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "strictatime", "ro"]);
            }
        }
    });
    let id = unique("cg-locked");
    let before = HostSnapshot::take();
    let out = rt.run_with(&b, &id, &[]);
    assert_ne!(out.status.code(), Some(0));
    let err = messages(&String::from_utf8_lossy(&out.stderr));
    assert!(
        err.contains("on /sys/fs/cgroup/") && err.contains("remounting: EPERM"),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &before);
}

#[test]
fn root_is_the_rootfs_and_readonly() {
    let rt = Runtime::new();
    let b = Bundle::sh("ls /; touch /newfile 2>&1; echo rc=$?");
    let out = rt.output_of(&b);
    assert!(out.contains("bin\n") && out.contains("proc\n"), "{out}");
    assert!(
        out.contains("Read-only file system") && out.contains("rc=1"),
        "{out}"
    );
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn writable_root_when_not_readonly() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo data > /written && cat /written");
    b.edit(|c| c["root"]["readonly"] = json!(false));
    assert_eq!(rt.output_of(&b), "data\n");
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("written")).unwrap(),
        "data\n"
    );
}

#[test]
fn masked_and_readonly_paths() {
    let rt = Runtime::new();
    // Masked files differ between kernels: use the first of the default list this one has.
    let masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    assert!(
        std::fs::read(masked).map(|d| !d.is_empty()).unwrap_or(true),
        "{masked} has content on the host"
    );
    let mut b = Bundle::sh(&format!(
        "wc -c < {masked}; ls /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/domainname) 2>&1; echo rc=$?"
    ));
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0", "masked {masked} reads empty: {out}");
    assert_eq!(lines[1].trim(), "0", "masked directory is empty: {out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(
        !out.contains("rc=0"),
        "writes to read-only paths must fail: {out}"
    );
}

#[test]
fn bind_mounts_tmpfs_options_and_relative_sources() {
    let rt = Runtime::new();
    let host = TempDir::new("rrun-bind-src");
    std::fs::write(host.path().join("hello.txt"), "from the host\n").unwrap();
    let mut b = Bundle::sh(
        "cat /data/hello.txt; touch /data/x 2>&1 | grep -c Read-only; cat /rel/file; grep ' /scratch ' /proc/self/mountinfo",
    );
    std::fs::create_dir_all(b.path().join("reldir")).unwrap();
    std::fs::write(b.path().join("reldir/file"), "relative to bundle\n").unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/rel", "type": "none", "source": "reldir", "options": ["bind"]}));
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=700"]}));
    });
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from the host");
    assert_eq!(lines[1], "1", "ro bind mount refuses writes: {out}");
    assert_eq!(lines[2], "relative to bundle");
    assert!(
        lines[3].contains("size=1024k")
            && lines[3].contains("mode=700")
            && lines[3].contains("nosuid"),
        "{out}"
    );
    assert!(!host.path().join("x").exists());
}

#[test]
fn devices_default_and_from_config() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/mydev; readlink /dev/fd; readlink /dev/ptmx; readlink /dev/stdin; echo hi > /dev/null && echo null-ok",
    );
    b.edit(|c| c["linux"]["devices"] = json!([{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 0, "gid": 0}]));
    let out = rt.output_of(&b);
    for expect in [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/dev/mydev character special file 1:3 640",
        "/proc/self/fd\npts/ptmx\n/proc/self/fd/0",
        "null-ok",
    ] {
        assert!(out.contains(expect), "missing {expect:?} in:\n{out}");
    }
}

#[test]
fn mount_destination_symlink_cannot_escape_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "cat /proc/self/mountinfo | grep -c escape-marker; ls /etc/escape-marker-dir 2>/dev/null | wc -l",
    );
    // /evil -> / on the host would put the tmpfs on the host's /etc if followed.
    std::os::unix::fs::symlink("/etc", b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../..", b.rootfs().join("up")).unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/evil/escape-marker-dir", "type": "tmpfs", "source": "escape-marker", "options": ["size=1k"]}));
        mounts.push(json!({"destination": "/up/tmp/escape-marker-2", "type": "tmpfs", "source": "escape-marker", "options": ["size=1k"]}));
    });
    let before = HostSnapshot::take();
    let out = rt.output_of(&b);
    assert_eq!(
        out.lines().next(),
        Some("2"),
        "both mounts exist inside the container: {out}"
    );
    assert!(
        !std::path::Path::new("/etc/escape-marker-dir").exists(),
        "mount point created on the host"
    );
    assert!(
        b.rootfs().join("etc/escape-marker-dir").is_dir(),
        "resolved inside the rootfs instead"
    );
    assert!(b.rootfs().join("tmp/escape-marker-2").is_dir());
    assert_eq!(HostSnapshot::take(), before);
}

#[test]
fn no_pivot_runs_too() {
    let rt = Runtime::new();
    let b = Bundle::sh("ls / | head -1; cat /proc/self/mountinfo | wc -l");
    let id = unique("nopivot");
    let out = rt.run_with(&b, &id, &["--no-pivot"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("bin\n"));
}

#[test]
fn sysctl_is_written_in_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni");
    b.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}));
    assert_eq!(rt.output_of(&b), "1\n1234\n");
}

/// A ucounts limit (`user.*`, runc 1.5) in a container with a user namespace is that
/// namespace's own: in effect inside (no user namespace may be made below it), the host's
/// untouched.
#[test]
fn a_ucounts_sysctl_is_the_containers_user_namespaces_own() {
    let rt = Runtime::new();
    let host_limit = || std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    let before = host_limit();
    let script = "unshare -U true 2>/dev/null && echo made || echo refused";
    let mut b = Bundle::sh(script);
    b.in_user_namespace();
    assert_eq!(rt.output_of(&b), "made\n", "without the limit");
    let mut b = Bundle::sh(&format!("cat /proc/sys/user/max_user_namespaces; {script}"));
    b.in_user_namespace()
        .edit(|c| c["linux"]["sysctl"] = json!({"user.max_user_namespaces": "0"}));
    assert_eq!(rt.output_of(&b), "0\nrefused\n");
    assert_eq!(host_limit(), before);
}

/// `linux.rootfsPropagation` is the propagation of the container's own `/`, as the
/// runtime-tools linux_rootfs_propagation test checks: with "shared", a bind of `/` sees
/// mounts made later under `/`; with "slave" or "private" it doesn't; an "unbindable" `/`
/// can't be bound at all.
#[test]
fn rootfs_propagation_is_that_of_the_container_root() {
    let rt = Runtime::new();
    let script = "mkdir -p /target /mnt1 /src && touch /src/example && \
        if ! mount -o rbind / /target 2>/dev/null; then echo unbindable; exit 0; fi; \
        mount -o bind /src /mnt1 && \
        if [ -e /target/mnt1/example ]; then echo exposed; else echo hidden; fi";
    for (propagation, expected) in [
        ("shared", "exposed"),
        ("rshared", "exposed"),
        ("slave", "hidden"),
        ("private", "hidden"),
        ("unbindable", "unbindable"),
    ] {
        let mut b = Bundle::sh(script);
        b.edit(|c| {
            c["linux"]["rootfsPropagation"] = json!(propagation);
            c["root"]["readonly"] = json!(false);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set] = json!(["CAP_SYS_ADMIN"]);
            }
        });
        assert_eq!(rt.output_of(&b), format!("{expected}\n"), "{propagation}");
    }
}

/// A Kubernetes volume with Bidirectional propagation, as containerd's CRI writes it (and
/// critest's mount propagation test makes it): the rootfs is a mount point of its own (the
/// engine's overlay), `rootfsPropagation` is "rshared" and the volume, an rshared host
/// mount, is bound "rbind,rshared". The container starts (pivot_root needs the mount the
/// rootfs's bind is stacked on made private first), and mounts cross both ways: the
/// container's mount under the volume appears on the host, the host's in the container.
#[test]
fn a_bidirectional_volume_on_a_rootfs_that_is_a_mount_point() {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    let rt = Runtime::new();
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}bidirectional"));
    let (rootfs, vol) = (host.path().join("rootfs"), host.path().join("vol"));
    for d in [&rootfs, &vol.join("inside"), &vol.join("outside")] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut b = Bundle::sh(
        "mount -t tmpfs tmpfs /vol/inside && touch /vol/inside/made-in-container && \
         while [ ! -e /vol/outside/made-on-host ]; do sleep 0.02; done && echo seen > /vol/seen; \
         sleep 1000",
    );
    std::fs::create_dir_all(b.rootfs().join("vol")).unwrap();
    let bind = |src: &std::path::Path, dst: &std::path::Path| {
        mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>).unwrap()
    };
    bind(&b.rootfs(), &rootfs);
    bind(&vol, &vol);
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    mount(None::<&str>, &vol, None::<&str>, shared, None::<&str>).unwrap();
    b.edit(|c| {
        c["root"]["path"] = json!(rootfs);
        c["linux"]["rootfsPropagation"] = json!("rshared");
        grant_capability(c, "CAP_SYS_ADMIN");
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/vol", "type": "bind", "source": &vol, "options": ["rbind", "rshared", "rw"]}),
        );
    });
    let id = unique("bidir");
    let created = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let mut seen_both_ways = false;
    if created.status.success() {
        rt.ok(&["start", &id]);
        wait_until("the container's mount on the host", || {
            vol.join("inside/made-in-container").exists()
        });
        mount(
            Some("tmpfs"),
            &vol.join("outside"),
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        std::fs::write(vol.join("outside/made-on-host"), "").unwrap();
        wait_until("the host's mount in the container", || {
            vol.join("seen").exists()
        });
        seen_both_ways = true;
        rt.ok(&["delete", "-f", &id]);
    }
    for m in [vol.join("outside"), vol.join("inside"), vol.clone(), rootfs] {
        let _ = umount2(&m, MntFlags::MNT_DETACH);
    }
    let err = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{err}");
    assert!(seen_both_ways);
}

/// mask.bats: a path listed twice is masked once, and masked directories share one empty
/// read-only tmpfs.
#[test]
fn masked_paths_are_masked_once_and_directories_share_one_tmpfs() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "grep -c ' /testdir ' /proc/self/mounts; grep -c ' /testfile ' /proc/self/mounts; \
         stat -c %d /testdir /testdir2; touch /testdir2/x 2>&1; true",
    );
    for d in ["testdir", "testdir2"] {
        std::fs::create_dir_all(b.rootfs().join(d)).unwrap();
    }
    std::fs::write(b.rootfs().join("testfile"), "secret").unwrap();
    b.edit(|c| {
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        for p in [
            "/testdir",
            "/testfile",
            "/testdir",
            "/testfile",
            "/testdir2",
        ] {
            masked.push(json!(p));
        }
    });
    let out = rt.output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], &["1", "1"], "{out}");
    assert_eq!(lines[2], lines[3], "one tmpfs for both directories: {out}");
    assert!(lines[4].contains("Read-only file system"), "{out}");
}

/// tmpfs as runc mounts it (run.bats, mounts.bats): the mode of the directory it covers
/// unless `mode=` is given, tmpfs's own 1777 on a directory rrun had to make; `ro` holds
/// even for /dev, whose nodes are made first; `tmpcopyup` keeps what was there.
#[test]
fn tmpfs_mode_read_only_dev_and_tmpcopyup() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "stat -c %a /covered /made/here; grep ' /dev ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1; \
         ls /dev/null; cat /copied/sub/file; stat -c %a /copied/sub",
    );
    std::fs::create_dir_all(b.rootfs().join("covered")).unwrap();
    std::process::Command::new("chmod")
        .args(["1750", b.rootfs().join("covered").to_str().unwrap()])
        .status()
        .unwrap();
    std::fs::create_dir_all(b.rootfs().join("copied/sub")).unwrap();
    std::fs::write(b.rootfs().join("copied/sub/file"), "kept\n").unwrap();
    std::process::Command::new("chmod")
        .args(["710", b.rootfs().join("copied/sub").to_str().unwrap()])
        .status()
        .unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
        for dest in ["/covered", "/made/here"] {
            mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
        }
        mounts.push(json!({"destination": "/copied", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}));
    });
    let out = rt.output_of(&b);
    assert_eq!(out, "1750\n1777\nro\n/dev/null\nkept\n710\n");
    let made = std::fs::metadata(b.rootfs().join("made/here")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&made.permissions()) & 0o7777,
        0o755,
        "the directory under the tmpfs is an ordinary 755 one"
    );
}

/// A filesystem whose destination is itself a symlink is mounted where the link leads,
/// inside the rootfs, as runc does: a tmpfs there takes the mode of the directory it
/// covers, or tmpfs's own 1777 where the link led nowhere and rrun made the directory.
#[test]
fn tmpfs_on_a_symlink_lands_where_it_leads_inside_the_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "grep -c ' /real tmpfs ' /proc/self/mounts; stat -c %a /real /made; \
         grep -c ' /made tmpfs ' /proc/self/mounts",
    );
    let rootfs = b.rootfs();
    std::fs::create_dir_all(rootfs.join("real")).unwrap();
    std::fs::set_permissions(
        rootfs.join("real"),
        std::os::unix::fs::PermissionsExt::from_mode(0o710),
    )
    .unwrap();
    std::os::unix::fs::symlink("/real", rootfs.join("link")).unwrap();
    std::os::unix::fs::symlink("../../made", rootfs.join("dangling")).unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for dest in ["/link", "/dangling"] {
            mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
        }
    });
    let before = HostSnapshot::take();
    assert_eq!(rt.output_of(&b), "1\n710\n1777\n1\n");
    assert!(
        rootfs.join("made").is_dir(),
        "the link's target was made in the rootfs"
    );
    assert!(
        std::fs::symlink_metadata(rootfs.join("link"))
            .unwrap()
            .is_symlink(),
        "the link itself is left as it was"
    );
    assert_eq!(HostSnapshot::take(), before);
}

/// no_pivot.bats: with --no-pivot the host's procfs is detached first, so a process in a
/// new user namespace can't mount a bare procfs (the kernel allows it only where a full one
/// is visible).
#[test]
fn no_pivot_leaves_no_full_procfs_to_mount_from() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "unshare",
        "-mrpf",
        "sh",
        "-c",
        "mount -t proc none /proc 2>&1; echo rc=$?",
    ]);
    b.edit(|c| {
        for set in ["bounding", "permitted", "effective"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .extend([json!("CAP_SETFCAP"), json!("CAP_SYS_ADMIN")]);
        }
    });
    let out = rt.run_with(&b, &unique("nopivotproc"), &["--no-pivot"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("permission denied") || text.contains("Permission denied"),
        "{text}"
    );
    assert!(!text.contains("rc=0"), "{text}");
}

/// A bind source with a mount below it, as the recursive options' tests need: a tmpfs on
/// `subvol` in the fixture `host` (the caller unmounts it).
fn mount_tmpfs_below(host: &TempDir) -> std::path::PathBuf {
    let sub = host.path().join("subvol");
    std::fs::create_dir_all(&sub).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    sub
}

/// mounts_recursive.bats: `rro` makes a bind mount read-only with everything mounted below
/// it (plain `ro` only the top).
#[test]
fn rro_makes_the_whole_bind_tree_read_only() {
    let rt = Runtime::new();
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}rro"));
    let sub = mount_tmpfs_below(&host);
    let mut b = Bundle::sh(
        "touch /ro/subvol/a 2>/dev/null && echo ro-sub-writable; touch /rro/subvol/b 2>&1 | grep -c Read-only",
    );
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/ro", "type": "bind", "source": host.path(), "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/rro", "type": "bind", "source": host.path(), "options": ["rbind", "rro"]}));
    });
    let out = rt.output_of(&b);
    nix::mount::umount2(&sub, nix::mount::MntFlags::MNT_DETACH).unwrap();
    assert_eq!(out, "ro-sub-writable\n1\n");
}

/// runc's recursive access-time and symlink options reach the mounts below a bind too:
/// `rnoatime`, `rstrictatime` (a mode, so the whole field is cleared to set it) and
/// `rnosymfollow` (a symlink on a submount no longer followed: ELOOP).
#[test]
fn recursive_access_time_and_nosymfollow_reach_the_submounts() {
    let rt = Runtime::new();
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}ratime"));
    let sub = mount_tmpfs_below(&host);
    std::os::unix::fs::symlink("/etc/passwd", sub.join("link")).unwrap();
    let mut b = Bundle::sh(
        "for d in noatime strictatime nosymfollow; do \
           grep \" /$d/subvol \" /proc/self/mountinfo | cut -d' ' -f5,6; done; \
         cat /nosymfollow/subvol/link 2>&1 >/dev/null | grep -ci -e 'link loop' -e 'levels of symbolic'; \
         cat /noatime/subvol/link >/dev/null && echo followed",
    );
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for (dest, option) in [
            ("/noatime", "rnoatime"),
            ("/strictatime", "rstrictatime"),
            ("/nosymfollow", "rnosymfollow"),
        ] {
            mounts.push(
                json!({"destination": dest, "type": "bind", "source": host.path(),
                "options": ["rbind", option]}),
            );
        }
    });
    let out = rt.output_of(&b);
    nix::mount::umount2(&sub, nix::mount::MntFlags::MNT_DETACH).unwrap();
    assert_eq!(
        out,
        "/noatime/subvol rw,noatime\n/strictatime/subvol rw\n\
         /nosymfollow/subvol rw,relatime,nosymfollow\n1\nfollowed\n"
    );
}

/// `nosymfollow` (Linux 5.10) on a bind and on a tmpfs: a symlink there is not followed
/// (ELOOP), and `symfollow` after it clears it, as in runc. rrun had passed both on as a
/// filesystem's data, which a bind ignores: the symlink was followed.
#[test]
fn nosymfollow_on_a_bind_and_a_tmpfs_and_symfollow_clears_it() {
    let rt = Runtime::new();
    let host = TempDir::new("rrun-nosymfollow");
    std::fs::write(host.path().join("f"), "hello\n").unwrap();
    std::os::unix::fs::symlink("f", host.path().join("link")).unwrap();
    let mut b = Bundle::sh(
        "cat /nofollow/link 2>&1 | grep -ci -e 'link loop' -e 'levels of symbolic'; \
         cat /follow/link; ln -s /etc/passwd /tmp-nofollow/link; \
         cat /tmp-nofollow/link 2>&1 | grep -ci -e 'link loop' -e 'levels of symbolic'; \
         for m in /nofollow /follow /tmp-nofollow; do \
           grep \" $m \" /proc/self/mountinfo | cut -d' ' -f5,6; done",
    );
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(
            json!({"destination": "/nofollow", "type": "bind", "source": host.path(),
            "options": ["bind", "nosymfollow"]}),
        );
        mounts.push(
            json!({"destination": "/follow", "type": "bind", "source": host.path(),
            "options": ["bind", "ro", "nosymfollow", "symfollow"]}),
        );
        mounts.push(
            json!({"destination": "/tmp-nofollow", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosymfollow", "size=1m"]}),
        );
    });
    assert_eq!(
        rt.output_of(&b),
        "1\nhello\n1\n/nofollow rw,relatime,nosymfollow\n/follow ro,relatime\n\
         /tmp-nofollow rw,relatime,nosymfollow\n"
    );
}

/// A bind's flags come from a bind remount, as in runc: it sets the flags the mount names
/// (ro here) and clears the other per-mount ones the source had (nosuid), but keeps the
/// source's access-time mode where the options name none (noatime here, not relatime).
/// Masked and read-only paths get their flags the same way.
#[test]
fn a_read_only_bind_keeps_the_access_time_mode_of_its_source() {
    let rt = Runtime::new();
    let host = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}noatime"));
    nix::mount::mount(
        Some("tmpfs"),
        host.path(),
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOATIME | nix::mount::MsFlags::MS_NOSUID,
        None::<&str>,
    )
    .unwrap();
    let mut b = Bundle::sh("grep -E ' /(b|bd) ' /proc/self/mountinfo | cut -d' ' -f5,6");
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/b", "type": "bind", "source": host.path(), "options": ["bind", "ro"]}));
        mounts.push(json!({"destination": "/bd", "type": "bind", "source": host.path(), "options": ["bind", "ro", "nodiratime"]}));
    });
    let out = rt.output_of(&b);
    nix::mount::umount2(host.path(), nix::mount::MntFlags::MNT_DETACH).unwrap();
    // With nodiratime named, the access time is the kernel's default for a remount that
    // names one: relatime.
    assert_eq!(out, "/b ro,noatime\n/bd ro,nodiratime,relatime\n");
}

/// Binds are made with open_tree + move_mount; where open_tree is missing (ENOSYS, a
/// kernel before 5.2) or refused (EPERM, as a seccomp profile older than the call would),
/// mount(2) makes them as before: the container sees its bind, its masked and its
/// read-only paths all the same.
#[test]
fn binds_fall_back_to_mount_where_open_tree_is_missing_or_refused() {
    let rt = Runtime::new();
    let host = TempDir::new("rrun-bind-source");
    std::fs::write(host.path().join("f"), "hello\n").unwrap();
    let mut b = Bundle::sh(
        "cat /b/f; wc -c < /proc/timer_list; for m in /b /proc/sys; do \
         grep \" $m \" /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; done",
    );
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/b", "type": "bind", "source": host.path(), "options": ["bind", "ro"]}));
    });
    for errno in ["ENOSYS", "EPERM"] {
        let (stdout, injected) = run_failing(&rt, &b, "open_tree", errno, host.path());
        assert_eq!(stdout, "hello\n0\nro\nro\n", "{errno}");
        // The faults really hit: the bind, the masked file and the read-only paths.
        assert!(
            injected >= 3,
            "{errno}: {injected} open_tree faults injected"
        );
    }
}

/// `rrun run` of `b` under strace, every call of `syscall` failing with `errno`: the
/// container's output (the run must succeed) and how many calls failed so.
fn run_failing(
    rt: &Runtime,
    b: &Bundle,
    syscall: &str,
    errno: &str,
    scratch: &std::path::Path,
) -> (String, usize) {
    let log = scratch.join(format!("strace-{syscall}-{errno}"));
    let strace_args = [
        "-f".into(),
        "-e".into(),
        format!("trace={syscall}").into(),
        "-e".into(),
        format!("inject={syscall}:error={errno}").into(),
        "-o".into(),
        log.clone().into_os_string(),
    ];
    let out = rt.run_under_strace(&strace_args, &[], b, "fallback");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{syscall} {errno}: {stdout} {stderr}");
    let injected = std::fs::read_to_string(&log)
        .unwrap()
        .matches("(INJECTED)")
        .count();
    (stdout, injected)
}

/// Read-only and masked paths are bound read-only before they are attached; where the
/// kernel refuses mount_setattr (before 5.12, or a seccomp profile older than the call),
/// they are bound, then remounted. The container sees the same mounts either way.
#[test]
fn read_only_and_masked_paths_are_the_same_where_mount_setattr_is_refused() {
    let rt = Runtime::new();
    let scratch = TempDir::new("rrun-ro-fallback");
    let b = Bundle::sh(
        "for m in /proc/bus /proc/sys /sys/firmware /proc/acpi; do \
         awk -v m=$m '$5 == m { print $5, $6, $NF }' /proc/self/mountinfo; done; \
         (echo 1 > /proc/sys/kernel/domainname) 2>&1 | grep -c 'Read-only'; ls /sys/firmware | wc -l",
    );
    let plain = rt.output_of(&b);
    assert_eq!(plain.lines().count(), 6, "{plain}");
    assert!(plain.lines().take(4).all(|l| l.contains(" ro,")), "{plain}");
    for errno in ["ENOSYS", "EPERM"] {
        let (stdout, injected) = run_failing(&rt, &b, "mount_setattr", errno, scratch.path());
        assert_eq!(stdout, plain, "{errno}");
        assert!(
            injected >= 4,
            "{errno}: {injected} mount_setattr faults injected"
        );
    }
}

/// mounts.bats (mount order): mounts are made in order, a bind source inside the rootfs
/// sees the mounts made before it, and a destination written with the rootfs's host path
/// is taken as that path inside, as runc does.
#[test]
fn bind_sources_inside_the_rootfs_see_earlier_mounts() {
    let rt = Runtime::new();
    let host = TempDir::new("rrun-order");
    std::fs::create_dir_all(host.path().join("a/x")).unwrap();
    std::fs::write(host.path().join("a/x/file"), "a/x\n").unwrap();
    let mut b = Bundle::sh("cat /final/x/file");
    let rootfs = b.rootfs();
    std::fs::create_dir_all(rootfs.join("mnt")).unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"source": host.path().join("a"), "destination": "/mnt", "options": ["rbind"]}));
        mounts.push(json!({"source": rootfs.join("mnt"), "destination": rootfs.join("final"), "options": ["rbind"]}));
    });
    assert_eq!(rt.output_of(&b), "a/x\n");
    assert!(
        !rootfs.join("final/x").exists(),
        "nothing was mounted on the host"
    );
}

/// mounts.bats: a bind mount through a dangling symlink (a component, or the last one)
/// makes what the link points to, inside the rootfs, and mounts there.
#[test]
fn bind_mount_through_dangling_symlinks_lands_on_their_targets() {
    let rt = Runtime::new();
    let host = TempDir::new("rrun-dangling");
    std::fs::write(host.path().join("hosts"), "from the host\n").unwrap();
    let mut b = Bundle::sh("cat /tmp/foo/bar/baz/hosts /tmp/direct");
    let rootfs = b.rootfs();
    std::os::unix::fs::symlink("/tmp/foo/bar", rootfs.join("jump")).unwrap();
    std::os::unix::fs::symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink("/tmp/direct", rootfs.join("etc/direct")).unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for dest in ["/etc/hosts", "/etc/direct"] {
            mounts.push(json!({"source": host.path().join("hosts"), "destination": dest, "options": ["bind"]}));
        }
    });
    assert_eq!(rt.output_of(&b), "from the host\nfrom the host\n");
    assert!(rootfs.join("tmp/foo/bar/baz/hosts").is_file());
    assert!(!std::path::Path::new("/tmp/foo/bar/baz/hosts").exists());
}

/// A relative mount destination is taken from the container's root, with runc's warning.
#[test]
fn a_relative_mount_destination_is_taken_from_the_root_with_a_warning() {
    let mut b = Bundle::sh("grep -q ' /tmp/rel tmpfs ' /proc/mounts && echo mounted");
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "tmp/rel", "type": "tmpfs", "source": "tmpfs"}
        ));
    });
    let rt = Runtime::new();
    let (out, err, code) = rt.run_bundle(&b);
    assert_eq!((out.trim(), code), ("mounted", 0), "{err}");
    assert!(
        messages(&err).contains("mount destination tmp/rel is not absolute"),
        "{err}"
    );
}

/// A bind mount whose source is inside the rootfs shows what the container's earlier
/// mounts put there, in a user namespace too (runc's "mount order, container bind-mount
/// source"): here the tmpfs mounted on /mnt just before.
#[test]
fn a_bind_source_inside_the_rootfs_sees_the_earlier_mounts_in_a_user_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo hi > /mnt/f && cat /final/f && stat -f -c %T /final");
    for d in ["mnt", "final"] {
        std::fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    let inside = b.rootfs().join("mnt").display().to_string();
    b.in_user_namespace().edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
        mounts.push(json!({"destination": "/final", "type": "bind", "source": inside, "options": ["rbind"]}));
    });
    assert_eq!(rt.output_of(&b), "hi\ntmpfs\n");
}

/// An idmapped bind whose source is inside the rootfs shows what the container's earlier
/// mounts put there (runc's "mount order, container idmap source", with and without a
/// user namespace): rrun detaches it at its turn, when the init asks, not with the
/// sources it detaches before the init mounts anything. One more comes first in the
/// list, before the `cgroup` mount, whose tree rrun sends meanwhile.
#[test]
fn an_idmapped_bind_source_inside_the_rootfs_sees_the_earlier_mounts() {
    let rt = Runtime::new();
    let host = TempDir::new("rrun-idmap-order");
    std::fs::create_dir_all(host.path().join("a/x")).unwrap();
    let owned_by_1000 = |file: &std::path::Path, text: &str| {
        std::fs::write(file, text).unwrap();
        std::os::unix::fs::chown(file, Some(1000), Some(1000)).unwrap();
    };
    owned_by_1000(&host.path().join("a/x/file"), "a/x\n");
    // On-disk 1000 is host id 100005 through the mount: uid 5 in the user namespace.
    for (user_ns, owner) in [(false, "100005:100005"), (true, "5:5")] {
        let mut b =
            Bundle::sh("cat /final/x/file /early/file && stat -c %u:%g /final/x/file /early/file");
        let rootfs = b.rootfs();
        for d in ["mnt", "final", "early", "data"] {
            std::fs::create_dir(rootfs.join(d)).unwrap();
        }
        owned_by_1000(&rootfs.join("data/file"), "early\n");
        if user_ns {
            b.in_user_namespace();
        }
        let map = json!([{"containerID": 1000, "hostID": 100005, "size": 1}]);
        let idmapped = |source: std::path::PathBuf, destination: &str| {
            json!({"source": source, "destination": destination, "type": "bind",
                   "options": ["rbind"], "uidMappings": map, "gidMappings": map})
        };
        b.edit(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.insert(0, idmapped(rootfs.join("data"), "/early"));
            mounts.push(json!({"source": host.path().join("a"), "destination": "/mnt", "options": ["rbind"]}));
            mounts.push(idmapped(rootfs.join("mnt"), "/final"));
        });
        assert_eq!(
            rt.output_of(&b),
            format!("a/x\nearly\n{owner}\n{owner}\n"),
            "user namespace: {user_ns}"
        );
    }
    // One that nothing put there: one line naming the mount, and nothing left behind.
    let mut b = Bundle::sh("true");
    std::fs::create_dir(b.rootfs().join("final")).unwrap();
    let missing = b.rootfs().join("mnt/nothing");
    b.in_user_namespace().edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "source": missing, "destination": "/final", "type": "bind", "options": ["rbind", "idmap"]}));
    });
    let before = HostSnapshot::take();
    let id = unique("idmap-order-missing");
    let err = rt.fails(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let want = format!(
        "(/final): opening source {}: no such file or directory",
        missing.display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_no_leftovers(&rt, &id, &before);
}
