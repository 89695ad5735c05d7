//! A tiny classic-BPF assembler with symbolic labels for the 32-bit `ja` jumps; the
//! conditional jumps it emits only ever skip a few local instructions.

pub const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub const JGT_K: u16 = 0x25;
pub const JGE_K: u16 = 0x35;
pub const JA: u16 = 0x05;
pub const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const RET_K: u16 = 0x06;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl SockFilter {
    /// The instruction as the kernel reads it (struct sock_filter).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.code.to_ne_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_ne_bytes());
        b
    }
}

/// A program as the seccomp syscall takes it: its instructions' bytes, in order.
pub fn program_bytes(program: &[SockFilter]) -> Vec<u8> {
    program.iter().flat_map(|i| i.to_bytes()).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Default)]
pub struct Assembler {
    insns: Vec<SockFilter>,
    /// Index of each `ja` and the label it jumps to.
    fixups: Vec<(usize, Label)>,
    labels: Vec<Option<usize>>,
}

impl Assembler {
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `l` at the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    pub fn emit(&mut self, code: u16, jt: u8, jf: u8, k: u32) {
        self.insns.push(SockFilter { code, jt, jf, k });
    }

    pub fn load(&mut self, offset: u32) {
        self.emit(LD_W_ABS, 0, 0, offset);
    }

    pub fn ret(&mut self, action: u32) {
        self.emit(RET_K, 0, 0, action);
    }

    pub fn jump(&mut self, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(JA, 0, 0, 0);
    }

    pub fn finish(mut self) -> Result<Vec<SockFilter>, String> {
        for (at, label) in &self.fixups {
            let target = self.labels[label.0].ok_or("unbound label")?;
            if target <= *at {
                return Err("backward jump".into());
            }
            self.insns[*at].k = (target - at - 1) as u32;
        }
        if self.insns.len() > 4096 {
            return Err(format!(
                "filter has {} instructions, the kernel allows 4096",
                self.insns.len()
            ));
        }
        Ok(self.insns)
    }
}

/// Runs a program on one seccomp_data, as the kernel would: used by the unit tests to
/// check the compiler's output without installing anything.
#[cfg(test)]
pub fn interpret(prog: &[SockFilter], data: &[u8]) -> u32 {
    let mut pc = 0;
    let mut a: u32 = 0;
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => {
                a = u32::from_ne_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap())
            }
            AND_K => a &= i.k,
            RET_K => return i.k,
            JA => pc += i.k as usize,
            JEQ_K | JGT_K | JGE_K => {
                let taken = match i.code {
                    JEQ_K => a == i.k,
                    JGT_K => a > i.k,
                    _ => a >= i.k,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            other => panic!("unknown opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_passed_as_the_kernel_lays_out_struct_sock_filter() {
        let ret = SockFilter {
            code: RET_K,
            jt: 1,
            jf: 2,
            k: 0x7fff_0000,
        };
        let mut want = RET_K.to_ne_bytes().to_vec();
        want.extend([1, 2]);
        want.extend(0x7fff_0000u32.to_ne_bytes());
        assert_eq!(program_bytes(&[ret, ret]), [want.clone(), want].concat());
    }
}
