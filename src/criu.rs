//! CRIU's RPC ("swrk" mode): one `criu swrk <fd>` process per request, over a SOCK_SEQPACKET
//! socketpair, one protobuf message per packet. The messages are the CRIU project's own
//! (the `rust-criu` crate's generated `rpc` module). The transport is rrun's: rust-criu's
//! client has no pre-dump, no cgroup roots, no feature check, takes notify callbacks as
//! bare function pointers and waits on CRIU without a bound; rrun needs all of those.
//!
//! This layer knows CRIU, not containers: the request is built by container::checkpoint
//! and container::restore.

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};
use protobuf::Message;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use rust_criu::rust_criu_protobuf::rpc;

/// How long rrun waits for CRIU, overall, before it gives up and kills it: a dump of a
/// large container takes minutes, a CRIU that hangs must not hang its caller forever.
/// `RRUN_CRIU_TIMEOUT` (seconds) changes it.
pub fn timeout() -> Duration {
    let secs = std::env::var("RRUN_CRIU_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// What CRIU's notifications get back: `Ok` lets CRIU go on.
pub struct Notification<'a> {
    pub script: &'a str,
    pub pid: i32,
    /// The fd CRIU sent with the message (the pty master, for "orphan-pts-master").
    pub fd: Option<OwnedFd>,
}

/// Where the criu process's stdio goes: a restore gives CRIU rrun's own, so that the
/// restored process's pipes can be the caller's (CRIU's inherit-fd).
pub enum CriuStdio {
    Null,
    Inherit,
}

/// One request to CRIU and its answer.
pub struct Call<'a> {
    pub criu: &'a Path,
    pub request: rpc::Criu_req,
    /// Fds CRIU must inherit (namespaces, stdio pipes): named in the request by number.
    pub inherit: Vec<BorrowedFd<'a>>,
    pub stdio: CriuStdio,
}

impl Call<'_> {
    /// Runs CRIU: `started` gets the criu process's pid before the request is sent (a
    /// restore puts it in the container's cgroups, so that what CRIU restores is there);
    /// `notify` handles each notification. Bounded by [`timeout`] and by CRIU's end.
    pub fn run(
        mut self,
        started: impl FnOnce(i32, &mut rpc::Criu_req) -> Result<()>,
        mut notify: impl FnMut(Notification) -> Result<()>,
    ) -> Result<rpc::Criu_resp> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("creating the socket to CRIU")?;
        let mut child = self.spawn(&theirs)?;
        drop(theirs);
        let result = (|| {
            started(child.id() as i32, &mut self.request)?;
            send(ours.as_fd(), &self.request)?;
            let deadline = Instant::now() + timeout();
            loop {
                let (resp, fd) = receive(ours.as_fd(), deadline)?;
                if !resp.success() {
                    return Err(rpc_failure(&resp));
                }
                if resp.type_() != rpc::Criu_req_type::NOTIFY {
                    if resp.type_() != self.request.type_() {
                        bail!(
                            "CRIU answered {:?} to {:?}",
                            resp.type_(),
                            self.request.type_()
                        );
                    }
                    return Ok(resp);
                }
                let n = resp.notify.get_or_default();
                let outcome = notify(Notification {
                    script: n.script(),
                    pid: n.pid(),
                    fd,
                });
                let mut ack = rpc::Criu_req::new();
                ack.set_type(rpc::Criu_req_type::NOTIFY);
                ack.set_notify_success(outcome.is_ok());
                send(ours.as_fd(), &ack)?;
                outcome?;
            }
        })();
        drop(ours);
        // A pre-dump's CRIU waits for a next request: closing the socket ends it. On error
        // CRIU may still be working: it is killed, never left behind.
        if result.is_err() {
            let _ = child.kill();
        }
        reap_within(&mut child, Duration::from_secs(10));
        result
    }

    fn spawn(&self, theirs: &OwnedFd) -> Result<Child> {
        let shared: Vec<RawFd> = std::iter::once(theirs.as_raw_fd())
            .chain(self.inherit.iter().map(|f| f.as_raw_fd()))
            .collect();
        // Only these fds cross the exec: close-on-exec is cleared for the spawn alone
        // (rrun is single-threaded, nothing else can exec meanwhile).
        for &fd in &shared {
            set_cloexec(fd, false)?;
        }
        let mut cmd = Command::new(self.criu);
        cmd.arg("swrk").arg(theirs.as_raw_fd().to_string());
        if let CriuStdio::Null = self.stdio {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        let spawned = cmd.spawn();
        for &fd in &shared {
            set_cloexec(fd, true)?;
        }
        spawned.map_err(|e| anyhow!("running CRIU ({}): {e}", self.criu.display()))
    }
}

fn set_cloexec(fd: RawFd, on: bool) -> Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(crate::syscalls::borrow_fd(fd), FcntlArg::F_SETFD(flags))
        .map(drop)
        .map_err(|e| anyhow!("fcntl on fd {fd}: {e}"))
}

fn send(sock: BorrowedFd, req: &rpc::Criu_req) -> Result<()> {
    let bytes = req.write_to_bytes()?;
    let n = nix::unistd::write(sock, &bytes).map_err(|e| anyhow!("writing to CRIU: {e}"))?;
    if n != bytes.len() {
        bail!("writing to CRIU: short write");
    }
    Ok(())
}

/// CRIU's messages are small (its notifications, a dump's answer); a bigger one is an
/// error, not a silent truncation.
const MAX_MESSAGE: usize = 64 * 1024;

fn receive(sock: BorrowedFd, deadline: Instant) -> Result<(rpc::Criu_resp, Option<OwnedFd>)> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "CRIU did not finish within {} s (RRUN_CRIU_TIMEOUT)",
                timeout().as_secs()
            );
        }
        let ms = left.as_millis().min(60_000) as u16;
        let mut fds = [PollFd::new(sock, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => bail!("waiting for CRIU: {e}"),
        }
    }
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| match e {
        // CRIU closed its end with our request unread: it died.
        nix::errno::Errno::ECONNRESET => anyhow!("CRIU exited before it answered"),
        e => anyhow!("reading from CRIU: {e}"),
    })?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(|e| anyhow!("reading from CRIU: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                let owned = crate::syscalls::own_fd(f);
                fd.get_or_insert(owned);
            }
        }
    }
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        bail!("a message from CRIU exceeded {MAX_MESSAGE} bytes");
    }
    let n = msg.bytes;
    if n == 0 {
        bail!("CRIU exited before it answered");
    }
    let resp = rpc::Criu_resp::parse_from_bytes(&buf[..n])
        .map_err(|e| anyhow!("reading CRIU's answer: {e}"))?;
    Ok((resp, fd))
}

fn rpc_failure(resp: &rpc::Criu_resp) -> anyhow::Error {
    let what = format!("{:?}", resp.type_())
        .to_lowercase()
        .replace('_', "-");
    let errno = resp.cr_errno();
    let mut text = format!("CRIU's {what} failed");
    if errno != 0 {
        text.push_str(&format!(" ({})", std::io::Error::from_raw_os_error(errno)));
    }
    if resp.has_cr_errmsg() && !resp.cr_errmsg().is_empty() {
        text.push_str(&format!(": {}", resp.cr_errmsg().trim()));
    }
    anyhow!(text)
}

/// Waits for criu's exit (it exits once it has answered); kills it past `bound`.
fn reap_within(child: &mut Child, bound: Duration) {
    let end = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// A request that needs nothing but an answer (no fds, no notifications).
fn ask(criu: &Path, request: rpc::Criu_req) -> Result<rpc::Criu_resp> {
    Call {
        criu,
        request,
        inherit: Vec::new(),
        stdio: CriuStdio::Null,
    }
    .run(|_, _| Ok(()), |_| Ok(()))
}

/// CRIU's version as runc numbers it: major * 10000 + minor * 100 + sublevel (a git
/// build counts as the next minor release).
pub fn version(criu: &Path) -> Result<u32> {
    let mut req = rpc::Criu_req::new();
    req.set_type(rpc::Criu_req_type::VERSION);
    let resp = ask(criu, req)?;
    let v = resp.version.get_or_default();
    let mut n = v.major_number() as u32 * 10000 + v.minor_number() as u32 * 100;
    n += v.sublevel() as u32;
    if v.has_gitid() {
        n = n - n % 100 + 100;
    }
    Ok(n)
}

/// Asks CRIU whether it has `features` (memory tracking for pre-dump, lazy pages).
pub fn check_features(criu: &Path, wanted: rpc::Criu_features) -> Result<rpc::Criu_features> {
    let mut req = rpc::Criu_req::new();
    req.set_type(rpc::Criu_req_type::FEATURE_CHECK);
    req.features = protobuf::MessageField::some(wanted);
    Ok(ask(criu, req)?.features.get_or_default().clone())
}

/// The lines of CRIU's log that say why it failed ("Error (file:line): ..."), the last
/// few, for the one-line error: the log itself is named beside them.
pub fn log_errors(log: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    let errors: Vec<String> = text
        .lines()
        .filter(|l| l.contains("Error"))
        // Each line starts with CRIU's timestamp, "(00.031290) ".
        .map(|l| match l.trim().split_once(") ") {
            Some((stamp, rest)) if stamp.starts_with('(') => rest.to_string(),
            _ => l.trim().to_string(),
        })
        .collect();
    let skip = errors.len().saturating_sub(2);
    errors.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gives_its_last_errors() {
        let dir = std::env::temp_dir().join(format!("rrun-criu-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dump.log");
        std::fs::write(
            &log,
            "(00.001) Version: 3.17.1\n(00.002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n(00.003) Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed\n(00.004) Error (criu/crtools.c:260): Could not initialize kernel features detection.\n",
        )
        .unwrap();
        let errs = log_errors(&log);
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[1],
            "Error (criu/crtools.c:260): Could not initialize kernel features detection."
        );
        assert!(log_errors(&dir.join("none")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_answer_names_the_request_and_criu_s_message() {
        let mut resp = rpc::Criu_resp::new();
        resp.set_type(rpc::Criu_req_type::PRE_DUMP);
        resp.set_success(false);
        resp.set_cr_errno(libc::EPERM);
        resp.set_cr_errmsg("no permission".into());
        let text = rpc_failure(&resp).to_string();
        assert!(text.starts_with("CRIU's pre-dump failed ("), "{text}");
        assert!(text.ends_with(": no permission"), "{text}");
    }

    #[test]
    fn a_criu_that_exits_at_once_is_an_error_not_a_wait() {
        let err = version(Path::new("/bin/true")).unwrap_err();
        assert!(
            err.to_string().contains("CRIU exited before it answered")
                || err.to_string().contains("writing to CRIU"),
            "{err}"
        );
    }
}
