use resilient::{CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

#[circuit_breaker(failure_rate = 1.5, window = 2000)]
async fn rate_and_window() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failure_rate = 0.5, window = 10, min_calls = 20)]
async fn min_calls_above_window() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = (rate_and_window(), min_calls_above_window());
}
