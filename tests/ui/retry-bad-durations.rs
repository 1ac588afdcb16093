//! Duration strings the macro refuses, each with the reason.
use resilient::retry;

#[retry(backoff = fixed("soon"))]
async fn not_a_duration() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = fixed("1.5.5s"))]
async fn not_a_number() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = fixed("9000h"))]
async fn longer_than_a_year() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = fixed("0.0000000000000000001s"))]
async fn too_many_decimals() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = fixed("0.5ns"))]
async fn finer_than_a_nanosecond() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = fixed("0s"), max_elapsed = "0s")]
async fn zero_delay_and_budget() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = linear(initial = "0s", step = "0s", max = "1s"))]
async fn zero_linear() -> Result<(), String> {
    Ok(())
}

#[retry(backoff = exponential(initial = "20s"))]
async fn initial_above_the_default_max() -> Result<(), String> {
    Ok(())
}

fn main() {}
