// Every argument mistake of `#[bulkhead]` is an error at its token.
use resilient::{Bulkhead, BulkheadFull, bulkhead};

#[derive(Debug)]
struct ApiError;

impl From<BulkheadFull> for ApiError {
    fn from(_: BulkheadFull) -> Self {
        ApiError
    }
}

static SEARCH: Bulkhead = Bulkhead::builder().build();

#[bulkhead(max = 0, wait = "10x")]
async fn bad_values() -> Result<u32, ApiError> {
    Ok(1)
}

#[bulkhead(max = 2000000, wiat = "1s")]
async fn too_many_and_a_typo() -> Result<u32, ApiError> {
    Ok(1)
}

#[bulkhead(shared = SEARCH, bulkhead = SEARCH, max = 3, name = "x")]
async fn built_elsewhere() -> Result<u32, ApiError> {
    Ok(1)
}

#[bulkhead(wait = limit(), max = many)]
async fn run_time_values() -> Result<u32, ApiError> {
    Ok(1)
}

#[bulkhead(max = 2, name = SEARCH_NAME)]
async fn name_not_a_literal() -> Result<u32, ApiError> {
    Ok(1)
}

const SEARCH_NAME: &str = "search";

fn limit() -> std::time::Duration {
    std::time::Duration::from_secs(1)
}

fn main() {}
