//! Generated code is clean under rustc's lints denied in the user's crate
//! (clippy's pedantic set is checked on the workspace's own tests).
#![deny(warnings)]

use std::time::Duration;

use resilient::{Attempt, RetryHint, retry};

#[derive(Debug)]
struct ApiError;

impl RetryHint for ApiError {
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

fn log(_: &ApiError, _: &Attempt) {}

#[retry(
    attempts = 3,
    backoff = exponential(initial = "1ms", factor = 2, max = "4ms"),
    jitter = equal,
    max_elapsed = "1s",
    on_retry = log,
    max_retry_after = "2s"
)]
async fn fetch(flag: bool) -> Result<u32, ApiError> {
    if flag {
        return Ok(2);
    }
    Err(ApiError)
}

#[retry(attempts = 2, backoff = none)]
async fn one_line() -> Result<u32, ApiError> { Ok(1) }

/// `mut` arguments, copied or cloned per attempt, one of them not changed
/// by every path.
#[retry(attempts = 2, backoff = none, clone(text))]
async fn mutates(mut n: u32, mut text: String, (mut a, b): (u32, u32)) -> Result<u32, ApiError> {
    n += 1;
    a += b;
    text.push('!');
    Ok(n + a + u32::try_from(text.len()).unwrap_or(0))
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(mutates(0, String::new(), (1, 1)).await.ok(), Some(4));
    assert_eq!(one_line().await.ok(), Some(1));
    assert_eq!(fetch(true).await.ok(), Some(2));
    assert!(fetch(false).await.is_err());
}
