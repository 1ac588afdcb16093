//! Compile errors and compile-and-run cases of the attributes, with
//! trybuild. The `.stderr` files are rustc's own text, blessed on rustc
//! 1.95 (`TRYBUILD=overwrite cargo test --test ui`); on another compiler
//! the test is skipped rather than failed.

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files are blessed on rustc 1.95"
)]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/retry-*.rs");
    cases.compile_fail("tests/ui/circuit_breaker-*.rs");
    cases.compile_fail("tests/ui/timeout-*.rs");
    cases.compile_fail("tests/ui/fallback-*.rs");
    cases.compile_fail("tests/ui/bulkhead-*.rs");
    cases.compile_fail("tests/ui/rate_limit-*.rs");
    cases.compile_fail("tests/ui/hedge-*.rs");
    cases.compile_fail("tests/ui/blocking-*.rs");
    cases.pass("tests/ui/pass-*.rs");
}
