use resilient::retry;

#[retry(
    jitter = "full",
    retry_after = 30,
    when = 1 + 1,
    backoff = exponential("1s"),
    clone = payload,
    keep = payload,
    attempts = 0
)]
async fn fetch(payload: String) -> Result<usize, String> {
    Ok(payload.len())
}

fn main() {
    let _ = fetch(String::new());
}
