// An error type without `From<BulkheadFull>`: one error, at `E`, saying
// what to add; and a `shared` or `bulkhead` that is not a bulkhead, at
// the path or expression.
use resilient::{CircuitBreaker, bulkhead};

#[derive(Debug)]
struct ApiError;

static NOT_A_BULKHEAD: CircuitBreaker = CircuitBreaker::builder().build();

#[bulkhead(max = 3)]
async fn no_conversion() -> Result<u32, ApiError> {
    Ok(1)
}

#[derive(Debug)]
struct Converts;

impl From<resilient::BulkheadFull> for Converts {
    fn from(_: resilient::BulkheadFull) -> Self {
        Converts
    }
}

#[bulkhead(shared = NOT_A_BULKHEAD)]
async fn wrong_kind() -> Result<u32, Converts> {
    Ok(1)
}

struct Service {
    limit: u32,
}

impl Service {
    #[bulkhead(bulkhead = self.limit)]
    async fn get(&self) -> Result<u32, Converts> {
        Ok(1)
    }
}

fn main() {}
