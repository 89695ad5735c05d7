use crate::cli::KillArgs;
use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, bail};

pub fn run(store: &Store, a: &KillArgs) -> Result<()> {
    let sig =
        crate::signals::parse_signal(a.signal.as_deref().unwrap_or("SIGTERM")).context("kill")?;
    let c = store.open(&a.id).context("kill")?;
    if container::status(&c) == Status::Stopped {
        bail!("kill: container not running");
    }
    if a.all {
        container::signal_all(&c.record, sig)
    } else {
        container::signal_init(&c.record, sig)
    }
    .context("kill")
}
