//! Integration tests: the real rrun binary on real busybox bundles. They need root and
//! busybox-static at /bin/busybox (`make test` installs it).

mod cgroups;
mod checkpoint;
mod cli;
mod common;
mod errors;
mod exec;
mod lifecycle;
mod namespaces;
pub mod pods;
mod process;
mod reliability;
mod rootfs;
mod rootless;
mod security;
mod systemd;
mod terminal;
