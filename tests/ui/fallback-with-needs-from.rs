use resilient::{circuit_breaker, fallback};

#[derive(Debug)]
struct ApiError;

fn handle(_: ApiError) -> Result<u32, ApiError> {
    Ok(0)
}

// A handler sees the error as `E`: a rejection must become one.
#[fallback(with = handle)]
#[circuit_breaker(failures = 1)]
async fn fetch() -> Result<u32, ApiError> {
    Err(ApiError)
}

fn main() {
    let _ = fetch();
}
