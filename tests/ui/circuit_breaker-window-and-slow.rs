// Time windows and slow calls: each mistake at its token.
use resilient::{CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

#[circuit_breaker(failure_rate = 0.5, window = "1500ms", slow = "500us", slow_rate = 2)]
async fn bad_values() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failure_rate = 0.5, window = "10m", slow = "2h")]
async fn too_long() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failures = 3, slow = "1s", slow_rate = 0.5)]
async fn slow_without_a_rate() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failure_rate = 0.5, slow_rate = 0.5)]
async fn slow_rate_without_slow() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failure_rate = 0.5, slow = limit())]
async fn slow_at_run_time() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failure_rate = 0.5, window = 100, window = "30s")]
async fn two_windows() -> Result<u32, ApiError> {
    Ok(1)
}

fn limit() -> std::time::Duration {
    std::time::Duration::from_secs(1)
}

fn main() {}
