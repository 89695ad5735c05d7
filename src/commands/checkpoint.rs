//! `checkpoint`: runc's flags, checked in runc's order (an unknown container first, then
//! its state, then the flags), then container::checkpoint. Unless the container is left
//! running (or this was a pre-dump), it is then deleted, as runc does: its processes are
//! in the images.

use crate::cli::{CheckpointArgs, CriuFlags, Global};
use crate::container::checkpoint::{self, CriuOptions, DumpOptions};
use crate::state::Store;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub fn run(store: &Store, a: &CheckpointArgs, global: &Global) -> Result<()> {
    let c = store.open(&a.id).context("checkpoint")?;
    checkpoint::check_state(&c)?;
    let opts = criu_options(&a.criu, global)?;
    let dump = DumpOptions {
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        tcp_skip_in_flight: a.tcp_skip_in_flight,
        link_remap: a.link_remap,
        pre_dump: a.pre_dump,
        status_fd: a.status_fd,
        page_server: a
            .page_server
            .as_deref()
            .map(checkpoint::page_server)
            .transpose()?,
    };
    // Made once the flags are known good, before --parent-path is checked: the parent is
    // found relative to it.
    std::fs::create_dir_all(&opts.image_path)
        .with_context(|| format!("creating {}", opts.image_path.display()))?;
    if let Some(parent) = &a.parent_path {
        check_parent_path(&opts.image_path, parent)?;
    }
    checkpoint::checkpoint(&c, &opts, &dump).with_context(|| format!("checkpoint {}", a.id))?;
    if !a.leave_running && !a.pre_dump {
        crate::container::destroy(&c).context("checkpoint: removing the checkpointed container")?;
    }
    Ok(())
}

/// What checkpoint and restore tell CRIU alike, from their shared flags.
pub fn criu_options(f: &CriuFlags, global: &Global) -> Result<CriuOptions> {
    Ok(CriuOptions {
        criu: PathBuf::from(&global.criu),
        image_path: image_path(f.image_path.as_deref())?,
        work_path: f.work_path.clone(),
        tcp_established: f.tcp_established,
        ext_unix_sk: f.ext_unix_sk,
        shell_job: f.shell_job,
        file_locks: f.file_locks,
        manage_cgroups_mode: checkpoint::cgroups_mode(f.manage_cgroups_mode.as_deref())?,
        empty_ns: checkpoint::empty_namespaces(&f.empty_ns)?,
        auto_dedup: f.auto_dedup,
        lazy_pages: f.lazy_pages,
    })
}

/// `--image-path`, by default `checkpoint` in the current directory (runc's).
fn image_path(given: Option<&Path>) -> Result<PathBuf> {
    let p = given.unwrap_or(Path::new("checkpoint"));
    std::path::absolute(p).with_context(|| format!("--image-path {}", p.display()))
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
