//! `linux.sysctl`: which keys a container may set, and setting them in the init.
//!
//! /proc/sys is namespaced only in part: a key outside the container's own namespaces
//! would change the host's kernel for everyone. So, as runc does, a key is allowed only
//! where the container has a namespace of its own for it: the IPC ones with an IPC
//! namespace, `net.*` with a network namespace that is not the caller's, `kernel.domainname`
//! with a UTS namespace (`kernel.hostname` has the `hostname` field), the ucounts limits
//! `user.*` with a user namespace (runc 1.5). Any other is refused before anything is made.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Linux, LinuxNamespaceType, Spec};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The IPC namespace's keys beside `fs.mqueue.*`.
const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Refuses a key the container's namespaces do not isolate (runc's messages, after the
/// field's name).
pub fn check(linux: &Linux) -> Result<()> {
    let Some(sysctls) = linux.sysctl() else {
        return Ok(());
    };
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let namespace = |t: LinuxNamespaceType| namespaces.iter().find(|n| n.typ() == t);
    let mut keys: Vec<&String> = sysctls.keys().collect();
    keys.sort();
    for key in keys {
        checked_shape(key)?;
        let key = dotted(key);
        if IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if namespace(LinuxNamespaceType::Ipc).is_none() {
                bail!("linux.sysctl: sysctl {key:?} is not allowed in the hosts ipc namespace");
            }
            continue;
        }
        if key.starts_with("net.") {
            let own = match namespace(LinuxNamespaceType::Network) {
                None => false,
                Some(ns) => match ns.path() {
                    None => true,
                    Some(path) => !is_callers_network_namespace(path)?,
                },
            };
            if !own {
                bail!("linux.sysctl: sysctl {key:?} not allowed in host network namespace");
            }
            continue;
        }
        if namespace(LinuxNamespaceType::Uts).is_some() {
            match key.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => bail!(
                    "linux.sysctl: sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                ),
                _ => {}
            }
        }
        // The ucounts limits (`user.max_*`) are the user namespace's own (runc 1.5): with
        // the host's, a container could lift a limit the host set (user namespaces
        // turned off, say) for everyone.
        if key.starts_with("user.") {
            if namespace(LinuxNamespaceType::User).is_none() {
                bail!("linux.sysctl: setting ucounts without a user namespace not allowed: {key}");
            }
            continue;
        }
        bail!("linux.sysctl: sysctl {key:?} is not in a separate kernel namespace");
    }
    Ok(())
}

/// A key names a file under /proc/sys and nothing above it: checked with the rules, before
/// anything is made, and again where the init writes it.
fn checked_shape(key: &str) -> Result<()> {
    if key.is_empty() || key.starts_with(['.', '/']) || key.contains("..") {
        bail!("linux.sysctl: invalid key {key:?}");
    }
    Ok(())
}

/// A key with '.' between its parts: "net/ipv4/conf/eno2.100/rp_filter" (the form
/// sysctl(8) also takes, where a '.' inside a part stays) is "net.ipv4.conf.eno2/100.rp_filter".
fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// Whether a network namespace to join is the one rrun runs in: "host" means the
/// caller's, whichever that is.
fn is_callers_network_namespace(path: &Path) -> Result<bool> {
    let own = std::fs::metadata("/proc/self/ns/net").context("stat /proc/self/ns/net")?;
    let joined = std::fs::metadata(path)
        .with_context(|| format!("linux.namespaces: network namespace {}", path.display()))?;
    Ok(own.dev() == joined.dev() && own.ino() == joined.ino())
}

/// Writes each key under /proc/sys (the container's, in the init after pivot_root).
pub fn write_all(spec: &Spec) -> Result<()> {
    let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().clone()) else {
        return Ok(());
    };
    for (key, value) in sysctls {
        checked_shape(&key)?;
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, &value)
            .with_context(|| format!("linux.sysctl: writing {key}={value}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(namespaces: &str, key: &str) -> Linux {
        serde_json::from_str(&format!(
            r#"{{"namespaces":[{namespaces}],"sysctl":{{"{key}":"1"}}}}"#
        ))
        .unwrap()
    }

    fn refusal(namespaces: &str, key: &str) -> Option<String> {
        check(&linux(namespaces, key)).err().map(|e| e.to_string())
    }

    #[test]
    fn a_key_is_allowed_only_in_a_namespace_of_the_containers_own() {
        let ipc = r#"{"type":"ipc"}"#;
        let net = r#"{"type":"network"}"#;
        let uts = r#"{"type":"uts"}"#;
        assert_eq!(refusal(ipc, "kernel.shmmax"), None);
        assert_eq!(refusal(ipc, "fs.mqueue.msg_max"), None);
        assert_eq!(refusal(net, "net.ipv4.ip_forward"), None);
        assert_eq!(refusal(net, "net/ipv4/conf/eno2.100/rp_filter"), None);
        assert_eq!(refusal(uts, "kernel.domainname"), None);
        assert_eq!(
            refusal(net, "kernel.shmmax").as_deref(),
            Some(
                "linux.sysctl: sysctl \"kernel.shmmax\" is not allowed in the hosts ipc namespace"
            )
        );
        assert_eq!(
            refusal(ipc, "net.ipv4.ip_forward").as_deref(),
            Some(
                "linux.sysctl: sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
            )
        );
        assert!(
            refusal(uts, "kernel.hostname")
                .unwrap()
                .contains("conflicts with the OCI")
        );
        let all = format!("{ipc},{net},{uts}");
        assert_eq!(
            refusal(&all, "vm.overcommit_ratio").as_deref(),
            Some(
                "linux.sysctl: sysctl \"vm.overcommit_ratio\" is not in a separate kernel namespace"
            )
        );
        assert!(refusal(&all, "kernel/core_pattern").is_some());
        let user = r#"{"type":"user"}"#;
        assert_eq!(refusal(user, "user.max_user_namespaces"), None);
        assert_eq!(
            refusal(&all, "user.max_user_namespaces").as_deref(),
            Some(
                "linux.sysctl: setting ucounts without a user namespace not allowed: user.max_user_namespaces"
            )
        );
    }

    #[test]
    fn joining_the_callers_own_network_namespace_is_the_host_s() {
        let callers = r#"{"type":"network","path":"/proc/self/ns/net"}"#;
        assert!(refusal(callers, "net.ipv4.ip_forward").is_some());
        let missing = r#"{"type":"network","path":"/nonexistent/netns"}"#;
        assert!(
            refusal(missing, "net.ipv4.ip_forward")
                .unwrap()
                .contains("/nonexistent/netns")
        );
    }

    #[test]
    fn a_key_reaching_out_of_proc_sys_is_refused_before_the_rules() {
        let net = r#"{"type":"network"}"#;
        assert_eq!(
            refusal(net, "net/../../kernel/core_pattern").as_deref(),
            Some("linux.sysctl: invalid key \"net/../../kernel/core_pattern\"")
        );
    }

    #[test]
    fn slash_separated_keys_read_as_dotted() {
        assert_eq!(
            dotted("net/ipv4/conf/eno2.100/rp_filter"),
            "net.ipv4.conf.eno2/100.rp_filter"
        );
        assert_eq!(dotted("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(dotted("kernel"), "kernel");
    }
}
