//! The five capability sets of `process.capabilities`, applied with the caps crate.

use anyhow::{Result, anyhow};
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;
use std::str::FromStr;

/// Capability names as given in config.json (unknown ones were dropped when it was
/// parsed), resolved for this kernel: those newer than the kernel are skipped with a
/// warning, as runc does.
fn to_set(names: Option<&oci_spec::runtime::Capabilities>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in names.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{}", name.to_uppercase())
        };
        match Capability::from_str(&name) {
            Ok(cap) if kernel_capabilities().contains(&cap) => {
                out.insert(cap);
            }
            _ => crate::logging::warn(&format!(
                "ignoring unknown or unsupported capability {name:?}"
            )),
        }
    }
    out
}

/// Sets one capability set; a refusal names the capabilities to blame: those outside the
/// bounding set, which is the container's, and the host's if rrun itself runs without some
/// (a host root that lacks CAP_SYS_RESOURCE can't grant it to a container).
fn set(name: &str, which: CapSet, wanted: &CapsHashSet) -> Result<()> {
    caps::set(None, which, wanted).map_err(|e| {
        let bounding = caps::read(None, CapSet::Bounding).unwrap_or_default();
        let mut outside: Vec<String> = wanted.difference(&bounding).map(|c| c.to_string()).collect();
        outside.sort();
        if outside.is_empty() {
            anyhow!("process.capabilities.{name}: {e}")
        } else {
            anyhow!(
                "process.capabilities.{name}: {} not in the bounding set (the container's, or the one rrun runs with): {e}",
                outside.join(", ")
            )
        }
    })
}

/// The capabilities the running kernel has (up to /proc/sys/kernel/cap_last_cap, which
/// the container's /proc could fake). The kernel numbers them without gaps and
/// PR_CAPBSET_READ refuses a number past the last, so a bisection finds the last in six
/// calls, where asking about each capability (the caps crate's way) takes forty-one on
/// the init's path.
fn kernel_capabilities() -> &'static CapsHashSet {
    static KNOWN: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known: Vec<Capability> = caps::all().into_iter().collect();
        known.sort_by_key(|c| c.index());
        let supported =
            known.partition_point(|c| caps::has_cap(None, CapSet::Bounding, *c).is_ok());
        known[..supported].iter().copied().collect()
    })
}

pub struct CapabilityPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

pub fn plan(c: &LinuxCapabilities) -> CapabilityPlan {
    CapabilityPlan {
        bounding: to_set(c.bounding().as_ref()),
        effective: to_set(c.effective().as_ref()),
        permitted: to_set(c.permitted().as_ref()),
        inheritable: to_set(c.inheritable().as_ref()),
        ambient: to_set(c.ambient().as_ref()),
    }
}

impl CapabilityPlan {
    /// Drops from the bounding set what the container may never regain. Needs CAP_SETPCAP,
    /// so it runs before the switch to the container user.
    pub fn apply_bounding(&self) -> Result<()> {
        for cap in kernel_capabilities().iter().copied() {
            if !self.bounding.contains(&cap) {
                match caps::drop(None, CapSet::Bounding, cap) {
                    Ok(()) => {}
                    Err(e) => return Err(anyhow!("dropping {cap} from the bounding set: {e}")),
                }
            }
        }
        Ok(())
    }

    /// Sets the remaining sets; runs after the switch to the container user.
    pub fn apply_rest(&self) -> Result<()> {
        // Each capset must keep effective within permitted, and inheritable may only grow
        // while CAP_SETPCAP is still effective: hence this order.
        set("inheritable", CapSet::Inheritable, &self.inheritable)?;
        set("effective", CapSet::Effective, &self.effective)?;
        set("permitted", CapSet::Permitted, &self.permitted)?;
        // Ambient capabilities need to be both permitted and inheritable; the kernel refuses
        // the others, and runc only warns about them.
        let _ = caps::clear(None, CapSet::Ambient);
        for cap in &self.ambient {
            if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
                crate::logging::warn(&format!("can't raise ambient capability {cap}: {e}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_capabilities_by_bisection_are_those_it_reports_one_by_one() {
        assert_eq!(
            *kernel_capabilities(),
            caps::runtime::thread_all_supported()
        );
        let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        let last: u8 = last.trim().parse().unwrap();
        let known_to_the_crate = caps::all().len();
        assert_eq!(
            kernel_capabilities().len(),
            known_to_the_crate.min(last as usize + 1)
        );
    }
}
