use resilient::{Elapsed, timeout};

#[derive(Debug)]
struct ApiError;

impl From<Elapsed> for ApiError {
    fn from(_: Elapsed) -> Self {
        ApiError
    }
}

#[timeout("0s")]
async fn zero() -> Result<u32, ApiError> {
    Ok(1)
}

#[timeout("2s", on_timout = handle)]
async fn typo() -> Result<u32, ApiError> {
    Ok(1)
}

#[timeout]
async fn missing() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = (zero(), typo(), missing());
}
