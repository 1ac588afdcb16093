//! Helpers shared by the integration tests.

use resilient::ConfigError;

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
