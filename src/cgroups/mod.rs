//! Cgroups: one interface, a v1 driver (including the hybrid layout, where v1 controllers
//! sit beside a cgroup2 mount) and a v2 driver (unified hierarchy), chosen by looking at
//! what the host has mounted.

pub mod devices_bpf;
pub mod fs;
mod hierarchy;
pub mod resources;
pub mod systemd;
mod v1;
pub(crate) mod v2;

pub use hierarchy::{Hierarchy, exists_while_we_run, host_hierarchies, mounted_from_their_roots};

use anyhow::Result;
use std::path::{Path, PathBuf};

/// runc's checks before a new container takes its cgroup: one that already holds
/// processes belongs to someone else, and in a frozen one the init could never make
/// progress (create would wait on it forever).
pub fn check_unused(driver: &dyn CgroupDriver) -> Result<()> {
    // A directory that does not exist yet has no processes.
    let pids = driver.procs().unwrap_or_default();
    if !pids.is_empty() {
        anyhow::bail!(
            "container's cgroup is not empty: {} process(es) found",
            pids.len()
        );
    }
    if frozen(&driver.paths()) {
        anyhow::bail!("container's cgroup unexpectedly frozen");
    }
    Ok(())
}

/// A freezer file: its name, the contents that mean frozen, the value that thaws.
struct FreezerFile {
    name: &'static str,
    frozen: &'static [&'static str],
    thawed: &'static str,
}

/// v1's freezer.state reads FREEZING from the write of FROZEN until every task is frozen:
/// a freeze asked for already, whose processes can't be counted on to run (runc waits
/// for it to settle and calls the container paused). Read as THAWED, a `start` racing
/// a freeze would write the exec fifo of an init about to stop, and wait on it.
const V1_FREEZER: FreezerFile = FreezerFile {
    name: "freezer.state",
    frozen: &["FROZEN", "FREEZING"],
    thawed: "THAWED",
};
/// v2's cgroup.freeze holds the freeze asked for (1 from the write on).
const V2_FREEZER: FreezerFile = FreezerFile {
    name: "cgroup.freeze",
    frozen: &["1"],
    thawed: "0",
};

/// The freezer files a cgroup directory may have. This runs on every create, start and
/// state, so the host's mount table is not read to know which hierarchy has which: on a
/// v1 or hybrid host each `/sys/fs/cgroup/<name>` is a hierarchy mounted under its
/// controllers' names (`freezer`, `cpu,cpuacct`; `unified` is the cgroup2 one), so the
/// path tells; elsewhere both are tried, a failed open being cheap.
fn freezer_files(dir: &Path, unified_host: bool) -> &'static [FreezerFile] {
    const BOTH: &[FreezerFile] = &[V1_FREEZER, V2_FREEZER];
    let Some(name) = dir
        .strip_prefix("/sys/fs/cgroup")
        .ok()
        .and_then(|rest| rest.components().next())
        .and_then(|c| c.as_os_str().to_str())
    else {
        return BOTH;
    };
    if unified_host || dir.components().count() < 6 {
        BOTH
    } else if name == "unified" {
        &[V2_FREEZER]
    } else if name.split(',').any(|c| c == "freezer") {
        &[V1_FREEZER]
    } else {
        &[]
    }
}

/// Whether any of the directories is frozen, or being frozen (v1 freezer.state, v2
/// cgroup.freeze).
pub fn frozen(paths: &[PathBuf]) -> bool {
    paths.iter().any(|p| {
        freezer_files(p, is_unified_host()).iter().any(|f| {
            fs::read_to_string(&p.join(f.name)).is_ok_and(|s| f.frozen.contains(&s.trim()))
        })
    })
}

/// Thaws the directories (v1 freezer.state, v2 cgroup.freeze): a frozen process can't even
/// die of SIGKILL on v1, so everything that kills a container thaws it first.
pub fn thaw(paths: &[PathBuf]) {
    for p in paths {
        for f in freezer_files(p, is_unified_host()) {
            // Never created: a directory without this file has nothing to thaw.
            if let Ok(mut file) = fs::open_for_writing(&p.join(f.name)) {
                let _ = std::io::Write::write_all(&mut file, f.thawed.as_bytes());
            }
        }
    }
}

/// How a driver treats cgroups the caller may not write (see rootless.rs): runc's
/// rootless cgroup manager.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rootless {
    /// Device rules that fail are left out: an unprivileged caller can't set them, and
    /// the container's user namespace keeps it from making device nodes anyway.
    pub ignore_device_errors: bool,
    /// A cgroup that can't be made or joined for lack of permission is left out, the
    /// container runs without it (no `cgroupsPath` was given); a limit it needed is then
    /// refused, naming the controller.
    pub skip_unwritable: bool,
}

pub use crate::rootless::is_permission_error;

/// An errno from a cgroup file, worded as runc (Go) words it, "permission denied": tools
/// and runc's own tests match those words ([`os_errors`] looks inside it).
#[derive(Debug)]
pub struct OsError(pub std::io::Error);

/// The kernel's errors in `e`'s chain: plain I/O errors and those of cgroup files.
pub fn os_errors(e: &anyhow::Error) -> impl Iterator<Item = &std::io::Error> {
    e.chain().filter_map(|c| {
        c.downcast_ref::<std::io::Error>()
            .or_else(|| c.downcast_ref::<OsError>().map(|os| &os.0))
    })
}

impl std::fmt::Display for OsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.raw_os_error() {
            Some(code) => f.write_str(&crate::logging::errno_in_go_s_words(code)),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for OsError {}

/// runc's words for a limit of a controller whose cgroup the container could not join.
fn not_joined(controller: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot set {controller} limit: container could not join or create cgroup (rootless, and the cgroup is not delegated to this user)"
    )
}

/// What every driver offers to the rest of rrun.
pub trait CgroupDriver {
    /// The container's cgroup directories, one per hierarchy.
    fn paths(&self) -> Vec<PathBuf>;
    /// The systemd unit holding the container, for the systemd driver.
    fn systemd_unit(&self) -> Option<String> {
        None
    }
    /// Creates the directories (and parents) and moves `pid` into them.
    fn enter(&self, pid: i32) -> Result<()>;
    /// `enter`, but the v1 hierarchies are left to the process: their directories are made
    /// and their `tasks` files returned, for it to join with [`join_self`] (cheaper for
    /// the kernel). Only for a single-threaded process with the host's root in the host's
    /// user namespace; drivers that leave nothing to it enter `pid` everywhere.
    fn enter_leaving_v1_to_process(&self, pid: i32) -> Result<Vec<PathBuf>> {
        self.enter(pid).map(|()| Vec::new())
    }
    /// The cgroup v2 directory the init can be cloned straight into (clone3's
    /// CLONE_INTO_CGROUP: no pid written into it later, see [`join_self`] for why), for
    /// [`CgroupDriver::make_clone_target`]. None where the driver has none to offer (v1
    /// only, systemd); only for an init with the host's root in the host's user namespace.
    fn clone_target(&self) -> Option<PathBuf> {
        None
    }
    /// Makes [`CgroupDriver::clone_target`] (and its missing parents, with controllers
    /// enabled down to it) and opens it; `enter` then writes no pid there.
    fn make_clone_target(&self) -> Result<std::os::fd::OwnedFd> {
        anyhow::bail!("this cgroup driver clones into no cgroup")
    }
    /// Pids of every process in the container's cgroup.
    fn procs(&self) -> Result<Vec<i32>>;
    /// Removes the container's directories; they must be empty of processes.
    fn destroy(&self) -> Result<()>;
    /// The directories `enter` made (the container's and missing parents), outermost first.
    fn created_dirs(&self) -> Vec<PathBuf>;
    /// Applies `linux.resources`. As in runc, the config's device nodes get no rule of
    /// their own: `linux.resources.devices` and the standard devices say what is allowed.
    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()>;
    /// Freezes (pause) or thaws (resume) every process, waiting until the kernel is done.
    fn set_frozen(&self, frozen: bool) -> Result<()>;
    /// The container's statistics in runc's `events --stats` schema.
    fn stats(&self) -> Result<serde_json::Value>;
    /// How many times the kernel's OOM killer has acted in the container.
    fn oom_count(&self) -> u64;

    /// `update`: new limits, without touching the device rules set at create.
    fn apply_limits(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
            anyhow::bail!("linux.resources.devices: device rules can't be changed by update");
        }
        if let Some(m) = r
            .memory()
            .as_ref()
            .filter(|m| m.check_before_update() == Some(true))
        {
            // As runc: refuse a limit at or below what the container already uses (the
            // memory's usage for both limits), in its words.
            if let Some(usage) = self.memory_usage() {
                if let Some(swap) = m.swap().filter(|s| *s > 0 && *s as u64 <= usage) {
                    anyhow::bail!(
                        "linux.resources.memory.swap: rejecting memory+swap limit {swap} <= usage {usage}"
                    );
                }
                if let Some(limit) = m.limit().filter(|l| *l > 0 && *l as u64 <= usage) {
                    anyhow::bail!(
                        "linux.resources.memory.limit: rejecting memory limit {limit} <= usage {usage}"
                    );
                }
            }
        }
        self.apply_resources_only(r)
    }
    /// Bytes of memory the container uses now, if the memory controller is there.
    fn memory_usage(&self) -> Option<u64>;
    /// Applies the limits of `r` but not its device rules.
    fn apply_resources_only(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()>;
}

/// Performs planned writes; `dir_for` maps a controller to the directory holding its files.
/// Writes the files in order. One the kernel refuses with EINVAL is tried again once after
/// the others: some limits depend on each other's old values (v1 memory above the old
/// memory+swap, a CPU period the old quota no longer fits under the parent's limit), and
/// are valid once the rest is written, as runc finds too.
fn perform(writes: &[resources::Write], dir_for: impl Fn(&str) -> Option<PathBuf>) -> Result<()> {
    perform_skipping(writes, dir_for, |_| false)
}

/// `perform`, where a controller for which `skipped` holds has no directory because a
/// rootless container could not join its cgroup: a write for one is refused as runc does.
fn perform_skipping(
    writes: &[resources::Write],
    dir_for: impl Fn(&str) -> Option<PathBuf>,
    skipped: impl Fn(&str) -> bool,
) -> Result<()> {
    if let Some(w) = writes.iter().find(|w| skipped(w.controller)) {
        return Err(not_joined(w.controller));
    }
    let mut refused = Vec::new();
    let mut open = None;
    for w in writes {
        match perform_one(w, &dir_for, &mut open) {
            Err((_, true)) if writes.len() > 1 => refused.push(w),
            Err((e, _)) => return Err(e),
            Ok(()) => {}
        }
    }
    for w in refused {
        perform_one(w, &dir_for, &mut open).map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// One write; the error says whether the kernel refused the value with EINVAL. `open` is
/// the file of the write before: a file written again in a row (devices.allow, a line
/// per rule) is opened once, as each open of a cgroup file costs the kernel more than
/// the write.
fn perform_one(
    w: &resources::Write,
    dir_for: &impl Fn(&str) -> Option<PathBuf>,
    open: &mut Option<(PathBuf, std::fs::File)>,
) -> std::result::Result<(), (anyhow::Error, bool)> {
    {
        let Some(dir) = dir_for(w.controller) else {
            return Err((
                anyhow::anyhow!(
                    "linux.resources.{}: the {} cgroup controller is not available on this host",
                    w.field,
                    w.controller
                ),
                false,
            ));
        };
        // Only a choice between files needs a look at which exists.
        let (file, value) = match w.candidates.as_slice() {
            [only] => only,
            many => many
                .iter()
                .find(|(f, _)| fs::exists(&dir.join(f)))
                .unwrap_or(&many[0]),
        };
        let path = dir.join(file);
        if w.if_present && !fs::exists(&path) {
            return Ok(());
        }
        // Never create a file: a missing one means the controller is not available here.
        let mut write = || -> std::io::Result<()> {
            let f = match open.take() {
                Some((p, f)) if p == path => f,
                _ => fs::open_for_writing(&path)?,
            };
            // Each write(2) is one value: cgroup files take a write as a whole.
            let written = std::io::Write::write_all(&mut &f, value.as_bytes());
            *open = Some((path.clone(), f));
            written
        };
        write().map_err(|e| {
            let invalid = e.raw_os_error() == Some(libc::EINVAL);
            let e = if e.raw_os_error() == Some(libc::EBUSY) && file == "memory.limit_in_bytes" {
                // v1 refuses a limit it can't reclaim down to; runc's words, with the
                // numbers that show why.
                anyhow::anyhow!(
                    "linux.resources.{}: unable to set memory limit to {value} (current usage: {}, peak usage: {})",
                    w.field,
                    read_u64(&dir.join("memory.usage_in_bytes")),
                    read_u64(&dir.join("memory.max_usage_in_bytes"))
                )
            } else {
                anyhow::anyhow!(
                    "linux.resources.{}: writing {value:?} to {}: {e}",
                    w.field,
                    path.display()
                )
            };
            (e, invalid)
        })
    }
}

/// Waits until `check` holds (the freezer works asynchronously), up to a few seconds.
fn wait_for(what: &str, check: impl Fn() -> bool) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !check() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

fn read_u64(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat) as a map.
fn read_keyed(path: &Path) -> std::collections::BTreeMap<String, u64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .and_then(|(k, v)| v.trim().parse().ok().map(|v| (k.to_string(), v)))
        })
        .collect()
}

/// Whether the host runs cgroup v2 only; asked once per rrun process.
pub fn is_unified_host() -> bool {
    static UNIFIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UNIFIED.get_or_init(|| {
        fs::filesystem_type(Path::new("/sys/fs/cgroup"))
            == Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    })
}

/// Writes the config's `linux.resources` into a new container's cgroups (none in the
/// config: an empty set, which each driver still applies, e.g. the default device rules).
pub fn apply_configured(cgroup: &dyn CgroupDriver, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let empty = oci_spec::runtime::LinuxResources::default();
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .unwrap_or(&empty);
    cgroup.apply(resources)
}

/// The driver for a new container, from its `linux.cgroupsPath` (empty: derived from the
/// id) and `--systemd-cgroup`.
pub fn for_container(
    spec: &oci_spec::runtime::Spec,
    id: &str,
    systemd_cgroup: bool,
    rootless_cgroups: bool,
) -> Result<Box<dyn CgroupDriver>> {
    let linux = spec.linux().as_ref();
    let cgroups_path = linux
        .and_then(|l| l.cgroups_path().clone())
        .filter(|p| !p.as_os_str().is_empty());
    let rootless = Rootless {
        ignore_device_errors: rootless_cgroups,
        // As runc: only the default place may be skipped; a path the config names must be
        // the caller's to write (a delegated subtree), or the create fails.
        skip_unwritable: rootless_cgroups && cgroups_path.is_none() && !systemd_cgroup,
    };
    if systemd_cgroup {
        return for_systemd_unit(spec, cgroups_path.as_deref(), id, rootless);
    }
    // A systemd-style "slice:prefix:name" without --systemd-cgroup is one directory of that
    // name, as runc and crun take it: containerd's CRI writes that form for a pod whose
    // parent is a ".slice" whichever driver its runtime uses (critest's pods on containerd
    // 1.6, which can't tell critest its driver).
    let path = cgroups_path.unwrap_or_else(|| PathBuf::from(id));
    cgroupfs_driver(&path, rootless)
}

/// The v1 or v2 driver (whichever the host has) on one cgroup path.
fn cgroupfs_driver(path: &Path, rootless: Rootless) -> Result<Box<dyn CgroupDriver>> {
    let hierarchies = host_hierarchies()?;
    if is_unified_host() {
        Ok(Box::new(v2::V2::new(hierarchies, path, rootless)?))
    } else {
        Ok(Box::new(v1::V1::new(hierarchies, path, rootless)))
    }
}

fn for_systemd_unit(
    spec: &oci_spec::runtime::Spec,
    cgroups_path: Option<&Path>,
    id: &str,
    rootless: Rootless,
) -> Result<Box<dyn CgroupDriver>> {
    // runc's check: systemd marks its own runtime directory (sd_booted).
    if !Path::new("/run/systemd/system").is_dir() {
        anyhow::bail!(
            "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system), so it can't manage the container's cgroups"
        );
    }
    // Rootless, the unit is the user's own systemd instance's, which delegates a subtree
    // of the unified hierarchy only.
    let user_manager = rootless.ignore_device_errors;
    if user_manager && !is_unified_host() {
        anyhow::bail!(
            "--systemd-cgroup: cannot use rootless systemd cgroups manager on cgroup v1 (the user's systemd gets no subtree of its own there)"
        );
    }
    let path = cgroups_path
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let default_slice = if user_manager {
        "user.slice"
    } else {
        "system.slice"
    };
    let placement = systemd::unit::parse(&path, id, default_slice)?;
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let annotations = spec.annotations().clone().unwrap_or_default();
    Ok(Box::new(
        systemd::Systemd::new(
            placement,
            |cgroup| cgroupfs_driver(cgroup, rootless),
            is_unified_host(),
            id,
            resources,
            &annotations,
            user_manager,
        )?
        .delegated_to(systemd::delegate_owner(spec)),
    ))
}

/// The driver for an existing container whose directories (and, with the systemd driver,
/// unit) were recorded at create time.
/// `rootless`: the container was created with rootless cgroups, and is in the cgroups of
/// `paths` only (none at all, where nothing was delegated to its user).
pub fn from_paths(
    paths: Vec<PathBuf>,
    systemd_unit: Option<&str>,
    rootless: bool,
) -> Box<dyn CgroupDriver> {
    let rootless = Rootless {
        ignore_device_errors: rootless,
        skip_unwritable: rootless,
    };
    let fs: Box<dyn CgroupDriver> = if is_unified_host() {
        match paths.into_iter().next() {
            Some(dir) => Box::new(v2::V2::from_dir(dir, rootless)),
            None => Box::new(v1::V1::from_dirs(Vec::new(), rootless)),
        }
    } else {
        Box::new(v1::V1::from_dirs(paths, rootless))
    };
    match systemd_unit {
        Some(unit) => Box::new(systemd::Systemd::existing(
            unit.to_string(),
            fs,
            is_unified_host(),
            rootless.ignore_device_errors,
        )),
        None => fs,
    }
}

/// The directories a driver made for a new container, deepest last. A failed create removes
/// them all, so a `cgroupsPath` of `a/b/ctr` leaves no empty `a/b` behind; a driver rebuilt
/// from the state (delete) has none and removes only the container's own directory, as runc.
#[derive(Default)]
struct CreatedDirs(std::sync::Mutex<Vec<PathBuf>>);

impl CreatedDirs {
    /// `create_dir_all` that remembers which of the directories did not exist before.
    /// The directory itself is tried first: its parent exists nearly always, and one
    /// mkdir is all a container then costs.
    fn create(&self, dir: &Path) -> Result<()> {
        let mut result = fs::create_dir(dir);
        if let (Err(e), Some(parent)) = (&result, dir.parent())
            && e.kind() == std::io::ErrorKind::NotFound
        {
            self.create(parent)?;
            result = fs::create_dir(dir);
        }
        match result {
            Ok(()) => {
                self.remember(dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(anyhow::Error::new(OsError(e))
                .context(format!("creating cgroup {}", dir.display()))),
        }
    }

    fn remember(&self, dir: &Path) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.to_path_buf());
    }

    fn list(&self) -> Vec<PathBuf> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Removes the directories made by [`CreatedDirs::create`] that are empty now.
    fn remove_empty(&self) {
        let created = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        remove_made_dirs(&created);
    }
}

/// Removes, deepest first, directories rrun made (listed outermost first), each only if it
/// is empty: another container may have been put under a parent meanwhile, and then it
/// stays. One attempt each: the kernel refuses a parent with live children at once (EBUSY),
/// and a retry would only slow the delete of every container sharing that parent.
pub fn remove_made_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Subdirectories of a cgroup directory: the sub-cgroups its processes made (a container
/// may own its cgroup subtree: delegated v2, or a writable v1 mount).
fn sub_cgroups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a cgroup directory and every sub-cgroup in it, deepest first (as runc does: a
/// container that made sub-cgroups must still delete cleanly), retrying for about a second
/// while the kernel says busy: it releases a cgroup a moment after its last process is
/// reaped. The directory is listed only when a plain rmdir is refused: listing a cgroup
/// directory costs tens of µs, and almost no container makes sub-cgroups.
fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in sub_cgroups(dir) {
        remove_dir(&sub)?;
    }
    for attempt in 0..100 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 99 => {
                std::thread::sleep(std::time::Duration::from_millis(if attempt < 10 {
                    1
                } else {
                    10
                }))
            }
            Err(e) => return Err(anyhow::anyhow!("removing cgroup {}: {e}", dir.display())),
        }
    }
    Ok(())
}

/// The processes of a cgroup and of all its sub-cgroups. The directory is listed only
/// when its link count says it has subdirectories (cgroupfs counts them, as any
/// filesystem does): listing costs tens of µs, and few containers make sub-cgroups.
fn read_procs(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = read_own_procs(dir)?;
    if fs::link_count(dir).is_ok_and(|n| n > 2) {
        for sub in sub_cgroups(dir) {
            pids.extend(read_procs(&sub)?);
        }
    }
    Ok(pids)
}

fn read_own_procs(dir: &Path) -> Result<Vec<i32>> {
    let data = match fs::read_to_string(&dir.join("cgroup.procs")) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(anyhow::anyhow!(
                "reading {}: {e}",
                dir.join("cgroup.procs").display()
            ));
        }
    };
    Ok(data.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Moves the calling thread into the v1 cgroups whose `tasks` files are given, by writing
/// "0" to each: for a single-threaded process, moving the process. The kernel then takes
/// no threadgroup lock, where a pid written to `cgroup.procs` takes
/// cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period unless one
/// passed moments before (0.05 to 16 ms on this project's VM, once per container). v2
/// moves no single thread across domains: its directories are entered by pid.
pub fn join_self(tasks_files: &[PathBuf]) -> Result<()> {
    for file in tasks_files {
        // No O_CREAT: a cgroup removed meanwhile is an error, not a new file.
        let written = fs::write(file, b"0");
        written.map_err(|e| {
            // runc's words; the pid as the host sees it (its /proc is still in view here).
            let pid = std::fs::read_link("/proc/self").unwrap_or_default();
            anyhow::Error::new(OsError(e)).context(format!(
                "error adding pid {} to cgroups: {}",
                pid.display(),
                file.display()
            ))
        })?;
    }
    Ok(())
}

/// Opens a cgroup v2 directory for clone3's CLONE_INTO_CGROUP.
pub fn open_clone_target(dir: &Path) -> Result<std::os::fd::OwnedFd> {
    fs::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
    )
    .map_err(|e| anyhow::anyhow!("opening cgroup {}: {e}", dir.display()))
}

/// Whether `dir` is a cgroup of a v1 hierarchy, which a process may join by itself
/// ([`join_self`]).
pub fn is_v1_dir(dir: &Path) -> bool {
    fs::filesystem_type(dir) == Some(nix::sys::statfs::CGROUP_SUPER_MAGIC)
}

fn write_pid(dir: &Path, pid: i32) -> Result<()> {
    fs::write(&dir.join("cgroup.procs"), pid.to_string()).map_err(|e| {
        anyhow::Error::new(OsError(e)).context(format!(
            "adding pid {pid} to {}",
            dir.join("cgroup.procs").display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::{freezer_files, frozen};
    use std::path::Path;

    #[test]
    fn a_cgroup_being_frozen_counts_as_frozen() {
        let dir = std::env::temp_dir().join(format!("rrun-freezer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = |s: &str| {
            std::fs::write(dir.join("freezer.state"), s).unwrap();
            frozen(std::slice::from_ref(&dir))
        };
        assert!(state("FROZEN\n"));
        assert!(state("FREEZING\n"));
        assert!(!state("THAWED\n"));
        std::fs::remove_file(dir.join("freezer.state")).unwrap();
        std::fs::write(dir.join("cgroup.freeze"), "1\n").unwrap();
        assert!(frozen(std::slice::from_ref(&dir)));
        std::fs::write(dir.join("cgroup.freeze"), "0\n").unwrap();
        assert!(!frozen(std::slice::from_ref(&dir)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_path_names_the_freezer_file_on_v1_and_hybrid_hosts_only() {
        let names = |p: &str, unified: bool| -> Vec<&str> {
            freezer_files(Path::new(p), unified)
                .iter()
                .map(|f| f.name)
                .collect()
        };
        let both = vec!["freezer.state", "cgroup.freeze"];
        assert_eq!(names("/sys/fs/cgroup/freezer/c1", false), ["freezer.state"]);
        assert_eq!(
            names("/sys/fs/cgroup/freezer,devices/a/c1", false),
            ["freezer.state"]
        );
        assert_eq!(names("/sys/fs/cgroup/unified/c1", false), ["cgroup.freeze"]);
        assert!(names("/sys/fs/cgroup/cpu,cpuacct/c1", false).is_empty());
        assert!(names("/sys/fs/cgroup/memory/k/c1", false).is_empty());
        // Elsewhere, and on a cgroup2 host (where /sys/fs/cgroup/memory is just a cgroup's
        // name), both files are tried.
        assert_eq!(names("/sys/fs/cgroup/freezer", false), both);
        assert_eq!(names("/mnt/cgroups/freezer/c1", false), both);
        assert_eq!(names("/sys/fs/cgroup/memory/c1", true), both);
    }
}
