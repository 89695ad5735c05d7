use crate::cli::CreateArgs;
use crate::container::create::{CreateOptions, Created, create};
use crate::state::Store;
use anyhow::{Context, Result};

pub fn options(a: &CreateArgs, foreground: bool, systemd_cgroup: bool) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        foreground,
        systemd_cgroup,
    }
}

pub fn run(store: &Store, a: &CreateArgs, systemd_cgroup: bool) -> Result<Created> {
    create(store, &options(a, false, systemd_cgroup)).context("create")
}
