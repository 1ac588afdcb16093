// `key` with a breaker that is one breaker for every call (a plain
// `CircuitBreaker`), and a key that is neither text nor an integer: one
// error each, at the user's token, saying what is expected.
use std::sync::Arc;

use resilient::{CircuitBreaker, CircuitOpen, circuit_breaker};

#[derive(Debug)]
struct ApiError;

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

static ONE: CircuitBreaker = CircuitBreaker::builder().build();

#[circuit_breaker(key = host, shared = ONE)]
async fn shared_plain(host: &str) -> Result<u32, ApiError> {
    let _ = host;
    Ok(1)
}

struct Client {
    breaker: Arc<CircuitBreaker>,
}

impl Client {
    #[circuit_breaker(key = host, breaker = self.breaker)]
    async fn get(&self, host: &str) -> Result<u32, ApiError> {
        let _ = host;
        Ok(1)
    }
}

struct Host {
    name: String,
}

#[circuit_breaker(key = host, failures = 3)]
async fn keyed_by_a_struct(host: &Host) -> Result<u32, ApiError> {
    let _ = &host.name;
    Ok(1)
}

fn main() {}
