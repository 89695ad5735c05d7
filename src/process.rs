//! The container process itself: resource limits, user and groups, environment, the
//! executable's lookup in the container's PATH, and the final exec.

use anyhow::{Context, Result, anyhow, bail};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use oci_spec::runtime::{PosixRlimitType, Process};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The container's process, ready for its last steps: no_new_privs, bounding set, user,
/// labels, umask, environment and executable are settled; the seccomp filter and the final
/// capability sets are not (see [`Launch::drop_privileges`]).
pub struct Launch {
    exe: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    caps: Option<crate::capabilities::CapabilityPlan>,
    no_new_privs: bool,
}

/// Everything before the last steps, shared by init and `exec`. `keep_groups`: rrun runs
/// as an ordinary user, and the process keeps the supplementary groups it inherited (as
/// with runc: setgroups is denied or unmapped groups would be dropped).
pub fn prepare(process: &Process, keep_groups: bool) -> Result<Launch> {
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| anyhow!("setting no_new_privs: {e}"))?;
    }
    let caps = process
        .capabilities()
        .as_ref()
        .map(crate::capabilities::plan);
    if let Some(c) = &caps {
        c.apply_bounding()?;
    }
    // Keep the permitted set across the switch of user: seccomp may still need
    // CAP_SYS_ADMIN, and the final sets are applied just before exec.
    crate::syscalls::set_keep_caps(true).map_err(|e| anyhow!("PR_SET_KEEPCAPS: {e}"))?;
    switch_user(process, keep_groups)?;
    crate::lsm::set_exec_labels(process)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        process.user().umask().unwrap_or(0o022),
    ));
    let env = environment(process)?;
    let args = process.args().clone().unwrap_or_default();
    let exe = find_executable(args.first().map(String::as_str).unwrap_or(""), &env)?;
    Ok(Launch {
        exe: path_cstring(&exe)?,
        argv: cstrings(&args)?,
        env: cstrings(&env)?,
        caps,
        no_new_privs,
    })
}

impl Launch {
    /// The process's environment, as it will be exec'ed with.
    pub fn env(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|e| e.to_string_lossy().into_owned())
            .collect()
    }

    /// The final capability sets, the kernel's execute check and the seccomp filter
    /// ([`Launch::drop_privileges`], [`Launch::kernel_lets_it_execute`], then
    /// [`Launch::install_late_seccomp`]): the container's init runs this before "ready", as
    /// runc's does, `exec` just before its execve. Returns the seccomp notify listener.
    pub fn lock_down(
        &self,
        seccomp: Option<&crate::seccomp::Filter>,
    ) -> Result<Option<std::os::fd::OwnedFd>> {
        let early = self.drop_privileges(seccomp)?;
        self.kernel_lets_it_execute()?;
        let late = self.install_late_seccomp(seccomp)?;
        Ok(early.or(late))
    }

    /// Asks the kernel whether the process, with its user and capabilities now in force,
    /// may execute the command, as runc's init does at this point: a file on a `noexec`
    /// mount, or one only another user may run, fails `create` in runc's words rather than
    /// the process after `start` (where the mode bits said yes). Where the kernel can't
    /// answer (no faccessat2, or an earlier seccomp filter that refuses it), the lookup's
    /// mode bits stand, as in runc.
    fn kernel_lets_it_execute(&self) -> Result<()> {
        match crate::syscalls::may_execute(&self.exe) {
            Err(e)
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::EINVAL | libc::EPERM)
                ) =>
            {
                let path = String::from_utf8_lossy(self.exe.as_bytes());
                bail!("exec {path}: {}", errno_text(&e))
            }
            _ => Ok(()),
        }
    }

    /// The final capability sets. A seccomp filter loaded without no_new_privs needs
    /// CAP_SYS_ADMIN, which the container may not keep: such a filter goes in first.
    /// Init runs this during `create`, as runc does, so that a capability the host can't
    /// grant fails `create` rather than the process after `start`.
    fn drop_privileges(
        &self,
        seccomp: Option<&crate::seccomp::Filter>,
    ) -> Result<Option<std::os::fd::OwnedFd>> {
        let mut listener = None;
        if let Some(filter) = seccomp.filter(|_| !self.no_new_privs) {
            let _ = caps::raise(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_ADMIN,
            );
            listener = crate::seccomp::install(filter)?;
        }
        if let Some(c) = &self.caps {
            c.apply_rest()?;
        }
        crate::syscalls::set_keep_caps(false).map_err(|e| anyhow!("PR_SET_KEEPCAPS: {e}"))?;
        Ok(listener)
    }

    /// With no_new_privs a filter needs no privilege: it is loaded last, so that as few of
    /// rrun's own syscalls as possible run under it.
    fn install_late_seccomp(
        &self,
        seccomp: Option<&crate::seccomp::Filter>,
    ) -> Result<Option<std::os::fd::OwnedFd>> {
        match seccomp {
            Some(filter) if self.no_new_privs => crate::seccomp::install(filter),
            _ => Ok(None),
        }
    }

    /// Replaces rrun with the process; only returns (with the error) if execve fails.
    pub fn exec(&self) -> std::io::Error {
        crate::syscalls::execve(&self.exe, &self.argv, &self.env)
    }

    pub fn exe(&self) -> &CString {
        &self.exe
    }

    /// Execs the process; on failure prints runc's one line for it, plainly, on the
    /// process's stderr (nobody reads rrun's log any more) and exits 127 like a shell.
    pub fn exec_or_exit(&self) -> ! {
        let err = self.exec();
        // One write: on a terminal, input echoed meanwhile must not split the line.
        let line = format!(
            "exec {}: {}\n",
            self.exe.to_string_lossy(),
            errno_text(&err)
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        crate::syscalls::exit_immediately(127)
    }
}

/// Every CPU the process's cgroups allow, as runc (1.2 and later) sets for each container
/// process once it is in its cgroups: not the affinity of whoever started rrun (a pinned
/// shim, a `taskset`), which since Linux 6.2 would outlive even joining a cpuset. The
/// kernel clamps a full mask to the CPUs there are and the cpuset's. A failure is
/// runc's warning, not an error.
pub fn reset_cpu_affinity() {
    let mut all = CpuSet::new();
    for cpu in 0..CpuSet::count() {
        let _ = all.set(cpu);
    }
    if let Err(e) = sched_setaffinity(Pid::from_raw(0), &all) {
        crate::logging::warn(&format!(
            "resetting the CPU affinity failed -- the container process may inherit rrun's CPU affinity: sched_setaffinity: {e}"
        ));
    }
}

/// `process.execCPUAffinity` of an `exec`'d process, applied as runc applies it: `initial`
/// from its first step (while it joins the container), `final` once it is in its cgroups;
/// with neither, every CPU its cgroups allow ([`reset_cpu_affinity`]); with `initial`
/// alone, `initial` stays. The spec leaves the container's init out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecAffinity {
    initial: Option<CpuSet>,
    after_joining: Option<CpuSet>,
}

impl ExecAffinity {
    pub fn of(process: &Process) -> Result<Self> {
        let Some(affinity) = process.exec_cpu_affinity() else {
            return Ok(Self::default());
        };
        let list = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| cpu_list(t).with_context(|| format!("process.execCPUAffinity.{field}")))
                .transpose()
        };
        Ok(ExecAffinity {
            initial: list("initial", affinity.initial())?,
            after_joining: list("final", affinity.cpu_affinity_final())?,
        })
    }

    /// The process's first step. With --debug, the CPUs it runs on then, in runc's words
    /// (a mask of the first 64; runc's tests read it).
    pub fn before_cgroups(&self) -> Result<()> {
        if let Some(initial) = &self.initial {
            sched_setaffinity(Pid::from_raw(0), initial)
                .map_err(|e| anyhow!("setting the initial CPU affinity: {e}"))?;
        }
        if crate::logging::debug_enabled()
            && let Ok(now) = sched_getaffinity(Pid::from_raw(0))
        {
            let mask = (0..64).filter(|&c| now.is_set(c).unwrap_or(false));
            let mask = mask.fold(0u64, |m, c| m | 1 << c);
            crate::logging::debug(&format!("nsexec: affinity: {mask:#x}"));
        }
        Ok(())
    }

    /// Once the process is in its cgroups.
    pub fn after_cgroups(&self) -> Result<()> {
        match (&self.initial, &self.after_joining) {
            (_, Some(set)) => sched_setaffinity(Pid::from_raw(0), set)
                .map_err(|e| anyhow!("setting the final CPU affinity: {e}")),
            (None, None) => {
                reset_cpu_affinity();
                Ok(())
            }
            (Some(_), None) => Ok(()),
        }
    }
}

/// A CPU list as the kernel writes them: `0-3,7`.
fn cpu_list(text: &str) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    for part in text.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let number = |n: &str| {
            n.parse::<usize>()
                .map_err(|_| anyhow!("{text:?} is not a list of CPUs (as 0-3,7)"))
        };
        let (first, last) = (number(first)?, number(last)?);
        if first > last {
            bail!("{text:?}: the range {part} ends before it starts");
        }
        for cpu in first..=last {
            set.set(cpu).map_err(|_| {
                anyhow!(
                    "{text:?}: CPU {cpu} is beyond the {} a CPU set holds",
                    CpuSet::count()
                )
            })?;
        }
    }
    Ok(set)
}

pub fn rlimit_resource(t: PosixRlimitType) -> libc::c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

pub fn apply_rlimits(process: &Process) -> Result<()> {
    for r in process.rlimits().iter().flatten() {
        crate::syscalls::set_rlimit(rlimit_resource(r.typ()), r.soft(), r.hard())
            .map_err(|e| anyhow!("process.rlimits: setting {}: {e}", r.typ()))?;
    }
    Ok(())
}

/// What `exec` takes from the container's own process where the process it is given
/// (`exec --process`) leaves it out, as runc's exec does: the capabilities (a process.json
/// without any would otherwise keep all of rrun's), the AppArmor profile and SELinux label,
/// the scheduler, the I/O priority and the CPU affinity of exec'd processes. The rest
/// (user, rlimits, no_new_privileges, ...) is the process's own, as in runc.
pub fn inherit_unset_from(process: &mut Process, container: &Process) {
    let unset = |s: &Option<String>| s.as_deref().unwrap_or_default().is_empty();
    if process.capabilities().is_none() {
        process.set_capabilities(container.capabilities().clone());
    }
    if unset(process.apparmor_profile()) {
        process.set_apparmor_profile(container.apparmor_profile().clone());
    }
    if unset(process.selinux_label()) {
        process.set_selinux_label(container.selinux_label().clone());
    }
    if process.scheduler().is_none() {
        process.set_scheduler(container.scheduler().clone());
    }
    if process.io_priority().is_none() {
        process.set_io_priority(*container.io_priority());
    }
    if process.exec_cpu_affinity().is_none() {
        process.set_exec_cpu_affinity(container.exec_cpu_affinity().clone());
    }
}

/// `linux.personality`: the execution domain the process (and `exec`'d ones) run with;
/// LINUX32 makes `uname -m` say i686. Unknown flags are refused by name.
pub fn set_personality(p: Option<&oci_spec::runtime::LinuxPersonality>) -> Result<()> {
    let Some(p) = p else {
        return Ok(());
    };
    if let Some(flag) = p.flags().iter().flatten().next() {
        bail!("linux.personality.flags: {flag:?} is not supported");
    }
    let persona = match p.domain() {
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0x0000,
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    crate::syscalls::set_personality(persona).map_err(|e| anyhow!("linux.personality: {e}"))
}

/// Switches to the container user. Supplementary groups are only set where the kernel
/// allows it (not in a user namespace whose setgroups is denied).
pub fn switch_user(process: &Process, keep_groups: bool) -> Result<()> {
    let user = process.user();
    give_stdio_to(user.uid())?;
    let groups: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
    let groups = (!keep_groups).then_some(groups.as_slice());
    crate::syscalls::set_ids(user.uid(), user.gid(), groups)
        .map_err(|e| anyhow!("switching to uid {} gid {}: {e}", user.uid(), user.gid()))
}

/// Makes the process's user the owner of its stdio (a pty above all), as runc does, so a
/// non-root process can use its terminal. /dev/null and what is already the user's are
/// left alone; EPERM (an owner outside the user namespace) and EROFS skip the fd.
fn give_stdio_to(uid: u32) -> Result<()> {
    use std::os::fd::AsFd;
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    for fd in [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()] {
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        let dev_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && st.st_rdev == nix::sys::stat::makedev(1, 3);
        if st.st_uid == uid || dev_null {
            continue;
        }
        match nix::unistd::fchown(fd, Some(nix::unistd::Uid::from_raw(uid)), None) {
            Ok(()) | Err(nix::errno::Errno::EPERM) | Err(nix::errno::Errno::EROFS) => {}
            Err(e) => bail!("changing the owner of stdio fd {fd:?} to uid {uid}: {e}"),
        }
    }
    Ok(())
}

/// The environment of the process as runc prepares it: a name given twice keeps its
/// last value, at the place of that last entry; an empty HOME counts as unset; an unset
/// HOME comes from the container's /etc/passwd (or `/`). An entry without `=`, with an
/// empty name or a NUL byte is refused, naming it.
pub fn environment(process: &Process) -> Result<Vec<String>> {
    let given: Vec<String> = process.env().clone().unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(given.len() + 1);
    let mut home_set = false;
    for entry in given.iter().rev() {
        let Some((key, value)) = entry.split_once('=') else {
            bail!("process.env: {entry:?}: invalid environment variable: missing '='");
        };
        if key.is_empty() {
            bail!("process.env: {entry:?}: invalid environment variable: name cannot be empty");
        }
        if !seen.insert(key) {
            continue;
        }
        if entry.contains('\0') {
            bail!("process.env: invalid environment variable {key:?}: contains nul byte (\\x00)");
        }
        if key == "HOME" {
            if value.is_empty() {
                continue;
            }
            home_set = true;
        }
        out.push(entry.clone());
    }
    out.reverse();
    if !home_set {
        let home = home_of(process.user().uid()).unwrap_or_else(|| "/".into());
        out.push(format!("HOME={home}"));
    }
    Ok(out)
}

fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// Finds the executable like execvp, in the PATH of the process's own environment.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        return check_executable(Path::new(arg0)).map(|_| PathBuf::from(arg0));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    bail!("exec: {arg0:?}: executable file not found in $PATH")
}

fn check_executable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        // Go's exec.LookPath, which runc's init calls, words a directory as it words a
        // file without an execute bit; engines match "permission denied" (exit code 126).
        Ok(m) if m.is_dir() || m.permissions().mode() & 0o111 == 0 => {
            bail!("exec: {:?}: permission denied", p.display().to_string())
        }
        // The kernel has the last word once the process's user and capabilities are in
        // force: [`Launch::lock_down`].
        Ok(_) => Ok(()),
        // runc's words, lowercase as Go prints errno: engines match them (Docker turns
        // "no such file or directory" into exit code 127, "permission denied" into 126).
        Err(e) => bail!(
            "exec: {:?}: stat {}: {}",
            p.display().to_string(),
            p.display(),
            errno_text(&e)
        ),
    }
}

/// An errno as Go's syscall package words it.
fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => crate::logging::errno_in_go_s_words(code),
        None => e.to_string(),
    }
}

pub fn cstrings<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(items: I) -> Result<Vec<CString>> {
    items
        .into_iter()
        .map(|s| {
            CString::new(s.as_ref())
                .map_err(|_| anyhow!("argument or environment entry contains a NUL byte"))
        })
        .collect()
}

pub fn path_cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow!("path contains a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(set: &CpuSet) -> Vec<usize> {
        (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap())
            .collect()
    }

    #[test]
    fn cpu_lists_are_read_as_the_kernel_writes_them() {
        assert_eq!(cpus(&cpu_list("0-3,7").unwrap()), [0, 1, 2, 3, 7]);
        assert_eq!(cpus(&cpu_list("1").unwrap()), [1]);
        assert!(
            cpu_list("3-1")
                .unwrap_err()
                .to_string()
                .contains("ends before")
        );
        assert!(
            cpu_list("0-5000")
                .unwrap_err()
                .to_string()
                .contains("CPU 1024")
        );
        assert!(cpu_list("a").is_err());
    }

    #[test]
    fn exec_affinity_names_the_field_it_cannot_read() {
        let process: Process = serde_json::from_value(serde_json::json!({
            "cwd": "/", "user": {"uid": 0, "gid": 0},
            "execCPUAffinity": {"initial": "0", "final": "2-1"}
        }))
        .unwrap();
        let err = format!("{:#}", ExecAffinity::of(&process).unwrap_err());
        assert!(err.starts_with("process.execCPUAffinity.final: "), "{err}");
        let process: Process =
            serde_json::from_value(serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}}))
                .unwrap();
        assert_eq!(ExecAffinity::of(&process).unwrap(), ExecAffinity::default());
    }

    #[test]
    fn finds_in_path_and_reports_missing() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(find_executable("sh", &env).unwrap().ends_with("sh"));
        let err = find_executable("no-such-cmd", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "exec: \"no-such-cmd\": executable file not found in $PATH"
        );
        assert!(find_executable("sh", &[]).is_err(), "no PATH, no lookup");
        assert_eq!(
            find_executable("/bin", &env).unwrap_err().to_string(),
            "exec: \"/bin\": permission denied",
            "a directory is worded as Go's exec.LookPath words it"
        );
    }
}
