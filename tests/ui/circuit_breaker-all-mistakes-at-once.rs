//! A value error is reported beside a parse error, in one compile; a
//! setting whose value was refused is not also reported as missing.
use resilient::{CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

#[circuit_breaker(failures = 0, on_cancel = maybe, half_open = 0)]
async fn value_and_parse_errors() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(failure_rate = "half", window = 10, min_calls = 0)]
async fn a_refused_rate_is_not_a_missing_one() -> Result<(), ApiError> {
    Ok(())
}

// A misspelt `failure_rate` is not also reported as missing.
#[circuit_breaker(failure_rat = 0.5, window = 10)]
async fn misspelt_rate() -> Result<(), ApiError> {
    Ok(())
}

fn main() {
    let _ = misspelt_rate();
    let _ = value_and_parse_errors();
    let _ = a_refused_rate_is_not_a_missing_one();
}
