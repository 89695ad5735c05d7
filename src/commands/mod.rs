//! One thin file per subcommand: parse-level checks and output; the work is below them.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod run;
mod spec;
mod start;
mod state;
mod update;

use crate::cli::{Command, Global};
use anyhow::Result;

/// create, run and exec seal rrun (crate::selfexe) before they read anything where sealing
/// may re-execute rrun: the sealed process then parses the command line, opens the log and
/// notes the caller's fds again, so main calls this first of all, and none of that is done
/// twice. Where rrun can seal in place (root), create and run leave it to the container's
/// init, after the clone (container::create). The command is found by a scan of the
/// arguments; where the scan can't tell, or sealing fails here, the command's own call does
/// it later and reports what failed.
pub fn seal_before_parsing() {
    let args = crate::args::args_os().get(1..).unwrap_or_default();
    // Any directory apart from the binary's serves overlayfs's second layer (selfexe
    // picks another where this one won't do); the state root may not exist yet.
    let scratch = std::path::Path::new("/run");
    let _ = match crate::cli::subcommand_name(args) {
        Some("exec") => crate::selfexe::ensure_sealed(scratch),
        Some("create" | "run")
            if crate::rootless::euid_is_rootless() || !crate::selfexe::can_seal_in_place() =>
        {
            crate::selfexe::seal_unless_out_of_reach(scratch)
        }
        _ => Ok(()),
    };
}

/// The exit code of a command that failed: 1, as runc's, except `exec`, whose own failures
/// exit 255 in runc so that callers tell them from the exit code of the process itself.
pub fn failure_code(command: &Command) -> i32 {
    match command {
        Command::Exec(_) => 255,
        _ => 1,
    }
}

/// Runs one command; returns the process exit code.
pub fn dispatch(global: &Global, command: Command) -> Result<i32> {
    let store = crate::state::Store::new(&global.root);
    match command {
        Command::Create(a) => apart(|| create::run(&store, &a, global).map(|_| 0)),
        Command::Start(a) => apart(|| start::run(&store, &a.id).map(|_| 0)),
        Command::Run(a) => apart(|| run::run(&store, &a, global)),
        Command::State(a) => apart(|| state::run(&store, &a.id).map(|_| 0)),
        Command::Kill(a) => apart(|| kill::run(&store, &a).map(|_| 0)),
        Command::Delete(a) => apart(|| delete::run(&store, &a).map(|_| 0)),
        Command::List(a) => apart(|| list::run(&store, &a, global.root_given).map(|_| 0)),
        Command::Spec(a) => apart(|| spec::run(&a).map(|_| 0)),
        Command::Exec(a) => apart(|| exec::run(&store, &a)),
        Command::Features => apart(|| features::run(&global.criu).map(|_| 0)),
        Command::Pause(a) => apart(|| pause::run(&store, &a.id, true).map(|_| 0)),
        Command::Resume(a) => apart(|| pause::run(&store, &a.id, false).map(|_| 0)),
        Command::Ps(a) => apart(|| ps::run(&store, &a).map(|_| 0)),
        Command::Update(a) => apart(|| update::run(&store, &a).map(|_| 0)),
        Command::Events(a) => apart(|| events::run(&store, &a).map(|_| 0)),
        Command::Checkpoint(a) => apart(|| checkpoint::run(&store, &a, global).map(|_| 0)),
        Command::Restore(a) => apart(|| restore::run(&store, &a, global)),
    }
}

/// Runs one command in a frame of its own. With the commands' bodies inlined, `dispatch`
/// had a 16.7 KB stack frame above the running command's own: a `run` reached 18 pages of
/// stack instead of 14 and copied more of them after its clone, 12 page faults more
/// (docs/performance.md, 2026-12-05, afternoon).
#[inline(never)]
fn apart<R>(command: impl FnOnce() -> R) -> R {
    command()
}
