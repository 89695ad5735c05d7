//! OCI hooks: each runs as its own process with the container's state JSON on stdin, its
//! `args` and `env` as given, and is killed if it outlives its `timeout`.

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Runs `hooks` in order; the first failure stops the list and is returned, naming the hook.
pub fn run_all(kind: &str, hooks: &[Hook], state: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state).map_err(|e| anyhow!("{kind} hook #{i} ({}): {e}", h.path().display()))?;
    }
    Ok(())
}

/// Runs hooks whose failure only warrants a warning (poststart, poststop): the spec says
/// "the remaining hooks and lifecycle continue as if the hook had succeeded", so every
/// hook runs whatever the ones before it did.
pub fn run_all_warn(kind: &str, hooks: &[Hook], state: &str) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state) {
            crate::logging::warn(&format!("{kind} hook #{i} ({}): {e:#}", h.path().display()));
        }
    }
}

fn run_one(h: &Hook, state: &str) -> Result<()> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| anyhow!("starting: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: a broken pipe is not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let status = match timeout {
        None => child.wait()?,
        Some(limit) => {
            let pidfd = crate::syscalls::pidfd_open(child.id() as i32)?;
            if !crate::container::wait_pidfd(&pidfd, limit) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("timed out after {}s", limit.as_secs());
            }
            child.wait()?
        }
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => bail!("exit status {code}"),
        (_, Some(sig)) => bail!("killed by signal {sig}"),
        _ => bail!("failed: {status}"),
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
        assert_eq!(err, "poststop hook #0 (/bin/sh): exit status 7");
        let slow = hook(r#"{"path":"/bin/sh","args":["sh","-c","sleep 10"],"timeout":1}"#);
        let start = std::time::Instant::now();
        assert!(
            run_all("prestart", &[slow], "{}")
                .unwrap_err()
                .to_string()
                .contains("timed out")
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
