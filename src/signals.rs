//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `9`.

use anyhow::{Result, bail};
use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        // 0 checks that the process exists, as kill(2) does.
        if (0..=libc::SIGRTMAX()).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s:?}");
    }
    let upper = s.to_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Ok(sig) = Signal::from_str(&name) {
        return Ok(sig as i32);
    }
    // Real-time signals: SIGRTMIN, SIGRTMIN+N, SIGRTMAX-N.
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let n = if rest.is_empty() {
            0
        } else {
            rest[1..].parse::<i32>().ok()?
        };
        let v = base + sign * n;
        (libc::SIGRTMIN()..=libc::SIGRTMAX())
            .contains(&v)
            .then_some(v)
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN")
        && (rest.is_empty() || rest.starts_with('+'))
        && let Some(v) = rt(libc::SIGRTMIN(), rest, 1)
    {
        return Ok(v);
    }
    if let Some(rest) = name.strip_prefix("SIGRTMAX")
        && (rest.is_empty() || rest.starts_with('-'))
        && let Some(v) = rt(libc::SIGRTMAX(), rest, -1)
    {
        return Ok(v);
    }
    bail!("unknown signal {s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("-1").is_err());
        assert!(parse_signal("999").is_err());
    }
}
