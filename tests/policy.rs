//! Building policies: defaults, and every invalid setting as a clear error.

use std::time::Duration;

mod common;

use resilient::{Backoff, Jitter, RetryPolicy};

use common::ms;

#[test]
fn defaults_match_the_attribute_defaults() {
    let p = RetryPolicy::new();
    assert_eq!(p.attempts(), 3);
    assert_eq!(
        p.backoff(),
        Backoff::exponential(ms(100), 2.0, Duration::from_secs(10))
    );
    assert_eq!(p.jitter(), Jitter::Full);
    assert_eq!(p.max_elapsed(), None);
    assert_eq!(p.max_retry_after(), Duration::from_secs(30));
    assert_eq!(Backoff::default(), p.backoff());
}

#[test]
fn a_policy_is_a_few_words() {
    // Built per call by generated code: keep it small and `Copy`. (Two
    // words of it are its name, for the retry's metrics.)
    assert!(
        size_of::<RetryPolicy>() <= 112,
        "{}",
        size_of::<RetryPolicy>()
    );
}

#[test]
fn const_policies_build() {
    const P: RetryPolicy = RetryPolicy::builder()
        .attempts(7)
        .backoff(Backoff::linear(ms(10), ms(10), ms(100)))
        .jitter(Jitter::Equal)
        .max_elapsed(Duration::from_secs(3))
        .max_retry_after(Duration::from_secs(5))
        .build();
    assert_eq!(P.attempts(), 7);
    assert_eq!(P.jitter(), Jitter::Equal);
    assert_eq!(P.max_elapsed(), Some(Duration::from_secs(3)));
    assert_eq!(P.max_retry_after(), Duration::from_secs(5));
}

#[test]
fn decorrelated_defaults_to_no_jitter() {
    let p = RetryPolicy::builder()
        .backoff(Backoff::decorrelated(ms(10), ms(100)))
        .build();
    assert_eq!(p.jitter(), Jitter::None);
    let p = RetryPolicy::builder()
        .jitter(Jitter::None)
        .backoff(Backoff::decorrelated(ms(10), ms(100)))
        .build();
    assert_eq!(p.jitter(), Jitter::None);
}

#[track_caller]
fn rejects(builder: resilient::RetryPolicyBuilder, key: &str, message: &str) {
    common::assert_rejected(|| builder.try_build(), || builder.build(), key, message);
}

#[test]
fn invalid_settings_are_named() {
    let b = RetryPolicy::builder;
    let year = RetryPolicy::MAX_DURATION;
    let over = year + Duration::from_nanos(1);
    rejects(
        b().attempts(0),
        "attempts",
        "invalid retry setting `attempts`: must be at least 1",
    );
    rejects(
        b().backoff(Backoff::fixed(Duration::ZERO)),
        "backoff",
        "invalid retry setting `backoff`: a fixed delay must be above zero (use `Backoff::none()` for no delay)",
    );
    rejects(
        b().backoff(Backoff::fixed(Duration::MAX)),
        "backoff",
        "invalid retry setting `backoff`: a fixed delay must be at most 365 days",
    );
    rejects(
        b().backoff(Backoff::exponential(Duration::ZERO, 2.0, ms(1))),
        "initial",
        "invalid retry setting `initial`: must be above zero (use `Backoff::none()` for no delay)",
    );
    rejects(
        b().backoff(Backoff::exponential(ms(1), 2.0, Duration::MAX)),
        "max",
        "invalid retry setting `max`: must be at most 365 days",
    );
    rejects(
        b().backoff(Backoff::exponential(ms(200), 2.0, ms(100))),
        "max",
        "invalid retry setting `max`: must not be below `initial`",
    );
    for factor in [0.5, 0.0, -1.0, f64::NAN, f64::INFINITY] {
        rejects(
            b().backoff(Backoff::exponential(ms(1), factor, ms(10))),
            "factor",
            "invalid retry setting `factor`: must be a finite number of at least 1",
        );
    }
    rejects(
        b().backoff(Backoff::linear(ms(1), Duration::ZERO, ms(10))),
        "step",
        "invalid retry setting `step`: must be above zero (a linear backoff with no step is `Backoff::fixed`)",
    );
    rejects(
        b().backoff(Backoff::linear(ms(1), over, year)),
        "step",
        "invalid retry setting `step`: must be at most 365 days",
    );
    rejects(
        b().backoff(Backoff::linear(ms(5), ms(1), ms(4))),
        "max",
        "invalid retry setting `max`: must not be below `initial`",
    );
    rejects(
        b().backoff(Backoff::decorrelated(over, over)),
        "initial",
        "invalid retry setting `initial`: must be at most 365 days",
    );
    rejects(
        b().backoff(Backoff::decorrelated(ms(1), ms(10)))
            .jitter(Jitter::Full),
        "jitter",
        "invalid retry setting `jitter`: a decorrelated backoff draws its own random delays and takes no jitter; leave `jitter` unset or use `Jitter::None`",
    );
    rejects(
        b().max_elapsed(Duration::ZERO),
        "max_elapsed",
        "invalid retry setting `max_elapsed`: must be above zero",
    );
    rejects(
        b().max_elapsed(Duration::MAX),
        "max_elapsed",
        "invalid retry setting `max_elapsed`: must be at most 365 days",
    );
    rejects(
        b().max_retry_after(Duration::ZERO),
        "max_retry_after",
        "invalid retry setting `max_retry_after`: must be above zero (to ignore server hints, turn hint reading off instead)",
    );
    rejects(
        b().max_retry_after(Duration::MAX),
        "max_retry_after",
        "invalid retry setting `max_retry_after`: must be at most 365 days",
    );
}

#[test]
fn limits_are_inclusive() {
    let year = RetryPolicy::MAX_DURATION;
    let p = RetryPolicy::builder()
        .attempts(u32::MAX)
        .backoff(Backoff::exponential(year, 1.0, year))
        .max_elapsed(year)
        .max_retry_after(year)
        .try_build();
    assert!(p.is_ok(), "{p:?}");
    assert!(
        RetryPolicy::builder()
            .backoff(Backoff::none())
            .try_build()
            .is_ok()
    );
    assert!(
        RetryPolicy::builder()
            .backoff(Backoff::exponential(ms(5), 1.0, ms(5)))
            .try_build()
            .is_ok()
    );
}

#[test]
fn config_error_is_a_std_error() {
    let err = RetryPolicy::builder().attempts(0).try_build().unwrap_err();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(
        boxed.to_string(),
        "invalid retry setting `attempts`: must be at least 1"
    );
}
