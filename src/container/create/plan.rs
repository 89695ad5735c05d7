//! What a create decides before it makes anything: the plan checked from the config (a
//! bad one fails with nothing to undo), and how rrun and the init split the work.

use super::CreateOptions;
use crate::cgroups::{self, CgroupDriver};
use crate::config;
use crate::init::MountSourcesFrom;
use crate::namespaces;
use crate::state::Store;
use anyhow::{Result, anyhow, bail};

/// How rrun and the init share the work, decided before anything is made: both sides
/// act on it.
pub(super) struct Split {
    /// The init moves onto the sealed view rrun sends it ("seal").
    pub(super) init_seals: bool,
    /// The config's `cgroup` mount, where rrun builds it ("cgrouptree").
    pub(super) cgroup_mount: Option<CgroupMount>,
    /// An init with the host's root in the host's user namespace needs no pid written into
    /// its cgroups (see cgroups::join_self): it joins the v1 hierarchies itself after
    /// "go".
    pub(super) init_joins_cgroups: bool,
    /// Such an init is cloned straight into a cgroup v2 directory. That directory is made
    /// before the clone, so a record naming it comes first: a create killed from there on
    /// leaves what `delete --force` needs to remove it.
    pub(super) clones_into_cgroup: bool,
    /// Before "go", the init's branch (making its namespaces, the network one above all)
    /// is the longer of the two: the id is reserved beside it, after the clone, unless the
    /// record must come first, or the caller's console socket or a seccomp agent is about
    /// to be connected to (a duplicate id is refused, as runc does, before anyone outside
    /// rrun hears of the container).
    pub(super) reserves_before_clone: bool,
    /// `run` in the foreground starts the container as soon as it is built, but for a
    /// poststart hook, which waits for the exec (`container::start_process`).
    pub(super) start_at_once: bool,
    /// The container is recorded while the init builds, off the container's path: no
    /// command reads the record before this rrun lets go of the lock, and a create that
    /// fails from there on removes it. Not where the init asks for the prestart and
    /// createRuntime hooks meanwhile: they run with the container "creating", and
    /// "created" comes after them. Nor where rrun holds the terminal itself: it takes the
    /// pty master, and stops the pty turning "\n" into "\r\n" (`tty::recv_console`),
    /// before the process may write.
    pub(super) records_while_building: bool,
    /// When rrun detaches the bind and idmapped sources the init attaches: in a user
    /// namespace, from inside the init's mount namespace, and sends them ("mountsource"):
    /// copies of what the container's namespace holds, whose flags the kernel locks there
    /// (a read-only host mount stays read-only for the container's root, as runc's binds
    /// made in that namespace do).
    pub(super) mount_sources: MountSourcesFrom,
}

impl Split {
    pub(super) fn decide(
        opts: &CreateOptions,
        plan: &Plan,
        bundle: &config::Bundle,
        init_seals: bool,
    ) -> Self {
        let spec = &bundle.spec;
        let init_joins_cgroups =
            !plan.namespaces.user_ns && !plan.rootless_euid && !opts.rootless_cgroups;
        let clones_into_cgroup = init_joins_cgroups && plan.cgroup.clone_target().is_some();
        let connects_out = opts.console_socket.is_some()
            || plan.seccomp.as_ref().is_some_and(|(f, _)| f.uses_notify);
        let rrun_holds_terminal = plan.terminal && opts.console_socket.is_none();
        Split {
            init_seals,
            cgroup_mount: cgroup_mount_built_by_rrun(plan, opts, spec),
            init_joins_cgroups,
            clones_into_cgroup,
            reserves_before_clone: clones_into_cgroup || connects_out,
            start_at_once: opts.foreground && !crate::hooks::has(spec, |h| h.poststart()),
            records_while_building: !crate::hooks::has_create_hooks(spec) && !rrun_holds_terminal,
            mount_sources: if plan.namespaces.new_user && !plan.rootless_euid {
                MountSourcesFrom::RightAfterTheClone
            } else if plan.namespaces.user_join.is_some() && !plan.idmaps.is_empty() {
                MountSourcesFrom::TheInitsRequest
            } else {
                MountSourcesFrom::TheClone
            },
        }
    }
}

/// What `create` decides before it makes anything, so that a bad config fails with nothing
/// to undo.
pub(super) struct Plan<'a> {
    pub(super) terminal: bool,
    pub(super) rootless_euid: bool,
    pub(super) namespaces: namespaces::NamespacePlan,
    /// The idmapped mounts whose sources rrun detaches before the init mounts anything
    /// (those it detaches at their turn, on the init's request, are left out: see
    /// `rootfs::idmap::detached_at_its_turn`).
    pub(super) idmaps: Vec<crate::rootfs::idmap::IdmapMount>,
    /// False when the container shares the host's mount namespace (see init).
    pub(super) own_mount_ns: bool,
    /// Without a mount namespace of its own: the mount the rootfs bind will be stacked on
    /// (`rootfs::mount_holding`).
    pub(super) rootfs_bind_on: Option<u64>,
    pub(super) seccomp: Option<(crate::seccomp::Filter, &'a oci_spec::runtime::LinuxSeccomp)>,
    pub(super) cgroup: Box<dyn CgroupDriver>,
}

impl<'a> Plan<'a> {
    pub(super) fn check(
        store: &Store,
        opts: &CreateOptions,
        bundle: &'a config::Bundle,
    ) -> Result<Self> {
        let spec = &bundle.spec;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| anyhow!("process: must be set"))?;
        let terminal = process.terminal().unwrap_or(false);
        if terminal && opts.console_socket.is_none() && !opts.foreground {
            bail!("cannot allocate tty if rrun will detach without setting console socket");
        }
        if !terminal && opts.console_socket.is_some() {
            bail!("cannot use console socket if rrun will not detach or allocate tty");
        }
        // An ordinary user: runc's checks of the config, before anything is made.
        let rootless_euid = crate::rootless::euid_is_rootless();
        if rootless_euid {
            crate::rootless::check_spec(spec)?;
        }
        let joins_pid_namespace = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter().any(|n| {
                    n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_some()
                })
            });
        // Processes already in a joined pid namespace see our init before it execs, even
        // where seal_unless_out_of_reach left an ordinary user's binary alone.
        if joins_pid_namespace {
            crate::selfexe::ensure_sealed(store.root()?)?;
        }
        crate::net_devices::check(spec, rootless_euid)?;
        let ns_plan = namespaces::plan(spec)?;
        if let Some((path, userns)) = &ns_plan.user_join {
            crate::id_maps::check_joined(spec, path, userns)?;
        }
        let mut idmaps = crate::rootfs::idmap::plan(spec, rootless_euid)?;
        let mounts = spec.mounts().as_deref().unwrap_or(&[]);
        idmaps.retain(|p| {
            !crate::rootfs::idmap::detached_at_its_turn(
                &mounts[p.index],
                &bundle.dir,
                &bundle.rootfs,
            )
        });
        let new_mount_ns = nix::sched::CloneFlags::CLONE_NEWNS;
        let own_mount_ns = ns_plan.makes_new(new_mount_ns)
            || ns_plan
                .child_joins
                .iter()
                .any(|(t, _)| *t == oci_spec::runtime::LinuxNamespaceType::Mount);
        let rootfs_bind_on = match own_mount_ns {
            true => None,
            false => Some(crate::rootfs::mount_holding(&bundle.rootfs)?),
        };
        // Compiled before anything is made, so a bad profile fails the create cleanly.
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(s) => Some((crate::seccomp::compile(s)?, s)),
            None => None,
        };
        let cgroup =
            cgroups::for_container(spec, &opts.id, opts.systemd_cgroup, opts.rootless_cgroups)?;
        Ok(Plan {
            terminal,
            rootless_euid,
            namespaces: ns_plan,
            idmaps,
            own_mount_ns,
            rootfs_bind_on,
            seccomp,
            cgroup,
        })
    }
}

/// The options of the config's `cgroup` mount where rrun builds it and sends it to the
/// init (`rootfs::cgroupfs::detached_tree`): the host's root in the host's user namespace,
/// a mount namespace of the container's own and no cgroup namespace (each hierarchy is
/// then a bind of the container's directory), one `cgroup` mount. Decided before the
/// clone: both sides know whether "cgrouptree" comes.
pub(super) fn cgroup_mount_built_by_rrun(
    plan: &Plan,
    opts: &CreateOptions,
    spec: &oci_spec::runtime::Spec,
) -> Option<CgroupMount> {
    use oci_spec::runtime::LinuxNamespaceType;
    let no_cgroup_ns = !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    if !plan.own_mount_ns
        || plan.namespaces.user_ns
        || plan.rootless_euid
        || opts.rootless_cgroups
        || !no_cgroup_ns
    {
        return None;
    }
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let mut cgroup_mounts = mounts
        .iter()
        .filter(|m| m.typ().as_deref() == Some("cgroup"));
    let (Some(mount), None) = (cgroup_mounts.next(), cgroup_mounts.next()) else {
        return None;
    };
    let options = mount.options().clone().unwrap_or_default();
    let propagation = crate::rootfs::requested_propagation(spec);
    crate::rootfs::cgroupfs::can_build_detached(&options, &plan.cgroup.paths(), propagation)
        .then_some(CgroupMount {
            options,
            propagation,
        })
}

/// The config's `cgroup` mount as rrun builds it: its options, and the propagation the
/// config asks for the container's root.
pub(super) struct CgroupMount {
    pub(super) options: Vec<String>,
    pub(super) propagation: Option<libc::c_ulong>,
}
