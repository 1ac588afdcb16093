//! `#[timeout]`, alone and in stacks, on tokio's paused clock.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{CircuitOpen, Elapsed, circuit_breaker, retry, timeout};
use tokio::time::{Instant, sleep};

use common::secs;

#[derive(Debug, PartialEq)]
enum ApiError {
    Down,
    TimedOut(Duration),
    Open,
}

impl From<Elapsed> for ApiError {
    fn from(elapsed: Elapsed) -> Self {
        Self::TimedOut(elapsed.after())
    }
}

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

#[timeout("2s")]
async fn slow(work: Duration) -> Result<u32, ApiError> {
    sleep(work).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_is_cut_off_and_a_quick_one_is_not() {
    let start = Instant::now();
    assert_eq!(slow(secs(60)).await, Err(ApiError::TimedOut(secs(2))));
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(slow(secs(1)).await, Ok(1));
}

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Below `#[retry]`: each attempt is bounded, and a timeout is retried.
#[retry(attempts = 3, backoff = fixed("1s"), jitter = none)]
#[timeout("1s")]
async fn each_attempt_bounded() -> Result<u32, ApiError> {
    let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    if n < 2 {
        sleep(secs(60)).await;
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn below_a_retry_each_attempt_is_bounded_and_retried() {
    let start = Instant::now();
    assert_eq!(each_attempt_bounded().await, Ok(2));
    // Two attempts cut at 1 s, two 1 s sleeps, the third attempt at once.
    assert_eq!(start.elapsed(), secs(4));
}

/// Above `#[retry]`: the whole call is bounded.
#[timeout("2500ms")]
#[retry(attempts = 10, backoff = fixed("1s"), jitter = none)]
async fn whole_call_bounded() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn above_a_retry_the_whole_call_is_bounded() {
    let start = Instant::now();
    assert_eq!(
        whole_call_bounded().await,
        Err(ApiError::TimedOut(Duration::from_millis(2500)))
    );
    assert_eq!(start.elapsed(), Duration::from_millis(2500));
}

/// Below a breaker, a timeout is a counted failure: a hung upstream trips it.
#[circuit_breaker(failures = 2, name = "test-timeout-trips")]
#[timeout("1s")]
async fn hung() -> Result<(), ApiError> {
    sleep(secs(3600)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn below_a_breaker_a_timeout_counts_as_a_failure() {
    assert_eq!(hung().await, Err(ApiError::TimedOut(secs(1))));
    assert_eq!(hung().await, Err(ApiError::TimedOut(secs(1))));
    let start = Instant::now();
    assert_eq!(hung().await, Err(ApiError::Open));
    assert_eq!(start.elapsed(), Duration::ZERO, "rejected at once");
}

static STACKED: AtomicU32 = AtomicU32::new(0);

/// The design's stack (without the fallback): every attempt through the
/// breaker, every attempt bounded.
#[retry(attempts = 3, backoff = fixed("100ms"), jitter = none)]
#[circuit_breaker(failures = 5, reset = "60s", name = "test-three-layers")]
#[timeout("2s")]
async fn three_layers(fail_first: u32) -> Result<u32, ApiError> {
    let n = STACKED.fetch_add(1, Ordering::Relaxed);
    if n < fail_first {
        sleep(secs(10)).await;
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn retry_breaker_and_timeout_together() {
    let start = Instant::now();
    assert_eq!(three_layers(2).await, Ok(2));
    assert_eq!(start.elapsed(), secs(4) + Duration::from_millis(200));
}

fn as_io(elapsed: Elapsed) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed)
}

#[timeout("10ms", on_timeout = as_io)]
async fn io_read() -> std::io::Result<()> {
    sleep(secs(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn on_timeout_for_a_foreign_error_type() {
    assert_eq!(
        io_read().await.unwrap_err().kind(),
        std::io::ErrorKind::TimedOut
    );
}

struct Client {
    limit: Duration,
}

impl Client {
    #[timeout(self.limit)]
    async fn call(&self) -> Result<(), ApiError> {
        sleep(secs(5)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_limit_from_self() {
    let client = Client {
        limit: Duration::from_millis(300),
    };
    assert_eq!(
        client.call().await,
        Err(ApiError::TimedOut(Duration::from_millis(300)))
    );
}

static ASKED: AtomicU32 = AtomicU32::new(0);

/// A timeout below a breaker, inside a retry: the timeout trips the
/// breaker, and the retry asks it before sleeping: it stops at once with
/// the rejection instead of spending an attempt on it.
#[retry(attempts = 3, backoff = fixed("1s"), jitter = none)]
#[circuit_breaker(failures = 1, reset = "60s", name = "test-timeout-asks")]
#[timeout("1s")]
async fn hangs_once() -> Result<(), ApiError> {
    ASKED.fetch_add(1, Ordering::Relaxed);
    sleep(secs(3600)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn after_a_timeout_the_retry_asks_the_breaker() {
    let start = Instant::now();
    assert_eq!(hangs_once().await, Err(ApiError::Open));
    assert_eq!(ASKED.load(Ordering::Relaxed), 1);
    assert_eq!(
        start.elapsed(),
        secs(1),
        "stopped at once after the timeout"
    );
}

static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn log_retry(err: &ApiError, attempt: &resilient::Attempt) {
    SEEN.lock()
        .unwrap()
        .push(format!("{}: {err:?}", attempt.number()));
}

fn not_timeouts(err: &ApiError) -> bool {
    !matches!(err, ApiError::TimedOut(_))
}

/// `on_retry` and `when` see a timeout as the function's `E`.
#[retry(attempts = 3, backoff = none, on_retry = log_retry)]
#[timeout("1s")]
async fn logged() -> Result<(), ApiError> {
    sleep(secs(5)).await;
    Ok(())
}

#[retry(attempts = 3, backoff = none, when = not_timeouts)]
#[timeout("1s")]
async fn timeouts_not_retried(calls: &AtomicU32) -> Result<(), ApiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    sleep(secs(5)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn hooks_see_timeouts_as_errors() {
    let _ = logged().await;
    assert_eq!(
        *SEEN.lock().unwrap(),
        ["1: TimedOut(1s)", "2: TimedOut(1s)"]
    );
    let calls = AtomicU32::new(0);
    assert_eq!(
        timeouts_not_retried(&calls).await,
        Err(ApiError::TimedOut(secs(1)))
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// A limit from configuration, zero or huge, on a call that waits `wait`
/// (zero: it completes on its first poll).
#[timeout(limit)]
async fn configured(limit: Duration, wait: Duration) -> Result<u32, ApiError> {
    if !wait.is_zero() {
        sleep(wait).await;
    }
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn a_zero_limit_cuts_off_any_call_that_waits_and_no_other() {
    assert_eq!(configured(Duration::ZERO, Duration::ZERO).await, Ok(7));
    let start = Instant::now();
    assert_eq!(
        configured(Duration::ZERO, Duration::from_nanos(1)).await,
        Err(ApiError::TimedOut(Duration::ZERO))
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_limit_beyond_any_instant_never_fires() {
    assert_eq!(configured(Duration::MAX, secs(86_400 * 365)).await, Ok(7));
}

/// Work done before the call first waits counts against the limit: the
/// deadline is set when the call starts, not when it first waits.
#[timeout("2s")]
async fn busy_then_waits() -> Result<u32, ApiError> {
    // Three seconds pass (as a blocking section would) before the first
    // `.await` that suspends.
    tokio::time::advance(secs(3)).await;
    sleep(Duration::from_millis(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn the_limit_runs_from_the_start_of_the_call() {
    assert_eq!(busy_then_waits().await, Err(ApiError::TimedOut(secs(2))));
}

/// Never finishes on its own: spends the task's coop budget on every poll
/// (as a loop over an always-ready channel does), giving up after enough
/// polls to tell a timeout that fired from one that never could.
#[timeout(limit)]
async fn spends_its_budget(limit: Duration) -> Result<u32, ApiError> {
    for _ in 0..100_000 {
        tokio::task::coop::consume_budget().await;
    }
    Ok(0)
}

#[tokio::test(start_paused = true)]
async fn a_call_that_spends_the_whole_budget_is_still_cut_off() {
    assert_eq!(
        spends_its_budget(Duration::ZERO).await,
        Err(ApiError::TimedOut(Duration::ZERO))
    );
}

/// Two timeouts around a retry: the payload that reaches `E` is the limit
/// that fired.
#[timeout(outer)]
#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none)]
#[timeout("100ms")]
async fn nested_timeouts(outer: Duration) -> Result<u32, ApiError> {
    sleep(secs(3600)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn nested_timeouts_report_the_limit_that_fired() {
    // Three attempts of 100 ms and two pauses of 10 ms: 320 ms.
    assert_eq!(
        nested_timeouts(secs(1)).await,
        Err(ApiError::TimedOut(Duration::from_millis(100)))
    );
    // Cut off during the third attempt.
    let start = Instant::now();
    assert_eq!(
        nested_timeouts(Duration::from_millis(250)).await,
        Err(ApiError::TimedOut(Duration::from_millis(250)))
    );
    assert_eq!(start.elapsed(), Duration::from_millis(250));
}

/// The function the attribute is sugar over: `resilient::timeout(D, future)`
/// (the same name as the attribute, in the value namespace).
mod by_hand {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use resilient::{Elapsed, timeout};
    use tokio::time::{Instant, sleep};

    use super::secs;

    /// Sets its flag when dropped.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_future_is_cut_off_at_the_limit_and_dropped() {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(Arc::clone(&dropped));
        let start = Instant::now();
        let late = timeout(secs(2), async move {
            let _guard = guard;
            sleep(secs(60)).await;
            1
        })
        .await;
        assert_eq!(late, Err(Elapsed::new(secs(2))));
        assert_eq!(start.elapsed(), secs(2));
        assert!(
            dropped.load(Ordering::Relaxed),
            "the cut-off future is dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_in_time_gives_its_output() {
        let start = Instant::now();
        let quick = timeout(secs(2), async {
            sleep(secs(1)).await;
            "done"
        })
        .await;
        assert_eq!(quick, Ok("done"));
        assert_eq!(start.elapsed(), secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_and_huge_limits() {
        // Ready at its first poll: done, even with no time at all.
        assert_eq!(timeout(Duration::ZERO, async { 3 }).await, Ok(3));
        let waits = timeout(Duration::ZERO, sleep(Duration::from_millis(1))).await;
        assert_eq!(waits, Err(Elapsed::new(Duration::ZERO)));
        // Too large for `Instant`: never fires.
        let start = Instant::now();
        let done = timeout(Duration::MAX, async {
            sleep(secs(3600)).await;
            4
        })
        .await;
        assert_eq!(done, Ok(4));
        assert_eq!(start.elapsed(), secs(3600));
    }

    /// `IntoFuture` values are accepted, as by `tokio::time::timeout`: a
    /// hand-written retry (a builder until awaited) under a time limit.
    #[tokio::test(start_paused = true)]
    async fn into_future_values() {
        let policy = resilient::RetryPolicy::builder()
            .attempts(10)
            .backoff(resilient::Backoff::fixed(secs(1)))
            .jitter(resilient::Jitter::None)
            .build();
        let retried = resilient::retry(&policy, || async { Err::<(), _>("down") });
        let start = Instant::now();
        assert_eq!(
            timeout(Duration::from_millis(2500), retried).await,
            Err(Elapsed::new(Duration::from_millis(2500)))
        );
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }
}
