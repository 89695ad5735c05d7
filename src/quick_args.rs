//! The command lines engines send most (`create`, `run`, `start`, `state`, `kill` and
//! `delete`, after runc's global flags), read without clap. Building clap's parser and
//! matching with it costs every rrun process ~65 µs, most of it clap's code faulting in
//! (docs/performance.md), and a container's life takes three to five rrun processes.
//!
//! Only a list read here whole is taken, and read as clap reads it: the test
//! `reads_what_clap_reads` compares the two on thousands of lists. Anything else goes to
//! clap, with its errors and help: a flag given twice, `--`, `-h`, a value that is empty or
//! starts with '-', a short flag with its value attached, a flag this reader doesn't know.

use crate::cli::{
    Cli, Command, CreateArgs, DeleteArgs, Global, IdArg, KillArgs, LogFormat, RunArgs,
};
use std::ffi::OsString;
use std::path::PathBuf;

/// The command line `args` (without the program's name) as clap would read it, or None to
/// leave it to clap.
pub fn read(args: &[OsString]) -> Option<Cli> {
    let mut words = Words {
        args: args.iter(),
        seen: Vec::new(),
    };
    let mut global = Global {
        root: "/run/rrun".into(),
        root_given: false,
        root_in_xdg_runtime_dir: false,
        log: None,
        log_format: LogFormat::Text,
        debug: false,
        systemd_cgroup: false,
        rootless: "auto".into(),
        criu: "criu".into(),
    };
    let name = loop {
        let (flag, inline) = words.next_flag()?;
        match flag {
            Flag::Long("root") => {
                global.root = words.value(inline)?.into();
                global.root_given = true;
            }
            Flag::Long("log") => global.log = Some(words.value(inline)?.into()),
            Flag::Long("log-format") => {
                global.log_format = match words.value(inline)? {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return None,
                }
            }
            Flag::Long("rootless") => {
                let v = words.value(inline)?;
                if !["auto", "true", "false"].contains(&v) {
                    return None;
                }
                global.rootless = v.into();
            }
            Flag::Long("criu") => global.criu = words.value(inline)?.into(),
            Flag::Long("debug") => global.debug = words.switch(inline)?,
            Flag::Long("systemd-cgroup") => global.systemd_cgroup = words.switch(inline)?,
            Flag::Word(name) => break name,
            _ => return None,
        }
    };
    let command = match name {
        "create" => Command::Create(create_args(&mut words, |_, _, _| None)?),
        "run" => {
            let (mut detach, mut keep, mut no_subreaper) = (false, false, false);
            let create = create_args(&mut words, |words, flag, inline| {
                let set = match flag {
                    Flag::Long("detach") => &mut detach,
                    Flag::Long("keep") => &mut keep,
                    Flag::Long("no-subreaper") => &mut no_subreaper,
                    _ => return None,
                };
                *set = words.switch(inline)?;
                Some(())
            })?;
            Command::Run(RunArgs {
                create,
                detach,
                keep,
                no_subreaper,
            })
        }
        "start" | "state" => {
            let id = only_positionals(&mut words, |_, _, _| None)?;
            let [id] = <[String; 1]>::try_from(id).ok()?;
            let arg = IdArg { id };
            if name == "start" {
                Command::Start(arg)
            } else {
                Command::State(arg)
            }
        }
        "delete" => {
            let mut force = false;
            let ids = only_positionals(&mut words, |words, flag, inline| match flag {
                Flag::Long("force") => {
                    force = words.switch(inline)?;
                    Some(())
                }
                _ => None,
            })?;
            let [id] = <[String; 1]>::try_from(ids).ok()?;
            Command::Delete(DeleteArgs { id, force })
        }
        "kill" => {
            let mut all = false;
            let mut positionals = only_positionals(&mut words, |words, flag, inline| match flag {
                Flag::Long("all") => {
                    all = words.switch(inline)?;
                    Some(())
                }
                _ => None,
            })?;
            if positionals.is_empty() || positionals.len() > 2 {
                return None;
            }
            let signal = (positionals.len() == 2).then(|| positionals.remove(1));
            let id = positionals.remove(0);
            Command::Kill(KillArgs { id, signal, all })
        }
        _ => return None,
    };
    Some(Cli {
        global,
        version: false,
        command: Some(command),
    })
}

/// `create`'s flags and id, and `run`'s own flags through `more`.
fn create_args<'w>(
    words: &mut Words<'w>,
    mut more: impl FnMut(&mut Words<'w>, Flag<'w>, Option<&'w str>) -> Option<()>,
) -> Option<CreateArgs> {
    let mut bundle = PathBuf::from(".");
    let mut console_socket = None;
    let mut pidfd_socket = None;
    let mut pid_file = None;
    let (mut no_pivot, mut no_new_keyring) = (false, false);
    let mut preserve_fds = 0;
    let ids = only_positionals(words, |words, flag, inline| {
        match flag {
            Flag::Long("bundle") => bundle = words.value(inline)?.into(),
            Flag::Long("console-socket") => console_socket = Some(words.value(inline)?.into()),
            Flag::Long("pidfd-socket") => pidfd_socket = Some(words.value(inline)?.into()),
            Flag::Long("pid-file") => pid_file = Some(words.value(inline)?.into()),
            Flag::Long("no-pivot") => no_pivot = words.switch(inline)?,
            Flag::Long("no-new-keyring") => no_new_keyring = words.switch(inline)?,
            Flag::Long("preserve-fds") => {
                let v = words.value(inline)?;
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                preserve_fds = v.parse().ok()?;
            }
            _ => return more(words, flag, inline),
        }
        Some(())
    })?;
    let [id] = <[String; 1]>::try_from(ids).ok()?;
    Some(CreateArgs {
        id,
        bundle,
        console_socket,
        pidfd_socket,
        pid_file,
        no_pivot,
        no_new_keyring,
        preserve_fds,
    })
}

/// The rest of the list: each flag through `own` (a command's own flags: None if it
/// refuses one), the plain words returned.
fn only_positionals<'w>(
    words: &mut Words<'w>,
    mut own: impl FnMut(&mut Words<'w>, Flag<'w>, Option<&'w str>) -> Option<()>,
) -> Option<Vec<String>> {
    let mut positionals = Vec::new();
    while let Some(next) = words.try_next_flag() {
        match next? {
            (Flag::Word(w), _) => positionals.push(w.to_string()),
            (flag, inline) => own(words, flag, inline)?,
        }
    }
    Some(positionals)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag<'w> {
    /// `--name`, or the short flag standing for it.
    Long(&'w str),
    Word(&'w str),
}

struct Words<'w> {
    args: std::slice::Iter<'w, OsString>,
    /// The flags met so far: a second of any is left to clap.
    seen: Vec<Flag<'w>>,
}

impl<'w> Words<'w> {
    /// The next word as a flag (with its `=value`) or a plain word; None at the end or for
    /// anything not read here.
    fn next_flag(&mut self) -> Option<(Flag<'w>, Option<&'w str>)> {
        self.try_next_flag()?
    }

    /// As [`Words::next_flag`], telling the end (None) from a word not read here
    /// (Some(None)).
    fn try_next_flag(&mut self) -> Option<Option<(Flag<'w>, Option<&'w str>)>> {
        let word = self.args.next()?;
        Some(self.classify(word))
    }

    fn classify(&mut self, word: &'w OsString) -> Option<(Flag<'w>, Option<&'w str>)> {
        let word = word.to_str().filter(|w| !w.is_empty())?;
        let (flag, inline) = if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            if name.is_empty() || name == "help" || name == "version" {
                return None;
            }
            (Flag::Long(name), inline)
        } else if let Some(short) = word.strip_prefix('-') {
            // The short flags these commands have, as the long ones they stand for: one
            // given both ways is given twice.
            let long = match short {
                "b" => "bundle",
                "d" => "detach",
                "f" => "force",
                "a" => "all",
                _ => return None,
            };
            (Flag::Long(long), None)
        } else {
            return Some((Flag::Word(word), None));
        };
        if self.seen.contains(&flag) {
            return None;
        }
        self.seen.push(flag);
        Some((flag, inline))
    }

    /// A flag's value: after its '=', or the next word; never empty, never starting with '-'.
    fn value(&mut self, inline: Option<&'w str>) -> Option<&'w str> {
        let v = match inline {
            Some(v) => v,
            None => self.args.next()?.to_str()?,
        };
        (!v.is_empty() && !v.starts_with('-')).then_some(v)
    }

    /// A switch: given, with no value attached.
    fn switch(&mut self, inline: Option<&'w str>) -> Option<bool> {
        inline.is_none().then_some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_clap(args: &[&str]) -> Option<String> {
        let argv: Vec<OsString> = std::iter::once("rrun")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        crate::cli::read_with_clap(&argv)
            .ok()
            .map(|c| format!("{c:?}"))
    }

    fn quick(args: &[&str]) -> Option<String> {
        let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        read(&argv).map(|c| format!("{c:?}"))
    }

    /// A small deterministic generator: the same lists on every run.
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    const GLOBALS: [&str; 8] = [
        "--root",
        "--log",
        "--log-format",
        "--rootless",
        "--criu",
        "--debug",
        "--systemd-cgroup",
        "-v",
    ];
    const VALUES: [&str; 10] = [
        "/run/x", "json", "text", "auto", "true", "false", "criu", "", "-x", "b c",
    ];
    const FLAGS: [&str; 20] = [
        "--bundle",
        "-b",
        "--console-socket",
        "--pidfd-socket",
        "--pid-file",
        "--no-pivot",
        "--no-new-keyring",
        "--preserve-fds",
        "--detach",
        "-d",
        "--keep",
        "--no-subreaper",
        "--force",
        "-f",
        "--all",
        "-a",
        "--nope",
        "-x",
        "-k",
        "-p",
    ];
    const WORDS: [&str; 12] = [
        "c1", "KILL", "9", "x=y", "-", "--", "-h", "--help", "-bx", "-df", "3", "",
    ];

    /// A list of the shapes engines send: known flags with fitting values, in any order
    /// and either form, now and then one too many or too few.
    fn well_formed(g: &mut Lcg) -> Vec<String> {
        let with_value = |g: &mut Lcg, list: &mut Vec<String>, flag: &str, value: &str| {
            if g.below(2) == 0 || flag.len() == 2 {
                list.push(flag.to_string());
                list.push(value.to_string());
            } else {
                list.push(format!("{flag}={value}"));
            }
        };
        let mut list = Vec::new();
        let globals: [(&str, &[&str]); 7] = [
            ("--root", &["/run/r", "r oot"]),
            ("--log", &["/l.json"]),
            ("--log-format", &["text", "json", "JSON"]),
            ("--rootless", &["auto", "true", "false", "yes"]),
            ("--criu", &["/usr/sbin/criu"]),
            ("--debug", &[]),
            ("--systemd-cgroup", &[]),
        ];
        for _ in 0..g.below(5) {
            let (flag, values) = globals[g.below(globals.len())];
            if values.is_empty() {
                list.push(flag.to_string());
            } else {
                let value = g.pick(values);
                with_value(g, &mut list, flag, value);
            }
        }
        let command = g.pick(&["create", "run", "start", "state", "kill", "delete"]);
        list.push(command.to_string());
        let own: &[(&str, &[&str])] = match command {
            "create" | "run" => &[
                ("--bundle", &["/b", "b"]),
                ("-b", &["/b"]),
                ("--console-socket", &["/s"]),
                ("--pid-file", &["/p"]),
                ("--no-pivot", &[]),
                ("--no-new-keyring", &[]),
                ("--preserve-fds", &["0", "3", "+1", "99999999999"]),
                ("--detach", &[]),
                ("-d", &[]),
                ("--keep", &[]),
                ("--no-subreaper", &[]),
            ],
            "delete" => &[("--force", &[]), ("-f", &[])],
            "kill" => &[("--all", &[]), ("-a", &[])],
            _ => &[],
        };
        let mut words: Vec<Vec<String>> = Vec::new();
        for _ in 0..g.below(own.len() + 1) {
            let (flag, values) = own[g.below(own.len())];
            let mut w = Vec::new();
            if values.is_empty() {
                w.push(flag.to_string());
            } else {
                let value = g.pick(values);
                with_value(g, &mut w, flag, value);
            }
            words.push(w);
        }
        let positionals = match (command, g.below(8)) {
            (_, 0) => 0,
            ("kill", 1..=3) => 2,
            (_, 1) => 2,
            _ => 1,
        };
        for p in ["c1", "KILL"].iter().take(positionals) {
            let at = g.below(words.len() + 1);
            words.insert(at, vec![p.to_string()]);
        }
        // Now and then one word of another kind: a flag of another command, an unknown
        // one, a stray word.
        if g.below(3) == 0 {
            let at = g.below(words.len() + 1);
            let odd = if g.below(2) == 0 {
                g.pick(&FLAGS)
            } else {
                g.pick(&WORDS)
            };
            words.insert(at, vec![odd.to_string()]);
        }
        list.extend(words.into_iter().flatten());
        list
    }

    fn one_list(g: &mut Lcg) -> Vec<String> {
        if g.below(2) == 0 {
            return well_formed(g);
        }
        let mut list = Vec::new();
        for _ in 0..g.below(4) {
            let flag = g.pick(&GLOBALS);
            match g.below(3) {
                0 => list.push(flag.to_string()),
                1 => {
                    list.push(flag.to_string());
                    list.push(g.pick(&VALUES).to_string());
                }
                _ => list.push(format!("{flag}={}", g.pick(&VALUES))),
            }
        }
        list.push(
            g.pick(&[
                "create", "run", "start", "state", "kill", "delete", "list", "runx",
            ])
            .into(),
        );
        for _ in 0..g.below(6) {
            match g.below(4) {
                0 => list.push(g.pick(&WORDS).into()),
                1 => list.push(g.pick(&FLAGS).into()),
                2 => {
                    list.push(g.pick(&FLAGS).into());
                    list.push(g.pick(&VALUES).into());
                }
                _ => list.push(format!("{}={}", g.pick(&FLAGS), g.pick(&VALUES))),
            }
        }
        list
    }

    #[test]
    fn reads_what_clap_reads() {
        let mut g = Lcg(19);
        let mut taken = 0;
        for _ in 0..20_000 {
            let list = one_list(&mut g);
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            if let Some(quick) = quick(&list) {
                taken += 1;
                assert_eq!(Some(quick), with_clap(&list), "{list:?}");
            }
        }
        // Not a test of nothing: a good share of the lists are read here.
        assert!(taken > 1000, "only {taken} lists read without clap");
    }

    #[test]
    fn the_engines_command_lines_are_read_without_clap() {
        let shim = "--root /run/containerd/runc/k8s.io --log /run/b/log.json --log-format json";
        let lines = [
            // containerd's runc shim
            format!("{shim} create --bundle /run/b --pid-file /run/b/init.pid c1"),
            format!("{shim} start c1"),
            format!("{shim} kill c1 9"),
            format!("{shim} kill --all c1 SIGKILL"),
            format!("{shim} delete --force c1"),
            // Podman (conmon)
            "--systemd-cgroup --root=/run/runc create --bundle /b --pid-file /p \
             --no-new-keyring --console-socket /s c1"
                .to_string(),
            "--root /r state c1".to_string(),
            // by hand
            "run mybundle".to_string(),
            "run -d -b /b c1".to_string(),
        ];
        for line in &lines {
            let line: Vec<&str> = line.split_ascii_whitespace().collect();
            let quick = quick(&line);
            assert!(quick.is_some(), "{line:?}");
            assert_eq!(quick, with_clap(&line), "{line:?}");
        }
    }
}
