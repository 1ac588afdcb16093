//! Arguments of `#[fallback(..)]`: `with = F`, `value = EXPR` or
//! `default`, and an optional `when = F`.

use proc_macro2::{Span, TokenStream};
use syn::Expr;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;

use crate::args::{Errors, Keyed, hook_expr, key_name, skip_value, suggest};

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

const KEYS: &[&str] = &["with", "value", "default", "when"];

impl FallbackArgs {
    pub(crate) fn parse(tokens: TokenStream) -> Result<Self, syn::Error> {
        let mut errors = Errors::default();
        let mut forms: Vec<Keyed<Form>> = Vec::new();
        let mut when: Option<Box<Expr>> = None;
        let parser = syn::meta::parser(|meta| key(&meta, &mut forms, &mut when, &mut errors));
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        if forms.len() > 1 {
            for extra in &forms[1..] {
                errors.at(
                    extra.key,
                    "`#[fallback]` takes one of `with`, `value` and `default`: remove this one",
                );
            }
        }
        let form = forms.into_iter().next().map(|k| k.value);
        // Unless a mistake already explains it (a misspelt `default`).
        if form.is_none() && errors.is_empty() {
            errors.at(
                Span::call_site(),
                "`#[fallback]` needs what to fall back to: `with = handler`, `value = EXPR` or `default`",
            );
        }
        let Some(form) = form else {
            return Err(errors.into_error());
        };
        errors.finish().map(|()| Self { form, when })
    }
}

fn key(
    meta: &ParseNestedMeta<'_>,
    forms: &mut Vec<Keyed<Form>>,
    when: &mut Option<Box<Expr>>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let Some(name) = key_name(meta, "with", errors)? else {
        return Ok(());
    };
    let key = meta.path.span();
    match name.as_str() {
        "with" => {
            let expected = "a `fn(E) -> Result<T, E>` (or an async one)";
            if let Some(handler) = hook_expr(meta.value()?, "with", expected, errors)? {
                forms.push(Keyed {
                    key,
                    value: Form::With(handler),
                });
            }
        }
        "value" => {
            let value: Expr = meta.value()?.parse()?;
            forms.push(Keyed {
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
            forms.push(Keyed {
                key,
                value: Form::Default,
            });
        }
        "when" => {
            if when.is_some() {
                errors.at(key, "duplicate argument `when`");
            }
            *when = hook_expr(meta.value()?, "when", "a `fn(&E) -> bool`", errors)?;
        }
        other => {
            errors.at(
                key,
                format!("unknown argument `{other}`{}", suggest(other, KEYS)),
            );
            skip_value(meta)?;
        }
    }
    Ok(())
}
