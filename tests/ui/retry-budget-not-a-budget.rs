// A `budget` that is not a `RetryBudget` is one error, at the expression,
// that says what is expected.
use resilient::{CircuitBreaker, retry};

static BREAKER: CircuitBreaker = CircuitBreaker::builder().build();

#[retry(attempts = 3, budget = BREAKER)]
async fn fetch(id: u64) -> Result<u64, String> {
    Ok(id)
}

struct Client {
    budget: f64,
}

impl Client {
    #[retry(budget = self.budget)]
    async fn get(&self) -> Result<u64, String> {
        Ok(1)
    }
}

fn main() {
    let _ = fetch(1);
    let _ = Client { budget: 0.2 }.get();
}
