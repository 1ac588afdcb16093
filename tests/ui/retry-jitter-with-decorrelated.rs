use resilient::retry;

#[retry(backoff = decorrelated(initial = "100ms", max = "5s"), jitter = full)]
async fn fetch() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
