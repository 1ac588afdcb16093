//! `#[hedge]`: copies of the layers below, raced in a fixed set of pinned
//! slots.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parked_slots;
use super::protocol::{
    Inner, Tags, attempt_future, duration, fresh_local, ident, run_attempt, static_name,
};
use crate::args::hedge::HedgeArgs;
use crate::item::erase_impl_trait;
use crate::kind::LayerArgs;
use crate::stack::StackInput;

// Input:  #[hedge(after = D, max = N)] over `inner`
// Output (the tags from below, unchanged):
//     {
//         let (out, taken..) = hedged(      // (just `hedged(..)` when nothing below parks a payload)
//             Hedge::after(D).name(..),
//             [pin!(None), ..],              // N slots, in the function's future
//             || async {                     // one copy: its own slots, its own `mut` arguments
//                 let mut slot = None; ..
//                 let mut n = fresh_copy(&n); ..
//                 let copy = inner;
//                 (copy, slot, ..)
//             },
//             |copy| hedge_verdict(&copy.0), // the first `Ok` wins
//         ).await;
//         restore(&mut slot, taken); ..      // the payloads the winner parked
//         out
//     }
pub(crate) fn expand(
    stack: &StackInput,
    args: &HedgeArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
    layers_below: &[LayerArgs],
    several: bool,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let inner_type = inner_tags.attempt_type(&erased);
    // Every slot a layer below writes: each copy has its own, and the
    // winner's are handed outward.
    let slots = parked_slots(layers_below, depth + 1);
    let names: Vec<_> = slots.iter().map(|slot| &slot.name).collect();
    let declared = slots.iter().map(|slot| &slot.declare);
    let types = slots.iter().map(|slot| &slot.ty);
    let taken: Vec<_> = (0..slots.len())
        .map(|i| ident(&format!("hedged_slot{i}"), depth))
        .collect();

    let out = ident("out", depth);
    let copy = ident("copy", depth);
    let settings = settings(stack, args, depth, several);
    let pins = (0..args.copies()).map(|_| quote!(::core::pin::pin!(::core::option::Option::None)));
    let prelude = prelude(stack);
    let verdict = if inner_tags.any() {
        quote_spanned!(stack.output.span()=> ::resilient::__private::hedge_verdict_tagged)
    } else {
        quote_spanned!(stack.output.span()=> ::resilient::__private::hedge_verdict::<#erased>)
    };
    if slots.is_empty() {
        // Nothing parked below: a copy is the attempt's own future.
        let attempt = if prelude.is_empty() {
            attempt_future(stack, inner)
        } else {
            let run = run_attempt(stack, inner, &prelude);
            quote!(async { #run })
        };
        return quote! {
            __resilient::hedged(
                #settings,
                [#(#pins),*],
                || #attempt,
                |#copy: &#inner_type| #verdict(#copy),
            )
            .await
        };
    }
    let run = run_attempt(stack, inner, &prelude);
    quote! {
        {
            let (#out, #(#taken,)*) = __resilient::hedged(
                #settings,
                [#(#pins),*],
                || async {
                    #(#declared)*
                    let #copy: #inner_type = #run;
                    (#copy, #(#names,)*)
                },
                |#copy: &(#inner_type, #(#types,)*)| #verdict(&#copy.0),
            )
            .await;
            #(__resilient::restore(&mut #names, #taken);)*
            #out
        }
    }
}

/// `Hedge::after(D).name(..)`, with `.budget(..)` when given.
fn settings(stack: &StackInput, args: &HedgeArgs, depth: usize, several: bool) -> TokenStream {
    let after = duration(
        &args
            .after
            .as_ref()
            .expect("`after` is required: the arguments were checked")
            .value,
    );
    let name = static_name(stack, args.name.as_ref(), depth, several);
    let budget = args.budget.as_ref().map(|budget| {
        let budget = &budget.value;
        quote_spanned! {budget.span()=>
            .budget(::resilient::__private::budget(&#budget))
        }
    });
    quote!(__resilient::Hedge::after(#after).name(#name) #budget)
}

/// Each copy's own `mut` arguments, copied from the caller's: copies run
/// at once, so none may see what another changed. A type that is not
/// `Copy` is an error at the argument.
fn prelude(stack: &StackInput) -> TokenStream {
    let copies = stack
        .fresh
        .iter()
        .map(|name| fresh_local(name, "fresh_copy"));
    quote!(#(#copies)*)
}
