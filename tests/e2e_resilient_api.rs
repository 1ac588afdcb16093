//! The `resilient_api` example end to end: both servers on loopback (port
//! 0), driven with a real HTTP client. Real sockets do not follow tokio's
//! paused clock, so this runs in real time with short durations.

#[path = "../examples/resilient_api/app.rs"]
#[allow(dead_code)] // the demo's CLI-only knobs
mod app;
mod common;

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
        .name(demo.name())
        .build()
}

/// A flaky upstream replica on a port of its own.
async fn start_upstream() -> (Arc<Upstream>, String) {
    let upstream = Upstream::new(0.0, Duration::ZERO);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app::upstream_router(upstream.clone())).into_future());
    (upstream, addr.to_string())
}

fn settings(name: &'static str) -> Settings {
    Settings {
        name,
        retry: retry_policy(),
        budget: resilient::RetryBudget::builder(),
        attempt_timeout: Duration::from_millis(150),
        handlers: Settings::demo().handlers,
        upstream_rate: Settings::demo().upstream_rate,
        hedge_after: Settings::demo().hedge_after,
        hedges: Settings::demo().hedges,
        breaker_failures: 3,
        breaker_reset: RESET,
        on_state_change: None,
    }
}

/// The API in front of `hosts`; its address.
async fn start_api(hosts: Vec<String>, settings: &Settings) -> String {
    let api = Api::new(hosts, settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app::api_router(api)).into_future());
    format!("http://{addr}")
}

async fn start(name: &'static str) -> Servers {
    let (upstream, host) = start_upstream().await;
    Servers {
        upstream,
        api: start_api(vec![host], &settings(name)).await,
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

    /// The state of the (one) host's breaker of the API's breakers
    /// `name`, listed as `name[host:port]`.
    async fn breaker_state(&self, name: &str) -> String {
        let states = breaker_states(&self.client, &self.api, name).await;
        assert_eq!(states.len(), 1, "{states:?}");
        states[0].1.clone()
    }
}

/// The JSON answer to a `GET` of `url`.
async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: &str) -> T {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Each host's breaker of the API's breakers `name`, from `/health`.
async fn breaker_states(client: &reqwest::Client, api: &str, name: &str) -> Vec<(String, String)> {
    let health: serde_json::Value = get_json(client, &format!("{api}/health")).await;
    health["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            let listed = b["name"].as_str().unwrap();
            let host = listed
                .strip_prefix(name)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            Some((host.to_owned(), b["state"].as_str().unwrap().to_owned()))
        })
        .collect()
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

    // That 429 paused the API's rate limiter for upstream: the next
    // request is answered 429 at once, without calling upstream.
    let response = s.get("/api/strict").await;
    assert_eq!(response.status(), 429);
    let secs: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((59..=60).contains(&secs), "{secs}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("paused by the service's Retry-After"),
        "{body}"
    );
    assert_eq!(s.upstream.hits(), 1, "upstream not called while paused");

    // The HTTP-date form too, on a fresh API.
    let s = start("e2e-429-date").await;
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
        s.breaker_state("e2e-429-date").await,
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

/// Two upstream hosts, one down: its breaker opens, the other stays
/// closed, and once the open host is skipped every request gets fresh
/// data from the one still up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_down_opens_only_its_breaker() {
    let (up, up_host) = start_upstream().await;
    let (down, down_host) = start_upstream().await;
    down.set_down(true);
    // A reset far longer than the test: the down host stays open
    // however slow the machine.
    let api = start_api(
        vec![up_host.clone(), down_host.clone()],
        &Settings {
            breaker_reset: Duration::from_secs(60),
            ..settings("e2e-hosts")
        },
    )
    .await;
    let client = reqwest::Client::new();
    let data = || async {
        let response = client.get(format!("{api}/api/data")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Data>().await.unwrap()
    };
    // Requests alternate between the hosts until the down one's breaker
    // opens (three failed attempts, one request's worth).
    for _ in 0..4 {
        data().await;
    }
    let mut states = breaker_states(&client, &api, "e2e-hosts").await;
    states.sort();
    let mut expected = vec![
        (up_host.clone(), String::from("closed")),
        (down_host.clone(), String::from("open")),
    ];
    expected.sort();
    assert_eq!(states, expected);

    let hits = (up.hits(), down.hits());
    for _ in 0..10 {
        assert_eq!(data().await.message, "Fresh data from upstream.");
    }
    assert_eq!(down.hits(), hits.1, "the open host gets no requests");
    assert_eq!(up.hits(), hits.0 + 10, "the other host serves them all");
}

/// The API's handlers are behind a bulkhead: with room for one request,
/// a second one while upstream is slow is answered at once, `503` with
/// `Retry-After` on the strict route, default data on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_api_answers_at_once() {
    let (upstream, host) = start_upstream().await;
    upstream.set_latency(Duration::from_millis(400));
    let api = start_api(
        vec![host],
        &Settings {
            handlers: resilient::Bulkhead::builder().name("e2e-handlers").max(1),
            attempt_timeout: Duration::from_secs(2),
            // No copy of the slow request: upstream's hits count the
            // requests that reached it.
            hedge_after: Duration::MAX,
            ..settings("e2e-busy")
        },
    )
    .await;
    let client = reqwest::Client::new();
    let slow = {
        let (client, api) = (client.clone(), api.clone());
        tokio::spawn(async move {
            client
                .get(format!("{api}/api/strict"))
                .send()
                .await
                .unwrap()
        })
    };
    // Until the first request holds the API's one place (it has reached
    // upstream, which answers in 400 ms).
    while upstream.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let busy = client
        .get(format!("{api}/api/strict"))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(
        body["error"],
        "bulkhead `e2e-handlers` is full: 1 call running"
    );
    let data: Data = get_json(&client, &format!("{api}/api/data")).await;
    assert_eq!(data.message, DEFAULT);
    assert!(
        start.elapsed() < Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(slow.await.unwrap().status(), 200);
    assert_eq!(
        upstream.hits(),
        1,
        "the turned-away requests never reached upstream"
    );
}

/// A slow tail is hedged: with 15 % of upstream's answers taking a
/// second, a copy sent after 50 ms answers first, and no request waits
/// the second out. (Upstream draws its slow answers from a fixed
/// sequence, in which no two slow ones follow each other over these
/// requests: a copy is never slow too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tail_is_hedged() {
    let (upstream, host) = start_upstream().await;
    upstream.set_tail(0.15, Duration::from_secs(1));
    let api = start_api(
        vec![host],
        &Settings {
            // Longer than the tail: without the hedge, a slow answer
            // would be waited for.
            attempt_timeout: Duration::from_secs(2),
            ..settings("e2e-tail")
        },
    )
    .await;
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let start = Instant::now();
        let data: Data = get_json(&client, &format!("{api}/api/strict")).await;
        assert_ne!(data.message, DEFAULT);
        slowest = slowest.max(start.elapsed());
    }
    // Hedged answers take ~50 ms; an unhedged slow one 1 s. The margin
    // is for a loaded machine.
    assert!(slowest < Duration::from_millis(900), "{slowest:?}");
    assert!(
        upstream.hits() > 30,
        "some requests were hedged: {} upstream calls",
        upstream.hits()
    );
}

/// `GET /metrics` serves what the attributes counted, in Prometheus'
/// text format: here the retries of a request whose first attempt failed,
/// and the state of the host's breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_the_api_serves_prometheus_text() {
    app::install_metrics();
    let (upstream, host) = start_upstream().await;
    upstream.fail_next(1);
    // A retry name of its own: the recorder is the process's, and other
    // tests retry under the demo's name meanwhile.
    let demo = retry_policy();
    let retry = RetryPolicy::builder()
        .attempts(demo.attempts())
        .backoff(demo.backoff())
        .jitter(demo.jitter())
        .max_retry_after(MAX_RETRY_AFTER)
        .name("e2e-metrics retry")
        .build();
    let api = start_api(
        vec![host.clone()],
        &Settings {
            retry,
            ..settings("e2e-metrics")
        },
    )
    .await;
    let client = reqwest::Client::new();
    let data: Data = get_json(&client, &format!("{api}/api/data")).await;
    assert_ne!(data.message, DEFAULT, "the retry got fresh data");
    let text = client
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(&format!(
            "resilient_circuitbreaker_state{{name=\"e2e-metrics[{host}]\",state=\"closed\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("resilient_retry_retries_total{name=\"e2e-metrics retry\"} 1\n"),
        "{text}"
    );
}

/// Two API instances in a fleet on a real Redis (feature `redis`): an
/// operator's override sent to one (`POST /admin/fleet/force-open`)
/// reaches the other, whose requests are then refused without calling
/// upstream, and the reset lifts it there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_two_api_instances_share_an_override() {
    let redis = common::redis::RedisServer::start();
    let mut apis = Vec::new();
    let mut upstreams = Vec::new();
    for instance in ["one", "two"] {
        let (upstream, host) = start_upstream().await;
        // The same breaker name on both, as on the instances of a service.
        let api = Api::new(vec![host], &settings("e2e-fleet"));
        api.join_fleet(
            resilient::fleet::Fleet::builder(redis.url())
                .instance(instance)
                .announce_every(Duration::from_secs(1)),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(axum::serve(listener, app::api_router(api)).into_future());
        apis.push(format!("http://{addr}"));
        upstreams.push(upstream);
    }
    let client = reqwest::Client::new();
    let health = |api: String| {
        let client = client.clone();
        async move { get_json::<serde_json::Value>(&client, &format!("{api}/health")).await }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    for api in &apis {
        while health(api.clone()).await["fleet"]["connected"] != true {
            assert!(Instant::now() < deadline, "{api} joined the fleet");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let strict = |api: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{api}/api/strict"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(strict(apis[1].clone()).await, 200);

    let override_on = |op: &str| {
        let url = format!("{}/admin/fleet/{op}?breaker=e2e-fleet", apis[0]);
        let client = client.clone();
        async move { client.post(url).send().await.unwrap().status() }
    };
    assert_eq!(override_on("force-open").await, 200);
    let deadline = Instant::now() + Duration::from_secs(3);
    while strict(apis[1].clone()).await != 503 {
        assert!(
            Instant::now() < deadline,
            "the override reached the second instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hits = upstreams[1].hits();
    assert_eq!(strict(apis[1].clone()).await, 503);
    assert_eq!(
        upstreams[1].hits(),
        hits,
        "refused without calling upstream"
    );

    assert_eq!(override_on("reset").await, 200);
    let deadline = Instant::now() + Duration::from_secs(3);
    while strict(apis[1].clone()).await != 200 {
        assert!(
            Instant::now() < deadline,
            "the reset reached the second instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
