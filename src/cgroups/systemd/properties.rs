//! The unit properties rrun gives systemd, as pure functions (unit-tested without systemd):
//! the resources systemd owns (runc's mapping, for cgroup v2 and v1 names), the device
//! policy, and the `org.systemd.property.*` annotations, parsed as runc parses them.

use crate::cgroups::devices_bpf::Rule;
use crate::cgroups::resources;
use anyhow::{Result, bail};
use oci_spec::runtime::LinuxResources;
use std::collections::HashMap;

/// A D-Bus value of the types systemd's unit properties take.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Strings(Vec<String>),
    U32s(Vec<u32>),
    Bytes(Vec<u8>),
    /// DeviceAllow's a(ss): path or group, permissions.
    DeviceAllow(Vec<(String, String)>),
}

pub type Property = (String, Value);

fn prop(name: &str, value: Value) -> Property {
    (name.to_string(), value)
}

/// systemd's "infinity" for limits.
const INFINITY: u64 = u64::MAX;

fn limit(v: i64) -> u64 {
    if v < 0 { INFINITY } else { v as u64 }
}

/// Version-dependent properties: CPUQuotaPeriodUSec since systemd 242, AllowedCPUs and
/// AllowedMemoryNodes since 244. Asked only when the config needs them (one more call).
pub fn needs_version(r: &LinuxResources) -> bool {
    r.unified().as_ref().is_some_and(|u| !u.is_empty())
        || r.cpu().as_ref().is_some_and(|c| {
            c.period().unwrap_or(0) != 0
                || c.cpus().as_deref().is_some_and(|s| !s.is_empty())
                || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        })
}

/// The resource properties of a container's unit. `unified`: the host runs cgroup v2
/// (MemoryMax, CPUWeight, IOWeight) rather than v1 (MemoryLimit, CPUShares, BlockIOWeight).
pub fn resources(r: &LinuxResources, unified: bool, systemd_version: u32) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        let (mem, swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
        if mem != 0 {
            out.push(prop(
                if unified { "MemoryMax" } else { "MemoryLimit" },
                Value::U64(limit(mem)),
            ));
        }
        if unified {
            if let Some(v) = m.reservation().filter(|v| *v != 0) {
                out.push(prop("MemoryLow", Value::U64(limit(v))));
            }
            if swap != 0 {
                let value = resources::v2_swap_max(swap, m.limit())?.unwrap_or(INFINITY);
                out.push(prop("MemorySwapMax", Value::U64(value)));
            }
        }
    }
    if let Some(c) = r.cpu() {
        // systemd 252 sets cpu.idle for CPUWeight=idle (0), and clears it for any other
        // weight, so, as runc, an idle container gets no weight of its own through systemd.
        let idle = unified && systemd_version >= CPU_IDLE_SINCE && c.idle() == Some(1);
        if idle {
            out.push(prop("CPUWeight", Value::U64(0)));
        }
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            if !unified {
                out.push(prop("CPUShares", Value::U64(shares)));
            } else if idle {
                crate::logging::warn(
                    "unable to apply both CPUWeight and CpuIdle to systemd, ignoring CPUWeight",
                );
            } else {
                out.push(prop(
                    "CPUWeight",
                    Value::U64(resources::shares_to_weight(shares)),
                ));
            }
        }
        cpu_quota(
            c.quota().unwrap_or(0),
            c.period().unwrap_or(0),
            systemd_version,
            &mut out,
        );
        if systemd_version >= 244 {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                out.push(prop(
                    "AllowedCPUs",
                    Value::Bytes(range_to_bits(cpus, "cpu.cpus")?),
                ));
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                out.push(prop(
                    "AllowedMemoryNodes",
                    Value::Bytes(range_to_bits(mems, "cpu.mems")?),
                ));
            }
        }
    }
    if let Some(p) = r.pids().as_ref().filter(|p| p.limit() != 0) {
        out.push(prop("TasksMax", Value::U64(limit(p.limit()))));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w > 0)
    {
        out.push(if unified {
            prop(
                "IOWeight",
                Value::U64(resources::blkio_weight_to_io_weight(w)),
            )
        } else {
            prop("BlockIOWeight", Value::U64(u64::from(w)))
        });
    }
    if unified {
        unified_map(r, systemd_version, &mut out)?;
    }
    Ok(out)
}

/// CPUQuotaPerSecUSec (and its period): systemd keeps the quota as a whole percentage of
/// a CPU, so, as runc does, a fraction is rounded up to the next 10 ms per second so that
/// the quota rrun writes itself afterwards still fits.
fn cpu_quota(quota: i64, period: u64, systemd_version: u32, out: &mut Vec<Property>) {
    if period != 0 && systemd_version >= 242 {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if quota != 0 || period != 0 {
        let mut per_sec = INFINITY;
        if quota > 0 {
            let period = if period == 0 { 100_000 } else { period };
            per_sec = (quota as u64).saturating_mul(1_000_000) / period;
            if !per_sec.is_multiple_of(10_000) {
                per_sec = (per_sec / 10_000 + 1) * 10_000;
            }
        }
        out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    }
}

/// The systemd version whose CPUWeight=idle (0) sets cpu.idle.
const CPU_IDLE_SINCE: u32 = 252;

/// `linux.resources.unified` keys systemd has properties for (runc's list).
fn unified_map(r: &LinuxResources, systemd_version: u32, out: &mut Vec<Property>) -> Result<()> {
    let Some(map) = r.unified() else {
        return Ok(());
    };
    let idle =
        systemd_version >= CPU_IDLE_SINCE && map.get("cpu.idle").is_some_and(|v| v.trim() == "1");
    let mut keys: Vec<_> = map.keys().collect();
    keys.sort();
    for key in keys {
        let v = map[key].trim();
        let max_or = |name: &str| -> Result<Property> {
            let n = if v == "max" {
                INFINITY
            } else {
                v.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "linux.resources.unified.{key}: {v:?} is not a number or \"max\""
                    )
                })?
            };
            Ok(prop(name, Value::U64(n)))
        };
        match key.as_str() {
            "memory.high" => out.push(max_or("MemoryHigh")?),
            "memory.low" => out.push(max_or("MemoryLow")?),
            "memory.min" => out.push(max_or("MemoryMin")?),
            "memory.max" => out.push(max_or("MemoryMax")?),
            "memory.swap.max" => out.push(max_or("MemorySwapMax")?),
            "pids.max" => out.push(max_or("TasksMax")?),
            "cpu.idle" if idle => out.push(prop("CPUWeight", Value::U64(0))),
            "cpu.weight" if idle => crate::logging::warn(
                "unable to apply both cpu.weight and cpu.idle to systemd, ignoring cpu.weight",
            ),
            "cpu.weight" => out.push(max_or("CPUWeight")?),
            "cpu.max" => {
                // "QUOTA [PERIOD]", QUOTA "max" for none.
                let mut parts = v.split_whitespace();
                let bad = || {
                    anyhow::anyhow!(
                        "linux.resources.unified.{key}: {v:?} is not \"QUOTA [PERIOD]\""
                    )
                };
                let quota = match parts.next() {
                    Some("max") => -1,
                    Some(q) => q.parse().map_err(|_| bad())?,
                    None => return Err(bad()),
                };
                let period = match parts.next() {
                    Some(p) => p.parse().map_err(|_| bad())?,
                    None => 0,
                };
                cpu_quota(quota, period, systemd_version, out);
            }
            "cpuset.cpus" if systemd_version >= 244 => out.push(prop(
                "AllowedCPUs",
                Value::Bytes(range_to_bits(v, "unified.cpuset.cpus")?),
            )),
            "cpuset.mems" if systemd_version >= 244 => out.push(prop(
                "AllowedMemoryNodes",
                Value::Bytes(range_to_bits(v, "unified.cpuset.mems")?),
            )),
            _ => {}
        }
    }
    Ok(())
}

/// A cpuset list ("0-2,4") as systemd's bitmask bytes: byte i holds CPUs 8i..8i+7.
pub fn range_to_bits(list: &str, field: &str) -> Result<Vec<u8>> {
    let bad = || anyhow::anyhow!("linux.resources.{field}: invalid list {list:?}");
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse(), part.parse()),
        };
        let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
        if lo > hi || hi > 8191 {
            return Err(bad());
        }
        for n in lo..=hi {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    if bits.is_empty() {
        return Err(bad());
    }
    Ok(bits)
}

/// DevicePolicy and DeviceAllow from the same rules the cgroup gets (deny all, the
/// config's rules, the standard devices), as runc derives them. systemd only knows allow
/// lists: a config that allows everything gets "auto"; one that allows all but some
/// devices can't be said, and gets the strict, empty list (rrun's own rules on the
/// cgroup still decide). Rules systemd can't name (`*:n`, or `n:*` of a major that
/// /proc/devices does not list) are left to rrun's own rules, with a warning. A device
/// the host does not have is left out (systemd would only log that it can't find it; runc
/// leaves it out too).
pub fn devices(
    r: &LinuxResources,
    device_group: &dyn Fn(char, i64) -> Option<String>,
    device_exists: &dyn Fn(char, i64, i64) -> bool,
) -> Vec<Property> {
    let writes = resources::v1_device_writes(r.devices().as_deref().unwrap_or(&[]));
    let rules = crate::cgroups::devices_bpf::rules_from_v1_writes(&writes);
    let mut allow_all = false;
    let mut allowed: Vec<Rule> = Vec::new();
    let mut exceptions = false;
    for rule in rules {
        if rule.kind == 'a' {
            allow_all = rule.allow;
            allowed.clear();
            exceptions = false;
        } else if allow_all {
            exceptions |= !rule.allow;
        } else if rule.allow {
            if !allowed.contains(&rule) {
                allowed.push(rule);
            }
        } else {
            allowed.retain(|a| {
                !(a.kind == rule.kind && a.major == rule.major && a.minor == rule.minor)
            });
        }
    }
    if allow_all && !exceptions {
        return vec![
            prop("DevicePolicy", Value::Str("auto".into())),
            prop("DeviceAllow", Value::DeviceAllow(Vec::new())),
        ];
    }
    let mut entries = Vec::new();
    if allow_all {
        crate::logging::warn(
            "systemd doesn't support blacklist device rules -- applying temporary deny-all rule",
        );
    } else {
        for rule in allowed {
            let class = if rule.kind == 'b' { "block" } else { "char" };
            let path = match (rule.major, rule.minor) {
                (-1, -1) => format!("{class}-*"),
                (-1, _) => {
                    crate::logging::warn(&format!(
                        "systemd doesn't support '*:n' device rules -- temporarily ignoring rule: {} *:{} {}",
                        rule.kind, rule.minor, rule.access
                    ));
                    continue;
                }
                (major, -1) => match device_group(rule.kind, major) {
                    Some(group) => format!("{class}-{group}"),
                    None => {
                        crate::logging::warn(&format!(
                            "could not find device group for '{} {major}:*' in /proc/devices -- temporarily ignoring rule",
                            rule.kind
                        ));
                        continue;
                    }
                },
                (major, minor) if device_exists(rule.kind, major, minor) => {
                    format!("/dev/{class}/{major}:{minor}")
                }
                (major, minor) => {
                    crate::logging::debug(&format!(
                        "systemd DeviceAllow: skipping {class} device {major}:{minor}, not on this host"
                    ));
                    continue;
                }
            };
            entries.push((path, rule.access));
        }
    }
    vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::DeviceAllow(entries)),
    ]
}

/// Whether the host has device `major:minor` (/sys/dev/{char,block}/M:m).
pub fn host_has_device(kind: char, major: i64, minor: i64) -> bool {
    let class = if kind == 'b' { "block" } else { "char" };
    std::path::Path::new(&format!("/sys/dev/{class}/{major}:{minor}")).exists()
}

/// The group name /proc/devices gives a major ("pts" for 136), as DeviceAllow names it.
pub fn proc_devices_group(kind: char, major: i64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let section = if kind == 'b' {
        "Block devices:"
    } else {
        "Character devices:"
    };
    text.lines()
        .skip_while(|l| l.trim() != section)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (num, name) = l.trim().split_once(' ')?;
            (num.parse::<i64>().ok()? == major).then(|| name.trim().to_string())
        })
}

/// The `org.systemd.property.<Name>` annotations as properties, runc's rules: a name of
/// at least three ASCII letters, a value in GVariant text form, and `<X>Sec` names
/// (which systemd's D-Bus API calls `<X>USec`) given in seconds.
pub fn from_annotations(annotations: &HashMap<String, String>) -> Result<Vec<Property>> {
    const PREFIX: &str = "org.systemd.property.";
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let raw = &annotations[key];
        let name = &key[PREFIX.len()..];
        if name.len() < 3 || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
            bail!(
                "annotations: {key}: invalid systemd property name (at least 3 letters, letters only)"
            );
        }
        let value = parse_variant(raw)
            .map_err(|e| anyhow::anyhow!("annotation {key}={raw} value parse error: {e}"))?;
        if name.ends_with("Sec") && !name.ends_with("USec") && !name.ends_with("NSec") {
            let usec = seconds_to_usec(&value)
                .map_err(|e| anyhow::anyhow!("annotation {key}={raw} value parse error: {e}"))?;
            out.push((format!("{}USec", &name[..name.len() - 3]), Value::U64(usec)));
        } else {
            out.push((name.to_string(), value));
        }
    }
    Ok(out)
}

fn seconds_to_usec(v: &Value) -> Result<u64> {
    let secs = match v {
        Value::Byte(n) => f64::from(*n),
        Value::I16(n) => f64::from(*n),
        Value::U16(n) => f64::from(*n),
        Value::I32(n) => f64::from(*n),
        Value::U32(n) => f64::from(*n),
        Value::I64(n) => *n as f64,
        Value::U64(n) => *n as f64,
        Value::Double(n) => *n,
        _ => bail!("not a number of seconds"),
    };
    if secs < 0.0 {
        bail!("negative number of seconds");
    }
    Ok((secs * 1_000_000.0).round() as u64)
}

/// The subset of the GVariant text format systemd properties need: booleans, numbers
/// (bare integers are int32 and bare decimals double, as in GVariant; `uint64 5` or
/// `@t 5` give a type), quoted strings, and arrays of strings.
pub fn parse_variant(text: &str) -> Result<Value> {
    let t = text.trim();
    match t {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "@as []" | "[]" => return Ok(Value::Strings(Vec::new())),
        _ => {}
    }
    if let Some((ty, rest)) = t.split_once(char::is_whitespace) {
        let rest = rest.trim();
        let num = |what: &str| anyhow::anyhow!("{rest:?} is not a valid {what}");
        return Ok(match ty {
            "byte" | "@y" => Value::Byte(rest.parse().map_err(|_| num("byte"))?),
            "int16" | "@n" => Value::I16(rest.parse().map_err(|_| num("int16"))?),
            "uint16" | "@q" => Value::U16(rest.parse().map_err(|_| num("uint16"))?),
            "int32" | "@i" => Value::I32(rest.parse().map_err(|_| num("int32"))?),
            "uint32" | "@u" => Value::U32(rest.parse().map_err(|_| num("uint32"))?),
            "int64" | "@x" => Value::I64(rest.parse().map_err(|_| num("int64"))?),
            "uint64" | "@t" => Value::U64(rest.parse().map_err(|_| num("uint64"))?),
            "double" | "@d" => Value::Double(rest.parse().map_err(|_| num("double"))?),
            "@s" => Value::Str(quoted(rest)?),
            "@as" => Value::Strings(string_array(rest)?),
            _ => bail!("can't parse {t:?}"),
        });
    }
    if t.starts_with('\'') || t.starts_with('"') {
        return Ok(Value::Str(quoted(t)?));
    }
    if t.starts_with('[') {
        return Ok(Value::Strings(string_array(t)?));
    }
    if let Ok(n) = t.parse::<i32>() {
        return Ok(Value::I32(n));
    }
    if let Ok(n) = t.parse::<i64>() {
        return Ok(Value::I64(n));
    }
    if t.contains('.')
        && let Ok(n) = t.parse::<f64>()
    {
        return Ok(Value::Double(n));
    }
    bail!("can't parse {t:?}")
}

fn quoted(t: &str) -> Result<String> {
    let q = t.chars().next().filter(|c| *c == '\'' || *c == '"');
    let Some(q) = q.filter(|q| t.len() >= 2 && t.ends_with(*q)) else {
        bail!("{t:?} is not a quoted string");
    };
    let inner = &t[1..t.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c if c == q => bail!("{t:?}: unescaped quote inside the string"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn string_array(t: &str) -> Result<Vec<String>> {
    let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        bail!("{t:?} is not an array");
    };
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Strings of units and paths hold no commas in practice; split, then unquote each.
    inner.split(',').map(|s| quoted(s.trim())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
        LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    fn no_groups(_: char, major: i64) -> Option<String> {
        (major == 136).then(|| "pts".to_string())
    }

    fn find<'a>(props: &'a [Property], name: &str) -> Option<&'a Value> {
        props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn an_idle_container_gets_systemd_s_idle_weight_and_no_other_from_252_on() {
        let cpu = |json| -> LinuxResources { serde_json::from_str(json).unwrap() };
        let weights = |r: &LinuxResources, version| {
            resources(r, true, version)
                .unwrap()
                .into_iter()
                .filter(|p| p.0 == "CPUWeight")
                .map(|p| p.1)
                .collect::<Vec<_>>()
        };
        let both = cpu(r#"{"cpu": {"shares": 200, "idle": 1}}"#);
        assert_eq!(weights(&both, 252), [Value::U64(0)]);
        assert_eq!(weights(&both, 251), [Value::U64(shares_weight(200))]);
        let unified = cpu(r#"{"unified": {"cpu.idle": "1", "cpu.weight": "8"}}"#);
        assert_eq!(weights(&unified, 252), [Value::U64(0)]);
        let not_idle = cpu(r#"{"unified": {"cpu.idle": "0", "cpu.weight": "8"}}"#);
        assert_eq!(weights(&not_idle, 252), [Value::U64(8)]);
    }

    fn shares_weight(shares: u64) -> u64 {
        crate::cgroups::resources::shares_to_weight(shares)
    }

    #[test]
    fn v2_limits_use_systemds_names_and_conversions() {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(96 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_500i64)
                    .period(100_000u64)
                    .cpus("0-1,9")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(42i64).build().unwrap())
            .build()
            .unwrap();
        let p = resources(&r, true, 252).unwrap();
        assert_eq!(find(&p, "MemoryMax"), Some(&Value::U64(64 << 20)));
        assert_eq!(find(&p, "MemorySwapMax"), Some(&Value::U64(32 << 20)));
        assert_eq!(find(&p, "CPUWeight"), Some(&Value::U64(100)));
        assert_eq!(find(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(510_000)));
        assert_eq!(find(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(
            find(&p, "AllowedCPUs"),
            Some(&Value::Bytes(vec![0b11, 0b10]))
        );
        assert_eq!(find(&p, "TasksMax"), Some(&Value::U64(42)));
        let old = resources(&r, false, 239).unwrap();
        assert_eq!(find(&old, "MemoryLimit"), Some(&Value::U64(64 << 20)));
        assert_eq!(find(&old, "CPUShares"), Some(&Value::U64(1024)));
        assert_eq!(find(&old, "CPUQuotaPeriodUSec"), None);
        assert_eq!(find(&old, "AllowedCPUs"), None);
    }

    #[test]
    fn the_unified_map_gives_systemds_properties_too() {
        let r = LinuxResourcesBuilder::default()
            .unified(
                [
                    ("memory.high", "20971520"),
                    ("cpu.max", "10000 100000"),
                    ("cpuset.cpus", "1"),
                    ("pids.max", "max"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            )
            .build()
            .unwrap();
        let p = resources(&r, true, 252).unwrap();
        assert_eq!(find(&p, "MemoryHigh"), Some(&Value::U64(20971520)));
        assert_eq!(find(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(100_000)));
        assert_eq!(find(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(find(&p, "AllowedCPUs"), Some(&Value::Bytes(vec![2])));
        assert_eq!(find(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
    }

    #[test]
    fn unlimited_values_are_infinity() {
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(-1i64).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(-1i64).build().unwrap())
            .cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
            .build()
            .unwrap();
        let p = resources(&r, true, 252).unwrap();
        for name in ["MemoryMax", "TasksMax", "CPUQuotaPerSecUSec"] {
            assert_eq!(find(&p, name), Some(&Value::U64(u64::MAX)), "{name}");
        }
    }

    #[test]
    fn device_rules_become_an_allow_list() {
        let p = devices(&LinuxResources::default(), &no_groups, &|_, _, m| m != 200);
        assert_eq!(find(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
        let Some(Value::DeviceAllow(list)) = find(&p, "DeviceAllow") else {
            panic!("no DeviceAllow")
        };
        assert!(list.contains(&("/dev/char/1:3".into(), "rwm".into())));
        assert!(list.contains(&("char-pts".into(), "rwm".into())));
        assert!(list.contains(&("char-*".into(), "m".into())));
        assert!(
            !list.iter().any(|(p, _)| p == "/dev/char/10:200"),
            "a device the host lacks is left out"
        );
        let all = LinuxResourcesBuilder::default()
            .devices(vec![
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .access("rwm")
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        let p = devices(&all, &no_groups, &|_, _, _| true);
        assert_eq!(find(&p, "DevicePolicy"), Some(&Value::Str("auto".into())));
        let fuse = LinuxResourcesBuilder::default()
            .devices(vec![
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(LinuxDeviceType::C)
                    .major(10i64)
                    .minor(229i64)
                    .access("rw")
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        let p = devices(&fuse, &no_groups, &|_, _, _| true);
        let Some(Value::DeviceAllow(list)) = find(&p, "DeviceAllow") else {
            panic!("no DeviceAllow")
        };
        assert!(list.contains(&("/dev/char/10:229".into(), "rw".into())));
    }

    #[test]
    fn annotations_follow_runcs_rules() {
        let a: HashMap<String, String> = [
            ("org.systemd.property.TimeoutStopSec", "2"),
            ("org.systemd.property.TasksAccounting", "true"),
            ("org.systemd.property.TasksMax", "uint64 10"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.RuntimeMaxUSec", "@t 5000000"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = from_annotations(&a).unwrap();
        assert_eq!(find(&p, "TimeoutStopUSec"), Some(&Value::U64(2_000_000)));
        assert_eq!(find(&p, "TasksAccounting"), Some(&Value::Bool(true)));
        assert_eq!(find(&p, "TasksMax"), Some(&Value::U64(10)));
        assert_eq!(
            find(&p, "CollectMode"),
            Some(&Value::Str("inactive-or-failed".into()))
        );
        assert_eq!(find(&p, "RuntimeMaxUSec"), Some(&Value::U64(5_000_000)));
        assert_eq!(p.len(), 5);
        for (k, v) in [
            ("org.systemd.property.Ab", "1"),
            ("org.systemd.property.Tasks_Max", "1"),
            ("org.systemd.property.TasksMax", "uint64 x"),
        ] {
            let bad: HashMap<String, String> = [(k.to_string(), v.to_string())].into();
            let e = from_annotations(&bad).unwrap_err().to_string();
            assert!(e.contains(k), "{e}");
        }
    }

    #[test]
    fn cpu_lists_become_bitmasks() {
        assert_eq!(range_to_bits("0", "f").unwrap(), vec![1]);
        assert_eq!(range_to_bits("0-7,8", "f").unwrap(), vec![0xff, 1]);
        assert!(range_to_bits("3-1", "f").is_err());
        assert!(range_to_bits("x", "f").is_err());
    }
}
