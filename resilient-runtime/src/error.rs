//! Errors in settings.

use core::fmt;

/// A setting that cannot work, found when a [`RetryPolicy`], a
/// [`CircuitBreaker`], a [`RetryBudget`], a [`Bulkhead`] or a
/// [`RateLimiter`] (or a keyed breaker or limiter) is built.
///
/// `try_build` returns it for settings read at run time (a configuration
/// file, the environment); `build` panics with the same text, which for a
/// `const` or `static` is a compile error.
/// The error names the setting, so a message can point the operator at the
/// right line of their configuration.
///
/// ```
/// use std::time::Duration;
/// use resilient::{Backoff, RetryPolicy};
///
/// let err = RetryPolicy::builder()
///     .backoff(Backoff::exponential(Duration::from_secs(2), 2.0, Duration::from_secs(1)))
///     .try_build()
///     .unwrap_err();
/// assert_eq!(err.key(), "max");
/// assert_eq!(err.to_string(), "invalid retry setting `max`: must not be below `initial`");
/// ```
///
/// [`RetryPolicy`]: crate::RetryPolicy
/// [`CircuitBreaker`]: crate::CircuitBreaker
/// [`RetryBudget`]: crate::RetryBudget
/// [`Bulkhead`]: crate::Bulkhead
/// [`RateLimiter`]: crate::RateLimiter
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    key: &'static str,
    message: &'static str,
}

/// `setting_error!("retry", "max", "must not be below `initial`")`: the
/// full message ("invalid retry setting `max`: must not be below
/// `initial`") is one static string, so `const` evaluation can panic with it
/// too. The first argument is what the setting belongs to: `retry`,
/// `circuit breaker` or `retry budget`.
macro_rules! setting_error {
    ($of:literal, $key:literal, $($problem:literal),+) => {
        $crate::error::ConfigError::new(
            $key,
            concat!("invalid ", $of, " setting `", $key, "`: ", $($problem),+),
        )
    };
}
pub(crate) use setting_error;

impl ConfigError {
    pub(crate) const fn new(key: &'static str, message: &'static str) -> Self {
        Self { key, message }
    }

    /// The setting at fault, spelled as the attribute key. For a retry:
    /// `attempts`, `backoff` (the delay of `fixed(..)`), `initial`, `max`,
    /// `factor`, `step`, `jitter`, `max_elapsed` or `max_retry_after`. For
    /// a circuit breaker: `failures`, `failure_rate`, `window`,
    /// `time_window`, `min_calls`, `slow`, `slow_rate`, `reset` or
    /// `half_open`, and for a keyed one also
    /// `max_keys`, `idle` or `max_open`. For a retry budget: `ttl` or
    /// `ratio`. For a bulkhead: `max` or `wait`. For a rate limiter:
    /// `rate`, `per`, `burst`, `wait` or `max_pause`, and for a keyed one
    /// also `max_keys` or `idle`.
    pub const fn key(&self) -> &'static str {
        self.key
    }

    /// Panics with this error's text. In `const` evaluation the panic is a
    /// compile error at the `const` or `static` that holds the policy.
    pub(crate) const fn panic(self) -> ! {
        // A deliberate panic, for `RetryPolicyBuilder::build` and
        // `CircuitBreakerBuilder::build`: both document it, and `try_build`
        // is the non-panicking twin. (Not the runtime's only one:
        // `__private::build_policy` and a `RetryFuture` polled after it
        // completed panic too.)
        #[allow(clippy::panic)]
        {
            panic!("{}", self.message)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for ConfigError {}
