//! [`timeout`]: a time limit on any future, with [`Elapsed`] as its error;
//! what `#[timeout]` runs.

use core::convert::Infallible;
use core::fmt;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use tokio::time::Instant;

/// Runs `future` for at most `limit`, measured from this call: its output,
/// or [`Elapsed`] if the time ran out first (and then `future` is dropped).
/// What `#[timeout]` does, as a function, for a future of your own.
///
/// ```
/// use std::time::Duration;
/// use resilient::{Elapsed, timeout};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let quick = timeout(Duration::from_secs(2), async { 7 }).await;
/// assert_eq!(quick, Ok(7));
///
/// let hung = timeout(Duration::from_secs(2), std::future::pending::<()>()).await;
/// assert_eq!(hung, Err(Elapsed::new(Duration::from_secs(2))));
/// # }
/// ```
///
/// As with `tokio::time::timeout`, the deadline is read from the clock when
/// `timeout` is called, so the limit covers any work before the future's
/// first wait; a future that is ready at its first poll completes, even
/// with a zero `limit`. Unlike it, the timer is made only when `future`
/// first has to wait, so a call that completes at once never touches the
/// timer wheel. A `limit` too large for `Instant` (`Duration::MAX` from
/// configuration) never fires. All through tokio's clock: paused time
/// applies.
///
/// # Panics
///
/// When `future` has to wait, the timer needs a tokio runtime with its
/// time driver enabled: polled outside one, the returned future panics.
#[inline]
pub fn timeout<F: IntoFuture>(limit: Duration, future: F) -> Timeout<F::IntoFuture> {
    // The clock first, as tokio does: `into_future` is part of the call.
    let deadline = Instant::now().checked_add(limit);
    Timeout {
        future: future.into_future(),
        timer: None,
        deadline,
        limit,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`]: `Result<F::Output, Elapsed>`.
    ///
    /// A future of its own rather than an `async fn` around `poll_fn`, so
    /// its `poll` inlines into the caller's and the result is not moved
    /// through one more frame. Only polling `future` is generic: the
    /// timer is polled by one function compiled once for every `F`.
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        deadline: Option<Instant>,
        limit: Duration,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match poll_deadline(this.timer, *this.deadline, *this.limit, cx) {
            Poll::Ready(elapsed) => Poll::Ready(Err(elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The timer of a [`Timeout`] whose future is pending. The timer is made
/// on the first call only, so a call that completes at once never
/// touches the timer wheel; no deadline (a limit too large for
/// `Instant`) never fires.
fn poll_deadline(
    mut timer: Pin<&mut Option<tokio::time::Sleep>>,
    deadline: Option<Instant>,
    limit: Duration,
    cx: &mut Context<'_>,
) -> Poll<Elapsed> {
    if timer.is_none() {
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        timer.set(Some(tokio::time::sleep_until(deadline)));
    }
    let Some(timer) = timer.as_pin_mut() else {
        return Poll::Pending;
    };
    // A call that spent the task's whole coop budget would leave none for
    // the timer, which would then never fire: checked without it, as
    // `tokio::time::timeout` does.
    let fired = if tokio::task::coop::has_budget_remaining() {
        timer.poll(cx)
    } else {
        core::pin::pin!(tokio::task::coop::unconstrained(timer)).poll(cx)
    };
    match fired {
        Poll::Ready(()) => {
            #[cfg(feature = "metrics")]
            crate::metrics::timed_out();
            Poll::Ready(Elapsed::new(limit))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// The error of a call that ran longer than its `#[timeout]` (or its
/// [`timeout`]).
///
/// A function under `#[timeout(D)]` returns `E::from(Elapsed)` when the
/// time is up (or what its `on_timeout` makes of it), so its error type
/// implements `From<Elapsed>`.
///
/// ```
/// use std::time::Duration;
/// use resilient::Elapsed;
///
/// let elapsed = Elapsed::new(Duration::from_secs(2));
/// assert_eq!(elapsed.after(), Duration::from_secs(2));
/// assert_eq!(elapsed.to_string(), "the call took longer than 2s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    after: Duration,
}

impl Elapsed {
    /// A call cut off after `after`.
    pub const fn new(after: Duration) -> Self {
        Self { after }
    }

    /// The time limit that was reached.
    pub const fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the call took longer than {:?}", self.after)
    }
}

impl std::error::Error for Elapsed {}

/// For generated code: a layer that cannot time out carries `Infallible`.
impl From<Infallible> for Elapsed {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}
