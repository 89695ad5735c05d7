use crate::cli::{ListFormat, PsArgs};
use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, anyhow, bail};

/// `ps`: the container's pids, as JSON or as the lines of the host's `ps` that are theirs.
pub fn run(store: &Store, a: &PsArgs) -> Result<()> {
    let c = store.open(&a.id).context("ps")?;
    // As runc: a stopped container has no processes, which is no error (the header only).
    let pids = if container::status(&c) == Status::Stopped {
        container::processes(&c.record).unwrap_or_default()
    } else {
        container::processes(&c.record).context("ps")?
    };
    if a.format == ListFormat::Json {
        if !a.ps_args.is_empty() {
            bail!("ps: extra arguments can't be used with --format json");
        }
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| anyhow!("ps: running ps: {e}"))?;
    if !out.status.success() {
        bail!(
            "ps: ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    print!(
        "{}",
        filter_ps_output(&String::from_utf8_lossy(&out.stdout), &pids)?
    );
    Ok(())
}

/// The header and the lines whose PID column is one of `pids`.
pub fn filter_ps_output(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| anyhow!("ps: no output"))?;
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow!("ps: no PID column in the output of ps"))?;
    let mut out = format!("{header}\n");
    for line in lines {
        if line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_header_and_container_lines() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:00 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 1\n";
        assert_eq!(
            super::filter_ps_output(text, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 1\n"
        );
    }
}
