//! Feature `reqwest`: errors of real HTTP calls to a server on loopback,
//! classified for retries and breakers. Real time, short durations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use resilient::reqwest::{HttpError, ResponseExt, is_transient_status};
use resilient::{CircuitBreaker, CircuitState, RetryHint, circuit_breaker, retry};

/// A server on a free loopback port: `/status/{code}` answers that
/// status (with `Retry-After: 7` for a `503`), `/slow` in two seconds,
/// `/text` a text body, `/flaky` a `503` with `Retry-After: 1` for its
/// first request and `200` after. Its base URL.
async fn server() -> String {
    let flaky = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route(
            "/status/{code}",
            get(
                |axum::extract::Path(code): axum::extract::Path<u16>| async move {
                    let status = StatusCode::from_u16(code).unwrap();
                    let mut headers = HeaderMap::new();
                    if status == StatusCode::SERVICE_UNAVAILABLE {
                        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
                    }
                    (status, headers, "status")
                },
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        )
        .route("/text", get(|| async { "not json" }))
        .route(
            "/flaky",
            get(move || {
                let flaky = flaky.clone();
                async move {
                    if flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut headers = HeaderMap::new();
                        headers.insert(header::RETRY_AFTER, "1".parse().unwrap());
                        (StatusCode::SERVICE_UNAVAILABLE, headers, "later")
                    } else {
                        (StatusCode::OK, HeaderMap::new(), "fresh")
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn status(base: &str, code: u16) -> Result<reqwest::Response, HttpError> {
    reqwest::get(format!("{base}/status/{code}"))
        .await?
        .check_status()
}

#[tokio::test]
async fn reqwest_a_503_keeps_its_retry_after_and_is_transient() {
    let base = server().await;
    let err = status(&base, 503).await.unwrap_err();
    assert!(matches!(
        err,
        HttpError::Status { status: StatusCode::SERVICE_UNAVAILABLE, retry_after: Some(d) } if d == Duration::from_secs(7)
    ));
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_service_failure());
    assert_eq!(
        err.to_string(),
        "HTTP 503 Service Unavailable (retry after 7s)"
    );
}

#[tokio::test]
async fn reqwest_statuses_are_classified() {
    let base = server().await;
    for (code, transient, service_failure) in [
        (429, true, false),
        (502, true, true),
        (504, true, true),
        (500, false, true),
        (404, false, false),
        (400, false, false),
    ] {
        let err = status(&base, code).await.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(code));
        assert_eq!(err.is_transient(), transient, "{code}");
        assert_eq!(err.is_service_failure(), service_failure, "{code}");
    }
    // A success, and a redirect reqwest does not follow, are no errors.
    assert!(status(&base, 200).await.is_ok());
    assert!(status(&base, 304).await.is_ok());
    assert!(is_transient_status(StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn reqwest_a_refused_connection_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = reqwest::get(format!("http://{addr}/")).await.unwrap_err();
    assert!(err.is_connect());
    assert!(err.is_transient());
    let err = HttpError::from(err);
    assert!(err.is_transient() && err.is_service_failure());
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn reqwest_a_timeout_is_transient() {
    let base = server().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let err = client.get(format!("{base}/slow")).send().await.unwrap_err();
    assert!(err.is_timeout());
    assert!(err.is_transient());
}

#[tokio::test]
async fn reqwest_a_body_that_does_not_decode_is_not_transient() {
    let base = server().await;
    let err = reqwest::get(format!("{base}/text"))
        .await
        .unwrap()
        .json::<u32>()
        .await
        .unwrap_err();
    assert!(err.is_decode());
    assert!(!err.is_transient());
    // An error made by `error_for_status` carries its status.
    let err = reqwest::get(format!("{base}/status/502"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert!(err.is_transient());
}

#[retry(attempts = 3, backoff = fixed("10ms"), jitter = none)]
async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, HttpError> {
    let response = client.get(url).send().await?.check_status()?;
    Ok(response.text().await?)
}

/// A retry over `HttpError` waits the `Retry-After` of a `503` (1 s, not
/// the 10 ms backoff), then gets the fresh answer.
#[tokio::test]
async fn reqwest_a_retry_waits_the_services_retry_after() {
    let base = server().await;
    let client = reqwest::Client::new();
    let start = Instant::now();
    assert_eq!(
        fetch(&client, &format!("{base}/flaky")).await.unwrap(),
        "fresh"
    );
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

static PICKY: CircuitBreaker = CircuitBreaker::builder()
    .name("reqwest-picky")
    .failures(2)
    .build();

#[circuit_breaker(shared = PICKY, when = HttpError::is_service_failure)]
async fn guarded(base: &str, code: u16) -> Result<reqwest::Response, HttpError> {
    status(base, code).await
}

/// A breaker that counts the service's failures only: `404`s leave it
/// closed, two `502`s open it, and then it refuses with `HttpError::Open`.
#[tokio::test]
async fn reqwest_a_breaker_counts_only_the_services_failures() {
    let base = server().await;
    for _ in 0..3 {
        assert!(guarded(&base, 404).await.is_err());
    }
    assert_eq!(PICKY.state(), CircuitState::Closed);
    for _ in 0..2 {
        assert!(guarded(&base, 502).await.is_err());
    }
    assert_eq!(PICKY.state(), CircuitState::Open);
    let err = guarded(&base, 200).await.unwrap_err();
    assert!(matches!(err, HttpError::Open(_)));
    assert!(!err.is_transient());
}
