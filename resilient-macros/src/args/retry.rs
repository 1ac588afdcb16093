//! `#[retry(..)]`: its keys, their parsing and the checks the runtime
//! would make, on literal values.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, LitBool, LitStr, Token};

use super::backoff::{self, Backoff};
use super::{
    DurationArg, Errors, Keyed, Settings, Unsettled, budget_expr, conflicts, hook_expr, key_of,
    parse_duration, set, skip_value, suggest, whole_number,
};
use crate::item;

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
    /// A `RetryBudget`: a `static`'s path or an expression.
    pub(crate) budget: Option<Keyed<Box<Expr>>>,
    pub(crate) clone: Option<Keyed<Vec<Ident>>>,
    /// Arguments whose state carries from one attempt to the next (a
    /// channel, a stream): not made fresh per attempt.
    pub(crate) keep: Option<Keyed<Vec<Ident>>>,
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
        "budget",
        "clone",
        "keep",
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
            "budget" => {
                if let Some(budget) = budget_expr(meta, errors)? {
                    set(&mut self.budget, key, name, budget, errors);
                }
            }
            "clone" | "keep" => {
                if meta.input.peek(syn::token::Paren) {
                    let names = parse_names(meta, name, errors)?;
                    let slot = if name == "clone" {
                        &mut self.clone
                    } else {
                        &mut self.keep
                    };
                    set(slot, key, name, names, errors);
                } else {
                    let example = if name == "clone" {
                        "write the arguments to clone in parentheses: `clone(payload)`"
                    } else {
                        "write the arguments to keep in parentheses: `keep(receiver)`"
                    };
                    errors.at(key, example);
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
    /// The names in `clone(..)` and `keep(..)`.
    pub(crate) fn cloned(&self) -> impl Iterator<Item = &Ident> {
        self.clone.iter().flat_map(|k| &k.value)
    }

    pub(crate) fn kept(&self) -> impl Iterator<Item = &Ident> {
        self.keep.iter().flat_map(|k| &k.value)
    }

    /// The checks against the function's arguments: every name in
    /// `clone(..)` and `keep(..)` is one of them (in one of the two at
    /// most), and an argument a retry cannot start afresh (`ref mut`,
    /// `mut self`) is in `keep(..)`.
    pub(crate) fn check_arguments(&self, function: &ItemFn) -> syn::Result<()> {
        let bindings = item::bindings(function);
        let mut errors = Errors::default();
        let function_name = &function.sig.ident;
        for name in self.cloned().chain(self.kept()) {
            if name == "self" {
                if !bindings.self_by_value {
                    errors.at(
                        name.span(),
                        format!("`keep(self)` is for a method that takes `self` by value, and `{function_name}` does not"),
                    );
                }
            } else if !bindings.names.contains(name) {
                errors.at(
                    name.span(),
                    format!("`{name}` is not an argument of `{function_name}`"),
                );
            }
        }
        for name in self.kept().filter(|k| self.cloned().any(|c| c == *k)) {
            errors.at(
                name.span(),
                format!("`{name}` is in both `clone(..)` and `keep(..)`: clone it for each attempt, or keep it across attempts"),
            );
        }
        let kept = |name: &Ident| self.kept().any(|k| k == name);
        for name in bindings.ref_mut.iter().filter(|n| !kept(n)) {
            errors.at(
                name.span(),
                format!("`#[retry]` starts each attempt from the caller's arguments, and `ref mut {name}` would carry what an earlier attempt did: bind it as `mut {name}` (copied per attempt), or write `keep({name})` to carry it on"),
            );
        }
        if let Some(token) = bindings.mut_self.as_ref().filter(|s| !kept(s)) {
            errors.at(
                token.span(),
                "`#[retry]` starts each attempt from the caller's arguments, and `mut self` cannot be copied per attempt: take `&mut self`, or write `keep(self)` to let each attempt carry on from the last",
            );
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

/// `clone(a, b)` (names of arguments to clone per attempt) or `keep(a, b)`
/// (names whose state carries on, `self` included).
fn parse_names(
    meta: &ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<Vec<Ident>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let mut names = Vec::new();
    for name in content.parse_terminated(Ident::parse_any_ident, Token![,])? {
        if name == "self" && key == "clone" {
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
            budget = self.budget,
            clone(a, b)
        ))
        .ok()
        .unwrap();
        assert_eq!(args.attempts.unwrap().value.0, 5);
        assert!(matches!(*args.budget.unwrap().value, Expr::Field(_)));
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

    /// A misspelt setting of a schedule is not also reported missing.
    #[test]
    fn a_misspelt_schedule_setting_is_one_error() {
        assert_eq!(
            error(quote!(
                backoff = linear(initial = "1s", stepp = "1s", max = "2s")
            )),
            "`linear` has no setting `stepp`: it takes `initial`, `step`, `max`, did you mean `step`?"
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
