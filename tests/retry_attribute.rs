//! `#[retry]` through the attribute, on tokio's paused clock.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{Attempt, RetryHint, retry};
use tokio::time::Instant;

use common::secs;

#[derive(Debug, PartialEq)]
enum ApiError {
    Unavailable,
    RateLimited(Duration),
    NotFound,
}

impl RetryHint for ApiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(d) => Some(*d),
            _ => None,
        }
    }
    fn is_transient(&self) -> bool {
        !matches!(self, Self::NotFound)
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 4, backoff = exponential(initial = "1s", max = "10s"), jitter = none)]
async fn always_down(calls: &AtomicU32) -> Result<(), ApiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn attempts_and_exact_virtual_time() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(always_down(&calls).await, Err(ApiError::Unavailable));
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    assert_eq!(start.elapsed(), secs(1 + 2 + 4));
}

#[retry(attempts = 3, backoff = fixed("1s"), jitter = none)]
async fn question_mark_retries(calls: &AtomicU32) -> Result<u32, ApiError> {
    let n = calls.fetch_add(1, Ordering::Relaxed);
    let value = if n < 2 {
        Err(ApiError::Unavailable)
    } else {
        Ok(n)
    }?;
    Ok(value * 10)
}

#[tokio::test(start_paused = true)]
async fn question_mark_ends_one_attempt() {
    let calls = AtomicU32::new(0);
    assert_eq!(question_mark_retries(&calls).await, Ok(20));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[retry(attempts = 5, backoff = fixed("1s"), jitter = none)]
async fn hinted(calls: &AtomicU32) -> Result<(), ApiError> {
    match calls.fetch_add(1, Ordering::Relaxed) {
        0 => Err(ApiError::RateLimited(secs(7))),
        1 => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

#[tokio::test(start_paused = true)]
async fn hints_replace_the_backoff_and_permanent_errors_stop() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(hinted(&calls).await, Err(ApiError::NotFound));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(start.elapsed(), secs(7));
}

fn seen(err: &ApiError, attempt: &Attempt) {
    assert_eq!(*err, ApiError::Unavailable);
    CALLS.fetch_add(attempt.number(), Ordering::Relaxed);
}

#[retry(attempts = 3, backoff = none, on_retry = seen)]
async fn with_hook() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn on_retry_sees_attempts_1_to_n_minus_1() {
    let _ = with_hook().await;
    assert_eq!(CALLS.load(Ordering::Relaxed), 1 + 2);
}

// Renamed: the stack is built by accumulation, not by matching names.
use resilient::retry as again;

/// Top outermost: 2 slow outer attempts, each running 3 fast inner ones.
#[retry(attempts = 2, backoff = fixed("10s"), jitter = none)]
#[again(attempts = 3, backoff = fixed("1s"), jitter = none)]
async fn two_retries(calls: &AtomicU32) -> Result<(), ApiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn stacked_retries_nest_top_outermost_even_renamed() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let _ = two_retries(&calls).await;
    assert_eq!(calls.load(Ordering::Relaxed), 6);
    // Inner 1 s + 1 s, outer 10 s, inner 1 s + 1 s. The other way round
    // would take 3 × (10 s) + 2 × 1 s.
    assert_eq!(start.elapsed(), secs(2 + 10 + 2));
}

fn only_unavailable(err: &ApiError) -> bool {
    *err == ApiError::Unavailable
}

#[retry(attempts = 5, backoff = none, when = only_unavailable)]
async fn classified(calls: &AtomicU32) -> Result<(), ApiError> {
    match calls.fetch_add(1, Ordering::Relaxed) {
        0 => Err(ApiError::Unavailable),
        _ => Err(ApiError::RateLimited(secs(1))),
    }
}

#[tokio::test(start_paused = true)]
async fn when_replaces_is_transient() {
    let calls = AtomicU32::new(0);
    assert_eq!(
        classified(&calls).await,
        Err(ApiError::RateLimited(secs(1)))
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[retry(attempts = 2, backoff = fixed("1s"), jitter = none, retry_after = false)]
async fn ignores_hints() -> Result<(), ApiError> {
    Err(ApiError::RateLimited(secs(20)))
}

fn hint_from_anywhere(err: &&'static str) -> Option<Duration> {
    (*err == "429").then_some(secs(3))
}

#[retry(attempts = 2, backoff = fixed("1s"), jitter = none, retry_after = hint_from_anywhere)]
async fn foreign_error() -> Result<(), &'static str> {
    Err("429")
}

#[retry(attempts = 3, max_retry_after = "5s")]
async fn hint_above_cap(calls: &AtomicU32) -> Result<(), ApiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::RateLimited(secs(6)))
}

#[tokio::test(start_paused = true)]
async fn retry_after_false_a_path_and_the_cap() {
    let start = Instant::now();
    let _ = ignores_hints().await;
    assert_eq!(start.elapsed(), secs(1));

    let start = Instant::now();
    let _ = foreign_error().await;
    assert_eq!(start.elapsed(), secs(3));

    let calls = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(
        hint_above_cap(&calls).await,
        Err(ApiError::RateLimited(secs(6)))
    );
    assert_eq!(
        (calls.load(Ordering::Relaxed), start.elapsed()),
        (1, Duration::ZERO)
    );
}

#[retry(attempts = 100, backoff = fixed("3s"), jitter = none, max_elapsed = "10s")]
async fn budgeted(calls: &AtomicU32) -> Result<(), ApiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_through_the_attribute() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let _ = budgeted(&calls).await;
    assert_eq!(
        (calls.load(Ordering::Relaxed), start.elapsed()),
        (4, secs(9))
    );
}

#[retry(attempts = 6, backoff = exponential(initial = "100ms", max = "2s"), jitter = full)]
async fn jittered() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn jitter_is_reproducible_with_a_seed() {
    let run = || async {
        let start = Instant::now();
        let _ = jittered().await;
        start.elapsed()
    };
    resilient::testing::seed(11);
    let first = run().await;
    resilient::testing::seed(11);
    assert_eq!(run().await, first);
    resilient::testing::seed(12);
    assert_ne!(run().await, first, "another seed, other delays");
    // Full jitter sleeps less than the envelope (100+200+400+800+1600 ms),
    // which `jitter = none` would sleep exactly.
    assert!(first < Duration::from_millis(3100), "{first:?}");
}

struct Configured {
    initial: Duration,
    max: Duration,
}

impl Configured {
    #[retry(backoff = exponential(initial = self.initial, max = self.max))]
    async fn call(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
#[should_panic(
    expected = "#[retry] on `call`: invalid retry setting `max`: must not be below `initial`"
)]
async fn an_invalid_runtime_combination_names_the_function_and_key() {
    let c = Configured {
        initial: secs(5),
        max: secs(1),
    };
    let _ = c.call().await;
}

/// A one-line body: the user's braces are kept, no `unused_braces`
/// (this file is linted with `clippy::pedantic` and `-D warnings` in CI).
#[retry(attempts = 2, backoff = none)]
async fn one_line() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_one_line_body() {
    assert_eq!(one_line().await, Ok(1));
}

/// `when` may be a closure; `policy` may be a reference.
static POLICY: resilient::RetryPolicy = resilient::RetryPolicy::builder()
    .attempts(4)
    .backoff(resilient::Backoff::none())
    .build();

#[retry(policy = &POLICY, when = |e| *e != ApiError::NotFound)]
async fn closure_and_policy_ref(calls: &AtomicU32) -> Result<(), ApiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn a_closure_for_when_and_a_policy_by_reference() {
    let calls = AtomicU32::new(0);
    let _ = closure_and_policy_ref(&calls).await;
    assert_eq!(calls.load(Ordering::Relaxed), 4);
}

/// `clone` on a `mut` parameter that the body mutates.
#[retry(attempts = 3, backoff = none, clone(buffer))]
async fn mutates_its_copy(mut buffer: Vec<u8>, calls: &AtomicU32) -> Result<usize, ApiError> {
    buffer.push(1);
    if calls.fetch_add(1, Ordering::Relaxed) < 2 {
        return Err(ApiError::Unavailable);
    }
    Ok(buffer.len())
}

#[tokio::test(start_paused = true)]
async fn clone_gives_each_attempt_a_fresh_mutable_copy() {
    let calls = AtomicU32::new(0);
    assert_eq!(mutates_its_copy(vec![0, 0], &calls).await, Ok(3));
}

#[retry(attempts = 2, backoff = fixed("1ms"))]
async fn boxed_error(calls: &AtomicU32) -> Result<u32, Box<dyn std::error::Error>> {
    if calls.fetch_add(1, Ordering::Relaxed) == 0 {
        return Err("first attempt fails".into());
    }
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn the_future_is_send_even_with_a_non_send_error_type() {
    // `Box<dyn Error>` is not `Send`; the outcome is dropped before each
    // sleep, so the future still is (`tokio::spawn` requires `Send` on any
    // runtime, so a paused current-thread one checks it as well).
    let calls = std::sync::Arc::new(AtomicU32::new(0));
    let task = tokio::spawn({
        let calls = calls.clone();
        async move { boxed_error(&calls).await.map_err(|e| e.to_string()) }
    });
    assert_eq!(task.await.unwrap(), Ok(1));
}

/// tenacity's `retry_if_result`: a result to retry is returned as an error.
#[derive(Debug, PartialEq)]
enum Job {
    Pending,
    Done(u32),
}

#[derive(Debug, PartialEq)]
enum PollError {
    NotReady,
}

/// tenacity's `statistics`: `on_retry` (a closure may use the arguments)
/// counts the retries and the time slept.
#[derive(Default)]
struct Stats {
    retries: AtomicU32,
    slept_ms: AtomicU32,
}

#[retry(
    attempts = 5,
    backoff = fixed("2s"),
    jitter = none,
    on_retry = |_, attempt| {
        stats.retries.fetch_add(1, Ordering::Relaxed);
        let ms = u32::try_from(attempt.delay().as_millis()).unwrap_or(u32::MAX);
        stats.slept_ms.fetch_add(ms, Ordering::Relaxed);
    }
)]
async fn poll(polls: &AtomicU32, stats: &Stats) -> Result<u32, PollError> {
    let job = if polls.fetch_add(1, Ordering::Relaxed) < 2 {
        Job::Pending
    } else {
        Job::Done(7)
    };
    match job {
        Job::Pending => Err(PollError::NotReady),
        Job::Done(n) => Ok(n),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_on_a_result_and_count_with_on_retry() {
    let polls = AtomicU32::new(0);
    let stats = Stats::default();
    let start = Instant::now();
    assert_eq!(poll(&polls, &stats).await, Ok(7));
    assert_eq!(start.elapsed(), secs(4));
    assert_eq!(stats.retries.load(Ordering::Relaxed), 2);
    assert_eq!(stats.slept_ms.load(Ordering::Relaxed), 4_000);
}
