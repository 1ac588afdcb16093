//! `#[timeout]` takes the duration first, then at most one `on_timeout`.
use resilient::{Elapsed, timeout};

#[derive(Debug)]
struct ApiError;

fn on_elapsed(_: Elapsed) -> ApiError {
    ApiError
}

#[timeout(on_timeout = on_elapsed)]
async fn no_duration() -> Result<(), ApiError> {
    Ok(())
}

#[timeout("1s", on_timeout = on_elapsed, on_timeout = on_elapsed)]
async fn twice() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
