//! Time windows (`window = "30s"`) and slow calls (`slow = D, slow_rate =
//! R`): the breaker against a sequential model over random calls, call
//! lengths and clock advances, on a paused clock; then the attribute.
//!
//! The breaker files an outcome under the second of its clock it ended
//! in. The model counts seconds from the test's start, so every step moves
//! the clock by whole seconds (a call's length included): then the
//! breaker's seconds and the model's differ by a constant, and buckets
//! line up exactly.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use resilient::{CircuitBreaker, CircuitOpen, CircuitState, circuit_breaker};
use tokio::time::advance;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// A call that fails or not and takes this many seconds.
    Call {
        failed: bool,
        secs: u64,
    },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), prop_oneof![4 => Just(0u64), 1 => 1u64..4])
            .prop_map(|(failed, secs)| Op::Call { failed, secs }),
        2 => (1u64..8).prop_map(Op::Advance),
    ]
}

struct Spec {
    rate: f64,
    window: u64,
    min_calls: usize,
    /// Seconds a call must exceed to be slow (the breaker's `slow`, in
    /// whole seconds plus a half, so a call of N whole seconds is never
    /// on the edge).
    slow: Option<u64>,
    slow_rate: f64,
    reset: u64,
}

/// The model: the window's outcomes while closed, one trial at a time.
#[derive(Debug)]
enum Model {
    Closed(VecDeque<(u64, bool, bool)>),
    Open { opened: u64 },
    HalfOpen,
}

impl Model {
    fn state(&self, spec: &Spec, now: u64) -> CircuitState {
        match self {
            Model::Closed(_) => CircuitState::Closed,
            Model::HalfOpen => CircuitState::HalfOpen,
            Model::Open { opened } if now >= opened + spec.reset => CircuitState::HalfOpen,
            Model::Open { .. } => CircuitState::Open,
        }
    }

    /// Whether a call arriving at `now` is admitted.
    fn admit(&mut self, spec: &Spec, now: u64) -> bool {
        if let Model::Open { opened } = *self {
            if now < opened + spec.reset {
                return false;
            }
            *self = Model::HalfOpen;
        }
        true
    }

    /// The outcome of an admitted call that ended at `end`.
    fn finish(&mut self, spec: &Spec, end: u64, failed: bool, secs: u64) {
        let slow = spec.slow.is_some_and(|slow| secs > slow);
        match self {
            Model::HalfOpen => {
                *self = if failed || slow {
                    Model::Open { opened: end }
                } else {
                    Model::Closed(VecDeque::new())
                };
            }
            Model::Closed(calls) => {
                calls.push_back((end, failed, slow));
                // The window holds the seconds `end - window + 1 ..= end`.
                while calls
                    .front()
                    .is_some_and(|&(at, _, _)| at + spec.window <= end)
                {
                    calls.pop_front();
                }
                let n = calls.len();
                let failures = calls.iter().filter(|c| c.1).count();
                let slows = calls.iter().filter(|c| c.2).count();
                #[allow(clippy::cast_precision_loss)]
                let tripped = n >= spec.min_calls
                    && (failures as f64 / n as f64 >= spec.rate
                        || (spec.slow.is_some() && slows as f64 / n as f64 >= spec.slow_rate));
                if tripped {
                    *self = Model::Open { opened: end };
                }
            }
            Model::Open { .. } => unreachable!("an admitted call"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_time_window_with_slow_calls_follows_the_model(
        rate in prop_oneof![Just(0.5), Just(1.0), Just(0.3)],
        window in 1u64..6,
        min_calls in 1usize..5,
        slow in prop_oneof![Just(None), (0u64..3).prop_map(Some)],
        slow_rate in prop_oneof![Just(0.5), Just(1.0)],
        reset in 1u64..10,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let spec = Spec { rate, window, min_calls, slow, slow_rate, reset };
        let runtime = common::paused_runtime();
        runtime.block_on(async {
            let mut builder = CircuitBreaker::builder()
                .failure_rate(rate)
                .time_window(Duration::from_secs(window))
                .min_calls(u32::try_from(min_calls).unwrap())
                .reset(Duration::from_secs(reset));
            if let Some(slow) = slow {
                builder = builder
                    .slow(Duration::from_millis(slow * 1000 + 500))
                    .slow_rate(slow_rate);
            }
            let breaker = builder.build();
            let mut model = Model::Closed(VecDeque::new());
            let mut now = 0u64;
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Advance(secs) => {
                        advance(Duration::from_secs(secs)).await;
                        now += secs;
                    }
                    Op::Call { failed, secs } => {
                        let admitted = model.admit(&spec, now);
                        match (breaker.acquire(), admitted) {
                            (Ok(permit), true) => {
                                advance(Duration::from_secs(secs)).await;
                                now += secs;
                                permit.record(failed);
                                model.finish(&spec, now, failed, secs);
                            }
                            (Err(_), false) => {}
                            (got, want) => prop_assert!(
                                false,
                                "step {step} {op:?}: breaker admitted {}, model {want}",
                                got.is_ok()
                            ),
                        }
                    }
                }
                prop_assert_eq!(
                    breaker.state(),
                    model.state(&spec, now),
                    "after step {} {:?} at {}s: model {:?}",
                    step,
                    op,
                    now,
                    model
                );
            }
            Ok(())
        })?;
    }

    /// Slow calls over a count window, with lengths in milliseconds.
    #[test]
    fn slow_calls_over_a_count_window_follow_the_model(
        window in 1u32..8,
        slow_rate in prop_oneof![Just(0.5), Just(1.0), Just(0.25)],
        lengths in proptest::collection::vec((any::<bool>(), 0u64..300), 1..40),
    ) {
        let runtime = common::paused_runtime();
        runtime.block_on(async {
            // Failures alone never open it (`failure_rate = 1` and every
            // call a success): only slow calls can.
            let breaker = CircuitBreaker::builder()
                .failure_rate(1.0)
                .window(window)
                .slow(Duration::from_millis(100))
                .slow_rate(slow_rate)
                .reset(Duration::from_secs(3600))
                .build();
            let mut last: VecDeque<bool> = VecDeque::new();
            for (step, (_, ms)) in lengths.into_iter().enumerate() {
                let Ok(permit) = breaker.acquire() else {
                    break;
                };
                advance(Duration::from_millis(ms)).await;
                permit.success();
                last.push_back(ms > 100);
                if last.len() > window as usize {
                    last.pop_front();
                }
                let slow = last.iter().filter(|s| **s).count();
                #[allow(clippy::cast_precision_loss)]
                let open = last.len() == window as usize
                    && slow as f64 / last.len() as f64 >= slow_rate;
                prop_assert_eq!(
                    breaker.state() == CircuitState::Open,
                    open,
                    "step {}: {} ms, window {:?}",
                    step,
                    ms,
                    last
                );
                if open {
                    break;
                }
            }
            Ok(())
        })?;
    }
}

#[derive(Debug, PartialEq)]
enum Error {
    Down,
    Open,
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

#[circuit_breaker(failure_rate = 0.5, window = "10s", min_calls = 4, reset = "30s")]
async fn over_ten_seconds(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

/// Failures that age out of a time window no longer count: two failures,
/// then 11 s later two successes and one failure is a third, not 60 %.
#[tokio::test(start_paused = true)]
async fn old_failures_leave_a_time_window() {
    for fail in [true, true] {
        let _ = over_ten_seconds(fail).await;
    }
    advance(Duration::from_secs(11)).await;
    for fail in [false, false, true] {
        assert_ne!(over_ten_seconds(fail).await, Err(Error::Open));
    }
    // Three calls in the window: below `min_calls`, whatever the rate.
    assert_eq!(over_ten_seconds(true).await, Err(Error::Down));
    // Four calls, two failed: half, and it opens.
    assert_eq!(over_ten_seconds(false).await, Err(Error::Open));
}

#[circuit_breaker(
    failure_rate = 1,
    window = 4,
    slow = "200ms",
    slow_rate = 0.5,
    reset = "30s"
)]
async fn sometimes_slow(delay_ms: u64) -> Result<(), Error> {
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    Ok(())
}

/// Successful but slow calls open the breaker: two of four over 200 ms.
#[tokio::test(start_paused = true)]
async fn slow_successes_open_the_breaker() {
    for delay in [10, 250, 10] {
        assert_eq!(sometimes_slow(delay).await, Ok(()));
    }
    assert_eq!(sometimes_slow(300).await, Ok(()), "the fourth call runs");
    assert_eq!(sometimes_slow(0).await, Err(Error::Open));

    // After the reset, a slow trial keeps it open; a quick one closes it.
    advance(Duration::from_secs(30)).await;
    assert_eq!(sometimes_slow(500).await, Ok(()));
    assert_eq!(sometimes_slow(0).await, Err(Error::Open));
    advance(Duration::from_secs(30)).await;
    assert_eq!(sometimes_slow(0).await, Ok(()));
    assert_eq!(sometimes_slow(0).await, Ok(()), "closed again");
}

#[test]
fn time_windows_are_whole_seconds_and_slow_needs_a_rate() {
    let err = CircuitBreaker::builder()
        .failure_rate(0.5)
        .time_window(Duration::from_millis(1500))
        .try_build()
        .unwrap_err();
    assert_eq!(err.key(), "time_window");
    let err = CircuitBreaker::builder()
        .slow(Duration::from_secs(1))
        .try_build()
        .unwrap_err();
    assert_eq!(err.key(), "slow");
    let err = CircuitBreaker::builder()
        .failure_rate(0.5)
        .window(10)
        .time_window(Duration::from_secs(10))
        .try_build()
        .unwrap_err();
    assert_eq!(err.key(), "time_window");
}
