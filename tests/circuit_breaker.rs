//! The circuit breaker, pybreaker-style scenarios and the hard cases:
//! failure-rate windows, cancellation, panics, stale results, kill switches,
//! the state-change hook. All on tokio's paused clock.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{CircuitBreaker, CircuitOpen, CircuitState, OnCancel, Permit, StateChange};
use tokio::time::{Instant, sleep};

use common::{assert_send, secs};

#[derive(Debug, PartialEq)]
enum Error {
    Down,
    NotFound,
    Open(Duration),
}

impl From<CircuitOpen> for Error {
    fn from(open: CircuitOpen) -> Self {
        Self::Open(open.retry_after())
    }
}

fn breaker(failures: u32) -> CircuitBreaker {
    CircuitBreaker::builder()
        .failures(failures)
        .reset(secs(60))
        .build()
}

async fn fail(b: &CircuitBreaker) -> Result<(), Error> {
    b.call(async { Err(Error::Down) }).await
}

async fn succeed(b: &CircuitBreaker) -> Result<(), Error> {
    b.call(async { Ok(()) }).await
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_consecutive_failures() {
    let b = breaker(3);
    for _ in 0..2 {
        assert_eq!(fail(&b).await, Err(Error::Down));
        assert_eq!(b.state(), CircuitState::Closed);
    }
    assert_eq!(fail(&b).await, Err(Error::Down));
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_running_the_call() {
    let b = breaker(1);
    let _ = fail(&b).await;
    let ran = AtomicU32::new(0);
    let result = b
        .call(async {
            ran.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Error>(())
        })
        .await;
    assert_eq!(result, Err(Error::Open(secs(60))));
    assert_eq!(ran.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn retry_after_counts_down_to_the_trial() {
    let b = breaker(1);
    let _ = fail(&b).await;
    sleep(secs(20)).await;
    assert_eq!(succeed(&b).await, Err(Error::Open(secs(40))));
    assert_eq!(b.admits_in(), secs(40));
    sleep(Duration::from_millis(39_999)).await;
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        succeed(&b).await,
        Err(Error::Open(Duration::from_millis(1)))
    );
    sleep(Duration::from_millis(1)).await;
    // At exactly `opened + reset`, the call is a trial.
    assert_eq!(b.admits_in(), Duration::ZERO);
    assert_eq!(succeed(&b).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn half_open_is_reported_on_read_and_a_trial_success_closes() {
    let b = breaker(1);
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "computed on read, before any call"
    );
    assert_eq!(succeed(&b).await, Ok(()));
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_trial_failure_opens_again_for_a_full_reset() {
    let b = breaker(1);
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    assert_eq!(fail(&b).await, Err(Error::Down));
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(succeed(&b).await, Err(Error::Open(secs(60))));
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let b = breaker(3);
    for _ in 0..10 {
        let _ = fail(&b).await;
        let _ = fail(&b).await;
        assert_eq!(succeed(&b).await, Ok(()));
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn excluded_errors_do_not_count() {
    let b = breaker(2);
    for _ in 0..5 {
        let r = b
            .call_with(async { Err::<(), _>(Error::NotFound) }, |e| {
                *e != Error::NotFound
            })
            .await;
        assert_eq!(r, Err(Error::NotFound));
    }
    assert_eq!(b.state(), CircuitState::Closed);
    // And they count as the service answering: they reset the count.
    let _ = fail(&b).await;
    let _ = b
        .call_with(async { Err::<(), _>(Error::NotFound) }, |e| {
            *e != Error::NotFound
        })
        .await;
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn n_trials_all_succeed_to_close() {
    let b = CircuitBreaker::builder().failures(1).half_open(3).build();
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    let trials: Vec<_> = (0..3)
        .map(|_| b.acquire().expect("a trial permit"))
        .collect();
    // Every permit is taken: rejected, with nothing to wait for but a trial.
    let rejected = b.acquire().expect_err("no fourth trial");
    assert_eq!(rejected.retry_after(), Duration::ZERO);
    assert_eq!(b.admits_in(), Duration::ZERO);
    let mut trials = trials.into_iter();
    trials.next().unwrap().success();
    trials.next().unwrap().success();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    // Two trials done, one in flight: still no room for another.
    assert!(b.acquire().is_err());
    trials.next().unwrap().success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn one_failed_trial_of_n_opens() {
    let b = CircuitBreaker::builder().failures(1).half_open(3).build();
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    let (a, c) = (b.acquire().unwrap(), b.acquire().unwrap());
    a.success();
    c.failure();
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_waits_for_min_calls() {
    let b = CircuitBreaker::builder()
        .failure_rate(0.5)
        .window(10)
        .min_calls(4)
        .build();
    for _ in 0..3 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), CircuitState::Closed, "3 calls < min_calls");
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_over_the_last_window_calls() {
    let b = CircuitBreaker::builder()
        .failure_rate(0.3)
        .window(10)
        .min_calls(10)
        .build();
    // 2 failures in 10: 20 %.
    for i in 0..10 {
        let _ = if i < 2 {
            fail(&b).await
        } else {
            succeed(&b).await
        };
    }
    assert_eq!(b.state(), CircuitState::Closed);
    // Slide: 9 successes leave the window... then 3 failures in the last 10.
    for _ in 0..10 {
        let _ = succeed(&b).await;
    }
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = fail(&b).await;
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "3 of the last 10 failed: 30 %"
    );
}

#[tokio::test(start_paused = true)]
async fn failure_rate_starts_afresh_after_closing() {
    let b = CircuitBreaker::builder()
        .failure_rate(0.5)
        .window(4)
        .min_calls(2)
        .build();
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Open);
    sleep(secs(60)).await;
    assert_eq!(succeed(&b).await, Ok(()));
    assert_eq!(b.state(), CircuitState::Closed);
    // The old failures are gone: one failure in two calls would be 50 %,
    // but a success first keeps it at one in two only after min_calls.
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Closed, "1 call < min_calls");
}

async fn tripped_into_half_open(b: &CircuitBreaker) {
    let _ = fail(b).await;
    sleep(secs(60)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

/// A trial that hangs until dropped.
fn hanging(b: &CircuitBreaker) -> impl Future<Output = Result<(), Error>> + '_ {
    b.call(std::future::pending::<Result<(), Error>>())
}

#[tokio::test(start_paused = true)]
async fn a_trial_cut_by_timeout_gives_its_permit_back() {
    let b = breaker(1);
    tripped_into_half_open(&b).await;
    assert!(tokio::time::timeout(secs(1), hanging(&b)).await.is_err());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(succeed(&b).await, Ok(()), "the next caller is the trial");
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_trial_losing_a_select_gives_its_permit_back() {
    let b = breaker(1);
    tripped_into_half_open(&b).await;
    tokio::select! {
        _ = hanging(&b) => unreachable!(),
        () = sleep(secs(1)) => {}
    }
    assert_eq!(succeed(&b).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_boxed_trial_gives_its_permit_back() {
    let b = breaker(1);
    tripped_into_half_open(&b).await;
    let mut trial: Pin<Box<dyn Future<Output = Result<(), Error>> + '_>> = Box::pin(hanging(&b));
    // Poll once so the trial takes its permit.
    assert!(futures_poll_once(trial.as_mut()).is_pending());
    assert_eq!(
        succeed(&b).await,
        Err(Error::Open(Duration::ZERO)),
        "the permit is taken"
    );
    drop(trial);
    assert_eq!(succeed(&b).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn with_on_cancel_failure_a_dropped_trial_reopens() {
    let b = CircuitBreaker::builder()
        .failures(1)
        .on_cancel(OnCancel::Failure)
        .build();
    tripped_into_half_open(&b).await;
    assert!(tokio::time::timeout(secs(1), hanging(&b)).await.is_err());
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_while_closed_counts_nothing() {
    let b = breaker(1);
    for _ in 0..5 {
        assert!(tokio::time::timeout(secs(1), hanging(&b)).await.is_err());
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_counts_as_a_failure() {
    static B: CircuitBreaker = CircuitBreaker::builder()
        .name("test-panicking-call")
        .failures(1)
        .build();
    let joined = tokio::spawn(B.call(async {
        panic!("boom");
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    }))
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(B.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_late_success_from_before_the_trip_is_ignored() {
    let b = breaker(1);
    let slow = b.acquire().expect("closed");
    let _ = fail(&b).await; // trips
    assert_eq!(b.state(), CircuitState::Open);
    slow.success();
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "a stale success must not close it"
    );
    // A trial from a half-open period that a reset ended is stale too.
    sleep(secs(60)).await;
    let trial = b.acquire().expect("trial");
    b.reset();
    trial.failure();
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "a stale trial failure must not open it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_failure_from_before_a_reset_is_ignored() {
    let b = breaker(1);
    let slow = b.acquire().expect("closed");
    b.reset();
    slow.failure();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn kill_switches() {
    let b = breaker(1);
    b.force_open();
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(succeed(&b).await, Err(Error::Open(secs(60))));
    sleep(secs(3600)).await;
    assert_eq!(b.state(), CircuitState::Open, "forced open stays open");
    for open in [b.acquire().unwrap_err(), b.check().unwrap_err()] {
        assert!(open.is_forced());
        assert!(
            open.to_string()
                .contains("forced open until it is released")
        );
    }
    b.reset();
    assert_eq!(succeed(&b).await, Ok(()));

    b.disable();
    for _ in 0..10 {
        assert_eq!(fail(&b).await, Err(Error::Down));
    }
    assert_eq!(b.state(), CircuitState::Closed, "disabled counts nothing");
    b.reset();
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Open, "counting again after reset");
    let tripped = b.acquire().unwrap_err();
    assert!(!tripped.is_forced());
    assert!(
        tripped
            .to_string()
            .contains("calls are admitted again in 60s")
    );
}

static CHANGES: Mutex<Vec<(String, CircuitState, CircuitState, u64)>> = Mutex::new(Vec::new());

fn record_change(change: &StateChange<'_>) {
    CHANGES.lock().unwrap().push((
        change.breaker.to_string(),
        change.from,
        change.to,
        change.sequence,
    ));
}

#[tokio::test(start_paused = true)]
async fn the_state_change_hook_sees_every_transition() {
    use CircuitState::{Closed, HalfOpen, Open};
    let b = CircuitBreaker::builder()
        .name("test-hook")
        .failures(1)
        .on_state_change(record_change)
        .build();
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    let _ = succeed(&b).await;
    b.force_open();
    b.reset();
    let seen: Vec<_> = CHANGES
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, ..)| name == "test-hook")
        .map(|(_, from, to, sequence)| {
            assert!(*sequence > 0);
            (*from, *to)
        })
        .collect();
    let sequences: Vec<u64> = CHANGES
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, ..)| name == "test-hook")
        .map(|c| c.3)
        .collect();
    assert_eq!(sequences, (1..=7).collect::<Vec<_>>());
    assert_eq!(
        seen,
        [
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, Open),
            (Open, Closed),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn time_is_exact_from_the_first_call_in_a_paused_runtime() {
    // The virtual clock starts when the runtime does; however far it runs,
    // the reset is exact to the nanosecond. (`advance`, not `sleep`: the
    // timer wheel rounds sleeps to milliseconds.)
    tokio::time::advance(Duration::from_nanos(123_456_789)).await;
    let b = breaker(1);
    let _ = fail(&b).await;
    let opened = Instant::now();
    tokio::time::advance(Duration::from_nanos(59_999_999_999)).await;
    assert_eq!(b.admits_in(), Duration::from_nanos(1));
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::advance(Duration::from_nanos(1)).await;
    assert_eq!(opened.elapsed(), secs(60));
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

/// Polls a future once with a no-op waker.
fn futures_poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn breakers_are_shareable_and_calls_are_send() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CircuitBreaker>();
    let b = breaker(1);
    let call = b.call(async { Ok::<_, Error>(()) });
    assert_send(&call);
    let permit = b.acquire().unwrap();
    assert_send(&permit);
    permit.success();
}

fn reset_from_the_hook(change: &StateChange<'_>) {
    if change.to == CircuitState::Open {
        // A hook may use its own breaker: it runs with no lock held.
        let breaker = resilient::registry::get(change.breaker.as_str()).unwrap();
        assert_eq!(breaker.state(), CircuitState::Open);
        breaker.reset();
    }
}

#[tokio::test(start_paused = true)]
async fn a_hook_may_reset_its_own_breaker() {
    static B: CircuitBreaker = CircuitBreaker::builder()
        .name("test-hook-resets")
        .failures(1)
        .on_state_change(reset_from_the_hook)
        .build();
    resilient::registry::register(&B);
    let _ = fail(&B).await;
    assert_eq!(B.state(), CircuitState::Closed);
}

static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn panic_once_on_half_open(change: &StateChange<'_>) {
    assert!(
        change.to != CircuitState::HalfOpen || PANICKED.swap(true, Ordering::SeqCst),
        "hook failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hook_does_not_wedge_the_breaker() {
    let b = CircuitBreaker::builder()
        .failures(1)
        .on_state_change(panic_once_on_half_open)
        .build();
    let _ = fail(&b).await;
    sleep(secs(60)).await;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.acquire().map(Permit::success)
    }));
    assert!(caught.is_err(), "the hook panicked");
    // The trial permit was dropped while unwinding: a failure, so open again.
    assert_eq!(b.state(), CircuitState::Open);
    sleep(secs(60)).await;
    assert_eq!(succeed(&b).await, Ok(()), "trials still work");
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn on_cancel_failure_counts_a_dropped_call_while_closed() {
    let b = CircuitBreaker::builder()
        .failures(2)
        .on_cancel(OnCancel::Failure)
        .build();
    assert!(tokio::time::timeout(secs(1), hanging(&b)).await.is_err());
    assert_eq!(b.state(), CircuitState::Closed);
    assert!(tokio::time::timeout(secs(1), hanging(&b)).await.is_err());
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn forced_open_says_to_come_back_after_reset() {
    let b = breaker(5);
    b.force_open();
    assert_eq!(b.admits_in(), secs(60));
    sleep(secs(600)).await;
    assert_eq!(b.admits_in(), secs(60));
    b.disable();
    assert_eq!(b.admits_in(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_ignores_late_results_from_before_a_trip() {
    let b = CircuitBreaker::builder()
        .failure_rate(0.5)
        .window(4)
        .min_calls(2)
        .build();
    let slow = b.acquire().unwrap(); // admitted while closed
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Open);
    sleep(secs(60)).await;
    assert_eq!(succeed(&b).await, Ok(()));
    assert_eq!(b.state(), CircuitState::Closed);
    // The slow call fails only now: it belongs to the closed period before
    // the trip, and must not count in the new window.
    slow.failure();
    let _ = fail(&b).await;
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "1 call in the window < min_calls"
    );
    let _ = fail(&b).await;
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_call_asks_the_breaker_when_first_polled_not_when_made() {
    let b = breaker(1);
    let made_while_closed = b.call(async { Ok::<_, Error>(()) });
    let _ = fail(&b).await;
    assert_eq!(made_while_closed.await, Err(Error::Open(secs(60))));
}

#[test]
#[should_panic(expected = "`Call` polled after it completed")]
fn polling_a_finished_call_again_is_reported() {
    let b = breaker(1);
    let mut call = std::pin::pin!(b.call(async { Ok::<_, Error>(()) }));
    assert!(futures_poll_once(call.as_mut()).is_ready());
    let _ = futures_poll_once(call.as_mut());
}

#[test]
#[should_panic(expected = "`Call` polled after it completed")]
fn polling_a_rejected_call_again_is_reported() {
    let b = CircuitBreaker::builder().failures(1).build();
    b.force_open();
    let mut call = std::pin::pin!(b.call(async { Ok::<_, Error>(()) }));
    assert!(futures_poll_once(call.as_mut()).is_ready());
    let _ = futures_poll_once(call.as_mut());
}

#[test]
fn a_panic_caught_around_a_call_counts_as_a_failure_at_once() {
    let b = breaker(1);
    let mut call = std::pin::pin!(b.call(panics()));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures_poll_once(call.as_mut())
    }));
    assert!(caught.is_err());
    // Recorded as the panic left `poll`, while the call future is still
    // alive: dropping it later must not turn the failure into a cancel.
    assert_eq!(b.state(), CircuitState::Open);
    // The call is over: polled again, it says so instead of asking for a
    // second permit.
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures_poll_once(call.as_mut())
    }));
    let message = again.expect_err("a second poll panics");
    assert_eq!(
        message.downcast_ref::<&str>().copied(),
        Some("`Call` polled after it completed")
    );
}

/// A call that panics when polled (an `async fn` so it panics there, not
/// when made).
#[allow(clippy::unused_async)]
async fn panics() -> Result<(), Error> {
    panic!("the call panics")
}

/// A call that notes being polled and being dropped.
struct Probe<'a> {
    polled: &'a AtomicU32,
    dropped: &'a AtomicU32,
}

impl Future for Probe<'_> {
    type Output = Result<(), Error>;
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        self.polled.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_rejected_call_is_dropped_at_once_unpolled() {
    let (polled, dropped) = (AtomicU32::new(0), AtomicU32::new(0));
    let b = breaker(1);
    b.force_open();
    let mut call = std::pin::pin!(b.call(Probe {
        polled: &polled,
        dropped: &dropped,
    }));
    assert!(futures_poll_once(call.as_mut()).is_ready());
    // The `Call` is still alive; what it was given is gone.
    assert_eq!(polled.load(Ordering::SeqCst), 0);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
