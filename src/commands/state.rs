use crate::container;
use crate::state::Store;
use anyhow::{Context, Result};

pub fn run(store: &Store, id: &str) -> Result<()> {
    let c = store.open(id).context("state")?;
    let state = container::oci_state(&c);
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(())
}
