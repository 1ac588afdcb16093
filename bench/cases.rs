//! The functions both harnesses measure: the criterion benchmark
//! (`benches/resilience.rs`) and the instruction counter
//! (`src/bin/per_call.rs`). A module each includes, not a library: a
//! body must be inlinable into the loop that calls it, as it is when the
//! function and its caller share a crate.

use std::hint::black_box;
use std::time::Duration;

use resilient::{
    Bulkhead, BulkheadFull, CircuitBreaker, CircuitOpen, KeyedBreaker, RateLimited, RetryBudget,
    bulkhead, circuit_breaker, fallback, hedge, rate_limit, retry, timeout,
};

#[derive(Debug)]
pub struct Error;

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Error
    }
}

impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Error
    }
}

impl From<RateLimited> for Error {
    fn from(_: RateLimited) -> Self {
        Error
    }
}

impl From<resilient::Elapsed> for Error {
    fn from(_: resilient::Elapsed) -> Self {
        Error
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

// tower's hedge needs a `BoxError`-able error.
impl std::error::Error for Error {}

/// The call every case makes: trivial, so wrappers show.
#[inline(never)]
pub async fn direct(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

#[retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full)]
pub async fn with_retry(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// The default budget: 10 s, 10 a second, 20 %.
pub static BUDGET: RetryBudget = RetryBudget::builder().build();

/// `with_retry` under a budget: a success deposits (a clock read and a
/// compare-and-swap).
#[retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full, budget = BUDGET)]
pub async fn with_retry_budget(x: u64) -> Result<u64, Error> {
    direct(x).await
}

pub static STACK_BREAKER: CircuitBreaker = CircuitBreaker::builder().name("bench-stack").build();

#[fallback(default)]
#[retry(attempts = 3)]
#[circuit_breaker(shared = STACK_BREAKER)]
pub async fn with_stack(x: u64) -> Result<u64, Error> {
    direct(x).await
}

pub static STACK_TIMEOUT_BREAKER: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-stack-timeout")
    .build();

#[fallback(default)]
#[retry(attempts = 3)]
#[circuit_breaker(shared = STACK_TIMEOUT_BREAKER)]
#[timeout("2s")]
pub async fn with_stack_and_timeout(x: u64) -> Result<u64, Error> {
    direct(x).await
}

pub static CONSECUTIVE: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-consecutive")
    .failures(5)
    .build();
pub static RATE: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-rate")
    .failure_rate(0.5)
    .window(100)
    .build();
pub static OPEN: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-open")
    .failures(1)
    .reset(Duration::from_secs(3600))
    .build();

#[circuit_breaker(shared = CONSECUTIVE)]
pub async fn with_breaker(x: u64) -> Result<u64, Error> {
    direct(x).await
}

#[circuit_breaker(shared = RATE)]
pub async fn with_rate_breaker(x: u64) -> Result<u64, Error> {
    direct(x).await
}

#[circuit_breaker(shared = OPEN)]
pub async fn through_open_breaker(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// One breaker per host: a known key is a lookup in the keyed breaker's
/// set and a reference count on the key's breaker.
pub static HOSTS: KeyedBreaker = KeyedBreaker::builder()
    .name("bench-hosts")
    .failures(5)
    .build();

/// The hosts the keyed cases spread their calls over.
pub const HOST_NAMES: [&str; 4] = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"];

#[circuit_breaker(key = host, shared = HOSTS)]
pub async fn with_keyed_breaker(host: &str, x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// [`with_keyed_breaker`] on call `i`'s host.
pub async fn keyed_call(i: u64) -> Result<u64, Error> {
    with_keyed_breaker(HOST_NAMES[(i % 4) as usize], i).await
}

/// A bulkhead with room: a place taken and given back per call.
pub static ROOMY: Bulkhead = Bulkhead::builder().name("bench-bulkhead").max(64).build();

#[bulkhead(shared = ROOMY)]
pub async fn with_bulkhead(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// A hedge whose first attempt answers at its first poll: no copy, no
/// timer.
#[hedge(after = "50ms")]
pub async fn with_hedge(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// [`direct`] after yielding once to the runtime, as a remote call is
/// pending at its first poll: what a hedge pays on a real success path
/// (its timer armed, then dropped).
#[inline(never)]
pub async fn yielding(x: u64) -> Result<u64, Error> {
    tokio::task::yield_now().await;
    direct(x).await
}

#[hedge(after = "50ms")]
pub async fn with_hedge_yielding(x: u64) -> Result<u64, Error> {
    yielding(x).await
}

/// A rate limit far above the loop's pace: a clock read and a
/// compare-and-swap per call.
#[rate_limit(rate = 1000000000, per = "1s", name = "bench-rate")]
pub async fn with_rate_limit(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// The same trivial body, written so the compiler may inline it (as it does
/// most small bodies in real code), with a plain function beside it: what
/// a wrapper costs when the body's own cost does not hide it.
pub async fn plain(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

#[retry(attempts = 3)]
pub async fn plain_retry(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

pub static INLINE_BUDGET: RetryBudget = RetryBudget::builder().build();

#[retry(attempts = 3, budget = INLINE_BUDGET)]
pub async fn plain_retry_budget(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

pub static INLINE_BREAKER: CircuitBreaker = CircuitBreaker::builder().name("bench-inline").build();

#[circuit_breaker(shared = INLINE_BREAKER)]
pub async fn plain_breaker(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

pub static INLINE_STACK: CircuitBreaker =
    CircuitBreaker::builder().name("bench-inline-stack").build();

#[fallback(default)]
#[retry(attempts = 3)]
#[circuit_breaker(shared = INLINE_STACK)]
pub async fn plain_stack(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

pub static INLINE_HOSTS: KeyedBreaker = KeyedBreaker::builder()
    .name("bench-inline-hosts")
    .build();

#[circuit_breaker(key = host, shared = INLINE_HOSTS)]
pub async fn plain_keyed_breaker(host: &str, x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

/// [`plain_keyed_breaker`] on call `i`'s host.
pub async fn plain_keyed_call(i: u64) -> Result<u64, Error> {
    plain_keyed_breaker(HOST_NAMES[(i % 4) as usize], i).await
}

pub static INLINE_ROOMY: Bulkhead = Bulkhead::builder()
    .name("bench-inline-bulkhead")
    .max(64)
    .build();

#[bulkhead(shared = INLINE_ROOMY)]
pub async fn plain_bulkhead(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

#[hedge(after = "50ms")]
pub async fn plain_hedge(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}
