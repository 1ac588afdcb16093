//! The annotated function: where its body is, what it returns.
//!
//! Only the body is ever rewritten; the signature, attributes and doc
//! comments are re-emitted as written, so callers, rustdoc and
//! rust-analyzer see the user's own function.

use syn::visit_mut::VisitMut;
use syn::{
    Block, Expr, GenericArgument, ItemFn, PathArguments, ReturnType, Stmt, Type, TypeParamBound,
};

/// Where the stack goes, and the type the body evaluates to.
pub(crate) struct BodySlot<'a> {
    pub(crate) block: &'a mut Block,
    pub(crate) output: Type,
    /// Leading statements that stay outside the stack: `#[async_trait]`'s
    /// prologue (`let __self = self; let arg = arg;`), which moves the
    /// arguments into its block and must run once, not per attempt.
    pub(crate) keep: usize,
    /// A plain (non-`async`) `fn`: its layers block the thread.
    pub(crate) blocking: bool,
}

/// Why a function cannot take the attribute.
pub(crate) enum NotSupported {
    NoReturnType,
}

// Input:  async fn f(..) -> R { body }
// Output: the body block and R.
//
// Input:  fn f(..) -> Pin<Box<dyn Future<Output = R> + Send + 'async_trait>> {
//             Box::pin(async move { body })
//         }                                   (a method after `#[async_trait]`)
// Output: the inner `async move` block and R.
pub(crate) fn body_slot(item: &mut ItemFn) -> Result<BodySlot<'_>, NotSupported> {
    if item.sig.asyncness.is_some() {
        let ReturnType::Type(_, output) = &item.sig.output else {
            return Err(NotSupported::NoReturnType);
        };
        let output = (**output).clone();
        return Ok(BodySlot {
            block: &mut item.block,
            output,
            keep: 0,
            blocking: false,
        });
    }
    // A method after `#[async_trait]` (looked at first, then borrowed: a
    // borrow returned from one branch only would outlive the check).
    if let Some(output) = boxed_future_output(&item.sig.output)
        && async_trait_block_ref(&item.block).is_some()
    {
        let block = async_trait_block(&mut item.block).expect("found just above");
        let keep = prologue_len(&block.stmts);
        return Ok(BodySlot {
            block,
            output,
            keep,
            blocking: false,
        });
    }
    // A plain `fn`.
    let ReturnType::Type(_, output) = &item.sig.output else {
        return Err(NotSupported::NoReturnType);
    };
    let output = (**output).clone();
    Ok(BodySlot {
        block: &mut item.block,
        output,
        keep: 0,
        blocking: true,
    })
}

/// How many leading statements of an `#[async_trait]` body are its
/// prologue. async-trait binds the body's value to `__ret`; everything
/// before that moves the arguments into its block. Once a resilient
/// attribute has run, the body (with `let __ret`) is inside its
/// `__stack!`, and the prologue ends there.
fn prologue_len(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .position(|stmt| {
            is_stack_invocation(stmt)
                || matches!(stmt, Stmt::Local(local)
                    if matches!(&local.pat, syn::Pat::Type(t)
                        if matches!(&*t.pat, syn::Pat::Ident(i) if i.ident == "__ret")))
        })
        .unwrap_or(0)
}

/// The prologue of an `#[async_trait]` method, if `item` is one.
fn prologue(item: &ItemFn) -> Option<&[Stmt]> {
    if item.sig.asyncness.is_some() {
        return None;
    }
    let stmts = &async_trait_block_ref(&item.block)?.stmts;
    Some(&stmts[..prologue_len(stmts)])
}

/// The `mut` bindings of the function's arguments (`mut n: u32`, `(mut a,
/// b): (u32, u32)`), with the `mut` taken off: the stack declares them
/// `mut` again inside the body, and a retry makes each attempt a fresh
/// copy (a retry re-runs the body from the caller's values, not from what
/// an earlier attempt left). A `mut` binding of a `&mut T` argument is
/// left alone: the reference is re-borrowed, not copied. `mut` is a part of
/// the pattern, not of the signature callers see.
///
/// An `#[async_trait]` method has moved the `mut`s of its other arguments
/// into its prologue (see [`take_mut_bindings`]); it leaves an argument
/// whose type is written as a reference (`mut s: &str`) in the signature,
/// with its `mut`, and that one is taken here.
pub(crate) fn take_mut_arguments(sig: &mut syn::Signature) -> Vec<syn::Ident> {
    let mut taken = TakeMut::default();
    // A method after `#[async_trait]` returns a boxed future; a plain
    // `fn` does not, and its `mut`s are taken like an `async fn`'s.
    let async_trait = sig.asyncness.is_none() && boxed_future_output(&sig.output).is_some();
    for input in &mut sig.inputs {
        if let syn::FnArg::Typed(typed) = input
            && !is_mut_reference(&typed.ty)
            && (!async_trait || matches!(&*typed.ty, Type::Reference(_)))
        {
            taken.visit_pat_mut(&mut typed.pat);
        }
    }
    taken.names
}

/// As [`take_mut_arguments`], for the `let mut x = x;` statements of an
/// `#[async_trait]` prologue, where that macro moved the `mut` (its
/// `let mut __self = self;` is the receiver's, and left alone). An
/// argument whose type is a `&mut T` that async-trait did not recognise
/// (behind a `macro_rules!` type fragment) keeps its `let mut`: a
/// reference, re-borrowed.
pub(crate) fn take_mut_bindings(sig: &syn::Signature, prologue: &mut [Stmt]) -> Vec<syn::Ident> {
    let references: Vec<syn::Ident> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) if is_mut_reference(&typed.ty) => match &*typed.pat {
                syn::Pat::Ident(pat) => Some(pat.ident.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut taken = TakeMut {
        names: Vec::new(),
        prologue: true,
    };
    for stmt in prologue {
        if let Stmt::Local(local) = stmt
            && !matches!(&local.pat, syn::Pat::Ident(pat) if references.contains(&pat.ident))
        {
            taken.visit_pat_mut(&mut local.pat);
        }
    }
    taken.names
}

/// `&mut T`, also behind the invisible group of a `macro_rules!` `$t:ty` or
/// in parentheses. (A type alias for one is not seen through: `keep(..)`
/// covers it.)
pub(crate) fn is_mut_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => r.mutability.is_some(),
        Type::Group(group) => is_mut_reference(&group.elem),
        Type::Paren(paren) => is_mut_reference(&paren.elem),
        _ => false,
    }
}

#[derive(Default)]
struct TakeMut {
    names: Vec<syn::Ident>,
    /// In async-trait's prologue, where `__self` is the receiver.
    prologue: bool,
}

impl VisitMut for TakeMut {
    fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
        if pat.by_ref.is_none()
            && pat.mutability.is_some()
            && !(self.prologue && pat.ident == "__self")
        {
            pat.mutability = None;
            self.names.push(pat.ident.clone());
        }
        syn::visit_mut::visit_pat_ident_mut(self, pat);
    }

    // Types and expressions hold no bindings of the function's.
    fn visit_type_mut(&mut self, _: &mut Type) {}
    fn visit_expr_mut(&mut self, _: &mut Expr) {}
}

/// What the function's arguments bind, as a retry must know it.
#[derive(Default)]
pub(crate) struct Bindings {
    /// Every name an argument binds (in the signature's patterns, or in an
    /// `#[async_trait]` method's prologue): what `clone(..)` and `keep(..)`
    /// may name.
    pub(crate) names: Vec<syn::Ident>,
    /// `ref mut` bindings: a reference into the argument, which a retry
    /// cannot make fresh per attempt.
    pub(crate) ref_mut: Vec<syn::Ident>,
    /// `mut self` by value (the `self` token): likewise.
    pub(crate) mut_self: Option<syn::Ident>,
    /// Whether `self` is taken by value at all (what `keep(self)` may name).
    pub(crate) self_by_value: bool,
}

/// `self`, `mut self` or `self: Arc<Self>`: not `&self` nor `self: &mut Self`.
fn receiver_by_value(receiver: &syn::Receiver) -> bool {
    match &receiver.kind {
        syn::ReceiverKind::Value => true,
        syn::ReceiverKind::Typed(_, ty) => !matches!(**ty, Type::Reference(_)),
        _ => false,
    }
}

/// The bindings of the function's arguments.
pub(crate) fn bindings(item: &ItemFn) -> Bindings {
    // `visit_mut` on copies: syn's `visit` feature would be built for this
    // alone.
    struct Collect<'a>(&'a mut Bindings, bool);
    impl VisitMut for Collect<'_> {
        fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
            if self.1 && pat.ident == "__self" {
                return;
            }
            if pat.by_ref.is_some() && pat.mutability.is_some() {
                self.0.ref_mut.push(pat.ident.clone());
            }
            self.0.names.push(pat.ident.clone());
            syn::visit_mut::visit_pat_ident_mut(self, pat);
        }
        fn visit_type_mut(&mut self, _: &mut Type) {}
        fn visit_expr_mut(&mut self, _: &mut Expr) {}
    }
    let mut bindings = Bindings::default();
    let prologue = prologue(item);
    for input in &item.sig.inputs {
        match input {
            syn::FnArg::Typed(typed) => {
                Collect(&mut bindings, false).visit_pat_mut(&mut (*typed.pat).clone());
            }
            syn::FnArg::Receiver(receiver) if receiver_by_value(receiver) => {
                bindings.self_by_value = true;
                // async-trait moves a by-value receiver's `mut` into its
                // prologue: `let mut __self = self;`.
                let moved_mut = prologue.is_some_and(|stmts| {
                    stmts.iter().any(|stmt| {
                        matches!(stmt, Stmt::Local(local)
                            if matches!(&local.pat, syn::Pat::Ident(i)
                                if i.ident == "__self" && i.mutability.is_some()))
                    })
                });
                if receiver.mutability.is_some() || moved_mut {
                    bindings.mut_self = Some(syn::Ident::new("self", receiver.self_token.span));
                }
            }
            syn::FnArg::Receiver(_) => {}
        }
    }
    for stmt in prologue.unwrap_or_default() {
        if let Stmt::Local(local) = stmt {
            Collect(&mut bindings, true).visit_pat_mut(&mut local.pat.clone());
        }
    }
    bindings
}

/// The `__stack!` macro of an earlier resilient attribute, if `stmt` is one.
pub(crate) fn stack_invocation(stmt: &Stmt) -> Option<&syn::Macro> {
    let mac = match stmt {
        Stmt::Expr(Expr::Macro(m), None) => &m.mac,
        Stmt::Macro(m) => &m.mac,
        _ => return None,
    };
    is_stack_macro(mac).then_some(mac)
}

/// Whether `mac` is `::resilient::__private::__stack!`, the exact path the
/// attributes write: a user's own `__stack!` is not taken for one.
pub(crate) fn is_stack_macro(mac: &syn::Macro) -> bool {
    let path: Vec<_> = mac
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    mac.path.leading_colon.is_some() && path == ["resilient", "__private", "__stack"]
}

fn is_stack_invocation(stmt: &Stmt) -> bool {
    stack_invocation(stmt).is_some()
}

/// `R` of `Pin<Box<dyn Future<Output = R> + ..>>`.
fn boxed_future_output(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let pin = last_generic(ty, "Pin")?;
    let boxed = last_generic(pin, "Box")?;
    let Type::TraitObject(object) = boxed else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let segment = bound.path.segments.last()?;
        if segment.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// The one type argument of a path type whose last segment is `name`.
fn last_generic<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// The block of a body that is exactly `Box::pin(async move { .. })`.
fn async_trait_block(block: &mut Block) -> Option<&mut Block> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    if !is_box_pin(call) {
        return None;
    }
    let Some(Expr::Async(inner)) = call.args.first_mut() else {
        return None;
    };
    Some(&mut inner.block)
}

/// As [`async_trait_block`], read only.
fn async_trait_block_ref(block: &Block) -> Option<&Block> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    if !is_box_pin(call) {
        return None;
    }
    let Some(Expr::Async(inner)) = call.args.first() else {
        return None;
    };
    Some(&inner.block)
}

/// `Box::pin(one argument)`, as async-trait writes it.
fn is_box_pin(call: &syn::ExprCall) -> bool {
    let Expr::Path(func) = &*call.func else {
        return false;
    };
    let mut segments = func.path.segments.iter().rev();
    call.args.len() == 1
        && segments.next().is_some_and(|s| s.ident == "pin")
        && segments.next().is_some_and(|s| s.ident == "Box")
}

/// The return type with every `impl Trait` replaced by `_`, so it can
/// annotate a local (`let r: Result<_, E> = ..`).
pub(crate) fn erase_impl_trait(ty: &Type) -> Type {
    struct Eraser;
    impl VisitMut for Eraser {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                let span = syn::spanned::Spanned::span(impl_trait);
                *ty = syn::parse_quote_spanned!(span=> _);
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut ty = ty.clone();
    Eraser.visit_type_mut(&mut ty);
    ty
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};
    use syn::parse_quote;

    use super::*;

    #[test]
    fn impl_trait_becomes_infer() {
        let ty: Type = parse_quote!(Result<impl Iterator<Item = impl Display>, E>);
        assert_eq!(
            erase_impl_trait(&ty).to_token_stream().to_string(),
            quote!(Result<_, E>).to_string()
        );
    }

    #[test]
    fn async_trait_shape_is_found() {
        let mut item: ItemFn = parse_quote! {
            fn get<'life0, 'async_trait>(&'life0 self) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u32, E>> + ::core::marker::Send + 'async_trait>> {
                Box::pin(async move { let __self = self; Ok(1) })
            }
        };
        let slot = body_slot(&mut item).ok().unwrap();
        assert_eq!(
            slot.output.to_token_stream().to_string(),
            quote!(Result<u32, E>).to_string()
        );
        assert_eq!(slot.block.stmts.len(), 2);
        assert_eq!(slot.keep, 0, "no `let __ret` here");
    }

    #[test]
    fn a_plain_fn_blocks() {
        let mut item: ItemFn = parse_quote!(
            fn f() -> Result<(), E> {
                Ok(())
            }
        );
        assert!(body_slot(&mut item).is_ok_and(|slot| slot.blocking));
        let mut item: ItemFn = parse_quote!(
            async fn f() {}
        );
        assert!(matches!(
            body_slot(&mut item),
            Err(NotSupported::NoReturnType)
        ));
    }
}
