use resilient::retry;

#[retry(attemps = 3, jitter = fulll, max_elapsed = "5 seconds", backoff = expo)]
fn fetch() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    // The function is still there: no "cannot find function" below.
    let _ = fetch();
}
