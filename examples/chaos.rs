//! A bounded chaos run against the `resilient_api` example, on loopback:
//! the upstream fails 30 % of requests, then hangs, then goes down, then
//! recovers, while eight clients keep calling the API. Every request must
//! get a defined answer (data, default data, `503` or `429`). The run is
//! made twice: with no limit on retries, and with the API's retry budget
//! (20 % of calls, 10 a second). Then two comparisons: an upstream that
//! got slow and serves only 8 requests at a time, under 64 clients, with
//! and without the API's bulkhead; an upstream with a slow tail, with
//! and without hedging; and last a fleet of three API instances in front
//! of one upstream host, alone and sharing their breakers through Redis.
//!
//! ```text
//! cargo run --release --example chaos [-- --redis redis://127.0.0.1:6379]
//! ```
//!
//! The fleet run uses the Redis at `--redis`, or starts a `redis-server`
//! from the `PATH` on a free loopback port (Debian: `apt install
//! redis-server`); without either it is skipped, and says so.
//!
//! It prints, for each phase, the requests made, the answers by kind, the
//! upstream calls per request (retry amplification: what a fleet of such
//! APIs does to a dependency that is already failing) and the p50/p99
//! latency; then the breaker's state changes, and the amplification of
//! the two runs side by side; and for each comparison, the answers with
//! data a second, the latency and the upstream calls per request. Fixed
//! phases, a fixed number of clients, a time limit: it stops by itself.

#[path = "resilient_api/app.rs"]
#[allow(dead_code)]
mod app;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::{Api, Settings, Upstream};
use resilient::{RetryBudget, RetryBudgetBuilder};

static TRANSITIONS: AtomicU32 = AtomicU32::new(0);

fn count_transition(_: &resilient::StateChange<'_>) {
    TRANSITIONS.fetch_add(1, Ordering::Relaxed);
}

const CLIENTS: usize = 8;
const PHASE: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Phase {
    answers: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
}

impl Phase {
    /// The `p`th percentile latency (the latencies are sorted).
    fn percentile(&self, p: usize) -> Duration {
        let n = self.latencies.len();
        self.latencies
            .get((n * p / 100).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// `clients` clients calling the API for one phase (half of them
/// `/api/data`, half `/api/strict`), each as fast as it is answered; the
/// answers by kind, and the latencies, sorted.
async fn load(
    client: &reqwest::Client,
    api_addr: std::net::SocketAddr,
    clients: usize,
    deadline: Instant,
) -> Phase {
    let phase = Arc::new(Mutex::new(Phase::default()));
    let until = Instant::now() + PHASE;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (client, phase) = (client.clone(), phase.clone());
            tokio::spawn(async move {
                let route = if i % 2 == 0 {
                    "/api/data"
                } else {
                    "/api/strict"
                };
                while Instant::now() < until && Instant::now() < deadline {
                    let start = Instant::now();
                    let kind = match client.get(format!("http://{api_addr}{route}")).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body = response.text().await.unwrap_or_default();
                            match status {
                                200 if body.contains("default data") => {
                                    "200 default data".to_owned()
                                }
                                200 => "200 data".to_owned(),
                                503 | 429 => format!("{status}"),
                                other => format!("{other} (undefined!)"),
                            }
                        }
                        Err(e) => format!("transport error (undefined!): {e}"),
                    };
                    let mut phase = phase.lock().unwrap();
                    *phase.answers.entry(kind).or_default() += 1;
                    phase.latencies.push(start.elapsed());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut phase = Arc::try_unwrap(phase).ok().unwrap().into_inner().unwrap();
    phase.latencies.sort();
    phase
}

#[tokio::main]
async fn main() {
    app::QUIET.store(true, Ordering::Relaxed);
    // No limit: a budget no run can spend.
    let unlimited = RetryBudget::builder().min_per_sec(u32::MAX).ratio(1000.0);
    println!("without a retry budget");
    let without = scenario("chaos", unlimited).await;
    println!("\nwith the retry budget (20 % of calls, 10 a second, over 10 s)");
    let with = scenario("chaos-budget", RetryBudget::builder()).await;
    println!("\nupstream calls per request    without a budget   with it");
    for ((phase, before), (_, after)) in without.iter().zip(&with) {
        println!("{phase:<28} {before:>16.2} {after:>9.2}");
    }
    overload().await;
    slow_tail().await;
    match Redis::find() {
        Ok(redis) => fleet(&redis.url).await,
        Err(why) => println!("\nfleet run skipped: {why}"),
    }
}

/// The settings of these runs: short attempts, no breaker trips, no
/// limit on upstream calls, no hedging unless a run sets it.
fn settings(name: &'static str) -> Settings {
    Settings {
        name,
        attempt_timeout: Duration::from_millis(200),
        upstream_rate: resilient::RateLimiter::builder()
            .rate(10_000_000)
            .burst(10_000_000),
        hedge_after: Duration::MAX,
        breaker_failures: 1000,
        ..Settings::demo()
    }
}

/// A fresh upstream and an API in front of it, on loopback: the upstream
/// (steered directly) and the API's address.
async fn start(settings: &Settings) -> (Arc<Upstream>, std::net::SocketAddr) {
    let (upstream, host) = serve_upstream().await;
    let api = Api::new(vec![host], settings);
    (upstream, serve_api(api).await)
}

/// A fresh upstream on loopback: the upstream (steered directly) and its
/// `host:port`.
async fn serve_upstream() -> (Arc<Upstream>, String) {
    let upstream = Upstream::new(0.0, Duration::ZERO);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let router = app::upstream_router(upstream.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (upstream, host)
}

/// `api` served on loopback: its address.
async fn serve_api(api: Arc<Api>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app::api_router(api)).await;
    });
    addr
}

/// One line of a comparison: requests, real answers a second, latency,
/// upstream calls per request, answers by kind.
fn report(name: &str, phase: &Phase, upstream_calls: u64) {
    let n = phase.latencies.len();
    let data = phase.answers.get("200 data").copied().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)] // ratios for a report
    let (per_second, per_request) = (
        data as f64 / PHASE.as_secs_f64(),
        upstream_calls as f64 / n.max(1) as f64,
    );
    println!(
        "{name:<28} requests {n:>5}  data/s {per_second:>6.1}  upstream calls/request {per_request:>5.2}  p50 {:>9.1?}  p99 {:>9.1?}  {:?}",
        phase.percentile(50),
        phase.percentile(99),
        phase.answers
    );
}

/// An upstream that got slow and can only serve so many at once: 100 ms a
/// request, 8 at a time, the rest queued; 64 clients. Without a bulkhead
/// every request joins upstream's queue, waits past its timeout and is
/// retried into the same queue; with one of 8 places (waiting 50 ms), the
/// requests that get in are served at upstream's pace and the others are
/// answered at once.
async fn overload() {
    println!("\nslow upstream (100 ms, 8 at a time), 64 clients");
    let unbounded = resilient::Bulkhead::builder()
        .name("chaos handlers, unbounded")
        .max(resilient::MAX_CONCURRENT);
    let bounded = resilient::Bulkhead::builder()
        .name("chaos handlers, 8")
        .max(8)
        .wait(Duration::from_millis(50));
    for (name, registry_name, handlers) in [
        ("no bulkhead", "chaos-overload", unbounded),
        (
            "bulkhead of 8, wait 50 ms",
            "chaos-overload-bulkhead",
            bounded,
        ),
    ] {
        let (upstream, api) = start(&Settings {
            handlers,
            ..settings(registry_name)
        })
        .await;
        upstream.set_latency(Duration::from_millis(100));
        upstream.set_capacity(8);
        let client = reqwest::Client::new();
        let before = upstream.hits();
        let phase = load(&client, api, 64, Instant::now() + PHASE * 2).await;
        report(name, &phase, upstream.hits() - before);
    }
}

/// An upstream with a slow tail: 5 % of requests take a second. Without
/// hedging, a request in the tail waits for its attempt's timeout
/// (200 ms) and a retry; with a copy sent after 50 ms, it waits 50 ms
/// and the copy's own time.
async fn slow_tail() {
    println!("\nslow tail (5 % of upstream's answers take 1 s), 8 clients");
    for (name, registry_name, hedge_after) in [
        ("no hedging", "chaos-tail", Duration::MAX),
        (
            "hedged after 50 ms",
            "chaos-tail-hedged",
            Duration::from_millis(50),
        ),
    ] {
        let (upstream, api) = start(&Settings {
            hedge_after,
            ..settings(registry_name)
        })
        .await;
        upstream.set_tail(0.05, Duration::from_secs(1));
        let client = reqwest::Client::new();
        let before = upstream.hits();
        let phase = load(&client, api, CLIENTS, Instant::now() + PHASE * 2).await;
        report(name, &phase, upstream.hits() - before);
    }
}

/// One run of every phase against a fresh upstream and API; returns each
/// phase's upstream calls per request.
#[allow(clippy::too_many_lines)] // one script, read top to bottom
async fn scenario(
    name_in_registry: &'static str,
    budget: RetryBudgetBuilder,
) -> Vec<(&'static str, f64)> {
    TRANSITIONS.store(0, Ordering::Relaxed);
    let upstream = Upstream::new(0.3, Duration::ZERO);
    let upstream_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream_listener.local_addr().unwrap();
    // Steered through its admin routes, as an operator would.
    tokio::spawn(async move {
        let _ = axum::serve(upstream_listener, app::upstream_router(upstream)).await;
    });

    let settings = Settings {
        name: name_in_registry,
        retry: Settings::demo().retry,
        budget,
        attempt_timeout: Duration::from_millis(200),
        handlers: Settings::demo().handlers,
        // No limit on upstream calls beyond what the run makes: this run
        // measures the breaker and the budget.
        upstream_rate: resilient::RateLimiter::builder()
            .rate(10_000_000)
            .burst(10_000_000),
        hedge_after: Settings::demo().hedge_after,
        hedges: Settings::demo().hedges,
        breaker_failures: 5,
        // Above `max_retry_after` (2 s): requests answer at once while the
        // breaker is open instead of waiting for it.
        breaker_reset: Duration::from_millis(2500),
        on_state_change: Some(count_transition),
    };
    let api = Api::new(vec![upstream_addr.to_string()], &settings);
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api_listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(api_listener, app::api_router(api)).await;
    });

    let client = reqwest::Client::new();
    let admin = |path: &str| {
        let client = client.clone();
        let url = format!("http://{upstream_addr}{path}");
        async move {
            client.post(url).send().await.unwrap();
        }
    };
    let upstream_hits = || {
        let client = client.clone();
        async move {
            let stats = get_json(&client, &format!("http://{upstream_addr}/admin/stats")).await;
            stats["hits"].as_u64().unwrap()
        }
    };

    let phases = [
        ("30 % failures", "/admin/fail?rate=0.3"),
        ("hanging (1 s latency)", "/admin/latency?ms=1000"),
        ("down", "/admin/down?on=true"),
        // The breaker switched off, as an operator's kill switch does, or
        // as on a fleet whose breakers each see too few failures to trip:
        // nothing but the retries' own limit stands between the outage
        // and a retry storm.
        ("down, breaker off", "/admin/down?on=true"),
        ("recovered", "/admin/down?on=false"),
    ];
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut total_requests = 0u64;
    let mut amplification = Vec::new();
    let hits_before = upstream_hits().await;
    for (name, control) in phases {
        let phase_hits_before = upstream_hits().await;
        let breakers = || resilient::registry::keyed(name_in_registry).expect("the API's breakers");
        match name {
            "down" => admin("/admin/latency?ms=0").await,
            "down, breaker off" => {
                for breaker in breakers().breakers() {
                    breaker.disable();
                }
            }
            "recovered" => {
                breakers().reset_all();
                admin("/admin/fail?rate=0").await;
            }
            _ => {}
        }
        admin(control).await;
        let phase = load(&client, api_addr, CLIENTS, deadline).await;
        let n = phase.latencies.len();
        total_requests += n as u64;
        #[allow(clippy::cast_precision_loss)] // a ratio for a report
        let per_request = (upstream_hits().await - phase_hits_before) as f64 / n.max(1) as f64;
        amplification.push((name, per_request));
        println!(
            "{name:<22} requests {n:>5}  upstream calls/request {per_request:>5.2}  p50 {:>9.1?}  p99 {:>9.1?}  {:?}",
            phase.percentile(50),
            phase.percentile(99),
            phase.answers
        );
    }
    let hits = upstream_hits().await - hits_before;
    println!(
        "\ntotal requests {total_requests}, upstream calls {hits} ({:.2} per request), breaker state changes {}",
        {
            #[allow(clippy::cast_precision_loss)] // a ratio for a report
            let ratio = hits as f64 / total_requests.max(1) as f64;
            ratio
        },
        TRANSITIONS.load(Ordering::Relaxed)
    );
    amplification
}

/// The JSON at `url`.
async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// A Redis for the fleet run: the one at `--redis URL`, or a
/// `redis-server` from the `PATH` started on a free loopback port, without
/// persistence, and stopped when this is dropped.
struct Redis {
    url: String,
    server: Option<std::process::Child>,
}

impl Redis {
    fn find() -> Result<Self, String> {
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--redis" {
                let url = args.next().ok_or("--redis needs a URL")?;
                return Ok(Self { url, server: None });
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let server = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "could not start redis-server ({e}); install it (Debian: apt install redis-server) or pass --redis URL"
                )
            })?;
        let redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            server: Some(server),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(String::from("redis-server did not listen within 5 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

const INSTANCES: [&str; 3] = ["api-1", "api-2", "api-3"];

/// What one fleet run saw, for the comparison.
struct FleetRun {
    /// api-3's breaker after the outage it did not call through.
    idle_state: resilient::CircuitState,
    /// Upstream calls while it was down and every instance was called.
    calls_while_down: u64,
    /// How long after upstream recovered every breaker was closed.
    closed_after: Option<Duration>,
}

/// Three API instances in front of one upstream host, 4 clients each:
/// first alone, then sharing their breakers through the Redis at `url`.
async fn fleet(url: &str) {
    println!("\nfleet: three API instances, one upstream host (breakers: 5 failures, reset 1 s)");
    println!("each instance alone");
    let alone = fleet_run(None).await;
    println!("\nsharing their breakers through Redis (quorum: half the live instances)");
    let shared = fleet_run(Some(url)).await;
    let closed = |run: &FleetRun| {
        run.closed_after.map_or_else(
            || String::from("not within the phase"),
            |d| format!("{d:.1?}"),
        )
    };
    println!("\n{:<50} {:>14} {:>14}", "", "alone", "fleet");
    println!(
        "{:<50} {:>14} {:>14}",
        "api-3's breaker after an outage it did not call",
        alone.idle_state.to_string(),
        shared.idle_state.to_string()
    );
    println!(
        "{:<50} {:>14} {:>14}",
        "upstream calls while down (every instance called)",
        alone.calls_while_down,
        shared.calls_while_down
    );
    println!(
        "{:<50} {:>14} {:>14}",
        "every breaker closed after recovery, within",
        closed(&alone),
        closed(&shared)
    );
}

/// One fleet run: api-1 alone sick (its attempts time out), upstream down
/// while api-3 is idle, down while every instance is called (the trial
/// calls a host that is down gets), then recovered.
#[allow(clippy::too_many_lines)] // one script, read top to bottom
async fn fleet_run(redis: Option<&str>) -> FleetRun {
    let (upstream, host) = serve_upstream().await;
    let mut apis = Vec::new();
    let mut addrs = Vec::new();
    let run = if redis.is_some() { "fleet" } else { "alone" };
    for (i, instance) in INSTANCES.into_iter().enumerate() {
        let settings = Settings {
            breaker_failures: 5,
            breaker_reset: Duration::from_secs(1),
            // The demo's retry, but no waiting for an open breaker: a
            // request it refuses is answered at once.
            retry: resilient::RetryPolicy::builder()
                .attempts(3)
                .backoff(resilient::Backoff::exponential(
                    Duration::from_millis(50),
                    2.0,
                    Duration::from_secs(1),
                ))
                .jitter(resilient::Jitter::Full)
                .max_retry_after(Duration::from_millis(100))
                .build(),
            // api-1 is the sick one: its attempts are cut off after 10 ms,
            // so a slower upstream fails for it alone.
            attempt_timeout: Duration::from_millis(if i == 0 { 10 } else { 200 }),
            // One breaker name on every instance, as in a real fleet.
            ..settings("chaos-fleet")
        };
        let api = Api::new(vec![host.clone()], &settings);
        if let Some(url) = redis {
            let fleet = resilient::fleet::Fleet::builder(url)
                // Each run its own keys, even on a Redis used before.
                .prefix(format!("chaos-{}-{run}", std::process::id()))
                .instance(instance)
                // Well below the breakers' reset (1 s).
                .announce_every(Duration::from_millis(100));
            api.join_fleet(fleet).expect("a Redis URL");
        }
        addrs.push(serve_api(api.clone()).await);
        apis.push(api);
    }
    let client = reqwest::Client::new();
    if redis.is_some() {
        // Every instance connected (and so announced) before the run.
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in &addrs {
            loop {
                let health = get_json(&client, &format!("http://{addr}/health")).await;
                if health["fleet"]["connected"] == true {
                    break;
                }
                assert!(Instant::now() < deadline, "no instance may wait forever");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let states = |apis: &[Arc<Api>]| -> Vec<resilient::CircuitState> {
        apis.iter().map(|api| api.state(&host)).collect()
    };
    let show = |states: &[resilient::CircuitState]| -> String {
        INSTANCES
            .iter()
            .zip(states)
            .map(|(instance, state)| format!("{instance} {state}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // `clients` clients on each of the instances `on`, all at once.
    let load_on = |on: &[usize]| {
        let tasks: Vec<_> = on
            .iter()
            .map(|&i| {
                let (client, addr) = (client.clone(), addrs[i]);
                tokio::spawn(
                    async move { load(&client, addr, 4, Instant::now() + PHASE * 2).await },
                )
            })
            .collect();
        async move {
            let mut phases = Vec::new();
            for task in tasks {
                phases.push(task.await.unwrap());
            }
            phases
        }
    };
    let answers = |on: &[usize], phases: &[Phase]| -> String {
        on.iter()
            .zip(phases)
            .map(|(&i, phase)| {
                let data = phase.answers.get("200 data").copied().unwrap_or(0);
                format!("{} {data}/{}", INSTANCES[i], phase.latencies.len())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let line = |name: &str, on: &[usize], phases: &[Phase], calls: u64, states: &str| {
        #[allow(clippy::cast_precision_loss)] // a rate for a report
        let per_second = calls as f64 / PHASE.as_secs_f64();
        println!(
            "{name:<28} upstream calls {calls:>5} ({per_second:>6.1}/s)  data answers {}  breakers: {states}",
            answers(on, phases)
        );
    };

    // 1. Upstream slows to 30 ms: too slow for api-1 alone.
    upstream.set_latency(Duration::from_millis(30));
    let before = upstream.hits();
    let phases = load_on(&[0, 1, 2]).await;
    line(
        "api-1's attempts time out",
        &[0, 1, 2],
        &phases,
        upstream.hits() - before,
        &show(&states(&apis)),
    );

    // 2. Upstream down; api-3 has no traffic.
    upstream.set_latency(Duration::ZERO);
    upstream.set_down(true);
    let before = upstream.hits();
    let phases = load_on(&[0, 1]).await;
    let after_idle = states(&apis);
    line(
        "down, api-3 idle",
        &[0, 1],
        &phases,
        upstream.hits() - before,
        &show(&after_idle),
    );

    // 3. Still down, every instance called: what upstream sees are the
    // breakers' trial calls (and api-3's first failures, if alone).
    let before = upstream.hits();
    let phases = load_on(&[0, 1, 2]).await;
    let calls_while_down = upstream.hits() - before;
    line(
        "down, every instance called",
        &[0, 1, 2],
        &phases,
        calls_while_down,
        &show(&states(&apis)),
    );

    // 4. Upstream back: how long until every breaker lets calls through.
    upstream.set_down(false);
    let recovered = Instant::now();
    let before = upstream.hits();
    let phases = load_on(&[0, 1, 2]);
    let mut closed_after = None;
    while recovered.elapsed() < PHASE {
        if closed_after.is_none()
            && states(&apis)
                .iter()
                .all(|state| *state == resilient::CircuitState::Closed)
        {
            closed_after = Some(recovered.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let phases = phases.await;
    line(
        "recovered",
        &[0, 1, 2],
        &phases,
        upstream.hits() - before,
        &show(&states(&apis)),
    );
    FleetRun {
        idle_state: after_idle[2],
        calls_while_down,
        closed_after,
    }
}
