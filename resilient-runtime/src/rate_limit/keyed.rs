//! [`KeyedRateLimiter`]: one rate limiter per key (a tenant, a client, an
//! upstream host), each with the same settings, so a key's `429` pauses
//! that key only.

use core::future::IntoFuture;
use core::hash::{Hash, Hasher};
use core::time::Duration;
use std::sync::atomic::AtomicI64 as StdAtomicI64;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::{Admission, Gcra, RateLimited, RateLimiterBuilder, Settings, limited};
use crate::circuit_breaker::{
    BreakerKey, DEFAULT_IDLE, DEFAULT_MAX_KEYS, KeyBuf, KeysProblem, check_keys,
};
use crate::error::{ConfigError, setting_error};
use crate::{BreakerName, clock};

/// One [`RateLimiter`](super::RateLimiter) per key, made on the key's
/// first call: every setting of a rate limiter, plus
/// [`max_keys`](KeyedRateLimiterBuilder::max_keys) (1024) and
/// [`idle`](KeyedRateLimiterBuilder::idle) (10 minutes). A known key is one
/// lookup in a lock-free set and no allocation; each key's rejections are
/// named `name[key]`, and a key's pause (its `429`) holds that key only.
///
/// At most `max_keys` keys are kept: to make room for a new one, keys at
/// rest (their whole burst available, not paused) that have been idle go
/// first, then keys at rest, then keys seen once (a flood of made-up keys
/// goes before the keys in use), then the least recently used, and a
/// paused key last. A key forgotten while throttled starts again with a
/// whole burst.
///
/// ```
/// use std::time::Duration;
/// use resilient::KeyedRateLimiter;
///
/// static PER_TENANT: KeyedRateLimiter = KeyedRateLimiter::builder()
///     .name("tenant")
///     .rate(1)
///     .per(Duration::from_secs(1))
///     .build();
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// PER_TENANT.try_acquire("acme").unwrap();
/// let limited = PER_TENANT.try_acquire("acme").unwrap_err();
/// assert_eq!(limited.name(), "tenant[acme]");
/// PER_TENANT.try_acquire("globex").unwrap(); // another tenant's own limit
/// # }
/// ```
pub struct KeyedRateLimiter {
    name: &'static str,
    settings: Settings,
    max_keys: u32,
    idle_nanos: i64,
    keys: OnceLock<Keys>,
}

struct Keys {
    set: papaya::HashSet<Entry, foldhash::fast::RandomState>,
    /// Keys in the set: every insertion and removal is under this lock.
    live: Mutex<u32>,
}

/// One key's limiter.
struct Entry {
    key: Box<str>,
    slot: LimiterSlot,
    /// The clock at its last call (every call reads the clock anyway).
    used: StdAtomicI64,
    /// Whether it was used again after the call that made it: a key seen
    /// once (a flood of made-up keys) goes before one in use.
    reused: std::sync::atomic::AtomicBool,
}

/// One key's limiter state, held by a call so that an error with a
/// `Retry-After` pauses that key (for generated code and by hand).
#[derive(Clone, Debug)]
pub struct LimiterSlot(Arc<SlotState>);

#[derive(Debug)]
struct SlotState {
    name: BreakerName,
    gcra: Gcra,
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Entry {}

/// A key looked up by its text; hashes as the entry it finds.
#[derive(Hash)]
struct Probe<'a>(&'a str);

impl papaya::Equivalent<Entry> for Probe<'_> {
    fn equivalent(&self, entry: &Entry) -> bool {
        self.0 == &*entry.key
    }
}

impl KeyedRateLimiter {
    /// Starts a builder: a [`RateLimiter`](super::RateLimiter)'s defaults,
    /// 1024 keys, 10 minutes idle.
    pub const fn builder() -> KeyedRateLimiterBuilder {
        KeyedRateLimiterBuilder {
            limiter: RateLimiterBuilder::new().name("rate_limit"),
            max_keys: DEFAULT_MAX_KEYS,
            idle: DEFAULT_IDLE,
        }
    }

    /// The name; each key's is `name[key]`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The limiter state of `key`, made on its first call.
    pub fn slot<K: BreakerKey + ?Sized>(&self, key: &K) -> LimiterSlot {
        self.slot_at(key, clock::now())
    }

    /// [`slot`](Self::slot) at `now`, a clock read the caller shares.
    fn slot_at<K: BreakerKey + ?Sized>(&self, key: &K, now: i64) -> LimiterSlot {
        let mut buf = KeyBuf::new();
        let key = key.key_str(&mut buf);
        let keys = self.keys();
        {
            let guard = keys.set.guard();
            if let Some(entry) = keys.set.get(&Probe(key), &guard) {
                // A store at most once a millisecond, not on every call.
                let used = entry.used.load(std::sync::atomic::Ordering::Relaxed);
                if now.saturating_sub(used) > 1_000_000 {
                    entry.used.store(now, std::sync::atomic::Ordering::Relaxed);
                }
                if !entry.reused.load(std::sync::atomic::Ordering::Relaxed) {
                    entry
                        .reused
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                return entry.slot.clone();
            }
        }
        self.insert(keys, key, now)
    }

    /// A slot now for `key`, never waiting.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] over the key's limit, or while it is paused.
    pub fn try_acquire<K: BreakerKey + ?Sized>(&self, key: &K) -> Result<(), RateLimited> {
        let now = clock::now();
        let slot = self.slot_at(key, now);
        match slot.0.gcra.admit(&self.settings, now, 0) {
            Admission::Now | Admission::After(_) => Ok(()),
            Admission::Refused { wait, paused } => Err(limited(&slot.0.name, wait, paused)),
        }
    }

    /// A slot for `key`, waiting for it up to `wait`.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] when the key's next slot is further than `wait`.
    pub async fn acquire<K: BreakerKey + ?Sized>(&self, key: &K) -> Result<(), RateLimited> {
        let (slot, verdict) = self.admit_key(key);
        match verdict? {
            None => Ok(()),
            Some(wait) => {
                tokio::time::sleep(wait).await;
                self.recheck_slot(&slot)
            }
        }
    }

    /// Runs `fut` in a slot of `key`, waiting for one up to `wait`.
    ///
    /// # Errors
    ///
    /// `fut`'s error, or `E::from(RateLimited)`.
    pub async fn call<K, T, E, F>(&self, key: &K, fut: F) -> Result<T, E>
    where
        K: BreakerKey + ?Sized,
        F: IntoFuture<Output = Result<T, E>>,
        E: From<RateLimited>,
    {
        self.acquire(key).await.map_err(E::from)?;
        fut.await
    }

    /// Holds `key`'s callers off for `pause` (capped at `max_pause`).
    pub fn pause_for<K: BreakerKey + ?Sized>(&self, key: &K, pause: Duration) {
        let slot = self.slot(key);
        self.pause_slot(&slot, pause);
    }

    /// How many keys have a limiter now.
    pub fn len(&self) -> usize {
        self.keys.get().map_or(0, |keys| *lock(&keys.live) as usize)
    }

    /// Whether no key has a limiter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verdict for a call in `slot` now: go, go after a wait (its
    /// slot reserved), or the rejection.
    /// The key's slot and the verdict for a call now (go, go after a wait
    /// with its slot reserved, or the rejection), on one clock read.
    #[allow(clippy::type_complexity)]
    pub(crate) fn admit_key<K: BreakerKey + ?Sized>(
        &self,
        key: &K,
    ) -> (LimiterSlot, Result<Option<Duration>, RateLimited>) {
        let now = clock::now();
        let slot = self.slot_at(key, now);
        let verdict = match slot
            .0
            .gcra
            .admit(&self.settings, now, self.settings.wait_nanos)
        {
            Admission::Now => Ok(None),
            Admission::After(wait) => Ok(Some(clock::duration(wait))),
            Admission::Refused { wait, paused } => Err(limited(&slot.0.name, wait, paused)),
        };
        (slot, verdict)
    }

    /// After a wait for a reserved slot: refused if the key was paused
    /// meanwhile.
    #[allow(clippy::unused_self)] // a method, beside `admit_slot` and `pause_slot`
    pub(crate) fn recheck_slot(&self, slot: &LimiterSlot) -> Result<(), RateLimited> {
        match slot.0.gcra.recheck(clock::now()) {
            Some(left) => Err(limited(&slot.0.name, left, true)),
            None => Ok(()),
        }
    }

    /// Pauses `slot`'s key.
    pub(crate) fn pause_slot(&self, slot: &LimiterSlot, pause: Duration) {
        if let Some(pause) = slot.0.gcra.pause(&self.settings, clock::now(), pause) {
            #[cfg(feature = "metrics")]
            crate::metrics::rate_paused(&slot.0.name);
            #[cfg(feature = "tracing")]
            tracing::info!(
                target: "resilient::rate_limit",
                limiter = %slot.0.name,
                pause = ?pause,
                "rate limit paused by the service's Retry-After"
            );
            #[cfg(not(feature = "tracing"))]
            let _ = pause;
        }
    }

    fn keys(&self) -> &Keys {
        self.keys.get_or_init(|| Keys {
            set: papaya::HashSet::with_hasher(foldhash::fast::RandomState::default()),
            live: Mutex::new(0),
        })
    }

    /// A new key: room made if needed, then its limiter.
    #[cold]
    #[inline(never)]
    fn insert(&self, keys: &Keys, key: &str, now: i64) -> LimiterSlot {
        let mut live = lock(&keys.live);
        let guard = keys.set.guard();
        // Another call may have made it meanwhile.
        if let Some(entry) = keys.set.get(&Probe(key), &guard) {
            return entry.slot.clone();
        }
        if *live >= self.max_keys {
            *live -= self.evict(keys, now);
        }
        let slot = LimiterSlot(Arc::new(SlotState {
            name: BreakerName::from(format!("{}[{key}]", self.name)),
            gcra: Gcra::new(),
        }));
        let entry = Entry {
            key: key.into(),
            slot: slot.clone(),
            used: StdAtomicI64::new(now),
            reused: std::sync::atomic::AtomicBool::new(false),
        };
        if keys.set.insert(entry, &guard) {
            *live += 1;
        }
        slot
    }

    /// Makes room: a sixteenth of `max_keys` at a time (so a stream of new
    /// keys pays for a scan once per many keys): keys at rest (which lose
    /// nothing) and idle first, then at rest, then keys never used again
    /// after the call that made them, then the least recently used.
    /// Returns how many went.
    fn evict(&self, keys: &Keys, now: i64) -> u32 {
        let guard = keys.set.guard();
        let mut ranked: Vec<(u8, bool, i64, Probe<'_>)> = keys
            .set
            .iter(&guard)
            .map(|entry| {
                let used = entry.used.load(std::sync::atomic::Ordering::Relaxed);
                let at_rest = entry.slot.0.gcra.at_rest(now);
                let idle = now.saturating_sub(used) >= self.idle_nanos;
                let paused = entry.slot.0.gcra.recheck(now).is_some();
                // A paused key last: forgetting it would end its pause.
                let rank = match (at_rest, idle, paused) {
                    (_, _, true) => 3,
                    (true, true, false) => 0,
                    (true, false, false) => 1,
                    (false, _, false) => 2,
                };
                let reused = entry.reused.load(std::sync::atomic::Ordering::Relaxed);
                (rank, reused, used, Probe(&entry.key))
            })
            .collect();
        ranked.sort_unstable_by_key(|&(rank, reused, used, _)| (rank, reused, used));
        let batch = (self.max_keys as usize).div_ceil(16);
        let mut evicted = 0;
        for (_, _, _, probe) in ranked.iter().take(batch) {
            evicted += u32::from(keys.set.remove(probe, &guard));
        }
        evicted
    }
}

fn lock(live: &Mutex<u32>) -> std::sync::MutexGuard<'_, u32> {
    live.lock().unwrap_or_else(PoisonError::into_inner)
}

impl core::fmt::Debug for KeyedRateLimiter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.name)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`KeyedRateLimiter`]: every
/// [`RateLimiterBuilder`] setting, for each key, plus `max_keys` and
/// `idle`.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` or `try_build` is called"]
pub struct KeyedRateLimiterBuilder {
    limiter: RateLimiterBuilder,
    max_keys: u32,
    idle: Duration,
}

/// One delegating `const fn` per limiter setting.
macro_rules! limiter_settings {
    ($($(#[$doc:meta])* $method:ident($ty:ty);)*) => {$(
        $(#[$doc])*
        pub const fn $method(mut self, value: $ty) -> Self {
            self.limiter = self.limiter.$method(value);
            self
        }
    )*};
}

impl KeyedRateLimiterBuilder {
    limiter_settings! {
        /// The name; each key's is `name[key]`.
        name(&'static str);
        /// As [`RateLimiterBuilder::rate`], per key.
        rate(u32);
        /// As [`RateLimiterBuilder::per`], per key.
        per(Duration);
        /// As [`RateLimiterBuilder::burst`], per key.
        burst(u32);
        /// As [`RateLimiterBuilder::wait`], per key.
        wait(Duration);
        /// As [`RateLimiterBuilder::max_pause`], per key.
        max_pause(Duration);
    }

    /// The most keys kept at once: 1 to 1 048 576, 1024 by default.
    pub const fn max_keys(mut self, keys: u32) -> Self {
        self.max_keys = keys;
        self
    }

    /// How long a key goes without calls before it goes first when room
    /// is needed: 1 s to 365 days, 10 minutes by default.
    pub const fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Checks the settings and builds the keyed limiter.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return; in a `static` that is a
    /// compile error.
    pub const fn build(self) -> KeyedRateLimiter {
        match self.checked() {
            Ok(settings) => self.assemble(settings),
            Err(err) => err.panic(),
        }
    }

    /// Checks the settings and builds the keyed limiter, or names the
    /// setting at fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for any [`RateLimiterBuilder::try_build`] error,
    /// or when `max_keys` is 0 or above 1 048 576, or `idle` is below 1 s
    /// or above 365 days.
    pub const fn try_build(self) -> Result<KeyedRateLimiter, ConfigError> {
        match self.checked() {
            Ok(settings) => Ok(self.assemble(settings)),
            Err(err) => Err(err),
        }
    }

    const fn checked(&self) -> Result<Settings, ConfigError> {
        let settings = match self.limiter.settings() {
            Ok(settings) => settings,
            Err(err) => return Err(err),
        };
        let problem = match check_keys(self.max_keys, self.idle) {
            Ok(()) => return Ok(settings),
            Err(problem) => problem,
        };
        Err(match problem {
            KeysProblem::MaxKeys => {
                setting_error!("rate limit", "max_keys", "must be from 1 to 1048576")
            }
            KeysProblem::IdleTooShort => {
                setting_error!("rate limit", "idle", "must be at least 1s")
            }
            KeysProblem::IdleTooLong => {
                setting_error!("rate limit", "idle", "must be at most 365 days")
            }
        })
    }

    const fn assemble(self, settings: Settings) -> KeyedRateLimiter {
        KeyedRateLimiter {
            name: self.limiter.name_of(),
            settings,
            max_keys: self.max_keys,
            idle_nanos: clock::nanos(self.idle),
            keys: OnceLock::new(),
        }
    }
}
