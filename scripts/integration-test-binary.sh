#!/usr/bin/env bash
# Builds the integration test binary as `cargo test` does and prints its path (the guest
# scripts copy it: it has rrun's debug build path compiled in).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -q --no-run --test integration --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "integration" and m.get("executable"):
        print(m["executable"])' | tail -1
