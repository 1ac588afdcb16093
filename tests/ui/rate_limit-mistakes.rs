// Every argument mistake of `#[rate_limit]` is an error at its token.
use resilient::{RateLimited, RateLimiter, rate_limit};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

static SEARCH: RateLimiter = RateLimiter::builder().build();

#[rate_limit(per = "1s")]
async fn no_rate() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(rate = 0, burst = 0, per = "100ns")]
async fn zeros() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(rate = 4000000000, per = "1us")]
async fn too_fast() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(shared = SEARCH, limiter = SEARCH, rate = 3, wait = "1s")]
async fn built_elsewhere() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(rate = 5, wait = limit(), max_pase = "1s")]
async fn run_time_wait_and_a_typo() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(rate = 2, max_keys = 10, idle = "1m")]
async fn keyed_settings_without_key() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(key = tenant, rate = 2, max_keys = 0, idle = "10ms")]
async fn bad_keyed_values(tenant: u32) -> Result<u32, ApiError> {
    let _ = tenant;
    Ok(1)
}

#[rate_limit(rate = 1, per = "1h", burst = 10000)]
async fn a_burst_of_over_a_year() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limit(key = tenant, rate = 2, wait = limit(), name = NAME)]
async fn keyed_run_time_wait(tenant: u32) -> Result<u32, ApiError> {
    let _ = tenant;
    Ok(1)
}

const NAME: &str = "search";

fn limit() -> std::time::Duration {
    std::time::Duration::from_secs(1)
}

fn main() {}
