//! `Retry-After` values, per RFC 9110 §10.2.3: both forms, the obsolete
//! date formats, past dates, garbage, signs, decimals, whitespace, overflow.

use std::time::{Duration, SystemTime};

use resilient::retry_after::parse;

/// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's own example date.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
}

#[track_caller]
fn check(value: &str, expected: Option<u64>) {
    assert_eq!(
        parse(value, now()),
        expected.map(Duration::from_secs),
        "Retry-After: {value:?}"
    );
}

#[test]
fn delay_seconds() {
    check("0", Some(0));
    check("1", Some(1));
    check("120", Some(120));
    check("007", Some(7));
    check("86400", Some(86_400));
}

#[test]
fn whitespace_around_the_value_is_trimmed() {
    check(" 120", Some(120));
    check("120 ", Some(120));
    check("\t120\t", Some(120));
    check("  Sun, 06 Nov 1994 08:49:47 GMT  ", Some(10));
}

#[test]
fn not_delay_seconds() {
    for value in [
        "", " ", "+5", "-5", "-0", "1.5", "1,5", "1e3", "0x10", "5s", "5 s", "1 2", "٣", "１２",
        "ten", "NaN", "inf", "\u{0}", "5\n6",
    ] {
        check(value, None);
    }
}

#[test]
fn delay_seconds_too_large_saturate_above_every_cap() {
    assert_eq!(parse("99999999999999999999", now()), Some(Duration::MAX));
    assert_eq!(parse(&"9".repeat(10_000), now()), Some(Duration::MAX));
    assert_eq!(
        parse("18446744073709551615", now()),
        Some(Duration::from_secs(u64::MAX))
    );
}

#[test]
fn imf_fixdate() {
    check("Sun, 06 Nov 1994 08:49:37 GMT", Some(0));
    check("Sun, 06 Nov 1994 08:50:37 GMT", Some(60));
    check("Mon, 07 Nov 1994 08:49:37 GMT", Some(86_400));
}

#[test]
fn obsolete_rfc_850_date() {
    check("Sunday, 06-Nov-94 08:50:07 GMT", Some(30));
}

#[test]
fn obsolete_asctime_date() {
    check("Sun Nov  6 08:50:07 1994", Some(30));
}

#[test]
fn past_dates_give_zero() {
    check("Sun, 06 Nov 1994 08:49:36 GMT", Some(0));
    check("Thu, 01 Jan 1970 00:00:00 GMT", Some(0));
    check("Sunday, 06-Nov-94 08:00:00 GMT", Some(0));
}

#[test]
fn far_future_dates_give_long_waits_not_overflow() {
    let wait = parse("Fri, 31 Dec 9999 23:59:59 GMT", now()).unwrap();
    assert!(wait > Duration::from_secs(250_000_000_000), "{wait:?}");
}

#[test]
fn malformed_dates() {
    for value in [
        "Sun, 06 Nov 1994 08:49:37",       // no zone
        "Sun, 06 Nov 1994 08:49:37 UTC",   // not GMT
        "Sun, 06 Nov 1994 25:49:37 GMT",   // hour out of range
        "Sun, 32 Nov 1994 08:49:37 GMT",   // day out of range
        "Sun, 06 Foo 1994 08:49:37 GMT",   // no such month
        "2024-01-01T00:00:00Z",            // ISO 8601 is not an HTTP-date
        "Sun, 06 Nov 1994 08:49:37 GMT x", // trailing garbage
        "Sun, 06 Nov 10000 08:49:37 GMT",  // beyond the format's year
    ] {
        check(value, None);
    }
}

/// `from_headers` is behind the `http` feature, which the dev-dependencies
/// turn on for every test.
mod headers {
    use std::time::Duration;

    use http::HeaderMap;
    use http::header::{DATE, RETRY_AFTER};
    use resilient::retry_after::from_headers;

    fn headers(pairs: &[(http::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn reads_delay_seconds() {
        assert_eq!(
            from_headers(&headers(&[(RETRY_AFTER, "17")])),
            Some(Duration::from_secs(17))
        );
    }

    #[test]
    fn absent_or_invalid_gives_none() {
        assert_eq!(from_headers(&HeaderMap::new()), None);
        assert_eq!(from_headers(&headers(&[(RETRY_AFTER, "soon")])), None);
        let mut map = HeaderMap::new();
        map.insert(
            RETRY_AFTER,
            http::HeaderValue::from_bytes(b"\xff12").unwrap(),
        );
        assert_eq!(from_headers(&map), None);
    }

    #[test]
    fn dates_are_measured_from_the_response_date() {
        let map = headers(&[
            (RETRY_AFTER, "Sun, 06 Nov 1994 08:51:37 GMT"),
            (DATE, "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert_eq!(from_headers(&map), Some(Duration::from_secs(120)));
    }

    #[test]
    fn without_a_date_header_dates_are_measured_from_the_system_clock() {
        // Long past: zero, whatever the clock says today.
        let map = headers(&[(RETRY_AFTER, "Sun, 06 Nov 1994 08:51:37 GMT")]);
        assert_eq!(from_headers(&map), Some(Duration::ZERO));
        // An invalid `Date` is ignored the same way.
        let map = headers(&[
            (RETRY_AFTER, "Sun, 06 Nov 1994 08:51:37 GMT"),
            (DATE, "yesterday"),
        ]);
        assert_eq!(from_headers(&map), Some(Duration::ZERO));
    }

    #[test]
    fn the_first_of_several_fields_is_used() {
        let map = headers(&[(RETRY_AFTER, "3"), (RETRY_AFTER, "9")]);
        assert_eq!(from_headers(&map), Some(Duration::from_secs(3)));
    }
}
