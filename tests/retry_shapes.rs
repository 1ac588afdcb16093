//! `#[retry]` on every supported shape of function, each future spawned on
//! the multi-thread runtime to prove it stays `Send`.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilient::{RetryHint, RetryPolicy, retry};

#[derive(Debug, PartialEq)]
struct Flaky;

/// Fails `fails` times, then succeeds.
struct Counter {
    calls: AtomicU32,
    fails: u32,
}

impl Counter {
    fn new(fails: u32) -> Self {
        Self {
            calls: AtomicU32::new(0),
            fails,
        }
    }

    fn hit(&self) -> Result<u32, Flaky> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        if n < self.fails {
            Err(Flaky)
        } else {
            Ok(n + 1)
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
}

struct Service {
    counter: Counter,
    log: Vec<u32>,
    delay: Duration,
}

impl Service {
    fn new(fails: u32) -> Self {
        Self {
            counter: Counter::new(fails),
            log: Vec::new(),
            delay: Duration::from_millis(5),
        }
    }

    #[retry(attempts = 3, backoff = none)]
    async fn by_ref(&self) -> Result<u32, Flaky> {
        self.counter.hit()
    }

    /// Side effects of failed attempts on `&mut` stay, as documented.
    #[retry(attempts = 3, backoff = none)]
    async fn by_mut(&mut self) -> Result<usize, Flaky> {
        self.log.push(7);
        self.counter.hit()?;
        Ok(self.log.len())
    }

    #[retry(attempts = 3, backoff = none)]
    async fn by_arc(self: Arc<Self>) -> Result<u32, Flaky> {
        self.counter.hit()
    }

    /// A `Duration` expression that uses `self`, evaluated per call.
    #[retry(attempts = 3, backoff = fixed(self.delay), jitter = none)]
    async fn delay_from_self(&self) -> Result<u32, Flaky> {
        self.counter.hit()
    }

    /// A shared borrow returned from `&self` works.
    #[retry(attempts = 2, backoff = none)]
    async fn borrowed(&self) -> Result<&Counter, Flaky> {
        self.counter.hit()?;
        Ok(&self.counter)
    }
}

fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_by_ref_by_mut_and_by_arc() {
    let svc = Arc::new(Service::new(2));
    let s = svc.clone();
    assert_eq!(spawn(async move { s.by_ref().await }).await.unwrap(), Ok(3));

    let svc2 = Arc::new(Service::new(1));
    let s = svc2.clone();
    assert_eq!(spawn(async move { s.by_arc().await }).await.unwrap(), Ok(2));

    let result = spawn(async move {
        let mut svc = Service::new(2);
        let len = svc.by_mut().await;
        (len, svc.log)
    })
    .await
    .unwrap();
    assert_eq!(result, (Ok(3), vec![7, 7, 7]));
}

#[tokio::test(start_paused = true)]
async fn a_duration_expression_from_self() {
    let svc = Service::new(2);
    let start = tokio::time::Instant::now();
    assert_eq!(svc.delay_from_self().await, Ok(3));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn a_borrowed_return() {
    let svc = Service::new(1);
    assert_eq!(svc.borrowed().await.unwrap().calls(), 2);
}

/// A trait whose method is declared `-> impl Future + Send`, implemented
/// with an `async fn`.
trait Fetch {
    fn fetch(&self) -> impl Future<Output = Result<u32, Flaky>> + Send;
}

impl Fetch for Service {
    #[retry(attempts = 3, backoff = none)]
    async fn fetch(&self) -> Result<u32, Flaky> {
        self.counter.hit()
    }
}

#[async_trait::async_trait]
trait AsyncTraitFetch {
    async fn fetch_boxed(&self, add: u32) -> Result<u32, Flaky>;
}

#[async_trait::async_trait]
impl AsyncTraitFetch for Service {
    #[retry(attempts = 3, backoff = none)]
    async fn fetch_boxed(&self, add: u32) -> Result<u32, Flaky> {
        Ok(self.counter.hit()? + add)
    }
}

#[async_trait::async_trait]
trait AsyncTraitMut {
    async fn push(&mut self, label: String) -> Result<usize, Flaky>;
    async fn shared(self: Arc<Self>) -> Result<u32, Flaky>;
}

/// `#[async_trait]` moves the arguments into its block once (its prologue
/// stays outside the retry loop): `&mut self`, `Arc<Self>` and an owned
/// `String` the body only reads all work.
#[async_trait::async_trait]
impl AsyncTraitMut for Service {
    #[retry(attempts = 3, backoff = none)]
    async fn push(&mut self, label: String) -> Result<usize, Flaky> {
        self.log.push(u32::try_from(label.len()).unwrap());
        self.counter.hit()?;
        Ok(self.log.len())
    }

    #[retry(attempts = 3, backoff = none)]
    async fn shared(self: Arc<Self>) -> Result<u32, Flaky> {
        self.counter.hit()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_with_mut_self_arc_self_and_owned_arguments() {
    let out = spawn(async {
        let mut svc = Service::new(2);
        let pushed = svc.push(String::from("abc")).await;
        let shared = Arc::new(Service::new(1)).shared().await;
        (pushed, svc.log, shared)
    })
    .await
    .unwrap();
    assert_eq!(out, (Ok(3), vec![3, 3, 3], Ok(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trait_methods_and_async_trait() {
    let svc = Arc::new(Service::new(2));
    let s = svc.clone();
    assert_eq!(spawn(async move { s.fetch().await }).await.unwrap(), Ok(3));
    let svc = Arc::new(Service::new(2));
    let s = svc.clone();
    assert_eq!(
        spawn(async move { s.fetch_boxed(10).await }).await.unwrap(),
        Ok(13)
    );
    assert_eq!(svc.counter.calls(), 3);
}

#[retry(attempts = 3, backoff = none)]
async fn generic<T: Display + Sync>(label: &T, counter: &Counter) -> Result<String, Flaky> {
    counter.hit()?;
    Ok(format!("{label}"))
}

/// Generic over the error: `RetryHint` is used only when the bound says so.
#[retry(attempts = 5, backoff = none)]
async fn generic_error<E: RetryHint + From<Flaky>>(counter: &Counter) -> Result<u32, E> {
    Ok(counter.hit()?)
}

#[derive(Debug)]
struct Fatal;

impl From<Flaky> for Fatal {
    fn from(_: Flaky) -> Self {
        Self
    }
}

impl RetryHint for Fatal {
    fn is_transient(&self) -> bool {
        false
    }
}

#[retry(attempts = 3, backoff = none)]
async fn impl_trait_args(
    items: impl IntoIterator<Item = u32> + Clone + Send,
    out: &mut Vec<u32>,
) -> Result<usize, Flaky> {
    out.extend(items.clone());
    if out.len() < 6 {
        Err(Flaky)
    } else {
        Ok(out.len())
    }
}

#[retry(attempts = 3, backoff = none)]
async fn impl_trait_return(counter: &Counter) -> Result<impl Display + use<>, Flaky> {
    counter.hit()
}

#[retry(attempts = 3, backoff = none)]
async fn io_alias(counter: &Counter) -> std::io::Result<u32> {
    counter.hit().map_err(|_| std::io::Error::other("flaky"))
}

#[retry(attempts = 3, backoff = none)]
async fn anyhow_alias(counter: &Counter) -> anyhow::Result<u32> {
    counter.hit().map_err(|_| anyhow::anyhow!("flaky"))
}

/// `clone(..)` lets a body consume an owned argument on every attempt.
#[retry(attempts = 3, backoff = none, clone(payload))]
async fn consumes(payload: String, counter: &Counter) -> Result<usize, Flaky> {
    let bytes = payload.into_bytes();
    counter.hit()?;
    Ok(bytes.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_functions_of_every_shape() {
    let out = spawn(async {
        let c = Counter::new(2);
        let label = generic(&"x", &c).await;
        let c = Counter::new(2);
        let fatal = generic_error::<Fatal>(&c).await.map_err(|_| c.calls());
        let c = Counter::new(2);
        let flaky = generic_error::<Flaky2>(&c).await;
        let mut v = Vec::new();
        let items = impl_trait_args(vec![1, 2], &mut v).await;
        let c = Counter::new(1);
        let shown = impl_trait_return(&c).await.map(|d| d.to_string());
        let c = Counter::new(2);
        let io = io_alias(&c).await.ok();
        let c = Counter::new(2);
        let any = anyhow_alias(&c).await.ok();
        let c = Counter::new(2);
        let consumed = consumes(String::from("four"), &c).await;
        (label, fatal, flaky, items, shown, io, any, consumed)
    })
    .await
    .unwrap();
    assert_eq!(out.0, Ok(String::from("x")));
    assert_eq!(out.1, Err(1), "a non-transient error stops at once");
    assert_eq!(out.2, Ok(3));
    assert_eq!(out.3, Ok(6));
    assert_eq!(out.4, Ok(String::from("2")));
    assert_eq!(out.5, Some(3));
    assert_eq!(out.6, Some(3));
    assert_eq!(out.7, Ok(4));
}

#[derive(Debug, PartialEq)]
struct Flaky2;

impl From<Flaky> for Flaky2 {
    fn from(_: Flaky) -> Self {
        Self
    }
}

impl RetryHint for Flaky2 {}

/// A policy from configuration.
static CONFIGURED: RetryPolicy = RetryPolicy::builder()
    .attempts(4)
    .backoff(resilient::Backoff::none())
    .build();

#[retry(policy = CONFIGURED)]
async fn with_policy(counter: &Counter) -> Result<u32, Flaky> {
    counter.hit()
}

#[tokio::test(start_paused = true)]
async fn policy_from_an_expression() {
    let c = Counter::new(3);
    assert_eq!(with_policy(&c).await, Ok(4));
}

#[async_trait::async_trait]
trait Guarded {
    async fn guarded(&mut self, n: u32) -> Result<u32, Flaky>;
}

struct GuardedService {
    breaker: Arc<resilient::CircuitBreaker>,
    limit: Duration,
    seen: Vec<u32>,
}

impl From<resilient::CircuitOpen> for Flaky {
    fn from(_: resilient::CircuitOpen) -> Self {
        Self
    }
}

impl From<resilient::Elapsed> for Flaky {
    fn from(_: resilient::Elapsed) -> Self {
        Self
    }
}

/// `self` in the arguments of an `#[async_trait]` method (`&mut self`).
#[async_trait::async_trait]
impl Guarded for GuardedService {
    #[retry(attempts = 2, backoff = none)]
    #[resilient::circuit_breaker(breaker = self.breaker.clone())]
    #[resilient::timeout(self.limit)]
    async fn guarded(&mut self, n: u32) -> Result<u32, Flaky> {
        self.seen.push(n);
        Ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_methods_with_self_in_the_arguments() {
    let out = spawn(async {
        let mut svc = GuardedService {
            breaker: Arc::new(resilient::CircuitBreaker::builder().build()),
            limit: Duration::from_secs(1),
            seen: Vec::new(),
        };
        (svc.guarded(4).await, svc.seen)
    })
    .await
    .unwrap();
    assert_eq!(out, (Ok(4), vec![4]));
}
