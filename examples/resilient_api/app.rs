//! The demo's two servers, shared by `main.rs` and the end-to-end test:
//! a deliberately flaky **upstream**, and the **API** in front of it that
//! stays up while the upstream fails.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use resilient::reqwest::{HttpError, ResponseExt};
use resilient::{
    Backoff, Bulkhead, BulkheadBuilder, CircuitState, Jitter, KeyedBreaker, RateLimiter,
    RateLimiterBuilder, RetryBudget, RetryBudgetBuilder, RetryPolicy, bulkhead, circuit_breaker,
    fallback, hedge, rate_limit, registry, retry, timeout,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

// ---------------------------------------------------------------------------
// The flaky upstream: what a real dependency does on a bad day.
// ---------------------------------------------------------------------------

/// The upstream's knobs, changeable while it runs (`/admin/*` routes).
#[derive(Debug, Default)]
pub(crate) struct Upstream {
    /// Share of requests that fail with `503`, in thousandths.
    failure_per_mille: AtomicU32,
    /// Added latency per request.
    latency_ms: AtomicU64,
    /// Answer everything with `503`.
    down: AtomicBool,
    /// Fail the next N requests with `503` (for a predictable demo).
    fail_next: AtomicU32,
    /// Answer `429 Too Many Requests` with this `Retry-After`.
    rate_limit: Mutex<Option<RateLimit>>,
    /// Requests served at once, as by a server with that many workers;
    /// the rest queue for one (`None`: no limit).
    capacity: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// Share of requests, in thousandths, that take `tail_ms` longer: a
    /// slow replica, a pause, a lost packet.
    tail_per_mille: AtomicU32,
    tail_ms: AtomicU64,
    /// Requests served (including failed ones): the retry amplification.
    hits: AtomicU64,
    /// A tiny xorshift state for the failures: no RNG crate needed here.
    seed: AtomicU64,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) struct RateLimit {
    /// The `Retry-After`, in seconds.
    pub(crate) seconds: u64,
    /// Send it as an HTTP-date rather than delay-seconds.
    #[serde(default)]
    pub(crate) date: bool,
}

impl Upstream {
    pub(crate) fn new(failure_rate: f64, latency: Duration) -> Arc<Self> {
        let upstream = Self::default();
        upstream.set_failure_rate(failure_rate);
        upstream
            .latency_ms
            .store(millis(latency), Ordering::Relaxed);
        upstream
            .seed
            .store(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        Arc::new(upstream)
    }

    pub(crate) fn set_failure_rate(&self, rate: f64) {
        self.failure_per_mille
            .store(per_mille(rate), Ordering::Relaxed);
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(millis(latency), Ordering::Relaxed);
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }

    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *self
            .rate_limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = limit;
    }

    /// At most `workers` requests served at once (`0`: no limit).
    pub(crate) fn set_capacity(&self, workers: usize) {
        let semaphore = (workers > 0).then(|| Arc::new(tokio::sync::Semaphore::new(workers)));
        *self
            .capacity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = semaphore;
    }

    /// `rate` of the requests take `extra` longer.
    pub(crate) fn set_tail(&self, rate: f64, extra: Duration) {
        self.tail_per_mille
            .store(per_mille(rate), Ordering::Relaxed);
        self.tail_ms.store(millis(extra), Ordering::Relaxed);
    }

    pub(crate) fn fail_next(&self, count: u32) {
        self.fail_next.store(count, Ordering::Relaxed);
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Fails this request? Draws from the xorshift state.
    fn unlucky(&self) -> bool {
        self.draw(self.failure_per_mille.load(Ordering::Relaxed))
    }

    /// `true` for `per_mille` thousandths of the draws.
    fn draw(&self, per_mille: u32) -> bool {
        if per_mille == 0 {
            return false;
        }
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        x % 1000 < u64::from(per_mille)
    }
}

fn per_mille(rate: f64) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_mille = (rate.clamp(0.0, 1.0) * 1000.0).round() as u32;
    per_mille
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn upstream_router(upstream: Arc<Upstream>) -> Router {
    Router::new()
        .route("/data", get(upstream_data))
        .route("/admin/fail", post(admin_fail))
        .route("/admin/fail-next", post(admin_fail_next))
        .route("/admin/latency", post(admin_latency))
        .route("/admin/down", post(admin_down))
        .route("/admin/rate-limit", post(admin_rate_limit))
        .route("/admin/capacity", post(admin_capacity))
        .route("/admin/tail", post(admin_tail))
        .route("/admin/stats", get(admin_stats))
        .with_state(upstream)
}

async fn upstream_data(State(up): State<Arc<Upstream>>) -> Response {
    let hit = up.hits.fetch_add(1, Ordering::Relaxed) + 1;
    let workers = up
        .capacity
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    // Held while the request is served: the others wait their turn.
    let _worker = match workers {
        Some(workers) => workers.acquire_owned().await.ok(),
        None => None,
    };
    let mut latency = up.latency_ms.load(Ordering::Relaxed);
    if up.draw(up.tail_per_mille.load(Ordering::Relaxed)) {
        latency += up.tail_ms.load(Ordering::Relaxed);
    }
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if up.down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream is down").into_response();
    }
    let limit = *up
        .rate_limit
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(limit) = limit {
        let value = if limit.date {
            httpdate_after(limit.seconds)
        } else {
            limit.seconds.to_string()
        };
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::RETRY_AFTER, value);
        }
        return (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response();
    }
    let forced = up
        .fail_next
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if forced || up.unlucky() {
        return (StatusCode::SERVICE_UNAVAILABLE, "transient failure").into_response();
    }
    Json(Data {
        message: String::from("Fresh data from upstream."),
        hit: Some(hit),
    })
    .into_response()
}

/// An IMF-fixdate `seconds` from now (the format RFC 9110 prefers).
fn httpdate_after(seconds: u64) -> String {
    httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(seconds))
}

#[derive(Deserialize)]
struct Rate {
    rate: f64,
}

#[derive(Deserialize)]
struct Millis {
    ms: u64,
}

#[derive(Deserialize)]
struct Switch {
    on: bool,
}

#[derive(Deserialize)]
struct MaybeLimit {
    seconds: Option<u64>,
    #[serde(default)]
    date: bool,
}

async fn admin_fail(State(up): State<Arc<Upstream>>, Query(q): Query<Rate>) -> &'static str {
    up.set_failure_rate(q.rate);
    "ok"
}

#[derive(Deserialize)]
struct Count {
    count: u32,
}

async fn admin_fail_next(State(up): State<Arc<Upstream>>, Query(q): Query<Count>) -> &'static str {
    up.fail_next(q.count);
    "ok"
}

async fn admin_latency(State(up): State<Arc<Upstream>>, Query(q): Query<Millis>) -> &'static str {
    up.set_latency(Duration::from_millis(q.ms));
    "ok"
}

async fn admin_down(State(up): State<Arc<Upstream>>, Query(q): Query<Switch>) -> &'static str {
    up.set_down(q.on);
    "ok"
}

async fn admin_rate_limit(
    State(up): State<Arc<Upstream>>,
    Query(q): Query<MaybeLimit>,
) -> &'static str {
    up.set_rate_limit(q.seconds.map(|seconds| RateLimit {
        seconds,
        date: q.date,
    }));
    "ok"
}

#[derive(Deserialize)]
struct Workers {
    workers: usize,
}

async fn admin_capacity(State(up): State<Arc<Upstream>>, Query(q): Query<Workers>) -> &'static str {
    up.set_capacity(q.workers);
    "ok"
}

#[derive(Deserialize)]
struct Tail {
    rate: f64,
    ms: u64,
}

async fn admin_tail(State(up): State<Arc<Upstream>>, Query(q): Query<Tail>) -> &'static str {
    up.set_tail(q.rate, Duration::from_millis(q.ms));
    "ok"
}

async fn admin_stats(State(up): State<Arc<Upstream>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "hits": up.hits() }))
}

// ---------------------------------------------------------------------------
// The API: one plain attempt per function, the attributes do the rest.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Data {
    pub(crate) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hit: Option<u64>,
}

// Everything that can go wrong calling upstream is `resilient::reqwest::
// HttpError` (feature `reqwest`): a status with its `Retry-After`, a
// request that did not complete, and the layers' rejections. `429`, `502`,
// `503` and `504` are transient; only a `5xx`, a request that did not
// complete and a timeout count against the breaker
// (`HttpError::is_service_failure`).

/// How the API is tuned; the demo uses [`Settings::demo`], the test
/// shorter durations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// The breakers' name in the registry (and `/health`): one breaker
    /// per upstream host, listed as `name[host:port]`.
    pub(crate) name: &'static str,
    /// How calls to upstream are retried.
    pub(crate) retry: RetryPolicy,
    /// How many retries the API may add to its calls, all requests
    /// together: a share of the calls, so a failing upstream sees at most
    /// that much more load.
    pub(crate) budget: RetryBudgetBuilder,
    pub(crate) attempt_timeout: Duration,
    /// How many requests the API serves at once, and how long one beyond
    /// them waits: the rest are answered at once (default data or `503`)
    /// instead of piling up behind a slow upstream.
    pub(crate) handlers: BulkheadBuilder,
    /// How fast the API may call upstream, all hosts together; an
    /// upstream `429` with `Retry-After` pauses it for every request.
    pub(crate) upstream_rate: RateLimiterBuilder,
    /// How long an attempt runs before a copy of it is sent (a hedge),
    /// best near upstream's 95th-percentile latency; `Duration::MAX`
    /// never hedges.
    pub(crate) hedge_after: Duration,
    /// How many hedges the API may send, all requests together, as a
    /// share of its calls.
    pub(crate) hedges: RetryBudgetBuilder,
    pub(crate) breaker_failures: u32,
    pub(crate) breaker_reset: Duration,
    /// Called on every breaker state change (the chaos run counts them).
    pub(crate) on_state_change: Option<resilient::OnStateChange>,
}

impl Settings {
    pub(crate) const fn demo() -> Self {
        Self {
            name: "upstream",
            // What `#[retry(attempts = 3, backoff = exponential(initial =
            // "50ms", max = "1s"), jitter = full, max_retry_after = "2s")]`
            // would say, as data in the app's state: each test can bring its own.
            retry: RetryPolicy::builder()
                .attempts(3)
                .backoff(Backoff::exponential(
                    Duration::from_millis(50),
                    2.0,
                    Duration::from_secs(1),
                ))
                .jitter(Jitter::Full)
                .max_retry_after(Duration::from_secs(2))
                // Its metrics' `name` label.
                .name("upstream")
                .build(),
            // Finagle's and tower's defaults: 20 % of calls, 10 a second
            // whatever the traffic, counted over 10 s.
            budget: RetryBudget::builder(),
            attempt_timeout: Duration::from_secs(2),
            handlers: Bulkhead::builder()
                .name("api handlers")
                .max(64)
                .wait(Duration::from_millis(100)),
            upstream_rate: RateLimiter::builder()
                .name("upstream calls")
                .rate(500)
                .per(Duration::from_secs(1))
                .burst(100),
            // Upstream answers in a few milliseconds; one still running
            // after 50 ms is in its slow tail.
            hedge_after: Duration::from_millis(50),
            // A tenth of the calls may be hedged (and 10 a second).
            hedges: RetryBudget::builder().ratio(0.1),
            breaker_failures: 5,
            breaker_reset: Duration::from_secs(30),
            on_state_change: None,
        }
    }
}

/// The API's state: a client, the upstream hosts it balances over, and
/// one breaker per host (here, not in a `static`, so every test starts
/// fresh). A host whose breaker is open is skipped: the other hosts take
/// its requests until a trial call finds it back.
pub(crate) struct Api {
    client: reqwest::Client,
    /// `host:port` of each upstream replica.
    hosts: Vec<String>,
    next: AtomicUsize,
    breakers: Arc<KeyedBreaker>,
    handlers: Bulkhead,
    upstream_rate: RateLimiter,
    retry: RetryPolicy,
    budget: RetryBudget,
    attempt_timeout: Duration,
    hedge_after: Duration,
    hedges: RetryBudget,
    /// The fleet this instance shares its breakers with (`--redis`).
    fleet: std::sync::OnceLock<resilient::fleet::Fleet>,
}

impl Api {
    /// # Panics
    ///
    /// If `hosts` is empty, or `settings` hold an invalid breaker or
    /// budget configuration.
    pub(crate) fn new(hosts: Vec<String>, settings: &Settings) -> Arc<Self> {
        assert!(!hosts.is_empty(), "at least one upstream host");
        let mut builder = KeyedBreaker::builder()
            .name(settings.name)
            .failures(settings.breaker_failures)
            .reset(settings.breaker_reset);
        if let Some(hook) = settings.on_state_change {
            builder = builder.on_state_change(hook);
        }
        let breakers = Arc::new(builder.try_build().expect("valid breaker settings"));
        // Listed in `/health`, one line per host (a breaker the app owns
        // registers itself).
        registry::register_keyed(&breakers);
        Arc::new(Self {
            client: reqwest::Client::new(),
            hosts,
            next: AtomicUsize::new(0),
            breakers,
            handlers: settings
                .handlers
                .try_build()
                .expect("valid bulkhead settings"),
            upstream_rate: settings
                .upstream_rate
                .try_build()
                .expect("valid rate limit settings"),
            retry: settings.retry,
            budget: settings.budget.try_build().expect("valid budget settings"),
            attempt_timeout: settings.attempt_timeout,
            hedge_after: settings.hedge_after,
            hedges: settings
                .hedges
                .try_build()
                .expect("valid hedge budget settings"),
            fleet: std::sync::OnceLock::new(),
        })
    }

    /// Shares this instance's breakers with the fleet `fleet` describes:
    /// an operator's override reaches every instance, a quorum of
    /// instances seeing a host down opens its breaker everywhere, and one
    /// instance probes a host that recovers.
    pub(crate) fn join_fleet(&self, fleet: resilient::fleet::FleetBuilder) -> Result<(), String> {
        let fleet = fleet.start().map_err(|e| e.to_string())?;
        fleet.add_keyed(&self.breakers);
        self.fleet
            .set(fleet)
            .map_err(|_| String::from("already in a fleet"))
    }

    /// The next host in turn whose breaker is not open (or, if every one
    /// is, the next in turn: its open breaker answers at once).
    pub(crate) fn pick_host(&self) -> &str {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.hosts.len();
        let host = |i: usize| self.hosts[start.wrapping_add(i) % count].as_str();
        (0..count)
            .map(host)
            .find(|host| self.state(host) != CircuitState::Open)
            .unwrap_or_else(|| host(0))
    }

    /// The state of `host`'s breaker (closed if it has none yet).
    pub(crate) fn state(&self, host: &str) -> CircuitState {
        self.breakers
            .get(host)
            .map_or(CircuitState::Closed, |breaker| breaker.state())
    }

    /// `GET /api/data`: never fails. At most `handlers` requests at once
    /// (one beyond them waits a little, then gets default data); retries
    /// transient errors with exponential backoff and jitter, within the
    /// API's retry budget; an attempt still running after `hedge_after`
    /// gets a copy (within the hedge budget), the first success winning;
    /// each copy goes through `host`'s breaker and is cut off after
    /// `attempt_timeout`; if it all fails, default data.
    #[fallback(with = default_data)]
    #[bulkhead(bulkhead = self.handlers)]
    #[retry(policy = self.retry, budget = self.budget, on_retry = |_, attempt| attempts.store(attempt.number() + 1, Ordering::Relaxed))]
    #[hedge(after = self.hedge_after, budget = self.hedges)]
    #[circuit_breaker(key = host, breaker = self.breakers, when = HttpError::is_service_failure)]
    #[rate_limit(limiter = self.upstream_rate)]
    #[timeout(self.attempt_timeout)]
    async fn data(&self, host: &str, attempts: &AtomicU32) -> Result<Data, HttpError> {
        self.fetch(host).await
    }

    /// `GET /api/strict`: the same without the fallback, so the caller
    /// sees `503` while the breaker is open or the API is busy, and `429`
    /// when upstream asks for a longer pause than we are willing to wait.
    #[bulkhead(bulkhead = self.handlers)]
    #[retry(policy = self.retry, budget = self.budget, on_retry = |_, attempt| attempts.store(attempt.number() + 1, Ordering::Relaxed))]
    #[hedge(after = self.hedge_after, budget = self.hedges)]
    #[circuit_breaker(key = host, breaker = self.breakers, when = HttpError::is_service_failure)]
    #[rate_limit(limiter = self.upstream_rate)]
    #[timeout(self.attempt_timeout)]
    async fn strict(&self, host: &str, attempts: &AtomicU32) -> Result<Data, HttpError> {
        self.fetch(host).await
    }

    /// One plain attempt: the whole of the calling code.
    async fn fetch(&self, host: &str) -> Result<Data, HttpError> {
        let url = format!("http://{host}/data");
        // A `Retry-After` is kept, a date measured against the response's
        // own `Date`.
        let response = self.client.get(url).send().await?.check_status()?;
        Ok(response.json().await?)
    }
}

/// The fallback: what the tutorial's Flask app returns when upstream is
/// unavailable.
#[allow(clippy::unnecessary_wraps)] // a fallback handler returns the function's `Result`
fn default_data(_: HttpError) -> Result<Data, HttpError> {
    Ok(Data {
        message: String::from("Service is temporarily unavailable. Showing default data."),
        hit: None,
    })
}

pub(crate) fn api_router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/data", get(api_data))
        .route("/api/strict", get(api_strict))
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .route("/admin/fleet/{op}", post(fleet_override))
        .with_state(api)
}

async fn api_data(State(api): State<Arc<Api>>) -> Json<Data> {
    let start = Instant::now();
    let attempts = AtomicU32::new(1);
    let host = api.pick_host();
    let data = api
        .data(host, &attempts)
        .await
        .unwrap_or_else(|_| Data::default());
    log_request("/api/data", &api, host, &attempts, "200", start);
    Json(data)
}

async fn api_strict(State(api): State<Arc<Api>>) -> Response {
    let start = Instant::now();
    let attempts = AtomicU32::new(1);
    let host = api.pick_host();
    let mut note = "";
    let (status, response) = match api.strict(host, &attempts).await {
        Ok(data) => (StatusCode::OK, Json(data).into_response()),
        Err(HttpError::Open(open)) => {
            // Fail fast, and tell the client when to come back.
            let body = serde_json::json!({ "error": "upstream unavailable", "retry_after_secs": open.retry_after_secs() });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                with_retry_after(
                    StatusCode::SERVICE_UNAVAILABLE,
                    open.retry_after_secs(),
                    body,
                ),
            )
        }
        Err(HttpError::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(wait),
        }) => {
            // Upstream asked for longer than we wait: pass its 429 on.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let body =
                serde_json::json!({ "error": "rate limited upstream", "retry_after_secs": secs });
            (
                StatusCode::TOO_MANY_REQUESTS,
                with_retry_after(StatusCode::TOO_MANY_REQUESTS, secs, body),
            )
        }
        Err(HttpError::Limited(limited)) => {
            // Upstream's 429 still in force (or our own limit): pass it on
            // without calling upstream.
            note = if limited.is_paused() {
                " (upstream's Retry-After holds every caller: not called)"
            } else {
                " (over our rate for upstream: not called)"
            };
            let wait = limited.retry_after();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let body =
                serde_json::json!({ "error": limited.to_string(), "retry_after_secs": secs });
            (
                StatusCode::TOO_MANY_REQUESTS,
                with_retry_after(StatusCode::TOO_MANY_REQUESTS, secs, body),
            )
        }
        Err(HttpError::Full(full)) => {
            // Too many requests in flight: come back in a moment.
            let body = serde_json::json!({ "error": full.to_string(), "retry_after_secs": 1 });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                with_retry_after(StatusCode::SERVICE_UNAVAILABLE, 1, body),
            )
        }
        Err(err) => {
            // Upstream kept failing through every attempt: unavailable.
            let body = serde_json::json!({ "error": err.to_string() });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response(),
            )
        }
    };
    let outcome = format!("{}{note}", status.as_str());
    log_request("/api/strict", &api, host, &attempts, &outcome, start);
    response
}

fn with_retry_after(status: StatusCode, secs: u64, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// What the attributes count (feature `metrics`: retries, breaker states,
/// rejections, timeouts, hedges), in Prometheus' text format, once
/// [`install_metrics`] has run.
static PROMETHEUS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// Installs a Prometheus recorder as the process's `metrics` recorder
/// (once; later calls do nothing), for `GET /metrics`.
pub(crate) fn install_metrics() {
    PROMETHEUS.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed")
    });
}

async fn prometheus() -> Response {
    match PROMETHEUS.get() {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics recorder installed").into_response(),
    }
}

#[derive(Deserialize)]
struct Target {
    breaker: String,
}

/// `POST /admin/fleet/{force-open|disable|reset}?breaker=NAME`: an
/// operator's override for every instance of the fleet (`upstream` for
/// every host, `upstream[host:port]` for one).
async fn fleet_override(
    State(api): State<Arc<Api>>,
    axum::extract::Path(op): axum::extract::Path<String>,
    Query(target): Query<Target>,
) -> Response {
    let Some(fleet) = api.fleet.get() else {
        return (
            StatusCode::NOT_FOUND,
            "not in a fleet: start with --redis URL",
        )
            .into_response();
    };
    let done = match op.as_str() {
        "force-open" => fleet.force_open(&target.breaker).await,
        "disable" => fleet.disable(&target.breaker).await,
        "reset" => fleet.reset(&target.breaker).await,
        _ => return (StatusCode::NOT_FOUND, "force-open, disable or reset").into_response(),
    };
    match done {
        Ok(()) => "ok".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn health(State(api): State<Arc<Api>>) -> Json<serde_json::Value> {
    let breakers: Vec<_> = registry::all()
        .iter()
        .map(|b| serde_json::json!({ "name": b.name().as_str(), "state": b.state().as_str() }))
        .collect();
    Json(serde_json::json!({
        "status": "ok",
        "breakers": breakers,
        "retry_budget": { "available": api.budget.available() },
        "hedge_budget": { "available": api.hedges.available() },
        "fleet": api.fleet.get().map(|fleet| serde_json::json!({
            "instance": fleet.instance(),
            "connected": fleet.is_connected(),
        })),
        "handlers": { "running": api.handlers.running(), "max": api.handlers.max() },
    }))
}

/// Turns the per-request log off (the chaos run makes hundreds of
/// thousands of requests and prints its own report).
pub(crate) static QUIET: AtomicBool = AtomicBool::new(false);

/// One line per request: the host, attempts, its breaker's state,
/// outcome, latency.
fn log_request(
    route: &str,
    api: &Api,
    host: &str,
    attempts: &AtomicU32,
    outcome: &str,
    start: Instant,
) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    println!(
        "GET {route:<12} -> {outcome}  host={host}  attempts={}  breaker={}  {:?}",
        attempts.load(Ordering::Relaxed),
        api.state(host),
        start.elapsed()
    );
}
