#!/usr/bin/env bash
# `make test-systemd`: the systemd cgroup driver where systemd is PID 1, in the Debian
# guest of scripts/systemd-guest.sh: first on pure cgroup v2 (the integration tests with
# --systemd-cgroup, then the engine suites with each engine in its systemd configuration,
# on rrun, and on runc if one fails), then on systemd's cgroup v1 layout (the integration
# tests of the driver, pods and checkpoint; scripts/systemd-guest-tests.sh has the lists).
#
# Usage: scripts/test-systemd.sh [v2|v1]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(v2 v1)

# What runs in the guest: rrun as `cargo test` builds it (the test binary has its path
# compiled in), the test binary, the release rrun for the engines, the engine suites.
cargo build -q
cargo build -q --release
test_bin=$(scripts/integration-test-binary.sh)
stage=build/systemd-guest/payload
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/project/integration" "$stage/project/target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release"
cp target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/debug/rrun "$stage/bin/rrun-debug"
cp "$test_bin" "$stage/bin/integration"
cp target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun "$stage/project/target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun"
cp -a integration/engines "$stage/project/integration/"
printf '%s\n' "$(realpath target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/debug/rrun)" > "$stage/rrun-debug-path"
# Which target the release rrun was built for: the engine suites find it by that.
printf '%s\n' "${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}" > "$stage/build-target"

failed=()
for mode in "${modes[@]}"; do
    echo "=== systemd guest, cgroup $mode"
    if ! GUEST_STAGE=$stage scripts/systemd-guest.sh --cgroup "$mode" "${SYSTEMD_GUEST_SCRIPT:-scripts/systemd-guest-tests.sh}" "$mode" ${SYSTEMD_GUEST_ARGS:-}; then
        failed+=("$mode")
    fi
done
# A failure in the first mode would scroll out of sight behind the second mode's output
# (CI shows only the end of the log): name what failed, last.
for mode in "${failed[@]}"; do
    guest_log=build/systemd-guest/guest-$mode.log
    echo "=== systemd guest, cgroup $mode: FAILED"
    grep -a -q 'SYSTEMD-GUEST-EXIT' "$guest_log" 2>/dev/null ||
        echo "  the guest's tests did not finish (it was stopped, or did not boot: see its console log, build/systemd-guest/console-$mode.log)"
    grep -a -E '^=== FAILED|^not ok|^test .* FAILED$|panicked at' "$guest_log" 2>/dev/null | sed 's/^/  /' || true
done
[ ${#failed[@]} -eq 0 ]
