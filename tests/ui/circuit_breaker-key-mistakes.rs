// Every argument mistake of a keyed breaker is an error at its token:
// values out of range, keyed settings without `key`, keyed settings with a
// breaker built elsewhere, and a duration the `static` cannot hold.
use resilient::{CircuitOpen, KeyedBreaker, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

static HOSTS: KeyedBreaker = KeyedBreaker::builder().build();

#[circuit_breaker(key = host, max_keys = 0, idle = "500ms", max_open = 1.5)]
async fn bad_values(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

#[circuit_breaker(key = host, max_keys = 2000000, max_open = half)]
async fn more_bad_values(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

#[circuit_breaker(max_keys = 10, idle = "1m", max_open = 0.5)]
async fn without_key(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

#[circuit_breaker(key = host, shared = HOSTS, max_keys = 10, idle = "1m")]
async fn settings_of_a_shared_one(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

#[circuit_breaker(key = host, idle = config_idle())]
async fn idle_at_run_time(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

#[circuit_breaker(key = host, key = host, max_key = 5)]
async fn twice_and_a_typo(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

fn config_idle() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

fn main() {}
