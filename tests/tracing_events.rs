//! Under the `tracing` feature (on for tests), every retry and every reason
//! to stop is an event.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilient::{Backoff, Jitter, RetryHint, RetryPolicy, retry, retry_with_hints};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps every event as one line: `LEVEL target: field=value ...`.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = Line(format!("{} {}:", meta.level(), meta.target()));
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Collector {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Debug)]
struct Throttled;

impl RetryHint for Throttled {
    fn retry_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(60))
    }
}

#[tokio::test(start_paused = true)]
async fn each_retry_and_the_stop_are_events() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let policy = RetryPolicy::builder()
        .attempts(3)
        .backoff(Backoff::fixed(Duration::from_millis(5)))
        .jitter(Jitter::None)
        .build();
    let _ = retry(&policy, || async { Err::<(), _>("down") }).await;
    assert_eq!(
        collector.lines(),
        [
            "DEBUG resilient::retry: message=attempt failed; retrying after the delay attempt=1 delay=5ms retry_after=None admits_in=None",
            "DEBUG resilient::retry: message=attempt failed; retrying after the delay attempt=2 delay=5ms retry_after=None admits_in=None",
            "WARN resilient::retry: message=attempt failed; giving up attempt=3 retry_after=None admits_in=None reason=every attempt failed",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_above_the_cap_says_so() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let _ = retry_with_hints(&RetryPolicy::new(), || async { Err::<(), _>(Throttled) }).await;
    assert_eq!(
        collector.lines(),
        [
            "WARN resilient::retry: message=attempt failed; giving up attempt=1 retry_after=Some(60s) admits_in=None reason=the server asked to wait 60s, above `max_retry_after`"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_a_debug_event() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let _ = retry(&RetryPolicy::new(), || async { Err::<(), _>(()) })
        .when(|()| false)
        .await;
    let lines = collector.lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("DEBUG"), "{lines:?}");
    assert!(
        lines[0].ends_with("reason=the error is not transient"),
        "{lines:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_transitions_are_events() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let breaker = resilient::CircuitBreaker::builder()
        .name("traced")
        .failures(1)
        .build();
    breaker.acquire().unwrap().failure();
    breaker.reset();
    assert_eq!(
        collector.lines(),
        [
            "INFO resilient::circuit_breaker: message=circuit breaker state changed breaker=traced from=\"closed\" to=\"open\" sequence=1",
            "INFO resilient::circuit_breaker: message=circuit breaker state changed breaker=traced from=\"open\" to=\"closed\" sequence=2",
        ]
    );
}

/// A keyed breaker's events: each key's transitions under `name[key]`,
/// a new key refused for lack of room, `max_open` holding a key closed.
#[tokio::test(start_paused = true)]
async fn keyed_breaker_events_name_the_key() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let keyed = resilient::KeyedBreaker::builder()
        .name("hosts")
        .failures(1)
        .max_keys(2)
        .max_open(0.5)
        .build();
    keyed.breaker("a").unwrap().acquire().unwrap().failure();
    keyed.breaker("b").unwrap().acquire().unwrap().failure();
    keyed.get("a").unwrap().force_open();
    keyed.get("b").unwrap().force_open();
    assert!(keyed.breaker("c").is_err());
    let lines = collector.lines();
    assert_eq!(
        lines[..2],
        [
            "INFO resilient::circuit_breaker: message=circuit breaker state changed breaker=hosts[a] from=\"closed\" to=\"open\" sequence=1",
            "DEBUG resilient::circuit_breaker: message=max_open reached: this key stays closed breaker=hosts[b] open=1 allowed=1",
        ]
    );
    assert_eq!(
        lines.last().unwrap(),
        "WARN resilient::circuit_breaker: message=no room for a new key: every key's breaker is open breaker=hosts key=c max_keys=2"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_a_debug_event() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let bulkhead = resilient::Bulkhead::builder()
        .name("narrow")
        .max(1)
        .wait(Duration::from_millis(5))
        .build();
    let held = bulkhead.try_enter().unwrap();
    // A call that waits and gets in is not an event.
    let (place, ()) = tokio::join!(bulkhead.enter(), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(held);
    });
    let _held = place.unwrap();
    assert!(collector.lines().is_empty());
    assert!(bulkhead.enter().await.is_err());
    assert_eq!(
        collector.lines(),
        [
            "DEBUG resilient::bulkhead: message=bulkhead full: call turned away bulkhead=narrow max=1 waited=5ms"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_pause_and_a_rejection_are_events() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let limiter = resilient::RateLimiter::builder()
        .name("partner")
        .rate(10)
        .build();
    limiter.pause_for(Duration::from_secs(2));
    assert!(limiter.try_acquire().is_err());
    assert_eq!(
        collector.lines(),
        [
            "INFO resilient::rate_limit: message=rate limit paused by the service's Retry-After limiter=partner pause=2s",
            "DEBUG resilient::rate_limit: message=rate limit reached: call turned away limiter=partner retry_after=2s paused=true",
        ]
    );
}

/// A breaker registered on first use under a name another breaker holds is
/// listed beside it, with a warning.
#[tokio::test(start_paused = true)]
async fn a_second_breaker_under_a_taken_name_is_a_warning() {
    #[resilient::circuit_breaker(name = "traced-twice")]
    async fn one() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
    #[resilient::circuit_breaker(name = "traced-twice")]
    async fn two() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    one().await.unwrap();
    one().await.unwrap();
    assert_eq!(
        collector.lines(),
        Vec::<String>::new(),
        "one breaker, no clash"
    );
    two().await.unwrap();
    assert_eq!(
        collector.lines(),
        [
            "WARN resilient::registry: message=another circuit breaker has this name: both are listed, `registry::get` returns the first; give each a name of its own breaker=traced-twice",
        ]
    );
    let listed = resilient::registry::all()
        .into_iter()
        .filter(|h| h.name() == "traced-twice")
        .count();
    assert_eq!(listed, 2);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_is_a_warning_with_its_reason() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let budget = resilient::RetryBudget::builder()
        .min_per_sec(0)
        .ratio(0.0)
        .build();
    let _ = retry(&RetryPolicy::new(), || async { Err::<(), _>("down") })
        .budget(&budget)
        .await;
    assert_eq!(
        collector.lines(),
        [
            "WARN resilient::retry: message=attempt failed; the retry budget is spent, not retrying attempt=1 reason=the retry budget has no retry left"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn hedging_is_a_debug_event() {
    let collector = Collector::default();
    let _guard = tracing::subscriber::set_default(collector.clone());
    let calls = std::sync::atomic::AtomicU32::new(0);
    let slow_then_fast = || async {
        if calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok::<_, std::io::Error>(())
    };
    let hedge = resilient::Hedge::after(Duration::from_millis(50)).name("lookup");
    hedge
        .run([std::pin::pin!(None), std::pin::pin!(None)], slow_then_fast)
        .await
        .unwrap();
    // Nothing earned, no reserve: the budget refuses the copy.
    let budget = resilient::RetryBudget::builder()
        .min_per_sec(0)
        .ratio(0.1)
        .build();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let slow_then_fast = || async {
        if calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok::<_, std::io::Error>(())
    };
    hedge
        .budget(&budget)
        .run([std::pin::pin!(None), std::pin::pin!(None)], slow_then_fast)
        .await
        .unwrap();
    assert_eq!(
        collector.lines(),
        [
            "DEBUG resilient::hedge: message=attempt slow: hedging hedge=lookup copy=2 of=2",
            "DEBUG resilient::hedge: message=a hedged copy won hedge=lookup copy=2",
            "DEBUG resilient::hedge: message=retry budget empty: no hedge hedge=lookup",
        ]
    );
}
