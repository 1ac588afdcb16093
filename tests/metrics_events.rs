//! Feature `metrics`: what each layer emits, read back with
//! `metrics-util`'s debugging recorder (installed for this thread, and
//! every test on a current-thread runtime in paused time); and nothing on
//! the success path.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use resilient::{
    BulkheadFull, CircuitBreaker, CircuitOpen, Elapsed, RateLimited, RetryHint, bulkhead,
    circuit_breaker, hedge, rate_limit, retry, timeout,
};

#[derive(Debug)]
enum Error {
    Down,
    Throttled,
    Open,
    Elapsed,
    Full,
    Limited,
}

impl RetryHint for Error {
    fn retry_after(&self) -> Option<Duration> {
        matches!(self, Self::Throttled).then_some(Duration::from_secs(5))
    }
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}
impl From<Elapsed> for Error {
    fn from(_: Elapsed) -> Self {
        Self::Elapsed
    }
}
impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Self::Full
    }
}
impl From<RateLimited> for Error {
    fn from(_: RateLimited) -> Self {
        Self::Limited
    }
}

/// Every metric emitted since the last read: `name{label=value,..}`
/// (labels sorted, a retry's `name` label shortened to the function) to
/// its value. Reading takes the values: counters and gauges read zero
/// again until something is emitted.
fn read(snapshotter: &Snapshotter) -> BTreeMap<String, String> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| {
                    // `module::function@line` (for a retry or a hedge):
                    // the function is enough here.
                    let value = l.value();
                    let value = value.rsplit("::").next().unwrap_or(value);
                    let value = value.split('@').next().unwrap_or(value);
                    format!("{}={}", l.key(), value)
                })
                .collect();
            labels.sort();
            let value = match value {
                DebugValue::Counter(n) => n.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(h) => format!("{} samples", h.len()),
            };
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

fn recorder() -> (DebuggingRecorder, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    (recorder, snapshotter)
}

#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none)]
async fn always_down() -> Result<(), Error> {
    Err(Error::Down)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_a_retry_counts_its_retries_and_why_it_stopped() {
    let (recorder, snapshotter) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    assert!(always_down().await.is_err());
    let read = read(&snapshotter);
    assert_eq!(read["resilient_retry_retries_total{name=always_down}"], "2");
    assert_eq!(
        read["resilient_retry_failed_calls_total{name=always_down,reason=exhausted}"],
        "1"
    );
}

static TWO: CircuitBreaker = CircuitBreaker::builder()
    .name("metrics-two")
    .failures(2)
    .build();

#[circuit_breaker(shared = TWO)]
async fn guarded(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

static FRESH: CircuitBreaker = CircuitBreaker::builder().name("metrics-fresh").build();

#[circuit_breaker(shared = FRESH)]
async fn fresh() -> Result<(), Error> {
    Ok(())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_a_breaker_counts_failures_and_refusals_and_shows_its_state() {
    let (recorder, snapshotter) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    // A breaker's gauge shows its state from its first call.
    fresh().await.unwrap();
    let first = read(&snapshotter);
    assert_eq!(
        first["resilient_circuitbreaker_state{name=metrics-fresh,state=closed}"],
        "1"
    );
    assert_eq!(
        first["resilient_circuitbreaker_state{name=metrics-fresh,state=open}"],
        "0"
    );
    // Not read before it opens: `closed` reads 0 only if the change set
    // it (it was 1 from the first call).
    guarded(false).await.unwrap();
    for _ in 0..2 {
        let _ = guarded(true).await;
    }
    assert!(matches!(guarded(false).await, Err(Error::Open)));
    // Asking is not a call refused (a retry asks after each failure).
    assert!(TWO.check().is_err());
    let read = read(&snapshotter);
    assert_eq!(
        read["resilient_circuitbreaker_failed_calls_total{name=metrics-two}"],
        "2"
    );
    assert_eq!(
        read["resilient_circuitbreaker_not_permitted_calls_total{name=metrics-two}"],
        "1"
    );
    assert_eq!(
        read["resilient_circuitbreaker_state{name=metrics-two,state=closed}"],
        "0"
    );
    assert_eq!(
        read["resilient_circuitbreaker_state{name=metrics-two,state=open}"],
        "1"
    );
    assert_eq!(
        read["resilient_circuitbreaker_state{name=metrics-two,state=half_open}"],
        "0"
    );
}

#[timeout("1s")]
async fn hangs() -> Result<(), Error> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(())
}

#[bulkhead(max = 1, name = "metrics-bulkhead")]
async fn narrow() -> Result<(), Error> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

#[rate_limit(rate = 1, per = "1h", name = "metrics-limit")]
async fn scarce(throttled: bool) -> Result<(), Error> {
    if throttled {
        Err(Error::Throttled)
    } else {
        Ok(())
    }
}

#[hedge(after = "50ms")]
async fn slow_once(calls: &std::sync::atomic::AtomicU32) -> Result<(), Error> {
    if calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_timeouts_rejections_pauses_and_hedges_are_counted() {
    let (recorder, snapshotter) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    assert!(matches!(hangs().await, Err(Error::Elapsed)));
    let (a, b) = tokio::join!(narrow(), narrow());
    assert!(a.is_ok() && matches!(b, Err(Error::Full)));
    let _ = scarce(true).await; // its 429 pauses the limiter
    assert!(matches!(scarce(false).await, Err(Error::Limited)));
    let calls = std::sync::atomic::AtomicU32::new(0);
    slow_once(&calls).await.unwrap();
    let read = read(&snapshotter);
    assert_eq!(read["resilient_timeout_calls_total{}"], "1");
    assert_eq!(
        read["resilient_bulkhead_rejected_calls_total{name=metrics-bulkhead}"],
        "1"
    );
    assert_eq!(
        read["resilient_ratelimiter_pauses_total{name=metrics-limit}"],
        "1"
    );
    assert_eq!(
        read["resilient_ratelimiter_rejected_calls_total{name=metrics-limit}"],
        "1"
    );
    assert_eq!(read["resilient_hedge_copies_total{name=slow_once}"], "1");
}

static QUIET: CircuitBreaker = CircuitBreaker::builder().name("metrics-quiet").build();

#[retry(attempts = 3)]
#[hedge(after = "50ms")]
#[bulkhead(max = 10, name = "metrics-quiet-bulkhead")]
#[circuit_breaker(shared = QUIET)]
#[rate_limit(rate = 1000, per = "1s", name = "metrics-quiet-limit")]
#[timeout("1s")]
async fn everything(n: u32) -> Result<u32, Error> {
    Ok(n)
}

/// Successful calls through every layer emit nothing (after the first,
/// which lists the breaker and so sets its state gauge).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_the_success_path_emits_nothing() {
    let (recorder, snapshotter) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    everything(0).await.unwrap();
    let after_first = read(&snapshotter);
    assert_eq!(
        after_first.keys().collect::<Vec<_>>(),
        [
            "resilient_circuitbreaker_state{name=metrics-quiet,state=closed}",
            "resilient_circuitbreaker_state{name=metrics-quiet,state=half_open}",
            "resilient_circuitbreaker_state{name=metrics-quiet,state=open}",
        ]
    );
    for n in 0..100 {
        everything(n).await.unwrap();
    }
    // A snapshot takes the values it reads (counters and gauges start
    // from zero again): nothing was counted or set since the last one.
    let after = read(&snapshotter);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        after_first.keys().collect::<Vec<_>>()
    );
    assert!(after.values().all(|v| v == "0"), "{after:?}");
}
