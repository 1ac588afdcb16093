use resilient::retry;

#[retry(attempts = 3, jitter = full, attempts = 5)]
async fn fetch() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
