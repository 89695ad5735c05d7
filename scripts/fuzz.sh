#!/usr/bin/env bash
# `make fuzz`: libFuzzer over config.json and exec's process.json (fuzz/), SECONDS per
# target, seeded with `rrun spec`. cargo-fuzz passes nightly-only flags; RUSTC_BOOTSTRAP
# lets the stable toolchain take them. A crash fails the run and leaves the input in
# fuzz/artifacts/<target>/; the corpus grows in build/fuzz/corpus/ between runs.
# --codegen-units 16: cargo-fuzz's default of 1 made rrun's own crate take 2 min 20 s to
# build on this 2-core machine, against 50 s with 16; the targets run ~10% fewer inputs a
# second for it (17k against 20k on config_json), a good trade for a CI phase this short.
set -euo pipefail
cd "$(dirname "$0")/.."
rrun=$1 seconds=$2
corpus=build/fuzz/corpus
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p "$corpus/config_json" "$corpus/process_json" build/fuzz/seed
rm -f build/fuzz/seed/config.json
"$rrun" spec --bundle build/fuzz/seed
cp build/fuzz/seed/config.json "$corpus/config_json/spec.json"
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["process"], open(sys.argv[2], "w"))' \
    build/fuzz/seed/config.json "$corpus/process_json/process.json"
for target in config_json process_json; do
    log=build/fuzz/$target.log
    echo "fuzzing $target for ${seconds}s (log: $log)"
    # The fuzz targets are built for glibc, whose C++ library libFuzzer needs: named, since
    # cargo-fuzz's default is the target it was built for, and `cargo install` run here
    # builds it for rrun's (.cargo/config.toml: musl, which has no C++ compiler here).
    if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none --codegen-units 16 \
            --target x86_64-unknown-linux-gnu "$target" "../$corpus/$target" -- \
            -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1) >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$log"
done
