//! What rrun does to the init while it builds the container: its ids and oom score from
//! outside, its cgroups and limits, the sealed view and the `cgroup` mount it sends, and
//! the wait for "ready".

use super::CreateOptions;
use super::plan::CgroupMount;
use crate::cgroups::{self, CgroupDriver};
use crate::config;
use crate::init::handshake::{self, Message};
use crate::namespaces;
use crate::state::ContainerRecord;
use anyhow::{Context, Result, anyhow, bail};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// Builds the container's `cgroup` mount and sends it ("cgrouptree"); where it can't be
/// built here (a kernel before 6.15 mounts nothing onto a detached tree), says so, and the
/// init builds it.
pub(super) fn send_cgroup_tree(
    mount: &CgroupMount,
    cgroup_paths: &[std::path::PathBuf],
    parent_end: &handshake::Channel,
) -> Result<()> {
    match crate::rootfs::cgroupfs::detached_tree(&mount.options, cgroup_paths, mount.propagation) {
        Ok(tree) => {
            use std::os::fd::AsFd;
            parent_end.send_with_fd(&Message::CgroupTree, tree.as_fd())
        }
        Err(e) => {
            crate::logging::debug(&format!("the init makes its cgroup mounts: {e:#}"));
            parent_end.send_unless_failed(&Message::CgroupTree)
        }
    }
}

/// Sends the init the sealed view and how to move onto it: read here, while the init
/// makes its namespaces (its branch before "go" is the longer), from this process's
/// mappings and memory bounds, which the clone gave the init. Where they can't be read
/// here, the init reads them itself.
pub(super) fn send_seal(
    view: &crate::selfexe::SealedView,
    parent_end: &handshake::Channel,
) -> Result<()> {
    let plan = crate::selfexe::plan_move(view)
        .inspect_err(|e| crate::logging::debug(&format!("the init plans its own seal: {e:#}")))
        .ok();
    let copy = view.is_copy();
    parent_end.send_with_fd(&Message::Seal { plan, copy }, view.file())
}

/// Sends the init the trees rrun detached from inside its mount namespace, each beside a
/// "mountsource" naming its mount, then "mountsourcessent": the init attaches these where
/// it would otherwise bind the path itself.
pub(super) fn send_mount_sources(
    trees: &[Option<OwnedFd>],
    parent_end: &handshake::Channel,
) -> Result<()> {
    use std::os::fd::AsFd;
    for (index, tree) in trees.iter().enumerate() {
        if let Some(tree) = tree {
            parent_end.send_with_fd(&Message::MountSource { index }, tree.as_fd())?;
        }
    }
    parent_end.send_unless_failed(&Message::MountSourcesSent)
}

/// What the parent does to the init from outside before it builds the container: its oom
/// score, its user namespace's id maps, the idmapped mounts (with the maps in place,
/// before the init attaches anything).
pub(super) fn set_up_from_outside(
    bundle: &config::Bundle,
    pid: i32,
    ns_plan: &namespaces::NamespacePlan,
    rootless_euid: bool,
    idmaps: &[crate::rootfs::idmap::IdmapMount],
    detached_sources: Vec<Option<OwnedFd>>,
) -> Result<()> {
    let spec = &bundle.spec;
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
            .context("process.oomScoreAdj: writing oom_score_adj")?;
    }
    if ns_plan.new_user {
        crate::id_maps::write(pid, spec, rootless_euid)?;
    }
    crate::rootfs::idmap::apply(idmaps, &detached_sources, pid, spec)
}

/// Makes the init's cgroups and moves it into them; with `init_joins_v1`, returns the v1
/// `tasks` files the init joins by itself instead. The limits come after "go"
/// ([`apply_limits`]).
pub(super) fn place_in_cgroup(
    opts: &CreateOptions,
    pid: i32,
    cgroup: &dyn CgroupDriver,
    record: &ContainerRecord,
    init_joins_v1: bool,
) -> Result<Vec<PathBuf>> {
    let entered = if init_joins_v1 {
        cgroup.enter_leaving_v1_to_process(pid)
    } else {
        cgroup.enter(pid).map(|()| Vec::new())
    };
    let join_cgroups = entered.context("unable to apply cgroup configuration")?;
    if opts.rootless_cgroups
        && record.shared_pid_ns
        && cgroup.paths().is_empty()
        && record.systemd_unit.is_none()
    {
        crate::logging::warn(
            "Creating a rootless container with no cgroup and no private pid namespace. Such configuration is strongly discouraged (as it is impossible to properly kill all container's processes) and will result in an error in a future runc version.",
        );
    }
    Ok(join_cgroups)
}

/// Writes `linux.resources` into the container's cgroups while the init builds the
/// container. The init's own steps need none of them (a new cpuset directory already has
/// its parent's cpus and mems, [`place_in_cgroup`]); off the parent's branch before "go",
/// the longer of the two (docs/performance.md, 2026-12-06, morning).
pub(super) fn apply_limits(
    opts: &CreateOptions,
    spec: &oci_spec::runtime::Spec,
    pid: i32,
    cgroup: &dyn CgroupDriver,
) -> Result<()> {
    cgroups::apply_configured(cgroup, spec)?;
    crate::logging::debug(&format!(
        "create {}: init {pid} placed in its cgroups, building the container",
        opts.id
    ));
    Ok(())
}

/// Waits for the init to report the container built, running the prestart and
/// createRuntime hooks when it asks; bounded by the init's end (end-of-file) and by a
/// watch on its cgroup (it can't make progress frozen).
pub(super) fn wait_until_built(
    opts: &CreateOptions,
    bundle: &config::Bundle,
    pid: i32,
    parent_end: &handshake::Channel,
    cgroup_paths: &[PathBuf],
) -> Result<()> {
    let not_frozen = || {
        if cgroups::frozen(cgroup_paths) {
            bail!("container's cgroup unexpectedly frozen while the container was being created");
        }
        Ok(())
    };
    loop {
        match parent_end.recv_watching(not_frozen)? {
            Some(Message::Ready) => return Ok(()),
            Some(Message::RunCreateHooks) => {
                crate::container::run_create_hooks(&opts.id, bundle, pid)?;
                parent_end.send(&Message::HooksDone)?;
            }
            Some(Message::MountSourcePlease { index }) => {
                send_source_at_its_turn(bundle, pid, index, parent_end)?;
            }
            Some(Message::Failed { message }) => bail!("{message}"),
            _ => bail!(
                "container init exited before the container was built ({})",
                reap_status(pid)
            ),
        }
    }
}

/// The init's "mountsourceplease": the source of idmapped mount `index`, detached from
/// inside the init's mount namespace (where the container's earlier mounts are by now),
/// idmapped, and sent ("mountsource"). The init asks only for the mounts whose source is
/// in the rootfs; any other index fails the create.
fn send_source_at_its_turn(
    bundle: &config::Bundle,
    pid: i32,
    index: usize,
    parent_end: &handshake::Channel,
) -> Result<()> {
    use crate::rootfs::idmap;
    let spec = &bundle.spec;
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let Some(m) =
        (mounts.get(index)).filter(|m| idmap::detached_at_its_turn(m, &bundle.dir, &bundle.rootfs))
    else {
        bail!(
            "container init asked for the source of mounts[{index}], which is not its to ask for"
        );
    };
    let mut plans = idmap::plan(spec, false)?;
    plans.retain(|p| p.index == index);
    let source = idmap::source_to_detach(index, m, &bundle.dir);
    let trees = super::detach_in_init_mount_ns(pid, vec![source], mounts.len())?;
    idmap::apply(&plans, &trees, pid, spec)?;
    let tree = trees.get(index).and_then(Option::as_ref);
    let tree = tree.ok_or_else(|| anyhow!("mounts[{index}]: its source was not detached"))?;
    use std::os::fd::AsFd;
    parent_end.send_with_fd(&Message::MountSource { index }, tree.as_fd())
}

/// Waits for the init's request `want` ("movenetdevices": its network namespace is the
/// container's; "mountsourcesplease": its mount namespace is made). An init that failed
/// or ended first fails the create, in its words.
pub(super) fn wait_for_request(
    pid: i32,
    parent_end: &handshake::Channel,
    want: Message,
) -> Result<()> {
    match parent_end.recv()? {
        Some(got) if got == want => Ok(()),
        Some(Message::Failed { message }) => bail!("{message}"),
        _ => bail!(
            "container init exited before the container was built ({})",
            reap_status(pid)
        ),
    }
}

fn reap_status(pid: i32) -> String {
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        other => format!("{other:?}"),
    }
}
