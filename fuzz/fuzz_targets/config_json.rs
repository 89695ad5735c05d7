//! config.json: parsing, validation and every plan rrun derives from a config before it
//! touches the host (namespaces, seccomp program, cgroup writes, mount options,
//! capabilities). Any input must give Ok or an error, never a panic, hang or huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = rrun::config::parse_spec(data) else {
        return;
    };
    // A bundle whose rootfs exists, so validation goes past root.path.
    let bundle = Path::new("/tmp/rrun-fuzz-bundle");
    let _ = std::fs::create_dir_all(bundle.join("rootfs"));
    let _ = rrun::config::validate(&spec, bundle);
    let _ = rrun::namespaces::plan(&spec);
    for m in spec.mounts().iter().flatten() {
        let _ = rrun::rootfs::options::parse(m.options().as_deref().unwrap_or(&[]));
    }
    if let Some(linux) = spec.linux() {
        if let Some(s) = linux.seccomp() {
            let _ = rrun::seccomp::compile(s);
        }
        if let Some(r) = linux.resources() {
            let _ = rrun::cgroups::resources::v1_writes(r);
            let _ = rrun::cgroups::resources::v2_writes(r);
            let _ =
                rrun::cgroups::resources::v1_device_writes(r.devices().as_deref().unwrap_or(&[]));
            // The systemd driver's unit properties, v2 and v1 names.
            use rrun::cgroups::systemd::properties;
            let _ = properties::resources(r, true, 252);
            let _ = properties::resources(r, false, 239);
            let _ = properties::devices(r, &|_, m| (m == 136).then(|| "pts".into()), &|_, _, _| true);
        }
        if let Some(p) = linux.cgroups_path() {
            let _ = rrun::cgroups::systemd::unit::parse(&p.to_string_lossy(), "id", "system.slice");
        }
    }
    if let Some(a) = spec.annotations() {
        let _ = rrun::cgroups::systemd::properties::from_annotations(a);
    }
    if let Some(p) = spec.process() {
        check_process(p);
    }
});

fn check_process(p: &oci_spec::runtime::Process) {
    if let Some(c) = p.capabilities() {
        let _ = rrun::capabilities::plan(c);
    }
    if let Ok(env) = rrun::process::environment(p) {
        let _ = rrun::process::cstrings(&env);
    }
    let _ = rrun::process::cstrings(p.args().as_deref().unwrap_or(&[]));
}
