//! The breaker's state word: everything the fast path needs in one `u64`,
//! so a call through a closed breaker with no failures pending is two
//! atomic loads of it (one to admit, one to record) and no write.
//!
//! ```text
//! bits  0..2   phase: Closed, Open, HalfOpen
//! bit   2      forced open (kill switch)
//! bit   3      disabled (kill switch)
//! bits  4..20  count: consecutive failures (closed) or trial successes (half-open)
//! bits 20..36  trial permits in flight (half-open)
//! bits 36..64  generation: bumped on every state change, so an outcome
//!              from an earlier state is recognised and ignored
//! ```

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

const PHASE_MASK: u64 = 0b11;
const FORCED_OPEN: u64 = 1 << 2;
const DISABLED: u64 = 1 << 3;
const COUNT_SHIFT: u32 = 4;
const INFLIGHT_SHIFT: u32 = 20;
const FIELD_MASK: u64 = 0xFFFF;
const GENERATION_SHIFT: u32 = 36;
/// Count and in-flight together: a permit's admission time.
const STARTED_MASK: u64 = 0xFFFF_FFFF;
const GENERATION_MASK: u64 = (1 << (64 - GENERATION_SHIFT)) - 1;

impl Word {
    pub(crate) const CLOSED: Self = Self(0);

    #[inline]
    pub(crate) const fn phase(self) -> Phase {
        match self.0 & PHASE_MASK {
            0 => Phase::Closed,
            1 => Phase::Open,
            _ => Phase::HalfOpen,
        }
    }

    /// Closed, neither forced open nor disabled: the one state in which
    /// a call is admitted without a further look.
    #[inline]
    pub(crate) const fn admits_closed(self) -> bool {
        self.0 & (PHASE_MASK | FORCED_OPEN | DISABLED) == 0
    }

    #[inline]
    pub(crate) const fn forced_open(self) -> bool {
        self.0 & FORCED_OPEN != 0
    }

    #[inline]
    pub(crate) const fn disabled(self) -> bool {
        self.0 & DISABLED != 0
    }

    #[inline]
    pub(crate) const fn count(self) -> u32 {
        ((self.0 >> COUNT_SHIFT) & FIELD_MASK) as u32
    }

    #[inline]
    pub(crate) const fn inflight(self) -> u32 {
        ((self.0 >> INFLIGHT_SHIFT) & FIELD_MASK) as u32
    }

    /// Wraps after 2^28 state changes; only compared for equality, so a
    /// stale outcome would have to be 268 million changes old to collide.
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> GENERATION_SHIFT) as u32
    }

    /// A new state: `phase`, counters cleared, kill switches kept, and the
    /// next generation.
    #[inline]
    pub(crate) const fn next(self, phase: Phase) -> Self {
        let generation = (self.0 >> GENERATION_SHIFT).wrapping_add(1) & GENERATION_MASK;
        let flags = self.0 & (FORCED_OPEN | DISABLED);
        Self((generation << GENERATION_SHIFT) | flags | phase as u64)
    }

    /// Counts are kept below 2^16 by the settings (`failures`, `half_open`
    /// at most 65 535), so these never carry into the next field.
    #[inline]
    pub(crate) const fn with_count(self, count: u32) -> Self {
        Self((self.0 & !(FIELD_MASK << COUNT_SHIFT)) | ((count as u64 & FIELD_MASK) << COUNT_SHIFT))
    }

    #[inline]
    pub(crate) const fn with_inflight(self, inflight: u32) -> Self {
        Self(
            (self.0 & !(FIELD_MASK << INFLIGHT_SHIFT))
                | ((inflight as u64 & FIELD_MASK) << INFLIGHT_SHIFT),
        )
    }

    /// A permit's copy of the word with when it was admitted (see
    /// `clock::micros32`) in the counter bits, which a permit never
    /// reads. Never stored in the breaker's word.
    #[inline]
    pub(crate) const fn with_started(self, micros: u32) -> Self {
        Self((self.0 & !(STARTED_MASK << COUNT_SHIFT)) | ((micros as u64) << COUNT_SHIFT))
    }

    /// What [`with_started`](Self::with_started) stored.
    #[inline]
    pub(crate) const fn started(self) -> u32 {
        ((self.0 >> COUNT_SHIFT) & STARTED_MASK) as u32
    }

    #[inline]
    pub(crate) const fn with_flags(self, forced_open: bool, disabled: bool) -> Self {
        let mut bits = self.0 & !(FORCED_OPEN | DISABLED);
        if forced_open {
            bits |= FORCED_OPEN;
        }
        if disabled {
            bits |= DISABLED;
        }
        Self(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let w = Word::CLOSED
            .next(Phase::HalfOpen)
            .with_count(0xFFFF)
            .with_inflight(0xFFFF)
            .with_flags(true, true);
        assert_eq!(w.phase(), Phase::HalfOpen);
        assert_eq!(
            (w.count(), w.inflight(), w.generation()),
            (0xFFFF, 0xFFFF, 1)
        );
        assert!(w.forced_open() && w.disabled());
        let w = w.with_count(3).with_inflight(0).with_flags(false, true);
        assert_eq!((w.count(), w.inflight(), w.generation()), (3, 0, 1));
        assert!(!w.forced_open() && w.disabled());
    }

    #[test]
    fn next_clears_counters_keeps_flags_and_bumps_the_generation() {
        let w = Word::CLOSED.with_count(4).with_flags(true, false);
        let n = w.next(Phase::Open);
        assert_eq!(
            (n.phase(), n.count(), n.inflight(), n.generation()),
            (Phase::Open, 0, 0, 1)
        );
        assert!(n.forced_open());
    }

    #[test]
    fn only_a_plain_closed_word_admits_on_the_fast_path() {
        let closed = Word::CLOSED.with_count(3).next(Phase::Closed).with_count(2);
        assert!(closed.admits_closed());
        assert!(!closed.with_flags(true, false).admits_closed());
        assert!(!closed.with_flags(false, true).admits_closed());
        assert!(!closed.next(Phase::Open).admits_closed());
        assert!(!closed.next(Phase::HalfOpen).admits_closed());
    }

    #[test]
    fn a_start_time_keeps_phase_flags_and_generation() {
        let w = Word::CLOSED.next(Phase::HalfOpen).with_flags(false, true);
        let stamped = w.with_started(u32::MAX);
        assert_eq!(stamped.started(), u32::MAX);
        assert_eq!(
            (stamped.phase(), stamped.generation(), stamped.disabled()),
            (w.phase(), w.generation(), w.disabled())
        );
        assert_eq!(stamped.with_started(7).started(), 7);
    }

    #[test]
    fn the_generation_wraps_without_touching_other_fields() {
        let top = Word(GENERATION_MASK << GENERATION_SHIFT);
        assert_eq!(top.generation(), (1 << 28) - 1);
        let wrapped = top.next(Phase::Closed);
        assert_eq!(wrapped, Word::CLOSED);
    }
}
