//! HTTP calls made with `reqwest`, classified for retries and breakers
//! (feature `reqwest`).
//!
//! - [`RetryHint`] for [`reqwest::Error`]: a connection that could not be
//!   made and a request that timed out are transient; so is an error made
//!   by `error_for_status` with a transient status. Anything else (a body
//!   that failed to decode, a redirect loop, a bad URL) is not.
//! - [`HttpError`], an error type ready for an attributed function that
//!   calls a service over HTTP: a response's status and `Retry-After`,
//!   a `reqwest::Error`, and the rejections of the layers
//!   ([`CircuitOpen`], [`Elapsed`], [`BulkheadFull`], [`RateLimited`]).
//! - [`ResponseExt::check_status`]: reqwest's `error_for_status` that
//!   keeps the `Retry-After`.
//!
//! Transient statuses: `429 Too Many Requests`, `502 Bad Gateway`, `503
//! Service Unavailable` and `504 Gateway Timeout`, the answers that say
//! "not now" rather than "not this". A `500` may be a bug that every
//! attempt hits: classify it yourself if your service's `500`s are
//! transient.
//!
//! ```no_run
//! use resilient::reqwest::{HttpError, ResponseExt};
//! use resilient::{circuit_breaker, retry, timeout};
//!
//! #[retry(attempts = 3)]
//! #[circuit_breaker(failures = 5, reset = "30s")]
//! #[timeout("2s")]
//! async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, HttpError> {
//!     let response = client.get(url).send().await?.check_status()?;
//!     Ok(response.text().await?)
//! }
//! ```

use core::fmt;
use core::time::Duration;

use reqwest::StatusCode;

use crate::{BulkheadFull, CircuitOpen, Elapsed, RateLimited, RetryHint, retry_after};

/// Whether a status says "try again later": `429`, `502`, `503`, `504`.
///
/// ```
/// use reqwest::StatusCode;
/// use resilient::reqwest::is_transient_status;
///
/// assert!(is_transient_status(StatusCode::SERVICE_UNAVAILABLE));
/// assert!(!is_transient_status(StatusCode::NOT_FOUND));
/// assert!(!is_transient_status(StatusCode::INTERNAL_SERVER_ERROR));
/// ```
#[must_use]
pub fn is_transient_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// A connection that could not be made or a request that timed out is
/// transient, as is an error from `error_for_status` with a transient
/// status; nothing else is. A `reqwest::Error` carries no headers, so no
/// `Retry-After`: use [`ResponseExt::check_status`] for that.
///
/// ```
/// use resilient::RetryHint;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A port nothing listens on any more.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let err = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap_err();
/// assert!(err.is_transient(), "a refused connection may succeed later");
/// # }
/// ```
impl RetryHint for reqwest::Error {
    fn is_transient(&self) -> bool {
        self.is_connect() || self.is_timeout() || self.status().is_some_and(is_transient_status)
    }
}

/// What can go wrong calling a service over HTTP through the attributes:
/// a usable error type as it is (`Result<T, HttpError>`), or a variant of
/// yours (`#[from] HttpError`, delegating [`RetryHint`]).
///
/// ```
/// use std::time::Duration;
/// use reqwest::StatusCode;
/// use resilient::RetryHint;
/// use resilient::reqwest::HttpError;
///
/// let busy = HttpError::Status {
///     status: StatusCode::TOO_MANY_REQUESTS,
///     retry_after: Some(Duration::from_secs(2)),
/// };
/// assert!(busy.is_transient());
/// assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
/// assert_eq!(busy.to_string(), "HTTP 429 Too Many Requests (retry after 2s)");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpError {
    /// The service answered with a client or server error status, and
    /// maybe a `Retry-After` (read from the response's headers, a date
    /// measured against its own `Date`).
    Status {
        /// The status.
        status: StatusCode,
        /// The wait the service asked for.
        retry_after: Option<Duration>,
    },
    /// The request did not complete, or its body could not be read.
    Request(reqwest::Error),
    /// A circuit breaker refused the call.
    Open(CircuitOpen),
    /// A timeout cut the call off.
    Elapsed(Elapsed),
    /// A full bulkhead turned the call away.
    Full(BulkheadFull),
    /// A rate limiter turned the call away.
    Limited(RateLimited),
}

impl HttpError {
    /// The response's status, for [`Status`](Self::Status) and for a
    /// `reqwest::Error` that has one.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Request(error) => error.status(),
            _ => None,
        }
    }

    /// Whether the service itself failed: a `5xx`, a request that did not
    /// complete, a timeout. The classifier a circuit breaker wants
    /// (`#[circuit_breaker(when = HttpError::is_service_failure)]`): a
    /// `4xx` is the caller's mistake or a request to slow down, and the
    /// layers' own rejections say nothing new about the service.
    ///
    /// ```
    /// use reqwest::StatusCode;
    /// use resilient::reqwest::HttpError;
    ///
    /// let status = |status| HttpError::Status { status, retry_after: None };
    /// assert!(status(StatusCode::BAD_GATEWAY).is_service_failure());
    /// assert!(!status(StatusCode::TOO_MANY_REQUESTS).is_service_failure());
    /// ```
    #[must_use]
    pub fn is_service_failure(&self) -> bool {
        match self {
            Self::Status { status, .. } => status.is_server_error(),
            // A request that could not be built or was redirected in a
            // loop is the caller's; anything else that did not complete
            // (or was unreadable) is the service's.
            Self::Request(error) => {
                !error.is_builder()
                    && !error.is_redirect()
                    && error.status().is_none_or(|s| s.is_server_error())
            }
            Self::Elapsed(_) => true,
            Self::Open(_) | Self::Full(_) | Self::Limited(_) => false,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status {
                status,
                retry_after,
            } => {
                write!(f, "HTTP {status}")?;
                if let Some(wait) = retry_after {
                    write!(f, " (retry after {wait:?})")?;
                }
                Ok(())
            }
            Self::Request(error) => write!(f, "request failed: {error}"),
            Self::Open(open) => open.fmt(f),
            Self::Elapsed(elapsed) => elapsed.fmt(f),
            Self::Full(full) => full.fmt(f),
            Self::Limited(limited) => limited.fmt(f),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Request(error) => Some(error),
            _ => None,
        }
    }
}

/// A status is transient as [`is_transient_status`] says, with its
/// `Retry-After`; a `reqwest::Error` as its own [`RetryHint`]; a timeout,
/// a full bulkhead and a rate limit are transient (the last with its
/// `retry_after`); an open breaker is not.
impl RetryHint for HttpError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::Limited(limited) => Some(limited.retry_after()),
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => is_transient_status(*status),
            Self::Request(error) => error.is_transient(),
            Self::Elapsed(_) | Self::Full(_) | Self::Limited(_) => true,
            Self::Open(_) => false,
        }
    }
}

impl From<reqwest::Error> for HttpError {
    fn from(error: reqwest::Error) -> Self {
        Self::Request(error)
    }
}

impl From<CircuitOpen> for HttpError {
    fn from(open: CircuitOpen) -> Self {
        Self::Open(open)
    }
}

impl From<Elapsed> for HttpError {
    fn from(elapsed: Elapsed) -> Self {
        Self::Elapsed(elapsed)
    }
}

impl From<BulkheadFull> for HttpError {
    fn from(full: BulkheadFull) -> Self {
        Self::Full(full)
    }
}

impl From<RateLimited> for HttpError {
    fn from(limited: RateLimited) -> Self {
        Self::Limited(limited)
    }
}

/// [`check_status`](Self::check_status) on a `reqwest::Response`.
pub trait ResponseExt: Sized {
    /// The response, or [`HttpError::Status`] for a client or server error
    /// status (`4xx`, `5xx`) with its `Retry-After`: reqwest's
    /// `error_for_status`, keeping what a retry needs to know.
    ///
    /// # Errors
    ///
    /// [`HttpError::Status`] for a `4xx` or `5xx` response.
    fn check_status(self) -> Result<Self, HttpError>;
}

impl ResponseExt for reqwest::Response {
    fn check_status(self) -> Result<Self, HttpError> {
        let status = self.status();
        if !status.is_client_error() && !status.is_server_error() {
            return Ok(self);
        }
        Err(HttpError::Status {
            status,
            retry_after: retry_after::from_headers(self.headers()),
        })
    }
}
