//! `#[retry]` through the attribute, on tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{Attempt, RetryHint, retry};
use tokio::time::Instant;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

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
