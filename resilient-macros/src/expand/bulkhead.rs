//! `#[bulkhead]`: a place taken before the layers below run, given back
//! when they end; and the `static` of a per-function bulkhead.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::protocol::{Inner, Tag, Tags, duration, ident, run_attempt, static_name};
use crate::args::bulkhead::BulkheadArgs;
use crate::item::erase_impl_trait;
use crate::stack::StackInput;

// Input:  #[bulkhead(..)] over `inner`
// Output (always tagged):
//     {
//         let bulkhead: &Bulkhead = ..;
//         let out = 'entered: {
//             let permit = match try_enter(bulkhead) {   // one compare-and-swap
//                 Some(permit) => permit,
//                 None => match wait_enter(bulkhead).await {   // in turn, up to `wait`
//                     Ok(permit) => permit,
//                     Err(full) => break 'entered Outcome::Full(park(full)),
//                 },
//             };
//             let result = inner;
//             drop(permit);
//             Outcome::Done(result)   // or the tags from below, as they came
//         };
//         out
//     }
pub(crate) fn expand(
    stack: &StackInput,
    args: &BulkheadArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let out_type = inner_tags.with(Tag::Full).outcome(&erased);
    let out = ident("out", depth);
    let bulkhead = ident("bulkhead", depth);
    let permit = ident("place", depth);
    let result = ident("result", depth);
    let full = ident("full", depth);
    let slot = Tag::Full.slot();
    let tagged = Tag::Full.pattern();
    let binding = binding(args, depth, &bulkhead);
    let attempt = run_attempt(stack, inner, &TokenStream::new());
    let done = if inner_tags.any() {
        let inner_type = inner_tags.outcome(&erased);
        quote! {
            let #result: #inner_type = #attempt;
            ::core::mem::drop(#permit);
            #result.widen()
        }
    } else {
        quote! {
            let #result: #erased = #attempt;
            ::core::mem::drop(#permit);
            __resilient::Outcome::Done(#result)
        }
    };
    let wait_enter = if stack.blocking {
        quote!(__resilient::wait_enter_blocking(#bulkhead))
    } else {
        quote!(__resilient::wait_enter(#bulkhead).await)
    };
    let entered = syn::Lifetime {
        apostrophe: Span::mixed_site(),
        ident: format_ident!("__resilient_entered_{}", depth, span = Span::mixed_site()),
    };
    quote! {
        {
            #binding
            let #out: #out_type = #entered: {
                let #permit = match __resilient::try_enter(#bulkhead) {
                    ::core::option::Option::Some(#permit) => #permit,
                    ::core::option::Option::None => match #wait_enter {
                        ::core::result::Result::Ok(#permit) => #permit,
                        ::core::result::Result::Err(#full) => {
                            break #entered #tagged(__resilient::park(&mut #slot, #full));
                        }
                    },
                };
                #done
            };
            #out
        }
    }
}

/// The name of a per-function bulkhead's `static`.
fn own_static(depth: usize) -> syn::Ident {
    format_ident!("__RESILIENT_BULKHEAD_{}", depth, span = Span::mixed_site())
}

/// `let var: &Bulkhead = ..;` for the function's own, a `shared` one, or
/// the caller's (bound first, so a temporary lives as long as the place).
fn binding(args: &BulkheadArgs, depth: usize, var: &syn::Ident) -> TokenStream {
    if let Some(expr) = &args.owner.instance {
        // Through a trait object: a value that is not a bulkhead is one
        // error, at the expression (the coercion is checked there), and a
        // temporary lives as long as the place.
        let expr = &expr.value;
        let holder = ident("bulkhead_holder", depth);
        return quote_spanned! {expr.span()=>
            let #holder: &dyn ::resilient::__private::AsBulkhead = &#expr;
            let #var: &::resilient::__private::Bulkhead = #holder.as_bulkhead();
        };
    }
    if let Some(shared) = &args.owner.shared {
        let path = &shared.value;
        return quote_spanned! {path.span()=>
            let #var: &'static ::resilient::__private::Bulkhead = ::resilient::__private::as_bulkhead(&#path);
        };
    }
    let own = own_static(depth);
    quote!(let #var: &'static __resilient::Bulkhead = &#own;)
}

/// The `static` of a per-function bulkhead, built from literal settings.
pub(crate) fn bulkhead_static(
    stack: &StackInput,
    args: &BulkheadArgs,
    depth: usize,
    several: bool,
) -> Option<TokenStream> {
    if args.owner.elsewhere() {
        return None;
    }
    let own = own_static(depth);
    let name = static_name(stack, args.owner.name.as_ref(), depth, several);
    let mut calls = vec![quote!(.name(#name))];
    if let Some(max) = &args.max {
        let n = Literal::u32_unsuffixed(max.value.0);
        calls.push(quote!(.max(#n)));
    }
    if let Some(wait) = &args.wait {
        let d = duration(&wait.value);
        calls.push(quote!(.wait(#d)));
    }
    Some(quote! {
        static #own: __resilient::Bulkhead = __resilient::Bulkhead::builder() #(#calls)* .build();
    })
}
