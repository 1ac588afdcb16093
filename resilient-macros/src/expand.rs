//! Code generation. Everything here has been validated: no error paths.
//!
//! Generated names are `__resilient_*` with `Span::mixed_site()`, so the
//! user's body cannot name them; paths are absolute, through
//! `::resilient::__private`; lints are relaxed on glue only, never on the
//! user's block.

use core::time::Duration;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::{Backoff, DurationArg, Factor, Jitter, RetryAfter, RetryArgs};
use crate::breaker_args::BreakerArgs;
use crate::fallback_args::{FallbackArgs, Form as FallbackForm};
use crate::item::erase_impl_trait;
use crate::stack::StackInput;
use crate::timeout_args::TimeoutArgs;
use crate::validate::{DEFAULT_INITIAL, DEFAULT_MAX};

/// One layer's arguments, by kind.
pub(crate) enum LayerArgs {
    Retry(RetryArgs),
    Breaker(BreakerArgs),
    Timeout(TimeoutArgs),
    Fallback(FallbackArgs),
}

/// Which tags can reach a point of the stack besides the function's own
/// result: a rejection by a breaker, a timeout.
#[derive(Clone, Copy, Default)]
struct Tags {
    rejected: bool,
    timed_out: bool,
}

impl Tags {
    fn any(self) -> bool {
        self.rejected || self.timed_out
    }

    /// `Outcome<R, J, T>`, with `Infallible` for a tag that cannot occur
    /// and `Parked` for one that can: its payload waits in the stack's
    /// slot ([`rejection_slot`], [`elapsed_slot`]).
    fn outcome(self, erased: &syn::Type) -> TokenStream {
        let infallible = quote!(::core::convert::Infallible);
        let parked = quote!(::resilient::__private::Parked);
        let j = if self.rejected {
            parked.clone()
        } else {
            infallible.clone()
        };
        let t = if self.timed_out { parked } else { infallible };
        quote!(::resilient::__private::Outcome<#erased, #j, #t>)
    }
}

/// Match arms for the tags that cannot occur: `Infallible` has no value.
/// `by_ref` when matching through a reference.
fn impossible(tags: Tags, value: &syn::Ident, by_ref: bool) -> TokenStream {
    let never = if by_ref {
        quote!(*#value)
    } else {
        quote!(#value)
    };
    let rejected = (!tags.rejected)
        .then(|| quote!(::resilient::__private::Outcome::Rejected(#value) => match #never {},));
    let timed_out = (!tags.timed_out)
        .then(|| quote!(::resilient::__private::Outcome::TimedOut(#value) => match #never {},));
    quote!(#rejected #timed_out)
}

/// Where a rejection waits while its tag travels outward (see
/// `__private::Parked`): one slot per function, declared when a breaker
/// is in the stack.
fn rejection_slot() -> syn::Ident {
    format_ident!("__resilient_rejection", span = Span::mixed_site())
}

/// As [`rejection_slot`], for a timeout.
fn elapsed_slot() -> syn::Ident {
    format_ident!("__resilient_elapsed", span = Span::mixed_site())
}

/// What a layer knows of the layers below it.
struct Below {
    /// What it receives besides the plain result `R` (with none, `R`
    /// itself; otherwise an `Outcome`).
    tags: Tags,
    /// `&CircuitBreaker` expressions of the breakers below, for an outer
    /// retry to ask before it sleeps.
    breakers: Vec<TokenStream>,
}

/// The whole stack: `layers[0]` outermost, the user's block innermost.
pub(crate) fn stack(stack: &StackInput, layers: &[LayerArgs]) -> TokenStream {
    let several = layers
        .iter()
        .filter(|l| matches!(l, LayerArgs::Breaker(_)))
        .count()
        > 1;
    let statics = layers
        .iter()
        .enumerate()
        .filter_map(|(depth, layer)| match layer {
            LayerArgs::Breaker(args) => breaker_static(stack, args, depth, several),
            LayerArgs::Retry(_) | LayerArgs::Timeout(_) | LayerArgs::Fallback(_) => None,
        });
    let statics: Vec<_> = statics.collect();
    // One slot per payload a layer of the stack can park.
    let slot = |present: bool, name: syn::Ident, ty: TokenStream| {
        present.then(|| {
            quote! {
                let mut #name: ::core::option::Option<#ty> = ::core::option::Option::None;
            }
        })
    };
    let has = |kind: fn(&LayerArgs) -> bool| layers.iter().any(kind);
    let slots = [
        slot(
            has(|l| matches!(l, LayerArgs::Breaker(_))),
            rejection_slot(),
            quote!(::resilient::__private::CircuitOpen),
        ),
        slot(
            has(|l| matches!(l, LayerArgs::Timeout(_))),
            elapsed_slot(),
            quote!(::resilient::__private::Elapsed),
        ),
    ];

    // The innermost layer splices the user's statements into its own
    // block, inside the user's braces: nesting the user's block would make
    // a one-line body `{ Ok(1) }` trip `unused_braces`.
    let stmts = &stack.body.stmts;
    let mut inner = Inner::Body(quote!(#(#stmts)*));
    let mut below = Below {
        tags: Tags::default(),
        breakers: Vec::new(),
    };
    let mut generated = TokenStream::new();
    for (depth, layer) in layers.iter().enumerate().rev() {
        match layer {
            LayerArgs::Retry(args) => {
                generated = retry(stack, args, depth, &inner, &below, &layers[depth + 1..]);
            }
            LayerArgs::Breaker(args) => {
                generated = breaker(stack, args, depth, &inner, below.tags);
                below.tags.rejected = true;
                below.breakers.push(breaker_ref(args, depth));
            }
            LayerArgs::Timeout(args) => {
                generated = timeout(stack, args, depth, &inner, below.tags);
                below.tags.timed_out = true;
            }
            LayerArgs::Fallback(args) => {
                generated = fallback(stack, layers, args, depth, &inner, below.tags);
                // Everything below is resolved into the plain result.
                below = Below {
                    tags: Tags::default(),
                    breakers: Vec::new(),
                };
            }
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
    quote!({ #(#statics)* #(#rebind)* #(#slots)* #generated })
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

// Input:  #[fallback(..)] over `inner`
// Output (plain): the inner result, or on error (and `when`) the fallback.
// Tags from below become the user's `E` only if a handler or `when` must
// see it; `value`/`default` without `when` need no conversion at all.
fn fallback(
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
            quote! {{
                #[allow(unused_imports)]
                use ::resilient::__private::RecoverAsync as _;
                let #later = match #call {
                    ::resilient::__private::Resolved::Ready(#value) => break #label #value,
                    ::resilient::__private::Resolved::Later(#later) => #later,
                };
                #later.await
            }}
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
                    ::resilient::__private::Outcome::Done(::core::result::Result::Ok(#value)) => {
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

/// `outcome` (of tags `tags`) as the function's own result: a rejection
/// becomes `Err(E::from(open))` (or `on_open`), a timeout `Err(E::from(
/// elapsed))` (or `on_timeout`).
fn convert_tags(
    stack: &StackInput,
    below: &[LayerArgs],
    tags: Tags,
    outcome: &syn::Ident,
) -> TokenStream {
    let value = format_ident!("__resilient_tag", span = Span::mixed_site());
    let done = format_ident!("__resilient_done", span = Span::mixed_site());
    let rejected = tags.rejected.then(|| {
        let slot = rejection_slot();
        let open = quote!(::resilient::__private::unpark_open(&mut #slot));
        let convert = rejection_as_result(stack, below, &open);
        quote!(::resilient::__private::Outcome::Rejected(_) => #convert,)
    });
    let timed_out = tags.timed_out.then(|| {
        let slot = elapsed_slot();
        let elapsed = quote!(::resilient::__private::peek_elapsed(&#slot));
        let convert = timeout_as_result(stack, below, &elapsed);
        quote!(::resilient::__private::Outcome::TimedOut(_) => #convert,)
    });
    let impossible = impossible(tags, &value, false);
    quote! {
        match #outcome {
            ::resilient::__private::Outcome::Done(#done) => #done,
            #rejected
            #timed_out
            #impossible
        }
    }
}

/// `Err(E::from(open))`, or `Err(on_open(open))` with the `on_open` of the
/// nearest breaker in `below` that has one, as the function's result type.
fn rejection_as_result(stack: &StackInput, below: &[LayerArgs], open: &TokenStream) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let on_open = below.iter().find_map(|layer| match layer {
        LayerArgs::Breaker(args) => args.on_open.as_ref().map(|k| &k.value),
        _ => None,
    });
    if let Some(on_open) = on_open {
        return quote_spanned!(on_open.span()=> ::resilient::__private::rejected_with::<#erased>(#open, #on_open));
    }
    // Every token at `E` (the type argument too): a missing conversion is
    // reported there.
    let span = error_type_span(&stack.output);
    let erased_at_e = respan(quote!(#erased), span);
    quote_spanned!(span=> ::resilient::__private::rejected::<#erased_at_e>(#open))
}

/// As [`rejection_as_result`], for a timeout (`From<Elapsed>`, `on_timeout`).
fn timeout_as_result(
    stack: &StackInput,
    below: &[LayerArgs],
    elapsed: &TokenStream,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let on_timeout = below.iter().find_map(|layer| match layer {
        LayerArgs::Timeout(args) => args.on_timeout.as_ref(),
        _ => None,
    });
    if let Some(on_timeout) = on_timeout {
        return quote_spanned!(on_timeout.span()=> ::resilient::__private::timed_out_with::<#erased>(#elapsed, #on_timeout));
    }
    let span = error_type_span(&stack.output);
    let erased_at_e = respan(quote!(#erased), span);
    quote_spanned!(span=> ::resilient::__private::timed_out::<#erased_at_e>(#elapsed))
}

/// After a failure, asks each breaker below whether it is open: the
/// longest wait goes into `failure`, its rejection into `pending`.
fn ask_below(
    breakers: &[TokenStream],
    failure: &syn::Ident,
    open: &syn::Ident,
    pending: &syn::Ident,
) -> TokenStream {
    let asks = breakers.iter().map(|breaker| {
        quote! {
            if let ::core::result::Result::Err(#open) = (#breaker).check() {
                #failure = #failure.with_admits_in(#open.retry_after());
                // Keep the rejection with the longest wait: the one that
                // decides.
                if #pending.as_ref().is_none_or(|known| known.retry_after() < #open.retry_after()) {
                    #pending = ::core::option::Option::Some(#open);
                }
            }
        }
    });
    quote!(#(#asks)*)
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
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
fn error_type_span(output: &syn::Type) -> Span {
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
enum Inner {
    Body(TokenStream),
    Layer(TokenStream),
}

fn ident(name: &str, depth: usize) -> syn::Ident {
    format_ident!("__resilient_{}_{}", name, depth, span = Span::mixed_site())
}

/// Makes the block's type known before the user's `return`s and tail are
/// checked, as the plain function's signature would: coercions and `?`
/// inference work as they do without the attribute. Spanned at the return
/// type, so type errors point there.
fn fake_return_edge(output: &syn::Type) -> TokenStream {
    let erased = erase_impl_trait(output);
    let fake = format_ident!("__resilient_fake_return", span = Span::mixed_site());
    quote_spanned! {output.span()=>
        if let ::core::option::Option::Some(#fake) = ::core::option::Option::<#erased>::None {
            return #fake;
        }
    }
}

fn duration(d: &DurationArg) -> TokenStream {
    match d {
        DurationArg::Literal { value, .. } => literal_duration(*value),
        // Spanned at the user's expression: a type error lands there.
        DurationArg::Expr(expr) => quote_spanned!(expr.span()=> (#expr)),
    }
}

fn literal_duration(value: Duration) -> TokenStream {
    let secs = Literal::u64_unsuffixed(value.as_secs());
    let nanos = Literal::u32_unsuffixed(value.subsec_nanos());
    quote!(::resilient::__private::Duration::new(#secs, #nanos))
}

/// The policy, as an expression, and whether every input is a literal
/// (then it is built in a `const` block, checked already, and folds away).
fn policy(args: &RetryArgs) -> (TokenStream, bool) {
    if let Some(policy) = &args.policy {
        let expr = &policy.value;
        return (quote!(#expr), false);
    }
    let literal = core::cell::Cell::new(true);
    let dur = |d: &DurationArg| {
        literal.set(literal.get() && d.literal().is_some());
        duration(d)
    };
    let mut calls = Vec::new();
    if let Some(attempts) = &args.attempts {
        let n = Literal::u32_unsuffixed(attempts.value.0);
        calls.push(quote!(.attempts(#n)));
    }
    if let Some(backoff) = &args.backoff {
        let backoff = match &backoff.value {
            Backoff::None => quote!(none()),
            Backoff::Fixed(d) => {
                let d = dur(d);
                quote!(fixed(#d))
            }
            Backoff::Linear { initial, step, max } => {
                let (i, s, m) = (dur(initial), dur(step), dur(max));
                quote!(linear(#i, #s, #m))
            }
            Backoff::Decorrelated { initial, max } => {
                let (i, m) = (dur(initial), dur(max));
                quote!(decorrelated(#i, #m))
            }
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                let i = initial
                    .as_ref()
                    .map_or_else(|| literal_duration(DEFAULT_INITIAL), dur);
                let m = max
                    .as_ref()
                    .map_or_else(|| literal_duration(DEFAULT_MAX), dur);
                let f = match factor {
                    None => quote!(2.0),
                    Some(Factor::Literal { value, .. }) => {
                        let value = Literal::f64_suffixed(*value);
                        quote!(#value)
                    }
                    Some(Factor::Expr(expr)) => {
                        literal.set(false);
                        quote!(::core::convert::Into::<f64>::into(#expr))
                    }
                };
                quote!(exponential(#i, #f, #m))
            }
        };
        calls.push(quote!(.backoff(::resilient::__private::Backoff::#backoff)));
    }
    if let Some(jitter) = &args.jitter {
        let jitter = match jitter.value {
            Jitter::None => quote!(None),
            Jitter::Full => quote!(Full),
            Jitter::Equal => quote!(Equal),
        };
        calls.push(quote!(.jitter(::resilient::__private::Jitter::#jitter)));
    }
    if let Some(budget) = &args.max_elapsed {
        let d = dur(&budget.value);
        calls.push(quote!(.max_elapsed(#d)));
    }
    if let Some(cap) = &args.max_retry_after {
        let d = dur(&cap.value);
        calls.push(quote!(.max_retry_after(#d)));
    }
    let builder = quote!(::resilient::__private::RetryPolicy::builder() #(#calls)*);
    (builder, literal.get())
}

/// The classifier, the hint reader and the `on_retry` call, inline.
fn hooks(
    args: &RetryArgs,
    error: &syn::Ident,
    erased: &syn::Type,
    result: &syn::Ident,
    attempt: &syn::Ident,
) -> (TokenStream, TokenStream, Option<TokenStream>) {
    // Hooks are called inline, spanned at the user's expression so a
    // signature mismatch is reported there.
    // The error passed to a hook is located at the hook too (hygiene
    // unchanged), so a signature mismatch underlines the user's hook.
    let error_at =
        |span: Span| syn::Ident::new(&error.to_string(), Span::mixed_site().located_at(span));
    let transient = if let Some(when) = &args.when {
        let when = &when.value;
        let error = error_at(when.span());
        quote_spanned!(when.span()=> ::resilient::__private::when(#when, #error))
    } else {
        quote!((&::resilient::__private::HintWrap(#error)).__resilient_is_transient())
    };
    let hint = match args.retry_after.as_ref().map(|k| &k.value) {
        None | Some(RetryAfter::Enabled(true)) => {
            quote!((&::resilient::__private::HintWrap(#error)).__resilient_retry_after())
        }
        Some(RetryAfter::Enabled(false)) => quote!(::core::option::Option::None),
        Some(RetryAfter::Reader(reader)) => {
            let error = error_at(reader.span());
            quote_spanned!(reader.span()=> ::resilient::__private::read_hint(#reader, #error))
        }
    };
    let on_retry = args.on_retry.as_ref().map(|on_retry| {
        let hook = &on_retry.value;
        let error_here = error_at(hook.span());
        let call = quote_spanned!(hook.span()=> ::resilient::__private::on_retry(#hook, #error_here, &#attempt));
        quote! {
            if let ::core::option::Option::Some(#error) =
                <#erased as ::resilient::__private::RetryResult>::retry_error(#result)
            {
                #call;
            }
        }
    });
    (transient, hint, on_retry)
}

// Input:  #[retry(..)] over `inner` (the user's block, or the next layer)
// Output:
//     {
//         let policy = ..;             // per call: may use the arguments
//         let mut state = RetryState::new();
//         loop {
//             let outcome: Output = { <clones> inner };   // the body: `async { <fake return edge> body }.await`
//             let failure = match RetryResult::retry_error(&outcome) { None => break outcome, Some(e) => classify(e) };
//             match state.on_failure(&policy, failure, Instant::now()) {
//                 Decision::Retry(attempt) => { on_retry(e, &attempt); drop(outcome); pause(..).await }
//                 Decision::Stop(_) => break outcome,
//             }
//         }
//     }
// One template, read top to bottom; splitting it would scatter the loop.
#[allow(clippy::too_many_lines)]
fn retry(
    stack: &StackInput,
    args: &RetryArgs,
    depth: usize,
    inner: &Inner,
    below: &Below,
    layers_below: &[LayerArgs],
) -> TokenStream {
    let output = &stack.output;
    let erased = erase_impl_trait(output);
    let fn_name = &stack.fn_name;
    let policy_var = ident("policy", depth);
    let state = ident("state", depth);
    let outcome = ident("outcome", depth);
    let result = ident("result", depth);
    let failure = ident("failure", depth);
    let error = ident("error", depth);
    let attempt = ident("attempt", depth);
    let now = ident("now", depth);
    let delay = ident("delay", depth);
    let open = ident("open", depth);
    let pending = ident("pending", depth);
    let stop_reason = ident("stop", depth);
    let rejection = rejection_slot();
    let peeked_elapsed = {
        let slot = elapsed_slot();
        quote!(::resilient::__private::peek_elapsed(&#slot))
    };
    let converted_var = ident("converted", depth);

    let (policy, start) = policy_and_start(args, fn_name, &policy_var, &state);
    let (transient, hint, on_retry) = hooks(args, &error, &erased, &result, &attempt);
    // `mut` whatever the parameter was: the body may mutate its copy.
    let clones = args.clone.iter().flat_map(|c| &c.value).map(|name| {
        quote! {
            #[allow(unused_mut)]
            let mut #name = ::core::clone::Clone::clone(&#name);
        }
    });
    // A `mut` argument starts each attempt from the caller's value: a copy
    // (a type that is not `Copy` is an error at the argument that leads to
    // `clone(..)`).
    let is_cloned = |name: &syn::Ident| args.clone.iter().flat_map(|c| &c.value).any(|c| c == name);
    let fresh = stack
        .fresh
        .iter()
        .filter(|name| !is_cloned(name))
        .map(|name| {
            let borrow = syn::Token![&](name.span());
            let copy = quote!(::resilient::__private::fresh(#borrow #name));
            quote! {
                #[allow(unused_mut)]
                let mut #name = #copy;
            }
        });
    let run = run_attempt(stack, inner, &quote!(#(#clones)* #(#fresh)*));
    // The trait is named on the return type itself, so a function that does
    // not return a `Result` gets one error (its `on_unimplemented` text)
    // there.
    let error_of = quote_spanned! {output.span()=>
        <#erased as ::resilient::__private::RetryResult>::retry_error(#result)
    };

    // After a plain failure, ask the breakers below when they admit calls
    // again: an open one makes this retry wait for it (within the caps), or
    // stop at once with its rejection.
    let asked = ask_below(&below.breakers, &failure, &open, &pending);
    let plain_failure = if below.breakers.is_empty() {
        quote!(::resilient::__private::Failure::new(#transient).with_retry_after(#hint))
    } else {
        quote! {{
            let mut #failure =
                ::resilient::__private::Failure::new(#transient).with_retry_after(#hint);
            #asked
            #failure
        }}
    };
    let classify = if below.tags.any() {
        let rejected = below.tags.rejected.then(|| {
            quote! {
                ::resilient::__private::Outcome::Rejected(_) => {
                    ::resilient::__private::Failure::rejected(
                        ::resilient::__private::peek_open(&#rejection).retry_after(),
                    )
                }
            }
        });
        // A timeout below is a transient failure.
        // A timeout below is a transient failure; like an error, it may
        // have opened a breaker below, which is asked too.
        let timed_out = below.tags.timed_out.then(|| {
            // `when` sees a timeout as the function's `E`.
            let timed_out_failure = if let Some(when) = &args.when {
                let when = &when.value;
                let converted = timeout_as_result(stack, layers_below, &peeked_elapsed);
                quote! {{
                    let #converted_var: #erased = #converted;
                    match <#erased as ::resilient::__private::RetryResult>::retry_error(&#converted_var) {
                        ::core::option::Option::Some(#error) => ::resilient::__private::Failure::new(
                            ::resilient::__private::when(#when, #error),
                        ),
                        ::core::option::Option::None => ::resilient::__private::Failure::transient(),
                    }
                }}
            } else {
                quote!(::resilient::__private::Failure::transient())
            };
            if below.breakers.is_empty() {
                quote!(::resilient::__private::Outcome::TimedOut(_) => #timed_out_failure,)
            } else {
                let asked = ask_below(&below.breakers, &failure, &open, &pending);
                quote! {
                    ::resilient::__private::Outcome::TimedOut(_) => {
                        let mut #failure = #timed_out_failure;
                        #asked
                        #failure
                    }
                }
            }
        });
        let impossible = impossible(below.tags, &open, true);
        quote! {
            match &#outcome {
                ::resilient::__private::Outcome::Done(#result) => match #error_of {
                    ::core::option::Option::None => break #outcome,
                    ::core::option::Option::Some(#error) => #plain_failure,
                },
                #rejected
                #timed_out
                #impossible
            }
        }
    } else {
        quote! {{
            let #result = &#outcome;
            match #error_of {
                ::core::option::Option::None => break #outcome,
                ::core::option::Option::Some(#error) => #plain_failure,
            }
        }}
    };
    let on_retry = on_retry.map(|call| {
        if below.tags.any() {
            // `on_retry` sees a rejection or a timeout as the function's
            // `E`, converted for the call.
            let rejected = below.tags.rejected.then(|| {
                let converted = rejection_as_result(
                    stack,
                    layers_below,
                    &quote!(::core::clone::Clone::clone(::resilient::__private::peek_open(&#rejection))),
                );
                quote! {
                    ::resilient::__private::Outcome::Rejected(_) => {
                        let #converted_var: #erased = #converted;
                        let #result = &#converted_var;
                        #call
                    }
                }
            });
            let timed_out = below.tags.timed_out.then(|| {
                let converted = timeout_as_result(stack, layers_below, &peeked_elapsed);
                quote! {
                    ::resilient::__private::Outcome::TimedOut(_) => {
                        let #converted_var: #erased = #converted;
                        let #result = &#converted_var;
                        #call
                    }
                }
            });
            let impossible = impossible(below.tags, &open, true);
            quote! {
                match &#outcome {
                    ::resilient::__private::Outcome::Done(#result) => { #call }
                    #rejected
                    #timed_out
                    #impossible
                }
            }
        } else {
            quote!({ let #result = &#outcome; #call })
        }
    });
    let outcome_type = if below.tags.any() {
        below.tags.outcome(&erased)
    } else {
        quote!(#erased)
    };
    let (declare_pending, stop) = if below.breakers.is_empty() {
        (
            None,
            quote!(::resilient::__private::Decision::Stop(_) => break #outcome,),
        )
    } else {
        (
            Some(quote! {
                let mut #pending: ::core::option::Option<::resilient::__private::CircuitOpen> =
                    ::core::option::Option::None;
            }),
            quote! {
                // Stopped while a breaker below is open (its wait is too
                // long for `max_retry_after` or `max_elapsed`): hand its
                // rejection outward, not the earlier error.
                ::resilient::__private::Decision::Stop(#stop_reason) => match (#stop_reason, #pending) {
                    (
                        ::resilient::__private::StopReason::UnavailableTooLong(_)
                        | ::resilient::__private::StopReason::OutOfTime,
                        ::core::option::Option::Some(#open),
                    ) => break ::resilient::__private::Outcome::Rejected(
                        ::resilient::__private::park(&mut #rejection, #open),
                    ),
                    _ => break #outcome,
                },
            },
        )
    };

    // The outcome lives in an inner block that ends before the sleep, so
    // it is not held across the `.await`: the future stays `Send` even
    // when `T` or `E` is not (`Box<dyn Error>`).
    quote! {
        {
            #[allow(unused_imports)]
            use ::resilient::__private::{ViaDefault as _, ViaRetryHint as _};
            #policy
            let mut #state = ::resilient::__private::RetryState::new();
            #start
            loop {
                let (#now, #delay) = {
                    let #outcome: #outcome_type = #run;
                    #declare_pending
                    let #failure = #classify;
                    let #now = ::resilient::__private::Instant::now();
                    match #state.on_failure(&#policy_var, #failure, #now) {
                        ::resilient::__private::Decision::Retry(#attempt) => {
                            #on_retry
                            (#now, #attempt.delay())
                        }
                        #stop
                    }
                };
                ::resilient::__private::pause(#now, #delay).await;
            }
        }
    }
}

/// The per-call policy local, and the clock read before the first attempt
/// when something will look at the elapsed time (`max_elapsed`,
/// `on_retry`).
fn policy_and_start(
    args: &RetryArgs,
    fn_name: &syn::LitStr,
    policy_var: &syn::Ident,
    state: &syn::Ident,
) -> (TokenStream, Option<TokenStream>) {
    let (policy, literal) = policy(args);
    let policy = if let Some(expr) = &args.policy {
        // A `RetryPolicy` or a reference to one.
        let expr = &expr.value;
        quote_spanned! {expr.span()=>
            let #policy_var: ::resilient::__private::RetryPolicy =
                *::core::borrow::Borrow::<::resilient::__private::RetryPolicy>::borrow(&#expr);
        }
    } else if literal {
        // A reference to a promoted constant: the future holds a pointer,
        // not a copy of the policy written on every call.
        quote!(let #policy_var: &'static ::resilient::__private::RetryPolicy = &const { #policy.build() };)
    } else {
        quote!(let #policy_var = ::resilient::__private::build_policy(#policy, #fn_name);)
    };

    let start = if args.on_retry.is_some() || args.max_elapsed.is_some() {
        Some(quote!(#state.start(::resilient::__private::Instant::now());))
    } else if args.policy.is_some() {
        Some(quote! {
            if ::resilient::__private::RetryState::needs_start(&#policy_var) {
                #state.start(::resilient::__private::Instant::now());
            }
        })
    } else {
        None
    };

    (policy, start)
}

/// One attempt, as an expression: the user's block as an `async` block,
/// awaited (so a `return` or `?` in it ends the attempt, not the
/// function), or the next layer's block inline. A layer needs no
/// `async` block of its own: each one would be another coroutine whose
/// output is moved through memory on the way out.
fn run_attempt(stack: &StackInput, inner: &Inner, prelude: &TokenStream) -> TokenStream {
    let block = attempt_block(stack, inner, prelude);
    match inner {
        Inner::Body(_) => quote!(async #block.await),
        Inner::Layer(_) => block,
    }
}

/// The block one attempt runs: the user's statements in the user's own
/// braces after the fake return edge, or the next layer's block.
fn attempt_block(stack: &StackInput, inner: &Inner, prelude: &TokenStream) -> TokenStream {
    match inner {
        Inner::Body(stmts) => {
            let fake = fake_return_edge(&stack.output);
            let mut block = TokenStream::new();
            stack.body.brace_token.surround(&mut block, |tokens| {
                tokens.extend(quote!(#fake #prelude #stmts));
            });
            block
        }
        Inner::Layer(layer) => quote!({ #prelude #layer }),
    }
}

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
fn breaker(
    stack: &StackInput,
    args: &BreakerArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let output = &stack.output;
    let erased = erase_impl_trait(output);
    let out_type = Tags {
        rejected: true,
        ..inner_tags
    }
    .outcome(&erased);
    let out = ident("out", depth);
    let breaker_var = ident("breaker", depth);
    let permit = ident("permit", depth);
    let result = ident("result", depth);
    let open = ident("open", depth);
    let rejection = rejection_slot();
    let error = ident("failed", depth);
    // A caller's breaker expression is bound first, so a temporary
    // (`breaker = self.breaker.clone()`, for a `&mut self` method) lives
    // as long as the permit that borrows it.
    let binding = if let Some(breaker) = &args.breaker {
        let expr = &breaker.value;
        let holder = ident("holder", depth);
        quote_spanned! {expr.span()=>
            let #holder = &#expr;
            let #breaker_var: &::resilient::__private::CircuitBreaker =
                ::core::borrow::Borrow::<::resilient::__private::CircuitBreaker>::borrow(#holder);
        }
    } else if let Some(shared) = &args.shared {
        // Typed at the user's path: a `shared` that is not a `static`
        // breaker is one error, there.
        let path = &shared.value;
        quote_spanned! {path.span()=>
            let #breaker_var: &'static ::resilient::__private::CircuitBreaker = &#path;
        }
    } else {
        let reference = breaker_ref(args, depth);
        quote!(let #breaker_var: &'static ::resilient::__private::CircuitBreaker = #reference;)
    };
    let register = register(args, depth, &breaker_var);
    let is_failure = if let Some(when) = &args.when {
        let when = &when.value;
        quote_spanned!(when.span()=> ::resilient::__private::when(#when, #error))
    } else {
        quote!(true)
    };
    let settle = quote_spanned! {output.span()=>
        ::resilient::__private::settle::<#erased>(#permit, &#result, |#error| #is_failure)
    };
    let attempt = run_attempt(stack, inner, &TokenStream::new());
    let ran = if inner_tags.any() {
        let inner_type = inner_tags.outcome(&erased);
        let rejected = inner_tags.rejected.then(|| {
            quote! {
                ::resilient::__private::Outcome::Rejected(#open) => {
                    // Rejected below: says nothing about this service.
                    #permit.ignore();
                    ::resilient::__private::Outcome::Rejected(#open)
                }
            }
        });
        let timed_out = inner_tags.timed_out.then(|| {
            quote! {
                ::resilient::__private::Outcome::TimedOut(#open) => {
                    // Cut off below: a slow call is a failure.
                    #permit.failure();
                    ::resilient::__private::Outcome::TimedOut(#open)
                }
            }
        });
        let impossible = impossible(inner_tags, &open, false);
        quote! {
            let #result: #inner_type = #attempt;
            match #result {
                ::resilient::__private::Outcome::Done(#result) => {
                    #settle;
                    ::resilient::__private::Outcome::Done(#result)
                }
                #rejected
                #timed_out
                #impossible
            }
        }
    } else {
        quote! {
            let #result: #erased = #attempt;
            #settle;
            ::resilient::__private::Outcome::Done(#result)
        }
    };
    quote! {
        {
            #binding
            #register
            let #out: #out_type = match ::resilient::__private::admit(#breaker_var, &mut #rejection) {
                ::core::option::Option::None => {
                    ::resilient::__private::Outcome::Rejected(::resilient::__private::Parked)
                }
                ::core::option::Option::Some(#permit) => { #ran }
            };
            #out
        }
    }
}

// Input:  #[timeout(D)] over `inner`
// Output (tagged): the inner block under `timeout(D, ..)`; a timeout is
// `Outcome::TimedOut(Parked)`, the `Elapsed` parked in the function's
// slot, carried outward beside the result.
fn timeout(
    stack: &StackInput,
    args: &TimeoutArgs,
    depth: usize,
    inner: &Inner,
    inner_tags: Tags,
) -> TokenStream {
    let erased = erase_impl_trait(&stack.output);
    let out_type = Tags {
        timed_out: true,
        ..inner_tags
    }
    .outcome(&erased);
    let out = ident("out", depth);
    let value = ident("value", depth);
    let elapsed = ident("elapsed", depth);
    let slot = elapsed_slot();
    let limit = duration(&args.limit);
    let attempt_block = attempt_block(stack, inner, &TokenStream::new());
    let done = if inner_tags.any() {
        quote!(#value.widen())
    } else {
        quote!(::resilient::__private::Outcome::Done(#value))
    };
    quote! {
        {
            let #out: #out_type =
                match ::resilient::__private::timeout(#limit, async #attempt_block).await {
                    ::core::result::Result::Ok(#value) => #done,
                    ::core::result::Result::Err(#elapsed) => ::resilient::__private::Outcome::TimedOut(
                        ::resilient::__private::park(&mut #slot, #elapsed),
                    ),
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

/// An expression of type `&CircuitBreaker` for breaker layer `depth`.
fn breaker_ref(args: &BreakerArgs, depth: usize) -> TokenStream {
    if let Some(shared) = &args.shared {
        let path = &shared.value;
        return quote_spanned!(path.span()=> &#path);
    }
    if let Some(breaker) = &args.breaker {
        // An instance the caller owns, by value or behind an `Arc` or a
        // reference; evaluated where it is used.
        let expr = &breaker.value;
        return quote_spanned! {expr.span()=>
            ::core::borrow::Borrow::<::resilient::__private::CircuitBreaker>::borrow(&#expr)
        };
    }
    let (breaker, _) = statics(depth);
    quote!(&#breaker)
}

/// A `static` breaker registers on its first use (one atomic load after).
fn register(args: &BreakerArgs, depth: usize, breaker_var: &syn::Ident) -> Option<TokenStream> {
    if args.breaker.is_some() {
        return None;
    }
    let (_, once) = statics(depth);
    Some(quote! {
        static #once: ::std::sync::Once = ::std::sync::Once::new();
        ::resilient::__private::register_once(&#once, #breaker_var);
    })
}

/// The `static` of a per-function breaker, built from literal settings.
fn breaker_static(
    stack: &StackInput,
    args: &BreakerArgs,
    depth: usize,
    several: bool,
) -> Option<TokenStream> {
    if args.shared.is_some() || args.breaker.is_some() {
        return None;
    }
    let (name_static, _) = statics(depth);
    let name = if let Some(name) = &args.name {
        let name = &name.value;
        quote!(#name)
    } else {
        // `module::function@line`: the line tells apart functions of one
        // name in one module (methods of two types, associated functions,
        // functions nested in two test functions); the layer tells apart
        // the breakers of a stack with several.
        let fn_name = &stack.fn_name;
        let line = quote!(, "@", ::core::line!());
        let layer = several.then(|| {
            let depth = depth.to_string();
            quote!(, "#", #depth)
        });
        quote!(::core::concat!(::core::module_path!(), "::", #fn_name #line #layer))
    };
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
    if args.on_cancel.as_ref().is_some_and(|k| k.value) {
        calls.push(quote!(.on_cancel(::resilient::__private::OnCancel::Failure)));
    }
    Some(quote! {
        static #name_static: ::resilient::__private::CircuitBreaker =
            ::resilient::__private::CircuitBreaker::builder() #(#calls)* .build();
    })
}

/// Snapshots of whole expansions, pretty-printed: every change to the
/// generated code shows up in review (`cargo insta review`, or
/// `INSTA_UPDATE=always` and read the diff).
#[cfg(test)]
mod snapshots {
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::visit_mut::VisitMut;

    use crate::stack::{self, Kind};

    /// Replaces each `__stack!` body with what it generates.
    struct ExpandStack;
    impl VisitMut for ExpandStack {
        fn visit_block_mut(&mut self, block: &mut syn::Block) {
            for stmt in &mut block.stmts {
                let mac = match stmt {
                    syn::Stmt::Macro(m) => Some(m.mac.clone()),
                    syn::Stmt::Expr(syn::Expr::Macro(m), None) => Some(m.mac.clone()),
                    _ => None,
                };
                if let Some(mac) = mac
                    && mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "__stack")
                {
                    let generated = stack::generate(mac.tokens);
                    *stmt = syn::Stmt::Expr(syn::parse2(generated).unwrap(), None);
                }
            }
            syn::visit_mut::visit_block_mut(self, block);
        }
    }

    /// Expands `attrs` (top first) on `item`, as rustc would: each
    /// attribute in turn, then the `__stack!` it leaves in the body.
    fn expand(attrs: &[TokenStream], item: TokenStream) -> String {
        expand_kinds(
            &attrs
                .iter()
                .map(|a| (Kind::Retry, a.clone()))
                .collect::<Vec<_>>(),
            item,
        )
    }

    fn expand_kinds(attrs: &[(Kind, TokenStream)], item: TokenStream) -> String {
        let mut item = item;
        for (kind, args) in attrs {
            item = stack::attribute(*kind, args.clone(), item);
        }
        let mut file: syn::File = syn::parse2(item).unwrap();
        ExpandStack.visit_file_mut(&mut file);
        prettyplease::unparse(&file)
    }

    #[test]
    fn defaults() {
        insta::assert_snapshot!(expand(
            &[quote!()],
            quote! {
                async fn fetch(client: &Client, id: u64) -> Result<Data, ApiError> {
                    client.get(id).await
                }
            }
        ));
    }

    #[test]
    fn every_literal_key() {
        insta::assert_snapshot!(expand(
            &[quote!(
                attempts = 5,
                backoff = exponential(initial = "250ms", factor = 1.5, max = "2s"),
                jitter = equal,
                max_elapsed = "10s",
                when = is_transient,
                retry_after = false,
                on_retry = log_retry,
                clone(payload)
            )],
            quote! {
                async fn send(payload: String) -> Result<(), SendError> {
                    deliver(payload).await
                }
            }
        ));
    }

    #[test]
    fn run_time_values_and_hint_reader() {
        insta::assert_snapshot!(expand(
            &[quote!(
                backoff = fixed(self.delay),
                max_retry_after = self.cap,
                retry_after = read_hint
            )],
            quote! {
                async fn get(&self) -> anyhow::Result<impl Display> {
                    self.inner.get().await
                }
            }
        ));
    }

    #[test]
    fn policy_from_configuration() {
        insta::assert_snapshot!(expand(
            &[quote!(policy = self.policy)],
            quote! {
                async fn get(&self) -> io::Result<u32> {
                    self.read().await
                }
            }
        ));
    }

    #[test]
    fn two_retries_top_outermost() {
        insta::assert_snapshot!(expand(
            &[
                quote!(attempts = 2, backoff = fixed("10s")),
                quote!(attempts = 3, backoff = none)
            ],
            quote! {
                async fn get() -> Result<u32, E> {
                    Ok(1)
                }
            }
        ));
    }

    #[test]
    fn async_trait_method() {
        insta::assert_snapshot!(expand(
            &[quote!(attempts = 2)],
            quote! {
                fn get<'life0, 'async_trait>(&'life0 self) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u32, E>> + ::core::marker::Send + 'async_trait>> {
                    Box::pin(async move {
                        let __self = self;
                        let __ret: Result<u32, E> = { Ok(1) };
                        #[allow(unreachable_code)]
                        __ret
                    })
                }
            }
        ));
    }

    /// Two attributes on a method as `#[async_trait]` leaves it: the
    /// prologue stays outside, the second layer joins the first's stack.
    #[test]
    fn async_trait_stack_of_two() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (Kind::Timeout, quote!("1s")),
                (Kind::Retry, quote!(attempts = 2, backoff = none)),
            ],
            quote! {
                fn get<'life0, 'async_trait>(&'life0 self, n: u32) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u32, E>> + ::core::marker::Send + 'async_trait>> {
                    Box::pin(async move {
                        if let ::core::option::Option::Some(__ret) = ::core::option::Option::None::<Result<u32, E>> {
                            #[allow(unreachable_code)]
                            return __ret;
                        }
                        let __self = self;
                        let n = n;
                        let __ret: Result<u32, E> = { __self.get(n).await };
                        #[allow(unreachable_code)]
                        __ret
                    })
                }
            }
        ));
    }

    /// A `mut` argument: `mut` moves into the body, and each attempt
    /// starts from a copy.
    #[test]
    fn mut_argument() {
        insta::assert_snapshot!(expand(
            &[quote!(attempts = 2, backoff = none)],
            quote! {
                async fn count(mut n: u32) -> Result<u32, E> {
                    n += 1;
                    check(n)
                }
            }
        ));
    }

    /// Every tag through every hook: `when`, `on_retry` and both
    /// converters.
    #[test]
    fn every_tag_every_hook() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (
                    Kind::Retry,
                    quote!(attempts = 3, when = is_transient, on_retry = log)
                ),
                (
                    Kind::CircuitBreaker,
                    quote!(failures = 2, on_open = to_error, when = counts)
                ),
                (Kind::Timeout, quote!("1s", on_timeout = on_late)),
            ],
            quote! {
                async fn get(&self) -> Result<u32, E> {
                    self.inner.get().await
                }
            }
        ));
    }

    /// A fallback with a handler and `when` over both tags.
    #[test]
    fn fallback_sees_every_tag() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (Kind::Fallback, quote!(with = recover, when = should)),
                (Kind::Retry, quote!(attempts = 2)),
                (Kind::CircuitBreaker, quote!(breaker = self.breaker)),
                (Kind::Timeout, quote!("1s")),
            ],
            quote! {
                async fn get(&self) -> Result<u32, E> {
                    self.inner.get().await
                }
            }
        ));
    }

    /// `value` needs no conversion of either tag.
    #[test]
    fn fallback_value_over_tags() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (Kind::Fallback, quote!(value = 0)),
                (Kind::CircuitBreaker, quote!(shared = UPSTREAM)),
                (Kind::Timeout, quote!(self.limit)),
            ],
            quote! {
                async fn get(&self) -> Result<u32, E> {
                    self.inner.get().await
                }
            }
        ));
    }

    /// Two breakers, two retries, two timeouts: names by depth.
    #[test]
    fn two_of_each() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (Kind::Timeout, quote!("10s")),
                (Kind::Retry, quote!(attempts = 2)),
                (Kind::CircuitBreaker, quote!(failures = 1)),
                (Kind::Retry, quote!(attempts = 2, on_retry = log)),
                (Kind::CircuitBreaker, quote!(failures = 3, name = "inner")),
                (Kind::Timeout, quote!("1s")),
            ],
            quote! {
                async fn get(id: u64) -> Result<u32, E> {
                    fetch(id).await
                }
            }
        ));
    }

    #[test]
    fn per_function_breaker() {
        insta::assert_snapshot!(expand_kinds(
            &[(Kind::CircuitBreaker, quote!(failures = 5, reset = "60s"))],
            quote! {
                async fn fetch(id: u64) -> Result<Data, ApiError> {
                    get(id).await
                }
            }
        ));
    }

    #[test]
    fn retry_around_a_breaker_from_the_caller() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (Kind::Retry, quote!(attempts = 3)),
                (
                    Kind::CircuitBreaker,
                    quote!(breaker = self.breaker, when = counts)
                ),
            ],
            quote! {
                async fn fetch(&self, id: u64) -> Result<Data, ApiError> {
                    self.get(id).await
                }
            }
        ));
    }

    #[test]
    fn the_design_stack() {
        insta::assert_snapshot!(expand_kinds(
            &[
                (Kind::Fallback, quote!(with = |err| cached_data(id, err))),
                (
                    Kind::Retry,
                    quote!(
                        attempts = 3,
                        backoff = exponential(initial = "100ms", max = "10s"),
                        jitter = full
                    )
                ),
                (Kind::CircuitBreaker, quote!(failures = 5, reset = "60s")),
                (Kind::Timeout, quote!("2s")),
            ],
            quote! {
                async fn fetch_data(client: &Client, id: u64) -> Result<Data, ApiError> {
                    client.get(id).await
                }
            }
        ));
    }
}
