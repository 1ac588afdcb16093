//! [`CircuitBreakerBuilder`]: the breaker's settings, validated together.

use core::time::Duration;

use super::{BreakerName, CircuitBreaker, StateChange};
use crate::clock;
use crate::error::{ConfigError, setting_error};

/// `setting_error!` for a circuit breaker's settings.
macro_rules! breaker_error {
    ($($key_and_problem:tt)+) => {
        setting_error!("circuit breaker", $($key_and_problem)+)
    };
}

/// What a call dropped before its outcome (a `select!` loser, an outer
/// timeout, a client that went away) counts as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnCancel {
    /// Nothing: the breaker learned nothing about the service. A half-open
    /// trial permit is given back, so the next caller becomes the trial.
    #[default]
    Ignore,
    /// A failure, as if the call had returned an error.
    Failure,
}

/// Called on every state change (see [`StateChange`]). A plain `fn` so that a
/// `static` breaker can hold it. It runs on the thread that caused the
/// change, after the change, without any lock held: it may read or even
/// `reset` the breaker. Two changes made at nearly the same time on two
/// threads can reach it in either order: [`StateChange::sequence`] says
/// which came first. It must not panic (during a call that is itself
/// panicking, a second panic aborts).
pub type OnStateChange = fn(&StateChange<'_>);

/// Builds a [`CircuitBreaker`]; from [`CircuitBreaker::builder`].
///
/// Every method is a `const fn`, so a breaker can be a `static`, where
/// [`build`](Self::build) turns a bad setting into a compile error. For
/// settings read at run time, [`try_build`](Self::try_build) returns a
/// [`ConfigError`] naming the setting.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` or `try_build` is called"]
pub struct CircuitBreakerBuilder {
    name: &'static str,
    failures: Option<u32>,
    failure_rate: Option<f64>,
    window: Option<u32>,
    time_window: Option<Duration>,
    min_calls: Option<u32>,
    slow: Option<Duration>,
    slow_rate: Option<f64>,
    reset: Duration,
    half_open: u32,
    on_cancel: OnCancel,
    on_state_change: Option<OnStateChange>,
}

/// The validated, untyped settings a breaker runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) reset: Duration,
    pub(crate) reset_nanos: i64,
    pub(crate) half_open: u32,
    pub(crate) on_cancel: OnCancel,
    pub(crate) on_state_change: Option<OnStateChange>,
    /// A call longer than this many microseconds is slow; 0: calls are
    /// not timed.
    pub(crate) slow_micros: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    Consecutive {
        failures: u32,
    },
    Rate {
        rate: f64,
        /// Calls, or seconds with `seconds`.
        window: u32,
        seconds: bool,
        min_calls: u32,
        /// The slow-call share that opens the breaker, with `slow`.
        slow_rate: Option<f64>,
    },
}

impl Settings {
    /// Whether the failure rate is over a time window.
    pub(crate) const fn seconds(&self) -> bool {
        matches!(self.mode, Mode::Rate { seconds: true, .. })
    }

    /// Whether an outcome needs the time: with `slow`, or a time window.
    pub(crate) const fn timed(&self) -> bool {
        self.slow_micros > 0 || self.seconds()
    }
}

/// The largest `failures` and `half_open`: both are counted in 16 bits of
/// the breaker's state word.
pub(crate) const MAX_COUNT: u32 = u16::MAX as u32;

/// The largest failure-rate `window`.
pub const MAX_WINDOW: u32 = 1024;

/// The longest failure-rate `time_window`, in seconds.
pub(crate) const MAX_TIME_WINDOW_SECS: u32 = 300;

const DEFAULT_WINDOW: u32 = 100;

/// `min_calls` of a time window when not given: Hystrix's request volume
/// threshold (20 calls in its 10 s window).
const DEFAULT_TIME_MIN_CALLS: u32 = 20;

impl CircuitBreakerBuilder {
    pub(crate) const fn new() -> Self {
        Self {
            name: "circuit_breaker",
            failures: None,
            failure_rate: None,
            window: None,
            time_window: None,
            min_calls: None,
            slow: None,
            slow_rate: None,
            reset: Duration::from_secs(60),
            half_open: 1,
            on_cancel: OnCancel::Ignore,
            on_state_change: None,
        }
    }

    /// The name in the registry, in [`CircuitOpen`](crate::CircuitOpen) and
    /// in events. For a name made at run time, see
    /// [`CircuitBreaker::with_name`].
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Consecutive-failure mode (the default, with 5): open after this many
    /// failures in a row; a success in between starts the count again.
    /// 1 to 65 535.
    pub const fn failures(mut self, failures: u32) -> Self {
        self.failures = Some(failures);
        self
    }

    /// Failure-rate mode: open when the share of failures among the last
    /// [`window`](Self::window) calls reaches `rate` (above 0, at most 1),
    /// once [`min_calls`](Self::min_calls) calls were seen. As
    /// resilience4j's count-based sliding window.
    ///
    /// Each call in failure-rate mode takes a short lock on the window to
    /// record its outcome; consecutive mode ([`failures`](Self::failures))
    /// is lock-free.
    pub const fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(rate);
        self
    }

    /// How many of the latest calls the failure rate is measured over: 1
    /// to 1024, 100 by default.
    pub const fn window(mut self, calls: u32) -> Self {
        self.window = Some(calls);
        self
    }

    /// A time-based failure rate instead: the calls of the last `window`
    /// (whole seconds, 1 to 300), counted in one-second buckets, as
    /// resilience4j's time-based sliding window. Each outcome reads the
    /// clock for its second. `min_calls` is 20 by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilient::CircuitBreaker;
    ///
    /// // Half the calls of the last 30 s failed, out of at least 10.
    /// static UPSTREAM: CircuitBreaker = CircuitBreaker::builder()
    ///     .failure_rate(0.5)
    ///     .time_window(Duration::from_secs(30))
    ///     .min_calls(10)
    ///     .build();
    /// # let _ = &UPSTREAM;
    /// ```
    pub const fn time_window(mut self, window: Duration) -> Self {
        self.time_window = Some(window);
        self
    }

    /// How many calls the window must have seen before the rate can open
    /// the breaker: 1 to `window`, all of `window` by default (for a
    /// [`time_window`](Self::time_window), at least 1, 20 by default).
    pub const fn min_calls(mut self, calls: u32) -> Self {
        self.min_calls = Some(calls);
        self
    }

    /// Slow calls (failure-rate mode): a call that takes longer than
    /// `slow`, succeeding or not, is slow, and the breaker opens when slow
    /// calls reach [`slow_rate`](Self::slow_rate) of the window, whatever
    /// the failure rate (resilience4j's slow-call threshold). A slow
    /// half-open trial counts as a failed one. 1 ms to 1 h, measured to
    /// the microsecond. Each call then reads the clock when admitted and
    /// when it ends; without `slow`, never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilient::{CircuitBreaker, CircuitState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder()
    ///     .failure_rate(1.0) // failures alone open it only if all fail
    ///     .window(2)
    ///     .slow(Duration::from_millis(100))
    ///     .slow_rate(0.5)
    ///     .build();
    /// let permit = breaker.acquire().unwrap();
    /// tokio::time::sleep(Duration::from_millis(150)).await;
    /// permit.success(); // slow, though it succeeded
    /// breaker.acquire().unwrap().success();
    /// assert_eq!(breaker.state(), CircuitState::Open); // one of two slow
    /// # }
    /// ```
    pub const fn slow(mut self, slow: Duration) -> Self {
        self.slow = Some(slow);
        self
    }

    /// The share of slow calls that opens the breaker (above 0, at most
    /// 1; 1 by default: every call in the window slow).
    pub const fn slow_rate(mut self, rate: f64) -> Self {
        self.slow_rate = Some(rate);
        self
    }

    /// How long the breaker stays open before it lets trial calls through:
    /// a call at or after `opened + reset` is a trial. 60 s by default.
    pub const fn reset(mut self, reset: Duration) -> Self {
        self.reset = reset;
        self
    }

    /// How many trial calls half-open lets through (at most that many at
    /// once): all succeed → closed, one fails → open again. 1 by default.
    pub const fn half_open(mut self, trials: u32) -> Self {
        self.half_open = trials;
        self
    }

    /// What a call dropped before its outcome counts as; see [`OnCancel`].
    pub const fn on_cancel(mut self, on_cancel: OnCancel) -> Self {
        self.on_cancel = on_cancel;
        self
    }

    /// A function called on every state change.
    pub const fn on_state_change(mut self, hook: OnStateChange) -> Self {
        self.on_state_change = Some(hook);
        self
    }

    /// Checks the settings and builds the breaker.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return; in a `static` that is a
    /// compile error.
    ///
    /// ```compile_fail
    /// # use resilient::CircuitBreaker;
    /// static NEVER: CircuitBreaker = CircuitBreaker::builder().failure_rate(1.5).build();
    /// ```
    #[cfg(not(resilient_loom))]
    pub const fn build(self) -> CircuitBreaker {
        match self.settings() {
            Ok(settings) => CircuitBreaker::new(BreakerName::new(self.name), settings),
            Err(err) => err.panic(),
        }
    }

    /// Checks the settings and builds the breaker, or names the first
    /// setting at fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `failures` or `half_open` is 0 or above
    /// 65 535; `failures` and `failure_rate` are both set; `window` or
    /// `min_calls` is set without `failure_rate`; `failure_rate` is not in
    /// (0, 1]; `window` is not in 1..=1024; `min_calls` is not in
    /// 1..=`window`; or `reset` is zero or longer than 365 days.
    #[cfg(not(resilient_loom))]
    pub const fn try_build(self) -> Result<CircuitBreaker, ConfigError> {
        match self.settings() {
            Ok(settings) => Ok(CircuitBreaker::new(BreakerName::new(self.name), settings)),
            Err(err) => Err(err),
        }
    }

    /// Under loom, whose atomics are not `const`.
    #[cfg(resilient_loom)]
    pub fn build(self) -> CircuitBreaker {
        match self.settings() {
            Ok(settings) => CircuitBreaker::new(BreakerName::new(self.name), settings),
            Err(err) => err.panic(),
        }
    }

    /// The name set so far.
    pub(super) const fn name_of(&self) -> &'static str {
        self.name
    }

    pub(super) const fn settings(&self) -> Result<Settings, ConfigError> {
        let mode = match (self.failures, self.failure_rate) {
            (Some(_), Some(_)) => {
                return Err(breaker_error!(
                    "failure_rate",
                    "cannot be combined with `failures`: choose consecutive failures or a failure rate"
                ));
            }
            (failures, None) => match self.consecutive(failures) {
                Ok(mode) => mode,
                Err(err) => return Err(err),
            },
            (None, Some(rate)) => match self.rate(rate) {
                Ok(mode) => mode,
                Err(err) => return Err(err),
            },
        };
        let slow_micros = match self.slow {
            None => 0,
            Some(slow) => {
                if slow.as_micros() < 1_000 {
                    return Err(breaker_error!("slow", "must be at least 1ms"));
                }
                if slow.as_secs() > 3600 || (slow.as_secs() == 3600 && slow.subsec_nanos() > 0) {
                    return Err(breaker_error!("slow", "must be at most 1h"));
                }
                // At most 3.6e9: fits (`try_from` is not `const`).
                #[allow(clippy::cast_possible_truncation)]
                let micros = slow.as_micros() as u32;
                micros
            }
        };
        if self.reset.is_zero() {
            return Err(breaker_error!("reset", "must be above zero"));
        }
        // The same ceiling as every retry duration.
        if self.reset.as_nanos() > crate::RetryPolicy::MAX_DURATION.as_nanos() {
            return Err(breaker_error!("reset", "must be at most 365 days"));
        }
        if self.half_open == 0 {
            return Err(breaker_error!("half_open", "must be at least 1"));
        }
        if self.half_open > MAX_COUNT {
            return Err(breaker_error!("half_open", "must be at most 65535"));
        }
        Ok(Settings {
            mode,
            reset: self.reset,
            reset_nanos: clock::nanos(self.reset),
            half_open: self.half_open,
            on_cancel: self.on_cancel,
            on_state_change: self.on_state_change,
            slow_micros,
        })
    }

    /// Consecutive-failure mode: no window settings allowed.
    const fn consecutive(&self, failures: Option<u32>) -> Result<Mode, ConfigError> {
        if self.window.is_some() {
            return Err(breaker_error!("window", "only applies with `failure_rate`"));
        }
        if self.time_window.is_some() {
            return Err(breaker_error!(
                "time_window",
                "only applies with `failure_rate`"
            ));
        }
        if self.min_calls.is_some() {
            return Err(breaker_error!(
                "min_calls",
                "only applies with `failure_rate`"
            ));
        }
        if self.slow.is_some() {
            return Err(breaker_error!(
                "slow",
                "only applies with `failure_rate`: slow calls are counted over its window"
            ));
        }
        if self.slow_rate.is_some() {
            return Err(breaker_error!("slow_rate", "only applies with `slow`"));
        }
        let failures = match failures {
            Some(n) => n,
            None => 5,
        };
        if failures == 0 {
            return Err(breaker_error!("failures", "must be at least 1"));
        }
        if failures > MAX_COUNT {
            return Err(breaker_error!("failures", "must be at most 65535"));
        }
        Ok(Mode::Consecutive { failures })
    }

    /// Failure-rate mode, over a count or a time window.
    const fn rate(&self, rate: f64) -> Result<Mode, ConfigError> {
        if rate.is_nan() || rate <= 0.0 || rate > 1.0 {
            return Err(breaker_error!(
                "failure_rate",
                "must be above 0 and at most 1 (0.5 means half the calls)"
            ));
        }
        let (window, seconds) = match (self.window, self.time_window) {
            (Some(_), Some(_)) => {
                return Err(breaker_error!(
                    "time_window",
                    "cannot be combined with `window`: the window is a number of calls or a duration"
                ));
            }
            (Some(calls), None) => (calls, false),
            (None, None) => (DEFAULT_WINDOW, false),
            (None, Some(window)) => {
                if window.subsec_nanos() != 0 || window.as_secs() == 0 {
                    return Err(breaker_error!(
                        "time_window",
                        "must be whole seconds (it is counted in one-second buckets), at least 1s"
                    ));
                }
                if window.as_secs() > MAX_TIME_WINDOW_SECS as u64 {
                    return Err(breaker_error!("time_window", "must be at most 300s"));
                }
                // At most 300, checked above (`try_from` is not `const`).
                #[allow(clippy::cast_possible_truncation)]
                let secs = window.as_secs() as u32;
                (secs, true)
            }
        };
        if !seconds && (window == 0 || window > MAX_WINDOW) {
            return Err(breaker_error!("window", "must be from 1 to 1024 calls"));
        }
        let min_calls = match (self.min_calls, seconds) {
            (Some(n), _) => n,
            (None, false) => window,
            (None, true) => DEFAULT_TIME_MIN_CALLS,
        };
        if min_calls == 0 {
            return Err(breaker_error!("min_calls", "must be at least 1"));
        }
        if !seconds && min_calls > window {
            return Err(breaker_error!("min_calls", "must not be above `window`"));
        }
        let slow_rate = match (self.slow, self.slow_rate) {
            (None, Some(_)) => {
                return Err(breaker_error!("slow_rate", "only applies with `slow`"));
            }
            (None, None) => None,
            (Some(_), None) => Some(1.0),
            (Some(_), Some(share)) => {
                if share.is_nan() || share <= 0.0 || share > 1.0 {
                    return Err(breaker_error!(
                        "slow_rate",
                        "must be above 0 and at most 1 (0.5 means half the calls)"
                    ));
                }
                Some(share)
            }
        };
        Ok(Mode::Rate {
            rate,
            window,
            seconds,
            min_calls,
            slow_rate,
        })
    }
}
