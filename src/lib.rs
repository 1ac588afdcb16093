//! Make an `async fn` survive failure: retries with backoff and jitter that
//! respect a server's `Retry-After`, and circuit breakers that fail fast
//! while a dependency is down. Usable by hand today ([`retry()`],
//! [`CircuitBreaker`]), and as stacked attributes (`#[retry]`,
//! `#[circuit_breaker]`, `#[fallback]`, `#[timeout]`) on your own
//! `async fn` as they land.
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
//!   breaker state change, under `resilient::circuit_breaker`.
//! - `http`: `retry_after::from_headers` reads `Retry-After` from an
//!   `http::HeaderMap`, measuring dates from the response's own `Date`.

pub use resilient_runtime::{
    Attempt, Backoff, BreakerName, CircuitBreaker, CircuitBreakerBuilder, CircuitOpen,
    CircuitState, ConfigError, Decision, Failure, Jitter, MAX_WINDOW, OnCancel, OnStateChange,
    Permit, Retry, RetryFuture, RetryHint, RetryPolicy, RetryPolicyBuilder, RetryState,
    StateChange, StopReason, registry, retry, retry_after, retry_with_hints, testing,
};

#[doc(hidden)]
pub use resilient_macros::retry;

/// Glue for generated code; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use resilient_macros::__stack;
    pub use resilient_runtime::__private::*;
}
