//! `#[fallback]`, alone and over the other layers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{CircuitOpen, Elapsed, circuit_breaker, fallback, retry, timeout};
use tokio::time::sleep;

#[derive(Debug, PartialEq)]
enum ApiError {
    Down,
    NotFound,
    Open,
    TimedOut,
}

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

impl From<Elapsed> for ApiError {
    fn from(_: Elapsed) -> Self {
        Self::TimedOut
    }
}

#[fallback(value = String::from("default data"))]
async fn with_value(ok: bool) -> Result<String, ApiError> {
    if ok {
        Ok(String::from("fresh"))
    } else {
        Err(ApiError::Down)
    }
}

#[fallback(default)]
async fn with_default() -> Result<Vec<u32>, ApiError> {
    Err(ApiError::Down)
}

fn cached(id: u64, err: ApiError) -> Result<String, ApiError> {
    if err == ApiError::NotFound {
        Err(err)
    } else {
        Ok(format!("cached {id}"))
    }
}

async fn cached_async(err: ApiError) -> Result<String, ApiError> {
    sleep(Duration::from_millis(5)).await;
    Ok(format!("async after {err:?}"))
}

#[fallback(with = |e| cached(id, e))]
async fn with_closure(id: u64, err: ApiError) -> Result<String, ApiError> {
    Err(err)
}

#[fallback(with = cached_async)]
async fn with_async_handler() -> Result<String, ApiError> {
    Err(ApiError::Down)
}

fn outage(err: &ApiError) -> bool {
    *err == ApiError::Down
}

#[fallback(value = 0, when = outage)]
async fn only_outages(err: ApiError) -> Result<u32, ApiError> {
    Err(err)
}

#[tokio::test(start_paused = true)]
async fn every_form() {
    assert_eq!(with_value(true).await.unwrap(), "fresh");
    assert_eq!(with_value(false).await.unwrap(), "default data");
    assert_eq!(with_default().await, Ok(vec![]));
    assert_eq!(with_closure(7, ApiError::Down).await.unwrap(), "cached 7");
    assert_eq!(
        with_closure(7, ApiError::NotFound).await,
        Err(ApiError::NotFound),
        "the handler re-raises"
    );
    assert_eq!(with_async_handler().await.unwrap(), "async after Down");
    assert_eq!(only_outages(ApiError::Down).await, Ok(0));
    assert_eq!(
        only_outages(ApiError::NotFound).await,
        Err(ApiError::NotFound)
    );
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// DESIGN.md's stack: fall back if everything below fails; retry; each
/// attempt through the breaker; each attempt cut off after a while.
#[fallback(with = |e| cached(id, e))]
#[retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full)]
#[circuit_breaker(failures = 5, reset = "60s", name = "test-design-stack")]
#[timeout("2s")]
async fn fetch_data(id: u64) -> Result<String, ApiError> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    sleep(Duration::from_secs(10)).await; // hangs
    Ok(format!("fresh {id}"))
}

#[tokio::test(start_paused = true)]
async fn the_design_stack_degrades_to_cached_data() {
    assert_eq!(fetch_data(1).await.unwrap(), "cached 1");
    assert_eq!(CALLS.load(Ordering::Relaxed), 3);
    // Two more calls: the breaker opens after 5 timeouts, then rejects
    // without running the body, and the fallback still answers.
    assert_eq!(fetch_data(2).await.unwrap(), "cached 2");
    assert_eq!(fetch_data(3).await.unwrap(), "cached 3");
    assert_eq!(
        CALLS.load(Ordering::Relaxed),
        5,
        "the open breaker kept the body from running"
    );
}

/// An error type with no `From<CircuitOpen>` or `From<Elapsed>`: a value
/// fallback above the breaker and the timeout needs neither.
#[derive(Debug)]
struct Plain;

static PLAIN_CALLS: AtomicU32 = AtomicU32::new(0);

#[fallback(default)]
#[circuit_breaker(failures = 1, name = "test-fallback-no-from")]
#[timeout("1s")]
async fn no_conversions_needed() -> Result<u32, Plain> {
    PLAIN_CALLS.fetch_add(1, Ordering::Relaxed);
    sleep(Duration::from_secs(60)).await; // cut off: a failure
    Err(Plain)
}

#[tokio::test(start_paused = true)]
async fn value_fallbacks_need_no_conversions() {
    assert_eq!(
        no_conversions_needed().await.unwrap(),
        0,
        "timed out, then the default"
    );
    assert_eq!(
        no_conversions_needed().await.unwrap(),
        0,
        "rejected, then the default"
    );
    assert_eq!(
        PLAIN_CALLS.load(Ordering::Relaxed),
        1,
        "the open breaker kept the body from running"
    );
}

static HANDED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn record(err: ApiError) -> Result<String, ApiError> {
    HANDED.lock().unwrap().push(format!("{err:?}"));
    // Re-raise what no fallback can fix; recover from the rest.
    if err == ApiError::NotFound {
        Err(err)
    } else {
        Ok(String::from("fallback"))
    }
}

/// The handler receives a timeout, then a rejection, as the function's `E`.
#[fallback(with = record)]
#[circuit_breaker(failures = 1, name = "test-fallback-receives")]
#[timeout("1s")]
async fn handed_over() -> Result<String, ApiError> {
    sleep(Duration::from_secs(60)).await;
    Ok(String::from("fresh"))
}

#[tokio::test(start_paused = true)]
async fn the_handler_receives_timeouts_and_rejections_as_errors() {
    let _ = handed_over().await;
    let _ = handed_over().await;
    assert_eq!(*HANDED.lock().unwrap(), ["TimedOut", "Open"]);
}

/// A fallback over an error type that is not `Send`: the future still is.
/// The handler changes the result, so the test sees that it ran.
#[fallback(with = |_| Ok(0))]
async fn boxed(fail: bool) -> Result<u32, Box<dyn std::error::Error>> {
    if fail { Err("down".into()) } else { Ok(1) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_keeps_the_future_send_with_a_non_send_error() {
    let out = tokio::spawn(async {
        (
            boxed(false).await.ok(),
            boxed(true).await.map_err(|e| e.to_string()),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        out,
        (Some(1), Ok(0)),
        "the fallback answers for the failure"
    );
}

static INSIDE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// A fallback between a retry and a breaker: the first attempt fails and
/// trips the breaker (not a rejection: no fallback); the second is
/// rejected, and the fallback, which takes only rejections, answers it.
#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none)]
#[fallback(value = 7, when = |err: &ApiError| *err == ApiError::Open)]
#[circuit_breaker(failures = 1, reset = "60s", name = "fallback-inside-a-retry")]
async fn fallback_inside_a_retry() -> Result<u32, ApiError> {
    INSIDE_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_fallback_inside_a_retry_answers_the_rejection() {
    assert_eq!(fallback_inside_a_retry().await, Ok(7));
    assert_eq!(
        INSIDE_ATTEMPTS.load(Ordering::SeqCst),
        1,
        "the body ran once"
    );
}
