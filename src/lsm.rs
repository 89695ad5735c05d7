//! AppArmor and SELinux labels. Applied when the host has the LSM enabled; otherwise
//! ignored as runc does (AppArmor with a debug line, SELinux silently).

use anyhow::{Result, anyhow};
use oci_spec::runtime::Process;
use std::path::Path;
use std::sync::OnceLock;

/// Whether the host has AppArmor enabled. Read once and kept: the labels are written
/// inside the container, whose /sys has no securityfs, so the first look must come while
/// the process still sees the host's mounts ([`look_at_the_hosts_lsms`]).
pub fn apparmor_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y")
            && Path::new("/sys/kernel/security/apparmor").exists()
    })
}

/// Whether the host has SELinux enabled; kept as [`apparmor_enabled`] is (a container's
/// /sys has no selinuxfs either).
pub fn selinux_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| Path::new("/sys/fs/selinux/enforce").exists())
}

/// Looks, from the host's mount namespace, at the LSMs whose labels `process` has, so
/// that the init (a clone of rrun) and `exec`'s process (a fork) know them once they are
/// inside the container. A build that looked from inside ignored Docker's
/// `docker-default` profile on every AppArmor host.
pub fn look_at_the_hosts_lsms(process: Option<&Process>) {
    let Some(process) = process else {
        return;
    };
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        apparmor_enabled();
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
    {
        selinux_enabled();
    }
}

/// Labels for the next exec, written from inside the container (its /proc) just before it.
pub fn set_exec_labels(process: &Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if apparmor_enabled() {
            let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
                "/proc/self/attr/apparmor/exec"
            } else {
                "/proc/self/attr/exec"
            };
            std::fs::write(attr, format!("exec {profile}"))
                .map_err(|e| anyhow!("process.apparmorProfile: applying {profile:?}: {e}"))?;
        } else {
            crate::logging::debug(&format!(
                "AppArmor is not enabled on this host: ignoring process.apparmorProfile {profile:?}"
            ));
        }
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if selinux_enabled() {
            std::fs::write("/proc/self/attr/exec", label)
                .map_err(|e| anyhow!("process.selinuxLabel: applying {label:?}: {e}"))?;
        } else {
            crate::logging::debug(&format!(
                "SELinux is disabled on this host: ignoring process.selinuxLabel {label:?}"
            ));
        }
    }
    Ok(())
}

/// The mount data with `linux.mountLabel` as SELinux context, where SELinux is enabled.
pub fn with_mount_label(data: &str, fstype: &str, label: Option<&str>) -> String {
    match label.filter(|l| !l.is_empty()) {
        Some(l)
            if selinux_enabled()
                && !matches!(
                    fstype,
                    "proc" | "sysfs" | "cgroup" | "cgroup2" | "bind" | ""
                ) =>
        {
            if data.is_empty() {
                format!("context=\"{l}\"")
            } else {
                format!("{data},context=\"{l}\"")
            }
        }
        _ => data.to_string(),
    }
}
