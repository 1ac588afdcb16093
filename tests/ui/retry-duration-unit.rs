use resilient::retry;

#[retry(max_elapsed = "5sec")]
async fn unknown_unit() -> Result<u32, String> {
    Ok(1)
}

#[retry(backoff = fixed("100"))]
async fn missing_unit() -> Result<u32, String> {
    Ok(1)
}

#[retry(max_retry_after = 30)]
async fn bare_number() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = (unknown_unit(), missing_unit(), bare_number());
}
