//! `#[circuit_breaker]`, alone and stacked with `#[retry]`, on tokio's
//! paused clock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{CircuitBreaker, CircuitOpen, CircuitState, circuit_breaker, registry, retry};
use tokio::time::{Instant, sleep};

use common::secs;

#[derive(Debug, PartialEq)]
enum ApiError {
    Down,
    NotFound,
    Open(Duration),
}

impl From<CircuitOpen> for ApiError {
    fn from(open: CircuitOpen) -> Self {
        Self::Open(open.retry_after())
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// The line of the function below: part of the breaker's default name.
const PER_FUNCTION_LINE: u32 = line!() + 3;

#[circuit_breaker(failures = 2, reset = "60s")]
async fn per_function() -> Result<(), ApiError> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_per_function_breaker_opens_rejects_and_is_registered() {
    assert_eq!(per_function().await, Err(ApiError::Down));
    assert_eq!(per_function().await, Err(ApiError::Down));
    assert_eq!(per_function().await, Err(ApiError::Open(secs(60))));
    assert_eq!(
        CALLS.load(Ordering::Relaxed),
        2,
        "an open breaker does not run the body"
    );
    let name = format!("breaker_attribute::per_function@{PER_FUNCTION_LINE}");
    let handle = registry::get(&name).expect("registered on first use");
    assert_eq!(handle.state(), CircuitState::Open);
    sleep(secs(60)).await;
    assert_eq!(handle.state(), CircuitState::HalfOpen);
}

struct Client {
    breaker: Arc<CircuitBreaker>,
    calls: AtomicU32,
}

impl Client {
    fn new(failures: u32) -> Self {
        Self {
            breaker: Arc::new(CircuitBreaker::builder().failures(failures).build()),
            calls: AtomicU32::new(0),
        }
    }

    /// A breaker the caller owns: each test builds a fresh one.
    #[circuit_breaker(breaker = self.breaker)]
    async fn get(&self, found: bool) -> Result<u32, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if found {
            Err(ApiError::Down)
        } else {
            Err(ApiError::NotFound)
        }
    }

    #[circuit_breaker(breaker = self.breaker, when = |e| *e != ApiError::NotFound)]
    async fn get_counting_only_outages(&self, found: bool) -> Result<u32, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if found {
            Err(ApiError::Down)
        } else {
            Err(ApiError::NotFound)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_from_the_caller_and_excluded_errors() {
    let client = Client::new(1);
    for _ in 0..3 {
        assert_eq!(
            client.get_counting_only_outages(false).await,
            Err(ApiError::NotFound)
        );
    }
    assert_eq!(
        client.breaker.state(),
        CircuitState::Closed,
        "a 404 says the service is up"
    );
    let _ = client.get(true).await;
    assert_eq!(client.breaker.state(), CircuitState::Open);
    assert!(matches!(client.get(true).await, Err(ApiError::Open(_))));
}

static SHARED: CircuitBreaker = CircuitBreaker::builder()
    .name("test-shared-attribute")
    .failures(2)
    .build();

#[circuit_breaker(shared = SHARED)]
async fn first_user() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[circuit_breaker(shared = SHARED)]
async fn second_user() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_shared_static_breaker() {
    let _ = first_user().await;
    let _ = first_user().await;
    assert!(
        matches!(second_user().await, Err(ApiError::Open(_))),
        "one breaker for both"
    );
    assert!(registry::get("test-shared-attribute").is_some());
    SHARED.reset();
}

fn as_io(open: CircuitOpen) -> std::io::Error {
    std::io::Error::other(open)
}

#[circuit_breaker(failures = 1, on_open = as_io, name = "test-io")]
async fn io_call() -> std::io::Result<()> {
    Err(std::io::Error::other("down"))
}

#[tokio::test(start_paused = true)]
async fn on_open_for_a_foreign_error_type() {
    let _ = io_call().await;
    let err = io_call().await.unwrap_err();
    assert!(err.get_ref().unwrap().is::<CircuitOpen>());
}

static RETRIED: AtomicU32 = AtomicU32::new(0);

/// The design's own order: each attempt passes through the breaker.
#[retry(attempts = 5, backoff = fixed("1s"), jitter = none)]
#[circuit_breaker(failures = 2, reset = "60s", name = "test-retry-over-breaker")]
async fn retried_through_a_breaker() -> Result<(), ApiError> {
    RETRIED.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_retry_stops_at_once_on_a_breaker_that_stays_open_too_long() {
    let start = Instant::now();
    // Two failures trip the breaker; it admits calls again only in 60 s,
    // above `max_retry_after` (30 s): the retry stops with the rejection.
    assert_eq!(
        retried_through_a_breaker().await,
        Err(ApiError::Open(secs(60)))
    );
    assert_eq!(RETRIED.load(Ordering::Relaxed), 2);
    assert_eq!(start.elapsed(), secs(1));
    // Called again while open: rejected at once, no attempt runs.
    assert_eq!(
        retried_through_a_breaker().await,
        Err(ApiError::Open(secs(60)))
    );
    assert_eq!(RETRIED.load(Ordering::Relaxed), 2);
}

static PATIENT: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 4, backoff = fixed("1s"), jitter = none, max_retry_after = "2m")]
#[circuit_breaker(failures = 1, reset = "60s", name = "test-patient-retry")]
async fn patient(succeed_on: u32) -> Result<u32, ApiError> {
    let n = PATIENT.fetch_add(1, Ordering::Relaxed) + 1;
    if n >= succeed_on {
        Ok(n)
    } else {
        Err(ApiError::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_breaker_within_its_cap() {
    let start = Instant::now();
    // Fails once: the breaker opens for 60 s, within the 2 min cap, so the
    // retry sleeps the longer of 60 s and its 1 s backoff, and the trial
    // call succeeds.
    assert_eq!(patient(2).await, Ok(2));
    assert_eq!(start.elapsed(), secs(60));
}

static OUTER: AtomicU32 = AtomicU32::new(0);

/// The other order: one whole retried call is one breaker outcome.
#[circuit_breaker(failures = 1, name = "test-breaker-over-retry")]
#[retry(attempts = 3, backoff = none)]
async fn breaker_over_retry() -> Result<(), ApiError> {
    OUTER.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_above_a_retry_counts_the_whole_call_once() {
    assert_eq!(breaker_over_retry().await, Err(ApiError::Down));
    assert_eq!(OUTER.load(Ordering::Relaxed), 3);
    assert!(matches!(breaker_over_retry().await, Err(ApiError::Open(_))));
    assert_eq!(OUTER.load(Ordering::Relaxed), 3);
}

struct Resource;

impl Resource {
    #[circuit_breaker(failures = 1)]
    async fn fetch(&self) -> Result<(), ApiError> {
        Err(ApiError::Down)
    }
}

struct Other;

impl Other {
    #[circuit_breaker(failures = 1)]
    async fn fetch(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn methods_of_one_name_on_two_types_get_two_breakers() {
    let _ = Resource.fetch().await;
    assert!(matches!(Resource.fetch().await, Err(ApiError::Open(_))));
    assert_eq!(Other.fetch().await, Ok(()), "a different breaker");
    let names: Vec<_> = registry::all()
        .iter()
        .map(|h| h.name().to_string())
        .filter(|n| n.starts_with("breaker_attribute::fetch@"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[circuit_breaker(failures = 1, name = "test-send")]
async fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("down".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_future_is_send_and_box_dyn_error_carries_the_rejection() {
    let _ = tokio::spawn(boxed()).await.unwrap();
    let err = tokio::spawn(boxed()).await.unwrap().unwrap_err();
    assert!(err.is::<CircuitOpen>());
}

struct Session {
    breaker: Arc<CircuitBreaker>,
    log: Vec<u32>,
}

impl Session {
    fn record(&mut self, n: u32) {
        self.log.push(n);
    }

    /// A `&mut self` method: the breaker is cloned out of `self` (an `Arc`),
    /// so the body can borrow `self` mutably.
    #[circuit_breaker(breaker = self.breaker.clone())]
    async fn push(&mut self, n: u32) -> Result<usize, ApiError> {
        self.record(n);
        Ok(self.log.len())
    }
}

#[tokio::test(start_paused = true)]
async fn a_mut_self_method_with_a_cloned_breaker() {
    let mut session = Session {
        breaker: Arc::new(CircuitBreaker::builder().build()),
        log: Vec::new(),
    };
    assert_eq!(session.push(1).await, Ok(1));
    assert_eq!(session.push(2).await, Ok(2));
}

static BUDGETED: AtomicU32 = AtomicU32::new(0);

/// The breaker's wait (10 s) is within `max_retry_after` but past
/// `max_elapsed` (5 s): the retry stops with the rejection, not the error.
#[retry(attempts = 5, backoff = fixed("1s"), jitter = none, max_elapsed = "5s")]
#[circuit_breaker(failures = 1, reset = "10s", name = "test-budget-rejection")]
async fn budget_ends_in_rejection() -> Result<(), ApiError> {
    BUDGETED.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_wait_beyond_max_elapsed_returns_the_rejection() {
    assert_eq!(
        budget_ends_in_rejection().await,
        Err(ApiError::Open(secs(10)))
    );
    assert_eq!(BUDGETED.load(Ordering::Relaxed), 1);
}

static TWO: AtomicU32 = AtomicU32::new(0);

/// Two breakers below one retry: the rejection returned is the one with
/// the longest wait, the one that stopped the retry.
#[retry(attempts = 3, backoff = none)]
#[circuit_breaker(failures = 1, reset = "40s", name = "test-two-outer")]
#[circuit_breaker(failures = 1, reset = "90s", name = "test-two-inner")]
async fn two_breakers() -> Result<(), ApiError> {
    TWO.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn the_longest_rejection_is_returned() {
    assert_eq!(two_breakers().await, Err(ApiError::Open(secs(90))));
    assert_eq!(TWO.load(Ordering::Relaxed), 1);
}

static COUNTED_ONCE: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(failures = 2, name = "test-counted-once")]
#[retry(attempts = 3, backoff = none)]
async fn counted_once() -> Result<(), ApiError> {
    COUNTED_ONCE.fetch_add(1, Ordering::Relaxed);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_whole_retried_call_is_one_outcome() {
    // Three failed attempts, one failure for the breaker (failures = 2).
    let _ = counted_once().await;
    assert_eq!(COUNTED_ONCE.load(Ordering::Relaxed), 3);
    assert_eq!(
        registry::get("test-counted-once").unwrap().state(),
        CircuitState::Closed
    );
    let _ = counted_once().await;
    assert_eq!(
        registry::get("test-counted-once").unwrap().state(),
        CircuitState::Open
    );
}

/// Two functions of one name in one module (nested in two test functions,
/// as tests often write them) get two breakers under two names: the one
/// that opened stays listed.
#[tokio::test(start_paused = true)]
async fn nested_functions_of_one_name_get_two_listed_breakers() {
    async fn first() -> Result<(), ApiError> {
        #[circuit_breaker(failures = 1)]
        async fn nested() -> Result<(), ApiError> {
            Err(ApiError::Down)
        }
        nested().await
    }
    async fn second() -> Result<(), ApiError> {
        #[circuit_breaker(failures = 1)]
        async fn nested() -> Result<(), ApiError> {
            Ok(())
        }
        nested().await
    }
    let _ = first().await;
    assert!(matches!(first().await, Err(ApiError::Open(_))));
    assert_eq!(second().await, Ok(()), "a breaker of its own");
    let listed: Vec<_> = registry::all()
        .into_iter()
        .filter(|h| h.name().as_str().starts_with("breaker_attribute::nested@"))
        .map(|h| (h.name().to_string(), h.state()))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_ne!(listed[0].0, listed[1].0, "unique names: {listed:?}");
    assert!(listed.iter().any(|(_, state)| *state == CircuitState::Open));
    assert!(
        listed
            .iter()
            .any(|(_, state)| *state == CircuitState::Closed)
    );
}

/// Two breakers given one name on purpose (or by a copy-paste): both are
/// listed, `get` returns the first, `reset` resets both.
#[tokio::test(start_paused = true)]
async fn a_taken_name_lists_both_breakers() {
    #[circuit_breaker(failures = 1, name = "test-taken-name")]
    async fn one() -> Result<(), ApiError> {
        Err(ApiError::Down)
    }
    #[circuit_breaker(failures = 1, name = "test-taken-name")]
    async fn two() -> Result<(), ApiError> {
        Err(ApiError::Down)
    }
    let _ = one().await;
    let _ = two().await;
    let listed: Vec<_> = registry::all()
        .into_iter()
        .filter(|h| h.name() == "test-taken-name")
        .collect();
    assert_eq!(listed.len(), 2, "neither breaker dropped");
    assert!(listed.iter().all(|h| h.state() == CircuitState::Open));
    assert_eq!(
        registry::get("test-taken-name").map(|h| h.state()),
        Some(CircuitState::Open)
    );
    assert!(registry::reset("test-taken-name"));
    assert!(listed.iter().all(|h| h.state() == CircuitState::Closed));
    assert_eq!(one().await, Err(ApiError::Down), "closed again");
}

/// The line in a default name is the function's, wherever the breaker's
/// attribute sits in the stack: adding or removing another attribute does
/// not rename the breaker.
const STACKED_LINE: u32 = line!() + 5;

#[circuit_breaker(failures = 1)]
#[retry(attempts = 2, backoff = none)]
#[resilient::timeout("1s")]
async fn breaker_on_top() -> Result<(), ApiError> {
    Ok(())
}

impl From<resilient::Elapsed> for ApiError {
    fn from(_: resilient::Elapsed) -> Self {
        Self::Down
    }
}

#[tokio::test(start_paused = true)]
async fn a_default_name_has_the_line_of_the_function() {
    breaker_on_top().await.unwrap();
    let name = format!("breaker_attribute::breaker_on_top@{STACKED_LINE}");
    assert!(
        registry::get(&name).is_some(),
        "{name} in {:?}",
        registry::all()
    );
}
