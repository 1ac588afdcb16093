//! Typed arguments of `#[retry(..)]`, each value kept with its span.
//!
//! Parsing records every mistake it can recover from (unknown key,
//! duplicate, wrong value) and goes on, so one compile shows them all.

use core::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitBool, LitFloat, LitInt, LitStr, Token};

use crate::duration;

/// A duration: a literal with a unit, checked now, or an expression of
/// type `Duration`, evaluated when the call starts.
#[derive(Clone)]
pub(crate) enum DurationArg {
    Literal { value: Duration, span: Span },
    Expr(Box<Expr>),
}

impl DurationArg {
    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Literal { span, .. } => *span,
            Self::Expr(expr) => expr.span(),
        }
    }

    pub(crate) fn literal(&self) -> Option<Duration> {
        match self {
            Self::Literal { value, .. } => Some(*value),
            Self::Expr(_) => None,
        }
    }
}

#[derive(Clone)]
pub(crate) enum Factor {
    Literal { value: f64, span: Span },
    Expr(Box<Expr>),
}

#[derive(Clone)]
pub(crate) enum Backoff {
    None,
    Fixed(DurationArg),
    Linear {
        initial: DurationArg,
        step: DurationArg,
        max: DurationArg,
    },
    Exponential {
        initial: Option<DurationArg>,
        factor: Option<Factor>,
        max: Option<DurationArg>,
    },
    Decorrelated {
        initial: DurationArg,
        max: DurationArg,
    },
}

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

/// A value with the span of the key that set it (for "duplicate key" and
/// conflict messages).
#[derive(Clone)]
pub(crate) struct Keyed<T> {
    pub(crate) key: Span,
    pub(crate) value: T,
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
    pub(crate) unsettled: Unsettled,
}

/// What parsing could not make sure of, so that checks across settings
/// run on the arguments read so far without inventing errors: a key whose
/// value was refused is neither set nor surely absent, and after a syntax
/// error nothing further was read.
#[derive(Clone, Default)]
pub(crate) struct Unsettled {
    keys: Vec<String>,
    truncated: bool,
}

impl Unsettled {
    /// Whether `key` is known to be set as parsed, or known to be absent.
    pub(crate) fn settled(&self, key: &str) -> bool {
        !self.truncated && !self.keys.iter().any(|k| k == key)
    }
}

/// Runs a `syn::meta` parser over `tokens` with `key` for each setting,
/// collecting every error: a key whose parse recorded an error is
/// unsettled, and a syntax error (after which nothing is read) leaves the
/// rest unsettled. The arguments read so far are returned beside the
/// errors, so their checks run in the same compile.
pub(crate) fn parse_settings(
    tokens: TokenStream,
    unsettled: &mut Unsettled,
    errors: &mut Errors,
    mut key: impl FnMut(&ParseNestedMeta<'_>, &mut Errors) -> syn::Result<()>,
) {
    let parser = syn::meta::parser(|meta| {
        let before = errors.count();
        let result = key(&meta, errors);
        if (result.is_err() || errors.count() > before)
            && let Some(name) = meta.path.get_ident()
        {
            unsettled.keys.push(name.to_string());
        }
        result
    });
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
        unsettled.truncated = true;
    }
}

pub(crate) const RETRY_KEYS: &[&str] = &[
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

/// Collects errors; combined into one `syn::Error` at the end.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl core::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }

    /// Adds the errors of a check that returns them at once.
    pub(crate) fn merge(&mut self, checked: Result<(), syn::Error>) {
        if let Err(error) = checked {
            self.push(error);
        }
    }

    /// How many errors so far.
    pub(crate) fn count(&self) -> usize {
        self.0.as_ref().map_or(0, |all| all.into_iter().count())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The errors, for a caller that has recorded at least one.
    pub(crate) fn into_error(self) -> syn::Error {
        self.0
            .unwrap_or_else(|| syn::Error::new(Span::call_site(), "invalid arguments"))
    }
}

impl RetryArgs {
    /// Parses the tokens inside `#[retry(..)]`.
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
        let Some(name) = key_name(meta, "attempts", errors)? else {
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
            "attempts" => {
                if let Some(n) = whole_number(meta.value()?, "attempts", u32::MAX, errors)? {
                    set!(attempts, n);
                }
            }
            "backoff" => {
                let input = meta.value()?;
                if let Some(backoff) = parse_backoff(input, errors)? {
                    set!(backoff, backoff);
                }
            }
            "jitter" => {
                if let Some(jitter) = parse_jitter(meta.value()?, errors)? {
                    set!(jitter, jitter);
                }
            }
            "max_elapsed" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set!(max_elapsed, d);
                }
            }
            "max_retry_after" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set!(max_retry_after, d);
                }
            }
            // A function path or a closure: called inline on failure.
            "when" => {
                if let Some(hook) = parse_hook(meta, "when", "a `fn(&E) -> bool`", errors)? {
                    set!(when, hook);
                }
            }
            "on_retry" => {
                let signature = "a `fn(&E, &resilient::Attempt)`";
                if let Some(hook) = parse_hook(meta, "on_retry", signature, errors)? {
                    set!(on_retry, hook);
                }
            }
            "retry_after" => {
                if let Some(value) = parse_retry_after(meta.value()?, errors)? {
                    set!(retry_after, value);
                }
            }
            "policy" => set!(policy, Box::new(meta.value()?.parse::<Expr>()?)),
            "clone" => {
                if meta.input.peek(syn::token::Paren) {
                    set!(clone, parse_clone(meta, errors)?);
                } else {
                    errors.at(
                        key,
                        "write the arguments to clone in parentheses: `clone(payload)`",
                    );
                    skip_value(meta)?;
                }
            }
            other => {
                errors.at(
                    key,
                    format!("unknown argument `{other}`{}", suggest(other, RETRY_KEYS)),
                );
                skip_value(meta)?;
            }
        }
        Ok(())
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

pub(crate) fn hook_expr(
    input: ParseStream<'_>,
    key: &str,
    expected: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Box<Expr>>> {
    let expr: Expr = input.parse()?;
    if matches!(expr, Expr::Path(_) | Expr::Closure(_) | Expr::Field(_)) {
        return Ok(Some(Box::new(expr)));
    }
    errors.at(
        expr.span(),
        format!("`{key}` takes {expected}: the name of a function, or a closure"),
    );
    Ok(None)
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

/// Consumes `= value` or `(..)` after a key that is being rejected.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let _: TokenStream = content.parse()?;
    }
    Ok(())
}

/// The name of a `key = value` argument. A path such as `a::b` is
/// reported (with `example` as the kind of name expected) and skipped.
pub(crate) fn key_name(
    meta: &ParseNestedMeta<'_>,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<String>> {
    if let Some(name) = meta.path.get_ident() {
        return Ok(Some(name.to_string()));
    }
    let error = meta.error(format!("expected a setting name such as `{example}`"));
    skip_value(meta)?;
    errors.push(error);
    Ok(None)
}

/// A number literal, whole or not, of any size; `None` (nothing consumed)
/// for anything else. Ranges are checked later, with the limits in the
/// message, so a huge number never slips through as "unset".
pub(crate) fn number_literal(input: ParseStream<'_>) -> syn::Result<Option<(f64, Span)>> {
    let (digits, span) = if input.peek(LitFloat) {
        let lit: LitFloat = input.parse()?;
        (lit.base10_digits().to_owned(), lit.span())
    } else if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        (lit.base10_digits().to_owned(), lit.span())
    } else {
        return Ok(None);
    };
    // Rust's decimal literals always parse as `f64` (huge ones as infinity).
    Ok(digits.parse().ok().map(|value| (value, span)))
}

/// A whole-number literal. One too large for a `u32` is reported with
/// the range `1..=max`; smaller ones are range-checked with the other
/// settings, so every mistake shows up at once.
pub(crate) fn whole_number(
    input: ParseStream<'_>,
    key: &str,
    max: u32,
    errors: &mut Errors,
) -> syn::Result<Option<(u32, Span)>> {
    if !input.peek(LitInt) {
        let value: Expr = input.parse()?;
        errors.at(
            value.span(),
            format!("`{key}` takes a whole number, such as `{key} = 5`"),
        );
        return Ok(None);
    }
    let lit: LitInt = input.parse()?;
    if let Ok(n) = lit.base10_parse::<u32>() {
        return Ok(Some((n, lit.span())));
    }
    errors.at(lit.span(), format!("`{key}` must be from 1 to {max}"));
    Ok(None)
}

/// `, did you mean `x`?` for the closest known name, if close enough.
pub(crate) fn suggest(unknown: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map_or_else(String::new, |(_, k)| format!(", did you mean `{k}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A duration value: a string literal with a unit, or any expression.
pub(crate) fn parse_duration(
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<DurationArg>> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Ok(match duration::parse(&lit.value()) {
            Ok(value) => Some(DurationArg::Literal {
                value,
                span: lit.span(),
            }),
            Err(message) => {
                errors.at(lit.span(), message);
                None
            }
        });
    }
    if input.peek(LitInt) || input.peek(LitFloat) {
        let lit: Expr = input.parse()?;
        errors.at(
            lit.span(),
            "a duration needs a unit: write it as a string such as \"100ms\" or \"2s\"",
        );
        return Ok(None);
    }
    Ok(Some(DurationArg::Expr(Box::new(input.parse()?))))
}

fn parse_factor(input: ParseStream<'_>) -> syn::Result<Factor> {
    Ok(match number_literal(input)? {
        Some((value, span)) => Factor::Literal { value, span },
        None => Factor::Expr(Box::new(input.parse()?)),
    })
}

const BACKOFFS: &[&str] = &["exponential", "fixed", "linear", "decorrelated", "none"];

fn parse_backoff(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Backoff>> {
    let kind: Ident = input.parse()?;
    let name = kind.to_string();
    let content = if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        Some(content.parse::<TokenStream>()?)
    } else {
        None
    };
    let needs_parens = |errors: &mut Errors, example: &str| {
        errors.at(
            kind.span(),
            format!("`{name}` needs its settings: `{example}`"),
        );
    };
    match name.as_str() {
        "none" => {
            if content.is_some() {
                errors.at(kind.span(), "`none` takes no settings");
            }
            Ok(Some(Backoff::None))
        }
        "fixed" => {
            let Some(content) = content else {
                needs_parens(errors, "fixed(\"500ms\")");
                return Ok(None);
            };
            let parser = |input: ParseStream<'_>| {
                let d = parse_duration(input, errors)?;
                if !input.is_empty() {
                    return Err(input.error("`fixed` takes one duration: `fixed(\"500ms\")`"));
                }
                Ok(d)
            };
            Ok(parser.parse2(content)?.map(Backoff::Fixed))
        }
        "exponential" | "linear" | "decorrelated" => parse_schedule(&kind, content, errors),
        other => {
            errors.at(
                kind.span(),
                format!(
                    "unknown backoff `{other}`: expected `exponential(..)`, `fixed(..)`, `linear(..)`, `decorrelated(..)` or `none`{}",
                    suggest(other, BACKOFFS)
                ),
            );
            Ok(None)
        }
    }
}

/// `exponential("1s")`: settings without names, reported with an example.
fn positional(name: &str, content: &TokenStream, errors: &mut Errors) -> bool {
    let named = content.is_empty()
        || matches!(
            content.clone().into_iter().next(),
            Some(proc_macro2::TokenTree::Ident(_))
        );
    if !named {
        let example = match name {
            "exponential" => "exponential(initial = \"100ms\", max = \"10s\")",
            "linear" => "linear(initial = \"100ms\", step = \"100ms\", max = \"2s\")",
            _ => "decorrelated(initial = \"100ms\", max = \"10s\")",
        };
        errors.at(
            content.span(),
            format!("`{name}` takes named settings: `{example}`"),
        );
    }
    !named
}

/// `exponential(..)`, `linear(..)` or `decorrelated(..)`: named settings.
fn parse_schedule(
    kind: &Ident,
    content: Option<TokenStream>,
    errors: &mut Errors,
) -> syn::Result<Option<Backoff>> {
    let name = kind.to_string();
    let keys: &[&str] = match name.as_str() {
        "exponential" => &["initial", "factor", "max"],
        "linear" => &["initial", "step", "max"],
        _ => &["initial", "max"],
    };
    let mut initial = None;
    let mut step = None;
    let mut max = None;
    let mut factor = None;
    if let Some(content) = content {
        if positional(&name, &content, errors) {
            return Ok(None);
        }
        let parser = syn::meta::parser(|meta| {
            let Some(key) = key_name(&meta, keys[0], errors)? else {
                return Ok(());
            };
            if !keys.contains(&key.as_str()) {
                errors.at(
                    meta.path.span(),
                    format!(
                        "`{name}` has no setting `{key}`: it takes {}{}",
                        keys.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        suggest(&key, keys),
                    ),
                );
                return skip_value(&meta);
            }
            let slot = match key.as_str() {
                "initial" => &mut initial,
                "step" => &mut step,
                "max" => &mut max,
                _ => {
                    if factor.is_some() {
                        errors.at(meta.path.span(), "duplicate setting `factor`");
                    }
                    factor = Some(parse_factor(meta.value()?)?);
                    return Ok(());
                }
            };
            if slot.is_some() {
                errors.at(meta.path.span(), format!("duplicate setting `{key}`"));
            }
            *slot = parse_duration(meta.value()?, errors)?;
            Ok(())
        });
        parser.parse2(content)?;
    }
    // All missing settings in one message, with a complete example.
    let mut require = |settings: &[(&str, bool)], example: &str| {
        let missing: Vec<String> = settings
            .iter()
            .filter(|(_, present)| !present)
            .map(|(key, _)| format!("`{key}`"))
            .collect();
        if let Some((last, rest)) = missing.split_last() {
            let list = if rest.is_empty() {
                last.clone()
            } else {
                format!("{} and {last}", rest.join(", "))
            };
            errors.at(kind.span(), format!("`{name}` needs {list}: `{example}`"));
        }
    };
    Ok(match (name.as_str(), initial, step, max) {
        ("exponential", initial, _, max) => Some(Backoff::Exponential {
            initial,
            factor,
            max,
        }),
        ("linear", Some(initial), Some(step), Some(max)) => {
            Some(Backoff::Linear { initial, step, max })
        }
        ("linear", initial, step, max) => {
            require(
                &[
                    ("initial", initial.is_some()),
                    ("step", step.is_some()),
                    ("max", max.is_some()),
                ],
                "linear(initial = \"100ms\", step = \"100ms\", max = \"2s\")",
            );
            None
        }
        (_, Some(initial), _, Some(max)) => Some(Backoff::Decorrelated { initial, max }),
        (_, initial, _, max) => {
            require(
                &[("initial", initial.is_some()), ("max", max.is_some())],
                "decorrelated(initial = \"100ms\", max = \"10s\")",
            );
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn error(tokens: TokenStream) -> String {
        match RetryArgs::parse(tokens) {
            Ok(_) => String::from("no error"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn every_key_parses() {
        let args = RetryArgs::parse(quote!(
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
}
