use crate::cli::ExecArgs;
use crate::container::exec::{ExecOptions, exec, process_from_flags};
use crate::state::Store;
use anyhow::{Context, Result, anyhow, bail};

pub fn run(store: &Store, a: &ExecArgs) -> Result<i32> {
    // exec seals rrun first (CVE-2019-5736), which may re-execute it: that must happen
    // before anything is read, so a --process given as a pipe (`-p <(...)`) is read once,
    // by the process that uses it.
    crate::selfexe::ensure_sealed(store.root()?).context("exec")?;
    let container = store.open(&a.id).context("exec")?;
    let (process, bundle, container) = match &a.process {
        Some(path) => {
            // Not held while the document is read: it may be a pipe that takes its time,
            // and other commands on the container wait for the lock.
            drop(container);
            let data = crate::config::read_document(path)
                .with_context(|| format!("exec: reading {}", path.display()))?;
            let process = crate::config::parse_process(&data)
                .with_context(|| format!("exec: {}", path.display()))?;
            (process, None, None)
        }
        None => {
            if a.command.is_empty() {
                bail!("exec: a command is required (or --process)");
            }
            let bundle = crate::config::load_bundle(std::path::Path::new(&container.record.bundle))
                .context("exec")?;
            let base = bundle
                .spec
                .process()
                .clone()
                .ok_or_else(|| anyhow!("exec: the container's config has no process"))?;
            let process = process_from_flags(&base, a.command.clone(), a).context("exec")?;
            (process, Some(bundle), Some(container))
        }
    };
    let opts = ExecOptions {
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        sub_cgroups: a.cgroup.clone(),
        ignore_paused: a.ignore_paused,
        bundle,
        container,
    };
    exec(store, opts).context("exec")
}
