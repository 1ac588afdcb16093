use resilient::timeout;

#[derive(Debug)]
struct ApiError;

#[timeout("2s")]
async fn fetch() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
