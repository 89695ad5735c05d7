//! OCI hooks: each runs as its own process with the container's state JSON on stdin, its
//! `args` and `env` as given, and is killed if it outlives its `timeout`.

use anyhow::{Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use oci_spec::runtime::Hook;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Whether the config has hooks of the kind `which` picks.
pub fn has(
    spec: &oci_spec::runtime::Spec,
    which: impl Fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>,
) -> bool {
    spec.hooks()
        .as_ref()
        .is_some_and(|h| which(h).as_ref().is_some_and(|l| !l.is_empty()))
}

/// Whether the init stops before pivot_root for rrun to run hooks (prestart,
/// createRuntime): it asks with "runcreatehooks", and rrun's "created" waits for them.
pub fn has_create_hooks(spec: &oci_spec::runtime::Spec) -> bool {
    #[allow(deprecated)]
    let prestart = has(spec, |h| h.prestart());
    prestart || has(spec, |h| h.create_runtime())
}

/// The state document hooks receive on stdin (the OCI state with the given status).
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &str,
    annotations: &std::collections::HashMap<String, String>,
    version: &str,
) -> String {
    let mut v = serde_json::json!({"ociVersion": version, "id": id, "status": status, "pid": pid, "bundle": bundle});
    if !annotations.is_empty() {
        v["annotations"] = serde_json::json!(annotations);
    }
    v.to_string()
}

/// Runs `hooks` in order; the first failure stops the list and is returned, in runc's
/// words (`error running prestart hook #0: ...`).
pub fn run_all(kind: &str, hooks: &[Hook], state: &str) -> Result<()> {
    run_all_with_env(kind, hooks, state, None)
}

/// The same, where a hook without an `env` of its own gets `default_env` rather than
/// rrun's environment: runc gives startContainer hooks the process's environment.
pub fn run_all_with_env(
    kind: &str,
    hooks: &[Hook],
    state: &str,
    default_env: Option<&[String]>,
) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state, default_env)
            .map_err(|e| anyhow!("error running {kind} hook #{i}: {e}"))?;
    }
    Ok(())
}

/// Runs hooks whose failure only warrants a warning (poststop): the spec says "the
/// remaining hooks and lifecycle continue as if the hook had succeeded", so every hook
/// runs whatever the ones before it did.
pub fn run_all_warn(kind: &str, hooks: &[Hook], state: &str) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state, None) {
            crate::logging::warn(&format!("error running {kind} hook #{i}: {e:#}"));
        }
    }
}

/// One hook, as runc runs it: started with the state on its stdin, its output collected,
/// waited for within its timeout; its stdout and stderr are kept for the error, where a
/// failed hook's own words are most use.
fn run_one(h: &Hook, state: &str, default_env: Option<&[String]>) -> Result<()> {
    let mut child = command(h, default_env)
        .spawn()
        .map_err(|e| anyhow!("starting {}: {e}", h.path().display()))?;
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (Duration::from_secs(t as u64), Instant::now()));
    let mut pipes = Pipes::take(&mut child, state.as_bytes());
    match pipes.serve_until_exit(&mut child, deadline.map(|(t, since)| since + t)) {
        Ok(Some(status)) => outcome(status, || pipes.joined()),
        ended_early => {
            // Past its timeout, or its pipes failed: the hook is stopped, not left behind.
            let _ = child.kill();
            let _ = child.wait();
            match (ended_early, deadline) {
                (Err(e), _) => Err(e.context(format!("talking to {}", h.path().display()))),
                (_, Some((limit, _))) => bail!(
                    "hook ran past specified timeout of {:.1}s",
                    limit.as_secs_f64()
                ),
                _ => unreachable!("a hook without a timeout is waited for until it exits"),
            }
        }
    }
}

/// The hook's command: `env` given replaces the environment, none inherits it (or takes
/// `default_env`); stdio all pipes.
fn command(h: &Hook, default_env: Option<&[String]>) -> Command {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    let env = match (h.env().as_deref(), default_env) {
        (Some(own), _) if !own.is_empty() => Some(own),
        (_, Some(default)) => Some(default),
        (own, None) => own,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// rrun's ends of a hook's pipes, served by one poll loop in rrun's own thread: the state
/// written as the hook reads it and its stdout and stderr read as it writes them, so
/// neither side blocks on a full pipe whatever their sizes. Without threads because rrun,
/// root only in a user namespace, can't leave a pid namespace it joined for a container,
/// and the kernel then refuses it any new thread (EINVAL; musl says EAGAIN).
struct Pipes<'a> {
    stdin: Option<OwnedFd>,
    unwritten: &'a [u8],
    /// stdout and stderr, each dropped at its end of file.
    outputs: [Option<OwnedFd>; 2],
    collected: [Vec<u8>; 2],
}

/// How long rrun looks away between checks for the hook's exit where the kernel has no
/// pidfd (before 5.3) to wake it.
const EXIT_CHECK_WITHOUT_PIDFD: Duration = Duration::from_millis(10);

impl<'a> Pipes<'a> {
    fn take(child: &mut Child, state: &'a [u8]) -> Self {
        let nonblocking = |fd: OwnedFd| {
            // A failure leaves it blocking: poll still says when it is ready.
            let _ = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            fd
        };
        Pipes {
            // An empty state has nothing to wait for: the hook's stdin is closed at once.
            stdin: (child.stdin.take())
                .filter(|_| !state.is_empty())
                .map(|p| nonblocking(p.into())),
            unwritten: state,
            outputs: [
                child.stdout.take().map(|p| nonblocking(p.into())),
                child.stderr.take().map(|p| nonblocking(p.into())),
            ],
            collected: [Vec::new(), Vec::new()],
        }
    }

    /// Serves the pipes until the hook exits (its status) or `deadline` passes (None).
    /// What the hook wrote before it exited is all read; a process it left behind holding
    /// its stdout is not waited for.
    fn serve_until_exit(
        &mut self,
        child: &mut Child,
        deadline: Option<Instant>,
    ) -> Result<Option<ExitStatus>> {
        let exit = crate::syscalls::pidfd_open(child.id() as i32).ok();
        loop {
            if let Some(status) = child.try_wait()? {
                self.read_what_is_there()?;
                return Ok(Some(status));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            let wait = match (&exit, left) {
                (Some(_), left) => left,
                (None, left) => Some(left.map_or(EXIT_CHECK_WITHOUT_PIDFD, |l| {
                    l.min(EXIT_CHECK_WITHOUT_PIDFD)
                })),
            };
            let ready = self.poll(exit.as_ref(), wait)?;
            if ready.stdin {
                self.write_some()?;
            }
            if ready.outputs {
                self.read_what_is_there()?;
            }
        }
    }

    /// Waits up to `wait` (forever: None) for a pipe to be ready or the hook to exit.
    fn poll(&self, exit: Option<&OwnedFd>, wait: Option<Duration>) -> Result<Ready> {
        let wanted_in = self.stdin.as_ref().filter(|_| !self.unwritten.is_empty());
        // stdout and stderr first, then the state's pipe, then the exit.
        let mut fds: Vec<PollFd> = (self.outputs.iter().flatten())
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        let open_outputs = fds.len();
        fds.extend(wanted_in.map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLOUT)));
        fds.extend(exit.map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)));
        let timeout = wait.map_or(PollTimeout::NONE, |w| {
            // Rounded up, so a wait shorter than a millisecond is not a busy loop.
            let ms = w.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        });
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => bail!("polling its pipes: {e}"),
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let outputs = fds[..open_outputs].iter().any(ready);
        let stdin = wanted_in.is_some() && ready(&fds[open_outputs]);
        Ok(Ready { stdin, outputs })
    }

    /// Writes what the pipe takes of the state; at its end (or when the hook closed its
    /// stdin: a hook need not read it) the pipe is closed, so the hook sees end of file.
    fn write_some(&mut self) -> Result<()> {
        let Some(fd) = &self.stdin else {
            return Ok(());
        };
        match nix::unistd::write(fd, self.unwritten) {
            Ok(n) => self.unwritten = &self.unwritten[n..],
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => self.unwritten = &[],
        }
        if self.unwritten.is_empty() {
            self.stdin = None;
        }
        Ok(())
    }

    /// Reads stdout and stderr until each is empty for now or at its end.
    fn read_what_is_there(&mut self) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        for (pipe, collected) in self.outputs.iter_mut().zip(&mut self.collected) {
            while let Some(fd) = pipe {
                match nix::unistd::read(fd, &mut buf) {
                    Ok(0) => *pipe = None,
                    Ok(n) => collected.extend_from_slice(&buf[..n]),
                    Err(Errno::EINTR) => {}
                    Err(Errno::EAGAIN) => break,
                    Err(e) => bail!("reading its output: {e}"),
                }
            }
        }
        Ok(())
    }

    /// What the error of a failed hook ends with.
    fn joined(&self) -> String {
        format!(
            ", stdout: {}, stderr: {}",
            String::from_utf8_lossy(&self.collected[0]),
            String::from_utf8_lossy(&self.collected[1])
        )
    }
}

/// Which of a hook's pipes a poll found ready.
struct Ready {
    stdin: bool,
    outputs: bool,
}

/// Success, or runc's words for how the hook ended, with its output.
fn outcome(status: std::process::ExitStatus, outputs: impl FnOnce() -> String) -> Result<()> {
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => bail!("exit status {code}{}", outputs()),
        // Go's words for a process a signal ended, as runc's message has them.
        (_, Some(sig)) => bail!(
            "signal: {}{}{}",
            crate::signals::go_words(sig),
            if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            },
            outputs()
        ),
        _ => bail!("failed: {status}{}", outputs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn passes_state_on_stdin_and_reports_failures() {
        let dir = std::env::temp_dir().join(format!("rrun-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {} && echo $X >> {}"],"env":["X=from-env"]}}"#,
            out.display(),
            out.display()
        ));
        run_all("prestart", &[h], "{\"id\":\"c\"}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c\"}from-env\n"
        );
        let bad = hook(r#"{"path":"/bin/sh","args":["sh","-c","exit 7"]}"#);
        let err = run_all("poststop", &[bad], "{}").unwrap_err().to_string();
        assert_eq!(
            err,
            "error running poststop hook #0: exit status 7, stdout: , stderr: "
        );
        let slow = hook(r#"{"path":"/bin/sh","args":["sh","-c","sleep 10"],"timeout":1}"#);
        let start = std::time::Instant::now();
        assert!(
            run_all("prestart", &[slow], "{}")
                .unwrap_err()
                .to_string()
                .contains("hook ran past specified timeout of 1.0s")
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A failed hook's words are what it wrote before it exited; a process it left running
    /// with its stdout (a daemon it started) is not waited for.
    #[test]
    fn a_failed_hooks_output_is_reported_without_waiting_for_what_it_left_running() {
        let left = std::env::temp_dir().join(format!("rrun-hook-left-{}", std::process::id()));
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","echo out; echo err >&2; sleep 30 & echo $! > {}; exit 3"]}}"#,
            left.display()
        ));
        let start = std::time::Instant::now();
        let err = run_all("prestart", &[h], "{}").unwrap_err().to_string();
        let waited = start.elapsed();
        if let Ok(pid) = std::fs::read_to_string(&left) {
            let _ = crate::syscalls::send_signal(pid.trim().parse().unwrap(), libc::SIGKILL);
        }
        let _ = std::fs::remove_file(&left);
        assert_eq!(
            err,
            "error running prestart hook #0: exit status 3, stdout: out\n, stderr: err\n"
        );
        assert!(waited < Duration::from_secs(10), "{waited:?}");
    }

    /// A state larger than a pipe holds, given to a hook that writes more than a pipe holds
    /// before it reads: neither side waits for the other.
    #[test]
    fn a_large_state_and_a_chatty_hook_do_not_block_each_other() {
        let state = format!("{{\"id\":\"{}\"}}", "x".repeat(1 << 20));
        let h = hook(
            r#"{"path":"/bin/sh","args":["sh","-c","head -c 300000 /dev/zero | tr '\\0' o; wc -c >&2; exit 1"],"timeout":60}"#,
        );
        let err = run_all("createRuntime", &[h], &state)
            .unwrap_err()
            .to_string();
        let expected_stdout = "o".repeat(300000);
        assert_eq!(
            err,
            format!(
                "error running createRuntime hook #0: exit status 1, stdout: {expected_stdout}, stderr: {}\n",
                state.len()
            )
        );
    }

    #[test]
    fn a_failed_poststop_hook_does_not_stop_the_next() {
        let out = std::env::temp_dir().join(format!("rrun-hook-warn-{}", std::process::id()));
        let failing = hook(r#"{"path":"/bin/sh","args":["sh","-c","exit 1"]}"#);
        let next = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","echo ran > {}"]}}"#,
            out.display()
        ));
        run_all_warn("poststop", &[failing, next], "{}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "ran\n");
        std::fs::remove_file(&out).unwrap();
    }
}
