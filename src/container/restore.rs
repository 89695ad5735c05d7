//! `restore`: a container made anew from a bundle, whose processes CRIU brings back from a
//! checkpoint instead of an init building them. rrun prepares what CRIU can't: the root
//! (the bundle's rootfs bound on a mount point of its own, with the mount points the
//! config needs), the cgroups (CRIU itself joins them first, so what it restores is in
//! them), the external mounts and namespaces mapped back to this host's, and the caller's
//! stdio in place of the checkpointed pipes. CRIU restores the container's init as rrun's
//! child (`rst_sibling`), so `restore` without `--detach` waits for it as `run` does.

use super::cgroup_yard::CgroupYard;
use super::checkpoint::{self, CriuOptions, DESCRIPTORS_FILE, ImageDirs};
use crate::cgroups::{self, CgroupDriver};
use crate::config::Bundle;
use crate::criu::{self, CriuStdio, rpc};
use crate::state::{self, ContainerRecord, Store};
use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct RestoreOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_subreaper: bool,
    pub systemd_cgroup: bool,
    pub rootless_cgroups: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    pub criu: CriuOptions,
}

/// Undoes a partial restore when dropped with its fields set (a restore that succeeds
/// clears them): the processes in the cgroups (CRIU kills those it restored when it
/// fails; these are any left), the cgroups, the state directory.
struct Rollback {
    dir: Option<PathBuf>,
    cgroup: Option<Box<dyn CgroupDriver>>,
    parents: Vec<PathBuf>,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(cg) = &self.cgroup {
            cgroups::thaw(&cg.paths());
            for pid in cg.procs().unwrap_or_default() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while cg.procs().is_ok_and(|p| !p.is_empty()) && std::time::Instant::now() < end {
                reap_children();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = cg.destroy();
            cgroups::remove_made_dirs(&self.parents);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn reap_children() {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if s == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}

/// Where, in the state directory, a restore binds the rootfs for CRIU.
pub const CRIU_ROOT: &str = "criu-root";

/// The rootfs bound where CRIU wants its root: a mount point of its own, whose parent is
/// not overmounted. It keeps the rootfs' propagation (CRIU copies the root's sharing to
/// what it mounts); nothing is mounted under it. Unmounted when dropped.
struct CriuRoot {
    path: PathBuf,
}

impl CriuRoot {
    fn bind(rootfs: &Path, state_dir: &Path) -> Result<Self> {
        use nix::mount::{MsFlags, mount};
        let path = state_dir.join(CRIU_ROOT);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        mount(
            Some(rootfs),
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| anyhow!("binding {} for CRIU: {e}", rootfs.display()))?;
        Ok(CriuRoot { path })
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// What a restore killed half-way left in its state directory `dir`: the root it bound.
pub fn unmount_leftover_root(dir: &Path) {
    let _ = nix::mount::umount2(&dir.join(CRIU_ROOT), nix::mount::MntFlags::MNT_DETACH);
}

/// Restores the container; returns the exit code to exit with (that of the restored
/// process in the foreground, 0 detached). In phases: what the request needs opened
/// (nothing made yet), the container reserved and recorded with the root CRIU restores
/// into, CRIU's run, the restored container recorded, and in the foreground the wait.
pub fn restore(store: &Store, opts: &RestoreOptions) -> Result<i32> {
    state::validate_id(&opts.id)?;
    let bundle = crate::config::load_bundle(&opts.bundle)?;
    let inputs = Inputs::open(opts, &bundle)?;
    let mut reserved = Reserved::make(store, opts, &bundle, inputs.cgroup.as_ref())?;
    if !opts.no_subreaper && !opts.detach {
        crate::syscalls::set_child_subreaper().context("becoming subreaper")?;
    }
    let signals = if opts.detach {
        None
    } else {
        Some(super::foreground::block_signals()?)
    };
    let restored = run_criu(opts, &bundle, inputs, &mut reserved)?;
    record_restored(opts, &bundle, restored.pid, &mut reserved)?;
    drop(reserved);
    match signals {
        None => Ok(0),
        Some(signals) => {
            let code = super::foreground::wait(restored.pid, signals, restored.master, None);
            if let Ok(c) = store.open(&opts.id) {
                super::destroy(&c).context("removing container")?;
            }
            code
        }
    }
}

/// What a restore reads and opens before it makes anything: a bad request fails here
/// with nothing to undo.
struct Inputs {
    cgroup: Box<dyn CgroupDriver>,
    dirs: ImageDirs,
    /// The dump's fds 0, 1 and 2 (which pipes the caller's stdio stands in for).
    descriptors: Vec<String>,
    namespaces: NamespaceFiles,
    /// `--console-socket`, connected, where the process has a terminal.
    console: Option<std::os::unix::net::UnixStream>,
}

impl Inputs {
    fn open(opts: &RestoreOptions, bundle: &Bundle) -> Result<Self> {
        let spec = &bundle.spec;
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        if terminal && opts.detach && opts.console_socket.is_none() {
            bail!("cannot allocate tty if rrun will detach without setting console socket");
        }
        if !terminal && opts.console_socket.is_some() {
            bail!("cannot use console socket if rrun will not detach or allocate tty");
        }
        let cgroup =
            cgroups::for_container(spec, &opts.id, opts.systemd_cgroup, opts.rootless_cgroups)?;
        let dirs = ImageDirs::open(&opts.criu, false)?;
        let descriptors = read_descriptors(&dirs.images)?;
        let namespaces = NamespaceFiles::open(spec)?;
        let console = match &opts.console_socket {
            Some(p) if terminal => Some(
                std::os::unix::net::UnixStream::connect(p)
                    .map_err(|e| anyhow!("connecting to console socket {}: {e}", p.display()))?,
            ),
            _ => None,
        };
        Ok(Inputs {
            cgroup,
            dirs,
            descriptors,
            namespaces,
            console,
        })
    }
}

/// The container's id reserved and recorded `creating` (so that `delete --force` finds
/// what a restore killed half-way leaves), with the rootfs bound where CRIU restores it.
/// Dropped with its rollback armed, it undoes all of it.
/// (Fields drop in order: the root unbound, then the rollback, then the lock let go.)
struct Reserved {
    /// CRIU's root; unbound once CRIU is done.
    root: Option<CriuRoot>,
    rollback: Rollback,
    /// The state directory's lock, held to the end of the restore.
    _lock: state::Lock,
    dir: PathBuf,
    cgroup_paths: Vec<PathBuf>,
    /// The cgroup parents missing before the restore, which its end removes.
    parents: Vec<PathBuf>,
}

impl Reserved {
    fn make(
        store: &Store,
        opts: &RestoreOptions,
        bundle: &Bundle,
        cgroup: &dyn CgroupDriver,
    ) -> Result<Self> {
        let dir = store.reserve(&opts.id)?;
        let mut rollback = Rollback {
            dir: Some(dir.clone()),
            cgroup: None,
            parents: Vec::new(),
        };
        let lock = state::lock_dir(&dir)?;
        cgroups::check_unused(cgroup)?;
        let cgroup_paths = cgroup.paths();
        let parents = if cgroup.systemd_unit().is_some() {
            Vec::new()
        } else {
            super::create::missing_parents(&cgroup_paths)
        };
        rollback.parents = parents.clone();
        let record = restored_record(opts, bundle, None, cgroup, parents.clone())?;
        state::save_record(&dir, &record)?;
        let root = CriuRoot::bind(&bundle.rootfs, &dir)?;
        prepare_mount_points(&root.path, bundle)?;
        Ok(Reserved {
            root: Some(root),
            rollback,
            _lock: lock,
            dir,
            cgroup_paths,
            parents,
        })
    }
}

/// What CRIU brought back: the container's init, rrun's child, and the pty master where
/// rrun holds the terminal itself.
struct Restored {
    pid: i32,
    master: Option<OwnedFd>,
}

/// Runs CRIU's restore, answering its notifications: it joins the container's cgroups
/// first (which the rollback owns from then on), the new network namespace's loopback
/// comes up and the createRuntime hooks run before the processes do, the pty master goes
/// to the console socket or to rrun.
fn run_criu(
    opts: &RestoreOptions,
    bundle: &Bundle,
    inputs: Inputs,
    reserved: &mut Reserved,
) -> Result<Restored> {
    let spec = &bundle.spec;
    let Inputs {
        cgroup,
        dirs,
        descriptors,
        namespaces,
        console,
    } = inputs;
    let yard = CgroupYard::make(&reserved.dir.join(checkpoint::CGROUP_YARD))?;
    let request = restore_request(
        opts,
        &dirs,
        bundle,
        reserved,
        &descriptors,
        &namespaces,
        yard.as_ref(),
    )?;
    let restored_pid = Cell::new(0);
    let master: RefCell<Option<OwnedFd>> = RefCell::new(None);
    let inherit: Vec<BorrowedFd> = [dirs.images_fd.as_fd()]
        .into_iter()
        .chain(dirs.work_fd.as_ref().map(|f| f.as_fd()))
        .chain(namespaces.files.iter().map(|(_, f)| f.as_fd()))
        .collect();
    let cgroup_slot = &mut reserved.rollback.cgroup;
    let result = criu::Call {
        criu: &opts.criu.criu,
        request,
        inherit,
        stdio: CriuStdio::Inherit,
    }
    .run(
        |criu_pid, req| {
            let cg = cgroup_slot.insert(cgroup);
            join_cgroups(cg.as_ref(), spec, criu_pid, req)
        },
        |n| match n.script {
            "setup-namespaces" => {
                // CRIU restores a network namespace of the container's own empty (runc's
                // `--empty-ns network`, always): its loopback is down.
                if own_namespace(spec, LinuxNamespaceType::Network) {
                    loopback_up_in(n.pid)?;
                }
                super::run_create_hooks(&opts.id, bundle, n.pid)
            }
            "post-restore" => {
                restored_pid.set(n.pid);
                Ok(())
            }
            "orphan-pts-master" => {
                let fd = n.fd.ok_or_else(|| anyhow!("CRIU sent no pty master"))?;
                match &console {
                    Some(sock) => crate::tty::send_fd(sock.as_raw_fd(), fd.as_raw_fd(), "console")
                        .map_err(|e| anyhow!("sending console fd: {e:#}")),
                    None => {
                        *master.borrow_mut() = Some(fd);
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        },
    );
    reserved.root = None;
    result.map_err(|e| checkpoint::criu_error(e, &dirs.log("restore.log"), &opts.criu.criu))?;
    let pid = restored_pid.get();
    if pid <= 0 {
        bail!("CRIU did not report the restored process");
    }
    Ok(Restored {
        pid,
        master: master.into_inner(),
    })
}

/// The restored container recorded (with its init's pid, and the pid file), and the
/// rollback disarmed: the container is the caller's from here.
fn record_restored(
    opts: &RestoreOptions,
    bundle: &Bundle,
    pid: i32,
    reserved: &mut Reserved,
) -> Result<()> {
    let Some(cg) = reserved.rollback.cgroup.as_deref() else {
        bail!("the container's cgroups were never joined");
    };
    let parents = std::mem::take(&mut reserved.parents);
    let record = restored_record(opts, bundle, Some(pid), cg, parents)?;
    state::update_record(&reserved.dir, &record)?;
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    reserved.rollback.dir = None;
    reserved.rollback.cgroup = None;
    Ok(())
}

/// Brings up the loopback of the restored process's new network namespace, as create
/// does in the init: before the processes run again, so that their loopback connections
/// (`--tcp-established`) can be restored. rrun enters the namespace and comes back.
fn loopback_up_in(pid: i32) -> Result<()> {
    use nix::sched::{CloneFlags, setns};
    let own = std::fs::File::open("/proc/self/ns/net").context("opening /proc/self/ns/net")?;
    let theirs = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .with_context(|| format!("opening /proc/{pid}/ns/net"))?;
    setns(&theirs, CloneFlags::CLONE_NEWNET)
        .map_err(|e| anyhow!("entering the container's network namespace: {e}"))?;
    let up = crate::syscalls::set_loopback_up();
    setns(&own, CloneFlags::CLONE_NEWNET)
        .map_err(|e| anyhow!("leaving the container's network namespace: {e}"))?;
    up.map_err(|e| anyhow!("bringing up the restored container's loopback: {e}"))
}

/// CRIU joins the container's cgroups before it restores anything: its children, the
/// restored processes, are then in them (and CRIU is told they are its cgroup roots).
fn join_cgroups(
    cg: &dyn CgroupDriver,
    spec: &Spec,
    criu_pid: i32,
    req: &mut rpc::Criu_req,
) -> Result<()> {
    cg.enter(criu_pid)
        .context("unable to apply cgroup configuration")?;
    crate::cgroups::apply_configured(cg, spec)?;
    let own = std::fs::read_to_string(format!("/proc/{criu_pid}/cgroup"))
        .with_context(|| format!("reading /proc/{criu_pid}/cgroup"))?;
    let opts = req.opts.mut_or_insert_default();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        let (Some(ctrls), Some(path)) = (ctrls, path) else {
            continue;
        };
        // Always set, even empty (the v2 hierarchy's "0::" line): a root without a
        // controller would be CRIU's default for every controller.
        let mut root = rpc::Cgroup_root::new();
        root.set_ctrl(ctrls.to_string());
        root.set_path(path.to_string());
        opts.cg_root.push(root);
    }
    Ok(())
}

/// Namespaces the config joins by path that CRIU takes as external (network, pid): their
/// files, open for CRIU to inherit, with the key the dump named them by.
struct NamespaceFiles {
    files: Vec<(&'static str, std::fs::File)>,
}

impl NamespaceFiles {
    fn open(spec: &Spec) -> Result<Self> {
        let mut files = Vec::new();
        for (t, key) in checkpoint::external_namespaces(spec) {
            let path = checkpoint::ns_path(spec, t).unwrap_or_default();
            let f =
                std::fs::File::open(&path).with_context(|| format!("linux.namespaces: {path}"))?;
            files.push((key, f));
        }
        Ok(NamespaceFiles { files })
    }
}

fn read_descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(DESCRIPTORS_FILE);
    let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parsing {}", path.display()))
}

fn restore_request(
    opts: &RestoreOptions,
    dirs: &ImageDirs,
    bundle: &Bundle,
    reserved: &Reserved,
    descriptors: &[String],
    namespaces: &NamespaceFiles,
    yard: Option<&CgroupYard>,
) -> Result<rpc::Criu_req> {
    let spec = &bundle.spec;
    let root = &(reserved.root.as_ref())
        .ok_or_else(|| anyhow!("CRIU's root is not bound"))?
        .path;
    let cgroup_paths = &reserved.cgroup_paths;
    let mut o = checkpoint::common_opts(&opts.criu, dirs, spec, "restore.log", yard);
    o.set_root(root.display().to_string());
    o.set_rst_sibling(true);
    o.set_evasive_devices(true);
    if let Some(p) = &opts.lsm_profile {
        o.set_lsm_profile(p.clone());
    }
    if let Some(c) = &opts.lsm_mount_context {
        o.set_lsm_mount_context(c.clone());
    }
    for n in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        let Some(path) = n.path() else { continue };
        match n.typ() {
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid => {}
            LinuxNamespaceType::Cgroup => bail!(
                "linux.namespaces: CRIU cannot join the cgroup namespace {}",
                path.display()
            ),
            t => {
                let mut j = rpc::Join_namespace::new();
                j.set_ns(checkpoint::criu_ns_name(t).into());
                j.set_ns_file(path.display().to_string());
                o.join_ns.push(j);
            }
        }
    }
    for (key, f) in &namespaces.files {
        o.inherit_fd.push(inherit_fd(key, f.as_raw_fd()));
    }
    for (i, d) in descriptors.iter().enumerate() {
        if d.contains("pipe:") {
            o.inherit_fd.push(inherit_fd(d, i as i32));
        }
    }
    for (key, source) in restore_mounts(bundle, cgroup_paths) {
        o.ext_mnt.push(checkpoint::mount_map(&key, &source));
    }
    let mut req = rpc::Criu_req::new();
    req.set_type(rpc::Criu_req_type::RESTORE);
    req.opts = protobuf::MessageField::some(o);
    Ok(req)
}

fn inherit_fd(key: &str, fd: i32) -> rpc::Inherit_fd {
    let mut i = rpc::Inherit_fd::new();
    i.set_key(key.into());
    i.set_fd(fd);
    i
}

/// The names the dump gave external mounts, each mapped to its source on this host: a
/// bind's source (relative to the bundle), the new container's cgroup directory for each
/// v1 hierarchy, /dev/null for the masks, the host's device nodes.
fn restore_mounts(bundle: &Bundle, cgroup_paths: &[PathBuf]) -> Vec<(String, String)> {
    let spec = &bundle.spec;
    let mut out = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        let dest = checkpoint::clean_destination(m.destination());
        if checkpoint::is_bind(m) {
            let dest = checkpoint::resolved_destination(&bundle.rootfs, m.destination());
            out.push((dest, bind_source(bundle, m).display().to_string()));
        } else if m.typ().as_deref() == Some("cgroup") && checkpoint::binds_cgroup_hierarchies(spec)
        {
            for h in cgroups::host_hierarchies().unwrap_or_default() {
                let Some(name) = h.mount_point.file_name() else {
                    continue;
                };
                if let Some(own) = cgroup_paths.iter().find(|p| p.starts_with(&h.mount_point)) {
                    out.push((
                        format!("{dest}/{}", name.to_string_lossy()),
                        own.display().to_string(),
                    ));
                }
            }
        }
    }
    if let Some(linux) = spec.linux() {
        if linux.masked_paths().as_ref().is_some_and(|m| !m.is_empty()) {
            out.push(("/dev/null".into(), "/dev/null".into()));
        }
        for d in linux.devices().as_deref().unwrap_or(&[]) {
            let name = checkpoint::resolved_destination(&bundle.rootfs, d.path());
            out.push((name, checkpoint::clean_destination(d.path())));
        }
    }
    out
}

/// The mount points the config needs, made in the root CRIU restores into as create
/// makes them, except under a tmpfs, whose content CRIU restores itself. A mount point
/// inside an earlier bind's destination is made in that bind's source, where create made
/// it (CRIU needs it there: the source may have lost it since). Nothing is mounted for
/// this: a bind under the CRIU root would propagate, on a host whose root is shared, into
/// the restored container itself, and its unmount would take CRIU's mount with it.
fn prepare_mount_points(root: &Path, bundle: &Bundle) -> Result<()> {
    use crate::rootfs::secure::RootDir;
    let mounts = bundle.spec.mounts().as_deref().unwrap_or(&[]);
    let tmpfs: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .map(|m| PathBuf::from(checkpoint::clean_destination(m.destination())))
        .collect();
    // Binds seen so far: (destination, source).
    let mut binds: Vec<(PathBuf, PathBuf)> = Vec::new();
    for m in mounts {
        let dest = PathBuf::from(checkpoint::clean_destination(m.destination()));
        if m.typ().as_deref() == Some("cgroup")
            || tmpfs.iter().any(|t| dest != *t && dest.starts_with(t))
        {
            continue;
        }
        let (base, rel) = match binds
            .iter()
            .filter(|(d, _)| dest != *d && dest.starts_with(d))
            .max_by_key(|(d, _)| d.as_os_str().len())
        {
            Some((d, src)) => (
                src.clone(),
                dest.strip_prefix(d).unwrap_or(&dest).to_path_buf(),
            ),
            None => (root.to_path_buf(), dest.clone()),
        };
        let dir = RootDir::open(&base).with_context(|| format!("opening {}", base.display()))?;
        let source_is_file = checkpoint::is_bind(m)
            && std::fs::metadata(bind_source(bundle, m)).is_ok_and(|md| !md.is_dir());
        let made = if source_is_file {
            dir.create_file(&rel, 0o644).map(drop)
        } else {
            dir.mkdir_all(&rel, 0o755).map(drop)
        };
        made.with_context(|| format!("mounts: creating {}", dest.display()))?;
        if checkpoint::is_bind(m) {
            binds.push((dest, bind_source(bundle, m)));
        }
    }
    Ok(())
}

/// A bind mount's source on this host (relative to the bundle when relative), with `.`
/// and `..` resolved as words: CRIU takes no `/.` in a path.
fn bind_source(bundle: &Bundle, m: &oci_spec::runtime::Mount) -> PathBuf {
    use std::path::Component;
    let src = m.source().clone().unwrap_or_default();
    let mut clean = PathBuf::from("/");
    for c in bundle.dir.join(src).components() {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    clean
}

/// The container's record: with `pid` None, the one written before CRIU starts, marked
/// `creating`, so that a restore killed at any later step leaves what `delete --force`
/// needs (the cgroups CRIU was put in); with the restored init's pid, the final one.
fn restored_record(
    opts: &RestoreOptions,
    bundle: &Bundle,
    pid: Option<i32>,
    cg: &dyn CgroupDriver,
    parents: Vec<PathBuf>,
) -> Result<ContainerRecord> {
    let pid_start_time = match pid {
        Some(pid) => {
            super::proc_stat(pid)
                .ok_or_else(|| anyhow!("restored process {pid} vanished"))?
                .0
        }
        None => 0,
    };
    Ok(ContainerRecord {
        pid: pid.unwrap_or(0),
        pid_start_time,
        // The parents as they were missing before CRIU was put in the cgroups.
        cgroup_parents_created: parents,
        creating: pid.is_none(),
        rootless_cgroups: opts.rootless_cgroups,
        shared_pid_ns: !own_namespace(&bundle.spec, LinuxNamespaceType::Pid),
        ..super::create::new_record(&opts.id, bundle, cg)
    })
}

/// Whether the config gives the container a namespace of type `t` of its own (not
/// joined by path).
fn own_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t && n.path().is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name a dump gives an external mount is one the restore maps to a source.
    #[test]
    fn the_restore_maps_every_name_the_dump_gives() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [
                {"destination": "/data/", "type": "bind", "source": "vol/."},
                {"destination": "/up", "type": "bind", "source": "../b/x/.."},
                {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind"]},
                {"destination": "/proc", "type": "proc", "source": "proc"}
            ],
            "linux": {
                "maskedPaths": ["/proc/self/status"],
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
            }
        }))
        .unwrap();
        let bundle = Bundle {
            dir: PathBuf::from("/b"),
            rootfs: PathBuf::from("/b/rootfs"),
            spec,
        };
        let dumped =
            checkpoint::external_mounts(&bundle.spec, &bundle.rootfs, std::process::id() as i32);
        let restored = restore_mounts(&bundle, &[]);
        for (_, name) in &dumped {
            assert!(
                restored.iter().any(|(key, _)| key == name),
                "{name} unmapped: {restored:?}"
            );
        }
        // A relative source is the bundle's.
        assert!(
            restored.contains(&("/data".into(), "/b/vol".into())),
            "{restored:?}"
        );
        assert!(
            restored.contains(&("/dev/null".into(), "/dev/null".into())),
            "{restored:?}"
        );
    }
}
