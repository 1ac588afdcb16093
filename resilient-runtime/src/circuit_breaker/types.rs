//! The circuit breaker's public vocabulary: its state, its name and the
//! rejection it returns while open.
//!
//! The breaker itself (`CircuitBreaker`, its builder, `call`, the registry)
//! builds on these.

use core::fmt;
use core::time::Duration;
use std::borrow::Borrow;
use std::sync::Arc;

/// Where a circuit breaker stands.
///
/// ```
/// use resilient::CircuitState;
/// assert_eq!(CircuitState::HalfOpen.to_string(), "half-open");
/// assert!(CircuitState::Closed.admits_calls());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected at once with [`CircuitOpen`], without running.
    Open,
    /// The reset time has passed: a limited number of trial calls go
    /// through, and their outcome closes or re-opens the breaker.
    HalfOpen,
}

impl CircuitState {
    /// Whether some call would be let through now (all of them while
    /// closed, trial calls while half-open).
    pub const fn admits_calls(self) -> bool {
        !matches!(self, Self::Open)
    }

    /// The state as a lowercase word, for logs and health routes:
    /// `closed`, `open` or `half-open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state change of a circuit breaker, as its
/// [`on_state_change`](crate::CircuitBreakerBuilder::on_state_change) hook
/// sees it.
///
/// ```
/// use resilient::{CircuitBreaker, CircuitState, StateChange};
///
/// fn log(change: &StateChange<'_>) {
///     println!("#{} {}: {} -> {}", change.sequence, change.breaker, change.from, change.to);
/// }
/// let breaker = CircuitBreaker::builder().failures(1).on_state_change(log).build();
/// breaker.acquire().unwrap().failure(); // prints "#1 circuit_breaker: closed -> open"
/// # assert_eq!(breaker.state(), CircuitState::Open);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange<'a> {
    /// The breaker that changed.
    pub breaker: &'a BreakerName,
    /// The state before. `Open → HalfOpen` is announced when the first
    /// trial call is admitted, which may be after
    /// [`CircuitBreaker::state`](crate::CircuitBreaker::state) began
    /// reporting `HalfOpen` (and is never announced if no call arrives).
    /// A [`reset`](crate::CircuitBreaker::reset),
    /// [`force_open`](crate::CircuitBreaker::force_open) or
    /// [`disable`](crate::CircuitBreaker::disable) in that gap reports
    /// `from` as `state()` did, `HalfOpen`, without an `Open → HalfOpen`
    /// before it.
    pub from: CircuitState,
    /// The state after.
    pub to: CircuitState,
    /// 1 for this breaker's first change, then one more for each: the order
    /// of the changes, whatever order the hook sees them in.
    pub sequence: u64,
}

/// A circuit breaker's name, as the registry and [`CircuitOpen`] show it.
///
/// Cheap to clone: a `&'static str` (the usual case, and the only one a
/// `static` breaker can hold, so [`BreakerName::new`] is a `const fn`) or a
/// shared `Arc<str>` for names made at run time, such as one breaker per
/// upstream host.
///
/// ```
/// use resilient::BreakerName;
///
/// const PAYMENTS: BreakerName = BreakerName::new("payments");
/// let host = BreakerName::from(format!("upstream:{}", "10.0.0.7:8080"));
/// assert_eq!(PAYMENTS.as_str(), "payments");
/// assert_eq!(host, "upstream:10.0.0.7:8080");
/// assert_eq!(host.clone(), host);
/// ```
#[derive(Clone)]
pub struct BreakerName(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl BreakerName {
    /// The name as a metric label, without copying it.
    #[cfg(feature = "metrics")]
    pub(crate) fn label(&self) -> metrics::SharedString {
        match &self.0 {
            Repr::Static(name) => metrics::SharedString::const_str(name),
            Repr::Shared(name) => metrics::SharedString::from_shared(Arc::clone(name)),
        }
    }

    /// A name known at compile time.
    pub const fn new(name: &'static str) -> Self {
        Self(Repr::Static(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(name) => name,
            Repr::Shared(name) => name,
        }
    }
}

impl From<&'static str> for BreakerName {
    fn from(name: &'static str) -> Self {
        Self::new(name)
    }
}

impl From<String> for BreakerName {
    fn from(name: String) -> Self {
        Self(Repr::Shared(name.into()))
    }
}

impl From<Arc<str>> for BreakerName {
    fn from(name: Arc<str>) -> Self {
        Self(Repr::Shared(name))
    }
}

impl AsRef<str> for BreakerName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for BreakerName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Equality, order and hash by the text alone, whichever way it is held, so
// a name can key a map looked up by `&str` (`Borrow<str>` requires this).
impl PartialEq for BreakerName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for BreakerName {}

impl PartialEq<str> for BreakerName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BreakerName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for BreakerName {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BreakerName {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl core::hash::Hash for BreakerName {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for BreakerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for BreakerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a call that an open circuit breaker rejected without
/// running it.
///
/// A function guarded by `#[circuit_breaker]` returns `E::from(CircuitOpen)`,
/// so its error type implements `From<CircuitOpen>` (one `#[from]` line with
/// thiserror; `anyhow::Error` and `Box<dyn Error + Send + Sync>` already
/// do). [`retry_after`](Self::retry_after) is the time until the breaker
/// lets trial calls through: what to put in a `503`'s `Retry-After`.
///
/// ```
/// use std::time::Duration;
/// use resilient::{BreakerName, CircuitOpen};
///
/// let open = CircuitOpen::new(BreakerName::new("payments"), Duration::from_millis(1_500));
/// assert_eq!(open.retry_after(), Duration::from_millis(1_500));
/// assert_eq!(open.retry_after_secs(), 2); // rounded up: never invite a client back early
/// assert_eq!(open.to_string(), "circuit breaker `payments` is open; calls are admitted again in 1.5s");
///
/// let boxed: Box<dyn std::error::Error + Send + Sync> = open.into();
/// assert!(boxed.downcast_ref::<CircuitOpen>().is_some());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    name: BreakerName,
    // The wait as its parts rather than a `Duration`, so the flag fits in
    // what would be the `Duration`'s padding: 40 bytes, not 48 (a
    // rejection is built and moved on the hot path of an open breaker).
    wait_secs: u64,
    wait_nanos: u32,
    reason: OpenReason,
}

/// Why a [`CircuitOpen`] rejected a call; from [`CircuitOpen::reason`].
///
/// ```
/// use resilient::{CircuitBreaker, OpenReason};
/// let breaker = CircuitBreaker::builder().failures(1).build();
/// breaker.acquire().unwrap().failure();
/// assert_eq!(breaker.check().unwrap_err().reason(), OpenReason::Open);
/// breaker.force_open();
/// assert_eq!(breaker.check().unwrap_err().reason(), OpenReason::Forced);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenReason {
    /// The breaker is open, or half-open with every trial call in flight
    /// (then [`retry_after`](CircuitOpen::retry_after) is zero).
    Open,
    /// The breaker was [forced open](crate::CircuitBreaker::force_open).
    Forced,
    /// A [`KeyedBreaker`](crate::KeyedBreaker) met a new key while every
    /// one of its `max_keys` breakers was open (or forced open or
    /// disabled by an operator): it neither evicts those nor grows past
    /// `max_keys`, so the new key waits
    /// ([`retry_after`](CircuitOpen::retry_after): until the first open
    /// one reaches its reset, or the `reset` setting if only operators'
    /// breakers are kept).
    NoRoomForKey,
}

impl CircuitOpen {
    /// A rejection by the breaker `name`, which admits calls again in
    /// `retry_after`.
    pub const fn new(name: BreakerName, retry_after: Duration) -> Self {
        Self {
            name,
            wait_secs: retry_after.as_secs(),
            wait_nanos: retry_after.subsec_nanos(),
            reason: OpenReason::Open,
        }
    }

    /// A rejection by a breaker held open by
    /// [`force_open`](crate::CircuitBreaker::force_open), with its `reset`
    /// setting as the (hint-only) wait.
    pub(crate) fn forced(name: BreakerName, reset: Duration) -> Self {
        Self {
            reason: OpenReason::Forced,
            ..Self::new(name, reset)
        }
    }

    /// A new key of a keyed breaker refused for lack of room (see
    /// [`OpenReason::NoRoomForKey`]).
    pub(crate) fn no_room(name: BreakerName, retry_after: Duration) -> Self {
        Self {
            reason: OpenReason::NoRoomForKey,
            ..Self::new(name, retry_after)
        }
    }

    /// Why the call was rejected.
    pub const fn reason(&self) -> OpenReason {
        self.reason
    }

    /// Whether the breaker was [forced open](crate::CircuitBreaker::force_open):
    /// it admits nothing until released, whatever
    /// [`retry_after`](Self::retry_after) says.
    ///
    /// ```
    /// # use resilient::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder().build();
    /// breaker.force_open();
    /// let open = breaker.check().unwrap_err();
    /// assert!(open.is_forced());
    /// assert_eq!(open.to_string(), format!("circuit breaker `{}` is forced open until it is released", breaker.name()));
    /// ```
    pub const fn is_forced(&self) -> bool {
        matches!(self.reason, OpenReason::Forced)
    }

    /// The name of the breaker that rejected the call.
    pub const fn name(&self) -> &BreakerName {
        &self.name
    }

    /// Time until trial calls are let through: zero once the reset time
    /// has passed but every half-open trial permit is taken.
    ///
    /// From a [forced-open](crate::CircuitBreaker::force_open) breaker it
    /// is the breaker's `reset` setting, a hint only: a forced-open breaker
    /// admits nothing until it is released
    /// ([`CircuitBreaker::reset`](crate::CircuitBreaker::reset) or
    /// [`disable`](crate::CircuitBreaker::disable)), however long that
    /// takes; [`is_forced`](Self::is_forced) tells that case apart.
    pub const fn retry_after(&self) -> Duration {
        Duration::new(self.wait_secs, self.wait_nanos)
    }

    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up, as
    /// an HTTP `Retry-After` delay-seconds value wants it: a wait of 1.2 s
    /// is 2, never 1, so a client is not invited back early. Zero (a
    /// half-open breaker with every trial in flight) stays 0; a server
    /// answering `503` may prefer to send 1 then.
    pub const fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after();
        if d.subsec_nanos() == 0 {
            d.as_secs()
        } else {
            d.as_secs().saturating_add(1)
        }
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            OpenReason::Forced => {
                return write!(
                    f,
                    "circuit breaker `{}` is forced open until it is released",
                    self.name
                );
            }
            OpenReason::NoRoomForKey => {
                return write!(
                    f,
                    "circuit breaker `{}` has no room for a new key: every key it keeps is open, forced open or disabled; retry in {:?}",
                    self.name,
                    self.retry_after()
                );
            }
            OpenReason::Open => {}
        }
        if self.retry_after().is_zero() {
            return write!(
                f,
                "circuit breaker `{}` is half-open and its trial calls are all in flight",
                self.name
            );
        }
        write!(
            f,
            "circuit breaker `{}` is open; calls are admitted again in {:?}",
            self.name,
            self.retry_after()
        )
    }
}

// The wait's two parts are shown as the one `Duration` they make.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitOpen")
            .field("name", &self.name)
            .field("retry_after", &self.retry_after())
            .field("reason", &self.reason)
            .finish()
    }
}

impl std::error::Error for CircuitOpen {}

/// For generated code: a layer that cannot reject carries `Infallible`.
impl From<core::convert::Infallible> for CircuitOpen {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn names_compare_and_hash_by_text() {
        let mut map = HashMap::new();
        map.insert(BreakerName::new("a"), 1);
        map.insert(BreakerName::from(String::from("b")), 2);
        assert_eq!(map.get("a"), Some(&1));
        assert_eq!(map.get("b"), Some(&2));
        assert_eq!(
            BreakerName::new("x"),
            BreakerName::from(Arc::<str>::from("x"))
        );
        assert!(BreakerName::new("a") < BreakerName::from(String::from("b")));
        assert_eq!(format!("{:?}", BreakerName::new("q")), "\"q\"");
    }

    #[test]
    fn retry_after_secs_rounds_up() {
        let open = |d| CircuitOpen::new(BreakerName::new("n"), d);
        assert_eq!(open(Duration::ZERO).retry_after_secs(), 0);
        assert_eq!(open(Duration::from_nanos(1)).retry_after_secs(), 1);
        assert_eq!(open(Duration::from_secs(60)).retry_after_secs(), 60);
        assert_eq!(open(Duration::MAX).retry_after_secs(), u64::MAX);
    }

    #[test]
    fn a_zero_wait_says_why() {
        let open = CircuitOpen::new(BreakerName::new("n"), Duration::ZERO);
        assert_eq!(
            open.to_string(),
            "circuit breaker `n` is half-open and its trial calls are all in flight"
        );
    }

    #[test]
    fn only_open_rejects_every_call() {
        assert!(CircuitState::Closed.admits_calls());
        assert!(CircuitState::HalfOpen.admits_calls());
        assert!(!CircuitState::Open.admits_calls());
        assert_eq!(CircuitState::Open.to_string(), "open");
    }

    #[test]
    fn circuit_open_is_send_sync_and_an_error() {
        fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<CircuitOpen>();
    }
}
