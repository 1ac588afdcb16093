use std::time::Duration;

use resilient::{CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

struct Client {
    reset: Duration,
}

static NOT_A_BREAKER: u32 = 5;

impl Client {
    // The function's own breaker is a `static`: its settings are literals.
    #[circuit_breaker(reset = self.reset)]
    async fn fetch(&self) -> Result<u32, ApiError> {
        Ok(1)
    }
}

#[circuit_breaker(shared = NOT_A_BREAKER)]
async fn shared_wrong() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = (Client { reset: Duration::ZERO }.fetch(), shared_wrong());
}
