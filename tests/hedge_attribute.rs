//! `#[hedge]` and `Hedge`: copies of a slow attempt, raced; the first
//! success wins, the losers are cancelled, a failure starts nothing; the
//! layer in a stack. Paused time, exact instants and counts.

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use resilient::{
    BulkheadFull, CircuitBreaker, CircuitOpen, CircuitState, Elapsed, Hedge, KeyedBreaker,
    RateLimited, RetryBudget, bulkhead, circuit_breaker, fallback, hedge, rate_limit, retry,
    timeout,
};
use tokio::time::{Instant, sleep};

#[derive(Clone, Debug, PartialEq)]
enum Error {
    /// The upstream's own failure, with the copy that saw it.
    Down(u32),
    Full,
    Open,
    Elapsed,
    Limited,
}

impl From<RateLimited> for Error {
    fn from(_: RateLimited) -> Self {
        Self::Limited
    }
}

impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Self::Full
    }
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

impl From<Elapsed> for Error {
    fn from(_: Elapsed) -> Self {
        Self::Elapsed
    }
}

const MS: Duration = Duration::from_millis(1);

/// A scripted upstream: copy `i` (in the order copies start) answers
/// `plan[i]` after its delay; copies past the plan hang. Counts the
/// copies started and those dropped before they answered (cancelled).
struct Upstream {
    plan: Vec<(u64, Result<u32, Error>)>,
    started: AtomicU32,
    cancelled: AtomicU32,
    start_times: Mutex<Vec<Duration>>,
    epoch: Instant,
}

impl Upstream {
    fn new(plan: &[(u64, Result<u32, Error>)]) -> Self {
        Self {
            plan: plan.to_vec(),
            started: AtomicU32::new(0),
            cancelled: AtomicU32::new(0),
            start_times: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        }
    }

    async fn call(&self) -> Result<u32, Error> {
        let copy = self.started.fetch_add(1, Ordering::SeqCst);
        self.start_times.lock().unwrap().push(self.epoch.elapsed());
        let mut guard = Cancelled(&self.cancelled, true);
        let (delay, answer) = self
            .plan
            .get(copy as usize)
            .cloned()
            .unwrap_or((u64::MAX / 4, Err(Error::Down(copy))));
        sleep(Duration::from_millis(delay)).await;
        guard.1 = false;
        answer
    }

    fn started(&self) -> u32 {
        self.started.load(Ordering::SeqCst)
    }

    fn cancelled(&self) -> u32 {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn start_times(&self) -> Vec<Duration> {
        self.start_times.lock().unwrap().clone()
    }
}

/// Counts a copy dropped before it answered.
struct Cancelled<'a>(&'a AtomicU32, bool);

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[hedge(after = "50ms")]
async fn twice(upstream: &Upstream) -> Result<u32, Error> {
    upstream.call().await
}

#[hedge(after = "50ms", max = 3)]
async fn thrice(upstream: &Upstream) -> Result<u32, Error> {
    upstream.call().await
}

/// Runs `call` and returns its result with the paused time it took.
async fn timed<T>(call: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = call.await;
    (out, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_fast_attempt_starts_no_copy() {
    let upstream = Upstream::new(&[(10, Ok(1))]);
    assert_eq!(timed(twice(&upstream)).await, (Ok(1), 10 * MS));
    assert_eq!(upstream.started(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_is_overtaken_by_its_copy_and_cancelled() {
    let upstream = Upstream::new(&[(1000, Ok(1)), (20, Ok(2))]);
    assert_eq!(timed(twice(&upstream)).await, (Ok(2), 70 * MS));
    assert_eq!(upstream.start_times(), [Duration::ZERO, 50 * MS]);
    assert_eq!(
        upstream.cancelled(),
        1,
        "the slow first attempt was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn the_original_may_still_win() {
    let upstream = Upstream::new(&[(60, Ok(1)), (1000, Ok(2))]);
    assert_eq!(timed(twice(&upstream)).await, (Ok(1), 60 * MS));
    assert_eq!(upstream.started(), 2);
    assert_eq!(upstream.cancelled(), 1, "the copy was dropped");
}

#[tokio::test(start_paused = true)]
async fn each_further_copy_starts_after_another_delay() {
    let upstream = Upstream::new(&[(1000, Ok(1)), (1000, Ok(2)), (5, Ok(3))]);
    assert_eq!(timed(thrice(&upstream)).await, (Ok(3), 105 * MS));
    assert_eq!(
        upstream.start_times(),
        [Duration::ZERO, 50 * MS, 100 * MS],
        "one copy per `after`"
    );
    assert_eq!(upstream.cancelled(), 2);
}

#[tokio::test(start_paused = true)]
async fn no_more_copies_than_max() {
    // Every copy hangs past a second: three start, no fourth.
    let upstream = Upstream::new(&[(1000, Ok(1)), (1000, Ok(2)), (1000, Ok(3))]);
    assert_eq!(timed(thrice(&upstream)).await, (Ok(1), 1000 * MS));
    assert_eq!(upstream.started(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_waits_for_the_copies_still_running() {
    // The copy fails first; the slow original then succeeds.
    let upstream = Upstream::new(&[(200, Ok(1)), (10, Err(Error::Down(1)))]);
    assert_eq!(timed(thrice(&upstream)).await, (Ok(1), 200 * MS));
    assert_eq!(
        upstream.start_times(),
        [Duration::ZERO, 50 * MS, 100 * MS],
        "the original still ran slow: the third copy started at 100 ms, not when the copy failed"
    );
}

#[tokio::test(start_paused = true)]
async fn when_every_copy_fails_the_last_error_is_returned() {
    // The copy fails at 60 ms, the original at 80 ms: the original's
    // error is the last.
    let upstream = Upstream::new(&[(80, Err(Error::Down(0))), (10, Err(Error::Down(1)))]);
    assert_eq!(
        timed(twice(&upstream)).await,
        (Err(Error::Down(0)), 80 * MS)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_with_nothing_running_ends_the_call_at_once() {
    // A hedge answers slowness: a quick error starts no copy.
    let upstream = Upstream::new(&[(10, Err(Error::Down(0)))]);
    assert_eq!(
        timed(thrice(&upstream)).await,
        (Err(Error::Down(0)), 10 * MS)
    );
    assert_eq!(upstream.started(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_cancels_every_copy() {
    let upstream = Upstream::new(&[(1000, Ok(1)), (1000, Ok(2))]);
    {
        let mut call = pin!(twice(&upstream));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        sleep(60 * MS).await;
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(upstream.started(), 2);
        assert_eq!(upstream.cancelled(), 0);
    } // the call is dropped here
    assert_eq!(upstream.cancelled(), 2);
}

/// A panicking copy panics the call, as the body would without a hedge;
/// the other copies are dropped on the way.
#[tokio::test(start_paused = true)]
async fn a_panic_in_a_copy_reaches_the_caller() {
    static CANCELLED: AtomicU32 = AtomicU32::new(0);
    static STARTED: AtomicU32 = AtomicU32::new(0);
    #[hedge(after = "50ms")]
    async fn panics() -> Result<(), Error> {
        if STARTED.fetch_add(1, Ordering::SeqCst) == 0 {
            let _guard = Cancelled(&CANCELLED, true);
            sleep(Duration::from_secs(10)).await;
            return Ok(());
        }
        sleep(10 * MS).await;
        panic!("copy failed hard");
    }
    let joined = tokio::spawn(panics()).await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(CANCELLED.load(Ordering::SeqCst), 1);
}

struct Client {
    delay: Duration,
    budget: RetryBudget,
    upstream: Upstream,
}

impl Client {
    #[hedge(after = self.delay, max = 3, budget = self.budget)]
    async fn get(&self, id: u32) -> Result<u32, Error> {
        self.upstream.call().await.map(|copy| copy * 100 + id)
    }
}

fn client(delay: Duration, budget: RetryBudget, plan: &[(u64, Result<u32, Error>)]) -> Client {
    Client {
        delay,
        budget,
        upstream: Upstream::new(plan),
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_starts_no_copy() {
    let client = client(
        50 * MS,
        RetryBudget::builder().min_per_sec(0).ratio(0.5).build(),
        &[(200, Ok(0)), (200, Ok(1)), (200, Ok(2)), (10, Ok(3))],
    );
    // A call earns half a hedge when it ends: the first two calls have
    // none to spend, the third has one.
    assert_eq!(timed(client.get(7)).await, (Ok(7), 200 * MS));
    assert_eq!(timed(client.get(7)).await, (Ok(107), 200 * MS));
    assert_eq!(client.upstream.started(), 2, "no hedge yet");
    assert_eq!(
        timed(client.get(7)).await,
        (Ok(307), 60 * MS),
        "the copy won"
    );
    assert_eq!(client.upstream.started(), 4);
    assert_eq!(client.budget.available(), 0, "the hedge was paid for");
}

/// An attempt refused below (an open breaker) never reached the service:
/// it earns the budget nothing.
#[tokio::test(start_paused = true)]
async fn a_refused_attempt_earns_no_hedge() {
    static SHUT: CircuitBreaker = CircuitBreaker::builder().name("test-hedge-shut").build();
    static EARNED: RetryBudget = RetryBudget::builder().min_per_sec(0).ratio(1.0).build();
    #[hedge(after = "50ms", budget = EARNED)]
    #[circuit_breaker(shared = SHUT)]
    async fn shut(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(10, Ok(0))]);
    SHUT.force_open();
    assert_eq!(shut(&upstream).await, Err(Error::Open));
    assert_eq!(EARNED.available(), 0, "refused: nothing earned");
    SHUT.reset();
    assert_eq!(shut(&upstream).await, Ok(0));
    assert_eq!(EARNED.available(), 1, "reached the service: one earned");
}

#[tokio::test(start_paused = true)]
async fn a_budget_stops_further_copies_midway() {
    // One hedge in reserve: the third copy is refused.
    let client = client(
        50 * MS,
        RetryBudget::builder()
            .min_per_sec(1)
            .ttl(Duration::from_secs(1))
            .ratio(0.0)
            .build(),
        &[(1000, Ok(0)), (1000, Ok(1)), (1, Ok(2))],
    );
    assert_eq!(timed(client.get(7)).await, (Ok(7), 1000 * MS));
    assert_eq!(client.upstream.started(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_after_of_zero_starts_every_copy_at_once() {
    let client = client(
        Duration::ZERO,
        RetryBudget::builder().build(),
        &[(30, Ok(0)), (20, Ok(1)), (10, Ok(2))],
    );
    assert_eq!(timed(client.get(7)).await, (Ok(207), 10 * MS));
    assert_eq!(client.upstream.start_times(), [Duration::ZERO; 3]);
}

/// With a zero `after`, every copy starts at the first poll: no timer
/// stands between them (a timer's millisecond would, in real time).
#[tokio::test]
async fn an_after_of_zero_starts_every_copy_at_the_first_poll() {
    let client = client(
        Duration::ZERO,
        RetryBudget::builder().build(),
        &[(30, Ok(0)), (20, Ok(1)), (10, Ok(2))],
    );
    let mut call = pin!(client.get(7));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(client.upstream.started(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_after_past_the_clocks_range_never_hedges() {
    let client = client(
        Duration::MAX,
        RetryBudget::builder().build(),
        &[(5000, Ok(0)), (10, Ok(1))],
    );
    assert_eq!(timed(client.get(7)).await, (Ok(7), 5000 * MS));
    assert_eq!(client.upstream.started(), 1);
}

/// Each copy is a call for the breaker below: two failing copies are two
/// failures, and a copy dropped because another won is none.
#[tokio::test(start_paused = true)]
async fn above_a_breaker_each_copy_is_one_outcome() {
    static TWO: CircuitBreaker = CircuitBreaker::builder()
        .name("test-hedge-two-failures")
        .failures(2)
        .build();
    #[hedge(after = "50ms")]
    #[circuit_breaker(shared = TWO)]
    async fn guarded(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    // One call, two failed copies: the breaker opens.
    let upstream = Upstream::new(&[(80, Err(Error::Down(0))), (10, Err(Error::Down(1)))]);
    assert_eq!(guarded(&upstream).await, Err(Error::Down(0)));
    assert_eq!(TWO.state(), CircuitState::Open);
    assert_eq!(guarded(&upstream).await, Err(Error::Open));
    TWO.reset();
}

/// A slow original dropped for a winning copy counts as nothing.
#[tokio::test(start_paused = true)]
async fn a_copy_dropped_for_a_winner_is_no_outcome() {
    static ONE: CircuitBreaker = CircuitBreaker::builder()
        .name("test-hedge-one-failure")
        .failures(1)
        .build();
    #[hedge(after = "50ms")]
    #[circuit_breaker(shared = ONE)]
    async fn strict(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(1000, Ok(0)), (10, Ok(1))]);
    assert_eq!(strict(&upstream).await, Ok(1));
    assert_eq!(upstream.cancelled(), 1);
    assert_eq!(ONE.state(), CircuitState::Closed);
}

/// A rejection below is a failed copy: with the breaker open, the call
/// fails at once with it, and no copy starts.
#[tokio::test(start_paused = true)]
async fn a_rejection_below_is_a_failed_copy() {
    static OPEN: CircuitBreaker = CircuitBreaker::builder()
        .name("test-hedge-open")
        .failures(1)
        .build();
    #[hedge(after = "50ms")]
    #[circuit_breaker(shared = OPEN)]
    async fn guarded(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    OPEN.force_open();
    let upstream = Upstream::new(&[(10, Ok(0))]);
    assert_eq!(
        timed(guarded(&upstream)).await,
        (Err(Error::Open), Duration::ZERO)
    );
    assert_eq!(upstream.started(), 0);
    OPEN.reset();
}

/// Above a timeout, each copy has its own limit, and a timeout is a failed
/// copy: the call fails with it when every copy has timed out.
#[tokio::test(start_paused = true)]
async fn above_a_timeout_each_copy_has_its_own_limit() {
    #[hedge(after = "50ms")]
    #[timeout("80ms")]
    async fn limited(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(1000, Ok(0)), (1000, Ok(1))]);
    assert_eq!(
        timed(limited(&upstream)).await,
        (Err(Error::Elapsed), 130 * MS)
    );

    let upstream = Upstream::new(&[(1000, Ok(0)), (20, Ok(1))]);
    assert_eq!(timed(limited(&upstream)).await, (Ok(1), 70 * MS));
}

/// Under a timeout, the hedged call as a whole is bounded.
#[tokio::test(start_paused = true)]
async fn under_a_timeout_the_whole_race_is_bounded() {
    #[timeout("120ms")]
    #[hedge(after = "50ms", max = 3)]
    async fn bounded(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(1000, Ok(0)), (1000, Ok(1)), (1000, Ok(2))]);
    assert_eq!(
        timed(bounded(&upstream)).await,
        (Err(Error::Elapsed), 120 * MS)
    );
    assert_eq!(upstream.cancelled(), 3);
}

/// Below a retry, each attempt is hedged; the retry sees the hedge's
/// last error.
#[tokio::test(start_paused = true)]
async fn below_a_retry_each_attempt_is_hedged() {
    #[retry(attempts = 2, backoff = fixed("1s"), jitter = none)]
    #[hedge(after = "50ms")]
    async fn retried(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[
        (80, Err(Error::Down(0))),
        (10, Err(Error::Down(1))),
        (1000, Ok(2)),
        (10, Ok(3)),
    ]);
    assert_eq!(
        timed(retried(&upstream)).await,
        (Ok(3), 80 * MS + 1000 * MS + 60 * MS)
    );
    assert_eq!(
        upstream.start_times(),
        [Duration::ZERO, 50 * MS, 1080 * MS, 1130 * MS]
    );
}

/// Above a bulkhead, each copy needs a place: a copy turned away is a
/// failed copy, and the original goes on.
#[tokio::test(start_paused = true)]
async fn above_a_bulkhead_each_copy_needs_a_place() {
    #[hedge(after = "50ms")]
    #[bulkhead(max = 1, name = "test-hedge-bulkhead")]
    async fn narrow(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(200, Ok(0)), (10, Ok(1))]);
    assert_eq!(timed(narrow(&upstream)).await, (Ok(0), 200 * MS));
    assert_eq!(upstream.started(), 1, "the copy found no place");
}

/// Above a keyed breaker, with a retry above both: the key's breaker is
/// found after a hedged attempt, so the retry waits out its reset.
#[tokio::test(start_paused = true)]
async fn a_retry_asks_a_keyed_breaker_below_a_hedge() {
    static HOSTS: KeyedBreaker = KeyedBreaker::builder()
        .name("test-hedge-hosts")
        .failures(2)
        .reset(Duration::from_secs(5))
        .build();
    #[retry(attempts = 2, backoff = fixed("1s"), jitter = none, max_retry_after = "10s")]
    #[hedge(after = "50ms")]
    #[circuit_breaker(shared = HOSTS, key = host)]
    async fn per_host(upstream: &Upstream, host: &str) -> Result<u32, Error> {
        upstream.call().await
    }
    // Both copies fail: the host's breaker opens, and the retry waits for
    // its reset (5 s, not the 1 s backoff) before the second attempt.
    let upstream = Upstream::new(&[
        (80, Err(Error::Down(0))),
        (10, Err(Error::Down(1))),
        (10, Ok(2)),
    ]);
    assert_eq!(
        timed(per_host(&upstream, "a.example")).await,
        (Ok(2), 80 * MS + 5000 * MS + 10 * MS)
    );
}

/// A `mut` argument is each copy's own: what one copy does to it, the
/// other does not see.
#[tokio::test(start_paused = true)]
async fn each_copy_has_its_own_mut_arguments() {
    #[hedge(after = "50ms")]
    async fn counts(upstream: &Upstream, mut seen: u32) -> Result<u32, Error> {
        seen += 1;
        let copy = upstream.call().await?;
        Ok(seen * 10 + copy)
    }
    let upstream = Upstream::new(&[(1000, Ok(0)), (10, Ok(1))]);
    assert_eq!(counts(&upstream, 4).await, Ok(51), "5 in the copy, not 6");
}

/// An owned argument the body only borrows is shared by the copies.
#[tokio::test(start_paused = true)]
async fn owned_arguments_are_shared_when_borrowed() {
    #[hedge(after = "50ms")]
    async fn greet(upstream: &Upstream, name: String) -> Result<String, Error> {
        let copy = upstream.call().await?;
        Ok(format!("{name}#{copy}"))
    }
    let upstream = Upstream::new(&[(1000, Ok(0)), (10, Ok(1))]);
    assert_eq!(greet(&upstream, "ada".into()).await, Ok("ada#1".into()));
}

#[tokio::test(start_paused = true)]
async fn a_hedged_call_can_be_spawned() {
    static UPSTREAM: std::sync::LazyLock<Upstream> =
        std::sync::LazyLock::new(|| Upstream::new(&[(1000, Ok(0)), (10, Ok(1))]));
    let joined = tokio::spawn(twice(&UPSTREAM)).await.unwrap();
    assert_eq!(joined, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_generic_function_is_hedged() {
    #[hedge(after = "50ms")]
    async fn generic<T: Clone + Send + Sync>(upstream: &Upstream, tag: &T) -> Result<T, Error> {
        upstream.call().await?;
        Ok(tag.clone())
    }
    let upstream = Upstream::new(&[(1000, Ok(0)), (10, Ok(1))]);
    assert_eq!(timed(generic(&upstream, &"x")).await, (Ok("x"), 60 * MS));
}

#[async_trait::async_trait]
trait Source {
    async fn fetch(&self) -> Result<u32, Error>;
}

#[async_trait::async_trait]
impl Source for Upstream {
    #[hedge(after = "50ms")]
    async fn fetch(&self) -> Result<u32, Error> {
        self.call().await
    }
}

#[tokio::test(start_paused = true)]
async fn an_async_trait_method_is_hedged() {
    let upstream = Upstream::new(&[(1000, Ok(0)), (10, Ok(1))]);
    assert_eq!(timed(upstream.fetch()).await, (Ok(1), 60 * MS));
}

/// Two hedges in one stack: each starts its own copies.
#[tokio::test(start_paused = true)]
async fn hedges_nest() {
    #[hedge(after = "100ms")]
    #[hedge(after = "50ms")]
    async fn nested(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    // Inner hedge: copies 0 and 1 (at 50 ms); outer: a second inner race
    // at 100 ms, copies 2 and 3 (at 150 ms).
    let upstream = Upstream::new(&[(1000, Ok(0)), (1000, Ok(1)), (1000, Ok(2)), (10, Ok(3))]);
    assert_eq!(timed(nested(&upstream)).await, (Ok(3), 160 * MS));
    assert_eq!(
        upstream.start_times(),
        [Duration::ZERO, 50 * MS, 100 * MS, 150 * MS]
    );
}

/// By hand, a race dropped before it ends (a timeout around it) leaves no
/// copy in the caller's slots: they are cancelled at once.
#[tokio::test(start_paused = true)]
async fn by_hand_a_dropped_race_empties_its_slots() {
    let upstream = Upstream::new(&[(1000, Ok(0)), (1000, Ok(1))]);
    let mut first = pin!(None);
    let mut second = pin!(None);
    let hedge = Hedge::after(50 * MS);
    let raced = tokio::time::timeout(
        100 * MS,
        hedge.run([first.as_mut(), second.as_mut()], || upstream.call()),
    )
    .await;
    assert!(raced.is_err(), "cut off");
    assert!(first.is_none() && second.is_none());
    assert_eq!(upstream.cancelled(), 2);
}

/// By hand: a slot per copy, pinned by the caller.
#[tokio::test(start_paused = true)]
async fn by_hand_with_three_slots() {
    let upstream = Upstream::new(&[(1000, Ok(0)), (1000, Ok(1)), (5, Ok(2))]);
    let hedge = Hedge::after(50 * MS).name("by-hand");
    let out = hedge
        .run([pin!(None), pin!(None), pin!(None)], || upstream.call())
        .await;
    assert_eq!(out, Ok(2));
    assert_eq!(hedge.delay(), 50 * MS);
    // One slot: no hedging at all.
    let upstream = Upstream::new(&[(1000, Ok(0)), (5, Ok(1))]);
    let out = hedge.run([pin!(None)], || upstream.call()).await;
    assert_eq!(out, Ok(0));
    assert_eq!(upstream.started(), 1);
}

/// A function argument that takes a `&mut` (a pointer, a `dyn Fn`) holds
/// none: the copies share it, and it compiles.
#[hedge(after = "50ms")]
async fn apply(bump: fn(&mut u32), fill: &(dyn Fn(&mut Vec<u8>) + Sync)) -> Result<u32, Error> {
    let mut count = 0;
    bump(&mut count);
    let mut buf = Vec::new();
    fill(&mut buf);
    Ok(count + u32::try_from(buf.len()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_function_that_takes_a_mut_reference_is_shared() {
    let got = apply(|count| *count += 1, &|buf: &mut Vec<u8>| buf.push(1)).await;
    assert_eq!(got.ok(), Some(2));
}

/// Every copy fails, in every shape a hedged function takes: the last
/// failure is the call's, once nothing is left running.
#[tokio::test(start_paused = true)]
async fn every_shape_returns_the_last_failure() {
    #[hedge(after = "50ms")]
    async fn generic<T: Clone + Send + Sync>(upstream: &Upstream, tag: &T) -> Result<T, Error> {
        upstream.call().await?;
        Ok(tag.clone())
    }
    // The copy fails at 60 ms, the original at 80 ms.
    let plan = [(80, Err(Error::Down(0))), (10, Err(Error::Down(1)))];

    let method = client(50 * MS, RetryBudget::builder().build(), &plan);
    assert_eq!(timed(method.get(7)).await, (Err(Error::Down(0)), 80 * MS));

    let upstream = Upstream::new(&plan);
    assert_eq!(
        timed(upstream.fetch()).await,
        (Err(Error::Down(0)), 80 * MS)
    );

    let upstream = Upstream::new(&plan);
    assert_eq!(timed(upstream.load()).await, (Err(Error::Down(0)), 80 * MS));

    let upstream = Upstream::new(&plan);
    assert_eq!(
        timed(generic(&upstream, &"x")).await,
        (Err(Error::Down(0)), 80 * MS)
    );
}

/// A trait of the crate's own, with a native `async fn`.
trait Store {
    async fn load(&self) -> Result<u32, Error>;
}

impl Store for Upstream {
    #[hedge(after = "50ms")]
    async fn load(&self) -> Result<u32, Error> {
        self.call().await
    }
}

/// Above a hedge, a breaker sees the race as one call: two failed copies
/// are one failure.
#[tokio::test(start_paused = true)]
async fn below_a_breaker_the_race_is_one_outcome() {
    static RACES: CircuitBreaker = CircuitBreaker::builder()
        .name("test-hedge-races")
        .failures(2)
        .build();
    #[circuit_breaker(shared = RACES)]
    #[hedge(after = "50ms")]
    async fn raced(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let plan = [(80, Err(Error::Down(0))), (10, Err(Error::Down(1)))];
    assert_eq!(raced(&Upstream::new(&plan)).await, Err(Error::Down(0)));
    assert_eq!(RACES.state(), CircuitState::Closed, "one failure, not two");
    assert_eq!(raced(&Upstream::new(&plan)).await, Err(Error::Down(0)));
    assert_eq!(RACES.state(), CircuitState::Open);
    RACES.reset();
}

/// Above a hedge, a fallback answers when every copy failed, and not
/// before: a failed copy with another running is not the end.
#[tokio::test(start_paused = true)]
async fn below_a_fallback_every_copy_fails_first() {
    #[fallback(value = 99)]
    #[hedge(after = "50ms")]
    async fn cushioned(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(80, Err(Error::Down(0))), (10, Err(Error::Down(1)))]);
    assert_eq!(timed(cushioned(&upstream)).await, (Ok(99), 80 * MS));
    let upstream = Upstream::new(&[(80, Ok(1)), (10, Err(Error::Down(1)))]);
    assert_eq!(timed(cushioned(&upstream)).await, (Ok(1), 80 * MS));
}

/// Above a hedge, a bulkhead gives the whole race one place: a second
/// call is turned away while the race runs.
#[tokio::test(start_paused = true)]
async fn below_a_bulkhead_the_race_takes_one_place() {
    #[bulkhead(max = 1, name = "test-hedge-race-place")]
    #[hedge(after = "50ms")]
    async fn placed(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let slow = Upstream::new(&[(1000, Ok(1)), (1000, Ok(2))]);
    let mut race = std::pin::pin!(placed(&slow));
    assert!(poll_once(race.as_mut()).is_none());
    tokio::time::advance(60 * MS).await;
    assert!(poll_once(race.as_mut()).is_none());
    assert_eq!(slow.started(), 2, "both copies run in the one place");
    let other = Upstream::new(&[(10, Ok(3))]);
    assert_eq!(placed(&other).await, Err(Error::Full));
    assert_eq!(other.started(), 0);
    assert_eq!(race.await, Ok(1));
}

/// Below a hedge, each copy asks the rate limiter: a copy it refuses is a
/// failed copy, and the original goes on.
#[tokio::test(start_paused = true)]
async fn above_a_rate_limit_a_refused_copy_is_a_failed_copy() {
    #[hedge(after = "50ms")]
    #[rate_limit(rate = 1, per = "1h", name = "test-hedge-one-an-hour")]
    async fn scarce(upstream: &Upstream) -> Result<u32, Error> {
        upstream.call().await
    }
    let upstream = Upstream::new(&[(1000, Ok(1))]);
    assert_eq!(timed(scarce(&upstream)).await, (Ok(1), 1000 * MS));
    assert_eq!(upstream.started(), 1, "the copy never reached upstream");
    let upstream = Upstream::new(&[(10, Ok(2))]);
    assert_eq!(scarce(&upstream).await, Err(Error::Limited));
}

/// Polls `fut` once: its output if ready.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}
