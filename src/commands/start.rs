use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, anyhow, bail};

pub fn run(store: &Store, id: &str) -> Result<()> {
    let c = store.open(id).context("start")?;
    match container::status(&c) {
        Status::Created => {}
        Status::Stopped => bail!("start: cannot start a container that has stopped"),
        Status::Creating => bail!("start: the container is still being created"),
        Status::Running => bail!("start: cannot start an already running container"),
        // A created container paused, or frozen behind rrun's back: its init could never
        // exec.
        Status::Paused => bail!("start: cannot start a container in the paused state"),
    }
    let relay = container::start(&c).map_err(|e| anyhow!("start: {e:#}"))?;
    drop(c);
    match relay {
        Some(r) => r.wait().context("start"),
        None => Ok(()),
    }
}
