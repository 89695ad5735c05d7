//! Writing a new user namespace's uid_map and gid_map, from the parent, after the clone.
//!
//! Root writes both files itself. An ordinary user may too, but only one line mapping its
//! own euid (egid), and for gid_map only once setgroups is denied in the namespace: the
//! kernel's rules, which keep an unprivileged user from dropping a group it holds. Any
//! other mapping (Podman's, from /etc/subuid and /etc/subgid) goes through the setuid
//! helpers newuidmap/newgidmap of shadow's uidmap package, which check the ranges against
//! those files; rrun itself never gains a privilege.

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{LinuxIdMapping, Spec};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// How long a helper may take: it reads two small files and writes one.
const HELPER_BOUND: Duration = Duration::from_secs(10);

/// One id map: the field it comes from, its `/proc/<pid>/` file and helper.
struct MapKind {
    field: &'static str,
    file: &'static str,
    helper: &'static str,
}

const UID: MapKind = MapKind {
    field: "linux.uidMappings",
    file: "uid_map",
    helper: "newuidmap",
};
const GID: MapKind = MapKind {
    field: "linux.gidMappings",
    file: "gid_map",
    helper: "newgidmap",
};

/// How one map gets written.
#[derive(Debug, PartialEq, Eq)]
pub enum Writer {
    /// rrun writes the file (root, or an ordinary user's own id).
    Direct,
    /// An ordinary user's own gid: setgroups denied first, then written directly.
    DirectAfterDenyingSetgroups,
    /// newuidmap/newgidmap.
    Helper,
}

/// Who writes a map of `maps` for a caller whose own id is `own_id`.
pub fn writer(maps: &[LinuxIdMapping], rootless: bool, own_id: u32, gid: bool) -> Writer {
    let only_own = matches!(maps, [m] if m.host_id() == own_id && m.size() == 1);
    match (rootless, only_own, gid) {
        (false, _, _) => Writer::Direct,
        (true, true, false) => Writer::Direct,
        (true, true, true) => Writer::DirectAfterDenyingSetgroups,
        (true, false, _) => Writer::Helper,
    }
}

/// The maps of `spec` for the new user namespace of `pid`; `rootless`: rrun runs as an
/// ordinary user.
pub fn write(pid: i32, spec: &Spec, rootless: bool) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
    let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    if !uid_maps.is_empty() {
        write_one(
            pid,
            &UID,
            &uid_maps,
            writer(&uid_maps, rootless, euid, false),
        )?;
    }
    if !gid_maps.is_empty() {
        write_one(
            pid,
            &GID,
            &gid_maps,
            writer(&gid_maps, rootless, egid, true),
        )?;
    }
    Ok(())
}

fn write_one(pid: i32, kind: &MapKind, maps: &[LinuxIdMapping], how: Writer) -> Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    if how == Writer::DirectAfterDenyingSetgroups {
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny").map_err(|e| {
            anyhow!(
                "{}: denying setgroups before writing gid_map: {e}",
                kind.field
            )
        })?;
    }
    match how {
        Writer::Direct | Writer::DirectAfterDenyingSetgroups => {
            std::fs::write(format!("/proc/{pid}/{}", kind.file), &text)
                .map_err(|e| anyhow!("{}: writing {}: {e}", kind.field, kind.file))
        }
        Writer::Helper => run_helper(pid, kind, maps),
    }
}

/// A user namespace with these maps, for an idmapped mount (root only): a child made in
/// it holds it while the maps are written and the namespace is opened, then exits.
pub fn user_namespace_with(
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<std::os::fd::OwnedFd> {
    let child = HeldChild::spawn(libc::CLONE_NEWUSER, "making a user namespace", || 0)?;
    let pid = child.pid;
    write_one(pid, &UID, uid, Writer::Direct)?;
    write_one(pid, &GID, gid, Writer::Direct)?;
    nix::fcntl::open(
        format!("/proc/{pid}/ns/user").as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("opening /proc/{pid}/ns/user: {e}"))
}

/// A child of rrun that does one thing (`in_child`, returning an errno or 0) and then
/// waits, so that the parent may look at it in /proc, until the parent drops it: the
/// wait is for end-of-file on a pipe, which comes whatever happens to the parent.
struct HeldChild {
    pid: i32,
    release: Option<OwnedFd>,
}

impl HeldChild {
    /// `clone(flags)`; fails with `what` and the child's errno if `in_child` failed.
    fn spawn(flags: libc::c_int, what: &str, in_child: impl FnOnce() -> i32) -> Result<Self> {
        use crate::syscalls::{CloneResult, clone_process};
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| anyhow!("{what}: pipe: {e}"))
        };
        let (hold, release) = pipe()?;
        let (report_rx, report_tx) = pipe()?;
        let pid = match clone_process(flags).map_err(|e| anyhow!("{what}: clone: {e}"))? {
            CloneResult::Child => {
                drop(release);
                drop(report_rx);
                let errno = in_child();
                let _ = nix::unistd::write(&report_tx, &errno.to_ne_bytes());
                let mut byte = [0u8; 1];
                let _ = nix::unistd::read(&hold, &mut byte);
                crate::syscalls::exit_immediately(0)
            }
            CloneResult::Parent(pid) => pid,
        };
        drop(hold);
        drop(report_tx);
        let child = HeldChild {
            pid,
            release: Some(release),
        };
        let mut errno = [0u8; 4];
        // The child writes one errno, or dies: end-of-file bounds the read.
        match (
            nix::unistd::read(&report_rx, &mut errno),
            i32::from_ne_bytes(errno),
        ) {
            (Ok(4), 0) => Ok(child),
            (Ok(4), errno) => bail!("{what}: {}", nix::errno::Errno::from_raw(errno)),
            _ => bail!("{what}: the child process died"),
        }
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        drop(self.release.take());
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// A config that joins a user namespace by path may list its mappings too: containerd and
/// CRI-O write both for a pod's containers. runc accepts that only when they are the
/// namespace's own (and warns), so a container never believes in ids it doesn't have.
/// `userns` is the namespace, opened already; its maps are read from the process the path
/// names when it is `/proc/<pid>/ns/user`, else from a child that joins it for the read.
pub fn check_joined(spec: &Spec, path: &std::path::Path, userns: &OwnedFd) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
    let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
    if uid_maps.is_empty() && gid_maps.is_empty() {
        return Ok(());
    }
    let (uid_text, gid_text) = read_maps_of(path, userns)?;
    if parse_map(&uid_text) != triples(&uid_maps) || parse_map(&gid_text) != triples(&gid_maps) {
        bail!(
            "user namespaces enabled, but both namespace path and non-matching mapping specified -- you may only provide one"
        );
    }
    crate::logging::warn(
        "config.json has both a userns path to join and a matching userns mapping specified -- you may only provide one. Future versions of runc may return an error with this configuration, please report a bug on <https://github.com/opencontainers/runc> if you see this warning and cannot update your configuration.",
    );
    Ok(())
}

fn triples(maps: &[LinuxIdMapping]) -> Vec<[u32; 3]> {
    maps.iter()
        .map(|m| [m.container_id(), m.host_id(), m.size()])
        .collect()
}

/// The lines of a `/proc/<pid>/uid_map` (or gid_map): inside, outside, count.
fn parse_map(text: &str) -> Vec<[u32; 3]> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (f.len() == 3).then(|| [f[0], f[1], f[2]])
        })
        .collect()
}

fn read_maps_of(path: &std::path::Path, userns: &OwnedFd) -> Result<(String, String)> {
    let read = |pid: &str| -> std::io::Result<(String, String)> {
        Ok((
            std::fs::read_to_string(format!("/proc/{pid}/uid_map"))?,
            std::fs::read_to_string(format!("/proc/{pid}/gid_map"))?,
        ))
    };
    if let Some(pid) = path
        .to_str()
        .and_then(|p| p.strip_prefix("/proc/"))
        .and_then(|p| p.strip_suffix("/ns/user"))
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && let Ok(maps) = read(pid)
    {
        return Ok(maps);
    }
    let what = format!(
        "linux.namespaces: joining user namespace {} to read its mappings",
        path.display()
    );
    let child = HeldChild::spawn(0, &what, || {
        match nix::sched::setns(userns, nix::sched::CloneFlags::CLONE_NEWUSER) {
            Ok(()) => 0,
            Err(e) => e as i32,
        }
    })?;
    read(&child.pid.to_string()).map_err(|e| {
        anyhow!(
            "linux.namespaces: reading the mappings of user namespace {}: {e}",
            path.display()
        )
    })
}

/// `newuidmap <pid> <inside> <outside> <count>...`, bounded; its own complaint (the range
/// /etc/subuid does not grant, say) becomes the error.
fn run_helper(pid: i32, kind: &MapKind, maps: &[LinuxIdMapping]) -> Result<()> {
    let ranges = describe(maps);
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let mut child = std::process::Command::new(kind.helper)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow!(
                "{}: mapping {ranges} as an ordinary user needs {} (the uidmap package): {e}",
                kind.field,
                kind.helper
            )
        })?;
    let deadline = Instant::now() + HELPER_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{}: {} did not finish within {}s mapping {ranges}",
                kind.field,
                kind.helper,
                HELPER_BOUND.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if status.success() {
        return Ok(());
    }
    let mut said = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut said);
    }
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    bail!(
        "{}: {} refused mapping {ranges} ({status}){}{said}",
        kind.field,
        kind.helper,
        if said.is_empty() { "" } else { ": " }
    )
}

/// `0->1000 (1), 1->100000 (65536)`: the ranges in the words of an error.
fn describe(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{}->{} ({})", m.container_id(), m.host_id(), m.size()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(inside: u32, outside: u32, size: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(inside)
            .host_id(outside)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn root_writes_every_map_itself() {
        let maps = [map(0, 100000, 65536)];
        assert_eq!(writer(&maps, false, 0, false), Writer::Direct);
        assert_eq!(writer(&maps, false, 0, true), Writer::Direct);
    }

    #[test]
    fn an_ordinary_user_writes_only_its_own_id() {
        let own = [map(0, 1000, 1)];
        assert_eq!(writer(&own, true, 1000, false), Writer::Direct);
        assert_eq!(
            writer(&own, true, 1000, true),
            Writer::DirectAfterDenyingSetgroups
        );
        // Someone else's id, more than one id, more than one range: the helper's job.
        assert_eq!(
            writer(&[map(0, 1001, 1)], true, 1000, false),
            Writer::Helper
        );
        assert_eq!(
            writer(&[map(0, 1000, 2)], true, 1000, false),
            Writer::Helper
        );
        let podman = [map(0, 1000, 1), map(1, 100000, 65536)];
        assert_eq!(writer(&podman, true, 1000, true), Writer::Helper);
    }

    #[test]
    fn proc_maps_are_read_as_triples() {
        let text = "         0     100000      65536\n    65536          0          1\n";
        assert_eq!(parse_map(text), [[0, 100000, 65536], [65536, 0, 1]]);
        assert_eq!(
            parse_map(text),
            triples(&[map(0, 100000, 65536), map(65536, 0, 1)])
        );
        // Order matters, as with runc: a reordered or split mapping is another mapping.
        assert_ne!(
            parse_map(text),
            triples(&[map(65536, 0, 1), map(0, 100000, 65536)])
        );
    }

    #[test]
    fn ranges_are_described_for_errors() {
        assert_eq!(
            describe(&[map(0, 1000, 1), map(1, 100000, 65536)]),
            "0->1000 (1), 1->100000 (65536)"
        );
    }
}
