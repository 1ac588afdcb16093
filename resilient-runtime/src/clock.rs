//! Breaker time: signed nanoseconds of tokio's clock since a process epoch.
//!
//! Exact (never rounded, never saturated in any real run: i64 nanoseconds
//! span ±292 years) and signed, because a `static` breaker is shared by
//! tests on separate paused tokio runtimes, whose clocks start at different
//! instants and may read *before* the epoch that the first use fixed.

use std::sync::OnceLock;
use std::time::Instant as StdInstant;

use tokio::time::Instant;

static EPOCH: OnceLock<StdInstant> = OnceLock::new();

/// Nanoseconds from the process epoch to tokio's `now` (paused or not).
#[cfg(not(resilient_loom))]
pub(crate) fn now() -> i64 {
    since_epoch(Instant::now())
}

// Under loom, a clock the model sets: every model thread runs on the test's
// own OS thread, so a thread-local makes each model's time its own and
// fixed unless the model moves it, and the interleavings explored do not
// depend on wall time.
#[cfg(resilient_loom)]
thread_local! {
    static MODEL_NOW: core::cell::Cell<i64> = const { core::cell::Cell::new(0) };
}

#[cfg(resilient_loom)]
pub(crate) fn now() -> i64 {
    MODEL_NOW.with(core::cell::Cell::get)
}

/// Sets the model clock back to zero (loom models only): each iteration of
/// a model starts at the same time.
#[cfg(resilient_loom)]
#[doc(hidden)]
pub fn reset_model_clock() {
    MODEL_NOW.with(|now| now.set(0));
}

/// Moves the model clock forward (loom models only).
#[cfg(resilient_loom)]
#[doc(hidden)]
pub fn advance_model_clock(d: core::time::Duration) {
    MODEL_NOW.with(|now| now.set(now.get() + nanos(d)));
}

#[cfg_attr(resilient_loom, allow(dead_code))] // the model clock replaces it
pub(crate) fn since_epoch(t: Instant) -> i64 {
    let epoch = *EPOCH.get_or_init(StdInstant::now);
    let t = t.into_std();
    match t.checked_duration_since(epoch) {
        Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        None => i64::try_from(epoch.duration_since(t).as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// `Duration` as i64 nanoseconds; breaker settings are validated to at
/// most 365 days, far below the limit.
pub(crate) const fn nanos(d: core::time::Duration) -> i64 {
    let n = d.as_nanos();
    #[allow(clippy::cast_possible_truncation)] // checked just before
    if n > i64::MAX as u128 {
        i64::MAX
    } else {
        n as i64
    }
}

/// Clock nanoseconds as microseconds modulo 2^32 (a slow call's start,
/// kept in 32 bits of its permit): differences are exact for calls
/// shorter than 71 minutes.
pub(crate) const fn micros32(nanos: i64) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // the wrap is the point
    {
        nanos.div_euclid(1_000) as u32
    }
}

/// Microseconds from `started` ([`micros32`]) to `now` (nanoseconds),
/// modulo 2^32 µs (71.6 minutes): a call longer than that may measure as
/// short. `slow` is at most an hour, so every slow call shorter than 71
/// minutes is caught.
pub(crate) const fn elapsed_micros32(started: u32, now: i64) -> u32 {
    micros32(now).wrapping_sub(started)
}

/// The non-negative part of `n` nanoseconds as a `Duration`.
pub(crate) fn duration(n: i64) -> core::time::Duration {
    core::time::Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn instants_before_the_epoch_are_negative_and_exact() {
        let base = Instant::now();
        let at = since_epoch(base);
        let earlier = base.checked_sub(Duration::from_nanos(1_234_567)).unwrap();
        assert_eq!(since_epoch(earlier), at - 1_234_567);
        assert_eq!(
            since_epoch(base + Duration::from_secs(3600)),
            at + 3_600_000_000_000
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(nanos(Duration::from_millis(5)), 5_000_000);
        assert_eq!(nanos(Duration::MAX), i64::MAX);
        assert_eq!(duration(-5), Duration::ZERO);
        assert_eq!(duration(7), Duration::from_nanos(7));
    }
}
