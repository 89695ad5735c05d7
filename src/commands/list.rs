use crate::cli::{ListArgs, ListFormat};
use crate::container;
use crate::state::Store;
use anyhow::{Context, Result};

/// `root_given`: a root named by `--root` must exist; the default one may not yet.
pub fn run(store: &Store, a: &ListArgs, root_given: bool) -> Result<()> {
    if root_given {
        match std::fs::metadata(store.root_path()) {
            Ok(m) if m.is_dir() => {}
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!("list: {}: {e}", store.root_path().display())
            }
            _ => anyhow::bail!("list: {}: no such directory", store.root_path().display()),
        }
    }
    let mut states = Vec::new();
    for id in store.ids().context("list")? {
        // A container deleted while we list is simply not shown.
        if let Ok(c) = store.open(&id) {
            let mut s = container::oci_state(&c);
            // runc's list names the owner of the state directory.
            s.owner = owner_name(&c.dir);
            states.push(s);
        }
    }
    if a.quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match a.format {
        // runc prints `null` for no containers: engines parse that.
        ListFormat::Json if states.is_empty() => println!("null"),
        ListFormat::Json => println!("{}", serde_json::to_string(&states)?),
        ListFormat::Table => print!("{}", table(&states)),
    }
    Ok(())
}

/// runc's table: columns at least 12 wide, 3 spaces of padding.
fn table(states: &[container::OciState]) -> String {
    let mut rows = vec![
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec(),
    ];
    for s in states {
        rows.push(vec![
            s.id.clone(),
            s.pid.to_string(),
            s.status.clone(),
            s.bundle.clone(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i == 5 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = (widths[i] + 3).max(12)));
            }
        }
        out.push('\n');
    }
    out
}

fn owner_name(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| format!("#{uid}"))
}
