//! Breaker settings: defaults, and every invalid one as a named error.

mod common;

use std::time::Duration;

use resilient::{CircuitBreaker, CircuitBreakerBuilder, CircuitState};

#[track_caller]
fn rejects(builder: CircuitBreakerBuilder, key: &str, message: &str) {
    common::assert_rejected(|| builder.try_build(), || builder.build(), key, message);
}

#[test]
fn invalid_settings_are_named() {
    let b = CircuitBreaker::builder;
    rejects(
        b().failures(0),
        "failures",
        "invalid circuit breaker setting `failures`: must be at least 1",
    );
    rejects(
        b().failures(65_536),
        "failures",
        "invalid circuit breaker setting `failures`: must be at most 65535",
    );
    for rate in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
        rejects(
            b().failure_rate(rate),
            "failure_rate",
            "invalid circuit breaker setting `failure_rate`: must be above 0 and at most 1 (0.5 means half the calls)",
        );
    }
    rejects(
        b().failures(5).failure_rate(0.5),
        "failure_rate",
        "invalid circuit breaker setting `failure_rate`: cannot be combined with `failures`: choose consecutive failures or a failure rate",
    );
    rejects(
        b().window(10),
        "window",
        "invalid circuit breaker setting `window`: only applies with `failure_rate`",
    );
    rejects(
        b().min_calls(3),
        "min_calls",
        "invalid circuit breaker setting `min_calls`: only applies with `failure_rate`",
    );
    for window in [0, 1025] {
        rejects(
            b().failure_rate(0.5).window(window),
            "window",
            "invalid circuit breaker setting `window`: must be from 1 to 1024 calls",
        );
    }
    rejects(
        b().failure_rate(0.5).window(10).min_calls(11),
        "min_calls",
        "invalid circuit breaker setting `min_calls`: must not be above `window`",
    );
    rejects(
        b().failure_rate(0.5).min_calls(0),
        "min_calls",
        "invalid circuit breaker setting `min_calls`: must be at least 1",
    );
    rejects(
        b().reset(Duration::ZERO),
        "reset",
        "invalid circuit breaker setting `reset`: must be above zero",
    );
    rejects(
        b().reset(Duration::MAX),
        "reset",
        "invalid circuit breaker setting `reset`: must be at most 365 days",
    );
    rejects(
        b().half_open(0),
        "half_open",
        "invalid circuit breaker setting `half_open`: must be at least 1",
    );
    rejects(
        b().half_open(70_000),
        "half_open",
        "invalid circuit breaker setting `half_open`: must be at most 65535",
    );
}

#[test]
fn limits_are_inclusive() {
    let b = CircuitBreaker::builder;
    assert!(b().failures(65_535).half_open(65_535).try_build().is_ok());
    assert!(
        b().failure_rate(1.0)
            .window(1024)
            .min_calls(1024)
            .try_build()
            .is_ok()
    );
    assert!(
        b().failure_rate(f64::MIN_POSITIVE)
            .window(1)
            .try_build()
            .is_ok()
    );
    assert!(
        b().reset(Duration::from_secs(365 * 24 * 3600))
            .try_build()
            .is_ok()
    );
}

#[test]
fn a_static_breaker_builds_at_compile_time() {
    static B: CircuitBreaker = CircuitBreaker::builder()
        .name("test-config-static")
        .failure_rate(0.25)
        .window(8)
        .min_calls(4)
        .reset(Duration::from_millis(500))
        .half_open(2)
        .build();
    assert_eq!(B.state(), CircuitState::Closed);
    assert_eq!(B.name(), "test-config-static");
    assert!(format!("{B:?}").contains("state: Closed"));
}
