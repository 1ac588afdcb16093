//! The future of [`CircuitBreaker::call`] and
//! [`CircuitBreaker::call_with`]: a hand-written one rather than an
//! `async fn`, so its `poll` inlines into the caller's and neither the
//! result nor a rejection is moved out through a frame of its own.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{CircuitBreaker, CircuitOpen, Permit};
use crate::clock;

pin_project! {
    /// The future of [`CircuitBreaker::call`] and
    /// [`CircuitBreaker::call_with`]: asks the breaker on its first poll,
    /// then runs the call and records its outcome.
    ///
    /// Dropped before the call finishes, it gives its permit back (see
    /// [`Permit`]); a panic in the call counts as a failure.
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
    pub struct Call<'a, F, C> {
        breaker: &'a CircuitBreaker,
        #[pin]
        fut: F,
        // `None` before the first poll and after the outcome.
        permit: Option<Permit<'a>>,
        // `None` once the call is over (its outcome or its rejection).
        is_failure: Option<C>,
    }
}

impl<'a, F, C> Call<'a, F, C> {
    pub(super) fn new(breaker: &'a CircuitBreaker, fut: F, is_failure: C) -> Self {
        Self {
            breaker,
            fut,
            permit: None,
            is_failure: Some(is_failure),
        }
    }
}

impl<F, C, T, E> Future for Call<'_, F, C>
where
    F: Future<Output = Result<T, E>>,
    E: From<CircuitOpen>,
    C: FnOnce(&E) -> bool,
{
    type Output = Result<T, E>;

    // `always`: a plain `#[inline]` left it out of line in the benchmark,
    // and its result then went through memory (a store-forwarding stall).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
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
                    *this.is_failure = None;
                    let open = this.breaker.rejection(clock::duration(wait));
                    return Poll::Ready(Err(E::from(open)));
                }
            }
        }
        let outcome = ready!(this.fut.poll(cx));
        if let (Some(permit), Some(is_failure)) = (this.permit.take(), this.is_failure.take()) {
            match &outcome {
                Ok(_) => permit.success(),
                Err(err) => permit.record(is_failure(err)),
            }
        }
        Poll::Ready(outcome)
    }
}
