//! `backoff = ..` of `#[retry]`: the schedules, their settings and the
//! runtime's rules for them, checked on literal values.

use core::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident};

use super::{
    DurationArg, Errors, closest, key_name, limits, number_literal, parse_duration, skip_value,
    suggest,
};

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

fn parse_factor(input: ParseStream<'_>) -> syn::Result<Factor> {
    Ok(match number_literal(input)? {
        Some((value, span)) => Factor::Literal { value, span },
        None => Factor::Expr(Box::new(input.parse()?)),
    })
}

const BACKOFFS: &[&str] = &["exponential", "fixed", "linear", "decorrelated", "none"];

/// `none`, `fixed(D)`, `linear(..)`, `exponential(..)` or `decorrelated(..)`.
pub(crate) fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Backoff>> {
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
    let mut misspelt: Vec<&str> = Vec::new();
    if let Some(content) = content {
        if positional(&name, &content, errors) {
            return Ok(None);
        }
        let parser = syn::meta::parser(|meta| {
            let Some(key) = key_name(&meta, keys[0], errors)? else {
                return Ok(());
            };
            if !keys.contains(&key.as_str()) {
                // Meant as its closest setting: not also reported missing.
                misspelt.extend(closest(&key, keys));
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
            .filter(|(key, present)| !present && !misspelt.contains(key))
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

/// A literal duration of zero, refused with `advice`.
pub(crate) fn nonzero(d: &DurationArg, key: &str, advice: &str, errors: &mut Errors) {
    if d.literal() == Some(Duration::ZERO) {
        errors.at(d.span(), format!("`{key}` must be above zero{advice}"));
    }
}

const NO_DELAY: &str = " (for no delay at all, write `backoff = none`)";

/// The runtime's rules for a schedule, on its literal values. `settled`:
/// every setting of the backoff was read (an absent `max` is absent, not
/// refused).
pub(crate) fn check(backoff: &Backoff, settled: bool, errors: &mut Errors) {
    match backoff {
        Backoff::None => {}
        Backoff::Fixed(delay) => nonzero(delay, "fixed", NO_DELAY, errors),
        Backoff::Linear { initial, step, max } => {
            nonzero(initial, "initial", NO_DELAY, errors);
            nonzero(
                step,
                "step",
                " (a linear backoff with no step is `fixed(..)`)",
                errors,
            );
            max_not_below(initial.literal(), max, errors);
        }
        Backoff::Decorrelated { initial, max } => {
            nonzero(initial, "initial", NO_DELAY, errors);
            max_not_below(initial.literal(), max, errors);
        }
        Backoff::Exponential {
            initial,
            factor,
            max,
        } => {
            if let Some(initial) = initial {
                nonzero(initial, "initial", NO_DELAY, errors);
            }
            if let Some(Factor::Literal { value, span }) = factor
                && (*value < 1.0 || !value.is_finite())
            {
                errors.at(
                    *span,
                    "`factor` must be at least 1: each delay is the previous one times `factor`",
                );
            }
            let initial_value = initial
                .as_ref()
                .map_or(Some(limits::DEFAULT_INITIAL), DurationArg::literal);
            match max {
                Some(max) => max_not_below(initial_value, max, errors),
                None => {
                    if let (Some(initial), Some(value), true) = (initial, initial_value, settled)
                        && value > limits::DEFAULT_MAX
                    {
                        errors.at(
                            initial.span(),
                            "`initial` is above the default `max` of 10s: set `max` too",
                        );
                    }
                }
            }
        }
    }
}

fn max_not_below(initial: Option<Duration>, max: &DurationArg, errors: &mut Errors) {
    if let (Some(initial), Some(value)) = (initial, max.literal())
        && value < initial
    {
        errors.at(
            max.span(),
            format!("`max` must not be below `initial` ({initial:?})"),
        );
    }
}
