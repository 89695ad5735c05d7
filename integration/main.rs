//! Integration tests: the real rrun binary on real busybox bundles. They need root and
//! busybox-static at /bin/busybox (`make test` installs it).
// These tests run rrun as a program, on the system allocator: their own threads are
// theirs (clippy.toml keeps rrun's threads to rrun::threads::spawn).
#![allow(clippy::disallowed_methods)]

mod cgroups;
mod checkpoint;
mod cli;
mod common;
mod errors;
mod exec;
mod lifecycle;
mod namespaces;
mod network;
pub mod pods;
mod process;
mod reliability;
mod rootfs;
mod rootless;
mod security;
mod systemd;
mod terminal;
