use resilient::retry;

#[retry(attempts = 3)]
async fn fetch() -> Result<u32, String> {
    // Generated locals cannot be named from the body.
    let _ = __resilient_state_0.failures();
    Ok(1)
}

fn main() {
    let _ = fetch();
}
