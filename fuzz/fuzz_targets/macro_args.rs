//! The attributes' argument parsers and checks on arbitrary token text:
//! never a panic, always a value or a `syn::Error`.
#![no_main]
#![allow(dead_code, unused_imports)] // the modules' code generation is not used here

use libfuzzer_sys::fuzz_target;

#[path = "../../resilient-macros/src/args.rs"]
mod args;
#[path = "../../resilient-macros/src/breaker_args.rs"]
mod breaker_args;
#[path = "../../resilient-macros/src/duration.rs"]
mod duration;
#[path = "../../resilient-macros/src/fallback_args.rs"]
mod fallback_args;
#[path = "../../resilient-macros/src/timeout_args.rs"]
mod timeout_args;
#[path = "../../resilient-macros/src/validate.rs"]
mod validate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = duration::parse(text);
    let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() else {
        return;
    };
    if let Ok(parsed) = args::RetryArgs::parse(tokens.clone()) {
        let _ = validate::retry(&parsed);
    }
    if let Ok(parsed) = breaker_args::BreakerArgs::parse(tokens.clone()) {
        let _ = breaker_args::validate(&parsed);
    }
    let _ = timeout_args::TimeoutArgs::parse(tokens.clone());
    let _ = fallback_args::FallbackArgs::parse(tokens);
});
