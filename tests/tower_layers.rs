//! Feature `tower`: the layers over the same runtime objects as the
//! attributes, with plain `service_fn`s and an axum `Router`, through
//! `tower::ServiceExt`. Paused time, exact counts.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Query;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use resilient::tower::{
    BoxError, BoxedErrors, BulkheadLayer, CircuitBreakerLayer, RateLimitLayer, RetryLayer,
    TimeoutLayer,
};
use resilient::{
    Backoff, Bulkhead, BulkheadFull, CircuitBreaker, CircuitOpen, CircuitState, Elapsed, Jitter,
    RateLimited, RateLimiter, RetryBudget, RetryHint, RetryPolicy, circuit_breaker, registry,
};
use tokio::time::{Instant, sleep};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Debug)]
struct Down;

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("down")
    }
}

impl std::error::Error for Down {}

impl From<CircuitOpen> for Down {
    fn from(_: CircuitOpen) -> Self {
        Down
    }
}

impl RetryHint for Down {}

static SHARED: CircuitBreaker = CircuitBreaker::builder()
    .name("tower-shared")
    .failures(2)
    .reset(Duration::from_secs(30))
    .build();

#[circuit_breaker(shared = SHARED)]
async fn attributed(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down) } else { Ok(1) }
}

#[derive(serde::Deserialize)]
struct Fail {
    fail: bool,
}

/// The route answers 500 when asked to fail; the breaker counts a `5xx`
/// as a failure, and an open breaker's refusal becomes a 503.
fn router() -> Router {
    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|err: BoxError| async move {
            let status = if err.is::<CircuitOpen>() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, err.to_string())
        }))
        .layer(CircuitBreakerLayer::new(&SHARED).classify(
            |result: &Result<Response, Infallible>| {
                result
                    .as_ref()
                    .is_ok_and(|response| response.status().is_server_error())
            },
        ));
    Router::new()
        .route(
            "/work",
            get(|Query(q): Query<Fail>| async move {
                if q.fail {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                } else {
                    "done".into_response()
                }
            }),
        )
        .route_layer(guard)
}

async fn get_work(router: &Router, fail: bool) -> StatusCode {
    router
        .clone()
        .oneshot(
            Request::get(format!("/work?fail={fail}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
        .status()
}

/// One `static` breaker guards an attributed function and an axum route:
/// a failure through each opens it, both are then refused, and the
/// registry lists one breaker.
#[tokio::test(start_paused = true)]
async fn tower_a_static_breaker_guards_a_function_and_an_axum_route() {
    let router = router();
    assert_eq!(get_work(&router, false).await, StatusCode::OK);
    assert_eq!(
        get_work(&router, true).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(SHARED.state(), CircuitState::Closed);
    assert!(attributed(true).await.is_err());
    assert_eq!(SHARED.state(), CircuitState::Open, "one failure each");
    assert_eq!(
        get_work(&router, false).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(attributed(false).await.is_err(), "refused too");
    let listed = registry::all()
        .iter()
        .filter(|b| b.name().as_str() == "tower-shared")
        .count();
    assert_eq!(listed, 1);
    SHARED.reset();
    assert_eq!(get_work(&router, false).await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn tower_a_breaker_over_a_service_fn_counts_errors_and_refuses() {
    let breaker = std::sync::Arc::new(
        CircuitBreaker::builder()
            .name("tower-arc")
            .failures(1)
            .build(),
    );
    let calls = AtomicU32::new(0);
    let service = CircuitBreakerLayer::new(&breaker).layer(service_fn(|fail: bool| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { if fail { Err(Down) } else { Ok(7) } }
    }));
    assert_eq!(service.clone().oneshot(false).await.unwrap(), 7);
    let err = service.clone().oneshot(true).await.unwrap_err();
    assert!(err.is::<Down>(), "the service's own error, boxed");
    let err = service.clone().oneshot(false).await.unwrap_err();
    let open = err.downcast_ref::<CircuitOpen>().unwrap();
    assert_eq!(open.name().as_str(), "tower-arc");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the refused call never ran"
    );
}

/// A response future dropped before it ends counts as nothing (the
/// breaker's default `on_cancel`): a half-open trial is given back.
#[tokio::test(start_paused = true)]
async fn tower_a_dropped_call_gives_its_trial_back() {
    let breaker = std::sync::Arc::new(
        CircuitBreaker::builder()
            .name("tower-trial")
            .failures(1)
            .reset(Duration::from_secs(1))
            .build(),
    );
    let mut service = CircuitBreakerLayer::new(&breaker).layer(service_fn(|(): ()| async {
        sleep(Duration::from_secs(10)).await;
        Ok::<_, Down>(())
    }));
    // Open it, wait out the reset: the next call is the trial.
    breaker.acquire().unwrap().failure();
    sleep(Duration::from_secs(1)).await;
    let trial = service.ready().await.unwrap().call(());
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert!(breaker.acquire().is_err(), "the trial is taken");
    drop(trial);
    assert!(breaker.acquire().is_ok(), "given back");
}

#[tokio::test(start_paused = true)]
async fn tower_a_timeout_cuts_a_hung_call_off() {
    let service =
        TimeoutLayer::new(Duration::from_millis(200)).layer(service_fn(|ms: u64| async move {
            sleep(Duration::from_millis(ms)).await;
            Ok::<_, Down>(ms)
        }));
    assert_eq!(service.clone().oneshot(100).await.unwrap(), 100);
    let start = Instant::now();
    let err = service.oneshot(1000).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}

/// At most one call at once: a second waits its turn within `wait`, a
/// third past it is turned away; places come back however calls end.
#[tokio::test(start_paused = true)]
async fn tower_a_bulkhead_waits_within_wait_then_turns_away() {
    let bulkhead = std::sync::Arc::new(
        Bulkhead::builder()
            .name("tower-bulkhead")
            .max(1)
            .wait(Duration::from_millis(100))
            .build(),
    );
    let service = BulkheadLayer::new(&bulkhead).layer(service_fn(|ms: u64| async move {
        sleep(Duration::from_millis(ms)).await;
        Ok::<_, Down>(ms)
    }));
    let start = Instant::now();
    let (first, second) = tokio::join!(service.clone().oneshot(50), async {
        sleep(Duration::from_millis(1)).await;
        let out = service.clone().oneshot(10).await;
        (out, start.elapsed())
    });
    assert_eq!(first.unwrap(), 50);
    assert_eq!(second.0.unwrap(), 10);
    assert_eq!(
        second.1,
        Duration::from_millis(60),
        "waited for the first, then ran"
    );

    let (first, second) = tokio::join!(service.clone().oneshot(500), async {
        sleep(Duration::from_millis(1)).await;
        service.clone().oneshot(10).await
    });
    assert_eq!(first.unwrap(), 500);
    let full = second.unwrap_err();
    assert_eq!(
        full.downcast_ref::<BulkheadFull>().unwrap().waited(),
        Duration::from_millis(100)
    );
    assert_eq!(bulkhead.running(), 0, "every place back");

    // A call dropped mid-way gives its place back.
    let mut ready = service.clone();
    let call = ready.ready().await.unwrap().call(10_000);
    assert_eq!(bulkhead.running(), 1);
    drop(call);
    assert_eq!(bulkhead.running(), 0);
    // A clone made ready and dropped without a call gives it back too.
    let mut idle = service.clone();
    idle.ready().await.unwrap();
    assert_eq!(bulkhead.running(), 1);
    drop(idle);
    assert_eq!(bulkhead.running(), 0);
}

/// A `429`'s `Retry-After`, read by `pause_on`, pauses the limiter: the
/// next call is refused at once without reaching the service.
#[tokio::test(start_paused = true)]
async fn tower_a_rate_limit_is_paused_by_a_retry_after() {
    static LIMITER: RateLimiter = RateLimiter::builder().name("tower-rate").rate(100).build();
    let calls = AtomicU32::new(0);
    let service = RateLimitLayer::new(&LIMITER)
        .pause_on(|result: &Result<Response, Infallible>| {
            let response = result.as_ref().ok()?;
            (response.status() == StatusCode::TOO_MANY_REQUESTS)
                .then(|| resilient::retry_after::from_headers(response.headers()))
                .flatten()
        })
        .layer(service_fn(|(): ()| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, Infallible>(if n == 0 {
                    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "30")]).into_response()
                } else {
                    "fine".into_response()
                })
            }
        }));
    let first = service.clone().oneshot(()).await.unwrap();
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = service.clone().oneshot(()).await.unwrap_err();
    let limited = refused.downcast_ref::<RateLimited>().unwrap();
    assert!(limited.is_paused());
    assert_eq!(limited.retry_after(), Duration::from_secs(30));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not called while paused");
    sleep(Duration::from_secs(30)).await;
    assert_eq!(service.oneshot(()).await.unwrap().status(), StatusCode::OK);
}

/// Over the limit, readiness waits for a reserved slot within `wait`.
#[tokio::test(start_paused = true)]
async fn tower_a_rate_limit_waits_for_its_slot_within_wait() {
    static EVERY_100MS: RateLimiter = RateLimiter::builder()
        .name("tower-rate-wait")
        .rate(10)
        .burst(1)
        .wait(Duration::from_millis(150))
        .build();
    let service = RateLimitLayer::new(&EVERY_100MS)
        .layer(service_fn(|n: u32| async move { Ok::<_, Down>(n) }));
    let start = Instant::now();
    assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
    assert_eq!(service.clone().oneshot(2).await.unwrap(), 2);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100),
        "waited for its slot"
    );
    // Two more at once: the second's slot is 200 ms out, past `wait`.
    let (a, b) = tokio::join!(service.clone().oneshot(3), service.clone().oneshot(4));
    assert!(a.is_ok());
    assert!(b.unwrap_err().is::<RateLimited>());
}

const POLICY: RetryPolicy = RetryPolicy::builder()
    .attempts(3)
    .backoff(Backoff::fixed(Duration::from_millis(100)))
    .jitter(Jitter::None)
    .max_retry_after(Duration::from_secs(5))
    .build();

#[derive(Clone, Debug)]
struct Hinted(Option<Duration>);

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hinted")
    }
}

impl RetryHint for Hinted {
    fn retry_after(&self) -> Option<Duration> {
        self.0
    }
}

/// The retry re-sends a cloned request after the backoff, or after the
/// error's `Retry-After`, and returns the first success.
#[tokio::test(start_paused = true)]
async fn tower_a_retry_follows_backoff_and_retry_after() {
    let calls = AtomicU32::new(0);
    let service = RetryLayer::new(POLICY).layer(service_fn(|req: String| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => Err(Hinted(None)),
                1 => Err(Hinted(Some(Duration::from_secs(2)))),
                _ => Ok(format!("{req}#{n}")),
            }
        }
    }));
    let start = Instant::now();
    assert_eq!(service.oneshot("req".to_owned()).await.unwrap(), "req#2");
    assert_eq!(start.elapsed(), Duration::from_millis(2100));
}

/// Above a breaker layer, with `BoxedErrors`: after the failure that opens
/// the breaker, the retry sleeps its backoff, and the open breaker's wait
/// (60 s, past `max_retry_after`) then stops it with the rejection, with
/// no 60 s sleep.
#[tokio::test(start_paused = true)]
async fn tower_a_retry_over_a_breaker_stops_at_an_open_breaker() {
    let breaker = std::sync::Arc::new(
        CircuitBreaker::builder()
            .name("tower-retry-breaker")
            .failures(1)
            .reset(Duration::from_secs(60))
            .build(),
    );
    let calls = AtomicU32::new(0);
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(POLICY).classify(BoxedErrors))
        .layer(CircuitBreakerLayer::new(&breaker))
        .service(service_fn(|(): ()| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(Down) }
        }));
    let start = Instant::now();
    let err = service.oneshot(()).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100),
        "one backoff, no 60 s sleep"
    );
}

/// A retry budget with nothing earned and no reserve allows no retry.
#[tokio::test(start_paused = true)]
async fn tower_a_retry_budget_limits_retries() {
    static EMPTY: RetryBudget = RetryBudget::builder().min_per_sec(0).ratio(0.1).build();
    let calls = AtomicU32::new(0);
    let service = RetryLayer::new(POLICY)
        .budget(&EMPTY)
        .layer(service_fn(|(): ()| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(Hinted(None)) }
        }));
    assert!(service.oneshot(()).await.is_err());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the budget refused the retry"
    );
}

/// The bulkhead and rate-limit layers in an axum router (which needs
/// `Sync` services), with a breaker above them: a call the bulkhead turns
/// away is a 503 and counts nothing against the breaker.
#[tokio::test(start_paused = true)]
async fn tower_bulkhead_and_rate_limit_layers_in_an_axum_router() {
    static ONE: Bulkhead = Bulkhead::builder()
        .name("tower-axum-bulkhead")
        .max(1)
        .build();
    static RATE: RateLimiter = RateLimiter::builder()
        .name("tower-axum-rate")
        .rate(1000)
        .build();
    static STRICT: CircuitBreaker = CircuitBreaker::builder()
        .name("tower-axum-breaker")
        .failures(1)
        .build();
    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|err: BoxError| async move {
            (StatusCode::SERVICE_UNAVAILABLE, err.to_string())
        }))
        .layer(CircuitBreakerLayer::new(&STRICT))
        .layer(BulkheadLayer::new(&ONE))
        .layer(RateLimitLayer::new(&RATE));
    let router = Router::new()
        .route(
            "/slow",
            get(|| async {
                sleep(Duration::from_millis(100)).await;
                "done"
            }),
        )
        .route_layer(guard);
    let call = || {
        router.clone().oneshot(
            Request::get("/slow")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
    };
    let (first, second) = tokio::join!(call(), async {
        sleep(Duration::from_millis(10)).await;
        call().await
    });
    assert_eq!(first.unwrap().status(), StatusCode::OK);
    assert_eq!(second.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        STRICT.state(),
        CircuitState::Closed,
        "a full bulkhead is not a failure"
    );
}

/// The breaker is asked before the layers below reserve anything: while
/// it is open, a bulkhead below keeps its places free.
#[tokio::test(start_paused = true)]
async fn tower_an_open_breaker_reserves_nothing_below() {
    static BELOW: Bulkhead = Bulkhead::builder().name("tower-below").max(1).build();
    static SHUT: CircuitBreaker = CircuitBreaker::builder().name("tower-shut").build();
    SHUT.force_open();
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(&SHUT))
        .layer(BulkheadLayer::new(&BELOW))
        .service(service_fn(|(): ()| async { Ok::<_, Down>(()) }));
    service.ready().await.unwrap();
    assert_eq!(BELOW.running(), 0, "no place taken for a refused call");
    let err = service.call(()).await.unwrap_err();
    assert!(err.is::<CircuitOpen>());
    SHUT.reset();
}

/// A `static` breaker used only through the layer is listed in the
/// registry when the layer is made.
#[test]
fn tower_a_static_breaker_of_a_layer_is_listed() {
    static ONLY_TOWER: CircuitBreaker = CircuitBreaker::builder().name("tower-only").build();
    let _layer = CircuitBreakerLayer::new(&ONLY_TOWER);
    assert!(registry::get("tower-only").is_some());
}
