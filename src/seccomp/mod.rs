//! Seccomp: `linux.seccomp` compiled to a classic BPF program (no libseccomp), with the
//! native and compat x86 architectures, every action and argument operator, and the
//! notify listener handed to `listenerPath`.
//!
//! Program layout: dispatch on `seccomp_data.arch`, then one section per architecture
//! where the first matching rule wins (see `emit_section`): one binary search on the
//! syscall number (lookup.rs) settles every number whose first rule has no argument
//! checks, the rules with argument checks follow in profile order, then the default
//! action. Before the search, where the default denies, a number above every one the
//! profile names is answered ENOSYS, as runc's filters answer it (`last_named_syscall`). x32 shares AUDIT_ARCH_X86_64 and is told apart by bit 30 of the syscall number.

pub mod bpf;
mod lookup;
// Generated (scripts/gen-syscall-tables.py): kept as the script writes it.
#[rustfmt::skip]
mod tables;

use anyhow::{Result, anyhow, bail};
use bpf::{AND_K, Assembler, JEQ_K, JGE_K, JGT_K, Label, SockFilter};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const RET_KILL_THREAD: u32 = 0;
// Offsets in struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_NEW_LISTENER: u32 = 8;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Abi {
    X86_64,
    I386,
    X32,
}

impl Abi {
    /// (where the name lies in `tables::NAMES`, its length, its number), sorted by name:
    /// integers only, so that the binary has nothing to relocate in them (tables.rs).
    fn entries(self) -> &'static [(u16, u8, u32)] {
        match self {
            Abi::X86_64 => tables::X86_64,
            Abi::I386 => tables::I386,
            Abi::X32 => tables::X32,
        }
    }

    /// Every syscall of the ABI, by name, with its number (the tests go through them all).
    #[cfg(test)]
    fn table(self) -> impl Iterator<Item = (&'static str, u32)> {
        self.entries()
            .iter()
            .map(|&(at, len, nr)| (entry_name(at, len), nr))
    }

    fn number(self, name: &str) -> Option<u32> {
        let t = self.entries();
        t.binary_search_by(|&(at, len, _)| entry_name(at, len).cmp(name))
            .ok()
            .map(|i| t[i].2)
    }
}

fn entry_name(at: u16, len: u8) -> &'static str {
    let at = usize::from(at);
    &tables::NAMES[at..at + usize::from(len)]
}

pub struct Filter {
    pub program: Vec<SockFilter>,
    pub flags: u32,
    /// Flags of `flags` the filter is loaded without where the kernel refuses them: those
    /// runc asks for only where the kernel has them.
    pub optional_flags: u32,
    pub uses_notify: bool,
}

fn action_value(action: LinuxSeccompAction, errno_ret: Option<u32>) -> u32 {
    let data = errno_ret.unwrap_or(libc::EPERM as u32) & 0xffff;
    match action {
        LinuxSeccompAction::ScmpActErrno => 0x0005_0000 | data,
        LinuxSeccompAction::ScmpActTrace => 0x7ff0_0000 | data,
        other => other.as_u32(None),
    }
}

/// Which ABIs the filter covers: the native one always, the compat ones when listed.
fn abis(s: &LinuxSeccomp) -> Vec<Abi> {
    let mut out = vec![Abi::X86_64];
    for a in s.architectures().iter().flatten() {
        let abi = match a {
            Arch::ScmpArchX86 => Abi::I386,
            Arch::ScmpArchX32 => Abi::X32,
            _ => continue,
        };
        if !out.contains(&abi) {
            out.push(abi);
        }
    }
    out
}

pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    check_notify_use(s)?;
    // The searched form is larger than plain comparisons only for long lists of scattered
    // numbers; should it not fit the kernel's limit, the plain form may.
    compile_with(s, true).or_else(|e| compile_with(s, false).map_err(|_| e))
}

/// runc's limits on SCMP_ACT_NOTIFY, kept so a profile behaves the same on both: not for
/// `write`, nor as the default action (runc's init could then never hand over its
/// listener; rrun's could, but a profile that works only on rrun is no portable profile).
fn check_notify_use(s: &LinuxSeccomp) -> Result<()> {
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        bail!("linux.seccomp: SCMP_ACT_NOTIFY cannot be used as default action");
    }
    let notify_write = s.syscalls().iter().flatten().any(|r| {
        r.action() == LinuxSeccompAction::ScmpActNotify && r.names().iter().any(|n| n == "write")
    });
    if notify_write {
        bail!("linux.seccomp: SCMP_ACT_NOTIFY cannot be used for the write syscall");
    }
    Ok(())
}

fn compile_with(s: &LinuxSeccomp, searched: bool) -> Result<Filter> {
    let default = action_value(s.default_action(), s.default_errno_ret());
    let abis = abis(s);
    let mut asm = Assembler::default();
    let sections: Vec<(Abi, Label)> = abis.iter().map(|a| (*a, asm.label())).collect();
    // Architecture dispatch. x32 is reached from the x86_64 section.
    asm.load(OFF_ARCH);
    for (abi, label) in &sections {
        let arch = match abi {
            Abi::X86_64 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
            Abi::X32 => continue,
        };
        asm.emit(JEQ_K, 0, 1, arch);
        asm.jump(*label);
    }
    asm.ret(RET_KILL_THREAD);
    let uses_notify = s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify);
    for (abi, label) in &sections {
        asm.bind(*label);
        asm.load(OFF_NR);
        if *abi == Abi::X86_64 {
            // An x32 syscall on a filter without x32 is a foreign architecture.
            asm.emit(JGE_K, 0, 1, X32_SYSCALL_BIT);
            match sections.iter().find(|(a, _)| *a == Abi::X32) {
                Some((_, x32)) => asm.jump(*x32),
                None => asm.ret(RET_KILL_THREAD),
            }
        }
        emit_section(&mut asm, s, *abi, default, searched)?;
    }
    let program = asm.finish().map_err(|e| anyhow!("linux.seccomp: {e}"))?;
    let (flags, optional_flags) = filter_flags(s.flags().as_deref(), uses_notify);
    Ok(Filter {
        program,
        flags,
        optional_flags,
        uses_notify,
    })
}

/// The seccomp(2) flags for the profile's `flags` as runc (1.2 and later) loads them, and
/// those of them to drop where the kernel refuses them. No `flags` at all (not even an
/// empty list) asks for SPEC_ALLOW: the filter leaves the speculative store bypass
/// mitigation to the process, not forced on by seccomp (a kernel booted with
/// `spec_store_bypass_disable=seccomp` would slow every container down). TSYNC is ignored
/// (the init is single-threaded; it also excludes NEW_LISTENER); WAIT_KILLABLE_RECV
/// applies only to a filter with a listener, and only where the kernel has it (5.19).
fn filter_flags(listed: Option<&[LinuxSeccompFilterFlag]>, uses_notify: bool) -> (u32, u32) {
    let mut flags = 0;
    for f in listed.unwrap_or(&[LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow]) {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }
    if uses_notify {
        flags |= FLAG_NEW_LISTENER;
    } else {
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    let optional = if listed.is_none() {
        FLAG_SPEC_ALLOW | FLAG_WAIT_KILLABLE_RECV
    } else {
        FLAG_WAIT_KILLABLE_RECV
    };
    (flags, flags & optional)
}

/// One architecture's rules, first match winning. A number's first argument-free rule
/// ends its search (later rules for it can never match), so those are all gathered in one
/// lookup; only numbers that have a rule with argument checks before that go on to those
/// checks, in profile order, and then to their argument-free action or the default.
fn emit_section(
    asm: &mut Assembler,
    s: &LinuxSeccomp,
    abi: Abi,
    default: u32,
    searched: bool,
) -> Result<()> {
    use lookup::Outcome;
    use std::collections::BTreeMap;
    let mut first_plain: BTreeMap<u32, u32> = BTreeMap::new();
    let mut checked: Vec<(u32, Vec<LinuxSeccompArg>, u32)> = Vec::new();
    for rule in s.syscalls().iter().flatten() {
        let action = action_value(rule.action(), rule.errno_ret());
        let args = rule.args().clone().unwrap_or_default();
        let alternatives = argument_alternatives(args);
        for name in rule.names() {
            // Names this kernel or architecture lacks are skipped, as libseccomp does.
            let Some(nr) = abi.number(name) else { continue };
            if alternatives.is_empty() {
                first_plain.entry(nr).or_insert(action);
            } else if !first_plain.contains_key(&nr) {
                checked.extend(alternatives.iter().map(|a| (nr, a.clone(), action)));
            }
        }
    }
    let has_checks = |nr: &u32| checked.iter().any(|(n, _, _)| n == nr);
    let returns = |action: u32| {
        if action == default {
            None
        } else {
            Some(Outcome::Return(action))
        }
    };
    // Numbers decided at once; those with argument checks continue.
    let mut fast: BTreeMap<u32, Outcome> = first_plain
        .iter()
        .filter(|(nr, _)| !has_checks(nr))
        .filter_map(|(nr, a)| returns(*a).map(|o| (*nr, o)))
        .collect();
    fast.extend(checked.iter().map(|(nr, _, _)| (*nr, Outcome::Continue)));
    let after_checks: BTreeMap<u32, Outcome> = first_plain
        .iter()
        .filter(|(nr, _)| has_checks(nr))
        .filter_map(|(nr, a)| returns(*a).map(|o| (*nr, o)))
        .collect();
    if let Some(last) = last_named_syscall(s, abi) {
        // jgt last: the next instruction (ENOSYS), else over it.
        asm.emit(JGT_K, 0, 1, last);
        asm.ret(ERRNO_ENOSYS);
    }
    emit_lookup(asm, &fast, Outcome::Return(default), searched);
    if checked.is_empty() {
        return Ok(());
    }
    for (nr, args, action) in &checked {
        emit_rule(asm, *nr, args, *action)?;
    }
    emit_lookup(asm, &after_checks, Outcome::Return(default), searched);
    Ok(())
}

/// A rule's argument checks as runc gives them to libseccomp: all of them together (one
/// alternative) where each names another argument, but where one argument is named twice
/// (`"args": [{"index": 0, "value": 100}, {"index": 0, "value": 9001}]`, which no value
/// could match together) each check alone, any one of them matching (runc's seccomp.bats
/// "-ENOSYS handling" profile has such rules).
fn argument_alternatives(args: Vec<LinuxSeccompArg>) -> Vec<Vec<LinuxSeccompArg>> {
    if args.is_empty() {
        return Vec::new();
    }
    let repeats_an_index = args
        .iter()
        .enumerate()
        .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()));
    if repeats_an_index {
        args.into_iter().map(|a| vec![a]).collect()
    } else {
        vec![args]
    }
}

const ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// runc's ENOSYS stub (libcontainer/seccomp/patchbpf): where the default action denies, a
/// syscall numbered above every one the profile names for this ABI gets ENOSYS rather than
/// the default, as if the kernel lacked it, so that a program falls back to the older call
/// it knows (glibc from clone3 to clone, from faccessat2 to faccessat) instead of failing
/// under a profile older than it. Returns that last number; None where the default allows
/// (allow, log, trace: a tracer handles new syscalls itself), where it answers ENOSYS
/// already, or where the profile names none of this ABI's syscalls.
fn last_named_syscall(s: &LinuxSeccomp, abi: Abi) -> Option<u32> {
    use LinuxSeccompAction::{ScmpActAllow, ScmpActLog, ScmpActTrace};
    let allows = matches!(s.default_action(), ScmpActAllow | ScmpActLog | ScmpActTrace);
    if allows || s.default_errno_ret() == Some(libc::ENOSYS as u32) {
        return None;
    }
    s.syscalls()
        .iter()
        .flatten()
        .flat_map(|rule| rule.names())
        .filter_map(|name| abi.number(name))
        .max()
}

/// A lookup (searched) or plain comparisons one by one; `Continue` goes on to the
/// instructions that follow.
fn emit_lookup(
    asm: &mut Assembler,
    table: &std::collections::BTreeMap<u32, lookup::Outcome>,
    otherwise: lookup::Outcome,
    searched: bool,
) {
    let next = asm.label();
    if searched {
        lookup::emit(asm, table, otherwise, next);
    } else {
        lookup::emit_linear(asm, table, otherwise, next);
    }
    asm.bind(next);
}

/// One rule: syscall number, all argument conditions (ANDed), then the action.
/// The accumulator holds the syscall number on entry and on exit.
fn emit_rule(asm: &mut Assembler, nr: u32, args: &[LinuxSeccompArg], action: u32) -> Result<()> {
    if args.is_empty() {
        asm.emit(JEQ_K, 0, 1, nr);
        asm.ret(action);
        return Ok(());
    }
    let next = asm.label();
    asm.emit(JEQ_K, 1, 0, nr);
    asm.jump(next);
    for arg in args {
        if arg.index() > 5 {
            bail!(
                "linux.seccomp: argument index {} is out of range 0-5",
                arg.index()
            );
        }
        emit_arg_check(asm, arg, next);
    }
    asm.ret(action);
    asm.bind(next);
    asm.load(OFF_NR);
    Ok(())
}

/// Falls through when the 64-bit argument satisfies the condition, jumps to `fail` if not.
/// Arguments are compared as 64-bit unsigned values, high word first.
fn emit_arg_check(asm: &mut Assembler, arg: &LinuxSeccompArg, fail: Label) {
    let lo_off = OFF_ARGS + 8 * arg.index() as u32;
    let hi_off = lo_off + 4;
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let (vhi, vlo) = split(arg.value());
    match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq => {
            asm.load(hi_off);
            asm.emit(JEQ_K, 0, 2, vhi);
            asm.load(lo_off);
            asm.emit(JEQ_K, 1, 0, vlo);
            asm.jump(fail);
        }
        LinuxSeccompOperator::ScmpCmpNe => {
            asm.load(hi_off);
            asm.emit(JEQ_K, 0, 3, vhi);
            asm.load(lo_off);
            asm.emit(JEQ_K, 0, 1, vlo);
            asm.jump(fail);
        }
        LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe => {
            let low_op = if arg.op() == LinuxSeccompOperator::ScmpCmpGt {
                JGT_K
            } else {
                JGE_K
            };
            asm.load(hi_off);
            asm.emit(JGT_K, 4, 0, vhi);
            asm.emit(JEQ_K, 0, 2, vhi);
            asm.load(lo_off);
            asm.emit(low_op, 1, 0, vlo);
            asm.jump(fail);
        }
        LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe => {
            // a < v is !(a >= v); a <= v is !(a > v).
            let low_op = if arg.op() == LinuxSeccompOperator::ScmpCmpLt {
                JGE_K
            } else {
                JGT_K
            };
            asm.load(hi_off);
            asm.emit(JGT_K, 3, 0, vhi);
            asm.emit(JEQ_K, 0, 3, vhi);
            asm.load(lo_off);
            asm.emit(low_op, 0, 1, vlo);
            asm.jump(fail);
        }
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            // value is the mask, valueTwo the datum: (arg & value) == valueTwo.
            let (mhi, mlo) = (vhi, vlo);
            let (dhi, dlo) = split(arg.value_two().unwrap_or(0));
            asm.load(hi_off);
            asm.emit(AND_K, 0, 0, mhi);
            asm.emit(JEQ_K, 0, 3, dhi);
            asm.load(lo_off);
            asm.emit(AND_K, 0, 0, mlo);
            asm.emit(JEQ_K, 1, 0, dlo);
            asm.jump(fail);
        }
    }
}

/// Installs the filter on the calling thread; returns the notify listener if it has one.
pub fn install(f: &Filter) -> Result<Option<std::os::fd::OwnedFd>> {
    let mut flags = f.flags;
    let program = bpf::program_bytes(&f.program);
    loop {
        if crate::logging::debug_enabled() {
            // runc's words, which its seccomp tests look for.
            crate::logging::debug(&format!("seccomp filter flags: {flags}"));
        }
        match crate::syscalls::seccomp_set_filter(&program, flags) {
            Ok(fd) => return Ok(fd),
            // A kernel without an optional flag (SPEC_ALLOW before 4.17, WAIT_KILLABLE_RECV
            // before 5.19): run without it, as runc does.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && flags & f.optional_flags != 0 => {
                flags &= !f.optional_flags
            }
            Err(e) => return Err(anyhow!("loading seccomp filter: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;
