#!/usr/bin/env bash
# `make bench`: rrun against runc and crun, side by side, interleaved, on one busybox bundle.
# crun 1.8 refuses this host's hybrid cgroup layout, so every runtime runs in the same
# private mount namespace with the cgroup2 mount removed: the same treatment for all.
set -euo pipefail
cd "$(dirname "$0")/.."
rrun=$(realpath "${1:-target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun}")
for pkg in runc crun time; do
    dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"; }
done
unshare -m bash -c 'mount --make-rprivate / && { umount /sys/fs/cgroup/unified 2>/dev/null || true; } && exec python3 bench/bench.py "$@"' bench "$rrun"
# The systemd column, from the systemd guest (BENCH_SYSTEMD=0 leaves it out).
if [ "${BENCH_SYSTEMD:-1}" != 0 ]; then
    echo
    bench/systemd-guest.sh "$rrun"
fi
