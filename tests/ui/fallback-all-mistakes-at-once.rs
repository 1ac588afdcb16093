//! Every mistake of `#[fallback]` in one compile.
use resilient::fallback;

#[derive(Debug)]
struct ApiError;

#[fallback(value = 1, default, whne = is_down, when = 5)]
async fn two_forms_unknown_key_and_bad_hook() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = two_forms_unknown_key_and_bad_hook();
}
