//! [`RateLimiter`]: at most `rate` calls per `per`, with bursts of up to
//! `burst`, by GCRA on one atomic; and paused by a service's
//! `Retry-After`, so every caller backs off together.

use core::fmt;
use core::future::IntoFuture;
use core::time::Duration;

use crate::BreakerName;
use crate::clock;
use crate::error::{ConfigError, setting_error};
use crate::sync::{AtomicI64, Ordering};

mod keyed;

pub use keyed::{KeyedRateLimiter, KeyedRateLimiterBuilder, LimiterSlot};

/// `setting_error!` for a rate limiter's settings.
macro_rules! rate_limit_error {
    ($($key_and_problem:tt)+) => {
        setting_error!("rate limit", $($key_and_problem)+)
    };
}

/// At most [`rate`](RateLimiterBuilder::rate) calls per
/// [`per`](RateLimiterBuilder::per), spread evenly, with bursts of up to
/// [`burst`](RateLimiterBuilder::burst) calls after a quiet spell: the
/// generic cell rate algorithm (GCRA), on one atomic, with no background
/// task. A call over the limit waits for its slot if that comes within
/// [`wait`](RateLimiterBuilder::wait), or is turned away at once with
/// [`RateLimited`], whose [`retry_after`](RateLimited::retry_after) says
/// when the next slot is.
///
/// What no peer does: [`pause_for`](Self::pause_for) holds every caller
/// off until a time a service named (a `429`'s `Retry-After`), so they
/// back off together instead of each finding the `429` for itself.
/// `#[rate_limit]` does it for any error below it that carries a
/// [`RetryHint::retry_after`](crate::RetryHint::retry_after), up to
/// [`max_pause`](RateLimiterBuilder::max_pause).
///
/// ```
/// use std::time::Duration;
/// use resilient::{RateLimited, RateLimiter};
///
/// // 10 calls a second, bursts of 2.
/// static SEARCH: RateLimiter = RateLimiter::builder()
///     .name("search")
///     .rate(10)
///     .per(Duration::from_secs(1))
///     .burst(2)
///     .build();
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(SEARCH.try_acquire().is_ok());
/// assert!(SEARCH.try_acquire().is_ok()); // the burst
/// let limited: RateLimited = SEARCH.try_acquire().unwrap_err();
/// assert_eq!(limited.retry_after(), Duration::from_millis(100));
/// tokio::time::sleep(Duration::from_millis(100)).await;
/// assert!(SEARCH.try_acquire().is_ok());
/// # }
/// ```
///
/// # Time
///
/// On tokio's clock, so paused-time tests run the limiter in virtual
/// time.
pub struct RateLimiter {
    name: BreakerName,
    settings: Settings,
    gcra: Gcra,
}

/// One limiter's state: GCRA on one word, and the end of a pause.
#[derive(Debug)]
pub(crate) struct Gcra {
    /// The theoretical arrival time of the next call, in [`clock`]
    /// nanoseconds: a call at `now` is admitted if `now >= tat - tolerance`,
    /// and moves it to `max(tat, now) + interval`.
    tat: AtomicI64,
    /// Until when a service's `Retry-After` holds it, in [`clock`]
    /// nanoseconds: tells a paused refusal from one by the rate.
    paused_until: AtomicI64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Nanoseconds between two calls at the steady rate.
    interval: i64,
    /// How far ahead of the steady rate calls may run: `(burst - 1)`
    /// intervals.
    tolerance: i64,
    wait: Duration,
    wait_nanos: i64,
    max_pause_nanos: i64,
    rate: u32,
    per: Duration,
    burst: u32,
}

/// What the limiter says about one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go now.
    Now,
    /// The slot is reserved, this many nanoseconds ahead (within `wait`).
    After(i64),
    /// Over the limit for longer than `wait`: the next slot in this many
    /// nanoseconds; `paused` if a service's pause holds it.
    Refused { wait: i64, paused: bool },
}

impl RateLimiter {
    /// Starts a builder: 50 calls a second (resilience4j's
    /// `limitForPeriod`), bursts of 50, no wait, pauses of at most 60 s.
    pub const fn builder() -> RateLimiterBuilder {
        RateLimiterBuilder::new()
    }

    /// The same limiter under a name made at run time.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<BreakerName>) -> Self {
        self.name = name.into();
        self
    }

    /// The name, as [`RateLimited`] shows it.
    pub fn name(&self) -> &BreakerName {
        &self.name
    }

    /// A slot now, if there is one (never waiting): one load and one
    /// compare-and-swap of the limiter's word, and one clock read.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] over the limit, or while paused.
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        match self.admit(clock::now(), 0) {
            Admission::Now | Admission::After(_) => Ok(()),
            Admission::Refused { wait, paused } => Err(self.limited(wait, paused)),
        }
    }

    /// A slot, waiting for it if it comes within `wait` (the slot is
    /// reserved at once, so waiting callers are served in the order they
    /// came; a caller that goes away while waiting leaves its slot
    /// unused).
    ///
    /// # Errors
    ///
    /// [`RateLimited`] when the next slot is further away than `wait`.
    pub async fn acquire(&self) -> Result<(), RateLimited> {
        let now = clock::now();
        match self.admit(now, self.settings.wait_nanos) {
            Admission::Now => Ok(()),
            Admission::After(wait) => {
                tokio::time::sleep(clock::duration(wait)).await;
                self.recheck()
            }
            Admission::Refused { wait, paused } => Err(self.limited(wait, paused)),
        }
    }

    /// After a wait for a reserved slot: refused if a pause came meanwhile,
    /// so a waiting caller does not reach a service that said to stop.
    pub(crate) fn recheck(&self) -> Result<(), RateLimited> {
        match self.gcra.recheck(clock::now()) {
            Some(left) => Err(self.limited(left, true)),
            None => Ok(()),
        }
    }

    /// Runs `fut` in a slot, waiting for one up to `wait`; turned away,
    /// `fut` is dropped unpolled.
    ///
    /// # Errors
    ///
    /// `fut`'s error, or `E::from(RateLimited)`.
    pub async fn call<T, E, F>(&self, fut: F) -> Result<T, E>
    where
        F: IntoFuture<Output = Result<T, E>>,
        E: From<RateLimited>,
    {
        self.acquire().await.map_err(E::from)?;
        fut.await
    }

    /// Holds every caller off for `pause` from now (a service's
    /// `Retry-After`), capped at [`max_pause`](RateLimiterBuilder::max_pause);
    /// a pause that ends sooner than one already in force changes
    /// nothing. After it, calls resume at the steady rate, without a
    /// burst.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilient::RateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::builder().rate(100).build();
    /// limiter.pause_for(Duration::from_secs(30)); // a 429 said so
    /// let limited = limiter.try_acquire().unwrap_err();
    /// assert!(limited.is_paused());
    /// assert_eq!(limited.retry_after(), Duration::from_secs(30));
    /// # }
    /// ```
    pub fn pause_for(&self, pause: Duration) {
        if let Some(pause) = self.gcra.pause(&self.settings, clock::now(), pause) {
            #[cfg(feature = "metrics")]
            crate::metrics::rate_paused(&self.name);
            #[cfg(feature = "tracing")]
            tracing::info!(
                target: "resilient::rate_limit",
                limiter = %self.name,
                pause = ?pause,
                "rate limit paused by the service's Retry-After"
            );
            #[cfg(not(feature = "tracing"))]
            let _ = pause;
        }
    }

    /// How long until a call would be admitted (zero: now).
    pub fn admits_in(&self) -> Duration {
        self.gcra.admits_in(&self.settings, clock::now())
    }

    /// For generated code: [`admit`](Self::admit) now, as a wait or the
    /// rejection.
    #[inline]
    pub(crate) fn admit_now(&self) -> Result<Option<Duration>, RateLimited> {
        match self.admit(clock::now(), self.settings.wait_nanos) {
            Admission::Now => Ok(None),
            Admission::After(wait) => Ok(Some(clock::duration(wait))),
            Admission::Refused { wait, paused } => Err(self.limited(wait, paused)),
        }
    }

    /// GCRA: admits a call at `now`, or reserves its slot if it comes
    /// within `wait` nanoseconds.
    pub(crate) fn admit(&self, now: i64, wait: i64) -> Admission {
        self.gcra.admit(&self.settings, now, wait)
    }

    pub(crate) fn limited(&self, wait: i64, paused: bool) -> RateLimited {
        limited(&self.name, wait, paused)
    }

    /// The settings: `rate` calls per `per`, bursts of `burst`.
    pub fn rate(&self) -> (u32, Duration, u32) {
        (self.settings.rate, self.settings.per, self.settings.burst)
    }

    /// How long a call waits for its slot at most.
    pub fn wait(&self) -> Duration {
        self.settings.wait
    }
}

/// The rejection by the limiter `name`, logged.
pub(crate) fn limited(name: &BreakerName, wait: i64, paused: bool) -> RateLimited {
    #[cfg(feature = "metrics")]
    crate::metrics::rate_limited(name);
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "resilient::rate_limit",
        limiter = %name,
        retry_after = ?clock::duration(wait),
        paused,
        "rate limit reached: call turned away"
    );
    let wait = clock::duration(wait);
    RateLimited {
        name: name.clone(),
        wait_secs: wait.as_secs(),
        wait_nanos: wait.subsec_nanos(),
        paused,
    }
}

impl Gcra {
    #[cfg(not(resilient_loom))]
    pub(crate) const fn new() -> Self {
        Self {
            // Far in the past: the first calls have the whole burst.
            tat: AtomicI64::new(i64::MIN / 2),
            paused_until: AtomicI64::new(i64::MIN),
        }
    }

    #[cfg(resilient_loom)]
    pub(crate) fn new() -> Self {
        Self {
            tat: AtomicI64::new(i64::MIN / 2),
            paused_until: AtomicI64::new(i64::MIN),
        }
    }

    /// Admits a call at `now`, or reserves its slot if it comes within
    /// `wait` nanoseconds.
    pub(crate) fn admit(&self, settings: &Settings, now: i64, wait: i64) -> Admission {
        let Settings {
            interval,
            tolerance,
            ..
        } = *settings;
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let allowed_at = tat.saturating_sub(tolerance);
            let ahead = allowed_at.saturating_sub(now);
            if ahead > wait {
                let paused = now < self.paused_until.load(Ordering::Acquire);
                return Admission::Refused {
                    wait: ahead,
                    paused,
                };
            }
            let next = tat.max(now).saturating_add(interval);
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if ahead > 0 => return Admission::After(ahead),
                Ok(_) => return Admission::Now,
                Err(actual) => tat = actual,
            }
        }
    }

    /// Holds calls off for `pause` from `now`, capped at `max_pause`;
    /// the pause in force, if any.
    pub(crate) fn pause(&self, settings: &Settings, now: i64, pause: Duration) -> Option<Duration> {
        let pause = clock::nanos(pause).min(settings.max_pause_nanos);
        if pause <= 0 {
            return None;
        }
        let until = now.saturating_add(pause);
        // A call is admitted at `tat - tolerance`: hold that at `until`.
        let held = until.saturating_add(settings.tolerance);
        self.paused_until.fetch_max(until, Ordering::AcqRel);
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                (tat < held).then_some(held)
            });
        Some(clock::duration(pause))
    }

    /// After a wait for a reserved slot: the rejection if a pause came
    /// meanwhile (the slot was reserved before the service said to stop).
    pub(crate) fn recheck(&self, now: i64) -> Option<i64> {
        let until = self.paused_until.load(Ordering::Acquire);
        (until > now).then(|| until - now)
    }

    /// Nanoseconds until a call would be admitted.
    pub(crate) fn admits_in(&self, settings: &Settings, now: i64) -> Duration {
        let tat = self.tat.load(Ordering::Acquire);
        clock::duration(tat.saturating_sub(settings.tolerance).saturating_sub(now))
    }

    /// Whether a call at `now` would find the whole burst: the state
    /// says nothing a fresh one would not.
    pub(crate) fn at_rest(&self, now: i64) -> bool {
        self.tat.load(Ordering::Acquire) <= now && self.paused_until.load(Ordering::Acquire) <= now
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.name)
            .field("rate", &self.settings.rate)
            .field("per", &self.settings.per)
            .field("burst", &self.settings.burst)
            .field("admits_in", &self.admits_in())
            .finish_non_exhaustive()
    }
}

/// A call turned away by a [`RateLimiter`] without running: over the
/// limit, or while a service's `Retry-After` pauses it.
/// [`retry_after`](Self::retry_after) is the time to the next slot: what
/// to put in a `429`'s `Retry-After`, and what a `#[retry]` above sleeps.
///
/// ```
/// use resilient::RateLimiter;
/// let limiter = RateLimiter::builder().name("api").rate(1).burst(1).build();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
/// # rt.block_on(async {
/// limiter.try_acquire().unwrap();
/// let limited = limiter.try_acquire().unwrap_err();
/// assert_eq!(limited.to_string(), "rate limit `api` reached; next call in 1s");
/// # });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RateLimited {
    name: BreakerName,
    wait_secs: u64,
    wait_nanos: u32,
    paused: bool,
}

impl RateLimited {
    /// The limiter's name.
    pub fn name(&self) -> &BreakerName {
        &self.name
    }

    /// Time until the next slot.
    pub const fn retry_after(&self) -> Duration {
        Duration::new(self.wait_secs, self.wait_nanos)
    }

    /// Whether a service's `Retry-After` holds the limiter (rather than
    /// the rate alone).
    pub const fn is_paused(&self) -> bool {
        self.paused
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.paused {
            write!(
                f,
                "rate limit `{}` paused by the service's Retry-After; next call in {:?}",
                self.name,
                self.retry_after()
            )
        } else {
            write!(
                f,
                "rate limit `{}` reached; next call in {:?}",
                self.name,
                self.retry_after()
            )
        }
    }
}

// The wait's two parts are shown as the one `Duration` they make.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("name", &self.name)
            .field("retry_after", &self.retry_after())
            .field("paused", &self.paused)
            .finish()
    }
}

impl std::error::Error for RateLimited {}

/// `RetryHint` for the rejection itself: transient, and come back after
/// `retry_after`.
impl crate::RetryHint for RateLimited {
    fn retry_after(&self) -> Option<Duration> {
        Some(RateLimited::retry_after(self))
    }
}

/// For generated code: a layer that cannot limit carries `Infallible`.
impl From<core::convert::Infallible> for RateLimited {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}

/// A placeholder for a slot of generated code found empty, which the
/// stack never does.
pub(crate) const UNKNOWN_LIMITED: RateLimited = RateLimited {
    name: BreakerName::new("unknown"),
    wait_secs: 0,
    wait_nanos: 0,
    paused: false,
};

/// Builds a [`RateLimiter`]; from [`RateLimiter::builder`]. Every method
/// is a `const fn`, so a limiter can be a `static`, where a bad setting is
/// a compile error.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` or `try_build` is called"]
pub struct RateLimiterBuilder {
    name: &'static str,
    rate: u32,
    per: Duration,
    burst: Option<u32>,
    wait: Duration,
    max_pause: Duration,
}

impl RateLimiterBuilder {
    pub(crate) const fn new() -> Self {
        Self {
            name: "rate_limit",
            rate: 50,
            per: Duration::from_secs(1),
            burst: None,
            wait: Duration::ZERO,
            max_pause: Duration::from_secs(60),
        }
    }

    /// The name set so far.
    pub(crate) const fn name_of(&self) -> &'static str {
        self.name
    }

    /// The name in [`RateLimited`] and in events.
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Calls per [`per`](Self::per): at least 1; 50 by default.
    pub const fn rate(mut self, calls: u32) -> Self {
        self.rate = calls;
        self
    }

    /// The period `rate` counts over: 1 s by default, 1 µs to 365 days.
    pub const fn per(mut self, period: Duration) -> Self {
        self.per = period;
        self
    }

    /// Calls that may run back to back after a quiet spell: at least 1;
    /// `rate` by default (a whole period's calls at once).
    pub const fn burst(mut self, calls: u32) -> Self {
        self.burst = Some(calls);
        self
    }

    /// How long a call over the limit waits for its slot before it is
    /// turned away: zero (the default: at once) to 365 days.
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The longest pause a service's `Retry-After` may impose: 60 s by
    /// default, zero (never pause) to 365 days. A hostile or broken header
    /// asking for a year holds the callers off this long at most.
    pub const fn max_pause(mut self, max: Duration) -> Self {
        self.max_pause = max;
        self
    }

    /// Checks the settings and builds the limiter.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return; in a `static` that is a
    /// compile error.
    ///
    /// ```compile_fail
    /// # use resilient::RateLimiter;
    /// static NEVER: RateLimiter = RateLimiter::builder().rate(0).build();
    /// ```
    #[cfg(not(resilient_loom))]
    pub const fn build(self) -> RateLimiter {
        match self.settings() {
            Ok(settings) => self.assemble(settings),
            Err(err) => err.panic(),
        }
    }

    /// Under loom, whose atomics are not `const`.
    #[cfg(resilient_loom)]
    pub fn build(self) -> RateLimiter {
        match self.settings() {
            Ok(settings) => self.assemble(settings),
            Err(err) => err.panic(),
        }
    }

    /// Checks the settings and builds the limiter, or names the setting at
    /// fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `rate` or `burst` is 0, `per` is below 1 µs
    /// or above 365 days, the interval between calls (`per / rate`) is
    /// below 1 ns, or `wait` or `max_pause` is above 365 days.
    #[cfg(not(resilient_loom))]
    pub const fn try_build(self) -> Result<RateLimiter, ConfigError> {
        match self.settings() {
            Ok(settings) => Ok(self.assemble(settings)),
            Err(err) => Err(err),
        }
    }

    #[cfg(not(resilient_loom))]
    const fn assemble(self, settings: Settings) -> RateLimiter {
        RateLimiter {
            name: BreakerName::new(self.name),
            settings,
            gcra: Gcra::new(),
        }
    }

    #[cfg(resilient_loom)]
    fn assemble(self, settings: Settings) -> RateLimiter {
        RateLimiter {
            name: BreakerName::new(self.name),
            settings,
            gcra: Gcra::new(),
        }
    }

    pub(crate) const fn settings(&self) -> Result<Settings, ConfigError> {
        if self.rate == 0 {
            return Err(rate_limit_error!("rate", "must be at least 1"));
        }
        if self.per.as_micros() < 1 {
            return Err(rate_limit_error!("per", "must be at least 1us"));
        }
        let max = crate::RetryPolicy::MAX_DURATION.as_nanos();
        if self.per.as_nanos() > max {
            return Err(rate_limit_error!("per", "must be at most 365 days"));
        }
        // Rounded up, so the limit is never exceeded.
        let per = clock::nanos(self.per);
        let interval = (per + self.rate as i64 - 1) / self.rate as i64;
        if per < self.rate as i64 {
            return Err(rate_limit_error!(
                "rate",
                "is too high for `per`: more than one call per nanosecond; lower `rate` or lengthen `per`"
            ));
        }
        let burst = match self.burst {
            Some(burst) => burst,
            None => self.rate,
        };
        if burst == 0 {
            return Err(rate_limit_error!("burst", "must be at least 1"));
        }
        // The burst's span, `(burst - 1)` intervals, is held in the same
        // nanoseconds as the clock: at most 365 days.
        if (burst as i64 - 1) > clock::nanos(crate::RetryPolicy::MAX_DURATION) / interval {
            return Err(rate_limit_error!(
                "burst",
                "spans more than 365 days at this rate: `(burst - 1) × per / rate` must be at most 365 days"
            ));
        }
        if self.wait.as_nanos() > max {
            return Err(rate_limit_error!("wait", "must be at most 365 days"));
        }
        if self.max_pause.as_nanos() > max {
            return Err(rate_limit_error!("max_pause", "must be at most 365 days"));
        }
        Ok(Settings {
            interval,
            tolerance: interval.saturating_mul(burst as i64 - 1),
            wait: self.wait,
            wait_nanos: clock::nanos(self.wait),
            max_pause_nanos: clock::nanos(self.max_pause),
            rate: self.rate,
            per: self.per,
            burst,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, per_ms: u64, burst: u32) -> RateLimiter {
        RateLimiter::builder()
            .rate(rate)
            .per(Duration::from_millis(per_ms))
            .burst(burst)
            .build()
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn gcra_admits_a_burst_then_the_steady_rate() {
        let l = limiter(10, 1000, 3);
        let t = 1_000 * MS;
        for _ in 0..3 {
            assert_eq!(l.admit(t, 0), Admission::Now);
        }
        assert_eq!(
            l.admit(t, 0),
            Admission::Refused {
                wait: 100 * MS,
                paused: false
            }
        );
        assert_eq!(l.admit(t + 100 * MS, 0), Admission::Now);
        assert!(matches!(
            l.admit(t + 150 * MS, 0),
            Admission::Refused { .. }
        ));
        // A wait reserves the slot.
        assert_eq!(l.admit(t + 150 * MS, 60 * MS), Admission::After(50 * MS));
        assert_eq!(
            l.admit(t + 150 * MS, 0),
            Admission::Refused {
                wait: 150 * MS,
                paused: false
            }
        );
    }

    #[test]
    fn settings_are_checked() {
        let err = |b: RateLimiterBuilder| b.try_build().unwrap_err().to_string();
        assert_eq!(
            err(RateLimiter::builder().rate(0)),
            "invalid rate limit setting `rate`: must be at least 1"
        );
        assert_eq!(
            err(RateLimiter::builder().burst(0)),
            "invalid rate limit setting `burst`: must be at least 1"
        );
        assert_eq!(
            err(RateLimiter::builder().per(Duration::from_nanos(10))),
            "invalid rate limit setting `per`: must be at least 1us"
        );
        assert_eq!(
            err(RateLimiter::builder()
                .rate(u32::MAX)
                .per(Duration::from_micros(1))),
            "invalid rate limit setting `rate`: is too high for `per`: more than one call per nanosecond; lower `rate` or lengthen `per`"
        );
    }
}
