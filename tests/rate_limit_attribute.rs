//! `#[rate_limit]` and `RateLimiter`: GCRA in paused time with exact
//! counts and waits, a pause from a service's `Retry-After`, the layer in
//! a stack, and a property over any sequence of calls and clock moves.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use resilient::{
    CircuitBreaker, CircuitOpen, CircuitState, RateLimited, RateLimiter, RetryBudget, RetryHint,
    circuit_breaker, rate_limit, retry,
};
use tokio::time::{Instant, advance};

mod common;
use common::ms;

#[derive(Debug, PartialEq)]
enum Error {
    /// The service said: too many requests, come back after this.
    Throttled(Duration),
    Limited {
        after: Duration,
        paused: bool,
    },
    Open,
}

impl From<RateLimited> for Error {
    fn from(limited: RateLimited) -> Self {
        Self::Limited {
            after: limited.retry_after(),
            paused: limited.is_paused(),
        }
    }
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

impl RetryHint for Error {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled(after) => Some(*after),
            _ => None,
        }
    }
}

fn limited(after: Duration) -> Error {
    Error::Limited {
        after,
        paused: false,
    }
}

#[rate_limit(rate = 10, per = "1s", burst = 3, name = "test-burst")]
async fn bursty() -> Result<(), Error> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_burst_then_the_steady_rate() {
    for _ in 0..3 {
        assert_eq!(bursty().await, Ok(()));
    }
    assert_eq!(bursty().await, Err(limited(ms(100))));
    advance(ms(40)).await;
    assert_eq!(bursty().await, Err(limited(ms(60))));
    advance(ms(60)).await;
    assert_eq!(bursty().await, Ok(()));
    assert_eq!(bursty().await, Err(limited(ms(100))));
    // A quiet spell refills the burst.
    advance(ms(1000)).await;
    for _ in 0..3 {
        assert_eq!(bursty().await, Ok(()));
    }
}

static STARTS: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());

#[rate_limit(rate = 10, burst = 1, wait = "250ms", name = "test-wait")]
async fn waits(start: Instant) -> Result<(), Error> {
    STARTS.lock().unwrap().push(start.elapsed());
    Ok(())
}

/// Calls over the limit wait for their reserved slots, in order; one whose
/// slot is further than `wait` is turned away at once.
#[tokio::test(start_paused = true)]
async fn calls_wait_for_their_slots_within_wait() {
    let start = Instant::now();
    let (a, b, c, d) = tokio::join!(waits(start), waits(start), waits(start), waits(start));
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
    assert_eq!(d, Err(limited(ms(300))));
    assert_eq!(*STARTS.lock().unwrap(), [ms(0), ms(100), ms(200)]);
}

static SERVED: AtomicU32 = AtomicU32::new(0);

#[rate_limit(rate = 100, name = "test-pause")]
async fn throttled_after(n: u32) -> Result<u32, Error> {
    let served = SERVED.fetch_add(1, Ordering::SeqCst) + 1;
    if served == n {
        Err(Error::Throttled(Duration::from_secs(5)))
    } else {
        Ok(served)
    }
}

/// One `429` with `Retry-After: 5` pauses every caller for 5 s: they are
/// turned away at once, without reaching the service; after the pause,
/// calls resume at the steady rate, one per interval, without a burst.
#[tokio::test(start_paused = true)]
async fn a_retry_after_from_below_pauses_every_caller() {
    assert_eq!(throttled_after(2).await, Ok(1));
    assert_eq!(
        throttled_after(2).await,
        Err(Error::Throttled(Duration::from_secs(5)))
    );
    let paused = |after| {
        Err(Error::Limited {
            after,
            paused: true,
        })
    };
    assert_eq!(throttled_after(0).await, paused(Duration::from_secs(5)));
    advance(ms(1000)).await;
    assert_eq!(throttled_after(0).await, paused(Duration::from_secs(4)));
    assert_eq!(
        SERVED.load(Ordering::SeqCst),
        2,
        "no call reached the service"
    );
    advance(ms(4000)).await;
    assert_eq!(throttled_after(0).await, Ok(3));
    // The steady rate (100 a second): the next slot in 10 ms, no burst.
    assert_eq!(throttled_after(0).await, Err(limited(ms(10))));
}

#[rate_limit(rate = 1, per = "1s", max_pause = "10s", name = "test-max-pause")]
async fn hostile() -> Result<(), Error> {
    Err(Error::Throttled(Duration::from_secs(365 * 24 * 3600)))
}

/// A hostile `Retry-After` of a year pauses for `max_pause` at most.
#[tokio::test(start_paused = true)]
async fn a_hostile_retry_after_pauses_for_max_pause_at_most() {
    let _ = hostile().await;
    let Err(Error::Limited { after, paused }) = hostile().await else {
        panic!("paused")
    };
    assert!(paused);
    assert_eq!(after, Duration::from_secs(10));
}

static TRIES: AtomicU32 = AtomicU32::new(0);
static BUDGET: RetryBudget = RetryBudget::builder().min_per_sec(1).ratio(0.0).build();

#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none, budget = BUDGET)]
#[rate_limit(rate = 1, per = "1s", name = "test-under-retry")]
async fn retried() -> Result<u32, Error> {
    Ok(TRIES.fetch_add(1, Ordering::SeqCst) + 1)
}

/// Under a retry, a rejection is a wait: the retry sleeps until the slot
/// and tries again, without spending its budget.
#[tokio::test(start_paused = true)]
async fn a_retry_sleeps_until_the_next_slot() {
    assert_eq!(retried().await, Ok(1));
    let before = BUDGET.available();
    let start = Instant::now();
    assert_eq!(retried().await, Ok(2));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(BUDGET.available(), before, "no retry was spent");
}

static SERVICE: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none)]
#[rate_limit(rate = 100, name = "test-429-retry")]
async fn busy_service() -> Result<u32, Error> {
    let n = SERVICE.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 {
        Err(Error::Throttled(Duration::from_secs(5)))
    } else {
        Ok(n)
    }
}

/// The whole loop: the service answers `429` with `Retry-After: 5`; the
/// limiter pauses; the retry's next attempt is turned away by the paused
/// limiter, sleeps the 5 s, and gets through.
#[tokio::test(start_paused = true)]
async fn a_429_pauses_the_limiter_and_the_retry_waits_it_out() {
    let start = Instant::now();
    assert_eq!(busy_service().await, Ok(2));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(SERVICE.load(Ordering::SeqCst), 2);
}

static GUARD: CircuitBreaker = CircuitBreaker::builder()
    .name("test-limited-breaker")
    .failures(1)
    .build();

#[circuit_breaker(shared = GUARD)]
#[rate_limit(rate = 1, per = "1h", name = "test-under-breaker")]
async fn behind_a_breaker() -> Result<(), Error> {
    Ok(())
}

/// Under a breaker, a rejection is not the dependency's failure.
#[tokio::test(start_paused = true)]
async fn a_rejection_is_not_a_breaker_failure() {
    assert_eq!(behind_a_breaker().await, Ok(()));
    assert!(matches!(
        behind_a_breaker().await,
        Err(Error::Limited { .. })
    ));
    assert_eq!(GUARD.state(), CircuitState::Closed);
}

static SHARED: RateLimiter = RateLimiter::builder()
    .name("test-shared")
    .rate(2)
    .per(Duration::from_secs(1))
    .build();

#[rate_limit(shared = SHARED)]
async fn one() -> Result<(), Error> {
    Ok(())
}

#[rate_limit(shared = SHARED)]
async fn two() -> Result<(), Error> {
    Ok(())
}

struct Client {
    limiter: std::sync::Arc<RateLimiter>,
}

impl Client {
    #[rate_limit(limiter = self.limiter)]
    async fn get(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn shared_and_owned_limiters() {
    assert_eq!(one().await, Ok(()));
    assert_eq!(two().await, Ok(()));
    assert!(one().await.is_err(), "two functions, one limit");
    let client = Client {
        limiter: std::sync::Arc::new(RateLimiter::builder().rate(1).build()),
    };
    assert_eq!(client.get().await, Ok(()));
    assert!(client.get().await.is_err());
}

fn as_io(limited: RateLimited) -> std::io::Error {
    std::io::Error::other(limited)
}

#[rate_limit(rate = 1, per = "1h", on_limited = as_io, name = "test-io")]
async fn io_call() -> std::io::Result<()> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn on_limited_for_a_foreign_error_type() {
    io_call().await.unwrap();
    let err = io_call().await.unwrap_err();
    assert!(err.get_ref().unwrap().is::<RateLimited>());
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Advance(u64),
    Call,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Over any sequence of calls and clock moves, the calls admitted in
    /// any stretch of time are at most `burst` plus the exact rate's share
    /// of it; and a call turned away waits at most one interval.
    #[test]
    fn no_stretch_admits_more_than_the_burst_and_the_rate(
        rate in 1u32..20,
        burst in 1u32..6,
        ops in proptest::collection::vec(
            prop_oneof![3 => Just(Op::Call), 2 => (0u64..400).prop_map(Op::Advance)],
            1..120,
        ),
    ) {
        let runtime = common::paused_runtime();
        runtime.block_on(async {
            let limiter = RateLimiter::builder()
                .rate(rate)
                .per(Duration::from_secs(1))
                .burst(burst)
                .build();
            // The limiter's interval, rounded up so the rate is never
            // exceeded; the bound below uses the exact rate.
            let interval = 1_000_000_000_u64.div_ceil(u64::from(rate));
            let mut now = 0u64; // ns
            let mut admitted: Vec<u64> = Vec::new();
            for op in ops {
                match op {
                    Op::Advance(ms) => {
                        advance(Duration::from_millis(ms)).await;
                        now += ms * 1_000_000;
                    }
                    Op::Call => match limiter.try_acquire() {
                        Ok(()) => admitted.push(now),
                        Err(limited) => {
                            let wait = limited.retry_after();
                            prop_assert!(wait > Duration::ZERO);
                            prop_assert!(wait.as_nanos() <= u128::from(interval));
                            // Waiting the time it names gets the call in.
                            advance(wait).await;
                            now += u64::try_from(wait.as_nanos()).unwrap();
                            prop_assert!(limiter.try_acquire().is_ok());
                            admitted.push(now);
                        }
                    },
                }
            }
            for (i, first) in admitted.iter().enumerate() {
                for (j, last) in admitted.iter().enumerate().skip(i) {
                    let calls = u64::try_from(j - i + 1).unwrap();
                    let allowed =
                        u64::from(burst) + (last - first) * u64::from(rate) / 1_000_000_000;
                    prop_assert!(
                        calls <= allowed,
                        "{} calls in {} ns, allowed {}",
                        calls,
                        last - first,
                        allowed
                    );
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn settings_from_configuration_are_checked() {
    let err = RateLimiter::builder().rate(0).try_build().unwrap_err();
    assert_eq!(err.key(), "rate");
    let err = RateLimiter::builder().burst(0).try_build().unwrap_err();
    assert_eq!(err.key(), "burst");
}

#[tokio::test(start_paused = true)]
async fn waiting_by_hand_and_leaving_a_slot_unused() {
    let limiter = RateLimiter::builder()
        .rate(1)
        .burst(1)
        .wait(Duration::from_secs(5))
        .build();
    limiter.try_acquire().unwrap();
    // A caller that gives up while waiting leaves its slot unused: the
    // next caller's slot is the one after.
    let gave_up = tokio::time::timeout(ms(10), limiter.acquire()).await;
    assert!(gave_up.is_err());
    let start = Instant::now();
    limiter.acquire().await.unwrap();
    assert_eq!(start.elapsed(), ms(1990));
}

static TENANT_CALLS: AtomicU32 = AtomicU32::new(0);

#[rate_limit(key = tenant, rate = 1, per = "1s", name = "test-per-tenant")]
async fn per_tenant(tenant: u32, throttle: bool) -> Result<(), Error> {
    TENANT_CALLS.fetch_add(1, Ordering::SeqCst);
    if throttle {
        Err(Error::Throttled(Duration::from_secs(30)))
    } else {
        Ok(())
    }
}

/// One limit per key: a tenant's calls do not use another's, and a
/// tenant's `429` pauses that tenant only.
#[tokio::test(start_paused = true)]
async fn one_limit_per_key_and_a_pause_per_key() {
    assert_eq!(per_tenant(1, false).await, Ok(()));
    let Err(Error::Limited { after, paused }) = per_tenant(1, false).await else {
        panic!("tenant 1 is over its rate")
    };
    assert_eq!((after, paused), (Duration::from_secs(1), false));
    assert_eq!(per_tenant(2, false).await, Ok(()), "tenant 2 has its own");

    advance(Duration::from_secs(1)).await;
    assert_eq!(
        per_tenant(2, true).await,
        Err(Error::Throttled(Duration::from_secs(30)))
    );
    advance(Duration::from_secs(1)).await;
    let Err(Error::Limited { after, paused }) = per_tenant(2, false).await else {
        panic!("tenant 2 is paused")
    };
    assert!(paused);
    assert_eq!(after, Duration::from_secs(29));
    assert_eq!(per_tenant(1, false).await, Ok(()), "tenant 1 is not paused");
}

#[test]
fn a_keyed_limiter_keeps_at_most_max_keys() {
    let runtime = common::paused_runtime();
    runtime.block_on(async {
        let keyed = resilient::KeyedRateLimiter::builder()
            .name("many")
            .rate(1)
            .per(Duration::from_secs(3600))
            .max_keys(64)
            .build();
        // A throttled key in use.
        keyed.try_acquire("hot").unwrap();
        for i in 0..10_000u32 {
            let _ = keyed.try_acquire(&i);
            if i % 100 == 0 {
                // The hot key is used now and then; it stays throttled.
                assert!(keyed.try_acquire("hot").is_err(), "at {i}");
            }
            assert!(keyed.len() <= 64);
        }
    });
}

static QUEUED_CALLS: AtomicU32 = AtomicU32::new(0);

#[rate_limit(rate = 10, burst = 1, wait = "1s", name = "test-queued-pause")]
async fn queued() -> Result<(), Error> {
    let n = QUEUED_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 {
        Err(Error::Throttled(Duration::from_secs(30)))
    } else {
        Ok(())
    }
}

/// Callers already waiting for their reserved slots when a `429` pauses
/// the limiter do not call the service: they are turned away, paused.
#[tokio::test(start_paused = true)]
async fn a_pause_stops_callers_already_waiting() {
    let (first, second, third) = tokio::join!(queued(), queued(), queued());
    assert_eq!(first, Err(Error::Throttled(Duration::from_secs(30))));
    for waited in [second, third] {
        let Err(Error::Limited { paused, .. }) = waited else {
            panic!("turned away")
        };
        assert!(paused);
    }
    assert_eq!(
        QUEUED_CALLS.load(Ordering::SeqCst),
        1,
        "only the first was sent"
    );
}

/// A paused key is the last to make room: forgetting it would end its
/// pause.
#[tokio::test(start_paused = true)]
async fn a_paused_key_is_kept() {
    // Every new key stays throttled (one call an hour), as the paused
    // one: only the pause sets it apart.
    let keyed = resilient::KeyedRateLimiter::builder()
        .name("paused-kept")
        .rate(1)
        .per(Duration::from_secs(3600))
        .max_keys(16)
        .build();
    keyed.pause_for("paused", Duration::from_secs(60));
    for i in 0..1000u32 {
        let _ = keyed.try_acquire(&i);
        advance(ms(1)).await;
        assert!(keyed.len() <= 16, "keys are evicted");
    }
    let Err(limited) = keyed.try_acquire("paused") else {
        panic!("still paused")
    };
    assert!(limited.is_paused());
}

static LIMIT_ABOVE_TRIES: AtomicU32 = AtomicU32::new(0);

#[rate_limit(rate = 1, per = "1h", name = "test-above-retry")]
#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none)]
async fn limit_above_a_retry() -> Result<(), Error> {
    LIMIT_ABOVE_TRIES.fetch_add(1, Ordering::SeqCst);
    Err(Error::Open)
}

/// Above a retry, a call takes one slot for all its attempts; the next
/// call is turned away without running.
#[tokio::test(start_paused = true)]
async fn above_a_retry_one_slot_serves_every_attempt() {
    assert_eq!(limit_above_a_retry().await, Err(Error::Open));
    assert_eq!(LIMIT_ABOVE_TRIES.load(Ordering::SeqCst), 3);
    assert!(matches!(
        limit_above_a_retry().await,
        Err(Error::Limited { paused: false, .. })
    ));
    assert_eq!(LIMIT_ABOVE_TRIES.load(Ordering::SeqCst), 3, "not run");
}

fn later(error: Error) -> Result<&'static str, Error> {
    match error {
        Error::Limited { .. } => Ok("later"),
        other => Err(other),
    }
}

#[resilient::fallback(with = later)]
#[rate_limit(rate = 1, per = "1h", name = "test-fallback")]
async fn limited_with_a_fallback() -> Result<&'static str, Error> {
    Ok("now")
}

/// A fallback above sees a refusal as `E::from(RateLimited)`.
#[tokio::test(start_paused = true)]
async fn a_fallback_above_sees_a_refusal() {
    assert_eq!(limited_with_a_fallback().await, Ok("now"));
    assert_eq!(limited_with_a_fallback().await, Ok("later"));
}
