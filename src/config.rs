//! Loading and validating a bundle's config.json. Errors name the file and the JSON field,
//! so a user can fix a broken config without guessing.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// A validated bundle: the parsed spec plus the absolute paths derived from it.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

pub fn load_bundle(bundle: &Path) -> Result<Bundle> {
    let dir =
        std::path::absolute(bundle).with_context(|| format!("bundle path {}", bundle.display()))?;
    let config_path = dir.join("config.json");
    let data = match std::fs::read(&config_path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("config.json not found in bundle {}", dir.display())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", config_path.display())),
    };
    let spec = parse_spec(&data).with_context(|| format!("parsing {}", config_path.display()))?;
    let rootfs = validate(&spec, &dir)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// Parses config.json, reporting the path of the offending field on type errors.
pub fn parse_spec(data: &[u8]) -> Result<Spec> {
    let mut value: serde_json::Value = serde_json::from_slice(data)?;
    filter_capabilities(&mut value)?;
    match serde_path_to_error::deserialize::<_, Spec>(value) {
        Ok(spec) => Ok(spec),
        Err(e) => {
            let path = e.path().to_string();
            if path == "." || path.is_empty() {
                bail!("{}", e.inner())
            }
            bail!("{path}: {}", e.inner())
        }
    }
}

/// Capability names this build does not know are dropped with a warning, as runc does for
/// names the kernel lacks; a name that is not a capability name at all is an error.
fn filter_capabilities(config: &mut serde_json::Value) -> Result<()> {
    let Some(sets) = config
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return Ok(());
    };
    for (set, names) in sets.iter_mut() {
        let Some(list) = names.as_array_mut() else {
            continue;
        };
        let mut kept = Vec::with_capacity(list.len());
        for (i, name) in list.iter().enumerate() {
            let Some(text) = name.as_str() else {
                bail!("process.capabilities.{set}[{i}]: expected a capability name, got {name}")
            };
            let well_formed = text.len() > 4
                && text.starts_with("CAP_")
                && text[4..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !well_formed {
                bail!("process.capabilities.{set}[{i}]: malformed capability name {text:?}");
            }
            if serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok() {
                kept.push(name.clone());
            } else {
                crate::logging::warn(&format!(
                    "process.capabilities.{set}: ignoring unknown capability {text:?}"
                ));
            }
        }
        *list = kept;
    }
    Ok(())
}

/// Checks what the runtime needs before creating anything; returns the absolute rootfs.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    if spec.version().is_empty() {
        bail!("ociVersion: must be set");
    }
    let Some(root) = spec.root() else {
        bail!("root: must be set")
    };
    if root.path().as_os_str().is_empty() {
        bail!("root.path: must be set");
    }
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("root.path: rootfs {} is not a directory", rootfs.display()),
        Err(e) => bail!("root.path: rootfs {}: {e}", rootfs.display()),
    }
    let rootfs = std::fs::canonicalize(&rootfs)
        .with_context(|| format!("root.path: resolving {}", rootfs.display()))?;
    let Some(process) = spec.process() else {
        bail!("process: must be set")
    };
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => bail!("process.args: must not be empty"),
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd: {:?} is not an absolute path", process.cwd());
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            bail!(
                "mounts[{i}].destination: {:?} is not an absolute path",
                m.destination()
            );
        }
    }
    if let Some(linux) = spec.linux() {
        let namespaces = linux.namespaces().clone().unwrap_or_default();
        let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
        let mut seen = Vec::new();
        for ns in &namespaces {
            if seen.contains(&ns.typ()) {
                bail!("linux.namespaces: {:?} namespace listed twice", ns.typ());
            }
            seen.push(ns.typ());
        }
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
            && !has(LinuxNamespaceType::Uts)
        {
            bail!("hostname: unable to set hostname without a private UTS namespace");
        }
        if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
            && !has(LinuxNamespaceType::Uts)
        {
            bail!("domainname: unable to set domainname without a private UTS namespace");
        }
        let user_ns = has(LinuxNamespaceType::User);
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_maps && !user_ns {
            bail!("linux.uidMappings: user namespace mappings given without a user namespace");
        }
        if linux.time_offsets().is_some() && !has(LinuxNamespaceType::Time) {
            bail!("linux.timeOffsets: time offsets given without a time namespace");
        }
        if let Some(p) = linux.rootfs_propagation()
            && !p.is_empty()
            && crate::rootfs::options::propagation_flag(p).is_none()
        {
            bail!("linux.rootfsPropagation: unknown propagation {p:?}");
        }
    } else if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) {
        bail!("hostname: unable to set hostname without a private UTS namespace");
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_name_the_field() {
        let err = parse_spec(
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":"zero","gid":0},"cwd":"/"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("process.user.uid:"), "{err}");
    }

    #[test]
    fn unknown_capabilities_are_dropped_and_malformed_refused() {
        let base = |caps: &str| {
            format!(
                r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","capabilities":{{"bounding":{caps}}}}}}}"#
            )
        };
        let spec = parse_spec(base(r#"["CAP_KILL","CAP_NOT_YET_INVENTED"]"#).as_bytes()).unwrap();
        let bounding = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap();
        assert_eq!(bounding.len(), 1);
        let err = parse_spec(base(r#"["kill"]"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "process.capabilities.bounding[0]: malformed capability name \"kill\""
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        let err = parse_spec(b"{not json").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn empty_args_are_refused() {
        let spec = parse_spec(br#"{"ociVersion":"1.0.2","root":{"path":"/"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}}"#).unwrap();
        let err = validate(&spec, Path::new("/")).unwrap_err().to_string();
        assert_eq!(err, "process.args: must not be empty");
    }

    #[test]
    fn relative_cwd_is_refused() {
        let spec = parse_spec(br#"{"ociVersion":"1.0.2","root":{"path":"/"},"process":{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}}"#).unwrap();
        assert!(
            validate(&spec, Path::new("/"))
                .unwrap_err()
                .to_string()
                .starts_with("process.cwd:")
        );
    }
}
