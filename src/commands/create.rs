use crate::cli::{CreateArgs, Global};
use crate::container::create::{CreateOptions, Created, create};
use crate::state::Store;
use anyhow::{Context, Result};

pub fn options(a: &CreateArgs, foreground: bool, global: &Global) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        foreground,
        systemd_cgroup: global.systemd_cgroup,
        rootless_cgroups: crate::rootless::cgroups_are_rootless(
            &global.rootless,
            global.systemd_cgroup,
        ),
    }
}

pub fn run(store: &Store, a: &CreateArgs, global: &Global) -> Result<Created> {
    create(store, &options(a, false, global)).context("create")
}
