use crate::cli::UpdateArgs;
use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::LinuxResources;
use serde_json::{Value, json};

/// `update`: new limits for a container's cgroup, from a resources JSON or from flags.
pub fn run(store: &Store, a: &UpdateArgs) -> Result<()> {
    let c = store.open(&a.id).context("update")?;
    if container::status(&c) == Status::Stopped {
        // runc's words (ErrNotRunning), which callers look for.
        bail!("update: container not running: {} is stopped", a.id);
    }
    let document = match &a.resources {
        Some(path) if path == "-" => std::io::read_to_string(std::io::stdin())
            .context("update: reading resources from stdin")?,
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("update: reading {path}"))?
        }
        None => from_flags(a)?.to_string(),
    };
    if [&a.l3_cache_schema, &a.mem_bw_schema]
        .iter()
        .any(|s| s.is_some())
        && !std::path::Path::new("/sys/fs/resctrl/schemata").exists()
    {
        bail!(
            "update: Intel RDT: --l3-cache-schema and --mem-bw-schema need resctrl, which is not mounted here"
        );
    }
    // As runc reads it: field names in any case ("CPU": {"Cpus": ...}).
    let mut resources: LinuxResources = crate::config::deserialize_as_go(document.as_bytes())
        .map_err(|e| match e.field {
            Some(field) => anyhow!("update: resources.{field}: {}", e.message),
            None => anyhow!("update: parsing resources: {}", e.message),
        })?;
    fix_up(&mut resources);
    crate::container::cgroup_of(&c.record)
        .apply_limits(&resources)
        .context("update")
}

fn from_flags(a: &UpdateArgs) -> Result<Value> {
    let mut r = json!({"memory": {}, "cpu": {}, "blockIO": {}});
    let mut set = |ptr: &str, v: Value| {
        if let Some(slot) = r.pointer_mut(ptr) {
            *slot = v;
        } else {
            let (parent, key) = ptr.rsplit_once('/').unwrap_or(("", ptr));
            r.pointer_mut(parent)
                .and_then(|p| p.as_object_mut())
                .map(|o| o.insert(key.to_string(), v));
        }
    };
    for (flag, value, ptr) in [
        ("--memory", &a.memory, "/memory/limit"),
        ("--memory-swap", &a.memory_swap, "/memory/swap"),
        (
            "--memory-reservation",
            &a.memory_reservation,
            "/memory/reservation",
        ),
        ("--kernel-memory", &a.kernel_memory, "/memory/kernel"),
        (
            "--kernel-memory-tcp",
            &a.kernel_memory_tcp,
            "/memory/kernelTCP",
        ),
    ] {
        if let Some(v) = value {
            set(
                ptr,
                json!(parse_bytes(v).map_err(|e| anyhow!("update: {flag}: {e}"))?),
            );
        }
    }
    if let Some(v) = a.cpu_share {
        set("/cpu/shares", json!(v));
    }
    if let Some(v) = a.cpu_burst {
        set("/cpu/burst", json!(v));
    }
    if let Some(v) = a.cpu_idle {
        set("/cpu/idle", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("/cpu/quota", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("/cpu/period", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        set("/cpu/realtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("/cpu/realtimeRuntime", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("/cpu/cpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("/cpu/mems", json!(v));
    }
    if let Some(v) = a.blkio_weight {
        set("/blockIO/weight", json!(v));
    }
    if let Some(v) = a.pids_limit {
        r["pids"] = json!({"limit": v});
    }
    Ok(r)
}

/// runc's fix-ups before applying: memory -1 without a swap value also lifts swap (the
/// kernel refuses a swap limit without a memory limit); kernel memory (`memory.kmem`) is
/// ignored with a warning, as in runc: kernels since 5.16 no longer limit it.
// `kernel` is deprecated in the spec's types: read here only to warn that it is ignored.
#[allow(deprecated)]
fn fix_up(r: &mut LinuxResources) {
    let Some(mut memory) = *r.memory() else {
        return;
    };
    if memory.limit() == Some(-1) && memory.swap().is_none() {
        memory.set_swap(Some(-1));
    }
    if memory.kernel().is_some() {
        crate::logging::warn("Kernel memory settings are ignored and will be removed");
        memory.set_kernel(None);
    }
    r.set_memory(Some(memory));
}

/// Byte counts as runc's update takes them: a number with an optional b/k/m/g/t suffix
/// (powers of 1024), or -1 for unlimited.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t
        .strip_suffix('b')
        .filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size {s:?}"))?;
    if n < 0.0 {
        bail!("invalid size {s:?}");
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
