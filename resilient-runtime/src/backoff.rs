//! Delay schedules ([`Backoff`]) and their randomisation ([`Jitter`]).
//!
//! The formulas are those of the AWS Architecture Blog post "Exponential
//! Backoff And Jitter" (M. Brooker, 2015). Every delay is computed so that it
//! cannot overflow or panic for any attempt number, and jitter is applied
//! *below* the cap: a jittered delay never exceeds `max`.

use core::time::Duration;

use crate::rng;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The delay schedule between attempts, before jitter.
///
/// Build one with [`Backoff::none`], [`Backoff::fixed`], [`Backoff::linear`],
/// [`Backoff::exponential`] or [`Backoff::decorrelated`]; all are `const fn`.
/// The values are checked when a [`RetryPolicy`](crate::RetryPolicy) is
/// built from them: a zero or absurdly long duration, a `max` below
/// `initial` or a `factor` below 1 is a [`ConfigError`](crate::ConfigError)
/// there.
///
/// ```
/// use std::time::Duration;
/// use resilient::Backoff;
///
/// let ms = Duration::from_millis;
/// let backoff = Backoff::exponential(ms(100), 2.0, ms(1_000));
/// // The delay after the n-th failed attempt, before jitter:
/// assert_eq!(backoff.delay(1), ms(100));
/// assert_eq!(backoff.delay(2), ms(200));
/// assert_eq!(backoff.delay(4), ms(800));
/// assert_eq!(backoff.delay(5), ms(1_000)); // capped
/// assert_eq!(backoff.delay(u32::MAX), ms(1_000)); // saturates, never overflows
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub(crate) kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    None,
    Fixed {
        delay: Duration,
    },
    Linear {
        initial: Duration,
        step: Duration,
        max: Duration,
    },
    Exponential {
        initial: Duration,
        factor: f64,
        max: Duration,
    },
    Decorrelated {
        initial: Duration,
        max: Duration,
    },
}

impl Backoff {
    /// No delay: retry at once.
    ///
    /// ```
    /// # use resilient::Backoff;
    /// assert_eq!(Backoff::none().delay(3), std::time::Duration::ZERO);
    /// ```
    pub const fn none() -> Self {
        Self { kind: Kind::None }
    }

    /// The same delay after every attempt.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use resilient::Backoff;
    /// let b = Backoff::fixed(Duration::from_millis(250));
    /// assert_eq!(b.delay(1), b.delay(9));
    /// ```
    pub const fn fixed(delay: Duration) -> Self {
        Self {
            kind: Kind::Fixed { delay },
        }
    }

    /// `initial`, then `step` longer after each attempt, capped at `max`:
    /// the delay after attempt n is `min(initial + step × (n − 1), max)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use resilient::Backoff;
    /// let ms = Duration::from_millis;
    /// let b = Backoff::linear(ms(100), ms(50), ms(220));
    /// assert_eq!([b.delay(1), b.delay(2), b.delay(3), b.delay(4)], [ms(100), ms(150), ms(200), ms(220)]);
    /// ```
    pub const fn linear(initial: Duration, step: Duration, max: Duration) -> Self {
        Self {
            kind: Kind::Linear { initial, step, max },
        }
    }

    /// `initial`, multiplied by `factor` after each attempt, capped at
    /// `max`: the delay after attempt n is `min(initial × factorⁿ⁻¹, max)`.
    ///
    /// `factor` may be fractional (`1.5`); it must be at least 1.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use resilient::Backoff;
    /// let ms = Duration::from_millis;
    /// let b = Backoff::exponential(ms(100), 1.5, ms(10_000));
    /// assert_eq!([b.delay(1), b.delay(2), b.delay(3)], [ms(100), ms(150), ms(225)]);
    /// ```
    pub const fn exponential(initial: Duration, factor: f64, max: Duration) -> Self {
        Self {
            kind: Kind::Exponential {
                initial,
                factor,
                max,
            },
        }
    }

    /// AWS "decorrelated jitter": each delay is drawn uniformly from
    /// `[initial, 3 × previous delay]` and capped at `max`, starting from
    /// `previous = initial`.
    ///
    /// It is random by itself, so a policy with this backoff takes no
    /// [`Jitter`]. [`delay`](Self::delay) gives the largest delay it can
    /// draw after attempt n, `min(initial × 3ⁿ, max)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use resilient::Backoff;
    /// let ms = Duration::from_millis;
    /// let b = Backoff::decorrelated(ms(100), ms(1_000));
    /// assert_eq!([b.delay(1), b.delay(2), b.delay(3)], [ms(300), ms(900), ms(1_000)]);
    /// ```
    pub const fn decorrelated(initial: Duration, max: Duration) -> Self {
        Self {
            kind: Kind::Decorrelated { initial, max },
        }
    }

    /// The delay after failed attempt `attempt` (1 for the first attempt),
    /// before jitter; for [`decorrelated`](Self::decorrelated), the largest
    /// delay it can draw then.
    ///
    /// Never overflows or panics: past the cap, it stays at `max`. An
    /// `attempt` of 0 is read as 1.
    pub fn delay(&self, attempt: u32) -> Duration {
        let steps = attempt.saturating_sub(1);
        match self.kind {
            Kind::None => Duration::ZERO,
            Kind::Fixed { delay } => delay,
            Kind::Linear { initial, step, max } => {
                // u128 nanoseconds cannot overflow here: Duration::MAX is
                // below 2^95 ns and `steps` below 2^32.
                let ns = initial.as_nanos() + step.as_nanos() * u128::from(steps);
                capped(ns, max)
            }
            Kind::Exponential {
                initial,
                factor,
                max,
            } => {
                if steps == 0 {
                    return initial.min(max);
                }
                // Float arithmetic saturates to infinity instead of
                // overflowing; `capped_f64` turns anything at or past `max`,
                // and NaN from a factor that was never validated, into
                // `max`. Rounding in the conversion to f64 must not take the
                // delay below `initial`: that would break monotony.
                #[allow(clippy::cast_precision_loss)] // a delay, not money
                let ns = initial.as_nanos() as f64 * factor.powf(f64::from(steps));
                capped_f64(ns, max).max(initial.min(max))
            }
            Kind::Decorrelated { initial, max } => {
                #[allow(clippy::cast_precision_loss)]
                let ns = initial.as_nanos() as f64 * 3f64.powf(f64::from(attempt.max(1)));
                capped_f64(ns, max)
            }
        }
    }

    /// The cap of this schedule (the delay itself for `fixed`, zero for
    /// `none`).
    pub const fn max(&self) -> Duration {
        match self.kind {
            Kind::None => Duration::ZERO,
            Kind::Fixed { delay } => delay,
            Kind::Linear { max, .. }
            | Kind::Exponential { max, .. }
            | Kind::Decorrelated { max, .. } => max,
        }
    }

    pub(crate) const fn is_decorrelated(&self) -> bool {
        matches!(self.kind, Kind::Decorrelated { .. })
    }

    /// Draws the delay after failed attempt `attempt`, with `jitter`.
    /// `previous` is the decorrelated schedule's memory (zero at the start).
    ///
    /// Touches the random generator only when there is something random to
    /// draw, which is only ever after a failure.
    pub(crate) fn draw(&self, jitter: Jitter, attempt: u32, previous: &mut Duration) -> Draw {
        if let Kind::Decorrelated { initial, max } = self.kind {
            let lo = nanos_u64(initial);
            let prev = nanos_u64((*previous).max(initial));
            let hi = prev.saturating_mul(3);
            let ns = rng::uniform(lo, hi).min(nanos_u64(max));
            let delay = Duration::from_nanos(ns);
            *previous = delay;
            // The random part, which is what spreads a server's
            // `Retry-After` among clients told the same value.
            return Draw {
                delay,
                spread: delay.saturating_sub(initial),
            };
        }
        jitter.draw(self.delay(attempt))
    }
}

impl Default for Backoff {
    /// `exponential(100ms, 2, 10s)`, as `#[retry]` uses when no `backoff` is
    /// given.
    fn default() -> Self {
        DEFAULT_BACKOFF
    }
}

pub(crate) const DEFAULT_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(10));

/// How a delay from the [`Backoff`] is randomised, so that clients failing
/// together do not come back together.
///
/// As in the AWS Architecture Blog's "Exponential Backoff And Jitter", for a
/// backoff delay `d`:
///
/// | jitter | sleep | spread added to a server's `Retry-After` |
/// |---|---|---|
/// | `None` | `d` | 0 |
/// | `Full` | uniform in `[0, d]` | uniform in `[0, d]` |
/// | `Equal` | `d/2` + uniform in `[0, d/2]` | uniform in `[0, d/2]` |
///
/// `d` is already capped at the backoff's `max`, so no jittered delay exceeds
/// it. `Full` can sleep close to zero: that is the point, it spreads
/// clients the most and, in AWS's measurements, does the least total work.
///
/// ```
/// use resilient::Jitter;
/// assert_eq!(Jitter::default(), Jitter::Full);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// The delay as the backoff computes it.
    None,
    /// Uniform in `[0, d]`.
    #[default]
    Full,
    /// `d/2` plus uniform in `[0, d/2]`.
    Equal,
}

impl Jitter {
    /// The smallest and largest sleep this jitter can give for backoff
    /// delay `d`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use resilient::Jitter;
    /// let d = Duration::from_secs(2);
    /// assert_eq!(Jitter::Full.bounds(d), (Duration::ZERO, d));
    /// assert_eq!(Jitter::Equal.bounds(d), (Duration::from_secs(1), d));
    /// assert_eq!(Jitter::None.bounds(d), (d, d));
    /// ```
    pub fn bounds(self, d: Duration) -> (Duration, Duration) {
        match self {
            Self::None => (d, d),
            Self::Full => (Duration::ZERO, d),
            Self::Equal => (d.saturating_sub(d / 2), d),
        }
    }

    fn draw(self, d: Duration) -> Draw {
        match self {
            Self::None => Draw {
                delay: d,
                spread: Duration::ZERO,
            },
            Self::Full => {
                let spread = Duration::from_nanos(rng::uniform(0, nanos_u64(d)));
                Draw {
                    delay: spread,
                    spread,
                }
            }
            Self::Equal => {
                let half = d / 2;
                let spread = Duration::from_nanos(rng::uniform(0, nanos_u64(half)));
                // `d - half` is `half` or one nanosecond more: `d` is never
                // exceeded.
                Draw {
                    delay: d.saturating_sub(half) + spread,
                    spread,
                }
            }
        }
    }
}

/// One drawn delay: what to sleep on a plain failure, and the random part
/// to add to a server's hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Draw {
    pub(crate) delay: Duration,
    pub(crate) spread: Duration,
}

/// Nanoseconds as `u64`, saturating. Validated policies keep every duration
/// far below the limit (585 years); this only guards unvalidated values.
fn nanos_u64(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn capped(ns: u128, max: Duration) -> Duration {
    if ns >= max.as_nanos() {
        return max;
    }
    // Below `max`, so both parts fit.
    #[allow(clippy::cast_possible_truncation)]
    Duration::new((ns / NANOS_PER_SEC) as u64, (ns % NANOS_PER_SEC) as u32)
}

fn capped_f64(ns: f64, max: Duration) -> Duration {
    #[allow(clippy::cast_precision_loss)]
    if ns.is_nan() || ns >= max.as_nanos() as f64 {
        return max;
    }
    // Non-negative and below `max` here (durations are never negative).
    // Rounded, not truncated: 100ms × 1.7² is 289ms, not 288.999999ms.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    capped(ns.round() as u128, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exponential_schedule_is_exact() {
        let b = Backoff::exponential(ms(100), 2.0, ms(10_000));
        let got: Vec<_> = (1..=9).map(|n| b.delay(n)).collect();
        let want = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000].map(ms);
        assert_eq!(got, want);
    }

    #[test]
    fn extreme_attempts_saturate_at_max() {
        let max = Duration::from_secs(365 * 24 * 3600);
        for b in [
            Backoff::exponential(Duration::from_nanos(1), 1.000_001, max),
            Backoff::exponential(max, 1e300, max),
            Backoff::linear(Duration::from_nanos(1), max, max),
            Backoff::decorrelated(Duration::from_nanos(1), max),
        ] {
            assert_eq!(b.delay(u32::MAX), max, "{b:?}");
        }
        // Unvalidated extremes do not panic either.
        let huge = Backoff::linear(Duration::MAX, Duration::MAX, Duration::MAX);
        assert_eq!(huge.delay(u32::MAX), Duration::MAX);
        let nan = Backoff::exponential(ms(1), f64::NAN, ms(5));
        assert_eq!(nan.delay(3), ms(5));
    }

    #[test]
    fn factor_one_stays_at_initial() {
        let b = Backoff::exponential(ms(300), 1.0, ms(10_000));
        assert_eq!(b.delay(u32::MAX), ms(300));
    }

    #[test]
    fn jitter_none_draws_the_schedule() {
        let b = Backoff::linear(ms(10), ms(5), ms(100));
        let mut prev = Duration::ZERO;
        let d = b.draw(Jitter::None, 3, &mut prev);
        assert_eq!(
            d,
            Draw {
                delay: ms(20),
                spread: Duration::ZERO
            }
        );
    }

    /// The draws are exactly the documented formulas, computed here with
    /// the same seeded generator.
    #[test]
    fn jitter_draws_follow_the_formulas() {
        use rand::rngs::Xoshiro256PlusPlus;
        use rand::{RngExt, SeedableRng};

        let d = Duration::from_secs(1);
        let ns = 1_000_000_000_u64;
        for seed in 0..50 {
            let mut reference = Xoshiro256PlusPlus::seed_from_u64(seed);

            rng::seed(seed);
            let full = Jitter::Full.draw(d);
            let want = Duration::from_nanos(reference.random_range(0..=ns));
            assert_eq!(
                full,
                Draw {
                    delay: want,
                    spread: want
                }
            );

            let equal = Jitter::Equal.draw(d);
            let spread = Duration::from_nanos(reference.random_range(0..=ns / 2));
            assert_eq!(
                equal,
                Draw {
                    delay: d / 2 + spread,
                    spread
                }
            );
        }
    }

    #[test]
    fn decorrelated_draw_follows_the_aws_formula() {
        use rand::rngs::Xoshiro256PlusPlus;
        use rand::{RngExt, SeedableRng};

        let (initial, max) = (ms(100), ms(2_000));
        let b = Backoff::decorrelated(initial, max);
        let mut reference = Xoshiro256PlusPlus::seed_from_u64(11);
        rng::seed(11);
        let (mut prev, mut sleep) = (Duration::ZERO, 100_000_000_u64);
        for n in 1..30 {
            // sleep = min(cap, uniform(base, sleep * 3))
            sleep = reference
                .random_range(100_000_000..=sleep * 3)
                .min(2_000_000_000);
            assert_eq!(
                b.draw(Jitter::None, n, &mut prev).delay,
                Duration::from_nanos(sleep)
            );
        }
    }

    #[test]
    fn fractional_factors_round_to_the_nearest_nanosecond() {
        let b = Backoff::exponential(ms(100), 1.7, ms(10_000));
        assert_eq!(
            [b.delay(2), b.delay(3), b.delay(4)],
            [ms(170), ms(289), Duration::from_micros(491_300)]
        );
        let b = Backoff::exponential(ms(100), 1.2, ms(10_000));
        assert_eq!(b.delay(4), Duration::from_micros(172_800));
    }

    #[test]
    fn equal_jitter_of_odd_nanos_stays_within_d() {
        rng::seed(1);
        let d = Duration::from_nanos(3);
        for _ in 0..100 {
            let got = Jitter::Equal.draw(d);
            assert!(
                got.delay >= Duration::from_nanos(2) && got.delay <= d,
                "{got:?}"
            );
            assert!(got.spread <= Duration::from_nanos(1));
        }
    }

    #[test]
    fn decorrelated_remembers_the_previous_delay() {
        rng::seed(3);
        let b = Backoff::decorrelated(ms(100), ms(60_000));
        let mut prev = Duration::ZERO;
        let mut last = ms(100);
        for n in 1..50 {
            let d = b.draw(Jitter::None, n, &mut prev);
            assert_eq!(prev, d.delay);
            assert!(
                d.delay >= ms(100) && d.delay <= (last * 3).min(ms(60_000)),
                "{d:?}"
            );
            assert_eq!(d.spread, d.delay.saturating_sub(ms(100)));
            last = d.delay;
        }
    }
}
