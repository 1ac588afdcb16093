//! `#[rate_limit]`: a slot taken (or waited for) before the layers below
//! run; an error from them that carries a `Retry-After` pauses the
//! limiter; and the `static` of a per-function limiter.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::protocol::{Inner, Tag, Tags, duration, ident, keying_calls, run_attempt, static_name};
use crate::args::rate_limit::RateLimitArgs;
use crate::item::erase_impl_trait;
use crate::stack::StackInput;

// Input:  #[rate_limit(..)] over `inner`
// Output (always tagged):
//     {
//         let limiter: &RateLimiter = ..;
//         let out = 'limited: {
//             match rate_admit(limiter) {          // a clock read and a compare-and-swap
//                 Ok(None) => {}
//                 Ok(Some(wait)) => slot_wait(wait).await,   // its slot, reserved
//                 Err(limited) => break 'limited Outcome::Limited(park(limited)),
//             }
//             let result = inner;
//             if result is an error with a Retry-After { limiter.pause_for(it) }
//             Outcome::Done(result)   // or the tags from below, as they came
//         };
//         out
//     }
pub(crate) fn expand(
    stack: &StackInput,
    args: &RateLimitArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let out_type = inner_tags.with(Tag::Limited).outcome(&erased);
    let out = ident("out", depth);
    let limiter = ident("limiter", depth);
    let result = ident("result", depth);
    let done = ident("done", depth);
    let error = ident("error", depth);
    let wait = ident("wait", depth);
    let refusal = ident("refusal", depth);
    let slot = Tag::Limited.slot();
    let tagged = Tag::Limited.pattern();
    let binding = binding(args, depth, &limiter);
    // With `key`: the key's limiter state, held for the call (its pause).
    let key_slot = ident("limiter_slot", depth);
    let verdict = ident("verdict", depth);
    let recheck = if args.keying.key.is_some() {
        quote!(__resilient::rate_recheck_slot(#limiter, &#key_slot))
    } else {
        quote!(__resilient::rate_recheck(#limiter))
    };
    let (lookup, admit, (pause_fn, pause_args)) = if let Some(key) = &args.keying.key {
        let key = &key.value;
        (
            Some(quote_spanned! {key.span()=>
                let (#key_slot, #verdict) = ::resilient::__private::rate_admit_key(#limiter, &(#key));
            }),
            quote!(#verdict),
            (quote!(pause_slot), quote!(#limiter, &#key_slot)),
        )
    } else {
        (
            None,
            quote!(__resilient::rate_admit(#limiter)),
            (quote!(pause_limiter), quote!(#limiter)),
        )
    };
    let attempt = run_attempt(stack, inner, &TokenStream::new());
    // The trait is named on the return type: a function that does not
    // return a `Result` gets one error there.
    let error_of = quote_spanned! {stack.output.span()=>
        <#erased as ::resilient::__private::RetryResult>::retry_error(#done)
    };
    let pause = quote! {
        if let ::core::option::Option::Some(#error) = #error_of {
            #[allow(unused_imports)]
            use __resilient::{ViaDefault as _, ViaRetryHint as _};
            __resilient::#pause_fn(
                #pause_args,
                (&__resilient::HintWrap(#error)).__resilient_retry_after(),
            );
        }
    };
    let finish = if inner_tags.any() {
        let inner_type = inner_tags.outcome(&erased);
        quote! {
            let #result: #inner_type = #attempt;
            if let __resilient::Outcome::Done(#done) = &#result {
                #pause
            }
            #result.widen()
        }
    } else {
        quote! {
            let #result: #erased = #attempt;
            {
                let #done = &#result;
                #pause
            }
            __resilient::Outcome::Done(#result)
        }
    };
    let label = syn::Lifetime {
        apostrophe: Span::mixed_site(),
        ident: format_ident!("__resilient_limited_{}", depth, span = Span::mixed_site()),
    };
    quote! {
        {
            #binding
            #lookup
            let #out: #out_type = #label: {
                match #admit {
                    ::core::result::Result::Ok(::core::option::Option::None) => {}
                    ::core::result::Result::Ok(::core::option::Option::Some(#wait)) => {
                        __resilient::slot_wait(#wait).await;
                        // A pause that came while it waited holds it too.
                        if let ::core::result::Result::Err(#refusal) = #recheck {
                            break #label #tagged(__resilient::park(&mut #slot, #refusal));
                        }
                    }
                    ::core::result::Result::Err(#refusal) => {
                        break #label #tagged(__resilient::park(&mut #slot, #refusal));
                    }
                }
                #finish
            };
            #out
        }
    }
}

/// The name of a per-function limiter's `static`.
fn own_static(depth: usize) -> syn::Ident {
    format_ident!(
        "__RESILIENT_RATE_LIMIT_{}",
        depth,
        span = Span::mixed_site()
    )
}

/// `let var: &RateLimiter = ..;` for the function's own, a `shared` one,
/// or the caller's (through a trait object, so a value of another type is
/// one error at the expression).
fn binding(args: &RateLimitArgs, depth: usize, var: &syn::Ident) -> TokenStream {
    let (ty, via, method) = if args.keying.key.is_some() {
        (
            quote!(KeyedRateLimiter),
            quote!(AsKeyedRateLimiter),
            quote!(as_keyed_rate_limiter),
        )
    } else {
        (
            quote!(RateLimiter),
            quote!(AsRateLimiter),
            quote!(as_rate_limiter),
        )
    };
    if let Some(expr) = &args.owner.instance {
        let expr = &expr.value;
        let holder = ident("limiter_holder", depth);
        return quote_spanned! {expr.span()=>
            let #holder: &dyn ::resilient::__private::#via = &#expr;
            let #var: &::resilient::__private::#ty = #holder.#method();
        };
    }
    if let Some(shared) = &args.owner.shared {
        let path = &shared.value;
        return quote_spanned! {path.span()=>
            let #var: &'static ::resilient::__private::#ty = ::resilient::__private::#method(&#path);
        };
    }
    let own = own_static(depth);
    quote!(let #var: &'static __resilient::#ty = &#own;)
}

/// The `static` of a per-function limiter, built from literal settings.
pub(crate) fn rate_limit_static(
    stack: &StackInput,
    args: &RateLimitArgs,
    depth: usize,
    several: bool,
) -> Option<TokenStream> {
    if args.owner.elsewhere() {
        return None;
    }
    let own = own_static(depth);
    let name = static_name(stack, args.owner.name.as_ref(), depth, several);
    let mut calls = vec![quote!(.name(#name))];
    for (method, value) in [("rate", &args.rate), ("burst", &args.burst)] {
        if let Some(value) = value {
            let method = format_ident!("{}", method);
            let n = Literal::u32_unsuffixed(value.value.0);
            calls.push(quote!(.#method(#n)));
        }
    }
    for (method, value) in [
        ("per", &args.per),
        ("wait", &args.wait),
        ("max_pause", &args.max_pause),
    ] {
        if let Some(value) = value {
            let method = format_ident!("{}", method);
            let d = duration(&value.value);
            calls.push(quote!(.#method(#d)));
        }
    }
    if args.keying.key.is_none() {
        return Some(quote! {
            static #own: __resilient::RateLimiter = __resilient::RateLimiter::builder() #(#calls)* .build();
        });
    }
    calls.extend(keying_calls(&args.keying));
    Some(quote! {
        static #own: __resilient::KeyedRateLimiter = __resilient::KeyedRateLimiter::builder() #(#calls)* .build();
    })
}
