//! rrun: an OCI container runtime with runc's command line.
// rrun's `main` is the C one the C library's start code calls, not Rust's runtime start:
// see `main`.
#![no_main]

use rrun::{cli, commands, logging};

/// dlmalloc, locked only once a thread may exist (rrun::allocator says why). The binary
/// only: tests and fuzz targets keep the system's.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: rrun::allocator::Allocator = rrun::allocator::Allocator;

/// rrun's entry point, in place of Rust's runtime start, which reads /proc/self/maps and
/// maps a signal stack to name the thread in a stack overflow's message: about 0.13 ms of
/// CPU in every rrun process here (interleaved, 600 `rrun list` each), and a container's
/// life takes four or five of them. Of what that start does, rrun keeps what it relies on:
/// SIGPIPE ignored, fds 0-2 open, and the arguments (`rrun::args`: musl hands Rust's std
/// none without that start).
// SAFETY: the C library's start code calls `main` once, with argc and argv that it owns;
// with `no_main`, no other symbol of that name exists.
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: argv holds argc NUL-terminated strings, as C's start code passes them.
    rrun::args::record(unsafe { rrun::syscalls::c_arguments(argc, argv) });
    rrun::syscalls::ignore_sigpipe();
    rrun::syscalls::open_missing_stdio();
    run();
    0
}

fn run() {
    // A bug must still end in one line on stderr, never a backtrace in an engine's log.
    std::panic::set_hook(Box::new(|info| eprintln!("rrun: internal error: {info}")));
    commands::seal_before_parsing();
    let args = rrun::args::args_os();
    let parsed = match rrun::quick_args::read(args.get(1..).unwrap_or_default()) {
        Some(cli) => Ok(cli),
        None => cli::read_with_clap(args),
    };
    let parsed = parsed.map(|mut cli| {
        if !cli.global.root_given
            && let Some(root) = rrun::rootless::default_state_root()
        {
            cli.global.root = root.display().to_string();
            cli.global.root_in_xdg_runtime_dir = true;
        }
        cli
    });
    let cli = match parsed {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // runc's answer to an unknown command, exit code included.
            let topic = e.get(clap::error::ContextKind::InvalidSubcommand);
            let topic = topic.map(|t| t.to_string()).unwrap_or_default();
            logging::error(&format!("No help topic for '{topic}'"));
            std::process::exit(3);
        }
        Err(e) => {
            // Like runc, usage errors exit 1 (help and version exit 0).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let Some(command) = cli.command else {
        if cli.version {
            print!("{}", cli::version_text());
            std::process::exit(0);
        }
        let _ = cli::command().print_help();
        std::process::exit(1);
    };
    if matches!(command, cli::Command::Create(_) | cli::Command::Run(_)) {
        // Before the log file opens: the init closes what the caller left open.
        rrun::inherited_fds::note();
    }
    let format = match cli.global.log_format {
        cli::LogFormat::Text => logging::Format::Text,
        cli::LogFormat::Json => logging::Format::Json,
    };
    if let Err(e) = logging::init(cli.global.log.as_deref(), format, cli.global.debug) {
        logging::error(&e);
        std::process::exit(1);
    }
    // As runc, before any command: an ordinary user's state root exists, 0700 and sticky.
    if cli.global.root_in_xdg_runtime_dir
        && let Err(e) = rrun::rootless::make_user_state_root(std::path::Path::new(&cli.global.root))
    {
        logging::error(&format!("{e:#}"));
        std::process::exit(1);
    }
    let failure_code = commands::failure_code(&command);
    let code = match commands::dispatch(&cli.global, command) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            failure_code
        }
    };
    std::process::exit(code);
}
