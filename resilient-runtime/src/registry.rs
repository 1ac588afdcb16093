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

use crate::CircuitBreaker;

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

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    // Nothing panics while the list is held; recover from poisoning anyway.
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
/// share it: see [`all`]).
pub fn get(name: &str) -> Option<BreakerHandle> {
    registry()
        .iter()
        .find(|entry| *entry.handle.name() == *name)
        .map(|entry| entry.handle.clone())
}

/// Every registered breaker, in the order they were registered.
pub fn all() -> Vec<BreakerHandle> {
    registry()
        .iter()
        .map(|entry| entry.handle.clone())
        .collect()
}

/// [`CircuitBreaker::reset`] on every breaker registered under `name`
/// (one, unless two share it); `false` if there is none.
pub fn reset(name: &str) -> bool {
    let named: Vec<_> = all()
        .into_iter()
        .filter(|handle| *handle.name() == *name)
        .collect();
    // Reset outside the registry lock: a state-change hook may read it.
    for handle in &named {
        handle.reset();
    }
    !named.is_empty()
}

/// [`CircuitBreaker::reset`] on every registered breaker.
pub fn reset_all() {
    for handle in all() {
        handle.reset();
    }
}
