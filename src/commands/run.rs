use crate::cli::{Global, RunArgs};
use crate::container::{self, foreground};
use crate::state::Store;
use anyhow::{Context, Result};

pub fn run(store: &Store, a: &RunArgs, global: &Global) -> Result<i32> {
    let opts = super::create::options(&a.create, !a.detach, global);
    if a.detach {
        let created = crate::container::create::create(store, &opts).context("run")?;
        let relay = match container::start(&created.container) {
            Ok(relay) => relay,
            Err(e) => {
                // As runc's `run`: a container that could not be started is removed.
                if let Err(d) = container::destroy(&created.container) {
                    crate::logging::warn(&format!("removing the container: {d:#}"));
                }
                return Err(e).context("run");
            }
        };
        drop(created.container);
        if let Some(r) = relay {
            r.wait().context("run")?;
        }
        return Ok(0);
    }
    if !a.no_subreaper {
        crate::syscalls::set_child_subreaper().context("run: becoming subreaper")?;
    }
    let signals = foreground::block_signals().context("run")?;
    let created = crate::container::create::create(store, &opts).context("run")?;
    let (pid, console, until_exec) = (created.pid, created.console, created.until_exec);
    let c = created.container;
    let id = c.record.id.clone();
    let result = (|| {
        // In the foreground the container's notifications are not relayed (rrun waits on
        // the container itself instead).
        if created.started {
            container::remove_exec_fifo(&c)?;
        } else {
            container::start_process(&c, container::Caller::Foreground)?;
        }
        // Unlocked while it runs, for the commands that act on it meanwhile.
        drop(c);
        foreground::wait(pid, signals, console, Some(until_exec))
    })();
    if !a.keep
        && let Ok(c) = store.open(&id)
    {
        container::destroy(&c).context("run: removing container")?;
    }
    result.context("run")
}
