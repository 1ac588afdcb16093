//! Metrics through the `metrics` facade (feature `metrics`), so any
//! exporter (Prometheus, `StatsD`, `OpenTelemetry`) receives them. Emitted on
//! events only: a call that succeeds through a closed breaker, a bulkhead
//! with room or a rate limit with room emits nothing, and costs nothing
//! more; an event allocates its label vector.
//!
//! The metrics, their labels and when each is emitted are listed once,
//! for users, in the README ("Metrics (feature `metrics`)"); the
//! functions below say what each one emits.
//!
//! The names follow resilience4j's Micrometer names where they map
//! (`resilience4j.circuitbreaker.not.permitted.calls` becomes
//! `resilient_circuitbreaker_not_permitted_calls_total`). A keyed breaker
//! or limiter names each key `name[key]`: a series per key, which an
//! evicted key leaves behind (the facade cannot remove one). Successful calls are not
//! counted: counting them would put a shared write on every call.

use metrics::{counter, gauge};

use crate::{BreakerName, CircuitState, StopReason};

const STATES: [CircuitState; 3] = [
    CircuitState::Closed,
    CircuitState::Open,
    CircuitState::HalfOpen,
];

fn state_label(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
    }
}

/// The state gauge of breaker `name`: 1 for `state`, 0 for the others.
pub(crate) fn breaker_state(name: &BreakerName, state: CircuitState) {
    for each in STATES {
        let value = if each == state { 1.0 } else { 0.0 };
        gauge!("resilient_circuitbreaker_state", "name" => name.label(), "state" => state_label(each))
            .set(value);
    }
}

pub(crate) fn breaker_failure(name: &BreakerName) {
    counter!("resilient_circuitbreaker_failed_calls_total", "name" => name.label()).increment(1);
}

pub(crate) fn breaker_slow(name: &BreakerName) {
    counter!("resilient_circuitbreaker_slow_calls_total", "name" => name.label()).increment(1);
}

pub(crate) fn breaker_refused(name: &BreakerName) {
    counter!("resilient_circuitbreaker_not_permitted_calls_total", "name" => name.label())
        .increment(1);
}

pub(crate) fn retry_scheduled(name: &'static str) {
    counter!("resilient_retry_retries_total", "name" => name).increment(1);
}

pub(crate) fn retry_stopped(name: &'static str, reason: &StopReason) {
    let reason = match reason {
        StopReason::Permanent => "permanent",
        StopReason::Exhausted => "exhausted",
        StopReason::RetryAfterTooLong(_) => "retry_after_too_long",
        StopReason::UnavailableTooLong(_) => "unavailable_too_long",
        StopReason::OutOfTime => "out_of_time",
        StopReason::BudgetExhausted => "budget_exhausted",
    };
    counter!("resilient_retry_failed_calls_total", "name" => name, "reason" => reason).increment(1);
}

pub(crate) fn timed_out() {
    counter!("resilient_timeout_calls_total").increment(1);
}

pub(crate) fn bulkhead_full(name: &BreakerName) {
    counter!("resilient_bulkhead_rejected_calls_total", "name" => name.label()).increment(1);
}

pub(crate) fn rate_limited(name: &BreakerName) {
    counter!("resilient_ratelimiter_rejected_calls_total", "name" => name.label()).increment(1);
}

pub(crate) fn rate_paused(name: &BreakerName) {
    counter!("resilient_ratelimiter_pauses_total", "name" => name.label()).increment(1);
}

pub(crate) fn hedge_copy(name: &'static str) {
    counter!("resilient_hedge_copies_total", "name" => name).increment(1);
}
