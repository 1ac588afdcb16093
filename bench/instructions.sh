#!/usr/bin/env bash
# Instructions per call of each case in `cases.rs`, counted by callgrind
# (Debian's valgrind package): the same program run for 1 000 and for
# 21 000 calls, (count at 21 000 - count at 1 000) / 20 000, so start-up
# and the first call's registration cancel out. Repeatable to the
# instruction for one binary, whatever else the machine is doing.
#
#   bench/instructions.sh [case ...]      (default: every case)
#   FEATURES=metrics bench/instructions.sh ...   (with resilient's features)
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build -q --release --bin per_call ${FEATURES:+--features "$FEATURES"}
bin=target/release/per_call
count() { # case, calls
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        awk '/Collected/ { print $NF }'
}
if [ "$#" -eq 0 ]; then
    set -- "direct" "retry" "retry+budget" "stack" "stack+timeout" "breaker" "breaker, failure rate" \
        "keyed breaker" "bulkhead" "rate limit" "hedge" "yielding" "hedge, yielding" "open rejection" "plain, inlinable" "retry, inlinable" \
        "retry+budget, inlinable" "breaker, inlinable" "keyed breaker, inlinable" \
        "bulkhead, inlinable" "hedge, inlinable" "stack, inlinable"
fi
printf '%-24s %s\n' case "instructions per call"
for case in "$@"; do
    short=$(count "$case" 1000)
    long=$(count "$case" 21000)
    printf '%-24s %s\n' "$case" "$(( (long - short) / 20000 ))"
done
