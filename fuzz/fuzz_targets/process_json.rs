//! The process.json of `rrun exec --process`: parsing, and what rrun derives from it before
//! it joins the container (capability sets, environment, argv as C strings).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = rrun::config::parse_process(data) else {
        return;
    };
    if let Some(c) = p.capabilities() {
        let _ = rrun::capabilities::plan(c);
    }
    if let Ok(env) = rrun::process::environment(&p) {
        let _ = rrun::process::cstrings(&env);
    }
    let _ = rrun::process::cstrings(p.args().as_deref().unwrap_or(&[]));
});
