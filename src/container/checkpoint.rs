//! `checkpoint`: CRIU dumps the container's processes into an image directory (or, with
//! `--pre-dump`, only their memory, for an iterative migration). What CRIU must be told
//! comes from the container's config: mounts from the host are external, with names the
//! restore maps back to sources (see [`external_mounts`]); joined namespaces are external
//! too. The container stays as it was if anything fails.

use super::cgroup_yard::CgroupYard;
use crate::cgroups;
use crate::criu::{self, CriuStdio, rpc};
use crate::state::{ContainerRecord, LockedContainer};
use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The stdio targets of the container's init, saved beside the images: a restore gives
/// the restored process the restoring caller's pipes in place of these.
pub const DESCRIPTORS_FILE: &str = "descriptors.json";
/// The CRIU configuration file runc gives CRIU, so that one file set up for runc's
/// checkpoints serves rrun's; the `org.criu.config` annotation names another (or, empty,
/// none), as with runc.
const DEFAULT_CRIU_CONFIG: &str = "/etc/criu/runc.conf";

/// The flags checkpoint and restore share (runc's names).
#[derive(Default, Debug)]
pub struct CriuOptions {
    pub criu: PathBuf,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub manage_cgroups_mode: rpc::Criu_cg_mode,
    pub empty_ns: u32,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
}

/// The flags only checkpoint has.
#[derive(Default, Debug)]
pub struct DumpOptions {
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_skip_in_flight: bool,
    pub link_remap: bool,
    pub pre_dump: bool,
    pub status_fd: i32,
    pub page_server: Option<(String, i32)>,
}

/// `--manage-cgroups-mode` as runc spells it.
pub fn cgroups_mode(mode: Option<&str>) -> Result<rpc::Criu_cg_mode> {
    Ok(match mode.unwrap_or("") {
        "" => rpc::Criu_cg_mode::DEFAULT,
        "soft" => rpc::Criu_cg_mode::SOFT,
        "full" => rpc::Criu_cg_mode::FULL,
        "strict" => rpc::Criu_cg_mode::STRICT,
        "ignore" => rpc::Criu_cg_mode::IGNORE,
        other => {
            bail!("invalid --manage-cgroups-mode value {other:?}: soft, full, strict or ignore")
        }
    })
}

/// `--empty-ns`: runc always leaves the network namespace's devices to whoever set them
/// up; `network` is the only other name it takes (and the same).
pub fn empty_namespaces(names: &[String]) -> Result<u32> {
    for n in names {
        if n != "network" {
            bail!("--empty-ns: namespace {n:?} is not supported");
        }
    }
    Ok(libc::CLONE_NEWNET as u32)
}

/// `--page-server ADDRESS:PORT`.
pub fn page_server(arg: &str) -> Result<(String, i32)> {
    let usage = || anyhow!("Use --page-server ADDRESS:PORT to specify page server");
    let (addr, port) = arg.rsplit_once(':').ok_or_else(usage)?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    if addr.is_empty() || port.is_empty() {
        return Err(usage());
    }
    let port = port.parse().map_err(|_| anyhow!("Invalid port number"))?;
    Ok((addr.to_string(), port))
}

/// Only a running (or paused) container has processes to checkpoint.
pub fn check_state(c: &LockedContainer) -> Result<()> {
    let status = super::status(c);
    if !matches!(status, super::Status::Running | super::Status::Paused) {
        bail!(
            "Container cannot be checkpointed in {} state",
            status.as_str()
        );
    }
    Ok(())
}

pub fn checkpoint(c: &LockedContainer, opts: &CriuOptions, dump: &DumpOptions) -> Result<()> {
    check_state(c)?;
    let bundle = crate::config::load_bundle(Path::new(&c.record.bundle))
        .context("reading the container's config")?;
    let spec = &bundle.spec;
    let dirs = ImageDirs::open(opts, true)?;
    if opts.lazy_pages {
        require_feature(&opts.criu, "lazy pages", |f| f.set_lazy_pages(true))?;
    }
    if dump.pre_dump {
        require_feature(&opts.criu, "memory tracking (pre-dump)", |f| {
            f.set_mem_track(true)
        })?;
    }
    let yard = CgroupYard::make(&c.dir.join(CGROUP_YARD))?;
    let mut o = common_opts(opts, &dirs, spec, "dump.log", yard.as_ref());
    o.set_pid(c.record.pid);
    o.set_root(c.record.rootfs.clone());
    o.set_leave_running(dump.leave_running);
    o.set_tcp_skip_in_flight(dump.tcp_skip_in_flight);
    o.set_link_remap(dump.link_remap);
    if let Some(fcg) = freezer_cgroup(&c.record) {
        o.set_freeze_cgroup(fcg.display().to_string());
    }
    if let Some((address, port)) = &dump.page_server {
        let mut ps = rpc::Criu_page_server_info::new();
        ps.set_address(address.clone());
        ps.set_port(*port);
        o.ps = protobuf::MessageField::some(ps);
    }
    if let Some(parent) = &dump.parent_path {
        o.set_parent_img(parent.display().to_string());
        o.set_track_mem(true);
    }
    if opts.lazy_pages && dump.status_fd >= 0 {
        check_status_fd(dump.status_fd)?;
    }
    for (ns, key) in external_namespaces(spec) {
        let path = ns_path(spec, ns).unwrap_or_default();
        let inode = std::fs::metadata(&path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .with_context(|| format!("linux.namespaces: {path}"))?;
        o.external
            .push(format!("{}[{inode}]:{key}", criu_ns_name(ns)));
    }
    // A pre-dump saves memory only: mounts and descriptors are the final dump's.
    if !dump.pre_dump {
        for (key, name) in external_mounts(spec, Path::new(&c.record.rootfs), c.record.pid) {
            o.ext_mnt.push(mount_map(&key, &name));
        }
        save_descriptors(c.record.pid, &dirs.images)?;
    }
    let mut req = rpc::Criu_req::new();
    req.set_type(if dump.pre_dump {
        rpc::Criu_req_type::PRE_DUMP
    } else {
        rpc::Criu_req_type::DUMP
    });
    req.opts = protobuf::MessageField::some(o);
    let status_fd = (opts.lazy_pages && dump.status_fd >= 0).then_some(dump.status_fd);
    let result = criu::Call {
        criu: &opts.criu,
        request: req,
        inherit: vec![dirs.images_fd.as_fd()]
            .into_iter()
            .chain(dirs.work_fd.as_ref().map(|f| f.as_fd()))
            .collect(),
        stdio: CriuStdio::Null,
    }
    .run(
        |_, _| Ok(()),
        |n| {
            if n.script == "status-ready"
                && let Some(fd) = status_fd
            {
                let _ = nix::unistd::write(crate::syscalls::borrow_fd(fd), &[0]);
            }
            Ok(())
        },
    );
    result
        .map(drop)
        .map_err(|e| criu_error(e, &dirs.log("dump.log"), &opts.criu))
}

/// The image and work directories, opened for CRIU (it is given their fds).
pub struct ImageDirs {
    pub images: PathBuf,
    pub images_fd: OwnedFd,
    pub work_fd: Option<OwnedFd>,
    /// Where CRIU writes its log: the work directory if there is one.
    pub log_dir: PathBuf,
}

impl ImageDirs {
    pub fn open(opts: &CriuOptions, create: bool) -> Result<Self> {
        let open_dir = |p: &Path, create: bool| -> Result<OwnedFd> {
            if create {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .create(p)
                    .with_context(|| format!("creating {}", p.display()))?;
            }
            std::fs::File::open(p)
                .map(OwnedFd::from)
                .with_context(|| format!("opening {}", p.display()))
        };
        let images_fd = open_dir(&opts.image_path, create)?;
        let work_fd = match &opts.work_path {
            Some(w) => Some(open_dir(w, true)?),
            None => None,
        };
        Ok(ImageDirs {
            images: opts.image_path.clone(),
            log_dir: opts.work_path.clone().unwrap_or(opts.image_path.clone()),
            images_fd,
            work_fd,
        })
    }

    pub fn log(&self, name: &str) -> PathBuf {
        std::path::absolute(self.log_dir.join(name)).unwrap_or(self.log_dir.join(name))
    }
}

/// The cgroup yard's name in the container's state directory, while CRIU runs.
pub const CGROUP_YARD: &str = "criu-cgroup-yard";

/// The options checkpoint and restore give CRIU alike.
pub fn common_opts(
    opts: &CriuOptions,
    dirs: &ImageDirs,
    spec: &Spec,
    log: &str,
    yard: Option<&CgroupYard>,
) -> rpc::Criu_opts {
    let mut o = rpc::Criu_opts::new();
    o.set_images_dir_fd(dirs.images_fd.as_raw_fd());
    if let Some(w) = &dirs.work_fd {
        o.set_work_dir_fd(w.as_raw_fd());
    }
    o.set_log_level(4);
    o.set_log_file(log.into());
    o.set_manage_cgroups(true);
    o.set_manage_cgroups_mode(opts.manage_cgroups_mode);
    if let Some(yard) = yard {
        o.set_cgroup_yard(yard.path().display().to_string());
    }
    o.set_notify_scripts(true);
    o.set_shell_job(opts.shell_job);
    o.set_tcp_established(opts.tcp_established);
    o.set_ext_unix_sk(opts.ext_unix_sk);
    o.set_file_locks(opts.file_locks);
    o.set_empty_ns(opts.empty_ns);
    o.set_orphan_pts_master(true);
    o.set_auto_dedup(opts.auto_dedup);
    o.set_lazy_pages(opts.lazy_pages);
    let config = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get("org.criu.config").cloned())
        .unwrap_or_else(|| DEFAULT_CRIU_CONFIG.to_string());
    if !config.is_empty() {
        o.set_config_file(config);
    }
    o
}

pub fn mount_map(key: &str, val: &str) -> rpc::Ext_mount_map {
    let mut m = rpc::Ext_mount_map::new();
    m.set_key(key.into());
    m.set_val(val.into());
    m
}

/// A failure of CRIU as one line: what failed, CRIU's own last error and where its log is.
/// When the failure is CRIU not starting on this kernel, it says so.
pub fn criu_error(e: anyhow::Error, log: &Path, criu_path: &Path) -> anyhow::Error {
    let errors = criu::log_errors(log);
    let mut text = e.to_string();
    // CRIU's answer may carry its last error already.
    let new: Vec<&String> = errors
        .iter()
        .filter(|l| !text.contains(l.as_str()))
        .collect();
    if !new.is_empty() {
        text.push_str(&format!(
            ": {}",
            new.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if errors
        .iter()
        .any(|l| l.contains("kernel features detection") || l.contains("kerndat"))
    {
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let which = if criu_path == Path::new("criu") {
            String::new()
        } else {
            format!(" ({})", criu_path.display())
        };
        text = format!("CRIU{which} cannot run on this kernel ({kernel}): {text}");
    }
    anyhow!("{text} (log: {})", log.display())
}

/// Asks CRIU for a feature the request needs, naming it if CRIU lacks it.
fn require_feature(
    criu: &Path,
    what: &str,
    set: impl FnOnce(&mut rpc::Criu_features),
) -> Result<()> {
    let mut wanted = rpc::Criu_features::new();
    set(&mut wanted);
    let got = criu::check_features(criu, wanted.clone())
        .map_err(|e| anyhow!("checking CRIU for {what}: {e}"))?;
    if (wanted.mem_track() && !got.mem_track()) || (wanted.lazy_pages() && !got.lazy_pages()) {
        bail!(
            "CRIU ({}) does not support {what} on this system",
            criu.display()
        );
    }
    Ok(())
}

fn check_status_fd(fd: i32) -> Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = fcntl(crate::syscalls::borrow_fd(fd), FcntlArg::F_GETFL)
        .map_err(|e| anyhow!("invalid --status-fd argument {fd}: {e}"))?;
    let acc = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE;
    if acc == OFlag::O_RDONLY {
        bail!("invalid --status-fd argument {fd}: not writable");
    }
    Ok(())
}

/// CRIU freezes the container with the cgroup freezer when it is told which: v1's freezer
/// hierarchy, or the container's v2 cgroup. Without one it would stop each task by ptrace.
fn freezer_cgroup(record: &ContainerRecord) -> Option<PathBuf> {
    let unified = cgroups::is_unified_host();
    record
        .cgroup_paths
        .iter()
        .find(|p| {
            if unified {
                true
            } else {
                p.starts_with("/sys/fs/cgroup/freezer")
            }
        })
        .cloned()
}

/// Namespaces the container joined by path that CRIU treats as external (it can't make
/// them anew): network and pid, with runc's keys.
pub fn external_namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, &'static str)> {
    [
        (LinuxNamespaceType::Network, "extRootNetNS"),
        (LinuxNamespaceType::Pid, "extRootPidNS"),
    ]
    .into_iter()
    .filter(|(t, _)| ns_path(spec, *t).is_some())
    .collect()
}

pub fn ns_path(spec: &Spec, t: LinuxNamespaceType) -> Option<String> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == t)?
        .path()
        .as_ref()
        .map(|p| p.display().to_string())
}

pub fn criu_ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// A mount's destination as CRIU sees it inside the container: absolute and clean.
pub fn clean_destination(dest: &Path) -> String {
    Path::new("/")
        .join(crate::rootfs::secure::clean_relative(dest))
        .display()
        .to_string()
}

/// A mount's destination as CRIU finds it in the container: symlinks resolved inside the
/// rootfs (create mounts on what a symlinked destination points to, as runc), clean and
/// absolute. A destination that doesn't resolve is taken as written.
pub fn resolved_destination(rootfs: &Path, dest: &Path) -> String {
    let lexical = clean_destination(dest);
    let resolved = || -> Option<String> {
        let root = crate::rootfs::secure::RootDir::open(rootfs).ok()?;
        let fd = root.open_in_root(dest, libc::O_PATH).ok()?;
        let real = std::fs::read_link(crate::rootfs::secure::fd_path(&fd)).ok()?;
        let root_real = std::fs::canonicalize(rootfs).ok()?;
        let rel = real.strip_prefix(&root_real).ok()?;
        Some(clean_destination(rel))
    };
    resolved().unwrap_or(lexical)
}

/// The mounts CRIU must take as external at a dump, as (mount point, name in the image):
/// bind mounts (named by their destination), the v1 cgroup hierarchies rrun binds from
/// the host, the masked files (binds of /dev/null) and bound device nodes. A restore maps
/// each name back to a source on its host.
pub fn external_mounts(spec: &Spec, rootfs: &Path, init_pid: i32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        let dest = clean_destination(m.destination());
        if is_bind(m) {
            let dest = resolved_destination(rootfs, m.destination());
            out.push((dest.clone(), dest));
        } else if m.typ().as_deref() == Some("cgroup") && !binds_cgroup_hierarchies(spec) {
            continue;
        } else if m.typ().as_deref() == Some("cgroup") {
            for sub in cgroup_hierarchy_mounts(&dest) {
                out.push((sub.clone(), sub));
            }
        }
    }
    if let Some(linux) = spec.linux() {
        for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
            // Masked directories are tmpfs mounts, which CRIU saves; files are /dev/null.
            let in_container = PathBuf::from(format!("/proc/{init_pid}/root"))
                .join(crate::rootfs::secure::clean_relative(Path::new(p)));
            if std::fs::metadata(&in_container).is_ok_and(|m| !m.is_dir()) {
                out.push((clean_destination(Path::new(p)), "/dev/null".into()));
            }
        }
        for d in linux.devices().as_deref().unwrap_or(&[]) {
            let p = resolved_destination(rootfs, d.path());
            out.push((p.clone(), p));
        }
    }
    out
}

pub fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .any(|o| o == "bind" || o == "rbind")
}

/// On a v1 or hybrid host without a cgroup namespace, the `cgroup` mount is a tmpfs of
/// binds of the container's host cgroup directories (see rootfs::cgroupfs).
pub fn binds_cgroup_hierarchies(spec: &Spec) -> bool {
    !cgroups::is_unified_host() && !ns_present(spec, LinuxNamespaceType::Cgroup)
}

fn ns_present(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// The container's mount points of the host's hierarchies under the `cgroup` mount `dest`.
pub fn cgroup_hierarchy_mounts(dest: &str) -> Vec<String> {
    cgroups::host_hierarchies()
        .unwrap_or_default()
        .iter()
        .filter_map(|h| {
            h.mount_point
                .file_name()
                .map(|n| format!("{dest}/{}", n.to_string_lossy()))
        })
        .collect()
}

/// Writes where the init's stdio pointed (`pipe:[N]`, a path...), as runc does.
fn save_descriptors(pid: i32, images: &Path) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_link(format!("/proc/{pid}/fd/{i}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    let path = images.join(DESCRIPTORS_FILE);
    std::fs::write(&path, serde_json::to_vec(&fds)?)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_s_cgroup_modes_and_no_other() {
        assert_eq!(cgroups_mode(None).unwrap(), rpc::Criu_cg_mode::DEFAULT);
        assert_eq!(
            cgroups_mode(Some("strict")).unwrap(),
            rpc::Criu_cg_mode::STRICT
        );
        let e = cgroups_mode(Some("loose")).unwrap_err().to_string();
        assert!(
            e.contains("--manage-cgroups-mode") && e.contains("loose"),
            "{e}"
        );
    }

    #[test]
    fn empty_ns_takes_network_only_and_always_has_it() {
        assert_eq!(empty_namespaces(&[]).unwrap(), libc::CLONE_NEWNET as u32);
        assert_eq!(
            empty_namespaces(&["network".into()]).unwrap(),
            libc::CLONE_NEWNET as u32
        );
        assert!(empty_namespaces(&["pid".into()]).is_err());
    }

    #[test]
    fn page_server_is_address_and_port() {
        assert_eq!(page_server("10.0.0.1:27").unwrap(), ("10.0.0.1".into(), 27));
        assert_eq!(page_server("[::1]:27").unwrap(), ("::1".into(), 27));
        assert!(page_server("10.0.0.1").is_err());
        assert!(page_server(":27").is_err());
        assert!(
            page_server("h:port")
                .unwrap_err()
                .to_string()
                .contains("Invalid port")
        );
    }

    #[test]
    fn bind_mounts_and_devices_are_external_by_their_destination() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [
                {"destination": "/data/../data/", "type": "bind", "source": "/srv"},
                {"destination": "/etc/hosts", "type": "none", "source": "/h", "options": ["rbind", "ro"]},
                {"destination": "/proc", "type": "proc", "source": "proc"}
            ],
            "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}
        }))
        .unwrap();
        let ext = external_mounts(
            &spec,
            Path::new("/nonexistent"),
            std::process::id().cast_signed(),
        );
        assert!(ext.contains(&("/data".into(), "/data".into())), "{ext:?}");
        assert!(
            ext.contains(&("/etc/hosts".into(), "/etc/hosts".into())),
            "{ext:?}"
        );
        assert!(
            ext.contains(&("/dev/fuse".into(), "/dev/fuse".into())),
            "{ext:?}"
        );
        assert!(!ext.iter().any(|(k, _)| k == "/proc"), "{ext:?}");
    }
}
