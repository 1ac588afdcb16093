//! Hedging: when an attempt is slow, a copy of it races the original, and
//! the first success wins.
//!
//! The copies live in a fixed set of pinned slots the caller provides
//! (`[pin!(None), pin!(None)]`, or the attribute's own): the number of
//! copies is the number of slots, and nothing is allocated.

use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::Poll;
use core::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::budget::RetryBudget;

/// How an attempt is hedged: how long it may run before a copy of it
/// starts, and the [`RetryBudget`] hedges spend from, if any.
///
/// A hedge answers slowness, not errors. A copy that fails starts no
/// other; the call waits for the copies still running, and fails with the
/// last error once every copy started has failed (put a retry above for
/// errors). The first copy that succeeds wins, and the others are dropped,
/// which cancels them.
///
/// `after` is best near the call's 95th-percentile latency: a copy then
/// starts for the slowest twentieth of calls only. Zero starts every copy
/// at once; a duration too large for the clock starts none.
///
/// By hand, give [`run`](Self::run) one pinned slot per copy, the first
/// one included:
///
/// ```
/// use std::pin::pin;
/// use std::time::Duration;
/// use resilient::Hedge;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let replies = std::sync::atomic::AtomicU32::new(0);
/// let fetch = || async {
///     // The first copy is slow; the second answers at once.
///     let n = replies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     if n == 0 {
///         tokio::time::sleep(Duration::from_secs(5)).await;
///     }
///     Ok::<_, std::io::Error>(n)
/// };
/// let hedge = Hedge::after(Duration::from_millis(50));
/// let started = tokio::time::Instant::now();
/// let winner = hedge.run([pin!(None), pin!(None)], fetch).await;
/// assert_eq!(winner.unwrap(), 1, "the second copy won");
/// assert_eq!(started.elapsed(), Duration::from_millis(50));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Hedge<'b> {
    after: Duration,
    budget: Option<&'b RetryBudget>,
    name: &'static str,
}

impl Hedge<'static> {
    /// A hedge that starts a copy each time `after` passes with no copy
    /// succeeding, as long as slots are free.
    #[must_use]
    pub const fn after(after: Duration) -> Self {
        Self {
            after,
            budget: None,
            name: "hedge",
        }
    }
}

impl Hedge<'_> {
    /// The name in its tracing events and its `name` metrics label.
    #[must_use]
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Limits hedges with `budget`, as a retry budget limits retries: a
    /// race that reached the service deposits when it ends, each copy
    /// after the first withdraws one, and an empty budget starts no copy
    /// (the call goes on with the copies it has).
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::Duration;
    /// use resilient::{Hedge, RetryBudget};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // No reserve and nothing earned: no hedge is allowed.
    /// let budget = RetryBudget::builder().min_per_sec(0).ratio(0.1).build();
    /// let hedge = Hedge::after(Duration::from_millis(10)).budget(&budget);
    /// let copies = std::sync::atomic::AtomicU32::new(0);
    /// let slow = || async {
    ///     copies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///     tokio::time::sleep(Duration::from_millis(100)).await;
    ///     Ok::<_, std::io::Error>(())
    /// };
    /// hedge.run([pin!(None), pin!(None)], slow).await.unwrap();
    /// assert_eq!(copies.into_inner(), 1, "the budget refused the copy");
    /// # }
    /// ```
    #[must_use]
    pub const fn budget(self, budget: &RetryBudget) -> Hedge<'_> {
        Hedge {
            after: self.after,
            budget: Some(budget),
            name: self.name,
        }
    }

    /// How long an attempt runs before the next copy starts.
    #[must_use]
    pub const fn delay(&self) -> Duration {
        self.after
    }

    /// Runs `make()`'s future, and a new one each time `after` passes, up
    /// to one per slot; the first `Ok` wins. With every copy started
    /// failed, the last error.
    ///
    /// The slots are empty `Option`s pinned by the caller; one slot runs
    /// the attempt without hedging. See [`Hedge`] for an example.
    ///
    /// # Errors
    ///
    /// The last copy's error, when every copy started has failed.
    pub async fn run<T, E, M, Fut, const N: usize>(
        &self,
        mut copies: [Pin<&mut Option<Fut>>; N],
        make: M,
    ) -> Result<T, E>
    where
        M: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        const { assert!(N > 0, "a hedge needs a slot for the first attempt") };
        self.race(&mut copies, make, Verdict::of_result).await
    }

    /// The race: `verdict` says which outcome ends it, and whether it
    /// reached the service (for the budget). `copies` is not empty.
    pub(crate) async fn race<O, M, Fut, V>(
        &self,
        copies: &mut [Pin<&mut Option<Fut>>],
        make: M,
        verdict: V,
    ) -> O
    where
        M: Fn() -> Fut,
        Fut: Future<Output = O>,
        V: Fn(&O) -> Verdict,
    {
        // However the race ends (a winner, the last failure, or the race
        // itself dropped: a timeout or a `select!` around it), no copy is
        // left in a slot the caller may still hold.
        let copies = Clear(copies);
        let slots = copies.0.len();
        let mut started = 0;
        let mut running = 0;
        if let Some(first) = copies.0.first_mut() {
            first.set(Some(make()));
            started = 1;
            running = 1;
        }
        // Whether a further copy may start; the timer for it is armed only
        // once the copies running are pending, so a body that finishes at
        // its first poll never touches the timer wheel.
        let mut hedging = slots > 1;
        let mut timer: Pin<&mut Option<Sleep>> = pin!(None);
        let out = poll_fn(|cx| {
            loop {
                let mut finished = None;
                for (index, slot) in copies.0.iter_mut().enumerate().take(started) {
                    let Some(copy) = slot.as_mut().as_pin_mut() else {
                        continue;
                    };
                    let Poll::Ready(out) = copy.poll(cx) else {
                        continue;
                    };
                    slot.set(None);
                    running -= 1;
                    let verdict = verdict(&out);
                    if verdict == Verdict::Won || running == 0 {
                        finished = Some((index, out, verdict));
                        break;
                    }
                }
                if let Some((index, out, verdict)) = finished {
                    if verdict == Verdict::Won && index > 0 {
                        self.copy_won(index);
                    }
                    return Poll::Ready((out, verdict));
                }
                if !hedging || running == 0 {
                    // `running == 0` cannot happen with a copy started: the
                    // last one to fail ends the race above.
                    return Poll::Pending;
                }
                // A zero `after` starts every copy now, timer or not.
                if !self.after.is_zero() {
                    if timer.is_none() {
                        let Some(deadline) = Instant::now().checked_add(self.after) else {
                            // Past the clock's range: never.
                            hedging = false;
                            return Poll::Pending;
                        };
                        timer.set(Some(tokio::time::sleep_until(deadline)));
                    }
                    let Some(sleep) = timer.as_mut().as_pin_mut() else {
                        return Poll::Pending;
                    };
                    if sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    timer.set(None);
                }
                if self.budget.is_some_and(|b| b.try_withdraw().is_none()) {
                    self.refused();
                    hedging = false;
                    return Poll::Pending;
                }
                let Some(slot) = copies.0.get_mut(started) else {
                    hedging = false;
                    return Poll::Pending;
                };
                slot.set(Some(make()));
                started += 1;
                running += 1;
                hedging = started < slots;
                self.copy_started(started, slots);
                // Round again: the new copy's first poll, then its timer.
            }
        })
        .await;
        let (out, verdict) = out;
        // An attempt that reached the service earns the budget its share,
        // once, whatever copy answered; one refused below (an open
        // breaker, a full bulkhead, a rate limit) earns nothing.
        if verdict != Verdict::NotReached
            && let Some(budget) = self.budget
        {
            budget.deposit();
        }
        // The losers are dropped here, and so cancelled.
        drop(copies);
        out
    }
}

impl Hedge<'_> {
    /// Events: copy `number` of `slots` started.
    #[cold]
    fn copy_started(&self, number: usize, slots: usize) {
        #[cfg(feature = "metrics")]
        crate::metrics::hedge_copy(self.name);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "resilient::hedge",
            hedge = %self.name,
            copy = number,
            of = slots,
            "attempt slow: hedging"
        );
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let _ = (self, number, slots);
        #[cfg(all(feature = "metrics", not(feature = "tracing")))]
        let _ = (number, slots);
    }

    /// Events: the copy at `index` (not the first) won.
    #[cold]
    fn copy_won(&self, index: usize) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "resilient::hedge",
            hedge = %self.name,
            copy = index + 1,
            "a hedged copy won"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = (self, index);
    }

    /// Events: the budget refused a copy.
    #[cold]
    fn refused(&self) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "resilient::hedge",
            hedge = %self.name,
            "retry budget empty: no hedge"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = self;
    }
}

/// What a finished copy means for the race (the attribute's glue decides
/// it from the copy's outcome).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It succeeded: the race ends with it.
    Won,
    /// It failed after reaching the service.
    Failed,
    /// A layer below refused it before it reached the service.
    NotReached,
}

impl Verdict {
    /// `Won` for an `Ok`, else `Failed`.
    pub(crate) fn of_result<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Self::Won
        } else {
            Self::Failed
        }
    }
}

/// The caller's slots, emptied when the race ends or is dropped.
struct Clear<'c, 'p, Fut>(&'c mut [Pin<&'p mut Option<Fut>>]);

impl<Fut> Drop for Clear<'_, '_, Fut> {
    fn drop(&mut self) {
        for slot in self.0.iter_mut() {
            slot.set(None);
        }
    }
}
