#!/usr/bin/env bash
# Runs the engine suites on rrun. When a test fails, the same suites run again on runc, so
# that each failure is told apart: rrun's (it passes on runc) or the test's or the host's
# (it fails on runc too). A green run on rrun needs no reference run, and skipping it keeps
# CI's time in bounds; ENGINE_REFERENCE=always runs it anyway.
#
# Usage: integration/engines/run-suites.sh [--filter REGEX] SUITE.bats...
#   (exit 0 only when rrun passed; --filter: only the tests whose names match, as bats's)
set -u
filter=()
if [ "${1:-}" = --filter ] && [ $# -ge 2 ]; then
    filter=(--filter "$2")
    shift 2
fi
[ $# -ge 1 ] || { echo "usage: $0 [--filter REGEX] SUITE.bats..." >&2; exit 2; }
tap_dir=$(mktemp -d)
trap 'rm -rf "$tap_dir"' EXIT

# NAME RUNTIME SUITE...: the suites with ENGINE_RUNTIME=RUNTIME (empty: the helpers'
# default, the project's release rrun), each test's time shown; keeps the TAP output;
# returns bats' status.
run_suites_on() {
    local name=$1 runtime=$2
    shift 2
    echo "=== engine suites on $name"
    if [ -n "$runtime" ]; then export ENGINE_RUNTIME=$runtime; else unset ENGINE_RUNTIME; fi
    bats --timing --print-output-on-failure "${filter[@]}" "$@" | tee "$tap_dir/$name.tap"
    return "${PIPESTATUS[0]}"
}

failed_tests() { # NAME: the names of the tests that failed in that run, a line each
    grep -a -E '^not ok [0-9]+ ' "$tap_dir/$1.tap" | sed -E 's/^not ok [0-9]+ //; s/ in [0-9]+ms$//'
}

status=0
run_suites_on rrun "" "$@" || status=1
if [ $status -eq 0 ] && [ "${ENGINE_REFERENCE:-}" != always ]; then
    exit 0
fi

runc_path=$(command -v runc) || { echo "engine suites: runc is not installed, so no reference run" >&2; exit 1; }
run_suites_on runc "$runc_path" "$@" || true
failed_on_rrun=$(failed_tests rrun)
[ -n "$failed_on_rrun" ] || exit $status
failed_on_runc=$(failed_tests runc)
# The verdict last, where the tail of a CI log shows it.
echo "=== engine suites: failed on rrun"
while IFS= read -r test_name; do
    if grep -q -F -x -- "$test_name" <<< "$failed_on_runc"; then
        echo "  $test_name (fails on runc too: the test's or the host's)"
    else
        echo "  $test_name (passes on runc: rrun's)"
    fi
done <<< "$failed_on_rrun"
exit $status
