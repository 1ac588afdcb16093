//! Typed arguments of `#[hedge(..)]`, each value with its span, and their
//! checks; and the checks against the function a hedge runs several times
//! at once.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, LitStr};

use super::{
    DurationArg, Errors, Keyed, Settings, Unsettled, budget_expr, limits, name_literal,
    parse_duration, set, whole_number_in,
};
use crate::item;

#[derive(Clone, Default)]
pub(crate) struct HedgeArgs {
    pub(crate) after: Option<Keyed<DurationArg>>,
    pub(crate) max: Option<Keyed<(u32, Span)>>,
    pub(crate) budget: Option<Keyed<Box<Expr>>>,
    pub(crate) name: Option<Keyed<LitStr>>,
}

impl HedgeArgs {
    /// How many copies run at most, the first attempt included.
    pub(crate) fn copies(&self) -> u32 {
        self.max
            .as_ref()
            .map_or(limits::DEFAULT_HEDGED, |max| max.value.0)
    }

    /// The checks against the function: the copies run at once, so none
    /// can have a `&mut` of the caller's to itself.
    pub(crate) fn check_arguments(function: &ItemFn) -> syn::Result<()> {
        let why = "`#[hedge]` runs the body several times at once";
        let mut errors = Errors::default();
        for input in &function.sig.inputs {
            match input {
                syn::FnArg::Receiver(receiver)
                    if match &receiver.kind {
                        syn::ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
                        // `self: &mut Self`, `self: Pin<&mut Self>`.
                        syn::ReceiverKind::Typed(_, ty) => holds_mut_reference(ty),
                        _ => false,
                    } =>
                {
                    errors.at(
                        receiver.self_token.span,
                        format!("{why}, and each copy would need `&mut self` to itself: take `&self`, and keep what the body changes behind a `Mutex` or an atomic"),
                    );
                }
                syn::FnArg::Typed(typed) if holds_mut_reference(&typed.ty) => {
                    let name = arg_name(&typed.pat);
                    let what = if item::is_mut_reference(&typed.ty) {
                        "a `&mut`"
                    } else {
                        "it holds a `&mut`"
                    };
                    // At the name: a span cannot cover `&mut T` on stable.
                    errors.at(
                        typed.pat.span(),
                        format!("{why}, and each copy would need {name} ({what}) to itself: take `&` instead of `&mut`, and keep what the body changes behind a `Mutex` or an atomic"),
                    );
                }
                _ => {}
            }
        }
        let bindings = item::bindings(function);
        if let Some(token) = &bindings.mut_self {
            errors.at(
                token.span(),
                format!("{why}, and `mut self` cannot be given to each copy: take `&self`"),
            );
        }
        for name in &bindings.ref_mut {
            errors.at(
                name.span(),
                format!("{why}, and each copy would need `ref mut {name}` to itself: bind it by value (`mut {name}`: each copy gets its own), or keep what the body changes behind a `Mutex`"),
            );
        }
        errors.finish()
    }
}

/// Whether `ty` is or holds a `&mut` (`&mut T`, `Option<&mut T>`,
/// `(&mut A, B)`): each copy would need it to itself. A function that
/// takes one (`fn(&mut T)`, `&dyn Fn(&mut T)`) holds none: it can be
/// shared.
fn holds_mut_reference(ty: &syn::Type) -> bool {
    struct Find(bool);
    impl syn::visit_mut::VisitMut for Find {
        fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
            self.0 |= reference.mutability.is_some();
            syn::visit_mut::visit_type_reference_mut(self, reference);
        }
        fn visit_type_fn_ptr_mut(&mut self, _: &mut syn::TypeFnPtr) {}
        fn visit_parenthesized_generic_arguments_mut(
            &mut self,
            _: &mut syn::ParenthesizedGenericArguments,
        ) {
        }
    }
    let mut find = Find(false);
    syn::visit_mut::VisitMut::visit_type_mut(&mut find, &mut ty.clone());
    find.0
}

/// "`name`" for a plain binding, "this argument" for a pattern.
fn arg_name(pat: &syn::Pat) -> String {
    match pat {
        syn::Pat::Ident(ident) => format!("`{}`", ident.ident),
        _ => "this argument".to_owned(),
    }
}

impl Settings for HedgeArgs {
    const KEYS: &'static [&'static str] = &["after", "max", "budget", "name"];

    fn key(
        &mut self,
        name: &str,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let key = meta.path.span();
        match name {
            "after" => {
                if let Some(d) = parse_duration(meta.value()?, errors)? {
                    set(&mut self.after, key, name, d, errors);
                }
            }
            "max" => {
                if let Some(n) = whole_number_in(
                    meta.value()?,
                    name,
                    limits::MIN_HEDGED,
                    limits::MAX_HEDGED,
                    errors,
                )? {
                    set(&mut self.max, key, name, n, errors);
                }
            }
            "budget" => {
                if let Some(budget) = budget_expr(meta, errors)? {
                    set(&mut self.budget, key, name, budget, errors);
                }
            }
            "name" => {
                if let Some(literal) = name_literal(meta, "search", errors)? {
                    set(&mut self.name, key, name, literal, errors);
                }
            }
            // Not a key: reported by `parse_settings`.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self, unsettled: &Unsettled, errors: &mut Errors) {
        if self.after.is_none() && unsettled.settled("after") {
            errors.at(
                Span::call_site(),
                "`#[hedge]` needs `after = ..`: how long an attempt runs before a copy of it starts, best near the call's 95th-percentile latency, such as `after = \"50ms\"`",
            );
        }
        if let Some(Keyed {
            value: (n, span), ..
        }) = &self.max
            && !(limits::MIN_HEDGED..=limits::MAX_HEDGED).contains(n)
        {
            errors.at(
                *span,
                format!(
                    "`max` must be from {} to {}: the copies of an attempt that may run at once, the first included",
                    limits::MIN_HEDGED,
                    limits::MAX_HEDGED
                ),
            );
        }
    }
}
