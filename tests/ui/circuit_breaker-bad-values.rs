//! Values `#[circuit_breaker]` refuses, each with the reason.
use resilient::{CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

#[circuit_breaker(name = payments)]
async fn name_not_a_string() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(on_cancel = maybe)]
async fn unknown_on_cancel() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failure_rate = "half")]
async fn rate_not_a_number() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failure_rate = 5000000000)]
async fn huge_rate() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failures = five)]
async fn failures_not_a_number() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failures = 5000000000)]
async fn too_many_failures() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failures = 5, window = 10)]
async fn window_without_rate() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failure_rate = 0.5, window = 2000, min_calls = 0, half_open = 0)]
async fn counts_out_of_range() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failures = 5, reset = "0s")]
async fn zero_reset() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(a::b = 1)]
async fn path_as_name() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
