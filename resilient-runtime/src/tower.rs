//! tower layers over the same runtime objects as the attributes (feature
//! `tower`): a `static` breaker can guard an attributed function and an
//! axum route at once, and the registry sees one breaker.
//!
//! | layer | over | a call turned away |
//! |---|---|---|
//! | [`RetryLayer`] | a [`RetryPolicy`] (and a [`RetryBudget`]) | the last error |
//! | [`CircuitBreakerLayer`] | a [`CircuitBreaker`] | [`CircuitOpen`] |
//! | [`TimeoutLayer`] | a duration | [`Elapsed`] |
//! | [`BulkheadLayer`] | a [`Bulkhead`] | [`BulkheadFull`] |
//! | [`RateLimitLayer`] | a [`RateLimiter`] | [`RateLimited`] |
//!
//! The breaker, bulkhead, rate limiter and budget are shared: a
//! `&'static` one (`CircuitBreakerLayer::new(&PAYMENTS)`) or an `Arc`
//! ([`Shared`]). Every layer but the retry returns [`BoxError`], as tower's
//! own timeout does, so they stack in any order; the rejection is the
//! runtime's own type inside it (`err.downcast_ref::<CircuitOpen>()`). In
//! an axum router, turn the error into a response with axum's
//! `HandleErrorLayer`. A call that goes through allocates nothing in
//! these layers (an `Arc`'s count is taken and given back), except what
//! cloning the request and the service costs under the retry layer, which
//! clones both for each attempt as tower's own retry does; an error is
//! boxed.
//!
//! The bulkhead and the rate limiter wait, when their `wait` allows, in
//! `poll_ready`, as tower's concurrency limit does: a caller that drives
//! readiness (a `ServiceBuilder` stack, `ServiceExt::ready`, `oneshot`)
//! waits its turn; a call turned away is answered by `call` with the
//! rejection, and readiness stays `Ready`, so one rejection does not
//! break the service.

use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;
use std::sync::Arc;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use crate::circuit_breaker::OwnedPermit;
use crate::{
    Bulkhead, BulkheadFull, CircuitBreaker, CircuitOpen, Decision, Elapsed, Failure, RateLimited,
    RateLimiter, RetryBudget, RetryHint, RetryPolicy, RetryState, Timeout,
};

/// The error of every layer here but [`RetryLayer`]: the inner service's
/// error, or the layer's rejection, boxed (tower's own convention).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A runtime object a layer shares with the rest of the program: a
/// `static` one, or one in an `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use resilient::CircuitBreaker;
/// use resilient::tower::{CircuitBreakerLayer, Shared};
///
/// static PAYMENTS: CircuitBreaker = CircuitBreaker::builder().name("payments").build();
/// let _from_static = CircuitBreakerLayer::new(&PAYMENTS);
/// let owned = Arc::new(CircuitBreaker::builder().name("search").build());
/// let _from_arc = CircuitBreakerLayer::new(Arc::clone(&owned));
/// let shared: Shared<CircuitBreaker> = (&PAYMENTS).into();
/// assert_eq!(shared.name().as_str(), "payments");
/// ```
#[derive(Debug)]
pub struct Shared<T: 'static>(Repr<T>);

#[derive(Debug)]
enum Repr<T: 'static> {
    Static(&'static T),
    Counted(Arc<T>),
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Repr::Static(t) => Repr::Static(t),
            Repr::Counted(t) => Repr::Counted(Arc::clone(t)),
        })
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Repr::Static(t) => t,
            Repr::Counted(t) => t,
        }
    }
}

impl<T> From<&'static T> for Shared<T> {
    fn from(t: &'static T) -> Self {
        Self(Repr::Static(t))
    }
}

impl<T> From<Arc<T>> for Shared<T> {
    fn from(t: Arc<T>) -> Self {
        Self(Repr::Counted(t))
    }
}

impl<T> From<&Arc<T>> for Shared<T> {
    fn from(t: &Arc<T>) -> Self {
        Self(Repr::Counted(Arc::clone(t)))
    }
}

// ---------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------

/// Which results count as the dependency's failures, for a
/// [`CircuitBreakerLayer`]: any `Err` by default ([`AnyError`]), or a
/// closure over the result (an HTTP response whose status is `5xx`).
pub trait Classify<Res, E> {
    /// Whether `result` is a failure of the service.
    fn is_failure(&self, result: &Result<Res, E>) -> bool;
}

/// Every `Err` is a failure, every `Ok` a success.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnyError;

impl<Res, E> Classify<Res, E> for AnyError {
    fn is_failure(&self, result: &Result<Res, E>) -> bool {
        result.is_err()
    }
}

impl<Res, E, F: Fn(&Result<Res, E>) -> bool> Classify<Res, E> for F {
    fn is_failure(&self, result: &Result<Res, E>) -> bool {
        self(result)
    }
}

/// Guards a service with a [`CircuitBreaker`]: while it is open, calls
/// are refused with [`CircuitOpen`] (boxed) without reaching the service.
///
/// ```
/// use resilient::{CircuitBreaker, CircuitOpen, CircuitState};
/// use resilient::tower::CircuitBreakerLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static UPSTREAM: CircuitBreaker = CircuitBreaker::builder().name("doc-tower").failures(1).build();
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let failing = service_fn(|_: u32| async { Err::<u32, std::io::Error>(std::io::ErrorKind::Other.into()) });
/// let guarded = CircuitBreakerLayer::new(&UPSTREAM).layer(failing);
/// assert!(guarded.clone().oneshot(1).await.is_err());
/// assert_eq!(UPSTREAM.state(), CircuitState::Open);
/// let refused = guarded.oneshot(2).await.unwrap_err();
/// assert!(refused.downcast_ref::<CircuitOpen>().is_some());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<C = AnyError> {
    breaker: Shared<CircuitBreaker>,
    classify: C,
}

impl CircuitBreakerLayer {
    /// A layer over `breaker` (`&STATIC` or an `Arc`), counting every
    /// `Err` as a failure. A `static` breaker is listed in the
    /// [`registry`](crate::registry) now, as `#[circuit_breaker]` lists
    /// its own on first use; list an `Arc` one with
    /// [`registry::register`](crate::registry::register).
    pub fn new(breaker: impl Into<Shared<CircuitBreaker>>) -> Self {
        let breaker = breaker.into();
        if let Repr::Static(breaker) = breaker.0 {
            crate::registry::list_on_first_use(breaker);
        }
        Self {
            breaker,
            classify: AnyError,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Counts the results `classify` says are failures instead (a closure
    /// `Fn(&Result<Response, Error>) -> bool`, say `5xx` responses).
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            admission: None,
        }
    }
}

type Admission = Result<OwnedPermit<Shared<CircuitBreaker>>, CircuitOpen>;

/// The service of a [`CircuitBreakerLayer`]. The breaker is asked in
/// `poll_ready`, before the service below (a bulkhead, a rate limit)
/// reserves anything for a call the breaker would refuse; a clone starts
/// without asking.
pub struct CircuitBreakerService<S, C = AnyError> {
    inner: S,
    breaker: Shared<CircuitBreaker>,
    classify: C,
    admission: Option<Admission>,
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            admission: None,
        }
    }
}

impl<S: core::fmt::Debug, C> core::fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = CircuitBreakerFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let breaker = &self.breaker;
        match self
            .admission
            .get_or_insert_with(|| OwnedPermit::acquire(breaker.clone()))
        {
            // Refused: `call` answers with it, without the service.
            Err(_) => Poll::Ready(Ok(())),
            Ok(_) => self.inner.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let admission = self
            .admission
            .take()
            .unwrap_or_else(|| OwnedPermit::acquire(self.breaker.clone()));
        match admission {
            Ok(permit) => CircuitBreakerFuture {
                inner: Some(self.inner.call(req)),
                permit: Some(permit),
                classify: self.classify.clone(),
                refused: None,
            },
            Err(open) => CircuitBreakerFuture {
                inner: None,
                permit: None,
                classify: self.classify.clone(),
                refused: Some(open),
            },
        }
    }
}

pin_project! {
    /// The response future of a [`CircuitBreakerService`]. Dropped before
    /// it ends, its call counts as the breaker's `on_cancel` says.
    pub struct CircuitBreakerFuture<F, C> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedPermit<Shared<CircuitBreaker>>>,
        classify: C,
        refused: Option<CircuitOpen>,
    }
}

impl<F, C, Res, E> Future for CircuitBreakerFuture<F, C>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    C: Classify<Res, E>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(open) = this.refused.take() {
            return Poll::Ready(Err(Box::new(open)));
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            // Polled after it ended: nothing more to give.
            return Poll::Pending;
        };
        let result = ready!(inner.poll(cx));
        this.inner.set(None);
        let failed = this.classify.is_failure(&result);
        let result = result.map_err(Into::into);
        if let Some(mut permit) = this.permit.take() {
            // A layer below that turned the call away says nothing about
            // the service, as in an attribute stack.
            if matches!(&result, Err(e) if turned_away(e)) {
                permit.ignore();
            } else {
                permit.record(failed);
            }
        }
        Poll::Ready(result)
    }
}

/// A rejection by one of the layers here: the call never reached the
/// service.
fn turned_away(error: &BoxError) -> bool {
    error.is::<BulkheadFull>() || error.is::<RateLimited>() || error.is::<CircuitOpen>()
}

// ---------------------------------------------------------------------------
// Timeout
// ---------------------------------------------------------------------------

/// Cuts a call off after `limit` with [`Elapsed`] (boxed), as
/// `#[timeout]` does.
///
/// ```
/// use std::time::Duration;
/// use resilient::Elapsed;
/// use resilient::tower::TimeoutLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let hangs = service_fn(|_: u32| async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<u32, std::io::Error>(1)
/// });
/// let err = TimeoutLayer::new(Duration::from_secs(2)).layer(hangs).oneshot(1).await.unwrap_err();
/// assert!(err.downcast_ref::<Elapsed>().is_some());
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// A layer cutting calls off after `limit`.
    pub const fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            limit: self.limit,
        }
    }
}

/// The service of a [`TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct TimeoutService<S> {
    inner: S,
    limit: Duration,
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        TimeoutFuture {
            inner: crate::timeout(self.limit, self.inner.call(req)),
        }
    }
}

pin_project! {
    /// The response future of a [`TimeoutService`].
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: Timeout<F>,
    }
}

impl<F, Res, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().inner.poll(cx)) {
            Ok(result) => result.map_err(Into::into),
            Err(elapsed) => Err(Box::new(elapsed)),
        })
    }
}

// ---------------------------------------------------------------------------
// Bulkhead
// ---------------------------------------------------------------------------

/// At most the [`Bulkhead`]'s `max` calls at once through the service;
/// beyond them, readiness waits for a place up to the bulkhead's `wait`,
/// and then the call is turned away with [`BulkheadFull`] (boxed).
///
/// ```
/// use resilient::{Bulkhead, BulkheadFull};
/// use resilient::tower::BulkheadLayer;
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// static ONE: Bulkhead = Bulkhead::builder().name("doc-tower-one").max(1).build();
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut service = BulkheadLayer::new(&ONE).layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let first = service.ready().await.unwrap().call(1); // holds the place
/// let refused = service.clone().oneshot(2).await.unwrap_err();
/// assert!(refused.downcast_ref::<BulkheadFull>().is_some());
/// assert_eq!(first.await.unwrap(), 1);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadLayer {
    bulkhead: Shared<Bulkhead>,
}

impl BulkheadLayer {
    /// A layer over `bulkhead` (`&STATIC` or an `Arc`).
    pub fn new(bulkhead: impl Into<Shared<Bulkhead>>) -> Self {
        Self {
            bulkhead: bulkhead.into(),
        }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService {
            inner,
            bulkhead: self.bulkhead.clone(),
            entry: Entry::Idle,
        }
    }
}

/// A place held in a bulkhead, given back when dropped.
struct Place(Shared<Bulkhead>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

impl core::fmt::Debug for Place {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Place")
    }
}

/// A boxed wait, behind a `Mutex` only so the service is `Sync` (axum's
/// router asks for it); it is polled through `&mut`, never locked.
type Waiting<T> = std::sync::Mutex<Pin<Box<dyn Future<Output = T> + Send>>>;

/// Where a service clone stands with its bulkhead before `call`.
enum Entry {
    /// Nothing asked yet.
    Idle,
    /// Waiting for room (boxed: only a call that found the bulkhead full
    /// allocates).
    Waiting(Waiting<Result<(), BulkheadFull>>),
    /// A place, held for the next call.
    Placed(Place),
    /// Turned away: the next call answers with it.
    Full(BulkheadFull),
}

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Idle => "Idle",
            Self::Waiting(_) => "Waiting",
            Self::Placed(_) => "Placed",
            Self::Full(_) => "Full",
        })
    }
}

/// The service of a [`BulkheadLayer`]. A clone starts without a place.
#[derive(Debug)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Shared<Bulkhead>,
    entry: Entry,
}

impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bulkhead: self.bulkhead.clone(),
            entry: Entry::Idle,
        }
    }
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BulkheadFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            match &mut self.entry {
                Entry::Idle => {
                    self.entry = if self.bulkhead.take_place() {
                        Entry::Placed(Place(self.bulkhead.clone()))
                    } else if self.bulkhead.wait().is_zero() {
                        Entry::Full(self.bulkhead.full(Duration::ZERO))
                    } else {
                        let bulkhead = self.bulkhead.clone();
                        Entry::Waiting(std::sync::Mutex::new(Box::pin(async move {
                            bulkhead
                                .wait_for_room()
                                .await
                                .map(crate::BulkheadPermit::forget)
                        })))
                    };
                }
                Entry::Waiting(waiting) => {
                    let waiting = waiting
                        .get_mut()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    self.entry = match ready!(waiting.as_mut().poll(cx)) {
                        Ok(()) => Entry::Placed(Place(self.bulkhead.clone())),
                        Err(full) => Entry::Full(full),
                    };
                }
                Entry::Placed(_) => return self.inner.poll_ready(cx).map_err(Into::into),
                Entry::Full(_) => return Poll::Ready(Ok(())),
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match core::mem::replace(&mut self.entry, Entry::Idle) {
            Entry::Placed(place) => BulkheadFuture {
                inner: Some(self.inner.call(req)),
                place: Some(place),
                full: None,
            },
            Entry::Full(full) => BulkheadFuture {
                inner: None,
                place: None,
                full: Some(full),
            },
            // Called without readiness: a place now, or turned away.
            Entry::Idle | Entry::Waiting(_) => {
                if self.bulkhead.take_place() {
                    BulkheadFuture {
                        inner: Some(self.inner.call(req)),
                        place: Some(Place(self.bulkhead.clone())),
                        full: None,
                    }
                } else {
                    BulkheadFuture {
                        inner: None,
                        place: None,
                        full: Some(self.bulkhead.full(Duration::ZERO)),
                    }
                }
            }
        }
    }
}

pin_project! {
    /// The response future of a [`BulkheadService`]: it holds the call's
    /// place until it ends or is dropped.
    pub struct BulkheadFuture<F> {
        #[pin]
        inner: Option<F>,
        place: Option<Place>,
        full: Option<BulkheadFull>,
    }
}

impl<F, Res, E> Future for BulkheadFuture<F>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(full) = this.full.take() {
            return Poll::Ready(Err(Box::new(full)));
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let result = ready!(inner.poll(cx));
        this.inner.set(None);
        this.place.take();
        Poll::Ready(result.map_err(Into::into))
    }
}

// ---------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------

/// What a result says about a pause, for a [`RateLimitLayer`]: the wait a
/// service asked for (a `429`'s `Retry-After`), which pauses the limiter.
pub trait PauseOn<Res, E> {
    /// Whether it ever pauses: without, a call's future holds no
    /// reference to the limiter.
    const PAUSES: bool = true;

    /// The pause `result` asks for, if any.
    fn pause(&self, result: &Result<Res, E>) -> Option<Duration>;
}

/// Never pauses (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPause;

impl<Res, E> PauseOn<Res, E> for NoPause {
    const PAUSES: bool = false;

    fn pause(&self, _: &Result<Res, E>) -> Option<Duration> {
        None
    }
}

impl<Res, E, F: Fn(&Result<Res, E>) -> Option<Duration>> PauseOn<Res, E> for F {
    fn pause(&self, result: &Result<Res, E>) -> Option<Duration> {
        self(result)
    }
}

/// Pauses on an error's [`RetryHint::retry_after`] (for a service whose
/// error type implements [`RetryHint`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorHint;

impl<Res, E: RetryHint> PauseOn<Res, E> for ErrorHint {
    fn pause(&self, result: &Result<Res, E>) -> Option<Duration> {
        result.as_ref().err().and_then(RetryHint::retry_after)
    }
}

/// At most the [`RateLimiter`]'s rate through the service: readiness
/// waits for a slot within the limiter's `wait`, and a call over the
/// limit is turned away with [`RateLimited`] (boxed). With
/// [`pause_on`](Self::pause_on), a result that asks for a pause (a
/// `429`'s `Retry-After`) pauses the limiter for every caller.
///
/// ```
/// use std::time::Duration;
/// use resilient::{RateLimited, RateLimiter};
/// use resilient::tower::RateLimitLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static ONE_A_MINUTE: RateLimiter = RateLimiter::builder()
///     .name("doc-tower-rate").rate(1).per(Duration::from_secs(60)).build();
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let service = RateLimitLayer::new(&ONE_A_MINUTE)
///     .layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
/// let refused = service.oneshot(2).await.unwrap_err();
/// assert_eq!(refused.downcast_ref::<RateLimited>().unwrap().retry_after(), Duration::from_secs(60));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RateLimitLayer<P = NoPause> {
    limiter: Shared<RateLimiter>,
    pause_on: P,
}

impl RateLimitLayer {
    /// A layer over `limiter` (`&STATIC` or an `Arc`).
    pub fn new(limiter: impl Into<Shared<RateLimiter>>) -> Self {
        Self {
            limiter: limiter.into(),
            pause_on: NoPause,
        }
    }
}

impl<P> RateLimitLayer<P> {
    /// Pauses the limiter on the wait `pause_on` reads from a result: a
    /// closure `Fn(&Result<Response, Error>) -> Option<Duration>` (a
    /// response's `Retry-After`), or [`ErrorHint`].
    pub fn pause_on<P2>(self, pause_on: P2) -> RateLimitLayer<P2> {
        RateLimitLayer {
            limiter: self.limiter,
            pause_on,
        }
    }
}

impl<S, P: Clone> Layer<S> for RateLimitLayer<P> {
    type Service = RateLimitService<S, P>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            pause_on: self.pause_on.clone(),
            slot: Slot::Idle,
        }
    }
}

/// Where a service clone stands with its limiter before `call`.
enum Slot {
    Idle,
    /// Its slot reserved, ahead (boxed: only a call that waits allocates).
    Waiting(Pin<Box<Sleep>>),
    Admitted,
    Limited(RateLimited),
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Idle => "Idle",
            Self::Waiting(_) => "Waiting",
            Self::Admitted => "Admitted",
            Self::Limited(_) => "Limited",
        })
    }
}

/// The service of a [`RateLimitLayer`]. A clone starts without a slot.
#[derive(Debug)]
pub struct RateLimitService<S, P = NoPause> {
    inner: S,
    limiter: Shared<RateLimiter>,
    pause_on: P,
    slot: Slot,
}

impl<S: Clone, P: Clone> Clone for RateLimitService<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            pause_on: self.pause_on.clone(),
            slot: Slot::Idle,
        }
    }
}

impl<S, P, Req> Service<Req> for RateLimitService<S, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: PauseOn<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RateLimitFuture<S::Future, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            match &mut self.slot {
                Slot::Idle => {
                    self.slot = match self.limiter.admit_now() {
                        Ok(None) => Slot::Admitted,
                        Ok(Some(wait)) => Slot::Waiting(Box::pin(tokio::time::sleep(wait))),
                        Err(limited) => Slot::Limited(limited),
                    };
                }
                Slot::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    // A pause that came meanwhile holds this call too.
                    self.slot = match self.limiter.recheck() {
                        Ok(()) => Slot::Admitted,
                        Err(limited) => Slot::Limited(limited),
                    };
                }
                Slot::Admitted => return self.inner.poll_ready(cx).map_err(Into::into),
                Slot::Limited(_) => return Poll::Ready(Ok(())),
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let slot = match core::mem::replace(&mut self.slot, Slot::Idle) {
            // Called without readiness: a slot now, or turned away.
            Slot::Idle | Slot::Waiting(_) => match self.limiter.try_acquire() {
                Ok(()) => Slot::Admitted,
                Err(limited) => Slot::Limited(limited),
            },
            other => other,
        };
        match slot {
            Slot::Limited(limited) => RateLimitFuture {
                inner: None,
                limiter: None,
                pause_on: self.pause_on.clone(),
                limited: Some(limited),
            },
            _ => RateLimitFuture {
                inner: Some(self.inner.call(req)),
                // Only a future that may pause the limiter holds it.
                limiter: P::PAUSES.then(|| self.limiter.clone()),
                pause_on: self.pause_on.clone(),
                limited: None,
            },
        }
    }
}

pin_project! {
    /// The response future of a [`RateLimitService`].
    pub struct RateLimitFuture<F, P> {
        #[pin]
        inner: Option<F>,
        limiter: Option<Shared<RateLimiter>>,
        pause_on: P,
        limited: Option<RateLimited>,
    }
}

impl<F, P, Res, E> Future for RateLimitFuture<F, P>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    P: PauseOn<Res, E>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(limited) = this.limited.take() {
            return Poll::Ready(Err(Box::new(limited)));
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let result = ready!(inner.poll(cx));
        this.inner.set(None);
        if let Some(limiter) = this.limiter.as_ref()
            && let Some(pause) = this.pause_on.pause(&result)
        {
            limiter.pause_for(pause);
        }
        Poll::Ready(result.map_err(Into::into))
    }
}

// ---------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------

/// How a [`RetryLayer`] reads an error: a [`Failure`] for the retry state
/// machine.
pub trait RetryClassify<E> {
    /// What `error` means for the next attempt.
    fn failure(&self, error: &E) -> Failure;
}

/// Through the error's own [`RetryHint`] (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct ByHint;

impl<E: RetryHint> RetryClassify<E> for ByHint {
    fn failure(&self, error: &E) -> Failure {
        Failure::new(error.is_transient()).with_retry_after(error.retry_after())
    }
}

/// For a [`BoxError`] from the layers here: an open breaker's wait is
/// waited for (or stops the retry past `max_retry_after`), a rate limit's
/// too; a timeout and a full bulkhead are transient; the `reqwest`
/// feature's `HttpError` and `reqwest::Error` are read through their
/// [`RetryHint`]; anything else is transient.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxedErrors;

impl RetryClassify<BoxError> for BoxedErrors {
    fn failure(&self, error: &BoxError) -> Failure {
        if let Some(open) = error.downcast_ref::<CircuitOpen>() {
            return Failure::rejected(open.retry_after());
        }
        if let Some(limited) = error.downcast_ref::<RateLimited>() {
            return Failure::rejected(limited.retry_after());
        }
        if error.downcast_ref::<BulkheadFull>().is_some() {
            return Failure::transient().not_reached();
        }
        if error.downcast_ref::<Elapsed>().is_some() {
            return Failure::transient();
        }
        #[cfg(feature = "reqwest")]
        {
            if let Some(http) = error.downcast_ref::<crate::reqwest::HttpError>() {
                return ByHint.failure(http);
            }
            if let Some(request) = error.downcast_ref::<::reqwest::Error>() {
                return ByHint.failure(request);
            }
        }
        Failure::transient()
    }
}

/// Retries a service's failed calls under a [`RetryPolicy`] (and, with
/// [`budget`](Self::budget), a [`RetryBudget`]), sleeping with its backoff
/// and jitter and honouring a `Retry-After`, as `#[retry]` does. The
/// request is cloned for each attempt, and the service too (tower's
/// retry does the same), so both are `Clone`.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use resilient::{Backoff, RetryHint, RetryPolicy};
/// use resilient::tower::RetryLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// #[derive(Debug)]
/// struct Flaky;
/// impl RetryHint for Flaky {} // transient, no hint
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// const POLICY: RetryPolicy = RetryPolicy::builder()
///     .attempts(3)
///     .backoff(Backoff::fixed(Duration::from_millis(100)))
///     .build();
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let flaky = service_fn(|n: u32| async move {
///     if CALLS.fetch_add(1, Ordering::Relaxed) < 2 { Err(Flaky) } else { Ok(n) }
/// });
/// let service = RetryLayer::new(POLICY).layer(flaky);
/// assert_eq!(service.oneshot(7).await.unwrap(), 7);
/// assert_eq!(CALLS.load(Ordering::Relaxed), 3);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer<K = ByHint> {
    policy: RetryPolicy,
    budget: Option<Shared<RetryBudget>>,
    classify: K,
}

impl RetryLayer {
    /// A layer retrying under `policy`, reading errors through their
    /// [`RetryHint`].
    pub const fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            budget: None,
            classify: ByHint,
        }
    }
}

impl<K> RetryLayer<K> {
    /// Retries within `budget` (`&STATIC` or an `Arc`), as
    /// `#[retry(budget = ..)]` does.
    #[must_use]
    pub fn budget(mut self, budget: impl Into<Shared<RetryBudget>>) -> Self {
        self.budget = Some(budget.into());
        self
    }

    /// Reads errors with `classify` instead: [`BoxedErrors`] above the
    /// other layers here, or your own [`RetryClassify`].
    pub fn classify<K2>(self, classify: K2) -> RetryLayer<K2> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            classify,
        }
    }
}

impl<S, K: Clone> Layer<S> for RetryLayer<K> {
    type Service = RetryService<S, K>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: self.policy,
            budget: self.budget.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service of a [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct RetryService<S, K = ByHint> {
    inner: S,
    policy: RetryPolicy,
    budget: Option<Shared<RetryBudget>>,
    classify: K,
}

impl<S, K, Req> Service<Req> for RetryService<S, K>
where
    S: Service<Req> + Clone,
    Req: Clone,
    K: RetryClassify<S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RetryServiceFuture<S, Req, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The service made ready serves the first attempt; the future
        // keeps a clone for the retries.
        let clone = self.inner.clone();
        let mut ready = core::mem::replace(&mut self.inner, clone);
        let first = ready.call(req.clone());
        let mut state = RetryState::new();
        if RetryState::needs_start(&self.policy) {
            state.start(Instant::now());
        }
        RetryServiceFuture {
            service: ready,
            request: req,
            policy: self.policy,
            budget: self.budget.clone(),
            classify: self.classify.clone(),
            state,
            phase: Phase::Calling { call: first },
        }
    }
}

pin_project! {
    #[project = PhaseProj]
    enum Phase<F> {
        Calling { #[pin] call: F },
        Sleeping { #[pin] sleep: Sleep },
        Readying,
    }
}

pin_project! {
    /// The response future of a [`RetryService`].
    pub struct RetryServiceFuture<S, Req, K>
    where
        S: Service<Req>,
    {
        service: S,
        request: Req,
        policy: RetryPolicy,
        budget: Option<Shared<RetryBudget>>,
        classify: K,
        state: RetryState,
        #[pin]
        phase: Phase<S::Future>,
    }
}

impl<S, Req, K> Future for RetryServiceFuture<S, Req, K>
where
    S: Service<Req>,
    Req: Clone,
    K: RetryClassify<S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.phase.as_mut().project() {
                PhaseProj::Calling { call } => {
                    let result = ready!(call.poll(cx));
                    let error = match result {
                        Ok(response) => {
                            if let Some(budget) = this.budget.as_deref() {
                                this.state.on_success_with_budget(budget);
                            }
                            return Poll::Ready(Ok(response));
                        }
                        Err(error) => error,
                    };
                    let failure = this.classify.failure(&error);
                    let now = Instant::now();
                    let decision = match this.budget.as_deref() {
                        Some(budget) => {
                            this.state
                                .on_failure_with_budget(this.policy, failure, now, budget)
                        }
                        None => this.state.on_failure(this.policy, failure, now),
                    };
                    match decision {
                        Decision::Retry(attempt) => {
                            let wake = now.checked_add(attempt.delay());
                            let Some(wake) = wake else {
                                return Poll::Ready(Err(error));
                            };
                            this.phase.set(Phase::Sleeping {
                                sleep: tokio::time::sleep_until(wake),
                            });
                        }
                        Decision::Stop(_) => return Poll::Ready(Err(error)),
                    }
                }
                PhaseProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.phase.set(Phase::Readying);
                }
                PhaseProj::Readying => {
                    if let Err(error) = ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error));
                    }
                    let call = this.service.call(this.request.clone());
                    this.phase.set(Phase::Calling { call });
                }
            }
        }
    }
}
