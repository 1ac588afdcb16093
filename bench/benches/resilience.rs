//! The success path (and an open breaker's rejection) of `resilient`,
//! beside a direct call and the peer crates a user would pick instead, all
//! in one run.
//!
//! ```text
//! cargo bench --manifest-path bench/Cargo.toml
//! ```
//!
//! Every case in a group runs the same trivial `async fn` through the same
//! loop (`iter_custom`: `n` calls on one current-thread runtime, timed
//! once), so the differences are the wrappers' own cost.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::Retryable;
use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use resilient::{
    CircuitBreaker, CircuitOpen, RetryPolicy, circuit_breaker, fallback, retry, timeout,
};

#[derive(Debug)]
struct Error;

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Error
    }
}

impl From<resilient::Elapsed> for Error {
    fn from(_: resilient::Elapsed) -> Self {
        Error
    }
}

/// The call every case makes: trivial, so wrappers show.
#[inline(never)]
async fn direct(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

#[retry(attempts = 3, backoff = exponential(initial = "100ms", max = "10s"), jitter = full)]
async fn with_retry(x: u64) -> Result<u64, Error> {
    direct(x).await
}

static STACK_BREAKER: CircuitBreaker = CircuitBreaker::builder().name("bench-stack").build();

#[fallback(default)]
#[retry(attempts = 3)]
#[circuit_breaker(shared = STACK_BREAKER)]
async fn with_stack(x: u64) -> Result<u64, Error> {
    direct(x).await
}

static STACK_TIMEOUT_BREAKER: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-stack-timeout")
    .build();

#[fallback(default)]
#[retry(attempts = 3)]
#[circuit_breaker(shared = STACK_TIMEOUT_BREAKER)]
#[timeout("2s")]
async fn with_stack_and_timeout(x: u64) -> Result<u64, Error> {
    direct(x).await
}

static CONSECUTIVE: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-consecutive")
    .failures(5)
    .build();
static RATE: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-rate")
    .failure_rate(0.5)
    .window(100)
    .build();
static OPEN: CircuitBreaker = CircuitBreaker::builder()
    .name("bench-open")
    .failures(1)
    .reset(Duration::from_secs(3600))
    .build();

#[circuit_breaker(shared = CONSECUTIVE)]
async fn with_breaker(x: u64) -> Result<u64, Error> {
    direct(x).await
}

#[circuit_breaker(shared = RATE)]
async fn with_rate_breaker(x: u64) -> Result<u64, Error> {
    direct(x).await
}

#[circuit_breaker(shared = OPEN)]
async fn through_open_breaker(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// `n` calls of `call(i)` on `runtime`, timed once.
fn run<F, Fut, T>(runtime: &tokio::runtime::Runtime, n: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    runtime.block_on(async {
        let start = Instant::now();
        for i in 0..n {
            black_box(call(i).await);
        }
        start.elapsed()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn retry_success(c: &mut Criterion) {
    let rt = runtime();
    let policy = RetryPolicy::new();
    let backoff = backon::ExponentialBuilder::default().with_jitter();
    let mut group = c.benchmark_group("retry success");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("resilient #[retry]", |b| {
        b.iter_custom(|n| run(&rt, n, with_retry))
    });
    group.bench_function("resilient retry()", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |i| {
                resilient::retry(&policy, move || direct(i)).into_future()
            })
        })
    });
    group.bench_function("backon", |b| {
        b.iter_custom(|n| run(&rt, n, |i| (move || direct(i)).retry(backoff)))
    });
    group.bench_function("tokio-retry2", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |i| {
                let strategy = tokio_retry2::strategy::ExponentialBackoff::from_millis(100)
                    .map(tokio_retry2::strategy::jitter)
                    .take(2);
                tokio_retry2::Retry::spawn(strategy, move || async move {
                    direct(i).await.map_err(tokio_retry2::RetryError::transient)
                })
            })
        })
    });
    group.finish();
}

fn stacks(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("stack success");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("fallback+retry+breaker", |b| {
        b.iter_custom(|n| run(&rt, n, with_stack))
    });
    group.bench_function("fallback+retry+breaker+timeout", |b| {
        b.iter_custom(|n| run(&rt, n, with_stack_and_timeout))
    });
    group.finish();
}

fn breaker_closed(c: &mut Criterion) {
    let rt = runtime();
    let failsafe = failsafe::Config::new().build();
    let recloser = recloser::AsyncRecloser::from(recloser::Recloser::default());
    let mut group = c.benchmark_group("breaker closed success");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("resilient consecutive", |b| {
        b.iter_custom(|n| run(&rt, n, with_breaker))
    });
    group.bench_function("resilient CircuitBreaker::call", |b| {
        b.iter_custom(|n| run(&rt, n, |i| CONSECUTIVE.call(direct(i))))
    });
    group.bench_function("resilient failure rate", |b| {
        b.iter_custom(|n| run(&rt, n, with_rate_breaker))
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| run(&rt, n, |i| failsafe.call(direct(i))))
    });
    group.bench_function("recloser", |b| {
        b.iter_custom(|n| run(&rt, n, |i| recloser.call(direct(i))))
    });
    group.finish();
}

fn breaker_open(c: &mut Criterion) {
    let rt = runtime();
    // Tripped by a failure, as in production (not `force_open`, which
    // skips the clock read an open breaker makes).
    OPEN.acquire().unwrap().failure();
    let failsafe = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build();
    let _ = rt.block_on(failsafe.call(async { Err::<(), _>(Error) }));
    let recloser = recloser::AsyncRecloser::from(
        recloser::Recloser::custom()
            .closed_len(1)
            .error_rate(0.5)
            .open_wait(Duration::from_secs(3600))
            .build(),
    );
    for _ in 0..3 {
        let _ = rt.block_on(recloser.call(async { Err::<(), _>(Error) }));
    }
    let mut group = c.benchmark_group("breaker open rejection");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("resilient", |b| {
        b.iter_custom(|n| run(&rt, n, through_open_breaker))
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| run(&rt, n, |i| failsafe.call(direct(i))))
    });
    group.bench_function("recloser", |b| {
        b.iter_custom(|n| run(&rt, n, |i| recloser.call(direct(i))))
    });
    group.finish();
}

/// Calls per second on one breaker shared by two OS threads (the
/// permit API: no runtime in the way).
fn contended(c: &mut Criterion) {
    let breaker = Arc::new(CircuitBreaker::builder().name("bench-contended").build());
    let mut group = c.benchmark_group("two threads, one breaker");
    group.bench_function("direct", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for i in 0..n / 2 {
                            black_box(direct_sync(i).ok());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.bench_function("resilient consecutive", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let breaker = Arc::clone(&breaker);
                    s.spawn(move || {
                        for i in 0..n / 2 {
                            if let Ok(permit) = breaker.acquire() {
                                let out = direct_sync(i);
                                permit.record(out.is_err());
                                black_box(out.ok());
                            }
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

#[inline(never)]
fn direct_sync(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

use std::future::IntoFuture as _;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = retry_success, stacks, breaker_closed, breaker_open, contended
}
criterion_main!(benches);
