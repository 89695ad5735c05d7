//! rrun run by an ordinary user: users made here (useradd gives each a 65536-id range in
//! /etc/subuid and /etc/subgid), bundles they own, `rrun spec --rootless` as they'd write
//! it, and rrun run with their uid, environment and nothing else. On this host (cgroup v1,
//! nothing delegated) the containers run without cgroups; in the systemd guest
//! (`make test-systemd`) the user's own systemd instance gives them delegated limits.

use crate::common::*;
use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// An ordinary user of the host, made once per test run if missing.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The first host uid (gid) of the user's range in /etc/subuid (/etc/subgid).
    pub subuid: u32,
    pub subgid: u32,
}

fn id_of(flag: &str, name: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn sub_range(file: &str, name: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f[1].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{file} has no range for {name} (useradd gives one)"))
}

/// The user `name`, made with `useradd -m` the first time.
pub fn user(name: &str) -> User {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if id_of("-u", name).is_none() {
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    User {
        name: name.to_string(),
        uid: id_of("-u", name).unwrap(),
        gid: id_of("-g", name).unwrap(),
        subuid: sub_range("/etc/subuid", name),
        subgid: sub_range("/etc/subgid", name),
    }
}

/// rrun as `user` runs it: a binary it may execute (the build's, when the user can reach
/// it; else a copy), its own `$XDG_RUNTIME_DIR`, and nothing of root's environment.
pub struct Session {
    pub user: User,
    /// The user's `$XDG_RUNTIME_DIR` (0700, its own), so the state root is `<xdg>/rrun`.
    pub xdg: PathBuf,
    _xdg_dir: Option<TempDir>,
    rrun: PathBuf,
    _rrun_copy: Option<TempDir>,
    /// Extra environment (the user's D-Bus address, in the systemd guest).
    pub env: Vec<(String, String)>,
    /// Where rrun's output goes (root's: the user only writes to the files it is given).
    outputs: TempDir,
}

impl Session {
    pub fn new(user: User) -> Self {
        let xdg_dir = TempDir::new("rrun-xdg");
        chown(xdg_dir.path(), &user);
        std::fs::set_permissions(xdg_dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let xdg = xdg_dir.path().to_path_buf();
        Self::with_xdg(user, xdg, Some(xdg_dir))
    }

    /// A session in the user's systemd instance's own runtime dir (/run/user/UID).
    pub fn in_runtime_dir(user: User, xdg: PathBuf) -> Self {
        Self::with_xdg(user, xdg, None)
    }

    /// A session whose rrun is a copy the user owns (and so may write).
    pub fn with_own_binary(user: User) -> Self {
        let mut s = Self::new(user);
        let copy = TempDir::new("rrun-own-bin");
        std::fs::copy(RRUN, copy.path().join("rrun")).unwrap();
        chown_tree(copy.path(), &s.user);
        s.rrun = copy.path().join("rrun");
        s._rrun_copy = Some(copy);
        s
    }

    fn with_xdg(user: User, xdg: PathBuf, xdg_dir: Option<TempDir>) -> Self {
        let mut s = Session {
            user,
            xdg,
            _xdg_dir: xdg_dir,
            rrun: PathBuf::from(RRUN),
            _rrun_copy: None,
            env: Vec::new(),
            outputs: TempDir::new("rrun-out"),
        };
        let reachable = s
            .command("test")
            .args(["-x", RRUN])
            .status()
            .unwrap()
            .success();
        if !reachable {
            let copy = TempDir::new("rrun-bin");
            std::fs::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::copy(RRUN, copy.path().join("rrun")).unwrap();
            s.rrun = copy.path().join("rrun");
            s._rrun_copy = Some(copy);
        }
        s
    }

    /// `program` as the user: its uid, gid and groups (setpriv), a clean environment.
    pub fn command(&self, program: &str) -> Command {
        // By its path: a PATH given to the user's command is the one std searches.
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("setpriv (util-linux) is needed");
        let mut c = Command::new(setpriv);
        c.args([
            "--reuid",
            &self.user.uid.to_string(),
            "--regid",
            &self.user.gid.to_string(),
            "--init-groups",
            "--",
            program,
        ]);
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", format!("/home/{}", self.user.name))
            .env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name)
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .current_dir("/");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn rrun_cmd(&self) -> Command {
        self.command(self.rrun.to_str().unwrap())
    }

    /// Runs rrun as the user to completion, output through files (a container left
    /// running inherits them; a pipe would never end).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.rrun_cmd();
        cmd.args(args);
        output_through_files(cmd, self.outputs.path())
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rrun {args:?} as {}: {}",
            self.user.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs rrun expecting exit 1; returns its messages.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "rrun {args:?} as {} should fail: stdout={} stderr={}",
            self.user.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        messages(&String::from_utf8_lossy(&out.stderr))
    }

    pub fn state_root(&self) -> PathBuf {
        self.xdg.join("rrun")
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// A bundle the user owns, its config made by `rrun spec --rootless` as the user,
    /// running `sh -c script`.
    pub fn bundle(&self, script: &str) -> UserBundle {
        let dir = TempDir::new("rrun-user-bundle");
        busybox_rootfs(&dir.path().join("rootfs"));
        chown_tree(dir.path(), &self.user);
        let out = self
            .rrun_cmd()
            .args(["spec", "--rootless", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rrun spec --rootless as {}: {}",
            self.user.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["sh", "-c", script]);
        let b = UserBundle { dir, config };
        b.write();
        b
    }
}

impl Drop for Session {
    /// Whatever a failing test left is force-deleted by its user.
    fn drop(&mut self) {
        force_delete_all(&self.state_root(), || self.rrun_cmd());
    }
}

pub struct UserBundle {
    pub dir: TempDir,
    pub config: Value,
}

impl UserBundle {
    pub fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.write();
        self
    }

    fn write(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Maps the user's whole subordinate range as Podman does: 0 is the user, 1.. its range.
    pub fn map_subordinate_ids(&mut self, u: &User) -> &mut Self {
        let (uid, gid, subuid, subgid) = (u.uid, u.gid, u.subuid, u.subgid);
        self.edit(|c| {
            c["linux"]["uidMappings"] = json!([
                {"containerID": 0, "hostID": uid, "size": 1},
                {"containerID": 1, "hostID": subuid, "size": 65536}
            ]);
            c["linux"]["gidMappings"] = json!([
                {"containerID": 0, "hostID": gid, "size": 1},
                {"containerID": 1, "hostID": subgid, "size": 65536}
            ]);
        })
    }
}

fn chown(path: &Path, u: &User) {
    std::os::unix::fs::lchown(path, Some(u.uid), Some(u.gid)).unwrap();
}

fn chown_tree(path: &Path, u: &User) {
    chown(path, u);
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&e.path(), u);
        }
    }
}

/// The uids of a host process (real, effective, saved, filesystem).
fn host_uids(pid: i32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No state dir, process or cgroup of `id` is left.
fn assert_nothing_left(s: &Session, id: &str) {
    assert!(
        !s.state_root().join(id).exists(),
        "state dir of {id} left behind"
    );
    let procs = processes_mentioning(id);
    assert!(procs.is_empty(), "processes left behind: {procs:?}");
    let dirs = cgroup_dirs_named(id);
    assert!(dirs.is_empty(), "cgroups left behind: {dirs:?}");
}

/// A config as rootless Podman writes it for a runtime it runs inside its user namespace:
/// no user namespace of the container's own, so no mappings.
fn without_a_user_namespace(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "user");
    let linux = c["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
}

#[test]
fn an_ordinary_user_runs_a_container_with_its_output_and_exit_code() {
    let s = Session::new(user("rrun-rl-a"));
    let b = s.bundle("id -u; id -g; cat /proc/self/uid_map; exit 7");
    let id = unique("rl-run");
    let out = s.run(&["run", "--bundle", b.path(), &id]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..2], ["0", "0"], "{text}");
    let map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(map, ["0", &s.user.uid.to_string(), "1"], "{text}");
    // The default state root is the user's, as runc's is $XDG_RUNTIME_DIR/runc.
    let root = std::fs::metadata(s.state_root()).unwrap();
    assert_eq!(root.uid(), s.user.uid);
    assert_eq!(root.mode() & 0o7777, 0o1700, "state root mode");
    assert_nothing_left(&s, &id);
}

#[test]
fn the_whole_lifecycle_works_as_an_ordinary_user() {
    let s = Session::new(user("rrun-rl-a"));
    let b = s.bundle("exec sleep 100");
    let id = unique("rl-life");
    s.ok(&["create", "--bundle", b.path(), &id]);
    assert_eq!(s.state(&id)["status"], "created");
    let dir = std::fs::metadata(s.state_root().join(&id)).unwrap();
    assert_eq!(dir.uid(), s.user.uid, "state dir owner");
    assert_eq!(dir.mode() & 0o7777, 0o700, "state dir mode");
    s.ok(&["start", &id]);
    let state = s.state(&id);
    assert_eq!(state["status"], "running");
    let pid = state["pid"].as_i64().unwrap() as i32;
    // The container's processes are the user's on the host, nobody else's.
    assert_eq!(host_uids(pid), vec![s.user.uid; 4]);
    assert_eq!(s.ok(&["exec", &id, "id", "-u"]).trim(), "0");
    let exec_pid = {
        let dir = TempDir::new("rl-pid");
        chown(dir.path(), &s.user);
        let f = dir.path().join("pid");
        s.ok(&[
            "exec",
            "-d",
            "--pid-file",
            f.to_str().unwrap(),
            &id,
            "sleep",
            "50",
        ]);
        std::fs::read_to_string(&f).unwrap().parse::<i32>().unwrap()
    };
    let pids: Vec<i32> = serde_json::from_str(&s.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&pid) && pids.contains(&exec_pid), "{pids:?}");
    let list = s.ok(&["list", "-q"]);
    assert_eq!(list.trim(), id);
    let stats: Value = serde_json::from_str(&s.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(stats["id"], id);
    s.ok(&["kill", &id, "KILL"]);
    wait_until("the container to stop", || {
        s.state(&id)["status"] == "stopped"
    });
    assert!(ended(exec_pid), "exec'd process outlived the container");
    s.ok(&["delete", &id]);
    assert_nothing_left(&s, &id);
}

#[test]
fn a_terminal_works_as_an_ordinary_user() {
    let s = Session::new(user("rrun-rl-a"));
    let mut b = s.bundle("tty; stat -c %u /dev/pts/0");
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let id = unique("rl-tty");
    // `script` gives rrun a terminal of its own, as a person's shell would.
    let out = s
        .command("script")
        .args([
            "-qec",
            &format!("{} run --bundle {} {id}", s.rrun.display(), b.path()),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert_nothing_left(&s, &id);
}

/// A sysfs mount without a network namespace of the container's own (the kernel refuses
/// a new one): the host's /sys is bound instead, read-only as asked.
#[test]
fn sysfs_without_a_network_namespace_is_the_hosts_bound() {
    let s = Session::new(user("rrun-rl-a"));
    let mut b = s.bundle("ls /sys/kernel >/dev/null && echo listed; touch /sys/x 2>&1; true");
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                            "options": ["nosuid", "noexec", "nodev", "ro"]});
            }
        }
    });
    let id = unique("rl-sysfs");
    let out = s.run(&["run", "--bundle", b.path(), &id]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.starts_with("listed\n"), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert_nothing_left(&s, &id);
}

/// Rootless Podman runs the runtime as root of a user namespace of its own, in the host's
/// network namespace, which that user namespace does not own. There a container with a
/// network namespace of its own runs, its loopback up: rrun, which could not return to the
/// host's namespace, leaves the loopback to the init (it failed with "returning to rrun's
/// network namespace: EPERM" in a build that entered the container's without checking).
#[test]
fn root_of_a_user_namespace_runs_a_container_with_its_own_network_and_loopback_up() {
    let s = Session::new(user("rrun-rl-a"));
    let mut b = s.bundle("ip -o link show lo");
    // Podman's config there: no user namespace of the container's own, a network one.
    b.edit(|c| {
        without_a_user_namespace(c);
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.push(json!({"type": "network"}));
    });
    let id = unique("rl-netns");
    let root = s.state_root();
    let mut cmd = s.command("unshare");
    cmd.args(["--user", "--map-root-user", "--mount"])
        // rrun's look at its own network namespace held back 0.3 s, so that it always
        // finds the container's made (it may be quicker than the init's `unshare` there).
        .args([
            "strace",
            "-o",
            "/dev/null",
            "-P",
            "/proc/self/ns/net",
            "-e",
            "trace=open",
        ])
        .args(["-e", "inject=open:delay_enter=300000"])
        .arg(&s.rrun)
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle", b.path(), &id]);
    let out = output_through_files(cmd, s.outputs.path());
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("<LOOPBACK,UP,LOWER_UP>"), "{text}");
    assert_nothing_left(&s, &id);
}

/// Rootless Podman's `--pid container:NAME` with a hook, and a time namespace: rrun, root
/// only in a user namespace, could enter the other container's pid namespace, and a new
/// time namespace, for the clone and not come back to the host's, so it leaves them to an
/// intermediate process that clones the init; its hooks run in its own, as runc's do.
/// Builds that entered them themselves ran the hooks in the container's pid and time
/// namespaces, and before that failed to start the threads that read a hook's output
/// ("reading the output of /bin/sh: Resource temporarily unavailable").
#[test]
fn root_of_a_user_namespace_runs_the_hooks_of_a_container_joining_a_pid_namespace_in_its_own() {
    let s = Session::new(user("rrun-rl-a"));
    let mut owner_bundle = s.bundle("sleep 1000");
    owner_bundle.edit(without_a_user_namespace);
    let mut joiner = s.bundle("readlink /proc/self/ns/pid; cut -d. -f1 /proc/uptime");
    let log = joiner.dir.path().join("hooks.log");
    joiner.edit(|c| {
        without_a_user_namespace(c);
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        for ns in namespaces.iter_mut() {
            if ns["type"] == "pid" {
                ns["path"] = json!("/proc/OWNER_PID/ns/pid");
            }
        }
        namespaces.push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400}});
        // Each hook says which pid and time namespaces it runs in.
        let hook = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {kind} ran in $(readlink /proc/self/ns/pid /proc/self/ns/time) >> {}", log.display())]});
        c["hooks"] = json!({"prestart": [hook("prestart")], "poststop": [hook("poststop")]});
    });
    let (owner, id) = (unique("rl-pidowner"), unique("rl-pidjoiner"));
    let script = format!(
        "set -e; rrun() {{ {rrun} --root {root} \"$@\"; }}
         rrun create --bundle {owner_bundle} --pid-file {dir}/owner.pid {owner}
         pid=$(cat {dir}/owner.pid)
         echo owner $(readlink /proc/$pid/ns/pid)
         echo caller $(readlink /proc/self/ns/pid /proc/self/ns/time)
         sed -i s/OWNER_PID/$pid/ {joiner}/config.json
         rrun run --bundle {joiner} {id} || echo run failed
         rrun delete -f {owner}",
        rrun = s.rrun.display(),
        root = s.state_root().display(),
        owner_bundle = owner_bundle.path(),
        dir = joiner.path(),
        joiner = joiner.path(),
    );
    let mut cmd = s.command("unshare");
    cmd.args(["--user", "--map-root-user", "--mount", "sh", "-c", &script]);
    let out = output_through_files(cmd, s.outputs.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = text.lines().collect();
    let owners = lines[0].strip_prefix("owner ").unwrap();
    let callers = lines[1].strip_prefix("caller ").unwrap();
    assert!(!callers.starts_with(owners), "{out:?}");
    assert_eq!(lines[2], owners, "{out:?}");
    // The container's clocks carry its offset, whoever made its time namespace.
    let uptime: u64 = lines[3].parse().unwrap();
    assert!(uptime >= 86400, "{out:?}");
    assert_eq!(lines.len(), 4, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("prestart ran in {callers}\npoststop ran in {callers}\n")
    );
    assert_nothing_left(&s, &owner);
    assert_nothing_left(&s, &id);
}

#[test]
fn podmans_multi_range_mappings_go_through_newuidmap() {
    let u = user("rrun-rl-a");
    let (subuid, subgid) = (u.subuid, u.subgid);
    let s = Session::new(u);
    let data = TempDir::new("rl-data");
    chown(data.path(), &s.user);
    let mut b = s.bundle(
        "cat /proc/self/uid_map /proc/self/gid_map; touch /data/f; chown 1000:1000 /data/f",
    );
    b.map_subordinate_ids(&s.user);
    let src = data.path().to_str().unwrap().to_string();
    b.edit(|c| {
        grant_capability(c, "CAP_CHOWN");
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "rw"]}),
        );
    });
    let id = unique("rl-maps");
    let out = s.run(&["run", "--bundle", b.path(), &id]);
    assert!(out.status.success(), "{out:?}");
    let maps: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let expect = |own: u32, sub: u32| {
        vec![
            vec!["0".to_string(), own.to_string(), "1".into()],
            vec!["1".to_string(), sub.to_string(), "65536".into()],
        ]
    };
    assert_eq!(maps[..2], expect(s.user.uid, subuid)[..]);
    assert_eq!(maps[2..4], expect(s.user.gid, subgid)[..]);
    // What the container's uid 1000 owns is the range's 1000th id on the host.
    let f = std::fs::metadata(data.path().join("f")).unwrap();
    assert_eq!((f.uid(), f.gid()), (subuid + 999, subgid + 999));
    assert_nothing_left(&s, &id);
}

#[test]
fn a_range_newuidmap_refuses_is_one_clear_error_and_leaves_nothing() {
    let s = Session::new(user("rrun-rl-a"));
    let mut b = s.bundle("true");
    let (uid, not_granted) = (s.user.uid, s.user.subuid + 10 * 65536);
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": uid, "size": 1},
            {"containerID": 1, "hostID": not_granted, "size": 1000}
        ]);
    });
    let id = unique("rl-refused");
    let err = s.fails(&["run", "--bundle", b.path(), &id]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("linux.uidMappings: newuidmap refused mapping")
            && err.contains(&format!("1->{not_granted} (1000)")),
        "{err}"
    );
    assert_nothing_left(&s, &id);

    // Without the helper (not installed, or not on PATH) the error names it.
    let mut s = s;
    s.env.push(("PATH".into(), "/nonexistent".into()));
    let err = s.fails(&["run", "--bundle", b.path(), &id]);
    assert!(
        err.contains("needs newuidmap (the uidmap package)"),
        "{err}"
    );
    assert_nothing_left(&s, &id);
}

#[test]
fn configs_an_ordinary_user_cannot_run_are_refused_naming_the_field() {
    let s = Session::new(user("rrun-rl-a"));
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 3] = [
        (
            "linux.namespaces: rootless container requires user namespaces",
            without_a_user_namespace,
        ),
        (
            "process.user.additionalGids: cannot set any additional groups",
            |c| {
                c["process"]["user"]["additionalGids"] = json!([10]);
            },
        ),
        (
            "cannot specify gid=5 mount option for rootless container",
            |c| {
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/dev/pts2", "type": "devpts", "source": "devpts",
                    "options": ["newinstance", "gid=5"]
                }));
            },
        ),
    ];
    for (want, change) in cases {
        let mut b = s.bundle("true");
        b.edit(change);
        let id = unique("rl-bad");
        let err = s.fails(&["run", "--bundle", b.path(), &id]);
        assert!(err.contains(want), "want {want:?}, got {err}");
        assert_nothing_left(&s, &id);
    }
}

/// Where the user has no cgroup of its own to write (this host; the guest's root
/// session), runc's rules: no limits and no cgroupsPath run without cgroups; a limit,
/// a cgroupsPath, or `--rootless false` fail, naming why; nothing is left.
#[test]
fn without_delegated_cgroups_limits_are_refused_and_nothing_is_left() {
    let s = Session::new(user("rrun-rl-a"));
    let id = unique("rl-cg");
    let mut b = s.bundle("true");
    b.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": 67108864}}));
    let err = s.fails(&["run", "--bundle", b.path(), &id]);
    assert!(
        err.contains("cannot set memory limit: container could not join or create cgroup"),
        "{err}"
    );
    assert_nothing_left(&s, &id);

    let b = s.bundle("true");
    let err = s.fails(&["--rootless", "false", "run", "--bundle", b.path(), &id]);
    assert!(
        err.contains("unable to apply cgroup configuration") && err.contains("permission denied"),
        "{err}"
    );
    assert_nothing_left(&s, &id);

    let mut b = s.bundle("true");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/rrun-test/{id}")));
    let err = s.fails(&["run", "--bundle", b.path(), &id]);
    assert!(
        err.contains("unable to apply cgroup configuration") && err.contains("permission denied"),
        "{err}"
    );
    assert_nothing_left(&s, &id);

    // pause needs the freezer cgroup: refused, and the container runs on.
    let b = s.bundle("sleep 100");
    s.ok(&["run", "-d", "--bundle", b.path(), &id]);
    let err = s.fails(&["pause", &id]);
    assert!(err.contains("cannot toggle freezer"), "{err}");
    let err = s.fails(&["update", "--pids-limit", "10", &id]);
    assert!(err.contains("cannot set pids limit"), "{err}");
    assert_eq!(s.state(&id)["status"], "running");
    s.ok(&["delete", "--force", &id]);
    assert_nothing_left(&s, &id);
}

/// CVE-2019-5736 for an ordinary user: a rootless init is dumpable (the user's own
/// `exec` into a created container needs it), so a process exec'd into the created
/// container reaches its /proc/<pid>/exe. With rrun a binary of the user's own (writable
/// by the container's root, which is the user), that must be a sealed copy.
#[test]
fn a_created_rootless_container_cannot_write_its_users_rrun_binary() {
    let s = Session::with_own_binary(user("rrun-rl-a"));
    let before = std::fs::read(&s.rrun).unwrap();
    let out_dir = TempDir::new("rl-exe-out");
    chown(out_dir.path(), &s.user);
    let mut b = s.bundle("sleep 3");
    let src = out_dir.path().to_str().unwrap().to_string();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/out", "type": "bind", "source": src, "options": ["rbind", "rw"]}),
        );
    });
    let id = unique("rl-exe");
    s.ok(&["create", "--bundle", b.path(), &id]);
    // The attacker holds the init's exe open while it is still rrun, and writes through
    // that fd once the init has exec'd the container's process (no longer "text busy").
    s.ok(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "exec 3</proc/1/exe; readlink /proc/1/exe > /out/exe; sleep 1; \
         if echo owned >> /proc/self/fd/3; then echo WROTE; else echo refused; fi > /out/result",
    ]);
    wait_until("the attacker to hold the exe", || {
        out_dir.path().join("exe").exists()
    });
    s.ok(&["start", &id]);
    wait_until("the attacker's write", || {
        std::fs::read_to_string(out_dir.path().join("result")).is_ok_and(|r| !r.is_empty())
    });
    let result = std::fs::read_to_string(out_dir.path().join("result")).unwrap();
    assert_eq!(
        result.trim(),
        "refused",
        "the container wrote its user's rrun"
    );
    assert_eq!(
        std::fs::read(&s.rrun).unwrap(),
        before,
        "the binary changed"
    );
    s.ok(&["delete", "--force", &id]);
    assert_nothing_left(&s, &id);
}

/// The attack: user B goes after user A's containers through rrun (A's state root named
/// with --root) and from inside a container of its own (A's state and another
/// container's cgroup bound in). Everything is refused by the kernel's permissions, and
/// A's container runs on untouched.
#[test]
fn one_user_can_neither_see_nor_touch_anothers_containers() {
    // Nothing of rrun is privileged: no setuid or setgid bit.
    let mode = std::fs::metadata(RRUN).unwrap().mode();
    assert_eq!(mode & 0o6000, 0, "rrun must not be setuid/setgid");
    let a = Session::new(user("rrun-rl-a"));
    let b_user = Session::new(user("rrun-rl-b"));
    let victim = a.bundle("sleep 100");
    let id = unique("rl-victim");
    a.ok(&["run", "-d", "--bundle", victim.path(), &id]);
    let a_root = a.state_root();
    let a_root = a_root.to_str().unwrap();

    // B's own list does not show A's container; A's root can't even be read.
    assert!(!b_user.ok(&["list", "-q"]).contains(&id));
    for cmd in [
        vec!["--root", a_root, "list"],
        vec!["--root", a_root, "state", &id],
        vec!["--root", a_root, "kill", &id, "KILL"],
        vec!["--root", a_root, "delete", "--force", &id],
        vec!["--root", a_root, "exec", &id, "true"],
        vec!["--root", a_root, "pause", &id],
    ] {
        let out = b_user.run(&cmd);
        assert!(!out.status.success(), "B could run {cmd:?}: {out:?}");
        assert_no_panic(&out);
        let err = messages(&String::from_utf8_lossy(&out.stderr));
        assert!(
            err.contains("permission denied") || err.contains("does not exist"),
            "{cmd:?}: {err}"
        );
    }
    // B's container binds A's state root: the kernel refuses the source.
    let mut thief = b_user.bundle("ls /stolen");
    let src = a_root.to_string();
    thief.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/stolen", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
        );
    });
    let thief_id = unique("rl-thief");
    let out = b_user.run(&["run", "--bundle", thief.path(), &thief_id]);
    assert!(
        !out.status.success(),
        "B's container read A's state: {out:?}"
    );
    assert_nothing_left(&b_user, &thief_id);

    // B's container with the host's cgroup tree bound read-write, root inside: it can't
    // move itself into A's container's cgroup, nor change a cgroup limit of root's.
    let rt = Runtime::new();
    let rooted = Bundle::sh("sleep 100");
    let rooted_id = running(&rt, &rooted, "rl-rooted");
    let rooted_cg = cgroup_dirs_named(&rooted_id);
    assert!(!rooted_cg.is_empty());
    let target = rooted_cg
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
        .unwrap_or(&rooted_cg[0])
        .clone();
    let mut climber = b_user.bundle(&format!(
        "echo $$ > /hostcg/{t}/cgroup.procs && echo ESCAPED; echo 1 > /hostcg/{t}/pids.max && echo WROTE; true",
        t = target.strip_prefix("/sys/fs/cgroup").unwrap().display()
    ));
    climber.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/hostcg", "type": "bind", "source": "/sys/fs/cgroup",
            "options": ["rbind", "rw"]
        }));
    });
    let climber_id = unique("rl-climber");
    let out = b_user.run(&["run", "--bundle", climber.path(), &climber_id]);
    let text = stdout(&out);
    assert!(
        !text.contains("ESCAPED") && !text.contains("WROTE"),
        "B's container wrote root's cgroup: {out:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Permission denied") || err.contains("Read-only"),
        "{out:?}"
    );
    rt.ok(&["delete", "--force", &rooted_id]);

    assert_eq!(
        a.state(&id)["status"],
        "running",
        "A's container was touched"
    );
    a.ok(&["delete", "--force", &id]);
    assert_nothing_left(&a, &id);
}

/// The user's own systemd instance, started for it (`loginctl enable-linger`), with its
/// bus; None where systemd is not PID 1 (this host: `make test-systemd` runs it).
fn user_systemd_session(name: &str) -> Option<Session> {
    if !Path::new("/run/systemd/system").exists() {
        assert!(
            std::env::var_os("RRUN_EXPECT_SYSTEMD").is_none(),
            "RRUN_EXPECT_SYSTEMD is set, but systemd is not running"
        );
        eprintln!("skipped: systemd is not PID 1 here (make test-systemd runs this in a guest)");
        return None;
    }
    let u = user(name);
    let out = Command::new("loginctl")
        .args(["enable-linger", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "loginctl enable-linger: {out:?}");
    let runtime_dir = PathBuf::from(format!("/run/user/{}", u.uid));
    let bus = runtime_dir.join("bus");
    // The user's manager starts in the background: under TCG it takes a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !bus.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the user's systemd made no {}",
            bus.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut s = Session::in_runtime_dir(u, runtime_dir);
    s.env.push((
        "DBUS_SESSION_BUS_ADDRESS".into(),
        format!("unix:path={}", bus.display()),
    ));
    Some(s)
}

/// `systemctl --user show -p PROP --value UNIT` as the session's user.
fn user_unit_property(s: &Session, unit: &str, prop: &str) -> String {
    let out = s
        .command("systemctl")
        .args(["--user", "show", "-p", prop, "--value", unit])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// With `--systemd-cgroup` the container is a scope of the user's own systemd, in the
/// cgroup subtree user@.service delegates: limits apply, systemd knows them, pause and
/// update work, and delete leaves nothing. On cgroup v1 (no subtree for the user) the
/// driver is refused, as runc refuses it.
#[test]
fn with_the_users_systemd_delegated_limits_apply() {
    let Some(s) = user_systemd_session("rrun-rl-sd") else {
        return;
    };
    let id = unique("rl-sd");
    let mut b = s.bundle("exec sleep 100");
    b.edit(|c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}});
    });
    if !cgroup_v2() {
        let err = s.fails(&["--systemd-cgroup", "run", "-d", "--bundle", b.path(), &id]);
        assert!(
            err.contains("cannot use rootless systemd cgroups manager on cgroup v1"),
            "{err}"
        );
        assert_nothing_left(&s, &id);
        return;
    }
    s.ok(&["--systemd-cgroup", "run", "-d", "--bundle", b.path(), &id]);
    let unit = format!("runc-{id}.scope");
    assert_eq!(user_unit_property(&s, &unit, "ActiveState"), "active");
    assert_eq!(user_unit_property(&s, &unit, "MemoryMax"), "67108864");
    assert_eq!(user_unit_property(&s, &unit, "TasksMax"), "50");
    let limits = s.ok(&[
        "exec",
        &id,
        "cat",
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(
        limits.split_whitespace().collect::<Vec<_>>(),
        ["67108864", "50"]
    );
    // The scope is in the user's delegated subtree, below its manager's cgroup.
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", s.state(&id)["pid"])).unwrap();
    let manager = format!(
        "/user.slice/user-{uid}.slice/user@{uid}.service/",
        uid = s.user.uid
    );
    assert!(
        cgroup.contains(&format!("{manager}user.slice/{unit}")),
        "{cgroup}"
    );

    s.ok(&["--systemd-cgroup", "pause", &id]);
    assert_eq!(s.state(&id)["status"], "paused");
    s.ok(&["--systemd-cgroup", "resume", &id]);
    assert_eq!(s.state(&id)["status"], "running");
    s.ok(&["--systemd-cgroup", "update", "--pids-limit", "60", &id]);
    assert_eq!(
        s.ok(&["exec", &id, "cat", "/sys/fs/cgroup/pids.max"])
            .trim(),
        "60"
    );
    assert_eq!(user_unit_property(&s, &unit, "TasksMax"), "60");
    let pids: Vec<i32> = serde_json::from_str(&s.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");

    s.ok(&["--systemd-cgroup", "delete", "--force", &id]);
    wait_until("the user's systemd to unload the scope", || {
        user_unit_property(&s, &unit, "LoadState") == "not-found"
    });
    assert_nothing_left(&s, &id);
}
