//! Checks across arguments, on literal values: the same rules the runtime
//! applies when a policy is built, reported at compile time on the exact
//! literal. Emits nothing; every error is collected.

use core::time::Duration;

use crate::args::{Backoff, DurationArg, Errors, Factor, Jitter, Keyed, RetryArgs};

pub(crate) const DEFAULT_INITIAL: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_MAX: Duration = Duration::from_secs(10);

pub(crate) fn retry(args: &RetryArgs) -> Result<(), syn::Error> {
    let mut errors = Errors::default();
    if let Some(Keyed {
        value: (0, span), ..
    }) = &args.attempts
    {
        errors.at(
            *span,
            "`attempts` must be at least 1 (it counts the first attempt; 1 means no retry)",
        );
    }
    if args.policy.is_some() {
        let schedule = [
            ("attempts", args.attempts.as_ref().map(|k| k.key)),
            ("backoff", args.backoff.as_ref().map(|k| k.key)),
            ("jitter", args.jitter.as_ref().map(|k| k.key)),
            ("max_elapsed", args.max_elapsed.as_ref().map(|k| k.key)),
            (
                "max_retry_after",
                args.max_retry_after.as_ref().map(|k| k.key),
            ),
        ];
        for (key, span) in schedule {
            if let Some(span) = span {
                errors.at(
                    span,
                    format!("`{key}` cannot be combined with `policy`: set it in the `RetryPolicy` instead"),
                );
            }
        }
    }
    if let Some(backoff) = &args.backoff {
        // A `backoff` with a refused setting is missing it: not absent.
        let settled = args.unsettled.settled("backoff");
        check_backoff(&backoff.value, settled, &mut errors);
        if let (Backoff::Decorrelated { .. }, Some(jitter)) = (&backoff.value, &args.jitter)
            && jitter.value != Jitter::None
        {
            errors.at(
                jitter.key,
                "`decorrelated` draws its own random delays and takes no `jitter`: remove `jitter`",
            );
        }
    }
    for (key, value) in [
        ("max_elapsed", &args.max_elapsed),
        ("max_retry_after", &args.max_retry_after),
    ] {
        if let Some(Keyed { value, .. }) = value {
            nonzero(value, key, "", &mut errors);
        }
    }
    errors.finish()
}

fn nonzero(d: &DurationArg, key: &str, advice: &str, errors: &mut Errors) {
    if d.literal() == Some(Duration::ZERO) {
        errors.at(d.span(), format!("`{key}` must be above zero{advice}"));
    }
}

const NO_DELAY: &str = " (for no delay at all, write `backoff = none`)";

fn check_backoff(backoff: &Backoff, settled: bool, errors: &mut Errors) {
    match backoff {
        Backoff::None => {}
        Backoff::Fixed(delay) => nonzero(delay, "fixed", NO_DELAY, errors),
        Backoff::Linear { initial, step, max } => {
            nonzero(initial, "initial", NO_DELAY, errors);
            nonzero(
                step,
                "step",
                " (a linear backoff with no step is `fixed(..)`)",
                errors,
            );
            max_not_below(initial.literal(), max, errors);
        }
        Backoff::Decorrelated { initial, max } => {
            nonzero(initial, "initial", NO_DELAY, errors);
            max_not_below(initial.literal(), max, errors);
        }
        Backoff::Exponential {
            initial,
            factor,
            max,
        } => {
            if let Some(initial) = initial {
                nonzero(initial, "initial", NO_DELAY, errors);
            }
            if let Some(Factor::Literal { value, span }) = factor
                && (*value < 1.0 || !value.is_finite())
            {
                errors.at(
                    *span,
                    "`factor` must be at least 1: each delay is the previous one times `factor`",
                );
            }
            let initial_value = initial
                .as_ref()
                .map_or(Some(DEFAULT_INITIAL), DurationArg::literal);
            match max {
                Some(max) => max_not_below(initial_value, max, errors),
                None => {
                    if let (Some(initial), Some(value), true) = (initial, initial_value, settled)
                        && value > DEFAULT_MAX
                    {
                        errors.at(
                            initial.span(),
                            "`initial` is above the default `max` of 10s: set `max` too",
                        );
                    }
                }
            }
        }
    }
}

fn max_not_below(initial: Option<Duration>, max: &DurationArg, errors: &mut Errors) {
    if let (Some(initial), Some(value)) = (initial, max.literal())
        && value < initial
    {
        errors.at(
            max.span(),
            format!("`max` must not be below `initial` ({initial:?})"),
        );
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::*;

    fn check(tokens: TokenStream) -> String {
        let args = RetryArgs::parse(tokens).ok().unwrap();
        match retry(&args) {
            Ok(()) => String::from("ok"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn literal_rules() {
        assert_eq!(
            check(quote!(
                attempts = 3,
                backoff = exponential(initial = "1s", max = "5s")
            )),
            "ok"
        );
        assert!(check(quote!(attempts = 0)).starts_with("`attempts` must be at least 1"));
        assert_eq!(
            check(quote!(backoff = exponential(initial = "2s", max = "1s"))),
            "`max` must not be below `initial` (2s)"
        );
        assert_eq!(
            check(quote!(backoff = exponential(factor = 0.5))),
            "`factor` must be at least 1: each delay is the previous one times `factor`"
        );
        assert_eq!(
            check(quote!(backoff = exponential(initial = "20s"))),
            "`initial` is above the default `max` of 10s: set `max` too"
        );
        assert_eq!(
            check(quote!(
                backoff = decorrelated(initial = "1s", max = "5s"),
                jitter = full
            )),
            "`decorrelated` draws its own random delays and takes no `jitter`: remove `jitter`"
        );
        assert_eq!(
            check(quote!(policy = POLICY, attempts = 2)),
            "`attempts` cannot be combined with `policy`: set it in the `RetryPolicy` instead"
        );
        assert_eq!(
            check(quote!(max_elapsed = "0s")),
            "`max_elapsed` must be above zero"
        );
        // Expressions are checked when the call starts, not here.
        assert_eq!(
            check(quote!(
                backoff = exponential(initial = self.a, max = self.b)
            )),
            "ok"
        );
    }
}
