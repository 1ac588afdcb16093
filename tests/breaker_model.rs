//! The circuit breaker against a simple sequential model: random sequences
//! of calls (success, failure, cancelled), clock advances and resets, on a
//! paused tokio clock. After every step the breaker's state, and the wait a
//! rejection reports, must be the model's.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use resilient::{CircuitBreaker, CircuitState};

#[derive(Clone, Copy, Debug)]
enum Op {
    Success,
    Failure,
    Cancelled,
    Advance(u64),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Success),
        4 => Just(Op::Failure),
        1 => Just(Op::Cancelled),
        3 => (0u64..1500).prop_map(Op::Advance),
        1 => Just(Op::Reset),
    ]
}

/// The model: consecutive-failure mode, calls one at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Model {
    Closed { failures: u32 },
    Open { opened: u64 },
    HalfOpen { successes: u32 },
}

struct Spec {
    failures: u32,
    reset_ms: u64,
    half_open: u32,
}

impl Model {
    /// The state as `state()` reports it at `now` (milliseconds).
    fn state(self, spec: &Spec, now: u64) -> CircuitState {
        match self {
            Model::Closed { .. } => CircuitState::Closed,
            Model::HalfOpen { .. } => CircuitState::HalfOpen,
            Model::Open { opened } if now >= opened + spec.reset_ms => CircuitState::HalfOpen,
            Model::Open { .. } => CircuitState::Open,
        }
    }

    /// One call with `outcome` at `now`: `Err(wait_ms)` if rejected.
    fn call(&mut self, spec: &Spec, now: u64, op: Op) -> Result<(), u64> {
        if let Model::Open { opened } = *self {
            if now < opened + spec.reset_ms {
                return Err(opened + spec.reset_ms - now);
            }
            *self = Model::HalfOpen { successes: 0 };
        }
        match (*self, op) {
            (Model::Closed { .. }, Op::Success) => *self = Model::Closed { failures: 0 },
            (Model::Closed { failures }, Op::Failure) => {
                *self = if failures + 1 >= spec.failures {
                    Model::Open { opened: now }
                } else {
                    Model::Closed {
                        failures: failures + 1,
                    }
                };
            }
            (Model::HalfOpen { successes }, Op::Success) => {
                *self = if successes + 1 >= spec.half_open {
                    Model::Closed { failures: 0 }
                } else {
                    Model::HalfOpen {
                        successes: successes + 1,
                    }
                };
            }
            (Model::HalfOpen { .. }, Op::Failure) => *self = Model::Open { opened: now },
            // A cancelled call counts as nothing; a half-open trial's permit
            // comes back.
            _ => {}
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_breaker_follows_the_model(
        failures in 1u32..4,
        reset_ms in 1u64..2000,
        half_open in 1u32..3,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let spec = Spec { failures, reset_ms, half_open };
        let runtime = common::paused_runtime();
        runtime.block_on(async {
            let breaker = CircuitBreaker::builder()
                .failures(failures)
                .reset(Duration::from_millis(reset_ms))
                .half_open(half_open)
                .build();
            let mut model = Model::Closed { failures: 0 };
            let mut now = 0u64;
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Advance(ms) => {
                        tokio::time::advance(Duration::from_millis(ms)).await;
                        now += ms;
                    }
                    Op::Reset => {
                        breaker.reset();
                        model = Model::Closed { failures: 0 };
                    }
                    Op::Success | Op::Failure | Op::Cancelled => {
                        let expected = model.call(&spec, now, op);
                        match (breaker.acquire(), expected) {
                            (Ok(permit), Ok(())) => match op {
                                Op::Success => permit.success(),
                                Op::Failure => permit.failure(),
                                _ => drop(permit),
                            },
                            (Err(open), Err(wait)) => {
                                prop_assert_eq!(open.retry_after(), Duration::from_millis(wait), "step {}", step);
                            }
                            (got, want) => {
                                prop_assert!(false, "step {step} {op:?}: breaker {:?}, model {want:?}", got.map(|_| ()));
                            }
                        }
                    }
                }
                prop_assert_eq!(breaker.state(), model.state(&spec, now), "after step {} {:?}", step, op);
            }
            Ok(())
        })?;
    }
}
