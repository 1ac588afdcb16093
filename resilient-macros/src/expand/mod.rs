//! Code generation. Everything here has been checked: no error paths.
//!
//! Generated locals are `__resilient_*` with `Span::mixed_site()`, so the
//! user's body cannot name them. Paths go through `__resilient`, one
//! `use ::resilient::__private as __resilient;` at the top of the stack
//! (three tokens a path instead of seven: a stack's expansion is a third
//! smaller, and every token costs the user's build). That alias is an
//! item, visible to the body like any other, so code placed inside the
//! user's braces (the per-attempt prelude) and code spanned at the user's
//! tokens use absolute `::resilient::__private` paths instead: a body's
//! own `use .. as __resilient;` cannot redirect them, and
//! `unused_qualifications` never sees them. Lints are relaxed on glue
//! only, never on the user's block.
//!
//! `protocol` holds what layers hand one another; each layer's expansion
//! is a module of its own.

mod breaker;
mod bulkhead;
mod fallback;
mod hedge;
pub(crate) mod protocol;
mod rate_limit;
mod retry;
#[cfg(test)]
mod snapshots;
mod timeout;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

use self::protocol::{Below, Inner, Tag, Tags, convert_tags};
use crate::item::erase_impl_trait;
use crate::kind::{Kind, LayerArgs};
use crate::stack::StackInput;

/// `__stack!`: generates every layer, innermost first, around the body.
pub(crate) fn generate(input: TokenStream) -> TokenStream {
    match syn::parse2::<StackInput>(input) {
        Ok(input) => generate_stack(&input),
        Err(error) => error.into_compile_error(),
    }
}

/// The stack gathered by the last attribute, generated in place.
pub(crate) fn generate_stack(input: &StackInput) -> TokenStream {
    let mut layers = Vec::new();
    for layer in &input.layers {
        // Checked when each attribute expanded; read again here.
        match layer.kind.parse_checked(layer.args.clone()) {
            Ok(args) => layers.push(args),
            Err(error) => return error.into_compile_error(),
        }
    }
    if let Err(error) = check_order(input) {
        return error.into_compile_error();
    }
    stack(input, &layers)
}

/// Orders that cannot mean what they read: a `#[fallback]` below a
/// `#[hedge]` turns each failed copy into a success, which then wins the
/// race over a copy that would have succeeded.
fn check_order(input: &StackInput) -> syn::Result<()> {
    let Some(hedge) = input.layers.iter().position(|l| l.kind == Kind::Hedge) else {
        return Ok(());
    };
    match input.layers[hedge..]
        .iter()
        .find(|l| l.kind == Kind::Fallback)
    {
        Some(fallback) => Err(syn::Error::new(
            fallback.span,
            "`#[fallback]` below `#[hedge]` makes every failed copy a success, which would win the race over a copy still running: put `#[fallback]` above `#[hedge]`",
        )),
        None => Ok(()),
    }
}

/// A slot a layer parks a value in for the layers above: its name, its
/// declaration and its type.
pub(crate) struct Slot {
    pub(crate) name: syn::Ident,
    pub(crate) declare: TokenStream,
    pub(crate) ty: TokenStream,
}

/// The slots the layers `layers` (the first at depth `first`) park values
/// in: one per payload a layer can park, and one per keyed breaker, which
/// keeps the key's breaker where a retry above can ask it without
/// evaluating the key again. Declared at the top of the stack, and in
/// each copy of a hedge for the layers below it.
pub(crate) fn parked_slots(layers: &[LayerArgs], first: usize) -> Vec<Slot> {
    let mut slots: Vec<Slot> = Tag::ALL
        .into_iter()
        .filter(|tag| layers.iter().any(|l| l.produces() == Some(*tag)))
        .map(|tag| Slot {
            name: tag.slot(),
            declare: tag.declare_slot(),
            ty: tag.slot_type(),
        })
        .collect();
    for (offset, layer) in layers.iter().enumerate() {
        if let LayerArgs::Breaker(args) = layer
            && args.keying.key.is_some()
        {
            let depth = first + offset;
            slots.push(Slot {
                name: breaker::key_slot(depth),
                declare: breaker::declare_key_slot(depth),
                ty: breaker::key_slot_type(),
            });
        }
    }
    slots
}

/// The whole stack: `layers[0]` outermost, the user's block innermost.
pub(crate) fn stack(stack: &StackInput, layers: &[LayerArgs]) -> TokenStream {
    let statics = statics(stack, layers);
    let several_retries = several(layers, |l| matches!(l, LayerArgs::Retry(_)));
    let several_hedges = several(layers, |l| matches!(l, LayerArgs::Hedge(_)));
    let slots = parked_slots(layers, 0);
    let slots = slots.iter().map(|slot| &slot.declare);

    // The innermost layer splices the user's statements into its own
    // block, inside the user's braces: nesting the user's block would make
    // a one-line body `{ Ok(1) }` trip `unused_braces`.
    let mut inner = Inner::Body(stack.body.stream());
    let mut below = Below {
        tags: Tags::default(),
        breakers: Vec::new(),
    };
    let mut generated = TokenStream::new();
    for (depth, layer) in layers.iter().enumerate().rev() {
        generated = match layer {
            LayerArgs::Retry(args) => retry::expand(
                stack,
                args,
                depth,
                &inner,
                &below,
                &layers[depth + 1..],
                several_retries,
            ),
            LayerArgs::Breaker(args) => breaker::expand(stack, args, depth, &inner, below.tags),
            LayerArgs::Timeout(args) => timeout::expand(stack, args, depth, &inner, below.tags),
            LayerArgs::Fallback(args) => {
                fallback::expand(stack, layers, args, depth, &inner, below.tags)
            }
            LayerArgs::Bulkhead(args) => bulkhead::expand(stack, args, depth, &inner, below.tags),
            LayerArgs::RateLimit(args) => {
                rate_limit::expand(stack, args, depth, &inner, below.tags)
            }
            LayerArgs::Hedge(args) => hedge::expand(
                stack,
                args,
                depth,
                &inner,
                below.tags,
                &layers[depth + 1..],
                several_hedges,
            ),
        };
        // What the next layer out receives.
        match layer {
            LayerArgs::Breaker(args) => below.breakers.push(breaker::ask(args, depth)),
            // Everything below is resolved into the plain result.
            LayerArgs::Fallback(_) => {
                below = Below {
                    tags: Tags::default(),
                    breakers: Vec::new(),
                };
            }
            LayerArgs::Retry(_)
            | LayerArgs::Timeout(_)
            | LayerArgs::Bulkhead(_)
            | LayerArgs::RateLimit(_)
            | LayerArgs::Hedge(_) => {}
        }
        if let Some(tag) = layer.produces() {
            below.tags = below.tags.with(tag);
        }
        inner = Inner::Layer(generated.clone());
    }
    if below.tags.any() {
        generated = at_the_boundary(stack, layers, &generated, below.tags);
    }
    // The arguments whose `mut` moved out of the signature.
    let rebind = stack.fresh.iter().map(|name| {
        quote! {
            #[allow(unused_mut)]
            let mut #name = #name;
        }
    });
    quote!({
        #[allow(unused_imports)]
        use ::resilient::__private as __resilient;
        #(#statics)* #(#rebind)* #(#slots)* #generated
    })
}

/// Whether the stack has more than one layer of a kind (whose default
/// names then tell the layers apart).
fn several(layers: &[LayerArgs], kind: fn(&LayerArgs) -> bool) -> bool {
    layers.iter().filter(|l| kind(l)).count() > 1
}

/// The `static`s of the layers that own one (a breaker, a bulkhead, a
/// rate limiter built from literal settings).
fn statics(stack: &StackInput, layers: &[LayerArgs]) -> Vec<TokenStream> {
    let breakers = several(layers, |l| matches!(l, LayerArgs::Breaker(_)));
    let bulkheads = several(layers, |l| matches!(l, LayerArgs::Bulkhead(_)));
    let limiters = several(layers, |l| matches!(l, LayerArgs::RateLimit(_)));
    layers
        .iter()
        .enumerate()
        .filter_map(|(depth, layer)| match layer {
            LayerArgs::Breaker(args) => breaker::breaker_static(stack, args, depth, breakers),
            LayerArgs::Bulkhead(args) => bulkhead::bulkhead_static(stack, args, depth, bulkheads),
            LayerArgs::RateLimit(args) => {
                rate_limit::rate_limit_static(stack, args, depth, limiters)
            }
            LayerArgs::Retry(_)
            | LayerArgs::Timeout(_)
            | LayerArgs::Fallback(_)
            | LayerArgs::Hedge(_) => None,
        })
        .collect()
}

/// The function returns its own type: a rejection that reached the top
/// becomes `Err(E::from(open))`, or `Err(on_open(open))`.
fn at_the_boundary(
    stack: &StackInput,
    layers: &[LayerArgs],
    top: &TokenStream,
    tags: Tags,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let top_var = format_ident!("__resilient_top", span = Span::mixed_site());
    let outcome_type = tags.outcome(&erased);
    let converted = convert_tags(stack, layers, tags, &top_var);
    quote! {{
        let #top_var: #outcome_type = #top;
        #converted
    }}
}
