//! `NOTIFY_SOCKET` (sd_notify): when rrun is started by systemd (or `podman run
//! --sdnotify=container`), the container's own READY=1 must reach the host's socket.
//! As in runc: the container gets `/run/notify/notify.sock`, a socket in the state
//! directory bound into it, and `start` relays the container's READY message to the host.

use anyhow::{Context, Result, anyhow};
use oci_spec::runtime::Spec;
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CONTAINER_DIR: &str = "/run/notify";
const SOCKET_NAME: &str = "notify.sock";

/// The host's socket, when rrun was asked to notify.
pub fn host_socket() -> Option<PathBuf> {
    std::env::var_os("NOTIFY_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// Create: bind `state_dir/notify` into the container and point its NOTIFY_SOCKET there.
pub fn setup_spec(spec: &mut Spec, state_dir: &Path) -> Result<()> {
    let mount = json!({"destination": CONTAINER_DIR, "type": "bind", "source": state_dir.join("notify"), "options": ["bind", "nosuid", "noexec", "nodev"]});
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(serde_json::from_value(mount)?);
    spec.set_mounts(Some(mounts));
    if let Some(process) = spec.process_mut() {
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={CONTAINER_DIR}/{SOCKET_NAME}"));
        process.set_env(Some(env));
    }
    Ok(())
}

/// Start, before the process runs: the socket the container will send to.
pub fn bind(state_dir: &Path) -> Result<Option<UnixDatagram>> {
    let dir = state_dir.join("notify");
    if !dir.is_dir() {
        return Ok(None);
    }
    let path = dir.join(SOCKET_NAME);
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    // The container's user may be anyone.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    Ok(Some(sock))
}

/// Start, once the process runs: relay its messages until READY=1 (or until it is gone).
pub fn relay_until_ready(
    sock: &UnixDatagram,
    host: &Path,
    pid: i32,
    alive: impl Fn() -> bool,
) -> Result<()> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let out = UnixDatagram::unbound()?;
    let mut buf = vec![0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.lines().any(|l| l == "READY=1") {
                    // systemd must learn the container's pid, not rrun's.
                    out.send_to(format!("{msg}\nMAINPID={pid}").as_bytes(), host)
                        .map_err(|e| anyhow!("notifying {}: {e}", host.display()))?;
                    return Ok(());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !alive() {
                    return Ok(());
                }
            }
            Err(e) => return Err(anyhow!("reading the notify socket: {e}")),
        }
    }
}
