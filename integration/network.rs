//! `linux.netDevices`: host interfaces moved into the container (runc's netdev.bats, with
//! a veth end where runc's suite makes a dummy device: this host has no dummy module).
//! Host only: the v2 guest's initramfs has no veth module.

use crate::common::*;
use serde_json::json;
use std::process::Command;

/// One end of a veth pair made on the host for a test (the other end stays on the host,
/// so the moved one has a peer); removed at the end, wherever it went.
struct Veth {
    name: String,
}

impl Veth {
    fn new() -> Self {
        // Interface names have 15 bytes at most: "rrnd", a pid of up to 7 digits, "-", a
        // counter of up to 3.
        let unique = unique("n");
        let tag = &unique[2..];
        let name = format!("rrnd{tag}");
        ip(&[
            "link",
            "add",
            &name,
            "type",
            "veth",
            "peer",
            "name",
            &format!("rrnp{tag}"),
        ]);
        Veth { name }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Gone already where the container's namespace ended (a veth pair ends with it).
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_has_interface(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// A device with a non-default MTU and MAC, two permanent global IPv4 addresses, a global
/// IPv6 one and a host-scoped one.
fn device_with_addresses() -> Veth {
    let dev = Veth::new();
    let n = dev.name.as_str();
    ip(&[
        "link",
        "set",
        n,
        "mtu",
        "1789",
        "address",
        "00:11:22:33:44:55",
    ]);
    ip(&["address", "add", "169.254.169.77/32", "dev", n]);
    ip(&["address", "add", "10.9.8.7/24", "dev", n]);
    ip(&["-6", "address", "add", "2001:db8::7/64", "dev", n, "nodad"]);
    ip(&["address", "add", "127.0.0.33/8", "dev", n]);
    dev
}

/// What the container's `ip address show` says of its moved device.
fn assert_moved_as_configured(shown: &str, name: &str) {
    let header = shown
        .lines()
        .find(|l| l.contains(&format!(": {name}@")))
        .unwrap_or_else(|| panic!("no {name} in the container: {shown}"));
    assert!(
        header.contains(",UP") && header.contains("mtu 1789"),
        "{header}"
    );
    for line in [
        "link/ether 00:11:22:33:44:55",
        &format!("inet 169.254.169.77/32 scope global {name}"),
        &format!("inet 10.9.8.7/24 brd 10.9.8.255 scope global {name}"),
        "inet6 2001:db8::7/64 scope global",
    ] {
        assert!(shown.contains(line), "no {line:?} in {shown}");
    }
    // Host-scoped addresses stay behind, as in runc.
    assert!(!shown.contains("127.0.0.33"), "{shown}");
}

#[test]
fn a_listed_device_is_moved_in_renamed_with_its_mtu_mac_and_global_addresses_and_up() {
    let rt = Runtime::new();
    let dev = device_with_addresses();
    let mut b = Bundle::new(&["ip", "address", "show"]);
    b.edit(|c| c["linux"]["netDevices"] = json!({dev.name.as_str(): {"name": "ctr0"}}));
    let shown = rt.output_of(&b);
    assert_moved_as_configured(&shown, "ctr0");
    // The container's namespace ended with it, and the veth pair with that.
    assert!(!host_has_interface(&dev.name));
}

#[test]
fn in_a_user_namespace_and_under_its_own_name_a_device_is_moved_in_too() {
    let rt = Runtime::new();
    let dev = device_with_addresses();
    let mut b = Bundle::new(&["ip", "address", "show"]);
    b.in_user_namespace();
    b.edit(|c| c["linux"]["netDevices"] = json!({dev.name.as_str(): {}}));
    let shown = rt.output_of(&b);
    assert_moved_as_configured(&shown, &dev.name);
}

#[test]
fn a_device_moved_into_a_precreated_namespace_stays_there_after_the_container() {
    let rt = Runtime::new();
    let dev = device_with_addresses();
    // Pinned on a file, as engines pin a pod's (not `ip netns add`: its /run/netns
    // mount would show in the host mount table other tests compare meanwhile).
    let pins = crate::pods::PinnedNamespaces::new(&["net"], false);
    let mut b = Bundle::new(&["ip", "address", "show", "dev", "ctr1"]);
    b.edit(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(pins.path("net"));
            }
        }
        c["linux"]["netDevices"] = json!({dev.name.as_str(): {"name": "ctr1"}});
    });
    assert_moved_as_configured(&rt.output_of(&b), "ctr1");
    // The namespace's owner (here the test, elsewhere an engine) decides what becomes of it.
    let net = format!("--net={}", pins.path("net"));
    let out = Command::new("nsenter")
        .args([net.as_str(), "ip", "address", "show", "dev", "ctr1"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(left.contains("inet 169.254.169.77/32"), "{left}");
    assert!(!host_has_interface(&dev.name));
}

#[test]
fn bad_net_devices_are_refused_in_runc_s_words_and_leave_nothing() {
    let rt = Runtime::new();
    let dev = Veth::new();
    let with_devices = |devices: serde_json::Value, own_netns: bool| {
        let mut b = Bundle::new(&["true"]);
        b.edit(|c| {
            c["linux"]["netDevices"] = devices;
            if !own_netns {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "network");
            }
        });
        b
    };
    let cases = [
        (
            with_devices(json!({"rrun-no-such0": {}}), true),
            "error creating network interfaces: move netDevice rrun-no-such0 to namespace /proc/",
            "/ns/net: link not found for interface rrun-no-such0 on runtime namespace: no such device\n",
        ),
        (
            with_devices(json!({dev.name.as_str(): {"name": "a/b"}}), true),
            "linux.netDevices: invalid network device name \"a/b\"\n",
            "",
        ),
        (
            with_devices(json!({dev.name.as_str(): {}}), false),
            "linux.netDevices: unable to move network devices without a NET namespace\n",
            "",
        ),
    ];
    for (b, starts, ends) in cases {
        let id = unique("netdev-bad");
        let before = HostSnapshot::take();
        let said = rt.fails(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(
            said.starts_with(&format!("run: {starts}")) && said.ends_with(ends),
            "{said}"
        );
        assert_eq!(said.lines().count(), 1, "{said}");
        assert_no_leftovers(&rt, &id, &before);
    }
    // Refused before anything was made: the device is where it was.
    assert!(host_has_interface(&dev.name));
}
