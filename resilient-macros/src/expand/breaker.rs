//! `#[circuit_breaker]`: admission, the call, its outcome recorded; and
//! the `static` of a per-function breaker.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::protocol::{
    Ask, Inner, Tag, Tags, duration, ident, keying_calls, run_attempt, static_name,
};
use crate::args::breaker::BreakerArgs;
use crate::item::erase_impl_trait;
use crate::stack::StackInput;

// Input:  #[circuit_breaker(..)] over `inner`
// Output (always tagged):
//     {
//         register on first use (a `static` breaker);
//         let breaker: &CircuitBreaker = ..;
//         match admit(breaker, &mut rejection_slot) {   // a rejection goes into the slot
//             None => Outcome::Rejected(Parked),
//             Some(permit) => {
//                 let result = inner;   // the body: `async { body }.await`
//                 settle(permit, &result, |e| when(e));   // or ignore a rejection from below
//                 Outcome::Done(result)
//             }
//         }
//     }
pub(crate) fn expand(
    stack: &StackInput,
    args: &BreakerArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let output = &stack.output;
    let erased = erase_impl_trait(output);
    let out_type = inner_tags.with(Tag::Rejected).outcome(&erased);
    let out = ident("out", depth);
    let breaker_var = ident("breaker", depth);
    let permit = ident("permit", depth);
    let result = ident("result", depth);
    let open = ident("open", depth);
    let rejection = Tag::Rejected.slot();
    let error = ident("failed", depth);
    let keyed_var = ident("keyed", depth);
    let binding = binding(
        args,
        depth,
        if args.keying.key.is_some() {
            &keyed_var
        } else {
            &breaker_var
        },
    );
    let register = register(args, depth, &breaker_var, &keyed_var);
    // Without `when`, no closure: a closure is a type of its own, and
    // `settle` would be compiled again for every function.
    let settle = if let Some(when) = &args.when {
        let when = &when.value;
        let is_failure = quote_spanned!(when.span()=> ::resilient::__private::when(#when, #error));
        quote_spanned! {output.span()=>
            ::resilient::__private::settle::<#erased>(#permit, &#result, |#error| #is_failure)
        }
    } else {
        quote_spanned! {output.span()=>
            ::resilient::__private::settle_any::<#erased>(#permit, &#result)
        }
    };
    let attempt = run_attempt(stack, inner, &TokenStream::new());
    let rejected = Tag::Rejected.pattern();
    let ran = if inner_tags.any() {
        let inner_type = inner_tags.outcome(&erased);
        // A tag from below is recorded as what it says of this service: a
        // call cut off is a failure, a rejection further below nothing.
        let tags = inner_tags.iter().map(|tag| {
            let pattern = tag.pattern();
            let record = if tag.is_dependency_failure() {
                quote!(failure)
            } else {
                quote!(ignore)
            };
            quote! {
                #pattern(#open) => {
                    #permit.#record();
                    #pattern(#open)
                }
            }
        });
        let impossible = inner_tags.impossible(&open, false);
        quote! {
            let #result: #inner_type = #attempt;
            match #result {
                __resilient::Outcome::Done(#result) => {
                    #settle;
                    __resilient::Outcome::Done(#result)
                }
                #(#tags)*
                #impossible
            }
        }
    } else {
        quote! {
            let #result: #erased = #attempt;
            #settle;
            __resilient::Outcome::Done(#result)
        }
    };
    // `let .. else` rather than a `match` on `admit(..)`: a match's
    // scrutinee lives to the end of the match, so the permit would be
    // kept twice across the body's `.await` (four more stores a call).
    let admitted = syn::Lifetime {
        apostrophe: Span::mixed_site(),
        ident: format_ident!("__resilient_admitted_{}", depth, span = Span::mixed_site()),
    };
    // A keyed breaker first finds (or makes) the key's breaker, which
    // the call holds until its outcome is recorded.
    let key_lookup = key_lookup(args, depth, &admitted, &breaker_var, &keyed_var);
    quote! {
        {
            #binding
            #register
            let #out: #out_type = #admitted: {
                #key_lookup
                let ::core::option::Option::Some(#permit) =
                    __resilient::admit(#breaker_var, &mut #rejection)
                else {
                    break #admitted #rejected(__resilient::Parked);
                };
                #ran
            };
            #out
        }
    }
}

/// The names of a per-function breaker's `static` and its registration.
fn statics(depth: usize) -> (syn::Ident, syn::Ident) {
    (
        format_ident!("__RESILIENT_BREAKER_{}", depth, span = Span::mixed_site()),
        format_ident!(
            "__RESILIENT_REGISTERED_{}",
            depth,
            span = Span::mixed_site()
        ),
    )
}

/// With `key`: finds (or makes) the key's breaker, which the call holds
/// until its outcome is recorded; a new key with no room is rejected.
fn key_lookup(
    args: &BreakerArgs,
    depth: usize,
    admitted: &syn::Lifetime,
    breaker_var: &syn::Ident,
    keyed_var: &syn::Ident,
) -> Option<TokenStream> {
    let key = &args.keying.key.as_ref()?.value;
    let slot = key_slot(depth);
    let rejection = Tag::Rejected.slot();
    let rejected = Tag::Rejected.pattern();
    // Reported at the user's expression when it is not a keyed breaker.
    let keyed = if let Some(breaker) = &args.breaker {
        let expr = &breaker.value;
        quote_spanned!(named_span(expr)=> ::resilient::__private::keyed(&#expr))
    } else {
        quote!(#keyed_var)
    };
    let lookup = quote_spanned! {key.span()=>
        ::resilient::__private::admit_key(#keyed, &(#key), &mut #rejection)
    };
    Some(quote! {
        #slot = #lookup;
        let ::core::option::Option::Some(#breaker_var) = ::core::option::Option::as_deref(&#slot) else {
            break #admitted #rejected(__resilient::Parked);
        };
    })
}

/// Where keyed breaker layer `depth` keeps the key's breaker of the
/// attempt in flight (or the last one).
pub(crate) fn key_slot(depth: usize) -> syn::Ident {
    ident("key_breaker", depth)
}

/// The type of [`key_slot`].
pub(crate) fn key_slot_type() -> TokenStream {
    quote!(::core::option::Option<::std::sync::Arc<__resilient::CircuitBreaker>>)
}

/// The declaration of [`key_slot`], at the top of the stack (and in each
/// copy of a hedge above the breaker).
pub(crate) fn declare_key_slot(depth: usize) -> TokenStream {
    let slot = key_slot(depth);
    let slot_type = key_slot_type();
    quote! {
        let mut #slot: #slot_type = ::core::option::Option::None;
    }
}

/// The binding of breaker layer `depth`'s breaker (or keyed breaker, with
/// `key`) to `var`. A caller's expression is bound first, so a temporary
/// (`breaker = self.breaker.clone()`, for a `&mut self` method) lives as
/// long as the permit that borrows it.
fn binding(args: &BreakerArgs, depth: usize, var: &syn::Ident) -> TokenStream {
    let keyed = args.keying.key.is_some();
    if let Some(breaker) = &args.breaker {
        let expr = &breaker.value;
        // Reported at the user's expression when it is not a breaker.
        let span = named_span(expr);
        let mut holder = ident("holder", depth);
        holder.set_span(holder.span().located_at(span));
        if keyed {
            // Used once, in the key's lookup, which returns an owned
            // breaker: evaluated there, a temporary lives long enough.
            return TokenStream::new();
        }
        let typed = {
            quote_spanned! {span=>
                let #var: &::resilient::__private::CircuitBreaker =
                    ::core::borrow::Borrow::<::resilient::__private::CircuitBreaker>::borrow(#holder);
            }
        };
        return quote_spanned! {span=>
            let #holder = &#expr;
            #typed
        };
    }
    if let Some(shared) = &args.shared {
        // Typed at the user's path: a `shared` of the wrong kind is one
        // error, there.
        let path = &shared.value;
        return if keyed {
            quote_spanned! {path.span()=>
                let #var: &'static ::resilient::__private::KeyedBreaker = ::resilient::__private::keyed(&#path);
            }
        } else {
            quote_spanned! {path.span()=>
                let #var: &'static ::resilient::__private::CircuitBreaker = ::resilient::__private::shared(&#path);
            }
        };
    }
    let (own, _) = statics(depth);
    if keyed {
        quote!(let #var: &'static __resilient::KeyedBreaker = &#own;)
    } else {
        quote!(let #var: &'static __resilient::CircuitBreaker = &#own;)
    }
}

/// Where to report a mistake in `expr`: its first name other than `self`
/// (a method's `self` carries the attribute's span), so `self.breaker`
/// is reported at `breaker`.
fn named_span(expr: &syn::Expr) -> Span {
    use quote::ToTokens;
    expr.to_token_stream()
        .into_iter()
        .find(|token| matches!(token, proc_macro2::TokenTree::Ident(name) if name != "self"))
        .map_or_else(|| expr.span(), |token| token.span())
}

/// How a retry above asks breaker layer `depth` whether it is open: the
/// runtime function and what it is asked about (a breaker, or a keyed
/// breaker and the key).
pub(crate) fn ask(args: &BreakerArgs, depth: usize) -> Ask {
    if args.keying.key.is_some() {
        // The breaker the attempt used, kept by the layer: the key is not
        // evaluated again.
        let slot = key_slot(depth);
        return Ask {
            function: quote!(ask_key),
            target: quote!(&#slot),
        };
    }
    let target = if let Some(shared) = &args.shared {
        let path = &shared.value;
        quote_spanned!(path.span()=> &#path)
    } else if let Some(breaker) = &args.breaker {
        // An instance the caller owns, by value or behind an `Arc` or a
        // reference; evaluated where it is used.
        let expr = &breaker.value;
        quote_spanned! {expr.span()=>
            ::core::borrow::Borrow::<::resilient::__private::CircuitBreaker>::borrow(&#expr)
        }
    } else {
        let (own, _) = statics(depth);
        quote!(&#own)
    };
    Ask {
        function: quote!(ask_breaker),
        target,
    }
}

/// A `static` breaker registers on its first use (one atomic load after).
fn register(
    args: &BreakerArgs,
    depth: usize,
    breaker_var: &syn::Ident,
    keyed_var: &syn::Ident,
) -> Option<TokenStream> {
    if args.breaker.is_some() {
        return None;
    }
    let (_, once) = statics(depth);
    let call = if args.keying.key.is_some() {
        quote!(__resilient::register_keyed_once(&#once, #keyed_var);)
    } else {
        quote!(__resilient::register_once(&#once, #breaker_var);)
    };
    Some(quote! {
        static #once: ::std::sync::Once = ::std::sync::Once::new();
        #call
    })
}

/// The `static` of a per-function breaker, built from literal settings.
pub(crate) fn breaker_static(
    stack: &StackInput,
    args: &BreakerArgs,
    depth: usize,
    several: bool,
) -> Option<TokenStream> {
    if args.shared.is_some() || args.breaker.is_some() {
        return None;
    }
    let (name_static, _) = statics(depth);
    let name = static_name(stack, args.name.as_ref(), depth, several);
    let mut calls = vec![quote!(.name(#name))];
    if let Some(failures) = &args.failures {
        let n = Literal::u32_unsuffixed(failures.value.0);
        calls.push(quote!(.failures(#n)));
    }
    if let Some(rate) = &args.failure_rate {
        let r = Literal::f64_suffixed(rate.value.0);
        calls.push(quote!(.failure_rate(#r)));
    }
    for (key, value) in [
        ("window", &args.window),
        ("min_calls", &args.min_calls),
        ("half_open", &args.half_open),
    ] {
        if let Some(value) = value {
            let method = format_ident!("{}", key);
            let n = Literal::u32_unsuffixed(value.value.0);
            calls.push(quote!(.#method(#n)));
        }
    }
    if let Some(reset) = &args.reset {
        let d = duration(&reset.value);
        calls.push(quote!(.reset(#d)));
    }
    for (method, value) in [("time_window", &args.time_window), ("slow", &args.slow)] {
        if let Some(value) = value {
            let method = format_ident!("{}", method);
            let d = duration(&value.value);
            calls.push(quote!(.#method(#d)));
        }
    }
    if let Some(rate) = &args.slow_rate {
        let r = Literal::f64_suffixed(rate.value.0);
        calls.push(quote!(.slow_rate(#r)));
    }
    if args.on_cancel.as_ref().is_some_and(|k| k.value) {
        calls.push(quote!(.on_cancel(__resilient::OnCancel::Failure)));
    }
    if args.keying.key.is_none() {
        return Some(quote! {
            static #name_static: __resilient::CircuitBreaker =
                __resilient::CircuitBreaker::builder() #(#calls)* .build();
        });
    }
    calls.extend(keying_calls(&args.keying));
    if let Some(max_open) = &args.max_open {
        let r = Literal::f64_suffixed(max_open.value.0);
        calls.push(quote!(.max_open(#r)));
    }
    Some(quote! {
        static #name_static: __resilient::KeyedBreaker =
            __resilient::KeyedBreaker::builder() #(#calls)* .build();
    })
}
