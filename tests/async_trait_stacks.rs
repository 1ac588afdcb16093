//! Every ordered pair of the four attributes on `#[async_trait]` methods
//! (`&self`, `&mut self`, `self: Arc<Self>`, no receiver), on failure
//! paths, in paused time: the top attribute is the outer layer here as on
//! a plain `async fn`. Each pair is chosen so that the reversed order gives
//! a different result, count of calls, virtual time or breaker state.
//!
//! The body counts its call, works for 1 s and fails. The layers:
//! `retry(attempts = 3, backoff = fixed("10s"), jitter = none)`,
//! `circuit_breaker(failures = 1, reset = "60s")`, `timeout("500ms")` and
//! `fallback(with = recover)` (`Ok(100 + code)`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use resilient::{CircuitOpen, CircuitState, Elapsed, registry};
use tokio::time::{Instant, sleep};

#[derive(Clone, Copy, Debug, PartialEq)]
enum E {
    Fail,
    Open,
    TimedOut,
}

impl From<CircuitOpen> for E {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

impl From<Elapsed> for E {
    fn from(_: Elapsed) -> Self {
        Self::TimedOut
    }
}

/// The fallback: recovers with the error's code.
#[allow(clippy::unnecessary_wraps)] // a fallback returns the function's `Result`
fn recover(error: E) -> Result<u32, E> {
    Ok(100 + error as u32)
}

async fn body(calls: &AtomicU32) -> Result<u32, E> {
    calls.fetch_add(1, Ordering::Relaxed);
    sleep(Duration::from_secs(1)).await;
    Err(E::Fail)
}

/// What one call must give.
#[derive(Debug, PartialEq)]
struct Seen {
    result: Result<u32, E>,
    calls: u32,
    elapsed: Duration,
    /// The method's own breaker after the call, when the pair has one.
    breaker: Option<CircuitState>,
}

/// The state of the per-function breaker of `method` in `module`.
fn breaker_of(module: &str, method: &str) -> Option<CircuitState> {
    let prefix = format!("{module}::{method}@");
    let mut found = registry::all()
        .into_iter()
        .filter(|b| b.name().as_str().starts_with(&prefix));
    let breaker = found.next()?;
    assert!(found.next().is_none(), "one breaker per method");
    Some(breaker.state())
}

macro_rules! ordered_pair {
    ($name:ident, [$($attr:meta),*], $result:expr, $calls:expr, $millis:expr, $breaker:expr) => {
        mod $name {
            use super::*;

            #[async_trait]
            trait Api {
                async fn by_ref(&self, n: u32) -> Result<u32, E>;
                async fn by_mut(&mut self, n: u32) -> Result<u32, E>;
                async fn by_arc(self: Arc<Self>, n: u32) -> Result<u32, E>;
                async fn no_receiver(calls: &AtomicU32, n: u32) -> Result<u32, E>;
            }

            struct Service {
                calls: AtomicU32,
                touched: u32,
            }

            #[async_trait]
            impl Api for Service {
                $(#[$attr])*
                async fn by_ref(&self, n: u32) -> Result<u32, E> {
                    body(&self.calls).await.map(|v| v + n)
                }

                $(#[$attr])*
                async fn by_mut(&mut self, n: u32) -> Result<u32, E> {
                    self.touched += n;
                    body(&self.calls).await
                }

                $(#[$attr])*
                async fn by_arc(self: Arc<Self>, n: u32) -> Result<u32, E> {
                    body(&self.calls).await.map(|v| v + n)
                }

                $(#[$attr])*
                async fn no_receiver(calls: &AtomicU32, n: u32) -> Result<u32, E> {
                    body(calls).await.map(|v| v + n)
                }
            }

            fn service() -> Service {
                Service {
                    calls: AtomicU32::new(0),
                    touched: 0,
                }
            }

            fn expected() -> Seen {
                Seen {
                    result: $result,
                    calls: $calls,
                    elapsed: Duration::from_millis($millis),
                    breaker: $breaker,
                }
            }

            fn seen(method: &str, result: Result<u32, E>, calls: &AtomicU32, start: Instant) -> Seen {
                Seen {
                    result,
                    calls: calls.load(Ordering::Relaxed),
                    elapsed: start.elapsed(),
                    breaker: $breaker.and(breaker_of(module_path!(), method)),
                }
            }

            #[tokio::test(start_paused = true)]
            async fn by_ref() {
                let s = service();
                let start = Instant::now();
                let result = s.by_ref(0).await;
                assert_eq!(seen("by_ref", result, &s.calls, start), expected());
            }

            #[tokio::test(start_paused = true)]
            async fn by_mut() {
                let mut s = service();
                let start = Instant::now();
                let result = s.by_mut(1).await;
                assert_eq!(seen("by_mut", result, &s.calls, start), expected());
                assert_eq!(s.touched, s.calls.load(Ordering::Relaxed), "once per run of the body");
            }

            #[tokio::test(start_paused = true)]
            async fn by_arc() {
                let s = Arc::new(service());
                let start = Instant::now();
                let result = Arc::clone(&s).by_arc(0).await;
                assert_eq!(seen("by_arc", result, &s.calls, start), expected());
            }

            #[tokio::test(start_paused = true)]
            async fn no_receiver() {
                let calls = AtomicU32::new(0);
                let start = Instant::now();
                let result = Service::no_receiver(&calls, 0).await;
                assert_eq!(seen("no_receiver", result, &calls, start), expected());
            }
        }
    };
}

const RETRY_TIME: u64 = 1_000 + 10_000 + 1_000 + 10_000 + 1_000;

// fallback / retry
ordered_pair!(
    fallback_over_retry,
    [
        resilient::fallback(with = recover),
        resilient::retry(attempts = 3, backoff = fixed("10s"), jitter = none)
    ],
    Ok(100),
    3,
    RETRY_TIME,
    None::<CircuitState>
);
ordered_pair!(
    retry_over_fallback,
    [
        resilient::retry(attempts = 3, backoff = fixed("10s"), jitter = none),
        resilient::fallback(with = recover)
    ],
    Ok(100),
    1,
    1_000,
    None::<CircuitState>
);

// fallback / circuit_breaker
ordered_pair!(
    fallback_over_breaker,
    [
        resilient::fallback(with = recover),
        resilient::circuit_breaker(failures = 1, reset = "60s")
    ],
    Ok(100),
    1,
    1_000,
    Some(CircuitState::Open)
);
ordered_pair!(
    breaker_over_fallback,
    [
        resilient::circuit_breaker(failures = 1, reset = "60s"),
        resilient::fallback(with = recover)
    ],
    Ok(100),
    1,
    1_000,
    Some(CircuitState::Closed)
);

// fallback / timeout
ordered_pair!(
    fallback_over_timeout,
    [
        resilient::fallback(with = recover),
        resilient::timeout("500ms")
    ],
    Ok(102),
    1,
    500,
    None::<CircuitState>
);
ordered_pair!(
    timeout_over_fallback,
    [
        resilient::timeout("500ms"),
        resilient::fallback(with = recover)
    ],
    Err(E::TimedOut),
    1,
    500,
    None::<CircuitState>
);

// retry / circuit_breaker: around the breaker, the retry stops at the
// open breaker (60 s is past `max_retry_after`) with its rejection.
ordered_pair!(
    retry_over_breaker,
    [
        resilient::retry(attempts = 3, backoff = fixed("10s"), jitter = none),
        resilient::circuit_breaker(failures = 1, reset = "60s")
    ],
    Err(E::Open),
    1,
    1_000,
    Some(CircuitState::Open)
);
ordered_pair!(
    breaker_over_retry,
    [
        resilient::circuit_breaker(failures = 1, reset = "60s"),
        resilient::retry(attempts = 3, backoff = fixed("10s"), jitter = none)
    ],
    Err(E::Fail),
    3,
    RETRY_TIME,
    Some(CircuitState::Open)
);

// retry / timeout
ordered_pair!(
    retry_over_timeout,
    [
        resilient::retry(attempts = 3, backoff = fixed("10s"), jitter = none),
        resilient::timeout("500ms")
    ],
    Err(E::TimedOut),
    3,
    500 + 10_000 + 500 + 10_000 + 500,
    None::<CircuitState>
);
ordered_pair!(
    timeout_over_retry,
    [
        resilient::timeout("500ms"),
        resilient::retry(attempts = 3, backoff = fixed("10s"), jitter = none)
    ],
    Err(E::TimedOut),
    1,
    500,
    None::<CircuitState>
);

// circuit_breaker / timeout: a timeout below the breaker is a failure; a
// timeout above it drops the call, which counts as nothing.
ordered_pair!(
    breaker_over_timeout,
    [
        resilient::circuit_breaker(failures = 1, reset = "60s"),
        resilient::timeout("500ms")
    ],
    Err(E::TimedOut),
    1,
    500,
    Some(CircuitState::Open)
);
ordered_pair!(
    timeout_over_breaker,
    [
        resilient::timeout("500ms"),
        resilient::circuit_breaker(failures = 1, reset = "60s")
    ],
    Err(E::TimedOut),
    1,
    500,
    Some(CircuitState::Closed)
);
