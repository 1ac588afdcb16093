//! The runtime API against a simulated flaky upstream, in one process.
//!
//! ```text
//! cargo run --example resilient_api
//! ```
//!
//! The full demo (an axum API in front of a flaky HTTP upstream, with a
//! circuit breaker and a fallback) replaces this program in its own issue.
//! Until then it shows `#[retry]` on one plain attempt: exponential backoff
//! with full jitter, and a server's `Retry-After` honoured up to a cap, or
//! passed on when it is longer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{Attempt, RetryHint, retry, retry_after};
use tokio::time::Instant;

/// What the upstream answers, as an error type that tells the retry what it
/// knows: 503s are worth another attempt, a 429 says how long to wait, a
/// 404 is final.
#[derive(Debug)]
enum UpstreamError {
    Unavailable,
    TooManyRequests { retry_after: Option<Duration> },
    NotFound,
}

impl RetryHint for UpstreamError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyRequests { retry_after } => *retry_after,
            _ => None,
        }
    }
    fn is_transient(&self) -> bool {
        !matches!(self, Self::NotFound)
    }
}

/// A stand-in for a remote service: answers from a script, one entry per
/// call, and counts the calls.
struct Upstream {
    script: Vec<Result<&'static str, (u16, &'static str)>>,
    calls: AtomicU32,
}

impl Upstream {
    fn new(script: Vec<Result<&'static str, (u16, &'static str)>>) -> Self {
        Self {
            script,
            calls: AtomicU32::new(0),
        }
    }

    /// One plain attempt, as the attributes will let you write it.
    async fn fetch(&self) -> Result<&'static str, UpstreamError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) as usize;
        tokio::time::sleep(Duration::from_millis(5)).await; // the network
        match self.script[n.min(self.script.len() - 1)] {
            Ok(body) => Ok(body),
            Err((503, _)) => Err(UpstreamError::Unavailable),
            Err((429, header)) => Err(UpstreamError::TooManyRequests {
                // The real `Retry-After` parser: seconds or an HTTP-date.
                retry_after: retry_after::parse(header, std::time::SystemTime::now()),
            }),
            Err(_) => Err(UpstreamError::NotFound),
        }
    }
}

/// One plain attempt, made resilient by the attribute. Short delays so the
/// demo runs in a blink; a real service would keep the defaults (100 ms
/// doubling up to 10 s, hints up to 30 s).
#[retry(
    attempts = 4,
    backoff = exponential(initial = "20ms", max = "200ms"),
    jitter = full,
    max_retry_after = "1s",
    on_retry = log_retry
)]
async fn fetch(upstream: &Upstream) -> Result<&'static str, UpstreamError> {
    upstream.fetch().await
}

fn log_retry(err: &UpstreamError, attempt: &Attempt) {
    println!(
        "   attempt {} failed ({err:?}); sleeping {:?}",
        attempt.number(),
        attempt.delay()
    );
}

async fn scenario(title: &str, upstream: Upstream) {
    println!("\n== {title}");
    let start = Instant::now();
    let result = fetch(&upstream).await;
    println!(
        "   => {result:?} after {} call(s) in {:?}",
        upstream.calls.load(Ordering::Relaxed),
        start.elapsed()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    scenario(
        "transient failures are retried with backoff and full jitter",
        Upstream::new(vec![Err((503, "")), Err((503, "")), Ok("fresh data")]),
    )
    .await;

    scenario(
        "a 429 with a short Retry-After is honoured (plus jitter)",
        Upstream::new(vec![Err((429, "1")), Ok("fresh data")]),
    )
    .await;

    scenario(
        "a Retry-After above the cap stops at once, so the caller can pass it on",
        Upstream::new(vec![Err((429, "120")), Ok("never reached")]),
    )
    .await;

    scenario(
        "a 404 is not transient: no retry",
        Upstream::new(vec![Err((404, "")), Ok("never reached")]),
    )
    .await;

    scenario(
        "an upstream that stays down: every attempt is used, the last error returned",
        Upstream::new(vec![Err((503, ""))]),
    )
    .await;
}
