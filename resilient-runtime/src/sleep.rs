//! The pause between two attempts, for the hand-written retry and for the
//! code `#[retry]` generates alike.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use tokio::time::{Instant, Sleep};

/// Sleeps until `now + delay`; for a zero delay, yields once instead (an
/// attempt that fails at once must not spin through every attempt in one
/// poll, blocking the thread and any timeout around the retry). A deadline
/// past what `Instant` holds sleeps `delay` from the first poll instead
/// (tokio caps it far ahead).
///
/// Measured from `now`, the instant the retry checked its time budget
/// against, so a slow `on_retry` cannot push the wake-up past
/// `max_elapsed`.
pub fn pause(now: Instant, delay: Duration) -> Pause {
    let inner = if delay.is_zero() {
        Inner::Yield { yielded: false }
    } else {
        let sleep = match now.checked_add(delay) {
            Some(deadline) => tokio::time::sleep_until(deadline),
            None => tokio::time::sleep(delay),
        };
        Inner::Sleep { sleep }
    };
    Pause { inner }
}

pin_project_lite::pin_project! {
    /// The future of [`pause`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Pause {
        #[pin]
        inner: Inner,
    }
}

pin_project_lite::pin_project! {
    // An enum, so the yield's flag shares the sleep's space: the hand-written
    // retry future holds a `Pause` and stays as small as with a bare `Sleep`.
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner {
        // A zero delay: pending once, having asked to be polled again.
        Yield { yielded: bool },
        Sleep { #[pin] sleep: Sleep },
    }
}

impl Future for Pause {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().inner.project() {
            InnerProj::Sleep { sleep } => sleep.poll(cx),
            InnerProj::Yield { yielded } => {
                if *yielded {
                    return Poll::Ready(());
                }
                *yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}
