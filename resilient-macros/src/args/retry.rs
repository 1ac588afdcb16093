//! `#[retry(..)]`: its keys, their parsing and the checks the runtime
//! would make, on literal values.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, LitBool, LitStr, Token};

use super::backoff::{self, Backoff};
use super::{
    DurationArg, Errors, Keyed, Settings, Unsettled, conflicts, hook_expr, key_of, parse_duration,
    set, skip_value, suggest, whole_number,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    None,
    Full,
    Equal,
}

#[derive(Clone)]
pub(crate) enum RetryAfter {
    Enabled(bool),
    /// A `fn(&E) -> Option<Duration>` path, or a closure.
    Reader(Box<Expr>),
}

#[derive(Clone, Default)]
pub(crate) struct RetryArgs {
    pub(crate) attempts: Option<Keyed<(u32, Span)>>,
    pub(crate) backoff: Option<Keyed<Backoff>>,
    pub(crate) jitter: Option<Keyed<Jitter>>,
    pub(crate) max_elapsed: Option<Keyed<DurationArg>>,
    pub(crate) when: Option<Keyed<Box<Expr>>>,
    pub(crate) retry_after: Option<Keyed<RetryAfter>>,
    pub(crate) max_retry_after: Option<Keyed<DurationArg>>,
    pub(crate) on_retry: Option<Keyed<Box<Expr>>>,
    pub(crate) policy: Option<Keyed<Box<Expr>>>,
    pub(crate) clone: Option<Keyed<Vec<Ident>>>,
}

impl Settings for RetryArgs {
    const KEYS: &'static [&'static str] = &[
        "attempts",
        "backoff",
        "jitter",
        "max_elapsed",
        "when",
        "retry_after",
        "max_retry_after",
        "on_retry",
        "policy",
        "clone",
    ];

    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let key = meta.path.span();
        match name {
            "attempts" => {
                if let Some(n) = whole_number(meta.value()?, "attempts", u32::MAX, errors)? {
                    set(&mut self.attempts, key, name, n, errors);
                }
            }
            "backoff" => {
                if let Some(value) = backoff::parse(meta.value()?, errors)? {
                    set(&mut self.backoff, key, name, value, errors);
                }
            }
            "jitter" => {
                if let Some(jitter) = parse_jitter(meta.value()?, errors)? {
                    set(&mut self.jitter, key, name, jitter, errors);
                }
            }
            "max_elapsed" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set(&mut self.max_elapsed, key, name, d, errors);
                }
            }
            "max_retry_after" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set(&mut self.max_retry_after, key, name, d, errors);
                }
            }
            // A function path or a closure: called inline on failure.
            "when" => {
                if let Some(hook) = parse_hook(meta, "when", "a `fn(&E) -> bool`", errors)? {
                    set(&mut self.when, key, name, hook, errors);
                }
            }
            "on_retry" => {
                let signature = "a `fn(&E, &resilient::Attempt)`";
                if let Some(hook) = parse_hook(meta, "on_retry", signature, errors)? {
                    set(&mut self.on_retry, key, name, hook, errors);
                }
            }
            "retry_after" => {
                if let Some(value) = parse_retry_after(meta.value()?, errors)? {
                    set(&mut self.retry_after, key, name, value, errors);
                }
            }
            "policy" => {
                let policy = Box::new(meta.value()?.parse::<Expr>()?);
                set(&mut self.policy, key, name, policy, errors);
            }
            "clone" => {
                if meta.input.peek(syn::token::Paren) {
                    let names = parse_clone(meta, errors)?;
                    set(&mut self.clone, key, name, names, errors);
                } else {
                    errors.at(
                        key,
                        "write the arguments to clone in parentheses: `clone(payload)`",
                    );
                    skip_value(meta)?;
                }
            }
            // Not a key: reported by `parse_settings`.
            _ => {}
        }
        Ok(())
    }

    /// The runtime's rules for a policy, on literal values, at the exact
    /// token.
    fn validate(&self, unsettled: &Unsettled, errors: &mut Errors) {
        if let Some(Keyed {
            value: (0, span), ..
        }) = &self.attempts
        {
            errors.at(
                *span,
                "`attempts` must be at least 1 (it counts the first attempt; 1 means no retry)",
            );
        }
        if self.policy.is_some() {
            let schedule = [
                ("attempts", key_of(self.attempts.as_ref())),
                ("backoff", key_of(self.backoff.as_ref())),
                ("jitter", key_of(self.jitter.as_ref())),
                ("max_elapsed", key_of(self.max_elapsed.as_ref())),
                ("max_retry_after", key_of(self.max_retry_after.as_ref())),
            ];
            conflicts(&schedule, errors, |key| {
                format!(
                    "`{key}` cannot be combined with `policy`: set it in the `RetryPolicy` instead"
                )
            });
        }
        if let Some(value) = &self.backoff {
            // A `backoff` with a refused setting is missing it: not absent.
            backoff::check(&value.value, unsettled.settled("backoff"), errors);
            if let (Backoff::Decorrelated { .. }, Some(jitter)) = (&value.value, &self.jitter)
                && jitter.value != Jitter::None
            {
                errors.at(
                    jitter.key,
                    "`decorrelated` draws its own random delays and takes no `jitter`: remove `jitter`",
                );
            }
        }
        for (key, value) in [
            ("max_elapsed", &self.max_elapsed),
            ("max_retry_after", &self.max_retry_after),
        ] {
            if let Some(Keyed { value, .. }) = value {
                backoff::nonzero(value, key, "", errors);
            }
        }
    }
}

impl RetryArgs {
    /// Each `clone(name)` must be an argument; its copy is `let mut`, so a
    /// `mut` on the parameter itself would only draw `unused_mut`: dropped
    /// (it is not part of the signature callers see).
    pub(crate) fn check_clones(&self, function: &mut ItemFn) -> syn::Result<()> {
        let Some(clone) = &self.clone else {
            return Ok(());
        };
        let mut errors = Errors::default();
        for name in &clone.value {
            let param = function
                .sig
                .inputs
                .iter_mut()
                .find_map(|input| match input {
                    syn::FnArg::Typed(typed) => match &mut *typed.pat {
                        syn::Pat::Ident(ident) if ident.ident == *name => Some(ident),
                        _ => None,
                    },
                    syn::FnArg::Receiver(_) => None,
                });
            if let Some(param) = param {
                param.mutability = None;
            } else {
                errors.at(
                    name.span(),
                    format!("`{name}` is not an argument of `{}`", function.sig.ident),
                );
            }
        }
        errors.finish()
    }
}

fn parse_retry_after(
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<RetryAfter>> {
    if input.peek(LitBool) {
        return Ok(Some(RetryAfter::Enabled(input.parse::<LitBool>()?.value)));
    }
    let expected = "`true`, `false` or a `fn(&E) -> Option<Duration>`";
    Ok(hook_expr(input, "retry_after", expected, errors)?.map(RetryAfter::Reader))
}

/// `key = path` or `key = |..| ..`: anything else is reported, not fatal.
fn parse_hook(
    meta: &ParseNestedMeta<'_>,
    key: &str,
    signature: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Box<Expr>>> {
    hook_expr(meta.value()?, key, signature, errors)
}

fn parse_jitter(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Jitter>> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        errors.at(
            lit.span(),
            format!("write `jitter = {}` without quotes", lit.value()),
        );
        return Ok(None);
    }
    let ident: Ident = input.parse()?;
    Ok(match ident.to_string().as_str() {
        "full" => Some(Jitter::Full),
        "equal" => Some(Jitter::Equal),
        "none" => Some(Jitter::None),
        other => {
            errors.at(
                ident.span(),
                format!(
                    "unknown jitter `{other}`: expected `full`, `equal` or `none`{}",
                    suggest(other, &["full", "equal", "none"])
                ),
            );
            None
        }
    })
}

/// `clone(a, b)`: names of owned arguments to clone per attempt.
fn parse_clone(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Vec<Ident>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let mut names = Vec::new();
    for name in content.parse_terminated(Ident::parse_any_ident, Token![,])? {
        if name == "self" {
            errors.at(
                name.span(),
                "`clone(self)` is not supported: a method body is re-run with `self` borrowed; clone the fields you consume instead",
            );
        } else {
            names.push(name);
        }
    }
    Ok(names)
}

trait ParseAnyIdent {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl ParseAnyIdent for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        syn::ext::IdentExt::parse_any(input)
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::*;
    use crate::args::parse_settings;

    fn parse(tokens: TokenStream) -> Result<RetryArgs, syn::Error> {
        let (args, errors) = parse_settings::<RetryArgs>(tokens);
        errors.finish().map(|()| args)
    }

    /// Every error, joined; "no error" (or "ok") if none.
    fn error(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => String::from("no error"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    fn check(tokens: TokenStream) -> String {
        match error(tokens).as_str() {
            "no error" => String::from("ok"),
            other => other.to_owned(),
        }
    }

    #[test]
    fn every_key_parses() {
        let args = parse(quote!(
            attempts = 5,
            backoff = exponential(initial = "100ms", factor = 1.5, max = "10s"),
            jitter = equal,
            max_elapsed = "30s",
            when = is_transient,
            retry_after = false,
            max_retry_after = self.cap,
            on_retry = log,
            clone(a, b)
        ))
        .ok()
        .unwrap();
        assert_eq!(args.attempts.unwrap().value.0, 5);
        assert!(args.jitter.unwrap().value == Jitter::Equal);
        assert_eq!(args.clone.unwrap().value.len(), 2);
        assert!(matches!(
            args.max_retry_after.unwrap().value,
            DurationArg::Expr(_)
        ));
    }

    #[test]
    fn unknown_keys_suggest_and_all_mistakes_are_reported() {
        assert_eq!(
            error(quote!(attemps = 3)),
            "unknown argument `attemps`, did you mean `attempts`?"
        );
        assert_eq!(
            error(quote!(attemps = 3, jitter = fulll, max_elapsed = "5sec")),
            "unknown argument `attemps`, did you mean `attempts`? | unknown jitter `fulll`: expected `full`, `equal` or `none`, did you mean `full`? | unknown unit `sec` in \"5sec\": expected one of `ns`, `us`, `ms`, `s`, `m`, `h`"
        );
        assert_eq!(error(quote!(zzz = 1)), "unknown argument `zzz`");
        assert_eq!(
            error(quote!(attempts = 1, attempts = 2)),
            "duplicate argument `attempts`"
        );
    }

    #[test]
    fn backoff_forms() {
        assert_eq!(error(quote!(backoff = none)), "no error");
        assert_eq!(error(quote!(backoff = fixed("1s"))), "no error");
        assert_eq!(error(quote!(backoff = fixed(self.delay))), "no error");
        assert_eq!(
            error(quote!(backoff = linear(initial = "1s", max = "2s"))),
            "`linear` needs `step`: `linear(initial = \"100ms\", step = \"100ms\", max = \"2s\")`"
        );
        assert_eq!(
            error(quote!(backoff = expo(initial = "1s"))),
            "unknown backoff `expo`: expected `exponential(..)`, `fixed(..)`, `linear(..)`, `decorrelated(..)` or `none`"
        );
        assert_eq!(
            error(quote!(backoff = exponential(inital = "1s"))),
            "`exponential` has no setting `inital`: it takes `initial`, `factor`, `max`, did you mean `initial`?"
        );
        assert_eq!(
            error(quote!(max_elapsed = 5)),
            "a duration needs a unit: write it as a string such as \"100ms\" or \"2s\""
        );
    }

    #[test]
    fn clone_self_is_refused() {
        assert!(error(quote!(clone(self))).starts_with("`clone(self)` is not supported"));
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
