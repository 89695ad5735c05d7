//! rrun's command line, as C's `main` received it.
//!
//! rrun starts from its own C `main` (src/main.rs), not from Rust's runtime start, and
//! musl, unlike glibc, hands Rust's standard library no arguments then:
//! `std::env::args` would be empty. So `main` records them here first.

use std::ffi::OsString;
use std::sync::OnceLock;

static ARGS: OnceLock<Vec<OsString>> = OnceLock::new();

/// Records the command line; the first call wins.
pub fn record(args: Vec<OsString>) {
    let _ = ARGS.set(args);
}

/// The command line, the program's name first: as recorded, or else (a test, started by
/// Rust's runtime) as the standard library has it. Read in place: no copy per caller.
pub fn args_os() -> &'static [OsString] {
    ARGS.get_or_init(|| std::env::args_os().collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_record_the_standard_librarys_arguments_serve() {
        assert_eq!(
            super::args_os(),
            std::env::args_os().collect::<Vec<_>>().as_slice()
        );
    }
}
