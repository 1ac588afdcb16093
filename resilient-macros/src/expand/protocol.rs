//! The layer protocol: what one layer of a stack hands to the next, and
//! the pieces every layer's expansion is made of.
//!
//! A layer evaluates to the function's own result `R` while no layer below
//! it can reject a call or cut it off. Once one can, it evaluates to
//! `__private::Outcome<R, ..>`: `Done(R)`, or a [`Tag`] (`Rejected`,
//! `TimedOut`) whose payload (a `CircuitOpen`, an `Elapsed`) waits in the
//! function's slot for that tag, so the outcome is no bigger than `R`. The
//! first layer that needs the user's `E` (a `when`, an `on_retry`, a
//! fallback handler, the function's return) converts the tag into it.
//!
//! Tags are data: a new kind of rejection is a variant of [`Tag`], and
//! every match over tags below is generated from [`Tag::ALL`].

use core::time::Duration;

use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::DurationArg;
use crate::item::erase_impl_trait;
use crate::kind::LayerArgs;
use crate::stack::StackInput;

/// What a layer can hand outward besides the function's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A circuit breaker refused the call (`CircuitOpen`).
    Rejected,
    /// A timeout cut the call off (`Elapsed`).
    TimedOut,
    /// A full bulkhead turned the call away (`BulkheadFull`).
    Full,
    /// A rate limiter turned the call away (`RateLimited`).
    Limited,
}

impl Tag {
    /// Every tag, in the order of `Outcome`'s type parameters.
    pub(crate) const ALL: [Self; 4] = [Self::Rejected, Self::TimedOut, Self::Full, Self::Limited];

    /// Its variant of `__private::Outcome`.
    fn variant(self) -> syn::Ident {
        match self {
            Self::Rejected => format_ident!("Rejected"),
            Self::TimedOut => format_ident!("TimedOut"),
            Self::Full => format_ident!("Full"),
            Self::Limited => format_ident!("Limited"),
        }
    }

    /// `__resilient::Outcome::<Variant>`.
    pub(crate) fn pattern(self) -> TokenStream {
        let variant = self.variant();
        quote!(__resilient::Outcome::#variant)
    }

    /// Where its payload waits while the tag travels outward: one slot per
    /// function, declared when a layer of the stack produces this tag.
    pub(crate) fn slot(self) -> syn::Ident {
        let name = match self {
            Self::Rejected => "__resilient_rejection",
            Self::TimedOut => "__resilient_elapsed",
            Self::Full => "__resilient_full",
            Self::Limited => "__resilient_limited",
        };
        syn::Ident::new(name, Span::mixed_site())
    }

    /// The payload's type.
    fn payload(self) -> TokenStream {
        match self {
            Self::Rejected => quote!(__resilient::CircuitOpen),
            Self::TimedOut => quote!(__resilient::Elapsed),
            Self::Full => quote!(__resilient::BulkheadFull),
            Self::Limited => quote!(__resilient::RateLimited),
        }
    }

    /// Its slot's type, `Option<Payload>`.
    pub(crate) fn slot_type(self) -> TokenStream {
        let payload = self.payload();
        quote!(::core::option::Option<#payload>)
    }

    /// `let mut slot: Option<Payload> = None;`
    pub(crate) fn declare_slot(self) -> TokenStream {
        let (slot, slot_type) = (self.slot(), self.slot_type());
        quote! {
            let mut #slot: #slot_type = ::core::option::Option::None;
        }
    }

    /// The payload, taken out of its slot, for the last layer that sees it.
    pub(crate) fn taken(self) -> TokenStream {
        let slot = self.slot();
        match self {
            Self::Rejected => quote!(__resilient::unpark_open(&mut #slot)),
            Self::TimedOut => quote!(__resilient::peek_elapsed(&#slot)),
            Self::Full => quote!(__resilient::unpark_full(&mut #slot)),
            Self::Limited => quote!(__resilient::unpark_limited(&mut #slot)),
        }
    }

    /// A copy of the payload, left in its slot for the layers further out.
    pub(crate) fn copied(self) -> TokenStream {
        let slot = self.slot();
        match self {
            Self::Rejected => quote!(::core::clone::Clone::clone(
                __resilient::peek_open(&#slot)
            )),
            Self::TimedOut => quote!(__resilient::peek_elapsed(&#slot)),
            Self::Full => quote!(::core::clone::Clone::clone(
                __resilient::peek_full(&#slot)
            )),
            Self::Limited => quote!(::core::clone::Clone::clone(
                __resilient::peek_limited(&#slot)
            )),
        }
    }

    /// For a retry above: the wait this tag announces, if it is a
    /// rejection with a known wait (a retry sleeps at least that long and
    /// gives up at once past its caps). A tag without one is a transient
    /// failure like an error, which `when` sees as the user's `E`.
    pub(crate) fn retry_wait(self) -> Option<TokenStream> {
        let slot = self.slot();
        match self {
            Self::Rejected => Some(quote!(__resilient::peek_open(&#slot).retry_after())),
            Self::Limited => Some(quote!(__resilient::peek_limited(&#slot).retry_after())),
            Self::TimedOut | Self::Full => None,
        }
    }

    /// For a retry above: whether the attempt reached the service (a
    /// retry budget counts only those). A full bulkhead turned it away
    /// before.
    pub(crate) fn reached_service(self) -> bool {
        match self {
            Self::Rejected | Self::Full | Self::Limited => false,
            Self::TimedOut => true,
        }
    }

    /// For a circuit breaker above: whether the tag is the dependency's
    /// failure (a call cut off) or says nothing about it (a rejection by a
    /// breaker further below).
    pub(crate) fn is_dependency_failure(self) -> bool {
        match self {
            Self::Rejected | Self::Full | Self::Limited => false,
            Self::TimedOut => true,
        }
    }

    /// The conversion into the user's `E` through `From`, and through the
    /// producing layer's own converter.
    fn conversions(self) -> (&'static str, &'static str) {
        match self {
            Self::Rejected => ("rejected", "rejected_with"),
            Self::TimedOut => ("timed_out", "timed_out_with"),
            Self::Full => ("bulkhead_full", "bulkhead_full_with"),
            Self::Limited => ("rate_limited", "rate_limited_with"),
        }
    }

    /// `payload` as the function's result: `Err(E::from(payload))`, or
    /// through the converter (`on_open`, `on_timeout`) of the nearest layer
    /// in `below` that produces this tag and has one.
    pub(crate) fn as_result(
        self,
        stack: &StackInput,
        below: &[LayerArgs],
        payload: &TokenStream,
    ) -> TokenStream {
        let erased = erase_impl_trait(&stack.output);
        let (from, with) = self.conversions();
        if let Some(converter) = below.iter().find_map(|layer| layer.converter(self)) {
            let span = converter.span();
            let with = syn::Ident::new(with, span);
            return quote_spanned!(span=> ::resilient::__private::#with::<#erased>(#payload, #converter));
        }
        // Every token at `E` (the type argument too): a missing conversion
        // is reported there.
        let span = error_type_span(&stack.output);
        let from = syn::Ident::new(from, span);
        let erased_at_e = respan(quote!(#erased), span);
        quote_spanned!(span=> ::resilient::__private::#from::<#erased_at_e>(#payload))
    }
}

impl LayerArgs {
    /// The tag this layer hands outward besides the result: a breaker's
    /// rejection, a timeout.
    pub(crate) fn produces(&self) -> Option<Tag> {
        match self {
            Self::Breaker(_) => Some(Tag::Rejected),
            Self::Timeout(_) => Some(Tag::TimedOut),
            Self::Bulkhead(_) => Some(Tag::Full),
            Self::RateLimit(_) => Some(Tag::Limited),
            Self::Retry(_) | Self::Fallback(_) | Self::Hedge(_) => None,
        }
    }

    /// This layer's own conversion of its tag into the user's `E`
    /// (`on_open`, `on_timeout`), if it has one.
    pub(crate) fn converter(&self, tag: Tag) -> Option<&syn::Expr> {
        match (self, tag) {
            (Self::Breaker(args), Tag::Rejected) => args.on_open.as_ref().map(|k| &*k.value),
            (Self::Timeout(args), Tag::TimedOut) => args.on_timeout.as_deref(),
            (Self::Bulkhead(args), Tag::Full) => args.on_full.as_ref().map(|k| &*k.value),
            (Self::RateLimit(args), Tag::Limited) => args.on_limited.as_ref().map(|k| &*k.value),
            _ => None,
        }
    }
}

/// Which tags can reach a point of the stack besides the function's own
/// result.
#[derive(Clone, Copy, Default)]
pub(crate) struct Tags(u8);

impl Tags {
    fn bit(tag: Tag) -> u8 {
        1 << tag as u8
    }

    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }

    pub(crate) fn has(self, tag: Tag) -> bool {
        self.0 & Self::bit(tag) != 0
    }

    #[must_use]
    pub(crate) fn with(self, tag: Tag) -> Self {
        Self(self.0 | Self::bit(tag))
    }

    /// The tags present, in [`Tag::ALL`]'s order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Tag> {
        Tag::ALL.into_iter().filter(move |tag| self.has(*tag))
    }

    /// The type an attempt yields at this point: `R` when nothing below
    /// can reject, else [`outcome`](Self::outcome).
    pub(crate) fn attempt_type(self, erased: &syn::Type) -> TokenStream {
        if self.any() {
            self.outcome(erased)
        } else {
            quote!(#erased)
        }
    }

    /// `Outcome<R, ..>`, with `Infallible` for a tag that cannot occur and
    /// `Parked` for one that can: its payload waits in its slot.
    pub(crate) fn outcome(self, erased: &syn::Type) -> TokenStream {
        // Trailing `Infallible`s are `Outcome`'s defaults: left out.
        let used = Tag::ALL
            .iter()
            .rposition(|tag| self.has(*tag))
            .map_or(0, |last| last + 1);
        let params = Tag::ALL[..used].iter().map(|tag| {
            if self.has(*tag) {
                quote!(__resilient::Parked)
            } else {
                quote!(::core::convert::Infallible)
            }
        });
        quote!(__resilient::Outcome<#erased, #(#params),*>)
    }

    /// Match arms for the tags that cannot occur: `Infallible` has no
    /// value. `by_ref` when matching through a reference.
    pub(crate) fn impossible(self, value: &syn::Ident, by_ref: bool) -> TokenStream {
        let never = if by_ref {
            quote!(*#value)
        } else {
            quote!(#value)
        };
        let arms = Tag::ALL
            .into_iter()
            .filter(|tag| !self.has(*tag))
            .map(|tag| {
                let pattern = tag.pattern();
                quote!(#pattern(#value) => match #never {},)
            });
        quote!(#(#arms)*)
    }
}

/// What a layer knows of the layers below it.
pub(crate) struct Below {
    /// What it receives besides the plain result `R` (with none, `R`
    /// itself; otherwise an `Outcome`).
    pub(crate) tags: Tags,
    /// `&CircuitBreaker` expressions of the breakers below, for an outer
    /// retry to ask before it sleeps.
    pub(crate) breakers: Vec<Ask>,
}

/// `outcome` (of tags `tags`) as the function's own result: each tag
/// converted into `E` (see [`Tag::as_result`]).
pub(crate) fn convert_tags(
    stack: &StackInput,
    below: &[LayerArgs],
    tags: Tags,
    outcome: &syn::Ident,
) -> TokenStream {
    let value = format_ident!("__resilient_tag", span = Span::mixed_site());
    let done = format_ident!("__resilient_done", span = Span::mixed_site());
    let present = tags.iter().map(|tag| {
        let pattern = tag.pattern();
        let convert = tag.as_result(stack, below, &tag.taken());
        quote!(#pattern(_) => #convert,)
    });
    let impossible = tags.impossible(&value, false);
    quote! {
        match #outcome {
            __resilient::Outcome::Done(#done) => #done,
            #(#present)*
            #impossible
        }
    }
}

/// After a failure, asks each breaker below whether it is open: the
/// longest wait goes into `failure`, its rejection into `pending`.
pub(crate) fn ask_below(
    breakers: &[Ask],
    failure: &syn::Ident,
    pending: &syn::Ident,
) -> TokenStream {
    let asks = breakers.iter().map(|Ask { function, target }| {
        quote! {
            #failure = __resilient::#function(#failure, #target, &mut #pending);
        }
    });
    quote!(#(#asks)*)
}

/// How to ask a breaker below whether it is open: `function(failure,
/// target.., &mut pending)`.
pub(crate) struct Ask {
    pub(crate) function: TokenStream,
    pub(crate) target: TokenStream,
}

/// The builder calls of a keyed layer's own `static`: `.max_keys(..)`,
/// `.idle(..)`, as given.
pub(crate) fn keying_calls(keying: &crate::args::Keying) -> Vec<TokenStream> {
    let mut calls = Vec::new();
    if let Some(max_keys) = &keying.max_keys {
        let n = Literal::u32_unsuffixed(max_keys.value.0);
        calls.push(quote!(.max_keys(#n)));
    }
    if let Some(idle) = &keying.idle {
        let d = duration(&idle.value);
        calls.push(quote!(.idle(#d)));
    }
    calls
}

/// The name of a layer's own `static` (a breaker, a bulkhead, a rate
/// limiter): the user's `name = "…"`, or `module::function@line`, where
/// the line tells apart functions of one name in one module (methods of
/// two types, functions nested in two tests), and `#depth` the layers of
/// one kind when a stack has several.
pub(crate) fn static_name(
    stack: &StackInput,
    name: Option<&crate::args::Keyed<syn::LitStr>>,
    depth: usize,
    several: bool,
) -> TokenStream {
    if let Some(name) = name {
        let name = &name.value;
        return quote!(#name);
    }
    let fn_name = &stack.fn_name;
    let line = quote_spanned!(fn_name.span()=> , "@", ::core::line!());
    let layer = several.then(|| {
        let depth = depth.to_string();
        quote!(, "#", #depth)
    });
    quote!(::core::concat!(::core::module_path!(), "::", #fn_name #line #layer))
}

/// `tokens` with every span set to `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The span of `E` in `Result<T, E>` (or in `io::Result<T>`-like aliases,
/// the whole type).
pub(crate) fn error_type_span(output: &syn::Type) -> Span {
    if let syn::Type::Path(path) = output
        && let Some(segment) = path.path.segments.last()
        && let syn::PathArguments::AngleBracketed(args) = &segment.arguments
        && let Some(syn::GenericArgument::Type(error)) = args.args.iter().nth(1)
    {
        return error.span();
    }
    output.span()
}

/// What a layer wraps: the user's statements, or the next layer's block.
pub(crate) enum Inner {
    Body(TokenStream),
    Layer(TokenStream),
}

/// A generated local of the layer at `depth`: `__resilient_<name>_<depth>`,
/// which the user's body cannot name.
pub(crate) fn ident(name: &str, depth: usize) -> syn::Ident {
    format_ident!("__resilient_{}_{}", name, depth, span = Span::mixed_site())
}

/// The user's block as a future whose output is the function's return
/// type: the bound types the block's `return`s, `?` and tail before they
/// are checked, as the plain function's signature would, so coercions and
/// `?` conversions work as without the attribute. Nothing is put inside
/// the user's braces, so an item first in the body (a `use`) stays first
/// (no `items_after_statements`), and no nested block trips
/// `unused_braces` on a one-line body.
pub(crate) fn body_future(stack: &StackInput, stmts: &TokenStream) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let mut block = Group::new(Delimiter::Brace, stmts.clone());
    block.set_span(stack.body.span());
    if stack.blocking {
        // A plain `fn`: the block in a closure, called at once (a `return`
        // ends the closure, as it ends an `async` block).
        let typed = quote_spanned! {stack.output.span()=>
            ::resilient::__private::typed_blocking::<#erased, _>
        };
        return quote!(#typed(|| #block));
    }
    let typed = quote_spanned! {stack.output.span()=>
        ::resilient::__private::typed::<#erased, _>
    };
    quote!(#typed(async #block))
}

/// A duration setting as an expression of type `Duration`.
pub(crate) fn duration(d: &DurationArg) -> TokenStream {
    match d {
        DurationArg::Literal { value, .. } => literal_duration(*value),
        // Spanned at the user's expression, so a type error lands there;
        // the parentheses are the macro's (`unused_parens` is not the
        // user's concern).
        DurationArg::Expr(expr) => {
            let mut parens = Group::new(Delimiter::Parenthesis, expr.to_token_stream());
            parens.set_span(Span::mixed_site().located_at(expr.span()));
            parens.into_token_stream()
        }
    }
}

pub(crate) fn literal_duration(value: Duration) -> TokenStream {
    let secs = Literal::u64_unsuffixed(value.as_secs());
    let nanos = Literal::u32_unsuffixed(value.subsec_nanos());
    quote!(__resilient::Duration::new(#secs, #nanos))
}

/// One attempt, as an expression: the user's block as an `async` block,
/// awaited (so a `return` or `?` in it ends the attempt, not the
/// function), after the attempt's prelude (its copies of `mut` and
/// `clone(..)` arguments, which the block borrows or takes), or the next
/// layer's block inline. A layer needs no `async` block of its own: each
/// one would be another coroutine whose output is moved through memory on
/// the way out.
pub(crate) fn run_attempt(stack: &StackInput, inner: &Inner, prelude: &TokenStream) -> TokenStream {
    match inner {
        Inner::Body(stmts) => {
            let body = body_future(stack, stmts);
            let body = if stack.blocking {
                body
            } else {
                quote!(#body.await)
            };
            if prelude.is_empty() {
                body
            } else {
                quote!({ #prelude #body })
            }
        }
        Inner::Layer(layer) => quote!({ #prelude #layer }),
    }
}

/// One attempt as a future (for a layer that needs one, `#[timeout]`):
/// the user's block, or the next layer's block in an `async` block.
pub(crate) fn attempt_future(stack: &StackInput, inner: &Inner) -> TokenStream {
    match inner {
        Inner::Body(stmts) => body_future(stack, stmts),
        Inner::Layer(layer) => quote!(async { #layer }),
    }
}

/// `let mut name = ::resilient::__private::function(&name);`: a `mut`
/// argument taken afresh from the caller's value, for an attempt or a
/// copy. The path is absolute: this goes inside the user's braces, where
/// a `use .. as __resilient;` of the body's own would win. The borrow
/// carries the argument's span, so a type the function refuses is an
/// error at the argument.
pub(crate) fn fresh_local(name: &syn::Ident, function: &str) -> TokenStream {
    let borrow = syn::Token![&](name.span());
    let function = syn::Ident::new(function, Span::call_site());
    quote! {
        #[allow(unused_mut)]
        let mut #name = ::resilient::__private::#function(#borrow #name);
    }
}
