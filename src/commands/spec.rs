use crate::cli::SpecArgs;
use anyhow::{Result, bail};

pub fn run(a: &SpecArgs) -> Result<()> {
    let dir = a.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    if path.exists() {
        bail!("spec: File {} exists. Remove it first", path.display());
    }
    let spec = crate::container::spec::default_spec(a.rootless);
    std::fs::write(&path, spec)
        .map_err(|e| anyhow::anyhow!("spec: writing {}: {e}", path.display()))
}
