//! The runtime of [`resilient-fn`](https://docs.rs/resilient-fn): everything
//! that runs, usable by hand without the attribute macros.
//!
//! Depend on `resilient-fn` (used in code as `resilient`) rather than on
//! this crate: it re-exports all of this, and the attributes. This crate is
//! versioned in lockstep with it.
//!
//! - [`Backoff`] and [`Jitter`]: the delay schedule and its randomisation.
//! - [`RetryPolicy`]: attempts, backoff, jitter and caps, validated.
//! - [`RetryState`]: the sans-IO state machine that decides, after each
//!   failure, to sleep or to stop.
//! - [`retry()`] and [`retry_with_hints`]: a retry loop over a closure,
//!   built on that machine.
//! - [`RetryHint`]: what an error can say about itself (transient? wait how
//!   long?), and [`retry_after`] to read a server's `Retry-After`.
//! - [`timeout()`]: a time limit on any future, with [`Elapsed`] as its
//!   error.
//! - [`testing`]: deterministic jitter for tests.
//! - [`CircuitBreaker`]: fail fast while a dependency is down, with
//!   [`CircuitOpen`] as its rejection and [`registry`] listing every
//!   breaker for health routes and tests; [`KeyedBreaker`] for one breaker
//!   per host, tenant or region.
//! - [`Bulkhead`]: at most N calls at once, with [`BulkheadFull`] for the
//!   calls turned away.
//! - [`RateLimiter`]: at most N calls per period (GCRA), paused by a
//!   service's `Retry-After`, with [`RateLimited`] for the calls turned
//!   away.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backoff;
mod budget;
mod bulkhead;
mod circuit_breaker;
mod clock;
mod error;
mod hedge;
#[cfg(feature = "metrics")]
mod metrics;
mod policy;
mod rate_limit;
mod retry;
mod retry_future;
mod rng;
mod sleep;
mod sync;
mod timeout;

#[cfg(feature = "redis")]
pub mod fleet;
pub mod registry;
#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod retry_after;
pub mod testing;
#[cfg(feature = "tower")]
pub mod tower;

#[doc(hidden)]
pub mod __private;

#[cfg(resilient_loom)]
#[doc(hidden)]
pub use clock::{advance_model_clock, reset_model_clock};

pub use backoff::{Backoff, Jitter};
pub use budget::{RetryBudget, RetryBudgetBuilder, Withdrawal};
pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadFull, BulkheadPermit, MAX_CONCURRENT};
pub use circuit_breaker::{
    BreakerKey, BreakerName, Call, CircuitBreaker, CircuitBreakerBuilder, CircuitOpen,
    CircuitState, KeyBuf, KeyedBreaker, KeyedBreakerBuilder, MAX_KEYS, MAX_WINDOW, OnCancel,
    OnStateChange, OpenReason, Permit, StateChange,
};
pub use error::ConfigError;
pub use hedge::Hedge;
pub use policy::{RetryPolicy, RetryPolicyBuilder};
pub use rate_limit::{
    KeyedRateLimiter, KeyedRateLimiterBuilder, LimiterSlot, RateLimited, RateLimiter,
    RateLimiterBuilder,
};
pub use retry::{Attempt, Decision, Failure, RetryHint, RetryState, StopReason};
pub use retry_future::{Retry, RetryFuture, retry, retry_with_hints};
pub use timeout::{Elapsed, Timeout, timeout};
