//! `checkpoint` and `restore`: runc's flags are accepted and checked as runc checks them,
//! but rrun has no CRIU support yet, so both then refuse with one clear line and change
//! nothing.

use crate::cli::CheckpointArgs;
use crate::state::Store;
use anyhow::{Result, bail};
use std::path::Path;

const NOT_BUILT: &str =
    "rrun is built without CRIU support (checkpoint/restore is not implemented yet)";

pub fn checkpoint(store: &Store, a: &CheckpointArgs) -> Result<()> {
    // As in runc: an unknown container is named as such first, then bad flags.
    store.open(&a.id)?;
    if let Some(parent) = &a.parent_path {
        check_parent_path(
            a.image_path.as_deref().unwrap_or(Path::new("checkpoint")),
            parent,
        )?;
    }
    bail!("checkpoint {}: {NOT_BUILT}", a.id)
}

/// `--parent-path` (pre-dump chains) is relative to the image path and must be a directory
/// there, in runc's words.
fn check_parent_path(image_path: &Path, parent: &Path) -> Result<()> {
    if parent.is_absolute() {
        bail!("--parent-path must be relative");
    }
    let real = image_path.join(parent);
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("invalid --parent-path: {}: not a directory", real.display()),
        Err(e) => bail!("invalid --parent-path: {}: {e}", real.display()),
    }
}

pub fn restore(_store: &Store, id: &str) -> Result<()> {
    bail!("restore {id}: {NOT_BUILT}")
}
