//! The systemd cgroup driver (`--systemd-cgroup`): the container's init goes into a
//! transient scope that systemd makes (StartTransientUnit over D-Bus), so that systemd,
//! which owns the cgroup tree on such hosts, knows the container and keeps its limits.
//!
//! Resources systemd has properties for go to it as unit properties; then, as runc does,
//! every limit is also written into the scope's cgroup directly by the cgroupfs driver of
//! the host's layout (v2, or v1 with systemd's hierarchies): it fills in what systemd has
//! no property for, joins the v1 hierarchies systemd does not manage, and attaches the
//! device rules. Pause, ps, stats and kill work on the scope's cgroup through that driver.

mod dbus;
pub mod properties;
pub mod unit;

use super::CgroupDriver;
use anyhow::{Context, Result};
use oci_spec::runtime::LinuxResources;
use properties::{Property, Value};
use std::path::PathBuf;
use std::sync::OnceLock;

pub use unit::UnitPlacement;

pub struct Systemd {
    unit: String,
    /// Slice= of a scope, Wants= of a slice; empty for a driver rebuilt from the state.
    slice: String,
    /// The cgroupfs driver on the unit's directories.
    fs: Box<dyn CgroupDriver>,
    unified: bool,
    /// Known at create only: the unit's first properties.
    description: String,
    resources: LinuxResources,
    annotation_properties: Vec<Property>,
    address: String,
    manager: OnceLock<dbus::Manager>,
    /// Whether the unit is this container's: started by `enter`, or recorded in the state.
    /// A create that failed to start it must not stop a unit of that name it never made.
    owns_unit: std::cell::Cell<bool>,
    /// The host uid the unit's cgroup is delegated to (see [`delegate_owner`]).
    owner: Option<u32>,
}

impl Systemd {
    /// The driver for a new container, the cgroupfs driver made by `fs_for` on the unit's
    /// cgroup. Annotations are parsed here, so that a bad one fails the create before
    /// anything is made. `user_manager`: the unit is the caller's own systemd instance's
    /// (rootless), reached on the user's bus; its cgroup is below that instance's own.
    pub fn new(
        placement: UnitPlacement,
        fs_for: impl FnOnce(&std::path::Path) -> Result<Box<dyn CgroupDriver>>,
        unified: bool,
        id: &str,
        resources: LinuxResources,
        annotations: &std::collections::HashMap<String, String>,
        user_manager: bool,
    ) -> Result<Self> {
        let annotation_properties = properties::from_annotations(annotations)?;
        let address = bus_address(user_manager)?;
        let manager = OnceLock::new();
        let mut cgroup = placement.cgroup;
        if user_manager {
            // e.g. /user.slice/user-1000.slice/user@1000.service, then user.slice/...
            let m = dbus::Manager::connect(&address)?;
            let own = m.control_group()?;
            cgroup = PathBuf::from(own).join(cgroup.strip_prefix("/").unwrap_or(&cgroup));
            let _ = manager.set(m);
        }
        Ok(Systemd {
            unit: placement.unit,
            slice: placement.slice,
            fs: fs_for(&cgroup)?,
            unified,
            description: format!("libcontainer container {id}"),
            resources,
            annotation_properties,
            address,
            manager,
            owns_unit: std::cell::Cell::new(false),
            owner: None,
        })
    }

    /// The cgroup goes to this host uid once the unit is made (see [`delegate_owner`]).
    pub fn delegated_to(mut self, owner: Option<u32>) -> Self {
        self.owner = owner;
        self
    }

    /// The driver of an existing container, from its recorded unit and directories.
    pub fn existing(
        unit: String,
        fs: Box<dyn CgroupDriver>,
        unified: bool,
        user_manager: bool,
    ) -> Self {
        Systemd {
            unit,
            slice: String::new(),
            fs,
            unified,
            description: String::new(),
            resources: LinuxResources::default(),
            annotation_properties: Vec::new(),
            // A user whose bus is gone meanwhile gets that error when systemd is needed.
            address: bus_address(user_manager).unwrap_or_default(),
            manager: OnceLock::new(),
            owns_unit: std::cell::Cell::new(true),
            owner: None,
        }
    }

    /// The connection, made on first use: most commands on a container (state, ps, kill,
    /// pause) never talk to systemd.
    fn manager(&self) -> Result<&dbus::Manager> {
        if let Some(m) = self.manager.get() {
            return Ok(m);
        }
        let m = dbus::Manager::connect(&self.address)?;
        Ok(self.manager.get_or_init(|| m))
    }

    /// `r`, where it changes the CPU period but not the quota, with the quota in effect:
    /// systemd takes both as one property (CPUQuotaPerSecUSec), and runc's `update` keeps
    /// the container's quota (it updates the config it holds), so the quota is read back
    /// from the cgroup (`update --cpu-period` alone made the quota unlimited).
    fn with_quota_in_effect(&self, r: &LinuxResources) -> LinuxResources {
        let mut r = r.clone();
        let Some(mut cpu) = r.cpu().clone() else {
            return r;
        };
        if cpu.period().is_none() || cpu.quota().is_some_and(|q| q != 0) {
            return r;
        }
        cpu.set_quota(self.quota_in_effect());
        r.set_cpu(Some(cpu));
        r
    }

    /// The cgroup's CPU quota now (-1: none), from v2's cpu.max or v1's cpu.cfs_quota_us.
    fn quota_in_effect(&self) -> Option<i64> {
        self.fs.paths().iter().find_map(|dir| {
            if let Ok(max) = super::fs::read_to_string(&dir.join("cpu.max")) {
                let quota = max.split_whitespace().next()?;
                return if quota == "max" {
                    Some(-1)
                } else {
                    quota.parse().ok()
                };
            }
            super::fs::read_to_string(&dir.join("cpu.cfs_quota_us"))
                .ok()?
                .trim()
                .parse()
                .ok()
        })
    }

    /// StartTransientUnit's properties: runc's base set, the annotations, the resources
    /// (these last, so that the config's limits win over an annotation, as in runc).
    fn start_properties(&self, pid: i32, manager: &dbus::Manager) -> Result<Vec<Property>> {
        let b = |v: bool| Value::Bool(v);
        let mut props: Vec<Property> =
            vec![("Description".into(), Value::Str(self.description.clone()))];
        if self.unit.ends_with(".slice") {
            props.push(("Wants".into(), Value::Strings(vec![self.slice.clone()])));
        } else {
            props.push(("Slice".into(), Value::Str(self.slice.clone())));
            props.push(("Delegate".into(), b(true)));
            props.push(("PIDs".into(), Value::U32s(vec![pid as u32])));
        }
        let io = if self.unified {
            "IOAccounting"
        } else {
            "BlockIOAccounting"
        };
        for name in ["MemoryAccounting", "CPUAccounting", io, "TasksAccounting"] {
            props.push((name.into(), b(true)));
        }
        props.push(("DefaultDependencies".into(), b(false)));
        props.extend(self.annotation_properties.iter().cloned());
        props.extend(self.resource_properties(&self.resources, manager)?);
        props.extend(properties::devices(
            &self.resources,
            &properties::proc_devices_group,
            &properties::host_has_device,
        ));
        Ok(props)
    }

    fn resource_properties(
        &self,
        r: &LinuxResources,
        manager: &dbus::Manager,
    ) -> Result<Vec<Property>> {
        // systemd's version is asked only when a property depends on it.
        let version = if properties::needs_version(r) {
            manager.version()
        } else {
            u32::MAX
        };
        properties::resources(r, self.unified, version)
    }
}

/// The system bus, or for the user's own systemd instance the user's bus.
/// Who gets the container's cgroup, as runc (1.2 on) gives it on cgroup v2 with systemd: a
/// container in a cgroup namespace of its own, whose /sys/fs/cgroup is a writable cgroup
/// mount, manages its subtree as its process's user, where that user maps to the host
/// (`process.user.uid` through `linux.uidMappings`). Otherwise nobody: the cgroup stays
/// root's, and a container of another user namespace sees it as unmapped.
pub fn delegate_owner(spec: &oci_spec::runtime::Spec) -> Option<u32> {
    let linux = spec.linux().as_ref()?;
    let cgroup_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup);
    let writable_cgroupfs = spec.mounts().iter().flatten().any(|m| {
        m.source().as_deref() == Some(std::path::Path::new("cgroup"))
            && crate::rootfs::secure::clean_relative(m.destination())
                == std::path::Path::new("sys/fs/cgroup")
            && !m.options().iter().flatten().any(|o| o == "ro")
    });
    if !cgroup_ns || !writable_cgroupfs {
        return None;
    }
    let uid = spec.process().as_ref().map_or(0, |p| p.user().uid());
    linux.uid_mappings().iter().flatten().find_map(|m| {
        let offset = uid.checked_sub(m.container_id())?;
        (offset < m.size()).then(|| m.host_id() + offset)
    })
}

/// Gives `dir` and the files systemd delegates with a cgroup (the kernel's list in
/// /sys/kernel/cgroup/delegate, or cgroups(7)'s three) to `uid`.
fn delegate(dir: &std::path::Path, uid: u32) -> Result<()> {
    let chown = |path: &std::path::Path| {
        super::fs::chown(path, uid).with_context(|| format!("chown {} to {uid}", path.display()))
    };
    chown(dir)?;
    let listed = std::fs::read_to_string("/sys/kernel/cgroup/delegate");
    let files: Vec<&str> = match &listed {
        Ok(text) => text.lines().filter(|l| !l.is_empty()).collect(),
        Err(_) => vec!["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"],
    };
    for file in files {
        let path = dir.join(file);
        match super::fs::chown(&path, uid) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.with_context(|| format!("chown {} to {uid}", path.display()))?,
        }
    }
    Ok(())
}

fn bus_address(user_manager: bool) -> Result<String> {
    if user_manager {
        dbus::user_bus_address()
    } else {
        Ok(dbus::system_bus_address())
    }
}

impl CgroupDriver for Systemd {
    fn paths(&self) -> Vec<PathBuf> {
        self.fs.paths()
    }

    fn systemd_unit(&self) -> Option<String> {
        Some(self.unit.clone())
    }

    /// systemd makes the unit (and its cgroup) and moves `pid` in; the cgroupfs driver
    /// then joins the hierarchies systemd does not manage (v1) and delegates controllers.
    fn enter(&self, pid: i32) -> Result<()> {
        let manager = self.manager()?;
        let props = self.start_properties(pid, manager)?;
        let started = manager.start_transient_unit(&self.unit, &props);
        // Only a unit of that name that was there before is not ours to stop; one whose
        // job failed or timed out may still be half made.
        self.owns_unit
            .set(!started.as_ref().is_err_and(dbus::is_unit_exists));
        started.with_context(|| {
            format!(
                "systemd: starting unit {} on {}",
                self.unit,
                manager.address()
            )
        })?;
        self.fs.enter(pid)?;
        match (self.owner, self.fs.paths().as_slice()) {
            (Some(uid), [dir]) if self.unified => delegate(dir, uid),
            _ => Ok(()),
        }
    }

    /// On v1 the name=systemd hierarchy is read: systemd places every process of a unit
    /// there, whichever controllers it has realised for the unit.
    fn procs(&self) -> Result<Vec<i32>> {
        match self
            .fs
            .paths()
            .into_iter()
            .find(|p| p.starts_with("/sys/fs/cgroup/systemd"))
        {
            Some(dir) if !self.unified => super::read_procs(&dir),
            _ => self.fs.procs(),
        }
    }

    /// Stops the unit (systemd removes its cgroup), then removes what rrun made itself.
    /// The directories go even when systemd can't be asked; the error is still reported,
    /// so that `delete` can be tried again.
    fn destroy(&self) -> Result<()> {
        if !self.owns_unit.get() {
            return Ok(());
        }
        let stopped = self
            .manager()
            .and_then(|m| m.stop_unit(&self.unit))
            .with_context(|| format!("systemd: stopping unit {}", self.unit));
        let removed = self.fs.destroy();
        stopped.and(removed)
    }

    fn created_dirs(&self) -> Vec<PathBuf> {
        self.fs.created_dirs()
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.fs.apply(r)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        self.fs.set_frozen(frozen)
    }

    fn stats(&self) -> Result<serde_json::Value> {
        self.fs.stats()
    }

    fn oom_count(&self) -> u64 {
        self.fs.oom_count()
    }

    fn memory_usage(&self) -> Option<u64> {
        self.fs.memory_usage()
    }

    /// `update`: the unit's properties first (so systemd keeps the new limits), then files.
    fn apply_resources_only(&self, r: &LinuxResources) -> Result<()> {
        let manager = self.manager()?;
        let props = self.resource_properties(&self.with_quota_in_effect(r), manager)?;
        if !props.is_empty() {
            manager
                .set_unit_properties(&self.unit, &props)
                .with_context(|| format!("systemd: setting properties of {}", self.unit))?;
        }
        self.fs.apply_resources_only(r)
    }
}

#[cfg(test)]
mod tests {
    use super::delegate_owner;

    fn spec(namespaces: &str, options: &str, uid: u32) -> oci_spec::runtime::Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion": "1.0.2", "process": {{"cwd": "/", "user": {{"uid": {uid}, "gid": 0}}}},
                "mounts": [{{"destination": "/sys/fs/cgroup/", "type": "cgroup", "source": "cgroup",
                             "options": [{options}]}}],
                "linux": {{"namespaces": [{namespaces}],
                           "uidMappings": [{{"containerID": 0, "hostID": 100000, "size": 65536}}]}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_cgroup_goes_to_the_process_user_only_with_its_own_namespace_and_a_writable_mount() {
        let userns_cgroupns = r#"{"type": "user"}, {"type": "cgroup"}"#;
        assert_eq!(
            delegate_owner(&spec(userns_cgroupns, r#""rw""#, 0)),
            Some(100000)
        );
        assert_eq!(
            delegate_owner(&spec(userns_cgroupns, "", 1000)),
            Some(101000)
        );
        assert_eq!(delegate_owner(&spec(userns_cgroupns, r#""ro""#, 0)), None);
        assert_eq!(delegate_owner(&spec(r#"{"type": "user"}"#, "", 0)), None);
        assert_eq!(delegate_owner(&spec(userns_cgroupns, "", 70000)), None);
    }
}
