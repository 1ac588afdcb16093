//! The retry state machine: feed it failures, it says "sleep d" or "stop".
//!
//! It does no I/O: no clock reads, no sleeping. Whoever drives it (the
//! generated code of `#[retry]`, or [`retry`](crate::retry())) reads the
//! clock and sleeps. That keeps the rules in one place and testable without
//! a runtime.

use core::fmt;
use core::time::Duration;

use tokio::time::Instant;

use crate::{RetryBudget, RetryPolicy, Withdrawal};

/// What an error type can tell a retry about itself.
///
/// Both methods have defaults, so an implementation says only what it
/// knows. `#[retry]` uses this trait when the function's error type
/// implements it and ignores it otherwise; by hand,
/// [`retry_with_hints`](crate::retry_with_hints) uses it.
///
/// ```
/// use std::time::Duration;
/// use resilient::RetryHint;
///
/// enum ApiError {
///     RateLimited { retry_after: Option<Duration> },
///     Unavailable,
///     NotFound,
/// }
///
/// impl RetryHint for ApiError {
///     fn retry_after(&self) -> Option<Duration> {
///         match self {
///             ApiError::RateLimited { retry_after } => *retry_after,
///             _ => None,
///         }
///     }
///     fn is_transient(&self) -> bool {
///         !matches!(self, ApiError::NotFound)
///     }
/// }
/// ```
pub trait RetryHint {
    /// How long the server asked to wait before the next attempt (its
    /// `Retry-After`, read with [`retry_after::parse`](crate::retry_after::parse)).
    /// Defaults to `None`: no hint.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// Whether another attempt may succeed. Defaults to `true`. A `false`
    /// stops the retries at once and returns this error.
    fn is_transient(&self) -> bool {
        true
    }
}

impl<E: RetryHint + ?Sized> RetryHint for &E {
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn is_transient(&self) -> bool {
        (**self).is_transient()
    }
}

impl<E: RetryHint + ?Sized> RetryHint for Box<E> {
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn is_transient(&self) -> bool {
        (**self).is_transient()
    }
}

/// A retry that is about to happen, as `on_retry` sees it.
///
/// ```
/// use std::time::Duration;
/// use resilient::Attempt;
///
/// let attempt = Attempt::new(2, Duration::from_millis(400), Duration::from_millis(150));
/// assert_eq!(attempt.number(), 2);
/// assert_eq!(attempt.delay(), Duration::from_millis(400));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    delay: Duration,
    elapsed: Duration,
}

impl Attempt {
    /// An `Attempt`, for testing an `on_retry` function.
    pub const fn new(number: u32, delay: Duration, elapsed: Duration) -> Self {
        Self {
            number,
            delay,
            elapsed,
        }
    }

    /// The number of the attempt that just failed: 1 for the first. The
    /// next attempt is `number() + 1`.
    pub const fn number(&self) -> u32 {
        self.number
    }

    /// How long the retry sleeps before the next attempt.
    pub const fn delay(&self) -> Duration {
        self.delay
    }

    /// Time since the first attempt started, up to this failure (since the
    /// first failure, if the driver of a [`RetryState`] did not call
    /// [`RetryState::start`]; `retry` and `#[retry]` do whenever there is an
    /// `on_retry` or a `max_elapsed`).
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// A failed attempt, as the state machine needs to know it.
///
/// ```
/// use std::time::Duration;
/// use resilient::Failure;
///
/// // A 429 whose server asked for 2 s:
/// let failure = Failure::transient().with_retry_after(Some(Duration::from_secs(2)));
/// // A circuit breaker below that admits calls again in 5 s:
/// let rejected = Failure::rejected(Duration::from_secs(5));
/// # let _ = (failure, rejected);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Failure {
    permanent: bool,
    /// Refused by a layer below without reaching the service.
    rejected: bool,
    retry_after: Option<Duration>,
    admits_in: Option<Duration>,
}

impl Failure {
    /// An error that another attempt may fix.
    pub const fn transient() -> Self {
        Self {
            permanent: false,
            rejected: false,
            retry_after: None,
            admits_in: None,
        }
    }

    /// An error that no retry will fix: stop now.
    pub const fn permanent() -> Self {
        Self {
            permanent: true,
            rejected: false,
            retry_after: None,
            admits_in: None,
        }
    }

    /// [`transient`](Self::transient) or [`permanent`](Self::permanent)
    /// from a classifier's verdict.
    pub const fn new(transient: bool) -> Self {
        if transient {
            Self::transient()
        } else {
            Self::permanent()
        }
    }

    /// A call that a layer below (a circuit breaker) refused without trying;
    /// it admits calls again in `admits_in`. It never reached the service,
    /// so a [`RetryBudget`](crate::RetryBudget) neither earns nor spends
    /// for it.
    pub const fn rejected(admits_in: Duration) -> Self {
        Self {
            permanent: false,
            rejected: true,
            retry_after: None,
            admits_in: Some(admits_in),
        }
    }

    /// The attempt never reached the service (a full bulkhead turned it
    /// away): retried or not as `self` says, but a
    /// [`RetryBudget`](crate::RetryBudget) neither earns nor spends for it,
    /// as for [`rejected`](Self::rejected).
    ///
    /// ```
    /// use resilient::Failure;
    /// assert_ne!(Failure::transient().not_reached(), Failure::transient());
    /// ```
    pub const fn not_reached(mut self) -> Self {
        self.rejected = true;
        self
    }

    /// The layer below (a circuit breaker) will not admit a call for
    /// `wait`: the retry sleeps at least that long, or stops with
    /// [`StopReason::UnavailableTooLong`] if `wait` exceeds the policy's
    /// [`max_retry_after`](crate::RetryPolicyBuilder::max_retry_after).
    /// (The other stops still apply: a permanent error, the last attempt,
    /// `max_elapsed`.) Given more than once (several breakers below), the
    /// longest wait counts.
    pub const fn with_admits_in(mut self, wait: Duration) -> Self {
        self.admits_in = match self.admits_in {
            Some(known) if known.as_nanos() >= wait.as_nanos() => Some(known),
            _ => Some(wait),
        };
        self
    }

    /// The server's hint, if it gave one.
    pub const fn with_retry_after(mut self, hint: Option<Duration>) -> Self {
        self.retry_after = hint;
        self
    }
}

/// The state machine's answer to a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Sleep for [`Attempt::delay`], then try again.
    Retry(Attempt),
    /// Return the error.
    Stop(StopReason),
}

/// Why retrying stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The error is not transient (the `when` classifier or
    /// [`RetryHint::is_transient`] said so).
    Permanent,
    /// Every attempt was used.
    Exhausted,
    /// The server asked to wait longer than `max_retry_after`.
    RetryAfterTooLong(Duration),
    /// A layer below (a circuit breaker) admits calls only after longer
    /// than `max_retry_after`.
    UnavailableTooLong(Duration),
    /// The next sleep would end past `max_elapsed`.
    OutOfTime,
    /// The [`RetryBudget`](crate::RetryBudget) had no retry left.
    BudgetExhausted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permanent => f.write_str("the error is not transient"),
            Self::Exhausted => f.write_str("every attempt failed"),
            Self::RetryAfterTooLong(d) => {
                write!(f, "the server asked to wait {d:?}, above `max_retry_after`")
            }
            Self::UnavailableTooLong(d) => {
                write!(
                    f,
                    "calls are admitted again in {d:?}, above `max_retry_after`"
                )
            }
            Self::OutOfTime => f.write_str("the next sleep would end past `max_elapsed`"),
            Self::BudgetExhausted => f.write_str("the retry budget has no retry left"),
        }
    }
}

/// The sans-IO retry state machine: one per call.
///
/// Drive it like this: run an attempt; on success, return (the machine is
/// not consulted); on failure, describe it as a [`Failure`] and feed it to
/// [`on_failure`](Self::on_failure), with the current time; then sleep for
/// the delay of [`Decision::Retry`], or return the error on
/// [`Decision::Stop`].
///
/// ```
/// use std::time::Duration;
/// use resilient::{Backoff, Decision, Failure, Jitter, RetryPolicy, RetryState, StopReason};
/// use tokio::time::Instant;
///
/// let policy = RetryPolicy::builder()
///     .attempts(3)
///     .backoff(Backoff::fixed(Duration::from_secs(1)))
///     .jitter(Jitter::None)
///     .build();
/// let now = Instant::now();
/// let mut state = RetryState::new();
///
/// let Decision::Retry(attempt) = state.on_failure(&policy, Failure::transient(), now) else {
///     unreachable!()
/// };
/// assert_eq!((attempt.number(), attempt.delay()), (1, Duration::from_secs(1)));
///
/// // A server hint replaces the backoff (exactly, with no jitter):
/// let hinted = Failure::transient().with_retry_after(Some(Duration::from_secs(4)));
/// let Decision::Retry(attempt) = state.on_failure(&policy, hinted, now) else { unreachable!() };
/// assert_eq!(attempt.delay(), Duration::from_secs(4));
///
/// assert_eq!(
///     state.on_failure(&policy, Failure::transient(), now),
///     Decision::Stop(StopReason::Exhausted)
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryState {
    failures: u32,
    started: Option<Instant>,
    /// The decorrelated backoff's previous delay (zero: none yet).
    previous: Duration,
    /// Under a budget: 0 while no attempt has reached the service, 1 once
    /// one has (the call has deposited), and 2 + the withdrawal's code
    /// while the attempt now running is a retry taken from the budget. One
    /// `u32` beside `failures`, so a state without a budget is
    /// initialised as cheaply as before.
    budget: u32,
}

impl RetryState {
    /// A state before the first attempt. Reads no clock: call
    /// [`start`](Self::start) too when the policy has a `max_elapsed`, or
    /// when `on_retry` wants [`Attempt::elapsed`] from the first attempt.
    /// Without it, elapsed time (and so the `max_elapsed` budget) counts
    /// from the first failure, and the first attempt's own duration is not
    /// charged to the budget.
    #[inline]
    pub const fn new() -> Self {
        Self {
            failures: 0,
            started: None,
            previous: Duration::ZERO,
            budget: 0,
        }
    }

    /// Records when the first attempt started. Without it, elapsed time is
    /// counted from the first failure.
    #[inline]
    pub const fn start(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// Whether [`start`](Self::start) is worth a clock read for `policy`.
    #[inline]
    pub const fn needs_start(policy: &RetryPolicy) -> bool {
        policy.max_elapsed().is_some()
    }

    /// Attempts that failed so far.
    pub const fn failures(&self) -> u32 {
        self.failures
    }

    /// Takes the failure of the current attempt and decides.
    ///
    /// The checks, in order: a permanent failure stops; the last attempt
    /// stops; a server hint or breaker wait above `max_retry_after` stops.
    /// Otherwise the delay is drawn: the backoff with jitter; or, with a
    /// server hint, the hint plus the jitter's spread of the backoff
    /// (exactly the hint with `Jitter::None`, never less than it); and at
    /// least the breaker's wait. If sleeping that long would end past
    /// `max_elapsed`, it stops.
    ///
    /// The random generator is used only here, after a failure.
    pub fn on_failure(&mut self, policy: &RetryPolicy, failure: Failure, now: Instant) -> Decision {
        self.failures = self.failures.saturating_add(1);
        let decision = self.decide(policy, failure, now);
        #[cfg(feature = "tracing")]
        trace_decision(&decision, self.failures, &failure);
        #[cfg(feature = "metrics")]
        count_decision(&decision, policy.name());
        decision
    }

    /// [`on_failure`](Self::on_failure) under a [`RetryBudget`], which
    /// counts load on the service:
    ///
    /// - the first attempt that reaches the service deposits (once per
    ///   call);
    /// - a retry after an attempt that reached the service withdraws
    ///   before it is granted, and an empty budget stops at once with
    ///   [`StopReason::BudgetExhausted`];
    /// - an attempt refused by a breaker below ([`Failure::rejected`])
    ///   never reached the service: it gives back the retry it was granted,
    ///   and while no attempt of the call has reached the service, the
    ///   next one is not a retry of anything and costs nothing (the wait
    ///   for the breaker is the same as without a budget).
    ///
    /// ```
    /// use resilient::{Decision, Failure, RetryBudget, RetryPolicy, RetryState, StopReason};
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // No reserve; each call earns half a retry.
    /// let budget = RetryBudget::builder().min_per_sec(0).ratio(0.5).build();
    /// let policy = RetryPolicy::builder().attempts(2).build();
    ///
    /// // A first call fails: half a retry earned, not enough for one.
    /// let mut first = RetryState::new();
    /// let decision = first.on_failure_with_budget(&policy, Failure::transient(), Instant::now(), &budget);
    /// assert_eq!(decision, Decision::Stop(StopReason::BudgetExhausted));
    ///
    /// // A second call fails: another half, so one retry, spent at once.
    /// let mut second = RetryState::new();
    /// let decision = second.on_failure_with_budget(&policy, Failure::transient(), Instant::now(), &budget);
    /// assert!(matches!(decision, Decision::Retry(_)));
    /// assert_eq!(budget.available(), 0);
    ///
    /// // Its retry, the last attempt, is refused by an open breaker: it
    /// // never reached the service, so the retry is given back.
    /// let refused = Failure::rejected(std::time::Duration::from_secs(1));
    /// let decision = second.on_failure_with_budget(&policy, refused, Instant::now(), &budget);
    /// assert_eq!(decision, Decision::Stop(StopReason::Exhausted));
    /// assert_eq!(budget.available(), 1);
    /// # }
    /// ```
    pub fn on_failure_with_budget(
        &mut self,
        policy: &RetryPolicy,
        failure: Failure,
        now: Instant,
        budget: &RetryBudget,
    ) -> Decision {
        let taken = self.budget.checked_sub(2).map(Withdrawal::from_code);
        if failure.rejected {
            if let Some(withdrawal) = taken {
                budget.refund(withdrawal);
            }
        } else if self.budget == 0 {
            budget.deposit();
        }
        // Reached once an attempt did; the withdrawal, if any, is settled.
        self.budget = u32::from(self.budget != 0 || !failure.rejected);
        self.failures = self.failures.saturating_add(1);
        let mut decision = self.decide(policy, failure, now);
        if matches!(decision, Decision::Retry(_)) && self.budget == 1 {
            match budget.try_withdraw() {
                Some(withdrawal) => self.budget = withdrawal.code() + 2,
                None => decision = Decision::Stop(StopReason::BudgetExhausted),
            }
        }
        #[cfg(feature = "tracing")]
        trace_decision(&decision, self.failures, &failure);
        #[cfg(feature = "metrics")]
        count_decision(&decision, policy.name());
        decision
    }

    /// A call that succeeded under a [`RetryBudget`]: if no earlier attempt
    /// reached the service, this one deposits.
    ///
    /// ```
    /// use resilient::{RetryBudget, RetryState};
    ///
    /// let budget = RetryBudget::builder().min_per_sec(0).ratio(1.0).build();
    /// RetryState::new().on_success_with_budget(&budget);
    /// assert_eq!(budget.available(), 1);
    /// ```
    #[inline]
    pub fn on_success_with_budget(&mut self, budget: &RetryBudget) {
        if self.budget == 0 {
            budget.deposit();
        }
        self.budget = 1;
    }

    fn decide(&mut self, policy: &RetryPolicy, failure: Failure, now: Instant) -> Decision {
        let number = self.failures;
        if failure.permanent {
            return Decision::Stop(StopReason::Permanent);
        }
        if number >= policy.attempts() {
            return Decision::Stop(StopReason::Exhausted);
        }
        let cap = policy.max_retry_after();
        if let Some(hint) = failure.retry_after.filter(|h| *h > cap) {
            return Decision::Stop(StopReason::RetryAfterTooLong(hint));
        }
        if let Some(wait) = failure.admits_in.filter(|w| *w > cap) {
            return Decision::Stop(StopReason::UnavailableTooLong(wait));
        }

        let draw = policy
            .backoff()
            .draw(policy.jitter(), number, &mut self.previous);
        let mut delay = match failure.retry_after {
            Some(hint) => hint.saturating_add(draw.spread),
            None => draw.delay,
        };
        if let Some(wait) = failure.admits_in {
            delay = delay.max(wait);
        }

        let started = *self.started.get_or_insert(now);
        let elapsed = now.saturating_duration_since(started);
        if let Some(budget) = policy.max_elapsed()
            && elapsed.saturating_add(delay) > budget
        {
            return Decision::Stop(StopReason::OutOfTime);
        }
        Decision::Retry(Attempt {
            number,
            delay,
            elapsed,
        })
    }
}

#[cfg(feature = "metrics")]
fn count_decision(decision: &Decision, name: &'static str) {
    match decision {
        Decision::Retry(_) => crate::metrics::retry_scheduled(name),
        Decision::Stop(reason) => crate::metrics::retry_stopped(name, reason),
    }
}

#[cfg(feature = "tracing")]
fn trace_decision(decision: &Decision, attempt: u32, failure: &Failure) {
    match decision {
        Decision::Retry(next) => tracing::debug!(
            target: "resilient::retry",
            attempt,
            delay = ?next.delay(),
            retry_after = ?failure.retry_after,
            admits_in = ?failure.admits_in,
            "attempt failed; retrying after the delay"
        ),
        Decision::Stop(reason @ StopReason::BudgetExhausted) => tracing::warn!(
            target: "resilient::retry",
            attempt,
            reason = %reason,
            "attempt failed; the retry budget is spent, not retrying"
        ),
        Decision::Stop(reason @ StopReason::Permanent) => tracing::debug!(
            target: "resilient::retry",
            attempt,
            reason = %reason,
            "attempt failed; not retrying"
        ),
        Decision::Stop(reason) => tracing::warn!(
            target: "resilient::retry",
            attempt,
            retry_after = ?failure.retry_after,
            admits_in = ?failure.admits_in,
            reason = %reason,
            "attempt failed; giving up"
        ),
    }
}
