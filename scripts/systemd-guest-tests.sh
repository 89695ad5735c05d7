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
# checkpoint and restore (CRIU runs on the guest's kernel, not on the host's).
RRUN_EXPECT_SYSTEMD=1 RRUN_EXPECT_CRIU=1 step "$here/bin/integration" --test-threads=2 systemd:: rootless:: namespaces::idmapped_ pods:: reliability::a_pod checkpoint::
if [ "$mode" = v2 ] && [ "${2:-}" != no-engines ]; then
    export ENGINE_CGROUP_DRIVER=systemd
    suites=("$here"/project/integration/engines/{containerd,podman,docker,podman-rootless}.bats)
    step "$here"/project/integration/engines/run-suites.sh "${suites[@]}"
fi
exit $status
