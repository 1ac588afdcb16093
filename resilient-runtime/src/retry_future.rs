//! [`retry`]: the hand-written retry loop, driving [`RetryState`].

use core::fmt;
use core::future::{Future, IntoFuture};
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::sleep::{Pause, pause};
use crate::{Attempt, Decision, Failure, RetryBudget, RetryHint, RetryPolicy, RetryState};

/// Retries `op` under `policy`: the runtime API that `#[retry]` is sugar
/// for.
///
/// `op` makes one attempt each time it is called. Every error is retried
/// until the policy stops; [`.when(..)`](Retry::when) picks which errors to
/// retry, [`.retry_after(..)`](Retry::retry_after) reads a server's hint,
/// [`.on_retry(..)`](Retry::on_retry) is called before each sleep. For an
/// error type that implements [`RetryHint`], [`retry_with_hints`] reads
/// both from it. Await the returned builder to run it. The result is the
/// first success or the last error.
///
/// All time goes through tokio (`tokio::time::{sleep, Instant}`), so a test
/// with `#[tokio::test(start_paused = true)]` runs any schedule instantly.
/// On the success path nothing is allocated, no clock is read (unless the
/// policy has `max_elapsed` or there is an `on_retry`), and the random
/// generator is not touched.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use resilient::{Backoff, RetryPolicy, retry};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::builder()
///     .attempts(4)
///     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5)))
///     .build();
/// let calls = AtomicU32::new(0);
///
/// let answer = retry(&policy, || async {
///     // One attempt: fails twice, then succeeds.
///     match calls.fetch_add(1, Ordering::Relaxed) {
///         0 | 1 => Err("connection reset"),
///         _ => Ok(42),
///     }
/// })
/// .when(|err: &&str| *err != "forbidden")
/// .on_retry(|err, attempt| eprintln!("attempt {} failed ({err}); retrying in {:?}", attempt.number(), attempt.delay()))
/// .await;
///
/// assert_eq!(answer, Ok(42));
/// assert_eq!(calls.load(Ordering::Relaxed), 3);
/// # }
/// ```
///
/// A closure cannot hand out a fresh `&mut` borrow per attempt (`&mut self`
/// in the body); `#[retry]` on an `async fn` can, because it re-runs the
/// body inline.
///
/// [`Retry`] is awaited through [`IntoFuture`]; where a `Future` value is
/// needed (`join_all`, `FuturesUnordered`), call `.into_future()`.
///
/// # Panics
///
/// After a failure that is retried after a delay, the sleep needs a tokio
/// runtime with its timer enabled (`tokio::time::sleep`): polled outside
/// one, the future panics at the first retry, not before.
pub fn retry<T, E, Op, Fut>(policy: &RetryPolicy, op: Op) -> Retry<'_, Op, E>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry {
        policy,
        budget: None,
        op,
        when: always,
        hint: no_hint,
        notify: None,
        error: PhantomData,
    }
}

/// [`retry`] for an error type that implements [`RetryHint`]: its
/// `is_transient` decides what is retried, and its `retry_after` is
/// honoured as described on [`RetryState::on_failure`].
/// [`.when(..)`](Retry::when) or [`.retry_after(..)`](Retry::retry_after)
/// still replace either.
///
/// # Panics
///
/// As [`retry`]: outside a tokio runtime with its timer, at the first retry.
///
/// ```
/// use std::time::Duration;
/// use resilient::{RetryHint, RetryPolicy, retry_with_hints};
///
/// #[derive(Debug, PartialEq)]
/// struct TooManyRequests(u64);
/// impl RetryHint for TooManyRequests {
///     fn retry_after(&self) -> Option<Duration> {
///         Some(Duration::from_secs(self.0))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = tokio::time::Instant::now();
/// let policy = RetryPolicy::builder().attempts(2).jitter(resilient::Jitter::None).build();
/// let result = retry_with_hints(&policy, || async { Err::<(), _>(TooManyRequests(7)) }).await;
/// assert_eq!(result, Err(TooManyRequests(7)));
/// assert_eq!(start.elapsed(), Duration::from_secs(7)); // slept exactly the hint
/// # }
/// ```
pub fn retry_with_hints<T, E, Op, Fut>(policy: &RetryPolicy, op: Op) -> Retry<'_, Op, E>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: RetryHint,
{
    Retry {
        policy,
        budget: None,
        op,
        when: <E as RetryHint>::is_transient,
        hint: <E as RetryHint>::retry_after,
        notify: None,
        error: PhantomData,
    }
}

fn always<E>(_: &E) -> bool {
    true
}

fn no_hint<E>(_: &E) -> Option<Duration> {
    None
}

/// A retry, ready to be awaited or adjusted: from [`retry`] or
/// [`retry_with_hints`].
#[must_use = "a retry does nothing until it is awaited"]
pub struct Retry<
    'p,
    Op,
    E,
    W = fn(&E) -> bool,
    H = fn(&E) -> Option<Duration>,
    N = fn(&E, &Attempt),
> {
    policy: &'p RetryPolicy,
    budget: Option<&'p RetryBudget>,
    op: Op,
    when: W,
    hint: H,
    notify: Option<N>,
    error: PhantomData<fn(&E)>,
}

impl<'p, Op, E, W, H, N> Retry<'p, Op, E, W, H, N> {
    /// Retries only the errors for which `when` returns `true`; any other
    /// error is returned at once. Replaces [`RetryHint::is_transient`]
    /// under [`retry_with_hints`]; hints still apply.
    pub fn when<W2>(self, when: W2) -> Retry<'p, Op, E, W2, H, N>
    where
        W2: FnMut(&E) -> bool,
    {
        Retry {
            policy: self.policy,
            budget: self.budget,
            op: self.op,
            when,
            hint: self.hint,
            notify: self.notify,
            error: PhantomData,
        }
    }

    /// Reads a server's hint (its `Retry-After`) from an error, for error
    /// types that cannot implement [`RetryHint`] (`anyhow::Error`, say).
    pub fn retry_after<H2>(self, hint: H2) -> Retry<'p, Op, E, W, H2, N>
    where
        H2: FnMut(&E) -> Option<Duration>,
    {
        Retry {
            policy: self.policy,
            budget: self.budget,
            op: self.op,
            when: self.when,
            hint,
            notify: self.notify,
            error: PhantomData,
        }
    }

    /// Retries only within `budget`, shared with every other call that
    /// names it: this call's first attempt deposits, each retry
    /// withdraws, and an empty budget returns the last error at once
    /// (see [`RetryBudget`]).
    ///
    /// ```
    /// use resilient::{RetryBudget, RetryPolicy, retry};
    ///
    /// static POLICY: RetryPolicy = RetryPolicy::builder().attempts(3).build();
    /// static BUDGET: RetryBudget = RetryBudget::builder().ratio(0.1).build();
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let value = retry(&POLICY, || async { Ok::<_, std::io::Error>(7) })
    ///     .budget(&BUDGET)
    ///     .await;
    /// assert_eq!(value.unwrap(), 7);
    /// # }
    /// ```
    pub fn budget(mut self, budget: &'p RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Calls `on_retry` with the error and the coming [`Attempt`] before
    /// each sleep: for logs and metrics.
    pub fn on_retry<N2>(self, on_retry: N2) -> Retry<'p, Op, E, W, H, N2>
    where
        N2: FnMut(&E, &Attempt),
    {
        Retry {
            policy: self.policy,
            budget: self.budget,
            op: self.op,
            when: self.when,
            hint: self.hint,
            notify: Some(on_retry),
            error: PhantomData,
        }
    }
}

impl<'p, T, E, Op, Fut, W, H, N> IntoFuture for Retry<'p, Op, E, W, H, N>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: FnMut(&E) -> bool,
    H: FnMut(&E) -> Option<Duration>,
    N: FnMut(&E, &Attempt),
{
    type Output = Result<T, E>;
    type IntoFuture = RetryFuture<'p, Op, Fut, E, W, H, N>;

    fn into_future(self) -> Self::IntoFuture {
        RetryFuture {
            policy: self.policy,
            budget: self.budget,
            op: self.op,
            when: self.when,
            hint: self.hint,
            notify: self.notify,
            state: RetryState::new(),
            error: PhantomData,
            phase: Phase::Start,
        }
    }
}

pin_project! {
    /// The future of an awaited [`Retry`].
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<'p, Op, Fut, E, W, H, N> {
        policy: &'p RetryPolicy,
        budget: Option<&'p RetryBudget>,
        op: Op,
        when: W,
        hint: H,
        notify: Option<N>,
        state: RetryState,
        error: PhantomData<fn(&E)>,
        #[pin]
        phase: Phase<Fut>,
    }
}

pin_project! {
    #[project = PhaseProj]
    enum Phase<Fut> {
        Start,
        Running { #[pin] attempt: Fut },
        Sleeping { #[pin] pause: Pause },
        Done,
    }
}

impl<Op, E, W, H, N> fmt::Debug for Retry<'_, Op, E, W, H, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", self.policy)
            .field("budget", &self.budget)
            .field("on_retry", &self.notify.is_some())
            .finish_non_exhaustive()
    }
}

impl<Op, Fut, E, W, H, N> fmt::Debug for RetryFuture<'_, Op, Fut, E, W, H, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Start => "start",
            Phase::Running { .. } => "running",
            Phase::Sleeping { .. } => "sleeping",
            Phase::Done => "done",
        };
        f.debug_struct("RetryFuture")
            .field("policy", self.policy)
            .field("failures", &self.state.failures())
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

impl<T, E, Op, Fut, W, H, N> Future for RetryFuture<'_, Op, Fut, E, W, H, N>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: FnMut(&E) -> bool,
    H: FnMut(&E) -> Option<Duration>,
    N: FnMut(&E, &Attempt),
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.phase.as_mut().project() {
                PhaseProj::Start => {
                    // The only clock read before a failure, and only when
                    // something will look at the elapsed time. (`Start` is
                    // the first poll only: a retry, even after a zero
                    // delay, resumes from `Sleeping`.)
                    if RetryState::needs_start(this.policy) || this.notify.is_some() {
                        this.state.start(Instant::now());
                    }
                    this.phase.set(Phase::Running {
                        attempt: (this.op)(),
                    });
                }
                PhaseProj::Running { attempt } => {
                    let err = match ready!(attempt.poll(cx)) {
                        Ok(value) => {
                            if let Some(budget) = this.budget {
                                this.state.on_success_with_budget(budget);
                            }
                            // Drops the finished attempt now, and makes a
                            // poll after completion a clear error.
                            this.phase.set(Phase::Done);
                            return Poll::Ready(Ok(value));
                        }
                        Err(err) => err,
                    };
                    let failure =
                        Failure::new((this.when)(&err)).with_retry_after((this.hint)(&err));
                    let now = Instant::now();
                    let decision = match this.budget {
                        Some(budget) => {
                            this.state
                                .on_failure_with_budget(this.policy, failure, now, budget)
                        }
                        None => this.state.on_failure(this.policy, failure, now),
                    };
                    match decision {
                        Decision::Stop(_) => {
                            this.phase.set(Phase::Done);
                            return Poll::Ready(Err(err));
                        }
                        Decision::Retry(next) => {
                            if let Some(on_retry) = this.notify.as_mut() {
                                on_retry(&err, &next);
                            }
                            drop(err);
                            // A zero delay still yields, once (see `pause`).
                            this.phase.set(Phase::Sleeping {
                                pause: pause(now, next.delay()),
                            });
                        }
                    }
                }
                PhaseProj::Sleeping { pause } => {
                    ready!(pause.poll(cx));
                    this.phase.set(Phase::Running {
                        attempt: (this.op)(),
                    });
                }
                // A contract violation by the caller, as for any future.
                #[allow(clippy::panic)]
                PhaseProj::Done => panic!("`RetryFuture` polled after it completed"),
            }
        }
    }
}
