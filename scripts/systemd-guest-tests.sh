#!/bin/bash
# Runs in the systemd guest (scripts/test-systemd.sh), from the test disk's root.
# $1: v2 (integration tests, then the engine suites on rrun, and on runc if one fails) or
# v1 (integration).
set -u
mode=$1
here=$(pwd)
# The test binary runs rrun from the path cargo built it at.
rrun_path=$(cat rrun-debug-path)
mkdir -p "$(dirname "$rrun_path")"
ln -sf "$here/bin/rrun-debug" "$rrun_path"
CARGO_BUILD_TARGET=$(cat build-target)
export CARGO_BUILD_TARGET
ip link set lo up
status=0
step() {
    echo "=== $*"
    "$@" || { echo "=== FAILED: $*"; status=1; }
}
cd /tmp
# The systemd tests, the rootless ones (there with the user's own systemd instance and
# the controllers user@.service delegates), the idmapped mounts (an ext4 root here), and
# the Kubernetes pods (with the kubelet's slices in systemd::, with cgroupfs in pods::),
# checkpoint and restore (CRIU runs on the guest's kernel, not on the host's). On v1 the
# user's systemd delegates no cgroups, so of the rootless tests only the systemd one
# (runc's refusal there) differs from the host's; the idmapped mounts depend on the kernel,
# not on the cgroup layout, and ran on v2. A block device's mount under the eBPF device
# filter: the v2 initramfs guest has no loop driver nor mkfs.ext4. AppArmor is enabled
# here (this host has none): its profile confining a container and an exec.
tests=(systemd:: pods:: reliability::a_pod checkpoint::)
if [ "$mode" = v2 ]; then
    tests+=(rootless:: namespaces::idmapped_ cgroups::a_block_device_ security::the_apparmor_)
else
    tests+=(rootless::with_the_users_systemd)
fi
if [ "$mode" = v1 ]; then
    # On v1, systemd takes the blkio hierarchy as its own: when a unit with IO properties
    # comes or goes (the systemd:: tests make such units), it moves every process in blkio
    # to the root and removes the cgroups left empty, its units' or not (seen in this guest
    # for a container below the tests' cgroup, below a delegated scope, and outside every
    # unit). Containers on the cgroupfs driver lose their blkio cgroup meanwhile: CRIU's
    # restore and a pod's exec, which must put a process into it, failed on the missing
    # directory. This is why the systemd driver is the one to use where systemd runs v1.
    # So the cgroupfs tests (pods, checkpoint) run first, with no unit changing beside
    # them, and the tests that make units after.
    in_scope=checkpoint::a_container_in_a_systemd_scope
    RRUN_EXPECT_SYSTEMD=1 RRUN_EXPECT_CRIU=1 step "$here/bin/integration" --test-threads=2 \
        pods:: reliability::a_pod checkpoint:: --skip "$in_scope"
    tests=(systemd:: "$in_scope" rootless::with_the_users_systemd)
fi
RRUN_EXPECT_SYSTEMD=1 RRUN_EXPECT_CRIU=1 RRUN_EXPECT_APPARMOR=1 step "$here/bin/integration" --test-threads=2 "${tests[@]}"
if [ "$mode" = v2 ] && [ "${2:-}" != no-engines ]; then
    export ENGINE_CGROUP_DRIVER=systemd
    suites=("$here"/project/integration/engines/{containerd,podman,docker,podman-rootless}.bats)
    # Here, the checks whose outcome the systemd driver or cgroup v2 decides (a scope made,
    # stopped and made again; exec into it; limits, the unit's properties, stats, the
    # freezer; delegated cgroups for rootless Podman), CRIU and AppArmor, only here. The
    # others (a plain run's output, exit codes, tty, kill, user, read-only, capabilities,
    # env, a missing command) take the same path on either driver and run on the host
    # (`make test-engines`): under emulation the whole suites took over ten minutes.
    guest_checks='detached|pause|limits|ps and metrics|top and stats|starts again|checkpoint|AppArmor'
    step "$here"/project/integration/engines/run-suites.sh --filter "$guest_checks" "${suites[@]}"
fi
exit $status
