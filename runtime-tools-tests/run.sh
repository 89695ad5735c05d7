#!/usr/bin/env bash
# Runs the opencontainers runtime-tools validation suite against rrun, one test at a time.
#
#   RUNTIME_TOOLS_DIR=/path/to/runtime-tools runtime-tools-tests/run.sh [TEST...]
#
# RUNTIME_TOOLS_DIR is a runtime-tools checkout built outside this project (`make
# runtimetest validation-executables`): this script fetches and builds nothing. Each test
# runs alone, from that directory (the tests unpack its rootfs tarball), with RUNTIME set
# to rrun and a timeout. A test passes when it exits 0, prints at least one "ok" and no
# "not ok". Prints one line per test, then "N passed, M failed"; logs go to $LOG_DIR.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
if [ -z "${RUNTIME_TOOLS_DIR:-}" ] || [ ! -x "${RUNTIME_TOOLS_DIR}/runtimetest" ]; then
    echo "runtime-tools-tests: no runtime-tools build given: set RUNTIME_TOOLS_DIR to a runtime-tools" \
         "checkout where 'make runtimetest validation-executables' has run. Nothing to do."
    exit 0
fi
rrun=${RRUN:-$project/target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun}
[ -x "$rrun" ] || { echo "runtime-tools-tests: $rrun is not built (make build)" >&2; exit 1; }
timeout_s=${TEST_TIMEOUT:-60}
log_dir=${LOG_DIR:-$project/build/runtime-tools}
mkdir -p "$log_dir"

if [ $# -gt 0 ]; then
    tests=()
    for name in "$@"; do tests+=("$RUNTIME_TOOLS_DIR/validation/$name/$name.t"); done
else
    mapfile -t tests < <(ls "$RUNTIME_TOOLS_DIR"/validation/*/*.t | sort)
fi

# The net_cls and net_prio controllers are built into most kernels but not every host
# mounts them (this one doesn't). The network tests look for them at their usual place, so
# they run in a private mount namespace where both are mounted there, as a host that uses
# them would have them. Only two empty directories appear on the host meanwhile.
needs_net_cls() {
    case "$1" in *cgroups*network*) ;; *) return 1 ;; esac
    awk '$1 == "net_cls" && $4 == 1 { found = 1 } END { exit !found }' /proc/cgroups &&
        ! mountpoint -q /sys/fs/cgroup/net_cls
}

run_with_net_cls() {
    unshare -m --propagation private sh -c '
        mount -o remount,bind,rw /sys/fs/cgroup &&
        mkdir -p /sys/fs/cgroup/net_cls /sys/fs/cgroup/net_prio &&
        mount -t cgroup -o net_cls,net_prio rrun-rt-netcls /sys/fs/cgroup/net_cls &&
        mount --bind /sys/fs/cgroup/net_cls /sys/fs/cgroup/net_prio || exit 1
        "$@"; rc=$?
        umount /sys/fs/cgroup/net_prio /sys/fs/cgroup/net_cls
        rmdir /sys/fs/cgroup/net_prio /sys/fs/cgroup/net_cls
        exit $rc' sh "$@"
}

passed=0 failed=0 silent=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .t)
    log=$log_dir/$name.log
    wrap=()
    needs_net_cls "$name" && wrap=(run_with_net_cls)
    (cd "$RUNTIME_TOOLS_DIR" && export RUNTIME=$rrun && "${wrap[@]}" timeout "$timeout_s" "$t") > "$log" 2>&1
    rc=$?
    ok=$(grep -c '^ok' "$log")
    notok=$(grep -c '^not ok' "$log")
    skip=$(grep -c '# SKIP' "$log")
    if [ "$rc" -eq 0 ] && [ "$ok" -gt 0 ] && [ "$notok" -eq 0 ]; then
        result=PASS passed=$((passed + 1))
    else
        result=FAIL failed=$((failed + 1))
    fi
    note=
    # Some tests print no TAP result at all when every check holds (poststop, the *_fail
    # ones): by the strict rule they fail, but say that nothing went wrong.
    if [ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ] && ! grep -q '"error"' "$log"; then
        note=" (no TAP assertions, no error reported)" silent=$((silent + 1))
    fi
    printf '%-36s %s ok=%d notok=%d skip=%d rc=%d%s\n' "$name" "$result" "$ok" "$notok" "$skip" "$rc" "$note"
done
echo "$passed passed, $failed failed ($silent of them printed no assertions and no error)"
