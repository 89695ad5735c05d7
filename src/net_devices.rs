//! `linux.netDevices` (runtime-spec 1.2): host network interfaces moved into the
//! container's network namespace, renamed where the config says, with their permanent
//! global addresses, and up. rrun moves them from the host's namespace once the init's
//! network namespace is the container's (handshake's "movenetdevices"), before any mount,
//! hook or process of the container: as runc does, between its init's bootstrap and its
//! setup. A failure fails the create; the devices already moved go back by the kernel's
//! rule when the namespace ends (physical ones to the host's initial namespace, virtual
//! ones destroyed), as the spec says.

use crate::netlink::{self, Reply};
use crate::syscalls;
use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice, Spec};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// The config's devices, by host name, in name order (runc's map has none; an order makes
/// a failure's message the same from run to run).
pub fn of(spec: &Spec) -> Vec<(&String, &LinuxNetDevice)> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Vec::new();
    };
    let mut sorted: Vec<_> = devices.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
}

/// The name the kernel would take for an interface (dev_valid_name), as runc checks it.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', ' '])
}

/// runc's checks, before anything is made: a network namespace of the container's (made or
/// joined), root, names the kernel takes.
pub fn check(spec: &Spec, rootless: bool) -> Result<()> {
    let devices = of(spec);
    if devices.is_empty() {
        return Ok(());
    }
    let has_net_namespace = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
    if !has_net_namespace {
        bail!("linux.netDevices: unable to move network devices without a NET namespace");
    }
    if rootless {
        bail!("linux.netDevices: network devices are not supported for rootless containers");
    }
    for (name, device) in devices {
        // An empty new name keeps the host's.
        let new_name = device.name().as_deref().filter(|n| !n.is_empty());
        for name in std::iter::once(name.as_str()).chain(new_name) {
            if !valid_name(name) {
                bail!("linux.netDevices: invalid network device name {name:?}");
            }
        }
    }
    Ok(())
}

/// Moves the config's devices into the network namespace of process `pid` (the init, its
/// namespace the container's by now), from rrun's own. Every failure in runc's words,
/// "error creating network interfaces: ...".
pub fn move_into(pid: i32, spec: &Spec) -> Result<()> {
    move_all(pid, spec).map_err(|e| anyhow!("error creating network interfaces: {e:#}"))
}

fn move_all(pid: i32, spec: &Spec) -> Result<()> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let target = nix::fcntl::open(
        ns_path.as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("opening {ns_path}: {e}"))?;
    let host = Sockets::here().map_err(|e| anyhow!("netlink socket: {e}"))?;
    let inside = Sockets::in_namespace(&target)
        .map_err(|e| anyhow!("a netlink socket in {ns_path}: {e}"))?;
    for (name, device) in of(spec) {
        let new_name = device
            .name()
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(name);
        move_one(&host, &inside, name, new_name, target.as_fd(), &ns_path)
            .map_err(|e| anyhow!("move netDevice {name} to namespace {ns_path}: {e:#}"))?;
    }
    Ok(())
}

/// One device: down on the host, its addresses read, moved and renamed in one request, its
/// addresses given again (the kernel drops them on the move), up in the container.
fn move_one(
    host: &Sockets,
    inside: &Sockets,
    name: &str,
    new_name: &str,
    target: BorrowedFd,
    ns_path: &str,
) -> Result<()> {
    let index = syscalls::interface_index(host.inet.as_fd(), name)
        .map_err(|e| anyhow!("link not found for interface {name} on runtime namespace: {e}"))?;
    // Down first, so nothing on the host uses it while it changes namespace and name.
    syscalls::set_interface_up(host.inet.as_fd(), name, false)
        .map_err(|e| anyhow!("fail to set link down: {e}"))?;
    let addresses = host
        .addresses_of(index)
        .map_err(|e| anyhow!("fail to get ip addresses: {e}"))?;
    host.request(&netlink::move_link(index, new_name, target.as_raw_fd()))
        .map_err(|e| {
            anyhow!("fail to move network device {name} to network namespace {ns_path}: {e}")
        })?;
    let new_index = syscalls::interface_index(inside.inet.as_fd(), new_name).map_err(|e| {
        anyhow!("link not found for interface {new_name} on namespace {ns_path}: {e}")
    })?;
    for address in &addresses {
        inside
            .request(&netlink::add_address(new_index, address))
            .map_err(|e| anyhow!("fail to set up address {address} on namespace {ns_path}: {e}"))?;
    }
    syscalls::set_interface_up(inside.inet.as_fd(), new_name, true)
        .map_err(|e| anyhow!("fail to set up interface {new_name} on namespace {ns_path}: {e}"))?;
    Ok(())
}

/// An rtnetlink socket and a datagram socket (for the interface ioctls) of one network
/// namespace.
struct Sockets {
    route: OwnedFd,
    inet: OwnedFd,
}

impl Sockets {
    fn here() -> io::Result<Self> {
        Ok(Sockets {
            route: syscalls::netlink_route_socket()?,
            inet: syscalls::inet_socket()?,
        })
    }

    /// Made inside `netns` (a socket keeps the namespace it was made in): rrun enters it
    /// for the two calls and comes back.
    fn in_namespace(netns: &OwnedFd) -> io::Result<Self> {
        use nix::sched::{CloneFlags, setns};
        let ours = nix::fcntl::open(
            "/proc/self/ns/net",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        setns(netns, CloneFlags::CLONE_NEWNET)?;
        let made = Self::here();
        setns(&ours, CloneFlags::CLONE_NEWNET)?;
        made
    }

    /// Sends one request and reads until its acknowledgement: an error's errno as an
    /// io::Error.
    fn request(&self, msg: &[u8]) -> io::Result<()> {
        self.exchange(msg, |_| {})
    }

    /// Sends `msg` and hands every message of the reply to `each`, until the dump's end or
    /// the acknowledgement (the kernel always answers a request on its own socket: no wait
    /// here can outlast it).
    fn exchange(&self, msg: &[u8], mut each: impl FnMut(&Reply)) -> io::Result<()> {
        use nix::sys::socket::{MsgFlags, recv, send};
        send(self.route.as_raw_fd(), msg, MsgFlags::empty())?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = recv(self.route.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let replies = netlink::replies(&buf[..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            for reply in &replies {
                match reply {
                    Reply::Ack { errno: 0 } | Reply::Done => return Ok(()),
                    Reply::Ack { errno } => return Err(io::Error::from_raw_os_error(*errno)),
                    Reply::Message { .. } => each(reply),
                }
            }
        }
    }

    fn addresses_of(&self, index: i32) -> io::Result<Vec<netlink::Address>> {
        let mut addresses = Vec::new();
        self.exchange(&netlink::dump_addresses(), |reply| {
            if let Reply::Message {
                kind: netlink::RTM_NEWADDR,
                payload,
            } = reply
            {
                addresses.extend(netlink::permanent_global_address(payload, index));
            }
        })?;
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "linux": linux,
        }))
        .unwrap()
    }

    #[test]
    fn runc_s_checks_in_runc_s_words() {
        let net = serde_json::json!([{"type": "network"}]);
        let check_of = |devices: serde_json::Value, ns: &serde_json::Value, rootless| {
            check(
                &spec(serde_json::json!({"namespaces": ns, "netDevices": devices})),
                rootless,
            )
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            check_of(serde_json::json!({"eth1": {"name": "ctr0"}}), &net, false),
            Ok(())
        );
        assert_eq!(
            check_of(serde_json::json!({"eth1": {}}), &net, false),
            Ok(())
        );
        assert_eq!(
            check_of(serde_json::json!({"eth1": {"name": ""}}), &net, false),
            Ok(())
        );
        assert_eq!(
            check_of(
                serde_json::json!({"eth1": {}}),
                &serde_json::json!([]),
                false
            )
            .unwrap_err(),
            "linux.netDevices: unable to move network devices without a NET namespace"
        );
        assert_eq!(
            check_of(serde_json::json!({"eth1": {}}), &net, true).unwrap_err(),
            "linux.netDevices: network devices are not supported for rootless containers"
        );
        for bad in ["a/b", "a:b", "a b", ".", "..", "seventeen-letters"] {
            assert_eq!(
                check_of(serde_json::json!({"eth1": {"name": bad}}), &net, false).unwrap_err(),
                format!("linux.netDevices: invalid network device name {bad:?}")
            );
            assert!(check_of(serde_json::json!({bad: {}}), &net, false).is_err());
        }
        assert!(check_of(serde_json::json!({"": {}}), &net, false).is_err());
        // No devices, nothing to check.
        assert_eq!(
            check_of(serde_json::json!({}), &serde_json::json!([]), true),
            Ok(())
        );
    }
}
