use resilient::retry;

#[retry(clone(payload, body))]
async fn send(payload: String) -> Result<usize, String> {
    Ok(payload.len())
}

fn main() {
    let _ = send(String::new());
}
