//! `#[timeout]`: the inner layers under the runtime's `timeout`.

use proc_macro2::TokenStream;
use quote::quote;

use super::protocol::{Inner, Tag, Tags, attempt_future, duration, ident};
use crate::args::timeout::TimeoutArgs;
use crate::item::erase_impl_trait;
use crate::stack::StackInput;

// Input:  #[timeout(D)] over `inner`
// Output (tagged): the inner block under `timeout(D, ..)`; a timeout is
// `Outcome::TimedOut(Parked)`, the `Elapsed` parked in the function's
// slot, carried outward beside the result.
pub(crate) fn expand(
    stack: &StackInput,
    args: &TimeoutArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let out_type = inner_tags.with(Tag::TimedOut).outcome(&erased);
    let out = ident("out", depth);
    let value = ident("value", depth);
    let elapsed = ident("elapsed", depth);
    let slot = Tag::TimedOut.slot();
    let timed_out = Tag::TimedOut.pattern();
    let limit = duration(&args.limit);
    let attempt = attempt_future(stack, inner);
    let done = if inner_tags.any() {
        quote!(#value.widen())
    } else {
        quote!(__resilient::Outcome::Done(#value))
    };
    quote! {
        {
            let #out: #out_type =
                match __resilient::timeout(#limit, #attempt).await {
                    ::core::result::Result::Ok(#value) => #done,
                    ::core::result::Result::Err(#elapsed) => #timed_out(
                        __resilient::park(&mut #slot, #elapsed),
                    ),
                };
            #out
        }
    }
}
