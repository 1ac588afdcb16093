//! Mistakes in the argument names and in the backoff's own settings.
use resilient::retry;

#[retry(a::b = 1)]
async fn path_as_name() -> Result<(), String> {
    Ok(())
}

#[retry(attempts = 5000000000)]
async fn too_many_attempts() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = linear)]
async fn linear_without_settings() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = none("1s"))]
async fn none_with_a_setting() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = fixed("1s", "2s"))]
async fn fixed_with_two() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = exponential(initial = "1s", initial = "2s", size = 3))]
async fn duplicate_and_unknown_setting() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = exponential(a::b = "1s"))]
async fn path_as_setting() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = linear(initial = "1s", max = "10s"))]
async fn linear_without_step() -> Result<(), String> {
    Ok(())
}

fn main() {}
