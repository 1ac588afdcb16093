//! Snapshots of whole expansions, pretty-printed: every change to the
//! generated code shows up in review (`cargo insta review`, or
//! `INSTA_UPDATE=always` and read the diff).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::visit_mut::VisitMut;

use crate::kind::Kind;
use crate::stack;

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
                let generated = crate::expand::generate(mac.tokens);
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

fn expand_kinds(attrs: &[(Kind, TokenStream)], item: impl ToTokens) -> String {
    // The attributes below the one expanding are on the item, as rustc
    // passes them: each attribute but the last leaves a `__stack!`.
    let below = (1..attrs.len()).map(|_| quote!(#[resilient_below]));
    let mut item = quote!(#(#below)* #item);
    for (i, (kind, args)) in attrs.iter().enumerate() {
        if i > 0 {
            item = without_first_below(item);
        }
        item = stack::attribute(*kind, args.clone(), item);
    }
    let mut file: syn::File = syn::parse2(item).unwrap();
    ExpandStack.visit_file_mut(&mut file);
    prettyplease::unparse(&file)
}

/// `item` without its first `#[resilient_below]`: the attribute rustc
/// is about to expand.
fn without_first_below(item: TokenStream) -> TokenStream {
    let mut tokens: Vec<_> = item.into_iter().collect();
    let at = tokens
        .windows(2)
        .position(|pair| {
            matches!(&pair[0], proc_macro2::TokenTree::Punct(p) if p.as_char() == '#')
                && matches!(&pair[1], proc_macro2::TokenTree::Group(g)
                    if g.stream().to_string() == "resilient_below")
        })
        .expect("a layer below");
    tokens.drain(at..at + 2);
    tokens.into_iter().collect()
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

#[test]
fn retry_around_a_keyed_breaker() {
    insta::assert_snapshot!(expand_kinds(
        &[
            (Kind::Retry, quote!(attempts = 3)),
            (
                Kind::CircuitBreaker,
                quote!(
                    key = url.host_str().unwrap_or_default(),
                    failures = 3,
                    max_keys = 64,
                    idle = "5m",
                    max_open = 0.5
                )
            ),
        ],
        quote! {
            async fn fetch(client: &Client, url: &Url) -> Result<Data, ApiError> {
                client.get(url).await
            }
        }
    ));
}

#[test]
fn bulkhead_under_a_retry_over_a_breaker() {
    insta::assert_snapshot!(expand_kinds(
        &[
            (Kind::Retry, quote!(attempts = 3)),
            (Kind::CircuitBreaker, quote!(failures = 5)),
            (Kind::Bulkhead, quote!(max = 10, wait = "100ms")),
        ],
        quote! {
            async fn fetch(id: u64) -> Result<Data, ApiError> {
                get(id).await
            }
        }
    ));
}

#[test]
fn rate_limit_under_a_retry() {
    insta::assert_snapshot!(expand_kinds(
        &[
            (Kind::Retry, quote!(attempts = 3)),
            (
                Kind::RateLimit,
                quote!(rate = 10, per = "1s", burst = 2, wait = "50ms")
            ),
        ],
        quote! {
            async fn fetch(id: u64) -> Result<Data, ApiError> {
                get(id).await
            }
        }
    ));
}

/// A hedge over a timeout and a keyed breaker, under a retry: each copy
/// has its own slots, and the winner's are handed to the retry.
#[test]
fn hedge_over_tagged_layers() {
    insta::assert_snapshot!(expand_kinds(
        &[
            (Kind::Retry, quote!(attempts = 3)),
            (
                Kind::Hedge,
                quote!(after = "50ms", max = 3, budget = HEDGES)
            ),
            (Kind::Timeout, quote!("1s")),
            (Kind::CircuitBreaker, quote!(key = host)),
        ],
        quote! {
            async fn fetch(host: &str, mut id: u64) -> Result<Data, ApiError> {
                get(host, id).await
            }
        }
    ));
}

#[test]
fn hedge_alone() {
    insta::assert_snapshot!(expand_kinds(
        &[(Kind::Hedge, quote!(after = "50ms"))],
        quote! {
            async fn fetch(id: u64) -> Result<Data, ApiError> {
                get(id).await
            }
        }
    ));
}

/// A plain `fn`: the body in a closure, the backoff a blocking sleep.
#[test]
fn blocking_stack() {
    insta::assert_snapshot!(expand_kinds(
        &[
            (Kind::Fallback, quote!(with = cached)),
            (Kind::Retry, quote!(attempts = 3)),
            (Kind::Bulkhead, quote!(max = 4, wait = "10ms")),
            (Kind::CircuitBreaker, quote!(failures = 5)),
        ],
        quote! {
            fn fetch(id: u64) -> Result<Data, ApiError> {
                get(id)
            }
        }
    ));
}
