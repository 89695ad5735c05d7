//! rrun: an OCI container runtime with runc's command line. The library holds all of it;
//! `main.rs` only parses the command line and dispatches. Being a library also lets the
//! fuzz targets (fuzz/) call the config and process parsers directly.

#[cfg(target_env = "musl")]
pub mod allocator;
pub mod args;
pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod config;
pub mod container;
pub mod criu;
pub mod errno_words;
pub mod hooks;
pub mod id_maps;
pub mod inherited_fds;
pub mod init;
pub mod logging;
pub mod lsm;
pub mod namespaces;
pub mod net_devices;
pub mod netlink;
pub mod pidfd_socket;
pub mod process;
pub mod procfs;
pub mod quick_args;
pub mod rootfs;
pub mod rootless;
pub mod scheduling;
pub mod seccomp;
pub mod selfexe;
pub mod signals;
pub mod state;
pub mod syscalls;
pub mod sysctl;
pub mod threads;
pub mod tty;
