//! `#[fallback]`: the inner result, or on error the fallback.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::protocol::{Inner, Tags, convert_tags, ident, run_attempt};
use crate::args::fallback::{FallbackArgs, Form as FallbackForm};
use crate::item::erase_impl_trait;
use crate::kind::LayerArgs;
use crate::stack::StackInput;

// Input:  #[fallback(..)] over `inner`
// Output (plain): the inner result, or on error (and `when`) the fallback.
// Tags from below become the user's `E` only if a handler or `when` must
// see it; `value`/`default` without `when` need no conversion at all.
pub(crate) fn expand(
    stack: &StackInput,
    layers: &[LayerArgs],
    args: &FallbackArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let result = ident("result", depth);
    let error = ident("error", depth);
    let value = ident("value", depth);
    let later = ident("later", depth);
    let label = syn::Lifetime {
        apostrophe: Span::mixed_site(),
        ident: format_ident!("__resilient_fallback_{}", depth, span = Span::mixed_site()),
    };
    let attempt = run_attempt(stack, inner, &TokenStream::new());
    // What to do with `error` (already taken out of the result): the
    // handler's answer, or `Ok(value)`. A sync handler's answer breaks out
    // at once; only an async handler's future is awaited, and nothing else
    // (no `!Send` error) lives across that `.await`.
    let recover = match &args.form {
        FallbackForm::With(handler) => {
            // The error is located at the handler, so a handler of the
            // wrong signature is underlined there.
            let error_here = syn::Ident::new(
                &error.to_string(),
                Span::mixed_site().located_at(handler.span()),
            );
            let call = quote_spanned! {handler.span()=>
                ::resilient::__private::Recover(::resilient::__private::apply(#handler, #error_here))
                    .__resilient_resolve()
            };
            if stack.blocking {
                // A plain `fn`'s handler returns the function's result.
                quote_spanned! {handler.span()=>
                    ::resilient::__private::apply(#handler, #error_here)
                }
            } else {
                quote! {{
                    #[allow(unused_imports)]
                    use __resilient::RecoverAsync as _;
                    let #later = match #call {
                        __resilient::Resolved::Ready(#value) => break #label #value,
                        __resilient::Resolved::Later(#later) => #later,
                    };
                    #later.await
                }}
            }
        }
        FallbackForm::Value(expr) => {
            quote_spanned!(expr.span()=> ::core::result::Result::Ok(#expr))
        }
        FallbackForm::Default => {
            quote!(::core::result::Result::Ok(
                ::core::default::Default::default()
            ))
        }
    };
    let needs_error = args.when.is_some() || matches!(args.form, FallbackForm::With(_));
    // The function must return a `Result`: checked (and reported) at its
    // return type, as the other layers do.
    let is_result = quote_spanned! {stack.output.span()=>
        let _ = <#erased as ::resilient::__private::RetryResult>::retry_error;
    };
    if !needs_error && inner_tags.any() {
        // Any error or tag falls back; none is converted.
        let inner_type = inner_tags.outcome(&erased);
        return quote! {
            {
                #is_result
                let #result: #inner_type = #attempt;
                match #result {
                    __resilient::Outcome::Done(::core::result::Result::Ok(#value)) => {
                        ::core::result::Result::Ok(#value)
                    }
                    _ => #recover,
                }
            }
        };
    }
    let result_now = if inner_tags.any() {
        let inner_type = inner_tags.outcome(&erased);
        let converted = convert_tags(stack, &layers[depth + 1..], inner_tags, &result);
        quote! {
            let #result: #inner_type = #attempt;
            let #result: #erased = #converted;
        }
    } else {
        quote!(let #result: #erased = #attempt;)
    };
    let when = args.when.as_ref().map(|when| {
        quote_spanned! {when.span()=>
            if !::resilient::__private::when(#when, &#error) {
                break #label ::core::result::Result::Err(#error);
            }
        }
    });
    quote! {
        #label: {
            #is_result
            let #error = {
                #result_now
                match #result {
                    ::core::result::Result::Ok(#value) => break #label ::core::result::Result::Ok(#value),
                    ::core::result::Result::Err(#error) => #error,
                }
            };
            #when
            #recover
        }
    }
}
