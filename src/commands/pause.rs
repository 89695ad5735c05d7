use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, bail};

/// `pause` (freeze) and `resume` (thaw).
pub fn run(store: &Store, id: &str, freeze: bool) -> Result<()> {
    let name = if freeze { "pause" } else { "resume" };
    let c = store.open(id).context(name.to_string())?;
    match (container::status(&c), freeze) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => bail!("pause: container {id} is already paused"),
        (other, true) => bail!("pause: container {id} is not running: {}", other.as_str()),
        (_, false) => bail!("resume: container {id} is not paused"),
    }
    crate::container::cgroup_of(&c.record)
        .set_frozen(freeze)
        .context(name.to_string())
}
