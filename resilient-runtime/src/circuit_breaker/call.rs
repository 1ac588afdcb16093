//! The future of [`CircuitBreaker::call`] and
//! [`CircuitBreaker::call_with`]: a hand-written one rather than an
//! `async fn`, so its `poll` inlines into the caller's and neither the
//! result nor a rejection is moved out through a frame of its own.

use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{CircuitBreaker, CircuitOpen, Permit};

pin_project! {
    /// The future of [`CircuitBreaker::call`] and
    /// [`CircuitBreaker::call_with`]: asks the breaker on its first poll,
    /// then runs the call and records its outcome. A rejected call's
    /// future is dropped at once, unpolled.
    ///
    /// Dropped before the call finishes, it gives its permit back (see
    /// [`Permit`]); a panic in the call counts as a failure, recorded as
    /// the panic leaves `poll`.
    ///
    /// ```
    /// use std::future::Ready;
    /// use resilient::{Call, CircuitBreaker, CircuitOpen};
    ///
    /// # #[derive(Debug)] struct Error;
    /// # impl From<CircuitOpen> for Error { fn from(_: CircuitOpen) -> Self { Error } }
    /// // A type to keep a call in a struct field or return it unboxed.
    /// fn ping(breaker: &CircuitBreaker) -> Call<'_, Ready<Result<u8, Error>>, fn(&Error) -> bool> {
    ///     breaker.call(std::future::ready(Ok(1)))
    /// }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F, C>
    where
        F: IntoFuture,
    {
        breaker: &'a CircuitBreaker,
        // Built in place when the call is made (a move of the future at
        // the first poll showed up as a stall in `perf`); emptied as soon
        // as the call is over, so it does not outlive its use.
        #[pin]
        fut: Option<F::IntoFuture>,
        permit: Option<Permit<'a>>,
        // `None` once the call is over (its outcome or its rejection).
        is_failure: Option<C>,
    }
}

impl<'a, F: IntoFuture, C> Call<'a, F, C> {
    pub(super) fn new(breaker: &'a CircuitBreaker, call: F, is_failure: C) -> Self {
        Self {
            breaker,
            fut: Some(call.into_future()),
            permit: None,
            is_failure: Some(is_failure),
        }
    }
}

impl<F, C, T, E> Future for Call<'_, F, C>
where
    F: IntoFuture<Output = Result<T, E>>,
    E: From<CircuitOpen>,
    C: FnOnce(&E) -> bool,
{
    type Output = Result<T, E>;

    // `always`: a plain `#[inline]` left it out of line in the benchmark,
    // and its result then went through memory (a store-forwarding stall).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // After the outcome (or the rejection) the call is gone; polling
        // again is a caller's bug, reported as an `async fn` would.
        assert!(
            this.is_failure.is_some(),
            "`Call` polled after it completed"
        );
        if this.permit.is_none() {
            match this.breaker.admit() {
                Ok(permit) => *this.permit = Some(permit),
                Err(wait) => {
                    this.fut.set(None);
                    *this.is_failure = None;
                    let open = this.breaker.rejection(wait);
                    return Poll::Ready(Err(E::from(open)));
                }
            }
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            // Unreachable: an admitted call keeps its future until its
            // outcome.
            return Poll::Pending;
        };
        // A panic in the call is its failure, recorded as it unwinds out
        // of here, not whenever the owner drops this future (after a
        // `catch_unwind`, when nothing would tell it from a cancellation).
        let guard = FailOnUnwind {
            permit: &mut *this.permit,
            is_failure: &mut *this.is_failure,
        };
        let poll = fut.poll(cx);
        core::mem::forget(guard);
        let outcome = ready!(poll);
        this.fut.set(None);
        if let (Some(permit), Some(is_failure)) = (this.permit.take(), this.is_failure.take()) {
            match &outcome {
                Ok(_) => permit.success(),
                Err(err) => permit.record(is_failure(err)),
            }
        }
        Poll::Ready(outcome)
    }
}

/// Records a failure on the permit when dropped, which happens only while
/// a panic unwinds out of the call's `poll` (otherwise it is forgotten),
/// and ends the call: polled again, it reports a poll after completion
/// rather than asking the breaker for a second permit.
struct FailOnUnwind<'p, 'a, C> {
    permit: &'p mut Option<Permit<'a>>,
    is_failure: &'p mut Option<C>,
}

impl<C> Drop for FailOnUnwind<'_, '_, C> {
    fn drop(&mut self) {
        *self.is_failure = None;
        if let Some(permit) = self.permit.take() {
            permit.failure();
        }
    }
}
