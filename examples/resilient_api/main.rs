//! `cargo run --example resilient_api`: a flaky upstream and an API that
//! stays up in front of it, on loopback, the Rust version of the tutorial's
//! Flask app (Python's `retrying` + `pybreaker`).
//!
//! ```text
//! cargo run --example resilient_api -- [--failure-rate 0.3] [--latency-ms 0]
//!     [--down] [--rate-limit SECONDS] [--rate-limit-date]
//!     [--api-port PORT] [--upstream-port PORT]
//! ```
//!
//! Then watch the log while you change the upstream from another terminal
//! (the program prints ready-to-paste `curl` lines).

mod app;

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
}

fn parse_flags() -> Result<Flags, String> {
    let mut flags = Flags {
        failure_rate: 0.3,
        latency: Duration::ZERO,
        down: false,
        rate_limit: None,
        api_port: 0,
        upstream_port: 0,
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
            "-h" | "--help" => {
                return Err(String::from(
                    "usage: resilient_api [--failure-rate 0.3] [--latency-ms N] [--down] [--rate-limit SECONDS] [--rate-limit-date] [--api-port PORT] [--upstream-port PORT]",
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

    // The flaky upstream.
    let upstream = Upstream::new(flags.failure_rate, flags.latency);
    upstream.set_down(flags.down);
    upstream.set_rate_limit(flags.rate_limit);
    let upstream_listener = bind(flags.upstream_port).await;
    let upstream_addr = upstream_listener.local_addr().expect("bound");

    // The API in front of it.
    let api = Api::new(format!("http://{upstream_addr}"), Settings::demo());
    let api_listener = bind(flags.api_port).await;
    let api_addr = api_listener.local_addr().expect("bound");

    print_banner(upstream_addr, api_addr);

    let upstream_server = axum::serve(
        upstream_listener,
        app::upstream_router(Arc::clone(&upstream)),
    )
    .with_graceful_shutdown(ctrl_c());
    let api_server =
        axum::serve(api_listener, app::api_router(api)).with_graceful_shutdown(ctrl_c());
    let (a, b) = tokio::join!(upstream_server, api_server);
    if let Err(e) = a.and(b) {
        eprintln!("server error: {e}");
    }
    println!("stopped after {} upstream requests", upstream.hits());
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

fn print_banner(upstream: SocketAddr, api: SocketAddr) {
    println!(
        "\
upstream (flaky)  http://{upstream}
api               http://{api}

Try:
  curl -s http://{api}/api/data      # always 200: retries, breaker, timeout, default data
  curl -si http://{api}/api/strict   # 503 + Retry-After while the breaker is open
  curl -s http://{api}/health        # breaker state, retries left in the budget

Change the upstream while it runs:
  curl -X POST 'http://{upstream}/admin/down?on=true'          # take it down: watch the breaker open
  curl -X POST 'http://{upstream}/admin/down?on=false'         # bring it back: a trial call closes it
  curl -X POST 'http://{upstream}/admin/fail?rate=0.5'         # half the requests fail
  curl -X POST 'http://{upstream}/admin/fail-next?count=2'     # the next two fail: watch the retries
  curl -X POST 'http://{upstream}/admin/latency?ms=3000'       # hang past the 2 s timeout
  curl -X POST 'http://{upstream}/admin/rate-limit?seconds=60' # 429 + Retry-After: 60 (passed on)
  curl -X POST 'http://{upstream}/admin/rate-limit'            # stop rate limiting
  curl -s http://{upstream}/admin/stats                         # upstream requests served

Ctrl-C stops both.
"
    );
}
