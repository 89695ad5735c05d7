//! What a systemd `cgroupsPath` names: `slice:prefix:name` (runc's format) becomes a unit
//! (`<prefix>-<name>.scope`, or a slice when the name ends in `.slice`), the slice it goes
//! in, and the cgroup directory systemd will give it, below each hierarchy's root.

use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPlacement {
    /// The unit rrun asks systemd for, e.g. `docker-<id>.scope`.
    pub unit: String,
    /// The slice it goes in (`Slice=` of a scope, `Wants=` of a slice).
    pub slice: String,
    /// Its cgroup below a hierarchy root, e.g. `/system.slice/docker-<id>.scope`.
    pub cgroup: PathBuf,
}

impl UnitPlacement {
    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }
}

/// Parses `linux.cgroupsPath` for the systemd driver. An empty path is runc's default:
/// `<default_slice>:runc:<id>` (system.slice for root, user.slice for a rootless caller).
pub fn parse(cgroups_path: &str, id: &str, default_slice: &str) -> Result<UnitPlacement> {
    let (slice, prefix, name) = if cgroups_path.is_empty() {
        (default_slice, "runc", id)
    } else {
        match cgroups_path.split(':').collect::<Vec<_>>()[..] {
            [slice, prefix, name] => (slice, prefix, name),
            _ => bail!(
                "linux.cgroupsPath: expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {cgroups_path:?} instead"
            ),
        }
    };
    let slice = if slice.is_empty() {
        default_slice
    } else {
        slice
    };
    let name = if name.is_empty() { id } else { name };
    if name.contains('/') || prefix.contains('/') {
        bail!("linux.cgroupsPath: {cgroups_path:?}: a unit name can't contain '/'");
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    // systemd places a slice by its own name, whatever slice it is said to want.
    let cgroup = if unit.ends_with(".slice") {
        expand_slice(&unit)?
    } else {
        expand_slice(slice)?.join(&unit)
    };
    Ok(UnitPlacement {
        unit,
        slice: slice.to_string(),
        cgroup,
    })
}

/// A slice's cgroup as systemd makes it: each dash opens a level, so `a-b-c.slice` is
/// `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<PathBuf> {
    let bad = || anyhow::anyhow!("linux.cgroupsPath: invalid slice name {slice:?}");
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(bad());
    };
    if stem == "-" {
        return Ok(PathBuf::from("/"));
    }
    if stem.is_empty()
        || stem.contains('/')
        || stem.contains("--")
        || stem.starts_with('-')
        || stem.ends_with('-')
    {
        return Err(bad());
    }
    let mut path = PathBuf::from("/");
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_go_in_their_slice() {
        let p = parse("system.slice:docker:abc", "x", "system.slice").unwrap();
        assert_eq!(p.unit, "docker-abc.scope");
        assert_eq!(p.slice, "system.slice");
        assert_eq!(p.cgroup, PathBuf::from("/system.slice/docker-abc.scope"));
        let k = parse(
            "kubepods-besteffort-pod12.slice:cri-containerd:abc",
            "x",
            "system.slice",
        )
        .unwrap();
        assert_eq!(
            k.cgroup,
            PathBuf::from(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
            )
        );
    }

    #[test]
    fn empty_parts_take_runc_defaults() {
        let p = parse("", "ctr", "system.slice").unwrap();
        assert_eq!(p.unit, "runc-ctr.scope");
        assert_eq!(p.cgroup, PathBuf::from("/system.slice/runc-ctr.scope"));
        let q = parse(":pfx:", "ctr", "user.slice").unwrap();
        assert_eq!(q.unit, "pfx-ctr.scope");
        assert_eq!(q.slice, "user.slice");
        assert_eq!(parse("-.slice::n", "c", "s.slice").unwrap().unit, "n.scope");
        assert_eq!(
            parse("-.slice::n", "c", "s.slice").unwrap().cgroup,
            PathBuf::from("/n.scope")
        );
    }

    #[test]
    fn a_slice_name_makes_a_slice_placed_by_its_name() {
        let p = parse("system.slice:x:a-b.slice", "c", "system.slice").unwrap();
        assert!(p.is_slice());
        assert_eq!(p.unit, "a-b.slice");
        assert_eq!(p.cgroup, PathBuf::from("/a.slice/a-b.slice"));
    }

    #[test]
    fn malformed_paths_are_refused_naming_the_field() {
        for bad in [
            "/a/b",
            "a:b",
            "a:b:c:d",
            "bad:x:y",
            "a--b.slice:x:y",
            "-a.slice:x:y",
        ] {
            let e = parse(bad, "c", "system.slice").unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }
}
