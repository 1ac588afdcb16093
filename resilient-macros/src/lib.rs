//! The attribute macros of [`resilient`](https://docs.rs/resilient).
//!
//! Depend on `resilient` and use the attributes from there: this crate is an
//! implementation detail, versioned in lockstep with it. The attributes
//! (`#[retry]`, `#[circuit_breaker]`, `#[fallback]`, `#[timeout]`) arrive in
//! this crate as thin entry points over the runtime in `resilient-runtime`;
//! until then it exports nothing.
