// A `KeyedBreaker` given without `key = ..`: one error, at the path.
use resilient::{CircuitOpen, KeyedBreaker, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

static HOSTS: KeyedBreaker = KeyedBreaker::builder().build();

#[circuit_breaker(shared = HOSTS)]
async fn fetch(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

fn main() {}
