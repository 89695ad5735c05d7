//! `restore`: runc's flags, then container::restore. Exits with the restored process's
//! exit code in the foreground, as runc does.

use crate::cli::{Global, RestoreArgs};
use crate::container::checkpoint::{self, CriuOptions};
use crate::container::restore::{RestoreOptions, restore};
use crate::state::Store;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn run(store: &Store, a: &RestoreArgs, global: &Global) -> Result<i32> {
    let criu = CriuOptions {
        criu: PathBuf::from(&global.criu),
        image_path: super::checkpoint::image_path(a.image_path.as_deref())?,
        work_path: a.work_path.clone(),
        tcp_established: a.tcp_established,
        ext_unix_sk: a.ext_unix_sk,
        shell_job: a.shell_job,
        file_locks: a.file_locks,
        manage_cgroups_mode: checkpoint::cgroups_mode(a.manage_cgroups_mode.as_deref())?,
        empty_ns: checkpoint::empty_namespaces(&a.empty_ns)?,
        auto_dedup: a.auto_dedup,
        lazy_pages: a.lazy_pages,
    };
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
