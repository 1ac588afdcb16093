//! The attributes' arguments: one module per attribute, holding its keys,
//! its parsing and its checks, on the toolkit here that they share.
//!
//! Parsing records every mistake it can recover from (unknown key,
//! duplicate, wrong value) and goes on; the checks across settings then
//! run on whatever could be read, so one compile shows every mistake.
//! Each value keeps its span, for errors on the exact token.

pub(crate) mod backoff;
pub(crate) mod breaker;
pub(crate) mod bulkhead;
pub(crate) mod duration;
pub(crate) mod fallback;
pub(crate) mod hedge;
pub(crate) mod limits;
pub(crate) mod rate_limit;
pub(crate) mod retry;
pub(crate) mod timeout;

use core::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, LitFloat, LitInt, LitStr, Token};

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

/// A value with the span of the key that set it (for "duplicate key" and
/// conflict messages).
#[derive(Clone)]
pub(crate) struct Keyed<T> {
    pub(crate) key: Span,
    pub(crate) value: T,
}

/// `name = "…"`: a string literal (`example` shows one in the error).
pub(crate) fn name_literal(
    meta: &ParseNestedMeta<'_>,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    let input = meta.value()?;
    if input.peek(LitStr) {
        return input.parse::<LitStr>().map(Some);
    }
    let value: Expr = input.parse()?;
    errors.at(
        value.span(),
        format!("`name` takes a string literal, such as `name = \"{example}\"`"),
    );
    Ok(None)
}

/// `budget = EXPR`: a `RetryBudget`'s path or an expression; a literal is
/// reported.
pub(crate) fn budget_expr(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<Box<Expr>>> {
    let budget = meta.value()?.parse::<Expr>()?;
    if let Expr::Lit(literal) = &budget {
        errors.at(
            literal.span(),
            "`budget` takes a `RetryBudget`, not a literal: name a `static` built with `RetryBudget::builder()`, or an expression such as `self.budget`",
        );
        return Ok(None);
    }
    Ok(Some(Box::new(budget)))
}

/// The keys of a layer whose state can live outside the function:
/// `shared = PATH` (a `static` of the user's), an instance key
/// (`bulkhead = EXPR`, `limiter = EXPR`: one the caller owns), and
/// `name = "…"` for the function's own.
#[derive(Clone, Default)]
pub(crate) struct Owner {
    pub(crate) shared: Option<Keyed<syn::Path>>,
    pub(crate) instance: Option<Keyed<Box<Expr>>>,
    pub(crate) name: Option<Keyed<LitStr>>,
}

impl Owner {
    /// Reads `key` if it is one of the three (`instance` is the name of
    /// the instance key, `example` a name for the `name` error); whether
    /// it was.
    pub(crate) fn key(
        &mut self,
        key: &str,
        instance: &str,
        example: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<bool> {
        let span = meta.path.span();
        if key == "shared" {
            let path = meta.value()?.parse::<syn::Path>()?;
            set(&mut self.shared, span, key, path, errors);
        } else if key == instance {
            let expr = Box::new(meta.value()?.parse::<Expr>()?);
            set(&mut self.instance, span, key, expr, errors);
        } else if key == "name" {
            if let Some(literal) = name_literal(meta, example, errors)? {
                set(&mut self.name, span, key, literal, errors);
            }
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Whether the state lives elsewhere (`shared` or the instance).
    pub(crate) fn elsewhere(&self) -> bool {
        self.shared.is_some() || self.instance.is_some()
    }

    /// With `shared` or the instance, `settings` would be ignored: each
    /// is an error, as is giving both. `what` names the state ("bulkhead").
    pub(crate) fn conflicts(
        &self,
        instance: &str,
        what: &str,
        settings: &[(&str, Option<Span>)],
        errors: &mut Errors,
    ) {
        if let (Some(_), Some(given)) = (&self.shared, &self.instance) {
            errors.at(
                given.key,
                format!(
                    "`{instance}` cannot be combined with `shared`: choose the `static` (`shared`) or an instance (`{instance}`)"
                ),
            );
        }
        let owner = if self.shared.is_some() {
            "shared"
        } else if self.instance.is_some() {
            instance
        } else {
            return;
        };
        let mut all = settings.to_vec();
        all.push(("name", key_of(self.name.as_ref())));
        conflicts(&all, errors, |key| {
            format!(
                "`{key}` cannot be combined with `{owner}`: that {what} was built with its own settings"
            )
        });
    }
}

/// `key = EXPR` and the two settings of the keyed state it asks for,
/// `max_keys` and `idle`: the same keys, values and checks in
/// `#[circuit_breaker]` and `#[rate_limit]`.
#[derive(Clone, Default)]
pub(crate) struct Keying {
    pub(crate) key: Option<Keyed<Box<Expr>>>,
    pub(crate) max_keys: Option<Keyed<(u32, Span)>>,
    pub(crate) idle: Option<Keyed<DurationArg>>,
}

impl Keying {
    /// Reads `name` if it is one of the three; whether it was.
    pub(crate) fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<bool> {
        let span = meta.path.span();
        match name {
            "key" => {
                let expr = Box::new(meta.value()?.parse::<Expr>()?);
                set(&mut self.key, span, name, expr, errors);
            }
            "max_keys" => {
                if let Some(n) = whole_number(meta.value()?, name, limits::MAX_KEYS, errors)? {
                    set(&mut self.max_keys, span, name, n, errors);
                }
            }
            "idle" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set(&mut self.idle, span, name, d, errors);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings that only apply with `key`, for conflict checks.
    pub(crate) fn settings(&self) -> [(&'static str, Option<Span>); 2] {
        [
            ("max_keys", key_of(self.max_keys.as_ref())),
            ("idle", key_of(self.idle.as_ref())),
        ]
    }

    /// Keyed settings given without `key` (`more`: the layer's own, after
    /// these two), in words naming what is kept per key (`kept`:
    /// "breaker"); and `max_keys`' range.
    pub(crate) fn validate(
        &self,
        kept: &str,
        more: &[(&str, Option<Span>)],
        unsettled: &Unsettled,
        errors: &mut Errors,
    ) {
        if self.key.is_none() && unsettled.settled("key") {
            for (name, key) in self.settings().iter().chain(more) {
                if let Some(key) = key {
                    errors.at(
                        *key,
                        format!("`{name}` only applies with `key = ..`, which keeps one {kept} per key: add `key = ..` or remove `{name}`"),
                    );
                }
            }
        }
        if let Some(Keyed {
            value: (n, span), ..
        }) = &self.max_keys
            && (*n == 0 || *n > limits::MAX_KEYS)
        {
            errors.at(
                *span,
                format!("`max_keys` must be from 1 to {}", limits::MAX_KEYS),
            );
        }
    }

    /// A literal `idle` below a second.
    pub(crate) fn validate_idle(&self, errors: &mut Errors) {
        if let Some(idle) = &self.idle
            && idle.value.literal().is_some_and(|d| d < limits::MIN_IDLE)
        {
            errors.at(idle.value.span(), "`idle` must be at least 1s");
        }
    }
}

/// The span of the key that set an optional setting.
pub(crate) fn key_of<T>(setting: Option<&Keyed<T>>) -> Option<Span> {
    setting.map(|k| k.key)
}

/// Stores a setting's value, or reports its key as a duplicate.
pub(crate) fn set<T>(
    slot: &mut Option<Keyed<T>>,
    key: Span,
    name: &str,
    value: T,
    errors: &mut Errors,
) {
    if slot.is_some() {
        errors.at(key, format!("duplicate argument `{name}`"));
    } else {
        *slot = Some(Keyed { key, value });
    }
}

/// Reports each setting of `settings` that is present with `message(key)`:
/// settings another one excludes.
pub(crate) fn conflicts(
    settings: &[(&str, Option<Span>)],
    errors: &mut Errors,
    message: impl Fn(&str) -> String,
) {
    for (key, span) in settings {
        if let Some(span) = span {
            errors.at(*span, message(key));
        }
    }
}

/// What parsing could not make sure of, so that checks across settings
/// run on the arguments read so far without inventing errors: a key whose
/// value was refused is neither set nor surely absent, and after a syntax
/// error nothing further was read.
#[derive(Default)]
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

/// An attribute whose arguments are `key = value` settings (`#[retry]`,
/// `#[circuit_breaker]`, `#[fallback]`): one parse for all of them, with
/// every mistake collected.
pub(crate) trait Settings: Default {
    /// Every key, in the order the docs list them (the first is the
    /// example of a setting name).
    const KEYS: &'static [&'static str];

    /// Reads the value of `name`, one of [`KEYS`](Self::KEYS).
    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()>;

    /// The checks across settings, on what could be read: a check on a
    /// setting's absence asks `unsettled` first.
    fn validate(&self, unsettled: &Unsettled, errors: &mut Errors);
}

/// Parses and checks an attribute's settings: what could be read, and
/// every mistake.
pub(crate) fn parse_settings<S: Settings>(tokens: TokenStream) -> (S, Errors) {
    let mut settings = S::default();
    let mut errors = Errors::default();
    let mut unsettled = Unsettled::default();
    let parser = syn::meta::parser(|meta| {
        let before = errors.count();
        let result = one_key(&mut settings, &meta, &mut errors);
        if (result.is_err() || errors.count() > before)
            && let Some(name) = meta.path.get_ident()
        {
            let name = name.to_string();
            // A misspelt key may be the one it is closest to.
            if let Some(meant) = closest(&name, S::KEYS) {
                unsettled.keys.push(meant.to_owned());
            }
            unsettled.keys.push(name);
        }
        result
    });
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
        unsettled.truncated = true;
    }
    settings.validate(&unsettled, &mut errors);
    (settings, errors)
}

fn one_key<S: Settings>(
    settings: &mut S,
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let Some(name) = key_name(meta, S::KEYS[0], errors)? else {
        return Ok(());
    };
    if S::KEYS.contains(&name.as_str()) {
        return settings.key(&name, meta, errors);
    }
    errors.at(
        meta.path.span(),
        format!("unknown argument `{name}`{}", suggest(&name, S::KEYS)),
    );
    skip_value(meta)
}

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
    whole_number_in(input, key, 1, max, errors)
}

/// [`whole_number`] for a setting whose range starts at `min`.
pub(crate) fn whole_number_in(
    input: ParseStream<'_>,
    key: &str,
    min: u32,
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
    errors.at(lit.span(), format!("`{key}` must be from {min} to {max}"));
    Ok(None)
}

/// `, did you mean `x`?` for the closest known name, if close enough.
pub(crate) fn suggest(unknown: &str, known: &[&str]) -> String {
    closest(unknown, known).map_or_else(String::new, |k| format!(", did you mean `{k}`?"))
}

/// The known name closest to `unknown`, if close enough to be meant.
pub(crate) fn closest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(
            suggest("attemps", &["attempts", "jitter"]),
            ", did you mean `attempts`?"
        );
        assert_eq!(suggest("zzz", &["attempts", "jitter"]), "");
    }
}
