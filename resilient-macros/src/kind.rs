//! The one place that knows the kinds of layer: their names and how their
//! arguments are read. A new layer is a variant here, its arguments in
//! `args/` and its expansion in `expand/` (where `LayerArgs::produces`
//! says which tag it hands outward).

use proc_macro2::TokenStream;
use syn::{Ident, ItemFn};

use crate::args::breaker::BreakerArgs;
use crate::args::bulkhead::BulkheadArgs;
use crate::args::fallback::FallbackArgs;
use crate::args::hedge::HedgeArgs;
use crate::args::rate_limit::RateLimitArgs;
use crate::args::retry::RetryArgs;
use crate::args::timeout::TimeoutArgs;
use crate::args::{Errors, parse_settings};

/// An attribute, and so a layer of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Retry,
    CircuitBreaker,
    Timeout,
    Fallback,
    Bulkhead,
    RateLimit,
    Hedge,
}

impl Kind {
    /// Every kind: `from_ident` looks here, so a new kind goes in too.
    const ALL: [Self; 7] = [
        Self::Retry,
        Self::CircuitBreaker,
        Self::Timeout,
        Self::Fallback,
        Self::Bulkhead,
        Self::RateLimit,
        Self::Hedge,
    ];

    /// The attribute's name, as users write it and as `__stack!` carries it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::CircuitBreaker => "circuit_breaker",
            Self::Timeout => "timeout",
            Self::Fallback => "fallback",
            Self::Bulkhead => "bulkhead",
            Self::RateLimit => "rate_limit",
            Self::Hedge => "hedge",
        }
    }

    /// The kind `__stack!` names; anything else is an error, never a
    /// default.
    pub(crate) fn from_ident(ident: &Ident) -> syn::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| ident == kind.name())
            .ok_or_else(|| syn::Error::new(ident.span(), format!("unknown layer `{ident}`")))
    }

    /// Why this layer cannot go on a plain (non-`async`) `fn`, if it
    /// cannot.
    pub(crate) fn blocking_problem(self) -> Option<&'static str> {
        match self {
            Self::Timeout => Some(
                "`#[timeout]` needs an `async fn`: a plain `fn` blocks its thread, and nothing can cut a blocking call off from outside; make it `async`, or set the time limit on the blocking operation itself (a socket's read timeout)",
            ),
            Self::Hedge => Some(
                "`#[hedge]` needs an `async fn`: its copies run at once on one task, and a plain `fn` blocks its thread until it returns; make it `async`",
            ),
            Self::RateLimit => Some(
                "`#[rate_limit]` needs an `async fn`: on a plain `fn` it would have to block the thread until the limiter lets the call through; make it `async`, or call `RateLimiter::try_acquire` in the body",
            ),
            Self::Retry | Self::CircuitBreaker | Self::Fallback | Self::Bulkhead => None,
        }
    }

    /// Reads and checks this attribute's arguments: the arguments, if they
    /// could be read, and every mistake (both when some were refused).
    pub(crate) fn parse(self, tokens: TokenStream) -> (Option<LayerArgs>, Errors) {
        match self {
            Self::Retry => {
                let (args, errors) = parse_settings::<RetryArgs>(tokens);
                (Some(LayerArgs::Retry(args)), errors)
            }
            Self::CircuitBreaker => {
                let (args, errors) = parse_settings::<BreakerArgs>(tokens);
                (Some(LayerArgs::Breaker(args)), errors)
            }
            Self::Timeout => {
                let (args, errors) = TimeoutArgs::parse(tokens);
                (args.map(LayerArgs::Timeout), errors)
            }
            Self::Fallback => {
                let (args, errors) = FallbackArgs::parse(tokens);
                (args.map(LayerArgs::Fallback), errors)
            }
            Self::Bulkhead => {
                let (args, errors) = parse_settings::<BulkheadArgs>(tokens);
                (Some(LayerArgs::Bulkhead(args)), errors)
            }
            Self::RateLimit => {
                let (args, errors) = parse_settings::<RateLimitArgs>(tokens);
                (Some(LayerArgs::RateLimit(args)), errors)
            }
            Self::Hedge => {
                let (args, errors) = parse_settings::<HedgeArgs>(tokens);
                (Some(LayerArgs::Hedge(args)), errors)
            }
        }
    }

    /// Arguments checked already (by the attribute), read again by
    /// `__stack!`.
    pub(crate) fn parse_checked(self, tokens: TokenStream) -> syn::Result<LayerArgs> {
        let (args, errors) = self.parse(tokens);
        match (args, errors.finish()) {
            (Some(args), Ok(())) => Ok(args),
            (_, Err(error)) => Err(error),
            (None, Ok(())) => Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                format!("invalid `#[{}]` arguments", self.name()),
            )),
        }
    }
}

/// One layer's arguments, by kind.
pub(crate) enum LayerArgs {
    Retry(RetryArgs),
    Breaker(BreakerArgs),
    Timeout(TimeoutArgs),
    Fallback(FallbackArgs),
    Bulkhead(BulkheadArgs),
    RateLimit(RateLimitArgs),
    Hedge(HedgeArgs),
}

impl LayerArgs {
    /// The checks against the function itself (the names in `clone(..)`
    /// and `keep(..)`, arguments a retry cannot start afresh, arguments
    /// the copies of a hedge cannot share).
    pub(crate) fn check_function(&self, function: &ItemFn) -> syn::Result<()> {
        match self {
            Self::Retry(args) => args.check_arguments(function),
            Self::Hedge(_) => HedgeArgs::check_arguments(function),
            Self::Breaker(_)
            | Self::Timeout(_)
            | Self::Fallback(_)
            | Self::Bulkhead(_)
            | Self::RateLimit(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind is found by its name, and each name is one kind.
    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            let ident = Ident::new(kind.name(), proc_macro2::Span::call_site());
            assert_eq!(Kind::from_ident(&ident).ok(), Some(kind));
        }
        let unknown = Ident::new("hedges", proc_macro2::Span::call_site());
        assert!(Kind::from_ident(&unknown).is_err(), "no fall-through");
    }
}
