//! Glue that only generated code calls, through `::resilient::__private`.
//! Not a public API: anything here may change in any release.
//!
//! Generated code reaches the runtime only through this module and the
//! public API, with absolute paths, so a user's own items named `Duration`
//! or `RetryPolicy` cannot capture it.

use core::convert::Infallible;
use core::future::Future;

pub use core::time::Duration;
pub use tokio::time::Instant;

pub use crate::sleep::{Pause, pause};
pub use crate::{
    Backoff, BreakerKey, BreakerName, Bulkhead, BulkheadFull, BulkheadPermit, CircuitBreaker,
    CircuitOpen, Decision, Elapsed, Failure, Hedge, Jitter, KeyedBreaker, KeyedRateLimiter,
    LimiterSlot, OnCancel, RateLimited, RateLimiter, RetryBudget, RetryHint, RetryPolicy,
    RetryPolicyBuilder, RetryState, StopReason, timeout,
};

/// What the attributes need of the function's return type: a `Result`.
#[diagnostic::on_unimplemented(
    message = "resilient's attributes need a function that returns `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "they decide from the error whether to try again, count a failure or fall back, and return a rejection (a `CircuitOpen`, a `BulkheadFull`, a `RateLimited`, an `Elapsed`) as `Err`"
)]
pub trait RetryResult {
    /// The error type.
    type Error;
    /// The error, if this is one.
    fn retry_error(&self) -> Option<&Self::Error>;
    /// `Err(error)`.
    fn from_error(error: Self::Error) -> Self;
}

impl<T, E> RetryResult for Result<T, E> {
    type Error = E;
    fn retry_error(&self) -> Option<&E> {
        self.as_ref().err()
    }
    fn from_error(error: E) -> Self {
        Err(error)
    }
}

/// What a layer hands to the one outside it when a layer below can reject
/// a call or cut it off: the function's own result, or the rejection or
/// timeout carried beside it until a layer needs it as the user's `E`.
/// A tag no layer below can produce is `Infallible`, so matching it costs
/// nothing and needs no conversion.
#[derive(Debug)]
pub enum Outcome<R, J = Infallible, T = Infallible, F = Infallible, L = Infallible> {
    /// The body ran (or a layer produced a value).
    Done(R),
    /// A circuit breaker refused the call without running it.
    Rejected(J),
    /// A `#[timeout]` cut the call off.
    TimedOut(T),
    /// A full `#[bulkhead]` turned the call away.
    Full(F),
    /// A `#[rate_limit]` turned the call away.
    Limited(L),
}

impl<R, J, T, F, L> Outcome<R, J, T, F, L> {
    /// The same outcome in a layer that may carry more tags.
    #[inline]
    pub fn widen<J2: From<J>, T2: From<T>, F2: From<F>, L2: From<L>>(
        self,
    ) -> Outcome<R, J2, T2, F2, L2> {
        match self {
            Self::Done(r) => Outcome::Done(r),
            Self::Rejected(j) => Outcome::Rejected(J2::from(j)),
            Self::TimedOut(t) => Outcome::TimedOut(T2::from(t)),
            Self::Full(f) => Outcome::Full(F2::from(f)),
            Self::Limited(l) => Outcome::Limited(L2::from(l)),
        }
    }
}

/// The payload of an [`Outcome::Rejected`] or [`Outcome::TimedOut`]
/// that a layer produced: the rejection or timeout itself waits in a
/// slot the stack declares once (`Option<CircuitOpen>`,
/// `Option<Elapsed>`), so the outcome handed from layer to layer is no
/// bigger than the function's own result. A large outcome is moved
/// through memory at every layer, on the success path too.
#[derive(Clone, Copy, Debug)]
pub struct Parked;

impl From<Infallible> for Parked {
    #[inline]
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// The user's body, an `async` block, typed as the function's result: the
/// bound gives the block its output type before its `return`s, `?` and
/// tail are checked, as the function's signature does without the
/// attributes.
#[inline]
pub fn typed<R, F: Future<Output = R>>(body: F) -> F {
    body
}

/// A plain `fn`'s body as one attempt: the closure's return type is the
/// function's, so its `return`s and `?` are checked as the function's
/// own, and a `return` ends the attempt, not the function.
#[inline]
pub fn typed_blocking<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

/// [`pause`] for a plain `fn`: blocks the thread until `now + delay`.
pub fn pause_blocking(now: Instant, delay: Duration) {
    let wait = now.checked_add(delay).map_or(delay, |deadline| {
        deadline.saturating_duration_since(Instant::now())
    });
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
}

/// [`wait_enter`] for a plain `fn`: tries for a place every millisecond
/// until the bulkhead's `wait` runs out, blocking the thread. Not in
/// turn: a thread cannot queue on tokio's semaphore without a runtime.
pub fn wait_enter_blocking(bulkhead: &Bulkhead) -> Result<BulkheadPermit<'_>, BulkheadFull> {
    let wait = bulkhead.wait();
    let start = std::time::Instant::now();
    loop {
        if let Some(place) = bulkhead.try_place() {
            return Ok(place);
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(bulkhead.full(wait));
        }
        std::thread::sleep(wait.saturating_sub(waited).min(Duration::from_millis(1)));
    }
}

/// Puts `value` in its slot; the layer then hands `Parked` outward.
#[inline]
pub fn park<V>(slot: &mut Option<V>, value: V) -> Parked {
    *slot = Some(value);
    Parked
}

/// `breaker.acquire()` for generated code: a rejection goes straight
/// into the function's slot, and what comes back (a permit or nothing)
/// fits in two registers.
// `always`: left to itself, LLVM stopped inlining it once a permit could
// carry a start time, and a closed breaker cost 26 more instructions.
#[allow(clippy::inline_always)]
#[inline(always)]
pub fn admit<'a>(
    breaker: &'a CircuitBreaker,
    slot: &mut Option<CircuitOpen>,
) -> Option<crate::Permit<'a>> {
    match breaker.admit() {
        Ok(permit) => Some(permit),
        Err(wait) => {
            park(slot, breaker.rejection(wait));
            None
        }
    }
}

/// A placeholder for a slot found empty, which the stack never does (a
/// layer parks before it hands the tag outward): a defined value rather
/// than a panic in the user's function.
const UNKNOWN_OPEN: CircuitOpen = CircuitOpen::new(BreakerName::new("unknown"), Duration::ZERO);

/// The parked rejection, taken out of its slot.
#[inline]
pub fn unpark_open(slot: &mut Option<CircuitOpen>) -> CircuitOpen {
    debug_assert!(slot.is_some(), "a rejection is parked before it is tagged");
    slot.take().unwrap_or(UNKNOWN_OPEN)
}

/// The parked rejection, left in its slot.
#[inline]
pub fn peek_open(slot: &Option<CircuitOpen>) -> &CircuitOpen {
    static UNKNOWN: CircuitOpen = UNKNOWN_OPEN;
    debug_assert!(slot.is_some(), "a rejection is parked before it is tagged");
    slot.as_ref().unwrap_or(&UNKNOWN)
}

/// The parked full bulkhead, taken out of its slot.
#[inline]
pub fn unpark_full(slot: &mut Option<BulkheadFull>) -> BulkheadFull {
    debug_assert!(
        slot.is_some(),
        "a full bulkhead is parked before it is tagged"
    );
    slot.take().unwrap_or(crate::bulkhead::UNKNOWN_FULL)
}

/// The parked full bulkhead, left in its slot.
#[inline]
pub fn peek_full(slot: &Option<BulkheadFull>) -> &BulkheadFull {
    static UNKNOWN: BulkheadFull = crate::bulkhead::UNKNOWN_FULL;
    debug_assert!(
        slot.is_some(),
        "a full bulkhead is parked before it is tagged"
    );
    slot.as_ref().unwrap_or(&UNKNOWN)
}

/// A place in the bulkhead if one is free now: one compare-and-swap.
#[inline]
pub fn try_enter(bulkhead: &Bulkhead) -> Option<BulkheadPermit<'_>> {
    bulkhead.try_place()
}

/// A place in the bulkhead after `try_enter` found none: waits in turn,
/// up to its `wait`. One copy for every function.
pub fn wait_enter(
    bulkhead: &Bulkhead,
) -> impl Future<Output = Result<BulkheadPermit<'_>, BulkheadFull>> + Send + '_ {
    bulkhead.wait_for_room()
}

/// What `#[bulkhead(shared = ..)]` and `#[bulkhead(bulkhead = ..)]`
/// accept: a `Bulkhead`, or a reference, `Arc`, `Box` or `LazyLock` of
/// one.
#[diagnostic::on_unimplemented(
    message = "`#[bulkhead]` needs a `Bulkhead`, and this is `{Self}`",
    label = "not a `Bulkhead`",
    note = "declare one with `static SEARCH: Bulkhead = Bulkhead::builder().max(10).build();` and write `shared = SEARCH`, or give an expression such as `bulkhead = self.bulkhead` (a `Bulkhead`, or a reference, `Arc` or `Box` of one)"
)]
pub trait AsBulkhead {
    /// The bulkhead.
    fn as_bulkhead(&self) -> &Bulkhead;
}

impl AsBulkhead for Bulkhead {
    #[inline]
    fn as_bulkhead(&self) -> &Bulkhead {
        self
    }
}

impl<F: FnOnce() -> Bulkhead> AsBulkhead for std::sync::LazyLock<Bulkhead, F> {
    #[inline]
    fn as_bulkhead(&self) -> &Bulkhead {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsBulkhead + ?Sized> AsBulkhead for &B {
    #[inline]
    fn as_bulkhead(&self) -> &Bulkhead {
        (**self).as_bulkhead()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsBulkhead + ?Sized> AsBulkhead for std::sync::Arc<B> {
    #[inline]
    fn as_bulkhead(&self) -> &Bulkhead {
        (**self).as_bulkhead()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsBulkhead + ?Sized> AsBulkhead for Box<B> {
    #[inline]
    fn as_bulkhead(&self) -> &Bulkhead {
        (**self).as_bulkhead()
    }
}

/// The bulkhead of `shared = ..` or `bulkhead = ..`.
#[inline]
pub fn as_bulkhead<B: AsBulkhead + ?Sized>(bulkhead: &B) -> &Bulkhead {
    bulkhead.as_bulkhead()
}

/// How an error type carries a full bulkhead: `From<BulkheadFull>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a full bulkhead: implement `From<resilient::BulkheadFull>` for it",
    label = "this error type needs `impl From<resilient::BulkheadFull>`",
    note = "a call a full bulkhead turns away returns `Err(E::from(BulkheadFull))` without running; with thiserror, add a `#[from] BulkheadFull` variant, or give the attribute `on_full = path` (a `fn(BulkheadFull) -> E`)"
)]
pub trait FromBulkheadFull {
    /// The conversion.
    fn from_bulkhead_full(full: BulkheadFull) -> Self;
}

impl<E: From<BulkheadFull>> FromBulkheadFull for E {
    #[inline]
    fn from_bulkhead_full(full: BulkheadFull) -> Self {
        E::from(full)
    }
}

/// The function's result for a full bulkhead, through
/// `From<BulkheadFull>`.
#[inline]
pub fn bulkhead_full<R>(full: BulkheadFull) -> R
where
    R: RetryResult,
    R::Error: FromBulkheadFull,
{
    R::from_error(<R::Error as FromBulkheadFull>::from_bulkhead_full(full))
}

/// The function's result for a full bulkhead, through an `on_full`
/// function.
#[inline]
pub fn bulkhead_full_with<R: RetryResult>(
    full: BulkheadFull,
    on_full: impl FnOnce(BulkheadFull) -> R::Error,
) -> R {
    R::from_error(on_full(full))
}

/// The parked rate-limit rejection, taken out of its slot.
#[inline]
pub fn unpark_limited(slot: &mut Option<RateLimited>) -> RateLimited {
    debug_assert!(
        slot.is_some(),
        "a rate-limit rejection is parked before it is tagged"
    );
    slot.take().unwrap_or(crate::rate_limit::UNKNOWN_LIMITED)
}

/// The parked rate-limit rejection, left in its slot.
#[inline]
pub fn peek_limited(slot: &Option<RateLimited>) -> &RateLimited {
    static UNKNOWN: RateLimited = crate::rate_limit::UNKNOWN_LIMITED;
    debug_assert!(
        slot.is_some(),
        "a rate-limit rejection is parked before it is tagged"
    );
    slot.as_ref().unwrap_or(&UNKNOWN)
}

/// A rate limiter's verdict on a call now: go (`Ok(None)`), go after this
/// wait (its slot reserved), or the rejection.
#[inline]
pub fn rate_admit(limiter: &RateLimiter) -> Result<Option<Duration>, RateLimited> {
    limiter.admit_now()
}

/// Sleeps until a reserved slot.
pub fn slot_wait(wait: Duration) -> tokio::time::Sleep {
    tokio::time::sleep(wait)
}

/// After a wait for a reserved slot: refused if a pause came meanwhile.
#[inline]
pub fn rate_recheck(limiter: &RateLimiter) -> Result<(), RateLimited> {
    limiter.recheck()
}

/// [`rate_recheck`] for one key's slot.
#[inline]
pub fn rate_recheck_slot(
    limiter: &KeyedRateLimiter,
    slot: &LimiterSlot,
) -> Result<(), RateLimited> {
    limiter.recheck_slot(slot)
}

/// After the call: a `Retry-After` from below pauses the limiter.
#[inline]
pub fn pause_limiter(limiter: &RateLimiter, retry_after: Option<Duration>) {
    if let Some(pause) = retry_after {
        limiter.pause_for(pause);
    }
}

/// A keyed limiter's verdict on a call now for `key`, with the key's
/// slot, held for the call (its pause), on one clock read.
#[inline]
#[allow(clippy::type_complexity)]
pub fn rate_admit_key<K: BreakerKey + ?Sized>(
    limiter: &KeyedRateLimiter,
    key: &K,
) -> (LimiterSlot, Result<Option<Duration>, RateLimited>) {
    limiter.admit_key(key)
}

/// [`pause_limiter`] for one key's slot.
#[inline]
pub fn pause_slot(limiter: &KeyedRateLimiter, slot: &LimiterSlot, retry_after: Option<Duration>) {
    if let Some(pause) = retry_after {
        limiter.pause_slot(slot, pause);
    }
}

/// What `#[rate_limit(key = .., shared = ..)]` and
/// `#[rate_limit(key = .., limiter = ..)]` accept: a `KeyedRateLimiter`,
/// or a reference, `Arc`, `Box` or `LazyLock` of one.
#[diagnostic::on_unimplemented(
    message = "with `key = ..`, `#[rate_limit]` needs a `KeyedRateLimiter`, and this is `{Self}`",
    label = "not a `KeyedRateLimiter`",
    note = "a `RateLimiter` is one limit for every call; for one limit per key, declare `static PER_TENANT: KeyedRateLimiter = KeyedRateLimiter::builder().rate(10).build();` and write `shared = PER_TENANT`, or drop `key = ..`"
)]
pub trait AsKeyedRateLimiter {
    /// The keyed limiter.
    fn as_keyed_rate_limiter(&self) -> &KeyedRateLimiter;
}

impl AsKeyedRateLimiter for KeyedRateLimiter {
    #[inline]
    fn as_keyed_rate_limiter(&self) -> &KeyedRateLimiter {
        self
    }
}

impl<F: FnOnce() -> KeyedRateLimiter> AsKeyedRateLimiter
    for std::sync::LazyLock<KeyedRateLimiter, F>
{
    #[inline]
    fn as_keyed_rate_limiter(&self) -> &KeyedRateLimiter {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsKeyedRateLimiter + ?Sized> AsKeyedRateLimiter for &B {
    #[inline]
    fn as_keyed_rate_limiter(&self) -> &KeyedRateLimiter {
        (**self).as_keyed_rate_limiter()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsKeyedRateLimiter + ?Sized> AsKeyedRateLimiter for std::sync::Arc<B> {
    #[inline]
    fn as_keyed_rate_limiter(&self) -> &KeyedRateLimiter {
        (**self).as_keyed_rate_limiter()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsKeyedRateLimiter + ?Sized> AsKeyedRateLimiter for Box<B> {
    #[inline]
    fn as_keyed_rate_limiter(&self) -> &KeyedRateLimiter {
        (**self).as_keyed_rate_limiter()
    }
}

/// The keyed limiter of `shared = ..` with `key`.
#[inline]
pub fn as_keyed_rate_limiter<B: AsKeyedRateLimiter + ?Sized>(limiter: &B) -> &KeyedRateLimiter {
    limiter.as_keyed_rate_limiter()
}

/// What `#[rate_limit(shared = ..)]` and `#[rate_limit(limiter = ..)]`
/// accept: a `RateLimiter`, or a reference, `Arc`, `Box` or `LazyLock` of
/// one.
#[diagnostic::on_unimplemented(
    message = "`#[rate_limit]` needs a `RateLimiter`, and this is `{Self}`",
    label = "not a `RateLimiter`",
    note = "declare one with `static SEARCH: RateLimiter = RateLimiter::builder().rate(10).build();` and write `shared = SEARCH`, or give an expression such as `limiter = self.limiter` (a `RateLimiter`, or a reference, `Arc` or `Box` of one)"
)]
pub trait AsRateLimiter {
    /// The limiter.
    fn as_rate_limiter(&self) -> &RateLimiter;
}

impl AsRateLimiter for RateLimiter {
    #[inline]
    fn as_rate_limiter(&self) -> &RateLimiter {
        self
    }
}

impl<F: FnOnce() -> RateLimiter> AsRateLimiter for std::sync::LazyLock<RateLimiter, F> {
    #[inline]
    fn as_rate_limiter(&self) -> &RateLimiter {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsRateLimiter + ?Sized> AsRateLimiter for &B {
    #[inline]
    fn as_rate_limiter(&self) -> &RateLimiter {
        (**self).as_rate_limiter()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsRateLimiter + ?Sized> AsRateLimiter for std::sync::Arc<B> {
    #[inline]
    fn as_rate_limiter(&self) -> &RateLimiter {
        (**self).as_rate_limiter()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsRateLimiter + ?Sized> AsRateLimiter for Box<B> {
    #[inline]
    fn as_rate_limiter(&self) -> &RateLimiter {
        (**self).as_rate_limiter()
    }
}

/// The limiter of `shared = ..`.
#[inline]
pub fn as_rate_limiter<B: AsRateLimiter + ?Sized>(limiter: &B) -> &RateLimiter {
    limiter.as_rate_limiter()
}

/// How an error type carries a rate-limit rejection: `From<RateLimited>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a rate-limit rejection: implement `From<resilient::RateLimited>` for it",
    label = "this error type needs `impl From<resilient::RateLimited>`",
    note = "a call over the rate limit returns `Err(E::from(RateLimited))` without running; with thiserror, add a `#[from] RateLimited` variant, or give the attribute `on_limited = path` (a `fn(RateLimited) -> E`)"
)]
pub trait FromRateLimited {
    /// The conversion.
    fn from_rate_limited(limited: RateLimited) -> Self;
}

impl<E: From<RateLimited>> FromRateLimited for E {
    #[inline]
    fn from_rate_limited(limited: RateLimited) -> Self {
        E::from(limited)
    }
}

/// The function's result for a rate-limit rejection, through
/// `From<RateLimited>`.
#[inline]
pub fn rate_limited<R>(limited: RateLimited) -> R
where
    R: RetryResult,
    R::Error: FromRateLimited,
{
    R::from_error(<R::Error as FromRateLimited>::from_rate_limited(limited))
}

/// The function's result for a rate-limit rejection, through an
/// `on_limited` function.
#[inline]
pub fn rate_limited_with<R: RetryResult>(
    limited: RateLimited,
    on_limited: impl FnOnce(RateLimited) -> R::Error,
) -> R {
    R::from_error(on_limited(limited))
}

/// The parked timeout.
#[inline]
pub fn peek_elapsed(slot: &Option<Elapsed>) -> Elapsed {
    debug_assert!(slot.is_some(), "a timeout is parked before it is tagged");
    slot.unwrap_or(Elapsed::new(Duration::ZERO))
}

/// What a `mut` argument needs under `#[retry]`: each attempt starts from
/// a copy of the caller's value.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` starts each attempt from the caller's value of a `mut` argument, and `{Self}` is not `Copy`",
    label = "add this argument to `clone(..)` in `#[retry]`, or to `keep(..)`",
    note = "the body may change a `mut` argument; a retry must not see what an earlier attempt left in it, so the argument is copied per attempt, or cloned with `#[retry(clone(name))]`; for a handle whose state should carry on from one attempt to the next (a channel receiver, a stream), write `#[retry(keep(name))]`"
)]
pub trait FreshPerAttempt {
    /// A copy for one attempt.
    #[must_use]
    fn fresh(&self) -> Self;
}

impl<T: Copy> FreshPerAttempt for T {
    #[inline]
    fn fresh(&self) -> Self {
        *self
    }
}

/// A `mut` argument's copy for one attempt.
#[inline]
pub fn fresh<T: FreshPerAttempt>(value: &T) -> T {
    value.fresh()
}

/// How an error type carries a timeout: `From<Elapsed>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a timeout: implement `From<resilient::Elapsed>` for it",
    label = "this error type needs `impl From<resilient::Elapsed>`",
    note = "a call cut off by `#[timeout]` returns `Err(E::from(Elapsed))`; with thiserror, add a `#[from] Elapsed` variant, or give the attribute `on_timeout = path` (a `fn(Elapsed) -> E`)"
)]
pub trait FromElapsed {
    /// The conversion.
    fn from_elapsed(elapsed: Elapsed) -> Self;
}

impl<E: From<Elapsed>> FromElapsed for E {
    #[inline]
    fn from_elapsed(elapsed: Elapsed) -> Self {
        E::from(elapsed)
    }
}

/// The function's result for a timeout, through `From<Elapsed>`.
#[inline]
pub fn timed_out<R>(elapsed: Elapsed) -> R
where
    R: RetryResult,
    R::Error: FromElapsed,
{
    R::from_error(<R::Error as FromElapsed>::from_elapsed(elapsed))
}

/// The function's result for a timeout, through an `on_timeout` function.
#[inline]
pub fn timed_out_with<R: RetryResult>(
    elapsed: Elapsed,
    on_timeout: impl FnOnce(Elapsed) -> R::Error,
) -> R {
    R::from_error(on_timeout(elapsed))
}

/// How an error type carries a rejection: `From<CircuitOpen>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a rejection by the circuit breaker: implement `From<resilient::CircuitOpen>` for it",
    label = "this error type needs `impl From<resilient::CircuitOpen>`",
    note = "an open breaker returns `Err(E::from(CircuitOpen))` without running the call; with thiserror, add a `#[from] CircuitOpen` variant, or give the attribute `on_open = path` (a `fn(CircuitOpen) -> E`)"
)]
pub trait FromCircuitOpen {
    /// The conversion.
    fn from_circuit_open(open: CircuitOpen) -> Self;
}

impl<E: From<CircuitOpen>> FromCircuitOpen for E {
    #[inline]
    fn from_circuit_open(open: CircuitOpen) -> Self {
        E::from(open)
    }
}

/// The function's result for a rejection, through `From<CircuitOpen>`.
#[inline]
pub fn rejected<R>(open: CircuitOpen) -> R
where
    R: RetryResult,
    R::Error: FromCircuitOpen,
{
    R::from_error(<R::Error as FromCircuitOpen>::from_circuit_open(open))
}

/// The function's result for a rejection, through an `on_open` function.
#[inline]
pub fn rejected_with<R: RetryResult>(
    open: CircuitOpen,
    on_open: impl FnOnce(CircuitOpen) -> R::Error,
) -> R {
    R::from_error(on_open(open))
}

/// Registers a per-function (or `shared`) `static` breaker on its first
/// use; afterwards one atomic load.
#[inline]
pub fn register_once(once: &'static std::sync::Once, breaker: &'static CircuitBreaker) {
    once.call_once(|| {
        crate::registry::list_on_first_use(breaker);
    });
}

/// What `#[circuit_breaker(shared = ..)]` accepts without `key`: a
/// `static` `CircuitBreaker`.
#[diagnostic::on_unimplemented(
    message = "`shared = ..` names a `static CircuitBreaker`, and this is `{Self}`",
    label = "not a `CircuitBreaker`",
    note = "`shared` takes the path of a `static` breaker, such as `static UPSTREAM: CircuitBreaker = CircuitBreaker::builder().build();`; a `KeyedBreaker` holds one breaker per key, and needs `key = ..` too (such as `key = host`)"
)]
pub trait SharedBreaker {
    /// The breaker.
    fn breaker(&'static self) -> &'static CircuitBreaker;
}

impl SharedBreaker for CircuitBreaker {
    #[inline]
    fn breaker(&'static self) -> &'static CircuitBreaker {
        self
    }
}

impl<F: FnOnce() -> CircuitBreaker> SharedBreaker for std::sync::LazyLock<CircuitBreaker, F> {
    #[inline]
    fn breaker(&'static self) -> &'static CircuitBreaker {
        self
    }
}

/// The breaker of `shared = PATH`.
#[inline]
pub fn shared<B: SharedBreaker + ?Sized>(breaker: &'static B) -> &'static CircuitBreaker {
    breaker.breaker()
}

/// Registers a per-function (or `shared`) `static` keyed breaker on its
/// first use.
#[inline]
pub fn register_keyed_once(once: &'static std::sync::Once, keyed: &'static KeyedBreaker) {
    once.call_once(|| {
        crate::registry::register_keyed(keyed);
    });
}

/// What `#[circuit_breaker(key = .., shared = ..)]` and
/// `#[circuit_breaker(key = .., breaker = ..)]` accept: a `KeyedBreaker`,
/// or a reference, `Arc` or `Box` of one.
#[diagnostic::on_unimplemented(
    message = "with `key = ..`, the breaker must be a `KeyedBreaker`, and this is `{Self}`",
    label = "not a `KeyedBreaker`",
    note = "a `CircuitBreaker` is one breaker for every call; for one breaker per key, use a `KeyedBreaker` (`static HOSTS: KeyedBreaker = KeyedBreaker::builder().build();` with `shared = HOSTS`, or one you own with `breaker = ..`), or drop `key = ..` to share the one breaker"
)]
pub trait AsKeyed {
    /// The keyed breaker.
    fn as_keyed(&self) -> &KeyedBreaker;
}

impl AsKeyed for KeyedBreaker {
    #[inline]
    fn as_keyed(&self) -> &KeyedBreaker {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<K: AsKeyed + ?Sized> AsKeyed for &K {
    #[inline]
    fn as_keyed(&self) -> &KeyedBreaker {
        (**self).as_keyed()
    }
}

#[diagnostic::do_not_recommend]
impl<K: AsKeyed + ?Sized> AsKeyed for std::sync::Arc<K> {
    #[inline]
    fn as_keyed(&self) -> &KeyedBreaker {
        (**self).as_keyed()
    }
}

impl<F: FnOnce() -> KeyedBreaker> AsKeyed for std::sync::LazyLock<KeyedBreaker, F> {
    #[inline]
    fn as_keyed(&self) -> &KeyedBreaker {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<K: AsKeyed + ?Sized> AsKeyed for Box<K> {
    #[inline]
    fn as_keyed(&self) -> &KeyedBreaker {
        (**self).as_keyed()
    }
}

/// The keyed breaker of `key = ..` with `shared` or `breaker`.
#[inline]
pub fn keyed<K: AsKeyed + ?Sized>(keyed: &K) -> &KeyedBreaker {
    keyed.as_keyed()
}

/// The breaker of `key`, or its rejection (no room for a new key) parked
/// in the function's slot.
#[inline]
pub fn admit_key<K: BreakerKey + ?Sized>(
    keyed: &KeyedBreaker,
    key: &K,
    slot: &mut Option<CircuitOpen>,
) -> Option<std::sync::Arc<CircuitBreaker>> {
    match keyed.breaker(key) {
        Ok(breaker) => Some(breaker),
        Err(open) => {
            park(slot, open);
            None
        }
    }
}

/// [`ask_breaker`] for the key's breaker a keyed breaker layer used in
/// the last attempt, if it found one.
pub fn ask_key(
    failure: Failure,
    used: &Option<std::sync::Arc<CircuitBreaker>>,
    pending: &mut Option<CircuitOpen>,
) -> Failure {
    match used {
        Some(breaker) => ask_breaker(failure, breaker, pending),
        None => failure,
    }
}

/// What `#[retry(budget = ..)]` accepts: a `RetryBudget`, or a reference,
/// `Arc` or `Box` of one.
#[diagnostic::on_unimplemented(
    message = "`budget = ..` takes a `RetryBudget`, and this is `{Self}`",
    label = "not a `RetryBudget`",
    note = "declare one with `static BUDGET: RetryBudget = RetryBudget::builder().build();` and write `budget = BUDGET`, or give an expression such as `self.budget` (a `RetryBudget`, or a reference, `Arc` or `Box` of one)"
)]
pub trait AsBudget {
    /// The budget.
    fn as_budget(&self) -> &RetryBudget;
}

impl AsBudget for RetryBudget {
    #[inline]
    fn as_budget(&self) -> &RetryBudget {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsBudget + ?Sized> AsBudget for &B {
    #[inline]
    fn as_budget(&self) -> &RetryBudget {
        (**self).as_budget()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsBudget + ?Sized> AsBudget for std::sync::Arc<B> {
    #[inline]
    fn as_budget(&self) -> &RetryBudget {
        (**self).as_budget()
    }
}

#[diagnostic::do_not_recommend]
impl<B: AsBudget + ?Sized> AsBudget for Box<B> {
    #[inline]
    fn as_budget(&self) -> &RetryBudget {
        (**self).as_budget()
    }
}

/// The budget of `#[retry(budget = ..)]`.
#[inline]
pub fn budget<B: AsBudget + ?Sized>(budget: &B) -> &RetryBudget {
    budget.as_budget()
}

/// Records an attempt's result on a breaker permit: any error is a
/// failure. Generic only in `R`, so functions of one return type share
/// one copy (a closure here would make a copy per function).
#[inline]
pub fn settle_any<R: RetryResult>(permit: crate::Permit<'_>, result: &R) {
    permit.record(result.retry_error().is_some());
}

/// After a failed attempt, asks a breaker below a retry whether it is now
/// open: its wait goes into the failure (a retry does not sleep less), and
/// the rejection with the longest wait is kept in `pending` (the one a
/// retry that gives up hands outward). Not generic and not inlined: one
/// copy for every function, on the failure path only.
pub fn ask_breaker(
    failure: Failure,
    breaker: &CircuitBreaker,
    pending: &mut Option<CircuitOpen>,
) -> Failure {
    let Err(open) = breaker.check() else {
        return failure;
    };
    let failure = failure.with_admits_in(open.retry_after());
    if pending
        .as_ref()
        .is_none_or(|known| known.retry_after() < open.retry_after())
    {
        *pending = Some(open);
    }
    failure
}

/// Records an attempt's result on a breaker permit: an error counts as a
/// failure if `is_failure` says so.
#[inline]
pub fn settle<R: RetryResult>(
    permit: crate::Permit<'_>,
    result: &R,
    is_failure: impl FnOnce(&R::Error) -> bool,
) {
    match result.retry_error() {
        None => permit.success(),
        Some(error) => permit.record(is_failure(error)),
    }
}

/// Builds a policy whose settings include run-time expressions.
///
/// # Panics
///
/// On an invalid combination: a programming error (configuration read at
/// run time belongs in `policy = EXPR`, built with `try_build`), reported
/// with the function's name and the setting.
#[track_caller]
pub fn build_policy(builder: RetryPolicyBuilder, function: &str) -> RetryPolicy {
    match builder.try_build() {
        Ok(policy) => policy,
        #[allow(clippy::panic)]
        Err(err) => panic!("#[retry] on `{function}`: {err}"),
    }
}

/// Calls a `when` hook (a function or a closure). Going through a function
/// gives a closure its argument type, so `|e| ..` needs no annotation, and
/// keeps clippy's `redundant_closure_call` away from the user's crate.
#[inline]
pub fn when<E: ?Sized>(hook: impl FnOnce(&E) -> bool, error: &E) -> bool {
    hook(error)
}

/// Calls a `retry_after` hint reader.
#[inline]
pub fn read_hint<E: ?Sized>(
    hook: impl FnOnce(&E) -> Option<Duration>,
    error: &E,
) -> Option<Duration> {
    hook(error)
}

/// Calls an `on_retry` hook.
#[inline]
pub fn on_retry<E: ?Sized>(
    hook: impl FnOnce(&E, &crate::Attempt),
    error: &E,
    attempt: &crate::Attempt,
) {
    hook(error, attempt);
}

/// Calls a fallback handler with the error by value.
#[inline]
pub fn apply<A, X>(handler: impl FnOnce(A) -> X, error: A) -> X {
    handler(error)
}

/// A fallback handler's answer, sync or async: `Recover(answer)
/// .__resilient_resolve().await` finds the inherent method for a
/// `Result` (a sync handler) before the trait method for a future (an
/// async one), a choice a blanket impl could not make (E0119).
pub struct Recover<X>(pub X);

/// A handler's answer: the result now (a sync handler), or a future of it.
/// Returned rather than awaited, so a sync answer holding a `!Send` error
/// is never kept across an `.await`.
pub enum Resolved<R, F> {
    /// A sync handler's result.
    Ready(R),
    /// An async handler's future.
    Later(F),
}

impl<T, E> Recover<Result<T, E>> {
    /// A sync handler's result.
    #[inline]
    pub fn __resilient_resolve(
        self,
    ) -> Resolved<Result<T, E>, core::future::Pending<Result<T, E>>> {
        Resolved::Ready(self.0)
    }
}

/// An async handler's future.
pub trait RecoverAsync {
    /// The handler's output.
    type Output;
    /// The handler's future.
    type Future;
    /// That future.
    fn __resilient_resolve(self) -> Resolved<Self::Output, Self::Future>;
}

impl<F: Future> RecoverAsync for Recover<F> {
    type Output = F::Output;
    type Future = F;
    #[inline]
    fn __resilient_resolve(self) -> Resolved<F::Output, F> {
        Resolved::Later(self.0)
    }
}

/// Autoref dispatch on the error value: `(&HintWrap(e)).method()` finds
/// `ViaRetryHint` when `E: RetryHint` (a match at `&HintWrap`), and falls
/// back to `ViaDefault` (a match only at `&&HintWrap`) otherwise. Resolved
/// where `E` is concrete: in the user's function.
pub struct HintWrap<'a, E: ?Sized>(pub &'a E);

/// The error's own [`RetryHint`].
pub trait ViaRetryHint {
    /// [`RetryHint::is_transient`].
    fn __resilient_is_transient(&self) -> bool;
    /// [`RetryHint::retry_after`].
    fn __resilient_retry_after(&self) -> Option<Duration>;
}

impl<E: RetryHint + ?Sized> ViaRetryHint for HintWrap<'_, E> {
    #[inline]
    fn __resilient_is_transient(&self) -> bool {
        self.0.is_transient()
    }
    #[inline]
    fn __resilient_retry_after(&self) -> Option<Duration> {
        self.0.retry_after()
    }
}

/// For errors without [`RetryHint`]: every error is transient, no hint.
pub trait ViaDefault {
    /// Always `true`.
    fn __resilient_is_transient(&self) -> bool;
    /// Always `None`.
    fn __resilient_retry_after(&self) -> Option<Duration>;
}

impl<E: ?Sized> ViaDefault for &HintWrap<'_, E> {
    #[inline]
    fn __resilient_is_transient(&self) -> bool {
        true
    }
    #[inline]
    fn __resilient_retry_after(&self) -> Option<Duration> {
        None
    }
}

/// `#[hedge]`: races the copies `make` starts in `copies`; the first
/// outcome `verdict` calls a win ends the race, or the last once every
/// copy started has failed.
pub async fn hedged<O, M, Fut, V, const N: usize>(
    hedge: Hedge<'_>,
    mut copies: [core::pin::Pin<&mut Option<Fut>>; N],
    make: M,
    verdict: V,
) -> O
where
    M: Fn() -> Fut, // #[hedge] runs the body several times at once: it may not give away or mutably borrow what the copies share
    Fut: Future<Output = O>,
    V: Fn(&O) -> Verdict,
{
    hedge.race(&mut copies, make, verdict).await
}

pub use crate::hedge::Verdict;

/// A hedged copy's result: an `Ok` wins.
#[inline]
pub fn hedge_verdict<R: RetryResult>(result: &R) -> Verdict {
    if result.retry_error().is_none() {
        Verdict::Won
    } else {
        Verdict::Failed
    }
}

/// [`hedge_verdict`] under layers that can reject or cut off a copy: a
/// timeout is a failed copy; a rejection (an open breaker, a full
/// bulkhead, a rate limit) one that never reached the service.
#[inline]
pub fn hedge_verdict_tagged<R: RetryResult, J, T, F, L>(
    outcome: &Outcome<R, J, T, F, L>,
) -> Verdict {
    match outcome {
        Outcome::Done(result) => hedge_verdict(result),
        Outcome::TimedOut(_) => Verdict::Failed,
        Outcome::Rejected(_) | Outcome::Full(_) | Outcome::Limited(_) => Verdict::NotReached,
    }
}

/// Puts the winning copy's payload (a rejection, a timeout, a key's
/// breaker) where the layers above look for it.
#[inline]
pub fn restore<T>(slot: &mut Option<T>, value: Option<T>) {
    *slot = value;
}

/// What a `mut` argument needs under `#[hedge]`: each copy of the body
/// starts from its own copy.
#[diagnostic::on_unimplemented(
    message = "`#[hedge]` runs the body several times at once, each with its own copy of a `mut` argument, and `{Self}` is not `Copy`",
    label = "not `Copy`: drop `mut`, and clone the value in the body where a copy needs its own",
    note = "the copies of a hedged body run at the same time, so one cannot see what another changed: a `mut` argument is copied for each"
)]
pub trait FreshPerCopy {
    /// A copy for one hedged copy of the body.
    #[must_use]
    fn fresh_copy(&self) -> Self;
}

impl<T: Copy> FreshPerCopy for T {
    #[inline]
    fn fresh_copy(&self) -> Self {
        *self
    }
}

/// A `mut` argument's copy for one hedged copy of the body.
#[inline]
pub fn fresh_copy<T: FreshPerCopy>(value: &T) -> T {
    value.fresh_copy()
}
