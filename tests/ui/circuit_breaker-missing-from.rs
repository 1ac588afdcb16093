use resilient::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(failures = 3)]
async fn fetch() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
