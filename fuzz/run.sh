#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (seconds, default 60 each).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain runs
# it with RUSTC_BOOTSTRAP=1 (libFuzzer needs nightly-only sanitizer flags).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
for target in $(cargo fuzz list); do
    echo "== $target (${seconds}s)"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds"
done
