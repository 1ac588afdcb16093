//! The success path allocates nothing: counted by a global allocator.
#![allow(unsafe_code)] // a counting global allocator

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilient::{RetryBudget, RetryHint, RetryPolicy, retry, retry_with_hints};

struct Counting;

thread_local! {
    // `const` and without a destructor: touching it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What an event allocates (a rejection, a hedged copy) when the
/// `metrics` feature is on: the facade builds the metric's key with its
/// `name` label in a vector (the name itself is shared, not copied). The
/// success path allocates nothing either way.
const EVENT: usize = if cfg!(feature = "metrics") { 1 } else { 0 };

/// Allocations made on this thread while building and polling `make()`'s
/// future to completion (it must complete without waiting).
fn allocations<F: IntoFuture>(make: impl FnOnce() -> F) -> (usize, F::Output) {
    let before = ALLOCATIONS.with(Cell::get);
    let mut fut = pin!(make().into_future());
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(out) = fut.as_mut().poll(&mut cx) else {
        panic!("the success path waited")
    };
    (ALLOCATIONS.with(Cell::get) - before, out)
}

struct Hinted;
impl RetryHint for Hinted {}

#[test]
fn retry_success_allocates_nothing() {
    let policy = RetryPolicy::new();
    let (n, out) = allocations(|| retry(&policy, || async { Ok::<_, String>(7) }));
    assert_eq!((n, out), (0, Ok(7)));
}

#[test]
fn retry_success_with_hooks_and_budget_allocates_nothing() {
    let policy = RetryPolicy::builder()
        .max_elapsed(Duration::from_secs(5))
        .build();
    let budget = RetryBudget::builder().min_per_sec(0).ratio(1.0).build();
    let (n, out) = allocations(|| {
        retry_with_hints(&policy, || async { Ok::<_, Hinted>(7) })
            .when(|_| true)
            .on_retry(|_, _| {})
            .budget(&budget)
    });
    assert!(out.is_ok());
    assert_eq!(n, 0);
    assert_eq!(budget.available(), 1, "the success deposited");
}

#[test]
fn the_counter_counts() {
    // A check that the allocator above is in use: otherwise every test
    // here would pass vacuously.
    let (n, _) = allocations(|| async { Box::new(1) });
    assert_eq!(n, 1);
}

use resilient::{CircuitBreaker, CircuitOpen};

#[derive(Debug)]
struct Rejected;

impl From<CircuitOpen> for Rejected {
    fn from(_: CircuitOpen) -> Self {
        Self
    }
}

#[test]
fn breaker_success_allocates_nothing_in_either_mode() {
    for breaker in [
        CircuitBreaker::builder().failures(3).build(),
        CircuitBreaker::builder()
            .failure_rate(0.5)
            .window(16)
            .build(),
    ] {
        // Warm up: the first clock read may set up the process epoch.
        let _ = breaker.admits_in();
        let (n, out) = allocations(|| breaker.call(async { Ok::<_, Rejected>(1) }));
        assert!(out.is_ok());
        assert_eq!(n, 0);
    }
}

/// A time window allocates its buckets on its first outcome, once; slow
/// calls read the clock and allocate nothing.
#[test]
fn time_window_and_slow_call_success_allocates_nothing_after_the_first() {
    let breaker = CircuitBreaker::builder()
        .failure_rate(0.5)
        .time_window(Duration::from_secs(30))
        .slow(Duration::from_secs(1))
        .build();
    let (first, _) = allocations(|| breaker.call(async { Ok::<_, Rejected>(1) }));
    assert_eq!(first, 1, "the buckets");
    let (n, out) = allocations(|| breaker.call(async { Ok::<_, Rejected>(1) }));
    assert!(out.is_ok());
    assert_eq!(n, 0);
}

#[test]
fn breaker_rejection_allocates_at_most_its_metrics_label() {
    let breaker = CircuitBreaker::builder().failures(1).build();
    let _ = allocations(|| breaker.call(async { Err::<(), _>(Rejected) }));
    let (n, out) = allocations(|| breaker.call(async { Ok::<_, Rejected>(1) }));
    assert!(out.is_err(), "the breaker should be open");
    assert_eq!(n, EVENT);
}

#[resilient::retry(attempts = 3, backoff = exponential(initial = "100ms", max = "1s"))]
async fn attribute_literal(x: u32) -> Result<u32, Hinted> {
    Ok(x)
}

#[resilient::retry(backoff = fixed(delay), max_elapsed = "5s", on_retry = ignore_retry)]
async fn attribute_expression(x: u32, delay: Duration) -> Result<u32, Hinted> {
    Ok(x)
}

fn ignore_retry(_: &Hinted, _: &resilient::Attempt) {}

static ATTRIBUTE_BUDGET: RetryBudget = RetryBudget::builder().build();

#[resilient::retry(attempts = 3, budget = ATTRIBUTE_BUDGET)]
async fn attribute_budget(x: u32) -> Result<u32, Hinted> {
    Ok(x)
}

static ATTRIBUTE_POLICY: RetryPolicy = RetryPolicy::new();

#[resilient::retry(policy = ATTRIBUTE_POLICY)]
async fn attribute_policy(x: u32) -> Result<u32, String> {
    Ok(x)
}

#[test]
fn the_attribute_success_path_allocates_nothing() {
    let (n, out) = allocations(|| attribute_literal(1));
    assert_eq!((n, out.ok()), (0, Some(1)));
    let (n, out) = allocations(|| attribute_expression(2, Duration::from_millis(5)));
    assert_eq!((n, out.ok()), (0, Some(2)));
    let (n, out) = allocations(|| attribute_policy(3));
    assert_eq!((n, out.ok()), (0, Some(3)));
    let (n, out) = allocations(|| attribute_budget(4));
    assert_eq!((n, out.ok()), (0, Some(4)));
}

#[derive(Debug)]
struct StackError;

impl From<CircuitOpen> for StackError {
    fn from(_: CircuitOpen) -> Self {
        Self
    }
}

impl From<resilient::Elapsed> for StackError {
    fn from(_: resilient::Elapsed) -> Self {
        Self
    }
}

#[resilient::fallback(default)]
#[resilient::retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full)]
#[resilient::circuit_breaker(failures = 5, reset = "60s")]
#[resilient::timeout("2s")]
async fn the_design_stack(x: u32) -> Result<u32, StackError> {
    Ok(x)
}

static TRIPPED: CircuitBreaker = CircuitBreaker::builder()
    .name("no-alloc-tripped")
    .failures(1)
    .build();

#[resilient::circuit_breaker(shared = TRIPPED)]
async fn through_tripped(fail: bool) -> Result<u32, StackError> {
    if fail { Err(StackError) } else { Ok(1) }
}

#[test]
fn the_attribute_stack_allocates_nothing_and_its_rejection_at_most_its_metrics_label() {
    // The first call registers the per-function breaker (the registry
    // allocates once); the timeout reads the clock but makes no timer on a
    // call that completes at once.
    let _ = allocations(|| the_design_stack(0));
    let (n, out) = allocations(|| the_design_stack(4));
    assert_eq!((n, out.ok()), (0, Some(4)));

    let _ = allocations(|| through_tripped(true));
    let (n, out) = allocations(|| through_tripped(false));
    assert!(out.is_err(), "the breaker should be open");
    assert_eq!(n, EVENT);
}

#[resilient::retry(attempts = 3)]
#[resilient::circuit_breaker(key = host, failures = 5, name = "no-alloc-keyed")]
async fn keyed_call(host: &str, n: u32) -> Result<u32, StackError> {
    Ok(n)
}

#[resilient::circuit_breaker(key = tenant, failures = 5, name = "no-alloc-keyed-int")]
async fn keyed_by_integer(tenant: u64) -> Result<u64, StackError> {
    Ok(tenant)
}

#[test]
fn a_known_key_allocates_nothing() {
    // The first call registers the keyed breaker and makes the key's
    // breaker (and the map its thread's reclamation slot).
    let _ = allocations(|| keyed_call("a", 0));
    let (n, out) = allocations(|| keyed_call("a", 4));
    assert_eq!((n, out.ok()), (0, Some(4)));
    let (n, out) = allocations(|| keyed_call("b", 5));
    assert!(n > 0, "a new key allocates its breaker");
    assert_eq!(out.ok(), Some(5));

    let _ = allocations(|| keyed_by_integer(7));
    let (n, out) = allocations(|| keyed_by_integer(7));
    assert_eq!((n, out.ok()), (0, Some(7)));
}

impl From<resilient::BulkheadFull> for StackError {
    fn from(_: resilient::BulkheadFull) -> Self {
        Self
    }
}

#[resilient::retry(attempts = 3)]
#[resilient::bulkhead(max = 10, wait = "1s")]
async fn behind_a_bulkhead(n: u32) -> Result<u32, StackError> {
    Ok(n)
}

static FULL_ONE: resilient::Bulkhead = resilient::Bulkhead::builder().max(1).build();

#[resilient::bulkhead(shared = FULL_ONE)]
async fn through_a_full_bulkhead() -> Result<u32, StackError> {
    Ok(1)
}

#[test]
fn a_bulkhead_place_allocates_nothing_and_a_full_bulkhead_at_most_its_metrics_label() {
    let _ = allocations(|| behind_a_bulkhead(0));
    let (n, out) = allocations(|| behind_a_bulkhead(3));
    assert_eq!((n, out.ok()), (0, Some(3)));

    let _held = FULL_ONE.try_enter().unwrap();
    let (n, out) = allocations(through_a_full_bulkhead);
    assert!(out.is_err(), "the bulkhead is full");
    assert_eq!(n, EVENT);
}

impl From<resilient::RateLimited> for StackError {
    fn from(_: resilient::RateLimited) -> Self {
        Self
    }
}

#[resilient::retry(attempts = 3)]
#[resilient::rate_limit(rate = 1000000, per = "1s")]
async fn under_a_rate_limit(n: u32) -> Result<u32, StackError> {
    Ok(n)
}

static SPENT: resilient::RateLimiter = resilient::RateLimiter::builder()
    .rate(1)
    .per(Duration::from_secs(3600))
    .build();

#[resilient::rate_limit(shared = SPENT)]
async fn over_the_rate() -> Result<u32, StackError> {
    Ok(1)
}

#[test]
fn a_rate_limited_call_allocates_nothing_and_a_rejection_at_most_its_metrics_label() {
    let _ = allocations(|| under_a_rate_limit(0));
    let (n, out) = allocations(|| under_a_rate_limit(3));
    assert_eq!((n, out.ok()), (0, Some(3)));

    let _ = allocations(over_the_rate);
    let (n, out) = allocations(over_the_rate);
    assert!(out.is_err(), "over the rate");
    assert_eq!(n, EVENT);
}

#[resilient::rate_limit(key = tenant, rate = 1000000, per = "1s")]
async fn per_tenant(tenant: u32) -> Result<u32, StackError> {
    Ok(tenant)
}

#[test]
fn a_known_key_of_a_keyed_rate_limit_allocates_nothing() {
    let _ = allocations(|| per_tenant(7));
    let (n, out) = allocations(|| per_tenant(7));
    assert_eq!((n, out.ok()), (0, Some(7)));
}

static HEDGED_COPIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[resilient::hedge(after = "50ms", max = 3)]
async fn hedged(slow: bool) -> Result<u32, StackError> {
    HEDGED_COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if slow {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(1)
}

#[resilient::hedge(after = "50ms")]
#[resilient::circuit_breaker(failures = 5, name = "no-alloc-hedge")]
#[resilient::timeout("1s")]
async fn hedged_over_tags(n: u32) -> Result<u32, StackError> {
    Ok(n)
}

/// A hedge whose first attempt answers at once touches no timer; one
/// whose copies start (a paused runtime, after a first run that sets up
/// the runtime's own state) allocates nothing either: the copies live in
/// the call's future.
#[test]
fn a_hedge_allocates_nothing_but_its_copies_metrics_labels() {
    let (n, out) = allocations(|| hedged(false));
    assert_eq!((n, out.ok()), (0, Some(1)));
    let _ = allocations(|| hedged_over_tags(0));
    let (n, out) = allocations(|| hedged_over_tags(3));
    assert_eq!((n, out.ok()), (0, Some(3)));

    let runtime = common::paused_runtime();
    runtime.block_on(async {
        assert_eq!(hedged(true).await.ok(), Some(1));
        let before = ALLOCATIONS.with(Cell::get);
        let copies = HEDGED_COPIES.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(hedged(true).await.ok(), Some(1));
        let n = ALLOCATIONS.with(Cell::get) - before;
        let copies = HEDGED_COPIES.load(std::sync::atomic::Ordering::Relaxed) - copies;
        assert_eq!(
            (n, copies),
            (2 * EVENT, 3),
            "three copies raced, and nothing was allocated but two copies' metrics"
        );
    });
}

static TOWER_BREAKER: CircuitBreaker = CircuitBreaker::builder().name("no-alloc-tower").build();
static TOWER_BULKHEAD: resilient::Bulkhead = resilient::Bulkhead::builder()
    .name("no-alloc-tower")
    .max(10)
    .build();
static TOWER_RATE: resilient::RateLimiter = resilient::RateLimiter::builder()
    .name("no-alloc-tower")
    .rate(1_000_000)
    .build();

/// Every tower layer, stacked over a plain service: a call that goes
/// through allocates nothing.
#[test]
fn tower_layers_allocate_nothing_on_success() {
    use resilient::tower::{
        BoxedErrors, BulkheadLayer, CircuitBreakerLayer, RateLimitLayer, RetryLayer, TimeoutLayer,
    };
    use tower::{ServiceBuilder, ServiceExt};

    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::new()).classify(BoxedErrors))
        .layer(BulkheadLayer::new(&TOWER_BULKHEAD))
        .layer(CircuitBreakerLayer::new(&TOWER_BREAKER))
        .layer(RateLimitLayer::new(&TOWER_RATE))
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .service(tower::service_fn(|n: u32| async move {
            Ok::<_, std::io::Error>(n)
        }));
    let _ = allocations(|| service.clone().oneshot(0));
    let (n, out) = allocations(|| service.clone().oneshot(5));
    assert_eq!((n, out.ok()), (0, Some(5)));
}
