//! cgroup v2 has no devices.allow: access to device nodes is decided by an eBPF program
//! of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's cgroup. This builds
//! that program from the same rule list as v1's (deny all, the config's rules, the standard
//! devices, the config's nodes) and attaches it. As with v1's files, the last matching
//! rule decides, so the program tests the rules from the last to the first.

use anyhow::{Result, anyhow};
use std::os::fd::AsRawFd;
use std::path::Path;

/// One device rule: allow?, type ('a', 'b', 'c'), major/minor (-1 = any), access ("rwm").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub access: String,
}

/// Parses the lines of v1's device writes ("a", "c 1:3 rwm") into rules.
pub fn rules_from_v1_writes(writes: &[super::resources::Write]) -> Vec<Rule> {
    writes
        .iter()
        .filter_map(|w| {
            let (file, line) = &w.candidates[0];
            let allow = file == "devices.allow";
            let mut parts = line.split_whitespace();
            let kind = parts.next()?.chars().next()?;
            let (major, minor) = match parts.next() {
                Some(mm) => {
                    let (a, b) = mm.split_once(':')?;
                    (a.parse().unwrap_or(-1), b.parse().unwrap_or(-1))
                }
                None => (-1, -1),
            };
            let access = parts.next().unwrap_or("rwm").to_string();
            Some(Rule {
                allow,
                kind,
                major,
                minor,
                access,
            })
        })
        .collect()
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    /// The instruction as the kernel reads it (struct bpf_insn).
    fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JNE_X: u8 = 0x5d;
const EXIT: u8 = 0x95;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The program: r2 = device type, r3 = requested access, r4 = major, r5 = minor.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut checks: Vec<Vec<Insn>> = Vec::new();
        match r.kind {
            'c' => checks.push(vec![insn(JNE_K, 2, 0, 0, DEV_CHAR)]),
            'b' => checks.push(vec![insn(JNE_K, 2, 0, 0, DEV_BLOCK)]),
            _ => {}
        }
        let bits = r.access.chars().map(|c| match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        });
        let allowed: i32 = bits.sum::<i32>();
        if allowed != 7 {
            // Every requested access must be one the rule names: (r3 & allowed) == r3.
            checks.push(vec![
                insn(MOV64_X, 1, 3, 0, 0),
                insn(AND32_K, 1, 0, 0, allowed),
                insn(JNE_X, 1, 3, 0, 0),
            ]);
        }
        if r.major >= 0 {
            checks.push(vec![insn(JNE_K, 4, 0, 0, r.major as i32)]);
        }
        if r.minor >= 0 {
            checks.push(vec![insn(JNE_K, 5, 0, 0, r.minor as i32)]);
        }
        // A rule that matches everything decides alone: whatever follows it would be
        // unreachable, which the kernel's verifier refuses.
        if checks.is_empty() {
            p.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
            p.push(insn(EXIT, 0, 0, 0, 0));
            return p;
        }
        // Each failed check jumps past the rest of this rule (the 2 return instructions).
        let total: usize = checks.iter().map(Vec::len).sum::<usize>() + 2;
        let mut emitted = 0;
        for group in checks {
            for mut ins in group.iter().copied() {
                emitted += 1;
                if ins.code == JNE_K || ins.code == JNE_X {
                    ins.off = (total - emitted) as i16;
                }
                p.push(ins);
            }
        }
        p.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Runs the program on one access, as the kernel would (for the unit tests).
#[cfg(test)]
pub fn run(prog: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [(access << 16) | kind, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
            AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
            RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
            MOV64_X => r[dst] = r[src],
            MOV64_K => r[dst] = i.imm as u64,
            JNE_K if r[dst] != i.imm as u64 => pc += i.off as usize,
            JNE_X if r[dst] != r[src] => pc += i.off as usize,
            JNE_K | JNE_X => {}
            EXIT => return r[0],
            other => panic!("opcode {other:#x}"),
        }
    }
}

/// Loads the program and attaches it to the cgroup directory `dir`.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog: Vec<u8> = program(rules).iter().flat_map(|i| i.to_bytes()).collect();
    let prog_fd = crate::syscalls::bpf_load_cgroup_device_prog(&prog)
        .map_err(|e| anyhow!("linux.resources.devices: loading the device filter: {e}"))?;
    let cgroup = super::fs::open(dir, nix::fcntl::OFlag::O_RDONLY)
        .map_err(|e| anyhow!("opening {}: {e}", dir.display()))?;
    crate::syscalls::bpf_attach_cgroup_device(cgroup.as_raw_fd(), prog_fd.as_raw_fd()).map_err(
        |e| {
            anyhow!(
                "linux.resources.devices: attaching the device filter to {}: {e}",
                dir.display()
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instruction_is_passed_as_the_kernel_lays_out_struct_bpf_insn() {
        // code, then dst in the low and src in the high nibble, then off and imm.
        let ldx = insn(0x61, 2, 1, -4, 0x0102_0304);
        let mut want = vec![0x61, 0x12];
        want.extend((-4i16).to_ne_bytes());
        want.extend(0x0102_0304i32.to_ne_bytes());
        assert_eq!(ldx.to_bytes().to_vec(), want);
    }

    fn rule(allow: bool, kind: char, major: i64, minor: i64, access: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    #[test]
    fn last_matching_rule_decides() {
        let rules = vec![
            rule(false, 'a', -1, -1, "rwm"),
            rule(true, 'c', 1, 3, "rwm"),
            rule(true, 'c', 136, -1, "rwm"),
            rule(true, 'b', 8, 0, "r"),
            rule(false, 'c', 1, 3, "w"),
        ];
        let p = program(&rules);
        let (c, b) = (DEV_CHAR as u32, DEV_BLOCK as u32);
        assert_eq!(run(&p, c, 2, 1, 3), 1, "read /dev/null");
        assert_eq!(
            run(&p, c, 4, 1, 3),
            0,
            "write /dev/null: the later deny wins"
        );
        assert_eq!(run(&p, c, 6, 136, 7), 1, "any pts");
        assert_eq!(run(&p, b, 2, 8, 0), 1, "read the disk");
        assert_eq!(run(&p, b, 4, 8, 0), 0, "write the disk: not in the rule");
        assert_eq!(run(&p, c, 2, 1, 5), 0, "unlisted: denied");
        assert_eq!(run(&p, b, 2, 1, 3), 0, "type matters");
    }

    #[test]
    fn parses_v1_lines() {
        let fuse: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"}]"#,
        )
        .unwrap();
        let ws = super::super::resources::v1_device_writes(&fuse);
        let rules = rules_from_v1_writes(&ws);
        assert_eq!(rules[0], rule(false, 'a', -1, -1, "rwm"));
        assert_eq!(rules[1], rule(true, 'c', 10, 229, "rwm"));
        assert!(rules.contains(&rule(true, 'c', 136, -1, "rwm")));
    }
}

#[cfg(test)]
mod reachability {
    use super::*;

    /// The verifier refuses unreachable instructions: nothing may follow a catch-all rule.
    #[test]
    fn nothing_after_a_catch_all() {
        let rules = vec![
            Rule {
                allow: false,
                kind: 'a',
                major: -1,
                minor: -1,
                access: "rwm".into(),
            },
            Rule {
                allow: true,
                kind: 'c',
                major: 1,
                minor: 3,
                access: "rwm".into(),
            },
        ];
        let p = program(&rules);
        assert_eq!(p.last().unwrap().code, EXIT);
        assert_eq!(
            p[p.len() - 2],
            insn(MOV64_K, 0, 0, 0, 0),
            "the catch-all deny ends the program"
        );
        assert_eq!(p.iter().filter(|i| i.code == EXIT).count(), 2);
    }
}
