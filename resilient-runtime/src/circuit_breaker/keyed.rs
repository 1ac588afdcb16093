//! [`KeyedBreaker`]: one circuit breaker per key (an upstream host, a
//! tenant), so one bad host does not fail fast the calls to the good ones.
//!
//! The breakers live in a concurrent set (papaya: lock-free reads, see
//! `docs/decisions.md`), each behind an `Arc` so a call keeps its breaker
//! while an eviction removes it from the set. New keys, evictions and the
//! `max_open` check are serialised by one lock; a known key never takes it.

use core::future::IntoFuture;
use core::hash::{Hash, Hasher};
use core::time::Duration;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use super::key::{BreakerKey, DEFAULT_IDLE, DEFAULT_MAX_KEYS, KeyBuf, KeysProblem, check_keys};
use super::settings::{CircuitBreakerBuilder, OnCancel, OnStateChange, Settings};
use super::word::Phase;
use super::{BreakerName, CircuitBreaker, CircuitOpen, CircuitState, Word};
use crate::clock;
use crate::error::{ConfigError, setting_error};

/// `setting_error!` for a keyed breaker's own settings.
macro_rules! keyed_error {
    ($($key_and_problem:tt)+) => {
        setting_error!("keyed circuit breaker", $($key_and_problem)+)
    };
}

/// The largest `max_keys`.
pub const MAX_KEYS: u32 = 1 << 20;

/// Epoch start times kept to judge idleness: with an epoch at most every
/// `idle / 8`, sixteen reach back twice `idle`, so an entry stamped
/// before the oldest one kept is idle for certain.
const EPOCHS: usize = 16;

/// One circuit breaker per key, each built from the same settings: per
/// upstream host, per tenant, per region. A failing key opens its own
/// breaker; the others stay closed.
///
/// | setting | meaning | default |
/// |---|---|---|
/// | the [`CircuitBreaker`] settings | each key's breaker | as [`CircuitBreaker`] |
/// | [`max_keys`](KeyedBreakerBuilder::max_keys) | breakers kept at most | 1024 |
/// | [`idle`](KeyedBreakerBuilder::idle) | a key unused this long is forgotten | 10 min |
/// | [`max_open`](KeyedBreakerBuilder::max_open) | largest share of keys open at once | 1 (no limit) |
///
/// A known key costs a lookup in a lock-free set and no allocation; a new
/// key allocates its breaker once. At most `max_keys` breakers live: to
/// make room for a new key, idle breakers go first, then the least
/// recently used closed ones; an open breaker is never evicted before its
/// reset ends, nor one an operator [forced open](CircuitBreaker::force_open)
/// or [disabled](CircuitBreaker::disable) (unless a
/// fleet's override (feature `redis`) holds it, which makes the key again
/// just so: hold on to a key's breaker only for a call, or an evicted one
/// misses the fleet's later overrides). When every breaker is open, a
/// new key is rejected with [`OpenReason::NoRoomForKey`](super::OpenReason::NoRoomForKey)
/// rather than evicting one: a flood of new keys cannot erase what the
/// breakers learned.
///
/// Each key's breaker is named `name[key]`: in [`CircuitOpen`], in events
/// and in the [`registry`](crate::registry).
///
/// Memory: `max_keys` bounds the number of breakers, not the length of
/// their keys, which are kept as text (twice: the key and the name); a key
/// made from a request (a host, a tenant id) is best checked for length
/// first. A breaker with a time window allocates its buckets (12 bytes a
/// second) on its first outcome.
///
/// ```
/// use std::time::Duration;
/// use resilient::{CircuitOpen, CircuitState, KeyedBreaker};
///
/// static UPSTREAMS: KeyedBreaker = KeyedBreaker::builder()
///     .name("upstream")
///     .failures(2)
///     .reset(Duration::from_secs(30))
///     .build();
///
/// #[derive(Debug)]
/// enum ApiError { Down, Open(CircuitOpen) }
/// impl From<CircuitOpen> for ApiError {
///     fn from(open: CircuitOpen) -> Self { ApiError::Open(open) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// for _ in 0..2 {
///     let _ = UPSTREAMS.call("10.0.0.7", async { Err::<(), _>(ApiError::Down) }).await;
/// }
/// // One host is open; another is not.
/// let Err(ApiError::Open(open)) = UPSTREAMS.call("10.0.0.7", async { Ok(()) }).await else { panic!() };
/// assert_eq!(open.name(), "upstream[10.0.0.7]");
/// UPSTREAMS.call("10.0.0.8", async { Ok::<_, ApiError>(()) }).await.unwrap();
/// assert_eq!(UPSTREAMS.get("10.0.0.8").unwrap().state(), CircuitState::Closed);
/// # }
/// ```
pub struct KeyedBreaker {
    name: &'static str,
    settings: Settings,
    limits: Limits,
    // A `static` needs a `const` constructor, and a set allocates: built
    // on first use.
    keys: OnceLock<Arc<Keys>>,
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    max_keys: u32,
    idle_nanos: i64,
    /// Epochs are at least this far apart: `idle / 8`.
    tick_nanos: i64,
    max_open: f64,
}

/// A keyed breaker's breakers. Each breaker holds a `Weak` to it for the
/// `max_open` check.
pub(super) struct Keys {
    name: &'static str,
    settings: Settings,
    limits: Limits,
    set: papaya::HashSet<Entry, foldhash::fast::RandomState>,
    /// The current epoch: bumped (at most once per tick) by the slow
    /// paths; each call stamps its entry with it, which orders entries by
    /// last use and tells idle ones, without a clock read per call.
    epoch: AtomicU32,
    /// Bumped whenever the share of open keys may have changed (a key
    /// opened or closed, a key came or went): a key that `max_open` held
    /// closed asks again only after it moved.
    version: AtomicU64,
    admin: Mutex<Admin>,
}

/// A kill switch a fleet holds keys of a keyed breaker with.
#[cfg(feature = "redis")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    ForceOpen,
    Disable,
}

/// The kill switches a fleet holds keys with (see
/// [`KeyedBreaker::hold_keys`]): a key made takes its own, else the one
/// of every key.
#[cfg(feature = "redis")]
#[derive(Debug, Default)]
pub(crate) struct Holds {
    pub(crate) every: Option<Hold>,
    pub(crate) keys: std::collections::BTreeMap<String, Hold>,
}

#[cfg(feature = "redis")]
impl Holds {
    fn of(&self, key: &str) -> Option<Hold> {
        self.keys.get(key).copied().or(self.every)
    }
}

/// A key's breaker's tie to its keyed breaker.
pub(super) struct Link {
    keys: Weak<Keys>,
    /// `Keys::version` when `max_open` last held this key closed.
    refused_at: AtomicU64,
}

impl Link {
    pub(super) fn keys(&self) -> Option<Arc<Keys>> {
        self.keys.upgrade()
    }

    /// A key opened or closed.
    pub(super) fn note_change(&self) {
        if let Some(keys) = self.keys.upgrade() {
            keys.version.fetch_add(1, Ordering::Release);
        }
    }
}

/// What the lock guards.
pub(super) struct Admin {
    /// When each of the last [`EPOCHS`] epochs began, at `epoch % EPOCHS`.
    starts: [i64; EPOCHS],
    /// Entries in the set (it changes only under this lock).
    live: u32,
    /// What a fleet holds keys with: read when a key is made.
    #[cfg(feature = "redis")]
    holds: Holds,
}

/// One key's breaker, found in the set by its key.
struct Entry {
    // Its own copy rather than a slice of the breaker's name `name[key]`:
    // the comparison on every lookup is then a plain one.
    key: Box<str>,
    breaker: Arc<CircuitBreaker>,
    /// The epoch of the last call.
    used: AtomicU32,
    /// Whether it was used again after the call that made it: a key seen
    /// once (a flood of made-up keys) goes before one in use.
    reused: AtomicBool,
}

impl Entry {
    fn key(&self) -> &str {
        &self.key
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

/// A key looked up by its text; hashes as the entry it finds.
#[derive(Hash)]
struct Probe<'a>(&'a str);

impl papaya::Equivalent<Entry> for Probe<'_> {
    fn equivalent(&self, entry: &Entry) -> bool {
        self.0 == entry.key()
    }
}

impl KeyedBreaker {
    /// Starts a builder: each key's breaker with the [`CircuitBreaker`]
    /// defaults, 1024 keys, 10 minutes idle, no `max_open` limit.
    pub const fn builder() -> KeyedBreakerBuilder {
        KeyedBreakerBuilder::new()
    }

    /// The name; each key's breaker is `name[key]`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The breaker of `key`, made on its first use: one lookup, and no
    /// allocation for a key already known. Counts as a use of the key
    /// (for idleness and eviction order).
    ///
    /// ```
    /// # use resilient::KeyedBreaker;
    /// let hosts = KeyedBreaker::builder().name("hosts").build();
    /// let breaker = hosts.breaker("10.0.0.7").unwrap();
    /// assert_eq!(breaker.name(), "hosts[10.0.0.7]");
    /// breaker.acquire().unwrap().success();
    /// assert_eq!(hosts.breaker(&7_u16).unwrap().name(), "hosts[7]");
    /// ```
    ///
    /// # Errors
    ///
    /// For a new key while all `max_keys` breakers are open, forced open
    /// or disabled (here; not by a fleet's override): a [`CircuitOpen`] with
    /// [`OpenReason::NoRoomForKey`](super::OpenReason::NoRoomForKey),
    /// whose [`retry_after`](CircuitOpen::retry_after) is the time until
    /// the first of them reaches its reset.
    #[inline]
    pub fn breaker<K: BreakerKey + ?Sized>(
        &self,
        key: &K,
    ) -> Result<Arc<CircuitBreaker>, CircuitOpen> {
        let mut buf = KeyBuf::new();
        let key = key.key_str(&mut buf);
        let keys = self.keys();
        match keys.find(key) {
            Some(breaker) => Ok(breaker),
            None => keys.insert(key),
        }
    }

    /// The breaker of `key` if it exists, without making one and without
    /// counting as a use.
    pub fn get<K: BreakerKey + ?Sized>(&self, key: &K) -> Option<Arc<CircuitBreaker>> {
        let mut buf = KeyBuf::new();
        let key = key.key_str(&mut buf);
        let keys = self.keys.get()?;
        let guard = keys.set.guard();
        keys.set
            .get(&Probe(key), &guard)
            .map(|entry| Arc::clone(&entry.breaker))
    }

    /// Runs `fut` through the breaker of `key`, as
    /// [`CircuitBreaker::call`]: every error counts as a failure. The key's
    /// breaker is looked up (or made) when the future is first polled.
    ///
    /// # Errors
    ///
    /// `fut`'s error, `E::from(CircuitOpen)` when the key's breaker
    /// rejects the call, or when the key is new and there is no room (see
    /// [`breaker`](Self::breaker)).
    pub async fn call<K, T, E, F>(&self, key: &K, fut: F) -> Result<T, E>
    where
        K: BreakerKey + ?Sized,
        F: IntoFuture<Output = Result<T, E>>,
        E: From<CircuitOpen>,
    {
        let breaker = self.breaker(key).map_err(E::from)?;
        breaker.call(fut).await
    }

    /// [`call`](Self::call), counting only the errors for which
    /// `is_failure` returns `true`, as [`CircuitBreaker::call_with`].
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_with<K, T, E, F, C>(&self, key: &K, fut: F, is_failure: C) -> Result<T, E>
    where
        K: BreakerKey + ?Sized,
        F: IntoFuture<Output = Result<T, E>>,
        E: From<CircuitOpen>,
        C: FnOnce(&E) -> bool,
    {
        let breaker = self.breaker(key).map_err(E::from)?;
        breaker.call_with(fut, is_failure).await
    }

    /// Every key's breaker, ordered by name.
    pub fn breakers(&self) -> Vec<Arc<CircuitBreaker>> {
        let Some(keys) = self.keys.get() else {
            return Vec::new();
        };
        let guard = keys.set.guard();
        let mut all: Vec<_> = keys
            .set
            .iter(&guard)
            .map(|entry| Arc::clone(&entry.breaker))
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// How many keys have a breaker now.
    pub fn len(&self) -> usize {
        self.keys
            .get()
            .map_or(0, |keys| lock(&keys.admin).live as usize)
    }

    /// Whether no key has a breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets `key`'s breaker, whatever its state; `false` if it had none.
    /// A call in flight finishes on the forgotten breaker.
    pub fn remove<K: BreakerKey + ?Sized>(&self, key: &K) -> bool {
        let mut buf = KeyBuf::new();
        let key = key.key_str(&mut buf);
        let Some(keys) = self.keys.get() else {
            return false;
        };
        let mut admin = lock(&keys.admin);
        let removed = keys.set.remove(&Probe(key), &keys.set.guard());
        admin.live -= u32::from(removed);
        if removed {
            keys.version.fetch_add(1, Ordering::Release);
        }
        removed
    }

    /// Forgets the breakers whose key has been idle for `idle` and which
    /// are not open (new keys do this as they arrive; a health route may
    /// call it so that it lists only live keys). Returns how many went.
    ///
    /// Idleness is judged without reading the clock on calls: the clock
    /// is read by new keys and by this method, at most once per
    /// `idle / 8` starting a new epoch, and a key is idle once the epoch
    /// after its last call began `idle` ago. So a key is forgotten no
    /// earlier than `idle` after its last call, and at most about
    /// `idle / 8` plus the time between clock reads later.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilient::KeyedBreaker;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let hosts = KeyedBreaker::builder().idle(Duration::from_secs(60)).build();
    /// hosts.breaker("10.0.0.7").unwrap();
    /// // A health route that calls it every 7 s:
    /// for _ in 0..8 {
    ///     tokio::time::sleep(Duration::from_secs(7)).await;
    ///     hosts.evict_idle();
    /// }
    /// assert_eq!(hosts.len(), 1, "56 s: not idle yet");
    /// for _ in 0..4 {
    ///     tokio::time::sleep(Duration::from_secs(7)).await;
    ///     hosts.evict_idle();
    /// }
    /// assert!(hosts.is_empty(), "forgotten by 84 s");
    /// # }
    /// ```
    pub fn evict_idle(&self) -> usize {
        let Some(keys) = self.keys.get() else {
            return 0;
        };
        let mut admin = lock(&keys.admin);
        let now = clock::now();
        keys.advance_epoch(&mut admin, now);
        keys.sweep(&mut admin, now, false).0
    }

    /// [`CircuitBreaker::reset`] on every key's breaker.
    pub fn reset_all(&self) {
        for breaker in self.breakers() {
            breaker.reset();
        }
    }

    /// Every key made from now on starts with the kill switch `holds`
    /// gives it (its own, else the one of every key; none: a plain
    /// breaker), so a fleet's override holds a key from its first call.
    /// The keys already made are the caller's to switch, after this
    /// returns: a key made meanwhile is either among them or made held.
    #[cfg(feature = "redis")]
    pub(crate) fn hold_keys(&self, holds: Holds) {
        // Under the lock keys are made under.
        lock(&self.keys().admin).holds = holds;
    }

    fn keys(&self) -> &Arc<Keys> {
        self.keys.get_or_init(|| {
            Arc::new(Keys {
                name: self.name,
                settings: self.settings,
                limits: self.limits,
                set: papaya::HashSet::with_hasher(foldhash::fast::RandomState::default()),
                epoch: AtomicU32::new(0),
                version: AtomicU64::new(0),
                admin: Mutex::new(Admin {
                    starts: [clock::now(); EPOCHS],
                    live: 0,
                    #[cfg(feature = "redis")]
                    holds: Holds::default(),
                }),
            })
        })
    }
}

impl core::fmt::Debug for KeyedBreaker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyedBreaker")
            .field("name", &self.name)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// A known key's breaker, stamped with the current epoch (a store
    /// only when the epoch moved since its last call).
    #[inline]
    fn find(&self, key: &str) -> Option<Arc<CircuitBreaker>> {
        let guard = self.set.guard();
        let entry = self.set.get(&Probe(key), &guard)?;
        let epoch = self.epoch.load(Ordering::Relaxed);
        if entry.used.load(Ordering::Relaxed) != epoch {
            entry.used.store(epoch, Ordering::Relaxed);
        }
        if !entry.reused.load(Ordering::Relaxed) {
            entry.reused.store(true, Ordering::Relaxed);
        }
        Some(Arc::clone(&entry.breaker))
    }

    /// A new key: room is made (or not), then its breaker is made.
    #[cold]
    #[inline(never)]
    fn insert(self: &Arc<Self>, key: &str) -> Result<Arc<CircuitBreaker>, CircuitOpen> {
        let mut admin = lock(&self.admin);
        // Another call may have made it while this one waited.
        if let Some(found) = self.find(key) {
            return Ok(found);
        }
        let now = clock::now();
        let moved = self.advance_epoch(&mut admin, now);
        let full = admin.live >= self.limits.max_keys;
        let name = || BreakerName::from(format!("{}[{key}]", self.name));
        if full || moved {
            let (_, wait) = self.sweep(&mut admin, now, full);
            if admin.live >= self.limits.max_keys {
                drop(admin);
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    target: "resilient::circuit_breaker",
                    breaker = %self.name,
                    key = %key,
                    max_keys = self.limits.max_keys,
                    "no room for a new key: every key's breaker is open"
                );
                return Err(CircuitOpen::no_room(name(), clock::duration(wait)));
            }
        }
        let name = name();
        let breaker = CircuitBreaker::new(name, self.settings).in_group(Arc::downgrade(self));
        // Held from the start, before any call can find it: its first
        // state, not a change (no event, no hook run under this lock).
        #[cfg(feature = "redis")]
        let breaker = breaker.switched_from_start(admin.holds.of(key));
        let breaker = Arc::new(breaker);
        let entry = Entry {
            key: key.into(),
            breaker: Arc::clone(&breaker),
            used: AtomicU32::new(self.epoch.load(Ordering::Relaxed)),
            reused: AtomicBool::new(false),
        };
        if self.set.insert(entry, &self.set.guard()) {
            admin.live += 1;
            self.version.fetch_add(1, Ordering::Release);
        }
        drop(admin);
        // Outside the lock: a recorder is the application's code.
        #[cfg(feature = "metrics")]
        crate::metrics::breaker_state(breaker.name(), breaker.state());
        Ok(breaker)
    }

    /// Starts a new epoch if a tick has passed since the current one
    /// began; whether it did.
    fn advance_epoch(&self, admin: &mut Admin, now: i64) -> bool {
        let epoch = self.epoch.load(Ordering::Relaxed);
        if now.saturating_sub(admin.starts[slot(epoch)]) < self.limits.tick_nanos {
            return false;
        }
        let next = epoch.wrapping_add(1);
        admin.starts[slot(next)] = now;
        self.epoch.store(next, Ordering::Relaxed);
        true
    }

    /// Whether an entry last used in epoch `used` has been idle for
    /// `idle`: its last call came before the next epoch began.
    fn is_idle(&self, admin: &Admin, used: u32, now: i64) -> bool {
        let epoch = self.epoch.load(Ordering::Relaxed);
        if used == epoch {
            return false;
        }
        let next = used.wrapping_add(1);
        if epoch.wrapping_sub(next) as usize >= EPOCHS {
            // Older than every start kept: more than `idle` ago.
            return true;
        }
        now.saturating_sub(admin.starts[slot(next)]) >= self.limits.idle_nanos
    }

    /// Evicts idle breakers, and, if `room` is needed, a sixteenth of
    /// `max_keys` of the rest (so a stream of new keys pays for a scan
    /// once per many keys), in this order: closed before half-open (or
    /// open past its reset); among those, keys never used again after the
    /// call that made them first (a flood of made-up keys goes before the
    /// keys in use, whatever their hash order), then keys with no failure
    /// counted, then the least recently used. Never an open breaker
    /// before its reset ends, nor a forced-open or disabled one (unless a
    /// fleet holds it so, and would make it again just so). Returns
    /// how many went and, for a rejection, the wait until room may come:
    /// the shortest among the open breakers, or `reset` if only
    /// operators' breakers are kept.
    fn sweep(&self, admin: &mut Admin, now: i64, room: bool) -> (usize, i64) {
        let guard = self.set.guard();
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut idle = Vec::new();
        // (rank, age): lower rank first, then older first.
        let mut others = Vec::new();
        let mut wait = i64::MAX;
        for entry in self.set.iter(&guard) {
            let breaker = &entry.breaker;
            let word = Word(breaker.word.load(Ordering::Acquire));
            if (word.forced_open() || word.disabled()) && !remade_alike(admin, entry.key(), word) {
                continue;
            }
            if word.phase() == Phase::Open {
                let left = breaker.open_until().saturating_sub(now);
                if left > 0 {
                    wait = wait.min(left);
                    continue;
                }
            }
            let used = entry.used.load(Ordering::Relaxed);
            if self.is_idle(admin, used, now) {
                idle.push(Probe(entry.key()));
            } else if room {
                let closed = word.phase() == Phase::Closed;
                let rank = (u8::from(!closed) << 2)
                    | (u8::from(entry.reused.load(Ordering::Relaxed)) << 1)
                    | u8::from(closed && word.count() > 0);
                others.push((rank, epoch.wrapping_sub(used), Probe(entry.key())));
            }
        }
        let mut evicted = 0;
        for probe in &idle {
            evicted += usize::from(self.set.remove(probe, &guard));
        }
        if room && evicted == 0 {
            others.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let batch = (self.limits.max_keys as usize).div_ceil(16);
            for (_, _, probe) in others.iter().take(batch) {
                evicted += usize::from(self.set.remove(probe, &guard));
            }
        }
        admin.live = admin
            .live
            .saturating_sub(u32::try_from(evicted).unwrap_or(u32::MAX));
        if evicted > 0 {
            self.version.fetch_add(1, Ordering::Release);
        }
        #[cfg(feature = "tracing")]
        if evicted > 0 {
            tracing::debug!(
                target: "resilient::circuit_breaker",
                breaker = %self.name,
                evicted,
                idle = idle.len(),
                "keyed circuit breaker made room"
            );
        }
        let wait = if wait == i64::MAX {
            self.settings.reset_nanos
        } else {
            wait
        };
        (evicted, wait)
    }

    /// The keyed breaker's lock, held while one of its breakers opens
    /// (`opening`, tied by `link`), so an eviction never takes a key that
    /// is opening, and two keys opening at once are counted in turn for
    /// `max_open`. `None`: `max_open` holds this key closed (counted
    /// afresh only when a key has opened, closed, come or gone since it
    /// last did).
    pub(super) fn gate(
        &self,
        opening: &CircuitBreaker,
        link: &Link,
        from_closed: bool,
    ) -> Option<MutexGuard<'_, Admin>> {
        let capped = from_closed && self.limits.max_open < 1.0;
        if capped && link.refused_at.load(Ordering::Acquire) == self.version.load(Ordering::Acquire)
        {
            return None;
        }
        let admin = lock(&self.admin);
        if !capped {
            return Some(admin);
        }
        let version = self.version.load(Ordering::Acquire);
        let guard = self.set.guard();
        let open = self
            .set
            .iter(&guard)
            .filter(|entry| {
                !core::ptr::eq(&raw const *entry.breaker, opening)
                    && entry.breaker.state() != CircuitState::Closed
            })
            .count();
        // At least one key may always open (as Envoy ejects one host
        // whatever `max_ejection_percent` says).
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let allowed = ((self.limits.max_open * f64::from(admin.live)).floor() as usize).max(1);
        if open < allowed {
            return Some(admin);
        }
        link.refused_at.store(version, Ordering::Release);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "resilient::circuit_breaker",
            breaker = %opening.name,
            open,
            allowed,
            "max_open reached: this key stays closed"
        );
        None
    }
}

/// Whether the key `key`, switched as `word` says, would be made again
/// just so: a fleet holds it, so evicting it loses nothing (the kill
/// switches of an operator here are kept).
#[cfg(feature = "redis")]
fn remade_alike(admin: &Admin, key: &str, word: Word) -> bool {
    match admin.holds.of(key) {
        Some(Hold::ForceOpen) => word.forced_open(),
        Some(Hold::Disable) => word.disabled(),
        None => false,
    }
}

#[cfg(not(feature = "redis"))]
fn remade_alike(_: &Admin, _: &str, _: Word) -> bool {
    false
}

/// The admin lock, recovering from poisoning: every critical section
/// leaves the set and its count consistent before anything that could
/// panic.
fn lock(admin: &Mutex<Admin>) -> MutexGuard<'_, Admin> {
    admin.lock().unwrap_or_else(PoisonError::into_inner)
}

fn slot(epoch: u32) -> usize {
    epoch as usize % EPOCHS
}

/// Builds a [`KeyedBreaker`]; from [`KeyedBreaker::builder`]. Every
/// [`CircuitBreakerBuilder`] setting, for each key's breaker, plus the
/// keyed breaker's own three.
///
/// ```
/// use std::time::Duration;
/// use resilient::KeyedBreaker;
///
/// static TENANTS: KeyedBreaker = KeyedBreaker::builder()
///     .name("tenants")
///     .failure_rate(0.5)
///     .window(20)
///     .max_keys(256)
///     .idle(Duration::from_secs(300))
///     .max_open(0.25)
///     .build();
/// # let _ = &TENANTS;
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` or `try_build` is called"]
pub struct KeyedBreakerBuilder {
    breaker: CircuitBreakerBuilder,
    max_keys: u32,
    idle: Duration,
    max_open: f64,
}

/// One delegating `const fn` per breaker setting.
macro_rules! breaker_settings {
    ($($(#[$doc:meta])* $method:ident($ty:ty);)*) => {$(
        $(#[$doc])*
        pub const fn $method(mut self, value: $ty) -> Self {
            self.breaker = self.breaker.$method(value);
            self
        }
    )*};
}

impl KeyedBreakerBuilder {
    const fn new() -> Self {
        Self {
            breaker: CircuitBreakerBuilder::new().name("keyed_circuit_breaker"),
            max_keys: DEFAULT_MAX_KEYS,
            idle: DEFAULT_IDLE,
            max_open: 1.0,
        }
    }

    breaker_settings! {
        /// The name; each key's breaker is `name[key]`.
        name(&'static str);
        /// As [`CircuitBreakerBuilder::failures`], per key.
        failures(u32);
        /// As [`CircuitBreakerBuilder::failure_rate`], per key.
        failure_rate(f64);
        /// As [`CircuitBreakerBuilder::window`], per key.
        window(u32);
        /// As [`CircuitBreakerBuilder::time_window`], per key.
        time_window(Duration);
        /// As [`CircuitBreakerBuilder::min_calls`], per key.
        min_calls(u32);
        /// As [`CircuitBreakerBuilder::slow`], per key.
        slow(Duration);
        /// As [`CircuitBreakerBuilder::slow_rate`], per key.
        slow_rate(f64);
        /// As [`CircuitBreakerBuilder::reset`], per key.
        reset(Duration);
        /// As [`CircuitBreakerBuilder::half_open`], per key.
        half_open(u32);
        /// As [`CircuitBreakerBuilder::on_cancel`], per key.
        on_cancel(OnCancel);
        /// As [`CircuitBreakerBuilder::on_state_change`]: called for every
        /// key's changes, with the key's breaker name (`name[key]`).
        on_state_change(OnStateChange);
    }

    /// The most breakers kept at once: 1 to 1 048 576, 1024 by default.
    pub const fn max_keys(mut self, keys: u32) -> Self {
        self.max_keys = keys;
        self
    }

    /// How long a key goes without calls before its breaker may be
    /// forgotten (when new keys arrive, or by
    /// [`KeyedBreaker::evict_idle`], which says how much later), unless it
    /// is open: 1 s to 365 days, 10 minutes by default.
    pub const fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The largest share of keys open at once (above 0, at most 1; 1 by
    /// default, no limit), as Envoy's `max_ejection_percent`: past it a
    /// key's failures are still counted but its breaker does not open,
    /// because when most keys fail at once the fault is likely the
    /// caller's own. One key may always open.
    pub const fn max_open(mut self, share: f64) -> Self {
        self.max_open = share;
        self
    }

    /// Checks the settings and builds the keyed breaker.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return; in a `static` that is a
    /// compile error.
    pub const fn build(self) -> KeyedBreaker {
        match self.checked() {
            Ok((settings, limits)) => self.assemble(settings, limits),
            Err(err) => err.panic(),
        }
    }

    /// Checks the settings and builds the keyed breaker, or names the first
    /// setting at fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for any [`CircuitBreakerBuilder::try_build`]
    /// error, or when `max_keys` is 0 or above 1 048 576, `idle` is below
    /// 1 s or above 365 days, or `max_open` is not in (0, 1].
    pub const fn try_build(self) -> Result<KeyedBreaker, ConfigError> {
        match self.checked() {
            Ok((settings, limits)) => Ok(self.assemble(settings, limits)),
            Err(err) => Err(err),
        }
    }

    const fn assemble(self, settings: Settings, limits: Limits) -> KeyedBreaker {
        KeyedBreaker {
            name: self.breaker.name_of(),
            settings,
            limits,
            keys: OnceLock::new(),
        }
    }

    const fn checked(&self) -> Result<(Settings, Limits), ConfigError> {
        let settings = match self.breaker.settings() {
            Ok(settings) => settings,
            Err(err) => return Err(err),
        };
        match check_keys(self.max_keys, self.idle) {
            Ok(()) => {}
            Err(KeysProblem::MaxKeys) => {
                return Err(keyed_error!("max_keys", "must be from 1 to 1048576"));
            }
            Err(KeysProblem::IdleTooShort) => {
                return Err(keyed_error!("idle", "must be at least 1s"));
            }
            Err(KeysProblem::IdleTooLong) => {
                return Err(keyed_error!("idle", "must be at most 365 days"));
            }
        }
        if self.max_open.is_nan() || self.max_open <= 0.0 || self.max_open > 1.0 {
            return Err(keyed_error!(
                "max_open",
                "must be above 0 and at most 1 (0.5 means half the keys)"
            ));
        }
        let idle_nanos = clock::nanos(self.idle);
        Ok((
            settings,
            Limits {
                max_keys: self.max_keys,
                idle_nanos,
                tick_nanos: idle_nanos / 8,
                max_open: self.max_open,
            },
        ))
    }
}

impl CircuitBreaker {
    /// Joins a keyed breaker's set.
    fn in_group(mut self, keys: Weak<Keys>) -> Self {
        self.keyed = Some(Link {
            keys,
            // No refusal yet: no version matches.
            refused_at: AtomicU64::new(u64::MAX),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let err = |b: KeyedBreakerBuilder| b.try_build().unwrap_err().to_string();
        assert_eq!(
            err(KeyedBreaker::builder().max_keys(0)),
            "invalid keyed circuit breaker setting `max_keys`: must be from 1 to 1048576"
        );
        assert_eq!(
            err(KeyedBreaker::builder().idle(Duration::from_millis(999))),
            "invalid keyed circuit breaker setting `idle`: must be at least 1s"
        );
        assert_eq!(
            err(KeyedBreaker::builder().max_open(0.0)),
            "invalid keyed circuit breaker setting `max_open`: must be above 0 and at most 1 (0.5 means half the keys)"
        );
        assert_eq!(
            err(KeyedBreaker::builder().failures(0)),
            "invalid circuit breaker setting `failures`: must be at least 1"
        );
        assert!(
            KeyedBreaker::builder()
                .max_keys(MAX_KEYS)
                .try_build()
                .is_ok()
        );
    }

    #[test]
    fn entries_hash_and_compare_by_key() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let entry = Entry {
            key: "a.b".into(),
            breaker: Arc::new(CircuitBreaker::builder().build()),
            used: AtomicU32::new(0),
            reused: AtomicBool::new(false),
        };
        assert_eq!(entry.key(), "a.b");
        assert_eq!(state.hash_one(&entry), state.hash_one(Probe("a.b")));
        assert!(papaya::Equivalent::equivalent(&Probe("a.b"), &entry));
        assert!(!papaya::Equivalent::equivalent(&Probe("a.c"), &entry));
    }
}

#[cfg(all(test, feature = "redis"))]
mod fleet_tests {
    use super::*;

    /// The fleet's quorum opens a key within `max_open`, as its own
    /// failures would.
    #[test]
    fn a_quorum_opening_respects_max_open() {
        let hosts = KeyedBreaker::builder().failures(1).max_open(0.5).build();
        let a = hosts.breaker("a").unwrap();
        let b = hosts.breaker("b").unwrap();
        a.acquire().unwrap().failure();
        assert_eq!(a.state(), CircuitState::Open);
        assert!(!b.open_now(), "one of two keys open: max_open holds b");
        assert_eq!(b.state(), CircuitState::Closed);
        a.reset();
        assert!(b.open_now());
        assert_eq!(b.state(), CircuitState::Open);
    }

    /// A key made while the fleet holds it starts held: with its own
    /// hold, else the one of every key.
    #[test]
    fn a_new_key_starts_held() {
        let hosts = KeyedBreaker::builder().failures(1).build();
        let every = |hold| Holds {
            every: hold,
            keys: std::collections::BTreeMap::new(),
        };
        hosts.hold_keys(every(Some(Hold::ForceOpen)));
        let a = hosts.breaker("a").unwrap();
        assert!(a.acquire().unwrap_err().is_forced());
        hosts.hold_keys(every(Some(Hold::Disable)));
        let b = hosts.breaker("b").unwrap();
        b.acquire().unwrap().failure();
        assert!(b.acquire().is_ok(), "disabled");
        hosts.hold_keys(Holds {
            every: Some(Hold::Disable),
            keys: [(String::from("own"), Hold::ForceOpen)].into(),
        });
        let own = hosts.breaker("own").unwrap();
        assert!(
            own.acquire().unwrap_err().is_forced(),
            "a key's own hold before the one of every key"
        );
        hosts.hold_keys(every(None));
        let c = hosts.breaker("c").unwrap();
        c.acquire().unwrap().failure();
        assert!(c.acquire().is_err(), "a plain key again");
    }

    /// A key made held is not a state change: no hook runs (it would run
    /// under the keyed breaker's lock, where a hook that makes a key
    /// deadlocks).
    #[test]
    fn a_held_key_is_made_without_a_change() {
        static HOSTS: OnceLock<KeyedBreaker> = OnceLock::new();
        static CHANGES: AtomicU32 = AtomicU32::new(0);
        fn hook(_: &crate::StateChange<'_>) {
            CHANGES.fetch_add(1, Ordering::Relaxed);
            // A hook that uses the keyed breaker, as a gauge of keys might.
            let _ = HOSTS.get().unwrap().breaker("from-the-hook");
        }
        let hosts = HOSTS.get_or_init(|| {
            KeyedBreaker::builder()
                .failures(1)
                .on_state_change(hook)
                .build()
        });
        hosts.hold_keys(Holds {
            every: Some(Hold::ForceOpen),
            keys: std::collections::BTreeMap::new(),
        });
        assert!(hosts.breaker("a").unwrap().acquire().is_err());
        assert_eq!(CHANGES.load(Ordering::Relaxed), 0);
        hosts.hold_keys(Holds::default());
        let b = hosts.breaker("b").unwrap();
        b.acquire().unwrap().failure();
        assert_eq!(CHANGES.load(Ordering::Relaxed), 1, "a trip runs the hook");
        assert!(hosts.get("from-the-hook").is_some());
    }

    /// Keys a fleet holds do not fill the keyed breaker: evicted, they
    /// would be made again just so. An operator's own kill switch here is
    /// kept.
    #[test]
    fn held_keys_make_room() {
        let hosts = KeyedBreaker::builder().max_keys(2).build();
        hosts.hold_keys(Holds {
            every: Some(Hold::Disable),
            keys: std::collections::BTreeMap::new(),
        });
        for key in 0..10_u32 {
            assert!(hosts.breaker(&key).is_ok(), "room for key {key}");
        }
        assert!(hosts.len() <= 2);

        let hosts = KeyedBreaker::builder().max_keys(1).build();
        hosts.breaker("kept").unwrap().disable();
        assert!(
            hosts.breaker("other").is_err(),
            "no room: the switched key stays"
        );
    }
}
