//! `exec`'s flags (`--tty`, `--cwd`, `--env`, `--user`, `--cap` and the rest) applied to
//! the container's process settings, as runc applies them.

use anyhow::{Context, Result, anyhow};
use oci_spec::runtime::Process;

/// The process of `exec` without `--process`: the container's own process settings with
/// the command line and runc's flags applied on top.
pub fn process_from_flags(
    base: &Process,
    args: Vec<String>,
    a: &crate::cli::ExecArgs,
) -> Result<Process> {
    let mut v = serde_json::to_value(base)?;
    v["args"] = serde_json::json!(args);
    v["terminal"] = serde_json::json!(a.tty);
    if let Some(cwd) = &a.cwd {
        v["cwd"] = serde_json::json!(cwd);
    }
    if !a.env.is_empty() {
        let mut env: Vec<String> = base.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        v["env"] = serde_json::json!(env);
    }
    if let Some(user) = &a.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (
                u.parse::<u32>()
                    .map_err(|_| anyhow!("--user: {user:?} is not uid[:gid]"))?,
                Some(
                    g.parse::<u32>()
                        .map_err(|_| anyhow!("--user: {user:?} is not uid[:gid]"))?,
                ),
            ),
            None => (
                user.parse::<u32>()
                    .map_err(|_| anyhow!("--user: {user:?} is not uid[:gid]"))?,
                None,
            ),
        };
        v["user"]["uid"] = serde_json::json!(uid);
        if let Some(g) = gid {
            v["user"]["gid"] = serde_json::json!(g);
        }
    }
    if !a.additional_gids.is_empty() {
        v["user"]["additionalGids"] = serde_json::json!(a.additional_gids);
    }
    if !a.cap.is_empty() {
        // As runc: --cap never touches the inheritable set, and raises ambient capabilities
        // only where the config has an inheritable set (ambient ones need it).
        let has_inheritable = v["capabilities"]
            .get("inheritable")
            .is_some_and(|i| !i.is_null());
        let sets: &[&str] = if has_inheritable {
            &["bounding", "effective", "permitted", "ambient"]
        } else {
            &["bounding", "effective", "permitted"]
        };
        for set in sets {
            let list = v["capabilities"][set]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut names: Vec<serde_json::Value> = list;
            for c in &a.cap {
                if !names.iter().any(|n| n == c) {
                    names.push(serde_json::json!(c));
                }
            }
            v["capabilities"][*set] = serde_json::Value::Array(names);
        }
    }
    if a.no_new_privs {
        v["noNewPrivileges"] = serde_json::json!(true);
    }
    if let Some(p) = &a.apparmor {
        v["apparmorProfile"] = serde_json::json!(p);
    }
    if let Some(l) = &a.process_label {
        v["selinuxLabel"] = serde_json::json!(l);
    }
    serde_json::from_value(v).context("building the process")
}
