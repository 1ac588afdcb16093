//! `cargo run --example resilient_api`: a flaky upstream (two replicas)
//! and an API that stays up in front of it, on loopback, the Rust version
//! of the tutorial's Flask app (Python's `retrying` + `pybreaker`), with
//! one circuit breaker per upstream host.
//!
//! ```text
//! cargo run --example resilient_api -- [--failure-rate 0.3] [--latency-ms 0]
//!     [--down] [--rate-limit SECONDS] [--rate-limit-date]
//!     [--api-port PORT] [--upstream-port PORT] [--hosts 2]
//! ```
//!
//! The upstream flags apply to every replica; `--upstream-port` is the
//! first replica's port, the next ones follow it.
//!
//! Then watch the log while you change the upstream from another terminal
//! (the program prints ready-to-paste `curl` lines).

mod app;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::{Api, RateLimit, Settings, Upstream};

struct Flags {
    failure_rate: f64,
    latency: Duration,
    down: bool,
    rate_limit: Option<RateLimit>,
    api_port: u16,
    upstream_port: u16,
    hosts: u16,
    /// Another instance's upstream replicas, to call instead of starting
    /// our own (`--upstream`): instances of a fleet share their hosts.
    upstream: Vec<SocketAddr>,
    /// A fleet to share the breakers with.
    redis: Option<String>,
}

fn parse_flags() -> Result<Flags, String> {
    let mut flags = Flags {
        failure_rate: 0.3,
        latency: Duration::ZERO,
        down: false,
        rate_limit: None,
        api_port: 0,
        upstream_port: 0,
        hosts: 2,
        upstream: Vec::new(),
        redis: None,
    };
    let mut date = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--failure-rate" => {
                flags.failure_rate = value("--failure-rate")?
                    .parse()
                    .map_err(|e| format!("--failure-rate: {e}"))?;
            }
            "--latency-ms" => {
                let ms: u64 = value("--latency-ms")?
                    .parse()
                    .map_err(|e| format!("--latency-ms: {e}"))?;
                flags.latency = Duration::from_millis(ms);
            }
            "--down" => flags.down = true,
            "--rate-limit" => {
                let seconds = value("--rate-limit")?
                    .parse()
                    .map_err(|e| format!("--rate-limit: {e}"))?;
                flags.rate_limit = Some(RateLimit {
                    seconds,
                    date: false,
                });
            }
            "--rate-limit-date" => date = true,
            "--api-port" => {
                flags.api_port = value("--api-port")?
                    .parse()
                    .map_err(|e| format!("--api-port: {e}"))?;
            }
            "--upstream-port" => {
                flags.upstream_port = value("--upstream-port")?
                    .parse()
                    .map_err(|e| format!("--upstream-port: {e}"))?;
            }
            "--hosts" => {
                flags.hosts = value("--hosts")?
                    .parse()
                    .map_err(|e| format!("--hosts: {e}"))?;
                if flags.hosts == 0 {
                    return Err(String::from("--hosts: at least 1"));
                }
            }
            "--upstream" => {
                flags.upstream = value("--upstream")?
                    .split(',')
                    .map(|host| {
                        host.trim()
                            .parse()
                            .map_err(|e| format!("--upstream {host}: {e} (want 127.0.0.1:PORT)"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--redis" => flags.redis = Some(value("--redis")?),
            "-h" | "--help" => {
                return Err(String::from(
                    "usage: resilient_api [--failure-rate 0.3] [--latency-ms N] [--down] [--rate-limit SECONDS] [--rate-limit-date] [--api-port PORT] [--upstream-port PORT] [--hosts 2] [--upstream HOST:PORT,..] [--redis redis://127.0.0.1:6379]",
                ));
            }
            other => return Err(format!("unknown flag {other} (try --help)")),
        }
    }
    if let Some(limit) = &mut flags.rate_limit {
        limit.date = date;
    }
    Ok(flags)
}

#[tokio::main]
async fn main() {
    let flags = match parse_flags() {
        Ok(flags) => flags,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };

    // The flaky upstream: replicas on ports of their own, unless another
    // instance's are given.
    let mut upstreams = Vec::new();
    let mut servers = Vec::new();
    let own_replicas = if flags.upstream.is_empty() {
        flags.hosts
    } else {
        0
    };
    for i in 0..own_replicas {
        let upstream = Upstream::new(flags.failure_rate, flags.latency);
        upstream.set_down(flags.down);
        upstream.set_rate_limit(flags.rate_limit);
        let port = match flags.upstream_port {
            0 => 0,
            first => first.saturating_add(i),
        };
        let listener = bind(port).await;
        let addr = listener.local_addr().expect("bound");
        servers.push(tokio::spawn(
            axum::serve(listener, app::upstream_router(Arc::clone(&upstream)))
                .with_graceful_shutdown(ctrl_c())
                .into_future(),
        ));
        upstreams.push((addr, upstream));
    }

    // `GET /metrics`: what the attributes count, for Prometheus.
    app::install_metrics();

    // The API in front of them, one breaker per host.
    let mut addrs: Vec<SocketAddr> = upstreams.iter().map(|(addr, _)| *addr).collect();
    addrs.extend(&flags.upstream);
    let hosts = addrs.iter().map(ToString::to_string).collect();
    let api = Api::new(hosts, &Settings::demo());
    let api_listener = bind(flags.api_port).await;
    let api_addr = api_listener.local_addr().expect("bound");
    // `--redis`: the breakers shared with the other API instances on it.
    if let Some(url) = &flags.redis {
        let fleet = resilient::fleet::Fleet::builder(url.as_str())
            .instance(format!("api-{}", api_addr.port()))
            // Well below the breakers' `reset` (30 s): the fleet's one
            // probe is arranged in time.
            .announce_every(Duration::from_secs(1));
        if let Err(e) = api.join_fleet(fleet) {
            eprintln!("--redis {url}: {e}");
            std::process::exit(2);
        }
        println!(
            "fleet                {url} (instance api-{})",
            api_addr.port()
        );
    }

    print_banner(&addrs, api_addr);

    let api_server =
        axum::serve(api_listener, app::api_router(api)).with_graceful_shutdown(ctrl_c());
    if let Err(e) = api_server.await {
        eprintln!("server error: {e}");
    }
    for server in servers {
        if let Ok(Err(e)) = server.await {
            eprintln!("server error: {e}");
        }
    }
    if upstreams.is_empty() {
        println!("stopped");
    } else {
        let hits: u64 = upstreams.iter().map(|(_, upstream)| upstream.hits()).sum();
        println!("stopped after {hits} upstream requests to our replicas");
    }
}

async fn bind(port: u16) -> tokio::net::TcpListener {
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    }
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

fn print_banner(upstreams: &[SocketAddr], api: SocketAddr) {
    let first = upstreams[0];
    let last = upstreams[upstreams.len() - 1];
    for (i, upstream) in upstreams.iter().enumerate() {
        println!("upstream {} (flaky) http://{upstream}", i + 1);
    }
    println!(
        "\
api                  http://{api}

Try:
  curl -s http://{api}/api/data      # always 200: retries, breaker, timeout, default data
  curl -si http://{api}/api/strict   # 503 + Retry-After while every host's breaker is open
  curl -s http://{api}/health        # each host's breaker, retries left in the budget
  curl -s http://{api}/metrics       # retries, breaker states, rejections, timeouts, hedges (Prometheus)
  curl -X POST 'http://{api}/admin/fleet/force-open?breaker=upstream'  # with --redis: every instance's upstream breakers
  curl -X POST 'http://{api}/admin/fleet/reset?breaker=upstream'       # lifted everywhere

Change an upstream while it runs (the same routes on every replica):
  curl -X POST 'http://{last}/admin/down?on=true'          # one host down: its breaker opens, the others serve
  curl -X POST 'http://{last}/admin/down?on=false'         # bring it back: a trial call closes its breaker
  curl -X POST 'http://{first}/admin/fail?rate=0.5'         # half its requests fail
  curl -X POST 'http://{first}/admin/fail-next?count=2'     # the next two fail: watch the retries
  curl -X POST 'http://{first}/admin/latency?ms=3000'       # hang past the 2 s timeout
  curl -X POST 'http://{first}/admin/tail?rate=0.2&ms=1000' # a fifth of its answers take 1 s: hedged after 50 ms
  curl -X POST 'http://{first}/admin/capacity?workers=4'    # serve 4 requests at a time, queue the rest
  curl -X POST 'http://{first}/admin/rate-limit?seconds=60' # 429 + Retry-After: 60 (passed on)
  curl -X POST 'http://{first}/admin/rate-limit'            # stop rate limiting
  curl -s http://{first}/admin/stats                         # upstream requests served

Ctrl-C stops them all.
"
    );
}
