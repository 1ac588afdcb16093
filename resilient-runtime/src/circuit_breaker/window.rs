//! The failure-rate mode's count window: the outcomes of the last `window`
//! calls as an inline ring of bits, no allocation.

use super::settings::MAX_WINDOW;

const WORDS: usize = (MAX_WINDOW / 64) as usize;

#[derive(Debug)]
pub(crate) struct Window {
    /// Bit i of the ring: call i failed.
    bits: [u64; WORDS],
    /// Where the next outcome goes.
    head: u32,
    /// Outcomes held, up to the window size.
    len: u32,
    failures: u32,
}

impl Window {
    pub(crate) const fn new() -> Self {
        Self {
            bits: [0; WORDS],
            head: 0,
            len: 0,
            failures: 0,
        }
    }

    /// Records one outcome in a window of `size` calls, dropping the oldest
    /// once full.
    pub(crate) fn push(&mut self, size: u32, failed: bool) {
        let (word, bit) = ((self.head / 64) as usize, self.head % 64);
        let mask = 1u64 << bit;
        if self.len == size {
            if self.bits[word] & mask != 0 {
                self.failures -= 1;
            }
        } else {
            self.len += 1;
        }
        if failed {
            self.bits[word] |= mask;
            self.failures += 1;
        } else {
            self.bits[word] &= !mask;
        }
        self.head = (self.head + 1) % size;
    }

    /// Whether the failure share reached `rate` over at least `min_calls`.
    pub(crate) fn tripped(&self, rate: f64, min_calls: u32) -> bool {
        // A quotient of exact integers rounds to the same double as the
        // decimal the user wrote (3 of 10 is 0.3), where `rate × len` would
        // not (0.3 × 10 is 3.0000000000000004).
        self.len >= min_calls
            && self.len > 0
            && f64::from(self.failures) / f64::from(self.len) >= rate
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::new();
    }

    #[cfg(test)]
    pub(crate) fn counts(&self) -> (u32, u32) {
        (self.len, self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_outcome_leaves_a_full_window() {
        let mut w = Window::new();
        for failed in [true, true, false] {
            w.push(3, failed);
        }
        assert_eq!(w.counts(), (3, 2));
        w.push(3, false); // the first `true` leaves
        assert_eq!(w.counts(), (3, 1));
        w.push(3, false);
        w.push(3, false);
        assert_eq!(w.counts(), (3, 0));
    }

    #[test]
    fn a_full_1024_window_wraps() {
        let mut w = Window::new();
        for i in 0..3000 {
            w.push(1024, i % 4 == 0);
        }
        assert_eq!(w.counts(), (1024, 256));
        assert!(w.tripped(0.25, 1024));
        assert!(!w.tripped(0.26, 1024));
    }

    #[test]
    fn decimal_rates_trip_exactly_at_the_written_share() {
        let mut w = Window::new();
        for i in 0..10 {
            w.push(10, i < 3);
        }
        assert!(w.tripped(0.3, 10));
        let mut w = Window::new();
        for i in 0..100 {
            w.push(100, i < 7);
        }
        assert!(w.tripped(0.07, 100));
        assert!(!w.tripped(0.071, 100));
    }

    #[test]
    fn min_calls_gates_the_rate() {
        let mut w = Window::new();
        w.push(10, true);
        assert!(!w.tripped(0.5, 2));
        w.push(10, true);
        assert!(w.tripped(0.5, 2));
    }
}
