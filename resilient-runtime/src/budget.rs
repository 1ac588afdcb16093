//! [`RetryBudget`]: a cap on retries as a share of calls, shared by every
//! call that names it, so a fleet of retrying clients cannot multiply an
//! outage.

use core::fmt;
use core::time::Duration;

use crate::clock;
use crate::error::{ConfigError, setting_error};
use crate::sync::{AtomicU64, Mutex, Ordering, lock};

/// Tokens are counted in thousandths, as Finagle does: `ratio(0.6)` is
/// 600 per call and a retry costs 1 000, so 60 % means 60 %.
const SCALE: i64 = 1000;
/// The window is `ttl` in this many slices; a deposit or withdrawal
/// counts for the slice it was made in and the next `SLOTS - 1`.
const SLOTS: usize = 10;
/// `SLOTS`, for arithmetic on nanoseconds.
const SLOTS_I64: i64 = 10;
/// A slot is one word: the slice it holds (the low `TAG_BITS` bits of
/// its number) and a signed amount in the other `AMOUNT_BITS`.
const TAG_BITS: u32 = 28;
const AMOUNT_BITS: u32 = 64 - TAG_BITS;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const AMOUNT_MASK: u64 = (1 << AMOUNT_BITS) - 1;
const AMOUNT_MAX: i64 = (1 << (AMOUNT_BITS - 1)) - 1;
const AMOUNT_MIN: i64 = -(1 << (AMOUNT_BITS - 1));

/// How many retries a group of calls may make: every call earns `ratio`
/// of a retry, every retry spends one, what was earned or spent expires
/// after `ttl`, and `min_per_sec × ttl` retries are always allowed on top.
///
/// The budget of Finagle, tower's `TpsBudget` and reqwest, with their
/// defaults: `ttl` 10 s, `min_per_sec` 10, `ratio` 0.2. Three attempts a
/// request triple the load on a dependency that is already failing; with a
/// budget of 20 %, a fleet adds at most about a fifth, however many
/// instances it has (each keeps its own budget: the cap is a ratio).
///
/// Give it to `#[retry(budget = B)]` or to
/// [`retry(..).budget(&B)`](crate::Retry::budget). A call deposits when
/// its first attempt that reaches the service completes; each retry after
/// that withdraws before it starts; an empty budget stops the retry at
/// once with the last error
/// ([`StopReason::BudgetExhausted`](crate::StopReason::BudgetExhausted)),
/// never waiting for a token. Under the attribute, an attempt refused by
/// an open circuit breaker below never reached the service: it earns
/// nothing, gives back the retry it was granted, and while a call has not
/// reached the service its next attempt costs nothing (it waits for the
/// breaker as without a budget). `retry(..).budget(..)` sees only the
/// operation's errors, so a breaker inside the operation counts as the
/// service; drive [`RetryState`](crate::RetryState) with
/// [`Failure::rejected`](crate::Failure::rejected) to tell them apart.
///
/// ```
/// use std::time::Duration;
/// use resilient::{RetryBudget, retry};
///
/// static UPSTREAM: RetryBudget = RetryBudget::builder()
///     .ttl(Duration::from_secs(10))
///     .min_per_sec(10)
///     .ratio(0.2)
///     .build();
///
/// #[derive(Debug)]
/// struct ApiError;
///
/// #[retry(attempts = 3, budget = UPSTREAM)]
/// async fn fetch(id: u64) -> Result<u64, ApiError> {
///     Ok(id)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(fetch(7).await.unwrap(), 7);
/// # }
/// ```
///
/// All times are tokio's clock, so paused time applies. Deposits are
/// lock-free (one clock read and one compare-and-swap on a slot of ten);
/// withdrawals, on the failure path only, take a lock so that two of them
/// can never spend the same token. No allocation, ever.
pub struct RetryBudget {
    settings: Settings,
    slots: [AtomicU64; SLOTS],
    withdrawals: Mutex<()>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Settings {
    ttl: Duration,
    min_per_sec: u32,
    /// `ratio` in thousandths.
    deposit: i64,
    /// `min_per_sec × ttl`, in thousandths.
    reserve: i64,
    /// `ttl / SLOTS`, in nanoseconds.
    slice_nanos: i64,
}

impl RetryBudget {
    /// Starts a builder with the defaults: `ttl` 10 s, `min_per_sec` 10,
    /// `ratio` 0.2.
    pub const fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::new()
    }

    #[cfg(not(resilient_loom))]
    const fn new(settings: Settings) -> Self {
        Self {
            settings,
            slots: [const { AtomicU64::new(0) }; SLOTS],
            withdrawals: Mutex::new(()),
        }
    }

    #[cfg(resilient_loom)]
    fn new(settings: Settings) -> Self {
        Self {
            settings,
            slots: core::array::from_fn(|_| AtomicU64::new(0)),
            withdrawals: Mutex::new(()),
        }
    }

    /// How long a deposit or a withdrawal counts.
    pub const fn ttl(&self) -> Duration {
        self.settings.ttl
    }

    /// The retries per second allowed whatever the calls earned.
    pub const fn min_per_sec(&self) -> u32 {
        self.settings.min_per_sec
    }

    /// The share of a retry each call earns, as given to the builder
    /// (rounded to thousandths).
    #[allow(clippy::cast_precision_loss)] // at most 1e6: exact in f64
    pub fn ratio(&self) -> f64 {
        self.settings.deposit as f64 / SCALE as f64
    }

    /// Records a call that reached the service: it earns `ratio` of a
    /// retry for the next `ttl`. `#[retry(budget = ..)]` and
    /// [`Retry::budget`](crate::Retry::budget) call it once per call; so
    /// does [`RetryState::on_failure_with_budget`](crate::RetryState::on_failure_with_budget)
    /// when you drive the retry state by hand.
    ///
    /// ```
    /// use resilient::RetryBudget;
    ///
    /// // No reserve: only what calls earn.
    /// let budget = RetryBudget::builder().min_per_sec(0).ratio(0.5).build();
    /// budget.deposit();
    /// budget.deposit();
    /// assert_eq!(budget.available(), 1);
    /// ```
    pub fn deposit(&self) {
        if self.settings.deposit != 0 {
            self.add(self.settings.deposit, self.slice(clock::now()));
        }
    }

    /// Takes one retry if the budget has one: `None` means do not retry.
    /// What it took counts for the next `ttl`, unless given back with
    /// [`refund`](Self::refund).
    ///
    /// ```
    /// use resilient::RetryBudget;
    ///
    /// let budget = RetryBudget::builder().min_per_sec(0).ratio(1.0).build();
    /// assert!(budget.try_withdraw().is_none(), "nothing earned yet");
    /// budget.deposit();
    /// let retry = budget.try_withdraw().expect("one retry earned");
    /// assert_eq!(budget.available(), 0);
    /// // The retry was refused by an open breaker: it never reached the
    /// // service, so it is given back.
    /// budget.refund(retry);
    /// assert_eq!(budget.available(), 1);
    /// ```
    #[must_use = "a withdrawal that is not used still spends a retry"]
    pub fn try_withdraw(&self) -> Option<Withdrawal> {
        // Serialised: the balance checked is the balance spent from, so
        // two withdrawals never take the same token. Deposits go on
        // meanwhile; they only add.
        let _serial = lock(&self.withdrawals);
        let now = clock::now();
        if self.balance_at(now) < SCALE {
            return None;
        }
        let slice = self.slice(now);
        self.add(-SCALE, slice);
        Some(Withdrawal::new(slice))
    }

    /// Gives back a retry taken by [`try_withdraw`](Self::try_withdraw)
    /// that never reached the service (an open circuit breaker refused it),
    /// into the slice it was taken from: a withdrawal that has expired
    /// meanwhile has nothing left to give back.
    pub fn refund(&self, withdrawal: Withdrawal) {
        let tag = withdrawal.tag();
        let slot = &self.slots[withdrawal.slot()];
        let mut word = slot.load(Ordering::Acquire);
        loop {
            let (held, amount) = unpack(word);
            if held != tag {
                // Another slice has the slot: the withdrawal expired.
                return;
            }
            let next = pack(tag, amount.saturating_add(SCALE));
            match slot.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// The retries the budget would allow now, with the reserve.
    pub fn available(&self) -> u64 {
        u64::try_from(self.balance_at(clock::now()) / SCALE).unwrap_or(0)
    }

    /// The slice `now` falls in.
    fn slice(&self, now: i64) -> u64 {
        // `now` counts from the process's first clock read, so it is not
        // negative; `max` keeps a hand-made earlier instant harmless.
        u64::try_from(now.max(0) / self.settings.slice_nanos).unwrap_or(0)
    }

    /// Adds `amount` (thousandths; negative for a withdrawal) to the slot
    /// of `slice`.
    fn add(&self, amount: i64, slice: u64) {
        let tag = slice & TAG_MASK;
        let slot = &self.slots[slot_index(slice)];
        let mut word = slot.load(Ordering::Acquire);
        loop {
            let (held, amount_held) = unpack(word);
            let next = if held == tag {
                pack(tag, amount_held.saturating_add(amount))
            } else if newer(held, tag) && !self.is_stale_wrap(held) {
                // The slot already holds a slice `SLOTS` or more after
                // this one, so this one has expired (the clock was read
                // long before this add): what it would add no longer
                // counts.
                return;
            } else {
                // An expired slice: this one takes its place.
                pack(tag, amount)
            };
            match slot.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Whether a slot's tag that looks later than this add's slice is in
    /// fact ahead of the clock itself: a slot last written 2^27 or more
    /// slices ago (155 days at the shortest `ttl`; every slot of a budget
    /// first used that late holds tag 0), whose tag has wrapped. No write
    /// is ahead of a fresh clock read, so such a slot is stale. Read only
    /// on this rare path.
    fn is_stale_wrap(&self, held: u64) -> bool {
        let now = self.slice(clock::now()) & TAG_MASK;
        newer(held, now)
    }

    /// The reserve plus every slot of the last `SLOTS` slices, in
    /// thousandths.
    fn balance_at(&self, now: i64) -> i64 {
        let tag = self.slice(now) & TAG_MASK;
        let mut balance = self.settings.reserve;
        for slot in &self.slots {
            let (held, amount) = unpack(slot.load(Ordering::Acquire));
            if tag.wrapping_sub(held) & TAG_MASK < SLOTS as u64 {
                balance = balance.saturating_add(amount);
            }
        }
        balance
    }
}

/// A retry taken from a [`RetryBudget`], to give back with
/// [`RetryBudget::refund`] if it never reached the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a withdrawal that is not used still spends a retry"]
pub struct Withdrawal {
    /// The slot it was taken from (high 4 bits) and that slice's tag (low
    /// `TAG_BITS`): 32 bits, so a retry state keeps it in the padding
    /// beside its failure count.
    code: u32,
}

impl Withdrawal {
    fn new(slice: u64) -> Self {
        // A slot index below 10 and a 28-bit tag: at most 0x9FFF_FFFF.
        #[allow(clippy::cast_possible_truncation)]
        let code = ((slot_index(slice) as u64) << TAG_BITS | (slice & TAG_MASK)) as u32;
        Self { code }
    }

    /// The withdrawal as a `u32` below `u32::MAX - 1`.
    pub(crate) const fn code(self) -> u32 {
        self.code
    }

    /// The withdrawal of [`code`](Self::code).
    pub(crate) const fn from_code(code: u32) -> Self {
        Self { code }
    }

    fn slot(self) -> usize {
        (self.code >> TAG_BITS) as usize
    }

    fn tag(self) -> u64 {
        u64::from(self.code) & TAG_MASK
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ttl", &self.settings.ttl)
            .field("min_per_sec", &self.settings.min_per_sec)
            .field("ratio", &self.ratio())
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}

fn slot_index(slice: u64) -> usize {
    // `SLOTS` is 10: the remainder fits any `usize`.
    #[allow(clippy::cast_possible_truncation)]
    let index = (slice % SLOTS as u64) as usize;
    index
}

fn pack(tag: u64, amount: i64) -> u64 {
    let amount = amount.clamp(AMOUNT_MIN, AMOUNT_MAX);
    #[allow(clippy::cast_sign_loss)] // two's complement, masked
    let bits = amount as u64 & AMOUNT_MASK;
    (tag << AMOUNT_BITS) | bits
}

fn unpack(word: u64) -> (u64, i64) {
    #[allow(clippy::cast_possible_wrap)] // sign-extends the amount
    let amount = ((word << TAG_BITS) as i64) >> TAG_BITS;
    (word >> AMOUNT_BITS, amount)
}

/// Whether slice tag `held` is after `tag` (tags wrap; a slot's two
/// slices differ by a multiple of `SLOTS`, far less than half the range).
fn newer(held: u64, tag: u64) -> bool {
    let ahead = held.wrapping_sub(tag) & TAG_MASK;
    ahead != 0 && ahead < (1 << (TAG_BITS - 1))
}

/// The builder of a [`RetryBudget`], usable in a `const` or `static`.
///
/// ```
/// use std::time::Duration;
/// use resilient::RetryBudget;
///
/// // 10 % of calls, 5 a second whatever the traffic, counted over 30 s.
/// static SEARCH: RetryBudget = RetryBudget::builder()
///     .ttl(Duration::from_secs(30))
///     .min_per_sec(5)
///     .ratio(0.1)
///     .build();
/// assert_eq!(SEARCH.available(), 150);
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct RetryBudgetBuilder {
    ttl: Duration,
    min_per_sec: u32,
    ratio: f64,
}

impl RetryBudgetBuilder {
    const fn new() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            ratio: 0.2,
        }
    }

    /// How long a deposit or withdrawal counts: from 1 s to 1 hour
    /// (default 10 s).
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Retries per second allowed whatever the calls earned, so a quiet
    /// service can still retry (default 10; 0 for none).
    pub const fn min_per_sec(mut self, min_per_sec: u32) -> Self {
        self.min_per_sec = min_per_sec;
        self
    }

    /// The share of a retry each call earns, from 0 to 1 000 (default
    /// 0.2: one retry per five calls). Counted in thousandths.
    pub const fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Builds the budget.
    ///
    /// # Panics
    ///
    /// With the text of the [`ConfigError`] that
    /// [`try_build`](Self::try_build) would return; in a `static` that is a
    /// compile error.
    ///
    /// ```compile_fail
    /// # use resilient::RetryBudget;
    /// static NEVER: RetryBudget = RetryBudget::builder().ratio(-0.5).build();
    /// ```
    #[cfg(not(resilient_loom))]
    pub const fn build(self) -> RetryBudget {
        match self.settings() {
            Ok(settings) => RetryBudget::new(settings),
            Err(err) => err.panic(),
        }
    }

    /// Checks the settings and builds the budget, or names the setting at
    /// fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `ttl` is below 1 s or above 1 hour, or
    /// `ratio` is not a number from 0 to 1 000.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilient::RetryBudget;
    ///
    /// let err = RetryBudget::builder().ttl(Duration::from_millis(10)).try_build().unwrap_err();
    /// assert_eq!(err.key(), "ttl");
    /// ```
    #[cfg(not(resilient_loom))]
    pub const fn try_build(self) -> Result<RetryBudget, ConfigError> {
        match self.settings() {
            Ok(settings) => Ok(RetryBudget::new(settings)),
            Err(err) => Err(err),
        }
    }

    /// Under loom, whose atomics are not `const`.
    #[cfg(resilient_loom)]
    pub fn build(self) -> RetryBudget {
        match self.settings() {
            Ok(settings) => RetryBudget::new(settings),
            Err(err) => err.panic(),
        }
    }

    const fn settings(&self) -> Result<Settings, ConfigError> {
        let ttl_nanos = self.ttl.as_nanos();
        if ttl_nanos < 1_000_000_000 {
            return Err(setting_error!(
                "retry budget",
                "ttl",
                "must be at least 1 s"
            ));
        }
        if ttl_nanos > 3_600_000_000_000 {
            return Err(setting_error!(
                "retry budget",
                "ttl",
                "must be at most 1 hour"
            ));
        }
        // `!(a <= b)` rather than `a > b`: NaN fails every comparison.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(self.ratio >= 0.0 && self.ratio <= 1000.0) {
            return Err(setting_error!(
                "retry budget",
                "ratio",
                "must be a number from 0 to 1000"
            ));
        }
        // At most 3.6e12: exact in i64.
        #[allow(clippy::cast_possible_truncation)]
        let ttl_nanos = ttl_nanos as i64;
        // Rounded to thousandths: 0.6 is 600, not 599.
        #[allow(clippy::cast_possible_truncation)]
        let deposit = (self.ratio * 1000.0 + 0.5) as i64;
        // `min_per_sec × ttl` retries, in thousandths: at most
        // 4.3e9 × 3.6e12 / 1e6, which fits.
        let reserve = (self.min_per_sec as i64) * (ttl_nanos / 1_000_000);
        Ok(Settings {
            ttl: self.ttl,
            min_per_sec: self.min_per_sec,
            deposit,
            reserve,
            slice_nanos: ttl_nanos / SLOTS_I64,
        })
    }
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(resilient_loom)))]
mod tests {
    use super::*;

    #[test]
    fn slot_words_round_trip() {
        for amount in [0, 1, -1, 600, -1000, AMOUNT_MAX, AMOUNT_MIN] {
            for tag in [0, 1, 12_345, TAG_MASK] {
                assert_eq!(unpack(pack(tag, amount)), (tag, amount));
            }
        }
        assert_eq!(unpack(pack(3, i64::MAX)).1, AMOUNT_MAX, "saturates");
        assert_eq!(unpack(pack(3, i64::MIN)).1, AMOUNT_MIN, "saturates");
    }

    #[test]
    fn a_withdrawal_fits_a_retry_state() {
        for slice in [0, 9, 10, 12_345, TAG_MASK, TAG_MASK + 7, u64::MAX] {
            let withdrawal = Withdrawal::new(slice);
            assert_eq!(withdrawal.slot(), slot_index(slice));
            assert_eq!(withdrawal.tag(), slice & TAG_MASK);
            assert!(withdrawal.code() <= u32::MAX - 2, "room for 0 and 1");
            assert_eq!(Withdrawal::from_code(withdrawal.code()), withdrawal);
        }
    }

    #[test]
    fn newer_wraps() {
        assert!(newer(10, 0));
        assert!(!newer(0, 10));
        assert!(!newer(5, 5));
        assert!(newer(4, TAG_MASK - 5), "past the wrap");
        assert!(!newer(TAG_MASK - 5, 4));
    }

    #[test]
    fn ratio_is_rounded_to_thousandths() {
        let budget = RetryBudget::builder().ratio(0.6).build();
        assert_eq!(budget.settings.deposit, 600);
        let budget = RetryBudget::builder().ratio(0.0005).build();
        assert_eq!(budget.settings.deposit, 1);
    }

    #[test]
    fn settings_are_checked() {
        for (builder, key) in [
            (
                RetryBudget::builder().ttl(Duration::from_millis(999)),
                "ttl",
            ),
            (RetryBudget::builder().ttl(Duration::from_secs(3601)), "ttl"),
            (RetryBudget::builder().ratio(-0.1), "ratio"),
            (RetryBudget::builder().ratio(1000.5), "ratio"),
            (RetryBudget::builder().ratio(f64::NAN), "ratio"),
        ] {
            assert_eq!(builder.try_build().map(|_| ()).unwrap_err().key(), key);
        }
        let edge = RetryBudget::builder()
            .ttl(Duration::from_secs(1))
            .ratio(1000.0)
            .min_per_sec(u32::MAX)
            .try_build()
            .unwrap();
        assert_eq!(edge.settings.reserve, i64::from(u32::MAX) * 1000);
    }
}
