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
        let frozen = cgroup.set_frozen(true);
        let signalled = container::signal_all(&c.record, sig).context("kill");
        if frozen.is_ok() {
            cgroup
                .set_frozen(false)
                .context("kill: thawing after signalling")?;
        }
        signalled?;
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
