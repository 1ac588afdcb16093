//! Calls one case of `cases.rs` in a loop on a current-thread runtime:
//! the program `instructions.sh` runs under callgrind, to count the
//! instructions one call costs (steadier than nanoseconds on a shared VM).
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml --bin per_call -- <case> <calls>
//! ```

use std::hint::black_box;
use std::process::ExitCode;

#[path = "../../cases.rs"]
mod cases;
use cases::*;

/// Every case, by the name `instructions.sh` passes.
const CASES: [&str; 22] = [
    "direct",
    "retry",
    "retry+budget",
    "stack",
    "stack+timeout",
    "breaker",
    "breaker, failure rate",
    "keyed breaker",
    "bulkhead",
    "rate limit",
    "hedge",
    "yielding",
    "hedge, yielding",
    "open rejection",
    "plain, inlinable",
    "retry, inlinable",
    "retry+budget, inlinable",
    "breaker, inlinable",
    "keyed breaker, inlinable",
    "bulkhead, inlinable",
    "hedge, inlinable",
    "stack, inlinable",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(case), Some(Ok(calls))) = (args.next(), args.next().map(|n| n.parse::<u64>())) else {
        eprintln!(
            "usage: per_call <case> <calls>; cases: {}",
            CASES.join(", ")
        );
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    // Tripped by a failure, as in production.
    OPEN.acquire().expect("closed at first").failure();
    macro_rules! cases {
        ($($name:literal => $call:expr),* $(,)?) => {
            match case.as_str() {
                $($name => runtime.block_on(async {
                    for i in 0..calls {
                        black_box($call(i).await.ok());
                    }
                }),)*
                _ => {
                    eprintln!("unknown case {case:?}; cases: {}", CASES.join(", "));
                    return ExitCode::FAILURE;
                }
            }
        };
    }
    cases!(
        "direct" => direct,
        "retry" => with_retry,
        "retry+budget" => with_retry_budget,
        "stack" => with_stack,
        "stack+timeout" => with_stack_and_timeout,
        "breaker" => with_breaker,
        "breaker, failure rate" => with_rate_breaker,
        "keyed breaker" => keyed_call,
        "bulkhead" => with_bulkhead,
        "rate limit" => with_rate_limit,
        "hedge" => with_hedge,
        "yielding" => yielding,
        "hedge, yielding" => with_hedge_yielding,
        "open rejection" => through_open_breaker,
        "plain, inlinable" => plain,
        "retry, inlinable" => plain_retry,
        "retry+budget, inlinable" => plain_retry_budget,
        "breaker, inlinable" => plain_breaker,
        "keyed breaker, inlinable" => plain_keyed_call,
        "bulkhead, inlinable" => plain_bulkhead,
        "hedge, inlinable" => plain_hedge,
        "stack, inlinable" => plain_stack,
    );
    ExitCode::SUCCESS
}
