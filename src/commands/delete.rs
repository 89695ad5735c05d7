use crate::cli::DeleteArgs;
use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, bail};

pub fn run(store: &Store, a: &DeleteArgs) -> Result<()> {
    let c = match store.open(&a.id) {
        Ok(c) => c,
        // runc: deleting a container that does not exist with --force is not an error.
        // A directory without a state file is what a create killed half-way leaves.
        // So is one whose state file can't be read: nothing more can be learnt from it.
        // Not so a directory rrun may not read: that is another user's (see security.md).
        Err(e)
            if a.force
                && crate::state::validate_id(&a.id).is_ok()
                && !crate::rootless::is_permission_error(&e) =>
        {
            let dir = store.dir(&a.id);
            // A record that exists but can't be read may have been a live container's:
            // say what stays (its processes and cgroups, named only in that record) rather
            // than let a silent success hide them. runc refuses such a delete altogether.
            if dir.join(crate::state::STATE_FILE).exists() {
                crate::logging::warn(&format!(
                    "delete: {e:#}: removing its state; the processes and cgroups it \
                     recorded, if any, are not known to rrun and stay"
                ));
            }
            if dir.is_dir() {
                crate::container::restore::unmount_leftover_root(&dir);
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("delete: removing {}", dir.display()))?;
            }
            return Ok(());
        }
        Err(e) => return Err(e).context("delete"),
    };
    let status = container::status(&c);
    if matches!(status, Status::Running | Status::Paused | Status::Creating) && !a.force {
        bail!(
            "delete: cannot delete container {} that is not stopped: {}",
            a.id,
            status.as_str()
        );
    }
    container::destroy(&c).context("delete")
}
