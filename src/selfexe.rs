//! CVE-2019-5736 defence for the cases where a container process can see rrun while it
//! works inside the container (a joined pid namespace; later `exec`): rrun re-executes
//! itself from a sealed memfd copy first, so /proc/<pid>/exe is a read-only, sealed
//! in-memory file and never the host's binary. The copy costs about a millisecond, so it
//! is only made where it is needed; the usual create path (new pid namespace, where no
//! container process exists before the init execs) skips it.

use anyhow::{Result, anyhow};
use std::ffi::CString;
use std::os::fd::AsRawFd;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether the running binary is already a sealed copy.
pub fn running_sealed() -> bool {
    std::fs::File::open("/proc/self/exe")
        .is_ok_and(|f| crate::syscalls::get_seals(f.as_raw_fd()).is_ok_and(|s| s & SEALS == SEALS))
}

/// Re-executes rrun, with the same arguments and environment, from a sealed memfd copy;
/// returns only if already running from one.
pub fn ensure_sealed() -> Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let mut exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| anyhow!("opening /proc/self/exe: {e}"))?;
    let memfd = crate::syscalls::memfd_create("rrun").map_err(|e| anyhow!("memfd_create: {e}"))?;
    let mut copy = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut copy).map_err(|e| anyhow!("copying rrun into a memfd: {e}"))?;
    crate::syscalls::add_seals(copy.as_raw_fd(), SEALS)
        .map_err(|e| anyhow!("sealing the rrun copy: {e}"))?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| {
            CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).unwrap_or_default()
        })
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = std::os::unix::ffi::OsStrExt::as_bytes(k.as_os_str()).to_vec();
            kv.push(b'=');
            kv.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()));
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    Err(anyhow!(
        "re-executing from the sealed copy: {}",
        crate::syscalls::fexecve(copy.as_raw_fd(), &args, &env)
    ))
}
