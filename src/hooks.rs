//! OCI hooks: each runs as its own process with the container's state JSON on stdin, its
//! `args` and `env` as given, and is killed if it outlives its `timeout`.

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::Hook;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: a broken pipe is not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let output = Output::collect(h, &mut child)?;
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let status = wait_within(&mut child, timeout)?;
    outcome(status, || output.joined())
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

/// A hook's stdout and stderr, read by threads, so a chatty hook never blocks on a full
/// pipe.
struct Output {
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Output {
    fn collect(h: &Hook, child: &mut std::process::Child) -> Result<Self> {
        let collect = |pipe: Option<Box<dyn Read + Send>>| {
            crate::threads::spawn(move || {
                let mut out = String::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_string(&mut out);
                }
                out
            })
        };
        let stdout = collect(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = collect(child.stderr.take().map(|p| Box::new(p) as _));
        match (stdout, stderr) {
            (Ok(stdout), Ok(stderr)) => Ok(Output { stdout, stderr }),
            (out, err) => {
                let why = [&out, &err]
                    .into_iter()
                    .find_map(|t| t.as_ref().err().map(|e| e.to_string()))
                    .unwrap_or_default();
                // Its output can't be read: the hook is stopped, and a reader that started
                // ends with its pipe.
                let _ = child.kill();
                let _ = child.wait();
                for reader in [out, err].into_iter().flatten() {
                    let _ = reader.join();
                }
                bail!("reading the output of {}: {why}", h.path().display());
            }
        }
    }

    /// What the error of a failed hook ends with.
    fn joined(self) -> String {
        format!(
            ", stdout: {}, stderr: {}",
            self.stdout.join().unwrap_or_default(),
            self.stderr.join().unwrap_or_default()
        )
    }
}

/// The hook's end; one that outlives `timeout` is killed, in runc's words.
fn wait_within(
    child: &mut std::process::Child,
    timeout: Option<Duration>,
) -> Result<std::process::ExitStatus> {
    let Some(limit) = timeout else {
        return Ok(child.wait()?);
    };
    let pidfd = crate::syscalls::pidfd_open(child.id() as i32)?;
    if !crate::container::wait_pidfd(&pidfd, limit) {
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "hook ran past specified timeout of {:.1}s",
            limit.as_secs_f64()
        );
    }
    Ok(child.wait()?)
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
