//! `linux.resources` turned into cgroup file writes, for v1 and for v2, as pure functions
//! (the drivers perform the writes), so every conversion is unit-tested without root.

use anyhow::{Result, bail};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxNetwork,
    LinuxResources,
};

/// One value to write. The first candidate file that exists is used (v1 kernels with BFQ
/// have `blkio.bfq.weight` instead of `blkio.weight`, for example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub candidates: Vec<(String, String)>,
    /// The config field it comes from, for error messages.
    pub field: &'static str,
    /// Written only where the file exists (a newer kernel's companion of another write).
    pub if_present: bool,
}

fn w(
    controller: &'static str,
    field: &'static str,
    file: impl Into<String>,
    value: impl ToString,
) -> Write {
    Write {
        controller,
        candidates: vec![(file.into(), value.to_string())],
        field,
        if_present: false,
    }
}

/// A weight, written to the first of two files the kernel has (the BFQ scheduler's or
/// the other's), each with its own value.
fn w_first_of(
    controller: &'static str,
    field: &'static str,
    first: (&str, String),
    second: (&str, String),
) -> Write {
    Write {
        controller,
        candidates: vec![(first.0.into(), first.1), (second.0.into(), second.1)],
        field,
        if_present: false,
    }
}

fn limit_or_max(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// The conversion of cpu shares (2..262144, default 1024) to cgroup v2's cpu.weight
/// (1..10000, default 100) that runc (its cgroups library since mid-2025), crun (1.23) and
/// Kubernetes' documentation use now: a quadratic in log2(shares) through both ends and the
/// two defaults, so a container with the default 1024 shares gets the default weight 100.
/// The linear one before it gave 1024 shares a weight of 39 (runc 1.1: Debian's), well under
/// every process outside containers; runc's current update.bats checks the new values.
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// runc's conversion of blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        0
    } else {
        1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
    }
}

/// A numeric setting, unless it is 0, which means "not set" as in runc: engines fill the
/// fields the user left alone with zeros (Docker sends `blockIO.weight: 0`).
fn set<T: PartialEq + Default>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}

/// The writes that are the same file and value on v1 and v2: cpu.idle, the cpuset, pids.
fn shared_writes(r: &LinuxResources, out: &mut Vec<Write>) {
    if let Some(c) = r.cpu() {
        if let Some(v) = c.idle() {
            out.push(w("cpu", "cpu.idle", "cpu.idle", v));
        }
        if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            out.push(w("cpuset", "cpu.cpus", "cpuset.cpus", v));
        }
        if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            out.push(w("cpuset", "cpu.mems", "cpuset.mems", v));
        }
    }
    // As runc up to 1.3: a limit of 0 is "not set". Docker 20.10 sends 0 for a container
    // run without --pids-limit, so runc 1.4's "0 means 1" would cap it at one process.
    if let Some(p) = r.pids().as_ref().filter(|p| p.limit() != 0) {
        out.push(w(
            "pids",
            "pids.limit",
            "pids.max",
            if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            },
        ));
    }
}

/// The v1 writes of `r`, controller by controller; `unified` is refused (v2 only).
pub fn v1_writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        v1_memory_writes(m, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        v1_cpu_writes(c, &mut out);
    }
    shared_writes(r, &mut out);
    if let Some(b) = r.block_io() {
        v1_blkio_writes(b, &mut out);
    }
    for h in r.hugepage_limits().iter().flatten() {
        hugetlb_writes(h, "limit_in_bytes", &mut out);
    }
    if let Some(n) = r.network() {
        v1_network_writes(n, &mut out);
    }
    out.extend(rdma_writes(r));
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        bail!("linux.resources.unified: invalid configuration: cannot use unified on cgroup v1");
    }
    Ok(out)
}

fn v1_memory_writes(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<()> {
    if let Some(v) = set(m.limit()) {
        out.push(w("memory", "memory.limit", "memory.limit_in_bytes", v));
    }
    if let Some(v) = set(m.swap()) {
        out.push(w("memory", "memory.swap", "memory.memsw.limit_in_bytes", v));
    }
    if let Some(v) = set(m.reservation()) {
        out.push(w(
            "memory",
            "memory.reservation",
            "memory.soft_limit_in_bytes",
            v,
        ));
    }
    if let Some(v) = set(m.kernel_tcp()) {
        out.push(w(
            "memory",
            "memory.kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
            v,
        ));
    }
    if let Some(v) = m.swappiness() {
        if v > 100 {
            bail!("linux.resources.memory.swappiness: {v} is not in 0-100");
        }
        out.push(w("memory", "memory.swappiness", "memory.swappiness", v));
    }
    if m.disable_oom_killer() == Some(true) {
        out.push(w(
            "memory",
            "memory.disableOOMKiller",
            "memory.oom_control",
            1,
        ));
    }
    if m.use_hierarchy() == Some(true) {
        out.push(w(
            "memory",
            "memory.useHierarchy",
            "memory.use_hierarchy",
            1,
        ));
    }
    Ok(())
}

fn v1_cpu_writes(c: &LinuxCpu, out: &mut Vec<Write>) {
    if let Some(v) = set(c.shares()) {
        out.push(w("cpu", "cpu.shares", "cpu.shares", v));
    }
    // The period first: a quota is checked against the period in force.
    if let Some(v) = set(c.period()) {
        out.push(w("cpu", "cpu.period", "cpu.cfs_period_us", v));
    }
    if let Some(v) = set(c.quota()) {
        out.push(w("cpu", "cpu.quota", "cpu.cfs_quota_us", v));
    }
    if let Some(v) = c.burst() {
        out.push(w("cpu", "cpu.burst", "cpu.cfs_burst_us", v));
    }
    if let Some(v) = set(c.realtime_period()) {
        out.push(w("cpu", "cpu.realtimePeriod", "cpu.rt_period_us", v));
    }
    if let Some(v) = set(c.realtime_runtime()) {
        out.push(w("cpu", "cpu.realtimeRuntime", "cpu.rt_runtime_us", v));
    }
}

/// blkio: the weight (`blkio.bfq.*` where the kernel has BFQ and not CFQ), per device
/// weights, and the throttles.
fn v1_blkio_writes(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    if let Some(v) = set(b.weight()) {
        out.push(w_first_of(
            "blkio",
            "blockIO.weight",
            ("blkio.weight", v.to_string()),
            ("blkio.bfq.weight", v.to_string()),
        ));
    }
    if let Some(v) = set(b.leaf_weight()) {
        out.push(w("blkio", "blockIO.leafWeight", "blkio.leaf_weight", v));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(v) = set(d.weight()) {
            let value = format!("{}:{} {v}", d.major(), d.minor());
            out.push(w_first_of(
                "blkio",
                "blockIO.weightDevice",
                ("blkio.weight_device", value.clone()),
                ("blkio.bfq.weight_device", value),
            ));
        }
        if let Some(v) = set(d.leaf_weight()) {
            out.push(w(
                "blkio",
                "blockIO.weightDevice",
                "blkio.leaf_weight_device",
                format!("{}:{} {v}", d.major(), d.minor()),
            ));
        }
    }
    for (list, file, field) in [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "blockIO.throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "blockIO.throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "blockIO.throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "blockIO.throttleWriteIOPSDevice",
        ),
    ] {
        for d in list.iter().flatten() {
            out.push(w(
                "blkio",
                field,
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            ));
        }
    }
}

fn v1_network_writes(n: &LinuxNetwork, out: &mut Vec<Write>) {
    if let Some(id) = n.class_id() {
        out.push(w("net_cls", "network.classID", "net_cls.classid", id));
    }
    for p in n.priorities().iter().flatten() {
        out.push(w(
            "net_prio",
            "network.priorities",
            "net_prio.ifpriomap",
            format!("{} {}", p.name(), p.priority()),
        ));
    }
}

fn rdma_writes(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    for (dev, limits) in r.rdma().iter().flatten() {
        let mut parts = vec![dev.clone()];
        if let Some(h) = limits.hca_handles() {
            parts.push(format!("hca_handle={h}"));
        }
        if let Some(o) = limits.hca_objects() {
            parts.push(format!("hca_object={o}"));
        }
        out.push(w("rdma", "rdma", "rdma.max", parts.join(" ")));
    }
    out
}

/// v2's swap limit (the swap alone; None for "max") from the config's `memory.swap`, which
/// is v1's memory + swap: it needs a memory limit no larger than itself.
pub fn v2_swap_max(swap: i64, limit: Option<i64>) -> Result<Option<u64>> {
    match (swap, limit) {
        (-1, _) => Ok(None),
        (s, Some(l)) if l > 0 => {
            if s < l {
                bail!("linux.resources.memory.swap: {s} is lower than memory.limit {l}");
            }
            Ok(Some((s - l) as u64))
        }
        (_, _) => bail!("linux.resources.memory.swap: needs memory.limit on cgroup v2"),
    }
}

/// The v2 writes of `r`, controller by controller, then `unified` as given.
pub fn v2_writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        v2_memory_writes(m, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        v2_cpu_writes(c, &mut out)?;
    }
    shared_writes(r, &mut out);
    if let Some(b) = r.block_io() {
        v2_io_writes(b, &mut out);
    }
    for h in r.hugepage_limits().iter().flatten() {
        hugetlb_writes(h, "max", &mut out);
    }
    out.extend(rdma_writes(r));
    unified_writes(r, &mut out)?;
    Ok(out)
}

/// `unified`: each key written as given (a line at a time), checked to name a file of a
/// controller.
fn unified_writes(r: &LinuxResources, out: &mut Vec<Write>) -> Result<()> {
    for (key, value) in r.unified().iter().flatten() {
        if key.contains('/') || key.starts_with('.') || !key.contains('.') {
            bail!("linux.resources.unified: invalid key {key:?}");
        }
        let controller = static_controller(key.split('.').next().unwrap_or(""));
        // A value of several lines (io.max for two devices) is written a line at a time,
        // as runc writes it: the kernel takes one device's settings per write.
        let lines: Vec<&str> = value.split_inclusive('\n').collect();
        for line in if lines.is_empty() { vec![""] } else { lines } {
            out.push(Write {
                controller,
                candidates: vec![(key.clone(), line.to_string())],
                field: "unified",
                if_present: false,
            });
        }
    }
    Ok(())
}

fn v2_memory_writes(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<()> {
    // cgroup v2 has no per-cgroup swappiness: a valid value is ignored (as runc does),
    // an invalid one is still an error.
    if let Some(v) = m.swappiness().filter(|v| *v > 100) {
        bail!("linux.resources.memory.swappiness: {v} is not in 0-100");
    }
    if let Some(v) = set(m.limit()) {
        out.push(w("memory", "memory.limit", "memory.max", limit_or_max(v)));
    }
    if let Some(v) = set(m.reservation()) {
        out.push(w(
            "memory",
            "memory.reservation",
            "memory.low",
            limit_or_max(v),
        ));
    }
    if let Some(swap) = set(m.swap()) {
        // v1's swap is memory + swap; v2's swap.max is the swap alone.
        let value = match v2_swap_max(swap, m.limit())? {
            Some(n) => n.to_string(),
            None => "max".to_string(),
        };
        out.push(w("memory", "memory.swap", "memory.swap.max", value));
    }
    Ok(())
}

fn v2_cpu_writes(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<()> {
    // An idle cgroup takes no weight (the kernel refuses it, EINVAL, after cpu.idle 1,
    // and the weight means nothing while idle): set with idle, the shares give way, as
    // they do through systemd (runc warns there; its cgroupfs path fails instead).
    if let Some(v) = c.shares().filter(|s| *s > 0 && c.idle() != Some(1)) {
        out.push(w("cpu", "cpu.shares", "cpu.weight", shares_to_weight(v)));
    }
    let (quota, period) = (set(c.quota()), set(c.period()));
    if quota.is_some() || period.is_some() {
        let quota = quota
            .filter(|q| *q > 0)
            .map(|q| q.to_string())
            .unwrap_or_else(|| "max".into());
        // Without a period the kernel keeps the one in force.
        let value = match period {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        out.push(w("cpu", "cpu.quota", "cpu.max", value));
    }
    if let Some(v) = c.burst() {
        out.push(w("cpu", "cpu.burst", "cpu.max.burst", v));
    }
    if set(c.realtime_period()).is_some() || set(c.realtime_runtime()).is_some() {
        bail!("linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported on cgroup v2");
    }
    Ok(())
}

/// io: the weight (`io.bfq.weight` where the kernel has BFQ, else `io.weight` on its own
/// scale), per device weights (BFQ's only), and the throttles in `io.max`.
fn v2_io_writes(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    if let Some(v) = set(b.weight()) {
        out.push(w_first_of(
            "io",
            "blockIO.weight",
            ("io.bfq.weight", v.to_string()),
            ("io.weight", blkio_weight_to_io_weight(v).to_string()),
        ));
    }
    // A device's own weight only where BFQ takes it, as runc sets it: io.weight's
    // per-device form needs the io cost controller enabled for that device, which hosts
    // rarely have (the kernel says EOPNOTSUPP), and Docker and Podman pass
    // `--blkio-weight-device` whatever the device's scheduler.
    for d in b.weight_device().iter().flatten() {
        if let Some(v) = set(d.weight()) {
            out.push(Write {
                if_present: true,
                ..w(
                    "io",
                    "blockIO.weightDevice",
                    "io.bfq.weight",
                    format!("{}:{} {v}", d.major(), d.minor()),
                )
            });
        }
    }
    for (list, key) in [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ] {
        for d in list.iter().flatten() {
            out.push(w(
                "io",
                "blockIO.throttle",
                "io.max",
                format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            ));
        }
    }
}

/// A hugepage size's limit, and, where the kernel has reservation accounting (5.7 on), the
/// same limit on reservations, as runc sets both: a reserved but unfaulted page counts only
/// there. `suffix`: v1's `limit_in_bytes` or v2's `max`.
fn hugetlb_writes(h: &oci_spec::runtime::LinuxHugepageLimit, suffix: &str, out: &mut Vec<Write>) {
    let size = h.page_size();
    out.push(w(
        "hugetlb",
        "hugepageLimits",
        format!("hugetlb.{size}.{suffix}"),
        h.limit(),
    ));
    out.push(Write {
        if_present: true,
        ..w(
            "hugetlb",
            "hugepageLimits",
            format!("hugetlb.{size}.rsvd.{suffix}"),
            h.limit(),
        )
    });
}

fn static_controller(name: &str) -> &'static str {
    [
        "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc", "cgroup",
    ]
    .into_iter()
    .find(|c| *c == name)
    .unwrap_or("unified")
}

/// The devices every container may use (runc's list), before the config's own rules.
pub fn default_device_rules() -> Vec<(char, i64, i64, &'static str)> {
    vec![
        ('c', -1, -1, "m"),
        ('b', -1, -1, "m"),
        ('c', 1, 3, "rwm"),
        ('c', 1, 8, "rwm"),
        ('c', 1, 7, "rwm"),
        ('c', 5, 0, "rwm"),
        ('c', 1, 5, "rwm"),
        ('c', 1, 9, "rwm"),
        ('c', 5, 1, "rwm"),
        ('c', 136, -1, "rwm"),
        ('c', 5, 2, "rwm"),
        ('c', 10, 200, "rwm"),
    ]
}

/// v1 `devices.allow`/`devices.deny` lines: deny everything, the config's rules in order,
/// the standard devices, then the config's own device nodes.
/// A rule's access as the kernel takes it: the letters r, w and m in that order, each once.
/// Others are dropped, as runc does (configs in the wild say "rwa").
fn access_letters(access: &str) -> String {
    "rwm".chars().filter(|c| access.contains(*c)).collect()
}

pub fn v1_device_writes(rules: &[LinuxDeviceCgroup]) -> Vec<Write> {
    let num = |n: i64| {
        if n < 0 {
            "*".to_string()
        } else {
            n.to_string()
        }
    };
    let mut out = vec![w("devices", "devices", "devices.deny", "a")];
    for r in rules {
        let t = match r.typ() {
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
            Some(LinuxDeviceType::B) => 'b',
            _ => 'a',
        };
        let line = if t == 'a' && r.major().is_none() && r.minor().is_none() {
            "a".to_string()
        } else {
            format!(
                "{t} {}:{} {}",
                num(r.major().unwrap_or(-1)),
                num(r.minor().unwrap_or(-1)),
                access_letters(r.access().as_deref().unwrap_or("rwm"))
            )
        };
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(w("devices", "devices", file, line));
    }
    // The standard devices come after the config's rules (as in runc), so a config's
    // "deny all" does not take them away.
    for (t, ma, mi, acc) in default_device_rules() {
        out.push(w(
            "devices",
            "devices",
            "devices.allow",
            format!("{t} {}:{} {acc}", num(ma), num(mi)),
        ));
    }
    // A rule written twice in a row changes nothing the second time (the usual config
    // starts with the same "deny all" rrun writes first).
    out.dedup_by(|a, b| a.candidates == b.candidates);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn files(ws: &[Write]) -> Vec<(String, String)> {
        ws.iter().map(|w| w.candidates[0].clone()).collect()
    }

    #[test]
    fn zeros_are_not_set_on_either_version() {
        // What Docker sends for a container run without limits.
        let r = res(
            r#"{"memory":{"limit":0,"reservation":0,"swap":0,"kernelTCP":0},
                      "cpu":{"shares":0,"quota":0,"period":0,"realtimePeriod":0,"realtimeRuntime":0,"cpus":"","mems":""},
                      "blockIO":{"weight":0,"leafWeight":0,"weightDevice":[{"major":8,"minor":0,"weight":0}]},
                      "pids":{"limit":0}}"#,
        );
        assert_eq!(
            files(&v1_writes(&r).unwrap()),
            Vec::<(String, String)>::new()
        );
        assert_eq!(
            files(&v2_writes(&r).unwrap()),
            Vec::<(String, String)>::new()
        );
    }

    #[test]
    fn v1_memory_cpu_pids() {
        let r = res(
            r#"{"memory":{"limit":1048576,"swap":2097152,"reservation":524288,"swappiness":10,"disableOOMKiller":true},
                      "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},"pids":{"limit":10}}"#,
        );
        let f = files(&v1_writes(&r).unwrap());
        for expect in [
            ("memory.limit_in_bytes", "1048576"),
            ("memory.memsw.limit_in_bytes", "2097152"),
            ("memory.soft_limit_in_bytes", "524288"),
            ("memory.swappiness", "10"),
            ("memory.oom_control", "1"),
            ("cpu.shares", "512"),
            ("cpu.cfs_quota_us", "50000"),
            ("cpuset.cpus", "0"),
            ("pids.max", "10"),
        ] {
            assert!(
                f.contains(&(expect.0.into(), expect.1.into())),
                "{expect:?} in {f:?}"
            );
        }
        let period = f.iter().position(|x| x.0 == "cpu.cfs_period_us").unwrap();
        let quota = f.iter().position(|x| x.0 == "cpu.cfs_quota_us").unwrap();
        assert!(period < quota, "period is written before quota");
    }

    #[test]
    fn a_device_weight_on_v2_is_bfqs_alone_and_only_where_it_is() {
        let r =
            res(r#"{"blockIO":{"weight":321,"weightDevice":[{"major":7,"minor":0,"weight":98}]}}"#);
        let ws = v2_writes(&r).unwrap();
        let device: Vec<_> = ws
            .iter()
            .filter(|w| w.field == "blockIO.weightDevice")
            .collect();
        assert_eq!(device.len(), 1, "{ws:?}");
        assert_eq!(
            device[0].candidates,
            vec![("io.bfq.weight".to_string(), "7:0 98".to_string())],
            "never io.weight's per-device form, which needs the io cost controller"
        );
        assert!(
            device[0].if_present,
            "skipped without BFQ, as runc skips it"
        );
        let weight = ws.iter().find(|w| w.field == "blockIO.weight").unwrap();
        assert!(
            !weight.if_present,
            "the weight itself has io.weight to fall back on"
        );
    }

    #[test]
    fn v2_conversions_follow_runc() {
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(100), 17);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(3), 2);
        assert_eq!(shares_to_weight(262_143), 10_000);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        let r = res(
            r#"{"memory":{"limit":1048576,"swap":3145728,"reservation":-1},"cpu":{"shares":1024,"quota":20000,"period":50000},"pids":{"limit":-1},
                      "blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}]},"hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
                      "unified":{"memory.high":"900000"}}"#,
        );
        let f = files(&v2_writes(&r).unwrap());
        for expect in [
            ("memory.max", "1048576"),
            ("memory.swap.max", "2097152"),
            ("memory.low", "max"),
            ("cpu.weight", "100"),
            ("cpu.max", "20000 50000"),
            ("pids.max", "max"),
            ("io.max", "8:0 rbps=1000"),
            ("hugetlb.2MB.max", "4194304"),
            ("memory.high", "900000"),
        ] {
            assert!(
                f.contains(&(expect.0.into(), expect.1.into())),
                "{expect:?} in {f:?}"
            );
        }
    }

    #[test]
    fn an_idle_cgroup_gets_no_weight() {
        let idle = files(&v2_writes(&res(r#"{"cpu":{"shares":200,"idle":1}}"#)).unwrap());
        assert_eq!(idle, [("cpu.idle".to_string(), "1".to_string())]);
        let busy = files(&v2_writes(&res(r#"{"cpu":{"shares":200,"idle":0}}"#)).unwrap());
        assert!(busy.contains(&("cpu.weight".to_string(), shares_to_weight(200).to_string())));
    }

    #[test]
    fn a_unified_value_of_several_lines_is_written_a_line_at_a_time() {
        let r = res(r#"{"unified":{"io.max":"7:0 riops=333\n7:1 riops=555\n","pids.max":""}}"#);
        // The map's keys come in any order; a value's lines in theirs.
        let mut written = files(&v2_writes(&r).unwrap());
        written.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            written,
            [
                ("io.max".to_string(), "7:0 riops=333\n".to_string()),
                ("io.max".to_string(), "7:1 riops=555\n".to_string()),
                ("pids.max".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let e = v1_writes(&res(r#"{"unified":{"memory.high":"1"}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.resources.unified"), "{e}");
        let e = v2_writes(&res(r#"{"unified":{"../../etc/passwd":"1"}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid key"), "{e}");
        let e = v2_writes(&res(r#"{"memory":{"limit":100,"swap":50}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.resources.memory.swap"), "{e}");
    }

    #[test]
    fn device_access_keeps_only_what_the_kernel_knows() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"type":"c","major":1,"minor":11,"access":"rwa"},{"allow":true,"type":"c","major":1,"minor":9,"access":"mwrm"}]"#,
        )
        .unwrap();
        let f = files(&v1_device_writes(&rules));
        assert!(
            f.contains(&("devices.deny".into(), "c 1:11 rw".into())),
            "{f:?}"
        );
        assert!(
            f.contains(&("devices.allow".into(), "c 1:9 rwm".into())),
            "{f:?}"
        );
    }

    #[test]
    fn v1_devices_deny_all_then_allow() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}]"#).unwrap();
        let f = files(&v1_device_writes(&rules));
        assert_eq!(f[0], ("devices.deny".into(), "a".into()));
        // The config's own "deny all" right after rrun's is not written twice.
        assert_ne!(f[1], ("devices.deny".into(), "a".into()));
        assert!(f.contains(&("devices.allow".into(), "c 1:3 rwm".into())));
        assert!(f.contains(&("devices.allow".into(), "c 136:* rwm".into())));
        let deny_all = f
            .iter()
            .rposition(|x| x == &("devices.deny".to_string(), "a".to_string()))
            .unwrap();
        let fuse = f.iter().position(|x| x.1 == "c 10:229 rw").unwrap();
        assert!(deny_all < fuse);
        // The config's device nodes get no rule of their own (as in runc): the standard
        // devices come last.
        assert!(!f.iter().any(|x| x.1.starts_with("c 4:64")));
        assert!(fuse < f.len() - 1);
    }
}
