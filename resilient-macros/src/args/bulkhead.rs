//! Typed arguments of `#[bulkhead(..)]`, each value with its span, and
//! their checks.

use proc_macro2::Span;
use syn::Expr;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;

use super::{
    DurationArg, Errors, Keyed, Owner, Settings, Unsettled, hook_expr, key_of, limits,
    parse_duration, set, whole_number,
};

#[derive(Clone, Default)]
pub(crate) struct BulkheadArgs {
    pub(crate) max: Option<Keyed<(u32, Span)>>,
    pub(crate) wait: Option<Keyed<DurationArg>>,
    /// `shared`, `bulkhead = EXPR`, `name`.
    pub(crate) owner: Owner,
    pub(crate) on_full: Option<Keyed<Box<Expr>>>,
}

impl Settings for BulkheadArgs {
    const KEYS: &'static [&'static str] = &["max", "wait", "shared", "bulkhead", "name", "on_full"];

    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        if self.owner.key(name, "bulkhead", "search", meta, errors)? {
            return Ok(());
        }
        let key = meta.path.span();
        match name {
            "max" => {
                if let Some(n) = whole_number(meta.value()?, name, limits::MAX_CONCURRENT, errors)?
                {
                    set(&mut self.max, key, name, n, errors);
                }
            }
            "wait" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set(&mut self.wait, key, name, d, errors);
                }
            }
            "on_full" => {
                let expected = "a `fn(BulkheadFull) -> E`";
                if let Some(hook) = hook_expr(meta.value()?, "on_full", expected, errors)? {
                    set(&mut self.on_full, key, name, hook, errors);
                }
            }
            // Not a key: reported by `parse_settings`.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self, unsettled: &Unsettled, errors: &mut Errors) {
        self.owner.conflicts(
            "bulkhead",
            "bulkhead",
            &[
                ("max", key_of(self.max.as_ref())),
                ("wait", key_of(self.wait.as_ref())),
            ],
            errors,
        );
        if let Some(Keyed {
            value: (n, span), ..
        }) = &self.max
            && (*n == 0 || *n > limits::MAX_CONCURRENT)
        {
            errors.at(
                *span,
                format!(
                    "`max` must be from 1 to {}: the calls that may run at once",
                    limits::MAX_CONCURRENT
                ),
            );
        }
        if let Some(wait) = &self.wait
            && wait.value.literal().is_none()
            && !self.owner.elsewhere()
            && unsettled.settled("shared")
            && unsettled.settled("bulkhead")
        {
            errors.at(
                wait.value.span(),
                "this function's bulkhead is a `static`, built once: `wait` must be a literal such as \"100ms\"; for a value known at run time, build a `Bulkhead` and pass it with `bulkhead = ..`",
            );
        }
    }
}
