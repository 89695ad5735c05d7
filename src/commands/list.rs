use crate::cli::{ListArgs, ListFormat};
use crate::container;
use crate::state::Store;
use anyhow::{Context, Result};

pub fn run(store: &Store, a: &ListArgs) -> Result<()> {
    let mut states = Vec::new();
    for id in store.ids().context("list")? {
        // A container deleted while we list is simply not shown.
        if let Ok(c) = store.open(&id) {
            states.push(container::oci_state(&c));
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
