// `#[retry]`, `#[circuit_breaker]`, `#[fallback]` and `#[bulkhead]` work on
// a plain `fn`; the layers that need an `async fn` say why.
use resilient::{hedge, rate_limit, retry, timeout};

#[derive(Debug)]
struct ApiError;

#[timeout("2s")]
fn cut_off() -> Result<u32, ApiError> {
    Ok(1)
}

#[hedge(after = "50ms")]
fn raced() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(rate = 10)]
fn limited() -> Result<u32, ApiError> {
    Ok(1)
}

// The check holds in a stack too.
#[retry(attempts = 3)]
#[timeout("2s")]
fn retried_and_cut_off() -> Result<u32, ApiError> {
    Ok(1)
}

// A mistake in the arguments is reported with the signature's.
#[rate_limit(rate = 0)]
fn limited_badly() -> Result<u32, ApiError> {
    Ok(1)
}

// A plain `fn` that returns nothing has nothing to retry on.
#[retry(attempts = 3)]
fn nothing() {}

fn main() {}
