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
    let data = match read_document(&config_path) {
        Ok(d) => d,
        Err(e)
            if e.downcast_ref::<std::io::Error>().map(|e| e.kind())
                == Some(std::io::ErrorKind::NotFound) =>
        {
            bail!("config.json not found in bundle {}", dir.display())
        }
        Err(e) => return Err(e),
    };
    let spec = parse_spec(&data).with_context(|| format!("parsing {}", config_path.display()))?;
    let rootfs = validate(&spec, &dir)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// The most of a config.json or an exec process.json that rrun reads. Real ones are a few
/// KB (100,000 env entries or 10,000 mounts are about 2 MB); the cap keeps a broken or
/// hostile file from taking the node's memory, whatever it holds.
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// Reads a JSON document of at most [`MAX_DOCUMENT_BYTES`]; the error names the file.
pub fn read_document(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut data = Vec::new();
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("reading {}", path.display()))?;
    if data.len() as u64 > MAX_DOCUMENT_BYTES {
        bail!(
            "{}: larger than the {} MiB rrun reads",
            path.display(),
            MAX_DOCUMENT_BYTES >> 20
        );
    }
    Ok(data)
}

/// Parses config.json, reporting the path of the offending field on type errors.
pub fn parse_spec(data: &[u8]) -> Result<Spec> {
    let value: serde_json::Value = serde_json::from_slice(data)?;
    check_capability_names(&value)?;
    deserialize_naming_the_field(value)
}

/// Parses the process.json of `exec --process`, as the `process` of a config.
pub fn parse_process(data: &[u8]) -> Result<oci_spec::runtime::Process> {
    let value: serde_json::Value = serde_json::from_slice(data)?;
    deserialize_naming_the_field(value)
}

fn deserialize_naming_the_field<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            anyhow::anyhow!("{}", e.inner())
        } else {
            anyhow::anyhow!("{path}: {}", e.inner())
        }
    })
}

/// A name that is not a Linux capability is an error naming it, as the spec requires ("any
/// value which cannot be mapped to a relevant kernel interface MUST cause an error").
/// Capabilities newer than the running kernel are skipped later, with a warning, as runc
/// does (see `capabilities::to_set`): engines send their full list to older kernels.
fn check_capability_names(config: &serde_json::Value) -> Result<()> {
    let Some(sets) = config
        .pointer("/process/capabilities")
        .and_then(|c| c.as_object())
    else {
        return Ok(());
    };
    for (set, names) in sets {
        let Some(list) = names.as_array() else {
            continue;
        };
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
            if serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_err() {
                bail!("process.capabilities.{set}[{i}]: unknown capability {text:?}");
            }
        }
    }
    Ok(())
}

/// `ociVersion` must be a SemVer 2.0.0 version of runtime-spec 1.x, the specification rrun
/// implements (the spec: "MUST generate an error when invalid or unsupported values are
/// encountered").
fn check_version(version: &str) -> Result<()> {
    if version.is_empty() {
        bail!("ociVersion: must be set");
    }
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    if numbers.len() != 3 || !numbers.iter().all(numeric) {
        bail!("ociVersion: {version:?} is not a SemVer version (MAJOR.MINOR.PATCH)");
    }
    if numbers[0] != "1" {
        bail!("ociVersion: {version:?} is not supported: rrun implements runtime-spec 1.x");
    }
    Ok(())
}

/// Checks what the runtime needs before creating anything; returns the absolute rootfs.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    check_version(spec.version())?;
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
    fn unknown_and_malformed_capabilities_are_refused() {
        let base = |caps: &str| {
            format!(
                r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","capabilities":{{"bounding":{caps}}}}}}}"#
            )
        };
        let spec = parse_spec(base(r#"["CAP_KILL","CAP_CHECKPOINT_RESTORE"]"#).as_bytes()).unwrap();
        let bounding = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(bounding.bounding().as_ref().unwrap().len(), 2);
        let err = parse_spec(base(r#"["CAP_KILL","CAP_TEST"]"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "process.capabilities.bounding[1]: unknown capability \"CAP_TEST\""
        );
        let err = parse_spec(base(r#"["kill"]"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "process.capabilities.bounding[0]: malformed capability name \"kill\""
        );
    }

    #[test]
    fn oci_version_must_be_semver_of_spec_1() {
        for good in [
            "1.0.0",
            "1.0.2-dev",
            "1.3.0",
            "1.2.1+build.5",
            "1.10.0-rc.1",
        ] {
            check_version(good).unwrap();
        }
        for bad in [
            "", "invalid", "1.0", "1.0.0.0", "01.0.0", "1.x.0", "2.0.0", "0.5.0",
        ] {
            assert!(
                check_version(bad)
                    .unwrap_err()
                    .to_string()
                    .starts_with("ociVersion"),
                "{bad}"
            );
        }
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
