#!/usr/bin/env bash
# What the attributes cost a user's build: N plain `async fn`s against the
# same N under the four-attribute stack (fallback, retry, breaker,
# timeout), each in a crate of its own that depends on this workspace.
# Prints the crate's own compile time (debug and release, without
# incremental compilation, as a clean build sees it: the best of three
# rebuilds after the dependencies are built), the cost per stacked
# function, and the size of one expansion.
#
# With --instructions, counts instead what rustc executes for the debug
# build of each crate (callgrind, from Debian's valgrind package; one
# codegen unit, so the count is one thread's and repeatable), for the
# stack and for each attribute alone: steadier than milliseconds on a
# shared machine, and it splits the cost by layer.
#
#   bench/build-cost.sh [N]                    (default 100)
#   bench/build-cost.sh --instructions [N]     (default 20)
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_INCREMENTAL=0
instructions=0
if [ "${1:-}" = --instructions ]; then
    instructions=1
    shift
fi
n="${1:-$([ "$instructions" = 1 ] && echo 20 || echo 100)}"
work="target/build-cost"
mkdir -p "$work"
root="$(cd .. && pwd)"

make_crate() { # name, attributes (one per line; none for plain fns)
    local dir="$work/$1"
    mkdir -p "$dir/src"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false
[workspace]
[dependencies]
resilient = { package = "resilient-fn", path = "$root" }
TOML
    {
        echo '#![allow(dead_code, unused_imports, clippy::all)]'
        echo 'use resilient::{circuit_breaker, fallback, retry, timeout};'
        echo '#[derive(Debug, Default)] pub struct Data(u64);'
        echo '#[derive(Debug)] pub struct ApiError;'
        echo 'impl From<resilient::CircuitOpen> for ApiError { fn from(_: resilient::CircuitOpen) -> Self { ApiError } }'
        echo 'impl From<resilient::Elapsed> for ApiError { fn from(_: resilient::Elapsed) -> Self { ApiError } }'
        echo 'async fn get(id: u64) -> Result<Data, ApiError> { if id == 0 { Err(ApiError) } else { Ok(Data(id)) } }'
        for i in $(seq 1 "$n"); do
            if [ -n "$2" ]; then echo "$2"; fi
            echo "pub async fn fetch_$i(id: u64) -> Result<Data, ApiError> { get(id + $i).await }"
        done
    } > "$dir/src/lib.rs"
}

# The crate's own compile time: the best of three rebuilds.
crate_time() { # name, profile flag
    local dir="$work/$1" best=""
    (cd "$dir" && cargo build -q $2 >/dev/null 2>&1)
    for _ in 1 2 3; do
        touch "$dir/src/lib.rs"
        local start end ms
        start=$(date +%s%N)
        (cd "$dir" && cargo build -q $2 >/dev/null 2>&1)
        end=$(date +%s%N)
        ms=$(( (end - start) / 1000000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}

retry='#[retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full)]'
breaker='#[circuit_breaker(failures = 5, reset = "60s")]'
timeout='#[timeout("2s")]'
fallback='#[fallback(default)]'
make_crate plain ""
make_crate stacked "$fallback
$retry
$breaker
$timeout"

if [ "$instructions" = 1 ]; then
    command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
    make_crate empty ""
    sed -i '/^pub async fn fetch_/d' "$work/empty/src/lib.rs"
    make_crate retry_only "$retry"
    make_crate breaker_only "$breaker"
    make_crate timeout_only "$timeout"
    make_crate fallback_only "$fallback"
    # rustc's own command line for the crate, run again under callgrind.
    count() { # name
        local dir="$work/$1" cmd
        (cd "$dir" && cargo build -q >/dev/null 2>&1)
        touch "$dir/src/lib.rs"
        cmd=$(cd "$dir" && cargo build -v 2>&1 | grep "Running .*--crate-name $1 " |
            sed 's/.*Running `//; s/`$//; s/--error-format=json --json=[^ ]*//')
        (cd "$dir" && eval valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            "$cmd" -Ccodegen-units=1 2>&1 | awk '/Collected/ { gsub(",", "", $NF); print $NF }')
    }
    empty=$(count empty)
    plain=$(count plain)
    echo "rustc, debug build, instructions per function (N = $n):"
    echo "  plain async fn: $(( (plain - empty) / n / 1000 ))k"
    for name in retry_only breaker_only timeout_only fallback_only stacked; do
        total=$(count "$name")
        echo "  $name: $(( (total - plain) / n / 1000 ))k more than a plain one"
    done
    exit 0
fi

for profile in debug release; do
    flag=""
    [ "$profile" = release ] && flag="--release"
    plain=$(crate_time plain "$flag")
    stacked=$(crate_time stacked "$flag")
    echo "$profile: $n plain fns ${plain} ms, $n stacked fns ${stacked} ms, $(( (stacked - plain) * 1000 / n )) µs per stacked fn"
done

# One stack's expansion, in lines (rustc's own pretty-printer).
lines() {
    (cd "$work/$1" && RUSTC_BOOTSTRAP=1 cargo rustc -q --lib -- -Zunpretty=expanded 2>/dev/null) | wc -l
}
plain_lines=$(lines plain)
stacked_lines=$(lines stacked)
echo "expansion: $(( (stacked_lines - plain_lines) / n )) lines per stack (rustc -Zunpretty=expanded)"
