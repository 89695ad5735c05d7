use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, bail};

/// `pause` (freeze) and `resume` (thaw). As runc, a created container can be paused too,
/// and a refusal is in runc's words ("container not running", "container not paused"),
/// which callers look for, with the state the container is in.
pub fn run(store: &Store, id: &str, freeze: bool) -> Result<()> {
    let name = if freeze { "pause" } else { "resume" };
    let c = store.open(id).context(name.to_string())?;
    match (container::status(&c), freeze) {
        (Status::Running | Status::Created, true) | (Status::Paused, false) => {}
        (other, true) => bail!("pause: container not running: {id} is {}", other.as_str()),
        (other, false) => bail!("resume: container not paused: {id} is {}", other.as_str()),
    }
    crate::container::cgroup_of(&c.record)
        .set_frozen(freeze)
        .context(name.to_string())
}
