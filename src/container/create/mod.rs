//! `create`, parent side: validate the bundle, reserve the id, clone init into its
//! namespaces, give it ids, oom score and cgroup, wait until it has built the container,
//! and record it. On any failure everything made so far is undone.

use crate::cgroups::{self, CgroupDriver};
use crate::config;
use crate::init::{
    self, InitArgs, MountSourcesFrom,
    handshake::{self, Message},
};
use crate::namespaces;
use crate::state::{self, ContainerRecord, EXEC_FIFO, Store};
use crate::syscalls::CloneResult;
use anyhow::{Context, Result, anyhow, bail};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

mod beside;
mod plan;
mod record;

use beside::{
    apply_limits, place_in_cgroup, send_cgroup_tree, send_mount_sources, send_seal,
    set_up_from_outside, wait_until_built,
};
use plan::{Plan, Split};
pub use record::write_pid_file;
use record::{early_record, record_created, with_init};
pub(super) use record::{missing_parents, new_record};

/// runc's words for an init the OOM killer ended in its cgroups while it built the
/// container (`worded_as_an_oom_kill`).
const INIT_OOM_KILLED: &str = "container init was OOM-killed (memory limit too low?)";

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// `--pidfd-socket`: where the init's pidfd goes (`pidfd_socket`).
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// `run` in the foreground: rrun itself receives the pty master.
    pub foreground: bool,
    /// `--systemd-cgroup`: the container goes into a systemd unit.
    pub systemd_cgroup: bool,
    /// `--rootless` as decided for this caller: cgroups it may not write are skipped
    /// (see rootless).
    pub rootless_cgroups: bool,
}

pub struct Created {
    pub pid: i32,
    /// The new container, its lock still held: `run` starts it without a second lookup,
    /// and no other command acts on it in between (as nothing could while it was created).
    pub container: state::LockedContainer,
    /// The pty master, when rrun holds the terminal itself (`run` without a console socket).
    pub console: Option<OwnedFd>,
    /// What is best let go once the init has exec'd the container's process.
    pub until_exec: UntilExec,
    /// The init execs without waiting for `start` (`run` in the foreground with no
    /// poststart hook): only the exec fifo is left for `run` to remove.
    pub started: bool,
}

/// What `run` holds until the init has exec'd: the sealed view the init moved onto, where
/// it sealed itself. The end of the view's overlayfs mount, and of its superblock with the
/// last reference to the view, each wait for an RCU grace period: made to wait while the
/// init still runs from the view, the init's exec would wait for one instead; once the
/// process runs, they take rrun's idle time while it waits for the container, off the
/// container's start and off rrun's end.
pub struct UntilExec {
    /// The parent's end of the handshake: the init's end is close-on-exec, so this one
    /// hangs up once the init has exec'd (or died), its old memory gone.
    pub channel: handshake::Channel,
    pub sealed_view: Option<crate::selfexe::SealedView>,
}

/// Undoes a partial create when dropped before `disarm`.
#[derive(Default)]
struct Rollback {
    dir: Option<PathBuf>,
    pid: Option<i32>,
    cgroup: Option<Box<dyn CgroupDriver>>,
    /// The cgroup made before the clone, while `cgroup` does not own it yet: the
    /// container's paths and the parents made for them, as recorded.
    cgroup_before_clone: Option<(Vec<PathBuf>, Vec<PathBuf>)>,
    /// The rootfs and the mount its bind goes on, where the init mounts in the caller's
    /// mount namespace.
    rootfs_bind: Option<(PathBuf, u64)>,
}

impl Rollback {
    fn disarm(&mut self) {
        self.dir = None;
        self.pid = None;
        self.cgroup = None;
        self.cgroup_before_clone = None;
        self.rootfs_bind = None;
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(cg) = &self.cgroup {
            cgroups::thaw(&cg.paths());
        }
        if let Some(pid) = self.pid {
            super::kill_child_and_reap(pid);
        }
        if let Some((rootfs, below)) = &self.rootfs_bind {
            crate::rootfs::detach_rootfs_bind(rootfs, *below);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        } else if let Some((paths, parents)) = &self.cgroup_before_clone {
            let _ = cgroups::from_paths(paths.clone(), None, false).destroy();
            cgroups::remove_made_dirs(parents);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Creates the container in phases, each a method of [`Creation`] below: what is made
/// before the clone, the clone, the record, rrun's part beside the init's until "limitsset"
/// and the cgroup tree, then "created" and the wait for "ready" (the handshake's diagram
/// is in init/handshake.rs). Any failure undoes what was made (`Rollback`).
pub fn create(store: &Store, opts: &CreateOptions) -> Result<Created> {
    state::validate_id(&opts.id)?;
    let seals_in_place = seal_before_reading(store)?;
    let (bundle, preserve_fds) = load_bundle(store, opts)?;
    let plan = Plan::check(store, opts, &bundle)?;
    // Connected before anything is made: a socket nobody listens on fails the create clean.
    let pidfd_socket = (opts.pidfd_socket.as_deref())
        .map(crate::pidfd_socket::connect)
        .transpose()?;
    let init_seals = move_onto_sealed_view_or_leave_it_to_init(store, &plan, seals_in_place)?;
    let mut creation = Creation {
        store,
        opts,
        bundle: &bundle,
        split: Split::decide(opts, &plan, &bundle, init_seals),
        fifo: store.dir(&opts.id).join(EXEC_FIFO),
        preserve_fds,
        rollback: Rollback::default(),
    };
    let made = creation.make_before_clone(&plan)?;
    let init = creation.clone_init(&plan, made)?;
    let (dir, lock, mut record) =
        creation.record_init(&plan, init.reserved, init.record, init.pid)?;
    let console = creation
        .set_up_beside_init(
            plan,
            &record,
            init.pid,
            init.detached_sources,
            &init.channel,
        )
        .and_then(|()| {
            creation.record_created_and_wait(
                &dir,
                &mut record,
                init.pid,
                &init.channel,
                init.console,
            )
        })
        .map_err(|e| creation.worded_as_an_oom_kill(e))?;
    if let Some(socket) = &pidfd_socket {
        crate::pidfd_socket::send(socket, init.pid, crate::pidfd_socket::STANDARD)?;
    }
    creation.rollback.disarm();
    Ok(Created {
        pid: init.pid,
        container: state::LockedContainer::holding(dir, record, lock),
        console,
        until_exec: UntilExec {
            channel: init.channel,
            sealed_view: init.sealed_view,
        },
        started: creation.split.start_at_once,
    })
}

/// Where sealing may re-execute rrun, before anything is read (the sealed process reads it
/// all again): usually main did it already (commands::seal_before_parsing), and this finds
/// rrun sealed. Returns whether rrun can seal in place instead, where the plan decides who
/// does ([`move_onto_sealed_view_or_leave_it_to_init`]).
fn seal_before_reading(store: &Store) -> Result<bool> {
    let seals_in_place =
        !crate::rootless::euid_is_rootless() && crate::selfexe::can_seal_in_place();
    if !seals_in_place {
        crate::selfexe::seal_unless_out_of_reach(store.root()?)?;
    }
    Ok(seals_in_place)
}

/// The bundle, with the container's share of rrun's environment: the sockets of systemd's
/// socket activation (counted into the fds preserved, returned) and the notify socket.
fn load_bundle(store: &Store, opts: &CreateOptions) -> Result<(config::Bundle, u32)> {
    let mut bundle = config::load_bundle(&opts.bundle)?;
    let preserve_fds = opts.preserve_fds + socket_activation(&mut bundle.spec);
    if super::notify::host_socket().is_some() {
        super::notify::setup_spec(&mut bundle.spec, &store.dir(&opts.id))?;
    }
    Ok((bundle, preserve_fds))
}

/// The init is a clone of this process: whoever runs from a sealed view before the clone
/// passes it on. Where it can, the init moves onto the view itself, first thing after its
/// namespaces, on its own CPU (as runc's parent is not sealed, only its init): rrun makes
/// the view after the clone, beside the init's namespaces, and sends it over (returns
/// true). In a user namespace of its own (its ids mapped only later) or joining one, rrun
/// moves onto it here.
fn move_onto_sealed_view_or_leave_it_to_init(
    store: &Store,
    plan: &Plan,
    seals_in_place: bool,
) -> Result<bool> {
    let needs_seal = seals_in_place && !crate::selfexe::running_sealed();
    if needs_seal && plan.namespaces.user_ns {
        // Closed before the clone: the init inherits the sealed mappings, no fd.
        crate::selfexe::move_onto(&crate::selfexe::sealed_view(store.root()?)?)?;
    }
    Ok(needs_seal && !plan.namespaces.user_ns)
}

/// A create under way: what every phase reads, and the rollback of what they made.
struct Creation<'a> {
    store: &'a Store,
    opts: &'a CreateOptions,
    bundle: &'a config::Bundle,
    split: Split,
    fifo: PathBuf,
    preserve_fds: u32,
    rollback: Rollback,
}

/// What is made before the clone: the init takes its ends, rrun keeps the rest.
struct BeforeClone {
    reserved: Option<(PathBuf, state::Lock)>,
    /// The `creating` record, written before the clone into a cgroup.
    record: Option<ContainerRecord>,
    console_child: Option<OwnedFd>,
    console_parent: Option<OwnedFd>,
    seccomp_listener: Option<(OwnedFd, serde_json::Value)>,
    parent_end: handshake::Channel,
    child_end: handshake::Channel,
    detached_sources: Vec<Option<OwnedFd>>,
    clone_target: Option<OwnedFd>,
    /// The pid and time namespaces entered for the clone; rrun's own restored right
    /// after it.
    for_the_clone: namespaces::ForTheClone,
}

/// rrun's side of the cloned init.
struct ClonedInit {
    pid: i32,
    channel: handshake::Channel,
    /// The pty master's socket, where rrun holds the terminal itself.
    console: Option<OwnedFd>,
    detached_sources: Vec<Option<OwnedFd>>,
    reserved: Option<(PathBuf, state::Lock)>,
    record: Option<ContainerRecord>,
    /// The view the init moves onto, held until the container's process runs
    /// (`UntilExec`).
    sealed_view: Option<crate::selfexe::SealedView>,
}

impl Creation<'_> {
    fn make_before_clone(&mut self, plan: &Plan) -> Result<BeforeClone> {
        let (opts, bundle) = (self.opts, self.bundle);
        let reserved = if self.split.reserves_before_clone {
            Some(self.reserve_state_dir(plan)?)
        } else {
            None
        };
        let (console_child, console_parent) =
            crate::tty::console_sockets(opts.console_socket.as_deref(), plan.terminal)?;
        let seccomp_listener = match &plan.seccomp {
            Some((filter, s)) if filter.uses_notify => {
                Some(connect_seccomp_listener(s, &opts.id, bundle, &bundle.spec)?)
            }
            _ => None,
        };
        let (parent_end, child_end) = handshake::pair()?;
        // Made in rrun's mount namespace, the host's, unless the init's is the place.
        let detached_sources = if self.split.mount_sources == MountSourcesFrom::TheClone {
            crate::rootfs::mount::detach(
                &mount_sources_to_detach(plan, bundle),
                mount_count(bundle),
            )?
        } else {
            Vec::new()
        };
        crate::lsm::look_at_the_hosts_lsms(bundle.spec.process().as_ref());
        let for_the_clone = namespaces::parent_prepare(&plan.namespaces, &bundle.spec)?;
        let mut record = None;
        let clone_target = match &reserved {
            Some((dir, _)) if self.split.clones_into_cgroup => {
                let early = early_record(opts, plan, bundle);
                state::save_record(dir, &early)?;
                self.rollback.cgroup_before_clone = Some((
                    early.cgroup_paths.clone(),
                    early.cgroup_parents_created.clone(),
                ));
                record = Some(early);
                Some(plan.cgroup.make_clone_target()?)
            }
            _ => None,
        };
        Ok(BeforeClone {
            reserved,
            record,
            console_child,
            console_parent,
            seccomp_listener,
            parent_end,
            child_end,
            detached_sources,
            clone_target,
            for_the_clone,
        })
    }

    /// Clones the init, which never comes back from here; in rrun, sends it the sealed view
    /// to move onto, made on rrun's CPU while the init makes its namespaces.
    fn clone_init(&mut self, plan: &Plan, made: BeforeClone) -> Result<ClonedInit> {
        // Only an init with namespaces to make before "go" has work to do beside rrun's.
        let works_beside = !plan.namespaces.early_unshare.is_empty();
        let callers_cpu = works_beside.then(init::first_cpu::callers).flatten();
        let cloned = namespaces::clone_init(
            &plan.namespaces,
            &made.for_the_clone,
            made.clone_target.as_ref(),
        );
        drop(made.clone_target);
        let pid = match cloned? {
            CloneResult::Child => {
                init::first_cpu::leave(callers_cpu);
                drop(made.parent_end);
                drop(made.for_the_clone);
                // The init must not share the state lock: were this rrun killed, the init
                // would hold it until it execs, and every command on the container would
                // block. Closing this copy releases nothing (the parent's still holds the
                // lock; the child never returns, so the Flock is never dropped here).
                if let Some((_, lock)) = &made.reserved {
                    let _ = nix::unistd::close(lock.as_raw_fd());
                }
                run_init(
                    self.opts,
                    plan,
                    self.bundle,
                    &self.split,
                    InitChannels {
                        channel: made.child_end,
                        fifo: &self.fifo,
                        console_socket: made.console_child.as_ref().map(|f| f.as_raw_fd()),
                        seccomp_listener: made.seccomp_listener,
                        preserve_fds: self.preserve_fds,
                    },
                    made.detached_sources,
                )
            }
            CloneResult::Parent(pid) => pid,
        };
        self.rollback.pid = Some(pid);
        made.for_the_clone.restore()?;
        if works_beside {
            init::first_cpu::away_from_caller(nix::unistd::Pid::from_raw(pid));
        }
        drop(made.child_end);
        drop(made.console_child);
        let sealed_view = if self.split.init_seals {
            let view = crate::selfexe::sealed_view(self.store.root()?)?;
            send_seal(&view, &made.parent_end)?;
            Some(view)
        } else {
            None
        };
        let detached_sources = if self.split.mount_sources == MountSourcesFrom::RightAfterTheClone {
            let sources = mount_sources_to_detach(plan, self.bundle);
            let trees = detach_in_init_mount_ns(pid, sources, mount_count(self.bundle))?;
            send_mount_sources(&trees, &made.parent_end)?;
            trees
        } else {
            made.detached_sources
        };
        Ok(ClonedInit {
            pid,
            channel: made.parent_end,
            console: made.console_parent,
            detached_sources,
            reserved: made.reserved,
            record: made.record,
            sealed_view,
        })
    }

    /// Reserves the id where that waited for the clone, and records the init: from here on
    /// a create killed at any step leaves what `delete --force` needs to remove the init
    /// and its cgroups. The record before the clone, where there was one, names the
    /// parents missing then.
    fn record_init(
        &mut self,
        plan: &Plan,
        reserved: Option<(PathBuf, state::Lock)>,
        record_before_clone: Option<ContainerRecord>,
        pid: i32,
    ) -> Result<(PathBuf, state::Lock, ContainerRecord)> {
        let (dir, lock) = match reserved {
            Some(reserved) => reserved,
            None => self.reserve_state_dir(plan)?,
        };
        crate::logging::debug(&format!(
            "create {}: cloned init {pid} with flags {:#x}, which unshares {:#x}",
            self.opts.id,
            plan.namespaces.clone_flags.bits(),
            plan.namespaces.early_unshare.bits()
        ));
        let record =
            record_before_clone.unwrap_or_else(|| early_record(self.opts, plan, self.bundle));
        let record = with_init(record, pid)?;
        state::update_record(&dir, &record)?;
        Ok((dir, lock, record))
    }

    /// rrun's part beside the init's until the container's cgroups are done: the init set
    /// up from outside, placed in its cgroups ("go"), the limits and the loopback
    /// ("limitsset"), the `cgroup` mount where rrun builds it ("cgrouptree").
    fn set_up_beside_init(
        &mut self,
        plan: Plan,
        record: &ContainerRecord,
        pid: i32,
        detached_sources: Vec<Option<OwnedFd>>,
        channel: &handshake::Channel,
    ) -> Result<()> {
        let (opts, bundle) = (self.opts, self.bundle);
        let on_request = self.split.mount_sources == MountSourcesFrom::TheInitsRequest;
        let sources_on_request = on_request.then(|| mount_sources_to_detach(&plan, bundle));
        // From "go" on, an init in the caller's mount namespace may bind its rootfs there:
        // a failure undoes that too (not before: a duplicate id must not take the bind of
        // the container that has it).
        self.rollback.rootfs_bind = plan.rootfs_bind_on.map(|on| (bundle.rootfs.clone(), on));
        let Plan {
            namespaces: ns_plan,
            idmaps,
            cgroup,
            rootless_euid,
            ..
        } = plan;
        // Idmapped where detached by now; those detached on the init's request, then.
        let idmaps_now: &[_] = if on_request { &[] } else { &idmaps };
        set_up_from_outside(
            bundle,
            pid,
            &ns_plan,
            rootless_euid,
            idmaps_now,
            detached_sources,
        )?;
        // Owned by the rollback before anything is made, so a failure in any hierarchy
        // removes what the others already created.
        let cgroup = self.rollback.cgroup.insert(cgroup);
        let join_cgroups = place_in_cgroup(
            opts,
            pid,
            cgroup.as_ref(),
            record,
            self.split.init_joins_cgroups,
        )?;
        // The init may have failed before it reads "go" (making its namespaces).
        channel.send_unless_failed(&Message::Go { join_cgroups })?;
        // Beside the init's first steps (its joins), as runc sets them once its init is
        // running; the init waits for them before it touches a device or mounts anything,
        // and they are in place before any hook runs and before the container counts as
        // created.
        apply_limits(opts, &bundle.spec, pid, cgroup.as_ref())?;
        if !crate::net_devices::of(&bundle.spec).is_empty() {
            beside::wait_for_request(pid, channel, Message::MoveNetDevices)?;
            crate::net_devices::move_into(pid, &bundle.spec)?;
        }
        if let Some(sources) = sources_on_request {
            beside::wait_for_request(pid, channel, Message::MountSourcesPlease)?;
            let trees = detach_in_init_mount_ns(pid, sources, mount_count(bundle))?;
            crate::rootfs::idmap::apply(&idmaps, &trees, pid, &bundle.spec)?;
            send_mount_sources(&trees, channel)?;
        }
        // Where the init made a network namespace before "go", and rrun may enter it.
        let new_net = nix::sched::CloneFlags::CLONE_NEWNET;
        let loopback_up = ns_plan.early_unshare.contains(new_net)
            && !rootless_euid
            && namespaces::loopback_up_from_outside(pid)?;
        channel.send_unless_failed(&Message::LimitsSet { loopback_up })?;
        if let Some(mount) = &self.split.cgroup_mount {
            send_cgroup_tree(mount, &cgroup.paths(), channel)?;
        }
        Ok(())
    }

    /// A failure while the init is in its cgroups, worded as runc words it where the
    /// kernel's OOM killer struck in them: whatever step noticed (the init's end, a
    /// hung-up channel), the cause is most likely a memory limit below what the init
    /// needs, which the step's own words don't say. Read before the rollback removes the
    /// cgroups. The step's error follows with `--debug`, as with runc.
    fn worded_as_an_oom_kill(&self, error: anyhow::Error) -> anyhow::Error {
        let oom_killed = (self.rollback.cgroup.as_deref()).is_some_and(|cg| cg.oom_count() > 0);
        if !oom_killed {
            return error;
        }
        if crate::logging::debug_enabled() {
            error.context(INIT_OOM_KILLED)
        } else {
            anyhow!(INIT_OOM_KILLED)
        }
    }

    /// Records the container created, while the init builds or once it is built
    /// ([`Split::records_while_building`]), and waits for "ready"; returns the pty master
    /// where rrun holds the terminal.
    fn record_created_and_wait(
        &self,
        dir: &Path,
        record: &mut ContainerRecord,
        pid: i32,
        channel: &handshake::Channel,
        console: Option<OwnedFd>,
    ) -> Result<Option<OwnedFd>> {
        let (opts, split) = (self.opts, &self.split);
        let cgroup = self.rollback.cgroup.as_deref();
        let record_now = |record: &mut ContainerRecord| {
            record_created(opts, dir, record, cgroup, pid, channel, split.start_at_once)
        };
        if split.records_while_building {
            record_now(record)?;
        }
        wait_until_built(opts, self.bundle, pid, channel, &record.cgroup_paths)?;
        let console = match console {
            Some(sock) => Some(crate::tty::recv_console(sock.as_raw_fd())?),
            None => None,
        };
        crate::logging::debug(&format!("create {}: container built", opts.id));
        if !split.records_while_building {
            record_now(record)?;
        }
        Ok(console)
    }

    /// Reserves the id: the container's state directory, locked (held to the end of
    /// create: other commands on the id wait for it or see it creating), with the exec
    /// fifo the init waits on. A duplicate id fails here with nothing of the other
    /// container touched: the rollback owns the directory only once it is made.
    fn reserve_state_dir(&mut self, plan: &Plan) -> Result<(PathBuf, state::Lock)> {
        let dir = self.store.reserve(&self.opts.id)?;
        self.rollback.dir = Some(dir.clone());
        let lock = state::lock_dir(&dir)?;
        make_notify_dir(&dir)?;
        // After the id is reserved, as in runc: a duplicate id is named as such first.
        cgroups::check_unused(plan.cgroup.as_ref())?;
        nix::unistd::mkfifo(&self.fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
            .map_err(|e| anyhow!("creating {}: {e}", self.fifo.display()))?;
        Ok((dir, lock))
    }
}

/// The notify socket's directory in the state dir, when a host socket is to be proxied.
fn make_notify_dir(dir: &Path) -> Result<()> {
    if super::notify::host_socket().is_some() {
        let notify = dir.join("notify");
        std::fs::create_dir(&notify).with_context(|| format!("creating {}", notify.display()))?;
    }
    Ok(())
}

/// Bind and idmapped-mount sources rrun detaches for the init: the init of a new user
/// namespace may not reach them, and an idmapped mount is made on a detached tree.
/// Detaching needs privilege over the host's mounts: an ordinary user binds its own files,
/// which it reaches from the namespace anyway.
fn mount_sources_to_detach(
    plan: &Plan,
    bundle: &config::Bundle,
) -> Vec<crate::rootfs::mount::SourceToDetach> {
    let spec = &bundle.spec;
    let mut sources = if plan.namespaces.new_user && !plan.rootless_euid {
        crate::rootfs::mount::bind_sources_to_detach(
            spec.mounts().as_deref().unwrap_or(&[]),
            &bundle.dir,
            &bundle.rootfs,
        )
    } else {
        Vec::new()
    };
    crate::rootfs::idmap::add_sources_to_detach(&plan.idmaps, spec, &bundle.dir, &mut sources);
    sources
}

/// The trees of [`mount_sources_to_detach`] made from inside the init's mount namespace
/// (`Split::mount_sources`, in a user namespace), as runc's parent makes them from a
/// thread that joined it: copies of the mounts the container's namespace holds, with the
/// flags the kernel locks there (a copy made in rrun's would carry no lock, and the
/// container's root could make a read-only or nosuid host mount writable or suid again).
fn detach_in_init_mount_ns(
    pid: i32,
    sources: Vec<crate::rootfs::mount::SourceToDetach>,
    count: usize,
) -> Result<Vec<Option<OwnedFd>>> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    namespaces::in_mount_namespace_of(pid, move || crate::rootfs::mount::detach(&sources, count))?
}

/// How many mounts the config lists (the detached trees are indexed like them).
fn mount_count(bundle: &config::Bundle) -> usize {
    bundle.spec.mounts().as_ref().map_or(0, Vec::len)
}

/// What connects the init to its parent and its caller.
struct InitChannels<'a> {
    channel: handshake::Channel,
    fifo: &'a Path,
    console_socket: Option<std::os::fd::RawFd>,
    seccomp_listener: Option<(OwnedFd, serde_json::Value)>,
    preserve_fds: u32,
}

/// In the cloned child: becomes the container's init. Never returns: init execs the
/// container process or exits.
fn run_init(
    opts: &CreateOptions,
    plan: &Plan,
    bundle: &config::Bundle,
    split: &Split,
    channels: InitChannels,
    detached_sources: Vec<Option<OwnedFd>>,
) -> ! {
    let spec = &bundle.spec;
    init::run(InitArgs {
        spec,
        bundle: &bundle.dir,
        rootfs: &bundle.rootfs,
        namespaces: &plan.namespaces,
        channel: channels.channel,
        fifo: channels.fifo,
        console_socket: channels.console_socket,
        no_pivot: opts.no_pivot,
        preserve_fds: channels.preserve_fds,
        cgroup_paths: &plan.cgroup.paths(),
        own_mount_ns: plan.own_mount_ns,
        keyring: (!opts.no_new_keyring).then(|| format!("_ses.{}", opts.id)),
        // In the init, before pivot_root, /proc is still the host's: it tells the init's
        // host pid, which the createContainer/startContainer hooks must get. Made only for
        // them: the init's first steps are on the way to "go" (init::first_cpu).
        hook_state: has_init_hooks(spec)
            .then(|| super::hook_state(&opts.id, "creating", host_pid_of_self(), bundle)),
        seccomp: plan.seccomp.as_ref().map(|(f, _)| f),
        seccomp_listener: channels.seccomp_listener.map(|(sock, mut message)| {
            let pid = host_pid_of_self();
            message["pid"] = pid.into();
            message["state"]["pid"] = pid.into();
            (sock, message.to_string())
        }),
        detached_sources,
        mount_sources: split.mount_sources,
        rootless_euid: plan.rootless_euid,
        seals: split.init_seals,
        cgroup_tree_from_parent: split.cgroup_mount.is_some(),
        // `run` in the foreground blocked them before create (commands::run).
        signals_blocked: opts.foreground,
    })
}

/// Whether the init runs hooks itself: createContainer, startContainer.
fn has_init_hooks(spec: &oci_spec::runtime::Spec) -> bool {
    use crate::hooks::has;
    has(spec, |h| h.create_container()) || has(spec, |h| h.start_container())
}

/// The calling process's pid as the host's /proc sees it.
pub fn host_pid_of_self() -> i32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

/// Connects to `linux.seccomp.listenerPath` now, while the host's filesystem is in view;
/// the listener fd is sent over it just before exec, with runc's message: the container
/// process state, `listenerMetadata`, and the fd named `seccompFd`.
pub fn connect_seccomp_listener(
    s: &oci_spec::runtime::LinuxSeccomp,
    id: &str,
    bundle: &config::Bundle,
    spec: &oci_spec::runtime::Spec,
) -> Result<(OwnedFd, serde_json::Value)> {
    let Some(path) = s.listener_path() else {
        bail!("linux.seccomp.listenerPath: must be set when an action is SCMP_ACT_NOTIFY")
    };
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        anyhow!(
            "linux.seccomp.listenerPath: failed to connect with seccomp agent specified in the seccomp profile: {}: {e}",
            path.display()
        )
    })?;
    let state: serde_json::Value =
        serde_json::from_str(&super::hook_state(id, "creating", 0, bundle))?;
    let message = serde_json::json!({
        "ociVersion": spec.version(),
        "fds": ["seccompFd"],
        "pid": 0,
        "metadata": s.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    });
    Ok((OwnedFd::from(stream), message))
}

/// systemd socket activation: when rrun itself was handed LISTEN_FDS sockets (LISTEN_PID is
/// rrun's pid), they go on to the container at fds 3.., with the environment rewritten for
/// the container's process, which is pid 1 of its namespace. Returns how many.
fn socket_activation(spec: &mut oci_spec::runtime::Spec) -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n > 0 && ours)
    else {
        return 0;
    };
    if let Some(process) = spec.process_mut() {
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        env.retain(|e| {
            !e.starts_with("LISTEN_FDS=")
                && !e.starts_with("LISTEN_PID=")
                && !e.starts_with("LISTEN_FDNAMES=")
        });
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".to_string());
        if let Ok(names) = std::env::var("LISTEN_FDNAMES") {
            env.push(format!("LISTEN_FDNAMES={names}"));
        }
        process.set_env(Some(env));
    }
    n
}
