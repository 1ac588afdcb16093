//! Properties of every backoff and jitter, for any input.

use std::time::Duration;

use proptest::prelude::*;
use resilient::{Backoff, Decision, Failure, Jitter, RetryPolicy, RetryState};
use tokio::time::Instant;

/// Any duration at all, including `Duration::MAX`.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..=u64::MAX).prop_map(Duration::from_nanos),
    ]
}

/// A duration a valid policy accepts: 1 ns to 365 days.
fn valid_duration() -> impl Strategy<Value = Duration> {
    // MAX_DURATION is whole seconds.
    (1u64..=RetryPolicy::MAX_DURATION.as_secs() * 1_000_000_000).prop_map(Duration::from_nanos)
}

fn any_factor() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), 1.0..10.0f64, Just(1.0), Just(f64::MAX)]
}

fn any_backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        Just(Backoff::none()),
        any_duration().prop_map(Backoff::fixed),
        (any_duration(), any_duration(), any_duration())
            .prop_map(|(i, s, m)| Backoff::linear(i, s, m)),
        (any_duration(), any_factor(), any_duration())
            .prop_map(|(i, f, m)| Backoff::exponential(i, f, m)),
        (any_duration(), any_duration()).prop_map(|(i, m)| Backoff::decorrelated(i, m)),
    ]
}

fn any_jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
}

/// Valid (initial, max) with initial <= max.
fn valid_range() -> impl Strategy<Value = (Duration, Duration)> {
    (valid_duration(), valid_duration()).prop_map(|(a, b)| (a.min(b), a.max(b)))
}

/// A valid backoff whose delays follow an envelope (every kind but
/// decorrelated).
fn envelope_backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        Just(Backoff::none()),
        valid_duration().prop_map(Backoff::fixed),
        (valid_range(), valid_duration()).prop_map(|((i, m), s)| Backoff::linear(i, s, m)),
        (valid_range(), 1.0..16.0f64).prop_map(|((i, m), f)| Backoff::exponential(i, f, m)),
    ]
}

fn valid_backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        4 => envelope_backoff(),
        1 => valid_range().prop_map(|(i, m)| Backoff::decorrelated(i, m)),
    ]
}

/// Drives a state machine through `n` transient failures (optionally with a
/// hint each time) and returns every delay it chose.
fn delays(policy: &RetryPolicy, n: u32, hint: Option<Duration>) -> Vec<Duration> {
    let mut state = RetryState::new();
    let now = Instant::now();
    (0..n)
        .map_while(|_| {
            match state.on_failure(policy, Failure::transient().with_retry_after(hint), now) {
                Decision::Retry(attempt) => Some(attempt.delay()),
                Decision::Stop(_) => None,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No input makes the arithmetic panic: any backoff, even one a policy
    /// would reject, for any attempt number.
    #[test]
    fn no_panic_for_extreme_inputs(backoff in any_backoff(), jitter in any_jitter(), attempt in any::<u32>(), seed in any::<u64>()) {
        let delay = backoff.delay(attempt);
        prop_assert!(delay <= backoff.max(), "{delay:?} > {:?}", backoff.max());
        let (lo, hi) = jitter.bounds(delay);
        prop_assert!(lo <= hi && hi == delay);
        if let Ok(policy) = RetryPolicy::builder().attempts(attempt.max(1)).backoff(backoff).jitter(jitter).try_build() {
            resilient::testing::seed(seed);
            let _ = delays(&policy, 40, None);
        }
    }

    /// Every delay, before and after jitter, is within [0, max].
    #[test]
    fn jittered_delays_stay_within_max(backoff in envelope_backoff(), jitter in any_jitter(), seed in any::<u64>()) {
        let policy = RetryPolicy::builder().attempts(u32::MAX).backoff(backoff).jitter(jitter).build();
        resilient::testing::seed(seed);
        for (n, delay) in (1..).zip(delays(&policy, 80, None)) {
            prop_assert!(delay <= backoff.max(), "attempt {n}: {delay:?} > {:?}", backoff.max());
            let (lo, hi) = jitter.bounds(backoff.delay(n));
            prop_assert!(delay >= lo && delay <= hi, "attempt {n}: {delay:?} outside {lo:?}..={hi:?}");
        }
    }

    /// The exponential envelope never shrinks, starts at `initial` and
    /// never passes `max`, for any attempt up to `u32::MAX`.
    #[test]
    fn exponential_envelope_is_monotone(
        (initial, max) in valid_range(),
        factor in 1.0..64.0f64,
        n in any::<u32>(),
    ) {
        let b = Backoff::exponential(initial, factor, max);
        prop_assert_eq!(b.delay(1), initial);
        let (d, next) = (b.delay(n), b.delay(n.saturating_add(1)));
        prop_assert!(d <= next, "delay({n}) = {d:?} > delay({}) = {next:?}", n.saturating_add(1));
        prop_assert!(next <= max);
        prop_assert_eq!(b.delay(u32::MAX), if factor > 1.0 { max } else { initial });
    }

    /// Linear likewise.
    #[test]
    fn linear_envelope_is_monotone((initial, max) in valid_range(), step in valid_duration(), n in any::<u32>()) {
        let b = Backoff::linear(initial, step, max);
        prop_assert!(b.delay(n) <= b.delay(n.saturating_add(1)));
        prop_assert!(b.delay(n) <= max);
    }

    /// Decorrelated delays stay in [initial, max], and within three times
    /// the previous one.
    #[test]
    fn decorrelated_stays_within_initial_and_max((initial, max) in valid_range(), seed in any::<u64>()) {
        let policy = RetryPolicy::builder().attempts(u32::MAX).backoff(Backoff::decorrelated(initial, max)).build();
        resilient::testing::seed(seed);
        let mut previous = initial;
        for delay in delays(&policy, 60, None) {
            prop_assert!(delay >= initial && delay <= max, "{delay:?} outside {initial:?}..={max:?}");
            prop_assert!(delay <= previous.saturating_mul(3));
            previous = delay;
        }
    }

    /// With a server hint within the cap, the delay is the hint plus at
    /// most the backoff's delay: never shorter than the hint, never beyond
    /// `max_retry_after + max`.
    #[test]
    fn hinted_delays_are_bounded(
        backoff in valid_backoff(),
        hint in valid_duration(),
        cap in valid_duration(),
        seed in any::<u64>(),
    ) {
        let Ok(policy) = RetryPolicy::builder().attempts(u32::MAX).backoff(backoff).max_retry_after(cap).try_build() else {
            return Ok(());
        };
        resilient::testing::seed(seed);
        let got = delays(&policy, 20, Some(hint));
        if hint > cap {
            prop_assert!(got.is_empty());
        }
        for (n, delay) in (1..).zip(got) {
            prop_assert!(delay >= hint);
            prop_assert!(delay <= hint + backoff.delay(n), "{delay:?}");
            prop_assert!(delay <= cap + backoff.max());
        }
    }

    /// `max_elapsed` is never overrun by a chosen sleep.
    #[test]
    fn sleeps_never_end_past_the_budget(
        backoff in valid_backoff(),
        budget in valid_duration(),
        hint in proptest::option::of(valid_duration()),
        steps in proptest::collection::vec(0u64..10_000_000_000, 1..30),
    ) {
        let Ok(policy) = RetryPolicy::builder()
            .attempts(u32::MAX).backoff(backoff).max_elapsed(budget).max_retry_after(RetryPolicy::MAX_DURATION)
            .try_build() else { return Ok(()) };
        let start = Instant::now();
        let mut state = RetryState::new();
        state.start(start);
        let mut now = start;
        for step in steps {
            now += Duration::from_nanos(step);
            match state.on_failure(&policy, Failure::transient().with_retry_after(hint), now) {
                Decision::Retry(a) => {
                    prop_assert!(a.elapsed() + a.delay() <= budget);
                    now += a.delay();
                }
                Decision::Stop(_) => break,
            }
        }
    }
}
