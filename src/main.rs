//! rrun: an OCI container runtime with runc's command line.

use clap::Parser;
use rrun::{cli, commands, logging};

fn main() {
    // A bug must still end in one line on stderr, never a backtrace in an engine's log.
    std::panic::set_hook(Box::new(|info| eprintln!("rrun: internal error: {info}")));
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
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
        let _ = <cli::Cli as clap::CommandFactory>::command().print_help();
        std::process::exit(1);
    };
    let format = match cli.global.log_format {
        cli::LogFormat::Text => logging::Format::Text,
        cli::LogFormat::Json => logging::Format::Json,
    };
    logging::init(cli.global.log.as_deref(), format, cli.global.debug);
    let code = match commands::dispatch(&cli.global, command) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            1
        }
    };
    std::process::exit(code);
}
