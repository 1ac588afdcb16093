//! The attribute macros of [`resilient-fn`](https://docs.rs/resilient-fn).
//!
//! Depend on `resilient-fn` (used in code as `resilient`) and use the
//! attributes from there: this crate is an implementation detail, versioned
//! in lockstep with it. Every entry point
//! is one line; the work happens on `proc_macro2` token streams in the
//! modules below, parse → check → expand:
//!
//! - `kind`: the kinds of layer, the one place that names them;
//! - `item`: the annotated function, kept token for token;
//! - `args`: each attribute's keys, parsing and checks (one module per
//!   attribute), on a shared toolkit; every mistake at once;
//! - `stack`: the hidden `__stack!` invocation that gathers a run of
//!   resilient attributes, so the top attribute ends up outermost;
//! - `expand`: code generation, which cannot fail: the layer protocol,
//!   then one module per layer.

#![warn(missing_docs)]

mod args;
mod expand;
mod item;
mod kind;
mod stack;

use proc_macro::TokenStream;

/// Retries the function's body; see `resilient::retry` for the arguments.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::Retry, args.into(), item.into()).into()
}

/// Fails fast while a dependency is down; see `resilient::circuit_breaker`
/// for the arguments.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Cuts a call off after a time limit; see `resilient::timeout`.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::Timeout, args.into(), item.into()).into()
}

/// Falls back when the call fails; see `resilient::fallback`.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::Fallback, args.into(), item.into()).into()
}

/// At most N calls at once; see `resilient::bulkhead`.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::Bulkhead, args.into(), item.into()).into()
}

/// At most N calls per period; see `resilient::rate_limit`.
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::RateLimit, args.into(), item.into()).into()
}

/// Copies of a slow attempt, raced; see `resilient::hedge`.
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::attribute(kind::Kind::Hedge, args.into(), item.into()).into()
}

/// Generates a whole stack of resilient layers at once; written by the
/// attributes, not by hand.
#[doc(hidden)]
#[proc_macro]
pub fn __stack(input: TokenStream) -> TokenStream {
    expand::generate(input.into()).into()
}
