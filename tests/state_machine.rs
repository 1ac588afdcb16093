//! The sans-IO retry state machine, driven with synthetic instants: no
//! runtime, no sleeping.

mod common;

use std::time::Duration;

use resilient::{Backoff, Decision, Failure, Jitter, RetryPolicy, RetryState, StopReason};
use tokio::time::Instant;

use common::secs;

fn fixed(attempts: u32, delay: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .attempts(attempts)
        .backoff(Backoff::fixed(delay))
        .jitter(Jitter::None)
        .build()
}

#[track_caller]
fn delay_of(decision: Decision) -> Duration {
    match decision {
        Decision::Retry(attempt) => attempt.delay(),
        Decision::Stop(reason) => panic!("stopped: {reason}"),
    }
}

#[test]
fn attempts_are_counted_and_numbered() {
    let p = fixed(3, secs(1));
    let now = Instant::now();
    let mut state = RetryState::new();
    let Decision::Retry(first) = state.on_failure(&p, Failure::transient(), now) else {
        panic!()
    };
    let Decision::Retry(second) = state.on_failure(&p, Failure::transient(), now) else {
        panic!()
    };
    assert_eq!((first.number(), second.number()), (1, 2));
    assert_eq!(
        state.on_failure(&p, Failure::transient(), now),
        Decision::Stop(StopReason::Exhausted)
    );
    assert_eq!(state.failures(), 3);
}

#[test]
fn a_permanent_failure_stops_even_with_attempts_left() {
    let mut state = RetryState::new();
    let d = state.on_failure(&fixed(9, secs(1)), Failure::permanent(), Instant::now());
    assert_eq!(d, Decision::Stop(StopReason::Permanent));
    assert_eq!(Failure::new(false), Failure::permanent());
    assert_eq!(Failure::new(true), Failure::transient());
}

#[test]
fn a_rejection_sleeps_the_longer_of_the_wait_and_the_backoff() {
    let p = fixed(5, secs(2));
    let now = Instant::now();
    let mut state = RetryState::new();
    assert_eq!(
        delay_of(state.on_failure(&p, Failure::rejected(secs(5)), now)),
        secs(5)
    );
    assert_eq!(
        delay_of(state.on_failure(&p, Failure::rejected(secs(1)), now)),
        secs(2)
    );
    assert_eq!(
        delay_of(state.on_failure(&p, Failure::rejected(Duration::ZERO), now)),
        secs(2)
    );
}

#[test]
fn a_rejection_beyond_max_retry_after_stops_at_once() {
    let p = RetryPolicy::builder().max_retry_after(secs(10)).build();
    let mut state = RetryState::new();
    let d = state.on_failure(&p, Failure::rejected(secs(11)), Instant::now());
    assert_eq!(d, Decision::Stop(StopReason::UnavailableTooLong(secs(11))));
}

#[test]
fn a_rejection_uses_up_an_attempt() {
    let p = fixed(2, secs(1));
    let now = Instant::now();
    let mut state = RetryState::new();
    assert!(matches!(
        state.on_failure(&p, Failure::rejected(secs(1)), now),
        Decision::Retry(_)
    ));
    assert_eq!(
        state.on_failure(&p, Failure::rejected(secs(1)), now),
        Decision::Stop(StopReason::Exhausted)
    );
}

#[test]
fn a_rejection_is_held_to_max_elapsed() {
    let p = RetryPolicy::builder().max_elapsed(secs(10)).build();
    let start = Instant::now();
    let mut state = RetryState::new();
    state.start(start);
    let d = state.on_failure(&p, Failure::rejected(secs(8)), start + secs(3));
    assert_eq!(d, Decision::Stop(StopReason::OutOfTime));
}

#[test]
fn a_hint_and_a_rejection_together_take_the_longer() {
    let p = fixed(3, secs(1));
    let mut state = RetryState::new();
    let failure = Failure::rejected(secs(4)).with_retry_after(Some(secs(6)));
    assert_eq!(
        delay_of(state.on_failure(&p, failure, Instant::now())),
        secs(6)
    );
}

#[test]
fn elapsed_counts_from_start_or_else_from_the_first_failure() {
    let p = fixed(5, secs(1));
    let t0 = Instant::now();

    let mut started = RetryState::new();
    started.start(t0);
    let Decision::Retry(a) = started.on_failure(&p, Failure::transient(), t0 + secs(4)) else {
        panic!()
    };
    assert_eq!(a.elapsed(), secs(4));

    let mut lazy = RetryState::new();
    let Decision::Retry(a) = lazy.on_failure(&p, Failure::transient(), t0 + secs(4)) else {
        panic!()
    };
    assert_eq!(a.elapsed(), Duration::ZERO);
    let Decision::Retry(a) = lazy.on_failure(&p, Failure::transient(), t0 + secs(9)) else {
        panic!()
    };
    assert_eq!(a.elapsed(), secs(5));
}

#[test]
fn needs_start_only_with_a_budget() {
    assert!(!RetryState::needs_start(&RetryPolicy::new()));
    assert!(RetryState::needs_start(
        &RetryPolicy::builder().max_elapsed(secs(1)).build()
    ));
}

#[test]
fn a_huge_attempt_limit_keeps_retrying() {
    let p = RetryPolicy::builder()
        .attempts(u32::MAX)
        .backoff(Backoff::none())
        .build();
    let mut state = RetryState::new();
    let now = Instant::now();
    for _ in 0..1000 {
        assert!(matches!(
            state.on_failure(&p, Failure::transient(), now),
            Decision::Retry(_)
        ));
    }
}

#[test]
fn an_overflowing_hint_stops_instead_of_wrapping() {
    let mut state = RetryState::new();
    let d = state.on_failure(
        &RetryPolicy::new(),
        Failure::transient().with_retry_after(Some(Duration::MAX)),
        Instant::now(),
    );
    assert_eq!(
        d,
        Decision::Stop(StopReason::RetryAfterTooLong(Duration::MAX))
    );
}
