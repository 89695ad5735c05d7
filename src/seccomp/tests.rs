use super::*;

fn data(arch: u32, nr: u32, args: [u64; 6]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&nr.to_ne_bytes());
    d.extend_from_slice(&arch.to_ne_bytes());
    d.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        d.extend_from_slice(&a.to_ne_bytes());
    }
    d
}

fn filter(json: &str) -> Filter {
    compile(&serde_json::from_str(json).unwrap()).unwrap()
}

fn run(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    bpf::interpret(&f.program, &data(arch, nr, args))
}

const ALLOW: u32 = 0x7fff_0000;
const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;

#[test]
fn default_and_named_actions_per_architecture() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["read","write","no_such_syscall"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    );
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 0, [0; 6]), ALLOW, "x86_64 read");
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, 2, [0; 6]),
        EPERM,
        "x86_64 open: default"
    );
    assert_eq!(run(&f, AUDIT_ARCH_I386, 3, [0; 6]), ALLOW, "i386 read is 3");
    assert_eq!(
        run(&f, AUDIT_ARCH_I386, 0, [0; 6]),
        EPERM,
        "i386 restart_syscall: default"
    );
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]),
        ALLOW,
        "x32 read"
    );
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, 83, [0; 6]),
        0x0005_0000 | 38,
        "mkdir with errnoRet"
    );
    assert_eq!(
        run(&f, 0xc000_00b7, 0, [0; 6]),
        RET_KILL_THREAD,
        "foreign architecture"
    );
}

#[test]
fn compat_syscalls_do_not_slip_through_without_the_arch() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 83, [0; 6]), EPERM);
    assert_eq!(
        run(&f, AUDIT_ARCH_I386, 39, [0; 6]),
        RET_KILL_THREAD,
        "i386 not listed: killed, not allowed"
    );
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 83, [0; 6]),
        RET_KILL_THREAD,
        "x32 not listed"
    );
}

#[test]
fn every_argument_operator_on_64_bit_values() {
    let rule = |op: &str, value: u64, two: u64| {
        filter(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO",
                "args":[{{"index":1,"value":{value},"valueTwo":{two},"op":"{op}"}}]}}]}}"#
        ))
    };
    let nr = 135; // personality on x86_64
    let hit = |f: &Filter, v: u64| run(f, AUDIT_ARCH_X86_64, nr, [0, v, 0, 0, 0, 0]) == EPERM;
    let big = 0x1_0000_0005u64;
    // (operator, value, valueTwo, [(argument, matches?)])
    type Case<'a> = (&'a str, u64, u64, &'a [(u64, bool)]);
    let cases: &[Case] = &[
        (
            "SCMP_CMP_EQ",
            big,
            0,
            &[(big, true), (5, false), (0x2_0000_0005, false)],
        ),
        (
            "SCMP_CMP_NE",
            big,
            0,
            &[(big, false), (5, true), (0x1_0000_0006, true)],
        ),
        (
            "SCMP_CMP_GT",
            big,
            0,
            &[
                (big, false),
                (big + 1, true),
                (0x2_0000_0000, true),
                (u32::MAX as u64, false),
            ],
        ),
        (
            "SCMP_CMP_GE",
            big,
            0,
            &[(big, true), (big - 1, false), (0x2_0000_0000, true)],
        ),
        (
            "SCMP_CMP_LT",
            big,
            0,
            &[
                (big, false),
                (big - 1, true),
                (0x2_0000_0000, false),
                (7, true),
            ],
        ),
        (
            "SCMP_CMP_LE",
            big,
            0,
            &[(big, true), (big + 1, false), (0, true)],
        ),
        (
            "SCMP_CMP_MASKED_EQ",
            0xff00_0000_00ff,
            0x1200_0000_0034,
            &[
                (0x1234_5678_9a34, true),
                (0x1200_0000_0035, false),
                (0x1300_0000_0034, false),
            ],
        ),
    ];
    for (op, value, two, checks) in cases {
        let f = rule(op, *value, *two);
        for (v, expect) in *checks {
            assert_eq!(hit(&f, *v), *expect, "{op} value={value:#x} arg={v:#x}");
        }
        // Other syscalls and the other arguments are untouched.
        assert_eq!(
            run(&f, AUDIT_ARCH_X86_64, 0, [0, *value, 0, 0, 0, 0]),
            ALLOW
        );
    }
}

#[test]
fn several_args_are_anded_and_rules_ored() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]},
            {"names":["kill"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":1,"value":15,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let kill = 62;
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, kill, [1, 9, 0, 0, 0, 0]), EPERM);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, kill, [2, 9, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, kill, [2, 15, 0, 0, 0, 0]),
        0x8000_0000
    );
}

#[test]
fn actions_and_flags() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_LOG","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"],"syscalls":[
            {"names":["read"],"action":"SCMP_ACT_TRAP"},{"names":["write"],"action":"SCMP_ACT_TRACE","errnoRet":3},
            {"names":["open"],"action":"SCMP_ACT_KILL"},{"names":["close"],"action":"SCMP_ACT_KILL_THREAD"},
            {"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 0, [0; 6]), 0x0003_0000);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 1, [0; 6]), 0x7ff0_0003);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 2, [0; 6]), 0);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 3, [0; 6]), 0);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 39, [0; 6]), 0x7fc0_0000);
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, 60, [0; 6]),
        0x7ffc_0000,
        "default LOG"
    );
    assert!(f.uses_notify);
    assert_eq!(f.flags, FLAG_LOG | FLAG_NEW_LISTENER, "TSYNC ignored");
}

/// The flags runc 1.2 and later load a profile with: SPEC_ALLOW where the profile lists
/// none (optional: a kernel without it runs the filter without), none for an empty list,
/// TSYNC ignored, WAIT_KILLABLE_RECV only with a listener.
#[test]
fn filter_flags_as_runc_loads_them() {
    let flags = |json: &str| {
        let f = filter(json);
        (f.flags, f.optional_flags)
    };
    let deny_mkdir = r#""syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]"#;
    let notify_mkdir = r#""syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]"#;
    let with = |flags: &str, rules: &str| {
        format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW",{flags}{rules}}}"#)
    };
    assert_eq!(
        flags(&with("", deny_mkdir)),
        (FLAG_SPEC_ALLOW, FLAG_SPEC_ALLOW)
    );
    assert_eq!(
        flags(&with("", notify_mkdir)),
        (FLAG_SPEC_ALLOW | FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW)
    );
    assert_eq!(flags(&with(r#""flags":[],"#, deny_mkdir)), (0, 0));
    assert_eq!(
        flags(&with(
            r#""flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG"],"#,
            deny_mkdir
        )),
        (FLAG_LOG, 0)
    );
    let killable = r#""flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],"#;
    assert_eq!(flags(&with(killable, deny_mkdir)), (0, 0));
    assert_eq!(
        flags(&with(killable, notify_mkdir)),
        (
            FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER,
            FLAG_WAIT_KILLABLE_RECV
        )
    );
}

/// runc's ENOSYS stub: under a denying default, a syscall newer than every one the
/// profile names (per ABI) is answered ENOSYS; one within the range keeps the default;
/// allowing defaults, and a default that answers ENOSYS already, get no stub.
#[test]
fn syscalls_newer_than_the_profile_get_enosys_where_the_default_denies() {
    let enosys = 0x0005_0000 | libc::ENOSYS as u32;
    // x86_64: read 0, openat 257, clone3 435. i386: openat 295.
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["read","openat"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 257, [0; 6]), 0x7fff_0000);
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, 100, [0; 6]),
        0x0005_0000 | libc::EPERM as u32
    );
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 435, [0; 6]), enosys);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 258, [0; 6]), enosys);
    assert_eq!(run(&f, AUDIT_ARCH_I386, 295, [0; 6]), 0x7fff_0000);
    assert_eq!(run(&f, AUDIT_ARCH_I386, 296, [0; 6]), enosys);
    for default in [
        r#""defaultAction":"SCMP_ACT_ALLOW""#,
        r#""defaultAction":"SCMP_ACT_LOG""#,
        r#""defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1"#,
    ] {
        let f = filter(&format!(
            r#"{{{default},"syscalls":[{{"names":["read"],"action":"SCMP_ACT_KILL"}}]}}"#
        ));
        let got = run(&f, AUDIT_ARCH_X86_64, 435, [0; 6]);
        assert_eq!(
            got != enosys,
            default.contains("ALLOW") || default.contains("LOG"),
            "{default}: {got:#x}"
        );
    }
    let f = filter(r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS"}"#);
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, 435, [0; 6]),
        0x8000_0000,
        "no name, no stub"
    );
}

/// runc's reading of a rule that checks one argument twice: each check a rule of its own
/// (any matching), where checks of different arguments must all match.
#[test]
fn two_checks_of_one_argument_are_alternatives_and_of_two_arguments_both_needed() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["process_vm_readv"],"action":"SCMP_ACT_ALLOW","args":[
                {"index":0,"value":100,"op":"SCMP_CMP_EQ"},{"index":0,"value":9001,"op":"SCMP_CMP_EQ"}]},
            {"names":["ftruncate"],"action":"SCMP_ACT_ALLOW","args":[
                {"index":0,"value":7,"op":"SCMP_CMP_EQ"},{"index":1,"value":1337,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let readv = 310;
    let ftruncate = 77;
    let eperm = 0x0005_0000 | libc::EPERM as u32;
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, readv, [100, 0, 0, 0, 0, 0]),
        0x7fff_0000
    );
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, readv, [9001, 0, 0, 0, 0, 0]),
        0x7fff_0000
    );
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, readv, [0, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, ftruncate, [7, 1337, 0, 0, 0, 0]),
        0x7fff_0000
    );
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, ftruncate, [7, 0, 0, 0, 0, 0]),
        eperm
    );
    assert_eq!(
        run(&f, AUDIT_ARCH_X86_64, ftruncate, [0, 1337, 0, 0, 0, 0]),
        eperm
    );
}

#[test]
fn default_errno_ret() {
    let f = filter(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#);
    assert_eq!(run(&f, AUDIT_ARCH_X86_64, 0, [0; 6]), 0x0005_0000 | 38);
}

#[test]
fn an_engine_sized_allow_list_is_small_and_matches_first_rule_wins() {
    // Shaped like the engines' default profile: most syscalls allowed by name, a few
    // left to the default, one rule with an argument check in between, on three ABIs.
    let names: Vec<&str> = Abi::X86_64
        .table()
        .map(|(n, _)| n)
        .filter(|n| !["mount", "umount2", "reboot", "kexec_load", "unshare"].contains(n))
        .collect();
    let (first, rest) = names.split_at(names.len() / 2);
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": first, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality", "mount"], "action": "SCMP_ACT_LOG",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": rest, "action": "SCMP_ACT_ALLOW"},
            {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        ]
    });
    let f = filter(&profile.to_string());
    // One comparison and one return per name and ABI would be over 2,000 instructions.
    assert!(f.program.len() < 600, "{} instructions", f.program.len());
    // The unsearched form, kept for profiles too scattered to fit searched, decides alike.
    let unsearched = compile_with(&serde_json::from_value(profile).unwrap(), false).unwrap();
    let (allowed, rest) = (first, rest);
    for (arch, abi) in [
        (AUDIT_ARCH_X86_64, Abi::X86_64),
        (AUDIT_ARCH_I386, Abi::I386),
        (AUDIT_ARCH_X86_64, Abi::X32),
    ] {
        for (name, nr) in abi.table() {
            let want = if allowed.contains(&name) {
                ALLOW
            } else if ["personality", "mount"].contains(&name) {
                0x7ffc_0000 // the LOG rule's argument check holds for [0; 6]
            } else if rest.contains(&name) {
                ALLOW
            } else {
                EPERM
            };
            assert_eq!(run(&f, arch, nr, [0; 6]), want, "{abi:?} {name}");
            assert_eq!(run(&unsearched, arch, nr, [0; 6]), want, "{abi:?} {name}");
            let mut args = [0; 6];
            args[0] = 1;
            if name == "mount" {
                assert_eq!(run(&f, arch, nr, args), EPERM, "{abi:?} mount(1)");
            }
        }
    }
}

#[test]
fn every_syscall_name_is_found_with_its_number_on_each_abi() {
    for abi in [Abi::X86_64, Abi::I386, Abi::X32] {
        let table: Vec<(&str, u32)> = abi.table().collect();
        assert!(table.len() > 300, "{abi:?}: {} syscalls", table.len());
        // Binary search needs the names sorted and distinct.
        assert!(
            table.windows(2).all(|w| w[0].0 < w[1].0),
            "{abi:?} not sorted"
        );
        for &(name, nr) in &table {
            assert!(
                !name.is_empty() && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric())
            );
            assert_eq!(abi.number(name), Some(nr), "{abi:?} {name}");
        }
    }
    assert_eq!(Abi::X86_64.number("openat2"), Some(437));
    assert_eq!(Abi::I386.number("socketcall"), Some(102));
    assert_eq!(Abi::X32.number("read"), Some(0x4000_0000));
    assert_eq!(Abi::X86_64.number("socketcall"), None);
    assert_eq!(Abi::X86_64.number("open_tre"), None);
}
