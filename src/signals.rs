//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `9`.

use anyhow::{Result, bail};
use nix::sys::signal::Signal;
use std::str::FromStr;

/// The first and last real-time signal as runc names them (Go's numbering, and glibc's):
/// the kernel's are 32 to 64, and the C libraries keep the first few for their threads
/// and start counting after them, glibc at 34 and musl at 35. rrun's names don't depend
/// on the C library it is built with.
pub const SIGRTMIN: i32 = 34;
pub const SIGRTMAX: i32 = 64;

/// What Go's syscall package (and so runc, in "signal: ..." of a process a signal ended)
/// calls signal `sig`; "signal N" for one it does not name, as Go.
pub fn go_words(sig: i32) -> String {
    const WORDS: [&str; 31] = [
        "hangup",
        "interrupt",
        "quit",
        "illegal instruction",
        "trace/breakpoint trap",
        "aborted",
        "bus error",
        "floating point exception",
        "killed",
        "user defined signal 1",
        "segmentation fault",
        "user defined signal 2",
        "broken pipe",
        "alarm clock",
        "terminated",
        "stack fault",
        "child exited",
        "continued",
        "stopped (signal)",
        "stopped",
        "stopped (tty input)",
        "stopped (tty output)",
        "urgent I/O condition",
        "CPU time limit exceeded",
        "file size limit exceeded",
        "virtual timer expired",
        "profiling timer expired",
        "window changed",
        "I/O possible",
        "power failure",
        "bad system call",
    ];
    usize::try_from(sig)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| WORDS.get(i))
        .map_or_else(|| format!("signal {sig}"), |w| w.to_string())
}

/// The signals that end a Go program catching them without a use for them, and how: runc's
/// init, which is one, waits for `start` that way, so a created runc container stops on
/// any of these and on no other (checked against runc 1.1.5, signal by signal; engines
/// stop a created container with SIGTERM). HUP, INT and TERM end it as the signal where the
/// kernel lets them (Go raises it again with its default); the init of a pid namespace
/// outlives that, and Go then exits with status 2, as it does for the others (after a
/// traceback rrun has no use for). Go keeps HUP and INT ignored where its caller did.
pub const ENDING_A_GO_PROGRAM: [(Signal, bool); 12] = [
    (Signal::SIGHUP, true),
    (Signal::SIGINT, true),
    (Signal::SIGTERM, true),
    (Signal::SIGQUIT, false),
    (Signal::SIGILL, false),
    (Signal::SIGTRAP, false),
    (Signal::SIGABRT, false),
    (Signal::SIGBUS, false),
    (Signal::SIGFPE, false),
    (Signal::SIGSEGV, false),
    (Signal::SIGSTKFLT, false),
    (Signal::SIGSYS, false),
];

/// The exit status a Go program gives when a signal it could not die of ends it.
pub const GO_EXIT_STATUS: u8 = 2;

/// The signals a foreground rrun forwards to its container: every one but SIGKILL and
/// SIGSTOP, which can't be caught, and 32 and 33, which glibc keeps for its threads (its
/// sigfillset leaves them out; musl's leaves out 34 too, which runc forwards).
pub fn forwarded() -> nix::sys::signal::SigSet {
    crate::syscalls::sigset_of(
        (1..=SIGRTMAX).filter(|n| ![libc::SIGKILL, libc::SIGSTOP, 32, 33].contains(n)),
    )
}

/// The signals this process ignores, bit `n - 1` for signal `n` (the "SigIgn" line of
/// /proc/self/status); None where that can't be read. rrun installs no handler of its own
/// (handlers end at its exec), so these and SIGPIPE are all that differ from the defaults
/// in rrun and in an init cloned from it.
pub fn ignored_by_this_process() -> Option<u64> {
    sig_ign(&crate::procfs::read("/proc/self/status").ok()?)
}

fn sig_ign(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        // 0 checks that the process exists, as kill(2) does.
        if (0..=SIGRTMAX).contains(&n) {
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
        (SIGRTMIN..=SIGRTMAX).contains(&v).then_some(v)
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN")
        && (rest.is_empty() || rest.starts_with('+'))
        && let Some(v) = rt(SIGRTMIN, rest, 1)
    {
        return Ok(v);
    }
    if let Some(rest) = name.strip_prefix("SIGRTMAX")
        && (rest.is_empty() || rest.starts_with('-'))
        && let Some(v) = rt(SIGRTMAX, rest, -1)
    {
        return Ok(v);
    }
    bail!("unknown signal {s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_worded_as_go_words_them() {
        assert_eq!(go_words(31), "bad system call");
        assert_eq!(go_words(9), "killed");
        assert_eq!(go_words(1), "hangup");
        assert_eq!(go_words(40), "signal 40");
        assert_eq!(go_words(0), "signal 0");
    }

    #[test]
    fn the_ignored_signals_are_read_from_the_status_file() {
        let status =
            "Name:\trrun\nSigBlk:\t0000000000000000\nSigIgn:\t8000000000001003\nSigCgt:\t0\n";
        assert_eq!(sig_ign(status), Some(0x8000_0000_0000_1003));
        assert_eq!(sig_ign("Name:\trrun\n"), None);
        // This test process ignores nothing but what its harness left ignored; at least
        // the line is there and parses.
        assert!(ignored_by_this_process().is_some());
    }

    #[test]
    fn every_catchable_signal_is_forwarded_but_the_two_glibc_keeps() {
        let set = crate::syscalls::sigset_numbers(&forwarded());
        let missing: Vec<i32> = (1..=64).filter(|n| !set.contains(n)).collect();
        assert_eq!(missing, [libc::SIGKILL, libc::SIGSTOP, 32, 33]);
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        // runc's numbers, whichever C library rrun is built with.
        assert_eq!(parse_signal("RTMIN").unwrap(), 34);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), 35);
        assert_eq!(parse_signal("RTMAX-2").unwrap(), 62);
        assert_eq!(parse_signal("RTMAX").unwrap(), 64);
        assert!(parse_signal("RTMIN-1").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("-1").is_err());
        assert!(parse_signal("999").is_err());
    }
}
