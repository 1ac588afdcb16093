use resilient::{RetryPolicy, retry};

static POLICY: RetryPolicy = RetryPolicy::new();

#[retry(policy = POLICY, attempts = 5, backoff = none)]
async fn fetch() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
