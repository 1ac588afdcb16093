//! The per-thread random source for jitter.
//!
//! Xoshiro256++ from `rand`: a documented, fixed algorithm, so a seed given
//! to [`crate::testing::seed`] reproduces the same delays on every platform.
//! It is created lazily, on the first failure that needs a random delay, so
//! a call that succeeds never touches it.

use core::cell::RefCell;
use std::hash::{BuildHasher, RandomState};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

thread_local! {
    static RNG: RefCell<Option<Xoshiro256PlusPlus>> = const { RefCell::new(None) };
}

/// A seed from std's `RandomState`: the OS-seeded keys `HashMap` uses, so
/// no extra entropy crate is needed and nothing here can fail.
fn fresh() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(RandomState::new().hash_one(0x5EED_u64))
}

/// Replaces this thread's generator with one seeded from `seed`.
pub(crate) fn seed(seed: u64) {
    let rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    // During thread teardown the slot is gone; there is nothing to seed then.
    let _ = RNG.try_with(|slot| *slot.borrow_mut() = Some(rng));
}

/// A uniform draw from `lo..=hi` (nanoseconds); `lo` when `hi <= lo`.
pub(crate) fn uniform(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    RNG.try_with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(fresh)
            .random_range(lo..=hi)
    })
    // Thread-local storage is already destroyed (a retry running inside
    // another thread-local's destructor): a one-off generator still works.
    .unwrap_or_else(|_| fresh().random_range(lo..=hi))
}
