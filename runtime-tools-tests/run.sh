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
rrun=${RRUN:-$project/target/release/rrun}
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

passed=0 failed=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .t)
    log=$log_dir/$name.log
    (cd "$RUNTIME_TOOLS_DIR" && RUNTIME=$rrun timeout "$timeout_s" "$t") > "$log" 2>&1
    rc=$?
    ok=$(grep -c '^ok' "$log")
    notok=$(grep -c '^not ok' "$log")
    skip=$(grep -c '# SKIP' "$log")
    if [ "$rc" -eq 0 ] && [ "$ok" -gt 0 ] && [ "$notok" -eq 0 ]; then
        result=PASS passed=$((passed + 1))
    else
        result=FAIL failed=$((failed + 1))
    fi
    printf '%-36s %s ok=%d notok=%d skip=%d rc=%d\n' "$name" "$result" "$ok" "$notok" "$skip" "$rc"
done
echo "$passed passed, $failed failed"
