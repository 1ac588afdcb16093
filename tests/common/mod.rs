//! Helpers shared by the integration tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use resilient::ConfigError;

pub(crate) const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A current-thread runtime on tokio's paused clock, for a test that
/// cannot be a `#[tokio::test(start_paused = true)]` (a property test's
/// body, a test that counts allocations around it).
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Checks at compile time that `T` is `Send`.
pub(crate) const fn assert_send<T: Send>(_: &T) {}

/// Asserts that a builder is refused with `key` and `message`, both by
/// `try_build` (the error) and by `build` (a panic with the same text).
#[track_caller]
pub(crate) fn assert_rejected<T: std::fmt::Debug>(
    try_build: impl FnOnce() -> Result<T, ConfigError>,
    build: impl FnOnce() -> T + std::panic::UnwindSafe,
    key: &str,
    message: &str,
) {
    let err = try_build().unwrap_err();
    assert_eq!(err.key(), key);
    assert_eq!(err.to_string(), message);
    let panic = std::panic::catch_unwind(build).unwrap_err();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some(message)
    );
}

/// A `redis-server` of a test's own (the fleet tests).
pub(crate) mod redis;
