use crate::cli::KillArgs;
use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, bail};

pub fn run(store: &Store, a: &KillArgs) -> Result<()> {
    let sig =
        crate::signals::parse_signal(a.signal.as_deref().unwrap_or("SIGTERM")).context("kill")?;
    let c = store.open(&a.id).context("kill")?;
    // As runc: SIGKILL to a container without its own pid namespace reaches every process
    // in its cgroup, even once the init has gone (nothing else would end them); `--all`
    // also signals a stopped container's leftovers, and is no error when there are none.
    if a.all || (sig == libc::SIGKILL && c.record.shared_pid_ns) {
        // As runc: frozen while it is signalled, so no process forks a child past the list
        // of those to signal, and thawed after, a paused container too (runc's freezer
        // pass does so for any signal). Freezing may be refused (a rootless caller's
        // cgroups): then signalled as it is.
        let cgroup = container::cgroup_of(&c.record);
        signal_frozen(cgroup.as_ref(), || {
            container::signal_all(&c.record, sig).context("kill")
        })?;
    } else {
        if container::status(&c) == Status::Stopped {
            bail!("kill: container not running");
        }
        container::signal_init(&c.record, sig).context("kill")?;
        // As runc: a frozen process does not die of SIGKILL (cgroup v1) until it is
        // thawed, so a paused container is thawed once killed, and stops.
        if sig == libc::SIGKILL {
            crate::cgroups::thaw(&c.record.cgroup_paths);
        }
    }
    Ok(())
}

/// Runs `signal` with the cgroup frozen, and thaws it after. Freezing may be refused (a
/// rootless caller's cgroups): then `signal` runs as it is. As runc: the signals went out,
/// so a thaw that fails is a warning; and a cgroup that is gone has nothing left to thaw:
/// its processes died (of the signal, or just before it) and systemd removed their scope
/// meanwhile (containerd stopping a pod's container that was ending).
fn signal_frozen(
    cgroup: &dyn crate::cgroups::CgroupDriver,
    signal: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let frozen = cgroup.set_frozen(true);
    let signalled = signal();
    if frozen.is_ok()
        && let Err(e) = cgroup.set_frozen(false)
        && !names_a_missing_file(&e)
    {
        crate::logging::warn(&format!("kill: thawing after signalling: {e:#}"));
    }
    signalled
}

/// Whether an error comes from a file that does not exist (ENOENT).
fn names_a_missing_file(e: &anyhow::Error) -> bool {
    crate::cgroups::os_errors(e).any(|io| io.kind() == std::io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cgroup_file_is_told_from_other_failures() {
        let gone = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::ENOENT))
            .context("writing /sys/fs/cgroup/x.scope/cgroup.freeze");
        assert!(names_a_missing_file(&gone));
        let refused = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::EACCES))
            .context("writing /sys/fs/cgroup/x.scope/cgroup.freeze");
        assert!(!names_a_missing_file(&refused));
        assert!(!names_a_missing_file(&anyhow::anyhow!("timed out")));
    }

    /// A v2 cgroup directory stand-in: cgroup.freeze, and cgroup.events saying `frozen`.
    fn fake_cgroup(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rrun-kill-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.freeze"), "").unwrap();
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        dir
    }

    #[test]
    fn a_cgroup_removed_while_it_is_signalled_is_no_failure_and_no_wait() {
        let dir = fake_cgroup("gone");
        let cgroup = crate::cgroups::v2::V2::from_dir(dir.clone(), Default::default());
        let start = std::time::Instant::now();
        // The processes die and systemd removes their scope before the thaw.
        signal_frozen(&cgroup, || Ok(std::fs::remove_dir_all(&dir)?)).unwrap();
        // Or only its events file is gone by the time the thaw waits for it.
        let dir = fake_cgroup("events-gone");
        let cgroup = crate::cgroups::v2::V2::from_dir(dir.clone(), Default::default());
        signal_frozen(&cgroup, || {
            Ok(std::fs::remove_file(dir.join("cgroup.events"))?)
        })
        .unwrap();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "waited for a thaw"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_signals_failure_is_the_kills_failure_and_the_cgroup_is_thawed() {
        let dir = fake_cgroup("fails");
        let cgroup = crate::cgroups::v2::V2::from_dir(dir.clone(), Default::default());
        let err = signal_frozen(&cgroup, || {
            // Thawed after: the stand-in's events say so once rrun has written "0".
            std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
            Err(anyhow::anyhow!("no such process"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "no such process");
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap(),
            "0"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
