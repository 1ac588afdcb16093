//! [`CircuitBreaker`]: fail fast while a dependency is down.

mod call;
mod key;
mod keyed;
mod settings;
mod types;
mod window;
mod word;

use core::fmt;
use core::future::IntoFuture;
use core::time::Duration;

pub use call::Call;
pub use key::{BreakerKey, KeyBuf};
pub(crate) use key::{DEFAULT_IDLE, DEFAULT_MAX_KEYS, KeysProblem, check_keys};
#[cfg(feature = "redis")]
pub(crate) use keyed::{Hold, Holds};
pub use keyed::{KeyedBreaker, KeyedBreakerBuilder, MAX_KEYS};
pub use settings::{CircuitBreakerBuilder, MAX_WINDOW, OnCancel, OnStateChange};
pub use types::{BreakerName, CircuitOpen, CircuitState, OpenReason, StateChange};

use self::settings::{Mode, Settings};
use self::window::Window;
use self::word::{Phase, Word};
use crate::clock;
use crate::sync::{AtomicI64, AtomicU64, Mutex, MutexGuard, Ordering, lock};

/// A circuit breaker: after enough failures it *opens* and rejects calls at
/// once, without running them, so a struggling dependency gets room to
/// recover and callers get an answer fast; after `reset` it lets trial
/// calls through (*half-open*), and their outcome closes it again or keeps
/// it open.
///
/// | setting | meaning | default |
/// |---|---|---|
/// | [`failures`](CircuitBreakerBuilder::failures) | open after N consecutive failures | 5 |
/// | [`failure_rate`](CircuitBreakerBuilder::failure_rate), [`window`](CircuitBreakerBuilder::window), [`min_calls`](CircuitBreakerBuilder::min_calls) | open when the failure share of the last `window` calls reaches the rate, once `min_calls` were seen | `window` 100, `min_calls` = `window` |
/// | [`time_window`](CircuitBreakerBuilder::time_window) | the same over the last seconds instead of calls | `min_calls` 20 |
/// | [`slow`](CircuitBreakerBuilder::slow), [`slow_rate`](CircuitBreakerBuilder::slow_rate) | open when calls slower than `slow` reach `slow_rate` of the window | `slow_rate` 1 |
/// | [`reset`](CircuitBreakerBuilder::reset) | time open before trial calls | 60 s |
/// | [`half_open`](CircuitBreakerBuilder::half_open) | trial calls (all succeed → closed, one fails → open) | 1 |
/// | [`on_cancel`](CircuitBreakerBuilder::on_cancel) | what a dropped call counts as | nothing |
///
/// The breaker holds no types: what counts as a failure is decided per call
/// ([`call`](Self::call) counts every error, [`call_with`](Self::call_with)
/// takes a classifier), so one breaker can guard calls with different error
/// types.
///
/// ```
/// use std::time::Duration;
/// use resilient::{CircuitBreaker, CircuitOpen, CircuitState};
///
/// static UPSTREAM: CircuitBreaker = CircuitBreaker::builder()
///     .name("upstream")
///     .failures(2)
///     .reset(Duration::from_secs(30))
///     .build();
///
/// #[derive(Debug)]
/// enum ApiError { Down, Open(CircuitOpen) }
/// impl From<CircuitOpen> for ApiError {
///     fn from(open: CircuitOpen) -> Self { ApiError::Open(open) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// for _ in 0..2 {
///     let _ = UPSTREAM.call(async { Err::<(), _>(ApiError::Down) }).await;
/// }
/// assert_eq!(UPSTREAM.state(), CircuitState::Open);
///
/// // Rejected at once, without running the call:
/// let Err(ApiError::Open(open)) = UPSTREAM.call(async { Ok(()) }).await else { panic!() };
/// assert_eq!(open.retry_after(), Duration::from_secs(30));
///
/// tokio::time::sleep(Duration::from_secs(30)).await;
/// assert_eq!(UPSTREAM.state(), CircuitState::HalfOpen);
/// UPSTREAM.call(async { Ok::<_, ApiError>(()) }).await.unwrap(); // the trial succeeds
/// assert_eq!(UPSTREAM.state(), CircuitState::Closed);
/// # }
/// ```
///
/// # Time
///
/// All through tokio's clock, so `#[tokio::test(start_paused = true)]`
/// runs a 60 s reset instantly. A `static` breaker outlives any one
/// runtime: tests that must not share one use a breaker each, or
/// [`reset`](Self::reset) it (or [`registry::reset`](crate::registry::reset)).
pub struct CircuitBreaker {
    name: BreakerName,
    settings: Settings,
    word: AtomicU64,
    /// When the breaker last opened, in [`clock`] nanoseconds. Written
    /// only under `lock`, before the state word publishes the open state.
    opened_at: AtomicI64,
    /// Serialises every state change (so they are numbered in order),
    /// the writes of `opened_at`, and (in failure-rate mode) the window.
    lock: Mutex<Window>,
    /// State changes so far, written under `lock`: numbers them for the
    /// state-change hook.
    changes: AtomicU64,
    /// The keyed breaker this one is a key of: its lock is held while a
    /// key opens (for `max_open`, and so an eviction never takes a key
    /// that is opening).
    keyed: Option<keyed::Link>,
    /// Calls refused since a fleet last asked: whether this instance has
    /// the traffic to probe with.
    #[cfg(feature = "redis")]
    refused: AtomicU64,
}

impl CircuitBreaker {
    /// Starts a builder with the defaults: 5 consecutive failures, 60 s
    /// reset, 1 trial call.
    pub const fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new()
    }

    #[cfg(not(resilient_loom))]
    pub(crate) const fn new(name: BreakerName, settings: Settings) -> Self {
        Self {
            name,
            settings,
            word: AtomicU64::new(Word::CLOSED.0),
            opened_at: AtomicI64::new(0),
            lock: Mutex::new(Window::new(settings.seconds())),
            changes: AtomicU64::new(0),
            keyed: None,
            #[cfg(feature = "redis")]
            refused: AtomicU64::new(0),
        }
    }

    #[cfg(resilient_loom)]
    pub(crate) fn new(name: BreakerName, settings: Settings) -> Self {
        Self {
            name,
            settings,
            word: AtomicU64::new(Word::CLOSED.0),
            opened_at: AtomicI64::new(0),
            lock: Mutex::new(Window::new(settings.seconds())),
            changes: AtomicU64::new(0),
            keyed: None,
            #[cfg(feature = "redis")]
            refused: AtomicU64::new(0),
        }
    }

    /// The same breaker under a name made at run time, such as one breaker
    /// per upstream host.
    ///
    /// ```
    /// # use resilient::CircuitBreaker;
    /// let host = "10.0.0.7:8080";
    /// let breaker = CircuitBreaker::builder().build().with_name(format!("upstream {host}"));
    /// assert_eq!(breaker.name(), "upstream 10.0.0.7:8080");
    /// ```
    #[must_use]
    pub fn with_name(mut self, name: impl Into<BreakerName>) -> Self {
        self.name = name.into();
        self
    }

    /// The breaker's name.
    pub fn name(&self) -> &BreakerName {
        &self.name
    }

    /// Runs `fut` through the breaker: rejected at once with
    /// `E::from(CircuitOpen)` while open; otherwise run, and every error
    /// counts as a failure. The breaker is asked when the returned
    /// [`Call`] is first polled, not when it is made; `fut` is turned into
    /// its future at once (as `tokio::time::timeout` does), and a rejected
    /// call's future is dropped unpolled.
    ///
    /// If the returned future is dropped before `fut` finishes, the call
    /// counts as nothing (or as a failure with [`OnCancel::Failure`]) and a
    /// half-open trial permit is given back. A panic in `fut` counts as a
    /// failure and goes on unwinding.
    ///
    /// ```
    /// # use resilient::{CircuitBreaker, CircuitOpen};
    /// # #[derive(Debug, PartialEq)] enum Error { Down, Open }
    /// # impl From<CircuitOpen> for Error { fn from(_: CircuitOpen) -> Self { Error::Open } }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder().failures(1).build();
    /// assert_eq!(breaker.call(async { Err::<(), _>(Error::Down) }).await, Err(Error::Down));
    /// assert_eq!(breaker.call(async { Ok(()) }).await, Err(Error::Open)); // not run
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// `fut`'s error, or `E::from(CircuitOpen)` when the breaker rejects
    /// the call.
    pub fn call<T, E, F>(&self, fut: F) -> Call<'_, F, fn(&E) -> bool>
    where
        F: IntoFuture<Output = Result<T, E>>,
        E: From<CircuitOpen>,
    {
        Call::new(self, fut, |_| true)
    }

    /// [`call`](Self::call), counting only the errors for which
    /// `is_failure` returns `true` (a `404` says the service is up). An
    /// error that does not count is a success for the breaker: the service
    /// answered.
    ///
    /// ```
    /// # use resilient::{CircuitBreaker, CircuitOpen, CircuitState};
    /// # #[derive(Debug)] enum Error { NotFound, Open }
    /// # impl From<CircuitOpen> for Error { fn from(_: CircuitOpen) -> Self { Error::Open } }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder().failures(1).build();
    /// let _ = breaker
    ///     .call_with(async { Err::<(), _>(Error::NotFound) }, |e| !matches!(e, Error::NotFound))
    ///     .await;
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_with<T, E, F, C>(&self, fut: F, is_failure: C) -> Call<'_, F, C>
    where
        F: IntoFuture<Output = Result<T, E>>,
        E: From<CircuitOpen>,
        C: FnOnce(&E) -> bool,
    {
        Call::new(self, fut, is_failure)
    }

    /// Asks to make one call: a [`Permit`] to record its outcome on, or the
    /// rejection. For layering the breaker by hand; [`call`](Self::call)
    /// does this around a future.
    ///
    /// Reads the clock only while open (at most once); while closed, it is
    /// one atomic load.
    ///
    /// # Errors
    ///
    /// [`CircuitOpen`] while open, while half-open with every trial permit
    /// taken, and while [forced open](Self::force_open).
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        self.admit().map_err(|wait| self.rejection(wait))
    }

    /// [`acquire`](Self::acquire) without building the rejection: the
    /// permit, or the wait in nanoseconds ([`FORCED_OPEN`] while forced
    /// open). Two words either way, so it returns in registers; the code
    /// `#[circuit_breaker]` generates builds the `CircuitOpen` straight
    /// into its slot.
    #[inline]
    pub(crate) fn admit(&self) -> Result<Permit<'_>, i64> {
        let word = Word(self.word.load(Ordering::Acquire));
        // Inlined into the caller so the permit stays in registers; the
        // other states go out of line.
        if word.admits_closed() {
            return Ok(Permit::new(self, word));
        }
        self.admit_slow(word)
    }

    /// [`admit`](Self::admit) in every state but a plain closed one.
    #[inline(never)]
    fn admit_slow(&self, mut word: Word) -> Result<Permit<'_>, i64> {
        let mut now = None;
        loop {
            let next = match self.verdict(word, &mut now) {
                Verdict::Admit => return Ok(Permit::new(self, word)),
                Verdict::Trial => word.with_inflight(word.inflight() + 1),
                Verdict::TrialsDue => match self.start_trials(word) {
                    Ok((permit, change)) => {
                        // The permit exists before the hook runs, so a
                        // panicking hook cannot leak the trial slot.
                        self.announce(change);
                        return Ok(permit);
                    }
                    Err(actual) => {
                        word = actual;
                        continue;
                    }
                },
                Verdict::Busy => return Err(0),
                Verdict::Open(wait) => return Err(wait),
                Verdict::Forced => return Err(FORCED_OPEN),
            };
            match self.word.compare_exchange_weak(
                word.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(Permit::new(self, next)),
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// What the state word says about a call arriving now: the one place
    /// that knows the admission rules. [`admit`](Self::admit),
    /// [`check`](Self::check), [`state`](Self::state) and
    /// [`admits_in`](Self::admits_in) are projections of it. Reads the
    /// clock (once, into `now`) only while open.
    #[inline]
    fn verdict(&self, word: Word, now: &mut Option<i64>) -> Verdict {
        if word.disabled() {
            return Verdict::Admit;
        }
        if word.forced_open() {
            return Verdict::Forced;
        }
        match word.phase() {
            Phase::Closed => Verdict::Admit,
            Phase::HalfOpen if word.inflight() + word.count() < self.settings.half_open => {
                Verdict::Trial
            }
            Phase::HalfOpen => Verdict::Busy,
            Phase::Open => {
                let now = *now.get_or_insert_with(clock::now);
                let wait = self.open_until().saturating_sub(now);
                if wait > 0 {
                    Verdict::Open(wait)
                } else {
                    Verdict::TrialsDue
                }
            }
        }
    }

    /// The verdict on the current word.
    fn verdict_now(&self) -> Verdict {
        self.verdict(Word(self.word.load(Ordering::Acquire)), &mut None)
    }

    /// Open → half-open, taking the first trial permit: a state change, so
    /// under the lock like every other. Returns the word found instead if
    /// the breaker moved on meanwhile.
    fn start_trials(&self, open: Word) -> Result<(Permit<'_>, Change), Word> {
        let _guard = lock(&self.lock);
        let next = open.next(Phase::HalfOpen).with_inflight(1);
        match self
            .word
            .compare_exchange(open.0, next.0, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok((
                Permit::new(self, next),
                self.change(CircuitState::Open, CircuitState::HalfOpen),
            )),
            Err(actual) => Err(Word(actual)),
        }
    }

    /// Whether a call would be admitted now, without taking a permit, and
    /// if not, the rejection itself. For a caller that needs the
    /// [`CircuitOpen`] to hand on: the code `#[retry]` generates above a
    /// `#[circuit_breaker]` asks it after each failed attempt, sleeps at
    /// least its [`retry_after`](CircuitOpen::retry_after), and, if it
    /// stops for lack of time (that wait above `max_retry_after`, or the
    /// sleep past `max_elapsed`), returns this rejection instead of the
    /// attempt's error. Reads the clock only while open.
    ///
    /// Unlike [`admits_in`](Self::admits_in), it tells a half-open breaker
    /// with every trial permit taken (`Err`, with a zero wait) from one
    /// that admits a call now (`Ok`).
    ///
    /// # Errors
    ///
    /// The rejection [`acquire`](Self::acquire) would return: while open,
    /// forced open (with `reset` as the wait; see
    /// [`force_open`](Self::force_open)), or half-open with every trial
    /// permit taken.
    pub fn check(&self) -> Result<(), CircuitOpen> {
        match self.verdict_now() {
            Verdict::Admit | Verdict::Trial | Verdict::TrialsDue => Ok(()),
            Verdict::Busy => Err(self.answer(0)),
            Verdict::Open(wait) => Err(self.answer(wait)),
            Verdict::Forced => Err(self.answer(FORCED_OPEN)),
        }
    }

    /// The state now. Computed on read: an open breaker whose reset time
    /// has passed reports `HalfOpen` before any call arrives. Reads the
    /// clock only while open.
    pub fn state(&self) -> CircuitState {
        self.state_of(Word(self.word.load(Ordering::Acquire)))
    }

    /// The state a word stands for, reading the clock only if it is open.
    fn state_of(&self, word: Word) -> CircuitState {
        match self.verdict(word, &mut None) {
            Verdict::Admit => CircuitState::Closed,
            Verdict::Trial | Verdict::TrialsDue | Verdict::Busy => CircuitState::HalfOpen,
            Verdict::Open(_) | Verdict::Forced => CircuitState::Open,
        }
    }

    /// How long until this breaker admits a call, as a bare `Duration`:
    /// for a retry loop written by hand, to pass to
    /// [`Failure::with_admits_in`](crate::Failure::with_admits_in), or for
    /// a health route. Zero if it would admit one now, and also if it is
    /// half-open with every trial permit taken (the wait is then a trial's
    /// length, unknown); the rest of `reset` while open; the `reset`
    /// setting while forced open, a hint only (see
    /// [`force_open`](Self::force_open)). Reads the clock only while open.
    ///
    /// To tell "admits now" from "every trial in flight", or to get a
    /// [`CircuitOpen`] to return, use [`check`](Self::check).
    pub fn admits_in(&self) -> Duration {
        match self.verdict_now() {
            Verdict::Admit | Verdict::Trial | Verdict::TrialsDue | Verdict::Busy => Duration::ZERO,
            Verdict::Open(wait) => clock::duration(wait),
            Verdict::Forced => self.settings.reset,
        }
    }

    /// Back to closed with every count cleared, kill switches off; calls in
    /// flight from before are ignored when they finish.
    pub fn reset(&self) {
        self.transition(
            |word| word.with_flags(false, false).next(Phase::Closed),
            true,
        );
    }

    /// Kill switch: reject every call until [`reset`](Self::reset) (or
    /// [`disable`](Self::disable)) releases it, as if open.
    ///
    /// Each rejection ([`acquire`](Self::acquire), [`check`](Self::check),
    /// [`call`](Self::call)) reports the `reset` setting as its
    /// [`retry_after`](CircuitOpen::retry_after), and
    /// [`admits_in`](Self::admits_in) returns it too, but that is a hint
    /// only: no trial calls follow, and the breaker stays open until it is
    /// released, however long that takes.
    pub fn force_open(&self) {
        self.transition(
            |word| word.with_flags(true, false).next(word.phase()),
            false,
        );
    }

    /// Kill switch: let every call through and count nothing until
    /// [`reset`](Self::reset).
    pub fn disable(&self) {
        self.transition(
            |word| word.with_flags(false, true).next(word.phase()),
            false,
        );
    }

    /// Opens a closed breaker now, as its own failures would (its `reset`
    /// then runs, and trials follow): the fleet's quorum. Nothing if it is
    /// not closed, or a kill switch holds it; whether it opened.
    #[cfg(feature = "redis")]
    pub(crate) fn open_now(&self) -> bool {
        let change = {
            let mut window = lock(&self.lock);
            let mut word = Word(self.word.load(Ordering::Acquire));
            if word.phase() != Phase::Closed || word.forced_open() || word.disabled() {
                return false;
            }
            // A key opens within its keyed breaker's `max_open`, as on a
            // trip.
            let keys = self.keyed.as_ref().and_then(keyed::Link::keys);
            let _gate = match (&keys, &self.keyed) {
                (Some(keys), Some(link)) => match keys.gate(self, link, true) {
                    Some(gate) => Some(gate),
                    None => return false,
                },
                _ => None,
            };
            loop {
                if word.phase() != Phase::Closed || word.forced_open() || word.disabled() {
                    return false;
                }
                self.opened_at.store(clock::now(), Ordering::Relaxed);
                match self.word.compare_exchange_weak(
                    word.0,
                    word.next(Phase::Open).0,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => word = Word(actual),
                }
            }
            window.clear();
            self.change(CircuitState::Closed, CircuitState::Open)
        };
        self.announce(change);
        true
    }

    /// A breaker not yet shared, made with the kill switch `hold` as its
    /// first state (not a change: no event, no hook).
    #[cfg(feature = "redis")]
    pub(crate) fn switched_from_start(self, hold: Option<Hold>) -> Self {
        let word = Word(self.word.load(Ordering::Relaxed));
        let word = match hold {
            Some(Hold::ForceOpen) => word.with_flags(true, false),
            Some(Hold::Disable) => word.with_flags(false, true),
            None => word,
        };
        self.word.store(word.0, Ordering::Relaxed);
        self
    }

    /// Keeps an open breaker open for another whole `reset` from now (no
    /// trial yet): another instance of the fleet holds the probe. Nothing
    /// if it is not open.
    #[cfg(feature = "redis")]
    pub(crate) fn hold_open(&self) {
        let word = Word(self.word.load(Ordering::Acquire));
        if word.phase() == Phase::Open && !word.forced_open() && !word.disabled() {
            self.opened_at.store(clock::now(), Ordering::Relaxed);
        }
    }

    /// Whether it is open and no trial has started, though its `reset` may
    /// have run out (then [`state`](Self::state) says half-open): no call
    /// has come since to take the trial.
    #[cfg(feature = "redis")]
    pub(crate) fn awaits_trial(&self) -> bool {
        let word = Word(self.word.load(Ordering::Acquire));
        word.phase() == Phase::Open && !word.forced_open() && !word.disabled()
    }

    /// Whether a kill switch holds it (forced open or disabled): its state
    /// says nothing about the dependency.
    #[cfg(feature = "redis")]
    pub(crate) fn switched(&self) -> bool {
        let word = Word(self.word.load(Ordering::Acquire));
        word.forced_open() || word.disabled()
    }

    /// How many calls it refused since the last time this was asked.
    #[cfg(feature = "redis")]
    pub(crate) fn take_refused(&self) -> u64 {
        self.refused.swap(0, Ordering::Relaxed)
    }

    /// Its `reset` setting.
    #[cfg(feature = "redis")]
    pub(crate) fn reset_after(&self) -> Duration {
        self.settings.reset
    }

    fn open_until(&self) -> i64 {
        self.opened_at
            .load(Ordering::Relaxed)
            .saturating_add(self.settings.reset_nanos)
    }

    /// The rejection for a wait from [`admit`](Self::admit): nanoseconds,
    /// or [`FORCED_OPEN`].
    pub(crate) fn rejection(&self, wait: i64) -> CircuitOpen {
        // A call refused: counted, and this instance has calls to probe
        // with.
        #[cfg(feature = "metrics")]
        crate::metrics::breaker_refused(&self.name);
        #[cfg(feature = "redis")]
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.answer(wait)
    }

    /// The rejection for a wait, as [`check`](Self::check) reports it
    /// too (a question, not a call refused: not counted).
    fn answer(&self, wait: i64) -> CircuitOpen {
        if wait == FORCED_OPEN {
            CircuitOpen::forced(self.name.clone(), self.settings.reset)
        } else {
            CircuitOpen::new(self.name.clone(), clock::duration(wait))
        }
    }

    /// A kill-switch or reset transition, under the lock. The change it
    /// announces is read from the word it actually replaced.
    fn transition(&self, to: impl Fn(Word) -> Word, clear_window: bool) {
        let change = {
            let mut window = lock(&self.lock);
            let mut word = Word(self.word.load(Ordering::Acquire));
            let next = loop {
                let next = to(word);
                match self.word.compare_exchange_weak(
                    word.0,
                    next.0,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break next,
                    Err(actual) => word = Word(actual),
                }
            };
            if clear_window {
                window.clear();
            }
            let (from, to) = (self.state_of(word), self.state_of(next));
            (from != to).then(|| self.change(from, to))
        };
        if let Some(change) = change {
            self.announce(change);
        }
    }

    /// Records one outcome of a call admitted in state `admitted` (and,
    /// with `slow`, at the time stamped in it).
    #[inline]
    fn record(&self, admitted: Word, outcome: Outcome) {
        // The fast path, inlined: a success through a closed breaker in
        // consecutive mode with no failures pending writes nothing (one
        // load, here and in `acquire`). A count of zero means the same in
        // any later state: nothing to clear.
        if admitted.admits_closed()
            && outcome == Outcome::Success
            && matches!(self.settings.mode, Mode::Consecutive { .. })
            && Word(self.word.load(Ordering::Acquire)).count() == 0
        {
            return;
        }
        self.record_slow(admitted, outcome);
    }

    #[inline(never)]
    fn record_slow(&self, admitted: Word, outcome: Outcome) {
        // The clock, read once (only with `slow` or a time window): for a
        // slow call's length, and for the second a time window files the
        // outcome under.
        let (now, slow) = if outcome != Outcome::Cancelled && self.settings.timed() {
            self.time_call(admitted)
        } else {
            (0, false)
        };
        match (Kind::of(admitted), outcome) {
            (Kind::Untracked, _) | (Kind::Closed, Outcome::Cancelled) => {}
            (Kind::Closed, _) => match self.settings.mode {
                Mode::Consecutive { failures } => {
                    self.record_consecutive(admitted, outcome == Outcome::Failure, failures);
                }
                Mode::Rate {
                    rate,
                    window,
                    min_calls,
                    slow_rate,
                    ..
                } => {
                    let mut guard = lock(&self.lock);
                    if !self.is_current(admitted, Phase::Closed) {
                        return;
                    }
                    let failed = outcome == Outcome::Failure;
                    let tally = guard.push(window, now, failed, slow);
                    #[cfg(feature = "metrics")]
                    if failed || slow {
                        self.count(failed, slow);
                    }
                    if tally.tripped(rate, slow_rate, min_calls) {
                        self.trip(guard, admitted);
                    }
                }
            },
            // A slow trial says the service is not back.
            (Kind::Trial, Outcome::Failure | Outcome::Success) if slow => {
                #[cfg(feature = "metrics")]
                self.count(outcome == Outcome::Failure, true);
                let guard = lock(&self.lock);
                self.trip(guard, admitted);
            }
            (Kind::Trial, Outcome::Failure) => {
                #[cfg(feature = "metrics")]
                self.count(true, false);
                let guard = lock(&self.lock);
                self.trip(guard, admitted);
            }
            (Kind::Trial, Outcome::Success) => self.trial_succeeded(admitted),
            (Kind::Trial, Outcome::Cancelled) => {
                self.update(admitted, Phase::HalfOpen, |word| {
                    Some(word.with_inflight(word.inflight().saturating_sub(1)))
                });
            }
        }
    }

    /// The time now and whether the call admitted in `admitted` was slow.
    #[inline(never)]
    fn time_call(&self, admitted: Word) -> (i64, bool) {
        let now = clock::now();
        let slow = self.settings.slow_micros > 0
            && clock::elapsed_micros32(admitted.started(), now) > self.settings.slow_micros;
        (now, slow)
    }

    fn record_consecutive(&self, admitted: Word, failed: bool, threshold: u32) {
        if !failed {
            self.update(admitted, Phase::Closed, |word| {
                (word.count() != 0).then(|| word.with_count(0))
            });
            return;
        }
        #[cfg(feature = "metrics")]
        self.count(true, false);
        let reached = self.update(admitted, Phase::Closed, |word| {
            let count = word.count() + 1;
            (count < threshold).then(|| word.with_count(count))
        });
        if reached == Update::Declined {
            let guard = lock(&self.lock);
            self.trip(guard, admitted);
        }
    }

    /// Counts a failed or slow call (feature `metrics`), off the
    /// success path.
    #[cfg(feature = "metrics")]
    #[cold]
    fn count(&self, failed: bool, slow: bool) {
        if failed {
            crate::metrics::breaker_failure(&self.name);
        }
        if slow {
            crate::metrics::breaker_slow(&self.name);
        }
    }

    fn trial_succeeded(&self, admitted: Word) {
        let change = {
            let mut window = lock(&self.lock);
            let mut closed = false;
            let result = self.update(admitted, Phase::HalfOpen, |word| {
                let successes = word.count() + 1;
                closed = successes >= self.settings.half_open;
                Some(if closed {
                    word.next(Phase::Closed)
                } else {
                    word.with_count(successes)
                        .with_inflight(word.inflight().saturating_sub(1))
                })
            });
            (result == Update::Done && closed).then(|| {
                window.clear();
                self.change(CircuitState::HalfOpen, CircuitState::Closed)
            })
        };
        if let Some(change) = change {
            self.announce(change);
        }
    }

    /// Whether `word` is still the state a call was admitted in.
    fn is_current(&self, admitted: Word, phase: Phase) -> bool {
        let word = Word(self.word.load(Ordering::Acquire));
        word.generation() == admitted.generation() && word.phase() == phase
    }

    /// Applies `f` to the state word while it is still in the generation
    /// and phase a call was admitted in. `f` returns `None` to write
    /// nothing.
    #[inline]
    fn update(
        &self,
        admitted: Word,
        phase: Phase,
        mut f: impl FnMut(Word) -> Option<Word>,
    ) -> Update {
        let mut word = Word(self.word.load(Ordering::Acquire));
        loop {
            if word.generation() != admitted.generation() || word.phase() != phase {
                return Update::Stale;
            }
            let Some(next) = f(word) else {
                return Update::Declined;
            };
            match self.word.compare_exchange_weak(
                word.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Update::Done,
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// Opens the breaker, if it is still in the generation of `admitted`.
    /// Takes the lock guard so `opened_at` is written by one thread at a
    /// time, before the open state is published.
    fn trip(&self, guard: MutexGuard<'_, Window>, admitted: Word) {
        let mut window = guard;
        let mut word = Word(self.word.load(Ordering::Acquire));
        // A key of a keyed breaker opens under the keyed breaker's lock,
        // and from closed only within `max_open`.
        let keys = self.keyed.as_ref().and_then(keyed::Link::keys);
        let gate = match (&keys, &self.keyed) {
            (Some(keys), Some(link)) => {
                match keys.gate(self, link, word.phase() == Phase::Closed) {
                    Some(gate) => Some(gate),
                    None => return,
                }
            }
            _ => None,
        };
        loop {
            if word.generation() != admitted.generation() || word.phase() == Phase::Open {
                return;
            }
            self.opened_at.store(clock::now(), Ordering::Relaxed);
            match self.word.compare_exchange_weak(
                word.0,
                word.next(Phase::Open).0,
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => word = Word(actual),
            }
        }
        window.clear();
        let from = if word.phase() == Phase::Closed {
            CircuitState::Closed
        } else {
            CircuitState::HalfOpen
        };
        let change = self.change(from, CircuitState::Open);
        drop(window);
        drop(gate);
        self.announce(change);
    }

    /// Numbers a state change; called under the lock, so the numbers follow
    /// the order of the changes.
    fn change(&self, from: CircuitState, to: CircuitState) -> Change {
        if (from == CircuitState::Closed) != (to == CircuitState::Closed)
            && let Some(link) = &self.keyed
        {
            link.note_change();
        }
        Change {
            from,
            to,
            sequence: self.changes.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Tells the hook and the event log, outside the lock, so a hook may
    /// use the breaker (even `reset` it).
    fn announce(&self, change: Change) {
        #[cfg(feature = "metrics")]
        crate::metrics::breaker_state(&self.name, change.to);
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "resilient::circuit_breaker",
            breaker = %self.name,
            from = change.from.as_str(),
            to = change.to.as_str(),
            sequence = change.sequence,
            "circuit breaker state changed"
        );
        if let Some(hook) = self.settings.on_state_change {
            hook(&StateChange {
                breaker: &self.name,
                from: change.from,
                to: change.to,
                sequence: change.sequence,
            });
        }
    }
}

/// The wait [`CircuitBreaker::admit`] reports for a forced-open breaker:
/// no real wait is negative.
const FORCED_OPEN: i64 = -1;

/// What the breaker does with a call arriving now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Closed (or disabled): let it through, nothing to change.
    Admit,
    /// Half-open with a trial permit free: a trial call.
    Trial,
    /// Open, and `reset` has passed: this call starts the trials.
    TrialsDue,
    /// Half-open with every trial permit taken: rejected, with no known
    /// wait (a trial's length).
    Busy,
    /// Open: rejected for this many more nanoseconds.
    Open(i64),
    /// Forced open: rejected until released.
    Forced,
}

/// A state change, numbered under the lock, announced after it.
#[derive(Clone, Copy, Debug)]
struct Change {
    from: CircuitState,
    to: CircuitState,
    sequence: u64,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Update {
    Done,
    Declined,
    Stale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Admitted while closed.
    Closed,
    /// A half-open trial, holding one of the permits.
    Trial,
    /// Admitted by a disabled breaker: nothing is recorded.
    Untracked,
}

impl Kind {
    /// What a permit is, read off the word it was admitted in (`acquire`
    /// admits a disabled word as untracked, a half-open one as a trial,
    /// a closed one as closed), so the permit is two words and travels
    /// in registers.
    #[inline]
    fn of(admitted: Word) -> Self {
        if admitted.disabled() {
            Self::Untracked
        } else if admitted.phase() == Phase::HalfOpen {
            Self::Trial
        } else {
            Self::Closed
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Cancelled,
}

/// Leave to make one call through a [`CircuitBreaker`]; from
/// [`CircuitBreaker::acquire`].
///
/// Record the outcome with [`success`](Self::success),
/// [`failure`](Self::failure) or [`record`](Self::record). Dropped without
/// an outcome, it counts as a cancelled call (nothing, or a failure with
/// [`OnCancel::Failure`]), or as a failure while the thread panics, and a
/// half-open trial permit is given back. An outcome that arrives after the
/// breaker changed state (a slow call admitted while closed, finishing
/// after it opened) is ignored.
///
/// ```
/// # use resilient::CircuitBreaker;
/// let breaker = CircuitBreaker::builder().failures(1).build();
/// let permit = breaker.acquire().expect("closed");
/// permit.failure();
/// assert!(breaker.acquire().is_err());
/// ```
#[must_use = "a permit records nothing useful unless its outcome is given"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    /// The state word it was admitted in; its kind follows from it. When
    /// the breaker counts slow calls, its counter bits (which a permit
    /// never reads) hold when it was admitted: two words, so a permit
    /// travels in registers (a third field cost every breaker 11
    /// instructions a call).
    admitted: Word,
}

impl<'a> Permit<'a> {
    #[inline]
    fn new(breaker: &'a CircuitBreaker, admitted: Word) -> Self {
        let admitted = if breaker.settings.slow_micros > 0 {
            stamp(admitted)
        } else {
            admitted
        };
        Self { breaker, admitted }
    }

    /// Whether this is a half-open trial call, whose outcome decides
    /// whether the breaker closes.
    #[inline]
    pub fn is_trial(&self) -> bool {
        Kind::of(self.admitted) == Kind::Trial
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.settle(Outcome::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        self.settle(Outcome::Failure);
    }

    /// The call's outcome says nothing about the service (a layer below
    /// rejected it, say): count nothing, and give a trial permit back.
    pub fn ignore(self) {
        self.settle(Outcome::Cancelled);
    }

    /// The call failed if `failed`, else succeeded.
    #[inline]
    pub fn record(self, failed: bool) {
        self.settle(if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        });
    }

    #[inline]
    fn settle(self, outcome: Outcome) {
        // Settled: the drop guard has nothing left to do. `ManuallyDrop`
        // rather than a flag written here and read back at once (a byte
        // store followed by a wider load of the same word stalls store
        // forwarding; it showed as most of the permit's cost in `perf`).
        let this = core::mem::ManuallyDrop::new(self);
        this.breaker.record(this.admitted, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let outcome = if std::thread::panicking() {
            Outcome::Failure
        } else {
            match self.breaker.settings.on_cancel {
                OnCancel::Ignore => Outcome::Cancelled,
                OnCancel::Failure => Outcome::Failure,
            }
        };
        self.breaker.record(self.admitted, outcome);
    }
}

/// A [`Permit`] that holds its breaker (a `&'static` or an `Arc` of it),
/// for a future that cannot borrow one (a tower service's response).
/// Settled once; dropped unsettled, it is a [`Permit`] dropped.
#[cfg(feature = "tower")]
pub(crate) struct OwnedPermit<B: core::ops::Deref<Target = CircuitBreaker>> {
    breaker: B,
    admitted: Option<Word>,
}

#[cfg(feature = "tower")]
impl<B: core::ops::Deref<Target = CircuitBreaker>> OwnedPermit<B> {
    /// A permit from `breaker`, or its rejection.
    pub(crate) fn acquire(breaker: B) -> Result<Self, CircuitOpen> {
        let admitted = {
            let permit = breaker.acquire()?;
            // Its time is stamped; it is settled below, from this word.
            core::mem::ManuallyDrop::new(permit).admitted
        };
        Ok(Self {
            breaker,
            admitted: Some(admitted),
        })
    }

    /// The call failed if `failed`, else succeeded.
    pub(crate) fn record(&mut self, failed: bool) {
        if let Some(admitted) = self.admitted.take() {
            Permit {
                breaker: &self.breaker,
                admitted,
            }
            .record(failed);
        }
    }

    /// The call says nothing about the service (a layer below turned it
    /// away): nothing counted, a trial given back.
    pub(crate) fn ignore(&mut self) {
        if let Some(admitted) = self.admitted.take() {
            Permit {
                breaker: &self.breaker,
                admitted,
            }
            .ignore();
        }
    }
}

#[cfg(feature = "tower")]
impl<B: core::ops::Deref<Target = CircuitBreaker>> Drop for OwnedPermit<B> {
    fn drop(&mut self) {
        if let Some(admitted) = self.admitted.take() {
            drop(Permit {
                breaker: &self.breaker,
                admitted,
            });
        }
    }
}

/// `admitted` with the time now, for a breaker that counts slow calls;
/// out of line, so a breaker that does not pays one compare.
#[cold]
#[inline(never)]
fn stamp(admitted: Word) -> Word {
    admitted.with_started(clock::micros32(clock::now()))
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name)
            .field("trial", &self.is_trial())
            .finish_non_exhaustive()
    }
}
