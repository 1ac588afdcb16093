//! [`RetryPolicy`]: how many attempts, how long between them, and the caps.

use core::time::Duration;

use crate::backoff::{DEFAULT_BACKOFF, Kind};
use crate::error::{ConfigError, setting_error};
use crate::{Backoff, Jitter};

/// Returns an error naming `$key` unless `$d` is in (0, 365 days].
/// `subject` words the value when the key alone does not (`a fixed delay`);
/// `if zero` adds advice to the zero case.
macro_rules! check_duration {
    ($d:expr, $key:literal $(, subject: $subject:literal)? $(, if zero: $if_zero:literal)?) => {{
        if $d.is_zero() {
            return Err(setting_error!("retry", $key, $($subject, " ",)? "must be above zero" $(, $if_zero)?));
        }
        if too_long($d) {
            return Err(setting_error!("retry", $key, $($subject, " ",)? "must be at most 365 days"));
        }
    }};
}

/// `initial` and `max` in range, and `max >= initial`.
macro_rules! check_range {
    ($initial:expr, $max:expr) => {{
        check_duration!($initial, "initial", if zero: " (use `Backoff::none()` for no delay)");
        check_duration!($max, "max");
        if $max.as_nanos() < $initial.as_nanos() {
            return Err(setting_error!("retry", "max", "must not be below `initial`"));
        }
    }};
}

/// How a call is retried: plain, validated data.
///
/// | setting | meaning | default |
/// |---|---|---|
/// | `attempts` | total attempts, the first included; at least 1 | 3 |
/// | `backoff` | the delay schedule ([`Backoff`]) | `exponential(100ms, 2, 10s)` |
/// | `jitter` | randomisation of each delay ([`Jitter`]) | `Full` (`None` for a decorrelated backoff) |
/// | `max_elapsed` | stop when the next sleep would end past this budget since the first attempt | none |
/// | `max_retry_after` | the longest server hint (`Retry-After`) or breaker wait to sleep for; a longer one stops the retries at once | 30 s |
///
/// A policy holds no closures: what to retry and what to call before each
/// sleep are given where it is used ([`retry`](crate::retry()) and its
/// builder methods), so one policy serves any error type. It is a few words
/// of `Copy` data, cheap to build per call.
///
/// # Building one
///
/// From literals, with `const fn`s, so a policy can be a `const` or
/// `static` and a mistake is a compile error there:
///
/// ```
/// use std::time::Duration;
/// use resilient::{Backoff, Jitter, RetryPolicy};
///
/// const POLICY: RetryPolicy = RetryPolicy::builder()
///     .attempts(5)
///     .backoff(Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(2)))
///     .jitter(Jitter::Equal)
///     .max_elapsed(Duration::from_secs(10))
///     .build();
/// assert_eq!(POLICY.attempts(), 5);
/// ```
///
/// From configuration read at run time, with [`RetryPolicyBuilder::try_build`],
/// which reports the setting at fault instead of panicking or clamping:
///
/// ```
/// use std::time::Duration;
/// use resilient::{Backoff, RetryPolicy};
///
/// let attempts: u32 = "0".parse().unwrap(); // say, from the environment
/// let err = RetryPolicy::builder().attempts(attempts).try_build().unwrap_err();
/// assert_eq!(err.key(), "attempts");
/// assert_eq!(err.to_string(), "invalid retry setting `attempts`: must be at least 1");
/// ```
///
/// # Limits
///
/// Every duration must be above zero (a `Backoff::none()` is how to say "no
/// delay") and at most [`RetryPolicy::MAX_DURATION`] (365 days): anything
/// longer is a unit mistake in configuration, and the cap keeps every sum of
/// delays far from overflow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    backoff: Backoff,
    jitter: Jitter,
    max_elapsed: Option<Duration>,
    max_retry_after: Duration,
    name: &'static str,
}

/// Builds a [`RetryPolicy`]; from [`RetryPolicy::builder`].
///
/// Setters store values as given; [`build`](Self::build) (a `const fn`
/// that panics) or [`try_build`](Self::try_build) (a `Result`) checks them
/// all together.
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` or `try_build` is called"]
pub struct RetryPolicyBuilder {
    attempts: u32,
    backoff: Backoff,
    jitter: Option<Jitter>,
    max_elapsed: Option<Duration>,
    max_retry_after: Duration,
    name: &'static str,
}

impl RetryPolicy {
    /// The longest duration any setting accepts: 365 days.
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// The default `max_retry_after`: 30 seconds.
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

    /// The defaults: 3 attempts, exponential backoff from 100 ms doubling
    /// up to 10 s, full jitter, no elapsed budget, hints up to 30 s.
    ///
    /// ```
    /// # use resilient::RetryPolicy;
    /// assert_eq!(RetryPolicy::new(), RetryPolicy::default());
    /// assert_eq!(RetryPolicy::new().attempts(), 3);
    /// ```
    pub const fn new() -> Self {
        Self::builder().build()
    }

    /// Starts from the defaults of [`RetryPolicy::new`].
    pub const fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            attempts: 3,
            backoff: DEFAULT_BACKOFF,
            jitter: None,
            max_elapsed: None,
            max_retry_after: Self::DEFAULT_MAX_RETRY_AFTER,
            name: "retry",
        }
    }

    /// Total attempts, the first included.
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay schedule.
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter applied to each delay (`None` for a decorrelated backoff).
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The time budget since the first attempt, if any.
    pub const fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The longest server hint or breaker wait that is slept for.
    pub const fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The name its metrics carry (feature `metrics`): `"retry"` unless
    /// set; `#[retry]` names a policy after its function.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicyBuilder {
    /// Total attempts, the first included; at least 1 (`1` means no retry).
    pub const fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The delay schedule.
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The jitter; a decorrelated backoff accepts only [`Jitter::None`].
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Stop retrying when the next sleep would end more than `budget` after
    /// the first attempt started. Server hints are held to it too.
    pub const fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }

    /// The longest `Retry-After` (or wait for a circuit breaker below) that
    /// is slept for; a longer one stops the retries at once and returns the
    /// error, so the caller can pass it on.
    pub const fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The name its metrics carry (feature `metrics`).
    ///
    /// ```
    /// use resilient::RetryPolicy;
    ///
    /// const POLICY: RetryPolicy = RetryPolicy::builder().name("search").build();
    /// assert_eq!(POLICY.name(), "search");
    /// assert_eq!(RetryPolicy::new().name(), "retry");
    /// ```
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Checks every setting and builds the policy.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return. In a `const` or
    /// `static` the panic is a compile error; for settings read at run
    /// time, use `try_build`.
    ///
    /// ```compile_fail
    /// # use resilient::RetryPolicy;
    /// const NEVER: RetryPolicy = RetryPolicy::builder().attempts(0).build();
    /// ```
    pub const fn build(self) -> RetryPolicy {
        match self.try_build() {
            Ok(policy) => policy,
            Err(err) => err.panic(),
        }
    }

    /// Checks every setting and builds the policy, or names the first
    /// setting at fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `attempts` is 0; a duration is zero or longer
    /// than [`RetryPolicy::MAX_DURATION`]; a backoff's `max` is below its
    /// `initial`; an exponential `factor` is below 1, infinite or NaN; or a
    /// decorrelated backoff is given a jitter other than `None`.
    pub const fn try_build(self) -> Result<RetryPolicy, ConfigError> {
        if self.attempts == 0 {
            return Err(setting_error!("retry", "attempts", "must be at least 1"));
        }
        if let Err(err) = check_backoff(&self.backoff) {
            return Err(err);
        }
        let jitter = match (self.jitter, self.backoff.is_decorrelated()) {
            (None | Some(Jitter::None), true) => Jitter::None,
            (Some(_), true) => {
                return Err(setting_error!(
                    "retry",
                    "jitter",
                    "a decorrelated backoff draws its own random delays and takes no jitter; leave `jitter` unset or use `Jitter::None`"
                ));
            }
            (Some(jitter), false) => jitter,
            (None, false) => Jitter::Full,
        };
        if let Some(budget) = self.max_elapsed {
            check_duration!(budget, "max_elapsed");
        }
        check_duration!(
            self.max_retry_after,
            "max_retry_after",
            if zero: " (to ignore server hints, turn hint reading off instead)"
        );
        Ok(RetryPolicy {
            attempts: self.attempts,
            backoff: self.backoff,
            jitter,
            max_elapsed: self.max_elapsed,
            max_retry_after: self.max_retry_after,
            name: self.name,
        })
    }
}

const fn too_long(d: Duration) -> bool {
    d.as_nanos() > RetryPolicy::MAX_DURATION.as_nanos()
}

const fn check_backoff(backoff: &Backoff) -> Result<(), ConfigError> {
    match backoff.kind {
        Kind::None => {}
        Kind::Fixed { delay } => {
            check_duration!(delay, "backoff", subject: "a fixed delay", if zero: " (use `Backoff::none()` for no delay)");
        }
        Kind::Linear { initial, step, max } => {
            check_range!(initial, max);
            check_duration!(
                step,
                "step",
                if zero: " (a linear backoff with no step is `Backoff::fixed`)"
            );
        }
        Kind::Exponential {
            initial,
            factor,
            max,
        } => {
            check_range!(initial, max);
            if factor.is_nan() || factor < 1.0 || factor == f64::INFINITY {
                return Err(setting_error!(
                    "retry",
                    "factor",
                    "must be a finite number of at least 1"
                ));
            }
        }
        Kind::Decorrelated { initial, max } => check_range!(initial, max),
    }
    Ok(())
}
