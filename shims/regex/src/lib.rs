//! `regex`'s API from regex-lite: see this crate's Cargo.toml for why.
pub use regex_lite::*;
