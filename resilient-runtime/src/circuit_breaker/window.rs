//! The failure-rate mode's window: the outcomes of the last `window` calls
//! as inline rings of bits (no allocation), or of the last `window`
//! seconds in one-second buckets (allocated on the breaker's first
//! recorded call, so a `static` breaker stays `const`-built and a
//! consecutive-mode one never pays for them).

use super::settings::MAX_WINDOW;

const WORDS: usize = (MAX_WINDOW / 64) as usize;

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Tally {
    /// Whether the failure share reached `rate`, or the slow share reached
    /// `slow_rate`, over at least `min_calls` calls.
    pub(crate) fn tripped(self, rate: f64, slow_rate: Option<f64>, min_calls: u32) -> bool {
        if self.calls < min_calls || self.calls == 0 {
            return false;
        }
        // A quotient of exact integers rounds to the same double as the
        // decimal the user wrote (3 of 10 is 0.3), where `rate × calls`
        // would not (0.3 × 10 is 3.0000000000000004).
        let calls = f64::from(self.calls);
        f64::from(self.failures) / calls >= rate
            || slow_rate.is_some_and(|slow_rate| f64::from(self.slow) / calls >= slow_rate)
    }
}

// The count ring inline (a `static` breaker is built in `const`, and a
// box would be an allocation); the time buckets are boxed on first use.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Window {
    Count(Ring),
    Time(Seconds),
}

impl Window {
    pub(crate) const fn new(seconds: bool) -> Self {
        if seconds {
            Self::Time(Seconds {
                buckets: None,
                newest: 0,
                total: Tally {
                    calls: 0,
                    failures: 0,
                    slow: 0,
                },
            })
        } else {
            Self::Count(Ring::new())
        }
    }

    /// Records one outcome: in a window of `size` calls, or of `size`
    /// seconds (then `now` is when it ended, in clock nanoseconds).
    /// Returns what the window holds after it.
    #[inline]
    pub(crate) fn push(&mut self, size: u32, now: i64, failed: bool, slow: bool) -> Tally {
        match self {
            Self::Count(ring) => {
                ring.push(size, failed, slow);
                ring.tally()
            }
            Self::Time(seconds) => seconds.push(size, now.div_euclid(1_000_000_000), failed, slow),
        }
    }

    /// Forgets every outcome (on a state change), keeping a time window's
    /// buckets allocated.
    pub(crate) fn clear(&mut self) {
        match self {
            Self::Count(ring) => *ring = Ring::new(),
            Self::Time(seconds) => seconds.clear(),
        }
    }

    #[cfg(test)]
    pub(crate) fn tally(&self) -> Tally {
        match self {
            Self::Count(ring) => ring.tally(),
            Self::Time(seconds) => seconds.total,
        }
    }
}

/// The last calls, one bit each for failed and slow.
#[derive(Debug)]
pub(crate) struct Ring {
    failed: [u64; WORDS],
    slow: [u64; WORDS],
    /// Where the next outcome goes.
    head: u32,
    tally: Tally,
}

impl Ring {
    const fn new() -> Self {
        Self {
            failed: [0; WORDS],
            slow: [0; WORDS],
            head: 0,
            tally: Tally {
                calls: 0,
                failures: 0,
                slow: 0,
            },
        }
    }

    /// Records one outcome in a window of `size` calls, dropping the oldest
    /// once full.
    #[allow(clippy::inline_always)] // on the path of every call in failure-rate mode
    #[inline(always)]
    fn push(&mut self, size: u32, failed: bool, slow: bool) {
        let (word, bit) = ((self.head / 64) as usize, self.head % 64);
        let mask = 1u64 << bit;
        // With no slow call in the window every slow bit is clear, and
        // there is nothing to do for them (a breaker without `slow`
        // never gets past this test).
        let slow_bits = slow || self.tally.slow != 0;
        if self.tally.calls == size {
            self.tally.failures -= u32::from(self.failed[word] & mask != 0);
            if slow_bits {
                self.tally.slow -= u32::from(self.slow[word] & mask != 0);
            }
        } else {
            self.tally.calls += 1;
        }
        set_bit(&mut self.failed[word], mask, failed);
        self.tally.failures += u32::from(failed);
        if slow_bits {
            set_bit(&mut self.slow[word], mask, slow);
            self.tally.slow += u32::from(slow);
        }
        self.head = (self.head + 1) % size;
    }

    fn tally(&self) -> Tally {
        self.tally
    }
}

fn set_bit(word: &mut u64, mask: u64, on: bool) {
    if on {
        *word |= mask;
    } else {
        *word &= !mask;
    }
}

/// The last seconds, one bucket each, indexed by the second modulo the
/// window; `total` is their sum.
#[derive(Debug)]
pub(crate) struct Seconds {
    buckets: Option<Box<[Tally]>>,
    /// The second of the newest bucket.
    newest: i64,
    total: Tally,
}

impl Seconds {
    #[inline(never)]
    fn push(&mut self, size: u32, now: i64, failed: bool, slow: bool) -> Tally {
        let buckets = self
            .buckets
            .get_or_insert_with(|| vec![Tally::default(); size as usize].into_boxed_slice());
        // Empty (the first call, or after `clear`): nothing to expire.
        if self.total.calls == 0 {
            self.newest = now;
        }
        // An outcome read on a clock behind the newest (another runtime's)
        // counts in the newest second.
        let now = now.max(self.newest);
        let n = i64::from(size);
        if now - self.newest >= n {
            buckets.fill(Tally::default());
            self.total = Tally::default();
        } else {
            for second in self.newest + 1..=now {
                let gone = core::mem::take(&mut buckets[slot(second, n)]);
                self.total.calls -= gone.calls;
                self.total.failures -= gone.failures;
                self.total.slow -= gone.slow;
            }
        }
        self.newest = now;
        let bucket = &mut buckets[slot(now, n)];
        // Saturating: four billion calls in one second is not a rate to
        // be exact about.
        if bucket.calls < u32::MAX && self.total.calls < u32::MAX {
            bucket.calls += 1;
            bucket.failures += u32::from(failed);
            bucket.slow += u32::from(slow);
            self.total.calls += 1;
            self.total.failures += u32::from(failed);
            self.total.slow += u32::from(slow);
        }
        self.total
    }

    fn clear(&mut self) {
        if let Some(buckets) = &mut self.buckets {
            buckets.fill(Tally::default());
        }
        self.total = Tally::default();
    }
}

/// The bucket of `second` in a ring of `n`.
fn slot(second: i64, n: i64) -> usize {
    usize::try_from(second.rem_euclid(n)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: i64) -> i64 {
        n * 1_000_000_000
    }

    fn tally(calls: u32, failures: u32, slow: u32) -> Tally {
        Tally {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn the_oldest_outcome_leaves_a_full_window() {
        let mut w = Window::new(false);
        for failed in [true, true, false] {
            w.push(3, 0, failed, false);
        }
        assert_eq!(w.tally(), tally(3, 2, 0));
        w.push(3, 0, false, true); // the first `true` leaves
        assert_eq!(w.tally(), tally(3, 1, 1));
        w.push(3, 0, false, false);
        w.push(3, 0, false, false);
        assert_eq!(w.tally(), tally(3, 0, 1));
        w.push(3, 0, false, false); // the slow one leaves
        assert_eq!(w.tally(), tally(3, 0, 0));
    }

    #[test]
    fn a_full_1024_window_wraps() {
        let mut w = Window::new(false);
        for i in 0..3000 {
            w.push(1024, 0, i % 4 == 0, i % 8 == 0);
        }
        assert_eq!(w.tally(), tally(1024, 256, 128));
        assert!(w.tally().tripped(0.25, None, 1024));
        assert!(!w.tally().tripped(0.26, None, 1024));
        assert!(w.tally().tripped(0.9, Some(0.125), 1024));
        assert!(!w.tally().tripped(0.9, Some(0.126), 1024));
    }

    #[test]
    fn decimal_rates_trip_exactly_at_the_written_share() {
        let mut w = Window::new(false);
        for i in 0..10 {
            w.push(10, 0, i < 3, false);
        }
        assert!(w.tally().tripped(0.3, None, 10));
        let mut w = Window::new(false);
        for i in 0..100 {
            w.push(100, 0, i < 7, false);
        }
        assert!(w.tally().tripped(0.07, None, 100));
        assert!(!w.tally().tripped(0.071, None, 100));
    }

    #[test]
    fn min_calls_gates_the_rate() {
        let mut w = Window::new(false);
        w.push(10, 0, true, false);
        assert!(!w.tally().tripped(0.5, None, 2));
        w.push(10, 0, true, false);
        assert!(w.tally().tripped(0.5, None, 2));
    }

    #[test]
    fn seconds_expire_one_bucket_at_a_time() {
        let mut w = Window::new(true);
        w.push(3, secs(100), true, false);
        w.push(3, secs(101), false, true);
        w.push(3, secs(102), true, true);
        assert_eq!(w.tally(), tally(3, 2, 2));
        // Second 100 leaves the window of 101..=103.
        assert_eq!(w.push(3, secs(103), false, false), tally(3, 1, 2));
        // A gap of two seconds: 101 and 102 leave, 103 stays.
        assert_eq!(w.push(3, secs(105), false, false), tally(2, 0, 0));
        // A gap longer than the window: everything leaves.
        assert_eq!(w.push(3, secs(1_000), true, false), tally(1, 1, 0));
    }

    #[test]
    fn an_earlier_clock_counts_in_the_newest_second() {
        let mut w = Window::new(true);
        w.push(2, secs(50), true, false);
        assert_eq!(w.push(2, secs(40), true, false), tally(2, 2, 0));
        assert_eq!(w.push(2, secs(51), false, false), tally(3, 2, 0));
        assert_eq!(w.push(2, secs(52), false, false), tally(2, 0, 0));
    }

    #[test]
    fn negative_seconds_index_the_ring() {
        let mut w = Window::new(true);
        w.push(4, secs(-3) + 1, true, false);
        assert_eq!(w.push(4, secs(-1), false, false), tally(2, 1, 0));
        assert_eq!(w.push(4, secs(1), false, false), tally(2, 0, 0));
    }

    #[test]
    fn clear_keeps_the_buckets_and_forgets_the_counts() {
        let mut w = Window::new(true);
        w.push(5, secs(7), true, true);
        w.clear();
        assert_eq!(w.tally(), Tally::default());
        assert_eq!(w.push(5, secs(7), false, false), tally(1, 0, 0));
    }
}
