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
//!
//! The tower cases (`tower::retry`, `tower-resilience`) wrap a
//! `tower::service_fn(direct)` and are called as a user calls a *shared*
//! tower service: `svc.clone().oneshot(i)` per request (a tower service is
//! `&mut self` to call, so sharing one means cloning it, as axum and hyper
//! do per request). The clone is part of their cost.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::Retryable;
use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use resilient::{CircuitBreaker, RetryPolicy};
use tower::{Layer as _, ServiceExt as _};
use tower_resilience::circuitbreaker::CircuitBreakerLayer;
use tower_resilience::retry::RetryLayer;

#[path = "../cases.rs"]
mod cases;
use cases::*;

/// The simplest honest `tower::retry::Policy`: up to 2 retries on error, at
/// once (no backoff; the success path never waits). The count is per
/// request: `tower::retry::Retry` clones its policy into every response
/// future.
#[derive(Clone)]
struct TowerRetries(usize);

impl<E> tower::retry::Policy<u64, u64, E> for TowerRetries {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _req: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
        if result.is_err() && self.0 > 0 {
            self.0 -= 1;
            Some(std::future::ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
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

fn two_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// `n` calls of `call(i)` split over two OS threads, timed from before
/// the spawns to after both joins.
fn on_two_threads(n: u64, call: impl Fn(u64) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..n / 2 {
                    call(i);
                }
            });
        }
    });
    start.elapsed()
}

/// `n` calls of `call(i)` split over two OS threads, each looping on a
/// current-thread runtime of its own, timed from before the spawns to
/// after both joins.
fn on_own_runtimes<F, Fut, T>(runtimes: &[tokio::runtime::Runtime; 2], n: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Sync,
    Fut: Future<Output = T>,
{
    let start = Instant::now();
    std::thread::scope(|s| {
        for runtime in runtimes {
            let call = &call;
            s.spawn(move || {
                runtime.block_on(async {
                    for i in 0..n / 2 {
                        black_box(call(i).await);
                    }
                });
            });
        }
    });
    start.elapsed()
}

/// Two tasks spawned on `runtime`, each `task(shared, n / 2)`, timed from
/// before the spawns to after both joins.
fn run_two_tasks<S, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    n: u64,
    shared: &Arc<S>,
    task: F,
) -> Duration
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    runtime.block_on(async {
        let start = Instant::now();
        let tasks = [(), ()].map(|()| tokio::spawn(task(Arc::clone(shared), n / 2)));
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

fn retry_success(c: &mut Criterion) {
    let rt = runtime();
    let policy = RetryPolicy::new();
    let backoff = backon::ExponentialBuilder::default().with_jitter();
    let tower_retry = tower::retry::Retry::new(TowerRetries(2), tower::service_fn(direct));
    // 3 attempts in all (2 retries), exponential from 100 ms, as #[retry].
    let tower_resilience_retry = RetryLayer::<u64, u64, Error>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(100))
        .build()
        .layer(tower::service_fn(direct));
    let mut group = c.benchmark_group("retry success");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("resilient #[retry]", |b| {
        b.iter_custom(|n| run(&rt, n, with_retry))
    });
    group.bench_function("resilient #[retry] with a budget", |b| {
        b.iter_custom(|n| run(&rt, n, with_retry_budget))
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
    group.bench_function("tower::retry", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_retry.clone().oneshot(i)))
    });
    group.bench_function("tower-resilience retry", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_resilience_retry.clone().oneshot(i)))
    });
    group.finish();
}

/// tokio-retry2 as its users write it, around `op`: 2 retries,
/// exponential from 100 ms with jitter (never used on success).
fn tokio_retry2<Op, Fut>(op: Op) -> impl Future<Output = Result<u64, Error>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, tokio_retry2::RetryError<Error>>>,
{
    let strategy = tokio_retry2::strategy::ExponentialBackoff::from_millis(100)
        .map(tokio_retry2::strategy::jitter)
        .take(2);
    tokio_retry2::Retry::spawn(strategy, op)
}

fn inlinable_body(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("inlinable body");
    group.bench_function("plain fn", |b| b.iter_custom(|n| run(&rt, n, plain)));
    group.bench_function("#[retry]", |b| b.iter_custom(|n| run(&rt, n, plain_retry)));
    group.bench_function("#[retry] with a budget", |b| {
        b.iter_custom(|n| run(&rt, n, plain_retry_budget))
    });
    group.bench_function("#[circuit_breaker(key = host)] closed", |b| {
        b.iter_custom(|n| run(&rt, n, plain_keyed_call))
    });
    group.bench_function("#[bulkhead] with room", |b| {
        b.iter_custom(|n| run(&rt, n, plain_bulkhead))
    });
    group.bench_function("#[hedge], first attempt answers", |b| {
        b.iter_custom(|n| run(&rt, n, plain_hedge))
    });
    group.bench_function("#[circuit_breaker] closed", |b| {
        b.iter_custom(|n| run(&rt, n, plain_breaker))
    });
    group.bench_function("fallback+retry+breaker", |b| {
        b.iter_custom(|n| run(&rt, n, plain_stack))
    });
    group.bench_function("tokio-retry2, inlined op", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |i| {
                tokio_retry2(move || async move {
                    Ok::<_, tokio_retry2::RetryError<Error>>(black_box(i))
                })
            })
        })
    });
    group.bench_function("tokio-retry2 around the plain fn", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |i| {
                tokio_retry2(move || async move {
                    plain(i).await.map_err(tokio_retry2::RetryError::transient)
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
    // Trips after 5 failures in a row, as CONSECUTIVE.
    let tower_resilience = CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .build()
        .unwrap()
        .layer(tower::service_fn(direct));
    // The default: failure rate 0.5 over a count-based window of 100.
    let tower_resilience_rate = CircuitBreakerLayer::builder()
        .build()
        .unwrap()
        .layer(tower::service_fn(direct));
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
    group.bench_function("resilient keyed, 4 hosts", |b| {
        b.iter_custom(|n| run(&rt, n, keyed_call))
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| run(&rt, n, |i| failsafe.call(direct(i))))
    });
    group.bench_function("recloser", |b| {
        b.iter_custom(|n| run(&rt, n, |i| recloser.call(direct(i))))
    });
    group.bench_function("tower-resilience consecutive", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_resilience.clone().oneshot(i)))
    });
    group.bench_function("tower-resilience failure rate", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_resilience_rate.clone().oneshot(i)))
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
    // One circuit shared by every service the layer makes (the handle's
    // doing): a failing service trips it, and the `direct` service measured
    // below sees it open.
    let (layer, handle) = CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build_with_handle()
        .unwrap();
    let failing = layer.layer(tower::service_fn(|_: u64| async { Err::<u64, _>(Error) }));
    let _ = rt.block_on(failing.oneshot(0));
    assert!(handle.is_open());
    let tower_resilience = layer.layer(tower::service_fn(direct));
    assert!(matches!(
        rt.block_on(tower_resilience.clone().oneshot(0)),
        Err(tower_resilience::circuitbreaker::CircuitBreakerError::OpenCircuit)
    ));
    let mut group = c.benchmark_group("breaker open rejection");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    // The project's target for a rejection is "one clock read + 10 ns".
    group.bench_function("one clock read (tokio Instant::now)", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |_| async {
                Ok::<_, Error>(black_box(tokio::time::Instant::now()))
            })
        })
    });
    group.bench_function("resilient", |b| {
        b.iter_custom(|n| run(&rt, n, through_open_breaker))
    });
    group.bench_function("resilient CircuitBreaker::call", |b| {
        b.iter_custom(|n| run(&rt, n, |i| OPEN.call(direct(i))))
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| run(&rt, n, |i| failsafe.call(direct(i))))
    });
    group.bench_function("recloser", |b| {
        b.iter_custom(|n| run(&rt, n, |i| recloser.call(direct(i))))
    });
    group.bench_function("tower-resilience", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_resilience.clone().oneshot(i)))
    });
    group.finish();
}

/// Calls per second on one breaker shared by two OS threads (the
/// permit API and the peers' sync `call`: no runtime in the way), then by
/// two tasks on a two-worker runtime (`CircuitBreaker::call`).
fn contended(c: &mut Criterion) {
    let breaker = Arc::new(CircuitBreaker::builder().name("bench-contended").build());
    let failsafe = failsafe::Config::new().build();
    let recloser = recloser::Recloser::default();
    let mt = two_worker_runtime();
    let mut group = c.benchmark_group("two threads, one breaker");
    group.bench_function("direct", |b| {
        b.iter_custom(|n| {
            on_two_threads(n, |i| {
                black_box(direct_sync(i).ok());
            })
        })
    });
    group.bench_function("resilient consecutive", |b| {
        b.iter_custom(|n| {
            on_two_threads(n, |i| {
                if let Ok(permit) = breaker.acquire() {
                    let out = direct_sync(i);
                    permit.record(out.is_err());
                    black_box(out.ok());
                }
            })
        })
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| {
            on_two_threads(n, |i| {
                black_box(failsafe::CircuitBreaker::call(&failsafe, || direct_sync(i)).ok());
            })
        })
    });
    group.bench_function("recloser", |b| {
        b.iter_custom(|n| {
            on_two_threads(n, |i| {
                black_box(recloser.call(|| direct_sync(i)).ok());
            })
        })
    });
    // Two OS threads, each with a current-thread runtime of its own,
    // calling one `#[circuit_breaker(shared = ..)]` function: how a
    // thread-per-core server calls it.
    let own_runtimes = [runtime(), runtime()];
    group.bench_function("direct, own runtimes", |b| {
        b.iter_custom(|n| on_own_runtimes(&own_runtimes, n, plain))
    });
    group.bench_function("#[circuit_breaker], own runtimes", |b| {
        b.iter_custom(|n| on_own_runtimes(&own_runtimes, n, plain_breaker))
    });
    // The other shared words a success writes: a budget's deposit slot, a
    // bulkhead's semaphore (its lock on the way out), a rate limiter's
    // arrival time, each one word both threads write.
    group.bench_function("#[retry] with a budget, own runtimes", |b| {
        b.iter_custom(|n| on_own_runtimes(&own_runtimes, n, plain_retry_budget))
    });
    group.bench_function("#[bulkhead], own runtimes", |b| {
        b.iter_custom(|n| on_own_runtimes(&own_runtimes, n, plain_bulkhead))
    });
    group.bench_function("#[rate_limit], own runtimes", |b| {
        b.iter_custom(|n| on_own_runtimes(&own_runtimes, n, with_rate_limit))
    });
    group.bench_function("direct, two-worker runtime", |b| {
        b.iter_custom(|n| {
            run_two_tasks(&mt, n, &breaker, |_, n| async move {
                for i in 0..n {
                    black_box(direct(i).await.ok());
                }
            })
        })
    });
    group.bench_function("resilient CircuitBreaker::call, two-worker runtime", |b| {
        b.iter_custom(|n| {
            run_two_tasks(&mt, n, &breaker, |breaker, n| async move {
                for i in 0..n {
                    black_box(breaker.call(direct(i)).await.ok());
                }
            })
        })
    });
    group.finish();
}

#[inline(never)]
fn direct_sync(x: u64) -> Result<u64, Error> {
    Ok(black_box(x))
}

use std::future::IntoFuture as _;

/// A bulkhead with room, beside tower's concurrency limit (the peer with
/// the same job) over the same body.
fn bulkhead_room(c: &mut Criterion) {
    let rt = runtime();
    let tower_limit = tower::limit::ConcurrencyLimitLayer::new(64).layer(tower::service_fn(direct));
    let mut group = c.benchmark_group("bulkhead with room");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("resilient #[bulkhead]", |b| {
        b.iter_custom(|n| run(&rt, n, with_bulkhead))
    });
    group.bench_function("resilient Bulkhead::call", |b| {
        b.iter_custom(|n| run(&rt, n, |i| ROOMY.call(direct(i))))
    });
    group.bench_function("tower ConcurrencyLimit", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_limit.clone().oneshot(i)))
    });
    group.finish();
}

/// tower's hedge policy for `u64` requests: every request may be sent
/// twice.
#[derive(Clone)]
struct HedgeAll;

impl tower::hedge::Policy<u64> for HedgeAll {
    fn clone_request(&self, req: &u64) -> Option<u64> {
        Some(*req)
    }
    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

/// A hedge whose first attempt answers, beside tower's hedge (the peer
/// with the same job; it records every call's latency in a histogram to
/// pick its delay), over a body that answers at its first poll and over
/// one that yields once first, as a remote call does.
fn hedge_first_answers(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("hedge, first attempt answers");
    group.bench_function("direct", |b| b.iter_custom(|n| run(&rt, n, direct)));
    group.bench_function("resilient #[hedge]", |b| {
        b.iter_custom(|n| run(&rt, n, with_hedge))
    });
    let mut service = tower_hedge(tower::service_fn(direct));
    group.bench_function("tower Hedge", |b| {
        b.iter_custom(|n| run_service(&rt, n, &mut service))
    });
    group.bench_function("direct, yielding", |b| {
        b.iter_custom(|n| run(&rt, n, yielding))
    });
    group.bench_function("resilient #[hedge], yielding", |b| {
        b.iter_custom(|n| run(&rt, n, with_hedge_yielding))
    });
    let mut service = tower_hedge(tower::service_fn(yielding));
    group.bench_function("tower Hedge, yielding", |b| {
        b.iter_custom(|n| run_service(&rt, n, &mut service))
    });
    group.finish();
}

/// tower's hedge as its docs set it up: a copy after the 95th percentile
/// of the last 10 s, once 10 latencies are known.
fn tower_hedge<S>(service: S) -> tower::hedge::Hedge<S, HedgeAll>
where
    S: tower::Service<u64> + Clone,
    S::Error: Into<tower::BoxError>,
{
    tower::hedge::Hedge::new::<u64>(service, HedgeAll, 10, 0.95, Duration::from_secs(10))
}

/// `n` calls of a service that is not `Clone`, each after `ready`.
fn run_service<S>(runtime: &tokio::runtime::Runtime, n: u64, service: &mut S) -> Duration
where
    S: tower::Service<u64>,
{
    runtime.block_on(async {
        let start = Instant::now();
        for i in 0..n {
            let Ok(ready) = service.ready().await else {
                panic!("the service failed")
            };
            black_box(ready.call(i).await.is_ok());
        }
        start.elapsed()
    })
}

/// The tower layers beside tower's own over the same service, a call that
/// goes through: resilient's breaker layer (and tower-resilience's),
/// bulkhead layer against tower's concurrency limit, timeout layer
/// against tower's timeout, and the whole stack.
fn tower_layers(c: &mut Criterion) {
    use resilient::tower as rt_tower;
    let rt = runtime();
    let plain = tower::service_fn(direct);
    let breaker = rt_tower::CircuitBreakerLayer::new(&TOWER_BREAKER).layer(plain);
    let tower_resilience = CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .build()
        .unwrap()
        .layer(plain);
    let bulkhead = rt_tower::BulkheadLayer::new(&TOWER_BULKHEAD).layer(plain);
    let limit = tower::limit::ConcurrencyLimitLayer::new(64).layer(plain);
    let timeout = rt_tower::TimeoutLayer::new(Duration::from_secs(2)).layer(plain);
    let tower_timeout = tower::timeout::TimeoutLayer::new(Duration::from_secs(2)).layer(plain);
    let stack = tower::ServiceBuilder::new()
        .layer(rt_tower::RetryLayer::new(resilient::RetryPolicy::new()).classify(rt_tower::BoxedErrors))
        .layer(rt_tower::CircuitBreakerLayer::new(&TOWER_BREAKER))
        .layer(rt_tower::TimeoutLayer::new(Duration::from_secs(2)))
        .service(plain);
    let mut group = c.benchmark_group("tower layers, call goes through");
    group.bench_function("service_fn", |b| {
        b.iter_custom(|n| run(&rt, n, |i| plain.oneshot(i)))
    });
    group.bench_function("resilient CircuitBreakerLayer", |b| {
        b.iter_custom(|n| run(&rt, n, |i| breaker.clone().oneshot(i)))
    });
    group.bench_function("tower-resilience circuit breaker", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_resilience.clone().oneshot(i)))
    });
    group.bench_function("resilient BulkheadLayer", |b| {
        b.iter_custom(|n| run(&rt, n, |i| bulkhead.clone().oneshot(i)))
    });
    group.bench_function("tower ConcurrencyLimit", |b| {
        b.iter_custom(|n| run(&rt, n, |i| limit.clone().oneshot(i)))
    });
    group.bench_function("resilient TimeoutLayer", |b| {
        b.iter_custom(|n| run(&rt, n, |i| timeout.clone().oneshot(i)))
    });
    group.bench_function("tower Timeout", |b| {
        b.iter_custom(|n| run(&rt, n, |i| tower_timeout.clone().oneshot(i)))
    });
    group.bench_function("resilient retry+breaker+timeout layers", |b| {
        b.iter_custom(|n| run(&rt, n, |i| stack.clone().oneshot(i)))
    });
    group.finish();
}

static TOWER_BREAKER: resilient::CircuitBreaker =
    resilient::CircuitBreaker::builder().name("bench-tower").build();
static TOWER_BULKHEAD: resilient::Bulkhead = resilient::Bulkhead::builder()
    .name("bench-tower")
    .max(64)
    .build();

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = inlinable_body, retry_success, stacks, breaker_closed, breaker_open, bulkhead_room, hedge_first_answers, tower_layers, contended
}
criterion_main!(benches);
