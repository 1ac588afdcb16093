use resilient::retry;

#[retry(backoff = exponential(initial = "2s", max = "500ms"))]
async fn fetch() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
