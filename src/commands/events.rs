use crate::cli::EventsArgs;
use crate::container::{self, Status};
use crate::state::Store;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use std::time::Duration;

/// `events`: `--stats` prints one stats event; otherwise stats every `--interval` and an
/// `oom` event whenever the kernel OOM-kills in the container, until it stops.
pub fn run(store: &Store, a: &EventsArgs) -> Result<()> {
    let interval = parse_interval(&a.interval).context("events: --interval")?;
    let c = store.open(&a.id).context("events")?;
    if container::status(&c) == Status::Stopped {
        // runc's words.
        bail!("events: container with id {} is not running", a.id);
    }
    let record = c.record.clone();
    drop(c);
    let driver = container::cgroup_of(&record);
    let stats_event = || -> Result<String> {
        Ok(json!({"type": "stats", "id": a.id, "data": driver.stats()?}).to_string())
    };
    if a.stats {
        println!("{}", stats_event()?);
        return Ok(());
    }
    let mut ooms = driver.oom_count();
    let mut next_stats = std::time::Instant::now();
    while container::init_alive(&record) {
        let now_ooms = driver.oom_count();
        if now_ooms > ooms {
            println!("{}", json!({"type": "oom", "id": a.id}));
            ooms = now_ooms;
        }
        if std::time::Instant::now() >= next_stats {
            println!("{}", stats_event()?);
            next_stats += interval;
        }
        std::thread::sleep(Duration::from_millis(100).min(interval));
    }
    Ok(())
}

/// Go-style durations as runc takes them: 5s, 500ms, 1m, 1.5s.
pub fn parse_interval(s: &str) -> Result<Duration> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .ok_or_else(|| anyhow!("invalid duration {s:?}"))?;
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid duration {s:?}"),
    };
    if secs <= 0.0 {
        bail!("duration must be greater than 0, got {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("soon").is_err());
    }
}
