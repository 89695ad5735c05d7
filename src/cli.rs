//! The command line, flag for flag runc's, so engines can call rrun exactly as they call runc.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "rrun",
    disable_version_flag = true,
    about = "rrun: an OCI container runtime, a drop-in replacement for runc",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `rrun --version`, shaped like runc's: engines and scripts read the first line's third
/// word as the version of runc whose behaviour they get (rrun follows runc 1.1.5's, the
/// one Debian ships, and what later ones added where it has it), then commit and spec.
pub fn version_text() -> String {
    format!(
        "runc version 1.1.5 (rrun {version}, a drop-in replacement)\ncommit: rrun-{version}\nspec: 1.2.0\n",
        version = env!("CARGO_PKG_VERSION")
    )
}

/// The subcommand an argument list (without the program's name) names, found without
/// parsing it: global flags and their values are passed over. None where the list asks for
/// help or has an argument this scan doesn't know; clap reads such lists, not this.
pub fn subcommand_name(args: &[std::ffi::OsString]) -> Option<&str> {
    const TAKES_A_VALUE: [&str; 5] = ["--root", "--log", "--log-format", "--rootless", "--criu"];
    const SWITCHES: [&str; 2] = ["--debug", "--systemd-cgroup"];
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let arg = arg.to_str()?;
        let is_flag_with_its_value = TAKES_A_VALUE
            .iter()
            .any(|f| arg.strip_prefix(f).is_some_and(|v| v.starts_with('=')));
        if TAKES_A_VALUE.contains(&arg) {
            args.next()?;
        } else if !SWITCHES.contains(&arg) && !is_flag_with_its_value {
            if arg.starts_with('-') {
                return None;
            }
            let asks_for_help = args.any(|a| a == "-h" || a == "--help");
            return (!asks_for_help).then_some(arg);
        }
    }
    None
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Root directory for storage of container state (this should be located in tmpfs)
    /// [default: /run/rrun, or $XDG_RUNTIME_DIR/rrun for an ordinary user]
    #[arg(long, default_value = "/run/rrun", hide_default_value = true)]
    pub root: String,
    /// `--root` was given (runc's `list` fails on a missing root only then).
    #[arg(skip)]
    pub root_given: bool,
    /// The root is `$XDG_RUNTIME_DIR/rrun`, the default of an ordinary user.
    #[arg(skip)]
    pub root_in_xdg_runtime_dir: bool,
    /// Set the log file to write rrun logs to (default is stderr only)
    #[arg(long)]
    pub log: Option<String>,
    /// Set the log format
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Enable debug logging
    #[arg(long)]
    pub debug: bool,
    /// Use systemd for cgroups (cgroupsPath of the form slice:prefix:name)
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Ignore cgroup permission errors: true, false or auto
    #[arg(long, default_value = "auto", value_parser = ["auto", "true", "false"])]
    pub rootless: String,
    /// Path to the criu binary used for checkpoint and restore
    #[arg(long, default_value = "criu")]
    pub criu: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
// Each command's arguments are built only when it is the one run: building them all took
// a third of a millisecond of every rrun process.
#[command(defer = true)]
pub enum Command {
    /// Create a container
    Create(CreateArgs),
    /// Start a created container
    Start(IdArg),
    /// Create and start a container
    Run(RunArgs),
    /// Output the state of a container
    State(IdArg),
    /// Send a signal to the container's init process
    Kill(KillArgs),
    /// Delete a container and everything it holds
    Delete(DeleteArgs),
    /// List containers started by rrun with the given root
    #[command(alias = "ls")]
    List(ListArgs),
    /// Create a new specification file (config.json)
    Spec(SpecArgs),
    /// Run a new process inside a running container
    Exec(ExecArgs),
    /// Show what rrun supports (the OCI runtime-spec features document)
    Features,
    /// Suspend all processes of a container
    Pause(IdArg),
    /// Resume all processes of a paused container
    Resume(IdArg),
    /// List the processes of a container (extra arguments go to ps)
    Ps(PsArgs),
    /// Update the resource limits of a running container
    Update(UpdateArgs),
    /// Print container statistics and events (OOM) as JSON
    Events(EventsArgs),
    /// Checkpoint a running container
    Checkpoint(CheckpointArgs),
    /// Restore a container from a previous checkpoint
    Restore(RestoreArgs),
}

// The flags runc's `checkpoint` and `restore` share (a `//` comment: a doc comment would
// become both commands' help title).
#[derive(Args, Debug)]
pub struct CriuFlags {
    /// Path to the criu image files (default: ./checkpoint)
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Path for saving work files and logs
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// cgroups mode: soft|full|strict|ignore (default: soft)
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but don't restore its properties
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

// runc's `checkpoint` flags.
#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// The container id
    pub id: String,
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path for previous criu image files in pre-dump
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Skip in-flight tcp connections
    #[arg(long = "tcp-skip-in-flight")]
    pub tcp_skip_in_flight: bool,
    /// Allow one to link unlinked files back when possible
    #[arg(long = "link-remap")]
    pub link_remap: bool,
    /// criu writes \0 to this FD once lazy-pages is ready
    #[arg(long = "status-fd", default_value_t = -1, allow_hyphen_values = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of the page server
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Dump the container's memory only, leave the container running after this
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
}

// runc's `restore` flags.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The container id
    pub id: String,
    /// Path to an AF_UNIX socket which will receive the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to the root of the bundle directory
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Do not use pivot_root to jail the process inside the rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// An LSM profile to use during restore, as TYPE:NAME
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// An LSM mount context to use during restore
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
}

/// Help in runc's (urfave/cli's) layout, which scripts and runc's own tests read: a NAME
/// section first, `<binary> <command> - <about>` on the second line.
const ROOT_HELP: &str = "NAME:
   {bin} - a drop-in for runc - Open Container Initiative runtime

{about}

USAGE:
   {usage}

COMMANDS:
{subcommands}

GLOBAL OPTIONS:
{options}
";

/// A subcommand's help: `{binary} {command}` is spelled out since clap's own `{bin}`
/// joins them with a dash.
fn command_help(binary: &str, name: &str) -> String {
    format!(
        "NAME:\n   {binary} {name} - {{about}}\n\nUSAGE:\n   {{usage}}\n\nARGUMENTS:\n{{positionals}}\n\nOPTIONS:\n{{options}}\n"
    )
}

/// The command line `args` (the program's name first) read by clap: every list, with its
/// errors and help ([`crate::quick_args`] reads the common ones faster). `root_given`
/// says whether `--root` was on it.
pub fn read_with_clap(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    let m = command_for(args).try_get_matches_from(args)?;
    let mut cli = <Cli as clap::FromArgMatches>::from_arg_matches(&m)?;
    cli.global.root_given = m.value_source("root") == Some(clap::parser::ValueSource::CommandLine);
    Ok(cli)
}

/// The command line with runc's help layout on every command.
pub fn command() -> clap::Command {
    command_for(crate::args::args_os())
}

/// [`command`] for the list `args` (the program's name first), which decides whose help
/// templates are made.
fn command_for(args: &[std::ffi::OsString]) -> clap::Command {
    let binary = args
        .first()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "rrun".to_string());
    let root = <Cli as clap::CommandFactory>::command().help_template(ROOT_HELP);
    // A command line that names its command and asks for no help shows no help template
    // but maybe that command's (in an error): the others' are not made. A name that is no
    // command's is clap's to refuse, as runc does ("No help topic").
    let args = args.get(1..).unwrap_or_default();
    let named = subcommand_name(args).and_then(|name| root.find_subcommand(name));
    let names: Vec<String> = match named {
        Some(command) => vec![command.get_name().to_string()],
        None => root
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect(),
    };
    names.into_iter().fold(root, |root, name| {
        let template = command_help(&binary, &name);
        root.mut_subcommand(name, |c| c.help_template(template))
    })
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// The container id
    pub id: String,
    /// Select one of: table or json
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Arguments for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The container id
    pub id: String,
    /// Print the container's statistics once and exit
    #[arg(long)]
    pub stats: bool,
    /// Interval between statistics, e.g. 5s, 500ms
    #[arg(long, default_value = "5s")]
    pub interval: String,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The container id
    pub id: String,
    /// A JSON file with linux.resources to apply ("-" for stdin); other flags are ignored
    #[arg(short = 'r', long = "resources")]
    pub resources: Option<String>,
    /// Memory limit (in bytes, or with a k/m/g suffix)
    #[arg(short = 'm', long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Total memory plus swap; -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory reservation (soft limit)
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Obsolete (kernel memory settings are ignored, as in runc)
    #[arg(long = "kernel-memory", hide = true, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Obsolete (kernel memory settings are ignored, as in runc)
    #[arg(long = "kernel-memory-tcp", hide = true, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU CFS burst limit in microseconds
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// SCHED_IDLE for the cgroup: 0 default behaviour, 1 SCHED_IDLE
    #[arg(long = "cpu-idle", allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// CPU CFS quota in microseconds
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids; -1 for unlimited
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Intel RDT L3 cache schema (needs resctrl with CAT)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (needs resctrl with MBA)
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// The container id
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// The container id
    pub id: String,
    /// Path to the root of the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the init
    /// process
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root to jail the process inside the rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// The container id
    pub id: String,
    /// Signal name or number (default SIGTERM)
    pub signal: Option<String>,
    /// Send the signal to all processes in the container
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The container id
    pub id: String,
    /// Forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Select one of: table or json
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Display only container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Path to the root of the bundle directory
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Generate a configuration for a rootless container
    #[arg(long = "rootless", id = "spec_rootless")]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A process.json describing the process (instead of the command line and flags)
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Path to an AF_UNIX socket which will receive the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Detach from the process: return once it runs
    #[arg(short, long)]
    pub detach: bool,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the
    /// exec'd process
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set an environment variable (KEY=value; repeatable)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids (repeatable)
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding set of the process (repeatable)
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Pass N additional file descriptors to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Allow exec in a paused container (the process runs once it is resumed)
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run the process in a sub-cgroup of the container: PATH (cgroup v2), or
    /// CONTROLLER:PATH (repeatable, cgroup v1)
    #[arg(long)]
    pub cgroup: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::subcommand_name;

    fn name_in(line: &str) -> Option<String> {
        let args: Vec<std::ffi::OsString> = line.split_whitespace().map(Into::into).collect();
        subcommand_name(&args).map(str::to_string)
    }

    #[test]
    fn the_scan_finds_the_command_behind_global_flags_and_their_values() {
        assert_eq!(name_in("run c1").as_deref(), Some("run"));
        assert_eq!(
            name_in("--root /run/x --log run --log-format json exec c1 sh").as_deref(),
            Some("exec")
        );
        assert_eq!(
            name_in("--debug --systemd-cgroup --root=/r --criu=/c create --bundle b c1").as_deref(),
            Some("create")
        );
        // A flag's value that is a command's name is no command.
        assert_eq!(name_in("--root create state c1").as_deref(), Some("state"));
    }

    #[test]
    fn the_scan_leaves_what_it_cannot_read_to_clap() {
        assert_eq!(name_in(""), None);
        assert_eq!(name_in("--root"), None);
        assert_eq!(name_in("--version"), None);
        assert_eq!(name_in("--unknown run c1"), None);
        assert_eq!(name_in("-root /x run c1"), None);
        assert_eq!(name_in("run --help"), None);
        assert_eq!(name_in("exec c1 ls -h"), None);
    }
}
