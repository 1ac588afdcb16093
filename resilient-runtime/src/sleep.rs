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
    let sleep = (!delay.is_zero()).then(|| match now.checked_add(delay) {
        Some(deadline) => tokio::time::sleep_until(deadline),
        None => tokio::time::sleep(delay),
    });
    Pause {
        sleep,
        yielded: false,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`pause`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Pause {
        // `None` for a zero delay: pending once, having asked to be
        // polled again.
        #[pin]
        sleep: Option<Sleep>,
        yielded: bool,
    }
}

impl Future for Pause {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if let Some(sleep) = this.sleep.as_pin_mut() {
            return sleep.poll(cx);
        }
        if *this.yielded {
            return Poll::Ready(());
        }
        *this.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
