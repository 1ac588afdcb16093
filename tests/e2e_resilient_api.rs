//! The `resilient_api` example end to end: both servers on loopback (port
//! 0), driven with a real HTTP client. Real sockets do not follow tokio's
//! paused clock, so this runs in real time with short durations.

#[path = "../examples/resilient_api/app.rs"]
#[allow(dead_code)] // the demo's CLI-only knobs
mod app;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::{Api, Data, RateLimit, Settings, Upstream};
use resilient::RetryPolicy;

struct Servers {
    upstream: Arc<Upstream>,
    api: String,
    client: reqwest::Client,
}

// The test's retry cap: the demo's 2 s would make `RESET` (above it) cost
// 2.5 s of real time.
const MAX_RETRY_AFTER: Duration = Duration::from_millis(200);

// Above `MAX_RETRY_AFTER`, by the same 500 ms margin as the demo's: a
// retry does not wait for the breaker, it answers with the rejection at
// once, however slow the machine.
const RESET: Duration = Duration::from_millis(700);

/// The demo's retry policy, with the cap lowered to `MAX_RETRY_AFTER`.
fn retry_policy() -> RetryPolicy {
    let demo = Settings::demo().retry;
    assert!(demo.max_elapsed().is_none(), "the demo sets no budget");
    RetryPolicy::builder()
        .attempts(demo.attempts())
        .backoff(demo.backoff())
        .jitter(demo.jitter())
        .max_retry_after(MAX_RETRY_AFTER)
        .build()
}

async fn start(name: &'static str) -> Servers {
    let upstream = Upstream::new(0.0, Duration::ZERO);
    let upstream_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream_listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(upstream_listener, app::upstream_router(upstream.clone())).into_future(),
    );

    let settings = Settings {
        name,
        retry: retry_policy(),
        budget: resilient::RetryBudget::builder(),
        attempt_timeout: Duration::from_millis(150),
        breaker_failures: 3,
        breaker_reset: RESET,
        on_state_change: None,
    };
    let api = Api::new(format!("http://{upstream_addr}"), settings);
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api_listener.local_addr().unwrap();
    tokio::spawn(axum::serve(api_listener, app::api_router(api)).into_future());

    Servers {
        upstream,
        api: format!("http://{api_addr}"),
        client: reqwest::Client::new(),
    }
}

impl Servers {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .unwrap()
    }

    async fn data(&self) -> Data {
        let response = self.get("/api/data").await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn breaker_state(&self, name: &str) -> String {
        let health: serde_json::Value = self.get("/health").await.json().await.unwrap();
        health["breakers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .map(|b| b["state"].as_str().unwrap().to_owned())
            .unwrap()
    }
}

use std::future::IntoFuture as _;

const DEFAULT: &str = "Service is temporarily unavailable. Showing default data.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried() {
    let s = start("e2e-transient").await;
    s.upstream.fail_next(2);
    let data = s.data().await;
    assert_eq!(data.message, "Fresh data from upstream.");
    assert_eq!(
        s.upstream.hits(),
        3,
        "two failed attempts, then the third succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_the_retry_budget_spent() {
    let s = start("e2e-budget").await;
    let available = || async {
        let health: serde_json::Value = s.get("/health").await.json().await.unwrap();
        health["retry_budget"]["available"].as_u64().unwrap()
    };
    // The default reserve: 10 a second over 10 s.
    assert_eq!(available().await, 100);
    s.upstream.fail_next(2);
    assert_eq!(s.data().await.message, "Fresh data from upstream.");
    // Two retries spent, a fifth of one earned.
    assert_eq!(available().await, 98);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_opens_the_breaker_and_recovers() {
    let s = start("e2e-down").await;
    s.upstream.set_down(true);
    // Three attempts fail (503): the breaker opens; default data anyway.
    assert_eq!(s.data().await.message, DEFAULT);
    assert_eq!(s.breaker_state("e2e-down").await, "open");
    let hits = s.upstream.hits();

    // While open: `/api/strict` answers 503 with a Retry-After, fast, and
    // upstream is not called; `/api/data` answers default data.
    let start = Instant::now();
    let response = s.get("/api/strict").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(s.data().await.message, DEFAULT);
    assert_eq!(
        s.upstream.hits(),
        hits,
        "an open breaker keeps calls off upstream"
    );

    // Upstream comes back; after `reset` a trial call closes the breaker.
    s.upstream.set_down(false);
    tokio::time::sleep(RESET).await;
    assert_eq!(s.breaker_state("e2e-down").await, "half-open");
    assert_eq!(s.data().await.message, "Fresh data from upstream.");
    assert_eq!(s.breaker_state("e2e-down").await, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_is_passed_on() {
    let s = start("e2e-429").await;
    s.upstream.set_rate_limit(Some(RateLimit {
        seconds: 60,
        date: false,
    }));
    let response = s.get("/api/strict").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    assert_eq!(s.upstream.hits(), 1, "above the cap: no retry");

    // The HTTP-date form too.
    s.upstream.set_rate_limit(Some(RateLimit {
        seconds: 60,
        date: true,
    }));
    let response = s.get("/api/strict").await;
    assert_eq!(response.status(), 429);
    let secs: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((58..=60).contains(&secs), "{secs}");
    assert_eq!(
        s.breaker_state("e2e-429").await,
        "closed",
        "a 429 is not an upstream failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_is_cut_off_and_trips_the_breaker() {
    let s = start("e2e-hung").await;
    s.upstream.set_latency(Duration::from_secs(5));
    let start = Instant::now();
    assert_eq!(s.data().await.message, DEFAULT);
    // Three attempts of 150 ms plus backoff: well under the 5 s hang.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(s.breaker_state("e2e-hung").await, "open");
}
