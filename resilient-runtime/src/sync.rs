//! The atomics and lock the circuit breaker is built on: std's normally,
//! loom's under `--cfg resilient_loom`, so the state machine can be model-checked.
//!
//! std's are `const`-constructible, which a `static` breaker needs; loom's
//! are not, so under loom breakers are built at run time (local instances).

#[cfg(not(resilient_loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
#[cfg(not(resilient_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(resilient_loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU64, Ordering};
#[cfg(resilient_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering from poisoning: every critical section leaves
/// the guarded data consistent before anything that could panic, so a
/// panic elsewhere must not wedge the breaker.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
