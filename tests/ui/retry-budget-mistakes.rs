// `budget` takes a `RetryBudget`: a literal is refused at the literal, a
// misspelt key gets the nearest key, and a key given twice points at the
// second.
use resilient::{RetryBudget, retry};

static BUDGET: RetryBudget = RetryBudget::builder().build();

#[retry(attempts = 3, budget = 0.2)]
async fn ratio_instead(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[retry(attempts = 3, budgte = BUDGET)]
async fn misspelt(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[retry(budget = BUDGET, budget = BUDGET)]
async fn twice(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {
    let _ = (ratio_instead(1), misspelt(1), twice(1));
}
