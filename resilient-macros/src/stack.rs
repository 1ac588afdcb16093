//! How a run of resilient attributes becomes one stack, top outermost.
//!
//! Rust expands attribute macros top first, each seeing the ones below it.
//! The first resilient attribute replaces the body with one hidden
//! invocation,
//!
//! ```text
//! ::resilient::__private::__stack! {
//!     fn_name = "fetch_data",
//!     output = (Result<Data, ApiError>),
//!     layers = [retry(attempts = 3)],
//!     body = { /* the user's block */ }
//! }
//! ```
//!
//! and each attribute below appends its layer to `layers` (the inner side).
//! rustc expands `__stack!` only after every attribute of the item, so it
//! sees the whole run and generates it once, `layers[0]` outermost. When
//! nothing left below an attribute can be a macro (only rustc's inert
//! attributes remain), that attribute is the last of the run and generates
//! the stack itself, one expansion round sooner. No attribute is
//! recognised by name: `use resilient::retry as again;` works, and a
//! foreign `#[retry]` is never taken over.
//!
//! The body of an `async fn` travels as a token group, never parsed here:
//! only its braces are kept, and rustc parses it once, from the expansion.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Block, Ident, ItemFn, LitStr, Signature, Stmt, Token, Type, Visibility};

use crate::item::{self, NotSupported};
use crate::kind::Kind;

/// One layer: its kind and its (checked) argument tokens.
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    /// The span the kind is printed with in `__stack!`.
    pub(crate) span: Span,
    pub(crate) args: TokenStream,
}

/// What `__stack!` receives.
pub(crate) struct StackInput {
    pub(crate) fn_name: LitStr,
    pub(crate) output: Type,
    /// A plain `fn`: the layers block the thread (no `.await`).
    pub(crate) blocking: bool,
    /// Arguments bound `mut`, whose `mut` moved from the signature into the
    /// stack: each attempt of a retry starts from a fresh copy.
    pub(crate) fresh: Vec<Ident>,
    pub(crate) layers: Vec<Layer>,
    /// The user's block, braces and all, as tokens: no layer reads its
    /// statements, so none is parsed (rustc parses them once, from the
    /// final expansion).
    pub(crate) body: Group,
}

/// An attribute's expansion: validate, then start or extend the stack. On
/// any error the function is re-emitted unchanged beside the errors, so a
/// typo does not also make every caller fail to find the function.
pub(crate) fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_attribute(kind, args, &item) {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(item);
            tokens
        }
    }
}

fn try_attribute(kind: Kind, args: TokenStream, item: &TokenStream) -> syn::Result<TokenStream> {
    let (mut function, mut raw_body) = read_item(kind, item)?;
    let last = only_inert(&function.attrs);

    // Arguments and signature errors are reported together.
    // Every mistake in one compile: the checks run on whatever could be
    // read, beside the parse errors and those of the signature.
    let args_checked = {
        let (parsed, mut errors) = kind.parse(args.clone());
        if let Some(parsed) = parsed {
            errors.merge(parsed.check_function(&function));
        }
        errors.finish()
    };
    let fn_name = function.sig.ident.to_string();
    let fn_span_ident = function.sig.ident.span();
    let mut fresh = item::take_mut_arguments(&mut function.sig);
    let signature = function.sig.clone();
    let slot = match (slot_for(kind, &mut function), args_checked) {
        (Ok(slot), Ok(())) => slot,
        (Err(signature), Err(mut args)) => {
            args.combine(signature);
            return Err(args);
        }
        (Err(error), Ok(())) | (Ok(_), Err(error)) => return Err(error),
    };

    let keep = slot.keep;
    // A plain `fn` under a fallback always returns `Ok`, which clippy's
    // pedantic `unnecessary_wraps` would blame on the user's signature.
    let allow_wraps = (slot.blocking && kind == Kind::Fallback)
        .then(|| quote!(#[allow(clippy::unnecessary_wraps)]));
    fresh.extend(item::take_mut_bindings(
        &signature,
        &mut slot.block.stmts[..keep],
    ));
    // In an `#[async_trait]` method, `self` was moved into `__self` by its
    // prologue: the arguments (`breaker = self.breaker`) follow it.
    let args = if keep > 0 && binds_self(&slot.block.stmts[..keep]) {
        rename_self(args)
    } else {
        args
    };
    let layer = Layer {
        kind,
        span: Span::call_site(),
        args,
    };
    let existing = match &raw_body {
        Some(body) => existing_stack_in(body),
        None => existing_stack(&slot.block.stmts[keep..]),
    };
    let mut stack = match existing {
        Some(stack) => {
            let mut stack = stack?;
            stack.fresh.extend(fresh);
            stack
        }
        None => StackInput {
            // Spanned at the function's name: a per-function breaker's
            // default name reads the line from it.
            fn_name: LitStr::new(&fn_name, fn_span_ident),
            output: slot.output,
            blocking: slot.blocking,
            fresh,
            layers: Vec::new(),
            body: raw_body.clone().unwrap_or_else(|| {
                let stmts = &slot.block.stmts[keep..];
                let mut body = Group::new(Delimiter::Brace, quote!(#(#stmts)*));
                body.set_span(slot.block.brace_token.span.join());
                body
            }),
        },
    };
    stack.layers.push(layer);
    // The last attribute that could be a macro generates the stack itself:
    // one round of expansion fewer (two instead of three for a single
    // attribute), which is most of what a user's build pays per function.
    let invocation = if last {
        crate::expand::generate_stack(&stack)
    } else {
        stack.to_invocation()
    };
    // The body keeps its own braces (and so its spans): only the
    // statements are replaced.
    if let Some(body) = &mut raw_body {
        let span = body.span();
        *body = Group::new(Delimiter::Brace, invocation);
        body.set_span(span);
        let ItemFn {
            attrs, vis, sig, ..
        } = &function;
        return Ok(quote!(#(#attrs)* #allow_wraps #vis #sig #body));
    }
    slot.block.stmts.truncate(keep);
    slot.block
        .stmts
        .push(Stmt::Expr(syn::parse_quote!(#invocation), None));
    if let Some(allow) = allow_wraps {
        function.attrs.push(syn::parse_quote!(#allow));
    }
    Ok(function.into_token_stream())
}

/// Where `kind`'s stack goes in `function`, or why it cannot: no return
/// type, or a layer that needs an `async fn` on a plain one.
fn slot_for(kind: Kind, function: &mut ItemFn) -> syn::Result<item::BodySlot<'_>> {
    let name = kind.name();
    let output_tokens = match &function.sig.output {
        syn::ReturnType::Type(arrow, ty) => {
            let ty = ty.to_token_stream();
            quote!(#arrow #ty)
        }
        syn::ReturnType::Default => function.sig.ident.to_token_stream(),
    };
    let slot = item::body_slot(function).map_err(|NotSupported::NoReturnType| {
        syn::Error::new_spanned(
            output_tokens,
            format!(
                "`#[{name}]` needs a function that returns `Result<T, E>`: this one returns `()`"
            ),
        )
    })?;
    match kind.blocking_problem() {
        Some(problem) if slot.blocking => Err(syn::Error::new(Span::call_site(), problem)),
        _ => Ok(slot),
    }
}

/// The annotated item. An `async fn` is read without its body's
/// statements (the common case, and the cheap one: every attribute of a
/// stack reads the item again), and its body comes back as tokens;
/// anything else, an `#[async_trait]` method with its prologue or a
/// mistake to report, is parsed whole.
fn read_item(kind: Kind, item: &TokenStream) -> syn::Result<(ItemFn, Option<Group>)> {
    let Ok(AsyncFn {
        attrs,
        vis,
        sig,
        body,
    }) = syn::parse2::<AsyncFn>(item.clone())
    else {
        return Ok((parse_function(kind, item)?, None));
    };
    let block = Block {
        brace_token: syn::token::Brace(body.delim_span()),
        stmts: Vec::new(),
    };
    let function = ItemFn {
        attrs,
        vis,
        modifiers: syn::FnModifiers::default(),
        sig,
        block: Box::new(block),
    };
    Ok((function, Some(body)))
}

/// Whether none of `attrs` can be an attribute macro (or turn into one):
/// rustc's own inert attributes, which stay on the item. Anything else
/// below this attribute may be another resilient layer (renamed on
/// import, or behind `cfg_attr`), so the stack is left to `__stack!`.
fn only_inert(attrs: &[Attribute]) -> bool {
    const INERT: [&str; 10] = [
        "doc",
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "inline",
        "must_use",
        "deprecated",
        "cold",
    ];
    attrs
        .iter()
        .all(|attr| INERT.iter().any(|name| attr.path().is_ident(name)))
}

/// An `async fn` with its body as tokens.
struct AsyncFn {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    body: Group,
}

impl Parse for AsyncFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig: Signature = input.parse()?;
        if sig.asyncness.is_none() {
            return Err(input.error("not an `async fn`"));
        }
        let body = match input.parse()? {
            // Inner attributes (`#![allow(..)]`) go the whole way: syn
            // lifts them out of the statements.
            TokenTree::Group(body)
                if body.delimiter() == Delimiter::Brace && !starts_inner_attribute(&body) =>
            {
                body
            }
            _ => return Err(input.error("not a plain body")),
        };
        if !input.is_empty() {
            return Err(input.error("more after the body"));
        }
        Ok(Self {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

fn starts_inner_attribute(body: &Group) -> bool {
    let mut tokens = body.stream().into_iter();
    matches!(
        (tokens.next(), tokens.next()),
        (Some(TokenTree::Punct(hash)), Some(TokenTree::Punct(bang)))
            if hash.as_char() == '#' && bang.as_char() == '!'
    )
}

/// The whole item, parsed; for a mistake, the error that names it.
fn parse_function(kind: Kind, item: &TokenStream) -> syn::Result<ItemFn> {
    let name = kind.name();
    syn::parse2(item.clone()).map_err(|_| {
        if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
            return syn::Error::new(
                method.sig.fn_token.span,
                format!(
                    "`#[{name}]` needs the function's body: put it on the method in the `impl`, not in the trait"
                ),
            );
        }
        let function = if kind.blocking_problem().is_some() {
            "an `async fn`"
        } else {
            "a function (an `async fn` or a plain `fn`)"
        };
        syn::Error::new(
            first_span(item),
            format!("`#[{name}]` goes on {function}: this item is not a function"),
        )
    })
}

/// Whether statements include async-trait's `let __self = self;`.
fn binds_self(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|stmt| {
        matches!(stmt, Stmt::Local(local)
            if matches!(&local.pat, syn::Pat::Ident(i) if i.ident == "__self"))
    })
}

/// Every `self` token becomes `__self`, keeping its span.
fn rename_self(tokens: TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Ident(ident) if ident == "self" => {
                TokenTree::Ident(Ident::new("__self", ident.span()))
            }
            TokenTree::Group(group) => {
                let mut renamed = Group::new(group.delimiter(), rename_self(group.stream()));
                renamed.set_span(group.span());
                TokenTree::Group(renamed)
            }
            other => other,
        })
        .collect()
}

fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// The stack already in the body, if the body is exactly one `__stack!`.
fn existing_stack(stmts: &[Stmt]) -> Option<syn::Result<StackInput>> {
    let [stmt] = stmts else { return None };
    Some(item::stack_invocation(stmt)?.parse_body::<StackInput>())
}

/// The same for a body kept as tokens. A user's body fails to read as one
/// macro invocation at its first tokens, so this costs no parse of it.
fn existing_stack_in(body: &Group) -> Option<syn::Result<StackInput>> {
    let mac = syn::parse2::<syn::Macro>(body.stream()).ok()?;
    item::is_stack_macro(&mac).then(|| mac.parse_body::<StackInput>())
}

impl StackInput {
    fn to_invocation(&self) -> TokenStream {
        let Self {
            fn_name,
            output,
            blocking,
            fresh,
            layers,
            body,
        } = self;
        let layers = layers.iter().map(|Layer { kind, span, args }| {
            let kind = Ident::new(kind.name(), *span);
            quote!([#kind(#args)])
        });
        quote! {
            ::resilient::__private::__stack! {
                fn_name = #fn_name,
                output = (#output),
                blocking = #blocking,
                fresh = [#(#fresh),*],
                layers = #(#layers)*,
                body = #body
            }
        }
    }
}

impl Parse for StackInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        fn key(input: ParseStream<'_>, name: &str) -> syn::Result<()> {
            let ident: Ident = input.parse()?;
            if ident != name {
                return Err(syn::Error::new(ident.span(), format!("expected `{name}`")));
            }
            input.parse::<Token![=]>()?;
            Ok(())
        }
        key(input, "fn_name")?;
        let fn_name = input.parse()?;
        input.parse::<Token![,]>()?;
        key(input, "output")?;
        let content;
        syn::parenthesized!(content in input);
        let output = content.parse()?;
        input.parse::<Token![,]>()?;
        key(input, "blocking")?;
        let blocking = input.parse::<syn::LitBool>()?.value;
        input.parse::<Token![,]>()?;
        key(input, "fresh")?;
        let names;
        syn::bracketed!(names in input);
        let fresh = names
            .parse_terminated(Ident::parse, Token![,])?
            .into_iter()
            .collect();
        input.parse::<Token![,]>()?;
        key(input, "layers")?;
        let mut layers = Vec::new();
        while input.peek(syn::token::Bracket) {
            let layer;
            syn::bracketed!(layer in input);
            let ident: Ident = layer.parse()?;
            let kind = Kind::from_ident(&ident)?;
            let args;
            syn::parenthesized!(args in layer);
            layers.push(Layer {
                kind,
                span: ident.span(),
                args: args.parse()?,
            });
        }
        input.parse::<Token![,]>()?;
        key(input, "body")?;
        let body = match input.parse()? {
            TokenTree::Group(body) if body.delimiter() == Delimiter::Brace => body,
            other => return Err(syn::Error::new(other.span(), "expected the body's block")),
        };
        Ok(Self {
            fn_name,
            output,
            blocking,
            fresh,
            layers,
            body,
        })
    }
}
