//! Arguments of `#[timeout(D)]` / `#[timeout(D, on_timeout = F)]`.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Token};

use super::{DurationArg, Errors, hook_expr, parse_duration, suggest};

pub(crate) struct TimeoutArgs {
    pub(crate) limit: DurationArg,
    pub(crate) on_timeout: Option<Box<Expr>>,
}

impl TimeoutArgs {
    /// The arguments, if they hold a duration, and every mistake.
    pub(crate) fn parse(tokens: TokenStream) -> (Option<Self>, Errors) {
        let mut errors = Errors::default();
        let parsed =
            (|input: ParseStream<'_>| Self::parse_stream(input, &mut errors)).parse2(tokens);
        match parsed {
            Ok(args) => (args, errors),
            Err(error) => {
                errors.push(error);
                (None, errors)
            }
        }
    }

    fn parse_stream(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Self>> {
        if input.is_empty() {
            return Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[timeout]` needs a duration: `#[timeout(\"2s\")]`",
            ));
        }
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key: Ident = input.fork().parse()?;
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`#[timeout]` needs a duration first, before `{key}`: `#[timeout(\"2s\", on_timeout = ..)]`"
                ),
            ));
        }
        let limit = parse_duration(input, errors)?;
        let mut on_timeout = None;
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            if key != "on_timeout" {
                errors.at(
                    key.span(),
                    format!(
                        "unknown argument `{key}`: `#[timeout]` takes a duration and `on_timeout`{}",
                        suggest(&key.to_string(), &["on_timeout"])
                    ),
                );
                input.parse::<Token![=]>()?;
                input.parse::<Expr>()?;
                continue;
            }
            input.parse::<Token![=]>()?;
            if on_timeout.is_some() {
                errors.at(key.span(), "duplicate argument `on_timeout`");
            }
            on_timeout = hook_expr(input, "on_timeout", "a `fn(Elapsed) -> E`", errors)?;
        }
        if let Some(DurationArg::Literal { value, span }) = &limit
            && value.is_zero()
        {
            errors.at(
                *span,
                "a timeout of zero would cut off every call: give it a duration above zero",
            );
        }
        Ok(limit.map(|limit| Self { limit, on_timeout }))
    }
}
