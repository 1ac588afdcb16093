//! Glue that only generated code calls, through `::resilient::__private`.
//! Not a public API: anything here may change in any release.
//!
//! Generated code reaches the runtime only through this module and the
//! public API, with absolute paths, so a user's own items named `Duration`
//! or `RetryPolicy` cannot capture it.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use core::time::Duration;
pub use tokio::time::Instant;

pub use crate::{
    Backoff, Decision, Failure, Jitter, RetryHint, RetryPolicy, RetryPolicyBuilder, RetryState,
};

/// What `#[retry]` needs of the function's return type: a `Result`.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` needs a function that returns `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "a retry decides from the error whether to try again"
)]
pub trait RetryResult {
    /// The error type.
    type Error;
    /// The error, if this is one.
    fn retry_error(&self) -> Option<&Self::Error>;
}

impl<T, E> RetryResult for Result<T, E> {
    type Error = E;
    fn retry_error(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

/// Builds a policy whose settings include run-time expressions.
///
/// # Panics
///
/// On an invalid combination: a programming error (configuration read at
/// run time belongs in `policy = EXPR`, built with `try_build`), reported
/// with the function's name and the setting.
#[track_caller]
pub fn build_policy(builder: RetryPolicyBuilder, function: &str) -> RetryPolicy {
    match builder.try_build() {
        Ok(policy) => policy,
        #[allow(clippy::panic)]
        Err(err) => panic!("#[retry] on `{function}`: {err}"),
    }
}

/// Sleeps until `now + delay`, or just yields once for a zero delay (an
/// attempt that fails at once must not spin without yielding).
pub async fn pause(now: Instant, delay: Duration) {
    if delay.is_zero() {
        YieldOnce(false).await;
    } else if let Some(deadline) = now.checked_add(delay) {
        tokio::time::sleep_until(deadline).await;
    } else {
        tokio::time::sleep(delay).await;
    }
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Calls a `when` hook (a function or a closure). Going through a function
/// gives a closure its argument type, so `|e| ..` needs no annotation, and
/// keeps clippy's `redundant_closure_call` away from the user's crate.
#[inline]
pub fn when<E: ?Sized>(hook: impl FnOnce(&E) -> bool, error: &E) -> bool {
    hook(error)
}

/// Calls a `retry_after` hint reader.
#[inline]
pub fn read_hint<E: ?Sized>(
    hook: impl FnOnce(&E) -> Option<Duration>,
    error: &E,
) -> Option<Duration> {
    hook(error)
}

/// Calls an `on_retry` hook.
#[inline]
pub fn on_retry<E: ?Sized>(
    hook: impl FnOnce(&E, &crate::Attempt),
    error: &E,
    attempt: &crate::Attempt,
) {
    hook(error, attempt);
}

/// Autoref dispatch on the error value: `(&HintWrap(e)).method()` finds
/// `ViaRetryHint` when `E: RetryHint` (a match at `&HintWrap`), and falls
/// back to `ViaDefault` (a match only at `&&HintWrap`) otherwise. Resolved
/// where `E` is concrete: in the user's function.
pub struct HintWrap<'a, E: ?Sized>(pub &'a E);

/// The error's own [`RetryHint`].
pub trait ViaRetryHint {
    /// [`RetryHint::is_transient`].
    fn __resilient_is_transient(&self) -> bool;
    /// [`RetryHint::retry_after`].
    fn __resilient_retry_after(&self) -> Option<Duration>;
}

impl<E: RetryHint + ?Sized> ViaRetryHint for HintWrap<'_, E> {
    #[inline]
    fn __resilient_is_transient(&self) -> bool {
        self.0.is_transient()
    }
    #[inline]
    fn __resilient_retry_after(&self) -> Option<Duration> {
        self.0.retry_after()
    }
}

/// For errors without [`RetryHint`]: every error is transient, no hint.
pub trait ViaDefault {
    /// Always `true`.
    fn __resilient_is_transient(&self) -> bool;
    /// Always `None`.
    fn __resilient_retry_after(&self) -> Option<Duration>;
}

impl<E: ?Sized> ViaDefault for &HintWrap<'_, E> {
    #[inline]
    fn __resilient_is_transient(&self) -> bool {
        true
    }
    #[inline]
    fn __resilient_retry_after(&self) -> Option<Duration> {
        None
    }
}
