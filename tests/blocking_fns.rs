//! Plain (non-`async`) functions under `#[retry]`, `#[circuit_breaker]`,
//! `#[fallback]` and `#[bulkhead]`: the layers block the thread (sleeping
//! with `std::thread::sleep`). Real time, short durations.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use resilient::{
    BulkheadFull, CircuitBreaker, CircuitOpen, CircuitState, RetryHint, bulkhead, circuit_breaker,
    fallback, retry,
};

#[derive(Debug, PartialEq)]
enum Error {
    Down,
    Fatal,
    Open,
    Full,
}

impl RetryHint for Error {
    fn is_transient(&self) -> bool {
        !matches!(self, Self::Fatal)
    }
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Self::Open
    }
}

impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Self::Full
    }
}

#[test]
fn a_plain_fn_is_retried_with_its_backoff() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(attempts = 3, backoff = fixed("20ms"), jitter = none)]
    fn flaky() -> Result<u32, Error> {
        let n = CALLS.fetch_add(1, Ordering::SeqCst);
        if n < 2 { Err(Error::Down) } else { Ok(n) }
    }
    let start = Instant::now();
    assert_eq!(flaky(), Ok(2));
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_permanent_error_is_not_retried() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(attempts = 3, backoff = fixed("1ms"))]
    fn fatal() -> Result<u32, Error> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Err(Error::Fatal)
    }
    assert_eq!(fatal(), Err(Error::Fatal));
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
}

/// A `return` (or `?`) ends one attempt, not the function: the retry
/// goes on after it.
#[test]
fn return_ends_one_attempt() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(attempts = 3, backoff = fixed("1ms"))]
    fn early() -> Result<u32, Error> {
        let n = CALLS.fetch_add(1, Ordering::SeqCst);
        if n < 2 {
            return Err(Error::Down);
        }
        Ok(n)
    }
    assert_eq!(early(), Ok(2));
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
}

/// Each attempt starts from the caller's value of a `mut` argument, as
/// for an `async fn`.
#[test]
fn each_attempt_starts_from_the_callers_mut_arguments() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(attempts = 3, backoff = fixed("1ms"))]
    fn bump(mut n: u32) -> Result<u32, Error> {
        n += 1;
        if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(Error::Down);
        }
        Ok(n)
    }
    assert_eq!(bump(0), Ok(1), "not 3: no attempt sees another's change");
}

static BREAKER: CircuitBreaker = CircuitBreaker::builder()
    .name("blocking-breaker")
    .failures(2)
    .build();

#[circuit_breaker(shared = BREAKER)]
fn guarded(fail: bool) -> Result<u32, Error> {
    if fail { Err(Error::Down) } else { Ok(1) }
}

#[test]
fn a_breaker_on_a_plain_fn_opens_and_refuses() {
    assert_eq!(guarded(false), Ok(1));
    assert_eq!(guarded(true), Err(Error::Down));
    assert_eq!(guarded(true), Err(Error::Down));
    assert_eq!(BREAKER.state(), CircuitState::Open);
    assert_eq!(guarded(false), Err(Error::Open));
}

static DEGRADED_CALLS: AtomicU32 = AtomicU32::new(0);

#[fallback(with = |_| Ok(0))]
#[retry(attempts = 2, backoff = fixed("1ms"))]
#[circuit_breaker(failures = 10)]
fn degraded(fail: bool) -> Result<u32, Error> {
    DEGRADED_CALLS.fetch_add(1, Ordering::SeqCst);
    if fail { Err(Error::Down) } else { Ok(7) }
}

#[test]
fn a_whole_stack_on_a_plain_fn() {
    assert_eq!(degraded(false), Ok(7));
    assert_eq!(degraded(true), Ok(0), "retried, then the fallback");
    assert_eq!(
        DEGRADED_CALLS.load(Ordering::SeqCst),
        3,
        "one call, then two attempts"
    );
}

struct Store {
    calls: AtomicU32,
    broken: bool,
}

impl Store {
    #[fallback(value = u32::MAX)]
    #[retry(attempts = 3, backoff = fixed("1ms"))]
    fn read(&self, key: u32) -> Result<u32, Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.broken || n.is_multiple_of(2) {
            Err(Error::Down)
        } else {
            Ok(key + n)
        }
    }
}

#[test]
fn a_method_taking_self_by_reference() {
    let store = Store {
        calls: AtomicU32::new(0),
        broken: false,
    };
    assert_eq!(store.read(10), Ok(11));

    let broken = Store {
        calls: AtomicU32::new(0),
        broken: true,
    };
    assert_eq!(broken.read(10), Ok(u32::MAX), "every attempt failed");
    assert_eq!(broken.calls.load(Ordering::SeqCst), 3);
}

static TRIPS: CircuitBreaker = CircuitBreaker::builder()
    .name("blocking-trips")
    .failures(2)
    .build();

static TRIPPING_CALLS: AtomicU32 = AtomicU32::new(0);

/// The fallback tells an open breaker (1) from the upstream's failure (0).
#[fallback(with = |e| Ok(u32::from(e == Error::Open)))]
#[retry(attempts = 4, backoff = fixed("1ms"))]
#[circuit_breaker(shared = TRIPS)]
fn tripping() -> Result<u32, Error> {
    TRIPPING_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

/// A breaker that opens mid-retry stops the retries: the fallback sees it
/// open, after two attempts of four.
#[test]
fn a_breaker_opening_in_a_plain_stack_stops_the_retries() {
    assert_eq!(tripping(), Ok(1));
    assert_eq!(TRIPPING_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(TRIPS.state(), CircuitState::Open);
}

/// Says it is inside, then stays until released; a full bulkhead is
/// answered by the fallback.
#[fallback(with = |e| if e == Error::Full { Ok(false) } else { Err(e) })]
#[bulkhead(max = 1, name = "blocking-bulkhead-fallback")]
fn shielded(inside: &Sender<()>, release: &Receiver<()>) -> Result<bool, Error> {
    let _ = inside.send(());
    let _ = release.recv();
    Ok(true)
}

#[test]
fn a_full_bulkhead_in_a_plain_stack_reaches_the_fallback() {
    let (inside, is_inside) = channel();
    let (release, released) = channel();
    let holder = std::thread::spawn(move || shielded(&inside, &released));
    is_inside.recv().unwrap();
    let (told, free) = passing();
    assert_eq!(shielded(&told, &free), Ok(false), "turned away");
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), Ok(true));
}

/// Says it is inside, then stays until released.
#[bulkhead(max = 1, name = "blocking-bulkhead")]
fn exclusive(inside: &Sender<()>, release: &Receiver<()>) -> Result<(), Error> {
    let _ = inside.send(());
    let _ = release.recv();
    Ok(())
}

/// The same, waiting up to 500 ms for a place; when it left.
#[bulkhead(max = 1, wait = "500ms", name = "blocking-bulkhead-wait")]
fn patient(inside: &Sender<()>, release: &Receiver<()>) -> Result<Instant, Error> {
    let _ = inside.send(());
    let _ = release.recv();
    Ok(Instant::now())
}

/// Channels for a call that goes straight through: told nothing, released
/// already.
fn passing() -> (Sender<()>, Receiver<()>) {
    let (release, released) = channel();
    release.send(()).unwrap();
    (channel().0, released)
}

/// A full bulkhead turns a second thread away at once; with `wait`, the
/// second thread gets in when the first leaves.
#[test]
fn a_bulkhead_on_a_plain_fn_across_threads() {
    let (inside, is_inside) = channel();
    let (release, released) = channel();
    let holder = std::thread::spawn(move || exclusive(&inside, &released));
    is_inside.recv().unwrap();
    let (told, free) = passing();
    assert_eq!(exclusive(&told, &free), Err(Error::Full));
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), Ok(()));

    let (inside, is_inside) = channel();
    let (release, released) = channel();
    let first = std::thread::spawn(move || patient(&inside, &released));
    is_inside.recv().unwrap();
    // Released while the second waits for its place (or before it asks:
    // it gets in then too, after the first left).
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
    });
    let start = Instant::now();
    let (told, free) = passing();
    let second = patient(&told, &free).unwrap();
    let first = first.join().unwrap().unwrap();
    opener.join().unwrap();
    assert!(second >= first, "the second ran after the first left");
    assert!(
        start.elapsed() < Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );
}
