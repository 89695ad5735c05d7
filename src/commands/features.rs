use anyhow::Result;
use serde_json::json;

/// `features`: the runtime-spec's features document, telling what this rrun supports.
/// Checkpoint/restore is there when CRIU is: runc's annotation for it, and CRIU's version,
/// are given only when a CRIU at `criu` answers.
pub fn run(criu: &str) -> Result<()> {
    let mut doc = document();
    if let Ok(v) = crate::criu::version(std::path::Path::new(criu)) {
        doc["annotations"]["org.opencontainers.runc.checkpoint.enabled"] = json!("true");
        doc["annotations"]["org.criu.version"] =
            json!(format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100));
    }
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

pub fn document() -> serde_json::Value {
    let mut caps: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::options::known_option_names(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": crate::scheduling::MEMORY_POLICY_MODES,
                "flags": crate::scheduling::MEMORY_POLICY_FLAGS,
            },
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
        },
        "annotations": {"org.rrun.version": env!("CARGO_PKG_VERSION")},
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_as_the_specs_features_type() {
        let doc = super::document();
        let f: oci_spec::runtime::Features = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(f.oci_version_max(), "1.2.0");
        let linux = f.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 8);
        assert_eq!(
            linux
                .memory_policy()
                .as_ref()
                .unwrap()
                .modes()
                .as_ref()
                .unwrap()
                .len(),
            7
        );
        assert!(
            linux
                .capabilities()
                .as_ref()
                .unwrap()
                .contains(&"CAP_SYS_ADMIN".to_string())
        );
        assert!(
            doc["mountOptions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == "rbind")
        );
    }
}
