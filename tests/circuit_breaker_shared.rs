//! A breaker shared across runtimes and threads: two paused runtimes using
//! one `static`, many tasks on a multi-thread runtime, and the registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
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

    let first = paused_runtime();
    // Real time passes between the two runtimes, as between two tests.
    std::thread::sleep(Duration::from_millis(5));
    let second = paused_runtime();

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

/// Many tasks on two worker threads hammer one breaker through several
/// open/half-open/closed cycles: concurrent trials never exceed
/// `half_open`, and no permit leaks (the breaker still closes at the end).
#[test]
fn concurrent_trials_never_exceed_half_open() {
    const TRIALS: u32 = 3;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let breaker = Arc::new(
        CircuitBreaker::builder()
            .failures(2)
            .half_open(TRIALS)
            .reset(Duration::from_millis(2))
            .build(),
    );
    let in_half_open = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let trials = Arc::new(AtomicU32::new(0));
    let failing = Arc::new(AtomicBool::new(true));

    runtime.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|task| {
                let (breaker, in_half_open, most, failing, trials) = (
                    breaker.clone(),
                    in_half_open.clone(),
                    most.clone(),
                    failing.clone(),
                    trials.clone(),
                );
                tokio::spawn(async move {
                    for call in 0..300u32 {
                        let Ok(permit) = breaker.acquire() else {
                            // Open: wait out part of the 2 ms reset.
                            tokio::time::sleep(Duration::from_micros(500)).await;
                            continue;
                        };
                        let trial = permit.is_trial();
                        if trial {
                            trials.fetch_add(1, Ordering::Relaxed);
                            let now = in_half_open.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                        }
                        tokio::task::yield_now().await;
                        if trial {
                            in_half_open.fetch_sub(1, Ordering::SeqCst);
                        }
                        match (call + task) % 7 {
                            // Some calls are abandoned mid-flight.
                            0 => drop(permit),
                            _ => permit.record(failing.load(Ordering::Relaxed) && call % 2 == 0),
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }

        // Upstream recovers: the breaker must close again, which it could
        // not if a trial permit had leaked.
        failing.store(false, Ordering::Relaxed);
        for _ in 0..1000 {
            if let Ok(permit) = breaker.acquire() {
                permit.success();
            }
            if breaker.state() == CircuitState::Closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    // The run went through half-open many times, concurrently.
    eprintln!(
        "trials: {}, most at once: {}",
        trials.load(Ordering::Relaxed),
        most.load(Ordering::SeqCst)
    );
    assert!(
        trials.load(Ordering::Relaxed) >= 20,
        "only {} trials",
        trials.load(Ordering::Relaxed)
    );
    assert!(
        most.load(Ordering::SeqCst) <= TRIALS,
        "{} concurrent trials",
        most.load(Ordering::SeqCst)
    );
    assert_eq!(breaker.state(), CircuitState::Closed, "a permit leaked");
}

#[test]
fn the_registry_holds_live_handles() {
    static A: CircuitBreaker = CircuitBreaker::builder()
        .name("test-registry-a")
        .failures(1)
        .build();
    registry::register(&A);
    registry::register(&A); // idempotent
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
    registry::register(fresh.clone());
    fresh.force_open();
    assert_eq!(
        registry::get("test-registry-b").unwrap().state(),
        CircuitState::Open
    );
    assert_eq!(shared.state(), CircuitState::Closed);

    registry::reset_all();
    assert_eq!(fresh.state(), CircuitState::Closed);
}
