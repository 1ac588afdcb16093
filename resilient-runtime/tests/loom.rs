//! Model checks of the circuit breaker's state word, permits and lock with
//! loom, which runs every interleaving of the threads below.
//!
//! ```text
//! RUSTFLAGS="--cfg resilient_loom" cargo test -p resilient-fn-runtime --test loom --release
//! ```
//!
//! Under that cfg the breaker's atomics and lock are loom's, and its clock
//! is a model clock that moves only when a model says so.
#![cfg(resilient_loom)]

use std::cell::RefCell;
use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use resilient_runtime::{
    CircuitBreaker, CircuitState, RetryBudget, StateChange, advance_model_clock, reset_model_clock,
};

const RESET: Duration = Duration::from_secs(1);

/// Every interleaving with at most two preemptions (as tokio bounds its own
/// loom runs): the bugs loom finds need few, and three threads with no
/// bound take many minutes.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(move || {
        // The model clock is a thread-local that outlives an iteration.
        reset_model_clock();
        f();
    });
}

thread_local! {
    // Every model thread runs on the test's OS thread: one log per test.
    static CHANGES: RefCell<Vec<(u64, CircuitState, CircuitState)>> = const { RefCell::new(Vec::new()) };
}

fn log_change(change: &StateChange<'_>) {
    CHANGES.with(|c| {
        c.borrow_mut()
            .push((change.sequence, change.from, change.to))
    });
}

fn breaker(failures: u32, half_open: u32) -> Arc<CircuitBreaker> {
    CHANGES.with(|c| c.borrow_mut().clear());
    Arc::new(
        CircuitBreaker::builder()
            .failures(failures)
            .half_open(half_open)
            .reset(RESET)
            .on_state_change(log_change)
            .build(),
    )
}

/// A breaker that opened and whose reset time has just passed.
fn half_open(trials: u32) -> Arc<CircuitBreaker> {
    let breaker = breaker(1, trials);
    breaker.acquire().unwrap().failure();
    advance_model_clock(RESET);
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    breaker
}

/// The hook's events, in sequence order, form one chain from `Closed` to
/// the final state: each change is reported, and reported truthfully. The
/// one link without an event is time passing: an open breaker whose reset
/// time has passed reads as half-open.
fn assert_changes_chain_to(breaker: &CircuitBreaker) {
    use CircuitState::{Closed, HalfOpen, Open};
    let follows = |previous: CircuitState, next: CircuitState| {
        previous == next || (previous == Open && next == HalfOpen)
    };
    let mut changes = CHANGES.with(|c| c.borrow().clone());
    changes.sort_unstable_by_key(|c| c.0);
    let mut state = Closed;
    for (i, (sequence, from, to)) in changes.iter().enumerate() {
        assert_eq!(*sequence, i as u64 + 1, "{changes:?}");
        assert!(follows(state, *from), "{changes:?}");
        assert_ne!(from, to, "{changes:?}");
        state = *to;
    }
    assert!(
        follows(state, breaker.state()),
        "{changes:?}, now {:?}",
        breaker.state()
    );
}

/// Three callers race for two trial permits; one of them abandons its
/// call. Never more than two trials at once, and no permit is lost.
#[test]
fn trials_never_exceed_half_open_and_no_permit_leaks() {
    model(|| {
        let breaker = half_open(2);
        let running = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let (breaker, running) = (breaker.clone(), running.clone());
                thread::spawn(move || {
                    let Ok(permit) = breaker.acquire() else {
                        return;
                    };
                    // Once trials closed the breaker, this is an ordinary call.
                    let trial = permit.is_trial();
                    if trial {
                        assert!(
                            running.fetch_add(1, Ordering::SeqCst) < 2,
                            "three trials at once"
                        );
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                    if i == 0 {
                        drop(permit); // cancelled
                    } else {
                        permit.success();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Closed, or half-open with its permits free again.
        while breaker.state() == CircuitState::HalfOpen {
            breaker.acquire().expect("a trial permit leaked").success();
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_changes_chain_to(&breaker);
    });
}

/// One trial fails while the other succeeds: whatever the order, the
/// breaker opens again (closing takes two successes in one period).
#[test]
fn a_failed_trial_wins_over_a_concurrent_success() {
    model(|| {
        let breaker = half_open(2);
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
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_changes_chain_to(&breaker);
    });
}

/// Two failures racing in closed state, threshold 2: both are counted.
#[test]
fn concurrent_failures_are_all_counted() {
    model(|| {
        let breaker = breaker(2, 1);
        let other = breaker.clone();
        let t = thread::spawn(move || other.acquire().unwrap().failure());
        breaker.acquire().unwrap().failure();
        t.join().unwrap();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_changes_chain_to(&breaker);
    });
}

/// A reset racing a call that fails: the failure opens the breaker or is
/// cleared (or ignored as stale) by the reset; either way the hook's
/// events tell the truth about the final state.
#[test]
fn a_reset_racing_a_failure_is_reported_truthfully() {
    model(|| {
        let breaker = breaker(1, 1);
        let other = breaker.clone();
        let t = thread::spawn(move || other.acquire().unwrap().failure());
        breaker.reset();
        t.join().unwrap();
        assert_changes_chain_to(&breaker);
    });
}

/// `force_open` racing the start of a trial: it always wins, and a reset
/// after it closes the breaker.
#[test]
fn force_open_racing_a_trial() {
    model(|| {
        let breaker = half_open(1);
        let other = breaker.clone();
        let t = thread::spawn(move || {
            if let Ok(permit) = other.acquire() {
                permit.success();
            }
        });
        breaker.force_open();
        t.join().unwrap();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_changes_chain_to(&breaker);
        breaker.reset();
        assert_eq!(breaker.state(), CircuitState::Closed);
    });
}

/// A budget with no reserve whose calls earn one retry each.
fn one_per_call() -> Arc<RetryBudget> {
    Arc::new(RetryBudget::builder().min_per_sec(0).ratio(1.0).build())
}

/// Two retries racing for the one token there is: exactly one gets it.
#[test]
fn two_withdrawals_never_spend_one_token_twice() {
    model(|| {
        let budget = one_per_call();
        budget.deposit();
        let other = budget.clone();
        let t = thread::spawn(move || other.try_withdraw().is_some());
        let here = budget.try_withdraw().is_some();
        let there = t.join().unwrap();
        assert!(here ^ there, "one of the two, never both: {here} {there}");
        assert_eq!(budget.available(), 0);
    });
}

/// A deposit racing a withdrawal is never lost: the withdrawal finds it or
/// leaves it.
#[test]
fn a_deposit_racing_a_withdrawal_is_never_lost() {
    model(|| {
        let budget = one_per_call();
        let other = budget.clone();
        let t = thread::spawn(move || other.deposit());
        let took = budget.try_withdraw().is_some();
        t.join().unwrap();
        assert_eq!(budget.available(), if took { 0 } else { 1 });
    });
}

/// Two deposits into one slot, and a third into the same slot a whole
/// `ttl` later (the slot changes hands): nothing counted twice, the later
/// one never lost.
#[test]
fn deposits_racing_a_slot_changing_hands() {
    model(|| {
        let budget = one_per_call();
        let other = budget.clone();
        let t = thread::spawn(move || other.deposit());
        budget.deposit();
        advance_model_clock(budget.ttl());
        budget.deposit();
        t.join().unwrap();
        // The first deposit has expired; the other thread's counts only if
        // it read the clock after the advance.
        let available = budget.available();
        assert!((1..=2).contains(&available), "{available}");
    });
}
