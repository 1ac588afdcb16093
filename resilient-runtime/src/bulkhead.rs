//! [`Bulkhead`]: at most N calls at once, the rest waiting their turn (for
//! a while) or turned away, so one slow dependency cannot take every task,
//! connection or thread of the service with it.

use core::fmt;
use core::future::IntoFuture;
use core::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::BreakerName;
use crate::error::{ConfigError, setting_error};

/// `setting_error!` for a bulkhead's settings.
macro_rules! bulkhead_error {
    ($($key_and_problem:tt)+) => {
        setting_error!("bulkhead", $($key_and_problem)+)
    };
}

/// The largest `max`.
pub const MAX_CONCURRENT: u32 = 1_000_000;

/// At most [`max`](BulkheadBuilder::max) calls run at once; a call beyond
/// them waits, first come first served, up to
/// [`wait`](BulkheadBuilder::wait), and is then turned away with
/// [`BulkheadFull`] (resilience4j's semaphore bulkhead: 25 calls, no
/// wait, by default).
///
/// A waiting call whose caller goes away (a timeout above, a client that
/// hung up) leaves the queue at once, and a call's place is given back
/// when it ends however it ends: a result, a panic, or its future dropped.
///
/// ```
/// use std::time::Duration;
/// use resilient::{Bulkhead, BulkheadFull};
///
/// static SEARCH: Bulkhead = Bulkhead::builder()
///     .name("search")
///     .max(2)
///     .wait(Duration::from_millis(100))
///     .build();
///
/// #[derive(Debug)]
/// enum ApiError { Full(BulkheadFull) }
/// impl From<BulkheadFull> for ApiError {
///     fn from(full: BulkheadFull) -> Self { ApiError::Full(full) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let first = SEARCH.try_enter().unwrap();
/// let second = SEARCH.try_enter().unwrap();
/// // A third call waits 100 ms for room, then is turned away.
/// let Err(ApiError::Full(full)) = SEARCH.call(async { Ok::<_, ApiError>(()) }).await else { panic!() };
/// assert_eq!(full.to_string(), "bulkhead `search` is full: 2 calls running, waited 100ms");
/// drop(first);
/// SEARCH.call(async { Ok::<_, ApiError>(()) }).await.unwrap(); // room again
/// # drop(second);
/// # }
/// ```
pub struct Bulkhead {
    name: BreakerName,
    max: u32,
    wait: Duration,
    permits: Semaphore,
}

impl Bulkhead {
    /// Starts a builder with the defaults: 25 calls at once, no wait.
    pub const fn builder() -> BulkheadBuilder {
        BulkheadBuilder::new()
    }

    /// The same bulkhead under a name made at run time.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<BreakerName>) -> Self {
        self.name = name.into();
        self
    }

    /// The name, as [`BulkheadFull`] shows it.
    pub fn name(&self) -> &BreakerName {
        &self.name
    }

    /// The most calls running at once.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// How long a call waits for room.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Calls running now.
    pub fn running(&self) -> u32 {
        let free = u32::try_from(self.permits.available_permits()).unwrap_or(u32::MAX);
        self.max.saturating_sub(free)
    }

    /// A place for one call, if one is free now (never waiting): one
    /// atomic compare-and-swap. A call waiting for room goes first.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when `max` calls are running.
    #[inline]
    pub fn try_enter(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        self.try_place().ok_or_else(|| self.full(Duration::ZERO))
    }

    /// A place taken now, if one is free, and kept until
    /// [`give_back`](Self::give_back): for a future that cannot borrow the
    /// bulkhead (a tower service's response).
    #[cfg(feature = "tower")]
    pub(crate) fn take_place(&self) -> bool {
        self.try_place().map(BulkheadPermit::forget).is_some()
    }

    /// Gives back a place from [`take_place`](Self::take_place).
    #[cfg(feature = "tower")]
    pub(crate) fn give_back(&self) {
        self.permits.add_permits(1);
    }

    /// A place if one is free now, without building a rejection.
    #[inline]
    pub(crate) fn try_place(&self) -> Option<BulkheadPermit<'_>> {
        self.permits
            .try_acquire()
            .ok()
            .map(|permit| BulkheadPermit { _permit: permit })
    }

    /// A place for one call, waiting for one up to `wait`, in turn.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when no place came free within `wait`.
    pub async fn enter(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        match self.try_place() {
            Some(permit) => Ok(permit),
            None => self.wait_for_room().await,
        }
    }

    /// [`enter`](Self::enter) after its first try failed: out of line,
    /// and the one copy of the waiting for every function.
    pub(crate) async fn wait_for_room(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if self.wait.is_zero() {
            return Err(self.full(Duration::ZERO));
        }
        match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(BulkheadPermit { _permit: permit }),
            // The semaphore is never closed; a timeout is a full bulkhead.
            Ok(Err(_)) | Err(_) => Err(self.full(self.wait)),
        }
    }

    /// Runs `fut` in a place of the bulkhead, waiting for one up to
    /// `wait`; turned away with `E::from(BulkheadFull)`, `fut` is dropped
    /// unpolled.
    ///
    /// # Errors
    ///
    /// `fut`'s error, or `E::from(BulkheadFull)`.
    pub async fn call<T, E, F>(&self, fut: F) -> Result<T, E>
    where
        F: IntoFuture<Output = Result<T, E>>,
        E: From<BulkheadFull>,
    {
        let _permit = match self.try_place() {
            Some(permit) => permit,
            None => self.wait_for_room().await.map_err(E::from)?,
        };
        fut.await
    }

    #[cold]
    pub(crate) fn full(&self, waited: Duration) -> BulkheadFull {
        // Debug, not warn: an overloaded service turns many calls away,
        // and each is a line.
        #[cfg(feature = "metrics")]
        crate::metrics::bulkhead_full(&self.name);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "resilient::bulkhead",
            bulkhead = %self.name,
            max = self.max,
            waited = ?waited,
            "bulkhead full: call turned away"
        );
        BulkheadFull {
            name: self.name.clone(),
            max: self.max,
            waited,
        }
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.name)
            .field("max", &self.max)
            .field("wait", &self.wait)
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

/// One call's place in a [`Bulkhead`], given back when dropped.
#[must_use = "the place is given back when the permit is dropped"]
#[derive(Debug)]
pub struct BulkheadPermit<'a> {
    _permit: SemaphorePermit<'a>,
}

#[cfg(feature = "tower")]
impl BulkheadPermit<'_> {
    /// Keeps the place taken past this permit; given back with
    /// [`Bulkhead::give_back`].
    #[allow(clippy::used_underscore_binding)] // held for its drop elsewhere
    pub(crate) fn forget(self) {
        self._permit.forget();
    }
}

/// A call turned away by a full [`Bulkhead`] without running.
///
/// A function under `#[bulkhead]` returns `E::from(BulkheadFull)`, so its
/// error type implements `From<BulkheadFull>` (or the attribute has
/// `on_full = f`). Under `#[circuit_breaker]` it is not the dependency's
/// failure; under `#[retry]` it is retried, after the backoff, and costs a
/// retry budget nothing (the call never reached the service).
///
/// ```
/// use resilient::Bulkhead;
/// let bulkhead = Bulkhead::builder().name("db").max(1).build();
/// let _running = bulkhead.try_enter().unwrap();
/// let full = bulkhead.try_enter().unwrap_err();
/// assert_eq!(full.max(), 1);
/// assert_eq!(full.to_string(), "bulkhead `db` is full: 1 call running");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BulkheadFull {
    name: BreakerName,
    max: u32,
    waited: Duration,
}

impl BulkheadFull {
    /// The name of the bulkhead.
    pub fn name(&self) -> &BreakerName {
        &self.name
    }

    /// Its `max`: the calls that were running.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// How long the call waited for room before it was turned away.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = if self.max == 1 { "call" } else { "calls" };
        write!(
            f,
            "bulkhead `{}` is full: {} {calls} running",
            self.name, self.max
        )?;
        if !self.waited.is_zero() {
            write!(f, ", waited {:?}", self.waited)?;
        }
        Ok(())
    }
}

impl fmt::Debug for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadFull")
            .field("name", &self.name)
            .field("max", &self.max)
            .field("waited", &self.waited)
            .finish()
    }
}

impl std::error::Error for BulkheadFull {}

/// A placeholder for a slot of generated code found empty, which the
/// stack never does: a defined value rather than a panic.
pub(crate) const UNKNOWN_FULL: BulkheadFull = BulkheadFull {
    name: BreakerName::new("unknown"),
    max: 0,
    waited: Duration::ZERO,
};

/// For generated code: a layer that cannot be full carries `Infallible`.
impl From<core::convert::Infallible> for BulkheadFull {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}

/// Builds a [`Bulkhead`]; from [`Bulkhead::builder`]. Every method is a
/// `const fn`, so a bulkhead can be a `static`, where a bad setting is a
/// compile error; [`try_build`](Self::try_build) is for settings read at
/// run time.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` or `try_build` is called"]
pub struct BulkheadBuilder {
    name: &'static str,
    max: u32,
    wait: Duration,
}

impl BulkheadBuilder {
    const fn new() -> Self {
        Self {
            name: "bulkhead",
            max: 25,
            wait: Duration::ZERO,
        }
    }

    /// The name in [`BulkheadFull`] and in events.
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The most calls running at once: 1 to 1 000 000, 25 by default.
    pub const fn max(mut self, calls: u32) -> Self {
        self.max = calls;
        self
    }

    /// How long a call beyond `max` waits for room, in turn, before it is
    /// turned away: zero (the default: at once) to 365 days.
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Checks the settings and builds the bulkhead.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return; in a `static` that is a
    /// compile error.
    ///
    /// ```compile_fail
    /// # use resilient::Bulkhead;
    /// static NEVER: Bulkhead = Bulkhead::builder().max(0).build();
    /// ```
    pub const fn build(self) -> Bulkhead {
        if let Err(err) = self.check() {
            err.panic();
        }
        self.assemble()
    }

    /// Checks the settings and builds the bulkhead, or names the setting
    /// at fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `max` is 0 or above 1 000 000, or `wait` is
    /// longer than 365 days.
    pub const fn try_build(self) -> Result<Bulkhead, ConfigError> {
        if let Err(err) = self.check() {
            return Err(err);
        }
        Ok(self.assemble())
    }

    const fn check(&self) -> Result<(), ConfigError> {
        if self.max == 0 {
            return Err(bulkhead_error!("max", "must be at least 1"));
        }
        if self.max > MAX_CONCURRENT {
            return Err(bulkhead_error!("max", "must be at most 1000000"));
        }
        if self.wait.as_nanos() > crate::RetryPolicy::MAX_DURATION.as_nanos() {
            return Err(bulkhead_error!("wait", "must be at most 365 days"));
        }
        Ok(())
    }

    const fn assemble(self) -> Bulkhead {
        Bulkhead {
            name: BreakerName::new(self.name),
            max: self.max,
            wait: self.wait,
            permits: Semaphore::const_new(self.max as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let err = |b: BulkheadBuilder| b.try_build().unwrap_err().to_string();
        assert_eq!(
            err(Bulkhead::builder().max(0)),
            "invalid bulkhead setting `max`: must be at least 1"
        );
        assert_eq!(
            err(Bulkhead::builder().max(MAX_CONCURRENT + 1)),
            "invalid bulkhead setting `max`: must be at most 1000000"
        );
        assert_eq!(
            err(Bulkhead::builder().wait(Duration::from_secs(366 * 24 * 3600))),
            "invalid bulkhead setting `wait`: must be at most 365 days"
        );
        assert!(Bulkhead::builder().max(MAX_CONCURRENT).try_build().is_ok());
    }

    #[test]
    fn a_full_bulkhead_says_so() {
        let bulkhead = Bulkhead::builder().name("b").max(2).build();
        let _one = bulkhead.try_enter().unwrap();
        let _two = bulkhead.try_enter().unwrap();
        assert_eq!(bulkhead.running(), 2);
        let full = bulkhead.try_enter().unwrap_err();
        assert_eq!(full.to_string(), "bulkhead `b` is full: 2 calls running");
        assert_eq!(full.waited(), Duration::ZERO);
    }
}
