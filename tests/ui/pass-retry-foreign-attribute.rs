//! A foreign attribute that happens to be called `retry` is left alone:
//! resilient attributes are gathered by what they write into the body, not
//! by name. Here `retry` is tokio's `main`, and `resilient::retry` still
//! retries the body inside it.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::main as retry;

static CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient::retry(attempts = 3, backoff = none)]
#[retry(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    if CALLS.fetch_add(1, Ordering::Relaxed) < 2 {
        return Err(String::from("flaky"));
    }
    assert_eq!(CALLS.load(Ordering::Relaxed), 3);
    Ok(())
}
