//! `restore`: runc's flags, then container::restore. Exits with the restored process's
//! exit code in the foreground, as runc does.

use crate::cli::{Global, RestoreArgs};
use crate::container::restore::{RestoreOptions, restore};
use crate::state::Store;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn run(store: &Store, a: &RestoreArgs, global: &Global) -> Result<i32> {
    let criu = super::checkpoint::criu_options(&a.criu, global)?;
    let opts = RestoreOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_subreaper: a.no_subreaper,
        systemd_cgroup: global.systemd_cgroup,
        rootless_cgroups: crate::rootless::cgroups_are_rootless(
            &global.rootless,
            global.systemd_cgroup,
        ),
        lsm_profile: a.lsm_profile.clone(),
        lsm_mount_context: a.lsm_mount_context.clone(),
        criu,
    };
    restore(store, &opts).with_context(|| format!("restore {}", a.id))
}
