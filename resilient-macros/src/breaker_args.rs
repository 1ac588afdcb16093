//! Typed arguments of `#[circuit_breaker(..)]`, each value with its span,
//! and their checks.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Path};

use crate::args::{
    DurationArg, Errors, Keyed, Unsettled, hook_expr, key_name, number_literal, parse_duration,
    parse_settings, suggest, whole_number,
};

#[derive(Clone, Default)]
pub(crate) struct BreakerArgs {
    pub(crate) failures: Option<Keyed<(u32, Span)>>,
    pub(crate) failure_rate: Option<Keyed<(f64, Span)>>,
    pub(crate) window: Option<Keyed<(u32, Span)>>,
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
    pub(crate) unsettled: Unsettled,
}

pub(crate) const BREAKER_KEYS: &[&str] = &[
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
];

impl BreakerArgs {
    pub(crate) fn parse(tokens: TokenStream) -> Result<Self, syn::Error> {
        let (args, errors) = Self::parse_partial(tokens);
        errors.finish().map(|()| args)
    }

    /// What could be read, and every mistake: see [`parse_settings`].
    pub(crate) fn parse_partial(tokens: TokenStream) -> (Self, Errors) {
        let mut args = Self::default();
        let mut errors = Errors::default();
        let mut unsettled = Unsettled::default();
        parse_settings(tokens, &mut unsettled, &mut errors, |meta, errors| {
            args.key(meta, errors)
        });
        args.unsettled = unsettled;
        (args, errors)
    }

    fn key(&mut self, meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<()> {
        let Some(name) = key_name(meta, "failures", errors)? else {
            return Ok(());
        };
        let key = meta.path.span();
        macro_rules! set {
            ($field:ident, $value:expr) => {{
                let value = $value;
                if self.$field.is_some() {
                    errors.at(key, format!("duplicate argument `{name}`"));
                } else {
                    self.$field = Some(Keyed { key, value });
                }
            }};
        }
        match name.as_str() {
            "failures" | "window" | "min_calls" | "half_open" => {
                if let Some(n) = whole_number(meta.value()?, &name, max_count(&name), errors)? {
                    match name.as_str() {
                        "failures" => set!(failures, n),
                        "window" => set!(window, n),
                        "min_calls" => set!(min_calls, n),
                        _ => set!(half_open, n),
                    }
                }
            }
            "failure_rate" => {
                if let Some(rate) = parse_rate(meta.value()?, errors)? {
                    set!(failure_rate, rate);
                }
            }
            "reset" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set!(reset, d);
                }
            }
            "when" => {
                if let Some(hook) = hook_expr(meta.value()?, "when", "a `fn(&E) -> bool`", errors)?
                {
                    set!(when, hook);
                }
            }
            "on_open" => {
                let expected = "a `fn(CircuitOpen) -> E`";
                if let Some(hook) = hook_expr(meta.value()?, "on_open", expected, errors)? {
                    set!(on_open, hook);
                }
            }
            "shared" => set!(shared, meta.value()?.parse::<Path>()?),
            "breaker" => set!(breaker, Box::new(meta.value()?.parse::<Expr>()?)),
            "name" => {
                let input = meta.value()?;
                if input.peek(LitStr) {
                    set!(name, input.parse::<LitStr>()?);
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
                    "ignore" => set!(on_cancel, false),
                    "failure" => set!(on_cancel, true),
                    other => errors.at(
                        ident.span(),
                        format!(
                            "unknown `on_cancel` value `{other}`: expected `ignore` or `failure`"
                        ),
                    ),
                }
            }
            other => {
                errors.at(
                    key,
                    format!("unknown argument `{other}`{}", suggest(other, BREAKER_KEYS)),
                );
                crate::args::skip_value(meta)?;
            }
        }
        Ok(())
    }
}

fn parse_rate(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<(f64, Span)>> {
    if let Some(rate) = number_literal(input)? {
        return Ok(Some(rate));
    }
    let value: Expr = input.parse()?;
    errors.at(
        value.span(),
        "`failure_rate` takes a number above 0 and at most 1, such as `0.5`",
    );
    Ok(None)
}

/// The largest count each setting takes: what the breaker's state word
/// and window hold (the runtime builder checks the same limits).
fn max_count(key: &str) -> u32 {
    match key {
        "window" | "min_calls" => 1024,
        _ => 65_535,
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
        .map(|s| (s.key, "shared"))
        .or_else(|| args.breaker.as_ref().map(|b| (b.key, "breaker")));
    if let Some((_, owner)) = owner {
        let settings = [
            ("failures", args.failures.as_ref().map(|k| k.key)),
            ("failure_rate", args.failure_rate.as_ref().map(|k| k.key)),
            ("window", args.window.as_ref().map(|k| k.key)),
            ("min_calls", args.min_calls.as_ref().map(|k| k.key)),
            ("reset", args.reset.as_ref().map(|k| k.key)),
            ("half_open", args.half_open.as_ref().map(|k| k.key)),
            ("name", args.name.as_ref().map(|k| k.key)),
            ("on_cancel", args.on_cancel.as_ref().map(|k| k.key)),
        ];
        for (key, span) in settings {
            if let Some(span) = span {
                errors.at(
                    span,
                    format!("`{key}` cannot be combined with `{owner}`: that breaker was built with its own settings"),
                );
            }
        }
    }
}

/// The checks the runtime's `CircuitBreakerBuilder::build` makes, on
/// literal values, at the exact token.
pub(crate) fn validate(args: &BreakerArgs) -> Result<(), syn::Error> {
    let mut errors = Errors::default();
    if let (Some(shared), Some(breaker)) = (&args.shared, &args.breaker) {
        errors.at(
            breaker.key,
            "`breaker` cannot be combined with `shared`: choose the `static` (`shared`) or an instance (`breaker`)",
        );
        let _ = shared;
    }
    owned_elsewhere(args, &mut errors);
    if let (Some(failures), Some(rate)) = (&args.failures, &args.failure_rate) {
        errors.at(
            rate.key,
            "`failure_rate` cannot be combined with `failures`: choose consecutive failures or a failure rate",
        );
        let _ = failures;
    }
    // Checks on a setting's absence need to know it is absent.
    if args.failure_rate.is_none() && args.unsettled.settled("failure_rate") {
        for (key, value) in [("window", &args.window), ("min_calls", &args.min_calls)] {
            if let Some(value) = value {
                errors.at(
                    value.key,
                    format!("`{key}` only applies with `failure_rate`"),
                );
            }
        }
    }
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.failures
    {
        if *n == 0 {
            errors.at(*span, "`failures` must be at least 1: the breaker opens after that many failures in a row");
        } else {
            in_range(&mut errors, "failures", *n, *span);
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
    let window = args.window.as_ref().map_or(100, |w| w.value.0);
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.window
    {
        in_range(&mut errors, "window", *n, *span);
    }
    if let Some(Keyed {
        value: (n, span), ..
    }) = &args.min_calls
    {
        if *n == 0 {
            errors.at(*span, "`min_calls` must be at least 1");
        } else if *n > window && args.unsettled.settled("window") {
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
        in_range(&mut errors, "half_open", *n, *span);
    }
    if let Some(reset) = &args.reset {
        if reset.value.literal() == Some(core::time::Duration::ZERO) {
            errors.at(reset.value.span(), "`reset` must be above zero");
        }
        if reset.value.literal().is_none()
            && args.shared.is_none()
            && args.breaker.is_none()
            && args.unsettled.settled("shared")
            && args.unsettled.settled("breaker")
        {
            errors.at(
                reset.value.span(),
                "this function's breaker is a `static`, built once: `reset` must be a literal such as \"60s\"; for a value known at run time, build a `CircuitBreaker` and pass it with `breaker = ..`",
            );
        }
    }
    errors.finish()
}
