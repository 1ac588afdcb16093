use resilient::retry;

#[retry(backoff = exponential(initial = "100ms", factor = 0.5, max = "1s"))]
async fn fetch() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
