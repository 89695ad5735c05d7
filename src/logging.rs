//! runc-compatible logging: `--log FILE`, `--log-format text|json`, `--debug`.
//! Engines (containerd's go-runc, Podman) read the last `error` entry of the log file to
//! show the user why a command failed, so errors always go both to stderr and the log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up the global logger. A log file that cannot be opened is an error, as in runc
/// (the command does nothing then).
pub fn init(path: Option<&str>, format: Format, debug: bool) -> Result<(), String> {
    let file = match path.filter(|p| !p.is_empty()) {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("--log: opening {p}: {e}"))?,
        ),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
    Ok(())
}

pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

type Relay = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Set in the container's init (and exec's child): their lines go to the rrun that made
/// them, which writes them where its own go.
static RELAY: OnceLock<Relay> = OnceLock::new();

/// Cleared once the other end of the relay stops reading (the container is created).
static RELAYING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// The relay's reader has moved on: from now on lines are written here again.
pub fn stop_relaying() {
    RELAYING.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// From now on this process hands its lines to `relay`; one it could not hand on (the
/// other end has gone) is written here instead.
pub fn relay_through(relay: impl Fn(&str, &str) -> bool + Send + Sync + 'static) {
    let _ = RELAY.set(Box::new(relay));
}

/// A line relayed from a child: written as if it were this process's own.
pub fn relayed(level: &str, msg: &str) {
    match level {
        "debug" if !debug_enabled() => {}
        "error" | "warning" | "debug" | "info" => write(level, msg),
        _ => write("info", msg),
    }
}

/// Where a line goes, as with runc's logrus: to the log file when `--log` names one, else
/// to stderr, in the chosen format. An error is also printed plainly on stderr when a log
/// file takes the formatted line, as runc's `fatal` does, so a person still sees it.
fn write(level: &str, msg: &str) {
    let go_words = errnos_in_go_s_words(msg);
    let msg = go_words.as_deref().unwrap_or(msg);
    let relaying = RELAYING.load(std::sync::atomic::Ordering::Relaxed);
    if relaying && RELAY.get().is_some_and(|relay| relay(level, msg)) {
        return;
    }
    let time = rfc3339_now();
    let Some(logger) = LOGGER.get() else {
        eprint!("{}", format_entry(Format::Text, level, msg, &time));
        return;
    };
    match logger.file.as_ref() {
        Some(mut file) => {
            let _ = file.write_all(format_entry(logger.format, level, msg, &time).as_bytes());
            if level == "error" {
                eprintln!("{msg}");
            }
        }
        None => eprint!("{}", format_entry(logger.format, level, msg, &time)),
    }
}

/// An errno as runc (Go) words it ("device or resource busy"; see errno_words).
pub fn errno_in_go_s_words(code: i32) -> String {
    match crate::errno_words::go_words(code) {
        Some(words) => words.to_string(),
        None => format!("errno {code}"),
    }
}

/// A message with every errno Rust's io::Error wrote into it ("Resource busy (os error
/// 16)") in Go's words instead ("device or resource busy"); None where it has none.
fn errnos_in_go_s_words(msg: &str) -> Option<String> {
    if !msg.contains(" (os error ") {
        return None;
    }
    let mut out = msg.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find(" (os error ").map(|i| i + from) {
        let digits = &out[at + 11..];
        let end = digits.find(')').unwrap_or(digits.len());
        let Ok(code) = digits[..end].parse::<i32>() else {
            from = at + 11;
            continue;
        };
        // What io::Error wrote: its strerror text, then the code.
        let written = std::io::Error::from_raw_os_error(code).to_string();
        let start = (at + 11 + end + 1).saturating_sub(written.len());
        let go = errno_in_go_s_words(code);
        if out.get(start..at + 11 + end + 1) == Some(written.as_str()) {
            out.replace_range(start..at + 11 + end + 1, &go);
            from = start + go.len();
        } else {
            from = at + 11;
        }
    }
    Some(out)
}

/// One log line in logrus' text or JSON shape, as runc writes them.
pub fn format_entry(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({"level": level, "msg": msg, "time": time})
        ),
        Format::Text => format!(
            "time=\"{time}\" level={level} msg={}\n",
            serde_json::Value::from(msg)
        ),
    }
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

/// Debug lines' time has nanoseconds, so `--debug` shows where create's time goes.
pub fn debug(msg: &str) {
    if debug_enabled() {
        write("debug", msg);
    }
}

/// The current time as RFC 3339 with nanoseconds, UTC, e.g. `2026-11-24T19:08:40.123456789Z`.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's well-known algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_worded_as_go_words_them() {
        let busy = std::io::Error::from_raw_os_error(libc::EBUSY);
        let missing = std::io::Error::from_raw_os_error(libc::ENOENT);
        let msg = format!("adding pid 5: {busy}; then /x: {missing}");
        assert_eq!(
            errnos_in_go_s_words(&msg).unwrap(),
            "adding pid 5: device or resource busy; then /x: no such file or directory"
        );
        assert_eq!(errnos_in_go_s_words("nothing to do"), None);
        assert_eq!(
            errnos_in_go_s_words("odd (os error x) left").unwrap(),
            "odd (os error x) left"
        );
        assert_eq!(
            errno_in_go_s_words(libc::ELOOP),
            "too many levels of symbolic links"
        );
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_545_000, 0), "2026-11-24T18:30:00.000000000Z");
    }

    #[test]
    fn json_entry_has_level_msg_time() {
        let line = format_entry(Format::Json, "error", "boom \"x\"", "T");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["time"], "T");
    }

    #[test]
    fn text_entry_quotes_message() {
        assert_eq!(
            format_entry(Format::Text, "error", "a \"b\"", "T"),
            "time=\"T\" level=error msg=\"a \\\"b\\\"\"\n"
        );
    }
}
