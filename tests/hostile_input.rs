//! Hostile input through the whole retry loop: whatever a server sends or
//! configuration says, no panic and no sleep beyond the caps.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use resilient::{Backoff, Jitter, RetryHint, RetryPolicy, retry_after, retry_with_hints};
use tokio::time::Instant;

/// A `429` carrying whatever `Retry-After` the server sent.
#[derive(Debug)]
struct TooManyRequests(&'static str);

impl RetryHint for TooManyRequests {
    fn retry_after(&self) -> Option<Duration> {
        retry_after::parse(self.0, SystemTime::now())
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .attempts(4)
        .backoff(Backoff::fixed(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .build()
}

/// Runs a retry against a server that always answers `value`; returns the
/// attempts made and the virtual time spent.
async fn against(value: &'static str, policy: &RetryPolicy) -> (u32, Duration) {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let _ = retry_with_hints(policy, || async {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>(TooManyRequests(value))
    })
    .await;
    (calls.load(Ordering::Relaxed), start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn huge_hints_stop_at_once() {
    for value in [
        "99999999999999999999",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "31",
    ] {
        assert_eq!(
            against(value, &policy()).await,
            (1, Duration::ZERO),
            "Retry-After: {value}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn garbage_hints_fall_back_to_the_backoff() {
    for value in [
        "-5",
        "1.5",
        "soon",
        "",
        "  ",
        "5s",
        "0x10",
        "Sun, 06 Nov 1994 08:49:37",
    ] {
        assert_eq!(
            against(value, &policy()).await,
            (4, Duration::from_millis(300)),
            "Retry-After: {value:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn past_dates_retry_at_once() {
    assert_eq!(
        against("Thu, 01 Jan 1970 00:00:00 GMT", &policy()).await,
        (4, Duration::ZERO)
    );
}

#[tokio::test(start_paused = true)]
async fn endless_attempts_are_held_to_the_budget() {
    let endless = RetryPolicy::builder()
        .attempts(u32::MAX)
        .backoff(Backoff::fixed(Duration::from_secs(1)))
        .jitter(Jitter::None)
        .max_elapsed(Duration::from_secs(10))
        .build();
    let (calls, elapsed) = against("3", &endless).await;
    assert!(elapsed <= Duration::from_secs(10), "{elapsed:?}");
    assert_eq!((calls, elapsed), (4, Duration::from_secs(9)));
}

#[test]
fn hostile_configuration_is_an_error_not_a_panic() {
    for (builder, key) in [
        (RetryPolicy::builder().attempts(0), "attempts"),
        (
            RetryPolicy::builder().max_elapsed(Duration::ZERO),
            "max_elapsed",
        ),
        (
            RetryPolicy::builder().max_elapsed(Duration::MAX),
            "max_elapsed",
        ),
        (
            RetryPolicy::builder().max_retry_after(Duration::MAX),
            "max_retry_after",
        ),
        (
            RetryPolicy::builder().backoff(Backoff::exponential(
                Duration::MAX,
                f64::NAN,
                Duration::ZERO,
            )),
            "initial",
        ),
    ] {
        assert_eq!(builder.try_build().unwrap_err().key(), key);
    }
}
