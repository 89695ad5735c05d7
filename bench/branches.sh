#!/usr/bin/env bash
# Which of create's two branches before "go" is the longer: rrun's (the id, the record, the
# cgroups) or the init's (its namespaces). A `run` waits for the longer one, so only work
# taken off that one shortens it (docs/performance.md, 2026-12-05, 11:00).
#
#   bench/branches.sh [RRUN] [RUNS]
#
# Only the clone, the `sendto`s (rrun's "go", the init's "ready") and the `recvfrom`s (the
# init's wait for "go") are traced, as perf tracepoints: the calls in between keep their
# speed. A full syscall trace adds ~1.5 us to each call and makes the branch with more
# calls, rrun's, look the longer. Runs RUNS (60) back-to-back `run`s of /bin/true on the
# bench's bundle, in the bench's mount namespace (run.sh: no cgroup2 mount).
set -euo pipefail
cd "$(dirname "$0")/.."
rrun=$(realpath "${1:-target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun}")
runs=${2:-60}
command -v perf >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/make-bundle.sh "$work/bundle" "$rrun" /bin/true
mkdir "$work/root"
unshare -m bash -c '
    mount --make-rprivate / && { umount /sys/fs/cgroup/unified 2>/dev/null || true; }
    rrun=$1 work=$2 runs=$3
    # The state root on a tmpfs, as in bench.py (state_roots says why).
    mount -t tmpfs -o mode=0711 rrun-branches "$work/root"
    for i in 1 2 3 4 5; do "$rrun" --root "$work/root" run --bundle "$work/bundle" "warm$i"; done
    perf record -q -o "$work/perf.data" \
        -e syscalls:sys_exit_clone -e syscalls:sys_exit_clone3 \
        -e syscalls:sys_enter_sendto -e syscalls:sys_enter_recvfrom \
        -e sched:sched_process_exec -- \
        bash -c "for i in \$(seq $runs); do \"$rrun\" --root \"$work/root\" run --bundle \"$work/bundle\" c\$i; done"
' branches "$rrun" "$work" "$runs" >/dev/null
perf script -i "$work/perf.data" -F comm,tid,time,event 2>/dev/null | python3 -c '
import re, statistics, sys
name = sys.argv[1]
runs, run = [], None
for line in sys.stdin:
    m = re.match(r"\s*(\S+)\s+(\d+)\s+([\d.]+):\s+(\S+):", line)
    if not m:
        continue
    comm, tid, t, event = m.group(1), int(m.group(2)), float(m.group(3)) * 1e6, m.group(4)
    if event == "sched:sched_process_exec" and comm == name:
        run = {"start": t, "rrun": tid, "events": []}
        runs.append(run)
    elif run:
        run["events"].append((t, tid, event))
rows = []
for r in runs:
    ev = r["events"]
    clone = next((t for t, tid, e in ev if tid == r["rrun"] and e.startswith("syscalls:sys_exit_clone")), None)
    # The first sendto of the init is "ready"; "go" is the last sendto of rrun before it
    # (a "seal" may come first), and the wait of the init for "go" its last peek before
    # it (each message is read with a recvfrom pair: a peek, then the read).
    told = next((t for t, tid, e in ev if tid != r["rrun"] and e.endswith("enter_sendto") and clone and t > clone), None)
    sends = [t for t, tid, e in ev if tid == r["rrun"] and e.endswith("enter_sendto") and clone and told and clone < t < told]
    reads = [t for t, tid, e in ev if tid != r["rrun"] and e.endswith("enter_recvfrom") and clone and told and clone < t < told]
    go = sends[-1] if sends else None
    ready = reads[-2] if len(reads) >= 2 else None
    if None not in (clone, go, ready):
        rows.append((clone - r["start"], go - clone, ready - clone))
if not rows:
    sys.exit("no run with a clone, a \"go\" and a wait for it was traced")
med = lambda i: statistics.median(x[i] for x in rows)
later = sum(x[2] > x[1] for x in rows)
print(f"{len(rows)} runs, medians in us after rrun starts: the clone at {med(0):.0f}")
print(f"  rrun sends \"go\" {med(1):.0f} us after the clone; the init waits for it {med(2):.0f} us after the clone")
print(f"  the init is the later branch in {later} of {len(rows)} runs, by {statistics.median(x[2] - x[1] for x in rows):.0f} us at the median (negative: rrun is)")
print(f"  both ready (the later of the two) {statistics.median(x[0] + max(x[1], x[2]) for x in rows):.0f} us after rrun starts")
' "$(basename "$rrun")"
