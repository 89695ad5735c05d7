//! Kubernetes pods as the CRI writes them (issue 18): a sandbox (pause) container owns the
//! pod's network, IPC and UTS namespaces; app containers join them by path, with their own
//! pid and mount namespaces or the sandbox's pid namespace; with `hostUsers: false` every
//! container of the pod is in one user namespace, and volumes come through idmapped mounts.
//!
//! The configs follow what containerd 2's CRI plugin and CRI-O generate (their
//! `sandboxContainerSpec`/`WithPodNamespaces` and `ConfigureGeneratorGivenNamespacePaths`):
//! - containerd: the CRI pins the network namespace (and, for a user-namespaced pod, the
//!   user namespace that owns it) to files; the sandbox joins those and makes new pid, ipc,
//!   uts and mount namespaces; apps join `/proc/<sandbox pid>/ns/{net,ipc,uts}` (and
//!   `ns/pid` when the pod shares it, `ns/user` with the mappings repeated).
//! - CRI-O: `pinns` pins net, ipc, uts (and user) to files; the sandbox and every app join
//!   those files; a shared pid namespace is the sandbox's `/proc/<pid>/ns/pid`.
//!
//! Cgroups are nested as the kubelet nests them: `<pod cgroup>/<container id>` with the
//! cgroupfs driver (here), `kubepods-<qos>-pod<uid>.slice:<prefix>:<id>` with systemd's
//! (integration/systemd.rs).

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The CRI implementation whose config shapes a pod takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cri {
    Containerd,
    CriO,
}

/// What the CRI asks for the pod.
#[derive(Clone, Copy, Debug)]
pub struct PodShape {
    pub cri: Cri,
    /// `hostUsers: false`: the pod's 65536 ids from host id 100000.
    pub userns: bool,
    /// `shareProcessNamespace: true`.
    pub shared_pid: bool,
    /// The kubelet's and the CRI's systemd cgroup driver (`--systemd-cgroup`): the pod is
    /// a slice, `kubepods-besteffort-pod<uid>.slice`, its containers scopes in it.
    pub systemd: bool,
}

impl PodShape {
    /// A `hostUsers: false` pod of `cri`'s, with the cgroupfs driver and no shared pid
    /// namespace.
    pub fn user_namespaced(cri: Cri) -> Self {
        PodShape {
            cri,
            userns: true,
            shared_pid: false,
            systemd: false,
        }
    }
}

pub const POD_HOST_ID: u32 = 100000;
const POD_HOSTNAME: &str = "pod-host";
const POD_ADDRESS: &str = "10.88.0.7";

fn pod_mappings() -> Value {
    json!([{"containerID": 0, "hostID": POD_HOST_ID, "size": 65536}])
}

/// Namespaces the CRI made before the sandbox, each bind-mounted on a file (as
/// containerd's netns/userns pinning and CRI-O's pinns do); unmounted on drop.
pub struct PinnedNamespaces {
    dir: TempDir,
    pinned: Vec<PathBuf>,
}

impl PinnedNamespaces {
    /// `kinds` among net, ipc, uts; with `userns`, all of them made inside a new user
    /// namespace with the pod's mappings (which then owns them) and that one pinned too.
    pub fn new(kinds: &[&str], userns: bool) -> Self {
        let dir = TempDir::new("rrun-pins");
        let mut flags: Vec<&str> = kinds
            .iter()
            .map(|k| match *k {
                "net" => "-n",
                "ipc" => "-i",
                "uts" => "-u",
                other => panic!("no pinning of {other}"),
            })
            .collect();
        if userns {
            flags.push("-U");
        }
        // busybox's unshare, here and in the v2 guest alike; it execs sleep in place.
        let mut holder = std::process::Command::new("/bin/busybox")
            .arg("unshare")
            .args(&flags)
            .args(["sleep", "1000"])
            .spawn()
            .unwrap();
        let pid = holder.id();
        let first = if userns { "user" } else { kinds[0] };
        wait_until("the CRI's namespaces to exist", || {
            std::fs::read_link(format!("/proc/{pid}/ns/{first}")).ok()
                != std::fs::read_link(format!("/proc/self/ns/{first}")).ok()
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
        });
        if userns {
            let map = format!("0 {POD_HOST_ID} 65536\n");
            std::fs::write(format!("/proc/{pid}/uid_map"), &map).unwrap();
            std::fs::write(format!("/proc/{pid}/gid_map"), &map).unwrap();
        }
        let mut pinned = Vec::new();
        for kind in kinds.iter().chain(userns.then_some(&"user")) {
            let file = dir.path().join(format!("{kind}ns"));
            std::fs::write(&file, "").unwrap();
            nix::mount::mount(
                Some(Path::new(&format!("/proc/{pid}/ns/{kind}"))),
                &file,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .unwrap();
            pinned.push(file);
        }
        holder.kill().unwrap();
        holder.wait().unwrap();
        PinnedNamespaces { dir, pinned }
    }

    pub fn path(&self, kind: &str) -> String {
        self.dir
            .path()
            .join(format!("{kind}ns"))
            .display()
            .to_string()
    }
}

impl Drop for PinnedNamespaces {
    fn drop(&mut self) {
        for file in &self.pinned {
            let _ = nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// One pod: its pinned namespaces, the sandbox, and the files the CRI shares with apps.
pub struct Pod {
    pub shape: PodShape,
    pub pins: PinnedNamespaces,
    /// The pod's cgroup, as the kubelet names it: `/kubepods/besteffort/pod<uid>`, or
    /// with systemd `kubepods-besteffort-pod<uid>.slice`.
    pub cgroup_parent: String,
    pub sandbox_id: String,
    pub sandbox_pid: i64,
    /// What the CRI keeps per sandbox: /dev/shm, hostname, resolv.conf.
    pub files: TempDir,
    _sandbox: Bundle,
}

impl Pod {
    /// Pins what the CRI pins, makes the pod's cgroup as the kubelet does, and creates and
    /// starts the sandbox. Its address is on the pod's loopback, set from outside as a
    /// CNI plugin would.
    pub fn start(rt: &Runtime, shape: PodShape) -> Self {
        let kinds: &[&str] = match shape.cri {
            Cri::Containerd => &["net"],
            Cri::CriO => &["net", "ipc", "uts"],
        };
        let pins = PinnedNamespaces::new(kinds, shape.userns);
        let uid = unique("pod");
        let cgroup_parent = if shape.systemd {
            // A dash in a slice's name nests it: the kubelet writes the pod uid's with "_".
            let slice = format!("kubepods-besteffort-{}.slice", uid.replace('-', "_"));
            start_pod_slice(&slice);
            slice
        } else {
            let parent = format!("/kubepods/besteffort/{uid}");
            make_pod_cgroup(&parent);
            parent
        };
        let files = TempDir::new("rrun-pod-files");
        std::fs::create_dir(files.path().join("shm")).unwrap();
        std::fs::write(files.path().join("hostname"), format!("{POD_HOSTNAME}\n")).unwrap();
        std::fs::write(files.path().join("resolv.conf"), "nameserver 10.96.0.10\n").unwrap();
        let sandbox_id = format!("{uid}-sandbox");
        let mut sandbox = Bundle::new(&["sleep", "1000"]);
        let pins_ref = &pins;
        let parent = cgroup_parent.clone();
        let shm = files.path().join("shm").display().to_string();
        let resolv = files.path().join("resolv.conf").display().to_string();
        let id = sandbox_id.clone();
        sandbox.edit(|c| {
            let mut ns = vec![json!({"type": "pid"}), json!({"type": "mount"})];
            ns.push(json!({"type": "network", "path": pins_ref.path("net")}));
            match shape.cri {
                Cri::Containerd => {
                    ns.push(json!({"type": "ipc"}));
                    ns.push(json!({"type": "uts"}));
                }
                Cri::CriO => {
                    ns.push(json!({"type": "ipc", "path": pins_ref.path("ipc")}));
                    ns.push(json!({"type": "uts", "path": pins_ref.path("uts")}));
                }
            }
            if shape.userns {
                ns.push(json!({"type": "user", "path": pins_ref.path("user")}));
                c["linux"]["uidMappings"] = pod_mappings();
                c["linux"]["gidMappings"] = pod_mappings();
            }
            c["linux"]["namespaces"] = json!(ns);
            c["hostname"] = json!(POD_HOSTNAME);
            c["root"]["readonly"] = json!(true);
            c["linux"]["cgroupsPath"] = json!(cgroups_path(shape, &parent, &id));
            c["linux"]["resources"]["cpu"] = json!({"shares": 2});
            // containerd's -998, clamped to what the CRI may set (its
            // restrict_oom_score_adj): this host's root lacks CAP_SYS_RESOURCE.
            c["process"]["oomScoreAdj"] = json!(own_oom_score_adj().max(-998));
            c["annotations"] = json!({
                "io.kubernetes.cri.container-type": "sandbox",
                "io.kubernetes.cri.sandbox-id": id,
            });
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| m["destination"] != "/dev/shm");
            for (source, destination) in [(&shm, "/dev/shm"), (&resolv, "/etc/resolv.conf")] {
                mounts.push(json!({
                    "destination": destination, "type": "bind", "source": source,
                    "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
                }));
            }
        });
        std::fs::write(sandbox.rootfs().join("etc/resolv.conf"), "").unwrap();
        create(rt, shape, &sandbox, &sandbox_id);
        rt.ok(&["start", &sandbox_id]);
        let sandbox_pid = rt.state(&sandbox_id)["pid"].as_i64().unwrap();
        // The CNI plugin's part: the pod's address, on the pod's own loopback.
        let net = format!("--net={}", pins.path("net"));
        for ip_args in [
            vec!["addr", "add", &format!("{POD_ADDRESS}/32"), "dev", "lo"],
            vec!["link", "set", "lo", "up"],
        ] {
            let out = std::process::Command::new("/bin/busybox")
                .args(["nsenter", &net, "/bin/busybox", "ip"])
                .args(ip_args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        Pod {
            shape,
            pins,
            cgroup_parent,
            sandbox_id,
            sandbox_pid,
            files,
            _sandbox: sandbox,
        }
    }

    /// An app container's bundle as the CRI writes it for this pod, running `script`.
    pub fn app(&self, id: &str, script: &str) -> Bundle {
        let mut b = Bundle::sh(script);
        let ns_path = |kind: &str| match self.shape.cri {
            Cri::Containerd => format!("/proc/{}/ns/{kind}", self.sandbox_pid),
            Cri::CriO => self.pins.path(kind),
        };
        let shape = self.shape;
        let sandbox_ns = |kind: &str| format!("/proc/{}/ns/{kind}", self.sandbox_pid);
        let parent = &self.cgroup_parent;
        let files = self.files.path();
        let sandbox_id = &self.sandbox_id;
        b.edit(|c| {
            let mut ns = vec![
                json!({"type": "mount"}),
                json!({"type": "network", "path": ns_path("net")}),
                json!({"type": "ipc", "path": ns_path("ipc")}),
                json!({"type": "uts", "path": ns_path("uts")}),
            ];
            ns.push(if shape.shared_pid {
                json!({"type": "pid", "path": sandbox_ns("pid")})
            } else {
                json!({"type": "pid"})
            });
            // Both CRIs give an app a cgroup namespace on a cgroup v2 host.
            if cgroup_v2() {
                ns.push(json!({"type": "cgroup"}));
            }
            if shape.userns {
                let user = match shape.cri {
                    Cri::Containerd => sandbox_ns("user"),
                    Cri::CriO => self.pins.path("user"),
                };
                ns.push(json!({"type": "user", "path": user}));
                c["linux"]["uidMappings"] = pod_mappings();
                c["linux"]["gidMappings"] = pod_mappings();
            }
            c["linux"]["namespaces"] = json!(ns);
            c.as_object_mut().unwrap().remove("hostname");
            // The kubelet's score for a best-effort pod's containers.
            c["process"]["oomScoreAdj"] = json!(1000);
            c["linux"]["cgroupsPath"] = json!(cgroups_path(shape, parent, id));
            c["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!(format!("HOSTNAME={POD_HOSTNAME}")));
            c["annotations"] = json!({
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.sandbox-id": sandbox_id,
                "io.kubernetes.cri.container-name": id,
            });
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| m["destination"] != "/dev/shm");
            for (name, destination, mode) in [
                ("shm", "/dev/shm", "rw"),
                ("hostname", "/etc/hostname", "ro"),
                ("resolv.conf", "/etc/resolv.conf", "ro"),
            ] {
                mounts.push(json!({
                    "destination": destination, "type": "bind",
                    "source": files.join(name).display().to_string(),
                    "options": ["rbind", "rprivate", mode],
                }));
            }
        });
        for file in ["hostname", "resolv.conf"] {
            std::fs::write(b.rootfs().join("etc").join(file), "").unwrap();
        }
        b
    }

    /// The namespace a pod process is in, as readlink shows it (`net:[4026532...]`).
    pub fn sandbox_ns(&self, kind: &str) -> String {
        std::fs::read_link(format!("/proc/{}/ns/{kind}", self.sandbox_pid))
            .unwrap()
            .display()
            .to_string()
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if self.shape.systemd {
            let _ = std::process::Command::new("systemctl")
                .args(["stop", &self.cgroup_parent])
                .output();
        } else {
            remove_pod_cgroup(&self.cgroup_parent);
        }
    }
}

/// The CRI's cgroupsPath for container `id` of the pod whose cgroup is `parent`.
fn cgroups_path(shape: PodShape, parent: &str, id: &str) -> String {
    let prefix = match shape.cri {
        Cri::Containerd => "cri-containerd",
        Cri::CriO => "crio",
    };
    match (shape.systemd, shape.cri) {
        (true, _) => format!("{parent}:{prefix}:{id}"),
        (false, Cri::Containerd) => format!("{parent}/{id}"),
        (false, Cri::CriO) => format!("{parent}/{prefix}-{id}"),
    }
}

/// `rrun create`, with the pod's cgroup driver.
pub fn create(rt: &Runtime, shape: PodShape, b: &Bundle, id: &str) {
    let mut args = vec![];
    if shape.systemd {
        args.push("--systemd-cgroup");
    }
    args.extend(["create", "--bundle", b.path().to_str().unwrap(), id]);
    rt.ok(&args);
}

/// The kubelet's part with systemd: the pod's slice, a transient unit it starts (its
/// parents, kubepods.slice and kubepods-besteffort.slice, come with it).
fn start_pod_slice(slice: &str) {
    let out = std::process::Command::new("busctl")
        .args([
            "call",
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            "ssa(sv)a(sa(sv))",
            slice,
            "replace",
            "1",
            "Description",
            "s",
            "kubelet's pod slice (rrun test)",
            "0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    wait_until(&format!("{slice} to be active"), || {
        std::process::Command::new("systemctl")
            .args(["is-active", "-q", slice])
            .status()
            .is_ok_and(|s| s.success())
    });
}

fn own_oom_score_adj() -> i64 {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Every cgroup hierarchy mounted under /sys/fs/cgroup: v1 controllers, the v2 tree, or
/// both (not the binds of a container that shares the host's mounts, which a test beside
/// this one may run).
fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let mountpoint = left.split(' ').nth(4)?;
            let wanted =
                fstype == "cgroup2" || (fstype == "cgroup" && !right.contains("name=systemd"));
            let hosts = Path::new(mountpoint).starts_with("/sys/fs/cgroup");
            (wanted && hosts).then(|| PathBuf::from(mountpoint))
        })
        .collect()
}

/// The kubelet's part: the pod's cgroup exists, in every hierarchy, before any container.
fn make_pod_cgroup(parent: &str) {
    for m in cgroup_mounts() {
        std::fs::create_dir_all(m.join(parent.trim_start_matches('/'))).unwrap();
    }
}

/// The kubelet's again, once the pod is gone; the pod's cgroup must be empty by then.
fn remove_pod_cgroup(parent: &str) {
    for m in cgroup_mounts() {
        let dir = m.join(parent.trim_start_matches('/'));
        let _ = std::fs::remove_dir(&dir);
        for up in ["besteffort", ""] {
            let _ = std::fs::remove_dir(m.join("kubepods").join(up));
        }
    }
}

/// The cgroup (v2, or v1 memory) path of `pid` as the host sees it.
fn host_cgroup(pid: i64) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find(|l| {
            let ctrl = l.split(':').nth(1).unwrap_or("");
            if cgroup_v2() {
                l.starts_with("0::")
            } else {
                ctrl.split(',').any(|c| c == "memory")
            }
        })
        .and_then(|l| l.splitn(3, ':').nth(2))
        .unwrap()
        .to_string()
}

/// Subdirectories of the pod's cgroup, in the hierarchy `host_cgroup` reads.
fn pod_cgroup_children(parent: &str) -> Vec<String> {
    let base = cgroup_mounts()
        .into_iter()
        .find(|m| {
            if cgroup_v2() {
                m == Path::new("/sys/fs/cgroup")
            } else {
                m.file_name().unwrap().to_string_lossy().contains("memory")
            }
        })
        .unwrap();
    let mut out: Vec<String> = std::fs::read_dir(base.join(parent.trim_start_matches('/')))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

pub fn start_app(rt: &Runtime, pod: &Pod, id: &str, script: &str) -> (Bundle, i64) {
    let app = pod.app(id, script);
    create(rt, pod.shape, &app, id);
    rt.ok(&["start", id]);
    let pid = rt.state(id)["pid"].as_i64().unwrap();
    (app, pid)
}

fn ns_of(pid: i64, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

fn wait_stopped(rt: &Runtime, id: &str) {
    wait_until(&format!("{id} to stop"), || {
        rt.state(id)["status"] == "stopped"
    });
}

fn containerd_pod() -> PodShape {
    PodShape {
        cri: Cri::Containerd,
        userns: false,
        shared_pid: false,
        systemd: false,
    }
}

/// What an app prints of its pod: hostname, the pod's address, the sandbox's message
/// queue, its own pid, and pid 1's name.
const POD_VIEW: &str = "hostname; ip -4 addr show lo | grep -o 10.88.0.7; ls /dev/mqueue; echo $$; cat /proc/1/comm; true";

/// containerd's pod: apps share the sandbox's network (its address), IPC (a message
/// queue the sandbox made) and UTS (its hostname), keep pid trees of their own, live in
/// the pod's cgroup, can be exec'd into and restarted while the sandbox lives; the sandbox
/// is deleted last and nothing of the pod is left.
#[test]
fn a_containerd_pod_shares_net_ipc_and_uts_and_keeps_its_pid_trees_apart() {
    let rt = Runtime::new();
    let before_pod = HostSnapshot::take();
    let pod = Pod::start(&rt, containerd_pod());
    rt.ok(&["exec", &pod.sandbox_id, "touch", "/dev/mqueue/pod-queue"]);

    // A one-shot app: what it sees from inside.
    let once_id = format!("{}-once", pod.sandbox_id);
    let once = pod.app(&once_id, POD_VIEW);
    let out = rt.run(&["run", "--bundle", once.path().to_str().unwrap(), &once_id]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pod-host\n10.88.0.7\npod-queue\n1\nsh\n",
        "its own pid tree, the pod's hostname, address and IPC"
    );

    // A long-running app: its namespaces and cgroup as the host sees them.
    let app_id = format!("{}-app", pod.sandbox_id);
    let (_app, app_pid) = start_app(&rt, &pod, &app_id, "sleep 1000");
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(ns_of(app_pid, kind), pod.sandbox_ns(kind), "{kind}");
    }
    for kind in ["pid", "mnt"] {
        assert_ne!(ns_of(app_pid, kind), pod.sandbox_ns(kind), "{kind}");
    }
    assert_eq!(
        host_cgroup(app_pid),
        format!("{}/{app_id}", pod.cgroup_parent)
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{app_pid}/oom_score_adj")).unwrap(),
        "1000\n"
    );
    assert_eq!(
        host_cgroup(pod.sandbox_pid),
        format!("{}/{}", pod.cgroup_parent, pod.sandbox_id)
    );
    // A probe, as the kubelet's exec probes run.
    assert_eq!(
        rt.ok(&["exec", &app_id, "sh", "-c", "hostname; ls /dev/mqueue"]),
        "pod-host\npod-queue\n"
    );

    // The app restarts (killed, deleted, created again) while the sandbox lives.
    rt.ok(&["kill", &app_id, "KILL"]);
    wait_stopped(&rt, &app_id);
    rt.ok(&["delete", &app_id]);
    assert_eq!(
        pod_cgroup_children(&pod.cgroup_parent),
        std::slice::from_ref(&pod.sandbox_id)
    );
    let (_app, again) = start_app(&rt, &pod, &app_id, "sleep 1000");
    assert_ne!(again, app_pid);
    assert_eq!(ns_of(again, "net"), pod.sandbox_ns("net"));
    assert_eq!(rt.ok(&["exec", &app_id, "hostname"]), "pod-host\n");

    // The kubelet's order: apps, then the sandbox.
    rt.ok(&["delete", "--force", &app_id]);
    rt.ok(&["delete", "--force", &pod.sandbox_id]);
    let sandbox_id = pod.sandbox_id.clone();
    drop(pod);
    for id in [&once_id, &app_id, &sandbox_id] {
        assert_no_leftovers(&rt, id, &before_pod);
    }
}

/// CRI-O's pod, with `shareProcessNamespace`: the sandbox and apps join the namespaces
/// pinns pinned, and the sandbox's pid namespace: one process tree, the pause process
/// its pid 1. Deleting the sandbox first ends the apps with it (the kernel kills a pid
/// namespace with its pid 1); they are then stopped and delete cleanly.
#[test]
fn a_cri_o_pod_with_a_shared_pid_namespace_has_one_process_tree() {
    let rt = Runtime::new();
    let before_pod = HostSnapshot::take();
    let pod = Pod::start(
        &rt,
        PodShape {
            cri: Cri::CriO,
            userns: false,
            shared_pid: true,
            systemd: false,
        },
    );
    rt.ok(&["exec", &pod.sandbox_id, "touch", "/dev/mqueue/pod-queue"]);
    let app_id = format!("{}-app", pod.sandbox_id);
    let (_app, app_pid) = start_app(&rt, &pod, &app_id, "sleep 1000");
    for kind in ["net", "ipc", "uts", "pid"] {
        assert_eq!(ns_of(app_pid, kind), pod.sandbox_ns(kind), "{kind}");
    }
    assert_ne!(ns_of(app_pid, "mnt"), pod.sandbox_ns("mnt"));

    let once_id = format!("{}-once", pod.sandbox_id);
    let once = pod.app(&once_id, &format!("{POD_VIEW}; ps -o comm | grep -c sleep"));
    let out = rt.run(&["run", "--bundle", once.path().to_str().unwrap(), &once_id]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        ["pod-host", "10.88.0.7", "pod-queue"],
        "{stdout}"
    );
    assert_ne!(
        lines[3], "1",
        "the app is not pid 1 of the pod's pid namespace"
    );
    assert_eq!(lines[4], "sleep", "pid 1 is the sandbox's pause process");
    assert_eq!(
        lines[5], "2",
        "the sandbox's and the other app's process: {stdout}"
    );
    assert_eq!(
        rt.ok(&["exec", &app_id, "cat", "/proc/1/comm"]),
        "sleep\n",
        "exec'd processes see the pod's tree too"
    );

    // The sandbox first: the app goes with the pod's pid namespace.
    rt.ok(&["delete", "--force", &pod.sandbox_id]);
    wait_stopped(&rt, &app_id);
    rt.ok(&["delete", &app_id]);
    let sandbox_id = pod.sandbox_id.clone();
    drop(pod);
    for id in [&once_id, &app_id, &sandbox_id] {
        assert_no_leftovers(&rt, id, &before_pod);
    }
}

/// A pod with `hostUsers: false`, as containerd 2 and CRI-O make it: the sandbox joins
/// the user namespace the CRI made with the pod's mapping (and the network namespace it
/// owns), apps join it and make their own pid, mount (and on v2 cgroup) namespaces
/// inside. Inside, root is 0; outside it is the pod's host id. The sandbox is deleted
/// first: apps with pid trees of their own outlive it.
#[test]
fn a_user_namespaced_pod_is_root_inside_and_the_pods_ids_outside() {
    for cri in [Cri::Containerd, Cri::CriO] {
        user_namespaced_pod(cri, false);
    }
}

/// The same pod's volume: a host directory through an idmapped mount (runtime-spec 1.1
/// mount mappings, the pod's), with its real owners inside, and what the app writes there
/// lands with the host owner it has inside. (Named for the v2 guest's skip of idmapped
/// tests: its tmpfs root can't be idmapped on Linux 6.1.)
#[test]
fn idmapped_volume_of_a_user_namespaced_pod_shows_and_writes_real_owners() {
    for cri in [Cri::Containerd, Cri::CriO] {
        user_namespaced_pod(cri, true);
    }
}

/// An app's idmapped volume keeps its host mount's read-only and nosuid for the app's
/// root, CAP_SYS_ADMIN and all: the app joins the pod's user namespace and makes its
/// mount namespace there, and rrun detaches the volume from inside that namespace once
/// the init asks ("mountsourcesplease"), so the copy carries the flags the kernel locks.
/// Detached in rrun's own namespace before the clone, it carried none, and the app made
/// the host's read-only mount writable and wrote to it. (Named for the v2 guest's skip of
/// idmapped tests.)
#[test]
fn idmapped_volume_of_a_user_namespaced_pod_keeps_its_host_mounts_locked_flags() {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    let rt = Runtime::new();
    let pod = Pod::start(&rt, PodShape::user_namespaced(Cri::Containerd));
    // A directory of the root filesystem (idmappable on the guests' 6.1 kernels, where
    // tmpfs is not), bound onto itself read-only and nosuid.
    let vol = TempDir::new(&format!("{HOST_MOUNT_FIXTURE}pod-locked"));
    std::fs::set_permissions(
        vol.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let bind = |flags| {
        mount(
            Some(vol.path()),
            vol.path(),
            None::<&str>,
            flags,
            None::<&str>,
        )
    };
    bind(MsFlags::MS_BIND).unwrap();
    bind(MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID).unwrap();
    let app_id = format!("{}-app", pod.sandbox_id);
    let mut app = pod.app(
        &app_id,
        "mount -o remount,bind,rw /data 2>/dev/null && echo made-writable
         touch /data/written 2>/dev/null && echo wrote
         mount -o remount,bind,suid /data 2>/dev/null && echo made-suid
         grep ' /data ' /proc/self/mounts | cut -d' ' -f4 | tr , '\\n' | grep -x 'ro\\|rw\\|nosuid'",
    );
    std::fs::create_dir(app.rootfs().join("data")).unwrap();
    let source = vol.path().display().to_string();
    app.edit(|c| {
        grant_capability(c, "CAP_SYS_ADMIN");
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": source,
            "options": ["rbind"],
            "uidMappings": pod_mappings(), "gidMappings": pod_mappings(),
        }));
    });
    let out = rt.run_with(&app, &app_id, &[]);
    let written = vol.path().join("written").exists();
    umount2(vol.path(), MntFlags::MNT_DETACH).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ro\nnosuid\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!written, "the app wrote to the host's read-only mount");
}

fn user_namespaced_pod(cri: Cri, volume: bool) {
    let rt = Runtime::new();
    let before_pod = HostSnapshot::take();
    let pod = Pod::start(&rt, PodShape::user_namespaced(cri));
    let vol = TempDir::new("rrun-pod-volume");
    let app_id = format!("{}-app", pod.sandbox_id);
    let mut script = "id -u; hostname; echo $$".to_string();
    let mut app = pod.app(&app_id, "");
    if volume {
        std::fs::write(vol.path().join("f"), "x").unwrap();
        std::os::unix::fs::chown(vol.path().join("f"), Some(1000), Some(1000)).unwrap();
        std::fs::create_dir(vol.path().join("u1234")).unwrap();
        std::os::unix::fs::chown(vol.path().join("u1234"), Some(1234), Some(1234)).unwrap();
        std::fs::create_dir(app.rootfs().join("data")).unwrap();
        let source = vol.path().display().to_string();
        app.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data", "type": "bind", "source": source,
                "options": ["rbind", "rw"],
                "uidMappings": pod_mappings(), "gidMappings": pod_mappings(),
            }));
        });
        script.push_str("; stat -c %u:%g /data/f; touch /data/by-root");
    }
    script.push_str("; sleep 1000");
    app.edit(|c| c["process"]["args"] = json!(["sh", "-c", script]));
    let log = TempDir::new("rrun-pod-out");
    let out_file = std::fs::File::create(log.path().join("out")).unwrap();
    let status = rt
        .cmd()
        .args([
            "run",
            "-d",
            "--bundle",
            app.path().to_str().unwrap(),
            &app_id,
        ])
        .stdout(out_file)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{cri:?}: run -d failed");
    let app_pid = rt.state(&app_id)["pid"].as_i64().unwrap();
    let expected = if volume {
        "0\npod-host\n1\n1000:1000\n"
    } else {
        "0\npod-host\n1\n"
    };
    wait_until("the app's output", || {
        std::fs::read_to_string(log.path().join("out"))
            .is_ok_and(|o| o.lines().count() == expected.lines().count())
    });
    assert_eq!(
        std::fs::read_to_string(log.path().join("out")).unwrap(),
        expected,
        "{cri:?}: root inside, the pod's hostname, its own pid tree (the volume's owners)"
    );
    assert_eq!(ns_of(app_pid, "user"), pod.sandbox_ns("user"), "{cri:?}");
    assert_eq!(ns_of(app_pid, "net"), pod.sandbox_ns("net"), "{cri:?}");
    assert_ne!(ns_of(app_pid, "pid"), pod.sandbox_ns("pid"), "{cri:?}");
    if cgroup_v2() {
        // Its own cgroup namespace too, made inside the pod's user namespace.
        assert_ne!(
            ns_of(app_pid, "cgroup"),
            pod.sandbox_ns("cgroup"),
            "{cri:?}"
        );
        let inside = rt.ok(&["exec", &app_id, "cat", "/proc/self/cgroup"]);
        assert_eq!(
            inside, "0::/\n",
            "{cri:?}: its cgroup is its namespace's root"
        );
    }
    let status = std::fs::read_to_string(format!("/proc/{app_pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().nth(1),
        Some(POD_HOST_ID.to_string().as_str()),
        "{cri:?}: {uid}"
    );
    assert_eq!(rt.ok(&["exec", &app_id, "id", "-u"]), "0\n", "{cri:?}");
    if volume {
        rt.ok(&[
            "exec",
            "--user",
            "1234:1234",
            &app_id,
            "touch",
            "/data/u1234/f",
        ]);
        use std::os::unix::fs::MetadataExt;
        for (file, owner) in [("by-root", 0), ("u1234/f", 1234)] {
            let m = std::fs::metadata(vol.path().join(file)).unwrap();
            assert_eq!((m.uid(), m.gid()), (owner, owner), "{cri:?}: {file}");
        }
    }
    // No intermediate process (for the pid namespace inside the joined user namespace)
    // outlived create.
    let left: Vec<i32> = processes_mentioning(&app_id);
    assert!(left.is_empty(), "{cri:?}: left behind: {left:?}");

    rt.ok(&["delete", "--force", &pod.sandbox_id]);
    assert_eq!(rt.state(&app_id)["status"], "running", "{cri:?}");
    rt.ok(&["delete", "--force", &app_id]);
    let sandbox_id = pod.sandbox_id.clone();
    drop(pod);
    for id in [&app_id, &sandbox_id] {
        assert_no_leftovers(&rt, id, &before_pod);
    }
}

/// The mappings an app repeats must be the pod's: runc's error otherwise, and nothing of
/// the app is left.
#[test]
fn an_app_whose_mappings_are_not_the_pods_is_refused_and_leaves_nothing() {
    let rt = Runtime::new();
    let pod = Pod::start(&rt, PodShape::user_namespaced(Cri::CriO));
    let before = HostSnapshot::take();
    let app_id = format!("{}-app", pod.sandbox_id);
    let mut app = pod.app(&app_id, "true");
    app.edit(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let out = rt.run(&["run", "--bundle", app.path().to_str().unwrap(), &app_id]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        messages(&String::from_utf8_lossy(&out.stderr)),
        "run: user namespaces enabled, but both namespace path and non-matching mapping specified -- you may only provide one\n"
    );
    assert_no_leftovers(&rt, &app_id, &before);
    // The matching mappings pass, with runc's warning.
    let app = pod.app(&app_id, "id -u");
    let out = rt.run(&["run", "--bundle", app.path().to_str().unwrap(), &app_id]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("matching userns mapping specified"),
        "{out:?}"
    );
    rt.ok(&["delete", "--force", &pod.sandbox_id]);
}

/// A network namespace the joined user namespace does not own (a host-made one, say) is
/// joined before the user namespace, as runc does: from inside, it could not be.
#[test]
fn a_network_namespace_not_owned_by_the_joined_user_namespace_is_joined_too() {
    let rt = Runtime::new();
    let userns = PinnedNamespaces::new(&[], true);
    let netns = PinnedNamespaces::new(&["net"], false);
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "user", "path": userns.path("user")},
            {"type": "network", "path": netns.path("net")},
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
        ]);
        // Without rights in that network namespace sysfs can't be mounted: bound instead.
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "sysfs" {
                *m = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind"]});
            }
        }
    });
    let id = unique("foreign-netns");
    rt.create(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let holder = |pins: &PinnedNamespaces, kind: &str| {
        // The pinned file's namespace, as a process that joined it sees it.
        let out = std::process::Command::new("/bin/busybox")
            .args(["nsenter", &format!("--{kind}={}", pins.path(kind))])
            .args(["/bin/busybox", "readlink", &format!("/proc/self/ns/{kind}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(ns_of(pid, "net"), holder(&netns, "net"));
    assert_eq!(ns_of(pid, "user"), holder(&userns, "user"));
    // exec joins them in the same order: the network namespace, then the user namespace.
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/user",
    ]);
    let expected = format!("{}\n{}\n", holder(&netns, "net"), holder(&userns, "user"));
    assert_eq!(out, expected);
    rt.ok(&["delete", "--force", &id]);
}
