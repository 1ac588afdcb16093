//! A breaker shared across runtimes and threads: two paused runtimes using
//! one `static`, many tasks on a multi-thread runtime, and the registry.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{CircuitBreaker, CircuitOpen, CircuitState, registry};

#[derive(Debug, PartialEq)]
enum Error {
    Down,
    Open,
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

/// Two paused runtimes, made a few milliseconds apart, use one `static`
/// breaker: each runtime's clock starts at its own creation, and the
/// breaker's time must still be exact in both.
#[test]
fn a_static_breaker_across_two_paused_runtimes() {
    static SHARED: CircuitBreaker = CircuitBreaker::builder()
        .name("test-two-runtimes")
        .failures(1)
        .reset(Duration::from_secs(60))
        .build();

    let first = common::paused_runtime();
    let second = common::paused_runtime();
    // The second clock moves a few ms past the first, as between two tests
    // made apart in real time, but without sleeping for it.
    second.block_on(tokio::time::advance(Duration::from_millis(5)));

    // The second runtime trips it: its clock reads a few ms later than the
    // first's, which never advanced.
    second.block_on(async {
        let _ = SHARED.call(async { Err::<(), _>(Error::Down) }).await;
        assert_eq!(SHARED.state(), CircuitState::Open);
        assert_eq!(SHARED.admits_in(), Duration::from_secs(60));
    });

    first.block_on(async {
        // Read from the first runtime, whose clock is behind: open for
        // longer, by exactly the gap, never less, never a panic.
        let wait = SHARED.admits_in();
        assert!(wait > Duration::from_secs(60), "{wait:?}");
        assert!(wait < Duration::from_secs(61), "{wait:?}");
        tokio::time::sleep(wait).await;
        assert_eq!(SHARED.state(), CircuitState::HalfOpen);
        SHARED.call(async { Ok::<_, Error>(()) }).await.unwrap();
        assert_eq!(SHARED.state(), CircuitState::Closed);
    });

    second.block_on(async {
        assert_eq!(SHARED.state(), CircuitState::Closed);
        // A clock that ran far ahead leaves the breaker open for the other
        // runtime for as long: `reset` is the way out, as the docs say.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let _ = SHARED.call(async { Err::<(), _>(Error::Down) }).await;
    });
    first.block_on(async {
        assert_eq!(SHARED.state(), CircuitState::Open);
        // The first runtime is 60 s in; the trip happened at the second's 3600 s.
        assert!(
            SHARED.admits_in() > Duration::from_secs(3500),
            "{:?}",
            SHARED.admits_in()
        );
        SHARED.reset();
        assert_eq!(SHARED.state(), CircuitState::Closed);
    });
}

/// Many tasks hammering one breaker through many open/half-open/closed
/// cycles, some abandoning their calls; returns the most trials seen at
/// once and the number of trials.
async fn hammer(breaker: Arc<CircuitBreaker>) -> (u32, u32) {
    let in_flight = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let trials = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..32u32)
        .map(|task| {
            let (breaker, in_flight, most, trials) = (
                breaker.clone(),
                in_flight.clone(),
                most.clone(),
                trials.clone(),
            );
            tokio::spawn(async move {
                for call in 0..300u32 {
                    let Ok(permit) = breaker.acquire() else {
                        // Open: wait out part of the reset.
                        tokio::time::sleep(Duration::from_micros(500)).await;
                        continue;
                    };
                    let trial = permit.is_trial();
                    if trial {
                        trials.fetch_add(1, Ordering::Relaxed);
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                    }
                    tokio::task::yield_now().await;
                    if trial {
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    match (call + task) % 7 {
                        0 => drop(permit), // abandoned mid-flight
                        _ => permit.record(call % 2 == 0),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (most.load(Ordering::SeqCst), trials.load(Ordering::Relaxed))
}

/// Upstream recovers: the breaker must close again, which it could not if
/// a trial permit had leaked.
async fn closes_after_recovery(breaker: &CircuitBreaker) {
    for _ in 0..1000 {
        if let Ok(permit) = breaker.acquire() {
            permit.success();
        }
        if breaker.state() == CircuitState::Closed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("a permit leaked: the breaker never closed");
}

const TRIALS: u32 = 3;

fn hammered_breaker() -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder()
            .failures(2)
            .half_open(TRIALS)
            .reset(Duration::from_millis(2))
            .build(),
    )
}

/// On a paused clock time moves only when every task waits, so no trial
/// outlives its half-open period and the count of trials in flight is
/// exact: never more than `half_open`, and the bound is reached.
#[test]
fn concurrent_trials_never_exceed_half_open() {
    let breaker = hammered_breaker();
    common::paused_runtime().block_on(async {
        let (most, trials) = hammer(breaker.clone()).await;
        assert!(trials >= 100, "only {trials} trials: the run did not cycle");
        assert_eq!(most, TRIALS, "{most} trials at once");
        closes_after_recovery(&breaker).await;
    });
}

/// The same on two worker threads in real time: true parallelism. A trial
/// descheduled past its period may overlap the next period's trials (which
/// is allowed), so this run checks liveness and leaks; the bound itself is
/// model-checked with loom (resilient-runtime/tests/loom.rs).
#[test]
fn a_breaker_hammered_by_two_threads_still_closes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let breaker = hammered_breaker();
    runtime.block_on(async {
        let (_, trials) = hammer(breaker.clone()).await;
        assert!(trials > 0, "the run never reached half-open");
        closes_after_recovery(&breaker).await;
    });
}

#[test]
fn the_registry_holds_live_handles() {
    static A: CircuitBreaker = CircuitBreaker::builder()
        .name("test-registry-a")
        .failures(1)
        .build();
    registry::register(&A);
    assert!(
        registry::register(&A).is_none(),
        "registering again does nothing"
    );
    let shared = Arc::new(CircuitBreaker::builder().name("test-registry-b").build());
    registry::register(&shared);

    let a = registry::get("test-registry-a").expect("registered");
    assert_eq!(a.state(), CircuitState::Closed);
    A.force_open();
    assert_eq!(
        a.state(),
        CircuitState::Open,
        "the handle shows later changes"
    );
    assert_eq!(
        registry::all()
            .iter()
            .filter(|h| h.name() == "test-registry-a")
            .count(),
        1
    );
    assert!(
        registry::all()
            .iter()
            .any(|h| h.name() == "test-registry-b")
    );

    assert!(registry::reset("test-registry-a"));
    assert_eq!(A.state(), CircuitState::Closed);
    assert!(!registry::reset("test-registry-nobody"));

    // A fresh breaker under a taken name replaces the old one.
    let fresh = Arc::new(
        CircuitBreaker::builder()
            .name("test-registry-b")
            .failures(9)
            .build(),
    );
    let replaced = registry::register(fresh.clone()).expect("the old one is returned");
    assert!(
        std::ptr::eq(&raw const *replaced, &raw const *shared),
        "the replaced entry is the old breaker"
    );
    fresh.force_open();
    assert_eq!(
        replaced.state(),
        CircuitState::Closed,
        "the old breaker is untouched"
    );
    assert_eq!(
        registry::get("test-registry-b").unwrap().state(),
        CircuitState::Open
    );
    assert_eq!(shared.state(), CircuitState::Closed);

    registry::reset_all();
    assert_eq!(fresh.state(), CircuitState::Closed);
}

/// A function's own breaker, listed on its first use, is never replaced
/// by one registered by hand under its name: both are listed. A breaker
/// registered by hand still replaces one registered by hand.
#[tokio::test(start_paused = true)]
async fn registering_by_hand_never_displaces_a_functions_breaker() {
    #[resilient::circuit_breaker(failures = 1, name = "test-registry-function")]
    async fn guarded() -> Result<(), Error> {
        Err(Error::Down)
    }
    let _ = guarded().await;
    let by_hand = Arc::new(
        CircuitBreaker::builder()
            .name("test-registry-function")
            .build(),
    );
    assert!(registry::register(&by_hand).is_none(), "nothing replaced");
    let listed = || {
        registry::all()
            .into_iter()
            .filter(|h| h.name() == "test-registry-function")
            .map(|h| h.state())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(), [CircuitState::Open, CircuitState::Closed]);

    let second = Arc::new(
        CircuitBreaker::builder()
            .name("test-registry-function")
            .build(),
    );
    let replaced = registry::register(&second).expect("the one by hand is replaced");
    assert!(std::ptr::eq(&raw const *replaced, &raw const *by_hand));
    second.force_open();
    assert_eq!(listed(), [CircuitState::Open, CircuitState::Open]);
    assert!(registry::reset("test-registry-function"));
    assert_eq!(listed(), [CircuitState::Closed, CircuitState::Closed]);
}
