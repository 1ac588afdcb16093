//! Every mistake of `#[timeout]` in one compile.
use resilient::{Elapsed, timeout};

#[derive(Debug)]
struct ApiError;

impl From<Elapsed> for ApiError {
    fn from(_: Elapsed) -> Self {
        ApiError
    }
}

#[timeout("0s", on_timout = to_error, on_timeout = 5)]
async fn zero_unknown_key_and_bad_hook() -> Result<(), ApiError> {
    Ok(())
}

fn main() {
    let _ = zero_unknown_key_and_bad_hook();
}
