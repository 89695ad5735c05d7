//! `checkpoint` and `restore`: runc's flags are accepted, but rrun has no CRIU support yet,
//! so both refuse with one clear line and change nothing.

use crate::state::Store;
use anyhow::{Result, bail};

const NOT_BUILT: &str =
    "rrun is built without CRIU support (checkpoint/restore is not implemented yet)";

pub fn checkpoint(store: &Store, id: &str) -> Result<()> {
    // An unknown container is named as such first, as in runc.
    store.open(id)?;
    bail!("checkpoint {id}: {NOT_BUILT}")
}

pub fn restore(_store: &Store, id: &str) -> Result<()> {
    bail!("restore {id}: {NOT_BUILT}")
}
