//! Every registered circuit breaker, by name: for a `/health` route, for
//! operators, and for tests that need a fresh start.
//!
//! Breakers made by `#[circuit_breaker]` register themselves on first use
//! (as do `shared = STATIC` ones); such a breaker never displaces another:
//! two breakers under one name are both listed, with a `tracing` warning.
//! A breaker you build yourself joins with [`register`]: a `static` one by
//! reference, or one shared through an `Arc` (kept in application state,
//! one per upstream host).
//!
//! A [`KeyedBreaker`] joins with [`register_keyed`] (or on first use, from
//! `#[circuit_breaker(key = ..)]`), and each of its keys is listed as a
//! breaker named `name[key]`, so a health route shows which host is down.
//!
//! ```
//! use std::sync::Arc;
//! use resilient::{CircuitBreaker, CircuitState, registry};
//!
//! static PAYMENTS: CircuitBreaker = CircuitBreaker::builder().name("doc-payments").build();
//! registry::register(&PAYMENTS);
//! let search = Arc::new(CircuitBreaker::builder().name("doc-search").build());
//! registry::register(search.clone());
//!
//! let handle = registry::get("doc-payments").expect("registered");
//! PAYMENTS.force_open();
//! assert_eq!(handle.state(), CircuitState::Open); // a live handle
//!
//! for breaker in registry::all() {
//!     println!("{}: {}", breaker.name(), breaker.state());
//! }
//! registry::reset("doc-payments");
//! assert_eq!(PAYMENTS.state(), CircuitState::Closed);
//! ```

use core::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{CircuitBreaker, KeyedBreaker};

/// A live reference to a registered breaker: its state, name and kill
/// switches, through `Deref` to [`CircuitBreaker`].
#[derive(Clone, Debug)]
pub struct BreakerHandle(Repr);

#[derive(Clone, Debug)]
enum Repr {
    Static(&'static CircuitBreaker),
    Shared(Arc<CircuitBreaker>),
}

impl Deref for BreakerHandle {
    type Target = CircuitBreaker;

    fn deref(&self) -> &CircuitBreaker {
        match &self.0 {
            Repr::Static(breaker) => breaker,
            Repr::Shared(breaker) => breaker,
        }
    }
}

impl From<&'static CircuitBreaker> for BreakerHandle {
    fn from(breaker: &'static CircuitBreaker) -> Self {
        Self(Repr::Static(breaker))
    }
}

impl From<Arc<CircuitBreaker>> for BreakerHandle {
    fn from(breaker: Arc<CircuitBreaker>) -> Self {
        Self(Repr::Shared(breaker))
    }
}

impl From<&Arc<CircuitBreaker>> for BreakerHandle {
    fn from(breaker: &Arc<CircuitBreaker>) -> Self {
        Self(Repr::Shared(Arc::clone(breaker)))
    }
}

/// A listed breaker, and how it joined: a breaker listed on its first use
/// (a function's own) is never replaced, only one registered by hand.
struct Entry {
    handle: BreakerHandle,
    on_first_use: bool,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

static KEYED: Mutex<Vec<KeyedHandle>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    // Nothing panics while the list is held; recover from poisoning anyway.
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn keyed_list() -> MutexGuard<'static, Vec<KeyedHandle>> {
    KEYED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A registered [`KeyedBreaker`]: a `static` one or one shared through an
/// `Arc`, through `Deref`.
#[derive(Clone, Debug)]
pub struct KeyedHandle(KeyedRepr);

#[derive(Clone, Debug)]
enum KeyedRepr {
    Static(&'static KeyedBreaker),
    Shared(Arc<KeyedBreaker>),
}

impl Deref for KeyedHandle {
    type Target = KeyedBreaker;

    fn deref(&self) -> &KeyedBreaker {
        match &self.0 {
            KeyedRepr::Static(keyed) => keyed,
            KeyedRepr::Shared(keyed) => keyed,
        }
    }
}

impl From<&'static KeyedBreaker> for KeyedHandle {
    fn from(keyed: &'static KeyedBreaker) -> Self {
        Self(KeyedRepr::Static(keyed))
    }
}

impl From<Arc<KeyedBreaker>> for KeyedHandle {
    fn from(keyed: Arc<KeyedBreaker>) -> Self {
        Self(KeyedRepr::Shared(keyed))
    }
}

impl From<&Arc<KeyedBreaker>> for KeyedHandle {
    fn from(keyed: &Arc<KeyedBreaker>) -> Self {
        Self(KeyedRepr::Shared(Arc::clone(keyed)))
    }
}

/// Adds a [`KeyedBreaker`] to the registry: [`all`] lists each of its
/// keys as `name[key]`, [`get`] and [`reset`] find a key by that name, and
/// [`keyed`] the keyed breaker by its own. Registering the same one again
/// does nothing.
///
/// ```
/// use resilient::{KeyedBreaker, registry};
///
/// static HOSTS: KeyedBreaker = KeyedBreaker::builder().name("doc-hosts").failures(1).build();
/// registry::register_keyed(&HOSTS);
/// HOSTS.breaker("10.0.0.7").unwrap().acquire().unwrap().failure();
/// HOSTS.breaker("10.0.0.8").unwrap();
///
/// let listed: Vec<String> = registry::all()
///     .iter()
///     .filter(|b| b.name().as_str().starts_with("doc-hosts"))
///     .map(|b| format!("{} {}", b.name(), b.state()))
///     .collect();
/// assert_eq!(listed, ["doc-hosts[10.0.0.7] open", "doc-hosts[10.0.0.8] closed"]);
/// assert!(registry::reset("doc-hosts[10.0.0.7]"));
/// ```
pub fn register_keyed(keyed: impl Into<KeyedHandle>) {
    let handle = keyed.into();
    let mut list = keyed_list();
    if !list
        .iter()
        .any(|known| core::ptr::eq(&raw const **known, &raw const *handle))
    {
        list.push(handle);
    }
}

/// The registered [`KeyedBreaker`] named `name` (the first, if two share
/// it).
///
/// ```
/// use resilient::{KeyedBreaker, registry};
///
/// static TENANTS: KeyedBreaker = KeyedBreaker::builder().name("doc-tenants").build();
/// registry::register_keyed(&TENANTS);
/// TENANTS.breaker(&42_u32).unwrap();
/// let tenants = registry::keyed("doc-tenants").expect("registered");
/// assert_eq!(tenants.len(), 1);
/// ```
pub fn keyed(name: &str) -> Option<KeyedHandle> {
    keyed_list()
        .iter()
        .find(|keyed| keyed.name() == name)
        .cloned()
}

/// Every registered keyed breaker, in the order they were registered.
fn all_keyed() -> Vec<KeyedHandle> {
    keyed_list().clone()
}

/// `name[key]` split into the keyed breaker's name and the key.
fn split_key(name: &str) -> Option<(&str, &str)> {
    let (keyed, key) = name.strip_suffix(']')?.split_once('[')?;
    Some((keyed, key))
}

impl Entry {
    fn is(&self, breaker: &CircuitBreaker) -> bool {
        core::ptr::eq(&raw const *self.handle, breaker)
    }
}

/// Adds a breaker to the registry, where its name identifies it: give
/// every registered breaker a name of its own
/// ([`CircuitBreakerBuilder::name`](crate::CircuitBreakerBuilder::name)).
///
/// Registering the same breaker again does nothing. A different breaker
/// under a name already taken by hand replaces that one, which is returned
/// (a test that builds a fresh breaker under the same name then sees the
/// fresh one); handles to the old one stay valid. A name taken by a
/// breaker that `#[circuit_breaker]` listed on its first use is shared
/// instead: both are listed, with a `tracing` warning, so a function's
/// breaker never vanishes from [`all`].
#[allow(clippy::must_use_candidate)] // replacing is the common, wanted case
pub fn register(breaker: impl Into<BreakerHandle>) -> Option<BreakerHandle> {
    let handle = breaker.into();
    let mut list = registry();
    if list.iter().any(|entry| entry.is(&handle)) {
        return None;
    }
    let by_hand = list
        .iter_mut()
        .find(|entry| !entry.on_first_use && entry.handle.name() == handle.name());
    if let Some(existing) = by_hand {
        return Some(core::mem::replace(&mut existing.handle, handle));
    }
    push(list, handle, false);
    None
}

/// Lists a breaker on its first use (from `#[circuit_breaker]`'s generated
/// code). Unlike [`register`], a different breaker under a taken name
/// never replaces the one listed: both stay, and a `tracing` warning names
/// the clash. Registering the same breaker again does nothing.
pub(crate) fn list_on_first_use(breaker: &'static CircuitBreaker) {
    let list = registry();
    if !list.iter().any(|entry| entry.is(breaker)) {
        push(list, BreakerHandle::from(breaker), true);
    }
}

/// Adds an entry beside any of the same name, saying so (outside the
/// lock) when there is one.
fn push(mut list: MutexGuard<'static, Vec<Entry>>, handle: BreakerHandle, on_first_use: bool) {
    // Its state gauge exists from now on, not from its first change.
    #[cfg(feature = "metrics")]
    crate::metrics::breaker_state(handle.name(), handle.state());
    let shared = list
        .iter()
        .any(|entry| entry.handle.name() == handle.name())
        .then(|| handle.name().clone());
    list.push(Entry {
        handle,
        on_first_use,
    });
    drop(list);
    #[cfg(feature = "tracing")]
    if let Some(name) = shared {
        tracing::warn!(
            target: "resilient::registry",
            breaker = %name,
            "another circuit breaker has this name: both are listed, `registry::get` returns the first; give each a name of its own"
        );
    }
    #[cfg(not(feature = "tracing"))]
    let _ = shared;
}

/// The breaker registered under `name` (the first one, if two breakers
/// share it: see [`all`]); `name[key]` finds the breaker of `key` in a
/// registered [`KeyedBreaker`] named `name`, if that key has one.
pub fn get(name: &str) -> Option<BreakerHandle> {
    let single = registry()
        .iter()
        .find(|entry| *entry.handle.name() == *name)
        .map(|entry| entry.handle.clone());
    single.or_else(|| {
        let (keyed, key) = split_key(name)?;
        all_keyed()
            .iter()
            .filter(|handle| handle.name() == keyed)
            .find_map(|handle| handle.get(key))
            .map(BreakerHandle::from)
    })
}

/// Every registered breaker, in the order they were registered, then the
/// keys of each registered [`KeyedBreaker`], as `name[key]` in order.
pub fn all() -> Vec<BreakerHandle> {
    let mut all: Vec<BreakerHandle> = registry()
        .iter()
        .map(|entry| entry.handle.clone())
        .collect();
    // Listed outside the registry's lock.
    for keyed in all_keyed() {
        all.extend(keyed.breakers().into_iter().map(BreakerHandle::from));
    }
    all
}

/// [`CircuitBreaker::reset`] on every breaker registered under `name`
/// (one, unless two share it), on the key's breaker for `name[key]`, and
/// on every key of a [`KeyedBreaker`] named `name`; `false` if there is
/// none.
pub fn reset(name: &str) -> bool {
    let named: Vec<_> = all()
        .into_iter()
        .filter(|handle| *handle.name() == *name)
        .collect();
    let keyed: Vec<_> = all_keyed()
        .into_iter()
        .filter(|keyed| keyed.name() == name)
        .collect();
    // Reset outside the registry lock: a state-change hook may read it.
    for handle in &named {
        handle.reset();
    }
    for keyed in &keyed {
        keyed.reset_all();
    }
    !named.is_empty() || !keyed.is_empty()
}

/// [`CircuitBreaker::reset`] on every registered breaker, every key of a
/// registered [`KeyedBreaker`] included.
pub fn reset_all() {
    for handle in all() {
        handle.reset();
    }
}
