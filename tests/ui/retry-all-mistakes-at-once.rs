//! A value error is reported beside a parse error, in one compile; a
//! setting whose value was refused is not also reported as missing.
use resilient::retry;

#[retry(attempts = 0, jitter = sideways)]
async fn value_and_parse_errors() -> Result<u32, String> {
    Ok(1)
}

#[retry(backoff = exponential(initial = "20s", max = "5 seconds"), attempts = 0, clone(missing))]
async fn a_refused_max_is_not_a_missing_one() -> Result<u32, String> {
    Ok(1)
}

fn main() {
    let _ = value_and_parse_errors();
    let _ = a_refused_max_is_not_a_missing_one();
}
