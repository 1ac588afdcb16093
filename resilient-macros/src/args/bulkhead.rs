//! Typed arguments of `#[bulkhead(..)]`, each value with its span, and
//! their checks.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Path};

use super::{
    DurationArg, Errors, Keyed, Settings, Unsettled, conflicts, hook_expr, key_of, limits,
    parse_duration, set, whole_number,
};

#[derive(Clone, Default)]
pub(crate) struct BulkheadArgs {
    pub(crate) max: Option<Keyed<(u32, Span)>>,
    pub(crate) wait: Option<Keyed<DurationArg>>,
    pub(crate) shared: Option<Keyed<Path>>,
    pub(crate) bulkhead: Option<Keyed<Box<Expr>>>,
    pub(crate) name: Option<Keyed<LitStr>>,
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
            "shared" => {
                let path = meta.value()?.parse::<Path>()?;
                set(&mut self.shared, key, name, path, errors);
            }
            "bulkhead" => {
                let expr = Box::new(meta.value()?.parse::<Expr>()?);
                set(&mut self.bulkhead, key, name, expr, errors);
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
                        "`name` takes a string literal, such as `name = \"search\"`",
                    );
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
        if let (Some(_), Some(bulkhead)) = (&self.shared, &self.bulkhead) {
            errors.at(
                bulkhead.key,
                "`bulkhead` cannot be combined with `shared`: choose the `static` (`shared`) or an instance (`bulkhead`)",
            );
        }
        let owner = self
            .shared
            .as_ref()
            .map(|_| "shared")
            .or_else(|| self.bulkhead.as_ref().map(|_| "bulkhead"));
        if let Some(owner) = owner {
            let settings = [
                ("max", key_of(self.max.as_ref())),
                ("wait", key_of(self.wait.as_ref())),
                ("name", key_of(self.name.as_ref())),
            ];
            conflicts(&settings, errors, |key| {
                format!(
                    "`{key}` cannot be combined with `{owner}`: that bulkhead was built with its own settings"
                )
            });
        }
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
            && self.shared.is_none()
            && self.bulkhead.is_none()
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
