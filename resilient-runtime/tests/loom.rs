//! Model checks of the circuit breaker's state word, permits and lock with
//! loom, which runs every interleaving of the threads below.
//!
//! ```text
//! RUSTFLAGS="--cfg resilient_loom" cargo test -p resilient-runtime --test loom --release
//! ```
//!
//! Under that cfg the breaker's atomics and lock are loom's; its clock is
//! still tokio's (the std clock outside a runtime), so each model reaches
//! half-open by a short real sleep past a 1 ns `reset`.
#![cfg(resilient_loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use resilient_runtime::{CircuitBreaker, CircuitState};

fn tripped(half_open: u32) -> Arc<CircuitBreaker> {
    let breaker = CircuitBreaker::builder()
        .failures(1)
        .half_open(half_open)
        .reset(Duration::from_nanos(1))
        .build();
    breaker.acquire().unwrap().failure();
    std::thread::sleep(Duration::from_micros(2));
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    Arc::new(breaker)
}

/// Two callers race for one trial permit; one of them abandons its call.
/// Never two trials at once, and the permit is never lost.
#[test]
fn one_trial_at_a_time_and_no_leak() {
    loom::model(|| {
        let breaker = tripped(1);
        let running = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (breaker, running) = (breaker.clone(), running.clone());
                thread::spawn(move || {
                    if let Ok(permit) = breaker.acquire() {
                        // Once the other's trial closed the breaker, this is
                        // an ordinary call.
                        let trial = permit.is_trial();
                        if trial {
                            assert_eq!(
                                running.fetch_add(1, Ordering::SeqCst),
                                0,
                                "two trials at once"
                            );
                        }
                        if i == 0 {
                            if trial {
                                running.fetch_sub(1, Ordering::SeqCst);
                            }
                            drop(permit); // cancelled
                        } else {
                            if trial {
                                running.fetch_sub(1, Ordering::SeqCst);
                            }
                            permit.success();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Closed (the success won), or half-open with its permit free.
        let permit = breaker.acquire().expect("no permit may leak");
        permit.success();
        assert_eq!(breaker.state(), CircuitState::Closed);
    });
}

/// Two trials of two: one fails while the other succeeds. Whatever the
/// order, the breaker does not close (with a 1 ns `reset` it may already be
/// half-open again, but never closed: that takes two successes in one
/// half-open period).
#[test]
fn a_failed_trial_keeps_it_from_closing() {
    loom::model(|| {
        let breaker = tripped(2);
        let other = breaker.clone();
        let t = thread::spawn(move || {
            if let Ok(permit) = other.acquire() {
                permit.success();
            }
        });
        if let Ok(permit) = breaker.acquire() {
            permit.failure();
        }
        t.join().unwrap();
        assert_ne!(breaker.state(), CircuitState::Closed);
    });
}

/// Two failures racing in closed state, threshold 2: the breaker opens.
#[test]
fn concurrent_failures_are_all_counted() {
    loom::model(|| {
        let breaker = Arc::new(CircuitBreaker::builder().failures(2).build());
        let other = breaker.clone();
        let t = thread::spawn(move || other.acquire().unwrap().failure());
        breaker.acquire().unwrap().failure();
        t.join().unwrap();
        assert_eq!(breaker.state(), CircuitState::Open);
    });
}

/// A reset racing a failure admitted before it: either the failure lands
/// first and the reset clears it, or it arrives stale and is ignored.
#[test]
fn a_reset_racing_a_failure_leaves_it_closed() {
    loom::model(|| {
        let breaker = Arc::new(CircuitBreaker::builder().failures(1).build());
        let permit_breaker = breaker.clone();
        let t = thread::spawn(move || {
            let permit = permit_breaker.acquire().unwrap();
            permit.failure();
        });
        breaker.reset();
        t.join().unwrap();
        let state = breaker.state();
        // The acquire may also come after the reset, then its failure is
        // current and opens the breaker: both are correct orders.
        assert!(
            matches!(state, CircuitState::Closed | CircuitState::Open),
            "{state:?}"
        );
    });
}

/// A kill switch racing a trial: `force_open` always wins, and `reset`
/// after it always closes.
#[test]
fn force_open_racing_a_trial() {
    loom::model(|| {
        let breaker = tripped(1);
        let other = breaker.clone();
        let t = thread::spawn(move || {
            if let Ok(permit) = other.acquire() {
                permit.success();
            }
        });
        breaker.force_open();
        t.join().unwrap();
        assert_eq!(breaker.state(), CircuitState::Open);
        breaker.reset();
        assert_eq!(breaker.state(), CircuitState::Closed);
    });
}
