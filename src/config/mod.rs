//! Loading and validating a bundle's config.json. Errors name the file and the JSON field,
//! so a user can fix a broken config without guessing.

mod go_field_names;

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
    let mut spec =
        parse_spec(&data).with_context(|| format!("parsing {}", config_path.display()))?;
    absolute_mount_destinations(&mut spec);
    let rootfs = validate(&spec, &dir)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// As runc: a relative mount destination is taken from the container's root, with
/// runc's warning (runc will refuse them one day).
fn absolute_mount_destinations(spec: &mut oci_spec::runtime::Spec) {
    let Some(mounts) = spec.mounts_mut() else {
        return;
    };
    for m in mounts.iter_mut().filter(|m| !m.destination().is_absolute()) {
        crate::logging::warn(&format!(
            "mount destination {} is not absolute. Support for non-absolute mount destinations will be removed in a future release.",
            m.destination().display()
        ));
        let absolute = Path::new("/").join(m.destination());
        m.set_destination(absolute);
    }
}

/// The most of a config.json or an exec process.json that rrun reads. Real ones are a few
/// KB (100,000 env entries or 10,000 mounts are about 2 MB); the cap keeps a broken or
/// hostile file from taking the node's memory, whatever it holds.
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// Reads a JSON document of at most [`MAX_DOCUMENT_BYTES`]; the error names the file.
pub fn read_document(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    // Sized from the file (0 for a pipe), so that it is read in one read, not in reads
    // of a buffer that starts at 32 bytes and doubles (eight for a 2.5 KB config.json).
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut data = Vec::with_capacity(size.min(MAX_DOCUMENT_BYTES) as usize + 1);
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
///
/// A config that the spec's types read as it is (nearly all) is read in one pass. Only one
/// they refuse goes through a JSON tree first, where runc's leniencies (unknown capability
/// names, the spec's names of scheduler flags) are applied and an error names the field: a
/// config the fast pass accepts is one those steps leave as it is, so both give the same
/// spec, without a tree built and then read again (about 80 µs of every `run` and `exec`).
/// Both read field names as Go does ([`go_field_names`]).
pub fn parse_spec(data: &[u8]) -> Result<Spec> {
    match deserialize_naming_the_field::<Spec>(data) {
        Ok(spec) => Ok(spec),
        Err(_) => parse_spec_leniently(data),
    }
}

/// What [`parse_spec`] falls back to: the tree, runc's leniencies, the field-naming error.
fn parse_spec_leniently(data: &[u8]) -> Result<Spec> {
    let mut value: serde_json::Value = serde_json::from_slice(data)?;
    drop_unknown_capabilities(&mut value, "/process/capabilities")?;
    if let Some(policy) = value.pointer("/linux/memoryPolicy") {
        crate::scheduling::check_memory_policy_names(policy)?;
    }
    scheduler_flags_as_the_types_name_them(&mut value, "/process/scheduler/flags");
    Ok(deserialize_as_go(&serde_json::to_vec(&value)?)?)
}

/// The runtime-spec names two of `process.scheduler.flags` otherwise than the oci-spec
/// crate's types read them (`SCHED_FLAG_RESET_ON_FORK` and `SCHED_FLAG_DL_OVERRUN` there,
/// `SCHED_RESET_ON_FORK` and `SCHED_FLAG_D_L_OVERRUN` here): a config in the spec's words
/// must not be refused; rrun applies it, as runc does from 1.2 on (`scheduling`).
fn scheduler_flags_as_the_types_name_them(value: &mut serde_json::Value, at: &str) {
    let Some(flags) = value.pointer_mut(at).and_then(|f| f.as_array_mut()) else {
        return;
    };
    for flag in flags {
        let renamed = match flag.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *flag = serde_json::Value::from(renamed);
    }
}

/// Parses the process.json of `exec --process`, as the `process` of a config.
/// Fields runc lets a process.json leave out take their zero values (user 0:0).
/// As [`parse_spec`], one pass where the types take the document as it is (an engine's
/// process.json always names the user).
pub fn parse_process(data: &[u8]) -> Result<oci_spec::runtime::Process> {
    match deserialize_naming_the_field(data) {
        Ok(process) => Ok(process),
        Err(_) => parse_process_leniently(data),
    }
}

fn parse_process_leniently(data: &[u8]) -> Result<oci_spec::runtime::Process> {
    let mut value: serde_json::Value = serde_json::from_slice(data)?;
    if let Some(p) = value.as_object_mut()
        && !p.keys().any(|k| k.eq_ignore_ascii_case("user"))
    {
        p.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
    }
    drop_unknown_capabilities(&mut value, "/capabilities")?;
    scheduler_flags_as_the_types_name_them(&mut value, "/scheduler/flags");
    Ok(deserialize_as_go(&serde_json::to_vec(&value)?)?)
}

/// The one typed read of a document (the tree of the lenient paths is written back to
/// bytes for it: one instance of the spec's deserializers in the binary, not two), with
/// field names matched as runc's Go matches them. `update` reads its resources with it.
pub fn deserialize_naming_the_field<T: serde::de::DeserializeOwned>(
    data: &[u8],
) -> std::result::Result<T, FieldError> {
    let mut document = serde_json::Deserializer::from_slice(data);
    let parsed =
        serde_path_to_error::deserialize::<_, T>(go_field_names::GoFieldNames(&mut document))
            .map_err(|e| {
                let path = e.path().to_string();
                FieldError {
                    field: (path != "." && !path.is_empty()).then_some(path),
                    message: e.inner().to_string(),
                }
            })?;
    // Nothing but white space after the document, as serde_json::from_slice checks.
    document.end().map_err(|e| FieldError {
        field: None,
        message: e.to_string(),
    })?;
    Ok(parsed)
}

/// [`deserialize_naming_the_field`], and where a struct has two keys for one field in
/// different cases ("cpu" and "CPU", as runc's update.bats writes them), what Go's decoder
/// makes of them: both read into the field in turn, the later one's settings over the
/// earlier's (objects merged key by key, anything else replaced). serde refuses the
/// duplicate; its error names the struct, where the keys are merged before another read.
pub fn deserialize_as_go<T: serde::de::DeserializeOwned>(
    data: &[u8],
) -> std::result::Result<T, FieldError> {
    let mut error = match deserialize_naming_the_field(data) {
        Err(e) if e.duplicate().is_some() => e,
        read => return read,
    };
    let mut value: serde_json::Value = serde_json::from_slice(data).map_err(|e| FieldError {
        field: None,
        message: e.to_string(),
    })?;
    // Each round merges one field's keys: bounded by the document's keys.
    loop {
        let Some(field) = error.duplicate() else {
            return Err(error);
        };
        if !go_field_names::merge_keys_of_one_field(&mut value, error.field.as_deref(), field) {
            return Err(error);
        }
        let data = serde_json::to_vec(&value).map_err(|e| FieldError {
            field: None,
            message: e.to_string(),
        })?;
        match deserialize_naming_the_field(&data) {
            Err(e) if e.duplicate().is_some() => error = e,
            read => return read,
        }
    }
}

/// Why a document was not read: the field, where the error is in one (`process.user.uid`),
/// and what is wrong; shown as `field: message`.
#[derive(Debug)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    /// The field named twice, where that is the error (serde's words: "duplicate field `cpu`").
    fn duplicate(&self) -> Option<&str> {
        self.message
            .strip_prefix("duplicate field `")?
            .split('`')
            .next()
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FieldError {}

/// Capability names that are no Linux capability (or are newer than the oci-spec types
/// know) are dropped with runc's warning, "ignoring unknown or unavailable capabilities",
/// as runc does: engines send one list to every kernel. A name that is not a string is an
/// error naming the field. `at` is where the capabilities object is in `value`.
fn drop_unknown_capabilities(value: &mut serde_json::Value, at: &str) -> Result<()> {
    let Some(sets) = value.pointer_mut(at).and_then(|c| c.as_object_mut()) else {
        return Ok(());
    };
    let field = at.trim_start_matches('/').replace('/', ".");
    let mut unknown = std::collections::BTreeSet::new();
    for (set, names) in sets.iter_mut() {
        let Some(list) = names.as_array_mut() else {
            continue;
        };
        for (i, name) in list.iter().enumerate() {
            if !name.is_string() {
                bail!("{field}.{set}[{i}]: expected a capability name, got {name}")
            }
        }
        list.retain(|name| {
            let known =
                serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                unknown.insert(name.as_str().unwrap_or_default().to_string());
            }
            known
        });
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.into_iter().collect();
        crate::logging::warn(&format!(
            "ignoring unknown or unavailable capabilities: [{}]",
            names.join(" ")
        ));
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
    crate::scheduling::check_process(process)?;
    // The memory policy read as the init will read it: a bad one fails here, before anything.
    crate::scheduling::ContainerScheduling::of(spec)?;
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
        // Masks and read-only paths need a mount namespace of the container's own:
        // refused without one, as runc refuses them, rather than run the container
        // without them.
        if !has(LinuxNamespaceType::Mount) {
            for (field, paths) in [
                ("linux.maskedPaths", linux.masked_paths()),
                ("linux.readonlyPaths", linux.readonly_paths()),
            ] {
                if paths.as_ref().is_some_and(|p| !p.is_empty()) {
                    bail!(
                        "{field}: unable to restrict sys entries without a private MNT namespace"
                    );
                }
            }
        }
        crate::sysctl::check(linux)?;
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
    fn unknown_capabilities_are_dropped_and_non_strings_refused() {
        let base = |caps: &str| {
            format!(
                r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","capabilities":{{"bounding":{caps}}}}}}}"#
            )
        };
        let bounding = |caps: &str| {
            let spec = parse_spec(base(caps).as_bytes()).unwrap();
            let process = spec.process().clone().unwrap();
            let c = process.capabilities().clone().unwrap();
            c.bounding().clone().unwrap().len()
        };
        assert_eq!(bounding(r#"["CAP_KILL","CAP_CHECKPOINT_RESTORE"]"#), 2);
        assert_eq!(bounding(r#"["CAP_KILL","CAP_TEST","UNKNOWN_CAP"]"#), 1);
        // Which the one-pass read refuses: they reach the lenient one, and its warning.
        let unknown = base(r#"["CAP_KILL","CAP_TEST"]"#);
        assert!(deserialize_naming_the_field::<Spec>(unknown.as_bytes()).is_err());
        let err = parse_spec(base(r#"["CAP_KILL",5]"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "process.capabilities.bounding[1]: expected a capability name, got 5"
        );
    }

    #[test]
    fn scheduler_flags_in_the_spec_s_words_are_read() {
        let spec = parse_spec(
            br#"{"ociVersion":"1.2.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","scheduler":{"policy":"SCHED_FIFO","priority":10,"flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM"]}}}"#,
        )
        .unwrap();
        let scheduler = spec.process().clone().unwrap().scheduler().clone().unwrap();
        assert_eq!(scheduler.flags().clone().unwrap().len(), 3);
        let err = parse_spec(
            br#"{"ociVersion":"1.2.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","scheduler":{"policy":"SCHED_FIFO","flags":["SCHED_FLAG_NONE"]}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("process.scheduler.flags[0]:"), "{err}");
        let process = parse_process(
            br#"{"cwd":"/","args":["true"],"scheduler":{"policy":"SCHED_RR","flags":["SCHED_FLAG_RESET_ON_FORK"]}}"#,
        )
        .unwrap();
        assert_eq!(
            process
                .scheduler()
                .clone()
                .unwrap()
                .flags()
                .clone()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn the_one_pass_read_and_the_lenient_one_give_the_same_spec() {
        let same = |config: &[u8]| {
            let fast = deserialize_naming_the_field::<Spec>(config).unwrap();
            assert_eq!(fast, parse_spec_leniently(config).unwrap());
        };
        same(crate::container::spec::default_spec(false).as_bytes());
        same(crate::container::spec::default_spec(true).as_bytes());
        same(
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/"},
                "linux":{"resources":{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}}}"#,
        );
    }

    #[test]
    fn field_names_in_go_s_spellings_are_read_as_the_spec_spells_them() {
        let spec = parse_spec(
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/"},
                "linux":{"resources":{"hugepageLimits":[{"pagesize":"2MB","limit":1}],
                "CPU":{"Cpus":"0"}}}}"#,
        )
        .unwrap();
        let resources = spec.linux().clone().unwrap().resources().clone().unwrap();
        let limits = resources.hugepage_limits().clone().unwrap();
        assert_eq!(limits[0].page_size(), "2MB");
        assert_eq!(
            resources.cpu().clone().unwrap().cpus().as_deref(),
            Some("0")
        );
        // And in the lenient read, which a capability no kernel has sends it to.
        let spec = parse_spec(
            br#"{"ociVersion":"1.0.2","process":{"User":{"UID":0,"gid":0},"cwd":"/",
                "capabilities":{"bounding":["CAP_TEST"]}},"Linux":{"Resources":{"CPU":{"Cpus":"0"}}}}"#,
        )
        .unwrap();
        let resources = spec.linux().clone().unwrap().resources().clone().unwrap();
        assert_eq!(
            resources.cpu().clone().unwrap().cpus().as_deref(),
            Some("0")
        );
        // Both spellings at once, as runc's update.bats leaves them: Go's decoder reads both
        // into the field, the later over the earlier.
        let spec = parse_spec(
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/"},
                "linux":{"resources":{"cpu":{"shares":5,"cpus":"1"},"CPU":{"Cpus":"0","Mems":"0"}}}}"#,
        )
        .unwrap();
        let resources = spec.linux().clone().unwrap().resources().clone().unwrap();
        let cpu = resources.cpu().clone().unwrap();
        assert_eq!(
            (cpu.shares(), cpu.cpus().as_deref(), cpu.mems().as_deref()),
            (Some(5), Some("0"), Some("0"))
        );
    }

    #[test]
    fn a_process_json_is_read_in_one_pass_as_leniently() {
        // containerd's, for an exec in a Docker container.
        let process = br#"{"user":{"uid":0,"gid":0,"additionalGids":[0,1,2]},"args":["sh"],
            "env":["PATH=/usr/bin:/bin","HOSTNAME=abc"],"cwd":"/","terminal":false,
            "capabilities":{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"],
            "permitted":["CAP_CHOWN","CAP_KILL"]},"apparmorProfile":"docker-default",
            "oomScoreAdj":0,"noNewPrivileges":true}"#;
        let fast: oci_spec::runtime::Process = deserialize_naming_the_field(process).unwrap();
        assert_eq!(fast, parse_process_leniently(process).unwrap());
        assert_eq!(fast, parse_process(process).unwrap());
    }

    #[test]
    fn process_json_may_leave_out_the_user() {
        let p = parse_process(br#"{"args":["/bin/env"],"cwd":"/"}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
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
