//! The attributes' argument parsers and checks on arbitrary token text:
//! never a panic, always a value or a `syn::Error`.
#![no_main]
#![allow(dead_code, unused_imports)] // the modules' code generation is not used here

use libfuzzer_sys::fuzz_target;

#[path = "../../resilient-macros/src/args/mod.rs"]
mod args;
#[path = "../../resilient-macros/src/item.rs"]
mod item;

use args::breaker::BreakerArgs;
use args::fallback::FallbackArgs;
use args::retry::RetryArgs;
use args::timeout::TimeoutArgs;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = args::duration::parse(text);
    let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() else {
        return;
    };
    // Parsing and every check, as the attributes run them.
    let _ = args::parse_settings::<RetryArgs>(tokens.clone());
    let _ = args::parse_settings::<BreakerArgs>(tokens.clone());
    let _ = TimeoutArgs::parse(tokens.clone());
    let _ = FallbackArgs::parse(tokens);
});
