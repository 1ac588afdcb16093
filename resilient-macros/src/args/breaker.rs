//! Typed arguments of `#[circuit_breaker(..)]`, each value with its span,
//! and their checks.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Path};

use super::{
    DurationArg, Errors, Keyed, Keying, Settings, Unsettled, conflicts, hook_expr, key_of, limits,
    number_literal, parse_duration, set, whole_number,
};

#[derive(Clone, Default)]
pub(crate) struct BreakerArgs {
    pub(crate) failures: Option<Keyed<(u32, Span)>>,
    pub(crate) failure_rate: Option<Keyed<(f64, Span)>>,
    pub(crate) window: Option<Keyed<(u32, Span)>>,
    /// `window = "30s"`: a time window.
    pub(crate) time_window: Option<Keyed<DurationArg>>,
    pub(crate) slow: Option<Keyed<DurationArg>>,
    pub(crate) slow_rate: Option<Keyed<(f64, Span)>>,
    pub(crate) min_calls: Option<Keyed<(u32, Span)>>,
    pub(crate) reset: Option<Keyed<DurationArg>>,
    pub(crate) half_open: Option<Keyed<(u32, Span)>>,
    pub(crate) when: Option<Keyed<Box<Expr>>>,
    pub(crate) shared: Option<Keyed<Path>>,
    pub(crate) breaker: Option<Keyed<Box<Expr>>>,
    pub(crate) name: Option<Keyed<LitStr>>,
    pub(crate) on_open: Option<Keyed<Box<Expr>>>,
    /// `true` for `on_cancel = failure`.
    pub(crate) on_cancel: Option<Keyed<bool>>,
    /// `key = EXPR` (one breaker per value, a `KeyedBreaker`),
    /// `max_keys`, `idle`.
    pub(crate) keying: Keying,
    pub(crate) max_open: Option<Keyed<(f64, Span)>>,
}

impl Settings for BreakerArgs {
    const KEYS: &'static [&'static str] = &[
        "failures",
        "failure_rate",
        "window",
        "min_calls",
        "reset",
        "half_open",
        "when",
        "shared",
        "breaker",
        "name",
        "on_open",
        "on_cancel",
        "key",
        "max_keys",
        "idle",
        "max_open",
        "slow",
        "slow_rate",
    ];

    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        if self.keying.key(name, meta, errors)? {
            return Ok(());
        }
        let key = meta.path.span();
        match name {
            // A duration is a time window; a number, a count of calls.
            "window" if meta.input.peek(syn::Token![=]) && meta.input.peek2(LitStr) => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set(&mut self.time_window, key, name, d, errors);
                }
            }
            "failures" | "window" | "min_calls" | "half_open" => {
                if let Some(n) = whole_number(meta.value()?, name, max_count(name), errors)? {
                    let slot = match name {
                        "failures" => &mut self.failures,
                        "window" => &mut self.window,
                        "min_calls" => &mut self.min_calls,
                        _ => &mut self.half_open,
                    };
                    set(slot, key, name, n, errors);
                }
            }
            "failure_rate" | "max_open" | "slow_rate" => {
                if let Some(rate) = parse_rate(meta.value()?, name, errors)? {
                    let slot = match name {
                        "max_open" => &mut self.max_open,
                        "slow_rate" => &mut self.slow_rate,
                        _ => &mut self.failure_rate,
                    };
                    set(slot, key, name, rate, errors);
                }
            }
            "reset" | "slow" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    let slot = if name == "slow" {
                        &mut self.slow
                    } else {
                        &mut self.reset
                    };
                    set(slot, key, name, d, errors);
                }
            }
            "when" => {
                if let Some(hook) = hook_expr(meta.value()?, "when", "a `fn(&E) -> bool`", errors)?
                {
                    set(&mut self.when, key, name, hook, errors);
                }
            }
            "on_open" => {
                let expected = "a `fn(CircuitOpen) -> E`";
                if let Some(hook) = hook_expr(meta.value()?, "on_open", expected, errors)? {
                    set(&mut self.on_open, key, name, hook, errors);
                }
            }
            "shared" => {
                let path = meta.value()?.parse::<Path>()?;
                set(&mut self.shared, key, name, path, errors);
            }
            "breaker" => {
                let expr = Box::new(meta.value()?.parse::<Expr>()?);
                set(&mut self.breaker, key, name, expr, errors);
            }
            "name" => {
                let input = meta.value()?;
                if input.peek(LitStr) {
                    let literal = input.parse::<LitStr>()?;
                    set(&mut self.name, key, name, literal, errors);
                } else {
                    let value: Expr = input.parse()?;
                    errors.at(
                        value.span(),
                        "`name` takes a string literal, such as `name = \"payments\"`",
                    );
                }
            }
            "on_cancel" => {
                let ident: Ident = meta.value()?.parse()?;
                match ident.to_string().as_str() {
                    "ignore" => set(&mut self.on_cancel, key, name, false, errors),
                    "failure" => set(&mut self.on_cancel, key, name, true, errors),
                    other => errors.at(
                        ident.span(),
                        format!(
                            "unknown `on_cancel` value `{other}`: expected `ignore` or `failure`"
                        ),
                    ),
                }
            }
            // Not a key: reported by `parse_settings`.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self, unsettled: &Unsettled, errors: &mut Errors) {
        validate(self, unsettled, errors);
    }
}

/// `failure_rate` or `max_open`: a share, as a number literal.
fn parse_rate(
    input: ParseStream<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<Option<(f64, Span)>> {
    if let Some(rate) = number_literal(input)? {
        return Ok(Some(rate));
    }
    let value: Expr = input.parse()?;
    errors.at(
        value.span(),
        format!("`{key}` takes a number above 0 and at most 1, such as `0.5`"),
    );
    Ok(None)
}

/// The largest count each setting takes: what the breaker's state word
/// and window hold (the runtime builder checks the same limits).
fn max_count(key: &str) -> u32 {
    match key {
        "window" | "min_calls" => limits::MAX_WINDOW,
        _ => limits::MAX_COUNT,
    }
}

/// `1..=max_count(key)`, in the words [`whole_number`] uses for a number
/// too large to parse.
fn in_range(errors: &mut Errors, key: &str, n: u32, span: Span) {
    let max = max_count(key);
    if n == 0 || n > max {
        errors.at(span, format!("`{key}` must be from 1 to {max}"));
    }
}

/// With `shared` or `breaker`, the breaker exists already: settings here
/// would be ignored, so they are errors.
fn owned_elsewhere(args: &BreakerArgs, errors: &mut Errors) {
    let owner = args
        .shared
        .as_ref()
        .map(|_| "shared")
        .or_else(|| args.breaker.as_ref().map(|_| "breaker"));
    if let Some(owner) = owner {
        let settings = [
            ("failures", key_of(args.failures.as_ref())),
            ("failure_rate", key_of(args.failure_rate.as_ref())),
            ("window", key_of(args.window.as_ref())),
            ("window", key_of(args.time_window.as_ref())),
            ("min_calls", key_of(args.min_calls.as_ref())),
            ("slow", key_of(args.slow.as_ref())),
            ("slow_rate", key_of(args.slow_rate.as_ref())),
            ("reset", key_of(args.reset.as_ref())),
            ("half_open", key_of(args.half_open.as_ref())),
            ("name", key_of(args.name.as_ref())),
            ("on_cancel", key_of(args.on_cancel.as_ref())),
            ("max_keys", key_of(args.keying.max_keys.as_ref())),
            ("idle", key_of(args.keying.idle.as_ref())),
            ("max_open", key_of(args.max_open.as_ref())),
        ];
        conflicts(&settings, errors, |key| {
            format!(
                "`{key}` cannot be combined with `{owner}`: that breaker was built with its own settings"
            )
        });
    }
}

/// The window settings and `slow` count over a failure-rate window.
fn needs_failure_rate(args: &BreakerArgs, unsettled: &Unsettled, errors: &mut Errors) {
    if args.failure_rate.is_none() && unsettled.settled("failure_rate") {
        for (key, value) in [
            ("window", key_of(args.window.as_ref())),
            ("window", key_of(args.time_window.as_ref())),
            ("min_calls", key_of(args.min_calls.as_ref())),
        ] {
            if let Some(span) = value {
                errors.at(span, format!("`{key}` only applies with `failure_rate`"));
            }
        }
        if let Some(slow) = &args.slow {
            errors.at(
                slow.key,
                "`slow` only applies with `failure_rate`: slow calls are counted over its window (`failure_rate = 1` counts slow calls alone)",
            );
        }
    }
}

/// `window = "30s"`: whole seconds, 1 to 300, a literal; and only one
/// `window`, of either kind.
fn time_window(args: &BreakerArgs, unsettled: &Unsettled, errors: &mut Errors) {
    let Some(window) = &args.time_window else {
        return;
    };
    let _ = unsettled;
    if let Some(calls) = &args.window {
        errors.at(
            window.key,
            "duplicate argument `window`: give a number of calls (`window = 100`) or a duration (`window = \"30s\"`), not both",
        );
        let _ = calls;
    }
    match window.value.literal() {
        Some(d) if d.subsec_nanos() != 0 || d.as_secs() == 0 => errors.at(
            window.value.span(),
            "a time `window` must be a whole number of seconds from 1s to 300s, such as \"30s\" (it is counted in one-second buckets)",
        ),
        Some(d) if d.as_secs() > u64::from(limits::MAX_TIME_WINDOW_SECS) => errors.at(
            window.value.span(),
            format!(
                "a time `window` must be at most {}s",
                limits::MAX_TIME_WINDOW_SECS
            ),
        ),
        // Only a string literal is read as a time window.
        Some(_) | None => {}
    }
}

/// `slow = D` (1 ms to 1 h, a literal for the function's own breaker) and
/// `slow_rate = R`, which needs it.
fn slow_calls(args: &BreakerArgs, unsettled: &Unsettled, errors: &mut Errors) {
    if let (Some(rate), None) = (&args.slow_rate, &args.slow)
        && unsettled.settled("slow")
    {
        errors.at(
            rate.key,
            "`slow_rate` only applies with `slow`: set the duration above which a call is slow, such as `slow = \"2s\"`",
        );
    }
    if let Some(Keyed {
        value: (share, span),
        ..
    }) = &args.slow_rate
        && !(*share > 0.0 && *share <= 1.0)
    {
        errors.at(
            *span,
            "`slow_rate` must be above 0 and at most 1 (0.5 means half the calls)",
        );
    }
    if let Some(slow) = &args.slow {
        match slow.value.literal() {
            Some(d) if d < core::time::Duration::from_millis(1) => {
                errors.at(slow.value.span(), "`slow` must be at least 1ms");
            }
            Some(d) if d > core::time::Duration::from_secs(3600) => {
                errors.at(slow.value.span(), "`slow` must be at most 1h");
            }
            None if args.shared.is_none() && args.breaker.is_none() => errors.at(
                slow.value.span(),
                "this function's breaker is a `static`, built once: `slow` must be a literal such as \"2s\"; for a value known at run time, build a `CircuitBreaker` and pass it with `breaker = ..`",
            ),
            Some(_) | None => {}
        }
    }
}

/// The keyed breaker's own settings need `key`, and take the values
/// `KeyedBreakerBuilder::build` takes.
fn keyed(args: &BreakerArgs, unsettled: &Unsettled, errors: &mut Errors) {
    let max_open = [("max_open", key_of(args.max_open.as_ref()))];
    args.keying
        .validate("breaker", &max_open, unsettled, errors);
    if let Some(Keyed {
        value: (share, span),
        ..
    }) = &args.max_open
        && !(*share > 0.0 && *share <= 1.0)
    {
        errors.at(
            *span,
            "`max_open` must be above 0 and at most 1 (0.5 means half the keys)",
        );
    }
    args.keying.validate_idle(errors);
    if let Some(idle) = &args.keying.idle
        && idle.value.literal().is_none()
        && args.shared.is_none()
        && args.breaker.is_none()
    {
        errors.at(
            idle.value.span(),
            "this function's keyed breaker is a `static`, built once: `idle` must be a literal such as \"10m\"; for a value known at run time, build a `KeyedBreaker` and pass it with `breaker = ..`",
        );
    }
}

/// The checks the runtime's `CircuitBreakerBuilder::build` makes, on
/// literal values, at the exact token.
fn validate(args: &BreakerArgs, unsettled: &Unsettled, errors: &mut Errors) {
    if let (Some(shared), Some(breaker)) = (&args.shared, &args.breaker) {
        errors.at(
            breaker.key,
            "`breaker` cannot be combined with `shared`: choose the `static` (`shared`) or an instance (`breaker`)",
        );
        let _ = shared;
    }
    owned_elsewhere(args, errors);
    keyed(args, unsettled, errors);
    if let (Some(failures), Some(rate)) = (&args.failures, &args.failure_rate) {
        errors.at(
            rate.key,
            "`failure_rate` cannot be combined with `failures`: choose consecutive failures or a failure rate",
        );
        let _ = failures;
    }
    // Checks on a setting's absence need to know it is absent.
    needs_failure_rate(args, unsettled, errors);
    slow_calls(args, unsettled, errors);
    time_window(args, unsettled, errors);
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.failures
    {
        if *n == 0 {
            errors.at(*span, "`failures` must be at least 1: the breaker opens after that many failures in a row");
        } else {
            in_range(errors, "failures", *n, *span);
        }
    }
    if let Some(Keyed {
        value: (rate, span),
        ..
    }) = &args.failure_rate
        && !(*rate > 0.0 && *rate <= 1.0)
    {
        errors.at(
            *span,
            "`failure_rate` must be above 0 and at most 1 (0.5 means half the calls)",
        );
    }
    let window = args
        .window
        .as_ref()
        .map_or(limits::DEFAULT_WINDOW, |w| w.value.0);
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.window
    {
        in_range(errors, "window", *n, *span);
    }
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.min_calls
    {
        if *n == 0 {
            errors.at(*span, "`min_calls` must be at least 1");
        } else if *n > window && args.time_window.is_none() && unsettled.settled("window") {
            errors.at(
                *span,
                format!("`min_calls` must not be above `window` ({window})"),
            );
        }
    }
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.half_open
    {
        in_range(errors, "half_open", *n, *span);
    }
    if let Some(reset) = &args.reset {
        if reset.value.literal() == Some(core::time::Duration::ZERO) {
            errors.at(reset.value.span(), "`reset` must be above zero");
        }
        if reset.value.literal().is_none()
            && args.shared.is_none()
            && args.breaker.is_none()
            && unsettled.settled("shared")
            && unsettled.settled("breaker")
        {
            errors.at(
                reset.value.span(),
                "this function's breaker is a `static`, built once: `reset` must be a literal such as \"60s\"; for a value known at run time, build a `CircuitBreaker` and pass it with `breaker = ..`",
            );
        }
    }
}
