//! `#[retry]`: an inline loop in the user's function.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::protocol::{
    Below, Inner, Tag, ask_below, duration, fresh_local, ident, literal_duration, run_attempt,
    static_name,
};
use crate::args::DurationArg;
use crate::args::backoff::{Backoff, Factor};
use crate::args::limits;
use crate::args::retry::{Jitter, RetryAfter, RetryArgs};
use crate::item::erase_impl_trait;
use crate::kind::LayerArgs;
use crate::stack::StackInput;

/// The generated names of one retry layer.
struct Names {
    policy: syn::Ident,
    state: syn::Ident,
    outcome: syn::Ident,
    result: syn::Ident,
    failure: syn::Ident,
    error: syn::Ident,
    attempt: syn::Ident,
    now: syn::Ident,
    delay: syn::Ident,
    open: syn::Ident,
    pending: syn::Ident,
    stop: syn::Ident,
    converted: syn::Ident,
}

impl Names {
    fn at(depth: usize) -> Self {
        Self {
            policy: ident("policy", depth),
            state: ident("state", depth),
            outcome: ident("outcome", depth),
            result: ident("result", depth),
            failure: ident("failure", depth),
            error: ident("error", depth),
            attempt: ident("attempt", depth),
            now: ident("now", depth),
            delay: ident("delay", depth),
            open: ident("open", depth),
            pending: ident("pending", depth),
            stop: ident("stop", depth),
            converted: ident("converted", depth),
        }
    }
}

/// What the layer's pieces share.
struct Retry<'a> {
    stack: &'a StackInput,
    args: &'a RetryArgs,
    below: &'a Below,
    layers_below: &'a [LayerArgs],
    erased: syn::Type,
    names: Names,
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
pub(crate) fn expand(
    stack: &StackInput,
    args: &RetryArgs,
    depth: usize,
    inner: &Inner,
    below: &Below,
    layers_below: &[LayerArgs],
    several: bool,
) -> TokenStream {
    let retry = Retry {
        stack,
        args,
        below,
        layers_below,
        erased: erase_impl_trait(&stack.output),
        names: Names::at(depth),
    };
    let Names {
        policy: policy_var,
        state,
        outcome,
        failure,
        attempt,
        now,
        delay,
        ..
    } = &retry.names;

    let name = static_name(stack, None, depth, several);
    let (policy, start) = policy_and_start(args, &stack.fn_name, &name, policy_var, state);
    let run = run_attempt(stack, inner, &retry.prelude());
    let classify = retry.classify();
    let on_retry = retry.on_retry();
    let outcome_type = below.tags.attempt_type(&retry.erased);
    let (declare_pending, stop) = retry.stop();
    let on_failure = if let Some(budget) = retry.budget() {
        quote!(#state.on_failure_with_budget(&#policy_var, #failure, #now, #budget))
    } else {
        quote!(#state.on_failure(&#policy_var, #failure, #now))
    };

    let pause = if stack.blocking {
        quote!(__resilient::pause_blocking(#now, #delay);)
    } else {
        quote!(__resilient::pause(#now, #delay).await;)
    };
    // The outcome lives in an inner block that ends before the sleep, so
    // it is not held across the `.await`: the future stays `Send` even
    // when `T` or `E` is not (`Box<dyn Error>`).
    quote! {
        {
            #[allow(unused_imports)]
            use __resilient::{ViaDefault as _, ViaRetryHint as _};
            #policy
            let mut #state = __resilient::RetryState::new();
            #start
            loop {
                let (#now, #delay) = {
                    let #outcome: #outcome_type = #run;
                    #declare_pending
                    let #failure = #classify;
                    let #now = __resilient::Instant::now();
                    match #on_failure {
                        __resilient::Decision::Retry(#attempt) => {
                            #on_retry
                            (#now, #attempt.delay())
                        }
                        #stop
                    }
                };
                #pause
            }
        }
    }
}

impl Retry<'_> {
    /// The budget, as an expression of type `&RetryBudget`: a `static`'s
    /// path or any expression (`self.budget`), through `AsBudget` so a
    /// value that is not a budget is one error, at the expression. It is
    /// evaluated where it is used, after each attempt (not held across the
    /// attempts: a `&mut self` method's body stays free to borrow `self`).
    fn budget(&self) -> Option<TokenStream> {
        let budget = &self.args.budget.as_ref()?.value;
        Some(quote_spanned! {budget.span()=>
            ::resilient::__private::budget(&#budget)
        })
    }

    /// A success under a budget: deposits, unless an earlier attempt did.
    fn deposit(&self) -> Option<TokenStream> {
        let budget = self.budget()?;
        let state = &self.names.state;
        Some(quote!(#state.on_success_with_budget(#budget);))
    }

    /// The start of each attempt: `clone(..)` clones, and a fresh copy of
    /// each `mut` argument (a type that is not `Copy` is an error at the
    /// argument that leads to `clone(..)`).
    fn prelude(&self) -> TokenStream {
        // `mut` whatever the parameter was: the body may mutate its copy.
        let clones = self.args.cloned().map(|name| {
            quote! {
                #[allow(unused_mut)]
                let mut #name = ::core::clone::Clone::clone(&#name);
            }
        });
        let fresh = self
            .stack
            .fresh
            .iter()
            .filter(|name| {
                !self
                    .args
                    .cloned()
                    .chain(self.args.kept())
                    .any(|c| c == *name)
            })
            .map(|name| fresh_local(name, "fresh"));
        quote!(#(#clones)* #(#fresh)*)
    }

    /// The `Failure` an attempt's outcome is for the state machine (or
    /// `break` with it, on success).
    fn classify(&self) -> TokenStream {
        let Names {
            outcome,
            result,
            error,
            open,
            ..
        } = &self.names;
        let erased = &self.erased;
        // The trait is named on the return type itself, so a function that
        // does not return a `Result` gets one error (its `on_unimplemented`
        // text) there.
        let error_of = quote_spanned! {self.stack.output.span()=>
            <#erased as ::resilient::__private::RetryResult>::retry_error(#result)
        };
        let (transient, hint) = self.classifier();
        let deposit = self.deposit();
        // After a plain failure, ask the breakers below when they admit
        // calls again: an open one makes this retry wait for it (within the
        // caps), or stop at once with its rejection.
        let plain_failure = self
            .asking_below(&quote!(__resilient::Failure::new(#transient).with_retry_after(#hint)));
        if !self.below.tags.any() {
            return quote! {{
                let #result = &#outcome;
                match #error_of {
                    ::core::option::Option::None => { #deposit break #outcome }
                    ::core::option::Option::Some(#error) => #plain_failure,
                }
            }};
        }
        let tags = self.below.tags.iter().map(|tag| self.tag_failure(tag));
        let impossible = self.below.tags.impossible(open, true);
        quote! {
            match &#outcome {
                __resilient::Outcome::Done(#result) => match #error_of {
                    ::core::option::Option::None => { #deposit break #outcome }
                    ::core::option::Option::Some(#error) => #plain_failure,
                },
                #(#tags)*
                #impossible
            }
        }
    }

    /// `failure`, and then the breakers below asked (if there are any).
    fn asking_below(&self, failure: &TokenStream) -> TokenStream {
        let Names {
            failure: var,
            pending,
            ..
        } = &self.names;
        if self.below.breakers.is_empty() {
            return failure.clone();
        }
        let asked = ask_below(&self.below.breakers, var, pending);
        quote! {{
            let mut #var =
                #failure;
            #asked
            #var
        }}
    }

    /// The match arm for a tag from below: a rejection with its wait, or a
    /// transient failure (seen by `when` as the function's `E`); like an
    /// error, a transient one may have opened a breaker below, which is
    /// asked too.
    fn tag_failure(&self, tag: Tag) -> TokenStream {
        let pattern = tag.pattern();
        if let Some(wait) = tag.retry_wait() {
            return quote! {
                #pattern(_) => {
                    __resilient::Failure::rejected(
                        #wait,
                    )
                }
            };
        }
        let Names {
            error, converted, ..
        } = &self.names;
        let erased = &self.erased;
        let failure = if let Some(when) = &self.args.when {
            let when = &when.value;
            let as_result = tag.as_result(self.stack, self.layers_below, &tag.copied());
            quote! {{
                let #converted: #erased = #as_result;
                match <#erased as __resilient::RetryResult>::retry_error(&#converted) {
                    ::core::option::Option::Some(#error) => __resilient::Failure::new(
                        __resilient::when(#when, #error),
                    ),
                    ::core::option::Option::None => __resilient::Failure::transient(),
                }
            }}
        } else {
            quote!(__resilient::Failure::transient())
        };
        let failure = if tag.reached_service() {
            failure
        } else {
            quote!((#failure).not_reached())
        };
        if self.below.breakers.is_empty() {
            quote!(#pattern(_) => #failure,)
        } else {
            let Names {
                failure: var,
                pending,
                ..
            } = &self.names;
            let asked = ask_below(&self.below.breakers, var, pending);
            quote! {
                #pattern(_) => {
                    let mut #var = #failure;
                    #asked
                    #var
                }
            }
        }
    }

    /// The classifier and the hint reader, inline: `when` or the error's
    /// `RetryHint`, `retry_after`.
    fn classifier(&self) -> (TokenStream, TokenStream) {
        let error = &self.names.error;
        let transient = if let Some(when) = &self.args.when {
            let when = &when.value;
            let error = error_at(error, when.span());
            quote_spanned!(when.span()=> ::resilient::__private::when(#when, #error))
        } else {
            quote!((&__resilient::HintWrap(#error)).__resilient_is_transient())
        };
        let hint = match self.args.retry_after.as_ref().map(|k| &k.value) {
            None | Some(RetryAfter::Enabled(true)) => {
                quote!((&__resilient::HintWrap(#error)).__resilient_retry_after())
            }
            Some(RetryAfter::Enabled(false)) => quote!(::core::option::Option::None),
            Some(RetryAfter::Reader(reader)) => {
                let error = error_at(error, reader.span());
                quote_spanned!(reader.span()=> ::resilient::__private::read_hint(#reader, #error))
            }
        };
        (transient, hint)
    }

    /// The `on_retry` call before each sleep; it sees a rejection or a
    /// timeout from below as the function's `E`, converted for the call.
    fn on_retry(&self) -> Option<TokenStream> {
        let on_retry = self.args.on_retry.as_ref()?;
        let Names {
            outcome,
            result,
            error,
            attempt,
            open,
            converted,
            ..
        } = &self.names;
        let erased = &self.erased;
        let hook = &on_retry.value;
        let error_here = error_at(error, hook.span());
        let call = quote_spanned!(hook.span()=> ::resilient::__private::on_retry(#hook, #error_here, &#attempt));
        let call = quote! {
            if let ::core::option::Option::Some(#error) =
                <#erased as __resilient::RetryResult>::retry_error(#result)
            {
                #call;
            }
        };
        if !self.below.tags.any() {
            return Some(quote!({ let #result = &#outcome; #call }));
        }
        let tags = self.below.tags.iter().map(|tag| {
            let pattern = tag.pattern();
            let as_result = tag.as_result(self.stack, self.layers_below, &tag.copied());
            quote! {
                #pattern(_) => {
                    let #converted: #erased = #as_result;
                    let #result = &#converted;
                    #call
                }
            }
        });
        let impossible = self.below.tags.impossible(open, true);
        Some(quote! {
            match &#outcome {
                __resilient::Outcome::Done(#result) => { #call }
                #(#tags)*
                #impossible
            }
        })
    }

    /// The `Decision::Stop` arm, and the local it needs: stopped while a
    /// breaker below is open (its wait too long for `max_retry_after` or
    /// `max_elapsed`), the retry hands that rejection outward, not the
    /// earlier error.
    fn stop(&self) -> (Option<TokenStream>, TokenStream) {
        let Names {
            outcome,
            open,
            pending,
            stop,
            ..
        } = &self.names;
        if self.below.breakers.is_empty() {
            return (
                None,
                quote!(__resilient::Decision::Stop(_) => break #outcome,),
            );
        }
        let rejection = Tag::Rejected.slot();
        let rejected = Tag::Rejected.pattern();
        (
            Some(quote! {
                let mut #pending: ::core::option::Option<__resilient::CircuitOpen> =
                    ::core::option::Option::None;
            }),
            quote! {
                __resilient::Decision::Stop(#stop) => match (#stop, #pending) {
                    (
                        __resilient::StopReason::UnavailableTooLong(_)
                        | __resilient::StopReason::OutOfTime,
                        ::core::option::Option::Some(#open),
                    ) => break #rejected(
                        __resilient::park(&mut #rejection, #open),
                    ),
                    _ => break #outcome,
                },
            },
        )
    }
}

/// The error passed to a hook, located at the hook (hygiene unchanged), so
/// a signature mismatch underlines the user's hook.
fn error_at(error: &syn::Ident, span: Span) -> syn::Ident {
    syn::Ident::new(&error.to_string(), Span::mixed_site().located_at(span))
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
                    .map_or_else(|| literal_duration(limits::DEFAULT_INITIAL), dur);
                let m = max
                    .as_ref()
                    .map_or_else(|| literal_duration(limits::DEFAULT_MAX), dur);
                let f = match factor {
                    None => {
                        let value = Literal::f64_unsuffixed(limits::DEFAULT_FACTOR);
                        quote!(#value)
                    }
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
        calls.push(quote!(.backoff(__resilient::Backoff::#backoff)));
    }
    if let Some(jitter) = &args.jitter {
        let jitter = match jitter.value {
            Jitter::None => quote!(None),
            Jitter::Full => quote!(Full),
            Jitter::Equal => quote!(Equal),
        };
        calls.push(quote!(.jitter(__resilient::Jitter::#jitter)));
    }
    if let Some(budget) = &args.max_elapsed {
        let d = dur(&budget.value);
        calls.push(quote!(.max_elapsed(#d)));
    }
    if let Some(cap) = &args.max_retry_after {
        let d = dur(&cap.value);
        calls.push(quote!(.max_retry_after(#d)));
    }
    let builder = quote!(__resilient::RetryPolicy::builder() #(#calls)*);
    (builder, literal.get())
}

/// The per-call policy local, and the clock read before the first attempt
/// when something will look at the elapsed time (`max_elapsed`,
/// `on_retry`).
fn policy_and_start(
    args: &RetryArgs,
    fn_name: &syn::LitStr,
    name: &TokenStream,
    policy_var: &syn::Ident,
    state: &syn::Ident,
) -> (TokenStream, Option<TokenStream>) {
    let (policy, literal) = policy(args);
    // Named after the function, for its metrics.
    let policy = quote!(#policy.name(#name));
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
        quote!(let #policy_var: &'static __resilient::RetryPolicy = &const { #policy.build() };)
    } else {
        quote!(let #policy_var = __resilient::build_policy(#policy, #fn_name);)
    };

    let start = if args.on_retry.is_some() || args.max_elapsed.is_some() {
        Some(quote!(#state.start(__resilient::Instant::now());))
    } else if args.policy.is_some() {
        Some(quote! {
            if __resilient::RetryState::needs_start(&#policy_var) {
                #state.start(__resilient::Instant::now());
            }
        })
    } else {
        None
    };

    (policy, start)
}
