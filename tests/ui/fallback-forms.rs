use resilient::fallback;

#[derive(Debug)]
struct ApiError;

#[fallback(value = 1, default)]
async fn two_forms() -> Result<u32, ApiError> {
    Ok(1)
}

#[fallback(when = is_down)]
async fn no_form() -> Result<u32, ApiError> {
    Ok(1)
}

#[fallback(defualt)]
async fn typo() -> Result<u32, ApiError> {
    Ok(1)
}

fn is_down(_: &ApiError) -> bool {
    true
}

fn main() {
    let _ = (two_forms(), no_form(), typo());
}
