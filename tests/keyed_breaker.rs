//! Per-key circuit breakers: `#[circuit_breaker(key = ..)]` and
//! `KeyedBreaker` by hand. One key opens, the others stay closed; at most
//! `max_keys` breakers live, idle and least recently used ones go first,
//! open ones never before their reset; `max_open` caps the share of open
//! keys. All in paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{
    CircuitOpen, CircuitState, KeyedBreaker, OpenReason, circuit_breaker, registry, retry,
};
use tokio::time::{advance, sleep};

#[derive(Debug, PartialEq)]
enum Error {
    Down,
    Open(String, OpenReason),
}

impl From<CircuitOpen> for Error {
    fn from(open: CircuitOpen) -> Self {
        Self::Open(open.name().to_string(), open.reason())
    }
}

fn open(name: &str) -> Error {
    Error::Open(name.to_owned(), OpenReason::Open)
}

static RUNS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(key = host, failures = 2, reset = "30s", name = "test-keyed-hosts")]
async fn fetch(host: &str, fail: bool) -> Result<String, Error> {
    RUNS.fetch_add(1, Ordering::Relaxed);
    if fail {
        Err(Error::Down)
    } else {
        Ok(format!("from {host}"))
    }
}

#[tokio::test(start_paused = true)]
async fn one_host_opens_and_the_others_stay_closed() {
    for _ in 0..2 {
        assert_eq!(fetch("a", true).await, Err(Error::Down));
    }
    let runs = RUNS.load(Ordering::Relaxed);
    assert_eq!(
        fetch("a", false).await,
        Err(open("test-keyed-hosts[a]")),
        "the failing host is open"
    );
    assert_eq!(RUNS.load(Ordering::Relaxed), runs, "and not run");
    assert_eq!(fetch("b", false).await.as_deref(), Ok("from b"));

    let listed: Vec<String> = registry::all()
        .iter()
        .filter(|b| b.name().as_str().starts_with("test-keyed-hosts"))
        .map(|b| format!("{} {}", b.name(), b.state()))
        .collect();
    assert_eq!(
        listed,
        ["test-keyed-hosts[a] open", "test-keyed-hosts[b] closed"]
    );
    let a = registry::get("test-keyed-hosts[a]").expect("listed by key");
    assert_eq!(a.admits_in(), Duration::from_secs(30));

    sleep(Duration::from_secs(30)).await;
    assert_eq!(fetch("a", false).await.as_deref(), Ok("from a"));
    assert_eq!(a.state(), CircuitState::Closed);
}

/// Integer and `String` keys, from an expression over the arguments.
#[circuit_breaker(key = user % 2, failures = 1, name = "test-keyed-parity")]
async fn by_parity(user: u64, fail: bool) -> Result<u64, Error> {
    if fail { Err(Error::Down) } else { Ok(user) }
}

#[circuit_breaker(key = format!("{region}-{zone}"), failures = 1, name = "test-keyed-zone")]
async fn by_zone(region: &str, zone: u8) -> Result<(), Error> {
    let _ = (region, zone);
    Err(Error::Down)
}

#[tokio::test(start_paused = true)]
async fn integer_and_string_keys() {
    assert_eq!(by_parity(3, true).await, Err(Error::Down));
    assert_eq!(by_parity(5, false).await, Err(open("test-keyed-parity[1]")));
    assert_eq!(by_parity(4, false).await, Ok(4));

    assert_eq!(by_zone("eu", 1).await, Err(Error::Down));
    assert_eq!(by_zone("eu", 1).await, Err(open("test-keyed-zone[eu-1]")));
    assert_eq!(by_zone("eu", 2).await, Err(Error::Down));
}

static TENANTS: KeyedBreaker = KeyedBreaker::builder()
    .name("test-keyed-shared")
    .failures(1)
    .build();

#[circuit_breaker(key = tenant, shared = TENANTS)]
async fn read(tenant: u32, fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[circuit_breaker(key = tenant, shared = TENANTS)]
async fn write(tenant: u32) -> Result<(), Error> {
    let _ = tenant;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_shared_keyed_breaker_guards_several_functions() {
    assert_eq!(read(7, true).await, Err(Error::Down));
    // Tenant 7 is open for every function sharing the keyed breaker.
    assert_eq!(write(7).await, Err(open("test-keyed-shared[7]")));
    assert_eq!(write(8).await, Ok(()));
    assert_eq!(
        registry::keyed("test-keyed-shared").map(|k| k.len()),
        Some(2),
        "registered on first use"
    );
}

struct Client {
    hosts: Arc<KeyedBreaker>,
}

impl Client {
    #[circuit_breaker(key = host, breaker = self.hosts)]
    async fn get(&self, host: &str) -> Result<(), Error> {
        let _ = host;
        Err(Error::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn a_keyed_breaker_the_caller_owns() {
    let client = Client {
        hosts: Arc::new(
            KeyedBreaker::builder()
                .name("test-keyed-owned")
                .failures(1)
                .build(),
        ),
    };
    assert_eq!(client.get("x").await, Err(Error::Down));
    assert_eq!(client.get("x").await, Err(open("test-keyed-owned[x]")));
    assert_eq!(client.get("y").await, Err(Error::Down));
    assert_eq!(client.hosts.len(), 2);
}

fn regions() -> Arc<KeyedBreaker> {
    static REGIONS: std::sync::OnceLock<Arc<KeyedBreaker>> = std::sync::OnceLock::new();
    Arc::clone(REGIONS.get_or_init(|| {
        Arc::new(
            KeyedBreaker::builder()
                .name("test-keyed-temporary")
                .failures(1)
                .build(),
        )
    }))
}

/// A temporary keyed breaker (an `Arc` returned by a call), and a
/// `&mut self` body that uses `self` while the key's breaker is held.
#[circuit_breaker(key = region, breaker = regions())]
async fn in_region(region: &str) -> Result<(), Error> {
    let _ = region;
    Err(Error::Down)
}

struct Counter {
    hosts: KeyedBreaker,
    calls: u32,
}

impl Counter {
    #[circuit_breaker(key = host, breaker = self.hosts)]
    async fn bump(&mut self, host: &str) -> Result<u32, Error> {
        let _ = host;
        self.calls += 1;
        Ok(self.calls)
    }
}

#[tokio::test(start_paused = true)]
async fn temporaries_and_mut_self() {
    assert_eq!(in_region("eu").await, Err(Error::Down));
    assert_eq!(in_region("eu").await, Err(open("test-keyed-temporary[eu]")));
    let mut counter = Counter {
        hosts: KeyedBreaker::builder().name("counter").build(),
        calls: 0,
    };
    assert_eq!(counter.bump("a").await, Ok(1));
    assert_eq!(counter.bump("b").await, Ok(2));
    assert_eq!(counter.hosts.len(), 2);
}

static RETRIED: AtomicU32 = AtomicU32::new(0);

/// A retry above a keyed breaker: the key's breaker opens after two
/// attempts, and the retry stops with its rejection instead of sleeping
/// through 60 s of open breaker (above `max_retry_after`).
#[retry(attempts = 5, backoff = fixed("1s"), jitter = none)]
#[circuit_breaker(key = host, failures = 2, reset = "60s", name = "test-keyed-retried")]
async fn retried(host: &str) -> Result<(), Error> {
    let _ = host;
    RETRIED.fetch_add(1, Ordering::Relaxed);
    Err(Error::Down)
}

#[tokio::test(start_paused = true)]
async fn a_retry_above_asks_the_keys_breaker() {
    let start = tokio::time::Instant::now();
    assert_eq!(retried("h").await, Err(open("test-keyed-retried[h]")));
    assert_eq!(RETRIED.load(Ordering::Relaxed), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

fn hosts(max_keys: u32, idle: Duration) -> KeyedBreaker {
    KeyedBreaker::builder()
        .name("hosts")
        .failures(1)
        .reset(Duration::from_secs(60))
        .max_keys(max_keys)
        .idle(idle)
        .build()
}

fn keys(keyed: &KeyedBreaker) -> Vec<String> {
    keyed
        .breakers()
        .iter()
        .map(|b| b.name().as_str().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_closed_key_makes_room() {
    let keyed = hosts(4, Duration::from_secs(80));
    for key in ["a", "b", "c", "d"] {
        keyed.breaker(key).unwrap();
        advance(Duration::from_secs(10)).await;
    }
    keyed.breaker("a").unwrap(); // used again: b is now the oldest
    keyed.breaker("e").unwrap();
    assert_eq!(
        keys(&keyed),
        ["hosts[a]", "hosts[c]", "hosts[d]", "hosts[e]"]
    );
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_forgotten_as_new_ones_arrive() {
    let keyed = hosts(100, Duration::from_secs(8));
    keyed.breaker("a").unwrap();
    advance(Duration::from_secs(9)).await;
    keyed.breaker("b").unwrap();
    advance(Duration::from_secs(9)).await;
    keyed.breaker("c").unwrap();
    // `a` was last used 18 s ago, `b` 9 s ago: only `a` is known idle.
    assert_eq!(keys(&keyed), ["hosts[b]", "hosts[c]"]);

    // Idleness is counted from the later of a key's last call and the
    // last time the keyed breaker looked at the clock (a new key or
    // `evict_idle`): `c`, used at 18 s, is known idle only 8 s after
    // the look at 38 s.
    advance(Duration::from_secs(20)).await;
    assert_eq!(keyed.evict_idle(), 1);
    assert_eq!(keys(&keyed), ["hosts[c]"]);
    advance(Duration::from_secs(8)).await;
    assert_eq!(keyed.evict_idle(), 1);
    assert!(keyed.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_open_key_is_kept_and_a_new_one_waits_for_room() {
    let keyed = hosts(2, Duration::from_secs(1));
    keyed.breaker("a").unwrap().acquire().unwrap().failure();
    advance(Duration::from_secs(10)).await;
    keyed.breaker("b").unwrap().acquire().unwrap().failure();
    advance(Duration::from_secs(10)).await;

    let refused = keyed.breaker("c").unwrap_err();
    assert_eq!(refused.reason(), OpenReason::NoRoomForKey);
    assert_eq!(refused.name(), "hosts[c]");
    assert_eq!(
        refused.retry_after(),
        Duration::from_secs(40),
        "until `a` reaches its reset"
    );
    assert!(
        refused.to_string().contains("no room for a new key"),
        "{refused}"
    );
    assert_eq!(keys(&keyed), ["hosts[a]", "hosts[b]"], "both kept");

    advance(Duration::from_secs(40)).await;
    keyed.breaker("c").unwrap();
    assert_eq!(
        keys(&keyed),
        ["hosts[b]", "hosts[c]"],
        "`a` past its reset goes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_forced_open_key_is_never_evicted() {
    let keyed = hosts(1, Duration::from_secs(1));
    keyed.breaker("a").unwrap().force_open();
    advance(Duration::from_secs(3600)).await;
    let refused = keyed.breaker("b").unwrap_err();
    assert_eq!(refused.reason(), OpenReason::NoRoomForKey);
    assert_eq!(
        refused.retry_after(),
        Duration::from_secs(60),
        "no open breaker to wait for: the reset as a hint"
    );
    assert_eq!(keyed.evict_idle(), 0);
    assert_eq!(keys(&keyed), ["hosts[a]"]);
}

#[tokio::test(start_paused = true)]
async fn max_open_caps_the_share_of_open_keys() {
    let keyed = KeyedBreaker::builder()
        .name("capped")
        .failures(2)
        .max_open(0.5)
        .build();
    for key in ["a", "b", "c", "d"] {
        keyed.breaker(key).unwrap();
    }
    let fail = |key| keyed.breaker(key).unwrap().acquire().unwrap().failure();
    for key in ["a", "a", "b", "b"] {
        fail(key);
    }
    // Half of four keys are open: `c` fails on and on, but stays closed.
    for _ in 0..5 {
        fail("c");
    }
    let state = |key| keyed.get(key).unwrap().state();
    assert_eq!(state("a"), CircuitState::Open);
    assert_eq!(state("b"), CircuitState::Open);
    assert_eq!(state("c"), CircuitState::Closed);
    // Once `a` is closed again, `c`'s next failure opens it: its count
    // was kept at the threshold.
    keyed.get("a").unwrap().reset();
    fail("c");
    assert_eq!(state("c"), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn max_open_always_lets_one_key_open() {
    let keyed = KeyedBreaker::builder()
        .name("one")
        .failures(1)
        .max_open(0.1)
        .build();
    keyed.breaker("only").unwrap().acquire().unwrap().failure();
    assert_eq!(keyed.get("only").unwrap().state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn by_hand_call_and_remove() {
    let keyed = KeyedBreaker::builder().name("hand").failures(1).build();
    assert_eq!(
        keyed.call("k", async { Err::<(), _>(Error::Down) }).await,
        Err(Error::Down)
    );
    assert_eq!(
        keyed.call("k", async { Ok::<_, Error>(()) }).await,
        Err(open("hand[k]"))
    );
    // A 404-like error that does not count.
    let _ = keyed
        .call_with("j", async { Err::<(), _>(Error::Down) }, |_| false)
        .await;
    assert_eq!(keyed.get("j").unwrap().state(), CircuitState::Closed);
    assert!(keyed.remove("k"));
    assert!(!keyed.remove("k"));
    assert_eq!(keyed.call("k", async { Ok::<_, Error>(()) }).await, Ok(()));
    assert!(keyed.get("absent").is_none());
}

/// A call in flight keeps its key's breaker when the key is evicted; its
/// outcome lands on the forgotten breaker, and the key starts afresh.
#[tokio::test(start_paused = true)]
async fn an_eviction_during_a_call_is_harmless() {
    let keyed = hosts(1, Duration::from_secs(1));
    let held = keyed.breaker("a").unwrap();
    let permit = held.acquire().unwrap();
    assert!(keyed.remove("a"));
    permit.failure();
    assert_eq!(held.state(), CircuitState::Open);
    assert_eq!(keyed.breaker("a").unwrap().state(), CircuitState::Closed);
}

#[test]
fn settings_from_configuration_are_checked() {
    let err = KeyedBreaker::builder().max_keys(0).try_build().unwrap_err();
    assert_eq!(err.key(), "max_keys");
    let err = KeyedBreaker::builder()
        .failure_rate(2.0)
        .try_build()
        .unwrap_err();
    assert_eq!(err.key(), "failure_rate");
}

/// A flood of made-up keys, eight a call, while one real host keeps
/// failing: the made-up keys, never used twice, make the room; the host's
/// breaker is kept, counts its failures and opens. In failure-rate mode
/// (whose counts the eviction cannot see) and in consecutive mode.
#[tokio::test(start_paused = true)]
async fn a_flood_of_new_keys_cannot_keep_a_failing_host_closed() {
    let modes = [
        KeyedBreaker::builder().failure_rate(0.5).window(50),
        KeyedBreaker::builder().failures(50),
    ];
    for builder in modes {
        let keyed = builder.name("flooded").max_keys(64).build();
        let first = keyed.breaker("hot").unwrap();
        let mut fresh = 0u64;
        for round in 0..200 {
            let hot = keyed.breaker("hot").unwrap();
            assert!(
                Arc::ptr_eq(&hot, &first),
                "round {round}: the host's breaker was evicted"
            );
            if let Ok(permit) = hot.acquire() {
                permit.failure();
            }
            for _ in 0..8 {
                fresh += 1;
                keyed.breaker(&fresh).unwrap();
            }
            assert!(keyed.len() <= 64);
        }
        assert_eq!(first.state(), CircuitState::Open);
    }
}

static PICKED: AtomicU32 = AtomicU32::new(0);

fn pick() -> &'static str {
    PICKED.fetch_add(1, Ordering::Relaxed);
    "picked"
}

/// The key is evaluated once an attempt: a retry above asks the breaker
/// the attempt used, without evaluating the key again.
#[retry(attempts = 3, backoff = fixed("1s"), jitter = none)]
#[circuit_breaker(key = pick(), failures = 5, name = "test-keyed-once")]
async fn evaluated_once() -> Result<(), Error> {
    Err(Error::Down)
}

#[tokio::test(start_paused = true)]
async fn the_key_is_evaluated_once_an_attempt() {
    assert_eq!(evaluated_once().await, Err(Error::Down));
    assert_eq!(PICKED.load(Ordering::Relaxed), 3);
}

static LAZY_HOSTS: std::sync::LazyLock<KeyedBreaker> = std::sync::LazyLock::new(|| {
    KeyedBreaker::builder()
        .name("test-keyed-lazy")
        .failures(1)
        .build()
});

static LAZY_ONE: std::sync::LazyLock<resilient::CircuitBreaker> = std::sync::LazyLock::new(|| {
    resilient::CircuitBreaker::builder()
        .name("test-lazy-one")
        .failures(1)
        .build()
});

#[circuit_breaker(key = host, shared = LAZY_HOSTS)]
async fn lazily_keyed(host: &str) -> Result<(), Error> {
    let _ = host;
    Err(Error::Down)
}

#[circuit_breaker(shared = LAZY_ONE)]
async fn lazily_shared() -> Result<(), Error> {
    Err(Error::Down)
}

/// `shared` takes a `LazyLock` of either kind (a breaker built from
/// configuration at first use).
#[tokio::test(start_paused = true)]
async fn shared_lazy_breakers() {
    assert_eq!(lazily_keyed("a").await, Err(Error::Down));
    assert_eq!(lazily_keyed("a").await, Err(open("test-keyed-lazy[a]")));
    assert_eq!(lazily_shared().await, Err(Error::Down));
    assert_eq!(lazily_shared().await, Err(open("test-lazy-one")));
}

/// Four threads making, using, removing and evicting keys at once: the
/// count stays the set's size and never passes `max_keys`.
#[test]
fn concurrent_keys_stay_within_max_keys() {
    let keyed = KeyedBreaker::builder()
        .name("threads")
        .max_keys(8)
        .idle(Duration::from_secs(1))
        .build();
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let keyed = &keyed;
            scope.spawn(move || {
                for i in 0..5_000u64 {
                    let key = (i * 7 + thread) % 20;
                    // No breaker ever opens here: a new key always finds
                    // room.
                    keyed.breaker(&key).unwrap().acquire().unwrap().success();
                    match i % 50 {
                        0 => {
                            keyed.remove(&key);
                        }
                        25 => {
                            keyed.evict_idle();
                        }
                        _ => {}
                    }
                    assert!(keyed.len() <= 8, "{} keys", keyed.len());
                }
            });
        }
    });
    assert_eq!(keyed.len(), keyed.breakers().len());
    assert!(keyed.len() <= 8);
}

/// Eight keys failing at once on eight threads, `max_open = 0.25`: never
/// more than two open.
#[test]
fn concurrent_failures_respect_max_open() {
    let keyed = KeyedBreaker::builder()
        .name("threads-open")
        .failures(1)
        .max_open(0.25)
        .build();
    for key in 0..8u32 {
        keyed.breaker(&key).unwrap();
    }
    std::thread::scope(|scope| {
        for key in 0..8u32 {
            let keyed = &keyed;
            scope.spawn(move || {
                for _ in 0..100 {
                    if let Ok(permit) = keyed.breaker(&key).unwrap().acquire() {
                        permit.failure();
                    }
                }
            });
        }
    });
    let open = keyed
        .breakers()
        .iter()
        .filter(|b| b.state() == CircuitState::Open)
        .count();
    assert_eq!(open, 2);
}

#[async_trait::async_trait]
trait Upstream {
    async fn get(&self, host: &str) -> Result<(), Error>;
}

struct Failing;

#[async_trait::async_trait]
impl Upstream for Failing {
    #[circuit_breaker(key = host, failures = 1, name = "test-keyed-async-trait")]
    async fn get(&self, host: &str) -> Result<(), Error> {
        let _ = host;
        Err(Error::Down)
    }
}

#[circuit_breaker(key = key.to_string(), failures = 1, name = "test-keyed-generic")]
async fn generic<K: std::fmt::Display + Send + Sync>(key: &K) -> Result<(), Error> {
    let _ = key;
    Err(Error::Down)
}

/// The failure path under `#[async_trait]` and in a generic function: a
/// failing key opens, another key stays closed.
#[tokio::test(start_paused = true)]
async fn keyed_on_an_async_trait_method_and_a_generic_fn() {
    assert_eq!(Failing.get("a").await, Err(Error::Down));
    assert_eq!(
        Failing.get("a").await,
        Err(open("test-keyed-async-trait[a]"))
    );
    assert_eq!(Failing.get("b").await, Err(Error::Down));

    assert_eq!(generic(&1).await, Err(Error::Down));
    assert_eq!(generic(&1).await, Err(open("test-keyed-generic[1]")));
    assert_eq!(generic(&"x").await, Err(Error::Down));
}
