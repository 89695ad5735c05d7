//! Stress: many containers in a row, in parallel, and many commands racing on one, after
//! which the host must hold exactly what it held before. `make stress` runs it; the sizes
//! come from STRESS_SEQUENTIAL (default 1000) and STRESS_PARALLEL (default 100).

#[path = "../common.rs"]
mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Everything a runtime could leak, as the host shows it.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    mounts: BTreeSet<String>,
    cgroup_dirs: BTreeSet<String>,
    state_dirs: BTreeSet<String>,
    open_fds: usize,
    children: BTreeSet<String>,
    net_namespaces: BTreeSet<String>,
}

impl HostState {
    fn capture(rt: &Runtime) -> Self {
        let me = std::process::id().to_string();
        let mut children = BTreeSet::new();
        let mut net_namespaces = BTreeSet::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(ns) = std::fs::read_link(e.path().join("ns/net")) {
                net_namespaces.insert(ns.display().to_string());
            }
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // Fields after the command's closing parenthesis: state, ppid, ...
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(1) == Some(&me.as_str()) {
                children.insert(format!("{name} {}", fields[0]));
            }
        }
        HostState {
            mounts: std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .map(|l| l.split(' ').skip(3).take(2).collect::<Vec<_>>().join(" "))
                .collect(),
            cgroup_dirs: walk_dirs(Path::new("/sys/fs/cgroup"), 6),
            state_dirs: std::fs::read_dir(rt.root.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".out-"))
                .collect(),
            open_fds: std::fs::read_dir("/proc/self/fd").unwrap().count(),
            children,
            net_namespaces,
        }
    }
}

fn walk_dirs(dir: &Path, depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if depth == 0 {
        return out;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.insert(e.path().display().to_string());
            out.extend(walk_dirs(&e.path(), depth - 1));
        }
    }
    out
}

/// Prints what changed on the host (the numbers docs/reliability.md quotes), then asserts
/// that nothing did.
fn assert_unchanged(
    what: &str,
    started: std::time::Instant,
    before: &HostState,
    after: &HostState,
) {
    let diff = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
        a.symmetric_difference(b).cloned().collect()
    };
    eprintln!(
        "stress: {what} in {:.1} s; changed afterwards: mounts {}, cgroup dirs {}, state dirs {}, \
         caller's fds {}, children/zombies {}, network namespaces {}",
        started.elapsed().as_secs_f64(),
        diff(&before.mounts, &after.mounts).len(),
        diff(&before.cgroup_dirs, &after.cgroup_dirs).len(),
        after.state_dirs.len(),
        after.open_fds.abs_diff(before.open_fds),
        after.children.len(),
        diff(&before.net_namespaces, &after.net_namespaces).len(),
    );
    assert_eq!(
        diff(&before.mounts, &after.mounts),
        Vec::<String>::new(),
        "mounts"
    );
    assert_eq!(
        diff(&before.cgroup_dirs, &after.cgroup_dirs),
        Vec::<String>::new(),
        "cgroup directories"
    );
    assert_eq!(after.state_dirs, BTreeSet::new(), "state directories");
    assert_eq!(before.open_fds, after.open_fds, "open fds of the caller");
    assert_eq!(after.children, BTreeSet::new(), "children and zombies");
    assert_eq!(
        diff(&before.net_namespaces, &after.net_namespaces),
        Vec::<String>::new(),
        "network namespaces"
    );
}

/// Starts rrun with `args`; its stderr goes to a file, not a pipe, since a container it
/// creates inherits that and would hold a pipe open (see `Runtime::run`).
fn spawn(rt: &Runtime, args: &[String], tag: &str) -> (std::process::Child, std::path::PathBuf) {
    let err_path = rt.root.path().join(format!(".out-{tag}"));
    let child = rt
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    (child, err_path)
}

/// Waits for a child of [`spawn`]; returns its exit code and stderr.
fn finish(
    (mut child, err_path): (std::process::Child, std::path::PathBuf),
) -> (Option<i32>, String) {
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(err_path);
    assert_no_panic_in(&err);
    (status.code(), err)
}

/// `run` of /bin/true, then create/start/kill/delete, each STRESS_SEQUENTIAL times.
#[test]
fn sequential_lifecycles_leave_nothing() {
    let n = size("STRESS_SEQUENTIAL", 1000);
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let sleeper = Bundle::new(&["sleep", "1000"]);
    let before = HostState::capture(&rt);
    let started = std::time::Instant::now();
    for i in 0..n {
        let out = rt.run_with(&b, &format!("seq-run-{i}"), &[]);
        assert_no_panic(&out);
        assert!(
            out.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = format!("seq-life-{i}");
        rt.create(&sleeper, &id);
        rt.ok(&["start", &id]);
        rt.ok(&["kill", &id, "KILL"]);
        wait_until("the container to stop", || {
            rt.state(&id)["status"] == "stopped"
        });
        rt.ok(&["delete", &id]);
    }
    let what = format!("{n} runs and {n} create/start/kill/delete");
    assert_unchanged(&what, started, &before, &HostState::capture(&rt));
}

/// STRESS_PARALLEL containers created at once with distinct ids, then deleted at once.
#[test]
fn parallel_creates_and_deletes_leave_nothing() {
    let n = size("STRESS_PARALLEL", 100);
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let before = HostState::capture(&rt);
    let started = std::time::Instant::now();
    let spawn_all = |args: &dyn Fn(usize) -> Vec<String>| {
        let children: Vec<_> = (0..n)
            .map(|i| spawn(&rt, &args(i), &format!("par-{i}")))
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let (code, err) = finish(c);
            assert_eq!(code, Some(0), "#{i}: {err}");
        }
    };
    let bundle = b.path().display().to_string();
    spawn_all(&|i| {
        vec![
            "create".into(),
            "--bundle".into(),
            bundle.clone(),
            format!("par-{i}"),
        ]
    });
    let listed = rt.ok(&["list", "-q"]);
    assert_eq!(listed.lines().count(), n, "{listed}");
    spawn_all(&|i| vec!["delete".into(), "--force".into(), format!("par-{i}")]);
    let what = format!("{n} parallel creates, then deletes");
    assert_unchanged(&what, started, &before, &HostState::capture(&rt));
}

/// STRESS_PARALLEL `state`, `kill` and `delete --force` racing on one running container:
/// each ends with 0 or a one-line error, never a panic, and the container is gone after.
#[test]
fn racing_commands_on_one_container() {
    let n = size("STRESS_PARALLEL", 100);
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let before = HostState::capture(&rt);
    let started = std::time::Instant::now();
    rt.create(&b, "racy");
    rt.ok(&["start", "racy"]);
    let commands: [&[&str]; 3] = [
        &["state", "racy"],
        &["kill", "racy", "KILL"],
        &["delete", "--force", "racy"],
    ];
    let children: Vec<_> = (0..n)
        .map(|i| {
            let args: Vec<String> = commands[i % 3].iter().map(|a| a.to_string()).collect();
            spawn(&rt, &args, &format!("race-{i}"))
        })
        .collect();
    for c in children {
        let (code, err) = finish(c);
        assert!(matches!(code, Some(0) | Some(1)), "{err}");
        assert!(err.lines().count() <= 1, "one line at most: {err}");
    }
    assert_no_panic(&rt.run(&["delete", "--force", "racy"]));
    let what = format!("{n} racing state/kill/delete --force");
    assert_unchanged(&what, started, &before, &HostState::capture(&rt));
}
