//! Reading a server's `Retry-After` (RFC 9110 §10.2.3).
//!
//! ```text
//! Retry-After = HTTP-date / delay-seconds
//! delay-seconds = 1*DIGIT
//! ```
//!
//! A `503 Service Unavailable` or `429 Too Many Requests` may carry it.
//! Feed the result to a retry through [`RetryHint::retry_after`]: a wait up
//! to the policy's `max_retry_after` is slept (plus jitter), a longer one
//! stops the retries so the caller can pass it on.
//!
//! [`RetryHint::retry_after`]: crate::RetryHint::retry_after

use core::time::Duration;
use std::time::SystemTime;

/// The wait a `Retry-After` value asks for, or `None` if it is not a valid
/// `Retry-After`.
///
/// - **delay-seconds**: ASCII digits only (`120`, `007`). No sign, no
///   decimals, no unit. A number too large for a `u64` gives
///   [`Duration::MAX`]: a wait above every cap, never a wrap-around.
/// - **HTTP-date**, in the three formats RFC 9110 §5.6.7 says recipients
///   must accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
///   obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
///   (`Sun Nov  6 08:49:37 1994`). The wait is the time from `now` to that
///   date; a date in the past gives zero.
///
/// Spaces and tabs around the value are ignored. Anything else gives
/// `None`, and so do dates that name the wrong day of the week, a leap
/// second (`:60`) or a year before 1970 or after 9999: the date parser
/// (`httpdate`) is stricter than RFC 9110 there. RFC 850 two-digit years
/// 70–99 are read as 19xx, 00–69 as 20xx (the RFC's own rule is "more than
/// 50 years ahead means the previous century", which in 2026 differs for
/// 70–76).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use resilient::retry_after::parse;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37 UTC
/// assert_eq!(parse("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse(" Sun, 06 Nov 1994 08:50:07 GMT ", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse("Sunday, 06-Nov-94 08:49:07 GMT", now), Some(Duration::ZERO)); // in the past
/// assert_eq!(parse("1.5", now), None);
/// assert_eq!(parse("-1", now), None);
/// assert_eq!(parse("99999999999999999999999", now), Some(Duration::MAX));
/// ```
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    // OWS is spaces and horizontal tabs (RFC 9110 §5.6.3); nothing else.
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits, so the only possible error is overflow.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response's headers, if present and valid.
///
/// An HTTP-date is measured from the response's own `Date` header when it
/// has a valid one, so a client whose clock is off still waits what the
/// server meant; otherwise from the system clock. With several
/// `Retry-After` fields, the first is used.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use resilient::retry_after::from_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT".parse().unwrap());
/// headers.insert("date", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
/// assert_eq!(from_headers(&headers), Some(Duration::from_secs(30)));
///
/// headers.insert("retry-after", "5".parse().unwrap());
/// assert_eq!(from_headers(&headers), Some(Duration::from_secs(5)));
/// ```
#[cfg(feature = "http")]
pub fn from_headers(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let now = headers
        .get(http::header::DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| httpdate::parse_http_date(date.trim_matches([' ', '\t'])).ok())
        .unwrap_or_else(SystemTime::now);
    parse(value, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_are_digits() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(parse("007", now), Some(Duration::from_secs(7)));
        assert_eq!(parse("0", now), Some(Duration::ZERO));
    }

    #[test]
    fn exactly_u64_max_is_not_overflow() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            parse("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse("18446744073709551616", now), Some(Duration::MAX));
    }
}
