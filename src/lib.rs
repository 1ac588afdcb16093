//! Make an `async fn` survive failure: retries with backoff and jitter that
//! respect a server's `Retry-After`, circuit breakers that fail fast while a
//! dependency is down, timeouts and fallbacks, bulkheads and rate limits
//! that keep load in bounds, and hedges that race a copy of a slow call.
//! As attributes stacked on your own `async fn` ([`#[retry]`](macro@retry),
//! [`#[circuit_breaker]`](macro@circuit_breaker),
//! [`#[timeout]`](macro@timeout), [`#[fallback]`](macro@fallback),
//! [`#[bulkhead]`](macro@bulkhead), [`#[rate_limit]`](macro@rate_limit),
//! [`#[hedge]`](macro@hedge); the top one is the outermost layer), or by
//! hand ([`retry()`], [`CircuitBreaker`], [`timeout()`], [`Bulkhead`],
//! [`RateLimiter`], [`Hedge`]).
//!
//! The package is `resilient-fn`; the library is `resilient`:
//!
//! ```toml
//! [dependencies]
//! resilient-fn = "0.1"   # then `use resilient::retry;`
//! ```
//!
//! # Retrying by hand
//!
//! ```
//! use std::time::Duration;
//! use resilient::{Backoff, Jitter, RetryPolicy, retry};
//!
//! # async fn fetch(_: u64) -> Result<String, std::io::Error> { Ok("data".into()) }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), std::io::Error> {
//! let policy = RetryPolicy::builder()
//!     .attempts(3)
//!     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(10)))
//!     .jitter(Jitter::Full)
//!     .build();
//!
//! let data = retry(&policy, || fetch(42)).await?;
//! # assert_eq!(data, "data");
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `tracing`: an event for every retry (attempt, delay, hint) and for why
//!   retrying stopped, under the target `resilient::retry`, and for every
//!   breaker state change, under `resilient::circuit_breaker`; a debug event
//!   for every call a full bulkhead turns away, under `resilient::bulkhead`;
//!   for every call a rate limiter turns away and every pause, under
//!   `resilient::rate_limit`; for every hedged copy started, under
//!   `resilient::hedge`.
//! - `http`: `retry_after::from_headers` reads `Retry-After` from an
//!   `http::HeaderMap`, measuring dates from the response's own `Date`.
//! - `metrics`: counters and gauges through the `metrics` facade
//!   (retries, breaker states, failures and refusals, timeouts, bulkhead
//!   and rate-limit rejections, pauses, hedged copies), emitted on events
//!   only; the names are in the README.
//! - `tower`: the module `tower`: `RetryLayer`, `CircuitBreakerLayer`,
//!   `TimeoutLayer`, `BulkheadLayer` and `RateLimitLayer` over the same
//!   runtime objects as the attributes.
//! - `redis`: the module `fleet`: operator overrides shared by a fleet
//!   of instances through Redis, every decision staying local.
//! - `reqwest`: the module `reqwest`: `RetryHint` for `reqwest::Error`,
//!   `HttpError` (a status with its `Retry-After`, a failed request, and
//!   the layers' rejections) and `ResponseExt::check_status`.

#![warn(missing_docs)]

pub use resilient_runtime::{
    Attempt, Backoff, BreakerKey, BreakerName, Bulkhead, BulkheadBuilder, BulkheadFull,
    BulkheadPermit, Call, CircuitBreaker, CircuitBreakerBuilder, CircuitOpen, CircuitState,
    ConfigError, Decision, Elapsed, Failure, Hedge, Jitter, KeyBuf, KeyedBreaker,
    KeyedBreakerBuilder, KeyedRateLimiter, KeyedRateLimiterBuilder, LimiterSlot, MAX_CONCURRENT,
    MAX_KEYS, MAX_WINDOW, OnCancel, OnStateChange, OpenReason, Permit, RateLimited, RateLimiter,
    RateLimiterBuilder, Retry, RetryBudget, RetryBudgetBuilder, RetryFuture, RetryHint,
    RetryPolicy, RetryPolicyBuilder, RetryState, StateChange, StopReason, Timeout, Withdrawal,
    registry, retry, retry_after, retry_with_hints, testing, timeout,
};

#[cfg(feature = "redis")]
pub use resilient_runtime::fleet;
#[cfg(feature = "reqwest")]
pub use resilient_runtime::reqwest;
#[cfg(feature = "tower")]
pub use resilient_runtime::tower;

/// Retries an `async fn` (or a plain `fn`, sleeping with
/// `std::thread::sleep`): the attribute form of [`retry()`].
///
/// Write one plain attempt; the attribute re-runs it while it fails with a
/// transient error, sleeping with backoff and jitter between attempts, and
/// returns the first success or the last error, as the function declares
/// it. `?` and `return` in the body end one *attempt*, never the whole
/// retry.
///
/// ```
/// use std::time::Duration;
/// use resilient::{RetryHint, retry};
///
/// #[derive(Debug)]
/// enum ApiError { Unavailable, RateLimited(Duration), NotFound }
///
/// impl RetryHint for ApiError {
///     fn retry_after(&self) -> Option<Duration> {
///         match self { ApiError::RateLimited(d) => Some(*d), _ => None }
///     }
///     fn is_transient(&self) -> bool {
///         !matches!(self, ApiError::NotFound)
///     }
/// }
///
/// #[retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full)]
/// async fn fetch(id: u64) -> Result<String, ApiError> {
///     if id == 0 { return Err(ApiError::NotFound) } // not transient: no retry
///     Ok(format!("item {id}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(fetch(7).await.unwrap(), "item 7");
/// assert!(matches!(fetch(0).await, Err(ApiError::NotFound)));
/// # }
/// ```
///
/// # Arguments
///
/// | key | meaning | default |
/// |---|---|---|
/// | `attempts = N` | total attempts, the first included; at least 1 | `3` |
/// | `backoff = exponential(initial = D, factor = F, max = D)` | delay `initial × factorⁿ⁻¹`, capped at `max` | `exponential(initial = "100ms", factor = 2, max = "10s")` |
/// | `backoff = fixed(D)` / `linear(initial = D, step = D, max = D)` / `none` | other schedules | |
/// | `backoff = decorrelated(initial = D, max = D)` | AWS "decorrelated jitter": each delay uniform in `[initial, 3 × previous]`, capped; takes no `jitter` | |
/// | `jitter = full \| equal \| none` | full: uniform in `[0, d]`; equal: `d/2` + uniform in `[0, d/2]`; never above `max` | `full` |
/// | `max_elapsed = D` | stop when the next sleep would end past this budget since the first attempt | none |
/// | `when = F` | `fn(&E) -> bool` (a function or a closure): retry this error? Replaces [`RetryHint::is_transient`]; hints still apply | every error (or the transient ones, if `E: RetryHint`) |
/// | `retry_after = true \| false \| F` | honour a server's hint; `F` is `fn(&E) -> Option<Duration>`, for foreign error types | `true` |
/// | `max_retry_after = D` | a longer hint stops the retries at once and returns the error | `"30s"` |
/// | `on_retry = F` | `fn(&E, &resilient::Attempt)` (a function or a closure), called before each sleep | none |
/// | `policy = EXPR` | a [`RetryPolicy`] (from configuration) instead of the schedule keys | |
/// | `budget = B` | a [`RetryBudget`] shared by every call that names it (a `static`'s path, or an expression such as `self.budget`: the budget or a reference, `Arc` or `Box` of one): each call earns a share of a retry, each retry spends one, an empty budget stops at once ([`StopReason::BudgetExhausted`]) | none |
/// | `clone(a, b)` | clone these owned arguments at the start of each attempt, for bodies that consume or change them | none |
/// | `keep(a, b)` | let these `mut` arguments carry their state from one attempt to the next (a channel receiver, a stream; `self` for `mut self`) | none |
///
/// Durations (`D`) are string literals with a unit (`"250ms"`, `"1.5s"`,
/// `"2m"`, `"1h"`; also `ns`, `us`), checked at compile time, or any
/// expression of type `Duration`, evaluated when the call starts (it may
/// use the arguments: `backoff = fixed(self.delay)`).
///
/// # Arguments are re-used, not consumed
///
/// Each attempt re-runs the body with the same arguments: borrowed ones
/// (`&self`, `&mut self`, `&mut T`) are re-borrowed, `Copy` ones copied.
/// Side effects of failed attempts on `&mut` arguments remain. A body that
/// moves an owned argument gets rustc's "value moved in previous iteration
/// of loop"; `clone(arg)` clones it per attempt instead.
///
/// A `mut` argument starts every attempt from the value the caller passed,
/// never from what an earlier attempt left in it: `async fn f(mut n: u32)`
/// whose body does `n += 1` sees `1` on every attempt. A `Copy` argument is
/// copied per attempt; any other type needs `clone(arg)`, and without it
/// the compile error at the argument says so. A handle whose state should
/// carry on (a channel receiver that each attempt reads the next message
/// from) goes in `keep(arg)`, as does `mut self` by value (or take
/// `&mut self`); a `ref mut` binding is an error unless kept. A `mut`
/// binding of a `&mut T` argument is a reference, re-borrowed as any
/// other (through a type alias for `&mut T` the macro cannot tell: keep
/// it).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use resilient::retry;
///
/// #[derive(Debug)]
/// struct Busy;
///
/// #[retry(attempts = 3, backoff = none, clone(line))]
/// async fn send(mut hops: u32, mut line: String, calls: &AtomicU32) -> Result<String, Busy> {
///     hops += 1; // 1 on every attempt
///     line.push('\n'); // one newline, whatever the attempt
///     if calls.fetch_add(1, Ordering::Relaxed) < 2 {
///         return Err(Busy);
///     }
///     Ok(format!("{hops} {line:?}"))
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = AtomicU32::new(0);
/// let sent = send(0, String::from("hi"), &calls).await.unwrap();
/// assert_eq!(sent, r#"1 "hi\n""#); // the third attempt saw the caller's values
/// # }
/// ```
///
/// One shape cannot be retried: returning a `&mut` borrowed from an
/// argument (`async fn conn(&mut self) -> Result<&mut Conn, E>`), which
/// rustc cannot return out of a loop (E0524). Return an owned value, or
/// retry the call that produces it.
///
/// # Server hints
///
/// If the error type implements [`RetryHint`], its `is_transient` and
/// `retry_after` are used; types that don't work unchanged. In a function
/// generic over `E`, write the bound `E: RetryHint` for it to be used.
///
/// # Panics
///
/// When a run-time value makes the schedule invalid (a `max` below
/// `initial`, read from `self`), with a message naming the function and the
/// setting. Configuration read at run time belongs in `policy = EXPR`,
/// validated once with [`RetryPolicyBuilder::try_build`].
///
/// After a failure that is retried after a delay, the sleep needs a tokio
/// runtime with its timer enabled (`tokio::time::sleep`): polled outside
/// one, the future panics at its first non-zero sleep, not before (a zero
/// delay only yields).
///
/// # Equivalent code without the macro
///
/// ```
/// # use resilient::{RetryPolicy, Backoff, Jitter, retry_with_hints, RetryHint};
/// # use std::time::Duration;
/// # #[derive(Debug)] struct ApiError;
/// # impl RetryHint for ApiError {}
/// # async fn fetch_once(_: u64) -> Result<String, ApiError> { Ok(String::new()) }
/// # async fn run() -> Result<String, ApiError> {
/// let policy = RetryPolicy::builder()
///     .attempts(3)
///     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(10)))
///     .jitter(Jitter::Full)
///     .build();
/// retry_with_hints(&policy, || fetch_once(7)).await
/// # }
/// ```
///
/// The attribute generates an inline loop in your function rather than a
/// closure, so the body can re-borrow `&mut self` on every attempt and the
/// future stays `Send` whenever the body's is.
///
/// # Stacking
///
/// Resilient attributes stack like Python decorators: the top one is the
/// outermost layer. A foreign attribute that wraps the body
/// (`#[tracing::instrument]`) between resilient ones splits the run and
/// follows Rust's own order (the lower attribute wraps outside).
///
/// So for one span around the whole call, with the retry's events inside
/// it, write `#[tracing::instrument]` last, just above `async fn`; written
/// above `#[retry]` it wraps the body the retry re-runs: one span per
/// attempt.
///
/// ```
/// # use resilient::retry;
/// # #[derive(Debug)] struct ApiError;
/// #[retry(attempts = 3, backoff = none)]
/// #[tracing::instrument] // one span per call, retries inside
/// async fn fetch(id: u64) -> Result<u64, ApiError> {
///     Ok(id)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() { assert_eq!(fetch(1).await.unwrap(), 1); }
/// ```
pub use resilient_macros::retry;

/// Fails fast while a dependency is down: the attribute form of
/// [`CircuitBreaker`].
///
/// After enough failures the breaker *opens*: calls return at once with
/// `E::from(CircuitOpen)`, without running the body, until `reset` has
/// passed; then trial calls decide whether it closes again.
///
/// ```
/// use resilient::{CircuitOpen, CircuitState, circuit_breaker, registry};
///
/// #[derive(Debug)]
/// enum ApiError { Down, Open(CircuitOpen) }
///
/// impl From<CircuitOpen> for ApiError {
///     fn from(open: CircuitOpen) -> Self { ApiError::Open(open) }
/// }
///
/// #[circuit_breaker(failures = 2, reset = "30s", name = "doc-upstream")]
/// async fn fetch() -> Result<u32, ApiError> {
///     Err(ApiError::Down)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let _ = fetch().await;
/// let _ = fetch().await; // the second failure opens it
/// assert!(matches!(fetch().await, Err(ApiError::Open(_))));
/// assert_eq!(registry::get("doc-upstream").unwrap().state(), CircuitState::Open);
/// # }
/// ```
///
/// # Arguments
///
/// | key | meaning | default |
/// |---|---|---|
/// | `failures = N` | open after N consecutive failures | `5` |
/// | `failure_rate = R, window = N, min_calls = M` | open when the failure share of the last N calls reaches R (0 < R ≤ 1), once M calls were seen (`window` at most 1024) | `window = 100`, `min_calls` = `window` |
/// | `window = "30s"` | with `failure_rate`: the calls of the last 30 s instead, in one-second buckets (1 to 300 s) | `min_calls = 20` |
/// | `slow = D, slow_rate = R` | with `failure_rate`: a call longer than D (1 ms to 1 h), succeeding or not, is slow; open when slow calls reach R of the window | `slow_rate = 1` |
/// | `reset = D` | time open before trial calls | `"60s"` |
/// | `half_open = N` | trial calls: all succeed → closed, one fails → open again | `1` |
/// | `when = F` | `fn(&E) -> bool`: does this error count as a failure? (an error that does not count is a success: the service answered) | every error counts |
/// | `shared = PATH` | a `static` [`CircuitBreaker`] of yours, shared by several functions | |
/// | `breaker = EXPR` | a breaker the caller owns (`self.breaker`, one from application state), evaluated at each call | |
/// | `name = "…"` | the name in the [`registry`] | `module::function@line` (the line of the function's name) |
/// | `on_open = F` | `fn(CircuitOpen) -> E`, for error types that cannot implement `From<CircuitOpen>` | |
/// | `on_cancel = ignore \| failure` | what a call dropped mid-flight counts as | `ignore` |
/// | `key = EXPR` | one breaker per value of a `&str`, `String` or integer expression over the arguments (a host, a tenant): a [`KeyedBreaker`], each key's breaker named `name[key]`; with `shared` or `breaker`, that names a `KeyedBreaker` | |
/// | `max_keys = N` | with `key`: breakers kept at most (1 to 1 048 576) | `1024` |
/// | `idle = D` | with `key`: a key unused this long is forgotten | `"10m"` |
/// | `max_open = R` | with `key`: largest share of keys open at once (0 < R ≤ 1) | `1` |
///
/// ```
/// use resilient::{CircuitOpen, circuit_breaker, registry};
///
/// #[derive(Debug)]
/// enum ApiError { Down, Open(CircuitOpen) }
/// impl From<CircuitOpen> for ApiError {
///     fn from(open: CircuitOpen) -> Self { ApiError::Open(open) }
/// }
///
/// #[circuit_breaker(key = host, failures = 1, name = "doc-hosts")]
/// async fn get(host: &str, up: bool) -> Result<(), ApiError> {
///     if up { Ok(()) } else { Err(ApiError::Down) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let _ = get("10.0.0.7", false).await; // opens that host's breaker
/// assert!(matches!(get("10.0.0.7", true).await, Err(ApiError::Open(_))));
/// assert!(get("10.0.0.8", true).await.is_ok()); // another host is unaffected
/// assert!(registry::get("doc-hosts[10.0.0.7]").is_some());
/// # }
/// ```
///
/// Without `shared` or `breaker`, the function gets its own breaker: one
/// process-wide `static`, shared by every caller and every
/// monomorphisation of a generic function, registered in the [`registry`]
/// on first use. Tests that must not share it use `breaker = EXPR` or
/// [`registry::reset`].
///
/// The default name carries the function's line, so two functions of one
/// name in one module (methods of two types, functions nested in two
/// tests) never share a name; it changes when code above it moves, so
/// give a breaker that dashboards, alerts or `registry::get` look for a
/// `name = "…"` of its own. Two breakers given one name are both listed
/// (a `tracing` warning says so), neither replaced.
///
/// The function's error type must implement `From<CircuitOpen>` (one
/// `#[from]` line with thiserror; `anyhow::Error` and
/// `Box<dyn Error + Send + Sync>` already do), or the attribute needs
/// `on_open`; without either, the compile error points at `E`.
///
/// Below `#[retry]`, each attempt goes through the breaker, and an open
/// breaker ends the retries early with its rejection (or, if it admits
/// calls again within `max_retry_after`, the retry waits for it).
pub use resilient_macros::circuit_breaker;

/// At most N calls at once: the attribute form of [`Bulkhead`].
///
/// A call beyond `max` waits in turn up to `wait` (none by default) and is
/// then turned away with `E::from(BulkheadFull)`, without running, so one
/// slow dependency cannot take every task of the service with it.
///
/// ```
/// use std::time::Duration;
/// use resilient::{BulkheadFull, bulkhead};
///
/// #[derive(Debug)]
/// enum ApiError { Full(BulkheadFull) }
/// impl From<BulkheadFull> for ApiError {
///     fn from(full: BulkheadFull) -> Self { ApiError::Full(full) }
/// }
///
/// #[bulkhead(max = 1, name = "doc-report")]
/// async fn report() -> Result<(), ApiError> {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let (first, second) = tokio::join!(report(), report());
/// assert!(first.is_ok());
/// let Err(ApiError::Full(full)) = second else { panic!() };
/// assert_eq!(full.to_string(), "bulkhead `doc-report` is full: 1 call running");
/// # }
/// ```
///
/// # Arguments
///
/// | key | meaning | default |
/// |---|---|---|
/// | `max = N` | calls running at once (1 to 1 000 000) | `25` |
/// | `wait = D` | how long a call beyond them waits for room, in turn | `"0s"` |
/// | `shared = PATH` | a `static` [`Bulkhead`] of yours, shared by several functions | |
/// | `bulkhead = EXPR` | a bulkhead the caller owns (`self.bulkhead`; in a `&mut self` method whose body uses `self` mutably, `self.bulkhead.clone()` of an `Arc`), evaluated at each call | |
/// | `name = "…"` | the name in [`BulkheadFull`] | `module::function@line` |
/// | `on_full = F` | `fn(BulkheadFull) -> E`, for error types that cannot implement `From<BulkheadFull>` | |
///
/// Without `shared` or `bulkhead`, the function gets its own bulkhead: one
/// process-wide `static`. The function's error type implements
/// `From<BulkheadFull>` (or the attribute has `on_full`); without either,
/// the compile error points at `E`.
///
/// In a stack: under `#[circuit_breaker]`, a full bulkhead is not the
/// dependency's failure and is not recorded; under `#[retry]`, it is
/// retried after the backoff like a transient error (`when` sees it as
/// `E::from(BulkheadFull)`), and costs a retry budget nothing. A waiting
/// call whose caller goes away leaves the queue at once, and a call's
/// place is given back however it ends. With `wait` above zero, the
/// layers above count the waiting as part of the call (a timeout, a
/// breaker's `slow`): put the bulkhead above them.
///
/// Several functions (or several layers of one stack) get a bulkhead
/// each, named after the function (and the layer when there are several).
pub use resilient_macros::bulkhead;

/// At most N calls per period: the attribute form of [`RateLimiter`].
///
/// GCRA, on one atomic, no background task. A call over the limit waits
/// for its slot if it comes within `wait` (none by default), or returns
/// `E::from(RateLimited)` at once, without running, with
/// [`RateLimited::retry_after`] saying when the next slot is. And when a
/// call below fails with an error whose [`RetryHint::retry_after`] is set
/// (a `429`'s `Retry-After`), the limiter pauses until then (up to
/// `max_pause`), so every caller backs off together instead of each
/// finding the `429` for itself.
///
/// ```
/// use std::time::Duration;
/// use resilient::{RateLimited, RetryHint, rate_limit};
///
/// #[derive(Debug)]
/// enum ApiError { Throttled(Duration), Limited(RateLimited) }
/// impl From<RateLimited> for ApiError {
///     fn from(limited: RateLimited) -> Self { ApiError::Limited(limited) }
/// }
/// impl RetryHint for ApiError {
///     fn retry_after(&self) -> Option<Duration> {
///         match self { ApiError::Throttled(d) => Some(*d), ApiError::Limited(_) => None }
///     }
/// }
///
/// #[rate_limit(rate = 10, per = "1s", name = "doc-search")]
/// async fn search(throttled: bool) -> Result<(), ApiError> {
///     if throttled { Err(ApiError::Throttled(Duration::from_secs(30))) } else { Ok(()) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// search(false).await.unwrap();
/// let _ = search(true).await; // the service said: come back in 30 s
/// let Err(ApiError::Limited(limited)) = search(false).await else { panic!() };
/// assert!(limited.is_paused());
/// assert_eq!(limited.retry_after(), Duration::from_secs(30));
/// # }
/// ```
///
/// # Arguments
///
/// | key | meaning | default |
/// |---|---|---|
/// | `rate = N` | calls per `per` (required unless `shared` or `limiter`) | |
/// | `per = D` | the period | `"1s"` |
/// | `burst = B` | calls that may run back to back after a quiet spell | `rate` |
/// | `wait = D` | how long a call over the limit waits for its slot | `"0s"` |
/// | `max_pause = D` | the longest pause a `Retry-After` from below may impose | `"60s"` |
/// | `shared = PATH` | a `static` [`RateLimiter`] of yours, shared by several functions | |
/// | `limiter = EXPR` | a limiter the caller owns (`self.limiter`), evaluated at each call | |
/// | `name = "…"` | the name in [`RateLimited`] | `module::function@line` |
/// | `on_limited = F` | `fn(RateLimited) -> E`, for error types that cannot implement `From<RateLimited>` | |
/// | `key = EXPR` | one limit per value of a `&str`, `String` or integer expression over the arguments (a tenant, a client): a [`KeyedRateLimiter`], each key's rejections named `name[key]`, a key's `429` pausing that key only; with `shared` or `limiter`, that names a `KeyedRateLimiter` | |
/// | `max_keys = N` | with `key`: limiters kept at most | `1024` |
/// | `idle = D` | with `key`: a key unused this long goes first when room is needed | `"10m"` |
///
/// In a stack: under `#[circuit_breaker]`, a rejection is not the
/// dependency's failure; under `#[retry]`, the retry sleeps until the next
/// slot (at least its backoff), or stops at once with the rejection if
/// that is further than its `max_retry_after`, and a retry budget neither
/// earns nor spends for it. Put the limiter below the retry so that each
/// attempt takes a slot.
pub use resilient_macros::rate_limit;

/// Copies of a slow attempt, raced: the first success wins.
///
/// When an attempt has run for `after` without succeeding, a copy of it
/// starts beside it, and another after each further `after`, up to `max`
/// copies in all. The first copy to return `Ok` is the call's result; the
/// others are dropped, which cancels them. A copy that fails starts no
/// other (a hedge answers slowness; a `#[retry]` above answers errors):
/// the call waits for the copies still running, and returns the last
/// error once every copy started has failed. The copies live in the
/// function's own future, so nothing is allocated. A call whose attempt
/// answers at its first poll pays about 200 instructions of bookkeeping;
/// one whose attempt is pending (a remote call) also arms a timer for
/// the next copy, as a `#[timeout]` does, and again after each copy.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use resilient::hedge;
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// // The first call to the replica is stuck; a copy answers at once.
/// #[hedge(after = "50ms")]
/// async fn lookup(id: u64) -> Result<u64, std::io::Error> {
///     if CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
///         tokio::time::sleep(Duration::from_secs(10)).await;
///     }
///     Ok(id * 2)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let started = tokio::time::Instant::now();
/// assert_eq!(lookup(21).await.unwrap(), 42);
/// assert_eq!(started.elapsed(), Duration::from_millis(50));
/// # }
/// ```
///
/// # Arguments
///
/// | key | meaning | default |
/// |---|---|---|
/// | `after = D` | how long an attempt runs before the next copy starts (required); best near the call's 95th-percentile latency; a run-time `Duration` of zero starts every copy at once | |
/// | `max = N` | copies in all, the first included (2 to 10) | `2` |
/// | `budget = B` | a [`RetryBudget`] hedges spend from, as retries do: each hedged attempt that reached the service deposits when it ends (under a `#[retry]`, each attempt), each copy after the first withdraws one, and an empty budget starts no copy | |
/// | `name = "…"` | the name in its tracing events and its `name` metrics label | `module::function@line` |
///
/// The body runs several times at once, so it must not need anything to
/// itself: `&mut self`, an argument that is or holds a `&mut T`
/// (`Option<&mut T>`, `self: Pin<&mut Self>`) or a `ref mut` binding is
/// a compile error at that argument; a function that takes a `&mut`
/// (`fn(&mut T)`, `&dyn Fn(&mut T)`) holds none and is fine. A `mut`
/// argument is copied for each copy (it must be
/// `Copy`). An owned argument the body gives away (`consume(payload)`) is
/// rustc's error "cannot move out of value, a captured variable in an `Fn`
/// closure", at the attribute, with the argument labelled "captured outer
/// variable": borrow it, or clone it where it is consumed. The copies
/// share the arguments by reference, so for the call's future to be
/// `Send` they must be `Sync`.
///
/// In a stack: above `#[circuit_breaker]`, each copy is one call for the
/// breaker (its outcome recorded; a copy dropped because another won
/// records nothing, unless the breaker counts dropped calls as failures
/// with [`OnCancel::Failure`]: keep the default under a hedge); above `#[timeout]`, each copy has its own limit; below
/// `#[retry]`, each attempt is hedged. A rejection or a timeout below is a
/// failed copy like an error. A `#[fallback]` below a hedge is a compile
/// error: it would turn the first failed copy into the winner. Tracing events (target `resilient::hedge`,
/// debug): a copy starting, a copy other than the first winning, and a
/// budget refusing a copy.
pub use resilient_macros::hedge;

/// Cuts a call off after a time limit: `#[timeout("2s")]`.
///
/// The function returns `E::from(Elapsed)` when the time is up (or, with
/// `on_timeout = F`, `F(Elapsed)`, for error types that cannot implement
/// `From<Elapsed>`). Its place in the stack says what it bounds: below
/// `#[retry]`, each attempt; above it, the whole call. Below
/// `#[circuit_breaker]`, a timeout counts as a failure, which is how a hung
/// upstream trips the breaker (a call merely dropped by its caller counts
/// as nothing).
///
/// ```
/// use std::time::Duration;
/// use resilient::{Elapsed, timeout};
///
/// #[derive(Debug, PartialEq)]
/// enum ApiError { TimedOut(Duration) }
///
/// impl From<Elapsed> for ApiError {
///     fn from(elapsed: Elapsed) -> Self { ApiError::TimedOut(elapsed.after()) }
/// }
///
/// #[timeout("2s")]
/// async fn hangs() -> Result<(), ApiError> {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(hangs().await, Err(ApiError::TimedOut(Duration::from_secs(2))));
/// # }
/// ```
///
/// The duration is a literal with a unit (checked at compile time; zero is
/// an error) or any `Duration` expression, evaluated at each call.
///
/// # Panics
///
/// The time limit needs a tokio runtime with its timer enabled
/// (`tokio::time::timeout`): polled outside one, the future panics on
/// every call, at its first poll.
///
/// The attribute is sugar over the function [`timeout()`], which puts a
/// limit on any future.
pub use resilient_macros::timeout;

/// Falls back when the call fails: graceful degradation to cached or
/// default data.
///
/// | form | on error |
/// |---|---|
/// | `#[fallback(with = F)]` | `F(error)`: a function path or a closure (it may use the arguments), sync or async, taking the error by value and returning the function's `Result<T, E>`, so it can recover or re-raise |
/// | `#[fallback(value = EXPR)]` | `Ok(EXPR)` |
/// | `#[fallback(default)]` | `Ok(T::default())` |
/// | `when = F` (with any form) | only errors for which `F(&E)` is `true` fall back; others pass through |
///
/// ```
/// use resilient::{fallback, retry};
///
/// #[derive(Debug)]
/// struct ApiError;
///
/// fn cached(id: u64, _: ApiError) -> Result<String, ApiError> {
///     Ok(format!("cached {id}"))
/// }
///
/// #[fallback(with = |e| cached(id, e))]
/// #[retry(attempts = 3, backoff = none)]
/// async fn fetch(id: u64) -> Result<String, ApiError> {
///     Err(ApiError) // upstream is down
/// }
///
/// #[fallback(default)]
/// async fn count() -> Result<u32, ApiError> {
///     Err(ApiError)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(fetch(7).await.unwrap(), "cached 7");
/// assert_eq!(count().await.unwrap(), 0);
/// # }
/// ```
///
/// Above a `#[circuit_breaker]` or `#[timeout]`, a rejection or a timeout
/// falls back too. `value` and `default` without `when` never look at the
/// error, so the error type needs no `From<CircuitOpen>` or `From<Elapsed>`
/// then; `with` and `when` see the error as the function's `E`.
pub use resilient_macros::fallback;

/// Glue for generated code; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use resilient_macros::__stack;
    pub use resilient_runtime::__private::*;
}
