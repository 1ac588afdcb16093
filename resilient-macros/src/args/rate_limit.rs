//! Typed arguments of `#[rate_limit(..)]`, each value with its span, and
//! their checks.

use proc_macro2::Span;
use syn::Expr;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;

use super::{
    DurationArg, Errors, Keyed, Keying, Owner, Settings, Unsettled, hook_expr, key_of, limits,
    parse_duration, set, whole_number,
};

#[derive(Clone, Default)]
pub(crate) struct RateLimitArgs {
    pub(crate) rate: Option<Keyed<(u32, Span)>>,
    pub(crate) per: Option<Keyed<DurationArg>>,
    pub(crate) burst: Option<Keyed<(u32, Span)>>,
    pub(crate) wait: Option<Keyed<DurationArg>>,
    pub(crate) max_pause: Option<Keyed<DurationArg>>,
    /// `shared`, `limiter = EXPR`, `name`.
    pub(crate) owner: Owner,
    pub(crate) on_limited: Option<Keyed<Box<Expr>>>,
    /// `key = EXPR` (one limiter per value, a `KeyedRateLimiter`),
    /// `max_keys`, `idle`.
    pub(crate) keying: Keying,
}

impl Settings for RateLimitArgs {
    const KEYS: &'static [&'static str] = &[
        "rate",
        "per",
        "burst",
        "wait",
        "max_pause",
        "shared",
        "limiter",
        "name",
        "on_limited",
        "key",
        "max_keys",
        "idle",
    ];

    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        if self.owner.key(name, "limiter", "search", meta, errors)?
            || self.keying.key(name, meta, errors)?
        {
            return Ok(());
        }
        let key = meta.path.span();
        match name {
            "rate" | "burst" => {
                if let Some(n) = whole_number(meta.value()?, name, u32::MAX, errors)? {
                    let slot = if name == "rate" {
                        &mut self.rate
                    } else {
                        &mut self.burst
                    };
                    set(slot, key, name, n, errors);
                }
            }
            "per" | "wait" | "max_pause" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    let slot = match name {
                        "per" => &mut self.per,
                        "wait" => &mut self.wait,
                        _ => &mut self.max_pause,
                    };
                    set(slot, key, name, d, errors);
                }
            }
            "on_limited" => {
                let expected = "a `fn(RateLimited) -> E`";
                if let Some(hook) = hook_expr(meta.value()?, "on_limited", expected, errors)? {
                    set(&mut self.on_limited, key, name, hook, errors);
                }
            }
            // Not a key: reported by `parse_settings`.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self, unsettled: &Unsettled, errors: &mut Errors) {
        self.owner.conflicts(
            "limiter",
            "limiter",
            &[
                ("rate", key_of(self.rate.as_ref())),
                ("per", key_of(self.per.as_ref())),
                ("burst", key_of(self.burst.as_ref())),
                ("wait", key_of(self.wait.as_ref())),
                ("max_pause", key_of(self.max_pause.as_ref())),
                ("max_keys", key_of(self.keying.max_keys.as_ref())),
                ("idle", key_of(self.keying.idle.as_ref())),
            ],
            errors,
        );
        if self.owner.elsewhere() {
            return;
        }
        self.keying.validate("rate limiter", &[], unsettled, errors);
        self.keying.validate_idle(errors);
        let built_here = unsettled.settled("shared") && unsettled.settled("limiter");
        if self.rate.is_none() && built_here && unsettled.settled("rate") {
            errors.at(
                Span::call_site(),
                "`#[rate_limit]` needs `rate = N` (calls per `per`, 1 s by default), or a limiter of yours with `shared = ..` or `limiter = ..`",
            );
        }
        for (key, value) in [("rate", &self.rate), ("burst", &self.burst)] {
            if let Some(Keyed {
                value: (0, span), ..
            }) = value
            {
                errors.at(*span, format!("`{key}` must be at least 1"));
            }
        }
        if let Some(per) = &self.per
            && per
                .value
                .literal()
                .is_some_and(|d| d < core::time::Duration::from_micros(1))
        {
            errors.at(per.value.span(), "`per` must be at least 1us");
        }
        // `per` is 1 s when not given.
        let per = self
            .per
            .as_ref()
            .map_or(Some(core::time::Duration::from_secs(1)), |per| {
                per.value.literal()
            });
        if let (Some(rate), Some(per)) = (&self.rate, per)
            && rate.value.0 > 0
            && per.as_nanos() > 0
            && per.as_nanos() < u128::from(rate.value.0)
        {
            errors.at(
                rate.value.1,
                "`rate` is too high for `per`: more than one call per nanosecond; lower `rate` or lengthen `per`",
            );
        }
        // The burst's span, `(burst - 1)` intervals of `per / rate`
        // (rounded up, as the runtime does), is at most 365 days.
        if let (Some(rate), Some(per), Some(burst)) = (&self.rate, per, &self.burst)
            && rate.value.0 > 0
            && burst.value.0 > 0
            && per.as_nanos() >= u128::from(rate.value.0)
        {
            let interval = per.as_nanos().div_ceil(u128::from(rate.value.0));
            if u128::from(burst.value.0 - 1) > limits::MAX_DURATION.as_nanos() / interval {
                errors.at(
                    burst.value.1,
                    "`burst` spans more than 365 days at this rate: `(burst - 1) × per / rate` must be at most 365 days",
                );
            }
        }
        if built_here {
            let kind = if self.keying.key.is_some() {
                "KeyedRateLimiter"
            } else {
                "RateLimiter"
            };
            for (key, value) in [
                ("per", &self.per),
                ("wait", &self.wait),
                ("max_pause", &self.max_pause),
                ("idle", &self.keying.idle),
            ] {
                if let Some(value) = value
                    && value.value.literal().is_none()
                {
                    errors.at(
                        value.value.span(),
                        format!(
                            "this function's rate limiter is a `static`, built once: `{key}` must be a literal such as \"1s\"; for a value known at run time, build a `{kind}` and pass it with `limiter = ..`"
                        ),
                    );
                }
            }
        }
    }
}
