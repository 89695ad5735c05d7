//! The syscall-number lookup for a run of rules without argument checks.
//!
//! A profile such as the engines' default lists some 370 syscalls by name. Comparing the
//! number with each in turn costs every syscall the container makes up to 370 comparisons
//! and gives the kernel a program of thousands of instructions to check and JIT at every
//! container start. Instead the number line is cut into intervals of one outcome (listed
//! numbers are mostly contiguous, so a profile makes few of them) and searched as a
//! balanced binary tree: about log2(intervals) comparisons, and one instruction per
//! interval and per cut.

use super::bpf::{Assembler, JEQ_K, JGE_K, Label};
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Return this seccomp action.
    Return(u32),
    /// Not listed here: go on with the rules after this run.
    Continue,
}

/// Emits the decision for `table` (syscall number → outcome); other numbers get
/// `otherwise`, and `Continue` jumps to `next`. The accumulator holds the syscall number.
/// A small table is compared linearly: as quick, and no larger.
pub fn emit(asm: &mut Assembler, table: &BTreeMap<u32, Outcome>, otherwise: Outcome, next: Label) {
    if table.len() <= 4 {
        emit_linear(asm, table, otherwise, next);
        return;
    }
    emit_tree(asm, &intervals(table, otherwise), &|asm, o| {
        leaf(asm, o, next)
    });
}

/// The same decision as [`emit`], one comparison per number: the fallback for tables too
/// scattered for the search to fit the kernel's limit.
pub fn emit_linear(
    asm: &mut Assembler,
    table: &BTreeMap<u32, Outcome>,
    otherwise: Outcome,
    next: Label,
) {
    for (nr, outcome) in table {
        asm.emit(JEQ_K, 0, 1, *nr);
        leaf(asm, *outcome, next);
    }
    leaf(asm, otherwise, next);
}

fn leaf(asm: &mut Assembler, outcome: Outcome, next: Label) {
    match outcome {
        Outcome::Return(action) => asm.ret(action),
        Outcome::Continue => asm.jump(next),
    }
}

/// The number line from 0 as (start, outcome) pairs, adjacent ones always different.
fn intervals(table: &BTreeMap<u32, Outcome>, otherwise: Outcome) -> Vec<(u32, Outcome)> {
    let mut out = vec![(0, otherwise)];
    let mut cut = |start: u32, outcome: Outcome| {
        let last = out.len() - 1;
        if out[last].0 == start {
            out[last].1 = outcome;
            if last > 0 && out[last - 1].1 == outcome {
                out.pop();
            }
        } else if out[last].1 != outcome {
            out.push((start, outcome));
        }
    };
    for (&nr, &outcome) in table {
        cut(nr, outcome);
        if let Some(after) = nr.checked_add(1) {
            cut(after, otherwise);
        }
    }
    out
}

/// Instructions [`emit_tree`] takes for `n` intervals.
fn tree_len(n: usize) -> usize {
    if n == 1 {
        return 1;
    }
    let left = tree_len(n / 2);
    let branch = if left <= u8::MAX as usize { 1 } else { 2 };
    branch + left + tree_len(n - n / 2)
}

fn emit_tree(asm: &mut Assembler, iv: &[(u32, Outcome)], leaf: &impl Fn(&mut Assembler, Outcome)) {
    if let [(_, outcome)] = iv {
        leaf(asm, *outcome);
        return;
    }
    let mid = iv.len() / 2;
    let left_len = tree_len(mid);
    if let Ok(skip) = u8::try_from(left_len) {
        // nr >= cut: skip the left half's instructions.
        asm.emit(JGE_K, skip, 0, iv[mid].0);
        emit_tree(asm, &iv[..mid], leaf);
    } else {
        let right = asm.label();
        asm.emit(JGE_K, 0, 1, iv[mid].0);
        asm.jump(right);
        emit_tree(asm, &iv[..mid], leaf);
        asm.bind(right);
    }
    emit_tree(asm, &iv[mid..], leaf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::{LD_W_ABS, interpret};

    fn program(table: &BTreeMap<u32, u32>) -> Vec<crate::seccomp::bpf::SockFilter> {
        let table = table
            .iter()
            .map(|(nr, action)| (*nr, Outcome::Return(*action)))
            .collect();
        let mut asm = Assembler::default();
        let next = asm.label();
        asm.emit(LD_W_ABS, 0, 0, 0);
        emit(&mut asm, &table, Outcome::Continue, next);
        asm.bind(next);
        asm.ret(0xdead);
        asm.finish().unwrap()
    }

    #[test]
    fn contiguous_numbers_make_few_intervals() {
        let table: BTreeMap<u32, u32> = (0..300).map(|n| (n, 7)).chain([(400, 8)]).collect();
        let outcomes = table
            .iter()
            .map(|(nr, action)| (*nr, Outcome::Return(*action)))
            .collect();
        assert_eq!(
            intervals(&outcomes, Outcome::Continue),
            vec![
                (0, Outcome::Return(7)),
                (300, Outcome::Continue),
                (400, Outcome::Return(8)),
                (401, Outcome::Continue)
            ]
        );
        assert_eq!(program(&table).len(), 1 + tree_len(4) + 1);
    }

    #[test]
    fn every_number_gets_its_action_or_goes_on() {
        // Scattered numbers and runs, two actions, a number at the top of the range,
        // enough of them to need the long form of a branch.
        let mut table = BTreeMap::new();
        for n in (0..1200).filter(|n| n % 3 != 0) {
            table.insert(n, if n % 7 == 0 { 1 } else { 2 });
        }
        table.insert(u32::MAX, 3);
        let prog = program(&table);
        for nr in (0..1300).chain([u32::MAX - 1, u32::MAX]) {
            let want = table.get(&nr).copied().unwrap_or(0xdead);
            assert_eq!(interpret(&prog, &nr.to_ne_bytes()), want, "nr {nr}");
        }
    }
}
