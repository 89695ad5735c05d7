#!/usr/bin/env bash
# `make demo`: builds a busybox bundle and runs a container from it with rrun.
set -euo pipefail
rrun=$(realpath "${1:-target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release/rrun}")
bundle=build/demo-bundle
scripts/make-bundle.sh "$bundle" "$rrun" sh -c 'echo "Hello from a container run by rrun!"; echo "hostname: $(hostname)"; echo "pid: $$"; echo "user: $(id)"; echo "root filesystem:"; ls /'
echo "+ rrun run --bundle $bundle demo-$$"
"$rrun" run --bundle "$bundle" "demo-$$"
