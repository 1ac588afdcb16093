//! `#[bulkhead]` and `Bulkhead`: at most `max` calls at once, the rest
//! waiting in turn up to `wait` or turned away; places given back however
//! a call ends; the layer in a stack. Paused time, exact counts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilient::{
    Bulkhead, BulkheadFull, CircuitBreaker, CircuitOpen, CircuitState, RetryBudget, bulkhead,
    circuit_breaker, retry,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, PartialEq)]
enum Error {
    /// The body's own failure.
    Down,
    Full {
        waited: Duration,
    },
    Open,
}

impl From<BulkheadFull> for Error {
    fn from(full: BulkheadFull) -> Self {
        Self::Full {
            waited: full.waited(),
        }
    }
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

const FULL: Error = Error::Full {
    waited: Duration::ZERO,
};

/// Counts the calls inside a body at once, and the most seen.
#[derive(Default)]
struct Inside {
    now: AtomicU32,
    most: AtomicU32,
}

impl Inside {
    async fn run(&self, hold: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        // Out however the body ends: a call cancelled in its sleep has
        // left too (the stress test's first version counted it inside
        // for ever, and failed now and then).
        let _leave = Leave(&self.now);
        sleep(hold).await;
    }
}

struct Leave<'a>(&'a AtomicU32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

static THREE: Inside = Inside {
    now: AtomicU32::new(0),
    most: AtomicU32::new(0),
};

#[bulkhead(max = 3, name = "test-three")]
async fn three_at_once() -> Result<(), Error> {
    THREE.run(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn at_most_max_run_and_the_rest_are_turned_away_at_once() {
    let start = Instant::now();
    let results = futures_join_all((0..5).map(|_| three_at_once())).await;
    assert_eq!(THREE.most.load(Ordering::SeqCst), 3);
    let turned_away = results.iter().filter(|r| **r == Err(FULL)).count();
    assert_eq!(turned_away, 2);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

/// `join_all` for a handful of futures on one task, without a dependency.
async fn futures_join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *output = Some(value);
            }
        }
        if outputs.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

static ORDER: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

#[bulkhead(max = 1, wait = "10s", name = "test-in-turn")]
async fn in_turn(n: u32) -> Result<(), Error> {
    ORDER.lock().unwrap().push(n);
    sleep(Duration::from_secs(1)).await;
    Ok(())
}

/// Waiting calls enter in the order they arrived.
#[tokio::test(start_paused = true)]
async fn waiting_calls_enter_in_turn() {
    let start = Instant::now();
    let results = futures_join_all((1..=4).map(in_turn)).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(*ORDER.lock().unwrap(), [1, 2, 3, 4]);
    assert_eq!(start.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_is_turned_away_after_wait() {
    let bulkhead = Bulkhead::builder()
        .name("b")
        .max(1)
        .wait(Duration::from_millis(300))
        .build();
    let held = bulkhead.try_enter().unwrap();
    let start = Instant::now();
    let result = bulkhead.call(async { Ok::<_, Error>(()) }).await;
    assert_eq!(
        result,
        Err(Error::Full {
            waited: Duration::from_millis(300)
        })
    );
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    drop(held);
    assert_eq!(bulkhead.running(), 0);
}

/// A waiter whose caller goes away leaves the queue at once: the next
/// waiter gets the place as soon as it is free, not after it.
#[tokio::test(start_paused = true)]
async fn a_waiter_that_goes_away_leaves_the_queue() {
    let bulkhead = Arc::new(
        Bulkhead::builder()
            .max(1)
            .wait(Duration::from_secs(60))
            .build(),
    );
    let held = bulkhead.try_enter().unwrap();
    // The first waiter's caller gives up after 1 s.
    let gone = tokio::time::timeout(Duration::from_secs(1), bulkhead.enter()).await;
    assert!(gone.is_err());
    // A second waiter, queued after it; the place frees at 2 s.
    let second = {
        let bulkhead = Arc::clone(&bulkhead);
        tokio::spawn(async move {
            let start = Instant::now();
            let _place = bulkhead.enter().await.unwrap();
            start.elapsed()
        })
    };
    sleep(Duration::from_secs(1)).await;
    drop(held);
    assert_eq!(second.await.unwrap(), Duration::from_secs(1));
    assert_eq!(bulkhead.running(), 0);
}

static PANICKY: Bulkhead = Bulkhead::builder().name("test-panicky").max(1).build();

#[bulkhead(shared = PANICKY)]
async fn panics() -> Result<(), Error> {
    panic!("in the body");
}

#[bulkhead(shared = PANICKY)]
async fn hangs() -> Result<(), Error> {
    std::future::pending::<()>().await;
    Ok(())
}

/// A panic in the body, or the call's future dropped mid-body, gives the
/// place back.
#[tokio::test(start_paused = true)]
async fn places_are_given_back_on_panic_and_on_drop() {
    let joined = tokio::spawn(panics()).await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(PANICKY.running(), 0);

    let mut call = Box::pin(hangs());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(PANICKY.running(), 1);
    drop(call);
    assert_eq!(PANICKY.running(), 0);
}

/// Many tasks on two threads entering, waiting, giving up and panicking:
/// never more than `max` inside, and every place back at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stress_of_cancels_and_panics_leaks_no_place() {
    let bulkhead = Arc::new(
        Bulkhead::builder()
            .max(4)
            .wait(Duration::from_millis(2))
            .build(),
    );
    let inside = Arc::new(Inside::default());
    let tasks: Vec<_> = (0..400u32)
        .map(|i| {
            let (bulkhead, inside) = (Arc::clone(&bulkhead), Arc::clone(&inside));
            tokio::spawn(async move {
                let call = bulkhead.call(async {
                    inside
                        .run(Duration::from_micros(u64::from(i % 7) * 300))
                        .await;
                    assert!(i % 13 != 0, "a panicking body");
                    Ok::<_, Error>(())
                });
                if i % 5 == 0 {
                    // The caller gives up.
                    let _ = tokio::time::timeout(Duration::from_micros(700), call).await;
                } else {
                    let _ = call.await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    assert!(inside.most.load(Ordering::SeqCst) <= 4);
    assert_eq!(bulkhead.running(), 0, "every place given back");
    // And all four places are usable.
    let places: Vec<_> = (0..4).map(|_| bulkhead.try_enter().unwrap()).collect();
    assert!(bulkhead.try_enter().is_err());
    drop(places);
}

static GUARDED: CircuitBreaker = CircuitBreaker::builder()
    .name("test-bulkhead-under-breaker")
    .failures(1)
    .build();
static NARROW: Bulkhead = Bulkhead::builder().name("test-narrow").max(1).build();

#[circuit_breaker(shared = GUARDED)]
#[bulkhead(shared = NARROW)]
async fn behind_a_breaker() -> Result<(), Error> {
    Ok(())
}

/// Under a breaker, a full bulkhead is not the dependency's failure.
#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_not_a_breaker_failure() {
    let held = NARROW.try_enter().unwrap();
    assert_eq!(behind_a_breaker().await, Err(FULL));
    assert_eq!(behind_a_breaker().await, Err(FULL));
    assert_eq!(GUARDED.state(), CircuitState::Closed);
    drop(held);
    assert_eq!(behind_a_breaker().await, Ok(()));
}

static TIGHT: Bulkhead = Bulkhead::builder().name("test-tight").max(1).build();
static BUDGET: RetryBudget = RetryBudget::builder().min_per_sec(1).ratio(0.0).build();
static TRIES: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 4, backoff = fixed("100ms"), jitter = none, budget = BUDGET)]
#[bulkhead(shared = TIGHT)]
async fn retried_when_full() -> Result<u32, Error> {
    Ok(TRIES.fetch_add(1, Ordering::SeqCst) + 1)
}

/// Under a retry, a full bulkhead is retried after the backoff, and costs
/// the budget nothing: the call never reached the service.
#[tokio::test(start_paused = true)]
async fn a_retry_backs_off_from_a_full_bulkhead() {
    let budget_before = BUDGET.available();
    let held = TIGHT.try_enter().unwrap();
    let release = tokio::spawn(async move {
        sleep(Duration::from_millis(250)).await;
        drop(held);
    });
    let start = Instant::now();
    assert_eq!(retried_when_full().await, Ok(1));
    // Full at 0, 100 and 200 ms; in at 300 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(TRIES.load(Ordering::SeqCst), 1, "the body ran once");
    assert_eq!(BUDGET.available(), budget_before, "no retry was spent");
    release.await.unwrap();
}

static NO_RETRY_WHEN_FULL: Bulkhead = Bulkhead::builder().name("test-when").max(1).build();
static WHEN_TRIES: AtomicU32 = AtomicU32::new(0);

fn not_when_full(error: &Error) -> bool {
    WHEN_TRIES.fetch_add(1, Ordering::SeqCst);
    !matches!(error, Error::Full { .. })
}

#[retry(attempts = 3, backoff = fixed("100ms"), jitter = none, when = not_when_full)]
#[bulkhead(shared = NO_RETRY_WHEN_FULL)]
async fn classified() -> Result<(), Error> {
    Ok(())
}

/// A retry's `when` sees a full bulkhead as the function's error, and may
/// say it is not worth retrying.
#[tokio::test(start_paused = true)]
async fn when_decides_about_a_full_bulkhead() {
    let _held = NO_RETRY_WHEN_FULL.try_enter().unwrap();
    let start = Instant::now();
    assert_eq!(classified().await, Err(FULL));
    assert_eq!(WHEN_TRIES.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::ZERO, "not retried");
}

/// A place freed while a call waits goes to that call: a newcomer's
/// `try_enter` at that moment does not overtake it.
#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_overtake_a_waiter() {
    let bulkhead = Arc::new(
        Bulkhead::builder()
            .max(1)
            .wait(Duration::from_secs(10))
            .build(),
    );
    let held = bulkhead.try_enter().unwrap();
    let waiter = {
        let bulkhead = Arc::clone(&bulkhead);
        tokio::spawn(async move {
            let _place = bulkhead.enter().await.unwrap();
            sleep(Duration::from_secs(1)).await;
        })
    };
    tokio::task::yield_now().await; // the waiter queues
    drop(held);
    assert!(bulkhead.try_enter().is_err(), "the place is the waiter's");
    waiter.await.unwrap();
    assert!(bulkhead.try_enter().is_ok());
}

struct Service {
    bulkhead: Arc<Bulkhead>,
}

impl Service {
    #[bulkhead(bulkhead = self.bulkhead)]
    async fn get(&self) -> Result<u32, Error> {
        sleep(Duration::from_secs(1)).await;
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_the_caller_owns() {
    let service = Service {
        bulkhead: Arc::new(Bulkhead::builder().max(1).build()),
    };
    let (a, b) = tokio::join!(service.get(), service.get());
    assert_eq!((a, b), (Ok(1), Err(FULL)));
}

fn as_io(full: BulkheadFull) -> std::io::Error {
    std::io::Error::other(full)
}

#[bulkhead(max = 1, on_full = as_io, name = "test-io")]
async fn io_call() -> std::io::Result<()> {
    sleep(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn on_full_for_a_foreign_error_type() {
    let (a, b) = tokio::join!(io_call(), io_call());
    assert!(a.is_ok());
    let err = b.unwrap_err();
    assert!(err.get_ref().unwrap().is::<BulkheadFull>());
}

#[test]
fn settings_from_configuration_are_checked() {
    let err = Bulkhead::builder().max(0).try_build().unwrap_err();
    assert_eq!(err.key(), "max");
}

#[async_trait::async_trait]
trait Source {
    async fn fetch(&self) -> Result<u32, Error>;
}

struct Slow;

#[async_trait::async_trait]
impl Source for Slow {
    #[retry(attempts = 2, backoff = fixed("1s"), jitter = none)]
    #[bulkhead(max = 1, name = "test-async-trait")]
    async fn fetch(&self) -> Result<u32, Error> {
        sleep(Duration::from_millis(1500)).await;
        Ok(7)
    }
}

/// Under `#[async_trait]`: the second call is turned away, retried after
/// 1 s while the first still holds the place (1.5 s), turned away again,
/// and has no attempt left.
#[tokio::test(start_paused = true)]
async fn an_async_trait_method_behind_a_bulkhead() {
    let slow = Slow;
    let start = Instant::now();
    let (a, b) = tokio::join!(slow.fetch(), async {
        let b = slow.fetch().await;
        (b, start.elapsed())
    });
    assert_eq!(a, Ok(7));
    assert_eq!(
        b,
        (Err(FULL), Duration::from_secs(1)),
        "retried once, after 1 s"
    );
}

static ABOVE: Bulkhead = Bulkhead::builder().name("test-above-retry").max(1).build();
static ABOVE_TRIES: AtomicU32 = AtomicU32::new(0);

#[bulkhead(shared = ABOVE)]
#[retry(attempts = 3, backoff = fixed("1s"), jitter = none)]
async fn above_a_retry() -> Result<(), Error> {
    ABOVE_TRIES.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

/// Above a retry, one call holds its place for all its attempts and the
/// backoffs between them: a second call is turned away at once, and the
/// place is free again when the first call ends.
#[tokio::test(start_paused = true)]
async fn above_a_retry_a_call_holds_its_place_through_the_backoff() {
    let start = Instant::now();
    let (first, second) = tokio::join!(above_a_retry(), async {
        sleep(Duration::from_millis(1500)).await; // during the first backoff
        (above_a_retry().await, start.elapsed())
    });
    assert_eq!(first, Err(Error::Down), "three attempts, all failed");
    assert_eq!(second, (Err(FULL), Duration::from_millis(1500)));
    assert_eq!(ABOVE_TRIES.load(Ordering::SeqCst), 3, "only the first ran");
    assert_eq!(ABOVE.running(), 0);
}

static QUEUE: Bulkhead = Bulkhead::builder()
    .name("test-queue-under-timeout")
    .max(1)
    .wait(Duration::from_secs(5))
    .build();

#[resilient::timeout("1s")]
#[bulkhead(shared = QUEUE)]
async fn queued_under_a_timeout() -> Result<(), TimedOutOrFull> {
    Ok(())
}

#[derive(Debug, PartialEq)]
enum TimedOutOrFull {
    TimedOut,
    Full,
}

impl From<resilient::Elapsed> for TimedOutOrFull {
    fn from(_: resilient::Elapsed) -> Self {
        Self::TimedOut
    }
}

impl From<BulkheadFull> for TimedOutOrFull {
    fn from(_: BulkheadFull) -> Self {
        Self::Full
    }
}

/// A timeout above a waiting call cuts it off in the queue; the call
/// leaves it, and the place goes to the next one.
#[tokio::test(start_paused = true)]
async fn a_timeout_above_cuts_a_waiting_call_off() {
    let held = QUEUE.try_enter().unwrap();
    assert_eq!(
        queued_under_a_timeout().await,
        Err(TimedOutOrFull::TimedOut)
    );
    drop(held);
    assert_eq!(queued_under_a_timeout().await, Ok(()));
    assert_eq!(QUEUE.running(), 0);
}

static FALLBACK_ONE: Bulkhead = Bulkhead::builder().name("test-fallback").max(1).build();

fn busy(error: Error) -> Result<&'static str, Error> {
    match error {
        Error::Full { .. } => Ok("busy, try later"),
        other => Err(other),
    }
}

#[resilient::fallback(with = busy)]
#[bulkhead(shared = FALLBACK_ONE)]
async fn with_a_fallback() -> Result<&'static str, Error> {
    Ok("fresh")
}

/// A fallback above sees a full bulkhead as `E::from(BulkheadFull)`.
#[tokio::test(start_paused = true)]
async fn a_fallback_above_sees_a_full_bulkhead() {
    let held = FALLBACK_ONE.try_enter().unwrap();
    assert_eq!(with_a_fallback().await, Ok("busy, try later"));
    drop(held);
    assert_eq!(with_a_fallback().await, Ok("fresh"));
}
