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
use crate::item::erase_impl_trait;
use crate::stack::StackInput;
use crate::validate::{DEFAULT_INITIAL, DEFAULT_MAX};

/// The whole stack: `layers[0]` outermost, the user's block innermost.
pub(crate) fn stack(stack: &StackInput, layers: &[RetryArgs]) -> TokenStream {
    // The innermost layer splices the user's statements into its own
    // block, inside the user's braces: nesting the user's block would make
    // a one-line body `{ Ok(1) }` trip `unused_braces`.
    let stmts = &stack.body.stmts;
    let mut inner = Inner::Body(quote!(#(#stmts)*));
    let mut generated = TokenStream::new();
    for (depth, args) in layers.iter().enumerate().rev() {
        generated = retry(stack, args, depth, &inner);
        inner = Inner::Layer(generated.clone());
    }
    generated
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
    outcome: &syn::Ident,
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
                <#erased as ::resilient::__private::RetryResult>::retry_error(&#outcome)
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
//             let outcome: Output = async { <fake return edge> <clones> inner }.await;
//             let failure = match RetryResult::retry_error(&outcome) { None => break outcome, Some(e) => classify(e) };
//             match state.on_failure(&policy, failure, Instant::now()) {
//                 Decision::Retry(attempt) => { on_retry(e, &attempt); drop(outcome); pause(..).await }
//                 Decision::Stop(_) => break outcome,
//             }
//         }
//     }
fn retry(stack: &StackInput, args: &RetryArgs, depth: usize, inner: &Inner) -> TokenStream {
    let output = &stack.output;
    let erased = erase_impl_trait(output);
    let fn_name = &stack.fn_name;
    let policy_var = ident("policy", depth);
    let state = ident("state", depth);
    let outcome = ident("outcome", depth);
    let failure = ident("failure", depth);
    let error = ident("error", depth);
    let attempt = ident("attempt", depth);
    let now = ident("now", depth);
    let delay = ident("delay", depth);

    let (policy, literal) = policy(args);
    let policy = if let Some(expr) = &args.policy {
        // A `RetryPolicy` or a reference to one.
        let expr = &expr.value;
        quote_spanned! {expr.span()=>
            let #policy_var: ::resilient::__private::RetryPolicy =
                *::core::borrow::Borrow::<::resilient::__private::RetryPolicy>::borrow(&#expr);
        }
    } else if literal {
        quote!(let #policy_var = const { #policy.build() };)
    } else {
        quote!(let #policy_var = ::resilient::__private::build_policy(#policy, #fn_name);)
    };

    // The clock is read before the first attempt only when something will
    // look at the elapsed time: `max_elapsed` or `on_retry`.
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

    let (transient, hint, on_retry) = hooks(args, &error, &erased, &outcome, &attempt);
    // `mut` whatever the parameter was: the body may mutate its copy.
    let clones = args.clone.iter().flat_map(|c| &c.value).map(|name| {
        quote! {
            #[allow(unused_mut)]
            let mut #name = ::core::clone::Clone::clone(&#name);
        }
    });
    let fake = fake_return_edge(output);
    // Spanned at the return type: a function that does not return a
    // `Result` gets the error (with its `on_unimplemented` text) there.
    // The trait is named on the return type itself, so the unmet bound is
    // reported there, once.
    let error_of = quote_spanned! {output.span()=>
        <#erased as ::resilient::__private::RetryResult>::retry_error(&#outcome)
    };

    let attempt_block = match inner {
        Inner::Body(stmts) => {
            let mut block = TokenStream::new();
            stack.body.brace_token.surround(&mut block, |tokens| {
                tokens.extend(quote!(#fake #(#clones)* #stmts));
            });
            block
        }
        Inner::Layer(layer) => quote!({ #fake #(#clones)* #layer }),
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
                    let #outcome: #erased = async #attempt_block.await;
                    let #failure = match #error_of {
                        ::core::option::Option::None => break #outcome,
                        ::core::option::Option::Some(#error) => {
                            ::resilient::__private::Failure::new(#transient)
                                .with_retry_after(#hint)
                        }
                    };
                    let #now = ::resilient::__private::Instant::now();
                    match #state.on_failure(&#policy_var, #failure, #now) {
                        ::resilient::__private::Decision::Retry(#attempt) => {
                            #on_retry
                            (#now, #attempt.delay())
                        }
                        ::resilient::__private::Decision::Stop(_) => break #outcome,
                    }
                };
                ::resilient::__private::pause(#now, #delay).await;
            }
        }
    }
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
        let mut item = item;
        for args in attrs {
            item = stack::attribute(Kind::Retry, args.clone(), item);
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
}
