// An error type without `From<RateLimited>`: one error, at `E`; a
// `shared` or `limiter` that is not a rate limiter, and `key` with a plain
// `RateLimiter`, at its token.
use resilient::{Bulkhead, RateLimited, rate_limit};

#[derive(Debug)]
struct ApiError;

#[rate_limit(rate = 3)]
async fn no_conversion() -> Result<u32, ApiError> {
    Ok(1)
}

#[derive(Debug)]
struct Converts;

impl From<RateLimited> for Converts {
    fn from(_: RateLimited) -> Self {
        Converts
    }
}

static NOT_A_LIMITER: Bulkhead = Bulkhead::builder().build();

#[rate_limit(shared = NOT_A_LIMITER)]
async fn wrong_kind() -> Result<u32, Converts> {
    Ok(1)
}

static ONE_LIMIT: resilient::RateLimiter = resilient::RateLimiter::builder().build();

#[rate_limit(key = tenant, shared = ONE_LIMIT)]
async fn keyed_on_a_plain_limiter(tenant: u32) -> Result<u32, Converts> {
    let _ = tenant;
    Ok(1)
}

struct Client {
    per_second: u32,
}

impl Client {
    #[rate_limit(limiter = self.per_second)]
    async fn get(&self) -> Result<u32, Converts> {
        Ok(1)
    }
}

fn main() {}
