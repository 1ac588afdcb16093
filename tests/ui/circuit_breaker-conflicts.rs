use resilient::{CircuitBreaker, CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

static SHARED: CircuitBreaker = CircuitBreaker::builder().build();

#[circuit_breaker(failures = 3, failure_rate = 0.5)]
async fn both_modes() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(shared = SHARED, breaker = SHARED, failures = 3)]
async fn two_owners() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(failurs = 3)]
async fn typo() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = (both_modes(), two_owners(), typo());
}
