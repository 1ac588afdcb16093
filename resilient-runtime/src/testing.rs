//! Helpers for tests that assert exact timings with jitter on.

/// Makes jitter on the current thread deterministic: every random delay
/// drawn on this thread from now on comes from a generator seeded with
/// `seed`.
///
/// Jittered delays are drawn on the thread that polls the retrying future.
/// A `#[tokio::test]` runs everything on one thread (the `current_thread`
/// runtime), so seeding at the start of the test fixes every delay in it;
/// tests running in parallel on other threads are not affected.
///
/// The generator is Xoshiro256++, a fixed algorithm, so a seed gives the
/// same delays on every platform and across patch releases.
///
/// ```
/// use std::time::Duration;
/// use resilient::{Backoff, Jitter, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::builder()
///     .attempts(2)
///     .backoff(Backoff::fixed(Duration::from_secs(1)))
///     .jitter(Jitter::Full)
///     .build();
///
/// let mut slept = Vec::new();
/// for _ in 0..2 {
///     resilient::testing::seed(7);
///     let start = tokio::time::Instant::now();
///     let _ = resilient::retry(&policy, || async { Err::<(), _>("down") }).await;
///     slept.push(start.elapsed());
/// }
/// assert_eq!(slept[0], slept[1]);
/// assert!(slept[0] <= Duration::from_secs(1));
/// # }
/// ```
pub fn seed(seed: u64) {
    crate::rng::seed(seed);
}
