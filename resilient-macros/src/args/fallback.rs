//! Arguments of `#[fallback(..)]`: `with = F`, `value = EXPR` or
//! `default`, and an optional `when = F`.

use proc_macro2::{Span, TokenStream};
use syn::Expr;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;

use super::{Errors, Keyed, Settings, Unsettled, hook_expr, parse_settings, skip_value};

pub(crate) enum Form {
    /// `with = F`: `F(error)` gives the result (sync or async).
    With(Box<Expr>),
    /// `value = EXPR`: `Ok(EXPR)`.
    Value(Box<Expr>),
    /// `default`: `Ok(T::default())`.
    Default,
}

pub(crate) struct FallbackArgs {
    pub(crate) form: Form,
    pub(crate) when: Option<Box<Expr>>,
}

impl FallbackArgs {
    /// The arguments, if they name what to fall back to, and every mistake.
    pub(crate) fn parse(tokens: TokenStream) -> (Option<Self>, Errors) {
        let (settings, errors) = parse_settings::<Read>(tokens);
        let form = settings.forms.into_iter().next().map(|k| k.value);
        let when = settings.when.map(|k| k.value);
        (form.map(|form| Self { form, when }), errors)
    }
}

/// What the settings said, before the checks: several forms are reported
/// together.
#[derive(Default)]
struct Read {
    forms: Vec<Keyed<Form>>,
    when: Option<Keyed<Box<Expr>>>,
}

impl Settings for Read {
    const KEYS: &'static [&'static str] = &["with", "value", "default", "when"];

    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let key = meta.path.span();
        match name {
            "with" => {
                let expected = "a `fn(E) -> Result<T, E>` (or an async one)";
                if let Some(handler) = hook_expr(meta.value()?, "with", expected, errors)? {
                    self.forms.push(Keyed {
                        key,
                        value: Form::With(handler),
                    });
                }
            }
            "value" => {
                let value: Expr = meta.value()?.parse()?;
                self.forms.push(Keyed {
                    key,
                    value: Form::Value(Box::new(value)),
                });
            }
            "default" => {
                if meta.input.peek(syn::Token![=]) {
                    errors.at(
                        key,
                        "`default` takes no value: write `#[fallback(default)]`",
                    );
                    skip_value(meta)?;
                }
                self.forms.push(Keyed {
                    key,
                    value: Form::Default,
                });
            }
            "when" => {
                if self.when.is_some() {
                    errors.at(key, "duplicate argument `when`");
                }
                self.when = hook_expr(meta.value()?, "when", "a `fn(&E) -> bool`", errors)?
                    .map(|value| Keyed { key, value });
            }
            // Not a key: reported by `parse_settings`.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self, _: &Unsettled, errors: &mut Errors) {
        for extra in self.forms.iter().skip(1) {
            errors.at(
                extra.key,
                "`#[fallback]` takes one of `with`, `value` and `default`: remove this one",
            );
        }
        // Unless a mistake already explains it (a misspelt `default`).
        if self.forms.is_empty() && errors.is_empty() {
            errors.at(
                Span::call_site(),
                "`#[fallback]` needs what to fall back to: `with = handler`, `value = EXPR` or `default`",
            );
        }
    }
}
