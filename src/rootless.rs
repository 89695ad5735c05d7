//! Who rrun runs as, and what follows from it: the facts runc's rootless mode rests on.
//!
//! - *rootless euid*: rrun runs as an ordinary user (euid != 0). It can only make a
//!   container in a new user namespace, writes its id mappings itself when they map just
//!   its own ids, and through the setuid helpers newuidmap/newgidmap otherwise.
//! - *rootless cgroups*: rrun may lack write access to the cgroups (an ordinary user, or
//!   root inside a user namespace, as under rootless Podman). Permission errors then
//!   leave the container out of the cgroups it can't join, as long as the config asked
//!   for no cgroup path and no limit that needs them (see cgroups).

use std::path::PathBuf;

/// rrun runs as an ordinary user of the host (or of the user namespace it is in).
pub fn euid_is_rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Whether this process is in a user namespace other than the host's: its uid_map maps
/// less than the whole id space onto itself.
pub fn in_user_namespace() -> bool {
    static IN_USERNS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_USERNS.get_or_init(|| {
        crate::procfs::read("/proc/self/uid_map")
            .map(|m| !is_identity_map(&m))
            .unwrap_or(false)
    })
}

fn is_identity_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// `--rootless auto|true|false`, as runc decides it: an explicit value wins; otherwise
/// an ordinary user is rootless, the host's root is not, and root in a user namespace is,
/// except with `--systemd-cgroup` when the bus sees it as the host's root (a rootful
/// systemd in a container).
pub fn cgroups_are_rootless(flag: &str, systemd_cgroup: bool) -> bool {
    match flag {
        "true" => return true,
        "false" => return false,
        _ => {}
    }
    if euid_is_rootless() {
        return true;
    }
    if !in_user_namespace() {
        return false;
    }
    if systemd_cgroup {
        return host_uid() != 0;
    }
    true
}

/// The host's uid for this process's euid (the owner the host's D-Bus sees through the
/// socket's credentials), read from the uid_map of the user namespace it is in.
pub fn host_uid() -> u32 {
    let euid = nix::unistd::geteuid().as_raw();
    crate::procfs::read("/proc/self/uid_map")
        .ok()
        .and_then(|m| map_id(&m, euid))
        .unwrap_or(euid)
}

/// `id` of the namespace, through the lines of a uid_map/gid_map, as the parent sees it.
pub fn map_id(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let id = u64::from(id);
        (id >= inside && id < inside + count)
            .then(|| u32::try_from(outside + id - inside).ok())
            .flatten()
    })
}

/// runc's rule for `$XDG_RUNTIME_DIR`: an ordinary user's state lives there; the host's
/// root keeps /run (its XDG_RUNTIME_DIR, /run/user/0, is not where engines look); root in
/// a user namespace uses it unless `$USER` says root.
pub fn honors_xdg_runtime_dir() -> bool {
    if euid_is_rootless() {
        return true;
    }
    if !in_user_namespace() {
        return false;
    }
    std::env::var("USER").map_or(true, |u| u != "root")
}

/// The state root when `--root` is not given: `$XDG_RUNTIME_DIR/rrun` where runc would
/// use `$XDG_RUNTIME_DIR/runc`, else /run/rrun.
pub fn default_state_root() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())?;
    honors_xdg_runtime_dir().then(|| PathBuf::from(xdg).join("rrun"))
}

/// Makes the per-user state root as runc does: 0700, with the sticky bit that keeps
/// `$XDG_RUNTIME_DIR`'s periodic clean-up away from it.
pub fn make_user_state_root(root: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| {
            anyhow::anyhow!(
                "the path in $XDG_RUNTIME_DIR must be writable by the user: creating {}: {e}",
                root.display()
            )
        })?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700)).map_err(|e| {
        anyhow::anyhow!(
            "you should check permission of the path in $XDG_RUNTIME_DIR: {}: {e}",
            root.display()
        )
    })
}

/// runc's checks of a config run by an ordinary user: a user namespace (with mappings,
/// unless joined), `uid=`/`gid=` mount options that name mapped ids, no additional groups
/// (setgroups is denied in the namespace).
pub fn check_spec(spec: &oci_spec::runtime::Spec) -> anyhow::Result<()> {
    use oci_spec::runtime::LinuxNamespaceType;
    let linux = spec.linux().as_ref();
    let user_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User));
    let Some(user_ns) = user_ns else {
        anyhow::bail!(
            "linux.namespaces: rootless container requires user namespaces (rrun runs as uid {})",
            nix::unistd::geteuid()
        );
    };
    let maps = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| m.cloned().unwrap_or_default();
    let uid_maps = maps(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid_maps = maps(linux.and_then(|l| l.gid_mappings().as_ref()));
    if user_ns
        .path()
        .as_ref()
        .is_none_or(|p| p.as_os_str().is_empty())
    {
        if uid_maps.is_empty() {
            anyhow::bail!(
                "linux.uidMappings: rootless containers requires at least one UID mapping"
            );
        }
        if gid_maps.is_empty() {
            anyhow::bail!(
                "linux.gidMappings: rootless containers requires at least one GID mapping"
            );
        }
        let text = |m: &[oci_spec::runtime::LinuxIdMapping]| {
            m.iter()
                .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                .collect::<String>()
        };
        let (uid_text, gid_text) = (text(&uid_maps), text(&gid_maps));
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            for opt in m.options().iter().flatten() {
                let (map, name) = if let Some(id) = opt.strip_prefix("uid=") {
                    (&uid_text, id)
                } else if let Some(id) = opt.strip_prefix("gid=") {
                    (&gid_text, id)
                } else {
                    continue;
                };
                let Ok(id) = name.parse::<u32>() else {
                    continue;
                };
                if map_id(map, id).is_none() {
                    anyhow::bail!(
                        "mounts[{i}].options: cannot specify {opt} mount option for rootless container: id {id} is not mapped in the user namespace"
                    );
                }
            }
        }
    }
    let groups = spec
        .process()
        .as_ref()
        .and_then(|p| p.user().additional_gids().clone())
        .unwrap_or_default();
    if !groups.is_empty() {
        anyhow::bail!(
            "process.user.additionalGids: cannot set any additional groups in a rootless container"
        );
    }
    Ok(())
}

/// Whether `e` is, at bottom, the kernel saying no for lack of permission (EACCES, EPERM,
/// or EROFS: a read-only cgroupfs, for an unprivileged user much the same).
pub fn is_permission_error(e: &anyhow::Error) -> bool {
    crate::cgroups::os_errors(e).any(|io| {
        matches!(
            io.raw_os_error(),
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_map_is_the_identity() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1000          1\n"));
        assert!(!is_identity_map("0 1000 1\n1 100000 65536\n"));
    }

    fn spec(json: &str) -> oci_spec::runtime::Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_rootless_config_needs_a_user_namespace_with_mappings() {
        let err = check_spec(&spec(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"}]}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("linux.namespaces: rootless container requires user namespaces"),
            "{err}"
        );
        let err = check_spec(&spec(r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}"#))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("linux.gidMappings:"), "{err}");
        // A joined user namespace has its mappings already.
        check_spec(&spec(r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"user","path":"/proc/1/ns/user"}]}}"#)).unwrap();
    }

    #[test]
    fn mount_ids_must_be_mapped_and_groups_are_refused() {
        let base = |mount_opt: &str, groups: &str| {
            spec(&format!(
                r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0{groups}}},"cwd":"/"}},"mounts":[{{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["{mount_opt}"]}}],"linux":{{"namespaces":[{{"type":"user"}}],"uidMappings":[{{"containerID":0,"hostID":1000,"size":1}}],"gidMappings":[{{"containerID":0,"hostID":1000,"size":1}}]}}}}"#
            ))
        };
        check_spec(&base("gid=0", "")).unwrap();
        let err = check_spec(&base("gid=5", "")).unwrap_err().to_string();
        assert!(
            err.starts_with("mounts[0].options: cannot specify gid=5 mount option"),
            "{err}"
        );
        let err = check_spec(&base("nosuid", r#","additionalGids":[10]"#))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("process.user.additionalGids:"), "{err}");
    }

    #[test]
    fn permission_errors_are_told_apart_through_context() {
        let denied = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EACCES))
            .context("creating cgroup /sys/fs/cgroup/pids/x");
        assert!(is_permission_error(&denied));
        let rofs = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EROFS));
        assert!(is_permission_error(&rofs));
        let missing = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOENT))
            .context("creating cgroup");
        assert!(!is_permission_error(&missing));
        assert!(!is_permission_error(&anyhow::anyhow!("Permission denied")));
        let worded = anyhow::Error::new(crate::cgroups::OsError(
            std::io::Error::from_raw_os_error(libc::EACCES),
        ))
        .context("adding pid 1 to /sys/fs/cgroup/x/cgroup.procs");
        assert!(is_permission_error(&worded));
        assert_eq!(
            format!("{worded:#}"),
            "adding pid 1 to /sys/fs/cgroup/x/cgroup.procs: permission denied"
        );
    }

    #[test]
    fn ids_map_through_the_range_that_holds_them() {
        let map = "0 1000 1\n1 100000 65536\n";
        assert_eq!(map_id(map, 0), Some(1000));
        assert_eq!(map_id(map, 1), Some(100000));
        assert_eq!(map_id(map, 65536), Some(165535));
        assert_eq!(map_id(map, 65537), None);
    }
}
