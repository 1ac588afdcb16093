//! The whole retry loop on tokio's paused clock: exact schedules, server
//! hints, budgets, classifiers and hooks.

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{Attempt, Backoff, Jitter, RetryHint, RetryPolicy, retry, retry_with_hints};
use tokio::time::Instant;

use common::{assert_send, ms, secs};

/// Runs `policy` against an attempt that always fails, and returns the
/// delays slept between attempts, as seen from outside (virtual time
/// between attempt starts), plus the number of attempts.
async fn observed_schedule(policy: &RetryPolicy) -> (Vec<Duration>, u32) {
    let starts = RefCell::new(Vec::new());
    let result = retry(policy, || async {
        starts.borrow_mut().push(Instant::now());
        Err::<(), _>("down")
    })
    .await;
    assert_eq!(result, Err("down"));
    let starts = starts.into_inner();
    let gaps = starts.windows(2).map(|w| w[1] - w[0]).collect();
    (gaps, u32::try_from(starts.len()).unwrap())
}

fn policy(attempts: u32, backoff: Backoff) -> RetryPolicy {
    RetryPolicy::builder()
        .attempts(attempts)
        .backoff(backoff)
        .jitter(Jitter::None)
        .build()
}

#[tokio::test(start_paused = true)]
async fn exponential_schedule_is_exact() {
    let (gaps, calls) =
        observed_schedule(&policy(6, Backoff::exponential(ms(100), 2.0, ms(1000)))).await;
    assert_eq!(calls, 6);
    assert_eq!(gaps, [100, 200, 400, 800, 1000].map(ms));
}

#[tokio::test(start_paused = true)]
async fn fractional_factor_schedule_is_exact() {
    let (gaps, _) =
        observed_schedule(&policy(4, Backoff::exponential(ms(100), 1.5, secs(10)))).await;
    assert_eq!(gaps, [100, 150, 225].map(ms));
}

#[tokio::test(start_paused = true)]
async fn linear_schedule_is_exact() {
    let (gaps, _) = observed_schedule(&policy(6, Backoff::linear(ms(100), ms(50), ms(220)))).await;
    assert_eq!(gaps, [100, 150, 200, 220, 220].map(ms));
}

#[tokio::test(start_paused = true)]
async fn fixed_schedule_is_exact() {
    let (gaps, _) = observed_schedule(&policy(4, Backoff::fixed(ms(250)))).await;
    assert_eq!(gaps, [250, 250, 250].map(ms));
}

#[tokio::test(start_paused = true)]
async fn no_backoff_retries_at_once() {
    let start = Instant::now();
    let (gaps, calls) = observed_schedule(&policy(5, Backoff::none())).await;
    assert_eq!(calls, 5);
    assert_eq!(gaps, [Duration::ZERO; 4]);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn single_attempt_never_sleeps() {
    let (gaps, calls) = observed_schedule(&policy(1, Backoff::fixed(secs(1)))).await;
    assert_eq!((gaps.len(), calls), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn decorrelated_is_reproducible_with_a_seed_and_within_bounds() {
    let p = RetryPolicy::builder()
        .attempts(12)
        .backoff(Backoff::decorrelated(ms(100), secs(5)))
        .build();
    resilient::testing::seed(99);
    let (first, _) = observed_schedule(&p).await;
    resilient::testing::seed(99);
    let (second, _) = observed_schedule(&p).await;
    assert_eq!(first, second);
    let mut previous = ms(100);
    for gap in first {
        assert!(
            gap >= ms(100) && gap <= (previous * 3).min(secs(5)),
            "{gap:?} after {previous:?}"
        );
        previous = gap;
    }
}

/// Ten attempts under a 10 s cap: 32.7 s of schedule, run in virtual time.
#[tokio::test(start_paused = true)]
async fn ten_attempts_run_in_virtual_time_exactly() {
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let p = policy(10, Backoff::exponential(ms(100), 2.0, secs(10)));
    let (gaps, calls) = observed_schedule(&p).await;
    assert_eq!(calls, 10);
    let schedule: Duration = (1..10).map(|n| p.backoff().delay(n)).sum();
    assert_eq!(
        schedule,
        ms(100 + 200 + 400 + 800 + 1600 + 3200 + 6400 + 10_000 + 10_000)
    );
    assert_eq!(gaps.iter().sum::<Duration>(), schedule);
    assert_eq!(start.elapsed(), schedule);
    // Slept for real, this would take 32.7 s.
    assert!(
        wall.elapsed() < secs(10),
        "slept in real time: {:?}",
        wall.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_within_the_backoff() {
    let p = RetryPolicy::builder()
        .attempts(30)
        .backoff(Backoff::exponential(ms(10), 2.0, ms(500)))
        .jitter(Jitter::Full)
        .build();
    resilient::testing::seed(1);
    let (gaps, _) = observed_schedule(&p).await;
    for (n, gap) in (1..).zip(&gaps) {
        assert!(*gap <= p.backoff().delay(n), "attempt {n}: {gap:?}");
    }
    // Jitter really varies the delays: not all equal to the envelope.
    assert!(
        gaps.iter()
            .zip(1..)
            .any(|(g, n)| *g != p.backoff().delay(n))
    );
}

#[tokio::test(start_paused = true)]
async fn equal_jitter_stays_in_the_upper_half() {
    let p = RetryPolicy::builder()
        .attempts(30)
        .backoff(Backoff::fixed(secs(2)))
        .jitter(Jitter::Equal)
        .build();
    resilient::testing::seed(2);
    let (gaps, _) = observed_schedule(&p).await;
    assert!(
        gaps.iter().all(|g| *g >= secs(1) && *g <= secs(2)),
        "{gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn success_on_a_later_attempt_returns_the_value() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let result = retry(&policy(5, Backoff::fixed(secs(1))), || async {
        if calls.fetch_add(1, Ordering::Relaxed) < 2 {
            Err("flaky")
        } else {
            Ok("data")
        }
    })
    .await;
    assert_eq!(result, Ok("data"));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(start.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn the_last_error_is_returned() {
    let calls = AtomicU32::new(0);
    let result = retry(&policy(3, Backoff::none()), || async {
        Err::<(), _>(calls.fetch_add(1, Ordering::Relaxed) + 1)
    })
    .await;
    assert_eq!(result, Err(3));
}

#[tokio::test(start_paused = true)]
async fn when_stops_on_a_permanent_error() {
    let calls = AtomicU32::new(0);
    let result = retry(&policy(5, Backoff::fixed(secs(1))), || async {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>(404)
    })
    .when(|status: &u16| *status >= 500)
    .await;
    assert_eq!(result, Err(404));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn on_retry_sees_number_delay_and_elapsed() {
    let seen = RefCell::new(Vec::new());
    let _ = retry(
        &policy(4, Backoff::exponential(secs(1), 2.0, secs(60))),
        || async { Err::<(), _>("down") },
    )
    .on_retry(|err, attempt| {
        assert_eq!(*err, "down");
        seen.borrow_mut().push(*attempt);
    })
    .await;
    assert_eq!(
        seen.into_inner(),
        [
            Attempt::new(1, secs(1), Duration::ZERO),
            Attempt::new(2, secs(2), secs(1)),
            Attempt::new(3, secs(4), secs(3)),
        ]
    );
}

#[derive(Debug, PartialEq)]
enum ApiError {
    RateLimited(Duration),
    Unavailable,
    NotFound,
}

impl RetryHint for ApiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(d) => Some(*d),
            _ => None,
        }
    }
    fn is_transient(&self) -> bool {
        !matches!(self, Self::NotFound)
    }
}

#[tokio::test(start_paused = true)]
async fn a_hint_within_the_cap_is_slept_exactly_without_jitter() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let result = retry_with_hints(&policy(3, Backoff::fixed(ms(100))), || async {
        match calls.fetch_add(1, Ordering::Relaxed) {
            0 => Err(ApiError::RateLimited(secs(7))),
            1 => Err(ApiError::Unavailable),
            _ => Ok(()),
        }
    })
    .await;
    assert_eq!(result, Ok(()));
    assert_eq!(start.elapsed(), secs(7) + ms(100));
}

#[tokio::test(start_paused = true)]
async fn a_hint_gets_the_jitter_spread_and_is_never_shortened() {
    let p = RetryPolicy::builder()
        .attempts(2)
        .backoff(Backoff::fixed(secs(1)))
        .jitter(Jitter::Full)
        .build();
    let mut waits = Vec::new();
    for seed in 0..20 {
        resilient::testing::seed(seed);
        let start = Instant::now();
        let _ = retry_with_hints(&p, || async {
            Err::<(), _>(ApiError::RateLimited(secs(5)))
        })
        .await;
        waits.push(start.elapsed());
    }
    assert!(
        waits.iter().all(|w| *w >= secs(5) && *w <= secs(6)),
        "{waits:?}"
    );
    // Clients told the same Retry-After do not come back in lockstep.
    assert!(waits.iter().any(|w| *w != waits[0]), "{waits:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hint_above_the_cap_stops_at_once_with_the_error() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let p = RetryPolicy::builder()
        .attempts(5)
        .max_retry_after(secs(30))
        .build();
    let result = retry_with_hints(&p, || async {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>(ApiError::RateLimited(secs(31)))
    })
    .await;
    assert_eq!(result, Err(ApiError::RateLimited(secs(31))));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_hint_at_the_cap_is_honoured() {
    let start = Instant::now();
    let p = RetryPolicy::builder()
        .attempts(2)
        .jitter(Jitter::None)
        .max_retry_after(secs(30))
        .build();
    let _ = retry_with_hints(&p, || async {
        Err::<(), _>(ApiError::RateLimited(secs(30)))
    })
    .await;
    assert_eq!(start.elapsed(), secs(30));
}

#[tokio::test(start_paused = true)]
async fn is_transient_false_stops_and_when_replaces_it() {
    let calls = AtomicU32::new(0);
    let result = retry_with_hints(&policy(3, Backoff::none()), || async {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>(ApiError::NotFound)
    })
    .await;
    assert_eq!(
        (result, calls.swap(0, Ordering::Relaxed)),
        (Err(ApiError::NotFound), 1)
    );

    // `when` replaces `is_transient`, and hints still apply.
    let start = Instant::now();
    let result = retry_with_hints(&policy(2, Backoff::none()), || async {
        if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            Err::<(), _>(ApiError::RateLimited(secs(3)))
        } else {
            Err(ApiError::NotFound)
        }
    })
    .when(|_| true)
    .await;
    assert_eq!(result, Err(ApiError::NotFound));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn plain_retry_ignores_hints_unless_asked() {
    let start = Instant::now();
    let _ = retry(&policy(2, Backoff::fixed(ms(10))), || async {
        Err::<(), _>(ApiError::RateLimited(secs(9)))
    })
    .await;
    assert_eq!(start.elapsed(), ms(10));

    let start = Instant::now();
    let _ = retry(&policy(2, Backoff::fixed(ms(10))), || async {
        Err::<(), _>("429")
    })
    .retry_after(|_| Some(secs(9)))
    .await;
    assert_eq!(start.elapsed(), secs(9));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_stops_before_a_sleep_that_would_overrun() {
    let p = RetryPolicy::builder()
        .attempts(u32::MAX)
        .backoff(Backoff::fixed(secs(3)))
        .jitter(Jitter::None)
        .max_elapsed(secs(10))
        .build();
    let start = Instant::now();
    let (gaps, calls) = observed_schedule(&p).await;
    // Sleeps end at 3, 6 and 9 s; the next would end at 12 s > 10 s.
    assert_eq!((gaps.len(), calls), (3, 4));
    assert_eq!(start.elapsed(), secs(9));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_holds_for_hints_too() {
    let p = RetryPolicy::builder()
        .attempts(10)
        .jitter(Jitter::None)
        .max_elapsed(secs(20))
        .build();
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let _ = retry_with_hints(&p, || async {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>(ApiError::RateLimited(secs(15)))
    })
    .await;
    // 15 s fits the 20 s budget once; a second 15 s wait would end at 30 s.
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(start.elapsed(), secs(15));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_counts_the_attempts_time_too() {
    let p = RetryPolicy::builder()
        .attempts(10)
        .backoff(Backoff::fixed(secs(1)))
        .jitter(Jitter::None)
        .max_elapsed(secs(10))
        .build();
    let calls = AtomicU32::new(0);
    let _ = retry(&p, || async {
        calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(secs(4)).await; // a slow attempt
        Err::<(), _>("timeout")
    })
    .await;
    // Attempts end at 4 s, 9 s; sleeping 1 s more would end at 10 s, the
    // budget exactly (allowed); the third ends at 14 s and stops.
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn a_seeded_thread_draws_nothing_on_success() {
    let p = RetryPolicy::builder()
        .attempts(2)
        .backoff(Backoff::fixed(secs(10)))
        .build();
    let failing = || async {
        let start = Instant::now();
        let _ = retry(&p, || async { Err::<(), _>(()) }).await;
        start.elapsed()
    };
    resilient::testing::seed(42);
    let expected = failing().await;

    resilient::testing::seed(42);
    for _ in 0..100 {
        assert_eq!(retry(&p, || async { Ok::<_, ()>(1) }).await, Ok(1));
    }
    assert_eq!(
        failing().await,
        expected,
        "the success path drew from the generator"
    );
}

#[test]
fn the_retry_future_is_send_when_the_attempt_is() {
    let p = RetryPolicy::new();
    let fut = retry(&p, || async { Ok::<_, String>(()) })
        .when(|_| true)
        .on_retry(|_, _| {})
        .into_future();
    assert_send(&fut);
}

use std::future::{Future, IntoFuture as _};

#[tokio::test(start_paused = true)]
async fn full_jitter_reaches_below_half_and_equal_never_does() {
    let with = |jitter| {
        RetryPolicy::builder()
            .attempts(40)
            .backoff(Backoff::fixed(secs(2)))
            .jitter(jitter)
            .build()
    };
    resilient::testing::seed(5);
    let (full, _) = observed_schedule(&with(Jitter::Full)).await;
    assert!(full.iter().any(|g| *g < secs(1)), "{full:?}");
    resilient::testing::seed(5);
    let (equal, _) = observed_schedule(&with(Jitter::Equal)).await;
    assert!(equal.iter().all(|g| *g >= secs(1)), "{equal:?}");
    assert!(
        equal.iter().any(|g| *g != equal[0]),
        "equal jitter did not vary: {equal:?}"
    );
}

/// Polls `fut` once with a waker that records whether it was woken.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> (std::task::Poll<F::Output>, bool) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Wake, Waker};

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let poll = fut.poll(&mut Context::from_waker(&waker));
    (poll, flag.0.load(Ordering::Relaxed))
}

#[test]
fn a_zero_delay_retry_yields_between_attempts() {
    let calls = AtomicU32::new(0);
    let p = policy(1_000_000, Backoff::none());
    let mut fut = std::pin::pin!(
        retry(&p, || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err::<(), _>("fails at once")
        })
        .into_future()
    );
    let (poll, woken) = poll_once(fut.as_mut());
    assert!(poll.is_pending());
    assert!(woken, "a yielding future must ask to be polled again");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "ran several attempts in one poll"
    );
    let _ = poll_once(fut.as_mut());
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[resilient::retry(attempts = 1000000, backoff = none)]
async fn fails_at_once(calls: &AtomicU32) -> Result<(), &'static str> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err("fails at once")
}

/// The attribute's zero delay yields too, through the same pause.
#[test]
fn a_zero_delay_retry_by_attribute_yields_between_attempts() {
    let calls = AtomicU32::new(0);
    let mut fut = std::pin::pin!(fails_at_once(&calls));
    let (poll, woken) = poll_once(fut.as_mut());
    assert!(poll.is_pending());
    assert!(woken, "a yielding future must ask to be polled again");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let _ = poll_once(fut.as_mut());
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[test]
#[should_panic(expected = "`RetryFuture` polled after it completed")]
fn polling_after_completion_is_a_clear_error() {
    let p = RetryPolicy::new();
    let mut fut = std::pin::pin!(retry(&p, || async { Ok::<_, ()>(1) }).into_future());
    assert_eq!(poll_once(fut.as_mut()).0, std::task::Poll::Ready(Ok(1)));
    let _ = poll_once(fut.as_mut());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_sleep_stops_the_attempts() {
    let calls = AtomicU32::new(0);
    let p = policy(5, Backoff::fixed(secs(10)));
    let outcome = tokio::time::timeout(
        secs(15),
        retry(&p, || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err::<(), _>("down")
        })
        .into_future(),
    )
    .await;
    assert!(outcome.is_err(), "the timeout should have fired");
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    tokio::time::sleep(secs(60)).await;
    assert_eq!(
        calls.load(Ordering::Relaxed),
        2,
        "an attempt ran after the future was dropped"
    );
}

#[test]
fn the_retry_future_is_send_even_with_a_non_send_error_type() {
    // The error only passes through; the future never holds one across an
    // await, so a `!Send` error (an `Rc`) does not make it `!Send`.
    let p = RetryPolicy::new();
    let fut = retry(&p, || async { Err::<(), _>(std::rc::Rc::new(1)) }).into_future();
    assert_send(&fut);
}

#[test]
fn retry_and_its_future_have_debug() {
    let p = RetryPolicy::new();
    let r = retry(&p, || async { Ok::<_, ()>(()) });
    assert!(format!("{r:?}").starts_with("Retry { policy: RetryPolicy { attempts: 3"));
    let f = r.into_future();
    assert!(format!("{f:?}").contains("phase: \"start\""), "{f:?}");
}
