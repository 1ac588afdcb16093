//! Each attribute alone and the four stacked, compiled and run under
//! `#![deny(warnings)]`.
#![deny(warnings)]

use std::sync::Arc;
use std::time::Duration;

use resilient::{CircuitBreaker, CircuitOpen, Elapsed, circuit_breaker, fallback, retry, timeout};

#[derive(Debug, PartialEq)]
enum ApiError {
    Down,
    Open,
    TimedOut,
}

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError::Open
    }
}

impl From<Elapsed> for ApiError {
    fn from(_: Elapsed) -> Self {
        ApiError::TimedOut
    }
}

#[circuit_breaker(failures = 1, name = "pass-breaker")]
async fn breaker_alone() -> Result<u32, ApiError> { Err(ApiError::Down) }

#[timeout("1s")]
async fn timeout_alone() -> Result<u32, ApiError> { Ok(1) }

#[fallback(value = 7)]
async fn fallback_alone() -> Result<u32, ApiError> { Err(ApiError::Down) }

struct Service {
    breaker: Arc<CircuitBreaker>,
    limit: Duration,
}

impl Service {
    #[fallback(default)]
    #[retry(attempts = 2, backoff = none)]
    #[circuit_breaker(breaker = self.breaker)]
    #[timeout(self.limit)]
    async fn all_four(&self, id: u64) -> Result<u64, ApiError> {
        if id == 0 { Err(ApiError::Down) } else { Ok(id) }
    }
}

/// A body whose only statement is a macro of the user's own named
/// `__stack` is the user's, not taken for the attributes' stack.
macro_rules! __stack {
    ($value:expr) => {
        Ok($value)
    };
}

#[retry(attempts = 2, backoff = none)]
#[timeout("1s")]
async fn own_stack_macro() -> Result<u32, ApiError> {
    __stack!(5)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(own_stack_macro().await, Ok(5));
    assert_eq!(breaker_alone().await, Err(ApiError::Down));
    assert_eq!(breaker_alone().await, Err(ApiError::Open));
    assert_eq!(timeout_alone().await, Ok(1));
    assert_eq!(fallback_alone().await, Ok(7));
    let service = Service {
        breaker: Arc::new(CircuitBreaker::builder().build()),
        limit: Duration::from_secs(1),
    };
    assert_eq!(service.all_four(3).await, Ok(3));
    assert_eq!(service.all_four(0).await, Ok(0));
}
