// A syntax error in the body is rustc's own message, at the mistake, once:
// the attributes hand the body on as tokens and never parse it, so none of
// them claims that the item is not a function.
use resilient::{Elapsed, circuit_breaker, retry, timeout};

#[derive(Debug)]
struct ApiError;

impl From<Elapsed> for ApiError {
    fn from(_: Elapsed) -> Self {
        ApiError
    }
}

impl From<resilient::CircuitOpen> for ApiError {
    fn from(_: resilient::CircuitOpen) -> Self {
        ApiError
    }
}

#[retry(attempts = 2)]
#[circuit_breaker(failures = 3, reset = "10s")]
#[timeout("1s")]
async fn fetch(x: u32) -> Result<u32, ApiError> {
    let y = x + ;
    Ok(y)
}

fn main() {
    let _ = fetch(1);
}
