//! A retry re-runs the body from the caller's values: a `mut` argument the
//! body changes starts every attempt as the caller passed it (a copy, or a
//! clone with `clone(..)`), on every shape of function.

use std::sync::Mutex;

use resilient::{circuit_breaker, retry, timeout};

#[derive(Debug, PartialEq)]
struct Failed;

impl From<resilient::CircuitOpen> for Failed {
    fn from(_: resilient::CircuitOpen) -> Self {
        Self
    }
}

impl From<resilient::Elapsed> for Failed {
    fn from(_: resilient::Elapsed) -> Self {
        Self
    }
}

/// Records what each attempt saw, then fails.
fn saw<T: Clone>(log: &Mutex<Vec<T>>, value: &T) -> Result<(), Failed> {
    log.lock().unwrap().push(value.clone());
    Err(Failed)
}

#[retry(attempts = 3, backoff = none)]
async fn counter(mut n: u32, log: &Mutex<Vec<u32>>) -> Result<(), Failed> {
    n += 1;
    saw(log, &n)
}

#[tokio::test(start_paused = true)]
async fn each_attempt_starts_from_the_callers_value() {
    let log = Mutex::new(Vec::new());
    assert_eq!(counter(0, &log).await, Err(Failed));
    assert_eq!(*log.lock().unwrap(), [1, 1, 1], "not 1, 2, 3");
}

#[retry(attempts = 3, backoff = none)]
async fn in_a_pattern((mut a, b): (u32, u32), log: &Mutex<Vec<u32>>) -> Result<(), Failed> {
    a += b;
    saw(log, &a)
}

#[tokio::test(start_paused = true)]
async fn a_mut_binding_inside_a_pattern() {
    let log = Mutex::new(Vec::new());
    let _ = in_a_pattern((1, 10), &log).await;
    assert_eq!(*log.lock().unwrap(), [11, 11, 11]);
}

/// A type that is not `Copy` is cloned per attempt with `clone(..)`.
#[retry(attempts = 3, backoff = none, clone(text))]
async fn grows(mut text: String, log: &Mutex<Vec<String>>) -> Result<(), Failed> {
    text.push('!');
    saw(log, &text)
}

#[tokio::test(start_paused = true)]
async fn a_cloned_mut_argument() {
    let log = Mutex::new(Vec::new());
    let _ = grows(String::from("hi"), &log).await;
    assert_eq!(*log.lock().unwrap(), ["hi!", "hi!", "hi!"]);
}

/// A `mut` binding of a `&mut` argument is re-borrowed, as before: changes
/// through it stay (and the docs say so).
#[retry(attempts = 3, backoff = none)]
async fn through_a_reference(mut out: &mut Vec<u32>) -> Result<(), Failed> {
    out.push(1);
    #[allow(clippy::mut_mut)] // the point: a `&mut` to the `mut` binding
    let again = &mut out;
    again.push(2);
    Err(Failed)
}

#[tokio::test(start_paused = true)]
async fn a_mut_reference_argument_keeps_its_effects() {
    let mut out = Vec::new();
    let _ = through_a_reference(&mut out).await;
    assert_eq!(out, [1, 2, 1, 2, 1, 2]);
}

/// Two retries, a breaker and a timeout: the innermost attempt still starts
/// from the caller's value.
#[retry(attempts = 2, backoff = none)]
#[circuit_breaker(failures = 100)]
#[retry(attempts = 2, backoff = none)]
#[timeout("1s")]
async fn stacked(mut n: u32, log: &Mutex<Vec<u32>>) -> Result<(), Failed> {
    n *= 2;
    saw(log, &n)
}

#[tokio::test(start_paused = true)]
async fn every_layer_of_a_stack() {
    let log = Mutex::new(Vec::new());
    let _ = stacked(3, &log).await;
    assert_eq!(*log.lock().unwrap(), [6, 6, 6, 6]);
}

/// Without a retry, a `mut` argument is an ordinary `mut` binding, of any
/// type.
#[circuit_breaker(failures = 100)]
async fn no_retry(mut text: String) -> Result<String, Failed> {
    text.push('?');
    Ok(text)
}

#[tokio::test(start_paused = true)]
async fn without_a_retry_nothing_is_copied() {
    assert_eq!(no_retry(String::from("ok")).await, Ok(String::from("ok?")));
}

struct Service {
    log: Mutex<Vec<u32>>,
}

impl Service {
    #[retry(attempts = 3, backoff = none)]
    async fn method(&self, mut n: u32) -> Result<(), Failed> {
        n += 5;
        saw(&self.log, &n)
    }
}

#[async_trait::async_trait]
trait Api {
    async fn boxed(&self, n: u32, text: String) -> Result<(), Failed>;
}

#[async_trait::async_trait]
impl Api for Service {
    #[retry(attempts = 3, backoff = none, clone(text))]
    #[timeout("1s")]
    async fn boxed(&self, mut n: u32, mut text: String) -> Result<(), Failed> {
        n += 7;
        text.push('x');
        assert_eq!(text, "x", "each attempt gets a fresh clone");
        saw(&self.log, &n)
    }
}

#[tokio::test(start_paused = true)]
async fn methods_and_async_trait_methods() {
    let service = Service {
        log: Mutex::new(Vec::new()),
    };
    let _ = service.method(1).await;
    let _ = service.boxed(1, String::new()).await;
    assert_eq!(*service.log.lock().unwrap(), [6, 6, 6, 8, 8, 8]);
}

#[async_trait::async_trait]
trait Patterns {
    async fn destructured(&self, pair: (u32, u32)) -> Result<(), Failed>;
    async fn destructured_owned(&self, pair: (String, u32)) -> Result<(), Failed>;
}

/// async-trait moves a destructured argument through its prologue
/// (`let (mut a, b) = { let __arg1 = __arg1; __arg1 };`): the `mut` is
/// found there, not on its `__arg1`.
#[async_trait::async_trait]
impl Patterns for Service {
    #[retry(attempts = 3, backoff = none)]
    async fn destructured(&self, (mut a, b): (u32, u32)) -> Result<(), Failed> {
        a += b;
        saw(&self.log, &a)
    }

    #[retry(attempts = 2, backoff = none, clone(text))]
    #[timeout("1s")]
    async fn destructured_owned(&self, (mut text, n): (String, u32)) -> Result<(), Failed> {
        text.push('!');
        saw(&self.log, &(u32::try_from(text.len()).unwrap() + n))
    }
}

#[tokio::test(start_paused = true)]
async fn destructured_arguments_of_async_trait_methods() {
    let service = Service {
        log: Mutex::new(Vec::new()),
    };
    let _ = service.destructured((1, 10)).await;
    let _ = service.destructured_owned((String::from("ab"), 100)).await;
    assert_eq!(*service.log.lock().unwrap(), [11, 11, 11, 103, 103]);
}

/// `clone(..)` may name a binding inside a pattern.
#[retry(attempts = 2, backoff = none, clone(text))]
async fn cloned_from_a_pattern(
    (mut text, n): (String, u32),
    log: &Mutex<Vec<String>>,
) -> Result<(), Failed> {
    text.push_str(&n.to_string());
    saw(log, &text)
}

#[tokio::test(start_paused = true)]
async fn a_pattern_binding_cloned_per_attempt() {
    let log = Mutex::new(Vec::new());
    let _ = cloned_from_a_pattern((String::from("x"), 1), &log).await;
    assert_eq!(*log.lock().unwrap(), ["x1", "x1"]);
}

/// `keep(..)`: a handle whose state carries on from one attempt to the
/// next, such as a channel's receiver (not `Clone`, and each attempt
/// takes the next message).
#[retry(attempts = 3, backoff = none, keep(rx))]
async fn next_even(mut rx: tokio::sync::mpsc::Receiver<u32>) -> Result<u32, Failed> {
    let n = rx.recv().await.ok_or(Failed)?;
    if n % 2 == 0 { Ok(n) } else { Err(Failed) }
}

#[tokio::test(start_paused = true)]
async fn kept_arguments_carry_on() {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    for n in [1, 3, 4, 5] {
        tx.send(n).await.unwrap();
    }
    assert_eq!(
        next_even(rx).await,
        Ok(4),
        "the third attempt got the third message"
    );
}

/// Two retries, each with its own `clone(..)`: the inner one starts every
/// attempt from the outer attempt's clone.
#[retry(attempts = 2, backoff = none, clone(v))]
#[retry(attempts = 3, backoff = none, clone(v))]
async fn nested_clones(mut v: Vec<u32>, log: &Mutex<Vec<usize>>) -> Result<(), Failed> {
    v.push(1);
    saw(log, &v.len())
}

#[tokio::test(start_paused = true)]
async fn nested_retries_each_clone() {
    let log = Mutex::new(Vec::new());
    let _ = nested_clones(vec![0], &log).await;
    assert_eq!(*log.lock().unwrap(), [2; 6]);
}

/// A `&mut T` written through a `macro_rules!` type fragment is still a
/// reference to re-borrow, not a value to copy.
macro_rules! through_a_macro {
    ($t:ty) => {
        #[retry(attempts = 2, backoff = none)]
        async fn from_a_macro(mut out: $t) -> Result<(), Failed> {
            out.push(1);
            #[allow(clippy::mut_mut)]
            let again = &mut out;
            again.push(2);
            Err(Failed)
        }
    };
}

through_a_macro!(&mut Vec<u32>);

#[tokio::test(start_paused = true)]
async fn a_mut_reference_from_a_macro_type() {
    let mut out = Vec::new();
    let _ = from_a_macro(&mut out).await;
    assert_eq!(out, [1, 2, 1, 2]);
}

struct Builder {
    parts: Vec<u32>,
}

impl Builder {
    /// `mut self` by value carries on only when asked to.
    #[retry(attempts = 2, backoff = none, keep(self))]
    async fn build(mut self) -> Result<usize, Failed> {
        self.parts.push(1);
        if self.parts.len() < 2 {
            Err(Failed)
        } else {
            Ok(self.parts.len())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn keep_self() {
    let built = Builder { parts: Vec::new() }.build().await;
    assert_eq!(built, Ok(2));
}

#[async_trait::async_trait]
trait References {
    async fn shared_reference(&self, s: &str) -> Result<(), Failed>;
    async fn through_a_macro(&self, out: &mut Vec<u32>) -> Result<(), Failed>;
}

macro_rules! references_impl {
    ($t:ty) => {
        /// async-trait leaves an argument written as a reference in the
        /// signature (`mut s: &str`): copied per attempt all the same. One
        /// behind a macro's type fragment it moves into its prologue; a
        /// `&mut` there is still re-borrowed.
        #[async_trait::async_trait]
        impl References for Service {
            #[retry(attempts = 3, backoff = none)]
            async fn shared_reference(&self, mut s: &str) -> Result<(), Failed> {
                s = &s[1..];
                saw(&self.log, &u32::try_from(s.len()).unwrap())
            }

            #[retry(attempts = 2, backoff = none)]
            async fn through_a_macro(&self, mut out: $t) -> Result<(), Failed> {
                #[allow(clippy::mut_mut)]
                let again = &mut out;
                again.push(1);
                Err(Failed)
            }
        }
    };
}

references_impl!(&mut Vec<u32>);

#[tokio::test(start_paused = true)]
async fn reference_arguments_of_async_trait_methods() {
    let service = Service {
        log: Mutex::new(Vec::new()),
    };
    let _ = service.shared_reference("abcd").await;
    assert_eq!(*service.log.lock().unwrap(), [3, 3, 3], "not 3, 2, 1");
    let mut out = Vec::new();
    let _ = service.through_a_macro(&mut out).await;
    assert_eq!(out, [1, 1]);
}

/// A generic `mut` argument (`T: Copy`) and a native `async fn` in a trait
/// impl: the same fresh copy per attempt.
#[retry(attempts = 3, backoff = none)]
async fn generic<T: Copy + core::ops::AddAssign + Into<u32>>(
    mut n: T,
    step: T,
    log: &Mutex<Vec<u32>>,
) -> Result<(), Failed> {
    n += step;
    saw(log, &n.into())
}

trait Native {
    async fn native(&self, n: u32) -> Result<(), Failed>;
}

impl Native for Service {
    #[retry(attempts = 3, backoff = none)]
    async fn native(&self, mut n: u32) -> Result<(), Failed> {
        n *= 3;
        saw(&self.log, &n)
    }
}

#[tokio::test(start_paused = true)]
async fn generic_and_native_trait_methods() {
    let log = Mutex::new(Vec::new());
    let _ = generic(1u32, 2u32, &log).await;
    assert_eq!(*log.lock().unwrap(), [3, 3, 3]);
    let service = Service {
        log: Mutex::new(Vec::new()),
    };
    let _ = service.native(2).await;
    assert_eq!(*service.log.lock().unwrap(), [6, 6, 6]);
}

mod shadowing {
    // A module of the user's own named like the stack's path alias.
    pub(crate) mod __resilient {
        pub(crate) fn triple(n: u32) -> u32 {
            n * 3
        }
    }
}

/// A body that brings its own `__resilient` into scope: the stack's code
/// inside the user's braces (the per-attempt copy of `n`) does not go
/// through the alias, so it is not redirected; and an item first in the
/// body stays first (clippy's pedantic `items_after_statements`, on in
/// this workspace, would say otherwise).
#[retry(attempts = 3, backoff = none)]
async fn shadows_the_alias(mut n: u32, log: &Mutex<Vec<u32>>) -> Result<(), Failed> {
    use shadowing::__resilient;
    n = __resilient::triple(n);
    saw(log, &n)
}

#[tokio::test(start_paused = true)]
async fn a_body_may_name_its_own_resilient_module() {
    let log = Mutex::new(Vec::new());
    let _ = shadows_the_alias(2, &log).await;
    assert_eq!(*log.lock().unwrap(), [6, 6, 6]);
}
