#!/usr/bin/env bash
# The systemd column of `make bench`: bench.py with --systemd-cgroup for every runtime, in
# the systemd guest of scripts/systemd-guest.sh (pure cgroup v2, systemd 252).
set -euo pipefail
cd "$(dirname "$0")/.."
rrun=$(realpath "${1:-target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun}")
stage=build/systemd-guest/bench-payload
rm -rf "$stage" && mkdir -p "$stage/project/bench" "$stage/project/scripts"
cp bench/bench.py "$stage/project/bench/"
cp scripts/make-bundle.sh "$stage/project/scripts/"
cp "$rrun" "$stage/rrun"
# BENCH_ALSO=NAME=PATH,... (another build of rrun, say) goes along, as on the host.
also=""
for extra in ${BENCH_ALSO:+${BENCH_ALSO//,/ }}; do
    mkdir -p "$stage/also"
    cp "${extra#*=}" "$stage/also/${extra%%=*}"
    also="$also${also:+,}${extra%%=*}=/mnt/t/also/${extra%%=*}"
done
cat > "$stage/bench-in-guest.sh" <<IN
cd /mnt/t/project
BENCH_ALSO=$also BENCH_SYSTEMD_MODE=1 BENCH_ROUNDS=${BENCH_SYSTEMD_ROUNDS:-5} BENCH_SEQ=${BENCH_SYSTEMD_SEQ:-20} BENCH_SYSTEMD_BLOCK=${BENCH_SYSTEMD_BLOCK:-10} python3 bench/bench.py /mnt/t/rrun
IN
GUEST_STAGE=$stage scripts/systemd-guest.sh --cgroup v2 "$stage/bench-in-guest.sh" > build/systemd-guest/bench.log 2>&1 || {
    tail -20 build/systemd-guest/bench.log >&2
    exit 1
}
sed -n '/^## systemd guest/,/SYSTEMD-GUEST-EXIT/p' build/systemd-guest/guest-v2.log | grep -v SYSTEMD-GUEST-EXIT
