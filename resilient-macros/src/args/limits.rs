//! The limits and defaults the macros check literal values against: the
//! runtime's, copied (depending on the runtime from the proc-macro would
//! build tokio for the host too), with a test that the copies agree with
//! the runtime's builders, case by case.

use core::time::Duration;

/// The longest duration any setting accepts
/// (`RetryPolicy::MAX_DURATION`).
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `exponential(..)` without `initial`, and `#[retry]` without `backoff`.
pub(crate) const DEFAULT_INITIAL: Duration = Duration::from_millis(100);

/// `exponential(..)` without `factor`.
pub(crate) const DEFAULT_FACTOR: f64 = 2.0;

/// `exponential(..)` without `max`.
pub(crate) const DEFAULT_MAX: Duration = Duration::from_secs(10);

/// The largest `failures` and `half_open` (16 bits of the breaker's state
/// word).
pub(crate) const MAX_COUNT: u32 = 65_535;

/// The largest failure-rate `window` (and so `min_calls`).
pub(crate) const MAX_WINDOW: u32 = 1024;

/// The longest time `window`, in seconds (the runtime's
/// `MAX_TIME_WINDOW_SECS`; the agreement test checks the edges).
pub(crate) const MAX_TIME_WINDOW_SECS: u32 = 300;

/// The largest bulkhead `max` (`resilient::MAX_CONCURRENT`).
pub(crate) const MAX_CONCURRENT: u32 = 1_000_000;

/// The fewest copies `#[hedge(max = ..)]` runs for one call: the attempt
/// and one copy. This and the next two are the macros' own (the
/// runtime's `Hedge` takes any number of slots), so no test compares
/// them with the runtime.
pub(crate) const MIN_HEDGED: u32 = 2;

/// The most copies `#[hedge(max = ..)]` runs for one call: each is a slot
/// in the function's future, as large as an attempt.
pub(crate) const MAX_HEDGED: u32 = 10;

/// `#[hedge]` without `max`: the attempt and one copy (Polly and seatbelt
/// hedge once).
pub(crate) const DEFAULT_HEDGED: u32 = MIN_HEDGED;

/// The shortest `idle` of a keyed breaker or limiter.
pub(crate) const MIN_IDLE: Duration = Duration::from_secs(1);

/// The largest `max_keys` (`resilient::MAX_KEYS`).
pub(crate) const MAX_KEYS: u32 = 1 << 20;

/// `window` when only `failure_rate` is given.
pub(crate) const DEFAULT_WINDOW: u32 = 100;

/// The macros and the runtime accept and refuse the same values, and
/// name the same setting when they refuse one.
#[cfg(test)]
mod agree {
    use core::time::Duration;

    use proc_macro2::TokenStream;
    use quote::quote;
    use resilient_runtime::{
        Backoff, Bulkhead, BulkheadBuilder, CircuitBreaker, CircuitBreakerBuilder, ConfigError,
        Jitter, KeyedBreaker, KeyedBreakerBuilder, KeyedRateLimiter, KeyedRateLimiterBuilder,
        RateLimiter, RateLimiterBuilder, RetryPolicy, RetryPolicyBuilder,
    };

    use super::*;
    use crate::args::{
        Settings, breaker::BreakerArgs, bulkhead::BulkheadArgs, parse_settings,
        rate_limit::RateLimitArgs, retry::RetryArgs,
    };

    /// The macro's errors for these settings, joined; empty if none.
    fn macro_errors<S: Settings>(tokens: TokenStream) -> String {
        let (_, errors): (S, _) = parse_settings(tokens);
        errors.finish().err().map_or_else(String::new, |all| {
            all.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        })
    }

    /// Both refuse, each naming `key` (the macro as `` `key` ``), or both
    /// accept (`key` empty).
    #[track_caller]
    fn same_verdict(key: &str, macro_says: &str, runtime_says: Result<(), ConfigError>) {
        match runtime_says {
            Ok(()) => assert!(
                key.is_empty() && macro_says.is_empty(),
                "the runtime accepts, the macro says {macro_says:?} (expected {key:?})"
            ),
            Err(error) => {
                assert_eq!(error.key(), key, "the runtime refuses `{}`", error.key());
                assert!(
                    macro_says.contains(&format!("`{key}`")),
                    "the runtime refuses `{key}`, the macro says {macro_says:?}"
                );
            }
        }
    }

    fn retry(key: &str, tokens: TokenStream, builder: RetryPolicyBuilder) {
        let runtime = builder.try_build().map(drop);
        same_verdict(key, &macro_errors::<RetryArgs>(tokens), runtime);
    }

    fn breaker(key: &str, tokens: TokenStream, builder: CircuitBreakerBuilder) {
        let runtime = builder.try_build().map(drop);
        same_verdict(key, &macro_errors::<BreakerArgs>(tokens), runtime);
    }

    fn keyed(key: &str, tokens: TokenStream, builder: KeyedBreakerBuilder) {
        let runtime = builder.try_build().map(drop);
        same_verdict(key, &macro_errors::<BreakerArgs>(tokens), runtime);
    }

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn limits_and_defaults_are_the_runtimes() {
        assert_eq!(MAX_DURATION, RetryPolicy::MAX_DURATION);
        assert_eq!(MAX_WINDOW, resilient_runtime::MAX_WINDOW);
        assert_eq!(MAX_KEYS, resilient_runtime::MAX_KEYS);
        assert_eq!(MAX_CONCURRENT, resilient_runtime::MAX_CONCURRENT);
        assert_eq!(
            RetryPolicy::new().backoff(),
            Backoff::exponential(DEFAULT_INITIAL, DEFAULT_FACTOR, DEFAULT_MAX)
        );
        assert_eq!(Backoff::default(), RetryPolicy::new().backoff());
    }

    #[test]
    fn retry_settings() {
        let p = RetryPolicy::builder;
        retry("", quote!(attempts = 1), p().attempts(1));
        retry("attempts", quote!(attempts = 0), p().attempts(0));
        retry(
            "initial",
            quote!(backoff = exponential(initial = "0s", max = "1s")),
            p().backoff(Backoff::exponential(Duration::ZERO, 2.0, ms(1000))),
        );
        retry(
            "max",
            quote!(backoff = exponential(initial = "2s", max = "1s")),
            p().backoff(Backoff::exponential(ms(2000), 2.0, ms(1000))),
        );
        retry(
            "factor",
            quote!(backoff = exponential(factor = 0.5)),
            p().backoff(Backoff::exponential(DEFAULT_INITIAL, 0.5, DEFAULT_MAX)),
        );
        retry(
            "",
            quote!(backoff = exponential(factor = 1)),
            p().backoff(Backoff::exponential(DEFAULT_INITIAL, 1.0, DEFAULT_MAX)),
        );
        retry(
            "",
            quote!(backoff = exponential(initial = "1s", max = "8760h")),
            p().backoff(Backoff::exponential(ms(1000), 2.0, MAX_DURATION)),
        );
        retry(
            "step",
            quote!(backoff = linear(initial = "1s", step = "0s", max = "2s")),
            p().backoff(Backoff::linear(ms(1000), Duration::ZERO, ms(2000))),
        );
        retry(
            "max",
            quote!(backoff = decorrelated(initial = "2s", max = "1s")),
            p().backoff(Backoff::decorrelated(ms(2000), ms(1000))),
        );
        retry(
            "jitter",
            quote!(
                backoff = decorrelated(initial = "1s", max = "2s"),
                jitter = full
            ),
            p().backoff(Backoff::decorrelated(ms(1000), ms(2000)))
                .jitter(Jitter::Full),
        );
        retry(
            "",
            quote!(
                backoff = decorrelated(initial = "1s", max = "2s"),
                jitter = none
            ),
            p().backoff(Backoff::decorrelated(ms(1000), ms(2000)))
                .jitter(Jitter::None),
        );
        retry(
            "max_elapsed",
            quote!(max_elapsed = "0s"),
            p().max_elapsed(Duration::ZERO),
        );
        retry(
            "max_retry_after",
            quote!(max_retry_after = "0s"),
            p().max_retry_after(Duration::ZERO),
        );
        retry(
            "",
            quote!(max_retry_after = "8760h"),
            p().max_retry_after(MAX_DURATION),
        );
    }

    #[test]
    fn breaker_settings() {
        let b = CircuitBreaker::builder;
        breaker("", quote!(failures = 65535), b().failures(MAX_COUNT));
        breaker("failures", quote!(failures = 0), b().failures(0));
        breaker(
            "failures",
            quote!(failures = 65536),
            b().failures(MAX_COUNT + 1),
        );
        breaker(
            "failure_rate",
            quote!(failures = 5, failure_rate = 0.5),
            b().failures(5).failure_rate(0.5),
        );
        breaker(
            "failure_rate",
            quote!(failure_rate = 1.5),
            b().failure_rate(1.5),
        );
        breaker(
            "failure_rate",
            quote!(failure_rate = 0),
            b().failure_rate(0.0),
        );
        breaker("", quote!(failure_rate = 1), b().failure_rate(1.0));
        breaker("window", quote!(window = 10), b().window(10));
        breaker("min_calls", quote!(min_calls = 10), b().min_calls(10));
        breaker(
            "window",
            quote!(failure_rate = 0.5, window = 0),
            b().failure_rate(0.5).window(0),
        );
        breaker(
            "",
            quote!(failure_rate = 0.5, window = 1024, min_calls = 1024),
            b().failure_rate(0.5)
                .window(MAX_WINDOW)
                .min_calls(MAX_WINDOW),
        );
        breaker(
            "window",
            quote!(failure_rate = 0.5, window = 1025),
            b().failure_rate(0.5).window(MAX_WINDOW + 1),
        );
        breaker(
            "min_calls",
            quote!(failure_rate = 0.5, min_calls = 0),
            b().failure_rate(0.5).min_calls(0),
        );
        // The default window, on both sides.
        breaker(
            "",
            quote!(failure_rate = 0.5, min_calls = 100),
            b().failure_rate(0.5).min_calls(DEFAULT_WINDOW),
        );
        breaker(
            "min_calls",
            quote!(failure_rate = 0.5, min_calls = 101),
            b().failure_rate(0.5).min_calls(DEFAULT_WINDOW + 1),
        );
        breaker("reset", quote!(reset = "0s"), b().reset(Duration::ZERO));
        breaker("", quote!(reset = "8760h"), b().reset(MAX_DURATION));
        breaker("half_open", quote!(half_open = 0), b().half_open(0));
        breaker(
            "half_open",
            quote!(half_open = 65536),
            b().half_open(MAX_COUNT + 1),
        );
    }

    #[test]
    fn keyed_breaker_settings() {
        let k = KeyedBreaker::builder;
        keyed("", quote!(key = host, max_keys = 1), k().max_keys(1));
        keyed(
            "",
            quote!(key = host, max_keys = 1048576),
            k().max_keys(MAX_KEYS),
        );
        keyed(
            "max_keys",
            quote!(key = host, max_keys = 0),
            k().max_keys(0),
        );
        keyed(
            "max_keys",
            quote!(key = host, max_keys = 1048577),
            k().max_keys(MAX_KEYS + 1),
        );
        keyed("", quote!(key = host, idle = "1s"), k().idle(ms(1000)));
        keyed(
            "idle",
            quote!(key = host, idle = "999ms"),
            k().idle(ms(999)),
        );
        keyed(
            "",
            quote!(key = host, idle = "8760h"),
            k().idle(MAX_DURATION),
        );
        keyed("", quote!(key = host, max_open = 1), k().max_open(1.0));
        keyed("", quote!(key = host, max_open = 0.01), k().max_open(0.01));
        keyed(
            "max_open",
            quote!(key = host, max_open = 0),
            k().max_open(0.0),
        );
        keyed(
            "max_open",
            quote!(key = host, max_open = 1.5),
            k().max_open(1.5),
        );
        keyed(
            "failures",
            quote!(key = host, failures = 0),
            k().failures(0),
        );
    }

    #[test]
    fn time_window_and_slow_call_settings() {
        let b = CircuitBreaker::builder;
        let secs = Duration::from_secs;
        breaker(
            "",
            quote!(failure_rate = 0.5, window = "30s", min_calls = 500),
            b().failure_rate(0.5).time_window(secs(30)).min_calls(500),
        );
        breaker(
            "",
            quote!(failure_rate = 0.5, window = "300s"),
            b().failure_rate(0.5)
                .time_window(secs(u64::from(MAX_TIME_WINDOW_SECS))),
        );
        // The runtime names its setting `time_window`; the attribute's
        // key is `window`: both refuse.
        for (tokens, window) in [
            (quote!(failure_rate = 0.5, window = "301s"), secs(301)),
            (quote!(failure_rate = 0.5, window = "1500ms"), ms(1500)),
            (quote!(failure_rate = 0.5, window = "0s"), Duration::ZERO),
        ] {
            let runtime = b().failure_rate(0.5).time_window(window).try_build();
            assert_eq!(runtime.map(drop).unwrap_err().key(), "time_window");
            assert!(macro_errors::<BreakerArgs>(tokens).contains("time `window`"));
        }
        breaker(
            "",
            quote!(failure_rate = 0.5, slow = "1ms", slow_rate = 1),
            b().failure_rate(0.5).slow(ms(1)).slow_rate(1.0),
        );
        breaker(
            "",
            quote!(failure_rate = 0.5, slow = "1h"),
            b().failure_rate(0.5).slow(secs(3600)),
        );
        breaker(
            "slow",
            quote!(failure_rate = 0.5, slow = "999us"),
            b().failure_rate(0.5).slow(Duration::from_micros(999)),
        );
        breaker(
            "slow",
            quote!(failure_rate = 0.5, slow = "3601s"),
            b().failure_rate(0.5).slow(secs(3601)),
        );
        breaker("slow", quote!(slow = "1s"), b().slow(secs(1)));
        breaker(
            "slow_rate",
            quote!(failure_rate = 0.5, slow_rate = 0.5),
            b().failure_rate(0.5).slow_rate(0.5),
        );
        breaker(
            "slow_rate",
            quote!(failure_rate = 0.5, slow = "1s", slow_rate = 0),
            b().failure_rate(0.5).slow(secs(1)).slow_rate(0.0),
        );
    }

    fn bulkhead(key: &str, tokens: TokenStream, builder: BulkheadBuilder) {
        let runtime = builder.try_build().map(drop);
        same_verdict(key, &macro_errors::<BulkheadArgs>(tokens), runtime);
    }

    fn limiter(key: &str, tokens: TokenStream, builder: RateLimiterBuilder) {
        let runtime = builder.try_build().map(drop);
        same_verdict(key, &macro_errors::<RateLimitArgs>(tokens), runtime);
    }

    fn keyed_limiter(key: &str, tokens: TokenStream, builder: KeyedRateLimiterBuilder) {
        let runtime = builder.try_build().map(drop);
        same_verdict(key, &macro_errors::<RateLimitArgs>(tokens), runtime);
    }

    #[test]
    fn bulkhead_settings() {
        let b = Bulkhead::builder;
        bulkhead("", quote!(max = 1), b().max(1));
        bulkhead("", quote!(max = 1000000), b().max(MAX_CONCURRENT));
        bulkhead("max", quote!(max = 0), b().max(0));
        bulkhead("max", quote!(max = 1000001), b().max(MAX_CONCURRENT + 1));
        bulkhead("", quote!(wait = "8760h"), b().wait(MAX_DURATION));
    }

    #[test]
    fn rate_limit_settings() {
        let r = || RateLimiter::builder().rate(10);
        limiter("", quote!(rate = 10), r());
        limiter("rate", quote!(rate = 0), r().rate(0));
        limiter("burst", quote!(rate = 10, burst = 0), r().burst(0));
        limiter(
            "",
            quote!(rate = 10, per = "1us"),
            r().per(Duration::from_micros(1)),
        );
        limiter(
            "per",
            quote!(rate = 10, per = "999ns"),
            r().per(Duration::from_nanos(999)),
        );
        // One call per nanosecond at most, with `per` given or its 1 s.
        limiter(
            "",
            quote!(rate = 1000, per = "1us"),
            r().rate(1000).per(Duration::from_micros(1)),
        );
        limiter(
            "rate",
            quote!(rate = 1001, per = "1us"),
            r().rate(1001).per(Duration::from_micros(1)),
        );
        limiter("", quote!(rate = 1000000000), r().rate(1_000_000_000));
        limiter("rate", quote!(rate = 1000000001), r().rate(1_000_000_001));
        // A burst spans at most 365 days of intervals.
        limiter(
            "",
            quote!(rate = 1, per = "1h", burst = 8761),
            r().rate(1).per(Duration::from_secs(3600)).burst(8761),
        );
        limiter(
            "burst",
            quote!(rate = 1, per = "1h", burst = 8762),
            r().rate(1).per(Duration::from_secs(3600)).burst(8762),
        );
        limiter(
            "",
            quote!(rate = 10, max_pause = "8760h"),
            r().max_pause(MAX_DURATION),
        );
    }

    #[test]
    fn keyed_rate_limit_settings() {
        let k = || KeyedRateLimiter::builder().rate(10);
        keyed_limiter(
            "",
            quote!(rate = 10, key = k, max_keys = 1),
            k().max_keys(1),
        );
        keyed_limiter(
            "",
            quote!(rate = 10, key = k, max_keys = 1048576),
            k().max_keys(MAX_KEYS),
        );
        keyed_limiter(
            "max_keys",
            quote!(rate = 10, key = k, max_keys = 0),
            k().max_keys(0),
        );
        keyed_limiter(
            "max_keys",
            quote!(rate = 10, key = k, max_keys = 1048577),
            k().max_keys(MAX_KEYS + 1),
        );
        keyed_limiter(
            "",
            quote!(rate = 10, key = k, idle = "1s"),
            k().idle(MIN_IDLE),
        );
        keyed_limiter(
            "idle",
            quote!(rate = 10, key = k, idle = "999ms"),
            k().idle(ms(999)),
        );
    }
}
