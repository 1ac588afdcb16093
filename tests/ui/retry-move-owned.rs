use resilient::retry;

fn consume(_: String) {}

#[retry(attempts = 3)]
async fn send(payload: String) -> Result<(), String> {
    // Each attempt re-runs the body: an owned argument cannot be moved
    // twice. `#[retry(clone(payload))]` clones it per attempt.
    consume(payload);
    Ok(())
}

fn main() {
    let _ = send(String::new());
}
